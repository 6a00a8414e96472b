//! The console's pod: only the fields kcops reads, decoded straight from the API
//! server's JSON (serde skips the rest without allocating it).
//!
//! Pods are most of what the console holds (150,000 on a big cluster). k8s-openapi's
//! `Pod` is 2 KiB before any field is set, each `Container` another 2 KiB and each
//! `Volume` 3 KiB, so 150,000 of them, even stripped, took over 2 GiB. These types keep
//! k8s-openapi's field names and shapes (so code reads `pod.spec`, `status.conditions`
//! the same way) and implement `k8s_openapi::Resource`, so `Api<Pod>`, watchers and
//! reflectors work with them directly. Code that needs another pod field adds it here;
//! describe and YAML fetch the whole object from the API server.

use k8s_openapi::api::core::v1::{
    CSIVolumeSource, ContainerStateTerminated, ContainerStateWaiting, EphemeralVolumeSource,
    PersistentVolumeClaimVolumeSource, RBDVolumeSource,
};
use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use super::shared::{Shared, SharedList};
use super::stamp::Stamp;
use super::uid::Uid;
use super::word::Word;

/// A pod (`v1/Pod`) as the console keeps it: [`ApiPod`] with its metadata slimmed
/// to [`PodMeta`] (what the console reads of it).
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
pub struct Pod {
    #[serde(default)]
    pub metadata: PodMeta,
    pub spec: Option<PodSpec>,
    pub status: Option<PodStatus>,
}

/// A pod as read from the API server (`Api<ApiPod>`, watchers): kube-rs needs an
/// `ObjectMeta` to watch and write it; the console stores it as a [`Pod`].
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
pub struct ApiPod {
    #[serde(default)]
    pub metadata: ObjectMeta,
    pub spec: Option<PodSpec>,
    pub status: Option<PodStatus>,
}

impl From<ApiPod> for Pod {
    fn from(p: ApiPod) -> Self {
        Self {
            metadata: p.metadata.into(),
            spec: p.spec,
            status: p.status,
        }
    }
}

impl k8s_openapi::Resource for ApiPod {
    const API_VERSION: &'static str = "v1";
    const GROUP: &'static str = "";
    const KIND: &'static str = "Pod";
    const VERSION: &'static str = "v1";
    const URL_PATH_SEGMENT: &'static str = "pods";
    type Scope = k8s_openapi::NamespaceResourceScope;
}

impl k8s_openapi::ListableResource for ApiPod {
    const LIST_KIND: &'static str = "PodList";
}

impl k8s_openapi::Metadata for ApiPod {
    type Ty = ObjectMeta;

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// A pod's `ObjectMeta` as the console keeps it: 96 bytes instead of 360, with the
/// field names and types of `ObjectMeta` for what it keeps. What few pods have (a
/// deletion time and grace period, finalizers, the `component` label) is boxed
/// apart, so that a stored pod (240 bytes) fits the allocator's 256-byte class.
/// Annotations, managed fields, other labels and the resourceVersion (the watch keeps
/// its own) are dropped; describe and YAML fetch the whole object.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(from = "WireMeta", into = "WireMeta")]
pub struct PodMeta {
    /// Its own copy (not interned), which the pod's row and key point at.
    pub name: Option<Shared>,
    /// Shared: 150,000 pods live in a few hundred namespaces.
    pub namespace: Option<Shared>,
    /// 16 bytes for a UUID (its text took 36 and an allocation).
    pub uid: Option<Uid>,
    created: Stamp,
    pub owner_references: Option<SharedList<OwnerRef>>,
    rare: Option<Box<RareMeta>>,
}

/// The metadata few pods carry.
#[derive(Clone, Debug, Default, PartialEq)]
struct RareMeta {
    deletion_timestamp: Option<Time>,
    deletion_grace_period_seconds: Option<i64>,
    finalizers: Option<Vec<String>>,
    labels: Option<BTreeMap<String, String>>,
}

impl PodMeta {
    pub fn creation_timestamp(&self) -> Option<Time> {
        self.created.time()
    }

    /// When the pod was created, as jiff reads it (its AGE counts from then).
    pub fn created(&self) -> Option<jiff::Timestamp> {
        self.created.timestamp()
    }

    /// When the pod was asked to go (it is terminating).
    pub fn deletion_timestamp(&self) -> Option<&Time> {
        self.rare.as_ref()?.deletion_timestamp.as_ref()
    }

