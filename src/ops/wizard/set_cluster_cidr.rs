//! Give kube-proxy the clusterCIDR it lacks: `:set-cluster-cidr [cidr]` on the
//! Network pane (without it, flannel pods crash-loop on "dial tcp 10.96.0.1:443: i/o
//! timeout", unable to reach the API server Service, until kube-proxy gets
//! `--cluster-cidr`). [`gather`] reads kube-proxy's value and where it comes from, the
//! pod subnet and kube-proxy's pods from the console's snapshot; [`assess`] shows what
//! is wrong and the one-line change, and plans it: patch the ConfigMap, then restart
//! kube-proxy one node at a time.

use std::sync::Arc;
use std::time::Duration;

use super::error::WizardError;
use super::restart_cni::{AGENT_SETTLE, AgentPod};
use super::{Page, Wizard, WizardOption};
use crate::diagnose::network::config::{self, Sourced};
use crate::diagnose::network::node_pod_cidr;
use crate::model::cidr::{self, Cidr};
use crate::model::pod::Pod;
use crate::model::snapshot::Snapshot;
use crate::ops::op::{ObjectRef, Op, POD_NETWORK_TIMEOUT, WaitFor};
use crate::ops::plan::{Confirmation, Plan, Step};
use crate::ops::steps::net_wait::{AgentState, agent_state};

/// What the fix needs to know, from the snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// kube-proxy's clusterCIDR (`""` when empty) and where it is set; `None` when
    /// there is no kube-proxy ConfigMap or DaemonSet.
    pub current: Option<Sourced<String>>,
    /// kubeadm's podSubnet when it parses.
    pub pod_subnets: Vec<Cidr>,
    /// Where the pod subnet was read, when it was.
    pub pod_subnet_source: Option<String>,
    /// kubeadm's serviceSubnet when it parses (a cluster CIDR must not overlap it).
    pub service_subnets: Vec<Cidr>,
    /// Each node's podCIDR that parses (a cluster CIDR must hold them all).
    pub node_pod_cidrs: Vec<(String, Cidr)>,
    /// The `clusterCIDR:` line of the ConfigMap's config.conf, if it has one.
    pub config_line: Option<String>,
    /// kube-proxy's pods (not being deleted), in node order.
    pub proxies: Vec<AgentPod>,
    /// The network agents (`flannel`, `calico` and the pod) that crash-loop now, in
    /// node order: the plan ends by checking they recover.
    pub crashing_agents: Vec<(String, AgentPod)>,
}

