//! Pod checks: `pod.crashloop`, `pod.volume-locked`, `pod.sandbox-failed`,
//! `pod.stuck-creating`, `pod.unschedulable` and `pod.terminating-stuck`.
//!
//! Each pod gets at most one finding, for its most precise cause. Sandbox failures are
//! aggregated per node: they come from the node's CNI setup, so one finding per node
//! (listing the pods) says it once instead of once per pod.
//!
//! The pod network owns two of these causes (see [`super::network`]): a crash-looping
//! network agent (flannel, calico-node, ...) is `net.cni-crashloop`, not
//! `pod.crashloop`, and a sandbox failure whose message has a recognised network
//! signature (subnet.env missing, IPAM exhausted, ...) is that signature's `net.*`
//! finding. This check finds them and hands them over; `pod.sandbox-failed` keeps the
//! failures it cannot classify, verbatim.

use crate::model::objref::ObjRef;
use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use crate::model::pod::{ContainerStatus, Pod};
use k8s_openapi::api::core::v1::Event;
use regex::Regex;

use super::ceph::locks::{pod_lock_story as lock_story, stale_locks};
use super::index::{
    Index, at, event_line, pod_claims, pod_condition, pod_key, pod_node, pod_phase,
};
use super::network::{Handoff, SandboxFailure, signature::classify};
use super::volume_causes::{self, Cause, Failing, Volume, is_first_format, normalized};
use super::{Explained, Finding, Severity, cap_listed, span};
use crate::model::pod_status::{pod_status, timestamp};
use crate::model::rows::rbd_image;
use crate::model::snapshot::Snapshot;

/// Mount failure texts that mean another node still holds the volume: the in-tree
/// RBD plugin's lock, ceph-csi's watcher check, and the attach/detach controller.
const LOCK_TEXTS: &[&str] = &[
    "is locked by other nodes",
    "is still being used",
    "Multi-Attach error",
];

/// Event reasons of volume attach/mount failures.
const MOUNT_REASONS: &[&str] = &["FailedMount", "FailedAttachVolume", "FailedMapVolume"];

/// Namespaces whose pods keep the cluster itself running.
const SYSTEM_NAMESPACES: &[&str] = &[
    "kube-system",
    "kube-flannel",
    "calico-system",
    "tigera-operator",
];

/// Name prefixes of pod network agents: when one of them is down, its node's pods get
/// no network.
const CNI_PREFIXES: &[&str] = &[
    "kube-flannel",
    "calico-node",
    "canal",
    "cilium",
    "weave-net",
    "kube-router",
];

pub fn check<'a>(
    s: &'a Snapshot,
    ix: &Index<'a>,
    handoff: &mut Handoff<'a>,
    out: &mut Vec<Finding>,
) -> Explained<'a> {
    let mut explained = Explained::new();
    let mut sandbox: BTreeMap<&'a str, Vec<(&'a Pod, &'a Event)>> = BTreeMap::new();
    let mut crashing_cni: HashMap<&'a str, Vec<String>> = HashMap::new();
    for pod in &s.pods {
        let pod: &'a Pod = pod;
        let key = pod_key(pod);
        let node = pod_node(pod);
        if pod.metadata.deletion_timestamp().is_some() {
            if let Some(f) = terminating_stuck(pod, node, ix) {
                out.push(f);
            }
            explained.insert(key);
            continue;
        }
        if matches!(pod_phase(pod), "Succeeded" | "Failed") {
            continue;
        }
        let Some(node) = node else {
            if let Some(f) = unschedulable(pod, ix) {
                out.push(f);
                explained.insert(key);
            } else if waits_for_pending_claim(pod, ix) {
                explained.insert(key);
            }
            continue;
        };
        // Its status is stale; the node's own finding covers it.
        if ix.node_not_ready(node) {
            explained.insert(key);
            continue;
        }
        if let Some(f) = crashloop(pod, node, ix) {
            if is_cni_pod(pod) {
                crashing_cni
                    .entry(node)
                    .or_default()
                    .push(format!("{}/{}", key.0, key.1));
                handoff.cni_crashes.push((pod, node, f));
            } else {
                out.push(f);
            }
            explained.insert(key);
            continue;
        }
        if !is_creating(pod) {
            continue;
        }
        match creating_failure(pod, ix) {
            Some(Failure::Sandbox(ev)) => {
                sandbox.entry(node).or_default().push((pod, ev));
                explained.insert(key);
            }
            Some(Failure::Locked(ev)) => {
                // A stale lock Ceph shows is `rbd.stale-lock`'s, with this pod as its
                // evidence: one finding per root cause.
                if !covered_by_stale_lock(pod, ev, s, ix) {
                    out.push(volume_locked(pod, node, ev, s, ix));
                }
                explained.insert(key);
            }
            Some(Failure::Cause(cause, evs)) => {
                // An attachment held by a dead node is `pv.attached-elsewhere`'s, with
                // this pod as its evidence: one finding per root cause.
                if cause != Cause::MultiAttach || !super::csi::attach::pod_waits_on_held(pod, s, ix)
                {
                    out.push(cause_finding(pod, node, &cause, evs, ix));
                }
                explained.insert(key);
            }
            Some(Failure::Mount(evs)) => {
                out.push(stuck_creating(pod, node, &evs, ix));
                explained.insert(key);
            }
            None => {
                if waits_for_pending_claim(pod, ix) {
                    explained.insert(key);
                } else if creating_since(pod)
                    .is_some_and(|t| ix.since(t) > ix.limits.stuck_creating)
                {
                    out.push(stuck_creating(pod, node, &[], ix));
                    explained.insert(key);
                }
            }
        }
    }
    for (node, pods) in sandbox {
        let mut unclassified = Vec::new();
        for (pod, event) in pods {
            let signature = classify(event.message.as_deref().unwrap_or_default());
            if signature.sandbox_finding().is_some() {
                handoff
                    .sandbox
                    .entry(node)
                    .or_default()
                    .push(SandboxFailure {
                        pod,
                        event,
                        signature,
                    });
            } else {
                unclassified.push((pod, event));
            }
        }
        if !unclassified.is_empty() {
            let cni = crashing_cni
                .get(node)
                .map(Vec::as_slice)
                .unwrap_or_default();
            out.push(sandbox_failed(node, &unclassified, cni));
        }
    }
    explained
}

fn is_system_pod(pod: &Pod) -> bool {
    let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
    let priority = pod
        .spec
        .as_ref()
        .and_then(|s| s.priority_class_name())
        .unwrap_or_default();
    SYSTEM_NAMESPACES.contains(&ns)
        || priority == "system-node-critical"
        || priority == "system-cluster-critical"
}

