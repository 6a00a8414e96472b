//! ceph-csi checks: the volumes of the `rbd.csi.ceph.com` driver, their
//! VolumeAttachments, the node plugin and its config.
//!
//! | id | severity | fires when |
//! |---|---|---|
//! | `rbd.stale-watcher` | Critical | a single-node (RWO) ceph-csi image is watched from a node that runs no live pod using it, while a pod using it waits elsewhere, and that node is NotReady or the pod's mount says `is still being used` ([`watchers`]; needs Ceph data; an image with a stale lock is `rbd.stale-lock`'s) |
//! | `pv.attached-elsewhere` | Critical | a VolumeAttachment to a NotReady or missing node holds a single-node volume that a pod on another node waits for ([`attach`]); that pod's `Multi-Attach error` is this finding's evidence, not `pod.multi-attach` |
//! | `csi.plugin-down` | Critical (a user pod is not running) / Warning | a Ready node runs pods using ceph-csi volumes but no Ready `csi-rbdplugin` pod ([`plugin`]); the plugin pod's crash loop and the users' stuck mounts are its evidence |
//! | `csi.config-mismatch` | Critical (Warning when the only problem is a user kcops may not look up) | ConfigMap `ceph-csi-config` lacks a StorageClass's clusterID, cannot be read, or names monitors the Ceph cluster kcops reaches does not have ([`config`]); a class's node-stage/provisioner Secret cannot be read, names a user Ceph lacks, holds another key, or the user's caps fall short for the class's pool ([`users`], [`caps`]; checked by `kcops check`, which reads the Secrets once) |

pub(crate) mod attach;
mod caps;
mod config;
mod plugin;
mod users;
pub(crate) mod watchers;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::PersistentVolume;

use super::index::{Index, pod_is_ready};
use super::{Explained, Finding};
use crate::model::pod::Pod;
use crate::model::snapshot::Snapshot;

/// The ceph-csi RBD driver's name (PV `spec.csi.driver`, provisioner, attacher).
pub(crate) const DRIVER: &str = "rbd.csi.ceph.com";

/// The node plugin's pod label `app` (ceph-csi's and Rook's manifests).
pub(crate) const PLUGIN_APP: &str = "csi-rbdplugin";

/// After the pod checks (it takes over their findings on a node without a plugin),
/// before the workload checks (which must not report what it explains).
pub fn check<'a>(
    s: &'a Snapshot,
    ix: &Index<'a>,
    explained: &mut Explained<'a>,
    out: &mut Vec<Finding>,
) {
    attach::check(s, ix, out);
    plugin::check(s, ix, explained, out);
    config::check(s, ix, out);
    if ix.ceph.is_some() {
        watchers::check(s, ix, out);
    }
}

/// A PV of ceph-csi's RBD driver.
pub(crate) fn is_csi_rbd(pv: &PersistentVolume) -> bool {
    pv.spec
        .as_ref()
        .and_then(|s| s.csi.as_ref())
        .is_some_and(|c| c.driver == DRIVER)
}

/// A volume one node at a time may use (ReadWriteOnce, ReadWriteOncePod): the only
/// kind a stale attachment or watcher blocks.
pub(crate) fn single_node(pv: &PersistentVolume) -> bool {
    let modes = pv
        .spec
        .as_ref()
        .and_then(|s| s.access_modes.as_deref())
        .unwrap_or_default();
    !modes
        .iter()
        .any(|m| m == "ReadWriteMany" || m == "ReadOnlyMany")
}

/// The claim a PV is bound to, as `(namespace, name)`.
pub(crate) fn pv_claim(pv: &PersistentVolume) -> Option<(&str, &str)> {
    let r = pv.spec.as_ref()?.claim_ref.as_ref()?;
    Some((r.namespace.as_deref()?, r.name.as_deref()?))
}

/// Live pods (not being deleted, not finished) that mount claim `ns/claim`.
pub(crate) fn claim_pods<'a>(
    s: &'a Snapshot,
    ns: &'a str,
    claim: &'a str,
) -> impl Iterator<Item = &'a Pod> + 'a {
    s.pods.iter().map(|p| p.as_ref()).filter(move |p| {
        p.metadata.namespace.as_deref() == Some(ns)
            && p.metadata.deletion_timestamp().is_none()
            && !matches!(super::index::pod_phase(p), "Succeeded" | "Failed")
            && super::index::pod_claims(p).any(|c| c == claim)
    })
}

/// The node plugin's DaemonSets: named `csi-rbdplugin` or selecting `app=csi-rbdplugin`.
pub(crate) fn plugin_daemonsets(s: &Snapshot) -> Vec<&DaemonSet> {
    s.daemonsets
        .iter()
        .map(|d| d.as_ref())
        .filter(|d| {
            d.metadata.name.as_deref() == Some(PLUGIN_APP)
                || d.spec
                    .as_ref()
                    .and_then(|s| s.selector.match_labels.as_ref())
                    .and_then(|l| l.get("app"))
                    .is_some_and(|a| a == PLUGIN_APP)
        })
        .collect()
}

/// The node plugin's pods (the console drops pod labels: they are found by their
/// owning DaemonSet).
pub(crate) fn plugin_pods<'a>(s: &'a Snapshot, sets: &[&DaemonSet]) -> Vec<&'a Pod> {
    s.pods
        .iter()
        .map(|p| p.as_ref())
        .filter(|p| {
            p.metadata
                .owner_references
                .as_deref()
                .unwrap_or_default()
                .iter()
                .any(|o| {
                    o.kind == "DaemonSet"
                        && sets.iter().any(|d| {
                            d.metadata.name.as_deref() == Some(o.name.as_str())
                                && d.metadata.namespace.as_deref()
                                    == p.metadata.namespace.as_deref()
                        })
                })
        })
        .collect()
}

/// A plugin pod that serves its node: Ready and not being deleted.
pub(crate) fn plugin_serves(p: &Pod) -> bool {
    p.metadata.deletion_timestamp().is_none() && pod_is_ready(p)
}

/// The namespace ceph-csi runs in: its node plugin's.
pub(crate) fn plugin_namespace(s: &Snapshot) -> Option<&str> {
    plugin_daemonsets(s)
        .into_iter()
        .find_map(|d| d.metadata.namespace.as_deref())
}

#[cfg(test)]
pub(crate) mod fixtures;

#[cfg(test)]
mod tests;
