//! The wizard overlay: an assessed [`Wizard`] shown page by page (the findings, then
//! the plan or what blocks it), its options toggled, a dry-run, the typed confirmation,
//! and the run's progress step by step. Assessment, dry-run and run all happen in
//! spawned tasks that answer with [`WizardMsg`]s; the UI task only draws and reads keys.

use std::sync::atomic::{AtomicU64, Ordering};

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use tokio::sync::mpsc;

use super::app::UiMsg;
use super::dialog::Dialog;
use super::keymap::{Action, Context, Key, Keymap};
use super::text_field::{Charset, FieldKey, TextField};
use super::theme::{Role, Theme};
use crate::ops::wizard::{Tone, Wizard};
use crate::ops::{Confirmation, Executor, Plan, Progress};

/// Answers from a wizard's background tasks; `id` tells them from an older wizard's.
#[derive(Debug)]
pub enum WizardMsg {
    Assessed {
        id: u64,
        wizard: Box<Wizard>,
    },
    DryRun {
        id: u64,
        result: Result<Vec<String>, String>,
    },
    Progress {
        id: u64,
        progress: Progress,
    },
    Done {
        id: u64,
        result: Result<String, String>,
    },
}

/// What a key asks the app to do (the overlay itself owns no clients).
#[derive(Debug)]
pub(crate) enum WizardCommand {
    None,
    Close,
    /// Show the keys of the wizard (and come back to it).
    Help,
    DryRun(Plan),
    Run(Plan, String),
}

fn next_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[derive(Debug)]
pub(crate) struct WizardOverlay {
    pub id: u64,
    /// Shown while assessing.
    what: String,
    pub wizard: Option<Wizard>,
    page: usize,
    /// The confirmation field on the plan page has the keys.
    typing: bool,
    input: TextField,
    dry_run: Vec<String>,
    /// Step descriptions of the running plan.
    steps: Vec<String>,
    progress: Vec<(Role, String)>,
    running: bool,
    done: bool,
    error: Option<String>,
    /// Rows scrolled back from the end (a page taller than the overlay, e.g. a long
    /// plan at 80x24); the last draw's most, so a key never scrolls past the top.
    scroll_back: u16,
    max_scroll: std::cell::Cell<u16>,
}

impl WizardOverlay {
    /// An overlay waiting for its assessment (`what` says what is being looked at).
    pub(crate) fn assessing(what: impl Into<String>) -> Self {
        WizardOverlay {
            id: next_id(),
            what: what.into(),
            wizard: None,
            page: 0,
            typing: false,
            input: TextField::new(Charset::Name),
            dry_run: Vec::new(),
            steps: Vec::new(),
            progress: Vec::new(),
            running: false,
            done: false,
            error: None,
            scroll_back: 0,
            max_scroll: std::cell::Cell::new(0),
        }
    }

    /// Ends the wizard with an error that arose before the plan could start.
    pub fn fail(&mut self, error: String) {
        self.running = false;
        self.done = true;
        self.error = Some(error);
    }

