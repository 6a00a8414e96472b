//! The Members pane (`:members`, key 9): one row per ensemble (kind, owner, pods
//! ready/desired, voters/learners, leader, quorum and failures tolerated, verdict) and,
//! below, the selected ensemble's members, with the age of the poll they come from.
//! `r` polls the members at once (they are polled every 5 s anyway).

use jiff::Timestamp;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::overview::wrap_hanging;
use super::table::{self, TableState};
use super::{DrawCtx, Outcome, Pane, PaneCtx, PaneId};
use crate::model::pod_status::human_since;
use crate::ui::commands::Command;
use crate::ui::keymap::{Action, Context};
use crate::ui::theme::{Role, Theme};
use crate::ui::view::{TableModel, Tone, ViewModel};
use crate::views::members::{EnsembleDetail, MEMBER_COLUMNS};

const COMMANDS: &[Command] = &[Command::show(
    PaneId::Members,
    "members",
    &["ensembles", "etcd", "zookeeper"],
    "ensembles (etcd, ZooKeeper): members beside their pods, quorum, verdict",
)];

/// Members older than this are shown as stale (three polls missed).
const STALE_AFTER_SECS: i64 = 15;

/// The ensemble table's selection and sort, and how far the members are scrolled.
#[derive(Debug, Default)]
pub(crate) struct MembersPane {
    table: TableState,
    scroll: u16,
}

fn role(t: Tone) -> Role {
    match t {
        Tone::Ok => Role::Ok,
        Tone::Warning => Role::Warning,
        Tone::Error => Role::Critical,
        Tone::Muted => Role::Muted,
        Tone::Normal | Tone::Header => Role::Text,
    }
}

/// The members as aligned lines: the ensemble and its quorum, the header, one line
/// per member, then the notes (wrapped to `width`).
fn member_lines<'a>(d: &EnsembleDetail, theme: &Theme, stale: bool, width: usize) -> Vec<Line<'a>> {
    let mut widths: Vec<usize> = MEMBER_COLUMNS.iter().map(|c| c.len()).collect();
    for (cells, _) in &d.members {
        for (w, c) in widths.iter_mut().zip(cells) {
            *w = (*w).max(c.chars().count());
        }
    }
    let join = |cells: &[String]| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let header: Vec<String> = MEMBER_COLUMNS.iter().map(|c| c.to_string()).collect();
    let mut lines = vec![
        Line::from(Span::styled(d.title.clone(), theme.style(Role::Text))),
        Line::from(Span::styled(join(&header), theme.style(Role::Header))),
    ];
    for (cells, tone) in &d.members {
        let r = if stale { Role::Muted } else { role(*tone) };
        lines.push(Line::from(Span::styled(join(cells), theme.style(r))));
    }
    if d.members.is_empty() {
        let text = match (&d.error, d.polled_at) {
            (Some(e), _) => format!("member list not read: {e}"),
            (None, None) => "members not polled yet".to_string(),
            (None, Some(_)) => "no members registered".to_string(),
        };
        lines.push(Line::from(Span::styled(text, theme.style(Role::Warning))));
    }
    for n in &d.notes {
        for l in wrap_hanging("", n, width) {
            lines.push(Line::from(Span::styled(l, theme.style(Role::Warning))));
        }
    }
    lines
}

/// ` Members · polled 3s ago ` (`stale: ...` when old).
fn title(d: &EnsembleDetail, now: Timestamp) -> (String, bool) {
    let (age, stale) = match d.polled_at {
        Some(t) => {
            let stale = (now - t).get_seconds() > STALE_AFTER_SECS;
            let age = format!("polled {} ago", human_since(t, now));
            (if stale { format!("stale: {age}") } else { age }, stale)
        }
        None => ("not polled yet".to_string(), false),
    };
    (format!(" Members · {age} "), stale)
}

impl MembersPane {
    fn draw_pane(&mut self, f: &mut Frame, area: Rect, ctx: &DrawCtx) {
        let view = &ctx.view.members;
        let rows = view.ensembles.rows.len() as u16;
        let [top, bottom] = Layout::vertical([
            Constraint::Length(rows.saturating_add(3).clamp(4, 8)),
            Constraint::Min(3),
        ])
        .areas(area);
        let note =
            crate::views::freshness::of(&ctx.view.sources, &["statefulsets", "pods"]).note(ctx.now);
        table::draw_noted(
            f,
            top,
            "Ensembles",
            note.as_deref(),
            &view.ensembles,
            &mut self.table,
            ctx.theme,
            ctx.focused,
            ctx.now,
        );
        let detail = self
            .table
            .selected_key()
            .and_then(|k| view.detail(k))
            .or(view.details.first());
        let (title, lines) = match detail {
            Some(d) => {
                let (t, stale) = title(d, ctx.now);
                let width = usize::from(bottom.width.saturating_sub(2));
                (t, member_lines(d, ctx.theme, stale, width))
            }
            None => (
                " Members ".to_string(),
                vec![Line::from(Span::styled(
                    "No ensemble recognised: etcd and ZooKeeper StatefulSets are found by \
                     image, command or ports (2379/2380; 2181/2888/3888), or by the \
                     annotation kcops.io/ensemble: etcd or zookeeper.",
                    ctx.theme.style(Role::Muted),
                ))],
            ),
        };
        let max_scroll = (lines.len() as u16).saturating_sub(1);
        self.scroll = self.scroll.min(max_scroll);
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(ctx.theme.style(Role::Border))
            .title(Span::styled(title, ctx.theme.style(Role::Title)));
        f.render_widget(
            Paragraph::new(lines).block(block).scroll((self.scroll, 0)),
            bottom,
        );
    }
}

impl Pane for MembersPane {
    fn id(&self) -> PaneId {
        PaneId::Members
    }

    fn title(&self) -> &'static str {
        "Members"
    }

    fn contexts(&self) -> &'static [Context] {
        &[Context::Members, Context::Table]
    }

    fn commands(&self) -> &'static [Command] {
        COMMANDS
    }

    fn table<'a>(&'a self, view: &'a ViewModel) -> Option<(&'a TableModel, &'a TableState)> {
        Some((&view.members.ensembles, &self.table))
    }

    fn table_mut<'a>(
        &'a mut self,
        view: &'a ViewModel,
    ) -> Option<(&'a TableModel, &'a mut TableState)> {
        Some((&view.members.ensembles, &mut self.table))
    }

    /// `r` polls now; pages scroll the members (the ensemble table is short).
    fn on_action(&mut self, action: Action, ctx: &PaneCtx) -> Outcome {
        match action {
            Action::Refresh => crate::members::poll::poll_now(),
            Action::PageUp => self.scroll = self.scroll.saturating_sub(10),
            Action::PageDown => self.scroll = self.scroll.saturating_add(10),
            _ => return table::on_action(self.table_mut(ctx.view), action, ctx),
        }
        Outcome::Handled
    }

    fn draw(&mut self, f: &mut Frame, area: Rect, ctx: &DrawCtx) {
        self.draw_pane(f, area, ctx);
    }
}
