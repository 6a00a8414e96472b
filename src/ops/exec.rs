//! Runs a plan against the cluster, one step at a time.
//!
//! The order of checks is the safety contract: read-only mode, the plan's own invariants
//! and the operator's confirmation are all checked before the first request is sent, and
//! each refusal is audited. Then every step is applied, re-checked against the cluster
//! (an accepted request is not proof of the state), reported as progress and audited; the
//! first failure stops the plan and the error says what was done and what was not.

use std::collections::HashMap;
use std::fmt::Debug;
use std::future::Future;
use std::time::Duration;

use crate::model::pod::Pod;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use kube::runtime::wait::{Condition, await_condition};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::audit::{AuditEntry, AuditLog, now_rfc3339};
use super::error::{Halt, OpsError};
use super::op::{ObjectRef, Op, ScaleKind, WaitFor, human_duration};
use super::plan::Plan;

/// How long one API request may take. kube's own read timeout is minutes; a console step
/// that hangs that long is worse than one that says it got no answer.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The field manager our writes carry, so `managedFields` show who changed what.
const FIELD_MANAGER: &str = "kcops";

/// Who is acting, for the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecContext {
    /// The kubeconfig user (the `AuthInfo` name) the client authenticates as.
    pub kube_user: String,
    /// The kubeconfig context in use.
    pub context_name: String,
    /// The OS login running the console.
    pub os_user: String,
}

impl ExecContext {
    /// A context for `kube_user` in `context_name`, run by the current OS user.
    pub fn new(kube_user: impl Into<String>, context_name: impl Into<String>) -> Self {
        ExecContext {
            kube_user: kube_user.into(),
            context_name: context_name.into(),
            os_user: current_os_user(),
        }
    }

    /// The user and context a kubeconfig selects (`context` overrides its
    /// current-context, as `--context` does). Unknown parts stay empty rather than
    /// failing: the audit line is still written, just with less in it.
    pub fn from_kubeconfig(kc: &kube::config::Kubeconfig, context: Option<&str>) -> Self {
        let name = context
            .map(str::to_string)
            .or_else(|| kc.current_context.clone())
            .unwrap_or_default();
        let user = kc
            .contexts
            .iter()
            .find(|c| c.name == name)
            .and_then(|c| c.context.as_ref())
            .and_then(|c| c.user.clone())
            .unwrap_or_default();
        ExecContext::new(user, name)
    }
}

/// The login name of the real uid (not `$USER`, which the environment can set to
/// anything), or `uid N` when there is no passwd entry (containers).
pub fn current_os_user() -> String {
    let uid = nix::unistd::getuid();
    match nix::unistd::User::from_uid(uid) {
        Ok(Some(user)) => user.name,
        _ => format!("uid {uid}"),
    }
}

/// Step-by-step progress for the UI. `index` is 0-based; `total` is the plan's length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// `text` is the step's description.
    StepStarted {
        index: usize,
        total: usize,
        text: String,
    },
    /// `text` is what the re-check found.
    StepDone {
        index: usize,
        total: usize,
        text: String,
    },
    /// `text` is why the step failed; no further steps run.
    StepFailed {
        index: usize,
        total: usize,
        text: String,
    },
}

/// What one completed step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepReport {
    pub description: String,
    /// What the re-check found (`node node2 is cordoned ...`).
    pub result: String,
}

/// A plan that ran to the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub title: String,
    pub steps: Vec<StepReport>,
}

/// A step's failure before it becomes an [`OpsError`] with the plan's position.
pub(super) enum StepError {
    /// 403 with the API server's message.
    Forbidden(String),
    Failed(String),
}

impl StepError {
    fn text(&self) -> String {
        match self {
            StepError::Forbidden(m) => format!("forbidden by RBAC: {m}"),
            StepError::Failed(m) => m.clone(),
        }
    }
}

/// What earlier steps of the same run learned that later ones need (the uid of a pod
/// deleted in step 2 tells the wait in step 3 that a same-named pod is a replacement).
#[derive(Default)]
struct RunMemo {
    deleted_pods: HashMap<(String, String), String>,
}

