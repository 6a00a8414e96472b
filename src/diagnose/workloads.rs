//! `workload.unavailable`: a StatefulSet, DaemonSet or Deployment with fewer ready
//! replicas than desired, for longer than a starting cluster needs to converge, and
//! for reasons no other finding already gives.
//!
//! Time is measured on the pods, not on the workload's status (whose conditions may
//! carry no times): an unready pod counts once its Ready condition has been False for
//! the threshold; a missing pod counts once nothing has happened to the
//! workload (creation, pods, events, conditions) for that long, or at once when the
//! controller reports FailedCreate.

use crate::model::objref::ObjRef;
use std::collections::HashMap;

use crate::model::pod::Pod;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::index::{
    Index, at, event_line, is_warning, pod_condition, pod_is_ready, pod_key, pod_node, pod_phase,
};
use super::{Explained, Finding, Severity, cap_listed, span};
use crate::model::pod_status::{pod_status, timestamp};
use crate::model::rows::{
    Replicas, WorkloadKind, created, daemonset_replicas, deployment_replicas, event_last_seen,
    statefulset_replicas,
};
use crate::model::snapshot::Snapshot;

pub(crate) type WorkloadKey<'a> = (WorkloadKind, &'a str, &'a str);

/// The workload that controls a pod; a ReplicaSet's pods belong to the Deployment
/// named by the ReplicaSet's name without its `-<pod-template-hash>` (the hash never
/// holds a `-`, so the pod's labels are not needed).
pub(crate) fn owner(p: &Pod) -> Option<WorkloadKey<'_>> {
    let refs = p.metadata.owner_references.as_deref()?;
    let r = refs
        .iter()
        .find(|r| r.controller == Some(true))
        .or(refs.first())?;
    let ns = p.metadata.namespace.as_deref().unwrap_or_default();
    match r.kind.as_str() {
        "StatefulSet" => Some((WorkloadKind::StatefulSet, ns, r.name.as_str())),
        "DaemonSet" => Some((WorkloadKind::DaemonSet, ns, r.name.as_str())),
        "ReplicaSet" => {
            let (deployment, _hash) = r.name.rsplit_once('-')?;
            (!deployment.is_empty()).then_some((WorkloadKind::Deployment, ns, deployment))
        }
        _ => None,
    }
}

/// One workload as the check sees it.
struct Workload<'a> {
    kind: WorkloadKind,
    meta: &'a ObjectMeta,
    replicas: Replicas,
    /// An OrderedReady StatefulSet creates a pod only when the previous one is Ready.
    ordered: bool,
    /// `(type, status, reason, message, last change)` of the status conditions.
    conditions: Vec<(&'a str, &'a str, &'a str, &'a str, Option<Timestamp>)>,
}

pub fn check<'a>(
    s: &'a Snapshot,
    ix: &Index<'a>,
    explained: &Explained<'a>,
    out: &mut Vec<Finding>,
) {
    let mut workloads: Vec<Workload<'a>> = Vec::new();
    for x in &s.statefulsets {
        workloads.push(Workload {
            kind: WorkloadKind::StatefulSet,
            meta: &x.metadata,
            replicas: statefulset_replicas(x),
            ordered: x
                .spec
                .as_ref()
                .and_then(|s| s.pod_management_policy.as_deref())
                .unwrap_or("OrderedReady")
                == "OrderedReady",
            conditions: Vec::new(),
        });
    }
    for x in &s.daemonsets {
        workloads.push(Workload {
            kind: WorkloadKind::DaemonSet,
            meta: &x.metadata,
            replicas: daemonset_replicas(x),
            ordered: false,
            conditions: Vec::new(),
        });
    }
    for x in &s.deployments {
        let conditions = x
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_deref())
            .unwrap_or_default()
            .iter()
            .map(|c| {
                let changed = [c.last_update_time.as_ref(), c.last_transition_time.as_ref()]
                    .into_iter()
                    .flatten()
                    .filter_map(timestamp)
                    .max();
                (
                    c.type_.as_str(),
                    c.status.as_str(),
                    c.reason.as_deref().unwrap_or_default(),
                    c.message.as_deref().unwrap_or_default(),
                    changed,
                )
            })
            .collect();
        workloads.push(Workload {
            kind: WorkloadKind::Deployment,
            meta: &x.metadata,
            replicas: deployment_replicas(x),
            ordered: false,
            conditions,
        });
    }
    // Only workloads short of ready replicas need their pods: in a healthy cluster of
    // 150,000 pods that is none, and the pass over the pods is skipped.
    let short: Vec<&Workload<'a>> = workloads
        .iter()
        .filter(|w| {
            w.replicas.desired > 0
                && w.replicas.ready < w.replicas.desired
                && w.meta.deletion_timestamp.is_none()
        })
        .collect();
    if short.is_empty() {
        return;
    }
    let mut owned: HashMap<WorkloadKey<'a>, Vec<&'a Pod>> =
        short.iter().map(|w| (key(w), Vec::new())).collect();
    for p in &s.pods {
        if let Some(list) = owner(p).and_then(|k| owned.get_mut(&k)) {
            list.push(p);
        }
    }
    for w in short {
        let pods = owned.get(&key(w)).map(Vec::as_slice).unwrap_or_default();
        if let Some(f) = unavailable(w, pods, ix, explained) {
            out.push(f);
        }
    }
}

