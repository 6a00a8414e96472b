//! Table view models: rows with typed columns and keys, shared by every table pane,
//! and the helpers that derive them from typed rows. No UI here: panes render these.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use jiff::Timestamp;

use crate::model::chunked::Chunked;
use crate::model::columns::{Column, ColumnKind, SortKey};
use crate::model::pod_status::human_since;
use crate::model::rows;
use kcops_pod::shared::Shared;

pub use super::pod_line::PodLine;

/// Which kind of object a row stands for (what describe/yaml/actions act on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjKind {
    Node,
    Pod,
    Pvc,
    Pv,
    StorageClass,
    /// A CSI VolumeAttachment (cluster-scoped).
    VolumeAttachment,
    StatefulSet,
    DaemonSet,
    Deployment,
    Event,
    /// An RBD image (Ceph pane); its key's name is `pool/image`.
    RbdImage,
    /// An object of the generic resource browser (its kind is the browser's).
    Resource,
}

impl ObjKind {
    pub fn label(self) -> &'static str {
        match self {
            ObjKind::Node => "Node",
            ObjKind::Pod => "Pod",
            ObjKind::Pvc => "PersistentVolumeClaim",
            ObjKind::Pv => "PersistentVolume",
            ObjKind::StorageClass => "StorageClass",
            ObjKind::VolumeAttachment => "VolumeAttachment",
            ObjKind::StatefulSet => "StatefulSet",
            ObjKind::DaemonSet => "DaemonSet",
            ObjKind::Deployment => "Deployment",
            ObjKind::Event => "Event",
            ObjKind::RbdImage => "RBD image",
            ObjKind::Resource => "object",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjKey {
    pub kind: ObjKind,
    /// Shared: a pod's key points at its pod's name (150,000 keys, no copies).
    pub namespace: Shared,
    pub name: Shared,
}

/// How a row, or a piece of a pane's text, should stand out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Normal,
    Ok,
    Warning,
    Error,
    Muted,
    /// Headings inside a pane's text (the Ceph pane's sections).
    Header,
}

/// A row's cells in one allocation: their texts back to back, each ended by a unit
/// separator (which no cell keeps: it is read as a space). A pod row's eight cells
/// cost about 80 bytes this way, where eight separate strings cost 192 and more.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Cells(Box<str>);

/// Ends each cell in [`Cells`].
const END: char = '\u{1f}';

impl Cells {
    pub fn len(&self) -> usize {
        self.0.matches(END).count()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Cell `i`'s text.
    pub fn get(&self, i: usize) -> Option<&str> {
        self.iter().nth(i)
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        self.0.split_terminator(END)
    }

    /// Replaces cell `i` (nothing when there is no such cell).
    pub fn set(&mut self, i: usize, text: &str) {
        if i < self.len() {
            *self = self
                .iter()
                .enumerate()
                .map(|(j, c)| if j == i { text } else { c })
                .collect();
        }
    }
}

impl<S: AsRef<str>> FromIterator<S> for Cells {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        let mut s = String::new();
        for c in iter {
            s.extend(
                c.as_ref()
                    .chars()
                    .map(|ch| if ch == END { ' ' } else { ch }),
            );
            s.push(END);
        }
        Cells(s.into_boxed_str())
    }
}

impl<S: AsRef<str>> From<Vec<S>> for Cells {
    fn from(v: Vec<S>) -> Self {
        v.iter().collect()
    }
}

impl std::ops::Index<usize> for Cells {
    type Output = str;

    /// Cell `i`; an empty text past the last cell.
    fn index(&self, i: usize) -> &str {
        self.get(i).unwrap_or_default()
    }
}

impl<const N: usize> PartialEq<[&str; N]> for Cells {
    fn eq(&self, other: &[&str; N]) -> bool {
        self.len() == N && self.iter().zip(other).all(|(a, b)| a == *b)
    }
}

impl std::fmt::Debug for Cells {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// The cell of a row that says how long ago a time was (an AGE or LAST SEEN column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgeCell {
    pub column: usize,
    /// The time it counts from: what the column sorts by. The cell is drawn as of
    /// the draw time (a row kept from view to view would go stale), not as its text
    /// in `cells` says.
    pub since: Timestamp,
}

/// What other code reads from a row, typed, so that nothing parses cells back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RowData {
    #[default]
    None,
    /// A workload's replica counts.
    Replicas(rows::Replicas),
}

