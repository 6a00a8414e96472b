//! A worker lost with a ceph-csi volume mapped, end to end on real Ceph (`csi-node-lost`):
//! the replacement pod on k8s-worker-2 meets the attach/detach controller's Multi-Attach
//! while k8s-worker-1's VolumeAttachment remains; the out-of-service taint detaches it at
//! once and attaches the volume to k8s-worker-2, whose node plugin then refuses to stage
//! while k8s-worker-1's watcher lives ("still being used"); blocklisting k8s-worker-1's
//! address breaks that watch and the pod stages, attaches and runs.

mod common;

use std::time::Duration;

use common::csi::{
    assert_pv_shape, attachment_name, attachments, db_pod, events, image_spec, pv, watchers,
};
use common::{Lab, shared, wait_for};

const DEAD: &str = "k8s-worker-1";
const NEXT: &str = "k8s-worker-2";

fn lab() -> &'static Lab {
    shared("csi-lost", "csi-node-lost", &[])
}

#[test]
fn lost_node_blocks_by_attachment_then_watcher_until_taint_and_fencing() {
    let lab = lab();
    let pv = pv(lab);
    let pv_name = pv["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let handle = pv["spec"]["csi"]["volumeHandle"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let spec = image_spec(&pv);
    let dead_ip = lab.node_ip(DEAD);
    let next_ip = lab.node_ip(NEXT);

    // The replacement lands on the other worker and waits on the old attachment.
    wait_for(
        "orders-db-0 on k8s-worker-2",
        Duration::from_secs(60),
        || db_pod(lab).filter(|(_, node)| node == NEXT),
    );
    let multi = format!(
        "Multi-Attach error for volume \"{pv_name}\" Volume is already exclusively attached to \
         one node and can't be attached to another"
    );
    wait_for("the Multi-Attach event", Duration::from_secs(30), || {
        events(lab, "orders-db-0", "FailedAttachVolume")
            .contains(&multi)
            .then_some(())
    });
    assert_eq!(
        attachments(lab, &pv_name),
        vec![(attachment_name(&handle, DEAD), DEAD.to_string(), true)],
        "only the dead node's attachment"
    );
    // The dead node's kernel client still watches the image from its address.
    let ws = watchers(lab, &spec);
    assert!(
        ws.len() == 1 && ws[0].starts_with(&format!("{dead_ip}:")),
        "{ws:?}"
    );

    // Non-graceful node shutdown: the taint detaches at once, the volume goes to B.
    lab.kubectl_ok(&[
        "taint",
        "node",
        DEAD,
        "node.kubernetes.io/out-of-service=nodeshutdown:NoExecute",
    ]);
    wait_for(
        "the attachment moved to k8s-worker-2",
        Duration::from_secs(30),
        || {
            (attachments(lab, &pv_name)
                == vec![(attachment_name(&handle, NEXT), NEXT.to_string(), true)])
            .then_some(())
        },
    );
    let table = lab.kubectl_ok(&["get", "volumeattachments"]);
    let header: Vec<&str> = table
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["NAME", "ATTACHER", "PV", "NODE", "ATTACHED", "AGE"]
    );
    assert!(
        table
            .lines()
            .any(|l| l.contains(&pv_name) && l.contains(NEXT) && l.contains("true")),
        "{table}"
    );

    // Staging on B is refused while A's watcher lives.
    let still = format!(
        "MountVolume.MountDevice failed for volume \"{pv_name}\" : rpc error: code = Internal \
         desc = rbd image {spec} is still being used"
    );
    wait_for(
        "the still-being-used event",
        Duration::from_secs(30),
        || {
            events(lab, "orders-db-0", "FailedMount")
                .contains(&still)
                .then_some(())
        },
    );
    let ws = watchers(lab, &spec);
    assert!(
        ws.len() == 1 && ws[0].starts_with(&format!("{dead_ip}:")),
        "the dead node's watcher lives on: {ws:?}"
    );
    let (pod, _) = db_pod(lab).unwrap_or_else(|| panic!("orders-db-0 is gone"));
    assert_eq!(
        pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"], "ContainerCreating",
        "{pod}"
    );

    // Fencing: the dead node's address blocklisted, its watch breaks and B stages.
    let mut fence = lab.ceph_cmd("ceph");
    fence.args(["osd", "blocklist", "add", &dead_ip]);
    Lab::run_ok(fence);
    wait_for(
        "orders-db-0 Running on k8s-worker-2",
        Duration::from_secs(60),
        || db_pod(lab).filter(|(p, node)| node == NEXT && p["status"]["phase"] == "Running"),
    );
    let ws = watchers(lab, &spec);
    assert!(
        ws.len() == 1 && ws[0].starts_with(&format!("{next_ip}:")),
        "only k8s-worker-2 maps the image: {ws:?}"
    );
    assert_pv_shape(lab, &pv);
}
