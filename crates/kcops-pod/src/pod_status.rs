//! The pod STATUS, READY and RESTARTS columns exactly as `kubectl get pods` prints them.
//!
//! A port of `printPod` in Kubernetes v1.32 `pkg/printers/internalversion/printers.go`
//! (which the apiserver runs to build the Table kubectl prints) and of `HumanDuration` in
//! `k8s.io/apimachinery/pkg/util/duration`. Operators read these strings on real
//! clusters, so the console and the lab must produce the very same ones.

use std::time::Duration;

use crate::pod::PodCondition;
use crate::pod::{Container, ContainerStatus, Pod};
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};

/// The pod's STATUS column (`Running`, `Init:1/2`, `CrashLoopBackOff`, `Terminating`...).
pub fn pod_status(pod: &Pod) -> String {
    summarize(pod).reason
}

/// The pod's READY column as `(ready, total)`, printed `ready/total`.
pub fn pod_ready(pod: &Pod) -> (usize, usize) {
    let s = summarize(pod);
    (s.ready, s.total)
}

/// The pod's RESTARTS column: `0`, or `3 (42s ago)` when the last restart time is known.
pub fn pod_restarts(pod: &Pod, now: Timestamp) -> String {
    summarize(pod).restarts_cell(now)
}

/// READY, STATUS and RESTARTS in one pass, for tables of many pods.
pub fn pod_columns(pod: &Pod, now: Timestamp) -> (String, String, String) {
    let s = summarize(pod);
    let restarts = s.restarts_cell(now);
    (format!("{}/{}", s.ready, s.total), s.reason, restarts)
}

/// Go's `duration.HumanDuration`: a short duration with 2-3 significant figures.
pub fn human_duration(d: Duration) -> String {
    human_nanos(i128::try_from(d.as_nanos()).unwrap_or(i128::MAX))
}

/// `HumanDuration(now - then)`, keeping Go's handling of clock skew (`0s`, `<invalid>`).
pub fn human_since(then: Timestamp, now: Timestamp) -> String {
    human_signed(now.duration_since(then))
}

/// `HumanDuration` of a signed duration, as Go computes it for `time.Since`.
pub fn human_signed(d: SignedDuration) -> String {
    human_nanos(d.as_nanos())
}

/// kubectl's `translateTimestampSince`: the AGE column, `<unknown>` without a time.
pub fn age(then: Option<Timestamp>, now: Timestamp) -> String {
    match then {
        Some(t) => human_since(t, now),
        None => "<unknown>".to_string(),
    }
}

/// A Kubernetes `Time` as a jiff timestamp (k8s-openapi holds one since 0.27); an
/// `Option` so callers keep one shape for "no time".
pub fn timestamp(t: &Time) -> Option<Timestamp> {
    Some(t.0)
}

/// A Kubernetes `MicroTime` (events' `eventTime`, series) as a jiff timestamp.
pub fn micro_timestamp(t: &MicroTime) -> Option<Timestamp> {
    Some(t.0)
}

fn human_nanos(nanos: i128) -> String {
    const SEC: i128 = 1_000_000_000;
    const MIN: i128 = 60 * SEC;
    const HOUR: i128 = 60 * MIN;
    // Go truncates toward zero, as Rust's integer division does.
    let seconds = nanos / SEC;
    if seconds < -1 {
        return "<invalid>".to_string();
    } else if seconds < 0 {
        return "0s".to_string();
    } else if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = nanos / MIN;
    if minutes < 10 {
        let s = seconds % 60;
        if s == 0 {
            return format!("{minutes}m");
        }
        return format!("{minutes}m{s}s");
    } else if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = nanos / HOUR;
    if hours < 8 {
        let m = minutes % 60;
        if m == 0 {
            return format!("{hours}h");
        }
        format!("{hours}h{m}m")
    } else if hours < 48 {
        format!("{hours}h")
    } else if hours < 24 * 8 {
        let h = hours % 24;
        if h == 0 {
            return format!("{}d", hours / 24);
        }
        format!("{}d{}h", hours / 24, h)
    } else if hours < 24 * 365 * 2 {
        format!("{}d", hours / 24)
    } else if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        if dy == 0 {
            return format!("{}y", hours / 24 / 365);
        }
        format!("{}y{}d", hours / 24 / 365, dy)
    } else {
        format!("{}y", hours / 24 / 365)
    }
}