#[derive(Debug, Clone)]
pub struct TableRow {
    pub cells: Cells,
    pub key: ObjKey,
    pub tone: Tone,
    /// The cell that shows an age, if any; [`TableRow::cell`] gives a live one as of
    /// any instant.
    pub age: Option<AgeCell>,
    pub data: RowData,
    /// The last filter this row was matched against, and the answer.
    pub memo: FilterMemo,
}

/// A row's answer to the last filter it was matched against: rows are kept from view
/// to view, so filtering 150,000 rows again only reads the rows that changed. Holds
/// `filter id << 1 | matched`, or 0.
#[derive(Debug, Default)]
pub struct FilterMemo(AtomicU64);

impl Clone for FilterMemo {
    fn clone(&self) -> Self {
        Self(AtomicU64::new(self.0.load(Ordering::Relaxed)))
    }
}

impl FilterMemo {
    /// The remembered answer for filter `id`.
    pub fn get(&self, id: u64) -> Option<bool> {
        let m = self.0.load(Ordering::Relaxed);
        (m != 0 && m >> 1 == id).then_some(m & 1 == 1)
    }

    pub fn set(&self, id: u64, matched: bool) {
        self.0
            .store(id << 1 | u64::from(matched), Ordering::Relaxed);
    }
}

impl TableRow {
    /// A row whose cell `age.0`, if any, shows a live age counted from `age.1`.
    pub fn new(
        cells: Vec<String>,
        key: ObjKey,
        tone: Tone,
        age: Option<(usize, Timestamp)>,
    ) -> Self {
        Self {
            cells: cells.into(),
            key,
            tone,
            age: age.map(|(column, since)| AgeCell { column, since }),
            data: RowData::None,
            memo: FilterMemo::default(),
        }
    }

    pub(crate) fn with_data(mut self, data: RowData) -> Self {
        self.data = data;
        self
    }

    /// Cell `i` as of `now` (a live age computed, the others as they are).
    pub fn cell(&self, i: usize, now: Timestamp) -> Cow<'_, str> {
        match self.age {
            Some(a) if a.column == i => Cow::Owned(human_since(a.since, now)),
            _ => Cow::Borrowed(self.cells.get(i).unwrap_or_default()),
        }
    }

    /// What column `i` (of `kind`) sorts this row by, as of `now`.
    pub(crate) fn sort_key(&self, i: usize, kind: ColumnKind, now: Timestamp) -> SortKey<'_> {
        let since = self.age.filter(|a| a.column == i).map(|a| a.since);
        SortKey::of(kind, self.cell(i, now), since)
    }

    /// The replicas a workload row wants.
    pub(crate) fn desired_replicas(&self) -> Option<i32> {
        match self.data {
            RowData::Replicas(r) => Some(r.desired),
            RowData::None => None,
        }
    }
}

/// Rows are shared (between views, and with the deriver's cache), in shared chunks:
/// a new view of 150,000 pods copies a pointer per chunk, not per row.
#[derive(Debug, Clone, Default)]
pub struct TableModel {
    pub columns: Vec<Column>,
    pub rows: Rows,
}

/// A table's rows: made text, or the Pods table's rows, whose cells are made from
/// their pods when they are drawn, sorted or filtered ([`PodLine`]).
#[derive(Debug, Clone)]
pub enum Rows {
    Made(Chunked<Arc<TableRow>>),
    Pods(Chunked<PodLine>),
}

impl Default for Rows {
    fn default() -> Self {
        Rows::Made(Chunked::default())
    }
}

impl Rows {
    pub fn len(&self) -> usize {
        match self {
            Rows::Made(c) => c.len(),
            Rows::Pods(c) => c.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, i: usize) -> Option<RowRef<'_>> {
        match self {
            Rows::Made(c) => c.get(i).map(RowRef::Made),
            Rows::Pods(c) => c.get(i).map(RowRef::Pod),
        }
    }

