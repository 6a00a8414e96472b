//! A table pane: filter (substring, regex, `!` inverts), sort by column, namespace
//! view, selection; renders only the visible window of rows.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Row, Table};

use crate::ui::theme::{Role, Theme};
use crate::ui::view::{ObjKey, TableModel, Tone};

/// The `/` filter: substring by default, a regex when it parses as one and contains
/// regex syntax, inverted with a leading `!`.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub text: String,
    invert: bool,
    regex: Option<regex::Regex>,
    needle: String,
}

impl Filter {
    pub fn new(text: &str) -> Self {
        let (invert, body) = match text.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let has_meta = body.chars().any(|c| "^$.*+?()[]{}|\\".contains(c));
        let regex = if has_meta { regex::RegexBuilder::new(body).case_insensitive(true).build().ok() } else { None };
        Self { text: text.to_string(), invert, regex, needle: body.to_lowercase() }
    }

    pub fn is_empty(&self) -> bool {
        self.needle.is_empty() && self.regex.is_none()
    }

    pub fn matches(&self, cells: &[String]) -> bool {
        if self.is_empty() {
            return true;
        }
        let hit = match &self.regex {
            Some(re) => cells.iter().any(|c| re.is_match(c)),
            None => cells.iter().any(|c| c.to_lowercase().contains(&self.needle)),
        };
        hit != self.invert
    }
}

/// Selection, scroll and sort of one table, plus the filtered/sorted row order
/// (indices into the model), recomputed only when the model, filter or sort change.
#[derive(Debug, Clone, Default)]
pub struct TableState {
    pub selected: usize,
    pub offset: usize,
    /// (column, descending)
    pub sort: Option<(usize, bool)>,
    pub order: Vec<usize>,
    /// The key of the selected row, so selection follows the object across updates.
    pub selected_key: Option<ObjKey>,
}

/// Numbers and ages sort as numbers/durations, the rest as text.
fn sort_key(cell: &str) -> (u8, u64, String) {
    let digits: String = cell.chars().take_while(|c| c.is_ascii_digit()).collect();
    if !digits.is_empty() {
        let rest = &cell[digits.len()..];
        let n: u64 = digits.parse().unwrap_or(0);
        let mult = match rest.chars().next() {
            Some('s') => 1,
            Some('m') => 60,
            Some('h') => 3600,
            Some('d') => 86400,
            Some('y') => 31_536_000,
            _ => 1,
        };
        return (0, n * mult, String::new());
    }
    (1, 0, cell.to_lowercase())
}

impl TableState {
    /// Recomputes the row order for `model` under `filter` and `namespace`.
    pub fn refresh(&mut self, model: &TableModel, filter: &Filter, namespace: Option<&str>) {
        let mut order: Vec<usize> = model
            .rows
            .iter()
            .enumerate()
            .filter(|(_, r)| namespace.is_none_or(|ns| r.key.namespace.is_empty() || r.key.namespace == ns))
            .filter(|(_, r)| filter.matches(&r.cells))
            .map(|(i, _)| i)
            .collect();
        if let Some((col, desc)) = self.sort {
            order.sort_by_cached_key(|i| sort_key(model.rows[*i].cells.get(col).map(String::as_str).unwrap_or("")));
            if desc {
                order.reverse();
            }
        }
        self.order = order;
        // Keep the same object selected when it is still there.
        if let Some(key) = &self.selected_key {
            if let Some(pos) = self.order.iter().position(|i| &model.rows[*i].key == key) {
                self.selected = pos;
            }
        }
        if self.selected >= self.order.len() {
            self.selected = self.order.len().saturating_sub(1);
        }
        self.selected_key = self.order.get(self.selected).map(|i| model.rows[*i].key.clone());
    }

    pub fn move_by(&mut self, model: &TableModel, delta: isize) {
        if self.order.is_empty() {
            return;
        }
        let max = self.order.len() as isize - 1;
        self.selected = (self.selected as isize + delta).clamp(0, max) as usize;
        self.selected_key = self.order.get(self.selected).map(|i| model.rows[*i].key.clone());
    }

