//! Glue between the command line and the layers: console options (flags, `KCOPS_*`
//! variables, theme/keymap files), `kcops check`, and `kcops demo`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use clap::Args;

use kcops::kube::connect::ConnectOptions;
use kcops::ui::app::ConsoleOptions;
use kcops::ui::keymap::Keymap;
use kcops::ui::theme::Theme;

#[derive(Debug, Args, Clone)]
pub struct ConsoleArgs {
    /// Kubeconfig file (default: KUBECONFIG, then ~/.kube/config).
    #[arg(long, global = true)]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context (default: the current context).
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// Namespace to show (default: all).
    #[arg(short = 'n', long, global = true, env = "KCOPS_NAMESPACE")]
    pub namespace: Option<String>,
    /// The node the console runs on (default: the node with one of this machine's addresses).
    #[arg(long, global = true, env = "KCOPS_NODE")]
    pub node: Option<String>,
    /// The root of this node's filesystem for the host probes (subnet.env, CNI
    /// config, IPAM state, ip_forward, links); a lab node's directory in the lab.
    #[arg(long, global = true, env = "KCOPS_HOST_ROOT", value_name = "DIR")]
    pub host_root: Option<PathBuf>,
    /// Command that prints this node's live CRI sandbox ids, one per line, run without
    /// a shell (default with host root /: `crictl pods -q`; the lab's host roots carry
    /// their own list).
    #[arg(
        long,
        global = true,
        env = "KCOPS_SANDBOXES_COMMAND",
        value_name = "COMMAND"
    )]
    pub sandboxes_command: Option<String>,
    /// Image of the short-lived pods that read or release another node's host state
    /// (`:probe-host`, `:release-ips NODE`): any image with a POSIX shell, base64 and
    /// flock; give one your nodes can pull when they cannot reach Docker Hub.
    #[arg(long, global = true, env = "KCOPS_DEBUG_IMAGE", value_name = "IMAGE", default_value = kcops::ops::DEFAULT_DEBUG_IMAGE)]
    pub debug_image: String,
    /// Namespace those pods are created in (it must admit privileged pods).
    #[arg(long, global = true, env = "KCOPS_DEBUG_NAMESPACE", value_name = "NS", default_value = kcops::ops::DEFAULT_DEBUG_NAMESPACE)]
    pub debug_namespace: String,
    /// Hide and refuse every action that changes the cluster.
    #[arg(long, global = true, env = "KCOPS_READ_ONLY")]
    pub read_only: bool,
    /// Theme: a built-in name (dark, light, ansi16) or a TOML file.
    #[arg(long, global = true, env = "KCOPS_THEME")]
    pub theme: Option<String>,
    /// Keymap: a built-in name (default, vim) or a TOML file.
    #[arg(long, global = true, env = "KCOPS_KEYMAP")]
    pub keymap: Option<String>,
    #[command(flatten)]
    pub ceph: kcops::ceph::CephArgs,
}

/// Flags only the console reads: `kcops check` accepts them (they are global) but
/// its help does not list them.
const CONSOLE_ONLY: &[&str] = &[
    "namespace",
    "debug_image",
    "debug_namespace",
    "read_only",
    "theme",
    "keymap",
];

/// `command` (the whole `kcops` CLI) with each subcommand's help listing only the
/// flags it reads: `check` leaves out the console's own, `lab` (which talks to no
/// cluster of the user's) every global one. A subcommand gets a hidden copy of each
/// such global flag, which clap then does not copy in visibly.
pub fn own_flags_only(command: clap::Command) -> clap::Command {
    let globals: Vec<clap::Arg> = command
        .get_arguments()
        .filter(|a| a.is_global_set())
        .cloned()
        .collect();
    let hidden_in = |sub: &str, arg: &clap::Arg| match sub {
        "check" => CONSOLE_ONLY.contains(&arg.get_id().as_str()),
        _ => true,
    };
    let mut command = command;
    for sub in ["check", "lab"] {
        if command.find_subcommand(sub).is_none() {
            continue;
        }
        let hidden: Vec<clap::Arg> = globals
            .iter()
            .filter(|a| hidden_in(sub, a))
            .map(|a| a.clone().hide(true))
            .collect();
        command = command.mut_subcommand(sub, |c| c.args(hidden));
    }
    command
}

