//! The scheduler: binds pending pods to nodes that are Ready, schedulable, whose
//! NoSchedule taints the pod tolerates, that match its nodeSelector, and that do not
//! break its required anti-affinity by hostname.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::{Ctx, is_deleting, str_of};
use crate::api::selectors::LabelSelector;
use crate::api::store::Entry;

pub fn tolerates(pod: &Value, taint: &Value) -> bool {
    let tolerations = pod["spec"]["tolerations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let key = taint["key"].as_str().unwrap_or_default();
    let effect = taint["effect"].as_str().unwrap_or_default();
    tolerations.iter().any(|t| {
        let t_key = t["key"].as_str().unwrap_or_default();
        let t_effect = t["effect"].as_str().unwrap_or_default();
        let op = t["operator"].as_str().unwrap_or("Equal");
        let key_ok = t_key.is_empty() && op == "Exists" || t_key == key;
        let value_ok = op == "Exists"
            || t["value"].as_str().unwrap_or_default()
                == taint["value"].as_str().unwrap_or_default();
        let effect_ok = t_effect.is_empty() || t_effect == effect;
        key_ok && value_ok && effect_ok
    })
}

pub fn node_ready(node: &Value) -> bool {
    node["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

fn selector_matches(pod: &Value, node: &Value) -> bool {
    let Some(sel) = pod["spec"]["nodeSelector"].as_object() else {
        return true;
    };
    sel.iter()
        .all(|(k, v)| node["metadata"]["labels"].get(k) == Some(v))
}

/// Why a node cannot take the pod, in the scheduler's words; None if it can.
fn unfit_reason(ctx: &Ctx, pod: &Value, node: &Value) -> Option<String> {
    if !node_ready(node) {
        return Some("node(s) had untolerated taint {node.kubernetes.io/not-ready: }".into());
    }
    if node["spec"]["unschedulable"].as_bool() == Some(true) {
        return Some("node(s) were unschedulable".into());
    }
    for taint in node["spec"]["taints"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let effect = taint["effect"].as_str().unwrap_or_default();
        if (effect == "NoSchedule" || effect == "NoExecute") && !tolerates(pod, &taint) {
            return Some(format!(
                "node(s) had untolerated taint {{{}: {}}}",
                taint["key"].as_str().unwrap_or_default(),
                taint["value"].as_str().unwrap_or_default()
            ));
        }
    }
    if !selector_matches(pod, node) {
        return Some("node(s) didn't match Pod's node affinity/selector".into());
    }
    let node_name = str_of(node, &["metadata", "name"]);
    let terms = pod["spec"]["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"].as_array().cloned().unwrap_or_default();
    for term in terms
        .iter()
        .filter(|t| t["topologyKey"] == "kubernetes.io/hostname")
    {
        let sel = LabelSelector::from_label_selector_json(&term["labelSelector"]);
        let ns = str_of(pod, &["metadata", "namespace"]);
        let clash = ctx
            .store
            .pods_on_node(&ctx.kinds.pods, node_name)
            .iter()
            .any(|p| {
                p.field("metadata.namespace") == ns
                    && sel.matches(&p.labels)
                    && !is_deleting(&p.value())
            });
        if clash {
            return Some("node(s) didn't match pod anti-affinity rules".into());
        }
    }
    None
}

/// The uid of the pod's controlling owner (ReplicaSet, StatefulSet...), if any.
fn controller_uid(pod: &Value) -> Option<String> {
    pod["metadata"]["ownerReferences"]
        .as_array()?
        .iter()
        .find(|r| r["controller"] == true)?["uid"]
        .as_str()
        .map(str::to_string)
}

/// Live pods of the same controller per node (candidates found by their labels).
fn siblings_per_node(ctx: &Ctx, entry: &Entry, pod: &Value) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    let Some(owner) = controller_uid(pod) else {
        return out;
    };
    for e in ctx
        .store
        .list(&ctx.kinds.pods, Some(entry.field("metadata.namespace")))
    {
        if e.uid == entry.uid || !entry.labels.iter().all(|(k, v)| e.labels.get(k) == Some(v)) {
            continue;
        }
        let node = e.field("spec.nodeName");
        if node.is_empty() {
            continue;
        }
        let v = e.value();
        if !is_deleting(&v) && controller_uid(&v).as_deref() == Some(owner.as_str()) {
            *out.entry(node.to_string()).or_default() += 1;
        }
    }
    out
}

pub fn reconcile(ctx: &Ctx) {
    let pending = ctx.store.pods_on_node(&ctx.kinds.pods, "");
    if pending.is_empty() {
        return;
    }
    let nodes: Vec<Value> = ctx
        .store
        .list(&ctx.kinds.nodes, None)
        .iter()
        .map(|n| n.value())
        .collect();
    for entry in pending {
        let pod = entry.value();
        if is_deleting(&pod)
            || pod["spec"]["schedulerName"]
                .as_str()
                .is_some_and(|s| s != "default-scheduler")
        {
            continue;
        }
        // Score as kube-scheduler's defaults roughly do: spread the replicas of one owner
        // across nodes (PodTopologySpread's system default, which ignores terminating
        // pods), then prefer the least loaded node.
        let siblings = siblings_per_node(ctx, &entry, &pod);
        let mut best: Option<((usize, usize), String)> = None;
        let mut reasons: std::collections::BTreeMap<String, usize> = Default::default();
        for node in &nodes {
            let name = str_of(node, &["metadata", "name"]).to_string();
            match unfit_reason(ctx, &pod, node) {
                Some(r) => *reasons.entry(r).or_default() += 1,
                None => {
                    let load = (
                        siblings.get(&name).copied().unwrap_or(0),
                        ctx.store.pods_on_node(&ctx.kinds.pods, &name).len(),
                    );
                    if best
                        .as_ref()
                        .is_none_or(|(l, n)| load < *l || (load == *l && name < *n))
                    {
                        best = Some((load, name));
                    }
                }
            }
        }
        let ns = entry.field("metadata.namespace").to_string();
        let name = entry.field("metadata.name").to_string();
        match best {
            Some((_, node)) => {
                let bound = ctx
                    .store
                    .mutate(&ctx.kinds.pods, &ns, &name, Some(entry.rv), |p| {
                        p["spec"]["nodeName"] = json!(node);
                        set_condition(p, "PodScheduled", "True", None, None);
                        Ok(())
                    });
                if let Ok(e) = bound {
                    ctx.event(
                        &e.value(),
                        "Normal",
                        "Scheduled",
                        &format!("Successfully assigned {ns}/{name} to {node}"),
                        "default-scheduler",
                        None,
                    );
                }
            }
            None => {
                let detail: Vec<String> = reasons.iter().map(|(r, n)| format!("{n} {r}")).collect();
                let msg = format!(
                    "0/{} nodes are available: {}. preemption: 0/{} nodes are available: {} Preemption is not helpful for scheduling.",
                    nodes.len(),
                    detail.join(", "),
                    nodes.len(),
                    nodes.len()
                );
                let already = pod["status"]["conditions"].as_array().is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c["type"] == "PodScheduled" && c["message"] == msg.as_str())
                });
                if !already
                    && let Ok(e) = ctx.store.mutate(&ctx.kinds.pods, &ns, &name, None, |p| {
                        set_condition(
                            p,
                            "PodScheduled",
                            "False",
                            Some("Unschedulable"),
                            Some(&msg),
                        );
                        Ok(())
                    })
                {
                    ctx.event(
                        &e.value(),
                        "Warning",
                        "FailedScheduling",
                        &msg,
                        "default-scheduler",
                        None,
                    );
                }
            }
        }
    }
}

/// Sets (or replaces) a pod condition, keeping lastTransitionTime when unchanged.
pub fn set_condition(
    pod: &mut Value,
    type_: &str,
    status: &str,
    reason: Option<&str>,
    message: Option<&str>,
) {
    let now = crate::api::store::now_rfc3339();
    if !pod["status"]["conditions"].is_array() {
        pod["status"]["conditions"] = json!([]);
    }
    let Some(conds) = pod["status"]["conditions"].as_array_mut() else {
        return;
    };
    let mut cond =
        json!({"type": type_, "status": status, "lastProbeTime": null, "lastTransitionTime": now});
    if let Some(r) = reason {
        cond["reason"] = json!(r);
    }
    if let Some(m) = message {
        cond["message"] = json!(m);
    }
    match conds.iter_mut().find(|c| c["type"] == type_) {
        Some(c) => {
            if c["status"] == status {
                cond["lastTransitionTime"] = c["lastTransitionTime"].clone();
            }
            *c = cond;
        }
        None => conds.push(cond),
    }
}
