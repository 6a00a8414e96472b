//! Running a script on another node through a short-lived privileged pod, as
//! `kubectl debug node/NAME` does: the node's `/` mounted at `/host` (read-only unless
//! the step changes files), host network, tolerating every taint, never restarted.
//! The script's output comes back as the pod's log; the pod is deleted afterwards
//! whatever happened, and a pod that cannot be deleted is named so the operator can.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, DeleteParams, LogParams, PostParams};
use serde_json::json;

use super::StepError;
use super::kube::{read, write};

/// The image a debug pod runs when none is given: a shell and coreutils, nothing else.
pub const DEFAULT_DEBUG_IMAGE: &str = "docker.io/library/busybox:1.36";
/// Where debug pods are created: kube-system admits privileged pods under the
/// Pod Security defaults, and its operators already own it.
pub const DEFAULT_DEBUG_NAMESPACE: &str = "kube-system";

/// The label every debug pod carries, so leftovers are easy to find
/// (`kubectl get pods -A -l kcops.io/node-debug`).
const LABEL: &str = "kcops.io/node-debug";
const CONTAINER: &str = "debugger";

/// How a debug pod runs (`--debug-image`, `--debug-namespace`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebugPodSpec {
    pub namespace: String,
    pub image: String,
}

impl Default for DebugPodSpec {
    fn default() -> Self {
        DebugPodSpec {
            namespace: DEFAULT_DEBUG_NAMESPACE.into(),
            image: DEFAULT_DEBUG_IMAGE.into(),
        }
    }
}

/// What a script run on a node printed.
pub(crate) struct DebugRun {
    pub pod: String,
    pub logs: String,
    /// A failure to delete the pod afterwards, in words; the run itself stands.
    pub cleanup: Option<String>,
}

/// How long a debug pod may take from creation to exit.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a pod may wait on its image before the run says why.
const PULL_PATIENCE: Duration = Duration::from_secs(20);

/// The pod object: `sh -c SCRIPT kcops ARGS...` in `spec.image` on `node`.
pub(crate) fn pod_manifest(
    spec: &DebugPodSpec,
    node: &str,
    purpose: &str,
    script: &str,
    args: &[String],
    writable: bool,
) -> serde_json::Value {
    let mut command = vec!["sh".to_string(), "-c".into(), script.into(), "kcops".into()];
    command.extend(args.iter().cloned());
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": format!("kcops-debug-{}-", short(node)),
            "namespace": spec.namespace,
            "labels": {LABEL: purpose, "app.kubernetes.io/managed-by": "kcops"},
            "annotations": {"kcops.io/node": node},
        },
        "spec": {
            "nodeName": node,
            "restartPolicy": "Never",
            "hostNetwork": true,
            "hostPID": true,
            "activeDeadlineSeconds": RUN_TIMEOUT.as_secs(),
            "terminationGracePeriodSeconds": 0,
            "tolerations": [{"operator": "Exists"}],
            "containers": [{
                "name": CONTAINER,
                "image": spec.image,
                "imagePullPolicy": "IfNotPresent",
                "command": command,
                "securityContext": {"privileged": true},
                "volumeMounts": [{"name": "host-root", "mountPath": "/host", "readOnly": !writable}],
            }],
            "volumes": [{"name": "host-root", "hostPath": {"path": "/"}}],
        },
    })
}

/// A node name cut to keep the generated pod name readable and within limits.
fn short(node: &str) -> String {
    let s: String = node
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(40)
        .collect();
    s.trim_matches('-').to_string()
}

/// Creates the pod, waits for it to exit, reads its log and deletes it.
pub(crate) async fn run_on_node(
    client: &Client,
    spec: &DebugPodSpec,
    node: &str,
    purpose: &str,
    script: &str,
    args: &[String],
    writable: bool,
) -> Result<DebugRun, StepError> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), &spec.namespace);
    let manifest: Pod =
        serde_json::from_value(pod_manifest(spec, node, purpose, script, args, writable))
            .map_err(|e| StepError::Failed(format!("building the debug pod: {e}")))?;
    let created = write(
        &format!("create a debug pod in {} on {node}", spec.namespace),
        pods.create(&PostParams::default(), &manifest),
    )
    .await?;
    let name = created.metadata.name.clone().unwrap_or_default();
    let outcome = wait_and_read(&pods, spec, node, &name).await;
    let cleanup = delete(&pods, &spec.namespace, &name).await;
    let logs = outcome?;
    Ok(DebugRun {
        pod: format!("{}/{name}", spec.namespace),
        logs,
        cleanup,
    })
}

