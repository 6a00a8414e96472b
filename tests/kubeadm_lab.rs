//! The lab's `kubeadm` stand-in on the `kubeadm` scenario's machines: `init` with a
//! v1beta4 config prints kubeadm's phases, writes /etc/kubernetes under the machine's
//! host root and brings up a cluster whose node is NotReady ("cni plugin not
//! initialized") until flannel runs; `join` refuses a wrong CA hash and an unknown
//! token in kubeadm's words and registers a Ready node with the right ones; `reset`
//! removes what join wrote. One lab for the binary; `init` runs once.

mod common;

use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

use common::{Lab, shared, wait_for};

/// The initialised cluster: its lab, `init`'s output and its join command's parts.
struct Cluster {
    lab: &'static Lab,
    init_stdout: String,
    endpoint: String,
    token: String,
    hash: String,
}

const FLANNEL: &str = "apiVersion: v1\nkind: Namespace\nmetadata: {name: kube-flannel}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: kube-flannel-cfg, namespace: kube-flannel}\ndata:\n  net-conf.json: '{\"Network\": \"10.244.0.0/16\", \"Backend\": {\"Type\": \"vxlan\"}}'\n---\napiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: kube-flannel-ds, namespace: kube-flannel, labels: {app: flannel}}\nspec:\n  selector: {matchLabels: {app: flannel}}\n  template:\n    metadata: {labels: {app: flannel}}\n    spec:\n      hostNetwork: true\n      tolerations: [{operator: Exists, effect: NoSchedule}]\n      containers:\n      - {name: kube-flannel, image: 'ghcr.io/flannel-io/flannel:v0.26.1', command: [/opt/bin/flanneld, --ip-masq, --kube-subnet-mgr]}\n";

/// `kubeadm <args>` on `machine`, through the shim the lab wrote onto its PATH.
fn kubeadm(lab: &Lab, machine: &str, args: &[&str]) -> Output {
    let bin = lab.host_root(machine).join("usr/bin");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new("kubeadm")
        .args(args)
        .env("PATH", path)
        .env("KCOPS_LAB_KUBEADM_PHASE_MS", "0")
        .output()
        .unwrap_or_else(|e| panic!("cannot run the kubeadm shim: {e}"))
}

