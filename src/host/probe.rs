//! Reads the pod-network state of the machine the console runs on, relative to a host
//! root (`/` on a real node; a lab node's directory in the lab), into a
//! [`HostReport`]. Blocking file IO and at most one short subprocess: callers run it
//! off the UI task (`tokio::task::spawn_blocking`).
//!
//! The live CRI sandboxes (to tell leaked host-local reservations from live ones) come
//! from, in order:
//! 1. the configured command (`--sandboxes-command`, `KCOPS_SANDBOXES_COMMAND`),
//!    split on whitespace and run without a shell, printing one id per line (the lab
//!    sets it: a lab node has no container runtime to ask);
//! 2. `crictl pods -q` when the root is `/` (the command asks this machine's runtime,
//!    so it is only a default when the root is this machine's).
//!
//! Otherwise, or when this machine is not a known node (no command is run then), the
//! list is unknown, and nothing is called leaked.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::read::{HostFiles, LocalRoot, read_host};
use crate::model::host::{CniConfig, HostReport, Probe, SandboxList, SubnetEnv};

/// The lab's per-link address file under `/sys/class/net/<link>/` (real sysfs has
/// none; addresses come from netlink, read with getifaddrs when the root is `/`).
pub(crate) const LAB_ADDRESSES_FILE: &str = "kcops-addresses";

/// The command that lists live sandboxes on a real node.
pub(crate) const DEFAULT_SANDBOXES_COMMAND: &[&str] = &["crictl", "pods", "-q"];

/// How to probe one host.
#[derive(Debug, Clone)]
pub struct HostProbe {
    pub root: PathBuf,
    /// The node this machine is, when known.
    pub node: Option<String>,
    /// Lists live sandbox ids, one per line (argv, no shell).
    pub sandboxes_command: Option<Vec<String>>,
    /// How long the sandbox command may take.
    pub timeout: Duration,
}

impl HostProbe {
    pub fn new(root: impl Into<PathBuf>, node: Option<String>) -> HostProbe {
        HostProbe {
            root: root.into(),
            node,
            sandboxes_command: None,
            timeout: Duration::from_secs(5),
        }
    }

    fn is_real_root(&self) -> bool {
        self.root == Path::new("/")
    }

    /// Probes everything; never fails (each part records its own error).
    pub fn run(&self) -> HostReport {
        let files = LocalRoot(self.root.clone());
        let sandboxes = if files.looks_empty() {
            Probe::Missing
        } else {
            self.live_sandboxes()
        };
        read_host(
            &files,
            &self.root.display().to_string(),
            self.node.clone(),
            sandboxes,
        )
    }

    /// The same probe, listing live sandboxes with `argv` (no shell).
    pub fn with_sandboxes_command(mut self, argv: Vec<String>) -> HostProbe {
        self.sandboxes_command = Some(argv);
        self
    }

    /// The node's live CRI sandboxes, from the sources listed in the module docs.
    pub(crate) fn live_sandboxes(&self) -> Probe<SandboxList> {
        if self.node.is_none() {
            // Not a node of the cluster: its sandboxes say nothing, do not ask.
            return Probe::Error("this machine is not a known node (--node)".to_string());
        }
        let argv: Vec<String> = match &self.sandboxes_command {
            Some(c) => c.clone(),
            None if self.is_real_root() => DEFAULT_SANDBOXES_COMMAND
                .iter()
                .map(|s| s.to_string())
                .collect(),
            None => {
                return Probe::Error(format!(
                    "no sandbox list for host root {} (give --sandboxes-command)",
                    self.root.display()
                ));
            }
        };
        match run_command(&argv, self.timeout) {
            Ok(out) => Probe::Found(SandboxList {
                source: format!("command `{}`", argv.join(" ")),
                ids: ids(&out),
            }),
            Err(e) => Probe::Error(e),
        }
    }
}

