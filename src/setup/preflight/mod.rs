//! The native preflight: what `kubeadm init`/`join` v1.32 check before they change
//! anything, read from a host root (`--host-root`) without kubeadm, plus what kubeadm
//! does not check and a first install keeps tripping over (an image repository that
//! cannot be reached, two candidate addresses, flannel picking another interface).
//!
//! Each check is a [`Check`]: an id, a [`Status`] (never `Pass` for what could not be
//! read), what it found and the command that fixes it. The checks are grouped by what
//! they read, one module each; [`run`] gathers them all.

pub mod binaries;
pub mod kernel;
pub mod leftovers;
pub mod network;
pub mod ports;
pub mod runtime;
mod table;

use std::path::PathBuf;
use std::time::Duration;

pub use table::render_table;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    Pass,
    /// Not what kubeadm wants, but it would go on (or it is only a risk).
    Warn,
    /// kubeadm would stop here (or the cluster would not work).
    Fail,
    /// It could not be read: neither good nor bad is known.
    Unknown,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Unknown => "unknown",
        }
    }
}

/// One preflight check's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// Stable id (`port-10250`, `swap`, `leftover-manifests`), kubeadm's name where it
    /// has one.
    pub id: String,
    pub status: Status,
    /// What it found, in words.
    pub found: String,
    /// The command (or setting) that fixes it; empty when it passed.
    pub fix: String,
}

impl Check {
    pub fn new(id: impl Into<String>, status: Status, found: impl Into<String>) -> Self {
        Check {
            id: id.into(),
            status,
            found: found.into(),
            fix: String::new(),
        }
    }

    pub fn pass(id: impl Into<String>, found: impl Into<String>) -> Self {
        Check::new(id, Status::Pass, found)
    }

    pub fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = fix.into();
        self
    }
}

/// Which preflight: `init` checks the control-plane ports and etcd, `join` a worker's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Init,
    Join,
}

/// What the preflight reads and how long a network probe may take.
#[derive(Debug, Clone)]
pub struct PreflightInput {
    pub host_root: PathBuf,
    pub role: Role,
    /// The image repository whose reachability is probed (`registry.k8s.io`).
    pub image_repository: String,
    /// Longest a single network probe may take (5 s).
    pub probe_timeout: Duration,
    /// The CRI socket to check; `None`: the first of kubeadm's known ones found.
    pub cri_socket: Option<String>,
}

impl PreflightInput {
    pub fn new(host_root: impl Into<PathBuf>, role: Role) -> Self {
        PreflightInput {
            host_root: host_root.into(),
            role,
            image_repository: network::DEFAULT_IMAGE_REPOSITORY.to_string(),
            probe_timeout: Duration::from_secs(5),
            cri_socket: None,
        }
    }
}

/// Every check, in the order kubeadm makes its own and then kcops' additions. Runs
/// the network probes concurrently, so the whole preflight stays within one probe
/// timeout plus the file reads.
pub async fn run(input: &PreflightInput) -> Vec<Check> {
    let root = crate::host::read::LocalRoot(input.host_root.clone());
    let probe = network::probe_image_repository(&input.image_repository, input.probe_timeout);
    let runtime = runtime::checks(&root, input.cri_socket.as_deref(), input.probe_timeout);
    let (image, runtime) = tokio::join!(probe, runtime);
    let mut out = Vec::new();
    out.extend(ports::checks(&root, input.role));
    out.extend(leftovers::checks(&root, input.role));
    out.extend(kernel::checks(&root));
    out.extend(runtime);
    out.extend(binaries::checks(&root, input.probe_timeout).await);
    out.extend(network::host_checks(&root));
    out.push(image);
    out
}

/// Whether any check stops an init or join (a `fail`).
pub fn blocks(checks: &[Check]) -> bool {
    checks.iter().any(|c| c.status == Status::Fail)
}
