//! A table pane: filter (substring, regex, `!` inverts), sort by column, namespace
//! view, selection; renders only the visible window of rows.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Row, Table};

use crate::ui::theme::{Role, Theme};
use std::sync::atomic::{AtomicU64, Ordering};

use jiff::Timestamp;

use super::{DrawCtx, Outcome, PaneCtx};
use crate::ui::keymap::Action;
use crate::ui::view::{ObjKey, RowRef, TableModel, Tone};

/// The `/` filter: substring by default, a regex when it parses as one and contains
/// regex syntax, inverted with a leading `!`.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub text: String,
    invert: bool,
    regex: Option<regex::Regex>,
    needle: String,
    /// Whether the needle could be in an age (`3d4h`, `<unknown>`, `<invalid>`): one
    /// with any other character is not looked for in 150,000 ages.
    may_match_age: bool,
    /// Tells this filter from every other one, for the answers rows keep.
    id: u64,
}

impl Filter {
    pub fn new(text: &str) -> Self {
        let (invert, body) = match text.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let has_meta = body.chars().any(|c| "^$.*+?()[]{}|\\".contains(c));
        let regex = if has_meta {
            regex::RegexBuilder::new(body)
                .case_insensitive(true)
                .build()
                .ok()
        } else {
            None
        };
        let needle = body.to_lowercase();
        let may_match_age = regex.is_some()
            || needle
                .chars()
                .all(|c| c.is_ascii_digit() || "smhdy<>unkowvalid".contains(c));
        static IDS: AtomicU64 = AtomicU64::new(1);
        let id = IDS.fetch_add(1, Ordering::Relaxed);
        Self {
            text: text.to_string(),
            invert,
            regex,
            needle,
            may_match_age,
            id,
        }
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
            None => cells.iter().any(|c| contains_lowercase(c, &self.needle)),
        };
        hit != self.invert
    }

    /// [`Filter::matches`] on a row's cells as drawn at `now`. The answer is kept in
    /// the row unless it depends on `now` (a needle that could be in its age).
    pub(crate) fn matches_row(&self, row: RowRef<'_>, now: Timestamp) -> bool {
        if self.is_empty() {
            return true;
        }
        // Only a live age (and a pod's `3 (42s ago)`) changes with `now`.
        let live_age = row.live_age();
        let timeless =
            (live_age.is_none() || !self.may_match_age) && !row.more_cells_follow_the_clock();
        if timeless && let Some(m) = row.memo().get(self.id) {
            return m;
        }
        let hit = |c: &str| match &self.regex {
            Some(re) => re.is_match(c),
            None => contains_lowercase(c, &self.needle),
        };
        let skip = live_age.filter(|_| !self.may_match_age);
        let matched = (0..row.len())
            .filter(|i| Some(*i) != skip)
            .any(|i| hit(&row.cell(i, now)))
            != self.invert;
        if timeless {
            row.memo().set(self.id, matched);
        }
        matched
    }
}

/// Whether `text`, lower-cased, contains `needle` (already lower case). Without
/// allocating when both are ASCII: the filter runs over every cell of 150,000 rows.
fn contains_lowercase(text: &str, needle: &str) -> bool {
    if !text.is_ascii() || !needle.is_ascii() {
        return text.to_lowercase().contains(needle);
    }
    let (text, needle) = (text.as_bytes(), needle.as_bytes());
    let Some(&first) = needle.first() else {
        return true;
    };
    let (lower, upper) = (first.to_ascii_lowercase(), first.to_ascii_uppercase());
    text.len() >= needle.len()
        && (0..=text.len() - needle.len()).any(|i| {
            (text[i] == lower || text[i] == upper)
                && text[i..i + needle.len()].eq_ignore_ascii_case(needle)
        })
}

/// Tables with more rows than this are filtered and sorted off the UI task: sorting
/// 150,000 rows takes longer than a frame, and a key must be answered in one.
pub(crate) const ORDER_OFF_TASK_FROM: usize = 5_000;

