//! `kcops check` on `flannel-broken` (a kubeadm cluster whose flannel pod network is
//! broken), as the console sees it from node1 (its host root) and from master: exactly
//! the scenario's network findings —
//! - flannel crash-looping on node2 with its reason (it cannot reach the API service
//!   10.96.0.1:443), `net.cni-crashloop`;
//! - kube-proxy without clusterCIDR, `net.kube-proxy-cluster-cidr`;
//! - subnet.env missing on node2 (from its pods' sandbox events),
//!   `net.subnet-env-missing`;
//! - node1's cbr0 range exhausted, `net.ipam-exhausted`, with the leaked reservations
//!   listed when the host probed is node1's.
//!
//! No `pod.*` finding repeats them: the network checks own these causes.
//!
//! Then the guided action on node1: releasing the leaked reservations removes exactly
//! the leaked files — never a live sandbox's, also not one whose sandbox became live
//! between the plan and its execution — audited, and refused under `--read-only`.
//! The lab plays the network from state, so that fix alone lets node1's pods start
//! (addresses from node1's podCIDR) while node2 stays broken; and a pod force-deleted
//! while node1 is down leaves its reservation behind, reported as a leak.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use kcops::check::{exit_code, render_text};
use kcops::diagnose::Severity;
use kcops::ops::{AuditLog, ExecContext, Executor, OpsError, Plan};

use common::snapshot::{SETTLED, wait_for_ids_on};
use common::{Lab, shared, wait_for};

fn lab() -> &'static Lab {
    shared("chkflannel", "flannel-broken", &["--no-ceph"])
}

const IDS: [&str; 4] = [
    "net.cni-crashloop",
    "net.ipam-exhausted",
    "net.kube-proxy-cluster-cidr",
    "net.subnet-env-missing",
];

/// node1's live sandboxes in the scenario (coredns and the first my-nginx).
const LIVE: [&str; 2] = [
    "7c166dd7ae0cece3c7a15ad63a4ea381553e3a11e31f1bb0262d693a94f39541",
    "d869308b07ac2472e0aa77536a6679faaa30f8e7a747d27491668a7d6660f568",
];