/// Executes plans with one client, as one user, into one audit log.
pub struct Executor {
    client: Client,
    read_only: bool,
    audit: AuditLog,
    context: ExecContext,
    /// For Ceph steps (fence, break a lock, lock waits); `None` fails them clearly.
    ceph: Option<crate::ceph::CephClient>,
}

impl Executor {
    pub fn new(client: Client, read_only: bool, audit: AuditLog, context: ExecContext) -> Self {
        Executor {
            client,
            read_only,
            audit,
            context,
            ceph: None,
        }
    }

    /// The same executor with a Ceph client for Ceph steps (existing callers that
    /// never run one need not have a Ceph connection).
    pub fn with_ceph(mut self, ceph: crate::ceph::CephClient) -> Self {
        self.ceph = Some(ceph);
        self
    }

    /// The Ceph client Ceph steps use, or the step's failure saying there is none.
    fn ceph_for(&self, what: &str) -> Result<&crate::ceph::CephClient, StepError> {
        self.ceph.as_ref().ok_or_else(|| {
            StepError::Failed(format!(
                "{what} needs a Ceph connection, and this console has none (--no-ceph, or no ceph.conf/keyring)"
            ))
        })
    }

    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    pub fn context(&self) -> &ExecContext {
        &self.context
    }

    pub fn audit_log(&self) -> &AuditLog {
        &self.audit
    }

    /// The plan's preview without touching the cluster, audited with `dry_run: true` (one
    /// line per mutating step). Allowed under `--read-only`: it changes nothing.
    pub fn dry_run(&self, plan: &Plan) -> Result<Vec<String>, OpsError> {
        let mut lines = vec!["Dry run: nothing will be changed.".to_string()];
        lines.extend(plan.render());
        for step in plan.steps.iter().filter(|s| s.op.is_mutation()) {
            let entry = self.entry(
                step.op.action(),
                &step.op.object(),
                &step.description,
                "ok".into(),
                true,
            );
            self.audit.append(&entry).map_err(|e| OpsError::Audit {
                path: self.audit.path().to_path_buf(),
                message: e.to_string(),
                halt: None,
            })?;
        }
        Ok(lines)
    }

