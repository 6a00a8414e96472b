//! Ensembles: quorum-based workloads (etcd, and ZooKeeper in [`zookeeper`]) seen as
//! their members beside their pods.
//!
//! - [`recognise`]: which StatefulSets (and kubeadm's static etcd pods) are ensembles;
//! - [`source`]: the [`source::MemberSource`] trait a kind implements to list its
//!   members ([`etcd`] for etcd) and [`poll`], the background poll (every 5 s and on
//!   demand) whose result the snapshot carries as a
//!   [`crate::model::members::MembersReport`];
//! - this module: [`ensembles`], a pure function of the snapshot joining what was
//!   recognised, what the poll found and the pods ([`matching`]), which the findings
//!   (`crate::diagnose::members`), pane 9 and the scaling wizard read;
//! - [`quorum`]: the arithmetic (voters, quorum, failures tolerated, the steps of a
//!   sequence of membership changes).

pub mod etcd;
pub mod matching;
pub mod poll;
pub mod quorum;
pub mod recognise;
pub mod source;
pub mod zookeeper;

use std::sync::Arc;

use jiff::Timestamp;

pub use crate::model::members::{EnsembleKind, Health, MemberStatus, Owner};
use crate::model::pod::Pod;
use crate::model::snapshot::Snapshot;
pub use quorum::{Change, Quorum};
pub use recognise::Tls;

/// A pod of an ensemble, as the watchers keep it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnsemblePod {
    pub name: String,
    pub ip: Option<String>,
    pub node: Option<String>,
    /// `Running`, `Pending`, ... (`Terminating` when deleted).
    pub phase: String,
    pub ready: bool,
    /// The member running in it (its id), if one matched.
    pub member: Option<u64>,
}

/// A registered member, with its pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: u64,
    pub name: String,
    pub peer_urls: Vec<String>,
    pub client_urls: Vec<String>,
    pub learner: bool,
    pub health: Health,
    /// Where kcops reached it, if it tried.
    pub endpoint: Option<String>,
    pub status: Option<MemberStatus>,
    /// The ensemble's leader is this member.
    pub leader: bool,
    /// Raft entries behind the leader (`None`: either status unknown).
    pub lag: Option<u64>,
    /// The pod it runs in (matched by name or peer-URL host).
    pub pod: Option<String>,
}

impl Member {
    /// The id as `etcdctl member list` prints it (lower-case hex).
    pub fn id_hex(&self) -> String {
        format!("{:x}", self.id)
    }

    /// The name, or `(unstarted <id>)` for a member added but never started.
    pub fn label(&self) -> String {
        if self.name.is_empty() {
            format!("(unstarted {})", self.id_hex())
        } else {
            self.name.clone()
        }
    }
}

/// When the members were polled and what went wrong doing so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollInfo {
    pub at: Timestamp,
    /// Why the member list could not be read.
    pub error: Option<String>,
    pub answered_by: Option<String>,
}

/// A claim of an ordinal at or above `replicas`, left from an earlier, larger size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleClaim {
    pub name: String,
    pub ordinal: i32,
    pub phase: String,
    /// The pod name that ordinal gives (`etcd-2`).
    pub pod_name: String,
}

/// An ensemble as the console knows it now.
#[derive(Debug, Clone)]
pub struct Ensemble {
    pub kind: EnsembleKind,
    pub owner: Owner,
    /// The StatefulSet's desired replicas (`None` for static pods).
    pub replicas: Option<i32>,
    pub pods: Vec<EnsemblePod>,
    /// Registered members by name, unstarted ones last (empty if not polled).
    pub members: Vec<Member>,
    /// `None`: not polled yet.
    pub poll: Option<PollInfo>,
    pub tls: Tls,
    pub by_annotation: bool,
    pub stale_claims: Vec<StaleClaim>,
}

/// How an ensemble is doing, worst first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    NoQuorum,
    Unreachable,
    AtRisk,
    Degraded,
    NotPolled,
    Healthy,
}

