//! App dispatch without a cluster: keys and commands reach the right pane, a pane's
//! action reaches it, overlays open and close, and every pane draws.

use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tokio::sync::mpsc;

use super::*;

mod verbs;
use crate::model::columns::{Column, ColumnKind};
use crate::ui::panes::storage::StorageView;
use crate::ui::view::{ObjKind, TableRow, Tone};
use crate::views::tables::RowData;

fn options(read_only: bool) -> ConsoleOptions {
    ConsoleOptions {
        connect: ConnectOptions::default(),
        namespace: None,
        node: Some("node1".into()),
        read_only,
        theme: Theme::builtin("dark").unwrap_or_else(Theme::no_color),
        keymap: Keymap::default(),
        config_errors: Vec::new(),
        audit_log: std::env::temp_dir().join("kcops-app-tests-audit.log"),
        host_root: None,
        sandboxes_command: None,
        debug_pod: Default::default(),
        ceph: None,
    }
}

fn row(kind: ObjKind, namespace: &str, name: &str, cells: &[&str]) -> Arc<TableRow> {
    let key = ObjKey {
        kind,
        namespace: namespace.into(),
        name: name.into(),
    };
    let cells = cells.iter().map(|c| c.to_string()).collect();
    Arc::new(TableRow::new(cells, key, Tone::Normal, None))
}

/// Three nodes, pods in two namespaces, a StatefulSet and a Deployment.
fn view() -> Arc<ViewModel> {
    let nodes = TableModel {
        columns: vec![
            Column::new("NAME", ColumnKind::Name),
            Column::new("STATUS", ColumnKind::Status),
        ],
        rows: ["node1", "node2", "node3"]
            .into_iter()
            .map(|n| row(ObjKind::Node, "", n, &[n, "Ready"]))
            .collect(),
    };
    let pods = TableModel {
        columns: vec![
            Column::new("NAMESPACE", ColumnKind::Name),
            Column::new("NAME", ColumnKind::Name),
        ],
        rows: vec![
            row(ObjKind::Pod, "demo", "web-0", &["demo", "web-0"]),
            row(ObjKind::Pod, "demo", "web-1", &["demo", "web-1"]),
            row(ObjKind::Pod, "kube-system", "dns", &["kube-system", "dns"]),
        ]
        .into(),
    };
    let workloads = TableModel {
        columns: vec![
            Column::new("NAMESPACE", ColumnKind::Name),
            Column::new("KIND", ColumnKind::Text),
            Column::new("NAME", ColumnKind::Name),
            Column::new("DESIRED", ColumnKind::Count),
        ],
        rows: vec![
            row(
                ObjKind::StatefulSet,
                "demo",
                "web",
                &["demo", "sts", "web", "2"],
            ),
            // The dialog reads the typed count, not the cell: the cell says "3/3".
            Arc::new(
                (*row(
                    ObjKind::Deployment,
                    "demo",
                    "api",
                    &["demo", "deploy", "api", "3/3"],
                ))
                .clone()
                .with_data(RowData::Replicas(crate::model::rows::Replicas {
                    desired: 3,
                    ..Default::default()
                })),
            ),
        ]
        .into(),
    };
    Arc::new(ViewModel {
        nodes,
        pods,
        workloads,
        ..ViewModel::default()
    })
}

struct Console {
    app: App,
    _rx: mpsc::Receiver<UiMsg>,
}

impl Console {
    fn new() -> Self {
        Self::with(options(false))
    }

    fn with(opts: ConsoleOptions) -> Self {
        let (tx, rx) = mpsc::channel(16);
        let mut app = App::new(&opts, tx);
        app.set_view(view());
        Self { app, _rx: rx }
    }

    fn key(&mut self, code: KeyCode) -> &mut Self {
        self.app.on_key(KeyEvent::new(code, KeyModifiers::NONE));
        self
    }