    /// Runs `plan` after checking read-only mode, the plan and `confirmation_input`.
    ///
    /// `progress` should be drained by the caller (the UI); a dropped receiver is fine,
    /// the plan still runs to its end or its first failure.
    pub async fn run(
        &self,
        plan: &Plan,
        confirmation_input: &str,
        progress: mpsc::Sender<Progress>,
    ) -> Result<Outcome, OpsError> {
        if self.read_only {
            self.record_refusal(plan, "kcops is in read-only mode (--read-only)");
            return Err(OpsError::ReadOnly {
                title: plan.title.clone(),
            });
        }
        if let Err(reason) = plan.validate() {
            self.record_refusal(plan, &format!("invalid plan: {reason}"));
            return Err(OpsError::InvalidPlan {
                title: plan.title.clone(),
                reason,
            });
        }
        if let Err(reason) = plan.check_confirmation(confirmation_input) {
            self.record_refusal(plan, &reason.to_string());
            return Err(OpsError::Confirmation {
                title: plan.title.clone(),
                reason,
            });
        }
        // A mutation that cannot be recorded is not made.
        self.audit.ensure().map_err(|e| OpsError::Audit {
            path: self.audit.path().to_path_buf(),
            message: e.to_string(),
            halt: None,
        })?;

        let total = plan.steps.len();
        let mut memo = RunMemo::default();
        let mut reports: Vec<StepReport> = Vec::new();
        info!(plan = %plan.title, user = %self.context.kube_user, context = %self.context.context_name, "running plan");
        for (index, step) in plan.steps.iter().enumerate() {
            let _ = progress
                .send(Progress::StepStarted {
                    index,
                    total,
                    text: step.description.clone(),
                })
                .await;
            info!(plan = %plan.title, step = index + 1, "{}", step.description);
            let result = self.perform(&step.op, &mut memo).await;

            let audit_error = if step.op.is_mutation() {
                let outcome = match &result {
                    Ok(_) => "ok".to_string(),
                    Err(e) => format!("failed: {}", e.text()),
                };
                let entry = self.entry(
                    step.op.action(),
                    &step.op.object(),
                    &step.description,
                    outcome,
                    false,
                );
                self.audit.append(&entry).err()
            } else {
                None
            };
            let not_run: Vec<String> = plan.steps[index + 1..]
                .iter()
                .map(|s| s.description.clone())
                .collect();

            match result {
                Ok(text) => {
                    info!(plan = %plan.title, step = index + 1, "done: {text}");
                    let _ = progress
                        .send(Progress::StepDone {
                            index,
                            total,
                            text: text.clone(),
                        })
                        .await;
                    reports.push(StepReport {
                        description: step.description.clone(),
                        result: text,
                    });
                    if let Some(e) = audit_error {
                        warn!(plan = %plan.title, "audit log write failed: {e}");
                        return Err(OpsError::Audit {
                            path: self.audit.path().to_path_buf(),
                            message: e.to_string(),
                            halt: Some(Box::new(Halt {
                                step: index + 1,
                                total,
                                failed: format!("recording step {} in the audit log", index + 1),
                                done: reports.into_iter().map(|r| r.description).collect(),
                                not_run,
                            })),
                        });
                    }
                }
                Err(e) => {
                    let text = e.text();
                    warn!(plan = %plan.title, step = index + 1, "failed: {text}");
                    if let Some(a) = audit_error {
                        warn!(plan = %plan.title, "audit log write failed too: {a}");
                    }
                    let _ = progress
                        .send(Progress::StepFailed { index, total, text })
                        .await;
                    let halt = Box::new(Halt {
                        step: index + 1,
                        total,
                        failed: step.description.clone(),
                        done: reports.into_iter().map(|r| r.description).collect(),
                        not_run,
                    });
                    return Err(match e {
                        StepError::Forbidden(message) => OpsError::Forbidden { message, halt },
                        StepError::Failed(message) => OpsError::StepFailed { message, halt },
                    });
                }
            }
        }
        Ok(Outcome {
            title: plan.title.clone(),
            steps: reports,
        })
    }

    /// One audit line for a plan refused before it started (one line, not one per step:
    /// nothing was attempted). A failing audit write does not hide the refusal itself.
    fn record_refusal(&self, plan: &Plan, reason: &str) {
        warn!(plan = %plan.title, "refused: {reason}");
        let entry = self.entry(
            &plan.action(),
            &plan.target,
            &plan.title,
            format!("refused: {reason}"),
            false,
        );
        if let Err(e) = self.audit.append(&entry) {
            warn!(plan = %plan.title, "cannot record the refusal in {}: {e}", self.audit.path().display());
        }
    }

    fn entry(
        &self,
        action: &str,
        object: &ObjectRef,
        detail: &str,
        result: String,
        dry_run: bool,
    ) -> AuditEntry {
        AuditEntry {
            time: now_rfc3339(),
            os_user: self.context.os_user.clone(),
            kube_user: self.context.kube_user.clone(),
            context: self.context.context_name.clone(),
            action: action.to_string(),
            object: object.to_string(),
            detail: detail.to_string(),
            result,
            dry_run,
        }
    }

