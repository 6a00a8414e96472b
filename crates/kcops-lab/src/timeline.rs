//! Plays a scenario's timeline: node failures, pod deletions, cordons, scaling,
//! events and extra objects, at their times (scaled by the speed knob), each after
//! its `waitFor` condition holds.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Value, json};

use super::api::selectors::LabelSelector;
use super::controllers::Ctx;
use super::scenario::{DeleteObject, EventType, ScaleKind, TimelineAction};

/// Where the lab publishes how far its story has played: a ConfigMap any client can
/// read through the API, so the console says "the story is still playing" instead
/// of "healthy" without knowing anything of the lab.
pub const STATE_NAMESPACE: &str = "kube-public";
pub const STATE_NAME: &str = "kcops-lab";

pub async fn run(ctx: Arc<Ctx>) {
    let start = tokio::time::Instant::now();
    let timeline = ctx.scenario.timeline.clone();
    for (i, entry) in timeline.iter().enumerate() {
        let due = start + ctx.knobs.scaled(entry.at);
        let wall = jiff::Timestamp::now()
            + jiff::SignedDuration::try_from(
                due.saturating_duration_since(tokio::time::Instant::now()),
            )
            .unwrap_or_default();
        publish(
            &ctx,
            Some((action_name(&entry.action), wall)),
            timeline.len() - i,
        );
        tokio::time::sleep_until(due).await;
        if let Some(w) = &entry.wait_for {
            let sel = match LabelSelector::parse(&w.selector) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!("timeline: bad waitFor selector {:?}: {e}", w.selector);
                    continue;
                }
            };
            loop {
                let ready = ctx
                    .store
                    .list(&ctx.kinds.pods, Some(&w.namespace))
                    .iter()
                    .filter(|p| sel.matches(&p.labels))
                    .filter(|p| {
                        let v = p.value();
                        v["status"]["conditions"].as_array().is_some_and(|cs| {
                            cs.iter()
                                .any(|c| c["type"] == "Ready" && c["status"] == "True")
                        })
                    })
                    .count();
                if ready >= w.pods_ready as usize {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        if let Err(e) = apply(&ctx, &entry.action) {
            tracing::warn!("timeline action failed: {e:#}");
        }
    }
    publish(&ctx, None, 0);
}

/// A few words for a timeline action, as the published state names the next one.
fn action_name(action: &TimelineAction) -> String {
    match action {
        TimelineAction::SetNodeReady(s) if s.ready => format!("node {} comes back", s.node),
        TimelineAction::SetNodeReady(s) => format!("node {} goes down", s.node),
        TimelineAction::DeletePods(d) => {
            format!("pods {} in {} are deleted", d.selector, d.namespace)
        }
        TimelineAction::Cordon(n) => format!("node {n} is cordoned"),
        TimelineAction::Uncordon(n) => format!("node {n} is uncordoned"),
        TimelineAction::Scale(s) => format!("{} is scaled to {}", s.name, s.replicas),
        TimelineAction::Event(e) => format!("event {}", e.reason),
        TimelineAction::Delete(d) => format!("{} {} is deleted", d.kind, d.name),
        TimelineAction::Apply(o) => format!(
            "{} {} is applied",
            o["kind"].as_str().unwrap_or("an object"),
            o["metadata"]["name"].as_str().unwrap_or("")
        ),
    }
}

/// Writes the story's state into `kube-public/kcops-lab`: `story` is `playing` with
/// the `next` action, its time and how many remain, or `settled` once the last one
/// ran.
fn publish(ctx: &Ctx, next: Option<(String, jiff::Timestamp)>, remaining: usize) {
    let mut data = serde_json::Map::new();
    data.insert("scenario".into(), json!(ctx.scenario.name));
    match &next {
        Some((what, at)) => {
            data.insert("story".into(), json!("playing"));
            data.insert("next".into(), json!(what));
            data.insert("nextAt".into(), json!(at.to_string()));
            data.insert("remaining".into(), json!(remaining.to_string()));
        }
        None => {
            data.insert("story".into(), json!("settled"));
        }
    }
    let rt = &ctx.kinds.configmaps;
    let result = if ctx
        .store
        .get_value(rt, STATE_NAMESPACE, STATE_NAME)
        .is_some()
    {
        ctx.store
            .mutate(rt, STATE_NAMESPACE, STATE_NAME, None, |cm| {
                cm["data"] = Value::Object(data.clone());
                Ok(())
            })
            .map(|_| ())
    } else {
        let mut obj = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"namespace": STATE_NAMESPACE, "name": STATE_NAME},
            "data": Value::Object(data),
        });
        super::api::defaults::apply(&rt.kind, &mut obj);
        ctx.store.create(rt, obj).map(|_| ())
    };
    if let Err(e) = result {
        tracing::warn!("timeline: cannot publish the story's state: {e}");
    }
}

