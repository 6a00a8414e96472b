//! Kubernetes steps: cordon and uncordon, delete a pod, scale, set kube-proxy's
//! clusterCIDR; and the request helpers every Kubernetes call of a step goes through
//! (bounded by [`CALL_TIMEOUT`], errors kept in the operator's words, 403 apart).

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use crate::model::pod::ApiPod;
use k8s_openapi::api::core::v1::{ConfigMap, Node};
use kube::Client;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{Applied, StepError};
use crate::ops::op::human_duration;

/// How long one API request may take. kube's own read timeout is minutes; a console step
/// that hangs that long is worse than one that says it got no answer.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The field manager our writes carry, so `managedFields` show who changed what.
const FIELD_MANAGER: &str = "kcops";

/// Pods a run deleted, `(namespace, name)` to uid: a later wait then knows that a pod of
/// the same name is a replacement, not the one it waits to be gone.
pub(crate) type DeletedPods = HashMap<(String, String), String>;

/// Cordon/uncordon as kubectl does it: a merge patch of `spec.unschedulable` (`null`
/// to uncordon, so the field disappears as with kubectl). A node already in that
/// state is left alone and reported as such.
pub(crate) async fn set_unschedulable(
    client: &Client,
    node: &str,
    on: bool,
) -> Result<Applied, StepError> {
    let nodes: Api<Node> = Api::all(client.clone());
    let before = read(&format!("get node {node}"), nodes.get(node)).await?;
    if before.spec.and_then(|s| s.unschedulable).unwrap_or(false) == on {
        return Ok(Applied::AlreadyDone(format!(
            "node {node} was already {}",
            if on { "cordoned" } else { "schedulable" }
        )));
    }
    let value = if on { json!(true) } else { Value::Null };
    let patch = json!({"spec": {"unschedulable": value}});
    write(
        &format!("patch node {node}"),
        nodes.patch(node, &patch_params(), &Patch::Merge(&patch)),
    )
    .await?;
    let now = read(&format!("re-check node {node}"), nodes.get(node)).await?;
    let unschedulable = now.spec.and_then(|s| s.unschedulable).unwrap_or(false);
    match (on, unschedulable) {
        (true, true) => Ok(Applied::Done(format!(
            "node {node} is cordoned (spec.unschedulable is true)"
        ))),
        (false, false) => Ok(Applied::Done(format!("node {node} is schedulable again"))),
        _ => Err(StepError::Failed(format!(
            "re-check: node {node} has spec.unschedulable {unschedulable} after the patch"
        ))),
    }
}

