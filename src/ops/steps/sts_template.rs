//! A StatefulSet's pod template: setting a container's command (re-checked against
//! what the operator saw), and waiting for a rolling update to bring one pod back on
//! the new revision.

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::StatefulSet;
use kube::Client;
use kube::api::{Api, Patch};
use serde_json::json;

use super::{Applied, StepError};
use crate::model::pod::{ApiPod, Pod};
use crate::ops::op::human_duration;

fn command_of(sts: &StatefulSet, container: &str) -> Option<Vec<String>> {
    sts.spec
        .as_ref()?
        .template
        .spec
        .as_ref()?
        .containers
        .iter()
        .find(|c| c.name == container)
        .map(|c| c.command.clone().unwrap_or_default())
}

pub(crate) async fn set_command(
    client: &Client,
    namespace: &str,
    statefulset: &str,
    container: &str,
    command: &[String],
    expect_current: &[String],
) -> Result<Applied, StepError> {
    let api: Api<StatefulSet> = Api::namespaced(client.clone(), namespace);
    let what = format!("StatefulSet {namespace}/{statefulset}");
    let before = super::kube::read(&format!("get {what}"), api.get(statefulset)).await?;
    let Some(current) = command_of(&before, container) else {
        return Err(StepError::Failed(format!(
            "{what} has no container {container}"
        )));
    };
    if current == command {
        return Ok(Applied::AlreadyDone(format!(
            "{what}'s container {container} already has the new command"
        )));
    }
    if current != expect_current {
        return Err(StepError::Failed(format!(
            "the command of container {container} in {what} changed since the plan was made; nothing was patched"
        )));
    }
    let patch = json!({"spec": {"template": {"spec": {"containers": [
        {"name": container, "command": command}
    ]}}}});
    super::kube::write(
        &format!("patch {what}"),
        api.patch(
            statefulset,
            &super::kube::patch_params(),
            &Patch::Strategic(&patch),
        ),
    )
    .await?;
    let after = super::kube::read(&format!("re-check {what}"), api.get(statefulset)).await?;
    if command_of(&after, container).as_deref() == Some(command) {
        Ok(Applied::Done(format!(
            "{what}'s pod template has the new command (generation {})",
            after.metadata.generation.unwrap_or_default()
        )))
    } else {
        Err(StepError::Failed(format!(
            "the patch of {what} was accepted but the template does not show the new command"
        )))
    }
}

fn strategy_of(sts: &StatefulSet) -> String {
    sts.spec
        .as_ref()
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|u| u.type_.clone())
        .unwrap_or_else(|| "RollingUpdate".to_string())
}

pub(crate) async fn set_update_strategy(
    client: &Client,
    namespace: &str,
    statefulset: &str,
    strategy: &str,
    expect_current: &str,
) -> Result<Applied, StepError> {
    let api: Api<StatefulSet> = Api::namespaced(client.clone(), namespace);
    let what = format!("StatefulSet {namespace}/{statefulset}");
    let before = super::kube::read(&format!("get {what}"), api.get(statefulset)).await?;
    let current = strategy_of(&before);
    if current == strategy {
        return Ok(Applied::AlreadyDone(format!(
            "{what} already updates with {strategy}"
        )));
    }
    if current != expect_current {
        return Err(StepError::Failed(format!(
            "{what}'s update strategy is {current}, not the {expect_current} the plan was made for; nothing was patched"
        )));
    }
    // A merge patch: RollingUpdate's own settings go when OnDelete is set.
    let rolling = if strategy == "RollingUpdate" {
        json!({"partition": 0})
    } else {
        serde_json::Value::Null
    };
    let patch = json!({"spec": {"updateStrategy": {"type": strategy, "rollingUpdate": rolling}}});
    super::kube::write(
        &format!("patch {what}"),
        api.patch(
            statefulset,
            &super::kube::patch_params(),
            &Patch::Merge(&patch),
        ),
    )
    .await?;
    let after = super::kube::read(&format!("re-check {what}"), api.get(statefulset)).await?;
    if strategy_of(&after) == strategy {
        Ok(Applied::Done(format!("{what} updates with {strategy}")))
    } else {
        Err(StepError::Failed(format!(
            "the patch of {what} was accepted but its strategy is {}",
            strategy_of(&after)
        )))
    }
}

fn ready(p: &Pod) -> bool {
    p.metadata.deletion_timestamp().is_none()
        && p.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .any(|c| c.type_() == "Ready" && c.status() == "True")
}

/// Polls until pod `name` carries the StatefulSet's update revision (once the
/// controller has observed the latest generation) and is Ready.
pub(crate) async fn pod_updated(
    client: &Client,
    namespace: &str,
    statefulset: &str,
    name: &str,
    timeout: Duration,
) -> Result<String, StepError> {
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), namespace);
    let pods: Api<ApiPod> = Api::namespaced(client.clone(), namespace);
    let start = Instant::now();
    loop {
        let sts = super::kube::read("get the StatefulSet", sets.get(statefulset)).await?;
        // Until the controller has seen the latest template, its updateRevision is the
        // old one, and every old pod would look updated (as `kubectl rollout status`,
        // trust the status only once observedGeneration caught up).
        let generation = sts.metadata.generation.unwrap_or_default();
        let status = sts.status.unwrap_or_default();
        let observed = status.observed_generation.unwrap_or_default() >= generation;
        let revision = status.update_revision.filter(|_| observed);
        let pod = super::kube::read(&format!("get pod {name}"), pods.get_opt(name)).await?;
        let on = pod.as_ref().and_then(|p| {
            p.metadata
                .labels
                .as_ref()?
                .get("controller-revision-hash")
                .cloned()
        });
        if revision.is_some()
            && on == revision
            && pod.as_ref().is_some_and(|p| ready(&Pod::from(p.clone())))
        {
            return Ok(format!(
                "pod {namespace}/{name} runs revision {} and is Ready",
                revision.unwrap_or_default()
            ));
        }
        if start.elapsed() > timeout {
            return Err(StepError::Failed(format!(
                "pod {namespace}/{name} did not come back on the new revision within {} (it runs {})",
                human_duration(timeout),
                on.unwrap_or_else(|| "no revision".into())
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