impl Verdict {
    pub fn word(self) -> &'static str {
        match self {
            Verdict::NoQuorum => "no quorum",
            Verdict::Unreachable => "unreachable",
            Verdict::AtRisk => "at risk",
            Verdict::Degraded => "degraded",
            Verdict::NotPolled => "not polled yet",
            Verdict::Healthy => "healthy",
        }
    }
}

impl Ensemble {
    /// `StatefulSet default/etcd`, `static pods kube-system`.
    pub fn label(&self) -> String {
        self.owner.label()
    }

    /// How the ensemble's own tools name member `m`: etcd's hex id, ZooKeeper's
    /// `server.<myid>` (a decimal myid: `server.10`, not `server.a`).
    pub fn member_id(&self, m: &Member) -> String {
        match self.kind {
            EnsembleKind::Etcd => m.id_hex(),
            EnsembleKind::ZooKeeper => format!("server.{}", m.id),
        }
    }

    /// Voters and learners as registered.
    pub fn quorum(&self) -> Quorum {
        let learners = self.members.iter().filter(|m| m.learner).count();
        Quorum::new(self.members.len() - learners, learners)
    }

    /// Voters that answered their health check.
    pub fn healthy_voters(&self) -> usize {
        self.members
            .iter()
            .filter(|m| !m.learner && m.health.is_healthy())
            .count()
    }

    /// Further voter failures the ensemble survives now (healthy voters beyond quorum).
    pub fn tolerates_now(&self) -> usize {
        self.healthy_voters().saturating_sub(self.quorum().quorum())
    }

    pub fn leader(&self) -> Option<&Member> {
        self.members.iter().find(|m| m.leader)
    }

    /// Ready pods and desired pods (`2/3`); static pods desire one per pod found.
    pub fn pods_ready(&self) -> (usize, usize) {
        let ready = self.pods.iter().filter(|p| p.ready).count();
        let desired = self
            .replicas
            .map_or(self.pods.len(), |r| usize::try_from(r).unwrap_or(0));
        (ready, desired)
    }

    /// Whether the member list was read.
    pub fn listed(&self) -> bool {
        self.poll.as_ref().is_some_and(|p| p.error.is_none())
    }

    pub fn verdict(&self) -> Verdict {
        let Some(poll) = &self.poll else {
            return Verdict::NotPolled;
        };
        if poll.error.is_some() {
            return Verdict::Unreachable;
        }
        let q = self.quorum();
        if !q.has_quorum(self.healthy_voters()) {
            Verdict::NoQuorum
        } else if self.tolerates_now() == 0 && q.voters > 1 {
            Verdict::AtRisk
        } else if self
            .members
            .iter()
            .any(|m| !m.health.is_healthy() || m.pod.is_none())
            || self.pods.iter().any(|p| p.member.is_none())
        {
            Verdict::Degraded
        } else {
            Verdict::Healthy
        }
    }

    /// The object a finding about the whole ensemble names.
    pub fn subject(&self) -> crate::model::objref::ObjRef {
        use crate::model::objref::ObjRef;
        match &self.owner {
            Owner::StatefulSet { namespace, name } => {
                ObjRef::namespaced("StatefulSet", namespace, name)
            }
            Owner::StaticPods { namespace } => match self.pods.first() {
                Some(p) => ObjRef::namespaced("Pod", namespace, &p.name),
                None => ObjRef::cluster("Namespace", namespace),
            },
        }
    }
}

