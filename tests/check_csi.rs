//! `kcops check --json` with the lab's Ceph on `csi-node-lost` (ceph-csi, real Ceph):
//! k8s-worker-1 dies with the orders-db volume mapped and attached; the replacement pod
//! on k8s-worker-2 waits. The exact id sets, as the incident moves on:
//! - while k8s-worker-1's VolumeAttachment holds the volume:
//!   {node.notready, pv.attached-elsewhere, rbd.stale-watcher} (the pod's Multi-Attach
//!   error is pv.attached-elsewhere's evidence, not a pod.multi-attach of its own; the
//!   dead node's watcher is a second obstacle, reported once);
//! - after the out-of-service taint moved the attachment: {node.notready,
//!   rbd.stale-watcher} (the pod's `is still being used` is its evidence);
//! - after the dead node's client is fenced: {node.notready} (the pod runs).

mod common;

use std::time::Duration;

use common::check_ids::{strings, text, wait_for_ids, with};
use common::csi::{attachment_name, image_spec, pv};
use common::{Lab, shared};

const DEAD: &str = "k8s-worker-1";
const NEXT: &str = "k8s-worker-2";

fn lab() -> &'static Lab {
    shared("chkcsi", "csi-node-lost", &[])
}

#[test]
fn node_lost_ids_follow_the_incident_from_attachment_to_watcher_to_none() {
    let lab = lab();
    let ceph = lab.ceph_admin();
    let pv = pv(lab);
    let pv_name = pv["metadata"]["name"].as_str().unwrap_or_default();
    let handle = pv["spec"]["csi"]["volumeHandle"]
        .as_str()
        .unwrap_or_default();
    let spec = image_spec(&pv);
    let dead_ip = lab.node_ip(DEAD);

    // 1. The dead node's attachment holds the volume (before the forced detach).
    let (code, report) = wait_for_ids(
        lab,
        &ceph,
        &[
            "node.notready",
            "pv.attached-elsewhere",
            "rbd.stale-watcher",
        ],
        Duration::from_secs(2),
        Duration::from_secs(120),
    );
    let all = text(&report);
    assert_eq!(code, 2, "{all}");
    let held = with("pv.attached-elsewhere", &report);
    assert_eq!(held.len(), 1, "{all}");
    let va = attachment_name(handle, DEAD);
    assert_eq!(held[0]["object"], format!("VolumeAttachment {va}"), "{all}");
    assert_eq!(held[0]["node"], DEAD, "{all}");
    let evidence = strings(&held[0]["evidence"]);
    assert!(
        evidence[0].starts_with(&format!(
            "VolumeAttachment {va}: PV {pv_name} (claim shop/data-orders-db-0) attached to {DEAD} since "
        )),
        "{all}"
    );
    assert!(
        evidence.iter().any(|l| l.starts_with(&format!(
            "pod shop/orders-db-0 on {NEXT} (Pending) waits: FailedAttachVolume: Multi-Attach error for volume \"{pv_name}\""
        ))),
        "{all}"
    );
    let fix = held[0]["fix"].as_str().unwrap_or_default();
    assert!(
        fix.contains(&format!(
            "`kubectl taint nodes {DEAD} node.kubernetes.io/out-of-service=nodeshutdown:NoExecute`"
        )),
        "{fix}"
    );
    let watch = with("rbd.stale-watcher", &report);
    assert_eq!(watch.len(), 1, "{all}");
    assert_eq!(watch[0]["object"], format!("RbdImage {spec}"), "{all}");
    let evidence = strings(&watch[0]["evidence"]);
    let watcher_line = evidence
        .iter()
        .find(|l| l.starts_with("watcher "))
        .unwrap_or_else(|| panic!("no watcher line: {all}"));
    assert!(
        watcher_line.contains(&format!(" at {dead_ip}:"))
            && watcher_line.ends_with(&format!(
                "from {DEAD} (the address is {DEAD}'s InternalIP {dead_ip})"
            )),
        "{all}"
    );
    // The watcher's exact address, for the fence below (and the fix names it).
    let address = watcher_line
        .split(" at ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .unwrap_or_default()
        .to_string();
    let fix = watch[0]["fix"].as_str().unwrap_or_default();
    assert!(
        fix.contains(&format!("`ceph osd blocklist add {address} 3600`")),
        "{fix}"
    );

    // 2. Non-graceful node shutdown: the attachment moves, the watcher stays.
    lab.kubectl_ok(&[
        "taint",
        "node",
        DEAD,
        "node.kubernetes.io/out-of-service=nodeshutdown:NoExecute",
    ]);
    let (_, report) = wait_for_ids(
        lab,
        &ceph,
        &["node.notready", "rbd.stale-watcher"],
        Duration::from_secs(2),
        Duration::from_secs(60),
    );
    let all = text(&report);
    let watch = with("rbd.stale-watcher", &report);
    assert!(
        strings(&watch[0]["evidence"])
            .iter()
            .any(|l| l.starts_with(&format!(
                "pod shop/orders-db-0 on {NEXT} (Pending) waits: FailedMount: "
            )) && l.ends_with(&format!("rbd image {spec} is still being used"))),
        "{all}"
    );

    // 3. The fix: fence the dead node's client; the pod stages and runs.
    let mut fence = lab.ceph_cmd("ceph");
    fence.args(["osd", "blocklist", "add", &address, "3600"]);
    Lab::run_ok(fence);
    let (_, report) = wait_for_ids(
        lab,
        &ceph,
        &["node.notready"],
        Duration::from_secs(3),
        Duration::from_secs(90),
    );
    assert_eq!(with("node.notready", &report)[0]["node"], DEAD);
}
