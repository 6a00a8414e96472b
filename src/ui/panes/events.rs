//! The Events pane (`:events`, key 6): the events, in the namespace if one is chosen.

use ratatui::Frame;
use ratatui::layout::Rect;

use super::table::{self, TableState};
use super::{DrawCtx, Pane, PaneId};
use crate::ui::commands::Command;
use crate::ui::keymap::Context;
use crate::ui::view::{TableModel, ViewModel};

const COMMANDS: &[Command] = &[Command::show(
    PaneId::Events,
    "events",
    &["ev"],
    "the events (in namespace ns)",
)
.namespaced()];

/// The event table's selection and sort.
#[derive(Debug, Default)]
pub(crate) struct EventsPane {
    table: TableState,
}

impl Pane for EventsPane {
    fn id(&self) -> PaneId {
        PaneId::Events
    }

    fn title(&self) -> &'static str {
        "Events"
    }

    fn contexts(&self) -> &'static [Context] {
        &[Context::Table]
    }

    fn commands(&self) -> &'static [Command] {
        COMMANDS
    }

    fn table<'a>(&'a self, view: &'a ViewModel) -> Option<(&'a TableModel, &'a TableState)> {
        Some((&view.events, &self.table))
    }

    fn table_mut<'a>(
        &'a mut self,
        view: &'a ViewModel,
    ) -> Option<(&'a TableModel, &'a mut TableState)> {
        Some((&view.events, &mut self.table))
    }

    fn draw(&mut self, f: &mut Frame, area: Rect, ctx: &DrawCtx) {
        table::draw_titled(
            f,
            area,
            "Events",
            &["events"],
            &ctx.view.events,
            &mut self.table,
            ctx,
        );
    }
}
