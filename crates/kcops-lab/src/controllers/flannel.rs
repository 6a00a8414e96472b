//! flanneld, played by the lab kubelet each time a flannel pod's container starts, and
//! the one fact about kube-proxy it depends on.
//!
//! flanneld asks the API server for its own pod through the service VIP
//! (`10.96.0.1:443`) before anything else. In the lab that VIP is routable from a
//! node only while the node's kube-proxy runs with a non-empty `clusterCIDR` (the
//! incident the `flannel-broken` scenario plants); kube-proxy reads its config when it
//! starts, so a ConfigMap change takes effect once kube-proxy restarts. When flanneld
//! gets through it writes the node's `/run/flannel/subnet.env` (what the CNI plugin
//! reads, see [`super::cni`]), annotates the node and clears NetworkUnavailable; when
//! it does not, it exits with flannel's own error and the kubelet crash-loops it.

use serde_json::{Value, json};

use super::kubelet::Crash;
use super::{Ctx, str_of};
use crate::api::store::now_rfc3339;
use crate::scenario::klog_time;

/// flanneld's pods: `app=flannel` in `kube-flannel`.
pub(crate) fn is_agent(pod: &Value) -> bool {
    str_of(pod, &["metadata", "namespace"]) == "kube-flannel"
        && str_of(pod, &["metadata", "labels", "app"]) == "flannel"
}

/// calico-node's pods: `k8s-app=calico-node` in `kube-system`.
pub(crate) fn is_calico_agent(pod: &Value) -> bool {
    str_of(pod, &["metadata", "namespace"]) == "kube-system"
        && str_of(pod, &["metadata", "labels", "k8s-app"]) == "calico-node"
}

/// kube-proxy's pods: `k8s-app=kube-proxy` in `kube-system`.
pub(crate) fn is_kube_proxy(pod: &Value) -> bool {
    str_of(pod, &["metadata", "namespace"]) == "kube-system"
        && str_of(pod, &["metadata", "labels", "k8s-app"]) == "kube-proxy"
}

/// The top-level `clusterCIDR:` of ConfigMap kube-system/kube-proxy `config.conf`,
/// unquoted (`""` when empty or absent).
pub(crate) fn configmap_cluster_cidr(ctx: &Ctx) -> String {
    let cm = ctx
        .store
        .get_value(&ctx.kinds.configmaps, "kube-system", "kube-proxy");
    let conf = cm
        .as_ref()
        .map(|c| str_of(c, &["data", "config.conf"]))
        .unwrap_or_default();
    conf.lines()
        .find_map(|l| l.strip_prefix("clusterCIDR:"))
        .map(|v| v.trim().trim_matches(['"', '\'']).to_string())
        .unwrap_or_default()
}

/// A kube-proxy container starts on `node`: it reads its config now. The first start on
/// a node the scenario says started earlier keeps what that one read.
pub(crate) fn kube_proxy_started(ctx: &Ctx, node: &str) {
    let mut read = ctx
        .kube_proxy_cidr
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let first = ctx
        .kube_proxy_first_start
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(node.to_string());
    if first && read.contains_key(node) {
        return;
    }
    read.insert(node.to_string(), configmap_cluster_cidr(ctx));
}

/// Whether the service VIP is routable from `node`: its kube-proxy's clusterCIDR as it
/// read it (or, before it started, as it will).
fn api_reachable(ctx: &Ctx, node: &str) -> bool {
    let read = ctx
        .kube_proxy_cidr
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(node)
        .cloned();
    !read
        .unwrap_or_else(|| configmap_cluster_cidr(ctx))
        .is_empty()
}

/// flanneld's start on `node` for pod `ns/name`: `Ok` once it has written subnet.env
/// and marked the node, the crash the kubelet plays otherwise.
pub(crate) fn start(ctx: &Ctx, node: &str, ns: &str, name: &str) -> Result<(), Crash> {
    if !api_reachable(ctx, node) {
        return Err(unreachable_crash(ns, name));
    }
    let Some(node_obj) = ctx.store.get_value(&ctx.kinds.nodes, "", node) else {
        return Err(Crash::error(format!(
            "Failed to create SubnetManager: error retrieving node {node}: nodes \"{node}\" not found"
        )));
    };
    let pod_cidr = str_of(&node_obj, &["spec", "podCIDR"]).to_string();
    let Some((net, prefix)) = pod_cidr.split_once('/') else {
        return Err(Crash::error(format!(
            "Error registering network: failed to acquire lease: node \"{node}\" pod cidr not assigned"
        )));
    };
    let gateway = net
        .parse::<std::net::Ipv4Addr>()
        .map(|ip| std::net::Ipv4Addr::from(u32::from(ip) + 1))
        .map_err(|_| Crash::error(format!("invalid podCIDR {pod_cidr:?} of node {node}")))?;
    let env = format!(
        "FLANNEL_NETWORK={}\nFLANNEL_SUBNET={gateway}/{prefix}\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n",
        flannel_network(ctx)
    );
    let root = ctx.paths.host_root(node);
    let path = root.join(super::cni::SUBNET_ENV);
    let written = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(&path, env));
    if let Err(e) = written {
        return Err(Crash::error(format!(
            "Failed to write subnet file /run/flannel/subnet.env: {e}"
        )));
    }
    if ctx.scenario.kubeadm {
        install_cni_config(&root);
    }
    mark_node(ctx, node, net);
    Ok(())
}