    /// Marks the pod terminating (or not), as the API server does when it is deleted.
    pub fn set_deletion_timestamp(&mut self, at: Option<Time>) {
        let mut fields = unboxed(self.rare.take());
        fields.deletion_timestamp = at;
        self.rare = rare(fields);
    }

    pub fn deletion_grace_period_seconds(&self) -> Option<i64> {
        self.rare.as_ref()?.deletion_grace_period_seconds
    }

    pub fn finalizers(&self) -> Option<&[String]> {
        self.rare.as_ref()?.finalizers.as_deref()
    }

    /// The labels the reader kept (the store keeps `component` alone).
    pub fn labels(&self) -> Option<&BTreeMap<String, String>> {
        self.rare.as_ref()?.labels.as_ref()
    }
}

/// What few pods carry, boxed when there is any (nothing allocated otherwise).
fn rare<T: Default + PartialEq>(fields: T) -> Option<Box<T>> {
    (fields != T::default()).then(|| Box::new(fields))
}

/// The fields [`rare`] boxed, or their defaults when it boxed none.
fn unboxed<T: Default>(fields: Option<Box<T>>) -> T {
    fields.map(|f| *f).unwrap_or_default()
}

impl From<ObjectMeta> for PodMeta {
    fn from(m: ObjectMeta) -> Self {
        Self {
            name: m.name.as_deref().map(Shared::own),
            namespace: m.namespace.as_deref().map(Shared::new),
            uid: m.uid.as_deref().map(Uid::new),
            created: Stamp::new(m.creation_timestamp.as_ref()),
            owner_references: m
                .owner_references
                .map(|o| o.into_iter().map(OwnerRef::from).collect()),
            rare: rare(RareMeta {
                deletion_timestamp: m.deletion_timestamp,
                deletion_grace_period_seconds: m.deletion_grace_period_seconds,
                finalizers: m.finalizers,
                labels: m.labels,
            }),
        }
    }
}

/// [`PodMeta`] as the API server writes it.
#[skip_serializing_none]
#[derive(Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct WireMeta {
    name: Option<String>,
    namespace: Option<Shared>,
    uid: Option<Box<str>>,
    creation_timestamp: Option<Time>,
    deletion_timestamp: Option<Time>,
    deletion_grace_period_seconds: Option<i64>,
    finalizers: Option<Vec<String>>,
    owner_references: Option<SharedList<OwnerRef>>,
    labels: Option<BTreeMap<String, String>>,
}

impl From<WireMeta> for PodMeta {
    fn from(w: WireMeta) -> Self {
        Self {
            name: w.name.as_deref().map(Shared::own),
            namespace: w.namespace,
            uid: w.uid.as_deref().map(Uid::new),
            created: Stamp::new(w.creation_timestamp.as_ref()),
            owner_references: w.owner_references,
            rare: rare(RareMeta {
                deletion_timestamp: w.deletion_timestamp,
                deletion_grace_period_seconds: w.deletion_grace_period_seconds,
                finalizers: w.finalizers,
                labels: w.labels,
            }),
        }
    }
}

impl From<PodMeta> for WireMeta {
    fn from(m: PodMeta) -> Self {
        let rare = unboxed(m.rare);
        Self {
            name: m.name.map(String::from),
            namespace: m.namespace,
            uid: m.uid.map(|u| u.to_string().into()),
            creation_timestamp: m.created.time(),
            deletion_timestamp: rare.deletion_timestamp,
            deletion_grace_period_seconds: rare.deletion_grace_period_seconds,
            finalizers: rare.finalizers,
            owner_references: m.owner_references,
            labels: rare.labels,
        }
    }
}

/// An owner reference, its strings shared by the owner's pods (fields in the order
/// `OwnerReference` writes them).
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnerRef {
    pub api_version: Shared,
    pub block_owner_deletion: Option<bool>,
    pub controller: Option<bool>,
    pub kind: Shared,
    pub name: Shared,
    pub uid: Shared,
}

impl From<OwnerReference> for OwnerRef {
    fn from(o: OwnerReference) -> Self {
        Self {
            api_version: Shared::new(&o.api_version),
            block_owner_deletion: o.block_owner_deletion,
            controller: o.controller,
            kind: Shared::new(&o.kind),
            name: Shared::new(&o.name),
            uid: Shared::new(&o.uid),
        }
    }
}