    /// Applies one operation and re-checks the state it should leave; `Ok` carries what
    /// the re-check found.
    async fn perform(&self, op: &Op, memo: &mut RunMemo) -> Result<String, StepError> {
        match op {
            Op::Cordon { node } => self.set_unschedulable(node, true).await,
            Op::Uncordon { node } => self.set_unschedulable(node, false).await,
            Op::DeletePod {
                namespace,
                name,
                grace,
            } => self.delete_pod(namespace, name, *grace, memo).await,
            Op::Scale {
                kind,
                namespace,
                name,
                replicas,
                expect_current,
            } => {
                let c = self.client.clone();
                let obj = format!("{kind} {namespace}/{name}");
                match kind {
                    ScaleKind::StatefulSet => {
                        let api = Api::<StatefulSet>::namespaced(c, namespace);
                        scale(api, &obj, name, *replicas, *expect_current).await
                    }
                    ScaleKind::Deployment => {
                        let api = Api::<Deployment>::namespaced(c, namespace);
                        scale(api, &obj, name, *replicas, *expect_current).await
                    }
                    ScaleKind::ReplicaSet => {
                        let api = Api::<ReplicaSet>::namespaced(c, namespace);
                        scale(api, &obj, name, *replicas, *expect_current).await
                    }
                }
            }
            Op::Wait { what, timeout } => self.wait(what, *timeout, memo).await,
            Op::Fence { addr, expire, .. } => {
                let ceph = self.ceph_for("fencing a Ceph client")?;
                super::rbd_steps::fence(ceph, addr, *expire).await
            }
            Op::BreakLock {
                pool,
                image,
                locker,
                cookie,
                address,
                watchers: _,
            } => {
                // The watchers of the plan are for `Plan::validate`; the step re-reads
                // the live watchers itself.
                let ceph = self.ceph_for("breaking an RBD lock")?;
                super::rbd_steps::break_lock(ceph, pool, image, locker, cookie, address).await
            }
            Op::ReleaseReservations {
                node,
                host_root,
                network,
                sandboxes_command,
                reservations,
            } => {
                let mut probe =
                    crate::host::probe::HostProbe::new(host_root.clone(), Some(node.clone()));
                probe.sandboxes_command = sandboxes_command.clone();
                let approved: Vec<crate::host::release::Approved> = reservations
                    .iter()
                    .map(|(ip, sandbox)| crate::host::release::Approved {
                        ip: ip.clone(),
                        sandbox: sandbox.clone(),
                    })
                    .collect();
                let total = approved.len();
                let network = network.clone();
                // File IO, a lock wait and perhaps a command: off the async workers.
                match tokio::task::spawn_blocking(move || {
                    crate::host::release::release(&probe, &network, &approved)
                })
                .await
                {
                    Ok(Ok(done)) => Ok(done.summary(total)),
                    Ok(Err(e)) => Err(StepError::Failed(e)),
                    Err(e) => Err(StepError::Failed(format!(
                        "the release did not finish: {e}"
                    ))),
                }
            }
            Op::SetKubeProxyClusterCidr {
                namespace,
                configmap,
                cidr,
                expect_current,
            } => {
                super::network::set_cluster_cidr(
                    &self.client,
                    namespace,
                    configmap,
                    cidr,
                    expect_current,
                )
                .await
            }
        }
    }

    /// Cordon/uncordon as kubectl does it: a merge patch of `spec.unschedulable` (`null`
    /// to uncordon, so the field disappears as with kubectl).
    async fn set_unschedulable(&self, node: &str, on: bool) -> Result<String, StepError> {
        let nodes: Api<Node> = Api::all(self.client.clone());
        let value = if on { json!(true) } else { Value::Null };
        let patch = json!({"spec": {"unschedulable": value}});
        write(
            &format!("patch node {node}"),
            nodes.patch(node, &patch_params(), &Patch::Merge(&patch)),
        )
        .await?;
        let now = read(&format!("re-check node {node}"), nodes.get(node)).await?;
        let unschedulable = now.spec.and_then(|s| s.unschedulable).unwrap_or(false);
        match (on, unschedulable) {
            (true, true) => Ok(format!(
                "node {node} is cordoned (spec.unschedulable is true)"
            )),
            (false, false) => Ok(format!("node {node} is schedulable again")),
            _ => Err(StepError::Failed(format!(
                "re-check: node {node} has spec.unschedulable {unschedulable} after the patch"
            ))),
        }
    }

