//! `:reset-node <node>`: take a machine out of the cluster. The plan cordons the node,
//! evicts its pods through the eviction API (disruption budgets honoured; DaemonSet
//! and mirror pods stay, as `kubectl drain --ignore-daemonsets` leaves them) and
//! deletes the Node; the last page lists the commands that reset the machine itself.
//! A control-plane node's stacked etcd member is named with the command that removes
//! it (the quorum-guarded member removal is not wired to kubeadm's static etcd yet).

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::Client;
use kube::api::{Api, ListParams};

use super::{Page, Wizard, WizardOption};
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
}

pub async fn gather(client: &Client, node: &str) -> Facts {
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
    }
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
    let mut after = Page::new(format!("Then, on {node} as root"));
    if control_plane {
        after.bad(format!(
            "{node} is a control-plane node: its stacked etcd member must leave the etcd cluster too (kubeadm reset does it when it can reach etcd; otherwise: etcdctl member remove <id of {node}>, only while the others keep a quorum)"
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
    fn a_control_plane_node_names_its_etcd_member() {
        let text = assess(&facts(true)).render().join("\n");
        assert!(text.contains("stacked etcd member"), "{text}");
        assert!(text.contains("rm -rf /var/lib/etcd"), "{text}");
    }
}
