//! Host steps: changes to the files of the node the console runs on (through the host
//! root it probes), never to a remote node.

use std::path::Path;

use super::StepError;
use crate::host::probe::HostProbe;
use crate::host::release::{Approved, release};

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