    /// Deletes exactly the pod that is there now (uid precondition, so a replacement that
    /// appears between our read and our delete is not deleted in its place), then checks
    /// that it is gone, terminating, or replaced.
    async fn delete_pod(
        &self,
        namespace: &str,
        name: &str,
        grace: Option<u32>,
        memo: &mut RunMemo,
    ) -> Result<String, StepError> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let pod = format!("pod {namespace}/{name}");
        let Some(current) = read(&format!("get {pod}"), pods.get_opt(name)).await? else {
            return Ok(format!("{pod} was already gone; nothing to delete"));
        };
        let uid = current.metadata.uid.clone();
        let params = DeleteParams {
            grace_period_seconds: grace,
            preconditions: uid.clone().map(|uid| Preconditions {
                uid: Some(uid),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        match within(&format!("delete {pod}"), true, pods.delete(name, &params)).await? {
            Ok(_) => {}
            Err(kube::Error::Api(r)) if r.code == 404 => {
                return Ok(format!("{pod} was already gone; nothing to delete"));
            }
            Err(e) => return Err(from_kube(&format!("delete {pod}"), e)),
        }
        if let Some(uid) = &uid {
            memo.deleted_pods
                .insert((namespace.to_string(), name.to_string()), uid.clone());
        }
        match read(&format!("re-check {pod}"), pods.get_opt(name)).await? {
            None => Ok(format!("{pod} is gone")),
            Some(p) if p.metadata.uid != uid => Ok(format!(
                "{pod} was deleted; its controller already created a replacement"
            )),
            Some(p) if p.metadata.deletion_timestamp.is_some() => {
                Ok(format!("{pod} is terminating"))
            }
            Some(_) => Err(StepError::Failed(format!(
                "re-check: {pod} is still there and not terminating"
            ))),
        }
    }

    async fn wait(
        &self,
        what: &WaitFor,
        timeout: Duration,
        memo: &RunMemo,
    ) -> Result<String, StepError> {
        let c = self.client.clone();
        match what {
            WaitFor::PodGone { namespace, name } => {
                let deleted = memo
                    .deleted_pods
                    .get(&(namespace.clone(), name.clone()))
                    .cloned();
                let cond = move |p: Option<&Pod>| match p {
                    None => true,
                    Some(p) => deleted.is_some() && p.metadata.uid != deleted,
                };
                wait_until(
                    Api::<Pod>::namespaced(c, namespace),
                    name,
                    cond,
                    timeout,
                    what,
                )
                .await?;
                Ok(format!("pod {namespace}/{name} is gone"))
            }
            WaitFor::DaemonPodReady {
                namespace,
                daemonset,
                node,
            } => {
                let deleted: Vec<String> = memo
                    .deleted_pods
                    .iter()
                    .filter(|((ns, _), _)| ns == namespace)
                    .map(|(_, uid)| uid.clone())
                    .collect();
                let deadline = tokio::time::Instant::now() + timeout;
                loop {
                    if let Some(pod) =
                        super::network::daemon_pod_ready(&c, namespace, daemonset, node, &deleted)
                            .await?
                    {
                        return Ok(format!(
                            "pod {namespace}/{pod} of DaemonSet {daemonset} is Running and Ready on {node}"
                        ));
                    }
                    if tokio::time::Instant::now() >= deadline {
                        return Err(StepError::Failed(format!(
                            "{what}: not reached within {}",
                            human_duration(timeout)
                        )));
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
            WaitFor::ClaimPodReady { namespace, claim } => {
                super::rbd_steps::wait_claim_pod_ready(&c, namespace, claim, timeout, what).await
            }
            WaitFor::LockHeldBy { pool, image, node } => {
                let ceph = self.ceph_for("waiting for an RBD lock")?;
                super::rbd_steps::wait_lock_held_by(&c, ceph, pool, image, node, timeout, what)
                    .await
            }
            WaitFor::PodReady { namespace, name } => {
                let cond = |p: Option<&Pod>| p.is_some_and(pod_ready);
                wait_until(
                    Api::<Pod>::namespaced(c, namespace),
                    name,
                    cond,
                    timeout,
                    what,
                )
                .await?;
                Ok(format!("pod {namespace}/{name} is Running and Ready"))
            }
            WaitFor::ReplicasReady {
                kind,
                namespace,
                name,
                replicas,
            } => {
                let want = *replicas;
                match kind {
                    ScaleKind::StatefulSet => {
                        let cond = move |s: Option<&StatefulSet>| {
                            s.and_then(|s| s.status.as_ref()).is_some_and(|st| {
                                ready_counts(st.replicas, st.ready_replicas, want)
                            })
                        };
                        let api = Api::<StatefulSet>::namespaced(c, namespace);
                        wait_until(api, name, cond, timeout, what).await?;
                    }
                    ScaleKind::Deployment => {
                        let cond = move |d: Option<&Deployment>| {
                            d.and_then(|d| d.status.as_ref()).is_some_and(|st| {
                                ready_counts(st.replicas.unwrap_or(0), st.ready_replicas, want)
                            })
                        };
                        let api = Api::<Deployment>::namespaced(c, namespace);
                        wait_until(api, name, cond, timeout, what).await?;
                    }
                    ScaleKind::ReplicaSet => {
                        let cond = move |r: Option<&ReplicaSet>| {
                            r.and_then(|r| r.status.as_ref()).is_some_and(|st| {
                                ready_counts(st.replicas, st.ready_replicas, want)
                            })
                        };
                        let api = Api::<ReplicaSet>::namespaced(c, namespace);
                        wait_until(api, name, cond, timeout, what).await?;
                    }
                }
                Ok(format!(
                    "{kind} {namespace}/{name} has {want}/{want} ready replicas"
                ))
            }
        }
    }
}

pub(super) fn patch_params() -> PatchParams {
    PatchParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PatchParams::default()
    }
}

/// Scale through the scale subresource: read the current desired count (refusing if it
/// is not what the plan was made for), patch it with the read resourceVersion (so a
/// concurrent change is a conflict on API servers that honour it), then re-read it.
async fn scale<K>(
    api: Api<K>,
    obj: &str,
    name: &str,
    replicas: i32,
    expect_current: Option<i32>,
) -> Result<String, StepError>
where
    K: Clone + DeserializeOwned,
{
    let before = read(&format!("get the scale of {obj}"), api.get_scale(name)).await?;
    // ScaleSpec.replicas is omitempty on the server: absent means 0.
    let current = before.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
    if let Some(expected) = expect_current
        && current != expected
    {
        return Err(StepError::Failed(format!(
            "{obj} now wants {current} replicas, not the {expected} this plan was made for; nothing was changed, review the plan and try again"
        )));
    }
    let mut patch = json!({"spec": {"replicas": replicas}});
    if let Some(rv) = &before.metadata.resource_version {
        patch["metadata"] = json!({"resourceVersion": rv});
    }
    write(
        &format!("scale {obj}"),
        api.patch_scale(name, &patch_params(), &Patch::Merge(&patch)),
    )
    .await?;
    let after = read(&format!("re-check the scale of {obj}"), api.get_scale(name)).await?;
    let now = after.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
    let existing = after.status.as_ref().map(|s| s.replicas).unwrap_or(0);
    if now == replicas {
        Ok(format!(
            "{obj} now wants {replicas} replicas (was {current}; {existing} exist so far)"
        ))
    } else {
        Err(StepError::Failed(format!(
            "re-check: {obj} wants {now} replicas after the change, not {replicas}"
        )))
    }
}

fn ready_counts(replicas: i32, ready: Option<i32>, want: i32) -> bool {
    replicas == want && ready.unwrap_or(0) == want
}

/// Running, Ready, and not on its way out.
pub(super) fn pod_ready(p: &Pod) -> bool {
    if p.metadata.deletion_timestamp.is_some() {
        return false;
    }
    let Some(status) = &p.status else {
        return false;
    };
    status.phase.as_deref() == Some("Running")
        && status
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True")
}

/// Watches `name` until `cond` holds or `timeout` passes.
async fn wait_until<K>(
    api: Api<K>,
    name: &str,
    cond: impl Condition<K>,
    timeout: Duration,
    what: &WaitFor,
) -> Result<(), StepError>
where
    K: Clone + Debug + Send + DeserializeOwned + Resource + 'static,
{
    match tokio::time::timeout(timeout, await_condition(api, name, cond)).await {
        Err(_) => Err(StepError::Failed(format!(
            "{what}: not reached within {}",
            human_duration(timeout)
        ))),
        Ok(Err(e)) => Err(StepError::Failed(format!(
            "waiting for {what}: {}",
            error_chain(&e)
        ))),
        Ok(Ok(_)) => Ok(()),
    }
}

/// A read: errors mapped, no answer within [`CALL_TIMEOUT`] is a failure.
pub(super) async fn read<T>(
    what: &str,
    fut: impl Future<Output = kube::Result<T>>,
) -> Result<T, StepError> {
    within(what, false, fut)
        .await?
        .map_err(|e| from_kube(what, e))
}

/// A write: as [`read`], but a missing answer says the change may have happened.
pub(super) async fn write<T>(
    what: &str,
    fut: impl Future<Output = kube::Result<T>>,
) -> Result<T, StepError> {
    within(what, true, fut)
        .await?
        .map_err(|e| from_kube(what, e))
}

/// Bounds a request by [`CALL_TIMEOUT`], leaving its own result to the caller.
async fn within<T>(
    what: &str,
    mutating: bool,
    fut: impl Future<Output = kube::Result<T>>,
) -> Result<kube::Result<T>, StepError> {
    tokio::time::timeout(CALL_TIMEOUT, fut).await.map_err(|_| {
        let unknown = if mutating {
            "; whether the change was applied is unknown, check before retrying"
        } else {
            ""
        };
        StepError::Failed(format!(
            "{what}: no answer from the API server within {}{unknown}",
            human_duration(CALL_TIMEOUT)
        ))
    })
}

/// 403 keeps the API server's message verbatim (it names user, verb and resource, which
/// is what the operator needs to ask for the right RBAC); other API errors keep code and
/// reason; transport errors keep their cause chain (`connection refused`, TLS, ...).
fn from_kube(what: &str, e: kube::Error) -> StepError {
    match e {
        kube::Error::Api(r) if r.code == 403 => StepError::Forbidden(r.message),
        kube::Error::Api(r) => {
            StepError::Failed(format!("{what}: {} ({} {})", r.message, r.code, r.reason))
        }
        other => StepError::Failed(format!("{what}: {}", error_chain(&other))),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_comes_from_the_kubeconfig() {
        let kc = kube::config::Kubeconfig::from_yaml(
            "apiVersion: v1\nkind: Config\nclusters: []\nusers: []\ncontexts:\n- name: ops@lab\n  context:\n    cluster: lab\n    user: ops\n- name: ro@lab\n  context:\n    cluster: lab\n    user: ro\ncurrent-context: ops@lab\n",
        )
        .unwrap();
        let c = ExecContext::from_kubeconfig(&kc, None);
        assert_eq!(
            (c.kube_user.as_str(), c.context_name.as_str()),
            ("ops", "ops@lab")
        );
        let c = ExecContext::from_kubeconfig(&kc, Some("ro@lab"));
        assert_eq!(
            (c.kube_user.as_str(), c.context_name.as_str()),
            ("ro", "ro@lab")
        );
        assert!(!c.os_user.is_empty());
        let c = ExecContext::from_kubeconfig(&kc, Some("missing"));
        assert_eq!(c.kube_user, "");
    }

    #[test]
    fn ready_counts_need_both_numbers() {
        assert!(ready_counts(3, Some(3), 3));
        assert!(
            !ready_counts(4, Some(3), 3),
            "a surplus pod is still going away"
        );
        assert!(!ready_counts(3, Some(2), 3));
        assert!(ready_counts(0, None, 0));
    }
}
