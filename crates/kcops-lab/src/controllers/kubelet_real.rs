//! The lab kubelet's side of pods it runs for real ([`crate::pods`]): creating the
//! sandbox, starting the container's own command, readiness from its exec probe (or
//! from the process running, without one), and an exit becoming a terminated container
//! restarted with the kubelet's back-off.

use std::time::Duration;

use serde_json::json;

use super::{Crash, PodWorker, Stop, set_condition};
use crate::api::store::now_rfc3339;
use crate::pods::container::exit_code;
use crate::pods::{PodNetwork, RealPod};

impl PodWorker {
    /// Creates the pod's sandbox once the CNI plugin gave it an address; a failure is
    /// the kubelet's FailedCreatePodSandBox event, retried.
    pub(super) async fn create_sandbox(&mut self, host_network: bool) -> Result<(), Stop> {
        loop {
            let pod = self.check()?;
            let network = match (host_network, self.cni_address, self.cni_subnet) {
                (true, _, _) => PodNetwork::Node,
                (false, Some(ip), Some(gateway)) => PodNetwork::Own {
                    sandbox_id: self.sandbox_id.clone(),
                    ip,
                    gateway,
                },
                (false, _, _) => return Ok(()),
            };
            match RealPod::create(&self.ctx, &pod, &self.node, network) {
                Ok(real) => {
                    self.real = Some(real);
                    return Ok(());
                }
                Err(e) => {
                    let message = format!(
                        "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to create sandbox \"{}\" for pod \"{}\": {e:#}",
                        self.sandbox_id, self.name
                    );
                    self.event(&pod, "Warning", "FailedCreatePodSandBox", &message);
                    self.wait(self.ctx.knobs.mount_retry).await?;
                }
            }
        }
    }

    /// Runs the container until the pod goes: start, readiness, exit, back-off,
    /// restart; or, as `restart_policy` says (`Never`, `OnFailure` after a success),
    /// until the pod completes (phase Succeeded or Failed: `Ok`).
    pub(super) async fn run_real(
        &mut self,
        containers: &[(String, String)],
        restart_policy: &str,
    ) -> Result<(), Stop> {
        let mut restarts = 0i64;
        loop {
            let started = now_rfc3339();
            let start = match self.real.as_mut() {
                Some(real) => real.start(&self.ctx),
                None => return Ok(()),
            };
            self.mark_running(&started, restarts == 0, containers);
            if let Err(e) = start {
                restarts += 1;
                let crash = Crash {
                    exit_code: 128,
                    reason: "StartError".into(),
                    message: format!("failed to start the container process: {e:#}"),
                    logs: vec![],
                    run_for: Duration::ZERO,
                };
                self.crash(&crash, restarts, containers).await?;
                continue;
            }
            self.become_ready_real().await?;
            let probe = self.real.as_ref().and_then(|r| r.liveness().cloned());
            let delay = probe.as_ref().map(|p| p.initial_delay).unwrap_or_default();
            let mut liveness = Liveness::new(probe, self.ctx.knobs.scaled(delay));
            loop {
                self.wait(Duration::from_millis(200)).await?;
                self.check_liveness(&mut liveness).await;
                let exit = self.real.as_mut().and_then(|r| r.take_exit(&self.ctx));
                if let Some((status, tail)) = exit {
                    let done = match restart_policy {
                        "Never" => true,
                        "OnFailure" => status.success(),
                        _ => false,
                    };
                    if done {
                        self.complete(exit_code(status), tail.last().cloned());
                        if let Some(real) = self.real.take() {
                            real.tear_down(&self.ctx).await;
                        }
                        return Ok(());
                    }
                    restarts += 1;
                    let crash = Crash {
                        exit_code: exit_code(status),
                        reason: if status.success() {
                            "Completed".into()
                        } else {
                            "Error".into()
                        },
                        message: tail.last().cloned().unwrap_or_default(),
                        logs: vec![],
                        run_for: Duration::ZERO,
                    };
                    self.crash(&crash, restarts, containers).await?;
                    break;
                }
            }
        }
    }

