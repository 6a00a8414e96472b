//! The resource browser's lists: `:svc`, `:secrets`, ... and `:<kind>` for any kind
//! the API server lists (see [`crate::feed::browse`] and
//! [`crate::ui::panes::resources`]).

use std::sync::Arc;

use super::App;
use crate::feed::browse::{BrowseError, ResourceTable};
use crate::ui::panes::PaneId;
use crate::ui::theme::Role;

impl App {
    /// Shows kind `word` in the browser (every namespace listed; `namespace`, if
    /// given, chooses the one shown).
    pub(crate) fn browse(&mut self, word: &str, namespace: Option<&str>) {
        if self.start_browse(word) {
            self.switch(PaneId::Resources);
            if let Some(ns) = namespace {
                self.set_namespace((ns != "all" && ns != "-A").then_some(ns));
            }
        }
    }

    /// `:<word>` that is no command: the browser shows it once the API server
    /// names it a kind; otherwise the unknown-command hint is said.
    pub(super) fn browse_unknown(&mut self, word: &str) {
        if self.start_browse(word) {
            self.browse_pending = true;
        } else {
            self.status = Some((Role::Error, super::commands::unknown(&self.commands, word)));
        }
    }

    /// Starts listing `word`; `false` without a connection (said on the status line).
    fn start_browse(&mut self, word: &str) -> bool {
        let Some(client) = self.connection.as_ref().map(|c| c.client.clone()) else {
            self.status = Some((
                Role::Warning,
                "not connected to the API server yet: nothing to list".into(),
            ));
            return false;
        };
        self.stop_browse();
        self.browse_id += 1;
        self.browse_task = Some(crate::feed::browse::spawn(
            client,
            word.to_owned(),
            None,
            self.browse_id,
            self.tx.clone(),
        ));
        if let Some(b) = self.panes[PaneId::Resources.index()].as_resources() {
            b.ask(word);
        }
        true
    }

    /// `:top`: the pods' CPU and memory in the browser, where metrics.k8s.io is
    /// served; otherwise the status line says it is not.
    pub(crate) fn top(&mut self) {
        let Some(client) = self.connection.as_ref().map(|c| c.client.clone()) else {
            self.status = Some((Role::Warning, "not connected to the API server".into()));
            return;
        };
        self.stop_browse();
        self.browse_id += 1;
        self.browse_task = Some(crate::feed::browse::spawn_top(
            client,
            self.browse_id,
            self.tx.clone(),
        ));
        if let Some(b) = self.panes[PaneId::Resources.index()].as_resources() {
            b.ask("pod metrics");
        }
        self.browse_pending = true;
    }

    /// Stops listing (the browser is left).
    pub(super) fn stop_browse(&mut self) {
        if let Some(t) = self.browse_task.take() {
            t.abort();
        }
        self.browse_pending = false;
    }

    /// A list arrived.
    pub(super) fn on_resources(
        &mut self,
        id: u64,
        result: Result<Arc<ResourceTable>, BrowseError>,
    ) {
        if id != self.browse_id {
            return;
        }
        if std::mem::take(&mut self.browse_pending) {
            match &result {
                Err(BrowseError::Unknown(word)) => {
                    let hint = super::commands::unknown(&self.commands, word);
                    self.status = Some((Role::Error, hint));
                    self.stop_browse();
                    return;
                }
                Err(e @ BrowseError::NoMetrics) => {
                    self.status = Some((Role::Warning, e.to_string()));
                    self.stop_browse();
                    return;
                }
                _ => self.switch(PaneId::Resources),
            }
        }
        if let Some(b) = self.panes[PaneId::Resources.index()].as_resources() {
            b.on_list(result);
        }
        self.refresh_table();
    }
}
