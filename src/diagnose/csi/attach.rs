//! `pv.attached-elsewhere`: a VolumeAttachment to a node that is NotReady or gone
//! still holds a single-node volume, and a pod on another node waits for it (its
//! events say `Multi-Attach error ... Volume is already exclusively attached to one
//! node`). The attach/detach controller lets go by itself only after about 6 minutes
//! of the old node being unhealthy, or at once when the node carries the
//! `node.kubernetes.io/out-of-service` taint (non-graceful node shutdown).

use k8s_openapi::api::core::v1::PersistentVolume;
use k8s_openapi::api::storage::v1::VolumeAttachment;

use super::super::fence;
use super::super::index::{Index, at, event_line, pod_key, pod_node, pod_phase};
use super::super::{Finding, Severity, cap_listed};
use super::{claim_pods, pv_claim, single_node};
use crate::diagnose::ceph::ready_text;
use crate::model::objref::ObjRef;
use crate::model::pod::Pod;
use crate::model::snapshot::Snapshot;

/// The taint of non-graceful node shutdown.
pub(crate) const OUT_OF_SERVICE: &str = "node.kubernetes.io/out-of-service";

/// A VolumeAttachment that blocks pods elsewhere.
pub(crate) struct Held<'a> {
    pub va: &'a VolumeAttachment,
    pub node: &'a str,
    pub pv: &'a PersistentVolume,
    /// Pods on other nodes that use the volume and do not run.
    pub waiting: Vec<&'a Pod>,
}

/// Every attachment that holds a single-node volume on a NotReady or missing node
/// while a pod elsewhere waits for it.
pub(crate) fn held<'a>(s: &'a Snapshot, ix: &Index<'a>) -> Vec<Held<'a>> {
    s.volume_attachments
        .iter()
        .filter_map(|va| {
            let spec = &va.spec;
            let node = spec.node_name.as_str();
            if ix.nodes.contains_key(node) && !ix.node_not_ready(node) {
                return None;
            }
            let pv = *ix.pvs.get(spec.source.persistent_volume_name.as_deref()?)?;
            if !single_node(pv) {
                return None;
            }
            let (ns, claim) = pv_claim(pv)?;
            let waiting: Vec<&Pod> = claim_pods(s, ns, claim)
                .filter(|p| pod_node(p).is_some_and(|n| n != node) && pod_phase(p) == "Pending")
                .collect();
            (!waiting.is_empty()).then_some(Held {
                va: va.as_ref(),
                node,
                pv,
                waiting,
            })
        })
        .collect()
}

/// Whether `pod` waits on an attachment [`held`] reports (its Multi-Attach error is
/// then that finding's evidence, not a finding of its own).
pub(crate) fn pod_waits_on_held(pod: &Pod, s: &Snapshot, ix: &Index) -> bool {
    let key = pod_key(pod);
    held(s, ix)
        .iter()
        .any(|h| h.waiting.iter().any(|p| pod_key(p) == key))
}

pub(super) fn check(s: &Snapshot, ix: &Index, out: &mut Vec<Finding>) {
    for h in held(s, ix) {
        out.push(finding(&h, ix));
    }
}

/// Whether the node carries the out-of-service taint.
fn out_of_service(ix: &Index, node: &str) -> bool {
    ix.nodes
        .get(node)
        .and_then(|n| n.spec.as_ref()?.taints.as_ref())
        .is_some_and(|t| t.iter().any(|t| t.key == OUT_OF_SERVICE))
}

