//! `rbd.stale-lock`: an RBD image locked by a node that runs no live pod using it (e.g.
//! the kubelet on node1 died holding `kubelet_lock_magic_node1`, and the pod that moved
//! to node2 cannot map the image: "rbd: image ... is locked by other nodes"), and the
//! lock story the `pod.volume-locked` finding tells when Ceph data is there and the
//! lock is not stale (a stale one is this finding's alone: one finding per cause).
//!
//! A lock counts as stale when:
//! - it is Kubernetes' to judge: the image has a PV, or the lock is a kubelet's
//!   (`kubelet_lock_magic_<host>` cookie); locks of clients outside Kubernetes on
//!   images no PV names are left alone;
//! - its holder is known: the node whose IP the lock's address carries, else the node
//!   (or, when no node has that name any more, the host) its kubelet cookie names;
//! - that holder runs no live pod using the image (not terminating, not finished);
//! - and it is not a Ready node whose pod using the image is still shutting down
//!   within its grace (it releases the lock as the pod stops: a rolling update).
//!
//! Critical when a pod using the image sits Pending on another node (it is stuck on
//! the lock), Warning otherwise (the next pod to use the image will be).

use crate::ceph::holders::EntityAddr;
use crate::model::ceph::{FencePermission, fence_caps_fix};
use crate::model::objref::ObjRef;
use crate::model::pod_status::timestamp;
use crate::model::rbd_map::{HeldLock, ImagePod, ImageUse};
use crate::model::snapshot::Snapshot;

use super::super::index::Index;
use super::super::{Finding, Severity, cap_listed};
use super::{Who, lock_line, ready_text, watcher_line};

/// A stale lock and who holds it.
pub(crate) struct Stale<'u> {
    pub held: &'u HeldLock,
    pub who: Who,
}

/// Adds one `rbd.stale-lock` per image with stale locks, except orphaned images
/// (their locks are part of that finding: nobody will map them); returns how many.
pub(super) fn check(
    s: &Snapshot,
    ix: &Index,
    orphans: &[&ImageUse],
    out: &mut Vec<Finding>,
) -> usize {
    let fencing = ix
        .ceph_data()
        .map(|d| &d.fencing)
        .unwrap_or(&FencePermission::Unknown);
    let before = out.len();
    for u in &ix.images {
        if orphans.iter().any(|o| std::ptr::eq(*o, u)) {
            continue;
        }
        let stale = stale_locks(u, s, ix);
        if !stale.is_empty() {
            out.push(finding(u, &stale, fencing, s, ix));
        }
    }
    out.len() - before
}

/// The image's stale locks (see the module doc for the rule).
pub(crate) fn stale_locks<'u>(u: &'u ImageUse, s: &Snapshot, ix: &Index) -> Vec<Stale<'u>> {
    // A finished pod (a completed Job) no longer has its volumes mapped.
    let users: Vec<&str> = u
        .user_nodes()
        .into_iter()
        .filter(|n| {
            u.pods.iter().any(|p| {
                p.node == *n
                    && !p.terminating
                    && !matches!(p.phase.as_str(), "Succeeded" | "Failed")
            })
        })
        .collect();
    u.locks
        .iter()
        .filter(|l| u.pv.is_some() || l.holder.by_cookie.is_some())
        .filter_map(|held| {
            let who = Who::of(&held.holder)?;
            if let Who::Node(n) = &who
                && (users.contains(&n.as_str()) || shutting_down(u, n, s, ix))
            {
                return None;
            }
            Some(Stale { held, who })
        })
        .collect()
}

/// `node` is Ready and a pod using the image there is being deleted, still within its
/// grace: its kubelet releases the lock as the pod stops.
pub(crate) fn shutting_down(u: &ImageUse, node: &str, s: &Snapshot, ix: &Index) -> bool {
    if ix.node_not_ready(node) {
        return false;
    }
    u.pods
        .iter()
        .filter(|p| p.terminating && p.node == node)
        .any(|p| {
            let deadline = s
                .pods
                .iter()
                .find(|q| {
                    q.metadata.namespace.as_deref() == Some(p.namespace.as_str())
                        && q.metadata.name.as_deref() == Some(p.name.as_str())
                })
                .and_then(|q| q.metadata.deletion_timestamp())
                .and_then(timestamp);
            deadline.is_none_or(|d| ix.since(d) < ix.limits.terminating_grace)
        })
}

