//! The Ceph pane (`:ceph`, `:rbd`, key 8): the connection (who, which conf, how old
//! the data is, the last error), cluster health with every check, OSDs, RBD pool
//! usage, blocklist and fencing permission; below, one row per RBD image (ordinary
//! table: filter, sort, selection) and the detail of the selected image — every lock
//! and watch with the node behind it, and the PV, PVC and pods on the Kubernetes side.
//!
//! Everything is derived off the UI task ([`crate::ui::ceph_view`]); only the age of
//! the data is worked out here, at draw time, so it keeps moving while Ceph is down.

use std::sync::Arc;

use jiff::Timestamp;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::table::{self, TableState};
use super::{DrawCtx, Outcome, Pane, PaneCtx, PaneId};
use crate::model::pod_status::human_since;
use crate::ops::wizard::unlock::UnlockTarget;
use crate::ui::commands::Command;
use crate::ui::keymap::{Action, Context};
use crate::ui::theme::{Role, Theme};
use crate::ui::view::{TableModel, TableRow, Tone, ViewModel};
use crate::views::ceph::{CephView, Segments};

/// Data older than this is shown as stale even without an error (a refresh hangs).
const STALE_AFTER_SECS: i64 = 30;

/// The theme role of a piece of the view's text.
fn tone_role(t: Tone) -> Role {
    match t {
        Tone::Normal => Role::Text,
        Tone::Ok => Role::Ok,
        Tone::Warning => Role::Warning,
        Tone::Error => Role::Error,
        Tone::Muted => Role::Muted,
        Tone::Header => Role::Header,
    }
}

fn line<'a>(segments: &Segments, theme: &Theme) -> Line<'a> {
    Line::from(
        segments
            .iter()
            .map(|(tone, text)| Span::styled(text.clone(), theme.style(tone_role(*tone))))
            .collect::<Vec<_>>(),
    )
}

/// What the pane says when the console runs without Ceph.
fn not_configured<'a>(theme: &Theme) -> Vec<Line<'a>> {
    let t = |s: &str| Line::from(Span::styled(s.to_string(), theme.style(Role::Text)));
    let k = |s: &str| Line::from(Span::styled(s.to_string(), theme.style(Role::KeyHint)));
    vec![
        Line::from(Span::styled(
            "Ceph is not configured: no conf was given and /etc/ceph/ceph.conf does not exist (or --no-ceph is set, or the client could not start: see the log).",
            theme.style(Role::Warning),
        )),
        Line::from(""),
        t("Start kcops with the cluster's conf and a user that may read it:"),
        k("  --ceph-conf FILE      (or CEPH_CONF)            the conf naming the mons"),
        k(
            "  --ceph-id ID          (or KCOPS_CEPH_ID)        the user, without client. (default admin)",
        ),
        k(
            "  --ceph-keyring FILE   (or KCOPS_CEPH_KEYRING)   its keyring, if the conf does not name it",
        ),
        Line::from(""),
        t("e.g.  kcops --ceph-conf /etc/ceph/ceph.conf --ceph-id admin"),
        t("Breaking locks and fencing need mon caps 'profile rbd' (osd 'profile rbd')."),
    ]
}

/// The connection lines: who we are, the conf, the age of the data, the last error.
pub(crate) fn connection_lines<'a>(c: &CephView, theme: &Theme, now: Timestamp) -> Vec<Line<'a>> {
    let mut spans = vec![
        Span::styled(c.entity.clone(), theme.style(Role::Header)),
        Span::styled(format!("  conf {}  ", c.conf), theme.style(Role::Muted)),
    ];
    match c.fetched_at {
        Some(t) => {
            let stale = c.error.is_some() || now.duration_since(t).as_secs() > STALE_AFTER_SECS;
            spans.push(Span::styled(
                format!("data {} old", human_since(t, now)),
                theme.style(if stale { Role::Warning } else { Role::Ok }),
            ));
        }
        None if c.attempted_at.is_none() => {
            spans.push(Span::styled("connecting...", theme.style(Role::Muted)))
        }
        None => spans.push(Span::styled("no data", theme.style(Role::Warning))),
    }
    let mut out = vec![Line::from(spans)];
    if let Some(e) = &c.error {
        let when = c
            .attempted_at
            .map(|t| format!(" ({} ago)", human_since(t, now)))
            .unwrap_or_default();
        out.push(Line::from(vec![
            Span::styled(format!("last error{when}: "), theme.style(Role::Error)),
            Span::styled(e.clone(), theme.style(Role::Error)),
        ]));
    }
    out
}

