//! The lab's `kubeadm` stand-in (`kcops lab kubeadm ...`), for the lab and the tests
//! only: kubeadm cannot be installed where kcops is tested, so a lab started with the
//! `kubeadm` scenario writes a `kubeadm` shim into each machine's host root
//! (`<host root>/usr/bin/kubeadm`, put it on PATH) that runs this. It takes kubeadm
//! v1.32's flags and `--config` (kubeadm.k8s.io/v1beta4), prints kubeadm's output
//! phase by phase, writes what kubeadm writes under the machine's host root, and asks
//! the lab supervisor (its control socket) for the cluster side: `init` starts the
//! lab's API server with the machine registered; `join` checks the token and CA pins
//! against kube-public/cluster-info exactly as kubeadm's discovery does, then
//! registers the node; `reset` removes what they wrote.
//!
//! Two knobs for tests: `KCOPS_LAB_KUBEADM_PHASE_MS` (pause between phases, default
//! 30) and `KCOPS_LAB_KUBEADM_HANG_AT=pull|wait-control-plane` (hang there, as an
//! image pull from an unreachable registry does).

pub mod cluster;
pub mod config;
pub mod host;
pub mod token;

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Subcommand};

use crate::paths::LabPaths;
use crate::runtime::LabState;
use cluster::{InitReply, Request};
use config::{InitConfig, InitFlags, JoinConfig, JoinFlags};

#[derive(Debug, Args)]
pub struct KubeadmArgs {
    /// The lab's directory (the shim passes it).
    #[arg(long)]
    pub lab_root: PathBuf,
    /// The machine (lab node) this kubeadm runs on.
    #[arg(long)]
    pub node: String,
    /// kubeadm's log verbosity (accepted, ignored).
    #[arg(long = "v", short = 'v', global = true)]
    pub verbosity: Option<u8>,
    #[command(subcommand)]
    pub command: KubeadmCommand,
}

