//! What the `:net` pane shows: the add-on and its configuration, one row per node
//! (also as the pane's table), the host section of this node, and the network
//! findings. Derived once per change batch with the rest of the view, off the UI task.

use crate::model::columns::{Column, ColumnKind};
use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Event;

use super::tables::{ObjKey, ObjKind, TableModel, TableRow, Tone};
use crate::diagnose::index::{node_ready, pod_key, pod_node};
use crate::diagnose::network::config::{self, CniKind, NetConfig};
use crate::diagnose::network::node_pod_cidr;
use crate::diagnose::{Finding, Severity};
use crate::model::host::{CNI_LINKS, HostReport, Probe};
use crate::model::pod_status::pod_status;
use crate::model::rows::{daemonset_replicas, event_count, event_last_seen};
use crate::model::snapshot::Snapshot;

/// One row of the pane's node table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeNet {
    pub node: String,
    /// The add-on's agent pod on the node, or `-`.
    pub agent: String,
    /// Its status as kubectl prints it, or `missing`.
    pub state: String,
    pub restarts: i32,
    pub pod_cidr: String,
    pub backend: String,
    pub public_ip: String,
    /// Sandbox failure events on the node seen in the last hour (counting repeats).
    pub sandbox_failures: i64,
    /// `ok`, or the node's most severe network finding in a few words.
    pub verdict: String,
    pub severity: Option<Severity>,
}

impl NodeNet {
    pub(crate) const COLUMNS: &'static [Column] = &[
        Column::new("NODE", ColumnKind::Name),
        Column::new("CNI POD", ColumnKind::Name),
        Column::new("STATE", ColumnKind::Status),
        Column::new("RESTARTS", ColumnKind::Count),
        Column::new("PODCIDR", ColumnKind::Text),
        Column::new("BACKEND", ColumnKind::Text),
        Column::new("PUBLIC IP", ColumnKind::Text),
        Column::new("SANDBOX FAILS/1H", ColumnKind::Count),
        Column::new("VERDICT", ColumnKind::Text),
    ];

    pub fn cells(&self) -> Vec<String> {
        vec![
            self.node.clone(),
            self.agent.clone(),
            self.state.clone(),
            self.restarts.to_string(),
            self.pod_cidr.clone(),
            self.backend.clone(),
            self.public_ip.clone(),
            self.sandbox_failures.to_string(),
            self.verdict.clone(),
        ]
    }
}

/// Everything the network pane draws.
#[derive(Debug, Clone, Default)]
pub struct NetworkSummary {
    pub cni: CniKind,
    /// `label: value` lines about the add-on and the cluster's network settings.
    pub facts: Vec<(String, String)>,
    pub nodes: Vec<NodeNet>,
    /// The host section's title (`Host master (root /)`), empty without a report.
    pub host_title: String,
    pub host: Vec<(String, String)>,
    /// Other nodes' hosts read through debug pods (`:probe-host`): title and lines.
    pub remote_hosts: Vec<(String, Vec<(String, String)>)>,
    /// The network findings (`net.*`, `pod.sandbox-failed`), most severe first.
    pub findings: Vec<Finding>,
}

/// Whether a finding is about the pod network (shown in the pane).
pub(crate) fn is_network_finding(f: &Finding) -> bool {
    f.id.starts_with("net.") || f.id == "pod.sandbox-failed"
}

fn verdict_label(id: &str) -> &'static str {
    match id {
        "net.cni-crashloop" => "agent crash-looping",
        "net.cni-not-ready" => "agent not ready",
        "net.subnet-env-missing" => "subnet.env missing",
        "net.subnet-env-stale" => "subnet.env stale",
        "net.ipam-exhausted" => "IP range exhausted",
        "net.leaked-reservations" => "leaked IPs",
        "net.cni-config-missing" => "no CNI config",
        "net.cni0-conflict" => "cni0 conflict",
        "net.api-unreachable" => "API unreachable",
        "net.node-no-pod-cidr" => "no podCIDR",
        "net.network-unavailable" => "NetworkUnavailable",
        "net.flannel-public-ip" => "wrong public IP",
        "net.calico-no-block-affinity" => "no IPAM block",
        "net.ip-forward-off" => "ip_forward off",
        "net.leftover-links" => "leftover links",
        "pod.sandbox-failed" => "sandbox failures",
        _ => "problem",
    }
}

fn is_sandbox_event(e: &Event) -> bool {
    let reason = e.reason.as_deref().unwrap_or_default();
    let message = e.message.as_deref().unwrap_or_default();
    reason == "FailedCreatePodSandBox"
        || (reason == "FailedSync"
            && (message.contains("SetupNetwork") || message.contains("Failed to setup network")))
}