    /// Row `i`, which must exist: the indices of a table's order, made for it.
    pub fn at(&self, i: usize) -> RowRef<'_> {
        match self {
            Rows::Made(c) => RowRef::Made(&c[i]),
            Rows::Pods(c) => RowRef::Pod(&c[i]),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = RowRef<'_>> + '_ {
        let (made, pods) = match self {
            Rows::Made(c) => (Some(c.iter().map(RowRef::Made)), None),
            Rows::Pods(c) => (None, Some(c.iter().map(RowRef::Pod))),
        };
        made.into_iter().flatten().chain(pods.into_iter().flatten())
    }

    /// Where the row of `key` is (or would be), for rows in key order.
    pub fn binary_search_key(&self, key: &ObjKey) -> Result<usize, usize> {
        match self {
            Rows::Made(c) => c.binary_search_by(|r| RowRef::Made(r).cmp_key(key)),
            Rows::Pods(c) => c.binary_search_by(|r| RowRef::Pod(r).cmp_key(key)),
        }
    }

    /// The rows `keep` keeps, in their order.
    pub fn filtered(&self, mut keep: impl FnMut(RowRef<'_>) -> bool) -> Rows {
        match self {
            Rows::Made(c) => Rows::Made(
                c.iter()
                    .filter(|r| keep(RowRef::Made(r)))
                    .cloned()
                    .collect(),
            ),
            Rows::Pods(c) => {
                Rows::Pods(c.iter().filter(|r| keep(RowRef::Pod(r))).cloned().collect())
            }
        }
    }
}

impl From<Vec<Arc<TableRow>>> for Rows {
    fn from(rows: Vec<Arc<TableRow>>) -> Self {
        Rows::Made(rows.into())
    }
}

impl From<Chunked<Arc<TableRow>>> for Rows {
    fn from(rows: Chunked<Arc<TableRow>>) -> Self {
        Rows::Made(rows)
    }
}

impl FromIterator<Arc<TableRow>> for Rows {
    fn from_iter<I: IntoIterator<Item = Arc<TableRow>>>(iter: I) -> Self {
        Rows::Made(iter.into_iter().collect())
    }
}

/// One row of a [`Rows`], whichever kind: what panes, the filter and the sort read.
#[derive(Debug, Clone, Copy)]
pub enum RowRef<'a> {
    Made(&'a Arc<TableRow>),
    Pod(&'a PodLine),
}

impl<'a> RowRef<'a> {
    pub fn kind(self) -> ObjKind {
        match self {
            RowRef::Made(r) => r.key.kind,
            RowRef::Pod(_) => ObjKind::Pod,
        }
    }

    pub fn namespace(self) -> &'a str {
        match self {
            RowRef::Made(r) => &r.key.namespace,
            RowRef::Pod(p) => p.namespace(),
        }
    }

    pub fn name(self) -> &'a str {
        match self {
            RowRef::Made(r) => &r.key.name,
            RowRef::Pod(p) => p.name(),
        }
    }

    pub fn key(self) -> ObjKey {
        match self {
            RowRef::Made(r) => r.key.clone(),
            RowRef::Pod(p) => p.key(),
        }
    }

    /// Whether this is the row of `key` (without making its key).
    pub fn has_key(self, key: &ObjKey) -> bool {
        self.kind() == key.kind && self.namespace() == key.namespace && self.name() == key.name
    }

    /// This row's key against `key`, as [`ObjKey`]s order.
    pub fn cmp_key(self, key: &ObjKey) -> std::cmp::Ordering {
        (self.kind(), self.namespace(), self.name()).cmp(&(
            key.kind,
            key.namespace.as_str(),
            key.name.as_str(),
        ))
    }

    /// How many cells it has.
    pub fn len(self) -> usize {
        match self {
            RowRef::Made(r) => r.cells.len(),
            RowRef::Pod(_) => PodLine::COLUMNS.len(),
        }
    }

    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// Cell `i` as of `now` (live ages computed).
    pub fn cell(self, i: usize, now: Timestamp) -> Cow<'a, str> {
        match self {
            RowRef::Made(r) => r.cell(i, now),
            RowRef::Pod(p) => p.cell(i, now),
        }
    }

