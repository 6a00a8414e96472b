//! A lab per test binary: the real `kcops lab up` process, tied to this process by its
//! stdin (when the test binary exits, the pipe closes and the lab goes down).
#![allow(dead_code)]

pub mod containerd;
pub mod csi;
pub mod journal;
pub mod pty;
pub mod rbd;
pub mod zk_writer;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use kcops_lab::paths::LabPaths;
use kcops_lab::runtime::LabState;

pub struct Lab {
    pub name: String,
    pub runtime_dir: PathBuf,
    pub state: LabState,
    pub home: PathBuf,
    child: Mutex<Child>,
}

impl Lab {
    /// Starts a lab running `scenario` with test-speed knobs plus `extra` flags.
    pub fn start(tag: &str, scenario: &str, extra: &[&str]) -> Lab {
        let pid = std::process::id();
        let name = format!("{tag}-{pid}");
        let runtime_dir = std::env::temp_dir().join(format!("kcops-test-{tag}-{pid}"));
        let home = runtime_dir.join("home");
        std::fs::create_dir_all(&home)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", home.display()));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kcops"));
        cmd.args([
            "lab",
            "up",
            "--name",
            &name,
            "--scenario",
            scenario,
            "--exit-on-stdin-eof",
        ]);
        cmd.args([
            "--speed",
            "4",
            "--mount-retry-ms",
            "500",
            "--crash-backoff-ms",
            "1000",
            "--bookmark-seconds",
            "1",
        ]);
        cmd.args(extra);
        cmd.env("XDG_RUNTIME_DIR", &runtime_dir);
        cmd.env("XDG_STATE_HOME", runtime_dir.join("state"));
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start kcops lab up: {e}"));
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.trim() == "ready" {
                    let _ = tx.send(());
                }
            }
        });
        if rx.recv_timeout(Duration::from_secs(180)).is_err() {
            let _ = child.kill();
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                use std::io::Read;
                let _ = e.read_to_string(&mut err);
            }
            panic!("lab {name} ({scenario}) did not come up: {err}");
        }
        let paths = LabPaths {
            name: name.clone(),
            root: runtime_dir.join("kcops/lab").join(&name),
        };
        let state = LabState::read(&paths).unwrap_or_else(|e| panic!("lab state: {e:#}"));
        Lab {
            name,
            runtime_dir,
            state,
            home,
            child: Mutex::new(child),
        }
    }

    /// kubectl against the lab (its own HOME so discovery caches never mix).
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_as(&self.state.kubeconfig, args)
    }

    pub fn kubectl_as(&self, kubeconfig: &std::path::Path, args: &[&str]) -> Output {
        Command::new("kubectl")
            .args(args)
            .env("KUBECONFIG", kubeconfig)
            .env("HOME", &self.home)
            .output()
            .unwrap_or_else(|e| panic!("cannot run kubectl: {e}"))
    }

    /// kubectl that must succeed; returns stdout.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A `ceph`/`rbd` command on the host, as the lab's admin.
    pub fn ceph_cmd(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        if let Some(conf) = &self.state.ceph_conf {
            c.env("CEPH_CONF", conf);
        }
        c
    }

    pub fn run_ok(mut cmd: Command) -> String {
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
        assert!(
            out.status.success(),
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `kcops lab <args> --name <this lab>`.
    pub fn kcops_lab(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_kcops"))
            .arg("lab")
            .args(args)
            .args(["--name", &self.name])
            .env("XDG_RUNTIME_DIR", &self.runtime_dir)
            .env("XDG_STATE_HOME", self.runtime_dir.join("state"))
            .output()
            .unwrap_or_else(|e| panic!("cannot run kcops: {e}"))
    }

    pub async fn client(&self) -> kube::Client {
        client_for(&self.state.kubeconfig).await
    }

    /// The directory standing in for `node`'s filesystem.
    pub fn host_root(&self, node: &str) -> PathBuf {
        LabPaths {
            name: self.name.clone(),
            root: self.runtime_dir.join("kcops/lab").join(&self.name),
        }
        .host_root(node)
    }

    /// The host probes of the console running on `node` (`--node node --host-root ...`).
    pub fn host_probe(&self, node: &str) -> kcops::host::probe::HostProbe {
        kcops::host::probe::HostProbe::new(self.host_root(node), Some(node.to_string()))
            .with_sandboxes_command(self.sandboxes_command(node))
    }

    /// The `--sandboxes-command` of the console running on `node`.
    pub fn sandboxes_command(&self, node: &str) -> Vec<String> {
        kcops_lab::paths::sandboxes_command(&self.host_root(node))
    }

    /// Waits for etcd-scaled-down's timeline: replicas 2 and pod etcd-2 gone.
    pub fn wait_etcd_scaled_down(&self) {
        let deadline = Instant::now() + Duration::from_secs(240);
        loop {
            let replicas = self.kubectl(&["get", "sts", "etcd", "-o", "jsonpath={.spec.replicas}"]);
            let pods = self.kubectl_ok(&["get", "pods", "-l", "component=etcd", "-o", "name"]);
            if String::from_utf8_lossy(&replicas.stdout) == "2" && !pods.contains("etcd-2") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "etcd was not scaled down: {pods}"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// The IP of pod `name` (default namespace) once it is Running with an address.
    pub fn running_pod_ip(&self, name: &str) -> Option<String> {
        let out = self.kubectl(&["get", "pod", name, "-o", "json"]);
        let p: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        let ip = p["status"]["podIP"].as_str()?.to_string();
        (p["status"]["phase"] == "Running" && !ip.is_empty()).then_some(ip)
    }

    /// A ZooKeeper four-letter word sent to `ip:2181` from the console node's
    /// namespace; its answer.
    pub fn four_letter_word(&self, ip: &str, word: &str) -> String {
        let script =
            format!("exec 3<>/dev/tcp/{ip}/2181 && printf {word} >&3 && timeout 3 cat <&3");
        let out = self
            .in_netns("bash")
            .args(["-c", &script])
            .output()
            .unwrap_or_else(|e| panic!("cannot run bash in the console namespace: {e}"));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `program` run inside the console node's network namespace, where kcops on a real
    /// master runs: it reaches the API server and every pod IP.
    pub fn in_netns(&self, program: &str) -> Command {
        let ns = self
            .state
            .console_netns
            .as_deref()
            .unwrap_or_else(|| panic!("lab {} has no network namespaces", self.name));
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns, program]);
        c
    }

    /// `etcdctl` (v3) against `endpoints`, from the console node's namespace.
    pub fn etcdctl(&self, endpoints: &str, args: &[&str]) -> Output {
        self.in_netns("etcdctl")
            .env("ETCDCTL_API", "3")
            .args([
                "--endpoints",
                endpoints,
                "--dial-timeout",
                "2s",
                "--command-timeout",
                "3s",
            ])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run etcdctl: {e}"))
    }

    pub fn node_ip(&self, node: &str) -> String {
        self.state
            .nodes
            .iter()
            .find(|(n, _)| n == node)
            .map(|(_, ip)| ip.to_string())
            .unwrap_or_else(|| panic!("no node {node}"))
    }
}

impl Drop for Lab {
    /// Closing stdin tells the lab to go down; wait for it so nothing outlives a test.
    fn drop(&mut self) {
        if let Ok(mut child) = self.child.lock() {
            drop(child.stdin.take());
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
        }
    }
}

pub async fn client_for(path: &std::path::Path) -> kube::Client {
    let kc =
        kube::config::Kubeconfig::read_from(path).unwrap_or_else(|e| panic!("kubeconfig: {e}"));
    let mut config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .unwrap_or_else(|e| panic!("config: {e}"));
    // As the console's client (`kube/connect.rs`): a 429 is an answer, not retried.
    config.default_retry = false;
    kube::Client::try_from(config).unwrap_or_else(|e| panic!("client: {e}"))
}

/// Polls `f` until it returns Some or `timeout` passes (then panics with `what`).
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The program and leading arguments that start a `kcops` process (the console, `kcops
/// check`) against `lab`: every kcops process a test runs starts from here, so that
/// running them where the lab's pod IPs are reachable (e.g. inside the console node's
/// network namespace) is one change in one place.
///
/// With network namespaces (root), that is the console node's namespace: kcops on a
/// real master reaches the API server, Ceph and every pod IP from there.
pub fn kcops_argv(lab: &Lab) -> Vec<std::ffi::OsString> {
    let kcops: std::ffi::OsString = env!("CARGO_BIN_EXE_kcops").into();
    match lab.state.console_netns.as_deref() {
        // There it is the console node by its address, so its host probes get that
        // node's host root in the lab (as `kcops lab env` sets them), not this
        // machine's `/`; an explicit `--host-root` still wins.
        Some(ns) => {
            let node = &lab.state.console_node;
            vec![
                "ip".into(),
                "netns".into(),
                "exec".into(),
                ns.into(),
                "env".into(),
                format!("KCOPS_HOST_ROOT={}", lab.host_root(node).display()).into(),
                format!(
                    "KCOPS_SANDBOXES_COMMAND={}",
                    lab.sandboxes_command(node).join(" ")
                )
                .into(),
                kcops,
            ]
        }
        None => vec![kcops],
    }
}

/// [`kcops_argv`] as a `Command`.
pub fn kcops_command(lab: &Lab) -> Command {
    let argv = kcops_argv(lab);
    let mut c = Command::new(&argv[0]);
    c.args(&argv[1..]);
    c
}

/// The shared lab of a test binary (never dropped: the lab goes down when this
/// process exits and its stdin pipe closes).
pub fn shared(tag: &str, scenario: &str, extra: &[&str]) -> &'static Lab {
    static LAB: OnceLock<Lab> = OnceLock::new();
    LAB.get_or_init(|| Lab::start(tag, scenario, extra))
}

/// Replaces AGE-like cells (`5s`, `2m3s`, `<invalid>`) so outputs compare with goldens.
pub fn normalize_ages(text: &str) -> String {
    let re = regex::Regex::new(r"\b(\d+[smhdy])+\b|<invalid>").unwrap_or_else(|e| panic!("{e}"));
    re.replace_all(text, "AGE").into_owned()
}

/// Snapshots listed from a lab and waiting for settled findings (`kcops check` tests).
pub mod snapshot;

/// Who `kcops check` is to Ceph: a conf, a user id and its keyring.
pub struct CephUser<'a> {
    pub conf: &'a std::path::Path,
    pub id: &'a str,
    pub keyring: &'a std::path::Path,
}

