//! A node's host root: the files, links and host-local IPAM state the console's
//! host probes read, and how the lab writes them.

#[allow(unused_imports)]
use super::*;

/// A node's host root: a directory standing in for the node's filesystem, which the
/// console's host probes read. See [`HostSpec::write_to`] for the files it becomes.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HostSpec {
    /// Absolute path -> content, written as given.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
    /// The node's live CRI pod sandboxes.
    #[serde(default)]
    pub sandboxes: Vec<SandboxId>,
    #[serde(default)]
    pub links: Vec<LinkSpec>,
    #[serde(default = "yes")]
    pub ip_forward: bool,
    #[serde(default)]
    pub ipam_reservations: Option<IpamSpec>,
}

impl Default for HostSpec {
    fn default() -> Self {
        HostSpec {
            files: BTreeMap::new(),
            sandboxes: Vec::new(),
            links: Vec::new(),
            ip_forward: true,
            ipam_reservations: None,
        }
    }
}

/// Where [`HostSpec::write_to`] lists the node's live CRI sandbox ids, relative to the
/// host root: one 64-hex id per line. A real node has no such file (one would ask the
/// CRI with `crictl pods -q`); the lab writes it so host probes can compare host-local
/// IPAM reservations with live sandboxes and find leaks.
pub const SANDBOXES_FILE: &str = "var/lib/kcops-lab/sandboxes";

/// Under `/sys/class/net/<link>/`, the file listing the link's IPv4 addresses, one
/// CIDR per line. Real sysfs has no address file (addresses come from netlink), so
/// the lab writes its own, named so nobody mistakes it for a kernel file.
pub const LINK_ADDRESSES_FILE: &str = "kcops-addresses";

impl HostSpec {
    /// Writes this host root under `root`, creating directories as needed:
    ///
    /// - each of `files` at its path (relative to `root`);
    /// - [`SANDBOXES_FILE`]: the sandbox ids, one per line (empty file if none);
    /// - `proc/sys/net/ipv4/ip_forward`: `1\n` or `0\n`;
    /// - for each link, `sys/class/net/<name>/`: [`LINK_ADDRESSES_FILE`] (one IPv4
    ///   CIDR per line, e.g. `10.244.1.1/24`), `operstate` (`up\n` or `down\n`, as the
    ///   kernel writes it) and, if a MAC is given, `address` (`aa:bb:..\n`);
    /// - for IPAM reservations, `var/lib/cni/networks/<network>/`: one file per
    ///   reserved IP holding `<sandbox id>\r\neth0` (host-local's format),
    ///   `last_reserved_ip.0` holding the highest reserved IP, and an empty `lock`.
    ///
    /// Nothing else is created: `/etc/kubernetes`, `/run/flannel/subnet.env` or
    /// `/etc/cni/net.d` exist only if listed in `files`, so a scenario can leave them
    /// out on purpose. Existing files are overwritten, others are left alone.
    pub fn write_to(&self, root: &Path) -> anyhow::Result<()> {
        for (path, content) in &self.files {
            let rel = host_relative(path)
                .with_context(|| format!("host file path {path:?} is not a clean absolute path"))?;
            write_file(&root.join(rel), content)?;
        }
        let mut sandboxes = String::new();
        for id in &self.sandboxes {
            sandboxes.push_str(id.as_str());
            sandboxes.push('\n');
        }
        write_file(&root.join(SANDBOXES_FILE), &sandboxes)?;
        write_file(
            &root.join("proc/sys/net/ipv4/ip_forward"),
            if self.ip_forward { "1\n" } else { "0\n" },
        )?;
        for link in &self.links {
            let dir = root.join("sys/class/net").join(&link.name);
            let mut addresses = String::new();
            for cidr in link.all_addresses() {
                addresses.push_str(&cidr.to_string());
                addresses.push('\n');
            }
            write_file(&dir.join(LINK_ADDRESSES_FILE), &addresses)?;
            write_file(
                &dir.join("operstate"),
                if link.up { "up\n" } else { "down\n" },
            )?;
            if let Some(mac) = &link.mac {
                write_file(&dir.join("address"), &format!("{mac}\n"))?;
            }
        }
        if let Some(ipam) = &self.ipam_reservations {
            let dir = root.join("var/lib/cni/networks").join(&ipam.network);
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let reservations = ipam.reservations();
            for (ip, id) in &reservations {
                write_file(&dir.join(ip.to_string()), &format!("{id}\r\neth0"))?;
            }
            if let Some((last, _)) = reservations.last() {
                write_file(&dir.join("last_reserved_ip.0"), &last.to_string())?;
            }
            write_file(&dir.join("lock"), "")?;
        }
        Ok(())
    }
}

