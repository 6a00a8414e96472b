//! `etcd-join-aware`: a StatefulSet whose script joins an existing cluster when its
//! member was added first. `etcdctl member add` then scaling +1 gives a healthy fourth
//! voting member, where the field report's template (see `lab_pods`) cannot join.

mod common;

use std::time::Duration;

use serde_json::Value;

use common::{Lab, shared, wait_for};

fn lab() -> &'static Lab {
    shared("podsjoin", "etcd-join-aware", &["--no-ceph"])
}

fn pod_ip(lab: &Lab, name: &str) -> Option<String> {
    let out = lab.kubectl(&["get", "pod", name, "-o", "json"]);
    let p: Value = serde_json::from_slice(&out.stdout).ok()?;
    let ready = p["status"]["conditions"]
        .as_array()?
        .iter()
        .any(|c| c["type"] == "Ready" && c["status"] == "True");
    let ip = p["status"]["podIP"].as_str()?;
    (ready && !ip.is_empty()).then(|| ip.to_string())
}

/// `(name, started, learner)` of each member.
fn members(lab: &Lab, endpoints: &str) -> Option<Vec<(String, bool)>> {
    let out = lab.etcdctl(endpoints, &["member", "list", "-w", "json"]);
    let v: Value = serde_json::from_slice(&out.stdout).ok()?;
    let mut m: Vec<(String, bool)> = v["members"]
        .as_array()?
        .iter()
        .map(|m| {
            let name = m["name"].as_str().unwrap_or_default().to_string();
            (name, m["isLearner"].as_bool().unwrap_or(false))
        })
        .collect();
    m.sort();
    Some(m)
}

#[test]
fn member_add_then_scale_up_gives_a_healthy_fourth_member() {
    let lab = lab();
    let endpoints = |n: usize| -> String {
        (0..n)
            .map(|i| {
                let name = format!("etcd-{i}");
                let ip = wait_for(&format!("{name} ready"), Duration::from_secs(120), || {
                    pod_ip(lab, &name)
                });
                format!("http://{ip}:2379")
            })
            .collect::<Vec<_>>()
            .join(",")
    };
    let three = endpoints(3);
    let voters = |names: &[&str]| -> Vec<(String, bool)> {
        names.iter().map(|n| (n.to_string(), false)).collect()
    };
    wait_for(
        "a healthy 3-member cluster",
        Duration::from_secs(90),
        || {
            let healthy = lab
                .etcdctl(&three, &["endpoint", "health"])
                .status
                .success();
            (healthy && members(lab, &three)? == voters(&["etcd-0", "etcd-1", "etcd-2"]))
                .then_some(())
        },
    );

    // The sound order: register the member, then create its pod.
    let add = wait_for("member add", Duration::from_secs(30), || {
        let out = lab.etcdctl(
            &three,
            &[
                "member",
                "add",
                "etcd-3",
                "--peer-urls=http://etcd-3.etcd:2380",
            ],
        );
        out.status.success().then_some(out)
    });
    assert!(
        String::from_utf8_lossy(&add.stdout).contains("ETCD_INITIAL_CLUSTER_STATE=\"existing\""),
        "{}",
        String::from_utf8_lossy(&add.stdout)
    );
    lab.kubectl_ok(&["scale", "sts", "etcd", "--replicas=4"]);
    let four = endpoints(4);
    wait_for(
        "a healthy 4-member cluster",
        Duration::from_secs(120),
        || {
            let healthy = lab.etcdctl(&four, &["endpoint", "health"]).status.success();
            (healthy && members(lab, &four)? == voters(&["etcd-0", "etcd-1", "etcd-2", "etcd-3"]))
                .then_some(())
        },
    );
    let log = lab.kubectl_ok(&["logs", "etcd-3"]);
    assert!(
        log.contains("joining the existing cluster as etcd-3"),
        "{log}"
    );
    let restarts = lab.kubectl_ok(&[
        "get",
        "pod",
        "etcd-3",
        "-o",
        "jsonpath={.status.containerStatuses[0].restartCount}",
    ]);
    assert_eq!(restarts, "0", "etcd-3 joined on its first start");
}
