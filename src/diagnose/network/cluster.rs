//! Cluster-wide consistency: kube-proxy's clusterCIDR, the add-on's ranges against
//! kubeadm's podSubnet and the nodes' podCIDRs, nodes without a podCIDR, the
//! NetworkUnavailable condition, flannel's public IPs and calico's block affinities.

use crate::model::objref::ObjRef;
use std::collections::{BTreeMap, HashMap};

use crate::model::pod::Pod;
use k8s_openapi::api::core::v1::Node;

use super::agents::Agents;
use super::config::{CniKind, NetConfig};
use super::node_pod_cidr;
use super::signature::Signature;
use crate::diagnose::index::{Index, at, pod_node, pod_phase};
use crate::diagnose::{Finding, Listed, Severity, cap_listed};
use crate::model::cidr::{Cidr, parse_list};
use crate::model::rows::created;
use crate::model::snapshot::Snapshot;

const PUBLIC_IP: &str = "flannel.alpha.coreos.com/public-ip";
const PUBLIC_IP_OVERWRITE: &str = "flannel.alpha.coreos.com/public-ip-overwrite";

pub fn check<'a>(
    s: &'a Snapshot,
    ix: &Index<'a>,
    cfg: &NetConfig<'a>,
    agents: &Agents,
    out: &mut Vec<Finding>,
) {
    kube_proxy(cfg, agents, out);
    mismatch(s, cfg, out);
    no_pod_cidr(s, ix, cfg, agents, out);
    network_unavailable(s, ix, agents, out);
    public_ip(s, cfg, out);
    block_affinity(s, ix, cfg, agents, out);
}