/// Everything `printPod` derives from one pass over the statuses: a table of many
/// pods keeps this (or less) and prints the cells when they are drawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The STATUS column.
    pub reason: String,
    /// READY is `ready/total`.
    pub ready: usize,
    pub total: usize,
    pub restarts: i64,
    /// When the last restart's container ended: RESTARTS then says how long ago.
    pub last_restart: Option<Timestamp>,
}

impl Summary {
    /// The RESTARTS cell as of `now`: `0`, or `3 (42s ago)`.
    pub fn restarts_cell(&self, now: Timestamp) -> String {
        restarts_text(self.restarts, self.last_restart, now)
    }
}

/// The RESTARTS cell of `restarts` restarts, the last ended at `last` (if known).
pub fn restarts_text(restarts: i64, last: Option<Timestamp>, now: Timestamp) -> String {
    match last {
        Some(at) if restarts != 0 => format!("{restarts} ({} ago)", human_since(at, now)),
        _ => restarts.to_string(),
    }
}

/// Pod phases after which a pod being deleted is no longer shown as `Terminating`.
fn is_terminal_phase(phase: &str) -> bool {
    phase == "Succeeded" || phase == "Failed"
}

/// `podutil.IsRestartableInitContainer`: a sidecar (`restartPolicy: Always`).
fn is_restartable(container: Option<&Container>) -> bool {
    container.and_then(|c| c.restart_policy.as_deref()) == Some("Always")
}

fn has_pod_ready_condition(conditions: &[PodCondition]) -> bool {
    conditions
        .iter()
        .any(|c| c.type_() == "Ready" && c.status() == "True")
}

/// Only the first `Initialized` condition counts, as in Go.
fn is_pod_initialized(conditions: &[PodCondition]) -> bool {
    conditions
        .iter()
        .find(|c| c.type_() == "Initialized")
        .is_some_and(|c| c.status() == "True")
}

/// Finish time of the container's last termination, if any.
fn last_termination(status: &ContainerStatus) -> Option<Timestamp> {
    status
        .last_state
        .as_ref()?
        .terminated
        .as_ref()?
        .finished_at
        .as_ref()
        .and_then(timestamp)
}

