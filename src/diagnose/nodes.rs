//! Node checks: `node.notready` and `node.pressure`.

use crate::model::objref::ObjRef;
use std::collections::HashMap;

use crate::model::pod::Pod;
use k8s_openapi::api::core::v1::Node;

use super::index::{Index, at, node_ready, pod_claims, pod_key, pod_node};
use super::{Finding, Severity, cap_listed};
use crate::model::rows::{node_internal_ip, rbd_image};
use crate::model::snapshot::Snapshot;

/// Conditions whose True status means the kubelet is short of a resource and evicts.
const PRESSURES: &[&str] = &["MemoryPressure", "DiskPressure", "PIDPressure"];

pub fn check(s: &Snapshot, ix: &Index, out: &mut Vec<Finding>) {
    // Only NotReady nodes need their pods listed; one pass collects them.
    let mut bound: HashMap<&str, Vec<&Pod>> = HashMap::new();
    if !ix.not_ready.is_empty() {
        for p in &s.pods {
            if let Some(n) = pod_node(p).filter(|n| ix.node_not_ready(n)) {
                bound.entry(n).or_default().push(p);
            }
        }
    }
    for node in &s.nodes {
        let name = node.metadata.name.as_deref().unwrap_or_default();
        if let Some(f) = not_ready(node, name, bound.get(name).map(Vec::as_slice), ix) {
            out.push(f);
        } else if let Some(f) = pressure(node, name) {
            out.push(f);
        }
    }
}

fn is_daemonset_pod(p: &Pod) -> bool {
    p.metadata
        .owner_references
        .as_deref()
        .unwrap_or_default()
        .iter()
        .any(|o| o.kind == "DaemonSet")
}

/// `node.notready`: the Ready condition is False or Unknown.
fn not_ready(node: &Node, name: &str, pods: Option<&[&Pod]>, ix: &Index) -> Option<Finding> {
    let ready = node_ready(node)?;
    // NotReady only because no CNI config is there yet: the network check's.
    if ready.status == "True" || super::network::waits_for_network(ready) {
        return None;
    }
    let pods = pods.unwrap_or_default();
    let cordoned = node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true);
    let reason = ready.reason.as_deref().unwrap_or_default();
    let message = ready.message.as_deref().unwrap_or_default();
    let mut evidence = vec![format!(
        "Ready={} since {} ({reason}): {message}",
        ready.status,
        at(ready.last_transition_time.as_ref())
    )];
    for t in node
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_deref())
        .unwrap_or_default()
    {
        if t.key.starts_with("node.kubernetes.io/") {
            evidence.push(format!("taint {}:{}", t.key, t.effect));
        }
    }
    if cordoned {
        evidence.push("cordoned (SchedulingDisabled)".to_string());
    }

    // Pods with RBD volumes on a dead node keep their images locked.
    let mut rbd_pods = Vec::new();
    for p in pods {
        let (ns, pod_name) = pod_key(p);
        for claim in pod_claims(p) {
            let image = ix
                .pvcs
                .get(&(ns, claim))
                .and_then(|c| c.spec.as_ref()?.volume_name.as_deref())
                .and_then(|v| ix.pvs.get(v))
                .and_then(|pv| rbd_image(pv));
            if let Some((pool, image)) = image {
                rbd_pods.push(format!(
                    "Pod {ns}/{pod_name} uses RBD image {pool}/{image} (claim {claim})"
                ));
            }
        }
    }
    let drained = pods.iter().all(|p| is_daemonset_pod(p));
    let severity = if cordoned && drained {
        Severity::Warning
    } else {
        Severity::Critical
    };
    let state = if ready.status == "Unknown" {
        "its kubelet has stopped posting status (the node is down, or cut off from the API server)"
            .to_string()
    } else {
        format!("its kubelet reports it is not ready ({reason})")
    };
    let mut explanation = format!(
        "Node {name} is NotReady: {state}. The {} bound to it keep their last reported status; nothing on it is started, stopped or unmounted until the kubelet is back.",
        crate::model::count::count(pods.len(), "pod", "pods")
    );
    if !rbd_pods.is_empty() {
        explanation.push_str(
            " Pods on it with RBD volumes keep those images locked, so a replacement on another node cannot mount them.",
        );
        evidence.extend(cap_listed(rbd_pods, "pods with RBD volumes"));
    }
    let ip = node_internal_ip(node).unwrap_or("<node ip>");
    let fix = if ready.status == "Unknown" {
        format!(
            "Check that {name} is up and reachable and that its kubelet runs: `systemctl status kubelet` and `journalctl -u kubelet -n 100` on {name}. If it is gone for good, {} before its pods move (its clients' addresses begin with {ip}:), then force-delete its pods or `kubectl delete node {name}`.",
            super::fence::recipe(name)
        )
    } else {
        format!(
            "On {name}: `journalctl -u kubelet -n 100` says why it is not ready; common causes are the container runtime being down and the CNI plugin not being initialised (no config in /etc/cni/net.d)."
        )
    };
    Some(Finding {
        id: "node.notready",
        severity,
        subject: Some(ObjRef::cluster("Node", name)),
        object: format!("Node {name}"),
        namespace: None,
        node: Some(name.to_string()),
        evidence,
        explanation,
        fix,
    })
}

