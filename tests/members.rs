//! Ensemble members against real etcd (`etcd-scaled-down`: three members, the
//! StatefulSet scaled 3 -> 2 without `etcdctl member remove`, claim data-etcd-2 kept):
//! `kcops check --json` polls the members and reports exactly the orphan etcd-2
//! (Critical: two healthy voters of three tolerate no further failure) and the stale
//! claim; pane 9 of the real console, 80x24, shows the three members, etcd-2 without
//! a pod and unreachable. Every kcops process starts through `common::kcops_command` /
//! `kcops_argv`, so the lab's pod IPs are reached the way the lab makes them reachable.

mod common;

use std::time::{Duration, Instant};

use common::pty::{Console, Options};
use common::{Lab, shared};

fn lab() -> &'static Lab {
    shared("members", "etcd-scaled-down", &["--no-ceph"])
}

/// `(id, severity, object)` of the report's `members.*` findings.
fn member_findings(report: &serde_json::Value) -> Vec<(String, String, String)> {
    report["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["id"].as_str().is_some_and(|i| i.starts_with("members.")))
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap_or_default().to_string();
            (s("id"), s("severity"), s("object"))
        })
        .collect()
}

#[test]
fn check_reports_the_orphan_and_the_stale_claim_exactly() {
    let lab = lab();
    lab.wait_etcd_scaled_down();
    let want = vec![
        (
            "members.orphan".to_string(),
            "critical".to_string(),
            "EtcdMember default/etcd-2".to_string(),
        ),
        (
            "members.stale-claim".to_string(),
            "warning".to_string(),
            "PersistentVolumeClaim default/data-etcd-2".to_string(),
        ),
    ];
    // The remaining members settle (a new leader may be elected) within seconds.
    let deadline = Instant::now() + Duration::from_secs(90);
    let (code, report) = loop {
        let (code, report) = lab.check_json_no_ceph();
        if member_findings(&report) == want || Instant::now() > deadline {
            break (code, report);
        }
        std::thread::sleep(Duration::from_secs(2));
    };
    assert_eq!(member_findings(&report), want, "{report:#}");
    assert_eq!(code, 2, "a critical finding: exit code 2");
    let orphan = report["findings"]
        .as_array()
        .and_then(|a| a.iter().find(|f| f["id"] == "members.orphan"))
        .cloned()
        .unwrap_or_default();
    let text = orphan.to_string();
    assert!(text.contains("etcdctl member remove"), "{text}");
    assert!(
        text.contains("3 voters · quorum 2 · tolerates 1; 2 of 3 voters healthy"),
        "{text}"
    );
    assert_eq!(orphan["subject"]["kind"], "EtcdMember");
}

#[test]
fn pane_9_shows_three_members_with_etcd_2_unreachable_and_podless() {
    let lab = lab();
    lab.wait_etcd_scaled_down();
    let mut console = Console::start(
        lab,
        Options {
            rows: 24,
            cols: 80,
            ..Default::default()
        },
    );
    console.wait_text("Overview", Duration::from_secs(30));
    console.send("9");
    console.wait_text("9:Members", Duration::from_secs(10));
    let screen = console.wait("etcd's three members", Duration::from_secs(60), |s| {
        s.contains("etcd-0")
            && s.contains("etcd-1")
            && s.contains("etcd-2")
            && s.contains("unreachable")
    });
    assert!(
        screen.contains("3 voters · quorum 2 · tolerates 1"),
        "{screen}"
    );
    let row = |name: &str| {
        screen
            .lines()
            .find(|l| l.trim_start_matches(['│', ' ']).starts_with(name))
            .unwrap_or_else(|| panic!("no row {name}:\n{screen}"))
            .to_string()
    };
    for healthy in ["etcd-0", "etcd-1"] {
        let r = row(healthy);
        assert!(r.contains("healthy") && !r.contains("unreachable"), "{r}");
    }
    let gone = row("etcd-2");
    assert!(
        gone.contains("unreachable") && gone.contains("no pod"),
        "{gone}"
    );
    assert_eq!(
        screen.matches("healthy").count() - screen.matches("unhealthy").count(),
        2,
        "only etcd-0 and etcd-1 are healthy:\n{screen}"
    );
}
