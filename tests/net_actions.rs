//! The Network pane's guided fixes on the `flannel-broken` lab, through the same plan
//! builders and executor the console uses: kube-proxy gets the clusterCIDR it lacks
//! (only that line of its config changes, its pods restart one node at a time) and
//! the network agent on a node is restarted; read-only and a wrong typed name change
//! nothing.
//!
//! The lab plays the pod network from state, so the fixes are seen to work, and each
//! fix ends by checking its symptom is gone: restarting node2's agent alone changes
//! nothing (the new one crash-loops the same way) and the plan says so at its first
//! crash, naming the timeout to the service VIP and kube-proxy; the clusterCIDR alone
//! lets node2's crash-looping agent recover on its next start but leaves node1's range
//! exhausted; releasing too few of node1's leaks ends with the sandbox failure that
//! persists; and after all three (clusterCIDR with kube-proxy restarted, node2's agent
//! restarted, node1's leaked reservations released) every check passes, every pod is
//! Running and Ready and no `net.*` finding is left.

mod common;

use std::time::Duration;

use common::snapshot::wait_for_ids_on;
use common::{Lab, shared, wait_for};
use kcops::ops::wizard::{restart_cni, set_cluster_cidr};
use kcops::ops::{AuditLog, ExecContext, Executor, Op, OpsError, Plan, WaitFor};

fn lab() -> &'static Lab {
    shared("netactions", "flannel-broken", &["--no-ceph"])
}

fn executor(client: kube::Client, lab: &Lab, read_only: bool) -> Executor {
    Executor::new(
        client,
        read_only,
        AuditLog::new(lab.runtime_dir.join("audit-net.log")),
        ExecContext::new("kubernetes-admin", "lab"),
    )
}

fn proxy_config(lab: &Lab) -> String {
    lab.kubectl_ok(&[
        "-n",
        "kube-system",
        "get",
        "configmap",
        "kube-proxy",
        "-o",
        "jsonpath={.data.config\\.conf}",
    ])
}

/// `(node, pod name)` of the pods of DaemonSet `ds` in `ns`, Running and Ready.
fn ready_daemon_pods(lab: &Lab, ns: &str, label: &str) -> Vec<(String, String)> {
    let out = lab.kubectl_ok(&[
        "-n",
        ns,
        "get",
        "pods",
        "-l",
        label,
        "-o",
        "jsonpath={range .items[*]}{.spec.nodeName} {.metadata.name} {.status.phase} {.metadata.deletionTimestamp}{\"\\n\"}{end}",
    ]);
    let mut v: Vec<(String, String)> = out
        .lines()
        .filter_map(|l| {
            let parts: Vec<&str> = l.split_whitespace().collect();
            (parts.len() == 3 && parts[2] == "Running")
                .then(|| (parts[0].to_string(), parts[1].to_string()))
        })
        .collect();
    v.sort();
    v
}

/// `(node, pod, last termination message)` of each flannel pod.
fn flannel_pods(lab: &Lab) -> Vec<(String, String, String)> {
    let out = lab.kubectl_ok(&[
        "-n",
        "kube-flannel",
        "get",
        "pods",
        "-l",
        "app=flannel",
        "-o",
        "jsonpath={range .items[*]}{.spec.nodeName} {.metadata.name} {.status.containerStatuses[0].lastState.terminated.message}{\"\\n\"}{end}",
    ]);
    out.lines()
        .filter_map(|l| {
            let (node, rest) = l.split_once(' ')?;
            let (pod, message) = rest.split_once(' ').unwrap_or((rest, ""));
            Some((node.to_string(), pod.to_string(), message.to_string()))
        })
        .collect()
}

