//! Mon commands as JSON, and the parsing of their JSON replies (pure, unit-tested
//! against output captured from Pacific).

use serde::Deserialize;
use serde_json::{Value, json};

use crate::ceph::types::{
    AuthCaps, BlocklistEntry, DfReport, HealthCheck, HealthReport, OsdStat, PoolInfo, PoolUsage,
};

/// One mon command: the JSON librados sends, how messages name it, and whether its
/// reply carries a secret (then it is wiped after parsing and never quoted).
#[derive(Debug, Clone)]
pub(crate) struct MonCmd {
    pub json: String,
    pub display: String,
    pub sensitive: bool,
}

fn cmd(value: Value, display: impl Into<String>) -> MonCmd {
    MonCmd {
        json: value.to_string(),
        display: display.into(),
        sensitive: false,
    }
}

pub(crate) fn health() -> MonCmd {
    cmd(
        json!({"prefix": "health", "detail": "detail", "format": "json"}),
        "health detail",
    )
}

pub(crate) fn df() -> MonCmd {
    cmd(json!({"prefix": "df", "format": "json"}), "df")
}

pub(crate) fn osd_stat() -> MonCmd {
    cmd(json!({"prefix": "osd stat", "format": "json"}), "osd stat")
}

pub(crate) fn pools() -> MonCmd {
    cmd(
        json!({"prefix": "osd pool ls", "detail": "detail", "format": "json"}),
        "osd pool ls detail",
    )
}

pub(crate) fn blocklist_ls() -> MonCmd {
    cmd(
        json!({"prefix": "osd blocklist ls", "format": "json"}),
        "osd blocklist ls",
    )
}

/// `expire` must be sent as a JSON float: the mon reads it as CephFloat and an
/// integer would silently fall back to the default expiry (1 h).
pub(crate) fn blocklist_add(addr: &str, expire_secs: u64) -> MonCmd {
    cmd(
        json!({"prefix": "osd blocklist", "blocklistop": "add", "addr": addr,
               "expire": expire_secs as f64}),
        format!("osd blocklist add {addr} {expire_secs}"),
    )
}

pub(crate) fn blocklist_rm(addr: &str) -> MonCmd {
    cmd(
        json!({"prefix": "osd blocklist", "blocklistop": "rm", "addr": addr}),
        format!("osd blocklist rm {addr}"),
    )
}

/// `auth get` returns the entity's key along with its caps: sensitive.
pub(crate) fn auth_get(entity: &str) -> MonCmd {
    MonCmd {
        sensitive: true,
        ..cmd(
            json!({"prefix": "auth get", "entity": entity, "format": "json"}),
            format!("auth get {entity}"),
        )
    }
}

/// Prefixes whose replies may carry keys or other secrets; never sent as raw commands.
const SECRET_PREFIXES: [&str; 3] = ["auth", "config-key", "dashboard"];

/// A caller-built command (an object with `prefix`), refused when its reply could
/// carry a secret.
pub(crate) fn raw(value: &Value) -> Result<MonCmd, String> {
    let prefix = value
        .get("prefix")
        .and_then(Value::as_str)
        .ok_or("a mon command is a JSON object with a string `prefix`")?;
    let first = prefix.split_whitespace().next().unwrap_or_default();
    if SECRET_PREFIXES.contains(&first) {
        return Err(format!(
            "`{prefix}` may return secrets; kcops does not send it as a raw command"
        ));
    }
    Ok(cmd(value.clone(), prefix.to_string()))
}

fn parse<T: for<'de> Deserialize<'de>>(out: &[u8]) -> Result<T, String> {
    serde_json::from_slice(out).map_err(|e| e.to_string())
}

