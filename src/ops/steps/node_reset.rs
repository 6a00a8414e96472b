//! Steps that return a machine to a clean state before (or instead of) a cluster:
//! kubeadm's own reset, then what it leaves behind — pod-network links (removed
//! through netlink), CNI directories, the user's kubeconfig (moved aside, never
//! deleted), iptables/IPVS rules. Each applies, then re-checks what it should leave.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Applied, StepError};
use crate::host::links::{self, Removed};
use crate::ops::op::ObjectRef;

/// How long `kubeadm reset -f` may take (it stops the kubelet and removes containers).
pub const KUBEADM_RESET_TIMEOUT: Duration = Duration::from_secs(300);

/// One reset step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeOp {
    /// `kubeadm reset -f` (binary `kubeadm`), then the re-check that the host root's
    /// `/etc/kubernetes/manifests` is empty and `admin.conf` gone.
    KubeadmReset {
        kubeadm: PathBuf,
        host_root: PathBuf,
        cri_socket: Option<String>,
    },
    /// Delete a network link through netlink.
    RemoveLink { name: String },
    /// Remove a directory and everything under it (`path` on the host, under `host_root`).
    RemoveDir { host_root: PathBuf, path: String },
    /// Move the user's kubeconfig aside (`backup`), so a new cluster's can take its place.
    BackupFile { path: PathBuf, backup: PathBuf },
    /// Flush iptables' filter, nat and mangle tables and delete their chains; clear IPVS.
    FlushIptables { ipvs: bool },
    /// `kubeadm certs renew all`, then the certificates read again (none still due).
    RenewCerts {
        kubeadm: PathBuf,
        host_root: PathBuf,
    },
    /// The static pods restarted: manifests moved aside for `pause`, then back.
    RestartStaticPods { host_root: PathBuf, pause: Duration },
}

impl NodeOp {
    pub fn action(&self) -> &'static str {
        match self {
            NodeOp::KubeadmReset { .. } => "kubeadm-reset",
            NodeOp::RemoveLink { .. } => "delete-link",
            NodeOp::RemoveDir { .. } => "remove-dir",
            NodeOp::BackupFile { .. } => "backup-file",
            NodeOp::FlushIptables { .. } => "flush-iptables",
            NodeOp::RenewCerts { .. } => "kubeadm-certs-renew",
            NodeOp::RestartStaticPods { .. } => "restart-static-pods",
        }
    }

    pub fn object(&self) -> ObjectRef {
        match self {
            NodeOp::KubeadmReset { host_root, .. } => {
                ObjectRef::new("Host", None, host_root.display().to_string())
            }
            NodeOp::RemoveLink { name } => ObjectRef::new("Link", None, name.as_str()),
            NodeOp::RemoveDir { host_root, path } => ObjectRef::new(
                "Directory",
                None,
                host_root
                    .join(path.trim_start_matches('/'))
                    .display()
                    .to_string(),
            ),
            NodeOp::BackupFile { path, .. } => {
                ObjectRef::new("File", None, path.display().to_string())
            }
            NodeOp::FlushIptables { .. } => ObjectRef::new("Iptables", None, "filter,nat,mangle"),
            NodeOp::RenewCerts { host_root, .. } => ObjectRef::new(
                "Directory",
                None,
                host_root.join("etc/kubernetes/pki").display().to_string(),
            ),
            NodeOp::RestartStaticPods { host_root, .. } => ObjectRef::new(
                "Directory",
                None,
                host_root
                    .join("etc/kubernetes/manifests")
                    .display()
                    .to_string(),
            ),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            NodeOp::KubeadmReset {
                kubeadm,
                cri_socket,
                ..
            } => format!(
                "Run {} reset -f{}: stops the kubelet, removes the control-plane containers, /etc/kubernetes and /var/lib/{{kubelet,etcd}}",
                kubeadm.display(),
                cri_socket
                    .as_deref()
                    .map(|s| format!(" --cri-socket {s}"))
                    .unwrap_or_default()
            ),
            NodeOp::RemoveLink { name } => {
                format!("Delete network link {name} (netlink)")
            }
            NodeOp::RemoveDir { host_root, path } => format!(
                "Remove directory {}",
                host_root.join(path.trim_start_matches('/')).display()
            ),
            NodeOp::BackupFile { path, backup } => format!(
                "Move the kubeconfig {} aside to {} (kept, not deleted)",
                path.display(),
                backup.display()
            ),
            NodeOp::FlushIptables { ipvs } => format!(
                "Flush iptables (filter, nat, mangle: every rule and chain, including ones not made by Kubernetes){}",
                if *ipvs {
                    " and clear IPVS (ipvsadm --clear)"
                } else {
                    ""
                }
            ),
            NodeOp::RenewCerts { kubeadm, .. } => format!(
                "Run {} certs renew all: every leaf certificate and the kubeconfigs' client certificates re-signed by the cluster CA for another year; then read them again",
                kubeadm.display()
            ),
            NodeOp::RestartStaticPods { host_root, pause } => format!(
                "Restart the control plane's static pods so they load the new certificates: move {}/*.yaml aside for {}s (the kubelet stops them), then back (it starts them); the API server is unavailable meanwhile",
                host_root.join("etc/kubernetes/manifests").display(),
                pause.as_secs()
            ),
        }
    }
}

