//! The console's ops against the lab: plans run by the executor must change the cluster
//! as kubectl sees it (cordon, delete, scale through the scale subresource), refusals
//! (read-only mode, a wrong typed name) must send nothing, the read-only token must be
//! stopped by RBAC at the first step, and every attempt must leave a JSON audit line.
//!
//! Each test works on its own objects (its own namespace `ops-<test>`) and writes its
//! own audit log under a per-test state directory, so tests run in parallel.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, PostParams};
use kube::config::Kubeconfig;
use kube::{Client, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use common::{Lab, client_for, shared};
use kcops::ops::audit::default_path_from;
use kcops::ops::{
    AuditEntry, AuditLog, Confirmation, ExecContext, Executor, ObjectRef, Op, OpsError, Plan,
    Progress, ScaleKind, Step, WaitFor,
};

fn lab() -> &'static Lab {
    shared("ops", "healthy", &["--no-ceph"])
}

const SLOW: Duration = Duration::from_secs(90);

/// A fresh `$XDG_STATE_HOME` for one test, and the audit log at its default place in it.
fn audit_for(test: &str) -> AuditLog {
    let state = std::env::temp_dir()
        .join(format!("kcops-test-ops-audit-{}", std::process::id()))
        .join(test)
        .join("state");
    let _ = std::fs::remove_dir_all(&state);
    let path = default_path_from(Some(state.into_os_string()), None)
        .unwrap_or_else(|| panic!("no default audit path"));
    AuditLog::new(path)
}

fn context_of(kubeconfig: &Path) -> ExecContext {
    let kc = Kubeconfig::read_from(kubeconfig).unwrap_or_else(|e| panic!("kubeconfig: {e}"));
    ExecContext::from_kubeconfig(&kc, None)
}

async fn admin_executor(test: &str, read_only: bool) -> Executor {
    let lab = lab();
    Executor::new(
        lab.client().await,
        read_only,
        audit_for(test),
        context_of(&lab.state.kubeconfig),
    )
}

/// Runs a plan and returns its result with every progress message it sent.
async fn run(
    exec: &Executor,
    plan: &Plan,
    input: &str,
) -> (Result<kcops::ops::Outcome, OpsError>, Vec<Progress>) {
    let (tx, mut rx) = mpsc::channel(64);
    // The UI spawns plans on their own task: the future must be Send.
    let result = send(exec.run(plan, input, tx)).await;
    let mut progress = Vec::new();
    while let Ok(p) = rx.try_recv() {
        progress.push(p);
    }
    (result, progress)
}

fn send<F: std::future::Future + Send>(f: F) -> F {
    f
}

/// The UI shares one executor between tasks.
const _: fn() = || {
    fn shared<T: Send + Sync>() {}
    shared::<Executor>();
};

fn entries(log: &AuditLog) -> Vec<AuditEntry> {
    if !log.path().exists() {
        return Vec::new();
    }
    log.read_entries()
        .unwrap_or_else(|e| panic!("audit log: {e}"))
}

/// (action, object, result, dry_run) of each audit line but the intents (each of which
/// is checked to come before its step's outcome): the parts that differ per line.
fn summary(log: &AuditLog) -> Vec<(String, String, String, bool)> {
    common::journal::outcomes(&entries(log))
        .into_iter()
        .map(|e| (e.action, e.object, e.result, e.dry_run))
        .collect()
}

fn line(action: &str, object: &str, result: &str) -> (String, String, String, bool) {
    (action.into(), object.into(), result.into(), false)
}

fn from_json<T: DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).unwrap_or_else(|e| panic!("test object does not deserialize: {e}"))
}

async fn create_namespace(client: &Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = from_json(json!({"metadata": {"name": name}}));
    api.create(&PostParams::default(), &ns)
        .await
        .unwrap_or_else(|e| panic!("create namespace {name}: {e}"));
}

async fn create_pod(client: &Client, ns: &str, name: &str) -> Pod {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let pod: Pod = from_json(json!({
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"containers": [{"name": "main", "image": "busybox:1.36"}]}
    }));
    pods.create(&PostParams::default(), &pod)
        .await
        .unwrap_or_else(|e| panic!("create pod {ns}/{name}: {e}"))
}

