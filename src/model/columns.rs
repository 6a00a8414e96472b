//! Table columns that know what they hold, so a table sorts by value (ages by time,
//! counts as numbers, `2/3` by readiness) and code finds a cell by what it is rather
//! than by where it is.

use std::borrow::Cow;
use std::cmp::Reverse;

/// What a column's cells hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnKind {
    /// Free text (sorted case-insensitively).
    Text,
    /// An object's name or namespace.
    Name,
    /// A status word as kubectl prints it (`Running`, `Ready,SchedulingDisabled`).
    Status,
    /// A whole number, maybe followed by words (`3 (42s ago)`).
    Count,
    /// Ready out of desired, `2/3`.
    Ready,
    /// A size: a quantity (`10Gi`) or an amount with a unit (`1 GiB`).
    Size,
    /// How long ago a time was; the row holds the time ([`crate::model::views::tables::TableRow`]).
    Age,
}

/// A column: the header the table shows and what its cells hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub title: &'static str,
    pub kind: ColumnKind,
}

impl Column {
    pub const fn new(title: &'static str, kind: ColumnKind) -> Column {
        Column { title, kind }
    }

    /// The first column of `kind` in `columns`.
    pub fn find(columns: &[Column], kind: ColumnKind) -> Option<usize> {
        columns.iter().position(|c| c.kind == kind)
    }
}

/// What a table sorts a cell by. Cells without a value of their kind (`<none>`, `-`)
/// sort after those with one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum SortKey<'a> {
    /// A number: a count, a size in bytes.
    Number(u64),
    /// Readiness: the ready share (in millionths; a workload that wants none is all
    /// ready), then how many are wanted.
    Ready(u64, u64),
    /// An age: the later the time, the younger, so it sorts first.
    Since(Reverse<jiff::Timestamp>),
    /// Text, lowercased; borrowed from the row when it already is (Kubernetes names
    /// are): sorting 150,000 rows then copies no names.
    Text(Cow<'a, str>),
    /// No value of the column's kind.
    Missing,
}

impl<'a> SortKey<'a> {
    /// The key of a cell of `kind` whose text is `text`; `since` is the time an Age
    /// cell counts from, when the row knows it.
    pub fn of(
        kind: ColumnKind,
        text: impl Into<Cow<'a, str>>,
        since: Option<jiff::Timestamp>,
    ) -> SortKey<'a> {
        let missing = || SortKey::Missing;
        let text = text.into();
        match kind {
            ColumnKind::Text | ColumnKind::Name | ColumnKind::Status => {
                SortKey::Text(if lowercase_already(&text) {
                    text
                } else {
                    Cow::Owned(text.to_lowercase())
                })
            }
            ColumnKind::Count => leading_number(&text)
                .map(|(n, _)| SortKey::Number(n))
                .unwrap_or_else(missing),
            ColumnKind::Ready => ready_share(&text).unwrap_or_else(missing),
            ColumnKind::Size => size_bytes(&text)
                .map(SortKey::Number)
                .unwrap_or_else(missing),
            ColumnKind::Age => since
                .map(|t| SortKey::Since(Reverse(t)))
                .unwrap_or_else(missing),
        }
    }
}

/// Whether `text` is its own lower case (then a sort key borrows it).
fn lowercase_already(text: &str) -> bool {
    if text.is_ascii() {
        return !text.bytes().any(|b| b.is_ascii_uppercase());
    }
    text.chars().all(|c| {
        let mut lower = c.to_lowercase();
        lower.next() == Some(c) && lower.next().is_none()
    })
}

/// The digits a cell starts with, and the rest of it.
fn leading_number(text: &str) -> Option<(u64, &str)> {
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let n = text[..end].parse().ok()?;
    Some((n, &text[end..]))
}

fn ready_share(text: &str) -> Option<SortKey<'static>> {
    let (ready, desired) = text.split_once('/')?;
    let ready: u64 = ready.trim().parse().ok()?;
    let desired: u64 = desired.trim().parse().ok()?;
    let share = ready
        .saturating_mul(1_000_000)
        .checked_div(desired)
        .unwrap_or(1_000_000);
    Some(SortKey::Ready(share, desired))
}

