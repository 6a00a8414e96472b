//! Member operations on an ensemble (etcd now; ZooKeeper plugs in its own steps for the
//! same [`MemberChange`]s), and the quorum guard every plan that changes membership is
//! checked against: before it runs (on the members the wizard saw) and again at each
//! step (on the live member list), so no step can leave fewer healthy voters than a
//! quorum.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::members::{EnsembleKind, Quorum, Tls};
use crate::ops::op::human_duration;

/// Which ensemble a member step talks to and how its members are reached (by pod IP
/// at `client_port`, as the member poll does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnsembleRef {
    pub kind: EnsembleKind,
    pub namespace: String,
    /// The StatefulSet; for kubeadm's stacked etcd (`static_pods`), its name `etcd`.
    pub statefulset: String,
    pub client_port: u16,
    pub tls: Tls,
    /// kubeadm's stacked etcd: static pods `etcd-<node>` labelled `component=etcd` in
    /// `namespace`, one member per control-plane node, named after its node.
    pub static_pods: bool,
    /// The console host's root, under which `tls`'s certificates are read (as the
    /// member poll reads them: `--host-root`).
    pub host_root: PathBuf,
}

impl EnsembleRef {
    /// kubeadm's stacked etcd (`kube-system/etcd-<node>`), reached as the poll reaches it.
    pub fn kubeadm_etcd(client_port: u16, tls: Tls, host_root: PathBuf) -> Self {
        EnsembleRef {
            kind: EnsembleKind::Etcd,
            namespace: "kube-system".into(),
            statefulset: "etcd".into(),
            client_port,
            tls,
            static_pods: true,
            host_root,
        }
    }

    /// How the member poll's sources connect, for this ensemble's steps.
    pub(crate) fn poll_settings(&self) -> crate::members::source::PollSettings {
        crate::members::source::PollSettings {
            host_root: self.host_root.clone(),
            ..Default::default()
        }
    }

    /// `etcd ensemble default/etcd`, `stacked etcd of kubeadm (static pods in kube-system)`.
    pub fn label(&self) -> String {
        if self.static_pods {
            format!(
                "stacked {} of kubeadm (static pods in {})",
                self.kind.as_str(),
                self.namespace
            )
        } else {
            format!(
                "{} ensemble {}/{}",
                self.kind.as_str(),
                self.namespace,
                self.statefulset
            )
        }
    }
}

/// Where a new member's peers reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerUrl {
    /// Known before the pod exists (a stable DNS name through the headless service).
    Fixed(String),
    /// The pod's IP once it has one (`scheme://ip:port`): the step waits for it.
    OfPod {
        pod: String,
        scheme: String,
        port: u16,
    },
}

impl fmt::Display for PeerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerUrl::Fixed(u) => f.write_str(u),
            PeerUrl::OfPod { pod, scheme, port } => {
                write!(f, "{scheme}://<IP of pod {pod}>:{port}")
            }
        }
    }
}

/// One change (or check) of an ensemble's membership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberChange {
    /// Register `name` as a learner (no vote until promoted).
    AddLearner { name: String, peer: PeerUrl },
    /// Register `name` as a voter at once (etcd before 3.4, ZooKeeper).
    AddVoter { name: String, peer: PeerUrl },
    /// Promote the learner `name`, retrying while it catches up, for up to `timeout`.
    Promote { name: String, timeout: Duration },
    /// Remove the member `name` (`id` as it was listed; the live list is asked again).
    Remove { name: String, id: u64 },
    /// Hand leadership to another healthy voter if `name` leads, one not in `avoid`
    /// (the members going next) when there is one.
    MoveLeaderAway { name: String, avoid: Vec<String> },
    /// Save a snapshot of the keyspace to `path` on the console's host.
    Snapshot { path: PathBuf },
    /// Wait until `voters` voters, no learner, every member healthy (no change).
    Verify { voters: usize, timeout: Duration },
    /// Restart one server of the first `voters` ordinals still on the StatefulSet's
    /// old revision (a follower before
    /// the leader: the servers already on the new list then have a quorum to elect
    /// from), wait for it to come back on the new one and for `voters` voters to
    /// serve (a static ZooKeeper list reaching every server).
    RestartNext { voters: usize, timeout: Duration },
}

/// A member step: the ensemble and the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberOp {
    pub ensemble: EnsembleRef,
    pub change: MemberChange,
}

