//! `kcops check` and the Ceph poller under faults (issue 10): a hung or refusing API
//! server, an unknown host, a wrong token or CA, malformed tokens and token files, a
//! failing exec credential plugin whose output holds a marker, usage errors, the log
//! file's mode, an unknown `--node`, an empty `--host-root`, Ceph settings that fail
//! in different ways, and the read-only console's Ceph traffic counted from Ceph's
//! audit log. One lab (with Ceph) for the tests that need a real cluster.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Lab, shared};
use serde_json::Value;

fn lab() -> &'static Lab {
    shared("chkfault", "rbd-stale-lock", &[])
}

/// A scratch directory of this test binary.
fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("kcops-faults-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
    d
}

/// `kcops <args>` with a clean environment: nothing from the caller's kubeconfig,
/// Ceph or node settings; state (kcops.log) under `dir`.
fn kcops(dir: &Path, args: &[&str]) -> (Output, Duration) {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_kcops"))
        .args(args)
        .env("XDG_STATE_HOME", dir.join("state"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("HOME", dir)
        .env_remove("KUBECONFIG")
        .env_remove("CEPH_CONF")
        .env_remove("CEPH_ARGS")
        .env_remove("KCOPS_CEPH_ID")
        .env_remove("KCOPS_CEPH_KEYRING")
        .env_remove("KCOPS_NODE")
        .env_remove("KCOPS_HOST_ROOT")
        .env_remove("KCOPS_SANDBOXES_COMMAND")
        .env_remove("KCOPS_NAMESPACE")
        .env_remove("KCOPS_READ_ONLY")
        .env_remove("KCOPS_NO_CEPH")
        .env_remove("KCOPS_LOG_FILE")
        .output()
        .unwrap_or_else(|e| panic!("cannot run kcops: {e}"));
    (out, started.elapsed())
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A kubeconfig for `server` whose user is `user_yaml` (indented under `user:`).
fn kubeconfig(
    dir: &Path,
    name: &str,
    server: &str,
    cluster_extra: &str,
    user_yaml: &str,
) -> PathBuf {
    let path = dir.join(name);
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {server}\n{cluster_extra}\
         users:\n- name: ops\n  user:\n{user_yaml}\ncontexts:\n- name: x\n  context: {{cluster: c, user: ops}}\n\
         current-context: x\n"
    );
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
    path
}

const INSECURE: &str = "    insecure-skip-tls-verify: true\n";

/// `kcops check` that could not evaluate: exit 3, UNKNOWN printed once, in time.
fn assert_unknown_once(out: &Output, took: Duration, within: Duration, says: &str) {
    let all = text(out);
    assert_eq!(out.status.code(), Some(3), "{all}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("UNKNOWN: "), "{all}");
    assert_eq!(stdout.matches(says).count(), 1, "{says:?} said once: {all}");
    assert!(took < within, "took {took:?} (limit {within:?}): {all}");
    assert!(!all.contains("panicked"), "{all}");
}

#[test]
fn a_server_that_never_answers_is_unknown_within_the_timeout() {
    let dir = scratch("hung");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
    // Accepts every connection and never says a word.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().map_while(Result::ok) {
            held.push(s);
        }
    });
    let kc = kubeconfig(
        &dir,
        "hung.yaml",
        &format!("https://127.0.0.1:{port}"),
        INSECURE,
        "    token: abc",
    );
    let kc = kc.to_string_lossy();
    let (out, took) = kcops(&dir, &["check", "--kubeconfig", &kc, "--timeout", "3s"]);
    assert_unknown_once(
        &out,
        took,
        Duration::from_secs(10),
        "did not answer within 3s",
    );
    let (out, took) = kcops(
        &dir,
        &["check", "--json", "--kubeconfig", &kc, "--timeout", "2"],
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(took < Duration::from_secs(10), "{took:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(v["status"], "unknown");
}

#[test]
fn definitive_connection_errors_are_said_once_at_once() {
    let dir = scratch("refused");
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"));
    // The listener is gone: the port refuses.
    let refused = kubeconfig(
        &dir,
        "refused.yaml",
        &format!("https://127.0.0.1:{port}"),
        INSECURE,
        "    token: abc",
    );
    let (out, took) = kcops(&dir, &["check", "--kubeconfig", &refused.to_string_lossy()]);
    assert_unknown_once(&out, took, Duration::from_secs(5), "connection refused");
    assert!(text(&out).contains(&format!("127.0.0.1:{port}")));

    let nx = kubeconfig(
        &dir,
        "nx.yaml",
        "https://kcops-no-such-host.invalid:6443",
        INSECURE,
        "    token: abc",
    );
    let (out, took) = kcops(&dir, &["check", "--kubeconfig", &nx.to_string_lossy()]);
    assert_unknown_once(&out, took, Duration::from_secs(8), "does not resolve");
    assert!(text(&out).contains("kcops-no-such-host.invalid"));
}

#[test]
fn usage_errors_exit_64_and_help_lists_the_exit_codes() {
    let dir = scratch("usage");
    let (out, _) = kcops(&dir, &["check", "--bogus-flag"]);
    assert_eq!(out.status.code(), Some(64), "{}", text(&out));
    assert!(text(&out).contains("--bogus-flag"));
    let (out, _) = kcops(&dir, &["check", "--timeout", "soon"]);
    assert_eq!(out.status.code(), Some(64), "{}", text(&out));
    let (out, _) = kcops(&dir, &["check", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for line in [
        "Exit codes:",
        "3   UNKNOWN",
        "64  usage error",
        "--timeout <DURATION>",
    ] {
        assert!(help.contains(line), "{line:?} not in:\n{help}");
    }
}

#[test]
fn a_token_with_a_line_break_is_a_clear_error_not_a_panic() {
    let dir = scratch("newline");
    let kc = kubeconfig(
        &dir,
        "nl.yaml",
        "https://127.0.0.1:1",
        INSECURE,
        "    token: \"abc\\ndef\"",
    );
    let (out, took) = kcops(&dir, &["check", "--kubeconfig", &kc.to_string_lossy()]);
    let all = text(&out);
    assert_unknown_once(&out, took, Duration::from_secs(5), "line break");
    assert!(
        all.contains(&format!(
            "kubeconfig {}: user \"ops\": token ",
            kc.display()
        )),
        "{all}"
    );
    assert!(!all.contains("abc") && !all.contains("def"), "{all}");
}

#[test]
fn a_failing_exec_plugin_never_shows_its_arguments_or_output() {
    let dir = scratch("exec");
    let plugin = dir.join("cred-plugin");
    std::fs::write(
        &plugin,
        "#!/bin/sh\necho '{\"token\": \"SECRET-MARKER-OUT\"}'\nexit 1\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("{e}"));
    let kc = kubeconfig(
        &dir,
        "exec.yaml",
        "https://127.0.0.1:1",
        INSECURE,
        &format!(
            "    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: {}\n      args: [\"--password\", \"SECRET-MARKER-ARG\"]\n      interactiveMode: Never",
            plugin.display()
        ),
    );
    let (out, took) = kcops(&dir, &["check", "--kubeconfig", &kc.to_string_lossy()]);
    let all = text(&out);
    assert_unknown_once(&out, took, Duration::from_secs(5), "credential plugin");
    assert!(all.contains(&plugin.display().to_string()), "{all}");
    assert!(all.contains("exit status: 1"), "{all}");
    let log = std::fs::read_to_string(dir.join("state/kcops/kcops.log")).unwrap_or_default();
    for (what, t) in [("output", &all), ("kcops.log", &log)] {
        assert!(!t.contains("SECRET-MARKER"), "a marker in the {what}: {t}");
    }
}

#[test]
fn the_log_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch("logmode");
    let mode = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    };
    // A new one is created 0600 in a 0700 directory.
    let _ = kcops(&dir, &["check", "--kubeconfig", "/nonexistent"]);
    assert_eq!(mode(&dir.join("state/kcops/kcops.log")), 0o600);
    assert_eq!(mode(&dir.join("state/kcops")), 0o700);
    // One left world-readable is tightened.
    let old = dir.join("old.log");
    std::fs::write(&old, "").unwrap_or_else(|e| panic!("{e}"));
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644))
        .unwrap_or_else(|e| panic!("{e}"));
    let _ = kcops(
        &dir,
        &[
            "check",
            "--kubeconfig",
            "/nonexistent",
            "--log-file",
            &old.to_string_lossy(),
        ],
    );
    assert_eq!(mode(&old), 0o600);
}

// ---- against the lab ----

fn lab_kubeconfig_with(dir: &Path, name: &str, from: &str, to: &str) -> PathBuf {
    let text = std::fs::read_to_string(&lab().state.kubeconfig).unwrap_or_else(|e| panic!("{e}"));
    assert!(text.contains(from), "{from:?} not in the lab's kubeconfig");
    let path = dir.join(name);
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap_or_else(|e| panic!("{e}"));
    path
}

fn lab_token() -> String {
    let text = std::fs::read_to_string(&lab().state.kubeconfig).unwrap_or_else(|e| panic!("{e}"));
    text.lines()
        .find_map(|l| l.trim().strip_prefix("token: "))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("the lab's kubeconfig has no token"))
}

