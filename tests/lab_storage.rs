//! The healthy scenario on real Ceph and real etcd: provisioning makes real RBD images,
//! the lab kubelet locks them from each node's own address, and etcd members run at
//! their pod IPs (scaling 3 -> 2 without `etcdctl member remove` leaves etcd-2
//! registered).

mod common;

use std::time::Duration;

use common::{Lab, shared, wait_for};
use serde_json::Value;

fn lab() -> &'static Lab {
    shared("storage", "healthy", &[])
}

fn json(lab: &Lab, args: &[&str]) -> Value {
    let out = lab.kubectl_ok(args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("kubectl {args:?} printed no JSON: {e}"))
}

fn ready_pods(lab: &Lab, selector: &str) -> Vec<Value> {
    let list = json(lab, &["get", "pods", "-l", selector, "-o", "json"]);
    list["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|p| {
            p["status"]["conditions"].as_array().is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
        })
        .collect()
}

#[test]
fn provisioning_creates_real_rbd_images() {
    let lab = lab();
    let pvs = wait_for("six bound PVs", Duration::from_secs(90), || {
        let list = json(lab, &["get", "pv", "-o", "json"]);
        let items = list["items"].as_array().cloned().unwrap_or_default();
        (items.len() >= 6 && items.iter().all(|p| p["status"]["phase"] == "Bound")).then_some(items)
    });
    let mut rbd = lab.ceph_cmd("rbd");
    rbd.args(["ls", "--format", "json", "rbd"]);
    let images: Vec<String> = serde_json::from_str(&Lab::run_ok(rbd)).unwrap_or_default();
    let mon = lab.state.ceph_mon.clone().unwrap_or_default();
    for pv in &pvs {
        let image = pv["spec"]["rbd"]["image"].as_str().unwrap_or_default();
        assert!(
            image.starts_with("kubernetes-dynamic-pvc-"),
            "PV image name {image:?}"
        );
        assert!(
            images.iter().any(|i| i == image),
            "image {image} missing from `rbd ls`: {images:?}"
        );
        assert_eq!(
            pv["spec"]["rbd"]["monitors"][0],
            mon.as_str(),
            "PV monitors point at the lab mon"
        );
        assert_eq!(
            pv["metadata"]["annotations"]["pv.kubernetes.io/provisioned-by"],
            "kubernetes.io/rbd"
        );
    }
}

#[test]
fn kubelet_locks_carry_the_node_address() {
    let lab = lab();
    assert!(
        lab.state.netns,
        "the lab runs as root here, so nodes get their own namespaces"
    );
    let pods = wait_for("3 ready zk pods", Duration::from_secs(120), || {
        let p = ready_pods(lab, "app=zk");
        (p.len() == 3).then_some(p)
    });
    for pod in pods {
        let node = pod["spec"]["nodeName"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let claim = pod["spec"]["volumes"]
            .as_array()
            .and_then(|vs| {
                vs.iter().find_map(|v| {
                    v["persistentVolumeClaim"]["claimName"]
                        .as_str()
                        .map(str::to_string)
                })
            })
            .unwrap_or_default();
        let pvc = json(lab, &["get", "pvc", &claim, "-o", "json"]);
        let pv = json(
            lab,
            &[
                "get",
                "pv",
                pvc["spec"]["volumeName"].as_str().unwrap_or_default(),
                "-o",
                "json",
            ],
        );
        let spec = format!(
            "rbd/{}",
            pv["spec"]["rbd"]["image"].as_str().unwrap_or_default()
        );
        let mut ls = lab.ceph_cmd("rbd");
        ls.args(["lock", "ls", "--format", "json", &spec]);
        let locks: Value = serde_json::from_str(&Lab::run_ok(ls)).unwrap_or(Value::Null);
        let text = locks.to_string();
        assert!(
            text.contains(&format!("kubelet_lock_magic_{node}")),
            "lock cookie names {node}: {text}"
        );
        assert!(
            text.contains(&format!("{}:0/", lab.node_ip(&node))),
            "lock address is {node}'s IP {}: {text}",
            lab.node_ip(&node)
        );
        let mut status = lab.ceph_cmd("rbd");
        status.args(["status", "--format", "json", &spec]);
        let st = Lab::run_ok(status);
        assert!(
            st.contains(&format!("{}:0/", lab.node_ip(&node))),
            "watcher from {node}: {st}"
        );
    }
}

/// etcdctl where kcops on a master runs: the console node's namespace reaches pod IPs.
fn etcdctl(endpoints: &str, args: &[&str]) -> std::process::Output {
    lab().etcdctl(endpoints, args)
}

#[test]
fn etcd_members_at_pod_ips_and_scale_down_leaves_a_member() {
    let lab = lab();
    let pods = wait_for("3 ready etcd pods", Duration::from_secs(120), || {
        let p = ready_pods(lab, "component=etcd");
        (p.len() == 3).then_some(p)
    });
    let ip_of = |name: &str| {
        pods.iter()
            .find(|p| p["metadata"]["name"] == name)
            .and_then(|p| p["status"]["podIP"].as_str())
            .map(str::to_string)
            .unwrap_or_else(|| panic!("no pod {name}"))
    };
    let endpoints: Vec<String> = (0..3)
        .map(|i| format!("http://{}:2379", ip_of(&format!("etcd-{i}"))))
        .collect();
    let all = endpoints.join(",");
    let members = wait_for("a 3-member etcd cluster", Duration::from_secs(60), || {
        let out = etcdctl(&all, &["member", "list", "-w", "json"]);
        let v: Value = serde_json::from_slice(&out.stdout).ok()?;
        let m = v["members"].as_array().cloned()?;
        (m.len() == 3
            && m.iter()
                .all(|x| x["name"].as_str().is_some_and(|n| !n.is_empty())))
        .then_some(m)
    });
    for i in 0..3 {
        let name = format!("etcd-{i}");
        let m = members
            .iter()
            .find(|m| m["name"] == name.as_str())
            .unwrap_or_else(|| panic!("member {name} missing: {members:?}"));
        // The template's own flags: clients at the pod IP, peers by the headless
        // Service's names (its --initial-cluster).
        assert_eq!(
            m["clientURLs"][0],
            format!("http://{}:2379", ip_of(&name)).as_str()
        );
        assert_eq!(
            m["peerURLs"][0],
            format!("http://{name}.etcd.default.svc.cluster.local:2380").as_str()
        );
    }
    // Scale down without `etcdctl member remove`.
    lab.kubectl_ok(&["scale", "statefulset", "etcd", "--replicas=2"]);
    wait_for("etcd-2 to be gone", Duration::from_secs(60), || {
        let out = lab.kubectl(&["get", "pod", "etcd-2"]);
        (!out.status.success()).then_some(())
    });
    let survivors = format!("{},{}", endpoints[0], endpoints[1]);
    let out = etcdctl(&survivors, &["member", "list", "-w", "json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert_eq!(
        v["members"].as_array().map(|m| m.len()),
        Some(3),
        "etcd-2 is still registered: {v}"
    );
    let health = etcdctl(&endpoints[2], &["endpoint", "health"]);
    assert!(!health.status.success(), "etcd-2 must be unhealthy");
    let health = etcdctl(&survivors, &["endpoint", "health"]);
    assert!(
        health.status.success(),
        "the two survivors keep quorum: {}",
        String::from_utf8_lossy(&health.stderr)
    );
    // The claim and its image stay behind, as Kubernetes leaves them.
    lab.kubectl_ok(&["get", "pvc", "data-etcd-2"]);
}
