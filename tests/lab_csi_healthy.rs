//! A healthy ceph-csi lab (`csi-healthy`) against its real Ceph: ceph-csi's objects name
//! the cluster (fsid, monitor, client.kube's key), the node plugin runs Ready on every
//! node, the StatefulSet's PV and image have ceph-csi's exact shape, the volume is
//! attached to the pod's node and mapped there (a watcher at that node's address).

mod common;

use std::time::Duration;

use base64::Engine as _;
use common::csi::{
    DRIVER, assert_pv_shape, attachment_name, attachments, db_pod, image_spec, pv, watchers,
};
use common::rbd::json;
use common::{Lab, shared, wait_for};
use serde_json::Value;

fn lab() -> &'static Lab {
    shared("csi-healthy", "csi-healthy", &[])
}

fn ceph_out(lab: &Lab, args: &[&str]) -> String {
    let mut c = lab.ceph_cmd("ceph");
    c.args(args);
    Lab::run_ok(c).trim().to_string()
}

#[test]
fn ceph_csi_objects_name_the_real_cluster() {
    let lab = lab();
    let fsid = ceph_out(lab, &["fsid"]);
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
    let config: Value =
        serde_json::from_str(cm["data"]["config.json"].as_str().unwrap_or_default())
            .unwrap_or(Value::Null);
    assert_eq!(config[0]["clusterID"], fsid.as_str(), "{config}");
    let mon = lab.state.ceph_mon.clone().unwrap_or_default();
    assert_eq!(config[0]["monitors"], serde_json::json!([mon]), "{config}");

    let secret = json(
        lab,
        &[
            "get",
            "secret",
            "-n",
            "ceph-csi",
            "csi-rbd-secret",
            "-o",
            "json",
        ],
    );
    let decode = |k: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(secret["data"][k].as_str().unwrap_or_default())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    };
    assert_eq!(decode("userID"), "kube");
    assert_eq!(
        decode("userKey"),
        ceph_out(lab, &["auth", "get-key", "client.kube"])
    );

    let sc = json(lab, &["get", "storageclass", "csi-rbd-sc", "-o", "json"]);
    assert_eq!(sc["provisioner"], DRIVER);
    let p = &sc["parameters"];
    assert_eq!(p["clusterID"], fsid.as_str());
    assert_eq!(p["pool"], "rbd");
    assert_eq!(p["imageFeatures"], "layering");
    assert_eq!(p["csi.storage.k8s.io/fstype"], "ext4");
    for kind in ["provisioner", "controller-expand", "node-stage"] {
        assert_eq!(
            p[format!("csi.storage.k8s.io/{kind}-secret-name")],
            "csi-rbd-secret"
        );
        assert_eq!(
            p[format!("csi.storage.k8s.io/{kind}-secret-namespace")],
            "ceph-csi"
        );
    }

    // One Ready node plugin per node, both containers; the provisioner runs.
    let nodes = json(lab, &["get", "nodes", "-o", "json"]);
    let mut node_names: Vec<String> = nodes["items"]
        .as_array()
        .map(|ns| {
            ns.iter()
                .filter_map(|n| n["metadata"]["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    node_names.sort();
    let plugin_nodes = wait_for(
        "a Ready csi-rbdplugin on every node",
        Duration::from_secs(60),
        || {
            let pods = json(
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
            let items = pods["items"].as_array()?;
            let ready = items.iter().all(|p| {
                p["status"]["conditions"].as_array().is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True")
                })
            });
            let mut on: Vec<String> = items
                .iter()
                .filter_map(|p| p["spec"]["nodeName"].as_str().map(str::to_string))
                .collect();
            on.sort();
            (ready && on == node_names).then_some(items.clone())
        },
    );
    let containers: Vec<&str> = plugin_nodes[0]["spec"]["containers"]
        .as_array()
        .map(|cs| cs.iter().filter_map(|c| c["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(containers, ["csi-rbdplugin", "driver-registrar"]);
    wait_for("the provisioner Running", Duration::from_secs(60), || {
        let pods = json(
            lab,
            &[
                "get",
                "pods",
                "-n",
                "ceph-csi",
                "-l",
                "app=csi-rbdplugin-provisioner",
                "-o",
                "json",
            ],
        );
        pods["items"]
            .as_array()?
            .iter()
            .any(|p| p["status"]["phase"] == "Running")
            .then_some(())
    });
}

#[test]
fn the_volume_is_provisioned_attached_and_mapped_on_the_pods_node() {
    let lab = lab();
    let pv = pv(lab);
    assert_pv_shape(lab, &pv);
    let (_, node) = wait_for("orders-db-0 Running", Duration::from_secs(60), || {
        db_pod(lab).filter(|(p, _)| p["status"]["phase"] == "Running")
    });
    let pv_name = pv["metadata"]["name"].as_str().unwrap_or_default();
    let handle = pv["spec"]["csi"]["volumeHandle"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(
        attachments(lab, pv_name),
        vec![(attachment_name(handle, &node), node.clone(), true)]
    );
    let ws = watchers(lab, &image_spec(&pv));
    let ip = lab.node_ip(&node);
    assert!(
        ws.len() == 1 && ws[0].starts_with(&format!("{ip}:")),
        "one watcher at {node}'s address {ip}: {ws:?}"
    );
}
