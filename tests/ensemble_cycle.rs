//! 3 -> 5 -> 3 through the member-aware scaling wizard, in the real console, against
//! real etcd in the lab (`etcd-join-aware`: a StatefulSet whose start script joins an
//! existing cluster when its member was added first). After each change `etcdctl
//! member list` and `endpoint health` (run in a member's pod, as an operator would)
//! show exactly the expected voters, no learner left and every member healthy; the
//! claims of removed members stay (deleting them was not chosen).

mod common;

use std::time::{Duration, Instant};

use common::pty::{Console, Options};
use common::{Lab, shared};

fn lab() -> &'static Lab {
    shared("enscycle", "etcd-join-aware", &["--no-ceph"])
}

/// `etcdctl` run inside pod `pod` against its own client port.
fn etcdctl(lab: &Lab, pod: &str, args: &[&str]) -> std::process::Output {
    let mut argv = vec!["exec", pod, "--", "etcdctl"];
    argv.extend_from_slice(args);
    lab.kubectl(&argv)
}

/// `(name, is learner)` of every member, sorted, once `etcdctl member list` answers.
fn members(lab: &Lab) -> Vec<(String, bool)> {
    common::wait_for("etcdctl member list", Duration::from_secs(60), || {
        let out = etcdctl(lab, "etcd-0", &["member", "list"]);
        out.status.success().then(|| {
            let mut m: Vec<(String, bool)> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter_map(|l| {
                    let cols: Vec<&str> = l.split(", ").collect();
                    (cols.len() == 6).then(|| (cols[2].to_string(), cols[5] == "true"))
                })
                .collect();
            m.sort();
            m
        })
    })
}

/// Waits until `etcdctl endpoint health --cluster` says `n` healthy endpoints.
fn healthy(lab: &Lab, n: usize) {
    common::wait_for(
        &format!("{n} healthy members"),
        Duration::from_secs(60),
        || {
            let out = etcdctl(
                lab,
                "etcd-0",
                &["endpoint", "health", "--cluster", "-w", "json"],
            );
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            (text.matches("\"health\":true").count() == n && !text.contains("\"health\":false"))
                .then_some(())
        },
    );
}

fn names(n: usize) -> Vec<(String, bool)> {
    (0..n).map(|i| (format!("etcd-{i}"), false)).collect()
}

/// Asks the wizard for `replicas`, walks its pages, types the name and waits for the
/// plan's end; returns how long the run took.
fn scale(console: &mut Console, replicas: usize, from: usize) -> Duration {
    console.send(&format!(":scale default/etcd {replicas}\r"));
    console.wait("the assessed wizard", Duration::from_secs(30), |s| {
        s.contains("The ensemble now") && s.contains("Preflight")
    });
    console.send("\r");
    console.wait_text(&format!("{from} voters q"), Duration::from_secs(5));
    console.send("\r\r");
    console.wait_text("Type etcd", Duration::from_secs(5));
    let started = Instant::now();
    console.send("etcd\r");
    let done = console.wait("the plan's end", Duration::from_secs(420), |s| {
        s.contains('✗') || common::pty::all_steps_done(s)
    });
    assert!(!done.contains('✗'), "a step failed:\n{done}");
    started.elapsed()
}

#[test]
fn three_to_five_to_three_keeps_every_member_healthy() {
    let lab = lab();
    assert_eq!(members(lab), names(3));
    healthy(lab, 3);
    let mut console = Console::start(lab, Options::default());
    // The members poll has seen the three voters before the wizard is asked.
    console.send("9");
    console.wait_text("3 voters · quorum 2 · tolerates 1", Duration::from_secs(90));

    let up = scale(&mut console, 5, 3);
    assert_eq!(members(lab), names(5), "5 voters, no learner left");
    healthy(lab, 5);
    assert_eq!(
        lab.kubectl_ok(&["get", "sts", "etcd", "-o", "jsonpath={.spec.replicas}"]),
        "5"
    );

    // Let the poll see the five before asking again.
    console.send("\x1b");
    console.send("9");
    console.wait_text("5 voters · quorum 3 · tolerates 2", Duration::from_secs(30));
    let down = scale(&mut console, 3, 5);
    assert_eq!(members(lab), names(3));
    healthy(lab, 3);
    assert_eq!(
        lab.kubectl_ok(&["get", "sts", "etcd", "-o", "jsonpath={.spec.replicas}"]),
        "3"
    );
    // Their claims stay: deleting them was not chosen.
    for claim in ["data-etcd-3", "data-etcd-4"] {
        assert!(
            lab.kubectl(&["get", "pvc", claim]).status.success(),
            "{claim} was deleted"
        );
    }
    eprintln!("3 -> 5 took {up:?}, 5 -> 3 took {down:?} (plan runs, after the typed name)");
}
