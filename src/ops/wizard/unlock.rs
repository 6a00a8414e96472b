//! The lock-removal wizard (seeds 003 and 004): a pod stays ContainerCreating because
//! its RBD image is still locked by a node that is gone. The assessment reads live
//! state (the objects from the API server, the image's lockers and watchers from
//! Ceph), shows what is stuck and the evidence that the holder is gone, checks that
//! our Ceph user may fence (the seed 003 failure), and builds the plan: fence the
//! holder and every live watcher from its address, break the lock, optionally delete
//! the stuck pod, then wait for the pod to run and the lock to name its node.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::model::pod::Pod;
use k8s_openapi::api::core::v1::{Event, Node, PersistentVolume, PersistentVolumeClaim};
use kube::Client;
use kube::api::{Api, ListParams};

use super::{Page, Wizard, WizardOption};
use crate::ceph::holders::{EntityAddr, NodeIndex, lock_holder, watcher_holder};
use crate::ceph::source::fence_permission;
use crate::ceph::{CephClient, ConnectionState, ImageInfo, LockerInfo};
use crate::model::ceph::{FencePermission, fence_caps_fix};
use crate::model::rows::rbd_image;
use crate::ops::op::{LockNode, ObjectRef, Op, WaitFor};
use crate::ops::plan::{Confirmation, Plan, Step};
use crate::ops::rbd_steps::pod_uses_claim;

/// How long a fence lasts: long enough for the pod to move, short enough that a node
/// that comes back is not cut off for good (Ceph's own default for lock breaking).
pub const FENCE_EXPIRE: Duration = Duration::from_secs(3600);
/// The option key: delete the stuck pod after breaking the lock.
pub const DELETE_POD_KEY: char = 'p';
/// How long to wait for the pod to run after the lock is gone.
pub const POD_TIMEOUT: Duration = Duration::from_secs(180);
/// How long to wait for the new lock once the pod runs.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(60);
/// Bound on each API request of the assessment.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// Event texts that say a pod waits for a volume held elsewhere.
const LOCK_EVENT_SIGNS: [&str; 3] = [
    "is locked by other nodes",
    "is still being used",
    "Multi-Attach",
];

/// What the wizard was opened on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnlockTarget {
    Pod {
        namespace: String,
        name: String,
    },
    Claim {
        namespace: String,
        name: String,
    },
    Volume {
        name: String,
    },
    Image {
        pool: String,
        image: String,
    },
    /// `a/b` typed after `:unlock`: the pod `a/b` if there is one, else image `b` of
    /// pool `a`.
    Spec(String),
}

impl UnlockTarget {
    /// `:unlock` arguments: `ns/pod` or `pool/image` (told apart by the API server),
    /// or a bare pod name in `default_ns`.
    pub fn parse(arg: &str, default_ns: &str) -> Option<UnlockTarget> {
        let arg = arg.trim();
        if arg.is_empty() || arg.contains(char::is_whitespace) {
            return None;
        }
        match arg.split_once('/') {
            Some((a, b)) if !a.is_empty() && !b.is_empty() && !b.contains('/') => {
                Some(UnlockTarget::Spec(arg.to_string()))
            }
            Some(_) => None,
            None => Some(UnlockTarget::Pod {
                namespace: default_ns.to_string(),
                name: arg.to_string(),
            }),
        }
    }

    fn subject(&self) -> ObjectRef {
        match self {
            UnlockTarget::Pod { namespace, name } => ObjectRef::pod(namespace, name),
            UnlockTarget::Claim { namespace, name } => {
                ObjectRef::new("PersistentVolumeClaim", Some(namespace), name.as_str())
            }
            UnlockTarget::Volume { name } => {
                ObjectRef::new("PersistentVolume", None, name.as_str())
            }
            UnlockTarget::Image { pool, image } => {
                ObjectRef::new("RbdImage", Some(pool), image.as_str())
            }
            UnlockTarget::Spec(s) => ObjectRef::new("Target", None, s.as_str()),
        }
    }
}

/// Everything found about the target, from the API server.
#[derive(Default)]
struct Found {
    pool: String,
    image: String,
    pv: Option<PersistentVolume>,
    pvc: Option<(String, String)>,
    /// The pod the operator is after (given, or the one waiting for the volume).
    stuck: Option<Pod>,
    /// Every pod mounting the claim.
    users: Vec<Pod>,
}

async fn call<T>(
    what: &str,
    fut: impl std::future::Future<Output = kube::Result<T>>,
) -> Result<T, String> {
    match tokio::time::timeout(CALL_TIMEOUT, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(kube::Error::Api(r))) => Err(format!("{what}: {} ({})", r.message, r.code)),
        Ok(Err(e)) => Err(format!("{what}: {e}")),
        Err(_) => Err(format!(
            "{what}: no answer from the API server within {}s",
            CALL_TIMEOUT.as_secs()
        )),
    }
}

