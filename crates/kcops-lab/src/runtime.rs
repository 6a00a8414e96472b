//! The lab supervisor: brings up Ceph, the API server and the controllers for a
//! scenario, serves `lab stop|start|status|down` on a control socket, and tears
//! everything down on `down`, a signal, or (for tests) the end of its stdin.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::Mutex;

use super::api::logs::LogStore;
use super::api::server::{self, ApiState, ServerHandle, Tokens};
use super::api::store::Store;
use super::ceph::CephCluster;
use super::controllers::{self, CephAccess, Ctx, Knobs, NodeRuntime};
use super::netns::LabNet;
use super::paths::LabPaths;
use super::scenario::{self, LabValues, Scenario};

/// How to bring a lab up.
#[derive(Debug, Clone)]
pub struct LabOptions {
    pub name: String,
    pub scenario: String,
    pub no_ceph: bool,
    pub knobs: Knobs,
    pub history_limit: usize,
    pub bookmark_interval: Duration,
    pub synthetic_nodes: usize,
    pub synthetic_pods: usize,
    pub churn: f64,
    pub exit_on_stdin_eof: bool,
}

/// What `lab.json` records about a running lab.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabState {
    pub name: String,
    pub id: u8,
    pub pid: u32,
    pub scenario: String,
    /// The scenario's description, for `kcops lab status` (absent in older lab.json).
    #[serde(default)]
    pub description: String,
    pub api_server: String,
    pub kubeconfig: PathBuf,
    pub kubeconfig_readonly: PathBuf,
    pub ceph_conf: Option<PathBuf>,
    pub ceph_keyring: Option<PathBuf>,
    pub ceph_kube_keyring: Option<PathBuf>,
    pub ceph_mon: Option<String>,
    pub host_root: PathBuf,
    pub console_node: String,
    pub nodes: Vec<(String, Ipv4Addr)>,
    /// Whether nodes (and the pods the lab runs for real) have their own network
    /// namespaces.
    pub netns: bool,
    /// The console node's network namespace (`ip netns exec <it> ...`): it reaches the
    /// API server and every pod IP, as a real master does.
    #[serde(default)]
    pub console_netns: Option<String>,
    pub started: String,
}

impl LabState {
    pub fn read(paths: &LabPaths) -> Result<LabState> {
        let file = paths.state_file();
        let text = std::fs::read_to_string(&file).with_context(|| {
            format!(
                "no lab named {:?} is running (cannot read {})",
                paths.name,
                file.display()
            )
        })?;
        serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid lab state file", file.display()))
    }

    /// How the console on the lab's console node lists its live sandboxes.
    pub fn sandboxes_command(&self) -> Vec<String> {
        crate::paths::sandboxes_command(&self.host_root)
    }

    /// The exports `kcops lab env` prints.
    pub fn env_lines(&self) -> Vec<String> {
        let q = |p: &Path| shell_quote(&p.display().to_string());
        let mut out = vec![format!("export KUBECONFIG={}", q(&self.kubeconfig))];
        if let Some(c) = &self.ceph_conf {
            out.push(format!("export CEPH_CONF={}", q(c)));
        }
        out.push("export KCOPS_CEPH_ID=admin".to_string());
        if let Some(k) = &self.ceph_keyring {
            out.push(format!("export KCOPS_CEPH_KEYRING={}", q(k)));
        }
        out.push(format!("export KCOPS_HOST_ROOT={}", q(&self.host_root)));
        out.push(format!(
            "export KCOPS_SANDBOXES_COMMAND={}",
            shell_quote(&self.sandboxes_command().join(" "))
        ));
        out.push(format!(
            "export KCOPS_NODE={}",
            shell_quote(&self.console_node)
        ));
        if let Some(ns) = &self.console_netns {
            out.push(format!("export KCOPS_LAB_NETNS={}", shell_quote(ns)));
        }
        out
    }
}

