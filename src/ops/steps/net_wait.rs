//! The network fixes' last steps: checking that the symptom is gone, not only that
//! the change was applied. A restarted agent must stay Ready for a while (a
//! crash-looping one is Ready briefly or never) and the pods stuck without a sandbox
//! must get one; when the cause persists the wait stops at the first evidence (the
//! agent's crash, a new sandbox failure) and says what is still wrong, instead of
//! running into its timeout in silence.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Event;
use kube::Client;
use kube::api::{Api, ListParams};

use super::StepError;
use super::kube::read;
use super::kube_wait::pod_ready;
use crate::model::pod::{ApiPod, Pod};
use crate::model::rows::event_last_seen;
use crate::ops::op::{WaitFor, human_duration};

/// What one look at an agent pod shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AgentState {
    Ready,
    /// Not Ready yet and not crashed (creating, starting); the text says which.
    Starting(String),
    /// A container exited or waits in back-off; `last` is its last log line (the
    /// termination message) or the waiting reason.
    Crashed {
        last: String,
    },
}

/// The agent pod's state: Ready wins (a pod that crashed before and runs now counts as
/// up), else any exited container or CrashLoopBackOff is a crash.
pub(crate) fn agent_state(pod: &Pod) -> AgentState {
    if pod_ready(pod) {
        return AgentState::Ready;
    }
    let statuses = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref());
    for cs in statuses.into_iter().flatten() {
        let state = cs.state.as_ref();
        let terminated = state
            .and_then(|s| s.terminated.as_ref())
            .or_else(|| cs.last_state.as_ref().and_then(|l| l.terminated.as_ref()));
        let back_off = state
            .and_then(|s| s.waiting.as_ref())
            .and_then(|w| w.reason.clone())
            .filter(|r| r == "CrashLoopBackOff");
        if let Some(t) = terminated {
            let last = t
                .message
                .as_deref()
                .and_then(|m| m.lines().rev().find(|l| !l.trim().is_empty()))
                .map(|l| l.trim().to_string())
                .or_else(|| t.reason.clone())
                .unwrap_or_else(|| format!("exit code {}", t.exit_code));
            return AgentState::Crashed { last };
        }
        if let Some(reason) = back_off {
            return AgentState::Crashed { last: reason };
        }
    }
    let phase = pod
        .status
        .as_ref()
        .and_then(|s| s.phase.clone())
        .unwrap_or_else(|| "Pending".into());
    AgentState::Starting(format!("{phase}, not Ready"))
}

/// What a crash of `agent` on `node` says about the cause, in the operator's words:
/// a dial timeout to the API server's service VIP is kube-proxy on that node not
/// routing it (no clusterCIDR), which `:set-cluster-cidr` fixes.
pub(crate) fn crash_verdict(agent: &str, node: &str, last: &str) -> String {
    if let Some(target) = dial_timeout_target(last) {
        return format!(
            "{agent} on {node} still cannot reach {target} (its last log line: {last}); likely cause: kube-proxy there runs without a clusterCIDR, so the API server's Service VIP is not routed from the node: :set-cluster-cidr gives it one and restarts it"
        );
    }
    format!("{agent} on {node} crashed again (its last log line: {last})")
}

/// `10.96.0.1:443` from `... dial tcp 10.96.0.1:443: i/o timeout`.
fn dial_timeout_target(line: &str) -> Option<&str> {
    if !line.contains("i/o timeout") {
        return None;
    }
    let rest = &line[line.find("dial tcp ")? + "dial tcp ".len()..];
    let target = rest.split(": ").next()?.trim();
    (!target.is_empty()).then_some(target)
}

