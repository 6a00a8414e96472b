//! ceph-csi steps: release an RBD volume from a dead node (the out-of-service taint,
//! or deleting its VolumeAttachment) only once every watcher from the node is fenced,
//! remove the taint again, and the waits that say the volume moved: the fenced
//! watches dropped, the old attachment gone, the new pod attached, staged and running.

use std::net::IpAddr;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Taint};
use k8s_openapi::api::storage::v1::VolumeAttachment;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, Patch};
use serde_json::json;

use super::kube::{patch_params, read, within, write};
use super::kube_wait::{node_ips, ready_claim_pod};
use super::{Applied, StepError};
use crate::ceph::CephClient;
use crate::ceph::holders::EntityAddr;
use crate::ops::op::{OUT_OF_SERVICE_TAINT, WaitFor, human_duration};

/// The taint's key, value and effect.
pub(crate) const TAINT_KEY: &str = "node.kubernetes.io/out-of-service";
const TAINT_VALUE: &str = "nodeshutdown";
const TAINT_EFFECT: &str = "NoExecute";

fn is_out_of_service(t: &Taint) -> bool {
    t.key == TAINT_KEY && t.effect == TAINT_EFFECT
}

/// Refuses unless every watcher of `pool/image` from one of `ips` (the dead node's
/// addresses) is covered by an entry of the live OSD blocklist.
async fn all_watchers_fenced(
    ceph: &CephClient,
    pool: &str,
    image: &str,
    node: &str,
    ips: &[IpAddr],
) -> Result<(), StepError> {
    let spec = format!("{pool}/{image}");
    let info = ceph
        .image_info(pool, image)
        .await
        .map_err(|e| StepError::Failed(format!("rbd status {spec}: {e}")))?;
    let blocklist = ceph
        .blocklist_ls()
        .await
        .map_err(|e| StepError::Failed(format!("osd blocklist ls: {e}")))?;
    let fenced: Vec<EntityAddr> = blocklist
        .iter()
        .filter(|e| !e.range)
        .filter_map(|e| EntityAddr::parse(&e.addr))
        .collect();
    let unfenced: Vec<String> = info
        .watchers
        .iter()
        .filter(|w| {
            EntityAddr::parse(&w.address)
                .is_some_and(|a| ips.contains(&a.ip) && !fenced.iter().any(|f| f.covers(&a)))
        })
        .map(|w| format!("{} ({})", w.address, w.entity()))
        .collect();
    if unfenced.is_empty() {
        Ok(())
    } else {
        Err(StepError::Failed(format!(
            "never release a volume without fencing: the watcher {} of {spec} from {node} is not fenced; nothing was changed",
            unfenced.join(", ")
        )))
    }
}

/// Adds the out-of-service taint (as `kubectl taint` does: the whole list written
/// back with the read resourceVersion, `timeAdded` set for NoExecute), after checking
/// in Ceph that the node's watchers are fenced; then reads the node back.
pub(crate) async fn taint_out_of_service(
    client: &Client,
    ceph: &CephClient,
    node: &str,
    pool: &str,
    image: &str,
) -> Result<Applied, StepError> {
    let nodes: Api<Node> = Api::all(client.clone());
    let before = read(&format!("get node {node}"), nodes.get(node)).await?;
    let mut taints = before
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    if taints.iter().any(is_out_of_service) {
        return Ok(Applied::AlreadyDone(format!(
            "node {node} already has the taint {OUT_OF_SERVICE_TAINT}"
        )));
    }
    let ips = node_ips(client, node).await?;
    all_watchers_fenced(ceph, pool, image, node, &ips).await?;
    taints.push(Taint {
        key: TAINT_KEY.into(),
        value: Some(TAINT_VALUE.into()),
        effect: TAINT_EFFECT.into(),
        time_added: Some(Time(jiff::Timestamp::now())),
    });
    let mut patch = json!({"spec": {"taints": taints}});
    if let Some(rv) = &before.metadata.resource_version {
        patch["metadata"] = json!({"resourceVersion": rv});
    }
    write(
        &format!("taint node {node}"),
        nodes.patch(node, &patch_params(), &Patch::Merge(&patch)),
    )
    .await?;
    let after = read(&format!("re-check node {node}"), nodes.get(node)).await?;
    let has = after
        .spec
        .and_then(|s| s.taints)
        .unwrap_or_default()
        .iter()
        .any(is_out_of_service);
    if has {
        Ok(Applied::Done(format!(
            "node {node} has the taint {OUT_OF_SERVICE_TAINT}"
        )))
    } else {
        Err(StepError::Failed(format!(
            "re-check: node {node} has no out-of-service taint after the patch"
        )))
    }
}

