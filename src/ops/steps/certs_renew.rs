//! Renewing a control-plane machine's certificates: `kubeadm certs renew all`, then
//! the static pods restarted so they load the new files (kubeadm leaves that to the
//! operator: the kubelet restarts a static pod whose manifest leaves and comes back).
//! Each step re-checks on the files themselves: after the renewal no certificate of
//! `kubeadm certs check-expiration`'s list may still be within 30 days of expiry.

use std::path::Path;
use std::time::Duration;

use super::{Applied, StepError};
use crate::diagnose::certs::WARN_BEFORE;
use crate::host::read::LocalRoot;
use crate::model::host::Probe;

/// How long `kubeadm certs renew all` may take.
const RENEW_TIMEOUT: Duration = Duration::from_secs(120);

/// Where the manifests wait while the kubelet stops their pods.
const MANIFESTS: &str = "etc/kubernetes/manifests";
const PARKED: &str = "etc/kubernetes/manifests.kcops-restart";

/// `kubeadm certs renew all`, then every certificate read again from `host_root`.
pub(crate) async fn renew(kubeadm: &Path, host_root: &Path) -> Result<Applied, StepError> {
    super::node_reset::run_kubeadm(kubeadm, &["certs", "renew", "all"], RENEW_TIMEOUT).await?;
    still_due(host_root)
}

/// The re-check: every leaf certificate valid for more than 30 days from now.
fn still_due(host_root: &Path) -> Result<Applied, StepError> {
    let certs = match crate::host::certs::read(&LocalRoot(host_root.to_path_buf())) {
        Probe::Found(c) => c,
        Probe::Missing => {
            return Err(StepError::Failed(format!(
                "{} has no /etc/kubernetes/pki after the renewal",
                host_root.display()
            )));
        }
        Probe::Error(e) => {
            return Err(StepError::Failed(format!(
                "cannot read the certificates again: {e}"
            )));
        }
    };
    let now = jiff::Timestamp::now();
    let mut due = Vec::new();
    let mut earliest: Option<jiff::Timestamp> = None;
    for c in certs.iter().filter(|c| !c.ca) {
        match &c.not_after {
            Ok(t) if t.duration_since(now) < WARN_BEFORE => {
                due.push(format!("{} (expires {})", c.name, t.strftime("%Y-%m-%d")));
            }
            Ok(t) => earliest = Some(earliest.map_or(*t, |e| e.min(*t))),
            Err(e) => due.push(format!("{} (cannot read: {e})", c.name)),
        }
    }
    if !due.is_empty() {
        return Err(StepError::Failed(format!(
            "kubeadm exited 0 but these are still due: {}",
            due.join(", ")
        )));
    }
    Ok(Applied::Done(match earliest {
        Some(t) => format!(
            "every certificate is valid until {} or later",
            t.strftime("%Y-%m-%d")
        ),
        None => "no leaf certificate left to renew".to_string(),
    }))
}

/// Moves the static pod manifests aside for `pause` (the kubelet stops their pods),
/// then back (it starts them with the new certificates); re-checks they are back.
pub(crate) async fn restart_static_pods(
    host_root: &Path,
    pause: Duration,
) -> Result<Applied, StepError> {
    let (dir, parked) = (host_root.join(MANIFESTS), host_root.join(PARKED));
    let fail = |what: &str, e: std::io::Error| StepError::Failed(format!("{what}: {e}"));
    // An earlier run stopped while parked: put those back first.
    if parked.is_dir() {
        move_all(&parked, &dir).map_err(|e| fail("cannot restore parked manifests", e))?;
    }
    let names = yaml_files(&dir).map_err(|e| fail(&format!("cannot read {}", dir.display()), e))?;
    if names.is_empty() {
        return Ok(Applied::AlreadyDone(format!(
            "no static pod manifests in {}",
            dir.display()
        )));
    }
    std::fs::create_dir_all(&parked)
        .map_err(|e| fail(&format!("cannot create {}", parked.display()), e))?;
    move_all(&dir, &parked).map_err(|e| fail("cannot move the manifests aside", e))?;
    tokio::time::sleep(pause).await;
    move_all(&parked, &dir).map_err(|e| fail("cannot move the manifests back", e))?;
    let _ = std::fs::remove_dir(&parked);
    let back = yaml_files(&dir).map_err(|e| fail(&format!("cannot read {}", dir.display()), e))?;
    if back != names {
        return Err(StepError::Failed(format!(
            "manifests before {names:?}, after {back:?}"
        )));
    }
    Ok(Applied::Done(format!(
        "{} restarted (manifests away for {}s, then back)",
        names.join(", "),
        pause.as_secs()
    )))
}

fn yaml_files(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    names.sort();
    Ok(names)
}

fn move_all(from: &Path, to: &Path) -> std::io::Result<()> {
    for name in yaml_files(from)? {
        std::fs::rename(from.join(&name), to.join(&name))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn manifests_leave_and_come_back() {
        let root = std::env::temp_dir().join(format!("kcops-restart-{}", std::process::id()));
        let dir = root.join(MANIFESTS);
        std::fs::create_dir_all(&dir).unwrap();
        for n in ["etcd.yaml", "kube-apiserver.yaml"] {
            std::fs::write(dir.join(n), "kind: Pod\n").unwrap();
        }
        let Ok(done) = restart_static_pods(&root, Duration::from_millis(10)).await else {
            panic!("the restart failed");
        };
        assert!(
            matches!(done, Applied::Done(t) if t.starts_with("etcd.yaml, kube-apiserver.yaml restarted"))
        );
        assert_eq!(
            yaml_files(&dir).unwrap(),
            ["etcd.yaml", "kube-apiserver.yaml"]
        );
        assert!(!root.join(PARKED).exists());
        let _ = std::fs::remove_dir_all(&root);
    }
}
