//! The `kcops` binary: the console (default), `check`, and (with the default `lab`
//! feature) `demo` and the `lab` subcommands.

use std::io::Write;
use std::path::PathBuf;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

mod cli;
mod completions;

/// mimalloc: at 150k pods under churn it costs about a point of a core less than
/// glibc's malloc (which held some 35 MiB less), and the lab, the same binary, serves
/// lists faster with it (benches/results/README.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's purge delay option (mimalloc.h's `mi_option_e`, v3, the version
/// libmimalloc-sys builds); the crate does not name it.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Freed memory goes back to the system at once: by default mimalloc keeps freed
/// pages for a second. With its arenas committed as they are used (built in:
/// `.cargo/config.toml`; up front, the pages it purges are only marked free and stay
/// in the RSS until the kernel runs short), this takes some 45 MiB off the peak at
/// 150k pods for a few percent more CPU over the first list (benches/results/README.md).
#[allow(unsafe_code)] // one call into mimalloc's C API
fn return_freed_memory_promptly() {
    // SAFETY: `mi_option_set` takes any option number and value, and may be called at
    // any time (the options are plain integers it reads when it next needs them).
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
}

#[derive(Debug, Parser)]
#[command(
    name = "kcops",
    version,
    about = "Operations console for kubeadm clusters with Ceph RBD storage"
)]
pub struct Cli {
    #[command(flatten)]
    pub console: cli::ConsoleArgs,
    /// Where tracing goes (never the terminal).
    #[arg(long, global = true, env = "KCOPS_LOG_FILE")]
    pub log_file: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The lab: a local cluster speaking the Kubernetes API, with real Ceph and etcd.
    #[cfg(feature = "lab")]
    #[command(subcommand)]
    Lab(kcops_lab::cli::LabCommand),
    /// Print the findings without the TUI (exit 0 healthy, 1 warnings, 2 critical, 3 could not evaluate, 64 usage error).
    #[command(after_help = cli::CHECK_EXIT_CODES)]
    Check(cli::CheckArgs),
    /// Bring up a lab, open the console on it, and take the lab down on exit.
    #[cfg(feature = "lab")]
    Demo(cli::DemoArgs),
    /// Set up a kubeadm machine before any cluster exists: init, join, reset.
    #[command(subcommand)]
    Setup(kcops::setup::args::SetupCommand),
    /// Print a shell completion script (e.g. `kcops completions bash >
    /// /usr/share/bash-completion/completions/kcops`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page kcops(1) in roff (e.g. `kcops man > /usr/share/man/man1/kcops.1`).
    Man,
}

/// sysexits' EX_USAGE: a command line kcops cannot run. Above the findings' 0-3, so a
/// monitoring system never reads a typo as "critical" (clap's own code is 2).
const EXIT_USAGE: i32 = 64;

fn main() {
    let parsed = cli::own_flags_only(Cli::command())
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m));
    let args = match parsed {
        Ok(args) => args,
        Err(e) => {
            // `--help` and `--version` are "errors" to clap that print to stdout.
            let code = if e.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    // The lab's API server (the same binary) keeps mimalloc's delay: it frees the
    // pages of a list by the hundred a second, and purging each at once made it serve
    // a 150k-pod list half again as slowly (benches/results/README.md).
    #[cfg(feature = "lab")]
    let serving_lab = matches!(args.command, Some(Command::Lab(_)));
    #[cfg(not(feature = "lab"))]
    let serving_lab = false;
    if !serving_lab {
        return_freed_memory_promptly();
    }
    // Generated from this very definition; no log, no runtime.
    match &args.command {
        Some(Command::Completions { shell }) => {
            std::process::exit(completions::print_completions(*shell))
        }
        Some(Command::Man) => std::process::exit(completions::print_man()),
        _ => {}
    }
    let log = args
        .log_file
        .clone()
        .unwrap_or_else(|| cli::state_dir().join("kcops.log"));
    if let Err(e) = cli::init_tracing(&log) {
        eprintln!("kcops: cannot write the log file {}: {e}", log.display());
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kcops: cannot start the async runtime: {e}");
            std::process::exit(3);
        }
    };
    let code = runtime.block_on(async {
        match args.command {
            #[cfg(feature = "lab")]
            Some(Command::Lab(cmd)) => kcops_lab::cli::run(cmd).await,
            Some(Command::Check(c)) => cli::check(&args.console, &c).await,
            #[cfg(feature = "lab")]
            Some(Command::Demo(d)) => cli::demo(&args.console, &d).await,
            Some(Command::Setup(s)) => cli::setup(&args.console, s).await,
            None => cli::console(&args.console, None).await,
            Some(Command::Completions { .. } | Command::Man) => Ok(0),
        }
    });
    // Background tasks (watchers) must not keep the process alive.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    match code {
        Ok(c) => std::process::exit(c),
        Err(e) => {
            tracing::error!("kcops: {e:#}");
            // Not `eprintln!`: when the terminal went away (its window closed, SIGHUP),
            // stderr is gone too and a failed print would panic on the way out.
            let _ = writeln!(std::io::stderr(), "kcops: {e:#}");
            std::process::exit(1);
        }
    }
}