/// Selection, scroll and sort of one table, plus the filtered/sorted row order
/// (indices into `basis`, the model it was computed for), recomputed only when the
/// model, filter or sort change.
#[derive(Debug, Clone, Default)]
pub struct TableState {
    pub selected: usize,
    pub offset: usize,
    /// (column, descending)
    pub sort: Option<(usize, bool)>,
    pub order: Vec<usize>,
    /// The key of the selected row, so selection follows the object across updates.
    pub selected_key: Option<ObjKey>,
    /// Rows in the namespace shown, before the filter: the count's denominator.
    pub in_namespace: usize,
    /// `order` is every row in the model's order (no namespace, filter or sort).
    identity: bool,
    /// The model `order` indexes when it came from an [`OrderJob`]: a large table
    /// shows the rows its order was made for (`None`: the model passed in).
    basis: Option<TableModel>,
    /// Work for the UI to run off its task ([`TableState::take_job`]): the newest
    /// request replaces an older one not yet started.
    queued: Option<OrderJob>,
    /// The job running now, by ticket: only its answer is taken.
    in_flight: Option<u64>,
}

/// Filtering and sorting one large table, off the UI task.
#[derive(Debug, Clone)]
pub struct OrderJob {
    ticket: u64,
    model: TableModel,
    filter: Filter,
    namespace: Option<String>,
    sort: Option<(usize, bool)>,
    now: Timestamp,
}

/// An [`OrderJob`]'s answer, for [`TableState::apply`].
#[derive(Debug)]
pub struct OrderDone {
    ticket: u64,
    model: TableModel,
    order: Vec<usize>,
    in_namespace: usize,
}

impl OrderJob {
    pub fn run(self) -> OrderDone {
        let (order, in_namespace) = compute_order(
            &self.model,
            &self.filter,
            self.namespace.as_deref(),
            self.sort,
            self.now,
        );
        OrderDone {
            ticket: self.ticket,
            model: self.model,
            order,
            in_namespace,
        }
    }
}

/// The rows of `model` in `namespace` matching `filter`, sorted; and how many rows
/// are in the namespace.
fn compute_order(
    model: &TableModel,
    filter: &Filter,
    namespace: Option<&str>,
    sort: Option<(usize, bool)>,
    now: Timestamp,
) -> (Vec<usize>, usize) {
    let mut in_namespace = 0;
    let mut order: Vec<usize> = model
        .rows
        .iter()
        .enumerate()
        .filter(|(_, r)| namespace.is_none_or(|ns| r.namespace().is_empty() || r.namespace() == ns))
        .inspect(|_| in_namespace += 1)
        .filter(|(_, r)| filter.matches_row(*r, now))
        .map(|(i, _)| i)
        .collect();
    if let Some((col, desc)) = sort
        && let Some(column) = model.columns.get(col)
    {
        // By what the column holds: ages by their time, counts as numbers.
        order.sort_by_cached_key(|i| model.rows.at(*i).sort_key(col, column.kind, now));
        if desc {
            order.reverse();
        }
    }
    (order, in_namespace)
}

impl TableState {
    /// Recomputes the row order for `model` under `filter` and `namespace`: at once
    /// for a small table or an unfiltered, unsorted one; for a large one it queues
    /// an [`OrderJob`] and keeps showing the last order until [`TableState::apply`].
    pub fn refresh(
        &mut self,
        model: &TableModel,
        filter: &Filter,
        namespace: Option<&str>,
        now: Timestamp,
    ) {
        let n = model.rows.len();
        if namespace.is_none() && filter.is_empty() && self.sort.is_none() {
            // Every row in the model's order: the order only grows or shrinks with
            // it (a change batch costs its size here, not the table's).
            if !self.identity {
                self.order.clear();
            }
            self.order.truncate(n);
            let have = self.order.len();
            self.order.extend(have..n);
            self.identity = true;
            self.in_namespace = n;
        } else if n >= ORDER_OFF_TASK_FROM {
            // An answer on its way is still taken (a consistent, older order), then
            // this newest request runs: under churn, answers keep coming.
            static TICKETS: AtomicU64 = AtomicU64::new(1);
            self.queued = Some(OrderJob {
                ticket: TICKETS.fetch_add(1, Ordering::Relaxed),
                model: model.clone(),
                filter: filter.clone(),
                namespace: namespace.map(str::to_owned),
                sort: self.sort,
                now,
            });
            if self.identity {
                // The identity order fits the new model too: keep showing it.
                self.order.truncate(n);
                let have = self.order.len();
                self.order.extend(have..n);
                self.in_namespace = n;
                self.basis = None;
                self.reselect(model);
            }
            return;
        } else {
            self.identity = false;
            let (order, in_namespace) = compute_order(model, filter, namespace, self.sort, now);
            self.order = order;
            self.in_namespace = in_namespace;
        }
        // Made here: an answer on its way, or a queued request, is for an older one.
        self.in_flight = None;
        self.queued = None;
        self.basis = None;
        self.reselect(model);
    }