impl Lab {
    /// The lab's `client.admin`.
    pub fn ceph_admin(&self) -> CephUser<'_> {
        CephUser {
            conf: self.state.ceph_conf.as_deref().expect("the lab runs Ceph"),
            id: "admin",
            keyring: self
                .state
                .ceph_keyring
                .as_deref()
                .expect("the lab has an admin keyring"),
        }
    }

    /// `kcops check --json` as the console on the scenario's console node would run it, as `ceph`'s user:
    /// its exit code and report.
    pub fn check_json(&self, ceph: &CephUser) -> (i32, serde_json::Value) {
        self.run_check(Some(ceph))
    }

    /// [`Lab::check_json`] without Ceph (`--no-ceph`).
    pub fn check_json_no_ceph(&self) -> (i32, serde_json::Value) {
        self.run_check(None)
    }

    fn run_check(&self, ceph: Option<&CephUser>) -> (i32, serde_json::Value) {
        let dir = self.runtime_dir.join("check");
        let mut cmd = kcops_command(self);
        cmd.args(["check", "--json"]);
        match ceph {
            Some(ceph) => {
                cmd.env("CEPH_CONF", ceph.conf)
                    .env("KCOPS_CEPH_ID", ceph.id)
                    .env("KCOPS_CEPH_KEYRING", ceph.keyring)
                    .env_remove("KCOPS_NO_CEPH");
            }
            None => {
                cmd.arg("--no-ceph");
            }
        }
        // The scenario's console node (`consoleNode`, else its first node).
        let node = self.state.console_node.as_str();
        let out = cmd
            .env("KUBECONFIG", &self.state.kubeconfig)
            .env("KCOPS_NODE", node)
            .env("KCOPS_HOST_ROOT", self.host_root(node))
            .env(
                "KCOPS_SANDBOXES_COMMAND",
                self.sandboxes_command(node).join(" "),
            )
            .env("XDG_STATE_HOME", dir.join("state"))
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .env("HOME", &self.home)
            .env_remove("KCOPS_NAMESPACE")
            .env_remove("CEPH_ARGS")
            .output()
            .unwrap_or_else(|e| panic!("cannot run kcops check: {e}"));
        let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "kcops check printed no JSON ({e}): {}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out.status.code().unwrap_or(-1), report)
    }

    /// kcops' reflectors on the lab, every kind listed.
    pub async fn sources(&self) -> kcops::kube::reflectors::Sources {
        use kcops::kube::connect::{ConnectOptions, connect};
        let conn = connect(&ConnectOptions {
            kubeconfig: Some(self.state.kubeconfig.clone()),
            context: None,
        })
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
        let s = kcops::kube::reflectors::Sources::start(&conn);
        s.wait_synced(Duration::from_secs(30))
            .await
            .unwrap_or_else(|e| panic!("sync: {e}"));
        s
    }
}
