//! The network checks: kubeadm's `Hostname` (the node name resolves) and what kubeadm
//! does not check but a first install trips over: the image repository cannot be
//! reached (a pull then hangs for many minutes), the machine has several addresses
//! (the API server advertises whichever kubeadm guesses), and flannel picks the
//! default route's interface, which need not be the advertised one.

use std::time::Duration;

use super::{Check, Status};
use crate::host::read::{HostFiles, LocalRoot, read_host};
use crate::model::host::{IfAddr, Probe};

pub const DEFAULT_IMAGE_REPOSITORY: &str = "registry.k8s.io";
/// A mirror reachable where registry.k8s.io is not.
pub const MIRROR_IMAGE_REPOSITORY: &str = "registry.aliyuncs.com/google_containers";

/// Links that are never a node's own address: pod networks, container bridges, tunnels.
pub fn is_virtual_link(name: &str) -> bool {
    name == "lo"
        || crate::model::host::CNI_LINKS.contains(&name)
        || [
            "cali",
            "veth",
            "docker",
            "kube-ipvs",
            "flannel",
            "cilium",
            "vxlan",
            "kcv",
            "kcb",
        ]
        .iter()
        .any(|p| name.starts_with(p))
}

/// An address the API server could advertise: on which interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub interface: String,
    pub address: IfAddr,
}

/// This host's own IPv4 addresses (not loopback, link-local or a pod network's), read
/// from `<root>/sys/class/net` as the Network pane's host probe does.
pub(crate) fn candidate_addresses(root: &LocalRoot) -> Probe<Vec<Candidate>> {
    let report = read_host(root, &root.0.display().to_string(), None, Probe::Missing);
    report.links.map(|links| {
        links
            .into_iter()
            .filter(|l| !is_virtual_link(&l.name))
            .flat_map(|l| {
                let name = l.name.clone();
                l.addresses.into_iter().filter_map(move |a| match a.ip {
                    std::net::IpAddr::V4(v4)
                        if !v4.is_loopback() && !v4.is_link_local() && !v4.is_unspecified() =>
                    {
                        Some(Candidate {
                            interface: name.clone(),
                            address: a,
                        })
                    }
                    _ => None,
                })
            })
            .collect()
    })
}

/// The interface of the IPv4 default route (`/proc/net/route`, destination 0): the one
/// flannel uses unless `--iface` says otherwise.
pub(crate) fn default_route_interface(root: &LocalRoot) -> Probe<Option<String>> {
    root.read_text("/proc/net/route").map(|t| {
        t.lines().skip(1).find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() > 2 && f[1] == "00000000").then(|| f[0].to_string())
        })
    })
}

