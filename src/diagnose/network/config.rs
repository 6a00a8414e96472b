//! The pod network as the cluster's objects declare it: which add-on runs (flannel,
//! calico or unknown) and its DaemonSet and pods, flannel's `net-conf.json`, calico's
//! IPPools and block affinities, kubeadm's podSubnet and kube-proxy's clusterCIDR.
//!
//! Read once per diagnosis; every value keeps where it came from, because evidence
//! lines quote the object and key an operator would open to check or fix it.

use std::collections::HashMap;
use std::sync::Arc;

use crate::model::pod::Pod;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::DynamicObject;

use crate::diagnose::index::pod_node;
use crate::model::cidr::{Cidr, parse_list};
use crate::model::snapshot::Snapshot;

/// The pod network add-ons the console knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CniKind {
    Flannel,
    Calico,
    #[default]
    Unknown,
}

impl CniKind {
    pub fn name(self) -> &'static str {
        match self {
            CniKind::Flannel => "flannel",
            CniKind::Calico => "calico",
            CniKind::Unknown => "unknown",
        }
    }
}

/// Namespaces flannel's DaemonSet lives in: today's manifest, and the older one.
const FLANNEL_NAMESPACES: &[&str] = &["kube-flannel", "kube-system"];
/// Namespaces calico-node lives in: the manifest install, and the operator's.
const CALICO_NAMESPACES: &[&str] = &["kube-system", "calico-system"];

/// A value read from an object, with the object and key it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sourced<T> {
    pub value: T,
    /// `ConfigMap kube-system/kubeadm-config ClusterConfiguration networking.podSubnet`
    pub source: String,
}

/// One calico IPPool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    pub name: String,
    /// The `spec.cidr` text, and what it parses to.
    pub cidr_text: String,
    pub cidr: Option<Cidr>,
    pub disabled: bool,
    /// `IPIP`, `VXLAN`, `IPIP CrossSubnet`, or `BGP` (neither encapsulation).
    pub encapsulation: String,
}

/// One calico BlockAffinity: `node` holds the block `cidr`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Affinity {
    pub node: String,
    pub cidr: String,
    pub state: String,
}

/// The pod network configuration of the cluster.
#[derive(Debug, Default)]
pub struct NetConfig<'a> {
    pub kind: Option<CniKind>,
    /// The add-on's DaemonSet.
    pub daemonset: Option<&'a DaemonSet>,
    /// The add-on's agent pods (not being deleted), by node.
    pub agents: HashMap<&'a str, &'a Pod>,
    /// `kube-flannel-cfg` and its `net-conf.json` Network / Backend Type.
    pub flannel_cfg: Option<&'a ConfigMap>,
    pub flannel_network: Option<Result<Cidr, String>>,
    pub flannel_backend: Option<String>,
    pub pools: Vec<Pool>,
    pub affinities: Vec<Affinity>,
    /// kubeadm's `networking.podSubnet` (comma-separated for dual stack).
    pub pod_subnet: Option<Sourced<Result<Vec<Cidr>, String>>>,
    /// Whether the kubeadm-config ConfigMap exists (a kubeadm cluster).
    pub kubeadm: bool,
    pub service_subnet: Option<String>,
    /// kube-proxy's clusterCIDR as it runs: the `--cluster-cidr` flag of its
    /// DaemonSet when given (the usual fix), else `clusterCIDR` of its ConfigMap.
    /// `None` when there is no kube-proxy to ask (not kubeadm, or kube-proxy-less).
    pub cluster_cidr: Option<Sourced<String>>,
}

impl NetConfig<'_> {
    pub fn kind(&self) -> CniKind {
        self.kind.unwrap_or(CniKind::Unknown)
    }

    /// The pod network the add-on hands addresses from: flannel's Network, or
    /// calico's enabled pools.
    pub(crate) fn cni_ranges(&self) -> Vec<Cidr> {
        match self.kind() {
            CniKind::Flannel => self
                .flannel_network
                .iter()
                .filter_map(|r| r.as_ref().ok().copied())
                .collect(),
            CniKind::Calico => self
                .pools
                .iter()
                .filter(|p| !p.disabled)
                .filter_map(|p| p.cidr)
                .collect(),
            CniKind::Unknown => Vec::new(),
        }
    }

    /// kubeadm's podSubnet when it parses.
    pub(crate) fn pod_subnets(&self) -> Vec<Cidr> {
        self.pod_subnet
            .as_ref()
            .and_then(|s| s.value.as_ref().ok())
            .cloned()
            .unwrap_or_default()
    }

    /// What the pod network should be: kubeadm's podSubnet, else what the add-on uses.
    pub(crate) fn expected_network(&self) -> Vec<Cidr> {
        let subnets = self.pod_subnets();
        if subnets.is_empty() {
            self.cni_ranges()
        } else {
            subnets
        }
    }

    /// `kube-flannel/kube-flannel-ds`
    pub(crate) fn daemonset_name(&self) -> Option<String> {
        let ds = self.daemonset?;
        Some(format!(
            "{}/{}",
            ds.metadata.namespace.as_deref().unwrap_or_default(),
            ds.metadata.name.as_deref().unwrap_or_default()
        ))
    }
}

