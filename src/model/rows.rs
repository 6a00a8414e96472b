//! One row type per pane, derived from a [`Snapshot`] once per change batch.
//!
//! Each row holds its cells already formatted (the strings kubectl would print), so a
//! redraw only copies the visible ones. Derivations are single passes over the
//! snapshot: the console calls them for up to 150,000 pods, so joins go through one
//! `HashMap` built per call, never a scan per row.

use std::collections::HashMap;

use crate::model::pod::Pod;
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Event, Node, PersistentVolume};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::columns::Column;
use super::columns::ColumnKind::{Age, Count, Name, Size, Status, Text};
use super::pod_status::{age, micro_timestamp, timestamp};
use super::snapshot::Snapshot;

/// Shown where kubectl shows an absent value.
const NONE: &str = "<none>";

/// The creation time of an object, for AGE columns.
pub fn created(meta: &ObjectMeta) -> Option<Timestamp> {
    meta.creation_timestamp.as_ref().and_then(timestamp)
}

/// [`created`] for a pod (its metadata is the console's slim [`PodMeta`]).
pub fn pod_created(meta: &crate::model::pod::PodMeta) -> Option<Timestamp> {
    meta.created()
}

fn or_none(s: Option<&str>) -> String {
    match s {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => NONE.to_string(),
    }
}

// ---------------------------------------------------------------------------------
// Nodes

/// A row of the Nodes pane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRow {
    pub name: String,
    /// `Ready`, `NotReady` or `Unknown`, plus `,SchedulingDisabled` when cordoned.
    pub status: String,
    pub roles: String,
    pub taints: String,
    pub internal_ip: String,
    pub pod_cidr: String,
    pub version: String,
    /// Non-terminated pods bound to the node (as `kubectl describe node` counts them).
    pub pods: usize,
    pub age: String,
    /// The creation time behind `age`, which the AGE column sorts by.
    pub created: Option<Timestamp>,
    /// Conditions other than Ready that are True (`MemoryPressure`, ...), or `ok`.
    pub conditions: String,
}

impl NodeRow {
    pub(crate) const COLUMNS: &[Column] = &[
        Column::new("NAME", Name),
        Column::new("STATUS", Status),
        Column::new("ROLES", Text),
        Column::new("TAINTS", Text),
        Column::new("INTERNAL-IP", Text),
        Column::new("POD-CIDR", Text),
        Column::new("VERSION", Text),
        Column::new("PODS", Count),
        Column::new("AGE", Age),
        Column::new("CONDITIONS", Text),
    ];

    pub fn cells(&self) -> Vec<String> {
        vec![
            self.name.clone(),
            self.status.clone(),
            self.roles.clone(),
            self.taints.clone(),
            self.internal_ip.clone(),
            self.pod_cidr.clone(),
            self.version.clone(),
            self.pods.to_string(),
            self.age.clone(),
            self.conditions.clone(),
        ]
    }

    #[cfg(test)]
    pub fn key(&self) -> String {
        self.name.clone()
    }
}

/// kubectl's node STATUS: the Ready condition (`Ready`/`NotReady`, `Unknown` when the
/// node has none) and `SchedulingDisabled` for a cordoned node.
pub(crate) fn node_status(node: &Node) -> String {
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"));
    let mut status = match ready {
        Some(c) if c.status == "True" => "Ready".to_string(),
        Some(_) => "NotReady".to_string(),
        None => "Unknown".to_string(),
    };
    if node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true) {
        status.push_str(",SchedulingDisabled");
    }
    status
}

/// kubectl's ROLES: `node-role.kubernetes.io/<role>` labels and `kubernetes.io/role`.
pub fn node_roles(node: &Node) -> String {
    let mut roles: Vec<&str> = Vec::new();
    if let Some(labels) = &node.metadata.labels {
        for (k, v) in labels {
            if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
                if !role.is_empty() {
                    roles.push(role);
                }
            } else if k == "kubernetes.io/role" && !v.is_empty() {
                roles.push(v);
            }
        }
    }
    roles.sort_unstable();
    roles.dedup();
    if roles.is_empty() {
        NONE.to_string()
    } else {
        roles.join(",")
    }
}

/// Taints as `key=value:Effect` (or `key:Effect`), comma-separated.
pub(crate) fn node_taints(node: &Node) -> String {
    let taints = node.spec.as_ref().and_then(|s| s.taints.as_deref());
    match taints {
        Some(ts) if !ts.is_empty() => ts
            .iter()
            .map(|t| match t.value.as_deref() {
                Some(v) if !v.is_empty() => format!("{}={v}:{}", t.key, t.effect),
                _ => format!("{}:{}", t.key, t.effect),
            })
            .collect::<Vec<_>>()
            .join(","),
        _ => NONE.to_string(),
    }
}

