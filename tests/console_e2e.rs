//! End to end: the real `kcops` binary in a pseudo-terminal against a running lab,
//! reading the screen with a VT100 parser, driven by keys like an operator.

mod common;

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Lab, shared};
use portable_pty::{CommandBuilder, PtySize, native_pty_system};

fn lab() -> &'static Lab {
    shared("e2e", "healthy", &["--no-ceph"])
}

struct Console {
    parser: Arc<Mutex<vt100::Parser>>,
    raw: Arc<Mutex<Vec<u8>>>,
    writer: Box<dyn Write + Send>,
    child: Box<dyn portable_pty::Child + Send + Sync>,
    _dir: std::path::PathBuf,
}

impl Console {
    fn start(lab: &Lab, extra: &[&str]) -> Console {
        let pty = native_pty_system();
        let pair = pty
            .openpty(PtySize {
                rows: 40,
                cols: 160,
                pixel_width: 0,
                pixel_height: 0,
            })
            .unwrap_or_else(|e| panic!("openpty: {e}"));
        let dir = lab.runtime_dir.join(format!("console-{}", rand_suffix()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_kcops"));
        cmd.args(["--kubeconfig", &lab.state.kubeconfig.display().to_string()]);
        cmd.args(extra);
        cmd.env("XDG_STATE_HOME", dir.join("state"));
        cmd.env("XDG_CONFIG_HOME", dir.join("config"));
        cmd.env("TERM", "xterm-256color");
        cmd.env_remove("NO_COLOR");
        let child = pair
            .slave
            .spawn_command(cmd)
            .unwrap_or_else(|e| panic!("spawn kcops: {e}"));
        drop(pair.slave);
        let mut reader = pair
            .master
            .try_clone_reader()
            .unwrap_or_else(|e| panic!("reader: {e}"));
        let writer = pair
            .master
            .take_writer()
            .unwrap_or_else(|e| panic!("writer: {e}"));
        let parser = Arc::new(Mutex::new(vt100::Parser::new(40, 160, 0)));
        let raw = Arc::new(Mutex::new(Vec::new()));
        let (p, r) = (parser.clone(), raw.clone());
        std::thread::spawn(move || {
            let _keep_master = pair.master;
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Ok(mut p) = p.lock() {
                    p.process(&buf[..n]);
                }
                if let Ok(mut r) = r.lock() {
                    r.extend_from_slice(&buf[..n]);
                }
            }
        });
        Console {
            parser,
            raw,
            writer,
            child,
            _dir: dir,
        }
    }

    fn screen(&self) -> String {
        self.parser
            .lock()
            .map(|p| p.screen().contents())
            .unwrap_or_default()
    }

    fn send(&mut self, keys: &str) {
        self.writer
            .write_all(keys.as_bytes())
            .unwrap_or_else(|e| panic!("write: {e}"));
        let _ = self.writer.flush();
        std::thread::sleep(Duration::from_millis(150));
    }

    /// Waits until the screen satisfies `pred`; panics with the screen on timeout.
    fn wait(&self, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn wait_text(&self, text: &str, timeout: Duration) -> String {
        self.wait(&format!("{text:?} on screen"), timeout, |s| {
            s.contains(text)
        })
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

const T: Duration = Duration::from_secs(30);

#[test]
fn nodes_pane_switching_and_filter() {
    let lab = lab();
    let mut c = Console::start(lab, &[]);
    c.wait_text("Findings", T);
    c.send("2");
    let s = c.wait("the three nodes", T, |s| {
        s.contains("master") && s.contains("node1") && s.contains("node2")
    });
    assert!(s.contains("Ready"), "{s}");
    c.send("3");
    c.wait("the pods pane", T, |s| {
        s.contains("coredns") && s.contains("kube-proxy")
    });
    c.send("/coredns\r");
    let s = c.wait("only coredns rows", T, |s| {
        s.contains("coredns") && !s.contains("kube-proxy")
    });
    assert!(s.contains("filter: coredns"), "{s}");
    c.send("/");
    c.send("\x1b");
    c.wait("the filter cleared", T, |s| s.contains("kube-proxy"));
    c.send(":nodes\r");
    c.wait_text("Nodes [all]", T);
}

#[test]
fn pod_logs_are_shown() {
    let lab = lab();
    let mut c = Console::start(lab, &[]);
    c.wait_text("Findings", T);
    c.send("3");
    c.wait_text("coredns", T);
    c.send("/coredns\r");
    c.wait("only coredns", T, |s| !s.contains("kube-proxy"));
    c.send("l");
    let s = c.wait("log lines", T, |s| {
        s.contains("logs Pod kube-system/coredns")
    });
    let expected = lab.kubectl_ok(&["logs", "-n", "kube-system", "deploy/coredns", "--tail=1"]);
    let last = expected
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_string();
    assert!(!last.is_empty());
    c.wait(&format!("the log line {last:?}"), T, |s| {
        s.contains(&last[..last.len().min(40)])
    });
    let _ = s;
    c.send("\x1b");
    c.wait("logs closed", T, |s| !s.contains("logs Pod"));
}

#[test]
fn pod_deleted_elsewhere_disappears_while_others_stay() {
    let lab = lab();
    let ns_file = lab.runtime_dir.join("e2e-del-ns.yaml");
    std::fs::write(
        &ns_file,
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: e2e-del\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    lab.kubectl_ok(&["create", "-f", &ns_file.display().to_string()]);
    for name in ["victim", "bystander"] {
        lab.kubectl_ok(&[
            "run",
            name,
            "-n",
            "e2e-del",
            "--image=nginx",
            "--restart=Never",
        ]);
    }
    let mut c = Console::start(lab, &[]);
    c.wait_text("Findings", T);
    c.send("3");
    c.send(":pods e2e-del\r");
    c.wait("both pods", T, |s| {
        s.contains("victim") && s.contains("bystander")
    });
    lab.kubectl_ok(&[
        "delete",
        "pod",
        "victim",
        "-n",
        "e2e-del",
        "--grace-period=0",
        "--force",
    ]);
    let s = c.wait("victim gone", T, |s| !s.contains("victim"));
    assert!(s.contains("bystander"), "{s}");
}

#[test]
fn recovers_after_apiserver_restart_and_restores_terminal_on_sigterm() {
    let lab = Lab::start("e2erestart", "healthy", &["--no-ceph"]);
    let mut c = Console::start(&lab, &[]);
    c.wait_text("Findings", T);
    c.send("2");
    c.wait_text("node2", T);
    let stop = lab.kcops_lab(&["stop", "apiserver"]);
    assert!(stop.status.success());
    c.wait("the connection error", T, |s| {
        s.contains("cannot reach the API server") && s.contains("retrying")
    });
    let start = lab.kcops_lab(&["start", "apiserver"]);
    assert!(start.status.success());
    lab.kubectl_ok(&["cordon", "node2"]);
    c.wait("recovery and the cordon", Duration::from_secs(60), |s| {
        s.contains("SchedulingDisabled") && !s.contains("cannot reach")
    });
    // SIGTERM: the console leaves the alternate screen before exiting.
    let pid = c.child.process_id().unwrap_or_else(|| panic!("no pid"));
    unsafe {
        libc::kill(pid as i32, libc::SIGTERM);
    }
    let deadline = Instant::now() + T;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = c.child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        matches!(c.child.try_wait(), Ok(Some(_))),
        "kcops exited on SIGTERM"
    );
    std::thread::sleep(Duration::from_millis(300));
    let raw = c.raw.lock().map(|r| r.clone()).unwrap_or_default();
    let text = String::from_utf8_lossy(&raw);
    let enter = text
        .rfind("\x1b[?1049h")
        .unwrap_or_else(|| panic!("never entered the alternate screen"));
    let leave = text
        .rfind("\x1b[?1049l")
        .unwrap_or_else(|| panic!("terminal not restored"));
    assert!(leave > enter, "the alternate screen was left last");
}