fn configmap<'a>(s: &'a Snapshot, ns: &str, name: &str) -> Option<&'a ConfigMap> {
    s.configmaps
        .iter()
        .find(|c| {
            c.metadata.namespace.as_deref() == Some(ns) && c.metadata.name.as_deref() == Some(name)
        })
        .map(|c| c.as_ref())
}

fn data<'a>(cm: &'a ConfigMap, key: &str) -> Option<&'a str> {
    cm.data.as_ref()?.get(key).map(String::as_str)
}

fn has_label(ds: &DaemonSet, key: &str, value: &str) -> bool {
    ds.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(key))
        .is_some_and(|v| v == value)
}

fn find_daemonset(s: &Snapshot) -> Option<(CniKind, &DaemonSet)> {
    let in_ns = |ds: &DaemonSet, list: &[&str]| {
        ds.metadata
            .namespace
            .as_deref()
            .is_some_and(|ns| list.contains(&ns))
    };
    let name = |ds: &DaemonSet| ds.metadata.name.as_deref().unwrap_or_default().to_string();
    let flannel = s
        .daemonsets
        .iter()
        .filter(|ds| in_ns(ds, FLANNEL_NAMESPACES))
        .find(|ds| name(ds) == "kube-flannel-ds")
        .or_else(|| {
            s.daemonsets
                .iter()
                .filter(|ds| in_ns(ds, FLANNEL_NAMESPACES))
                .find(|ds| has_label(ds, "app", "flannel"))
        });
    if let Some(ds) = flannel {
        return Some((CniKind::Flannel, ds.as_ref()));
    }
    s.daemonsets
        .iter()
        .filter(|ds| in_ns(ds, CALICO_NAMESPACES))
        .find(|ds| name(ds) == "calico-node")
        .map(|ds| (CniKind::Calico, ds.as_ref()))
}

/// Whether `pod` is one of the DaemonSet's pods (its controller reference).
fn owned_by(pod: &Pod, ds: &DaemonSet) -> bool {
    let uid = ds.metadata.uid.as_deref();
    let name = ds.metadata.name.as_deref().unwrap_or_default();
    pod.metadata.namespace.as_deref() == ds.metadata.namespace.as_deref()
        && pod
            .metadata
            .owner_references
            .as_deref()
            .unwrap_or_default()
            .iter()
            .any(|o| {
                o.kind == "DaemonSet"
                    && o.name == name
                    && uid.is_none_or(|u| u.is_empty() || o.uid.is_empty() || o.uid == u)
            })
}

fn flannel_net_conf(cm: &ConfigMap) -> (Option<Result<Cidr, String>>, Option<String>) {
    let Some(text) = data(cm, "net-conf.json") else {
        return (Some(Err("net-conf.json is missing".to_string())), None);
    };
    let v: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return (Some(Err(format!("net-conf.json is not JSON: {e}"))), None),
    };
    let network = match v.get("Network").and_then(|n| n.as_str()) {
        Some(n) => Some(n.parse::<Cidr>().map_err(|e| e.to_string())),
        None => Some(Err("net-conf.json has no \"Network\"".to_string())),
    };
    let backend = v
        .get("Backend")
        .and_then(|b| b.get("Type"))
        .and_then(|t| t.as_str())
        .map(str::to_string);
    (network, backend)
}

fn yaml_str(v: &serde_yaml_ng::Value, path: &[&str]) -> Option<String> {
    let mut cur = v;
    for key in path {
        cur = cur.get(*key)?;
    }
    match cur {
        serde_yaml_ng::Value::String(s) => Some(s.clone()),
        serde_yaml_ng::Value::Null => Some(String::new()),
        other => serde_yaml_ng::to_string(other)
            .ok()
            .map(|s| s.trim().to_string()),
    }
}

/// `--cluster-cidr=X` or `--cluster-cidr X` among kube-proxy's command and args.
fn cluster_cidr_flag(ds: &DaemonSet) -> Option<String> {
    let spec = ds.spec.as_ref()?.template.spec.as_ref()?;
    let c = spec.containers.first()?;
    let words: Vec<&str> = c
        .command
        .iter()
        .flatten()
        .chain(c.args.iter().flatten())
        .map(String::as_str)
        .collect();
    for (i, w) in words.iter().enumerate() {
        if let Some(v) = w.strip_prefix("--cluster-cidr=") {
            return Some(v.to_string());
        }
        if *w == "--cluster-cidr" {
            return words.get(i + 1).map(|v| v.to_string());
        }
    }
    None
}

