//! Findings: what is wrong across the layers, with evidence, explanation and fix.
//! Pure functions of a [`crate::model::snapshot::Snapshot`].
//!
//! Each check reports one root cause once. Pods on a NotReady node are covered by that
//! node's finding; a pod with a precise finding (crash loop, locked volume, sandbox
//! failure, pending claim) is not also reported as stuck; a workload short of ready
//! replicas is only reported when some of the missing readiness is not already
//! explained by such a finding. The ids are stable: scripts match on them.
//!
//! | id | severity | fires when |
//! |---|---|---|
//! | `audit.interrupted` | Warning | the audit journal has a step's intent without its outcome (kcops stopped mid-plan), until acknowledged with `:ack-interrupted` |
//! | `source.error` | Critical (never listed) / Warning (stale) | a watched kind has an error |
//! | `host.node-unknown` | Warning | `--node` names no node of the cluster (the host checks are not made) |
//! | `host.root-empty` | Warning | `--host-root` has none of a node's top directories (its probes are not read as missing files) |
//! | `cert.expired` / `cert.expiring` | Critical / Warning | a control-plane certificate under this machine's `/etc/kubernetes/pki` has expired / expires within 30 days (`kubeadm certs check-expiration`'s list; the fix names the renew) |
//! | `node.notready` | Critical (Warning when cordoned and drained) | Ready is False or Unknown |
//! | `node.pressure` | Warning | Memory/Disk/PIDPressure is True |
//! | `pod.crashloop` | Critical (system pod) / Warning | a container is in CrashLoopBackOff, or runs unready after 2+ restarts with a recent failed run (pod network agents: `net.cni-crashloop`) |
//! | `pod.volume-locked` | Critical | a creating pod's newest mount event says the RBD image is locked / still in use (with Ceph data, names the lock holders and watchers); a lock Ceph shows as stale is `rbd.stale-lock`'s instead, with the pod as its evidence |
//! | `pod.multi-attach`, `rbd.pool-missing`, `rbd.caps-denied`, `rbd.features-unsupported`, `rbd.secret-invalid`, `rbd.mon-unreachable`, `rbd.image-missing` | Critical | a mount or provisioning failure whose text names its cause: see [`volume_causes`] (a claim's ProvisioningFailed or a pod's FailedMount; a first mount's format of an empty image is normal) |
//! | `pod.sandbox-failed` | Critical | pods on a node get FailedCreatePodSandBox with a message no `net.*` signature recognises; one finding per node, listing the pods |
//! | `pod.stuck-creating` | Warning | other FailedMount/FailedAttachVolume events, or creating for 2 minutes |
//! | `pod.unschedulable` | Warning | PodScheduled is False with reason Unschedulable |
//! | `pod.terminating-stuck` | Warning | deleted more than 60s past its deadline on a NotReady or missing node |
//! | `pvc.pending` | Warning | unbound for 1 minute, or a ProvisioningFailed event no cause signature knows (quoted once per message, per-attempt image names ignored) |
//! | `pv.released` | Info | a volume kept after its claim was deleted (with Ceph data, its image's state) |
//! | `pv.failed` | Warning | reclaiming the volume failed (with Ceph data, its image's state) |
//! | `workload.unavailable` | Critical (none ready) / Warning | fewer ready than desired for 2 minutes, not explained above |
//! | `net.*` | | the pod network: see [`network`] for its ids |
//! | `members.*` | | ensemble members (only with a member poll): see [`members`] for their ids |
//! | `ceph.*`, `rbd.*` | | Ceph and RBD images (only with Ceph data): see [`ceph`] for their ids |
//! | `rbd.stale-watcher`, `pv.attached-elsewhere`, `csi.*` | | ceph-csi volumes, attachments, node plugin and config: see [`csi`] (a Multi-Attach error such an attachment explains is not also `pod.multi-attach`) |

mod audit;
pub mod ceph;
pub mod certs;
pub(crate) mod csi;
pub(crate) mod fence;
mod host_setup;
pub(crate) mod index;
pub mod members;
pub mod network;
mod nodes;
mod pods;
mod sources;
mod storage;
pub(crate) mod volume_causes;
pub(crate) mod workloads;