    fn keys(&mut self, text: &str) -> &mut Self {
        for c in text.chars() {
            self.key(KeyCode::Char(c));
        }
        self
    }

    fn command(&mut self, text: &str) -> &mut Self {
        self.keys(":").keys(text).key(KeyCode::Enter)
    }

    fn selected(&self) -> Option<String> {
        self.app.selected().map(|k| k.name.to_string())
    }

    fn status(&self) -> Option<&str> {
        self.app.status.as_ref().map(|(_, s)| s.as_str())
    }

    fn storage_view(&self) -> Option<StorageView> {
        let pane = self.app.panes[PaneId::Storage.index()].as_ref();
        // The shown sub-view, told by the table it hands out.
        let (model, _) = pane.table(&self.app.view)?;
        let v = &self.app.view;
        [
            (StorageView::Pvc, &v.pvcs),
            (StorageView::Pv, &v.pvs),
            (StorageView::StorageClass, &v.storage_classes),
        ]
        .into_iter()
        .find(|(_, m)| std::ptr::eq(*m, model))
        .map(|(s, _)| s)
    }
}

#[test]
fn number_keys_and_tab_switch_panes() {
    let mut c = Console::new();
    assert_eq!(c.app.pane, PaneId::Overview);
    c.keys("3");
    assert_eq!(c.app.pane, PaneId::Pods);
    c.key(KeyCode::Tab);
    assert_eq!(c.app.pane, PaneId::Storage);
    c.keys("8").key(KeyCode::Tab);
    assert_eq!(c.app.pane, PaneId::Members);
    c.key(KeyCode::Tab);
    assert_eq!(c.app.pane, PaneId::Overview, "tab wraps around");
    c.key(KeyCode::BackTab);
    assert_eq!(c.app.pane, PaneId::Members, "backtab wraps around");
    c.keys("8").keys("9");
    assert_eq!(c.app.pane, PaneId::Members, "9 is the Members pane");
}

#[test]
fn commands_switch_panes_and_sub_views() {
    let mut c = Console::new();
    c.command("pv");
    assert_eq!(c.app.pane, PaneId::Storage);
    assert_eq!(c.storage_view(), Some(StorageView::Pv));
    c.command("nodes").command("storage");
    assert_eq!(c.storage_view(), Some(StorageView::Pv), ":storage keeps it");
    c.command("storageclasses");
    assert_eq!(c.storage_view(), Some(StorageView::StorageClass));
    c.command("o");
    assert_eq!(c.app.pane, PaneId::Overview);
    c.command("net");
    assert_eq!(c.app.pane, PaneId::Network);
    assert_eq!(c.status(), None);
}

/// Issue 15 #7: a filter typed on one pane, and a namespace given to one pane's
/// command, stay with that pane; the count's denominator is the namespace's rows.
#[test]
fn filters_and_namespaces_stay_with_their_pane() {
    let mut c = Console::new();
    c.keys("3/web-1").key(KeyCode::Enter);
    assert_eq!(c.selected().as_deref(), Some("web-1"));
    c.keys("2");
    assert_eq!(
        c.selected().as_deref(),
        Some("node1"),
        "nodes are not filtered"
    );
    c.keys("3");
    assert_eq!(
        c.selected().as_deref(),
        Some("web-1"),
        "the pods' filter stays"
    );
    c.keys("/").key(KeyCode::Esc);
    c.command("pods kube-system");
    assert_eq!(c.app.namespace(), Some("kube-system"));
    let count = |c: &Console| {
        let pane = c.app.panes[PaneId::Pods.index()].as_ref();
        pane.table(&c.app.view)
            .map(|(_, state)| (state.order.len(), state.in_namespace))
    };
    assert_eq!(count(&c), Some((1, 1)), "1/1 in kube-system, not 1/3");
    c.command("workloads");
    assert_eq!(
        c.app.namespace(),
        None,
        "the workloads keep every namespace"
    );
    c.command("pods");
    assert_eq!(c.app.namespace(), Some("kube-system"));
}

