//! Programs that need the terminal for themselves: a shell in a container (`s` on
//! Pods, `kubectl exec -it` as k9s runs it). The app only says what to run
//! ([`App::suspend`]); the event loop hands the terminal over, waits for the program
//! and takes the terminal back ([`crate::ui::terminal::suspended`]).

use super::App;
use crate::ui::theme::Role;
use crate::ui::view::ObjKind;

/// A program to run in the operator's terminal, and what to say when it ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Suspend {
    pub program: String,
    pub args: Vec<String>,
    /// The status line afterwards: `shell in demo/web-0 (app)`.
    pub what: String,
    /// An edit in `$EDITOR`: what to do with the file afterwards.
    pub edit: Option<super::edit::EditJob>,
}

impl Suspend {
    /// The status line once the program ended with `status`.
    pub(crate) fn ended(
        &self,
        status: std::io::Result<std::process::ExitStatus>,
    ) -> (Role, String) {
        match status {
            Ok(s) if s.success() => (Role::Info, format!("{} ended", self.what)),
            Ok(s) => (
                Role::Warning,
                format!(
                    "{} ended with {}",
                    self.what,
                    s.code()
                        .map_or("a signal".to_owned(), |c| format!("exit code {c}"))
                ),
            ),
            Err(e) => (Role::Error, format!("cannot run {}: {e}", self.program)),
        }
    }
}

impl App {
    /// `s` on a pod: a shell in its first container through `kubectl exec -it`, with
    /// the console's kubeconfig and context. Refused under `--read-only`: a shell
    /// can change anything the container can.
    pub(super) fn shell(&mut self) {
        let Some(key) = self.selected().filter(|k| k.kind == ObjKind::Pod) else {
            self.status = Some((Role::Warning, "select a pod to open a shell in".into()));
            return;
        };
        if self.refused_read_only() {
            return;
        }
        let container = self
            .view
            .snapshot
            .pods
            .iter()
            .find(|p| {
                p.metadata.namespace.as_deref() == Some(key.namespace.as_str())
                    && p.metadata.name.as_deref() == Some(key.name.as_str())
            })
            .and_then(|p| {
                p.spec
                    .as_ref()?
                    .containers
                    .first()
                    .map(|c| c.name.to_string())
            });
        let mut args = self.kubectl_connection_args();
        args.extend(["exec", "-it", "-n", &key.namespace, &key.name].map(str::to_owned));
        if let Some(c) = &container {
            args.extend(["-c".to_owned(), c.clone()]);
        }
        args.extend(["--", "sh"].map(str::to_owned));
        self.suspend = Some(Suspend {
            program: "kubectl".into(),
            args,
            what: format!(
                "shell in {}/{}{}",
                key.namespace,
                key.name,
                container.map(|c| format!(" ({c})")).unwrap_or_default()
            ),
            edit: None,
        });
    }

    /// The program the event loop ran for [`App::suspend`] ended.
    pub(crate) fn suspended_done(
        &mut self,
        job: Suspend,
        status: std::io::Result<std::process::ExitStatus>,
    ) {
        let failed = !matches!(&status, Ok(s) if s.success());
        let (role, text) = job.ended(status);
        self.status = Some((role, text));
        if let Some(edit) = job.edit {
            self.edited(edit, failed);
        }
    }

    /// `--kubeconfig`/`--context` as the console connected, for a kubectl it runs.
    pub(super) fn kubectl_connection_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(path) = &self.connect.kubeconfig {
            args.extend(["--kubeconfig".to_owned(), path.display().to_string()]);
        }
        let context = self
            .connection
            .as_ref()
            .map(|c| c.context.clone())
            .or_else(|| self.connect.context.clone());
        if let Some(context) = context.filter(|c| !c.is_empty()) {
            args.extend(["--context".to_owned(), context]);
        }
        args
    }
}