fn name_of<K: kube::Resource>(k: &K) -> String {
    k.meta().name.clone().unwrap_or_default()
}

fn pod_claims(pod: &Pod) -> Vec<String> {
    pod.spec
        .as_ref()
        .and_then(|s| s.volumes.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|v| v.persistent_volume_claim.as_ref())
        .map(|c| c.claim_name.clone())
        .collect()
}

fn pod_node(pod: &Pod) -> String {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
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
    if pod.metadata.deletion_timestamp.is_some() {
        return "Terminating".into();
    }
    waiting.unwrap_or(phase)
}

fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True")
        && pod.metadata.deletion_timestamp.is_none()
}

/// The PV's claim, if the claim names the PV back (a claimRef alone is no binding).
async fn bound_claim(client: &Client, pv: &PersistentVolume) -> Option<(String, String)> {
    let r = pv.spec.as_ref()?.claim_ref.as_ref()?;
    let (ns, name) = (r.namespace.clone()?, r.name.clone()?);
    let api: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &ns);
    let pvc = call("get claim", api.get_opt(&name)).await.ok()??;
    (pvc.spec.as_ref()?.volume_name.as_deref() == pv.metadata.name.as_deref()).then_some((ns, name))
}

async fn claim_volume(
    client: &Client,
    namespace: &str,
    claim: &str,
) -> Result<Option<PersistentVolume>, String> {
    let api: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), namespace);
    let Some(pvc) = call(
        &format!("get claim {namespace}/{claim}"),
        api.get_opt(claim),
    )
    .await?
    else {
        return Err(format!("claim {namespace}/{claim} not found"));
    };
    let Some(pv_name) = pvc.spec.and_then(|s| s.volume_name) else {
        return Ok(None);
    };
    let pvs: Api<PersistentVolume> = Api::all(client.clone());
    call(&format!("get volume {pv_name}"), pvs.get_opt(&pv_name)).await
}

/// Finds pod, claim, volume and image from whichever of them the wizard was opened on.
async fn resolve(client: &Client, target: &UnlockTarget) -> Result<Found, String> {
    let mut found = Found::default();
    let target = match target {
        UnlockTarget::Spec(s) => {
            let (a, b) = s.split_once('/').unwrap_or(("", s));
            let pods: Api<Pod> = Api::namespaced(client.clone(), a);
            match call(&format!("get pod {s}"), pods.get_opt(b)).await {
                Ok(Some(_)) => UnlockTarget::Pod {
                    namespace: a.into(),
                    name: b.into(),
                },
                _ => UnlockTarget::Image {
                    pool: a.into(),
                    image: b.into(),
                },
            }
        }
        t => t.clone(),
    };
    match &target {
        UnlockTarget::Pod { namespace, name } => {
            let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
            let Some(pod) =
                call(&format!("get pod {namespace}/{name}"), pods.get_opt(name)).await?
            else {
                return Err(format!("pod {namespace}/{name} not found"));
            };
            for claim in pod_claims(&pod) {
                if let Some(pv) = claim_volume(client, namespace, &claim).await?
                    && let Some((pool, image)) = rbd_image(&pv)
                {
                    found.pool = pool.into();
                    found.image = image.into();
                    found.pv = Some(pv);
                    found.pvc = Some((namespace.clone(), claim));
                    break;
                }
            }
            if found.pv.is_none() {
                return Err(format!("pod {namespace}/{name} mounts no bound RBD volume"));
            }
            found.stuck = Some(pod);
        }
        UnlockTarget::Claim { namespace, name } => {
            let Some(pv) = claim_volume(client, namespace, name).await? else {
                return Err(format!("claim {namespace}/{name} is not bound to a volume"));
            };
            let Some((pool, image)) = rbd_image(&pv) else {
                return Err(format!("claim {namespace}/{name} is not on an RBD volume"));
            };
            found.pool = pool.into();
            found.image = image.into();
            found.pv = Some(pv);
            found.pvc = Some((namespace.clone(), name.clone()));
        }
        UnlockTarget::Volume { name } => {
            let pvs: Api<PersistentVolume> = Api::all(client.clone());
            let Some(pv) = call(&format!("get volume {name}"), pvs.get_opt(name)).await? else {
                return Err(format!("volume {name} not found"));
            };
            let Some((pool, image)) = rbd_image(&pv) else {
                return Err(format!("volume {name} is not an RBD volume"));
            };
            found.pool = pool.into();
            found.image = image.into();
            found.pvc = bound_claim(client, &pv).await;
            found.pv = Some(pv);
        }
        UnlockTarget::Image { pool, image } => {
            found.pool = pool.clone();
            found.image = image.clone();
            let pvs: Api<PersistentVolume> = Api::all(client.clone());
            let list = call("list volumes", pvs.list(&ListParams::default())).await?;
            if let Some(pv) = list
                .items
                .into_iter()
                .find(|pv| rbd_image(pv) == Some((pool.as_str(), image.as_str())))
            {
                found.pvc = bound_claim(client, &pv).await;
                found.pv = Some(pv);
            }
        }
        UnlockTarget::Spec(s) => return Err(format!("cannot tell what {s} is")),
    }
    if let Some((ns, claim)) = &found.pvc {
        let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
        let list = call(
            &format!("list pods in {ns}"),
            pods.list(&ListParams::default()),
        )
        .await?;
        found.users = list
            .items
            .into_iter()
            .filter(|p| pod_uses_claim(p, claim))
            .collect();
        if found.stuck.is_none() {
            // The pod waiting for the volume: alive, scheduled, not ready.
            found.stuck = found
                .users
                .iter()
                .find(|p| {
                    p.metadata.deletion_timestamp.is_none()
                        && !pod_node(p).is_empty()
                        && !is_ready(p)
                })
                .cloned();
        }
    }
    Ok(found)
}

