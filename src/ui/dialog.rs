//! Dialogs: the plan preview with confirmation (typed object name for destructive
//! plans), the replicas input for scaling, and plain text prompts (namespace).
//! A dialog reads its keys through the keymap's `[dialog]` section
//! ([`Dialog::on_key`]); the app only carries out what it answers.

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use crate::ops::{Confirmation, Plan};
use crate::ui::keymap::{Action, Context, Keymap};
use crate::ui::text_field::{Charset, FieldKey, TextField};
use crate::ui::theme::{Role, Theme};

/// What a dialog is for.
#[derive(Debug)]
pub(crate) enum DialogKind {
    /// Show the plan, take the confirmation, run it.
    ConfirmPlan(Plan),
    /// Ask for replicas, then build a scale plan.
    ScaleInput {
        kind: crate::ops::ScaleKind,
        namespace: String,
        name: String,
        current: i32,
    },
    /// Ask for a namespace (empty = all); next-field / prev-field step through
    /// `choices` (the namespaces the console knows).
    Namespace { choices: Vec<String> },
}

/// What a key asks the app to do once the dialog has taken it.
#[derive(Debug, PartialEq)]
pub(crate) enum DialogOutcome {
    /// Nothing beyond what the dialog did itself.
    Stay,
    /// Close the dialog.
    Close,
    /// Show the keys of the dialog (and come back to it).
    Help,
    /// Switch to this namespace (`None`: all).
    Namespace(Option<String>),
    /// Preview this plan in a confirmation dialog.
    Preview(Plan),
    /// Run the plan of this dialog with the typed confirmation (the dialog now
    /// shows it running).
    Run,
}

