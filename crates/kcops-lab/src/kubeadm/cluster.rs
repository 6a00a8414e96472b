//! The control-plane side of the stand-in, run by the lab supervisor (over its control
//! socket): what `kubeadm init` leaves in the API (the node, kubeadm's ConfigMaps,
//! cluster-info, the bootstrap token, kube-proxy and CoreDNS, the control plane's
//! mirror pods), the node a `kubeadm join` registers once its token authenticates, and
//! the kubelet's network readiness of a kubeadm lab's nodes.

use std::net::Ipv4Addr;

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::config::InitConfig;
use super::token::{SECRET_TYPE, TokenSecret, split};
use crate::api::store::now_rfc3339;
use crate::controllers::{Ctx, str_of};

/// What the supervisor is asked over the control socket (`kubeadm <json>`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase")]
pub enum Request {
    Init {
        node: String,
        config: Box<InitConfig>,
    },
    /// kube-public/cluster-info as an anonymous client reads it.
    ClusterInfo,
    Join {
        node: String,
        token: String,
        control_plane: bool,
        cri_socket: String,
    },
    Reset {
        node: String,
    },
}

/// The reply to `Init`: where the new cluster answers.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitReply {
    pub server: String,
    pub token: String,
}

/// The kubelet's words while no CNI config is on the node.
pub const NETWORK_NOT_READY: &str = "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized";

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn create(ctx: &Ctx, api_version: &str, kind: &str, mut obj: Value) -> Result<()> {
    let rt = ctx
        .store
        .registry
        .by_kind(api_version, kind)
        .ok_or_else(|| anyhow!("resource type {api_version}/{kind} is not registered"))?;
    crate::api::defaults::apply(&rt.kind, &mut obj);
    let name = obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    ctx.store
        .create(&rt, obj)
        .map_err(|e| anyhow!("creating {kind} {name}: {e}"))?;
    Ok(())
}

/// A random `abcdef.0123456789abcdef`.
pub fn random_token() -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    let mut part = |n: usize| -> String {
        (0..n)
            .map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char)
            .collect()
    };
    format!("{}.{}", part(6), part(16))
}

/// The bootstrap token Secret kubeadm creates (`kubeadm token create` does the same).
pub fn token_secret(token: &str, ttl_seconds: u64, description: &str) -> Result<Value> {
    let (id, secret) = split(token).ok_or_else(|| anyhow!("malformed token"))?;
    let expiration = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_secs(ttl_seconds as i64))
        .map_err(|e| anyhow!("token expiration: {e}"))?
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    Ok(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": format!("bootstrap-token-{id}"), "namespace": "kube-system"},
        "type": SECRET_TYPE,
        "data": {
            "description": b64(description),
            "token-id": b64(id), "token-secret": b64(secret), "expiration": b64(&expiration),
            "usage-bootstrap-authentication": b64("true"), "usage-bootstrap-signing": b64("true"),
            "auth-extra-groups": b64("system:bootstrappers:kubeadm:default-node-token"),
        }
    }))
}

/// The `n`th /24 of the pod subnet, as the node IPAM controller hands them out.
fn pod_cidr(pod_subnet: &str, n: u32) -> Option<String> {
    let (net, prefix) = pod_subnet.split_once('/')?;
    let net: Ipv4Addr = net.parse().ok()?;
    let prefix: u32 = prefix.parse().ok()?;
    if prefix > 24 || n >= 1 << (24 - prefix) {
        return None;
    }
    Some(format!("{}/24", Ipv4Addr::from(u32::from(net) + (n << 8))))
}

/// The podSubnet of the uploaded ClusterConfiguration.
fn cluster_pod_subnet(ctx: &Ctx) -> String {
    ctx.store
        .get_value(&ctx.kinds.configmaps, "kube-system", "kubeadm-config")
        .map(|cm| str_of(&cm, &["data", "ClusterConfiguration"]).to_string())
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.trim().strip_prefix("podSubnet:"))
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

