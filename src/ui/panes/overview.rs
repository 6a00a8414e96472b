//! The Overview pane: nodes ready/total, pods by status, warnings in the last hour,
//! and the findings with their evidence and fix.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::table::TableState;
use super::{DrawCtx, Outcome, Pane, PaneCtx, PaneId};
use crate::diagnose::Severity;
use crate::model::objref::ObjRef;
use crate::ops::wizard::unlock::UnlockTarget;
use crate::ui::commands::Command;
use crate::ui::keymap::{Action, Context};
use crate::ui::theme::{Role, Theme};
use crate::ui::view::{TableModel, ViewModel};
use crate::views::freshness;

fn severity_role(s: Severity) -> Role {
    match s {
        Severity::Critical => Role::Critical,
        Severity::Warning => Role::Warning,
        Severity::Info => Role::Info,
    }
}

/// `prefix` + `body` wrapped at word boundaries to `width` columns, the wrapped lines
/// indented to line up under the body (a word longer than a line is left to the
/// paragraph's own wrapping).
pub(crate) fn wrap_hanging(prefix: &str, body: &str, width: usize) -> Vec<String> {
    let indent = " ".repeat(prefix.chars().count());
    let room = width.saturating_sub(indent.len()).max(10);
    let mut out = Vec::new();
    for (i, paragraph) in body.lines().enumerate() {
        let mut line = if i == 0 {
            prefix.to_string()
        } else {
            indent.clone()
        };
        let mut used = 0;
        for word in paragraph.split_whitespace() {
            let len = word.chars().count();
            if used > 0 && used + 1 + len > room {
                out.push(std::mem::replace(&mut line, indent.clone()));
                used = 0;
            }
            if used > 0 {
                line.push(' ');
                used += 1;
            }
            line.push_str(word);
            used += len;
        }
        out.push(line);
    }
    if out.is_empty() {
        out.push(prefix.to_string());
    }
    out
}

/// Draws the overview at `now`; `scroll` scrolls the findings list. Counts from data
/// that is not live are dimmed and say how old they are; "no findings" is good news
/// only when every watched kind is listed and current.
pub fn draw(
    f: &mut Frame,
    area: Rect,
    view: &ViewModel,
    theme: &Theme,
    scroll: u16,
    now: jiff::Timestamp,
) {
    let [top, bottom] = Layout::vertical([Constraint::Length(5), Constraint::Min(3)]).areas(area);
    let s = &view.summary;
    let live = freshness::all_live(&view.sources);
    let note = freshness::of(&view.sources, &["nodes", "pods", "events"]).note(now);
    // Stale or missing counts are not good news.
    let shade = |role: Role| if note.is_some() { Role::Muted } else { role };
    let node_role = if s.nodes_ready == s.nodes_total {
        shade(Role::Ok)
    } else {
        Role::Error
    };
    let mut pods: Vec<Span> = vec![Span::styled("Pods: ", theme.style(Role::Muted))];
    let total: usize = s.pods_by_status.values().sum();
    pods.push(Span::styled(
        format!("{total} total"),
        theme.style(Role::Text),
    ));
    for (status, n) in &s.pods_by_status {
        let role = match status.as_str() {
            "Running" | "Completed" => shade(Role::Ok),
            st if st.contains("CrashLoop") || st.contains("Error") || st.contains("Failed") => {
                Role::Error
            }
            _ => Role::Warning,
        };
        pods.push(Span::raw("  "));
        pods.push(Span::styled(format!("{status} {n}"), theme.style(role)));
    }
    let lines = vec![
        Line::from(vec![
            Span::styled("Nodes: ", theme.style(Role::Muted)),
            Span::styled(
                format!("{}/{} ready", s.nodes_ready, s.nodes_total),
                theme.style(node_role),
            ),
        ]),
        Line::from(pods),
        Line::from(vec![
            Span::styled("Warnings (last hour): ", theme.style(Role::Muted)),
            Span::styled(
                s.warnings_last_hour.to_string(),
                theme.style(if s.warnings_last_hour > 0 {
                    Role::Warning
                } else {
                    shade(Role::Ok)
                }),
            ),
        ]),
    ];
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.style(Role::Border))
        .title(Line::from(
            [Span::styled(" Cluster ", theme.style(Role::Title))]
                .into_iter()
                .chain(note.map(|n| Span::styled(format!("{n} "), theme.style(Role::Warning))))
                .collect::<Vec<_>>(),
        ));
    f.render_widget(Paragraph::new(lines).block(block), top);

    let mut text: Vec<Line> = Vec::new();
    if view.findings.is_empty() {
        text.push(Line::from(if live {
            Span::styled(
                "No findings: everything kcops checks looks healthy.",
                theme.style(Role::Ok),
            )
        } else {
            Span::styled(
                "No findings yet, and none can be trusted: not every kind is listed and current (see the status line).",
                theme.style(Role::Warning),
            )
        }));
    }
    for finding in &view.findings {
        let role = severity_role(finding.severity);
        text.push(Line::from(vec![
            Span::styled(
                format!("{:<10}", format!("{:?}", finding.severity).to_uppercase()),
                theme.style(role),
            ),
            Span::styled(format!("{}  ", finding.id), theme.style(Role::Header)),
            Span::styled(finding.object.clone(), theme.style(Role::Text)),
        ]));
        let width = usize::from(bottom.width.saturating_sub(2));
        let mut push = |prefix: &str, body: &str, role: Role| {
            for l in wrap_hanging(prefix, body, width) {
                text.push(Line::from(Span::styled(l, theme.style(role))));
            }
        };
        push("    ", &finding.explanation, Role::Text);
        for ev in finding.evidence.iter().take(3) {
            push("    > ", ev, Role::Muted);
        }
        push("    fix: ", &finding.fix, Role::Info);
        text.push(Line::from(""));
    }
    let title = format!(" Findings ({}) ", view.findings.len());
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.style(Role::BorderFocused))
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
    PaneId::Overview,
    "overview",
    &["o"],
    "health at a glance and the findings",
)
.unhinted()];