/// A pod network agent, by namespace or name prefix: its crash loop is the network
/// checks' (`net.cni-crashloop`).
pub(super) fn is_cni_pod(pod: &Pod) -> bool {
    let (ns, name) = pod_key(pod);
    ns == "kube-flannel" || CNI_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Claims of the pod that exist and are still Pending: `pvc.pending` owns that cause.
fn waits_for_pending_claim(pod: &Pod, ix: &Index) -> bool {
    let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
    pod_claims(pod).any(|c| {
        ix.pvcs.get(&(ns, c)).is_some_and(|pvc| {
            pvc.status
                .as_ref()
                .and_then(|s| s.phase.as_deref())
                .unwrap_or("Pending")
                == "Pending"
        })
    })
}

// ---------------------------------------------------------------------------------
// pod.crashloop

/// A container that keeps failing: in back-off now, or running (unready) after at
/// least two restarts with its last run failed recently. The lab and real kubelets
/// alternate between the two states, so both count.
fn crashing(c: &ContainerStatus, ix: &Index) -> bool {
    let state = c.state.as_ref();
    if state
        .and_then(|s| s.waiting.as_ref())
        .and_then(|w| w.reason.as_deref())
        == Some("CrashLoopBackOff")
    {
        return true;
    }
    if c.ready || c.restart_count < 2 {
        return false;
    }
    let failed_now = state
        .and_then(|s| s.terminated.as_ref())
        .is_some_and(|t| t.exit_code != 0);
    let failed_recently = c
        .last_state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .filter(|t| t.exit_code != 0)
        .and_then(|t| t.finished_at.as_ref())
        .and_then(timestamp)
        .is_some_and(|t| ix.since(t) < ix.limits.crash_recent);
    failed_now || failed_recently
}

/// What an exit code usually means, for the explanation.
fn exit_hint(code: i32, reason: &str) -> &'static str {
    match (code, reason) {
        (_, "OOMKilled") => {
            " It was killed for using more memory than its limit (OOMKilled): raise the limit or fix the leak."
        }
        (137, _) => " Exit code 137 is SIGKILL: often a failing liveness probe or the OOM killer.",
        (143, _) => " Exit code 143 is SIGTERM: something stopped it, often a liveness probe.",
        (139, _) => " Exit code 139 is a segmentation fault.",
        (126 | 127, _) => {
            " Exit code 126/127 means the command could not be run (not found or not executable)."
        }
        _ => "",
    }
}

fn crashloop(pod: &Pod, node: &str, ix: &Index) -> Option<Finding> {
    let status = pod.status.as_ref()?;
    let containers = status
        .init_container_statuses()
        .into_iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten());
    let mut evidence = Vec::new();
    let mut first: Option<(&str, i32, String)> = None;
    for c in containers.filter(|c| crashing(c, ix)) {
        let waiting = c
            .state
            .as_ref()
            .and_then(|s| s.waiting.as_ref())
            .and_then(|w| w.reason.as_deref());
        evidence.push(format!(
            "container {}: {}, restarted {} times",
            c.name,
            waiting.unwrap_or("running, not ready"),
            c.restart_count
        ));
        let term = c
            .state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
            .or_else(|| c.last_state.as_ref().and_then(|s| s.terminated.as_ref()));
        if let Some(t) = term {
            let reason = t.reason.as_deref().unwrap_or_default();
            let signal = t
                .signal
                .filter(|s| *s != 0)
                .map(|s| format!(", signal {s}"))
                .unwrap_or_default();
            evidence.push(format!(
                "container {}: last terminated with exit code {}{signal} ({}) at {}",
                c.name,
                t.exit_code,
                if reason.is_empty() {
                    "no reason"
                } else {
                    reason
                },
                at(t.finished_at.as_ref())
            ));
            let message = t.message.as_deref().unwrap_or_default().trim();
            for line in message.lines().filter(|l| !l.trim().is_empty()).take(5) {
                evidence.push(format!("container {}: {}", c.name, line.trim_end()));
            }
            if first.is_none() {
                first = Some((c.name.as_str(), t.exit_code, reason.to_string()));
            }
        } else if first.is_none() {
            first = Some((c.name.as_str(), 0, String::new()));
        }
    }
    let (container, code, reason) = first?;
    let (ns, name) = pod_key(pod);
    let mut explanation = format!(
        "Container {container} of pod {ns}/{name} on {node} keeps exiting (last exit code {code}) and the kubelet backs off before each restart, so the pod is not ready.{}",
        exit_hint(code, &reason)
    );
    if is_cni_pod(pod) {
        explanation.push_str(&format!(
            " It is the pod network agent of {node}: while it is down, new pods on {node} get no network."
        ));
    }
    Some(Finding {
        id: "pod.crashloop",
        severity: if is_system_pod(pod) {
            Severity::Critical
        } else {
            Severity::Warning
        },
        subject: Some(ObjRef::namespaced("Pod", ns, name)),
        object: format!("Pod {ns}/{name}"),
        namespace: Some(ns.to_string()),
        node: Some(node.to_string()),
        evidence,
        explanation,
        fix: format!(
            "Read why the last run failed: `kubectl logs -n {ns} {name} -c {container} --previous`, and `kubectl describe pod -n {ns} {name}` for probes and limits. Fix the cause (configuration, a dependency it cannot reach, memory limit); the kubelet restarts it by itself."
        ),
    })
}

// ---------------------------------------------------------------------------------
// Creating: sandbox, mount, lock

/// Phase Pending with no container running, failed or in an error state (image pull
/// errors are not this check's): the kubelet is still setting the pod up.
fn is_creating(pod: &Pod) -> bool {
    if pod_phase(pod) != "Pending" {
        return false;
    }
    let Some(status) = pod.status.as_ref() else {
        return true;
    };
    status
        .init_container_statuses()
        .into_iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten())
        .all(|c| match c.state.as_ref() {
            None => true,
            Some(st) => {
                if st.running.is_some() {
                    false
                } else if let Some(t) = &st.terminated {
                    t.exit_code == 0
                } else {
                    let reason = st
                        .waiting
                        .as_ref()
                        .and_then(|w| w.reason.as_deref())
                        .unwrap_or_default();
                    matches!(reason, "" | "ContainerCreating" | "PodInitializing")
                }
            }
        })
}

/// When the pod was handed to its node: the PodScheduled transition, else its start.
fn creating_since(pod: &Pod) -> Option<jiff::Timestamp> {
    pod_condition(pod, "PodScheduled")
        .filter(|c| c.status() == "True")
        .and_then(|c| c.last_transition_time())
        .or_else(|| pod.status.as_ref()?.start_time())
        .or_else(|| pod.metadata.creation_timestamp())
        .as_ref()
        .and_then(timestamp)
}