/// Node names with their addresses and readiness.
async fn nodes(client: &Client) -> Result<(NodeIndex, BTreeMap<String, bool>), String> {
    let api: Api<Node> = Api::all(client.clone());
    let list = call("list nodes", api.list(&ListParams::default())).await?;
    let mut pairs = Vec::new();
    let mut ready = BTreeMap::new();
    for n in &list.items {
        let name = name_of(n);
        let status = n.status.as_ref();
        for a in status
            .and_then(|s| s.addresses.as_ref())
            .into_iter()
            .flatten()
        {
            if (a.type_ == "InternalIP" || a.type_ == "ExternalIP")
                && let Ok(ip) = a.address.parse()
            {
                pairs.push((name.clone(), ip));
            }
        }
        let is_ready = status
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        ready.insert(name, is_ready);
    }
    Ok((NodeIndex::new(pairs), ready))
}

/// The pod's events that say it waits for a volume held elsewhere (newest last).
async fn lock_events(client: &Client, pod: &Pod) -> Vec<String> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let api: Api<Event> = Api::namespaced(client.clone(), &ns);
    let params = ListParams::default().fields(&format!("involvedObject.name={}", name_of(pod)));
    let Ok(list) = call("list events", api.list(&params)).await else {
        return Vec::new();
    };
    let mut out: Vec<String> = list
        .items
        .into_iter()
        .filter_map(|e| {
            let msg = e.message?;
            LOCK_EVENT_SIGNS
                .iter()
                .any(|s| msg.contains(s))
                .then(|| format!("{}: {msg}", e.reason.unwrap_or_default()))
        })
        .collect();
    out.dedup();
    out
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