fn node_object(ctx: &Ctx, node: &str, control_plane: bool, cri_socket: &str) -> Result<Value> {
    let ip = ctx
        .nodes
        .get(node)
        .map(|n| n.ip)
        .ok_or_else(|| anyhow!("{node:?} is not a machine of this lab"))?;
    let version = ctx
        .scenario
        .node(node)
        .map(|n| n.kubelet_version.clone())
        .unwrap_or_default();
    let mut labels = json!({
        "beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": node, "kubernetes.io/os": "linux",
    });
    let mut taints = json!([]);
    if control_plane {
        labels["node-role.kubernetes.io/control-plane"] = json!("");
        labels["node.kubernetes.io/exclude-from-external-load-balancers"] = json!("");
        taints = json!([{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]);
    }
    let now = now_rfc3339();
    let mut obj = json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": node, "labels": labels, "annotations": {
            "kubeadm.alpha.kubernetes.io/cri-socket": cri_socket,
            "node.alpha.kubernetes.io/ttl": "0",
            "volumes.kubernetes.io/controller-managed-attach-detach": "true",
        }},
        "spec": {"taints": taints},
        "status": {
            "addresses": [{"type": "InternalIP", "address": ip.to_string()}, {"type": "Hostname", "address": node}],
            "capacity": {"cpu": "4", "memory": "8148172Ki", "pods": "110", "ephemeral-storage": "51175Mi"},
            "allocatable": {"cpu": "4", "memory": "8045772Ki", "pods": "110", "ephemeral-storage": "48294789041"},
            "conditions": [
                {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory", "message": "kubelet has sufficient memory available", "lastHeartbeatTime": now, "lastTransitionTime": now},
                {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure", "message": "kubelet has no disk pressure", "lastHeartbeatTime": now, "lastTransitionTime": now},
                {"type": "PIDPressure", "status": "False", "reason": "KubeletHasSufficientPID", "message": "kubelet has sufficient PID available", "lastHeartbeatTime": now, "lastTransitionTime": now},
                {"type": "Ready", "status": "False", "reason": "KubeletNotReady", "message": NETWORK_NOT_READY, "lastHeartbeatTime": now, "lastTransitionTime": now},
            ],
            "nodeInfo": {
                "machineID": format!("{:032x}", rand::random::<u128>()), "systemUUID": uuid::Uuid::new_v4().to_string(), "bootID": uuid::Uuid::new_v4().to_string(),
                "kernelVersion": "6.1.0-28-amd64", "osImage": "Debian GNU/Linux 12 (bookworm)", "containerRuntimeVersion": "containerd://1.7.24",
                "kubeletVersion": version, "kubeProxyVersion": version, "operatingSystem": "linux", "architecture": "amd64"
            },
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}
        }
    });
    let existing = ctx.store.count(&ctx.kinds.nodes) as u32;
    if let Some(cidr) = pod_cidr(&cluster_pod_subnet(ctx), existing) {
        obj["spec"]["podCIDR"] = json!(cidr);
        obj["spec"]["podCIDRs"] = json!([cidr]);
    }
    Ok(obj)
}

