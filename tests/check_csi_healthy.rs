//! `kcops check --json` with the lab's Ceph on `csi-healthy` (ceph-csi, real Ceph): no
//! finding at all (the ceph-csi checks read the plugin pods, the attachment, the
//! watcher and ceph-csi's ConfigMap against `ceph mon dump`, and find nothing wrong);
//! one fault injected through Kubernetes, a monitor in ConfigMap ceph-csi-config that
//! is not the cluster's, gives exactly `csi.config-mismatch`, gone once restored.

mod common;

use std::time::Duration;

use common::check_ids::{strings, text, wait_for_ids, with};
use common::rbd::json;
use common::{Lab, shared};
use serde_json::Value;

fn lab() -> &'static Lab {
    shared("chkcsiok", "csi-healthy", &[])
}

/// Replaces ConfigMap ceph-csi-config's config.json.
fn set_config(lab: &Lab, config: &str) {
    let patch = serde_json::json!({"data": {"config.json": config}}).to_string();
    lab.kubectl_ok(&[
        "patch",
        "configmap",
        "-n",
        "ceph-csi",
        "ceph-csi-config",
        "--type",
        "merge",
        "-p",
        &patch,
    ]);
}

#[test]
fn healthy_csi_lab_has_no_finding_and_a_wrong_monitor_gives_exactly_one() {
    let lab = lab();
    let ceph = lab.ceph_admin();
    let (code, report) = wait_for_ids(
        lab,
        &ceph,
        &[],
        Duration::from_secs(5),
        Duration::from_secs(180),
    );
    assert_eq!(code, 0, "{}", text(&report));

    let cm = json(
        lab,
        &[
            "get",
            "configmap",
            "-n",
            "ceph-csi",
            "ceph-csi-config",
            "-o",
            "json",
        ],
    );
    let original = cm["data"]["config.json"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut config: Value = serde_json::from_str(&original).unwrap_or(Value::Null);
    let cluster = config[0]["clusterID"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!cluster.is_empty(), "{original}");
    // A monitor address of TEST-NET-1: never one of the cluster's.
    config[0]["monitors"] = serde_json::json!(["192.0.2.10:6789"]);
    set_config(lab, &config.to_string());

    let (_, report) = wait_for_ids(
        lab,
        &ceph,
        &["csi.config-mismatch"],
        Duration::from_secs(2),
        Duration::from_secs(60),
    );
    let all = text(&report);
    let f = with("csi.config-mismatch", &report);
    assert_eq!(f.len(), 1, "{all}");
    assert_eq!(
        f[0]["object"], "ConfigMap ceph-csi/ceph-csi-config",
        "{all}"
    );
    assert!(
        strings(&f[0]["evidence"]).contains(&format!(
            "problem: clusterID {cluster} lists 192.0.2.10:6789 which is not a monitor of the cluster"
        )),
        "{all}"
    );
    assert!(
        f[0]["fix"]
            .as_str()
            .unwrap_or_default()
            .contains("`kubectl -n ceph-csi edit configmap ceph-csi-config`"),
        "{all}"
    );

    // Restored: nothing again.
    set_config(lab, &original);
    wait_for_ids(
        lab,
        &ceph,
        &[],
        Duration::from_secs(2),
        Duration::from_secs(60),
    );
}
