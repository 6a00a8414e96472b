//! Network checks: the pod network add-on (flannel or calico), its configuration
//! against kubeadm's and kube-proxy's, sandbox failures it causes on each node, and
//! the host state of the node the console runs on (when a host report is in the
//! snapshot). Pure functions of the snapshot, like every check.
//!
//! Ownership (one root cause once): a crash-looping network agent is
//! `net.cni-crashloop`, never also `pod.crashloop`; a sandbox failure whose message
//! has a recognised [`signature`] belongs to that signature's finding below, never
//! also to `pod.sandbox-failed` (which keeps what cannot be classified, verbatim). The
//! pod check finds both and hands them over ([`Handoff`]). A node NotReady only
//! because its network plugin is not initialised is `net.cni-config-missing`, not
//! `node.notready`. Host findings merge into the node's event finding of the same id,
//! so a node's exhausted range is one finding with the events and the leaked files.
//!
//! | id | severity | fires when |
//! |---|---|---|
//! | `net.cni-crashloop` | Critical | a pod network agent (flannel, calico-node, ...) is crash-looping; its termination message is classified (API service unreachable, no podCIDR, node not found) |
//! | `net.cni-not-ready` | Critical | the add-on's agent pod on a Ready node is not Ready for 2 minutes, without crashing |
//! | `net.kube-proxy-cluster-cidr` | Critical (an agent cannot reach the API service) / Warning | kube-proxy's clusterCIDR (ConfigMap, or its `--cluster-cidr` flag) is empty or does not cover the pod network |
//! | `net.pod-cidr-mismatch` | Critical | flannel's Network or a calico IPPool disagrees with kubeadm's podSubnet, or node podCIDRs fall outside it |
//! | `net.node-no-pod-cidr` | Critical | flannel runs and a node (2 minutes old) has no podCIDR |
//! | `net.network-unavailable` | Critical | a Ready node has NetworkUnavailable=True not explained by its agent |
//! | `net.flannel-public-ip` | Warning | several nodes share one flannel public-ip (wrong interface), or a node's is none of its addresses |
//! | `net.calico-no-block-affinity` | Warning | calico runs, a node runs pod-network pods but holds no IPAM block affinity |
//! | `net.subnet-env-missing` | Critical | sandbox failures "open /run/flannel/subnet.env: no such file or directory", or the file is missing on this node with flannel |
//! | `net.subnet-env-stale` | Warning | this node's subnet.env disagrees with its podCIDR or flannel's Network |
//! | `net.ipam-exhausted` | Critical | sandbox failures "no IP addresses available ...", or this node's host-local range is full; lists leaked reservations |
//! | `net.cni-config-missing` | Critical | sandbox failures / Ready=False "cni config uninitialized" / "cni plugin not initialized", or this node's /etc/cni/net.d has no usable config |
//! | `net.cni0-conflict` | Critical | sandbox failures "\"cni0\" already has an IP address different from ...", or this node's cni0 address is outside its podCIDR |
//! | `net.calico-nodename-missing` | Critical | sandbox failures "stat /var/lib/calico/nodename: no such file or directory" (calico-node has not started on the node) |
//! | `net.api-unreachable` | Critical | sandbox failures "dial tcp <service>: i/o timeout" (calico's plugin reaching the API) |
//! | `net.leaked-reservations` | Warning | this node's host-local reservations name sandboxes the CRI no longer has (range not full yet) |
//! | `net.ip-forward-off` | Critical | this node's net.ipv4.ip_forward is 0 |
//! | `net.leftover-links` | Warning | this node has cni0/flannel.1/tunl0/vxlan.calico of an add-on that does not run on it |
//!
//! Host findings need a host report whose node is a node of the cluster (`--node`, or
//! found by address); the console's `:release-ips` turns `net.ipam-exhausted` /
//! `net.leaked-reservations` into a plan ([`crate::ops::Plan::release_leaked`]).

mod agents;
mod cluster;
pub mod config;
mod host;
pub mod signature;

use crate::model::objref::ObjRef;
use std::collections::BTreeMap;

use crate::model::pod::Pod;
use k8s_openapi::api::core::v1::{Event, Node, NodeCondition};

use super::index::{Index, event_line, pod_key};
use super::{Explained, Finding, Severity, cap_listed};
use crate::model::snapshot::Snapshot;
use signature::{Signature, classify};

/// The network pane's view model moved to [`crate::views::network`].
pub use crate::views::network::{NetworkSummary, NodeNet, summarize};
pub use config::{CniKind, NetConfig};

/// A sandbox failure the pod check found and the network checks explain.
pub struct SandboxFailure<'a> {
    pub pod: &'a Pod,
    /// The newest sandbox failure event of the pod.
    pub event: &'a Event,
    pub signature: Signature,
}