async fn create_statefulset(client: &Client, ns: &str, name: &str, replicas: i32) {
    let api: Api<StatefulSet> = Api::namespaced(client.clone(), ns);
    let sts: StatefulSet = from_json(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": name, "image": "busybox:1.36"}]}}
        }
    }));
    api.create(&PostParams::default(), &sts)
        .await
        .unwrap_or_else(|e| panic!("create statefulset {ns}/{name}: {e}"));
}

async fn create_deployment(client: &Client, ns: &str, name: &str, replicas: i32) {
    let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let deploy: Deployment = from_json(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": name, "image": "nginx:1.27"}]}}
        }
    }));
    api.create(&PostParams::default(), &deploy)
        .await
        .unwrap_or_else(|e| panic!("create deployment {ns}/{name}: {e}"));
}

/// Polls `f` until it returns Some, or panics with `what` after `timeout`.
async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn pod_running(client: &Client, ns: &str, name: &str) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    eventually(&format!("pod {ns}/{name} Running"), SLOW, || async {
        let p = pods.get_opt(name).await.ok().flatten()?;
        (p.status.and_then(|s| s.phase).as_deref() == Some("Running")).then_some(())
    })
    .await;
}

/// The cell of `column` in the row whose first cell is `name`, from kubectl's table.
fn kubectl_cell(table: &str, name: &str, column: &str) -> Option<String> {
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next()?.split_whitespace().collect();
    let idx = header.iter().position(|h| *h == column)?;
    lines
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|cells| cells.first() == Some(&name))
        .and_then(|cells| cells.get(idx).map(|c| c.to_string()))
}

fn progress_kinds(progress: &[Progress]) -> Vec<(&'static str, usize)> {
    progress
        .iter()
        .map(|p| match p {
            Progress::StepStarted { index, .. } => ("started", *index),
            Progress::StepDone { index, .. } => ("done", *index),
            Progress::StepFailed { index, .. } => ("failed", *index),
        })
        .collect()
}

struct Restore<F: FnMut()>(F);

impl<F: FnMut()> Drop for Restore<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}

/// Cordon then uncordon node2: kubectl shows `Ready,SchedulingDisabled` and then
/// `Ready`; two audit lines with who, where and `ok`.
#[tokio::test]
async fn cordon_and_uncordon_node2() {
    let lab = lab();
    let _restore = Restore(|| {
        let _ = lab.kubectl(&["uncordon", "node2"]);
    });
    let exec = admin_executor("cordon", false).await;

    let plan = Plan::cordon("node2");
    let (result, progress) = run(&exec, &plan, "yes").await;
    let outcome = result.unwrap_or_else(|e| panic!("cordon: {e}"));
    assert_eq!(outcome.title, "Cordon node node2");
    assert_eq!(
        outcome.steps[0].result,
        "node node2 is cordoned (spec.unschedulable is true)"
    );
    assert_eq!(progress_kinds(&progress), [("started", 0), ("done", 0)]);
    assert_eq!(
        progress[0],
        Progress::StepStarted {
            index: 0,
            total: 1,
            text: "Cordon node node2: mark it unschedulable (pods already running there stay)"
                .into()
        }
    );
    let nodes = lab.kubectl_ok(&["get", "nodes"]);
    assert_eq!(
        kubectl_cell(&nodes, "node2", "STATUS").as_deref(),
        Some("Ready,SchedulingDisabled"),
        "{nodes}"
    );
    assert_eq!(
        kubectl_cell(&nodes, "node1", "STATUS").as_deref(),
        Some("Ready")
    );

    let (result, progress) = run(&exec, &Plan::uncordon("node2"), "y").await;
    let outcome = result.unwrap_or_else(|e| panic!("uncordon: {e}"));
    assert_eq!(outcome.steps[0].result, "node node2 is schedulable again");
    assert_eq!(progress_kinds(&progress), [("started", 0), ("done", 0)]);
    let nodes = lab.kubectl_ok(&["get", "nodes"]);
    assert_eq!(
        kubectl_cell(&nodes, "node2", "STATUS").as_deref(),
        Some("Ready"),
        "{nodes}"
    );
    assert_eq!(
        lab.kubectl_ok(&[
            "get",
            "node",
            "node2",
            "-o",
            "jsonpath={.spec.unschedulable}"
        ]),
        "",
        "uncordon removes the field, as kubectl does"
    );

    assert_eq!(
        summary(exec.audit_log()),
        [
            line("cordon", "Node node2", "ok"),
            line("uncordon", "Node node2", "ok")
        ]
    );
    let ctx = context_of(&lab.state.kubeconfig);
    for e in entries(exec.audit_log()) {
        assert_eq!(
            (e.kube_user.as_str(), e.context.as_str(), e.os_user.as_str()),
            (
                ctx.kube_user.as_str(),
                ctx.context_name.as_str(),
                kcops::ops::exec::current_os_user().as_str()
            )
        );
        assert!(!e.kube_user.is_empty() && !e.context.is_empty());
    }
}

