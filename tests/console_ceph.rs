//! The Ceph pane end to end: the real `kcops` binary in a pseudo-terminal against the
//! `rbd-stale-lock` lab (real Ceph), read with a VT100 parser. The stale lock that
//! node1's dead kubelet left shows on the image row with the node behind it; with the
//! mon stopped the pane shows the error while the other panes keep updating; with the
//! mon back the data returns.

mod common;

use std::time::{Duration, Instant};

use common::pty::{Console, Options};
use common::rbd::{claim_image, moved_pod_name};
use common::{Lab, shared};

fn lab() -> &'static Lab {
    shared("cephpane", "rbd-stale-lock", &[])
}

/// Wide enough for every column of the image row unclipped (the image name alone is
/// 59 characters).
const ROWS: u16 = 50;
const COLS: u16 = 250;

const T: Duration = Duration::from_secs(60);

/// The line of the screen holding `needle` (for messages and per-row checks).
fn line_with<'a>(screen: &'a str, needle: &str) -> Option<&'a str> {
    screen.lines().find(|l| l.contains(needle))
}

#[test]
fn stale_lock_shown_and_mon_outage_survived() {
    let lab = lab();
    // node1's kubelet died holding the lock: the replacement pod waits on node2 for it.
    let pod = moved_pod_name(lab);
    let (pv_name, image) = claim_image(lab);
    let node1_ip = lab.node_ip("node1");

    let mut c = Console::start(
        lab,
        Options {
            rows: ROWS,
            cols: COLS,
            ceph: true,
            ..Options::default()
        },
    );
    c.wait("the console", T, |s| s.contains("1:Overview"));
    c.send(":rbd\r");
    // The row: the lock's cookie names node1 and its address is node1's; the pod on
    // node2; the verdict.
    let s = c.wait("the stale lock on the image row", T, |s| {
        line_with(s, &image).is_some_and(|row| {
            row.contains("kubelet_lock_magic_node1 @node1")
                && row.contains(&format!("{pod}@node2"))
                && row.contains("stale lock: node1 runs no user")
        })
    });
    let row = line_with(&s, &image).unwrap_or_default();
    assert!(row.contains("default/index-api-pvc"), "{s}");
    assert!(row.contains(&pv_name), "{s}");
    // The detail of the (only, so selected) image: every clue, spelled out.
    assert!(
        s.contains(&format!(
            "cookie kubelet_lock_magic_node1, address {node1_ip}:0/"
        )),
        "{s}"
    );
    assert!(
        s.contains("held by node1 (by cookie: node1, by address: node1)"),
        "{s}"
    );
    assert!(
        s.contains(&format!("default/{pod} on node2 (Pending)")),
        "{s}"
    );
    assert!(s.contains("client.admin"), "{s}");
    assert!(!s.contains("last error"), "{s}");
    // No key material anywhere on the screen.
    let keyring = lab
        .state
        .ceph_keyring
        .as_ref()
        .and_then(|k| std::fs::read_to_string(k).ok())
        .unwrap_or_default();
    for key in keyring
        .lines()
        .filter_map(|l| l.trim().strip_prefix("key = "))
    {
        assert!(!s.contains(key.trim()), "a key is on screen:\n{s}");
    }

    // The mon goes away: the pane says so within the refresh timeout, keeping the data.
    let stop = lab.kcops_lab(&["stop", "mon"]);
    assert!(
        stop.status.success(),
        "lab stop mon: {}",
        String::from_utf8_lossy(&stop.stderr)
    );
    let stopped = Instant::now();
    c.send("r");
    let s = c.wait("the Ceph error", Duration::from_secs(25), |s| {
        s.contains("last error")
    });
    eprintln!(
        "the error showed {:?} after the mon stopped: {}",
        stopped.elapsed(),
        line_with(&s, "last error").unwrap_or_default().trim()
    );
    assert!(
        line_with(&s, &image).is_some_and(|row| row.contains("stale lock: node1")),
        "the last data stays: {s}"
    );
    assert!(s.contains("old"), "the data's age is shown: {s}");

    // The other panes keep updating meanwhile.
    c.send("3");
    c.wait("the pods pane", T, |s| s.contains("index-api"));
    lab.kubectl_ok(&[
        "run",
        "ceph-outage-probe",
        "-n",
        "default",
        "--image=nginx",
        "--restart=Never",
    ]);
    c.wait("the pod created during the outage", T, |s| {
        s.contains("ceph-outage-probe")
    });

    // The mon returns: so does the data, and the error goes.
    let start = lab.kcops_lab(&["start", "mon"]);
    assert!(
        start.status.success(),
        "lab start mon: {}",
        String::from_utf8_lossy(&start.stderr)
    );
    c.send("8");
    c.send("r");
    let s = c.wait("the data back and the error gone", T, |s| {
        !s.contains("last error")
            && s.contains("data ")
            && line_with(s, &image).is_some_and(|row| row.contains("@node1"))
    });
    assert!(s.contains("HEALTH_"), "{s}");
    // `:ceph` shows the whole cluster section again.
    c.send(":ceph\r");
    let s = c.wait("the cluster section", T, |s| {
        s.contains("OSDs") && s.contains("RBD pools") && s.contains("blocklist")
    });
    assert!(s.contains("1 up, 1 in, of 1"), "{s}");
}
