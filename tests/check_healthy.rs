//! `kcops check` on the `healthy` scenario, with the host probes of the console node
//! (master): once settled it has no findings at all, network ones included, and each
//! injected fault gives exactly one finding, which goes away with the fault: a pod
//! whose nodeSelector matches no node, kube-proxy's clusterCIDR emptied, and
//! ip_forward turned off on the console node.
//!
//! One test: a fault must not leak into the "no findings" assertion of another test
//! running at the same time on the shared lab.

mod common;

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kcops::check::{exit_code, render_json, render_text};
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;

use common::snapshot::{SETTLED, wait_for_ids_on};
use common::{Lab, shared};

fn lab() -> &'static Lab {
    shared("chkhealthy", "healthy", &["--no-ceph"])
}

#[tokio::test]
async fn healthy_has_no_findings_and_one_fault_gives_one() {
    let lab = lab();
    let client = lab.client().await;
    let host = lab.host_probe("master");
    let host = Some(&host);

    let (s, findings) =
        wait_for_ids_on(&client, host, &[], SETTLED, Duration::from_secs(300)).await;
    let report = s
        .host
        .as_deref()
        .expect("the host report is in the snapshot");
    assert_eq!(report.node.as_deref(), Some("master"));
    assert!(report.subnet_env.found().is_some(), "{report:?}");
    assert!(findings.is_empty());
    assert_eq!(render_text(&findings), "OK: no findings.\n");
    assert_eq!(exit_code(&findings, None), 0);
    let json: serde_json::Value =
        serde_json::from_str(&render_json(&findings, s.now)).expect("valid JSON");
    assert_eq!(json["status"], "healthy");
    assert_eq!(json["findings"], json!([]));

    // The fault: a pod no node can take.
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace =
        serde_json::from_value(json!({"metadata": {"name": "check-fault"}})).expect("namespace");
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .expect("create namespace");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "check-fault");
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "nowhere"},
        "spec": {"nodeSelector": {"disktype": "nvme"},
                 "containers": [{"name": "app", "image": "nginx:1.27.5"}]}
    }))
    .expect("pod");
    pods.create(&PostParams::default(), &pod)
        .await
        .expect("create pod");

    let (_, findings) = wait_for_ids_on(
        &client,
        host,
        &["pod.unschedulable"],
        Duration::from_secs(10),
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(findings.len(), 1, "{}", render_text(&findings));
    let f = &findings[0];
    assert_eq!(f.object, "Pod check-fault/nowhere");
    assert_eq!(f.namespace.as_deref(), Some("check-fault"));
    assert_eq!(f.evidence.len(), 1);
    assert!(
        f.evidence[0].starts_with("PodScheduled=False (Unschedulable): 0/3 nodes are available")
            && f.evidence[0].contains("didn't match Pod's node affinity/selector"),
        "{:?}",
        f.evidence
    );
    assert!(f.fix.contains("--show-labels"), "{}", f.fix);
    assert_eq!(exit_code(&findings, None), 1);

    // Take the fault away: healthy again.
    pods.delete("nowhere", &DeleteParams::default())
        .await
        .expect("delete pod");
    wait_for_ids_on(
        &client,
        host,
        &[],
        Duration::from_secs(6),
        Duration::from_secs(60),
    )
    .await;

    // A network fault: kube-proxy loses its clusterCIDR (what left flannel unable to
    // reach 10.96.0.1:443, "i/o timeout").
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), "kube-system");
    let original = configmaps
        .get("kube-proxy")
        .await
        .expect("kube-proxy ConfigMap");
    let mut broken = original.clone();
    let conf = broken
        .data
        .as_mut()
        .and_then(|d| d.get_mut("config.conf"))
        .expect("config.conf");
    assert!(conf.contains("clusterCIDR: 10.244.0.0/16"), "{conf}");
    *conf = conf.replace("clusterCIDR: 10.244.0.0/16", "clusterCIDR: \"\"");
    configmaps
        .replace("kube-proxy", &PostParams::default(), &broken)
        .await
        .expect("empty clusterCIDR");
    let (_, findings) = wait_for_ids_on(
        &client,
        host,
        &["net.kube-proxy-cluster-cidr"],
        Duration::from_secs(3),
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(findings.len(), 1, "{}", render_text(&findings));
    assert_eq!(findings[0].object, "ConfigMap kube-system/kube-proxy");
    assert_eq!(exit_code(&findings, None), 1);
    let mut restored = configmaps
        .get("kube-proxy")
        .await
        .expect("kube-proxy ConfigMap");
    restored.data = original.data.clone();
    configmaps
        .replace("kube-proxy", &PostParams::default(), &restored)
        .await
        .expect("restore clusterCIDR");
    wait_for_ids_on(
        &client,
        host,
        &[],
        Duration::from_secs(3),
        Duration::from_secs(60),
    )
    .await;

    // A host fault on the console node: IP forwarding off.
    let ip_forward = lab.host_root("master").join("proc/sys/net/ipv4/ip_forward");
    std::fs::write(&ip_forward, "0\n").expect("write ip_forward");
    let (_, findings) = wait_for_ids_on(
        &client,
        host,
        &["net.ip-forward-off"],
        Duration::from_secs(3),
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(findings.len(), 1, "{}", render_text(&findings));
    assert_eq!(findings[0].object, "Node master");
    assert_eq!(
        findings[0].evidence,
        ["host master: /proc/sys/net/ipv4/ip_forward is 0"]
    );
    std::fs::write(&ip_forward, "1\n").expect("restore ip_forward");
    wait_for_ids_on(
        &client,
        host,
        &[],
        Duration::from_secs(3),
        Duration::from_secs(60),
    )
    .await;
}
