//! `kcops check [--json]`: the findings without the TUI, for scripts, cron and
//! monitoring. Pure rendering and exit codes; listing the cluster is the caller's.
//!
//! Exit codes: 0 healthy (no findings, or only `info` ones), 1 warnings, 2 critical,
//! 3 could not evaluate (the reason is printed instead of findings, which would be
//! meaningless without the data).

use crate::model::count::count;
use serde::Serialize;

use crate::diagnose::{Finding, Severity};
use crate::model::snapshot::Snapshot;

pub(crate) const EXIT_HEALTHY: i32 = 0;
pub(crate) const EXIT_WARNING: i32 = 1;
pub(crate) const EXIT_CRITICAL: i32 = 2;
pub(crate) const EXIT_UNEVALUATED: i32 = 3;

/// The exit code for a run: 3 when the cluster could not be evaluated, else by the
/// worst severity found (`info` does not fail a check).
pub fn exit_code(findings: &[Finding], could_not_evaluate: Option<&str>) -> i32 {
    if could_not_evaluate.is_some() {
        return EXIT_UNEVALUATED;
    }
    match findings.iter().map(|f| f.severity).max() {
        Some(Severity::Critical) => EXIT_CRITICAL,
        Some(Severity::Warning) => EXIT_WARNING,
        Some(Severity::Info) | None => EXIT_HEALTHY,
    }
}

/// Kinds that did not list, grouped by their error, so one cause (a dead server, a
/// missing permission) is said once with the kinds it hit, not once per kind.
pub fn unlisted(s: &Snapshot) -> Option<String> {
    let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
    for src in s.sources.iter().filter(|src| !src.synced) {
        let why = match &src.last_error {
            Some(e) => e.to_string(),
            None => "no answer yet".to_string(),
        };
        match groups.iter_mut().find(|(w, _)| *w == why) {
            Some((_, kinds)) => kinds.push(src.kind),
            None => groups.push((why, vec![src.kind])),
        }
    }
    if groups.is_empty() {
        return None;
    }
    Some(
        groups
            .into_iter()
            .map(|(why, kinds)| format!("{}: {why}", kinds.join(", ")))
            .collect::<Vec<_>>()
            .join("; "),
    )
}

/// `--timeout`: whole seconds (`30`) or a number with `ms`, `s` or `m` (`500ms`,
/// `1m`); zero is refused, since nothing can answer in no time.
pub fn parse_timeout(text: &str) -> Result<std::time::Duration, String> {
    let t = text.trim();
    let (number, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (try 30, 30s, 500ms or 2m)"))?;
    let d = match unit {
        "ms" => std::time::Duration::from_millis(n),
        "s" => std::time::Duration::from_secs(n),
        "m" => std::time::Duration::from_secs(n.saturating_mul(60)),
        _ => {
            return Err(format!(
                "unknown unit {unit:?} in {text:?} (use ms, s or m)"
            ));
        }
    };
    if d.is_zero() {
        return Err("the timeout must be longer than zero".to_string());
    }
    Ok(d)
}

fn counts(findings: &[Finding]) -> (usize, usize, usize) {
    let n = |sev| findings.iter().filter(|f| f.severity == sev).count();
    (
        n(Severity::Critical),
        n(Severity::Warning),
        n(Severity::Info),
    )
}

/// Findings as text for a terminal or a mail from cron: one block per finding, most
/// severe first, and a summary line.
pub fn render_text(findings: &[Finding]) -> String {
    if findings.is_empty() {
        return "OK: no findings.\n".to_string();
    }
    let mut out = String::new();
    for f in findings {
        out.push_str(&format!(
            "{:<8}  {}  {}\n",
            f.severity.as_str().to_uppercase(),
            f.id,
            f.object
        ));
        for e in &f.evidence {
            out.push_str(&format!("  > {e}\n"));
        }
        out.push_str(&format!("  why: {}\n", f.explanation));
        out.push_str(&format!("  fix: {}\n\n", f.fix));
    }
    let (c, w, i) = counts(findings);
    out.push_str(&format!(
        "{}: {}, {}, {}.\n",
        count(findings.len(), "finding", "findings"),
        count(c, "critical", "critical"),
        count(w, "warning", "warnings"),
        count(i, "info", "info"),
    ));
    out
}

/// The reason a run could not evaluate the cluster, as text.
pub fn render_text_unevaluated(reason: &str) -> String {
    format!("UNKNOWN: could not evaluate the cluster: {reason}\n")
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Report<'a> {
    evaluated_at: String,
    /// `healthy`, `warning`, `critical` or `unknown`.
    status: &'static str,
    exit_code: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    counts: Counts,
    findings: &'a [Finding],
}

#[derive(Serialize)]
struct Counts {
    critical: usize,
    warning: usize,
    info: usize,
}

fn status_word(code: i32) -> &'static str {
    match code {
        EXIT_HEALTHY => "healthy",
        EXIT_WARNING => "warning",
        EXIT_CRITICAL => "critical",
        _ => "unknown",
    }
}

