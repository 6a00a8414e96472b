//! `kcops setup init` end to end on the lab's `kubeadm` scenario (its kubeadm
//! stand-in on master's PATH): through the wizard in a pty at 80x24, from the
//! preflight to a Ready node — the config written, kubeadm's phases shown, the
//! kubeconfig installed for the user (the earlier one kept), flannel applied with the
//! form's pod subnet and the advertise address's interface, and the join command.

mod common;

use std::path::Path;
use std::time::Duration;

use common::containerd::Containerd;
use common::pty::Console;
use common::{shared, wait_for};
use portable_pty::CommandBuilder;

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    if !p.exists() {
        std::fs::write(p, text).unwrap();
    }
}

#[test]
fn init_through_the_wizard_ends_with_a_ready_cluster_and_flannel() {
    let lab = shared("setup-init", "kubeadm", &["--no-ceph"]);
    let root = lab.host_root("master");
    let dir = lab.runtime_dir.join("setup-init");
    std::fs::create_dir_all(dir.join("home/.kube")).unwrap();
    std::fs::write(dir.join("home/.kube/config"), "# an earlier cluster's\n").unwrap();
    // What the machine has installed besides the lab's kubeadm: the tools kubeadm
    // checks for (names only: the stand-in never calls them) and a real containerd.
    for bin in [
        "kubelet",
        "kubectl",
        "crictl",
        "conntrack",
        "ip",
        "iptables",
        "mount",
        "nsenter",
    ] {
        write(&root, &format!("usr/bin/{bin}"), "");
    }
    // The machine's interface as its network namespace has it (the kubeadm scenario
    // declares no host links, so the host root does not list it yet).
    let ip = lab.node_ip("master");
    write(&root, "sys/class/net/eth0/operstate", "up\n");
    write(
        &root,
        "sys/class/net/eth0/kcops-addresses",
        &format!("{ip}/24\n"),
    );
    // br_netfilter loaded, as the preflight's fix says (the lab's machines have not).
    write(&root, "proc/sys/net/bridge/bridge-nf-call-iptables", "1\n");
    let _runtime = Containerd::start(&root, &dir.join("ctrd"), true);

    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_kcops"));
    cmd.args(["--host-root", &root.display().to_string()]);
    cmd.args([
        "setup",
        "init",
        "--image-repository",
        "127.0.0.1:9",
        "--kubeadm",
        &root.join("usr/bin/kubeadm").display().to_string(),
        "--untaint",
    ]);
    cmd.cwd(&dir);
    cmd.env("HOME", dir.join("home"));
    cmd.env("XDG_STATE_HOME", dir.join("state"));
    cmd.env("XDG_CONFIG_HOME", dir.join("config"));
    cmd.env("KCOPS_LAB_KUBEADM_PHASE_MS", "0");
    cmd.env("TERM", "xterm-256color");
    let mut c = Console::spawn(cmd, 24, 80, dir.clone());

    let screen = c.wait_text("enter continue", Duration::from_secs(30));
    assert!(!screen.contains("Blocked"), "{screen}");
    c.send("\r");
    let screen = c.wait_text("kubeadm init settings", Duration::from_secs(5));
    let address = screen
        .lines()
        .find_map(|l| l.split("Advertise address").nth(1))
        .map(|r| r.trim().trim_end_matches('│').trim().to_string())
        .unwrap_or_default();
    assert_eq!(
        address, ip,
        "the machine's one address is the default:\n{screen}"
    );
    c.send("\r");
    c.wait_text("Review the kubeadm config", Duration::from_secs(5));
    c.send("\r");
    let screen = c.wait(
        "init and the steps after it",
        Duration::from_secs(240),
        |s| s.contains("kubeadm init finished.") || s.contains("Stopped:"),
    );
    assert!(screen.contains("kubeadm init finished."), "{screen}");
    for phase in [
        "[certs]",
        "[kubeconfig]",
        "[addons]",
        "[kcops flannel]",
        "[kcops wait-ready]",
    ] {
        assert!(screen.contains(phase), "{phase} missing:\n{screen}");
    }
    assert!(
        screen.contains("Join other machines with: kubeadm join"),
        "{screen}"
    );
    // Journaled: the intent before kubeadm ran, the outcome after.
    let audit = std::fs::read_to_string(dir.join("state/kcops/audit.log")).unwrap();
    let lines: Vec<&str> = audit
        .lines()
        .filter(|l| l.contains("\"action\":\"kubeadm-init\""))
        .collect();
    assert_eq!(lines.len(), 2, "{audit}");
    assert!(lines[0].contains("\"result\":\"intent\""), "{audit}");
    assert!(lines[1].contains("\"result\":\"ok\""), "{audit}");
    let config = std::fs::read_to_string(dir.join("state/kcops/kubeadm-init.yaml")).unwrap();
    assert!(
        config.contains(&format!("advertiseAddress: \"{address}\"")),
        "{config}"
    );

    // The user's kubeconfig is the new cluster's; the earlier one is kept beside it.
    let kubeconfig = dir.join("home/.kube/config");
    let backups = std::fs::read_dir(dir.join("home/.kube"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("config.kcops-backup-")
        })
        .count();
    assert_eq!(backups, 1);
    let get = |args: &[&str]| {
        let out = lab.kubectl_as(&kubeconfig, args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let net_conf = get(&[
        "-n",
        "kube-flannel",
        "get",
        "configmap",
        "kube-flannel-cfg",
        "-o",
        "jsonpath={.data.net-conf\\.json}",
    ]);
    assert!(
        net_conf.contains("\"Network\": \"10.244.0.0/16\""),
        "{net_conf}"
    );
    let args = get(&[
        "-n",
        "kube-flannel",
        "get",
        "daemonset",
        "kube-flannel-ds",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].args}",
    ]);
    assert!(args.contains("--iface="), "{args}");
    let ready = wait_for("master Ready", Duration::from_secs(30), || {
        let s = get(&[
            "get",
            "node",
            "master",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
        ]);
        (s == "True").then_some(s)
    });
    assert_eq!(ready, "True");
    c.send("\x1b");
}