pub(crate) async fn perform(op: &NodeOp) -> Result<Applied, StepError> {
    match op {
        NodeOp::KubeadmReset {
            kubeadm,
            host_root,
            cri_socket,
        } => kubeadm_reset(kubeadm, host_root, cri_socket.as_deref()).await,
        NodeOp::RenewCerts { kubeadm, host_root } => {
            super::certs_renew::renew(kubeadm, host_root).await
        }
        NodeOp::RestartStaticPods { host_root, pause } => {
            super::certs_renew::restart_static_pods(host_root, *pause).await
        }
        NodeOp::RemoveLink { name } => match links::remove_link(name).await {
            Ok(Removed::Deleted) => Ok(Applied::Done(format!("link {name} is gone"))),
            Ok(Removed::AlreadyGone) => {
                Ok(Applied::AlreadyDone(format!("there is no link {name}")))
            }
            Err(e) => Err(StepError::Failed(e)),
        },
        NodeOp::RemoveDir { host_root, path } => {
            let full = host_root.join(path.trim_start_matches('/'));
            if !full.exists() {
                return Ok(Applied::AlreadyDone(format!(
                    "{} does not exist",
                    full.display()
                )));
            }
            std::fs::remove_dir_all(&full)
                .map_err(|e| StepError::Failed(format!("cannot remove {}: {e}", full.display())))?;
            if full.exists() {
                return Err(StepError::Failed(format!(
                    "{} is still there after its removal",
                    full.display()
                )));
            }
            Ok(Applied::Done(format!("{} is gone", full.display())))
        }
        NodeOp::BackupFile { path, backup } => {
            if !path.exists() {
                return Ok(Applied::AlreadyDone(format!(
                    "{} does not exist",
                    path.display()
                )));
            }
            if backup.exists() {
                return Err(StepError::Failed(format!(
                    "{} already exists: not overwriting an earlier backup",
                    backup.display()
                )));
            }
            std::fs::rename(path, backup).map_err(|e| {
                StepError::Failed(format!(
                    "cannot move {} to {}: {e}",
                    path.display(),
                    backup.display()
                ))
            })?;
            if path.exists() || !backup.is_file() {
                return Err(StepError::Failed(format!(
                    "{} was not moved to {}",
                    path.display(),
                    backup.display()
                )));
            }
            Ok(Applied::Done(format!(
                "{} moved to {}",
                path.display(),
                backup.display()
            )))
        }
        NodeOp::FlushIptables { ipvs } => flush_iptables(*ipvs).await,
    }
}

async fn kubeadm_reset(
    kubeadm: &Path,
    host_root: &Path,
    cri_socket: Option<&str>,
) -> Result<Applied, StepError> {
    let mut args = vec!["reset", "-f"];
    if let Some(s) = cri_socket {
        args.extend(["--cri-socket", s]);
    }
    run_kubeadm(kubeadm, &args, KUBEADM_RESET_TIMEOUT).await?;
    let manifests = host_root.join("etc/kubernetes/manifests");
    let left = std::fs::read_dir(&manifests)
        .map(|d| d.count())
        .unwrap_or(0);
    let admin = host_root.join("etc/kubernetes/admin.conf");
    if left > 0 || admin.exists() {
        return Err(StepError::Failed(format!(
            "kubeadm reset exited 0 but left {left} manifests and {} admin.conf",
            if admin.exists() { "an" } else { "no" }
        )));
    }
    Ok(Applied::Done(
        "kubeadm reset done: no static pod manifests, no admin.conf".into(),
    ))
}

/// Runs `kubeadm <args>` (stdin closed, stopped after `timeout`); a failure names
/// kubeadm's last line of error output.
pub(super) async fn run_kubeadm(
    kubeadm: &Path,
    args: &[&str],
    timeout: Duration,
) -> Result<(), StepError> {
    let what = format!("kubeadm {}", args.join(" "));
    let mut cmd = tokio::process::Command::new(kubeadm);
    cmd.args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let out = match tokio::time::timeout(timeout, cmd.output()).await {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => {
            return Err(StepError::Failed(format!(
                "cannot run {}: {e}",
                kubeadm.display()
            )));
        }
        Err(_) => {
            return Err(StepError::Failed(format!(
                "{what} did not finish within {}s (stopped)",
                timeout.as_secs()
            )));
        }
    };
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        return Err(StepError::Failed(format!(
            "{what} failed ({}): {last}",
            out.status
        )));
    }
    Ok(())
}

/// Rules iptables still holds that a cluster made (KUBE-, FLANNEL, cali- chains).
pub async fn cluster_rules() -> Result<usize, String> {
    let out = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::process::Command::new("iptables-save")
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .map_err(|_| "iptables-save did not answer within 5s".to_string())?
    .map_err(|e| format!("cannot run iptables-save: {e}"))?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("-A ") || l.starts_with(':'))
        .filter(|l| l.contains("KUBE-") || l.contains("FLANNEL") || l.contains("cali-"))
        .count())
}

async fn flush_iptables(ipvs: bool) -> Result<Applied, StepError> {
    let mut cmds: Vec<Vec<&str>> = Vec::new();
    for table in ["filter", "nat", "mangle"] {
        cmds.push(vec!["iptables", "-t", table, "-F"]);
        cmds.push(vec!["iptables", "-t", table, "-X"]);
    }
    if ipvs {
        cmds.push(vec!["ipvsadm", "--clear"]);
    }
    for c in &cmds {
        let status = tokio::process::Command::new(c[0])
            .args(&c[1..])
            .stdin(std::process::Stdio::null())
            .status()
            .await
            .map_err(|e| StepError::Failed(format!("cannot run {}: {e}", c.join(" "))))?;
        if !status.success() {
            return Err(StepError::Failed(format!(
                "{} failed ({status})",
                c.join(" ")
            )));
        }
    }
    match cluster_rules().await {
        Ok(0) => Ok(Applied::Done(
            "no KUBE-, FLANNEL or cali- rules left".into(),
        )),
        Ok(n) => Err(StepError::Failed(format!(
            "{n} cluster rules are still there"
        ))),
        Err(e) => Err(StepError::Failed(e)),
    }
}