/// `10Gi`, `512Mi`, `1.5 GiB`, `100G`, `2048` as bytes.
fn size_bytes(text: &str) -> Option<u64> {
    let end = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let n: f64 = text[..end].parse().ok()?;
    let unit = &text[end..];
    let mult: u64 = match unit.trim().trim_end_matches('B') {
        "" => 1,
        "Ki" | "K" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        "Pi" => 1 << 50,
        "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "T" => 1_000_000_000_000,
        _ => return None,
    };
    // Rounded to whole bytes: sizes this large are never fractions of a byte apart.
    Some((n * mult as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kind: ColumnKind, text: &str) -> SortKey<'_> {
        SortKey::of(kind, text, None)
    }

    fn ts(s: &str) -> jiff::Timestamp {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn text_names_and_statuses_sort_case_insensitively() {
        for kind in [ColumnKind::Text, ColumnKind::Name, ColumnKind::Status] {
            assert!(key(kind, "apple") < key(kind, "Banana"));
            assert!(key(kind, "Pending") < key(kind, "running"));
        }
    }

    #[test]
    fn lower_case_text_is_borrowed_not_copied() {
        let borrowed = |k: &SortKey<'_>| matches!(k, SortKey::Text(Cow::Borrowed(_)));
        assert!(borrowed(&key(ColumnKind::Name, "web-0")));
        assert!(borrowed(&key(ColumnKind::Text, "ünïcode ok")));
        let upper = key(ColumnKind::Status, "CrashLoopBackOff");
        assert_eq!(upper, SortKey::Text(Cow::Borrowed("crashloopbackoff")));
        assert!(!borrowed(&upper));
        assert!(!borrowed(&key(ColumnKind::Text, "Ünïcode")));
    }

    #[test]
    fn counts_sort_as_numbers() {
        let c = ColumnKind::Count;
        assert!(key(c, "9") < key(c, "10"));
        assert!(key(c, "2 (5m ago)") < key(c, "10 (3s ago)"));
        assert!(key(c, "0") < key(c, "<none>"), "no count sorts last");
    }

    #[test]
    fn ready_counts_sort_by_share_then_size() {
        let r = ColumnKind::Ready;
        assert!(key(r, "0/3") < key(r, "1/3"));
        assert!(key(r, "1/3") < key(r, "1/2"));
        assert!(key(r, "2/3") < key(r, "1/1"));
        assert!(key(r, "1/1") < key(r, "3/3"));
        assert_eq!(key(r, "0/0"), key(r, "0/0"));
        assert!(key(r, "3/3") < key(r, "-"));
        assert!(key(r, "9/10") < key(r, "1/1"), "not by text");
    }

    #[test]
    fn sizes_sort_by_bytes() {
        let s = ColumnKind::Size;
        assert!(key(s, "512Mi") < key(s, "1Gi"));
        assert!(key(s, "2Gi") < key(s, "10Gi"));
        assert!(key(s, "1.5 GiB") < key(s, "2 GiB"));
        assert!(key(s, "1 GiB") < key(s, "1.5 GiB"));
        assert!(key(s, "900 MiB") < key(s, "1 GiB"));
        assert!(key(s, "1G") < key(s, "1Gi"));
        assert_eq!(key(s, "<none>"), SortKey::Missing);
    }

    #[test]
    fn ages_sort_by_their_time_not_their_text() {
        let a = ColumnKind::Age;
        let young = SortKey::of(a, "59s", Some(ts("2025-01-01T11:59:01Z")));
        let old = SortKey::of(a, "2m", Some(ts("2025-01-01T11:58:00Z")));
        let older = SortKey::of(a, "3d4h", Some(ts("2024-12-29T08:00:00Z")));
        assert!(young < old && old < older);
        // The same text, different times: the time decides.
        let a1 = SortKey::of(a, "3d", Some(ts("2024-12-29T11:00:00Z")));
        let a2 = SortKey::of(a, "3d", Some(ts("2024-12-29T01:00:00Z")));
        assert!(a1 < a2);
        assert_eq!(SortKey::of(a, "<unknown>", None), SortKey::Missing);
        assert!(older < SortKey::Missing);
    }

    #[test]
    fn find_is_by_kind() {
        const COLS: &[Column] = &[
            Column::new("NAME", ColumnKind::Name),
            Column::new("STATUS", ColumnKind::Status),
            Column::new("AGE", ColumnKind::Age),
        ];
        assert_eq!(Column::find(COLS, ColumnKind::Status), Some(1));
        assert_eq!(Column::find(COLS, ColumnKind::Ready), None);
    }
}
