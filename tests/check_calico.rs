//! `kcops check` on `calico-broken` (calico's default IPPool on a 10.244.0.0/16
//! cluster, today's components), with the host probes of the console node (master):
//! exactly
//! - calico-node on node2 running but never ready, `net.cni-not-ready`;
//! - the IPPool 192.168.0.0/16 outside kubeadm's podSubnet 10.244.0.0/16,
//!   `net.pod-cidr-mismatch`;
//! - node1 running pod-network pods without a block affinity,
//!   `net.calico-no-block-affinity`.
//!
//! The calico-node DaemonSet short of one ready pod is explained by the first, so no
//! `workload.unavailable` repeats it.
//!
//! The lab plays calico's CNI plugin from state: without `/var/lib/calico/nodename`
//! (which calico-node writes when it starts) a new pod on node1 cannot get a sandbox,
//! `net.calico-nodename-missing`, until calico-node there is restarted through kcops'
//! own plan.

mod common;

use std::time::Duration;

use kcops::check::{exit_code, render_text};
use kcops::diagnose::Severity;
use kcops::ops::wizard::restart_cni;
use kcops::ops::{AuditLog, ExecContext, Executor};

use common::snapshot::{SETTLED, wait_for_ids_on};
use common::{Lab, shared, wait_for};

fn lab() -> &'static Lab {
    shared("chkcalico", "calico-broken", &["--no-ceph"])
}

#[tokio::test]
async fn calico_broken_gives_its_network_findings() {
    let lab = lab();
    let client = lab.client().await;
    let master = lab.host_probe("master");
    // The real thresholds need 2 minutes of unreadiness.
    let (s, findings) = wait_for_ids_on(
        &client,
        Some(&master),
        &[
            "net.calico-no-block-affinity",
            "net.cni-not-ready",
            "net.pod-cidr-mismatch",
        ],
        SETTLED,
        Duration::from_secs(360),
    )
    .await;
    let text = render_text(&findings);
    eprintln!("{text}");
    assert_eq!(s.ip_pools.len(), 1, "{text}");
    assert_eq!(s.block_affinities.len(), 2, "{text}");
    assert_eq!(findings.len(), 3, "{text}");

    let agent = &findings[0];
    assert_eq!(agent.id, "net.cni-not-ready", "{text}");
    assert!(
        agent.object.starts_with("Pod kube-system/calico-node-"),
        "{text}"
    );
    assert_eq!(agent.node.as_deref(), Some("node2"));
    assert_eq!(agent.severity, Severity::Critical);
    assert!(
        agent.evidence[0].starts_with("Ready=False since "),
        "{text}"
    );
    assert!(
        agent
            .evidence
            .iter()
            .any(|e| e.starts_with("container calico-node: running since ")),
        "{text}"
    );
    assert!(agent.fix.contains("TCP 179"), "{text}");

    let pool = &findings[1];
    assert_eq!(
        (pool.id, pool.object.as_str()),
        ("net.pod-cidr-mismatch", "IPPool default-ipv4-ippool"),
        "{text}"
    );
    assert_eq!(
        pool.evidence,
        [
            "IPPool default-ipv4-ippool spec.cidr: 192.168.0.0/16",
            "ConfigMap kube-system/kubeadm-config ClusterConfiguration networking.podSubnet: 10.244.0.0/16",
        ],
        "{text}"
    );

    let block = &findings[2];
    assert_eq!(
        (block.id, block.object.as_str()),
        ("net.calico-no-block-affinity", "Node node1"),
        "{text}"
    );
    assert_eq!(block.severity, Severity::Warning);
    assert_eq!(
        block.evidence[0],
        "no BlockAffinity names node1 (held: master 192.168.219.64/26, node2 192.168.104.0/26)",
        "{text}"
    );
    assert_eq!(block.evidence.len(), 3, "{text}");
    assert!(
        block.evidence[1..]
            .iter()
            .all(|e| e.starts_with("Pod demo/web-") && e.contains(" on node1 has IP ")),
        "{text}"
    );
    assert_eq!(exit_code(&findings, None), 2);

    // The console node's host section: calico's config and tunnel, nothing wrong.
    let report = s.host.as_deref().expect("host report");
    let cni = report.active_cni_config().expect("calico's CNI config");
    assert_eq!(cni.name.as_deref(), Some("k8s-pod-network"));
    assert_eq!(cni.ipam_type.as_deref(), Some("calico-ipam"));
    let tunl0 = report.link("tunl0").expect("tunl0");
    assert_eq!(tunl0.addresses[0].to_string(), "192.168.219.64/32");

    nodename_missing_until_calico_node_runs(lab, &client).await;
}

/// node1 loses `/var/lib/calico/nodename` and a web pod there is replaced: the new pod
/// gets no sandbox until calico-node on node1 is restarted and writes the file again.
async fn nodename_missing_until_calico_node_runs(lab: &Lab, client: &kube::Client) {
    const BASE: [&str; 3] = [
        "net.calico-no-block-affinity",
        "net.cni-not-ready",
        "net.pod-cidr-mismatch",
    ];
    let nodename = lab.host_root("node1").join("var/lib/calico/nodename");
    assert_eq!(
        std::fs::read_to_string(&nodename).ok().as_deref(),
        Some("node1"),
        "calico-node on node1 wrote its name"
    );
    std::fs::remove_file(&nodename).expect("remove nodename");
    let web = lab.kubectl_ok(&[
        "-n",
        "demo",
        "get",
        "pods",
        "-o",
        "jsonpath={.items[0].metadata.name}",
    ]);
    lab.kubectl_ok(&["-n", "demo", "delete", "pod", &web, "--wait=false"]);
    let master = lab.host_probe("master");
    let mut want = BASE.to_vec();
    want.push("net.calico-nodename-missing");
    let (s, findings) = wait_for_ids_on(
        client,
        Some(&master),
        &want,
        Duration::from_secs(3),
        Duration::from_secs(90),
    )
    .await;
    let missing = findings
        .iter()
        .find(|f| f.id == "net.calico-nodename-missing")
        .expect("nodename finding");
    assert_eq!(missing.object, "Node node1", "{}", render_text(&findings));

    // calico-node restarted on node1 through the Network pane's plan.
    let wizard = restart_cni::assess(&restart_cni::gather(&s, Some("node1")))
        .unwrap_or_else(|e| panic!("no restart wizard: {e}"));
    let plan = wizard.plan().expect("a restart plan");
    let kcops::ops::Confirmation::TypedName(agent) = plan.confirmation.clone() else {
        panic!("{:?}", plan.confirmation);
    };
    let executor = Executor::new(
        client.clone(),
        false,
        AuditLog::new(lab.runtime_dir.join("audit-calico.log")),
        ExecContext::new("kubernetes-admin", "lab"),
    );
    let (tx, _rx) = tokio::sync::mpsc::channel(64);
    executor
        .run(&plan, &agent, tx)
        .await
        .unwrap_or_else(|e| panic!("restart calico-node: {e}"));
    wait_for("node1's nodename", Duration::from_secs(10), || {
        nodename.exists().then_some(())
    });
    wait_for_ids_on(
        client,
        Some(&master),
        &BASE,
        Duration::from_secs(3),
        Duration::from_secs(90),
    )
    .await;
}
