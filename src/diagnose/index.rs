//! Lookups built once per diagnosis so that every check is a single pass: events by
//! the object they are about, claims, volumes, classes and nodes by name.

use std::collections::{HashMap, HashSet};

use crate::model::pod::{Pod, PodCondition};
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::{Event, Node, PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;

use crate::model::ceph::{CephData, CephReport};
use crate::model::pod_status::timestamp;
use crate::model::rbd_map::{ImageUse, image_uses};
use crate::model::rows::event_last_seen;
use crate::model::snapshot::Snapshot;

/// `(kind, namespace, name)` of an event's involved object.
type ObjectKey<'a> = (&'a str, &'a str, &'a str);

/// Events with the time they were last seen, newest first.
type Timeline<'a> = Vec<(Option<Timestamp>, &'a Event)>;

/// Read-only indexes over one snapshot.
pub struct Index<'a> {
    pub now: Timestamp,
    pub limits: super::Thresholds,
    pub nodes: HashMap<&'a str, &'a Node>,
    /// Nodes whose Ready condition is not True (or missing): their pods' statuses are
    /// stale, so the node's own finding covers them.
    pub not_ready: HashSet<&'a str>,
    pub pvcs: HashMap<(&'a str, &'a str), &'a PersistentVolumeClaim>,
    pub pvs: HashMap<&'a str, &'a PersistentVolume>,
    pub classes: HashMap<&'a str, &'a StorageClass>,
    /// The Ceph report, when the console runs with Ceph.
    pub ceph: Option<&'a CephReport>,
    /// Every RBD image with its PV, claim, pods, locks and watchers (empty without
    /// Ceph data): the Ceph findings and the Ceph evidence of the storage and pod
    /// findings all read this one map.
    pub images: Vec<ImageUse>,
    /// Events per involved object, newest first.
    events: HashMap<ObjectKey<'a>, Timeline<'a>>,
    /// ReplicaSet events by `(namespace, deployment name)`, newest first.
    rs_events: HashMap<(&'a str, &'a str), Timeline<'a>>,
}

impl<'a> Index<'a> {
    pub fn new(s: &'a Snapshot, limits: super::Thresholds) -> Self {
        let mut nodes = HashMap::with_capacity(s.nodes.len());
        let mut not_ready = HashSet::new();
        for n in &s.nodes {
            let name = n.metadata.name.as_deref().unwrap_or_default();
            nodes.insert(name, n.as_ref());
            if node_ready(n).map(|c| c.status.as_str()) != Some("True") {
                not_ready.insert(name);
            }
        }
        let pvcs = s
            .pvcs
            .iter()
            .map(|p| {
                let key = (
                    p.metadata.namespace.as_deref().unwrap_or_default(),
                    p.metadata.name.as_deref().unwrap_or_default(),
                );
                (key, p.as_ref())
            })
            .collect();
        let pvs = s
            .pvs
            .iter()
            .map(|p| (p.metadata.name.as_deref().unwrap_or_default(), p.as_ref()))
            .collect();
        let classes = s
            .storage_classes
            .iter()
            .map(|c| (c.metadata.name.as_deref().unwrap_or_default(), c.as_ref()))
            .collect();
        let mut events: HashMap<ObjectKey<'a>, Timeline<'a>> = HashMap::new();
        for ev in &s.events {
            let o = &ev.involved_object;
            let key = (
                o.kind.as_deref().unwrap_or_default(),
                // An event lives in its object's namespace; older ones may leave it out.
                o.namespace
                    .as_deref()
                    .or(ev.metadata.namespace.as_deref())
                    .unwrap_or_default(),
                o.name.as_deref().unwrap_or_default(),
            );
            events
                .entry(key)
                .or_default()
                .push((event_last_seen(ev), ev.as_ref()));
        }
        let mut rs_events: HashMap<(&'a str, &'a str), Timeline<'a>> = HashMap::new();
        for ((kind, ns, name), list) in &events {
            if *kind == "ReplicaSet"
                && let Some((deployment, _hash)) = name.rsplit_once('-')
            {
                rs_events
                    .entry((ns, deployment))
                    .or_default()
                    .extend(list.iter().copied());
            }
        }
        for list in events.values_mut().chain(rs_events.values_mut()) {
            list.sort_by_key(|e| std::cmp::Reverse(e.0));
        }
        Index {
            now: s.now,
            limits,
            nodes,
            not_ready,
            pvcs,
            pvs,
            classes,
            ceph: s.ceph.as_deref(),
            images: image_uses(s),
            events,
            rs_events,
        }
    }

