//! The ceph-csi path of the unlock wizard, without I/O. A node that died with an
//! `rbd.csi.ceph.com` volume staged leaves two things: its kernel client's watcher on
//! the image (ceph-csi refuses to stage it elsewhere: "is still being used") and its
//! VolumeAttachment (the attach/detach controller refuses a second node: Multi-Attach,
//! for 6 minutes, or for good without the out-of-service taint). The plan fences the
//! node's clients, releases the attachment (taint, or delete it), and waits until the
//! new pod runs with the volume attached and staged on its own node.
//!
//! Once that is done, the same wizard on the same volume finds nothing held and
//! offers what is left: removing the taint from a node that is back.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::assess::{is_ready, name_of, permission, permission_blocker, pod_node};
use super::{
    Attachment, CsiVolume, DELETE_ATTACHMENT_KEY, DETACH_TIMEOUT, FENCE_EXPIRE, Found, Live,
    NodeFacts, POD_TIMEOUT, WATCH_DROP_TIMEOUT,
};
use crate::ceph::holders::{EntityAddr, NodeIndex};
use crate::diagnose::fence::FENCE_SECONDS;
use crate::ops::op::{OUT_OF_SERVICE_TAINT, ObjectRef, Op, WaitFor, human_duration};
use crate::ops::plan::{Confirmation, Plan, Step};
use crate::ops::wizard::{Page, Wizard, WizardOption};

/// A node that holds the volume (a watcher from its address, an attachment to it)
/// while the pod waits elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Holder {
    node: String,
    /// `(address, client.N)` of its watchers on the image.
    watchers: Vec<(String, String)>,
    /// Its VolumeAttachments of the volume.
    attachments: Vec<String>,
    /// It has a Node object (a deleted node cannot be tainted).
    exists: bool,
}

/// The wizard for a ceph-csi volume: `what` is the first page as the in-tree path
/// built it.
pub(super) fn assess(
    mut w: Wizard,
    mut what: Page,
    found: &Found,
    csi: &CsiVolume,
    live: &Live,
) -> Wizard {
    let spec = format!("{}/{}", found.pool, found.image);
    w.title = format!(
        "Release volume {} (RBD image {spec}) from a dead node",
        csi.pv
    );
    what.plain(format!(
        "CSI volume {} (driver {}, handle {})",
        csi.pv, csi.driver, csi.handle
    ));
    let index = NodeIndex::new(
        live.nodes
            .iter()
            .flat_map(|n| n.ips.iter().map(move |ip| (n.name.as_str(), *ip))),
    );
    for wt in &live.image.watchers {
        let from = EntityAddr::parse(&wt.address)
            .and_then(|a| index.node_by_ip(a.ip))
            .unwrap_or("no known node");
        what.plain(format!(
            "Watcher {} at {} ({from})",
            wt.entity(),
            wt.address
        ));
    }
    if live.image.watchers.is_empty() {
        what.plain("The image has no watcher");
    }
    for a in &live.attachments {
        what.plain(attachment_line(a));
    }
    if live.attachments.is_empty() {
        what.plain("No VolumeAttachment of this volume");
    }
    w.pages.push(what);

    // Nothing waits (the pod it was opened on runs) and a user runs: the volume is
    // where it belongs; what is left is a taint from an earlier release.
    let running = found.stuck.as_ref().is_none_or(is_ready) && found.users.iter().any(is_ready);
    if running {
        return follow_up(w, found, &live.nodes);
    }
    let stuck_node = found.stuck.as_ref().map(pod_node).unwrap_or_default();

    // 2. Evidence.
    let Evidence {
        page: ev,
        holders,
        unknown,
        alive,
        in_use,
    } = evidence(found, live, &index, &stuck_node);
    w.pages.push(ev);

    // 3. Permission.
    let fenced: Vec<&str> = holders
        .values()
        .flat_map(|h| h.watchers.iter().map(|(a, _)| a.as_str()))
        .collect();
    let (perm, own_hit) = permission(&live.fencing, &fenced);
    w.pages.push(perm);

    // Blockers, most basic first.
    let held = Held {
        spec: &spec,
        pv: &csi.pv,
        nothing: holders.is_empty() && unknown.is_empty(),
        alive: &alive,
        in_use: &in_use,
        unknown: &unknown,
    };
    block_unless_dead(&mut w, &held);
    if let Some(hit) = &own_hit {
        w.block(
            format!("fencing would cut off kcops itself: {hit}"),
            Vec::new(),
        );
    }
    if let Some((reason, fix)) = permission_blocker(&live.fencing) {
        w.block(reason, fix);
    }

    // 4. The plan.
    let holders: Vec<Holder> = holders.into_values().collect();
    if holders
        .iter()
        .any(|h| h.exists && !h.attachments.is_empty())
    {
        w.add_option(
            DELETE_ATTACHMENT_KEY,
            "delete the stale VolumeAttachment instead of tainting the node (the controller notices at its next sync, about a minute; no taint to remove later, but the node's pods are not cleaned up)",
            false,
        );
    }
    let volume = PlanVolume {
        pool: found.pool.clone(),
        image: found.image.clone(),
        pv: csi.pv.clone(),
        claim: found.claim.clone(),
    };
    let after_holders = holders.clone();
    w.set_plan(Arc::new(move |opts: &[WizardOption]| {
        build_plan(&volume, &holders, delete_attachment(opts))
    }));
    w.set_after(Arc::new(move |opts: &[WizardOption]| {
        after(&after_holders, delete_attachment(opts))
    }));
    w
}

