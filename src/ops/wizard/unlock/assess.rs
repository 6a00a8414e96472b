//! The judgement of the lock-removal wizard, without I/O: from [`Facts`] to the pages
//! (what is stuck, the evidence, the permission preflight), the blockers and the plan.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{DELETE_POD_KEY, FENCE_EXPIRE, Facts, Fencing, Found, LOCK_TIMEOUT, Live, POD_TIMEOUT};
use crate::ceph::holders::{EntityAddr, NodeIndex, lock_holder, watcher_holder};
use crate::ceph::{ImageInfo, LockerInfo};
use crate::model::ceph::{FencePermission, fence_caps_fix};
use crate::model::pod::Pod;
use crate::ops::op::{LockNode, ObjectRef, Op, WaitFor};
use crate::ops::plan::{Confirmation, Plan, Step};
use crate::ops::wizard::error::{System, WizardError};
use crate::ops::wizard::{Page, Wizard, WizardOption};

pub(super) fn name_of(pod: &Pod) -> String {
    pod.metadata.name.as_deref().unwrap_or_default().to_string()
}

/// The wizard for what [`super::gather`] found: blocked (with the reason and the
/// commands that would unblock it) or with a plan. A failed read becomes a blocker.
pub fn assess(facts: &Facts) -> Wizard {
    let mut w = Wizard::new("Remove a stale RBD lock", facts.subject.clone());
    let found = match &facts.found {
        Ok(f) => f,
        Err(e) => {
            let mut p = Page::new("What is stuck");
            p.bad(e.to_string());
            w.pages.push(p);
            w.block(format!("cannot find what is stuck: {e}"), Vec::new());
            return w;
        }
    };
    let spec = format!("{}/{}", found.pool, found.image);
    w.title = format!("Remove the stale lock on RBD image {spec}");
    w.subject = ObjectRef::new("RbdImage", Some(&found.pool), found.image.as_str());

    // 1. What is stuck.
    let mut what = what_is_stuck(found, &spec);
    let live = match &found.live {
        Ok(live) => live,
        Err(e) => {
            if let WizardError::Unreachable {
                system: System::Ceph,
                why,
                ..
            } = e
            {
                what.bad(format!("Cannot read the image's locks from Ceph: {why}"));
            }
            w.pages.push(what);
            w.block(format!("cannot read {e}"), Vec::new());
            return w;
        }
    };
    if let Some(csi) = &found.csi {
        return super::csi::assess(w, what, found, csi, live);
    }
    let Live {
        image: info,
        nodes,
        fencing,
        ..
    } = live;
    let index = NodeIndex::new(
        nodes
            .iter()
            .flat_map(|n| n.ips.iter().map(move |ip| (n.name.as_str(), *ip))),
    );
    let ready: BTreeMap<String, bool> = nodes.iter().map(|n| (n.name.clone(), n.ready)).collect();
    for l in &info.lockers {
        let h = lock_holder(l, &index);
        let node = h.node().unwrap_or("no known node");
        what.warn(format!(
            "Lock {} held by {} at {} ({node})",
            l.cookie, l.locker, l.address
        ));
    }
    if info.lockers.is_empty() {
        what.ok("The image has no lock");
    }
    w.pages.push(what);

    // 2. Evidence that each holder is gone.
    let (ev, stale, not_stale) = evidence(found, info, &index, &ready);
    w.pages.push(ev);

    // 3. Permission preflight and our own address.
    let fenced: Vec<&str> = stale
        .iter()
        .flat_map(|s| std::iter::once(&s.lock.address).chain(s.watchers.iter().map(|(a, _)| a)))
        .map(String::as_str)
        .collect();
    let (perm, own_hit) = permission(fencing, &fenced);
    w.pages.push(perm);

    // Blockers, most basic first.
    if info.lockers.is_empty() {
        w.block(
            format!(
                "RBD image {spec} has no lock; the pod waits for something else (see its events)"
            ),
            Vec::new(),
        );
    }
    if !not_stale.is_empty() {
        w.block(
            format!("the lock is not stale: {}", not_stale.join("; ")),
            Vec::new(),
        );
    }
    if let Some(hit) = &own_hit {
        w.block(
            format!("fencing would cut off kcops itself: {hit}"),
            Vec::new(),
        );
    }
    if let Some((reason, fix)) = permission_blocker(fencing) {
        w.block(reason, fix);
    }
    if stale.is_empty() && !w.is_blocked() {
        w.block("no stale lock to break", Vec::new());
    }

    // 4. The plan.
    let stuck = found.stuck.as_ref().map(|p| {
        let ns = p.metadata.namespace.as_deref().unwrap_or_default();
        (ns.to_string(), name_of(p))
    });
    let (pool, image, pvc) = (found.pool.clone(), found.image.clone(), found.claim.clone());
    let delete_label = match &stuck {
        Some((ns, name)) => format!("delete the stuck pod {ns}/{name} after breaking the lock"),
        None => "delete the stuck pod after breaking the lock (none found)".to_string(),
    };
    w.add_option(DELETE_POD_KEY, delete_label, false);
    w.set_plan(Arc::new(move |opts: &[WizardOption]| {
        build_plan(&pool, &image, &stale, stuck.as_ref(), pvc.as_ref(), opts)
    }));
    w
}

