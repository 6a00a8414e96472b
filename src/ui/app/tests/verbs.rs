//! The k9s verbs without a cluster: drill-down and back with its breadcrumb, a
//! shell on Pods and scale on Workloads under one key.

use super::*;
use crate::model::pod::Pod;

fn pod(ns: &str, name: &str, node: &str, sts: &str) -> Arc<Pod> {
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"namespace": ns, "name": name, "ownerReferences": if sts.is_empty() {
            serde_json::json!([])
        } else {
            serde_json::json!([{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": sts,
                "uid": "u", "controller": true}])
        }},
        "spec": {"nodeName": node, "containers": [{"name": "app"}, {"name": "sidecar"}]},
    }))
    .unwrap_or_default();
    Arc::new(pod)
}

/// The fixture view with the pods behind its pod rows.
fn console() -> Console {
    let mut c = Console::new();
    let mut v = (*view()).clone();
    v.snapshot.pods = vec![
        pod("demo", "web-0", "node1", "web"),
        pod("demo", "web-1", "node2", "web"),
        pod("kube-system", "dns", "node1", ""),
    ]
    .into();
    c.app.set_view(Arc::new(v));
    c
}

fn shown(c: &Console) -> Vec<String> {
    let Some((model, state)) = c.app.active().table(&c.app.view) else {
        return Vec::new();
    };
    state
        .order
        .iter()
        .map(|i| model.rows.at(*i).name().to_string())
        .collect()
}

fn screen(c: &mut Console) -> String {
    let mut terminal =
        Terminal::new(TestBackend::new(80, 24)).unwrap_or_else(|e| panic!("test terminal: {e}"));
    terminal
        .draw(|f| c.app.draw(f))
        .unwrap_or_else(|e| panic!("draw: {e}"));
    let buffer = terminal.backend().buffer();
    (0..buffer.area.height)
        .map(|y| {
            (0..buffer.area.width)
                .map(|x| buffer[(x, y)].symbol())
                .collect::<String>()
                + "\n"
        })
        .collect()
}

#[test]
fn enter_drills_into_a_nodes_and_a_workloads_pods_and_esc_comes_back() {
    let mut c = console();
    c.keys("2j");
    assert_eq!(c.selected().as_deref(), Some("node2"));
    c.key(KeyCode::Enter);
    assert_eq!(c.app.pane, PaneId::Pods);
    assert_eq!(shown(&c), ["web-1"]);
    assert!(screen(&mut c).contains("Nodes › node2 › Pods [all]"));
    c.key(KeyCode::Esc);
    assert_eq!(c.app.pane, PaneId::Nodes);
    assert_eq!(
        c.selected().as_deref(),
        Some("node2"),
        "the selection stays"
    );
    // Back on the full pod list: nothing narrowed behind the operator's back.
    c.keys("3");
    assert_eq!(shown(&c), ["web-0", "web-1", "dns"]);
    assert!(!screen(&mut c).contains('›'));
    c.command("sts").key(KeyCode::Enter);
    assert_eq!(shown(&c), ["web-0", "web-1"]);
    let s = screen(&mut c);
    assert!(s.contains("Workloads › sts demo/web › Pods"), "{s}");
    // Enter on a pod describes it; Esc closes that first, then goes back.
    c.key(KeyCode::Enter);
    assert!(matches!(&c.app.overlay, Some(Overlay::Detail(d)) if d.kind == DetailKind::Describe));
    c.key(KeyCode::Esc).key(KeyCode::Esc);
    assert_eq!(c.app.pane, PaneId::Workloads);
    c.key(KeyCode::Esc);
    assert!(
        c.status()
            .unwrap_or_default()
            .contains("nothing to go back to")
    );
}

#[test]
fn a_number_key_leaves_the_drill_down() {
    let mut c = console();
    c.keys("2").key(KeyCode::Enter);
    assert_eq!(shown(&c), ["web-0", "dns"]);
    c.keys("1").keys("3");
    assert_eq!(shown(&c), ["web-0", "web-1", "dns"]);
    c.key(KeyCode::Esc);
    assert_eq!(c.app.pane, PaneId::Pods, "no way back once left");
}

#[test]
fn s_is_a_shell_on_pods_and_scale_on_workloads() {
    let mut c = console();
    c.keys("3s");
    let Some(job) = c.app.suspend.take() else {
        panic!("no shell: {:?}", c.status());
    };
    assert_eq!(job.program, "kubectl");
    assert_eq!(
        job.args,
        [
            "exec", "-it", "-n", "demo", "web-0", "-c", "app", "--", "sh"
        ]
    );
    c.command("deploy").keys("s");
    assert!(matches!(
        &c.app.overlay,
        Some(Overlay::Dialog(d)) if matches!(d.kind, DialogKind::ScaleInput { .. })
    ));
    assert!(c.app.suspend.is_none());
    let mut ro = Console::with(options(true));
    ro.keys("3s");
    assert!(ro.app.suspend.is_none());
    assert!(ro.status().unwrap_or_default().contains("read-only"));
}

#[test]
fn edit_is_refused_read_only_and_needs_an_editable_object() {
    let mut ro = Console::with(options(true));
    ro.keys("2e");
    assert!(ro.status().unwrap_or_default().contains("read-only"));
    let mut c = console();
    c.keys("2e");
    assert!(
        c.status().unwrap_or_default().contains("not connected"),
        "{:?}",
        c.status()
    );
}
