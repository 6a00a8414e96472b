//! The Pods table's rows, drawn from the pods themselves. A row keeps the pod and what
//! `kubectl get pods` derives from it in one pass (READY and RESTARTS as numbers,
//! STATUS as one shared word) and makes a cell's text only when the cell is drawn,
//! sorted or filtered: at 150,000 pods a row of made text cost about 290 bytes and
//! three allocations, this one costs its place in the table's chunk.

use std::borrow::Cow;
use std::sync::Arc;

use jiff::Timestamp;
use kcops_pod::shared::Shared;

use super::tables::{FilterMemo, ObjKey, ObjKind, Tone, tone_for_status};
use crate::model::columns::{Column, ColumnKind::*};
use crate::model::pod::Pod;
use crate::model::pod_status::{self, human_since, restarts_text};
use crate::model::rows::pod_created;

/// kubectl's `<none>` for an empty IP or NODE.
const NONE: &str = "<none>";

/// An empty IP or NODE as kubectl prints it.
fn or_none(s: Option<&str>) -> Cow<'_, str> {
    Cow::Borrowed(s.filter(|s| !s.is_empty()).unwrap_or(NONE))
}

/// One pod's row.
#[derive(Debug, Clone)]
pub struct PodLine {
    /// Held so that its address cannot be reused: the stores replace an object on
    /// every change, so the same address means the same, unchanged pod.
    pod: Arc<Pod>,
    /// STATUS as kubectl prints it (a handful of words for all pods: interned).
    status: Shared,
    restarts: i32,
    /// The last restart's end is known: RESTARTS reads `3 (42s ago)`, its time read
    /// from the pod when the cell is made (few rows have one; 8 bytes fewer a row).
    restart_time: bool,
    ready: u16,
    total: u16,
    /// The status's own tone, before a NotReady node qualifies it.
    tone: Tone,
    /// On a NotReady node: its status is the node's last word, not a healthy verdict.
    on_not_ready_node: bool,
    /// Counted on its node (bound, and not Succeeded or Failed).
    pub(crate) occupies_node: bool,
    /// Owned by a DaemonSet: where the Network pane looks for the CNI agents.
    pub(crate) daemon: bool,
    memo: FilterMemo,
}

impl PodLine {
    /// The table's columns, as `kubectl get pods -o wide` prints them (but for
    /// NOMINATED NODE and READINESS GATES).
    pub(crate) const COLUMNS: &[Column] = &[
        Column::new("NAMESPACE", Name),
        Column::new("NAME", Name),
        Column::new("READY", Ready),
        Column::new("STATUS", Status),
        Column::new("RESTARTS", Count),
        Column::new("AGE", Age),
        Column::new("IP", Text),
        Column::new("NODE", Name),
    ];
    const STATUS: usize = 3;
    const RESTARTS: usize = 4;
    const AGE: usize = 5;

    pub fn new(pod: &Arc<Pod>) -> PodLine {
        let s = pod_status::summarize(pod);
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        PodLine {
            pod: pod.clone(),
            tone: tone_for_status(&s.reason),
            status: Shared::from(s.reason),
            restart_time: s.last_restart.is_some(),
            restarts: i32::try_from(s.restarts).unwrap_or(i32::MAX),
            ready: u16::try_from(s.ready).unwrap_or(u16::MAX),
            total: u16::try_from(s.total).unwrap_or(u16::MAX),
            on_not_ready_node: false,
            occupies_node: pod.spec.as_ref().is_some_and(|s| s.node_name.is_some())
                && !matches!(phase, Some("Succeeded" | "Failed")),
            daemon: pod
                .metadata
                .owner_references
                .as_deref()
                .unwrap_or_default()
                .iter()
                .any(|o| o.kind == "DaemonSet"),
            memo: FilterMemo::default(),
        }
    }

    /// This row with its node NotReady (or no longer): the answers it kept for
    /// filters are dropped, as its STATUS may read differently.
    pub fn on_not_ready_node(mut self, not_ready: bool) -> PodLine {
        if self.on_not_ready_node != not_ready {
            self.on_not_ready_node = not_ready;
            self.memo = FilterMemo::default();
        }
        self
    }

    pub fn pod(&self) -> &Arc<Pod> {
        &self.pod
    }

    pub fn namespace(&self) -> &str {
        self.pod.metadata.namespace.as_deref().unwrap_or_default()
    }

    pub fn name(&self) -> &str {
        self.pod.metadata.name.as_deref().unwrap_or_default()
    }

    /// The node it is bound to, if any.
    pub fn node(&self) -> Option<&str> {
        self.pod.spec.as_ref().and_then(|s| s.node_name.as_deref())
    }

    pub fn key(&self) -> ObjKey {
        ObjKey {
            kind: ObjKind::Pod,
            namespace: self.pod.metadata.namespace.clone().unwrap_or_default(),
            name: self.pod.metadata.name.clone().unwrap_or_default(),
        }
    }

    /// STATUS as kubectl prints it, unqualified by the node's state (what the
    /// Overview counts).
    pub fn status(&self) -> &str {
        &self.status
    }

    /// The tone the row is drawn in: a pod on a NotReady node is at least a warning.
    pub fn tone(&self) -> Tone {
        match self.tone {
            Tone::Error => Tone::Error,
            _ if self.on_not_ready_node => Tone::Warning,
            t => t,
        }
    }

    pub fn memo(&self) -> &FilterMemo {
        &self.memo
    }

