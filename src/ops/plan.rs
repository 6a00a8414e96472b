//! Plans: what a mutation will do, shown to the operator before anything happens.
//!
//! A plan is plain data (no IO) so the UI can preview it, a dry-run can print it, the
//! executor can run it, and wizards (lock removal, member-aware scaling, kubeadm) can
//! build longer ones from the same steps. The safety rules live here as checks on the
//! data: a destructive step needs the object's name typed, a plan has steps.

use std::time::Duration;

use thiserror::Error;

use super::op::{HostAccess, ObjectRef, Op, ScaleKind, WaitFor};
use super::steps::debug_pod::DebugPodSpec;

/// How the operator confirms a plan before it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmation {
    /// Nothing to confirm (read-only steps such as waits).
    None,
    /// Answer "y" or "yes".
    YesNo,
    /// Type this name exactly: destructive steps ask for the object's name so a reflex
    /// "y" on the wrong row cannot delete anything.
    TypedName(String),
}

/// Why a confirmation was not accepted. The operator's input is deliberately not echoed:
/// it may be anything (a pasted secret included) and ends up in the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfirmationError {
    #[error("not confirmed (answer \"yes\" to proceed)")]
    NotConfirmed,
    #[error("the typed name does not match \"{expected}\"")]
    NameMismatch { expected: String },
}

impl Confirmation {
    /// Checks the operator's answer. A typed name must match exactly (no trimming, no case
    /// folding): Kubernetes names are case-sensitive and `web-1 ` is not `web-1`.
    pub fn check(&self, input: &str) -> Result<(), ConfirmationError> {
        match self {
            Confirmation::None => Ok(()),
            Confirmation::YesNo => {
                let answer = input.trim().to_ascii_lowercase();
                if answer == "y" || answer == "yes" {
                    Ok(())
                } else {
                    Err(ConfirmationError::NotConfirmed)
                }
            }
            Confirmation::TypedName(expected) => {
                if input == expected {
                    Ok(())
                } else {
                    Err(ConfirmationError::NameMismatch {
                        expected: expected.clone(),
                    })
                }
            }
        }
    }
}

/// One step of a plan: what it will do (shown before it runs) and the operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub description: String,
    /// Removes or disrupts something (pods, locks, members): the plan then needs the
    /// typed-name confirmation and the preview marks the step.
    pub destructive: bool,
    pub op: Op,
}

impl Step {
    /// A step described by its operation's own words.
    pub fn new(op: Op, destructive: bool) -> Self {
        Step {
            description: op.describe(),
            destructive,
            op,
        }
    }
}

/// A mutation as the operator sees it before confirming it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub title: String,
    pub target: ObjectRef,
    pub steps: Vec<Step>,
    pub confirmation: Confirmation,
}

impl Plan {
    /// An empty plan; wizards add steps with [`Plan::step`].
    pub fn new(title: impl Into<String>, target: ObjectRef, confirmation: Confirmation) -> Self {
        Plan {
            title: title.into(),
            target,
            steps: Vec::new(),
            confirmation,
        }
    }

    /// Appends a step (builder style).
    pub fn step(mut self, step: Step) -> Self {
        self.steps.push(step);
        self
    }

    /// Appends a wait that must hold before the plan counts as done.
    pub fn then_wait(self, what: WaitFor, timeout: Duration) -> Self {
        self.step(Step::new(Op::Wait { what, timeout }, false))
    }

    /// Cordon a node: reversible and leaves running pods alone, so a yes/no suffices.
    pub fn cordon(node: &str) -> Self {
        Plan::new(
            format!("Cordon node {node}"),
            ObjectRef::node(node),
            Confirmation::YesNo,
        )
        .step(Step::new(Op::Cordon { node: node.into() }, false))
    }

    pub fn uncordon(node: &str) -> Self {
        Plan::new(
            format!("Uncordon node {node}"),
            ObjectRef::node(node),
            Confirmation::YesNo,
        )
        .step(Step::new(Op::Uncordon { node: node.into() }, false))
    }

    /// Delete a pod: destructive, so the pod's name must be typed.
    pub fn delete_pod(namespace: &str, name: &str) -> Self {
        Plan::new(
            format!("Delete pod {namespace}/{name}"),
            ObjectRef::pod(namespace, name),
            Confirmation::TypedName(name.into()),
        )
        .step(Step::new(
            Op::DeletePod {
                namespace: namespace.into(),
                name: name.into(),
                grace: None,
            },
            true,
        ))
    }