pub(crate) fn parse_health(out: &[u8]) -> Result<HealthReport, String> {
    #[derive(Deserialize)]
    struct Message {
        #[serde(default)]
        message: String,
        #[serde(default)]
        count: u64,
    }
    #[derive(Deserialize)]
    struct Check {
        #[serde(default)]
        severity: String,
        summary: Option<Message>,
        #[serde(default)]
        detail: Vec<Message>,
        #[serde(default)]
        muted: bool,
    }
    #[derive(Deserialize)]
    struct Health {
        status: Option<String>,
        /// Releases before Luminous.
        overall_status: Option<String>,
        #[serde(default)]
        checks: serde_json::Map<String, Value>,
    }
    let h: Health = parse(out)?;
    let status = h
        .status
        .or(h.overall_status)
        .ok_or("no `status` in the health report")?;
    let mut checks = Vec::new();
    for (code, value) in h.checks {
        let c: Check = serde_json::from_value(value).map_err(|e| format!("check {code}: {e}"))?;
        let (summary, count) = c
            .summary
            .map_or((String::new(), 0), |m| (m.message, m.count));
        checks.push(HealthCheck {
            code,
            severity: c.severity,
            summary,
            details: c.detail.into_iter().map(|d| d.message).collect(),
            count,
            muted: c.muted,
        });
    }
    // Errors first, then warnings, each by code: a stable order for the pane.
    checks.sort_by(|a, b| {
        (b.severity == "HEALTH_ERR", &a.code).cmp(&(a.severity == "HEALTH_ERR", &b.code))
    });
    Ok(HealthReport { status, checks })
}

pub(crate) fn parse_df(out: &[u8]) -> Result<DfReport, String> {
    #[derive(Deserialize, Default)]
    struct Totals {
        #[serde(default)]
        total_bytes: u64,
        #[serde(default)]
        total_used_bytes: u64,
        #[serde(default)]
        total_avail_bytes: u64,
    }
    #[derive(Deserialize)]
    struct PoolStats {
        stored: Option<u64>,
        #[serde(default)]
        objects: u64,
        #[serde(default)]
        bytes_used: u64,
        #[serde(default)]
        percent_used: f64,
        #[serde(default)]
        max_avail: u64,
    }
    #[derive(Deserialize)]
    struct Pool {
        name: String,
        id: i64,
        stats: PoolStats,
    }
    #[derive(Deserialize)]
    struct Df {
        #[serde(default)]
        stats: Totals,
        #[serde(default)]
        pools: Vec<Pool>,
    }
    let df: Df = parse(out)?;
    Ok(DfReport {
        total_bytes: df.stats.total_bytes,
        total_used_bytes: df.stats.total_used_bytes,
        total_avail_bytes: df.stats.total_avail_bytes,
        pools: df
            .pools
            .into_iter()
            .map(|p| PoolUsage {
                name: p.name,
                id: p.id,
                // Before Nautilus there was no `stored`; `bytes_used` meant the same.
                stored: p.stats.stored.unwrap_or(p.stats.bytes_used),
                objects: p.stats.objects,
                bytes_used: p.stats.bytes_used,
                percent_used: p.stats.percent_used,
                max_avail: p.stats.max_avail,
            })
            .collect(),
    })
}

pub(crate) fn parse_osd_stat(out: &[u8]) -> Result<OsdStat, String> {
    let v: Value = parse(out)?;
    // Pacific is flat; releases before it nested the counts in `osdmap`.
    let m = v.get("osdmap").unwrap_or(&v);
    let num = |key: &str| -> Result<u32, String> {
        let n = m
            .get(key)
            .and_then(Value::as_u64)
            .ok_or_else(|| format!("no `{key}`"))?;
        u32::try_from(n).map_err(|_| format!("`{key}` out of range"))
    };
    Ok(OsdStat {
        epoch: m.get("epoch").and_then(Value::as_u64).unwrap_or(0),
        num_osds: num("num_osds")?,
        num_up_osds: num("num_up_osds")?,
        num_in_osds: num("num_in_osds")?,
        num_remapped_pgs: num("num_remapped_pgs").unwrap_or(0),
    })
}

pub(crate) fn parse_pools(out: &[u8]) -> Result<Vec<PoolInfo>, String> {
    #[derive(Deserialize)]
    struct Pool {
        pool_id: i64,
        pool_name: String,
        #[serde(default)]
        application_metadata: serde_json::Map<String, Value>,
    }
    let pools: Vec<Pool> = parse(out)?;
    Ok(pools
        .into_iter()
        .map(|p| PoolInfo {
            id: p.pool_id,
            name: p.pool_name,
            applications: p.application_metadata.keys().cloned().collect(),
        })
        .collect())
}