fn shell_quote(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-:=".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Holds the lab id lock for the life of the lab: `127.<id>.0.0/16` is ours.
struct IdLease {
    id: u8,
    _file: nix::fcntl::Flock<std::fs::File>,
}

fn lease_id() -> Result<IdLease> {
    let dir = PathBuf::from("/tmp/kcops-lab-ids");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777));
    }
    let start = 10 + (std::process::id() % 200) as u16;
    for i in 0..240u16 {
        let id = (10 + (start - 10 + i) % 240) as u8;
        let path = dir.join(format!("{id}.lock"));
        let Ok(file) = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
        else {
            continue;
        };
        if let Ok(lock) = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock)
        {
            // Also make sure nothing else listens in our range (a stray daemon).
            if std::net::TcpListener::bind((Ipv4Addr::new(127, id, 0, 1), 0)).is_ok() {
                return Ok(IdLease { id, _file: lock });
            }
        }
    }
    bail!("no free lab id: every 127.x.0.0/16 range from 10 to 249 is taken by another lab")
}

fn program_exists(name: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")])
        .any(|d| d.join(name).is_file())
}

fn free_port(ip: Ipv4Addr) -> Result<u16> {
    let l = std::net::TcpListener::bind((ip, 0)).with_context(|| format!("cannot bind {ip}"))?;
    Ok(l.local_addr()?.port())
}

fn keyring_key(path: &Path) -> String {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                l.trim()
                    .strip_prefix("key")
                    .map(|r| r.trim_start_matches([' ', '=']).trim().to_string())
            })
        })
        .unwrap_or_default()
}

/// Components that `lab stop|start` can take down and bring back.
struct Components {
    api: Option<ServerHandle>,
    api_state: Arc<ApiState>,
    tls: Arc<rustls::ServerConfig>,
    ceph: Option<CephCluster>,
}

/// Runs a lab until it is told to stop. Prints `ready` on stdout once it is up.
pub async fn run(opts: LabOptions) -> Result<()> {
    let paths = LabPaths::new(&opts.name);
    if let Ok(state) = LabState::read(&paths)
        && super::process::alive(state.pid as i32)
        && state.pid != std::process::id()
    {
        bail!(
            "lab {:?} is already running (pid {}); run `kcops lab down --name {}` first",
            opts.name,
            state.pid,
            opts.name
        );
    }
    cleanup_leftovers(&paths);
    let scenario = load_scenario(&opts.scenario)?;
    if !opts.no_ceph {
        super::ceph::check_installed().context("the lab needs Ceph (or pass --no-ceph)")?;
    }
    let runs_etcd = scenario
        .members
        .iter()
        .any(|m| m.kind == super::scenario::MemberKind::Etcd);
    if runs_etcd && !program_exists("etcd") {
        bail!(
            "scenario {:?} runs etcd members but etcd is not installed (apt-get install -y etcd-server etcd-client)",
            scenario.name
        );
    }
    let runs_zookeeper = scenario
        .members
        .iter()
        .any(|m| m.kind == super::scenario::MemberKind::Zookeeper);
    if runs_zookeeper
        && !(program_exists("java")
            && std::path::Path::new(super::pods::zookeeper::ZOOKEEPER_JAR).exists())
    {
        bail!(
            "scenario {:?} runs ZooKeeper servers but ZooKeeper is not installed (apt-get install -y zookeeper)",
            scenario.name
        );
    }
    let lease = lease_id()?;
    let id = lease.id;
    std::fs::create_dir_all(&paths.root)
        .with_context(|| format!("cannot create {}", paths.root.display()))?;
    std::fs::create_dir_all(paths.logs())?;
    tracing::info!(lab = %opts.name, id, "starting lab");

    // Node addresses: their own network namespaces when we may create them (for
    // Ceph clients, and for the pods the lab runs for real: etcd members, and node
    // debug pods where the lab plays the pod network).
    let needs_pods = runs_etcd || runs_zookeeper || scenario.network.is_some();
    let use_netns = (!opts.no_ceph || needs_pods) && super::netns::netns_available();
    let mut net = None;
    let mut node_ips = Vec::new();
    if use_netns {
        let mut n = LabNet::create(id).context("creating the lab network")?;
        for (i, node) in scenario.nodes.iter().enumerate() {
            let ip = n
                .add_node(&node.name, i as u8)
                .with_context(|| format!("creating the network namespace of node {}", node.name))?;
            node_ips.push((node.name.clone(), ip));
        }
        let cidrs: Vec<(String, super::scenario::Ipv4Cidr)> = scenario
            .nodes
            .iter()
            .filter_map(|n| Some((n.name.clone(), n.pod_cidr?)))
            .collect();
        if let Err(e) = n.route_pod_cidrs(&cidrs) {
            n.teardown();
            return Err(e.context("routing the pod network between the lab's nodes"));
        }
        net = Some(Arc::new(n));
    } else {
        if !opts.no_ceph || needs_pods {
            // Said on the terminal too: the lab is a command-line tool, not the console.
            let msg = "no network namespaces (not root or no `ip`): node Ceph clients run on loopback and all show as 127.0.0.1, and etcd members run with flags the lab chooses instead of their pod template's command";
            tracing::warn!("{msg}");
            eprintln!("kcops lab: {msg}");
        }
        for (i, node) in scenario.nodes.iter().enumerate() {
            node_ips.push((node.name.clone(), Ipv4Addr::new(127, id, 1, 10 + i as u8)));
        }
    }

    let result = run_with(&opts, &paths, id, scenario, net.clone(), node_ips).await;
    if let Some(n) = &net {
        n.teardown();
    }
    super::process::kill_pidfiles(&paths.pids(), Duration::from_secs(3));
    remove_all_but_logs(&paths);
    drop(lease);
    result
}

