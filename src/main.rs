//! The `kcops` binary: the console (issue 3) and the `lab` subcommands.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "kcops", version, about = "Operations console for kubeadm clusters with Ceph RBD storage")]
struct Cli {
    /// Where tracing goes (never the terminal).
    #[arg(long, global = true, env = "KCOPS_LOG_FILE")]
    log_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The lab: a local cluster speaking the Kubernetes API, with real Ceph and etcd.
    #[command(subcommand)]
    Lab(kcops::lab::cli::LabCommand),
}

fn state_dir() -> PathBuf {
    match std::env::var_os("XDG_STATE_HOME") {
        Some(d) if !d.is_empty() => PathBuf::from(d).join("kcops"),
        _ => std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(std::env::temp_dir).join(".local/state/kcops"),
    }
}

fn init_tracing(path: &std::path::Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    let filter = tracing_subscriber::EnvFilter::try_from_env("KCOPS_LOG").unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_ansi(false).with_writer(std::sync::Mutex::new(file)).init();
    Ok(())
}

fn main() {
    let cli = Cli::parse();
    let log = cli.log_file.clone().unwrap_or_else(|| state_dir().join("kcops.log"));
    if let Err(e) = init_tracing(&log) {
        eprintln!("kcops: cannot write the log file {}: {e}", log.display());
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kcops: cannot start the async runtime: {e}");
            std::process::exit(3);
        }
    };
    let code = runtime.block_on(async {
        match cli.command {
            Some(Command::Lab(cmd)) => kcops::lab::cli::run(cmd).await,
            None => Err(anyhow::anyhow!("the console is not built yet (issue 3); try `kcops lab up`")),
        }
    });
    match code {
        Ok(c) => std::process::exit(c),
        Err(e) => {
            eprintln!("kcops: {e:#}");
            std::process::exit(1);
        }
    }
}
