//! A dead kubelet's RBD lock end to end on real Ceph: the pod that moved from node1 to
//! node2 stays ContainerCreating on node1's RBD lock (whose address is node1's IP), and
//! once the lock is removed with the rbd CLI the pod starts and node2 holds the lock.

mod common;

use std::time::Duration;

use common::rbd::{claim_image, moved_pod};
use common::{Lab, shared, wait_for};
use serde_json::Value;

fn lab() -> &'static Lab {
    shared("stalelock", "rbd-stale-lock", &[])
}

#[test]
fn pod_blocked_by_node1_lock_runs_after_rbd_lock_rm() {
    let lab = lab();
    // The replacement pod lands on node2 and stays ContainerCreating.
    let pod = moved_pod(lab);
    let name = pod["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let event = wait_for("the FailedMount event", Duration::from_secs(60), || {
        let out = lab.kubectl_ok(&[
            "get",
            "events",
            "--field-selector",
            &format!("involvedObject.name={name},reason=FailedMount"),
            "-o",
            "json",
        ]);
        let v: Value = serde_json::from_str(&out).ok()?;
        v["items"]
            .as_array()?
            .first()
            .and_then(|e| e["message"].as_str())
            .map(str::to_string)
    });
    let (_, image) = claim_image(lab);
    assert!(
        event.ends_with(&format!("rbd: image {image} is locked by other nodes")),
        "event: {event}"
    );
    let status = lab.kubectl_ok(&["get", "pod", &name, "--no-headers"]);
    assert!(
        status.contains("ContainerCreating"),
        "still blocked: {status}"
    );

    // The lock is node1's, taken from node1's own address.
    let spec = format!("rbd/{image}");
    let mut ls = lab.ceph_cmd("rbd");
    ls.args(["lock", "ls", "--format", "json", &spec]);
    let locks: Value = serde_json::from_str(&Lab::run_ok(ls)).unwrap_or(Value::Null);
    let (locker, cookie, address) = match &locks {
        Value::Array(a) => (
            a[0]["locker"].clone(),
            a[0]["id"].clone(),
            a[0]["address"].clone(),
        ),
        Value::Object(m) => {
            let (id, l) = m
                .iter()
                .next()
                .unwrap_or_else(|| panic!("no lock: {locks}"));
            (
                l["locker"].clone(),
                Value::String(id.clone()),
                l["address"].clone(),
            )
        }
        other => panic!("unexpected lock listing {other}"),
    };
    assert_eq!(cookie, "kubelet_lock_magic_node1");
    let addr = address.as_str().unwrap_or_default();
    assert!(
        addr.starts_with(&format!("{}:", lab.node_ip("node1"))),
        "lock address {addr} is node1's IP {}",
        lab.node_ip("node1")
    );

    // The operator's usual fix: rbd lock remove.
    let mut rm = lab.ceph_cmd("rbd");
    rm.args([
        "lock",
        "rm",
        &spec,
        "kubelet_lock_magic_node1",
        locker.as_str().unwrap_or_default(),
    ]);
    Lab::run_ok(rm);
    wait_for("the pod to run", Duration::from_secs(60), || {
        let s = lab.kubectl_ok(&["get", "pod", &name, "--no-headers"]);
        s.contains("Running").then_some(())
    });
    let mut ls = lab.ceph_cmd("rbd");
    ls.args(["lock", "ls", "--format", "json", &spec]);
    let after = Lab::run_ok(ls);
    assert!(
        after.contains("kubelet_lock_magic_node2"),
        "node2 now holds the lock: {after}"
    );
    assert!(
        after.contains(&format!("{}:0/", lab.node_ip("node2"))),
        "from node2's address: {after}"
    );
}
