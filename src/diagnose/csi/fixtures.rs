//! A small ceph-csi cluster for the csi checks' tests: master, worker-a and worker-b,
//! the node plugin on each, StatefulSet pod default/web-0 on worker-a with its volume
//! attached there and watched from there.

use crate::diagnose::fixtures::*;
use crate::model::ceph::{CsiUserCheck, CsiUserOutcome, MonMap};
use crate::model::snapshot::Snapshot;

pub const FSID: &str = "6f1b2c3d-0000-4000-8000-00000000c5c1";
pub const IMG: &str = "csi-vol-7a1e";
pub const PV: &str = "pvc-0b5e";
pub const VA: &str = "csi-4f2a";
pub const MASTER_IP: &str = "198.18.1.10";
pub const A_IP: &str = "198.18.1.21";
pub const B_IP: &str = "198.18.1.22";

fn plugin_pod(node: &str, ready: bool) -> std::sync::Arc<crate::model::pod::Pod> {
    let p = pod("ceph-csi", &format!("csi-rbdplugin-{node}"), node);
    let p = with(
        p,
        json!({"metadata": {"ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet",
            "name": "csi-rbdplugin", "uid": "ds-uid", "controller": true}]}}),
    );
    if ready {
        p
    } else {
        with(
            p,
            json!({"status": {
                "conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": ago(600)}],
                "containerStatuses": [{"name": "app", "image": "app:1", "imageID": "", "ready": false,
                    "restartCount": 6, "started": false,
                    "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container"}},
                    "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
                        "startedAt": ago(130), "finishedAt": ago(120)}}}]}}),
        )
    }
}

/// The healthy cluster, with Ceph data.
pub fn healthy() -> Snapshot {
    let mut s = snapshot();
    s.nodes.push(node_at("master", "True", MASTER_IP));
    s.nodes.push(node_at("worker-a", "True", A_IP));
    s.nodes.push(node_at("worker-b", "True", B_IP));
    s.daemonsets.push(from(json!({
        "metadata": {"name": "csi-rbdplugin", "namespace": "ceph-csi", "uid": "ds-uid"},
        "spec": {"selector": {"matchLabels": {"app": "csi-rbdplugin"}},
                 "template": {"metadata": {"labels": {"app": "csi-rbdplugin"}},
                              "spec": {"containers": [{"name": "csi-rbdplugin"}]}}},
        "status": {"currentNumberScheduled": 3, "desiredNumberScheduled": 3,
                   "numberMisscheduled": 0, "numberReady": 3, "numberAvailable": 3,
                   "updatedNumberScheduled": 3}
    })));
    for n in ["master", "worker-a", "worker-b"] {
        s.pods.push(plugin_pod(n, true));
    }
    s.storage_classes.push(from(json!({
        "metadata": {"name": "csi-rbd-sc"},
        "provisioner": "rbd.csi.ceph.com",
        "parameters": {"clusterID": FSID, "pool": "rbd", "imageFeatures": "layering",
            "csi.storage.k8s.io/node-stage-secret-name": "csi-rbd-secret",
            "csi.storage.k8s.io/node-stage-secret-namespace": "ceph-csi"}
    })));
    s.configmaps.push(from(json!({
        "metadata": {"name": "ceph-csi-config", "namespace": "ceph-csi"},
        "data": {"config.json": format!("[{{\"clusterID\":\"{FSID}\",\"monitors\":[\"{MASTER_IP}:6789\"]}}]")}
    })));
    s.pvcs.push(from(json!({"metadata": {"name": "data-web-0", "namespace": "default"},
        "spec": {"volumeName": PV, "accessModes": ["ReadWriteOnce"]}, "status": {"phase": "Bound"}})));
    s.pvs.push(from(json!({"metadata": {"name": PV},
        "spec": {"persistentVolumeReclaimPolicy": "Delete", "accessModes": ["ReadWriteOnce"],
                 "storageClassName": "csi-rbd-sc",
                 "claimRef": {"namespace": "default", "name": "data-web-0"},
                 "csi": {"driver": "rbd.csi.ceph.com",
                         "volumeHandle": format!("0001-0024-{FSID}-0000000000000001-7a1e"),
                         "volumeAttributes": {"clusterID": FSID, "pool": "rbd", "imageName": IMG}}},
        "status": {"phase": "Bound"}})));
    s.pods.push(using_claim(
        pod("default", "web-0", "worker-a"),
        "data-web-0",
    ));
    s.volume_attachments.push(attachment("worker-a"));
    let mut data = ceph_data(vec![image(
        "rbd",
        IMG,
        Vec::new(),
        vec![watcher(A_IP, 4201)],
    )]);
    data.mon_map = Some(MonMap {
        fsid: FSID.to_string(),
        addrs: vec![format!("{MASTER_IP}:3300"), format!("{MASTER_IP}:6789")],
    });
    let mut report = (*ceph_report(data)).clone();
    report.csi_users = Some(vec![csi_user(CsiUserOutcome::Checked {
        key_matches: true,
        caps: caps(
            "profile rbd",
            "profile rbd pool=rbd",
            Some("profile rbd pool=rbd"),
        ),
    })]);
    s.ceph = Some(std::sync::Arc::new(report));
    s
}

