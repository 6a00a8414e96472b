//! Where the Ceph cluster is and who we are, and the client conf librados really reads.
//!
//! librados left to the user's `ceph.conf` waits 300 s for an unreachable mon, may log
//! to the terminal the console draws on, and opens an admin socket. So we read the
//! user's conf ourselves (sections `[global]`, `[client]`, `[client.<id>]`, later ones
//! winning, as librados does), check that it names monitors and that a keyring for our
//! user exists, and write a private copy (mode 0600, deleted as soon as librados has
//! read it) that adds bounded timeouts and silences logging. Errors name the file, the
//! line and the option that sets it, because a missing or wrong conf is the most common
//! first-run problem.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::ceph::error::CephError;

pub(crate) const DEFAULT_CONF: &str = "/etc/ceph/ceph.conf";
pub(crate) const DEFAULT_ID: &str = "admin";
/// librados' mon/osd op and mount timeout: an unreachable cluster surfaces as an error
/// after this long instead of librados' default 300 s.
pub(crate) const DEFAULT_OP_TIMEOUT: Duration = Duration::from_secs(10);
/// The caller's bound on one request: a connect plus an op, each bounded by the op
/// timeout, fit in it, so librados' own (more precise) error normally wins.
pub(crate) const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Cluster name for `$cluster` in keyring paths; kcops has no `--cluster` option.
const CLUSTER: &str = "ceph";

/// Options the console's command line flattens in (`#[command(flatten)]`).
#[derive(Debug, Clone, clap::Args)]
pub struct CephArgs {
    /// Ceph config file naming the monitors (and usually the keyring) [default:
    /// /etc/ceph/ceph.conf when it exists; without it the console runs without Ceph].
    #[arg(
        long = "ceph-conf",
        env = "CEPH_CONF",
        global = true,
        value_name = "FILE"
    )]
    pub ceph_conf: Option<PathBuf>,
    /// Ceph user id (without `client.`).
    #[arg(long = "ceph-id", env = "KCOPS_CEPH_ID", default_value = DEFAULT_ID, global = true)]
    pub ceph_id: String,
    /// Keyring file (default: the conf's `keyring`, then /etc/ceph/ceph.client.<id>.keyring).
    #[arg(
        long = "ceph-keyring",
        env = "KCOPS_CEPH_KEYRING",
        global = true,
        value_name = "FILE"
    )]
    pub ceph_keyring: Option<PathBuf>,
    /// Do not talk to Ceph at all (no Ceph pane data, no Ceph findings).
    #[arg(long = "no-ceph", env = "KCOPS_NO_CEPH", global = true)]
    pub no_ceph: bool,
}

impl CephArgs {
    /// The settings to connect with, or `None` when Ceph is off: `--no-ceph`, or no
    /// conf given and none at the default path (a cluster without Ceph is not an
    /// error). A conf that was named but is missing is kept, so its error is shown.
    pub fn settings(&self) -> Option<CephSettings> {
        if self.no_ceph {
            return None;
        }
        let conf = match &self.ceph_conf {
            Some(c) if !c.as_os_str().is_empty() => c.clone(),
            _ if Path::new(DEFAULT_CONF).exists() => PathBuf::from(DEFAULT_CONF),
            _ => return None,
        };
        let mut s = CephSettings::new(conf, &self.ceph_id);
        s.keyring = self
            .ceph_keyring
            .clone()
            .filter(|k| !k.as_os_str().is_empty());
        Some(s)
    }
}

/// How to reach the cluster. Cheap to clone; holds paths, never keys.
#[derive(Debug, Clone, PartialEq)]
pub struct CephSettings {
    /// The user's conf (`--ceph-conf`, `CEPH_CONF`).
    pub conf: PathBuf,
    /// The user id, `admin` for `client.admin` (`--ceph-id`, `KCOPS_CEPH_ID`).
    pub id: String,
    /// Overrides the conf's keyring (`--ceph-keyring`, `KCOPS_CEPH_KEYRING`).
    pub keyring: Option<PathBuf>,
    /// librados' mon/osd op and mount timeout.
    pub op_timeout: Duration,
    /// The caller's bound on one request.
    pub request_timeout: Duration,
    /// Ask the mon whether we may blocklist (`osd blocklist rm` of a TEST-NET address,
    /// once per connection). Off under `--read-only`: nothing can be fenced there, and
    /// the probe is a line in Ceph's audit log on every connection.
    pub fence_probe: bool,
}