/// Deleting a pod needs its exact name: a wrong name changes nothing and is audited as
/// refused; the right one deletes it, and the plan's wait sees it gone.
#[tokio::test]
async fn delete_pod_needs_the_typed_name() {
    let lab = lab();
    let client = lab.client().await;
    let ns = "ops-delete";
    create_namespace(&client, ns).await;
    let created = create_pod(&client, ns, "victim").await;
    pod_running(&client, ns, "victim").await;
    let exec = admin_executor("delete", false).await;
    let plan = Plan::delete_pod(ns, "victim").then_wait(
        WaitFor::PodGone {
            namespace: ns.into(),
            name: "victim".into(),
        },
        SLOW,
    );

    for wrong in ["victim2", "Victim", "victim ", "yes", ""] {
        let (result, progress) = run(&exec, &plan, wrong).await;
        match result {
            Err(e @ OpsError::Confirmation { .. }) => assert_eq!(
                e.to_string(),
                "Delete pod ops-delete/victim refused: the typed name does not match \"victim\""
            ),
            other => panic!("{wrong:?} must be refused, got {other:?}"),
        }
        assert!(progress.is_empty(), "no step started");
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let still = pods
        .get("victim")
        .await
        .unwrap_or_else(|e| panic!("the pod must still be there: {e}"));
    assert_eq!(still.uid(), created.uid());
    assert!(still.metadata.deletion_timestamp.is_none());
    let refused = line(
        "delete-pod",
        "Pod ops-delete/victim",
        "refused: the typed name does not match \"victim\"",
    );
    assert_eq!(summary(exec.audit_log()), vec![refused.clone(); 5]);

    let (result, progress) = run(&exec, &plan, "victim").await;
    let outcome = result.unwrap_or_else(|e| panic!("delete: {e}"));
    assert_eq!(outcome.steps.len(), 2);
    assert!(
        [
            "pod ops-delete/victim is terminating",
            "pod ops-delete/victim is gone"
        ]
        .contains(&outcome.steps[0].result.as_str()),
        "{:?}",
        outcome.steps[0].result
    );
    assert_eq!(outcome.steps[1].result, "pod ops-delete/victim is gone");
    assert_eq!(
        progress_kinds(&progress),
        [("started", 0), ("done", 0), ("started", 1), ("done", 1)]
    );
    let out = lab.kubectl(&["get", "pod", "victim", "-n", ns]);
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "Error from server (NotFound): pods \"victim\" not found"
    );
    let mut want = vec![refused; 5];
    want.push(line("delete-pod", "Pod ops-delete/victim", "ok"));
    assert_eq!(
        summary(exec.audit_log()),
        want,
        "the wait is not a mutation"
    );
}

