//! kubeadm's `FileExisting-<binary>` checks (the tools kubeadm and the kubelet call)
//! and `KubeletVersion`: the kubelet may not be newer than kubeadm, nor more than
//! three minor versions older. Binaries are looked up in the host root's system
//! directories; versions are asked only of binaries on this machine (`--host-root /`).

use std::time::Duration;

use super::{Check, Status};
use crate::host::read::LocalRoot;

/// Directories searched for binaries, as a root's PATH.
const BIN_DIRS: &[&str] = &[
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

/// Missing ones stop kubeadm.
const REQUIRED: &[&str] = &[
    "kubeadm",
    "kubelet",
    "crictl",
    "conntrack",
    "ip",
    "iptables",
    "mount",
    "nsenter",
];
/// Missing ones are warnings.
const OPTIONAL: &[&str] = &["kubectl", "ebtables", "ethtool", "socat", "tc", "touch"];

const INSTALL: &str = "apt-get install -y kubelet kubeadm kubectl cri-tools conntrack iproute2 iptables util-linux ebtables ethtool socat";

/// Where `name` is under the host root (a path on the host), if anywhere.
pub(crate) fn find(root: &LocalRoot, name: &str) -> Option<String> {
    BIN_DIRS
        .iter()
        .map(|d| format!("{d}/{name}"))
        .find(|p| root.0.join(p.trim_start_matches('/')).is_file())
}

/// `v1.32.3` from `kubeadm version -o short` / `Kubernetes v1.32.3`.
pub fn parse_version(text: &str) -> Option<(u32, u32, u32)> {
    let v = text.split_whitespace().find(|w| w.starts_with('v'))?;
    let mut parts = v.trim_start_matches('v').split(['.', '-', '+']);
    Some((
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
    ))
}

async fn version_of(path: &str, args: &[&str], timeout: Duration) -> Option<(u32, u32, u32)> {
    let out = tokio::time::timeout(
        timeout,
        tokio::process::Command::new(path)
            .args(args)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .ok()?
    .ok()?;
    parse_version(&String::from_utf8_lossy(&out.stdout))
}

pub(crate) async fn checks(root: &LocalRoot, timeout: Duration) -> Vec<Check> {
    let mut out = Vec::new();
    for (names, status) in [(REQUIRED, Status::Fail), (OPTIONAL, Status::Warn)] {
        for name in names.iter() {
            let id = format!("FileExisting-{name}");
            out.push(match find(root, name) {
                Some(p) => Check::pass(id, format!("{name} is {p}")),
                None => Check::new(
                    id,
                    status,
                    format!("{name} not found in {}", BIN_DIRS.join(":")),
                )
                .fix(INSTALL),
            });
        }
    }
    let id = "KubeletVersion";
    let (kubeadm, kubelet) = (find(root, "kubeadm"), find(root, "kubelet"));
    let real_root = root.0 == std::path::Path::new("/");
    out.push(match (kubeadm, kubelet) {
        (Some(a), Some(l)) if real_root => {
            let (va, vl) = tokio::join!(
                version_of(&a, &["version", "-o", "short"], timeout),
                version_of(&l, &["--version"], timeout)
            );
            match (va, vl) {
                (Some(va), Some(vl)) => {
                    let shown = format!(
                        "kubeadm v{}.{}.{}, kubelet v{}.{}.{}",
                        va.0, va.1, va.2, vl.0, vl.1, vl.2
                    );
                    if vl.0 != va.0 || vl.1 > va.1 {
                        Check::new(
                            id,
                            Status::Fail,
                            format!("{shown}: the kubelet is newer than kubeadm"),
                        )
                        .fix(format!("apt-get install -y kubelet={}.{}.*", va.0, va.1))
                    } else if va.1 - vl.1 > 3 {
                        Check::new(
                            id,
                            Status::Fail,
                            format!("{shown}: the kubelet is more than 3 minor versions older"),
                        )
                        .fix(format!("apt-get install -y kubelet={}.{}.*", va.0, va.1))
                    } else {
                        Check::pass(id, shown)
                    }
                }
                _ => Check::new(
                    id,
                    Status::Unknown,
                    "kubeadm or kubelet did not print a version",
                ),
            }
        }
        (Some(_), Some(_)) => Check::new(
            id,
            Status::Unknown,
            "versions are only asked on this machine's own root (--host-root /)",
        ),
        _ => Check::new(id, Status::Unknown, "kubeadm or kubelet is missing").fix(INSTALL),
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse() {
        assert_eq!(parse_version("v1.32.3\n"), Some((1, 32, 3)));
        assert_eq!(parse_version("Kubernetes v1.31.0-rc.1"), Some((1, 31, 0)));
        assert_eq!(parse_version("nonsense"), None);
    }

    #[tokio::test]
    async fn missing_binaries_fail_or_warn() {
        let dir = super::super::ports::tests::tempfile_dir("bins");
        std::fs::create_dir_all(dir.join("usr/bin")).unwrap();
        std::fs::write(dir.join("usr/bin/iptables"), "").unwrap();
        let c = checks(&LocalRoot(dir.clone()), Duration::from_secs(1)).await;
        let by = |id: &str| c.iter().find(|c| c.id == id).unwrap().status;
        assert_eq!(by("FileExisting-iptables"), Status::Pass);
        assert_eq!(by("FileExisting-kubeadm"), Status::Fail);
        assert_eq!(by("FileExisting-socat"), Status::Warn);
        assert_eq!(by("KubeletVersion"), Status::Unknown);
        let _ = std::fs::remove_dir_all(dir);
    }
}
