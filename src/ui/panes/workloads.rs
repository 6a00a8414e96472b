//! The Workloads pane (`:workloads`, `:sts`, `:ds`, `:deploy`, key 5): StatefulSets,
//! DaemonSets and Deployments together or one kind at a time, each with its own
//! selection and sort.

use ratatui::Frame;
use ratatui::layout::Rect;

use super::table::{self, TableState};
use super::{DrawCtx, Pane, PaneId};
use crate::ui::commands::Command;
use crate::ui::keymap::Context;
use crate::ui::view::{ObjKind, TableModel, ViewModel};

/// Which workloads the pane lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub(crate) enum WorkloadFilter {
    #[default]
    All,
    StatefulSets,
    DaemonSets,
    Deployments,
}

impl WorkloadFilter {
    fn title(self) -> &'static str {
        match self {
            WorkloadFilter::All => "Workloads",
            WorkloadFilter::StatefulSets => "StatefulSets",
            WorkloadFilter::DaemonSets => "DaemonSets",
            WorkloadFilter::Deployments => "Deployments",
        }
    }

    /// The watched kinds the table shows.
    fn kinds(self) -> &'static [&'static str] {
        match self {
            WorkloadFilter::All => &["statefulsets", "daemonsets", "deployments"],
            WorkloadFilter::StatefulSets => &["statefulsets"],
            WorkloadFilter::DaemonSets => &["daemonsets"],
            WorkloadFilter::Deployments => &["deployments"],
        }
    }

    fn kind(self) -> Option<ObjKind> {
        match self {
            WorkloadFilter::All => None,
            WorkloadFilter::StatefulSets => Some(ObjKind::StatefulSet),
            WorkloadFilter::DaemonSets => Some(ObjKind::DaemonSet),
            WorkloadFilter::Deployments => Some(ObjKind::Deployment),
        }
    }
}

const COMMANDS: &[Command] = &[
    Command::show(PaneId::Workloads, "sts", &["statefulsets"], "StatefulSets").namespaced(),
    Command::show(PaneId::Workloads, "ds", &["daemonsets"], "DaemonSets").namespaced(),
    Command::show(PaneId::Workloads, "deploy", &["deployments"], "Deployments").namespaced(),
    Command::show(PaneId::Workloads, "workloads", &[], "all workloads")
        .namespaced()
        .unhinted(),
];

/// The kind shown, each kind's table state, and the rows of that kind (picked out
/// of the view's workloads when the view or the kind changes).
#[derive(Debug, Default)]
pub(crate) struct WorkloadsPane {
    shown: WorkloadFilter,
    tables: [TableState; 4],
    rows: TableModel,
}

impl WorkloadsPane {
    fn pick_rows(&mut self, view: &ViewModel) {
        let want = self.shown.kind();
        self.rows = TableModel {
            columns: view.workloads.columns.clone(),
            rows: view
                .workloads
                .rows
                .filtered(|r| want.is_none_or(|k| r.kind() == k)),
        };
    }
}

impl Pane for WorkloadsPane {
    fn id(&self) -> PaneId {
        PaneId::Workloads
    }

    fn title(&self) -> &'static str {
        "Workloads"
    }

    fn contexts(&self) -> &'static [Context] {
        &[Context::Workloads, Context::Table]
    }

    fn commands(&self) -> &'static [Command] {
        COMMANDS
    }

    fn open(&mut self, command: &str, view: &ViewModel) {
        self.shown = match command {
            "sts" => WorkloadFilter::StatefulSets,
            "ds" => WorkloadFilter::DaemonSets,
            "deploy" => WorkloadFilter::Deployments,
            _ => WorkloadFilter::All,
        };
        self.pick_rows(view);
    }

    fn on_view(&mut self, view: &ViewModel) {
        self.pick_rows(view);
    }

    fn table<'a>(&'a self, _view: &'a ViewModel) -> Option<(&'a TableModel, &'a TableState)> {
        Some((&self.rows, &self.tables[self.shown as usize]))
    }

    fn table_mut<'a>(
        &'a mut self,
        _view: &'a ViewModel,
    ) -> Option<(&'a TableModel, &'a mut TableState)> {
        Some((&self.rows, &mut self.tables[self.shown as usize]))
    }

    fn draw(&mut self, f: &mut Frame, area: Rect, ctx: &DrawCtx) {
        let state = &mut self.tables[self.shown as usize];
        let (title, kinds) = (self.shown.title(), self.shown.kinds());
        table::draw_titled(f, area, title, kinds, &self.rows, state, ctx);
    }
}
