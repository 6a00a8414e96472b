//! Host steps: a node's pod-network files, read or changed through the host root the
//! console probes (the node it runs on) or through a debug pod on another node.

use std::path::Path;

use super::StepError;
use super::debug_pod::{DebugPodSpec, run_on_node};
use crate::host::probe::HostProbe;
use crate::host::release::{Approved, release};
use crate::host::remote::{HostDump, PROBE_SCRIPT, RELEASE_SCRIPT, parse_release, release_args};
use crate::model::host::{HostReport, Probe};

/// Deletes the approved leaked host-local reservations of `network` on `node`; each
/// only if, under the directory's lock and with the live sandboxes listed again, it
/// still names its sandbox and that sandbox is still gone (see [`release`]). File IO,
/// a lock wait and perhaps a command: run off the async workers.
pub(crate) async fn release_reservations(
    node: &str,
    host_root: &Path,
    network: &str,
    sandboxes_command: Option<Vec<String>>,
    reservations: &[(String, String)],
) -> Result<String, StepError> {
    let mut probe = HostProbe::new(host_root.to_path_buf(), Some(node.to_string()));
    probe.sandboxes_command = sandboxes_command;
    let approved: Vec<Approved> = reservations
        .iter()
        .map(|(ip, sandbox)| Approved {
            ip: ip.clone(),
            sandbox: sandbox.clone(),
        })
        .collect();
    let total = approved.len();
    let network = network.to_string();
    match tokio::task::spawn_blocking(move || release(&probe, &network, &approved)).await {
        Ok(Ok(done)) => Ok(done.summary(total)),
        Ok(Err(e)) => Err(StepError::Failed(e)),
        Err(e) => Err(StepError::Failed(format!(
            "the release did not finish: {e}"
        ))),
    }
}

/// The same release on another node, by [`RELEASE_SCRIPT`] in a debug pod (host `/`
/// mounted writable): the checks under the lock happen on the node itself.
pub(crate) async fn release_through_debug_pod(
    client: &kube::Client,
    debug: &DebugPodSpec,
    node: &str,
    network: &str,
    reservations: &[(String, String)],
) -> Result<String, StepError> {
    let args = release_args(network, reservations).map_err(StepError::Failed)?;
    let run = run_on_node(
        client,
        debug,
        node,
        "release-ips",
        RELEASE_SCRIPT,
        &args,
        true,
    )
    .await?;
    let done = parse_release(&run.logs)
        .map_err(|e| StepError::Failed(format!("debug pod {} on {node}: {e}", run.pod)))?;
    Ok(with_cleanup(
        format!(
            "{} (debug pod {})",
            done.summary(reservations.len()),
            run.pod
        ),
        run.cleanup,
    ))
}

/// Reads another node's host by [`PROBE_SCRIPT`] in a debug pod (host `/` read-only).
/// Returns what the progress line says and the report.
pub(crate) async fn probe_through_debug_pod(
    client: &kube::Client,
    debug: &DebugPodSpec,
    node: &str,
) -> Result<(String, HostReport), StepError> {
    let run = run_on_node(client, debug, node, "probe-host", PROBE_SCRIPT, &[], false).await?;
    let dump = HostDump::parse(&run.logs)
        .map_err(|e| StepError::Failed(format!("debug pod {} on {node}: {e}", run.pod)))?;
    let report = dump.report(node, &format!("debug pod {}", run.pod));
    let mut said = Vec::new();
    for n in report.ipam.found().into_iter().flatten() {
        let leaked = report.leaked(n).map(|l| l.len());
        said.push(match leaked {
            Some(l) => format!("{}: {} reserved, {l} leaked", n.name, n.reservations.len()),
            None => format!("{}: {} reserved", n.name, n.reservations.len()),
        });
    }
    if let Some(sb) = report.sandboxes.found() {
        said.push(format!("{} live sandboxes", sb.ids.len()));
    } else if let Probe::Error(e) = &report.sandboxes {
        said.push(format!("live sandboxes unknown ({e})"));
    }
    if said.is_empty() {
        said.push("no host-local networks".into());
    }
    let text = with_cleanup(
        format!("read {node}'s host: {}", said.join("; ")),
        run.cleanup,
    );
    Ok((text, report))
}

fn with_cleanup(text: String, cleanup: Option<String>) -> String {
    match cleanup {
        Some(c) => format!("{text}; {c}"),
        None => text,
    }
}
