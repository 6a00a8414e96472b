//! A ceph-csi volume held by a dead node, through the real `kcops` binary in a
//! pseudo-terminal, on its own `csi-node-lost` lab with real Ceph: k8s-worker-1 went
//! NotReady with orders-db's volume staged (its kernel client's watcher on the image,
//! its VolumeAttachment), the pod was force-deleted and its replacement waits on
//! k8s-worker-2. `kcops check --json` names the stale watcher or the attachment; `u` on
//! the Overview opens the unlock wizard's CSI path; its evidence is read, the image name
//! is typed, and the plan fences k8s-worker-1's client, releases the attachment and
//! waits until the pod runs with the volume attached and staged on k8s-worker-2. Then,
//! from outside (ceph, rbd, kubectl, `kcops check --json`): the fence has an expiry,
//! no watcher or attachment of k8s-worker-1 is left, and the finding is gone.

mod common;

use std::time::Duration;

use common::pty::{Console, Options};
use common::rbd::{blocklist, blocklisted_with_expiry};
use common::{Lab, shared, wait_for};
use serde_json::Value;

fn lab() -> &'static Lab {
    shared("consoleunlockcsi", "csi-node-lost", &[])
}

const DEAD: &str = "k8s-worker-1";
const NEW: &str = "k8s-worker-2";
const POD: &str = "orders-db-0";
const ROWS: u16 = 50;
const COLS: u16 = 250;
const T: Duration = Duration::from_secs(60);
/// The findings of a volume held by a dead node.
const HELD: [&str; 2] = ["rbd.stale-watcher", "pv.attached-elsewhere"];

fn json(lab: &Lab, args: &[&str]) -> Value {
    serde_json::from_str(&lab.kubectl_ok(args)).unwrap_or(Value::Null)
}

/// The claim's volume and its image once provisioned: `(pv, pool/image, image)`.
fn volume(lab: &Lab) -> (String, String, String) {
    let pv = wait_for("the claim bound", T, || {
        let pvc = json(
            lab,
            &["-n", "shop", "get", "pvc", "data-orders-db-0", "-o", "json"],
        );
        pvc["spec"]["volumeName"].as_str().map(str::to_string)
    });
    let v = json(lab, &["get", "pv", &pv, "-o", "json"]);
    let attrs = &v["spec"]["csi"]["volumeAttributes"];
    let image = attrs["imageName"].as_str().unwrap_or_default().to_string();
    let pool = attrs["pool"].as_str().unwrap_or_default();
    assert!(image.starts_with("csi-vol-"), "{v}");
    (pv, format!("{pool}/{image}"), image)
}