fn spec_str<'o>(o: &'o DynamicObject, key: &str) -> Option<&'o str> {
    o.data.get("spec")?.get(key)?.as_str()
}

fn pool(o: &DynamicObject) -> Pool {
    let cidr_text = spec_str(o, "cidr").unwrap_or_default().to_string();
    let disabled = o
        .data
        .get("spec")
        .and_then(|s| s.get("disabled"))
        .and_then(|d| d.as_bool())
        .unwrap_or(false);
    let mode = |key: &str| spec_str(o, key).unwrap_or("Never").to_string();
    let (ipip, vxlan) = (mode("ipipMode"), mode("vxlanMode"));
    let encapsulation = match (ipip.as_str(), vxlan.as_str()) {
        ("Never", "Never") => "BGP".to_string(),
        ("Always", _) => "IPIP".to_string(),
        ("CrossSubnet", _) => "IPIP CrossSubnet".to_string(),
        (_, "Always") => "VXLAN".to_string(),
        (_, v) => format!("VXLAN {v}"),
    };
    Pool {
        name: o.metadata.name.clone().unwrap_or_default(),
        cidr: cidr_text.parse().ok(),
        cidr_text,
        disabled,
        encapsulation,
    }
}

fn affinity(o: &DynamicObject) -> Option<Affinity> {
    Some(Affinity {
        node: spec_str(o, "node")?.to_string(),
        cidr: spec_str(o, "cidr").unwrap_or_default().to_string(),
        state: spec_str(o, "state").unwrap_or("confirmed").to_string(),
    })
}

/// Reads the pod network configuration out of the snapshot.
pub fn read(s: &Snapshot) -> NetConfig<'_> {
    // The agents are in their DaemonSet's namespace: only that range of pods.
    let ns = find_daemonset(s)
        .and_then(|(_, ds)| ds.metadata.namespace.as_deref())
        .unwrap_or_default();
    read_with(s, s.pods_in(ns))
}

/// [`read`], the CNI agents looked for among `pods` only (the deriver passes the pods
/// a DaemonSet owns, rather than walking 150,000 pods for every view).
pub fn read_with<'a>(
    s: &'a Snapshot,
    pods: impl IntoIterator<Item = &'a Arc<Pod>>,
) -> NetConfig<'a> {
    let mut cfg = NetConfig::default();
    if let Some((kind, ds)) = find_daemonset(s) {
        cfg.kind = Some(kind);
        cfg.daemonset = Some(ds);
        for p in pods {
            if p.metadata.deletion_timestamp().is_none()
                && owned_by(p, ds)
                && let Some(node) = pod_node(p)
            {
                cfg.agents.insert(node, p.as_ref());
            }
        }
        if kind == CniKind::Flannel {
            let ns = ds.metadata.namespace.as_deref().unwrap_or("kube-flannel");
            cfg.flannel_cfg = configmap(s, ns, "kube-flannel-cfg").or_else(|| {
                FLANNEL_NAMESPACES
                    .iter()
                    .find_map(|n| configmap(s, n, "kube-flannel-cfg"))
            });
            if let Some(cm) = cfg.flannel_cfg {
                (cfg.flannel_network, cfg.flannel_backend) = flannel_net_conf(cm);
            }
        }
    }
    cfg.pools = s.ip_pools.iter().map(|o| pool(o)).collect();
    cfg.affinities = s
        .block_affinities
        .iter()
        .filter_map(|o| affinity(o))
        .collect();
    if !cfg.pools.is_empty() && cfg.kind.is_none() {
        // calico's resources without a calico-node DaemonSet we can see.
        cfg.kind = Some(CniKind::Calico);
    }
    if let Some(cm) = configmap(s, "kube-system", "kubeadm-config") {
        cfg.kubeadm = true;
        let parsed =
            data(cm, "ClusterConfiguration").map(serde_yaml_ng::from_str::<serde_yaml_ng::Value>);
        if let Some(Ok(v)) = parsed {
            let source =
                "ConfigMap kube-system/kubeadm-config ClusterConfiguration networking.podSubnet"
                    .to_string();
            if let Some(text) = yaml_str(&v, &["networking", "podSubnet"]).filter(|t| !t.is_empty())
            {
                let value = parse_list(&text).map_err(|e| e.to_string()).and_then(|l| {
                    if l.is_empty() {
                        Err(format!("{text:?} lists no range"))
                    } else {
                        Ok(l)
                    }
                });
                cfg.pod_subnet = Some(Sourced { value, source });
            }
            cfg.service_subnet =
                yaml_str(&v, &["networking", "serviceSubnet"]).filter(|t| !t.is_empty());
        }
    }
    let proxy_ds = s.daemonsets.iter().find(|d| {
        d.metadata.namespace.as_deref() == Some("kube-system")
            && d.metadata.name.as_deref() == Some("kube-proxy")
    });
    if let Some(flag) = proxy_ds.and_then(|d| cluster_cidr_flag(d)) {
        cfg.cluster_cidr = Some(Sourced {
            value: flag,
            source: "DaemonSet kube-system/kube-proxy --cluster-cidr".to_string(),
        });
    } else if let Some(cm) = configmap(s, "kube-system", "kube-proxy") {
        let value = data(cm, "config.conf")
            .and_then(|t| serde_yaml_ng::from_str::<serde_yaml_ng::Value>(t).ok())
            .and_then(|v| yaml_str(&v, &["clusterCIDR"]))
            .unwrap_or_default();
        cfg.cluster_cidr = Some(Sourced {
            value,
            source: "ConfigMap kube-system/kube-proxy config.conf clusterCIDR".to_string(),
        });
    }
    cfg
}