/// A stopped lab keeps only its logs: etcd preallocates 128 MiB of WAL per member,
/// and a test run starts dozens of labs on one disk.
fn remove_all_but_logs(paths: &LabPaths) {
    let Ok(entries) = std::fs::read_dir(&paths.root) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path == paths.logs() {
            continue;
        }
        let removed = if entry.file_type().is_ok_and(|t| t.is_dir()) {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        if let Err(e) = removed {
            tracing::warn!(path = %path.display(), "cannot remove lab file: {e}");
        }
    }
}

fn load_scenario(name: &str) -> Result<Scenario> {
    if let Some(text) = scenario::builtin(name) {
        return scenario::parse(text, &format!("crates/kcops-lab/scenarios/{name}.yaml"))
            .map_err(|e| anyhow!("{e}"));
    }
    scenario::load(name, Path::new("crates/kcops-lab/scenarios")).map_err(|e| anyhow!("{e}"))
}

/// Whatever a crashed lab of this name left: processes by pidfile, its network.
fn cleanup_leftovers(paths: &LabPaths) {
    super::process::kill_pidfiles(&paths.pids(), Duration::from_secs(2));
    if let Ok(state) = LabState::read(paths) {
        super::netns::teardown_lab_id(state.id);
    }
    let _ = std::fs::remove_dir_all(&paths.root);
}