/// `PodSpec`: where the pod runs, its containers and its storage volumes.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(from = "WireSpec", into = "WireSpec")]
pub struct PodSpec {
    /// Shared: the same in every pod of a workload.
    pub containers: SharedList<Container>,
    pub node_name: Option<Shared>,
    pub host_network: Option<bool>,
    /// Only volumes that can be backed by a PV or an RBD image are kept.
    pub volumes: Option<Box<[Volume]>>,
    rare: Option<Box<RareSpec>>,
}

/// The spec few pods carry (so that a stored pod fits the allocator's 256-byte
/// class).
#[derive(Clone, Debug, Default, PartialEq)]
struct RareSpec {
    init_containers: Option<SharedList<Container>>,
    priority_class_name: Option<Shared>,
}

impl PodSpec {
    pub fn init_containers(&self) -> Option<&[Container]> {
        self.rare.as_ref()?.init_containers.as_deref()
    }

    /// `system-node-critical` / `system-cluster-critical` mark system pods.
    pub fn priority_class_name(&self) -> Option<&str> {
        self.rare.as_ref()?.priority_class_name.as_deref()
    }
}

/// [`PodSpec`] as the API server writes it.
#[skip_serializing_none]
#[derive(Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct WireSpec {
    #[serde(default)]
    containers: SharedList<Container>,
    init_containers: Option<SharedList<Container>>,
    node_name: Option<Shared>,
    host_network: Option<bool>,
    priority_class_name: Option<Shared>,
    #[serde(default, deserialize_with = "storage_volumes")]
    volumes: Option<Box<[Volume]>>,
}

impl From<WireSpec> for PodSpec {
    fn from(w: WireSpec) -> Self {
        Self {
            containers: w.containers,
            node_name: w.node_name,
            host_network: w.host_network,
            volumes: w.volumes,
            rare: rare(RareSpec {
                init_containers: w.init_containers,
                priority_class_name: w.priority_class_name,
            }),
        }
    }
}

impl From<PodSpec> for WireSpec {
    fn from(s: PodSpec) -> Self {
        let rare = unboxed(s.rare);
        Self {
            containers: s.containers,
            init_containers: rare.init_containers,
            node_name: s.node_name,
            host_network: s.host_network,
            priority_class_name: rare.priority_class_name,
            volumes: s.volumes,
        }
    }
}

/// A container of the spec: its name, image and restart policy (sidecars); names and
/// images are the same in every pod of a workload, so they are shared.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    pub name: Shared,
    pub image: Option<Shared>,
    pub restart_policy: Option<Word>,
}

crate::interned_lists!(Container);
crate::interned_lists!(OwnerRef);

/// A volume that can be backed by storage kcops shows (a claim, RBD, CSI, ephemeral).
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    /// Shared: the same in every pod of a workload (`data`, `www`).
    pub name: Shared,
    pub persistent_volume_claim: Option<PersistentVolumeClaimVolumeSource>,
    pub rbd: Option<Box<RBDVolumeSource>>,
    pub csi: Option<Box<CSIVolumeSource>>,
    pub ephemeral: Option<Box<EphemeralVolumeSource>>,
}

impl Volume {
    fn is_storage(&self) -> bool {
        self.persistent_volume_claim.is_some()
            || self.rbd.is_some()
            || self.csi.is_some()
            || self.ephemeral.is_some()
    }
}

/// Decodes the volume list keeping only storage volumes (the service-account token,
/// ConfigMaps and emptyDirs of every pod are dropped as they are read).
fn storage_volumes<'de, D>(d: D) -> Result<Option<Box<[Volume]>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let volumes: Option<Vec<Volume>> = Option::deserialize(d)?;
    Ok(volumes.map(|mut v| {
        v.retain(Volume::is_storage);
        v.into_boxed_slice()
    }))
}

/// Whether the console reads a condition: every condition but `ContainersReady` and
/// `PodReadyToStartContainers` while True (the containers' statuses say as much). A
/// running pod keeps three of its five; describe fetches the whole object.
fn is_read(c: &PodCondition) -> bool {
    !(c.status() == "True"
        && (c.type_() == "ContainersReady" || c.type_() == "PodReadyToStartContainers"))
}

