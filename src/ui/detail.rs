//! The detail overlay: describe-style text, YAML with search, and pod logs (container
//! choice, previous instance, follow, bounded buffer). Text arrives from background
//! tasks; this only holds and draws it.

use std::collections::VecDeque;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use crate::ui::theme::{Role, Theme};
use crate::ui::view::ObjKey;

/// Most log lines kept in memory for one view.
pub const MAX_LOG_LINES: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetailKind {
    Describe,
    Yaml,
    Logs,
}

#[derive(Debug)]
pub struct Detail {
    pub kind: DetailKind,
    pub key: ObjKey,
    pub lines: VecDeque<String>,
    pub scroll: usize,
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
            search: None,
            container: None,
            containers: Vec::new(),
            previous: false,
            follow: false,
            error: None,
        }
    }

    pub fn title(&self) -> String {
        let what = match self.kind {
            DetailKind::Describe => "describe",
            DetailKind::Yaml => "yaml",
            DetailKind::Logs => "logs",
        };
        let obj = if self.key.namespace.is_empty() {
            self.key.name.clone()
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
    pub fn push_lines(&mut self, new: impl IntoIterator<Item = String>) {
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

    pub fn scroll_by(&mut self, delta: isize) {
        let max = self.lines.len().saturating_sub(1) as isize;
        self.scroll = (self.scroll as isize + delta).clamp(0, max.max(0)) as usize;
    }

    /// Jumps to the next line (after the current one) containing the search text.
    pub fn search_next(&mut self) -> bool {
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
            let i = (self.scroll + step) % n.max(1);
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
        if let Some(s) = &self.search {
            title.push_str(&format!("/{s} "));
        }
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.style(Role::BorderFocused))
            .title(Span::styled(title, theme.style(Role::Title)));
        f.render_widget(Paragraph::new(text).block(block), area);
    }
}
