//! `kcops setup reset` for real, in a network namespace this test creates: a bridge
//! `cni0`, a vxlan `flannel.1` and a calico-like `cali7f3e` beside a link that is not
//! the pod network's (`eth9`), and a host root with `/etc/cni/net.d` and
//! `/var/lib/cni`. The dry-run's list must be exactly what the run then removes, the
//! links must be gone from the namespace (read back through its /sys), the kubeconfig
//! moved aside, and `--read-only` or a wrong typed name must remove nothing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A network namespace removed when the test ends, whatever happens.
struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("ip runs");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The links of the namespace, read through its own /sys.
fn links_in(ns: &str) -> Vec<String> {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "ls", "/sys/class/net"])
        .output()
        .expect("ls runs");
    let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

struct Env {
    ns: String,
    root: PathBuf,
    home: PathBuf,
    state: PathBuf,
}

impl Env {
    /// `kcops setup reset` inside the namespace (`ip netns exec` mounts its /sys).
    fn reset(&self, global: &[&str], extra: &[&str], stdin: &str) -> Output {
        let root = self.root.to_string_lossy().into_owned();
        let mut args = vec![
            "netns",
            "exec",
            &self.ns,
            env!("CARGO_BIN_EXE_kcops"),
            "--host-root",
            &root,
        ];
        args.extend_from_slice(global);
        args.extend_from_slice(&["setup", "reset"]);
        args.extend_from_slice(extra);
        let mut child = Command::new("ip")
            .args(&args)
            .env("HOME", &self.home)
            .env("XDG_STATE_HOME", &self.state)
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env_remove("KUBECONFIG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kcops runs");
        use std::io::Write;
        if let Some(mut i) = child.stdin.take() {
            let _ = i.write_all(stdin.as_bytes());
        }
        child.wait_with_output().expect("kcops finishes")
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The numbered steps of a printed plan (`  2. [destructive] Delete ...`).
fn plan_steps(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| {
            let (n, rest) = l.trim_start().split_once(". [destructive] ")?;
            n.parse::<usize>().ok()?;
            Some(rest.to_string())
        })
        .collect()
}

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

#[test]
fn reset_removes_exactly_what_its_dry_run_listed() {
    let id = std::process::id();
    let ns = Netns(format!("kcops-reset-{id}"));
    ip(&["netns", "add", &ns.0]);
    ip(&["-n", &ns.0, "link", "add", "cni0", "type", "bridge"]);
    ip(&[
        "-n",
        &ns.0,
        "link",
        "add",
        "flannel.1",
        "type",
        "vxlan",
        "id",
        "1",
        "dstport",
        "8472",
        "nolearning",
    ]);
    ip(&["-n", &ns.0, "link", "add", "cali7f3e", "type", "bridge"]);
    ip(&["-n", &ns.0, "link", "add", "eth9", "type", "bridge"]);
    ip(&["-n", &ns.0, "link", "set", "cni0", "up"]);

    let base = std::env::temp_dir().join(format!("kcops-setup-reset-{id}"));
    let _ = std::fs::remove_dir_all(&base);
    let env = Env {
        ns: ns.0.clone(),
        root: base.join("root"),
        home: base.join("home"),
        state: base.join("state"),
    };
    write(&env.root, "etc/hostname", "resetnode\n");
    write(&env.root, "etc/cni/net.d/10-flannel.conflist", "{}");
    write(
        &env.root,
        "var/lib/cni/networks/cbr0/10.244.0.5",
        "sandbox\neth0\n",
    );
    std::os::unix::fs::symlink("/sys", env.root.join("sys")).unwrap();
    write(&env.home, ".kube/config", "apiVersion: v1\nkind: Config\n");
    std::fs::create_dir_all(&env.state).unwrap();

    let dry = env_dry(&env);
    let listed = plan_steps(&dry);
    let root = env.root.display();
    let home = env.home.display();
    assert_eq!(listed.len(), 6, "dry-run:\n{dry}");
    assert_eq!(
        listed[..5],
        [
            "Delete network link cali7f3e (netlink)".to_string(),
            "Delete network link cni0 (netlink)".to_string(),
            "Delete network link flannel.1 (netlink)".to_string(),
            format!("Remove directory {root}/etc/cni/net.d"),
            format!("Remove directory {root}/var/lib/cni"),
        ],
        "dry-run:\n{dry}"
    );
    assert!(
        listed[5].starts_with(&format!(
            "Move the kubeconfig {home}/.kube/config aside to {home}/.kube/config.kcops-backup-"
        )),
        "{dry}"
    );
    assert!(dry.contains("Dry run: nothing will be changed."), "{dry}");
    assert!(dry.contains("Note: kubeadm is not on PATH"), "{dry}");
    assert_eq!(
        links_in(&ns.0),
        ["cali7f3e", "cni0", "eth9", "flannel.1", "lo"],
        "the dry-run removed nothing"
    );

    // Refused: read-only mode, and a wrong typed name. Nothing goes.
    let ro = env.reset(&["--read-only"], &[], "resetnode\n");
    assert_eq!(ro.status.code(), Some(1), "{}", text(&ro));
    assert!(text(&ro).contains("read-only"), "{}", text(&ro));
    let wrong = env.reset(&[], &[], "resetnod\n");
    assert_eq!(wrong.status.code(), Some(1), "{}", text(&wrong));
    assert!(text(&wrong).contains("does not match"), "{}", text(&wrong));
    assert_eq!(links_in(&ns.0).len(), 5);
    assert!(env.root.join("etc/cni/net.d").exists());

    // The run: the machine's name typed, each listed step done, in order.
    let run = env.reset(&[], &[], "resetnode\n");
    let out = text(&run);
    assert_eq!(run.status.code(), Some(0), "{out}");
    let total = listed.len();
    for (i, step) in listed.iter().enumerate() {
        let started = format!("[{}/{total}] {}", i + 1, step);
        // The backup's name carries the time of each run's own gathering.
        let prefix = step.split(".kcops-backup-").next().unwrap_or(step);
        assert!(
            out.lines().any(|l| l.starts_with(&started)
                || l.starts_with(&format!("[{}/{total}] {prefix}", i + 1))),
            "step {} not started as listed ({step}):\n{out}",
            i + 1
        );
        assert!(
            out.contains(&format!("[{}/{total}] done: ", i + 1)),
            "step {} not done:\n{out}",
            i + 1
        );
    }
    assert!(
        !out.contains("already done"),
        "every listed step removed something:\n{out}"
    );
    assert_eq!(links_in(&ns.0), ["eth9", "lo"], "{out}");
    assert!(!env.root.join("etc/cni/net.d").exists());
    assert!(!env.root.join("var/lib/cni").exists());
    assert!(!env.home.join(".kube/config").exists());
    let backups: Vec<_> = std::fs::read_dir(env.home.join(".kube"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("config.kcops-backup-")
        })
        .collect();
    assert_eq!(backups.len(), 1);
    assert_eq!(
        std::fs::read_to_string(backups[0].path()).unwrap(),
        "apiVersion: v1\nkind: Config\n"
    );
    // Journaled: an intent before each step and its outcome after.
    let audit = std::fs::read_to_string(env.state.join("kcops/audit.log")).unwrap();
    assert_eq!(
        audit.matches("\"action\":\"delete-link\"").count(),
        3 * 2 + 3,
        "{audit}"
    );

    // Again: nothing left to remove.
    let again = env_dry(&env);
    assert!(again.contains("Nothing to remove on resetnode."), "{again}");
    let _ = std::fs::remove_dir_all(&base);
}

fn env_dry(env: &Env) -> String {
    let o = env.reset(&[], &["--dry-run"], "");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    text(&o)
}
