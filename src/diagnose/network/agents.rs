//! The add-on's agents, one pod per node: `net.cni-crashloop` (with the crash reason
//! read from the termination message) and `net.cni-not-ready`.
//!
//! Logs are not in the snapshot; the termination message is. The kubelet fills it
//! from the container's last log lines when the pod asks for
//! `terminationMessagePolicy: FallbackToLogsOnError`, which is how flannel's
//! "dial tcp 10.96.0.1:443: i/o timeout" reaches this check.

use crate::model::objref::ObjRef;
use std::collections::HashMap;

use crate::model::pod::Pod;

use super::config::{CniKind, NetConfig};
use super::signature::{Signature, classify};
use crate::diagnose::index::{Index, at, event_line, pod_condition, pod_key};
use crate::diagnose::{Explained, Finding, Severity};
use crate::model::pod_status::timestamp;

/// How the agent on a node is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AgentState {
    /// Crash-looping: `ns/name`.
    Crashing(String),
    /// Running but not Ready past the threshold: `ns/name`.
    NotReady(String),
    /// Present and not (yet) reported.
    Present,
    /// No agent pod on the node.
    Missing,
}

/// The agents as the other network checks need them.
#[derive(Debug, Default)]
pub(crate) struct Agents<'a> {
    pub kind: CniKind,
    namespace: String,
    /// Crash-looping agents by node, with the crash reason.
    crashing: HashMap<&'a str, (String, Option<Signature>)>,
    not_ready: HashMap<&'a str, String>,
    present: std::collections::HashSet<&'a str>,
}

impl Agents<'_> {
    pub fn state(&self, node: &str) -> AgentState {
        if let Some((pod, _)) = self.crashing.get(node) {
            AgentState::Crashing(pod.clone())
        } else if let Some(pod) = self.not_ready.get(node) {
            AgentState::NotReady(pod.clone())
        } else if self.present.contains(node) {
            AgentState::Present
        } else {
            AgentState::Missing
        }
    }

    /// Whether the node's agent has its own finding (so node symptoms are explained).
    pub fn reported(&self, node: &str) -> bool {
        self.crashing.contains_key(node) || self.not_ready.contains_key(node)
    }

    /// Crash reasons of all crash-looping agents, by node.
    pub(crate) fn crash_reasons(&self) -> impl Iterator<Item = (&str, &str, &Signature)> {
        self.crashing
            .iter()
            .filter_map(|(node, (pod, sig))| Some((*node, pod.as_str(), sig.as_ref()?)))
    }

    pub(crate) fn crash_reason(&self, node: &str) -> Option<&Signature> {
        self.crashing.get(node)?.1.as_ref()
    }

    /// The add-on's namespace, for commands in fixes.
    pub fn namespace(&self) -> &str {
        if self.namespace.is_empty() {
            "kube-flannel"
        } else {
            &self.namespace
        }
    }
}

/// The termination messages of the pod's failing containers, newest run first.
fn termination_messages(pod: &Pod) -> Vec<&str> {
    let Some(status) = pod.status.as_ref() else {
        return Vec::new();
    };
    status
        .init_container_statuses()
        .into_iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten())
        .filter(|c| !c.ready)
        .flat_map(|c| {
            [
                c.state.as_ref().and_then(|s| s.terminated.as_ref()),
                c.last_state.as_ref().and_then(|s| s.terminated.as_ref()),
            ]
        })
        .flatten()
        .filter(|t| t.exit_code != 0)
        .filter_map(|t| t.message.as_deref())
        .filter(|m| !m.trim().is_empty())
        .collect()
}

/// Why the agent exits, when its termination message says: the first message with a
/// recognised signature, else the first message verbatim.
fn crash_signature(pod: &Pod) -> Option<Signature> {
    let messages = termination_messages(pod);
    messages
        .iter()
        .map(|m| classify(m))
        .find(|s| !matches!(s, Signature::Other(_)))
        .or_else(|| {
            messages
                .first()
                .map(|m| Signature::Other(m.trim().to_string()))
        })
}