    /// Scale a workload from the replica count the operator saw (`from`) to `to`.
    ///
    /// Scaling up (or to the same number) is confirmed with yes/no. Scaling down removes
    /// pods (for a StatefulSet the highest ordinals, which may be quorum members), so it is
    /// a destructive step and asks for the workload's name, as the safety rules require.
    pub fn scale(kind: ScaleKind, namespace: &str, name: &str, from: i32, to: i32) -> Self {
        let down = to < from;
        let confirmation = if down {
            Confirmation::TypedName(name.into())
        } else {
            Confirmation::YesNo
        };
        Plan::new(
            format!("Scale {kind} {namespace}/{name} from {from} to {to} replicas"),
            ObjectRef::new(kind.as_str(), Some(namespace), name),
            confirmation,
        )
        .step(Step::new(
            Op::Scale {
                kind,
                namespace: namespace.into(),
                name: name.into(),
                replicas: to,
                expect_current: Some(from),
            },
            down,
        ))
    }

    /// Release leaked host-local IP reservations of `network` on `node` (through
    /// `via`): destructive (a wrong deletion gives one address to two pods), so the
    /// network's name must be typed. It ends by checking the symptom is gone: the
    /// node's pods stuck without a sandbox get one (a new failure stops it with why).
    pub fn release_leaked(
        node: &str,
        via: HostAccess,
        network: &str,
        reservations: Vec<(String, String)>,
    ) -> Self {
        Plan::new(
            format!("Release leaked IP reservations of {network} on {node}"),
            ObjectRef::new("HostLocalNetwork", Some(node), network),
            Confirmation::TypedName(network.into()),
        )
        .step(Step::new(
            Op::ReleaseReservations {
                node: node.into(),
                via,
                network: network.into(),
                reservations,
            },
            true,
        ))
        .then_wait(
            WaitFor::PodNetworkOnNode { node: node.into() },
            super::op::POD_NETWORK_TIMEOUT,
        )
    }

    /// Read `node`'s host through a debug pod: it creates (and deletes) a pod, so it is
    /// confirmed and audited like any change, but nothing on the node is written.
    pub fn probe_host(node: &str, debug: DebugPodSpec) -> Self {
        Plan::new(
            format!("Read {node}'s host through a debug pod"),
            ObjectRef::node(node),
            Confirmation::YesNo,
        )
        .step(Step::new(
            Op::ProbeHost {
                node: node.into(),
                debug,
            },
            false,
        ))
    }

    /// The audit log's action: the distinct mutating verbs in step order (`scale`,
    /// `blocklist+break-lock+delete-pod`), `none` for a plan that only waits.
    pub fn action(&self) -> String {
        let mut verbs: Vec<&str> = Vec::new();
        for s in self.steps.iter().filter(|s| s.op.is_mutation()) {
            let verb = s.op.action();
            if !verbs.contains(&verb) {
                verbs.push(verb);
            }
        }
        if verbs.is_empty() {
            "none".to_string()
        } else {
            verbs.join("+")
        }
    }

    pub(crate) fn is_destructive(&self) -> bool {
        self.steps.iter().any(|s| s.destructive)
    }

    /// The invariants the executor enforces before it runs anything: a plan has steps,
    /// and a plan with a destructive step asks for a typed name (a builder bug must not
    /// turn a delete into a yes/no).
    pub fn validate(&self) -> Result<(), String> {
        if self.steps.is_empty() {
            return Err("the plan has no steps".to_string());
        }
        if self.is_destructive() {
            match &self.confirmation {
                Confirmation::TypedName(name) if !name.is_empty() => {}
                _ => {
                    return Err(
                        "a plan with destructive steps must be confirmed by a typed name"
                            .to_string(),
                    );
                }
            }
        }
        fenced_before_break(&self.steps)
    }

    /// Checks the operator's confirmation against the plan's.
    pub(crate) fn check_confirmation(&self, input: &str) -> Result<(), ConfirmationError> {
        self.confirmation.check(input)
    }

    /// The preview: title, target, numbered steps (destructive ones marked), and what the
    /// confirmation asks. The UI shows these lines; a dry-run prints them.
    pub fn render(&self) -> Vec<String> {
        let mut lines = vec![self.title.clone(), format!("Target: {}", self.target)];
        lines.push("Steps:".to_string());
        for (i, s) in self.steps.iter().enumerate() {
            let mark = if s.destructive { "[destructive] " } else { "" };
            lines.push(format!("  {}. {mark}{}", i + 1, s.description));
        }
        lines.push(match &self.confirmation {
            Confirmation::None => "Confirmation: none needed".to_string(),
            Confirmation::YesNo => "Confirmation: answer \"yes\"".to_string(),
            Confirmation::TypedName(name) => format!("Confirmation: type \"{name}\""),
        });
        lines
    }
}

