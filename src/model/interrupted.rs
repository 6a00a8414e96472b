//! A plan step the audit journal announced and never closed: the console stopped
//! (killed, crashed, lost power) between writing "about to" and writing what happened,
//! so nobody knows whether the change was made. Found by [`crate::ops::journal`],
//! reported by the `audit.interrupted` finding.

/// One step with an intent line and no result line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterruptedStep {
    /// The plan run's id (from the journal).
    pub plan: String,
    pub plan_title: String,
    /// 1-based.
    pub step: usize,
    pub steps: usize,
    /// `cordon`, `delete-pod`, ...
    pub action: String,
    /// `Kind namespace/name` (or `Kind name`) of the object the step acted on.
    pub object: String,
    /// The step in words, as the plan showed it.
    pub detail: String,
    /// When the intent was written (RFC 3339).
    pub time: String,
    /// `os user as kube user in context`.
    pub who: String,
    /// How to find out whether the step happened (a command to run).
    pub how_to_check: String,
}
