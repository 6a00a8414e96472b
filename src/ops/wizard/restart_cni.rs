//! Restart the pod network agent (flannel, calico-node) on one node: `:restart-cni
//! [node]` on the Network pane. [`gather`] picks the add-on's DaemonSet and its pod on
//! the node from the console's snapshot; [`assess`] shows the agent's state and plans
//! the restart: delete the pod, then check the symptom is gone (the DaemonSet's new pod
//! there is Ready and stays Ready, the node's pods stuck on their sandbox get one); a
//! crash of the new agent stops the plan with its last log line and the likely cause.

use std::sync::Arc;
use std::time::Duration;

use super::error::WizardError;
use super::{Page, Tone, Wizard, WizardOption};
use crate::diagnose::network::config;
use crate::model::pod::Pod;
use crate::model::snapshot::Snapshot;
use crate::ops::op::{ObjectRef, Op, POD_NETWORK_TIMEOUT, WaitFor};
use crate::ops::plan::{Confirmation, Plan, Step};

/// How long a restarted agent may take to be Ready again.
pub(crate) const AGENT_READY_TIMEOUT: Duration = Duration::from_secs(180);

/// How long a restarted network agent must stay Ready before the fix counts: a
/// crash-looping agent is Ready briefly or never.
pub(crate) const AGENT_SETTLE: Duration = Duration::from_secs(5);

/// A pod of a DaemonSet on one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentPod {
    pub namespace: String,
    pub name: String,
    pub daemonset: String,
    pub node: String,
}

impl AgentPod {
    /// Delete the pod (its DaemonSet makes a new one): the first step of a restart.
    fn delete_step(&self) -> Step {
        Step::new(
            Op::DeletePod {
                namespace: self.namespace.clone(),
                name: self.name.clone(),
                grace: None,
            },
            true,
        )
    }

    /// Delete the pod, then wait for the DaemonSet's new pod on the node to be Ready.
    pub(crate) fn restart_steps(&self, plan: Plan) -> Plan {
        plan.step(self.delete_step()).then_wait(
            WaitFor::DaemonPodReady {
                namespace: self.namespace.clone(),
                daemonset: self.daemonset.clone(),
                node: self.node.clone(),
            },
            AGENT_READY_TIMEOUT,
        )
    }

    /// Restart a network agent (`agent`: flannel, calico) and check the symptom is
    /// gone: the new pod is Ready and stays Ready (its first crash stops the plan with
    /// the cause), then the node's pods stuck without a sandbox get one.
    pub(crate) fn restart_agent_steps(&self, agent: &str, plan: Plan) -> Plan {
        plan.step(self.delete_step())
            .then_wait(
                WaitFor::AgentSettled {
                    agent: agent.to_string(),
                    namespace: self.namespace.clone(),
                    daemonset: self.daemonset.clone(),
                    node: self.node.clone(),
                    settle: AGENT_SETTLE,
                    after_crashes: false,
                },
                AGENT_READY_TIMEOUT,
            )
            .then_wait(
                WaitFor::PodNetworkOnNode {
                    node: self.node.clone(),
                },
                POD_NETWORK_TIMEOUT,
            )
    }
}

/// What the restart needs to know, from the snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    /// The node asked for (else the console's own); `None` when neither is known.
    pub node: Option<String>,
    /// The pod network add-on's DaemonSet; `None` when there is no flannel or calico.
    pub cni: Option<Cni>,
}

/// The add-on's DaemonSet and its agent on the node.
#[derive(Debug, Clone, PartialEq)]
pub struct Cni {
    /// `flannel`, `calico`.
    pub kind: String,
    pub namespace: String,
    pub daemonset: String,
    /// The DaemonSet's pod on the node, if one runs there.
    pub agent: Option<Pod>,
}

