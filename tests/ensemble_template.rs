//! The field report's etcd template (every member starts with `--initial-cluster-state
//! new`) cannot grow: in the real console the scaling wizard refuses 3 -> 4 and names
//! `:etcd-join-template`, whose plan changes the start script and rolls it out member
//! by member with quorum kept (every member back on the new revision, three healthy
//! voters after); then 3 -> 4 through the wizard joins a fourth voter.
//! Checked with `etcdctl` in a member's pod, as an operator would. The lab is
//! `etcd-scaled-down`, first scaled back to 3 with kubectl (etcd-2 returns on its
//! kept data, still a member).

mod common;

use std::time::{Duration, Instant};

use common::pty::{Console, Options};
use common::{Lab, shared, wait_for};

fn lab() -> &'static Lab {
    shared("enstemplate", "etcd-scaled-down", &["--no-ceph"])
}

fn etcdctl(lab: &Lab, args: &[&str]) -> std::process::Output {
    let mut argv = vec!["exec", "etcd-0", "--", "etcdctl"];
    argv.extend_from_slice(args);
    lab.kubectl(&argv)
}

/// Waits until `etcdctl member list` shows exactly `n` started voters, no learner,
/// and `endpoint health --cluster` says every one is healthy.
fn voters(lab: &Lab, n: usize) {
    wait_for(
        &format!("{n} healthy voters"),
        Duration::from_secs(120),
        || {
            let list = etcdctl(lab, &["member", "list"]);
            let text = String::from_utf8_lossy(&list.stdout).into_owned();
            let rows: Vec<Vec<&str>> = text
                .lines()
                .map(|l| l.split(", ").collect::<Vec<_>>())
                .filter(|c| c.len() == 6)
                .collect();
            let ok = rows.len() == n && rows.iter().all(|c| c[1] == "started" && c[5] == "false");
            let health = etcdctl(lab, &["endpoint", "health", "--cluster", "-w", "json"]);
            let h = String::from_utf8_lossy(&health.stdout).into_owned();
            (ok && h.matches("\"health\":true").count() == n).then_some(())
        },
    );
}

/// Pages forward until the typed confirmation is asked for, then types it and waits
/// for every step to have run.
fn confirm_and_run(console: &mut Console, lab: &Lab, pod: &str) -> Duration {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !console.screen().contains("Type etcd") {
        assert!(
            Instant::now() < deadline,
            "no confirmation asked:\n{}",
            console.screen()
        );
        console.send("\r");
        std::thread::sleep(Duration::from_millis(700));
    }
    let started = Instant::now();
    console.send("etcd\r");
    let done = console.wait("the plan's end", Duration::from_secs(420), |s| {
        s.contains('✗') || common::pty::all_steps_done(s)
    });
    assert!(
        !done.contains('✗'),
        "a step failed:\n{done}\n{pod}'s log:\n{}",
        {
            let o = lab.kubectl(&["logs", pod, "--tail", "25"]);
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            )
        }
    );
    started.elapsed()
}

/// Opens `:scale default/etcd 4` and runs it. A member the roll restarted may read
/// unhealthy for a poll or two (its first reads after the leader changed fail), and
/// the wizard rightly refuses then: closed and opened again, as an operator would,
/// until the ensemble reads healthy.
fn scale_to_four_once_healthy(console: &mut Console, lab: &Lab) -> Duration {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        console.send(":scale default/etcd 4\r");
        console.wait("the assessed wizard", Duration::from_secs(30), |s| {
            s.contains("The ensemble now") && s.contains("Preflight")
        });
        let pages = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = console.screen();
            if screen.contains("Type etcd") {
                return confirm_and_run(console, lab, "etcd-3");
            }
            if screen.contains("not healthy and would stay") {
                break;
            }
            assert!(Instant::now() < pages, "no confirmation asked:\n{screen}");
            console.send("\r");
            std::thread::sleep(Duration::from_millis(700));
        }
        assert!(
            Instant::now() < deadline,
            "a member stayed unhealthy for 90 s:\n{}",
            console.screen()
        );
        console.send("\x1b");
        std::thread::sleep(Duration::from_secs(5));
    }
}

#[test]
fn the_field_template_is_changed_then_a_fourth_member_joins() {
    let lab = lab();
    wait_for(
        "the timeline's scale-down",
        Duration::from_secs(240),
        || {
            let pods = lab.kubectl_ok(&["get", "pods", "-l", "component=etcd", "-o", "name"]);
            let replicas =
                lab.kubectl_ok(&["get", "sts", "etcd", "-o", "jsonpath={.spec.replicas}"]);
            (replicas == "2" && !pods.contains("etcd-2")).then_some(())
        },
    );
    lab.kubectl_ok(&["scale", "sts", "etcd", "--replicas=3"]);
    voters(lab, 3);

    let mut console = Console::start(lab, Options::default());
    console.send("9");
    console.wait_text("3 voters · quorum 2 · tolerates 1", Duration::from_secs(90));

    // The field template cannot join: the wizard refuses and names the fix.
    console.send(":scale default/etcd 4\r");
    console.wait("the assessed wizard", Duration::from_secs(30), |s| {
        s.contains("The ensemble now") && s.contains("Preflight")
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while !console.screen().contains(":etcd-join-template") {
        assert!(
            Instant::now() < deadline,
            "the blocker does not name the template wizard:\n{}",
            console.screen()
        );
        console.send("\r");
        std::thread::sleep(Duration::from_millis(700));
    }
    assert!(
        !console.screen().contains("Type etcd"),
        "{}",
        console.screen()
    );
    console.send("\x1b");

    let revision = || {
        lab.kubectl_ok(&[
            "get",
            "sts",
            "etcd",
            "-o",
            "jsonpath={.status.updateRevision}",
        ])
    };
    let before = revision();
    console.send(":etcd-join-template default/etcd\r");
    console.wait_text("Preflight", Duration::from_secs(30));
    let rolled = confirm_and_run(&mut console, lab, "etcd-0");
    assert_ne!(revision(), before, "the template did not change");
    let script = lab.kubectl_ok(&[
        "get",
        "pod",
        "etcd-0",
        "-o",
        "jsonpath={.spec.containers[0].command}",
    ]);
    assert!(script.contains("existing"), "{script}");
    voters(lab, 3);

    // Now the fourth member joins through the wizard.
    console.send("\x1b");
    console.send("9");
    console.wait_text("3 voters · quorum 2 · tolerates 1", Duration::from_secs(30));
    let grew = scale_to_four_once_healthy(&mut console, lab);
    voters(lab, 4);
    eprintln!("template roll took {rolled:?}, 3 -> 4 took {grew:?}");
}