impl MemberOp {
    pub fn action(&self) -> &'static str {
        match self.change {
            MemberChange::AddLearner { .. } => "member-add-learner",
            MemberChange::AddVoter { .. } => "member-add",
            MemberChange::Promote { .. } => "member-promote",
            MemberChange::Remove { .. } => "member-remove",
            MemberChange::MoveLeaderAway { .. } => "move-leader",
            MemberChange::Snapshot { .. } => "snapshot-save",
            MemberChange::Verify { .. } => "member-verify",
            MemberChange::RestartNext { .. } => "restart-member",
        }
    }

    /// Checks and snapshots change no membership.
    pub(crate) fn is_mutation(&self) -> bool {
        !matches!(self.change, MemberChange::Verify { .. })
    }

    /// The member it acts on (`etcd-3`), or the StatefulSet for whole-ensemble steps.
    pub fn object_name(&self) -> String {
        match &self.change {
            MemberChange::AddLearner { name, .. }
            | MemberChange::AddVoter { name, .. }
            | MemberChange::Promote { name, .. }
            | MemberChange::Remove { name, .. }
            | MemberChange::MoveLeaderAway { name, .. } => name.clone(),
            MemberChange::Snapshot { .. }
            | MemberChange::Verify { .. }
            | MemberChange::RestartNext { .. } => self.ensemble.statefulset.clone(),
        }
    }

    pub fn describe(&self) -> String {
        let e = &self.ensemble;
        let kind = e.kind.as_str();
        let of = e.label();
        match &self.change {
            MemberChange::AddLearner { name, peer } => format!(
                "Add member {name} to the {of} as a learner (peer URL {peer}; it gets no vote until promoted)"
            ),
            MemberChange::AddVoter { name, peer } => format!(
                "Add member {name} to the {of} as a voter (peer URL {peer}; quorum grows at once)"
            ),
            MemberChange::Promote { name, timeout } => format!(
                "Promote learner {name} to a voter once it has caught up with the leader (retried for up to {})",
                human_duration(*timeout)
            ),
            MemberChange::Remove { name, id } => format!(
                "Remove member {name} ({id:x}) from the {of} (refused if fewer healthy voters than a quorum would remain)"
            ),
            MemberChange::MoveLeaderAway { name, avoid } => format!(
                "Move the {kind} leadership away from {name} if it leads (to another healthy voter{})",
                if avoid.is_empty() {
                    String::new()
                } else {
                    format!(", not {}", avoid.join(", "))
                }
            ),
            MemberChange::Snapshot { path } => format!(
                "Save a snapshot of the {of} to {} (etcdctl snapshot save)",
                path.display()
            ),
            MemberChange::Verify { voters, timeout } => format!(
                "Wait up to {} for the {of} to have {voters} healthy voters and no learner",
                human_duration(*timeout)
            ),
            MemberChange::RestartNext { voters, timeout } => format!(
                "Restart the next server of the {of} still on the old template (followers before the leader), then wait up to {} for it to be back and {voters} voters to serve",
                human_duration(*timeout)
            ),
        }
    }
}

/// A member as the guard counts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counted {
    pub name: String,
    pub learner: bool,
    pub healthy: bool,
}

/// The polled members as the guard counts them (a member added but not started yet
/// has no name: it is named by its id, as the wizard names it).
pub fn counted(members: &[crate::model::members::PolledMember]) -> Vec<Counted> {
    members
        .iter()
        .map(|m| Counted {
            name: if m.name.is_empty() {
                format!("(unstarted {:x})", m.id)
            } else {
                m.name.clone()
            },
            learner: m.learner || m.status.as_ref().is_some_and(|s| s.learner),
            healthy: m.health.is_healthy(),
        })
        .collect()
}

/// Why a membership sequence was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct QuorumRefused(pub String);

fn shape(members: &[Counted]) -> (Quorum, usize) {
    let learners = members.iter().filter(|m| m.learner).count();
    let healthy = members.iter().filter(|m| !m.learner && m.healthy).count();
    (Quorum::new(members.len() - learners, learners), healthy)
}

/// Applies one change to `members` (the guard's model: a new member is not healthy
/// until a later step proves it; a promoted learner keeps its health).
pub fn apply(members: &mut Vec<Counted>, change: &MemberChange) {
    match change {
        MemberChange::AddLearner { name, .. } | MemberChange::AddVoter { name, .. } => members
            .push(Counted {
                name: name.clone(),
                learner: matches!(change, MemberChange::AddLearner { .. }),
                healthy: false,
            }),
        MemberChange::Promote { name, .. } => {
            // A learner is promoted only once in sync: it is up and following.
            if let Some(m) = members.iter_mut().find(|m| &m.name == name) {
                m.learner = false;
                m.healthy = true;
            }
        }
        MemberChange::Remove { name, .. } => members.retain(|m| &m.name != name),
        MemberChange::Verify { .. } => {
            for m in members.iter_mut() {
                m.healthy = true;
            }
        }
        MemberChange::MoveLeaderAway { .. }
        | MemberChange::Snapshot { .. }
        | MemberChange::RestartNext { .. } => {}
    }
}