#[cfg(test)]
mod fixtures;

use std::collections::HashSet;

use jiff::SignedDuration;
use serde::Serialize;

use crate::model::snapshot::Snapshot;

pub use crate::model::objref::ObjRef;

pub use index::Index;

/// How bad a finding is; ordered so that `Critical` is the greatest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem, with what it rests on and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable id scripts can match on, e.g. `pod.crashloop`.
    pub id: &'static str,
    pub severity: Severity,
    /// `Kind namespace/name` (or `Kind name`), e.g. `Pod kube-flannel/kube-flannel-ds-abcde`.
    pub object: String,
    /// The object as a typed reference, for code that acts on it; `None` when the
    /// finding is about several objects at once (the text then names them all).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<ObjRef>,
    pub namespace: Option<String>,
    pub node: Option<String>,
    /// The exact lines the finding rests on: event messages, termination messages,
    /// conditions. Times are absolute (RFC 3339), never "5m ago".
    pub evidence: Vec<String>,
    pub explanation: String,
    pub fix: String,
}

/// How long things may take before they count as stuck. A freshly started cluster
/// converges within these, so a settled healthy cluster has no findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// A scheduled pod still creating its containers without any failure event.
    pub stuck_creating: SignedDuration,
    /// An unbound claim without a ProvisioningFailed event.
    pub pvc_pending: SignedDuration,
    /// A workload's unexplained unready or missing replicas.
    pub workload_unavailable: SignedDuration,
    /// A deleted pod past its deletion deadline (deletionTimestamp).
    pub terminating_grace: SignedDuration,
    /// A failed container run older than this no longer makes a crash loop.
    pub crash_recent: SignedDuration,
}

impl Thresholds {
    /// What `kcops check` and the console use.
    pub const DEFAULT: Thresholds = Thresholds {
        stuck_creating: SignedDuration::from_secs(120),
        pvc_pending: SignedDuration::from_secs(60),
        workload_unavailable: SignedDuration::from_secs(120),
        terminating_grace: SignedDuration::from_secs(60),
        crash_recent: SignedDuration::from_secs(600),
    };

    /// Every threshold divided by `factor`: a lab run at `--speed 4` converges four
    /// times faster, so its tests can judge it by thresholds four times shorter.
    pub fn scaled(self, factor: f64) -> Thresholds {
        let f = |d: SignedDuration| {
            if factor > 0.0 { d.div_f64(factor) } else { d }
        };
        Thresholds {
            stuck_creating: f(self.stuck_creating),
            pvc_pending: f(self.pvc_pending),
            workload_unavailable: f(self.workload_unavailable),
            terminating_grace: f(self.terminating_grace),
            crash_recent: f(self.crash_recent),
        }
    }
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds::DEFAULT
    }
}

/// A threshold in words for explanations: `2 minutes`, `30 seconds`.
pub(crate) fn span(d: SignedDuration) -> String {
    let secs = d.as_secs();
    if secs >= 60 && secs % 60 == 0 {
        let m = secs / 60;
        format!("{m} minute{}", if m == 1 { "" } else { "s" })
    } else {
        format!("{secs} second{}", if secs == 1 { "" } else { "s" })
    }
}

/// At most this many evidence lines list individual objects (the rest are counted).
pub(crate) const MAX_LISTED: usize = 8;

/// `namespace/name` of a pod, borrowed from the snapshot.
pub(crate) type PodKey<'a> = (&'a str, &'a str);

/// Pods whose state a finding already explains (directly, or through their node).
pub(crate) type Explained<'a> = HashSet<PodKey<'a>>;

/// Every finding for the snapshot, most severe first, then by id and object.
pub fn diagnose(s: &Snapshot) -> Vec<Finding> {
    diagnose_with(s, &Thresholds::DEFAULT)
}

