//! The console as an on-call user meets it over SSH: the real `kcops` binary in an
//! 80x24 pseudo-terminal on one shared `rbd-stale-lock` lab with real Ceph (node1's
//! kubelet died holding the RBD lock of the pod that moved to node2).
//!
//! Each test reproduces a usability defect of issue 15 at that size: the Overview's
//! third finding reached and acted on, a wizard run whose last step stays on screen,
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

/// Defects 1 and 2: at 80x24 the Overview's third finding (the image's stale lock)
/// is selected with `j`, its full text shows, the footer names its fix key, and `u`
/// opens the lock wizard on that image; the plan, the typed name and the run's
/// progress to its last step stay visible.
#[test]
fn third_finding_acted_on_and_the_wizard_run_to_its_last_step_at_80x24() {
    let lab = lab();
    moved_pod_name(lab);
    let (_, image) = claim_image(lab);
    let mut c = small(lab, true);
    c.wait("three findings", Duration::from_secs(180), |s| {
        s.contains("Findings (1/3)")
    });
    c.send("j");
    c.send("j");
    // The third is the image's stale lock or the pod stuck behind it (both
    // Critical); either way its fix is the lock wizard.
    let s = c.wait("the third finding selected", T, |s| {
        s.contains("Findings (3/3)")
            && (s.contains("┌ rbd.stale-lock RbdImage") || s.contains("┌ pod.volume-locked Pod"))
    });
    assert!(
        s.contains("u remove the stale lock (wizard)"),
        "its fix key in the footer: {s}"
    );
    assert!(
        squash(&s).contains(&squash(&image)),
        "its text names the image: {s}"
    );
    c.send("u");
    c.wait(&format!("the wizard on the image {image}"), T, |s| {
        s.contains("Remove the stale lock on RBD image rbd/")
            && s.contains("1. What is stuck")
            && squash(s).contains(&squash(&format!("rbd/{image}")))
    });
    // Through the pages to the plan, whose field asks for the name.
    let mut s = String::new();
    for _ in 0..6 {
        s = c.screen();
        if squash(&s).contains(&squash(&format!("Type {image} and Enter to run"))) {
            break;
        }
        c.send("\r");
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        squash(&s).contains(&squash(&format!("Type {image} and Enter to run"))),
        "the prompt is on screen: {s}"
    );
    c.send(&image);
    let s = c.wait("the typed name", T, |s| {
        squash(s).contains(&squash(&format!(
            "to run (esc: options and dry-run): {image}"
        )))
    });
    assert!(s.contains("Type "), "{s}");
    c.send("\r");
    let s = c.wait("the plan to end", Duration::from_secs(240), |s| {
        s.contains(": done (") || s.contains("stopped at step")
    });
    assert!(s.contains(": done ("), "the plan ran to its end: {s}");
    assert!(all_steps_done(&s), "the last step is on screen: {s}");
}
