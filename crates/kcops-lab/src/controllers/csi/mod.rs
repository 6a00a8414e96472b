//! ceph-csi (`rbd.csi.ceph.com`) as the lab plays it with `storage: ceph-csi`: the
//! objects a ceph-csi install has (`objects`), the provisioner (`provisioner.rs`), the
//! attach/detach controller with its VolumeAttachments (`attacher.rs`) and the node
//! plugin's staging, a watcher from the node's network namespace (`node.rs`).

pub(crate) mod attacher;
pub(crate) mod node;
pub(crate) mod provisioner;

use serde_json::{Value, json};

/// The driver's name: provisioner, attacher and `spec.csi.driver`.
pub const DRIVER: &str = "rbd.csi.ceph.com";
/// The namespace of the lab's ceph-csi install.
pub const NAMESPACE: &str = "ceph-csi";
/// Its node-stage and provisioner Secret.
pub const SECRET: &str = "csi-rbd-secret";
/// Its StorageClass.
pub const STORAGE_CLASS: &str = "csi-rbd-sc";
/// The ceph-csi image the lab's objects name.
const IMAGE: &str = "quay.io/cephcsi/cephcsi:v3.14.0";

/// Whether a PV is a ceph-csi RBD volume.
pub fn is_csi_pv(pv: &Value) -> bool {
    pv["spec"]["csi"]["driver"] == DRIVER
}

/// ceph-csi's volume ID: `0001-<clusterID length, 4 hex>-<clusterID>-<pool id, 16
/// hex>-<uuid>` (its `CSIIdentifier` encoding, version 1).
pub fn volume_handle(cluster_id: &str, pool_id: i64, uuid: &str) -> String {
    format!(
        "0001-{:04x}-{cluster_id}-{pool_id:016x}-{uuid}",
        cluster_id.len()
    )
}

/// The parts of a volume handle: `(clusterID, pool id, uuid)`.
pub fn parse_volume_handle(handle: &str) -> Option<(String, i64, String)> {
    let rest = handle.strip_prefix("0001-")?;
    let len = usize::from_str_radix(rest.get(..4)?, 16).ok()?;
    let rest = rest.get(5..)?;
    let cluster = rest.get(..len)?;
    let rest = rest.get(len..)?.strip_prefix('-')?;
    let pool = i64::from_str_radix(rest.get(..16)?, 16).ok()?;
    let uuid = rest.get(16..)?.strip_prefix('-')?;
    (uuid.len() == 36).then(|| (cluster.to_string(), pool, uuid.to_string()))
}

/// The VolumeAttachment name the attach/detach controller gives (volume handle,
/// attacher, node): `csi-<sha256 hex>`.
pub fn attachment_name(volume_handle: &str, node: &str) -> String {
    let digest = ring::digest::digest(
        &ring::digest::SHA256,
        format!("{volume_handle}{DRIVER}{node}").as_bytes(),
    );
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("csi-{hex}")
}

