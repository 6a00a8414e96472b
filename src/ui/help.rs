//! What the keymap tells the operator: the `?` overlay and the hints (status bar,
//! dialog prompts, wizard pages). Every key shown here is read from the keymap,
//! so a rebound key is shown as rebound, and a key shadowed where the focus is
//! is not shown for the action it no longer reaches.

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::keymap::{Action, ActionKeys, Context, Keymap};
use super::theme::{Role, Theme};

/// The first key of `action` in `context` as prose writes it (`Esc`, `Enter`,
/// `ctrl-c`, `?`); empty if nothing is bound.
pub(crate) fn key_in_prose(keymap: &Keymap, context: Context, action: Action) -> String {
    let Some(key) = keymap.keys_for(context, action).into_iter().next() else {
        return String::new();
    };
    // A bare key name reads as a name: "Esc to cancel".
    let mut chars = key.chars();
    match chars.next() {
        Some(first) if key.len() > 1 && key.chars().all(|c| c.is_ascii_lowercase()) => {
            first.to_ascii_uppercase().to_string() + chars.as_str()
        }
        _ => key,
    }
}

/// `key label` pairs for the actions bound in `context`, two spaces apart
/// (`? help  : command`); unbound actions are left out.
pub(crate) fn hint_text(keymap: &Keymap, context: Context, items: &[(Action, &str)]) -> String {
    items
        .iter()
        .filter_map(|(action, label)| {
            let key = keymap.keys_for(context, *action).into_iter().next()?;
            Some(format!("{key} {label}"))
        })
        .collect::<Vec<_>>()
        .join("  ")
}

/// The status bar's hints where the focus is a pane whose keys come from
/// `context` (the table's, or `[global]` on the Overview).
pub(crate) fn status_hints(keymap: &Keymap, context: Context) -> String {
    hint_text(
        keymap,
        context,
        &[
            (Action::Help, "help"),
            (Action::CommandLine, "command"),
            (Action::Filter, "filter"),
            (Action::Quit, "quit"),
        ],
    )
}

/// Where the keys the overlay explains come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Focus {
    /// A pane: the sections its keys are looked up in (`Pane::contexts`, its own
    /// first).
    Pane(&'static [Context]),
    /// An overlay with its own context (detail view, dialog, wizard).
    Overlay(Context),
    /// The `:` commands only (`:help`).
    Commands,
}

impl Focus {
    /// The sections of the overlay: the keys that really work, each once.
    fn sections(self, keymap: &Keymap) -> Vec<(Context, ActionKeys)> {
        match self {
            // The detail views' keys are listed by `?` in a detail view, where they work.
            Focus::Pane(chain) => keymap.reachable(chain),
            Focus::Overlay(context) => {
                let mut sections = keymap.reachable(&[context]);
                // The wizard's confirmation field answers like a dialog.
                if context == Context::Wizard {
                    sections.push((Context::Dialog, keymap.bindings(Context::Dialog)));
                }
                sections
            }
            Focus::Commands => Vec::new(),
        }
    }
}

fn title(context: Context, focus: Focus) -> &'static str {
    match (context, focus) {
        (Context::Global, _) => "Global",
        (Context::Table, _) => "This pane",
        (Context::Detail, Focus::Overlay(_)) => "This view",
        (Context::Detail, _) => "Detail views",
        (Context::Dialog, Focus::Overlay(Context::Wizard)) => "Confirmation field",
        (Context::Dialog, _) => "Dialog",
        (Context::Wizard, _) => "Wizard",
        (Context::Ceph, _) => "Ceph",
        (Context::Pods, _) => "Pods",
        (Context::Storage, _) => "Storage",
        (Context::Overview, _) => "Overview",
        (Context::Members, _) => "Members",
        (Context::Network, _) => "Network",
        (Context::Workloads, _) => "Workloads",
        (Context::Resources, _) => "Resources",
    }
}

/// The `?` overlay: the keys of the focus (and, over a pane, the `:` commands),
/// scrollable when they do not fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HelpOverlay {
    pub focus: Focus,
    /// `:` commands as help lists them: usage with aliases, what it does.
    commands: Vec<(String, &'static str)>,
    scroll: u16,
}

impl HelpOverlay {
    pub fn new(focus: Focus) -> Self {
        HelpOverlay {
            focus,
            commands: Vec::new(),
            scroll: 0,
        }
    }