#[test]
fn a_wrong_token_or_ca_is_said_once_at_once() {
    let dir = scratch("creds");
    let token = lab_token();
    let bad = lab_kubeconfig_with(&dir, "bad.yaml", &token, "not-the-token");
    let (out, took) = kcops(
        &dir,
        &["check", "--no-ceph", "--kubeconfig", &bad.to_string_lossy()],
    );
    assert_unknown_once(
        &out,
        took,
        Duration::from_secs(5),
        "rejected our credentials",
    );

    // Another CA than the lab's (the lab's own pki dir holds only its own).
    let text = std::fs::read_to_string(&lab().state.kubeconfig).unwrap_or_else(|e| panic!("{e}"));
    let ca_line = text
        .lines()
        .find(|l| l.trim().starts_with("certificate-authority-data:"))
        .unwrap_or_else(|| panic!("no CA in the lab's kubeconfig"))
        .trim()
        .to_string();
    let other = rcgen_ca();
    let wrong_ca = lab_kubeconfig_with(
        &dir,
        "ca.yaml",
        &ca_line,
        &format!("certificate-authority-data: {other}"),
    );
    let (out, took) = kcops(
        &dir,
        &[
            "check",
            "--no-ceph",
            "--kubeconfig",
            &wrong_ca.to_string_lossy(),
        ],
    );
    assert_unknown_once(&out, took, Duration::from_secs(5), "TLS error");
}