/// The second page: for each lock, whether its holder is gone (node NotReady, no live
/// user of the volume there) and which live watchers from its address need fencing.
/// Returns the page, the stale locks and why the others are not stale.
fn evidence(
    found: &Found,
    info: &ImageInfo,
    index: &NodeIndex,
    ready: &BTreeMap<String, bool>,
) -> (Page, Vec<Stale>, Vec<String>) {
    let mut ev = Page::new("Evidence");
    let stuck_node = found.stuck.as_ref().map(pod_node).unwrap_or_default();
    let live_users: Vec<(String, String)> = found
        .users
        .iter()
        .filter(|p| p.metadata.deletion_timestamp().is_none())
        .map(|p| (name_of(p), pod_node(p)))
        .collect();
    let mut stale: Vec<Stale> = Vec::new();
    let mut not_stale: Vec<String> = Vec::new();
    for l in &info.lockers {
        let h = lock_holder(l, index);
        let Some(holder_addr) = EntityAddr::parse(&l.address) else {
            ev.bad(format!(
                "Lock {}: the address {} does not parse",
                l.cookie, l.address
            ));
            not_stale.push(format!("the lock {} has an unreadable address", l.cookie));
            continue;
        };
        let node = h.node().map(str::to_string);
        let label = node.clone().unwrap_or_else(|| l.address.clone());
        if h.conflict() {
            ev.warn(format!(
                "Lock {}: the cookie names {} but the address is {}'s",
                l.cookie,
                h.by_cookie
                    .as_ref()
                    .map(|c| c.host.as_str())
                    .unwrap_or_default(),
                h.by_address.as_deref().unwrap_or_default()
            ));
        }
        match node.as_deref().and_then(|n| ready.get(n).map(|r| (n, *r))) {
            Some((n, false)) => ev.ok(format!("Holder node {n} is NotReady")),
            Some((n, true)) => ev.warn(format!(
                "Holder node {n} is Ready: its kubelet still reports (fencing cuts its client off)"
            )),
            None => ev.warn(format!(
                "The holder at {} is not a known node: it is fenced by its exact address only",
                l.address
            )),
        }
        let users_there: Vec<&(String, String)> = live_users
            .iter()
            .filter(|(_, pn)| node.as_deref() == Some(pn.as_str()))
            .collect();
        let watchers: Vec<(String, String)> = info
            .watchers
            .iter()
            .filter(|wt| EntityAddr::parse(&wt.address).is_some_and(|a| a.ip == holder_addr.ip))
            .map(|wt| (wt.address.clone(), wt.entity()))
            .collect();
        if let Some(n) = node
            .as_deref()
            .filter(|n| !stuck_node.is_empty() && *n == stuck_node)
        {
            ev.bad(format!(
                "Lock {} is held by {n}, the node the pod itself runs on: it is not what keeps the pod waiting",
                l.cookie
            ));
            not_stale.push(format!(
                "the lock {} belongs to the pod's own node {n}",
                l.cookie
            ));
            continue;
        }
        if users_there.is_empty() {
            ev.ok(format!("No live pod using this volume runs on {label}"));
        } else {
            for (p, n) in &users_there {
                ev.bad(format!(
                    "Pod {p} on {n} still uses this volume: the lock is not stale"
                ));
            }
            not_stale.push(format!(
                "{label} still runs pod {} using the volume",
                users_there
                    .iter()
                    .map(|(p, _)| p.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            continue;
        }
        if watchers.is_empty() {
            ev.ok(format!(
                "No live watcher from {label}'s address {}",
                holder_addr.ip
            ));
        } else {
            for (addr, entity) in &watchers {
                ev.warn(format!(
                    "Live watcher {entity} at {addr} from {label}: the image is in use by a live client there; it is fenced before the lock is broken"
                ));
            }
        }
        stale.push(Stale {
            lock: l.clone(),
            node: label,
            watchers,
        });
    }
    for wt in &info.watchers {
        let h = watcher_holder(wt, index);
        let from_holder = stale
            .iter()
            .any(|s| s.watchers.iter().any(|(a, _)| *a == wt.address));
        if !from_holder {
            ev.plain(format!(
                "Watcher {} at {} ({}): not a lock holder, left alone",
                wt.entity(),
                wt.address,
                h.node().unwrap_or("no known node")
            ));
        }
    }
    (ev, stale, not_stale)
}

/// The third page: may our Ceph user fence, and would a planned fence of `fenced`
/// cut off kcops' own client (returned: which address, if so).
pub(super) fn permission(fencing: &Fencing, fenced: &[&str]) -> (Page, Option<String>) {
    let mut perm = Page::new("Permission");
    let entity = &fencing.entity;
    let permission = &fencing.permission;
    let own: Vec<EntityAddr> = fencing
        .own_addrs
        .iter()
        .filter_map(|a| EntityAddr::parse(a))
        .collect();
    let mut own_hit: Option<String> = None;
    for addr in fenced {
        if let Some(a) = EntityAddr::parse(addr)
            && let Some(o) = own.iter().find(|o| a.covers(o))
        {
            own_hit = Some(format!("{addr} is kcops' own Ceph client ({o})"));
        }
    }
    match &permission {
        FencePermission::Allowed => perm.ok(format!(
            "{entity} may blocklist clients (osd blocklist): fencing is possible"
        )),
        FencePermission::Denied { caps } => {
            perm.bad(format!(
                "{entity} may not blocklist clients. Breaking a lock fences its holder first, so it fails with \"rbd: releasing lock failed: (13) Permission denied\" and \"unable to blacklist client\""
            ));
            perm.plain(format!(
                "Caps of {entity}: {}",
                caps.as_deref()
                    .unwrap_or("not readable with its own mon caps")
            ));
        }
        FencePermission::CheckFailed(e) => perm.bad(format!("The fencing check failed: {e}")),
        FencePermission::Unknown => perm.warn("The fencing permission is not known"),
    }
    match &own_hit {
        Some(hit) => perm.bad(hit.clone()),
        None => perm.ok("No planned fence covers kcops' own Ceph client"),
    }
    (perm, own_hit)
}

/// Why the permission preflight stops the wizard, with the commands that would fix it.
pub(super) fn permission_blocker(fencing: &Fencing) -> Option<(String, Vec<String>)> {
    let entity = &fencing.entity;
    match &fencing.permission {
        FencePermission::Allowed => None,
        FencePermission::Denied { caps } => {
            let osd = caps.as_deref().and_then(osd_caps).map(str::to_string);
            let fix = vec![
                format!(
                    "ceph auth get {entity}    # note its current osd caps, then keep them below"
                ),
                fence_caps_fix(entity, osd.as_deref()),
            ];
            Some((
                format!(
                    "permission preflight: {entity} may not blocklist (fence) clients; it needs mon caps `profile rbd` (or `allow rw`)"
                ),
                fix,
            ))
        }
        FencePermission::CheckFailed(e) => Some((
            format!("permission preflight: the check failed: {e}"),
            Vec::new(),
        )),
        FencePermission::Unknown => Some(("permission preflight: not checked".into(), Vec::new())),
    }
}

fn build_plan(
    pool: &str,
    image: &str,
    stale: &[Stale],
    stuck: Option<&(String, String)>,
    pvc: Option<&(String, String)>,
    opts: &[WizardOption],
) -> Plan {
    let mut plan = Plan::new(
        format!("Remove the stale lock on RBD image {pool}/{image}"),
        ObjectRef::new("RbdImage", Some(pool), image),
        Confirmation::TypedName(image.to_string()),
    );
    for s in stale {
        plan = plan.step(Step::new(
            Op::Fence {
                addr: s.lock.address.clone(),
                expire: FENCE_EXPIRE,
                who: format!("lock holder {} on {}", s.lock.locker, s.node),
            },
            true,
        ));
        for (addr, entity) in s.watchers.iter().filter(|(a, _)| *a != s.lock.address) {
            plan = plan.step(Step::new(
                Op::Fence {
                    addr: addr.clone(),
                    expire: FENCE_EXPIRE,
                    who: format!("live watcher {entity} on {}", s.node),
                },
                true,
            ));
        }
        plan = plan.step(Step::new(
            Op::BreakLock {
                pool: pool.into(),
                image: image.into(),
                locker: s.lock.locker.clone(),
                cookie: s.lock.cookie.clone(),
                address: s.lock.address.clone(),
                watchers: s.watchers.iter().map(|(a, _)| a.clone()).collect(),
            },
            true,
        ));
    }
    let delete = opts.iter().any(|o| o.key == DELETE_POD_KEY && o.on);
    if delete && let Some((ns, name)) = stuck {
        plan = plan.step(Step::new(
            Op::DeletePod {
                namespace: ns.clone(),
                name: name.clone(),
                grace: None,
            },
            true,
        ));
    }
    if let Some((ns, claim)) = pvc {
        plan = plan
            .then_wait(
                WaitFor::ClaimPodReady {
                    namespace: ns.clone(),
                    claim: claim.clone(),
                },
                POD_TIMEOUT,
            )
            .then_wait(
                WaitFor::LockHeldBy {
                    pool: pool.into(),
                    image: image.into(),
                    node: LockNode::PodOfClaim {
                        namespace: ns.clone(),
                        claim: claim.clone(),
                    },
                },
                LOCK_TIMEOUT,
            );
    }
    plan
}

/// The first page: the pod, claim, volume and image, and the pod's lock events.
pub(super) fn what_is_stuck(found: &Found, spec: &str) -> Page {
    let mut what = Page::new("What is stuck");
    if let Some(pod) = &found.stuck {
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let node = pod_node(pod);
        let state = pod_state(pod);
        let line = format!(
            "Pod {ns}/{} on {}: {state}",
            name_of(pod),
            if node.is_empty() {
                "no node yet"
            } else {
                &node
            }
        );
        if is_ready(pod) {
            what.ok(line);
        } else {
            what.bad(line);
        }
        for e in &found.lock_events {
            what.bad(format!("  {e}"));
        }
    } else {
        what.plain("No pod waiting for this volume was found");
    }
    match &found.claim {
        Some((ns, name)) => what.plain(format!("Claim {ns}/{name}")),
        None => what.plain("No bound claim"),
    }
    match &found.volume {
        Some(v) => what.plain(format!("Volume {} ({})", v.name, v.phase)),
        None => what.plain("No PersistentVolume uses this image"),
    }
    what.plain(format!("RBD image {spec}"));
    what
}

/// The pod waiting for the volume among its users: alive, scheduled, not ready.
pub(super) fn waiting_pod(users: &[Pod]) -> Option<&Pod> {
    users.iter().find(|p| {
        p.metadata.deletion_timestamp().is_none() && !pod_node(p).is_empty() && !is_ready(p)
    })
}

pub(super) fn pod_node(pod: &Pod) -> String {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref().map(String::from))
        .unwrap_or_default()
}

/// `Running`, or the waiting reason kubectl shows (`ContainerCreating`).
fn pod_state(pod: &Pod) -> String {
    let status = pod.status.as_ref();
    let waiting = status
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
        .find_map(|c| c.state.as_ref()?.waiting.as_ref()?.reason.clone());
    let phase = status
        .and_then(|s| s.phase.as_deref())
        .unwrap_or_default()
        .to_string();
    if pod.metadata.deletion_timestamp().is_some() {
        return "Terminating".into();
    }
    waiting.unwrap_or(phase)
}

pub(super) fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| c.type_() == "Ready" && c.status() == "True")
        && pod.metadata.deletion_timestamp().is_none()
}

