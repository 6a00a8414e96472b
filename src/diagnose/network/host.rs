//! Host checks of the node the console runs on, from the host report in the snapshot.
//! They only speak about a machine that is a node of the cluster: a laptop's
//! `ip_forward` says nothing about the cluster.
//!
//! Findings merge into the node's event findings of the same id (see
//! [`super::Drafts`]): the events say pods fail, the host says why, in one finding.

use crate::model::pod::Pod;

use super::agents::{AgentState, Agents};
use super::config::{CniKind, NetConfig};
use super::{Drafts, node_pod_cidr};
use crate::diagnose::cap_listed;
use crate::diagnose::index::{Index, pod_node};
use crate::diagnose::pods::is_cni_pod;
use crate::model::cidr::Cidr;
use crate::model::host::{CNI_LINKS, HostReport, Probe};
use crate::model::snapshot::Snapshot;

/// A sandbox id as evidence shows it: the first 12 characters, as crictl does.
fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

fn subnet_env(
    r: &HostReport,
    node: &str,
    pod_cidr: Option<Cidr>,
    cfg: &NetConfig,
) -> (Option<String>, Vec<String>) {
    match &r.subnet_env {
        Probe::Missing => (
            Some(format!(
                "host {node}: /run/flannel/subnet.env does not exist (host root {})",
                r.root
            )),
            Vec::new(),
        ),
        Probe::Error(_) => (None, Vec::new()),
        Probe::Found(env) => {
            let mut stale = Vec::new();
            if let (Some(sub), Some(pc)) = (env.subnet, pod_cidr)
                && sub != pc
            {
                stale.push(format!(
                    "host {node}: /run/flannel/subnet.env FLANNEL_SUBNET={} is not {node}'s podCIDR {pc}",
                    env.subnet_text.as_deref().unwrap_or_default()
                ));
            }
            if let (Some(net), Some(Ok(want))) = (env.network, cfg.flannel_network.as_ref())
                && net != *want
            {
                stale.push(format!(
                    "host {node}: /run/flannel/subnet.env FLANNEL_NETWORK={net}, but kube-flannel-cfg's Network is {want}"
                ));
            }
            (None, stale)
        }
    }
}

