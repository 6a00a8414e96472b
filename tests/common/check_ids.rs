//! `kcops check --json` reports read as finding ids, for the tests that assert the
//! exact id set of a lab (and wait for it to settle).

use std::time::{Duration, Instant};

use serde_json::Value;

use super::{CephUser, Lab};

pub fn findings(report: &Value) -> &[Value] {
    report["findings"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// The sorted ids of a report (each once).
pub fn ids(report: &Value) -> Vec<String> {
    let mut v: Vec<String> = findings(report)
        .iter()
        .filter_map(|f| f["id"].as_str().map(str::to_string))
        .collect();
    v.sort();
    v.dedup();
    v
}

/// The findings with `id`.
pub fn with(id: &str, report: &Value) -> Vec<Value> {
    findings(report)
        .iter()
        .filter(|f| f["id"] == id)
        .cloned()
        .collect()
}

pub fn text(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

pub fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Runs `kcops check` until its id set is `want` and stays so for `stable`.
pub fn wait_for_ids(
    lab: &Lab,
    ceph: &CephUser,
    want: &[&str],
    stable: Duration,
    timeout: Duration,
) -> (i32, Value) {
    let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
    want.sort();
    let deadline = Instant::now() + timeout;
    let mut since: Option<Instant> = None;
    loop {
        let (code, report) = lab.check_json(ceph);
        if ids(&report) == want {
            if since.get_or_insert_with(Instant::now).elapsed() >= stable {
                return (code, report);
            }
        } else {
            since = None;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {want:?}; last report:\n{}",
            text(&report)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}