    /// Events about one object, newest first. With a uid, events recorded for an
    /// earlier object of the same name (a recreated StatefulSet pod) are left out.
    pub fn events(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
        uid: Option<&str>,
    ) -> Vec<&'a Event> {
        let uid = uid.filter(|u| !u.is_empty());
        let Some(list) = self.events.get(&(kind, namespace, name)) else {
            return Vec::new();
        };
        list.iter()
            .map(|(_, e)| *e)
            .filter(|e| match (uid, e.involved_object.uid.as_deref()) {
                (Some(want), Some(got)) if !got.is_empty() => want == got,
                _ => true,
            })
            .collect()
    }

    /// Warning events about a pod, newest first.
    pub(crate) fn pod_warnings(&self, pod: &Pod) -> Vec<&'a Event> {
        let uid = pod.metadata.uid.as_ref().map(|u| u.text());
        let mut events = self.events(
            "Pod",
            pod.metadata.namespace.as_deref().unwrap_or_default(),
            pod.metadata.name.as_deref().unwrap_or_default(),
            uid.as_deref(),
        );
        events.retain(|e| is_warning(e));
        events
    }

    /// Events about the ReplicaSets of a Deployment (`<deployment>-<hash>`), newest
    /// first: the ReplicaSet, not the Deployment, reports failures to create pods.
    pub(crate) fn replicaset_events(&self, namespace: &str, deployment: &str) -> Vec<&'a Event> {
        self.rs_events
            .get(&(namespace, deployment))
            .map(|v| v.iter().map(|(_, e)| *e).collect())
            .unwrap_or_default()
    }

    /// The data of the last successful Ceph refresh.
    pub(crate) fn ceph_data(&self) -> Option<&'a CephData> {
        self.ceph.and_then(|c| c.data.as_ref())
    }

    /// The image `pool/name` with its Kubernetes side, when Ceph lists it.
    pub(crate) fn image_use(&self, pool: &str, name: &str) -> Option<&ImageUse> {
        self.images
            .iter()
            .find(|u| u.image.pool == pool && u.image.name == name)
    }

    pub(crate) fn node_not_ready(&self, node: &str) -> bool {
        // Asked for each of 150,000 pods: no hashing when every node is Ready.
        !self.not_ready.is_empty() && self.not_ready.contains(node)
    }

    /// How long ago `t` was.
    pub fn since(&self, t: Timestamp) -> SignedDuration {
        self.now.duration_since(t)
    }
}

pub(crate) fn is_warning(e: &Event) -> bool {
    e.type_.as_deref() == Some("Warning")
}

/// `Reason: message`, the way findings quote an event.
pub(crate) fn event_line(e: &Event) -> String {
    format!(
        "{}: {}",
        e.reason.as_deref().unwrap_or_default(),
        e.message.as_deref().unwrap_or_default().trim_end()
    )
}

pub fn node_ready(n: &Node) -> Option<&k8s_openapi::api::core::v1::NodeCondition> {
    n.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
}

pub(crate) fn pod_condition<'p>(pod: &'p Pod, type_: &str) -> Option<&'p PodCondition> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_() == type_)
}

pub(crate) fn pod_is_ready(pod: &Pod) -> bool {
    pod_condition(pod, "Ready").is_some_and(|c| c.status() == "True")
}

/// `namespace/name` of a pod, borrowed.
pub(crate) fn pod_key(pod: &Pod) -> (&str, &str) {
    (
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.name.as_deref().unwrap_or_default(),
    )
}

pub(crate) fn pod_node(pod: &Pod) -> Option<&str> {
    pod.spec
        .as_ref()?
        .node_name
        .as_deref()
        .filter(|n| !n.is_empty())
}

pub(crate) fn pod_phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("Pending")
}

/// Claims a pod mounts, by name.
pub(crate) fn pod_claims(pod: &Pod) -> impl Iterator<Item = &str> {
    pod.spec
        .as_ref()
        .and_then(|s| s.volumes.as_deref())
        .unwrap_or_default()
        .iter()
        .filter_map(|v| v.persistent_volume_claim.as_ref())
        .map(|c| c.claim_name.as_str())
}

/// An RFC 3339 time for evidence lines (stable, unlike "5m ago").
pub fn at(t: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>) -> String {
    t.and_then(timestamp)
        .map(|t| t.to_string())
        .unwrap_or_else(|| "an unknown time".to_string())
}
