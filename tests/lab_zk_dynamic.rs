//! `zk-dynamic`: a ZooKeeper 3.5+ ensemble configured for online membership changes
//! (`reconfigEnabled=true`, `standaloneEnabled=false`, a dynamic config file) forms
//! from its template's own script: one leader, two followers, and every server's
//! `conf` reports the same three participants and config version (read over TCP from
//! the console node's namespace); `kcops check` finds nothing to say about it.

mod common;

use std::time::Duration;

use serde_json::Value;

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
}
