//! The Pods pane (`:pods`, key 3): one row per pod, in the namespace if one is chosen.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::table::{self, TableState};
use super::{DrawCtx, Pane, PaneId};
use crate::ui::commands::Command;
use crate::ui::keymap::Context;
use crate::ui::nav::Drill;
use crate::ui::theme::Role;
use crate::ui::view::{TableModel, ViewModel};

const COMMANDS: &[Command] = &[Command::show(
    PaneId::Pods,
    "pods",
    &["pod", "po"],
    "the pods (in namespace ns)",
)
.namespaced()];

/// The pod table's selection and sort, and the drill-down it shows (with its
/// rows, picked out of the view's pods when the view or the drill-down changes).
#[derive(Debug, Default)]
pub(crate) struct PodsPane {
    table: TableState,
    drill: Option<Drill>,
    /// The drill-down's own selection, so coming back finds the full list as it was.
    drill_table: TableState,
    rows: TableModel,
}

impl PodsPane {
    fn pick_rows(&mut self, view: &ViewModel) {
        self.rows = match &self.drill {
            Some(d) => d.scope.pick(&view.pods, &view.snapshot),
            None => TableModel::default(),
        };
    }
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

    fn on_view(&mut self, view: &ViewModel) {
        if self.drill.is_some() {
            self.pick_rows(view);
        }
    }

    fn drill_into(&mut self, drill: Option<Drill>, view: &ViewModel) {
        if drill != self.drill {
            self.drill_table = TableState::default();
        }
        self.drill = drill;
        self.pick_rows(view);
    }

    fn drilled(&self) -> Option<&Drill> {
        self.drill.as_ref()
    }

    fn table<'a>(&'a self, view: &'a ViewModel) -> Option<(&'a TableModel, &'a TableState)> {
        Some(match self.drill {
            Some(_) => (&self.rows, &self.drill_table),
            None => (&view.pods, &self.table),
        })
    }

    fn table_mut<'a>(
        &'a mut self,
        view: &'a ViewModel,
    ) -> Option<(&'a TableModel, &'a mut TableState)> {
        Some(match self.drill {
            Some(_) => (&self.rows, &mut self.drill_table),
            None => (&view.pods, &mut self.table),
        })
    }

    fn draw(&mut self, f: &mut Frame, area: Rect, ctx: &DrawCtx) {
        match &self.drill {
            Some(d) => {
                let title = format!("{} › Pods", d.trail);
                table::draw_part_titled(
                    f,
                    area,
                    &title,
                    &["pods"],
                    &self.rows,
                    &mut self.drill_table,
                    ctx,
                    false,
                );
                // On the bottom border, where a long image name has the width.
                if let Some(note) = d.scope.note()
                    && area.height > 2
                    && area.width > 4
                {
                    let line = Rect {
                        x: area.x + 1,
                        y: area.y + area.height - 1,
                        width: area.width - 2,
                        height: 1,
                    };
                    let text = Span::styled(format!(" {note} "), ctx.theme.style(Role::Title));
                    f.render_widget(Paragraph::new(Line::from(text)), line);
                }
            }
            None => table::draw_titled(
                f,
                area,
                "Pods",
                &["pods"],
                &ctx.view.pods,
                &mut self.table,
                ctx,
            ),
        }
    }
}