#[derive(Debug, Subcommand)]
pub enum KubeadmCommand {
    /// Run this command in order to set up the Kubernetes control plane.
    Init(InitArgs),
    /// Run this on any machine you wish to join an existing cluster.
    Join(JoinArgs),
    /// Performs a best effort revert of changes made to this host by 'kubeadm init' or 'kubeadm join'.
    Reset(ResetArgs),
    /// Print the version of kubeadm.
    Version {
        #[arg(short = 'o', long)]
        output: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct InitArgs {
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[arg(long, default_value = "")]
    pub apiserver_advertise_address: String,
    #[arg(long)]
    pub apiserver_bind_port: Option<u16>,
    #[arg(long, default_value = "")]
    pub control_plane_endpoint: String,
    #[arg(long, default_value = "")]
    pub kubernetes_version: String,
    #[arg(long, default_value = "")]
    pub image_repository: String,
    #[arg(long, default_value = "")]
    pub pod_network_cidr: String,
    #[arg(long, default_value = "")]
    pub service_cidr: String,
    #[arg(long, default_value = "")]
    pub cri_socket: String,
    #[arg(long, default_value = "")]
    pub node_name: String,
    #[arg(long, default_value = "")]
    pub token: String,
    #[arg(long)]
    pub token_ttl: Option<String>,
    #[arg(long, value_delimiter = ',')]
    pub ignore_preflight_errors: Vec<String>,
    #[arg(long, value_delimiter = ',')]
    pub skip_phases: Vec<String>,
    #[arg(long)]
    pub upload_certs: bool,
    #[arg(long)]
    pub certificate_key: Option<String>,
    #[arg(long)]
    pub skip_token_print: bool,
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct JoinArgs {
    /// The API server endpoint (`host:port`).
    pub endpoint: Option<String>,
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[arg(long, default_value = "")]
    pub token: String,
    #[arg(long, default_value = "")]
    pub discovery_token: String,
    #[arg(long = "discovery-token-ca-cert-hash", value_delimiter = ',')]
    pub ca_cert_hashes: Vec<String>,
    #[arg(long)]
    pub discovery_token_unsafe_skip_ca_verification: bool,
    #[arg(long)]
    pub control_plane: bool,
    #[arg(long)]
    pub certificate_key: Option<String>,
    #[arg(long, default_value = "")]
    pub apiserver_advertise_address: String,
    #[arg(long, default_value = "")]
    pub node_name: String,
    #[arg(long, default_value = "")]
    pub cri_socket: String,
    #[arg(long, value_delimiter = ',')]
    pub ignore_preflight_errors: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ResetArgs {
    /// Reset the node without prompting for confirmation.
    #[arg(short, long)]
    pub force: bool,
    #[arg(long, default_value = "")]
    pub cri_socket: String,
    #[arg(long)]
    pub cleanup_tmp_dir: bool,
    #[arg(long, value_delimiter = ',')]
    pub ignore_preflight_errors: Vec<String>,
}

/// kubeadm's version of the stand-in.
pub const VERSION: &str = config::DEFAULT_VERSION;

/// Runs one kubeadm command; the exit code kubeadm would give.
pub async fn run(args: KubeadmArgs) -> Result<i32> {
    let paths = LabPaths {
        name: args
            .lab_root
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default(),
        root: args.lab_root.clone(),
    };
    let machine = Machine {
        root: paths.host_root(&args.node),
        node: args.node.clone(),
        paths,
    };
    let outcome = match args.command {
        KubeadmCommand::Init(a) => init(&machine, a).await,
        KubeadmCommand::Join(a) => join(&machine, a).await,
        KubeadmCommand::Reset(a) => reset(&machine, a).await,
        KubeadmCommand::Version { output } => {
            match output.as_deref() {
                Some("short") => println!("{VERSION}"),
                _ => println!(
                    "kubeadm version: &version.Info{{Major:\"1\", Minor:\"32\", GitVersion:\"{VERSION}\", GoVersion:\"go1.23.6\", Compiler:\"gc\", Platform:\"linux/amd64\"}}"
                ),
            }
            Ok(())
        }
    };
    match outcome {
        Ok(()) => Ok(0),
        Err(e) => {
            eprintln!("{e:#}");
            eprintln!("To see the stack trace of this error execute with --v=5 or higher");
            Ok(1)
        }
    }
}

/// The machine the stand-in runs on.
struct Machine {
    paths: LabPaths,
    node: String,
    root: PathBuf,
}

impl Machine {
    fn state(&self) -> Result<LabState> {
        LabState::read(&self.paths)
    }
    fn ip(&self, state: &LabState) -> String {
        state
            .nodes
            .iter()
            .find(|(n, _)| *n == self.node)
            .map(|(_, ip)| ip.to_string())
            .unwrap_or_default()
    }
    async fn ask(&self, req: &Request) -> Result<String> {
        let line = serde_json::to_string(req)?;
        crate::runtime::control(&self.paths, &format!("kubeadm {line}")).await
    }
}

fn say(line: &str) {
    println!("{line}");
    let _ = std::io::stdout().flush();
}

/// The pause between phases, and the hang a test asks for.
async fn phase(name: &str) {
    let ms = std::env::var("KCOPS_LAB_KUBEADM_PHASE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    if std::env::var("KCOPS_LAB_KUBEADM_HANG_AT").is_ok_and(|h| h == name) {
        loop {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
    }
}

fn ignored(list: &[String], error_line: &str) -> bool {
    let id = error_line
        .trim_start_matches("[ERROR ")
        .split(']')
        .next()
        .unwrap_or_default()
        .to_lowercase();
    list.iter().any(|i| {
        let i = i.to_lowercase();
        i == "all" || i == id
    })
}

fn preflight_fatal(errors: &[String]) -> anyhow::Error {
    let mut msg =
        String::from("error execution phase preflight: [preflight] Some fatal errors occurred:\n");
    for e in errors {
        msg.push_str(&format!("\t{e}\n"));
    }
    msg.push_str("[preflight] If you know what you are doing, you can make a check non-fatal with `--ignore-preflight-errors=...`");
    anyhow!(msg)
}

/// The admin token of the lab's own kubeconfig.
fn admin_token(paths: &LabPaths) -> Result<String> {
    let text = std::fs::read_to_string(paths.kubeconfig())
        .with_context(|| format!("cannot read {}", paths.kubeconfig().display()))?;
    text.lines()
        .find_map(|l| l.trim().strip_prefix("token:"))
        .map(|t| t.trim().to_string())
        .context("the lab's kubeconfig has no token")
}

fn read(path: PathBuf) -> Result<String> {
    std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))
}

async fn init(m: &Machine, a: InitArgs) -> Result<()> {
    let state = m.state()?;
    let flags = InitFlags {
        config: a.config.clone(),
        advertise_address: a.apiserver_advertise_address.clone(),
        bind_port: a.apiserver_bind_port,
        control_plane_endpoint: a.control_plane_endpoint.clone(),
        kubernetes_version: a.kubernetes_version.clone(),
        image_repository: a.image_repository.clone(),
        pod_network_cidr: a.pod_network_cidr.clone(),
        service_cidr: a.service_cidr.clone(),
        cri_socket: a.cri_socket.clone(),
        node_name: a.node_name.clone(),
        token: a.token.clone(),
        token_ttl_seconds: a.token_ttl.as_deref().and_then(config::parse_go_duration),
    };
    let cfg = InitConfig::resolve(&flags, &m.node, &m.ip(&state))?;
    if cfg.node_name != m.node {
        bail!(
            "nodeRegistration.name {:?}: the lab's kubelet on this machine registers as {:?}",
            cfg.node_name,
            m.node
        );
    }
    say(&format!(
        "[init] Using Kubernetes version: {}",
        cfg.kubernetes_version
    ));
    say("[preflight] Running pre-flight checks");
    let errors: Vec<String> = host::leftovers(&m.root, true)
        .into_iter()
        .filter(|e| !ignored(&a.ignore_preflight_errors, e))
        .collect();
    if !errors.is_empty() {
        return Err(preflight_fatal(&errors));
    }
    phase("preflight").await;
    say("[preflight] Pulling images required for setting up a Kubernetes cluster");
    say(
        "[preflight] This might take a minute or two, depending on the speed of your internet connection",
    );
    say(
        "[preflight] You can also perform this action beforehand using 'kubeadm config images pull'",
    );
    phase("pull").await;
    if a.dry_run {
        say("[dryrun] Would write the cluster's files and start its control plane");
        return Ok(());
    }

    // certs
    let pki = m.paths.pki();
    let ca_pem = read(pki.join("ca.crt"))?;
    say("[certs] Using certificateDir folder \"/etc/kubernetes/pki\"");
    say("[certs] Generating \"ca\" certificate and key");
    host::write(&m.root, "/etc/kubernetes/pki/ca.crt", &ca_pem, false)?;
    host::write(
        &m.root,
        "/etc/kubernetes/pki/ca.key",
        &read(pki.join("ca.key"))?,
        true,
    )?;
    say("[certs] Generating \"apiserver\" certificate and key");
    let ip = m.ip(&state);
    say(&format!(
        "[certs] apiserver serving cert is signed for DNS names [{} kubernetes kubernetes.default kubernetes.default.svc kubernetes.default.svc.cluster.local] and IPs [10.96.0.1 {}]",
        m.node, cfg.advertise_address
    ));
    host::write(
        &m.root,
        "/etc/kubernetes/pki/apiserver.crt",
        &read(pki.join("apiserver.crt"))?,
        false,
    )?;
    host::write(
        &m.root,
        "/etc/kubernetes/pki/apiserver.key",
        &read(pki.join("apiserver.key"))?,
        true,
    )?;
    for (name, file, ca) in [
        (
            "apiserver-kubelet-client",
            "apiserver-kubelet-client",
            false,
        ),
        ("front-proxy-ca", "front-proxy-ca", true),
        ("front-proxy-client", "front-proxy-client", false),
        ("etcd/ca", "etcd/ca", true),
        ("etcd/server", "etcd/server", false),
        ("etcd/peer", "etcd/peer", false),
        ("etcd/healthcheck-client", "etcd/healthcheck-client", false),
        ("apiserver-etcd-client", "apiserver-etcd-client", false),
    ] {
        say(&format!(
            "[certs] Generating \"{name}\" certificate and key"
        ));
        if name == "etcd/server" || name == "etcd/peer" {
            say(&format!(
                "[certs] {name} serving cert is signed for DNS names [{} localhost] and IPs [{ip} 127.0.0.1 ::1]",
                m.node
            ));
        }
        let (crt, key) = host::cert_pair(name, ca)?;
        host::write(
            &m.root,
            &format!("/etc/kubernetes/pki/{file}.crt"),
            &crt,
            false,
        )?;
        host::write(
            &m.root,
            &format!("/etc/kubernetes/pki/{file}.key"),
            &key,
            true,
        )?;
    }
    say("[certs] Generating \"sa\" key and public key");
    let (_, sa_key) = host::cert_pair("sa", false)?;
    host::write(&m.root, "/etc/kubernetes/pki/sa.key", &sa_key, true)?;
    phase("certs").await;

    // kubeconfig
    let token = admin_token(&m.paths)?;
    say("[kubeconfig] Using kubeconfig folder \"/etc/kubernetes\"");
    for (file, user) in [
        ("admin.conf", "kubernetes-admin".to_string()),
        ("super-admin.conf", "kubernetes-super-admin".to_string()),
        ("kubelet.conf", format!("system:node:{}", m.node)),
        (
            "controller-manager.conf",
            "system:kube-controller-manager".to_string(),
        ),
        ("scheduler.conf", "system:kube-scheduler".to_string()),
    ] {
        say(&format!("[kubeconfig] Writing \"{file}\" kubeconfig file"));
        host::write(
            &m.root,
            &format!("/etc/kubernetes/{file}"),
            &host::kubeconfig(&state.api_server, &ca_pem, &user, &token),
            true,
        )?;
    }
    phase("kubeconfig").await;

    // etcd and the control plane's static pods
    let repo = &cfg.image_repository;
    let v = &cfg.kubernetes_version;
    say("[etcd] Creating static Pod manifest for local etcd in \"/etc/kubernetes/manifests\"");
    host::write(
        &m.root,
        "/etc/kubernetes/manifests/etcd.yaml",
        &host::manifest(
            "etcd",
            &format!("{repo}/etcd:3.5.16-0"),
            &[
                "etcd".into(),
                format!(
                    "--advertise-client-urls=https://{}:2379",
                    cfg.advertise_address
                ),
                "--data-dir=/var/lib/etcd".into(),
                format!("--name={}", m.node),
            ],
        ),
        false,
    )?;
    std::fs::create_dir_all(m.root.join("var/lib/etcd/member"))?;
    say("[control-plane] Using manifest folder \"/etc/kubernetes/manifests\"");
    for (component, extra) in [
        (
            "kube-apiserver",
            vec![
                format!("--advertise-address={}", cfg.advertise_address),
                format!("--secure-port={}", cfg.bind_port),
                format!("--service-cluster-ip-range={}", cfg.service_subnet),
            ],
        ),
        ("kube-controller-manager", {
            let mut v = vec!["--controllers=*,bootstrapsigner,tokencleaner".to_string()];
            if !cfg.pod_subnet.is_empty() {
                v.push("--allocate-node-cidrs=true".into());
                v.push(format!("--cluster-cidr={}", cfg.pod_subnet));
            }
            v
        }),
        (
            "kube-scheduler",
            vec!["--kubeconfig=/etc/kubernetes/scheduler.conf".to_string()],
        ),
    ] {
        say(&format!(
            "[control-plane] Creating static Pod manifest for \"{component}\""
        ));
        let mut command = vec![component.to_string()];
        command.extend(extra);
        host::write(
            &m.root,
            &format!("/etc/kubernetes/manifests/{component}.yaml"),
            &host::manifest(component, &format!("{repo}/{component}:{v}"), &command),
            false,
        )?;
    }
    phase("control-plane").await;

    // kubelet
    kubelet_files(m, &cfg.cri_socket)?;
    say("[kubelet-start] Starting the kubelet");
    say(
        "[wait-control-plane] Waiting for the kubelet to boot up the control plane as static Pods from directory \"/etc/kubernetes/manifests\"",
    );
    say(
        "[kubelet-check] Waiting for a healthy kubelet at http://127.0.0.1:10248/healthz. This can take up to 4m0s",
    );
    phase("wait-control-plane").await;
    say("[kubelet-check] The kubelet is healthy after 501.181637ms");
    say("[api-check] Waiting for a healthy API server. This can take up to 4m0s");
    let reply = m
        .ask(&Request::Init {
            node: m.node.clone(),
            config: Box::new(cfg.clone()),
        })
        .await
        .map_err(|e| anyhow!("error execution phase wait-control-plane: {e:#}"))?;
    let reply: InitReply =
        serde_json::from_str(&reply).with_context(|| format!("the lab answered {reply:?}"))?;
    say("[api-check] The API server is healthy after 1.002135s");
    say(
        "[upload-config] Storing the configuration used in ConfigMap \"kubeadm-config\" in the \"kube-system\" Namespace",
    );
    say(
        "[kubelet] Creating a ConfigMap \"kubelet-config\" in namespace kube-system with the configuration for the kubelets in the cluster",
    );
    say("[upload-certs] Skipping phase. Please see --upload-certs");
    say(&format!(
        "[mark-control-plane] Marking the node {} as control-plane by adding the labels: [node-role.kubernetes.io/control-plane node.kubernetes.io/exclude-from-external-load-balancers]",
        m.node
    ));
    say(&format!(
        "[mark-control-plane] Marking the node {} as control-plane by adding the taints [node-role.kubernetes.io/control-plane:NoSchedule]",
        m.node
    ));
    phase("mark-control-plane").await;
    say(&format!("[bootstrap-token] Using token: {}", reply.token));
    say("[bootstrap-token] Configuring bootstrap tokens, cluster-info ConfigMap, RBAC Roles");
    say("[bootstrap-token] Configured RBAC rules to allow Node Bootstrap tokens to get nodes");
    say(
        "[bootstrap-token] Configured RBAC rules to allow Node Bootstrap tokens to post CSRs in order for nodes to get long term certificate credentials",
    );
    say(
        "[bootstrap-token] Configured RBAC rules to allow the csrapprover controller automatically approve CSRs from a Node Bootstrap Token",
    );
    say(
        "[bootstrap-token] Configured RBAC rules to allow certificate rotation for all node client certificates in the cluster",
    );
    say(
        "[bootstrap-token] Creating the \"cluster-info\" ConfigMap in the \"kube-public\" namespace",
    );
    say(
        "[kubelet-finalize] Updating \"/etc/kubernetes/kubelet.conf\" to point to a rotatable kubelet client certificate and key",
    );
    phase("bootstrap-token").await;
    say("[addons] Applied essential addon: CoreDNS");
    say("[addons] Applied essential addon: kube-proxy");
    let pin = token::ca_pins(&ca_pem)
        .map_err(|e| anyhow!(e))?
        .into_iter()
        .next()
        .unwrap_or_default();
    let endpoint = reply.server.trim_start_matches("https://");
    say("");
    say("Your Kubernetes control-plane has initialized successfully!");
    say("");
    say("To start using your cluster, you need to run the following as a regular user:");
    say("");
    say("  mkdir -p $HOME/.kube");
    say("  sudo cp -i /etc/kubernetes/admin.conf $HOME/.kube/config");
    say("  sudo chown $(id -u):$(id -g) $HOME/.kube/config");
    say("");
    say("Alternatively, if you are the root user, you can run:");
    say("");
    say("  export KUBECONFIG=/etc/kubernetes/admin.conf");
    say("");
    say("You should now deploy a pod network to the cluster.");
    say("Run \"kubectl apply -f [podnetwork].yaml\" with one of the options listed at:");
    say("  https://kubernetes.io/docs/concepts/cluster-administration/addons/");
    say("");
    say("Then you can join any number of worker nodes by running the following on each as root:");
    say("");
    if a.skip_token_print {
        say(&format!(
            "kubeadm join {endpoint} --token <value withheld> \\"
        ));
    } else {
        say(&format!(
            "kubeadm join {endpoint} --token {} \\",
            reply.token
        ));
    }
    say(&format!("\t--discovery-token-ca-cert-hash {pin} "));
    Ok(())
}

fn kubelet_files(m: &Machine, cri_socket: &str) -> Result<()> {
    say(
        "[kubelet-start] Writing kubelet environment file with flags to file \"/var/lib/kubelet/kubeadm-flags.env\"",
    );
    host::write(
        &m.root,
        "/var/lib/kubelet/kubeadm-flags.env",
        &format!(
            "KUBELET_KUBEADM_ARGS=\"--container-runtime-endpoint={cri_socket} --pod-infra-container-image=registry.k8s.io/pause:3.10\"\n"
        ),
        false,
    )?;
    say("[kubelet-start] Writing kubelet configuration to file \"/var/lib/kubelet/config.yaml\"");
    host::write(
        &m.root,
        "/var/lib/kubelet/config.yaml",
        cluster::KUBELET_CONFIG,
        false,
    )
}

/// kubeadm's discovery, the way `RetrieveValidatedConfigInfo` does it: the token's
/// signature over cluster-info's kubeconfig, then the CA against the pins.
fn validate_cluster_info(cm: &serde_json::Value, cfg: &JoinConfig) -> Result<String> {
    let (id, secret) = token::split(&cfg.token).ok_or_else(|| {
        anyhow!(
            "the bootstrap token {:?} was not of the form {:?}",
            cfg.token,
            token::TOKEN_PATTERN
        )
    })?;
    let kubeconfig = cm["data"]["kubeconfig"].as_str().unwrap_or_default();
    if kubeconfig.is_empty() {
        bail!(
            "there is no kubeconfig key in the cluster-info ConfigMap. This API Server isn't set up for token bootstrapping, can't connect"
        );
    }
    let jws = cm["data"][format!("{}{id}", token::JWS_PREFIX)]
        .as_str()
        .unwrap_or_default();
    if jws.is_empty() {
        bail!(
            "token id {id:?} is invalid for this cluster or it has expired. Use \"kubeadm token create\" on the control-plane node to create a new valid token"
        );
    }
    if token::detached_jws(kubeconfig, id, secret) != jws {
        bail!(
            "failed to verify JWS signature of received cluster info object, can't trust this API Server"
        );
    }
    let parsed: serde_json::Value = serde_yaml_ng::from_str(kubeconfig)
        .context("couldn't parse the kubeconfig file in the cluster-info ConfigMap")?;
    let clusters = parsed["clusters"].as_array().cloned().unwrap_or_default();
    if clusters.len() != 1 {
        bail!(
            "expected the kubeconfig file in the cluster-info ConfigMap to have a single cluster, but it had {}",
            clusters.len()
        );
    }
    if cfg.ca_cert_hashes.is_empty() {
        return Ok(kubeconfig.to_string());
    }
    use base64::Engine;
    let ca = clusters[0]["cluster"]["certificate-authority-data"]
        .as_str()
        .and_then(|d| base64::engine::general_purpose::STANDARD.decode(d).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default();
    let pins = token::ca_pins(&ca).map_err(|e| {
        anyhow!("{e}").context("failed to parse cluster CA from the cluster-info ConfigMap")
    })?;
    let pinned = |p: &String| cfg.ca_cert_hashes.iter().any(|h| h.eq_ignore_ascii_case(p));
    if !pins.iter().any(pinned) {
        bail!(
            "cluster CA found in cluster-info ConfigMap is invalid: none of the public keys {:?} are pinned",
            pins.join(", ")
        );
    }
    Ok(kubeconfig.to_string())
}

/// `sha256:<64 hex>` (kubeadm's pubkeypin.Set.Allow).
fn check_pin_format(hash: &str) -> Result<()> {
    let Some((format, hex)) = hash.split_once(':') else {
        bail!("invalid hash {hash:?}, expected \"format:hex-value\". Known format(s) are: sha256");
    };
    if !format.eq_ignore_ascii_case("sha256") {
        bail!("unknown hash format {format:?}. Known format(s) are: sha256");
    }
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        bail!(
            "invalid hash {hash:?}, expected a 32 byte SHA-256 hash, found {} bytes",
            hex.len() / 2
        );
    }
    Ok(())
}

async fn join(m: &Machine, a: JoinArgs) -> Result<()> {
    let flags = JoinFlags {
        config: a.config.clone(),
        endpoint: a.endpoint.clone(),
        token: a.token.clone(),
        discovery_token: a.discovery_token.clone(),
        ca_cert_hashes: a.ca_cert_hashes.clone(),
        unsafe_skip_ca_verification: a.discovery_token_unsafe_skip_ca_verification,
        control_plane: a.control_plane,
        node_name: a.node_name.clone(),
        cri_socket: a.cri_socket.clone(),
    };
    let cfg = JoinConfig::resolve(&flags, &m.node)?;
    for h in &cfg.ca_cert_hashes {
        check_pin_format(h)?;
    }
    say("[preflight] Running pre-flight checks");
    let errors: Vec<String> = host::leftovers(&m.root, false)
        .into_iter()
        .filter(|e| !ignored(&a.ignore_preflight_errors, e))
        .collect();
    if !errors.is_empty() {
        return Err(preflight_fatal(&errors));
    }
    let identity = |e: anyhow::Error| {
        anyhow!(
            "error execution phase preflight: couldn't validate the identity of the API Server: {e:#}"
        )
    };
    let url = format!(
        "https://{}/api/v1/namespaces/kube-public/configmaps/cluster-info?timeout=10s",
        cfg.endpoint
    );
    let reach = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::TcpStream::connect(cfg.endpoint.as_str()),
    )
    .await;
    match reach {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            let why = if e.kind() == std::io::ErrorKind::ConnectionRefused {
                "connect: connection refused".to_string()
            } else {
                e.to_string()
            };
            return Err(identity(anyhow!(
                "Get {url:?}: dial tcp {}: {why}",
                cfg.endpoint
            )));
        }
        Err(_) => {
            return Err(identity(anyhow!(
                "Get {url:?}: dial tcp {}: i/o timeout",
                cfg.endpoint
            )));
        }
    }
    let cm = m
        .ask(&Request::ClusterInfo)
        .await
        .map_err(|e| identity(anyhow!("{e:#}")))?;
    let cm: serde_json::Value = serde_json::from_str(&cm).context("cluster-info")?;
    let kubeconfig = validate_cluster_info(&cm, &cfg).map_err(identity)?;
    say(
        "[preflight] Reading configuration from the \"kubeadm-config\" ConfigMap in namespace \"kube-system\"...",
    );
    say(
        "[preflight] Use 'kubeadm init phase upload-config --config your-config.yaml' to re-upload it.",
    );
    phase("preflight").await;
    kubelet_files(m, &cfg.cri_socket)?;
    say("[kubelet-start] Starting the kubelet");
    say(
        "[kubelet-check] Waiting for a healthy kubelet at http://127.0.0.1:10248/healthz. This can take up to 4m0s",
    );
    say("[kubelet-check] The kubelet is healthy after 1.001036s");
    say("[kubelet-start] Waiting for the kubelet to perform the TLS Bootstrap");
    m.ask(&Request::Join {
        node: cfg.node_name.clone(),
        token: cfg.token.clone(),
        control_plane: cfg.control_plane,
        cri_socket: cfg.cri_socket.clone(),
    })
    .await?;
    let parsed: serde_json::Value = serde_yaml_ng::from_str(&kubeconfig).unwrap_or_default();
    let server = parsed["clusters"][0]["cluster"]["server"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    use base64::Engine;
    let ca = parsed["clusters"][0]["cluster"]["certificate-authority-data"]
        .as_str()
        .and_then(|d| base64::engine::general_purpose::STANDARD.decode(d).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default();
    host::write(&m.root, "/etc/kubernetes/pki/ca.crt", &ca, false)?;
    let token = admin_token(&m.paths)?;
    host::write(
        &m.root,
        "/etc/kubernetes/kubelet.conf",
        &host::kubeconfig(
            &server,
            &ca,
            &format!("system:node:{}", cfg.node_name),
            &token,
        ),
        true,
    )?;
    say("");
    say("This node has joined the cluster:");
    say("* Certificate signing request was sent to apiserver and a response was received.");
    say("* The Kubelet was informed of the new secure connection details.");
    say("");
    say("Run 'kubectl get nodes' on the control-plane to see this node join the cluster.");
    say("");
    Ok(())
}

async fn reset(m: &Machine, a: ResetArgs) -> Result<()> {
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

/// Writes the `kubeadm` shim into each machine's `<host root>/usr/bin`.
pub fn write_shims(paths: &LabPaths, nodes: &[String]) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let exe = std::env::current_exe().context("cannot find the kcops binary")?;
    let q = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
    for node in nodes {
        let bin = bin_dir(paths, node);
        std::fs::create_dir_all(&bin)
            .with_context(|| format!("cannot create {}", bin.display()))?;
        let shim = bin.join("kubeadm");
        std::fs::write(
            &shim,
            format!(
                "#!/bin/sh\n# The kcops lab's kubeadm stand-in on machine {node} of lab {} (lab and tests only).\nexec {} lab kubeadm --lab-root {} --node {} \"$@\"\n",
                paths.name,
                q(&exe.display().to_string()),
                q(&paths.root.display().to_string()),
                q(node)
            ),
        )
        .with_context(|| format!("cannot write {}", shim.display()))?;
        std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

/// Where a machine's `kubeadm` shim is: put it first on PATH.
pub fn bin_dir(paths: &LabPaths, node: &str) -> PathBuf {
    paths.host_root(node).join("usr/bin")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_must_be_sha256_hex() {
        assert!(check_pin_format(&format!("sha256:{}", "a".repeat(64))).is_ok());
        assert!(
            check_pin_format("md5:abcd")
                .unwrap_err()
                .to_string()
                .contains("unknown hash format")
        );
        assert!(
            check_pin_format("abcd")
                .unwrap_err()
                .to_string()
                .contains("format:hex-value")
        );
    }
}
