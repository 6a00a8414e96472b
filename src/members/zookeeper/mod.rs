//! ZooKeeper servers through the four-letter words over TCP: `srvr` (allowed by the
//! default whitelist since 3.5.3) for each server's mode, zxid, latency and outstanding
//! requests, and `mntr` on the leader when it is allowed (its synced followers). The
//! server list is the static `zoo.cfg`'s: `server.N` is pod `<sts>-<N-1>` (myid =
//! ordinal + 1, as the kubernetes-zookeeper image writes it), N up to the template's
//! `--servers`, else the StatefulSet's replicas. Servers are reached by pod IP. Where
//! `conf` is allowed (3.5+), each server's membership and config version are read too
//! ([`config`]): a dynamic ensemble's members are the servers its config lists, and a
//! server the config does not list as a participant has no vote (a learner here).

pub mod config;

use futures::future::BoxFuture;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use self::config::{ZkConfig, parse_config, pod_of};
use super::recognise::Target;
use super::source::{MemberSource, PollSettings};
use crate::model::members::{EnsembleKind, EnsemblePoll, Health, MemberStatus, PolledMember};

/// Reads ZooKeeper ensembles.
#[derive(Debug, Clone, Default)]
pub struct ZooKeeperSource {
    pub settings: PollSettings,
}

impl MemberSource for ZooKeeperSource {
    fn kind(&self) -> EnsembleKind {
        EnsembleKind::ZooKeeper
    }

    fn poll<'a>(&'a self, target: &'a Target) -> BoxFuture<'a, EnsemblePoll> {
        Box::pin(self.poll_target(target))
    }
}

/// What `srvr` says about a server.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Srvr {
    pub version: String,
    /// `leader`, `follower`, `observer`, `standalone`.
    pub mode: String,
    pub zxid: u64,
    /// `min/avg/max` in ms.
    pub latency: String,
    pub outstanding: u64,
    pub node_count: u64,
}

/// What a server answered to `srvr`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SrvrAnswer {
    Serving(Srvr),
    /// "This ZooKeeper instance is not currently serving requests": no quorum yet.
    NotServing,
    /// The word is not in the server's `4lw.commands.whitelist`.
    NotAllowed(String),
}

/// Parses a `srvr` answer.
pub fn parse_srvr(text: &str) -> Option<SrvrAnswer> {
    let text = text.trim();
    if text.contains("not currently serving requests") {
        return Some(SrvrAnswer::NotServing);
    }
    if text.contains("not in the whitelist") || text.contains("not executed") {
        return Some(SrvrAnswer::NotAllowed(text.to_string()));
    }
    let mut s = Srvr::default();
    let mut seen_mode = false;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "Zookeeper version" => {
                s.version = value.split(['-', ',']).next().unwrap_or(value).to_string();
            }
            "Latency min/avg/max" => s.latency = value.to_string(),
            "Outstanding" => s.outstanding = value.parse().unwrap_or(0),
            "Zxid" => {
                s.zxid = u64::from_str_radix(value.trim_start_matches("0x"), 16).unwrap_or(0);
            }
            "Mode" => {
                s.mode = value.to_string();
                seen_mode = true;
            }
            "Node count" => s.node_count = value.parse().unwrap_or(0),
            _ => {}
        }
    }
    seen_mode.then_some(SrvrAnswer::Serving(s))
}

/// `zk_synced_followers` from a leader's `mntr` answer.
pub fn synced_followers(mntr: &str) -> Option<u64> {
    mntr.lines().find_map(|l| {
        let (k, v) = l.split_once(char::is_whitespace)?;
        (k == "zk_synced_followers").then(|| v.trim().parse().ok())?
    })
}

/// One server of the static list: its myid and the pod that runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Server {
    myid: u64,
    pod: String,
    address: Option<String>,
}

/// `server.1` .. `server.N` of `target`: N from `--servers`, else the replicas.
fn servers(target: &Target) -> Vec<Server> {
    let crate::model::members::Owner::StatefulSet { name, .. } = &target.owner else {
        return Vec::new();
    };
    let n = target
        .servers
        .map(u64::from)
        .or_else(|| target.replicas.and_then(|r| u64::try_from(r).ok()))
        .unwrap_or(0);
    (1..=n)
        .map(|myid| server(target, myid, format!("{name}-{}", myid - 1)))
        .collect()
}

fn server(target: &Target, myid: u64, pod: String) -> Server {
    let address = target
        .pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp().is_none())
        .find(|p| p.metadata.name.as_deref() == Some(pod.as_str()))
        .and_then(|p| p.status.as_ref()?.pod_ip.clone())
        .map(|ip| format!("{ip}:{}", target.client_port));
    Server { myid, pod, address }
}

