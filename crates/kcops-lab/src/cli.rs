//! `kcops lab ...`: bring labs up and down, inspect them, stop and start components.
#![allow(unsafe_code)] // pre_exec(setsid) so a detached lab leaves the caller's session.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};

use super::controllers::Knobs;
use super::paths::LabPaths;
use super::runtime::{self, LabOptions, LabState};

#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// Bring a lab up (foreground unless --detach).
    Up(UpArgs),
    /// Show a lab's addresses and component state.
    Status(NameArg),
    /// Print the exports that point kubectl, ceph, rbd and kcops at the lab.
    Env(NameArg),
    /// Stop every process of a lab and remove its files.
    Down(NameArg),
    /// Stop one component, keeping its state, port and CA (fault injection).
    Stop(ComponentArgs),
    /// Start a stopped component again.
    Start(ComponentArgs),
    /// The lab's kubeadm stand-in (lab and tests only): what the `kubeadm` shim a
    /// `kubeadm` scenario writes into each machine's <host root>/usr/bin runs.
    Kubeadm(Box<super::kubeadm::KubeadmArgs>),
}

#[derive(Debug, Args)]
pub struct NameArg {
    /// Lab name.
    #[arg(long, default_value = "default")]
    pub name: String,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Component {
    Apiserver,
    Mon,
    /// A lab node (name it after `node`): stopping it is a machine going down (its
    /// kubelet stops, nothing is cleaned up); starting it again is its reboot.
    Node,
}

#[derive(Debug, Args)]
pub struct ComponentArgs {
    pub component: Component,
    /// The node, for `node`.
    pub node: Option<String>,
    #[arg(long, default_value = "default")]
    pub name: String,
}

#[derive(Debug, Args, Clone)]
pub struct UpArgs {
    /// Lab name.
    #[arg(long, default_value = "default")]
    pub name: String,
    /// Built-in scenario name (healthy, rbd-stale-lock, flannel-broken, etcd-scaled-down, etcd-join-aware, calico-broken, zk-static, zk-dynamic, rbd-failures, kubeadm, csi-healthy, csi-node-lost) or a YAML file.
    #[arg(long, default_value = "healthy")]
    pub scenario: String,
    /// Return once the lab is up, leaving it running in the background.
    #[arg(long)]
    pub detach: bool,
    /// Run without Ceph (no RBD images, locks or watchers).
    #[arg(long)]
    pub no_ceph: bool,
    /// Timeline speed factor (2 = twice as fast).
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Kubelet mount retry interval in milliseconds.
    #[arg(long, default_value_t = 2000)]
    pub mount_retry_ms: u64,
    /// Crash-loop back-off in milliseconds.
    #[arg(long, default_value_t = 5000)]
    pub crash_backoff_ms: u64,
    /// Watch history kept by the API server (older resourceVersions get 410 Gone).
    #[arg(long, default_value_t = 100_000)]
    pub history: usize,
    /// Seconds between watch bookmarks.
    #[arg(long, default_value_t = 5.0)]
    pub bookmark_seconds: f64,
    /// Synthetic nodes for benchmarks.
    #[arg(long, default_value_t = 0)]
    pub synthetic_nodes: usize,
    /// Synthetic pods for benchmarks.
    #[arg(long, default_value_t = 0)]
    pub synthetic_pods: usize,
    /// Synthetic pod updates per second.
    #[arg(long, default_value_t = 0.0)]
    pub churn: f64,
    /// Go down when standard input closes (tests tie a lab to their process this way).
    #[arg(long, hide = true)]
    pub exit_on_stdin_eof: bool,
}

impl UpArgs {
    fn options(&self) -> LabOptions {
        LabOptions {
            name: self.name.clone(),
            scenario: self.scenario.clone(),
            no_ceph: self.no_ceph,
            knobs: Knobs {
                speed: self.speed,
                mount_retry: Duration::from_millis(self.mount_retry_ms),
                crash_backoff: Duration::from_millis(self.crash_backoff_ms),
            },
            history_limit: self.history,
            bookmark_interval: Duration::from_secs_f64(self.bookmark_seconds.max(0.05)),
            synthetic_nodes: self.synthetic_nodes,
            synthetic_pods: self.synthetic_pods,
            churn: self.churn,
            exit_on_stdin_eof: self.exit_on_stdin_eof,
        }
    }
}

pub async fn run(cmd: LabCommand) -> Result<i32> {
    match cmd {
        LabCommand::Up(args) if args.detach => detach(&args),
        LabCommand::Up(args) => {
            runtime::run(args.options()).await?;
            Ok(0)
        }
        LabCommand::Env(n) => {
            let state = LabState::read(&LabPaths::new(&n.name))?;
            for line in state.env_lines() {
                println!("{line}");
            }
            Ok(0)
        }
        LabCommand::Status(n) => {
            let paths = LabPaths::new(&n.name);
            let state = LabState::read(&paths)?;
            let live = runtime::control(&paths, "status").await;
            println!(
                "lab:        {} (id {}, pid {})",
                state.name, state.id, state.pid
            );
            println!("scenario:   {}", state.scenario);
            // The scenario's own words on what it stages, as the format promises.
            for line in textwrap::wrap(state.description.trim(), 66) {
                println!("            {line}");
            }
            println!("apiserver:  {}", state.api_server);
            println!("kubeconfig: {}", state.kubeconfig.display());
            match &state.ceph_mon {
                Some(m) => println!(
                    "ceph mon:   {m} (conf {})",
                    state
                        .ceph_conf
                        .as_ref()
                        .map(|c| c.display().to_string())
                        .unwrap_or_default()
                ),
                None => println!("ceph:       none (--no-ceph)"),
            }
            println!(
                "nodes:      {}",
                state
                    .nodes
                    .iter()
                    .map(|(n, ip)| format!("{n}={ip}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            println!(
                "node netns: {}",
                if state.netns {
                    "yes (Ceph clients carry node IPs)"
                } else {
                    "no (loopback fallback)"
                }
            );
            match live {
                Ok(s) => println!("live:       {s}"),
                Err(e) => {
                    println!("live:       not answering: {e:#}");
                    return Ok(1);
                }
            }
            Ok(0)
        }
        LabCommand::Down(n) => {
            runtime::down(&LabPaths::new(&n.name)).await?;
            println!("lab {} is down", n.name);
            Ok(0)
        }
        LabCommand::Stop(c) => component(c, "stop").await,
        LabCommand::Start(c) => component(c, "start").await,
        LabCommand::Kubeadm(args) => super::kubeadm::run(*args).await,
    }
}

async fn component(c: ComponentArgs, verb: &str) -> Result<i32> {
    let which = match (c.component, &c.node) {
        (Component::Apiserver, None) => "apiserver".to_string(),
        (Component::Mon, None) => "mon".to_string(),
        (Component::Node, Some(node)) => format!("node {node}"),
        (Component::Node, None) => anyhow::bail!("name the node: kcops lab {verb} node <name>"),
        (_, Some(extra)) => anyhow::bail!("unexpected argument {extra:?}"),
    };
    let reply = runtime::control(&LabPaths::new(&c.name), &format!("{verb} {which}")).await?;
    println!("{verb} {which}: {reply}");
    Ok(0)
}

/// Starts the lab as a background process and waits until it is up.
fn detach(args: &UpArgs) -> Result<i32> {
    let paths = LabPaths::new(&args.name);
    let exe = std::env::current_exe().context("cannot find the kcops binary")?;
    std::fs::create_dir_all(paths.root.parent().unwrap_or(&paths.root)).ok();
    let log: PathBuf = paths.supervisor_log();
    let log_file =
        std::fs::File::create(&log).with_context(|| format!("cannot write {}", log.display()))?;
    let mut cmd = Command::new(exe);
    cmd.args([
        "lab",
        "up",
        "--name",
        &args.name,
        "--scenario",
        &args.scenario,
    ]);
    cmd.args([
        "--speed",
        &args.speed.to_string(),
        "--mount-retry-ms",
        &args.mount_retry_ms.to_string(),
        "--crash-backoff-ms",
        &args.crash_backoff_ms.to_string(),
    ]);
    cmd.args([
        "--history",
        &args.history.to_string(),
        "--bookmark-seconds",
        &args.bookmark_seconds.to_string(),
    ]);
    cmd.args([
        "--synthetic-nodes",
        &args.synthetic_nodes.to_string(),
        "--synthetic-pods",
        &args.synthetic_pods.to_string(),
        "--churn",
        &args.churn.to_string(),
    ]);
    if args.no_ceph {
        cmd.arg("--no-ceph");
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log_file);
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: setsid is async-signal-safe; the lab leaves our session and terminal.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
    }
    let mut child = cmd
        .spawn()
        .context("cannot start the lab in the background")?;
    let stdout = child
        .stdout
        .take()
        .context("no stdout from the lab process")?;
    for line in BufReader::new(stdout).lines() {
        if line.map(|l| l.trim() == "ready").unwrap_or(false) {
            let state = LabState::read(&paths)?;
            println!(
                "lab {} is up (pid {}); apiserver {}",
                state.name, state.pid, state.api_server
            );
            println!("eval \"$(kcops lab env --name {})\" to use it", state.name);
            return Ok(0);
        }
    }
    let _ = child.wait();
    let tail = std::fs::read_to_string(&log).unwrap_or_default();
    let tail: Vec<&str> = tail
        .lines()
        .rev()
        .take(15)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    bail!("the lab did not come up:\n{}", tail.join("\n"))
}
