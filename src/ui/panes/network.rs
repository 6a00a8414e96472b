//! The Network pane (`:net`, key 7): the pod network add-on and the cluster's network
//! settings, one row per node (agent pod, podCIDR, backend, public IP, sandbox
//! failures in the last hour, verdict), the host section of the node the console runs
//! on, and the network findings with evidence and fix.
//!
//! The node table is an ordinary table (filter, sort, describe/yaml of the node);
//! everything else is text derived with the view, off the UI task.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::overview::wrap_hanging;
use super::table::{self, TableState};
use super::{DrawCtx, Outcome, Pane, PaneCtx, PaneId};
use crate::diagnose::Severity;
use crate::ui::commands::Command;
use crate::ui::keymap::{Action, Context};
use crate::ui::theme::{Role, Theme};
use crate::ui::view::TableModel;
use crate::ui::view::ViewModel;

fn severity_role(s: Severity) -> Role {
    match s {
        Severity::Critical => Role::Critical,
        Severity::Warning => Role::Warning,
        Severity::Info => Role::Info,
    }
}

fn label_lines<'a>(pairs: &[(String, String)], width: usize, theme: &Theme) -> Vec<Line<'a>> {
    pairs
        .iter()
        .map(|(k, v)| {
            Line::from(vec![
                Span::styled(format!("{k:<width$}  "), theme.style(Role::Muted)),
                Span::styled(v.clone(), theme.style(Role::Text)),
            ])
        })
        .collect()
}

/// Draws the pane; `state` is the node table's, `scroll` scrolls the lower section.
pub fn draw(
    f: &mut Frame,
    area: Rect,
    view: &ViewModel,
    state: &mut TableState,
    theme: &Theme,
    focused: bool,
    scroll: u16,
) {
    let net = &view.network;
    let facts_height = (net.facts.len() as u16).saturating_add(2);
    let table_height = (net.nodes.len() as u16).saturating_add(3).clamp(4, 14);
    let [top, middle, bottom] = Layout::vertical([
        Constraint::Length(facts_height),
        Constraint::Length(table_height),
        Constraint::Min(3),
    ])
    .areas(area);

    let key_width = net.facts.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.style(Role::Border))
        .title(Span::styled(" Pod network ", theme.style(Role::Title)));
    f.render_widget(
        Paragraph::new(label_lines(&net.facts, key_width, theme)).block(block),
        top,
    );

    let live = crate::views::freshness::all_live(&view.sources);
    let note =
        crate::views::freshness::of(&view.sources, &["nodes", "pods"]).note(view.snapshot.now);
    table::draw_noted(
        f,
        middle,
        "Nodes",
        note.as_deref(),
        &view.network_nodes,
        state,
        theme,
        focused,
        view.snapshot.now,
    );

    let mut text: Vec<Line> = Vec::new();
    if net.host_title.is_empty() {
        text.push(Line::from(Span::styled(
            "Host: not probed yet (--host-root, KCOPS_HOST_ROOT; --node names this machine's node)",
            theme.style(Role::Muted),
        )));
    } else {
        text.push(Line::from(Span::styled(
            net.host_title.clone(),
            theme.style(Role::Header),
        )));
        let width = net.host.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        for l in label_lines(&net.host, width, theme) {
            let mut spans = vec![Span::raw("  ")];
            spans.extend(l.spans);
            text.push(Line::from(spans));
        }
    }
    for (title, lines) in &net.remote_hosts {
        text.push(Line::from(Span::styled(
            title.clone(),
            theme.style(Role::Header),
        )));
        let width = lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        for l in label_lines(lines, width, theme) {
            let mut spans = vec![Span::raw("  ")];
            spans.extend(l.spans);
            text.push(Line::from(spans));
        }
    }
    text.push(Line::from(""));
    if net.findings.is_empty() {
        text.push(Line::from(if live {
            Span::styled("No network findings.", theme.style(Role::Ok))
        } else {
            Span::styled(
                "No network findings yet: not every kind is listed and current.",
                theme.style(Role::Warning),
            )
        }));
    }
    let width = usize::from(bottom.width.saturating_sub(2));
    for finding in &net.findings {
        text.push(Line::from(vec![
            Span::styled(
                format!("{:<10}", finding.severity.as_str().to_uppercase()),
                theme.style(severity_role(finding.severity)),
            ),
            Span::styled(format!("{}  ", finding.id), theme.style(Role::Header)),
            Span::styled(finding.object.clone(), theme.style(Role::Text)),
        ]));
        let mut push = |prefix: &str, body: &str, role: Role| {
            for l in wrap_hanging(prefix, body, width) {
                text.push(Line::from(Span::styled(l, theme.style(role))));
            }
        };
        push("    ", &finding.explanation, Role::Text);
        for ev in finding.evidence.iter().take(4) {
            push("    > ", ev, Role::Muted);
        }
        // Say that more exists: the hidden line may be the one that proves a fix safe.
        if finding.evidence.len() > 4 {
            push(
                "    > ",
                &format!(
                    "+{} more (all of it on the Overview)",
                    finding.evidence.len() - 4
                ),
                Role::Muted,
            );
        }
        push("    fix: ", &finding.fix, Role::Info);
    }
    let title = format!(" Host and findings ({}) ", net.findings.len());
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.style(Role::Border))
        .title(Span::styled(title, theme.style(Role::Title)));
    f.render_widget(
        Paragraph::new(text)
            .block(block)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0)),
        bottom,
    );
}

const COMMANDS: &[Command] = &[Command::show(
    PaneId::Network,
    "net",
    &["network"],
    "the pod network: add-on, settings, nodes, host, findings",
)];

/// The node table's selection and sort, and how far the section below is scrolled.
#[derive(Debug, Default)]
pub(crate) struct NetworkPane {
    table: TableState,
    scroll: u16,
}

impl Pane for NetworkPane {
    fn id(&self) -> PaneId {
        PaneId::Network
    }

    fn title(&self) -> &'static str {
        "Network"
    }

    fn contexts(&self) -> &'static [Context] {
        &[Context::Network, Context::Table]
    }

    fn commands(&self) -> &'static [Command] {
        COMMANDS
    }

    fn table<'a>(&'a self, view: &'a ViewModel) -> Option<(&'a TableModel, &'a TableState)> {
        Some((&view.network_nodes, &self.table))
    }

    fn table_mut<'a>(
        &'a mut self,
        view: &'a ViewModel,
    ) -> Option<(&'a TableModel, &'a mut TableState)> {
        Some((&view.network_nodes, &mut self.table))
    }

    /// The node table is short: pages scroll the host and findings section.
    fn on_action(&mut self, action: Action, ctx: &PaneCtx) -> Outcome {
        match action {
            Action::PageUp => self.scroll = self.scroll.saturating_sub(10),
            Action::PageDown => self.scroll = self.scroll.saturating_add(10),
            _ => return table::on_action(self.table_mut(ctx.view), action, ctx),
        }
        Outcome::Handled
    }

    fn draw(&mut self, f: &mut Frame, area: Rect, ctx: &DrawCtx) {
        draw(
            f,
            area,
            ctx.view,
            &mut self.table,
            ctx.theme,
            ctx.focused,
            self.scroll,
        );
    }
}