    /// The queued job, to run off the UI task, unless one is running already (its
    /// answer is taken first; the newest request then runs).
    pub fn take_job(&mut self) -> Option<OrderJob> {
        if self.in_flight.is_some() {
            return None;
        }
        let job = self.queued.take()?;
        self.in_flight = Some(job.ticket);
        Some(job)
    }

    /// Takes a job's answer if it is the one awaited; `false` for an outdated one.
    pub fn apply(&mut self, done: OrderDone) -> bool {
        if self.in_flight != Some(done.ticket) {
            return false;
        }
        self.in_flight = None;
        self.identity = false;
        self.order = done.order;
        self.in_namespace = done.in_namespace;
        self.reselect(&done.model);
        self.basis = Some(done.model);
        true
    }

    /// Whether a newer order is being made (the table says so in its title).
    pub fn ordering(&self) -> bool {
        self.queued.is_some() || self.in_flight.is_some()
    }

    /// Keeps the same object selected when it is still there (usually where it was,
    /// or a few rows off: looked up by key where the rows are in key order).
    fn reselect(&mut self, model: &TableModel) {
        if let Some(key) = &self.selected_key {
            let in_place = self
                .order
                .get(self.selected)
                .is_some_and(|i| model.rows.at(*i).has_key(key));
            if !in_place {
                let by_key = model
                    .rows
                    .binary_search_key(key)
                    .ok()
                    .filter(|_| self.identity);
                if let Some(pos) = by_key.or_else(|| {
                    self.order
                        .iter()
                        .position(|i| model.rows.at(*i).has_key(key))
                }) {
                    self.selected = pos;
                }
            }
        }
        if self.selected >= self.order.len() {
            self.selected = self.order.len().saturating_sub(1);
        }
        self.selected_key = self
            .order
            .get(self.selected)
            .map(|i| model.rows.at(*i).key());
    }

    /// The model the order indexes: `basis`, or `model` when none was kept.
    fn rows_of<'a>(&'a self, model: &'a TableModel) -> &'a TableModel {
        self.basis.as_ref().unwrap_or(model)
    }

    pub(crate) fn move_by(&mut self, model: &TableModel, delta: isize) {
        if self.order.is_empty() {
            return;
        }
        let max = self.order.len() as isize - 1;
        self.selected = (self.selected as isize + delta).clamp(0, max) as usize;
        let key = {
            let rows = self.rows_of(model);
            self.order
                .get(self.selected)
                .and_then(|i| rows.rows.get(*i))
                .map(|r| r.key())
        };
        self.selected_key = key;
    }

    pub(crate) fn selected_key(&self) -> Option<&ObjKey> {
        self.selected_key.as_ref()
    }

    pub(crate) fn cycle_sort(&mut self, columns: usize) {
        self.sort = match self.sort {
            None => Some((0, false)),
            Some((c, d)) if c + 1 < columns => Some((c + 1, d)),
            Some(_) => None,
        };
    }

    pub(crate) fn reverse_sort(&mut self) {
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
        Tone::Header => Some(Role::Header),
    }
}

const COLUMN_SPACING: u16 = 2;

