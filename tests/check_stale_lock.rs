//! `kcops check` on `rbd-stale-lock` (node1's kubelet died holding the RBD lock, real
//! Ceph): exactly the NotReady node1 and the moved pod stuck on node1's RBD lock,
//! naming the image.

mod common;

use std::time::Duration;

use kcops::check::{exit_code, render_text};
use kcops::diagnose::Severity;
use kcops::model::rows::rbd_image;

use common::snapshot::{SETTLED, wait_for_ids};
use common::{Lab, shared};

fn lab() -> &'static Lab {
    shared("chklock", "rbd-stale-lock", &[])
}

#[tokio::test]
async fn stale_lock_gives_node_notready_and_volume_locked() {
    let lab = lab();
    let client = lab.client().await;
    let (s, findings) = wait_for_ids(
        &client,
        &["node.notready", "pod.volume-locked"],
        SETTLED,
        Duration::from_secs(300),
    )
    .await;
    let text = render_text(&findings);
    eprintln!("{text}");
    assert_eq!(findings.len(), 2, "{text}");

    let node = &findings[0];
    assert_eq!(node.id, "node.notready", "{text}");
    assert_eq!(node.object, "Node node1");
    assert_eq!(node.severity, Severity::Critical);
    assert!(
        node.evidence[0].starts_with("Ready=Unknown since ")
            && node.evidence[0]
                .ends_with("(NodeStatusUnknown): Kubelet stopped posting node status."),
        "{text}"
    );

    // The image behind index-api-pvc, as the PV names it.
    let pvc = s
        .pvcs
        .iter()
        .find(|c| c.metadata.name.as_deref() == Some("index-api-pvc"))
        .expect("index-api-pvc");
    let pv_name = pvc
        .spec
        .as_ref()
        .and_then(|sp| sp.volume_name.clone())
        .expect("bound");
    let pv = s
        .pvs
        .iter()
        .find(|p| p.metadata.name.as_deref() == Some(pv_name.as_str()))
        .expect("its PV");
    let (pool, image) = rbd_image(pv).expect("an RBD volume");

    let locked = &findings[1];
    assert_eq!(locked.id, "pod.volume-locked");
    assert!(
        locked.object.starts_with("Pod default/index-api-"),
        "{text}"
    );
    assert_eq!(locked.node.as_deref(), Some("node2"));
    assert_eq!(locked.severity, Severity::Critical);
    assert!(
        locked.evidence[0].starts_with("FailedMount: ")
            && locked.evidence[0]
                .ends_with(&format!("rbd: image {image} is locked by other nodes")),
        "{text}"
    );
    assert_eq!(
        locked.evidence[1],
        format!("claim index-api-pvc is bound to {pv_name} = RBD image {pool}/{image}")
    );
    assert!(
        locked.explanation.contains(&format!(
            "RBD image {pool}/{image} is locked by another node (most likely node1, which is NotReady)"
        )),
        "{text}"
    );
    assert!(locked.fix.contains(&format!("rbd lock ls {pool}/{image}")));
    assert_eq!(exit_code(&findings, None), 2);
}