/// The objects of a ceph-csi install against the lab's Ceph: namespace, ConfigMap
/// `ceph-csi-config` (clusterID = fsid, monitors), Secret `csi-rbd-secret` (client.kube
/// with its key, base64 as in `data`), the node plugin DaemonSet, the provisioner
/// Deployment and StorageClass `csi-rbd-sc` on pool `rbd`.
pub fn objects(fsid: &str, monitors: &[String], kube_key_b64: &str) -> Vec<Value> {
    let config = json!([{"clusterID": fsid, "monitors": monitors}]).to_string();
    let secret_params = |kind: &str| {
        [
            (
                format!("csi.storage.k8s.io/{kind}-secret-name"),
                json!(SECRET),
            ),
            (
                format!("csi.storage.k8s.io/{kind}-secret-namespace"),
                json!(NAMESPACE),
            ),
        ]
    };
    let mut params = serde_json::Map::new();
    params.insert("clusterID".into(), json!(fsid));
    params.insert("pool".into(), json!("rbd"));
    params.insert("imageFeatures".into(), json!("layering"));
    for kind in ["provisioner", "controller-expand", "node-stage"] {
        params.extend(secret_params(kind));
    }
    params.insert("csi.storage.k8s.io/fstype".into(), json!("ext4"));
    let env = json!([
        {"name": "NODE_ID", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
    ]);
    vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "ceph-csi-config", "namespace": NAMESPACE},
            "data": {"config.json": config}}),
        json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": SECRET, "namespace": NAMESPACE},
            "type": "Opaque",
            "data": {"userID": base64_of("kube"), "userKey": kube_key_b64}}),
        json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "csi-rbdplugin", "namespace": NAMESPACE},
        "spec": {
            "selector": {"matchLabels": {"app": "csi-rbdplugin"}},
            "template": {
                "metadata": {"labels": {"app": "csi-rbdplugin"}},
                "spec": {
                    "hostNetwork": true,
                    "hostPID": true,
                    "priorityClassName": "system-node-critical",
                    "serviceAccountName": "rbd-csi-nodeplugin",
                    "tolerations": [{"operator": "Exists"}],
                    "containers": [
                        {"name": "csi-rbdplugin", "image": IMAGE,
                         "args": ["--nodeid=$(NODE_ID)", "--type=rbd", "--nodeserver=true",
                                  "--endpoint=unix:///csi/csi.sock", "--csi-addons-endpoint=unix:///csi/csi-addons.sock",
                                  "--v=5", "--drivername=rbd.csi.ceph.com"],
                         "env": env,
                         "securityContext": {"privileged": true}},
                        {"name": "driver-registrar",
                         "image": "registry.k8s.io/sig-storage/csi-node-driver-registrar:v2.13.0",
                         "args": ["--v=1", "--csi-address=/csi/csi.sock",
                                  "--kubelet-registration-path=/var/lib/kubelet/plugins/rbd.csi.ceph.com/csi.sock"]},
                    ],
                },
            },
        }}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "csi-rbdplugin-provisioner", "namespace": NAMESPACE},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "csi-rbdplugin-provisioner"}},
            "template": {
                "metadata": {"labels": {"app": "csi-rbdplugin-provisioner"}},
                "spec": {
                    "serviceAccountName": "rbd-csi-provisioner",
                    "priorityClassName": "system-cluster-critical",
                    // On the control plane here, so a lost worker does not take it along.
                    "nodeSelector": {"node-role.kubernetes.io/control-plane": ""},
                    "tolerations": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}],
                    "containers": [
                        {"name": "csi-provisioner",
                         "image": "registry.k8s.io/sig-storage/csi-provisioner:v5.2.0",
                         "args": ["--csi-address=$(ADDRESS)", "--v=1", "--timeout=150s", "--retry-interval-start=500ms",
                                  "--leader-election=true", "--feature-gates=HonorPVReclaimPolicy=true",
                                  "--prevent-volume-mode-conversion=true", "--default-fstype=ext4",
                                  "--extra-create-metadata=true"],
                         "env": [{"name": "ADDRESS", "value": "unix:///csi/csi-provisioner.sock"}]},
                        {"name": "csi-attacher",
                         "image": "registry.k8s.io/sig-storage/csi-attacher:v4.8.1",
                         "args": ["--v=1", "--csi-address=$(ADDRESS)", "--leader-election=true", "--retry-interval-start=500ms"],
                         "env": [{"name": "ADDRESS", "value": "unix:///csi/csi-provisioner.sock"}]},
                        {"name": "csi-rbdplugin", "image": IMAGE,
                         "args": ["--nodeid=$(NODE_ID)", "--type=rbd", "--controllerserver=true",
                                  "--endpoint=$(CSI_ENDPOINT)", "--v=5", "--drivername=rbd.csi.ceph.com"],
                         "env": env},
                    ],
                },
            },
        }}),
        json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": STORAGE_CLASS},
            "provisioner": DRIVER,
            "parameters": params,
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "Immediate",
            "allowVolumeExpansion": true,
            "mountOptions": ["discard"]}),
    ]
}

fn base64_of(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// Whether `ceph-csi-config` lists the clusterID (ceph-csi reads it from there).
pub(crate) fn known_cluster(ctx: &super::Ctx, cluster_id: &str) -> bool {
    let Some(cm) = ctx
        .store
        .get_value(&ctx.kinds.configmaps, NAMESPACE, "ceph-csi-config")
    else {
        return false;
    };
    let config: Value = serde_json::from_str(cm["data"]["config.json"].as_str().unwrap_or("[]"))
        .unwrap_or_default();
    config
        .as_array()
        .is_some_and(|cs| cs.iter().any(|c| c["clusterID"] == cluster_id))
}

/// Whether `node`'s csi-rbdplugin pod is Ready (the kubelet knows the driver only
/// once its registrar registered it).
pub fn plugin_ready(ctx: &super::Ctx, node: &str) -> bool {
    ctx.store
        .pods_on_node(&ctx.kinds.pods, node)
        .iter()
        .map(|e| e.value())
        .any(|p| {
            p["metadata"]["namespace"] == NAMESPACE
                && p["metadata"]["labels"]["app"] == "csi-rbdplugin"
                && !super::is_deleting(&p)
                && p["status"]["conditions"].as_array().is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True")
                })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The handle of a real ceph-csi volume parses back to its parts and is rebuilt
    /// exactly.
    #[test]
    fn volume_handles_round_trip() {
        let real = "0001-0024-7635de36-ab1f-4a70-98a2-a1bd80ba77c4-0000000000000006-6e696bba-064f-11ec-a251-0242ac110002";
        let (cluster, pool, uuid) = parse_volume_handle(real).unwrap_or_default();
        assert_eq!(cluster, "7635de36-ab1f-4a70-98a2-a1bd80ba77c4");
        assert_eq!(pool, 6);
        assert_eq!(uuid, "6e696bba-064f-11ec-a251-0242ac110002");
        assert_eq!(volume_handle(&cluster, pool, &uuid), real);
        assert!(parse_volume_handle("0001-0024-short").is_none());
    }

    /// sha256 of handle + attacher + node, hex, after `csi-`.
    #[test]
    fn attachment_names_are_the_controllers() {
        let name = attachment_name("h", "n");
        assert_eq!(name.len(), 4 + 64);
        assert_ne!(name, attachment_name("h", "m"));
        // sha256("hrbd.csi.ceph.comn")
        let d = ring::digest::digest(&ring::digest::SHA256, b"hrbd.csi.ceph.comn");
        let hex: String = d.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(name, format!("csi-{hex}"));
    }
}
