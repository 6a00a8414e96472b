//! The kernel settings kubeadm checks: swap off (`Swap`), IPv4 forwarding on
//! (`FileContent--proc-sys-net-ipv4-ip_forward`) and bridged traffic seen by iptables
//! (`br_netfilter`; flannel and kube-proxy need it).

use super::{Check, Status};
use crate::host::read::{HostFiles, LocalRoot};
use crate::model::host::Probe;

/// Active swap areas listed in `/proc/swaps` (after its header line).
pub fn active_swaps(text: &str) -> Vec<String> {
    text.lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

pub(crate) fn checks(root: &LocalRoot) -> Vec<Check> {
    vec![swap(root), ip_forward(root), br_netfilter(root)]
}

fn swap(root: &LocalRoot) -> Check {
    match root.read_text("/proc/swaps") {
        Probe::Found(t) => {
            let on = active_swaps(&t);
            if on.is_empty() {
                Check::pass("Swap", "swap is off")
            } else {
                Check::new(
                    "Swap",
                    Status::Fail,
                    format!(
                        "swap is on ({}): the kubelet refuses to start",
                        on.join(", ")
                    ),
                )
                .fix("swapoff -a && sed -i '/\\sswap\\s/s/^/#/' /etc/fstab")
            }
        }
        Probe::Missing => Check::new("Swap", Status::Unknown, "/proc/swaps is missing"),
        Probe::Error(e) => Check::new("Swap", Status::Unknown, e),
    }
}

fn ip_forward(root: &LocalRoot) -> Check {
    let id = "FileContent--proc-sys-net-ipv4-ip_forward";
    let fix =
        "sysctl -w net.ipv4.ip_forward=1 && echo net.ipv4.ip_forward=1 > /etc/sysctl.d/k8s.conf";
    match root.read_text("/proc/sys/net/ipv4/ip_forward") {
        Probe::Found(t) if t.trim() == "1" => Check::pass(id, "net.ipv4.ip_forward = 1"),
        Probe::Found(t) => Check::new(
            id,
            Status::Fail,
            format!(
                "net.ipv4.ip_forward = {} (pods cannot reach other nodes)",
                t.trim()
            ),
        )
        .fix(fix),
        Probe::Missing => Check::new(
            id,
            Status::Unknown,
            "/proc/sys/net/ipv4/ip_forward is missing",
        ),
        Probe::Error(e) => Check::new(id, Status::Unknown, e),
    }
}

fn br_netfilter(root: &LocalRoot) -> Check {
    let id = "br_netfilter";
    let fix = "modprobe br_netfilter && echo br_netfilter > /etc/modules-load.d/k8s.conf && sysctl -w net.bridge.bridge-nf-call-iptables=1";
    match root.read_text("/proc/sys/net/bridge/bridge-nf-call-iptables") {
        Probe::Found(t) if t.trim() == "1" => Check::pass(
            id,
            "br_netfilter loaded, net.bridge.bridge-nf-call-iptables = 1",
        ),
        Probe::Found(t) => Check::new(
            id,
            Status::Warn,
            format!(
                "br_netfilter loaded but net.bridge.bridge-nf-call-iptables = {}",
                t.trim()
            ),
        )
        .fix("sysctl -w net.bridge.bridge-nf-call-iptables=1"),
        Probe::Missing if root.is_dir("/sys/module/br_netfilter") => Check::new(
            id,
            Status::Unknown,
            "/sys/module/br_netfilter exists but /proc/sys/net/bridge cannot be read",
        ),
        Probe::Missing if root.is_dir("/proc/sys/net") => Check::new(
            id,
            Status::Fail,
            "br_netfilter is not loaded (no /proc/sys/net/bridge): services and pod traffic across the bridge bypass iptables",
        )
        .fix(fix),
        Probe::Missing => Check::new(id, Status::Unknown, "/proc/sys/net is missing"),
        Probe::Error(e) => Check::new(id, Status::Unknown, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swap_lines_after_the_header() {
        let t = "Filename\tType\tSize\tUsed\tPriority\n/swap.img file 2097148 0 -2\n";
        assert_eq!(active_swaps(t), ["/swap.img"]);
        assert!(active_swaps("Filename\tType\tSize\tUsed\tPriority\n").is_empty());
    }

    #[test]
    fn kernel_settings_from_a_host_root() {
        let dir = super::super::ports::tests::tempfile_dir("kernel");
        std::fs::create_dir_all(dir.join("proc/sys/net/ipv4")).unwrap();
        std::fs::write(dir.join("proc/sys/net/ipv4/ip_forward"), "0\n").unwrap();
        std::fs::write(
            dir.join("proc/swaps"),
            "Filename Type Size Used Priority\n/dev/sda2 partition 1 0 -2\n",
        )
        .unwrap();
        let c = checks(&LocalRoot(dir.clone()));
        assert_eq!(c[0].status, Status::Fail);
        assert!(c[0].found.contains("/dev/sda2"));
        assert_eq!(c[1].status, Status::Fail);
        assert_eq!(c[2].status, Status::Fail, "{:?}", c[2]);
        let _ = std::fs::remove_dir_all(dir);
        // Nothing to read is unknown, never pass.
        let empty = super::super::ports::tests::tempfile_dir("kernel-empty");
        assert!(
            checks(&LocalRoot(empty.clone()))
                .iter()
                .all(|c| c.status == Status::Unknown)
        );
        let _ = std::fs::remove_dir_all(empty);
    }
}