/// The node's first InternalIP address.
pub(crate) fn node_internal_ip(node: &Node) -> Option<&str> {
    node.status
        .as_ref()?
        .addresses
        .as_ref()?
        .iter()
        .find(|a| a.type_ == "InternalIP")
        .map(|a| a.address.as_str())
}

/// Conditions other than Ready whose status is True: each one is a problem
/// (pressure, NetworkUnavailable, node-problem-detector conditions).
pub(crate) fn node_abnormal_conditions(node: &Node) -> Vec<&str> {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .map(|cs| {
            cs.iter()
                .filter(|c| c.type_ != "Ready" && c.status == "True")
                .map(|c| c.type_.as_str())
                .collect()
        })
        .unwrap_or_default()
}

/// Pods that still occupy their node (not Succeeded or Failed), counted per node.
pub(crate) fn pods_per_node(pods: &[std::sync::Arc<Pod>]) -> HashMap<&str, usize> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for pod in pods {
        let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) else {
            continue;
        };
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        if matches!(phase, Some("Succeeded" | "Failed")) {
            continue;
        }
        *counts.entry(node).or_default() += 1;
    }
    counts
}

pub fn node_rows(s: &Snapshot) -> Vec<NodeRow> {
    node_rows_counted(s, &pods_per_node(&s.pods.to_vec()))
}

/// [`node_rows`] with the pods per node already counted (the console keeps them per
/// pod between derivations rather than walking 150,000 pods again).
pub(crate) fn node_rows_counted(s: &Snapshot, counts: &HashMap<&str, usize>) -> Vec<NodeRow> {
    s.nodes
        .iter()
        .map(|node| {
            let pods = counts
                .get(node.metadata.name.as_deref().unwrap_or_default())
                .copied()
                .unwrap_or(0);
            node_row(node, pods, s.now)
        })
        .collect()
}

/// One node's row, with the pods bound to it counted by the caller.
pub(crate) fn node_row(node: &Node, pods: usize, now: Timestamp) -> NodeRow {
    let name = node.metadata.name.clone().unwrap_or_default();
    let mut abnormal = node_abnormal_conditions(node);
    // A node that is not Ready is never `ok`: its Ready condition leads.
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
        .map(|c| c.status.as_str());
    let not_ready = match ready {
        Some("True") => None,
        Some(st) => Some(format!("Ready={st}")),
        None => Some("Ready=Unknown".to_string()),
    };
    NodeRow {
        status: node_status(node),
        roles: node_roles(node),
        taints: node_taints(node),
        internal_ip: or_none(node_internal_ip(node)),
        pod_cidr: or_none(node.spec.as_ref().and_then(|s| s.pod_cidr.as_deref())),
        version: node
            .status
            .as_ref()
            .and_then(|s| s.node_info.as_ref())
            .map(|i| i.kubelet_version.clone())
            .unwrap_or_default(),
        pods,
        age: age(created(&node.metadata), now),
        created: created(&node.metadata),
        conditions: match (not_ready, abnormal.is_empty()) {
            (None, true) => "ok".to_string(),
            (None, false) => abnormal.join(","),
            (Some(r), _) => {
                let mut all = vec![r.as_str()];
                all.append(&mut abnormal);
                all.join(",")
            }
        },
        name,
    }
}

// ---------------------------------------------------------------------------------
// Pods

// ---------------------------------------------------------------------------------
// Storage

/// kubectl's short access modes (`RWO,ROX,RWX,RWOP`), in kubectl's fixed order.
pub fn access_modes(modes: Option<&[String]>) -> String {
    let modes = modes.unwrap_or_default();
    let has = |m: &str| modes.iter().any(|x| x == m);
    let mut out: Vec<&str> = Vec::new();
    for (long, short) in [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ] {
        if has(long) {
            out.push(short);
        }
    }
    out.join(",")
}

/// A row of the PVC table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PvcRow {
    pub namespace: String,
    pub name: String,
    pub status: String,
    pub volume: String,
    pub capacity: String,
    pub access_modes: String,
    pub storage_class: String,
    pub age: String,
    /// The creation time behind `age`, which the AGE column sorts by.
    pub created: Option<Timestamp>,
}

