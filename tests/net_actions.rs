//! The Network pane's guided fixes on the `flannel-broken` lab, through the same plan
//! builders and executor the console uses: kube-proxy gets the clusterCIDR it lacks
//! (only that line of its config changes, its pods restart one node at a time) and
//! the network agent on a node is restarted; read-only and a wrong typed name change
//! nothing.

mod common;

use std::time::Duration;

use common::{Lab, shared, wait_for};
use kcops::ops::wizard::{restart_cni, set_cluster_cidr};
use kcops::ops::{AuditLog, ExecContext, Executor, OpsError};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_proxy_gets_its_cluster_cidr_and_agents_restart() {
    let lab = lab();
    let s = lab.sources().await;
    let client = lab.client().await;
    let before_config = proxy_config(lab);
    assert!(
        before_config.contains("clusterCIDR: \"\""),
        "{before_config}"
    );
    let before_pods = ready_daemon_pods(lab, "kube-system", "k8s-app=kube-proxy");
    assert_eq!(before_pods.len(), 3, "{before_pods:?}");

    // The wizard: what is wrong, the change line by line, then the plan (one restart
    // and wait per node).
    let wizard = set_cluster_cidr::assess(&set_cluster_cidr::gather(&s.snapshot()), None)
        .unwrap_or_else(|e| panic!("no wizard: {e}"));
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
    assert_eq!(plan.steps.len(), 1 + 2 * before_pods.len(), "{preview}");

    // Read-only and a wrong name change nothing.
    let (tx, _rx) = tokio::sync::mpsc::channel(64);
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
