//! `kcops setup init` in a pseudo-terminal at 80x24, on host roots this test builds:
//! one with what an interrupted first install leaves (the kubelet still on 10250, a
//! static pod manifest, swap on) must list each leftover, block, and offer the reset
//! first; a clean one (a real containerd on its socket, two addresses) must reach
//! the form, refuse overlapping subnets and a missing advertise address, and show
//! the kubeadm config in full on the review page without writing it.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::containerd::Containerd;
use common::pty::Console;
use portable_pty::CommandBuilder;

const TCP_HEADER: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// A machine with two addresses, swap off, forwarding on, the binaries kubeadm needs.
fn clean_root(root: &Path) {
    write(root, "etc/hostname", "master\n");
    write(root, "etc/hosts", "127.0.0.1 localhost\n10.0.0.5 master\n");
    for (name, addr) in [
        ("lo", "127.0.0.1/8"),
        ("eth0", "203.0.113.10/24"),
        ("eth1", "10.0.0.5/24"),
    ] {
        write(root, &format!("sys/class/net/{name}/operstate"), "up\n");
        write(
            root,
            &format!("sys/class/net/{name}/kcops-addresses"),
            &format!("{addr}\n"),
        );
    }
    write(
        root,
        "proc/net/route",
        "Iface\tDestination\tGateway\tFlags\neth0\t00000000\t0100710A\t0003\n",
    );
    write(root, "proc/net/tcp", TCP_HEADER);
    write(root, "proc/net/tcp6", TCP_HEADER);
    write(root, "proc/swaps", "Filename\tType\tSize\tUsed\tPriority\n");
    write(root, "proc/sys/net/ipv4/ip_forward", "1\n");
    write(root, "proc/sys/net/bridge/bridge-nf-call-iptables", "1\n");
    for bin in [
        "kubeadm",
        "kubelet",
        "kubectl",
        "crictl",
        "conntrack",
        "ip",
        "iptables",
        "mount",
        "nsenter",
        "ebtables",
        "ethtool",
        "socat",
        "tc",
        "touch",
    ] {
        write(root, &format!("usr/bin/{bin}"), "");
    }
}

fn start(root: &Path, dir: &Path) -> Console {
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_kcops"));
    cmd.args(["--host-root", &root.display().to_string()]);
    // Refused at once: the probe is not what these tests are about.
    cmd.args(["setup", "init", "--image-repository", "127.0.0.1:9"]);
    std::fs::create_dir_all(dir.join("home")).unwrap();
    cmd.cwd(dir);
    cmd.env("HOME", dir.join("home"));
    cmd.env("XDG_STATE_HOME", dir.join("state"));
    cmd.env("XDG_CONFIG_HOME", dir.join("config"));
    cmd.env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
    cmd.env("TERM", "xterm-256color");
    Console::spawn(cmd, 24, 80, dir.to_path_buf())
}

