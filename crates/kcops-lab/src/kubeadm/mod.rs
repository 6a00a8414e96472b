//! The lab's `kubeadm` stand-in (`kcops lab kubeadm ...`), for the lab and the tests
//! only: kubeadm cannot be installed where kcops is tested, so a lab started with the
//! `kubeadm` scenario writes a `kubeadm` shim into each machine's host root
//! (`<host root>/usr/bin/kubeadm`, put it on PATH) that runs this. It takes kubeadm
//! v1.32's flags and `--config` (kubeadm.k8s.io/v1beta4; unchanged in v1.33), prints kubeadm's output
//! phase by phase, writes what kubeadm writes under the machine's host root, and asks
//! the lab supervisor (its control socket) for the cluster side: `init` starts the
//! lab's API server with the machine registered; `join` checks the token and CA pins
//! against kube-public/cluster-info exactly as kubeadm's discovery does, then
//! registers the node; `reset` removes what they wrote; `certs renew all` makes the
//! leaf certificates again.
//!
//! Two knobs for tests: `KCOPS_LAB_KUBEADM_PHASE_MS` (pause between phases, default
//! 30) and `KCOPS_LAB_KUBEADM_HANG_AT=pull|wait-control-plane` (hang there, as an
//! image pull from an unreachable registry does).

mod certs;
pub mod cluster;
pub mod config;
pub mod host;
mod init;
mod join;
mod reset;
pub mod token;

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use clap::{Args, Subcommand};

use crate::paths::LabPaths;
use crate::runtime::LabState;
use cluster::Request;

#[derive(Debug, Args)]
pub struct KubeadmArgs {
    /// The lab's directory (the shim passes it).
    #[arg(long)]
    pub lab_root: PathBuf,
    /// The machine (lab node) this kubeadm runs on.
    #[arg(long)]
    pub node: String,
    /// kubeadm's log verbosity (accepted, ignored).
    #[arg(long = "v", short = 'v', global = true)]
    pub verbosity: Option<u8>,
    #[command(subcommand)]
    pub command: KubeadmCommand,
}