/// The restart wizard's plan for the agent `pod` on `node`, once the console's
/// snapshot shows that pod.
fn restart_plan(s: &kcops::kube::reflectors::Sources, node: &str, pod: &str) -> Plan {
    wait_for(
        &format!("the restart wizard for {pod} on {node}"),
        Duration::from_secs(30),
        || {
            let wizard =
                restart_cni::assess(&restart_cni::gather(&s.snapshot(), Some(node))).ok()?;
            let text = wizard.render().join("\n");
            text.contains(&format!("Pod kube-flannel/{pod} "))
                .then(|| wizard.plan())
                .flatten()
        },
    )
}

/// node1's leaked cbr0 reservations, `(ip, sandbox)`, as `:release-ips` reads them.
fn node1_leaks(lab: &Lab) -> Vec<(String, String)> {
    let report = lab.host_probe("node1").run();
    let cbr0 = report
        .ipam
        .found()
        .and_then(|nets| nets.iter().find(|n| n.name == "cbr0"))
        .unwrap_or_else(|| panic!("no cbr0 on node1"));
    report
        .leaked(cbr0)
        .unwrap_or_else(|| panic!("node1's live sandboxes are unknown"))
        .iter()
        .map(|r| (r.ip.to_string(), r.sandbox.clone()))
        .collect()
}

