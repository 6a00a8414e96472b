//! A ZooKeeper ensemble's membership as its servers state it: the `server.N=` lines
//! and `version=` of the `conf` four-letter word or the `/zookeeper/config` znode
//! (3.5+). A dynamic ensemble's version changes with every `reconfig`; servers that
//! disagree on it (or on the lines) run different memberships.

/// One `server.N=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerLine {
    /// `N`: the server's myid.
    pub id: u64,
    /// The host of its quorum address (`zk-0.zk-hs.default.svc.cluster.local`).
    pub host: String,
    /// `participant` (votes) or `observer`; `participant` when the line has no role.
    pub role: String,
    /// The text after `=`, as `reconfig -add server.N=<spec>` takes it.
    pub spec: String,
}

impl ServerLine {
    pub fn votes(&self) -> bool {
        self.role == "participant"
    }

    /// `server.N=<spec>`.
    pub fn line(&self) -> String {
        format!("server.{}={}", self.id, self.spec)
    }
}

/// The membership a server reports.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ZkConfig {
    pub servers: Vec<ServerLine>,
    /// `version=` (hex, as ZooKeeper prints it); `None` for a static 3.4-style config.
    pub version: Option<String>,
}

impl ZkConfig {
    pub fn voters(&self) -> impl Iterator<Item = &ServerLine> {
        self.servers.iter().filter(|s| s.votes())
    }

    pub fn server(&self, id: u64) -> Option<&ServerLine> {
        self.servers.iter().find(|s| s.id == id)
    }

    /// The membership in one comparable line: `1,2,3@100000000`.
    pub fn fingerprint(&self) -> String {
        let mut ids: Vec<String> = self
            .servers
            .iter()
            .map(|s| {
                if s.votes() {
                    s.id.to_string()
                } else {
                    format!("{}({})", s.id, s.role)
                }
            })
            .collect();
        ids.sort();
        format!(
            "{}@{}",
            ids.join(","),
            self.version.as_deref().unwrap_or("static")
        )
    }
}

/// Reads the membership out of a `conf` answer or the config znode's data; other
/// lines (`clientPort=`, `dataDir=` ...) are skipped. `None` when no server line is
/// there (a standalone server, or a 3.4 server's `conf`).
pub fn parse_config(text: &str) -> Option<ZkConfig> {
    let mut config = ZkConfig::default();
    for line in text.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("version=") {
            config.version = Some(v.trim().to_string());
            continue;
        }
        let Some((key, spec)) = line.split_once('=') else {
            continue;
        };
        let Some(id) = key
            .strip_prefix("server.")
            .and_then(|n| n.trim().parse::<u64>().ok())
        else {
            continue;
        };
        let spec = spec.trim();
        let quorum = spec.split(';').next().unwrap_or(spec);
        let mut parts = quorum.split(':');
        let host = parts.next().unwrap_or_default().to_string();
        let role = quorum
            .split(':')
            .nth(3)
            .filter(|r| matches!(*r, "participant" | "observer"))
            .unwrap_or("participant")
            .to_string();
        config.servers.push(ServerLine {
            id,
            host,
            role,
            spec: spec.to_string(),
        });
    }
    config.servers.sort_by_key(|s| s.id);
    (!config.servers.is_empty()).then_some(config)
}

/// The pod a server line names: the first label of its host when it is
/// `<statefulset>-<ordinal>` (`zk-3.zk-hs...` -> `zk-3`).
pub fn pod_of(line: &ServerLine, statefulset: &str) -> Option<String> {
    let first = line.host.split('.').next()?;
    let ordinal = first.strip_prefix(statefulset)?.strip_prefix('-')?;
    ordinal.parse::<u32>().ok().map(|_| first.to_string())
}

/// The line a new server `myid` running in pod `pod` gets, written after the pattern
/// of an existing line (same domain, ports and client address), as a participant.
pub fn line_for(existing: &ServerLine, existing_pod: &str, pod: &str, myid: u64) -> ServerLine {
    let host = existing.host.replacen(existing_pod, pod, 1);
    let rest = existing
        .spec
        .strip_prefix(existing.host.as_str())
        .unwrap_or("");
    let rest = rest.replace(":observer", ":participant");
    ServerLine {
        id: myid,
        host: host.clone(),
        role: "participant".to_string(),
        spec: format!("{host}{rest}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONF: &str = "clientPort=2181\n\
        dataDir=/var/lib/zookeeper/data\n\
        server.1=zkd-0.zkd-hs.default.svc.cluster.local:2888:3888:participant;0.0.0.0:2181\n\
        server.2=zkd-1.zkd-hs.default.svc.cluster.local:2888:3888:participant;0.0.0.0:2181\n\
        server.4=zkd-3.zkd-hs.default.svc.cluster.local:2888:3888:observer;0.0.0.0:2181\n\
        server.3=zkd-2.zkd-hs.default.svc.cluster.local:2888:3888:participant;0.0.0.0:2181\n\
        version=100000000\n";

    #[test]
    fn membership_is_read_from_conf() {
        let c = parse_config(CONF).unwrap();
        assert_eq!(c.version.as_deref(), Some("100000000"));
        assert_eq!(
            c.servers.iter().map(|s| s.id).collect::<Vec<_>>(),
            [1, 2, 3, 4]
        );
        assert_eq!(c.voters().count(), 3);
        assert_eq!(c.fingerprint(), "1,2,3,4(observer)@100000000");
        assert_eq!(pod_of(&c.servers[3], "zkd").as_deref(), Some("zkd-3"));
        assert_eq!(
            pod_of(&c.servers[0], "zk"),
            None,
            "zkd-0 is not a pod of zk"
        );
        // A static line (no role, no client address) is a participant.
        let s = parse_config("server.1=zk-0.zk-hs:2888:3888\n").unwrap();
        assert!(s.servers[0].votes());
        assert_eq!(s.version, None);
        assert_eq!(parse_config("clientPort=2181\n"), None);
    }

    #[test]
    fn a_new_server_line_follows_an_existing_one() {
        let c = parse_config(CONF).unwrap();
        let l = line_for(&c.servers[0], "zkd-0", "zkd-4", 5);
        assert_eq!(
            l.line(),
            "server.5=zkd-4.zkd-hs.default.svc.cluster.local:2888:3888:participant;0.0.0.0:2181"
        );
        let from_observer = line_for(&c.servers[3], "zkd-3", "zkd-5", 6);
        assert!(
            from_observer.spec.contains(":participant;"),
            "{from_observer:?}"
        );
    }
}
