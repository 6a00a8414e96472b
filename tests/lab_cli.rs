//! The `kcops lab` command line: env exports, status, stop/start of the API server,
//! a detached lab and `down` leaving nothing behind, and a clear error for a bad
//! scenario file.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Lab, wait_for};

fn kcops(runtime: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kcops"))
        .args(args)
        .env("XDG_RUNTIME_DIR", runtime)
        .env("XDG_STATE_HOME", runtime.join("state"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run kcops: {e}"))
}

#[test]
fn detached_lab_env_status_and_down() {
    let runtime = std::env::temp_dir().join(format!("kcops-test-cli-{}", std::process::id()));
    std::fs::create_dir_all(&runtime).unwrap_or_else(|e| panic!("{e}"));
    let name = format!("cli{}", std::process::id());
    let up = kcops(
        &runtime,
        &[
            "lab",
            "up",
            "--detach",
            "--no-ceph",
            "--name",
            &name,
            "--scenario",
            "healthy",
            "--speed",
            "4",
        ],
    );
    assert!(
        up.status.success(),
        "lab up --detach: {}",
        String::from_utf8_lossy(&up.stderr)
    );
    let env = kcops(&runtime, &["lab", "env", "--name", &name]);
    let text = String::from_utf8_lossy(&env.stdout).into_owned();
    let vars: Vec<&str> = text
        .lines()
        .map(|l| {
            l.trim_start_matches("export ")
                .split('=')
                .next()
                .unwrap_or_default()
        })
        .collect();
    // --no-ceph: no CEPH_CONF and no keyring to export; etcd members run in their own
    // namespaces, reached from the console node's (KCOPS_LAB_NETNS).
    assert_eq!(
        vars,
        [
            "KUBECONFIG",
            "KCOPS_CEPH_ID",
            "KCOPS_HOST_ROOT",
            "KCOPS_SANDBOXES_COMMAND",
            "KCOPS_NODE",
            "KCOPS_LAB_NETNS"
        ],
        "{text}"
    );
    assert!(text.contains("export KCOPS_NODE=master"), "{text}");
    assert!(text.contains("export KCOPS_LAB_NETNS=kcops"), "{text}");
    let status = kcops(&runtime, &["lab", "status", "--name", &name]);
    let s = String::from_utf8_lossy(&status.stdout).into_owned();
    assert!(status.status.success(), "{s}");
    assert!(s.contains("\"apiserver\":\"running\""), "{s}");
    // The scenario's description, under its name.
    assert!(s.contains("scenario:   healthy\n            "), "{s}");

    let root = runtime.join("kcops/lab").join(&name);
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("lab.json")).unwrap_or_default())
            .unwrap_or_default();
    let pid = state["pid"].as_i64().unwrap_or(0) as i32;
    assert!(pid > 0 && kcops_lab::process::alive(pid));
    let down = kcops(&runtime, &["lab", "down", "--name", &name]);
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
    wait_for("the supervisor to exit", Duration::from_secs(30), || {
        (!kcops_lab::process::alive(pid)).then_some(())
    });
    assert!(!root.exists(), "down removes the lab's files");
    assert!(
        !root.with_extension("supervisor.log").exists(),
        "an empty supervisor log is not left behind"
    );
    // etcd members of the healthy scenario died with the lab.
    let etcd = Command::new("pgrep")
        .args(["-f", &format!("kcops/lab/{name}/")])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        String::from_utf8_lossy(&etcd.stdout).trim().is_empty(),
        "processes left: {}",
        String::from_utf8_lossy(&etcd.stdout)
    );
    let again = kcops(&runtime, &["lab", "env", "--name", &name]);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("no lab named"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}

#[test]
fn apiserver_stop_and_start_keep_port_and_state() {
    let lab = Lab::start("apistop", "healthy", &["--no-ceph"]);
    let before = lab.kubectl_ok(&["get", "ns", "demo", "-o", "jsonpath={.metadata.uid}"]);
    let stop = lab.kcops_lab(&["stop", "apiserver"]);
    assert!(stop.status.success());
    let down = lab.kubectl(&["get", "ns", "demo"]);
    assert!(!down.status.success());
    assert!(
        String::from_utf8_lossy(&down.stderr).contains("refused"),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
    let start = lab.kcops_lab(&["start", "apiserver"]);
    assert!(start.status.success());
    let after = lab.kubectl_ok(&["get", "ns", "demo", "-o", "jsonpath={.metadata.uid}"]);
    assert_eq!(before, after, "same object, same CA and port after restart");
}

#[test]
fn bad_scenario_file_names_file_line_and_field() {
    let runtime = std::env::temp_dir().join(format!("kcops-test-badscen-{}", std::process::id()));
    std::fs::create_dir_all(&runtime).unwrap_or_else(|e| panic!("{e}"));
    let file = runtime.join("broken.yaml");
    std::fs::write(
        &file,
        "name: broken\nnodes:\n  - name: master\n    podCIDR: 10.244.0.0/33\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = kcops(
        &runtime,
        &[
            "lab",
            "up",
            "--no-ceph",
            "--name",
            "broken",
            "--scenario",
            &file.display().to_string(),
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("broken.yaml:4:")
            && err.contains("nodes[0].podCIDR")
            && err.contains("10.244.0.0/33"),
        "{err}"
    );
}