/// A self-signed CA certificate, base64 PEM, that signed nothing of the lab's.
fn rcgen_ca() -> String {
    let out = Command::new("sh")
        .args([
            "-c",
            "openssl req -x509 -newkey rsa:2048 -nodes -keyout /dev/null -days 1 \
             -subj /CN=not-the-lab 2>/dev/null | base64 -w0",
        ])
        .output()
        .unwrap_or_else(|e| panic!("cannot run openssl: {e}"));
    let b64 = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        out.status.success() && b64.len() > 100,
        "openssl: {}",
        text(&out)
    );
    b64
}

#[test]
fn a_token_file_with_a_trailing_newline_authenticates() {
    let dir = scratch("tokenfile");
    let token = lab_token();
    let file = dir.join("token");
    std::fs::write(&file, format!("{token}\n")).unwrap_or_else(|e| panic!("{e}"));
    let kc = lab_kubeconfig_with(
        &dir,
        "tf.yaml",
        &format!("token: {token}"),
        &format!("tokenFile: {}", file.display()),
    );
    let (out, _) = kcops(
        &dir,
        &[
            "check",
            "--json",
            "--no-ceph",
            "--kubeconfig",
            &kc.to_string_lossy(),
        ],
    );
    let v: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    assert_ne!(v["status"], "unknown", "{v}");
    assert_ne!(out.status.code(), Some(3));
}

fn ids(v: &Value) -> Vec<String> {
    v["findings"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn lab_check(dir: &Path, extra: &[&str]) -> Value {
    let kc = lab().state.kubeconfig.to_string_lossy().into_owned();
    let mut args = vec!["check", "--json", "--kubeconfig", &kc];
    args.extend_from_slice(extra);
    let (out, _) = kcops(dir, &args);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)))
}

