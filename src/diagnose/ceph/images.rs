//! `rbd.orphan-image`: an RBD image no PersistentVolume references. Kubernetes never
//! deletes an RBD image when a PV goes unless its reclaim policy deletes it (whoever
//! deletes a PV/PVC by hand must delete its RBD image by hand too), so such images
//! pile up and hold space.
//!
//! The rule, so that the images of other Ceph users (VM disks, backups) never flood
//! the list: an image is an orphan when
//! - its name is one a Kubernetes provisioner gives: `kubernetes-dynamic-pvc-*` (the
//!   in-tree and external-storage RBD provisioners) or `csi-vol-*` (ceph-csi); any
//!   other name is someone's own image and none of our business;
//! - no PV names it: neither an in-tree `rbd` volume nor a ceph-csi volume by its
//!   `imageName` attribute or by the UUID at the end of its volume handle;
//! - no client has it open (no watcher): a watched image is somebody's live volume (a
//!   PV about to be created, a map by hand), and `rbd rm` would refuse it anyway;
//! - the PV list is complete (a PV list that failed would make every image look
//!   orphaned).
//!
//! Info, not Warning: a leftover costs space but breaks nothing, and an image kept on
//! purpose must not fail `kcops check` for ever.

use crate::model::objref::ObjRef;
use std::collections::HashSet;

use crate::model::rbd_map::ImageUse;
use crate::model::snapshot::Snapshot;

use super::super::index::Index;
use super::super::{Finding, Severity};
use super::{lock_line, size_text};

/// Name prefixes of images Kubernetes provisioners create.
pub(crate) const PROVISIONER_PREFIXES: &[&str] = &["kubernetes-dynamic-pvc-", "csi-vol-"];

/// The orphaned images (see the module doc for the rule).
pub(super) fn orphans<'i>(s: &Snapshot, ix: &'i Index) -> Vec<&'i ImageUse> {
    let pv_list_failed = s
        .sources
        .iter()
        .any(|src| src.kind == "persistentvolumes" && !src.synced);
    if pv_list_failed {
        return Vec::new();
    }
    let csi_uuids = csi_handle_uuids(s);
    ix.images
        .iter()
        .filter(|u| is_orphan(u, &csi_uuids))
        .collect()
}

pub(super) fn check(orphans: &[&ImageUse], out: &mut Vec<Finding>) {
    out.extend(orphans.iter().map(|u| finding(u)));
}

/// The UUIDs ceph-csi volume handles end with (`0001-0024-<cluster>-<pool id>-<uuid>`):
/// its image is `csi-vol-<uuid>`, also when the PV lacks the `imageName` attribute.
fn csi_handle_uuids(s: &Snapshot) -> HashSet<&str> {
    s.pvs
        .iter()
        .filter_map(|pv| pv.spec.as_ref()?.csi.as_ref())
        .filter(|c| c.driver == "rbd.csi.ceph.com")
        .filter_map(|c| {
            let h = c.volume_handle.as_str();
            h.len()
                .checked_sub(36)
                .and_then(|start| h.get(start..))
                .filter(|uuid| uuid.matches('-').count() == 4)
        })
        .collect()
}

fn is_orphan(u: &ImageUse, csi_uuids: &HashSet<&str>) -> bool {
    let name = u.image.name.as_str();
    if !PROVISIONER_PREFIXES.iter().any(|p| name.starts_with(p)) {
        return false;
    }
    if u.pv.is_some() || !u.watchers.is_empty() {
        return false;
    }
    let by_handle = name
        .strip_prefix("csi-vol-")
        .is_some_and(|uuid| csi_uuids.contains(uuid));
    !by_handle
}