    /// The wizard's state in its title: running, or ended (and how): an ended wizard
    /// takes no more input, whatever its last page showed.
    fn state_label(&self) -> &'static str {
        let failed =
            self.error.is_some() || self.progress.last().is_some_and(|(r, _)| *r == Role::Error);
        match (self.running, self.done, failed) {
            (true, _, _) => " — running",
            (_, true, true) => " — ended: not done",
            (_, true, false) => " — ended: done",
            _ => "",
        }
    }

    fn last_page(&self) -> usize {
        self.wizard
            .as_ref()
            .map(|w| w.all_pages().len().saturating_sub(1))
            .unwrap_or(0)
    }

    fn plan(&self) -> Option<Plan> {
        self.wizard.as_ref().and_then(Wizard::plan)
    }

    /// On the plan page of a plan confirmed by a typed name, the field has the keys
    /// from the start: the page asks for text, so letters are text, never commands
    /// (an operator typing the name must not tick options or fire dry-runs). Its
    /// cancel key leaves the field for the options and the dry-run.
    fn focus_field_on_plan_page(&mut self) {
        self.typing = !self.running
            && !self.done
            && self.page == self.last_page()
            && matches!(
                self.plan().map(|p| p.confirmation),
                Some(Confirmation::TypedName(_))
            );
    }

    pub(crate) fn on_msg(&mut self, msg: WizardMsg) {
        match msg {
            WizardMsg::Assessed { id, wizard } if id == self.id => {
                self.wizard = Some(*wizard);
                self.page = 0;
                self.focus_field_on_plan_page();
            }
            WizardMsg::DryRun { id, result } if id == self.id => match result {
                Ok(lines) => self.dry_run = lines,
                Err(e) => self.error = Some(e),
            },
            WizardMsg::Progress { id, progress } if id == self.id => self.on_progress(progress),
            WizardMsg::Done { id, result } if id == self.id => {
                self.running = false;
                self.done = true;
                match result {
                    Ok(text) => self.progress.push((Role::Ok, text)),
                    Err(e) => self.progress.push((Role::Error, e)),
                }
            }
            _ => {}
        }
    }

    fn on_progress(&mut self, p: Progress) {
        let step = |i: usize, steps: &[String]| steps.get(i).cloned().unwrap_or_default();
        match p {
            Progress::StepStarted { index, total, .. } => {
                self.progress.push((
                    Role::Muted,
                    format!("… {}/{total} {}", index + 1, step(index, &self.steps)),
                ));
            }
            Progress::StepDone { index, total, text } => {
                self.progress.pop();
                self.progress.push((
                    Role::Ok,
                    format!("✓ {}/{total} {}", index + 1, step(index, &self.steps)),
                ));
                self.progress.push((Role::Muted, format!("    {text}")));
            }
            Progress::StepFailed { index, total, text } => {
                self.progress.pop();
                self.progress.push((
                    Role::Error,
                    format!("✗ {}/{total} {}", index + 1, step(index, &self.steps)),
                ));
                self.progress.push((Role::Error, format!("    {text}")));
            }
        }
    }

    /// Reads one key through the keymap's `[wizard]` section; on the plan's
    /// confirmation field, through `[dialog]` (the field is a typed confirmation
    /// like a dialog's). A character no `[wizard]` key takes toggles the option it
    /// names (the wizard's options carry their own keys, e.g. `p`).
    pub fn on_key(&mut self, key: KeyEvent, keymap: &Keymap) -> WizardCommand {
        if self.typing && !self.running && !self.done {
            return match self.input.on_key(keymap, Context::Dialog, key) {
                FieldKey::Action(action) => self.on_field_action(action),
                FieldKey::Edited | FieldKey::Unchanged => WizardCommand::None,
            };
        }
        if let Some(action) = keymap.action(Context::Wizard, key) {
            return self.on_action(action).unwrap_or(WizardCommand::None);
        }
        if let Some(c) = Key::from_event(&key).and_then(|k| k.text())
            && !self.running
            && !self.done
            && let Some(w) = &mut self.wizard
            && w.toggle(c)
        {
            // The plan changed: an older dry-run no longer shows it.
            self.dry_run.clear();
        }
        WizardCommand::None
    }

    /// Carries out a `[wizard]` action on the pages; `None` if the wizard has no
    /// use for it (so a test can tell a binding that does nothing).
    pub(crate) fn on_action(&mut self, action: Action) -> Option<WizardCommand> {
        let finished = self.done || self.wizard.is_none();
        Some(match action {
            Action::Help => WizardCommand::Help,
            _ if self.running => WizardCommand::None,
            Action::Cancel => WizardCommand::Close,
            Action::Next if finished => WizardCommand::Close,
            Action::Next => {
                self.scroll_back = 0;
                if self.page < self.last_page() {
                    self.page += 1;
                    self.focus_field_on_plan_page();
                } else if self.plan().is_some() {
                    self.typing = true;
                }
                WizardCommand::None
            }
            Action::Up => {
                self.scroll_back = (self.scroll_back + 1).min(self.max_scroll.get());
                WizardCommand::None
            }
            Action::Down => {
                self.scroll_back = self.scroll_back.saturating_sub(1);
                WizardCommand::None
            }
            Action::Back | Action::DryRun if finished => WizardCommand::None,
            Action::Back => {
                self.scroll_back = 0;
                self.page = self.page.saturating_sub(1);
                WizardCommand::None
            }
            Action::DryRun => match self.plan() {
                Some(plan) => WizardCommand::DryRun(plan),
                None => WizardCommand::None,
            },
            _ => return None,
        })
    }

    /// A `[dialog]` action on the confirmation field: confirm runs the plan with
    /// the typed text, cancel leaves the field for the plan's options and dry-run.
    fn on_field_action(&mut self, action: Action) -> WizardCommand {
        match action {
            Action::Help => WizardCommand::Help,
            Action::Cancel => {
                self.typing = false;
                WizardCommand::None
            }
            Action::Confirm => match self.plan() {
                Some(plan) => {
                    self.error = None;
                    self.steps = plan.steps.iter().map(|s| s.description.clone()).collect();
                    self.running = true;
                    self.progress.clear();
                    self.dry_run.clear();
                    WizardCommand::Run(plan, self.input.text().to_owned())
                }
                None => WizardCommand::None,
            },
            // One field: nothing to move to.
            _ => WizardCommand::None,
        }
    }

    pub fn draw(&self, f: &mut Frame, area: Rect, theme: &Theme, keymap: &Keymap, read_only: bool) {
        let cancel = super::help::key_in_prose(keymap, Context::Wizard, Action::Cancel);
        let rect = Dialog::area(area, 92, area.height.saturating_sub(2));
        f.render_widget(Clear, rect);
        let mut lines: Vec<Line> = Vec::new();
        let title = match &self.wizard {
            None => {
                lines.push(Line::from(Span::styled(
                    format!(
                        "Assessing {} (live from the API server and Ceph)...",
                        self.what
                    ),
                    theme.style(Role::Info),
                )));
                lines.push(Line::from(Span::styled(
                    format!("{cancel} to close"),
                    theme.style(Role::Muted),
                )));
                " Wizard ".to_string()
            }
            Some(w) => {
                let pages = w.all_pages();
                let page = self.page.min(pages.len().saturating_sub(1));
                let mut tabs: Vec<Span> = Vec::new();
                for (i, p) in pages.iter().enumerate() {
                    if i > 0 {
                        tabs.push(Span::styled(" › ", theme.style(Role::Muted)));
                    }
                    let role = if i == page {
                        Role::Selection
                    } else {
                        Role::Muted
                    };
                    tabs.push(Span::styled(
                        format!("{}. {}", i + 1, p.heading),
                        theme.style(role),
                    ));
                }
                lines.push(Line::from(tabs));
                lines.push(Line::from(""));
                if let Some(p) = pages.get(page) {
                    for l in &p.lines {
                        let role = match l.tone {
                            Tone::Ok => Role::Ok,
                            Tone::Warn => Role::Warning,
                            Tone::Bad => Role::Error,
                            Tone::Plain => Role::Text,
                        };
                        lines.push(Line::from(Span::styled(
                            format!("{} {}", l.tone.mark(), l.text),
                            theme.style(role),
                        )));
                    }
                }
                lines.push(Line::from(""));
                let on_plan = page + 1 == pages.len();
                if read_only && on_plan && w.plan().is_some() {
                    lines.push(Line::from(Span::styled(
                        "read-only mode (--read-only): this plan will be refused",
                        theme.style(Role::Warning),
                    )));
                }
                // A dry-run is framed so it is never read as the run itself, and is
                // not shown once the wizard ran or ended.
                if !self.dry_run.is_empty() && !self.running && !self.done {
                    lines.push(Line::from(Span::styled(
                        "── dry-run (nothing was changed) ──",
                        theme.style(Role::Muted),
                    )));
                    for l in &self.dry_run {
                        lines.push(Line::from(Span::styled(l.clone(), theme.style(Role::Info))));
                    }
                    lines.push(Line::from(Span::styled(
                        "── end of dry-run ──",
                        theme.style(Role::Muted),
                    )));
                }
                if self.typing
                    && !self.running
                    && !self.done
                    && let Some(Confirmation::TypedName(name)) = w.plan().map(|p| p.confirmation)
                {
                    let field_key =
                        |action| super::help::key_in_prose(keymap, Context::Dialog, action);
                    let mut spans = vec![Span::styled(
                        format!(
                            "Type {name} and {} to run ({}: options and dry-run): ",
                            field_key(Action::Confirm),
                            field_key(Action::Cancel)
                        ),
                        theme.style(Role::Destructive),
                    )];
                    spans.extend(self.input.spans(theme.style(Role::Filter), !self.running));
                    lines.push(Line::from(spans));
                } else if !self.running && !self.done {
                    let hint = |items: &[(Action, &str)]| {
                        super::help::hint_text(keymap, Context::Wizard, items)
                    };
                    let mut text = if !on_plan {
                        hint(&[(Action::Next, "next")])
                    } else if w.plan().is_some() {
                        hint(&[(Action::Next, "type the name to run")])
                    } else {
                        String::new()
                    };
                    let tail = if w.plan().is_some() {
                        let keys: Vec<String> =
                            w.options.iter().map(|o| o.key.to_string()).collect();
                        if on_plan && !keys.is_empty() {
                            text.push_str(&format!("  {} toggle option", keys.join("/")));
                        }
                        hint(&[
                            (Action::DryRun, "dry-run"),
                            (Action::Back, "back"),
                            (Action::Cancel, "close"),
                        ])
                    } else {
                        hint(&[(Action::Back, "back"), (Action::Cancel, "close")])
                    };
                    let text = [text.trim(), tail.as_str()].join("  ");
                    lines.push(Line::from(Span::styled(
                        text.trim().to_owned(),
                        theme.style(Role::KeyHint),
                    )));
                }
                format!(" {}{} ", w.title, self.state_label())
            }
        };
        lines.extend(super::dialog::outcome_lines(
            &self.progress,
            self.error.as_deref(),
            self.done.then_some(cancel.as_str()),
            theme,
        ));
        // What is left to the operator (a taint to remove later) stays the last
        // thing said once the plan ran to its end.
        let ran = self.done && self.progress.last().is_some_and(|(r, _)| *r == Role::Ok);
        if ran && let Some(w) = &self.wizard {
            for l in w.after() {
                lines.push(Line::from(Span::styled(
                    format!("! {l}"),
                    theme.style(Role::Warning),
                )));
            }
        }
        if self.done {
            lines.push(Line::from(Span::styled(
                "This wizard has ended and takes no more input: open it again to retry.",
                theme.style(Role::Muted),
            )));
        }
        // A title wider than the box (an image name at 80 columns) is cut in the
        // border: its whole text opens the page.
        if Span::raw(title.trim()).width() + 2 > usize::from(rect.width.saturating_sub(2)) {
            lines.insert(
                0,
                Line::from(Span::styled(
                    title.trim().to_owned(),
                    theme.style(Role::Title),
                )),
            );
        }
        // Keep the end in view (the confirmation, progress) when the page is taller
        // than the overlay, counting the rows wrapped lines take.
        let height = usize::from(rect.height.saturating_sub(2));
        let width = usize::from(rect.width.saturating_sub(2)).max(1);
        let rows: usize = lines.iter().map(|l| wrapped_rows(l, width)).sum();
        let most = u16::try_from(rows.saturating_sub(height.max(1))).unwrap_or(u16::MAX);
        self.max_scroll.set(most);
        let scroll = most.saturating_sub(self.scroll_back.min(most));
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.style(Role::DialogBorder))
            .title(Span::styled(title, theme.style(Role::Title)));
        f.render_widget(
            Paragraph::new(lines)
                .block(block)
                .wrap(Wrap { trim: false })
                .scroll((scroll, 0))
                .style(theme.style(Role::Dialog)),
            rect,
        );
    }
}