/// How far the findings are scrolled.
#[derive(Debug, Default)]
pub(crate) struct OverviewPane {
    scroll: u16,
}

impl Pane for OverviewPane {
    fn id(&self) -> PaneId {
        PaneId::Overview
    }

    fn title(&self) -> &'static str {
        "Overview"
    }

    fn contexts(&self) -> &'static [Context] {
        &[Context::Overview, Context::Global]
    }

    fn commands(&self) -> &'static [Command] {
        COMMANDS
    }

    fn table<'a>(&'a self, _view: &'a ViewModel) -> Option<(&'a TableModel, &'a TableState)> {
        None
    }

    fn table_mut<'a>(
        &'a mut self,
        _view: &'a ViewModel,
    ) -> Option<(&'a TableModel, &'a mut TableState)> {
        None
    }

    /// The moves scroll the findings.
    fn on_action(&mut self, action: Action, _ctx: &PaneCtx) -> Outcome {
        self.scroll = match action {
            Action::Up => self.scroll.saturating_sub(1),
            Action::Down => self.scroll.saturating_add(1),
            Action::PageUp => self.scroll.saturating_sub(10),
            Action::PageDown => self.scroll.saturating_add(10),
            Action::Top => 0,
            Action::Bottom => self.scroll.saturating_add(1000),
            _ => return Outcome::Ignored,
        };
        Outcome::Handled
    }

    /// The first pod stuck on a lock, else the first image with a stale lock
    /// (findings come most severe first).
    fn unlock_target(&self, view: &ViewModel) -> Option<UnlockTarget> {
        let subject = |id: &str, kind: &str| {
            view.findings
                .iter()
                .filter(|f| f.id == id)
                .find_map(|f| f.subject.as_ref()?.namespaced_as(kind))
                .map(|(ns, name)| (ns.to_string(), name.to_string()))
        };
        if let Some((namespace, name)) = subject("pod.volume-locked", ObjRef::POD) {
            return Some(UnlockTarget::Pod { namespace, name });
        }
        let (pool, image) = subject("rbd.stale-lock", ObjRef::RBD_IMAGE)?;
        Some(UnlockTarget::Image { pool, image })
    }

    fn draw(&mut self, f: &mut Frame, area: Rect, ctx: &DrawCtx) {
        draw(f, area, ctx.view, ctx.theme, self.scroll, ctx.now);
    }
}

#[cfg(test)]
mod tests {
    use super::wrap_hanging;

    #[test]
    fn wrapped_lines_hang_under_the_body() {
        assert_eq!(
            wrap_hanging("    fix: ", "run this then that", 22),
            ["    fix: run this then", "         that"]
        );
        assert_eq!(wrap_hanging("    ", "one\ntwo", 40), ["    one", "    two"]);
        assert_eq!(wrap_hanging("    > ", "", 40), ["    > "]);
        assert_eq!(wrap_hanging("    ", "a b", 0), ["    a b"]);
    }
}