/// Ids, one per line, lowercase hex only (headers and blank lines are dropped).
fn ids(text: &str) -> BTreeSet<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or_default().trim())
        .filter(|l| l.len() >= 12 && l.chars().all(|c| c.is_ascii_hexdigit()))
        .map(str::to_lowercase)
        .collect()
}

/// `KEY=value` lines of subnet.env.
pub(crate) fn parse_subnet_env(text: &str) -> SubnetEnv {
    let mut env = SubnetEnv::default();
    for line in text.lines() {
        let Some((k, v)) = line.trim().split_once('=') else {
            continue;
        };
        let v = v.trim().trim_matches('"');
        match k.trim() {
            "FLANNEL_NETWORK" => env.network = v.parse().ok(),
            "FLANNEL_SUBNET" => {
                env.subnet_text = Some(v.to_string());
                env.subnet = v.parse().ok();
            }
            "FLANNEL_MTU" => env.mtu = v.parse().ok(),
            "FLANNEL_IPMASQ" => env.ipmasq = v.parse().ok(),
            _ => {}
        }
    }
    env
}

/// A `.conf` (one plugin) or `.conflist` (`plugins: [...]`) file.
pub(crate) fn parse_cni_config(file: &str, text: &str) -> CniConfig {
    let mut c = CniConfig {
        file: file.to_string(),
        ..Default::default()
    };
    let v: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            c.error = Some(format!("not JSON: {e}"));
            return c;
        }
    };
    c.name = v.get("name").and_then(|n| n.as_str()).map(str::to_string);
    let plugins: Vec<&serde_json::Value> = match v.get("plugins").and_then(|p| p.as_array()) {
        Some(list) => list.iter().collect(),
        None if v.get("type").is_some() => vec![&v],
        None => Vec::new(),
    };
    for p in plugins {
        if let Some(t) = p.get("type").and_then(|t| t.as_str()) {
            c.plugins.push(t.to_string());
        }
        let Some(ipam) = p.get("ipam") else {
            continue;
        };
        if let Some(t) = ipam.get("type").and_then(|t| t.as_str()) {
            c.ipam_type.get_or_insert_with(|| t.to_string());
        }
        if let Some(sub) = ipam.get("subnet").and_then(|s| s.as_str())
            && let Ok(cidr) = sub.parse()
        {
            c.ranges.push(cidr);
        }
        for set in ipam
            .get("ranges")
            .and_then(|r| r.as_array())
            .into_iter()
            .flatten()
        {
            for range in set.as_array().into_iter().flatten() {
                if let Some(Ok(cidr)) = range.get("subnet").and_then(|s| s.as_str()).map(str::parse)
                {
                    c.ranges.push(cidr);
                }
            }
        }
    }
    if c.plugins.is_empty() {
        c.error = Some("no plugin type".to_string());
    }
    c
}

