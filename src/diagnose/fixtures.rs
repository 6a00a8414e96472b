//! Hand-built objects for the checks' unit tests.

use std::sync::Arc;

use crate::model::pod::Pod;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::{Event, Node};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use serde_json::json;

use super::Finding;
use crate::model::snapshot::Snapshot;

pub fn now() -> Timestamp {
    "2025-01-01T12:00:00Z".parse().unwrap()
}

/// RFC 3339 time `secs` seconds before [`now`].
pub fn ago(secs: i64) -> String {
    (now() - SignedDuration::from_secs(secs)).to_string()
}

pub fn snapshot() -> Snapshot {
    Snapshot {
        now: now(),
        ..Default::default()
    }
}

pub fn from<T: DeserializeOwned>(v: serde_json::Value) -> Arc<T> {
    Arc::new(serde_json::from_value(v).unwrap())
}

/// The object with a JSON merge patch applied (arrays are replaced whole).
pub fn with<T: Serialize + DeserializeOwned>(obj: Arc<T>, patch: serde_json::Value) -> Arc<T> {
    let mut v = serde_json::to_value(obj.as_ref()).unwrap();
    json_patch::merge(&mut v, &patch);
    from(v)
}

/// A node whose Ready condition has `ready` (`True`, `False`, `Unknown`).
pub fn node(name: &str, ready: &str) -> Arc<Node> {
    from(json!({
        "metadata": {"name": name, "creationTimestamp": ago(86400)},
        "spec": {},
        "status": {"conditions": [
            {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory"},
            {"type": "Ready", "status": ready,
             "reason": if ready == "True" { "KubeletReady" } else { "NodeStatusUnknown" },
             "message": if ready == "True" { "kubelet is posting ready status" } else { "Kubelet stopped posting node status." },
             "lastTransitionTime": ago(300)}]}
    }))
}

/// A pod running and ready on `node` for an hour, with one container `app`.
pub fn pod(ns: &str, name: &str, node: &str) -> Arc<Pod> {
    from(json!({
        "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{name}"),
                     "creationTimestamp": ago(3600)},
        "spec": {"nodeName": node, "containers": [{"name": "app", "image": "app:1"}]},
        "status": {
            "phase": "Running",
            "startTime": ago(3600),
            "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": ago(3600)},
                {"type": "Ready", "status": "True", "lastTransitionTime": ago(3500)}],
            "containerStatuses": [{"name": "app", "image": "app:1", "imageID": "", "ready": true,
                "restartCount": 0, "started": true, "state": {"running": {"startedAt": ago(3500)}}}]
        }
    }))
}

/// A pod scheduled `secs` ago to `node` whose container is still being created.
pub(crate) fn creating_pod(ns: &str, name: &str, node: &str, secs: i64) -> Arc<Pod> {
    from(json!({
        "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{name}"),
                     "creationTimestamp": ago(secs + 1)},
        "spec": {"nodeName": node, "containers": [{"name": "app", "image": "app:1"}]},
        "status": {
            "phase": "Pending",
            "startTime": ago(secs),
            "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": ago(secs)},
                {"type": "Ready", "status": "False", "reason": "ContainersNotReady", "lastTransitionTime": ago(secs)}],
            "containerStatuses": [{"name": "app", "image": "app:1", "imageID": "", "ready": false,
                "restartCount": 0, "started": false, "state": {"waiting": {"reason": "ContainerCreating"}}}]
        }
    }))
}

/// An event about a pod (by its fixture uid), last seen `secs` ago.
pub(crate) fn pod_event(
    pod: &Pod,
    type_: &str,
    reason: &str,
    message: &str,
    secs: i64,
) -> Arc<Event> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    from(json!({
        "metadata": {"name": format!("{name}.{reason}.{secs}"), "namespace": ns},
        "involvedObject": {"kind": "Pod", "namespace": ns, "name": name, "uid": pod.metadata.uid.as_ref().map(ToString::to_string)},
        "type": type_, "reason": reason, "message": message, "count": 1,
        "firstTimestamp": ago(secs), "lastTimestamp": ago(secs)
    }))
}

/// An event about any object, last seen `secs` ago.
pub(crate) fn object_event(
    kind: &str,
    ns: &str,
    name: &str,
    type_: &str,
    reason: &str,
    message: &str,
    secs: i64,
) -> Arc<Event> {
    from(json!({
        "metadata": {"name": format!("{name}.{reason}.{secs}"), "namespace": ns},
        "involvedObject": {"kind": kind, "namespace": ns, "name": name},
        "type": type_, "reason": reason, "message": message, "count": 1,
        "lastTimestamp": ago(secs)
    }))
}

