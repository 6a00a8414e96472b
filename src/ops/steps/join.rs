//! Joining a machine from the console: the bootstrap token it joins with (a Secret
//! the controller manager's bootstrap signer must then sign cluster-info for), and the
//! follow of the new node — registered, podCIDR assigned, network agent Running,
//! Ready — that says where and why it stalls.

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod, Secret};
use kube::Client;
use kube::api::{Api, ListParams, PostParams};

use super::kube::{read, write};
use super::{Applied, StepError};
use crate::ops::op::{WaitFor, human_duration};
use crate::setup::token;

/// How long the bootstrap signer may take to sign cluster-info for a new token.
const SIGN_TIMEOUT: Duration = Duration::from_secs(15);

/// Creates Secret kube-system/bootstrap-token-<id> valid for `ttl`, then re-checks it
/// and waits until cluster-info carries its signature (without it discovery fails).
pub(crate) async fn create_bootstrap_token(
    client: &Client,
    token_value: &str,
    ttl: Duration,
) -> Result<Applied, StepError> {
    let id = token::token_id(token_value).to_string();
    let expiration = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_secs(ttl.as_secs() as i64))
        .map_err(|e| StepError::Failed(format!("token expiry: {e}")))?
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let secret: Secret = serde_json::from_value(token::secret(
        token_value,
        &expiration,
        "Created by kcops :join for a new machine.",
    ))
    .map_err(|e| StepError::Failed(format!("bootstrap token secret: {e}")))?;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "kube-system");
    let name = format!("bootstrap-token-{id}");
    let params = PostParams {
        field_manager: Some("kcops".into()),
        ..PostParams::default()
    };
    write(
        &format!("create secret kube-system/{name}"),
        secrets.create(&params, &secret),
    )
    .await?;
    read(
        &format!("re-check secret kube-system/{name}"),
        secrets.get(&name),
    )
    .await?;
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), "kube-public");
    let key = format!("jws-kubeconfig-{id}");
    let deadline = tokio::time::Instant::now() + SIGN_TIMEOUT;
    loop {
        let cm = read(
            "get configmap kube-public/cluster-info",
            configmaps.get_opt("cluster-info"),
        )
        .await?;
        if cm
            .as_ref()
            .and_then(|c| c.data.as_ref())
            .is_some_and(|d| d.contains_key(&key))
        {
            return Ok(Applied::Done(format!(
                "secret kube-system/{name} created (expires {expiration}); cluster-info is signed for token {id}"
            )));
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(StepError::Failed(format!(
                "secret kube-system/{name} was created, but cluster-info has no {key} after {}: the controller manager's bootstrap signer is not running (kube-controller-manager --controllers must include bootstrapsigner), so no machine can discover the cluster with this token",
                human_duration(SIGN_TIMEOUT)
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Where a joining node is, as far as the API shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JoinStage {
    /// No new node yet; `token` says why it may never come.
    NotRegistered {
        token: Option<String>,
    },
    Registered {
        node: String,
    },
    /// Registered with a podCIDR; the network agent's pod is not Running.
    NoAgent {
        node: String,
        cidr: String,
        agent: Option<String>,
    },
    /// The agent runs; the node is not Ready, with the kubelet's words.
    NotReady {
        node: String,
        message: String,
    },
    Ready {
        node: String,
        cidr: String,
    },
}

impl JoinStage {
    /// Why the follow stalls here, in the operator's words (with the finding to read).
    pub(crate) fn stall(&self) -> String {
        match self {
            JoinStage::NotRegistered { token: Some(why) } => why.clone(),
            JoinStage::NotRegistered { token: None } => "no new node has registered: run the join command on the new machine; there, kcops setup join (or kubeadm) says why it cannot (a wrong hash or token, port 6443 unreachable from that machine)".into(),
            JoinStage::Registered { node } => format!(
                "node {node} has no podCIDR: kube-controller-manager assigns one only with --allocate-node-cidrs and a --cluster-cidr (kubeadm's networking.podSubnet); flannel cannot start without it"
            ),
            JoinStage::NoAgent { node, agent: None, .. } => format!(
                "no network agent pod on {node}: is a network add-on (flannel, calico) applied, and does its DaemonSet tolerate the node's taints?"
            ),
            JoinStage::NoAgent { node, agent: Some(state), .. } => format!(
                "the network agent on {node} is not running: {state} (see the Network pane: net.* findings for {node}; without a running agent /run/flannel/subnet.env is missing there)"
            ),
            JoinStage::NotReady { node, message } if message.contains("cni") => format!(
                "node {node} is NotReady: \"{message}\" (finding net.cni-config-missing: the add-on has not written its CNI config into /etc/cni/net.d on {node})"
            ),
            JoinStage::NotReady { node, message } => {
                format!("node {node} is NotReady: \"{message}\"")
            }
            JoinStage::Ready { node, .. } => format!("node {node} is Ready"),
        }
    }
}

fn ready_condition(node: &Node) -> Option<(String, String)> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| (c.status.clone(), c.message.clone().unwrap_or_default()))
}

fn is_agent(pod: &Pod) -> bool {
    let labels = pod.metadata.labels.clone().unwrap_or_default();
    let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
    (ns == "kube-flannel" && labels.get("app").map(String::as_str) == Some("flannel"))
        || (ns == "kube-system" && labels.get("k8s-app").map(String::as_str) == Some("calico-node"))
}

/// A pod's state when not running: the waiting reason or the last exit's message.
fn agent_state(pod: &Pod) -> Option<String> {
    let status = pod.status.as_ref()?;
    if status.phase.as_deref() == Some("Running")
        && status
            .container_statuses
            .as_ref()
            .is_some_and(|cs| cs.iter().all(|c| c.ready))
    {
        return None;
    }
    let name = pod.metadata.name.clone().unwrap_or_default();
    let detail = status.container_statuses.as_ref().and_then(|cs| {
        cs.iter().find_map(|c| {
            let last = c
                .last_state
                .as_ref()
                .and_then(|s| s.terminated.as_ref())
                .and_then(|t| t.message.clone().or(t.reason.clone()));
            let waiting = c
                .state
                .as_ref()
                .and_then(|s| s.waiting.as_ref())
                .and_then(|w| w.reason.clone());
            match (waiting, last) {
                (Some(w), Some(l)) => Some(format!("{w}, last exit: {l}")),
                (Some(w), None) => Some(w),
                (None, Some(l)) => Some(format!("last exit: {l}")),
                (None, None) => None,
            }
        })
    });
    Some(format!(
        "pod {name} is {}{}",
        status.phase.clone().unwrap_or_default(),
        detail.map(|d| format!(" ({d})")).unwrap_or_default()
    ))
}

/// Whether token `id` can still be used: `Some(why)` when it cannot.
async fn token_problem(client: &Client, id: &str) -> Result<Option<String>, StepError> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "kube-system");
    let name = format!("bootstrap-token-{id}");
    let Some(s) = read(
        &format!("get secret kube-system/{name}"),
        secrets.get_opt(&name),
    )
    .await?
    else {
        return Ok(Some(format!(
            "token {id} is gone (expired tokens are deleted by the token cleaner): no machine can join with it; start :join again for a new token"
        )));
    };
    let expiration = s
        .data
        .as_ref()
        .and_then(|d| d.get("expiration"))
        .and_then(|b| String::from_utf8(b.0.clone()).ok());
    let expired = expiration
        .as_deref()
        .and_then(|e| e.parse::<jiff::Timestamp>().ok())
        .is_some_and(|t| t <= jiff::Timestamp::now());
    Ok(expired.then(|| {
        format!(
            "token {id} expired at {}: kubeadm join now fails with 'token id \"{id}\" is invalid for this cluster or it has expired'; start :join again for a new token",
            expiration.unwrap_or_default()
        )
    }))
}

/// One look at the join: the newest node not in `known`, and how far it got.
pub(crate) async fn join_stage(
    client: &Client,
    known: &[String],
    token_id: &str,
) -> Result<JoinStage, StepError> {
    let nodes: Api<Node> = Api::all(client.clone());
    let list = read("list nodes", nodes.list(&ListParams::default())).await?;
    let Some(node) = list
        .items
        .iter()
        .filter(|n| {
            n.metadata
                .name
                .as_ref()
                .is_some_and(|name| !known.contains(name))
        })
        .max_by_key(|n| n.metadata.creation_timestamp.clone().map(|t| t.0))
    else {
        return Ok(JoinStage::NotRegistered {
            token: token_problem(client, token_id).await?,
        });
    };
    let name = node.metadata.name.clone().unwrap_or_default();
    let Some(cidr) = node.spec.as_ref().and_then(|s| s.pod_cidr.clone()) else {
        return Ok(JoinStage::Registered { node: name });
    };
    let (status, message) = ready_condition(node).unwrap_or_default();
    if status == "True" {
        return Ok(JoinStage::Ready { node: name, cidr });
    }
    let pods: Api<Pod> = Api::all(client.clone());
    let on_node = read(
        &format!("list pods on {name}"),
        pods.list(&ListParams::default().fields(&format!("spec.nodeName={name}"))),
    )
    .await?;
    match on_node.items.iter().find(|p| is_agent(p)) {
        None => Ok(JoinStage::NoAgent {
            node: name,
            cidr,
            agent: None,
        }),
        Some(p) => match agent_state(p) {
            Some(state) => Ok(JoinStage::NoAgent {
                node: name,
                cidr,
                agent: Some(state),
            }),
            None => Ok(JoinStage::NotReady {
                node: name,
                message,
            }),
        },
    }
}

/// Follows the join until the new node is Ready; at the time-out, says where it
/// stalled and why.
pub(crate) async fn node_joined(
    client: &Client,
    known: &[String],
    token_id: &str,
    timeout: Duration,
    what: &WaitFor,
) -> Result<String, StepError> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let stage = join_stage(client, known, token_id).await?;
        if let JoinStage::Ready { node, cidr } = &stage {
            return Ok(format!(
                "node {node} joined: registered, podCIDR {cidr}, network agent Running, Ready"
            ));
        }
        // An unusable token stops the follow at once: waiting cannot fix it.
        if let JoinStage::NotRegistered { token: Some(why) } = &stage {
            return Err(StepError::Failed(format!("{what}: {why}")));
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(StepError::Failed(format!(
                "{what}: not reached within {}: {}",
                human_duration(timeout),
                stage.stall()
            )));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
