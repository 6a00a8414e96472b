//! kubeadm's `Port-<n>` checks: the control plane's and the kubelet's ports must be
//! free. Read from `/proc/net/tcp{,6}` (listening sockets and their inodes) and
//! `/proc/<pid>/fd` (which process holds that inode), so the row says *who* holds a
//! port — after an interrupted init it is usually the kubelet still running.

use std::collections::BTreeMap;

use super::{Check, Role, Status};
use crate::host::read::{HostFiles, LocalRoot};
use crate::model::host::Probe;

/// The ports `kubeadm init` checks (API server, kubelet, controller manager,
/// scheduler, etcd client and peer).
pub const INIT_PORTS: &[(u16, &str)] = &[
    (6443, "kube-apiserver"),
    (10250, "kubelet"),
    (10257, "kube-controller-manager"),
    (10259, "kube-scheduler"),
    (2379, "etcd clients"),
    (2380, "etcd peers"),
];

/// The ports `kubeadm join` of a worker checks.
pub const JOIN_PORTS: &[(u16, &str)] = &[(10250, "kubelet")];

/// A listening TCP socket: its port and inode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub port: u16,
    pub inode: u64,
}

/// Listening sockets (state `0A`) of one `/proc/net/tcp`-format file.
pub fn parse_proc_net_tcp(text: &str) -> Vec<Listener> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 10 || f[3] != "0A" {
                return None;
            }
            let port = u16::from_str_radix(f[1].rsplit_once(':')?.1, 16).ok()?;
            let inode = f[9].parse().ok()?;
            Some(Listener { port, inode })
        })
        .collect()
}

/// Which process holds a socket inode: `kubelet (pid 812)`.
fn holders(root: &LocalRoot, inodes: &[u64]) -> BTreeMap<u64, String> {
    let mut out = BTreeMap::new();
    let Probe::Found(pids) = root.list_dir("/proc") else {
        return out;
    };
    for pid in pids
        .iter()
        .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
    {
        let fd_dir = root.0.join("proc").join(pid).join("fd");
        let Ok(fds) = std::fs::read_dir(&fd_dir) else {
            continue;
        };
        for fd in fds.filter_map(Result::ok) {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let target = target.to_string_lossy();
            let Some(inode) = target
                .strip_prefix("socket:[")
                .and_then(|t| t.strip_suffix(']'))
                .and_then(|t| t.parse::<u64>().ok())
            else {
                continue;
            };
            if inodes.contains(&inode) {
                let comm = root
                    .read_text(&format!("/proc/{pid}/comm"))
                    .found()
                    .map(|c| c.trim().to_string())
                    .unwrap_or_else(|| "a process".into());
                out.entry(inode).or_insert(format!("{comm} (pid {pid})"));
            }
        }
    }
    out
}

pub(crate) fn checks(root: &LocalRoot, role: Role) -> Vec<Check> {
    let ports = match role {
        Role::Init => INIT_PORTS,
        Role::Join => JOIN_PORTS,
    };
    let mut listeners = Vec::new();
    let mut unreadable = Vec::new();
    let mut read_any = false;
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        match root.read_text(file) {
            Probe::Found(t) => {
                read_any = true;
                listeners.extend(parse_proc_net_tcp(&t));
            }
            Probe::Missing => unreadable.push(format!("{file} missing")),
            Probe::Error(e) => unreadable.push(e),
        }
    }
    if !read_any {
        let why = unreadable.join("; ");
        return ports
            .iter()
            .map(|(port, what)| {
                Check::new(
                    format!("port-{port}"),
                    Status::Unknown,
                    format!("port {port} ({what}): cannot read the listening sockets: {why}"),
                )
                .fix("run as root on the machine itself (or give --host-root with its /proc)")
            })
            .collect();
    }
    let wanted: Vec<u64> = listeners
        .iter()
        .filter(|l| ports.iter().any(|(p, _)| *p == l.port))
        .map(|l| l.inode)
        .collect();
    let held = holders(root, &wanted);
    ports
        .iter()
        .map(|(port, what)| {
            let id = format!("port-{port}");
            match listeners.iter().find(|l| l.port == *port) {
                None => Check::pass(id, format!("port {port} ({what}) is free")),
                Some(l) => {
                    let who = held
                        .get(&l.inode)
                        .cloned()
                        .unwrap_or_else(|| "a process kcops cannot see".into());
                    Check::new(
                        id,
                        Status::Fail,
                        format!("Port {port} is in use by {who} (needed by {what})"),
                    )
                    .fix(
                        if who.starts_with("kube") || who.starts_with("etcd") {
                            "a cluster (or an interrupted init) runs here: kcops setup reset"
                                .to_string()
                        } else {
                            format!("stop {who}, or free port {port}")
                        },
                    )
                }
            }
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:280A 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0
   1: 0100007F:0CEA 0100007F:A1B2 01 00000000:00000000 00:00000000 00000000     0        0 777 1 0000000000000000 100 0 0 10 0
";

    #[test]
    fn only_listening_sockets_count() {
        assert_eq!(
            parse_proc_net_tcp(TCP),
            [Listener {
                port: 10250,
                inode: 4242
            }]
        );
    }

    #[test]
    fn a_held_port_names_its_process() {
        let dir = tempfile_dir("ports");
        std::fs::create_dir_all(dir.join("proc/net")).unwrap();
        std::fs::write(dir.join("proc/net/tcp"), TCP).unwrap();
        std::fs::create_dir_all(dir.join("proc/812/fd")).unwrap();
        std::fs::write(dir.join("proc/812/comm"), "kubelet\n").unwrap();
        std::os::unix::fs::symlink("socket:[4242]", dir.join("proc/812/fd/9")).unwrap();
        let checks = checks(&LocalRoot(dir.clone()), Role::Init);
        let kubelet = checks.iter().find(|c| c.id == "port-10250").unwrap();
        assert_eq!(kubelet.status, Status::Fail);
        assert_eq!(
            kubelet.found,
            "Port 10250 is in use by kubelet (pid 812) (needed by kubelet)"
        );
        assert!(kubelet.fix.contains("kcops setup reset"));
        let api = checks.iter().find(|c| c.id == "port-6443").unwrap();
        assert_eq!(api.status, Status::Pass);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn unreadable_sockets_are_unknown_not_free() {
        let dir = tempfile_dir("ports-none");
        let checks = checks(&LocalRoot(dir.clone()), Role::Join);
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].status, Status::Unknown);
        let _ = std::fs::remove_dir_all(dir);
    }

    pub(crate) fn tempfile_dir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!(
            "kcops-preflight-{name}-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