/// `kcops setup join` on `machine` (its host root, the stand-in kubeadm there), on a
/// machine prepared as an operator's would be: the tools kubeadm checks for, its
/// interface, br_netfilter, and a real containerd.
fn setup_join(lab: &Lab, machine: &str, endpoint: &str, token: &str, hash: &str) -> Output {
    let root = lab.host_root(machine);
    let write = |rel: &str, text: &str| {
        let p = root.join(rel);
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{e}"));
        }
        if !p.exists() {
            std::fs::write(&p, text).unwrap_or_else(|e| panic!("{e}"));
        }
    };
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
        write(&format!("usr/bin/{bin}"), "");
    }
    write("sys/class/net/eth0/operstate", "up\n");
    write(
        "sys/class/net/eth0/kcops-addresses",
        &format!("{}/24\n", lab.node_ip(machine)),
    );
    write("proc/sys/net/bridge/bridge-nf-call-iptables", "1\n");
    let dir = lab.runtime_dir.join(format!("setup-join-{machine}"));
    let _runtime = common::containerd::Containerd::start(&root, &dir.join("ctrd"), true);
    Command::new(env!("CARGO_BIN_EXE_kcops"))
        .args(["--host-root", &root.display().to_string(), "setup", "join"])
        .args([
            endpoint,
            "--token",
            token,
            "--discovery-token-ca-cert-hash",
            hash,
        ])
        .args([
            "--kubeadm",
            &root.join("usr/bin/kubeadm").display().to_string(),
        ])
        .env("HOME", dir.join("home"))
        .env("XDG_STATE_HOME", dir.join("state"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("KCOPS_LAB_KUBEADM_PHASE_MS", "0")
        .output()
        .unwrap_or_else(|e| panic!("cannot run kcops setup join: {e}"))
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn node_ready(lab: &Lab, kubeconfig: &std::path::Path, node: &str) -> Option<(String, String)> {
    let out = lab.kubectl_as(kubeconfig, &["get", "node", node, "-o", "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}|{.status.conditions[?(@.type==\"Ready\")].message}"]);
    let s = String::from_utf8_lossy(&out.stdout).into_owned();
    let (status, message) = s.split_once('|')?;
    Some((status.to_string(), message.to_string()))
}

fn cluster() -> &'static Cluster {
    static C: OnceLock<Cluster> = OnceLock::new();
    C.get_or_init(|| {
        let lab = shared("kubeadm", "kubeadm", &["--no-ceph"]);
        let root = lab.host_root("master");
        let config = lab.runtime_dir.join("kubeadm-init.yaml");
        std::fs::write(&config, "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nnodeRegistration:\n  criSocket: unix:///var/run/containerd/containerd.sock\n---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: v1.33.1\nimageRepository: registry.aliyuncs.com/google_containers\nnetworking:\n  podSubnet: 10.244.0.0/16\n  serviceSubnet: 10.96.0.0/12\n")
            .unwrap_or_else(|e| panic!("{e}"));
        let out = kubeadm(lab, "master", &["init", "--config", &config.display().to_string()]);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "kubeadm init failed:\n{stdout}\n{stderr}");
        let join = stdout
            .lines()
            .skip_while(|l| !l.starts_with("kubeadm join "))
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        let words: Vec<&str> = join.split_whitespace().collect();
        let after = |flag: &str| {
            words
                .iter()
                .position(|w| *w == flag)
                .and_then(|i| words.get(i + 1))
                .map(|s| s.to_string())
                .unwrap_or_else(|| panic!("no {flag} in {join:?}"))
        };
        let admin = root.join("etc/kubernetes/admin.conf");
        let (status, message) = wait_for("master registered", Duration::from_secs(20), || {
            node_ready(lab, &admin, "master")
        });
        assert_eq!(status, "False", "master is Ready before any network add-on");
        assert!(message.contains("cni plugin not initialized"), "{message}");
        let manifest = lab.runtime_dir.join("flannel.yaml");
        std::fs::write(&manifest, FLANNEL).unwrap_or_else(|e| panic!("{e}"));
        let applied = lab.kubectl_as(&admin, &["apply", "-f", &manifest.display().to_string()]);
        assert!(applied.status.success(), "{}", text(&applied).1);
        wait_for("master Ready once flannel runs", Duration::from_secs(60), || {
            node_ready(lab, &admin, "master").filter(|(s, _)| s == "True")
        });
        Cluster {
            lab,
            endpoint: words[2].to_string(),
            token: after("--token"),
            hash: after("--discovery-token-ca-cert-hash"),
            init_stdout: stdout,
        }
    })
}

#[test]
fn init_prints_kubeadms_phases_and_writes_etc_kubernetes() {
    let c = cluster();
    let _manifests = MANIFESTS.lock().unwrap_or_else(|p| p.into_inner());
    let phases: Vec<&str> = c
        .init_stdout
        .lines()
        .filter_map(|l| l.strip_prefix('[')?.split(']').next())
        .collect();
    for phase in [
        "init",
        "preflight",
        "certs",
        "kubeconfig",
        "etcd",
        "control-plane",
        "kubelet-start",
        "wait-control-plane",
        "api-check",
        "upload-config",
        "mark-control-plane",
        "bootstrap-token",
        "addons",
    ] {
        assert!(
            phases.contains(&phase),
            "no [{phase}] in:\n{}",
            c.init_stdout
        );
    }
    assert!(
        c.init_stdout
            .contains("[init] Using Kubernetes version: v1.33.1")
    );
    assert!(
        c.init_stdout
            .contains("[addons] Applied essential addon: CoreDNS")
    );
    assert!(
        c.init_stdout
            .contains("Your Kubernetes control-plane has initialized successfully!")
    );
    assert!(
        c.hash.starts_with("sha256:") && c.hash.len() == 71,
        "{}",
        c.hash
    );
    let root = c.lab.host_root("master");
    for f in [
        "etc/kubernetes/admin.conf",
        "etc/kubernetes/kubelet.conf",
        "etc/kubernetes/pki/ca.crt",
        "etc/kubernetes/pki/ca.key",
        "etc/kubernetes/manifests/etcd.yaml",
        "etc/kubernetes/manifests/kube-apiserver.yaml",
        "etc/kubernetes/manifests/kube-controller-manager.yaml",
        "etc/kubernetes/manifests/kube-scheduler.yaml",
        "var/lib/kubelet/config.yaml",
    ] {
        assert!(root.join(f).is_file(), "init did not write /{f}");
    }
    // The host probe reads the certificates init wrote, as check-expiration lists them.
    let report = kcops::host::probe::HostProbe::new(root.clone(), Some("master".into())).run();
    let certs = report.certs.found().cloned().unwrap_or_default();
    let names: Vec<&str> = certs.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names.len(), 10, "{names:?}");
    let in_300_days = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(300 * 24);
    for c in &certs {
        let at = c
            .not_after
            .clone()
            .unwrap_or_else(|e| panic!("{}: {e}", c.name));
        assert!(at > in_300_days, "{} expires {at}", c.name);
    }
    // kube-proxy got the pod subnet (seed 000's kube-proxy lacked it).
    let admin = root.join("etc/kubernetes/admin.conf");
    let cm = c.lab.kubectl_as(
        &admin,
        &[
            "get",
            "cm",
            "-n",
            "kube-system",
            "kube-proxy",
            "-o",
            "jsonpath={.data.config\\.conf}",
        ],
    );
    assert!(
        text(&cm).0.contains("clusterCIDR: 10.244.0.0/16"),
        "{}",
        text(&cm).0
    );
    // A second init on the same machine fails kubeadm's preflight on the leftovers
    // (its manifests among them: the renewal test moves them away for a while).
    let again = kubeadm(c.lab, "master", &["init"]);
    let (_, err) = text(&again);
    assert!(!again.status.success());
    assert!(
        err.contains(
            "[ERROR DirAvailable--etc-kubernetes-manifests]: /etc/kubernetes/manifests is not empty"
        ),
        "{err}"
    );
}