    pub fn tone(self) -> Tone {
        match self {
            RowRef::Made(r) => r.tone,
            RowRef::Pod(p) => p.tone(),
        }
    }

    /// The row's answer to the last filter it was matched against.
    pub fn memo(self) -> &'a FilterMemo {
        match self {
            RowRef::Made(r) => &r.memo,
            RowRef::Pod(p) => p.memo(),
        }
    }

    /// The column of an age computed as of the time it is drawn, if any.
    pub fn live_age(self) -> Option<usize> {
        match self {
            RowRef::Made(r) => r.age.map(|a| a.column),
            RowRef::Pod(p) => p.live_age(),
        }
    }

    /// Whether a cell other than a live age follows the clock (`3 (42s ago)`).
    pub fn more_cells_follow_the_clock(self) -> bool {
        match self {
            RowRef::Made(_) => false,
            RowRef::Pod(p) => p.restarts_follow_the_clock(),
        }
    }

    /// What column `i` (of `kind`) sorts this row by, as of `now`.
    pub fn sort_key(self, i: usize, kind: ColumnKind, now: Timestamp) -> SortKey<'a> {
        match self {
            RowRef::Made(r) => r.sort_key(i, kind, now),
            RowRef::Pod(p) => {
                let since = (p.live_age() == Some(i)).then(|| p.created()).flatten();
                SortKey::of(kind, p.cell(i, now), since)
            }
        }
    }

    /// The replicas a workload row wants.
    pub fn desired_replicas(self) -> Option<i32> {
        match self {
            RowRef::Made(r) => r.desired_replicas(),
            RowRef::Pod(_) => None,
        }
    }

    /// The same row object (not merely equal): a row kept from an earlier view (a pod's
    /// row is kept while its pod is the same object).
    pub fn same(self, other: RowRef<'_>) -> bool {
        match (self, other) {
            (RowRef::Made(a), RowRef::Made(b)) => Arc::ptr_eq(a, b),
            (RowRef::Pod(a), RowRef::Pod(b)) => Arc::ptr_eq(a.pod(), b.pod()),
            _ => false,
        }
    }
}

pub(crate) fn tone_for_status(status: &str) -> Tone {
    match status {
        "Running" | "Ready" | "Bound" | "Completed" | "Succeeded" | "Active" | "Available" => {
            Tone::Ok
        }
        s if s.contains("NotReady") || s.contains("Unknown") => Tone::Error,
        s if s.contains("SchedulingDisabled") => Tone::Warning,
        s if s.contains("CrashLoop")
            || s.contains("Error")
            || s.contains("Failed")
            || s.contains("BackOff")
            || s.contains("Lost") =>
        {
            Tone::Error
        }
        "Pending" | "ContainerCreating" | "Terminating" | "Released" => Tone::Warning,
        s if s.starts_with("Init:") => Tone::Warning,
        _ => Tone::Normal,
    }
}

/// A table of `items`; `since` gives the time its Age column counts from.
pub(crate) fn model<R>(
    columns: &'static [Column],
    items: &[R],
    kind: ObjKind,
    cells: impl Fn(&R) -> Vec<String>,
    key: impl Fn(&R) -> (String, String),
    tone: impl Fn(&R) -> Tone,
    since: impl Fn(&R) -> Option<Timestamp>,
) -> TableModel {
    let age_column = Column::find(columns, ColumnKind::Age);
    let rows = items
        .iter()
        .map(|r| {
            let (namespace, name) = key(r);
            Arc::new(TableRow::new(
                cells(r),
                ObjKey {
                    kind,
                    namespace: namespace.into(),
                    name: name.into(),
                },
                tone(r),
                age_column.zip(since(r)),
            ))
        })
        .collect();
    TableModel {
        columns: columns.to_vec(),
        rows,
    }
}
