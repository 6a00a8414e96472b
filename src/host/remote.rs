//! Another node's host, read and changed through a short-lived debug pod (as
//! `kubectl debug node/NAME` does): the pod mounts the node's `/` at `/host` and runs
//! one of the scripts below with the image's shell; its output comes back as the
//! pod's log, one `@@kcops` record per line, which this module parses.
//!
//! - [`PROBE_SCRIPT`] prints the files the host probes read (base64, one line each),
//!   the kernel's interface addresses and the live sandboxes (`crictl pods -q` in the
//!   host's root); [`HostDump`] serves them to the same reader the local probes use.
//! - [`RELEASE_SCRIPT`] deletes approved leaked reservations on the node itself,
//!   under host-local's lock and with the live sandboxes listed again, exactly as the
//!   local release does; [`parse_release`] reads what it did.
//!
//! The scripts need only a POSIX shell, `base64`, `flock`, `head`, `tr` and `chroot`
//! (busybox has them all); the host must have `crictl`, as kubeadm's nodes do.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use base64::Engine;

use super::read::{HostFiles, parse_ifaddr, read_host};
use super::release::Released;
use crate::model::host::{HostReport, IfAddr, Probe, SandboxList};

/// Every record line starts with this, so stray output (a shell warning) is ignored.
const TAG: &str = "@@kcops ";

