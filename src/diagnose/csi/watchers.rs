//! `rbd.stale-watcher`: the ceph-csi form of the stale lock. When ceph-csi stages a
//! volume, the node's kernel client opens the image and watches it; a node that dies
//! without unmapping leaves that watch behind (until the client is fenced or the node
//! comes back and unmaps), and ceph-csi refuses to stage a single-node image another
//! client still watches: `rbd image <pool>/<image> is still being used`.
//!
//! A watch counts as stale when its image belongs to a single-node ceph-csi PV, its
//! address is a node's that runs no live pod using the image (and none shutting down
//! within its grace there), a pod using the image waits (Pending) on another node,
//! and either the watching node is NotReady or the waiting pod's newest warning says
//! `is still being used`. An image with a stale lock (an image with the
//! exclusive-lock feature) is `rbd.stale-lock`'s: one finding per cause.

use crate::ceph::holders::EntityAddr;
use crate::model::ceph::FencePermission;
use crate::model::objref::ObjRef;
use crate::model::pod::Pod;
use crate::model::rbd_map::{HeldWatch, ImagePod, ImageUse};
use crate::model::snapshot::Snapshot;

use super::super::ceph::locks::{image_line, shutting_down, stale_locks};
use super::super::ceph::{ready_text, watcher_line};
use super::super::index::{Index, event_line};
use super::super::{Finding, Severity, cap_listed, fence};
use super::{is_csi_rbd, single_node};

/// ceph-csi's refusal to stage an image another client watches.
const STILL_USED: &str = "is still being used";

/// A stale watch and the node it comes from.
pub(crate) struct StaleWatch<'u> {
    pub held: &'u HeldWatch,
    pub node: &'u str,
}

pub(super) fn check(s: &Snapshot, ix: &Index, out: &mut Vec<Finding>) {
    for u in &ix.images {
        let stale = stale_watchers(u, s, ix);
        if !stale.is_empty() {
            out.push(finding(u, &stale, s, ix));
        }
    }
}

fn pod_of<'s>(s: &'s Snapshot, p: &ImagePod) -> Option<&'s Pod> {
    s.pods
        .iter()
        .find(|q| {
            q.metadata.namespace.as_deref() == Some(p.namespace.as_str())
                && q.metadata.name.as_deref() == Some(p.name.as_str())
        })
        .map(|q| q.as_ref())
}

/// Live pods using the image that wait (Pending) on a node other than `node`.
fn waiting_elsewhere<'u>(u: &'u ImageUse, node: &str) -> Vec<&'u ImagePod> {
    u.pods
        .iter()
        .filter(|p| !p.terminating && !p.node.is_empty() && p.node != node && p.phase == "Pending")
        .collect()
}

/// The image's stale watches (see the module doc for the rule).
pub(crate) fn stale_watchers<'u>(u: &'u ImageUse, s: &Snapshot, ix: &Index) -> Vec<StaleWatch<'u>> {
    let csi_rwo =
        u.pv.as_deref()
            .and_then(|n| ix.pvs.get(n))
            .is_some_and(|pv| is_csi_rbd(pv) && single_node(pv));
    if !csi_rwo || u.watchers.is_empty() || !stale_locks(u, s, ix).is_empty() {
        return Vec::new();
    }
    let users: Vec<&str> = u
        .pods
        .iter()
        .filter(|p| {
            !p.terminating
                && !p.node.is_empty()
                && !matches!(p.phase.as_str(), "Succeeded" | "Failed")
        })
        .map(|p| p.node.as_str())
        .collect();
    u.watchers
        .iter()
        .filter_map(|w| {
            let node = w.holder.by_address.as_deref()?;
            if users.contains(&node) || shutting_down(u, node, s, ix) {
                return None;
            }
            let waiting = waiting_elsewhere(u, node);
            if waiting.is_empty() {
                return None;
            }
            let refused = waiting.iter().any(|p| {
                pod_of(s, p)
                    .and_then(|q| ix.pod_warnings(q).into_iter().next())
                    .and_then(|e| e.message.as_deref())
                    .is_some_and(|m| m.contains(STILL_USED))
            });
            (ix.node_not_ready(node) || refused).then_some(StaleWatch { held: w, node })
        })
        .collect()
}

/// Node names, each once, in watcher order.
fn nodes<'u>(stale: &[StaleWatch<'u>]) -> Vec<&'u str> {
    let mut v: Vec<&str> = Vec::new();
    for w in stale {
        if !v.contains(&w.node) {
            v.push(w.node);
        }
    }
    v
}

