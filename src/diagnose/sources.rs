//! `source.error`: a watched kind the console cannot list or watch. Every other
//! finding is only as good as the data behind it, so this one says which data is
//! missing or stale.

use super::{Finding, Severity};
use crate::model::objref::ObjRef;
use crate::model::snapshot::Snapshot;

/// One finding per distinct failure: when the API server is down every kind fails
/// alike, and fourteen identical Critical findings would bury the one thing to say.
/// Kinds failing for a reason of their own (RBAC on one kind) keep their own finding.
pub fn check(s: &Snapshot, out: &mut Vec<Finding>) {
    // (listed before, error text) -> the kinds, in the sources' order.
    let mut groups: Vec<((bool, String), Vec<&crate::model::snapshot::SourceStatus>)> = Vec::new();
    for src in &s.sources {
        let Some(err) = src.last_error.as_ref() else {
            continue;
        };
        let key = (src.synced, err.to_string());
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, kinds)) => kinds.push(src),
            None => groups.push((key, vec![src])),
        }
    }
    for ((synced, err), srcs) in groups {
        let kinds: Vec<&str> = srcs.iter().map(|s| s.kind).collect();
        let what = kinds.join(", ");
        let (severity, state, explanation) = if synced {
            // Honest times: the oldest success among them, never "now".
            let since = srcs
                .iter()
                .filter_map(|s| s.last_success)
                .min()
                .map(|t| format!("last success at {t}"))
                .unwrap_or_else(|| "no success recorded".to_string());
            (
                Severity::Warning,
                since,
                format!(
                    "kcops lists and watches {what} but the watch is failing: what the console shows for {} may be stale, and findings that depend on it may be missing or outdated.",
                    if kinds.len() == 1 {
                        "them"
                    } else {
                        "these kinds"
                    }
                ),
            )
        } else {
            (
                Severity::Critical,
                "never listed".to_string(),
                format!(
                    "kcops has not been able to list {what} at all, so nothing about {} can be evaluated: an empty table or an absent finding means nothing.",
                    if kinds.len() == 1 {
                        what.as_str()
                    } else {
                        "them"
                    }
                ),
            )
        };
        let (object, subject) = match kinds.as_slice() {
            [one] => (
                format!("Source {one}"),
                Some(ObjRef::cluster("Source", *one)),
            ),
            _ => (
                format!(
                    "Sources: {}",
                    crate::model::count::count(kinds.len(), "kind", "kinds")
                ),
                None,
            ),
        };
        let mut evidence = vec![err, state];
        if kinds.len() > 1 {
            evidence.push(format!("kinds: {what}"));
        }
        let can_i = if kinds.len() == 1 {
            what.clone()
        } else {
            "<kind>".to_string()
        };
        out.push(Finding {
            id: "source.error",
            severity,
            subject,
            object,
            namespace: None,
            node: None,
            evidence,
            explanation,
            fix: format!(
                "Check that the API server is reachable from here and that this user may list and watch {what} (`kubectl auth can-i watch {can_i} -A`). kcops keeps retrying with backoff and recovers by itself."
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
            expected: None,
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

    /// Issue 15 #8: the API server down fails every kind alike: one finding that
    /// names them, never listed, instead of one per kind.
    #[test]
    fn one_failure_of_every_kind_is_one_finding() {
        let mut s = snapshot();
        let down = Some("cannot reach the API server: timed out");
        s.sources = vec![
            source("pods", false, down),
            source("nodes", false, down),
            source("events", false, down),
            source("secrets", false, Some("forbidden")),
        ];
        let f = only(&s, "source.error");
        assert_eq!(f.len(), 2, "{f:#?}");
        let all = f
            .iter()
            .find(|f| f.object == "Sources: 3 kinds")
            .unwrap_or_else(|| panic!("{f:#?}"));
        assert_eq!(all.subject, None);
        assert_eq!(
            all.evidence,
            [
                "cannot reach the API server: timed out",
                "never listed",
                "kinds: pods, nodes, events"
            ]
        );
        assert!(f.iter().any(|f| f.object == "Source secrets"), "{f:#?}");
    }
}