/// The second page and what it found: the nodes holding the volume while the pod
/// waits on `stuck_node`, and why any of them is not known to be done with it.
struct Evidence {
    page: Page,
    holders: BTreeMap<String, Holder>,
    /// Watcher addresses from no node.
    unknown: Vec<String>,
    /// Holders that are Ready.
    alive: Vec<String>,
    /// Holders with live users of the volume, and those pods.
    in_use: Vec<(String, Vec<String>)>,
}

fn evidence(found: &Found, live: &Live, index: &NodeIndex, stuck_node: &str) -> Evidence {
    let nodes: BTreeMap<&str, &NodeFacts> =
        live.nodes.iter().map(|n| (n.name.as_str(), n)).collect();
    let mut ev = Page::new("Evidence");
    let mut holders: BTreeMap<String, Holder> = BTreeMap::new();
    let mut unknown: Vec<String> = Vec::new();
    let holder = |holders: &mut BTreeMap<String, Holder>, node: &str| {
        holders.entry(node.to_string()).or_insert_with(|| Holder {
            node: node.to_string(),
            watchers: Vec::new(),
            attachments: Vec::new(),
            exists: nodes.contains_key(node),
        });
    };
    for wt in &live.image.watchers {
        let node = EntityAddr::parse(&wt.address).and_then(|a| index.node_by_ip(a.ip));
        match node {
            Some(n) if n == stuck_node => ev.plain(format!(
                "Watcher {} at {} is from {n}, the node the pod waits on: left alone",
                wt.entity(),
                wt.address
            )),
            Some(n) => {
                holder(&mut holders, n);
                if let Some(h) = holders.get_mut(n) {
                    h.watchers.push((wt.address.clone(), wt.entity()));
                }
            }
            None => {
                ev.bad(format!(
                    "Watcher {} at {} is from no node's InternalIP: it is not known to be a dead node's client",
                    wt.entity(),
                    wt.address
                ));
                unknown.push(wt.address.clone());
            }
        }
    }
    for a in &live.attachments {
        if a.node != stuck_node {
            holder(&mut holders, &a.node);
            if let Some(h) = holders.get_mut(&a.node) {
                h.attachments.push(a.name.clone());
            }
        }
    }
    let live_users: Vec<(String, String)> = found
        .users
        .iter()
        .filter(|p| p.metadata.deletion_timestamp().is_none())
        .map(|p| {
            let ns = p.metadata.namespace.clone().unwrap_or_default();
            (format!("{ns}/{}", name_of(p)), pod_node(p))
        })
        .collect();
    let mut alive: Vec<String> = Vec::new();
    let mut in_use: Vec<(String, Vec<String>)> = Vec::new();
    for h in holders.values() {
        let n = &h.node;
        match nodes.get(n.as_str()) {
            Some(nf) if nf.ready => {
                ev.bad(format!(
                    "Node {n} is Ready: its kubelet still reports, so its client is not dead"
                ));
                alive.push(n.clone());
            }
            Some(nf) => ev.ok(match nf.not_ready_for {
                Some(d) => format!("Node {n} is NotReady, for {}", human_duration(d)),
                None => format!("Node {n} is NotReady"),
            }),
            None => ev.warn(format!(
                "Node {n} is gone (no Node object): its attachment is left over"
            )),
        }
        let there: Vec<String> = live_users
            .iter()
            .filter(|(_, pn)| pn == n)
            .map(|(p, _)| p.clone())
            .collect();
        if there.is_empty() {
            ev.ok(format!("No live pod using this volume runs on {n}"));
        } else {
            for p in &there {
                ev.bad(format!(
                    "Pod {p} on {n} still uses this volume: {n} is not done with it"
                ));
            }
            in_use.push((n.clone(), there));
        }
        let ips = nodes
            .get(n.as_str())
            .map(|nf| {
                nf.ips
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        for (addr, entity) in &h.watchers {
            ev.ok(format!(
                "Watcher {entity} at {addr} is from {n}'s address ({ips}): its kernel RBD client, fenced first"
            ));
        }
        if h.watchers.is_empty() {
            ev.ok(format!("No watcher from {n}: nothing of it to fence"));
        }
        for a in live.attachments.iter().filter(|a| a.node == *n) {
            ev.warn(format!(
                "{}: the attach/detach controller keeps the volume on {n} (Multi-Attach for any other node)",
                attachment_line(a)
            ));
        }
        if h.attachments.is_empty() {
            ev.ok(format!("No VolumeAttachment of this volume to {n}"));
        }
    }
    Evidence {
        page: ev,
        holders,
        unknown,
        alive,
        in_use,
    }
}

/// What the blockers of the CSI path judge.
struct Held<'a> {
    spec: &'a str,
    pv: &'a str,
    /// No watcher or attachment elsewhere.
    nothing: bool,
    alive: &'a [String],
    in_use: &'a [(String, Vec<String>)],
    unknown: &'a [String],
}

/// Stops the wizard, with the commands that would unblock it, unless every holder is
/// known to be dead for the volume: NotReady, no live user of it there, its watchers
/// at its own address.
fn block_unless_dead(w: &mut Wizard, h: &Held) {
    if h.nothing {
        w.block_as(
            format!(
                "volume {} is held by no other node (no watcher, no VolumeAttachment elsewhere); the pod waits for something else (see its events)",
                h.pv
            ),
            Vec::new(),
            None,
        );
    }
    for n in h.alive {
        w.block_as(
            format!("node {n} is Ready: its client is not known to be dead, and is not cut off"),
            vec![
                format!("kubectl get node {n} -o wide    # alive: let it release the volume"),
                format!(
                    "kubectl drain {n} --ignore-daemonsets --delete-emptydir-data    # its pods leave and its kubelet unstages the volume"
                ),
            ],
            None,
        );
    }
    for (n, pods) in h.in_use {
        let mut fix: Vec<String> = pods
            .iter()
            .map(|p| {
                let (ns, name) = p.split_once('/').unwrap_or(("default", p));
                format!("kubectl -n {ns} delete pod {name}    # the volume's user on {n}")
            })
            .collect();
        fix.push(format!(
            "# if {n} is dead the pod stays Terminating: open this wizard again"
        ));
        w.block_as(
            format!(
                "pod {} on {n} still uses the volume: {n} is not done with it",
                pods.join(", ")
            ),
            fix,
            None,
        );
    }
    if !h.unknown.is_empty() {
        let mut fix = vec![format!(
            "rbd status {}    # find which machine each watcher is",
            h.spec
        )];
        for a in h.unknown {
            fix.push(format!(
                "ceph osd blocklist add {a} {FENCE_SECONDS}    # only once you know that client is dead"
            ));
        }
        w.block_as(
            format!(
                "a watcher of {} is not at a node's address ({}): it is not known to be dead",
                h.spec,
                h.unknown.join(", ")
            ),
            fix,
            None,
        );
    }
}

fn delete_attachment(opts: &[WizardOption]) -> bool {
    opts.iter().any(|o| o.key == DELETE_ATTACHMENT_KEY && o.on)
}

fn attachment_line(a: &Attachment) -> String {
    let age = a
        .age
        .map(|d| format!(", {} old", human_duration(d)))
        .unwrap_or_default();
    let err = a
        .error
        .as_ref()
        .map(|e| format!(", attach error: {e}"))
        .unwrap_or_default();
    format!(
        "VolumeAttachment {} to {} (attached={}{age}{err})",
        a.name, a.node, a.attached
    )
}

/// What the plan acts on.
struct PlanVolume {
    pool: String,
    image: String,
    pv: String,
    claim: Option<(String, String)>,
}

/// Fence every watcher of every holder, wait for the watches to drop, release each
/// holder's attachment (taint, or delete it), wait for it to go, then for the pod.
fn build_plan(v: &PlanVolume, holders: &[Holder], delete: bool) -> Plan {
    let nodes: Vec<&str> = holders.iter().map(|h| h.node.as_str()).collect();
    let mut plan = Plan::new(
        format!(
            "Release volume {} (RBD image {}/{}) from {}",
            v.pv,
            v.pool,
            v.image,
            nodes.join(", ")
        ),
        ObjectRef::new("RbdImage", Some(&v.pool), v.image.as_str()),
        Confirmation::TypedName(v.image.clone()),
    );
    let mut addrs: Vec<String> = Vec::new();
    for h in holders {
        for (addr, entity) in &h.watchers {
            plan = plan.step(Step::new(
                Op::Fence {
                    addr: addr.clone(),
                    expire: FENCE_EXPIRE,
                    who: format!(
                        "watcher {entity} on dead node {} (its kernel RBD client)",
                        h.node
                    ),
                },
                true,
            ));
            addrs.push(addr.clone());
        }
    }
    if !addrs.is_empty() {
        plan = plan.then_wait(
            WaitFor::WatchersGone {
                pool: v.pool.clone(),
                image: v.image.clone(),
                addrs,
            },
            WATCH_DROP_TIMEOUT,
        );
    }
    for h in holders.iter().filter(|h| !h.attachments.is_empty()) {
        let watchers: Vec<String> = h.watchers.iter().map(|(a, _)| a.clone()).collect();
        if delete || !h.exists {
            for name in &h.attachments {
                plan = plan.step(Step::new(
                    Op::DeleteAttachment {
                        name: name.clone(),
                        pv: v.pv.clone(),
                        node: h.node.clone(),
                        pool: v.pool.clone(),
                        image: v.image.clone(),
                        watchers: watchers.clone(),
                    },
                    true,
                ));
            }
        } else {
            plan = plan.step(Step::new(
                Op::TaintOutOfService {
                    node: h.node.clone(),
                    pool: v.pool.clone(),
                    image: v.image.clone(),
                    watchers,
                },
                true,
            ));
        }
        plan = plan.then_wait(
            WaitFor::Detached {
                pv: v.pv.clone(),
                node: h.node.clone(),
            },
            DETACH_TIMEOUT,
        );
    }
    if let Some((ns, claim)) = &v.claim {
        plan = plan.then_wait(
            WaitFor::CsiVolumeInUse {
                namespace: ns.clone(),
                claim: claim.clone(),
                pv: v.pv.clone(),
                pool: v.pool.clone(),
                image: v.image.clone(),
            },
            POD_TIMEOUT,
        );
    }
    plan
}

/// What is left once the plan ran: the taint stays until the node is back or gone.
fn after(holders: &[Holder], delete: bool) -> Vec<String> {
    let mut out = Vec::new();
    for h in holders
        .iter()
        .filter(|h| h.exists && !h.attachments.is_empty() && !delete)
    {
        let n = &h.node;
        out.push(format!(
            "Node {n} keeps the taint {OUT_OF_SERVICE_TAINT}: nothing runs or attaches there while it stays. Once {n} is back (Ready, its old pods and mounts gone) or deleted, remove it: kubectl taint nodes {n} {OUT_OF_SERVICE_TAINT}-  (or open this wizard again on the volume: it offers that as a plan once {n} is Ready)"
        ));
    }
    if holders.iter().any(|h| !h.watchers.is_empty()) {
        out.push(format!(
            "The fenced clients stay blocklisted for {}: a node that comes back sooner gets new clients, which are not fenced",
            human_duration(FENCE_EXPIRE)
        ));
    }
    out
}

/// Nothing holds the volume elsewhere and its pod runs: offer to remove an
/// out-of-service taint from a node that is back, or say why it stays.
fn follow_up(mut w: Wizard, found: &Found, nodes: &[NodeFacts]) -> Wizard {
    let mut page = Page::new("Afterwards");
    if let Some(p) = found.users.iter().find(|p| is_ready(p)) {
        page.ok(format!(
            "Pod {}/{} runs with the volume on {}",
            p.metadata.namespace.clone().unwrap_or_default(),
            name_of(p),
            pod_node(p)
        ));
    }
    let tainted: Vec<&NodeFacts> = nodes.iter().filter(|n| n.out_of_service).collect();
    let back: Vec<String> = tainted
        .iter()
        .filter(|n| n.ready)
        .map(|n| n.name.clone())
        .collect();
    for n in &tainted {
        if n.ready {
            page.warn(format!(
                "Node {} is Ready again and still has the taint {OUT_OF_SERVICE_TAINT}: nothing can run there until it is removed",
                n.name
            ));
        } else {
            page.plain(format!(
                "Node {} has the taint {OUT_OF_SERVICE_TAINT} and is NotReady: it stays until {} is back or deleted",
                n.name, n.name
            ));
        }
    }
    w.pages.push(page);
    let pv = found.csi.as_ref().map(|c| c.pv.clone()).unwrap_or_default();
    if back.is_empty() {
        w.title = format!("Volume {pv} is in use where its pod runs");
        let fix: Vec<String> = tainted
            .iter()
            .flat_map(|n| {
                [
                    format!("kubectl taint nodes {} {OUT_OF_SERVICE_TAINT}-    # once it is Ready again", n.name),
                    format!("kubectl delete node {}    # if it is not coming back: the taint goes with it", n.name),
                ]
            })
            .collect();
        w.block_as(
            "nothing holds the volume elsewhere and its pod runs: nothing to do",
            fix,
            None,
        );
        return w;
    }
    w.title = format!("Remove the out-of-service taint from {}", back.join(", "));
    w.set_plan(Arc::new(move |_: &[WizardOption]| {
        // The node's name is typed: a node taken back into service is chosen, not
        // confirmed by reflex.
        let mut plan = Plan::new(
            format!("Remove the out-of-service taint from {}", back.join(", ")),
            ObjectRef::new("PersistentVolume", None, pv.as_str()),
            Confirmation::TypedName(back.join(",")),
        );
        for n in &back {
            plan = plan.step(Step::new(
                Op::UntaintOutOfService { node: n.clone() },
                false,
            ));
        }
        plan
    }));
    w
}

#[cfg(test)]
mod tests {
    use super::super::assess::tests::{node, pod, watcher};
    use super::*;
    use crate::ceph::ImageInfo;
    use crate::model::ceph::FencePermission;
    use crate::ops::wizard::unlock::{Facts, Fencing, Volume, assess as assess_facts};
    use crate::ops::{AuditLog, ExecContext, Executor, OpsError};
    use std::time::Duration;

    const DEAD: &str = "198.18.1.11:0/77";
    const IMAGE: &str = "csi-vol-5b1c";

    /// worker-a died with the volume staged (its watcher, its attachment); web-0's
    /// replacement waits on worker-b; our user may fence.
    fn facts() -> Facts {
        let stuck = pod("web-0", "worker-b", false);
        Facts {
            subject: ObjectRef::pod("default", "web-0"),
            found: Ok(Found {
                pool: "rbd".into(),
                image: IMAGE.into(),
                volume: Some(Volume {
                    name: "pvc-1".into(),
                    phase: "Bound".into(),
                }),
                claim: Some(("default".into(), "data".into())),
                stuck: Some(stuck.clone()),
                users: vec![stuck],
                lock_events: vec![
                    "FailedAttachVolume: Multi-Attach error for volume \"pvc-1\" Volume is already exclusively attached to one node and can't be attached to another".into(),
                ],
                live: Ok(Live {
                    image: ImageInfo {
                        pool: "rbd".into(),
                        name: IMAGE.into(),
                        id: "1".into(),
                        size: 1 << 30,
                        object_size: 1 << 22,
                        num_objects: 0,
                        order: 22,
                        format: 2,
                        features: 1,
                        block_name_prefix: "rbd_data.1".into(),
                        lockers: Vec::new(),
                        watchers: vec![watcher(DEAD, 4150)],
                    },
                    nodes: vec![
                        node("worker-a", [198, 18, 1, 11], false),
                        node("worker-b", [198, 18, 1, 12], true),
                    ],
                    fencing: Fencing {
                        entity: "client.admin".into(),
                        permission: FencePermission::Allowed,
                        own_addrs: vec!["198.18.0.1:0/999".into()],
                    },
                    attachments: vec![Attachment {
                        name: "csi-3f2a".into(),
                        node: "worker-a".into(),
                        attached: true,
                        age: Some(Duration::from_secs(900)),
                        error: None,
                    }],
                }),
                csi: Some(CsiVolume {
                    pv: "pvc-1".into(),
                    driver: "rbd.csi.ceph.com".into(),
                    handle: "0001-0024-fsid-0000000000000002-5b1c".into(),
                }),
            }),
        }
    }

    fn found(f: &mut Facts) -> &mut Found {
        f.found.as_mut().unwrap_or_else(|e| panic!("{e}"))
    }

    fn live(f: &mut Facts) -> &mut Live {
        found(f).live.as_mut().unwrap_or_else(|e| panic!("{e}"))
    }

    fn blocker(w: &Wizard) -> crate::ops::wizard::Blocker {
        w.blocker
            .clone()
            .unwrap_or_else(|| panic!("not blocked:\n{}", w.render().join("\n")))
    }

    #[test]
    fn the_plan_fences_the_dead_node_then_taints_it_then_waits_for_the_pod() {
        let w = assess_facts(&facts());
        let text = w.render().join("\n");
        assert!(!w.is_blocked(), "{text}");
        assert_eq!(
            w.title,
            "Release volume pvc-1 (RBD image rbd/csi-vol-5b1c) from a dead node"
        );
        for want in [
            "✗   FailedAttachVolume: Multi-Attach error",
            "· VolumeAttachment csi-3f2a to worker-a (attached=true, 15m old)",
            "✓ Node worker-a is NotReady, for 5m12s",
            "✓ No live pod using this volume runs on worker-a",
            "✓ Watcher client.4150 at 198.18.1.11:0/77 is from worker-a's address (198.18.1.11)",
            "✓ client.admin may blocklist clients",
        ] {
            assert!(text.contains(want), "{want:?} in:\n{text}");
        }
        let plan = w.plan().unwrap_or_else(|| panic!("no plan:\n{text}"));
        assert_eq!(plan.validate(), Ok(()));
        assert_eq!(plan.confirmation, Confirmation::TypedName(IMAGE.into()));
        assert_eq!(plan.action(), "blocklist+taint-out-of-service");
        let ops: Vec<&Op> = plan.steps.iter().map(|s| &s.op).collect();
        assert!(
            matches!(ops[0], Op::Fence { addr, expire, .. } if addr == DEAD && *expire == Duration::from_secs(3600)),
            "{ops:?}"
        );
        assert!(
            matches!(ops[1], Op::Wait { what: WaitFor::WatchersGone { addrs, .. }, .. } if addrs == &[DEAD])
        );
        assert!(
            matches!(ops[2], Op::TaintOutOfService { node, watchers, .. } if node == "worker-a" && watchers == &[DEAD])
        );
        assert!(
            matches!(ops[3], Op::Wait { what: WaitFor::Detached { pv, node }, .. } if pv == "pvc-1" && node == "worker-a")
        );
        assert!(matches!(
            ops[4],
            Op::Wait {
                what: WaitFor::CsiVolumeInUse { .. },
                ..
            }
        ));
        assert_eq!(ops.len(), 5);
        let render = plan.render();
        assert!(
            render[5].contains("Taint node worker-a node.kubernetes.io/out-of-service=nodeshutdown:NoExecute: the attach/detach controller then detaches its volumes at once"),
            "{render:?}"
        );
        // The last screen says what is left: the taint, with its command and why.
        let after = w.after().join("\n");
        assert!(
            after.contains("kubectl taint nodes worker-a node.kubernetes.io/out-of-service=nodeshutdown:NoExecute-"),
            "{after}"
        );
        assert!(text.contains("Afterwards:"), "{text}");

        // The alternative: delete the stale attachment, explained, no taint left.
        assert!(
            text.contains("[ ] delete the stale VolumeAttachment instead"),
            "{text}"
        );
        let mut w = w;
        assert!(w.toggle(DELETE_ATTACHMENT_KEY));
        let plan = w.plan().unwrap_or_else(|| panic!("no plan"));
        assert_eq!(plan.action(), "blocklist+delete-volumeattachment");
        assert!(
            matches!(&plan.steps[2].op, Op::DeleteAttachment { name, .. } if name == "csi-3f2a")
        );
        assert!(plan.render()[5].contains("sees the volume detached at its next sync"));
        assert!(!w.after().join("\n").contains("kubectl taint"));
    }

    #[test]
    fn nothing_is_released_without_fencing() {
        let plan = assess_facts(&facts())
            .plan()
            .unwrap_or_else(|| panic!("no plan"));
        let mut unfenced = plan.clone();
        unfenced.steps.remove(0);
        let err = unfenced.validate().unwrap_err();
        assert!(
            err.contains("releases the volume from worker-a without first fencing its watcher 198.18.1.11:0/77"),
            "{err}"
        );
        let fence = plan
            .steps
            .iter()
            .position(|s| matches!(s.op, Op::Fence { .. }));
        let taint = plan
            .steps
            .iter()
            .position(|s| matches!(s.op, Op::TaintOutOfService { .. }));
        assert!(fence < taint, "fence before taint: {plan:?}");
    }

    #[test]
    fn a_ready_node_is_not_dead() {
        let mut f = facts();
        live(&mut f).nodes[0] = node("worker-a", [198, 18, 1, 11], true);
        let w = assess_facts(&f);
        let b = blocker(&w);
        assert_eq!(
            b.reason,
            "node worker-a is Ready: its client is not known to be dead, and is not cut off"
        );
        assert!(
            b.fix
                .iter()
                .any(|c| c.starts_with("kubectl drain worker-a")),
            "{b:?}"
        );
        assert!(w.plan().is_none());
    }

    #[test]
    fn a_live_pod_on_the_node_keeps_the_volume() {
        let mut f = facts();
        found(&mut f).users.push(pod("web-9", "worker-a", true));
        let w = assess_facts(&f);
        let b = blocker(&w);
        assert_eq!(
            b.reason,
            "pod default/web-9 on worker-a still uses the volume: worker-a is not done with it"
        );
        assert_eq!(
            b.fix[0],
            "kubectl -n default delete pod web-9    # the volume's user on worker-a"
        );
        assert!(w.plan().is_none());
    }

    #[test]
    fn a_watcher_from_no_node_is_not_fenced() {
        let mut f = facts();
        live(&mut f)
            .image
            .watchers
            .push(watcher("203.0.113.9:0/5", 4199));
        let w = assess_facts(&f);
        let b = blocker(&w);
        assert_eq!(
            b.reason,
            "a watcher of rbd/csi-vol-5b1c is not at a node's address (203.0.113.9:0/5): it is not known to be dead"
        );
        assert_eq!(
            b.fix,
            [
                "rbd status rbd/csi-vol-5b1c    # find which machine each watcher is",
                "ceph osd blocklist add 203.0.113.9:0/5 3600    # only once you know that client is dead",
            ]
        );
        assert!(
            w.render()
                .join("\n")
                .contains("is from no node's InternalIP")
        );
    }

    #[test]
    fn a_volume_held_by_no_one_has_nothing_to_release() {
        let mut f = facts();
        live(&mut f).image.watchers.clear();
        live(&mut f).attachments.clear();
        let w = assess_facts(&f);
        assert!(
            blocker(&w)
                .reason
                .starts_with("volume pvc-1 is held by no other node")
        );
    }

    #[test]
    fn once_the_pod_runs_the_wizard_offers_to_remove_the_taint() {
        let mut f = facts();
        // Opened on the pod, which runs now.
        let running = pod("web-0", "worker-b", true);
        found(&mut f).stuck = Some(running.clone());
        found(&mut f).users = vec![running];
        live(&mut f).image.watchers = vec![watcher("198.18.1.12:0/90", 4300)];
        live(&mut f).attachments[0].node = "worker-b".into();
        let mut back = node("worker-a", [198, 18, 1, 11], true);
        back.out_of_service = true;
        live(&mut f).nodes[0] = back;
        let w = assess_facts(&f);
        let plan = w
            .plan()
            .unwrap_or_else(|| panic!("no plan:\n{}", w.render().join("\n")));
        assert_eq!(
            plan.confirmation,
            Confirmation::TypedName("worker-a".into())
        );
        assert_eq!(plan.action(), "untaint-out-of-service");
        assert_eq!(w.title, "Remove the out-of-service taint from worker-a");
        assert!(
            matches!(&plan.steps[0].op, Op::UntaintOutOfService { node } if node == "worker-a")
        );
        // Still NotReady: the taint stays, and the commands say when it goes.
        live(&mut f).nodes[0].ready = false;
        let w = assess_facts(&f);
        let b = blocker(&w);
        assert_eq!(w.title, "Volume pvc-1 is in use where its pod runs");
        assert_eq!(
            b.fix,
            [
                "kubectl taint nodes worker-a node.kubernetes.io/out-of-service=nodeshutdown:NoExecute-    # once it is Ready again",
                "kubectl delete node worker-a    # if it is not coming back: the taint goes with it",
            ]
        );
    }

    /// `--read-only` refuses the CSI plan before anything is sent (the API server
    /// here does not even exist).
    #[tokio::test]
    async fn read_only_refuses_the_csi_plan() {
        let plan = assess_facts(&facts())
            .plan()
            .unwrap_or_else(|| panic!("no plan"));
        let dir = std::env::temp_dir().join(format!("kcops-csi-ro-{}", uuid::Uuid::new_v4()));
        let audit = AuditLog::new(dir.join("audit.log"));
        let url = "https://127.0.0.1:1"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        let client =
            kube::Client::try_from(kube::Config::new(url)).unwrap_or_else(|e| panic!("{e}"));
        let exec = Executor::new(client, true, audit.clone(), ExecContext::new("ops", "lab"));
        let (tx, _rx) = tokio::sync::mpsc::channel(8);
        let err = exec.run(&plan, IMAGE, tx).await.err();
        assert!(matches!(err, Some(OpsError::ReadOnly { .. })), "{err:?}");
        let lines = audit.read_entries().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].action, "blocklist+taint-out-of-service");
        assert!(
            lines[0]
                .result
                .starts_with("refused: kcops is in read-only mode")
        );
        // A dry-run is allowed and changes nothing.
        let dry = exec.dry_run(&plan).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(dry[0], "Dry run: nothing will be changed.");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
