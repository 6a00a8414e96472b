//! `kcops check` on `etcd-scaled-down` (etcd scaled 3 -> 2 without `etcdctl member
//! remove`): at this layer nothing is wrong — the StatefulSet has the two replicas it
//! asks for, and the claim data-etcd-2 left behind is still Bound. (The stale etcd
//! member is the members layer's finding.)
//!
//! The snapshot helper these tests share is `common::snapshot`; each scenario runs in
//! its own test binary (`check_healthy`, `check_stale_lock`, `check_flannel`) because a
//! binary shares one lab.

mod common;

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kcops::check::{exit_code, render_json, render_text};
use kube::api::Api;

use common::snapshot::{SETTLED, wait_for_ids};
use common::{Lab, shared};

fn lab() -> &'static Lab {
    shared("chketcd", "etcd-scaled-down", &["--no-ceph"])
}

#[tokio::test]
async fn etcd_scaled_down_has_no_findings_at_this_layer() {
    let lab = lab();
    let client = lab.client().await;
    let sts: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");

    // The timeline scales etcd to 2 once its three members are up; etcd-2 goes away.
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let replicas = sts
            .get("etcd")
            .await
            .ok()
            .and_then(|s| s.spec)
            .and_then(|s| s.replicas);
        let etcd2 = pods.get_opt("etcd-2").await.expect("get etcd-2");
        if replicas == Some(2) && etcd2.is_none() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "etcd was not scaled down to 2 (replicas {replicas:?}, etcd-2 present: {})",
            etcd2.is_some()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let claim = pvcs.get("data-etcd-2").await.expect("data-etcd-2 stays");
    assert_eq!(claim.status.and_then(|s| s.phase).as_deref(), Some("Bound"));

    let (s, findings) = wait_for_ids(&client, &[], SETTLED, Duration::from_secs(180)).await;
    assert_eq!(render_text(&findings), "OK: no findings.\n");
    assert_eq!(exit_code(&findings, None), 0);
    let json: serde_json::Value =
        serde_json::from_str(&render_json(&findings, s.now)).expect("valid JSON");
    assert_eq!(json["exitCode"], 0);
    assert_eq!(json["evaluatedAt"], s.now.to_string());
}
