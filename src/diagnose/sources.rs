//! `source.error`: a watched kind the console cannot list or watch. Every other
//! finding is only as good as the data behind it, so this one says which data is
//! missing or stale.

use super::{Finding, Severity};
use crate::model::objref::ObjRef;
use crate::model::snapshot::Snapshot;

pub fn check(s: &Snapshot, out: &mut Vec<Finding>) {
    for src in &s.sources {
        let Some(err) = src.last_error.as_ref() else {
            continue;
        };
        let (severity, state, explanation) = if src.synced {
            let since = src
                .last_success
                .map(|t| format!("last success at {t}"))
                .unwrap_or_else(|| "no success recorded".to_string());
            (
                Severity::Warning,
                since,
                format!(
                    "kcops lists and watches {kind} but the watch is failing: what the console shows for {kind} may be stale, and findings that depend on them may be missing or outdated.",
                    kind = src.kind
                ),
            )
        } else {
            (
                Severity::Critical,
                "never listed".to_string(),
                format!(
                    "kcops has not been able to list {kind} at all, so nothing about {kind} can be evaluated: an empty table or an absent finding means nothing.",
                    kind = src.kind
                ),
            )
        };
        out.push(Finding {
            id: "source.error",
            severity,
            subject: Some(ObjRef::cluster("Source", src.kind)),
            object: format!("Source {}", src.kind),
            namespace: None,
            node: None,
            evidence: vec![err.to_string(), state],
            explanation,
            fix: format!(
                "Check that the API server is reachable from here and that this user may list and watch {kind} (`kubectl auth can-i watch {kind} -A`). kcops keeps retrying with backoff and recovers by itself.",
                kind = src.kind
            ),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;
    use crate::model::snapshot::SourceStatus;

    fn source(kind: &'static str, synced: bool, err: Option<&str>) -> SourceStatus {
        SourceStatus {
            kind,
            synced,
            last_success: synced.then(now),
            last_error: err.map(|e| crate::kube::errors::KubeError::Other(e.to_string())),
        }
    }

    #[test]
    fn never_synced_is_critical_stale_is_warning() {
        let mut s = snapshot();
        s.sources = vec![
            source("pods", false, Some("forbidden by RBAC: pods is forbidden")),
            source("nodes", true, Some("API server unreachable")),
            source("events", true, None),
            // Not listed yet but no error either: still starting, not a finding.
            source("pvcs", false, None),
        ];
        let f = only(&s, "source.error");
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].object, "Source pods");
        assert_eq!(f[0].severity, Severity::Critical);
        assert_eq!(
            f[0].evidence,
            ["forbidden by RBAC: pods is forbidden", "never listed"]
        );
        assert_eq!(f[1].object, "Source nodes");
        assert_eq!(f[1].severity, Severity::Warning);
        assert_eq!(f[1].evidence[1], format!("last success at {}", now()));
    }
}