#[tokio::test]
async fn flannel_broken_gives_its_network_findings() {
    let lab = lab();
    let client = lab.client().await;
    let node1 = lab.host_probe("node1");
    let (_, findings) = wait_for_ids_on(
        &client,
        Some(&node1),
        &IDS,
        SETTLED,
        Duration::from_secs(300),
    )
    .await;
    let text = render_text(&findings);
    eprintln!("{text}");
    let objects: Vec<(&str, &str)> = findings.iter().map(|f| (f.id, f.object.as_str())).collect();
    assert_eq!(objects.len(), 4, "{text}");
    assert_eq!(
        objects[1..],
        [
            ("net.ipam-exhausted", "Node node1"),
            (
                "net.kube-proxy-cluster-cidr",
                "ConfigMap kube-system/kube-proxy"
            ),
            ("net.subnet-env-missing", "Node node2"),
        ],
        "{text}"
    );
    assert!(
        findings.iter().all(|f| f.severity == Severity::Critical),
        "{text}"
    );

    let crash = &findings[0];
    assert_eq!(crash.id, "net.cni-crashloop", "{text}");
    let crash_pod = crash
        .object
        .strip_prefix("Pod kube-flannel/kube-flannel-ds-")
        .map(|suffix| format!("kube-flannel/kube-flannel-ds-{suffix}"))
        .unwrap_or_else(|| panic!("not a flannel pod: {text}"));
    assert_eq!(crash.node.as_deref(), Some("node2"));
    assert!(
        crash
            .evidence
            .iter()
            .any(|e| e
                .starts_with("container kube-flannel: last terminated with exit code 1 (Error)")),
        "{text}"
    );
    // The termination message (FallbackToLogsOnError) and the reason read from it.
    assert!(
        crash
            .evidence
            .iter()
            .any(|e| e.starts_with("container kube-flannel: E")
                && e.ends_with("dial tcp 10.96.0.1:443: i/o timeout")),
        "{text}"
    );
    assert_eq!(
        crash.evidence.last().map(String::as_str),
        Some("reason: API service unreachable: it cannot reach 10.96.0.1:443 (i/o timeout)"),
        "{text}"
    );

    let ipam = &findings[1];
    let pods: Vec<&String> = ipam
        .evidence
        .iter()
        .filter(|e| e.starts_with("Pod "))
        .collect();
    assert!(!pods.is_empty(), "{text}");
    assert!(
        pods.iter()
            .all(|e| e.ends_with("network: no IP addresses available in network: cbr0")),
        "{text}"
    );
    assert!(
        ipam.evidence.contains(&"host node1: host-local network cbr0: 253 of 253 addresses reserved (range 10.244.1.0/24 from 10-flannel.conflist via subnet.env)".to_string()),
        "{text}"
    );
    assert!(
        ipam.evidence.iter().any(|e| e.starts_with(
            "host node1: 251 of them name sandboxes the runtime no longer has (4 live sandboxes from command `cat "
        )),
        "{text}"
    );
    let leaked: Vec<&String> = ipam
        .evidence
        .iter()
        .filter(|e| e.starts_with("leaked: "))
        .collect();
    assert_eq!(leaked.len(), 8, "{text}");
    assert_eq!(
        leaked[0].split(" (sandbox").next(),
        Some("leaked: /var/lib/cni/networks/cbr0/10.244.1.4"),
        "{text}"
    );
    for live in LIVE {
        assert!(
            !ipam.evidence.iter().any(|e| e.contains(&live[..12])),
            "live sandbox {live} listed as leaked: {text}"
        );
    }
    assert_eq!(
        ipam.evidence.last().map(String::as_str),
        Some("... and 243 more leaked reservations"),
        "{text}"
    );
    assert!(ipam.fix.contains("/var/lib/cni/networks/cbr0/"), "{text}");

    let proxy = &findings[2];
    assert_eq!(
        proxy.evidence,
        [
            "ConfigMap kube-system/kube-proxy config.conf clusterCIDR: \"\"".to_string(),
            "ConfigMap kube-system/kubeadm-config ClusterConfiguration networking.podSubnet: 10.244.0.0/16".to_string(),
            format!("Pod {crash_pod} on node2: it cannot reach 10.96.0.1:443 (i/o timeout)"),
        ],
        "{text}"
    );
    assert!(proxy.fix.contains("clusterCIDR: 10.244.0.0/16"), "{text}");

    let subnet = &findings[3];
    assert!(!subnet.evidence.is_empty(), "{text}");
    assert!(
        subnet
            .evidence
            .iter()
            .all(|e| e.ends_with("open /run/flannel/subnet.env: no such file or directory")),
        "{text}"
    );
    assert!(
        subnet.explanation.contains(&format!(
            "({crash_pod}) is crash-looping (net.cni-crashloop)"
        )),
        "{text}"
    );
    assert_eq!(exit_code(&findings, None), 2);

    // From master (the console node, whose host is healthy): the same ids; node1's
    // exhaustion rests on its events only.
    let (_, findings) = wait_for_ids_on(
        &client,
        Some(&lab.host_probe("master")),
        &IDS,
        Duration::from_secs(3),
        Duration::from_secs(60),
    )
    .await;
    let ipam = &findings[1];
    assert!(
        ipam.evidence.iter().all(|e| e.starts_with("Pod ")),
        "{}",
        render_text(&findings)
    );

    release_leaked_reservations(lab, &client).await;

    // That fix alone heals node1, not node2: node1's pod-network pods get addresses
    // from its podCIDR and run, while node2's agent and pods stay broken.
    wait_for_ids_on(
        &client,
        Some(&node1),
        &[
            "net.cni-crashloop",
            "net.kube-proxy-cluster-cidr",
            "net.subnet-env-missing",
        ],
        Duration::from_secs(3),
        Duration::from_secs(120),
    )
    .await;
    let pods = pod_network_pods(lab);
    let on = |node: &str| -> Vec<&(String, String, String, String)> {
        pods.iter().filter(|p| p.1 == node).collect()
    };
    assert!(!on("node1").is_empty(), "{pods:?}");
    for (name, _, phase, ip) in on("node1") {
        assert_eq!(phase, "Running", "{name}: {pods:?}");
        assert!(ip.starts_with("10.244.1."), "{name} has {ip}: {pods:?}");
    }
    assert!(!on("node2").is_empty(), "{pods:?}");
    for (name, _, phase, ip) in on("node2") {
        assert_eq!((phase.as_str(), ip.as_str()), ("Pending", ""), "{name}");
    }

    // A pod force-deleted while its node is down never gets its sandbox torn down:
    // when node1 is back, its reservation is a leak `kcops check` reports.
    let (victim, _, _, victim_ip) = on("node1")[0].clone();
    let (ns, name) = victim.split_once('/').expect("namespace/name");
    let out = lab.kcops_lab(&["stop", "node", "node1"]);
    assert!(out.status.success(), "{out:?}");
    std::thread::sleep(Duration::from_secs(1));
    lab.kubectl_ok(&[
        "-n",
        ns,
        "delete",
        "pod",
        name,
        "--force",
        "--grace-period=0",
    ]);
    let out = lab.kcops_lab(&["start", "node", "node1"]);
    assert!(out.status.success(), "{out:?}");
    let (_, findings) = wait_for_ids_on(
        &client,
        Some(&node1),
        &[
            "net.cni-crashloop",
            "net.kube-proxy-cluster-cidr",
            "net.leaked-reservations",
            "net.subnet-env-missing",
        ],
        Duration::from_secs(3),
        Duration::from_secs(120),
    )
    .await;
    let leak = findings
        .iter()
        .find(|f| f.id == "net.leaked-reservations")
        .expect("the leak finding");
    let line = format!("leaked: /var/lib/cni/networks/cbr0/{victim_ip} (sandbox");
    assert!(
        leak.evidence.iter().any(|e| e.starts_with(&line)),
        "{victim} held {victim_ip}: {}",
        render_text(&findings)
    );
}