async fn run_with(
    opts: &LabOptions,
    paths: &LabPaths,
    id: u8,
    scenario: Scenario,
    net: Option<Arc<LabNet>>,
    node_ips: Vec<(String, Ipv4Addr)>,
) -> Result<()> {
    // Ceph first: the scenario's objects name its monitors.
    let mut ceph = None;
    if !opts.no_ceph {
        let bind = net
            .as_ref()
            .map(|n| n.host_ip())
            .unwrap_or(Ipv4Addr::new(127, id, 0, 2));
        ceph = Some(
            CephCluster::start(paths, bind)
                .await
                .context("starting the lab's Ceph cluster")?,
        );
    }
    if let Some(c) = &ceph {
        c.apply_scenario(&scenario.ceph)
            .await
            .context("creating the scenario's Ceph pools and users")?;
    }
    // On the lab bridge when there is one: reachable from the host and from inside
    // every lab namespace alike.
    let api_ip = net
        .as_ref()
        .map(|n| n.host_ip())
        .unwrap_or(Ipv4Addr::new(127, id, 0, 1));
    let port = free_port(api_ip)?;
    let address = SocketAddr::new(IpAddr::V4(api_ip), port);
    let pki = super::tls::load_or_create(&paths.pki(), IpAddr::V4(api_ip))?;
    let tls = super::tls::server_config(&pki)?;
    let tokens = Tokens {
        admin: random_token(),
        readonly: random_token(),
    };
    let server_url = format!("https://{address}");
    super::tls::write_kubeconfig(
        &paths.kubeconfig(),
        &server_url,
        &pki.ca_pem,
        &format!("kcops-lab-{}", opts.name),
        server::ADMIN_USER,
        &tokens.admin,
    )?;
    super::tls::write_kubeconfig(
        &paths.kubeconfig_readonly(),
        &server_url,
        &pki.ca_pem,
        &format!("kcops-lab-{}", opts.name),
        server::READONLY_USER,
        &tokens.readonly,
    )?;

    let store = Arc::new(Store::new(opts.history_limit));
    let logs = Arc::new(LogStore::default());
    let values = LabValues {
        ceph_monitors: ceph
            .as_ref()
            .map(|c| c.mon_addr().to_string())
            .unwrap_or_else(|| "127.0.0.1:6789".into()),
        api_server: server_url.clone(),
        ceph_admin_secret: ceph
            .as_ref()
            .map(|c| b64(&keyring_key(&c.admin_keyring())))
            .unwrap_or_default(),
        ceph_kube_secret: ceph
            .as_ref()
            .map(|c| b64(&keyring_key(&c.kube_keyring())))
            .unwrap_or_default(),
        ceph_secrets: ceph
            .as_ref()
            .map(|c| {
                let ids = ["admin", "kube"]
                    .into_iter()
                    .chain(scenario.ceph.users.iter().map(|u| u.id()));
                ids.map(|id| (id.to_string(), b64(&keyring_key(&c.user_keyring(id)))))
                    .collect()
            })
            .unwrap_or_default(),
    };
    let mut scenario = scenario.resolve(&values);
    if scenario.storage == scenario::StorageKind::CephCsi
        && let Some(c) = &ceph
    {
        // ceph-csi's install comes before the scenario's objects, which use its class.
        let install = super::controllers::csi::objects(
            c.fsid(),
            &[c.mon_addr().to_string()],
            &values.ceph_kube_secret,
        );
        scenario.objects.splice(0..0, install);
    }
    let console_node = scenario.console_node().to_string();
    populate(&store, &scenario, &node_ips, paths)?;
    if opts.synthetic_nodes > 0 || opts.synthetic_pods > 0 {
        let t = Instant::now();
        super::synthetic::populate(&store, opts.synthetic_nodes, opts.synthetic_pods)?;
        tracing::info!("synthetic objects created in {:?}", t.elapsed());
    }

    let api_state = Arc::new(ApiState {
        store: store.clone(),
        logs: logs.clone(),
        tokens,
        address,
        bookmark_interval: opts.bookmark_interval,
        main_pids: std::sync::OnceLock::new(),
    });
    // Before `kubeadm init` a kubeadm lab's machines have no API server.
    let api = if scenario.kubeadm {
        None
    } else {
        Some(server::serve(api_state.clone(), tls.clone()).await?)
    };

    let nodes: HashMap<String, Arc<NodeRuntime>> = node_ips
        .iter()
        .map(|(n, ip)| {
            let ready = scenario.node(n).is_none_or(|s| s.ready);
            (
                n.clone(),
                Arc::new(NodeRuntime {
                    name: n.clone(),
                    ip: *ip,
                    alive: AtomicBool::new(ready),
                }),
            )
        })
        .collect();
    let ceph_access = ceph.as_ref().map(|c| CephAccess {
        conf: c.conf_path(),
        kube_keyring: c.kube_keyring(),
        keyring_dir: c
            .conf_path()
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default(),
        monitors: c.mon_addr().to_string(),
        net: net.clone(),
    });
    let ctx = Arc::new(
        Ctx::new(
            store.clone(),
            logs.clone(),
            opts.knobs.clone(),
            scenario.clone(),
            ceph_access,
            nodes,
            paths.clone(),
            id,
        )?
        .with_net(net.clone()),
    );
    let pids = ctx.clone();
    let _ = api_state
        .main_pids
        .set(Arc::new(move |ns: &str, name: &str| {
            pids.main_pid(ns, name)
        }));
    let controllers = tokio::spawn(controllers::run(ctx.clone()));
    let timeline = tokio::spawn(super::timeline::run(ctx.clone()));
    let churn = (opts.churn > 0.0)
        .then(|| tokio::spawn(super::synthetic::churn(store.clone(), opts.churn)));

    let state = LabState {
        name: opts.name.clone(),
        id,
        pid: std::process::id(),
        scenario: scenario.name.clone(),
        description: scenario.description.clone(),
        api_server: server_url,
        kubeconfig: paths.kubeconfig(),
        kubeconfig_readonly: paths.kubeconfig_readonly(),
        ceph_conf: ceph.as_ref().map(|c| c.conf_path()),
        ceph_keyring: ceph.as_ref().map(|c| c.admin_keyring()),
        ceph_kube_keyring: ceph.as_ref().map(|c| c.kube_keyring()),
        ceph_mon: ceph.as_ref().map(|c| c.mon_addr().to_string()),
        host_root: paths.host_root(&console_node),
        console_node: console_node.clone(),
        nodes: node_ips.clone(),
        netns: net.is_some(),
        console_netns: net
            .as_ref()
            .and_then(|n| n.netns_of(&console_node).map(str::to_string)),
        started: super::api::store::now_rfc3339(),
    };
    let tmp = paths.root.join("lab.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&state)?)?;
    std::fs::rename(&tmp, paths.state_file())?;

    if scenario.kubeadm {
        let machines: Vec<String> = scenario.nodes.iter().map(|n| n.name.clone()).collect();
        super::kubeadm::write_shims(paths, &machines)?;
    }
    let components = Arc::new(Mutex::new(Components {
        api,
        api_state,
        tls,
        ceph,
    }));
    let (down_tx, mut down_rx) = tokio::sync::mpsc::channel::<()>(1);
    // Bound before "ready" is printed, so `lab up --detach` never returns to a caller
    // whose first `lab status` finds no socket yet.
    let sock = paths.control_socket();
    let _ = std::fs::remove_file(&sock);
    let listener = tokio::net::UnixListener::bind(&sock)
        .with_context(|| format!("cannot listen on {}", sock.display()))?;
    let control = tokio::spawn(serve_control(
        listener,
        components.clone(),
        store.clone(),
        ctx.clone(),
        down_tx.clone(),
    ));
    if opts.exit_on_stdin_eof {
        let tx = down_tx.clone();
        tokio::spawn(async move {
            let mut stdin = tokio::io::stdin();
            let mut buf = [0u8; 64];
            use tokio::io::AsyncReadExt;
            while let Ok(n) = stdin.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
            let _ = tx.send(()).await;
        });
    }
    println!("ready");
    use std::io::Write;
    let _ = std::io::stdout().flush();

    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut sighup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    tokio::select! {
        _ = down_rx.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
        _ = sigterm.recv() => {}
        _ = sighup.recv() => {}
    }
    tracing::info!("lab {} going down", opts.name);
    control.abort();
    timeline.abort();
    controllers.abort();
    if let Some(c) = churn {
        c.abort();
    }
    // Pod workers own etcd members and watchers: stop them first.
    let workers: Vec<_> = ctx
        .workers
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .drain()
        .map(|(_, h)| h)
        .collect();
    for w in workers {
        w.abort();
        let _ = w.await;
    }
    let mut comps = components.lock().await;
    if let Some(api) = comps.api.take() {
        api.stop().await;
    }
    if let Some(ceph) = comps.ceph.as_mut() {
        ceph.shutdown().await;
    }
    Ok(())
}

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn random_token() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..40)
        .map(|_| rng.sample(rand::distributions::Alphanumeric) as char)
        .collect()
}

