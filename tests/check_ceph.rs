//! `kcops check --json` with Ceph on `rbd-stale-lock` (real Ceph): the stale lock that
//! node1's dead kubelet left is found in Ceph and named in the stuck pod's finding; an
//! image no PV references is an orphan; a user that may not blocklist is told how to
//! get the caps; an unreachable mon is reported while the Kubernetes findings stay.
//!
//! The tests share one lab and change its Ceph state, so they take turns ([`SERIAL`]).

mod common;

use std::time::{Duration, Instant};

use serde_json::Value;

use common::{CephUser, Lab, shared};

fn lab() -> &'static Lab {
    shared("chkceph", "rbd-stale-lock", &[])
}

/// One test at a time: each asserts the exact set of finding ids.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The lab's findings once settled, without Ceph data.
const BASE: &[&str] = &["node.notready", "pod.volume-locked"];

/// With Ceph data: the stale lock is one finding (the stuck pod is its evidence).
const CEPH_BASE: &[&str] = &["node.notready", "rbd.stale-lock"];

fn findings(report: &Value) -> &[Value] {
    report["findings"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// The sorted, distinct ids of a report.
fn ids(report: &Value) -> Vec<String> {
    let mut v: Vec<String> = findings(report)
        .iter()
        .filter_map(|f| f["id"].as_str().map(str::to_string))
        .collect();
    v.sort();
    v.dedup();
    v
}

fn with(id: &str, report: &Value) -> Vec<Value> {
    findings(report)
        .iter()
        .filter(|f| f["id"] == id)
        .cloned()
        .collect()
}

fn text(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Runs `kcops check` until its id set is `want` and stays so for `stable`.
fn wait_for_ids(
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
        let (code, report) = lab().check_json(ceph);
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

/// The stuck state with Ceph as admin: the base findings and node1's stale lock.
fn settled() -> (i32, Value) {
    let want = CEPH_BASE.to_vec();
    wait_for_ids(
        &lab().ceph_admin(),
        &want,
        Duration::from_secs(5),
        Duration::from_secs(300),
    )
}

/// `rbd lock ls --format json` of an image: `(cookie, locker, address)`.
fn locks(spec: &str) -> Vec<(String, String, String)> {
    let mut cmd = lab().ceph_cmd("rbd");
    cmd.args(["lock", "ls", "--format", "json", spec]);
    let out = Lab::run_ok(cmd);
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|l| {
                    let s = |k: &str| l[k].as_str().unwrap_or_default().to_string();
                    (s("id"), s("locker"), s("address"))
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn stale_lock_is_found_in_ceph_with_the_stuck_pod_as_evidence() {
    let _turn = SERIAL.lock().await;
    let (code, report) = settled();
    let all = text(&report);
    assert_eq!(code, 2, "{all}");
    assert_eq!(report["status"], "critical");
    assert_eq!(findings(&report).len(), 2, "{all}");

    let stale = &with("rbd.stale-lock", &report)[0];
    let object = stale["object"].as_str().unwrap_or_default();
    let spec = object
        .strip_prefix("RbdImage ")
        .unwrap_or_else(|| panic!("object {object}"));
    assert!(spec.starts_with("rbd/kubernetes-dynamic-pvc-"), "{all}");
    assert_eq!(stale["severity"], "critical");
    assert_eq!(stale["node"], "node1");
    assert_eq!(stale["namespace"], "default");

    // Exactly the lock Ceph has, held from node1's address.
    let held = locks(spec);
    assert_eq!(held.len(), 1, "{held:?}");
    let (cookie, locker, address) = &held[0];
    assert_eq!(cookie, "kubelet_lock_magic_node1");
    assert!(
        address.starts_with(&format!("{}:0/", lab().node_ip("node1"))),
        "{address}"
    );
    let evidence = strings(&stale["evidence"]);
    assert!(
        evidence[0].starts_with(&format!("image {spec}: PV pvc-"))
            && evidence[0].ends_with("(Bound), claim default/index-api-pvc"),
        "{all}"
    );
    assert_eq!(
        evidence[1],
        format!("lock '{cookie}' by {locker} at {address} (advisory, exclusive)")
    );
    assert!(
        evidence[2].starts_with("holder node1: Ready=Unknown since "),
        "{all}"
    );
    assert!(
        evidence[3].starts_with("pod default/index-api-")
            && evidence[3].ends_with(" on node2 (Pending)"),
        "{all}"
    );
    // The stuck pod's own event, in this one finding.
    assert!(
        evidence[4].starts_with("pod default/index-api-")
            && evidence[4].contains(" waits: FailedMount: ")
            && evidence[4].ends_with("is locked by other nodes"),
        "{all}"
    );
    // node1's client died with its kubelet: nothing has the image open.
    assert_eq!(evidence[5], "no watchers: no client has the image open");
    let explanation = stale["explanation"].as_str().unwrap_or_default();
    assert!(
        explanation
            .contains("is locked by node1, which runs no live pod using it (node1 is NotReady)")
            && explanation.contains("on node2 stays ContainerCreating")
            && explanation.contains("removing the lock is safe"),
        "{explanation}"
    );
    let fix = stale["fix"].as_str().unwrap_or_default();
    assert!(
        fix.contains("Press `u`")
            && fix.contains(&format!(
                "`ceph osd blocklist add {address} 3600`, then `rbd lock rm {spec} '{cookie}' {locker}`"
            )),
        "{fix}"
    );

    // One finding per root cause: no second Critical finding for the stuck pod.
    assert!(with("pod.volume-locked", &report).is_empty(), "{all}");
}

/// Removes the images it names when dropped, pass or fail.
struct Images(Vec<&'static str>);

impl Drop for Images {
    fn drop(&mut self) {
        for spec in &self.0 {
            let mut rm = lab().ceph_cmd("rbd");
            rm.args(["rm", "--no-progress", spec]);
            let _ = rm.output();
        }
    }
}

#[tokio::test]
async fn an_image_no_pv_references_is_an_orphan() {
    let _turn = SERIAL.lock().await;
    settled();
    let orphan = "rbd/kubernetes-dynamic-pvc-0d5e1c2a-orphan";
    let own = "rbd/ops-backup-1";
    let _cleanup = Images(vec![orphan, own]);
    for spec in [orphan, own] {
        let mut create = lab().ceph_cmd("rbd");
        create.args(["create", spec, "--size", "16"]);
        Lab::run_ok(create);
    }
    let mut want = CEPH_BASE.to_vec();
    want.push("rbd.orphan-image");
    let (code, report) = wait_for_ids(
        &lab().ceph_admin(),
        &want,
        Duration::from_secs(2),
        Duration::from_secs(60),
    );
    let all = text(&report);
    assert_eq!(code, 2);
    // Exactly the provisioner-named one; the operator's own image is left alone.
    let orphans = with("rbd.orphan-image", &report);
    assert_eq!(orphans.len(), 1, "{all}");
    let f = &orphans[0];
    assert_eq!(f["object"], format!("RbdImage {orphan}"));
    assert_eq!(f["severity"], "info");
    assert_eq!(
        strings(&f["evidence"]),
        [
            format!("image {orphan}: 16 MiB, format 2, no PersistentVolume names it"),
            format!("{orphan}: no watchers (no client has it open)"),
        ]
    );
    assert!(
        f["fix"]
            .as_str()
            .unwrap_or_default()
            .contains(&format!("`rbd rm {orphan}`")),
        "{all}"
    );
    drop(_cleanup);
    let want = CEPH_BASE.to_vec();
    wait_for_ids(
        &lab().ceph_admin(),
        &want,
        Duration::ZERO,
        Duration::from_secs(60),
    );
}

#[tokio::test]
async fn a_user_that_may_not_blocklist_is_told_the_caps() {
    let _turn = SERIAL.lock().await;
    settled();
    let lab = lab();
    let kube = CephUser {
        keyring: lab
            .state
            .ceph_kube_keyring
            .as_deref()
            .expect("the lab has client.kube"),
        id: "kube",
        ..lab.ceph_admin()
    };
    let mut want = CEPH_BASE.to_vec();
    want.push("ceph.fence-denied");
    let (code, report) = wait_for_ids(&kube, &want, Duration::ZERO, Duration::from_secs(60));
    let all = text(&report);
    assert_eq!(code, 2);
    let f = &with("ceph.fence-denied", &report)[0];
    assert_eq!(f["object"], "CephUser client.kube");
    // A stale lock exists that this user could not break.
    assert_eq!(f["severity"], "warning");
    let evidence = strings(&f["evidence"]);
    assert!(
        evidence[0]
            .starts_with("client.kube may not blocklist: the monitor answered \"access denied\""),
        "{all}"
    );
    assert_eq!(evidence[2], "1 image with a stale lock (rbd.stale-lock)");
    let fix = f["fix"].as_str().unwrap_or_default();
    assert!(
        fix.starts_with(
            "As client.admin: `ceph auth caps client.kube mon 'profile rbd' osd 'profile rbd'`"
        ),
        "{fix}"
    );
    assert!(
        f["explanation"]
            .as_str()
            .unwrap_or_default()
            .contains("unable to blacklist client"),
        "{all}"
    );
    let stale = &with("rbd.stale-lock", &report)[0];
    assert!(
        stale["fix"]
            .as_str()
            .unwrap_or_default()
            .contains("client.kube may not blocklist (see ceph.fence-denied)"),
        "{all}"
    );
}

#[tokio::test]
async fn an_unreachable_mon_is_reported_and_kubernetes_findings_stay() {
    let _turn = SERIAL.lock().await;
    settled();
    let lab = lab();
    let admin = lab.ceph_admin();
    // The lab's conf with a mon address nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
        .port();
    let conf = std::fs::read_to_string(admin.conf).unwrap_or_else(|e| panic!("{e}"));
    let dead: String = conf
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("mon host") {
                format!("mon host = v1:127.0.0.1:{closed}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let path = lab.runtime_dir.join("dead-mon.conf");
    std::fs::write(&path, dead + "\n").unwrap_or_else(|e| panic!("{e}"));
    let ceph = CephUser {
        conf: &path,
        ..admin
    };
    let started = Instant::now();
    let (code, report) = lab.check_json(&ceph);
    let took = started.elapsed();
    let all = text(&report);
    assert!(took < Duration::from_secs(15), "took {took:?}");
    let mut want: Vec<String> = BASE.iter().map(|s| s.to_string()).collect();
    want.push("ceph.unreachable".to_string());
    want.sort();
    assert_eq!(ids(&report), want, "{all}");
    assert_eq!(code, 2);
    let f = &with("ceph.unreachable", &report)[0];
    assert_eq!(f["severity"], "critical");
    assert_eq!(f["object"], format!("CephCluster {}", path.display()));
    let evidence = strings(&f["evidence"]);
    assert!(
        evidence[0].starts_with("error: ") && evidence[0].contains(&format!("127.0.0.1:{closed}")),
        "{all}"
    );
    assert_eq!(
        evidence[1],
        format!("conf {}, user client.admin", path.display())
    );
    assert_eq!(evidence[3], "no Ceph data fetched since kcops started");
    assert!(
        f["fix"]
            .as_str()
            .unwrap_or_default()
            .contains(&format!("`ceph -c {} --id admin -s`", path.display())),
        "{all}"
    );
}
