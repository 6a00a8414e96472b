//! Where a lab's files live: `$XDG_RUNTIME_DIR/kcops/lab/<name>`, falling back to
//! `/tmp/kcops-lab-$UID/<name>`.

use std::path::{Path, PathBuf};

/// The directory layout of one lab.
#[derive(Debug, Clone)]
pub struct LabPaths {
    pub name: String,
    pub root: PathBuf,
}

impl LabPaths {
    pub fn new(name: &str) -> Self {
        let base = match std::env::var_os("XDG_RUNTIME_DIR") {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir).join("kcops").join("lab"),
            _ => PathBuf::from(format!("/tmp/kcops-lab-{}", nix::unistd::getuid())),
        };
        Self {
            name: name.to_string(),
            root: base.join(name),
        }
    }

    /// `lab.json`: the running lab's id, addresses, ports and supervisor pid.
    pub fn state_file(&self) -> PathBuf {
        self.root.join("lab.json")
    }
    /// Unix socket the supervisor listens on for `lab stop|start|down`.
    /// A detached lab's stderr, beside its folder so it outlives a crash of the lab;
    /// `down` removes it when the lab had nothing to say.
    pub fn supervisor_log(&self) -> PathBuf {
        self.root.with_extension("supervisor.log")
    }

    pub fn control_socket(&self) -> PathBuf {
        self.root.join("control.sock")
    }
    pub fn pki(&self) -> PathBuf {
        self.root.join("pki")
    }
    pub fn kubeconfig(&self) -> PathBuf {
        self.root.join("kubeconfig")
    }
    pub fn kubeconfig_readonly(&self) -> PathBuf {
        self.root.join("kubeconfig-readonly")
    }
    /// Ceph's data, run and log dirs, `ceph.conf` and keyrings.
    pub fn ceph(&self) -> PathBuf {
        self.root.join("ceph")
    }
    /// One directory per lab node standing in for that node's filesystem.
    pub fn host_root(&self, node: &str) -> PathBuf {
        self.root.join("hosts").join(node)
    }
    /// etcd data dirs, keyed by PVC uid.
    pub fn etcd_data(&self, pvc_uid: &str) -> PathBuf {
        self.root.join("etcd").join(pvc_uid)
    }
    pub fn logs(&self) -> PathBuf {
        self.root.join("logs")
    }
    /// Pidfiles of every process the lab started.
    pub fn pids(&self) -> PathBuf {
        self.root.join("pids")
    }
    pub fn exists(&self) -> bool {
        Path::new(&self.state_file()).exists()
    }
}

/// The `--sandboxes-command` for a lab node whose directory is `host_root`: a lab
/// node has no container runtime to ask (`crictl pods -q` on a real node), so the
/// lab keeps the node's live sandbox ids in a file and the console prints it. The
/// console itself knows no lab path.
pub fn sandboxes_command(host_root: &Path) -> Vec<String> {
    vec![
        "cat".to_string(),
        host_root
            .join(crate::scenario::SANDBOXES_FILE)
            .display()
            .to_string(),
    ]
}
