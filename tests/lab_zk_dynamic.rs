//! `zk-dynamic`: a ZooKeeper 3.5+ ensemble configured for online membership changes
//! (`reconfigEnabled=true`, `standaloneEnabled=false`, a dynamic config file) forms
//! from its template's own script: one leader, two followers, and every server's
//! `conf` reports the same three participants and config version (read over TCP from
//! the console node's namespace); `kcops check` finds nothing to say about it. Then
//! the scaling wizard in the real console takes it 3 -> 5 -> 3 online (`reconfig`)
//! while a client connected to a server that stays writes a znode every 200 ms: the
//! config version moves with each change, every server agrees on the membership, no
//! server restarts, every acknowledged write is readable afterwards and no gap
//! between acknowledged writes exceeds 2 s. One lab, one test, in that order.

mod common;

use std::time::{Duration, Instant};

use serde_json::Value;

use common::pty::{Console, Options, run_scale};
use common::zk_writer::{Writer, stored};
use common::{Lab, kcops_command, shared, wait_for};

fn lab() -> &'static Lab {
    shared("zkdyn", "zk-dynamic", &["--no-ceph"])
}

/// The membership lines and `version=` of a `conf` answer.
fn membership(conf: &str) -> Vec<String> {
    conf.lines()
        .filter(|l| l.starts_with("server.") || l.starts_with("version="))
        .map(str::to_string)
        .collect()
}

#[test]
fn a_dynamic_ensemble_forms_with_one_config_version() {
    let lab = lab();
    let ips: Vec<String> = (0..3)
        .map(|i| {
            wait_for(&format!("zkd-{i} running"), Duration::from_secs(90), || {
                lab.running_pod_ip(&format!("zkd-{i}"))
            })
        })
        .collect();
    wait_for("an elected ensemble", Duration::from_secs(90), || {
        let mut modes: Vec<String> = ips
            .iter()
            .map(|ip| {
                lab.four_letter_word(ip, "srvr")
                    .lines()
                    .find_map(|l| l.strip_prefix("Mode: "))
                    .map(|m| m.trim().to_string())
            })
            .collect::<Option<_>>()?;
        modes.sort();
        (modes == ["follower", "follower", "leader"]).then_some(())
    });
    let want: Vec<String> = (1..=3)
        .map(|i| {
            format!(
                "server.{i}=zkd-{}.zkd-hs.default.svc.cluster.local:2888:3888:participant;0.0.0.0:2181",
                i - 1
            )
        })
        .chain(["version=100000000".to_string()])
        .collect();
    for ip in &ips {
        let conf = lab.four_letter_word(ip, "conf");
        assert_eq!(membership(&conf), want, "{ip}: {conf}");
    }
    // ZooKeeper keeps the versioned dynamic file on the volume for later starts.
    let files = lab.kubectl_ok(&["exec", "zkd-0", "--", "ls", "/var/lib/zookeeper/conf"]);
    assert!(
        files.lines().any(|l| l == "zoo.cfg.dynamic.100000000"),
        "{files}"
    );

    let dir = lab.runtime_dir.join("zkd-check");
    let out = kcops_command(lab)
        .args(["check", "--json", "--no-ceph"])
        .env("KUBECONFIG", &lab.state.kubeconfig)
        .env("XDG_STATE_HOME", dir.join("state"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("HOME", &lab.home)
        .env_remove("KCOPS_NAMESPACE")
        .output()
        .unwrap_or_else(|e| panic!("cannot run kcops check: {e}"));
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("kcops check printed no JSON: {e}"));
    let members: Vec<&Value> = report["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["id"].as_str().is_some_and(|i| i.starts_with("members.")))
        .collect();
    assert!(members.is_empty(), "{report:#}");

    scale_online(lab, &ips);
}

/// The config every server runs, once all `n` agree: `(membership lines, version)`.
fn agreed(lab: &Lab, n: usize) -> (Vec<String>, String) {
    wait_for(
        &format!("{n} servers agreeing"),
        Duration::from_secs(60),
        || {
            let confs: Vec<Vec<String>> = (0..n)
                .map(|i| {
                    let ip = lab.running_pod_ip(&format!("zkd-{i}"))?;
                    Some(membership(&lab.four_letter_word(&ip, "conf")))
                })
                .collect::<Option<_>>()?;
            let first = confs.first()?.clone();
            let version = first
                .iter()
                .find_map(|l| l.strip_prefix("version="))?
                .to_string();
            let servers: Vec<String> = first
                .iter()
                .filter(|l| l.starts_with("server."))
                .cloned()
                .collect();
            (confs.iter().all(|c| *c == first) && servers.len() == n).then_some((servers, version))
        },
    )
}

fn restarts(lab: &Lab, pod: &str) -> String {
    lab.kubectl_ok(&[
        "get",
        "pod",
        pod,
        "-o",
        "jsonpath={.status.containerStatuses[0].restartCount}",
    ])
}

fn scale_online(lab: &Lab, ips: &[String]) {
    let before: Vec<String> = (0..3).map(|i| restarts(lab, &format!("zkd-{i}"))).collect();
    let (_, v0) = agreed(lab, 3);
    let netns = lab
        .state
        .console_netns
        .clone()
        .unwrap_or_else(|| panic!("the lab has no console namespace"));
    let server = format!("{}:2181", ips[0]);
    let writer = Writer::start(&netns, &server);
    let mut console = Console::start(
        lab,
        Options {
            env: &[("KCOPS_ZK_AUTH", "digest:super:kcops-lab")],
            ..Default::default()
        },
    );
    console.send("9");
    console.wait_text("3 voters · quorum 2 · tolerates 1", Duration::from_secs(90));
    let up = run_scale(&mut console, "default", "zkd", 5, Duration::from_secs(420));
    let (servers, v1) = agreed(lab, 5);
    assert!(
        servers.iter().all(|l| l.contains(":participant;")),
        "{servers:?}"
    );
    assert_ne!(v0, v1, "the config version did not move");

    console.send("\x1b");
    console.send("9");
    console.wait_text("5 voters · quorum 3 · tolerates 2", Duration::from_secs(60));
    let down = run_scale(&mut console, "default", "zkd", 3, Duration::from_secs(420));
    let (servers, v2) = agreed(lab, 3);
    assert_eq!(servers.len(), 3, "{servers:?}");
    assert_ne!(v1, v2, "the config version did not move");
    assert_eq!(
        lab.kubectl_ok(&["get", "sts", "zkd", "-o", "jsonpath={.spec.replicas}"]),
        "3"
    );
    let ended = Instant::now();
    let acks = writer.stop();
    drop(console);

    // No server that stays restarted.
    let after: Vec<String> = (0..3).map(|i| restarts(lab, &format!("zkd-{i}"))).collect();
    assert_eq!(before, after, "restart counts changed");
    // Every acknowledged write is there; the writes never stopped for long.
    let have = stored(&netns, &server);
    let lost: Vec<u32> = acks
        .acked
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| have.binary_search(n).is_err())
        .collect();
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
    assert!(
        acks.acked.len() > 20,
        "too few writes: {}",
        acks.acked.len()
    );
    let gap = acks.longest_gap(ended);
    assert!(
        gap <= Duration::from_secs(2),
        "{gap:?} without an acknowledged write (failed: {:?})",
        acks.failed
    );
    eprintln!(
        "3 -> 5 took {up:?}, 5 -> 3 took {down:?}; {} writes acknowledged, {} failed, longest gap {gap:?}; config {v0} -> {v1} -> {v2}",
        acks.acked.len(),
        acks.failed.len()
    );
}