/// The control plane's static pods, as their mirror pods appear once the kubelet runs
/// them.
fn mirror_pods(ctx: &Ctx, node: &str, cfg_version: &str, repo: &str) -> Result<()> {
    let ip = ctx
        .nodes
        .get(node)
        .map(|n| n.ip.to_string())
        .unwrap_or_default();
    let components = [
        (
            "etcd",
            format!("{repo}/etcd:3.5.16-0"),
            vec![
                "etcd".to_string(),
                format!("--advertise-client-urls=https://{ip}:2379"),
                "--data-dir=/var/lib/etcd".into(),
                format!("--initial-advertise-peer-urls=https://{ip}:2380"),
                format!("--initial-cluster={node}=https://{ip}:2380"),
                format!("--listen-client-urls=https://127.0.0.1:2379,https://{ip}:2379"),
                format!("--name={node}"),
            ],
        ),
        (
            "kube-apiserver",
            format!("{repo}/kube-apiserver:{cfg_version}"),
            vec![
                "kube-apiserver".to_string(),
                format!("--advertise-address={ip}"),
                "--etcd-servers=https://127.0.0.1:2379".into(),
            ],
        ),
        (
            "kube-controller-manager",
            format!("{repo}/kube-controller-manager:{cfg_version}"),
            vec![
                "kube-controller-manager".to_string(),
                "--allocate-node-cidrs=true".into(),
                format!("--cluster-cidr={}", cluster_pod_subnet(ctx)),
                "--controllers=*,bootstrapsigner,tokencleaner".into(),
            ],
        ),
        (
            "kube-scheduler",
            format!("{repo}/kube-scheduler:{cfg_version}"),
            vec!["kube-scheduler".to_string()],
        ),
    ];
    for (component, image, command) in components {
        create(
            ctx,
            "v1",
            "Pod",
            json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": format!("{component}-{node}"), "namespace": "kube-system",
                    "labels": {"component": component, "tier": "control-plane"},
                    "annotations": {"kubernetes.io/config.source": "file", "kubernetes.io/config.mirror": format!("{:032x}", rand::random::<u128>())}},
                "spec": {"nodeName": node, "hostNetwork": true, "priorityClassName": "system-node-critical",
                    "tolerations": [{"operator": "Exists", "effect": "NoExecute"}],
                    "containers": [{"name": component, "image": image, "command": command}]}
            }),
        )?;
    }
    Ok(())
}

fn cluster_info_kubeconfig(server: &str, ca_pem: &str) -> String {
    format!(
        "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: {}\n    server: {server}\n  name: \"\"\ncontexts: null\ncurrent-context: \"\"\nkind: Config\npreferences: {{}}\nusers: null\n",
        b64(ca_pem)
    )
}

/// `kubeadm init`'s objects. The API server is started by the caller.
pub fn init(
    ctx: &Ctx,
    node: &str,
    cfg: &InitConfig,
    server: &str,
    ca_pem: &str,
) -> Result<InitReply> {
    if ctx.store.get(&ctx.kinds.nodes, "", node).is_some() {
        bail!("node {node:?} is already part of a cluster (run kubeadm reset first)");
    }
    if ctx
        .store
        .get(&ctx.kinds.configmaps, "kube-system", "kubeadm-config")
        .is_some()
    {
        bail!("this lab's cluster is already initialised");
    }
    let cm = |ns: &str, name: &str, data: Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns}, "data": data});
    create(
        ctx,
        "v1",
        "ConfigMap",
        cm(
            "kube-system",
            "kubeadm-config",
            json!({"ClusterConfiguration": cfg.cluster_configuration}),
        ),
    )?;
    create(
        ctx,
        "v1",
        "ConfigMap",
        cm(
            "kube-system",
            "kubelet-config",
            json!({"kubelet": KUBELET_CONFIG}),
        ),
    )?;
    let proxy = format!(
        "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nbindAddress: 0.0.0.0\nclientConnection:\n  kubeconfig: /var/lib/kube-proxy/kubeconfig.conf\nclusterCIDR: {}\nkind: KubeProxyConfiguration\nmode: \"\"\n",
        cfg.pod_subnet
    );
    create(
        ctx,
        "v1",
        "ConfigMap",
        cm("kube-system", "kube-proxy", json!({"config.conf": proxy})),
    )?;
    create(
        ctx,
        "v1",
        "ConfigMap",
        cm(
            "kube-system",
            "coredns",
            json!({"Corefile": ".:53 {\n    errors\n    health\n    ready\n    kubernetes cluster.local in-addr.arpa ip6.arpa\n    forward . /etc/resolv.conf\n    cache 30\n    loop\n    reload\n}\n"}),
        ),
    )?;
    create(
        ctx,
        "v1",
        "Node",
        node_object(ctx, node, true, &cfg.cri_socket)?,
    )?;
    mirror_pods(ctx, node, &cfg.kubernetes_version, &cfg.image_repository)?;
    let token = if cfg.token.is_empty() {
        random_token()
    } else {
        cfg.token.clone()
    };
    create(
        ctx,
        "v1",
        "Secret",
        token_secret(
            &token,
            cfg.token_ttl_seconds,
            "The default bootstrap token generated by 'kubeadm init'.",
        )?,
    )?;
    create(
        ctx,
        "v1",
        "ConfigMap",
        cm(
            "kube-public",
            "cluster-info",
            json!({"kubeconfig": cluster_info_kubeconfig(server, ca_pem)}),
        ),
    )?;
    let proxy_image = format!(
        "{}/kube-proxy:{}",
        cfg.image_repository, cfg.kubernetes_version
    );
    create(
        ctx,
        "apps/v1",
        "DaemonSet",
        json!({
            "apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "kube-proxy", "namespace": "kube-system", "labels": {"k8s-app": "kube-proxy"}},
            "spec": {"selector": {"matchLabels": {"k8s-app": "kube-proxy"}},
                "template": {"metadata": {"labels": {"k8s-app": "kube-proxy"}},
                    "spec": {"hostNetwork": true, "priorityClassName": "system-node-critical",
                        "tolerations": [{"operator": "Exists"}],
                        "containers": [{"name": "kube-proxy", "image": proxy_image,
                            "command": ["/usr/local/bin/kube-proxy", "--config=/var/lib/kube-proxy/config.conf", "--hostname-override=$(NODE_NAME)"]}]}}}
        }),
    )?;
    create(
        ctx,
        "apps/v1",
        "Deployment",
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "coredns", "namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"k8s-app": "kube-dns"}},
                "template": {"metadata": {"labels": {"k8s-app": "kube-dns"}},
                    "spec": {"priorityClassName": "system-cluster-critical",
                        "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"}, {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}],
                        "containers": [{"name": "coredns", "image": format!("{}/coredns/coredns:v1.11.3", cfg.image_repository),
                            "args": ["-conf", "/etc/coredns/Corefile"]}]}}}
        }),
    )?;
    create(
        ctx,
        "v1",
        "Service",
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kube-dns", "namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}},
            "spec": {"selector": {"k8s-app": "kube-dns"}, "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "dns-tcp", "port": 53, "protocol": "TCP"}]}
        }),
    )?;
    Ok(InitReply {
        server: server.to_string(),
        token,
    })
}

