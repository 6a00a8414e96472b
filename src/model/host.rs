//! What the host probes (`crate::host::probe`) found on the node the console runs on:
//! plain data, so that diagnosis stays a pure function of the snapshot it is put in.

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;

use super::cidr::Cidr;

/// The outcome of reading one thing on the host. `Missing` is kept apart from
/// `Error` because a missing `/run/flannel/subnet.env` is itself the finding, while an
/// unreadable one only means the console cannot tell.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Probe<T> {
    /// The file or directory does not exist.
    #[default]
    Missing,
    /// It exists but could not be read or understood; the reason, in words.
    Error(String),
    Found(T),
}

impl<T> Probe<T> {
    pub fn found(&self) -> Option<&T> {
        match self {
            Probe::Found(t) => Some(t),
            _ => None,
        }
    }

    #[cfg(test)]
    pub(crate) fn is_missing(&self) -> bool {
        matches!(self, Probe::Missing)
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Probe<U> {
        match self {
            Probe::Found(t) => Probe::Found(f(t)),
            Probe::Missing => Probe::Missing,
            Probe::Error(e) => Probe::Error(e),
        }
    }

    pub fn and_then<U>(self, f: impl FnOnce(T) -> Probe<U>) -> Probe<U> {
        match self {
            Probe::Found(t) => f(t),
            Probe::Missing => Probe::Missing,
            Probe::Error(e) => Probe::Error(e),
        }
    }
}

/// `/run/flannel/subnet.env`, written by flanneld once it holds its lease.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SubnetEnv {
    /// `FLANNEL_NETWORK`: the whole pod network.
    pub network: Option<Cidr>,
    /// `FLANNEL_SUBNET` as written (`10.244.1.1/24`: the bridge address and the
    /// node's range).
    pub subnet_text: Option<String>,
    /// `FLANNEL_SUBNET` as a range (`10.244.1.0/24`).
    pub subnet: Option<Cidr>,
    pub mtu: Option<u32>,
    pub ipmasq: Option<bool>,
}

/// One file of `/etc/cni/net.d`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CniConfig {
    /// The file name, e.g. `10-flannel.conflist`.
    pub file: String,
    /// The network name (`cbr0` for flannel, `k8s-pod-network` for calico).
    pub name: Option<String>,
    /// Plugin types in order (`flannel`, `portmap`).
    pub plugins: Vec<String>,
    /// The IPAM plugin type when a plugin declares one (`host-local`, `calico-ipam`).
    pub ipam_type: Option<String>,
    /// host-local ranges the file declares (`ipam.subnet`, `ipam.ranges`).
    pub ranges: Vec<Cidr>,
    /// Why the file is not a usable config (bad JSON, no plugins); the kubelet skips it.
    pub error: Option<String>,
}

impl CniConfig {
    pub fn usable(&self) -> bool {
        self.error.is_none() && !self.plugins.is_empty()
    }
}

/// One host-local reservation: `/var/lib/cni/networks/<network>/<ip>` holding
/// `<sandbox id>\r\n<ifname>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub ip: IpAddr,
    pub sandbox: String,
    pub ifname: Option<String>,
}

/// The host-local state of one CNI network.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IpamNetwork {
    pub name: String,
    /// In address order.
    pub reservations: Vec<Reservation>,
    /// The range host-local allocates from, when the console can tell: the CNI
    /// config's ranges, or for flannel (whose config has no IPAM section) the
    /// `FLANNEL_SUBNET` of subnet.env.
    pub range: Option<Cidr>,
    /// How many addresses the range hands out.
    pub capacity: Option<u128>,
    /// Where `range` came from, for evidence (`10-flannel.conflist via subnet.env`).
    pub range_source: Option<String>,
}

/// The live CRI pod sandboxes of this node.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SandboxList {
    /// Where the list came from (`command crictl pods -q`, `file ...`).
    pub source: String,
    pub ids: BTreeSet<String>,
}

impl SandboxList {
    /// Whether `id` is a live sandbox. IPAM files hold full 64-hex ids; a listing
    /// that truncates ids (12+ characters) still matches by prefix.
    pub fn contains(&self, id: &str) -> bool {
        if self.ids.contains(id) {
            return true;
        }
        self.ids.iter().any(|live| {
            let (short, long) = if live.len() < id.len() {
                (live.as_str(), id)
            } else {
                (id, live.as_str())
            };
            short.len() >= 12 && long.starts_with(short)
        })
    }
}

/// An address of a link with its prefix (`10.244.1.1/24`: host bits kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct IfAddr {
    pub ip: IpAddr,
    pub prefix: u8,
}

impl fmt::Display for IfAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.ip, self.prefix)
    }
}

impl IfAddr {
    /// The range the address is configured with (`10.244.1.0/24`).
    pub fn range(&self) -> Option<Cidr> {
        Cidr::new(self.ip, self.prefix)
    }
}

/// A network link (`/sys/class/net/<name>`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Link {
    pub name: String,
    /// `up`, `down`, `unknown` (tunnels report unknown while working).
    pub operstate: Option<String>,
    pub addresses: Vec<IfAddr>,
}