fn cni_config_lines(r: &HostReport, node: &str) -> Option<String> {
    if r.active_cni_config().is_some() {
        return None;
    }
    match &r.cni_configs {
        Probe::Missing => Some(format!("host {node}: /etc/cni/net.d does not exist")),
        Probe::Error(_) => None,
        Probe::Found(list) if list.is_empty() => {
            Some(format!("host {node}: /etc/cni/net.d is empty"))
        }
        Probe::Found(list) => Some(format!(
            "host {node}: /etc/cni/net.d has no usable config: {}",
            list.iter()
                .map(|c| format!(
                    "{} ({})",
                    c.file,
                    c.error.as_deref().unwrap_or("no plugins")
                ))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// Runs the host checks for the report's node, into `drafts`.
pub fn check<'a>(
    s: &'a Snapshot,
    r: &'a HostReport,
    ix: &Index<'a>,
    cfg: &NetConfig,
    agents: &Agents,
    drafts: &mut Drafts<'a>,
) {
    let Some(name) = r.node.as_deref() else {
        return;
    };
    let Some((&node, n)) = ix.nodes.get_key_value(name) else {
        return;
    };
    let pod_cidr: Option<Cidr> = node_pod_cidr(n).and_then(|c| c.parse().ok());
    let kind = cfg.kind();

    if kind == CniKind::Flannel {
        let (missing, stale) = subnet_env(r, node, pod_cidr, cfg);
        if let Some(line) = missing {
            drafts
                .get("net.subnet-env-missing", node)
                .other_lines
                .push(line);
        }
        if !stale.is_empty() {
            drafts
                .get("net.subnet-env-stale", node)
                .other_lines
                .extend(stale);
        }
    }

    if (kind != CniKind::Unknown || drafts.has("net.cni-config-missing", node))
        && let Some(line) = cni_config_lines(r, node)
    {
        drafts
            .get("net.cni-config-missing", node)
            .other_lines
            .push(line);
    }

    if let Probe::Found(networks) = &r.ipam {
        for net in networks {
            let used = net.reservations.len() as u128;
            let leaked = r.leaked(net);
            let leaks = leaked.as_ref().map_or(0, Vec::len);
            let exhausted = net.capacity.is_some_and(|c| c > 0 && used >= c);
            let from_events = drafts.has("net.ipam-exhausted", node);
            if !exhausted && !from_events && leaks == 0 {
                continue;
            }
            let mut lines = vec![match (net.capacity, &net.range) {
                (Some(c), Some(range)) => format!(
                    "host {node}: host-local network {}: {used} of {c} addresses reserved (range {range}{})",
                    net.name,
                    net.range_source
                        .as_deref()
                        .map(|s| format!(" from {s}"))
                        .unwrap_or_default()
                ),
                _ => format!(
                    "host {node}: host-local network {}: {used} addresses reserved (range unknown)",
                    net.name
                ),
            }];
            match (&leaked, r.sandboxes.found()) {
                (Some(l), Some(live)) if !l.is_empty() => {
                    lines.push(format!(
                        "host {node}: {} of them name sandboxes the runtime no longer has ({} live sandboxes from {})",
                        l.len(),
                        live.ids.len(),
                        live.source
                    ));
                    lines.extend(cap_listed(
                        l.iter()
                            .map(|res| {
                                format!(
                                    "leaked: /var/lib/cni/networks/{}/{} (sandbox {})",
                                    net.name,
                                    res.ip,
                                    short(&res.sandbox)
                                )
                            })
                            .collect(),
                        "leaked reservations",
                    ));
                }
                (Some(_), _) => {}
                (None, _) => lines.push(format!(
                    "host {node}: live sandboxes unknown ({}): leaked reservations cannot be told from live ones",
                    match &r.sandboxes {
                        Probe::Error(e) => e.as_str(),
                        _ => "no sandbox list",
                    }
                )),
            }
            let id = if exhausted || from_events {
                "net.ipam-exhausted"
            } else {
                "net.leaked-reservations"
            };
            drafts.get(id, node).other_lines.extend(lines);
        }
    }

    if r.ip_forward == Probe::Found(false) {
        drafts
            .get("net.ip-forward-off", node)
            .other_lines
            .push(format!("host {node}: /proc/sys/net/ipv4/ip_forward is 0"));
    }

    let Probe::Found(links) = &r.links else {
        return;
    };
    if kind == CniKind::Flannel
        && let (Some(cni0), Some(pc)) = (r.link("cni0"), pod_cidr)
    {
        let outside: Vec<String> = cni0
            .addresses
            .iter()
            .filter(|a| a.ip.is_ipv4() == pc.network().is_ipv4() && !pc.contains(a.ip))
            .map(|a| a.to_string())
            .collect();
        if !outside.is_empty() {
            drafts
                .get("net.cni0-conflict", node)
                .other_lines
                .push(format!(
                    "host {node}: cni0 has {}, outside {node}'s podCIDR {pc}",
                    outside.join(", ")
                ));
        }
    }
    // With an add-on the console does not know, its own pods on the node (canal,
    // cilium, ...) may own these links: only a node without any is judged.
    let agent_here = match kind {
        CniKind::Unknown => s
            .pods
            .iter()
            .any(|p: &std::sync::Arc<Pod>| pod_node(p) == Some(node) && is_cni_pod(p)),
        _ => !matches!(agents.state(node), AgentState::Missing),
    };
    let mut leftovers = Vec::new();
    for l in links
        .iter()
        .filter(|l| CNI_LINKS.contains(&l.name.as_str()))
    {
        // Loading the ipip module creates tunl0 by itself; only an addressed one is calico's.
        if l.name == "tunl0" && l.addresses.is_empty() {
            continue;
        }
        let foreign = match kind {
            CniKind::Flannel => matches!(l.name.as_str(), "tunl0" | "vxlan.calico"),
            CniKind::Calico => matches!(l.name.as_str(), "cni0" | "flannel.1" | "flannel0"),
            CniKind::Unknown => false,
        };
        if foreign || !agent_here {
            let addrs: Vec<String> = l.addresses.iter().map(|a| a.to_string()).collect();
            leftovers.push(format!(
                "host {node}: link {} ({}{}{})",
                l.name,
                l.operstate.as_deref().unwrap_or("state unknown"),
                if addrs.is_empty() { "" } else { ", " },
                addrs.join(", ")
            ));
        }
    }
    if !leftovers.is_empty() {
        let d = drafts.get("net.leftover-links", node);
        d.other_lines.extend(leftovers);
        if !agent_here {
            d.notes
                .push(format!("No pod network agent runs on {node}."));
        } else {
            d.notes.push(format!(
                "The cluster runs {}; these links belong to another add-on.",
                kind.name()
            ));
        }
    }
}