/// `--read-only` refuses before any request (the pod stays) and audits the refusal; a
/// dry-run is still allowed and only shows the plan.
#[tokio::test]
async fn read_only_mode_refuses_and_dry_run_shows_the_plan() {
    let lab = lab();
    let client = lab.client().await;
    let ns = "ops-readonly";
    create_namespace(&client, ns).await;
    create_pod(&client, ns, "keep").await;
    let exec = admin_executor("readonly", true).await;
    assert!(exec.is_read_only());

    let plan = Plan::delete_pod(ns, "keep");
    let (result, progress) = run(&exec, &plan, "keep").await;
    match result {
        Err(e @ OpsError::ReadOnly { .. }) => {
            assert!(e.is_refusal());
            assert_eq!(
                e.to_string(),
                "kcops is in read-only mode (--read-only): Delete pod ops-readonly/keep refused"
            );
        }
        other => panic!("read-only mode must refuse, got {other:?}"),
    }
    assert!(progress.is_empty());

    let lines = exec
        .dry_run(&plan)
        .unwrap_or_else(|e| panic!("dry-run: {e}"));
    assert_eq!(
        lines,
        [
            "Dry run: nothing will be changed.",
            "Delete pod ops-readonly/keep",
            "Target: Pod ops-readonly/keep",
            "Steps:",
            "  1. [destructive] Delete pod ops-readonly/keep (the pod's own grace period); a controller that owns it creates a replacement",
            "Confirmation: type \"keep\"",
        ]
    );

    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let pod = pods
        .get("keep")
        .await
        .unwrap_or_else(|e| panic!("the pod must still be there: {e}"));
    assert!(pod.metadata.deletion_timestamp.is_none());
    assert_eq!(
        summary(exec.audit_log()),
        [
            line(
                "delete-pod",
                "Pod ops-readonly/keep",
                "refused: kcops is in read-only mode (--read-only)"
            ),
            (
                "delete-pod".into(),
                "Pod ops-readonly/keep".into(),
                "ok".into(),
                true
            ),
        ]
    );
}

/// The read-only token is stopped by RBAC at step 1 with the API server's message; the
/// second step never runs; the attempt is audited as failed. The scale attempt is
/// refused on `statefulsets/scale`, which shows scaling goes through the subresource.
#[tokio::test]
async fn read_only_token_is_forbidden_and_the_plan_stops() {
    let lab = lab();
    let ro = client_for(&lab.state.kubeconfig_readonly).await;
    let exec = Executor::new(
        ro,
        false,
        audit_for("forbidden"),
        context_of(&lab.state.kubeconfig_readonly),
    );
    assert_eq!(exec.context().kube_user, "kcops-readonly");

    let plan = Plan::new(
        "Cordon and uncordon node1",
        ObjectRef::node("node1"),
        Confirmation::YesNo,
    )
    .step(Step::new(
        Op::Cordon {
            node: "node1".into(),
        },
        false,
    ))
    .step(Step::new(
        Op::Uncordon {
            node: "node1".into(),
        },
        false,
    ));
    let rbac = "nodes \"node1\" is forbidden: User \"kcops-readonly\" cannot patch resource \"nodes\" in API group \"\" at the cluster scope";
    let (result, progress) = run(&exec, &plan, "yes").await;
    match &result {
        Err(OpsError::Forbidden { message, halt }) => {
            assert_eq!(message, rbac);
            assert_eq!((halt.step, halt.total), (1, 2));
            assert!(halt.done.is_empty());
            assert_eq!(
                halt.not_run,
                ["Uncordon node node1: allow new pods to be scheduled on it again"]
            );
        }
        other => panic!("expected Forbidden, got {other:?}"),
    }
    let err = result.err().map(|e| e.to_string()).unwrap_or_default();
    assert_eq!(
        err,
        format!(
            "forbidden by RBAC: {rbac}; stopped at step 1 of 2 (Cordon node node1: mark it unschedulable (pods already running there stay)); done: nothing; not run: Uncordon node node1: allow new pods to be scheduled on it again"
        )
    );
    assert_eq!(progress_kinds(&progress), [("started", 0), ("failed", 0)]);
    assert_eq!(
        progress[1],
        Progress::StepFailed {
            index: 0,
            total: 2,
            text: format!("forbidden by RBAC: {rbac}")
        }
    );
    let nodes = lab.kubectl_ok(&["get", "nodes"]);
    assert_eq!(
        kubectl_cell(&nodes, "node1", "STATUS").as_deref(),
        Some("Ready")
    );

    // Scaling as the read-only user: the scale subresource is what RBAC refuses.
    let admin = lab.client().await;
    let ns = "ops-forbidden";
    create_namespace(&admin, ns).await;
    create_statefulset(&admin, ns, "locked", 1).await;
    let (result, _) = run(
        &exec,
        &Plan::scale(ScaleKind::StatefulSet, ns, "locked", 1, 2),
        "yes",
    )
    .await;
    let scale_rbac = "statefulsets.apps \"locked\" is forbidden: User \"kcops-readonly\" cannot patch resource \"statefulsets/scale\" in API group \"apps\" in the namespace \"ops-forbidden\"";
    match &result {
        Err(OpsError::Forbidden { message, .. }) => assert_eq!(message, scale_rbac),
        other => panic!("expected Forbidden, got {other:?}"),
    }
    let sets: Api<StatefulSet> = Api::namespaced(admin.clone(), ns);
    let sts = sets
        .get("locked")
        .await
        .unwrap_or_else(|e| panic!("get: {e}"));
    assert_eq!(sts.spec.and_then(|s| s.replicas), Some(1));

    assert_eq!(
        summary(exec.audit_log()),
        [
            line(
                "cordon",
                "Node node1",
                &format!("failed: forbidden by RBAC: {rbac}")
            ),
            line(
                "scale",
                "StatefulSet ops-forbidden/locked",
                &format!("failed: forbidden by RBAC: {scale_rbac}")
            ),
        ]
    );
    assert!(
        entries(exec.audit_log())
            .iter()
            .all(|e| e.kube_user == "kcops-readonly")
    );
    assert_no_secrets(exec.audit_log(), &lab.state.kubeconfig_readonly);
}

