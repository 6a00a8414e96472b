//! A container's main process: started in its pod's sandbox, its stdout and stderr
//! lines become the container's `kubectl logs`, its pid is what `kubectl exec` joins.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;

use super::sandbox::Sandbox;
use super::spec::ContainerSpec;
use crate::api::logs::LogStore;
use crate::process::{terminate, write_pidfile};

/// Lines of output kept for the termination message.
const TAIL_LINES: usize = 20;

/// Where a container's output goes.
#[derive(Clone)]
pub(crate) struct LogTarget {
    pub logs: Arc<LogStore>,
    pub namespace: String,
    pub pod: String,
    pub container: String,
}

/// A running (or exited, not yet reaped by the worker) container process.
pub(crate) struct Running {
    child: Child,
    tail: Arc<Mutex<VecDeque<String>>>,
    pidfile: Option<PathBuf>,
    exited: Option<ExitStatus>,
}

fn pump(reader: impl Read + Send + 'static, target: LogTarget, tail: Arc<Mutex<VecDeque<String>>>) {
    let spawned = std::thread::Builder::new()
        .name("kcops-lab-pod-log".into())
        .spawn(move || {
            for line in BufReader::new(reader).lines().map_while(Result::ok) {
                target
                    .logs
                    .append(&target.namespace, &target.pod, &target.container, &line);
                let mut t = tail.lock().unwrap_or_else(|p| p.into_inner());
                if t.len() == TAIL_LINES {
                    t.pop_front();
                }
                t.push_back(line);
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("cannot follow a container's output: {e}");
    }
}

impl Running {
    /// Starts the container's command in `sandbox`; `pid_dir` gets its pidfile so a
    /// crashed lab's leftovers are found.
    pub(crate) fn start(
        sandbox: &Sandbox,
        spec: &ContainerSpec,
        target: LogTarget,
        pid_dir: &std::path::Path,
    ) -> Result<Running> {
        let mut cmd = sandbox.command(&spec.argv, &spec.env, &spec.working_dir)?;
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = crate::process::spawn_tied(cmd)?;
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        if let Some(out) = child.stdout.take() {
            pump(out, target.clone(), tail.clone());
        }
        if let Some(err) = child.stderr.take() {
            pump(err, target.clone(), tail.clone());
        }
        let pidfile = write_pidfile(
            pid_dir,
            &format!("pod-{}-{}-{}", target.namespace, target.pod, child.id()),
            child.id(),
        )
        .map_err(|e| tracing::warn!("{e:#}"))
        .ok();
        Ok(Running {
            child,
            tail,
            pidfile,
            exited: None,
        })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status once the process has exited.
    pub(crate) fn exited(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none()
            && let Ok(Some(status)) = self.child.try_wait()
        {
            self.exited = Some(status);
            if let Some(p) = self.pidfile.take() {
                let _ = std::fs::remove_file(p);
            }
        }
        self.exited
    }

    /// The last lines the container wrote.
    pub(crate) fn tail(&self) -> Vec<String> {
        self.tail
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    /// SIGTERM to the container's process group, SIGKILL after `grace`, as a
    /// runtime stops a container.
    pub(crate) async fn stop(&mut self, grace: Duration) {
        if self.exited().is_some() {
            return;
        }
        let pid = i32::try_from(self.pid()).unwrap_or(0);
        terminate(pid, libc::SIGTERM);
        let deadline = tokio::time::Instant::now() + grace;
        while self.exited().is_none() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if self.exited().is_none() {
            terminate(pid, libc::SIGKILL);
            let _ = self.child.wait();
            let _ = self.exited();
        }
    }
}

impl Drop for Running {
    /// A container never outlives its worker (lab down aborts the workers).
    fn drop(&mut self) {
        if self.exited().is_none() {
            terminate(i32::try_from(self.pid()).unwrap_or(0), libc::SIGKILL);
            let _ = self.child.wait();
        }
        if let Some(p) = self.pidfile.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// The container's exit code as the runtime reports it (128 + signal when killed).
pub(crate) fn exit_code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(9))
}
