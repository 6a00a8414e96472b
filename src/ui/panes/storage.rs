//! The Storage pane (`:pvc`, `:pv`, `:sc`, `:va`, key 4): claims, volumes, storage
//! classes or CSI VolumeAttachments, one sub-view at a time, each with its own
//! selection and sort.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};

use super::table::{self, TableState};
use super::{DrawCtx, Pane, PaneId};
use crate::model::columns::{Column, ColumnKind};
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
    VolumeAttachment,
}

impl StorageView {
    fn title(self) -> &'static str {
        match self {
            StorageView::Pvc => "PersistentVolumeClaims",
            StorageView::Pv => "PersistentVolumes",
            StorageView::StorageClass => "StorageClasses",
            StorageView::VolumeAttachment => "VolumeAttachments",
        }
    }

    /// The watched kinds the table shows.
    fn kinds(self) -> &'static [&'static str] {
        match self {
            StorageView::Pvc => &["persistentvolumeclaims"],
            StorageView::Pv => &["persistentvolumes"],
            StorageView::StorageClass => &["storageclasses"],
            StorageView::VolumeAttachment => &["volumeattachments"],
        }
    }

    fn model(self, view: &ViewModel) -> &TableModel {
        match self {
            StorageView::Pvc => &view.pvcs,
            StorageView::Pv => &view.pvs,
            StorageView::StorageClass => &view.storage_classes,
            StorageView::VolumeAttachment => &view.volume_attachments,
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
        "va",
        &["volumeattachments", "volumeattachment"],
        "CSI volume attachments: which node holds each volume",
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

/// Volumes no claim is bound to (Released, Available, Failed): the claims view shows
/// them too, so a kept volume is seen without `:pv`.
fn unclaimed_volumes(view: &ViewModel) -> TableModel {
    let columns = view.pvs.columns.clone();
    let status = Column::find(&columns, ColumnKind::Status);
    let rows = view
        .pvs
        .rows
        .filtered(|r| status.is_none_or(|i| r.cell(i, view.snapshot.now) != "Bound"));
    TableModel { columns, rows }
}

/// The sub-view shown and each sub-view's table state.
#[derive(Debug, Default)]
pub(crate) struct StoragePane {
    shown: StorageView,
    tables: [TableState; 4],
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
            "va" => StorageView::VolumeAttachment,
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
        let unclaimed = (shown == StorageView::Pvc)
            .then(|| unclaimed_volumes(ctx.view))
            .filter(|m| !m.rows.is_empty());
        let (top, bottom) = match &unclaimed {
            // The claims keep the room; the volumes get what they need, at most 40 %.
            Some(m) => {
                let wanted = u16::try_from(m.rows.len()).unwrap_or(u16::MAX) + 3;
                let [t, b] = Layout::vertical([
                    Constraint::Min(5),
                    Constraint::Length(wanted.min((area.height * 2 / 5).max(4))),
                ])
                .areas(area);
                (t, Some(b))
            }
            None => (area, None),
        };
        let state = &mut self.tables[shown as usize];
        table::draw_titled(
            f,
            top,
            shown.title(),
            shown.kinds(),
            shown.model(ctx.view),
            state,
            ctx,
        );
        if let (Some(model), Some(b)) = (unclaimed, bottom) {
            let mut state = TableState::default();
            state.refresh(&model, &Default::default(), None, ctx.now);
            let unfocused = DrawCtx {
                focused: false,
                ..*ctx
            };
            table::draw_titled(
                f,
                b,
                "Volumes without a claim (:pv to act on them)",
                StorageView::Pv.kinds(),
                &model,
                &mut state,
                &unfocused,
            );
        }
    }
}