/// Joins change the node list a follow watches: one at a time.
static JOINS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Held while a test reads master's static pod manifests or moves them away.
static MANIFESTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn join_checks_token_and_hash_as_kubeadm_then_registers_a_ready_node() {
    let c = cluster();
    let _one = JOINS.lock().unwrap_or_else(|p| p.into_inner());
    let wrong_hash = format!("sha256:{}", "0".repeat(64));
    let out = kubeadm(
        c.lab,
        "node1",
        &[
            "join",
            &c.endpoint,
            "--token",
            &c.token,
            "--discovery-token-ca-cert-hash",
            &wrong_hash,
        ],
    );
    let (_, err) = text(&out);
    assert!(!out.status.success());
    assert!(
        err.contains(&format!("couldn't validate the identity of the API Server: cluster CA found in cluster-info ConfigMap is invalid: none of the public keys \"{}\" are pinned", c.hash)),
        "{err}"
    );
    let out = kubeadm(
        c.lab,
        "node1",
        &[
            "join",
            &c.endpoint,
            "--token",
            "abcdef.0123456789abcdef",
            "--discovery-token-ca-cert-hash",
            &c.hash,
        ],
    );
    let (_, err) = text(&out);
    assert!(!out.status.success());
    assert!(
        err.contains("token id \"abcdef\" is invalid for this cluster or it has expired"),
        "{err}"
    );
    assert!(
        !c.lab
            .host_root("node1")
            .join("etc/kubernetes/kubelet.conf")
            .exists(),
        "a refused join wrote kubelet.conf"
    );

    let out = kubeadm(
        c.lab,
        "node1",
        &[
            "join",
            &c.endpoint,
            "--token",
            &c.token,
            "--discovery-token-ca-cert-hash",
            &c.hash,
        ],
    );
    let (stdout, err) = text(&out);
    assert!(out.status.success(), "{stdout}\n{err}");
    assert!(
        stdout.contains("This node has joined the cluster:"),
        "{stdout}"
    );
    let admin = c.lab.host_root("master").join("etc/kubernetes/admin.conf");
    wait_for("node1 Ready", Duration::from_secs(60), || {
        node_ready(c.lab, &admin, "node1").filter(|(s, _)| s == "True")
    });
    let cidr = c.lab.kubectl_as(
        &admin,
        &["get", "node", "node1", "-o", "jsonpath={.spec.podCIDR}"],
    );
    assert!(text(&cidr).0.starts_with("10.244."), "{}", text(&cidr).0);

    let out = kubeadm(c.lab, "node1", &["reset", "-f"]);
    assert!(out.status.success(), "{}", text(&out).1);
    let root = c.lab.host_root("node1");
    for f in [
        "etc/kubernetes/kubelet.conf",
        "etc/kubernetes/pki/ca.crt",
        "var/lib/kubelet/config.yaml",
    ] {
        assert!(!root.join(f).exists(), "reset left /{f}");
    }
    assert!(
        root.join("etc/cni/net.d/10-flannel.conflist").exists(),
        "kubeadm reset does not clean CNI config"
    );
}