fn facts(cfg: &NetConfig) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let addon = match (cfg.kind(), cfg.daemonset) {
        (CniKind::Unknown, _) => {
            "unknown: no flannel (kube-flannel-ds) or calico (calico-node) DaemonSet".to_string()
        }
        (kind, Some(ds)) => {
            let r = daemonset_replicas(ds);
            format!(
                "{} (DaemonSet {}: desired {}, ready {}, available {})",
                kind.name(),
                cfg.daemonset_name().unwrap_or_default(),
                r.desired,
                r.ready,
                r.available
            )
        }
        (kind, None) => format!("{} (no agent DaemonSet found)", kind.name()),
    };
    out.push(("add-on".to_string(), addon));
    match cfg.kind() {
        CniKind::Flannel => {
            let net = match &cfg.flannel_network {
                Some(Ok(n)) => n.to_string(),
                Some(Err(e)) => format!("unreadable: {e}"),
                None => "kube-flannel-cfg not found".to_string(),
            };
            let backend = cfg
                .flannel_backend
                .as_deref()
                .map(|b| format!(" (backend {b})"))
                .unwrap_or_default();
            out.push(("flannel Network".to_string(), format!("{net}{backend}")));
        }
        CniKind::Calico => {
            let pools: Vec<String> = cfg
                .pools
                .iter()
                .map(|p| {
                    format!(
                        "{} {} {}{}",
                        p.name,
                        p.cidr_text,
                        p.encapsulation,
                        if p.disabled { " (disabled)" } else { "" }
                    )
                })
                .collect();
            out.push((
                "IPPools".to_string(),
                if pools.is_empty() {
                    "none".to_string()
                } else {
                    pools.join("; ")
                },
            ));
            let blocks: Vec<String> = cfg
                .affinities
                .iter()
                .map(|a| format!("{} {}", a.node, a.cidr))
                .collect();
            out.push((
                "block affinities".to_string(),
                if blocks.is_empty() {
                    "none".to_string()
                } else {
                    blocks.join(", ")
                },
            ));
        }
        CniKind::Unknown => {}
    }
    let subnet = match &cfg.pod_subnet {
        Some(p) => match &p.value {
            Ok(list) => list
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(","),
            Err(e) => format!("unreadable: {e}"),
        },
        None if cfg.kubeadm => "not set".to_string(),
        None => "no kubeadm-config ConfigMap".to_string(),
    };
    out.push(("kubeadm podSubnet".to_string(), subnet));
    if let Some(svc) = &cfg.service_subnet {
        out.push(("service subnet".to_string(), svc.clone()));
    }
    out.push((
        "kube-proxy clusterCIDR".to_string(),
        match &cfg.cluster_cidr {
            Some(c) if c.value.is_empty() => format!("\"\" (empty, from {})", c.source),
            Some(c) => format!("{} (from {})", c.value, c.source),
            None => "no kube-proxy found".to_string(),
        },
    ));
    out
}

