//! The console as an on-call user meets it over SSH: the real `kcops` binary in an
//! 80x24 pseudo-terminal on one shared `rbd-stale-lock` lab with real Ceph (node1's
//! kubelet died holding the RBD lock of the pod that moved to node2).
//!
//! Each test reproduces a usability defect of issue 15 at that size: the Overview's
//! last finding reached and acted on, a wizard run whose last step stays on screen,
//! per-pane filters and namespaces, mouse clicks, and no "healthy" without data.

mod common;

use std::time::Duration;

use common::pty::{Console, Options, all_steps_done};
use common::rbd::{claim_image, moved_pod_name};
use common::{Lab, shared};

fn lab() -> &'static Lab {
    shared("small", "rbd-stale-lock", &[])
}

const T: Duration = Duration::from_secs(90);

fn small(lab: &Lab, ceph: bool) -> Console {
    Console::start(
        lab,
        Options {
            rows: 24,
            cols: 80,
            ceph,
            ..Options::default()
        },
    )
}

/// The screen's text without whitespace or box borders, so a line wrapped at 80
/// columns still reads as one.
fn squash(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '│' | '─' | '┌' | '┐' | '└' | '┘'))
        .collect()
}

/// The text inside the overlay box whose top border holds `title` (the pane behind
/// it left out), so its wrapped lines read as one.
fn in_box(s: &str, title: &str) -> String {
    let rows: Vec<Vec<char>> = s.lines().map(|l| l.chars().collect()).collect();
    let Some((top, left)) = rows.iter().enumerate().find_map(|(i, r)| {
        let line: String = r.iter().collect();
        let at = line.find(title)?;
        let left = line[..at].chars().count().checked_sub(2)?;
        (r.get(left) == Some(&'┌')).then_some((i, left))
    }) else {
        return String::new();
    };
    let Some(right) = rows[top].iter().skip(left + 1).position(|c| *c == '┐') else {
        return String::new();
    };
    let right = left + 1 + right;
    rows[top + 1..]
        .iter()
        .take_while(|r| r.get(left) == Some(&'│'))
        .map(|r| r[left + 1..right.min(r.len())].iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Defects 1 and 2: at 80x24 the Overview's last finding (the image's stale lock)
/// is selected with `j`, its full text shows, the footer names its fix key, and `u`
/// opens the lock wizard on that image; the plan, the typed name and the run's
/// progress to its last step stay visible.
#[test]
fn last_finding_acted_on_and_the_wizard_run_to_its_last_step_at_80x24() {
    let lab = lab();
    moved_pod_name(lab);
    let (_, image) = claim_image(lab);
    let mut c = small(lab, true);
    // The node and the stale lock behind the stuck pod: one finding per root cause.
    c.wait("two findings", Duration::from_secs(180), |s| {
        s.contains("Findings (1/2)")
    });
    c.send("j");
    // The last is the image's stale lock (Critical), whose fix is the lock wizard.
    let s = c.wait("the last finding selected", T, |s| {
        s.contains("Findings (2/2)") && s.contains("┌ rbd.stale-lock RbdImage")
    });
    assert!(
        s.contains("u remove the stale lock (wizard)"),
        "its fix key in the footer: {s}"
    );
    assert!(
        squash(&in_box(&s, "rbd.stale-lock")).contains(&squash(&image)),
        "its text names the image: {s}"
    );
    c.send("u");
    c.wait(&format!("the wizard on the image {image}"), T, |s| {
        // Its whole title, though wider than the box's border.
        s.contains("1. What is stuck")
            && squash(&in_box(s, "Remove the stale lock")).contains(&squash(&format!(
                "Remove the stale lock on RBD image rbd/{image}"
            )))
    });
    // Through the pages to the plan, whose field asks for the name.
    let mut s = String::new();
    for _ in 0..6 {
        s = c.screen();
        if squash(&in_box(&s, "Remove the stale lock"))
            .contains(&squash(&format!("Type {image} and Enter to run")))
        {
            break;
        }
        c.send("\r");
        std::thread::sleep(Duration::from_millis(500));
    }
    let wizard = |s: &str| squash(&in_box(s, "Remove the stale lock"));
    assert!(
        wizard(&s).contains(&squash(&format!("Type {image} and Enter to run"))),
        "the prompt is on screen: {s}"
    );
    c.send(&image);
    c.wait("the typed name after the prompt", T, |s| {
        wizard(s).contains(&squash(&format!(
            "Enter to run (Esc: options and dry-run): {image}"
        )))
    });
    c.send("\r");
    let s = c.wait("the plan to end", Duration::from_secs(240), |s| {
        wizard(s).contains(":done(") || wizard(s).contains("stoppedatstep")
    });
    assert!(
        wizard(&s).contains(":done("),
        "the plan ran to its end: {s}"
    );
    assert!(all_steps_done(&s), "the last step is on screen: {s}");
}

/// Defect 3 at 80x24: with a kubeconfig that does not exist, nothing is called
/// healthy; the Overview says its findings cannot be trusted and the status line why.
#[test]
fn a_missing_kubeconfig_is_never_healthy() {
    let lab = lab();
    let missing = lab.runtime_dir.join("no-such-kubeconfig");
    let c = Console::start(
        lab,
        Options {
            rows: 24,
            cols: 80,
            kubeconfig: Some(&missing),
            ..Options::default()
        },
    );
    let s = c.wait("the overview", T, |s| s.contains("Findings (0)"));
    std::thread::sleep(Duration::from_secs(2));
    let s2 = c.screen();
    for s in [&s, &s2] {
        assert!(!s.contains("healthy"), "{s}");
        assert!(squash(s).contains(&squash("none can be trusted")), "{s}");
    }
    assert!(s2.contains("no kubeconfig found"), "{s2}");
}

/// Defect 5: the lab publishes its story's state through the API
/// (`kube-public/kcops-lab`), which settles once its last timeline step ran.
#[test]
fn the_lab_publishes_its_story_through_the_api() {
    let lab = lab();
    let read = |key: &str| {
        lab.kubectl_ok(&[
            "get",
            "configmap",
            "-n",
            "kube-public",
            "kcops-lab",
            "-o",
            &format!("jsonpath={{.data.{key}}}"),
        ])
    };
    assert_eq!(read("scenario"), "rbd-stale-lock");
    common::wait_for("the story to settle", Duration::from_secs(120), || {
        (read("story") == "settled").then_some(())
    });
    assert_eq!(read("next"), "", "nothing comes after the last step");
}

/// Defect 10: mouse capture stays off (clicks that did nothing are gone, and text
/// can be selected to copy); a click's SGR sequence sent anyway changes nothing.
#[test]
fn mouse_capture_is_off_and_a_click_changes_nothing() {
    let lab = lab();
    let mut c = small(lab, false);
    let before = c.wait("the overview", T, |s| s.contains("Findings ("));
    let raw = c.raw.lock().map(|r| r.clone()).unwrap_or_default();
    let raw = String::from_utf8_lossy(&raw);
    for mode in ["\x1b[?1000h", "\x1b[?1002h", "\x1b[?1003h", "\x1b[?1006h"] {
        assert!(!raw.contains(mode), "mouse mode {mode:?} switched on");
    }
    // A left click on the 3:Pods tab, press and release.
    c.send("\x1b[<0;14;1M\x1b[<0;14;1m");
    let after = c.screen();
    assert!(after.contains(" 1:Overview "), "{after}");
    assert!(!after.contains("<0;14"), "{after}");
    assert_eq!(
        before.lines().next(),
        after.lines().next(),
        "the tab bar is unchanged"
    );
}

/// Defect 7 at 80x24: a `/` filter stays on its pane, `:pods kube-system` changes the
/// Pods pane's namespace only, and its count's denominator is that namespace's pods.
#[test]
fn filter_and_namespace_stay_with_their_pane() {
    let lab = lab();
    let in_kube_system = lab
        .kubectl_ok(&["get", "pods", "-n", "kube-system", "--no-headers"])
        .lines()
        .count();
    let mut c = small(lab, false);
    c.wait("the overview", T, |s| s.contains("Findings ("));
    c.send("2");
    c.wait_text("Nodes [all]", T);
    c.send("/node1\r");
    c.wait("the nodes filtered", T, |s| {
        s.contains("node1") && !s.contains("node2")
    });
    c.send("3");
    let s = c.wait_text("Pods [all]", T);
    assert!(
        !s.contains("filter: node1"),
        "the filter stayed on Nodes: {s}"
    );
    c.send(":pods kube-system\r");
    let s = c.wait_text("Pods [kube-system]", T);
    let count = format!("{in_kube_system}/{in_kube_system}");
    assert!(s.contains(&count), "{count} in kube-system: {s}");
    c.send("5");
    c.wait_text("[all]", T);
    c.send("2");
    let s = c.wait_text("Nodes [all]", T);
    assert!(
        s.contains("filter: node1"),
        "the nodes keep their filter: {s}"
    );
    assert!(!s.contains("node2"), "{s}");
}

/// A NotReady node is never `ok`, and its pods never look healthy: on the Nodes pane
/// node1's conditions lead with its Ready status; on the Pods pane a pod still
/// reported Running on node1 says so and is not in the colour of a Running pod on a
/// Ready node.
#[test]
fn a_not_ready_nodes_rows_follow_its_state() {
    let lab = lab();
    let mut c = Console::start(lab, Options::default());
    c.wait("node1 NotReady", T, |s| s.contains("node.notready"));
    c.send("2");
    let s = c.wait("node1's row", T, |s| s.contains("Ready=Unknown"));
    let node1 = s
        .lines()
        .find(|l| l.contains("│node1 "))
        .unwrap_or_else(|| panic!("no node1 row: {s}"));
    assert!(node1.contains("Ready=Unknown"), "{s}");
    assert!(!node1.split_whitespace().any(|w| w == "ok"), "{s}");
    c.send("3");
    let s = c.wait("a pod on node1 still reported Running", T, |s| {
        s.contains("Running (node NotReady)")
    });
    // Two pods of one DaemonSet, neither selected (the selection has its own colour).
    let name_on = |node_word: &str| -> String {
        s.lines()
            .filter(|l| l.contains("kube-proxy-") && !l.contains("│default"))
            .find(|l| l.contains(node_word))
            .and_then(|l| l.split_whitespace().find(|w| w.starts_with("kube-proxy-")))
            .unwrap_or_else(|| panic!("no kube-proxy row with {node_word}: {s}"))
            .to_string()
    };
    let on_ready = c.fg_of(&name_on(" node2 "), "Running");
    let on_not_ready = c.fg_of(&name_on("(node NotReady)"), "Running");
    assert!(on_ready.is_some() && on_not_ready.is_some(), "{s}");
    assert_ne!(
        on_ready, on_not_ready,
        "the same colour for both ({on_ready:?}): {s}"
    );
}
