//! RBD images beside the Kubernetes objects that use them: for each image, the PV and
//! PVC bound to it, the pods that mount the claim and their nodes, and which node holds
//! each lock and each watch. Pure: one function of a [`Snapshot`] with its Ceph data;
//! the Ceph pane, the Ceph findings and the lock-removal wizard all read this one map.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::ceph::holders::{Holder, NodeIndex, lock_holder, watcher_holder};
use crate::ceph::{ImageInfo, LockerInfo, WatcherInfo};
use crate::model::pod::Pod;
use crate::model::rows::rbd_image;
use crate::model::snapshot::Snapshot;

/// A pod that mounts the image's claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePod {
    pub namespace: String,
    pub name: String,
    /// `spec.nodeName`, empty while unscheduled.
    pub node: String,
    /// `status.phase` (`Pending` for a pod stuck in ContainerCreating).
    pub phase: String,
    /// The pod is being deleted.
    pub terminating: bool,
}

impl ImagePod {
    fn of(pod: &Pod) -> Self {
        Self {
            namespace: pod.metadata.namespace.as_deref().unwrap_or_default().into(),
            name: pod.metadata.name.as_deref().unwrap_or_default().to_string(),
            node: pod
                .spec
                .as_ref()
                .and_then(|s| s.node_name.as_deref().map(String::from))
                .unwrap_or_default(),
            phase: pod
                .status
                .as_ref()
                .and_then(|s| s.phase.as_deref())
                .unwrap_or_default()
                .to_string(),
            terminating: pod.metadata.deletion_timestamp().is_some(),
        }
    }
}

/// One lock with the node that holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldLock {
    pub lock: LockerInfo,
    pub holder: Holder,
}

/// One watch with the node it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldWatch {
    pub watcher: WatcherInfo,
    pub holder: Holder,
}

/// An image and its Kubernetes side.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageUse {
    pub image: ImageInfo,
    /// The PV whose volume is this image (in-tree `rbd` or `rbd.csi.ceph.com`).
    pub pv: Option<String>,
    /// `status.phase` of that PV (`Bound`, `Released`, `Failed`, ...).
    pub pv_phase: Option<String>,
    /// The claim bound to that PV, as `(namespace, name)`.
    pub pvc: Option<(String, String)>,
    /// Pods that mount the claim.
    pub pods: Vec<ImagePod>,
    pub locks: Vec<HeldLock>,
    pub watchers: Vec<HeldWatch>,
}

impl ImageUse {
    /// `pool/image`.
    pub fn spec(&self) -> String {
        self.image.spec()
    }

    /// Nodes that run a live (not terminating) pod using the image.
    pub(crate) fn user_nodes(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .pods
            .iter()
            .filter(|p| !p.terminating && !p.node.is_empty())
            .map(|p| p.node.as_str())
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

/// Every node's addresses, for matching lock and watcher addresses to nodes.
pub(crate) fn node_index(snapshot: &Snapshot) -> NodeIndex {
    NodeIndex::new(snapshot.nodes.iter().flat_map(|n| {
        let name = n.metadata.name.clone().unwrap_or_default();
        n.status
            .as_ref()
            .and_then(|s| s.addresses.as_ref())
            .into_iter()
            .flatten()
            .filter(|a| a.type_ == "InternalIP" || a.type_ == "ExternalIP")
            .filter_map(|a| a.address.parse::<IpAddr>().ok())
            .map(move |ip| (name.clone(), ip))
            .collect::<Vec<_>>()
    }))
}

/// The pods that mount each of `claims` (`(namespace, name)`), in one pass over the
/// pods that allocates nothing for the (many) pods using other volumes.
fn claim_users<'a>(
    snapshot: &'a Snapshot,
    claims: impl Iterator<Item = (&'a str, &'a str)>,
) -> HashMap<(&'a str, &'a str), Vec<ImagePod>> {
    let mut users: HashMap<(&str, &str), Vec<ImagePod>> =
        claims.map(|claim| (claim, Vec::new())).collect();
    if users.is_empty() {
        return users;
    }
    for pod in &snapshot.pods {
        let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
        let claims = pod
            .spec
            .as_ref()
            .and_then(|s| s.volumes.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|v| v.persistent_volume_claim.as_ref());
        for claim in claims {
            if let Some(list) = users.get_mut(&(ns, claim.claim_name.as_str())) {
                list.push(ImagePod::of(pod));
            }
        }
    }
    users
}

/// The images of `snapshot.ceph` (in pool/name order) with their Kubernetes side;
/// empty when there is no Ceph data.
pub(crate) fn image_uses(snapshot: &Snapshot) -> Vec<ImageUse> {
    let Some(data) = snapshot.ceph.as_ref().and_then(|c| c.data.as_ref()) else {
        return Vec::new();
    };
    let nodes = node_index(snapshot);
    // (pool, image) -> PV
    let mut pv_by_image = HashMap::new();
    for pv in &snapshot.pvs {
        if let Some((pool, image)) = rbd_image(pv) {
            pv_by_image.insert((pool.to_string(), image.to_string()), pv.clone());
        }
    }
    // Each image's PV, and the claim bound to it.
    let bound: Vec<_> = data
        .images
        .iter()
        .map(|image| {
            let pv = pv_by_image.get(&(image.pool.clone(), image.name.clone()));
            let pvc = pv
                .and_then(|pv| pv.spec.as_ref()?.claim_ref.as_ref())
                .and_then(|r| Some((r.namespace.clone()?, r.name.clone()?)));
            // A claimRef alone is not a binding: the claim must name this PV back.
            let pvc = pvc.filter(|(ns, name)| {
                snapshot.pvcs.iter().any(|c| {
                    c.metadata.namespace.as_deref() == Some(ns.as_str())
                        && c.metadata.name.as_deref() == Some(name.as_str())
                        && c.spec.as_ref().and_then(|s| s.volume_name.as_deref())
                            == pv.and_then(|p| p.metadata.name.as_deref())
                })
            });
            (image, pv, pvc)
        })
        .collect();
    let pods_by_claim = claim_users(
        snapshot,
        bound
            .iter()
            .filter_map(|(_, _, pvc)| pvc.as_ref())
            .map(|(ns, name)| (ns.as_str(), name.as_str())),
    );
    bound
        .iter()
        .map(|&(image, pv, ref pvc)| {
            let pods = pvc
                .as_ref()
                .and_then(|(ns, name)| pods_by_claim.get(&(ns.as_str(), name.as_str())))
                .cloned()
                .unwrap_or_default();
            ImageUse {
                image: image.clone(),
                pv: pv.and_then(|p| p.metadata.name.clone()),
                pv_phase: pv.and_then(|p| p.status.as_ref()?.phase.clone()),
                pvc: pvc.clone(),
                pods,
                locks: image
                    .lockers
                    .iter()
                    .map(|l| HeldLock {
                        lock: l.clone(),
                        holder: lock_holder(l, &nodes),
                    })
                    .collect(),
                watchers: image
                    .watchers
                    .iter()
                    .map(|w| HeldWatch {
                        watcher: w.clone(),
                        holder: watcher_holder(w, &nodes),
                    })
                    .collect(),
            }
        })
        .collect()
}