/// Creates the base namespaces, the scenario's nodes (with their addresses) and
/// objects, and writes each node's host root.
fn populate(
    store: &Store,
    scenario: &Scenario,
    node_ips: &[(String, Ipv4Addr)],
    paths: &LabPaths,
) -> Result<()> {
    let ns = store
        .registry
        .find("", "v1", "namespaces")
        .ok_or_else(|| anyhow!("namespaces type missing"))?;
    for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        let mut obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
        super::api::defaults::apply("Namespace", &mut obj);
        store
            .create(&ns, obj)
            .map_err(|e| anyhow!("creating namespace {name}: {e}"))?;
    }
    let nodes = store
        .registry
        .find("", "v1", "nodes")
        .ok_or_else(|| anyhow!("nodes type missing"))?;
    for (spec, (_, ip)) in scenario.nodes.iter().zip(node_ips) {
        // A kubeadm lab's machines register when kubeadm init/join runs on them.
        if !scenario.kubeadm {
            store
                .create(&nodes, node_object(spec, *ip))
                .map_err(|e| anyhow!("creating node {}: {e}", spec.name))?;
        }
        let root = paths.host_root(&spec.name);
        spec.host
            .write_to(&root)
            .with_context(|| format!("writing the host root of node {}", spec.name))?;
    }
    for obj in &scenario.objects {
        let api_version = obj["apiVersion"].as_str().unwrap_or_default();
        let kind = obj["kind"].as_str().unwrap_or_default();
        let name = obj["metadata"]["name"].as_str().unwrap_or_default();
        let rt = store.registry.by_kind(api_version, kind).ok_or_else(|| anyhow!("scenario {}: object {kind} {name}: unknown kind {api_version}/{kind} (declare its CustomResourceDefinition first)", scenario.name))?;
        let mut obj = obj.clone();
        if rt.namespaced && obj["metadata"]["namespace"].is_null() {
            obj["metadata"]["namespace"] = json!("default");
        }
        if rt.namespaced {
            let ns_name = obj["metadata"]["namespace"]
                .as_str()
                .unwrap_or("default")
                .to_string();
            if store.get(&ns, "", &ns_name).is_none() {
                let mut n =
                    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns_name}});
                super::api::defaults::apply("Namespace", &mut n);
                let _ = store.create(&ns, n);
            }
        }
        super::api::defaults::apply(&rt.kind, &mut obj);
        if rt.kind == "CustomResourceDefinition" {
            store
                .registry
                .register_crd(&obj)
                .map_err(|e| anyhow!("scenario {}: CRD {name}: {e}", scenario.name))?;
        }
        store
            .create(&rt, obj)
            .map_err(|e| anyhow!("scenario {}: creating {kind} {name}: {e}", scenario.name))?;
    }
    Ok(())
}