/// Pacific prints two JSON arrays back to back: address entries
/// (`{"addr","until"}`), then range entries (`{"range","until"}`); releases before
/// range blocklisting print only the first. Both are read, in order.
/// `ceph mon dump --format json`: the fsid and every monitor address as `ip:port`.
pub(crate) fn parse_mon_dump(out: &[u8]) -> Result<crate::model::ceph::MonMap, String> {
    #[derive(Deserialize)]
    struct Addr {
        #[serde(default)]
        addr: String,
    }
    #[derive(Deserialize, Default)]
    struct AddrVec {
        #[serde(default)]
        addrvec: Vec<Addr>,
    }
    #[derive(Deserialize)]
    struct Mon {
        #[serde(default)]
        public_addrs: AddrVec,
        #[serde(default)]
        addr: String,
    }
    #[derive(Deserialize)]
    struct Dump {
        #[serde(default)]
        fsid: String,
        #[serde(default)]
        mons: Vec<Mon>,
    }
    let dump: Dump = parse(out)?;
    let mut addrs: Vec<String> = Vec::new();
    for m in &dump.mons {
        let all = m.public_addrs.addrvec.iter().map(|a| a.addr.as_str());
        for a in all.chain(std::iter::once(m.addr.as_str())) {
            // `10.0.0.1:6789/0`: the nonce is no part of what clients dial.
            let a = a.split('/').next().unwrap_or_default();
            if !a.is_empty() && !addrs.iter().any(|x| x == a) {
                addrs.push(a.to_string());
            }
        }
    }
    Ok(crate::model::ceph::MonMap {
        fsid: dump.fsid,
        addrs,
    })
}

pub(crate) fn parse_blocklist(out: &[u8]) -> Result<Vec<BlocklistEntry>, String> {
    #[derive(Deserialize)]
    struct Entry {
        addr: Option<String>,
        range: Option<String>,
        #[serde(default)]
        until: String,
    }
    let mut entries = Vec::new();
    for value in serde_json::Deserializer::from_slice(out).into_iter::<Vec<Entry>>() {
        for e in value.map_err(|e| e.to_string())? {
            let (addr, range) = match (e.addr, e.range) {
                (Some(a), _) => (a, false),
                (None, Some(r)) => (r, true),
                (None, None) => return Err("a blocklist entry without `addr` or `range`".into()),
            };
            entries.push(BlocklistEntry {
                expires: parse_until(&e.until),
                addr,
                until: e.until,
                range,
            });
        }
    }
    Ok(entries)
}

/// Ceph's `utime_t` text, `2026-11-27T07:05:56.572043+0000`.
pub(crate) fn parse_until(text: &str) -> Option<jiff::Timestamp> {
    let fmt = if text.contains('.') {
        "%Y-%m-%dT%H:%M:%S%.f%z"
    } else {
        "%Y-%m-%dT%H:%M:%S%z"
    };
    jiff::fmt::strtime::parse(fmt, text)
        .ok()?
        .to_timestamp()
        .ok()
}

/// The caps of `auth get`'s single entry. The key is never deserialised; the caller
/// wipes the raw reply. Errors never quote the reply.
pub(crate) fn parse_auth_caps(out: &[u8]) -> Result<AuthCaps, String> {
    #[derive(Deserialize)]
    struct Entry {
        entity: String,
        #[serde(default)]
        caps: std::collections::BTreeMap<String, String>,
    }
    let entries: Vec<Entry> = serde_json::from_slice(out).map_err(|e| {
        format!(
            "not the expected JSON (line {}, column {})",
            e.line(),
            e.column()
        )
    })?;
    let entry = entries.into_iter().next().ok_or("no entity in the reply")?;
    Ok(AuthCaps {
        entity: entry.entity,
        caps: entry.caps,
    })
}

