//! The `rbd-stale-lock` scenario (node1's kubelet died holding the RBD lock) as tests
//! read it from outside: the moved pod stuck on node2, its image, the image's locks and
//! the OSD blocklist, through kubectl and the real `rbd`/`ceph` CLIs.

use std::time::Duration;

use serde_json::Value;

use super::{Lab, wait_for};

/// `kubectl ... -o json` parsed (`Null` when the output is not JSON).
pub fn json(lab: &Lab, args: &[&str]) -> Value {
    serde_json::from_str(&lab.kubectl_ok(args)).unwrap_or(Value::Null)
}

/// The index-api pod the Deployment moved to node2, where it waits on node1's lock.
pub fn moved_pod(lab: &Lab) -> Value {
    wait_for(
        "the moved pod stuck on node2",
        Duration::from_secs(120),
        || {
            let list = json(lab, &["get", "pods", "-l", "app=index-api", "-o", "json"]);
            list["items"]
                .as_array()?
                .iter()
                .find(|p| {
                    p["spec"]["nodeName"] == "node2" && p["metadata"]["deletionTimestamp"].is_null()
                })
                .cloned()
        },
    )
}

/// The moved pod's name.
pub fn moved_pod_name(lab: &Lab) -> String {
    moved_pod(lab)["metadata"]["name"]
        .as_str()
        .unwrap_or_else(|| panic!("the moved pod has no name"))
        .to_string()
}

/// `(pv name, rbd image)` behind the index-api claim.
pub fn claim_image(lab: &Lab) -> (String, String) {
    let pvc = json(lab, &["get", "pvc", "index-api-pvc", "-o", "json"]);
    let pv_name = pvc["spec"]["volumeName"]
        .as_str()
        .unwrap_or_else(|| panic!("index-api-pvc is not bound: {pvc}"))
        .to_string();
    let pv = json(lab, &["get", "pv", &pv_name, "-o", "json"]);
    let image = pv["spec"]["rbd"]["image"]
        .as_str()
        .unwrap_or_else(|| panic!("no rbd image in {pv}"))
        .to_string();
    (pv_name, image)
}

/// `rbd lock ls --format json` as `(locker, cookie, address)` rows.
pub fn locks(lab: &Lab, spec: &str) -> Vec<(String, String, String)> {
    let mut ls = lab.ceph_cmd("rbd");
    ls.args(["lock", "ls", "--format", "json", spec]);
    let v: Value = serde_json::from_str(&Lab::run_ok(ls)).unwrap_or(Value::Null);
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    match v {
        Value::Array(a) => a
            .iter()
            .map(|l| (s(&l["locker"]), s(&l["id"]), s(&l["address"])))
            .collect(),
        Value::Object(m) => m
            .iter()
            .map(|(id, l)| (s(&l["locker"]), id.clone(), s(&l["address"])))
            .collect(),
        _ => Vec::new(),
    }
}

/// `ceph osd blocklist ls` (the entries are on stdout, the count on stderr).
pub fn blocklist(lab: &Lab) -> String {
    let mut c = lab.ceph_cmd("ceph");
    c.args(["osd", "blocklist", "ls"]);
    let out = c
        .output()
        .unwrap_or_else(|e| panic!("ceph osd blocklist ls: {e}"));
    assert!(out.status.success(), "ceph osd blocklist ls failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The blocklist line of `addr` has an expiry (`addr 2026-11-27T11:02:03.000000+0000`).
pub fn blocklisted_with_expiry(list: &str, addr: &str) -> bool {
    list.lines().any(|l| {
        let mut parts = l.split_whitespace();
        parts.next() == Some(addr)
            && parts
                .next()
                .is_some_and(|t| t.len() >= 19 && t.as_bytes()[4] == b'-' && t.contains('T'))
    })
}

/// Waits until the kubelet reported the pod's mount failure (the lock is in its way).
pub fn wait_failed_mount(lab: &Lab, pod: &str) {
    wait_for("the FailedMount event", Duration::from_secs(60), || {
        let v = json(
            lab,
            &[
                "get",
                "events",
                "--field-selector",
                &format!("involvedObject.name={pod},reason=FailedMount"),
                "-o",
                "json",
            ],
        );
        (!v["items"].as_array()?.is_empty()).then_some(())
    });
}