/// The ensembles of `s`: recognised from its StatefulSets and nodes, with the members
/// its last poll found, matched to their pods.
pub fn ensembles(s: &Snapshot) -> Vec<Ensemble> {
    // kubeadm's static etcd pods are looked up per node: with 5,000 nodes and
    // 150,000 pods, a search of every pod per node at each view. They are read once,
    // in one range of the ordered pods, and found by name; and only the nodes they
    // name are asked (a lookup per such pod in the name-ordered nodes, not a lookup
    // per node: a view is made up to 20 times a second).
    let static_etcd = static_etcd_pods(s);
    let mut etcd_nodes: Vec<usize> = static_etcd
        .keys()
        .filter_map(|pod| pod.strip_prefix(STATIC_ETCD_PREFIX))
        .filter_map(|node| {
            let name = |n: &Arc<k8s_openapi::api::core::v1::Node>| {
                n.metadata.name.as_deref() == Some(node)
            };
            s.nodes
                .binary_search_by(|n| n.metadata.name.as_deref().unwrap_or_default().cmp(node))
                .ok()
                // Nodes out of name order (a snapshot made by hand): looked through.
                .or_else(|| s.nodes.iter().position(name))
        })
        .collect();
    etcd_nodes.sort_unstable();
    let nodes = etcd_nodes.iter().filter_map(|i| s.nodes.get(*i));
    let targets = recognise::recognise(&s.statefulsets, nodes, |ns, name| {
        if ns == "kube-system" && name.starts_with(STATIC_ETCD_PREFIX) {
            static_etcd.get(name).copied().cloned()
        } else {
            s.pod(ns, name).cloned()
        }
    });
    targets.into_iter().map(|t| assemble(s, t)).collect()
}

const STATIC_ETCD_PREFIX: &str = "etcd-";

/// The pods `kube-system/etcd-*` by name: a range of the snapshot's ordered pods.
fn static_etcd_pods(s: &Snapshot) -> std::collections::HashMap<&str, &Arc<Pod>> {
    s.pods_named("kube-system", STATIC_ETCD_PREFIX)
        .map(|p| (p.metadata.name.as_deref().unwrap_or_default(), p))
        .collect()
}

fn pod_of(p: &Arc<Pod>) -> EnsemblePod {
    let status = p.status.as_ref();
    let phase = if p.metadata.deletion_timestamp().is_some() {
        "Terminating".to_string()
    } else {
        status
            .and_then(|s| s.phase.as_deref())
            .unwrap_or("Unknown")
            .to_string()
    };
    EnsemblePod {
        name: p.metadata.name.as_deref().unwrap_or_default().to_string(),
        ip: status.and_then(|s| s.pod_ip.as_deref().map(String::from)),
        node: p
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref().map(String::from)),
        phase,
        ready: status
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .any(|c| c.type_() == "Ready" && c.status() == "True"),
        member: None,
    }
}

fn assemble(s: &Snapshot, t: recognise::Target) -> Ensemble {
    let mut pods: Vec<EnsemblePod> = t.pods.iter().map(pod_of).collect();
    let poll = s.members.as_ref().and_then(|r| r.poll_of(t.kind, &t.owner));
    let mut members: Vec<Member> = Vec::new();
    if let Some(poll) = poll {
        let leader_id = poll
            .members
            .iter()
            .filter_map(|m| m.status.as_ref())
            .map(|st| st.leader)
            .find(|l| *l != 0);
        let leader_index = poll
            .members
            .iter()
            .find(|m| Some(m.id) == leader_id)
            .and_then(|m| m.status.as_ref())
            .map(|st| st.raft_index);
        let keys: Vec<(&str, Option<&str>)> = pods
            .iter()
            .map(|p| (p.name.as_str(), p.ip.as_deref()))
            .collect();
        let matched: Vec<Option<usize>> = poll
            .members
            .iter()
            .map(|m| matching::match_pod(&m.name, &m.peer_urls, &keys))
            .collect();
        for (m, pod) in poll.members.iter().zip(matched) {
            members.push(Member {
                id: m.id,
                name: m.name.clone(),
                peer_urls: m.peer_urls.clone(),
                client_urls: m.client_urls.clone(),
                learner: m.learner || m.status.as_ref().is_some_and(|st| st.learner),
                health: m.health.clone(),
                endpoint: m.endpoint.clone(),
                status: m.status.clone(),
                leader: Some(m.id) == leader_id,
                lag: leader_index
                    .zip(m.status.as_ref())
                    .map(|(l, st)| l.saturating_sub(st.raft_index)),
                pod: pod.and_then(|i| pods.get(i)).map(|p| p.name.clone()),
            });
            if let Some(p) = pod.and_then(|i| pods.get_mut(i)) {
                p.member = Some(m.id);
            }
        }
    }
    // By name (unstarted members last), as an operator reads a list.
    members.sort_by(|a, b| {
        (a.name.is_empty(), &a.name, a.id).cmp(&(b.name.is_empty(), &b.name, b.id))
    });
    let stale_claims = match (&t.owner, t.replicas) {
        (Owner::StatefulSet { namespace, name }, Some(replicas)) => {
            stale_claims(s, namespace, name, replicas, &t.claim_templates)
        }
        _ => Vec::new(),
    };
    Ensemble {
        kind: t.kind,
        owner: t.owner,
        replicas: t.replicas,
        pods,
        members,
        poll: poll.map(|p| PollInfo {
            at: p.polled_at,
            error: p.error.clone(),
            answered_by: p.answered_by.clone(),
        }),
        tls: t.tls,
        by_annotation: t.by_annotation,
        stale_claims,
    }
}

