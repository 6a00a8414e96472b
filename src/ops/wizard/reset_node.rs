//! `:reset-node <node>`: take a machine out of the cluster. The plan cordons the node,
//! evicts its pods through the eviction API (disruption budgets honoured; DaemonSet
//! and mirror pods stay, as `kubectl drain --ignore-daemonsets` leaves them) and
//! deletes the Node; the last page lists the commands that reset the machine itself.
//! A control-plane node's stacked etcd member leaves the etcd cluster in the same plan,
//! after the drain and before the Node goes: leadership handed away if it leads, then
//! the member removed, both under the quorum guard (checked here on the members the
//! console polled, and again by each step on the live list).

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::Client;
use kube::api::{Api, ListParams};

use super::{Page, Wizard, WizardOption};
use crate::model::members::EnsemblePoll;
use crate::ops::ensemble::{EnsembleRef, MemberChange, MemberOp, check_sequence, counted};
use crate::ops::op::{ObjectRef, Op};
use crate::ops::plan::{Confirmation, Plan, Step};

/// How long a refused eviction is retried before the step fails.
pub const EVICT_RETRY: Duration = Duration::from_secs(10);

/// A pod on the node, as the drain judges it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodePod {
    pub namespace: String,
    pub name: String,
    /// Owned by a DaemonSet or a mirror of a static pod: left in place.
    pub stays: Option<&'static str>,
}

#[derive(Debug, Clone)]
pub struct Facts {
    pub node: String,
    /// `Ok(None)`: no such node.
    pub found: Result<Option<bool>, String>,
    pub pods: Result<Vec<NodePod>, String>,
    /// Budgets as `ns/name: allowed disruptions` (for the page; the API decides).
    pub budgets: Vec<String>,
    /// kubeadm's stacked etcd as the console last polled it, and how to reach it
    /// (`None`: the console saw no stacked etcd).
    pub stacked: Option<(EnsembleRef, EnsemblePoll)>,
}

