//! The scenario schema: the cluster, its nodes and their taints.

#[allow(unused_imports)]
use super::*;

/// The kubelet version nodes report unless a scenario says otherwise.
pub const DEFAULT_KUBELET_VERSION: &str = "v1.33.1";

/// A whole scenario file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Scenario {
    pub name: String,
    /// One paragraph, shown by `kcops lab status`.
    #[serde(default)]
    pub description: String,
    /// The node the console "runs on" (`KCOPS_NODE`); see [`Scenario::console_node`].
    #[serde(default)]
    pub console_node: Option<String>,
    pub nodes: Vec<NodeSpec>,
    /// Kubernetes manifests of any kind, created in order.
    #[serde(default)]
    pub objects: Vec<Value>,
    /// StatefulSets whose pods run real member processes.
    #[serde(default)]
    pub members: Vec<MemberSpec>,
    /// What the lab kubelet does with matching pods; the first match wins.
    #[serde(default)]
    pub behaviours: Vec<Behaviour>,
    /// Changes applied while the lab runs, in order.
    #[serde(default)]
    pub timeline: Vec<TimelineEntry>,
    /// The lab kubelet's own settings.
    #[serde(default)]
    pub kubelet: KubeletSpec,
    /// A pod network the lab plays causally (CNI plugin, IPAM, network agent) instead
    /// of through behaviours; absent, pod IPs are loopback addresses as before.
    #[serde(default)]
    pub network: Option<NetworkSpec>,
    /// Machines before `kubeadm init`: no node objects and no API server until the
    /// lab's `kubeadm` stand-in (`kcops lab kubeadm`, on each node's PATH as
    /// `<host root>/usr/bin/kubeadm`) initialises the cluster or joins a node.
    #[serde(default)]
    pub kubeadm: bool,
    /// Pools and users (with caps) the lab creates in its Ceph cluster.
    #[serde(default)]
    pub ceph: CephSpec,
    /// How RBD volumes are provisioned and attached: the in-tree plugin (default) or
    /// ceph-csi with its objects, provisioner, attacher and node plugin.
    #[serde(default)]
    pub storage: StorageKind,
}

/// The lab's RBD storage flavour (`storage:`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StorageKind {
    /// The in-tree `kubernetes.io/rbd` plugin: image locks `kubelet_lock_magic_<node>`.
    #[default]
    InTree,
    /// ceph-csi (`rbd.csi.ceph.com`): VolumeAttachments, `csi-vol-<uuid>` images and
    /// the node plugin's staging (a watcher at the node's address).
    CephCsi,
}

/// The lab kubelet's settings a scenario may change.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KubeletSpec {
    /// The cap of the crash-loop back-off, which doubles from the lab's
    /// `--crash-backoff-ms` up to it (a real kubelet: 10s doubling to 5m). Absent, the
    /// back-off stays at `--crash-backoff-ms`.
    #[serde(default, deserialize_with = "de_opt_duration")]
    pub crash_backoff_cap: Option<Duration>,
    /// Images (by name, without registry or tag) whose pods the lab runs for real
    /// with the host's binaries, besides busybox, debian, ubuntu and alpine.
    #[serde(default)]
    pub host_runnable_images: Vec<String>,
}

/// The pod network the lab kubelet and its network agent play.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NetworkSpec {
    pub cni: CniKind,
    /// Node -> the `clusterCIDR` its running kube-proxy read when it started, for a
    /// kube-proxy started before the ConfigMap took its present value. A node not
    /// listed (and any kube-proxy the lab starts again) reads the ConfigMap.
    #[serde(default, rename = "kubeProxyStartedWithClusterCIDR")]
    pub kube_proxy_started_with: BTreeMap<String, String>,
    /// The containernetworking plugins' version on the nodes (`v0.6.0`, `v1.4.0`): it
    /// decides host-local's wording when a range is full ("in network: cbr0" before
    /// v0.7.0, "in range set: <first>-<last>" since). Default: a current release.
    #[serde(default, rename = "cniPluginsVersion")]
    pub cni_plugins_version: Option<String>,
}

/// The CNI plugins the lab plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CniKind {
    /// flannel's CNI plugin delegating to bridge + host-local (`cbr0`), and flanneld.
    Flannel,
    /// calico's CNI plugin with calico-ipam (addresses from the IPAMBlocks, the node's
    /// own first), and calico-node writing `/var/lib/calico/nodename`.
    Calico,
}