/// Live pods using the image on a node that is not one of `holders`, not yet running:
/// they wait for the lock.
fn waiting_pods<'u>(u: &'u ImageUse, holders: &[&str]) -> Vec<&'u ImagePod> {
    u.pods
        .iter()
        .filter(|p| {
            !p.terminating
                && !p.node.is_empty()
                && !holders.contains(&p.node.as_str())
                && p.phase == "Pending"
        })
        .collect()
}

/// `claim ns/name` or `no claim`, for sentences.
fn claim_text(u: &ImageUse) -> String {
    u.pvc
        .as_ref()
        .map(|(ns, n)| format!("claim {ns}/{n}"))
        .unwrap_or_else(|| "no claim".to_string())
}

/// `image rbd/x: PV pvc-1 (Bound), claim default/data` or `image rbd/x: no PV`.
pub(crate) fn image_line(u: &ImageUse) -> String {
    match &u.pv {
        Some(pv) => format!(
            "image {}: PV {pv} ({}), {}",
            u.spec(),
            u.pv_phase.as_deref().unwrap_or("no phase"),
            claim_text(u)
        ),
        None => format!("image {}: no PV", u.spec()),
    }
}

/// Names of the holders, each once, in lock order.
fn holder_names<'s>(stale: &'s [Stale]) -> Vec<&'s str> {
    let mut v: Vec<&str> = Vec::new();
    for s in stale {
        if !v.contains(&s.who.name()) {
            v.push(s.who.name());
        }
    }
    v
}

/// Watchers from a holder's node: a live client still has the image open there.
fn live_watchers<'u>(u: &'u ImageUse, stale: &[Stale]) -> Vec<&'u crate::ceph::WatcherInfo> {
    u.watchers
        .iter()
        .filter(|w| {
            stale.iter().any(|s| match &s.who {
                Who::Node(n) => w.holder.by_address.as_deref() == Some(n.as_str()),
                Who::GoneHost(_) => false,
            })
        })
        .map(|w| &w.watcher)
        .collect()
}

/// The sentence on fencing: required when a client on a holder still has the image
/// open, a precaution otherwise.
fn fencing_sentence(u: &ImageUse, stale: &[Stale]) -> String {
    let live = live_watchers(u, stale);
    let holders = holder_names(stale).join(", ");
    if live.is_empty() {
        format!(
            " No client on {holders} has the image open (no watcher from there), so removing the lock is safe; fencing its address first makes sure the old client cannot come back and write."
        )
    } else {
        let who: Vec<String> = live
            .iter()
            .map(|w| format!("{} at {}", w.entity(), w.address))
            .collect();
        format!(
            " A client on {holders} still has the image open ({}): fencing is required — blocklist it before the lock is removed, or it may go on writing to the image while another node mounts it, and corrupt the filesystem.",
            who.join(", ")
        )
    }
}

/// The wizard and the manual commands that fence the holders and remove the locks.
pub(crate) fn unlock_fix(
    u: &ImageUse,
    stale: &[Stale],
    fencing: &FencePermission,
    entity: &str,
    own_addrs: &[String],
) -> String {
    let spec = u.spec();
    // Each lock's address, then the holder's watchers: every client that may write.
    let mut addrs: Vec<String> = Vec::new();
    for s in stale {
        addrs.push(s.held.lock.address.clone());
    }
    addrs.extend(live_watchers(u, stale).iter().map(|w| w.address.clone()));
    let own: Vec<EntityAddr> = own_addrs
        .iter()
        .flat_map(|a| EntityAddr::parse_all(a))
        .collect();
    let mut cmds: Vec<String> = Vec::new();
    for a in addrs {
        // Fencing must never cut off kcops itself.
        let ours = EntityAddr::parse(&a).is_some_and(|e| own.iter().any(|o| e.covers(o)));
        let cmd = format!("`ceph osd blocklist add {a} 3600`");
        if !ours && !cmds.contains(&cmd) {
            cmds.push(cmd);
        }
    }
    for s in stale {
        cmds.push(format!(
            "`rbd lock rm {spec} '{}' {}`",
            s.held.lock.cookie, s.held.lock.locker
        ));
    }
    let mut fix = format!(
        "Press `u` on the pod, its PVC/PV or the image (or type `:unlock`) for the lock-removal wizard: it checks the watchers, fences the holder and removes the lock, one confirmed step at a time. By hand: {}; the kubelet's next mount retry then takes the lock.",
        cmds.join(", then ")
    );
    if let FencePermission::Denied { caps } = fencing {
        fix.push_str(&format!(
            " {entity} may not blocklist (see ceph.fence-denied): run these as client.admin, or first give it the caps: `{}`.",
            fence_caps_fix(entity, osd_caps(caps.as_deref()).as_deref())
        ));
    }
    fix
}

