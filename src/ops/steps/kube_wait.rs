//! Waiting for Kubernetes states: a pod gone or Ready, a workload's replicas ready, a
//! DaemonSet's agent back on its node, a claim's pod running. Watched where one object
//! says it (`await_condition`), polled every second where it takes a list.

use std::fmt::Debug;
use std::net::IpAddr;
use std::time::Duration;

use crate::model::pod::{ApiPod, Pod};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ListParams};
use kube::runtime::wait::{Condition, await_condition};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;

use super::StepError;
use super::kube::{error_chain, read};
use crate::ops::op::{ScaleKind, WaitFor, human_duration};

/// No pod `namespace/name`, or only a replacement: `deleted` is the uid this run
/// deleted under that name, if it did.
pub(crate) async fn pod_gone(
    client: &Client,
    namespace: &str,
    name: &str,
    deleted: Option<String>,
    timeout: Duration,
    what: &WaitFor,
) -> Result<String, StepError> {
    let cond = move |p: Option<&ApiPod>| match p {
        None => true,
        Some(p) => deleted.is_some() && p.metadata.uid != deleted,
    };
    wait_until(
        Api::<ApiPod>::namespaced(client.clone(), namespace),
        name,
        cond,
        timeout,
        what,
    )
    .await?;
    Ok(format!("pod {namespace}/{name} is gone"))
}

/// The pod is Running and Ready and not being deleted.
pub(crate) async fn pod_running_ready(
    client: &Client,
    namespace: &str,
    name: &str,
    timeout: Duration,
    what: &WaitFor,
) -> Result<String, StepError> {
    let cond = |p: Option<&ApiPod>| p.is_some_and(|p| pod_ready(&Pod::from(p.clone())));
    wait_until(
        Api::<ApiPod>::namespaced(client.clone(), namespace),
        name,
        cond,
        timeout,
        what,
    )
    .await?;
    Ok(format!("pod {namespace}/{name} is Running and Ready"))
}

/// A pod of `daemonset` on `node` is Running and Ready and is none of `deleted` (the
/// uids this run deleted), polled every second.
pub(crate) async fn daemon_pod_back(
    client: &Client,
    namespace: &str,
    daemonset: &str,
    node: &str,
    deleted: &[String],
    timeout: Duration,
    what: &WaitFor,
) -> Result<String, StepError> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(pod) = daemon_pod_ready(client, namespace, daemonset, node, deleted).await? {
            return Ok(format!(
                "pod {namespace}/{pod} of DaemonSet {daemonset} is Running and Ready on {node}"
            ));
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(StepError::Failed(format!(
                "{what}: not reached within {}",
                human_duration(timeout)
            )));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// `status.replicas` and `status.readyReplicas` of the workload both equal `want`.
pub(crate) async fn replicas_ready(
    client: &Client,
    kind: ScaleKind,
    namespace: &str,
    name: &str,
    want: i32,
    timeout: Duration,
    what: &WaitFor,
) -> Result<String, StepError> {
    let c = client.clone();
    match kind {
        ScaleKind::StatefulSet => {
            let cond = move |s: Option<&StatefulSet>| {
                s.and_then(|s| s.status.as_ref())
                    .is_some_and(|st| ready_counts(st.replicas, st.ready_replicas, want))
            };
            let api = Api::<StatefulSet>::namespaced(c, namespace);
            wait_until(api, name, cond, timeout, what).await?;
        }
        ScaleKind::Deployment => {
            let cond = move |d: Option<&Deployment>| {
                d.and_then(|d| d.status.as_ref()).is_some_and(|st| {
                    ready_counts(st.replicas.unwrap_or(0), st.ready_replicas, want)
                })
            };
            let api = Api::<Deployment>::namespaced(c, namespace);
            wait_until(api, name, cond, timeout, what).await?;
        }
        ScaleKind::ReplicaSet => {
            let cond = move |r: Option<&ReplicaSet>| {
                r.and_then(|r| r.status.as_ref())
                    .is_some_and(|st| ready_counts(st.replicas, st.ready_replicas, want))
            };
            let api = Api::<ReplicaSet>::namespaced(c, namespace);
            wait_until(api, name, cond, timeout, what).await?;
        }
    }
    Ok(format!(
        "{kind} {namespace}/{name} has {want}/{want} ready replicas"
    ))
}

fn ready_counts(replicas: i32, ready: Option<i32>, want: i32) -> bool {
    replicas == want && ready.unwrap_or(0) == want
}

/// Running, Ready, and not on its way out.
pub(crate) fn pod_ready(p: &Pod) -> bool {
    if p.metadata.deletion_timestamp().is_some() {
        return false;
    }
    let Some(status) = &p.status else {
        return false;
    };
    status.phase.as_deref() == Some("Running")
        && status
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_() == "Ready" && c.status() == "True")
}

