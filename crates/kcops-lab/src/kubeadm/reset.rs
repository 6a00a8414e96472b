//! `kubeadm reset` on a lab machine: what init/join wrote goes; what kubeadm's reset
//! leaves (CNI config, links, iptables, kubeconfigs) stays.

use std::io::Write;

use anyhow::{Context, Result, bail};

use super::cluster::Request;
use super::{Machine, ResetArgs, host, say};

pub(super) async fn reset(m: &Machine, a: ResetArgs) -> Result<()> {
    say(&format!(
        "W{} {:>7} preflight.go:56] [reset] WARNING: Changes made to this host by 'kubeadm init' or 'kubeadm join' will be reverted.",
        crate::scenario::klog_time(jiff::Timestamp::now()),
        std::process::id()
    ));
    if !a.force {
        print!("[reset] Are you sure you want to proceed? [y/N]: ");
        let _ = std::io::stdout().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        if !matches!(answer.trim().to_lowercase().as_str(), "y" | "yes") {
            bail!("aborted reset operation");
        }
    }
    say("[preflight] Running pre-flight checks");
    // The lab's cluster may be gone already; the machine is reset regardless.
    let _ = m
        .ask(&Request::Reset {
            node: m.node.clone(),
        })
        .await;
    host::clear_dir(&m.root, "/var/lib/etcd")?;
    say("[reset] Deleted contents of the etcd data directory: /var/lib/etcd");
    say("[reset] Stopping the kubelet service");
    say("[reset] Unmounting mounted directories in \"/var/lib/kubelet\"");
    for dir in host::RESET_DIRS {
        host::clear_dir(&m.root, dir)?;
    }
    say(&format!(
        "[reset] Deleting contents of directories: [{}]",
        host::RESET_DIRS.join(" ")
    ));
    let files: Vec<String> = host::CONF_FILES
        .iter()
        .map(|f| format!("/etc/kubernetes/{f}"))
        .collect();
    for f in &files {
        let p = m.root.join(f.trim_start_matches('/'));
        if p.exists() {
            std::fs::remove_file(&p).with_context(|| format!("cannot remove {}", p.display()))?;
        }
    }
    say(&format!("[reset] Deleting files: [{}]", files.join(" ")));
    say("");
    say(
        "The reset process does not clean CNI configuration. To do so, you must remove /etc/cni/net.d",
    );
    say("");
    say("The reset process does not reset or clean up iptables rules or IPVS tables.");
    say(
        "If you wish to reset iptables, you must do so manually by using the \"iptables\" command.",
    );
    say("");
    say("If your cluster was setup to utilize IPVS, run ipvsadm --clear (or similar)");
    say("to reset your system's IPVS tables.");
    say("");
    say(
        "The reset process does not clean your kubeconfig files and you must remove them manually.",
    );
    say("Please, check the contents of the $HOME/.kube/config file.");
    Ok(())
}