/// Links pod network add-ons create and `kubeadm reset` leaves behind.
pub(crate) const CNI_LINKS: &[&str] = &["cni0", "flannel.1", "flannel0", "tunl0", "vxlan.calico"];

/// Everything the host probes found, at one time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostReport {
    /// The host root probed (`/` on a real node).
    pub root: String,
    /// The node this machine is (`--node`, else found by address); `None` when it is
    /// not a node of the cluster, in which case its host state says nothing about it.
    pub node: Option<String>,
    pub probed_at: jiff::Timestamp,
    pub subnet_env: Probe<SubnetEnv>,
    /// `/etc/cni/net.d`, files in name order (the kubelet uses the first usable one).
    pub cni_configs: Probe<Vec<CniConfig>>,
    /// `/var/lib/cni/networks`, networks in name order.
    pub ipam: Probe<Vec<IpamNetwork>>,
    pub sandboxes: Probe<SandboxList>,
    /// `net.ipv4.ip_forward`.
    pub ip_forward: Probe<bool>,
    /// `/sys/class/net`, in name order.
    pub links: Probe<Vec<Link>>,
    /// The root holds none of a node's top directories (`etc`, `run`, `var`, `proc`,
    /// `sys`): a wrong `--host-root`. Its probes are errors then, not "missing", so no
    /// finding blames the node for files that were never there to read.
    pub root_looks_empty: bool,
    /// The control plane's certificates under `/etc/kubernetes/pki` (`Missing`: not a
    /// control-plane machine).
    pub certs: Probe<Vec<CertExpiry>>,
}

/// One certificate as `kubeadm certs check-expiration` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertExpiry {
    /// kubeadm's name (`apiserver`, `etcd-server`, `ca`, ...).
    pub name: String,
    pub path: String,
    /// A certificate authority (kubeadm renews those only by hand).
    pub ca: bool,
    pub not_after: Result<jiff::Timestamp, String>,
}

impl HostReport {
    /// An empty report (nothing found) for `root`, as of `probed_at`.
    pub fn empty(root: &str, node: Option<String>, probed_at: jiff::Timestamp) -> HostReport {
        HostReport {
            root: root.to_string(),
            node,
            probed_at,
            subnet_env: Probe::Missing,
            cni_configs: Probe::Missing,
            ipam: Probe::Missing,
            sandboxes: Probe::Missing,
            ip_forward: Probe::Missing,
            links: Probe::Missing,
            root_looks_empty: false,
            certs: Probe::Missing,
        }
    }

    /// Whether two reports say the same (the probe time aside): the console only
    /// re-derives its view when the host actually changed.
    pub(crate) fn same_state(&self, other: &HostReport) -> bool {
        HostReport {
            probed_at: other.probed_at,
            ..self.clone()
        } == *other
    }

    /// The first usable CNI config: the one the kubelet (libcni) picks.
    pub fn active_cni_config(&self) -> Option<&CniConfig> {
        self.cni_configs.found()?.iter().find(|c| c.usable())
    }

    pub fn link(&self, name: &str) -> Option<&Link> {
        self.links.found()?.iter().find(|l| l.name == name)
    }

    /// Reservations of `network` whose sandbox is not live, or `None` when the live
    /// sandboxes are unknown (then nothing can be called leaked).
    pub fn leaked<'a>(&'a self, network: &'a IpamNetwork) -> Option<Vec<&'a Reservation>> {
        let live = self.sandboxes.found()?;
        Some(
            network
                .reservations
                .iter()
                .filter(|r| !live.contains(&r.sandbox))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sandbox_ids_match_by_prefix_only_when_long_enough() {
        let list = SandboxList {
            source: "test".into(),
            ids: ["0123456789abcdef0123", "fedcba987654"]
                .into_iter()
                .map(String::from)
                .collect(),
        };
        assert!(list.contains("0123456789abcdef0123"));
        assert!(list.contains("fedcba9876543210ffff"));
        assert!(list.contains("0123456789ab"));
        assert!(!list.contains("0123"));
        assert!(!list.contains("aaaaaaaaaaaaaaaa"));
    }

    #[test]
    fn leaks_need_the_sandbox_list() {
        let net = IpamNetwork {
            name: "cbr0".into(),
            reservations: vec![
                Reservation {
                    ip: "10.244.1.2".parse().unwrap(),
                    sandbox: "a".repeat(64),
                    ifname: Some("eth0".into()),
                },
                Reservation {
                    ip: "10.244.1.3".parse().unwrap(),
                    sandbox: "b".repeat(64),
                    ifname: Some("eth0".into()),
                },
            ],
            ..Default::default()
        };
        let mut r = HostReport::empty("/", Some("n".into()), jiff::Timestamp::UNIX_EPOCH);
        assert_eq!(r.leaked(&net), None);
        r.sandboxes = Probe::Found(SandboxList {
            source: "test".into(),
            ids: [("a".repeat(64))].into_iter().collect(),
        });
        let leaked = r.leaked(&net).unwrap();
        assert_eq!(leaked.len(), 1);
        assert_eq!(leaked[0].ip.to_string(), "10.244.1.3");
        let later = HostReport {
            probed_at: jiff::Timestamp::now(),
            ..r.clone()
        };
        assert!(r.same_state(&later));
    }
}