/// Watches `name` until `cond` holds or `timeout` passes.
async fn wait_until<K>(
    api: Api<K>,
    name: &str,
    cond: impl Condition<K>,
    timeout: Duration,
    what: &WaitFor,
) -> Result<(), StepError>
where
    K: Clone + Debug + Send + DeserializeOwned + Resource + 'static,
{
    match tokio::time::timeout(timeout, await_condition(api, name, cond)).await {
        Err(_) => Err(StepError::Failed(format!(
            "{what}: not reached within {}",
            human_duration(timeout)
        ))),
        Ok(Err(e)) => Err(StepError::Failed(format!(
            "waiting for {what}: {}",
            error_chain(&e)
        ))),
        Ok(Ok(_)) => Ok(()),
    }
}

/// The ready pod of `daemonset` on `node` that is not one of `deleted_uids`, if any.
async fn daemon_pod_ready(
    client: &Client,
    namespace: &str,
    daemonset: &str,
    node: &str,
    deleted_uids: &[String],
) -> Result<Option<String>, StepError> {
    let pods = daemon_pods(client, namespace, daemonset, node, deleted_uids).await?;
    Ok(pods
        .into_iter()
        .find(pod_ready)
        .and_then(|p| p.metadata.name.map(String::from)))
}

/// The pods of `daemonset` on `node`, except the ones whose uid is in `deleted_uids`
/// (those this run deleted, which may linger while they terminate).
pub(super) async fn daemon_pods(
    client: &Client,
    namespace: &str,
    daemonset: &str,
    node: &str,
    deleted_uids: &[String],
) -> Result<Vec<Pod>, StepError> {
    let api: Api<ApiPod> = Api::namespaced(client.clone(), namespace);
    let params = ListParams::default().fields(&format!("spec.nodeName={node}"));
    let pods = read(
        &format!("list pods of {namespace}/{daemonset} on {node}"),
        api.list(&params),
    )
    .await?;
    Ok(pods
        .items
        .into_iter()
        .map(Pod::from)
        .filter(|p| {
            p.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.kind == "DaemonSet" && o.name == daemonset)
                && p.metadata
                    .uid
                    .as_ref()
                    .is_none_or(|u| !deleted_uids.iter().any(|d| *u == **d))
        })
        .collect())
}

/// Whether `pod` mounts the claim `claim`.
pub(crate) fn pod_uses_claim(pod: &Pod, claim: &str) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.volumes.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|v| v.persistent_volume_claim.as_ref())
        .any(|c| c.claim_name == claim)
}

/// The Running and Ready pod that mounts `claim`, if any.
pub(crate) async fn ready_claim_pod(
    client: &Client,
    namespace: &str,
    claim: &str,
) -> Result<Option<Pod>, StepError> {
    let pods: Api<ApiPod> = Api::namespaced(client.clone(), namespace);
    let list = read(
        &format!("list pods in {namespace}"),
        pods.list(&ListParams::default()),
    )
    .await?;
    Ok(list
        .items
        .into_iter()
        .map(Pod::from)
        .find(|p| pod_uses_claim(p, claim) && pod_ready(p)))
}

/// Polls (every second) until a pod using the claim is Running and Ready. A failed
/// list is retried until the deadline; a 403 is not (it will not get better).
pub(crate) async fn claim_pod_ready(
    client: &Client,
    namespace: &str,
    claim: &str,
    timeout: Duration,
    what: &WaitFor,
) -> Result<String, StepError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last_error = String::new();
    loop {
        match ready_claim_pod(client, namespace, claim).await {
            Ok(Some(p)) => {
                let name = p.metadata.name.unwrap_or_default();
                let node = p.spec.and_then(|s| s.node_name).unwrap_or_default();
                return Ok(format!(
                    "pod {namespace}/{name} (claim {claim}) is Running and Ready on {node}"
                ));
            }
            Ok(None) => {}
            Err(StepError::Forbidden(m)) => return Err(StepError::Forbidden(m)),
            Err(StepError::Failed(m)) => last_error = format!(" (last error: {m})"),
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(StepError::Failed(format!(
                "{what}: not reached within {}{last_error}",
                human_duration(timeout)
            )));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The node's InternalIP/ExternalIP addresses.
pub(crate) async fn node_ips(client: &Client, node: &str) -> Result<Vec<IpAddr>, StepError> {
    let nodes: Api<Node> = Api::all(client.clone());
    let n = read(&format!("get node {node}"), nodes.get(node)).await?;
    Ok(n.status
        .and_then(|s| s.addresses)
        .into_iter()
        .flatten()
        .filter(|a| a.type_ == "InternalIP" || a.type_ == "ExternalIP")
        .filter_map(|a| a.address.parse().ok())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_counts_need_both_numbers() {
        assert!(ready_counts(3, Some(3), 3));
        assert!(
            !ready_counts(4, Some(3), 3),
            "a surplus pod is still going away"
        );
        assert!(!ready_counts(3, Some(2), 3));
        assert!(ready_counts(0, None, 0));
    }
}
