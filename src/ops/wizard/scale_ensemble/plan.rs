//! The scaling plans, one member at a time, and the quorum guard run on each before
//! it is offered: up (add as learner, or as voter on etcd before 3.4; scale +1; wait
//! for the pod; promote; verify), down (snapshot; highest ordinal first: hand the
//! leadership over if it leads, remove the member, scale -1, wait for the pod to go,
//! optionally delete its claim) and the orphan (remove the registered member that has
//! no pod, optionally delete its leftover claim).

use std::path::PathBuf;
use std::time::Duration;

use super::{Facts, Orphan};
use crate::members::{Change, Quorum};
use crate::ops::ensemble::{Counted, MemberChange, MemberOp, PeerUrl, check_sequence};
use crate::ops::op::{ObjectRef, Op, ScaleKind, WaitFor};
use crate::ops::plan::{Confirmation, Plan, Step};

/// How long a new member's pod may take to be Ready.
pub(crate) const POD_READY_TIMEOUT: Duration = Duration::from_secs(180);
/// How long a learner may take to catch up before its promotion gives up.
pub(crate) const PROMOTE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a removed member's pod may take to be gone.
pub(crate) const POD_GONE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the ensemble may take to be all healthy after a change.
pub(crate) const VERIFY_TIMEOUT: Duration = Duration::from_secs(60);

/// What the operator chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choices {
    /// `etcdctl snapshot save` before any removal.
    pub snapshot: bool,
    /// Delete the claims of removed members (their RBD images go with them).
    pub delete_claims: bool,
}

impl Facts {
    pub(super) fn member_op(&self, change: MemberChange) -> Step {
        let destructive = matches!(
            change,
            MemberChange::Remove { .. } | MemberChange::AddVoter { .. }
        );
        Step::new(
            Op::Member(MemberOp {
                ensemble: self.ensemble_ref(),
                change,
            }),
            destructive,
        )
    }

    pub(super) fn scale(&self, from: i32, to: i32) -> Step {
        Step::new(
            Op::Scale {
                kind: ScaleKind::StatefulSet,
                namespace: self.namespace.clone(),
                name: self.statefulset.clone(),
                replicas: to,
                expect_current: Some(from),
            },
            to < from,
        )
    }

    pub(super) fn wait(&self, what: WaitFor, timeout: Duration) -> Step {
        Step::new(Op::Wait { what, timeout }, false)
    }

    pub(super) fn delete_claim(&self, claim: &str) -> Step {
        Step::new(
            Op::DeleteClaim {
                namespace: self.namespace.clone(),
                name: claim.to_string(),
            },
            true,
        )
    }

    pub(super) fn pod_name(&self, ordinal: i32) -> String {
        format!("{}-{ordinal}", self.statefulset)
    }

    /// Where the new member `name`'s peers will reach it.
    fn peer_for(&self, name: &str) -> PeerUrl {
        match &self.peer_host_pattern {
            Some((scheme, rest)) => PeerUrl::Fixed(format!("{scheme}://{name}{rest}")),
            None => PeerUrl::OfPod {
                pod: name.to_string(),
                scheme: self.peer_scheme.clone(),
                port: self.peer_port,
            },
        }
    }

    pub(crate) fn snapshot_path(&self) -> PathBuf {
        self.snapshot_dir.join(format!(
            "{}-{}-{}.db",
            self.namespace,
            self.statefulset,
            self.now.strftime("%Y%m%dT%H%M%SZ")
        ))
    }

    pub(super) fn plan_shell(&self, title: String) -> Plan {
        Plan::new(
            title,
            ObjectRef::new(
                "StatefulSet",
                Some(&self.namespace),
                self.statefulset.as_str(),
            ),
            Confirmation::TypedName(self.statefulset.clone()),
        )
    }

    /// Scale up from `replicas` to `target`, one member at a time.
    pub(crate) fn plan_up(&self) -> Plan {
        let mut plan = self.plan_shell(format!(
            "Scale the {} ensemble {}/{} from {} to {} members",
            self.kind.as_str(),
            self.namespace,
            self.statefulset,
            self.replicas,
            self.target
        ));
        let voters_now = self.members.iter().filter(|m| !m.learner).count();
        for (ordinal, voters) in (self.replicas..self.target).zip(voters_now + 1..) {
            let name = self.pod_name(ordinal);
            let peer = self.peer_for(&name);
            let add = if self.learners_supported() {
                MemberChange::AddLearner {
                    name: name.clone(),
                    peer: peer.clone(),
                }
            } else {
                MemberChange::AddVoter {
                    name: name.clone(),
                    peer: peer.clone(),
                }
            };
            // A peer URL known in advance is registered before the pod starts (etcd
            // then joins at once); one that is the pod's IP needs the pod first (it
            // retries its join until the add).
            if matches!(peer, PeerUrl::Fixed(_)) {
                plan = plan
                    .step(self.member_op(add))
                    .step(self.scale(ordinal, ordinal + 1));
            } else {
                plan = plan
                    .step(self.scale(ordinal, ordinal + 1))
                    .step(self.member_op(add));
            }
            plan = plan.step(self.wait(
                WaitFor::PodReady {
                    namespace: self.namespace.clone(),
                    name: name.clone(),
                },
                POD_READY_TIMEOUT,
            ));
            if self.learners_supported() {
                plan = plan.step(self.member_op(MemberChange::Promote {
                    name: name.clone(),
                    timeout: PROMOTE_TIMEOUT,
                }));
            }
            plan = plan.step(self.member_op(MemberChange::Verify {
                voters,
                timeout: VERIFY_TIMEOUT,
            }));
        }
        plan
    }