impl PvcRow {
    pub(crate) const COLUMNS: &[Column] = &[
        Column::new("NAMESPACE", Name),
        Column::new("NAME", Name),
        Column::new("STATUS", Status),
        Column::new("VOLUME", Name),
        Column::new("CAPACITY", Size),
        Column::new("ACCESS MODES", Text),
        Column::new("STORAGECLASS", Name),
        Column::new("AGE", Age),
    ];

    pub fn cells(&self) -> Vec<String> {
        vec![
            self.namespace.clone(),
            self.name.clone(),
            self.status.clone(),
            self.volume.clone(),
            self.capacity.clone(),
            self.access_modes.clone(),
            self.storage_class.clone(),
            self.age.clone(),
        ]
    }
}

/// The claim's class: `spec.storageClassName`, else the old beta annotation.
pub(crate) fn pvc_class(pvc: &k8s_openapi::api::core::v1::PersistentVolumeClaim) -> Option<&str> {
    pvc.spec
        .as_ref()
        .and_then(|s| s.storage_class_name.as_deref())
        .or_else(|| {
            pvc.metadata
                .annotations
                .as_ref()?
                .get("volume.beta.kubernetes.io/storage-class")
                .map(String::as_str)
        })
}

pub(crate) fn pvc_rows(s: &Snapshot) -> Vec<PvcRow> {
    s.pvcs
        .iter()
        .map(|pvc| {
            let spec = pvc.spec.as_ref();
            let status = pvc.status.as_ref();
            let volume = spec.and_then(|s| s.volume_name.clone()).unwrap_or_default();
            // As kubectl: capacity and modes are the bound volume's, shown once bound.
            let (capacity, modes) = if volume.is_empty() {
                (String::new(), String::new())
            } else {
                (
                    status
                        .and_then(|s| s.capacity.as_ref())
                        .and_then(|c| c.get("storage"))
                        .map(|q| q.0.clone())
                        .unwrap_or_default(),
                    access_modes(status.and_then(|s| s.access_modes.as_deref())),
                )
            };
            let phase = if pvc.metadata.deletion_timestamp.is_some() {
                "Terminating".to_string()
            } else {
                status
                    .and_then(|s| s.phase.clone())
                    .unwrap_or_else(|| "Pending".to_string())
            };
            PvcRow {
                namespace: pvc.metadata.namespace.clone().unwrap_or_default(),
                name: pvc.metadata.name.clone().unwrap_or_default(),
                status: phase,
                volume,
                capacity,
                access_modes: modes,
                storage_class: match pvc_class(pvc) {
                    Some(c) if !c.is_empty() => c.to_string(),
                    _ => "<unset>".to_string(),
                },
                age: age(created(&pvc.metadata), s.now),
                created: created(&pvc.metadata),
            }
        })
        .collect()
}

/// `(pool, image)` of a volume backed by Ceph RBD: the in-tree `rbd` source or a
/// `rbd.csi.ceph.com` CSI volume (its `pool` and `imageName` attributes).
pub fn rbd_image(pv: &PersistentVolume) -> Option<(&str, &str)> {
    let spec = pv.spec.as_ref()?;
    if let Some(rbd) = &spec.rbd {
        return Some((rbd.pool.as_deref().unwrap_or("rbd"), rbd.image.as_str()));
    }
    let csi = spec
        .csi
        .as_ref()
        .filter(|c| c.driver == "rbd.csi.ceph.com")?;
    let attrs = csi.volume_attributes.as_ref()?;
    let image = attrs.get("imageName")?;
    let pool = attrs.get("pool").map(String::as_str).unwrap_or("rbd");
    Some((pool, image.as_str()))
}

/// A row of the PV table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PvRow {
    pub name: String,
    pub capacity: String,
    pub reclaim: String,
    pub status: String,
    /// `namespace/name` of the claim, empty when unclaimed.
    pub claim: String,
    pub storage_class: String,
    /// `pool/image` for RBD volumes, empty otherwise.
    pub rbd: String,
    pub age: String,
    /// The creation time behind `age`, which the AGE column sorts by.
    pub created: Option<Timestamp>,
}

impl PvRow {
    pub(crate) const COLUMNS: &[Column] = &[
        Column::new("NAME", Name),
        Column::new("CAPACITY", Size),
        Column::new("RECLAIM", Text),
        Column::new("STATUS", Status),
        Column::new("CLAIM", Name),
        Column::new("STORAGECLASS", Name),
        Column::new("RBD", Name),
        Column::new("AGE", Age),
    ];