async fn wait_and_read(
    pods: &Api<Pod>,
    spec: &DebugPodSpec,
    node: &str,
    name: &str,
) -> Result<String, StepError> {
    let started = Instant::now();
    let what = format!("debug pod {}/{name} on {node}", spec.namespace);
    loop {
        let pod = read(&format!("get {what}"), pods.get(name)).await?;
        let status = pod.status.unwrap_or_default();
        let phase = status.phase.unwrap_or_default();
        if phase == "Succeeded" || phase == "Failed" {
            break;
        }
        let waiting = status
            .container_statuses
            .unwrap_or_default()
            .into_iter()
            .find_map(|c| c.state.and_then(|s| s.waiting));
        if let Some(w) = &waiting {
            let reason = w.reason.clone().unwrap_or_default();
            let pulling = matches!(
                reason.as_str(),
                "ErrImagePull" | "ImagePullBackOff" | "InvalidImageName" | "ErrImageNeverPull"
            );
            if pulling && started.elapsed() > PULL_PATIENCE {
                return Err(StepError::Failed(format!(
                    "{what} cannot start: {reason} for image {} ({}); give an image node {node} can pull with --debug-image",
                    spec.image,
                    w.message.clone().unwrap_or_default()
                )));
            }
        }
        if started.elapsed() > RUN_TIMEOUT {
            let state = waiting
                .and_then(|w| w.reason)
                .map(|r| format!("{phase}, {r}"))
                .unwrap_or(phase);
            return Err(StepError::Failed(format!(
                "{what} did not finish within {}s (still {state}); is node {node}'s kubelet running?",
                RUN_TIMEOUT.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let params = LogParams {
        container: Some(CONTAINER.into()),
        ..LogParams::default()
    };
    read(&format!("read the log of {what}"), pods.logs(name, &params)).await
}

/// Deletes the pod at once; says what to do by hand when it cannot.
async fn delete(pods: &Api<Pod>, namespace: &str, name: &str) -> Option<String> {
    let params = DeleteParams {
        grace_period_seconds: Some(0),
        ..DeleteParams::default()
    };
    match write(
        &format!("delete debug pod {namespace}/{name}"),
        pods.delete(name, &params),
    )
    .await
    {
        Ok(_) => None,
        Err(e) => Some(format!(
            "the debug pod was not deleted ({}); delete it with `kubectl -n {namespace} delete pod {name}`",
            e.text()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_mounts_the_host_read_only_unless_asked_and_tolerates_everything() {
        let m = pod_manifest(
            &DebugPodSpec::default(),
            "Node_1.example",
            "probe",
            "echo hi",
            &["a".into()],
            false,
        );
        assert_eq!(m["metadata"]["generateName"], "kcops-debug-node-1-example-");
        assert_eq!(m["spec"]["nodeName"], "Node_1.example");
        assert_eq!(m["spec"]["restartPolicy"], "Never");
        assert_eq!(m["spec"]["tolerations"][0]["operator"], "Exists");
        let c = &m["spec"]["containers"][0];
        assert_eq!(c["command"], json!(["sh", "-c", "echo hi", "kcops", "a"]));
        assert_eq!(c["volumeMounts"][0]["readOnly"], true);
        assert_eq!(c["image"], DEFAULT_DEBUG_IMAGE);
        let w = pod_manifest(&DebugPodSpec::default(), "n", "release", "x", &[], true);
        assert_eq!(
            w["spec"]["containers"][0]["volumeMounts"][0]["readOnly"],
            false
        );
        assert!(serde_json::from_value::<Pod>(m).is_ok());
    }
}
