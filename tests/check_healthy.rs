//! `kcops check` on the `healthy` scenario: once settled it has no findings at all, and
//! one injected fault (a pod whose nodeSelector matches no node) gives exactly one
//! finding, which goes away with the fault.
//!
//! One test: the fault must not leak into the "no findings" assertion of another test
//! running at the same time on the shared lab.

mod common;

use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Pod};
use kcops::check::{exit_code, render_json, render_text};
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;

use common::snapshot::{SETTLED, wait_for_ids};
use common::{Lab, shared};

fn lab() -> &'static Lab {
    shared("chkhealthy", "healthy", &["--no-ceph"])
}

#[tokio::test]
async fn healthy_has_no_findings_and_one_fault_gives_one() {
    let lab = lab();
    let client = lab.client().await;

    let (s, findings) = wait_for_ids(&client, &[], SETTLED, Duration::from_secs(300)).await;
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

    let (_, findings) = wait_for_ids(
        &client,
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
    wait_for_ids(
        &client,
        &[],
        Duration::from_secs(6),
        Duration::from_secs(60),
    )
    .await;
}