#[derive(Debug)]
pub(crate) struct Dialog {
    pub kind: DialogKind,
    pub input: TextField,
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
            input: TextField::new(Charset::Name),
            progress: Vec::new(),
            running: false,
            done: false,
            error: None,
        }
    }

    /// Reads one key: the field takes the characters of a name or number, the
    /// `[dialog]` keys (and help) act.
    pub fn on_key(&mut self, keymap: &Keymap, key: KeyEvent) -> DialogOutcome {
        if self.running || self.done {
            // Nothing to type into any more; the keys still mean what they say.
            return match keymap.action(Context::Dialog, key) {
                Some(action) => self.on_action(action).unwrap_or(DialogOutcome::Stay),
                None => DialogOutcome::Stay,
            };
        }
        match self.input.on_key(keymap, Context::Dialog, key) {
            FieldKey::Action(action) => self.on_action(action).unwrap_or(DialogOutcome::Stay),
            FieldKey::Edited | FieldKey::Unchanged => DialogOutcome::Stay,
        }
    }

    /// Carries out `action`; `None` if the dialog has no use for it (so a test can
    /// tell a binding that does nothing).
    pub(crate) fn on_action(&mut self, action: Action) -> Option<DialogOutcome> {
        Some(match action {
            Action::Help => DialogOutcome::Help,
            Action::Cancel if self.running => DialogOutcome::Stay,
            Action::Cancel => DialogOutcome::Close,
            Action::Confirm => self.confirm(),
            Action::NextField | Action::PrevField => {
                // Each dialog has one field; a field with choices steps through them.
                if let DialogKind::Namespace { choices } = &self.kind
                    && !self.running
                    && !self.done
                {
                    let next = step_choice(choices, self.input.text(), action == Action::NextField);
                    self.input.set_text(&next);
                }
                DialogOutcome::Stay
            }
            _ => return None,
        })
    }

    fn confirm(&mut self) -> DialogOutcome {
        if self.running {
            return DialogOutcome::Stay;
        }
        if self.done {
            return DialogOutcome::Close;
        }
        let text = self.input.text().trim().to_owned();
        match &self.kind {
            DialogKind::Namespace { .. } => {
                DialogOutcome::Namespace((!text.is_empty() && text != "all").then_some(text))
            }
            DialogKind::ScaleInput {
                kind,
                namespace,
                name,
                current,
            } => match text.parse::<i32>() {
                Ok(n) if n >= 0 => {
                    DialogOutcome::Preview(Plan::scale(*kind, namespace, name, *current, n))
                }
                _ => {
                    self.error = Some(format!(
                        "{:?} is not a replica count (0 or more)",
                        self.input.text()
                    ));
                    DialogOutcome::Stay
                }
            },
            DialogKind::ConfirmPlan(_) => DialogOutcome::Run,
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

    pub fn draw(&self, f: &mut Frame, area: Rect, theme: &Theme, keymap: &Keymap, read_only: bool) {
        let key = |action| super::help::key_in_prose(keymap, Context::Dialog, action);
        let (confirm, cancel) = (key(Action::Confirm), key(Action::Cancel));
        let field = |style| self.input.spans(style, !self.running && !self.done);
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
                            format!("Type {name} to confirm, {cancel} to cancel: ")
                        }
                        Confirmation::YesNo => {
                            format!("Type yes and {confirm} to run, {cancel} to cancel: ")
                        }
                        Confirmation::None => format!("Press {confirm} to run "),
                    };
                    let mut spans = vec![Span::styled(prompt, theme.style(Role::KeyHint))];
                    spans.extend(field(theme.style(Role::Filter)));
                    lines.push(Line::from(spans));
                }
            }
            DialogKind::ScaleInput { name, current, .. } => {
                title = format!(" Scale {name} ");
                lines.push(Line::from(format!("Current replicas: {current}")));
                let mut spans = vec![Span::styled("New replicas: ", theme.style(Role::KeyHint))];
                spans.extend(field(theme.style(Role::Filter)));
                lines.push(Line::from(spans));
                lines.push(Line::from(Span::styled(
                    format!("{confirm} to preview the plan, {cancel} to cancel"),
                    theme.style(Role::Muted),
                )));
            }
            DialogKind::Namespace { choices } => {
                title = " Namespace ".to_string();
                let mut spans = vec![Span::styled(
                    "Namespace (empty = all): ",
                    theme.style(Role::KeyHint),
                )];
                spans.extend(field(theme.style(Role::Filter)));
                lines.push(Line::from(spans));
                let next = key(Action::NextField);
                if choices.len() > 1 && !next.is_empty() {
                    lines.push(Line::from(Span::styled(
                        format!("{next}: next of {} namespaces", choices.len()),
                        theme.style(Role::Muted),
                    )));
                }
                // The list to pick from, the one the field names marked.
                let typed = self.input.text();
                for c in choices {
                    let here = c == typed || (typed.is_empty() && c == "all");
                    let (mark, role) = if here {
                        ("> ", Role::Selection)
                    } else {
                        ("  ", Role::Text)
                    };
                    lines.push(Line::from(Span::styled(
                        format!("{mark}{c}"),
                        theme.style(role),
                    )));
                }
            }
        }
        lines.extend(outcome_lines(
            &self.progress,
            self.error.as_deref(),
            self.done.then_some(cancel.as_str()),
            theme,
        ));
        // As tall as its text needs (at least 18 rows, at most the area); taller
        // text keeps its end in view: the prompt, what was typed and the progress
        // matter most at 80x24.
        let width = area.width * 70 / 100;
        let inner_width = usize::from(width.saturating_sub(2)).max(1);
        let rows: usize = lines
            .iter()
            .map(|l| super::wizard::wrapped_rows(l, inner_width))
            .sum();
        let wanted = u16::try_from(rows + 2).unwrap_or(u16::MAX).max(18);
        let rect = Self::area(area, 70, wanted);
        f.render_widget(Clear, rect);
        let height = usize::from(rect.height.saturating_sub(2)).max(1);
        let scroll = u16::try_from(rows.saturating_sub(height)).unwrap_or(u16::MAX);
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.style(Role::DialogBorder))
            .title(Span::styled(title, theme.style(Role::Title)));
        let [inner] = Layout::vertical([Constraint::Min(1)]).areas(rect);
        f.render_widget(
            Paragraph::new(lines)
                .block(block)
                .wrap(Wrap { trim: false })
                .scroll((scroll, 0))
                .style(theme.style(Role::Dialog)),
            inner,
        );
    }
}