pub(super) fn write_file(path: &Path, content: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(path, content).with_context(|| format!("writing {}", path.display()))
}

/// `/run/flannel/subnet.env` -> `run/flannel/subnet.env`; `None` unless the path is
/// absolute and made of plain components only, so a scenario cannot write outside
/// its host root (`/../../etc/passwd`).
pub(super) fn host_relative(path: &str) -> Option<PathBuf> {
    if !path.starts_with('/') || path.ends_with('/') || path.contains("//") {
        return None;
    }
    let mut rel = PathBuf::new();
    for component in Path::new(path).components() {
        match component {
            Component::RootDir => {}
            Component::Normal(part) => rel.push(part),
            _ => return None,
        }
    }
    if rel.as_os_str().is_empty() {
        None
    } else {
        Some(rel)
    }
}

/// A network link of a node (`cni0`, `flannel.1`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LinkSpec {
    pub name: String,
    /// Shorthand for a single address; combined with `addresses`.
    #[serde(default)]
    pub address: Option<Ipv4Cidr>,
    #[serde(default)]
    pub addresses: Vec<Ipv4Cidr>,
    /// The link's MAC address (lowercase), e.g. flannel.1's VtepMAC.
    #[serde(default, deserialize_with = "de_opt_mac")]
    pub mac: Option<String>,
    #[serde(default = "yes")]
    pub up: bool,
}

impl LinkSpec {
    /// `address` followed by `addresses`.
    pub fn all_addresses(&self) -> impl Iterator<Item = &Ipv4Cidr> {
        self.address.iter().chain(self.addresses.iter())
    }
}

/// host-local IPAM state of one CNI network on a node.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IpamSpec {
    #[serde(default = "default_network")]
    pub network: String,
    /// The node's pod range; its first address is the bridge gateway.
    pub range: Ipv4Cidr,
    /// Reserved IP -> the sandbox that holds it.
    #[serde(default)]
    pub ids: BTreeMap<Ipv4Addr, SandboxId>,
    /// Fill every other usable address, e.g. with leaked reservations.
    #[serde(default)]
    pub fill: Option<IpamFill>,
}

pub(super) fn default_network() -> String {
    "cbr0".to_string()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum IpamFill {
    /// Every usable address not in `ids` is reserved by a sandbox id that exists
    /// nowhere (generated, stable across runs): reservations the kubelet leaked in
    /// `/var/lib/cni/networks/cbr0`, "no IP addresses available in network: cbr0".
    Leaked,
}

impl IpamSpec {
    /// Addresses host-local hands out from `range`: all but the network address, the
    /// gateway (the first host address) and the broadcast address.
    pub fn usable(&self) -> impl Iterator<Item = Ipv4Addr> {
        let first = u32::from(self.range.network()).saturating_add(2);
        let last = u32::from(self.range.broadcast()).saturating_sub(1);
        (first..=last).map(Ipv4Addr::from)
    }

    /// Every reservation, in address order: `ids`, plus the generated ones `fill` asks
    /// for.
    pub fn reservations(&self) -> Vec<(Ipv4Addr, String)> {
        match self.fill {
            None => self
                .ids
                .iter()
                .map(|(ip, id)| (*ip, id.as_str().to_string()))
                .collect(),
            Some(IpamFill::Leaked) => self
                .usable()
                .map(|ip| match self.ids.get(&ip) {
                    Some(id) => (ip, id.as_str().to_string()),
                    None => (ip, leaked_sandbox_id(&self.network, ip)),
                })
                .collect(),
        }
    }
}

/// A made-up but stable sandbox id for a leaked reservation, so runs and snapshots are
/// reproducible (FNV-1a of the network and IP, stretched with splitmix64).
pub(super) fn leaked_sandbox_id(network: &str, ip: Ipv4Addr) -> String {
    let mut seed: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in network.bytes().chain(ip.octets()) {
        seed ^= u64::from(byte);
        seed = seed.wrapping_mul(0x0100_0000_01b3);
    }
    let mut out = String::with_capacity(64);
    for _ in 0..4 {
        seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        out.push_str(&format!("{z:016x}"));
    }
    out
}