/// Reads the add-on and its agent on `node` from the console's snapshot (already
/// live state, so nothing to await).
pub fn gather(s: &Snapshot, node: Option<&str>) -> Facts {
    let cfg = config::read(s);
    let cni = cfg.daemonset.map(|ds| Cni {
        kind: cfg.kind().name().to_string(),
        namespace: ds.metadata.namespace.clone().unwrap_or_default(),
        daemonset: ds.metadata.name.clone().unwrap_or_default(),
        agent: node.and_then(|n| cfg.agents.get(n)).map(|p| (*p).clone()),
    });
    Facts {
        node: node.map(str::to_string),
        cni,
    }
}

/// The restart wizard, or why there is nothing to restart.
pub fn assess(facts: &Facts) -> Result<Wizard, WizardError> {
    let node = facts
        .node
        .as_deref()
        .ok_or_else(|| WizardError::NeedsInput {
            what: "node".into(),
            usage: ":restart-cni <node>".into(),
            why: "this machine is not a known node".into(),
        })?;
    let cni = facts.cni.as_ref().ok_or_else(|| {
        WizardError::not_found_because("flannel or calico DaemonSet", "nothing to restart")
    })?;
    let Some(pod) = &cni.agent else {
        return Err(WizardError::not_found_because(
            format!("{}/{} pod runs on {node}", cni.namespace, cni.daemonset),
            "the DaemonSet creates one if the node is eligible",
        ));
    };
    let agent = AgentPod {
        namespace: pod.metadata.namespace.as_deref().unwrap_or_default().into(),
        name: pod.metadata.name.as_deref().unwrap_or_default().to_string(),
        daemonset: cni.daemonset.clone(),
        node: node.to_string(),
    };
    let mut w = Wizard::new(
        format!("Restart the {} agent on {node}", cni.kind),
        ObjectRef::pod(&agent.namespace, &agent.name),
    );
    let mut what = Page::new("The agent");
    what.plain(format!(
        "Pod {}/{} of DaemonSet {} on {node}",
        agent.namespace, agent.name, agent.daemonset
    ));
    for (tone, text) in agent_state(pod) {
        what.line(tone, text);
    }
    what.plain(
        "Deleting it makes the DaemonSet start a new one at once, without the crash back-off.",
    );
    what.warn(format!(
        "Until the new agent is Ready, new pods on {node} get no network; running pods keep theirs."
    ));
    what.plain(format!(
        "Then the new agent must stay Ready for {} and {node}'s pods waiting for a sandbox must get one; if the agent crashes again the plan stops with its last words.",
        crate::ops::op::human_duration(AGENT_SETTLE)
    ));
    w.pages.push(what);
    let kind = cni.kind.clone();
    w.set_plan(Arc::new(move |_: &[WizardOption]| {
        restart_agent(&agent, &kind)
    }));
    Ok(w)
}

/// Restart the network agent (`agent`: flannel, calico) on one node. The pod's name
/// must be typed: pod networking on that node pauses while the agent restarts.
pub(crate) fn restart_agent(pod: &AgentPod, agent: &str) -> Plan {
    pod.restart_agent_steps(
        agent,
        Plan::new(
            format!("Restart the network agent on {}", pod.node),
            ObjectRef::pod(&pod.namespace, &pod.name),
            Confirmation::TypedName(pod.name.clone()),
        ),
    )
}

