//! The `rbd-failures` lab: six RBD volume failures on six workloads of one cluster, each
//! with the event text Kubernetes writes for it, produced by the lab against its real
//! Ceph (missing pool, caps, missing image, image features vs. the node's kernel) or by
//! its controllers (missing Secret, Multi-Attach), and folded into one Event per cause
//! with a growing count.

mod common;

use std::time::Duration;

use common::{Lab, shared, wait_for};
use serde_json::Value;

fn lab() -> &'static Lab {
    shared("rbdfail", "rbd-failures", &[])
}

/// The Warning events with `reason` about objects whose name starts with `prefix`.
fn events(lab: &Lab, reason: &str, prefix: &str) -> Vec<Value> {
    let out = lab.kubectl_ok(&[
        "get",
        "events",
        "-n",
        "default",
        "--field-selector",
        &format!("reason={reason}"),
        "-o",
        "json",
    ]);
    let v: Value = serde_json::from_str(&out).unwrap_or(Value::Null);
    v["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter(|e| {
                    e["involvedObject"]["name"]
                        .as_str()
                        .is_some_and(|n| n.starts_with(prefix))
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// Waits for the one event of `reason` on `prefix*` that has repeated at least twice
/// (a retry with back-off folded into it), and returns it; there must be exactly one
/// such event per cause.
fn folded_event(lab: &Lab, reason: &str, prefix: &str) -> Value {
    let event = wait_for(
        &format!("a repeated {reason} event on {prefix}"),
        Duration::from_secs(60),
        || {
            events(lab, reason, prefix)
                .into_iter()
                .find(|e| e["count"].as_i64().unwrap_or(0) >= 2)
        },
    );
    let all = events(lab, reason, prefix);
    assert_eq!(all.len(), 1, "one Event per cause, folded: {all:#?}");
    assert_eq!(event["type"], "Warning");
    assert!(
        event["lastTimestamp"].as_str() >= event["firstTimestamp"].as_str(),
        "{event}"
    );
    event
}

fn message(e: &Value) -> &str {
    e["message"].as_str().unwrap_or_default()
}

fn ceph(lab: &Lab, program: &str, args: &[&str]) -> String {
    let mut cmd = lab.ceph_cmd(program);
    cmd.args(args);
    Lab::run_ok(cmd)
}

#[test]
fn a_class_on_a_missing_pool_fails_to_provision_with_rbds_words() {
    let lab = lab();
    let e = folded_event(lab, "ProvisioningFailed", "orders-db-data");
    assert_eq!(
        message(&e),
        "Failed to provision volume with StorageClass \"ssd\": failed to create rbd image: \
         exit status 2, command output: rbd: error opening pool 'ssd': (2) No such file or \
         directory"
    );
    // The Ceph fact: there is no such pool.
    let pools = ceph(lab, "ceph", &["osd", "pool", "ls"]);
    assert!(!pools.lines().any(|p| p == "ssd"), "{pools}");
    let pvc = lab.kubectl_ok(&[
        "get",
        "pvc",
        "orders-db-data",
        "-o",
        "jsonpath={.status.phase}",
    ]);
    assert_eq!(pvc, "Pending");
}

#[test]
fn a_user_without_caps_on_the_pool_is_refused_by_ceph() {
    let lab = lab();
    let e = folded_event(lab, "FailedMount", "archive-worker-");
    let msg = message(&e);
    assert!(
        msg.starts_with("MountVolume.WaitForAttach failed for volume \"pvc-")
            && msg.ends_with(
                "\" : rbd: map failed exit status 1, rbd output: rbd: sysfs write failed\nIn \
                 some cases useful info is found in syslog - try \"dmesg | tail\".\nrbd: map \
                 failed: (1) Operation not permitted"
            ),
        "{msg}"
    );
    // The Ceph facts: the pool exists, the image was created there (by admin), and
    // client.kube's caps name pool rbd only.
    let pools = ceph(lab, "ceph", &["osd", "pool", "ls"]);
    assert!(pools.lines().any(|p| p == "archive"), "{pools}");
    let images = ceph(lab, "rbd", &["ls", "archive"]);
    assert!(images.contains("kubernetes-dynamic-pvc-"), "{images}");
    let caps = ceph(lab, "ceph", &["auth", "get", "client.kube"]);
    assert!(
        caps.contains("allow rwx pool=rbd") && !caps.contains("archive"),
        "{caps}"
    );
}

#[test]
fn an_image_with_features_beyond_the_kernel_does_not_map() {
    let lab = lab();
    let e = folded_event(lab, "FailedMount", "report-viewer-");
    assert_eq!(
        message(&e),
        "MountVolume.WaitForAttach failed for volume \"legacy-reports-pv\" : rbd: map failed \
         exit status 6, rbd output: rbd: image legacy-reports: image uses unsupported \
         features: 0x38\nrbd: sysfs write failed\nRBD image feature set mismatch. You can \
         disable features unsupported by the kernel with \"rbd feature disable \
         rbd/legacy-reports object-map fast-diff deep-flatten\".\nIn some cases useful info is \
         found in syslog - try \"dmesg | tail\".\nrbd: map failed: (6) No such device or \
         address"
    );
    let info: Value = serde_json::from_str(&ceph(
        lab,
        "rbd",
        &["info", "--format", "json", "rbd/legacy-reports"],
    ))
    .unwrap_or(Value::Null);
    assert_eq!(
        info["features"],
        serde_json::json!([
            "layering",
            "exclusive-lock",
            "object-map",
            "fast-diff",
            "deep-flatten"
        ])
    );
    let node = lab.kubectl_ok(&[
        "get",
        "pods",
        "-l",
        "app=report-viewer",
        "-o",
        "jsonpath={.items[0].spec.nodeName}",
    ]);
    assert_eq!(node, "iz2zeb9m2h6r4jd8s5lq1fz");
}

#[test]
fn a_missing_user_secret_stops_the_mount() {
    let lab = lab();
    let e = folded_event(lab, "FailedMount", "cart-api-");
    let msg = message(&e);
    assert!(
        msg.starts_with("MountVolume.NewMounter initialization failed for volume \"pvc-")
            && msg.ends_with(
                "\" : couldn't get secret default/ceph-secret-fast err: secrets \
                 \"ceph-secret-fast\" not found"
            ),
        "{msg}"
    );
    // Provisioning (as admin, whose Secret exists) worked: the claim is Bound.
    let pvc = lab.kubectl_ok(&["get", "pvc", "cart-data", "-o", "jsonpath={.status.phase}"]);
    assert_eq!(pvc, "Bound");
}

#[test]
fn a_static_pv_on_a_missing_image_fails_to_map() {
    let lab = lab();
    let e = folded_event(lab, "FailedMount", "media-cache-");
    assert_eq!(
        message(&e),
        "MountVolume.WaitForAttach failed for volume \"media-cache-pv\" : rbd: map failed exit \
         status 2, rbd output: rbd: sysfs write failed\nIn some cases useful info is found in \
         syslog - try \"dmesg | tail\".\nrbd: map failed: (2) No such file or directory"
    );
    let images = ceph(lab, "rbd", &["ls", "rbd"]);
    assert!(!images.lines().any(|i| i == "media-cache"), "{images}");
}

#[test]
fn a_second_pod_on_a_rwo_volume_gets_multi_attach() {
    let lab = lab();
    let e = folded_event(lab, "FailedAttachVolume", "search-index-");
    let msg = message(&e);
    assert!(
        msg.starts_with("Multi-Attach error for volume \"pvc-")
            && msg.ends_with(
                "\" Volume is already exclusively attached to one node and can't be attached \
                 to another"
            ),
        "{msg}"
    );
    assert_eq!(e["source"]["component"], "attachdetach-controller");
    // The first pod runs and holds the image's lock from its node.
    let running = lab.kubectl_ok(&[
        "get",
        "pods",
        "-l",
        "app=search-index",
        "--field-selector",
        "status.phase=Running",
        "-o",
        "name",
    ]);
    assert_eq!(running.lines().count(), 1, "{running}");
}

/// Pool rbd and client.kube stay as in a scenario without `ceph`: the default class
/// provisions into pool rbd and its claim binds.
#[test]
fn the_default_pool_and_user_are_unchanged() {
    let lab = lab();
    let caps = ceph(lab, "ceph", &["auth", "get", "client.kube"]);
    assert!(
        caps.contains("allow class-read object_prefix rbd_children, allow rwx pool=rbd"),
        "{caps}"
    );
    let phase = wait_for("search-index-data bound", Duration::from_secs(30), || {
        let p = lab.kubectl_ok(&[
            "get",
            "pvc",
            "search-index-data",
            "-o",
            "jsonpath={.status.phase}",
        ]);
        (p == "Bound").then_some(p)
    });
    assert_eq!(phase, "Bound");
}

/// `id kind name-prefix` of each finding in a `kcops check --json` report, sorted.
fn causes(report: &Value) -> Vec<String> {
    let mut out: Vec<String> = report["findings"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|f| {
            let name = f["subject"]["name"].as_str().unwrap_or("?");
            // A pod is named by its Deployment (the hash suffix changes per lab).
            let owner = match f["subject"]["kind"].as_str() {
                Some("Pod") => name.rsplitn(3, '-').nth(2).unwrap_or(name),
                _ => name,
            };
            format!(
                "{} {} {owner}",
                f["id"].as_str().unwrap_or("?"),
                f["subject"]["kind"].as_str().unwrap_or("?")
            )
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// `kcops check --json` with Ceph names each failure by its cause, once: the field
/// report's volume failures, each on its own workload, each its own finding id.
#[test]
fn check_names_each_failure_by_its_cause_once() {
    let lab = lab();
    let want = [
        "pod.multi-attach Pod search-index",
        "rbd.caps-denied Pod archive-worker",
        "rbd.features-unsupported Pod report-viewer",
        "rbd.image-missing Pod media-cache",
        "rbd.pool-missing PersistentVolumeClaim orders-db-data",
        "rbd.secret-invalid Pod cart-api",
    ];
    let mut last = Value::Null;
    let settled = (0..240).any(|_| {
        let (_, report) = lab.check_json(&lab.ceph_admin());
        let got = causes(&report);
        last = report;
        if got == want {
            return true;
        }
        std::thread::sleep(Duration::from_millis(500));
        false
    });
    assert!(
        settled,
        "want {want:#?}\ngot {:#?}\n{}",
        causes(&last),
        serde_json::to_string_pretty(&last).unwrap_or_default()
    );
    // Each finding proves its cause with a Ceph fact beside the event.
    let evidence = |id: &str| -> String {
        last["findings"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter(|f| f["id"] == id)
            .flat_map(|f| f["evidence"].as_array().cloned().unwrap_or_default())
            .filter_map(|e| e.as_str().map(str::to_string))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(
        evidence("rbd.pool-missing").contains("pool 'ssd' is not among the cluster's pools"),
        "{}",
        evidence("rbd.pool-missing")
    );
    assert!(
        evidence("rbd.features-unsupported").contains("object-map"),
        "{}",
        evidence("rbd.features-unsupported")
    );
}