    /// Scale down from `replicas` to `target`, highest ordinal first.
    pub(crate) fn plan_down(&self, choices: Choices) -> Plan {
        let mut plan = self.plan_shell(format!(
            "Scale the {} ensemble {}/{} from {} to {} members",
            self.kind.as_str(),
            self.namespace,
            self.statefulset,
            self.replicas,
            self.target
        ));
        if choices.snapshot {
            plan = plan.step(self.member_op(MemberChange::Snapshot {
                path: self.snapshot_path(),
            }));
        }
        let mut voters = self.members.iter().filter(|m| !m.learner).count();
        for ordinal in (self.target..self.replicas).rev() {
            let name = self.pod_name(ordinal);
            let Some(member) = self.members.iter().find(|m| m.name == name) else {
                // No member for this pod (it never joined): only the pod goes.
                plan = plan.step(self.scale(ordinal + 1, ordinal));
                continue;
            };
            plan = plan
                .step(self.member_op(MemberChange::MoveLeaderAway {
                    name: name.clone(),
                    avoid: (self.target..ordinal).map(|o| self.pod_name(o)).collect(),
                }))
                .step(self.member_op(MemberChange::Remove {
                    name: name.clone(),
                    id: member.id,
                }))
                .step(self.scale(ordinal + 1, ordinal))
                .step(self.wait(
                    WaitFor::PodGone {
                        namespace: self.namespace.clone(),
                        name: name.clone(),
                    },
                    POD_GONE_TIMEOUT,
                ));
            voters -= 1;
            if choices.delete_claims {
                for claim in self.claims_of(ordinal) {
                    plan = plan.step(self.delete_claim(&claim));
                }
            }
        }
        plan.step(self.member_op(MemberChange::Verify {
            voters,
            timeout: VERIFY_TIMEOUT,
        }))
    }

    /// Remove the registered members that have no pod, then (if chosen) their claims.
    pub(crate) fn plan_orphans(&self, orphans: &[Orphan], choices: Choices) -> Plan {
        let names: Vec<&str> = orphans.iter().map(|o| o.name.as_str()).collect();
        let mut plan = self.plan_shell(format!(
            "Remove the member{} {} left registered without a pod from the {} ensemble {}/{}",
            if orphans.len() == 1 { "" } else { "s" },
            names.join(", "),
            self.kind.as_str(),
            self.namespace,
            self.statefulset
        ));
        if choices.snapshot {
            plan = plan.step(self.member_op(MemberChange::Snapshot {
                path: self.snapshot_path(),
            }));
        }
        for o in orphans {
            plan = plan.step(self.member_op(MemberChange::Remove {
                name: o.name.clone(),
                id: o.id,
            }));
        }
        let voters = self
            .members
            .iter()
            .filter(|m| !m.learner && !orphans.iter().any(|o| o.id == m.id))
            .count();
        plan = plan.step(self.member_op(MemberChange::Verify {
            voters,
            timeout: VERIFY_TIMEOUT,
        }));
        if choices.delete_claims {
            for o in orphans {
                for claim in &o.claims {
                    plan = plan.step(self.delete_claim(claim));
                }
            }
        }
        plan
    }

    /// The members as the guard counts them now.
    pub(crate) fn counted(&self) -> Vec<Counted> {
        self.members
            .iter()
            .map(|m| Counted {
                name: m.label(),
                learner: m.learner,
                healthy: m.health.is_healthy(),
            })
            .collect()
    }
}

/// The member changes of `plan`, in order.
pub(crate) fn member_changes(plan: &Plan) -> Vec<&MemberChange> {
    plan.steps
        .iter()
        .filter_map(|s| match &s.op {
            Op::Member(m) => Some(&m.change),
            _ => None,
        })
        .collect()
}

/// The rule on a whole plan: no step leaves fewer healthy voters than a quorum (the
/// executor checks again at each step with the live member list).
pub fn guard(facts: &Facts, plan: &Plan) -> Result<(), String> {
    check_sequence(&facts.counted(), &member_changes(plan)).map_err(|(i, e)| {
        let step = plan
            .steps
            .iter()
            .filter(|s| matches!(s.op, Op::Member(_)))
            .nth(i - 1)
            .map(|s| s.description.clone())
            .unwrap_or_default();
        format!("the plan was refused before running: {e} at \"{step}\"")
    })
}

/// The quorum arithmetic of every intermediate step of `plan`, from the members of
/// `facts` (a removed learner changes no arithmetic).
pub fn arithmetic(facts: &Facts, plan: &Plan) -> Vec<Quorum> {
    let learner = |id: u64| facts.members.iter().any(|m| m.id == id && m.learner);
    let changes: Vec<Change> = member_changes(plan)
        .into_iter()
        .filter_map(|c| match c {
            MemberChange::AddLearner { .. } => Some(Change::AddLearner),
            MemberChange::AddVoter { .. } => Some(Change::AddVoter),
            MemberChange::Promote { .. } => Some(Change::Promote),
            MemberChange::Remove { id, .. } if learner(*id) => Some(Change::RemoveLearner),
            MemberChange::Remove { .. } => Some(Change::RemoveVoter),
            _ => None,
        })
        .collect();
    crate::members::quorum::steps(facts.quorum(), &changes)
}