fn node_object(spec: &super::scenario::NodeSpec, ip: Ipv4Addr) -> Value {
    let mut labels = spec.all_labels();
    labels.insert("kubernetes.io/hostname".into(), spec.name.clone());
    labels.insert("kubernetes.io/os".into(), "linux".into());
    labels.insert("kubernetes.io/arch".into(), "amd64".into());
    labels.insert("beta.kubernetes.io/os".into(), "linux".into());
    labels.insert("beta.kubernetes.io/arch".into(), "amd64".into());
    let mut annotations = spec.annotations.clone();
    annotations
        .entry("kubeadm.alpha.kubernetes.io/cri-socket".into())
        .or_insert("unix:///var/run/containerd/containerd.sock".into());
    annotations
        .entry("node.alpha.kubernetes.io/ttl".into())
        .or_insert("0".into());
    if annotations
        .keys()
        .any(|k| k.starts_with("flannel.alpha.coreos.com/"))
    {
        annotations
            .entry("flannel.alpha.coreos.com/public-ip".into())
            .or_insert(ip.to_string());
    }
    let taints: Vec<Value> = spec
        .taints
        .iter()
        .map(|t| {
            let mut v = json!({"key": t.key, "effect": t.effect.as_str()});
            if let Some(val) = &t.value {
                v["value"] = json!(val);
            }
            v
        })
        .collect();
    let now = super::api::store::now_rfc3339();
    let ready = if spec.ready {
        json!({"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status", "lastHeartbeatTime": now, "lastTransitionTime": now})
    } else {
        json!({"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown", "message": "Kubelet stopped posting node status.", "lastHeartbeatTime": now, "lastTransitionTime": now})
    };
    let mut node = json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": spec.name, "labels": labels, "annotations": annotations},
        "spec": {},
        "status": {
            "addresses": [{"type": "InternalIP", "address": ip.to_string()}, {"type": "Hostname", "address": spec.name}],
            "capacity": {"cpu": "4", "memory": "8148172Ki", "pods": "110", "ephemeral-storage": "51175Mi"},
            "allocatable": {"cpu": "4", "memory": "8045772Ki", "pods": "110", "ephemeral-storage": "48294789041"},
            "conditions": [
                {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory", "message": "kubelet has sufficient memory available", "lastHeartbeatTime": now, "lastTransitionTime": now},
                {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure", "message": "kubelet has no disk pressure", "lastHeartbeatTime": now, "lastTransitionTime": now},
                {"type": "PIDPressure", "status": "False", "reason": "KubeletHasSufficientPID", "message": "kubelet has sufficient PID available", "lastHeartbeatTime": now, "lastTransitionTime": now},
                ready
            ],
            "nodeInfo": {
                "machineID": format!("{:032x}", rand::random::<u128>()), "systemUUID": uuid::Uuid::new_v4().to_string(), "bootID": uuid::Uuid::new_v4().to_string(),
                "kernelVersion": "6.1.0-28-amd64", "osImage": "Debian GNU/Linux 12 (bookworm)", "containerRuntimeVersion": "containerd://1.7.24",
                "kubeletVersion": spec.kubelet_version, "kubeProxyVersion": spec.kubelet_version, "operatingSystem": "linux", "architecture": "amd64"
            },
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}
        }
    });
    if let Some(cidr) = &spec.pod_cidr {
        node["spec"]["podCIDR"] = json!(cidr.to_string());
        node["spec"]["podCIDRs"] = json!([cidr.to_string()]);
    }
    if !taints.is_empty() {
        node["spec"]["taints"] = json!(taints);
    }
    if spec.unschedulable {
        node["spec"]["unschedulable"] = json!(true);
    }
    node
}