/// The membership most serving servers report (the leader's on a tie).
fn agreed_config(members: &[PolledMember]) -> Option<ZkConfig> {
    let configs: Vec<(bool, ZkConfig)> = members
        .iter()
        .filter_map(|m| {
            let s = m.status.as_ref()?;
            let c = parse_config(&s.membership.join("\n"))?;
            Some((
                s.leader != 0,
                ZkConfig {
                    version: s.config_version.clone(),
                    ..c
                },
            ))
        })
        .collect();
    configs
        .iter()
        .max_by_key(|(leads, c)| (configs.iter().filter(|(_, o)| o == c).count(), *leads))
        .map(|(_, c)| c.clone())
}

impl ZooKeeperSource {
    /// Sends a four-letter word and reads the answer to the end.
    pub(crate) async fn word(&self, address: &str, word: &str) -> Result<String, String> {
        let connect =
            tokio::time::timeout(self.settings.connect_timeout, TcpStream::connect(address));
        let mut stream = match connect.await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => {
                return Err(format!(
                    "no connection within {}s",
                    self.settings.connect_timeout.as_secs()
                ));
            }
        };
        let exchange = async {
            stream.write_all(word.as_bytes()).await?;
            let mut out = Vec::new();
            stream.read_to_end(&mut out).await?;
            Ok::<_, std::io::Error>(out)
        };
        match tokio::time::timeout(self.settings.request_timeout, exchange).await {
            Ok(Ok(out)) if out.is_empty() => Err(format!(
                "closed the connection without answering `{word}` (not in its 4lw.commands.whitelist?)"
            )),
            Ok(Ok(out)) => Ok(String::from_utf8_lossy(&out).into_owned()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!(
                "no answer to `{word}` within {}s",
                self.settings.request_timeout.as_secs()
            )),
        }
    }

    async fn check(&self, server: &Server) -> PolledMember {
        let mut member = PolledMember {
            id: server.myid,
            name: server.pod.clone(),
            peer_urls: Vec::new(),
            client_urls: server.address.iter().cloned().collect(),
            learner: false,
            endpoint: server.address.clone(),
            status: None,
            health: Health::Unreachable(format!("its pod {} has no IP", server.pod)),
        };
        let Some(address) = &server.address else {
            return member;
        };
        let answer = self.word(address, "srvr").await;
        match answer.as_deref().map(parse_srvr) {
            Err(e) => member.health = Health::Unreachable(e.clone()),
            Ok(None) => {
                member.health = Health::Unhealthy(format!(
                    "`srvr` answered something kcops does not read: {}",
                    answer.unwrap_or_default().trim()
                ));
            }
            Ok(Some(SrvrAnswer::NotServing)) => {
                member.health = Health::Unhealthy(
                    "not currently serving requests (no quorum: looking for a leader)".to_string(),
                );
            }
            Ok(Some(SrvrAnswer::NotAllowed(why))) => {
                member.health = Health::Unhealthy(format!(
                    "`srvr` is not in its 4lw.commands.whitelist: {why}"
                ));
            }
            Ok(Some(SrvrAnswer::Serving(s))) => {
                let leader = s.mode == "leader";
                let synced = if leader {
                    self.word(address, "mntr")
                        .await
                        .ok()
                        .and_then(|m| synced_followers(&m))
                } else {
                    None
                };
                // Where `conf` is allowed (3.5+), the membership this server runs.
                let config = self
                    .word(address, "conf")
                    .await
                    .ok()
                    .and_then(|c| parse_config(&c));
                let config_version = config.as_ref().and_then(|c| c.version.clone());
                member.learner = s.mode == "observer";
                member.status = Some(MemberStatus {
                    membership: config
                        .as_ref()
                        .map(|c| c.servers.iter().map(|l| l.line()).collect())
                        .unwrap_or_default(),
                    config_version: config_version.clone(),
                    synced_followers: synced,
                    leader: if leader { server.myid } else { 0 },
                    // The zxid's epoch and counter: lag is the counter's difference
                    // (a follower at 0x0 is not 2^32 behind a leader at 0x100000000).
                    raft_term: s.zxid >> 32,
                    raft_index: s.zxid & 0xffff_ffff,
                    db_size: i64::try_from(s.node_count).unwrap_or(i64::MAX),
                    version: summary(&s, synced, config_version.as_deref()),
                    learner: member.learner,
                });
                member.health = Health::Healthy;
            }
        }
        member
    }

    async fn poll_target(&self, target: &Target) -> EnsemblePoll {
        let mut poll = EnsemblePoll {
            kind: EnsembleKind::ZooKeeper,
            owner: target.owner.clone(),
            polled_at: jiff::Timestamp::now(),
            members: Vec::new(),
            error: None,
            answered_by: None,
        };
        let list = servers(target);
        if list.iter().all(|s| s.address.is_none()) {
            poll.error = Some("no pod of the ensemble has an IP to ask".to_string());
            return poll;
        }
        let mut members = futures::future::join_all(list.iter().map(|s| self.check(s))).await;
        // A dynamic ensemble: its config names the members; a server it does not list
        // as a participant has no vote, one it lists beyond the replicas is asked too.
        if let Some(config) = agreed_config(&members) {
            let crate::model::members::Owner::StatefulSet { name, .. } = &target.owner else {
                return poll;
            };
            let extra: Vec<Server> = config
                .servers
                .iter()
                .filter(|l| !list.iter().any(|s| s.myid == l.id))
                .map(|l| {
                    let pod = pod_of(l, name).unwrap_or_else(|| l.host.clone());
                    server(target, l.id, pod)
                })
                .collect();
            members.extend(futures::future::join_all(extra.iter().map(|s| self.check(s))).await);
            for m in &mut members {
                let votes = config.server(m.id).is_some_and(|l| l.votes());
                m.learner = m.learner || !votes;
                if let Some(s) = &mut m.status {
                    s.learner = m.learner;
                }
                if let Some(l) = config.server(m.id) {
                    m.peer_urls = vec![l.line()];
                }
            }
        }
        if members
            .iter()
            .all(|m| matches!(m.health, Health::Unreachable(_)))
        {
            let why: Vec<String> = members
                .iter()
                .map(|m| {
                    format!(
                        "{}: {}",
                        m.endpoint.as_deref().unwrap_or(&m.name),
                        m.health.reason().unwrap_or_default()
                    )
                })
                .collect();
            poll.error = Some(format!("no server answered `srvr`: {}", why.join("; ")));
            return poll;
        }
        poll.answered_by = members
            .iter()
            .find(|m| m.health.is_healthy())
            .and_then(|m| m.endpoint.clone());
        poll.members = members;
        poll.polled_at = jiff::Timestamp::now();
        poll
    }
}

