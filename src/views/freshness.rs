//! How current the data behind a pane is, from the watched kinds' statuses: live,
//! still waiting for a first list, or failing (stale since the last data received).
//! The panes say so rather than show old or missing data as the cluster's state, and
//! nothing on screen calls the cluster healthy unless every kind is live.

use jiff::Timestamp;

use crate::model::pod_status::human_since;
use crate::model::snapshot::SourceStatus;

/// The state of the data behind one pane (the worst of its kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Listed, and the watch reports no error.
    Live,
    /// No first list yet, and no error so far (starting, or a server slow to answer).
    Waiting,
    /// Failing: what is shown was last received at `data_from` (`None`: never listed).
    Failing { data_from: Option<Timestamp> },
}

/// Whether `source` is one of `kinds` (`configmaps` covers `configmaps/kube-system`).
fn covers(kinds: &[&str], source: &str) -> bool {
    kinds.iter().any(|k| {
        source == *k
            || source
                .strip_prefix(k)
                .is_some_and(|rest| rest.starts_with('/'))
    })
}

/// The freshness of the data of `kinds`. Without any source (not connected yet)
/// nothing is live.
pub fn of(sources: &[SourceStatus], kinds: &[&str]) -> Freshness {
    if sources.is_empty() {
        return Freshness::Waiting;
    }
    let mut worst = Freshness::Live;
    for s in sources.iter().filter(|s| covers(kinds, s.kind)) {
        let this = match (&s.last_error, s.synced) {
            (Some(_), true) => Freshness::Failing {
                data_from: s.last_success,
            },
            (Some(_), false) => Freshness::Failing { data_from: None },
            (None, false) => Freshness::Waiting,
            (None, true) => Freshness::Live,
        };
        worst = match (worst, this) {
            (Freshness::Failing { data_from: a }, Freshness::Failing { data_from: b }) => {
                Freshness::Failing {
                    // The oldest data, or none if one kind has none.
                    data_from: a.zip(b).map(|(a, b)| a.min(b)),
                }
            }
            (f @ Freshness::Failing { .. }, _) | (_, f @ Freshness::Failing { .. }) => f,
            (Freshness::Waiting, _) | (_, Freshness::Waiting) => Freshness::Waiting,
            _ => Freshness::Live,
        };
    }
    worst
}

/// The note of a table whose kinds' freshness is `freshness` and which holds `rows`
/// rows: a first list under way that already brought rows says how far it got
/// (`loading 42,000 of ~150,016`, the total as the server counted it when the list
/// started, or `loading 42,000` without one), as its rows show while the rest arrives.
pub fn table_note(
    freshness: Freshness,
    rows: usize,
    expected: Option<usize>,
    now: Timestamp,
) -> Option<String> {
    match freshness {
        Freshness::Waiting if rows > 0 => Some(format!("loading {}", progress(rows, expected))),
        f => f.note(now),
    }
}

/// `42,000 of ~150,016`, or `42,000` when the total is not known.
fn progress(stored: usize, expected: Option<usize>) -> String {
    match expected {
        Some(total) => format!("{} of ~{}", thousands(stored), thousands(total)),
        None => thousands(stored),
    }
}

/// The total the first lists of `kinds` still under way are expected to bring,
/// when the server counted every one of them.
pub fn expected(sources: &[SourceStatus], kinds: &[&str]) -> Option<usize> {
    let listing: Vec<&SourceStatus> = sources
        .iter()
        .filter(|s| covers(kinds, s.kind) && !s.synced)
        .collect();
    if listing.is_empty() {
        return None;
    }
    listing.iter().map(|s| s.expected).sum()
}