/// Shrinks column widths to fit `available` cells (spacing included) by capping the
/// widest columns first, so short columns (STATUS, AGE) keep their full text and only
/// the long ones (TAINTS, MESSAGE) are cut. Columns marked in `keep` (the NAME that
/// identifies a row) stay whole while the others can still show [`MIN_CAP`] cells.
fn fit_widths(widths: &mut [u16], keep: &[bool], available: u16, spacing: u16) {
    let gaps = spacing.saturating_mul(widths.len().saturating_sub(1) as u16);
    let room = u32::from(available.saturating_sub(gaps));
    if widths.iter().map(|w| u32::from(*w)).sum::<u32>() <= room {
        return;
    }
    let is_kept = |i: usize| keep.get(i).copied().unwrap_or(false);
    let kept: u32 = widths
        .iter()
        .enumerate()
        .filter(|(i, _)| is_kept(*i))
        .map(|(_, w)| u32::from(*w))
        .sum();
    let others: Vec<usize> = (0..widths.len()).filter(|i| !is_kept(*i)).collect();
    let cap = room
        .checked_sub(kept)
        .map(|r| water_cap(widths, &others, r));
    let cols: Vec<usize> = match cap {
        Some((cap, _)) if !others.is_empty() && cap >= MIN_CAP => others,
        _ => (0..widths.len()).collect(),
    };
    let budget = if cols.len() == widths.len() {
        room
    } else {
        room - kept
    };
    let (cap, mut spare) = water_cap(widths, &cols, budget);
    // Hand the cells left over to the capped columns, left to right.
    for i in cols {
        if widths[i] > cap {
            let extra = u16::from(spare > 0);
            spare = spare.saturating_sub(1);
            widths[i] = cap + extra;
        }
    }
}

/// The fewest cells a cut column keeps before names are cut too.
const MIN_CAP: u16 = 12;

/// The largest width cap under which columns `cols` fit in `room`, and the cells
/// left over under it.
fn water_cap(widths: &[u16], cols: &[usize], room: u32) -> (u16, u32) {
    let total = |cap: u16| {
        cols.iter()
            .map(|i| u32::from(widths[*i].min(cap)))
            .sum::<u32>()
    };
    let mut cap = cols.iter().map(|i| widths[*i]).max().unwrap_or(0);
    while cap > 0 && total(cap) > room {
        cap -= 1;
    }
    (cap, room.saturating_sub(total(cap)))
}

/// The cell's text, cut to `width` with an ellipsis when it does not fit.
fn clip(text: &str, width: u16) -> String {
    let width = usize::from(width);
    if text.chars().count() <= width {
        return text.to_string();
    }
    match width {
        0 => String::new(),
        w => text
            .chars()
            .take(w - 1)
            .chain(std::iter::once('…'))
            .collect(),
    }
}

/// Draws the visible window of the table into `area`, ages as of `now`.
#[allow(clippy::too_many_arguments)]
pub fn draw(
    f: &mut Frame,
    area: Rect,
    title: &str,
    model: &TableModel,
    state: &mut TableState,
    theme: &Theme,
    focused: bool,
    now: Timestamp,
) {
    draw_noted(f, area, title, None, model, state, theme, focused, now);
}