fn join(cidrs: &[Cidr]) -> String {
    cidrs
        .iter()
        .map(Cidr::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Where the expected pod network comes from, as an evidence line.
fn expected_line(cfg: &NetConfig) -> Option<String> {
    if let Some(ps) = &cfg.pod_subnet
        && let Ok(list) = &ps.value
    {
        return Some(format!("{}: {}", ps.source, join(list)));
    }
    let ranges = cfg.cni_ranges();
    if ranges.is_empty() {
        return None;
    }
    Some(match cfg.kind() {
        CniKind::Flannel => format!(
            "kube-flannel-cfg net-conf.json Network: {} (kubeadm podSubnet not set)",
            join(&ranges)
        ),
        _ => format!(
            "calico IPPools: {} (kubeadm podSubnet not set)",
            join(&ranges)
        ),
    })
}

/// `net.kube-proxy-cluster-cidr`.
fn kube_proxy(cfg: &NetConfig, agents: &Agents, out: &mut Vec<Finding>) {
    let Some(cc) = &cfg.cluster_cidr else {
        return;
    };
    let expected = cfg.expected_network();
    let Some(expected_line) = expected_line(cfg) else {
        return;
    };
    let value = cc.value.trim();
    let problem = if value.is_empty() {
        "runs without a clusterCIDR".to_string()
    } else {
        match parse_list(value) {
            Err(e) => format!("has a clusterCIDR that does not parse ({e})"),
            Ok(list) => {
                let covered = expected
                    .iter()
                    .all(|e| list.iter().any(|c| c.contains_cidr(e)));
                if covered {
                    return;
                }
                format!("has clusterCIDR {value}, which does not cover the pod network")
            }
        }
    };
    let want = join(&expected);
    let mut evidence = vec![format!("{}: {:?}", cc.source, cc.value), expected_line];
    let mut unreachable = 0;
    let mut reasons: Vec<(&str, &str, &Signature)> = agents
        .crash_reasons()
        .filter(|(_, _, sig)| matches!(sig, Signature::ApiUnreachable { .. }))
        .collect();
    reasons.sort_by_key(|(node, _, _)| *node);
    for (node, pod, sig) in reasons {
        unreachable += 1;
        evidence.push(format!("Pod {pod} on {node}: {}", sig.describe()));
    }
    let mut explanation = format!(
        "kube-proxy {problem} although the pod network is {want}. kube-proxy uses it to tell pod traffic from other traffic to Service IPs; without it, traffic from nodes and host-network pods to the kubernetes Service (flannel and calico reach the API server that way) is not masqueraded as the pod network needs, and can time out. A typical symptom is flannel crash-looping with \"dial tcp 10.96.0.1:443: i/o timeout\", fixed by giving kube-proxy --cluster-cidr. kubeadm sets clusterCIDR from podSubnet; it is empty when the cluster was initialised without --pod-network-cidr or the setting was edited."
    );
    if unreachable > 0 {
        explanation.push_str(&format!(
            " {unreachable} network agent{} cannot reach the API service now (net.cni-crashloop).",
            if unreachable == 1 { "" } else { "s" }
        ));
    }
    let (subject, fix) = if cc.source.starts_with("DaemonSet") {
        (
            ObjRef::namespaced("DaemonSet", "kube-system", "kube-proxy"),
            format!(
                "Set --cluster-cidr={want} in the kube-proxy DaemonSet's command (`kubectl -n kube-system edit daemonset kube-proxy`); its pods restart by themselves. Then delete crash-looping network agents so they retry at once."
            ),
        )
    } else {
        (
            ObjRef::namespaced("ConfigMap", "kube-system", "kube-proxy"),
            format!(
                "Set `clusterCIDR: {want}` in the kube-proxy ConfigMap (`kubectl -n kube-system edit configmap kube-proxy`, key config.conf), then `kubectl -n kube-system rollout restart daemonset kube-proxy`, and delete crash-looping network agents so they retry at once. In kcops, `:set-cluster-cidr` shows this patch, then applies it and restarts kube-proxy node by node."
            ),
        )
    };
    out.push(Finding {
        id: "net.kube-proxy-cluster-cidr",
        severity: if unreachable > 0 {
            Severity::Critical
        } else {
            Severity::Warning
        },
        object: subject.to_string(),
        subject: Some(subject),
        namespace: Some("kube-system".to_string()),
        node: None,
        evidence,
        explanation,
        fix,
    });
}

fn same_family(a: &Cidr, b: &Cidr) -> bool {
    a.network().is_ipv4() == b.network().is_ipv4()
}

/// Node podCIDRs outside `ranges`, added to `lines`.
fn nodes_outside(s: &Snapshot, ranges: &[Cidr], what: &str, lines: &mut Listed) {
    for n in &s.nodes {
        let Some(text) = node_pod_cidr(n) else {
            continue;
        };
        let Ok(c) = text.parse::<Cidr>() else {
            continue;
        };
        let mut family = ranges.iter().filter(|r| same_family(r, &c)).peekable();
        if family.peek().is_none() || family.any(|r| r.contains_cidr(&c)) {
            continue;
        }
        let name = n.metadata.name.as_deref().unwrap_or_default();
        lines.push_with(|| format!("Node {name} podCIDR {c} is outside {what}"));
    }
}

/// `net.pod-cidr-mismatch`.
fn mismatch(s: &Snapshot, cfg: &NetConfig, out: &mut Vec<Finding>) {
    let subnets = cfg.pod_subnets();
    let subnet_source = cfg.pod_subnet.as_ref().map(|p| p.source.clone());
    match cfg.kind() {
        CniKind::Flannel => {
            let Some(Ok(net)) = cfg.flannel_network.as_ref() else {
                return;
            };
            let mut lines = Listed::default();
            for sub in subnets.iter().filter(|c| same_family(c, net)) {
                if !net.contains_cidr(sub) {
                    lines.push_with(|| {
                        format!("kubeadm podSubnet {sub} is not inside flannel's Network {net}")
                    });
                }
            }
            nodes_outside(
                s,
                std::slice::from_ref(net),
                "flannel's Network",
                &mut lines,
            );
            if lines.is_empty() {
                return;
            }
            let cm = cfg
                .flannel_cfg
                .map(|c| {
                    format!(
                        "{}/{}",
                        c.metadata.namespace.as_deref().unwrap_or_default(),
                        c.metadata.name.as_deref().unwrap_or_default()
                    )
                })
                .unwrap_or_else(|| "kube-flannel/kube-flannel-cfg".to_string());
            let mut evidence = vec![format!("ConfigMap {cm} net-conf.json Network: {net}")];
            if let Some(src) = &subnet_source {
                evidence.push(format!("{src}: {}", join(&subnets)));
            }
            evidence.extend(lines.finish("nodes"));
            let want = if subnets.is_empty() {
                "the nodes' podCIDRs".to_string()
            } else {
                join(&subnets)
            };
            let ns = cm.split('/').next().unwrap_or("kube-flannel").to_string();
            out.push(Finding {
                id: "net.pod-cidr-mismatch",
                severity: Severity::Critical,
                subject: Some(ObjRef::at("ConfigMap", &cm)),
                object: format!("ConfigMap {cm}"),
                namespace: Some(ns.clone()),
                node: None,
                evidence,
                explanation: format!(
                    "flannel's Network {net} does not match the cluster's pod subnet: flannel takes each node's subnet from its podCIDR (assigned from kubeadm's podSubnet) and refuses podCIDRs outside its Network, so flanneld on those nodes gets no lease and their pods no network; kube-proxy's clusterCIDR follows podSubnet, not flannel."
                ),
                fix: format!(
                    "Set \"Network\" in {cm} (net-conf.json) to {want}, then `kubectl -n {ns} rollout restart daemonset kube-flannel-ds`. Changing podSubnet of a running kubeadm cluster is not supported; change flannel instead."
                ),
            });
        }
        CniKind::Calico => {
            if subnets.is_empty() {
                return;
            }
            for p in cfg.pools.iter().filter(|p| !p.disabled) {
                let Some(cidr) = p.cidr else {
                    continue;
                };
                let family: Vec<&Cidr> = subnets.iter().filter(|c| same_family(c, &cidr)).collect();
                if family.is_empty() || family.iter().any(|sub| sub.contains_cidr(&cidr)) {
                    continue;
                }
                let want = join(&subnets);
                let mut evidence = vec![format!("IPPool {} spec.cidr: {}", p.name, p.cidr_text)];
                if let Some(src) = &subnet_source {
                    evidence.push(format!("{src}: {want}"));
                }
                out.push(Finding {
                    id: "net.pod-cidr-mismatch",
                    severity: Severity::Critical,
                    subject: Some(ObjRef::cluster("IPPool", p.name.clone())),
                    object: format!("IPPool {}", p.name),
                    namespace: None,
                    node: None,
                    evidence,
                    explanation: format!(
                        "calico's IPPool {} hands out {cidr}, outside the cluster's pod subnet {want}. kube-proxy's clusterCIDR and the nodes' podCIDRs follow kubeadm's podSubnet, so traffic from these pod addresses is treated as coming from outside the cluster, and {cidr} may collide with the hosts' own networks (192.168.0.0/16 is calico's default and a common LAN range).",
                        p.name
                    ),
                    fix: format!(
                        "Make them agree: create an IPPool inside {want} and disable this one (`calicoctl patch ippool {} -p '{{\"spec\":{{\"disabled\":true}}}}'`), then recreate the pods that hold its addresses; for a new install set CALICO_IPV4POOL_CIDR={want}. Changing podSubnet of a running kubeadm cluster is not supported.",
                        p.name
                    ),
                });
            }
        }
        CniKind::Unknown => {
            if subnets.is_empty() {
                return;
            }
            let mut lines = Listed::default();
            nodes_outside(s, &subnets, "kubeadm's podSubnet", &mut lines);
            if lines.is_empty() {
                return;
            }
            let mut evidence = Vec::new();
            if let Some(src) = &subnet_source {
                evidence.push(format!("{src}: {}", join(&subnets)));
            }
            evidence.extend(lines.finish("nodes"));
            out.push(Finding {
                id: "net.pod-cidr-mismatch",
                severity: Severity::Critical,
                subject: Some(ObjRef::namespaced("ConfigMap", "kube-system", "kubeadm-config")),
                object: "ConfigMap kube-system/kubeadm-config".to_string(),
                namespace: Some("kube-system".to_string()),
                node: None,
                evidence,
                explanation: format!(
                    "Some nodes have podCIDRs outside kubeadm's podSubnet {}: the controller-manager's --cluster-cidr differs from podSubnet, or the podCIDRs were set by hand. Pod networks that route by podCIDR cannot reach those nodes' pods.",
                    join(&subnets)
                ),
                fix: "Compare --cluster-cidr in /etc/kubernetes/manifests/kube-controller-manager.yaml with podSubnet in the kubeadm-config ConfigMap; a node's podCIDR can only be changed by deleting and re-joining the node.".to_string(),
            });
        }
    }
}

/// `net.node-no-pod-cidr` (flannel only: calico has its own IPAM).
fn no_pod_cidr(s: &Snapshot, ix: &Index, cfg: &NetConfig, agents: &Agents, out: &mut Vec<Finding>) {
    if cfg.kind() != CniKind::Flannel {
        return;
    }
    for n in &s.nodes {
        let name = n.metadata.name.as_deref().unwrap_or_default();
        // A NotReady node's own finding comes first; its podCIDR can wait.
        if node_pod_cidr(n).is_some() || ix.node_not_ready(name) {
            continue;
        }
        if created(&n.metadata).is_some_and(|t| ix.since(t) < ix.limits.workload_unavailable) {
            continue;
        }
        let mut evidence = vec![format!("Node {name}: spec.podCIDR is empty")];
        let subnets = cfg.pod_subnets();
        if subnets.is_empty() {
            evidence.push(if cfg.kubeadm {
                "ConfigMap kube-system/kubeadm-config: networking.podSubnet is not set".to_string()
            } else {
                "no kubeadm podSubnet found".to_string()
            });
        } else if let Some(src) = cfg.pod_subnet.as_ref().map(|p| &p.source) {
            evidence.push(format!("{src}: {}", join(&subnets)));
        }
        if let Some(sig @ Signature::PodCidrNotAssigned { .. }) = agents.crash_reason(name) {
            evidence.push(format!("flannel on {name}: {}", sig.describe()));
        }
        let fix = if subnets.is_empty() {
            format!(
                "The cluster has no pod subnet (kubeadm init ran without --pod-network-cidr), so the controller-manager assigns no podCIDRs. Add `--allocate-node-cidrs=true` and `--cluster-cidr=10.244.0.0/16` (flannel's Network) to /etc/kubernetes/manifests/kube-controller-manager.yaml and set networking.podSubnet in the kubeadm-config ConfigMap, or give {name} one by hand: `kubectl patch node {name} -p '{{\"spec\":{{\"podCIDR\":\"<free /24>\",\"podCIDRs\":[\"<free /24>\"]}}}}'`."
            )
        } else {
            format!(
                "The controller-manager assigns podCIDRs from {}: read its log (`kubectl -n kube-system logs <kube-controller-manager pod> | grep -i cidr`); the range may be used up (a /16 with a /24 per node holds 256 nodes).",
                join(&subnets)
            )
        };
        out.push(super::node_finding(
            "net.node-no-pod-cidr",
            Severity::Critical,
            name,
            evidence,
            format!(
                "Node {name} has no podCIDR. flannel (kube subnet manager) takes each node's subnet from its podCIDR, so flanneld on {name} cannot get a lease (\"pod cidr not assigned\") and pods there get no network."
            ),
            fix,
        ));
    }
}

fn condition<'n>(
    n: &'n Node,
    type_: &str,
) -> Option<&'n k8s_openapi::api::core::v1::NodeCondition> {
    n.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

/// `net.network-unavailable`.
fn network_unavailable(s: &Snapshot, ix: &Index, agents: &Agents, out: &mut Vec<Finding>) {
    for n in &s.nodes {
        let name = n.metadata.name.as_deref().unwrap_or_default();
        if ix.node_not_ready(name) || agents.reported(name) {
            continue;
        }
        let Some(c) = condition(n, "NetworkUnavailable").filter(|c| c.status == "True") else {
            continue;
        };
        out.push(super::node_finding(
            "net.network-unavailable",
            Severity::Critical,
            name,
            vec![format!(
                "NetworkUnavailable=True since {} ({}): {}",
                at(c.last_transition_time.as_ref()),
                c.reason.as_deref().unwrap_or_default(),
                c.message.as_deref().unwrap_or_default()
            )],
            format!(
                "Node {name} reports its pod network as not set up (NetworkUnavailable), and the node.kubernetes.io/network-unavailable taint keeps new pods off it. flannel and calico set the condition to False (FlannelIsUp, CalicoIsUp) once their agent runs on the node."
            ),
            format!(
                "Check the network agent pod on {name} (`kubectl get pods -A -o wide | grep {name}`) and its log; a condition left by a removed cloud route controller has to be cleared by whatever set it."
            ),
        ));
    }
}

/// `net.flannel-public-ip`: the address flannel tunnels to for each node.
fn public_ip(s: &Snapshot, cfg: &NetConfig, out: &mut Vec<Finding>) {
    if cfg.kind() != CniKind::Flannel {
        return;
    }
    let mut by_ip: BTreeMap<&str, Vec<&Node>> = BTreeMap::new();
    for n in &s.nodes {
        if let Some(ip) = n
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(PUBLIC_IP))
            .filter(|ip| !ip.is_empty())
        {
            by_ip.entry(ip.as_str()).or_default().push(n.as_ref());
        }
    }
    let ds = cfg.daemonset_name();
    for (ip, nodes) in &by_ip {
        if nodes.len() < 2 {
            continue;
        }
        let names: Vec<&str> = nodes
            .iter()
            .map(|n| n.metadata.name.as_deref().unwrap_or_default())
            .collect();
        // Several nodes are no one object: only the DaemonSet is a subject.
        let subject = ds.as_deref().map(|d| ObjRef::at("DaemonSet", d));
        let object = match &subject {
            Some(s) => s.to_string(),
            None => format!("Node {}", names.join(", ")),
        };
        out.push(Finding {
            id: "net.flannel-public-ip",
            severity: Severity::Warning,
            subject,
            object,
            namespace: ds.as_ref().and_then(|d| d.split('/').next().map(str::to_string)),
            node: None,
            evidence: cap_listed(
                names
                    .iter()
                    .map(|n| format!("Node {n}: {PUBLIC_IP}={ip}"))
                    .collect(),
                "nodes",
            ),
            explanation: format!(
                "{} nodes announce the same flannel public IP {ip}: flannel picked an interface (or a NAT address) that is not each node's own, so every node sends the other nodes' vxlan traffic to {ip} and cross-node pod traffic fails.",
                names.len()
            ),
            fix: "Tell flannel which interface carries node traffic: add `--iface=<interface>` (or `--iface-regex`) to the kube-flannel container's args in its DaemonSet, then restart its pods; `kubectl get nodes -o wide` shows the InternalIP each node should use.".to_string(),
        });
    }
    for (ip, nodes) in &by_ip {
        let [n] = nodes.as_slice() else {
            continue;
        };
        let name = n.metadata.name.as_deref().unwrap_or_default();
        let overwrite = n
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(PUBLIC_IP_OVERWRITE));
        let addresses: Vec<&str> = n
            .status
            .as_ref()
            .and_then(|st| st.addresses.as_deref())
            .unwrap_or_default()
            .iter()
            .map(|a| a.address.as_str())
            .collect();
        if overwrite || addresses.is_empty() || addresses.contains(ip) {
            continue;
        }
        out.push(super::node_finding(
            "net.flannel-public-ip",
            Severity::Warning,
            name,
            vec![
                format!("Node {name}: {PUBLIC_IP}={ip}"),
                format!("Node {name} addresses: {}", addresses.join(", ")),
            ],
            format!(
                "flannel on {name} announces {ip}, which is none of the node's addresses: it picked another interface (the default route's, often a public one), so the other nodes send {name}'s vxlan traffic there and cross-node pod traffic can fail."
            ),
            "Add `--iface=<interface of the node's InternalIP>` to the kube-flannel container's args, or set the flannel.alpha.coreos.com/public-ip-overwrite annotation if that address is intended.".to_string(),
        ));
    }
}