/// Decodes the conditions the console reads (see [`is_read`]).
fn read_conditions<'de, D>(d: D) -> Result<Option<Box<[PodCondition]>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let conditions: Option<Vec<PodCondition>> = Option::deserialize(d)?;
    Ok(conditions.map(|mut c| {
        c.retain(is_read);
        c.into_boxed_slice()
    }))
}

/// `PodStatus` without IPs lists, resources and ids. What few pods have (a reason and
/// message: evicted, node lost; init containers' statuses) is boxed apart.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(from = "WireStatus", into = "WireStatus")]
pub struct PodStatus {
    pub phase: Option<Word>,
    pub pod_ip: Option<Box<str>>,
    started: Stamp,
    /// Without the conditions nothing reads while they hold (see [`is_read`]).
    pub conditions: Option<Box<[PodCondition]>>,
    pub container_statuses: Option<Box<[ContainerStatus]>>,
    rare: Option<Box<RareStatus>>,
}

/// The status few pods carry.
#[derive(Clone, Debug, Default, PartialEq)]
struct RareStatus {
    reason: Option<String>,
    message: Option<String>,
    init_container_statuses: Option<Vec<ContainerStatus>>,
}

impl PodStatus {
    /// When the kubelet accepted the pod.
    pub fn start_time(&self) -> Option<Time> {
        self.started.time()
    }

    pub fn reason(&self) -> Option<&str> {
        self.rare.as_ref()?.reason.as_deref()
    }

    pub fn message(&self) -> Option<&str> {
        self.rare.as_ref()?.message.as_deref()
    }

    pub fn init_container_statuses(&self) -> Option<&[ContainerStatus]> {
        self.rare.as_ref()?.init_container_statuses.as_deref()
    }

    /// Sets the reason (tests build statuses this way).
    #[cfg(test)]
    pub(crate) fn set_reason(&mut self, reason: Option<String>) {
        let mut fields = unboxed(self.rare.take());
        fields.reason = reason;
        self.rare = rare(fields);
    }
}

/// [`PodStatus`] as the API server writes it.
#[skip_serializing_none]
#[derive(Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct WireStatus {
    phase: Option<Word>,
    reason: Option<String>,
    message: Option<String>,
    #[serde(rename = "podIP")]
    pod_ip: Option<Box<str>>,
    start_time: Option<Time>,
    #[serde(default, deserialize_with = "read_conditions")]
    conditions: Option<Box<[PodCondition]>>,
    init_container_statuses: Option<Vec<ContainerStatus>>,
    container_statuses: Option<Box<[ContainerStatus]>>,
}

impl From<WireStatus> for PodStatus {
    fn from(w: WireStatus) -> Self {
        Self {
            phase: w.phase,
            pod_ip: w.pod_ip,
            started: Stamp::new(w.start_time.as_ref()),
            conditions: w.conditions,
            container_statuses: w.container_statuses,
            rare: rare(RareStatus {
                reason: w.reason,
                message: w.message,
                init_container_statuses: w.init_container_statuses,
            }),
        }
    }
}

impl From<PodStatus> for WireStatus {
    fn from(s: PodStatus) -> Self {
        let rare = unboxed(s.rare);
        Self {
            phase: s.phase,
            reason: rare.reason,
            message: rare.message,
            pod_ip: s.pod_ip,
            start_time: s.started.time(),
            conditions: s.conditions,
            init_container_statuses: rare.init_container_statuses,
            container_statuses: s.container_statuses,
        }
    }
}

/// A pod condition, in 16 bytes instead of k8s-openapi's 120 plus two allocations:
/// its type and status are nearly always one of a handful of words (held as their
/// numbers), its transition time is whole seconds since 1970 (as the API server
/// writes it; 32 bits reach 2106), and only a condition that is not as it should be
/// carries a reason or a message, or an unusual type, status or time (boxed
/// together). Three to five per pod, 150,000 pods.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(from = "WireCondition", into = "WireCondition")]
pub struct PodCondition {
    /// When it last changed, in seconds since 1970; 0 when it has no time or one
    /// out of that range (kept in `text`).
    transition: u32,
    /// The type and status as well-known words ([`Word::known`]), or [`UNUSUAL`]:
    /// the word is in `text`.
    type_: u8,
    status: u8,
    text: Option<Box<ConditionText>>,
}

/// A condition's type or status that is no well-known word: kept in its text.
const UNUSUAL: u8 = u8::MAX;