/// The kubernetes Service address: the first address of the service subnet.
fn kubernetes_service(cfg: &NetConfig) -> Option<String> {
    let subnet: crate::model::cidr::Cidr = cfg
        .service_subnet
        .as_deref()?
        .split(',')
        .next()?
        .parse()
        .ok()?;
    match subnet.network() {
        std::net::IpAddr::V4(v4) => Some(std::net::Ipv4Addr::from(u32::from(v4) + 1).to_string()),
        std::net::IpAddr::V6(_) => None,
    }
}

fn crashloop(
    pod: &Pod,
    node: &str,
    mut f: Finding,
    cfg: &NetConfig,
    signature: Option<&Signature>,
) -> Finding {
    let (ns, name) = pod_key(pod);
    let kind = if cfg.kind() == CniKind::Unknown {
        "pod network"
    } else {
        cfg.kind().name()
    };
    let consequence = match cfg.kind() {
        CniKind::Flannel => format!(
            " flanneld writes /run/flannel/subnet.env only once it runs, so every new pod on {node} fails to get a sandbox."
        ),
        _ => format!(" New pods on {node} get no network, and routes to its pods go stale."),
    };
    let mut explanation = format!(
        "The {kind} agent of {node} ({ns}/{name}) keeps exiting, so {node} has no working pod network.{consequence}"
    );
    let fix = match signature {
        Some(sig @ Signature::ApiUnreachable { address, .. }) => {
            f.evidence
                .push(format!("reason: {}: {}", sig.label(), sig.describe()));
            let svc = kubernetes_service(cfg);
            let is_service = svc
                .as_deref()
                .is_some_and(|ip| address.starts_with(&format!("{ip}:")));
            explanation.push_str(&format!(" It exits because {}.", sig.describe()));
            if is_service || svc.is_none() {
                explanation.push_str(&format!(
                    " {address} is the kubernetes Service: the agent reaches the API server through the rules kube-proxy sets up on {node}."
                ));
            }
            format!(
                "Make the kubernetes Service reachable from {node}: check kube-proxy there (`kubectl -n kube-system get pods -o wide | grep kube-proxy`, then its logs) and its clusterCIDR (net.kube-proxy-cluster-cidr, if reported), and that {node} reaches the API server's advertise address. Then `kubectl -n {ns} delete pod {name}` (in kcops `:restart-cni {node}`) restarts the agent without waiting for its back-off."
            )
        }
        Some(sig @ Signature::PodCidrNotAssigned { .. }) => {
            f.evidence
                .push(format!("reason: {}: {}", sig.label(), sig.describe()));
            explanation.push_str(&format!(" It exits because {}.", sig.describe()));
            format!(
                "Give {node} a podCIDR (net.node-no-pod-cidr says how), then `kubectl -n {ns} delete pod {name}` so it starts at once."
            )
        }
        Some(sig @ Signature::NodeNotFound { node: looked_up }) => {
            f.evidence
                .push(format!("reason: {}: {}", sig.label(), sig.describe()));
            explanation.push_str(&format!(" It exits because {}.", sig.describe()));
            format!(
                "flannel looks its node up by the pod's node name; the Node object must have exactly that name (`kubectl get nodes`). If {} was renamed or re-registered (--hostname-override), make the names agree, then `kubectl -n {ns} delete pod {name}`.",
                looked_up.as_deref().unwrap_or(node)
            )
        }
        Some(Signature::Other(_)) => {
            explanation.push_str(" Its termination message (above) says why.");
            f.fix.clone()
        }
        Some(sig) => {
            f.evidence
                .push(format!("reason: {}: {}", sig.label(), sig.describe()));
            explanation.push_str(&format!(" It exits because {}.", sig.describe()));
            f.fix.clone()
        }
        None => {
            explanation.push_str(" It left no termination message: its log says why.");
            f.fix.clone()
        }
    };
    f.id = "net.cni-crashloop";
    f.severity = Severity::Critical;
    f.explanation = explanation;
    f.fix = fix;
    f
}