fn host_lines(r: &HostReport) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let probe_text = |p: &Probe<String>, missing: &str| match p {
        Probe::Missing => missing.to_string(),
        Probe::Error(e) => format!("unreadable: {e}"),
        Probe::Found(v) => v.clone(),
    };
    let subnet = match &r.subnet_env {
        Probe::Found(e) => Probe::Found(format!(
            "FLANNEL_NETWORK={} FLANNEL_SUBNET={} MTU {}",
            e.network
                .map(|n| n.to_string())
                .unwrap_or_else(|| "?".into()),
            e.subnet_text.as_deref().unwrap_or("?"),
            e.mtu.map(|m| m.to_string()).unwrap_or_else(|| "?".into())
        )),
        Probe::Missing => Probe::Missing,
        Probe::Error(e) => Probe::Error(e.clone()),
    };
    out.push((
        "/run/flannel/subnet.env".to_string(),
        probe_text(&subnet, "missing"),
    ));
    let cni = match &r.cni_configs {
        Probe::Found(list) if list.is_empty() => Probe::Found("empty".to_string()),
        Probe::Found(list) => Probe::Found(
            list.iter()
                .map(|c| match &c.error {
                    Some(e) => format!("{}: unusable ({e})", c.file),
                    None => format!(
                        "{}: {} ({})",
                        c.file,
                        c.name.as_deref().unwrap_or("?"),
                        c.plugins.join(", ")
                    ),
                })
                .collect::<Vec<_>>()
                .join("; "),
        ),
        Probe::Missing => Probe::Missing,
        Probe::Error(e) => Probe::Error(e.clone()),
    };
    out.push(("/etc/cni/net.d".to_string(), probe_text(&cni, "missing")));
    out.push((
        "ip_forward".to_string(),
        match &r.ip_forward {
            Probe::Found(true) => "1".to_string(),
            Probe::Found(false) => "0 (off)".to_string(),
            Probe::Missing => "unknown (no /proc/sys/net/ipv4/ip_forward)".to_string(),
            Probe::Error(e) => format!("unreadable: {e}"),
        },
    ));
    out.push((
        "sandboxes".to_string(),
        match &r.sandboxes {
            Probe::Found(l) => format!("{} live (from {})", l.ids.len(), l.source),
            Probe::Missing => "unknown".to_string(),
            Probe::Error(e) => format!("unknown: {e}"),
        },
    ));
    match &r.ipam {
        Probe::Found(nets) if !nets.is_empty() => {
            for net in nets {
                let used = net.reservations.len();
                let cap = match (net.capacity, &net.range) {
                    (Some(c), Some(range)) => format!(" of {c} ({range})"),
                    _ => " (range unknown)".to_string(),
                };
                let leaked = match r.leaked(net) {
                    Some(l) => format!(", {} leaked", l.len()),
                    None => ", leaks unknown".to_string(),
                };
                out.push((
                    format!("IPAM {}", net.name),
                    format!("{used}{cap} reserved{leaked}"),
                ));
            }
        }
        Probe::Error(e) => out.push(("IPAM".to_string(), format!("unreadable: {e}"))),
        _ => out.push((
            "IPAM".to_string(),
            "no host-local networks (/var/lib/cni/networks)".to_string(),
        )),
    }
    let links = match &r.links {
        Probe::Found(list) => {
            let cni: Vec<String> = list
                .iter()
                .filter(|l| CNI_LINKS.contains(&l.name.as_str()))
                .map(|l| {
                    let addrs: Vec<String> = l.addresses.iter().map(|a| a.to_string()).collect();
                    format!(
                        "{} {}{}{}",
                        l.name,
                        l.operstate.as_deref().unwrap_or("?"),
                        if addrs.is_empty() { "" } else { " " },
                        addrs.join(",")
                    )
                })
                .collect();
            if cni.is_empty() {
                "none".to_string()
            } else {
                cni.join("; ")
            }
        }
        Probe::Missing => "unknown".to_string(),
        Probe::Error(e) => format!("unreadable: {e}"),
    };
    out.push(("CNI links".to_string(), links));
    out
}

/// Builds the pane's content from the snapshot and its findings.
pub fn summarize(s: &Snapshot, findings: &[Finding]) -> NetworkSummary {
    summarize_with(s, &s.pods.to_vec(), findings)
}