    pub fn cells(&self) -> Vec<String> {
        vec![
            self.name.clone(),
            self.capacity.clone(),
            self.reclaim.clone(),
            self.status.clone(),
            self.claim.clone(),
            self.storage_class.clone(),
            self.rbd.clone(),
            self.age.clone(),
        ]
    }
}

pub(crate) fn pv_rows(s: &Snapshot) -> Vec<PvRow> {
    s.pvs
        .iter()
        .map(|pv| {
            let spec = pv.spec.as_ref();
            let claim = spec
                .and_then(|s| s.claim_ref.as_ref())
                .map(|c| {
                    format!(
                        "{}/{}",
                        c.namespace.as_deref().unwrap_or_default(),
                        c.name.as_deref().unwrap_or_default()
                    )
                })
                .unwrap_or_default();
            let status = if pv.metadata.deletion_timestamp.is_some() {
                "Terminating".to_string()
            } else {
                pv.status
                    .as_ref()
                    .and_then(|s| s.phase.clone())
                    .unwrap_or_else(|| "Pending".to_string())
            };
            PvRow {
                name: pv.metadata.name.clone().unwrap_or_default(),
                capacity: spec
                    .and_then(|s| s.capacity.as_ref())
                    .and_then(|c| c.get("storage"))
                    .map(|q| q.0.clone())
                    .unwrap_or_default(),
                reclaim: spec
                    .and_then(|s| s.persistent_volume_reclaim_policy.clone())
                    .unwrap_or_default(),
                status,
                claim,
                storage_class: spec
                    .and_then(|s| s.storage_class_name.clone())
                    .unwrap_or_default(),
                rbd: rbd_image(pv)
                    .map(|(pool, image)| format!("{pool}/{image}"))
                    .unwrap_or_default(),
                age: age(created(&pv.metadata), s.now),
                created: created(&pv.metadata),
            }
        })
        .collect()
}

/// A row of the StorageClass table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StorageClassRow {
    pub name: String,
    /// Shown as ` (default)` after the name, as kubectl does.
    pub is_default: bool,
    pub provisioner: String,
    pub reclaim_policy: String,
    pub volume_binding_mode: String,
    pub age: String,
    /// The creation time behind `age`, which the AGE column sorts by.
    pub created: Option<Timestamp>,
}

impl StorageClassRow {
    pub(crate) const COLUMNS: &[Column] = &[
        Column::new("NAME", Name),
        Column::new("PROVISIONER", Text),
        Column::new("RECLAIMPOLICY", Text),
        Column::new("VOLUMEBINDINGMODE", Text),
        Column::new("AGE", Age),
    ];

    pub fn cells(&self) -> Vec<String> {
        vec![
            if self.is_default {
                format!("{} (default)", self.name)
            } else {
                self.name.clone()
            },
            self.provisioner.clone(),
            self.reclaim_policy.clone(),
            self.volume_binding_mode.clone(),
            self.age.clone(),
        ]
    }

    #[cfg(test)]
    pub fn key(&self) -> String {
        self.name.clone()
    }
}

pub(crate) fn storage_class_rows(s: &Snapshot) -> Vec<StorageClassRow> {
    s.storage_classes
        .iter()
        .map(|sc| {
            let annotations = sc.metadata.annotations.as_ref();
            let is_default = [
                "storageclass.kubernetes.io/is-default-class",
                "storageclass.beta.kubernetes.io/is-default-class",
            ]
            .iter()
            .any(|k| annotations.and_then(|a| a.get(*k)).map(String::as_str) == Some("true"));
            StorageClassRow {
                name: sc.metadata.name.clone().unwrap_or_default(),
                is_default,
                provisioner: sc.provisioner.clone(),
                reclaim_policy: sc
                    .reclaim_policy
                    .clone()
                    .unwrap_or_else(|| "Delete".to_string()),
                volume_binding_mode: sc
                    .volume_binding_mode
                    .clone()
                    .unwrap_or_else(|| "Immediate".to_string()),
                age: age(created(&sc.metadata), s.now),
                created: created(&sc.metadata),
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------
// Workloads

/// The workload kinds the Workloads pane lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum WorkloadKind {
    StatefulSet,
    DaemonSet,
    Deployment,
}

impl WorkloadKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::StatefulSet => "StatefulSet",
            WorkloadKind::DaemonSet => "DaemonSet",
            WorkloadKind::Deployment => "Deployment",
        }
    }
}

/// Replica counts of a workload, from its spec and status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Replicas {
    pub desired: i32,
    pub ready: i32,
    pub up_to_date: i32,
    pub available: i32,
}

