//! `e`: edit an object in `$EDITOR` as `kubectl edit` does, but with the diff shown
//! and a plan to confirm before anything is written: fetch the whole object, hand
//! the terminal to the editor with its YAML, show what changed, then replace it
//! (with the resourceVersion it was read at: a change meanwhile is refused).
//! Refused under `--read-only`.

use std::path::PathBuf;

use super::suspend::Suspend;
use super::{App, Overlay};
use crate::ops::{ObjectRef, Op, Plan, plan::Confirmation, plan::Step};
use crate::ui::detail::Detail;
use crate::ui::theme::Role;
use crate::ui::view::{ObjKey, ObjKind};

/// An edit under way: the file the editor has, and what it held before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EditJob {
    path: PathBuf,
    before: String,
    key: ObjKey,
}

/// `(apiVersion, kind, plural)` of the kinds that can be edited.
fn api_of(kind: ObjKind) -> Option<(&'static str, &'static str, &'static str)> {
    Some(match kind {
        ObjKind::Node => ("v1", "Node", "nodes"),
        ObjKind::Pod => ("v1", "Pod", "pods"),
        ObjKind::Pvc => ("v1", "PersistentVolumeClaim", "persistentvolumeclaims"),
        ObjKind::Pv => ("v1", "PersistentVolume", "persistentvolumes"),
        ObjKind::StorageClass => ("storage.k8s.io/v1", "StorageClass", "storageclasses"),
        ObjKind::VolumeAttachment => ("storage.k8s.io/v1", "VolumeAttachment", "volumeattachments"),
        ObjKind::StatefulSet => ("apps/v1", "StatefulSet", "statefulsets"),
        ObjKind::DaemonSet => ("apps/v1", "DaemonSet", "daemonsets"),
        ObjKind::Deployment => ("apps/v1", "Deployment", "deployments"),
        ObjKind::Event | ObjKind::RbdImage | ObjKind::Resource => return None,
    })
}

/// `$VISUAL`, else `$EDITOR`, else `vi`, split into the program and its arguments.
fn editor() -> (String, Vec<String>) {
    let line = ["VISUAL", "EDITOR"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|e| !e.trim().is_empty()))
        .unwrap_or_else(|| "vi".into());
    let mut words = line.split_whitespace().map(str::to_owned);
    let program = words.next().unwrap_or_else(|| "vi".into());
    (program, words.collect())
}

/// The lines that differ, `-` before and `+` after, with a line of context.
pub(crate) fn diff_lines(before: &str, after: &str) -> Vec<String> {
    let diff = similar::TextDiff::from_lines(before, after);
    diff.unified_diff()
        .context_radius(1)
        .to_string()
        .lines()
        .map(str::to_owned)
        .collect()
}

impl App {
    /// `e` on a row: fetch the object, then [`App::open_editor`].
    pub(super) fn edit(&mut self) {
        let Some(key) = self.selected() else {
            self.status = Some((Role::Warning, "nothing selected to edit".into()));
            return;
        };
        if self.refused_read_only() {
            return;
        }
        if api_of(key.kind).is_none() {
            self.status = Some((
                Role::Warning,
                format!("{} objects cannot be edited here", key.kind.label()),
            ));
            return;
        }
        let Some(conn) = &self.connection else {
            self.status = Some((Role::Warning, "not connected to the API server".into()));
            return;
        };
        self.object_id += 1;
        self.edit_fetch = Some((self.object_id, key.clone()));
        crate::feed::object::spawn_fetch(
            conn.client.clone(),
            key.clone(),
            self.object_id,
            self.tx.clone(),
        );
        self.status = Some((Role::Info, format!("reading {} to edit...", key.name)));
    }

    /// The object arrived: its YAML to a private file, and the editor on it.
    /// (The key is the one `e` was pressed on, whatever is selected now.)
    pub(super) fn open_editor(&mut self, key: ObjKey, value: &serde_json::Value) {
        let before = crate::ui::describe::yaml_of(value).join("\n") + "\n";
        let dir = std::env::temp_dir();
        let path = dir.join(format!(
            "kcops-edit-{}-{}-{}.yaml",
            std::process::id(),
            key.name,
            self.object_id
        ));
        if let Err(e) = write_private(&path, &before) {
            self.status = Some((Role::Error, format!("cannot write {}: {e}", path.display())));
            return;
        }
        let (program, mut args) = editor();
        args.push(path.display().to_string());
        self.suspend = Some(Suspend {
            program,
            args,
            what: format!("editor on {}", key.name),
            edit: Some(EditJob { path, before, key }),
        });
    }

    /// The editor ended: nothing changed, or the diff to read and then the replace
    /// to confirm.
    pub(super) fn edited(&mut self, job: EditJob, editor_failed: bool) {
        let after = std::fs::read_to_string(&job.path);
        let _ = std::fs::remove_file(&job.path);
        let after = match after {
            Ok(a) if !editor_failed => a,
            Ok(_) => return,
            Err(e) => {
                self.status = Some((Role::Error, format!("cannot read the edit back: {e}")));
                return;
            }
        };
        if after == job.before {
            self.status = Some((Role::Info, "edit: no change, nothing to apply".into()));
            return;
        }
        let object: serde_json::Value = match serde_yaml_ng::from_str(&after) {
            Ok(v) => v,
            Err(e) => {
                self.status = Some((
                    Role::Error,
                    format!("edit: not valid YAML, nothing applied: {e}"),
                ));
                return;
            }
        };
        let Some((api_version, kind, plural)) = api_of(job.key.kind) else {
            return;
        };
        let k = &job.key;
        let target = ObjectRef::new(
            kind,
            Some(k.namespace.as_str()).filter(|n| !n.is_empty()),
            k.name.as_str(),
        );
        let op = Op::ReplaceObject {
            api_version: api_version.into(),
            kind: kind.into(),
            plural: plural.into(),
            namespace: k.namespace.to_string(),
            name: k.name.to_string(),
            object,
        };
        let plan = Plan::new(
            format!("Replace {kind} {}", k.name),
            target,
            Confirmation::YesNo,
        )
        .step(Step::new(op, false));
        let mut lines = vec![
            format!("Your edit of {kind} {} (- before, + after).", k.name),
            "Close this view to confirm (or cancel) the replace.".to_owned(),
            String::new(),
        ];
        lines.extend(diff_lines(&job.before, &after));
        let mut view = Detail::messages(lines);
        view.scroll = 0;
        self.overlay = Some(Overlay::Detail(view));
        self.pending_edit = Some(plan);
    }
}

/// Writes `text` readable by this user only (an object may hold what others must
/// not read).
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_diff_shows_only_what_changed() {
        let before = "a: 1\nb: 2\nc: 3\nd: 4\ne: 5\n";
        let after = "a: 1\nb: 2\nc: 30\nd: 4\ne: 5\n";
        let d = super::diff_lines(before, after);
        assert!(
            d.contains(&"-c: 3".to_owned()) && d.contains(&"+c: 30".to_owned()),
            "{d:?}"
        );
        assert!(!d.iter().any(|l| l.contains("a: 1")), "{d:?}");
    }
}