fn apply(ctx: &Ctx, action: &TimelineAction) -> anyhow::Result<()> {
    match action {
        TimelineAction::SetNodeReady(s) => set_node_ready(ctx, &s.node, s.ready),
        TimelineAction::DeletePods(d) => {
            let sel = LabelSelector::parse(&d.selector).map_err(anyhow::Error::msg)?;
            for p in ctx
                .store
                .list(&ctx.kinds.pods, Some(&d.namespace))
                .into_iter()
                .filter(|p| sel.matches(&p.labels))
            {
                let grace = if d.force { Some(0) } else { None };
                ctx.store.delete(
                    &ctx.kinds.pods,
                    &d.namespace,
                    p.field("metadata.name"),
                    grace,
                    None,
                )?;
            }
            Ok(())
        }
        TimelineAction::Cordon(node) | TimelineAction::Uncordon(node) => {
            let on = matches!(action, TimelineAction::Cordon(_));
            ctx.store.mutate(&ctx.kinds.nodes, "", node, None, |n| {
                if on {
                    n["spec"]["unschedulable"] = json!(true);
                } else if let Some(s) = n["spec"].as_object_mut() {
                    s.remove("unschedulable");
                }
                Ok(())
            })?;
            Ok(())
        }
        TimelineAction::Scale(s) => {
            let rt = match s.kind {
                ScaleKind::StatefulSet => &ctx.kinds.statefulsets,
                ScaleKind::Deployment => &ctx.kinds.deployments,
                ScaleKind::ReplicaSet => &ctx.kinds.replicasets,
            };
            ctx.store.mutate(rt, &s.namespace, &s.name, None, |o| {
                o["spec"]["replicas"] = json!(s.replicas);
                Ok(())
            })?;
            Ok(())
        }
        TimelineAction::Event(e) => {
            let ns = e
                .involved_object
                .namespace
                .clone()
                .unwrap_or_else(|| e.namespace.clone());
            let involved = find_object(ctx, &e.involved_object.kind, &ns, &e.involved_object.name)
                .unwrap_or_else(|| json!({"kind": e.involved_object.kind, "metadata": {"namespace": ns, "name": e.involved_object.name}}));
            let t = match e.event_type {
                EventType::Normal => "Normal",
                EventType::Warning => "Warning",
            };
            ctx.event(&involved, t, &e.reason, &e.message, "kubelet", None);
            Ok(())
        }
        TimelineAction::Delete(d) => delete_object(ctx, d),
        TimelineAction::Apply(obj) => {
            let rt = ctx
                .store
                .registry
                .by_kind(
                    obj["apiVersion"].as_str().unwrap_or_default(),
                    obj["kind"].as_str().unwrap_or_default(),
                )
                .ok_or_else(|| anyhow::anyhow!("unknown kind in timeline apply"))?;
            let mut obj = obj.clone();
            super::api::defaults::apply(&rt.kind, &mut obj);
            ctx.store.create(&rt, obj)?;
            Ok(())
        }
    }
}

fn delete_object(ctx: &Ctx, d: &DeleteObject) -> anyhow::Result<()> {
    let rt = ctx
        .store
        .registry
        .all()
        .into_iter()
        .find(|t| t.kind == d.kind)
        .ok_or_else(|| anyhow::anyhow!("unknown kind {} in timeline delete", d.kind))?;
    let ns = if rt.namespaced {
        d.namespace.as_deref().unwrap_or("default")
    } else {
        ""
    };
    let grace = if d.force { Some(0) } else { None };
    ctx.store.delete(&rt, ns, &d.name, grace, None)?;
    Ok(())
}

fn find_object(ctx: &Ctx, kind: &str, ns: &str, name: &str) -> Option<Value> {
    let rt = ctx
        .store
        .registry
        .all()
        .into_iter()
        .find(|t| t.kind == kind)?;
    ctx.store
        .get_value(&rt, if rt.namespaced { ns } else { "" }, name)
}

/// A node going down: its kubelet stops, the node controller marks it Unknown and
/// taints it unreachable. Coming back reverses both.
pub fn set_node_ready(ctx: &Ctx, node: &str, ready: bool) -> anyhow::Result<()> {
    if let Some(n) = ctx.nodes.get(node) {
        let was_alive = n.alive.swap(ready, Ordering::Relaxed);
        if ready && !was_alive {
            // Back from a crash: a rebooted node has no sandboxes left, but its
            // host-local reservations were never released.
            super::controllers::cni::node_rebooted(ctx, node);
            super::controllers::csi::node::node_rebooted(node);
        }
    }
    let now = super::api::store::now_rfc3339();
    ctx.store.mutate(&ctx.kinds.nodes, "", node, None, |n| {
        if let Some(conds) = n["status"]["conditions"].as_array_mut() {
            for c in conds.iter_mut() {
                if ready {
                    if c["type"] == "Ready" {
                        *c = json!({"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status", "lastHeartbeatTime": now, "lastTransitionTime": now});
                    }
                } else {
                    let t = c["type"].as_str().unwrap_or_default().to_string();
                    *c = json!({"type": t, "status": "Unknown", "reason": "NodeStatusUnknown", "message": "Kubelet stopped posting node status.", "lastHeartbeatTime": c["lastHeartbeatTime"], "lastTransitionTime": now});
                }
            }
        }
        let mut taints: Vec<Value> = n["spec"]["taints"].as_array().cloned().unwrap_or_default();
        taints.retain(|t| t["key"] != "node.kubernetes.io/unreachable");
        if !ready {
            taints.push(json!({"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule", "timeAdded": now}));
            taints.push(json!({"key": "node.kubernetes.io/unreachable", "effect": "NoExecute", "timeAdded": now}));
        }
        if taints.is_empty() {
            if let Some(s) = n["spec"].as_object_mut() {
                s.remove("taints");
            }
        } else {
            n["spec"]["taints"] = json!(taints);
        }
        Ok(())
    })?;
    if !ready {
        // The node lifecycle controller marks the pods of an unreachable node not ready.
        for p in ctx.store.pods_on_node(&ctx.kinds.pods, node) {
            let _ = ctx.store.mutate(
                &ctx.kinds.pods,
                p.field("metadata.namespace"),
                p.field("metadata.name"),
                None,
                |pod| {
                    if let Some(conds) = pod["status"]["conditions"].as_array_mut() {
                        for c in conds.iter_mut().filter(|c| c["type"] == "Ready") {
                            c["status"] = json!("False");
                            c["lastTransitionTime"] = json!(now);
                        }
                    }
                    Ok(())
                },
            );
        }
    }
    Ok(())
}