/// [`draw`], with a staleness `note` (see [`crate::views::freshness`]): the note
/// joins the title and the rows are dimmed, so old data never passes for current.
#[allow(clippy::too_many_arguments)]
pub(crate) fn draw_noted(
    f: &mut Frame,
    area: Rect,
    title: &str,
    note: Option<&str>,
    model: &TableModel,
    state: &mut TableState,
    theme: &Theme,
    focused: bool,
    now: Timestamp,
) {
    // The rows a large table's order was made for, unless the pane shows them
    // through other columns.
    let basis = state
        .basis
        .clone()
        .filter(|b| b.columns.len() == model.columns.len());
    let model = basis.as_ref().unwrap_or(model);
    let inner_height = area.height.saturating_sub(3) as usize; // borders + header
    if state.selected < state.offset {
        state.offset = state.selected;
    } else if inner_height > 0 && state.selected >= state.offset + inner_height {
        state.offset = state.selected + 1 - inner_height;
    }
    let visible: Vec<usize> = state
        .order
        .iter()
        .skip(state.offset)
        .take(inner_height.max(1))
        .copied()
        .collect();
    // Column widths from the header and the visible rows only.
    let sorted = |i: usize| state.sort.is_some_and(|(c, _)| c == i);
    let mut widths: Vec<u16> = model
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| (c.title.len() + usize::from(sorted(i))) as u16)
        .collect();
    // The visible cells as of `now` (ages computed here, for these rows only).
    let texts: Vec<Vec<std::borrow::Cow<str>>> = visible
        .iter()
        .map(|i| {
            let r = model.rows.at(*i);
            (0..r.len()).map(|c| r.cell(c, now)).collect()
        })
        .collect();
    for cells in &texts {
        for (w, cell) in widths.iter_mut().zip(cells) {
            *w = (*w).max(cell.chars().count().min(80) as u16);
        }
    }
    let keep: Vec<bool> = model.columns.iter().map(|c| c.title == "NAME").collect();
    fit_widths(
        &mut widths,
        &keep,
        area.width.saturating_sub(2),
        COLUMN_SPACING,
    );
    let sort_mark = |i: usize| match state.sort {
        Some((c, false)) if c == i => "↑",
        Some((c, true)) if c == i => "↓",
        _ => "",
    };
    let header = Row::new(
        model
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| Cell::from(format!("{}{}", c.title, sort_mark(i)))),
    )
    .style(theme.style(Role::Header));
    let rows = visible
        .iter()
        .zip(&texts)
        .enumerate()
        .map(|(n, (i, cells))| {
            let mut style = match note {
                Some(_) => theme.style(Role::Muted),
                None => tone_role(model.rows.at(*i).tone())
                    .map(|role| theme.style(role))
                    .unwrap_or_default(),
            };
            if state.offset + n == state.selected {
                style = theme.style(Role::Selection);
            }
            Row::new(
                cells
                    .iter()
                    .zip(&widths)
                    .map(|(c, w)| Cell::from(clip(c, *w))),
            )
            .style(style)
        });
    let constraints: Vec<Constraint> = widths.iter().map(|w| Constraint::Length(*w)).collect();
    let count = if state.ordering() {
        let doing = if state.sort.is_some() {
            "sorting…"
        } else {
            "filtering…"
        };
        format!(" {}/{} {doing} ", state.order.len(), state.in_namespace)
    } else {
        format!(" {}/{} ", state.order.len(), state.in_namespace)
    };
    let border = if focused {
        Role::BorderFocused
    } else {
        Role::Border
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.style(border))
        .title(Line::from(
            [
                Span::styled(format!(" {title} "), theme.style(Role::Title)),
                Span::styled(count, theme.style(Role::Muted)),
            ]
            .into_iter()
            .chain(note.map(|n| Span::styled(format!("{n} "), theme.style(Role::Warning))))
            .collect::<Vec<_>>(),
        ));
    let table = Table::new(rows, constraints)
        .header(header)
        .block(block)
        .column_spacing(COLUMN_SPACING)
        .style(Style::default());
    f.render_widget(table, area);
}

/// The moves and sorting every table pane does alike ([`super::Pane::on_action`]'s
/// default): `Ignored` for other actions and panes without a table.
pub(crate) fn on_action(
    table: Option<(&TableModel, &mut TableState)>,
    action: Action,
    ctx: &PaneCtx,
) -> Outcome {
    let Some((model, state)) = table else {
        return Outcome::Ignored;
    };
    let n = model.rows.len() as isize;
    let page = 20isize;
    let delta = match action {
        Action::Up => -1,
        Action::Down => 1,
        Action::PageUp => -page,
        Action::PageDown => page,
        Action::Top => -n,
        Action::Bottom => n,
        Action::SortNextColumn | Action::SortReverse => {
            if action == Action::SortNextColumn {
                state.cycle_sort(model.columns.len());
            } else {
                state.reverse_sort();
            }
            state.refresh(model, ctx.filter, ctx.namespace, ctx.now);
            return Outcome::Handled;
        }
        _ => return Outcome::Ignored,
    };
    state.move_by(model, delta);
    Outcome::Handled
}

