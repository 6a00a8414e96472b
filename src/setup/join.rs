//! `kcops setup join` on the joining machine: the preflight, then kubeadm's own
//! discovery done first by kcops (cluster-info fetched anonymously, its signature
//! for the token and the CA pin checked: [`super::discovery`]), so a wrong token or
//! hash is refused with a clear message before kubeadm runs; then `kubeadm join`
//! with its phases as progress, journaled like every change.

use std::ffi::OsString;
use std::path::PathBuf;

use tokio::sync::mpsc;

use super::args::{JoinArgs, SetupGlobals};
use super::discovery::discover;
use super::init::phases::{PhaseEvent, run_kubeadm};
use super::preflight::{self, PreflightInput, Role};

pub async fn run(args: &JoinArgs, g: &SetupGlobals) -> anyhow::Result<i32> {
    let mut input = PreflightInput::new(&g.host_root, Role::Join);
    input.cri_socket = args.cri_socket.clone();
    let checks = preflight::run(&input).await;
    print!("{}", preflight::render_table(&checks));
    if args.preflight_only {
        return Ok(if preflight::blocks(&checks) { 1 } else { 0 });
    }
    let (Some(endpoint), Some(token), Some(hash)) = (
        args.endpoint.as_deref(),
        args.token.as_deref(),
        args.discovery_token_ca_cert_hash.as_deref(),
    ) else {
        eprintln!(
            "kcops setup join: give the API endpoint, --token and --discovery-token-ca-cert-hash as the control plane printed them (kcops there: :join; or `kubeadm token create --print-join-command`)"
        );
        return Ok(2);
    };
    if preflight::blocks(&checks) {
        eprintln!(
            "kcops setup join: the preflight above fails; fix it first (kubeadm was not run)"
        );
        return Ok(1);
    }
    let info = match discover(endpoint, token, &[hash.to_string()]).await {
        Ok(info) => info,
        Err(e) => {
            eprintln!("kcops setup join: discovery refused, kubeadm was not run: {e}");
            return Ok(1);
        }
    };
    println!(
        "discovery: cluster-info from {} is signed for the token and its CA matches {}",
        info.server, info.ca_pin
    );
    if g.read_only {
        eprintln!("kcops setup join: --read-only: kubeadm join was not run");
        return Ok(1);
    }
    let kubeadm = args
        .kubeadm
        .clone()
        .unwrap_or_else(|| PathBuf::from("kubeadm"));
    let argv: Vec<OsString> = [
        "join",
        endpoint,
        "--token",
        token,
        "--discovery-token-ca-cert-hash",
        hash,
    ]
    .into_iter()
    .map(OsString::from)
    .collect();
    let run = format!("join-{}", std::process::id());
    let detail = format!("kubeadm join {endpoint} (token {})", token_id(token));
    super::run::journal_kubeadm(g, "join", &run, &detail, crate::ops::audit::INTENT)?;
    let (tx, mut rx) = mpsc::channel(64);
    let child = tokio::spawn(async move { run_kubeadm(&kubeadm, &argv, None, tx).await });
    let mut outcome = Err("kubeadm join ended without a result".to_string());
    while let Some(ev) = rx.recv().await {
        match ev {
            PhaseEvent::Started(p) => println!("== [{p}]"),
            PhaseEvent::Line(l) => println!("   {l}"),
            PhaseEvent::Finished => outcome = Ok(()),
            PhaseEvent::Failed(why) => outcome = Err(why),
        }
    }
    let _ = child.await;
    let result = match &outcome {
        Ok(()) => "ok".to_string(),
        Err(why) => format!("failed: {why}"),
    };
    super::run::journal_kubeadm(g, "join", &run, &detail, &result)?;
    match outcome {
        Ok(()) => {
            println!(
                "kcops setup join: this machine joined; follow it from the control plane (kcops: :join shows it reach Ready)"
            );
            Ok(0)
        }
        Err(why) => {
            eprintln!("kcops setup join: {why}");
            Ok(1)
        }
    }
}

/// The token's public id (`abcdef` of `abcdef.0123456789abcdef`): its secret part
/// never reaches the journal.
fn token_id(token: &str) -> &str {
    token.split_once('.').map_or(token, |(id, _)| id)
}
