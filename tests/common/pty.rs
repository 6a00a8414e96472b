//! The real `kcops` binary in a pseudo-terminal against a lab, its screen read with a
//! VT100 parser and driven by keys like an operator: one harness for every end-to-end
//! console test.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{CommandBuilder, PtySize, native_pty_system};

use super::Lab;

/// How to start the console.
pub struct Options<'a> {
    pub rows: u16,
    pub cols: u16,
    /// Talk to the lab's Ceph as `client.admin` (otherwise `--no-ceph`).
    pub ceph: bool,
    pub args: &'a [&'a str],
    /// Extra environment for kcops (`KCOPS_ZK_AUTH` ...).
    pub env: &'a [(&'a str, &'a str)],
    /// A kubeconfig other than the lab's (e.g. one that does not exist).
    pub kubeconfig: Option<&'a std::path::Path>,
}

impl Default for Options<'_> {
    fn default() -> Self {
        Options {
            rows: 40,
            cols: 160,
            ceph: false,
            args: &[],
            env: &[],
            kubeconfig: None,
        }
    }
}

pub struct Console {
    parser: Arc<Mutex<vt100::Parser>>,
    /// Every byte the console wrote (terminal modes, for the restore checks).
    pub raw: Arc<Mutex<Vec<u8>>>,
    writer: Box<dyn Write + Send>,
    pub child: Box<dyn portable_pty::Child + Send + Sync>,
    /// This console's own XDG state/config directory (audit log, tracing log).
    pub dir: PathBuf,
}

fn next_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

impl Console {
    pub fn start(lab: &Lab, opts: Options) -> Console {
        let dir = lab.runtime_dir.join(format!("console-{}", next_id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let argv = super::kcops_argv(lab);
        let mut cmd = CommandBuilder::new(&argv[0]);
        cmd.args(&argv[1..]);
        let kubeconfig = opts.kubeconfig.unwrap_or(&lab.state.kubeconfig);
        cmd.args(["--kubeconfig", &kubeconfig.display().to_string()]);
        if opts.ceph {
            let conf = lab
                .state
                .ceph_conf
                .clone()
                .unwrap_or_else(|| panic!("the lab has no Ceph conf"));
            let keyring = lab
                .state
                .ceph_keyring
                .clone()
                .unwrap_or_else(|| panic!("the lab has no Ceph keyring"));
            cmd.env("CEPH_CONF", conf);
            cmd.env("KCOPS_CEPH_ID", "admin");
            cmd.env("KCOPS_CEPH_KEYRING", keyring);
            cmd.env_remove("KCOPS_NO_CEPH");
        } else {
            cmd.arg("--no-ceph");
        }
        cmd.args(opts.args);
        cmd.env("XDG_STATE_HOME", dir.join("state"));
        cmd.env("XDG_CONFIG_HOME", dir.join("config"));
        cmd.env("TERM", "xterm-256color");
        for (k, v) in opts.env {
            cmd.env(k, v);
        }
        cmd.env_remove("NO_COLOR");
        Console::spawn(cmd, opts.rows, opts.cols, dir)
    }

    /// Any `kcops` command line (no lab: `kcops setup init`) in a pseudo-terminal of
    /// `rows` x `cols`; `dir` is its own directory.
    pub fn spawn(cmd: CommandBuilder, rows: u16, cols: u16, dir: PathBuf) -> Console {
        let pty = native_pty_system();
        let pair = pty
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .unwrap_or_else(|e| panic!("openpty: {e}"));
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
        let parser = Arc::new(Mutex::new(vt100::Parser::new(rows, cols, 0)));
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
            dir,
        }
    }

    pub fn screen(&self) -> String {
        self.parser
            .lock()
            .map(|p| p.screen().contents())
            .unwrap_or_default()
    }

    /// The foreground colour of the first cell of `text` on the first screen line
    /// that holds it and `line_has` (colours are how a row says its verdict).
    pub fn fg_of(&self, line_has: &str, text: &str) -> Option<vt100::Color> {
        let parser = self.parser.lock().ok()?;
        let screen = parser.screen();
        let (rows, cols) = screen.size();
        for row in 0..rows {
            let line: String = (0..cols)
                .map(|c| {
                    screen
                        .cell(row, c)
                        .map(|c| c.contents().to_string())
                        .unwrap_or_default()
                })
                .map(|s| if s.is_empty() { " ".to_string() } else { s })
                .collect();
            if !line.contains(line_has) {
                continue;
            }
            let at = line.find(text)?;
            let col = line[..at].chars().count();
            return screen
                .cell(row, u16::try_from(col).ok()?)
                .map(|c| c.fgcolor());
        }
        None
    }

    pub fn send(&mut self, keys: &str) {
        self.writer
            .write_all(keys.as_bytes())
            .unwrap_or_else(|e| panic!("write: {e}"));
        let _ = self.writer.flush();
        std::thread::sleep(Duration::from_millis(150));
    }

    /// Waits until the screen satisfies `pred`; panics with the screen on timeout.
    pub fn wait(&self, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            if Instant::now() > deadline {
                panic!("timed out after {timeout:?} waiting for {what}; screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn wait_text(&self, text: &str, timeout: Duration) -> String {
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

/// Whether a wizard's run shows `✓ n/n` on `screen`: every step of the plan ran.
pub fn all_steps_done(screen: &str) -> bool {
    screen.split('✓').skip(1).any(|rest| {
        let token: String = rest
            .trim_start()
            .chars()
            .take_while(|c| !c.is_whitespace())
            .collect();
        matches!(token.split_once('/'), Some((a, b)) if !a.is_empty() && a == b)
    })
}

/// Runs `:scale <ns>/<sts> <replicas>` through the wizard: pages with Enter until the
/// typed confirmation, the name typed, then waits up to `timeout` for the plan's end
/// (a failed step panics with the screen). Returns how long the run took.
pub fn run_scale(
    console: &mut Console,
    namespace: &str,
    statefulset: &str,
    replicas: usize,
    timeout: Duration,
) -> Duration {
    console.send(&format!(":scale {namespace}/{statefulset} {replicas}\r"));
    console.wait("the assessed wizard", Duration::from_secs(30), |s| {
        s.contains("The ensemble now")
    });
    let prompt = format!("Type {statefulset}");
    for _ in 0..8 {
        if console.screen().contains(&prompt) {
            break;
        }
        console.send("\r");
        std::thread::sleep(Duration::from_millis(700));
    }
    console.wait_text(&prompt, Duration::from_secs(5));
    let started = std::time::Instant::now();
    console.send(&format!("{statefulset}\r"));
    let done = console.wait("the plan's end", timeout, |s| {
        s.contains('✗') || all_steps_done(s)
    });
    assert!(!done.contains('✗'), "a step failed:\n{done}");
    started.elapsed()
}
