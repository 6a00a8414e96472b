//! The lab's pod runtime on the field report's etcd StatefulSet (`etcd-scaled-down`):
//! member pods get their own network namespace with a pod IP from their node's
//! podCIDR, run the template's own shell script (`hostname -i`, the ping loop over the
//! headless Service's names, `exec etcd ...`) with their PVC's data dir at
//! `/var/run/etcd`, and are reached from the console node's namespace as kcops on a
//! master reaches them. A naive `kubectl scale` 2 -> 4 then fails as it does in
//! reality: etcd-3 starts with `--initial-cluster-state new` and exits with etcd's own
//! error in its logs.

mod common;

use std::time::Duration;

use serde_json::Value;

use common::{Lab, shared, wait_for};

fn lab() -> &'static Lab {
    shared("pods", "etcd-scaled-down", &["--no-ceph"])
}

fn pod(lab: &Lab, name: &str) -> Option<Value> {
    let out = lab.kubectl(&["get", "pod", name, "-o", "json"]);
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

fn logs(lab: &Lab, args: &[&str]) -> String {
    let out = lab.kubectl(&[&["logs"], args].concat());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn member_names(lab: &Lab, endpoints: &str) -> Option<Vec<String>> {
    let out = lab.etcdctl(endpoints, &["member", "list", "-w", "json"]);
    let v: Value = serde_json::from_slice(&out.stdout).ok()?;
    let mut names: Vec<String> = v["members"]
        .as_array()?
        .iter()
        .map(|m| m["name"].as_str().unwrap_or_default().to_string())
        .collect();
    names.sort();
    Some(names)
}

#[test]
fn member_pods_run_their_template_in_their_own_namespaces() {
    let lab = lab();
    // The timeline scales etcd 3 -> 2 once the three members run.
    wait_for("etcd scaled down to 2", Duration::from_secs(120), || {
        let sts = lab.kubectl_ok(&["get", "sts", "etcd", "-o", "jsonpath={.spec.replicas}"]);
        (sts == "2" && pod(lab, "etcd-2").is_none()).then_some(())
    });
    let ip_of = |name: &str| {
        wait_for(
            &format!("{name} running with an IP"),
            Duration::from_secs(60),
            || {
                let p = pod(lab, name)?;
                let ip = p["status"]["podIP"].as_str()?.to_string();
                (p["status"]["phase"] == "Running" && !ip.is_empty()).then_some((ip, p))
            },
        )
    };
    let mut endpoints = Vec::new();
    for name in ["etcd-0", "etcd-1"] {
        let (ip, p) = ip_of(name);
        // The pod IP is in its node's podCIDR (10.244.<node>.0/24), not a loopback address.
        let node = p["spec"]["nodeName"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let cidr = lab.kubectl_ok(&["get", "node", &node, "-o", "jsonpath={.spec.podCIDR}"]);
        let prefix = cidr.trim_end_matches("0/24");
        assert!(
            ip.starts_with(prefix),
            "{name}'s IP {ip} is not in {node}'s podCIDR {cidr}"
        );
        // The script ran as written: its `sh -x` trace shows `hostname -i` giving the pod IP.
        let log = logs(lab, &[name]);
        assert!(log.contains("+ hostname -i"), "{name} logs:\n{log}");
        assert!(log.contains(&format!("IP={ip}")), "{name} logs:\n{log}");
        assert!(
            log.contains("Waiting for etcd-2.etcd to come up"),
            "{name} logs:\n{log}"
        );
        endpoints.push(format!("http://{ip}:2379"));
    }
    // The data dir is the claim's, keyed by its UID: it outlives the pod.
    let uid = lab.kubectl_ok(&[
        "get",
        "pvc",
        "data-etcd-0",
        "-o",
        "jsonpath={.metadata.uid}",
    ]);
    let data = lab
        .runtime_dir
        .join("kcops/lab")
        .join(&lab.name)
        .join("etcd")
        .join(uid.trim())
        .join("default.etcd/member");
    wait_for(
        "etcd-0's data in its claim's dir",
        Duration::from_secs(30),
        || data.is_dir().then_some(()),
    );

    // The console node's namespace reaches the API server too (on the lab bridge).
    let api = lab
        .in_netns("kubectl")
        .args(["get", "pod", "etcd-0", "-o", "name"])
        .env("KUBECONFIG", &lab.state.kubeconfig)
        .env("HOME", &lab.home)
        .output()
        .unwrap_or_else(|e| panic!("cannot run kubectl: {e}"));
    assert_eq!(String::from_utf8_lossy(&api.stdout).trim(), "pod/etcd-0");

    // From the console node's namespace, as kcops on a master: etcd-2 stays registered.
    let survivors = endpoints.join(",");
    let members = wait_for(
        "the member list via the survivors",
        Duration::from_secs(60),
        || member_names(lab, &survivors).filter(|m| m.len() == 3),
    );
    assert_eq!(members, ["etcd-0", "etcd-1", "etcd-2"]);
    let health = lab.etcdctl(&survivors, &["endpoint", "health"]);
    assert!(
        health.status.success(),
        "the survivors keep quorum: {}",
        String::from_utf8_lossy(&health.stderr)
    );

    // Scaling up with the naive template: etcd-3 cannot join, with etcd's own error.
    lab.kubectl_ok(&["scale", "sts", "etcd", "--replicas=4"]);
    let error = "couldn't find local name \"etcd-3\" in the initial cluster configuration";
    let log = wait_for("etcd-3's join error", Duration::from_secs(120), || {
        let p = pod(lab, "etcd-3")?;
        let restarted = p["status"]["containerStatuses"][0]["restartCount"]
            .as_i64()
            .is_some_and(|n| n >= 1);
        let log = [logs(lab, &["etcd-3"]), logs(lab, &["etcd-3", "--previous"])].concat();
        (restarted && log.contains(error)).then_some(log)
    });
    assert!(log.contains("--initial-cluster-state new"), "{log}");
    let p = pod(lab, "etcd-3").unwrap_or_else(|| panic!("etcd-3 gone"));
    let last = &p["status"]["containerStatuses"][0]["lastState"]["terminated"];
    assert_eq!(last["reason"], "Error", "{p}");
    assert_ne!(last["exitCode"], 0, "{p}");
    // etcd-2 came back on its old data and rejoined as the member it was.
    let (ip2, _) = ip_of("etcd-2");
    wait_for("etcd-2 healthy again", Duration::from_secs(60), || {
        let out = lab.etcdctl(&format!("http://{ip2}:2379"), &["endpoint", "health"]);
        out.status.success().then_some(())
    });
}

/// Creates `manifest` (JSON) with kubectl.
fn create(lab: &Lab, name: &str, manifest: &Value) {
    let file = lab.home.join(format!("{name}.json"));
    std::fs::write(&file, manifest.to_string()).unwrap_or_else(|e| panic!("{e}"));
    lab.kubectl_ok(&["create", "-f", &file.display().to_string()]);
}

fn terminated(lab: &Lab, name: &str) -> (String, Value) {
    wait_for(
        &format!("{name} to finish"),
        Duration::from_secs(60),
        || {
            let p = pod(lab, name)?;
            let phase = p["status"]["phase"].as_str()?.to_string();
            let term = p["status"]["containerStatuses"][0]["state"]["terminated"].clone();
            (matches!(phase.as_str(), "Succeeded" | "Failed") && !term.is_null())
                .then_some((phase, term))
        },
    )
}

/// Pods of host-runnable images run their command for real: restartPolicy Never gives
/// the container's exit code and phase; a privileged node debug pod (hostNetwork, the
/// node's root at /host) can `chroot /host` and list the node's sandboxes with crictl.
#[test]
fn host_image_pods_run_to_completion_and_debug_pods_see_the_node() {
    let lab = lab();
    create(
        lab,
        "exit3",
        &serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "exit3", "namespace": "default"},
            "spec": {"restartPolicy": "Never", "nodeName": "node2", "containers": [{
                "name": "main", "image": "docker.io/library/debian:12",
                "command": ["sh", "-c", "echo on $(hostname) at $(hostname -i); exit 3"]
            }]}
        }),
    );
    let (phase, term) = terminated(lab, "exit3");
    assert_eq!(phase, "Failed");
    assert_eq!(term["exitCode"], 3, "{term}");
    let ip = pod(lab, "exit3")
        .and_then(|p| p["status"]["podIP"].as_str().map(str::to_string))
        .unwrap_or_default();
    assert!(
        ip.starts_with("10.244.2."),
        "exit3's IP {ip} is node2's podCIDR"
    );
    assert_eq!(logs(lab, &["exit3"]).trim(), format!("on exit3 at {ip}"));

    // What `kubectl debug node/node1` creates, running a host check through chroot.
    let list = lab.host_root("node1").join("var/lib/kcops-lab/sandboxes");
    let read = || std::fs::read_to_string(&list).unwrap_or_else(|e| panic!("{e}"));
    let before = read();
    create(
        lab,
        "debug",
        &serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "node-debugger", "namespace": "default"},
            "spec": {
                "restartPolicy": "Never", "nodeName": "node1", "hostNetwork": true,
                "hostPID": true,
                "containers": [{
                    "name": "debugger", "image": "busybox:1.36",
                    "securityContext": {"privileged": true},
                    "command": ["chroot", "/host", "sh", "-c",
                        "crictl pods -q && ls /var/lib/cni/networks/cbr0"],
                    "volumeMounts": [{"name": "host-root", "mountPath": "/host"}]
                }],
                "volumes": [{"name": "host-root", "hostPath": {"path": "/"}}]
            }
        }),
    );
    let (phase, term) = terminated(lab, "node-debugger");
    let out = logs(lab, &["node-debugger"]);
    assert_eq!(phase, "Succeeded", "{term}\n{out}");
    // Sandboxes live all along (the other test may start one meanwhile).
    let after = read();
    let steady: Vec<&str> = before
        .lines()
        .filter(|l| after.lines().any(|a| a == *l))
        .collect();
    assert!(!steady.is_empty(), "node1 has live sandboxes");
    for id in steady {
        assert!(
            out.lines().any(|l| l == id),
            "sandbox {id} not listed:\n{out}"
        );
    }
    assert!(out.lines().any(|l| l == "last_reserved_ip.0"), "{out}");
    // The debug pod ran in node1's namespace: its IP is node1's.
    let ip = pod(lab, "node-debugger")
        .and_then(|p| p["status"]["podIP"].as_str().map(str::to_string))
        .unwrap_or_default();
    assert_eq!(ip, lab.node_ip("node1"));
}

