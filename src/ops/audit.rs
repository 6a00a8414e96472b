//! The audit log: a journal of JSON lines, so "who cordoned node2 at 03:12?" has an
//! answer after the SSH session is gone, and a console killed mid-plan leaves a trace.
//!
//! Each mutating step of a plan gets two lines: an *intent* (`"result":"intent"`, written
//! and fsync'ed before the step runs) and its *result* (`ok`, `failed: ...`, `already
//! done by someone else: ...`, or `not run: ...`), both carrying the plan's id and the
//! step's number. An intent without a result is a step that may or may not have
//! happened ([`super::journal`] finds them). Refusals and dry-runs stay one line each.
//!
//! Lines are appended with `O_APPEND` and a single `write(2)` each, so two consoles on the
//! same host never interleave halves of lines. The file is created `0600` (it names
//! users, contexts and objects) and never holds secrets: entries are built only from
//! names, never from tokens, keys or request bodies.

use std::ffi::OsString;
use std::fs::{DirBuilder, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// RFC 3339, UTC.
    pub time: String,
    /// The login that ran the console (from the uid, not `$USER`, which anyone can set).
    pub os_user: String,
    /// The kubeconfig user the console acted as.
    pub kube_user: String,
    /// The kubeconfig context.
    pub context: String,
    /// `cordon`, `delete-pod`, `scale`, ... (`+`-joined for a refused multi-step plan).
    pub action: String,
    /// `Node node2`, `StatefulSet db/zk`.
    pub object: String,
    /// The step or plan in words (`Scale StatefulSet db/zk from 1 to 3 replicas ...`).
    pub detail: String,
    /// `intent` (the step is about to run), `ok`, `failed: <why>`, `already done by
    /// someone else: <what the re-check found>`, `not run: <why>`, `refused: <why>`, or
    /// `acknowledged` (an interrupted plan the operator has looked at).
    pub result: String,
    /// A dry-run records what would have been done; nothing was changed.
    pub dry_run: bool,
    /// The run of a plan this line belongs to (a UUID per run); absent on refusals and
    /// dry-runs, which are one line each.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    /// The plan's title, so an interrupted step can be named without the plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_title: Option<String>,
    /// The step's number in the plan, 1-based.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<usize>,
    /// How many steps the plan has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<usize>,
}

/// The `result` of the line written before a step runs.
pub(crate) const INTENT: &str = "intent";
/// The `result` of a step another actor had already carried out (prefix).
pub(crate) const ALREADY_DONE: &str = "already done by someone else";
/// The `result` of an acknowledgement of an interrupted plan.
pub(crate) const ACKNOWLEDGED: &str = "acknowledged";

impl AuditEntry {
    /// The line written before a step runs.
    pub fn is_intent(&self) -> bool {
        self.result == INTENT
    }
}

/// Where audit lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditLog {
    path: PathBuf,
}

impl AuditLog {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        AuditLog { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Creates the parent directories (0700) and the file (0600) if missing, so a plan
    /// can refuse to start when its mutations could not be recorded.
    pub fn ensure(&self) -> io::Result<()> {
        self.open().map(drop)
    }

    /// Appends one entry as one line with a single write, and waits until it is on
    /// disk (fsync): an intent line must survive a crash of the step it announces.
    pub fn append(&self, entry: &AuditEntry) -> io::Result<()> {
        let mut line = serde_json::to_vec(entry).map_err(io::Error::other)?;
        line.push(b'\n');
        let mut file = self.open()?;
        // One write(2) on an O_APPEND file: the line lands whole, after every other line.
        let written = file.write(&line)?;
        if written != line.len() {
            // A full disk can take half a line: end it, so the next line starts clean
            // (readers of the journal skip the torn one).
            if written > 0 {
                let _ = file.write(b"\n");
            }
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!(
                    "short write to {} ({written} of {} bytes)",
                    self.path.display(),
                    line.len()
                ),
            ));
        }
        file.sync_data()
    }

    /// Every entry in the log, in order; a line that is not an entry is an error naming
    /// its line number (the log is ours alone, so that means damage worth reporting).
    pub fn read_entries(&self) -> io::Result<Vec<AuditEntry>> {
        let text = std::fs::read_to_string(&self.path)?;
        text.lines()
            .enumerate()
            .map(|(i, l)| {
                serde_json::from_str(l).map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{}:{}: {e}", self.path.display(), i + 1),
                    )
                })
            })
            .collect()
    }

    /// Every line that is an entry, in order, skipping lines that are not (a line torn
    /// by a full disk or a crash): for scans that must not give up on one bad line.
    pub fn read_entries_lenient(&self) -> io::Result<Vec<AuditEntry>> {
        let text = std::fs::read_to_string(&self.path)?;
        Ok(text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect())
    }

    fn open(&self) -> io::Result<std::fs::File> {
        let dir = self.path.parent().filter(|d| !d.as_os_str().is_empty());
        if let Some(dir) = dir {
            DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        }
        let existed = self.path.exists();
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&self.path)?;
        // A new file's name must survive a crash too, not only its lines.
        if !existed && let Some(dir) = dir {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(file)
    }
}

