//! The lab kubelet's side of pods it runs for real ([`crate::pods`]): creating the
//! sandbox, starting the container's own command, readiness from its exec probe (or
//! from the process running, without one), and an exit becoming a terminated container
//! restarted with the kubelet's back-off.

use std::time::Duration;

use super::{Crash, PodWorker, Stop};
use crate::api::store::now_rfc3339;
use crate::pods::RealPod;
use crate::pods::container::exit_code;

impl PodWorker {
    /// Creates the pod's sandbox once the CNI plugin gave it an address; a failure is
    /// the kubelet's FailedCreatePodSandBox event, retried.
    pub(super) async fn create_sandbox(&mut self) -> Result<(), Stop> {
        loop {
            let pod = self.check()?;
            let (Some(ip), Some(gateway)) = (self.cni_address, self.cni_subnet) else {
                return Ok(());
            };
            match RealPod::create(&self.ctx, &pod, &self.node, &self.sandbox_id, ip, gateway) {
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
    /// restart.
    pub(super) async fn run_real(&mut self, containers: &[(String, String)]) -> Result<(), Stop> {
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
            loop {
                self.wait(Duration::from_millis(200)).await?;
                let exit = self.real.as_mut().and_then(|r| r.take_exit(&self.ctx));
                if let Some((status, tail)) = exit {
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
            if real.probe(&probe).await.is_ok() {
                self.mark_ready();
                return Ok(());
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