/// Assesses `target` in a task of its own and sends the wizard back.
pub(crate) fn spawn_assess(
    id: u64,
    kube: ::kube::Client,
    ceph: crate::ceph::CephClient,
    target: crate::ops::wizard::unlock::UnlockTarget,
    tx: mpsc::Sender<UiMsg>,
) {
    tokio::spawn(async move {
        use crate::ops::wizard::unlock;
        let wizard = unlock::assess(&unlock::gather(&kube, &ceph, &target).await);
        let _ = tx
            .send(UiMsg::Wizard(WizardMsg::Assessed {
                id,
                wizard: Box::new(wizard),
            }))
            .await;
    });
}

/// The dry-run (an audit append: file IO, so not on the UI task).
pub(crate) fn spawn_dry_run(id: u64, executor: Executor, plan: Plan, tx: mpsc::Sender<UiMsg>) {
    tokio::spawn(async move {
        let result = tokio::task::spawn_blocking(move || executor.dry_run(&plan))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()));
        let _ = tx
            .send(UiMsg::Wizard(WizardMsg::DryRun { id, result }))
            .await;
    });
}

/// Runs the confirmed plan; progress and the end come back as messages, and `after`
/// runs once it ended (e.g. ask Ceph again).
pub(crate) fn spawn_run(
    id: u64,
    executor: Executor,
    plan: Plan,
    input: String,
    tx: mpsc::Sender<UiMsg>,
    after: impl FnOnce() + Send + 'static,
) {
    tokio::spawn(async move {
        let (ptx, mut prx) = mpsc::channel(32);
        let forward = {
            let tx = tx.clone();
            tokio::spawn(async move {
                while let Some(progress) = prx.recv().await {
                    let _ = tx
                        .send(UiMsg::Wizard(WizardMsg::Progress { id, progress }))
                        .await;
                }
            })
        };
        let result = executor.run(&plan, &input, ptx).await;
        let _ = forward.await;
        after();
        let result = result
            .map(|o| {
                format!(
                    "{}: done ({})",
                    o.title,
                    crate::model::count::count(o.steps.len(), "step", "steps")
                )
            })
            .map_err(|e| e.to_string());
        let _ = tx.send(UiMsg::Wizard(WizardMsg::Done { id, result })).await;
    });
}