fn finding(u: &ImageUse, stale: &[StaleWatch], s: &Snapshot, ix: &Index) -> Finding {
    let spec = u.spec();
    let holders = nodes(stale);
    let mut evidence = vec![image_line(u)];
    for w in stale {
        let ip = w
            .held
            .holder
            .addr
            .map(|a| a.ip.to_string())
            .unwrap_or_default();
        evidence.push(format!(
            "{} (the address is {}'s InternalIP {ip})",
            watcher_line(w.held),
            w.node
        ));
    }
    for n in &holders {
        evidence.push(format!("node {n}: {}", ready_text(ix, n)));
        evidence.push(format!("no live pod using the volume runs on {n}"));
    }
    let waiting = waiting_elsewhere(u, holders.first().copied().unwrap_or_default());
    let mut pods: Vec<String> = Vec::new();
    for p in &waiting {
        let event = pod_of(s, p).and_then(|q| ix.pod_warnings(q).into_iter().next());
        pods.push(match event {
            Some(e) => format!(
                "pod {}/{} on {} (Pending) waits: {}",
                p.namespace,
                p.name,
                p.node,
                event_line(e)
            ),
            None => format!("pod {}/{} on {} (Pending)", p.namespace, p.name, p.node),
        });
    }
    evidence.extend(cap_listed(pods, "pods"));

    let who = holders.join(" and ");
    let not_ready: Vec<&str> = holders
        .iter()
        .copied()
        .filter(|n| ix.node_not_ready(n))
        .collect();
    let state = if not_ready.is_empty() {
        String::new()
    } else {
        format!(" ({} NotReady)", not_ready.join(", "))
    };
    let names: Vec<String> = waiting
        .iter()
        .map(|p| format!("pod {}/{} on {}", p.namespace, p.name, p.node))
        .collect();
    let used_by = match (&u.pv, &u.pvc) {
        (Some(pv), Some((ns, c))) => format!(" (PV {pv}, claim {ns}/{c})"),
        (Some(pv), None) => format!(" (PV {pv})"),
        _ => String::new(),
    };
    let explanation = format!(
        "RBD image {spec}{used_by} may be used by one node at a time, and a client on {who}{state} still has it open (a watch), although no live pod there uses it: the node's kernel client mapped it when ceph-csi staged the volume and never unmapped it (the node went down, or its pod was force-deleted). ceph-csi refuses to stage an image another client watches (`rbd image {spec} is still being used`), so {} stays ContainerCreating. The watch goes away only when that client unmaps the image or is fenced; a client that is merely unreachable may still write, so fence it before another node mounts the image.",
        names.join(", ")
    );

    let data = ix.ceph_data();
    let own: Vec<EntityAddr> = data
        .map(|d| d.own_addrs.as_slice())
        .unwrap_or_default()
        .iter()
        .flat_map(|a| EntityAddr::parse_all(a))
        .collect();
    let mut cmds: Vec<String> = Vec::new();
    for w in stale {
        let a = &w.held.watcher.address;
        let ours = EntityAddr::parse(a).is_some_and(|e| own.iter().any(|o| e.covers(o)));
        let cmd = format!("`ceph osd blocklist add {a} {}`", fence::FENCE_SECONDS);
        if !ours && !cmds.contains(&cmd) {
            cmds.push(cmd);
        }
    }
    let mut fix = format!(
        "Press `u` on the waiting pod (or type `:unlock`) for the unlock wizard: it checks that {who} runs no user of the image, fences the old client and waits for the pod to start, one confirmed step at a time. By hand: make sure {who} is really down or no longer uses the image, then fence the old client: {} (one hour; it cuts only that client off from Ceph, not {who}'s later ones). Ceph drops the watch about 30 seconds later and ceph-csi's next mount try stages the volume. If the volume is also still attached to {who} (pv.attached-elsewhere), clear that too. When {who} comes back, reboot it or unmap the image there (`rbd unmap`) before the fence expires.",
        cmds.join(", then ")
    );
    if let Some(FencePermission::Denied { .. }) = data.map(|d| &d.fencing) {
        let entity = ix.ceph.map(|c| c.entity.as_str()).unwrap_or("client.admin");
        fix.push_str(&format!(
            " {entity} may not blocklist (see ceph.fence-denied): run the blocklist command as client.admin."
        ));
    }
    Finding {
        id: "rbd.stale-watcher",
        severity: Severity::Critical,
        subject: Some(ObjRef::at(ObjRef::RBD_IMAGE, &spec)),
        object: format!("RbdImage {spec}"),
        namespace: u.pvc.as_ref().map(|(ns, _)| ns.clone()),
        node: holders.first().map(|h| h.to_string()),
        evidence,
        explanation,
        fix,
    }
}