fn base(tag: &str) -> PathBuf {
    let b = std::env::temp_dir().join(format!("kcops-setup-init-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&b);
    std::fs::create_dir_all(&b).unwrap();
    b
}

#[test]
fn the_preflight_blocks_on_an_interrupted_installs_leftovers() {
    let b = base("leftovers");
    let root = b.join("root");
    clean_root(&root);
    // The kubelet of the interrupted attempt still listens on 10250 ...
    write(
        &root,
        "proc/net/tcp",
        &format!(
            "{TCP_HEADER}   0: 00000000:280A 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0\n"
        ),
    );
    write(&root, "proc/812/comm", "kubelet\n");
    std::fs::create_dir_all(root.join("proc/812/fd")).unwrap();
    std::os::unix::fs::symlink("socket:[4242]", root.join("proc/812/fd/9")).unwrap();
    // ... its static pods are written, and swap is on.
    write(
        &root,
        "etc/kubernetes/manifests/kube-apiserver.yaml",
        "kind: Pod\n",
    );
    write(&root, "etc/cni/net.d/10-flannel.conflist", "{}");
    write(
        &root,
        "proc/swaps",
        "Filename\tType\tSize\tUsed\tPriority\n/swap.img file 2097148 0 -2\n",
    );
    let _runtime = Containerd::start(&root, &b.join("ctrd"), true);

    // Without the TUI: the table, each leftover failing, exit 1.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kcops"))
        .args(["--host-root", &root.display().to_string()])
        .args([
            "setup",
            "init",
            "--preflight-only",
            "--image-repository",
            "127.0.0.1:9",
        ])
        .env("XDG_STATE_HOME", b.join("state"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    // A check's row and the lines below it (its wrapped text and fix), as one line.
    let row = |id: &str| {
        let mut lines = text
            .lines()
            .skip_while(|l| l.split_whitespace().nth(1) != Some(id));
        let first = lines
            .next()
            .unwrap_or_else(|| panic!("no {id} row in\n{text}"));
        let rest = lines.take_while(|l| l.starts_with(' ') && !l.trim().is_empty());
        std::iter::once(first)
            .chain(rest)
            .map(str::trim)
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert!(row("port-10250").starts_with("fail"), "{text}");
    assert!(
        row("port-10250").contains("Port 10250 is in use by kubelet (pid 812)"),
        "{text}"
    );
    assert!(
        row("DirAvailable--etc-kubernetes-manifests")
            .contains("/etc/kubernetes/manifests is not empty (kube-apiserver.yaml)"),
        "{text}"
    );
    assert!(row("Swap").starts_with("fail"), "{text}");
    assert!(row("CRI").starts_with("pass"), "{text}");
    assert!(row("port-6443").starts_with("pass"), "{text}");
    assert!(text.contains("The last attempt was interrupted"), "{text}");

    // The wizard: blocked, each leftover on the first screen, the reset offered.
    let mut c = start(&root, &b);
    let screen = c.wait_text("Blocked:", Duration::from_secs(30));
    assert!(
        screen.contains("The last attempt was interrupted"),
        "{screen}"
    );
    assert!(
        screen.contains("Port 10250 is in use by kubelet"),
        "{screen}"
    );
    assert!(
        screen.contains(
            "fail    DirAvailable--etc-kubernetes-manifests: /etc/kubernetes/manifests is"
        ),
        "{screen}"
    );
    assert!(screen.contains("swap is on (/swap.img)"), "{screen}");
    assert!(screen.contains("enter reset first"), "{screen}");
    c.send("\r");
    let screen = c.wait_text("Type master to confirm", Duration::from_secs(15));
    assert!(
        screen.contains("Reset the interrupted attempt first"),
        "{screen}"
    );
    assert!(screen.contains("Remove directory"), "{screen}");
    // The reset runs from the wizard (the CNI config goes; no kubeadm here to clear
    // the manifests), then the preflight is read again: still blocked on them.
    c.send("master\r");
    let screen = c.wait_text("to a clean state: done.", Duration::from_secs(30));
    assert!(screen.contains("✓ [1/1]"), "{screen}");
    assert!(!root.join("etc/cni/net.d").exists());
    c.send("\r");
    let screen = c.wait_text("Blocked:", Duration::from_secs(15));
    assert!(
        screen.contains("The last attempt was interrupted"),
        "{screen}"
    );
    c.send("\x1b");
    let _ = std::fs::remove_dir_all(&b);
}

#[test]
fn init_on_a_clean_machine_reaches_the_config_review() {
    let b = base("clean");
    let root = b.join("root");
    clean_root(&root);
    let _runtime = Containerd::start(&root, &b.join("ctrd"), true);
    // The operator's keymap holds in setup too: f5 continues, and the hint says so.
    let config = b.join("config/kcops");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("keymap.toml"),
        "[wizard]\nnext = [\"f5\", \"enter\"]\n",
    )
    .unwrap();
    let mut c = start(&root, &b);
    let screen = c.wait_text("f5 continue", Duration::from_secs(30));
    assert!(!screen.contains("Blocked"), "{screen}");
    c.send("\x1b[15~");
    let screen = c.wait_text("kubeadm init settings", Duration::from_secs(5));
    assert!(
        screen.contains("203.0.113.10 (eth0), 10.0.0.5 (eth1)"),
        "{screen}"
    );
    // Two addresses: none is guessed.
    c.send("\r");
    c.wait_text("choose the advertise address", Duration::from_secs(5));
    c.send("10.0.0.5");
    // To the pod subnet (the 7th field): one inside the service subnet is refused.
    c.send(&"\t".repeat(6));
    c.send(&"\x7f".repeat(20));
    c.send("10.96.0.0/16\r");
    c.wait_text(
        "overlaps the service subnet 10.96.0.0/12",
        Duration::from_secs(5),
    );
    c.send(&"\x7f".repeat(20));
    c.send("10.244.0.0/16\r");
    let screen = c.wait_text("Review the kubeadm config", Duration::from_secs(5));
    assert!(screen.contains("kind: InitConfiguration"), "{screen}");
    assert!(
        screen.contains("advertiseAddress: \"10.0.0.5\""),
        "{screen}"
    );
    // The rest of the config scrolls into view.
    for _ in 0..12 {
        c.send("\x1b[B");
    }
    let screen = c.wait_text("podSubnet: \"10.244.0.0/16\"", Duration::from_secs(5));
    assert!(
        screen.contains("serviceSubnet: \"10.96.0.0/12\""),
        "{screen}"
    );
    assert!(screen.contains("--iface=eth1"), "{screen}");
    assert!(
        !b.join("state/kcops/kubeadm-init.yaml").exists(),
        "nothing is written before the operator goes on"
    );
    c.send("\x1b");
    let _ = std::fs::remove_dir_all(&b);
}

#[test]
fn an_unusable_addon_manifest_is_refused_before_any_screen() {
    let b = base("manifest");
    let bad = b.join("calico.yaml");
    std::fs::write(&bad, "kind: DaemonSet\nmetadata: {name: [calico-node\n").unwrap();
    for (path, says) in [
        (
            bad.clone(),
            format!("--addon-manifest: {}: ", bad.display()),
        ),
        (
            b.join("missing.yaml"),
            format!(
                "--addon-manifest: cannot read {}",
                b.join("missing.yaml").display()
            ),
        ),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_kcops"))
            .args(["--host-root", &b.display().to_string()])
            .args(["setup", "init", "--addon-manifest"])
            .arg(&path)
            .env("XDG_STATE_HOME", b.join("state"))
            .env("XDG_CONFIG_HOME", b.join("config"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert!(stderr.contains(&says), "{stderr}");
        // No screen was drawn: nothing switched to the alternate screen.
        assert!(!String::from_utf8_lossy(&out.stdout).contains("\x1b[?1049h"));
    }
    let _ = std::fs::remove_dir_all(&b);
}