/// Why findings may still change, for their list's title: the pods' first list under
/// way with `pods` stored so far (`pods still loading (42,000 of ~150,016)`), or the
/// kinds not listed yet. `None` once every kind is listed.
pub fn provisional(sources: &[SourceStatus], pods: usize) -> Option<String> {
    let waiting = waiting(sources)?;
    let pods_listing = sources.iter().any(|s| s.kind == "pods" && !s.synced);
    if !pods_listing || pods == 0 {
        return Some(waiting);
    }
    let others = sources.iter().filter(|s| !s.synced).count() - 1;
    let mut why = format!(
        "pods still loading ({})",
        progress(pods, expected(sources, &["pods"]))
    );
    if others > 0 {
        let kinds = if others == 1 { "kind" } else { "kinds" };
        why.push_str(&format!(", {others} more {kinds} not listed yet"));
    }
    Some(why)
}

/// The status line's word on the pods' first list while it runs:
/// `loading pods 42,000 of ~150,016`.
pub fn pods_loading(sources: &[SourceStatus], pods: usize) -> Option<String> {
    let listing = sources
        .iter()
        .any(|s| s.kind == "pods" && !s.synced && s.last_error.is_none());
    (listing && pods > 0).then(|| {
        format!(
            "loading pods {}",
            progress(pods, expected(sources, &["pods"]))
        )
    })
}

/// `150016` as `150,016`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Every watched kind is listed and none reports an error: only then may the
/// console say that what it checks looks fine.
pub(crate) fn all_live(sources: &[SourceStatus]) -> bool {
    !sources.is_empty() && sources.iter().all(|s| s.synced && s.last_error.is_none())
}

impl Freshness {
    /// What a pane's title adds (`None` when live), ages as of `now`.
    pub fn note(self, now: Timestamp) -> Option<String> {
        match self {
            Freshness::Live => None,
            Freshness::Waiting => Some("not listed yet".into()),
            Freshness::Failing { data_from: Some(t) } => {
                Some(format!("stale: data from {} ago", human_since(t, now)))
            }
            Freshness::Failing { data_from: None } => Some("no data: listing fails".into()),
        }
    }
}

/// The age of the newest data received from the API server, for the status line:
/// `last success 42s ago`, or `no data received yet`.
pub fn last_success(sources: &[SourceStatus], now: Timestamp) -> String {
    sources
        .iter()
        .filter_map(|s| s.last_success)
        .max()
        .map(|t| format!("last success {} ago", human_since(t, now)))
        .unwrap_or_else(|| "no data received yet".into())
}

/// What fails, for the status line: `pods: <error>`, `13 kinds: <error>` when they
/// share one, `3 kinds failing, e.g. pods: <error>` (the shortest name, so the line
/// keeps its room for the error) otherwise.
pub fn failing(sources: &[SourceStatus]) -> Option<String> {
    let errors: Vec<(&str, String)> = sources
        .iter()
        .filter_map(|s| s.last_error.as_ref().map(|e| (s.kind, e.to_string())))
        .collect();
    let (_, first) = errors.first()?;
    let (kind, example) = errors.iter().min_by_key(|(k, _)| k.len())?;
    Some(match errors.len() {
        1 => format!("{kind}: {example}"),
        n if errors.iter().all(|(_, e)| e == first) => format!("{n} kinds: {first}"),
        n => format!("{n} kinds failing, e.g. {kind}: {example}"),
    })
}