#[test]
fn a_namespace_argument_applies_only_to_namespaced_panes() {
    let mut c = Console::new();
    c.command("pods kube-system");
    assert_eq!(c.app.pane, PaneId::Pods);
    assert_eq!(c.app.namespace(), Some("kube-system"));
    assert_eq!(c.selected().as_deref(), Some("dns"), "the table follows");
    c.command("nodes demo");
    assert_eq!(c.app.namespace(), None, "ignored: the nodes are in none");
    c.command("pods -A");
    assert_eq!(c.app.namespace(), None);
    c.command("ns demo");
    assert_eq!(c.app.namespace(), Some("demo"));
    assert_eq!(c.app.pane, PaneId::Pods, ":ns stays on the pane");
    c.command("ns all");
    assert_eq!(c.app.namespace(), None);
    // Without a name: the namespace picker.
    c.command("ns");
    assert!(matches!(
        &c.app.overlay,
        Some(Overlay::Dialog(d)) if matches!(d.kind, DialogKind::Namespace { .. })
    ));
}

#[test]
fn workload_commands_pick_the_kind() {
    let mut c = Console::new();
    c.command("sts");
    assert_eq!(c.app.pane, PaneId::Workloads);
    assert_eq!(c.app.model().map(|m| m.rows.len()), Some(1));
    assert_eq!(c.selected().as_deref(), Some("web"));
    c.command("deploy");
    assert_eq!(c.selected().as_deref(), Some("api"));
    c.command("workloads");
    assert_eq!(c.app.model().map(|m| m.rows.len()), Some(2));
    // A new view is picked over again for the kind shown.
    c.command("sts");
    c.app.set_view(view());
    assert_eq!(c.app.model().map(|m| m.rows.len()), Some(1));
}

#[test]
fn an_unknown_command_says_what_there_is() {
    let mut c = Console::new();
    c.command("podz");
    let status = c.status().unwrap_or_default();
    assert!(
        status.starts_with("unknown command :podz (try :nodes"),
        "{status}"
    );
    assert_eq!(c.app.pane, PaneId::Overview);
    c.command("q");
    assert!(c.app.quit);
}

#[test]
fn moves_and_sorting_reach_the_pane_in_front() {
    let mut c = Console::new();
    c.keys("3");
    assert_eq!(c.selected().as_deref(), Some("web-0"));
    c.keys("j");
    assert_eq!(c.selected().as_deref(), Some("web-1"));
    c.key(KeyCode::End);
    assert_eq!(c.selected().as_deref(), Some("dns"));
    c.keys("g");
    assert_eq!(c.selected().as_deref(), Some("web-0"));
    // Sort by the first column, then reverse it: kube-system first.
    c.keys("oO");
    assert_eq!(c.selected().as_deref(), Some("web-0"), "selection follows");
    c.keys("g");
    assert_eq!(c.selected().as_deref(), Some("dns"));
    // Each pane keeps its own selection.
    c.keys("2j3");
    assert_eq!(c.selected().as_deref(), Some("dns"));
    c.keys("2");
    assert_eq!(c.selected().as_deref(), Some("node2"));
}

#[test]
fn the_filter_narrows_the_pane_in_front() {
    let mut c = Console::new();
    c.keys("3/dns").key(KeyCode::Enter);
    assert_eq!(c.selected().as_deref(), Some("dns"));
    c.keys("/").key(KeyCode::Esc);
    assert_eq!(
        c.selected().as_deref(),
        Some("dns"),
        "kept while still shown"
    );
    c.keys("g");
    assert_eq!(c.selected().as_deref(), Some("web-0"));
}