fn finding(h: &Held, ix: &Index) -> Finding {
    let va_name = h.va.metadata.name.as_deref().unwrap_or_default();
    let pv_name = h.pv.metadata.name.as_deref().unwrap_or_default();
    let node = h.node;
    let claim = pv_claim(h.pv)
        .map(|(ns, c)| format!("claim {ns}/{c}"))
        .unwrap_or_else(|| "no claim".to_string());
    let status = h.va.status.as_ref();
    let attached = status.is_some_and(|s| s.attached);
    let mut evidence = vec![format!(
        "VolumeAttachment {va_name}: PV {pv_name} ({claim}) attached to {node} since {} (attached={attached})",
        at(h.va.metadata.creation_timestamp.as_ref())
    )];
    evidence.push(format!("node {node}: {}", ready_text(ix, node)));
    if let Some(e) = status.and_then(|s| s.detach_error.as_ref()) {
        evidence.push(format!(
            "detach error at {}: {}",
            at(e.time.as_ref()),
            e.message.as_deref().unwrap_or_default()
        ));
    }
    if let Some(e) = status.and_then(|s| s.attach_error.as_ref()) {
        evidence.push(format!(
            "attach error at {}: {}",
            at(e.time.as_ref()),
            e.message.as_deref().unwrap_or_default()
        ));
    }
    let tainted = out_of_service(ix, node);
    if tainted {
        evidence.push(format!(
            "{node} has the {OUT_OF_SERVICE} taint: the controller should detach at once"
        ));
    }
    let mut pods: Vec<String> = Vec::new();
    for p in &h.waiting {
        let (ns, name) = pod_key(p);
        let on = pod_node(p).unwrap_or_default();
        match ix.pod_warnings(p).into_iter().next() {
            Some(e) => pods.push(format!(
                "pod {ns}/{name} on {on} (Pending) waits: {}",
                event_line(e)
            )),
            None => pods.push(format!("pod {ns}/{name} on {on} (Pending)")),
        }
    }
    evidence.extend(cap_listed(pods, "pods"));

    let waiting: Vec<String> = h
        .waiting
        .iter()
        .map(|p| {
            let (ns, name) = pod_key(p);
            format!("pod {ns}/{name} on {}", pod_node(p).unwrap_or_default())
        })
        .collect();
    let gone = !ix.nodes.contains_key(node);
    let where_ = if gone {
        format!("{node}, which is no longer a node of the cluster")
    } else {
        format!("{node}, which is NotReady")
    };
    let explanation = format!(
        "Volume {pv_name} ({claim}) can be attached to one node at a time, and the attach/detach controller still counts it attached to {where_} (VolumeAttachment {va_name}). So {} cannot attach it: its events say Multi-Attach error. The controller detaches by force only after the volume has waited about 6 minutes for an unmount the unhealthy node cannot confirm (never, when kube-controller-manager runs with --disable-force-detach-on-timeout), and at once when the node has the {OUT_OF_SERVICE} taint{}.",
        waiting.join(", "),
        if tainted {
            format!(
                ", which {node} has: if the attachment stays, the controller is not running or cannot delete it"
            )
        } else {
            String::new()
        }
    );
    let fix = if gone {
        format!(
            "{node} is gone, so nothing can unmount the volume there: {}. Then delete the attachment: `kubectl delete volumeattachment {va_name}`; the controller attaches the volume to the waiting pod's node on its next try. Press `u` on the waiting pod for the unlock wizard, which does this one confirmed step at a time.",
            fence::recipe(node)
        )
    } else {
        format!(
            "First make sure {node} is really down (powered off, or cut off from the storage network): detaching a volume under a node that still writes to it corrupts the filesystem. Then {}. Then mark the node as shut down: `kubectl taint nodes {node} {OUT_OF_SERVICE}=nodeshutdown:NoExecute`; the controller detaches the volume at once and the waiting pod attaches it and starts. (Instead of the taint you may delete the attachment, `kubectl delete volumeattachment {va_name}`, but the taint also moves {node}'s other pods.) When {node} is back or deleted, remove the taint: `kubectl taint nodes {node} {OUT_OF_SERVICE}=nodeshutdown:NoExecute-`. Press `u` on the waiting pod for the unlock wizard, which does these steps one confirmed step at a time.",
            fence::recipe(node)
        )
    };
    let ns = h.waiting.first().map(|p| pod_key(p).0.to_string());
    Finding {
        id: "pv.attached-elsewhere",
        severity: Severity::Critical,
        subject: Some(ObjRef::cluster("VolumeAttachment", va_name)),
        object: format!("VolumeAttachment {va_name}"),
        namespace: ns,
        node: Some(node.to_string()),
        evidence,
        explanation,
        fix,
    }
}
