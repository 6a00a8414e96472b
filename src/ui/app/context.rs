//! `:ctx`: another kubeconfig context, live. Every source (watches, fetches, logs,
//! the browser) starts again against it; what the old context showed is dropped at
//! once, so no pane shows one cluster's objects under another's name.

use std::sync::Arc;

use super::{App, Overlay};
use crate::ui::detail::Detail;
use crate::ui::panes::PaneId;
use crate::ui::theme::Role;
use crate::ui::view::ViewModel;

impl App {
    /// `:ctx name` switches; `:ctx` lists the contexts (the current one marked).
    pub(crate) fn switch_context(&mut self, name: Option<&str>) {
        let (entries, current) = match crate::kube::connect::contexts(&self.connect) {
            Ok(c) => c,
            Err(e) => {
                self.status = Some((Role::Error, e.to_string()));
                return;
            }
        };
        let now = self
            .connection
            .as_ref()
            .map(|c| c.context.clone())
            .or_else(|| self.connect.context.clone())
            .or(current);
        let Some(name) = name else {
            let mut lines = vec!["kubeconfig contexts (* in use):".to_owned()];
            lines.extend(entries.iter().map(|e| {
                let mark = if Some(&e.name) == now.as_ref() {
                    "*"
                } else {
                    " "
                };
                format!(
                    "{mark} {}  (cluster {}, user {})",
                    e.name, e.cluster, e.user
                )
            }));
            lines.push(String::new());
            lines.push(":ctx NAME switches to NAME (every source reconnects)".into());
            let mut list = Detail::messages(lines);
            list.scroll = 0;
            self.overlay = Some(Overlay::Detail(list));
            return;
        };
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        if !names.contains(&name) {
            self.status = Some((
                Role::Error,
                format!("no context {name:?} (contexts: {})", names.join(", ")),
            ));
            return;
        }
        if let Some(t) = self.log_task.take() {
            t.abort();
        }
        self.overlay = None;
        self.switch(PaneId::Overview);
        self.connect.context = Some(name.to_owned());
        self.connection = None;
        self.reconnect = Some(self.connect.clone());
        self.set_view(Arc::new(ViewModel::default()));
        self.status = Some((Role::Info, format!("switching to context {name}...")));
    }

    /// `:ns` without a name: the namespace picker.
    pub(crate) fn pick_namespace(&mut self) {
        self.on_common_action(crate::ui::keymap::Action::Namespace);
    }
}