    /// Lists the `:` commands too, in a section after the keys.
    pub(crate) fn with_commands(mut self, commands: Vec<(String, &'static str)>) -> Self {
        self.commands = commands;
        self
    }

    /// Reads one key (with the detail views' keys: it is a view too); `true` when
    /// the overlay closes.
    pub fn on_key(&mut self, keymap: &Keymap, key: KeyEvent) -> bool {
        match keymap.action(Context::Detail, key) {
            Some(action) => self.on_action(action).unwrap_or(false),
            None => false,
        }
    }

    /// Carries out `action`: `Some(true)` closes, `None` if the overlay has no use
    /// for it.
    pub(crate) fn on_action(&mut self, action: Action) -> Option<bool> {
        let page = 10;
        self.scroll = match action {
            Action::Close | Action::Help | Action::Quit => return Some(true),
            Action::Up => self.scroll.saturating_sub(1),
            Action::Down => self.scroll.saturating_add(1),
            Action::PageUp => self.scroll.saturating_sub(page),
            Action::PageDown => self.scroll.saturating_add(page),
            Action::Top => 0,
            Action::Bottom => u16::MAX,
            _ => return None,
        };
        Some(false)
    }

    pub fn draw(&self, f: &mut Frame, area: Rect, theme: &Theme, keymap: &Keymap, read_only: bool) {
        // Most of the body; all of a small one.
        let width = (area.width * 4 / 5).max(area.width.min(64));
        let height = area.height.saturating_sub(2).max(area.height.min(8));
        let rect = Rect {
            x: area.x + (area.width - width) / 2,
            y: area.y + (area.height - height) / 2,
            width,
            height,
        };
        f.render_widget(Clear, rect);
        let sections: Vec<Section> = self
            .focus
            .sections(keymap)
            .into_iter()
            .map(|(context, bindings)| Section {
                title: title(context, self.focus),
                entries: bindings
                    .into_iter()
                    // Under --read-only, what would be refused is not offered.
                    .filter(|(a, _)| !(read_only && a.mutates()))
                    .map(|(a, keys)| (keys.join(", "), a.description()))
                    .collect(),
            })
            .chain((!self.commands.is_empty()).then(|| Section {
                title: "Commands",
                entries: self.commands.clone(),
            }))
            .filter(|s| !s.entries.is_empty())
            .collect();
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.style(Role::DialogBorder));
        let inner = block.inner(rect);
        let layout = layout(&sections, inner.width, inner.height);
        let max_scroll = layout.height.saturating_sub(inner.height);
        let scroll = self.scroll.min(max_scroll);
        let name = if self.focus == Focus::Commands {
            "Commands"
        } else {
            "Keys"
        };
        let more = match (scroll > 0, scroll < max_scroll) {
            (false, false) => "",
            (true, true) => " (↑↓ more)",
            (false, true) => " (↓ more)",
            (true, false) => " (↑ more)",
        };
        let title = format!(" {name}{more} ");
        f.render_widget(
            block.title(Span::styled(title, theme.style(Role::Title))),
            rect,
        );
        let n = layout.columns.len().max(1) as u32;
        let areas = Layout::horizontal((0..n).map(|_| Constraint::Ratio(1, n)))
            .spacing(GAP)
            .split(inner);
        for (column, area) in layout.columns.into_iter().zip(areas.iter()) {
            let lines: Vec<Line> = column
                .into_iter()
                .map(|row| match row {
                    Row::Header(t) => Line::from(Span::styled(t, theme.style(Role::Header))),
                    Row::Blank => Line::from(""),
                    Row::Entry(keys, desc) => Line::from(vec![
                        Span::styled(keys, theme.style(Role::KeyHint)),
                        Span::styled(desc, theme.style(Role::Text)),
                    ]),
                })
                .collect();
            f.render_widget(Paragraph::new(lines).scroll((scroll, 0)), *area);
        }
    }
}

/// Columns are this far apart.
const GAP: u16 = 2;