/// kube-public/cluster-info, or the API's NotFound in kubeadm's words.
pub fn cluster_info(ctx: &Ctx) -> Result<Value> {
    ctx.store
        .get_value(&ctx.kinds.configmaps, "kube-public", "cluster-info")
        .context("configmaps \"cluster-info\" not found")
}

/// The TLS bootstrap: the token must authenticate (a live Secret with the
/// authentication usage); then the kubelet registers its node.
pub fn join(
    ctx: &Ctx,
    node: &str,
    token: &str,
    control_plane: bool,
    cri_socket: &str,
) -> Result<()> {
    let (id, secret) = split(token).ok_or_else(|| anyhow!("Unauthorized"))?;
    let stored = ctx
        .store
        .get_value(
            &ctx.kinds.secrets,
            "kube-system",
            &format!("bootstrap-token-{id}"),
        )
        .and_then(|s| TokenSecret::from_secret(&s));
    let valid = stored.is_some_and(|t| {
        t.secret == secret && t.authentication && !t.expired(jiff::Timestamp::now())
    });
    if !valid {
        bail!("error execution phase kubelet-start: error uploading crisocket: Unauthorized");
    }
    if let Some(existing) = ctx.store.get_value(&ctx.kinds.nodes, "", node) {
        let ready = existing["status"]["conditions"]
            .as_array()
            .is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            });
        if ready {
            bail!(
                "error execution phase kubelet-start: a Node with name {node:?} and status \"Ready\" already exists in the cluster. You must delete the existing Node or change the name of this new joining Node"
            );
        }
        let _ = ctx.store.delete(&ctx.kinds.nodes, "", node, Some(0), None);
    }
    create(
        ctx,
        "v1",
        "Node",
        node_object(ctx, node, control_plane, cri_socket)?,
    )?;
    if control_plane {
        let cc = ctx
            .store
            .get_value(&ctx.kinds.configmaps, "kube-system", "kubeadm-config")
            .map(|cm| str_of(&cm, &["data", "ClusterConfiguration"]).to_string())
            .unwrap_or_default();
        let field = |k: &str| {
            cc.lines()
                .find_map(|l| l.strip_prefix(k))
                .map(|v| v.trim().to_string())
                .unwrap_or_default()
        };
        mirror_pods(
            ctx,
            node,
            &field("kubernetesVersion:"),
            &field("imageRepository:"),
        )?;
    }
    if let Some(n) = ctx.nodes.get(node) {
        n.alive.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    Ok(())
}