/// A StatefulSet scaled 1 -> 3 through the scale subresource gets its pods and shows 3/3
/// in kubectl; a plan made for a count that is no longer current fails without changing
/// anything; scaling down asks for the name.
#[tokio::test]
async fn scale_statefulset_up_and_down() {
    let lab = lab();
    let client = lab.client().await;
    let ns = "ops-scale";
    create_namespace(&client, ns).await;
    create_statefulset(&client, ns, "kv", 1).await;
    pod_running(&client, ns, "kv-0").await;
    let exec = admin_executor("scale-sts", false).await;
    let ready = |n: i32| WaitFor::ReplicasReady {
        kind: ScaleKind::StatefulSet,
        namespace: ns.into(),
        name: "kv".into(),
        replicas: n,
    };

    let up = Plan::scale(ScaleKind::StatefulSet, ns, "kv", 1, 3).then_wait(ready(3), SLOW);
    assert_eq!(up.confirmation, Confirmation::YesNo);
    let (result, progress) = run(&exec, &up, "yes").await;
    let outcome = result.unwrap_or_else(|e| panic!("scale up: {e}"));
    assert!(
        outcome.steps[0]
            .result
            .starts_with("StatefulSet ops-scale/kv now wants 3 replicas (was 1; "),
        "{}",
        outcome.steps[0].result
    );
    assert_eq!(
        outcome.steps[1].result,
        "StatefulSet ops-scale/kv has 3/3 ready replicas"
    );
    assert_eq!(
        progress_kinds(&progress),
        [("started", 0), ("done", 0), ("started", 1), ("done", 1)]
    );
    let sts = lab.kubectl_ok(&["get", "sts", "-n", ns]);
    assert_eq!(
        kubectl_cell(&sts, "kv", "READY").as_deref(),
        Some("3/3"),
        "{sts}"
    );
    let pods = lab.kubectl_ok(&["get", "pods", "-n", ns, "-o", "name"]);
    assert_eq!(
        pods.lines().collect::<Vec<_>>(),
        ["pod/kv-0", "pod/kv-1", "pod/kv-2"]
    );

    // Planned for 1 replica, but it now wants 3: step 1 fails, nothing changes.
    let stale = Plan::scale(ScaleKind::StatefulSet, ns, "kv", 1, 2);
    let (result, _) = run(&exec, &stale, "yes").await;
    match &result {
        Err(OpsError::StepFailed { message, halt }) => {
            assert_eq!(
                message,
                "StatefulSet ops-scale/kv now wants 3 replicas, not the 1 this plan was made for; nothing was changed, review the plan and try again"
            );
            assert_eq!((halt.step, halt.total), (1, 1));
        }
        other => panic!("a stale plan must fail, got {other:?}"),
    }
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), ns);
    let scale = sets.get_scale("kv").await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(scale.spec.and_then(|s| s.replicas), Some(3));

    // Scaling down removes pods: destructive, so "yes" is not enough.
    let down = Plan::scale(ScaleKind::StatefulSet, ns, "kv", 3, 1).then_wait(ready(1), SLOW);
    assert_eq!(down.confirmation, Confirmation::TypedName("kv".into()));
    let (result, _) = run(&exec, &down, "yes").await;
    assert!(matches!(result, Err(OpsError::Confirmation { .. })));
    let (result, _) = run(&exec, &down, "kv").await;
    result.unwrap_or_else(|e| panic!("scale down: {e}"));
    let sts = lab.kubectl_ok(&["get", "sts", "-n", ns]);
    assert_eq!(
        kubectl_cell(&sts, "kv", "READY").as_deref(),
        Some("1/1"),
        "{sts}"
    );

    assert_eq!(
        summary(exec.audit_log()),
        [
            line("scale", "StatefulSet ops-scale/kv", "ok"),
            line(
                "scale",
                "StatefulSet ops-scale/kv",
                "failed: StatefulSet ops-scale/kv now wants 3 replicas, not the 1 this plan was made for; nothing was changed, review the plan and try again"
            ),
            line(
                "scale",
                "StatefulSet ops-scale/kv",
                "refused: the typed name does not match \"kv\""
            ),
            line("scale", "StatefulSet ops-scale/kv", "ok"),
        ]
    );
}

