//! `csi.plugin-down`: a node runs pods that use ceph-csi volumes but no Ready
//! `csi-rbdplugin` pod, so nothing there can stage, mount or release those volumes.
//!
//! One finding per node; it takes over the plugin pod's crash loop and the users'
//! stuck mounts there (one root cause). Nodes that are NotReady are left to
//! `node.notready`, and a cluster without the plugin's DaemonSet is not judged (its
//! node plugin runs in a way kcops does not know).

use std::collections::BTreeMap;

use super::super::index::{Index, pod_claims, pod_key, pod_node, pod_phase};
use super::super::{Explained, Finding, Severity, cap_listed};
use super::{PLUGIN_APP, is_csi_rbd, plugin_daemonsets, plugin_pods, plugin_serves};
use crate::model::objref::ObjRef;
use crate::model::pod::Pod;
use crate::model::pod_status::pod_status;
use crate::model::snapshot::Snapshot;

/// Findings about a pod this one takes over on a node without a plugin.
const ABSORBED: &[&str] = &["pod.crashloop", "pod.stuck-creating"];

/// Whether the pod mounts a claim bound to a ceph-csi volume.
fn uses_csi(pod: &Pod, ix: &Index) -> bool {
    let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
    pod_claims(pod).any(|c| {
        ix.pvcs
            .get(&(ns, c))
            .and_then(|pvc| pvc.spec.as_ref()?.volume_name.as_deref())
            .and_then(|v| ix.pvs.get(v))
            .is_some_and(|pv| is_csi_rbd(pv))
    })
}

pub(super) fn check<'a>(
    s: &'a Snapshot,
    ix: &Index<'a>,
    explained: &mut Explained<'a>,
    out: &mut Vec<Finding>,
) {
    let sets = plugin_daemonsets(s);
    if sets.is_empty() {
        return;
    }
    let plugins = plugin_pods(s, &sets);
    let mut users: BTreeMap<&'a str, Vec<&'a Pod>> = BTreeMap::new();
    for p in &s.pods {
        let p: &'a Pod = p;
        if p.metadata.deletion_timestamp().is_some()
            || matches!(pod_phase(p), "Succeeded" | "Failed")
        {
            continue;
        }
        if let Some(n) = pod_node(p)
            && !ix.node_not_ready(n)
            && uses_csi(p, ix)
        {
            users.entry(n).or_default().push(p);
        }
    }
    for (node, users) in users {
        let here: Vec<&Pod> = plugins
            .iter()
            .copied()
            .filter(|p| pod_node(p) == Some(node))
            .collect();
        if here.iter().any(|p| plugin_serves(p)) {
            continue;
        }
        let mut taken: Vec<Finding> = Vec::new();
        let covered: Vec<(&str, &str)> = here.iter().chain(&users).map(|p| pod_key(p)).collect();
        out.retain(|f| {
            let mine = ABSORBED.contains(&f.id)
                && f.subject
                    .as_ref()
                    .and_then(|o| o.namespaced_as(ObjRef::POD))
                    .is_some_and(|k| covered.contains(&k));
            if mine {
                taken.push(f.clone());
            }
            !mine
        });
        for p in here.iter().chain(&users) {
            explained.insert(pod_key(p));
        }
        out.push(finding(node, &sets, &here, &users, &taken));
    }
}

fn finding(
    node: &str,
    sets: &[&k8s_openapi::api::apps::v1::DaemonSet],
    here: &[&Pod],
    users: &[&Pod],
    taken: &[Finding],
) -> Finding {
    let ds = sets
        .first()
        .map(|d| {
            format!(
                "{}/{}",
                d.metadata.namespace.as_deref().unwrap_or_default(),
                d.metadata.name.as_deref().unwrap_or_default()
            )
        })
        .unwrap_or_else(|| PLUGIN_APP.to_string());
    let mut evidence = Vec::new();
    if here.is_empty() {
        evidence.push(format!("DaemonSet {ds}: no {PLUGIN_APP} pod on {node}"));
    } else {
        for p in here {
            let (ns, name) = pod_key(p);
            evidence.push(format!(
                "pod {ns}/{name} on {node}: {} (not Ready)",
                pod_status(p)
            ));
        }
    }
    for f in taken {
        for line in &f.evidence {
            evidence.push(format!("{}: {line}", f.object));
        }
    }
    let lines: Vec<String> = users
        .iter()
        .map(|p| {
            let (ns, name) = pod_key(p);
            format!(
                "pod {ns}/{name} on {node} uses a ceph-csi volume ({})",
                pod_status(p)
            )
        })
        .collect();
    evidence.extend(cap_listed(lines, "pods"));
    let stuck = users.iter().any(|p| pod_phase(p) != "Running");
    let explanation = format!(
        "The ceph-csi node plugin ({PLUGIN_APP}, DaemonSet {ds}) stages and mounts ceph-csi volumes on its node, and {node} has no Ready plugin pod. The kubelet on {node} cannot mount, unmount or resize any ceph-csi volume until it has one: {}",
        if stuck {
            "pods there that use such volumes stay ContainerCreating, and pods being deleted cannot release theirs."
        } else {
            "the pods there keep the volumes they have mounted, but the next pod that needs one (or a pod being deleted) gets stuck."
        }
    );
    let fix = match here.first() {
        Some(p) => {
            let (ns, name) = pod_key(p);
            format!(
                "See why the plugin pod is not ready: `kubectl -n {ns} describe pod {name}`, then its logs: `kubectl -n {ns} logs {name} -c csi-rbdplugin` and `-c driver-registrar` (add `--previous` after a restart). Common causes: it cannot reach the Ceph monitors, the ceph-csi ConfigMap is wrong (see csi.config-mismatch), or /var/lib/kubelet/plugins is not writable. Deleting the pod makes the DaemonSet start a fresh one. Once it is Ready, the kubelet registers the driver again and retries the mounts by itself."
            )
        }
        None => format!(
            "The DaemonSet places no pod on {node}: compare its nodeSelector and tolerations (`kubectl -n {} get daemonset {} -o yaml`) with {node}'s labels and taints (`kubectl describe node {node}`). Once a plugin pod runs Ready there, the kubelet retries the mounts by itself.",
            ds.split('/').next().unwrap_or_default(),
            ds.rsplit('/').next().unwrap_or_default()
        ),
    };
    Finding {
        id: "csi.plugin-down",
        severity: if stuck {
            Severity::Critical
        } else {
            Severity::Warning
        },
        subject: Some(ObjRef::cluster("Node", node)),
        object: format!("Node {node}"),
        namespace: None,
        node: Some(node.to_string()),
        evidence,
        explanation,
        fix,
    }
}
