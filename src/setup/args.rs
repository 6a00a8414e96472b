//! The command line of `kcops setup init|join|reset`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

/// Bring up or tear down a kubeadm machine, before any cluster exists.
#[derive(Debug, Subcommand)]
pub enum SetupCommand {
    /// On the first control-plane machine: preflight, the init form, kubeadm init, the network add-on.
    Init(InitArgs),
    /// On a machine that joins a cluster: preflight, discovery checked first, kubeadm join.
    Join(JoinArgs),
    /// Return this machine to a clean state: kubeadm reset, then the pod network's leftovers.
    Reset(ResetArgs),
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Print the preflight table and exit (no TUI; exit 1 when a check fails).
    #[arg(long)]
    pub preflight_only: bool,
    /// The kubeadm binary (default: kubeadm on PATH).
    #[arg(long, value_name = "PATH")]
    pub kubeadm: Option<PathBuf>,
    /// Image repository to pull the control plane's images from (probed in the preflight).
    #[arg(long, value_name = "REPO", default_value = crate::setup::preflight::network::DEFAULT_IMAGE_REPOSITORY)]
    pub image_repository: String,
    /// The container runtime's socket (default: the first of containerd's, CRI-O's found).
    #[arg(long, value_name = "ENDPOINT")]
    pub cri_socket: Option<String>,
    /// Where the kubeadm config is written (default: kubeadm-init.yaml in kcops' state directory).
    #[arg(long, value_name = "FILE")]
    pub config_out: Option<PathBuf>,
    /// After init, remove the control-plane taint so ordinary pods run here (a single-machine cluster).
    #[arg(long)]
    pub untaint: bool,
    /// The network add-on's manifest to apply after init, set to the pod subnet: needed for
    /// calico (kcops ships flannel's only; give your calico release's calico.yaml), optional
    /// for flannel (default: the shipped one).
    #[arg(long, value_name = "FILE")]
    pub addon_manifest: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct JoinArgs {
    /// The API server to join (`host:6443`).
    pub endpoint: Option<String>,
    /// The bootstrap token (`abcdef.0123456789abcdef`).
    #[arg(long)]
    pub token: Option<String>,
    /// The cluster CA's public-key hash (`sha256:...`).
    #[arg(long, value_name = "HASH")]
    pub discovery_token_ca_cert_hash: Option<String>,
    /// Print the preflight table and exit.
    #[arg(long)]
    pub preflight_only: bool,
    /// The kubeadm binary (default: kubeadm on PATH).
    #[arg(long, value_name = "PATH")]
    pub kubeadm: Option<PathBuf>,
    /// The container runtime's socket.
    #[arg(long, value_name = "ENDPOINT")]
    pub cri_socket: Option<String>,
}

#[derive(Debug, Args)]
pub struct ResetArgs {
    /// Print exactly what would be removed, and remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Also flush iptables (every rule, not only Kubernetes') and clear IPVS.
    #[arg(long)]
    pub iptables: bool,
    /// The kubeadm binary (default: kubeadm on PATH).
    #[arg(long, value_name = "PATH")]
    pub kubeadm: Option<PathBuf>,
    /// The container runtime's socket, passed to kubeadm reset.
    #[arg(long, value_name = "ENDPOINT")]
    pub cri_socket: Option<String>,
    /// The machine's name, as the typed confirmation (for scripts; asked on the terminal otherwise).
    #[arg(long, value_name = "NAME")]
    pub confirm: Option<String>,
}

/// The console's options `kcops setup` uses.
#[derive(Debug, Clone)]
pub struct SetupGlobals {
    pub host_root: PathBuf,
    pub read_only: bool,
    /// The user's kubeconfig (`--kubeconfig`; default ~/.kube/config).
    pub kubeconfig: Option<PathBuf>,
    pub audit_log: PathBuf,
    pub state_dir: PathBuf,
    /// The operator's keymap (`--keymap`, or keymap.toml in the config directory), as
    /// the console resolves it: the setup wizard's keys and hints follow it.
    pub keymap: crate::ui::keymap::Keymap,
}