fn finding(u: &ImageUse) -> Finding {
    let spec = u.spec();
    let i = &u.image;
    let mut evidence = vec![format!(
        "image {spec}: {}, format {}, no PersistentVolume names it",
        size_text(i.size),
        i.format
    )];
    evidence.extend(u.locks.iter().map(|l| format!("{spec}: {}", lock_line(l))));
    evidence.push(format!("{spec}: no watchers (no client has it open)"));
    let locks = if u.locks.is_empty() {
        String::new()
    } else {
        format!(" (`rbd lock ls {spec}` then `rbd lock rm` its locks first)")
    };
    Finding {
        id: "rbd.orphan-image",
        severity: Severity::Info,
        subject: Some(ObjRef::at(ObjRef::RBD_IMAGE, &spec)),
        object: format!("RbdImage {spec}"),
        namespace: None,
        node: None,
        evidence,
        explanation: format!(
            "RBD image {spec} was created by a Kubernetes provisioner, but no PersistentVolume refers to it any more: its PV was deleted while the image was kept (reclaim policy Retain, or a PV deleted by hand). Kubernetes will never delete it, so it keeps its space in the pool."
        ),
        fix: format!(
            "If its data is still needed, create a PersistentVolume that names it (pool and image) with reclaim policy Retain and bind a claim to it. If not, delete it: `rbd rm {spec}`{locks}. `rbd info {spec}` and `rbd du {spec}` show what it holds."
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::fixtures::*;
    use super::super::super::{Severity, diagnose};
    use crate::model::snapshot::SourceStatus;

    #[test]
    fn provisioner_images_without_pv_are_orphans() {
        let mut s = snapshot();
        s.nodes.push(node_at("node1", "True", "198.18.1.11"));
        rbd_volume(
            &mut s,
            "default",
            "c",
            "pvc-1",
            "rbd",
            "kubernetes-dynamic-pvc-used",
        );
        // ceph-csi PV without imageName: matched by its volume handle's UUID.
        s.pvs.push(from(json!({"metadata": {"name": "pvc-csi"}, "spec": {"csi": {
            "driver": "rbd.csi.ceph.com",
            "volumeHandle": "0001-0024-fsid-0000000000000001-0b7c9a3e-9d4f-11ee-8c90-0242ac120002"}},
            "status": {"phase": "Bound"}})));
        s.ceph = Some(ceph_report(ceph_data(vec![
            image(
                "rbd",
                "csi-vol-0b7c9a3e-9d4f-11ee-8c90-0242ac120002",
                vec![],
                vec![],
            ),
            image("rbd", "csi-vol-dead", vec![], vec![]),
            image(
                "rbd",
                "kubernetes-dynamic-pvc-gone",
                vec![kubelet_lock("node1", "198.18.1.11", 4)],
                vec![],
            ),
            image(
                "rbd",
                "kubernetes-dynamic-pvc-mapped",
                vec![],
                vec![watcher("198.18.1.11", 5)],
            ),
            image("rbd", "kubernetes-dynamic-pvc-used", vec![], vec![]),
            image("rbd", "vm-disk-7", vec![], vec![]),
        ])));
        let f: Vec<_> = diagnose(&s)
            .into_iter()
            .filter(|f| f.id == "rbd.orphan-image")
            .collect();
        assert_eq!(
            ids(&f),
            [
                ("rbd.orphan-image", "RbdImage rbd/csi-vol-dead".to_string()),
                (
                    "rbd.orphan-image",
                    "RbdImage rbd/kubernetes-dynamic-pvc-gone".to_string()
                ),
            ]
        );
        assert_eq!(f[0].severity, Severity::Info);
        assert_eq!(
            f[0].evidence,
            [
                "image rbd/csi-vol-dead: 2 GiB, format 2, no PersistentVolume names it",
                "rbd/csi-vol-dead: no watchers (no client has it open)",
            ]
        );
        assert!(
            f[0].fix.contains("`rbd rm rbd/csi-vol-dead`"),
            "{}",
            f[0].fix
        );
        assert!(
            f[1].fix
                .contains("`rbd lock ls rbd/kubernetes-dynamic-pvc-gone`"),
            "{}",
            f[1].fix
        );
        // The lock on the orphan is its evidence, not a stale lock of its own.
        assert!(only(&s, "rbd.stale-lock").is_empty());
        assert_eq!(
            f[1].evidence[1],
            "rbd/kubernetes-dynamic-pvc-gone: lock 'kubelet_lock_magic_node1' by client.4 at 198.18.1.11:0/1004 (advisory, exclusive)"
        );
    }

    #[test]
    fn no_orphans_when_the_pv_list_failed_or_ceph_is_absent() {
        let mut s = snapshot();
        s.ceph = Some(ceph_report(ceph_data(vec![image(
            "rbd",
            "kubernetes-dynamic-pvc-1",
            vec![],
            vec![],
        )])));
        assert_eq!(only(&s, "rbd.orphan-image").len(), 1);
        s.sources.push(SourceStatus {
            kind: "persistentvolumes",
            synced: false,
            last_success: None,
            last_error: Some(crate::kube::errors::KubeError::Other(
                "forbidden".to_string(),
            )),
            expected: None,
        });
        assert!(only(&s, "rbd.orphan-image").is_empty());
        s.sources.clear();
        s.ceph = None;
        assert!(diagnose(&s).is_empty());
    }
}