/// Whether `auth get`'s single entry has the key `expected` (the base64 text of a
/// ceph-csi Secret's `userKey`). The reply's key is wiped right after the comparison;
/// errors never quote the reply.
pub(crate) fn auth_key_is(out: &[u8], expected: &str) -> Result<bool, String> {
    #[derive(Deserialize)]
    struct Entry {
        #[serde(default)]
        key: String,
    }
    let entries: Vec<Entry> = serde_json::from_slice(out).map_err(|e| {
        format!(
            "not the expected JSON (line {}, column {})",
            e.line(),
            e.column()
        )
    })?;
    let mut matches = false;
    let mut any = false;
    for entry in entries {
        any = true;
        let mut key = entry.key.into_bytes();
        matches |= !key.is_empty() && key == expected.trim().as_bytes();
        super::rados::wipe(&mut key);
    }
    if !any {
        return Err("no entity in the reply".to_string());
    }
    Ok(matches)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocklist_reads_both_arrays() {
        let out = br#"[{"addr":"198.18.72.99:0/12345","until":"2026-11-27T07:05:56.572043+0000"}][{"range":"198.18.73.0:0/24","until":"2026-11-27T07:05:56.947997+0000"}]"#;
        let list = parse_blocklist(out).unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].addr, "198.18.72.99:0/12345");
        assert!(!list[0].range);
        assert_eq!(
            list[0].expires.map(|t| t.as_second()),
            Some(
                "2026-11-27T07:05:56Z"
                    .parse::<jiff::Timestamp>()
                    .unwrap()
                    .as_second()
            )
        );
        assert_eq!(list[1].addr, "198.18.73.0:0/24");
        assert!(list[1].range);
        assert!(parse_blocklist(b"[][]").unwrap().is_empty());
        assert!(parse_blocklist(b"[]").unwrap().is_empty());
        assert!(parse_blocklist(b"").unwrap().is_empty());
        // Older releases: one array, whitespace between values is fine too.
        let one = parse_blocklist(b"[{\"addr\":\"10.0.0.1:0/1\",\"until\":\"x\"}]\n[]").unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].expires, None);
        assert!(parse_blocklist(b"[{\"until\":\"x\"}]").is_err());
        assert!(parse_blocklist(b"listed 0 entries").is_err());
    }

    #[test]
    fn health_detail_from_pacific() {
        let out = br#"{"status":"HEALTH_WARN","checks":{"MON_DISK_LOW":{"severity":"HEALTH_WARN","summary":{"message":"mon a is low on available space","count":1},"detail":[{"message":"mon.a has 16% avail"}],"muted":false},"AUTH_INSECURE_GLOBAL_ID_RECLAIM_ALLOWED":{"severity":"HEALTH_WARN","summary":{"message":"mon is allowing insecure global_id reclaim","count":1},"detail":[{"message":"mon.a has auth_allow_insecure_global_id_reclaim set to true"}],"muted":false},"OSD_DOWN":{"severity":"HEALTH_ERR","summary":{"message":"1 osds down","count":1},"detail":[],"muted":true}},"mutes":[]}"#;
        let h = parse_health(out).unwrap();
        assert_eq!(h.status, "HEALTH_WARN");
        let codes: Vec<&str> = h.checks.iter().map(|c| c.code.as_str()).collect();
        assert_eq!(
            codes,
            [
                "OSD_DOWN",
                "AUTH_INSECURE_GLOBAL_ID_RECLAIM_ALLOWED",
                "MON_DISK_LOW"
            ]
        );
        let low = h.check("MON_DISK_LOW").unwrap();
        assert_eq!(low.summary, "mon a is low on available space");
        assert_eq!(low.details, ["mon.a has 16% avail"]);
        assert!(h.check("OSD_DOWN").unwrap().muted);
        let ok = parse_health(br#"{"status":"HEALTH_OK","checks":{},"mutes":[]}"#).unwrap();
        assert!(ok.is_ok() && ok.checks.is_empty());
        assert!(parse_health(b"{}").is_err());
    }

    #[test]
    fn df_osd_stat_pools_and_auth() {
        let df = br#"{"stats":{"total_bytes":1073741824,"total_avail_bytes":1073710548,"total_used_bytes":31276},"pools":[{"name":"rbd","id":1,"stats":{"stored":195,"objects":5,"kb_used":1,"bytes_used":195,"percent_used":1.9e-07,"max_avail":1020022976}}]}"#;
        let df = parse_df(df).unwrap();
        assert_eq!(df.total_bytes, 1 << 30);
        assert_eq!(df.pool("rbd").unwrap().objects, 5);
        assert_eq!(df.pool("rbd").unwrap().max_avail, 1020022976);

        let stat = br#"{"epoch":16,"num_osds":3,"num_up_osds":2,"osd_up_since":1,"num_in_osds":3,"osd_in_since":1,"num_remapped_pgs":0}"#;
        let stat = parse_osd_stat(stat).unwrap();
        assert_eq!(
            (stat.num_osds, stat.num_up_osds, stat.num_in_osds),
            (3, 2, 3)
        );
        let nested = br#"{"osdmap":{"epoch":5,"num_osds":1,"num_up_osds":1,"num_in_osds":1}}"#;
        assert_eq!(parse_osd_stat(nested).unwrap().epoch, 5);

        let pools = br#"[{"pool_id":1,"pool_name":"rbd","application_metadata":{"rbd":{}}},{"pool_id":2,"pool_name":"device_health_metrics","application_metadata":{"mgr_devicehealth":{}}}]"#;
        let pools = parse_pools(pools).unwrap();
        assert!(pools[0].is_rbd() && !pools[1].is_rbd());

        let auth = br#"[{"entity":"client.kube","key":"AQSECRETKEY==","caps":{"mon":"allow r","osd":"allow rwx pool=rbd"}}]"#;
        let caps = parse_auth_caps(auth).unwrap();
        assert_eq!(caps.entity, "client.kube");
        assert_eq!(caps.caps["mon"], "allow r");
        assert!(!format!("{caps:?}").contains("SECRET"));
        let err =
            parse_auth_caps(br#"[{"entity":"x","key":"AQSECRET==","caps":"bad"}]"#).unwrap_err();
        assert!(!err.contains("SECRET"), "{err}");
    }

    #[test]
    fn auth_key_compares_without_quoting() {
        let out = br#"[{"entity":"client.kube","key":"AQBkey==","caps":{"mon":"profile rbd"}}]"#;
        assert_eq!(auth_key_is(out, "AQBkey=="), Ok(true));
        assert_eq!(auth_key_is(out, "AQBother=="), Ok(false));
        assert!(auth_key_is(b"[]", "x").is_err());
        assert!(!auth_key_is(b"{", "AQBkey==").unwrap_err().contains("AQB"));
    }

    #[test]
    fn commands_are_well_formed() {
        let add: Value = serde_json::from_str(&blocklist_add("10.0.0.1:0/5", 600).json).unwrap();
        assert_eq!(add["expire"], json!(600.0));
        assert!(add["expire"].is_f64(), "expire must be a float");
        assert!(auth_get("client.kube").sensitive);
        assert!(raw(&json!({"prefix": "auth get-key", "entity": "client.admin"})).is_err());
        assert!(raw(&json!({"prefix": "config-key get", "key": "x"})).is_err());
        assert!(raw(&json!({"no": "prefix"})).is_err());
        assert_eq!(
            raw(&json!({"prefix": "mon dump"})).unwrap().display,
            "mon dump"
        );
    }

    #[test]
    fn mon_dump_gives_fsid_and_every_address() {
        let out = br#"{"epoch":1,"fsid":"b3f1c8e0-1111-2222-3333-444455556666","mons":[
            {"rank":0,"name":"a","public_addrs":{"addrvec":[
                {"type":"v2","addr":"10.0.0.1:3300","nonce":0},
                {"type":"v1","addr":"10.0.0.1:6789","nonce":0}]},
             "addr":"10.0.0.1:6789/0","public_addr":"10.0.0.1:6789/0"}]}"#;
        let m = super::parse_mon_dump(out).unwrap();
        assert_eq!(m.fsid, "b3f1c8e0-1111-2222-3333-444455556666");
        assert_eq!(m.addrs, ["10.0.0.1:3300", "10.0.0.1:6789"]);
        assert!(super::parse_mon_dump(b"not json").is_err());
    }
}