struct Section {
    title: &'static str,
    /// Keys as shown (`pageup, ctrl-b`) and the description.
    entries: Vec<(String, &'static str)>,
}

/// One screen row of the overlay: the key cell padded to the key column.
enum Row {
    Header(&'static str),
    Blank,
    Entry(String, String),
}

struct HelpLayout {
    columns: Vec<Vec<Row>>,
    /// Rows of the tallest column (more than the overlay's height: it scrolls).
    height: u16,
}

/// Lays the sections out in as many columns as fit side by side, each section whole
/// in one column where it can be; a key list longer than the key column gets a row
/// of its own and descriptions wrap, so keys never run into descriptions.
fn layout(sections: &[Section], width: u16, height: u16) -> HelpLayout {
    let width = usize::from(width.max(8));
    let longest_keys = sections
        .iter()
        .flat_map(|s| &s.entries)
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let longest_desc = sections
        .iter()
        .flat_map(|s| &s.entries)
        .map(|(_, d)| d.chars().count())
        .max()
        .unwrap_or(0);
    // Two columns of sections when both fit whole at a readable width; a longer
    // description (a command's) wraps rather than taking a column of its own.
    let key_width = longest_keys.min(18);
    let column_width = 2 + key_width + 2 + longest_desc.min(32);
    let fit = (width + usize::from(GAP)) / (column_width + usize::from(GAP));
    let n_columns = fit.clamp(1, sections.len().max(1));
    let column = (width + usize::from(GAP)) / n_columns - usize::from(GAP);
    let key_width = key_width.min(column.saturating_sub(4) / 2).max(1);
    let rendered: Vec<Vec<Row>> = sections
        .iter()
        .map(|s| section_rows(s, key_width, column))
        .collect();
    let total: usize = rendered.iter().map(|r| r.len() + 1).sum();
    // The first height, from the overlay's own, at which the sections fit the
    // columns; the overlay scrolls when that is taller than it.
    let mut h = usize::from(height.max(1));
    loop {
        let columns = flow(&rendered, h);
        if columns <= n_columns || h >= total {
            break;
        }
        h += 1;
    }
    let mut columns: Vec<Vec<Row>> = Vec::new();
    let mut column: Vec<Row> = Vec::new();
    for section in rendered {
        if !column.is_empty() && column.len() + 1 + section.len() > h {
            columns.push(std::mem::take(&mut column));
        } else if !column.is_empty() {
            column.push(Row::Blank);
        }
        for row in section {
            if column.len() >= h {
                columns.push(std::mem::take(&mut column));
            }
            column.push(row);
        }
    }
    columns.push(column);
    let height = columns.iter().map(Vec::len).max().unwrap_or(0);
    HelpLayout {
        columns,
        height: u16::try_from(height).unwrap_or(u16::MAX),
    }
}

/// How many columns the sections take at height `h` (the same flow as [`layout`]).
fn flow(sections: &[Vec<Row>], h: usize) -> usize {
    let mut columns = 1;
    let mut used = 0;
    for section in sections {
        if used > 0 && used + 1 + section.len() > h {
            columns += 1;
            used = 0;
        } else if used > 0 {
            used += 1;
        }
        for _ in section {
            if used >= h {
                columns += 1;
                used = 0;
            }
            used += 1;
        }
    }
    columns
}

/// A section's rows in a column `width` wide with keys in `key_width`.
fn section_rows(section: &Section, key_width: usize, width: usize) -> Vec<Row> {
    let mut rows = vec![Row::Header(section.title)];
    let indent = 2 + key_width + 2;
    let desc_width = width.saturating_sub(indent).max(8);
    for (keys, desc) in &section.entries {
        let mut lines = wrap(desc, desc_width).into_iter();
        if keys.chars().count() > key_width {
            // The keys get a row of their own.
            for part in wrap(&keys.replace(", ", ",\u{a0}"), width.saturating_sub(2)) {
                rows.push(Row::Entry(
                    format!("  {}", part.replace('\u{a0}', " ")),
                    String::new(),
                ));
            }
            for line in lines {
                rows.push(Row::Entry(" ".repeat(indent), line));
            }
            continue;
        }
        let first = lines.next().unwrap_or_default();
        rows.push(Row::Entry(format!("  {keys:<key_width$}  "), first));
        for line in lines {
            rows.push(Row::Entry(" ".repeat(indent), line));
        }
    }
    rows
}

/// A help column's text in lines (a longer word is cut: the column is narrow).
fn wrap(text: &str, width: usize) -> Vec<String> {
    crate::wrap::lines(text, width, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_follow_the_keymap() {
        let k = Keymap::default();
        assert_eq!(
            status_hints(&k, Context::Table),
            "? help  : command  / filter  q quit"
        );
        let (k, _) = Keymap::parse("[global]\nhelp = \"f1\"\nquit = \"ctrl-q\"\n", "k.toml");
        let k = k.unwrap_or_default();
        assert_eq!(
            status_hints(&k, Context::Table),
            "f1 help  : command  / filter  ctrl-q quit"
        );
        assert_eq!(key_in_prose(&k, Context::Dialog, Action::Cancel), "Esc");
        assert_eq!(key_in_prose(&k, Context::Dialog, Action::Help), "f1");
    }

    #[test]
    fn a_shadowed_key_is_listed_once() {
        let k = Keymap::default();
        for own in [Context::Pods, Context::Storage] {
            let chain: &'static [Context] = match own {
                Context::Pods => &[Context::Pods, Context::Table],
                _ => &[Context::Storage, Context::Table],
            };
            let focus = Focus::Pane(chain);
            let us: Vec<(Context, Action)> = focus
                .sections(&k)
                .into_iter()
                .filter(|(c, _)| *c != Context::Detail)
                .flat_map(|(c, b)| {
                    b.into_iter()
                        .filter(|(_, keys)| keys.iter().any(|key| key == "u"))
                        .map(move |(a, _)| (c, a))
                })
                .collect();
            assert_eq!(us, [(own, Action::Unlock)], "{own}");
        }
    }

    #[test]
    fn wrap_keeps_words_whole() {
        assert_eq!(
            wrap("previous container logs on/off", 12),
            ["previous", "container", "logs on/off"]
        );
        assert_eq!(wrap("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        assert_eq!(wrap("", 4), [""]);
    }
}