    pub fn selected_key(&self) -> Option<&ObjKey> {
        self.selected_key.as_ref()
    }

    pub fn cycle_sort(&mut self, columns: usize) {
        self.sort = match self.sort {
            None => Some((0, false)),
            Some((c, d)) if c + 1 < columns => Some((c + 1, d)),
            Some(_) => None,
        };
    }

    pub fn reverse_sort(&mut self) {
        self.sort = match self.sort {
            None => Some((0, true)),
            Some((c, d)) => Some((c, !d)),
        };
    }
}

fn tone_role(t: Tone) -> Option<Role> {
    match t {
        Tone::Normal => None,
        Tone::Ok => Some(Role::Ok),
        Tone::Warning => Some(Role::Warning),
        Tone::Error => Some(Role::Error),
        Tone::Muted => Some(Role::Muted),
    }
}

/// Draws the visible window of the table into `area`.
pub fn draw(f: &mut Frame, area: Rect, title: &str, model: &TableModel, state: &mut TableState, theme: &Theme, focused: bool) {
    let inner_height = area.height.saturating_sub(3) as usize; // borders + header
    if state.selected < state.offset {
        state.offset = state.selected;
    } else if inner_height > 0 && state.selected >= state.offset + inner_height {
        state.offset = state.selected + 1 - inner_height;
    }
    let visible: Vec<usize> = state.order.iter().skip(state.offset).take(inner_height.max(1)).copied().collect();
    // Column widths from the header and the visible rows only.
    let mut widths: Vec<u16> = model.columns.iter().map(|c| c.len() as u16).collect();
    for i in &visible {
        for (w, cell) in widths.iter_mut().zip(&model.rows[*i].cells) {
            *w = (*w).max(cell.chars().count().min(80) as u16);
        }
    }
    let sort_mark = |i: usize| match state.sort {
        Some((c, false)) if c == i => "↑",
        Some((c, true)) if c == i => "↓",
        _ => "",
    };
    let header = Row::new(model.columns.iter().enumerate().map(|(i, c)| Cell::from(format!("{c}{}", sort_mark(i))))).style(theme.style(Role::Header));
    let rows = visible.iter().enumerate().map(|(n, i)| {
        let r = &model.rows[*i];
        let mut style = tone_role(r.tone).map(|role| theme.style(role)).unwrap_or_default();
        if state.offset + n == state.selected {
            style = theme.style(Role::Selection);
        }
        Row::new(r.cells.iter().map(|c| Cell::from(c.as_str()))).style(style)
    });
    let constraints: Vec<Constraint> = widths.iter().map(|w| Constraint::Length(*w)).collect();
    let count = format!(" {}/{} ", state.order.len(), model.rows.len());
    let border = if focused { Role::BorderFocused } else { Role::Border };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.style(border))
        .title(Line::from(vec![Span::styled(format!(" {title} "), theme.style(Role::Title)), Span::styled(count, theme.style(Role::Muted))]));
    let table = Table::new(rows, constraints).header(header).block(block).column_spacing(2).style(Style::default());
    f.render_widget(table, area);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_substring_regex_and_inversion() {
        let cells = vec!["kube-system".to_string(), "coredns-abc".to_string(), "Running".to_string()];
        assert!(Filter::new("coredns").matches(&cells));
        assert!(Filter::new("RUNNING").matches(&cells));
        assert!(!Filter::new("!coredns").matches(&cells));
        assert!(Filter::new("^core.*abc$").matches(&cells));
        assert!(!Filter::new("^abc").matches(&cells));
        assert!(Filter::new("").matches(&cells));
    }

    #[test]
    fn ages_sort_by_duration() {
        assert!(sort_key("59s") < sort_key("2m"));
        assert!(sort_key("2m") < sort_key("1h"));
        assert!(sort_key("3d") < sort_key("1y"));
    }
}