/// Runs `argv` (no shell) and returns its stdout; kills it after `timeout`.
fn run_command(argv: &[String], timeout: Duration) -> Result<String, String> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| "the sandbox command is empty".to_string())?;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    std::thread::spawn(move || {
        let mut out = String::new();
        let mut err = String::new();
        if let Some(s) = stdout.as_mut() {
            let _ = s.read_to_string(&mut out);
        }
        if let Some(s) = stderr.as_mut() {
            let _ = s.read_to_string(&mut err);
        }
        let status = child.wait();
        let _ = tx.send((status, out, err));
    });
    match rx.recv_timeout(timeout) {
        Ok((Ok(status), out, _)) if status.success() => Ok(out),
        Ok((Ok(status), _, err)) => Err(format!(
            "`{}` failed ({status}): {}",
            argv.join(" "),
            err.lines().next().unwrap_or_default().trim()
        )),
        Ok((Err(e), _, _)) => Err(format!("`{}` failed: {e}", argv.join(" "))),
        Err(_) => {
            // Our own child, by its pid.
            if let Ok(pid) = i32::try_from(pid) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            tracing::warn!(command = %argv.join(" "), "sandbox command timed out");
            Err(format!(
                "`{}` did not answer within {}s",
                argv.join(" "),
                timeout.as_secs()
            ))
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    /// A sandboxes command that prints a file, as the lab's does.
    pub(crate) fn cat(file: &Path) -> Vec<String> {
        vec!["cat".to_string(), file.display().to_string()]
    }

    pub(crate) fn tmp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("kcops-probe-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    const FLANNEL_CONFLIST: &str = r#"{"name": "cbr0", "cniVersion": "0.3.1", "plugins": [
        {"type": "flannel", "delegate": {"hairpinMode": true, "isDefaultGateway": true}},
        {"type": "portmap", "capabilities": {"portMappings": true}}]}"#;

    #[test]
    fn an_empty_root_is_said_to_be_empty_not_a_node_missing_files() {
        let root = tmp("blank");
        let r = HostProbe::new(&root, Some("master".into())).run();
        assert!(r.root_looks_empty);
        assert!(
            matches!(&r.subnet_env, Probe::Error(e) if e.contains("looks empty")),
            "{:?}",
            r.subnet_env
        );
        assert!(matches!(r.cni_configs, Probe::Error(_)));
        // One of a node's directories is enough to be probed as a node.
        write(&root, "etc/hostname", "master\n");
        let r = HostProbe::new(&root, Some("master".into())).run();
        assert!(!r.root_looks_empty);
        assert_eq!(r.subnet_env, Probe::Missing);
    }

    /// A live sandbox (10.244.1.2) and a leaked reservation (10.244.1.3).
    pub(crate) const LIVE: &str =
        "7c166dd7ae0cece3c7a15ad63a4ea381553e3a11e31f1bb0262d693a94f39541";
    pub(crate) const GONE: &str =
        "1111111111111111111111111111111111111111111111111111111111111111";

    /// node1 of a flannel cluster, its live sandboxes listed in `<root>/sandboxes`.
    pub(crate) fn plant_flannel_node(root: &Path) {
        let (live, gone) = (LIVE, GONE);
        write(
            root,
            "run/flannel/subnet.env",
            "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n",
        );
        write(root, "etc/cni/net.d/10-flannel.conflist", FLANNEL_CONFLIST);
        write(root, "etc/cni/net.d/README", "not a config");
        write(
            root,
            "var/lib/cni/networks/cbr0/10.244.1.2",
            &format!("{live}\r\neth0"),
        );
        write(
            root,
            "var/lib/cni/networks/cbr0/10.244.1.3",
            &format!("{gone}\r\neth0"),
        );
        write(
            root,
            "var/lib/cni/networks/cbr0/last_reserved_ip.0",
            "10.244.1.3",
        );
        write(root, "var/lib/cni/networks/cbr0/lock", "");
        write(root, "sandboxes", &format!("{live}\n"));
        write(root, "proc/sys/net/ipv4/ip_forward", "1\n");
        write(
            root,
            "sys/class/net/cni0/kcops-addresses",
            "10.244.1.1/24\n",
        );
        write(root, "sys/class/net/cni0/operstate", "up\n");
    }

    #[test]
    fn a_flannel_node_with_leaks() {
        let root = tmp("flannel");
        plant_flannel_node(&root);
        let gone = GONE;
        let r = HostProbe::new(&root, Some("node1".into()))
            .with_sandboxes_command(cat(&root.join("sandboxes")))
            .run();
        let env = r.subnet_env.found().unwrap();
        assert_eq!(env.subnet.unwrap().to_string(), "10.244.1.0/24");
        assert_eq!(env.subnet_text.as_deref(), Some("10.244.1.1/24"));
        assert_eq!(env.mtu, Some(1450));
        let cfg = r.active_cni_config().unwrap();
        assert_eq!(cfg.name.as_deref(), Some("cbr0"));
        assert_eq!(cfg.plugins, ["flannel", "portmap"]);
        assert_eq!(r.cni_configs.found().unwrap().len(), 1);
        let nets = r.ipam.found().unwrap();
        assert_eq!(nets.len(), 1);
        assert_eq!(nets[0].reservations.len(), 2);
        assert_eq!(nets[0].capacity, Some(253));
        assert_eq!(
            nets[0].range_source.as_deref(),
            Some("10-flannel.conflist via subnet.env")
        );
        let leaked = r.leaked(&nets[0]).unwrap();
        assert_eq!(leaked.len(), 1);
        assert_eq!(leaked[0].sandbox, gone);
        assert_eq!(r.ip_forward, Probe::Found(true));
        let cni0 = r.link("cni0").unwrap();
        assert_eq!(cni0.operstate.as_deref(), Some("up"));
        assert_eq!(cni0.addresses[0].to_string(), "10.244.1.1/24");
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn an_empty_root_reports_missing_and_no_sandbox_list() {
        let root = tmp("empty");
        // A node's root without the network files (an empty one is not a node's).
        std::fs::create_dir_all(root.join("etc")).unwrap();
        let r = HostProbe::new(&root, Some("n".into())).run();
        assert!(r.subnet_env.is_missing());
        assert!(r.cni_configs.is_missing());
        assert!(r.ipam.is_missing());
        assert!(r.ip_forward.is_missing());
        assert!(matches!(&r.sandboxes, Probe::Error(e) if e.contains("--sandboxes-command")));
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn sandbox_command_runs_without_a_shell_and_times_out() {
        let root = tmp("cmd");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        let mut p = HostProbe::new(&root, None);
        assert!(matches!(p.run().sandboxes, Probe::Error(e) if e.contains("not a known node")));
        p.node = Some("n".into());
        p.sandboxes_command = Some(vec![
            "printf".into(),
            "abcdef0123456789\\nnot-an-id\\n".into(),
        ]);
        let r = p.run();
        let list = r.sandboxes.found().unwrap();
        assert_eq!(list.ids.iter().collect::<Vec<_>>(), ["abcdef0123456789"]);
        assert_eq!(
            list.source,
            "command `printf abcdef0123456789\\nnot-an-id\\n`"
        );
        p.sandboxes_command = Some(vec!["sleep".into(), "5".into()]);
        p.timeout = Duration::from_millis(200);
        assert!(matches!(p.run().sandboxes, Probe::Error(e) if e.contains("did not answer")));
        p.sandboxes_command = Some(vec!["false".into()]);
        assert!(matches!(p.run().sandboxes, Probe::Error(e) if e.contains("failed")));
        p.sandboxes_command = Some(vec!["/nonexistent/crictl".into()]);
        assert!(matches!(p.run().sandboxes, Probe::Error(e) if e.contains("cannot run")));
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn cni_configs_parse_conf_and_conflist() {
        let c = parse_cni_config(
            "10-bridge.conf",
            r#"{"name": "mynet", "type": "bridge", "bridge": "cni0",
                "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.22.0.0/16"}]]}}"#,
        );
        assert!(c.usable());
        assert_eq!(c.plugins, ["bridge"]);
        assert_eq!(c.ipam_type.as_deref(), Some("host-local"));
        assert_eq!(c.ranges[0].to_string(), "10.22.0.0/16");
        let c = parse_cni_config(
            "10-calico.conflist",
            r#"{"name": "k8s-pod-network", "plugins": [
            {"type": "calico", "ipam": {"type": "calico-ipam"}}, {"type": "portmap"}]}"#,
        );
        assert_eq!(c.ipam_type.as_deref(), Some("calico-ipam"));
        assert!(c.ranges.is_empty());
        assert!(!parse_cni_config("x.conf", "{").usable());
        assert!(!parse_cni_config("x.conf", "{\"name\": \"n\"}").usable());
    }
}