enum Failure<'a> {
    Sandbox(&'a Event),
    Locked(&'a Event),
    /// A failure whose text names its cause, with its events (newest first, distinct).
    Cause(Cause, Vec<&'a Event>),
    /// Other attach/mount failures, newest first, distinct messages.
    Mount(Vec<&'a Event>),
}

fn is_sandbox_event(e: &Event) -> bool {
    let reason = e.reason.as_deref().unwrap_or_default();
    let message = e.message.as_deref().unwrap_or_default();
    reason == "FailedCreatePodSandBox"
        // Kubelets before CRI (docker, Kubernetes 1.5) reported CNI failures as
        // FailedSync: `failed to "SetupNetwork" ... Failed to setup network for pod`.
        || (reason == "FailedSync"
            && (message.contains("SetupNetwork") || message.contains("Failed to setup network")))
}

/// A mount failure, except the first mount's format of an empty image (normal).
fn is_mount_event(e: &Event) -> bool {
    MOUNT_REASONS.contains(&e.reason.as_deref().unwrap_or_default())
        && !is_first_format(e.message.as_deref().unwrap_or_default())
}

fn is_lock_event(e: &Event) -> bool {
    let message = e.message.as_deref().unwrap_or_default();
    LOCK_TEXTS.iter().any(|t| message.contains(t))
}

/// The newest sandbox or mount failure decides: the kubelet mounts volumes before it
/// creates the sandbox, so a newer sandbox failure means the mounts went through.
fn creating_failure<'a>(pod: &Pod, ix: &Index<'a>) -> Option<Failure<'a>> {
    let warnings = ix.pod_warnings(pod);
    let newest = *warnings
        .iter()
        .find(|e| is_sandbox_event(e) || is_mount_event(e))?;
    if is_sandbox_event(newest) {
        return Some(Failure::Sandbox(newest));
    }
    if let Some(cause) = volume_causes::classify(newest.message.as_deref().unwrap_or_default()) {
        let mut events: Vec<&Event> = Vec::new();
        let mut seen: Vec<String> = Vec::new();
        for e in warnings.into_iter().filter(|e| is_mount_event(e)) {
            let m = e.message.as_deref().unwrap_or_default();
            if events.len() < 3 && volume_causes::classify(m).as_ref() == Some(&cause) {
                let n = normalized(m);
                if !seen.contains(&n) {
                    seen.push(n);
                    events.push(e);
                }
            }
        }
        return Some(Failure::Cause(cause, events));
    }
    if is_lock_event(newest) {
        return Some(Failure::Locked(newest));
    }
    let mut events = vec![newest];
    for e in warnings.into_iter().filter(|e| is_mount_event(e)) {
        if events.len() >= 3 {
            break;
        }
        if !events.iter().any(|x| x.message == e.message) {
            events.push(e);
        }
    }
    Some(Failure::Mount(events))
}

/// An RBD volume of the pod: claim, PV name, pool and image.
struct RbdVolume<'a> {
    claim: &'a str,
    pv: &'a str,
    pool: &'a str,
    image: &'a str,
}

fn rbd_volumes<'a>(pod: &'a Pod, ix: &Index<'a>) -> Vec<RbdVolume<'a>> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
    pod_claims(pod)
        .filter_map(|claim| {
            let pv_name = ix
                .pvcs
                .get(&(ns, claim))?
                .spec
                .as_ref()?
                .volume_name
                .as_deref()?;
            let pv = ix.pvs.get(pv_name)?;
            let (pool, image) = rbd_image(pv)?;
            Some(RbdVolume {
                claim,
                pv: pv_name,
                pool,
                image,
            })
        })
        .collect()
}

/// The image a lock message names (`rbd: image X is locked by other nodes`, ceph-csi's
/// `rbd image pool/X is still being used`).
fn locked_image(message: &str) -> Option<&str> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    let re = RE
        .get_or_init(|| {
            Regex::new(r"image ([^\s:]+) is (?:locked by other nodes|still being used)").ok()
        })
        .as_ref()?;
    re.captures(message)?.get(1).map(|m| m.as_str())
}

fn volume_locked(pod: &Pod, node: &str, ev: &Event, s: &Snapshot, ix: &Index) -> Finding {
    let (ns, name) = pod_key(pod);
    let message = ev.message.as_deref().unwrap_or_default();
    let volumes = rbd_volumes(pod, ix);
    let named = locked_image(message);
    // The volume the message is about: by image, by PV name, else the only RBD one.
    let volume = volumes
        .iter()
        .find(|v| named.is_some_and(|n| n == v.image || n == format!("{}/{}", v.pool, v.image)))
        .or_else(|| {
            volumes
                .iter()
                .find(|v| message.contains(&format!("\"{}\"", v.pv)))
        })
        .or_else(|| volumes.first().filter(|_| volumes.len() == 1));
    let spec = match (volume, named) {
        (Some(v), _) => format!("{}/{}", v.pool, v.image),
        (None, Some(n)) => n.to_string(),
        (None, None) => "<pool>/<image>".to_string(),
    };
    let mut evidence = vec![event_line(ev)];
    if let Some(v) = volume {
        evidence.push(format!(
            "claim {} is bound to {} = RBD image {}/{}",
            v.claim, v.pv, v.pool, v.image
        ));
    }
    let mut suspects: Vec<&str> = ix
        .not_ready
        .iter()
        .copied()
        .filter(|n| *n != node && ix.nodes.contains_key(n))
        .collect();
    suspects.sort_unstable();
    let holder = match suspects.as_slice() {
        [] => "another node".to_string(),
        [one] => format!("another node (most likely {one}, which is NotReady)"),
        many => format!(
            "another node (most likely one of {}, NotReady)",
            many.join(", ")
        ),
    };
    let claim = volume
        .map(|v| format!("claim {}", v.claim))
        .unwrap_or_else(|| "its volume".to_string());
    // With Ceph data: who really holds the image, and whether it still runs a user.
    let story = volume
        .and_then(|v| ix.image_use(v.pool, v.image))
        .map(|u| lock_story(u, node, s, ix));
    if let Some(st) = &story {
        evidence.extend(st.evidence.iter().cloned());
    }
    let explanation = if let Some(st) = story.as_ref().filter(|_| !message.contains("Multi-Attach"))
    {
        if !st.shared.is_empty() && st.holder.is_empty() {
            format!(
                "Pod {ns}/{name} on {node} cannot mount {claim}: RBD image {spec} is locked by {}. An RBD volume is mapped read-write on one node at a time, so this pod waits until that one stops (two pods on two nodes share a ReadWriteOnce claim).",
                st.shared
            )
        } else if st.holder.is_empty() {
            format!(
                "Pod {ns}/{name} on {node} could not mount {claim} because RBD image {spec} was locked by another node, but Ceph shows no lock by another node now (see the evidence): the kubelet's next mount retry should succeed."
            )
        } else {
            format!(
                "Pod {ns}/{name} on {node} cannot mount {claim}: RBD image {spec} is still locked by {}. The kubelet that mapped it there never released the lock (the node went down or the pod was force-deleted), so the pod stays ContainerCreating; the kubelet retries on its own once the lock is gone.{}",
                st.holder, st.fencing
            )
        }
    } else if message.contains("Multi-Attach") {
        format!(
            "Pod {ns}/{name} on {node} cannot attach {claim} (RBD image {spec}): the volume is still attached to {holder}, and a ReadWriteOnce volume attaches to one node at a time. The pod stays ContainerCreating until it is detached there."
        )
    } else {
        format!(
            "Pod {ns}/{name} on {node} cannot mount {claim}: RBD image {spec} is locked by {holder}. The kubelet that mapped it there never released the lock (the node went down or the pod was force-deleted), so the pod stays ContainerCreating; the kubelet retries on its own once the lock is gone."
        )
    };
    Finding {
        id: "pod.volume-locked",
        severity: Severity::Critical,
        subject: Some(ObjRef::namespaced("Pod", ns, name)),
        object: format!("Pod {ns}/{name}"),
        namespace: Some(ns.to_string()),
        node: Some(node.to_string()),
        evidence,
        explanation,
        fix: story.and_then(|st| st.fix).unwrap_or_else(|| format!(
            "See who holds it: `rbd lock ls {spec}` and `rbd status {spec}` (watchers). If the holder is a node that is down or no longer runs this pod, fence it (`ceph osd blocklist add <address from the lock list> 3600`: that one client, for an hour) and remove the lock (`rbd lock rm {spec} <lock id> <locker>`); never remove a lock whose holder still writes to the image. Then the mount succeeds on the next retry."
        )),
    }
}