#[derive(Clone, Debug, Default, PartialEq)]
struct ConditionText {
    reason: Option<String>,
    message: Option<String>,
    type_: Option<Box<str>>,
    status: Option<Box<str>>,
    /// A transition time before 1970 or after 2106.
    far_transition: Option<Time>,
}

impl PodCondition {
    /// `Ready`, `PodScheduled`, ...
    pub fn type_(&self) -> &str {
        Word::known_text(self.type_)
            .or_else(|| self.text.as_ref()?.type_.as_deref())
            .unwrap_or_default()
    }

    /// `True`, `False` or `Unknown`.
    pub fn status(&self) -> &str {
        Word::known_text(self.status)
            .or_else(|| self.text.as_ref()?.status.as_deref())
            .unwrap_or_default()
    }

    pub fn reason(&self) -> Option<&str> {
        self.text.as_ref()?.reason.as_deref()
    }

    pub fn message(&self) -> Option<&str> {
        self.text.as_ref()?.message.as_deref()
    }

    /// When the condition last changed, to the second.
    pub fn last_transition_time(&self) -> Option<Time> {
        match self.transition {
            0 => self.text.as_ref()?.far_transition.clone(),
            secs => Stamp::from_second(i64::from(secs)).time(),
        }
    }
}

/// A pod condition as the API server writes it.
#[skip_serializing_none]
#[derive(Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct WireCondition {
    #[serde(rename = "type")]
    type_: Word,
    status: Word,
    reason: Option<String>,
    message: Option<String>,
    last_transition_time: Option<Time>,
}

impl From<WireCondition> for PodCondition {
    fn from(w: WireCondition) -> Self {
        // A word that is not well known goes to the text, with its number UNUSUAL.
        let split = |w: Word| match w.known() {
            Some(i) => (i, None),
            None => (UNUSUAL, Some(Box::<str>::from(w.as_str()))),
        };
        let (type_, unusual_type) = split(w.type_);
        let (status, unusual_status) = split(w.status);
        let secs = w
            .last_transition_time
            .as_ref()
            .and_then(|t| u32::try_from(t.0.as_second()).ok())
            .filter(|s| *s != 0);
        let text = ConditionText {
            reason: w.reason,
            message: w.message,
            type_: unusual_type,
            status: unusual_status,
            far_transition: w.last_transition_time.filter(|_| secs.is_none()),
        };
        Self {
            transition: secs.unwrap_or(0),
            type_,
            status,
            text: rare(text),
        }
    }
}

impl From<PodCondition> for WireCondition {
    fn from(c: PodCondition) -> Self {
        let last_transition_time = c.last_transition_time();
        let (type_, status) = (Word::new(c.type_()), Word::new(c.status()));
        let text = c.text.map(|t| *t).unwrap_or_default();
        Self {
            type_,
            status,
            reason: text.reason,
            message: text.message,
            last_transition_time,
        }
    }
}

/// A container's status: readiness, restarts, current and last state.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStatus {
    pub name: Shared,
    #[serde(default)]
    pub ready: bool,
    #[serde(default)]
    pub restart_count: i32,
    pub started: Option<bool>,
    pub state: Option<ContainerState>,
    /// Boxed: only a container that has restarted has one (and a status fits 72
    /// bytes, two of them the allocator's 144-byte class). The API server writes an
    /// empty `lastState: {}` for the others: read as none.
    #[serde(default, deserialize_with = "last_state")]
    pub last_state: Option<Box<ContainerState>>,
}

fn last_state<'de, D>(d: D) -> Result<Option<Box<ContainerState>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let state: Option<ContainerState> = Option::deserialize(d)?;
    Ok(state
        .filter(|s| s.running.is_some() || s.terminated.is_some() || s.waiting.is_some())
        .map(Box::new))
}

/// `ContainerState` with the rarer, larger states boxed: most containers are running,
/// and each pod holds two states per container.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerState {
    pub running: Option<Running>,
    pub terminated: Option<Box<ContainerStateTerminated>>,
    pub waiting: Option<Box<ContainerStateWaiting>>,
}

/// A running container's state: when it started, to the second (8 bytes where
/// k8s-openapi's takes 24; two per pod).
#[derive(Clone, Copy, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(from = "WireRunning", into = "WireRunning")]
pub struct Running {
    started: Stamp,
}

impl Running {
    pub fn started_at(&self) -> Option<Time> {
        self.started.time()
    }
}