/// [`summarize`], the CNI agents looked for among `daemon_pods` (at least every pod a
/// DaemonSet owns).
pub(crate) fn summarize_with(
    s: &Snapshot,
    daemon_pods: &[Arc<crate::model::pod::Pod>],
    findings: &[Finding],
) -> NetworkSummary {
    let cfg = config::read_with(s, daemon_pods);
    let hour_ago = s.now - jiff::SignedDuration::from_secs(3600);
    // Sandbox failures per node: the kubelet's events name it as their source; only
    // events that do not are looked up through their pod (a map of every pod is
    // costly with 150,000 of them, and rarely needed).
    let recent: Vec<&Event> = s
        .events
        .iter()
        .map(|e| e.as_ref())
        .filter(|e| is_sandbox_event(e) && event_last_seen(e).is_some_and(|t| t >= hour_ago))
        .collect();
    let source_host = |e: &Event| {
        e.source
            .as_ref()
            .and_then(|src| src.host.clone())
            .or_else(|| e.reporting_instance.clone())
            .filter(|h| !h.is_empty())
    };
    let pod_nodes: HashMap<(&str, &str), &str> = if recent.iter().all(|e| source_host(e).is_some())
    {
        HashMap::new()
    } else {
        s.pods
            .iter()
            .filter_map(|p| Some((pod_key(p), pod_node(p)?)))
            .collect()
    };
    let mut failures: HashMap<String, i64> = HashMap::new();
    for e in recent {
        let o = &e.involved_object;
        let node = source_host(e).or_else(|| {
            pod_nodes
                .get(&(
                    o.namespace.as_deref().unwrap_or_default(),
                    o.name.as_deref().unwrap_or_default(),
                ))
                .map(|n| n.to_string())
        });
        if let Some(node) = node {
            *failures.entry(node).or_default() += i64::from(event_count(e));
        }
    }
    let mut by_node: HashMap<&str, Vec<&Finding>> = HashMap::new();
    for f in findings.iter().filter(|f| is_network_finding(f)) {
        if let Some(n) = f.node.as_deref() {
            by_node.entry(n).or_default().push(f);
        }
    }
    let pool_backend = cfg
        .pools
        .iter()
        .find(|p| !p.disabled)
        .map(|p| p.encapsulation.clone());
    let nodes = s
        .nodes
        .iter()
        .map(|n| {
            let name = n.metadata.name.clone().unwrap_or_default();
            let annotations = n.metadata.annotations.as_ref();
            let ann = |k: &str| annotations.and_then(|a| a.get(k)).cloned();
            let agent = cfg.agents.get(name.as_str());
            let (backend, public_ip) = match cfg.kind() {
                CniKind::Flannel => (
                    ann("flannel.alpha.coreos.com/backend-type"),
                    ann("flannel.alpha.coreos.com/public-ip"),
                ),
                CniKind::Calico => (pool_backend.clone(), ann("projectcalico.org/IPv4Address")),
                CniKind::Unknown => (None, None),
            };
            let mut mine = by_node.get(name.as_str()).cloned().unwrap_or_default();
            mine.sort_by(|a, b| b.severity.cmp(&a.severity).then_with(|| a.id.cmp(b.id)));
            let ready = node_ready(n).is_some_and(|c| c.status == "True");
            let (verdict, severity) = match mine.as_slice() {
                [] if !ready => ("node NotReady".to_string(), Some(Severity::Critical)),
                [] => ("ok".to_string(), None),
                [one] => (verdict_label(one.id).to_string(), Some(one.severity)),
                [first, rest @ ..] => (
                    format!("{} (+{})", verdict_label(first.id), rest.len()),
                    Some(first.severity),
                ),
            };
            NodeNet {
                agent: agent
                    .and_then(|p| p.metadata.name.as_deref().map(String::from))
                    .unwrap_or_else(|| "-".to_string()),
                state: match agent {
                    Some(p) => pod_status(p),
                    None if cfg.kind() == CniKind::Unknown => "-".to_string(),
                    None => "missing".to_string(),
                },
                restarts: agent
                    .and_then(|p| p.status.as_ref())
                    .and_then(|st| st.container_statuses.as_ref())
                    .map(|cs| cs.iter().map(|c| c.restart_count).sum())
                    .unwrap_or(0),
                pod_cidr: node_pod_cidr(n).unwrap_or_else(|| "<none>".to_string()),
                backend: backend.unwrap_or_else(|| "-".to_string()),
                public_ip: public_ip.unwrap_or_else(|| "-".to_string()),
                sandbox_failures: failures.get(&name).copied().unwrap_or(0),
                verdict,
                severity,
                node: name,
            }
        })
        .collect();
    let (host_title, host) = match s.host.as_deref() {
        Some(r) => (
            match &r.node {
                Some(n) => format!("Host {n} (root {}, probed {})", r.root, r.probed_at),
                None => format!(
                    "Host (root {}): not a node of this cluster; pass --node to name it",
                    r.root
                ),
            },
            host_lines(r),
        ),
        None => (String::new(), Vec::new()),
    };
    let local = s.host.as_ref().and_then(|h| h.node.clone());
    let remote_hosts = s
        .remote_hosts
        .iter()
        .filter(|(n, _)| local.as_deref() != Some(n.as_str()))
        .map(|(n, r)| {
            (
                format!("Host {n} ({}, probed {})", r.root, r.probed_at),
                host_lines(r),
            )
        })
        .collect();
    NetworkSummary {
        remote_hosts,
        cni: cfg.kind(),
        facts: facts(&cfg),
        nodes,
        host_title,
        host,
        findings: findings
            .iter()
            .filter(|f| is_network_finding(f))
            .cloned()
            .collect(),
    }
}

/// The node table's rows, keyed by node so describe/yaml act on the Node.
pub(crate) fn table_model(summary: &NetworkSummary) -> TableModel {
    TableModel {
        columns: NodeNet::COLUMNS.to_vec(),
        rows: summary
            .nodes
            .iter()
            .map(|n| {
                let key = ObjKey {
                    kind: ObjKind::Node,
                    namespace: Default::default(),
                    name: n.node.as_str().into(),
                };
                let tone = match n.severity {
                    Some(Severity::Critical) => Tone::Error,
                    Some(Severity::Warning) => Tone::Warning,
                    Some(Severity::Info) => Tone::Normal,
                    None => Tone::Ok,
                };
                Arc::new(TableRow::new(n.cells(), key, tone, None))
            })
            .collect(),
    }
}