/// Deletes exactly the pod that is there now (uid precondition, so a replacement that
/// appears between our read and our delete is not deleted in its place), then checks
/// that it is gone, terminating, or replaced.
pub(crate) async fn delete_pod(
    client: &Client,
    namespace: &str,
    name: &str,
    grace: Option<u32>,
    deleted: &mut DeletedPods,
) -> Result<Applied, StepError> {
    let pods: Api<ApiPod> = Api::namespaced(client.clone(), namespace);
    let pod = format!("pod {namespace}/{name}");
    let Some(current) = read(&format!("get {pod}"), pods.get_opt(name)).await? else {
        return Ok(Applied::AlreadyDone(format!(
            "{pod} was already gone; nothing to delete"
        )));
    };
    // Being deleted already (another console, a controller): a plain delete would
    // change nothing. A shorter grace period is a change of its own and goes ahead.
    if grace.is_none() && current.metadata.deletion_timestamp.is_some() {
        return Ok(Applied::AlreadyDone(format!(
            "{pod} is already being deleted; nothing to delete"
        )));
    }
    let uid = current.metadata.uid.clone();
    let params = DeleteParams {
        grace_period_seconds: grace,
        preconditions: uid.clone().map(|uid| Preconditions {
            uid: Some(uid),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match within(&format!("delete {pod}"), true, pods.delete(name, &params)).await? {
        Ok(_) => {}
        Err(kube::Error::Api(r)) if r.code == 404 => {
            return Ok(Applied::AlreadyDone(format!(
                "{pod} was already gone; nothing to delete"
            )));
        }
        Err(e) => return Err(from_kube(&format!("delete {pod}"), e)),
    }
    if let Some(uid) = &uid {
        deleted.insert((namespace.to_string(), name.to_string()), uid.clone());
    }
    match read(&format!("re-check {pod}"), pods.get_opt(name)).await? {
        None => Ok(Applied::Done(format!("{pod} is gone"))),
        Some(p) if p.metadata.uid != uid => Ok(Applied::Done(format!(
            "{pod} was deleted; its controller already created a replacement"
        ))),
        Some(p) if p.metadata.deletion_timestamp.is_some() => {
            Ok(Applied::Done(format!("{pod} is terminating")))
        }
        Some(_) => Err(StepError::Failed(format!(
            "re-check: {pod} is still there and not terminating"
        ))),
    }
}

pub(crate) fn patch_params() -> PatchParams {
    PatchParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PatchParams::default()
    }
}

/// Scale through the scale subresource: read the current desired count (refusing if it
/// is not what the plan was made for), patch it with the read resourceVersion (so a
/// concurrent change is a conflict on API servers that honour it), then re-read it.
pub(crate) async fn scale<K>(
    api: Api<K>,
    obj: &str,
    name: &str,
    replicas: i32,
    expect_current: Option<i32>,
) -> Result<Applied, StepError>
where
    K: Clone + DeserializeOwned,
{
    let before = read(&format!("get the scale of {obj}"), api.get_scale(name)).await?;
    // ScaleSpec.replicas is omitempty on the server: absent means 0.
    let current = before.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
    if current == replicas && expect_current.is_some_and(|e| e != replicas) {
        return Ok(Applied::AlreadyDone(format!(
            "{obj} already wants {replicas} replicas"
        )));
    }
    if let Some(expected) = expect_current
        && current != expected
    {
        return Err(StepError::Failed(format!(
            "{obj} now wants {current} replicas, not the {expected} this plan was made for; nothing was changed, review the plan and try again"
        )));
    }
    let mut patch = json!({"spec": {"replicas": replicas}});
    if let Some(rv) = &before.metadata.resource_version {
        patch["metadata"] = json!({"resourceVersion": rv});
    }
    write(
        &format!("scale {obj}"),
        api.patch_scale(name, &patch_params(), &Patch::Merge(&patch)),
    )
    .await?;
    let after = read(&format!("re-check the scale of {obj}"), api.get_scale(name)).await?;
    let now = after.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
    let existing = after.status.as_ref().map(|s| s.replicas).unwrap_or(0);
    if now == replicas {
        Ok(Applied::Done(format!(
            "{obj} now wants {replicas} replicas (was {current}; {existing} exist so far)"
        )))
    } else {
        Err(StepError::Failed(format!(
            "re-check: {obj} wants {now} replicas after the change, not {replicas}"
        )))
    }
}

/// The value of the top-level `clusterCIDR` key of a KubeProxyConfiguration (`""` when
/// absent or empty); `Err` when the text is not YAML.
pub(crate) fn cluster_cidr_of(config: &str) -> Result<String, String> {
    let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(config)
        .map_err(|e| format!("config.conf is not valid YAML: {e}"))?;
    Ok(match v.get("clusterCIDR") {
        Some(serde_yaml_ng::Value::String(s)) => s.clone(),
        _ => String::new(),
    })
}

/// `config` with its top-level `clusterCIDR` set to `cidr`, every other line (comments
/// included) untouched: the line replaced when there is one, appended when not.
pub(crate) fn with_cluster_cidr(config: &str, cidr: &str) -> Result<String, String> {
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
pub(crate) async fn set_kube_proxy_cluster_cidr(
    client: &Client,
    namespace: &str,
    configmap: &str,
    cidr: &str,
    expect_current: &str,
) -> Result<Applied, StepError> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let obj = format!("ConfigMap {namespace}/{configmap}");
    let cm = read(&format!("get {obj}"), api.get(configmap)).await?;
    let Some(config) = cm.data.as_ref().and_then(|d| d.get("config.conf")) else {
        return Err(StepError::Failed(format!(
            "{obj} has no key config.conf (not kubeadm's layout); nothing was changed"
        )));
    };
    let current = cluster_cidr_of(config).map_err(StepError::Failed)?;
    if current == cidr && current != expect_current {
        return Ok(Applied::AlreadyDone(format!(
            "{obj} already has clusterCIDR {cidr}"
        )));
    }
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
        Ok(Applied::Done(format!("{obj}: clusterCIDR is now {cidr}")))
    } else {
        Err(StepError::Failed(format!(
            "re-check: {obj} has clusterCIDR {now:?} after the patch, not {cidr:?}"
        )))
    }
}

/// Which object a replace writes.
pub(crate) struct Replace<'a> {
    pub api_version: &'a str,
    pub kind: &'a str,
    pub plural: &'a str,
    /// `""` for a cluster-scoped kind.
    pub namespace: &'a str,
    pub name: &'a str,
}