pub(crate) fn statefulset_replicas(sts: &StatefulSet) -> Replicas {
    let st = sts.status.as_ref();
    Replicas {
        desired: sts.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
        ready: st.and_then(|s| s.ready_replicas).unwrap_or(0),
        up_to_date: st.and_then(|s| s.updated_replicas).unwrap_or(0),
        available: st.and_then(|s| s.available_replicas).unwrap_or(0),
    }
}

pub(crate) fn deployment_replicas(d: &Deployment) -> Replicas {
    let st = d.status.as_ref();
    Replicas {
        desired: d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
        ready: st.and_then(|s| s.ready_replicas).unwrap_or(0),
        up_to_date: st.and_then(|s| s.updated_replicas).unwrap_or(0),
        available: st.and_then(|s| s.available_replicas).unwrap_or(0),
    }
}

pub(crate) fn daemonset_replicas(ds: &DaemonSet) -> Replicas {
    let st = ds.status.as_ref();
    Replicas {
        desired: st.map(|s| s.desired_number_scheduled).unwrap_or(0),
        ready: st.map(|s| s.number_ready).unwrap_or(0),
        up_to_date: st.and_then(|s| s.updated_number_scheduled).unwrap_or(0),
        available: st.and_then(|s| s.number_available).unwrap_or(0),
    }
}

/// A row of the Workloads pane (StatefulSets, DaemonSets and Deployments together).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WorkloadRow {
    pub kind: WorkloadKind,
    pub namespace: String,
    pub name: String,
    pub replicas: Replicas,
    pub age: String,
    /// The creation time behind `age`, which the AGE column sorts by.
    pub created: Option<Timestamp>,
}

impl WorkloadRow {
    pub(crate) const COLUMNS: &[Column] = &[
        Column::new("KIND", Text),
        Column::new("NAMESPACE", Name),
        Column::new("NAME", Name),
        Column::new("DESIRED", Count),
        Column::new("READY", Count),
        Column::new("UP-TO-DATE", Count),
        Column::new("AVAILABLE", Count),
        Column::new("AGE", Age),
    ];

    pub fn cells(&self) -> Vec<String> {
        vec![
            self.kind.as_str().to_string(),
            self.namespace.clone(),
            self.name.clone(),
            self.replicas.desired.to_string(),
            self.replicas.ready.to_string(),
            self.replicas.up_to_date.to_string(),
            self.replicas.available.to_string(),
            self.age.clone(),
        ]
    }

    #[cfg(test)]
    /// `Kind/namespace/name`: names repeat across kinds.
    pub fn key(&self) -> String {
        format!("{}/{}/{}", self.kind.as_str(), self.namespace, self.name)
    }
}

/// StatefulSets, then DaemonSets, then Deployments, each by namespace/name.
pub(crate) fn workload_rows(s: &Snapshot) -> Vec<WorkloadRow> {
    let row = |kind, meta: &ObjectMeta, replicas| WorkloadRow {
        kind,
        namespace: meta.namespace.clone().unwrap_or_default(),
        name: meta.name.clone().unwrap_or_default(),
        replicas,
        age: age(created(meta), s.now),
        created: created(meta),
    };
    let mut rows =
        Vec::with_capacity(s.statefulsets.len() + s.daemonsets.len() + s.deployments.len());
    rows.extend(s.statefulsets.iter().map(|x| {
        row(
            WorkloadKind::StatefulSet,
            &x.metadata,
            statefulset_replicas(x),
        )
    }));
    rows.extend(
        s.daemonsets
            .iter()
            .map(|x| row(WorkloadKind::DaemonSet, &x.metadata, daemonset_replicas(x))),
    );
    rows.extend(s.deployments.iter().map(|x| {
        row(
            WorkloadKind::Deployment,
            &x.metadata,
            deployment_replicas(x),
        )
    }));
    rows
}

// ---------------------------------------------------------------------------------
// Events

/// When an event was last seen: its series, lastTimestamp, eventTime, firstTimestamp,
/// then its creation (events.k8s.io-style events only fill some of these).
pub(crate) fn event_last_seen(ev: &Event) -> Option<Timestamp> {
    ev.series
        .as_ref()
        .and_then(|s| s.last_observed_time.as_ref())
        .and_then(micro_timestamp)
        .or_else(|| ev.last_timestamp.as_ref().and_then(timestamp))
        .or_else(|| ev.event_time.as_ref().and_then(micro_timestamp))
        .or_else(|| ev.first_timestamp.as_ref().and_then(timestamp))
        .or_else(|| created(&ev.metadata))
}

