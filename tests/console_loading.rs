//! The first list of many pods, as an operator sees it: rows on screen while the list
//! runs, with its progress against the server's count (`loading 3,500 of ~10,012`),
//! then the full table. A lab with synthetic pods; the real console in a pty at 80x24.

mod common;

use std::time::{Duration, Instant};

use common::pty::{Console, Options};
use common::{Lab, shared};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::ListParams;

/// Synthetic pods: `bench-00` .. `bench-99`, 100 a namespace.
const PODS: usize = 10_000;

fn lab() -> &'static Lab {
    static ARGS: std::sync::OnceLock<[String; 5]> = std::sync::OnceLock::new();
    let args = ARGS.get_or_init(|| {
        [
            "--no-ceph".into(),
            "--synthetic-nodes".into(),
            "20".into(),
            "--synthetic-pods".into(),
            PODS.to_string(),
        ]
    });
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    shared("firstlist", "healthy", &args)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"))
}

/// Every pod, counted by a full paged list.
async fn count_pods(client: &kube::Client) -> usize {
    let api: Api<Pod> = Api::all(client.clone());
    let mut n = 0;
    let mut lp = ListParams::default().limit(2_000);
    loop {
        let page = api
            .list_metadata(&lp)
            .await
            .unwrap_or_else(|e| panic!("list pods: {e}"));
        n += page.items.len();
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(c) => lp = lp.continue_token(&c),
            None => return n,
        }
    }
}

/// `loading 3,500 of ~10,012` on `screen`: (stored, total).
fn progress(screen: &str) -> Option<(usize, usize)> {
    let re = regex::Regex::new(r"loading ([\d,]+) of ~([\d,]+)").unwrap_or_else(|e| panic!("{e}"));
    let c = re.captures(screen)?;
    let n = |i: usize| c[i].replace(',', "").parse::<usize>().ok();
    Some((n(1)?, n(2)?))
}

/// The count the console shows beside a list comes from the server, for any scope:
/// a one-object list's remainingItemCount, as the API server gives it.
#[test]
fn the_servers_count_of_a_list_is_its_size() {
    let lab = lab();
    runtime().block_on(async {
        let client = lab.client().await;
        let ns: Api<Pod> = Api::namespaced(client.clone(), "bench-07");
        assert_eq!(
            kcops::kube::reflectors::list_estimate(&ns).await,
            Some(PODS / 100)
        );
        let page = ns
            .list_metadata(&ListParams::default().limit(1))
            .await
            .unwrap_or_else(|e| panic!("list: {e}"));
        assert_eq!(
            page.metadata.remaining_item_count,
            Some((PODS / 100 - 1) as i64),
            "remainingItemCount on a limited list with more items"
        );
        // A selector: the API server gives no count.
        let selected = ns
            .list_metadata(&ListParams::default().limit(1).labels("tier=backend"))
            .await
            .unwrap_or_else(|e| panic!("list: {e}"));
        assert!(selected.metadata.continue_.is_some());
        assert_eq!(selected.metadata.remaining_item_count, None);
        // Every pod: the lab's scenario may add one meanwhile, so the count is
        // between two full counts taken around it.
        let all: Api<Pod> = Api::all(client.clone());
        let before = count_pods(&client).await;
        let estimate = kcops::kube::reflectors::list_estimate(&all).await;
        let after = count_pods(&client).await;
        assert!(
            estimate.is_some_and(|n| (before.min(after)..=before.max(after)).contains(&n)),
            "{estimate:?}, counted {before} then {after}"
        );
        let empty: Api<Pod> = Api::namespaced(client.clone(), "no-such-namespace");
        assert_eq!(
            kcops::kube::reflectors::list_estimate(&empty).await,
            Some(0)
        );
    });
}

/// The Pods pane's title line on `screen`.
fn pods_title(screen: &str) -> &str {
    screen
        .lines()
        .find(|l| l.contains("Pods [all]"))
        .unwrap_or_default()
}