/// The `osd '...'` part of caps as `ceph auth get` prints them (`mon 'allow r' osd 'x'`).
pub(crate) fn osd_caps(caps: Option<&str>) -> Option<String> {
    let caps = caps?;
    let start = caps.find("osd '")? + "osd '".len();
    let len = caps[start..].find('\'')?;
    Some(caps[start..start + len].to_string())
}

fn finding(
    u: &ImageUse,
    stale: &[Stale],
    fencing: &FencePermission,
    s: &Snapshot,
    ix: &Index,
) -> Finding {
    let spec = u.spec();
    let holders = holder_names(stale);
    let waiting = waiting_pods(u, &holders);
    let mut evidence = vec![image_line(u)];
    evidence.extend(stale.iter().map(|s| lock_line(s.held)));
    let mut described: Vec<&str> = Vec::new();
    for s in stale {
        if described.contains(&s.who.name()) {
            continue;
        }
        described.push(s.who.name());
        evidence.push(match &s.who {
            Who::Node(n) => format!("holder {n}: {}", ready_text(ix, n)),
            Who::GoneHost(h) => {
                format!("holder {h}: no node has this name (named by the kubelet lock cookie)")
            }
        });
    }
    let mut pods: Vec<String> = u
        .pods
        .iter()
        .map(|p| {
            let node = if p.node.is_empty() {
                "no node yet".to_string()
            } else {
                format!("on {}", p.node)
            };
            let term = if p.terminating { ", terminating" } else { "" };
            format!("pod {}/{} {node} ({}{term})", p.namespace, p.name, p.phase)
        })
        .collect();
    if pods.is_empty() {
        pods.push("no pod uses the image".to_string());
    }
    evidence.extend(cap_listed(pods, "pods"));
    // The stuck pods' own words: this finding is theirs too (no second finding).
    for p in waiting.iter().take(3) {
        let event = s
            .pods
            .iter()
            .find(|q| {
                q.metadata.namespace.as_deref() == Some(p.namespace.as_str())
                    && q.metadata.name.as_deref() == Some(p.name.as_str())
            })
            .and_then(|q| ix.pod_warnings(q).into_iter().next());
        if let Some(e) = event {
            evidence.push(format!(
                "pod {}/{} waits: {}",
                p.namespace,
                p.name,
                super::super::index::event_line(e)
            ));
        }
    }
    let watchers: Vec<String> = u.watchers.iter().map(watcher_line).collect();
    if watchers.is_empty() {
        evidence.push("no watchers: no client has the image open".to_string());
    } else {
        evidence.extend(cap_listed(watchers, "watchers"));
    }

    let not_ready: Vec<&str> = holders
        .iter()
        .copied()
        .filter(|h| ix.node_not_ready(h))
        .collect();
    let state = match not_ready.as_slice() {
        [] => String::new(),
        [one] if holders.len() == 1 => format!(" ({one} is NotReady)"),
        some => format!(" ({} NotReady)", some.join(", ")),
    };
    let gone = stale.iter().any(|s| matches!(s.who, Who::GoneHost(_)));
    let holder_text = if gone && holders.len() == 1 {
        format!(
            "the kubelet of host {}, which is no longer a node of the cluster",
            holders[0]
        )
    } else {
        format!(
            "{}, which runs no live pod using it{state}",
            holders.join(" and ")
        )
    };
    let used_by = match &u.pv {
        Some(pv) => format!(" (PV {pv}, {})", claim_text(u)),
        None => " (no PV)".to_string(),
    };
    let consequence = if waiting.is_empty() {
        "so the next pod that uses it on another node will stay ContainerCreating until the lock is removed.".to_string()
    } else {
        let names: Vec<String> = waiting
            .iter()
            .map(|p| format!("pod {}/{} on {}", p.namespace, p.name, p.node))
            .collect();
        format!(
            "so no other node can map the image: {} stays ContainerCreating until the lock is removed.",
            names.join(", ")
        )
    };
    let explanation = format!(
        "RBD image {spec}{used_by} is locked by {holder_text}. The lock was taken when the image was mapped there and never released (the node went down, or its pod was force-deleted), {consequence}{}",
        fencing_sentence(u, stale)
    );
    let data = ix.ceph_data();
    let entity = ix.ceph.map(|c| c.entity.as_str()).unwrap_or("client.admin");
    let own = data.map(|d| d.own_addrs.as_slice()).unwrap_or_default();
    Finding {
        id: "rbd.stale-lock",
        severity: if waiting.is_empty() {
            Severity::Warning
        } else {
            Severity::Critical
        },
        subject: Some(ObjRef::at(ObjRef::RBD_IMAGE, &spec)),
        object: format!("RbdImage {spec}"),
        namespace: u.pvc.as_ref().map(|(ns, _)| ns.clone()),
        node: holders.first().map(|h| h.to_string()),
        evidence,
        explanation,
        fix: unlock_fix(u, stale, fencing, entity, own),
    }
}