    /// When the pod was created: its AGE counts from then, live.
    pub fn created(&self) -> Option<Timestamp> {
        pod_created(&self.pod.metadata)
    }

    /// The column whose text follows the clock (AGE), if the pod says when it began.
    pub fn live_age(&self) -> Option<usize> {
        self.created().map(|_| Self::AGE)
    }

    /// Whether RESTARTS says how long ago (`3 (42s ago)`), so reads differently as
    /// time passes.
    pub fn restarts_follow_the_clock(&self) -> bool {
        self.restarts != 0 && self.restart_time
    }

    fn last_restart(&self) -> Option<Timestamp> {
        self.restarts_follow_the_clock()
            .then(|| pod_status::summarize(&self.pod).last_restart)
            .flatten()
    }

    /// Cell `i` as of `now`.
    pub fn cell(&self, i: usize, now: Timestamp) -> Cow<'_, str> {
        match i {
            0 => Cow::Borrowed(self.namespace()),
            1 => Cow::Borrowed(self.name()),
            2 => Cow::Owned(format!("{}/{}", self.ready, self.total)),
            Self::STATUS if self.on_not_ready_node && self.tone == Tone::Ok => {
                Cow::Owned(format!("{} (node NotReady)", self.status))
            }
            Self::STATUS => Cow::Borrowed(&self.status),
            Self::RESTARTS => Cow::Owned(restarts_text(
                self.restarts.into(),
                self.last_restart(),
                now,
            )),
            Self::AGE => match self.created() {
                Some(t) => Cow::Owned(human_since(t, now)),
                None => Cow::Borrowed("<unknown>"),
            },
            6 => or_none(self.pod.status.as_ref().and_then(|s| s.pod_ip.as_deref())),
            7 => or_none(self.node()),
            _ => Cow::Borrowed(""),
        }
    }

    /// Every cell as of `now`.
    #[cfg(test)]
    pub fn cells(&self, now: Timestamp) -> Vec<String> {
        (0..Self::COLUMNS.len())
            .map(|i| self.cell(i, now).into_owned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn line(v: serde_json::Value) -> PodLine {
        PodLine::new(&Arc::new(
            serde_json::from_value(v).unwrap_or_else(|e| panic!("{e}")),
        ))
    }

    fn now() -> Timestamp {
        "2025-01-01T12:00:00Z"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn cells_read_as_kubectl_prints_them() {
        let l = line(json!({
            "metadata": {"name": "web-0", "namespace": "demo", "creationTimestamp": "2025-01-01T11:55:00Z"},
            "spec": {"nodeName": "node1", "containers": [{"name": "a"}]},
            "status": {"phase": "Running", "podIP": "10.244.1.5", "containerStatuses": [{
                "name": "a", "image": "i", "imageID": "", "ready": false, "restartCount": 3,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2025-01-01T11:59:30Z"}}}]}
        }));
        assert_eq!(
            l.cells(now()),
            [
                "demo",
                "web-0",
                "0/1",
                "CrashLoopBackOff",
                "3 (30s ago)",
                "5m",
                "10.244.1.5",
                "node1"
            ]
        );
        assert_eq!(l.tone(), Tone::Error);
        assert!(l.restarts_follow_the_clock());
        // RESTARTS and AGE follow the clock: a row is never stale.
        let later = now() + jiff::SignedDuration::from_secs(60);
        assert_eq!(l.cell(PodLine::RESTARTS, later), "3 (90s ago)");
        assert_eq!(l.cell(PodLine::AGE, later), "6m");
        assert_eq!(l.key().name, "web-0");

        let new = line(
            json!({"metadata": {"name": "new", "namespace": "demo"}, "spec": {"containers": [{"name": "a"}]}}),
        );
        assert_eq!(
            new.cells(now()),
            [
                "demo",
                "new",
                "0/1",
                "Pending",
                "0",
                "<unknown>",
                "<none>",
                "<none>"
            ]
        );
        assert_eq!(new.live_age(), None);
        assert!(!new.restarts_follow_the_clock());
        assert!(!new.occupies_node);
    }

    #[test]
    fn a_not_ready_node_qualifies_a_healthy_status_only() {
        let running = line(json!({
            "metadata": {"name": "a", "namespace": "demo"},
            "spec": {"nodeName": "node1", "containers": [{"name": "a"}]},
            "status": {"phase": "Running", "containerStatuses": [{
                "name": "a", "image": "i", "imageID": "", "ready": true, "restartCount": 0,
                "state": {"running": {}}}]}
        }));
        assert_eq!(running.tone(), Tone::Ok);
        let stranded = running.clone().on_not_ready_node(true);
        assert_eq!(stranded.cell(3, now()), "Running (node NotReady)");
        assert_eq!(stranded.status(), "Running");
        assert_eq!(stranded.tone(), Tone::Warning);
        assert_eq!(
            stranded.clone().on_not_ready_node(false).cell(3, now()),
            "Running"
        );
        assert!(running.occupies_node);

        let failed = line(json!({
            "metadata": {"name": "b", "namespace": "demo"},
            "spec": {"nodeName": "node1", "containers": [{"name": "a"}]},
            "status": {"phase": "Failed"}
        }))
        .on_not_ready_node(true);
        assert_eq!(failed.cell(3, now()), "Failed");
        assert_eq!(failed.tone(), Tone::Error);
        assert!(!failed.occupies_node);
    }
}
