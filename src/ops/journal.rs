//! Reading the audit journal back: which plan steps were announced (an intent line)
//! and never closed (no result line), so the next start of kcops can say "this may or
//! may not have happened", and the operator's acknowledgement that silences it.
//!
//! The lines themselves are written by the executor ([`super::exec`]) through
//! [`AuditLog`]; the format is described in [`super::audit`].

use std::collections::HashSet;
use std::io;
use std::path::Path;
use std::time::SystemTime;

use super::audit::{ACKNOWLEDGED, AuditEntry, AuditLog, now_rfc3339};
use super::exec::ExecContext;
use crate::model::interrupted::InterruptedStep;

/// The action of the line that acknowledges an interrupted plan.
pub(crate) const ACK_ACTION: &str = "acknowledge-interrupted";

/// The `:` command that acknowledges every interrupted plan (named in the finding).
pub(crate) const ACK_COMMAND: &str = ":ack-interrupted";

/// Every step with an intent line and no result line of the same plan run and step,
/// in journal order, leaving out plans someone acknowledged.
pub fn interrupted(entries: &[AuditEntry]) -> Vec<InterruptedStep> {
    let mut closed: HashSet<(&str, usize)> = HashSet::new();
    let mut acknowledged: HashSet<&str> = HashSet::new();
    for e in entries {
        let Some(plan) = e.plan.as_deref() else {
            continue;
        };
        if e.action == ACK_ACTION && e.result == ACKNOWLEDGED {
            acknowledged.insert(plan);
        } else if !e.is_intent()
            && let Some(step) = e.step
        {
            closed.insert((plan, step));
        }
    }
    // In journal order, one per (plan, step).
    let mut seen: HashSet<(&str, usize)> = HashSet::new();
    let mut open = Vec::new();
    for e in entries {
        let (Some(plan), Some(step)) = (e.plan.as_deref(), e.step) else {
            continue;
        };
        if !e.is_intent()
            || closed.contains(&(plan, step))
            || acknowledged.contains(plan)
            || !seen.insert((plan, step))
        {
            continue;
        }
        open.push(InterruptedStep {
            plan: plan.to_string(),
            plan_title: e.plan_title.clone().unwrap_or_default(),
            step,
            steps: e.steps.unwrap_or(step),
            action: e.action.clone(),
            object: e.object.clone(),
            detail: e.detail.clone(),
            time: e.time.clone(),
            who: format!("{} as {} in context {}", e.os_user, e.kube_user, e.context),
            how_to_check: how_to_check(&e.action, &e.object),
        });
    }
    open
}