/// Ceph's side of a pod stuck on a lock (`pod.volume-locked`).
pub(crate) struct LockStory {
    /// Each lock and watcher of the image, with its holder.
    pub evidence: Vec<String>,
    /// Stale holders, for "is still locked by ...": empty when there are none.
    pub holder: String,
    /// Other nodes that hold it for a live pod of theirs (a ReadWriteOnce claim used on
    /// two nodes), for "is locked by ...": empty when there are none.
    pub shared: String,
    /// The fencing sentence (starts with a space), when a stale lock is the cause.
    pub fencing: String,
    /// The fix, when Ceph data says more than the generic one.
    pub fix: Option<String>,
}

/// What Ceph says about the image a pod on `pod_node` cannot mount.
pub(crate) fn pod_lock_story(u: &ImageUse, pod_node: &str, s: &Snapshot, ix: &Index) -> LockStory {
    let evidence = super::image_lines(u, ix);
    let stale = stale_locks(u, s, ix);
    let mut phrases: Vec<String> = Vec::new();
    let mut shared: Vec<String> = Vec::new();
    for st in &stale {
        let phrase = match &st.who {
            Who::Node(n) if ix.node_not_ready(n) => {
                format!("{n}, which no longer runs it ({n} is NotReady)")
            }
            Who::Node(n) => format!("{n}, which no longer runs it"),
            Who::GoneHost(h) => {
                format!("host {h}, which is no longer a node of the cluster")
            }
        };
        if !phrases.contains(&phrase) {
            phrases.push(phrase);
        }
    }
    // Locks by another node that does run a pod using the image: two pods on two
    // nodes share the claim.
    for l in &u.locks {
        if let Some(Who::Node(n)) = Who::of(&l.holder)
            && n != pod_node
            && !stale.iter().any(|st| st.who.name() == n)
        {
            let others: Vec<String> = u
                .pods
                .iter()
                .filter(|p| p.node == n && !p.terminating)
                .map(|p| format!("{}/{}", p.namespace, p.name))
                .collect();
            let phrase = format!("{n}, where pod {} uses the same claim", others.join(", "));
            if !shared.contains(&phrase) {
                shared.push(phrase);
            }
        }
    }
    let data = ix.ceph_data();
    let fix = if stale.is_empty() {
        None
    } else {
        let fencing = data
            .map(|d| &d.fencing)
            .unwrap_or(&FencePermission::Unknown);
        let entity = ix.ceph.map(|c| c.entity.as_str()).unwrap_or("client.admin");
        let own = data.map(|d| d.own_addrs.as_slice()).unwrap_or_default();
        Some(unlock_fix(u, &stale, fencing, entity, own))
    };
    LockStory {
        evidence,
        holder: phrases.join(" and "),
        shared: shared.join(" and "),
        fencing: if stale.is_empty() {
            String::new()
        } else {
            fencing_sentence(u, &stale)
        },
        fix,
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::fixtures::*;
    use super::super::super::{Severity, diagnose};
    use crate::model::ceph::FencePermission;
    use crate::model::snapshot::Snapshot;

    const IMG: &str = "kubernetes-dynamic-pvc-42";

    /// A dead kubelet's lock, with Ceph: node1 (NotReady) holds the lock, the pod now
    /// waits on node2 with FailedMount "rbd: image ... is locked by other nodes".
    fn dead_kubelet_lock(watched_from_node1: bool) -> Snapshot {
        let mut s = snapshot();
        s.nodes.push(node_at("master", "True", "198.18.1.10"));
        s.nodes.push(node_at("node1", "Unknown", "198.18.1.11"));
        s.nodes.push(node_at("node2", "True", "198.18.1.12"));
        rbd_volume(&mut s, "default", "index-api-pvc", "pvc-1", "rbd", IMG);
        let p = using_claim(
            creating_pod("default", "index-api-x2", "node2", 30),
            "index-api-pvc",
        );
        s.events.push(pod_event(&p, "Warning", "FailedMount",
            &format!("MountVolume.WaitForAttach failed for volume \"pvc-1\" : rbd: image {IMG} is locked by other nodes"), 1));
        s.pods.push(p);
        let watchers = if watched_from_node1 {
            vec![watcher("198.18.1.11", 4152)]
        } else {
            Vec::new()
        };
        s.ceph = Some(ceph_report(ceph_data(vec![image(
            "rbd",
            IMG,
            vec![kubelet_lock("node1", "198.18.1.11", 4150)],
            watchers,
        )])));
        s
    }

    #[test]
    fn lock_of_a_node_without_the_pod_is_stale_and_critical_while_a_pod_waits() {
        let s = dead_kubelet_lock(false);
        let all = diagnose(&s);
        assert_eq!(
            ids(&all),
            [
                ("node.notready", "Node node1".to_string()),
                ("rbd.stale-lock", format!("RbdImage rbd/{IMG}")),
            ]
        );
        let f = &all[1];
        assert_eq!(f.severity, Severity::Critical);
        assert_eq!(f.node.as_deref(), Some("node1"));
        assert_eq!(f.namespace.as_deref(), Some("default"));
        assert_eq!(
            f.evidence,
            [
                format!("image rbd/{IMG}: PV pvc-1 (Bound), claim default/index-api-pvc"),
                "lock 'kubelet_lock_magic_node1' by client.4150 at 198.18.1.11:0/5150 (advisory, exclusive)".to_string(),
                format!("holder node1: Ready=Unknown since {} (NodeStatusUnknown)", ago(300)),
                "pod default/index-api-x2 on node2 (Pending)".to_string(),
                format!("pod default/index-api-x2 waits: FailedMount: MountVolume.WaitForAttach failed for volume \"pvc-1\" : rbd: image {IMG} is locked by other nodes"),
                "no watchers: no client has the image open".to_string(),
            ]
        );
        assert!(
            f.explanation.contains(
                "is locked by node1, which runs no live pod using it (node1 is NotReady)"
            ) && f
                .explanation
                .contains("pod default/index-api-x2 on node2 stays ContainerCreating")
                && f.explanation.contains("removing the lock is safe"),
            "{}",
            f.explanation
        );
        assert!(
            f.fix.contains("Press `u`")
                && f.fix.contains(&format!(
                    "`ceph osd blocklist add 198.18.1.11:0/5150 3600`, then `rbd lock rm rbd/{IMG} 'kubelet_lock_magic_node1' client.4150`"
                )),
            "{}",
            f.fix
        );
    }

    #[test]
    fn a_watcher_from_the_holder_means_fencing_is_required() {
        let s = dead_kubelet_lock(true);
        let f = only(&s, "rbd.stale-lock");
        assert_eq!(f.len(), 1);
        assert_eq!(
            f[0].evidence.last().map(String::as_str),
            Some("watcher client.4152 at 198.18.1.11:0/6152 from node1")
        );
        assert!(
            f[0].explanation.contains("fencing is required")
                && f[0]
                    .explanation
                    .contains("client.4152 at 198.18.1.11:0/6152"),
            "{}",
            f[0].explanation
        );
        // Both clients on node1 are fenced before the lock goes.
        assert!(
            f[0].fix.contains("`ceph osd blocklist add 198.18.1.11:0/5150 3600`, then `ceph osd blocklist add 198.18.1.11:0/6152 3600`, then `rbd lock rm"),
            "{}",
            f[0].fix
        );
    }

    #[test]
    fn a_stale_lock_is_one_finding_with_the_stuck_pod_as_evidence() {
        let s = dead_kubelet_lock(false);
        assert!(only(&s, "pod.volume-locked").is_empty());
        let f = only(&s, "rbd.stale-lock");
        assert_eq!(f.len(), 1);
        assert!(
            f[0].evidence
                .iter()
                .any(|l| l.starts_with("pod default/index-api-x2 waits: FailedMount")),
            "{:?}",
            f[0].evidence
        );
    }

    #[test]
    fn without_ceph_data_the_pod_finding_names_the_likely_holder() {
        let mut s = dead_kubelet_lock(false);
        s.ceph = None;
        let f = only(&s, "pod.volume-locked");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Critical);
        assert!(
            f[0].explanation
                .contains("most likely node1, which is NotReady"),
            "{}",
            f[0].explanation
        );
    }

    #[test]
    fn volume_locked_by_a_live_pod_elsewhere_or_by_nobody_now() {
        // Two pods of a ReadWriteOnce claim on two nodes: node3's lock is not stale.
        let mut s = dead_kubelet_lock(false);
        s.nodes.push(node_at("node3", "True", "198.18.1.13"));
        s.pods.push(using_claim(
            pod("default", "index-api-old", "node3"),
            "index-api-pvc",
        ));
        if let Some(d) = s
            .ceph
            .as_mut()
            .map(std::sync::Arc::make_mut)
            .and_then(|r| r.data.as_mut())
        {
            d.images[0].lockers = vec![kubelet_lock("node3", "198.18.1.13", 7)];
        }
        assert!(only(&s, "rbd.stale-lock").is_empty());
        let f = only(&s, "pod.volume-locked");
        assert!(
            f[0].explanation.contains(&format!(
                "RBD image rbd/{IMG} is locked by node3, where pod default/index-api-old uses the same claim"
            )),
            "{}",
            f[0].explanation
        );
        assert!(f[0].fix.starts_with("See who holds it"), "{}", f[0].fix);

        // The lock is gone by now: the next retry mounts it.
        if let Some(d) = s
            .ceph
            .as_mut()
            .map(std::sync::Arc::make_mut)
            .and_then(|r| r.data.as_mut())
        {
            d.images[0].lockers.clear();
        }
        let f = only(&s, "pod.volume-locked");
        assert_eq!(f.len(), 1);
        assert_eq!(
            f[0].evidence.last().map(String::as_str),
            Some(format!("rbd/{IMG}: no locks and no watchers").as_str())
        );
        assert!(
            f[0].explanation
                .contains("Ceph shows no lock by another node now"),
            "{}",
            f[0].explanation
        );
    }

    #[test]
    fn no_finding_when_the_holder_runs_the_pod() {
        let mut s = snapshot();
        s.nodes.push(node_at("node1", "True", "198.18.1.11"));
        rbd_volume(&mut s, "default", "c", "pvc-1", "rbd", IMG);
        s.pods.push(using_claim(pod("default", "p", "node1"), "c"));
        s.ceph = Some(ceph_report(ceph_data(vec![image(
            "rbd",
            IMG,
            vec![kubelet_lock("node1", "198.18.1.11", 4150)],
            vec![watcher("198.18.1.11", 4152)],
        )])));
        assert!(diagnose(&s).is_empty(), "{:?}", diagnose(&s));
    }

    #[test]
    fn without_a_waiting_pod_it_is_a_warning_and_gone_nodes_count() {
        let mut s = snapshot();
        s.nodes.push(node_at("node2", "True", "198.18.1.12"));
        rbd_volume(&mut s, "default", "c", "pvc-1", "rbd", IMG);
        // Scaled to zero: no pod; the lock names a node that was deleted, taken from
        // an address no node has.
        s.ceph = Some(ceph_report(ceph_data(vec![image(
            "rbd",
            IMG,
            vec![kubelet_lock("node9", "10.9.9.9", 77)],
            Vec::new(),
        )])));
        let f = diagnose(&s);
        assert_eq!(ids(&f), [("rbd.stale-lock", format!("RbdImage rbd/{IMG}"))]);
        assert_eq!(f[0].severity, Severity::Warning);
        assert!(
            f[0].evidence.contains(
                &"holder node9: no node has this name (named by the kubelet lock cookie)"
                    .to_string()
            ),
            "{:?}",
            f[0].evidence
        );
        assert!(f[0].evidence.contains(&"no pod uses the image".to_string()));
        assert!(
            f[0].explanation
                .contains("the kubelet of host node9, which is no longer a node of the cluster")
                && f[0].explanation.contains("the next pod that uses it"),
            "{}",
            f[0].explanation
        );
    }

    #[test]
    fn foreign_locks_and_rolling_updates_are_left_alone() {
        let mut s = snapshot();
        s.nodes.push(node_at("node1", "True", "198.18.1.11"));
        s.nodes.push(node_at("node2", "True", "198.18.1.12"));
        rbd_volume(&mut s, "default", "c", "pvc-1", "rbd", IMG);
        // The old pod on node1 is stopping within its grace; the new one waits on node2.
        s.pods.push(with(
            using_claim(pod("default", "old", "node1"), "c"),
            json!({"metadata": {"deletionTimestamp": ago(-20)}}),
        ));
        s.pods
            .push(using_claim(creating_pod("default", "new", "node2", 5), "c"));
        // An operator's own image (no PV) locked by hand from node1: not Kubernetes'.
        let mut manual = kubelet_lock("x", "198.18.1.11", 9);
        manual.cookie = "backup".to_string();
        s.ceph = Some(ceph_report(ceph_data(vec![
            image(
                "rbd",
                IMG,
                vec![kubelet_lock("node1", "198.18.1.11", 4150)],
                vec![watcher("198.18.1.11", 4152)],
            ),
            image(
                "rbd",
                "vm-disk-1",
                vec![manual],
                vec![watcher("198.18.1.11", 9)],
            ),
        ])));
        assert!(only(&s, "rbd.stale-lock").is_empty());

        // Past its deadline plus grace the old pod no longer excuses the lock.
        let old = s.pods.remove(0);
        s.pods.insert(
            0,
            with(old, json!({"metadata": {"deletionTimestamp": ago(120)}})),
        );
        let f = only(&s, "rbd.stale-lock");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Critical);
        assert!(
            f[0].explanation.contains("fencing is required"),
            "{}",
            f[0].explanation
        );
    }

    #[test]
    fn denied_fencing_says_how_to_get_the_caps() {
        let mut s = dead_kubelet_lock(false);
        if let Some(report) = s.ceph.as_mut().map(std::sync::Arc::make_mut) {
            report.entity = "client.kube".to_string();
            if let Some(d) = report.data.as_mut() {
                d.fencing = FencePermission::Denied {
                    caps: Some("mon 'allow r' osd 'allow rwx pool=rbd'".to_string()),
                };
            }
        }
        let f = only(&s, "rbd.stale-lock");
        assert!(
            f[0].fix
                .contains("client.kube may not blocklist (see ceph.fence-denied)")
                && f[0].fix.contains(
                    "`ceph auth caps client.kube mon 'profile rbd' osd 'allow rwx pool=rbd'`"
                ),
            "{}",
            f[0].fix
        );
    }

    #[test]
    fn osd_caps_are_read_from_the_caps_line() {
        assert_eq!(
            super::osd_caps(Some("mon 'allow r' osd 'profile rbd pool=kube'")).as_deref(),
            Some("profile rbd pool=kube")
        );
        assert_eq!(super::osd_caps(Some("mon 'allow r'")), None);
        assert_eq!(super::osd_caps(None), None);
    }
}
