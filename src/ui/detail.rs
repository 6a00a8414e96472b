//! The detail overlay: describe-style text, YAML with search, and pod logs (container
//! choice, previous instance, follow, bounded buffer). Text arrives from background
//! tasks; this holds and draws it, and reads the `[detail]` keys
//! ([`Detail::on_key`]).

use std::collections::VecDeque;

use crossterm::event::KeyEvent;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use crate::ui::keymap::{Action, Context, Keymap};
use crate::ui::theme::{Role, Theme};
use crate::ui::view::ObjKey;

/// Lines one page-up / page-down moves.
const PAGE: isize = 20;
/// Columns a sideways scroll moves (when long lines are not wrapped).
const SIDEWAYS: u16 = 8;

/// What a key asks the app to do once the view has taken it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DetailOutcome {
    /// Nothing beyond what the view did itself (scrolled, found, ...).
    Stay,
    /// Close the view (and stop its log stream).
    Close,
    /// Show the keys of the view (and come back to it).
    Help,
    /// Open the search prompt.
    Search,
    /// No line matches the search.
    NoMatch,
    /// The log options changed: restart the stream.
    RestartLogs,
}

/// Most log lines kept in memory for one view.
pub(crate) const MAX_LOG_LINES: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DetailKind {
    Describe,
    Yaml,
    Logs,
    /// The console's own messages (config problems, what the status line said):
    /// kept here because the status line shows one at a time and clears at a key.
    Messages,
}

#[derive(Debug)]
pub(crate) struct Detail {
    pub kind: DetailKind,
    pub key: ObjKey,
    pub lines: VecDeque<String>,
    pub scroll: usize,
    /// Long lines wrap (logs and messages start so: their point is often at the
    /// end), else they are cut and `column` scrolls them sideways.
    pub wrap: bool,
    pub column: u16,
    pub search: Option<String>,
    /// Logs: which container, all containers, previous instance, following.
    pub container: Option<String>,
    pub containers: Vec<String>,
    pub previous: bool,
    pub follow: bool,
    pub error: Option<String>,
}

impl Detail {
    pub fn new(kind: DetailKind, key: ObjKey, lines: Vec<String>) -> Self {
        Self {
            kind,
            key,
            lines: lines.into(),
            scroll: 0,
            wrap: matches!(kind, DetailKind::Logs | DetailKind::Messages),
            column: 0,
            search: None,
            container: None,
            containers: Vec::new(),
            previous: false,
            follow: false,
            error: None,
        }
    }

    /// The console's messages, oldest first, scrolled to the newest.
    pub fn messages(lines: Vec<String>) -> Self {
        let key = ObjKey {
            kind: super::view::ObjKind::Event,
            namespace: Default::default(),
            name: Default::default(),
        };
        let mut d = Detail::new(DetailKind::Messages, key, lines);
        d.scroll = d.lines.len().saturating_sub(1);
        d
    }

    pub fn title(&self) -> String {
        let what = match self.kind {
            DetailKind::Describe => "describe",
            DetailKind::Yaml => "yaml",
            DetailKind::Logs => "logs",
            DetailKind::Messages => return format!(" messages ({}) ", self.lines.len()),
        };
        let obj = if self.key.namespace.is_empty() {
            self.key.name.to_string()
        } else {
            format!("{}/{}", self.key.namespace, self.key.name)
        };
        let mut t = format!(" {what} {} {obj} ", self.key.kind.label());
        if self.kind == DetailKind::Logs {
            if let Some(c) = &self.container {
                t.push_str(&format!("[{c}] "));
            }
            if self.previous {
                t.push_str("(previous) ");
            }
            if self.follow {
                t.push_str("(follow) ");
            }
        }
        t
    }

    /// Appends log lines, keeping the buffer bounded and following the tail if asked.
    pub(crate) fn push_lines(&mut self, new: impl IntoIterator<Item = String>) {
        for l in new {
            self.lines.push_back(l);
        }
        while self.lines.len() > MAX_LOG_LINES {
            self.lines.pop_front();
            self.scroll = self.scroll.saturating_sub(1);
        }
        if self.follow {
            self.scroll = self.lines.len().saturating_sub(1);
        }
    }

    pub(crate) fn scroll_by(&mut self, delta: isize) {
        let max = self.lines.len().saturating_sub(1) as isize;
        self.scroll = (self.scroll as isize + delta).clamp(0, max.max(0)) as usize;
    }