/// What the pod check hands to the network checks: causes they own.
#[derive(Default)]
pub struct Handoff<'a> {
    /// Crash-looping network agents: the pod, its node and the `pod.crashloop`
    /// finding the pod check built (its evidence is reused).
    pub cni_crashes: Vec<(&'a Pod, &'a str, Finding)>,
    /// Sandbox failures with a recognised signature, per node.
    pub sandbox: BTreeMap<&'a str, Vec<SandboxFailure<'a>>>,
}

/// Whether a node's Ready condition is False only because the runtime's network
/// plugin is not initialised (no CNI config yet): `net.cni-config-missing` owns that,
/// with the right explanation, instead of `node.notready`.
pub(crate) fn waits_for_network(ready: &NodeCondition) -> bool {
    ready.status == "False"
        && (ready
            .message
            .as_deref()
            .is_some_and(|m| classify(m) == Signature::CniConfigMissing)
            || ready.reason.as_deref() == Some("NetworkPluginNotReady"))
}

/// A node finding being put together from events and host state: one per id and node.
#[derive(Debug, Default)]
struct Draft {
    /// Pods whose newest sandbox failure is this cause, as evidence lines.
    pod_lines: Vec<String>,
    /// The first signature seen (for its details: pool, bridge, address).
    signature: Option<Signature>,
    /// Lines from the node's conditions or the host probes.
    other_lines: Vec<String>,
    /// Extra sentences for the explanation (host facts).
    notes: Vec<String>,
}

/// Node findings under construction, by `(id, node)`.
#[derive(Default)]
struct Drafts<'a> {
    map: BTreeMap<(&'static str, &'a str), Draft>,
}

impl<'a> Drafts<'a> {
    fn get(&mut self, id: &'static str, node: &'a str) -> &mut Draft {
        self.map.entry((id, node)).or_default()
    }

    fn has(&self, id: &'static str, node: &str) -> bool {
        self.map.keys().any(|(i, n)| *i == id && *n == node)
    }
}

/// Runs every network check. `handoff` comes from the pod check; pods this check
/// explains (agents not ready) are added to `explained` for the workload check.
pub fn check<'a>(
    s: &'a Snapshot,
    ix: &Index<'a>,
    handoff: Handoff<'a>,
    explained: &mut Explained<'a>,
    out: &mut Vec<Finding>,
) {
    let cfg = config::read(s);
    let agents = agents::check(ix, &cfg, handoff.cni_crashes, explained, out);
    let mut drafts = Drafts::default();
    for (node, failures) in handoff.sandbox {
        for f in failures {
            let Some(id) = f.signature.sandbox_finding() else {
                continue;
            };
            let (ns, name) = pod_key(f.pod);
            let d = drafts.get(id, node);
            d.pod_lines
                .push(format!("Pod {ns}/{name}: {}", event_line(f.event)));
            d.signature.get_or_insert(f.signature);
        }
    }
    for n in &s.nodes {
        let name = n.metadata.name.as_deref().unwrap_or_default();
        if let Some(ready) = super::index::node_ready(n)
            && waits_for_network(ready)
        {
            drafts
                .get("net.cni-config-missing", name)
                .other_lines
                .push(format!(
                    "Ready={} since {} ({}): {}",
                    ready.status,
                    super::index::at(ready.last_transition_time.as_ref()),
                    ready.reason.as_deref().unwrap_or_default(),
                    ready.message.as_deref().unwrap_or_default()
                ));
        }
    }
    for report in s.host_reports() {
        host::check(s, report, ix, &cfg, &agents, &mut drafts);
    }
    for ((id, node), draft) in drafts.map {
        out.push(render(id, node, draft, ix, &cfg, &agents));
    }
    cluster::check(s, ix, &cfg, &agents, out);
}

/// `Node x` findings' common shape.
fn node_finding(
    id: &'static str,
    severity: Severity,
    node: &str,
    evidence: Vec<String>,
    explanation: String,
    fix: String,
) -> Finding {
    Finding {
        id,
        severity,
        subject: Some(ObjRef::cluster("Node", node)),
        object: format!("Node {node}"),
        namespace: None,
        node: Some(node.to_string()),
        evidence,
        explanation,
        fix,
    }
}

/// "3 pods on node2 cannot start: " or "" when no pod failed yet.
fn pods_cannot_start(n: usize, node: &str) -> String {
    match n {
        0 => String::new(),
        1 => format!("1 pod on {node} cannot start: "),
        n => format!("{n} pods on {node} cannot start: "),
    }
}