/// Ceph shows a stale lock (or, for ceph-csi, a stale watch) on the image the lock event is about.
fn covered_by_stale_lock(pod: &Pod, ev: &Event, s: &Snapshot, ix: &Index) -> bool {
    let message = ev.message.as_deref().unwrap_or_default();
    let volumes = rbd_volumes(pod, ix);
    let named = locked_image(message);
    volumes
        .iter()
        .filter(|v| named.is_none_or(|n| n == v.image || n == format!("{}/{}", v.pool, v.image)))
        .filter_map(|v| ix.image_use(v.pool, v.image))
        .any(|u| {
            !stale_locks(u, s, ix).is_empty()
                || !super::csi::watchers::stale_watchers(u, s, ix).is_empty()
        })
}

/// A mount failure whose text names its cause: that cause's finding about the pod.
fn cause_finding(pod: &Pod, node: &str, cause: &Cause, events: Vec<&Event>, ix: &Index) -> Finding {
    let (ns, name) = pod_key(pod);
    let volumes = rbd_volumes(pod, ix);
    let message = events
        .first()
        .and_then(|e| e.message.as_deref())
        .unwrap_or_default();
    let volume = volumes
        .iter()
        .find(|v| message.contains(v.pv) || message.contains(v.image))
        .or_else(|| volumes.first());
    let volume = volume
        .and_then(|v| Some((v, *ix.pvs.get(v.pv)?)))
        .map(|(v, pv)| Volume::of_pv(pv, Some(&format!("{ns}/{}", v.claim))))
        .unwrap_or_default();
    volume_causes::finding(
        cause,
        Failing {
            subject: ObjRef::namespaced("Pod", ns, name),
            namespace: ns,
            node: Some(node),
            events,
            volume,
            context: Vec::new(),
        },
        ix,
    )
}

fn stuck_creating(pod: &Pod, node: &str, events: &[&Event], ix: &Index) -> Finding {
    let (ns, name) = pod_key(pod);
    let status = pod_status(pod);
    let volumes = rbd_volumes(pod, ix);
    let mut evidence: Vec<String>;
    let mut explanation;
    if events.is_empty() {
        evidence = vec![format!(
            "status {status}, scheduled to {node} at {}",
            creating_since(pod)
                .map(|t| t.to_string())
                .unwrap_or_else(|| "an unknown time".to_string())
        )];
        evidence.extend(ix.pod_warnings(pod).into_iter().take(3).map(event_line));
        explanation = format!(
            "Pod {ns}/{name} was scheduled to {node} more than {} ago and its containers are still not created ({status}).",
            span(ix.limits.stuck_creating)
        );
    } else {
        evidence = events.iter().map(|e| event_line(e)).collect();
        explanation = format!(
            "The kubelet on {node} cannot attach or mount a volume of pod {ns}/{name}, so its containers are not created ({status})."
        );
    }
    for v in &volumes {
        evidence.push(format!(
            "claim {} is bound to {} = RBD image {}/{}",
            v.claim, v.pv, v.pool, v.image
        ));
    }
    let mut fix = format!(
        "`kubectl describe pod -n {ns} {name}` and the kubelet log on {node} (`journalctl -u kubelet | grep {name}`) say what it waits for."
    );
    if let Some(v) = volumes.first() {
        explanation.push_str(
            " With RBD volumes the usual cause is an image still locked or mapped by another node; older kubelets only say \"timeout expired waiting for volumes to attach/mount\" and put the lock error in their log.",
        );
        fix.push_str(&format!(
            " Check the image: `rbd lock ls {}/{}` and `rbd status {}/{}`.",
            v.pool, v.image, v.pool, v.image
        ));
    }
    Finding {
        id: "pod.stuck-creating",
        severity: Severity::Warning,
        subject: Some(ObjRef::namespaced("Pod", ns, name)),
        object: format!("Pod {ns}/{name}"),
        namespace: Some(ns.to_string()),
        node: Some(node.to_string()),
        evidence,
        explanation,
        fix,
    }
}

/// The cause of sandbox failures the network checks could not classify (those they
/// can are theirs): the messages are the evidence, quoted verbatim.
fn sandbox_cause(node: &str) -> (String, String) {
    (
        "the CNI plugin failed to set up their network (the evidence quotes how; kcops does not recognise this failure)".to_string(),
        format!(
            "Read the messages above and the kubelet and CNI logs on {node} (`journalctl -u kubelet`, the network add-on's pod there)."
        ),
    )
}

fn sandbox_failed(node: &str, pods: &[(&Pod, &Event)], crashing_cni: &[String]) -> Finding {
    let (cause, fix) = sandbox_cause(node);
    let lines = pods
        .iter()
        .map(|(p, e)| {
            let (ns, name) = pod_key(p);
            format!("Pod {ns}/{name}: {}", event_line(e))
        })
        .collect();
    let n = pods.len();
    let mut explanation = format!(
        "{n} pod{} on {node} cannot start: the kubelet fails to create {} sandbox because {cause}.",
        if n == 1 { "" } else { "s" },
        if n == 1 { "its" } else { "their" },
    );
    if !crashing_cni.is_empty() {
        explanation.push_str(&format!(
            " The pod network agent on {node} ({}) is crash-looping, which explains it.",
            crashing_cni.join(", ")
        ));
    }
    Finding {
        id: "pod.sandbox-failed",
        severity: Severity::Critical,
        subject: Some(ObjRef::cluster("Node", node)),
        object: format!("Node {node}"),
        namespace: None,
        node: Some(node.to_string()),
        evidence: cap_listed(lines, "pods"),
        explanation,
        fix,
    }
}

// ---------------------------------------------------------------------------------
// Scheduling and termination

