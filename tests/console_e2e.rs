//! End to end: the real `kcops` binary in a pseudo-terminal against a running lab,
//! reading the screen with a VT100 parser, driven by keys like an operator.

mod common;

use std::time::{Duration, Instant};

use common::pty::{Console, Options};
use common::{Lab, shared};

fn lab() -> &'static Lab {
    shared("e2e", "healthy", &["--no-ceph"])
}

const T: Duration = Duration::from_secs(30);

#[test]
fn nodes_pane_switching_and_filter() {
    let lab = lab();
    let mut c = Console::start(lab, Options::default());
    c.wait_text("Findings", T);
    c.send("2");
    let s = c.wait("the three nodes", T, |s| {
        s.contains("master") && s.contains("node1") && s.contains("node2")
    });
    assert!(s.contains("Ready"), "{s}");
    c.send("3");
    c.wait("the pods pane", T, |s| {
        s.contains("coredns") && s.contains("kube-proxy")
    });
    c.send("/coredns\r");
    let s = c.wait("only coredns rows", T, |s| {
        s.contains("coredns") && !s.contains("kube-proxy")
    });
    assert!(s.contains("filter: coredns"), "{s}");
    c.send("/");
    c.send("\x1b");
    c.wait("the filter cleared", T, |s| s.contains("kube-proxy"));
    c.send(":nodes\r");
    c.wait_text("Nodes [all]", T);
}

#[test]
fn pod_logs_are_shown() {
    let lab = lab();
    let mut c = Console::start(lab, Options::default());
    c.wait_text("Findings", T);
    c.send("3");
    c.wait_text("coredns", T);
    c.send("/coredns\r");
    c.wait("only coredns", T, |s| !s.contains("kube-proxy"));
    c.send("l");
    let s = c.wait("log lines", T, |s| {
        s.contains("logs Pod kube-system/coredns")
    });
    let expected = lab.kubectl_ok(&["logs", "-n", "kube-system", "deploy/coredns", "--tail=1"]);
    let last = expected
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_string();
    assert!(!last.is_empty());
    c.wait(&format!("the log line {last:?}"), T, |s| {
        s.contains(&last[..last.len().min(40)])
    });
    let _ = s;
    c.send("\x1b");
    c.wait("logs closed", T, |s| !s.contains("logs Pod"));
}

#[test]
fn pod_deleted_elsewhere_disappears_while_others_stay() {
    let lab = lab();
    let ns_file = lab.runtime_dir.join("e2e-del-ns.yaml");
    std::fs::write(
        &ns_file,
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: e2e-del\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    lab.kubectl_ok(&["create", "-f", &ns_file.display().to_string()]);
    for name in ["victim", "bystander"] {
        lab.kubectl_ok(&[
            "run",
            name,
            "-n",
            "e2e-del",
            "--image=nginx",
            "--restart=Never",
        ]);
    }
    let mut c = Console::start(lab, Options::default());
    c.wait_text("Findings", T);
    c.send("3");
    c.send(":pods e2e-del\r");
    c.wait("both pods", T, |s| {
        s.contains("victim") && s.contains("bystander")
    });
    lab.kubectl_ok(&[
        "delete",
        "pod",
        "victim",
        "-n",
        "e2e-del",
        "--grace-period=0",
        "--force",
    ]);
    let s = c.wait("victim gone", T, |s| !s.contains("victim"));
    assert!(s.contains("bystander"), "{s}");
}

#[test]
fn recovers_after_apiserver_restart_and_restores_terminal_on_sigterm() {
    let lab = Lab::start("e2erestart", "healthy", &["--no-ceph"]);
    let mut c = Console::start(&lab, Options::default());
    c.wait_text("Findings", T);
    c.send("2");
    c.wait_text("node2", T);
    let stop = lab.kcops_lab(&["stop", "apiserver"]);
    assert!(stop.status.success());
    c.wait("the connection error", T, |s| {
        s.contains("cannot reach the API server") && s.contains("retrying")
    });
    let start = lab.kcops_lab(&["start", "apiserver"]);
    assert!(start.status.success());
    lab.kubectl_ok(&["cordon", "node2"]);
    c.wait("recovery and the cordon", Duration::from_secs(60), |s| {
        s.contains("SchedulingDisabled") && !s.contains("cannot reach")
    });
    // SIGTERM: the console leaves the alternate screen before exiting.
    let pid = c.child.process_id().unwrap_or_else(|| panic!("no pid"));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap_or_else(|e| panic!("cannot signal the console: {e}"));
    let deadline = Instant::now() + T;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = c.child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        matches!(c.child.try_wait(), Ok(Some(_))),
        "kcops exited on SIGTERM"
    );
    std::thread::sleep(Duration::from_millis(300));
    let raw = c.raw.lock().map(|r| r.clone()).unwrap_or_default();
    let text = String::from_utf8_lossy(&raw);
    let enter = text
        .rfind("\x1b[?1049h")
        .unwrap_or_else(|| panic!("never entered the alternate screen"));
    let leave = text
        .rfind("\x1b[?1049l")
        .unwrap_or_else(|| panic!("terminal not restored"));
    assert!(leave > enter, "the alternate screen was left last");
}