/// `rbd status`'s watcher addresses.
fn watchers(lab: &Lab, spec: &str) -> Vec<String> {
    let mut c = lab.ceph_cmd("rbd");
    c.args(["status", "--format", "json", spec]);
    let v: Value = serde_json::from_str(&Lab::run_ok(c)).unwrap_or(Value::Null);
    v["watchers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|w| w["address"].as_str().map(str::to_string))
        .collect()
}

/// The volume's attachments as `(node, attached)`.
fn attachments(lab: &Lab, pv: &str) -> Vec<(String, bool)> {
    json(lab, &["get", "volumeattachments", "-o", "json"])["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|va| va["spec"]["source"]["persistentVolumeName"] == pv)
        .map(|va| {
            (
                va["spec"]["nodeName"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                va["status"]["attached"].as_bool().unwrap_or(false),
            )
        })
        .collect()
}

fn check_ids(lab: &Lab) -> Vec<String> {
    let (_, report) = lab.check_json(&lab.ceph_admin());
    let mut ids: Vec<String> = report["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["id"].as_str().map(str::to_string))
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// The wizard's words in order: of each row its widest cell between borders (the
/// overlay, not the pane behind it), rows joined so wrapped lines read as one.
fn flat(screen: &str) -> String {
    screen
        .lines()
        .filter_map(|l| l.split('│').max_by_key(|c| c.chars().count()))
        .flat_map(str::split_whitespace)
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn a_dead_nodes_csi_volume_is_released_through_the_wizard() {
    let lab = lab();
    let (pv, spec, image) = volume(lab);
    let dead_ip = lab.node_ip(DEAD);
    let new_ip = lab.node_ip(NEW);
    // The replacement waits on k8s-worker-2 while k8s-worker-1's client watches.
    let dead = wait_for("the replacement waiting on k8s-worker-2", T, || {
        let pod = json(lab, &["-n", "shop", "get", "pod", POD, "-o", "json"]);
        let waiting =
            pod["spec"]["nodeName"] == NEW && pod["status"]["phase"].as_str() != Some("Running");
        let dead = watchers(lab, &spec)
            .into_iter()
            .find(|a| a.starts_with(&format!("{dead_ip}:")));
        dead.filter(|_| waiting)
    });
    let before = check_ids(lab);
    assert!(
        HELD.iter().any(|id| before.iter().any(|b| b == id)),
        "kcops check names the held volume: {before:?}"
    );

    let mut c = Console::start(
        lab,
        Options {
            rows: ROWS,
            cols: COLS,
            ceph: true,
            ..Options::default()
        },
    );
    // The Overview names the dead node's hold on the volume; `u` opens the wizard.
    c.wait("the held volume's finding on the overview", T, |s| {
        HELD.iter().any(|id| s.contains(id))
    });
    c.send("u");
    let s = c.wait("the wizard's first page", T, |s| {
        flat(s).contains(&format!(
            "Release volume {pv} (RBD image {spec}) from a dead node"
        )) && s.contains("1. What is stuck")
    });
    let f = flat(&s);
    assert!(f.contains(&format!("Pod shop/{POD} on {NEW}")), "{s}");
    assert!(f.contains("Watcher client."), "{s}");
    c.send("\r");
    let s = c.wait_text(&format!("Node {DEAD} is NotReady, for"), T);
    let f = flat(&s);
    assert!(
        f.contains(&format!("No live pod using this volume runs on {DEAD}")),
        "{s}"
    );
    assert!(
        f.contains(&format!("at {dead} is from {DEAD}'s address ({dead_ip})")),
        "{s}"
    );
    c.send("\r");
    c.wait_text("client.admin may blocklist clients", T);
    c.send("\r");
    let s = c.wait_text(&format!("Confirmation: type \"{image}\""), T);
    let plan = flat(&s);
    assert!(
        plan.contains(&format!("blocklist {dead} for 1h")),
        "the plan fences k8s-worker-1's client first: {s}"
    );
    // While the attachment is left the plan taints the node (the lab's forced detach
    // after the 6 scaled minutes may have come first: then only the fence is needed).
    let taints = plan.contains(&format!(
        "Taint node {DEAD} node.kubernetes.io/out-of-service=nodeshutdown:NoExecute"
    ));
    if taints {
        assert!(
            plan.contains("delete the stale VolumeAttachment instead"),
            "{s}"
        );
        let fence = plan.find("blocklist").unwrap_or(usize::MAX);
        let taint = plan.find("Taint node").unwrap_or(0);
        assert!(fence < taint, "fence before taint: {s}");
    } else {
        assert!(
            attachments(lab, &pv).iter().all(|(n, _)| n != DEAD),
            "no taint only when nothing is attached to {DEAD}: {s}"
        );
    }
    c.wait_text(&format!("Type {image} and Enter to run"), T);
    c.send(&image);
    c.send("\r");
    let s = c.wait("the plan to end", Duration::from_secs(300), |s| {
        s.contains(": done (") || s.contains("stopped at step") || s.contains("ended: not done")
    });
    let f = flat(&s);
    assert!(f.contains(": done ("), "the plan ran to its end: {s}");
    assert!(f.contains("is blocklisted until"), "{s}");
    // The wizard ends on the symptom gone, not only its change applied.
    assert!(
        f.contains(&format!(
            "pod shop/{POD} is Running and Ready on {NEW}; VolumeAttachment csi-"
        )) && f.contains(&format!("RBD image {spec} is staged there")),
        "{s}"
    );
    if taints {
        assert!(
            f.contains(&format!("kubectl taint nodes {DEAD} node.kubernetes.io/out-of-service=nodeshutdown:NoExecute-")),
            "the last screen says how to remove the taint: {s}"
        );
    }
    c.send("\x1b");
    c.wait("the wizard closed", T, |s| !s.contains("1. What is stuck"));

    // From outside.
    let list = blocklist(lab);
    assert!(blocklisted_with_expiry(&list, &dead), "{list}");
    let now = watchers(lab, &spec);
    assert!(
        now.iter().all(|a| !a.starts_with(&format!("{dead_ip}:"))),
        "{now:?}"
    );
    assert!(
        now.iter().any(|a| a.starts_with(&format!("{new_ip}:"))),
        "{now:?}"
    );
    assert_eq!(attachments(lab, &pv), [(NEW.to_string(), true)]);
    let pod = lab.kubectl_ok(&[
        "-n",
        "shop",
        "get",
        "pod",
        POD,
        "--no-headers",
        "-o",
        "wide",
    ]);
    assert!(pod.contains("Running") && pod.contains(NEW), "{pod}");
    let node = json(lab, &["get", "node", DEAD, "-o", "json"]);
    let tainted = node["spec"]["taints"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|t| t["key"] == "node.kubernetes.io/out-of-service" && t["effect"] == "NoExecute");
    assert_eq!(tainted, taints, "{node}");
    let after = check_ids(lab);
    assert!(
        HELD.iter().all(|id| !after.iter().any(|a| a == id)),
        "{after:?}"
    );
    if taints {
        // Opened again, the wizard finds the volume in use where its pod runs; the
        // taint stays while k8s-worker-1 is down, and the commands say when it goes.
        c.send(&format!(":unlock shop/{POD}\r"));
        c.wait_text(&format!("Volume {pv} is in use where its pod runs"), T);
        c.send("\r");
        c.send("\r");
        let s = c.wait_text("Stopped: nothing holds the volume elsewhere", T);
        assert!(
            flat(&s).contains(&format!("kubectl taint nodes {DEAD} node.kubernetes.io/out-of-service=nodeshutdown:NoExecute- # once it is Ready again")),
            "{s}"
        );
        c.send("\x1b");
        c.wait("the wizard closed", T, |s| !s.contains("1. What is stuck"));
        // k8s-worker-1 comes back: the wizard offers to remove the taint.
        let out = lab.kcops_lab(&["start", "node", DEAD]);
        assert!(out.status.success(), "{out:?}");
        wait_for("k8s-worker-1 Ready again", Duration::from_secs(120), || {
            let n = json(lab, &["get", "node", DEAD, "-o", "json"]);
            n["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
                .then_some(())
        });
        c.send(&format!(":unlock shop/{POD}\r"));
        c.wait_text(&format!("Remove the out-of-service taint from {DEAD}"), T);
        c.send("\r");
        c.send("\r");
        c.wait_text(&format!("Type {DEAD} and Enter to run"), T);
        c.send(DEAD);
        c.send("\r");
        let s = c.wait("the untaint to end", T, |s| {
            s.contains(": done (") || s.contains("ended: not done")
        });
        assert!(
            flat(&s).contains(&format!(
                "node {DEAD} no longer has the out-of-service taint"
            )),
            "{s}"
        );
        let node = json(lab, &["get", "node", DEAD, "-o", "json"]);
        assert!(
            !node["spec"]["taints"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|t| t["key"] == "node.kubernetes.io/out-of-service"),
            "{node}"
        );
    }
    // Audited: each mutation's intent and outcome.
    let audit = std::fs::read_to_string(c.dir.join("state/kcops/audit.log"))
        .unwrap_or_else(|e| panic!("audit log: {e}"));
    assert!(
        audit
            .lines()
            .any(|l| l.contains("\"action\":\"blocklist\"") && l.contains("\"result\":\"ok\"")),
        "{audit}"
    );
    if taints {
        assert!(
            audit
                .lines()
                .any(|l| l.contains("\"action\":\"taint-out-of-service\"")
                    && l.contains("\"result\":\"ok\"")),
            "{audit}"
        );
    }
}