/// `(pod, phase, ready)` of every pod that is not Running and Ready.
fn unready_pods(lab: &Lab) -> Vec<String> {
    let out = lab.kubectl_ok(&[
        "get",
        "pods",
        "-A",
        "-o",
        "jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name} {.status.phase} {.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}",
    ]);
    out.lines()
        .filter(|l| !l.ends_with(" Running True"))
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_proxy_gets_its_cluster_cidr_and_agents_restart() {
    let lab = lab();
    let s = lab.sources().await;
    let client = lab.client().await;
    let (tx, _rx) = tokio::sync::mpsc::channel(64);

    // Two more pods for node1, where the range is exhausted: releasing too few leaks
    // leaves one of them without an address.
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> =
        kube::Api::namespaced(client.clone(), "default");
    for name in ["ipam-a", "ipam-b"] {
        let pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"nodeName": "node1", "containers": [{"name": "web", "image": "nginx"}]}
        }))
        .unwrap_or_else(|e| panic!("pod {name}: {e}"));
        pods.create(&Default::default(), &pod)
            .await
            .unwrap_or_else(|e| panic!("create pod {name}: {e}"));
    }

    // Restarting node2's agent alone changes nothing: node2's kube-proxy still runs
    // without a clusterCIDR, so the new agent times out on the API the same way, and
    // the plan's check stops at that crash (not at its 3m timeout) and says why.
    let old_node2 = wait_for("flannel on node2", Duration::from_secs(60), || {
        flannel_pods(lab)
            .into_iter()
            .find(|(n, _, _)| n == "node2")
            .map(|(_, p, _)| p)
    });
    let plan = restart_plan(&s, "node2", &old_node2);
    let preview = plan.render().join("\n");
    assert!(
        preview.contains("stay Ready for 5s (a crash stops the wait)")
            && preview.contains("the pods on node2 waiting for a pod sandbox to get one"),
        "{preview}"
    );
    let started = std::time::Instant::now();
    let run = executor(client.clone(), lab, false)
        .run(&plan, &old_node2, tx.clone())
        .await;
    let error = match run {
        Err(e) => e.to_string(),
        Ok(o) => panic!("restarting node2's agent alone passed its check: {o:?}"),
    };
    eprintln!("restart-cni alone on node2: {error}");
    assert!(
        error.contains("flannel on node2 still cannot reach 10.96.0.1:443")
            && error.contains("dial tcp 10.96.0.1:443: i/o timeout")
            && error.contains("kube-proxy there runs without a clusterCIDR"),
        "{error}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the crash was reported after {:?}",
        started.elapsed()
    );
    let crashed = wait_for("node2's new agent to fail", Duration::from_secs(60), || {
        flannel_pods(lab)
            .into_iter()
            .find(|(n, p, m)| n == "node2" && *p != old_node2 && !m.is_empty())
    });
    assert!(
        crashed.2.ends_with("dial tcp 10.96.0.1:443: i/o timeout"),
        "{crashed:?}"
    );
    let before_config = proxy_config(lab);
    assert!(
        before_config.contains("clusterCIDR: \"\""),
        "{before_config}"
    );
    let before_pods = ready_daemon_pods(lab, "kube-system", "k8s-app=kube-proxy");
    assert_eq!(before_pods.len(), 3, "{before_pods:?}");

    // The wizard: what is wrong, the change line by line, then the plan (one restart
    // and wait per node, then the check that node2's crash-looping agent recovers and
    // its pods get sandboxes).
    let checks_node2 = |plan: &Plan| {
        plan.steps.iter().any(|st| {
            matches!(&st.op, Op::Wait { what: WaitFor::AgentSettled { node, after_crashes: true, .. }, .. } if node == "node2")
        })
    };
    let wizard = wait_for(
        "the wizard to see node2's agent crash-looping",
        Duration::from_secs(30),
        || {
            let w =
                set_cluster_cidr::assess(&set_cluster_cidr::gather(&s.snapshot()), None).ok()?;
            w.plan().is_some_and(|p| checks_node2(&p)).then_some(w)
        },
    );
    let text = wizard.render().join("\n");
    assert!(
        text.contains("✗ kube-proxy runs without a clusterCIDR"),
        "{text}"
    );
    assert!(text.contains("✗ - clusterCIDR: \"\""), "{text}");
    assert!(text.contains("✓ + clusterCIDR: 10.244.0.0/16"), "{text}");
    let plan = wizard.plan().unwrap_or_else(|| panic!("blocked: {text}"));
    let preview = plan.render().join("\n");
    assert!(
        preview.contains("clusterCIDR empty -> \"10.244.0.0/16\""),
        "{preview}"
    );
    assert_eq!(plan.steps.len(), 1 + 2 * before_pods.len() + 2, "{preview}");
    assert!(
        preview.contains("the crash-looping flannel agent on node2 (DaemonSet kube-flannel/kube-flannel-ds) to start again"),
        "{preview}"
    );

    // Read-only and a wrong name change nothing.
    let refused = executor(client.clone(), lab, true)
        .run(&plan, "kube-proxy", tx.clone())
        .await;
    assert!(
        matches!(refused, Err(OpsError::ReadOnly { .. })),
        "{refused:?}"
    );
    let refused = executor(client.clone(), lab, false)
        .run(&plan, "yes", tx.clone())
        .await;
    assert!(
        matches!(refused, Err(OpsError::Confirmation { .. })),
        "{refused:?}"
    );
    assert_eq!(proxy_config(lab), before_config);

    // In the lab's model flannel decides reachability when it starts, so node2's agent
    // recovers on its next start after kube-proxy there restarted, and the plan's
    // check of that (and of node2's stuck pods) passes.
    executor(client.clone(), lab, false)
        .run(&plan, "kube-proxy", tx.clone())
        .await
        .unwrap_or_else(|e| panic!("set clusterCIDR: {e}"));
    let after_config = proxy_config(lab);
    let changed: Vec<(&str, &str)> = before_config
        .lines()
        .zip(after_config.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(
        changed,
        vec![("clusterCIDR: \"\"", "clusterCIDR: 10.244.0.0/16")],
        "only the clusterCIDR line changes"
    );
    assert_eq!(before_config.lines().count(), after_config.lines().count());
    let after_pods = ready_daemon_pods(lab, "kube-system", "k8s-app=kube-proxy");
    assert_eq!(after_pods.len(), before_pods.len(), "{after_pods:?}");
    for ((node, old), (node2, new)) in before_pods.iter().zip(&after_pods) {
        assert_eq!(node, node2);
        assert_ne!(old, new, "kube-proxy on {node} was restarted");
    }

    // The finding is gone, and the fix is not offered twice.
    let fresh = wait_for(
        "the store to see the new config",
        Duration::from_secs(30),
        || {
            let snap = s.snapshot();
            let ids: Vec<String> = kcops::diagnose::diagnose(&snap)
                .into_iter()
                .map(|f| f.id.to_string())
                .collect();
            (!ids.iter().any(|i| i == "net.kube-proxy-cluster-cidr")).then_some(snap)
        },
    );
    // That fix alone leaves node1's range exhausted.
    let ids: Vec<&str> = kcops::diagnose::diagnose(&fresh)
        .iter()
        .map(|f| f.id)
        .collect();
    assert!(ids.contains(&"net.ipam-exhausted"), "{ids:?}");
    let again = set_cluster_cidr::assess(&set_cluster_cidr::gather(&fresh), None)
        .unwrap_or_else(|e| panic!("no wizard: {e}"));
    assert!(again.plan().is_none());
    assert!(
        again.blocker.as_ref().is_some_and(|b| b
            .reason
            .contains("already has clusterCIDR \"10.244.0.0/16\"")),
        "{again:?}"
    );

    // Restart flannel on master: a new pod takes the old one's place and is Ready.
    let flannel_before = ready_daemon_pods(lab, "kube-flannel", "app=flannel");
    let old_master = flannel_before
        .iter()
        .find(|(n, _)| n == "master")
        .map(|(_, p)| p.clone())
        .unwrap_or_else(|| panic!("no flannel pod on master: {flannel_before:?}"));
    let wizard = restart_cni::assess(&restart_cni::gather(&fresh, Some("master")))
        .unwrap_or_else(|e| panic!("no restart wizard: {e}"));
    let text = wizard.render().join("\n");
    assert!(
        text.contains(&format!(
            "Pod kube-flannel/{old_master} of DaemonSet kube-flannel-ds on master"
        )),
        "{text}"
    );
    let plan = wizard.plan().unwrap_or_else(|| panic!("blocked: {text}"));
    assert_eq!(
        plan.confirmation,
        kcops::ops::Confirmation::TypedName(old_master.clone())
    );
    executor(client.clone(), lab, false)
        .run(&plan, &old_master, tx.clone())
        .await
        .unwrap_or_else(|e| panic!("restart flannel: {e}"));
    let flannel_after = ready_daemon_pods(lab, "kube-flannel", "app=flannel");
    let new_master = flannel_after
        .iter()
        .find(|(n, _)| n == "master")
        .map(|(_, p)| p.clone())
        .unwrap_or_else(|| panic!("no flannel pod on master after: {flannel_after:?}"));
    assert_ne!(new_master, old_master);

    // A node without an agent has nothing to restart; the reason says so.
    let none = restart_cni::assess(&restart_cni::gather(&fresh, Some("no-such-node")));
    assert!(
        none.as_ref()
            .is_err_and(|e| e.to_string().contains("no-such-node")),
        "{none:?}"
    );

    // With kube-proxy fixed, node2's agent restarted gets through, stays Ready, and
    // the plan's checks pass.
    let node2_agent = flannel_pods(lab)
        .into_iter()
        .find(|(n, _, _)| n == "node2")
        .map(|(_, p, _)| p)
        .unwrap_or_else(|| panic!("no flannel pod on node2"));
    let plan = restart_plan(&s, "node2", &node2_agent);
    executor(client.clone(), lab, false)
        .run(&plan, &node2_agent, tx.clone())
        .await
        .unwrap_or_else(|e| panic!("restart flannel on node2: {e}"));

    // Releasing one of node1's leaks is not enough for its stuck pods: the check ends
    // with the sandbox failure that persists instead of waiting it out.
    let release = |leaked: Vec<(String, String)>| {
        let via = kcops::ops::HostAccess::Local {
            host_root: lab.host_root("node1"),
            sandboxes_command: Some(lab.sandboxes_command("node1")),
        };
        Plan::release_leaked("node1", via, "cbr0", leaked)
    };
    let leaked = node1_leaks(lab);
    assert_eq!(leaked.len(), 251);
    let plan = release(leaked[..1].to_vec());
    let error = match executor(client.clone(), lab, false)
        .run(&plan, "cbr0", tx.clone())
        .await
    {
        Err(e) => e.to_string(),
        Ok(o) => panic!("releasing one leak passed its check: {o:?}"),
    };
    eprintln!("one of node1's leaks released: {error}");
    assert!(
        error.contains("on node1 still get no sandbox")
            && error.contains("no IP addresses available in network: cbr0"),
        "{error}"
    );

    // node1's leaked reservations released from the console on master, as
    // `:probe-host node1` then `:release-ips node1` do it: a debug pod on node1 reads
    // its host (the same leaks the local probe sees there), and another releases them
    // under host-local's lock on node1 itself; its stuck pods get addresses.
    let debug = kcops::ops::DebugPodSpec::default();
    let hosts = kcops::host::remote::RemoteHosts::default();
    executor(client.clone(), lab, false)
        .with_remote_hosts(hosts.clone())
        .run(&Plan::probe_host("node1", debug.clone()), "yes", tx.clone())
        .await
        .unwrap_or_else(|e| panic!("probe node1's host through a debug pod: {e}"));
    let report = hosts
        .all()
        .remove("node1")
        .unwrap_or_else(|| panic!("no host report of node1 filed"));
    let cbr0 = report
        .ipam
        .found()
        .and_then(|nets| nets.iter().find(|n| n.name == "cbr0"))
        .unwrap_or_else(|| panic!("no cbr0 in node1's remote report: {report:?}"));
    let leaked: Vec<(String, String)> = report
        .leaked(cbr0)
        .unwrap_or_else(|| {
            panic!(
                "node1's live sandboxes unknown remotely: {:?}",
                report.sandboxes
            )
        })
        .iter()
        .map(|r| (r.ip.to_string(), r.sandbox.clone()))
        .collect();
    assert_eq!(
        leaked,
        node1_leaks(lab),
        "the remote and the local probe disagree"
    );
    assert_eq!(leaked.len(), 250);
    let remote = Plan::release_leaked(
        "node1",
        kcops::ops::HostAccess::DebugPod(debug),
        "cbr0",
        leaked,
    );
    let outcome = executor(client.clone(), lab, false)
        .run(&remote, "cbr0", tx.clone())
        .await
        .unwrap_or_else(|e| panic!("release node1's leaks through a debug pod: {e}"));
    let said = format!("{outcome:?}");
    assert!(said.contains("released 250 of 250"), "{said}");
    // Both debug pods are gone.
    assert_eq!(
        lab.kubectl_ok(&[
            "get",
            "pods",
            "-A",
            "-l",
            "kcops.io/node-debug",
            "-o",
            "name"
        ]),
        ""
    );

    // Every pod runs, and the console finds nothing wrong with the network.
    wait_for(
        "every pod to be Running and Ready",
        Duration::from_secs(90),
        || unready_pods(lab).is_empty().then_some(()),
    );
    let (_, findings) = wait_for_ids_on(
        &client,
        Some(&lab.host_probe("node1")),
        &[],
        Duration::from_secs(3),
        Duration::from_secs(60),
    )
    .await;
    assert!(findings.iter().all(|f| !f.id.starts_with("net.")));

    let audit = std::fs::read_to_string(lab.runtime_dir.join("audit-net.log"))
        .unwrap_or_else(|e| panic!("audit log: {e}"));
    assert!(
        audit.contains("\"action\":\"set-kube-proxy-cluster-cidr\""),
        "{audit}"
    );
    assert!(
        audit.contains("refused: kcops is in read-only mode"),
        "{audit}"
    );
}