/// Draws a table pane titled `title [namespace]` (`all` without one), its data from
/// the watched `kinds` (dimmed and noted when they are not live).
pub(crate) fn draw_titled(
    f: &mut Frame,
    area: Rect,
    title: &str,
    kinds: &[&str],
    model: &TableModel,
    state: &mut TableState,
    ctx: &DrawCtx,
) {
    draw_part_titled(f, area, title, kinds, model, state, ctx, true);
}

/// [`draw_titled`] for a table of `kinds` that shows only part of them (`whole`
/// false: a drill-down), whose first list's progress is then told without the
/// server's count of every object.
#[allow(clippy::too_many_arguments)]
pub(crate) fn draw_part_titled(
    f: &mut Frame,
    area: Rect,
    title: &str,
    kinds: &[&str],
    model: &TableModel,
    state: &mut TableState,
    ctx: &DrawCtx,
    whole: bool,
) {
    let title = format!("{title} [{}]", ctx.namespace.unwrap_or("all"));
    let freshness = crate::views::freshness::of(&ctx.view.sources, kinds);
    let expected = whole
        .then(|| crate::views::freshness::expected(&ctx.view.sources, kinds))
        .flatten();
    let note = crate::views::freshness::table_note(freshness, model.rows.len(), expected, ctx.now);
    draw_noted(
        f,
        area,
        &title,
        note.as_deref(),
        model,
        state,
        ctx.theme,
        ctx.focused,
        ctx.now,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::columns::{Column, ColumnKind};
    use crate::ui::view::{ObjKind, TableRow};
    use std::sync::Arc;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    /// The NAME cells of `model` in the order `sort` puts them.
    fn sorted(model: &TableModel, sort: (usize, bool), now: Timestamp) -> Vec<String> {
        let mut state = TableState {
            sort: Some(sort),
            ..TableState::default()
        };
        state.refresh(model, &Filter::default(), None, now);
        state
            .order
            .iter()
            .map(|i| model.rows.at(*i).cell(0, now).into_owned())
            .collect()
    }

    /// One table with a column of each kind; each column sorts by its typed value.
    #[test]
    fn columns_sort_by_what_they_hold() {
        const COLUMNS: &[Column] = &[
            Column::new("NAME", ColumnKind::Name),
            Column::new("STATUS", ColumnKind::Status),
            Column::new("READY", ColumnKind::Ready),
            Column::new("RESTARTS", ColumnKind::Count),
            Column::new("SIZE", ColumnKind::Size),
            Column::new("AGE", ColumnKind::Age),
            Column::new("NOTE", ColumnKind::Text),
        ];
        let now = ts("2025-01-01T12:00:00Z");
        let row = |cells: [&str; 7], created: &str| {
            let key = ObjKey {
                kind: ObjKind::Pod,
                namespace: "ns".into(),
                name: cells[0].into(),
            };
            let cells = cells.iter().map(|c| c.to_string()).collect();
            Arc::new(TableRow::new(
                cells,
                key,
                Tone::Normal,
                Some((5, ts(created))),
            ))
        };
        let model = TableModel {
            columns: COLUMNS.to_vec(),
            rows: vec![
                // The AGE texts are stale (made long ago): the times decide.
                row(
                    ["b", "Running", "2/3", "10 (1m ago)", "2Gi", "1s", "Zeta"],
                    "2025-01-01T11:00:00Z",
                ),
                row(
                    ["a", "pending", "1/1", "9", "512Mi", "1s", "alpha"],
                    "2024-12-29T08:00:00Z",
                ),
                row(
                    ["c", "CrashLoopBackOff", "0/1", "0", "10Gi", "1s", "beta"],
                    "2025-01-01T11:59:00Z",
                ),
            ]
            .into(),
        };
        assert_eq!(sorted(&model, (0, false), now), ["a", "b", "c"]);
        assert_eq!(sorted(&model, (0, true), now), ["c", "b", "a"]);
        assert_eq!(sorted(&model, (1, false), now), ["c", "a", "b"]);
        assert_eq!(sorted(&model, (2, false), now), ["c", "b", "a"]);
        assert_eq!(sorted(&model, (3, false), now), ["c", "a", "b"]);
        assert_eq!(sorted(&model, (4, false), now), ["a", "b", "c"]);
        // Youngest first, then reversed.
        assert_eq!(sorted(&model, (5, false), now), ["c", "b", "a"]);
        assert_eq!(sorted(&model, (5, true), now), ["a", "b", "c"]);
        assert_eq!(sorted(&model, (6, false), now), ["a", "c", "b"]);
    }

    #[test]
    fn filter_substring_regex_and_inversion() {
        let cells = vec![
            "kube-system".to_string(),
            "coredns-abc".to_string(),
            "Running".to_string(),
        ];
        assert!(Filter::new("coredns").matches(&cells));
        assert!(Filter::new("RUNNING").matches(&cells));
        assert!(!Filter::new("!coredns").matches(&cells));
        assert!(Filter::new("^core.*abc$").matches(&cells));
        assert!(!Filter::new("^abc").matches(&cells));
        assert!(Filter::new("").matches(&cells));
        // Case folding beyond ASCII.
        let cells = vec!["Größe-Äpfel".to_string()];
        assert!(Filter::new("ÄPFEL").matches(&cells));
        assert!(Filter::new("grö").matches(&cells));
        assert!(!Filter::new("birnen").matches(&cells));
        assert!(contains_lowercase("Kube-System", "system"));
        assert!(!contains_lowercase("kube", "kube-system"));
    }

    #[test]
    fn filter_sees_ages_as_drawn() {
        let created: Timestamp = "2025-01-01T11:55:00Z"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        let now: Timestamp = "2025-01-01T12:00:00Z"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        let key = ObjKey {
            kind: crate::ui::view::ObjKind::Pod,
            namespace: "demo".into(),
            name: "web-0".into(),
        };
        // The stored text is stale (made at creation); the drawn age is 5m.
        let row = Arc::new(TableRow::new(
            vec!["demo".into(), "web-0".into(), "0s".into()],
            key,
            Tone::Normal,
            Some((2, created)),
        ));
        let row = RowRef::Made(&row);
        assert!(Filter::new("5m").matches_row(row, now));
        assert!(!Filter::new("0s").matches_row(row, now));
        assert!(Filter::new("^5m$").matches_row(row, now));
        assert!(Filter::new("web").matches_row(row, now));
        assert!(Filter::new("!web-1").matches_row(row, now));
        assert!(!Filter::new("web-1").matches_row(row, now));
        // Answers kept in the row are per filter.
        let (web, other) = (Filter::new("web"), Filter::new("db"));
        for _ in 0..2 {
            assert!(web.matches_row(row, now));
            assert!(!other.matches_row(row, now));
        }
        // An age-like needle is worked out again as time moves.
        let six = Filter::new("6m");
        assert!(!six.matches_row(row, now));
        assert!(six.matches_row(row, now + jiff::SignedDuration::from_secs(60)));
    }

    #[test]
    fn widest_columns_shrink_first() {
        let fit = |mut w: Vec<u16>, keep: &[bool], available: u16| {
            fit_widths(&mut w, keep, available, 2);
            w
        };
        assert_eq!(fit(vec![5, 24, 41, 10], &[], 70), [5, 24, 25, 10]);
        // Left-over cells go to the first capped columns.
        assert_eq!(fit(vec![5, 24, 41, 30], &[], 81), [5, 24, 23, 23]);
        assert_eq!(fit(vec![5, 6], &[], 100), [5, 6]);
        assert_eq!(fit(vec![5, 6, 7], &[], 3), [0, 0, 0]);
        // A kept NAME stays whole while the others keep at least MIN_CAP cells...
        assert_eq!(fit(vec![40, 8, 49, 4], &[true], 100), [40, 8, 42, 4]);
        assert_eq!(fit(vec![40, 8, 49, 4], &[true], 80), [40, 8, 22, 4]);
        // ... and is cut like the rest when they cannot.
        assert_eq!(fit(vec![40, 8, 49, 4], &[true], 60), [21, 8, 21, 4]);
        assert_eq!(clip("Ready,SchedulingDisabled", 10), "Ready,Sch…");
        assert_eq!(clip("Ready", 10), "Ready");
        assert_eq!(clip("Ready", 0), "");
    }
}

#[cfg(test)]
mod off_task_tests {
    use super::*;
    use crate::model::columns::{Column, ColumnKind};
    use crate::ui::view::{ObjKind, TableRow};
    use std::sync::Arc;

    /// `n` rows named `p00000`.. in key order, with NUMBER counting down.
    fn model(n: usize) -> TableModel {
        const COLUMNS: &[Column] = &[
            Column::new("NAME", ColumnKind::Name),
            Column::new("NUMBER", ColumnKind::Count),
        ];
        let rows: Vec<Arc<TableRow>> = (0..n)
            .map(|i| {
                let name = format!("p{i:05}");
                let key = ObjKey {
                    kind: ObjKind::Pod,
                    namespace: "ns".into(),
                    name: name.as_str().into(),
                };
                let cells = vec![name, (n - i).to_string()];
                Arc::new(TableRow::new(cells, key, Tone::Normal, None))
            })
            .collect();
        TableModel {
            columns: COLUMNS.to_vec(),
            rows: rows.into(),
        }
    }

    fn now() -> Timestamp {
        Timestamp::UNIX_EPOCH
    }

    /// A large table's sort runs as a job: the old order stays on screen (and keeps
    /// its rows) until the answer, an answer overtaken by a newer request is still
    /// taken, then the newest request runs; an answer nobody waits for is dropped.
    #[test]
    fn a_large_table_is_ordered_off_the_ui_task() {
        let big = model(ORDER_OFF_TASK_FROM + 10);
        let mut state = TableState::default();
        state.refresh(&big, &Filter::default(), None, now());
        assert_eq!(state.order.len(), big.rows.len());
        assert!(!state.ordering() && state.take_job().is_none());
        state.move_by(&big, 3);
        let selected = state.selected_key.clone();

        state.sort = Some((1, false));
        state.refresh(&big, &Filter::default(), None, now());
        assert!(state.ordering(), "the title says a new order is coming");
        assert_eq!(state.order[..3], [0, 1, 2], "the old order stays meanwhile");
        let first = state.take_job().expect("a job for the sort");
        assert!(state.take_job().is_none(), "one job at a time");

        // A newer request (a filter) while the first runs.
        let filter = Filter::new("p0000");
        state.refresh(&big, &filter, None, now());
        assert!(
            state.apply(first.run()),
            "the running job's answer is taken"
        );
        // NUMBER ascending: the last row first.
        assert_eq!(state.order[0], big.rows.len() - 1);
        assert_eq!(
            state.selected_key, selected,
            "the selection follows its row"
        );
        let second = state.take_job().expect("the newest request runs next");
        let done = second.clone().run();
        assert!(state.apply(done));
        assert!(!state.ordering());
        let names: Vec<&str> = state.order.iter().map(|i| big.rows.at(*i).name()).collect();
        assert_eq!(
            names,
            [
                "p00009", "p00008", "p00007", "p00006", "p00005", "p00004", "p00003", "p00002",
                "p00001", "p00000"
            ]
        );
        // Outdated: nobody waits for it any more.
        assert!(!state.apply(second.run()));

        // A small table is ordered at once.
        let small = model(20);
        let mut state = TableState {
            sort: Some((1, true)),
            ..TableState::default()
        };
        state.refresh(&small, &Filter::default(), None, now());
        assert!(!state.ordering());
        assert_eq!(state.order[0], 0);
    }

    /// Clearing the sort while a job runs shows every row at once; the job's late
    /// answer is dropped.
    #[test]
    fn an_answer_for_a_cleared_sort_is_dropped() {
        let big = model(ORDER_OFF_TASK_FROM);
        let mut state = TableState {
            sort: Some((1, false)),
            ..TableState::default()
        };
        state.refresh(&big, &Filter::default(), None, now());
        let job = state.take_job().expect("a job");
        state.sort = None;
        state.refresh(&big, &Filter::default(), None, now());
        assert!(!state.ordering());
        assert!(!state.apply(job.run()));
        assert_eq!(state.order[..2], [0, 1]);
    }
}