/// Assesses the target from live state and returns the wizard (blocked or with a
/// plan). Never changes anything. Problems reaching the API server or Ceph become
/// blockers, so the operator always gets an answer.
pub async fn assess(kube: &Client, ceph: &CephClient, target: &UnlockTarget) -> Wizard {
    let mut w = Wizard::new("Remove a stale RBD lock", target.subject());
    let found = match resolve(kube, target).await {
        Ok(f) => f,
        Err(e) => {
            let mut p = Page::new("What is stuck");
            p.bad(e.clone());
            w.pages.push(p);
            w.block(format!("cannot find what is stuck: {e}"), Vec::new());
            return w;
        }
    };
    let spec = format!("{}/{}", found.pool, found.image);
    w.title = format!("Remove the stale lock on RBD image {spec}");
    w.subject = ObjectRef::new("RbdImage", Some(&found.pool), found.image.as_str());

    // 1. What is stuck.
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
        for e in lock_events(kube, pod).await {
            what.bad(format!("  {e}"));
        }
    } else {
        what.plain("No pod waiting for this volume was found");
    }
    match &found.pvc {
        Some((ns, name)) => what.plain(format!("Claim {ns}/{name}")),
        None => what.plain("No bound claim"),
    }
    match &found.pv {
        Some(pv) => what.plain(format!(
            "Volume {} ({})",
            name_of(pv),
            pv.status
                .as_ref()
                .and_then(|s| s.phase.clone())
                .unwrap_or_default()
        )),
        None => what.plain("No PersistentVolume uses this image"),
    }
    what.plain(format!("RBD image {spec}"));

    let info: ImageInfo = match ceph.image_info(&found.pool, &found.image).await {
        Ok(i) => i,
        Err(e) => {
            what.bad(format!("Cannot read the image's locks from Ceph: {e}"));
            w.pages.push(what);
            w.block(format!("cannot read RBD image {spec}: {e}"), Vec::new());
            return w;
        }
    };
    let (index, ready) = match nodes(kube).await {
        Ok(n) => n,
        Err(e) => {
            w.pages.push(what);
            w.block(format!("cannot read the nodes: {e}"), Vec::new());
            return w;
        }
    };
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
    let mut ev = Page::new("Evidence");
    let stuck_node = found.stuck.as_ref().map(pod_node).unwrap_or_default();
    let live_users: Vec<(String, String)> = found
        .users
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .map(|p| (name_of(p), pod_node(p)))
        .collect();
    let mut stale: Vec<Stale> = Vec::new();
    let mut not_stale: Vec<String> = Vec::new();
    for l in &info.lockers {
        let h = lock_holder(l, &index);
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
        let h = watcher_holder(wt, &index);
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
    w.pages.push(ev);

    // 3. Permission preflight and our own address.
    let mut perm = Page::new("Permission");
    let entity = ceph.entity();
    let permission = fence_permission(ceph).await;
    let own: Vec<EntityAddr> = match ceph.state() {
        ConnectionState::Connected { addrs, .. } => {
            addrs.iter().filter_map(|a| EntityAddr::parse(a)).collect()
        }
        _ => Vec::new(),
    };
    let mut own_hit: Option<String> = None;
    for s in &stale {
        for addr in std::iter::once(&s.lock.address).chain(s.watchers.iter().map(|(a, _)| a)) {
            if let Some(a) = EntityAddr::parse(addr)
                && let Some(o) = own.iter().find(|o| a.covers(o))
            {
                own_hit = Some(format!("{addr} is kcops' own Ceph client ({o})"));
            }
        }
    }
    match &permission {
        FencePermission::Allowed => perm.ok(format!(
            "{entity} may blocklist clients (osd blocklist): fencing is possible"
        )),
        FencePermission::Denied { caps } => {
            perm.bad(format!(
                "{entity} may not blocklist clients. Breaking a lock fences its holder first, so it fails with \"rbd: releasing lock failed: (13) Permission denied\" and \"unable to blacklist client\" (seed 003)"
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
    match permission {
        FencePermission::Allowed => {}
        FencePermission::Denied { caps } => {
            let osd = caps.as_deref().and_then(osd_caps).map(str::to_string);
            let mut fix = vec![format!(
                "ceph auth get {entity}    # note its current osd caps, then keep them below"
            )];
            fix.push(fence_caps_fix(&entity, osd.as_deref()));
            w.block(
                format!(
                    "permission preflight: {entity} may not blocklist (fence) clients; it needs mon caps `profile rbd` (or `allow rw`)"
                ),
                fix,
            );
        }
        FencePermission::CheckFailed(e) => w.block(
            format!("permission preflight: the check failed: {e}"),
            Vec::new(),
        ),
        FencePermission::Unknown => w.block("permission preflight: not checked", Vec::new()),
    }
    if stale.is_empty() && !w.is_blocked() {
        w.block("no stale lock to break", Vec::new());
    }

    // 4. The plan.
    let stuck = found
        .stuck
        .as_ref()
        .map(|p| (p.metadata.namespace.clone().unwrap_or_default(), name_of(p)));
    let (pool, image, pvc) = (found.pool.clone(), found.image.clone(), found.pvc.clone());
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

#[cfg(test)]
mod tests {
    use super::*;

    fn stale() -> Stale {
        Stale {
            lock: LockerInfo {
                locker: "client.4140".into(),
                cookie: "kubelet_lock_magic_node1".into(),
                address: "198.18.1.11:0/3323368536".into(),
                tag: String::new(),
                exclusive: true,
            },
            node: "node1".into(),
            watchers: vec![("198.18.1.11:0/77".into(), "client.4150".into())],
        }
    }

    #[test]
    fn targets_parse() {
        assert_eq!(
            UnlockTarget::parse("web-0", "db"),
            Some(UnlockTarget::Pod {
                namespace: "db".into(),
                name: "web-0".into()
            })
        );
        assert_eq!(
            UnlockTarget::parse("rbd/img", "db"),
            Some(UnlockTarget::Spec("rbd/img".into()))
        );
        assert_eq!(UnlockTarget::parse("a/b/c", "db"), None);
        assert_eq!(UnlockTarget::parse("", "db"), None);
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