/// Removes the out-of-service taint (every other taint kept), then reads it back.
pub(crate) async fn untaint_out_of_service(
    client: &Client,
    node: &str,
) -> Result<Applied, StepError> {
    let nodes: Api<Node> = Api::all(client.clone());
    let Some(before) = read(&format!("get node {node}"), nodes.get_opt(node)).await? else {
        return Ok(Applied::AlreadyDone(format!(
            "node {node} is gone, and its taint with it"
        )));
    };
    let taints = before
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    if !taints.iter().any(is_out_of_service) {
        return Ok(Applied::AlreadyDone(format!(
            "node {node} has no out-of-service taint"
        )));
    }
    let kept: Vec<Taint> = taints
        .into_iter()
        .filter(|t| !is_out_of_service(t))
        .collect();
    let mut patch = json!({"spec": {"taints": kept}});
    if let Some(rv) = &before.metadata.resource_version {
        patch["metadata"] = json!({"resourceVersion": rv});
    }
    write(
        &format!("untaint node {node}"),
        nodes.patch(node, &patch_params(), &Patch::Merge(&patch)),
    )
    .await?;
    let after = read(&format!("re-check node {node}"), nodes.get(node)).await?;
    if after
        .spec
        .and_then(|s| s.taints)
        .unwrap_or_default()
        .iter()
        .any(is_out_of_service)
    {
        Err(StepError::Failed(format!(
            "re-check: node {node} still has the out-of-service taint"
        )))
    } else {
        Ok(Applied::Done(format!(
            "node {node} no longer has the out-of-service taint"
        )))
    }
}

/// Deletes the VolumeAttachment `name` if it still attaches `pv` to `node`, after
/// checking the node's watchers are fenced (when the node still exists: a deleted
/// node's addresses are unknown, its clients were fenced by the plan's steps).
pub(crate) async fn delete_attachment(
    client: &Client,
    ceph: &CephClient,
    name: &str,
    pv: &str,
    node: &str,
    (pool, image): (&str, &str),
) -> Result<Applied, StepError> {
    let api: Api<VolumeAttachment> = Api::all(client.clone());
    let what = format!("VolumeAttachment {name}");
    let Some(va) = read(&format!("get {what}"), api.get_opt(name)).await? else {
        return Ok(Applied::AlreadyDone(format!(
            "{what} was already gone; nothing to delete"
        )));
    };
    let (va_pv, va_node) = attachment_of(&va);
    if va_pv.as_deref() != Some(pv) || va_node != node {
        return Err(StepError::Failed(format!(
            "{what} now attaches {} to {va_node}, not {pv} to {node}; nothing was deleted, assess again",
            va_pv.unwrap_or_default()
        )));
    }
    let nodes: Api<Node> = Api::all(client.clone());
    let ips = match read(&format!("get node {node}"), nodes.get_opt(node)).await? {
        Some(_) => node_ips(client, node).await?,
        None => Vec::new(),
    };
    all_watchers_fenced(ceph, pool, image, node, &ips).await?;
    match within(
        &format!("delete {what}"),
        true,
        api.delete(name, &DeleteParams::default()),
    )
    .await?
    {
        Ok(_) => {}
        Err(kube::Error::Api(r)) if r.code == 404 => {
            return Ok(Applied::AlreadyDone(format!("{what} was already gone")));
        }
        Err(kube::Error::Api(r)) if r.code == 403 => return Err(StepError::Forbidden(r.message)),
        Err(e) => return Err(StepError::Failed(format!("delete {what}: {e}"))),
    }
    match read(&format!("re-check {what}"), api.get_opt(name)).await? {
        None => Ok(Applied::Done(format!("{what} is gone"))),
        Some(v) if v.metadata.deletion_timestamp.is_some() => Ok(Applied::Done(format!(
            "{what} is being deleted (its attacher's finalizer goes first)"
        ))),
        Some(_) => Err(StepError::Failed(format!(
            "re-check: {what} is still there and not being deleted"
        ))),
    }
}

/// The volume and node a VolumeAttachment names.
pub(crate) fn attachment_of(va: &VolumeAttachment) -> (Option<String>, String) {
    (
        va.spec.source.persistent_volume_name.clone(),
        va.spec.node_name.clone(),
    )
}

fn attached(va: &VolumeAttachment) -> bool {
    va.status.as_ref().is_some_and(|s| s.attached)
}

/// The VolumeAttachments of `pv`.
async fn attachments_of(client: &Client, pv: &str) -> Result<Vec<VolumeAttachment>, StepError> {
    let api: Api<VolumeAttachment> = Api::all(client.clone());
    let list = read("list volumeattachments", api.list(&ListParams::default())).await?;
    Ok(list
        .items
        .into_iter()
        .filter(|va| va.spec.source.persistent_volume_name.as_deref() == Some(pv))
        .collect())
}

