//! `kcops check --json` with the lab's Ceph on `csi-healthy` (ceph-csi, real Ceph): no
//! finding at all (the ceph-csi checks read the plugin pods, the attachment, the
//! watcher and ceph-csi's ConfigMap against `ceph mon dump`, and find nothing wrong);
//! each fault injected through Kubernetes gives exactly its one id, gone once undone:
//! a monitor in ConfigMap ceph-csi-config that is not the cluster's gives
//! `csi.config-mismatch`; the node plugin gone from the node that runs orders-db gives
//! `csi.plugin-down`; Secret csi-rbd-secret's userKey not client.kube's key, or
//! client.kube's caps cut below what ceph-csi needs on pool rbd, give
//! `csi.config-mismatch` (the ceph-csi user checked with `auth get`), in the console
//! too (its feed reads the Secrets one-off). The tests share
//! the lab and take turns ([`SERIAL`]).

mod common;

use std::time::Duration;

use base64::Engine as _;
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

/// Sets Secret ceph-csi/csi-rbd-secret's `userKey` (base64 as in `data`).
fn set_user_key(lab: &Lab, key_b64: &str) {
    let patch = serde_json::json!({"data": {"userKey": key_b64}}).to_string();
    lab.kubectl_ok(&[
        "patch",
        "secret",
        "-n",
        "ceph-csi",
        "csi-rbd-secret",
        "--type",
        "merge",
        "-p",
        &patch,
    ]);
}

fn ceph_out(lab: &Lab, args: &[&str]) -> String {
    let mut c = lab.ceph_cmd("ceph");
    c.args(args);
    Lab::run_ok(c)
}

/// The one finding csi.config-mismatch, on the Secret, whose evidence has `problem`.
fn assert_secret_problem(report: &Value, problem: &str) {
    let all = text(report);
    let f = with("csi.config-mismatch", report);
    assert_eq!(f.len(), 1, "{all}");
    assert_eq!(f[0]["object"], "Secret ceph-csi/csi-rbd-secret", "{all}");
    assert_eq!(f[0]["severity"], "critical", "{all}");
    assert!(
        strings(&f[0]["evidence"])
            .iter()
            .any(|l| l.starts_with(problem)),
        "{all}"
    );
}

#[test]
fn a_secret_key_that_is_not_the_users_gives_exactly_csi_config_mismatch() {
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
    let original = secret["data"]["userKey"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!original.is_empty(), "{secret}");
    // A well-formed cephx key that is nobody's.
    let other = base64::engine::general_purpose::STANDARD
        .encode("AQBqyW1nAAAAABAAdGhpcyBpcyBub3QgYSBrZXkuLg==");
    assert_ne!(other, original);
    set_user_key(lab, &other);

    let (_, report) = wait_for_ids(
        lab,
        &ceph,
        &["csi.config-mismatch"],
        Duration::from_secs(2),
        Duration::from_secs(60),
    );
    assert_secret_problem(
        &report,
        "problem: the userKey in Secret ceph-csi/csi-rbd-secret is not the key of client.kube",
    );
    let f = with("csi.config-mismatch", &report);
    assert!(
        f[0]["fix"]
            .as_str()
            .unwrap_or_default()
            .contains("--from-literal=userKey=\"$(ceph auth get-key client.kube)\""),
        "{}",
        text(&report)
    );
    // Never the key itself, neither the right one nor the wrong one.
    let raw = report.to_string();
    assert!(!raw.contains("AQBqyW1n") && !raw.contains(&other), "{raw}");

    set_user_key(lab, &original);
    wait_for_ids(
        lab,
        &ceph,
        &[],
        Duration::from_secs(2),
        Duration::from_secs(60),
    );
}

#[test]
fn a_user_with_too_few_caps_gives_exactly_csi_config_mismatch() {
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
    let user: Value = serde_json::from_str(&ceph_out(
        lab,
        &["auth", "get", "client.kube", "--format", "json"],
    ))
    .unwrap_or(Value::Null);
    let caps = user[0]["caps"].as_object().cloned().unwrap_or_default();
    assert!(caps.contains_key("osd"), "{user}");
    ceph_out(
        lab,
        &[
            "auth",
            "caps",
            "client.kube",
            "mon",
            "allow r",
            "osd",
            "allow r pool=rbd",
        ],
    );

    let (_, report) = wait_for_ids(
        lab,
        &ceph,
        &["csi.config-mismatch"],
        Duration::from_secs(2),
        Duration::from_secs(60),
    );
    assert_secret_problem(
        &report,
        "problem: the caps of client.kube (Secret ceph-csi/csi-rbd-secret) are too few for pool rbd: mon 'allow r' osd 'allow r pool=rbd' (mon, osd, mgr lacking)",
    );
    let f = with("csi.config-mismatch", &report);
    assert!(
        f[0]["fix"].as_str().unwrap_or_default().contains(
            "`ceph auth caps client.kube mon 'profile rbd' osd 'profile rbd pool=rbd' mgr 'profile rbd pool=rbd'`"
        ),
        "{}",
        text(&report)
    );

    // Exactly the caps it had.
    let mut args = vec!["auth".to_string(), "caps".into(), "client.kube".into()];
    for (daemon, c) in &caps {
        args.push(daemon.clone());
        args.push(c.as_str().unwrap_or_default().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ceph_out(lab, &args);
    wait_for_ids(
        lab,
        &ceph,
        &[],
        Duration::from_secs(2),
        Duration::from_secs(60),
    );
}

#[test]
fn the_console_names_a_wrong_secret_key_too() {
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
    let original = secret["data"]["userKey"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!original.is_empty(), "{secret}");
    set_user_key(
        lab,
        &base64::engine::general_purpose::STANDARD
            .encode("AQBqyW1nAAAAABAAdGhpcyBpcyBub3QgYSBrZXkuLg=="),
    );
    let c = common::pty::Console::start(
        lab,
        common::pty::Options {
            rows: 40,
            cols: 200,
            ceph: true,
            ..common::pty::Options::default()
        },
    );
    let s = c.wait_text("csi.config-mismatch", Duration::from_secs(60));
    assert!(s.contains("csi-rbd-secret"), "{s}");
    drop(c);
    set_user_key(lab, &original);
    wait_for_ids(
        lab,
        &ceph,
        &[],
        Duration::from_secs(2),
        Duration::from_secs(60),
    );
}
