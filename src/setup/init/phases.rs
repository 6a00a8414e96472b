//! `kubeadm init` as a child process whose `[phase]` lines become a progress list,
//! with a time-out per phase: a phase that prints nothing new for too long (an image
//! pull from an unreachable registry) is stopped, naming the phase.

use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

/// How long one phase may stay silent; image pulls get longer.
pub fn phase_timeout(phase: &str) -> Duration {
    if phase == "preflight" {
        Duration::from_secs(600)
    } else {
        Duration::from_secs(300)
    }
}

/// `[certs] Generating "ca" certificate and key` -> `certs`.
pub fn phase_of(line: &str) -> Option<&str> {
    let rest = line.trim_start().strip_prefix('[')?;
    let (name, _) = rest.split_once(']')?;
    (!name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c == '-' || c == '/'))
    .then_some(name)
}

/// What the run reports as it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhaseEvent {
    /// A phase printed its first line.
    Started(String),
    /// Any line (shown under the list).
    Line(String),
    /// kubeadm exited 0.
    Finished,
    /// It failed or was stopped: why, naming the phase.
    Failed(String),
}

/// Runs `kubeadm init --config <config>` and reports its phases to `events`; `None`
/// timeout means [`phase_timeout`].
pub async fn run_init(
    kubeadm: &Path,
    config: &Path,
    timeout: Option<Duration>,
    events: mpsc::Sender<PhaseEvent>,
) {
    let args = [
        "init".into(),
        "--config".into(),
        config.as_os_str().to_owned(),
    ];
    run_kubeadm(kubeadm, &args, timeout, events).await
}

/// Runs `kubeadm <args>` (init, join) and reports its phases to `events`.
pub async fn run_kubeadm(
    kubeadm: &Path,
    args: &[std::ffi::OsString],
    timeout: Option<Duration>,
    events: mpsc::Sender<PhaseEvent>,
) {
    let verb = args
        .first()
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut cmd = tokio::process::Command::new(kubeadm);
    cmd.args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let _ = events
                .send(PhaseEvent::Failed(format!(
                    "cannot run {}: {e}",
                    kubeadm.display()
                )))
                .await;
            return;
        }
    };
    let (Some(out), Some(err)) = (child.stdout.take(), child.stderr.take()) else {
        let _ = events
            .send(PhaseEvent::Failed("no output pipes".into()))
            .await;
        return;
    };
    let (tx, mut lines) = mpsc::channel::<String>(64);
    for reader in [
        Box::new(out) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
        Box::new(err),
    ] {
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut r = BufReader::new(reader).lines();
            while let Ok(Some(l)) = r.next_line().await {
                if tx.send(l).await.is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);
    let mut phase = "start".to_string();
    let mut last = String::new();
    loop {
        let limit = timeout.unwrap_or_else(|| phase_timeout(&phase));
        match tokio::time::timeout(limit, lines.recv()).await {
            Ok(Some(line)) => {
                if let Some(p) = phase_of(&line)
                    && p != phase
                {
                    phase = p.to_string();
                    let _ = events.send(PhaseEvent::Started(phase.clone())).await;
                }
                last = line.clone();
                let _ = events.send(PhaseEvent::Line(line)).await;
            }
            Ok(None) => break,
            Err(_) => {
                let _ = child.kill().await;
                let hint = if phase == "preflight" {
                    " (pulling images: the image repository is probably unreachable; choose a mirror)"
                } else {
                    ""
                };
                let _ = events
                    .send(PhaseEvent::Failed(format!(
                        "kubeadm {verb} hung in phase [{phase}]: nothing new for {}s{hint}; stopped. Last line: {last}",
                        limit.as_secs()
                    )))
                    .await;
                return;
            }
        }
    }
    let ev = match child.wait().await {
        Ok(s) if s.success() => PhaseEvent::Finished,
        Ok(s) => PhaseEvent::Failed(format!(
            "kubeadm {verb} failed in phase [{phase}] ({s}): {last}"
        )),
        Err(e) => PhaseEvent::Failed(format!("kubeadm {verb}: {e}")),
    };
    let _ = events.send(ev).await;
}

/// The `kubeadm join ...` command kubeadm printed at the end (its lines joined).
pub fn join_command(lines: &[String]) -> Option<String> {
    let start = lines
        .iter()
        .position(|l| l.trim_start().starts_with("kubeadm join"))?;
    let mut cmd = String::new();
    for l in &lines[start..] {
        let t = l.trim();
        cmd.push_str(t.trim_end_matches('\\').trim());
        if !t.ends_with('\\') {
            break;
        }
        cmd.push(' ');
    }
    Some(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_from_kubeadm_lines() {
        assert_eq!(
            phase_of("[certs] Generating \"ca\" certificate and key"),
            Some("certs")
        );
        assert_eq!(
            phase_of("[kubelet-start] Starting the kubelet"),
            Some("kubelet-start")
        );
        assert_eq!(phase_of("[WARNING Swap]: swap is supported"), None);
        assert_eq!(
            phase_of("Your Kubernetes control-plane has initialized"),
            None
        );
        let lines: Vec<String> = [
            "Then you can join any number of worker nodes by running:",
            "",
            "kubeadm join 10.0.0.5:6443 --token abcdef.0123456789abcdef \\",
            "\t--discovery-token-ca-cert-hash sha256:1234 ",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            join_command(&lines).as_deref(),
            Some(
                "kubeadm join 10.0.0.5:6443 --token abcdef.0123456789abcdef --discovery-token-ca-cert-hash sha256:1234"
            )
        );
    }

    #[tokio::test]
    async fn a_silent_phase_is_stopped_naming_it() {
        // A stand-in that prints one preflight line, then hangs (as an image pull does).
        let dir = std::env::temp_dir().join(format!("kcops-phases-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("kubeadm");
        std::fs::write(
            &script,
            "#!/bin/sh\necho '[init] Using Kubernetes version: v1.32.0'\necho '[preflight] Pulling images required for setting up a Kubernetes cluster'\nexec sleep 30\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let (tx, mut rx) = mpsc::channel(16);
        run_init(
            &script,
            Path::new("/dev/null"),
            Some(Duration::from_millis(500)),
            tx,
        )
        .await;
        let mut events = Vec::new();
        while let Ok(e) = rx.try_recv() {
            events.push(e);
        }
        assert!(events.contains(&PhaseEvent::Started("init".into())));
        assert!(events.contains(&PhaseEvent::Started("preflight".into())));
        match events.last() {
            Some(PhaseEvent::Failed(m)) => {
                assert!(
                    m.starts_with("kubeadm init hung in phase [preflight]"),
                    "{m}"
                );
                assert!(m.contains("image repository"), "{m}");
            }
            other => panic!("{other:?}"),
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
