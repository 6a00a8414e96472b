//! `kubeadm init` on a lab machine: kubeadm's phases, its files under the host root,
//! then the lab supervisor starts the cluster.

use anyhow::{Context, Result, anyhow};

use super::cluster::{self, InitReply, Request};
use super::config::{self, InitConfig, InitFlags};
use super::{
    InitArgs, Machine, admin_token, host, ignored, phase, preflight_fatal, read, say, token,
};

pub(super) async fn init(m: &Machine, a: InitArgs) -> Result<()> {
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
    let mut cfg = InitConfig::resolve(&flags, &m.node, &m.ip(&state))?;
    if cfg.node_name != m.node {
        // The lab's kubelet on a machine is that machine's node; say so, go on.
        eprintln!(
            "W{} {:>7} initconfiguration.go:126] nodeRegistration.name {:?} is not this lab machine; the node registers as {:?}",
            crate::scenario::klog_time(jiff::Timestamp::now()),
            std::process::id(),
            cfg.node_name,
            m.node
        );
        cfg.node_name = m.node.clone();
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
        host::write_cert_pair(&m.root, file, name, ca)?;
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

pub(super) fn kubelet_files(m: &Machine, cri_socket: &str) -> Result<()> {
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