/// At 80x24, on the Pods pane: rows while the list runs, its title and the status
/// line saying how far it got against the server's count, then every pod and no
/// progress left.
#[test]
fn pods_show_while_the_first_list_runs() {
    let lab = lab();
    let rt = runtime();
    let client = rt.block_on(lab.client());
    let before = rt.block_on(count_pods(&client));
    assert!(before >= PODS, "{before} pods");
    let t0 = Instant::now();
    let mut c = Console::start(
        lab,
        Options {
            rows: 24,
            cols: 80,
            ..Options::default()
        },
    );
    c.wait("the console", Duration::from_secs(30), |s| {
        s.contains("Overview")
    });
    c.send("3");
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut seen: Vec<(Duration, usize, usize, String)> = Vec::new();
    // Until the title says nothing more than its count.
    let listed_at = loop {
        let s = c.screen();
        let title = pods_title(&s);
        if let Some((n, of)) = progress(title) {
            seen.push((t0.elapsed(), n, of, s));
        } else if !title.is_empty() && !title.contains("not listed") {
            break t0.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "never listed; screen:\n{}",
            c.screen()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let Some((at, n, of, screen)) = seen.first() else {
        panic!("no progress seen on the Pods pane; screen:\n{}", c.screen());
    };
    eprintln!(
        "{} screens with progress; the first {at:?} after start: {n} of ~{of}; listed after {listed_at:?}",
        seen.len()
    );
    // The lab's scenario may still add a pod or two while the console lists.
    let after = rt.block_on(count_pods(&client));
    assert!(
        (before..=after).contains(of),
        "the server's count {of}, not between {before} and {after}:\n{screen}"
    );
    assert!(*n > 0 && n < of, "{n} of {of}:\n{screen}");
    assert!(
        pods_title(screen).contains(&format!(" {n}/{n} ")),
        "the title counts what is stored: {}",
        pods_title(screen)
    );
    // Rows on screen while the list runs (synthetic pods sort first: bench-00).
    assert!(
        screen.contains("bench-00"),
        "no rows while loading:\n{screen}"
    );
    assert!(
        seen.iter().any(|(_, _, _, s)| s.contains("loading pods ")),
        "the status line's progress"
    );
    // The progress only grows.
    let counts: Vec<usize> = seen.iter().map(|(_, n, _, _)| *n).collect();
    assert!(counts.is_sorted(), "{counts:?}");
    // Then every pod, and the progress gone from the status line too.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let total = rt.block_on(count_pods(&client));
        let s = c.screen();
        if pods_title(&s).contains(&format!(" {total}/{total} ")) {
            assert!(
                !s.contains("loading pods") && !pods_title(&s).contains("loading"),
                "{s}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never {total}/{total}; screen:\n{s}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // A table this large is filtered and sorted off the UI task; the answers land.
    // `-0043` names pods 4300..4399, one in each namespace bench-00..bench-99.
    c.send("/");
    c.send("-0043");
    c.send("\r");
    let s = c.wait("the filtered pods", Duration::from_secs(30), |s| {
        pods_title(s).contains(" 100/")
    });
    assert_eq!(
        first_row(&s).split_whitespace().next(),
        Some("bench-00"),
        "{s}"
    );
    c.send("O");
    // The selection follows its pod (bench-00, now last): the rows shown run down.
    let s = c.wait("namespaces sorted down", Duration::from_secs(30), |s| {
        let shown = namespaces_shown(s);
        shown.len() > 5 && shown.is_sorted_by(|a, b| a > b)
    });
    assert!(s.contains("NAMESPACE↓"), "{s}");
    assert!(pods_title(&s).contains(" 100/"), "{s}");
    // Esc on the filter: every pod again, still sorted.
    c.send("/");
    c.send("\x1b");
    let total = rt.block_on(count_pods(&client));
    c.wait("every pod, sorted", Duration::from_secs(30), |s| {
        pods_title(s).contains(&format!(" {total}/{total} ")) && !pods_title(s).contains('…')
    });
}

/// The NAMESPACE cells of the rows shown, top to bottom.
fn namespaces_shown(screen: &str) -> Vec<String> {
    screen
        .lines()
        .skip_while(|l| !l.contains("NAMESPACE"))
        .skip(1)
        .map(|l| l.trim_start_matches(['│', ' ']))
        .take_while(|l| l.starts_with("bench-"))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// The first row under the table's header (its text, borders trimmed).
fn first_row(screen: &str) -> String {
    let mut lines = screen.lines().skip_while(|l| !l.contains("NAMESPACE"));
    lines
        .nth(1)
        .unwrap_or_default()
        .trim_matches(|c: char| c == '│' || c.is_whitespace())
        .to_string()
}