#[test]
fn help_and_the_command_list_open_and_close() {
    let mut c = Console::new();
    c.keys("?");
    assert!(matches!(c.app.overlay, Some(Overlay::Help(..))));
    c.keys("3");
    assert_eq!(c.app.pane, PaneId::Overview, "keys stay in the overlay");
    c.key(KeyCode::Esc);
    assert!(c.app.overlay.is_none());
    c.command("help");
    assert!(matches!(
        &c.app.overlay,
        Some(Overlay::Help(h, None)) if h.focus == crate::ui::help::Focus::Commands
    ));
    c.keys("?");
    assert!(c.app.overlay.is_none());
}

#[test]
fn actions_are_refused_read_only_and_offered_otherwise() {
    let mut ro = Console::with(options(true));
    ro.keys("2c");
    assert!(ro.app.overlay.is_none());
    assert!(ro.status().unwrap_or_default().contains("read-only"));
    let mut c = Console::new();
    c.keys("2c");
    assert!(matches!(
        &c.app.overlay,
        Some(Overlay::Dialog(d)) if matches!(d.kind, DialogKind::ConfirmPlan(_))
    ));
    c.key(KeyCode::Esc);
    // Scaling asks from the desired count in the row.
    c.command("deploy").keys("s");
    assert!(matches!(
        &c.app.overlay,
        Some(Overlay::Dialog(d)) if matches!(d.kind, DialogKind::ScaleInput { current: 3, .. })
    ));
}

#[test]
fn unlock_without_ceph_says_so_for_a_selected_pod_and_why_not_elsewhere() {
    let mut c = Console::new();
    c.keys("2u");
    assert!(
        matches!(&c.app.overlay, Some(Overlay::Dialog(_))),
        "u uncordons on nodes"
    );
    c.key(KeyCode::Esc).keys("3u");
    assert_eq!(c.status(), Some("not connected to the API server"));
    c.command("unlock");
    assert_eq!(c.status(), Some("not connected to the API server"));
    c.keys("1u");
    assert!(
        c.status()
            .unwrap_or_default()
            .starts_with("unlock: no pod stuck")
    );
}

#[test]
fn the_network_pane_pages_its_findings_and_moves_its_rows() {
    let mut c = Console::new();
    c.keys("7");
    assert_eq!(c.app.pane, PaneId::Network);
    // No network rows here: pages scroll and are taken by the pane all the same.
    c.key(KeyCode::PageDown).key(KeyCode::PageUp);
    assert_eq!(c.status(), None);
}

#[test]
fn refresh_on_the_ceph_pane_without_ceph_only_refreshes_the_table() {
    let mut c = Console::new();
    c.keys("8r");
    assert_eq!(c.status(), None);
}

#[test]
fn feed_messages_reach_the_open_view_only_for_its_id() {
    let mut c = Console::new();
    c.keys("3");
    c.app.overlay = Some(Overlay::Detail(Detail::new(
        DetailKind::Logs,
        ObjKey {
            kind: ObjKind::Pod,
            namespace: "demo".into(),
            name: "web-0".into(),
        },
        Vec::new(),
    )));
    c.app.log_id = 2;
    let lines = |id| {
        UiMsg::from(FeedMsg::Logs {
            id,
            lines: vec![format!("line of {id}")],
        })
    };
    c.app.on_msg(lines(1));
    c.app.on_msg(lines(2));
    let Some(Overlay::Detail(d)) = &c.app.overlay else {
        panic!("the log view closed");
    };
    assert_eq!(d.lines.len(), 1);
    assert_eq!(d.lines[0], "line of 2");
}

#[test]
fn every_pane_draws_with_and_without_overlays() {
    let mut c = Console::new();
    let mut terminal =
        Terminal::new(TestBackend::new(100, 30)).unwrap_or_else(|e| panic!("test terminal: {e}"));
    for n in 1..=8 {
        c.keys(&n.to_string());
        for overlay in ["", "?", ":help\n"] {
            for k in overlay.chars() {
                if k == '\n' {
                    c.key(KeyCode::Enter);
                } else {
                    c.keys(&k.to_string());
                }
            }
            terminal
                .draw(|f| c.app.draw(f))
                .unwrap_or_else(|e| panic!("draw: {e}"));
            let text: String = terminal
                .backend()
                .buffer()
                .content()
                .iter()
                .map(|cell| cell.symbol())
                .collect();
            let title = c.app.active().title();
            assert!(text.contains(&format!("{n}:{title}")), "tab of {title}");
            c.key(KeyCode::Esc);
        }
    }
}