/// Phase, readiness, restarts and the last termination of the agent pod, as wizard lines.
fn agent_state(pod: &Pod) -> Vec<(Tone, String)> {
    let Some(status) = &pod.status else {
        return vec![(Tone::Warn, "no status reported yet".into())];
    };
    let mut out = Vec::new();
    for cs in status.container_statuses.iter().flatten() {
        let tone = if cs.ready { Tone::Ok } else { Tone::Bad };
        let state = match &cs.state {
            Some(st) if st.running.is_some() => "running".to_string(),
            Some(st) => st
                .waiting
                .as_ref()
                .and_then(|w| w.reason.clone())
                .or_else(|| st.terminated.as_ref().and_then(|t| t.reason.clone()))
                .unwrap_or_else(|| "not running".into()),
            None => "unknown".into(),
        };
        out.push((
            tone,
            format!(
                "container {}: {state}, ready {}, {} restarts",
                cs.name, cs.ready, cs.restart_count
            ),
        ));
        if let Some(t) = cs.last_state.as_ref().and_then(|l| l.terminated.as_ref())
            && let Some(msg) = t.message.as_deref().filter(|m| !m.trim().is_empty())
        {
            let last = msg.lines().last().unwrap_or_default();
            out.push((Tone::Plain, format!("last exit ({}): {last}", t.exit_code)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flannel_pod() -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"namespace": "kube-flannel", "name": "kube-flannel-ds-zp9wd"},
            "spec": {"nodeName": "node2", "containers": [{"name": "kube-flannel"}]},
            "status": {
                "phase": "Running",
                "containerStatuses": [{
                    "name": "kube-flannel", "image": "flannel", "imageID": "", "ready": false,
                    "restartCount": 14,
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                    "lastState": {"terminated": {"exitCode": 1,
                        "message": "starting\nfailed to get the API server: i/o timeout"}}
                }]
            }
        }))
        .unwrap_or_else(|e| panic!("pod fixture: {e}"))
    }

    fn facts(node: Option<&str>, agent: Option<Pod>) -> Facts {
        Facts {
            node: node.map(str::to_string),
            cni: Some(Cni {
                kind: "flannel".into(),
                namespace: "kube-flannel".into(),
                daemonset: "kube-flannel-ds".into(),
                agent,
            }),
        }
    }

    #[test]
    fn the_agent_is_shown_and_its_restart_planned() {
        let w = assess(&facts(Some("node2"), Some(flannel_pod())))
            .unwrap_or_else(|e| panic!("no wizard: {e}"));
        assert_eq!(w.title, "Restart the flannel agent on node2");
        let text = w.render();
        for want in [
            "· Pod kube-flannel/kube-flannel-ds-zp9wd of DaemonSet kube-flannel-ds on node2",
            "✗ container kube-flannel: CrashLoopBackOff, ready false, 14 restarts",
            "· last exit (1): failed to get the API server: i/o timeout",
        ] {
            assert!(text.contains(&want.to_string()), "{want}\n{text:#?}");
        }
        let plan = w.plan().unwrap_or_else(|| panic!("blocked"));
        assert_eq!(plan.steps.len(), 3);
        assert!(plan.check_confirmation("kube-flannel-ds-zp9wd").is_ok());
        assert!(plan.check_confirmation("yes").is_err());
        assert_eq!(
            plan.steps[1].description,
            "Wait up to 3m for a new flannel pod of DaemonSet kube-flannel/kube-flannel-ds on node2 to be Running and Ready and stay Ready for 5s (a crash stops the wait)"
        );
        assert_eq!(
            plan.steps[2].description,
            "Wait up to 2m for the pods on node2 waiting for a pod sandbox to get one (a new sandbox failure stops the wait)"
        );
    }

    #[test]
    fn no_node_no_add_on_or_no_agent_is_an_error_that_says_so() {
        assert!(matches!(
            assess(&facts(None, Some(flannel_pod()))),
            Err(WizardError::NeedsInput { .. })
        ));
        let none = Facts {
            node: Some("node2".into()),
            cni: None,
        };
        assert_eq!(
            assess(&none).err().map(|e| e.to_string()).as_deref(),
            Some("no flannel or calico DaemonSet (nothing to restart)")
        );
        let e = assess(&facts(Some("node9"), None))
            .err()
            .map(|e| e.to_string());
        assert!(
            e.as_deref()
                .is_some_and(|e| e.starts_with("no kube-flannel/kube-flannel-ds pod runs on node9")),
            "{e:?}"
        );
    }
}