    /// Reads one key through the keymap's `[detail]` section.
    pub fn on_key(&mut self, keymap: &Keymap, key: KeyEvent) -> DetailOutcome {
        match keymap.action(Context::Detail, key) {
            Some(action) => self.on_action(action).unwrap_or(DetailOutcome::Stay),
            None => DetailOutcome::Stay,
        }
    }

    /// Carries out `action`; `None` if a detail view has no use for it (so a test
    /// can tell a binding that does nothing).
    pub(crate) fn on_action(&mut self, action: Action) -> Option<DetailOutcome> {
        let logs = self.kind == DetailKind::Logs;
        let found = |found: bool| {
            if found {
                DetailOutcome::Stay
            } else {
                DetailOutcome::NoMatch
            }
        };
        Some(match action {
            Action::Close | Action::Quit => DetailOutcome::Close,
            Action::Help => DetailOutcome::Help,
            Action::Up => self.scroll_and_stay(-1),
            Action::Down => self.scroll_and_stay(1),
            Action::PageUp => self.scroll_and_stay(-PAGE),
            Action::PageDown => self.scroll_and_stay(PAGE),
            Action::Top => {
                self.scroll = 0;
                DetailOutcome::Stay
            }
            Action::Bottom => {
                self.scroll = self.lines.len().saturating_sub(1);
                DetailOutcome::Stay
            }
            Action::Search => DetailOutcome::Search,
            Action::SearchNext => found(self.search_next()),
            Action::SearchPrev => found(self.search_prev()),
            // Log options mean nothing in describe and YAML views.
            Action::ToggleFollow | Action::TogglePrevious | Action::NextContainer if !logs => {
                DetailOutcome::Stay
            }
            Action::ToggleFollow => {
                self.follow = !self.follow;
                DetailOutcome::RestartLogs
            }
            Action::TogglePrevious => {
                self.previous = !self.previous;
                DetailOutcome::RestartLogs
            }
            Action::ToggleWrap => {
                self.wrap = !self.wrap;
                self.column = 0;
                DetailOutcome::Stay
            }
            Action::ScrollLeft => {
                self.column = self.column.saturating_sub(SIDEWAYS);
                DetailOutcome::Stay
            }
            Action::ScrollRight if self.wrap => DetailOutcome::Stay,
            Action::ScrollRight => {
                let longest = self.lines.iter().map(|l| l.chars().count()).max();
                let limit = u16::try_from(longest.unwrap_or(0)).unwrap_or(u16::MAX);
                self.column = self
                    .column
                    .saturating_add(SIDEWAYS)
                    .min(limit.saturating_sub(1));
                DetailOutcome::Stay
            }
            Action::NextContainer if self.containers.is_empty() => DetailOutcome::Stay,
            Action::NextContainer => {
                let i = self
                    .containers
                    .iter()
                    .position(|c| Some(c) == self.container.as_ref())
                    .map(|i| (i + 1) % self.containers.len())
                    .unwrap_or(0);
                self.container = self.containers.get(i).cloned();
                DetailOutcome::RestartLogs
            }
            _ => return None,
        })
    }

    fn scroll_and_stay(&mut self, delta: isize) -> DetailOutcome {
        self.scroll_by(delta);
        DetailOutcome::Stay
    }

    /// Jumps to the next line (after the current one) containing the search text.
    pub(crate) fn search_next(&mut self) -> bool {
        self.search_step(true)
    }

    /// Jumps to the previous line (before the current one) containing the search
    /// text.
    pub(crate) fn search_prev(&mut self) -> bool {
        self.search_step(false)
    }

    fn search_step(&mut self, forward: bool) -> bool {
        let Some(needle) = self
            .search
            .as_ref()
            .map(|s| s.to_lowercase())
            .filter(|s| !s.is_empty())
        else {
            return false;
        };
        let n = self.lines.len();
        for step in 1..=n {
            let i = if forward {
                (self.scroll + step) % n
            } else {
                (self.scroll + n - step % n) % n
            };
            if self
                .lines
                .get(i)
                .is_some_and(|l| l.to_lowercase().contains(&needle))
            {
                self.scroll = i;
                return true;
            }
        }
        false
    }