/// How many times an event happened (series count, `count`, at least 1).
pub(crate) fn event_count(ev: &Event) -> i32 {
    ev.series
        .as_ref()
        .and_then(|s| s.count)
        .or(ev.count)
        .unwrap_or(1)
        .max(1)
}

/// A row of the Events pane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EventRow {
    pub last_seen: String,
    pub type_: String,
    pub reason: String,
    /// `kind/name` in lower case, as kubectl prints it (`pod/web-0`).
    pub object: String,
    pub message: String,
    pub count: i32,
    pub namespace: String,
    /// The event's own name (for the key).
    pub name: String,
    /// The time behind `last_seen`, for sorting.
    pub last_seen_at: Option<Timestamp>,
}

impl EventRow {
    pub(crate) const COLUMNS: &[Column] = &[
        Column::new("LAST SEEN", Age),
        Column::new("TYPE", Text),
        Column::new("REASON", Text),
        Column::new("OBJECT", Name),
        Column::new("MESSAGE", Text),
        Column::new("COUNT", Count),
        Column::new("NAMESPACE", Name),
    ];

    pub fn cells(&self) -> Vec<String> {
        vec![
            self.last_seen.clone(),
            self.type_.clone(),
            self.reason.clone(),
            self.object.clone(),
            self.message.clone(),
            self.count.to_string(),
            self.namespace.clone(),
        ]
    }

    pub(crate) fn is_warning(&self) -> bool {
        self.type_ == "Warning"
    }
}