/// client.kube's caps as `auth get` lists them.
pub fn caps(mon: &str, osd: &str, mgr: Option<&str>) -> std::collections::BTreeMap<String, String> {
    [("mon", Some(mon)), ("osd", Some(osd)), ("mgr", mgr)]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k.to_string(), v.to_string())))
        .collect()
}

/// Secret ceph-csi/csi-rbd-secret (user kube) as checked against Ceph.
pub fn csi_user(outcome: CsiUserOutcome) -> CsiUserCheck {
    CsiUserCheck {
        namespace: "ceph-csi".into(),
        name: "csi-rbd-secret".into(),
        classes: vec![("csi-rbd-sc".into(), Some("rbd".into()))],
        user_id: (!matches!(outcome, CsiUserOutcome::SecretUnreadable(_))).then(|| "kube".into()),
        outcome,
    }
}

/// `s` with the Secret's check replaced by `outcome`.
pub fn with_user(s: &mut Snapshot, outcome: CsiUserOutcome) {
    if let Some(ceph) = s.ceph.as_mut() {
        std::sync::Arc::make_mut(ceph).csi_users = Some(vec![csi_user(outcome)]);
    }
}

/// The attachment of the volume to `node`.
pub fn attachment(node: &str) -> std::sync::Arc<k8s_openapi::api::storage::v1::VolumeAttachment> {
    from(json!({
        "metadata": {"name": VA, "creationTimestamp": ago(3600)},
        "spec": {"attacher": "rbd.csi.ceph.com", "nodeName": node,
                 "source": {"persistentVolumeName": PV}},
        "status": {"attached": true}
    }))
}

/// worker-a died with web-0's volume mapped; web-0 was force-deleted and its
/// replacement waits on worker-b with `message` (a Multi-Attach error while the
/// attachment is held, `is still being used` after it).
pub fn node_lost(reason: &str, message: &str) -> Snapshot {
    let mut s = healthy();
    s.nodes[1] = node_at("worker-a", "Unknown", A_IP);
    s.pods
        .retain(|p| p.metadata.name.as_deref() != Some("web-0"));
    let p = with(
        using_claim(
            creating_pod("default", "web-0", "worker-b", 90),
            "data-web-0",
        ),
        json!({"metadata": {"uid": "uid-web-0-new"}}),
    );
    s.events.push(pod_event(&p, "Warning", reason, message, 5));
    s.pods.push(p);
    s
}

pub fn multi_attach() -> String {
    format!(
        "Multi-Attach error for volume \"{PV}\" Volume is already exclusively attached to one node and can't be attached to another"
    )
}

pub fn still_used() -> String {
    format!(
        "MountVolume.MountDevice failed for volume \"{PV}\" : rpc error: code = Internal desc = rbd image rbd/{IMG} is still being used"
    )
}

/// The node plugin pod on `node` crash-looping (not Ready).
pub fn plugin_down(s: &mut Snapshot, node: &str) {
    let name = format!("csi-rbdplugin-{node}");
    let at = s
        .pods
        .iter()
        .position(|p| p.metadata.name.as_deref() == Some(name.as_str()));
    if let Some(i) = at {
        s.pods.set(i, plugin_pod(node, false));
    }
}
