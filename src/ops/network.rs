//! The pod-network fixes of the Network pane: restart the CNI agent on a node, and
//! give kube-proxy the clusterCIDR it lacks (seed 000: flannel could not reach
//! 10.96.0.1:443 until kube-proxy got `--cluster-cidr`). Plan builders (pure) and the
//! executor's Kubernetes calls for the two operations they add.

use std::time::Duration;

use crate::model::pod::Pod;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::{Api, ListParams, Patch};
use serde_json::json;

use super::exec::{StepError, patch_params, read, write};
use super::op::{ObjectRef, Op, WaitFor};
use super::plan::{Confirmation, Plan, Step};

/// How long a restarted agent may take to be Ready again.
const AGENT_READY_TIMEOUT: Duration = Duration::from_secs(180);

/// A pod of a DaemonSet on one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentPod {
    pub namespace: String,
    pub name: String,
    pub daemonset: String,
    pub node: String,
}

/// Restart the network agent (flannel, calico-node) on one node: delete its pod, then
/// wait for the DaemonSet's new pod there to be Ready. The pod's name must be typed:
/// pod networking on that node pauses while the agent restarts.
pub fn restart_agent(pod: &AgentPod) -> Plan {
    Plan::new(
        format!("Restart the network agent on {}", pod.node),
        ObjectRef::pod(&pod.namespace, &pod.name),
        Confirmation::TypedName(pod.name.clone()),
    )
    .step(Step::new(
        Op::DeletePod {
            namespace: pod.namespace.clone(),
            name: pod.name.clone(),
            grace: None,
        },
        true,
    ))
    .then_wait(
        WaitFor::DaemonPodReady {
            namespace: pod.namespace.clone(),
            daemonset: pod.daemonset.clone(),
            node: pod.node.clone(),
        },
        AGENT_READY_TIMEOUT,
    )
}

/// Set kube-proxy's clusterCIDR, then restart its pods one node at a time (it reads
/// the file only at start), each waited for before the next. `current` is the value the
/// operator saw (`""` when empty or absent). Typed confirmation: `kube-proxy`.
pub fn set_kube_proxy_cluster_cidr(
    namespace: &str,
    cidr: &str,
    current: &str,
    pods: &[AgentPod],
) -> Plan {
    let mut plan = Plan::new(
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
    for pod in pods {
        plan = plan.step(Step::new(
            Op::DeletePod {
                namespace: pod.namespace.clone(),
                name: pod.name.clone(),
                grace: None,
            },
            true,
        ));
        plan = plan.then_wait(
            WaitFor::DaemonPodReady {
                namespace: pod.namespace.clone(),
                daemonset: pod.daemonset.clone(),
                node: pod.node.clone(),
            },
            AGENT_READY_TIMEOUT,
        );
    }
    plan
}

/// The value of the top-level `clusterCIDR` key of a KubeProxyConfiguration (`""` when
/// absent or empty); `Err` when the text is not YAML.
pub fn cluster_cidr_of(config: &str) -> Result<String, String> {
    let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(config)
        .map_err(|e| format!("config.conf is not valid YAML: {e}"))?;
    Ok(match v.get("clusterCIDR") {
        Some(serde_yaml_ng::Value::String(s)) => s.clone(),
        _ => String::new(),
    })
}

/// `config` with its top-level `clusterCIDR` set to `cidr`, every other line (comments
/// included) untouched: the line replaced when there is one, appended when not.
pub fn with_cluster_cidr(config: &str, cidr: &str) -> Result<String, String> {
    let line = format!("clusterCIDR: {cidr}");
    let mut found = false;
    let mut out: Vec<String> = config
        .lines()
        .map(|l| {
            if !found && l.starts_with("clusterCIDR:") {
                found = true;
                line.clone()
            } else {
                l.to_string()
            }
        })
        .collect();
    if !found {
        out.push(line);
    }
    let mut text = out.join("\n");
    if config.ends_with('\n') {
        text.push('\n');
    }
    // The edit must be what it claims: valid YAML with exactly the new value.
    match cluster_cidr_of(&text)? {
        v if v == cidr => Ok(text),
        v => Err(format!(
            "editing config.conf gave clusterCIDR {v:?}, not {cidr:?}; edit it by hand"
        )),
    }
}

/// Applies [`Op::SetKubeProxyClusterCidr`]: read, check the value is still the one the
/// plan was made for, patch `data.config.conf` with the read resourceVersion, read
/// back.
pub(super) async fn set_cluster_cidr(
    client: &Client,
    namespace: &str,
    configmap: &str,
    cidr: &str,
    expect_current: &str,
) -> Result<String, StepError> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let obj = format!("ConfigMap {namespace}/{configmap}");
    let cm = read(&format!("get {obj}"), api.get(configmap)).await?;
    let Some(config) = cm.data.as_ref().and_then(|d| d.get("config.conf")) else {
        return Err(StepError::Failed(format!(
            "{obj} has no key config.conf (not kubeadm's layout); nothing was changed"
        )));
    };
    let current = cluster_cidr_of(config).map_err(StepError::Failed)?;
    if current != expect_current {
        return Err(StepError::Failed(format!(
            "{obj} now has clusterCIDR {current:?}, not the {expect_current:?} this plan was made for; nothing was changed"
        )));
    }
    let text = with_cluster_cidr(config, cidr).map_err(StepError::Failed)?;
    let mut patch = json!({"data": {"config.conf": text}});
    if let Some(rv) = &cm.metadata.resource_version {
        patch["metadata"] = json!({"resourceVersion": rv});
    }
    write(
        &format!("patch {obj}"),
        api.patch(configmap, &patch_params(), &Patch::Merge(&patch)),
    )
    .await?;
    let after = read(&format!("re-check {obj}"), api.get(configmap)).await?;
    let now = after
        .data
        .as_ref()
        .and_then(|d| d.get("config.conf"))
        .map(|c| cluster_cidr_of(c))
        .transpose()
        .map_err(StepError::Failed)?
        .unwrap_or_default();
    if now == cidr {
        Ok(format!("{obj}: clusterCIDR is now {cidr}"))
    } else {
        Err(StepError::Failed(format!(
            "re-check: {obj} has clusterCIDR {now:?} after the patch, not {cidr:?}"
        )))
    }
}