/// [`Running`] as the API server writes it.
#[skip_serializing_none]
#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct WireRunning {
    started_at: Option<Time>,
}

impl From<WireRunning> for Running {
    fn from(w: WireRunning) -> Self {
        Self {
            started: Stamp::new(w.started_at.as_ref()),
        }
    }
}

impl From<Running> for WireRunning {
    fn from(r: Running) -> Self {
        Self {
            started_at: r.started.time(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pod as the API server sends it, with what the console drops.
    fn full_pod() -> serde_json::Value {
        serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web-0", "namespace": "default", "uid": "u1",
                "labels": {"app": "web"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "uid": "s1", "controller": true}]},
            "spec": {
                "nodeName": "node1", "restartPolicy": "Always", "hostNetwork": false,
                "serviceAccountName": "default",
                "initContainers": [{"name": "init", "image": "busybox", "restartPolicy": "Always",
                    "command": ["sh"], "env": [{"name": "A", "value": "b"}]}],
                "containers": [{"name": "app", "image": "nginx:1.27",
                    "resources": {"requests": {"cpu": "100m"}},
                    "livenessProbe": {"httpGet": {"path": "/", "port": 80}},
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
                "volumes": [
                    {"name": "data", "persistentVolumeClaim": {"claimName": "data-web-0"}},
                    {"name": "kube-api-access-x", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}},
                    {"name": "cfg", "configMap": {"name": "web"}},
                    {"name": "img", "rbd": {"image": "foo", "monitors": ["10.0.0.1:6789"], "pool": "rbd"}},
                    {"name": "csi", "csi": {"driver": "rbd.csi.ceph.com", "volumeAttributes": {"imageName": "csi-vol-1"}}}
                ]
            },
            "status": {
                "phase": "Running", "hostIP": "10.0.0.11", "podIP": "10.244.1.5",
                "podIPs": [{"ip": "10.244.1.5"}], "qosClass": "BestEffort",
                "startTime": "2026-11-27T10:00:00Z",
                "conditions": [{"type": "Ready", "status": "True"},
                    {"type": "example.com/Gate", "status": "False", "reason": "Waiting", "message": "gate closed",
                     "lastTransitionTime": "2026-11-27T10:02:00Z", "lastProbeTime": null}],
                "containerStatuses": [{"name": "app", "ready": true, "restartCount": 3,
                    "image": "nginx:1.27", "imageID": "sha256:abc", "containerID": "containerd://1",
                    "started": true,
                    "state": {"running": {"startedAt": "2026-11-27T10:01:00Z"}},
                    "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "message": "boom"}}}]
            }
        })
    }

    #[test]
    fn decodes_what_the_console_reads_and_drops_the_rest() {
        let pod: Pod = serde_json::from_value(full_pod()).unwrap();
        let spec = pod.spec.as_ref().unwrap();
        assert_eq!(spec.node_name.as_deref(), Some("node1"));
        assert_eq!(spec.containers.len(), 1);
        assert_eq!(spec.containers[0].image.as_deref(), Some("nginx:1.27"));
        let init = spec.init_containers().unwrap();
        assert_eq!(init[0].restart_policy.as_deref(), Some("Always"));
        let names: Vec<&str> = spec
            .volumes
            .iter()
            .flatten()
            .map(|v| v.name.as_str())
            .collect();
        assert_eq!(names, ["data", "img", "csi"], "only storage volumes stay");
        let status = pod.status.as_ref().unwrap();
        let cs = &status.container_statuses.as_ref().unwrap()[0];
        assert_eq!((cs.ready, cs.restart_count), (true, 3));
        let last = cs.last_state.as_ref().unwrap().terminated.as_ref().unwrap();
        assert_eq!(last.message.as_deref(), Some("boom"));
        let labels = pod.metadata.labels().unwrap();
        assert_eq!(labels.get("app").map(String::as_str), Some("web"));
        // What was dropped is gone from the re-serialised object too.
        let back = serde_json::to_value(&pod).unwrap();
        assert!(back["spec"]["serviceAccountName"].is_null());
        assert!(back["spec"]["containers"][0]["resources"].is_null());
        assert!(back["status"]["containerStatuses"][0]["imageID"].is_null());
        assert!(back["status"]["hostIP"].is_null());
        assert!(back["spec"]["restartPolicy"].is_null());
        assert_eq!(back["status"]["podIP"], "10.244.1.5");
        // Conditions keep their words, reason and message, and write them back as read.
        let conds = status.conditions.as_ref().unwrap();
        let read: Vec<_> = conds
            .iter()
            .map(|c| (c.type_(), c.status(), c.reason(), c.message()))
            .collect();
        assert_eq!(
            read,
            [
                ("Ready", "True", None, None),
                (
                    "example.com/Gate",
                    "False",
                    Some("Waiting"),
                    Some("gate closed")
                )
            ]
        );
        assert_eq!(
            back["status"]["conditions"],
            serde_json::json!([{"type": "Ready", "status": "True"},
                {"type": "example.com/Gate", "status": "False", "reason": "Waiting", "message": "gate closed",
                 "lastTransitionTime": "2026-11-27T10:02:00Z"}])
        );
    }

    /// A condition takes 16 bytes; a transition time 32 bits of seconds cannot hold
    /// is kept whole beside it.
    #[test]
    fn a_condition_keeps_any_transition_time() {
        assert_eq!(std::mem::size_of::<PodCondition>(), 16);
        for at in [
            "2026-11-27T10:02:00Z",
            "1969-07-20T20:17:40Z",
            "2107-01-01T00:00:00Z",
        ] {
            let c: PodCondition = serde_json::from_value(serde_json::json!(
                {"type": "Ready", "status": "True", "lastTransitionTime": at}))
            .unwrap();
            assert_eq!(
                c.last_transition_time().map(|t| t.0.to_string()).as_deref(),
                Some(at)
            );
            assert_eq!(serde_json::to_value(&c).unwrap()["lastTransitionTime"], at);
        }
        let none: PodCondition =
            serde_json::from_value(serde_json::json!({"type": "Ready", "status": "True"})).unwrap();
        assert_eq!(none.last_transition_time(), None);
        assert!(none.text.is_none(), "nothing boxed for a plain condition");
    }

    #[test]
    fn conditions_that_only_repeat_the_containers_are_dropped_while_true() {
        let status = |ready: &str| {
            serde_json::json!({"status": {"conditions": [
                {"type": "PodReadyToStartContainers", "status": "True"},
                {"type": "Initialized", "status": "True"},
                {"type": "Ready", "status": ready},
                {"type": "ContainersReady", "status": ready},
                {"type": "PodScheduled", "status": "True"}]}})
        };
        let kept = |v| {
            let pod: Pod = serde_json::from_value(v).unwrap();
            let conds = pod.status.and_then(|s| s.conditions).unwrap_or_default();
            conds
                .iter()
                .map(|c| format!("{}={}", c.type_(), c.status()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            kept(status("True")),
            ["Initialized=True", "Ready=True", "PodScheduled=True"]
        );
        assert_eq!(
            kept(status("False")),
            [
                "Initialized=True",
                "Ready=False",
                "ContainersReady=False",
                "PodScheduled=True"
            ]
        );
    }

    #[test]
    fn an_empty_last_state_is_none() {
        let pod: Pod = serde_json::from_value(serde_json::json!({"status": {"containerStatuses": [
            {"name": "a", "state": {"running": {}}, "lastState": {}},
            {"name": "b", "lastState": {"terminated": {"exitCode": 1}}}]}}))
        .unwrap();
        let cs = pod.status.and_then(|s| s.container_statuses).unwrap();
        assert!(cs[0].last_state.is_none());
        let t = cs[1]
            .last_state
            .as_ref()
            .and_then(|s| s.terminated.as_ref());
        assert_eq!(t.map(|t| t.exit_code), Some(1));
    }

    #[test]
    fn a_pod_is_a_fraction_of_k8s_openapi_s() {
        let lite = std::mem::size_of::<Pod>()
            + 2 * std::mem::size_of::<Container>()
            + std::mem::size_of::<Volume>()
            + 2 * std::mem::size_of::<ContainerStatus>();
        let full = std::mem::size_of::<k8s_openapi::api::core::v1::Pod>()
            + 2 * std::mem::size_of::<k8s_openapi::api::core::v1::Container>()
            + std::mem::size_of::<k8s_openapi::api::core::v1::Volume>()
            + 2 * std::mem::size_of::<k8s_openapi::api::core::v1::ContainerStatus>();
        assert!(
            lite * 5 < full,
            "inline size {lite} B is not a fifth of {full} B"
        );
    }
}