/// Warnings first, then the most recently seen first (ties by namespace/name).
pub(crate) fn event_rows(s: &Snapshot) -> Vec<EventRow> {
    let mut rows: Vec<EventRow> = s
        .events
        .iter()
        .map(|ev| {
            let at = event_last_seen(ev);
            let obj = &ev.involved_object;
            let message = ev.message.as_deref().unwrap_or_default();
            EventRow {
                last_seen: age(at, s.now),
                type_: ev.type_.clone().unwrap_or_default(),
                reason: ev.reason.clone().unwrap_or_default(),
                object: format!(
                    "{}/{}",
                    obj.kind.as_deref().unwrap_or_default().to_lowercase(),
                    obj.name.as_deref().unwrap_or_default()
                ),
                // A table cell is one line; multi-line messages are joined.
                message: if message.contains('\n') {
                    message.split_whitespace().collect::<Vec<_>>().join(" ")
                } else {
                    message.to_string()
                },
                count: event_count(ev),
                namespace: ev.metadata.namespace.clone().unwrap_or_default(),
                name: ev.metadata.name.clone().unwrap_or_default(),
                last_seen_at: at,
            }
        })
        .collect();
    rows.sort_by(|a, b| {
        b.is_warning()
            .cmp(&a.is_warning())
            .then_with(|| b.last_seen_at.cmp(&a.last_seen_at))
            .then_with(|| a.namespace.cmp(&b.namespace))
            .then_with(|| a.name.cmp(&b.name))
    });
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    fn now() -> Timestamp {
        "2025-01-01T12:00:00Z".parse().unwrap()
    }

    fn from<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Arc<T> {
        Arc::new(serde_json::from_value(v).unwrap())
    }

    fn snapshot() -> Snapshot {
        Snapshot {
            now: now(),
            ..Default::default()
        }
    }

    #[test]
    fn node_row_matches_kubectl() {
        let mut s = snapshot();
        s.nodes.push(from(json!({
            "metadata": {"name": "master", "creationTimestamp": "2025-01-01T10:00:00Z",
                "labels": {"node-role.kubernetes.io/control-plane": "", "kubernetes.io/hostname": "master"}},
            "spec": {"podCIDR": "10.244.0.0/24", "unschedulable": true,
                "taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"},
                           {"key": "dedicated", "value": "db", "effect": "NoExecute"}]},
            "status": {"addresses": [{"type": "Hostname", "address": "master"}, {"type": "InternalIP", "address": "10.0.0.1"}],
                "nodeInfo": {"kubeletVersion": "v1.32.4", "machineID": "", "systemUUID": "", "bootID": "",
                    "kernelVersion": "", "osImage": "", "containerRuntimeVersion": "", "kubeProxyVersion": "",
                    "operatingSystem": "linux", "architecture": "amd64"},
                "conditions": [{"type": "MemoryPressure", "status": "True"}, {"type": "DiskPressure", "status": "False"},
                               {"type": "Ready", "status": "True"}]}
        })));
        s.nodes.push(from(json!({
            "metadata": {"name": "node1", "labels": {"kubernetes.io/role": "worker"}},
            "status": {"conditions": [{"type": "Ready", "status": "Unknown"}, {"type": "MemoryPressure", "status": "Unknown"}]}
        })));
        s.nodes.push(from(
            json!({"metadata": {"name": "bare"}, "spec": {"unschedulable": true}}),
        ));
        for (i, node) in ["master", "master", "node1", "node1", "bare"]
            .iter()
            .enumerate()
        {
            let phase = if i == 1 { "Succeeded" } else { "Running" };
            s.pods.push(from(
                json!({"metadata": {"name": format!("p{i}"), "namespace": "x"},
                "spec": {"nodeName": node, "containers": []}, "status": {"phase": phase}}),
            ));
        }
        s.pods.push(from(
            json!({"metadata": {"name": "pending", "namespace": "x"}, "spec": {"containers": []}}),
        ));
        let rows = node_rows(&s);
        assert_eq!(
            rows[0].cells(),
            vec![
                "master",
                "Ready,SchedulingDisabled",
                "control-plane",
                "node-role.kubernetes.io/control-plane:NoSchedule,dedicated=db:NoExecute",
                "10.0.0.1",
                "10.244.0.0/24",
                "v1.32.4",
                "1",
                "120m",
                "MemoryPressure"
            ]
        );
        assert_eq!(rows[1].status, "NotReady");
        assert_eq!(rows[1].roles, "worker");
        assert_eq!(rows[1].taints, "<none>");
        assert_eq!(rows[1].internal_ip, "<none>");
        assert_eq!(rows[1].pods, 2);
        // NotReady is never `ok`.
        assert_eq!(rows[1].conditions, "Ready=Unknown");
        assert_eq!(rows[1].age, "<unknown>");
        assert_eq!(rows[2].status, "Unknown,SchedulingDisabled");
        assert_eq!(rows[2].roles, "<none>");
        assert_eq!(rows[2].key(), "bare");
        assert_eq!(NodeRow::COLUMNS.len(), rows[0].cells().len());
    }

    #[test]
    fn storage_rows() {
        let mut s = snapshot();
        s.pvcs.push(from(json!({
            "metadata": {"name": "data-etcd-0", "namespace": "default", "creationTimestamp": "2025-01-01T11:00:00Z"},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "rbd", "volumeName": "pvc-1",
                     "resources": {"requests": {"storage": "1Gi"}}},
            "status": {"phase": "Bound", "accessModes": ["ReadWriteMany", "ReadWriteOnce"], "capacity": {"storage": "1Gi"}}
        })));
        s.pvcs.push(from(json!({
            "metadata": {"name": "pending", "namespace": "default", "deletionTimestamp": "2025-01-01T11:00:00Z"},
            "spec": {"accessModes": ["ReadWriteOnce"]},
            "status": {"phase": "Pending"}
        })));
        let rows = pvc_rows(&s);
        assert_eq!(
            rows[0].cells(),
            vec![
                "default",
                "data-etcd-0",
                "Bound",
                "pvc-1",
                "1Gi",
                "RWO,RWX",
                "rbd",
                "60m"
            ]
        );
        assert_eq!(rows[1].status, "Terminating");
        assert_eq!(rows[1].capacity, "");
        assert_eq!(rows[1].access_modes, "");
        assert_eq!(rows[1].storage_class, "<unset>");

        s.pvs.push(from(json!({
            "metadata": {"name": "pvc-1"},
            "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Delete", "storageClassName": "rbd",
                "claimRef": {"namespace": "default", "name": "data-etcd-0"},
                "rbd": {"monitors": ["10.0.0.1:6789"], "image": "kubernetes-dynamic-pvc-abc"}},
            "status": {"phase": "Bound"}
        })));
        s.pvs.push(from(json!({
            "metadata": {"name": "pvc-2"},
            "spec": {"capacity": {"storage": "5Gi"}, "persistentVolumeReclaimPolicy": "Retain",
                "csi": {"driver": "rbd.csi.ceph.com", "volumeHandle": "0001-x",
                        "volumeAttributes": {"pool": "kube", "imageName": "csi-vol-1"}}},
            "status": {"phase": "Released"}
        })));
        s.pvs.push(from(json!({
            "metadata": {"name": "nfs"},
            "spec": {"csi": {"driver": "nfs.csi.k8s.io", "volumeHandle": "x",
                             "volumeAttributes": {"pool": "p", "imageName": "i"}}}
        })));
        let rows = pv_rows(&s);
        assert_eq!(
            rows[0].cells(),
            vec![
                "pvc-1",
                "1Gi",
                "Delete",
                "Bound",
                "default/data-etcd-0",
                "rbd",
                "rbd/kubernetes-dynamic-pvc-abc",
                "<unknown>"
            ]
        );
        assert_eq!(rows[1].rbd, "kube/csi-vol-1");
        assert_eq!(rows[1].claim, "");
        assert_eq!(rows[2].rbd, "");
        assert_eq!(rows[2].status, "Pending");

        s.storage_classes.push(from(json!({
            "metadata": {"name": "rbd", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": "kubernetes.io/rbd", "reclaimPolicy": "Retain", "volumeBindingMode": "WaitForFirstConsumer"
        })));
        s.storage_classes.push(from(
            json!({"metadata": {"name": "plain"}, "provisioner": "x"}),
        ));
        let rows = storage_class_rows(&s);
        assert_eq!(
            rows[0].cells(),
            vec![
                "rbd (default)",
                "kubernetes.io/rbd",
                "Retain",
                "WaitForFirstConsumer",
                "<unknown>"
            ]
        );
        assert_eq!(rows[0].key(), "rbd");
        assert_eq!(rows[1].reclaim_policy, "Delete");
        assert_eq!(rows[1].volume_binding_mode, "Immediate");
    }

    #[test]
    fn workload_rows_per_kind() {
        let mut s = snapshot();
        s.statefulsets.push(from(json!({
            "metadata": {"name": "etcd", "namespace": "default"},
            "spec": {"replicas": 3, "selector": {}, "template": {}, "serviceName": "etcd"},
            "status": {"replicas": 3, "readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}
        })));
        s.daemonsets.push(from(json!({
            "metadata": {"name": "kube-proxy", "namespace": "kube-system"},
            "spec": {"selector": {}, "template": {}},
            "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 3,
                       "numberMisscheduled": 0, "updatedNumberScheduled": 3, "numberAvailable": 3}
        })));
        s.deployments.push(from(json!({
            "metadata": {"name": "web", "namespace": "demo"},
            "spec": {"selector": {}, "template": {}}
        })));
        let rows = workload_rows(&s);
        assert_eq!(
            rows[0].cells(),
            vec![
                "StatefulSet",
                "default",
                "etcd",
                "3",
                "2",
                "3",
                "2",
                "<unknown>"
            ]
        );
        assert_eq!(
            rows[1].cells()[..7],
            ["DaemonSet", "kube-system", "kube-proxy", "3", "3", "3", "3"]
        );
        assert_eq!(
            rows[2].cells()[..7],
            ["Deployment", "demo", "web", "1", "0", "0", "0"]
        );
        assert_eq!(rows[2].key(), "Deployment/demo/web");
    }

    #[test]
    fn events_warnings_first_then_newest() {
        let mut s = snapshot();
        let ev = |name: &str, type_: &str, last: &str| {
            from::<Event>(json!({
                "metadata": {"name": name, "namespace": "default"},
                "involvedObject": {"kind": "Pod", "name": "web-0"},
                "type": type_, "reason": "R", "message": "line one\nline  two", "count": 3,
                "lastTimestamp": last
            }))
        };
        s.events.push(ev("a", "Normal", "2025-01-01T11:59:50Z"));
        s.events.push(ev("b", "Warning", "2025-01-01T11:00:00Z"));
        s.events.push(ev("c", "Warning", "2025-01-01T11:59:00Z"));
        s.events.push(from(json!({
            "metadata": {"name": "d", "namespace": "default"},
            "involvedObject": {"kind": "Node", "name": "node1"},
            "type": "Normal", "reason": "NodeNotReady",
            "series": {"count": 7, "lastObservedTime": "2025-01-01T11:59:58.000001Z"}
        })));
        let rows = event_rows(&s);
        let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["c", "b", "d", "a"]);
        assert_eq!(
            rows[0].cells(),
            vec![
                "60s",
                "Warning",
                "R",
                "pod/web-0",
                "line one line two",
                "3",
                "default"
            ]
        );
        assert_eq!(rows[2].count, 7);
        assert_eq!(rows[2].last_seen, "1s");
        assert_eq!(rows[2].object, "node/node1");
    }

    #[test]
    fn access_mode_order() {
        let modes: Vec<String> = ["ReadWriteOncePod", "ReadOnlyMany", "ReadWriteOnce"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(access_modes(Some(&modes)), "RWO,ROX,RWOP");
        assert_eq!(access_modes(None), "");
    }
}
