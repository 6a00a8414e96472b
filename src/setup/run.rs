//! The entry points of `kcops setup init|join|reset`: the non-TUI paths
//! (`--preflight-only`, `--dry-run`, the reset run) print plain text, for scripts and
//! for review before a change window.

use std::io::Write as _;
use std::time::Duration;

use anyhow::Result;

use super::args::{InitArgs, ResetArgs, SetupCommand, SetupGlobals};
use super::interrupted;
use super::preflight::{self, PreflightInput, Role};
use super::reset::{self, ResetChoices};
use crate::host::read::LocalRoot;
use crate::ops::{AuditLog, ExecContext, Executor, Progress};

pub async fn run(cmd: SetupCommand, g: SetupGlobals) -> Result<i32> {
    match cmd {
        SetupCommand::Init(a) => init(&a, &g).await,
        SetupCommand::Join(a) => super::join::run(&a, &g).await,
        SetupCommand::Reset(a) => reset(&a, &g).await,
    }
}

/// The preflight of an init, with the verdict on an earlier attempt.
pub async fn init_preflight(
    a: &InitArgs,
    g: &SetupGlobals,
) -> (Vec<preflight::Check>, interrupted::EarlierInit) {
    let mut input = PreflightInput::new(&g.host_root, Role::Init);
    input.image_repository = a.image_repository.clone();
    input.cri_socket = a.cri_socket.clone();
    let root = LocalRoot(g.host_root.clone());
    let earlier = interrupted::assess(&root, Duration::from_secs(5));
    tokio::join!(preflight::run(&input), earlier)
}

async fn init(a: &InitArgs, g: &SetupGlobals) -> Result<i32> {
    if a.preflight_only {
        let (checks, earlier) = init_preflight(a, g).await;
        print!("{}", preflight::render_table(&checks));
        for l in interrupted::describe(&earlier) {
            println!("{l}");
        }
        return Ok(if preflight::blocks(&checks) { 1 } else { 0 });
    }
    super::init::tui::run(a, g).await
}

pub(crate) fn executor(g: &SetupGlobals) -> Executor {
    Executor::without_cluster(
        g.read_only,
        AuditLog::new(g.audit_log.clone()),
        ExecContext::new("", "setup"),
    )
}

async fn reset(a: &ResetArgs, g: &SetupGlobals) -> Result<i32> {
    let choices = ResetChoices {
        iptables: a.iptables,
    };
    let facts = reset::gather(
        &g.host_root,
        a.kubeadm.as_deref(),
        g.kubeconfig.clone(),
        a.cri_socket.clone(),
    )
    .await;
    let plan = reset::plan(&facts, choices);
    let notes = reset::notes(&facts, choices);
    let exec = executor(g);
    if a.dry_run || plan.steps.is_empty() {
        if plan.steps.is_empty() {
            println!("Nothing to remove on {}.", facts.machine);
        } else {
            for l in exec.dry_run(&plan)? {
                println!("{l}");
            }
        }
        for n in &notes {
            println!("Note: {n}");
        }
        return Ok(0);
    }
    for l in plan.render() {
        println!("{l}");
    }
    for n in &notes {
        println!("Note: {n}");
    }
    let typed = match &a.confirm {
        Some(c) => c.clone(),
        None => {
            print!("Type {} to confirm: ", facts.machine);
            std::io::stdout().flush()?;
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            // A piped answer is not echoed: end the prompt's line ourselves.
            if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                println!();
            }
            line.trim_end_matches(['\n', '\r']).to_string()
        }
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let printer = tokio::spawn(async move {
        while let Some(p) = rx.recv().await {
            match p {
                Progress::StepStarted { index, total, text } => {
                    println!("[{}/{total}] {text}", index + 1)
                }
                Progress::StepDone { index, total, text } => {
                    println!("[{}/{total}] done: {text}", index + 1)
                }
                Progress::StepFailed { index, total, text } => {
                    println!("[{}/{total}] FAILED: {text}", index + 1)
                }
            }
        }
    });
    let result = exec.run(&plan, &typed, tx).await;
    let _ = printer.await;
    match result {
        Ok(o) => {
            println!("{}: done ({} steps).", o.title, o.steps.len());
            Ok(0)
        }
        Err(e) => {
            eprintln!("kcops setup reset: {e}");
            Ok(1)
        }
    }
}

/// One journal line of the init run (`kubeadm init` and the steps after it are one
/// step of a one-step plan `run` names): an `intent` before it, its outcome after, so
/// an init interrupted half-way shows in the journal as the console's plans do.
pub(crate) fn journal_init(
    g: &SetupGlobals,
    run: &str,
    detail: &str,
    result: &str,
) -> std::io::Result<()> {
    journal_kubeadm(g, "init", run, detail, result)
}

/// One journal line of a `kubeadm <verb>` run (intent before, outcome after).
pub(crate) fn journal_kubeadm(
    g: &SetupGlobals,
    verb: &str,
    run: &str,
    detail: &str,
    result: &str,
) -> std::io::Result<()> {
    let log = AuditLog::new(g.audit_log.clone());
    let context = ExecContext::new("", "setup");
    log.append(&crate::ops::AuditEntry {
        time: crate::ops::audit::now_rfc3339(),
        os_user: context.os_user,
        kube_user: String::new(),
        context: context.context_name,
        action: format!("kubeadm-{verb}"),
        object: format!("Host {}", g.host_root.display()),
        detail: detail.to_string(),
        result: result.to_string(),
        dry_run: false,
        plan: Some(run.to_string()),
        plan_title: Some(format!("kubeadm {verb}")),
        step: Some(1),
        steps: Some(1),
    })
}
