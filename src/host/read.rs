//! Turning a host's files into a [`HostReport`], whatever holds them: a directory on
//! this machine ([`LocalRoot`], `/` on a real node) or what a debug pod printed from
//! another node ([`super::remote::HostDump`]). One reader for both, so a remote node
//! is judged by exactly the rules the local one is.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use super::probe::{LAB_ADDRESSES_FILE, parse_cni_config, parse_subnet_env};
use crate::model::cidr::Cidr;
use crate::model::host::{
    CniConfig, HostReport, IfAddr, IpamNetwork, Link, Probe, Reservation, SandboxList,
};

/// A node's root has at least one of these; a host root with none is not a node's.
const NODE_TOP_DIRS: &[&str] = &["etc", "run", "var", "proc", "sys"];

/// Read access to one host's files, by absolute path on that host (`/run/...`).
pub(crate) trait HostFiles {
    fn read_text(&self, path: &str) -> Probe<String>;
    /// Entry names of a directory, unordered.
    fn list_dir(&self, path: &str) -> Probe<Vec<String>>;
    fn is_dir(&self, path: &str) -> bool;
    /// Interface addresses the kernel reports (netlink), for links whose directory
    /// carries no lab address file.
    fn live_addresses(&self) -> Vec<(String, IfAddr)>;
    /// None of a node's top directories: a wrong root, not a node without files.
    fn looks_empty(&self) -> bool {
        NODE_TOP_DIRS.iter().all(|d| !self.is_dir(&format!("/{d}")))
    }
}

/// A host root on this machine.
pub(crate) struct LocalRoot(pub PathBuf);

impl LocalRoot {
    fn path(&self, rel: &str) -> PathBuf {
        self.0.join(rel.trim_start_matches('/'))
    }

    fn is_real_root(&self) -> bool {
        self.0 == Path::new("/")
    }
}

