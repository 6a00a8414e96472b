//! `:reset-node` on a control-plane node of a kubeadm cluster with stacked etcd: the
//! node's etcd member leaves the etcd cluster in the same plan, after the drain and
//! before the Node is deleted, under the quorum guard. The lab (`etcd-scaled-down`, no
//! Ceph) gets kubeadm's stacked etcd as on a real control plane: a real etcd per node,
//! started by this test in the node's network namespace on the node's address (as
//! the static pod's host network puts it), and the mirror pods `kube-system/etcd-<node>`
//! (`component=etcd`, host network) the kubelet would post. The console (real binary,
//! 80x24, in the console node's namespace) polls them, and the wizard runs; then
//! `etcdctl member list` shows the two others, both healthy, and the Node is gone.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::pty::{Console, Options};
use common::{Lab, wait_for};

const NODES: [&str; 3] = ["master", "node1", "node2"];

struct Etcd(Vec<Child>);

impl Drop for Etcd {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The lab network namespace where `ip` is a local address (the node's own).
fn netns_of(ip: &str) -> String {
    let out = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap_or_else(|e| panic!("ip netns list: {e}"));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .find(|ns| {
            Command::new("ip")
                .args(["-n", ns, "-o", "-4", "addr", "show"])
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(&format!(" {ip}/")))
        })
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no network namespace holds {ip}"))
}

/// kubeadm's etcd PKI in the console node's host root: a CA and one certificate for
/// every node's address, good for serving and as the health-check client.
fn etcd_pki(lab: &Lab, ips: &[String]) -> std::path::PathBuf {
    let pki = lab.host_root("master").join("etc/kubernetes/pki/etcd");
    std::fs::create_dir_all(&pki).unwrap_or_else(|e| panic!("{e}"));
    let sans: Vec<String> = ips.iter().map(|ip| format!("IP:{ip}")).collect();
    let ext = pki.join("ext.cnf");
    std::fs::write(
        &ext,
        format!(
            "subjectAltName={},IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n",
            sans.join(",")
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .current_dir(&pki)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("openssl: {e}"));
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=etcd-ca",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "healthcheck-client.key",
        "-out",
        "member.csr",
        "-subj",
        "/CN=kube-etcd-healthcheck-client",
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        "member.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "healthcheck-client.crt",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    pki
}

/// One etcd per node, on the node's address, as kubeadm's static pods run it
/// (clients over mutual TLS, as kubeadm configures it).
fn start_stacked_etcd(lab: &Lab) -> Etcd {
    let ips: Vec<String> = NODES.iter().map(|n| lab.node_ip(n)).collect();
    let pki = etcd_pki(lab, &ips);
    let cluster = NODES
        .iter()
        .zip(&ips)
        .map(|(n, ip)| format!("{n}=http://{ip}:2380"))
        .collect::<Vec<_>>()
        .join(",");
    let children = NODES
        .iter()
        .zip(&ips)
        .map(|(n, ip)| {
            let dir = lab.runtime_dir.join(format!("stacked-etcd-{n}"));
            let log = std::fs::File::create(lab.runtime_dir.join(format!("stacked-etcd-{n}.log")))
                .unwrap_or_else(|e| panic!("{e}"));
            Command::new("ip")
                .args(["netns", "exec", &netns_of(ip), "etcd", "--name", n])
                .arg("--data-dir")
                .arg(&dir)
                .arg(format!("--listen-client-urls=https://{ip}:2379"))
                .arg(format!("--advertise-client-urls=https://{ip}:2379"))
                .arg(format!(
                    "--cert-file={}",
                    pki.join("healthcheck-client.crt").display()
                ))
                .arg(format!(
                    "--key-file={}",
                    pki.join("healthcheck-client.key").display()
                ))
                .arg(format!(
                    "--trusted-ca-file={}",
                    pki.join("ca.crt").display()
                ))
                .arg("--client-cert-auth")
                .arg(format!("--listen-peer-urls=http://{ip}:2380"))
                .arg(format!("--initial-advertise-peer-urls=http://{ip}:2380"))
                .arg(format!("--initial-cluster={cluster}"))
                .arg("--initial-cluster-state=new")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start etcd on {n}: {e}"))
        })
        .collect();
    Etcd(children)
}

/// The mirror pods kubeadm's kubelet posts for its static etcd.
fn mirror_pods(lab: &Lab) {
    let docs: Vec<String> = NODES
        .iter()
        .map(|n| {
            format!(
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: etcd-{n}\n  namespace: kube-system\n  labels: {{component: etcd, tier: control-plane}}\n  annotations: {{kubernetes.io/config.mirror: stacked-{n}}}\nspec:\n  nodeName: {n}\n  hostNetwork: true\n  priorityClassName: system-node-critical\n  tolerations: [{{operator: Exists}}]\n  containers:\n  - name: etcd\n    image: registry.k8s.io/etcd:3.5.21-0\n    command: [etcd, --name={n}, --listen-client-urls=https://{ip}:2379, --client-cert-auth=true]\n",
                ip = lab.node_ip(n)
            )
        })
        .collect();
    let path = lab.runtime_dir.join("stacked-etcd.yaml");
    std::fs::write(&path, docs.join("---\n")).unwrap_or_else(|e| panic!("{e}"));
    lab.kubectl_ok(&["apply", "-f", &path.display().to_string()]);
}

/// `etcdctl` against `endpoint` with kubeadm's health-check client certificate.
fn etcdctl(lab: &Lab, endpoint: &str, args: &[&str]) -> std::process::Output {
    let pki = lab.host_root("master").join("etc/kubernetes/pki/etcd");
    lab.in_netns("etcdctl")
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={endpoint}"))
        .arg(format!("--cacert={}", pki.join("ca.crt").display()))
        .arg(format!(
            "--cert={}",
            pki.join("healthcheck-client.crt").display()
        ))
        .arg(format!(
            "--key={}",
            pki.join("healthcheck-client.key").display()
        ))
        .args(["--dial-timeout", "2s", "--command-timeout", "3s"])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run etcdctl: {e}"))
}

/// The names in `etcdctl member list`.
fn members(lab: &Lab, endpoint: &str) -> Vec<String> {
    let out = etcdctl(lab, endpoint, &["member", "list"]);
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split(", ").nth(2).map(str::to_string))
        .collect();
    names.sort();
    names
}

/// The screen shows `✓ n/n`: the plan's last step done.
fn last_step_done(screen: &str) -> bool {
    screen.split("✓ ").skip(1).any(|rest| {
        let count: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
        count
            .split_once('/')
            .is_some_and(|(a, b)| a == b && !a.is_empty())
    })
}

#[test]
fn a_control_plane_node_leaves_the_stacked_etcd_through_reset_node() {
    let lab = Lab::start("rsetcd", "etcd-scaled-down", &["--no-ceph"]);
    let _etcd = start_stacked_etcd(&lab);
    let master = format!("https://{}:2379", lab.node_ip("master"));
    wait_for("three stacked members", Duration::from_secs(30), || {
        (members(&lab, &master) == ["master", "node1", "node2"]).then_some(())
    });
    lab.kubectl_ok(&[
        "label",
        "node",
        "node2",
        "node-role.kubernetes.io/control-plane=",
    ]);
    mirror_pods(&lab);
    wait_for("the mirror pods running", Duration::from_secs(60), || {
        let ips = lab.kubectl_ok(&[
            "get",
            "pods",
            "-n",
            "kube-system",
            "-l",
            "component=etcd",
            "-o",
            "jsonpath={.items[*].status.podIP}",
        ]);
        (ips.split_whitespace().count() == 3).then_some(())
    });

    let mut console = Console::start(
        &lab,
        Options {
            rows: 24,
            cols: 80,
            ..Default::default()
        },
    );
    console.wait_text("Overview", Duration::from_secs(60));
    // The member poll must have read the stacked etcd before the wizard is asked.
    console.send("9");
    console.wait_text("static pods", Duration::from_secs(60));
    console.send("j");
    console.wait(
        "node2's member polled healthy",
        Duration::from_secs(30),
        |s| {
            s.lines()
                .any(|l| l.contains("etcd-node2") && l.contains("healthy"))
        },
    );
    console.send(":reset-node node2\r");
    let first = console.wait_text("Drain", Duration::from_secs(30));
    assert!(!first.contains("refused"), "{first}");
    // Drain, Stacked etcd, Then..., then the plan with its typed confirmation.
    console.send("\r");
    let etcd = console.wait_text("runs a member of", Duration::from_secs(5));
    assert!(etcd.contains("members now: 3 (3 healthy)"), "{etcd}");
    console.send("\r\r");
    console.wait_text("Type node2", Duration::from_secs(5));
    console.send("node2\r");
    let done = console.wait("the plan's end", Duration::from_secs(120), |s| {
        s.contains('✗') || last_step_done(s)
    });
    assert!(!done.contains('✗'), "{done}");

    assert_eq!(members(&lab, &master), ["master", "node1"]);
    let health = etcdctl(&lab, &master, &["endpoint", "health", "--cluster"]);
    // etcdctl writes endpoint health to stderr.
    let health = format!(
        "{}{}",
        String::from_utf8_lossy(&health.stdout),
        String::from_utf8_lossy(&health.stderr)
    );
    assert_eq!(
        health.matches("is healthy").count(),
        2,
        "both members left are healthy:\n{health}"
    );
    let gone = lab.kubectl(&["get", "node", "node2"]);
    assert!(!gone.status.success(), "node2 is still there");
}