/// Exec probes run in the pod's namespaces: the readiness probe sees the pod's
/// hostname, and a failing liveness probe restarts the container (its emptyDir stays).
#[test]
fn exec_probes_run_in_the_pods_namespaces() {
    let lab = lab();
    create(
        lab,
        "probes",
        &serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "probes", "namespace": "default"},
            "spec": {"nodeName": "node2", "containers": [{
                "name": "main", "image": "alpine:3.20",
                "command": ["sh", "-c",
                    "echo start >> /work/starts; touch /work/alive; sleep 2; rm /work/alive; exec sleep 600"],
                "volumeMounts": [{"name": "work", "mountPath": "/work"}],
                "readinessProbe": {"exec": {"command": ["sh", "-c", "test \"$(hostname)\" = probes"]},
                    "periodSeconds": 1},
                "livenessProbe": {"exec": {"command": ["test", "-f", "/work/alive"]},
                    "periodSeconds": 1, "failureThreshold": 1}
            }], "volumes": [{"name": "work", "emptyDir": {}}]}
        }),
    );
    wait_for(
        "probes Ready, then restarted by its liveness probe",
        Duration::from_secs(60),
        || {
            let p = pod(lab, "probes")?;
            let status = &p["status"]["containerStatuses"][0];
            let ready_once = p["status"]["conditions"]
                .as_array()?
                .iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
                || status["restartCount"].as_i64() >= Some(1);
            (ready_once && status["restartCount"].as_i64() >= Some(1)).then_some(())
        },
    );
    let events = lab.kubectl_ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=probes",
        "-o",
        "jsonpath={range .items[*]}{.reason}: {.message}{\"\\n\"}{end}",
    ]);
    assert!(
        events.contains("Unhealthy: Liveness probe failed"),
        "{events}"
    );
    assert!(
        events.contains("failed liveness probe, will be restarted"),
        "{events}"
    );
    assert!(!events.contains("Readiness probe failed"), "{events}");
    lab.kubectl_ok(&["delete", "pod", "probes", "--wait=false"]);
}