/// `kcops setup join`'s discovery (before kubeadm runs) against the lab's cluster-info.
#[test]
fn discovery_catches_a_wrong_hash_and_an_expired_token_before_kubeadm() {
    use kcops::setup::discovery::{DiscoveryError, discover};
    let c = cluster();
    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("{e}"));
    let wrong = format!("sha256:{}", "1".repeat(64));
    let err = rt
        .block_on(discover(
            &c.endpoint,
            &c.token,
            std::slice::from_ref(&wrong),
        ))
        .unwrap_err();
    assert_eq!(
        err,
        DiscoveryError::CaNotPinned {
            pins: c.hash.clone()
        }
    );
    assert!(err.to_string().contains("none of the public keys"), "{err}");

    // An expired token: the bootstrap signer never signs it.
    let admin = c.lab.host_root("master").join("etc/kubernetes/admin.conf");
    let secret = c.lab.runtime_dir.join("expired-token.yaml");
    std::fs::write(&secret, "apiVersion: v1\nkind: Secret\nmetadata: {name: bootstrap-token-exp123, namespace: kube-system}\ntype: bootstrap.kubernetes.io/token\nstringData:\n  token-id: exp123\n  token-secret: 0123456789abcdef\n  expiration: \"2020-01-01T00:00:00Z\"\n  usage-bootstrap-authentication: \"true\"\n  usage-bootstrap-signing: \"true\"\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let created = c
        .lab
        .kubectl_as(&admin, &["apply", "-f", &secret.display().to_string()]);
    assert!(created.status.success(), "{}", text(&created).1);
    std::thread::sleep(Duration::from_secs(1));
    let err = rt
        .block_on(discover(
            &c.endpoint,
            "exp123.0123456789abcdef",
            std::slice::from_ref(&c.hash),
        ))
        .unwrap_err();
    assert_eq!(err, DiscoveryError::TokenUnknownOrExpired("exp123".into()));

    // A wrong secret part of a live token: the signature does not verify.
    let (id, _) = c.token.split_once('.').unwrap_or_default();
    let err = rt
        .block_on(discover(
            &c.endpoint,
            &format!("{id}.aaaaaaaaaaaaaaaa"),
            std::slice::from_ref(&c.hash),
        ))
        .unwrap_err();
    assert_eq!(err, DiscoveryError::BadSignature);

    // 6443 unreachable.
    let err = rt
        .block_on(discover(
            "127.0.0.1:1",
            &c.token,
            std::slice::from_ref(&c.hash),
        ))
        .unwrap_err();
    assert!(matches!(err, DiscoveryError::Unreachable { .. }), "{err}");

    let info = rt
        .block_on(discover(
            &c.endpoint,
            &c.token,
            std::slice::from_ref(&c.hash),
        ))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(info.ca_pin, c.hash);
    assert_eq!(info.server, format!("https://{}", c.endpoint));
}