impl CephSettings {
    pub fn new(conf: impl Into<PathBuf>, id: &str) -> Self {
        CephSettings {
            conf: conf.into(),
            id: id.to_string(),
            keyring: None,
            op_timeout: DEFAULT_OP_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            fence_probe: true,
        }
    }

    /// Settings for a console that may (or, `read_only`, may not) change anything:
    /// a read-only one never probes the fencing permission.
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.fence_probe = !read_only;
        self
    }

    pub fn with_keyring(mut self, keyring: impl Into<PathBuf>) -> Self {
        self.keyring = Some(keyring.into());
        self
    }

    /// The bare id: `admin` also when given as `client.admin`.
    pub(crate) fn bare_id(&self) -> &str {
        self.id.strip_prefix("client.").unwrap_or(&self.id)
    }

    /// `client.<id>`, the entity cephx knows us as.
    pub fn entity(&self) -> String {
        format!("client.{}", self.bare_id())
    }
}

/// A private client conf for librados; the file is removed when this is dropped.
#[derive(Debug)]
pub(crate) struct ClientConf {
    pub path: PathBuf,
    /// The monitors as the user's conf names them, for messages.
    pub mons: String,
    /// The keyring we found (None when the conf carries `key`/`keyfile` itself).
    pub keyring: Option<PathBuf>,
}

impl Drop for ClientConf {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Options we always set, overriding whatever the user's conf says.
const OVERRIDDEN: [&str; 11] = [
    "rados_mon_op_timeout",
    "rados_osd_op_timeout",
    "client_mount_timeout",
    "log_to_stderr",
    "err_to_stderr",
    "log_to_syslog",
    "err_to_syslog",
    "log_file",
    "admin_socket",
    "keyring",
    "log_to_file",
];

/// Reads the user's conf, checks it, and writes the client conf librados will read.
pub(crate) fn prepare(settings: &CephSettings) -> Result<ClientConf, CephError> {
    check_id(&settings.id)?;
    let entity = settings.entity();
    let text = read_conf(&settings.conf)?;
    let conf = ConfFile::parse(&text, &settings.conf)?;
    let values = conf.client_values(&entity);

    let mons = match values.get("mon_host") {
        Some(v) if !v.value.is_empty() => v.value.clone(),
        _ => match conf.legacy_mon_addrs() {
            Some(addrs) => addrs,
            None => match values.get("mon_dns_srv_name") {
                Some(v) => format!("DNS SRV {}", v.value),
                None => {
                    return Err(CephError::Config(format!(
                        "Ceph config {} names no monitors: set `mon host` in its [global] section",
                        settings.conf.display()
                    )));
                }
            },
        },
    };

    let has_inline_key = values.contains_key("key") || values.contains_key("keyfile");
    let keyring = if let Some(path) = &settings.keyring {
        check_keyring(path, &entity, "--ceph-keyring / KCOPS_CEPH_KEYRING")?;
        Some(path.clone())
    } else if has_inline_key {
        None
    } else {
        let (candidates, origin) = match values.get("keyring") {
            Some(v) => (
                split_list(&v.value),
                format!("`keyring` in {}:{}", settings.conf.display(), v.line),
            ),
            None => (
                default_keyrings(),
                format!(
                    "the default keyring locations ({} sets none)",
                    settings.conf.display()
                ),
            ),
        };
        let expanded: Vec<PathBuf> = candidates
            .iter()
            .map(|c| PathBuf::from(expand_meta(c, settings.bare_id())))
            .collect();
        let Some(found) = expanded.iter().find(|p| p.exists()) else {
            let list: Vec<String> = expanded.iter().map(|p| p.display().to_string()).collect();
            return Err(CephError::Config(format!(
                "no keyring for {entity}: {} not found (from {origin}); set --ceph-keyring or KCOPS_CEPH_KEYRING",
                list.join(", ")
            )));
        };
        check_keyring(found, &entity, &origin)?;
        Some(found.clone())
    };

    let mut out = format!(
        "# Generated by kcops from {}; removed once librados has read it.\n[global]\n",
        settings.conf.display()
    );
    for (key, v) in &values {
        if OVERRIDDEN.contains(&key.as_str()) {
            continue;
        }
        out.push_str(&format!(
            "{key} = {}\n",
            quote_value(&v.value, key, &settings.conf, v.line)?
        ));
    }
    if let Some(k) = &keyring {
        let k = k.to_str().ok_or_else(|| {
            CephError::Config(format!("keyring path {} is not valid UTF-8", k.display()))
        })?;
        out.push_str(&format!(
            "keyring = {}\n",
            quote_value(k, "keyring", &settings.conf, 0)?
        ));
    }
    let op = settings.op_timeout.as_secs().max(1);
    out.push_str(&format!(
        "rados_mon_op_timeout = {op}\nrados_osd_op_timeout = {op}\nclient_mount_timeout = {op}\n\
         log_to_stderr = false\nerr_to_stderr = false\nlog_to_syslog = false\nerr_to_syslog = false\n\
         log_to_file = false\nlog_file =\nadmin_socket =\n"
    ));
    let path = write_private(&out)?;
    Ok(ClientConf {
        path,
        mons,
        keyring,
    })
}

fn check_id(id: &str) -> Result<(), CephError> {
    let bare = id.strip_prefix("client.").unwrap_or(id);
    let ok = !bare.is_empty()
        && bare
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c));
    if ok {
        Ok(())
    } else {
        Err(CephError::Config(format!(
            "invalid Ceph user id {id:?} (from --ceph-id / KCOPS_CEPH_ID): use letters, digits, `-`, `_`, `.`"
        )))
    }
}