fn key<'a>(w: &Workload<'a>) -> WorkloadKey<'a> {
    (
        w.kind,
        w.meta.namespace.as_deref().unwrap_or_default(),
        w.meta.name.as_deref().unwrap_or_default(),
    )
}

fn is_explained(p: &Pod, ix: &Index, explained: &Explained) -> bool {
    explained.contains(&pod_key(p)) || pod_node(p).is_some_and(|n| ix.node_not_ready(n))
}

/// Since when the pod has not been ready: its Ready condition's last change, else its
/// creation.
fn unready_since(p: &Pod) -> Option<Timestamp> {
    pod_condition(p, "Ready")
        .and_then(|c| c.last_transition_time())
        .or_else(|| p.metadata.creation_timestamp())
        .as_ref()
        .and_then(timestamp)
}

/// Warning events saying the controller could not create pods (for a Deployment, its
/// ReplicaSets report them), distinct messages, newest first.
fn create_failures<'a>(w: &Workload, ix: &Index<'a>) -> Vec<&'a Event> {
    let ns = w.meta.namespace.as_deref().unwrap_or_default();
    let name = w.meta.name.as_deref().unwrap_or_default();
    let mut all = ix.events(w.kind.as_str(), ns, name, w.meta.uid.as_deref());
    if w.kind == WorkloadKind::Deployment {
        all.extend(ix.replicaset_events(ns, name));
    }
    let mut out: Vec<&'a Event> = Vec::new();
    for e in all
        .into_iter()
        .filter(|e| is_warning(e) && e.reason.as_deref() == Some("FailedCreate"))
    {
        if out.len() < 3 && !out.iter().any(|x| x.message == e.message) {
            out.push(e);
        }
    }
    out
}

/// The last sign of the controller working on the workload.
fn last_activity(w: &Workload, pods: &[&Pod], ix: &Index) -> Option<Timestamp> {
    let ns = w.meta.namespace.as_deref().unwrap_or_default();
    let name = w.meta.name.as_deref().unwrap_or_default();
    let events = ix
        .events(w.kind.as_str(), ns, name, w.meta.uid.as_deref())
        .into_iter()
        .filter_map(event_last_seen);
    let pods = pods
        .iter()
        .filter_map(|p| crate::model::rows::pod_created(&p.metadata));
    let conditions = w.conditions.iter().filter_map(|c| c.4);
    created(w.meta)
        .into_iter()
        .chain(events)
        .chain(pods)
        .chain(conditions)
        .max()
}