/// The keymap's promise for the panes (the overlays' half is in `key_coverage`):
/// in both shipped keymaps, every action a key reaches on a pane is taken by the
/// pane or by what all panes share, so `?` lists no key that does nothing.
#[test]
fn every_key_bound_on_a_pane_does_something() {
    for name in crate::ui::keymap::BUILTIN_KEYMAPS {
        let keymap = Keymap::builtin(name).unwrap_or_default();
        for id in PaneId::EVERY {
            let contexts = Console::new().app.panes[id.index()].contexts();
            for action in Action::all() {
                if !contexts
                    .iter()
                    .any(|c| !keymap.keys_for(*c, action).is_empty())
                {
                    continue;
                }
                let mut c = Console::with(options(false));
                c.app.switch(id);
                let taken = c.app.offer_to_pane(action) || c.app.on_common_action(action);
                assert!(
                    taken,
                    "{name}: {action} is bound on {id:?} but does nothing"
                );
            }
        }
    }
    // The check can fail: a dialog's action means nothing on a pane.
    let mut c = Console::new();
    c.app.switch(PaneId::Pods);
    assert!(!c.app.offer_to_pane(Action::Confirm) && !c.app.on_common_action(Action::Confirm));
}

/// A config problem is not lost when the status line clears at the next key: it
/// and what the status line said since are in `:messages`, in full.
#[test]
fn config_problems_and_status_messages_stay_readable() {
    let mut opts = options(false);
    let long = format!(
        "theme.toml:3:1: roles.titel: unknown role \"titel\" {}",
        "x".repeat(200)
    );
    opts.config_errors = vec![long.clone()];
    let mut c = Console::with(opts);
    c.app.keep_status();
    assert!(
        c.status()
            .is_some_and(|s| s.contains("1 problem") && s.contains(":messages"))
    );
    c.keys("j");
    c.app.keep_status();
    c.keys("2");
    c.app.read_only = true;
    c.keys("c");
    c.app.keep_status();
    let refused = c.status().map(str::to_owned).unwrap_or_default();
    assert!(refused.contains("read-only"), "{refused}");
    c.command("messages");
    let Some(Overlay::Detail(d)) = &c.app.overlay else {
        panic!("no messages view");
    };
    let lines: Vec<&String> = d.lines.iter().collect();
    assert_eq!(lines[0], &format!("config: {long}"), "in full, first");
    assert!(lines.iter().any(|l| l.ends_with(&refused)), "{lines:?}");
    assert_eq!(d.title(), format!(" messages ({}) ", lines.len()));
}

#[test]
fn scale_opens_the_member_wizard_for_an_ensemble_and_the_plain_plan_otherwise() {
    let ensemble_view = |mut v: ViewModel| {
        v.snapshot = crate::members::fixtures::scaled_down();
        Arc::new(v)
    };
    let mut ro = Console::with(options(true));
    ro.app.set_view(ensemble_view((*view()).clone()));
    ro.command("scale default/etcd 2");
    assert!(ro.app.overlay.is_none());
    assert!(
        ro.status().unwrap_or_default().contains("read-only"),
        "{:?}",
        ro.status()
    );
    let mut c = Console::new();
    c.app.set_view(ensemble_view((*view()).clone()));
    // The ensemble was recognised and assessed: only the live read is missing here.
    c.command("scale default/etcd 2");
    assert_eq!(c.status(), Some("not connected to the API server"));
    c.command("scale default/etcd two");
    assert!(
        c.status()
            .unwrap_or_default()
            .contains("not a replica count")
    );
    c.command("scale default/nope 2");
    assert_eq!(
        c.status(),
        Some("scale: no StatefulSet or Deployment default/nope")
    );
    // The scale dialog's plan (`s`, then a number) takes the same turn for the
    // ensemble, and stays a plain plan for any other StatefulSet.
    c.app.status = None;
    c.app.start_plan(crate::ops::Plan::scale(
        crate::ops::ScaleKind::StatefulSet,
        "default",
        "etcd",
        2,
        3,
    ));
    assert_eq!(c.status(), Some("not connected to the API server"));
    assert!(c.app.overlay.is_none());
    c.app.start_plan(crate::ops::Plan::scale(
        crate::ops::ScaleKind::StatefulSet,
        "demo",
        "web",
        3,
        2,
    ));
    assert!(matches!(
        &c.app.overlay,
        Some(Overlay::Dialog(d)) if matches!(d.kind, DialogKind::ConfirmPlan(_))
    ));
}

