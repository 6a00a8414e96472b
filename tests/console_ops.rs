//! Actions taken through the console's ops layer show up in the console's own
//! reflector stores (what the panes draw) and in kubectl; the read-only token is
//! refused with RBAC's message.

mod common;

use std::time::Duration;

use common::{Lab, client_for, shared, wait_for};
use kcops::ops::{AuditLog, ExecContext, Executor, OpsError, Plan, ScaleKind};

fn lab() -> &'static Lab {
    shared("consoleops", "healthy", &["--no-ceph"])
}

fn executor(client: kube::Client, lab: &Lab, test: &str) -> Executor {
    let audit = AuditLog::new(lab.runtime_dir.join(format!("audit-{test}.log")));
    Executor::new(
        client,
        false,
        audit,
        ExecContext::new("kubernetes-admin", "lab"),
    )
}

async fn wait_store(what: &str, f: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cordon_scale_and_delete_reach_the_stores_and_kubectl() {
    let lab = lab();
    let s = lab.sources().await;
    let exec = executor(lab.client().await, lab, "main");
    let (tx, _rx) = tokio::sync::mpsc::channel(64);

    // Cordon node1: the store the Nodes pane reads flips, kubectl agrees.
    exec.run(&Plan::cordon("node1"), "yes", tx.clone())
        .await
        .unwrap_or_else(|e| panic!("cordon: {e}"));
    wait_store("node1 unschedulable in the store", || {
        s.nodes.state().iter().any(|n| {
            n.metadata.name.as_deref() == Some("node1")
                && n.spec.as_ref().and_then(|sp| sp.unschedulable) == Some(true)
        })
    })
    .await;
    let rows = kcops::model::rows::node_rows(&s.snapshot());
    let node1 = rows
        .iter()
        .find(|r| r.name == "node1")
        .unwrap_or_else(|| panic!("no node1 row"));
    assert_eq!(node1.status, "Ready,SchedulingDisabled");
    assert!(
        lab.kubectl_ok(&["get", "node", "node1", "--no-headers"])
            .contains("Ready,SchedulingDisabled")
    );
    exec.run(&Plan::uncordon("node1"), "yes", tx.clone())
        .await
        .unwrap_or_else(|e| panic!("uncordon: {e}"));

    // Scale the web Deployment 2 -> 3 through the scale subresource.
    exec.run(
        &Plan::scale(ScaleKind::Deployment, "demo", "web", 2, 3),
        "yes",
        tx.clone(),
    )
    .await
    .unwrap_or_else(|e| panic!("scale: {e}"));
    wait_store("3 web pods in the store", || {
        s.pods
            .state()
            .iter()
            .filter(|p| {
                p.metadata.namespace.as_deref() == Some("demo")
                    && p.metadata.deletion_timestamp().is_none()
            })
            .count()
            == 3
    })
    .await;
    wait_for("kubectl to show 3/3", Duration::from_secs(60), || {
        lab.kubectl_ok(&["get", "deploy", "web", "-n", "demo", "--no-headers"])
            .contains("3/3")
            .then_some(())
    });

    // Delete one pod (typed name): it leaves the store.
    let victim = s
        .pods
        .state()
        .iter()
        .find(|p| p.metadata.namespace.as_deref() == Some("demo"))
        .and_then(|p| p.metadata.name.clone())
        .unwrap_or_default();
    exec.run(&Plan::delete_pod("demo", &victim), &victim, tx.clone())
        .await
        .unwrap_or_else(|e| panic!("delete: {e}"));
    wait_store("the deleted pod gone from the store", || {
        !s.pods
            .state()
            .iter()
            .any(|p| p.metadata.name.as_deref() == Some(victim.as_str()))
    })
    .await;
    let out = lab.kubectl(&["get", "pod", &victim, "-n", "demo"]);
    assert!(!out.status.success(), "kubectl no longer finds {victim}");
}

#[tokio::test]
async fn read_only_token_is_refused_with_rbacs_message() {
    let lab = lab();
    let client = client_for(&lab.state.kubeconfig_readonly).await;
    let exec = executor(client, lab, "readonly");
    let (tx, _rx) = tokio::sync::mpsc::channel(64);
    match exec.run(&Plan::cordon("node2"), "yes", tx).await {
        Err(OpsError::Forbidden { message, .. }) => {
            assert!(message.contains("nodes \"node2\" is forbidden: User \"kcops-readonly\" cannot patch resource \"nodes\""), "{message}");
        }
        other => panic!("expected Forbidden, got {other:?}"),
    }
    assert!(
        !lab.kubectl_ok(&["get", "node", "node2", "--no-headers"])
            .contains("SchedulingDisabled")
    );
}
