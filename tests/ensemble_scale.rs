//! The member-aware scaling wizard against real etcd in the lab (`etcd-scaled-down`:
//! three members, the StatefulSet scaled 3 -> 2 with a plain `kubectl scale`, member
//! etcd-2 left registered without a pod, claim data-etcd-2 kept). Driven in the real
//! console at 80x24 (started through `common::pty`, so through `kcops_argv`): `:scale
//! default/etcd 2` assesses the orphan, the plan (snapshot, remove etcd-2, verify,
//! delete its claim when chosen) runs after the typed name, and then `etcdctl member
//! list` (run in a member's pod) shows two members, both healthy, and the claim is gone.
//! Before that, 2 -> 1 (removing the healthy etcd-1 while etcd-2 is down) is refused
//! and nothing changes.
//! Then 2 -> 1 with the leader among those going: leadership moves to etcd-0, etcd-1
//! is removed, the StatefulSet scaled, its pod gone, one healthy member left. A
//! read-only console refuses the wizard. One test, in order: each step starts from the
//! state the previous one left.

mod common;

use std::time::{Duration, Instant};

use common::pty::{Console, Options};
use common::{Lab, shared};

fn lab() -> &'static Lab {
    shared("ensscale", "etcd-scaled-down", &["--no-ceph"])
}

/// `etcdctl` run inside pod `pod` (its own client URL), as an operator would.
fn etcdctl(lab: &Lab, pod: &str, args: &[&str]) -> String {
    let ip = lab.kubectl_ok(&["get", "pod", pod, "-o", "jsonpath={.status.podIP}"]);
    let endpoints = format!("--endpoints={ip}:2379");
    let mut argv = vec!["exec", pod, "--", "etcdctl", endpoints.as_str()];
    argv.extend_from_slice(args);
    lab.kubectl_ok(&argv)
}

/// The names in `etcdctl member list` (`id, started, name, peers, clients, learner`).
fn member_names(list: &str) -> Vec<String> {
    let mut names: Vec<String> = list
        .lines()
        .filter_map(|l| {
            let cols: Vec<&str> = l.split(", ").collect();
            (cols.len() == 6).then(|| cols[2].to_string())
        })
        .collect();
    names.sort();
    names
}

#[test]
fn orphan_removal_then_scaling_down_the_leader_through_the_wizard() {
    let lab = lab();
    lab.wait_etcd_scaled_down();
    assert_eq!(
        member_names(&etcdctl(lab, "etcd-0", &["member", "list"])),
        ["etcd-0", "etcd-1", "etcd-2"]
    );
    // A read-only console refuses before assessing anything.
    let mut ro = Console::start(
        lab,
        Options {
            rows: 24,
            cols: 80,
            args: &["--read-only"],
            ..Default::default()
        },
    );
    ro.wait_text("etcd-2 unreachable", Duration::from_secs(60));
    ro.send(":scale default/etcd 2\r");
    ro.wait_text("read-only mode", Duration::from_secs(10));
    let mut console = Console::start(
        lab,
        Options {
            rows: 24,
            cols: 80,
            ..Default::default()
        },
    );
    // The member poll has seen etcd-2 gone (the overview's finding says so) before
    // the wizard is asked.
    console.wait_text("etcd-2 unreachable", Duration::from_secs(60));
    // With etcd-2's pod down, removing a healthy member (2 -> 1 takes etcd-1) is
    // refused before anything runs.
    console.send(":scale default/etcd 1\r");
    console.wait("the assessed wizard", Duration::from_secs(30), |s| {
        s.contains("The ensemble now") && s.contains("Preflight")
    });
    console.send("\r\r\r");
    let stopped = console.wait_text("Nothing was changed", Duration::from_secs(5));
    assert!(stopped.contains("etcd-2 not healthy"), "{stopped}");
    console.send("\x1b");
    assert_eq!(
        member_names(&etcdctl(lab, "etcd-0", &["member", "list"])).len(),
        3,
        "nothing changed"
    );
    assert_eq!(
        lab.kubectl_ok(&["get", "sts", "etcd", "-o", "jsonpath={.spec.replicas}"]),
        "2"
    );
    console.send(":scale default/etcd 2\r");
    console.wait("the assessed wizard", Duration::from_secs(30), |s| {
        s.contains("The ensemble now") && s.contains("Preflight")
    });
    // The ensemble now, After, Preflight, then the plan with its typed confirmation.
    console.send("\r");
    let after = console.wait_text("3 voters q2 tol1 -> 2 q2 tol0", Duration::from_secs(5));
    assert!(after.contains("2 voters tolerate"), "{after}");
    console.send("\r\r");
    let plan = console.wait_text("Type etcd", Duration::from_secs(5));
    assert!(plan.contains("[ ] delete the claims"), "{plan}");
    // Leave the field, choose to delete the claim, back to the field, type the name.
    console.send("\x1b");
    console.wait_text("toggle option", Duration::from_secs(5));
    console.send("c");
    console.wait_text("[x] delete the claims", Duration::from_secs(5));
    console.send("\r");
    console.wait_text("Type etcd", Duration::from_secs(5));
    console.send("etcd\r");
    let done = console.wait("the plan's end", Duration::from_secs(120), |s| {
        s.contains("✓ 4/4") || s.contains('✗')
    });
    assert!(!done.contains('✗'), "a step failed:\n{done}");

    let list = etcdctl(lab, "etcd-0", &["member", "list"]);
    assert_eq!(member_names(&list), ["etcd-0", "etcd-1"], "{list}");
    let health = etcdctl(
        lab,
        "etcd-0",
        &["endpoint", "health", "--cluster", "-w", "json"],
    );
    assert_eq!(
        health.matches("\"health\":true").count(),
        2,
        "both remaining members are healthy: {health}"
    );
    // The claim is gone (or going: its volume's deletion runs after).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let claim = lab.kubectl(&["get", "pvc", "data-etcd-2", "-o", "name"]);
        if !claim.status.success() {
            break;
        }
        assert!(Instant::now() < deadline, "data-etcd-2 is still there");
        std::thread::sleep(Duration::from_millis(500));
    }
    // The snapshot was saved where the plan said.
    let snapshots: Vec<_> = std::fs::read_dir(console.dir.join("state/kcops/snapshots"))
        .unwrap_or_else(|e| panic!("no snapshot directory: {e}"))
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "db"))
        .collect();
    assert_eq!(snapshots.len(), 1, "{snapshots:?}");
    let size = snapshots[0].metadata().map(|m| m.len()).unwrap_or(0);
    assert!(size > 0, "the snapshot is empty");
    // The audit log has one line per step (the snapshot, the removal, the claim).
    let audit = std::fs::read_to_string(console.dir.join("state/kcops/audit.log"))
        .unwrap_or_else(|e| panic!("no audit log: {e}"));
    for action in ["snapshot-save", "member-remove", "delete-pvc"] {
        assert!(audit.contains(action), "{action} not audited:\n{audit}");
    }
    let started = Instant::now();
    scale_down_the_leader(lab, &mut console);
    eprintln!("2 -> 1 with the leader going took {:?}", started.elapsed());
}