fn read_conf(path: &Path) -> Result<String, CephError> {
    std::fs::read_to_string(path).map_err(|e| {
        let what = match e.kind() {
            std::io::ErrorKind::NotFound => "not found".to_string(),
            std::io::ErrorKind::PermissionDenied => "not readable (permission denied)".to_string(),
            std::io::ErrorKind::InvalidData => "not a text file".to_string(),
            _ => format!("unreadable: {e}"),
        };
        CephError::Config(format!(
            "Ceph config {} {what}; set --ceph-conf or CEPH_CONF",
            path.display()
        ))
    })
}

/// Fails unless `path` is a readable keyring that has a section for `entity`. Reads
/// only section headers; the key itself is never kept or shown.
fn check_keyring(path: &Path, entity: &str, origin: &str) -> Result<(), CephError> {
    let bytes = std::fs::read(path).map_err(|e| {
        let what = match e.kind() {
            std::io::ErrorKind::NotFound => "not found".to_string(),
            std::io::ErrorKind::PermissionDenied => "not readable (permission denied)".to_string(),
            _ => format!("unreadable: {e}"),
        };
        CephError::Config(format!(
            "keyring {} (from {origin}) is {what}",
            path.display()
        ))
    })?;
    // A binary keyring (keyring.bin) cannot be checked here; librados will.
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return Ok(());
    };
    let sections: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix('[').and_then(|l| l.strip_suffix(']')))
        .map(str::trim)
        .collect();
    if sections.is_empty() || sections.contains(&entity) {
        return Ok(());
    }
    Err(CephError::Config(format!(
        "keyring {} (from {origin}) has no key for {entity} (it holds {}); use --ceph-id or --ceph-keyring",
        path.display(),
        sections.join(", ")
    )))
}

/// librados' default keyring search path.
fn default_keyrings() -> Vec<String> {
    [
        "/etc/ceph/$cluster.$name.keyring",
        "/etc/ceph/$cluster.keyring",
        "/etc/ceph/keyring",
        "/etc/ceph/keyring.bin",
    ]
    .map(String::from)
    .to_vec()
}