/// Reads the facts from the console's snapshot (already live state).
pub fn gather(s: &Snapshot) -> Facts {
    let cfg = config::read(s);
    let config_line = s
        .configmaps
        .iter()
        .find(|c| {
            c.metadata.namespace.as_deref() == Some("kube-system")
                && c.metadata.name.as_deref() == Some("kube-proxy")
        })
        .and_then(|c| c.data.as_ref()?.get("config.conf"))
        .and_then(|text| text.lines().find(|l| l.starts_with("clusterCIDR:")))
        .map(str::to_string);
    let mut proxies: Vec<AgentPod> = s
        .pods
        .iter()
        .filter(|p| p.metadata.namespace.as_deref() == Some("kube-system"))
        .filter(|p| p.metadata.deletion_timestamp().is_none())
        .filter(|p| owned_by_daemonset(p, "kube-proxy"))
        .filter_map(|p| {
            Some(AgentPod {
                namespace: "kube-system".into(),
                name: p.metadata.name.as_deref()?.to_string(),
                daemonset: "kube-proxy".into(),
                node: p.spec.as_ref()?.node_name.as_deref()?.to_string(),
            })
        })
        .collect();
    proxies.sort_by(|a, b| a.node.cmp(&b.node));
    let kind = cfg.kind().name().to_string();
    let mut crashing_agents: Vec<(String, AgentPod)> = cfg
        .daemonset
        .and_then(|ds| ds.metadata.name.clone())
        .map(|daemonset| {
            cfg.agents
                .iter()
                .filter(|(_, p)| matches!(agent_state(p), AgentState::Crashed { .. }))
                .filter_map(|(node, p)| {
                    Some((
                        kind.clone(),
                        AgentPod {
                            namespace: p.metadata.namespace.as_deref()?.into(),
                            name: p.metadata.name.as_deref()?.to_string(),
                            daemonset: daemonset.clone(),
                            node: node.to_string(),
                        },
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    crashing_agents.sort_by(|a, b| a.1.node.cmp(&b.1.node));
    let node_pod_cidrs = s
        .nodes
        .iter()
        .filter_map(|n| {
            let cidr = node_pod_cidr(n)?.parse().ok()?;
            Some((n.metadata.name.clone()?, cidr))
        })
        .collect();
    Facts {
        current: cfg.cluster_cidr.clone(),
        pod_subnets: cfg.pod_subnets(),
        pod_subnet_source: cfg.pod_subnet.as_ref().map(|p| p.source.clone()),
        service_subnets: cfg
            .service_subnet
            .as_deref()
            .and_then(|t| cidr::parse_list(t).ok())
            .unwrap_or_default(),
        node_pod_cidrs,
        config_line,
        proxies,
        crashing_agents,
    }
}

/// The wizard setting clusterCIDR to `cidr` (default: kubeadm's podSubnet). Blocked
/// when kube-proxy takes `--cluster-cidr` from its DaemonSet (the ConfigMap would not
/// matter) or already has a value (changing a working value is not this fix).
pub fn assess(facts: &Facts, cidr: Option<&str>) -> Result<Wizard, WizardError> {
    let Some(current) = &facts.current else {
        return Err(WizardError::not_found_because(
            "kube-proxy ConfigMap or DaemonSet in kube-system",
            "nothing to change",
        ));
    };
    let want = match cidr {
        Some(typed) => {
            validate(facts, typed)?;
            typed.trim().to_string()
        }
        None if facts.pod_subnets.is_empty() => {
            return Err(WizardError::NeedsInput {
                what: "CIDR".into(),
                usage: ":set-cluster-cidr <cidr>".into(),
                why: "the pod subnet is unknown: no kubeadm-config podSubnet".into(),
            });
        }
        None => facts
            .pod_subnets
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(","),
    };
    let mut w = Wizard::new(
        format!("Set kube-proxy's clusterCIDR to {want}"),
        ObjectRef::new("ConfigMap", Some("kube-system"), "kube-proxy"),
    );
    let mut wrong = Page::new("What is wrong");
    if current.value.is_empty() {
        wrong.bad(format!(
            "kube-proxy runs without a clusterCIDR ({})",
            current.source
        ));
    } else {
        wrong.plain(format!(
            "kube-proxy's clusterCIDR is {:?} ({})",
            current.value, current.source
        ));
    }
    let pod_subnet = facts
        .pod_subnets
        .iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(",");
    match (&facts.pod_subnet_source, pod_subnet.is_empty()) {
        (Some(source), false) => {
            wrong.plain(format!("the cluster's pod subnet: {pod_subnet} ({source})"))
        }
        _ => wrong.plain("the cluster's pod subnet: unknown (no kubeadm-config podSubnet)"),
    }
    if cidr.is_some() {
        if pod_subnet.is_empty() || pod_subnet == want {
            wrong.plain(format!("the value typed: {want}"));
        } else {
            wrong.bad(format!(
                "the value typed: {want}, not the pod subnet {pod_subnet}"
            ));
        }
    }
    wrong.plain("Without it, traffic from nodes and host-network pods to Service IPs (flannel and calico reach the API server at 10.96.0.1:443 that way) is not masqueraded and can time out; that is how flannel ends in CrashLoopBackOff with \"dial tcp 10.96.0.1:443: i/o timeout\".");
    w.pages.push(wrong);
    if !current.source.starts_with("ConfigMap") {
        w.block(
            format!(
                "kube-proxy takes its clusterCIDR from {} ({:?}); the ConfigMap would not change it",
                current.source, current.value
            ),
            vec![format!(
                "kubectl -n kube-system edit daemonset kube-proxy   # set --cluster-cidr={want}"
            )],
        );
        return Ok(w);
    }
    if !current.value.is_empty() {
        w.block(
            format!(
                "kube-proxy already has clusterCIDR {:?}; this fix only sets a missing one",
                current.value
            ),
            vec!["kubectl -n kube-system edit configmap kube-proxy   # key config.conf".into()],
        );
        return Ok(w);
    }
    let mut patch = Page::new("The change");
    patch.plain("ConfigMap kube-system/kube-proxy, key config.conf:");
    match &facts.config_line {
        Some(l) => patch.bad(format!("- {l}")),
        None => patch.plain("(no clusterCIDR line: it is added)"),
    }
    patch.ok(format!("+ clusterCIDR: {want}"));
    patch.plain("No other line changes; the value is re-read before the patch and the patch carries the resourceVersion read.");
    patch.plain(match facts.proxies.len() {
        0 => "kube-proxy reads the file only when it starts; no kube-proxy pod runs now.".to_string(),
        1 => "kube-proxy reads the file only when it starts: its pod restarts and is waited for until Ready.".to_string(),
        n => format!(
            "kube-proxy reads the file only when it starts: its {n} pods restart one node at a time, each waited for until Ready."
        ),
    });
    for (kind, agent) in &facts.crashing_agents {
        patch.plain(format!(
            "{kind} on {} crash-loops now: its next start should reach the API server; the plan ends by checking it recovers and that {}'s pods waiting for a sandbox get one.",
            agent.node, agent.node
        ));
    }
    w.pages.push(patch);
    let value = current.value.clone();
    let pods = facts.proxies.clone();
    let agents = facts.crashing_agents.clone();
    w.set_plan(Arc::new(move |_: &[WizardOption]| -> Plan {
        set_kube_proxy_cluster_cidr("kube-system", &want, &value, &pods, &agents)
    }));
    Ok(w)
}

/// A typed cluster CIDR that kube-proxy could use: each part a network address (no
/// host bits) of the cluster's family (IPv4 when nothing says), outside the service
/// subnet, and together holding every node's podCIDR of its family.
fn validate(facts: &Facts, typed: &str) -> Result<(), WizardError> {
    let invalid = |why: String| WizardError::Invalid {
        input: typed.trim().to_string(),
        expected: "a cluster CIDR for this cluster".into(),
        why,
    };
    let known: Vec<&Cidr> = facts
        .pod_subnets
        .iter()
        .chain(&facts.service_subnets)
        .chain(facts.node_pod_cidrs.iter().map(|(_, c)| c))
        .collect();
    let v4 = |c: &Cidr| c.network().is_ipv4();
    let mut parts = Vec::new();
    for part in typed.split(',').map(str::trim) {
        let parsed: Cidr = part
            .parse()
            .map_err(|e: cidr::CidrError| WizardError::Invalid {
                input: part.to_string(),
                expected: "a CIDR".into(),
                why: e.to_string(),
            })?;
        let address = part.split_once('/').map(|(a, _)| a).unwrap_or(part);
        if address.parse::<std::net::IpAddr>().ok() != Some(parsed.network()) {
            return Err(invalid(format!(
                "{part} has host bits set; the network is {parsed}"
            )));
        }
        let family_known = if known.is_empty() {
            v4(&parsed)
        } else {
            known.iter().any(|k| v4(k) == v4(&parsed))
        };
        if !family_known {
            return Err(invalid(format!(
                "{part} is {}, and this cluster's subnets and podCIDRs are not",
                if v4(&parsed) { "IPv4" } else { "IPv6" }
            )));
        }
        if let Some(service) = facts.service_subnets.iter().find(|s| s.overlaps(&parsed)) {
            return Err(invalid(format!(
                "{part} overlaps the service subnet {service}"
            )));
        }
        parts.push(parsed);
    }
    for (node, pod_cidr) in &facts.node_pod_cidrs {
        let same_family: Vec<&Cidr> = parts.iter().filter(|p| v4(p) == v4(pod_cidr)).collect();
        if !same_family.is_empty() && !same_family.iter().any(|p| p.contains_cidr(pod_cidr)) {
            return Err(invalid(format!(
                "{node}'s podCIDR {pod_cidr} is outside it; kube-proxy would treat that node's pods as outside the cluster"
            )));
        }
    }
    Ok(())
}

/// Set kube-proxy's clusterCIDR, then restart its pods one node at a time (it reads
/// the file only at start), each waited for before the next; then check that each
/// crash-looping network agent of `agents` recovers on its own next start (a
/// flannel reaches the API once its node's kube-proxy routes the service VIP) and its
/// node's stuck pods get sandboxes. `current` is the value the operator saw (`""`
/// when empty or absent). Typed confirmation: `kube-proxy`.
pub(crate) fn set_kube_proxy_cluster_cidr(
    namespace: &str,
    cidr: &str,
    current: &str,
    pods: &[AgentPod],
    agents: &[(String, AgentPod)],
) -> Plan {
    let plan = Plan::new(
        format!("Set kube-proxy's clusterCIDR to {cidr}"),
        ObjectRef::new("ConfigMap", Some(namespace), "kube-proxy"),
        Confirmation::TypedName("kube-proxy".into()),
    )
    .step(Step::new(
        Op::SetKubeProxyClusterCidr {
            namespace: namespace.into(),
            configmap: "kube-proxy".into(),
            cidr: cidr.into(),
            expect_current: current.into(),
        },
        false,
    ));
    let plan = pods.iter().fold(plan, |plan, pod| pod.restart_steps(plan));
    agents.iter().fold(plan, |plan, (kind, agent)| {
        plan.then_wait(
            WaitFor::AgentSettled {
                agent: kind.clone(),
                namespace: agent.namespace.clone(),
                daemonset: agent.daemonset.clone(),
                node: agent.node.clone(),
                settle: AGENT_SETTLE,
                after_crashes: true,
            },
            AGENT_RECOVERY_TIMEOUT,
        )
        .then_wait(
            WaitFor::PodNetworkOnNode {
                node: agent.node.clone(),
            },
            POD_NETWORK_TIMEOUT,
        )
    })
}

/// How long a crash-looping agent gets to recover on its own once kube-proxy is
/// fixed: the kubelet's next restart of it may be up to 5m away on a real node (a
/// scenario's back-off cap makes it seconds in the lab); past this the failure says
/// `:restart-cni <node>` starts it at once.
pub(crate) const AGENT_RECOVERY_TIMEOUT: Duration = Duration::from_secs(90);

fn owned_by_daemonset(p: &Pod, name: &str) -> bool {
    p.metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.kind == "DaemonSet" && o.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxy(node: &str) -> AgentPod {
        AgentPod {
            namespace: "kube-system".into(),
            name: format!("kube-proxy-{node}"),
            daemonset: "kube-proxy".into(),
            node: node.into(),
        }
    }

    fn cidr(text: &str) -> Cidr {
        text.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    /// kubeadm's layout with an empty clusterCIDR, podSubnet 10.244.0.0/16, two nodes.
    fn facts() -> Facts {
        Facts {
            current: Some(Sourced {
                value: String::new(),
                source: "ConfigMap kube-system/kube-proxy config.conf clusterCIDR".into(),
            }),
            pod_subnets: vec!["10.244.0.0/16".parse().unwrap_or_else(|e| panic!("{e}"))],
            pod_subnet_source: Some("ConfigMap kube-system/kubeadm-config".into()),
            service_subnets: vec![cidr("10.96.0.0/12")],
            node_pod_cidrs: vec![
                ("node1".into(), cidr("10.244.1.0/24")),
                ("node2".into(), cidr("10.244.2.0/24")),
            ],
            config_line: Some("clusterCIDR: \"\"".into()),
            proxies: vec![proxy("node1"), proxy("node2")],
            crashing_agents: vec![(
                "flannel".into(),
                AgentPod {
                    namespace: "kube-flannel".into(),
                    name: "kube-flannel-ds-x".into(),
                    daemonset: "kube-flannel-ds".into(),
                    node: "node2".into(),
                },
            )],
        }
    }

    #[test]
    fn the_change_is_one_line_and_each_proxy_restarts_in_turn() {
        let w = assess(&facts(), None).unwrap_or_else(|e| panic!("no wizard: {e}"));
        assert_eq!(w.title, "Set kube-proxy's clusterCIDR to 10.244.0.0/16");
        let text = w.render();
        for want in [
            "✗ kube-proxy runs without a clusterCIDR (ConfigMap kube-system/kube-proxy config.conf clusterCIDR)",
            "✗ - clusterCIDR: \"\"",
            "✓ + clusterCIDR: 10.244.0.0/16",
        ] {
            assert!(text.contains(&want.to_string()), "{want}\n{text:#?}");
        }
        let plan = w.plan().unwrap_or_else(|| panic!("blocked"));
        assert_eq!(plan.steps.len(), 7);
        assert!(plan.validate().is_ok());
        assert!(plan.check_confirmation("yes").is_err());
        assert!(plan.check_confirmation("kube-proxy").is_ok());
        let preview = plan.render().join("\n");
        assert!(
            preview.contains("clusterCIDR empty -> \"10.244.0.0/16\""),
            "{preview}"
        );
        assert!(
            matches!(&plan.steps[1].op, Op::DeletePod { name, .. } if name == "kube-proxy-node1")
        );
        assert!(
            matches!(&plan.steps[3].op, Op::DeletePod { name, .. } if name == "kube-proxy-node2")
        );
        // Then the check that the symptom is gone: node2's agent recovers, its pods run.
        assert_eq!(
            plan.steps[5].description,
            "Wait up to 1m30s for the crash-looping flannel agent on node2 (DaemonSet kube-flannel/kube-flannel-ds) to start again, be Ready and stay Ready for 5s"
        );
        assert!(
            matches!(&plan.steps[6].op, Op::Wait { what: WaitFor::PodNetworkOnNode { node }, .. } if node == "node2")
        );
    }

    #[test]
    fn a_value_already_set_or_set_elsewhere_blocks() {
        let mut f = facts();
        if let Some(c) = f.current.as_mut() {
            c.value = "10.244.0.0/16".into();
        }
        let w = assess(&f, None).unwrap_or_else(|e| panic!("no wizard: {e}"));
        assert!(w.plan().is_none());
        assert!(w.blocker.as_ref().is_some_and(|b| {
            b.reason
                .contains("already has clusterCIDR \"10.244.0.0/16\"")
        }));
        let mut f = facts();
        f.current = Some(Sourced {
            value: String::new(),
            source: "DaemonSet kube-system/kube-proxy --cluster-cidr".into(),
        });
        let w = assess(&f, None).unwrap_or_else(|e| panic!("no wizard: {e}"));
        assert!(w.blocker.as_ref().is_some_and(|b| {
            b.fix[0].contains("edit daemonset kube-proxy   # set --cluster-cidr=10.244.0.0/16")
        }));
    }

    #[test]
    fn input_errors_are_typed() {
        assert!(matches!(
            assess(&facts(), Some("10.244.0.0/33")),
            Err(WizardError::Invalid { input, .. }) if input == "10.244.0.0/33"
        ));
        let mut f = facts();
        f.pod_subnets.clear();
        assert!(matches!(
            assess(&f, None),
            Err(WizardError::NeedsInput { .. })
        ));
        assert!(assess(&f, Some("10.244.0.0/16")).is_ok());
        f.current = None;
        assert!(matches!(
            assess(&f, None),
            Err(WizardError::NotFound { .. })
        ));
    }

    /// What an operator might type wrongly is refused with what is wrong, before any
    /// page or plan exists.
    #[test]
    fn a_typed_cidr_must_fit_the_cluster() {
        let why = |typed: &str| match assess(&facts(), Some(typed)) {
            Err(WizardError::Invalid { why, .. }) => why,
            other => panic!("{typed}: {other:?}"),
        };
        assert!(
            why("10.244.0.1/16").contains("host bits"),
            "{}",
            why("10.244.0.1/16")
        );
        assert!(why("fd00::/64").contains("IPv6"));
        assert!(why("10.96.0.0/16").contains("service subnet 10.96.0.0/12"));
        assert!(why("10.0.0.0/8").contains("service subnet"));
        assert!(why("10.244.2.0/24").contains("node1's podCIDR 10.244.1.0/24"));
        assert!(why("10.244.0.0/16,zz").contains("no /prefix"));
        // A wider range that holds every node is the operator's to choose, and the
        // pages say it is not the pod subnet.
        let w = assess(&facts(), Some("10.240.0.0/12")).unwrap_or_else(|e| panic!("{e}"));
        let text = w.render().join("\n");
        assert!(
            text.contains(
                "the cluster's pod subnet: 10.244.0.0/16 (ConfigMap kube-system/kubeadm-config)"
            ),
            "{text}"
        );
        assert!(
            text.contains("the value typed: 10.240.0.0/12, not the pod subnet 10.244.0.0/16"),
            "{text}"
        );
        assert!(w.plan().is_some());
        // Nothing known about the cluster: IPv4 only.
        let mut f = facts();
        f.pod_subnets.clear();
        f.service_subnets.clear();
        f.node_pod_cidrs.clear();
        assert!(assess(&f, Some("fd00::/64")).is_err());
        assert!(assess(&f, Some("10.244.0.0/16")).is_ok());
    }
}