fn unschedulable(pod: &Pod, ix: &Index) -> Option<Finding> {
    let cond = pod_condition(pod, "PodScheduled")?;
    if cond.status() != "False" || cond.reason() != Some("Unschedulable") {
        return None;
    }
    let newest_event = ix
        .pod_warnings(pod)
        .into_iter()
        .find(|e| e.reason.as_deref() == Some("FailedScheduling"));
    let message = cond
        .message()
        .filter(|m| !m.is_empty())
        .or_else(|| newest_event.and_then(|e| e.message.as_deref()))
        .unwrap_or_default();
    // Waiting for a claim to bind is the claim's finding (`pvc.pending`).
    if message.contains("PersistentVolumeClaim") && waits_for_pending_claim(pod, ix) {
        return None;
    }
    let (ns, name) = pod_key(pod);
    let mut fixes = Vec::new();
    if message.contains("node affinity/selector") {
        fixes.push(format!("compare the pod's nodeSelector/affinity (`kubectl get pod -n {ns} {name} -o yaml`) with the node labels (`kubectl get nodes --show-labels`)"));
    }
    if message.contains("untolerated taint") {
        fixes.push(
            "add a toleration or remove the taint (`kubectl describe nodes | grep Taints`)"
                .to_string(),
        );
    }
    if message.contains("were unschedulable") {
        fixes.push("uncordon a node (`kubectl uncordon <node>`)".to_string());
    }
    if message.contains("Insufficient") {
        fixes.push("lower the pod's requests or add capacity".to_string());
    }
    if message.contains("anti-affinity") {
        fixes.push("relax the pod anti-affinity or add nodes".to_string());
    }
    if message.contains("PersistentVolumeClaim") || message.contains("volume node affinity") {
        fixes.push(
            "check the pod's claims and their volumes (`kubectl get pvc -n <ns>`)".to_string(),
        );
    }
    let fix = if fixes.is_empty() {
        "Read the scheduler's reasons above and change the pod or the nodes so at least one node fits.".to_string()
    } else {
        let mut f = fixes.join("; ");
        if let Some(c) = f.get_mut(0..1) {
            c.make_ascii_uppercase();
        }
        f.push('.');
        f
    };
    Some(Finding {
        id: "pod.unschedulable",
        severity: Severity::Warning,
        subject: Some(ObjRef::namespaced("Pod", ns, name)),
        object: format!("Pod {ns}/{name}"),
        namespace: Some(ns.to_string()),
        node: None,
        evidence: vec![format!("PodScheduled=False (Unschedulable): {message}")],
        explanation: format!(
            "No node can run pod {ns}/{name}, so it stays Pending. The scheduler says why for each group of nodes."
        ),
        fix,
    })
}

