//! What kubeadm writes on the machine (under the lab node's host root) and what
//! `kubeadm reset` removes again — and, as reset says, does not remove (CNI config,
//! links, iptables, the user's kubeconfig).

use std::path::Path;

use anyhow::{Context, Result};

/// Files `init` and `join` refuse to overwrite (kubeadm's FileAvailable checks).
pub const CONF_FILES: [&str; 6] = [
    "admin.conf",
    "super-admin.conf",
    "kubelet.conf",
    "bootstrap-kubelet.conf",
    "controller-manager.conf",
    "scheduler.conf",
];

/// Directories whose contents reset deletes.
pub const RESET_DIRS: [&str; 3] = [
    "/etc/kubernetes/manifests",
    "/var/lib/kubelet",
    "/etc/kubernetes/pki",
];

pub fn write(root: &Path, rel: &str, text: &str, private: bool) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = root.join(rel.trim_start_matches('/'));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(if private { 0o600 } else { 0o644 })
        .open(&path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// A kubeconfig as kubeadm writes them (cluster `kubernetes`).
pub fn kubeconfig(server: &str, ca_pem: &str, user: &str, token: &str) -> String {
    use base64::Engine;
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    format!(
        "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: {ca}\n    server: {server}\n  name: kubernetes\ncontexts:\n- context:\n    cluster: kubernetes\n    user: {user}\n  name: {user}@kubernetes\ncurrent-context: {user}@kubernetes\nkind: Config\npreferences: {{}}\nusers:\n- name: {user}\n  user:\n    token: {token}\n"
    )
}

/// kubeadm's preflight problems on this machine's files (`[ERROR ...]` lines).
pub fn leftovers(root: &Path, init: bool) -> Vec<String> {
    let mut out = Vec::new();
    let non_empty = |rel: &str| {
        std::fs::read_dir(root.join(rel.trim_start_matches('/')))
            .is_ok_and(|mut d| d.next().is_some())
    };
    if init {
        for (dir, id) in [
            (
                "/etc/kubernetes/manifests",
                "DirAvailable--etc-kubernetes-manifests",
            ),
            ("/var/lib/etcd", "DirAvailable--var-lib-etcd"),
        ] {
            if non_empty(dir) {
                out.push(format!("[ERROR {id}]: {dir} is not empty"));
            }
        }
        for file in [
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler",
            "etcd",
        ] {
            let rel = format!("/etc/kubernetes/manifests/{file}.yaml");
            if root.join(rel.trim_start_matches('/')).exists() {
                out.push(format!(
                    "[ERROR FileAvailable--etc-kubernetes-manifests-{file}.yaml]: {rel} already exists"
                ));
            }
        }
    }
    let files: &[&str] = if init {
        &["kubelet.conf", "admin.conf"]
    } else {
        &["kubelet.conf", "bootstrap-kubelet.conf"]
    };
    for f in files {
        let rel = format!("/etc/kubernetes/{f}");
        if root.join(rel.trim_start_matches('/')).exists() {
            out.push(format!(
                "[ERROR FileAvailable--etc-kubernetes-{}]: {rel} already exists",
                f.replace('/', "-")
            ));
        }
    }
    if !init && root.join("etc/kubernetes/pki/ca.crt").exists() {
        out.push("[ERROR FileAvailable--etc-kubernetes-pki-ca.crt]: /etc/kubernetes/pki/ca.crt already exists".into());
    }
    out.sort();
    out
}

/// A self-signed certificate and key with kubeadm's name for it (the lab's own CA
/// signs only the API server's serving certificate).
pub fn cert_pair(common_name: &str, ca: bool) -> Result<(String, String)> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let mut params =
        CertificateParams::new(Vec::<String>::new()).context("certificate parameters")?;
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let now = rcgen::date_time_ymd(
        i32::from(today.year()),
        today.month() as u8,
        today.day().min(28) as u8,
    );
    params.not_before = now;
    params.not_after =
        now + std::time::Duration::from_secs(if ca { 10 * 365 } else { 365 } * 86400);
    if ca {
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    }
    let key = KeyPair::generate().context("key")?;
    let cert = params.self_signed(&key).context("self-signing")?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// A new certificate and key `pki/<file>.{crt,key}` under the machine's root.
pub fn write_cert_pair(root: &Path, file: &str, common_name: &str, ca: bool) -> Result<()> {
    let (crt, key) = cert_pair(common_name, ca)?;
    write(
        root,
        &format!("/etc/kubernetes/pki/{file}.crt"),
        &crt,
        false,
    )?;
    write(root, &format!("/etc/kubernetes/pki/{file}.key"), &key, true)
}

/// A static pod manifest as kubeadm writes it (enough for a reader of the file).
pub fn manifest(component: &str, image: &str, command: &[String]) -> String {
    let mut out = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  labels:\n    component: {component}\n    tier: control-plane\n  name: {component}\n  namespace: kube-system\nspec:\n  containers:\n  - command:\n"
    );
    for c in command {
        out.push_str(&format!("    - {c}\n"));
    }
    out.push_str(&format!(
        "    image: {image}\n    name: {component}\n  hostNetwork: true\n  priorityClassName: system-node-critical\n"
    ));
    out
}

/// Deletes the contents of `dir` (under `root`), keeping the directory.
pub fn clear_dir(root: &Path, dir: &str) -> Result<()> {
    let path = root.join(dir.trim_start_matches('/'));
    let Ok(entries) = std::fs::read_dir(&path) else {
        return Ok(());
    };
    for e in entries.flatten() {
        let p = e.path();
        let r = if e.file_type().is_ok_and(|t| t.is_dir()) {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
        r.with_context(|| format!("cannot remove {}", p.display()))?;
    }
    Ok(())
}
