//! Runs a plan against the cluster, one step at a time.
//!
//! The order of checks is the safety contract: read-only mode, the plan's own invariants
//! and the operator's confirmation are all checked before the first request is sent, and
//! each refusal is audited. Then, for every step: its intent is written to the journal
//! and fsync'ed (if that fails, the step does not run), it is applied and re-checked
//! against the cluster (an accepted request is not proof of the state; a change found
//! already made is recorded as such), and its outcome is journaled. The first failure
//! stops the plan and the error says what was done and what was not; a [`PlanStop`]
//! (a signal) lets the step under way finish, or cancels a wait, and records the rest
//! as not run.

use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use kube::Client;
use kube::api::Api;
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::audit::{AuditEntry, AuditLog, INTENT, now_rfc3339};
use super::error::{Halt, OpsError};
use super::op::{HostAccess, ObjectRef, Op, ScaleKind, WaitFor};
use super::plan::Plan;
use super::steps::kube::DeletedPods;
use super::steps::{self, Applied, StepError};
use super::stop::PlanStop;

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

/// What earlier steps of the same run learned that later ones need (the uid of a pod
/// deleted in step 2 tells the wait in step 3 that a same-named pod is a replacement).
#[derive(Default)]
struct RunMemo {
    deleted_pods: DeletedPods,
}

impl RunMemo {
    /// The uids of the pods this run deleted in `namespace` (a wait must not take
    /// one of them, still terminating, for its replacement).
    fn deleted_in(&self, namespace: &str) -> Vec<String> {
        self.deleted_pods
            .iter()
            .filter(|((ns, _), _)| ns == namespace)
            .map(|(_, uid)| uid.clone())
            .collect()
    }
}

/// One run of a plan: the plan and the id its journal lines carry.
struct PlanRun<'a> {
    plan: &'a Plan,
    id: String,
}

/// Executes plans with one client, as one user, into one audit log.
pub struct Executor {
    /// `None` for an executor of machine steps before any cluster exists
    /// ([`Executor::without_cluster`]): cluster steps then fail saying so.
    client: Option<Client>,
    read_only: bool,
    audit: AuditLog,
    context: ExecContext,
    /// For Ceph steps (fence, break a lock, lock waits); `None` fails them clearly.
    ceph: Option<crate::ceph::CephClient>,
    /// Asked by a signal: finish or cancel the step under way, run no more.
    stop: PlanStop,
    /// Where host reports read through debug pods go (the Network pane's other nodes).
    remote_hosts: crate::host::remote::RemoteHosts,
}

impl Executor {
    pub fn new(client: Client, read_only: bool, audit: AuditLog, context: ExecContext) -> Self {
        Executor {
            client: Some(client),
            read_only,
            audit,
            context,
            ceph: None,
            stop: PlanStop::default(),
            remote_hosts: Default::default(),
        }
    }

    /// An executor for steps on this machine only (`kcops setup reset`), before any
    /// cluster exists: the same refusals, confirmation and audit as every plan.
    pub fn without_cluster(read_only: bool, audit: AuditLog, context: ExecContext) -> Self {
        Executor {
            client: None,
            read_only,
            audit,
            context,
            ceph: None,
            stop: PlanStop::default(),
            remote_hosts: Default::default(),
        }
    }

    /// The cluster client, or the step's failure saying there is no cluster.
    fn client(&self) -> Result<&Client, StepError> {
        self.client.as_ref().ok_or_else(|| {
            StepError::Failed("this step needs a cluster, and this run has none".into())
        })
    }

    /// The same executor filing the host reports its debug pods read into `hosts`.
    pub fn with_remote_hosts(mut self, hosts: crate::host::remote::RemoteHosts) -> Self {
        self.remote_hosts = hosts;
        self
    }

    /// The same executor stopping when `stop` is triggered (the console's signals).
    pub(crate) fn with_stop(mut self, stop: PlanStop) -> Self {
        self.stop = stop;
        self
    }