/// `net.calico-no-block-affinity`.
fn block_affinity(
    s: &Snapshot,
    ix: &Index,
    cfg: &NetConfig,
    agents: &Agents,
    out: &mut Vec<Finding>,
) {
    // Without IPPools we cannot tell an empty BlockAffinity list from an absent one.
    if cfg.kind() != CniKind::Calico || s.ip_pools.is_empty() {
        return;
    }
    let mut pod_net: HashMap<&str, Vec<&Pod>> = HashMap::new();
    for p in &s.pods {
        let host_network = p
            .spec
            .as_ref()
            .and_then(|sp| sp.host_network)
            .unwrap_or(false);
        let ip = p.status.as_ref().and_then(|st| st.pod_ip.as_deref());
        if host_network || ip.is_none() || pod_phase(p) != "Running" {
            continue;
        }
        let started = p
            .status
            .as_ref()
            .and_then(|st| st.start_time())
            .map(|t| t.0);
        if started.is_none_or(|t| ix.since(t) < ix.limits.workload_unavailable) {
            continue;
        }
        if let Some(node) = pod_node(p) {
            pod_net.entry(node).or_default().push(p.as_ref());
        }
    }
    let held: Vec<String> = cfg
        .affinities
        .iter()
        .map(|a| format!("{} {}", a.node, a.cidr))
        .collect();
    for n in &s.nodes {
        let name = n.metadata.name.as_deref().unwrap_or_default();
        if ix.node_not_ready(name) || agents.reported(name) {
            continue;
        }
        let Some(pods) = pod_net.get(name) else {
            continue;
        };
        if cfg
            .affinities
            .iter()
            .any(|a| a.node == name && a.state != "pendingDeletion")
        {
            continue;
        }
        let mut evidence = vec![format!(
            "no BlockAffinity names {name} (held: {})",
            if held.is_empty() {
                "none".to_string()
            } else {
                held.join(", ")
            }
        )];
        evidence.extend(cap_listed(
            pods.iter()
                .map(|p| {
                    format!(
                        "Pod {}/{} on {name} has IP {}",
                        p.metadata.namespace.as_deref().unwrap_or_default(),
                        p.metadata.name.as_deref().unwrap_or_default(),
                        p.status
                            .as_ref()
                            .and_then(|st| st.pod_ip.as_deref())
                            .unwrap_or_default()
                    )
                })
                .collect(),
            "pods",
        ));
        out.push(super::node_finding(
            "net.calico-no-block-affinity",
            Severity::Warning,
            name,
            evidence,
            format!(
                "calico has not given {name} an IPAM block of its own, yet pods run there on the pod network: their addresses were borrowed from other nodes' blocks (or assigned before calico ran), so the routes other nodes learn point elsewhere and cross-node traffic to these pods fails."
            ),
            format!(
                "`calicoctl ipam check` and `calicoctl ipam show --show-blocks` show the blocks and who holds them; check calico-node on {name} (`kubectl -n {} logs <calico-node pod on {name}> -c calico-node`). Once it runs and is Ready again, recreating the pods on {name} gives them addresses from a block of {name}'s own.",
                agents.namespace()
            ),
        ));
    }
}