#[cfg(test)]
mod tests {
    use super::super::super::fixtures::*;
    use super::*;

    pub(crate) fn kubeadm_config(pod_subnet: &str) -> std::sync::Arc<ConfigMap> {
        from(json!({
            "metadata": {"name": "kubeadm-config", "namespace": "kube-system"},
            "data": {"ClusterConfiguration": format!(
                "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nnetworking:\n  dnsDomain: cluster.local\n  podSubnet: {pod_subnet}\n  serviceSubnet: 10.96.0.0/12\n")}
        }))
    }

    #[test]
    fn reads_kubeadm_and_kube_proxy() {
        let mut s = snapshot();
        s.configmaps.push(kubeadm_config("10.244.0.0/16"));
        s.configmaps.push(from(json!({
            "metadata": {"name": "kube-proxy", "namespace": "kube-system"},
            "data": {"config.conf": "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nclusterCIDR: \"\"\nkind: KubeProxyConfiguration\n"}
        })));
        let cfg = read(&s);
        assert_eq!(cfg.kind(), CniKind::Unknown);
        assert!(cfg.kubeadm);
        assert_eq!(
            cfg.pod_subnets(),
            vec!["10.244.0.0/16".parse::<Cidr>().unwrap()]
        );
        assert_eq!(cfg.service_subnet.as_deref(), Some("10.96.0.0/12"));
        let cc = cfg.cluster_cidr.unwrap();
        assert_eq!(cc.value, "");
        assert!(cc.source.starts_with("ConfigMap kube-system/kube-proxy"));
    }

    #[test]
    fn the_daemonset_flag_wins_over_the_configmap() {
        let mut s = snapshot();
        s.configmaps.push(from(json!({
            "metadata": {"name": "kube-proxy", "namespace": "kube-system"},
            "data": {"config.conf": "clusterCIDR: \"\"\n"}
        })));
        s.daemonsets.push(from(json!({
            "metadata": {"name": "kube-proxy", "namespace": "kube-system"},
            "spec": {"selector": {}, "template": {"spec": {"containers": [{"name": "kube-proxy",
                "command": ["kube-proxy", "--kubeconfig=/run/kubeconfig", "--cluster-cidr=10.244.0.0/16"]}]}}}
        })));
        let cc = read(&s).cluster_cidr.unwrap();
        assert_eq!(cc.value, "10.244.0.0/16");
        assert_eq!(cc.source, "DaemonSet kube-system/kube-proxy --cluster-cidr");
    }

    #[test]
    fn bad_net_conf_is_reported_not_guessed() {
        let cm = from::<ConfigMap>(json!({"metadata": {"name": "kube-flannel-cfg"},
            "data": {"net-conf.json": "{\"Network\": \"10.244.0.0\"}"}}));
        let (net, backend) = flannel_net_conf(&cm);
        assert!(net.unwrap().is_err());
        assert_eq!(backend, None);
        let cm = from::<ConfigMap>(json!({"metadata": {"name": "kube-flannel-cfg"},
            "data": {"net-conf.json": "{\"Network\": \"10.244.0.0/16\", \"Backend\": {\"Type\": \"udp\", \"Port\": 8285}}"}}));
        let (net, backend) = flannel_net_conf(&cm);
        assert_eq!(net.unwrap().unwrap().to_string(), "10.244.0.0/16");
        assert_eq!(backend.as_deref(), Some("udp"));
    }
}