/// `(leader's member id in hex, the member ids by endpoint)` from `endpoint status`.
fn leader(lab: &Lab) -> (String, Vec<(String, String)>) {
    let out = etcdctl(
        lab,
        "etcd-0",
        &["endpoint", "status", "--cluster", "-w", "json"],
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let hex = |v: &serde_json::Value| format!("{:x}", v.as_u64().unwrap_or_default());
    let rows = v.as_array().cloned().unwrap_or_default();
    let leader = rows
        .first()
        .map(|r| hex(&r["Status"]["leader"]))
        .unwrap_or_default();
    let ids = rows
        .iter()
        .map(|r| {
            (
                r["Endpoint"].as_str().unwrap_or_default().to_string(),
                hex(&r["Status"]["header"]["member_id"]),
            )
        })
        .collect();
    (leader, ids)
}

/// Makes etcd-1 the leader (asked of the current leader, as etcd requires).
fn make_etcd_1_lead(lab: &Lab) {
    let ip1 = lab.kubectl_ok(&["get", "pod", "etcd-1", "-o", "jsonpath={.status.podIP}"]);
    let (lead, ids) = leader(lab);
    let id1 = ids
        .iter()
        .find(|(e, _)| e.contains(&format!("//{ip1}:")) || e.contains("//etcd-1."))
        .map(|(_, id)| id.clone())
        .unwrap_or_else(|| panic!("etcd-1 not in {ids:?}"));
    if lead == id1 {
        return;
    }
    let lead_ep = ids
        .iter()
        .find(|(_, id)| *id == lead)
        .map(|(e, _)| e.clone())
        .unwrap_or_else(|| panic!("no leader in {ids:?}"));
    let endpoints = format!("--endpoints={lead_ep}");
    lab.kubectl_ok(&[
        "exec",
        "etcd-0",
        "--",
        "etcdctl",
        &endpoints,
        "move-leader",
        &id1,
    ]);
    assert_eq!(leader(lab).0, id1, "etcd-1 leads now");
}

/// 2 -> 1 with the leader going: the wizard hands the leadership over first.
fn scale_down_the_leader(lab: &Lab, console: &mut Console) {
    make_etcd_1_lead(lab);
    // Close the finished wizard, let the poll see the two members, then ask.
    console.send("\x1b");
    std::thread::sleep(Duration::from_secs(6));
    console.send(":scale default/etcd 1\r");
    console.wait("the assessed wizard", Duration::from_secs(30), |s| {
        s.contains("The ensemble now") && s.contains("Preflight")
    });
    console.send("\r");
    console.wait_text("2 voters q2 tol0 -> 1 q1 tol0", Duration::from_secs(5));
    console.send("\r\r");
    console.wait_text("Type etcd", Duration::from_secs(5));
    console.send("etcd\r");
    // Snapshot, move the leader, remove, scale, wait for the pod, verify.
    let done = console.wait("the plan's end", Duration::from_secs(180), |s| {
        s.contains("✓ 6/6") || s.contains('✗')
    });
    assert!(!done.contains('✗'), "a step failed:\n{done}");
    let list = etcdctl(lab, "etcd-0", &["member", "list"]);
    assert_eq!(member_names(&list), ["etcd-0"], "{list}");
    let pods = lab.kubectl_ok(&["get", "pods", "-l", "component=etcd", "-o", "name"]);
    assert_eq!(pods.trim(), "pod/etcd-0");
    let audit = std::fs::read_to_string(console.dir.join("state/kcops/audit.log"))
        .unwrap_or_else(|e| panic!("no audit log: {e}"));
    assert!(audit.contains("move-leader"), "{audit}");
}
