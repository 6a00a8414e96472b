//! `kcops setup reset`: what a reset removes, gathered from the host root and shown
//! as a plan before anything runs — kubeadm's own reset, then what it leaves behind
//! and people otherwise remove by hand: the pod network's links, `/etc/cni/net.d`,
//! `/var/lib/cni`, the user's kubeconfig (moved aside), and, only when chosen,
//! iptables/IPVS rules. The dry-run prints exactly the plan the run executes.

use std::path::{Path, PathBuf};

use crate::host::read::{HostFiles, LocalRoot};
use crate::model::host::Probe;
use crate::ops::op::{ObjectRef, Op};
use crate::ops::plan::{Confirmation, Plan, Step};
use crate::ops::steps::node_reset::NodeOp;

/// Links a pod network add-on creates, by exact name.
pub const NETWORK_LINKS: &[&str] = &["cni0", "flannel.1", "flannel0", "tunl0", "vxlan.calico"];
/// ... and by prefix (calico's per-pod veths).
pub const NETWORK_LINK_PREFIXES: &[&str] = &["cali"];
/// Directories the CNI plugins keep their config and state in.
pub const CNI_DIRS: &[&str] = &["/etc/cni/net.d", "/var/lib/cni"];

/// What the reset judges, read once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetFacts {
    pub host_root: PathBuf,
    /// kubeadm's binary, `None` when it is not installed.
    pub kubeadm: Option<PathBuf>,
    pub cri_socket: Option<String>,
    /// Pod-network links present now (read from `<root>/sys/class/net`).
    pub links: Probe<Vec<String>>,
    /// CNI directories present now.
    pub dirs: Vec<String>,
    /// The user's kubeconfig, when it exists, and where it would be moved.
    pub kubeconfig: Option<(PathBuf, PathBuf)>,
    /// Cluster rules (KUBE-, FLANNEL, cali-) in iptables, or why they could not be read.
    pub iptables_rules: Result<usize, String>,
    /// The name the operator types to confirm.
    pub machine: String,
}

/// What the operator chose besides the defaults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResetChoices {
    /// Flush iptables and clear IPVS too (it removes every rule, not only Kubernetes').
    pub iptables: bool,
}

/// The pod-network links among `names`, sorted.
pub fn network_links(names: &[String]) -> Vec<String> {
    let mut out: Vec<String> = names
        .iter()
        .filter(|n| {
            NETWORK_LINKS.contains(&n.as_str())
                || NETWORK_LINK_PREFIXES.iter().any(|p| n.starts_with(p))
        })
        .cloned()
        .collect();
    out.sort();
    out
}

/// `kubeadm` from `explicit` or PATH.
pub fn find_kubeadm(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_path_buf());
    }
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join("kubeadm"))
            .find(|p| p.is_file())
    })
}

/// Where the user's kubeconfig goes: beside it, with the time in its name.
pub fn backup_path(path: &Path, now: jiff::Timestamp) -> PathBuf {
    let stamp = now.strftime("%Y%m%dT%H%M%SZ").to_string();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "config".into());
    path.with_file_name(format!("{name}.kcops-backup-{stamp}"))
}

/// Reads what a reset would remove.
pub async fn gather(
    host_root: &Path,
    kubeadm: Option<&Path>,
    kubeconfig: Option<PathBuf>,
    cri_socket: Option<String>,
) -> ResetFacts {
    let root = LocalRoot(host_root.to_path_buf());
    let links = root.list_dir("/sys/class/net").map(|n| network_links(&n));
    let dirs = CNI_DIRS
        .iter()
        .filter(|d| root.0.join(d.trim_start_matches('/')).exists())
        .map(|d| d.to_string())
        .collect();
    let kubeconfig = kubeconfig
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".kube/config")))
        .filter(|p| p.is_file())
        .map(|p| {
            let b = backup_path(&p, jiff::Timestamp::now());
            (p, b)
        });
    ResetFacts {
        host_root: host_root.to_path_buf(),
        kubeadm: find_kubeadm(kubeadm),
        cri_socket,
        links,
        dirs,
        kubeconfig,
        iptables_rules: crate::ops::steps::node_reset::cluster_rules().await,
        machine: super::preflight::network::hostname(&root)
            .unwrap_or_else(|| "this-machine".into()),
    }
}

/// The reset plan: every removal a step, destructive, confirmed by the machine's name.
pub fn plan(f: &ResetFacts, choices: ResetChoices) -> Plan {
    let mut plan = Plan::new(
        format!("Reset {} to a clean state", f.machine),
        ObjectRef::new("Host", None, f.machine.as_str()),
        Confirmation::TypedName(f.machine.clone()),
    );
    let node = |op: NodeOp| Step::new(Op::Node(op), true);
    if let Some(k) = &f.kubeadm {
        plan = plan.step(node(NodeOp::KubeadmReset {
            kubeadm: k.clone(),
            host_root: f.host_root.clone(),
            cri_socket: f.cri_socket.clone(),
        }));
    }
    if let Probe::Found(links) = &f.links {
        for name in links {
            plan = plan.step(node(NodeOp::RemoveLink { name: name.clone() }));
        }
    }
    for d in &f.dirs {
        plan = plan.step(node(NodeOp::RemoveDir {
            host_root: f.host_root.clone(),
            path: d.clone(),
        }));
    }
    if let Some((path, backup)) = &f.kubeconfig {
        plan = plan.step(node(NodeOp::BackupFile {
            path: path.clone(),
            backup: backup.clone(),
        }));
    }
    if choices.iptables {
        plan = plan.step(node(NodeOp::FlushIptables {
            ipvs: which("ipvsadm"),
        }));
    }
    plan
}