/// Claims `<template>-<sts>-<ordinal>` with `ordinal >= replicas`.
fn stale_claims(
    s: &Snapshot,
    namespace: &str,
    sts: &str,
    replicas: i32,
    templates: &[String],
) -> Vec<StaleClaim> {
    let mut out = Vec::new();
    for pvc in &s.pvcs {
        if pvc.metadata.namespace.as_deref() != Some(namespace) {
            continue;
        }
        let Some(name) = pvc.metadata.name.as_deref() else {
            continue;
        };
        for tpl in templates {
            let Some(ordinal) = name
                .strip_prefix(&format!("{tpl}-{sts}-"))
                .and_then(|o| o.parse::<i32>().ok())
            else {
                continue;
            };
            if ordinal >= replicas {
                out.push(StaleClaim {
                    name: name.to_string(),
                    ordinal,
                    phase: pvc
                        .status
                        .as_ref()
                        .and_then(|st| st.phase.clone())
                        .unwrap_or_else(|| "Pending".to_string()),
                    pod_name: format!("{sts}-{ordinal}"),
                });
            }
        }
    }
    out.sort_by_key(|c| (c.ordinal, c.name.clone()));
    out
}

#[cfg(test)]
pub(crate) mod fixtures;

#[cfg(test)]
mod static_etcd_tests {
    use super::*;
    use serde_json::json;

    fn from<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Arc<T> {
        Arc::new(serde_json::from_value(v).unwrap())
    }

    /// kubeadm's etcd pods are found among other kube-system pods (before and after
    /// them in name order) by their node's name and label; nothing else is taken.
    #[test]
    fn static_etcd_pods_are_found_by_node_among_the_others() {
        let mut s = Snapshot::default();
        for n in ["master", "node1", "worker"] {
            s.nodes.push(from(json!({"metadata": {"name": n}})));
        }
        let pod = |ns: &str, name: &str, node: &str, component: Option<&str>| {
            let labels = component.map(|c| json!({"component": c}));
            from(json!({
                "metadata": {"name": name, "namespace": ns, "labels": labels},
                "spec": {"nodeName": node, "containers": [{"name": "c"}]},
                "status": {"phase": "Running"}
            }))
        };
        s.pods.push(pod("kube-system", "coredns-1", "worker", None));
        s.pods
            .push(pod("kube-system", "etcd-backup", "worker", None));
        s.pods
            .push(pod("kube-system", "etcd-master", "master", Some("etcd")));
        s.pods
            .push(pod("kube-system", "etcd-node1", "node1", Some("etcd")));
        s.pods
            .push(pod("kube-system", "etcd-worker", "worker", Some("backup")));
        s.pods
            .push(pod("kube-system", "kube-apiserver-master", "master", None));
        s.pods
            .push(pod("default", "etcd-master", "master", Some("etcd")));
        s.pods
            .push(pod("kube-systen", "etcd-node1", "node1", Some("etcd")));
        s.sort();
        let found = ensembles(&s);
        assert_eq!(found.len(), 1, "{found:?}");
        let names: Vec<&str> = found[0].pods.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["etcd-master", "etcd-node1"]);
        assert!(matches!(found[0].owner, Owner::StaticPods { .. }));
    }
}