/// The rows `line` takes in `width` columns, wrapped at spaces as the paragraph
/// wraps it (a word longer than the width is broken).
pub(crate) fn wrapped_rows(line: &Line, width: usize) -> usize {
    let text: String = line.spans.iter().map(|s| s.content.as_ref()).collect();
    let mut rows = 1;
    let mut col = 0;
    for (i, word) in text.split(' ').enumerate() {
        let w = Span::raw(word).width();
        let need = if i == 0 || col == 0 { w } else { w + 1 };
        if col > 0 && col + need > width {
            rows += 1;
            col = 0;
        }
        let w = if col == 0 { w } else { need };
        col += w;
        while col > width {
            rows += 1;
            col -= width;
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::wizard::Page;
    use crossterm::event::{KeyCode, KeyModifiers};

    fn overlay() -> WizardOverlay {
        let mut w = Wizard::new(
            "Delete web-0",
            crate::ops::ObjectRef::new("Pod", Some("demo"), "web-0"),
        );
        w.pages.push(Page::new("What"));
        w.add_option('p', "also something", false);
        w.set_plan(std::sync::Arc::new(|_| Plan::delete_pod("demo", "web-0")));
        let mut o = WizardOverlay::assessing("web-0");
        let id = o.id;
        o.on_msg(WizardMsg::Assessed {
            id,
            wizard: Box::new(w),
        });
        o
    }

    fn press(o: &mut WizardOverlay, k: &Keymap, code: KeyCode) -> WizardCommand {
        o.on_key(KeyEvent::new(code, KeyModifiers::NONE), k)
    }

    #[test]
    fn pages_and_the_typed_confirmation_follow_the_keymap() {
        let k = Keymap::default();
        let mut o = overlay();
        assert!(!o.typing, "the first page takes no text");
        press(&mut o, &k, KeyCode::Right);
        assert_eq!(o.page, 1);
        // The plan page asks for the name: its field has the keys at once.
        assert!(o.typing);
        // Its cancel key leaves the field for the options and the dry-run.
        press(&mut o, &k, KeyCode::Esc);
        assert!(!o.typing);
        press(&mut o, &k, KeyCode::Left);
        assert_eq!(o.page, 0);
        press(&mut o, &k, KeyCode::Enter);
        assert!(o.typing);
        o.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL), &k);
        assert!(!o.typing);
        // Outside the field, the option's own key toggles it; `d` asks for a dry-run.
        press(&mut o, &k, KeyCode::Char('p'));
        assert_eq!(o.wizard.as_ref().and_then(|w| w.option('p')), Some(true));
        assert!(matches!(
            press(&mut o, &k, KeyCode::Char('d')),
            WizardCommand::DryRun(_)
        ));
        // Enter opens the field again; there `d` and `p` are text, `?` is help.
        press(&mut o, &k, KeyCode::Enter);
        assert!(o.typing);
        for c in "dp".chars() {
            press(&mut o, &k, KeyCode::Char(c));
        }
        assert_eq!(o.input.text(), "dp");
        assert!(matches!(
            press(&mut o, &k, KeyCode::Char('?')),
            WizardCommand::Help
        ));
        press(&mut o, &k, KeyCode::Backspace);
        press(&mut o, &k, KeyCode::Backspace);
        for c in "web-0".chars() {
            press(&mut o, &k, KeyCode::Char(c));
        }
        match press(&mut o, &k, KeyCode::Enter) {
            WizardCommand::Run(_, typed) => assert_eq!(typed, "web-0"),
            other => panic!("expected a run, got {other:?}"),
        }
        // While it runs, keys do nothing but help.
        assert!(matches!(
            press(&mut o, &k, KeyCode::Esc),
            WizardCommand::None
        ));
    }

    /// D22: typing the name on the plan page before pressing Enter: every letter is
    /// text (no option ticked, no dry-run asked for), and Enter runs with the name.
    #[test]
    fn letters_typed_on_the_plan_page_are_text_only() {
        let k = Keymap::default();
        let mut o = overlay();
        press(&mut o, &k, KeyCode::Enter);
        assert_eq!(o.page, 1);
        let mut commands = Vec::new();
        for c in "dpdp-web-0".chars() {
            commands.push(press(&mut o, &k, KeyCode::Char(c)));
        }
        assert!(
            commands.iter().all(|c| matches!(c, WizardCommand::None)),
            "{commands:?}"
        );
        assert_eq!(o.wizard.as_ref().and_then(|w| w.option('p')), Some(false));
        assert!(o.dry_run.is_empty());
        assert_eq!(o.input.text(), "dpdp-web-0");
        for _ in 0.."dpdp-".len() {
            press(&mut o, &k, KeyCode::Home);
            press(&mut o, &k, KeyCode::Delete);
        }
        assert_eq!(o.input.text(), "web-0");
        match press(&mut o, &k, KeyCode::Enter) {
            WizardCommand::Run(plan, typed) => {
                assert_eq!(typed, "web-0");
                assert!(plan.check_confirmation(&typed).is_ok());
            }
            other => panic!("expected a run, got {other:?}"),
        }
    }

    /// A wizard whose only page is the plan takes text from the start.
    #[test]
    fn a_plan_only_wizard_takes_text_from_the_start() {
        let mut w = Wizard::new(
            "Delete web-0",
            crate::ops::ObjectRef::new("Pod", Some("demo"), "web-0"),
        );
        w.set_plan(std::sync::Arc::new(|_| Plan::delete_pod("demo", "web-0")));
        let mut o = WizardOverlay::assessing("web-0");
        let id = o.id;
        o.on_msg(WizardMsg::Assessed {
            id,
            wizard: Box::new(w),
        });
        assert_eq!(o.last_page(), 0);
        assert!(o.typing);
        press(&mut o, &Keymap::default(), KeyCode::Char('d'));
        assert_eq!(o.input.text(), "d");
    }

    #[test]
    fn rebound_wizard_keys_take_effect() {
        let (k, errors) = Keymap::parse(
            "[wizard]\nnext = \"ctrl-n\"\ndry-run = \"none\"\n",
            "k.toml",
        );
        assert!(errors.is_empty(), "{errors:?}");
        let k = k.unwrap_or_default();
        let mut o = overlay();
        press(&mut o, &k, KeyCode::Enter);
        assert_eq!(o.page, 0);
        o.on_key(KeyEvent::new(KeyCode::Char('n'), KeyModifiers::CONTROL), &k);
        assert_eq!(o.page, 1);
        // Out of the plan page's field, `d` is no longer a dry-run.
        press(&mut o, &k, KeyCode::Esc);
        assert!(!o.typing);
        assert!(matches!(
            press(&mut o, &k, KeyCode::Char('d')),
            WizardCommand::None
        ));
    }

    #[test]
    fn wrapped_rows_count_what_the_paragraph_wraps() {
        let rows = |t: &str, w| super::wrapped_rows(&Line::from(t.to_string()), w);
        assert_eq!(rows("", 5), 1);
        assert_eq!(rows("aaa bbb", 7), 1);
        assert_eq!(rows("aaa bbb", 5), 2);
        assert_eq!(rows("abcdefghij", 4), 3);
        assert_eq!(rows("✓ a b c d e", 3), 3);
    }

    /// The wizard's text at 80x24, spaces kept, borders dropped.
    fn screen(o: &WizardOverlay, k: &Keymap) -> String {
        let mut t = ratatui::Terminal::new(ratatui::backend::TestBackend::new(80, 24))
            .unwrap_or_else(|e| panic!("{e}"));
        t.draw(|f| o.draw(f, f.area(), &Theme::no_color(), k, false))
            .unwrap_or_else(|e| panic!("{e}"));
        let buf = t.backend().buffer();
        (0..buf.area.height)
            .map(|y| {
                (0..buf.area.width)
                    .map(|x| buf[(x, y)].symbol().to_string())
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// A refused typed confirmation ends the wizard, and it looks ended: no field,
    /// its state in the title; a dry-run is framed as one and gone once it ran.
    #[test]
    fn an_ended_wizard_looks_ended_and_a_dry_run_looks_like_one() {
        let k = Keymap::default();
        let mut o = overlay();
        press(&mut o, &k, KeyCode::Right);
        let id = o.id;
        o.on_msg(WizardMsg::DryRun {
            id,
            result: Ok(vec!["would delete pod demo/web-0".to_string()]),
        });
        let s = screen(&o, &k);
        assert!(s.contains("── dry-run (nothing was changed) ──"), "{s}");
        assert!(s.contains("── end of dry-run ──"), "{s}");
        for c in "web-9".chars() {
            press(&mut o, &k, KeyCode::Char(c));
        }
        assert!(matches!(
            press(&mut o, &k, KeyCode::Enter),
            WizardCommand::Run(..)
        ));
        assert!(screen(&o, &k).contains("— running"));
        o.on_msg(WizardMsg::Done {
            id,
            result: Err("refused: typed 'web-9', expected 'web-0'".to_string()),
        });
        let s = screen(&o, &k);
        assert!(s.contains("— ended: not done"), "{s}");
        assert!(s.contains("takes no more input"), "{s}");
        assert!(!s.contains("Type web-0"), "{s}");
        assert!(!s.contains("dry-run (nothing"), "{s}");
    }

    /// Issue 15 #2: on a plan page taller than an 80x24 window, the prompt that asks
    /// for a long name and the text typed so far are the last rows shown.
    #[test]
    fn the_typed_name_is_on_screen_at_80x24() {
        let name = "kubernetes-dynamic-pvc-820c4169-a8d9-4c5e-b204-7bc69b7a2908";
        let mut w = Wizard::new("Long", crate::ops::ObjectRef::node("n1"));
        let mut page = Page::new("Plan");
        for i in 0..30 {
            page.plain(format!(
                "step {i}: blocklist 198.18.76.11:0/3129440754 for 1h, then remove the lock of rbd/{name}"
            ));
        }
        w.pages.push(page);
        let plan_name = name.to_string();
        w.set_plan(std::sync::Arc::new(move |_| {
            Plan::delete_pod("default", &plan_name)
        }));
        let mut o = WizardOverlay::assessing("n1");
        let id = o.id;
        o.on_msg(WizardMsg::Assessed {
            id,
            wizard: Box::new(w),
        });
        let k = Keymap::default();
        while !o.typing {
            press(&mut o, &k, KeyCode::Enter);
        }
        for c in name.chars() {
            press(&mut o, &k, KeyCode::Char(c));
        }
        let mut t = ratatui::Terminal::new(ratatui::backend::TestBackend::new(80, 24))
            .unwrap_or_else(|e| panic!("{e}"));
        t.draw(|f| o.draw(f, f.area(), &Theme::no_color(), &k, false))
            .unwrap_or_else(|e| panic!("{e}"));
        let text: String = t
            .backend()
            .buffer()
            .content()
            .iter()
            .map(|c| c.symbol())
            .filter(|s| !s.trim().is_empty() && *s != "│")
            .collect();
        assert!(
            text.contains(&format!("dry-run):{name}")),
            "{:?}",
            t.backend().buffer()
        );
    }

    /// A page taller than an 80x24 window shows its end, and scrolls back to its top.
    #[test]
    fn a_long_page_scrolls_at_80x24() {
        let mut w = Wizard::new("Long", crate::ops::ObjectRef::node("n1"));
        let mut page = Page::new("Many");
        for i in 0..40 {
            page.plain(format!("line {i}"));
        }
        w.pages.push(page);
        let mut o = WizardOverlay::assessing("n1");
        let id = o.id;
        o.on_msg(WizardMsg::Assessed {
            id,
            wizard: Box::new(w),
        });
        let k = Keymap::default();
        let theme = Theme::no_color();
        let screen = |o: &WizardOverlay| {
            let mut t = ratatui::Terminal::new(ratatui::backend::TestBackend::new(80, 24))
                .unwrap_or_else(|e| panic!("{e}"));
            t.draw(|f| o.draw(f, f.area(), &theme, &k, false))
                .unwrap_or_else(|e| panic!("{e}"));
            format!("{:?}", t.backend().buffer())
        };
        let end = screen(&o);
        assert!(end.contains("line 39") && !end.contains("line 0 "), "{end}");
        for _ in 0..60 {
            press(&mut o, &k, KeyCode::Up);
        }
        let top = screen(&o);
        assert!(top.contains("line 0 ") && !top.contains("line 39"), "{top}");
        press(&mut o, &k, KeyCode::Down);
        assert!(
            !screen(&o).contains("1. Many"),
            "one row down hides the tabs"
        );
    }
}
