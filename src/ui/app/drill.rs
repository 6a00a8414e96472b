//! Enter and Esc on a table: down into a node's, workload's or claim's pods, and
//! back (see [`crate::ui::nav`]).

use super::App;
use crate::ui::detail::DetailKind;
use crate::ui::nav::{Drill, PodScope};
use crate::ui::panes::PaneId;
use crate::ui::theme::Role;

impl App {
    /// Enter: the selected node's, workload's or claim's pods; a pod (or anything
    /// without pods of its own) is described.
    pub(super) fn drill_down(&mut self) {
        let Some(key) = self.selected() else {
            self.status = Some((Role::Warning, "nothing selected".into()));
            return;
        };
        let Some(scope) = PodScope::of(&key, &self.view.snapshot) else {
            self.open_detail(DetailKind::Describe);
            return;
        };
        let here = match self.active().drilled() {
            Some(d) => format!("{} › Pods", d.trail),
            None => self.active().title().to_owned(),
        };
        let trail = format!("{here} › {}", scope.label());
        let pods = PaneId::Pods.index();
        let before = self.panes[pods].drilled().cloned();
        self.nav.push(self.pane, before);
        let view = self.view.clone();
        self.panes[pods].drill_into(Some(Drill { scope, trail }), &view);
        self.pane = PaneId::Pods;
        self.refresh_table();
    }

    /// Esc: back to the table the last drill-down started from.
    pub(super) fn go_back(&mut self) {
        let Some((pane, before)) = self.nav.pop() else {
            self.status = Some((
                Role::Info,
                "nothing to go back to: Enter on a node, workload or claim lists its pods".into(),
            ));
            return;
        };
        let view = self.view.clone();
        self.panes[PaneId::Pods.index()].drill_into(before, &view);
        self.pane = pane;
        self.refresh_table();
    }

    /// Drops the drill-down and its back stack (another pane was chosen).
    pub(super) fn leave_drill(&mut self) {
        if self.nav.depth() == 0 {
            return;
        }
        self.nav.clear();
        let view = self.view.clone();
        self.panes[PaneId::Pods.index()].drill_into(None, &view);
    }
}