/// "Never break without fencing", in one place: every `BreakLock` must come after a
/// `Fence` covering its lock holder and each live watcher from the holder's IP that the
/// plan saw; every release of a CSI volume from a dead node (the out-of-service taint,
/// deleting its VolumeAttachment) after a `Fence` of each of the node's watchers. A fence of a whole host (nonce 0) does not count: plans fence clients.
fn fenced_before_break(steps: &[Step]) -> Result<(), String> {
    use crate::ceph::holders::EntityAddr;
    let mut fenced: Vec<EntityAddr> = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        match &step.op {
            Op::Fence { addr, .. } => {
                if let Some(a) = EntityAddr::parse(addr).filter(|a| a.nonce != 0) {
                    fenced.push(a);
                }
            }
            Op::BreakLock {
                cookie,
                address,
                watchers,
                ..
            } => {
                let covered = |addr: &str| {
                    EntityAddr::parse(addr).is_some_and(|a| fenced.iter().any(|f| f.covers(&a)))
                };
                let mut missing: Vec<String> = Vec::new();
                if !covered(address) {
                    missing.push(format!("its holder {address}"));
                }
                for w in watchers.iter().filter(|w| !covered(w)) {
                    missing.push(format!("the live watcher {w}"));
                }
                if !missing.is_empty() {
                    return Err(format!(
                        "step {} breaks the lock {cookie} without first fencing {} (never break without fencing)",
                        i + 1,
                        missing.join(" and ")
                    ));
                }
            }
            Op::TaintOutOfService { node, watchers, .. }
            | Op::DeleteAttachment { node, watchers, .. } => {
                let missing: Vec<&str> = watchers
                    .iter()
                    .filter(|w| {
                        !EntityAddr::parse(w).is_some_and(|a| fenced.iter().any(|f| f.covers(&a)))
                    })
                    .map(String::as_str)
                    .collect();
                if !missing.is_empty() {
                    return Err(format!(
                        "step {} releases the volume from {node} without first fencing its watcher {} (never cut loose without fencing)",
                        i + 1,
                        missing.join(" and ")
                    ));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cordon_plan_renders() {
        assert_eq!(
            Plan::cordon("node2").render(),
            [
                "Cordon node node2",
                "Target: Node node2",
                "Steps:",
                "  1. Cordon node node2: mark it unschedulable (pods already running there stay)",
                "Confirmation: answer \"yes\"",
            ]
        );
        assert_eq!(Plan::cordon("node2").action(), "cordon");
        assert_eq!(Plan::uncordon("node2").action(), "uncordon");
        assert_eq!(
            Plan::uncordon("node2").render()[3],
            "  1. Uncordon node node2: allow new pods to be scheduled on it again"
        );
    }

    #[test]
    fn delete_plan_renders_destructive_with_typed_name() {
        let plan = Plan::delete_pod("demo", "web-0");
        assert_eq!(
            plan.render(),
            [
                "Delete pod demo/web-0",
                "Target: Pod demo/web-0",
                "Steps:",
                "  1. [destructive] Delete pod demo/web-0 (the pod's own grace period); a controller that owns it creates a replacement",
                "Confirmation: type \"web-0\"",
            ]
        );
        assert_eq!(
            plan.confirmation,
            Confirmation::TypedName("web-0".to_string())
        );
        assert_eq!(plan.action(), "delete-pod");
        assert!(plan.validate().is_ok());
    }

    #[test]
    fn scale_up_is_yes_no_and_scale_down_is_typed() {
        let up = Plan::scale(ScaleKind::StatefulSet, "db", "zk", 1, 3);
        assert_eq!(
            up.render(),
            [
                "Scale StatefulSet db/zk from 1 to 3 replicas",
                "Target: StatefulSet db/zk",
                "Steps:",
                "  1. Scale StatefulSet db/zk from 1 to 3 replicas (scale subresource)",
                "Confirmation: answer \"yes\"",
            ]
        );
        assert_eq!(up.confirmation, Confirmation::YesNo);
        assert!(!up.is_destructive());

        let down = Plan::scale(ScaleKind::Deployment, "web", "front", 3, 0);
        assert!(down.is_destructive());
        assert_eq!(down.confirmation, Confirmation::TypedName("front".into()));
        assert_eq!(
            down.render()[3],
            "  1. [destructive] Scale Deployment web/front from 3 to 0 replicas (scale subresource)"
        );
        assert_eq!(down.action(), "scale");
    }

    #[test]
    fn waits_render_with_their_timeout() {
        let plan = Plan::scale(ScaleKind::StatefulSet, "db", "zk", 1, 3).then_wait(
            WaitFor::ReplicasReady {
                kind: ScaleKind::StatefulSet,
                namespace: "db".into(),
                name: "zk".into(),
                replicas: 3,
            },
            Duration::from_secs(120),
        );
        assert_eq!(
            plan.render()[4],
            "  2. Wait up to 2m for StatefulSet db/zk to have 3/3 ready replicas"
        );
        assert_eq!(plan.action(), "scale", "waits are not audited actions");
    }

    #[test]
    fn typed_name_must_match_exactly() {
        let plan = Plan::delete_pod("demo", "web-0");
        assert_eq!(plan.check_confirmation("web-0"), Ok(()));
        for wrong in ["web-1", "web-0 ", " web-0", "WEB-0", "", "yes", "web-"] {
            assert_eq!(
                plan.check_confirmation(wrong),
                Err(ConfirmationError::NameMismatch {
                    expected: "web-0".into()
                }),
                "{wrong:?} must not confirm"
            );
        }
        assert_eq!(
            ConfirmationError::NameMismatch {
                expected: "web-0".into()
            }
            .to_string(),
            "the typed name does not match \"web-0\""
        );
    }

    #[test]
    fn yes_no_accepts_yes_only() {
        let plan = Plan::cordon("node1");
        for ok in ["y", "yes", "YES", " Yes\n"] {
            assert_eq!(plan.check_confirmation(ok), Ok(()), "{ok:?}");
        }
        for no in ["", "n", "no", "node1", "yess"] {
            assert_eq!(
                plan.check_confirmation(no),
                Err(ConfirmationError::NotConfirmed),
                "{no:?}"
            );
        }
        assert_eq!(Confirmation::None.check("anything"), Ok(()));
    }

    #[test]
    fn destructive_plans_need_a_typed_name() {
        let mut plan = Plan::delete_pod("demo", "web-0");
        plan.confirmation = Confirmation::YesNo;
        assert_eq!(
            plan.validate(),
            Err("a plan with destructive steps must be confirmed by a typed name".into())
        );
        plan.confirmation = Confirmation::TypedName(String::new());
        assert!(plan.validate().is_err(), "an empty name confirms nothing");
        let empty = Plan::new("Nothing", ObjectRef::node("n"), Confirmation::None);
        assert_eq!(empty.validate(), Err("the plan has no steps".into()));
        assert_eq!(empty.action(), "none");
    }

    #[test]
    fn multi_step_plans_join_their_actions() {
        let plan = Plan::new(
            "Drain-ish",
            ObjectRef::node("node1"),
            Confirmation::TypedName("web-0".into()),
        )
        .step(Step::new(
            Op::Cordon {
                node: "node1".into(),
            },
            false,
        ))
        .step(Step::new(
            Op::DeletePod {
                namespace: "demo".into(),
                name: "web-0".into(),
                grace: Some(0),
            },
            true,
        ))
        .then_wait(
            WaitFor::PodGone {
                namespace: "demo".into(),
                name: "web-0".into(),
            },
            Duration::from_secs(30),
        )
        .step(Step::new(
            Op::DeletePod {
                namespace: "demo".into(),
                name: "web-1".into(),
                grace: None,
            },
            true,
        ));
        assert_eq!(plan.action(), "cordon+delete-pod");
        assert_eq!(
            plan.render()[3..7],
            [
                "  1. Cordon node node1: mark it unschedulable (pods already running there stay)",
                "  2. [destructive] Delete pod demo/web-0 (grace period 0s); a controller that owns it creates a replacement",
                "  3. Wait up to 30s for pod demo/web-0 to be gone",
                "  4. [destructive] Delete pod demo/web-1 (the pod's own grace period); a controller that owns it creates a replacement",
            ]
        );
    }

    #[test]
    fn release_leaked_is_destructive_and_lists_the_files() {
        let leaked: Vec<(String, String)> = (4..14)
            .map(|i| (format!("10.244.1.{i}"), format!("{i:064x}")))
            .collect();
        let via = HostAccess::Local {
            host_root: "/".into(),
            sandboxes_command: None,
        };
        let plan = Plan::release_leaked("node1", via, "cbr0", leaked);
        assert!(plan.validate().is_ok());
        assert!(plan.is_destructive());
        assert_eq!(plan.action(), "release-ip-reservations");
        assert_eq!(plan.target.to_string(), "HostLocalNetwork node1/cbr0");
        assert!(plan.check_confirmation("cbr0").is_ok());
        assert!(plan.check_confirmation("yes").is_err());
        assert_eq!(
            plan.render(),
            [
                "Release leaked IP reservations of cbr0 on node1",
                "Target: HostLocalNetwork node1/cbr0",
                "Steps:",
                "  1. [destructive] Release 10 leaked host-local reservations of network cbr0 on node1 (/var/lib/cni/networks/cbr0): 10.244.1.4, 10.244.1.5, 10.244.1.6, 10.244.1.7, 10.244.1.8, 10.244.1.9, 10.244.1.10, 10.244.1.11 and 2 more; each only if its sandbox is still gone when checked again under the directory's lock",
                "  2. Wait up to 2m for the pods on node1 waiting for a pod sandbox to get one (a new sandbox failure stops the wait)",
                "Confirmation: type \"cbr0\"",
            ]
        );
    }
}