/// The interrupted steps of the journal at `log` (none when it does not exist yet).
/// A journal that cannot be read is an error: "nothing interrupted" would be a guess.
pub(crate) fn interrupted_in(log: &AuditLog) -> io::Result<Vec<InterruptedStep>> {
    match log.read_entries_lenient() {
        Ok(entries) => Ok(interrupted(&entries)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// For `kcops check` and the console: the interrupted steps, or one that says the
/// journal could not be read (so the finding shows the problem instead of nothing).
pub fn interrupted_or_unreadable(path: &Path) -> Vec<InterruptedStep> {
    match interrupted_in(&AuditLog::new(path)) {
        Ok(steps) => steps,
        Err(e) => vec![InterruptedStep {
            plan: String::new(),
            plan_title: String::new(),
            step: 0,
            steps: 0,
            action: String::new(),
            object: format!("AuditLog {}", path.display()),
            detail: format!("the audit journal cannot be read: {e}"),
            time: now_rfc3339(),
            who: String::new(),
            how_to_check: format!("ls -l {}", path.display()),
        }],
    }
}

/// Writes one acknowledgement line per interrupted plan of `log`; returns how many.
pub fn acknowledge(log: &AuditLog, context: &ExecContext) -> io::Result<usize> {
    let open = interrupted_in(log)?;
    let mut plans: Vec<&InterruptedStep> = Vec::new();
    for s in &open {
        if !plans.iter().any(|p| p.plan == s.plan) {
            plans.push(s);
        }
    }
    for s in &plans {
        log.append(&AuditEntry {
            time: now_rfc3339(),
            os_user: context.os_user.clone(),
            kube_user: context.kube_user.clone(),
            context: context.context_name.clone(),
            action: ACK_ACTION.to_string(),
            object: s.object.clone(),
            detail: format!(
                "the operator checked step {} of {} ({}) of plan {}",
                s.step, s.steps, s.detail, s.plan_title
            ),
            result: ACKNOWLEDGED.to_string(),
            dry_run: false,
            plan: Some(s.plan.clone()),
            plan_title: Some(s.plan_title.clone()),
            step: None,
            steps: None,
        })?;
    }
    Ok(plans.len())
}

/// A command that shows whether the step's change is there.
fn how_to_check(action: &str, object: &str) -> String {
    let (kind, path) = object.split_once(' ').unwrap_or((object, ""));
    let (ns, name) = match path.split_once('/') {
        Some((ns, name)) => (Some(ns), name),
        None => (None, path),
    };
    let kubectl = |resource: &str| match ns {
        Some(ns) => format!("kubectl -n {ns} get {resource} {name}"),
        None => format!("kubectl get {resource} {name}"),
    };
    match action {
        "cordon" | "uncordon" => format!("{} (SchedulingDisabled or not)", kubectl("node")),
        "delete-pod" => format!("{} -o wide (gone, terminating or replaced)", kubectl("pod")),
        "scale" => format!(
            "{} (the desired replicas)",
            kubectl(&kind.to_ascii_lowercase())
        ),
        "set-kube-proxy-cluster-cidr" => format!(
            "{} -o jsonpath='{{.data.config\\.conf}}' | grep clusterCIDR",
            kubectl("configmap")
        ),
        "blocklist" => format!("ceph osd blocklist ls | grep {name}"),
        "break-lock" => format!("rbd lock ls {}", path),
        "release-ip-reservations" => format!(
            "ls /var/lib/cni/networks/{name}/ on node {}",
            ns.unwrap_or("?")
        ),
        _ => format!("the state of {object}"),
    }
}

/// The journal as last read, read again only when the file changed (size or mtime)
/// or came or went: the console's feed asks on every derive.
#[derive(Debug, Default)]
pub(crate) struct JournalCache {
    seen: Option<Stamp>,
    steps: Vec<InterruptedStep>,
}

/// What the journal file was when last read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stamp {
    /// Nothing was ever journaled here.
    Absent,
    /// Its size and modification time.
    File(u64, Option<SystemTime>),
}

impl JournalCache {
    pub(crate) fn interrupted(&mut self, path: &Path) -> Vec<InterruptedStep> {
        let stamp = match std::fs::metadata(path) {
            Ok(m) => Some(Stamp::File(m.len(), m.modified().ok())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(Stamp::Absent),
            // Unreadable: read (and say so) every time.
            Err(_) => None,
        };
        if stamp.is_none() || stamp != self.seen {
            self.steps = interrupted_or_unreadable(path);
            self.seen = stamp;
        }
        self.steps.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::audit::INTENT;

    fn line(plan: &str, step: usize, action: &str, object: &str, result: &str) -> AuditEntry {
        AuditEntry {
            time: "2026-01-01T00:00:00Z".into(),
            os_user: "ops".into(),
            kube_user: "admin".into(),
            context: "lab".into(),
            action: action.into(),
            object: object.into(),
            detail: format!("{action} {object}"),
            result: result.into(),
            dry_run: false,
            plan: Some(plan.into()),
            plan_title: Some(format!("Plan {plan}")),
            step: Some(step),
            steps: Some(5),
        }
    }

    #[test]
    fn an_intent_without_its_result_is_interrupted() {
        let entries = vec![
            line("a", 1, "cordon", "Node n1", INTENT),
            line("a", 1, "cordon", "Node n1", "ok"),
            line("a", 3, "delete-pod", "Pod kube-system/kube-proxy-x", INTENT),
            // Another plan, closed by failure and by "not run".
            line("b", 1, "scale", "Deployment d/web", INTENT),
            line("b", 1, "scale", "Deployment d/web", "failed: conflict"),
            line("b", 2, "cordon", "Node n2", "not run: stopped by SIGTERM"),
        ];
        let open = interrupted(&entries);
        assert_eq!(open.len(), 1, "{open:?}");
        let s = &open[0];
        assert_eq!((s.plan.as_str(), s.step, s.steps), ("a", 3, 5));
        assert_eq!(s.plan_title, "Plan a");
        assert_eq!(s.object, "Pod kube-system/kube-proxy-x");
        assert_eq!(s.who, "ops as admin in context lab");
        assert_eq!(
            s.how_to_check,
            "kubectl -n kube-system get pod kube-proxy-x -o wide (gone, terminating or replaced)"
        );
    }

    #[test]
    fn refusals_dry_runs_and_old_lines_are_never_interrupted() {
        let mut old = line("x", 1, "cordon", "Node n1", "ok");
        old.plan = None;
        old.step = None;
        let mut dry = old.clone();
        dry.dry_run = true;
        let mut refused = old.clone();
        refused.result = "refused: read-only".into();
        assert!(interrupted(&[old, dry, refused]).is_empty());
    }

    #[test]
    fn acknowledging_writes_a_line_that_closes_the_plan() {
        let dir = std::env::temp_dir().join(format!(
            "kcops-journal-ack-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4()
        ));
        let log = AuditLog::new(dir.join("audit.log"));
        assert_eq!(interrupted_in(&log).map(|v| v.len()).ok(), Some(0));
        for e in [
            line("a", 2, "break-lock", "RbdImage rbd/img", INTENT),
            line("b", 1, "cordon", "Node n1", INTENT),
            line("b", 1, "cordon", "Node n1", "ok"),
        ] {
            log.append(&e).unwrap();
        }
        // A line torn by a full disk is skipped, not fatal.
        std::fs::OpenOptions::new()
            .append(true)
            .open(log.path())
            .and_then(|mut f| std::io::Write::write_all(&mut f, b"{\"time\":\"20\n"))
            .unwrap();
        let open = interrupted_in(&log).unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].how_to_check, "rbd lock ls rbd/img");
        let ctx = ExecContext::new("admin", "lab");
        assert_eq!(acknowledge(&log, &ctx).unwrap(), 1);
        assert!(interrupted_in(&log).unwrap().is_empty());
        assert_eq!(acknowledge(&log, &ctx).unwrap(), 0);
        let mut cache = JournalCache::default();
        assert!(cache.interrupted(log.path()).is_empty());
        log.append(&line("c", 4, "cordon", "Node n4", INTENT))
            .unwrap();
        assert_eq!(cache.interrupted(log.path()).len(), 1, "re-read on change");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_journal_that_appears_is_read() {
        let dir = std::env::temp_dir().join(format!("kcops-journal-new-{}", std::process::id()));
        let log = AuditLog::new(dir.join("audit.log"));
        let mut cache = JournalCache::default();
        assert!(cache.interrupted(log.path()).is_empty(), "no journal yet");
        assert!(cache.interrupted(log.path()).is_empty(), "still none");
        log.append(&line("d", 1, "cordon", "Node n5", INTENT))
            .unwrap();
        assert_eq!(
            cache.interrupted(log.path()).len(),
            1,
            "read once it exists"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_unreadable_journal_is_reported() {
        let dir = std::env::temp_dir().join(format!("kcops-journal-dir-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("audit.log")).unwrap();
        let steps = interrupted_or_unreadable(&dir.join("audit.log"));
        assert_eq!(steps.len(), 1);
        assert!(
            steps[0]
                .detail
                .starts_with("the audit journal cannot be read")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