/// The columns (indices, in order) shown in `width` cells: every one that fits, taken
/// in priority order (the model's), skipping those that do not; the first three
/// (pool, image, verdict) always.
fn fitting_columns(model: &TableModel, width: u16, now: Timestamp) -> Vec<usize> {
    const SPACING: usize = 2;
    let natural = |i: usize| {
        model
            .rows
            .iter()
            .map(|r| r.cell(i, now).chars().count().min(80))
            .chain(std::iter::once(model.columns[i].title.len() + 1))
            .max()
            .unwrap_or(0)
    };
    let room = usize::from(width.saturating_sub(2));
    let mut used = 0;
    let mut picked = Vec::new();
    for i in 0..model.columns.len() {
        let need = natural(i) + if picked.is_empty() { 0 } else { SPACING };
        if i < 3 || used + need <= room {
            used += need;
            picked.push(i);
        }
    }
    picked
}

/// The image table, without the columns that do not fit (see [`fitting_columns`]).
fn draw_table(
    f: &mut Frame,
    area: Rect,
    model: &TableModel,
    state: &mut TableState,
    theme: &Theme,
    focused: bool,
    now: Timestamp,
) {
    let picked = fitting_columns(model, area.width, now);
    if picked.len() == model.columns.len() {
        table::draw(f, area, "RBD images", model, state, theme, focused, now);
        return;
    }
    let narrow = TableModel {
        columns: picked.iter().map(|i| model.columns[*i]).collect(),
        rows: model
            .rows
            .iter()
            .map(|r| {
                let cells = picked
                    .iter()
                    .map(|i| r.cell(*i, now).into_owned())
                    .collect();
                Arc::new(TableRow::new(cells, r.key(), r.tone(), None))
            })
            .collect(),
    };
    // The sort column is an index into the whole model.
    let mut shown = state.clone();
    shown.sort = state
        .sort
        .and_then(|(c, desc)| picked.iter().position(|i| *i == c).map(|p| (p, desc)));
    let hidden = model.columns.len() - picked.len();
    let title = format!("RBD images ({hidden} columns hidden: see the detail)");
    table::draw(f, area, &title, &narrow, &mut shown, theme, focused, now);
    state.offset = shown.offset;
}