/// The machine's name as the kubelet registers it.
pub(crate) fn hostname(root: &LocalRoot) -> Option<String> {
    if let Probe::Found(t) = root.read_text("/etc/hostname")
        && !t.trim().is_empty()
    {
        return Some(t.trim().to_string());
    }
    (root.0 == std::path::Path::new("/"))
        .then(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .flatten()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}

/// The checks read from files (no network traffic).
pub(crate) fn host_checks(root: &LocalRoot) -> Vec<Check> {
    let mut out = vec![hostname_check(root)];
    let candidates = candidate_addresses(root);
    out.push(match &candidates {
        Probe::Found(c) if c.is_empty() => Check::new(
            "advertise-address",
            Status::Fail,
            "no IPv4 address on this machine's own interfaces",
        )
        .fix("configure an address on the interface the other machines reach"),
        Probe::Found(c) if c.len() == 1 => Check::pass(
            "advertise-address",
            format!("one candidate: {} on {}", c[0].address.ip, c[0].interface),
        ),
        Probe::Found(c) => Check::new(
            "advertise-address",
            Status::Warn,
            format!(
                "several candidate addresses ({}): kubeadm would guess one",
                c.iter()
                    .map(|c| format!("{} on {}", c.address.ip, c.interface))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
        .fix("choose the advertise address explicitly (the init form's first field, or localAPIEndpoint.advertiseAddress)"),
        Probe::Missing => Check::new("advertise-address", Status::Unknown, "no /sys/class/net to read"),
        Probe::Error(e) => Check::new("advertise-address", Status::Unknown, e.clone()),
    });
    out.push(match (default_route_interface(root), &candidates) {
        (Probe::Found(Some(iface)), Probe::Found(c)) => {
            let others: Vec<&Candidate> = c.iter().filter(|c| c.interface != iface).collect();
            if others.is_empty() {
                Check::pass("flannel-iface", format!("flannel would pick {iface} (the default route's)"))
            } else {
                Check::new(
                    "flannel-iface",
                    Status::Warn,
                    format!(
                        "flannel would pick {iface} (the default route's); addresses on other interfaces: {}",
                        others.iter().map(|c| format!("{} on {}", c.address.ip, c.interface)).collect::<Vec<_>>().join(", ")
                    ),
                )
                .fix("give flannel --iface=<the advertise address's interface> (the init wizard sets it)")
            }
        }
        (Probe::Found(None), _) => Check::new(
            "flannel-iface",
            Status::Warn,
            "no IPv4 default route: flannel (and kubeadm) cannot pick an interface by themselves",
        )
        .fix("add a default route, or set --iface and the advertise address explicitly"),
        (Probe::Missing, _) => Check::new("flannel-iface", Status::Unknown, "/proc/net/route is missing"),
        (Probe::Error(e), _) => Check::new("flannel-iface", Status::Unknown, e),
        (_, _) => Check::new("flannel-iface", Status::Unknown, "the interfaces could not be read"),
    });
    out
}

fn hostname_check(root: &LocalRoot) -> Check {
    let Some(name) = hostname(root) else {
        return Check::new("Hostname", Status::Unknown, "no /etc/hostname");
    };
    let listed = root.read_text("/etc/hosts").found().is_some_and(|t| {
        t.lines()
            .map(|l| l.split('#').next().unwrap_or_default())
            .any(|l| l.split_whitespace().skip(1).any(|h| h == name))
    });
    if listed {
        Check::pass("Hostname", format!("{name} is in /etc/hosts"))
    } else {
        Check::new(
            "Hostname",
            Status::Warn,
            format!("hostname \"{name}\" is not in /etc/hosts: it may not resolve"),
        )
        .fix(format!("echo \"<advertise address> {name}\" >> /etc/hosts"))
    }
}

/// The image repository answers within `timeout` (DNS and a TCP connection to 443): a
/// pull from an unreachable one hangs `kubeadm init` at `[preflight] Pulling images`.
pub async fn probe_image_repository(repository: &str, timeout: Duration) -> Check {
    let host = repository
        .split('/')
        .next()
        .unwrap_or(repository)
        .to_string();
    let id = "image-repository";
    let target = if host.contains(':') {
        host.clone()
    } else {
        format!("{host}:443")
    };
    let attempt = async {
        let addrs: Vec<_> = tokio::net::lookup_host(&target)
            .await
            .map_err(|e| format!("{host} does not resolve ({e})"))?
            .collect();
        let first = addrs
            .first()
            .ok_or_else(|| format!("{host} has no address"))?;
        tokio::net::TcpStream::connect(first)
            .await
            .map(|_| ())
            .map_err(|e| format!("cannot connect to {first} ({e})"))
    };
    let fix = format!(
        "use a mirror: imageRepository: {MIRROR_IMAGE_REPOSITORY} (kcops setup init --image-repository {MIRROR_IMAGE_REPOSITORY})"
    );
    match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok(())) => Check::pass(id, format!("{host} answers on 443")),
        Ok(Err(e)) => Check::new(
            id,
            Status::Warn,
            format!("{repository} unreachable: {e}; a pull from it can hang kubeadm for many minutes"),
        )
        .fix(fix),
        Err(_) => Check::new(
            id,
            Status::Warn,
            format!(
                "{repository}: no answer within {}s; a pull from it can hang kubeadm for many minutes",
                timeout.as_secs()
            ),
        )
        .fix(fix),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(root: &std::path::Path, name: &str, addr: &str) {
        let d = root.join("sys/class/net").join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("operstate"), "up\n").unwrap();
        std::fs::write(
            d.join(crate::host::probe::LAB_ADDRESSES_FILE),
            format!("{addr}\n"),
        )
        .unwrap();
    }

    #[test]
    fn two_addresses_and_flannel_on_the_public_one() {
        let dir = super::super::ports::tests::tempfile_dir("net");
        link(&dir, "lo", "127.0.0.1/8");
        link(&dir, "eth0", "203.0.113.10/24");
        link(&dir, "eth1", "10.0.0.5/24");
        link(&dir, "cni0", "10.244.0.1/24");
        std::fs::create_dir_all(dir.join("proc/net")).unwrap();
        std::fs::write(
            dir.join("proc/net/route"),
            "Iface\tDestination\tGateway\tFlags\nhdr\neth0\t00000000\t0100710A\t0003\neth1\t0000000A\t00000000\t0001\n",
        )
        .unwrap();
        std::fs::create_dir_all(dir.join("etc")).unwrap();
        std::fs::write(dir.join("etc/hostname"), "master\n").unwrap();
        std::fs::write(
            dir.join("etc/hosts"),
            "127.0.0.1 localhost\n10.0.0.5 master\n",
        )
        .unwrap();
        let root = LocalRoot(dir.clone());
        let c = host_checks(&root);
        assert_eq!(c[0].status, Status::Pass, "{:?}", c[0]);
        assert_eq!(c[1].status, Status::Warn);
        assert_eq!(
            c[1].found,
            "several candidate addresses (203.0.113.10 on eth0, 10.0.0.5 on eth1): kubeadm would guess one"
        );
        assert_eq!(c[2].status, Status::Warn);
        assert!(
            c[2].found.starts_with("flannel would pick eth0"),
            "{}",
            c[2].found
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn an_unreachable_repository_is_a_warning_with_the_mirror() {
        // Port 9 on loopback: nothing listens, refused at once.
        let c = probe_image_repository("127.0.0.1:9/x", Duration::from_secs(5)).await;
        assert_eq!(c.status, Status::Warn);
        assert!(c.fix.contains(MIRROR_IMAGE_REPOSITORY));
    }
}
