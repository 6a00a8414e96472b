//! The Storage pane (`:pvc`, `:pv`, `:sc`, key 4): claims, volumes or storage
//! classes, one sub-view at a time, each with its own selection and sort.

use ratatui::Frame;
use ratatui::layout::Rect;

use super::table::{self, TableState};
use super::{DrawCtx, Pane, PaneId};
use crate::ui::commands::Command;
use crate::ui::keymap::Context;
use crate::ui::view::{TableModel, ViewModel};

/// Sub-views of the Storage pane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub(crate) enum StorageView {
    #[default]
    Pvc,
    Pv,
    StorageClass,
}

impl StorageView {
    fn title(self) -> &'static str {
        match self {
            StorageView::Pvc => "PersistentVolumeClaims",
            StorageView::Pv => "PersistentVolumes",
            StorageView::StorageClass => "StorageClasses",
        }
    }

    /// The watched kinds the table shows.
    fn kinds(self) -> &'static [&'static str] {
        match self {
            StorageView::Pvc => &["persistentvolumeclaims"],
            StorageView::Pv => &["persistentvolumes"],
            StorageView::StorageClass => &["storageclasses"],
        }
    }

    fn model(self, view: &ViewModel) -> &TableModel {
        match self {
            StorageView::Pvc => &view.pvcs,
            StorageView::Pv => &view.pvs,
            StorageView::StorageClass => &view.storage_classes,
        }
    }
}

const COMMANDS: &[Command] = &[
    Command::show(
        PaneId::Storage,
        "pvc",
        &["pvcs"],
        "persistent volume claims",
    )
    .namespaced(),
    Command::show(PaneId::Storage, "pv", &["pvs"], "persistent volumes").namespaced(),
    Command::show(
        PaneId::Storage,
        "sc",
        &["storageclasses"],
        "storage classes",
    )
    .namespaced(),
    Command::show(
        PaneId::Storage,
        "storage",
        &[],
        "the storage pane as last shown",
    )
    .namespaced()
    .unhinted(),
];

/// The sub-view shown and each sub-view's table state.
#[derive(Debug, Default)]
pub(crate) struct StoragePane {
    shown: StorageView,
    tables: [TableState; 3],
}

impl Pane for StoragePane {
    fn id(&self) -> PaneId {
        PaneId::Storage
    }

    fn title(&self) -> &'static str {
        "Storage"
    }

    fn contexts(&self) -> &'static [Context] {
        &[Context::Storage, Context::Table]
    }

    fn commands(&self) -> &'static [Command] {
        COMMANDS
    }

    fn open(&mut self, command: &str, _view: &ViewModel) {
        self.shown = match command {
            "pvc" => StorageView::Pvc,
            "pv" => StorageView::Pv,
            "sc" => StorageView::StorageClass,
            _ => self.shown,
        };
    }

    fn table<'a>(&'a self, view: &'a ViewModel) -> Option<(&'a TableModel, &'a TableState)> {
        Some((self.shown.model(view), &self.tables[self.shown as usize]))
    }

    fn table_mut<'a>(
        &'a mut self,
        view: &'a ViewModel,
    ) -> Option<(&'a TableModel, &'a mut TableState)> {
        Some((
            self.shown.model(view),
            &mut self.tables[self.shown as usize],
        ))
    }

    fn draw(&mut self, f: &mut Frame, area: Rect, ctx: &DrawCtx) {
        let shown = self.shown;
        let state = &mut self.tables[shown as usize];
        table::draw_titled(
            f,
            area,
            shown.title(),
            shown.kinds(),
            shown.model(ctx.view),
            state,
            ctx,
        );
    }
}