    pub fn draw(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        f.render_widget(Clear, area);
        let height = area.height.saturating_sub(2) as usize;
        let start = if self.follow {
            self.lines.len().saturating_sub(height)
        } else {
            self.scroll.min(self.lines.len().saturating_sub(1))
        };
        let needle = self
            .search
            .as_ref()
            .map(|s| s.to_lowercase())
            .filter(|s| !s.is_empty());
        let mut text: Vec<Line> = Vec::with_capacity(height);
        if let Some(err) = &self.error {
            text.push(Line::from(Span::styled(
                err.clone(),
                theme.style(Role::Error),
            )));
        }
        for l in self.lines.iter().skip(start).take(height) {
            let hit = needle
                .as_ref()
                .is_some_and(|n| l.to_lowercase().contains(n));
            let role = if hit { Role::Selection } else { Role::Text };
            text.push(Line::from(Span::styled(l.clone(), theme.style(role))));
        }
        let mut title = self.title();
        if self.column > 0 {
            title.push_str(&format!("(from column {}) ", self.column + 1));
        }
        if let Some(s) = &self.search {
            title.push_str(&format!("/{s} "));
        }
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.style(Role::BorderFocused))
            .title(Span::styled(title, theme.style(Role::Title)));
        let paragraph = Paragraph::new(text).block(block);
        let paragraph = if self.wrap {
            paragraph.wrap(ratatui::widgets::Wrap { trim: false })
        } else {
            paragraph.scroll((0, self.column))
        };
        f.render_widget(paragraph, area);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::view::ObjKind;
    use crossterm::event::{KeyCode, KeyModifiers};

    fn view(kind: DetailKind) -> Detail {
        let key = ObjKey {
            kind: ObjKind::Pod,
            namespace: "demo".into(),
            name: "web-0".into(),
        };
        let lines = ["a: 1", "match one", "b: 2", "match two", "c: 3"];
        Detail::new(kind, key, lines.map(String::from).to_vec())
    }

    #[test]
    fn search_prev_moves_to_the_previous_match() {
        let k = Keymap::default();
        let mut d = view(DetailKind::Yaml);
        d.search = Some("MATCH".into());
        let key =
            |d: &mut Detail, c| d.on_key(&k, KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
        assert_eq!(key(&mut d, 'n'), DetailOutcome::Stay);
        assert_eq!(d.scroll, 1);
        key(&mut d, 'n');
        assert_eq!(d.scroll, 3);
        // N goes back, and wraps round from the first match to the last.
        key(&mut d, 'N');
        assert_eq!(d.scroll, 1);
        key(&mut d, 'N');
        assert_eq!(d.scroll, 3);
        d.search = Some("nowhere".into());
        assert_eq!(key(&mut d, 'N'), DetailOutcome::NoMatch);
    }

    #[test]
    fn log_keys_restart_the_stream_only_in_logs() {
        let k = Keymap::default();
        let key =
            |d: &mut Detail, c| d.on_key(&k, KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
        let mut d = view(DetailKind::Logs);
        d.containers = vec!["app".into(), "sidecar".into()];
        d.container = Some("app".into());
        assert_eq!(key(&mut d, 'c'), DetailOutcome::RestartLogs);
        assert_eq!(d.container.as_deref(), Some("sidecar"));
        assert_eq!(key(&mut d, 'f'), DetailOutcome::RestartLogs);
        assert!(d.follow);
        let mut d = view(DetailKind::Describe);
        assert_eq!(key(&mut d, 'f'), DetailOutcome::Stay);
        assert!(!d.follow);
        assert_eq!(key(&mut d, '?'), DetailOutcome::Help);
        assert_eq!(key(&mut d, 'q'), DetailOutcome::Close);
    }

    /// A log line's point is often at its end: logs wrap by default, `w` cuts
    /// them instead and the arrows scroll sideways, never past the longest line.
    #[test]
    fn long_lines_wrap_or_scroll_sideways() {
        let key = ObjKey {
            kind: super::super::view::ObjKind::Pod,
            namespace: "kube-flannel".into(),
            name: "kube-flannel-ds-x".into(),
        };
        let line = "E1203 Failed to create SubnetManager: dial tcp 10.96.0.1:443: i/o timeout";
        let mut d = Detail::new(DetailKind::Logs, key.clone(), vec![line.into()]);
        assert!(d.wrap);
        let k = Keymap::default();
        let press = |d: &mut Detail, code| d.on_key(&k, KeyEvent::new(code, KeyModifiers::NONE));
        press(&mut d, KeyCode::Right);
        assert_eq!(d.column, 0, "wrapped lines do not scroll sideways");
        press(&mut d, KeyCode::Char('w'));
        assert!(!d.wrap);
        for _ in 0..20 {
            press(&mut d, KeyCode::Right);
        }
        assert_eq!(usize::from(d.column), line.chars().count() - 1);
        press(&mut d, KeyCode::Left);
        assert_eq!(usize::from(d.column), line.chars().count() - 1 - 8);
        let yaml = Detail::new(DetailKind::Yaml, key, vec![]);
        assert!(!yaml.wrap, "YAML keeps its indentation on one line");
    }
}