/// A Deployment scaled 1 -> 2 through the scale subresource shows 2/2 in kubectl.
#[tokio::test]
async fn scale_deployment() {
    let lab = lab();
    let client = lab.client().await;
    let ns = "ops-deploy";
    create_namespace(&client, ns).await;
    create_deployment(&client, ns, "front", 1).await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    eventually("front 1/1", SLOW, || async {
        let d = deployments.get("front").await.ok()?;
        (d.status?.ready_replicas == Some(1)).then_some(())
    })
    .await;
    let exec = admin_executor("scale-deploy", false).await;
    let plan = Plan::scale(ScaleKind::Deployment, ns, "front", 1, 2).then_wait(
        WaitFor::ReplicasReady {
            kind: ScaleKind::Deployment,
            namespace: ns.into(),
            name: "front".into(),
            replicas: 2,
        },
        SLOW,
    );
    let (result, _) = run(&exec, &plan, "yes").await;
    let outcome = result.unwrap_or_else(|e| panic!("scale: {e}"));
    assert_eq!(
        outcome.steps[1].result,
        "Deployment ops-deploy/front has 2/2 ready replicas"
    );
    let table = lab.kubectl_ok(&["get", "deploy", "-n", ns]);
    assert_eq!(
        kubectl_cell(&table, "front", "READY").as_deref(),
        Some("2/2"),
        "{table}"
    );
    assert_eq!(
        summary(exec.audit_log()),
        [line("scale", "Deployment ops-deploy/front", "ok")]
    );
}