/// The exit codes of `kcops check`, shown under `kcops check --help`.
pub const CHECK_EXIT_CODES: &str = "\
Exit codes:
  0   healthy: no findings, or only info ones
  1   warnings
  2   critical findings
  3   UNKNOWN: the cluster could not be evaluated (the reason is printed once:
      wrong token or CA, refused, unknown host, no answer within --timeout, ...)
  64  usage error (an unknown flag, a bad value)";

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// How long to wait for the API server to answer and every kind to list before
    /// giving up with UNKNOWN (exit 3): seconds, or a number with ms, s or m.
    /// Wrong credentials, a wrong CA, a refused connection or an unknown host end
    /// the check at once.
    #[arg(long, alias = "timeout-seconds", default_value = "20s", value_name = "DURATION",
          value_parser = kcops::check::parse_timeout)]
    pub timeout: Duration,
}

#[cfg(feature = "lab")]
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Lab scenario to open.
    #[arg(long, default_value = "rbd-stale-lock")]
    pub scenario: String,
}

pub fn state_dir() -> PathBuf {
    match std::env::var_os("XDG_STATE_HOME") {
        Some(d) if !d.is_empty() => PathBuf::from(d).join("kcops"),
        _ => std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir)
            .join(".local/state/kcops"),
    }
}

pub fn config_dir() -> Option<PathBuf> {
    match std::env::var_os("XDG_CONFIG_HOME") {
        Some(d) if !d.is_empty() => Some(PathBuf::from(d).join("kcops")),
        _ => std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config/kcops")),
    }
}