/// `:join`'s plan: the token it creates passes kcops' discovery with the hash it
/// shows; on the new machine `kcops setup join` refuses a wrong hash before kubeadm
/// runs and, with the exact values, runs the stand-in's join; the follow sees node2
/// through registered, podCIDR, agent Running and Ready.
#[test]
fn join_wizards_token_and_hash_are_accepted_and_the_follow_reaches_ready() {
    use kcops::ops::wizard::join;
    use kcops::ops::{AuditLog, ExecContext, Executor};
    let c = cluster();
    let _one = JOINS.lock().unwrap_or_else(|p| p.into_inner());
    let admin = c.lab.host_root("master").join("etc/kubernetes/admin.conf");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let client = rt.block_on(common::client_for(&admin));
    let facts = rt.block_on(join::gather(&client, &format!("https://{}", c.endpoint)));
    let wizard = join::assess(&facts);
    let command = join::join_command(&facts).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        wizard.render().contains(&format!("· {command}")),
        "{:#?}",
        wizard.render()
    );
    let plan = wizard
        .plan()
        .unwrap_or_else(|| panic!("no plan: {:#?}", wizard.render()));
    let executor = Executor::new(
        client.clone(),
        false,
        AuditLog::new(c.lab.runtime_dir.join("audit-join.log")),
        ExecContext::new("kubernetes-admin", "lab"),
    );
    let (tx, _rx) = tokio::sync::mpsc::channel(64);
    let run = rt.spawn(async move { executor.run(&plan, "yes", tx).await });

    let words: Vec<String> = command.split_whitespace().map(str::to_string).collect();
    let (endpoint, token, hash) = (words[2].clone(), words[4].clone(), words[6].clone());
    assert_eq!(hash, c.hash, "the wizard's hash is not the CA's");
    let info = wait_for(
        "the new token signed in cluster-info",
        Duration::from_secs(20),
        || {
            rt.block_on(kcops::setup::discovery::discover(
                &endpoint,
                &token,
                std::slice::from_ref(&hash),
            ))
            .ok()
        },
    );
    assert_eq!(info.ca_pin, c.hash);
    // On the new machine: `kcops setup join` with a wrong hash is refused by its own
    // discovery before kubeadm runs; with the wizard's exact values it joins.
    let wrong = format!("sha256:{}", "2".repeat(64));
    let out = setup_join(c.lab, "node2", &endpoint, &token, &wrong);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("discovery refused, kubeadm was not run")
            && stderr.contains("none of the public keys"),
        "{stderr}"
    );
    assert!(
        !c.lab
            .kubectl_as(&admin, &["get", "node", "node2"])
            .status
            .success(),
        "node2 registered although discovery refused"
    );
    let out = setup_join(c.lab, "node2", &endpoint, &token, &hash);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("discovery: cluster-info from") && stdout.contains("== [preflight]"),
        "{stdout}"
    );
    let outcome = rt
        .block_on(run)
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("the join plan failed: {e}"));
    let lines = format!("{outcome:?}");
    assert!(
        lines.contains("node node2 joined: registered, podCIDR 10.244."),
        "{lines}"
    );
    let audit =
        std::fs::read_to_string(c.lab.runtime_dir.join("audit-join.log")).unwrap_or_default();
    let secret = token.split_once('.').map(|(_, s)| s).unwrap_or_default();
    assert!(
        !audit.is_empty() && !audit.contains(secret),
        "the audit log holds the token's secret:\n{audit}"
    );
}

/// `:reset-node`'s plan on a joined worker: the eviction API refuses while a
/// disruption budget needs the pod (429, the budget's words), and once the budget
/// allows it the pod is evicted and the node deleted.
#[test]
fn reset_node_drains_through_the_eviction_api_honouring_disruption_budgets() {
    use kcops::ops::wizard::reset_node;
    use kcops::ops::{AuditLog, ExecContext, Executor};
    let c = cluster();
    let _one = JOINS.lock().unwrap_or_else(|p| p.into_inner());
    let admin = c.lab.host_root("master").join("etc/kubernetes/admin.conf");
    let out = kubeadm(
        c.lab,
        "node3",
        &[
            "join",
            &c.endpoint,
            "--token",
            &c.token,
            "--discovery-token-ca-cert-hash",
            &c.hash,
        ],
    );
    assert!(out.status.success(), "{:?}", text(&out));
    wait_for("node3 Ready", Duration::from_secs(60), || {
        node_ready(c.lab, &admin, "node3").filter(|(s, _)| s == "True")
    });
    let manifest = c.lab.runtime_dir.join("web.yaml");
    std::fs::write(&manifest, "apiVersion: v1\nkind: Namespace\nmetadata: {name: web}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: web}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      nodeSelector: {kubernetes.io/hostname: node3}\n      containers: [{name: web, image: nginx}]\n---\napiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: web, namespace: web}\nspec:\n  minAvailable: 1\n  selector: {matchLabels: {app: web}}\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let applied = c
        .lab
        .kubectl_as(&admin, &["apply", "-f", &manifest.display().to_string()]);
    assert!(applied.status.success(), "{}", text(&applied).1);
    wait_for("web Ready on node3", Duration::from_secs(60), || {
        let out = c.lab.kubectl_as(
            &admin,
            &[
                "get",
                "pods",
                "-n",
                "web",
                "-o",
                "jsonpath={.items[*].status.conditions[?(@.type==\"Ready\")].status}",
            ],
        );
        (text(&out).0.trim() == "True").then_some(())
    });

    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("{e}"));
    let client = rt.block_on(common::client_for(&admin));
    let executor = Executor::new(
        client.clone(),
        false,
        AuditLog::new(c.lab.runtime_dir.join("audit-reset.log")),
        ExecContext::new("kubernetes-admin", "lab"),
    );
    let plan_now = || {
        let w = reset_node::assess(&rt.block_on(reset_node::gather(&client, "node3", None)));
        assert!(
            w.render().join("\n").contains("kubeadm reset -f"),
            "{:#?}",
            w.render()
        );
        w.plan()
            .unwrap_or_else(|| panic!("no plan: {:#?}", w.render()))
    };
    let plan = plan_now();
    assert!(
        plan.steps.iter().any(|s| s.op.action() == "evict-pod"),
        "{plan:?}"
    );
    let (tx, _rx) = tokio::sync::mpsc::channel(64);
    let err = rt
        .block_on(executor.run(&plan, "node3", tx))
        .expect_err("the budget allows no disruption");
    assert!(
        err.to_string()
            .contains("Cannot evict pod as it would violate the pod's disruption budget."),
        "{err}"
    );
    let nodes = c.lab.kubectl_as(&admin, &["get", "node", "node3"]);
    assert!(
        nodes.status.success(),
        "the node was deleted although its pod was not evicted"
    );

    let relaxed = c.lab.kubectl_as(
        &admin,
        &[
            "patch",
            "pdb",
            "-n",
            "web",
            "web",
            "--type",
            "merge",
            "-p",
            "{\"spec\":{\"minAvailable\":null,\"maxUnavailable\":1}}",
        ],
    );
    assert!(relaxed.status.success(), "{}", text(&relaxed).1);
    let (tx, _rx) = tokio::sync::mpsc::channel(64);
    rt.block_on(executor.run(&plan_now(), "node3", tx))
        .unwrap_or_else(|e| panic!("reset-node after the budget allowed it: {e}"));
    let gone = c.lab.kubectl_as(&admin, &["get", "node", "node3"]);
    assert!(!gone.status.success(), "node3 is still there");
}