/// Polls (every second) the agent pod of `daemonset` on `node` until it has been Ready
/// for `settle` without a restart. `deleted` are the pod uids this run deleted (never
/// the agent looked for); see [`WaitFor::AgentSettled`] for `after_crashes`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn agent_settled(
    client: &Client,
    agent: &str,
    namespace: &str,
    daemonset: &str,
    node: &str,
    settle: Duration,
    after_crashes: bool,
    deleted: &[String],
    timeout: Duration,
    what: &WaitFor,
) -> Result<String, StepError> {
    let deadline = tokio::time::Instant::now() + timeout;
    // (uid, restarts, since) of the pod while it is Ready.
    let mut ready_since: Option<(String, i32, tokio::time::Instant)> = None;
    let mut last_seen = format!("no pod of DaemonSet {namespace}/{daemonset} on {node} yet");
    loop {
        let pod = agent_pod(client, namespace, daemonset, node, deleted).await?;
        if let Some(pod) = &pod {
            let uid = pod
                .metadata
                .uid
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default();
            let name = pod.metadata.name.clone().unwrap_or_default();
            let restarts = restart_count(pod);
            let state = agent_state(pod);
            match (&state, &ready_since) {
                (AgentState::Ready, Some((u, r, since))) if *u == uid && *r == restarts => {
                    if since.elapsed() >= settle {
                        return Ok(format!(
                            "{agent} pod {namespace}/{name} on {node} is Ready and stayed Ready for {}",
                            human_duration(settle)
                        ));
                    }
                }
                (AgentState::Ready, _) => {
                    ready_since = Some((uid, restarts, tokio::time::Instant::now()));
                }
                (AgentState::Crashed { last }, _) => {
                    if !after_crashes || ready_since.is_some() {
                        return Err(StepError::Failed(crash_verdict(agent, node, last)));
                    }
                    last_seen = format!("pod {name} is in back-off; its last log line: {last}");
                }
                (AgentState::Starting(s), _) => {
                    if ready_since.is_some() && !after_crashes {
                        return Err(StepError::Failed(format!(
                            "{agent} on {node} was Ready, then not within {}: {s}",
                            human_duration(settle)
                        )));
                    }
                    ready_since = None;
                    last_seen = format!("pod {name}: {s}");
                }
            }
        } else {
            ready_since = None;
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(StepError::Failed(not_settled(
                what,
                timeout,
                &last_seen,
                node,
                after_crashes,
            )));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The timeout's text: what was last seen, and for an agent that was crash-looping
/// before the fix, that the kubelet's back-off may simply not have restarted it yet.
fn not_settled(
    what: &WaitFor,
    timeout: Duration,
    last_seen: &str,
    node: &str,
    after_crashes: bool,
) -> String {
    let hint = if after_crashes {
        format!(
            "; the kubelet waits up to 5m between restarts of a crashing container: :restart-cni {node} starts it now"
        )
    } else {
        String::new()
    };
    format!(
        "{what}: not reached within {} ({last_seen}){hint}",
        human_duration(timeout)
    )
}

fn restart_count(pod: &Pod) -> i32 {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
        .map(|c| c.restart_count)
        .sum()
}

/// The live pod of `daemonset` on `node` that is none of `deleted`, if any.
async fn agent_pod(
    client: &Client,
    namespace: &str,
    daemonset: &str,
    node: &str,
    deleted: &[String],
) -> Result<Option<Pod>, StepError> {
    let pods = super::kube_wait::daemon_pods(client, namespace, daemonset, node, deleted).await?;
    Ok(pods
        .into_iter()
        .find(|p| p.metadata.deletion_timestamp().is_none()))
}

/// `namespace/name` of the pods stuck on their sandbox: not host-network, not being
/// deleted, Pending without an IP, and with a FailedCreatePodSandBox event (a pod
/// Pending for another reason, such as a volume that cannot attach, is not the
/// network fix's to wait for).
pub(crate) fn waiting_for_sandbox(pods: &[Pod], events: &[Event]) -> Vec<String> {
    let failed: Vec<String> = events
        .iter()
        .filter(|e| e.reason.as_deref() == Some("FailedCreatePodSandBox"))
        .map(|e| pod_key(&e.involved_object))
        .collect();
    pods.iter()
        .filter(|p| p.metadata.deletion_timestamp().is_none())
        .filter(|p| {
            !p.spec
                .as_ref()
                .and_then(|s| s.host_network)
                .unwrap_or(false)
        })
        .filter(|p| {
            let status = p.status.as_ref();
            let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or("Pending");
            let ip = status.and_then(|s| s.pod_ip.as_deref()).unwrap_or("");
            phase == "Pending" && ip.is_empty()
        })
        .map(|p| {
            format!(
                "{}/{}",
                p.metadata.namespace.as_deref().unwrap_or_default(),
                p.metadata.name.as_deref().unwrap_or_default()
            )
        })
        .filter(|p| failed.contains(p))
        .collect()
}

fn pod_key(o: &k8s_openapi::api::core::v1::ObjectReference) -> String {
    format!(
        "{}/{}",
        o.namespace.as_deref().unwrap_or_default(),
        o.name.as_deref().unwrap_or_default()
    )
}

/// The newest sandbox failure seen after `since` for one of `waiting`: `(pod, the
/// plugin's error)`.
pub(crate) fn fresh_sandbox_failure(
    events: &[Event],
    waiting: &[String],
    since: Timestamp,
) -> Option<(String, String)> {
    events
        .iter()
        .filter(|e| e.reason.as_deref() == Some("FailedCreatePodSandBox"))
        .filter_map(|e| {
            let pod = pod_key(&e.involved_object);
            let seen = event_last_seen(e)?;
            (seen > since && waiting.contains(&pod)).then_some((seen, pod, e))
        })
        .max_by_key(|(seen, _, _)| *seen)
        .map(|(_, pod, e)| (pod, plugin_error(e.message.as_deref().unwrap_or_default())))
}

/// The CNI plugin's own words at the end of the kubelet's sandbox failure message.
fn plugin_error(message: &str) -> String {
    message
        .split_once(" network: ")
        .map_or(message, |(_, e)| e)
        .trim()
        .to_string()
}

/// Polls (every second) until no pod on `node` waits for a sandbox; a sandbox failure
/// newer than the step's start stops it with that failure.
pub(crate) async fn pod_network_on_node(
    client: &Client,
    node: &str,
    timeout: Duration,
    what: &WaitFor,
) -> Result<String, StepError> {
    // Event times have whole seconds: only a failure from a later second is new.
    let since = Timestamp::now();
    let deadline = tokio::time::Instant::now() + timeout;
    let pods_api: Api<ApiPod> = Api::all(client.clone());
    let events_api: Api<Event> = Api::all(client.clone());
    let on_node = ListParams::default().fields(&format!("spec.nodeName={node}"));
    let failures = ListParams::default().fields("reason=FailedCreatePodSandBox");
    let mut first: Option<usize> = None;
    loop {
        let pods = read(&format!("list pods on {node}"), pods_api.list(&on_node)).await?;
        let events = read("list sandbox failures", events_api.list(&failures)).await?;
        let pods: Vec<Pod> = pods.items.into_iter().map(Pod::from).collect();
        let waiting = waiting_for_sandbox(&pods, &events.items);
        let at_start = *first.get_or_insert(waiting.len());
        if waiting.is_empty() {
            return Ok(match at_start {
                0 => format!("no pod on {node} waits for a pod sandbox"),
                n => format!(
                    "the {n} pod{} on {node} that waited for a pod sandbox have one",
                    if n == 1 { "" } else { "s" }
                ),
            });
        }
        if let Some((pod, error)) = fresh_sandbox_failure(&events.items, &waiting, since) {
            return Err(StepError::Failed(format!(
                "{} pod{} on {node} still get no sandbox; the newest failure, for {pod}: {error}",
                waiting.len(),
                if waiting.len() == 1 { "" } else { "s" }
            )));
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(StepError::Failed(format!(
                "{what}: not reached within {}; still waiting: {}",
                human_duration(timeout),
                waiting.join(", ")
            )));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).unwrap_or_else(|e| panic!("pod fixture: {e}"))
    }

    const TIMEOUT_LINE: &str = "E1204 00:10:00.000000       1 main.go:240] Failed to create SubnetManager: error retrieving pod spec for 'kube-flannel/kube-flannel-ds-x': Get \"https://10.96.0.1:443/api/v1/namespaces/kube-flannel/pods/kube-flannel-ds-x\": dial tcp 10.96.0.1:443: i/o timeout";

    fn agent(ready: bool, status: serde_json::Value) -> Pod {
        pod(serde_json::json!({
            "metadata": {"namespace": "kube-flannel", "name": "kube-flannel-ds-x"},
            "spec": {"nodeName": "node2", "containers": [{"name": "kube-flannel"}]},
            "status": {
                "phase": "Running",
                "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
                "containerStatuses": [status]
            }
        }))
    }

    #[test]
    fn a_crash_is_the_last_log_line_and_ready_wins() {
        let crashed = agent(
            false,
            serde_json::json!({"name": "kube-flannel", "image": "f", "imageID": "", "ready": false,
                "restartCount": 2, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 1, "message": format!("starting\n{TIMEOUT_LINE}\n")}}}),
        );
        assert_eq!(
            agent_state(&crashed),
            AgentState::Crashed {
                last: TIMEOUT_LINE.into()
            }
        );
        let running = agent(
            false,
            serde_json::json!({"name": "kube-flannel", "image": "f", "imageID": "", "ready": false,
                "restartCount": 0, "state": {"running": {}}}),
        );
        assert_eq!(
            agent_state(&running),
            AgentState::Starting("Running, not Ready".into())
        );
        let back = agent(
            true,
            serde_json::json!({"name": "kube-flannel", "image": "f", "imageID": "", "ready": true,
                "restartCount": 3, "state": {"running": {}},
                "lastState": {"terminated": {"exitCode": 1, "message": TIMEOUT_LINE}}}),
        );
        assert_eq!(agent_state(&back), AgentState::Ready);
    }

    #[test]
    fn a_dial_timeout_names_the_vip_and_kube_proxy() {
        let text = crash_verdict("flannel", "node2", TIMEOUT_LINE);
        assert!(
            text.starts_with(
                "flannel on node2 still cannot reach 10.96.0.1:443 (its last log line: E1204"
            ),
            "{text}"
        );
        assert!(
            text.contains("kube-proxy there runs without a clusterCIDR"),
            "{text}"
        );
        assert!(text.ends_with(":set-cluster-cidr gives it one and restarts it"));
        assert_eq!(
            crash_verdict("calico", "n1", "open /etc/x: permission denied"),
            "calico on n1 crashed again (its last log line: open /etc/x: permission denied)"
        );
        assert_eq!(
            dial_timeout_target("dial tcp 10.96.0.1:443: connection refused"),
            None
        );
    }

    #[test]
    fn an_agent_still_in_back_off_points_at_restart_cni() {
        let what = WaitFor::AgentSettled {
            agent: "flannel".into(),
            namespace: "kube-flannel".into(),
            daemonset: "kube-flannel-ds".into(),
            node: "node2".into(),
            settle: Duration::from_secs(5),
            after_crashes: true,
        };
        let text = not_settled(
            &what,
            Duration::from_secs(90),
            "pod kube-flannel-ds-x is in back-off; its last log line: x",
            "node2",
            true,
        );
        assert!(
            text.starts_with("the crash-looping flannel agent on node2 (DaemonSet kube-flannel/kube-flannel-ds) to start again, be Ready and stay Ready for 5s: not reached within 1m30s (pod kube-flannel-ds-x is in back-off"),
            "{text}"
        );
        assert!(text.ends_with(":restart-cni node2 starts it now"), "{text}");
        assert!(
            !not_settled(&what, Duration::from_secs(90), "-", "node2", false)
                .contains("restart-cni")
        );
    }

    fn workload(name: &str, status: serde_json::Value, host_network: bool) -> Pod {
        pod(serde_json::json!({
            "metadata": {"namespace": "demo", "name": name},
            "spec": {"nodeName": "node1", "hostNetwork": host_network, "containers": [{"name": "c"}]},
            "status": status
        }))
    }

    fn failure(pod: &str, at: &str, message: &str) -> Event {
        serde_json::from_value(serde_json::json!({
            "metadata": {"namespace": "demo", "name": format!("{pod}.1")},
            "involvedObject": {"kind": "Pod", "namespace": "demo", "name": pod},
            "reason": "FailedCreatePodSandBox",
            "message": message,
            "lastTimestamp": at
        }))
        .unwrap_or_else(|e| panic!("event fixture: {e}"))
    }

    #[test]
    fn only_pods_without_an_ip_wait_and_only_newer_failures_count() {
        let pods = [
            workload("stuck", serde_json::json!({"phase": "Pending"}), false),
            workload(
                "running",
                serde_json::json!({"phase": "Running", "podIP": "10.244.1.9"}),
                false,
            ),
            workload("host", serde_json::json!({"phase": "Pending"}), true),
            workload("mounting", serde_json::json!({"phase": "Pending"}), false),
        ];
        let since: Timestamp = "2026-12-04T01:00:00Z"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        let msg = "Failed to create pod sandbox: ... networkPlugin cni failed to set up pod \"stuck_demo\" network: failed to allocate for range 0: no IP addresses available in network: cbr0";
        let old = [
            failure("stuck", "2026-12-04T01:00:00Z", msg),
            failure("host", "2026-12-04T01:00:00Z", msg),
        ];
        // "mounting" has had no sandbox failure: it waits for something else.
        let waiting = waiting_for_sandbox(&pods, &old);
        assert_eq!(waiting, ["demo/stuck"]);
        assert_eq!(fresh_sandbox_failure(&old, &waiting, since), None);
        let new = [
            failure("stuck", "2026-12-04T01:00:05Z", msg),
            failure("running", "2026-12-04T01:00:09Z", "other"),
        ];
        assert_eq!(
            fresh_sandbox_failure(&new, &waiting, since),
            Some((
                "demo/stuck".into(),
                "failed to allocate for range 0: no IP addresses available in network: cbr0".into()
            ))
        );
    }
}