/// The DaemonSet's `install-cni` init container: flannel's conflist into the node's
/// `/etc/cni/net.d` (what makes the kubelet's network ready on a node kubeadm set up;
/// the scenarios with a running cluster write it themselves).
fn install_cni_config(root: &std::path::Path) {
    const CONFLIST: &str = "{\n  \"name\": \"cbr0\",\n  \"cniVersion\": \"0.3.1\",\n  \"plugins\": [\n    {\n      \"type\": \"flannel\",\n      \"delegate\": {\n        \"hairpinMode\": true,\n        \"isDefaultGateway\": true\n      }\n    },\n    {\n      \"type\": \"portmap\",\n      \"capabilities\": {\n        \"portMappings\": true\n      }\n    }\n  ]\n}\n";
    let path = root.join("etc/cni/net.d/10-flannel.conflist");
    if path.exists() {
        return;
    }
    let written = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(&path, CONFLIST));
    if let Err(e) = written {
        tracing::warn!("install-cni cannot write {}: {e}", path.display());
    }
}

/// `Network` of the kube-flannel-cfg `net-conf.json`.
fn flannel_network(ctx: &Ctx) -> String {
    ctx.store
        .get_value(&ctx.kinds.configmaps, "kube-flannel", "kube-flannel-cfg")
        .and_then(|cm| {
            let conf = str_of(&cm, &["data", "net-conf.json"]).to_string();
            serde_json::from_str::<Value>(&conf).ok()
        })
        .and_then(|v| v["Network"].as_str().map(str::to_string))
        .unwrap_or_default()
}

/// flanneld's marks on its node: the kube subnet manager's annotations and
/// NetworkUnavailable=False.
fn mark_node(ctx: &Ctx, node: &str, subnet_net: &str) {
    let now = now_rfc3339();
    let result = ctx.store.mutate(&ctx.kinds.nodes, "", node, None, |n| {
        let mac = format!(
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            0x02,
            node.len(),
            subnet_net.len(),
            0x1a,
            0x2b,
            0x3c
        );
        let annotations = &mut n["metadata"]["annotations"];
        if !annotations.is_object() {
            *annotations = json!({});
        }
        let keep_mac = annotations["flannel.alpha.coreos.com/backend-data"].is_string();
        if !keep_mac {
            annotations["flannel.alpha.coreos.com/backend-data"] =
                json!(format!("{{\"VNI\":1,\"VtepMAC\":\"{mac}\"}}"));
        }
        annotations["flannel.alpha.coreos.com/backend-type"] = json!("vxlan");
        annotations["flannel.alpha.coreos.com/kube-subnet-manager"] = json!("true");
        if !n["status"]["conditions"].is_array() {
            n["status"]["conditions"] = json!([]);
        }
        if let Some(conds) = n["status"]["conditions"].as_array_mut() {
            conds.retain(|c| c["type"] != "NetworkUnavailable");
            conds.insert(
                0,
                json!({"type": "NetworkUnavailable", "status": "False", "reason": "FlannelIsUp",
                       "message": "Flannel is running on this node",
                       "lastHeartbeatTime": now, "lastTransitionTime": now}),
            );
        }
        Ok(())
    });
    if let Err(e) = result {
        tracing::warn!("flannel cannot mark node {node}: {e}");
    }
}

/// flanneld's exit when the service VIP times out, with the log it prints (its last
/// line becomes the termination message: FallbackToLogsOnError).
fn unreachable_crash(ns: &str, name: &str) -> Crash {
    let t = klog_time(jiff::Timestamp::now());
    let error = format!(
        "E{t}       1 main.go:240] Failed to create SubnetManager: error retrieving pod spec for '{ns}/{name}': Get \"https://10.96.0.1:443/api/v1/namespaces/{ns}/pods/{name}\": dial tcp 10.96.0.1:443: i/o timeout"
    );
    Crash {
        exit_code: 1,
        reason: "Error".into(),
        message: error.clone(),
        logs: vec![
            format!(
                "I{t}       1 main.go:211] CLI flags config: {{etcdEndpoints:http://127.0.0.1:4001,http://127.0.0.1:2379 etcdPrefix:/coreos.com/network kubeSubnetMgr:true kubeAnnotationPrefix:flannel.alpha.coreos.com ipMasq:true subnetFile:/run/flannel/subnet.env netConfPath:/etc/kube-flannel/net-conf.json setNodeNetworkUnavailable:true}}"
            ),
            format!(
                "W{t}       1 client_config.go:659] Neither --kubeconfig nor --master was specified.  Using the inClusterConfig.  This might not work."
            ),
            error,
        ],
        run_for: std::time::Duration::from_secs(30),
    }
}