/// Refusals send nothing: with a client whose API server does not exist, every refusal
/// is still exactly a refusal (a request would have been a connection error instead),
/// and each is audited; audit lines are JSON objects with exactly the documented fields.
#[tokio::test]
async fn refusals_send_nothing_and_audit_lines_are_json() {
    let config = kube::Config::new(
        "https://127.0.0.1:1"
            .parse()
            .unwrap_or_else(|e| panic!("{e}")),
    );
    let client = Client::try_from(config).unwrap_or_else(|e| panic!("client: {e}"));
    let audit = audit_for("refusals");
    let ctx = ExecContext::new("ops-user", "ops@prod");
    let read_only = Executor::new(client.clone(), true, audit.clone(), ctx.clone());
    let exec = Executor::new(client, false, audit.clone(), ctx);

    let delete = Plan::delete_pod("db", "zk-0");
    let (r, p) = run(&read_only, &Plan::cordon("node9"), "yes").await;
    assert!(matches!(r, Err(OpsError::ReadOnly { .. })) && p.is_empty());
    let (r, p) = run(&exec, &delete, "zk-1").await;
    assert!(matches!(r, Err(OpsError::Confirmation { .. })) && p.is_empty());
    let (r, p) = run(&exec, &Plan::uncordon("node9"), "no").await;
    let err = r.err().map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some("Uncordon node node9 refused: not confirmed (answer \"yes\" to proceed)")
    );
    assert!(p.is_empty());
    let mut sloppy = delete.clone();
    sloppy.confirmation = Confirmation::YesNo;
    let (r, _) = run(&exec, &sloppy, "yes").await;
    assert_eq!(
        r.err().map(|e| e.to_string()).as_deref(),
        Some(
            "Delete pod db/zk-0 refused: invalid plan: a plan with destructive steps must be confirmed by a typed name"
        )
    );

    // The same client really cannot reach anything: a confirmed plan fails at step 1.
    let (r, p) = run(&exec, &Plan::cordon("node9"), "yes").await;
    match &r {
        Err(OpsError::StepFailed { message, halt }) => {
            assert!(message.starts_with("get node node9: "), "{message}");
            assert_eq!(halt.step, 1);
        }
        other => panic!("expected a connection failure, got {other:?}"),
    }
    assert_eq!(progress_kinds(&p), [("started", 0), ("failed", 0)]);

    assert_eq!(
        summary(&audit)[..4],
        [
            line(
                "cordon",
                "Node node9",
                "refused: kcops is in read-only mode (--read-only)"
            ),
            line(
                "delete-pod",
                "Pod db/zk-0",
                "refused: the typed name does not match \"zk-0\""
            ),
            line(
                "uncordon",
                "Node node9",
                "refused: not confirmed (answer \"yes\" to proceed)"
            ),
            line(
                "delete-pod",
                "Pod db/zk-0",
                "refused: invalid plan: a plan with destructive steps must be confirmed by a typed name"
            ),
        ]
    );
    let text = std::fs::read_to_string(audit.path()).unwrap_or_else(|e| panic!("{e}"));
    // Four refusals, then the cordon's intent and its failure.
    assert_eq!(text.lines().count(), 6);
    for (i, l) in text.lines().enumerate() {
        let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"));
        let obj = v
            .as_object()
            .unwrap_or_else(|| panic!("not an object: {l}"));
        let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        let mut want = vec![
            "time",
            "os_user",
            "kube_user",
            "context",
            "action",
            "object",
            "detail",
            "result",
            "dry_run",
        ];
        // A plan step's lines also name the plan run and the step.
        if i >= 4 {
            want.extend(["plan", "plan_title", "step", "steps"]);
            assert_eq!(v["step"], 1);
            assert_eq!(v["steps"], 1);
            assert_eq!(v["plan_title"], "Cordon node node9");
        }
        assert_eq!(keys, want);
        let time = v["time"].as_str().unwrap_or_default();
        assert!(time.parse::<jiff::Timestamp>().is_ok(), "RFC 3339: {time}");
        assert_eq!(v["kube_user"], "ops-user");
        assert_eq!(v["context"], "ops@prod");
        assert_eq!(v["os_user"], kcops::ops::exec::current_os_user().as_str());
        assert_eq!(v["dry_run"], false);
    }
    assert!(
        text.lines()
            .nth(4)
            .is_some_and(|l| l.contains("\"result\":\"intent\""))
    );
    assert!(
        text.lines()
            .last()
            .is_some_and(|l| l.contains("\"result\":\"failed: get node node9: "))
    );
    use std::os::unix::fs::PermissionsExt;

    // An audit log that cannot be written refuses the plan before any request.
    let blocker = audit.path().with_file_name("not-a-dir");
    std::fs::write(&blocker, "").unwrap_or_else(|e| panic!("{e}"));
    let unwritable = Executor::new(
        Client::try_from(kube::Config::new(
            "https://127.0.0.1:1"
                .parse()
                .unwrap_or_else(|e| panic!("{e}")),
        ))
        .unwrap_or_else(|e| panic!("client: {e}")),
        false,
        AuditLog::new(blocker.join("audit.log")),
        ExecContext::new("ops-user", "ops@prod"),
    );
    let (r, p) = run(&unwritable, &Plan::cordon("node9"), "yes").await;
    match &r {
        Err(e @ OpsError::Audit { halt: None, .. }) => assert!(e.is_refusal()),
        other => panic!("expected an audit refusal, got {other:?}"),
    }
    assert!(p.is_empty(), "no step started");
    let mode = std::fs::metadata(audit.path())
        .unwrap_or_else(|e| panic!("{e}"))
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

/// The bearer token of `kubeconfig` appears nowhere in the audit log.
fn assert_no_secrets(log: &AuditLog, kubeconfig: &Path) {
    let kc = std::fs::read_to_string(kubeconfig).unwrap_or_else(|e| panic!("{e}"));
    let token = kc
        .lines()
        .find_map(|l| l.trim().strip_prefix("token: "))
        .unwrap_or_else(|| panic!("no token in {}", kubeconfig.display()));
    assert!(token.len() > 8);
    let text = std::fs::read_to_string(log.path()).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !text.contains(token),
        "the audit log must not contain the token"
    );
}