/// Draws the pane; `state` is the image table's. `images_only` (`:rbd`) folds the
/// cluster section into one line so the images get the room.
#[allow(clippy::too_many_arguments)]
pub fn draw(
    f: &mut Frame,
    area: Rect,
    view: &ViewModel,
    state: &mut TableState,
    theme: &Theme,
    focused: bool,
    images_only: bool,
    now: Timestamp,
) {
    let c = &view.ceph;
    let block = |title: String| {
        Block::default()
            .borders(Borders::ALL)
            .border_style(theme.style(Role::Border))
            .title(Span::styled(title, theme.style(Role::Title)))
    };
    if !c.configured {
        f.render_widget(
            Paragraph::new(not_configured(theme))
                .block(block(" Ceph ".into()))
                .wrap(Wrap { trim: false }),
            area,
        );
        return;
    }
    let mut top: Vec<Line> = connection_lines(c, theme, now);
    if images_only {
        if !c.brief.is_empty() {
            top.push(line(&c.brief, theme));
        }
    } else {
        top.extend(c.cluster.iter().map(|s| line(s, theme)));
    }
    let top_height = (top.len() as u16)
        .saturating_add(2)
        .min(area.height.saturating_sub(10).max(3));
    let table_height = (c.images.rows.len() as u16)
        .saturating_add(3)
        .clamp(4, if images_only { 20 } else { 12 });
    let [upper, middle, lower] = Layout::vertical([
        Constraint::Length(top_height),
        Constraint::Length(table_height),
        Constraint::Min(3),
    ])
    .areas(area);
    let title = if images_only {
        " Ceph (:ceph for the whole cluster) "
    } else {
        " Ceph "
    };
    f.render_widget(
        Paragraph::new(top)
            .block(block(title.into()))
            .wrap(Wrap { trim: false }),
        upper,
    );
    draw_table(f, middle, &c.images, state, theme, focused, now);
    let selected = state.selected_key().and_then(|k| c.detail(k));
    let (title, lines) = match selected {
        Some(d) => (
            format!(" Image {}/{} ", d.pool, d.image),
            d.lines.iter().map(|s| line(s, theme)).collect(),
        ),
        None => {
            let why = if c.fetched_at.is_none() {
                "No data from Ceph yet."
            } else if c.images.rows.is_empty() {
                "No RBD images."
            } else {
                "No image selected."
            };
            (
                " Image ".to_string(),
                vec![Line::from(Span::styled(why, theme.style(Role::Muted)))],
            )
        }
    };
    f.render_widget(
        Paragraph::new(lines)
            .block(block(title))
            .wrap(Wrap { trim: false }),
        lower,
    );
}

const COMMANDS: &[Command] = &[
    Command::show(
        PaneId::Ceph,
        "ceph",
        &[],
        "the Ceph cluster and its RBD images",
    ),
    Command::show(
        PaneId::Ceph,
        "rbd",
        &["images"],
        "the RBD images (the cluster section folded into one line)",
    ),
];

/// The image table's selection and sort, and whether the pane was opened with
/// `:rbd` (the cluster section folds into one line).
#[derive(Debug, Default)]
pub(crate) struct CephPane {
    table: TableState,
    images_only: bool,
}

impl Pane for CephPane {
    fn id(&self) -> PaneId {
        PaneId::Ceph
    }

    fn title(&self) -> &'static str {
        "Ceph"
    }

    fn contexts(&self) -> &'static [Context] {
        &[Context::Ceph, Context::Table]
    }

    fn commands(&self) -> &'static [Command] {
        COMMANDS
    }

    fn open(&mut self, command: &str, _view: &ViewModel) {
        self.images_only = command == "rbd";
    }

    fn table<'a>(&'a self, view: &'a ViewModel) -> Option<(&'a TableModel, &'a TableState)> {
        Some((&view.ceph.images, &self.table))
    }

    fn table_mut<'a>(
        &'a mut self,
        view: &'a ViewModel,
    ) -> Option<(&'a TableModel, &'a mut TableState)> {
        Some((&view.ceph.images, &mut self.table))
    }

    /// Refresh asks Ceph again at once (on its own thread), besides the table.
    fn on_action(&mut self, action: Action, ctx: &PaneCtx) -> Outcome {
        if action == Action::Refresh {
            self.table
                .refresh(&ctx.view.ceph.images, ctx.filter, ctx.namespace, ctx.now);
            return Outcome::AskCeph;
        }
        table::on_action(self.table_mut(ctx.view), action, ctx)
    }

    /// The selected image.
    fn unlock_target(&self, view: &ViewModel) -> Option<UnlockTarget> {
        let key = self.selected(view)?;
        view.ceph.detail(&key).map(|d| UnlockTarget::Image {
            pool: d.pool.clone(),
            image: d.image.clone(),
        })
    }

    fn draw(&mut self, f: &mut Frame, area: Rect, ctx: &DrawCtx) {
        draw(
            f,
            area,
            ctx.view,
            &mut self.table,
            ctx.theme,
            ctx.focused,
            self.images_only,
            ctx.now,
        );
    }
}