/// `(id, object)` of each finding, in order. Also checks that each finding's typed
/// subject names the object its text names (every test listing ids checks it).
pub fn ids(findings: &[Finding]) -> Vec<(&'static str, String)> {
    for f in findings {
        if let Some(subject) = &f.subject {
            assert_eq!(
                subject.to_string(),
                f.object,
                "{}: subject and text differ",
                f.id
            );
        }
    }
    findings.iter().map(|f| (f.id, f.object.clone())).collect()
}

/// The findings of the full diagnosis with `id`.
pub fn only(s: &Snapshot, id: &str) -> Vec<Finding> {
    super::diagnose(s)
        .into_iter()
        .filter(|f| f.id == id)
        .collect()
}

/// A node whose Ready condition has `ready`, with InternalIP `ip` (Ceph addresses
/// map to nodes by IP).
pub(crate) fn node_at(name: &str, ready: &str, ip: &str) -> Arc<Node> {
    with(
        node(name, ready),
        json!({"status": {"addresses": [{"type": "InternalIP", "address": ip}]}}),
    )
}

/// A Bound claim `ns/claim` on PV `pv` whose volume is the in-tree RBD image `pool/image`.
pub(crate) fn rbd_volume(
    s: &mut Snapshot,
    ns: &str,
    claim: &str,
    pv: &str,
    pool: &str,
    image: &str,
) {
    s.pvcs
        .push(from(json!({"metadata": {"name": claim, "namespace": ns},
        "spec": {"volumeName": pv}, "status": {"phase": "Bound"}})));
    s.pvs.push(from(json!({"metadata": {"name": pv},
        "spec": {"persistentVolumeReclaimPolicy": "Delete",
                 "claimRef": {"namespace": ns, "name": claim},
                 "rbd": {"monitors": ["m"], "pool": pool, "image": image}},
        "status": {"phase": "Bound"}})));
}

/// The pod with a volume from claim `claim`.
pub(crate) fn using_claim(p: Arc<Pod>, claim: &str) -> Arc<Pod> {
    with(
        p,
        json!({"spec": {"volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]}}),
    )
}

/// The in-tree kubelet's lock for `host`, taken by a client at `ip`.
pub(crate) fn kubelet_lock(host: &str, ip: &str, client: i64) -> crate::ceph::LockerInfo {
    crate::ceph::LockerInfo {
        locker: format!("client.{client}"),
        cookie: format!("kubelet_lock_magic_{host}"),
        address: format!("{ip}:0/{}", 1000 + client),
        tag: String::new(),
        exclusive: true,
    }
}

/// A watch from a client at `ip`.
pub fn watcher(ip: &str, client: i64) -> crate::ceph::WatcherInfo {
    crate::ceph::WatcherInfo {
        address: format!("{ip}:0/{}", 2000 + client),
        client_id: client,
        cookie: 1,
    }
}

/// A 2 GiB image with its locks and watchers.
pub fn image(
    pool: &str,
    name: &str,
    lockers: Vec<crate::ceph::LockerInfo>,
    watchers: Vec<crate::ceph::WatcherInfo>,
) -> crate::ceph::ImageInfo {
    crate::ceph::ImageInfo {
        pool: pool.to_string(),
        name: name.to_string(),
        id: format!("id-{name}"),
        size: 2 << 30,
        object_size: 4 << 20,
        num_objects: 512,
        order: 22,
        format: 2,
        features: 1,
        block_name_prefix: format!("rbd_data.{name}"),
        lockers,
        watchers,
    }
}

/// Ceph data of a HEALTH_OK cluster whose user may blocklist, with these images.
pub(crate) fn ceph_data(images: Vec<crate::ceph::ImageInfo>) -> crate::model::ceph::CephData {
    crate::model::ceph::CephData {
        health: crate::ceph::HealthReport {
            status: "HEALTH_OK".to_string(),
            checks: Vec::new(),
        },
        rbd_pools: vec![crate::ceph::PoolInfo {
            id: 1,
            name: "rbd".to_string(),
            applications: vec!["rbd".to_string()],
        }],
        images,
        fencing: crate::model::ceph::FencePermission::Allowed,
        ..Default::default()
    }
}

/// A report of a refresh that succeeded a minute ago with `data`.
pub fn ceph_report(data: crate::model::ceph::CephData) -> Arc<crate::model::ceph::CephReport> {
    Arc::new(crate::model::ceph::CephReport {
        entity: "client.admin".to_string(),
        conf: "/etc/ceph/ceph.conf".to_string(),
        attempted_at: Some(now() - SignedDuration::from_secs(60)),
        fetched_at: Some(now() - SignedDuration::from_secs(60)),
        error: None,
        failure: None,
        data: Some(data),
        csi_users: None,
    })
}