/// Issue 15 #5: while a lab's story plays, an Overview without findings says so
/// instead of anything that reads as healthy; once it settled, the usual text.
#[test]
fn a_playing_lab_story_is_not_called_healthy() {
    let mut c = Console::new();
    let screen = |c: &mut Console| {
        let mut terminal = Terminal::new(TestBackend::new(100, 30))
            .unwrap_or_else(|e| panic!("test terminal: {e}"));
        terminal
            .draw(|f| c.app.draw(f))
            .unwrap_or_else(|e| panic!("draw: {e}"));
        terminal
            .backend()
            .buffer()
            .content()
            .iter()
            .map(|cell| cell.symbol())
            .collect::<String>()
    };
    c.app.on_msg(UiMsg::LabStory(Some(
        "The lab's story (demo) is still playing".into(),
    )));
    assert!(screen(&mut c).contains("is still playing"));
    c.app.on_msg(UiMsg::LabStory(None));
    assert!(!screen(&mut c).contains("is still playing"));
}

/// A large table's order is made off the UI task; its answer reaches the table that
/// asked even when the operator has moved to another pane meanwhile (it went to the
/// pane in front, which refused it, and the asking table said `sorting…` for good).
#[tokio::test]
async fn a_table_order_reaches_its_pane_after_a_pane_switch() {
    let (tx, mut rx) = mpsc::channel(16);
    let mut app = App::new(&options(false), tx);
    let base = view();
    let n = crate::ui::panes::table::ORDER_OFF_TASK_FROM + 10;
    let pods = TableModel {
        columns: base.pods.columns.clone(),
        rows: (0..n)
            .map(|i| {
                let name = format!("pod-{i:05}");
                row(ObjKind::Pod, "demo", &name, &["demo", &name])
            })
            .collect(),
    };
    app.set_view(Arc::new(ViewModel {
        pods,
        ..(*base).clone()
    }));
    let key =
        |app: &mut App, c: char| app.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    key(&mut app, '3');
    key(&mut app, 'o');
    assert!(
        app.front_table_ordering(),
        "a sort this large is made off the UI task"
    );
    app.start_table_jobs();
    key(&mut app, '2');
    app.on_msg(order_answer(&mut rx, "no answer from the order job").await);
    // Back on the Pods pane its order is asked for again, and made: a table whose
    // answer was lost waited for it for good and started no other.
    key(&mut app, '3');
    app.start_table_jobs();
    app.on_msg(order_answer(&mut rx, "the Pods table started no new order").await);
    assert!(!app.front_table_ordering(), "the Pods table has its order");
    assert_eq!(app.selected().map(|k| k.name).as_deref(), Some("pod-00000"));
}

/// The next message from an off-task order job, or a failure saying `missing`.
async fn order_answer(rx: &mut mpsc::Receiver<UiMsg>, missing: &str) -> UiMsg {
    tokio::time::timeout(std::time::Duration::from_secs(30), rx.recv())
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("{missing}"))
}