pub async fn gather(
    client: &Client,
    node: &str,
    stacked: Option<(EnsembleRef, EnsemblePoll)>,
) -> Facts {
    let t = Duration::from_secs(10);
    let nodes: Api<Node> = Api::all(client.clone());
    let found = match tokio::time::timeout(t, nodes.get_opt(node)).await {
        Ok(Ok(n)) => Ok(n.map(|n| {
            n.metadata
                .labels
                .unwrap_or_default()
                .contains_key("node-role.kubernetes.io/control-plane")
        })),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no answer from the API server".into()),
    };
    let pods: Api<Pod> = Api::all(client.clone());
    let lp = ListParams::default().fields(&format!("spec.nodeName={node}"));
    let pods = match tokio::time::timeout(t, pods.list(&lp)).await {
        Ok(Ok(list)) => Ok(list
            .items
            .into_iter()
            .map(|p| {
                let daemon = p
                    .metadata
                    .owner_references
                    .as_ref()
                    .is_some_and(|o| o.iter().any(|o| o.kind == "DaemonSet"));
                let mirror = p
                    .metadata
                    .annotations
                    .as_ref()
                    .is_some_and(|a| a.contains_key("kubernetes.io/config.mirror"));
                NodePod {
                    namespace: p.metadata.namespace.unwrap_or_default(),
                    name: p.metadata.name.unwrap_or_default(),
                    stays: if daemon {
                        Some("DaemonSet pod")
                    } else if mirror {
                        Some("static pod")
                    } else {
                        None
                    },
                }
            })
            .collect()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no answer from the API server".into()),
    };
    let pdbs: Api<PodDisruptionBudget> = Api::all(client.clone());
    let budgets = match tokio::time::timeout(t, pdbs.list(&ListParams::default())).await {
        Ok(Ok(list)) => list
            .items
            .iter()
            .map(|b| {
                format!(
                    "{}/{}",
                    b.metadata.namespace.clone().unwrap_or_default(),
                    b.metadata.name.clone().unwrap_or_default()
                )
            })
            .collect(),
        _ => Vec::new(),
    };
    Facts {
        node: node.to_string(),
        found,
        pods,
        budgets,
        stacked,
    }
}

/// The member steps that take `node`'s stacked etcd member out, checked against the
/// quorum guard on the polled members; `Ok(None)` when the node has no member.
fn etcd_member_steps(
    node: &str,
    stacked: Option<&(EnsembleRef, EnsemblePoll)>,
) -> Result<Option<Vec<MemberOp>>, String> {
    let Some((ensemble, poll)) = stacked else {
        return Ok(None);
    };
    if let Some(err) = &poll.error {
        return Err(format!(
            "cannot read the stacked etcd's member list ({err}): removing {node}'s member could leave the others without a quorum, and kcops cannot tell"
        ));
    }
    let Some(member) = poll.members.iter().find(|m| m.name == node) else {
        return Ok(None);
    };
    let changes = [
        MemberChange::MoveLeaderAway {
            name: node.to_string(),
            avoid: Vec::new(),
        },
        MemberChange::Remove {
            name: node.to_string(),
            id: member.id,
        },
    ];
    let counted = counted(&poll.members);
    check_sequence(&counted, &changes.iter().collect::<Vec<_>>())
        .map_err(|(_, why)| format!("removing {node}'s etcd member is refused: {why}"))?;
    Ok(Some(
        changes
            .into_iter()
            .map(|change| MemberOp {
                ensemble: ensemble.clone(),
                change,
            })
            .collect(),
    ))
}

/// The commands that reset the machine once it is out of the cluster.
pub fn reset_commands(control_plane: bool) -> Vec<String> {
    let mut out = vec![
        "kcops setup reset            # or, by hand:".to_string(),
        "kubeadm reset -f".to_string(),
        "rm -rf /etc/cni/net.d /var/lib/cni".to_string(),
        "ip link delete cni0; ip link delete flannel.1".to_string(),
    ];
    if control_plane {
        out.push("rm -rf /var/lib/etcd".to_string());
    }
    out
}

pub fn assess(f: &Facts) -> Wizard {
    let node = f.node.clone();
    let mut w = Wizard::new(format!("Reset node {node}"), ObjectRef::node(&node));
    let control_plane = match &f.found {
        Ok(Some(cp)) => *cp,
        Ok(None) => {
            w.block_as(
                format!("there is no node {node:?}"),
                vec!["kubectl get nodes".into()],
                None,
            );
            return w;
        }
        Err(e) => {
            w.block_as(format!("cannot read node {node}: {e}"), vec![], None);
            return w;
        }
    };
    let pods = match &f.pods {
        Ok(p) => p.clone(),
        Err(e) => {
            w.block_as(format!("cannot list the pods on {node}: {e}"), vec![], None);
            return w;
        }
    };
    let mut page = Page::new("Drain");
    let evict: Vec<NodePod> = pods.iter().filter(|p| p.stays.is_none()).cloned().collect();
    for p in &pods {
        match p.stays {
            Some(why) => page.plain(format!("{}/{} stays ({why})", p.namespace, p.name)),
            None => page.warn(format!("{}/{} is evicted", p.namespace, p.name)),
        }
    }
    if pods.is_empty() {
        page.ok(format!("no pods on {node}"));
    }
    if !f.budgets.is_empty() {
        page.plain(format!(
            "Disruption budgets the evictions must respect: {}",
            f.budgets.join(", ")
        ));
    }
    w.pages.push(page);
    let member_steps = if control_plane {
        match etcd_member_steps(&node, f.stacked.as_ref()) {
            Ok(steps) => steps,
            Err(why) => {
                w.block_as(
                    why,
                    vec![
                        "kubectl -n kube-system get pods -l component=etcd -o wide".into(),
                        format!(
                            "etcdctl member list   # on a control-plane node, with the certificates in /etc/kubernetes/pki/etcd"
                        ),
                    ],
                    None,
                );
                return w;
            }
        }
    } else {
        None
    };
    if let Some(steps) = &member_steps {
        let mut etcd = Page::new("Stacked etcd");
        etcd.warn(format!(
            "{node} runs a member of kubeadm's stacked etcd: it leaves the etcd cluster after the drain, before the node is deleted"
        ));
        if let Some((_, poll)) = &f.stacked {
            let healthy = poll
                .members
                .iter()
                .filter(|m| m.health.is_healthy())
                .count();
            etcd.plain(format!(
                "members now: {} ({healthy} healthy); after: {}",
                poll.members.len(),
                poll.members.len() - 1
            ));
        }
        for s in steps {
            etcd.plain(s.describe());
        }
        w.pages.push(etcd);
    }
    let mut after = Page::new(format!("Then, on {node} as root"));
    if control_plane && member_steps.is_none() {
        after.bad(format!(
            "{node} is a control-plane node and the console saw no stacked etcd member named {node}: if it has one, it must leave the etcd cluster too (kubeadm reset does it when it can reach etcd; otherwise: etcdctl member remove <id of {node}>, only while the others keep a quorum)"
        ));
    }
    for c in reset_commands(control_plane) {
        after.plain(c);
    }
    w.pages.push(after);
    w.set_plan(Arc::new(move |_: &[WizardOption]| {
        let mut plan = Plan::new(
            format!("Reset node {node}"),
            ObjectRef::node(&node),
            Confirmation::TypedName(node.clone()),
        )
        .step(Step::new(Op::Cordon { node: node.clone() }, false));
        for p in &evict {
            plan = plan.step(Step::new(
                Op::EvictPod {
                    namespace: p.namespace.clone(),
                    name: p.name.clone(),
                    retry_for: EVICT_RETRY,
                },
                true,
            ));
        }
        for m in member_steps.iter().flatten() {
            plan = plan.step(Step::new(Op::Member(m.clone()), true));
        }
        plan.step(Step::new(Op::DeleteNode { node: node.clone() }, true))
    }));
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(cp: bool) -> Facts {
        Facts {
            node: "node3".into(),
            found: Ok(Some(cp)),
            pods: Ok(vec![
                NodePod {
                    namespace: "web".into(),
                    name: "web-1".into(),
                    stays: None,
                },
                NodePod {
                    namespace: "kube-system".into(),
                    name: "kube-proxy-x".into(),
                    stays: Some("DaemonSet pod"),
                },
            ]),
            budgets: vec!["web/web".into()],
            stacked: None,
        }
    }

    #[test]
    fn the_drain_evicts_all_but_daemonset_and_static_pods_then_deletes_the_node() {
        let w = assess(&facts(false));
        let plan = w.plan().unwrap_or_else(|| panic!("{:#?}", w.render()));
        let kinds: Vec<&str> = plan.steps.iter().map(|s| s.op.action()).collect();
        assert_eq!(kinds, ["cordon", "evict-pod", "delete-node"]);
        assert_eq!(plan.confirmation, Confirmation::TypedName("node3".into()));
        let text = w.render().join("\n");
        assert!(text.contains("kubeadm reset -f"), "{text}");
        assert!(!text.contains("stacked etcd"), "{text}");
    }

    #[test]
    fn a_control_plane_node_without_a_polled_member_names_the_manual_removal() {
        let text = assess(&facts(true)).render().join("\n");
        assert!(
            text.contains("no stacked etcd member named node3"),
            "{text}"
        );
        assert!(text.contains("etcdctl member remove"), "{text}");
        assert!(text.contains("rm -rf /var/lib/etcd"), "{text}");
    }

    fn stacked(health: &[(&str, bool)]) -> (EnsembleRef, EnsemblePoll) {
        use crate::model::members::{EnsembleKind, Health, Owner, PolledMember};
        let members = health
            .iter()
            .enumerate()
            .map(|(i, (name, ok))| PolledMember {
                id: 0x100 + i as u64,
                name: name.to_string(),
                peer_urls: vec![],
                client_urls: vec![],
                learner: false,
                endpoint: None,
                status: None,
                health: if *ok {
                    Health::Healthy
                } else {
                    Health::Unreachable("connection refused".into())
                },
            })
            .collect();
        (
            EnsembleRef::kubeadm_etcd(2379, crate::members::Tls::Kubeadm, "/".into()),
            EnsemblePoll {
                kind: EnsembleKind::Etcd,
                owner: Owner::StaticPods {
                    namespace: "kube-system".into(),
                },
                polled_at: jiff::Timestamp::UNIX_EPOCH,
                members,
                error: None,
                answered_by: None,
            },
        )
    }

    #[test]
    fn a_control_plane_node_leaves_the_stacked_etcd_before_the_node_goes() {
        let mut f = facts(true);
        f.stacked = Some(stacked(&[
            ("node1", true),
            ("node2", true),
            ("node3", true),
        ]));
        let w = assess(&f);
        let plan = w.plan().unwrap_or_else(|| panic!("{:#?}", w.render()));
        let kinds: Vec<&str> = plan.steps.iter().map(|s| s.op.action()).collect();
        assert_eq!(
            kinds,
            [
                "cordon",
                "evict-pod",
                "move-leader",
                "member-remove",
                "delete-node"
            ]
        );
        let text = w.render().join("\n");
        assert!(
            text.contains("members now: 3 (3 healthy); after: 2"),
            "{text}"
        );
        assert!(
            text.contains("Remove member node3 (102) from the stacked etcd of kubeadm"),
            "{text}"
        );
    }

    #[test]
    fn removing_a_member_that_would_break_quorum_is_refused() {
        let mut f = facts(true);
        // Two of three healthy: without node3 one healthy of two voters is no quorum.
        f.stacked = Some(stacked(&[
            ("node1", true),
            ("node2", false),
            ("node3", true),
        ]));
        let w = assess(&f);
        assert!(w.plan().is_none());
        let text = w.render().join("\n");
        assert!(
            text.contains("removing node3's etcd member is refused"),
            "{text}"
        );
        assert!(text.contains("fewer than the quorum of 2"), "{text}");
    }

    #[test]
    fn an_unreadable_member_list_blocks() {
        let mut f = facts(true);
        let mut s = stacked(&[]);
        s.1.error = Some("127.0.0.1:2379: connection refused".into());
        f.stacked = Some(s);
        let w = assess(&f);
        assert!(w.plan().is_none());
        let text = w.render().join("\n");
        assert!(
            text.contains("cannot read the stacked etcd's member list"),
            "{text}"
        );
    }
}