/// The default path from the two variables it depends on (testable without touching the
/// process environment). The XDG spec says a relative `XDG_STATE_HOME` is invalid and
/// must be ignored.
pub fn default_path_from(
    xdg_state_home: Option<OsString>,
    home: Option<OsString>,
) -> Option<PathBuf> {
    let state = xdg_state_home
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            home.map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .map(|h| h.join(".local/state"))
        })?;
    Some(state.join("kcops").join("audit.log"))
}

/// The current time as the log writes it.
pub fn now_rfc3339() -> String {
    jiff::Timestamp::now().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "kcops-audit-{tag}-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn entry(n: usize) -> AuditEntry {
        AuditEntry {
            time: now_rfc3339(),
            os_user: "ops".into(),
            kube_user: "admin".into(),
            context: "lab".into(),
            action: "cordon".into(),
            object: format!("Node node{n}"),
            detail: "Cordon node".into(),
            result: "ok".into(),
            dry_run: false,
            plan: None,
            plan_title: None,
            step: None,
            steps: None,
        }
    }

    #[test]
    fn default_path_prefers_xdg_state_home() {
        assert_eq!(
            default_path_from(Some("/s".into()), Some("/home/a".into())),
            Some(PathBuf::from("/s/kcops/audit.log"))
        );
        assert_eq!(
            default_path_from(None, Some("/home/a".into())),
            Some(PathBuf::from("/home/a/.local/state/kcops/audit.log"))
        );
        assert_eq!(
            default_path_from(Some("relative".into()), Some("/home/a".into())),
            Some(PathBuf::from("/home/a/.local/state/kcops/audit.log")),
            "a relative XDG_STATE_HOME is ignored"
        );
        assert_eq!(default_path_from(None, None), None);
    }

    #[test]
    fn creates_private_file_and_dirs_and_appends_json_lines() {
        let dir = temp_dir("create");
        let log = AuditLog::new(dir.join("a/b/audit.log"));
        log.append(&entry(1)).unwrap();
        log.append(&entry(2)).unwrap();
        let mode = std::fs::metadata(log.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dmode = std::fs::metadata(dir.join("a/b"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dmode, 0o700);
        let text = std::fs::read_to_string(log.path()).unwrap();
        assert_eq!(text.lines().count(), 2);
        let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        let keys: Vec<&str> = first
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        assert_eq!(
            keys,
            [
                "time",
                "os_user",
                "kube_user",
                "context",
                "action",
                "object",
                "detail",
                "result",
                "dry_run"
            ]
        );
        assert!(
            first["time"]
                .as_str()
                .unwrap()
                .parse::<jiff::Timestamp>()
                .is_ok()
        );
        assert_eq!(
            log.read_entries().unwrap(),
            vec![
                AuditEntry {
                    time: log.read_entries().unwrap()[0].time.clone(),
                    ..entry(1)
                },
                AuditEntry {
                    time: log.read_entries().unwrap()[1].time.clone(),
                    ..entry(2)
                },
            ]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn step_lines_name_the_plan_run_and_old_lines_still_read() {
        let intent = AuditEntry {
            result: INTENT.into(),
            plan: Some("3f2a".into()),
            plan_title: Some("Cordon node node1".into()),
            step: Some(2),
            steps: Some(5),
            ..entry(1)
        };
        assert!(intent.is_intent());
        let v: serde_json::Value = serde_json::to_value(&intent).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        assert_eq!(
            keys[9..],
            ["plan", "plan_title", "step", "steps"],
            "the plan's fields follow the old ones"
        );
        assert_eq!(
            (
                v["result"].as_str(),
                v["step"].as_u64(),
                v["steps"].as_u64()
            ),
            (Some("intent"), Some(2), Some(5))
        );
        // A line written before the journal (no plan fields) is still an entry.
        let old = r#"{"time":"2026-01-01T00:00:00Z","os_user":"ops","kube_user":"admin","context":"lab","action":"cordon","object":"Node n1","detail":"Cordon","result":"ok","dry_run":false}"#;
        let e: AuditEntry = serde_json::from_str(old).unwrap();
        assert_eq!(
            (e.plan.as_deref(), e.step, e.is_intent()),
            (None, None, false)
        );
        // Refusals and dry-runs keep exactly the old fields.
        assert_eq!(
            serde_json::to_value(entry(1))
                .unwrap()
                .as_object()
                .unwrap()
                .len(),
            9
        );
    }

    #[test]
    fn concurrent_appends_never_interleave() {
        let dir = temp_dir("concurrent");
        let log = AuditLog::new(dir.join("audit.log"));
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let log = log.clone();
                std::thread::spawn(move || {
                    for i in 0..50 {
                        let mut e = entry(t * 100 + i);
                        e.detail = "x".repeat(2000);
                        log.append(&e).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(log.read_entries().unwrap().len(), 400);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
