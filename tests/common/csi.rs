//! The ceph-csi scenarios as tests read them from outside: the StatefulSet's claim, its
//! PV and image, VolumeAttachments and watchers, through kubectl and the real Ceph CLIs.

use std::time::Duration;

use serde_json::Value;

use super::rbd::json;
use super::{Lab, wait_for};

pub const DRIVER: &str = "rbd.csi.ceph.com";

/// The orders-db claim's PV once bound.
pub fn pv(lab: &Lab) -> Value {
    wait_for("the bound orders-db claim", Duration::from_secs(60), || {
        let pvc = json(
            lab,
            &["get", "pvc", "-n", "shop", "data-orders-db-0", "-o", "json"],
        );
        let name = pvc["spec"]["volumeName"].as_str()?.to_string();
        (pvc["status"]["phase"] == "Bound").then_some(())?;
        let pv = json(lab, &["get", "pv", &name, "-o", "json"]);
        pv.is_object().then_some(pv)
    })
}

/// `pool/image` of a ceph-csi PV.
pub fn image_spec(pv: &Value) -> String {
    let attrs = &pv["spec"]["csi"]["volumeAttributes"];
    format!(
        "{}/{}",
        attrs["pool"].as_str().unwrap_or_default(),
        attrs["imageName"].as_str().unwrap_or_default()
    )
}

/// The VolumeAttachments of the PV: `(name, node, attached)`.
pub fn attachments(lab: &Lab, pv: &str) -> Vec<(String, String, bool)> {
    let list = json(lab, &["get", "volumeattachments", "-o", "json"]);
    list["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter(|va| va["spec"]["source"]["persistentVolumeName"] == pv)
                .map(|va| {
                    (
                        va["metadata"]["name"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                        va["spec"]["nodeName"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                        va["status"]["attached"] == true,
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The attach/detach controller's name for (volume handle, driver, node):
/// `csi-<sha256 hex>`.
pub fn attachment_name(handle: &str, node: &str) -> String {
    let d = ring::digest::digest(
        &ring::digest::SHA256,
        format!("{handle}{DRIVER}{node}").as_bytes(),
    );
    let hex: String = d.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("csi-{hex}")
}

/// The image's watcher addresses (`rbd status --format json`).
pub fn watchers(lab: &Lab, spec: &str) -> Vec<String> {
    let mut c = lab.ceph_cmd("rbd");
    c.args(["status", "--format", "json", spec]);
    let v: Value = serde_json::from_str(&Lab::run_ok(c)).unwrap_or(Value::Null);
    v["watchers"]
        .as_array()
        .map(|ws| {
            ws.iter()
                .filter_map(|w| w["address"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The messages of the pod's Events of `reason`.
pub fn events(lab: &Lab, pod: &str, reason: &str) -> Vec<String> {
    let list = json(
        lab,
        &[
            "get",
            "events",
            "-n",
            "shop",
            "--field-selector",
            &format!("involvedObject.name={pod},reason={reason}"),
            "-o",
            "json",
        ],
    );
    list["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|e| e["message"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The pod `orders-db-0` (not deleting) with its node; `None` while there is none
/// (between the old pod's removal and the StatefulSet's replacement).
pub fn db_pod(lab: &Lab) -> Option<(Value, String)> {
    let out = lab.kubectl(&["get", "pod", "-n", "shop", "orders-db-0", "-o", "json"]);
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("NotFound"),
            "kubectl get pod orders-db-0: {err}"
        );
        return None;
    }
    let pod: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    if !pod["metadata"]["deletionTimestamp"].is_null() {
        return None;
    }
    let node = pod["spec"]["nodeName"].as_str()?.to_string();
    Some((pod, node))
}

/// Checks the PV against the shape ceph-csi gives it and the image against Ceph: the
/// handle parses back to clusterID (the fsid), the pool's id and the image's uuid; the
/// image exists with the class's features.
pub fn assert_pv_shape(lab: &Lab, pv: &Value) {
    let csi = &pv["spec"]["csi"];
    assert_eq!(csi["driver"], DRIVER, "{pv}");
    assert_eq!(
        pv["metadata"]["annotations"]["pv.kubernetes.io/provisioned-by"],
        DRIVER
    );
    let uid = pv["spec"]["claimRef"]["uid"].as_str().unwrap_or_default();
    assert_eq!(pv["metadata"]["name"], format!("pvc-{uid}"));
    let fsid = Lab::run_ok({
        let mut c = lab.ceph_cmd("ceph");
        c.arg("fsid");
        c
    })
    .trim()
    .to_string();
    let pools: Value = serde_json::from_str(&Lab::run_ok({
        let mut c = lab.ceph_cmd("ceph");
        c.args(["osd", "pool", "ls", "detail", "--format", "json"]);
        c
    }))
    .unwrap_or(Value::Null);
    let pool_id = pools
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["pool_name"] == "rbd"))
        .and_then(|p| p["pool_id"].as_i64())
        .unwrap_or_else(|| panic!("no pool rbd in {pools}"));
    let attrs = &csi["volumeAttributes"];
    assert_eq!(attrs["clusterID"], fsid.as_str());
    assert_eq!(attrs["pool"], "rbd");
    assert_eq!(attrs["journalPool"], "rbd");
    assert_eq!(attrs["imageFeatures"], "layering");
    let image = attrs["imageName"].as_str().unwrap_or_default();
    let uuid = image
        .strip_prefix("csi-vol-")
        .unwrap_or_else(|| panic!("image {image} is not csi-vol-<uuid>"));
    // 0001-<len of clusterID, 4 hex>-<clusterID>-<pool id, 16 hex>-<uuid>
    let handle = csi["volumeHandle"].as_str().unwrap_or_default();
    let rest = handle
        .strip_prefix(&format!("0001-{:04x}-{fsid}-", fsid.len()))
        .unwrap_or_else(|| panic!("handle {handle} does not name cluster {fsid}"));
    let (pool_hex, handle_uuid) = rest.split_at(16);
    assert_eq!(
        i64::from_str_radix(pool_hex, 16).ok(),
        Some(pool_id),
        "{handle}"
    );
    assert_eq!(handle_uuid, format!("-{uuid}"));
    for (key, kind) in [
        ("nodeStageSecretRef", "node-stage"),
        ("controllerExpandSecretRef", "controller-expand"),
    ] {
        assert_eq!(
            csi[key],
            serde_json::json!({"name": "csi-rbd-secret", "namespace": "ceph-csi"}),
            "{kind}"
        );
    }
    let info: Value = serde_json::from_str(&Lab::run_ok({
        let mut c = lab.ceph_cmd("rbd");
        c.args(["info", "--format", "json", &image_spec(pv)]);
        c
    }))
    .unwrap_or(Value::Null);
    assert_eq!(info["features"], serde_json::json!(["layering"]), "{info}");
}
