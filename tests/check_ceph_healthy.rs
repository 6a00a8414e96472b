//! `kcops check --json` with the lab's Ceph on the `healthy` scenario: the micro
//! cluster is HEALTH_OK, every image has its PV and its locks are held where its pods
//! run, so there is no finding at all — the Ceph checks add none to a healthy cluster;
//! one Ceph health fault gives exactly one `ceph.health`, gone with the fault.

mod common;

use std::time::{Duration, Instant};

use serde_json::Value;

use common::{Lab, shared};

fn lab() -> &'static Lab {
    shared("chkcephok", "healthy", &[])
}

/// `kcops check --json` as the console on master with the lab's admin.
fn check(lab: &Lab) -> (i32, Value) {
    lab.check_json(&lab.ceph_admin())
}

#[tokio::test]
async fn healthy_lab_with_ceph_has_no_findings() {
    let lab = lab();
    // The micro cluster itself: HEALTH_OK, no check at all (kcops would report any).
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let mut health = lab.ceph_cmd("ceph");
        health.args(["health", "detail"]);
        let out = Lab::run_ok(health);
        if out.trim() == "HEALTH_OK" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the lab's Ceph is not healthy: {out}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // RBD images are there (the scenario's volumes), so the image checks had work to do.
    let mut ls = lab.ceph_cmd("rbd");
    ls.args(["ls", "rbd"]);
    assert!(
        !Lab::run_ok(ls).trim().is_empty(),
        "no RBD images in the lab"
    );

    // Settled: no findings, and it stays so.
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut since: Option<Instant> = None;
    let (code, report) = loop {
        let (code, report) = check(lab);
        let empty = report["findings"].as_array().is_some_and(Vec::is_empty);
        if empty {
            if since.get_or_insert_with(Instant::now).elapsed() >= Duration::from_secs(10) {
                break (code, report);
            }
        } else {
            since = None;
        }
        assert!(
            Instant::now() < deadline,
            "findings on a healthy lab with Ceph: {}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(code, 0);
    assert_eq!(report["status"], "healthy");

    // One fault, one finding: the mon allows insecure global_id reclaim again.
    let reclaim = |allow: &str| {
        let mut tell = lab.ceph_cmd("ceph");
        tell.args([
            "tell",
            "mon.a",
            "config",
            "set",
            "auth_allow_insecure_global_id_reclaim",
            allow,
        ]);
        Lab::run_ok(tell);
    };
    reclaim("true");
    let report = wait_for(lab, |r| ids(r) == ["ceph.health"]);
    let f = &report["findings"][0];
    assert_eq!(f["severity"], "warning");
    assert_eq!(
        f["evidence"],
        serde_json::json!([
            "HEALTH_WARN (1 check)",
            "[WRN] AUTH_INSECURE_GLOBAL_ID_RECLAIM_ALLOWED: mon is allowing insecure global_id reclaim",
            "    mon.a has auth_allow_insecure_global_id_reclaim set to true"
        ])
    );
    assert!(
        f["fix"]
            .as_str()
            .unwrap_or_default()
            .contains("`ceph config set mon auth_allow_insecure_global_id_reclaim false`"),
        "{f}"
    );
    reclaim("false");
    wait_for(lab, |r| ids(r).is_empty());
}

fn ids(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Runs `kcops check` until its report passes `ok` (within a minute).
fn wait_for(lab: &Lab, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, report) = check(lab);
        if ok(&report) {
            return report;
        }
        assert!(
            Instant::now() < deadline,
            "unexpected findings: {}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}