/// Replaces an object with `object` (which holds the resourceVersion it was read at:
/// a change since is the API server's conflict, and fails the step), then reads it
/// back.
pub(crate) async fn replace_object(
    client: &Client,
    what: &Replace<'_>,
    object: &Value,
) -> Result<Applied, StepError> {
    use kube::api::{ApiResource, DynamicObject, PostParams};
    use kube::core::GroupVersionKind;
    let (group, version) = what
        .api_version
        .split_once('/')
        .unwrap_or(("", what.api_version));
    let gvk = GroupVersionKind::gvk(group, version, what.kind);
    let ar = ApiResource::from_gvk_with_plural(&gvk, what.plural);
    let api: Api<DynamicObject> = if what.namespace.is_empty() {
        Api::all_with(client.clone(), &ar)
    } else {
        Api::namespaced_with(client.clone(), what.namespace, &ar)
    };
    let obj: DynamicObject = serde_json::from_value(object.clone())
        .map_err(|e| StepError::Failed(format!("the edited object is not valid: {e}")))?;
    let label = format!("{} {}", what.kind, what.name);
    let written = write(
        &format!("replace {label}"),
        api.replace(what.name, &PostParams::default(), &obj),
    )
    .await?;
    let now = read(&format!("re-check {label}"), api.get(what.name)).await?;
    let version = now.metadata.resource_version.unwrap_or_default();
    if Some(&version) != written.metadata.resource_version.as_ref() {
        return Ok(Applied::Done(format!(
            "{label} replaced (and changed again since, now at version {version})"
        )));
    }
    Ok(Applied::Done(format!(
        "{label} replaced (version {version})"
    )))
}

/// A read: errors mapped, no answer within [`CALL_TIMEOUT`] is a failure.
pub(crate) async fn read<T>(
    what: &str,
    fut: impl Future<Output = kube::Result<T>>,
) -> Result<T, StepError> {
    within(what, false, fut)
        .await?
        .map_err(|e| from_kube(what, e))
}

/// A write: as [`read`], but a missing answer says the change may have happened.
pub(crate) async fn write<T>(
    what: &str,
    fut: impl Future<Output = kube::Result<T>>,
) -> Result<T, StepError> {
    within(what, true, fut)
        .await?
        .map_err(|e| from_kube(what, e))
}

/// Bounds a request by [`CALL_TIMEOUT`], leaving its own result to the caller.
pub(crate) async fn within<T>(
    what: &str,
    mutating: bool,
    fut: impl Future<Output = kube::Result<T>>,
) -> Result<kube::Result<T>, StepError> {
    tokio::time::timeout(CALL_TIMEOUT, fut).await.map_err(|_| {
        let unknown = if mutating {
            "; whether the change was applied is unknown, check before retrying"
        } else {
            ""
        };
        StepError::Failed(format!(
            "{what}: no answer from the API server within {}{unknown}",
            human_duration(CALL_TIMEOUT)
        ))
    })
}

/// 403 keeps the API server's message verbatim (it names user, verb and resource, which
/// is what the operator needs to ask for the right RBAC); other API errors keep code and
/// reason; transport errors keep their cause chain (`connection refused`, TLS, ...).
fn from_kube(what: &str, e: kube::Error) -> StepError {
    match e {
        kube::Error::Api(r) if r.code == 403 => StepError::Forbidden(r.message),
        kube::Error::Api(r) => {
            StepError::Failed(format!("{what}: {} ({} {})", r.message, r.code, r.reason))
        }
        other => StepError::Failed(format!("{what}: {}", error_chain(&other))),
    }
}

pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
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
}