impl HostFiles for LocalRoot {
    fn read_text(&self, path: &str) -> Probe<String> {
        let path = self.path(path);
        match std::fs::read_to_string(&path) {
            Ok(t) => Probe::Found(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Probe::Missing,
            Err(e) => Probe::Error(format!("{}: {e}", path.display())),
        }
    }

    fn list_dir(&self, path: &str) -> Probe<Vec<String>> {
        let path = self.path(path);
        match std::fs::read_dir(&path) {
            Ok(rd) => Probe::Found(
                rd.filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect(),
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Probe::Missing,
            Err(e) => Probe::Error(format!("{}: {e}", path.display())),
        }
    }

    fn is_dir(&self, path: &str) -> bool {
        self.path(path).is_dir()
    }

    fn live_addresses(&self) -> Vec<(String, IfAddr)> {
        if self.is_real_root() {
            interface_addresses()
        } else {
            Vec::new()
        }
    }

    fn looks_empty(&self) -> bool {
        !self.is_real_root() && NODE_TOP_DIRS.iter().all(|d| !self.0.join(d).exists())
    }
}

/// Reads everything; never fails (each part records its own error). `root` is how
/// the report names where it read (`/`, a lab node's directory, `node2 (debug pod)`).
pub(crate) fn read_host(
    files: &dyn HostFiles,
    root: &str,
    node: Option<String>,
    sandboxes: Probe<SandboxList>,
) -> HostReport {
    let mut r = HostReport::empty(root, node, jiff::Timestamp::now());
    if files.looks_empty() {
        let why = format!(
            "host root {root} looks empty (no {} in it)",
            NODE_TOP_DIRS.join(", ")
        );
        r.root_looks_empty = true;
        r.subnet_env = Probe::Error(why.clone());
        r.cni_configs = Probe::Error(why.clone());
        r.ipam = Probe::Error(why.clone());
        r.sandboxes = Probe::Error(why.clone());
        r.ip_forward = Probe::Error(why.clone());
        r.links = Probe::Error(why);
        return r;
    }
    r.subnet_env = files
        .read_text("/run/flannel/subnet.env")
        .map(|t| parse_subnet_env(&t));
    r.cni_configs = cni_configs(files);
    r.ipam = ipam(files, r.cni_configs.found(), r.subnet_env.found());
    r.sandboxes = sandboxes;
    r.ip_forward = files
        .read_text("/proc/sys/net/ipv4/ip_forward")
        .and_then(|t| match t.trim() {
            "1" => Probe::Found(true),
            "0" => Probe::Found(false),
            other => Probe::Error(format!("unexpected content {other:?}")),
        });
    r.links = links(files);
    r.certs = super::certs::read(files);
    r
}

fn cni_configs(files: &dyn HostFiles) -> Probe<Vec<CniConfig>> {
    let dir = "/etc/cni/net.d";
    let mut names = match files.list_dir(dir) {
        Probe::Found(n) => n,
        Probe::Missing => return Probe::Missing,
        Probe::Error(e) => return Probe::Error(e),
    };
    names.retain(|n| n.ends_with(".conf") || n.ends_with(".conflist") || n.ends_with(".json"));
    names.sort();
    let configs = names
        .into_iter()
        .map(|name| match files.read_text(&format!("{dir}/{name}")) {
            Probe::Found(text) => parse_cni_config(&name, &text),
            Probe::Missing => CniConfig {
                file: name.clone(),
                error: Some("vanished while read".into()),
                ..Default::default()
            },
            Probe::Error(e) => CniConfig {
                file: name.clone(),
                error: Some(e),
                ..Default::default()
            },
        })
        .collect();
    Probe::Found(configs)
}

fn ipam(
    files: &dyn HostFiles,
    configs: Option<&Vec<CniConfig>>,
    subnet_env: Option<&crate::model::host::SubnetEnv>,
) -> Probe<Vec<IpamNetwork>> {
    let dir = "/var/lib/cni/networks";
    let mut names = match files.list_dir(dir) {
        Probe::Found(n) => n,
        Probe::Missing => return Probe::Missing,
        Probe::Error(e) => return Probe::Error(e),
    };
    names.sort();
    let mut out = Vec::new();
    for name in names {
        let net_dir = format!("{dir}/{name}");
        if !files.is_dir(&net_dir) {
            continue;
        }
        let mut net = IpamNetwork {
            name: name.clone(),
            ..Default::default()
        };
        if let Probe::Found(entries) = files.list_dir(&net_dir) {
            for f in entries {
                let Ok(ip) = f.parse::<IpAddr>() else {
                    continue;
                };
                let Probe::Found(text) = files.read_text(&format!("{net_dir}/{f}")) else {
                    continue;
                };
                let mut lines = text.lines().map(str::trim);
                let sandbox = lines.next().unwrap_or_default().to_string();
                let ifname = lines.next().filter(|l| !l.is_empty()).map(str::to_string);
                net.reservations.push(Reservation {
                    ip,
                    sandbox,
                    ifname,
                });
            }
        }
        net.reservations.sort_by_key(|r| r.ip);
        let config = configs.and_then(|cs| cs.iter().find(|c| c.name.as_deref() == Some(&name)));
        if let Some(c) = config {
            if let Some(range) = c.ranges.first() {
                net.range = Some(*range);
                net.capacity = Some(c.ranges.iter().map(Cidr::host_local_capacity).sum());
                net.range_source = Some(c.file.clone());
            } else if c.plugins.iter().any(|p| p == "flannel")
                && let Some(sub) = subnet_env.and_then(|e| e.subnet)
            {
                // flannel's config has no IPAM section: the plugin hands host-local
                // FLANNEL_SUBNET from subnet.env.
                net.range = Some(sub);
                net.capacity = Some(sub.host_local_capacity());
                net.range_source = Some(format!("{} via subnet.env", c.file));
            }
        }
        out.push(net);
    }
    Probe::Found(out)
}

fn links(files: &dyn HostFiles) -> Probe<Vec<Link>> {
    let dir = "/sys/class/net";
    let mut names = match files.list_dir(dir) {
        Probe::Found(n) => n,
        Probe::Missing => return Probe::Missing,
        Probe::Error(e) => return Probe::Error(e),
    };
    names.sort();
    let live = files.live_addresses();
    let links = names
        .into_iter()
        .map(|name| {
            let d = format!("{dir}/{name}");
            let operstate = files
                .read_text(&format!("{d}/operstate"))
                .found()
                .map(|s| s.trim().to_string());
            let mut addresses: Vec<IfAddr> =
                match files.read_text(&format!("{d}/{LAB_ADDRESSES_FILE}")) {
                    Probe::Found(text) => text.lines().filter_map(parse_ifaddr).collect(),
                    _ => live
                        .iter()
                        .filter(|(n, _)| *n == name)
                        .map(|(_, a)| *a)
                        .collect(),
                };
            addresses.sort();
            Link {
                name,
                operstate,
                addresses,
            }
        })
        .collect();
    Probe::Found(links)
}

/// `10.244.1.1/24` as an interface address.
pub(crate) fn parse_ifaddr(line: &str) -> Option<IfAddr> {
    let (ip, prefix) = line.trim().split_once('/')?;
    Some(IfAddr {
        ip: ip.parse().ok()?,
        prefix: prefix.parse().ok()?,
    })
}

/// This machine's interface addresses with their prefixes.
fn interface_addresses() -> Vec<(String, IfAddr)> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    addrs
        .filter_map(|a| {
            let addr = a.address?;
            let mask = a.netmask?;
            let (ip, prefix) = if let (Some(v4), Some(m)) =
                (addr.as_sockaddr_in(), mask.as_sockaddr_in())
            {
                (IpAddr::V4(v4.ip()), u32::from(m.ip()).count_ones() as u8)
            } else if let (Some(v6), Some(m)) = (addr.as_sockaddr_in6(), mask.as_sockaddr_in6()) {
                (IpAddr::V6(v6.ip()), u128::from(m.ip()).count_ones() as u8)
            } else {
                return None;
            };
            Some((a.interface_name, IfAddr { ip, prefix }))
        })
        .collect()
}