/// `node.pressure`: the kubelet reports memory, disk or PID pressure.
fn pressure(node: &Node, name: &str) -> Option<Finding> {
    let conditions = node.status.as_ref()?.conditions.as_deref()?;
    let active: Vec<_> = conditions
        .iter()
        .filter(|c| PRESSURES.contains(&c.type_.as_str()) && c.status == "True")
        .collect();
    if active.is_empty() {
        return None;
    }
    let evidence = active
        .iter()
        .map(|c| {
            format!(
                "{}=True since {} ({}): {}",
                c.type_,
                at(c.last_transition_time.as_ref()),
                c.reason.as_deref().unwrap_or_default(),
                c.message.as_deref().unwrap_or_default()
            )
        })
        .collect();
    let kinds: Vec<&str> = active.iter().map(|c| c.type_.as_str()).collect();
    Some(Finding {
        id: "node.pressure",
        severity: Severity::Warning,
        subject: Some(ObjRef::cluster("Node", name)),
        object: format!("Node {name}"),
        namespace: None,
        node: Some(name.to_string()),
        evidence,
        explanation: format!(
            "Node {name} reports {}: the kubelet taints it so no new pods land there, and evicts pods to reclaim the resource.",
            kinds.join(" and ")
        ),
        fix: format!(
            "Free the resource on {name} (`kubectl describe node {name}` shows usage; for disk, prune images with `crictl rmi --prune` and check /var/lib/containerd and /var/log), or move workloads away (`kubectl drain {name} --ignore-daemonsets`)."
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;

    #[test]
    fn ready_node_has_no_finding() {
        let mut s = snapshot();
        s.nodes.push(node("node1", "True"));
        // Cordoned is not a fault.
        s.nodes.push(with(
            node("node2", "True"),
            json!({"spec": {"unschedulable": true}}),
        ));
        // No Ready condition yet (just registered): nothing to say.
        s.nodes.push(from(json!({"metadata": {"name": "node3"}})));
        assert!(super::super::diagnose(&s).is_empty());
    }

    #[test]
    fn unknown_node_is_critical_with_evidence() {
        let mut s = snapshot();
        s.nodes.push(with(
            node("node1", "Unknown"),
            json!({"spec": {"unschedulable": true, "taints": [
                {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"},
                {"key": "dedicated", "value": "x", "effect": "NoSchedule"}]}}),
        ));
        s.pods.push(with(
            pod("default", "index-api-1", "node1"),
            json!({"spec": {"volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "index-api-pvc"}}]}}),
        ));
        s.pvcs.push(from(
            json!({"metadata": {"name": "index-api-pvc", "namespace": "default"},
            "spec": {"volumeName": "pv1"}, "status": {"phase": "Bound"}}),
        ));
        s.pvs.push(from(json!({"metadata": {"name": "pv1"},
            "spec": {"rbd": {"monitors": [], "image": "img1", "pool": "rbd"}}, "status": {"phase": "Bound"}})));
        let f = only(&s, "node.notready");
        assert_eq!(f.len(), 1);
        let f = &f[0];
        assert_eq!(f.severity, Severity::Critical);
        assert_eq!(f.node.as_deref(), Some("node1"));
        assert_eq!(
            f.evidence,
            [
                format!(
                    "Ready=Unknown since {} (NodeStatusUnknown): Kubelet stopped posting node status.",
                    ago(300)
                ),
                "taint node.kubernetes.io/unreachable:NoExecute".to_string(),
                "cordoned (SchedulingDisabled)".to_string(),
                "Pod default/index-api-1 uses RBD image rbd/img1 (claim index-api-pvc)".to_string(),
            ]
        );
        assert!(f.explanation.contains("RBD"), "{}", f.explanation);
        assert!(f.fix.contains("ceph osd blocklist add"));
    }

    #[test]
    fn drained_cordoned_node_is_only_a_warning() {
        let mut s = snapshot();
        s.nodes.push(with(
            node("node1", "False"),
            json!({"spec": {"unschedulable": true}}),
        ));
        s.pods.push(with(
            pod("kube-system", "kube-proxy-x", "node1"),
            json!({"metadata": {"ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "kube-proxy", "uid": "u"}]}}),
        ));
        let f = only(&s, "node.notready");
        assert_eq!(f[0].severity, Severity::Warning);
        assert!(f[0].fix.contains("journalctl"));
        // The DaemonSet pod on it is covered by the node, not reported again.
        assert_eq!(super::super::diagnose(&s).len(), 1);
    }

    #[test]
    fn pressure_lists_each_condition() {
        let mut s = snapshot();
        s.nodes.push(with(
            node("node2", "True"),
            json!({"status": {"conditions": [
                {"type": "Ready", "status": "True"},
                {"type": "MemoryPressure", "status": "True", "reason": "KubeletHasInsufficientMemory",
                 "message": "kubelet has insufficient memory available", "lastTransitionTime": ago(60)},
                {"type": "DiskPressure", "status": "True", "reason": "KubeletHasDiskPressure", "message": "kubelet has disk pressure"},
                {"type": "PIDPressure", "status": "False"},
                // Not a pressure: the network issue's checks own it.
                {"type": "NetworkUnavailable", "status": "True"}]}}),
        ));
        let f = only(&s, "node.pressure");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].evidence.len(), 2);
        assert_eq!(
            f[0].evidence[0],
            format!(
                "MemoryPressure=True since {} (KubeletHasInsufficientMemory): kubelet has insufficient memory available",
                ago(60)
            )
        );
        assert!(f[0].explanation.contains("MemoryPressure and DiskPressure"));
    }

    #[test]
    fn pressure_on_not_ready_node_is_not_reported_twice() {
        let mut s = snapshot();
        s.nodes.push(with(
            node("node2", "Unknown"),
            json!({"status": {"conditions": [
                {"type": "Ready", "status": "Unknown"},
                {"type": "MemoryPressure", "status": "True"}]}}),
        ));
        assert_eq!(
            ids(&super::super::diagnose(&s)),
            [("node.notready", "Node node2".to_string())]
        );
    }
}
