//! The Network pane's guided fixes as wizards, assessed from the view's snapshot:
//! `:restart-cni [node]` and `:set-cluster-cidr [cidr]`. Each returns the wizard (what
//! is wrong, the change, the plan or what blocks it) or why there is nothing to
//! assess, in words for the status line. The executor re-checks the live state.

use std::sync::Arc;

use crate::model::pod::Pod;

use crate::diagnose::network::config;
use crate::model::snapshot::Snapshot;
use crate::ops::network::{AgentPod, restart_agent, set_kube_proxy_cluster_cidr};
use crate::ops::wizard::{Page, Wizard, WizardOption};
use crate::ops::{ObjectRef, Plan};

/// Restarting the pod network agent on `node` (default: the console's node).
pub fn restart_cni(s: &Snapshot, node: Option<&str>) -> Result<Wizard, String> {
    let node = node.ok_or_else(|| {
        "which node? `:restart-cni <node>` (this machine is not a known node)".to_string()
    })?;
    let cfg = config::read(s);
    let ds = cfg
        .daemonset
        .ok_or("no flannel or calico DaemonSet found: nothing to restart")?;
    let Some(pod) = cfg.agents.get(node) else {
        return Err(format!(
            "no {} pod runs on {node} (the DaemonSet creates one if the node is eligible)",
            cfg.daemonset_name().unwrap_or_default()
        ));
    };
    let agent = AgentPod {
        namespace: pod.metadata.namespace.clone().unwrap_or_default(),
        name: pod.metadata.name.clone().unwrap_or_default(),
        daemonset: ds.metadata.name.clone().unwrap_or_default(),
        node: node.to_string(),
    };
    let mut w = Wizard::new(
        format!("Restart the {} agent on {node}", cfg.kind().name()),
        ObjectRef::pod(&agent.namespace, &agent.name),
    );
    let mut what = Page::new("The agent");
    what.plain(format!(
        "Pod {}/{} of DaemonSet {} on {node}",
        agent.namespace, agent.name, agent.daemonset
    ));
    for line in agent_state(pod) {
        what.line(line.0, line.1);
    }
    what.plain(
        "Deleting it makes the DaemonSet start a new one at once, without the crash back-off.",
    );
    what.warn(format!(
        "Until the new agent is Ready, new pods on {node} get no network; running pods keep theirs."
    ));
    w.pages.push(what);
    w.set_plan(Arc::new(move |_: &[WizardOption]| restart_agent(&agent)));
    Ok(w)
}