/// The control socket: one command per connection, one reply.
async fn serve_control(
    listener: tokio::net::UnixListener,
    comps: Arc<Mutex<Components>>,
    store: Arc<Store>,
    ctx: Arc<Ctx>,
    down: tokio::sync::mpsc::Sender<()>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        let Ok(Some(cmd)) = lines.next_line().await else {
            continue;
        };
        let reply = control_command(cmd.trim(), &comps, &store, &ctx, &down).await;
        let _ = write.write_all(format!("{reply}\n").as_bytes()).await;
    }
}

async fn control_command(
    cmd: &str,
    comps: &Arc<Mutex<Components>>,
    store: &Store,
    ctx: &Ctx,
    down: &tokio::sync::mpsc::Sender<()>,
) -> String {
    let mut c = comps.lock().await;
    let result: Result<String> = match cmd {
        "status" => {
            let pods = store.count(&ctx.kinds.pods);
            let nodes = store.count(&ctx.kinds.nodes);
            Ok(json!({
                "apiserver": if c.api.is_some() { "running" } else { "stopped" },
                "mon": match &c.ceph { Some(ceph) if ceph.mon_running() => "running", Some(_) => "stopped", None => "absent" },
                "nodes": nodes,
                "pods": pods,
                "resourceVersion": store.current_rv(),
            })
            .to_string())
        }
        "down" => {
            let _ = down.send(()).await;
            Ok("ok".into())
        }
        "stop apiserver" => match c.api.take() {
            Some(api) => {
                api.stop().await;
                Ok("ok".into())
            }
            None => Ok("ok (already stopped)".into()),
        },
        "start apiserver" => {
            if c.api.is_some() {
                Ok("ok (already running)".into())
            } else {
                match server::serve(c.api_state.clone(), c.tls.clone()).await {
                    Ok(h) => {
                        c.api = Some(h);
                        Ok("ok".into())
                    }
                    Err(e) => Err(e),
                }
            }
        }
        "stop mon" => match c.ceph.as_mut() {
            Some(ceph) => {
                ceph.stop_mon().await;
                Ok("ok".into())
            }
            None => Err(anyhow!("this lab runs without Ceph")),
        },
        "start mon" => match c.ceph.as_mut() {
            Some(ceph) => ceph.start_mon().await.map(|_| "ok".into()),
            None => Err(anyhow!("this lab runs without Ceph")),
        },
        other if other.starts_with("kubeadm ") => {
            kubeadm_command(&mut c, ctx, &other["kubeadm ".len()..]).await
        }
        other => match other.split_once(" node ") {
            Some((verb @ ("stop" | "start"), node)) if ctx.nodes.contains_key(node) => {
                crate::timeline::set_node_ready(ctx, node, verb == "start").map(|()| "ok".into())
            }
            Some((_, node)) => Err(anyhow!("no lab node {node:?}")),
            None => Err(anyhow!("unknown command {other:?}")),
        },
    };
    match result {
        Ok(s) => s,
        Err(e) => format!("error: {e:#}"),
    }
}