impl Scenario {
    /// The node of that name.
    pub fn node(&self, name: &str) -> Option<&NodeSpec> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// The node the console runs on: `consoleNode` if given, else the first
    /// control-plane node, else the first node (a scenario always has one).
    pub fn console_node(&self) -> &str {
        if let Some(name) = &self.console_node {
            return name;
        }
        self.nodes
            .iter()
            .find(|n| n.roles.iter().any(|r| r == "control-plane"))
            .or(self.nodes.first())
            .map_or("", |n| n.name.as_str())
    }

    /// The behaviour for a pod: the first entry whose `match` fits it.
    pub fn behaviour_for(&self, pod: &PodInfo<'_>) -> Option<&Behaviour> {
        self.behaviours.iter().find(|b| b.matches.matches(pod))
    }

    /// A copy with every `{{lab.*}}` placeholder replaced by the running lab's values,
    /// in objects, host files, behaviours and the timeline. `{{pod.*}}` placeholders in
    /// behaviours are left for [`PodValues::render`], which knows the pod.
    pub fn resolve(&self, lab: &LabValues) -> Scenario {
        let lookup = |name: &str| lab.lookup(name);
        let mut out = self.clone();
        for object in &mut out.objects {
            expand_json(object, &lookup);
        }
        for node in &mut out.nodes {
            for content in node.host.files.values_mut() {
                *content = expand(content, lookup);
            }
        }
        for b in &mut out.behaviours {
            for text in b.texts_mut() {
                *text = expand(text, lookup);
            }
        }
        for entry in &mut out.timeline {
            match &mut entry.action {
                TimelineAction::Apply(object) => expand_json(object, &lookup),
                TimelineAction::Event(event) => {
                    event.reason = expand(&event.reason, lookup);
                    event.message = expand(&event.message, lookup);
                }
                _ => {}
            }
        }
        out
    }
}

/// One lab node.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NodeSpec {
    pub name: String,
    /// Each role becomes a `node-role.kubernetes.io/<role>` label.
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub taints: Vec<Taint>,
    #[serde(default, rename = "podCIDR")]
    pub pod_cidr: Option<Ipv4Cidr>,
    #[serde(default = "yes")]
    pub ready: bool,
    #[serde(default)]
    pub unschedulable: bool,
    #[serde(default = "default_kubelet_version")]
    pub kubelet_version: String,
    /// Extra labels, on top of the ones a kubelet sets (see [`NodeSpec::all_labels`]).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// The node's host root.
    #[serde(default)]
    pub host: HostSpec,
    /// RBD image features this node's kernel client maps (`[layering]` for an old
    /// 3.x kernel); an image with more fails to map with the kernel's "feature set
    /// mismatch". Absent: every feature.
    #[serde(default)]
    pub rbd_kernel_features: Option<Vec<String>>,
}

pub(super) fn yes() -> bool {
    true
}

pub(super) fn default_kubelet_version() -> String {
    DEFAULT_KUBELET_VERSION.to_string()
}

impl NodeSpec {
    /// The labels a kubeadm node carries: what the kubelet sets itself (hostname, os,
    /// arch), one `node-role.kubernetes.io/<role>` per role, then the scenario's own
    /// labels, which win.
    pub fn all_labels(&self) -> BTreeMap<String, String> {
        let mut labels = BTreeMap::new();
        for (k, v) in [
            ("beta.kubernetes.io/arch", "amd64"),
            ("beta.kubernetes.io/os", "linux"),
            ("kubernetes.io/arch", "amd64"),
            ("kubernetes.io/os", "linux"),
        ] {
            labels.insert(k.to_string(), v.to_string());
        }
        labels.insert("kubernetes.io/hostname".to_string(), self.name.clone());
        for role in &self.roles {
            labels.insert(format!("node-role.kubernetes.io/{role}"), String::new());
        }
        labels.extend(self.labels.clone());
        labels
    }
}

/// A node taint.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Taint {
    pub key: String,
    #[serde(default)]
    pub value: Option<String>,
    pub effect: TaintEffect,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum TaintEffect {
    NoSchedule,
    PreferNoSchedule,
    NoExecute,
}

impl TaintEffect {
    /// The spelling Kubernetes uses in `spec.taints[].effect`.
    pub fn as_str(self) -> &'static str {
        match self {
            TaintEffect::NoSchedule => "NoSchedule",
            TaintEffect::PreferNoSchedule => "PreferNoSchedule",
            TaintEffect::NoExecute => "NoExecute",
        }
    }
}