/// Polls `check` every second until it says done (`Ok(Some(text))`), a 403, or the
/// deadline; a failed read is retried and the last state is said on a time-out.
async fn poll<F, Fut>(timeout: Duration, what: &WaitFor, mut check: F) -> Result<String, StepError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Result<String, String>, StepError>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let last = match check().await {
            Ok(Ok(done)) => return Ok(done),
            Ok(Err(state)) => state,
            Err(StepError::Forbidden(m)) => return Err(StepError::Forbidden(m)),
            Err(StepError::Failed(m)) => m,
        };
        if tokio::time::Instant::now() >= deadline {
            return Err(StepError::Failed(format!(
                "{what}: not reached within {} ({last})",
                human_duration(timeout)
            )));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Until RBD image `pool/image` has no watcher at any of `addrs`.
pub(crate) async fn watchers_gone(
    ceph: &CephClient,
    pool: &str,
    image: &str,
    addrs: &[String],
    timeout: Duration,
    what: &WaitFor,
) -> Result<String, StepError> {
    let spec = format!("{pool}/{image}");
    let want: Vec<EntityAddr> = addrs.iter().filter_map(|a| EntityAddr::parse(a)).collect();
    poll(timeout, what, || async {
        let info = ceph
            .image_info(pool, image)
            .await
            .map_err(|e| StepError::Failed(format!("rbd status {spec}: {e}")))?;
        let left: Vec<String> = info
            .watchers
            .iter()
            .filter(|w| EntityAddr::parse(&w.address).is_some_and(|a| want.contains(&a)))
            .map(|w| format!("{} ({})", w.address, w.entity()))
            .collect();
        Ok(if left.is_empty() {
            Ok(format!(
                "RBD image {spec} has no watcher at {} now ({} watcher{} left)",
                addrs.join(", "),
                info.watchers.len(),
                if info.watchers.len() == 1 { "" } else { "s" }
            ))
        } else {
            Err(format!("still watched by {}", left.join(", ")))
        })
    })
    .await
}

/// Until no VolumeAttachment of `pv` to `node` is left.
pub(crate) async fn detached(
    client: &Client,
    pv: &str,
    node: &str,
    timeout: Duration,
    what: &WaitFor,
) -> Result<String, StepError> {
    poll(timeout, what, || async {
        let left: Vec<String> = attachments_of(client, pv)
            .await?
            .into_iter()
            .filter(|va| va.spec.node_name == node)
            .map(|va| va.metadata.name.unwrap_or_default())
            .collect();
        Ok(if left.is_empty() {
            Ok(format!("no VolumeAttachment of {pv} to {node} is left"))
        } else {
            Err(format!("VolumeAttachment {} still there", left.join(", ")))
        })
    })
    .await
}

/// Until a pod with the claim runs and is Ready on a node whose VolumeAttachment of
/// `pv` says attached and from whose address RBD image `pool/image` is watched.
pub(crate) async fn csi_volume_in_use(
    client: &Client,
    ceph: &CephClient,
    (namespace, claim): (&str, &str),
    pv: &str,
    (pool, image): (&str, &str),
    timeout: Duration,
    what: &WaitFor,
) -> Result<String, StepError> {
    let spec = format!("{pool}/{image}");
    poll(timeout, what, || async {
        let Some(pod) = ready_claim_pod(client, namespace, claim).await? else {
            return Ok(Err(format!("no pod with claim {namespace}/{claim} is Running and Ready yet")));
        };
        let name = pod.metadata.name.clone().unwrap_or_default();
        let node: String = pod.spec.and_then(|s| s.node_name).map(String::from).unwrap_or_default();
        let vas = attachments_of(client, pv).await?;
        let Some(va) = vas
            .iter()
            .find(|va| va.spec.node_name == node && attached(va))
        else {
            return Ok(Err(format!(
                "pod {name} runs on {node} but no VolumeAttachment of {pv} to {node} says attached"
            )));
        };
        let ips = node_ips(client, &node).await?;
        let info = ceph
            .image_info(pool, image)
            .await
            .map_err(|e| StepError::Failed(format!("rbd status {spec}: {e}")))?;
        let Some(w) = info.watchers.iter().find(|w| {
            EntityAddr::parse(&w.address).is_some_and(|a| ips.contains(&a.ip))
        }) else {
            return Ok(Err(format!("{spec} has no watcher from {node} (not staged there)")));
        };
        Ok(Ok(format!(
            "pod {namespace}/{name} is Running and Ready on {node}; VolumeAttachment {} is attached; RBD image {spec} is staged there (watcher {} at {})",
            va.metadata.name.clone().unwrap_or_default(),
            w.entity(),
            w.address
        )))
    })
    .await
}
