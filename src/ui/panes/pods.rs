//! The Pods pane (`:pods`, key 3): one row per pod, in the namespace if one is chosen.

use ratatui::Frame;
use ratatui::layout::Rect;

use super::table::{self, TableState};
use super::{DrawCtx, Pane, PaneId};
use crate::ui::commands::Command;
use crate::ui::keymap::Context;
use crate::ui::view::{TableModel, ViewModel};

const COMMANDS: &[Command] = &[Command::show(
    PaneId::Pods,
    "pods",
    &["pod", "po"],
    "the pods (in namespace ns)",
)
.namespaced()];

/// The pod table's selection and sort.
#[derive(Debug, Default)]
pub(crate) struct PodsPane {
    table: TableState,
}

impl Pane for PodsPane {
    fn id(&self) -> PaneId {
        PaneId::Pods
    }

    fn title(&self) -> &'static str {
        "Pods"
    }

    fn contexts(&self) -> &'static [Context] {
        &[Context::Pods, Context::Table]
    }

    fn commands(&self) -> &'static [Command] {
        COMMANDS
    }

    fn table<'a>(&'a self, view: &'a ViewModel) -> Option<(&'a TableModel, &'a TableState)> {
        Some((&view.pods, &self.table))
    }

    fn table_mut<'a>(
        &'a mut self,
        view: &'a ViewModel,
    ) -> Option<(&'a TableModel, &'a mut TableState)> {
        Some((&view.pods, &mut self.table))
    }

    fn draw(&mut self, f: &mut Frame, area: Rect, ctx: &DrawCtx) {
        table::draw_titled(
            f,
            area,
            "Pods",
            &["pods"],
            &ctx.view.pods,
            &mut self.table,
            ctx,
        );
    }
}