#[derive(Debug, Subcommand)]
pub enum KubeadmCommand {
    /// Run this command in order to set up the Kubernetes control plane.
    Init(InitArgs),
    /// Run this on any machine you wish to join an existing cluster.
    Join(JoinArgs),
    /// Performs a best effort revert of changes made to this host by 'kubeadm init' or 'kubeadm join'.
    Reset(ResetArgs),
    /// Commands related to handling kubernetes certificates.
    Certs {
        #[command(subcommand)]
        command: CertsCommand,
    },
    /// Print the version of kubeadm.
    Version {
        #[arg(short = 'o', long)]
        output: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum CertsCommand {
    /// Renew certificates for a Kubernetes cluster (`all`).
    Renew { what: String },
}

#[derive(Debug, Args)]
pub struct InitArgs {
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[arg(long, default_value = "")]
    pub apiserver_advertise_address: String,
    #[arg(long)]
    pub apiserver_bind_port: Option<u16>,
    #[arg(long, default_value = "")]
    pub control_plane_endpoint: String,
    #[arg(long, default_value = "")]
    pub kubernetes_version: String,
    #[arg(long, default_value = "")]
    pub image_repository: String,
    #[arg(long, default_value = "")]
    pub pod_network_cidr: String,
    #[arg(long, default_value = "")]
    pub service_cidr: String,
    #[arg(long, default_value = "")]
    pub cri_socket: String,
    #[arg(long, default_value = "")]
    pub node_name: String,
    #[arg(long, default_value = "")]
    pub token: String,
    #[arg(long)]
    pub token_ttl: Option<String>,
    #[arg(long, value_delimiter = ',')]
    pub ignore_preflight_errors: Vec<String>,
    #[arg(long, value_delimiter = ',')]
    pub skip_phases: Vec<String>,
    #[arg(long)]
    pub upload_certs: bool,
    #[arg(long)]
    pub certificate_key: Option<String>,
    #[arg(long)]
    pub skip_token_print: bool,
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct JoinArgs {
    /// The API server endpoint (`host:port`).
    pub endpoint: Option<String>,
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[arg(long, default_value = "")]
    pub token: String,
    #[arg(long, default_value = "")]
    pub discovery_token: String,
    #[arg(long = "discovery-token-ca-cert-hash", value_delimiter = ',')]
    pub ca_cert_hashes: Vec<String>,
    #[arg(long)]
    pub discovery_token_unsafe_skip_ca_verification: bool,
    #[arg(long)]
    pub control_plane: bool,
    #[arg(long)]
    pub certificate_key: Option<String>,
    #[arg(long, default_value = "")]
    pub apiserver_advertise_address: String,
    #[arg(long, default_value = "")]
    pub node_name: String,
    #[arg(long, default_value = "")]
    pub cri_socket: String,
    #[arg(long, value_delimiter = ',')]
    pub ignore_preflight_errors: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ResetArgs {
    /// Reset the node without prompting for confirmation.
    #[arg(short, long)]
    pub force: bool,
    #[arg(long, default_value = "")]
    pub cri_socket: String,
    #[arg(long)]
    pub cleanup_tmp_dir: bool,
    #[arg(long, value_delimiter = ',')]
    pub ignore_preflight_errors: Vec<String>,
}

/// kubeadm's version of the stand-in: the lab's (its phases and flags are 1.32's,
/// which 1.33 kept).
pub const VERSION: &str = config::DEFAULT_VERSION;

/// Runs one kubeadm command; the exit code kubeadm would give.
pub async fn run(args: KubeadmArgs) -> Result<i32> {
    let paths = LabPaths {
        name: args
            .lab_root
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default(),
        root: args.lab_root.clone(),
    };
    let machine = Machine {
        root: paths.host_root(&args.node),
        node: args.node.clone(),
        paths,
    };
    let outcome = match args.command {
        KubeadmCommand::Init(a) => init::init(&machine, a).await,
        KubeadmCommand::Join(a) => join::join(&machine, a).await,
        KubeadmCommand::Reset(a) => reset::reset(&machine, a).await,
        KubeadmCommand::Certs {
            command: CertsCommand::Renew { what },
        } => certs::renew(&machine, &what),
        KubeadmCommand::Version { output } => {
            match output.as_deref() {
                Some("short") => println!("{VERSION}"),
                _ => println!(
                    "kubeadm version: &version.Info{{Major:\"1\", Minor:\"33\", GitVersion:\"{VERSION}\", GoVersion:\"go1.24.2\", Compiler:\"gc\", Platform:\"linux/amd64\"}}"
                ),
            }
            Ok(())
        }
    };
    match outcome {
        Ok(()) => Ok(0),
        Err(e) => {
            eprintln!("{e:#}");
            eprintln!("To see the stack trace of this error execute with --v=5 or higher");
            Ok(1)
        }
    }
}

/// The machine the stand-in runs on.
pub(super) struct Machine {
    pub(super) paths: LabPaths,
    pub(super) node: String,
    pub(super) root: PathBuf,
}

impl Machine {
    pub(super) fn state(&self) -> Result<LabState> {
        LabState::read(&self.paths)
    }
    pub(super) fn ip(&self, state: &LabState) -> String {
        state
            .nodes
            .iter()
            .find(|(n, _)| *n == self.node)
            .map(|(_, ip)| ip.to_string())
            .unwrap_or_default()
    }
    pub(super) async fn ask(&self, req: &Request) -> Result<String> {
        let line = serde_json::to_string(req)?;
        crate::runtime::control(&self.paths, &format!("kubeadm {line}")).await
    }
}

pub(super) fn say(line: &str) {
    println!("{line}");
    let _ = std::io::stdout().flush();
}

/// The pause between phases, and the hang a test asks for.
pub(super) async fn phase(name: &str) {
    let ms = std::env::var("KCOPS_LAB_KUBEADM_PHASE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    if std::env::var("KCOPS_LAB_KUBEADM_HANG_AT").is_ok_and(|h| h == name) {
        loop {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
    }
}

pub(super) fn ignored(list: &[String], error_line: &str) -> bool {
    let id = error_line
        .trim_start_matches("[ERROR ")
        .split(']')
        .next()
        .unwrap_or_default()
        .to_lowercase();
    list.iter().any(|i| {
        let i = i.to_lowercase();
        i == "all" || i == id
    })
}

pub(super) fn preflight_fatal(errors: &[String]) -> anyhow::Error {
    let mut msg =
        String::from("error execution phase preflight: [preflight] Some fatal errors occurred:\n");
    for e in errors {
        msg.push_str(&format!("\t{e}\n"));
    }
    msg.push_str("[preflight] If you know what you are doing, you can make a check non-fatal with `--ignore-preflight-errors=...`");
    anyhow!(msg)
}

/// The admin token of the lab's own kubeconfig.
pub(super) fn admin_token(paths: &LabPaths) -> Result<String> {
    let text = std::fs::read_to_string(paths.kubeconfig())
        .with_context(|| format!("cannot read {}", paths.kubeconfig().display()))?;
    text.lines()
        .find_map(|l| l.trim().strip_prefix("token:"))
        .map(|t| t.trim().to_string())
        .context("the lab's kubeconfig has no token")
}

pub(super) fn read(path: PathBuf) -> Result<String> {
    std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))
}

/// Writes the `kubeadm` shim into each machine's `<host root>/usr/bin`.
pub fn write_shims(paths: &LabPaths, nodes: &[String]) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let exe = std::env::current_exe().context("cannot find the kcops binary")?;
    let q = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
    for node in nodes {
        let bin = bin_dir(paths, node);
        std::fs::create_dir_all(&bin)
            .with_context(|| format!("cannot create {}", bin.display()))?;
        let shim = bin.join("kubeadm");
        std::fs::write(
            &shim,
            format!(
                "#!/bin/sh\n# The kcops lab's kubeadm stand-in on machine {node} of lab {} (lab and tests only).\nexec {} lab kubeadm --lab-root {} --node {} \"$@\"\n",
                paths.name,
                q(&exe.display().to_string()),
                q(&paths.root.display().to_string()),
                q(node)
            ),
        )
        .with_context(|| format!("cannot write {}", shim.display()))?;
        std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

/// Where a machine's `kubeadm` shim is: put it first on PATH.
pub fn bin_dir(paths: &LabPaths, node: &str) -> PathBuf {
    paths.host_root(node).join("usr/bin")
}