/// [`diagnose`] with other thresholds (tests against a lab running faster than life).
pub fn diagnose_with(s: &Snapshot, limits: &Thresholds) -> Vec<Finding> {
    let ix = Index::new(s, *limits);
    let mut out = Vec::new();
    sources::check(s, &mut out);
    host_setup::check(s, &mut out);
    certs::check(s, &mut out);
    audit::check(s, &mut out);
    nodes::check(s, &ix, &mut out);
    let mut handoff = network::Handoff::default();
    let mut explained = pods::check(s, &ix, &mut handoff, &mut out);
    network::check(s, &ix, handoff, &mut explained, &mut out);
    csi::check(s, &ix, &mut explained, &mut out);
    storage::check(s, &ix, &mut out);
    ceph::check(s, &ix, &mut out);
    workloads::check(s, &ix, &explained, &mut out);
    members::check(s, &mut out);
    sort(&mut out);
    out
}

/// Severity descending, then id, then object: the order `kcops check` prints.
pub fn sort(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.id.cmp(b.id))
            .then_with(|| a.object.cmp(&b.object))
    });
}

/// Keeps the first `MAX_LISTED` lines and says how many more there were.
pub(crate) fn cap_listed(lines: Vec<String>, what: &str) -> Vec<String> {
    let mut listed = Listed::default();
    for line in lines {
        listed.push_with(|| line);
    }
    listed.finish(what)
}

/// Evidence lines naming objects, made as they are found: the first `MAX_LISTED`
/// kept, the rest only counted (a line past them is never formatted: a check that
/// finds 5,000 nodes runs every few seconds).
#[derive(Debug, Default)]
pub(crate) struct Listed {
    lines: Vec<String>,
    more: usize,
}

impl Listed {
    /// Adds a line, made only while there is room for it.
    pub(crate) fn push_with(&mut self, line: impl FnOnce() -> String) {
        if self.lines.len() < MAX_LISTED {
            self.lines.push(line());
        } else {
            self.more += 1;
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The lines kept, then how many more `what` there were.
    pub(crate) fn finish(mut self, what: &str) -> Vec<String> {
        if self.more > 0 {
            self.lines
                .push(format!("... and {} more {what}", self.more));
        }
        self.lines
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;

    #[test]
    fn severity_orders_critical_first() {
        assert!(Severity::Critical > Severity::Warning);
        assert!(Severity::Warning > Severity::Info);
        assert_eq!(
            serde_json::to_string(&Severity::Critical).unwrap(),
            "\"critical\""
        );
    }

    #[test]
    fn empty_snapshot_has_no_findings() {
        assert!(diagnose(&snapshot()).is_empty());
    }

    #[test]
    fn findings_sorted_by_severity_id_object() {
        let mut s = snapshot();
        s.nodes.push(node("b", "False"));
        s.nodes.push(node("a", "Unknown"));
        s.nodes.push(with(
            node("c", "True"),
            json!({"status": {"conditions": [{"type": "Ready", "status": "True"},
                {"type": "DiskPressure", "status": "True", "reason": "KubeletHasDiskPressure"}]}}),
        ));
        s.pvs.push(from(
            json!({"metadata": {"name": "old"}, "status": {"phase": "Released"}}),
        ));
        let want = [
            ("node.notready", "Node a"),
            ("node.notready", "Node b"),
            ("node.pressure", "Node c"),
            ("pv.released", "PersistentVolume old"),
        ];
        let want: Vec<(&str, String)> = want.iter().map(|(i, o)| (*i, o.to_string())).collect();
        assert_eq!(ids(&diagnose(&s)), want);
    }

    #[test]
    fn thresholds_scale_and_read_well() {
        let t = Thresholds::DEFAULT.scaled(4.0);
        assert_eq!(t.stuck_creating, SignedDuration::from_secs(30));
        assert_eq!(t.pvc_pending, SignedDuration::from_secs(15));
        assert_eq!(Thresholds::DEFAULT.scaled(0.0), Thresholds::DEFAULT);
        assert_eq!(span(Thresholds::DEFAULT.stuck_creating), "2 minutes");
        assert_eq!(span(SignedDuration::from_secs(60)), "1 minute");
        assert_eq!(span(t.stuck_creating), "30 seconds");
    }

    #[test]
    fn cap_listed_counts_the_rest() {
        let lines: Vec<String> = (0..10).map(|i| i.to_string()).collect();
        let capped = cap_listed(lines, "pods");
        assert_eq!(capped.len(), MAX_LISTED + 1);
        assert_eq!(capped[MAX_LISTED], "... and 2 more pods");
    }
}