/// Phase, readiness, restarts and the last termination of the agent pod, as wizard lines.
fn agent_state(pod: &Pod) -> Vec<(crate::ops::wizard::Tone, String)> {
    use crate::ops::wizard::Tone;
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

/// Giving kube-proxy a clusterCIDR (default: kubeadm's podSubnet). Blocked when
/// kube-proxy takes `--cluster-cidr` from its DaemonSet (the ConfigMap would not
/// matter) or already has a value (changing a working value is not this fix).
pub fn set_cluster_cidr(s: &Snapshot, cidr: Option<&str>) -> Result<Wizard, String> {
    let cfg = config::read(s);
    let Some(current) = &cfg.cluster_cidr else {
        return Err("no kube-proxy ConfigMap or DaemonSet in kube-system to change".into());
    };
    let want = match cidr {
        Some(c) => c.to_string(),
        None => {
            let subnets = cfg.pod_subnets();
            if subnets.is_empty() {
                return Err(
                    "the pod subnet is unknown (no kubeadm-config podSubnet): `:set-cluster-cidr <cidr>`"
                        .into(),
                );
            }
            subnets
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(",")
        }
    };
    for part in want.split(',') {
        part.parse::<crate::model::cidr::Cidr>()
            .map_err(|e| format!("{part:?} is not a CIDR: {e}"))?;
    }
    let mut w = Wizard::new(
        format!("Set kube-proxy's clusterCIDR to {want}"),
        ObjectRef::new("ConfigMap", Some("kube-system"), "kube-proxy"),
    );
    let mut wrong = Page::new("What is wrong");
    if current.value.is_empty() {
        wrong.bad(format!(
            "kube-proxy runs without a clusterCIDR ({})",
            current.source
        ));
    } else {
        wrong.plain(format!(
            "kube-proxy's clusterCIDR is {:?} ({})",
            current.value, current.source
        ));
    }
    match &cfg.pod_subnet {
        Some(p) => wrong.plain(format!("the cluster's pod subnet: {want} ({})", p.source)),
        None => wrong.plain(format!("the pod network given: {want}")),
    }
    wrong.plain("Without it, traffic from nodes and host-network pods to Service IPs (flannel and calico reach the API server at 10.96.0.1:443 that way) is not masqueraded and can time out: seed 000's flannel CrashLoopBackOff.");
    w.pages.push(wrong);
    if !current.source.starts_with("ConfigMap") {
        w.block(
            format!(
                "kube-proxy takes its clusterCIDR from {} ({:?}); the ConfigMap would not change it",
                current.source, current.value
            ),
            vec![format!(
                "kubectl -n kube-system edit daemonset kube-proxy   # set --cluster-cidr={want}"
            )],
        );
        return Ok(w);
    }
    if !current.value.is_empty() {
        w.block(
            format!(
                "kube-proxy already has clusterCIDR {:?}; this fix only sets a missing one",
                current.value
            ),
            vec!["kubectl -n kube-system edit configmap kube-proxy   # key config.conf".into()],
        );
        return Ok(w);
    }
    let old_line = s
        .configmaps
        .iter()
        .find(|c| {
            c.metadata.namespace.as_deref() == Some("kube-system")
                && c.metadata.name.as_deref() == Some("kube-proxy")
        })
        .and_then(|c| c.data.as_ref()?.get("config.conf"))
        .and_then(|text| text.lines().find(|l| l.starts_with("clusterCIDR:")))
        .map(str::to_string);
    let mut patch = Page::new("The change");
    patch.plain("ConfigMap kube-system/kube-proxy, key config.conf:");
    match old_line {
        Some(l) => patch.bad(format!("- {l}")),
        None => patch.plain("(no clusterCIDR line: it is added)"),
    }
    patch.ok(format!("+ clusterCIDR: {want}"));
    patch.plain("No other line changes; the value is re-read before the patch and the patch carries the resourceVersion read.");
    let mut pods: Vec<AgentPod> = s
        .pods
        .iter()
        .filter(|p| p.metadata.namespace.as_deref() == Some("kube-system"))
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| owned_by_daemonset(p, "kube-proxy"))
        .filter_map(|p| {
            Some(AgentPod {
                namespace: "kube-system".into(),
                name: p.metadata.name.clone()?,
                daemonset: "kube-proxy".into(),
                node: p.spec.as_ref()?.node_name.clone()?,
            })
        })
        .collect();
    pods.sort_by(|a, b| a.node.cmp(&b.node));
    patch.plain(match pods.len() {
        0 => "kube-proxy reads the file only when it starts; no kube-proxy pod runs now.".to_string(),
        1 => "kube-proxy reads the file only when it starts: its pod restarts and is waited for until Ready.".to_string(),
        n => format!(
            "kube-proxy reads the file only when it starts: its {n} pods restart one node at a time, each waited for until Ready."
        ),
    });
    w.pages.push(patch);
    let value = current.value.clone();
    w.set_plan(Arc::new(move |_: &[WizardOption]| -> Plan {
        set_kube_proxy_cluster_cidr("kube-system", &want, &value, &pods)
    }));
    Ok(w)
}

fn owned_by_daemonset(p: &Pod, name: &str) -> bool {
    p.metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.kind == "DaemonSet" && o.name == name)
}