/// The rule: after `change`, the healthy voters still make a quorum (a change on an
/// ensemble that has none now is refused too: nothing could commit it).
pub fn check_step(members: &[Counted], change: &MemberChange) -> Result<(), QuorumRefused> {
    if matches!(
        change,
        MemberChange::Snapshot { .. } | MemberChange::Verify { .. }
    ) {
        return Ok(());
    }
    let (now, healthy_now) = shape(members);
    if !now.has_quorum(healthy_now) {
        return Err(QuorumRefused(format!(
            "the ensemble has no quorum now ({healthy_now} healthy of {} voters, {} needed): no membership change can be committed",
            now.voters,
            now.quorum()
        )));
    }
    let mut after = members.to_vec();
    apply(&mut after, change);
    let (q, mut healthy) = shape(&after);
    // A restart takes one voter away while it lasts.
    if matches!(change, MemberChange::RestartNext { .. }) {
        healthy = healthy.saturating_sub(1);
    }
    if q.has_quorum(healthy) {
        Ok(())
    } else {
        Err(QuorumRefused(format!(
            "it would leave {healthy} healthy of {} voters, fewer than the quorum of {}",
            q.voters,
            q.quorum()
        )))
    }
}

/// Every change of a sequence checked in order from `start`; the first refusal names
/// its step (1-based, counting only the member changes).
pub fn check_sequence(
    start: &[Counted],
    changes: &[&MemberChange],
) -> Result<(), (usize, QuorumRefused)> {
    let mut members = start.to_vec();
    for (i, c) in changes.iter().enumerate() {
        check_step(&members, c).map_err(|e| (i + 1, e))?;
        apply(&mut members, c);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(voters: usize, healthy: usize, learners: usize) -> Vec<Counted> {
        let mut out: Vec<Counted> = (0..voters)
            .map(|i| Counted {
                name: format!("etcd-{i}"),
                learner: false,
                healthy: i < healthy,
            })
            .collect();
        out.extend((0..learners).map(|i| Counted {
            name: format!("learner-{i}"),
            learner: true,
            healthy: true,
        }));
        out
    }

    fn remove(name: &str) -> MemberChange {
        MemberChange::Remove {
            name: name.into(),
            id: 1,
        }
    }

    /// For 1..7 voters, with and without learners, removing one healthy voter is
    /// allowed exactly when the rest still make a quorum; learners never help.
    #[test]
    fn quorum_guard_one_to_seven_members_with_learners() {
        for voters in 1..=7usize {
            for learners in 0..=2 {
                for healthy in 0..=voters {
                    let m = members(voters, healthy, learners);
                    let q_now = Quorum::new(voters, learners).quorum();
                    // Remove the last healthy voter (etcd-0 is healthy when healthy > 0).
                    if healthy > 0 {
                        let after = Quorum::new(voters - 1, learners);
                        let want = healthy >= q_now && after.has_quorum(healthy - 1);
                        assert_eq!(
                            check_step(&m, &remove("etcd-0")).is_ok(),
                            want,
                            "{voters} voters, {healthy} healthy, {learners} learners: remove a healthy one"
                        );
                    }
                    // Remove an unhealthy voter: fine whenever there is a quorum now.
                    if healthy < voters {
                        let last = format!("etcd-{}", voters - 1);
                        let after = Quorum::new(voters - 1, learners);
                        let want = healthy >= q_now && after.has_quorum(healthy);
                        assert_eq!(
                            check_step(&m, &remove(&last)).is_ok(),
                            want,
                            "{voters} voters, {healthy} healthy, {learners} learners: remove an unhealthy one"
                        );
                    }
                    // Adding a learner never changes the arithmetic.
                    let add = MemberChange::AddLearner {
                        name: "new".into(),
                        peer: PeerUrl::Fixed("http://new:2380".into()),
                    };
                    assert_eq!(check_step(&m, &add).is_ok(), healthy >= q_now);
                    // Adding a voter that is not up yet needs quorum of voters + 1.
                    let vote = MemberChange::AddVoter {
                        name: "new".into(),
                        peer: PeerUrl::Fixed("http://new:2380".into()),
                    };
                    let grown = Quorum::new(voters + 1, learners);
                    assert_eq!(
                        check_step(&m, &vote).is_ok(),
                        healthy >= q_now && grown.has_quorum(healthy),
                        "{voters} voters, {healthy} healthy: voting add"
                    );
                }
            }
        }
    }

    #[test]
    fn a_sequence_names_its_first_refused_step() {
        // 3 voters, etcd-2 down: removing etcd-2 then etcd-1 goes 3 -> 2 (2 healthy,
        // fine) -> 1 (1 healthy, fine); removing etcd-1 first leaves 1 healthy of 2.
        let m = members(3, 2, 0);
        let (r2, r1) = (remove("etcd-2"), remove("etcd-1"));
        assert!(check_sequence(&m, &[&r2, &r1]).is_ok());
        let err = check_sequence(&m, &[&r1]).unwrap_err();
        assert_eq!(err.0, 1);
        assert!(err.1.0.contains("1 healthy of 2 voters"), "{}", err.1);
    }
}