/// The cluster side of the lab's `kubeadm` stand-in (see [`super::kubeadm`]).
async fn kubeadm_command(c: &mut Components, ctx: &Ctx, line: &str) -> Result<String> {
    use super::kubeadm::cluster::{self, Request};
    let req: Request = serde_json::from_str(line).context("malformed kubeadm request")?;
    match req {
        Request::Init { node, config } => {
            let server_url = format!("https://{}", c.api_state.address);
            let ca = std::fs::read_to_string(ctx.paths.pki().join("ca.crt"))
                .context("reading the lab CA")?;
            let reply = cluster::init(ctx, &node, &config, &server_url, &ca)?;
            if c.api.is_none() {
                c.api = Some(server::serve(c.api_state.clone(), c.tls.clone()).await?);
            }
            Ok(serde_json::to_string(&reply)?)
        }
        Request::ClusterInfo => {
            if c.api.is_none() {
                bail!("the API server is not running");
            }
            Ok(cluster::cluster_info(ctx)?.to_string())
        }
        Request::Join {
            node,
            token,
            control_plane,
            cri_socket,
        } => cluster::join(ctx, &node, &token, control_plane, &cri_socket).map(|()| "ok".into()),
        Request::Reset { node } => cluster::reset(ctx, &node).map(|()| "ok".into()),
    }
}

/// Sends one command to a running lab's control socket.
pub async fn control(paths: &LabPaths, cmd: &str) -> Result<String> {
    let sock = paths.control_socket();
    let stream = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::UnixStream::connect(&sock),
    )
    .await
    .map_err(|_| anyhow!("lab {:?} does not answer on {}", paths.name, sock.display()))?
    .with_context(|| {
        format!(
            "lab {:?} is not running (cannot connect to {})",
            paths.name,
            sock.display()
        )
    })?;
    let (read, mut write) = stream.into_split();
    write.write_all(format!("{cmd}\n").as_bytes()).await?;
    let mut lines = BufReader::new(read).lines();
    let reply = tokio::time::timeout(Duration::from_secs(120), lines.next_line())
        .await
        .map_err(|_| anyhow!("lab {:?} did not answer {cmd:?} in time", paths.name))??
        .unwrap_or_default();
    if let Some(err) = reply.strip_prefix("error: ") {
        bail!("{err}");
    }
    Ok(reply)
}

/// Stops a lab: politely through its socket, by force if it does not answer.
pub async fn down(paths: &LabPaths) -> Result<()> {
    let state = LabState::read(paths).ok();
    let polite = control(paths, "down").await.is_ok();
    if let Some(state) = &state {
        let deadline = Instant::now() + Duration::from_secs(if polite { 60 } else { 0 });
        while super::process::alive(state.pid as i32) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if super::process::alive(state.pid as i32) {
            super::process::terminate(state.pid as i32, libc::SIGKILL);
        }
        super::netns::teardown_lab_id(state.id);
    }
    super::process::kill_pidfiles(&paths.pids(), Duration::from_secs(3));
    if state.is_none() && !paths.root.exists() {
        bail!("no lab named {:?} is running", paths.name);
    }
    let _ = std::fs::remove_dir_all(&paths.root);
    let log = paths.supervisor_log();
    if std::fs::metadata(&log).is_ok_and(|m| m.len() == 0) {
        let _ = std::fs::remove_file(&log);
    }
    Ok(())
}
