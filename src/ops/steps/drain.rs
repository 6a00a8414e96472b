//! Draining and removing a node: evictions through the eviction API (so
//! PodDisruptionBudgets are honoured: a 429 is retried for a while, then the step
//! fails with the budget's own words) and deleting the Node object.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Client;
use kube::api::{Api, DeleteParams, EvictParams};

use super::kube::{read, write};
use super::{Applied, StepError};
use crate::ops::op::human_duration;

/// Evicts pod `namespace/name`; while a disruption budget refuses (429), retries every
/// second for up to `retry_for`, then fails saying which budget.
pub(crate) async fn evict_pod(
    client: &Client,
    namespace: &str,
    name: &str,
    retry_for: Duration,
) -> Result<Applied, StepError> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let what = format!("evict pod {namespace}/{name}");
    let deadline = tokio::time::Instant::now() + retry_for;
    loop {
        let Some(pod) = read(&format!("get pod {namespace}/{name}"), pods.get_opt(name)).await?
        else {
            return Ok(Applied::AlreadyDone(format!(
                "pod {namespace}/{name} was already gone"
            )));
        };
        if pod.metadata.deletion_timestamp.is_some() {
            return Ok(Applied::AlreadyDone(format!(
                "pod {namespace}/{name} was already terminating"
            )));
        }
        match tokio::time::timeout(
            Duration::from_secs(30),
            pods.evict(name, &EvictParams::default()),
        )
        .await
        {
            Err(_) => {
                return Err(StepError::Failed(format!(
                    "{what}: no answer from the API server; whether it was evicted is unknown"
                )));
            }
            Ok(Ok(_)) => {
                return Ok(Applied::Done(format!(
                    "pod {namespace}/{name} evicted (its controller recreates it elsewhere)"
                )));
            }
            Ok(Err(kube::Error::Api(r))) if r.code == 429 => {
                if tokio::time::Instant::now() >= deadline {
                    return Err(StepError::Failed(format!(
                        "{what}: {} (still refused after {}: relax or wait for the disruption budget, then run the plan again)",
                        r.message,
                        human_duration(retry_for)
                    )));
                }
            }
            Ok(Err(kube::Error::Api(r))) if r.code == 403 => {
                return Err(StepError::Forbidden(r.message));
            }
            Ok(Err(e)) => {
                return Err(StepError::Failed(format!(
                    "{what}: {}",
                    super::kube::error_chain(&e)
                )));
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Deletes Node `node` and checks it is gone.
pub(crate) async fn delete_node(client: &Client, node: &str) -> Result<Applied, StepError> {
    let nodes: Api<Node> = Api::all(client.clone());
    if read(&format!("get node {node}"), nodes.get_opt(node))
        .await?
        .is_none()
    {
        return Ok(Applied::AlreadyDone(format!(
            "node {node} was already gone"
        )));
    }
    write(
        &format!("delete node {node}"),
        nodes.delete(node, &DeleteParams::default()),
    )
    .await?;
    match read(&format!("re-check node {node}"), nodes.get_opt(node)).await? {
        None => Ok(Applied::Done(format!("node {node} deleted"))),
        Some(_) => Ok(Applied::Done(format!(
            "node {node} is being deleted (finalizers pending)"
        ))),
    }
}
