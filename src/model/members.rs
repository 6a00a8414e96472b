//! What the member poll found (`crate::members`): plain data the snapshot carries, so
//! findings and views stay pure functions of the snapshot.

use jiff::Timestamp;

/// Which software an ensemble runs: how its members are asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EnsembleKind {
    Etcd,
    ZooKeeper,
}

impl EnsembleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EnsembleKind::Etcd => "etcd",
            EnsembleKind::ZooKeeper => "zookeeper",
        }
    }
}

/// What runs an ensemble's pods.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Owner {
    /// A StatefulSet: pod `<name>-<ordinal>`, claims `<template>-<name>-<ordinal>`.
    StatefulSet { namespace: String, name: String },
    /// Static pods of the control plane (kubeadm's stacked etcd: `etcd-<node>` in
    /// kube-system), one per control-plane node; read-only.
    StaticPods { namespace: String },
}

impl Owner {
    pub fn namespace(&self) -> &str {
        match self {
            Owner::StatefulSet { namespace, .. } | Owner::StaticPods { namespace } => namespace,
        }
    }

    /// `StatefulSet default/etcd` or `static pods kube-system`.
    pub fn label(&self) -> String {
        match self {
            Owner::StatefulSet { namespace, name } => format!("StatefulSet {namespace}/{name}"),
            Owner::StaticPods { namespace } => format!("static pods {namespace}"),
        }
    }
}

/// Whether a member answered a health check (`etcdctl endpoint health`). Only an
/// answer makes a member healthy: what could not be reached is never called healthy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    Healthy,
    /// Reached, but the check failed (e.g. no quorum: a linearizable read timed out).
    Unhealthy(String),
    /// Not reached at all (connection refused, timed out, no address to try).
    Unreachable(String),
}

impl Health {
    pub fn is_healthy(&self) -> bool {
        matches!(self, Health::Healthy)
    }

    /// `healthy`, `unhealthy` or `unreachable`.
    pub fn word(&self) -> &'static str {
        match self {
            Health::Healthy => "healthy",
            Health::Unhealthy(_) => "unhealthy",
            Health::Unreachable(_) => "unreachable",
        }
    }

    /// Why not healthy, if so.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Health::Healthy => None,
            Health::Unhealthy(r) | Health::Unreachable(r) => Some(r),
        }
    }
}

/// What one member said about itself (`etcdctl endpoint status`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemberStatus {
    /// The member id of the leader as this member knows it (0: none).
    pub leader: u64,
    pub raft_term: u64,
    pub raft_index: u64,
    pub db_size: i64,
    pub version: String,
    pub learner: bool,
    /// The membership lines this member runs (ZooKeeper's `server.N=...` from `conf`;
    /// empty when it does not say).
    pub membership: Vec<String>,
    /// Its membership's version (ZooKeeper's `version=`, moved by every `reconfig`).
    pub config_version: Option<String>,
    /// A leader's synced followers, when it says (ZooKeeper's `mntr`).
    pub synced_followers: Option<u64>,
}

/// One registered member, as the member list and its own endpoint told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolledMember {
    pub id: u64,
    /// Empty for a member added but not started yet.
    pub name: String,
    pub peer_urls: Vec<String>,
    pub client_urls: Vec<String>,
    pub learner: bool,
    /// Where kcops reached it (`http://10.244.1.3:2379`), if it tried.
    pub endpoint: Option<String>,
    pub status: Option<MemberStatus>,
    pub health: Health,
}

/// One ensemble's poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnsemblePoll {
    pub kind: EnsembleKind,
    pub owner: Owner,
    pub polled_at: Timestamp,
    /// The registered members (empty when no endpoint gave the list).
    pub members: Vec<PolledMember>,
    /// Why the member list could not be read, naming the endpoints tried.
    pub error: Option<String>,
    /// The endpoint that gave the member list.
    pub answered_by: Option<String>,
}

/// Every recognised ensemble's latest poll.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MembersReport {
    pub ensembles: Vec<EnsemblePoll>,
}

impl MembersReport {
    /// Whether two reports say the same to the findings: the poll times and the
    /// counters that move with every write (raft index, database size) aside, which
    /// no finding reads. A poll every 5 s that says nothing new costs no diagnosis.
    pub fn same_state(&self, other: &MembersReport) -> bool {
        fn settled(r: &MembersReport) -> MembersReport {
            let mut r = r.clone();
            for e in &mut r.ensembles {
                e.polled_at = Timestamp::UNIX_EPOCH;
                for s in e.members.iter_mut().filter_map(|m| m.status.as_mut()) {
                    s.raft_index = 0;
                    s.db_size = 0;
                }
            }
            r
        }
        settled(self) == settled(other)
    }

    pub fn poll_of(&self, kind: EnsembleKind, owner: &Owner) -> Option<&EnsemblePoll> {
        self.ensembles
            .iter()
            .find(|p| p.kind == kind && &p.owner == owner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(at: &str, raft_index: u64, health: Health) -> MembersReport {
        MembersReport {
            ensembles: vec![EnsemblePoll {
                kind: EnsembleKind::Etcd,
                owner: Owner::StaticPods {
                    namespace: "kube-system".into(),
                },
                polled_at: at.parse().unwrap_or_default(),
                members: vec![PolledMember {
                    id: 1,
                    name: "master".into(),
                    peer_urls: Vec::new(),
                    client_urls: Vec::new(),
                    learner: false,
                    endpoint: None,
                    status: Some(MemberStatus {
                        leader: 1,
                        raft_term: 2,
                        raft_index,
                        db_size: 4096 + raft_index as i64,
                        ..Default::default()
                    }),
                    health,
                }],
                error: None,
                answered_by: None,
            }],
        }
    }

    /// A later poll of the same members, writes applied in between, says nothing
    /// new to the findings; a member's health does.
    #[test]
    fn only_what_the_findings_read_is_news() {
        let first = report("2026-12-05T08:00:00Z", 100, Health::Healthy);
        let later = report("2026-12-05T08:00:05Z", 180, Health::Healthy);
        assert!(first.same_state(&later));
        let sick = report(
            "2026-12-05T08:00:10Z",
            180,
            Health::Unhealthy("slow".into()),
        );
        assert!(!later.same_state(&sick));
    }
}
