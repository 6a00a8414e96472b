//! `zk-static`: the field report's ZooKeeper StatefulSet `zk` with real ZooKeeper
//! servers (the template's own `start-zookeeper --servers=3` through the lab's
//! stand-in). Three servers form an ensemble (one leader, two followers, read with
//! `srvr` over TCP from the console node's namespace, not through kcops), `kubectl
//! exec` reaches a server's own files, and `kcops check` is quiet about it; a naive
//! `kubectl scale sts zk --replicas=5` starts zk-3 and zk-4 with the same three-server
//! `zoo.cfg`: they exit with ZooKeeper's "My id 4 not in the peer list" and `kcops
//! check` names each as `members.pod-not-member`. Then, after that scale is undone,
//! the scaling wizard in the real console resizes it 3 -> 5 -> 3 (replicas and
//! `--servers` together, one restart at a time): after each, every server serves,
//! one leads with all followers synced, and every `zoo.cfg` lists the same servers.
//! One lab, one test, in that order.

mod common;

use std::time::{Duration, Instant};

use serde_json::Value;

use common::pty::{Console, Options, run_scale};
use common::{Lab, kcops_command, shared, wait_for};

fn lab() -> &'static Lab {
    shared("zk", "zk-static", &["--no-ceph"])
}

fn mode(srvr: &str) -> Option<String> {
    srvr.lines()
        .find_map(|l| l.strip_prefix("Mode: "))
        .map(|m| m.trim().to_string())
}