/// `:renew-certs` on the control-plane machine: an apiserver certificate ten days from
/// expiry is the `cert.expiring` finding; the wizard's plan runs the machine's
/// `kubeadm certs renew all` (the lab's stand-in), re-reads every certificate, and
/// restarts the static pods (manifests away, then back); afterwards nothing is due and
/// the finding is gone.
#[test]
fn expiring_certificates_are_renewed_through_the_plan() {
    use kcops::ops::wizard::renew_certs;
    use kcops::ops::{AuditLog, ExecContext, Executor};
    let c = cluster();
    let _manifests = MANIFESTS.lock().unwrap_or_else(|p| p.into_inner());
    let root = c.lab.host_root("master");
    let pki = root.join("etc/kubernetes/pki");
    let out = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "10",
        ])
        .args(["-subj", "/CN=kube-apiserver", "-keyout"])
        .arg(pki.join("apiserver.key"))
        .arg("-out")
        .arg(pki.join("apiserver.crt"))
        .output()
        .unwrap_or_else(|e| panic!("openssl: {e}"));
    assert!(out.status.success(), "{}", text(&out).1);
    let manifests = |root: &std::path::Path| {
        let mut n: Vec<String> = std::fs::read_dir(root.join("etc/kubernetes/manifests"))
            .unwrap_or_else(|e| panic!("{e}"))
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        n.sort();
        n
    };
    let before = manifests(&root);
    assert!(!before.is_empty());
    let ids = |report: &kcops::model::host::HostReport| {
        let s = kcops::model::snapshot::Snapshot {
            host: Some(std::sync::Arc::new(report.clone())),
            ..Default::default()
        };
        kcops::diagnose::diagnose(&s)
            .into_iter()
            .map(|f| f.id)
            .filter(|id| id.starts_with("cert."))
            .collect::<Vec<_>>()
    };
    let probe = c.lab.host_probe("master");
    let report = probe.run();
    assert_eq!(ids(&report), ["cert.expiring"]);

    let kubeadm = root.join("usr/bin/kubeadm");
    let w = renew_certs::assess(Some(&report), Some(&kubeadm));
    let plan = w
        .plan()
        .unwrap_or_else(|| panic!("no plan: {:#?}", w.render()));
    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("{e}"));
    let admin = root.join("etc/kubernetes/admin.conf");
    let client = rt.block_on(common::client_for(&admin));
    let executor = Executor::new(
        client,
        false,
        AuditLog::new(c.lab.runtime_dir.join("audit-renew.log")),
        ExecContext::new("kubernetes-admin", "lab"),
    );
    let (tx, _rx) = tokio::sync::mpsc::channel(64);
    rt.block_on(executor.run(&plan, "master", tx))
        .unwrap_or_else(|e| panic!("renewal: {e}"));
    let after = probe.run();
    assert!(ids(&after).is_empty(), "{:?}", ids(&after));
    assert_eq!(
        manifests(&root),
        before,
        "the static pods' manifests are back"
    );
    let again = renew_certs::assess(Some(&after), Some(&kubeadm));
    assert!(again.plan().is_none(), "nothing is due any more");
}
