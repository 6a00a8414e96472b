//! The Nodes pane (`:nodes`, key 2): one row per node.

use ratatui::Frame;
use ratatui::layout::Rect;

use super::table::{self, TableState};
use super::{DrawCtx, Pane, PaneId};
use crate::ui::commands::Command;
use crate::ui::keymap::Context;
use crate::ui::view::{TableModel, ViewModel};

const COMMANDS: &[Command] = &[Command::show(
    PaneId::Nodes,
    "nodes",
    &["node", "no"],
    "the nodes",
)];

/// The node table's selection and sort.
#[derive(Debug, Default)]
pub(crate) struct NodesPane {
    table: TableState,
}

impl Pane for NodesPane {
    fn id(&self) -> PaneId {
        PaneId::Nodes
    }

    fn title(&self) -> &'static str {
        "Nodes"
    }

    fn contexts(&self) -> &'static [Context] {
        &[Context::Table]
    }

    fn commands(&self) -> &'static [Command] {
        COMMANDS
    }

    fn table<'a>(&'a self, view: &'a ViewModel) -> Option<(&'a TableModel, &'a TableState)> {
        Some((&view.nodes, &self.table))
    }

    fn table_mut<'a>(
        &'a mut self,
        view: &'a ViewModel,
    ) -> Option<(&'a TableModel, &'a mut TableState)> {
        Some((&view.nodes, &mut self.table))
    }

    fn draw(&mut self, f: &mut Frame, area: Rect, ctx: &DrawCtx) {
        table::draw_titled(
            f,
            area,
            "Nodes",
            &["nodes", "pods"],
            &ctx.view.nodes,
            &mut self.table,
            ctx,
        );
    }
}