/// What the node's agent is doing, as a sentence to append, if it explains the cause.
fn agent_note(node: &str, agents: &agents::Agents) -> String {
    match agents.state(node) {
        agents::AgentState::Crashing(pod) => format!(
            " The pod network agent on {node} ({pod}) is crash-looping (net.cni-crashloop), which explains it."
        ),
        agents::AgentState::NotReady(pod) => {
            format!(" The pod network agent on {node} ({pod}) is not ready (net.cni-not-ready).")
        }
        agents::AgentState::Missing if agents.kind != CniKind::Unknown => {
            format!(" No {} agent pod runs on {node}.", agents.kind.name())
        }
        _ => String::new(),
    }
}

fn render(
    id: &'static str,
    node: &str,
    d: Draft,
    ix: &Index,
    cfg: &NetConfig,
    agents: &agents::Agents,
) -> Finding {
    let n = d.pod_lines.len();
    let mut evidence = cap_listed(d.pod_lines, "pods");
    evidence.extend(d.other_lines);
    let lead = pods_cannot_start(n, node);
    let notes = if d.notes.is_empty() {
        String::new()
    } else {
        format!(" {}", d.notes.join(" "))
    };
    let agent = agent_note(node, agents);
    let pod_cidr = ix
        .nodes
        .get(node)
        .and_then(|n| node_pod_cidr(n))
        .unwrap_or_else(|| "<podCIDR>".to_string());
    let (severity, explanation, fix) = match id {
        "net.subnet-env-missing" => (
            Severity::Critical,
            format!(
                "{lead}flannel's CNI plugin reads the node's subnet from /run/flannel/subnet.env, and flanneld on {node} has not written it (it is not running there, or never got its lease).{agent}{notes}"
            ),
            format!(
                "Get flanneld running on {node}: `kubectl -n {ns} logs <flannel pod on {node}> -c kube-flannel --previous` says why it stops. Once it holds its lease it writes the file and the kubelet retries the sandboxes by itself. Do not copy another node's subnet.env: each node has its own subnet.",
                ns = agents.namespace()
            ),
        ),
        "net.ipam-exhausted" => {
            let pool = match &d.signature {
                Some(Signature::IpamExhausted { pool: Some(p) }) => p.clone(),
                _ => "its network".to_string(),
            };
            let dir = match &d.signature {
                Some(Signature::IpamExhausted { pool: Some(p) }) if !p.contains('-') => {
                    format!("/var/lib/cni/networks/{p}/")
                }
                _ => "/var/lib/cni/networks/<network>/".to_string(),
            };
            (
                Severity::Critical,
                format!(
                    "{lead}host-local IPAM on {node} has no free address in {pool}. Usually the range is held by reservations of sandboxes that no longer exist (left by runtime crashes, force-deleted pods or kubeadm reset, which does not clean the directory).{notes}"
                ),
                format!(
                    "On {node}, compare the files in {dir} with the live sandboxes (`crictl pods -q`) and delete only the files of sandboxes that are gone, holding the directory's `lock` file while you do; the kubelet retries by itself. Never delete the file of a live sandbox: two pods would get one address. In kcops: `:release-ips {node}` does exactly that (for a node other than the console's, `:probe-host {node}` reads its host first)."
                ),
            )
        }
        "net.cni0-conflict" => {
            let (bridge, expected) = match &d.signature {
                Some(Signature::BridgeConflict { bridge, expected }) => {
                    (bridge.clone(), expected.clone())
                }
                _ => ("cni0".to_string(), format!("the gateway of {pod_cidr}")),
            };
            (
                Severity::Critical,
                format!(
                    "{lead}the {bridge} bridge on {node} still has an address from an earlier pod network (left by kubeadm reset, or a podCIDR that changed), so the bridge plugin refuses to set it up for {expected}.{notes}"
                ),
                format!(
                    "On {node}: `ip link set {bridge} down && ip link delete {bridge}` (and `ip link delete flannel.1`), then delete the network agent pod on {node} so it recreates them with the node's subnet."
                ),
            )
        }
        "net.cni-config-missing" => {
            let fix = match cfg.kind() {
                CniKind::Unknown => "Install a pod network add-on that matches kubeadm's podSubnet (flannel expects 10.244.0.0/16 by default: `kubectl apply -f kube-flannel.yml`); until then every node stays NotReady and no pod gets a network.".to_string(),
                kind => format!(
                    "Check the {} pod on {node}: its install-cni init container copies the config into /etc/cni/net.d (`kubectl -n {} describe pod <pod on {node}>`).",
                    kind.name(),
                    agents.namespace()
                ),
            };
            let installed = match cfg.kind() {
                CniKind::Unknown => {
                    " No pod network add-on (flannel or calico) is installed.".to_string()
                }
                _ => agent,
            };
            (
                Severity::Critical,
                format!(
                    "{lead}there is no CNI configuration on {node} (/etc/cni/net.d holds no usable config), so the container runtime cannot give any pod a network there.{installed}{notes}"
                ),
                fix,
            )
        }
        "net.api-unreachable" => {
            let target = match &d.signature {
                Some(Signature::ApiUnreachable { address, error }) => {
                    format!("{address} ({error})")
                }
                _ => "the API service".to_string(),
            };
            (
                Severity::Critical,
                format!(
                    "{lead}the CNI plugin on {node} cannot reach {target}. It talks to the API server through the kubernetes Service, which kube-proxy on {node} provides.{notes}"
                ),
                format!(
                    "Check kube-proxy on {node} (`kubectl -n kube-system get pods -o wide | grep kube-proxy`, then its logs) and that {node} reaches the API server's advertise address; see net.kube-proxy-cluster-cidr if it is reported."
                ),
            )
        }
        "net.calico-nodename-missing" => (
            Severity::Critical,
            format!(
                "{lead}calico's CNI plugin on {node} reads the node's name from /var/lib/calico/nodename, which calico-node writes when it starts; it has not started on {node} (or cannot mount /var/lib/calico/).{agent}{notes}"
            ),
            format!(
                "Get calico-node running on {node}: `kubectl -n {ns} describe pod <calico-node pod on {node}>` and its logs say why it is not; then restart it (in kcops `:restart-cni {node}`). The kubelet retries the sandboxes by itself once the file exists.",
                ns = agents.namespace()
            ),
        ),
        "net.subnet-env-stale" => (
            Severity::Warning,
            format!(
                "/run/flannel/subnet.env on {node} does not match the cluster: flannel's CNI plugin gives pods addresses from it, so pods on {node} would get addresses outside the node's podCIDR {pod_cidr} or the pod network.{notes}"
            ),
            format!(
                "Restart flannel on {node} (delete its pod) so it rewrites the file from the node's lease; if {node} was re-joined with another podCIDR, also remove cni0 (`ip link delete cni0`)."
            ),
        ),
        "net.leaked-reservations" => (
            Severity::Warning,
            format!(
                "host-local reservations on {node} name sandboxes the container runtime no longer has. They are never freed by themselves; once they fill the range, new pods on {node} fail with \"no IP addresses available\".{notes}"
            ),
            format!(
                "On {node}, delete the listed files under /var/lib/cni/networks/<network>/ after checking once more that their sandboxes are gone (`crictl pods -q`), holding the directory's `lock` file. In kcops: `:release-ips {node}` (for a node other than the console's, `:probe-host {node}` reads its host first)."
            ),
        ),
        "net.ip-forward-off" => (
            Severity::Critical,
            format!(
                "IP forwarding is off on {node} (net.ipv4.ip_forward = 0), so it does not route pod traffic between cni0, the overlay and other nodes: pods on {node} reach nothing beyond the node, and Service traffic through it fails.{notes}"
            ),
            format!(
                "On {node}: `sysctl -w net.ipv4.ip_forward=1`, and make it permanent in /etc/sysctl.d/k8s.conf (`net.ipv4.ip_forward = 1`), as kubeadm's preflight check asks."
            ),
        ),
        "net.leftover-links" => (
            Severity::Warning,
            format!(
                "{node} has network links of a pod network that does not run on it (kubeadm reset leaves cni0, flannel.1 and tunl0 behind). A stale cni0 makes the next add-on fail with \"cni0 already has an IP address different from ...\", and stale routes send pod traffic the wrong way.{notes}"
            ),
            format!(
                "On {node}: `ip link delete <link>` for each listed link (`ip link set cni0 down` first), and remove stale files in /etc/cni/net.d; then restart the network agent pod on {node}."
            ),
        ),
        _ => (
            Severity::Warning,
            format!("{lead}a pod network problem on {node}.{notes}"),
            "Read the evidence above.".to_string(),
        ),
    };
    node_finding(id, severity, node, evidence, capitalized(explanation), fix)
}

/// The sentence with its first letter upper-cased (explanations that start with a
/// cause when no pod count leads them).
fn capitalized(mut s: String) -> String {
    if let Some(c) = s.get_mut(0..1) {
        c.make_ascii_uppercase();
    }
    s
}

/// The node's podCIDR (first of podCIDRs).
pub(crate) fn node_pod_cidr(n: &Node) -> Option<String> {
    let spec = n.spec.as_ref()?;
    spec.pod_cidr
        .clone()
        .filter(|c| !c.is_empty())
        .or_else(|| spec.pod_cidrs.as_ref()?.first().cloned())
}

#[cfg(test)]
mod tests;
