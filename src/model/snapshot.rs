//! One consistent view of the cluster, taken from the reflector stores once per
//! change batch; everything downstream (rows, findings) is a pure function of it.

use std::sync::Arc;

use crate::model::pod::Pod;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{
    ConfigMap, Event, Namespace, Node, PersistentVolume, PersistentVolumeClaim,
};
use k8s_openapi::api::storage::v1::{StorageClass, VolumeAttachment};
use kube::api::DynamicObject;

use super::host::HostReport;
use crate::kube::errors::KubeError;

/// How one watched kind is doing: the console shows this instead of a blank table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceStatus {
    /// `pods`, `nodes`, ...
    pub kind: &'static str,
    /// The first full list has arrived.
    pub synced: bool,
    /// When a list or watch last succeeded.
    pub last_success: Option<jiff::Timestamp>,
    /// The most recent error (None once recovered); its `Display` is in words an
    /// operator understands.
    pub last_error: Option<KubeError>,
    /// About how many objects the first list brings (the server's count, asked for
    /// beside it), for `loading 42,000 of ~150,016`; `None` when not known.
    pub expected: Option<usize>,
}

/// The cluster as the console knows it at `now`.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub now: jiff::Timestamp,
    pub nodes: super::chunked::Chunked<Arc<Node>>,
    /// In namespace/name order, in chunks shared with the store (a snapshot of
    /// 150,000 pods copies a pointer per chunk).
    pub pods: super::chunked::Chunked<Arc<Pod>>,
    pub pvs: Vec<Arc<PersistentVolume>>,
    pub pvcs: Vec<Arc<PersistentVolumeClaim>>,
    pub storage_classes: Vec<Arc<StorageClass>>,
    /// CSI VolumeAttachments (storage.k8s.io/v1): which node each CSI volume is
    /// attached to, by the attach/detach controller.
    pub volume_attachments: Vec<Arc<VolumeAttachment>>,
    pub statefulsets: Vec<Arc<StatefulSet>>,
    pub daemonsets: Vec<Arc<DaemonSet>>,
    pub deployments: Vec<Arc<Deployment>>,
    pub events: Vec<Arc<Event>>,
    pub namespaces: Vec<Arc<Namespace>>,
    /// Only the ConfigMaps diagnosis reads (kube-proxy, kubeadm-config, kube-flannel-cfg,
    /// ceph-csi-config).
    pub configmaps: Vec<Arc<ConfigMap>>,
    /// Calico `IPPool`s (crd.projectcalico.org/v1); empty when calico is not installed.
    pub ip_pools: Vec<Arc<DynamicObject>>,
    /// Calico `BlockAffinity`s: which node holds which IPAM block.
    pub block_affinities: Vec<Arc<DynamicObject>>,
    pub sources: Vec<SourceStatus>,
    /// What the host probes found on the node the console runs on (refreshed in the
    /// background, every ~10 s); `None` when no probe ran.
    pub host: Option<Arc<HostReport>>,
    /// Other nodes' hosts, read through debug pods on demand (`:probe-host`), by node.
    pub remote_hosts: std::collections::BTreeMap<String, Arc<HostReport>>,
    /// The Ceph cluster as last refreshed (`crate::ceph::source`); `None` when the
    /// console runs without Ceph.
    pub ceph: Option<Arc<super::ceph::CephReport>>,
    /// Plan steps the audit journal announced and never closed (`audit.interrupted`);
    /// empty when the journal was not read.
    pub interrupted: Vec<super::interrupted::InterruptedStep>,
    /// The ensembles' members as last polled (`crate::members`); `None` when no poll
    /// ran (then no `members.*` finding is made).
    pub members: Option<Arc<super::members::MembersReport>>,
}

impl Snapshot {
    /// The host report of `node`: the console's own when it runs there, else one read
    /// through a debug pod.
    pub fn host_of(&self, node: &str) -> Option<&Arc<HostReport>> {
        self.host
            .as_ref()
            .filter(|h| h.node.as_deref() == Some(node))
            .or_else(|| self.remote_hosts.get(node))
    }

    /// Every host report, the console's own first; a remote report of the console's
    /// node is left out (the local one is fresher).
    pub fn host_reports(&self) -> impl Iterator<Item = &Arc<HostReport>> {
        let local = self.host.as_ref().and_then(|h| h.node.clone());
        self.host.iter().chain(
            self.remote_hosts
                .iter()
                .filter(move |(n, _)| local.as_deref() != Some(n.as_str()))
                .map(|(_, r)| r),
        )
    }