/// A running plan's progress lines, its error and, once done, the close hint with
/// the key that closes: the same in the plan dialog and the wizard overlay.
pub(crate) fn outcome_lines<'a>(
    progress: &'a [(Role, String)],
    error: Option<&'a str>,
    close_key: Option<&str>,
    theme: &Theme,
) -> Vec<Line<'a>> {
    let mut lines: Vec<Line> = progress
        .iter()
        .map(|(role, p)| Line::from(Span::styled(p.as_str(), theme.style(*role))))
        .collect();
    if let Some(e) = error {
        lines.push(Line::from(Span::styled(e, theme.style(Role::Error))));
    }
    if let Some(key) = close_key {
        lines.push(Line::from(Span::styled(
            format!("{key} to close"),
            theme.style(Role::Muted),
        )));
    }
    lines
}

/// The choice after (or before) `current` in `choices`, wrapping; the first (or
/// last) one when `current` is none of them.
fn step_choice(choices: &[String], current: &str, forward: bool) -> String {
    let n = choices.len();
    if n == 0 {
        return current.to_owned();
    }
    let i = match choices.iter().position(|c| c == current) {
        Some(i) if forward => (i + 1) % n,
        Some(i) => (i + n - 1) % n,
        None if forward => 0,
        None => n - 1,
    };
    choices[i].clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::{KeyCode, KeyModifiers};

    fn ev(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    fn confirm_delete() -> Dialog {
        Dialog::new(DialogKind::ConfirmPlan(Plan::delete_pod("demo", "web-0")))
    }

    fn namespaces() -> Dialog {
        let choices = ["all", "default", "kube-system"].map(String::from).to_vec();
        Dialog::new(DialogKind::Namespace { choices })
    }

    fn typed(d: &mut Dialog, k: &Keymap, text: &str) -> Vec<DialogOutcome> {
        text.chars()
            .map(|c| d.on_key(k, ev(KeyCode::Char(c), KeyModifiers::NONE)))
            .collect()
    }

    /// A plan longer than the dialog at 80x24 (a force delete's consequences, a
    /// seven-step plan): the typed confirmation stays on screen with what was typed.
    #[test]
    fn a_long_plan_keeps_its_prompt_in_view_at_80x24() {
        let mut plan = crate::ops::force_delete::plan("demo", "web-0", "node3", true);
        for _ in 0..4 {
            let step = plan.steps[0].clone();
            plan = plan.step(step);
        }
        let mut d = Dialog::new(DialogKind::ConfirmPlan(plan));
        let k = Keymap::default();
        typed(&mut d, &k, "web");
        let mut t = ratatui::Terminal::new(ratatui::backend::TestBackend::new(80, 24))
            .unwrap_or_else(|e| panic!("{e}"));
        t.draw(|f| d.draw(f, f.area(), &Theme::no_color(), &k, false))
            .unwrap_or_else(|e| panic!("{e}"));
        let text: String = t
            .backend()
            .buffer()
            .content()
            .iter()
            .map(|c| c.symbol())
            .collect();
        assert!(
            text.contains("Esc to cancel: web"),
            "{:?}",
            t.backend().buffer()
        );
    }

    #[test]
    fn ctrl_c_cancels_a_confirm_dialog() {
        let k = Keymap::default();
        let mut d = confirm_delete();
        typed(&mut d, &k, "web");
        let ctrl_c = ev(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(d.on_key(&k, ctrl_c), DialogOutcome::Close);
        // Not while the plan runs: it cannot be taken back half-way.
        let mut d = confirm_delete();
        d.running = true;
        assert_eq!(d.on_key(&k, ctrl_c), DialogOutcome::Stay);
    }

    #[test]
    fn question_mark_shows_help_instead_of_being_typed() {
        let k = Keymap::default();
        let mut d = confirm_delete();
        typed(&mut d, &k, "web");
        assert_eq!(typed(&mut d, &k, "?"), [DialogOutcome::Help]);
        assert_eq!(d.input.text(), "web");
        assert_eq!(
            typed(&mut d, &k, "-0"),
            [DialogOutcome::Stay, DialogOutcome::Stay]
        );
        assert_eq!(
            d.on_key(&k, ev(KeyCode::Enter, KeyModifiers::NONE)),
            DialogOutcome::Run
        );
        assert_eq!(d.input.text(), "web-0");
    }

    #[test]
    fn rebound_dialog_keys_take_effect() {
        let (k, errors) = Keymap::parse(
            "[dialog]\nconfirm = \"ctrl-y\"\nnext-field = \"ctrl-n\"\nprev-field = \"ctrl-p\"\n",
            "k.toml",
        );
        assert!(errors.is_empty(), "{errors:?}");
        let k = k.unwrap_or_default();
        let ctrl = |c| ev(KeyCode::Char(c), KeyModifiers::CONTROL);
        let mut d = namespaces();
        // The old keys do nothing any more.
        assert_eq!(
            d.on_key(&k, ev(KeyCode::Enter, KeyModifiers::NONE)),
            DialogOutcome::Stay
        );
        d.on_key(&k, ev(KeyCode::Tab, KeyModifiers::NONE));
        assert_eq!(d.input.text(), "");
        // The new ones step through the namespaces and confirm.
        d.on_key(&k, ctrl('n'));
        d.on_key(&k, ctrl('n'));
        assert_eq!(d.input.text(), "default");
        d.on_key(&k, ctrl('n'));
        d.on_key(&k, ctrl('n'));
        assert_eq!(d.input.text(), "all");
        d.on_key(&k, ctrl('p'));
        assert_eq!(d.input.text(), "kube-system");
        assert_eq!(
            d.on_key(&k, ctrl('y')),
            DialogOutcome::Namespace(Some("kube-system".into()))
        );
        // With the default keys, tab and shift-tab do the same.
        let k = Keymap::default();
        let mut d = namespaces();
        d.on_key(&k, ev(KeyCode::BackTab, KeyModifiers::NONE));
        assert_eq!(d.input.text(), "kube-system");
        d.on_key(&k, ev(KeyCode::Tab, KeyModifiers::NONE));
        assert_eq!(d.input.text(), "all");
        assert_eq!(
            d.on_key(&k, ev(KeyCode::Enter, KeyModifiers::NONE)),
            DialogOutcome::Namespace(None)
        );
    }

    #[test]
    fn scale_input_previews_a_plan_or_says_what_is_wrong() {
        let k = Keymap::default();
        let mut d = Dialog::new(DialogKind::ScaleInput {
            kind: crate::ops::ScaleKind::StatefulSet,
            namespace: "demo".into(),
            name: "web".into(),
            current: 3,
        });
        typed(&mut d, &k, "x");
        assert_eq!(
            d.on_key(&k, ev(KeyCode::Enter, KeyModifiers::NONE)),
            DialogOutcome::Stay
        );
        assert_eq!(
            d.error.as_deref(),
            Some("\"x\" is not a replica count (0 or more)")
        );
        d.on_key(&k, ev(KeyCode::Backspace, KeyModifiers::NONE));
        typed(&mut d, &k, "2");
        assert!(matches!(
            d.on_key(&k, ev(KeyCode::Enter, KeyModifiers::NONE)),
            DialogOutcome::Preview(_)
        ));
    }
}