fn unavailable(w: &Workload, pods: &[&Pod], ix: &Index, explained: &Explained) -> Option<Finding> {
    let Replicas { desired, ready, .. } = w.replicas;
    if desired <= 0 || ready >= desired || w.meta.deletion_timestamp.is_some() {
        return None;
    }
    let live: Vec<&Pod> = pods
        .iter()
        .copied()
        .filter(|p| {
            p.metadata.deletion_timestamp().is_none()
                && !matches!(pod_phase(p), "Succeeded" | "Failed")
        })
        .collect();
    let terminating = pods
        .iter()
        .any(|p| p.metadata.deletion_timestamp().is_some());
    let stale: Vec<&Pod> = live
        .iter()
        .copied()
        .filter(|p| !pod_is_ready(p) && !is_explained(p, ix, explained))
        .filter(|p| unready_since(p).is_some_and(|t| ix.since(t) > ix.limits.workload_unavailable))
        .collect();

    let missing = i64::from(desired) - live.len() as i64;
    let failures = if missing > 0 {
        create_failures(w, ix)
    } else {
        Vec::new()
    };
    let blocked_by_order = w.ordered && live.iter().any(|p| !pod_is_ready(p));
    let missing_counts = missing > 0
        && !terminating
        && !blocked_by_order
        && (!failures.is_empty()
            || last_activity(w, pods, ix)
                .is_some_and(|t| ix.since(t) > ix.limits.workload_unavailable));
    if stale.is_empty() && !missing_counts {
        return None;
    }

    let kind = w.kind.as_str();
    let ns = w.meta.namespace.as_deref().unwrap_or_default();
    let name = w.meta.name.as_deref().unwrap_or_default();
    let mut evidence = vec![format!("ready {ready}/{desired}")];
    let mut pod_lines = Vec::new();
    for p in &stale {
        let (pns, pname) = pod_key(p);
        let cond = pod_condition(p, "Ready");
        pod_lines.push(format!(
            "Pod {pns}/{pname} on {}: {}, not ready since {} ({})",
            pod_node(p).unwrap_or("no node"),
            pod_status(p),
            unready_since(p)
                .map(|t| t.to_string())
                .unwrap_or_else(|| "an unknown time".to_string()),
            cond.and_then(|c| c.reason())
                .filter(|r| !r.is_empty())
                .unwrap_or("no reason given")
        ));
        if let Some(e) = ix.pod_warnings(p).first() {
            pod_lines.push(format!("Pod {pns}/{pname}: {}", event_line(e)));
        }
    }
    evidence.extend(cap_listed(pod_lines, "lines"));
    if missing_counts {
        evidence.push(format!(
            "{missing} of {desired} pods do not exist (the controller has not created them)"
        ));
        evidence.extend(failures.iter().map(|e| event_line(e)));
    }
    for (t, status, reason, message, changed) in &w.conditions {
        if *status == "False" {
            evidence.push(format!(
                "{t}=False since {} ({reason}): {message}",
                changed.map(|c| c.to_string()).unwrap_or_else(|| at(None))
            ));
        }
    }

    let mut explanation = format!(
        "{kind} {ns}/{name} has had only {ready} of {desired} replicas ready for over {}",
        span(ix.limits.workload_unavailable)
    );
    if !stale.is_empty() {
        explanation.push_str(&format!(
            "; {} of its pods run but are not ready (a failing readiness probe, or a dependency they wait for)",
            stale.len()
        ));
    }
    if missing_counts {
        explanation.push_str(&format!(
            "; {missing} of its pods do not exist{}",
            if failures.is_empty() {
                ""
            } else {
                " because the controller fails to create them"
            }
        ));
    }
    explanation.push('.');
    let mut fix = format!(
        "`kubectl describe {} -n {ns} {name}` shows its events.",
        kind.to_lowercase()
    );
    if let Some(p) = stale.first() {
        let (pns, pname) = pod_key(p);
        fix.push_str(&format!(
            " For the unready pods, `kubectl describe pod -n {pns} {pname}` shows the probe results and `kubectl logs -n {pns} {pname}` what the application says."
        ));
    }
    if !failures.is_empty() {
        fix.push_str(
            " FailedCreate usually means a ResourceQuota, LimitRange, Pod Security or admission webhook rejects the pod: fix the template or the policy.",
        );
    }
    Some(Finding {
        id: "workload.unavailable",
        severity: if ready == 0 {
            Severity::Critical
        } else {
            Severity::Warning
        },
        subject: Some(ObjRef::namespaced(kind, ns, name)),
        object: format!("{kind} {ns}/{name}"),
        namespace: Some(ns.to_string()),
        node: None,
        evidence,
        explanation,
        fix,
    })
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;
    use crate::diagnose::diagnose;
    use std::sync::Arc;

    fn deployment(
        name: &str,
        desired: i32,
        ready: i32,
        created_secs: i64,
    ) -> Arc<k8s_openapi::api::apps::v1::Deployment> {
        from(json!({
            "metadata": {"name": name, "namespace": "demo", "uid": format!("uid-{name}"), "creationTimestamp": ago(created_secs)},
            "spec": {"replicas": desired, "selector": {}, "template": {}},
            "status": {"replicas": ready, "readyReplicas": ready, "availableReplicas": ready, "updatedReplicas": ready}
        }))
    }

    fn rs_pod(name: &str, deploy: &str, node_name: &str) -> Arc<Pod> {
        with(
            pod("demo", name, node_name),
            json!({"metadata": {"labels": {"pod-template-hash": "5d8f7c9b4"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("{deploy}-5d8f7c9b4"),
                                     "uid": "rs", "controller": true}]}}),
        )
    }

    fn unready(p: Arc<Pod>, since_secs: i64) -> Arc<Pod> {
        with(
            p,
            json!({"status": {"conditions": [
                {"type": "PodScheduled", "status": "True"},
                {"type": "Ready", "status": "False", "reason": "ContainersNotReady", "lastTransitionTime": ago(since_secs)}],
                "containerStatuses": [{"name": "app", "image": "app:1", "imageID": "", "ready": false,
                    "restartCount": 0, "state": {"running": {"startedAt": ago(since_secs)}}}]}}),
        )
    }

    fn base() -> Snapshot {
        let mut s = snapshot();
        s.nodes.push(node("node1", "True"));
        s.nodes.push(node("node2", "True"));
        s
    }

    #[test]
    fn owner_of_replicaset_pods() {
        let p = rs_pod("web-5d8f7c9b4-abcde", "web-frontend", "node1");
        assert_eq!(
            owner(&p),
            Some((WorkloadKind::Deployment, "demo", "web-frontend"))
        );
        let p = with(p, json!({"metadata": {"labels": null}}));
        assert_eq!(
            owner(&p),
            Some((WorkloadKind::Deployment, "demo", "web-frontend"))
        );
        assert_eq!(owner(&pod("demo", "bare", "node1")), None);
    }

    #[test]
    fn long_unready_pod_without_other_cause() {
        let mut s = base();
        s.deployments.push(deployment("web", 2, 1, 3600));
        s.pods.push(rs_pod("web-5d8f7c9b4-aaaaa", "web", "node1"));
        let p = unready(rs_pod("web-5d8f7c9b4-bbbbb", "web", "node2"), 600);
        s.events.push(pod_event(
            &p,
            "Warning",
            "Unhealthy",
            "Readiness probe failed: HTTP probe failed with statuscode: 503",
            2,
        ));
        s.pods.push(p);
        let f = diagnose(&s);
        assert_eq!(
            ids(&f),
            [("workload.unavailable", "Deployment demo/web".to_string())]
        );
        assert_eq!(f[0].severity, Severity::Warning);
        assert_eq!(
            f[0].evidence,
            [
                "ready 1/2".to_string(),
                format!("Pod demo/web-5d8f7c9b4-bbbbb on node2: Running, not ready since {} (ContainersNotReady)", ago(600)),
                "Pod demo/web-5d8f7c9b4-bbbbb: Unhealthy: Readiness probe failed: HTTP probe failed with statuscode: 503".to_string(),
            ]
        );
        assert!(
            f[0].explanation
                .starts_with("Deployment demo/web has had only 1 of 2 replicas ready")
        );
    }

    #[test]
    fn converging_workload_is_fine() {
        let mut s = base();
        // Just created: pods not ready yet, one not even created.
        s.statefulsets.push(from(json!({
            "metadata": {"name": "zk", "namespace": "demo", "creationTimestamp": ago(20)},
            "spec": {"replicas": 3, "podManagementPolicy": "Parallel", "selector": {}, "template": {}, "serviceName": "zk"},
            "status": {"replicas": 2, "readyReplicas": 0}
        })));
        for i in 0..2 {
            s.pods.push(unready(
                with(pod("demo", &format!("zk-{i}"), "node1"), json!({"metadata": {
                    "creationTimestamp": ago(20),
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "zk", "uid": "u", "controller": true}]}})),
                15,
            ));
        }
        // Status lags behind pods that are all ready.
        s.deployments.push(deployment("web", 1, 0, 3600));
        s.pods.push(rs_pod("web-5d8f7c9b4-aaaaa", "web", "node1"));
        assert!(diagnose(&s).is_empty());
    }

    #[test]
    fn unready_pods_with_their_own_finding_are_not_repeated() {
        let mut s = base();
        // flannel needs podCIDRs (the network checks would say so).
        for i in 0..s.nodes.len() {
            s.nodes[i] = with(
                s.nodes[i].clone(),
                json!({"spec": {"podCIDR": format!("10.244.{i}.0/24")}}),
            );
        }
        s.nodes.push(node("node3", "Unknown"));
        s.daemonsets.push(from(json!({
            "metadata": {"name": "kube-flannel-ds", "namespace": "kube-flannel"},
            "spec": {"selector": {}, "template": {}},
            "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 1, "numberMisscheduled": 0}
        })));
        let ds_owner = json!({"metadata": {"ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "kube-flannel-ds", "uid": "u", "controller": true}]}});
        s.pods.push(with(
            pod("kube-flannel", "kube-flannel-ds-a", "node1"),
            ds_owner.clone(),
        ));
        // Crash-looping on node2.
        s.pods.push(with(
            unready(with(pod("kube-flannel", "kube-flannel-ds-b", "node2"), ds_owner.clone()), 900),
            json!({"status": {"containerStatuses": [{"name": "app", "image": "app:1", "imageID": "", "ready": false,
                "restartCount": 9, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(5)}}}]}}),
        ));
        // On a NotReady node.
        s.pods.push(unready(
            with(pod("kube-flannel", "kube-flannel-ds-c", "node3"), ds_owner),
            900,
        ));
        assert_eq!(
            ids(&diagnose(&s)),
            [
                (
                    "net.cni-crashloop",
                    "Pod kube-flannel/kube-flannel-ds-b".to_string()
                ),
                ("node.notready", "Node node3".to_string()),
            ]
        );
    }

    #[test]
    fn missing_pods_with_failed_create_fire_at_once() {
        let mut s = base();
        s.deployments.push(deployment("web", 2, 0, 30));
        s.events.push(object_event("ReplicaSet", "demo", "web-5d8f7c9b4", "Warning", "FailedCreate",
            "Error creating: pods \"web-5d8f7c9b4-x\" is forbidden: exceeded quota: compute, requested: cpu=1, used: cpu=4, limited: cpu=4", 1));
        let f = diagnose(&s);
        assert_eq!(
            ids(&f),
            [("workload.unavailable", "Deployment demo/web".to_string())]
        );
        assert_eq!(f[0].severity, Severity::Critical);
        assert_eq!(
            f[0].evidence[1],
            "2 of 2 pods do not exist (the controller has not created them)"
        );
        assert!(f[0].evidence[2].starts_with("FailedCreate: Error creating"));
        assert!(f[0].fix.contains("ResourceQuota"));
    }

    #[test]
    fn missing_pods_count_after_quiet_period_only() {
        let mut s = base();
        s.deployments.push(deployment("old", 1, 0, 3600));
        s.deployments.push(deployment("scaled", 2, 1, 3600));
        s.pods
            .push(rs_pod("scaled-5d8f7c9b4-aaaaa", "scaled", "node1"));
        // Scaled up a moment ago: the controller is at work.
        s.events.push(object_event(
            "Deployment",
            "demo",
            "scaled",
            "Normal",
            "ScalingReplicaSet",
            "Scaled up replica set scaled-5d8f7c9b4 from 1 to 2",
            3,
        ));
        let f = diagnose(&s);
        assert_eq!(
            ids(&f),
            [("workload.unavailable", "Deployment demo/old".to_string())]
        );
    }

    #[test]
    fn ordered_statefulset_waits_for_the_previous_pod() {
        let mut s = base();
        s.statefulsets.push(from(json!({
            "metadata": {"name": "etcd", "namespace": "demo", "creationTimestamp": ago(3600)},
            "spec": {"replicas": 3, "selector": {}, "template": {}, "serviceName": "etcd"},
            "status": {"replicas": 2, "readyReplicas": 1}
        })));
        let owner = json!({"metadata": {"ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "etcd", "uid": "u", "controller": true}]}});
        s.pods
            .push(with(pod("demo", "etcd-0", "node1"), owner.clone()));
        // etcd-1 has its own finding (stuck on a sandbox); etcd-2 is not created until it is Ready.
        let p = with(creating_pod("demo", "etcd-1", "node2", 600), owner);
        s.events.push(pod_event(
            &p,
            "Warning",
            "FailedCreatePodSandBox",
            "boom",
            1,
        ));
        s.pods.push(p);
        assert_eq!(
            ids(&diagnose(&s)),
            [("pod.sandbox-failed", "Node node2".to_string())]
        );
    }

    #[test]
    fn scaled_to_zero_or_deleting_is_fine() {
        let mut s = base();
        s.deployments.push(deployment("zero", 0, 0, 3600));
        s.deployments.push(with(
            deployment("going", 2, 0, 3600),
            json!({"metadata": {"deletionTimestamp": ago(900)}}),
        ));
        assert!(diagnose(&s).is_empty());
    }

    #[test]
    fn deployment_conditions_are_evidence() {
        let mut s = base();
        s.deployments.push(with(
            deployment("web", 1, 0, 3600),
            json!({"status": {"conditions": [
                {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable",
                 "message": "Deployment does not have minimum availability.", "lastTransitionTime": ago(1800)},
                {"type": "Progressing", "status": "True"}]}}),
        ));
        s.pods
            .push(unready(rs_pod("web-5d8f7c9b4-aaaaa", "web", "node1"), 1800));
        let f = diagnose(&s);
        assert_eq!(f.len(), 1);
        assert_eq!(
            f[0].evidence.last().unwrap(),
            &format!(
                "Available=False since {} (MinimumReplicasUnavailable): Deployment does not have minimum availability.",
                ago(1800)
            )
        );
    }
}