fn later(current: Option<Timestamp>, candidate: Option<Timestamp>) -> Option<Timestamp> {
    match (current, candidate) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

/// READY, STATUS and RESTARTS of `pod` in one pass over its statuses.
pub fn summarize(pod: &Pod) -> Summary {
    let empty_status = Default::default();
    let status = pod.status.as_ref().unwrap_or(&empty_status);
    let empty_spec = Default::default();
    let spec = pod.spec.as_ref().unwrap_or(&empty_spec);
    let conditions = status.conditions.as_deref().unwrap_or_default();
    let init_specs = spec.init_containers().unwrap_or_default();
    let init_statuses = status.init_container_statuses().unwrap_or_default();
    let statuses = status.container_statuses.as_deref().unwrap_or_default();

    // A pod the server has accepted always has a phase; Pending is what it defaults to.
    let phase = status.phase.as_deref().unwrap_or("Pending");
    let mut reason = status
        .reason()
        .filter(|r| !r.is_empty())
        .unwrap_or(phase)
        .to_string();
    if conditions
        .iter()
        .any(|c| c.type_() == "PodScheduled" && c.reason() == Some("SchedulingGated"))
    {
        reason = "SchedulingGated".to_string();
    }

    let mut total = spec.containers.len();
    let mut ready = 0usize;
    let mut restarts: i64 = 0;
    let mut sidecar_restarts: i64 = 0;
    let mut last_restart: Option<Timestamp> = None;
    let mut last_sidecar_restart: Option<Timestamp> = None;

    let init_spec = |name: &str| init_specs.iter().find(|c| c.name == name);
    total += init_specs
        .iter()
        .filter(|c| is_restartable(Some(c)))
        .count();

    let mut initializing = false;
    for (i, container) in init_statuses.iter().enumerate() {
        restarts += i64::from(container.restart_count);
        let terminated_at = last_termination(container);
        last_restart = later(last_restart, terminated_at);
        let restartable = is_restartable(init_spec(&container.name));
        if restartable {
            sidecar_restarts += i64::from(container.restart_count);
            last_sidecar_restart = later(last_sidecar_restart, terminated_at);
        }
        let state = container.state.as_ref();
        let terminated = state.and_then(|s| s.terminated.as_ref());
        let waiting_reason = state
            .and_then(|s| s.waiting.as_ref())
            .and_then(|w| non_empty(&w.reason));
        if terminated.is_some_and(|t| t.exit_code == 0) {
            continue;
        }
        if restartable && container.started == Some(true) {
            if container.ready {
                ready += 1;
            }
            continue;
        }
        if let Some(t) = terminated {
            reason = match non_empty(&t.reason) {
                Some(r) => format!("Init:{r}"),
                None => match t.signal.filter(|s| *s != 0) {
                    Some(signal) => format!("Init:Signal:{signal}"),
                    None => format!("Init:ExitCode:{}", t.exit_code),
                },
            };
        } else if let Some(w) = waiting_reason.filter(|r| *r != "PodInitializing") {
            reason = format!("Init:{w}");
        } else {
            reason = format!("Init:{}/{}", i, init_specs.len());
        }
        initializing = true;
        break;
    }

    if !initializing || is_pod_initialized(conditions) {
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut has_running = false;
        for container in statuses.iter().rev() {
            restarts += i64::from(container.restart_count);
            last_restart = later(last_restart, last_termination(container));
            let state = container.state.as_ref();
            let waiting = state.and_then(|s| s.waiting.as_ref());
            let terminated = state.and_then(|s| s.terminated.as_ref());
            if let Some(r) = waiting.and_then(|w| non_empty(&w.reason)) {
                reason = r.to_string();
            } else if let Some(t) = terminated {
                reason = match non_empty(&t.reason) {
                    Some(r) => r.to_string(),
                    None => match t.signal.filter(|s| *s != 0) {
                        Some(signal) => format!("Signal:{signal}"),
                        None => format!("ExitCode:{}", t.exit_code),
                    },
                };
            } else if container.ready && state.is_some_and(|s| s.running.is_some()) {
                has_running = true;
                ready += 1;
            }
        }
        // A pod reading "Completed" with a container still running is not finished.
        if reason == "Completed" && has_running {
            reason = if has_pod_ready_condition(conditions) {
                "Running".to_string()
            } else {
                "NotReady".to_string()
            };
        }
    }

    if pod.metadata.deletion_timestamp().is_some() {
        if status.reason() == Some("NodeLost") {
            reason = "Unknown".to_string();
        } else if !is_terminal_phase(phase) {
            reason = "Terminating".to_string();
        }
    }

    Summary {
        reason,
        ready,
        total,
        restarts,
        last_restart,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    fn now() -> Timestamp {
        "2025-01-01T12:00:00Z".parse().unwrap()
    }

    fn running(name: &str, ready: bool, restarts: i32) -> serde_json::Value {
        json!({"name": name, "image": "i", "imageID": "", "ready": ready,
               "restartCount": restarts, "state": {"running": {"startedAt": "2025-01-01T11:00:00Z"}}})
    }

    fn waiting(name: &str, reason: &str) -> serde_json::Value {
        json!({"name": name, "image": "i", "imageID": "", "ready": false,
               "restartCount": 0, "state": {"waiting": {"reason": reason}}})
    }

    fn terminated(name: &str, reason: Option<&str>, code: i32, signal: i32) -> serde_json::Value {
        let mut t = json!({"exitCode": code, "signal": signal});
        if let Some(r) = reason {
            t["reason"] = json!(r);
        }
        json!({"name": name, "image": "i", "imageID": "", "ready": false,
               "restartCount": 0, "state": {"terminated": t}})
    }

    fn simple(phase: &str, statuses: Vec<serde_json::Value>) -> Pod {
        let names: Vec<_> = statuses
            .iter()
            .map(|s| json!({"name": s["name"]}))
            .collect();
        pod(json!({
            "metadata": {"name": "p"},
            "spec": {"containers": names},
            "status": {"phase": phase, "containerStatuses": statuses},
        }))
    }

    #[test]
    fn human_duration_matches_go() {
        let cases = [
            (0, "0s"),
            (45, "45s"),
            (119, "119s"),
            (120, "2m"),
            (310, "5m10s"),
            (599, "9m59s"),
            (600, "10m"),
            (179 * 60 + 59, "179m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 5 * 60, "3h5m"),
            (8 * 3600, "8h"),
            (47 * 3600, "47h"),
            (48 * 3600, "2d"),
            (51 * 3600, "2d3h"),
            (8 * 86400, "8d"),
            (20 * 86400, "20d"),
            (729 * 86400, "729d"),
            (730 * 86400, "2y"),
            (731 * 86400, "2y1d"),
            (8 * 365 * 86400, "8y"),
            (10 * 365 * 86400, "10y"),
        ];
        for (secs, want) in cases {
            assert_eq!(human_duration(Duration::from_secs(secs)), want, "{secs}s");
        }
    }

    #[test]
    fn human_since_tolerates_small_skew() {
        let n = now();
        let future = |ms: i64| n + SignedDuration::from_millis(ms);
        assert_eq!(human_since(future(1500), n), "0s");
        assert_eq!(human_since(future(500), n), "0s");
        assert_eq!(human_since(future(2500), n), "<invalid>");
        assert_eq!(age(None, n), "<unknown>");
    }

    #[test]
    fn running_pod() {
        let p = simple(
            "Running",
            vec![running("a", true, 0), running("b", true, 0)],
        );
        assert_eq!(pod_status(&p), "Running");
        assert_eq!(pod_ready(&p), (2, 2));
        assert_eq!(pod_restarts(&p, now()), "0");
    }

    #[test]
    fn pending_without_statuses() {
        let p = pod(json!({"metadata": {"name": "p"},
            "spec": {"containers": [{"name": "a"}]}, "status": {"phase": "Pending"}}));
        assert_eq!(pod_status(&p), "Pending");
        assert_eq!(pod_ready(&p), (0, 1));
    }

    #[test]
    fn status_reason_wins_over_phase() {
        let p = pod(
            json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Failed", "reason": "Evicted"}}),
        );
        assert_eq!(pod_status(&p), "Evicted");
    }

    #[test]
    fn waiting_reasons() {
        for r in [
            "ContainerCreating",
            "CrashLoopBackOff",
            "ImagePullBackOff",
            "ErrImagePull",
        ] {
            let p = simple("Pending", vec![waiting("a", r)]);
            assert_eq!(pod_status(&p), r);
        }
        // The first container's state is reported, as kubectl walks them backwards.
        let p = simple(
            "Running",
            vec![waiting("a", "CrashLoopBackOff"), running("b", true, 0)],
        );
        assert_eq!(pod_status(&p), "CrashLoopBackOff");
        assert_eq!(pod_ready(&p), (1, 2));
    }

    #[test]
    fn terminated_reasons() {
        let p = simple("Succeeded", vec![terminated("a", Some("Completed"), 0, 0)]);
        assert_eq!(pod_status(&p), "Completed");
        let p = simple("Failed", vec![terminated("a", Some("Error"), 1, 0)]);
        assert_eq!(pod_status(&p), "Error");
        let p = simple("Failed", vec![terminated("a", None, 0, 9)]);
        assert_eq!(pod_status(&p), "Signal:9");
        let p = simple("Failed", vec![terminated("a", None, 137, 0)]);
        assert_eq!(pod_status(&p), "ExitCode:137");
    }

    #[test]
    fn completed_with_running_container_is_running_or_not_ready() {
        let mut p = simple(
            "Running",
            vec![
                terminated("a", Some("Completed"), 0, 0),
                running("b", true, 0),
            ],
        );
        assert_eq!(pod_status(&p), "NotReady");
        let cond: PodCondition =
            serde_json::from_value(json!({"type": "Ready", "status": "True"})).unwrap();
        if let Some(s) = p.status.as_mut() {
            s.conditions = Some(vec![cond].into());
        }
        assert_eq!(pod_status(&p), "Running");
    }

    fn with_init(init: Vec<serde_json::Value>, init_specs: serde_json::Value) -> Pod {
        pod(json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "main"}], "initContainers": init_specs},
            "status": {"phase": "Pending", "initContainerStatuses": init,
                       "containerStatuses": [waiting("main", "PodInitializing")]},
        }))
    }

    #[test]
    fn init_containers() {
        let specs = json!([{"name": "i1"}, {"name": "i2"}]);
        let p = with_init(
            vec![
                terminated("i1", Some("Completed"), 0, 0),
                running("i2", false, 0),
            ],
            specs.clone(),
        );
        assert_eq!(pod_status(&p), "Init:1/2");
        assert_eq!(pod_ready(&p), (0, 1));

        let p = with_init(
            vec![
                waiting("i1", "CrashLoopBackOff"),
                waiting("i2", "PodInitializing"),
            ],
            specs.clone(),
        );
        assert_eq!(pod_status(&p), "Init:CrashLoopBackOff");

        let p = with_init(
            vec![
                waiting("i1", "PodInitializing"),
                waiting("i2", "PodInitializing"),
            ],
            specs.clone(),
        );
        assert_eq!(pod_status(&p), "Init:0/2");

        let p = with_init(vec![terminated("i1", Some("Error"), 1, 0)], specs.clone());
        assert_eq!(pod_status(&p), "Init:Error");
        let p = with_init(vec![terminated("i1", None, 3, 0)], specs.clone());
        assert_eq!(pod_status(&p), "Init:ExitCode:3");
        let p = with_init(vec![terminated("i1", None, 143, 15)], specs);
        assert_eq!(pod_status(&p), "Init:Signal:15");
    }

    #[test]
    fn sidecar_counts_in_ready_and_restarts() {
        let mut sidecar = running("side", true, 2);
        sidecar["started"] = json!(true);
        sidecar["lastState"] =
            json!({"terminated": {"exitCode": 1, "finishedAt": "2025-01-01T11:59:18Z"}});
        let p = pod(json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "main"}],
                     "initContainers": [{"name": "side", "restartPolicy": "Always"}]},
            "status": {"phase": "Running", "initContainerStatuses": [sidecar],
                       "containerStatuses": [running("main", true, 1)]},
        }));
        assert_eq!(pod_status(&p), "Running");
        assert_eq!(pod_ready(&p), (2, 2));
        assert_eq!(pod_restarts(&p, now()), "3 (42s ago)");
        let cols = pod_columns(&p, now());
        assert_eq!(cols, ("2/2".into(), "Running".into(), "3 (42s ago)".into()));
    }

    #[test]
    fn restarts_with_last_termination() {
        let mut c = waiting("a", "CrashLoopBackOff");
        c["restartCount"] = json!(5);
        c["lastState"] = json!({"terminated": {"exitCode": 1, "reason": "Error",
            "finishedAt": "2025-01-01T11:55:00Z"}});
        let p = simple("Running", vec![c]);
        assert_eq!(pod_restarts(&p, now()), "5 (5m ago)");
        let mut c = running("a", true, 4);
        c["restartCount"] = json!(4);
        let p = simple("Running", vec![c]);
        assert_eq!(pod_restarts(&p, now()), "4");
    }

    #[test]
    fn terminating_and_node_lost() {
        let mut p = simple("Running", vec![running("a", true, 0)]);
        p.metadata
            .set_deletion_timestamp(Some(Time(Timestamp::now())));
        assert_eq!(pod_status(&p), "Terminating");
        if let Some(s) = p.status.as_mut() {
            s.set_reason(Some("NodeLost".into()));
        }
        assert_eq!(pod_status(&p), "Unknown");
        // A finished pod being deleted keeps its final status.
        let mut p = simple("Succeeded", vec![terminated("a", Some("Completed"), 0, 0)]);
        p.metadata
            .set_deletion_timestamp(Some(Time(Timestamp::now())));
        assert_eq!(pod_status(&p), "Completed");
    }

    #[test]
    fn scheduling_gated() {
        let p = pod(
            json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Pending", "conditions": [
                {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}}),
        );
        assert_eq!(pod_status(&p), "SchedulingGated");
    }

    #[test]
    fn empty_pod_does_not_panic() {
        let p = Pod::default();
        assert_eq!(pod_status(&p), "Pending");
        assert_eq!(pod_ready(&p), (0, 0));
        assert_eq!(pod_restarts(&p, now()), "0");
    }
}
