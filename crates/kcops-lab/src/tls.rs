//! The lab's PKI: a CA generated per lab, a serving certificate for the API server's
//! address, and kubeconfigs for the admin and the read-only user.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use base64::Engine;

/// PEM files of the lab's CA and serving certificate.
pub struct Pki {
    pub ca_pem: String,
    /// The CA's key (kubeadm keeps it as `pki/ca.key`); the lab's `kubeadm` stand-in
    /// writes it into a node's host root.
    pub ca_key_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

/// Loads the PKI from `dir`, or generates it on first start (so restarts keep the CA).
pub fn load_or_create(dir: &Path, ip: IpAddr) -> Result<Pki> {
    let ca_key = dir.join("ca.key");
    let (ca, cert, key) = (
        dir.join("ca.crt"),
        dir.join("apiserver.crt"),
        dir.join("apiserver.key"),
    );
    if ca.exists() && cert.exists() && key.exists() {
        let read = |p: &Path| {
            std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))
        };
        return Ok(Pki {
            ca_pem: read(&ca)?,
            ca_key_pem: read(&ca_key).unwrap_or_default(),
            cert_pem: read(&cert)?,
            key_pem: read(&key)?,
        });
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let pki = generate(ip)?;
    std::fs::write(&ca, &pki.ca_pem).with_context(|| format!("cannot write {}", ca.display()))?;
    std::fs::write(&cert, &pki.cert_pem)
        .with_context(|| format!("cannot write {}", cert.display()))?;
    write_private(&key, &pki.key_pem)?;
    write_private(&ca_key, &pki.ca_key_pem)?;
    Ok(pki)
}

fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

fn generate(ip: IpAddr) -> Result<Pki> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose, SanType,
    };
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).context("CA parameters")?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "kcops-lab-ca");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().context("CA key")?;
    let ca_cert = ca_params
        .self_signed(&ca_key)
        .context("self-signing the CA")?;

    let mut params = CertificateParams::new(vec![
        "localhost".to_string(),
        "kubernetes".to_string(),
        "kubernetes.default.svc".to_string(),
    ])
    .context("server certificate parameters")?;
    params
        .distinguished_name
        .push(DnType::CommonName, "kube-apiserver");
    params.subject_alt_names.push(SanType::IpAddress(ip));
    params
        .subject_alt_names
        .push(SanType::IpAddress(IpAddr::from([127, 0, 0, 1])));
    let key = KeyPair::generate().context("server key")?;
    let cert = params
        .signed_by(&key, &ca_cert, &ca_key)
        .context("signing the server certificate")?;
    Ok(Pki {
        ca_pem: ca_cert.pem(),
        ca_key_pem: ca_key.serialize_pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// A rustls server config for the API server (HTTP/1.1 over TLS).
pub fn server_config(pki: &Pki) -> Result<Arc<rustls::ServerConfig>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(pki.cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .context("parsing the serving certificate")?;
    let key =
        PrivateKeyDer::from_pem_slice(pki.key_pem.as_bytes()).context("parsing the serving key")?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("TLS serving certificate")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Writes a kubeconfig for `user` with a bearer token (mode 0600: it holds a secret).
pub fn write_kubeconfig(
    path: &Path,
    server: &str,
    ca_pem: &str,
    cluster: &str,
    user: &str,
    token: &str,
) -> Result<()> {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: {cluster}\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\nusers:\n- name: {user}\n  user:\n    token: {token}\ncontexts:\n- name: {user}@{cluster}\n  context:\n    cluster: {cluster}\n    user: {user}\ncurrent-context: {user}@{cluster}\npreferences: {{}}\n"
    );
    write_private(path, &text)
}
