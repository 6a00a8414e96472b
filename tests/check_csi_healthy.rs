//! `kcops check --json` with the lab's Ceph on `csi-healthy` (ceph-csi, real Ceph): no
//! finding at all (the ceph-csi checks read the plugin pods, the attachment, the
//! watcher and ceph-csi's ConfigMap against `ceph mon dump`, and find nothing wrong);
//! each fault injected through Kubernetes gives exactly its one id, gone once undone:
//! a monitor in ConfigMap ceph-csi-config that is not the cluster's gives
//! `csi.config-mismatch`; the node plugin gone from the node that runs orders-db gives
//! `csi.plugin-down`. The tests share the lab and take turns ([`SERIAL`]).

mod common;

use std::time::Duration;

use common::check_ids::{strings, text, wait_for_ids, with};
use common::rbd::json;
use common::{Lab, shared};
use serde_json::Value;

fn lab() -> &'static Lab {
    shared("chkcsiok", "csi-healthy", &[])
}

/// One fault at a time: each test asserts the exact set of ids.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn turn() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
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
    let _turn = turn();
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

#[test]
fn a_node_without_its_plugin_pod_gives_exactly_csi_plugin_down() {
    let _turn = turn();
    let lab = lab();
    let ceph = lab.ceph_admin();
    wait_for_ids(
        lab,
        &ceph,
        &[],
        Duration::from_secs(3),
        Duration::from_secs(180),
    );
    let pod = json(
        lab,
        &["get", "pod", "-n", "shop", "orders-db-0", "-o", "json"],
    );
    let node = pod["spec"]["nodeName"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!node.is_empty(), "{pod}");
    // The plugin's DaemonSet now wants only labelled nodes; every node but orders-db's
    // gets the label, and the plugin pod on orders-db's node goes.
    let nodes = json(lab, &["get", "nodes", "-o", "json"]);
    let names: Vec<String> = nodes["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|n| n["metadata"]["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    for n in names.iter().filter(|n| **n != node) {
        lab.kubectl_ok(&["label", "node", n, "kcops-test/csi=on"]);
    }
    let select = |sel: Value| {
        let patch = serde_json::json!({"spec": {"template": {"spec": {"nodeSelector": sel}}}});
        lab.kubectl_ok(&[
            "patch",
            "daemonset",
            "-n",
            "ceph-csi",
            "csi-rbdplugin",
            "--type",
            "merge",
            "-p",
            &patch.to_string(),
        ]);
    };
    select(serde_json::json!({"kcops-test/csi": "on"}));
    let plugins = json(
        lab,
        &[
            "get",
            "pods",
            "-n",
            "ceph-csi",
            "-l",
            "app=csi-rbdplugin",
            "-o",
            "json",
        ],
    );
    let victim = plugins["items"]
        .as_array()
        .and_then(|a| a.iter().find(|p| p["spec"]["nodeName"] == node.as_str()))
        .and_then(|p| p["metadata"]["name"].as_str())
        .unwrap_or_else(|| panic!("no plugin pod on {node}: {plugins}"))
        .to_string();
    lab.kubectl_ok(&["delete", "pod", "-n", "ceph-csi", &victim, "--wait=false"]);

    let (_, report) = wait_for_ids(
        lab,
        &ceph,
        &["csi.plugin-down"],
        Duration::from_secs(2),
        Duration::from_secs(60),
    );
    let all = text(&report);
    let f = with("csi.plugin-down", &report);
    assert_eq!(f.len(), 1, "{all}");
    assert_eq!(f[0]["object"], format!("Node {node}"), "{all}");
    // orders-db keeps running on its mounted volume: a warning, not yet critical.
    assert_eq!(f[0]["severity"], "warning", "{all}");
    let evidence = strings(&f[0]["evidence"]);
    assert!(
        evidence.contains(&format!(
            "DaemonSet ceph-csi/csi-rbdplugin: no csi-rbdplugin pod on {node}"
        )) && evidence.iter().any(|l| l.starts_with(&format!(
            "pod shop/orders-db-0 on {node} uses a ceph-csi volume"
        ))),
        "{all}"
    );

    // Undone: the DaemonSet places its pod there again.
    select(Value::Null);
    for n in names.iter().filter(|n| **n != node) {
        lab.kubectl_ok(&["label", "node", n, "kcops-test/csi-"]);
    }
    wait_for_ids(
        lab,
        &ceph,
        &[],
        Duration::from_secs(2),
        Duration::from_secs(60),
    );
}
