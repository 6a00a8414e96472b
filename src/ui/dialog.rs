//! Dialogs: the plan preview with confirmation (typed object name for destructive
//! plans), the replicas input for scaling, and plain text prompts (namespace).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use crate::ops::{Confirmation, Plan};
use crate::ui::theme::{Role, Theme};

/// What a dialog is for.
#[derive(Debug)]
pub enum DialogKind {
    /// Show the plan, take the confirmation, run it.
    ConfirmPlan(Plan),
    /// Ask for replicas, then build a scale plan.
    ScaleInput {
        kind: crate::ops::ScaleKind,
        namespace: String,
        name: String,
        current: i32,
    },
    /// Ask for a namespace (empty = all).
    Namespace,
}

#[derive(Debug)]
pub struct Dialog {
    pub kind: DialogKind,
    pub input: String,
    /// Progress and result lines once a plan runs.
    pub progress: Vec<(Role, String)>,
    pub running: bool,
    pub done: bool,
    pub error: Option<String>,
}

impl Dialog {
    pub fn new(kind: DialogKind) -> Self {
        Self {
            kind,
            input: String::new(),
            progress: Vec::new(),
            running: false,
            done: false,
            error: None,
        }
    }

    /// Centered rectangle of `pct_x` x `height` inside `area`.
    pub fn area(area: Rect, pct_x: u16, height: u16) -> Rect {
        let w = area.width * pct_x / 100;
        let h = height.min(area.height);
        Rect {
            x: area.x + (area.width.saturating_sub(w)) / 2,
            y: area.y + (area.height.saturating_sub(h)) / 2,
            width: w,
            height: h,
        }
    }

    pub fn draw(&self, f: &mut Frame, area: Rect, theme: &Theme, read_only: bool) {
        let rect = Self::area(area, 70, 18);
        f.render_widget(Clear, rect);
        let mut lines: Vec<Line> = Vec::new();
        let title;
        match &self.kind {
            DialogKind::ConfirmPlan(plan) => {
                title = format!(" {} ", plan.title);
                for l in plan.render() {
                    lines.push(Line::from(Span::styled(l, theme.style(Role::Text))));
                }
                lines.push(Line::from(""));
                if read_only {
                    lines.push(Line::from(Span::styled(
                        "read-only mode (--read-only): this plan will be refused",
                        theme.style(Role::Warning),
                    )));
                }
                if !self.running && !self.done {
                    let prompt = match &plan.confirmation {
                        Confirmation::TypedName(name) => {
                            format!("Type {name} to confirm, Esc to cancel: ")
                        }
                        Confirmation::YesNo => {
                            "Type yes and Enter to run, Esc to cancel: ".to_string()
                        }
                        Confirmation::None => "Press Enter to run ".to_string(),
                    };
                    lines.push(Line::from(vec![
                        Span::styled(prompt, theme.style(Role::KeyHint)),
                        Span::styled(self.input.clone(), theme.style(Role::Filter)),
                    ]));
                }
            }
            DialogKind::ScaleInput { name, current, .. } => {
                title = format!(" Scale {name} ");
                lines.push(Line::from(format!("Current replicas: {current}")));
                lines.push(Line::from(vec![
                    Span::styled("New replicas: ", theme.style(Role::KeyHint)),
                    Span::styled(self.input.clone(), theme.style(Role::Filter)),
                ]));
                lines.push(Line::from(Span::styled(
                    "Enter to preview the plan, Esc to cancel",
                    theme.style(Role::Muted),
                )));
            }
            DialogKind::Namespace => {
                title = " Namespace ".to_string();
                lines.push(Line::from(vec![
                    Span::styled("Namespace (empty = all): ", theme.style(Role::KeyHint)),
                    Span::styled(self.input.clone(), theme.style(Role::Filter)),
                ]));
            }
        }
        lines.extend(super::dialog::outcome_lines(
            &self.progress,
            self.error.as_deref(),
            self.done,
            theme,
        ));
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.style(Role::DialogBorder))
            .title(Span::styled(title, theme.style(Role::Title)));
        let [inner] = Layout::vertical([Constraint::Min(1)]).areas(rect);
        f.render_widget(
            Paragraph::new(lines)
                .block(block)
                .wrap(Wrap { trim: false })
                .style(theme.style(Role::Dialog)),
            inner,
        );
    }
}

/// A running plan's progress lines, its error and the close hint: the same in the plan
/// dialog and the wizard overlay.
pub fn outcome_lines<'a>(
    progress: &'a [(Role, String)],
    error: Option<&'a str>,
    done: bool,
    theme: &Theme,
) -> Vec<Line<'a>> {
    let mut lines: Vec<Line> = progress
        .iter()
        .map(|(role, p)| Line::from(Span::styled(p.as_str(), theme.style(*role))))
        .collect();
    if let Some(e) = error {
        lines.push(Line::from(Span::styled(e, theme.style(Role::Error))));
    }
    if done {
        lines.push(Line::from(Span::styled(
            "Esc to close",
            theme.style(Role::Muted),
        )));
    }
    lines
}