fn not_ready(pod: &Pod, node: &str, cfg: &NetConfig, ix: &Index) -> Option<Finding> {
    let (ns, name) = pod_key(pod);
    let cond = pod_condition(pod, "Ready");
    if cond.is_some_and(|c| c.status() == "True") {
        return None;
    }
    let since = cond
        .and_then(|c| c.last_transition_time())
        .or_else(|| pod.status.as_ref()?.start_time())
        .or_else(|| pod.metadata.creation_timestamp())
        .as_ref()
        .and_then(timestamp)?;
    if ix.since(since) < ix.limits.workload_unavailable {
        return None;
    }
    let mut evidence = Vec::new();
    if let Some(c) = cond {
        evidence.push(format!(
            "Ready={} since {} ({}): {}",
            c.status(),
            at(c.last_transition_time().as_ref()),
            c.reason().unwrap_or_default(),
            c.message().unwrap_or_default()
        ));
    }
    for c in pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_deref())
        .unwrap_or_default()
        .iter()
        .filter(|c| !c.ready)
    {
        let state = c.state.as_ref();
        let what = if let Some(r) = state.and_then(|s| s.running.as_ref()) {
            format!("running since {}, not ready", at(r.started_at().as_ref()))
        } else if let Some(w) = state.and_then(|s| s.waiting.as_ref()) {
            format!("waiting ({})", w.reason.as_deref().unwrap_or("no reason"))
        } else {
            "not running".to_string()
        };
        evidence.push(format!(
            "container {}: {what}, restarted {} times",
            c.name, c.restart_count
        ));
    }
    evidence.extend(
        ix.pod_warnings(pod)
            .into_iter()
            .filter(|e| e.reason.as_deref() == Some("Unhealthy"))
            .take(3)
            .map(event_line),
    );
    let (why, fix) = match cfg.kind() {
        CniKind::Calico => (
            format!(
                "calico-node reports not ready while BIRD has no BGP session with the other nodes or Felix is not live, so routes to and from pods on {node} are missing and cross-node pod traffic there fails."
            ),
            format!(
                "`kubectl -n {ns} describe pod {name}` shows the failing readiness check and `kubectl -n {ns} logs {name} -c calico-node` why. BGP needs TCP 179 between the nodes, and IP-in-IP (IP protocol 4) or VXLAN (UDP 4789) must pass the hosts' firewalls; on hosts with several interfaces set IP_AUTODETECTION_METHOD so calico uses the nodes' InternalIP."
            ),
        ),
        _ => (
            format!("until it is ready, {node}'s pod network may not be set up."),
            format!(
                "`kubectl -n {ns} describe pod {name}` and `kubectl -n {ns} logs {name}` say what it waits for."
            ),
        ),
    };
    Some(Finding {
        id: "net.cni-not-ready",
        severity: Severity::Critical,
        subject: Some(ObjRef::namespaced("Pod", ns, name)),
        object: format!("Pod {ns}/{name}"),
        namespace: Some(ns.to_string()),
        node: Some(node.to_string()),
        evidence,
        explanation: format!(
            "The {} agent of {node} ({ns}/{name}) runs but has not been ready since {}: {why}",
            cfg.kind().name(),
            since
        ),
        fix,
    })
}

/// Reports the agents' crash loops and unreadiness; returns their states per node.
pub fn check<'a>(
    ix: &Index<'a>,
    cfg: &NetConfig<'a>,
    crashes: Vec<(&'a Pod, &'a str, Finding)>,
    explained: &mut Explained<'a>,
    out: &mut Vec<Finding>,
) -> Agents<'a> {
    let mut agents = Agents {
        kind: cfg.kind(),
        namespace: cfg
            .daemonset
            .and_then(|d| d.metadata.namespace.clone())
            .unwrap_or_default(),
        ..Default::default()
    };
    for (pod, node, f) in crashes {
        let (ns, name) = pod_key(pod);
        let signature = crash_signature(pod);
        out.push(crashloop(pod, node, f, cfg, signature.as_ref()));
        agents
            .crashing
            .insert(node, (format!("{ns}/{name}"), signature));
    }
    for (node, pod) in &cfg.agents {
        agents.present.insert(node);
        let key = pod_key(pod);
        if agents.crashing.contains_key(node) || ix.node_not_ready(node) || explained.contains(&key)
        {
            continue;
        }
        if let Some(f) = not_ready(pod, node, cfg, ix) {
            out.push(f);
            explained.insert(key);
            agents
                .not_ready
                .insert(node, format!("{}/{}", key.0, key.1));
        }
    }
    agents
}