    /// Runs the liveness probe when it is due; after `failureThreshold` failures in a
    /// row the container is killed (its exit then restarts it, as the kubelet does).
    async fn check_liveness(&mut self, liveness: &mut Liveness) {
        let Some(probe) = liveness.probe.clone() else {
            return;
        };
        if tokio::time::Instant::now() < liveness.next {
            return;
        }
        liveness.next = tokio::time::Instant::now() + self.ctx.knobs.scaled(probe.period);
        let Some(real) = self.real.as_mut() else {
            return;
        };
        if !real.is_running() {
            return;
        }
        match real.probe(&probe).await {
            Ok(()) => liveness.failures = 0,
            Err(why) => {
                liveness.failures += 1;
                if let Ok(pod) = self.check() {
                    self.event(
                        &pod,
                        "Warning",
                        "Unhealthy",
                        &format!("Liveness probe failed: {why}"),
                    );
                }
                if liveness.failures >= probe.failure_threshold {
                    liveness.failures = 0;
                    if let Ok(pod) = self.check() {
                        let c = self.real.as_ref().map(|r| r.container_name().to_string());
                        self.event(
                            &pod,
                            "Normal",
                            "Killing",
                            &format!(
                                "Container {} failed liveness probe, will be restarted",
                                c.unwrap_or_default()
                            ),
                        );
                    }
                    if let Some(real) = self.real.as_mut() {
                        real.kill().await;
                    }
                }
            }
        }
    }

    /// The container exited for good: terminated with its exit code, and the pod's
    /// phase Succeeded (0) or Failed.
    fn complete(&self, code: i32, message: Option<String>) {
        let finished = now_rfc3339();
        let (reason, phase) = if code == 0 {
            ("Completed", "Succeeded")
        } else {
            ("Error", "Failed")
        };
        self.update(|p| {
            if let Some(cs) = p["status"]["containerStatuses"].as_array_mut() {
                for c in cs {
                    let started = c["state"]["running"]["startedAt"].clone();
                    let mut term = json!({"exitCode": code, "reason": reason, "startedAt": started, "finishedAt": finished, "containerID": c["containerID"]});
                    if let Some(m) = &message
                        && code != 0
                    {
                        term["message"] = json!(m);
                    }
                    c["state"] = json!({"terminated": term});
                    c["ready"] = json!(false);
                    c["started"] = json!(false);
                }
            }
            p["status"]["phase"] = json!(phase);
            set_condition(p, "PodReadyToStartContainers", "False", None, None);
            set_condition(p, "Ready", "False", Some("PodCompleted"), None);
            set_condition(p, "ContainersReady", "False", Some("PodCompleted"), None);
        });
    }

    /// Ready once the readiness probe succeeds in the pod's namespaces, or at once
    /// without one (the process runs). Returns early when the process exits.
    async fn become_ready_real(&mut self) -> Result<(), Stop> {
        let Some(probe) = self.real.as_ref().and_then(|r| r.readiness().cloned()) else {
            self.mark_ready();
            return Ok(());
        };
        self.wait(self.ctx.knobs.scaled(probe.initial_delay))
            .await?;
        loop {
            let Some(real) = self.real.as_mut() else {
                return Ok(());
            };
            if !real.is_running() {
                return Ok(());
            }
            match real.probe(&probe).await {
                Ok(()) => {
                    self.mark_ready();
                    return Ok(());
                }
                Err(why) => {
                    let pod = self.check()?;
                    let message = format!("Readiness probe failed: {why}");
                    self.event(&pod, "Warning", "Unhealthy", &message);
                }
            }
            self.wait(
                self.ctx
                    .knobs
                    .scaled(probe.period)
                    .max(Duration::from_millis(200)),
            )
            .await?;
        }
    }
}

/// A container's liveness probe and its state.
struct Liveness {
    probe: Option<crate::pods::spec::ExecProbe>,
    next: tokio::time::Instant,
    failures: u32,
}

impl Liveness {
    fn new(probe: Option<crate::pods::spec::ExecProbe>, delay: Duration) -> Self {
        Liveness {
            probe,
            next: tokio::time::Instant::now() + delay,
            failures: 0,
        }
    }
}