/// `(namespace/name, node, phase, podIP)` of every pod not on the host network.
fn pod_network_pods(lab: &Lab) -> Vec<(String, String, String, String)> {
    let out = lab.kubectl_ok(&[
        "get",
        "pods",
        "-A",
        "-o",
        "jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name} {.spec.nodeName} {.spec.hostNetwork} {.status.phase} {.status.podIP}{\"\\n\"}{end}",
    ]);
    out.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f.len() == 5 && f[2] != "true").then(|| {
                (
                    f[0].to_string(),
                    f[1].to_string(),
                    f[3].to_string(),
                    f[4].to_string(),
                )
            })
        })
        .collect()
}

/// `:release-ips` on node1, as the console builds and runs it.
async fn release_leaked_reservations(lab: &Lab, client: &kube::Client) {
    let root = lab.host_root("node1");
    let report = lab.host_probe("node1").run();
    let cbr0 = report
        .ipam
        .found()
        .and_then(|nets| nets.iter().find(|n| n.name == "cbr0"))
        .expect("cbr0 on node1");
    let leaked: Vec<(String, String)> = report
        .leaked(cbr0)
        .expect("the live sandboxes are known")
        .iter()
        .map(|r| (r.ip.to_string(), r.sandbox.clone()))
        .collect();
    assert_eq!(leaked.len(), 251);
    assert!(leaked.iter().all(|(_, id)| !LIVE.contains(&id.as_str())));
    let via = kcops::ops::HostAccess::Local {
        host_root: root.clone(),
        sandboxes_command: Some(lab.sandboxes_command("node1")),
    };
    let plan = Plan::release_leaked("node1", via, "cbr0", leaked.clone());
    let audit = AuditLog::new(lab.runtime_dir.join("release-audit.log"));
    let context = ExecContext::new("kubernetes-admin", "lab");

    // The dry run lists it first and changes nothing.
    let executor = Executor::new(client.clone(), false, audit.clone(), context.clone());
    let preview = executor.dry_run(&plan).expect("dry run");
    assert!(
        preview.iter().any(|l| l.contains(
            "[destructive] Release 251 leaked host-local reservations of network cbr0 on node1"
        ) && l.contains(": 10.244.1.4, 10.244.1.5, ")),
        "{preview:?}"
    );
    assert!(
        preview.contains(&"Confirmation: type \"cbr0\"".to_string()),
        "{preview:?}"
    );
    let dir = root.join("var/lib/cni/networks/cbr0");
    let files = || -> BTreeSet<String> {
        std::fs::read_dir(&dir)
            .expect("cbr0 directory")
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    };
    assert_eq!(files().len(), 253 + 2);

    // Read-only: refused, nothing deleted.
    let read_only = Executor::new(client.clone(), true, audit.clone(), context.clone());
    let (tx, _rx) = tokio::sync::mpsc::channel(256);
    let refused = read_only.run(&plan, "cbr0", tx).await;
    assert!(
        matches!(refused, Err(OpsError::ReadOnly { .. })),
        "{refused:?}"
    );
    assert_eq!(files().len(), 253 + 2);

    // Between the plan and its execution, one leaked sandbox comes back to life.
    let (revived_ip, revived_id) = leaked[7].clone();
    let sandboxes = root.join("var/lib/kcops-lab/sandboxes");
    let mut list = std::fs::read_to_string(&sandboxes).expect("sandbox list");
    list.push_str(&format!("{revived_id}\n"));
    std::fs::write(&sandboxes, list).expect("sandbox list");

    let (tx, _rx) = tokio::sync::mpsc::channel(256);
    let outcome = executor.run(&plan, "cbr0", tx).await.expect("release");
    assert_eq!(
        outcome.steps[0].result,
        format!("released 250 of 251; kept {revived_ip} (its sandbox is live now)")
    );
    let want: BTreeSet<String> = [
        "10.244.1.2",
        "10.244.1.3",
        revived_ip.as_str(),
        "last_reserved_ip.0",
        "lock",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    // The freed range is live again: node1's waiting pods may already hold addresses
    // in it, each named after a sandbox the lab kubelet has just set up.
    let leaked_ids: BTreeSet<&str> = leaked.iter().map(|(_, id)| id.as_str()).collect();
    let (kept, taken): (BTreeSet<String>, BTreeSet<String>) =
        files().into_iter().partition(|f| want.contains(f));
    assert_eq!(kept, want);
    for ip in &taken {
        let holder = std::fs::read_to_string(dir.join(ip)).unwrap_or_default();
        let id = holder.lines().next().unwrap_or_default().trim().to_string();
        assert!(
            !leaked_ids.contains(id.as_str()),
            "{ip} is held by leaked {id}"
        );
        // The kubelet lists the sandbox right after host-local reserved its address.
        wait_for(
            &format!("sandbox {id} of {ip} to be live"),
            Duration::from_secs(5),
            || {
                let live = std::fs::read_to_string(&sandboxes).unwrap_or_default();
                live.lines().any(|l| l == id).then_some(())
            },
        );
    }
    let entries = common::journal::outcomes(&audit.read_entries().expect("audit log"));
    let lines: Vec<(&str, &str, bool, &str)> = entries
        .iter()
        .map(|e| {
            (
                e.action.as_str(),
                e.object.as_str(),
                e.dry_run,
                e.result.as_str(),
            )
        })
        .collect();
    let object = "HostLocalNetwork node1/cbr0";
    assert_eq!(
        lines,
        [
            ("release-ip-reservations", object, true, "ok"),
            (
                "release-ip-reservations",
                object,
                false,
                "refused: kcops is in read-only mode (--read-only)"
            ),
            ("release-ip-reservations", object, false, "ok"),
        ],
        "{entries:?}"
    );
}

/// Defect 4 at 80x24: the flannel pod's crash log line is longer than the screen and
/// its point is at its end; logs wrap by default so it reads to "i/o timeout", and
/// with wrapping off (`w`) the right arrow scrolls to that end.
#[test]
fn the_flannel_log_line_is_readable_to_its_end_at_80x24() {
    use common::pty::{Console, Options};
    let lab = lab();
    // node2's agent stays broken whatever the other test fixes on node1.
    let pod = wait_for("node2's flannel pod", Duration::from_secs(120), || {
        pod_network_or_host_pods(lab)
            .into_iter()
            .find(|(name, node)| name.contains("kube-flannel-ds") && node == "node2")
            .map(|(name, _)| name)
    });
    let name = pod
        .split_once('/')
        .map_or(pod.as_str(), |(_, n)| n)
        .to_string();
    let mut c = Console::start(
        lab,
        Options {
            rows: 24,
            cols: 80,
            ..Options::default()
        },
    );
    let t = Duration::from_secs(60);
    c.send("3");
    c.wait_text("NAMESPACE", t);
    c.send(&format!("/{name}\r"));
    c.wait("the flannel pod's row", t, |s| {
        s.lines().filter(|l| l.contains(&name)).count() == 1
    });
    c.send("l");
    let end = "dial tcp 10.96.0.1:443: i/o timeout";
    let squash = |s: &str| -> String {
        s.chars()
            .filter(|c| !c.is_whitespace() && !matches!(c, '│' | '─'))
            .collect()
    };
    let s = c.wait("the log line wrapped to its end", t, |s| {
        squash(s).contains(&squash(end))
    });
    assert!(s.contains("Failed to create SubnetManager"), "{s}");
    // Not wrapped: cut at the edge, and the arrows scroll it sideways to its end.
    c.send("w");
    c.wait("the line cut at the edge", t, |s| {
        !squash(s).contains(&squash(end))
    });
    // Eight columns a press: some thirty to the end of a 250-column line.
    for _ in 0..60 {
        if c.screen().contains(end) {
            break;
        }
        c.send("\x1b[C");
    }
    let s = c.wait_text(end, t);
    assert!(s.contains("i/o timeout"), "{s}");
}

/// `(namespace/name, node)` of every pod.
fn pod_network_or_host_pods(lab: &Lab) -> Vec<(String, String)> {
    let out = lab.kubectl_ok(&[
        "get",
        "pods",
        "-A",
        "-o",
        "jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name} {.spec.nodeName}{\"\\n\"}{end}",
    ]);
    out.lines()
        .filter_map(|l| {
            let (pod, node) = l.split_once(' ')?;
            Some((pod.to_string(), node.to_string()))
        })
        .collect()
}
