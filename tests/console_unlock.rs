//! A stale RBD lock left by node1's dead kubelet, through the real `kcops` binary in a
//! pseudo-terminal, on its own `rbd-stale-lock` lab with real Ceph: the console flags
//! the stuck pod, `u` on it opens the lock-removal wizard, its pages are read, the
//! image name is typed and the plan runs to the end with progress. Then, from outside
//! (ceph, rbd, kubectl): node1's client is blocklisted with an expiry, node2's kubelet
//! holds the lock, the pod runs.

mod common;

use std::time::Duration;

use common::pty::{Console, Options};
use common::rbd::{blocklist, blocklisted_with_expiry, claim_image, locks, moved_pod_name};
use common::{Lab, shared};

fn lab() -> &'static Lab {
    shared("consoleunlock", "rbd-stale-lock", &[])
}

/// Wide enough for the image name (59 characters) in plan lines.
const ROWS: u16 = 50;
const COLS: u16 = 250;
const T: Duration = Duration::from_secs(60);

#[test]
fn stuck_pod_flagged_then_unlocked_through_the_wizard() {
    let lab = lab();
    // The scenario's moved pod, stuck on node2 behind node1's lock.
    let pod = moved_pod_name(lab);
    let (_, image) = claim_image(lab);
    let spec = format!("rbd/{image}");
    let before = locks(lab, &spec);
    assert_eq!(before.len(), 1, "{before:?}");
    assert_eq!(before[0].1, "kubelet_lock_magic_node1");

    let mut c = Console::start(
        lab,
        Options {
            rows: ROWS,
            cols: COLS,
            ceph: true,
            ..Options::default()
        },
    );
    // The overview names the stale lock (one finding for the root cause) with the
    // stuck pod in its evidence, and `u` there opens the wizard on it.
    c.wait("the stale-lock finding on the overview", T, |s| {
        s.contains("Findings (1/2)") && s.contains("rbd.stale-lock")
    });
    c.send("j");
    c.wait("the stale lock's text with the stuck pod", T, |s| {
        s.contains("Findings (2/2)") && s.contains(&format!("pod default/{pod} waits"))
    });
    c.send("u");
    let s = c.wait("the wizard opened from the overview", T, |s| {
        s.contains(&format!("Remove the stale lock on RBD image {spec}"))
            && s.contains("1. What is stuck")
    });
    assert!(s.contains(&format!("Pod default/{pod} on node2")), "{s}");
    c.send("\x1b");
    c.wait("the wizard closed", T, |s| {
        !s.contains("1. What is stuck") && s.contains("Findings")
    });
    // The Pods pane shows it waiting; `u` on it opens the wizard.
    c.send("3");
    c.wait_text("index-api", T);
    c.send("/index-api\r");
    let s = c.wait("the stuck pod row", T, |s| {
        s.lines()
            .any(|l| l.contains(&pod) && l.contains("ContainerCreating"))
    });
    assert!(!s.contains("coredns"), "filtered: {s}");
    c.send("u");
    let s = c.wait("the wizard's first page", T, |s| {
        s.contains(&format!("Remove the stale lock on RBD image {spec}"))
            && s.contains("1. What is stuck")
    });
    assert!(s.contains("is locked by other nodes"), "{s}");
    assert!(s.contains(&format!("Pod default/{pod} on node2")), "{s}");
    assert!(s.contains("kubelet_lock_magic_node1"), "{s}");
    c.send("\r");
    let s = c.wait_text("Holder node node1 is NotReady", T);
    assert!(
        s.contains("No live pod using this volume runs on node1"),
        "{s}"
    );
    c.send("\r");
    c.wait_text("client.admin may blocklist clients", T);
    c.send("\r");
    let s = c.wait_text(&format!("Confirmation: type \"{image}\""), T);
    assert!(
        s.contains(&format!("blocklist {} for 1h", before[0].2)),
        "the plan fences node1's client first: {s}"
    );
    assert!(s.contains("[ ] delete the stuck pod"), "{s}");
    // The plan page's field has the keys: esc leaves it for the options and dry-run.
    c.wait_text(&format!("Type {image} and Enter to run"), T);
    c.send("\x1b");
    c.wait("the field left", T, |s| !s.contains("and Enter to run"));
    // Dry-run: the plan only.
    c.send("d");
    c.wait_text("Dry run: nothing will be changed.", T);
    assert_eq!(locks(lab, &spec), before, "a dry run changes nothing");
    // Type the image name, run.
    c.send("\r");
    c.wait_text(&format!("Type {image} and Enter to run"), T);
    c.send(&image);
    c.send("\r");
    let s = c.wait("the plan to end", Duration::from_secs(240), |s| {
        s.contains(": done (") || s.contains("stopped at step")
    });
    assert!(s.contains(": done ("), "the plan ran to its end: {s}");
    let ticks = s.lines().filter(|l| l.contains("✓ ")).count();
    assert!(ticks >= 4, "a ✓ per step: {s}");
    assert!(s.contains("is blocklisted until"), "{s}");
    assert!(s.contains("locked by node node2"), "{s}");
    c.send("\x1b");
    c.wait("the wizard closed", T, |s| !s.contains("1. What is stuck"));

    // From outside.
    let list = blocklist(lab);
    assert!(blocklisted_with_expiry(&list, &before[0].2), "{list}");
    let after = locks(lab, &spec);
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(after[0].1, "kubelet_lock_magic_node2");
    assert!(
        after[0]
            .2
            .starts_with(&format!("{}:", lab.node_ip("node2"))),
        "{after:?}"
    );
    let status = lab.kubectl_ok(&["get", "pod", &pod, "--no-headers"]);
    assert!(status.contains("Running"), "{status}");
    // Audited: the dry-run and each mutation.
    let audit = std::fs::read_to_string(c.dir.join("state/kcops/audit.log"))
        .unwrap_or_else(|e| panic!("audit log: {e}"));
    assert!(
        audit
            .lines()
            .any(|l| l.contains("\"action\":\"break-lock\"") && l.contains("\"result\":\"ok\"")),
        "{audit}"
    );
    assert!(audit.contains("\"dry_run\":true"), "{audit}");
}