/// The OSD caps inside `mon 'allow r' osd 'profile rbd'`.
fn osd_caps(caps: &str) -> Option<&str> {
    let rest = &caps[caps.find("osd '")? + 5..];
    rest.split('\'').next()
}

/// A lock the plan would break, with what fencing it needs.
#[derive(Debug, Clone)]
struct Stale {
    lock: LockerInfo,
    node: String,
    /// Live watchers from the holder's IP: fenced too.
    watchers: Vec<(String, String)>,
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::ceph::WatcherInfo;
    use crate::ops::wizard::unlock::{Fencing, NodeFacts, UnlockTarget, Volume};

    fn stale() -> Stale {
        Stale {
            lock: holder_lock(),
            node: "node1".into(),
            watchers: vec![("198.18.1.11:0/77".into(), "client.4150".into())],
        }
    }

    fn holder_lock() -> LockerInfo {
        LockerInfo {
            locker: "client.4140".into(),
            cookie: "kubelet_lock_magic_node1".into(),
            address: "198.18.1.11:0/3323368536".into(),
            tag: String::new(),
            exclusive: true,
        }
    }

    pub(in crate::ops::wizard::unlock) fn watcher(address: &str, client_id: i64) -> WatcherInfo {
        WatcherInfo {
            address: address.into(),
            client_id,
            cookie: 1,
        }
    }

