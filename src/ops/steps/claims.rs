//! Deleting a PersistentVolumeClaim a removed ensemble member left behind: re-checked
//! right before (no pod may mount it), and after (gone, or being deleted).

use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams};

use super::{Applied, StepError};
use crate::model::pod::ApiPod;

pub(crate) async fn delete_claim(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<Applied, StepError> {
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), namespace);
    let what = format!("claim {namespace}/{name}");
    let Some(before) = super::kube::read(&format!("get {what}"), claims.get_opt(name)).await?
    else {
        return Ok(Applied::AlreadyDone(format!("{what} is gone")));
    };
    if before.metadata.deletion_timestamp.is_some() {
        return Ok(Applied::AlreadyDone(format!("{what} is being deleted")));
    }
    let pods: Api<ApiPod> = Api::namespaced(client.clone(), namespace);
    let list = super::kube::read(
        &format!("list pods in {namespace}"),
        pods.list(&ListParams::default()),
    )
    .await?;
    let users: Vec<String> = list
        .items
        .iter()
        .filter(|p| {
            p.spec
                .as_ref()
                .and_then(|s| s.volumes.as_ref())
                .into_iter()
                .flatten()
                .any(|v| {
                    v.persistent_volume_claim
                        .as_ref()
                        .is_some_and(|c| c.claim_name == name)
                })
        })
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    if !users.is_empty() {
        return Err(StepError::Failed(format!(
            "refused: {what} is used by pod {}",
            users.join(", ")
        )));
    }
    super::kube::write(
        &format!("delete {what}"),
        claims.delete(name, &DeleteParams::default()),
    )
    .await?;
    let after = super::kube::read(&format!("re-check {what}"), claims.get_opt(name)).await?;
    match after {
        None => Ok(Applied::Done(format!("{what} deleted"))),
        Some(c) if c.metadata.deletion_timestamp.is_some() => Ok(Applied::Done(format!(
            "{what} is being deleted (its finalizers run)"
        ))),
        Some(_) => Err(StepError::Failed(format!(
            "the deletion of {what} was accepted but it is still there"
        ))),
    }
}
