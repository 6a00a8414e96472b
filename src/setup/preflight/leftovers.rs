//! kubeadm's `DirAvailable--*` and `FileAvailable--*` checks: what an earlier init or
//! join left behind. After an interrupted init these are the first errors the rerun
//! prints ("/etc/kubernetes/manifests is not empty"); the fix is a reset, not deleting
//! files by hand.

use super::{Check, Role, Status};
use crate::host::read::{HostFiles, LocalRoot};
use crate::model::host::Probe;

/// Directories kubeadm wants absent or empty, with kubeadm's check id.
const DIRS: &[(&str, &str, &[Role])] = &[
    (
        "/etc/kubernetes/manifests",
        "DirAvailable--etc-kubernetes-manifests",
        &[Role::Init, Role::Join],
    ),
    ("/var/lib/etcd", "DirAvailable--var-lib-etcd", &[Role::Init]),
    (
        "/var/lib/kubelet",
        "DirAvailable--var-lib-kubelet",
        &[Role::Init, Role::Join],
    ),
];

/// Files kubeadm refuses to overwrite.
const FILES: &[(&str, &str, &[Role])] = &[
    (
        "/etc/kubernetes/admin.conf",
        "FileAvailable--etc-kubernetes-admin.conf",
        &[Role::Init],
    ),
    (
        "/etc/kubernetes/kubelet.conf",
        "FileAvailable--etc-kubernetes-kubelet.conf",
        &[Role::Init, Role::Join],
    ),
    (
        "/etc/kubernetes/pki/ca.crt",
        "FileAvailable--etc-kubernetes-pki-ca.crt",
        &[Role::Join],
    ),
];

const RESET: &str = "kcops setup reset (kubeadm reset -f, then the network leftovers)";

pub(crate) fn checks(root: &LocalRoot, role: Role) -> Vec<Check> {
    let mut out = Vec::new();
    for (dir, id, _) in DIRS.iter().filter(|(_, _, r)| r.contains(&role)) {
        out.push(match root.list_dir(dir) {
            Probe::Missing => Check::pass(*id, format!("{dir} does not exist")),
            Probe::Found(e) if e.is_empty() => Check::pass(*id, format!("{dir} is empty")),
            Probe::Found(mut e) => {
                e.sort();
                let shown: Vec<&str> = e.iter().take(4).map(String::as_str).collect();
                let more = if e.len() > 4 {
                    format!(" and {} more", e.len() - 4)
                } else {
                    String::new()
                };
                // kubeadm only warns on a non-empty /var/lib/kubelet for init; a
                // manifests or etcd directory with files stops it.
                let status = if *dir == "/var/lib/kubelet" {
                    Status::Warn
                } else {
                    Status::Fail
                };
                Check::new(
                    *id,
                    status,
                    format!("{dir} is not empty ({}{more})", shown.join(", ")),
                )
                .fix(RESET)
            }
            Probe::Error(e) => Check::new(*id, Status::Unknown, format!("cannot read {dir}: {e}")),
        });
    }
    for (file, id, _) in FILES.iter().filter(|(_, _, r)| r.contains(&role)) {
        out.push(match root.read_text(file) {
            Probe::Missing => Check::pass(*id, format!("{file} does not exist")),
            Probe::Found(_) => {
                Check::new(*id, Status::Fail, format!("{file} already exists")).fix(RESET)
            }
            Probe::Error(e) => Check::new(*id, Status::Unknown, format!("cannot read {file}: {e}")),
        });
    }
    // Existing certificates are reused by kubeadm, which surprises when they were made
    // for another address: said, not failed.
    if role == Role::Init {
        out.push(match root.list_dir("/etc/kubernetes/pki") {
            Probe::Missing => Check::pass("pki", "/etc/kubernetes/pki does not exist"),
            Probe::Found(e) if e.is_empty() => Check::pass("pki", "/etc/kubernetes/pki is empty"),
            Probe::Found(e) => Check::new(
                "pki",
                Status::Warn,
                format!(
                    "/etc/kubernetes/pki holds {} entries: kubeadm would reuse these certificates (made for the earlier attempt's address)",
                    e.len()
                ),
            )
            .fix(RESET),
            Probe::Error(e) => Check::new("pki", Status::Unknown, format!("cannot read /etc/kubernetes/pki: {e}")),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interrupted_init_leaves_manifests_behind() {
        let dir = super::super::ports::tests::tempfile_dir("leftovers");
        std::fs::create_dir_all(dir.join("etc/kubernetes/manifests")).unwrap();
        std::fs::write(dir.join("etc/kubernetes/manifests/etcd.yaml"), "x").unwrap();
        std::fs::write(dir.join("etc/kubernetes/kubelet.conf"), "x").unwrap();
        let checks = checks(&LocalRoot(dir.clone()), Role::Init);
        let by_id = |id: &str| checks.iter().find(|c| c.id == id).unwrap();
        let m = by_id("DirAvailable--etc-kubernetes-manifests");
        assert_eq!(m.status, Status::Fail);
        assert_eq!(
            m.found,
            "/etc/kubernetes/manifests is not empty (etcd.yaml)"
        );
        assert_eq!(
            by_id("FileAvailable--etc-kubernetes-kubelet.conf").status,
            Status::Fail
        );
        assert_eq!(
            by_id("FileAvailable--etc-kubernetes-admin.conf").status,
            Status::Pass
        );
        assert_eq!(by_id("DirAvailable--var-lib-etcd").status, Status::Pass);
        let _ = std::fs::remove_dir_all(dir);
    }
}