/// `kubeadm reset` stops the machine's kubelet; the node object stays until someone
/// deletes it (as on a real cluster), going NotReady.
pub fn reset(ctx: &Ctx, node: &str) -> Result<()> {
    if ctx.store.get(&ctx.kinds.nodes, "", node).is_some() {
        crate::timeline::set_node_ready(ctx, node, false)?;
    } else if let Some(n) = ctx.nodes.get(node) {
        n.alive.store(false, std::sync::atomic::Ordering::Relaxed);
    }
    Ok(())
}

/// The kubelet's network readiness: Ready once a CNI config is in the node's
/// `/etc/cni/net.d` (the network add-on's install step writes it), NotReady with the
/// kubelet's words before. Nodes whose kubelet is down are left to the node
/// lifecycle (Unknown).
pub fn node_network_ready(ctx: &Ctx) {
    for (name, runtime) in &ctx.nodes {
        if !runtime.alive.load(std::sync::atomic::Ordering::Relaxed) {
            continue;
        }
        let Some(node) = ctx.store.get_value(&ctx.kinds.nodes, "", name) else {
            continue;
        };
        let want = has_cni_config(&ctx.paths.host_root(name));
        let is = node["status"]["conditions"].as_array().is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        });
        if want == is {
            continue;
        }
        let now = now_rfc3339();
        let ready = if want {
            json!({"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status", "lastHeartbeatTime": now, "lastTransitionTime": now})
        } else {
            json!({"type": "Ready", "status": "False", "reason": "KubeletNotReady", "message": NETWORK_NOT_READY, "lastHeartbeatTime": now, "lastTransitionTime": now})
        };
        let result = ctx.store.mutate(&ctx.kinds.nodes, "", name, None, |n| {
            if let Some(conds) = n["status"]["conditions"].as_array_mut() {
                conds.retain(|c| c["type"] != "Ready");
                conds.push(ready.clone());
            }
            Ok(())
        });
        if let Err(e) = result {
            tracing::warn!("cannot set node {name} readiness: {e}");
        }
    }
}

/// Whether `/etc/cni/net.d` holds a `.conflist`/`.conf`/`.json` file.
pub fn has_cni_config(host_root: &std::path::Path) -> bool {
    std::fs::read_dir(host_root.join("etc/cni/net.d")).is_ok_and(|d| {
        d.flatten().any(|e| {
            let n = e.file_name().to_string_lossy().to_string();
            n.ends_with(".conflist") || n.ends_with(".conf") || n.ends_with(".json")
        })
    })
}

pub(crate) const KUBELET_CONFIG: &str = "apiVersion: kubelet.config.k8s.io/v1beta1\nauthentication:\n  anonymous:\n    enabled: false\n  webhook:\n    enabled: true\n  x509:\n    clientCAFile: /etc/kubernetes/pki/ca.crt\nauthorization:\n  mode: Webhook\ncgroupDriver: systemd\nclusterDNS:\n- 10.96.0.10\nclusterDomain: cluster.local\nkind: KubeletConfiguration\nrotateCertificates: true\nstaticPodPath: /etc/kubernetes/manifests\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_get_consecutive_slash_24s_of_the_pod_subnet() {
        assert_eq!(
            pod_cidr("10.244.0.0/16", 0).as_deref(),
            Some("10.244.0.0/24")
        );
        assert_eq!(
            pod_cidr("10.244.0.0/16", 2).as_deref(),
            Some("10.244.2.0/24")
        );
        assert_eq!(pod_cidr("", 0), None);
        assert_eq!(pod_cidr("10.244.0.0/25", 0), None);
    }
}