    /// A pod of claim `default/data` on `node`; `ready` or waiting in ContainerCreating.
    pub(in crate::ops::wizard::unlock) fn pod(name: &str, node: &str, ready: bool) -> Pod {
        let status = if ready {
            serde_json::json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]})
        } else {
            serde_json::json!({
                "phase": "Pending",
                "conditions": [{"type": "Ready", "status": "False"}],
                "containerStatuses": [{"name": "web", "image": "nginx", "imageID": "", "ready": false,
                    "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}}]
            })
        };
        serde_json::from_value(serde_json::json!({
            "metadata": {"namespace": "default", "name": name, "uid": name},
            "spec": {
                "nodeName": node,
                "containers": [{"name": "web"}],
                "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]
            },
            "status": status
        }))
        .unwrap_or_else(|e| panic!("pod fixture: {e}"))
    }

    pub(in crate::ops::wizard::unlock) fn node(name: &str, ip: [u8; 4], ready: bool) -> NodeFacts {
        NodeFacts {
            name: name.into(),
            ips: vec![std::net::IpAddr::from(ip)],
            ready,
            not_ready_for: (!ready).then(|| std::time::Duration::from_secs(312)),
            out_of_service: false,
        }
    }

    /// A kubelet that died holding its RBD lock, as gathered: web-1 moved to node2 and
    /// waits; node1 (NotReady) still holds the lock and has a live watcher; node2's own
    /// watcher is left alone; our user may fence.
    fn facts() -> Facts {
        let stuck = pod("web-1", "node2", false);
        Facts {
            subject: ObjectRef::pod("default", "web-1"),
            found: Ok(Found {
                pool: "rbd".into(),
                image: "img".into(),
                volume: Some(Volume {
                    name: "pv-1".into(),
                    phase: "Bound".into(),
                }),
                claim: Some(("default".into(), "data".into())),
                stuck: Some(stuck.clone()),
                users: vec![stuck],
                lock_events: vec!["FailedMount: rbd image rbd/img is still being used".into()],
                live: Ok(Live {
                    image: ImageInfo {
                        pool: "rbd".into(),
                        name: "img".into(),
                        id: "1".into(),
                        size: 1 << 30,
                        object_size: 1 << 22,
                        num_objects: 0,
                        order: 22,
                        format: 2,
                        features: 1,
                        block_name_prefix: "rbd_data.1".into(),
                        lockers: vec![holder_lock()],
                        watchers: vec![
                            watcher("198.18.1.11:0/77", 4150),
                            watcher("198.18.1.12:0/88", 4160),
                        ],
                    },
                    nodes: vec![
                        node("node1", [198, 18, 1, 11], false),
                        node("node2", [198, 18, 1, 12], true),
                    ],
                    fencing: Fencing {
                        entity: "client.admin".into(),
                        permission: FencePermission::Allowed,
                        own_addrs: vec!["198.18.0.1:0/999".into()],
                    },
                    attachments: Vec::new(),
                }),
                csi: None,
            }),
        }
    }

    fn found(f: &mut Facts) -> &mut Found {
        f.found
            .as_mut()
            .unwrap_or_else(|e| panic!("fixture has no volume: {e}"))
    }

    fn live(f: &mut Facts) -> &mut Live {
        found(f)
            .live
            .as_mut()
            .unwrap_or_else(|e| panic!("fixture has no live state: {e}"))
    }

    fn blocker(w: &Wizard) -> String {
        w.blocker
            .as_ref()
            .map(|b| b.reason.clone())
            .unwrap_or_else(|| panic!("not blocked:\n{}", w.render().join("\n")))
    }

    #[test]
    fn the_plan_fences_the_holder_and_each_live_watcher_before_breaking() {
        let w = assess(&facts());
        let text = w.render().join("\n");
        assert!(!w.is_blocked(), "{text}");
        assert_eq!(w.title, "Remove the stale lock on RBD image rbd/img");
        assert!(
            text.contains("✗ Pod default/web-1 on node2: ContainerCreating"),
            "{text}"
        );
        assert!(
            text.contains("✗   FailedMount: rbd image rbd/img is still being used"),
            "{text}"
        );
        assert!(text.contains("✓ Holder node node1 is NotReady"), "{text}");
        assert!(
            text.contains(
                "Watcher client.4160 at 198.18.1.12:0/88 (node2): not a lock holder, left alone"
            ),
            "{text}"
        );
        let plan = w.plan().unwrap_or_else(|| panic!("no plan:\n{text}"));
        assert_eq!(plan.validate(), Ok(()));
        let ops: Vec<&Op> = plan.steps.iter().map(|s| &s.op).collect();
        let fenced: Vec<&str> = ops
            .iter()
            .take_while(|op| matches!(op, Op::Fence { .. }))
            .filter_map(|op| match op {
                Op::Fence { addr, .. } => Some(addr.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(fenced, ["198.18.1.11:0/3323368536", "198.18.1.11:0/77"]);
        assert!(
            matches!(ops[2], Op::BreakLock { cookie, watchers, .. }
                if cookie == "kubelet_lock_magic_node1" && watchers == &["198.18.1.11:0/77"]),
            "{ops:?}"
        );
        assert!(matches!(
            ops[3],
            Op::Wait {
                what: WaitFor::ClaimPodReady { .. },
                ..
            }
        ));
        assert!(matches!(
            ops[4],
            Op::Wait {
                what: WaitFor::LockHeldBy { .. },
                ..
            }
        ));
        assert_eq!(
            ops.len(),
            5,
            "the stuck pod is deleted only when asked: {ops:?}"
        );
        let mut w = w;
        assert!(w.toggle(DELETE_POD_KEY));
        let plan = w.plan().unwrap_or_else(|| panic!("no plan"));
        assert!(matches!(&plan.steps[3].op, Op::DeletePod { name, .. } if name == "web-1"));
    }

    #[test]
    fn a_holder_that_still_runs_a_user_of_the_volume_is_not_stale() {
        let mut f = facts();
        found(&mut f).users.push(pod("web-0", "node1", true));
        let w = assess(&f);
        assert_eq!(
            blocker(&w),
            "the lock is not stale: node1 still runs pod web-0 using the volume"
        );
        assert!(w.plan().is_none());
        assert!(w.render().contains(
            &"✗ Pod web-0 on node1 still uses this volume: the lock is not stale".to_string()
        ));
    }

    #[test]
    fn an_image_without_a_lock_has_nothing_to_break() {
        let mut f = facts();
        live(&mut f).image.lockers.clear();
        let w = assess(&f);
        assert_eq!(
            blocker(&w),
            "RBD image rbd/img has no lock; the pod waits for something else (see its events)"
        );
        assert!(w.render().contains(&"✓ The image has no lock".to_string()));
    }

    #[test]
    fn a_fence_that_would_cover_kcops_own_client_blocks() {
        let mut f = facts();
        live(&mut f).fencing.own_addrs = vec!["198.18.1.11:0/77".into()];
        let w = assess(&f);
        assert_eq!(
            blocker(&w),
            "fencing would cut off kcops itself: 198.18.1.11:0/77 is kcops' own Ceph client (198.18.1.11:0/77)"
        );
        assert!(w.plan().is_none());
    }

    #[test]
    fn a_user_that_may_not_blocklist_gets_the_caps_fix() {
        let mut f = facts();
        let fencing = &mut live(&mut f).fencing;
        fencing.entity = "client.kube".into();
        fencing.permission = FencePermission::Denied {
            caps: Some("mon 'allow r' osd 'profile rbd pool=kube'".into()),
        };
        let w = assess(&f);
        let b = w.blocker.clone().unwrap_or_else(|| panic!("not blocked"));
        assert!(
            b.reason
                .starts_with("permission preflight: client.kube may not blocklist"),
            "{b:?}"
        );
        assert_eq!(
            b.fix,
            [
                "ceph auth get client.kube    # note its current osd caps, then keep them below",
                "ceph auth caps client.kube mon 'profile rbd' osd 'profile rbd pool=kube'",
            ]
        );
        assert!(w.plan().is_none());
    }

    #[test]
    fn failed_reads_block_with_what_failed() {
        let mut f = facts();
        found(&mut f).live = Err(WizardError::unreachable(
            System::Ceph,
            "RBD image rbd/img",
            "timed out",
        ));
        let w = assess(&f);
        assert_eq!(blocker(&w), "cannot read RBD image rbd/img: timed out");
        assert!(
            w.render()
                .contains(&"✗ Cannot read the image's locks from Ceph: timed out".to_string())
        );
        let f = Facts {
            subject: ObjectRef::pod("default", "web-9"),
            found: Err(WizardError::not_found("pod default/web-9")),
        };
        let w = assess(&f);
        assert_eq!(
            blocker(&w),
            "cannot find what is stuck: no pod default/web-9"
        );
        assert_eq!(w.subject, ObjectRef::pod("default", "web-9"));
    }

    #[test]
    fn targets_parse() {
        assert_eq!(
            UnlockTarget::parse("web-0", "db"),
            Ok(UnlockTarget::Pod {
                namespace: "db".into(),
                name: "web-0".into()
            })
        );
        assert_eq!(
            UnlockTarget::parse("rbd/img", "db"),
            Ok(UnlockTarget::Spec("rbd/img".into()))
        );
        // A bad argument is named with what is wrong with it (D16), never taken for
        // "nothing stuck here".
        let said = |arg: &str| {
            UnlockTarget::parse(arg, "db")
                .map(|t| format!("{t:?}"))
                .unwrap_or_else(|e| e.to_string())
        };
        assert_eq!(
            said("a/b/c"),
            "unlock: \"a/b/c\" has 2 slashes; a pod is ns/pod and an RBD image is pool/image (one slash)"
        );
        assert_eq!(
            said("rbd/"),
            "unlock: \"rbd/\" is missing a name on one side of the slash; use ns/pod or pool/image"
        );
        assert!(said("/img").contains("missing a name"));
        assert!(said("a b").contains("holds a space"));
        assert!(said(" ").starts_with("unlock: name what to unlock"));
        assert_eq!(
            osd_caps("mon 'allow r' osd 'profile rbd'"),
            Some("profile rbd")
        );
        assert_eq!(osd_caps("mon 'allow r'"), None);
    }

    #[test]
    fn plan_fences_holder_and_watchers_before_breaking() {
        let claim = ("default".to_string(), "data".to_string());
        let pod = ("default".to_string(), "web-1".to_string());
        let off = [WizardOption {
            key: DELETE_POD_KEY,
            label: String::new(),
            on: false,
        }];
        let plan = build_plan("rbd", "img", &[stale()], Some(&pod), Some(&claim), &off);
        assert_eq!(plan.validate(), Ok(()));
        assert_eq!(plan.confirmation, Confirmation::TypedName("img".into()));
        assert_eq!(plan.action(), "blocklist+break-lock");
        let text = plan.render();
        assert_eq!(
            text[3],
            "  1. [destructive] Fence lock holder client.4140 on node1: blocklist 198.18.1.11:0/3323368536 for 1h (that client can no longer reach any OSD)"
        );
        assert!(text[4].contains("live watcher client.4150 on node1: blocklist 198.18.1.11:0/77"));
        assert!(text[5].contains("Break the lock kubelet_lock_magic_node1 of client.4140"));
        assert!(text[6].contains("a pod using claim default/data to be Running and Ready"));
        assert!(text[7].contains("the node running the pod with claim default/data"));
        let on = [WizardOption {
            on: true,
            ..off[0].clone()
        }];
        let plan = build_plan("rbd", "img", &[stale()], Some(&pod), Some(&claim), &on);
        assert_eq!(plan.action(), "blocklist+break-lock+delete-pod");

        // Never break without fencing: drop either fence and validate refuses.
        let mut no_watcher_fence = build_plan("rbd", "img", &[stale()], None, None, &off);
        no_watcher_fence.steps.remove(1);
        let err = no_watcher_fence.validate().unwrap_err();
        assert!(err.contains("the live watcher 198.18.1.11:0/77"), "{err}");
        let mut no_fence = build_plan("rbd", "img", &[stale()], None, None, &off);
        no_fence.steps.drain(0..2);
        let err = no_fence.validate().unwrap_err();
        assert!(err.contains("its holder 198.18.1.11:0/3323368536"), "{err}");
        // A whole-host fence does not count as fencing a client.
        no_fence.steps.insert(
            0,
            Step::new(
                Op::Fence {
                    addr: "198.18.1.11:0/0".into(),
                    expire: FENCE_EXPIRE,
                    who: "host".into(),
                },
                true,
            ),
        );
        assert!(no_fence.validate().is_err());
    }
}
