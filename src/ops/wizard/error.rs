//! Why a wizard has nothing to show: typed, so the console can tell "give me an
//! argument" from "that object is not there" from "the API server did not answer",
//! and worded for the status line (each variant's text is what the operator reads).

use thiserror::Error;

/// The system a failed read went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum System {
    /// The Kubernetes API server.
    Kube,
    Ceph,
    /// The node the console runs on (its host probes).
    Host,
}

/// Why a wizard (or a plan a command builds) cannot be assessed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WizardError {
    /// The wizard needs an argument the console cannot infer: `what` it needs, the
    /// command that gives it, and why it was not inferred.
    #[error("which {what}? `{usage}` ({why})")]
    NeedsInput {
        what: String,
        usage: String,
        why: String,
    },
    /// What the operator typed does not parse.
    #[error("{input:?} is not {expected}: {why}")]
    Invalid {
        input: String,
        expected: String,
        why: String,
    },
    /// Something the wizard needs is not there (`hint`: why, or what would make it so).
    #[error("no {what}{}", hint.as_ref().map(|h| format!(" ({h})")).unwrap_or_default())]
    NotFound { what: String, hint: Option<String> },
    /// The object is there, but this wizard does not apply to it (`claim x is not
    /// bound to a volume`).
    #[error("{what} {why}")]
    NotApplicable { what: String, why: String },
    /// A read failed: no answer, an error from the system, or no rights to read.
    #[error("{what}: {why}")]
    Unreachable {
        system: System,
        what: String,
        why: String,
    },
}

impl WizardError {
    pub fn not_found(what: impl Into<String>) -> Self {
        WizardError::NotFound {
            what: what.into(),
            hint: None,
        }
    }

    pub(crate) fn not_found_because(what: impl Into<String>, hint: impl Into<String>) -> Self {
        WizardError::NotFound {
            what: what.into(),
            hint: Some(hint.into()),
        }
    }

    pub(crate) fn not_applicable(what: impl Into<String>, why: impl Into<String>) -> Self {
        WizardError::NotApplicable {
            what: what.into(),
            why: why.into(),
        }
    }

    pub fn unreachable(system: System, what: impl Into<String>, why: impl Into<String>) -> Self {
        WizardError::Unreachable {
            system,
            what: what.into(),
            why: why.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_reads_on_the_status_line() {
        let e = WizardError::NeedsInput {
            what: "node".into(),
            usage: ":restart-cni <node>".into(),
            why: "this machine is not a known node".into(),
        };
        assert_eq!(
            e.to_string(),
            "which node? `:restart-cni <node>` (this machine is not a known node)"
        );
        let e = WizardError::Invalid {
            input: "10.0.0.0/33".into(),
            expected: "a CIDR".into(),
            why: "prefix too long".into(),
        };
        assert_eq!(
            e.to_string(),
            "\"10.0.0.0/33\" is not a CIDR: prefix too long"
        );
        assert_eq!(
            WizardError::not_found("pod default/web-0").to_string(),
            "no pod default/web-0"
        );
        assert_eq!(
            WizardError::not_found_because("host report yet", "the host probes run every 10s")
                .to_string(),
            "no host report yet (the host probes run every 10s)"
        );
        assert_eq!(
            WizardError::not_applicable("volume pv-1", "is not an RBD volume").to_string(),
            "volume pv-1 is not an RBD volume"
        );
        assert_eq!(
            WizardError::unreachable(System::Kube, "list nodes", "connection refused").to_string(),
            "list nodes: connection refused"
        );
    }
}