fn terminating_stuck(pod: &Pod, node: Option<&str>, ix: &Index) -> Option<Finding> {
    let node = node?;
    let deadline = pod.metadata.deletion_timestamp().and_then(timestamp)?;
    // deletionTimestamp is when the grace period ends; past it the kubelet should
    // have reported the containers gone.
    if ix.since(deadline) <= ix.limits.terminating_grace {
        return None;
    }
    let node_state = if !ix.nodes.contains_key(node) {
        format!("node {node} no longer exists")
    } else if ix.node_not_ready(node) {
        format!("node {node} is NotReady")
    } else {
        return None;
    };
    let (ns, name) = pod_key(pod);
    let grace = pod.metadata.deletion_grace_period_seconds().unwrap_or(0);
    let mut evidence = vec![
        format!("deletionTimestamp {deadline} (grace period {grace}s)"),
        node_state,
    ];
    if let Some(f) = pod.metadata.finalizers().filter(|f| !f.is_empty()) {
        evidence.push(format!("finalizers: {}", f.join(", ")));
    }
    let owned_by_sts = pod
        .metadata
        .owner_references
        .as_deref()
        .unwrap_or_default()
        .iter()
        .any(|o| o.kind == "StatefulSet");
    let mut explanation = format!(
        "Pod {ns}/{name} was deleted, but no kubelet on {node} confirms its containers stopped, so it stays Terminating."
    );
    if owned_by_sts {
        explanation.push_str(
            " Its StatefulSet cannot create the replacement (same name) until it is gone.",
        );
    }
    Some(Finding {
        id: "pod.terminating-stuck",
        severity: Severity::Warning,
        subject: Some(ObjRef::namespaced("Pod", ns, name)),
        object: format!("Pod {ns}/{name}"),
        namespace: Some(ns.to_string()),
        node: Some(node.to_string()),
        evidence,
        explanation,
        fix: format!(
            "Make sure {node} is really down (when the pod has RBD volumes, {}), then remove the pod: `kubectl delete pod -n {ns} {name} --grace-period=0 --force`. Forcing it while its containers still run on {node} can corrupt data on shared volumes.",
            super::fence::recipe(node)
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;
    use crate::diagnose::diagnose;

    fn crashing_pod(
        ns: &str,
        name: &str,
        node: &str,
        restarts: i32,
        waiting: bool,
    ) -> std::sync::Arc<Pod> {
        let state = if waiting {
            json!({"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s restarting failed container"}})
        } else {
            json!({"running": {"startedAt": ago(5)}})
        };
        with(
            pod(ns, name, node),
            json!({"status": {
                "conditions": [{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "False", "lastTransitionTime": ago(3000)}],
                "containerStatuses": [{"name": "app", "image": "app:1", "imageID": "", "ready": false,
                    "restartCount": restarts, "state": state,
                    "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
                        "message": "cannot open config\n\n/etc/app.conf: no such file", "finishedAt": ago(20)}}}]}}),
        )
    }

    #[test]
    fn crashloop_in_backoff() {
        let mut s = snapshot();
        s.nodes.push(node("node2", "True"));
        s.pods.push(crashing_pod(
            "kube-system",
            "coredns-abcde",
            "node2",
            5,
            true,
        ));
        let f = only(&s, "pod.crashloop");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].object, "Pod kube-system/coredns-abcde");
        assert_eq!(
            f[0].subject,
            Some(ObjRef::namespaced("Pod", "kube-system", "coredns-abcde"))
        );
        assert_eq!(f[0].severity, Severity::Critical);
        assert_eq!(f[0].node.as_deref(), Some("node2"));
        assert_eq!(
            f[0].evidence,
            [
                "container app: CrashLoopBackOff, restarted 5 times".to_string(),
                format!(
                    "container app: last terminated with exit code 1 (Error) at {}",
                    ago(20)
                ),
                "container app: cannot open config".to_string(),
                "container app: /etc/app.conf: no such file".to_string(),
            ]
        );
        assert!(f[0].fix.contains("--previous"));
        // A pod network agent's crash loop is the network checks' finding.
        let mut s = snapshot();
        s.nodes.push(node("node2", "True"));
        s.pods.push(crashing_pod(
            "kube-flannel",
            "kube-flannel-ds-abcde",
            "node2",
            5,
            true,
        ));
        assert_eq!(
            ids(&diagnose(&s)),
            [(
                "net.cni-crashloop",
                "Pod kube-flannel/kube-flannel-ds-abcde".to_string()
            )]
        );
    }

    #[test]
    fn crashloop_while_running_between_crashes() {
        let mut s = snapshot();
        s.nodes.push(node("node1", "True"));
        s.pods
            .push(crashing_pod("demo", "web-1", "node1", 2, false));
        let f = only(&s, "pod.crashloop");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Warning);
        assert!(f[0].evidence[0].contains("running, not ready"));
    }

    #[test]
    fn crashloop_near_misses() {
        let mut s = snapshot();
        s.nodes.push(node("node1", "True"));
        // One restart, running again: could be a single crash, not a loop.
        s.pods.push(crashing_pod("demo", "a", "node1", 1, false));
        // Many restarts, but ready again now.
        s.pods.push(with(
            crashing_pod("demo", "b", "node1", 7, false),
            json!({"status": {"containerStatuses": [{"name": "app", "image": "app:1", "imageID": "",
                "ready": true, "restartCount": 7, "state": {"running": {"startedAt": ago(5)}},
                "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(20)}}}]}}),
        ));
        // Restarted long ago after a failure, still unready: not a crash loop now.
        s.pods.push(with(
            crashing_pod("demo", "c", "node1", 3, false),
            json!({"status": {"containerStatuses": [{"name": "app", "image": "app:1", "imageID": "",
                "ready": false, "restartCount": 3, "state": {"running": {"startedAt": ago(5)}},
                "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(3600)}}}]}}),
        ));
        // Restarts after clean exits (exit 0).
        s.pods.push(with(
            crashing_pod("demo", "d", "node1", 3, false),
            json!({"status": {"containerStatuses": [{"name": "app", "image": "app:1", "imageID": "",
                "ready": false, "restartCount": 3, "state": {"running": {"startedAt": ago(5)}},
                "lastState": {"terminated": {"exitCode": 0, "reason": "Completed", "finishedAt": ago(20)}}}]}}),
        ));
        assert!(only(&s, "pod.crashloop").is_empty());
    }

    #[test]
    fn crashloop_on_not_ready_node_is_the_nodes() {
        let mut s = snapshot();
        s.nodes.push(node("node1", "Unknown"));
        s.pods.push(crashing_pod("demo", "web-1", "node1", 5, true));
        assert_eq!(
            ids(&diagnose(&s)),
            [("node.notready", "Node node1".to_string())]
        );
    }

    #[test]
    fn init_container_crashloop() {
        let mut s = snapshot();
        s.nodes.push(node("node1", "True"));
        s.pods.push(with(
            pod("demo", "db-0", "node1"),
            json!({"status": {"phase": "Pending", "initContainerStatuses": [{"name": "init", "image": "i",
                "imageID": "", "ready": false, "restartCount": 4,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled", "finishedAt": ago(10)}}}]}}),
        ));
        let f = only(&s, "pod.crashloop");
        assert_eq!(f.len(), 1);
        assert!(
            f[0].explanation.contains("OOMKilled"),
            "{}",
            f[0].explanation
        );
        assert!(f[0].fix.contains("-c init"));
    }

    fn rbd_claim(s: &mut Snapshot, ns: &str, claim: &str, pv: &str, image: &str) {
        s.pvcs
            .push(from(json!({"metadata": {"name": claim, "namespace": ns},
            "spec": {"volumeName": pv}, "status": {"phase": "Bound"}})));
        s.pvs.push(from(json!({"metadata": {"name": pv},
            "spec": {"rbd": {"monitors": ["m"], "image": image}}, "status": {"phase": "Bound"}})));
    }

    fn with_claim(p: std::sync::Arc<Pod>, claim: &str) -> std::sync::Arc<Pod> {
        with(
            p,
            json!({"spec": {"volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]}}),
        )
    }

    /// A stale kubelet lock as the lab produces it: node1's kubelet died holding the RBD
    /// lock, and the pod rescheduled to node2 waits in ContainerCreating.
    fn stale_lock() -> Snapshot {
        let mut s = snapshot();
        s.nodes.push(node("master", "True"));
        s.nodes.push(node("node1", "Unknown"));
        s.nodes.push(node("node2", "True"));
        rbd_claim(
            &mut s,
            "default",
            "index-api-pvc",
            "pvc-1",
            "kubernetes-dynamic-pvc-42",
        );
        let p = with_claim(
            creating_pod("default", "index-api-7d9-x2", "node2", 10),
            "index-api-pvc",
        );
        s.events.push(pod_event(
            &p,
            "Normal",
            "Scheduled",
            "Successfully assigned default/index-api-7d9-x2 to node2",
            10,
        ));
        s.events.push(pod_event(&p, "Warning", "FailedMount",
            "MountVolume.WaitForAttach failed for volume \"pvc-1\" : rbd: image kubernetes-dynamic-pvc-42 is locked by other nodes", 1));
        s.pods.push(p);
        s
    }

    #[test]
    fn volume_locked_names_image_and_holder() {
        let s = stale_lock();
        let all = diagnose(&s);
        assert_eq!(
            ids(&all),
            [
                ("node.notready", "Node node1".to_string()),
                (
                    "pod.volume-locked",
                    "Pod default/index-api-7d9-x2".to_string()
                ),
            ]
        );
        let f = &all[1];
        assert_eq!(f.severity, Severity::Critical);
        assert_eq!(f.node.as_deref(), Some("node2"));
        assert_eq!(
            f.evidence,
            [
                "FailedMount: MountVolume.WaitForAttach failed for volume \"pvc-1\" : rbd: image kubernetes-dynamic-pvc-42 is locked by other nodes",
                "claim index-api-pvc is bound to pvc-1 = RBD image rbd/kubernetes-dynamic-pvc-42",
            ]
        );
        assert!(f.explanation.contains("RBD image rbd/kubernetes-dynamic-pvc-42 is locked by another node (most likely node1, which is NotReady)"), "{}", f.explanation);
        assert!(f.fix.contains("rbd lock rm rbd/kubernetes-dynamic-pvc-42"));
    }

    #[test]
    fn multi_attach_is_its_own_finding() {
        let mut s = snapshot();
        s.nodes.push(node("node2", "True"));
        rbd_claim(&mut s, "ns", "c", "pvc-1", "img");
        let p = with_claim(creating_pod("ns", "p", "node2", 5), "c");
        s.events.push(pod_event(&p, "Warning", "FailedAttachVolume",
            "Multi-Attach error for volume \"pvc-1\" Volume is already exclusively attached to one node and can't be attached to another", 1));
        s.pods.push(p);
        let f = diagnose(&s);
        assert_eq!(ids(&f), [("pod.multi-attach", "Pod ns/p".to_string())]);
        assert!(
            f[0].explanation.contains("claim ns/c"),
            "{}",
            f[0].explanation
        );
        assert!(f[0].fix.contains("volumeattachment"), "{}", f[0].fix);
    }

    #[test]
    fn csi_still_in_use_is_a_lock() {
        {
            let msg = "MountVolume.MountDevice failed for volume \"pvc-1\" : rpc error: code = Internal desc = rbd image kube/csi-vol-9 is still being used";
            let mut s = snapshot();
            s.nodes.push(node("node2", "True"));
            s.pvcs
                .push(from(json!({"metadata": {"name": "c", "namespace": "ns"},
                "spec": {"volumeName": "pvc-1"}, "status": {"phase": "Bound"}})));
            s.pvs.push(from(
                json!({"metadata": {"name": "pvc-1"}, "spec": {"csi": {
                "driver": "rbd.csi.ceph.com", "volumeHandle": "h",
                "volumeAttributes": {"pool": "kube", "imageName": "csi-vol-9"}}}}),
            ));
            let p = with_claim(creating_pod("ns", "p", "node2", 5), "c");
            s.events
                .push(pod_event(&p, "Warning", "FailedMount", msg, 1));
            s.pods.push(p);
            let f = diagnose(&s);
            assert_eq!(
                ids(&f),
                [("pod.volume-locked", "Pod ns/p".to_string())],
                "{msg}"
            );
            assert!(
                f[0].explanation.contains("kube/csi-vol-9"),
                "{}",
                f[0].explanation
            );
            assert!(
                f[0].explanation.contains("another node"),
                "{}",
                f[0].explanation
            );
        }
    }

    #[test]
    fn lock_resolved_then_sandbox_failure_is_not_a_lock() {
        let mut s = stale_lock();
        let p = s.pods[0].clone();
        s.events.push(pod_event(
            &p,
            "Warning",
            "FailedCreatePodSandBox",
            "Failed to create pod sandbox: x",
            0,
        ));
        let f = diagnose(&s);
        assert_eq!(
            ids(&f),
            [
                ("node.notready", "Node node1".to_string()),
                ("pod.sandbox-failed", "Node node2".to_string()),
            ]
        );
    }

    #[test]
    fn events_of_an_earlier_pod_with_the_same_name_are_ignored() {
        let mut s = stale_lock();
        let p = with(s.pods[0].clone(), json!({"metadata": {"uid": "new-uid"}}));
        s.pods = vec![p].into();
        // The lock event belongs to uid-index-api-7d9-x2, not to this pod; it is young.
        assert_eq!(
            ids(&diagnose(&s)),
            [("node.notready", "Node node1".to_string())]
        );
    }

    #[test]
    fn other_mount_failure_is_stuck_creating_at_once() {
        let mut s = snapshot();
        s.nodes.push(node("node2", "True"));
        rbd_claim(
            &mut s,
            "default",
            "index-api-pvc",
            "index-api-pv",
            "index-api-image",
        );
        let p = with_claim(
            creating_pod("default", "index-api-3362878852-9tm9j", "node2", 30),
            "index-api-pvc",
        );
        let msg = "Unable to mount volumes for pod \"index-api-3362878852-9tm9j_default(ad89c829)\": timeout expired waiting for volumes to attach/mount for pod \"index-api-3362878852-9tm9j\"/\"default\". list of unattached/unmounted volumes=[index-api-pv]";
        s.events
            .push(pod_event(&p, "Warning", "FailedMount", msg, 11));
        s.pods.push(p);
        let f = diagnose(&s);
        assert_eq!(
            ids(&f),
            [(
                "pod.stuck-creating",
                "Pod default/index-api-3362878852-9tm9j".to_string()
            )]
        );
        assert_eq!(f[0].evidence[0], format!("FailedMount: {msg}"));
        assert_eq!(
            f[0].evidence[1],
            "claim index-api-pvc is bound to index-api-pv = RBD image rbd/index-api-image"
        );
        assert!(f[0].fix.contains("rbd lock ls rbd/index-api-image"));
    }

    #[test]
    fn stuck_creating_after_threshold_only() {
        let mut s = snapshot();
        s.nodes.push(node("node1", "True"));
        s.pods.push(creating_pod("demo", "young", "node1", 100));
        s.pods.push(creating_pod("demo", "old", "node1", 200));
        // Image pulls are not "creating" (a later check's).
        s.pods.push(with(
            creating_pod("demo", "pulling", "node1", 500),
            json!({"status": {"containerStatuses": [{"name": "app", "image": "app:1", "imageID": "",
                "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "ImagePullBackOff"}}}]}}),
        ));
        // An init container running is progress, not stuck creation.
        s.pods.push(with(
            creating_pod("demo", "init", "node1", 500),
            json!({"status": {"initContainerStatuses": [{"name": "i", "image": "i", "imageID": "",
                "ready": false, "restartCount": 0, "state": {"running": {}}}]}}),
        ));
        let f = diagnose(&s);
        assert_eq!(
            ids(&f),
            [("pod.stuck-creating", "Pod demo/old".to_string())]
        );
        assert_eq!(
            f[0].evidence,
            [format!(
                "status ContainerCreating, scheduled to node1 at {}",
                ago(200)
            )]
        );
    }

    #[test]
    fn waiting_for_a_pending_claim_is_the_claims_finding() {
        let mut s = snapshot();
        s.nodes.push(node("node1", "True"));
        s.pvcs.push(from(
            json!({"metadata": {"name": "c", "namespace": "demo", "creationTimestamp": ago(30)},
            "spec": {}, "status": {"phase": "Pending"}}),
        ));
        s.pods
            .push(with_claim(creating_pod("demo", "p", "node1", 300), "c"));
        // The claim is young: nothing yet, and the pod is not reported as stuck.
        assert!(diagnose(&s).is_empty());
    }

    /// Sandbox failures no network signature explains, per node; the crash-looping
    /// network agent on node2 is named as their likely cause.
    #[test]
    fn sandbox_failures_aggregate_per_node() {
        let mut s = snapshot();
        for n in ["master", "node1", "node2"] {
            s.nodes.push(node(n, "True"));
        }
        s.pods.push(crashing_pod(
            "kube-flannel",
            "kube-flannel-ds-zz",
            "node2",
            3,
            true,
        ));
        let weird = "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to set up sandbox container \"abc\" network for pod \"my-nginx-1\": networkPlugin cni failed to set up pod \"my-nginx-1_default\" network: plugin type=\"weird\" failed (add): boom";
        let other = "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to set up sandbox container \"def\" network for pod \"my-nginx-2\": networkPlugin cni failed to set up pod \"my-nginx-2_default\" network: netplugin failed with no error message";
        for (name, node_name, msg) in [
            ("my-nginx-1", "node2", weird),
            ("my-nginx-3", "node2", weird),
            ("my-nginx-2", "node1", other),
        ] {
            let p = creating_pod("default", name, node_name, 20);
            s.events
                .push(pod_event(&p, "Warning", "FailedCreatePodSandBox", msg, 1));
            // An older failure of the same pod is not listed.
            s.events.push(pod_event(
                &p,
                "Warning",
                "FailedCreatePodSandBox",
                "older",
                5,
            ));
            s.pods.push(p);
        }
        let f = diagnose(&s);
        assert_eq!(
            ids(&f),
            [
                (
                    "net.cni-crashloop",
                    "Pod kube-flannel/kube-flannel-ds-zz".to_string()
                ),
                ("pod.sandbox-failed", "Node node1".to_string()),
                ("pod.sandbox-failed", "Node node2".to_string()),
            ]
        );
        let node1 = &f[1];
        assert_eq!(
            node1.evidence,
            [format!(
                "Pod default/my-nginx-2: FailedCreatePodSandBox: {other}"
            )]
        );
        assert!(
            node1.explanation.starts_with("1 pod on node1 cannot start"),
            "{}",
            node1.explanation
        );
        let node2 = &f[2];
        assert_eq!(node2.evidence.len(), 2);
        assert!(
            node2
                .explanation
                .contains("kube-flannel/kube-flannel-ds-zz) is crash-looping"),
            "{}",
            node2.explanation
        );
        assert_eq!(node2.namespace, None);
    }

    #[test]
    fn old_style_failed_sync_network_error_is_a_sandbox_failure() {
        let mut s = snapshot();
        s.nodes.push(node("n", "True"));
        let p = creating_pod("default", "my-nginx-2560993602-0440x", "n", 20);
        s.events.push(pod_event(&p, "Warning", "FailedSync",
            "Error syncing pod, skipping: failed to \"SetupNetwork\" for \"my-nginx-2560993602-0440x_default\" with SetupNetworkError: \"Failed to setup network for pod \\\"my-nginx\\\" using network plugins \\\"cni\\\": \\\"cni0\\\" already has an IP address different from 10.244.1.1/24; Skipping pod\"", 1));
        s.pods.push(p);
        // The network checks own this cause.
        assert!(only(&s, "pod.sandbox-failed").is_empty());
        let f = only(&s, "net.cni0-conflict");
        assert_eq!(f.len(), 1);
        assert!(f[0].fix.contains("ip link delete cni0"));
    }

    #[test]
    fn many_sandbox_failures_are_capped() {
        let mut s = snapshot();
        s.nodes.push(node("n", "True"));
        for i in 0..12 {
            let p = creating_pod("default", &format!("p{i:02}"), "n", 20);
            s.events.push(pod_event(
                &p,
                "Warning",
                "FailedCreatePodSandBox",
                "boom",
                1,
            ));
            s.pods.push(p);
        }
        let f = only(&s, "pod.sandbox-failed");
        assert_eq!(f[0].evidence.len(), 9);
        assert_eq!(f[0].evidence[8], "... and 4 more pods");
        assert!(f[0].explanation.starts_with("12 pods on n"));
    }

    fn pending_pod(message: &str) -> std::sync::Arc<Pod> {
        from(json!({
            "metadata": {"name": "lost", "namespace": "t1", "uid": "u1", "creationTimestamp": ago(5)},
            "spec": {"containers": [{"name": "a"}], "nodeSelector": {"disk": "ssd"}},
            "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
                "reason": "Unschedulable", "message": message}]}
        }))
    }

    #[test]
    fn unschedulable_at_once_with_scheduler_message() {
        let mut s = snapshot();
        let msg = "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.";
        s.pods.push(pending_pod(msg));
        let f = diagnose(&s);
        assert_eq!(ids(&f), [("pod.unschedulable", "Pod t1/lost".to_string())]);
        assert_eq!(
            f[0].evidence,
            [format!("PodScheduled=False (Unschedulable): {msg}")]
        );
        assert!(
            f[0].fix.starts_with("Compare the pod's nodeSelector"),
            "{}",
            f[0].fix
        );
        assert!(f[0].fix.contains("toleration"));
    }

    #[test]
    fn unschedulable_near_misses() {
        let mut s = snapshot();
        // Gated, or just created and not yet looked at by the scheduler.
        s.pods.push(with(
            pending_pod(""),
            json!({"metadata": {"name": "gated"}, "status": {"conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}}),
        ));
        s.pods.push(with(
            pending_pod(""),
            json!({"metadata": {"name": "fresh"}, "status": {"conditions": null}}),
        ));
        // Waiting for its claim to bind: the claim's finding, not the pod's.
        s.pvcs.push(from(
            json!({"metadata": {"name": "c", "namespace": "t1", "creationTimestamp": ago(10)},
            "spec": {}, "status": {"phase": "Pending"}}),
        ));
        s.pods.push(with_claim(
            with(
                pending_pod(
                    "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims.",
                ),
                json!({"metadata": {"name": "claim"}}),
            ),
            "c",
        ));
        assert!(diagnose(&s).is_empty());
    }

    fn terminating(node_name: &str, deleted_secs_ago: i64) -> std::sync::Arc<Pod> {
        with(
            pod("default", "zk-0", node_name),
            json!({"metadata": {"deletionTimestamp": ago(deleted_secs_ago), "deletionGracePeriodSeconds": 30,
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "zk", "uid": "u", "controller": true}]}}),
        )
    }

    #[test]
    fn terminating_stuck_on_dead_node() {
        let mut s = snapshot();
        s.nodes.push(node("node1", "Unknown"));
        s.pods.push(terminating("node1", 90));
        let f = only(&s, "pod.terminating-stuck");
        assert_eq!(f.len(), 1);
        assert_eq!(
            f[0].evidence,
            [
                format!("deletionTimestamp {} (grace period 30s)", ago(90)),
                "node node1 is NotReady".to_string()
            ]
        );
        assert!(
            f[0].explanation
                .contains("StatefulSet cannot create the replacement")
        );
        assert!(f[0].fix.contains("--grace-period=0 --force"));
        // A node that was deleted altogether.
        let mut s = snapshot();
        s.pods.push(terminating("gone", 90));
        assert_eq!(
            only(&s, "pod.terminating-stuck")[0].evidence[1],
            "node gone no longer exists"
        );
    }

    #[test]
    fn terminating_near_misses() {
        let mut s = snapshot();
        s.nodes.push(node("node1", "Unknown"));
        s.nodes.push(node("node2", "True"));
        // Within a minute past the deadline.
        s.pods.push(terminating("node1", 30));
        // Long past, but on a Ready node (its kubelet is working on it).
        s.pods.push(with(
            terminating("node2", 600),
            json!({"metadata": {"name": "zk-1"}}),
        ));
        assert!(only(&s, "pod.terminating-stuck").is_empty());
    }

    #[test]
    fn finished_pods_are_fine() {
        let mut s = snapshot();
        s.nodes.push(node("node1", "True"));
        s.pods.push(with(
            crashing_pod("demo", "job-1", "node1", 5, true),
            json!({"status": {"phase": "Failed"}}),
        ));
        s.pods.push(with(
            pod("demo", "job-2", "node1"),
            json!({"status": {"phase": "Succeeded"}}),
        ));
        assert!(diagnose(&s).is_empty());
    }

    #[test]
    fn locked_image_parsing() {
        assert_eq!(
            locked_image("rbd: image img-1 is locked by other nodes"),
            Some("img-1")
        );
        assert_eq!(
            locked_image("desc = rbd image pool/img is still being used"),
            Some("pool/img")
        );
        assert_eq!(locked_image("Multi-Attach error for volume"), None);
    }
}