/// The ready pod of `daemonset` on `node` that is not one of `deleted_uids`, if any.
pub(super) async fn daemon_pod_ready(
    client: &Client,
    namespace: &str,
    daemonset: &str,
    node: &str,
    deleted_uids: &[String],
) -> Result<Option<String>, StepError> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let params = ListParams::default().fields(&format!("spec.nodeName={node}"));
    let pods = read(
        &format!("list pods of {namespace}/{daemonset} on {node}"),
        api.list(&params),
    )
    .await?;
    Ok(pods
        .items
        .into_iter()
        .filter(|p| {
            p.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.kind == "DaemonSet" && o.name == daemonset)
        })
        .filter(|p| {
            p.metadata
                .uid
                .as_ref()
                .is_none_or(|u| !deleted_uids.contains(u))
        })
        .find(super::exec::pod_ready)
        .and_then(|p| p.metadata.name))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KUBEADM: &str = "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nbindAddress: 0.0.0.0\nclientConnection:\n  kubeconfig: /var/lib/kube-proxy/kubeconfig.conf\nclusterCIDR: \"\"\nconfigSyncPeriod: 0s\nmode: \"\"\n";

    #[test]
    fn only_the_cluster_cidr_line_changes() {
        assert_eq!(cluster_cidr_of(KUBEADM).as_deref(), Ok(""));
        let edited = with_cluster_cidr(KUBEADM, "10.244.0.0/16").unwrap();
        assert_eq!(cluster_cidr_of(&edited).as_deref(), Ok("10.244.0.0/16"));
        let before: Vec<&str> = KUBEADM.lines().collect();
        let after: Vec<&str> = edited.lines().collect();
        assert_eq!(before.len(), after.len());
        let changed: Vec<_> = before.iter().zip(&after).filter(|(a, b)| a != b).collect();
        assert_eq!(
            changed,
            vec![(&"clusterCIDR: \"\"", &"clusterCIDR: 10.244.0.0/16")]
        );
        assert!(edited.ends_with('\n'));
    }

    #[test]
    fn a_missing_key_is_appended_and_nested_keys_are_left_alone() {
        let text = "kind: KubeProxyConfiguration\nnested:\n  clusterCIDR: 1.2.3.0/24\n";
        let edited = with_cluster_cidr(text, "10.244.0.0/16").unwrap();
        assert!(edited.contains("  clusterCIDR: 1.2.3.0/24\n"));
        assert_eq!(cluster_cidr_of(&edited).as_deref(), Ok("10.244.0.0/16"));
        assert!(with_cluster_cidr("a: [unclosed", "10.0.0.0/8").is_err());
    }

    #[test]
    fn plans_need_the_typed_name_and_wait_for_each_agent() {
        let pods = [
            AgentPod {
                namespace: "kube-system".into(),
                name: "kube-proxy-a".into(),
                daemonset: "kube-proxy".into(),
                node: "node1".into(),
            },
            AgentPod {
                namespace: "kube-system".into(),
                name: "kube-proxy-b".into(),
                daemonset: "kube-proxy".into(),
                node: "node2".into(),
            },
        ];
        let plan = set_kube_proxy_cluster_cidr("kube-system", "10.244.0.0/16", "", &pods);
        assert_eq!(plan.steps.len(), 5);
        assert!(plan.validate().is_ok());
        assert!(plan.check_confirmation("yes").is_err());
        assert!(plan.check_confirmation("kube-proxy").is_ok());
        assert!(
            plan.render()
                .join("\n")
                .contains("clusterCIDR empty -> \"10.244.0.0/16\"")
        );
        let restart = restart_agent(&pods[1]);
        assert_eq!(restart.steps.len(), 2);
        assert!(restart.check_confirmation("kube-proxy-b").is_ok());
        assert_eq!(
            restart.steps[1].description,
            "Wait up to 3m for a new pod of DaemonSet kube-system/kube-proxy on node2 to be Running and Ready"
        );
    }
}
