//! Why a plan did not (fully) run, in words for the operator: refusals say why nothing
//! happened; failures say which step failed, what was already done and what was not run,
//! because a half-run plan is exactly when the operator must know the cluster's state.

use std::fmt;
use std::path::PathBuf;

use thiserror::Error;

use super::plan::ConfirmationError;

/// Where a plan stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Halt {
    /// 1-based number of the step that failed.
    pub step: usize,
    pub total: usize,
    /// The description of the failed step (or what failed after it, e.g. the audit write).
    pub failed: String,
    /// Descriptions of the steps that completed and were re-checked.
    pub done: Vec<String>,
    /// Descriptions of the steps that were not started.
    pub not_run: Vec<String>,
}

impl fmt::Display for Halt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |v: &[String]| {
            if v.is_empty() {
                "nothing".to_string()
            } else {
                v.join("; ")
            }
        };
        write!(
            f,
            "stopped at step {} of {} ({}); done: {}; not run: {}",
            self.step,
            self.total,
            self.failed,
            list(&self.done),
            list(&self.not_run)
        )
    }
}

/// The executor's errors. The first three are refusals: nothing was sent to the cluster.
#[derive(Debug, Error)]
pub enum OpsError {
    #[error("kcops is in read-only mode (--read-only): {title} refused")]
    ReadOnly { title: String },
    #[error("{title} refused: {reason}")]
    Confirmation {
        title: String,
        reason: ConfirmationError,
    },
    #[error("{title} refused: invalid plan: {reason}")]
    InvalidPlan { title: String, reason: String },
    /// The API server answered 403: RBAC does not allow the kube user this step.
    /// `message` is the API server's own text (it names user, verb and resource).
    #[error("forbidden by RBAC: {message}; {halt}")]
    Forbidden { message: String, halt: Box<Halt> },
    /// Any other failure of a step: an API error, no answer in time, or a re-check that
    /// found the cluster not in the state the step should have left it in.
    #[error("{message}; {halt}")]
    StepFailed { message: String, halt: Box<Halt> },
    /// The plan was asked to stop (a signal): the step under way finished or was
    /// cancelled and the rest were not run (and recorded so). `reason` says why
    /// (`interrupted by SIGTERM`).
    #[error("{reason}; {halt}")]
    Stopped { reason: String, halt: Box<Halt> },
    /// The audit log could not be written. Before the plan this refuses it; before a
    /// step (its intent) the step is not run and the plan stops there; after a step
    /// (its outcome) the plan stops there. An unrecorded mutation is never started.
    #[error("cannot write the audit log {}: {message}{}", path.display(), halt.as_ref().map(|h| format!("; {h}")).unwrap_or_default())]
    Audit {
        path: PathBuf,
        message: String,
        halt: Option<Box<Halt>>,
    },
}

impl OpsError {
    /// Where the plan stopped, for errors raised after it started.
    pub fn halt(&self) -> Option<&Halt> {
        match self {
            OpsError::Forbidden { halt, .. }
            | OpsError::StepFailed { halt, .. }
            | OpsError::Stopped { halt, .. } => Some(halt),
            OpsError::Audit { halt, .. } => halt.as_deref(),
            _ => None,
        }
    }

    /// True when nothing was sent to the cluster.
    pub fn is_refusal(&self) -> bool {
        self.halt().is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halt_says_what_was_and_was_not_done() {
        let halt = Halt {
            step: 2,
            total: 3,
            failed: "Break the lock".into(),
            done: vec!["Blocklist 10.0.0.2:0/123".into()],
            not_run: vec!["Delete pod db/zk-0".into()],
        };
        assert_eq!(
            halt.to_string(),
            "stopped at step 2 of 3 (Break the lock); done: Blocklist 10.0.0.2:0/123; not run: Delete pod db/zk-0"
        );
        let e = OpsError::Forbidden {
            message: "nodes \"n\" is forbidden: User \"u\" cannot patch resource \"nodes\"".into(),
            halt: Box::new(Halt {
                step: 1,
                total: 1,
                failed: "Cordon node n".into(),
                done: vec![],
                not_run: vec![],
            }),
        };
        assert_eq!(
            e.to_string(),
            "forbidden by RBAC: nodes \"n\" is forbidden: User \"u\" cannot patch resource \"nodes\"; stopped at step 1 of 1 (Cordon node n); done: nothing; not run: nothing"
        );
        assert!(!e.is_refusal());
        assert!(
            OpsError::ReadOnly {
                title: "Cordon node n".into()
            }
            .is_refusal()
        );
        assert_eq!(
            OpsError::ReadOnly {
                title: "Cordon node n".into()
            }
            .to_string(),
            "kcops is in read-only mode (--read-only): Cordon node n refused"
        );
    }
}