/// Prints the host's pod-network files, addresses and live sandboxes.
/// `KCOPS_HOST` (default `/host`) and `KCOPS_SANDBOXES` (a command; default
/// `chroot $KCOPS_HOST crictl pods -q`) exist so tests can run it on a directory.
pub(crate) const PROBE_SCRIPT: &str = r#"set -u
H=${KCOPS_HOST:-/host}
command -v base64 >/dev/null 2>&1 || { echo "@@kcops fatal the debug image has no base64"; exit 3; }
dir() { [ -d "$H$1" ] || return 1; echo "@@kcops dir $1"; }
file() {
  [ -f "$H$1" ] || return 0
  if data=$(base64 < "$H$1" 2>&1); then
    echo "@@kcops file $1"; printf '%s\n' "$data" | tr -d '\n'; echo
  else
    echo "@@kcops unreadable $1 $(printf '%s' "$data" | head -n 1)"
  fi
}
each() { for e in "$H$1"/*; do [ -e "$e" ] && printf '%s\n' "${e#"$H"}"; done; }
for d in /etc /run /var /proc /sys; do dir "$d"; done
dir /run/flannel; file /run/flannel/subnet.env
dir /etc/cni/net.d
for f in $(each /etc/cni/net.d); do file "$f"; done
dir /var/lib/cni/networks
for n in $(each /var/lib/cni/networks); do
  dir "$n" || continue
  for f in $(each "$n"); do file "$f"; done
done
file /proc/sys/net/ipv4/ip_forward
dir /sys/class/net
for l in $(each /sys/class/net); do
  dir "$l"; file "$l/operstate"; file "$l/kcops-addresses"
done
if out=$(chroot "$H" ip -o addr show 2>/dev/null); then
  printf '%s\n' "$out" | while IFS= read -r line; do echo "@@kcops ipaddr $line"; done
fi
if [ -n "${KCOPS_SANDBOXES:-}" ]; then list=$(sh -c "$KCOPS_SANDBOXES" 2>&1); else list=$(chroot "$H" crictl pods -q 2>&1); fi
if [ $? -eq 0 ]; then
  echo "@@kcops sandboxes"
  printf '%s\n' "$list" | while IFS= read -r id; do [ -n "$id" ] && echo "@@kcops sandbox $id"; done
else
  echo "@@kcops sandboxes-error $(printf '%s' "$list" | tail -n 1)"
fi
echo "@@kcops done"
"#;

/// Deletes approved reservations: `sh -c RELEASE_SCRIPT kcops-release NETWORK
/// IP=SANDBOX...`. Each file goes only if, under host-local's `lock` and with the
/// live sandboxes listed again, it still names that sandbox and the sandbox is not
/// live; everything else is kept and said why.
pub(crate) const RELEASE_SCRIPT: &str = r#"set -u
H=${KCOPS_HOST:-/host}
net=$1; shift
d="$H/var/lib/cni/networks/$net"
fatal() { echo "@@kcops fatal $*"; exit 3; }
[ -d "$d" ] || fatal "no directory /var/lib/cni/networks/$net on this node"
command -v flock >/dev/null 2>&1 || fatal "the debug image has no flock"
exec 9>>"$d/lock" || fatal "cannot open /var/lib/cni/networks/$net/lock"
flock -w 30 9 || fatal "host-local's lock /var/lib/cni/networks/$net/lock was not free within 30s"
if [ -n "${KCOPS_SANDBOXES:-}" ]; then live=$(sh -c "$KCOPS_SANDBOXES" 2>&1); else live=$(chroot "$H" crictl pods -q 2>&1); fi
[ $? -eq 0 ] || fatal "cannot list the live sandboxes: $(printf '%s' "$live" | tail -n 1)"
is_live() {
  for l in $live; do
    [ "${#l}" -ge 12 ] || continue
    case "$1" in "$l"*) return 0;; esac
    case "$l" in "$1"*) [ "${#1}" -ge 12 ] && return 0;; esac
  done
  return 1
}
for pair in "$@"; do
  ip=${pair%%=*}; sb=${pair#*=}
  f="$d/$ip"
  if [ ! -f "$f" ]; then echo "@@kcops kept $ip it is already gone"; continue; fi
  cur=$(head -n 1 "$f" | tr -d '\r ')
  if [ "$cur" != "$sb" ]; then echo "@@kcops kept $ip it names sandbox $cur now"; continue; fi
  if is_live "$sb"; then echo "@@kcops kept $ip its sandbox is live now"; continue; fi
  if rm -f "$f"; then echo "@@kcops released $ip"; else echo "@@kcops kept $ip it could not be deleted"; fi
done
echo "@@kcops done"
"#;

/// Why a debug pod's output could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RemoteError {
    /// The script stopped itself and said why.
    #[error("{0}")]
    Fatal(String),
    /// The output ends before the script's last record: the pod was killed, or its
    /// log was cut.
    #[error("the debug pod's output ends early (no end record): it was stopped or its log was cut")]
    Truncated,
}

/// What [`PROBE_SCRIPT`] printed, served as a host's files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct HostDump {
    dirs: BTreeSet<String>,
    files: BTreeMap<String, Probe<String>>,
    addresses: Vec<(String, IfAddr)>,
    sandboxes: Probe<SandboxList>,
}

impl HostDump {
    /// Parses the probe script's output.
    pub(crate) fn parse(output: &str) -> Result<HostDump, RemoteError> {
        let mut dump = HostDump::default();
        let mut lines = output.lines();
        let mut ids: Option<BTreeSet<String>> = None;
        let mut done = false;
        while let Some(line) = lines.next() {
            let Some(record) = line.strip_prefix(TAG) else {
                continue;
            };
            let (kind, rest) = record.split_once(' ').unwrap_or((record, ""));
            match kind {
                "fatal" => return Err(RemoteError::Fatal(rest.to_string())),
                "dir" => {
                    dump.dirs.insert(rest.to_string());
                }
                "file" => {
                    let data = lines.next().unwrap_or_default().trim();
                    let text = base64::engine::general_purpose::STANDARD
                        .decode(data)
                        .map(|b| Probe::Found(String::from_utf8_lossy(&b).into_owned()))
                        .unwrap_or_else(|e| Probe::Error(format!("{rest}: bad base64 ({e})")));
                    dump.files.insert(rest.to_string(), text);
                }
                "unreadable" => {
                    let (path, why) = rest.split_once(' ').unwrap_or((rest, "unreadable"));
                    dump.files
                        .insert(path.to_string(), Probe::Error(format!("{path}: {why}")));
                }
                "ipaddr" => dump.addresses.extend(parse_ip_o_addr(rest)),
                "sandboxes" => ids = Some(BTreeSet::new()),
                "sandbox" => {
                    if let Some(ids) = ids.as_mut() {
                        ids.insert(rest.trim().to_lowercase());
                    }
                }
                "sandboxes-error" => {
                    dump.sandboxes = Probe::Error(format!("crictl pods -q on the node: {rest}"));
                }
                "done" => done = true,
                _ => {}
            }
        }
        if !done {
            return Err(RemoteError::Truncated);
        }
        if let Some(ids) = ids {
            dump.sandboxes = Probe::Found(SandboxList {
                source: "crictl pods -q on the node (debug pod)".into(),
                ids,
            });
        }
        Ok(dump)
    }

    /// The host report of `node`, as the local probes would have made it there.
    pub(crate) fn report(&self, node: &str, via: &str) -> HostReport {
        read_host(
            self,
            &format!("/ of {node} ({via})"),
            Some(node.to_string()),
            self.sandboxes.clone(),
        )
    }

    fn children(&self, dir: &str) -> BTreeSet<String> {
        let prefix = format!("{}/", dir.trim_end_matches('/'));
        self.dirs
            .iter()
            .chain(self.files.keys())
            .filter_map(|p| p.strip_prefix(&prefix))
            .filter(|rest| !rest.is_empty() && !rest.contains('/'))
            .map(str::to_string)
            .collect()
    }
}

impl HostFiles for HostDump {
    fn read_text(&self, path: &str) -> Probe<String> {
        self.files.get(path).cloned().unwrap_or(Probe::Missing)
    }

    fn list_dir(&self, path: &str) -> Probe<Vec<String>> {
        if self.dirs.contains(path) {
            Probe::Found(self.children(path).into_iter().collect())
        } else {
            Probe::Missing
        }
    }

    fn is_dir(&self, path: &str) -> bool {
        self.dirs.contains(path)
    }

    fn live_addresses(&self) -> Vec<(String, IfAddr)> {
        self.addresses.clone()
    }
}

/// One line of `ip -o addr show`: `2: eth0    inet 10.0.0.5/24 brd ... scope global eth0`.
fn parse_ip_o_addr(line: &str) -> Option<(String, IfAddr)> {
    let mut fields = line.split_whitespace();
    let _index = fields.next()?;
    let name = fields.next()?.split('@').next()?.to_string();
    let family = fields.next()?;
    if family != "inet" && family != "inet6" {
        return None;
    }
    Some((name, parse_ifaddr(fields.next()?)?))
}

/// What [`RELEASE_SCRIPT`] did.
pub(crate) fn parse_release(output: &str) -> Result<Released, RemoteError> {
    let mut done = Released::default();
    let mut finished = false;
    for line in output.lines() {
        let Some(record) = line.strip_prefix(TAG) else {
            continue;
        };
        let (kind, rest) = record.split_once(' ').unwrap_or((record, ""));
        match kind {
            "fatal" => return Err(RemoteError::Fatal(rest.to_string())),
            "released" => done.released.push(rest.trim().to_string()),
            "kept" => {
                let (ip, why) = rest.split_once(' ').unwrap_or((rest, ""));
                done.skipped.push((ip.to_string(), why.to_string()));
            }
            "done" => finished = true,
            _ => {}
        }
    }
    if finished {
        Ok(done)
    } else {
        Err(RemoteError::Truncated)
    }
}

/// The release script's arguments after `$0`: the network, then `IP=SANDBOX` pairs.
/// Only addresses and hex ids pass, so no argument can name another path.
pub(crate) fn release_args(
    network: &str,
    reservations: &[(String, String)],
) -> Result<Vec<String>, String> {
    if network.is_empty() || network.contains('/') || network.starts_with('.') {
        return Err(format!("{network:?} is not a CNI network name"));
    }
    let mut args = vec![network.to_string()];
    for (ip, sandbox) in reservations {
        if ip.parse::<std::net::IpAddr>().is_err() {
            return Err(format!("{ip:?} is not an IP address"));
        }
        if sandbox.is_empty() || !sandbox.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(format!("{sandbox:?} (for {ip}) is not a sandbox id"));
        }
        args.push(format!("{ip}={sandbox}"));
    }
    Ok(args)
}

/// Host reports of other nodes, read through debug pods on demand: the executor
/// files each new one here, the view picks them up on its next derivation.
#[derive(Debug, Clone, Default)]
pub struct RemoteHosts {
    reports: Arc<Mutex<BTreeMap<String, Arc<HostReport>>>>,
    /// Pinged on each new report, so the view is derived again at once.
    pub(crate) changed: Arc<tokio::sync::Notify>,
}

impl RemoteHosts {
    pub(crate) fn insert(&self, report: HostReport) {
        let Some(node) = report.node.clone() else {
            return;
        };
        if let Ok(mut r) = self.reports.lock() {
            r.insert(node, Arc::new(report));
        }
        self.changed.notify_one();
    }

    /// Every report, by node.
    pub fn all(&self) -> BTreeMap<String, Arc<HostReport>> {
        self.reports.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests;