#[test]
fn an_unknown_node_and_an_empty_host_root_are_said_plainly() {
    let dir = scratch("host");
    let v = lab_check(&dir, &["--no-ceph", "--node", "no-such-node"]);
    let found = ids(&v);
    assert!(found.contains(&"host.node-unknown".to_string()), "{v}");
    let f = v["findings"]
        .as_array()
        .and_then(|a| a.iter().find(|f| f["id"] == "host.node-unknown"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(f["severity"], "warning");
    assert!(f["evidence"].to_string().contains("no-such-node"), "{f}");

    let empty = scratch("empty-root");
    let root = empty.to_string_lossy().into_owned();
    let v = lab_check(
        &dir,
        &["--no-ceph", "--node", "master", "--host-root", &root],
    );
    let found = ids(&v);
    assert!(found.contains(&"host.root-empty".to_string()), "{v}");
    for false_critical in ["net.cni-config-missing", "net.subnet-env-missing"] {
        assert!(
            !found.contains(&false_critical.to_string()),
            "{false_critical}: {v}"
        );
    }
    // The real one, for contrast: the lab's master root gives neither.
    let real = lab().host_root("master").to_string_lossy().into_owned();
    let v = lab_check(
        &dir,
        &["--no-ceph", "--node", "master", "--host-root", &real],
    );
    assert!(!ids(&v).iter().any(|i| i.starts_with("host.")), "{v}");
}

/// The `ceph.unreachable` explanation of a check as `id` with `conf` and `keyring`.
fn ceph_cause(dir: &Path, conf: &Path, keyring: &Path) -> String {
    let conf = conf.to_string_lossy().into_owned();
    let keyring = keyring.to_string_lossy().into_owned();
    let v = lab_check(
        dir,
        &[
            "--ceph-conf",
            &conf,
            "--ceph-id",
            "admin",
            "--ceph-keyring",
            &keyring,
        ],
    );
    v["findings"]
        .as_array()
        .and_then(|a| a.iter().find(|f| f["id"] == "ceph.unreachable"))
        .map(|f| f["explanation"].as_str().unwrap_or_default().to_string())
        .unwrap_or_else(|| panic!("no ceph.unreachable: {v}"))
}

#[test]
fn ceph_unreachable_names_the_real_cause() {
    let dir = scratch("cephcause");
    let admin = lab().ceph_admin();
    let conf_text = std::fs::read_to_string(admin.conf).unwrap_or_else(|e| panic!("{e}"));
    let no_mons = dir.join("no-mons.conf");
    std::fs::write(
        &no_mons,
        conf_text
            .lines()
            .filter(|l| !l.trim_start().starts_with("mon host"))
            .collect::<Vec<_>>()
            .join("\n"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let why = ceph_cause(&dir, &no_mons, admin.keyring);
    assert!(why.contains("names no monitors (no `mon host`)"), "{why}");
    assert!(!why.contains("did not answer"), "{why}");

    let why = ceph_cause(&dir, admin.conf, &dir.join("no-such.keyring"));
    assert!(why.contains("no usable keyring for client.admin"), "{why}");
    assert!(!why.contains("did not answer"), "{why}");

    let wrong = dir.join("wrong.keyring");
    let keyring = std::fs::read_to_string(admin.keyring).unwrap_or_else(|e| panic!("{e}"));
    let re = regex::Regex::new(r"key = \S+").unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        &wrong,
        re.replace(&keyring, "key = AQBtbWJoAAAAABAAm0xCUaIVKKmCOyHjbdNPeQ==")
            .as_bytes(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let why = ceph_cause(&dir, admin.conf, &wrong);
    assert!(why.contains("Ceph refused the user client.admin"), "{why}");
}

/// Lines of Ceph's audit log (the lab's mon cluster log) where `addrs` (one client's
/// addresses) asked `osd blocklist rm` of the probe address.
fn fence_probes(addrs: &[String]) -> usize {
    let log = lab()
        .runtime_dir
        .join("kcops/lab")
        .join(&lab().name)
        .join("logs/ceph-cluster.log");
    let text = std::fs::read_to_string(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
    let probe = format!("\"addr\":\"{}\"", kcops::ceph::source::FENCE_PROBE_ADDR);
    text.lines()
        .filter(|l| l.contains("audit") && l.contains(&probe) && l.contains("dispatch"))
        .filter(|l| addrs.iter().any(|a| l.contains(a.as_str())))
        .count()
}

/// Runs the Ceph poller every 200 ms for 3 s; returns its client addresses.
async fn poll_ceph(read_only: bool) -> Vec<String> {
    let admin = lab().ceph_admin();
    let settings = kcops::ceph::CephSettings::new(admin.conf, "admin")
        .with_keyring(admin.keyring)
        .read_only(read_only);
    let client = kcops::ceph::CephClient::connect(settings).unwrap_or_else(|e| panic!("{e}"));
    let changed = Arc::new(tokio::sync::Notify::new());
    let watch =
        kcops::ceph::source::CephWatch::start(client.clone(), changed, Duration::from_millis(200));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let report = watch.latest();
    let data = report
        .data
        .clone()
        .unwrap_or_else(|| panic!("no Ceph data: {:?}", report.error));
    watch.close().await;
    assert!(!data.own_addrs.is_empty());
    if read_only {
        assert_eq!(data.fencing, kcops::model::ceph::FencePermission::Unknown);
    } else {
        assert_eq!(data.fencing, kcops::model::ceph::FencePermission::Allowed);
    }
    data.own_addrs
}

#[tokio::test(flavor = "multi_thread")]
async fn the_fencing_probe_runs_once_per_connection_and_never_read_only() {
    let ro = poll_ceph(true).await;
    let rw = poll_ceph(false).await;
    // The mon writes its audit lines a little later.
    let deadline = Instant::now() + Duration::from_secs(10);
    while fence_probes(&rw) == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(
        fence_probes(&rw),
        1,
        "a read-write poller probes once ({rw:?})"
    );
    assert_eq!(
        fence_probes(&ro),
        0,
        "a read-only poller never probes ({ro:?})"
    );
}