/// `kcops check --json` from the console node's namespace: its `members.*` findings
/// as `(id, object)`, and the report.
fn member_findings(lab: &Lab) -> (Vec<(String, String)>, Value) {
    let dir = lab.runtime_dir.join("zk-check");
    let out = kcops_command(lab)
        .args(["check", "--json", "--no-ceph"])
        .env("KUBECONFIG", &lab.state.kubeconfig)
        .env("XDG_STATE_HOME", dir.join("state"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("HOME", &lab.home)
        .env_remove("KCOPS_NAMESPACE")
        .output()
        .unwrap_or_else(|e| panic!("cannot run kcops check: {e}"));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "kcops check printed no JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let mut ids: Vec<(String, String)> = report["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["id"].as_str().is_some_and(|i| i.starts_with("members.")))
        .map(|f| {
            (
                f["id"].as_str().unwrap_or_default().to_string(),
                f["object"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    ids.sort();
    (ids, report)
}

/// Polls `kcops check` until its member findings are `want` (an election may still be
/// settling), then asserts them.
fn settle_findings(lab: &Lab, want: &[(&str, &str)]) -> Value {
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (got, report) = member_findings(lab);
        if got == want {
            return report;
        }
        assert!(
            Instant::now() < deadline,
            "member findings {got:?}, want {want:?}: {report:#}"
        );
        std::thread::sleep(Duration::from_secs(2));
    }
}

#[test]
fn three_servers_form_an_ensemble_and_a_naive_scale_leaves_two_outside() {
    let lab = lab();
    let ips: Vec<String> = (0..3)
        .map(|i| {
            wait_for(&format!("zk-{i} running"), Duration::from_secs(90), || {
                lab.running_pod_ip(&format!("zk-{i}"))
            })
        })
        .collect();
    // One leader and two followers, each answering `srvr` at its pod IP.
    let modes = wait_for("an elected ensemble", Duration::from_secs(90), || {
        let mut modes: Vec<String> = ips
            .iter()
            .map(|ip| mode(&lab.four_letter_word(ip, "srvr")))
            .collect::<Option<_>>()?;
        modes.sort();
        (modes == ["follower", "follower", "leader"]).then_some(modes)
    });
    assert_eq!(modes, ["follower", "follower", "leader"]);
    // The leader's mntr (whitelisted by the stand-in) counts both followers synced.
    let leader_ip = ips
        .iter()
        .find(|ip| mode(&lab.four_letter_word(ip, "srvr")).as_deref() == Some("leader"))
        .unwrap_or_else(|| panic!("no leader"));
    let mntr = lab.four_letter_word(leader_ip, "mntr");
    assert!(mntr.contains("zk_synced_followers\t2"), "{mntr}");

    // kubectl exec runs in zk-0's namespaces: its myid and the generated zoo.cfg.
    assert_eq!(
        lab.kubectl_ok(&["exec", "zk-0", "--", "cat", "/var/lib/zookeeper/data/myid"])
            .trim(),
        "1"
    );
    let cfg = lab.kubectl_ok(&["exec", "zk-0", "--", "cat", "/opt/zookeeper/conf/zoo.cfg"]);
    for line in [
        "server.1=zk-0.zk-hs.default.svc.cluster.local:2888:3888",
        "server.3=zk-2.zk-hs.default.svc.cluster.local:2888:3888",
        "4lw.commands.whitelist=ruok,srvr,mntr",
    ] {
        assert!(cfg.lines().any(|l| l == line), "{line} missing from\n{cfg}");
    }
    assert!(!cfg.contains("server.4"), "{cfg}");
    let ready = lab.kubectl(&["exec", "zk-1", "--", "zookeeper-ready", "2181"]);
    assert!(ready.status.success(), "zookeeper-ready failed on zk-1");

    // A healthy ensemble: no member finding.
    settle_findings(lab, &[]);

    // Pane 9 of the real console lists the three servers in ZooKeeper's words.
    let mut console = Console::start(
        lab,
        Options {
            rows: 30,
            cols: 160,
            ..Default::default()
        },
    );
    console.wait_text("Overview", Duration::from_secs(30));
    console.send("9");
    console.wait_text("9:Members", Duration::from_secs(10));
    let screen = console.wait("zk's three servers", Duration::from_secs(60), |s| {
        s.lines()
            .filter(|l| l.contains("healthy  follower"))
            .count()
            == 2
            && s.lines().filter(|l| l.contains("healthy  leader")).count() == 1
    });
    assert!(
        screen.contains("3 voters · quorum 2 · tolerates 1"),
        "{screen}"
    );
    for name in ["zk-0", "zk-1", "zk-2"] {
        let row = screen
            .lines()
            .find(|l| l.trim_start_matches(['│', ' ']).starts_with(name))
            .unwrap_or_else(|| panic!("no row {name}:\n{screen}"));
        assert!(row.contains("healthy") && row.contains("zxid 0x"), "{row}");
    }
    // Lag counts transactions within an epoch, not the epoch's 2^32 step.
    assert!(!screen.contains("4294967296"), "{screen}");
    drop(console);

    // The naive scale: zk-3 and zk-4 start with zoo.cfg's three servers.
    lab.kubectl_ok(&["scale", "sts", "zk", "--replicas=5"]);
    for name in ["zk-3", "zk-4"] {
        let myid = if name == "zk-3" { 4 } else { 5 };
        let want = format!("My id {myid} not in the peer list");
        wait_for(
            &format!("{name} saying {want:?}"),
            Duration::from_secs(90),
            || {
                let logs = lab.kubectl(&["logs", name]);
                let prev = lab.kubectl(&["logs", name, "--previous"]);
                [logs, prev]
                    .iter()
                    .any(|o| String::from_utf8_lossy(&o.stdout).contains(&want))
                    .then_some(())
            },
        );
    }
    // The ensemble is still the three servers, and zk-3 never joined it.
    let mut modes: Vec<String> = ips
        .iter()
        .filter_map(|ip| mode(&lab.four_letter_word(ip, "srvr")))
        .collect();
    modes.sort();
    assert_eq!(modes, ["follower", "follower", "leader"]);
    let report = settle_findings(
        lab,
        &[
            ("members.pod-not-member", "Pod default/zk-3"),
            ("members.pod-not-member", "Pod default/zk-4"),
        ],
    );
    let text = report.to_string();
    assert!(text.contains("My id 4 not in the peer list"), "{text}");
    assert!(text.contains("lists server.1 to server.3"), "{text}");

    // Undo the naive scale, then resize through the wizard: 3 -> 5 -> 3.
    lab.kubectl_ok(&["scale", "sts", "zk", "--replicas=3"]);
    for name in ["zk-3", "zk-4"] {
        wait_for(&format!("{name} gone"), Duration::from_secs(60), || {
            (!lab.kubectl(&["get", "pod", name]).status.success()).then_some(())
        });
    }
    lab.kubectl_ok(&[
        "delete",
        "pvc",
        "datadir-zk-3",
        "datadir-zk-4",
        "--ignore-not-found",
    ]);
    resize_through_the_wizard(lab);
}

/// Every server's `srvr` mode (sorted) and the leader's synced followers, once `n`
/// servers serve with one leader, all followers synced.
fn settled(lab: &Lab, n: usize) {
    wait_for(
        &format!("{n} servers, one leader, {} synced", n - 1),
        Duration::from_secs(90),
        || {
            let ips: Vec<String> = (0..n)
                .map(|i| lab.running_pod_ip(&format!("zk-{i}")))
                .collect::<Option<_>>()?;
            let modes: Vec<String> = ips
                .iter()
                .map(|ip| mode(&lab.four_letter_word(ip, "srvr")))
                .collect::<Option<_>>()?;
            let leader = ips.iter().zip(&modes).find(|(_, m)| *m == "leader")?.0;
            let synced = lab
                .four_letter_word(leader, "mntr")
                .contains(&format!("zk_synced_followers\t{}", n - 1));
            let followers = modes.iter().filter(|m| *m == "follower").count();
            (followers == n - 1 && synced).then_some(())
        },
    );
    // Every server's zoo.cfg lists exactly server.1 .. server.n.
    for i in 0..n {
        let cfg = lab.kubectl_ok(&[
            "exec",
            &format!("zk-{i}"),
            "--",
            "cat",
            "/opt/zookeeper/conf/zoo.cfg",
        ]);
        let listed: Vec<&str> = cfg.lines().filter(|l| l.starts_with("server.")).collect();
        let want: Vec<String> = (1..=n)
            .map(|id| {
                format!(
                    "server.{id}=zk-{}.zk-hs.default.svc.cluster.local:2888:3888",
                    id - 1
                )
            })
            .collect();
        assert_eq!(listed, want, "zk-{i}'s zoo.cfg");
    }
}

fn resize_through_the_wizard(lab: &Lab) {
    settled(lab, 3);
    // Tall enough for the whole run of a two-size plan (about 20 steps).
    let mut console = Console::start(
        lab,
        Options {
            rows: 120,
            cols: 200,
            ..Default::default()
        },
    );
    console.send("9");
    console.wait_text("3 voters · quorum 2 · tolerates 1", Duration::from_secs(90));
    let up = run_scale(&mut console, "default", "zk", 5, Duration::from_secs(600));
    settled(lab, 5);
    assert_eq!(
        lab.kubectl_ok(&[
            "get",
            "sts",
            "zk",
            "-o",
            "jsonpath={.spec.updateStrategy.type}"
        ]),
        "RollingUpdate",
        "the update strategy was not handed back"
    );
    console.send("\x1b");
    console.send("9");
    console.wait_text("5 voters · quorum 3 · tolerates 2", Duration::from_secs(60));
    // The console polls its members every 5 s: one more poll after the servers
    // settled, so the wizard does not (rightly) refuse on a restart it saw a moment ago.
    std::thread::sleep(Duration::from_secs(6));
    let down = run_scale(&mut console, "default", "zk", 3, Duration::from_secs(600));
    settled(lab, 3);
    assert_eq!(
        lab.kubectl_ok(&["get", "sts", "zk", "-o", "jsonpath={.spec.replicas}"]),
        "3"
    );
    eprintln!("static 3 -> 5 took {up:?}, 5 -> 3 took {down:?}");
}