/// How many kinds still wait for their first list, when some do:
/// `3 of 14 kinds not listed yet`.
pub fn waiting(sources: &[SourceStatus]) -> Option<String> {
    let n = sources.iter().filter(|s| !s.synced).count();
    (n > 0).then(|| format!("{n} of {} kinds not listed yet", sources.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::errors::KubeError;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn src(kind: &'static str, synced: bool, at: Option<&str>, err: bool) -> SourceStatus {
        SourceStatus {
            kind,
            synced,
            last_success: at.map(ts),
            last_error: err.then(|| KubeError::Other("watch failed".into())),
            expected: None,
        }
    }

    #[test]
    fn a_first_list_under_way_says_how_far_it_got() {
        let now = ts("2025-01-01T12:00:00Z");
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(42_000), "42,000");
        assert_eq!(thousands(150_016), "150,016");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(
            table_note(Freshness::Waiting, 42_000, None, now).as_deref(),
            Some("loading 42,000")
        );
        assert_eq!(
            table_note(Freshness::Waiting, 42_000, Some(150_016), now).as_deref(),
            Some("loading 42,000 of ~150,016")
        );
        assert_eq!(
            table_note(Freshness::Waiting, 0, Some(150_016), now).as_deref(),
            Some("not listed yet")
        );
        assert_eq!(
            table_note(Freshness::Live, 42_000, Some(150_016), now),
            None
        );
    }

    /// The server's count shows while a kind lists; findings say they are provisional
    /// with the pods' progress, and nothing once every kind is listed.
    #[test]
    fn findings_are_provisional_while_the_pods_load() {
        let counted = |kind, synced, expected| SourceStatus {
            expected,
            ..src(kind, synced, None, false)
        };
        let mut sources = vec![
            counted("pods", false, Some(150_016)),
            counted("nodes", true, Some(5_000)),
            counted("events", false, None),
        ];
        assert_eq!(expected(&sources, &["pods"]), Some(150_016));
        assert_eq!(expected(&sources, &["nodes"]), None, "listed: no estimate");
        assert_eq!(
            expected(&sources, &["pods", "events"]),
            None,
            "events uncounted"
        );
        assert_eq!(
            provisional(&sources, 42_000).as_deref(),
            Some("pods still loading (42,000 of ~150,016), 1 more kind not listed yet")
        );
        assert_eq!(
            pods_loading(&sources, 42_000).as_deref(),
            Some("loading pods 42,000 of ~150,016")
        );
        assert_eq!(
            provisional(&sources, 0).as_deref(),
            Some("2 of 3 kinds not listed yet"),
            "no pod yet: the kinds"
        );
        assert_eq!(pods_loading(&sources, 0), None);
        sources[2].synced = true;
        sources[0].expected = None;
        assert_eq!(
            provisional(&sources, 42_000).as_deref(),
            Some("pods still loading (42,000)"),
            "no count from the server"
        );
        sources[0].synced = true;
        assert_eq!(provisional(&sources, 150_016), None);
        assert_eq!(pods_loading(&sources, 150_016), None);
    }

    #[test]
    fn the_worst_kind_decides_and_the_oldest_data_is_shown() {
        let now = ts("2025-01-01T12:00:00Z");
        let sources = vec![
            src("pods", true, Some("2025-01-01T11:59:18Z"), true),
            src("nodes", true, Some("2025-01-01T11:58:00Z"), true),
            src("events", false, None, false),
            src(
                "configmaps/kube-system",
                true,
                Some("2025-01-01T11:59:59Z"),
                false,
            ),
            src("persistentvolumes", false, None, true),
        ];
        assert_eq!(of(&sources, &["configmaps"]), Freshness::Live);
        assert_eq!(of(&sources, &["events"]), Freshness::Waiting);
        assert_eq!(
            of(&sources, &["pods"]).note(now).as_deref(),
            Some("stale: data from 42s ago")
        );
        assert_eq!(
            of(&sources, &["pods", "nodes", "events"])
                .note(now)
                .as_deref(),
            Some("stale: data from 2m ago")
        );
        assert_eq!(
            of(&sources, &["persistentvolumes", "pods"])
                .note(now)
                .as_deref(),
            Some("no data: listing fails")
        );
        assert_eq!(of(&[], &["pods"]), Freshness::Waiting, "not connected");
        assert!(!all_live(&sources));
        assert!(!all_live(&[]));
        assert!(all_live(&sources[3..4]));
        assert_eq!(last_success(&sources, now), "last success 1s ago");
        assert_eq!(last_success(&sources[2..3], now), "no data received yet");
        assert_eq!(
            waiting(&sources).as_deref(),
            Some("2 of 5 kinds not listed yet")
        );
    }
}
