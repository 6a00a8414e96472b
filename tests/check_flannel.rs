//! `kcops check` on `flannel-broken` (seed 000): flannel crash-looping on node2, and
//! pods that cannot get a sandbox on node1 (IPAM exhausted) and node2 (no
//! subnet.env): one `pod.sandbox-failed` per node. The network-specific findings
//! (kube-proxy clusterCIDR, leaked IPAM reservations) belong to the network checks.

mod common;

use std::time::Duration;

use kcops::check::{exit_code, render_text};
use kcops::diagnose::Severity;

use common::snapshot::{SETTLED, wait_for_ids};
use common::{Lab, shared};

fn lab() -> &'static Lab {
    shared("chkflannel", "flannel-broken", &["--no-ceph"])
}

#[tokio::test]
async fn flannel_broken_gives_crashloop_and_sandbox_failures() {
    let lab = lab();
    let client = lab.client().await;
    let (_, findings) = wait_for_ids(
        &client,
        &["pod.crashloop", "pod.sandbox-failed"],
        SETTLED,
        Duration::from_secs(300),
    )
    .await;
    let text = render_text(&findings);
    eprintln!("{text}");
    let objects: Vec<(&str, &str)> = findings.iter().map(|f| (f.id, f.object.as_str())).collect();
    assert_eq!(objects.len(), 3, "{text}");

    let crash = &findings[0];
    assert_eq!(crash.id, "pod.crashloop", "{text}");
    assert!(
        crash
            .object
            .starts_with("Pod kube-flannel/kube-flannel-ds-"),
        "{text}"
    );
    assert_eq!(crash.node.as_deref(), Some("node2"));
    assert_eq!(crash.severity, Severity::Critical);
    assert!(
        crash
            .evidence
            .iter()
            .any(|e| e
                .starts_with("container kube-flannel: last terminated with exit code 1 (Error)")),
        "{text}"
    );

    assert_eq!(
        objects[1..],
        [
            ("pod.sandbox-failed", "Node node1"),
            ("pod.sandbox-failed", "Node node2")
        ],
        "{text}"
    );
    let node1 = &findings[1];
    assert!(
        node1.evidence[0].ends_with("network: no IP addresses available in network: cbr0"),
        "{text}"
    );
    assert!(
        node1.explanation.contains("host-local IPAM range"),
        "{text}"
    );
    let node2 = &findings[2];
    assert!(
        node2
            .evidence
            .iter()
            .all(|e| e.ends_with("open /run/flannel/subnet.env: no such file or directory")),
        "{text}"
    );
    assert!(
        node2.explanation.contains(&format!(
            "({}) is crash-looping",
            crash.object.trim_start_matches("Pod ")
        )),
        "{text}"
    );
    assert_eq!(exit_code(&findings, None), 2);
}