/// The server in one line: `3.8.0 leader · 2 synced followers · latency 0/0.2/3 ms ·
/// 0 outstanding`.
fn summary(s: &Srvr, synced: Option<u64>, config: Option<&str>) -> String {
    let mut parts = vec![format!("{} {}", s.version, s.mode)];
    if let Some(v) = config {
        parts.push(format!("config {v}"));
    }
    if let Some(n) = synced {
        parts.push(format!("{n} synced followers"));
    }
    if !s.latency.is_empty() {
        parts.push(format!("latency {} ms", s.latency));
    }
    parts.push(format!("{} outstanding", s.outstanding));
    parts.join(" · ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const FOLLOWER: &str = "Zookeeper version: 3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC\n\
        Latency min/avg/max: 0/0.5/3\nReceived: 12\nSent: 11\nConnections: 1\n\
        Outstanding: 0\nZxid: 0x100000002\nMode: follower\nNode count: 5\n";

    #[test]
    fn srvr_answers_are_read() {
        let Some(SrvrAnswer::Serving(s)) = parse_srvr(FOLLOWER) else {
            panic!("not read");
        };
        assert_eq!(s.version, "3.8.0");
        assert_eq!(s.mode, "follower");
        assert_eq!(s.zxid, 0x1_0000_0002);
        assert_eq!(s.latency, "0/0.5/3");
        assert_eq!(s.node_count, 5);
        assert_eq!(
            parse_srvr("This ZooKeeper instance is not currently serving requests\n"),
            Some(SrvrAnswer::NotServing)
        );
        assert!(matches!(
            parse_srvr("srvr is not executed because it is not in the whitelist.\n"),
            Some(SrvrAnswer::NotAllowed(_))
        ));
        assert_eq!(parse_srvr("garbage"), None);
        assert_eq!(
            synced_followers("zk_version\t3.8.0\nzk_synced_followers\t2\n"),
            Some(2)
        );
        assert_eq!(synced_followers("zk_version\t3.8.0\n"), None);
        assert_eq!(
            summary(
                &Srvr {
                    mode: "leader".into(),
                    version: "3.8.0".into(),
                    latency: "0/0.0/0".into(),
                    ..Default::default()
                },
                Some(2),
                None
            ),
            "3.8.0 leader · 2 synced followers · latency 0/0.0/0 ms · 0 outstanding"
        );
    }
}