fn report_json(
    findings: &[Finding],
    evaluated_at: jiff::Timestamp,
    reason: Option<&str>,
) -> String {
    let code = exit_code(findings, reason);
    let (critical, warning, info) = counts(findings);
    let report = Report {
        evaluated_at: evaluated_at.to_string(),
        status: status_word(code),
        exit_code: code,
        reason,
        counts: Counts {
            critical,
            warning,
            info,
        },
        findings,
    };
    // Serializing plain strings and numbers cannot fail; keep the output valid anyway.
    let mut text = serde_json::to_string_pretty(&report).unwrap_or_else(|e| {
        serde_json::json!({"status": "unknown", "exitCode": EXIT_UNEVALUATED,
            "reason": format!("cannot render the report: {e}")})
        .to_string()
    });
    text.push('\n');
    text
}

/// Findings as one JSON document: `evaluatedAt`, `status`, `exitCode`, `counts` and
/// `findings` (each with `id`, `severity`, `object`, `namespace`, `node`, `evidence`,
/// `explanation`, `fix`).
pub fn render_json(findings: &[Finding], evaluated_at: jiff::Timestamp) -> String {
    report_json(findings, evaluated_at, None)
}

/// The JSON document of a run that could not evaluate the cluster: status `unknown`,
/// exit code 3, the `reason`, and no findings.
pub fn render_json_unevaluated(reason: &str, evaluated_at: jiff::Timestamp) -> String {
    report_json(&[], evaluated_at, Some(reason))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::snapshot::SourceStatus;

    fn finding(id: &'static str, severity: Severity, object: &str) -> Finding {
        Finding {
            id,
            severity,
            object: object.to_string(),
            subject: None,
            namespace: Some("default".to_string()),
            node: None,
            evidence: vec!["line one".to_string(), "line two".to_string()],
            explanation: "Because.".to_string(),
            fix: "Do this.".to_string(),
        }
    }

    fn at() -> jiff::Timestamp {
        "2025-01-01T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn exit_codes() {
        assert_eq!(exit_code(&[], None), 0);
        let info = finding("pv.released", Severity::Info, "PersistentVolume a");
        let warn = finding(
            "pvc.pending",
            Severity::Warning,
            "PersistentVolumeClaim d/b",
        );
        let crit = finding("node.notready", Severity::Critical, "Node n");
        assert_eq!(exit_code(std::slice::from_ref(&info), None), 0);
        assert_eq!(exit_code(&[info.clone(), warn.clone()], None), 1);
        assert_eq!(exit_code(&[warn.clone(), crit.clone(), info], None), 2);
        assert_eq!(exit_code(&[crit], Some("could not list pods")), 3);
        assert_eq!(exit_code(&[], Some("x")), 3);
    }

    #[test]
    fn text_report() {
        assert_eq!(render_text(&[]), "OK: no findings.\n");
        let text = render_text(&[
            finding("node.notready", Severity::Critical, "Node node1"),
            finding(
                "pvc.pending",
                Severity::Warning,
                "PersistentVolumeClaim d/b",
            ),
        ]);
        let want = "\
CRITICAL  node.notready  Node node1
  > line one
  > line two
  why: Because.
  fix: Do this.

WARNING   pvc.pending  PersistentVolumeClaim d/b
  > line one
  > line two
  why: Because.
  fix: Do this.

2 findings: 1 critical, 1 warning, 0 info.
";
        assert_eq!(text, want);
        assert_eq!(
            render_text_unevaluated("could not list pods: forbidden"),
            "UNKNOWN: could not evaluate the cluster: could not list pods: forbidden\n"
        );
    }

    #[test]
    fn json_report() {
        let f = finding("pod.crashloop", Severity::Warning, "Pod default/web-0");
        let v: serde_json::Value =
            serde_json::from_str(&render_json(std::slice::from_ref(&f), at())).unwrap();
        assert_eq!(v["evaluatedAt"], "2025-01-01T12:00:00Z");
        assert_eq!(v["status"], "warning");
        assert_eq!(v["exitCode"], 1);
        assert_eq!(
            v["counts"],
            serde_json::json!({"critical": 0, "warning": 1, "info": 0})
        );
        assert!(v.get("reason").is_none());
        assert_eq!(
            v["findings"][0],
            serde_json::json!({
                "id": "pod.crashloop", "severity": "warning", "object": "Pod default/web-0",
                "namespace": "default", "node": null, "evidence": ["line one", "line two"],
                "explanation": "Because.", "fix": "Do this."
            })
        );
        // A typed subject is one more field; the others stay as they were.
        let mut typed = f.clone();
        typed.subject = Some(crate::diagnose::ObjRef::namespaced(
            "Pod", "default", "web-0",
        ));
        let v: serde_json::Value =
            serde_json::from_str(&render_json(std::slice::from_ref(&typed), at())).unwrap();
        assert_eq!(
            v["findings"][0]["subject"],
            serde_json::json!({"kind": "Pod", "namespace": "default", "name": "web-0"})
        );
        assert_eq!(v["findings"][0]["object"], "Pod default/web-0");
        let v: serde_json::Value = serde_json::from_str(&render_json(&[], at())).unwrap();
        assert_eq!(v["status"], "healthy");
        assert_eq!(v["findings"], serde_json::json!([]));
        let v: serde_json::Value =
            serde_json::from_str(&render_json_unevaluated("no kubeconfig found", at())).unwrap();
        assert_eq!(v["status"], "unknown");
        assert_eq!(v["exitCode"], 3);
        assert_eq!(v["reason"], "no kubeconfig found");
    }

    #[test]
    fn timeouts() {
        use std::time::Duration;
        assert_eq!(parse_timeout("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_timeout("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_timeout("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_timeout("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_timeout("0").is_err());
        assert!(parse_timeout("5h").unwrap_err().contains("unknown unit"));
        assert!(parse_timeout("soon").is_err());
        assert!(parse_timeout("").is_err());
    }

    #[test]
    fn one_cause_is_said_once() {
        let down = || {
            Some(crate::kube::errors::KubeError::Other(
                "server down".to_string(),
            ))
        };
        let mut s = Snapshot::default();
        assert_eq!(unlisted(&s), None);
        s.sources = ["nodes", "pods", "events"]
            .into_iter()
            .map(|kind| SourceStatus {
                kind,
                synced: kind == "events",
                last_success: None,
                last_error: down(),
                expected: None,
            })
            .chain(std::iter::once(SourceStatus {
                kind: "pvs",
                synced: false,
                last_success: None,
                last_error: None,
                expected: None,
            }))
            .collect();
        assert_eq!(
            unlisted(&s).as_deref(),
            Some("nodes, pods: server down; pvs: no answer yet")
        );
    }
}