    /// The console's executor: the connection's client, user and context, the console's
    /// audit log and read-only mode, and its Ceph client when it has one (without, Ceph
    /// steps fail saying so). Every plan the console runs, from a dialog or a wizard,
    /// gets the same one.
    pub(crate) fn for_console(
        conn: &crate::kube::connect::Connection,
        ceph: Option<crate::ceph::CephClient>,
        audit_log: &std::path::Path,
        read_only: bool,
    ) -> Self {
        let executor = Executor::new(
            conn.client.clone(),
            read_only,
            AuditLog::new(audit_log.to_path_buf()),
            ExecContext::new(conn.user.clone(), conn.context.clone()),
        );
        match ceph {
            Some(ceph) => executor.with_ceph(ceph),
            None => executor,
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
    /// the plan still runs to its end, its first failure or a stop.
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

        let run = PlanRun {
            plan,
            id: uuid::Uuid::new_v4().to_string(),
        };
        let total = plan.steps.len();
        let mut memo = RunMemo::default();
        let mut reports: Vec<StepReport> = Vec::new();
        let done = |reports: &[StepReport]| -> Vec<String> {
            reports.iter().map(|r| r.description.clone()).collect()
        };
        info!(plan = %plan.title, id = %run.id, user = %self.context.kube_user, context = %self.context.context_name, "running plan");
        for (index, step) in plan.steps.iter().enumerate() {
            let not_run: Vec<String> = plan.steps[index + 1..]
                .iter()
                .map(|s| s.description.clone())
                .collect();
            // Asked to stop between steps: this one and the rest are not run.
            if let Some(reason) = self.stop.reason() {
                return Err(self.stopped(&run, index, reason, &reports));
            }
            let _ = progress
                .send(Progress::StepStarted {
                    index,
                    total,
                    text: step.description.clone(),
                })
                .await;
            info!(plan = %plan.title, step = index + 1, "{}", step.description);
            // Written ahead, or the step does not run.
            if step.op.is_mutation()
                && let Err(e) = self
                    .audit
                    .append(&self.step_entry(&run, index, INTENT.into()))
            {
                warn!(plan = %plan.title, step = index + 1, "cannot record the intent: {e}");
                let text = format!("not run: its intent cannot be written to the audit log: {e}");
                let _ = progress
                    .send(Progress::StepFailed { index, total, text })
                    .await;
                return Err(OpsError::Audit {
                    path: self.audit.path().to_path_buf(),
                    message: e.to_string(),
                    halt: Some(Box::new(Halt {
                        step: index + 1,
                        total,
                        failed: format!(
                            "not run, since its intent could not be recorded: {}",
                            step.description
                        ),
                        done: done(&reports),
                        not_run,
                    })),
                });
            }
            // A mutation under way finishes (its outcome is unknown otherwise); a wait
            // is cancelled by a stop.
            let result = if step.op.is_mutation() {
                Some(self.perform(&step.op, &mut memo).await)
            } else {
                tokio::select! {
                    r = self.perform(&step.op, &mut memo) => Some(r),
                    _ = self.stop.stopped() => None,
                }
            };
            let Some(result) = result else {
                let reason = self.stop.reason().unwrap_or("stopped");
                let text = format!("cancelled: {reason}");
                let _ = progress
                    .send(Progress::StepFailed { index, total, text })
                    .await;
                return Err(self.stopped(&run, index, reason, &reports));
            };

            let audit_error = if step.op.is_mutation() {
                let outcome = match &result {
                    Ok(Applied::Done(_)) => "ok".to_string(),
                    Ok(a @ Applied::AlreadyDone(_)) => a.text(),
                    Err(e) => format!("failed: {}", e.text()),
                };
                self.audit
                    .append(&self.step_entry(&run, index, outcome))
                    .err()
            } else {
                None
            };

            match result {
                Ok(applied) => {
                    let text = applied.text();
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
                                done: done(&reports),
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
                        done: done(&reports),
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

    /// Stops the run at step `index` (not started, or a wait cancelled): every
    /// mutation from there on gets a "not run" line, and the error says where it
    /// stopped.
    fn stopped(
        &self,
        run: &PlanRun,
        index: usize,
        reason: &str,
        reports: &[StepReport],
    ) -> OpsError {
        let plan = run.plan;
        warn!(plan = %plan.title, step = index + 1, "{reason}: the rest is not run");
        for (i, step) in plan.steps.iter().enumerate().skip(index) {
            if step.op.is_mutation()
                && let Err(e) =
                    self.audit
                        .append(&self.step_entry(run, i, format!("not run: {reason}")))
            {
                warn!(plan = %plan.title, step = i + 1, "cannot record that it was not run: {e}");
            }
        }
        OpsError::Stopped {
            reason: reason.to_string(),
            halt: Box::new(Halt {
                step: index + 1,
                total: plan.steps.len(),
                failed: format!("not finished: {}", plan.steps[index].description),
                done: reports.iter().map(|r| r.description.clone()).collect(),
                not_run: plan.steps[index + 1..]
                    .iter()
                    .map(|s| s.description.clone())
                    .collect(),
            }),
        }
    }

    /// The journal line of step `index` of a run: an intent or an outcome.
    fn step_entry(&self, run: &PlanRun, index: usize, result: String) -> AuditEntry {
        let step = &run.plan.steps[index];
        AuditEntry {
            plan: Some(run.id.clone()),
            plan_title: Some(run.plan.title.clone()),
            step: Some(index + 1),
            steps: Some(run.plan.steps.len()),
            ..self.entry(
                step.op.action(),
                &step.op.object(),
                &step.description,
                result,
                false,
            )
        }
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
            plan: None,
            plan_title: None,
            step: None,
            steps: None,
        }
    }

    /// Applies one operation and re-checks the state it should leave; `Ok` carries what
    /// the re-check found. Each arm hands over to the module of the system it touches.
    async fn perform(&self, op: &Op, memo: &mut RunMemo) -> Result<Applied, StepError> {
        if let Op::Node(n) = op {
            return steps::node_reset::perform(n).await;
        }
        let c = self.client()?;
        Ok(Applied::Done(match op {
            Op::Cordon { node } => return steps::kube::set_unschedulable(c, node, true).await,
            Op::Member(m) => {
                return match m.ensemble.kind {
                    crate::model::members::EnsembleKind::Etcd => steps::etcd::perform(c, m).await,
                    crate::model::members::EnsembleKind::ZooKeeper => {
                        steps::zookeeper::perform(c, m).await
                    }
                };
            }
            Op::DeleteClaim { namespace, name } => {
                return steps::claims::delete_claim(c, namespace, name).await;
            }
            Op::SetUpdateStrategy {
                namespace,
                statefulset,
                strategy,
                expect_current,
            } => {
                return steps::sts_template::set_update_strategy(
                    c,
                    namespace,
                    statefulset,
                    strategy,
                    expect_current,
                )
                .await;
            }
            Op::EvictPod {
                namespace,
                name,
                retry_for,
            } => {
                return steps::drain::evict_pod(c, namespace, name, *retry_for).await;
            }
            Op::DeleteNode { node } => return steps::drain::delete_node(c, node).await,
            Op::CreateBootstrapToken { token, ttl } => {
                return steps::join::create_bootstrap_token(c, token, *ttl).await;
            }
            Op::ReplaceObject {
                api_version,
                kind,
                plural,
                namespace,
                name,
                object,
            } => {
                let what = steps::kube::Replace {
                    api_version,
                    kind,
                    plural,
                    namespace,
                    name,
                };
                return steps::kube::replace_object(c, &what, object).await;
            }
            Op::SetContainerCommand {
                namespace,
                statefulset,
                container,
                command,
                expect_current,
            } => {
                return steps::sts_template::set_command(
                    c,
                    namespace,
                    statefulset,
                    container,
                    command,
                    expect_current,
                )
                .await;
            }
            Op::Uncordon { node } => return steps::kube::set_unschedulable(c, node, false).await,
            Op::Node(n) => return steps::node_reset::perform(n).await,
            Op::TaintOutOfService {
                node, pool, image, ..
            } => {
                let ceph = self.ceph_for("releasing a volume from a dead node")?;
                return steps::csi::taint_out_of_service(c, ceph, node, pool, image).await;
            }
            Op::UntaintOutOfService { node } => {
                return steps::csi::untaint_out_of_service(c, node).await;
            }
            Op::DeleteAttachment {
                name,
                pv,
                node,
                pool,
                image,
                ..
            } => {
                let ceph = self.ceph_for("releasing a volume from a dead node")?;
                return steps::csi::delete_attachment(c, ceph, name, pv, node, (pool, image)).await;
            }
            Op::DeletePod {
                namespace,
                name,
                grace,
            } => {
                return steps::kube::delete_pod(c, namespace, name, *grace, &mut memo.deleted_pods)
                    .await;
            }
            Op::Scale {
                kind,
                namespace,
                name,
                replicas,
                expect_current,
            } => {
                let c = c.clone();
                let obj = format!("{kind} {namespace}/{name}");
                return match kind {
                    ScaleKind::StatefulSet => {
                        let api = Api::<StatefulSet>::namespaced(c, namespace);
                        steps::kube::scale(api, &obj, name, *replicas, *expect_current).await
                    }
                    ScaleKind::Deployment => {
                        let api = Api::<Deployment>::namespaced(c, namespace);
                        steps::kube::scale(api, &obj, name, *replicas, *expect_current).await
                    }
                    ScaleKind::ReplicaSet => {
                        let api = Api::<ReplicaSet>::namespaced(c, namespace);
                        steps::kube::scale(api, &obj, name, *replicas, *expect_current).await
                    }
                };
            }
            Op::Wait { what, timeout } => self.wait(what, *timeout, memo).await?,
            Op::Fence { addr, expire, .. } => {
                let ceph = self.ceph_for("fencing a Ceph client")?;
                steps::ceph::fence(ceph, addr, *expire).await?
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
                return steps::ceph::break_lock(ceph, pool, image, locker, cookie, address).await;
            }
            Op::ReleaseReservations {
                node,
                via:
                    HostAccess::Local {
                        host_root,
                        sandboxes_command,
                    },
                network,
                reservations,
            } => {
                steps::host::release_reservations(
                    node,
                    host_root,
                    network,
                    sandboxes_command.clone(),
                    reservations,
                )
                .await?
            }
            Op::ReleaseReservations {
                node,
                via: HostAccess::DebugPod(debug),
                network,
                reservations,
            } => {
                steps::host::release_through_debug_pod(c, debug, node, network, reservations)
                    .await?
            }
            Op::ProbeHost { node, debug } => {
                let report = steps::host::probe_through_debug_pod(c, debug, node).await?;
                let text = report.0;
                self.remote_hosts.insert(report.1);
                text
            }
            Op::SetKubeProxyClusterCidr {
                namespace,
                configmap,
                cidr,
                expect_current,
            } => {
                return steps::kube::set_kube_proxy_cluster_cidr(
                    c,
                    namespace,
                    configmap,
                    cidr,
                    expect_current,
                )
                .await;
            }
        }))
    }

    async fn wait(
        &self,
        what: &WaitFor,
        timeout: Duration,
        memo: &RunMemo,
    ) -> Result<String, StepError> {
        let c = self.client()?;
        match what {
            WaitFor::PodGone { namespace, name } => {
                let deleted = memo
                    .deleted_pods
                    .get(&(namespace.clone(), name.clone()))
                    .cloned();
                steps::kube_wait::pod_gone(c, namespace, name, deleted, timeout, what).await
            }
            WaitFor::DaemonPodReady {
                namespace,
                daemonset,
                node,
            } => {
                let deleted = memo.deleted_in(namespace);
                steps::kube_wait::daemon_pod_back(
                    c, namespace, daemonset, node, &deleted, timeout, what,
                )
                .await
            }
            WaitFor::AgentSettled {
                agent,
                namespace,
                daemonset,
                node,
                settle,
                after_crashes,
            } => {
                let deleted = memo.deleted_in(namespace);
                steps::net_wait::agent_settled(
                    c,
                    agent,
                    namespace,
                    daemonset,
                    node,
                    *settle,
                    *after_crashes,
                    &deleted,
                    timeout,
                    what,
                )
                .await
            }
            WaitFor::PodNetworkOnNode { node } => {
                steps::net_wait::pod_network_on_node(c, node, timeout, what).await
            }
            WaitFor::NodeJoined { known, token_id } => {
                steps::join::node_joined(c, known, token_id, timeout, what).await
            }
            WaitFor::ClaimPodReady { namespace, claim } => {
                steps::kube_wait::claim_pod_ready(c, namespace, claim, timeout, what).await
            }
            WaitFor::LockHeldBy { pool, image, node } => {
                let ceph = self.ceph_for("waiting for an RBD lock")?;
                steps::ceph::wait_lock_held_by(c, ceph, pool, image, node, timeout, what).await
            }
            WaitFor::PodUpdated {
                namespace,
                statefulset,
                name,
            } => steps::sts_template::pod_updated(c, namespace, statefulset, name, timeout).await,
            WaitFor::WatchersGone { pool, image, addrs } => {
                let ceph = self.ceph_for("waiting for RBD watchers")?;
                steps::csi::watchers_gone(ceph, pool, image, addrs, timeout, what).await
            }
            WaitFor::Detached { pv, node } => {
                steps::csi::detached(c, pv, node, timeout, what).await
            }
            WaitFor::CsiVolumeInUse {
                namespace,
                claim,
                pv,
                pool,
                image,
            } => {
                let ceph = self.ceph_for("waiting for the volume to be staged")?;
                steps::csi::csi_volume_in_use(
                    c,
                    ceph,
                    (namespace, claim),
                    pv,
                    (pool, image),
                    timeout,
                    what,
                )
                .await
            }
            WaitFor::PodReady { namespace, name } => {
                steps::kube_wait::pod_running_ready(c, namespace, name, timeout, what).await
            }
            WaitFor::ReplicasReady {
                kind,
                namespace,
                name,
                replicas,
            } => {
                steps::kube_wait::replicas_ready(
                    c, *kind, namespace, name, *replicas, timeout, what,
                )
                .await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plan asked to stop before it sends anything: each mutation is recorded as not
    /// run (no intent, so nothing looks interrupted), and the error says where it stopped.
    #[tokio::test]
    async fn a_stopped_plan_records_its_steps_as_not_run() {
        let dir = std::env::temp_dir().join(format!(
            "kcops-exec-stop-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4()
        ));
        let audit = AuditLog::new(dir.join("audit.log"));
        let config = kube::Config::new("https://127.0.0.1:1".parse().unwrap());
        let stop = PlanStop::default();
        let exec = Executor::new(
            Client::try_from(config).unwrap(),
            false,
            audit.clone(),
            ExecContext::new("ops", "lab"),
        )
        .with_stop(stop.clone());
        stop.stop("interrupted by SIGTERM");
        let plan = Plan::cordon("n1").step(super::super::plan::Step::new(
            Op::Uncordon { node: "n1".into() },
            false,
        ));
        let (tx, _rx) = mpsc::channel(8);
        let err = exec.run(&plan, "yes", tx).await.err().unwrap();
        assert_eq!(
            err.to_string(),
            "interrupted by SIGTERM; stopped at step 1 of 2 (not finished: Cordon node n1: mark it unschedulable (pods already running there stay)); done: nothing; not run: Uncordon node n1: allow new pods to be scheduled on it again"
        );
        let lines = audit.read_entries().unwrap();
        let got: Vec<(Option<usize>, &str)> =
            lines.iter().map(|e| (e.step, e.result.as_str())).collect();
        assert_eq!(
            got,
            [
                (Some(1), "not run: interrupted by SIGTERM"),
                (Some(2), "not run: interrupted by SIGTERM")
            ]
        );
        assert!(
            lines
                .iter()
                .all(|e| e.plan == lines[0].plan && e.plan.is_some())
        );
        assert!(crate::ops::journal::interrupted(&lines).is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

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
}
