//! The Overview pane: nodes ready/total, pods by status, warnings in the last hour,
//! and the findings with their evidence and fix.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use crate::diagnose::Severity;
use crate::ui::theme::{Role, Theme};
use crate::ui::view::ViewModel;

fn severity_role(s: Severity) -> Role {
    match s {
        Severity::Critical => Role::Critical,
        Severity::Warning => Role::Warning,
        Severity::Info => Role::Info,
    }
}

/// Draws the overview; `scroll` scrolls the findings list.
pub fn draw(f: &mut Frame, area: Rect, view: &ViewModel, theme: &Theme, scroll: u16) {
    let [top, bottom] = Layout::vertical([Constraint::Length(5), Constraint::Min(3)]).areas(area);
    let s = &view.summary;
    let node_role = if s.nodes_ready == s.nodes_total { Role::Ok } else { Role::Error };
    let mut pods: Vec<Span> = vec![Span::styled("Pods: ", theme.style(Role::Muted))];
    let total: usize = s.pods_by_status.values().sum();
    pods.push(Span::styled(format!("{total} total"), theme.style(Role::Text)));
    for (status, n) in &s.pods_by_status {
        let role = match status.as_str() {
            "Running" | "Completed" => Role::Ok,
            st if st.contains("CrashLoop") || st.contains("Error") || st.contains("Failed") => Role::Error,
            _ => Role::Warning,
        };
        pods.push(Span::raw("  "));
        pods.push(Span::styled(format!("{status} {n}"), theme.style(role)));
    }
    let lines = vec![
        Line::from(vec![Span::styled("Nodes: ", theme.style(Role::Muted)), Span::styled(format!("{}/{} ready", s.nodes_ready, s.nodes_total), theme.style(node_role))]),
        Line::from(pods),
        Line::from(vec![
            Span::styled("Warnings (last hour): ", theme.style(Role::Muted)),
            Span::styled(s.warnings_last_hour.to_string(), theme.style(if s.warnings_last_hour > 0 { Role::Warning } else { Role::Ok })),
        ]),
    ];
    let block = Block::default().borders(Borders::ALL).border_style(theme.style(Role::Border)).title(Span::styled(" Cluster ", theme.style(Role::Title)));
    f.render_widget(Paragraph::new(lines).block(block), top);

    let mut text: Vec<Line> = Vec::new();
    if view.findings.is_empty() {
        text.push(Line::from(Span::styled("No findings: everything kcops checks looks healthy.", theme.style(Role::Ok))));
    }
    for finding in &view.findings {
        let role = severity_role(finding.severity);
        text.push(Line::from(vec![
            Span::styled(format!("{:<10}", format!("{:?}", finding.severity).to_uppercase()), theme.style(role)),
            Span::styled(format!("{}  ", finding.id), theme.style(Role::Header)),
            Span::styled(finding.object.clone(), theme.style(Role::Text)),
        ]));
        text.push(Line::from(Span::styled(format!("    {}", finding.explanation), theme.style(Role::Text))));
        for ev in finding.evidence.iter().take(3) {
            text.push(Line::from(Span::styled(format!("    > {ev}"), theme.style(Role::Muted))));
        }
        text.push(Line::from(Span::styled(format!("    fix: {}", finding.fix), theme.style(Role::Info))));
        text.push(Line::from(""));
    }
    let title = format!(" Findings ({}) ", view.findings.len());
    let block = Block::default().borders(Borders::ALL).border_style(theme.style(Role::BorderFocused)).title(Span::styled(title, theme.style(Role::Title)));
    f.render_widget(Paragraph::new(text).block(block).wrap(Wrap { trim: false }).scroll((scroll, 0)), bottom);
}