    /// Sorts every list by namespace/name so rows and findings come out stable.
    pub fn sort(&mut self) {
        if !self
            .nodes
            .iter()
            .is_sorted_by(|a, b| a.metadata.name <= b.metadata.name)
        {
            self.nodes.sort_by_key(|n| n.metadata.name.clone());
        }
        self.pods.sort_by_key(|p| {
            let m = &p.metadata;
            (m.namespace.clone(), m.name.clone())
        });
        sort_objects(&mut self.pvs);
        sort_objects(&mut self.pvcs);
        sort_objects(&mut self.storage_classes);
        sort_objects(&mut self.volume_attachments);
        sort_objects(&mut self.statefulsets);
        sort_objects(&mut self.daemonsets);
        sort_objects(&mut self.deployments);
        sort_objects(&mut self.events);
        sort_objects(&mut self.namespaces);
        sort_objects(&mut self.configmaps);
        sort_objects(&mut self.ip_pools);
        sort_objects(&mut self.block_affinities);
    }

    /// The pods of one namespace: a range of the ordered pods, found by bisection
    /// (a diagnosis looking for one DaemonSet's pods walks that range, not 150,000).
    pub fn pods_in<'a>(&'a self, namespace: &'a str) -> impl Iterator<Item = &'a Arc<Pod>> {
        self.pods_named(namespace, "")
    }

    /// The pods of `namespace` whose names start with `prefix`: one range of the
    /// ordered pods (kubeadm's `kube-system/etcd-*` are found this way).
    pub fn pods_named<'a>(
        &'a self,
        namespace: &'a str,
        prefix: &'a str,
    ) -> impl Iterator<Item = &'a Arc<Pod>> {
        fn key(p: &Arc<Pod>) -> (&str, &str) {
            (
                p.metadata.namespace.as_deref().unwrap_or_default(),
                p.metadata.name.as_deref().unwrap_or_default(),
            )
        }
        let start = match self
            .pods
            .binary_search_by(|p| key(p).cmp(&(namespace, prefix)))
        {
            Ok(i) | Err(i) => i,
        };
        (start..)
            .map_while(|i| self.pods.get(i))
            .take_while(move |p| {
                let (ns, name) = key(p);
                ns == namespace && name.starts_with(prefix)
            })
    }

    /// The pod `namespace/name`, found by bisection (pods are kept in that order).
    pub fn pod(&self, namespace: &str, name: &str) -> Option<&Arc<Pod>> {
        self.pods
            .binary_search_by(|p| {
                let ns = p.metadata.namespace.as_deref().unwrap_or_default();
                let n = p.metadata.name.as_deref().unwrap_or_default();
                (ns, n).cmp(&(namespace, name))
            })
            .ok()
            .and_then(|i| self.pods.get(i))
    }
}

/// Objects in namespace/name order, compared in place (a snapshot is made for every
/// view: no key copies per comparison, and no sort of a list already in order).
fn sort_objects<K: kube::Resource>(objects: &mut [Arc<K>]) {
    fn key<K: kube::Resource>(k: &K) -> (&str, &str) {
        let m = k.meta();
        (
            m.namespace.as_deref().unwrap_or_default(),
            m.name.as_deref().unwrap_or_default(),
        )
    }
    if !objects.is_sorted_by(|a, b| key(a.as_ref()) <= key(b.as_ref())) {
        objects.sort_by(|a, b| key(a.as_ref()).cmp(&key(b.as_ref())));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(ns: &str, name: &str) -> Arc<Pod> {
        let json = serde_json::json!({"metadata": {"namespace": ns, "name": name}});
        Arc::new(serde_json::from_value(json).unwrap_or_else(|e| panic!("{e}")))
    }

    #[test]
    fn a_namespace_is_a_range_of_the_ordered_pods() {
        let mut s = Snapshot::default();
        for (ns, name) in [("c", "x"), ("a", "y"), ("b", "2"), ("b", "1"), ("d", "z")] {
            s.pods.push(pod(ns, name));
        }
        s.sort();
        let names = |ns: &str| -> Vec<String> {
            s.pods_in(ns)
                .filter_map(|p| p.metadata.name.as_deref().map(String::from))
                .collect()
        };
        assert_eq!(names("b"), ["1", "2"]);
        assert_eq!(names("a"), ["y"]);
        assert_eq!(names("d"), ["z"]);
        assert!(names("bb").is_empty());
        assert!(names("").is_empty());
        assert!(names("zz").is_empty());
    }
}