/// Sends tracing to `path`, readable by its owner only (0600, in a 0700 directory
/// when kcops creates it), like the audit log: the log names the cluster, its
/// objects and the console's errors. A log an older kcops left readable to others is
/// tightened.
pub fn init_tracing(path: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    let meta = file.metadata()?;
    // Only a regular file of ours: never chmod /dev/null or a shared pipe.
    if meta.is_file() && meta.permissions().mode() & 0o077 != 0 {
        file.set_permissions(std::fs::Permissions::from_mode(
            meta.permissions().mode() & 0o700,
        ))?;
    }
    let filter = tracing_subscriber::EnvFilter::try_from_env("KCOPS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .init();
    Ok(())
}

fn console_options(args: &ConsoleArgs, kubeconfig: Option<PathBuf>) -> ConsoleOptions {
    let config = config_dir();
    let (theme, theme_errors) = Theme::resolve(args.theme.as_deref(), config.as_deref());
    let theme = theme.apply_no_color(std::env::var("NO_COLOR").ok().as_deref());
    let (keymap, keymap_errors) = Keymap::resolve(args.keymap.as_deref(), config.as_deref());
    let config_errors = theme_errors
        .iter()
        .chain(keymap_errors.iter())
        .map(|e| e.to_string())
        .collect::<Vec<_>>();
    for e in &config_errors {
        tracing::warn!("{e}");
    }
    ConsoleOptions {
        connect: ConnectOptions {
            kubeconfig: kubeconfig.or_else(|| args.kubeconfig.clone()),
            context: args.context.clone(),
        },
        namespace: args.namespace.clone(),
        node: args.node.clone(),
        read_only: args.read_only,
        theme,
        keymap,
        config_errors,
        audit_log: state_dir().join("audit.log"),
        host_root: args.host_root.clone(),
        sandboxes_command: sandboxes_command(args),
        debug_pod: kcops::ops::DebugPodSpec {
            namespace: args.debug_namespace.clone(),
            image: args.debug_image.clone(),
        },
        ceph: args.ceph.settings().map(|s| s.read_only(args.read_only)),
    }
}

fn sandboxes_command(args: &ConsoleArgs) -> Option<Vec<String>> {
    args.sandboxes_command
        .as_deref()
        .map(|c| c.split_whitespace().map(str::to_string).collect())
        .filter(|v: &Vec<String>| !v.is_empty())
}

pub async fn console(args: &ConsoleArgs, kubeconfig: Option<PathBuf>) -> Result<i32> {
    kcops::ui::app::run(console_options(args, kubeconfig)).await?;
    Ok(0)
}

/// `kcops check`: list every kind once, diagnose, print, exit by severity.
pub async fn check(args: &ConsoleArgs, c: &CheckArgs) -> Result<i32> {
    let opts = ConnectOptions {
        kubeconfig: args.kubeconfig.clone(),
        context: args.context.clone(),
    };
    let print = |findings: &[kcops::diagnose::Finding], reason: Option<&str>| {
        let now = jiff::Timestamp::now();
        let text = match (c.json, reason) {
            (true, Some(r)) => kcops::check::render_json_unevaluated(r, now),
            (true, None) => kcops::check::render_json(findings, now),
            (false, Some(r)) => kcops::check::render_text_unevaluated(r),
            (false, None) => kcops::check::render_text(findings),
        };
        print!("{text}");
        if !text.ends_with('\n') {
            println!();
        }
        kcops::check::exit_code(findings, reason)
    };
    let conn = match kcops::kube::connect::connect(&opts).await {
        Ok(c) => c,
        Err(e) => return Ok(print(&[], Some(&e.to_string()))),
    };
    // One request first: a wrong token, CA or address is said once, at once, instead
    // of by every reflector until the timeout.
    let started = tokio::time::Instant::now();
    if let Err(e) = kcops::kube::connect::first_answer(&conn, c.timeout).await {
        return Ok(print(&[], Some(&e.to_string())));
    }
    let sources = kcops::kube::reflectors::Sources::start(&conn);
    let left = c.timeout.saturating_sub(started.elapsed());
    if sources.wait_synced(left).await.is_err() {
        let why =
            kcops::check::unlisted(&sources.snapshot()).unwrap_or_else(|| "no answer".to_string());
        return Ok(print(
            &[],
            Some(&format!(
                "could not list everything within {}: {why}",
                shown_duration(c.timeout)
            )),
        ));
    }
    let mut snapshot = sources.snapshot();
    // This machine's host state, when it is a node of the cluster (named or found by address).
    let node = args.node.clone().or_else(|| {
        kcops::host::node_with_address(
            snapshot.nodes.iter().map(|n| n.as_ref()),
            &kcops::host::local_addresses(),
        )
    });
    let mut probe = kcops::host::probe::HostProbe::new(
        args.host_root.clone().unwrap_or_else(|| "/".into()),
        node,
    );
    probe.sandboxes_command = sandboxes_command(args);
    match tokio::task::spawn_blocking(move || probe.run()).await {
        Ok(report) => snapshot.host = Some(std::sync::Arc::new(report)),
        Err(e) => tracing::warn!("host probe failed: {e}"),
    }
    if let Some(settings) = args.ceph.settings().map(|s| s.read_only(args.read_only)) {
        // ceph-csi's Secrets are read once here (never watched) for the Ceph check.
        let csi =
            kcops::kube::csi_secrets::named(snapshot.storage_classes.iter().map(|c| c.as_ref()));
        let csi = kcops::kube::csi_secrets::read(&conn.client, &conn.server, csi).await;
        snapshot.ceph = Some(std::sync::Arc::new(check_ceph(settings, csi).await));
    }
    snapshot.interrupted =
        kcops::ops::journal::interrupted_or_unreadable(&state_dir().join("audit.log"));
    snapshot.members = Some(std::sync::Arc::new(check_members(args, &snapshot).await));
    let findings = kcops::diagnose::diagnose(&snapshot);
    Ok(print(&findings, None))
}

/// One poll of every ensemble's members for `kcops check` (its pods by name).
async fn check_members(
    args: &ConsoleArgs,
    snapshot: &kcops::model::snapshot::Snapshot,
) -> kcops::model::members::MembersReport {
    use kcops::members::{poll, recognise, source::PollSettings};
    let targets = recognise::recognise(&snapshot.statefulsets, &snapshot.nodes, |ns, name| {
        snapshot.pod(ns, name).cloned()
    });
    let settings = PollSettings {
        host_root: args.host_root.clone().unwrap_or_else(|| "/".into()),
        ..Default::default()
    };
    poll::poll_all(&targets, &poll::sources(&settings)).await
}

/// `20s`, `1500ms`: a timeout as the user would write it.
fn shown_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// One Ceph refresh for `kcops check`; a failure to connect is part of the report
/// (it becomes a finding), not an error of the check.
async fn check_ceph(
    settings: kcops::ceph::CephSettings,
    csi: Vec<kcops::model::ceph::SecretRead>,
) -> kcops::model::ceph::CephReport {
    let entity = settings.entity();
    let conf = settings.conf.display().to_string();
    match kcops::ceph::CephClient::connect(settings) {
        Ok(client) => {
            let mut report =
                kcops::ceph::source::refresh(&client, &kcops::model::ceph::CephReport::default())
                    .await;
            if report.error.is_none() && !csi.is_empty() {
                report.csi_users = Some(kcops::ceph::csi_users::check(&client, csi).await);
            }
            report
        }
        Err(e) => kcops::model::ceph::CephReport {
            entity,
            conf,
            attempted_at: Some(jiff::Timestamp::now()),
            error: Some(e.to_string()),
            failure: Some(e.failure()),
            ..Default::default()
        },
    }
}

/// `kcops setup ...`: the console's host root, read-only mode, kubeconfig and audit log.
pub async fn setup(args: &ConsoleArgs, cmd: kcops::setup::args::SetupCommand) -> Result<i32> {
    let (keymap, errors) = Keymap::resolve(args.keymap.as_deref(), config_dir().as_deref());
    // Said before any screen is drawn, and refused: the wizard's keys would not be
    // the ones the operator wrote.
    if !errors.is_empty() {
        for e in &errors {
            eprintln!("kcops setup: {e}");
        }
        return Ok(2);
    }
    let globals = kcops::setup::args::SetupGlobals {
        keymap,
        host_root: args.host_root.clone().unwrap_or_else(|| "/".into()),
        read_only: args.read_only,
        kubeconfig: args.kubeconfig.clone(),
        audit_log: state_dir().join("audit.log"),
        state_dir: state_dir(),
    };
    kcops::setup::run::run(cmd, globals).await
}

/// `kcops demo`: a lab in the background, the console on it, the lab down afterwards.
#[cfg(feature = "lab")]
pub async fn demo(args: &ConsoleArgs, d: &DemoArgs) -> Result<i32> {
    use anyhow::Context as _;
    let name = format!("demo-{}", std::process::id());
    let exe = std::env::current_exe().context("cannot find the kcops binary")?;
    let mut cmd = std::process::Command::new(&exe);
    cmd.args([
        "lab",
        "up",
        "--detach",
        "--name",
        &name,
        "--scenario",
        &d.scenario,
    ]);
    if args.ceph.no_ceph {
        cmd.arg("--no-ceph");
    }
    eprintln!(
        "kcops demo: starting lab {name} (scenario {})...",
        d.scenario
    );
    let status = cmd.status().context("cannot start the lab")?;
    if !status.success() {
        anyhow::bail!("the demo lab did not come up (see the messages above)");
    }
    let paths = kcops_lab::paths::LabPaths::new(&name);
    let state = kcops_lab::runtime::LabState::read(&paths)?;
    let mut args = args.clone();
    args.node = args.node.or(Some(state.console_node.clone()));
    args.host_root = args.host_root.or(Some(state.host_root.clone()));
    args.sandboxes_command = args
        .sandboxes_command
        .or(Some(state.sandboxes_command().join(" ")));
    // The lab's cluster as its admin, unless Ceph was named or turned off.
    if args.ceph.ceph_conf.is_none() {
        args.ceph.ceph_conf = state.ceph_conf.clone();
        args.ceph.ceph_id = "admin".into();
        args.ceph.ceph_keyring = state.ceph_keyring.clone();
    }
    let result = console(&args, Some(state.kubeconfig.clone())).await;
    eprintln!("kcops demo: taking lab {name} down...");
    if let Err(e) = kcops_lab::runtime::down(&paths).await {
        eprintln!("kcops demo: {e:#}");
    }
    result
}

#[cfg(test)]
mod help_tests {
    use clap::CommandFactory;

    fn help(path: &[&str]) -> String {
        let mut command = super::own_flags_only(crate::Cli::command());
        command.build();
        let mut c = &mut command;
        for name in path {
            c = c
                .find_subcommand_mut(name)
                .unwrap_or_else(|| panic!("no subcommand {name}"));
        }
        c.render_help().to_string()
    }

    /// Issue 15 #11: `check --help` and `lab --help` list only their own flags.
    #[test]
    fn each_help_lists_its_own_flags() {
        let console = help(&[]);
        for flag in [
            "--theme",
            "--keymap",
            "--read-only",
            "--kubeconfig",
            "--no-ceph",
        ] {
            assert!(console.contains(flag), "{flag}: {console}");
        }
        let check = help(&["check"]);
        for flag in [
            "--theme",
            "--keymap",
            "--read-only",
            "--debug-image",
            "--namespace",
        ] {
            assert!(!check.contains(flag), "{flag}: {check}");
        }
        for flag in [
            "--json",
            "--timeout",
            "--kubeconfig",
            "--no-ceph",
            "--host-root",
        ] {
            assert!(check.contains(flag), "{flag}: {check}");
        }
        #[cfg(feature = "lab")]
        for path in [&["lab"][..], &["lab", "up"]] {
            let lab = help(path);
            for flag in ["--theme", "--kubeconfig", "--ceph-keyring", "--log-file"] {
                assert!(!lab.contains(flag), "{flag}: {lab}");
            }
        }
    }
}