/// Splits a Ceph list option (`a,b c;d`).
fn split_list(value: &str) -> Vec<String> {
    value
        .split([',', ';', ' ', '\t'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// Expands the metavariables a keyring path may use.
fn expand_meta(value: &str, id: &str) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    let name = format!("client.{id}");
    // Longest names first, so `$name` is not read as `$n...`.
    value
        .replace("${cluster}", CLUSTER)
        .replace("$cluster", CLUSTER)
        .replace("${name}", &name)
        .replace("$name", &name)
        .replace("${type}", "client")
        .replace("$type", "client")
        .replace("${id}", id)
        .replace("$id", id)
        .replace("${host}", &host)
        .replace("$host", &host)
}

/// A value as our conf must spell it: quoted when it holds comment characters or
/// surrounding spaces.
fn quote_value(value: &str, key: &str, conf: &Path, line: usize) -> Result<String, CephError> {
    let needs = value.contains(['#', ';']) || value.trim() != value;
    if !needs {
        return Ok(value.to_string());
    }
    if value.contains('"') {
        return Err(CephError::Config(format!(
            "Ceph config {}:{line}: the value of `{key}` holds both a quote and a comment character; kcops cannot pass it on",
            conf.display()
        )));
    }
    Ok(format!("\"{value}\""))
}

/// Writes `text` to a new 0600 file in the temp dir and returns its path.
fn write_private(text: &str) -> Result<PathBuf, CephError> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = std::env::temp_dir();
    let mut last_err = None;
    for _ in 0..5 {
        let path = dir.join(format!(
            "kcops-ceph-{}-{:016x}.conf",
            std::process::id(),
            rand::random::<u64>()
        ));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path);
        match file {
            Ok(mut f) => {
                if let Err(e) = f.write_all(text.as_bytes()) {
                    let _ = std::fs::remove_file(&path);
                    return Err(CephError::Config(format!(
                        "cannot write the Ceph client config {}: {e}",
                        path.display()
                    )));
                }
                return Ok(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last_err = Some(e),
            Err(e) => {
                return Err(CephError::Config(format!(
                    "cannot create the Ceph client config in {}: {e}",
                    dir.display()
                )));
            }
        }
    }
    Err(CephError::Config(format!(
        "cannot create the Ceph client config in {}: {}",
        dir.display(),
        last_err.map_or_else(|| "name collision".to_string(), |e| e.to_string())
    )))
}

/// A value from the conf and the line it came from (for messages).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ConfValue {
    pub value: String,
    pub line: usize,
}

/// A parsed ceph.conf: sections in file order, keys normalised as Ceph does (spaces
/// and dashes are underscores).
#[derive(Debug, Default)]
pub(crate) struct ConfFile {
    sections: Vec<(String, Vec<(String, ConfValue)>)>,
}

impl ConfFile {
    pub fn parse(text: &str, path: &Path) -> Result<ConfFile, CephError> {
        let mut conf = ConfFile::default();
        let mut current: Option<usize> = None;
        let mut lines = text.lines().enumerate();
        while let Some((idx, raw)) = lines.next() {
            let line_no = idx + 1;
            // Continuation lines end in a backslash.
            let mut line = raw.trim_end_matches('\r').to_string();
            while line.ends_with('\\') {
                line.pop();
                match lines.next() {
                    Some((_, next)) => line.push_str(next.trim_end_matches('\r')),
                    None => break,
                }
            }
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
                continue;
            }
            let bad = |why: &str| {
                let shown: String = trimmed.chars().take(60).collect();
                CephError::Config(format!(
                    "Ceph config {}:{line_no}: {why}, found `{shown}`",
                    path.display()
                ))
            };
            if let Some(rest) = trimmed.strip_prefix('[') {
                let Some(end) = rest.find(']') else {
                    return Err(bad("a section header needs a closing `]`"));
                };
                let after = rest[end + 1..].trim();
                if !(after.is_empty() || after.starts_with('#') || after.starts_with(';')) {
                    return Err(bad("unexpected text after the section header"));
                }
                let name = rest[..end].trim().to_string();
                if name.is_empty() {
                    return Err(bad("empty section name"));
                }
                conf.sections.push((name, Vec::new()));
                current = Some(conf.sections.len() - 1);
                continue;
            }
            let Some((key, value)) = trimmed.split_once('=') else {
                return Err(bad("expected `key = value` or `[section]`"));
            };
            let key = normalize_key(key);
            if key.is_empty() {
                return Err(bad("missing option name before `=`"));
            }
            let value = parse_value(value).map_err(bad)?;
            let section = match current {
                Some(i) => i,
                None => {
                    // Options before any section header count as [global].
                    conf.sections.push(("global".to_string(), Vec::new()));
                    let i = conf.sections.len() - 1;
                    current = Some(i);
                    i
                }
            };
            conf.sections[section].1.push((
                key,
                ConfValue {
                    value,
                    line: line_no,
                },
            ));
        }
        Ok(conf)
    }

    /// The options a client `entity` sees: [global], then [client], then [<entity>].
    pub(crate) fn client_values(&self, entity: &str) -> BTreeMap<String, ConfValue> {
        let mut out = BTreeMap::new();
        for wanted in ["global", "client", entity] {
            for (name, entries) in &self.sections {
                if name == wanted {
                    for (k, v) in entries {
                        out.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        out
    }

    /// `mon addr` of old-style `[mon.X]` sections, joined as a `mon host` value.
    pub(crate) fn legacy_mon_addrs(&self) -> Option<String> {
        let addrs: Vec<&str> = self
            .sections
            .iter()
            .filter(|(name, _)| name.starts_with("mon."))
            .filter_map(|(_, entries)| {
                entries
                    .iter()
                    .rev()
                    .find(|(k, _)| k == "mon_addr")
                    .map(|(_, v)| v.value.as_str())
            })
            .filter(|v| !v.is_empty())
            .collect();
        (!addrs.is_empty()).then(|| addrs.join(","))
    }
}

/// `mon host`, `mon-host` and `mon_host` are one option to Ceph.
fn normalize_key(key: &str) -> String {
    let mut out = String::new();
    for word in key
        .trim()
        .split([' ', '\t', '-', '_'])
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push('_');
        }
        out.push_str(word);
    }
    out
}

/// A value without its trailing comment; double quotes keep `#` and `;`.
fn parse_value(raw: &str) -> Result<String, &'static str> {
    let raw = raw.trim();
    if let Some(rest) = raw.strip_prefix('"') {
        let Some(end) = rest.find('"') else {
            return Err("unterminated quoted value");
        };
        let after = rest[end + 1..].trim();
        if !(after.is_empty() || after.starts_with('#') || after.starts_with(';')) {
            return Err("unexpected text after a quoted value");
        }
        return Ok(rest[..end].to_string());
    }
    let end = raw.find(['#', ';']).unwrap_or(raw.len());
    Ok(raw[..end].trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "kcops-cephconf-{tag}-{}-{:x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn parses_sections_comments_and_precedence() {
        let text = "; comment\n[global]\nfsid = abc # trailing\nmon host = v1:10.0.0.1:6789, v1:10.0.0.2:6789\n\
                    keyring = /etc/ceph/$cluster.$name.keyring\nlog file = /var/log/ceph/$name.log\n\
                    [client]\nrados-mon-op-timeout = 300\n[client.kube]\nkeyring = \"/k/kube;1\"\n\
                    long = a \\\n b\n[mon.a]\nmon addr = 10.9.9.9:6789\n";
        let conf = ConfFile::parse(text, Path::new("/x/ceph.conf")).unwrap();
        let admin = conf.client_values("client.admin");
        assert_eq!(admin["fsid"].value, "abc");
        assert_eq!(
            admin["mon_host"].value,
            "v1:10.0.0.1:6789, v1:10.0.0.2:6789"
        );
        assert_eq!(admin["keyring"].line, 5);
        assert_eq!(admin["rados_mon_op_timeout"].value, "300");
        let kube = conf.client_values("client.kube");
        assert_eq!(kube["keyring"].value, "/k/kube;1");
        assert_eq!(kube["long"].value, "a  b");
        assert_eq!(conf.legacy_mon_addrs().as_deref(), Some("10.9.9.9:6789"));
    }

    #[test]
    fn bad_conf_names_file_and_line() {
        let err = ConfFile::parse(
            "[global]\nfsid = 1\nthis is not valid\n",
            Path::new("/c.conf"),
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("/c.conf:3"), "{msg}");
        assert!(msg.contains("expected `key = value`"), "{msg}");
        let err = ConfFile::parse("[global\n", Path::new("/c.conf")).unwrap_err();
        assert!(err.to_string().contains("/c.conf:1"), "{err}");
    }

    #[test]
    fn missing_conf_and_keyring_are_explained() {
        let dir = temp_dir("missing");
        let s = CephSettings::new(dir.join("nope.conf"), "admin");
        let msg = prepare(&s).unwrap_err().to_string();
        assert!(msg.contains("nope.conf not found"), "{msg}");
        assert!(msg.contains("--ceph-conf"), "{msg}");

        let conf = dir.join("ceph.conf");
        std::fs::write(&conf, "[global]\nfsid = 1\n").unwrap();
        let msg = prepare(&CephSettings::new(&conf, "admin"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("names no monitors"), "{msg}");

        let missing = dir.join("ceph.client.admin.keyring");
        std::fs::write(
            &conf,
            format!(
                "[global]\nmon host = 10.0.0.1\nkeyring = {}/ceph.$name.keyring\n",
                dir.display()
            ),
        )
        .unwrap();
        let msg = prepare(&CephSettings::new(&conf, "admin"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains(&missing.display().to_string()), "{msg}");
        assert!(msg.contains("ceph.conf:3"), "{msg}");

        // A keyring for another user is refused without showing any key.
        std::fs::write(&missing, "[client.kube]\n\tkey = SECRETSECRET==\n").unwrap();
        let msg = prepare(&CephSettings::new(&conf, "admin"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("no key for client.admin"), "{msg}");
        assert!(msg.contains("client.kube"), "{msg}");
        assert!(!msg.contains("SECRET"), "{msg}");

        let msg = prepare(&CephSettings::new(&conf, "admin").with_keyring(dir.join("k")))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("KCOPS_CEPH_KEYRING"), "{msg}");
        assert!(msg.contains("not found"), "{msg}");
        let msg = prepare(&CephSettings::new(&conf, "bad id"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("invalid Ceph user id"), "{msg}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn generated_conf_bounds_waits_and_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir("gen");
        let conf = dir.join("ceph.conf");
        let keyring = dir.join("ceph.client.admin.keyring");
        std::fs::write(&keyring, "[client.admin]\n\tkey = AQ==\n").unwrap();
        std::fs::write(
            &conf,
            format!(
                "[global]\nmon host = v1:10.0.0.1:6789\nkeyring = {}\nadmin socket = /run/$name.asok\n\
                 [client]\nrados mon op timeout = 300\nlog file = /var/log/x.log\nms bind msgr2 = false\n",
                keyring.display()
            ),
        )
        .unwrap();
        let s = CephSettings::new(&conf, "client.admin");
        assert_eq!(s.entity(), "client.admin");
        let generated = prepare(&s).unwrap();
        let path = generated.path.clone();
        let text = std::fs::read_to_string(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let parsed = ConfFile::parse(&text, &path).unwrap();
        let v = parsed.client_values("client.admin");
        assert_eq!(v["mon_host"].value, "v1:10.0.0.1:6789");
        assert_eq!(v["keyring"].value, keyring.display().to_string());
        assert_eq!(v["rados_mon_op_timeout"].value, "10");
        assert_eq!(v["rados_osd_op_timeout"].value, "10");
        assert_eq!(v["client_mount_timeout"].value, "10");
        assert_eq!(v["log_to_stderr"].value, "false");
        assert_eq!(v["err_to_stderr"].value, "false");
        assert_eq!(v["log_file"].value, "");
        assert_eq!(v["admin_socket"].value, "");
        assert_eq!(v["ms_bind_msgr2"].value, "false");
        assert_eq!(generated.mons, "v1:10.0.0.1:6789");
        drop(generated);
        assert!(!path.exists(), "the generated conf must be removed");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn defaults_and_helpers() {
        let s = CephSettings::new(DEFAULT_CONF, DEFAULT_ID);
        assert_eq!(s.entity(), "client.admin");
        assert_eq!(s.op_timeout, Duration::from_secs(10));
        assert_eq!(
            expand_meta("/etc/ceph/$cluster.$name.keyring", "kube"),
            "/etc/ceph/ceph.client.kube.keyring"
        );
        assert_eq!(split_list("a, b;c d"), vec!["a", "b", "c", "d"]);
        assert_eq!(normalize_key(" mon  host "), "mon_host");
        assert_eq!(
            normalize_key("rados-mon_op timeout"),
            "rados_mon_op_timeout"
        );
    }
}