fn which(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
}

/// What the plan does not do, said beside it: a missing kubeadm, unread links, the
/// iptables rules left alone unless chosen.
pub fn notes(f: &ResetFacts, choices: ResetChoices) -> Vec<String> {
    let mut out = Vec::new();
    if f.kubeadm.is_none() {
        out.push("kubeadm is not on PATH: its own reset (the kubelet, containers, /etc/kubernetes, /var/lib/{kubelet,etcd}) is not part of this plan; install kubeadm or pass --kubeadm".into());
    }
    match &f.links {
        Probe::Found(l) if l.is_empty() => {
            out.push("no pod-network links (cni0, flannel.1, cali*, tunl0, vxlan.calico)".into())
        }
        Probe::Found(_) => {}
        Probe::Missing => out.push(format!(
            "{}/sys/class/net is missing: links not read, none removed",
            f.host_root.display()
        )),
        Probe::Error(e) => out.push(format!("links not read ({e}): none removed")),
    }
    if f.dirs.is_empty() {
        out.push("no /etc/cni/net.d or /var/lib/cni".into());
    }
    if f.kubeconfig.is_none() {
        out.push("no kubeconfig of yours to move aside".into());
    }
    match (&f.iptables_rules, choices.iptables) {
        (Ok(0), false) => out.push("iptables: no KUBE-, FLANNEL or cali- rules".into()),
        (Ok(n), false) => out.push(format!(
            "iptables: {n} KUBE-, FLANNEL or cali- rules and chains stay (pass --iptables to flush every rule, Kubernetes' or not)"
        )),
        (Err(e), false) => out.push(format!("iptables not read: {e}")),
        (_, true) => {}
    }
    out
}

/// The dry-run's text: the plan, then the notes.
pub fn render(f: &ResetFacts, choices: ResetChoices) -> Vec<String> {
    let plan = plan(f, choices);
    let mut out = if plan.steps.is_empty() {
        vec![format!("Nothing to remove on {}.", f.machine)]
    } else {
        plan.render()
    };
    for n in notes(f, choices) {
        out.push(format!("Note: {n}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> ResetFacts {
        ResetFacts {
            host_root: "/".into(),
            kubeadm: Some("/usr/bin/kubeadm".into()),
            cri_socket: None,
            links: Probe::Found(network_links(&[
                "eth0".into(),
                "flannel.1".into(),
                "cni0".into(),
                "cali12ab".into(),
                "lo".into(),
            ])),
            dirs: vec!["/etc/cni/net.d".into()],
            kubeconfig: Some(("/root/.kube/config".into(), "/root/.kube/config.bak".into())),
            iptables_rules: Ok(12),
            machine: "master".into(),
        }
    }

    #[test]
    fn the_plan_removes_kubeadm_then_links_then_dirs_then_moves_the_kubeconfig() {
        let p = plan(&facts(), ResetChoices::default());
        let text = p.render();
        assert_eq!(text[0], "Reset master to a clean state");
        assert!(text[3].contains("/usr/bin/kubeadm reset -f"), "{}", text[3]);
        assert_eq!(
            text[4],
            "  2. [destructive] Delete network link cali12ab (netlink)"
        );
        assert_eq!(
            text[5],
            "  3. [destructive] Delete network link cni0 (netlink)"
        );
        assert_eq!(
            text[6],
            "  4. [destructive] Delete network link flannel.1 (netlink)"
        );
        assert_eq!(
            text[7],
            "  5. [destructive] Remove directory /etc/cni/net.d"
        );
        assert!(text[8].contains("Move the kubeconfig /root/.kube/config aside"));
        assert_eq!(text[9], "Confirmation: type \"master\"");
        assert!(p.validate().is_ok());
        let notes = notes(&facts(), ResetChoices::default());
        assert!(
            notes
                .iter()
                .any(|n| n.contains("12 KUBE-, FLANNEL or cali- rules"))
        );
        let with = plan(&facts(), ResetChoices { iptables: true });
        assert!(
            with.steps
                .last()
                .unwrap()
                .description
                .starts_with("Flush iptables")
        );
    }

    #[test]
    fn no_kubeadm_is_said_not_hidden() {
        let mut f = facts();
        f.kubeadm = None;
        assert!(notes(&f, ResetChoices::default())[0].starts_with("kubeadm is not on PATH"));
        assert!(!plan(&f, ResetChoices::default()).render()[3].contains("kubeadm"));
    }

    #[test]
    fn backups_carry_the_time() {
        let t: jiff::Timestamp = "2026-12-04T07:30:00Z".parse().unwrap();
        assert_eq!(
            backup_path(Path::new("/root/.kube/config"), t),
            Path::new("/root/.kube/config.kcops-backup-20261204T073000Z")
        );
    }
}
