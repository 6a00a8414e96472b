//! kubeadm's token discovery, done by kcops before kubeadm runs: fetch
//! kube-public/cluster-info anonymously, check the bootstrap token's detached JWS over
//! its kubeconfig and the cluster CA against the pinned hashes, exactly as
//! `kubeadm join` would — so a wrong token or hash is caught with a clear message
//! instead of kubeadm retrying for minutes. Also the CA pin itself (`sha256:<hex>` of
//! the CA's SubjectPublicKeyInfo), which `:join` prints into the join command.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;

/// How long the anonymous read may take (kubeadm's discovery request uses 10s).
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// What discovery established: the API server and the CA a joining machine trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterInfo {
    pub server: String,
    pub ca_pem: String,
    /// The CA's pin (`sha256:<hex>`).
    pub ca_pin: String,
}

/// Why discovery refuses: kubeadm's words first, then what to do.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DiscoveryError {
    #[error(
        "the bootstrap token {0:?} was not of the form \"[a-z0-9]{{6}}.[a-z0-9]{{16}}\": copy the whole --token value of the join command"
    )]
    MalformedToken(String),
    #[error(
        "invalid hash {0:?}, expected \"sha256:\" and 64 hex digits: copy the whole --discovery-token-ca-cert-hash value"
    )]
    MalformedHash(String),
    #[error(
        "cannot reach the API server at {endpoint}: {reason} (is the address right, kube-apiserver running and port {port} open between this machine and the control plane?)"
    )]
    Unreachable {
        endpoint: String,
        port: String,
        reason: String,
    },
    #[error("could not read kube-public/cluster-info from {endpoint}: {reason}")]
    NoClusterInfo { endpoint: String, reason: String },
    #[error(
        "there is no kubeconfig key in the cluster-info ConfigMap. This API Server isn't set up for token bootstrapping, can't connect"
    )]
    NoKubeconfig,
    #[error(
        "token id {0:?} is invalid for this cluster or it has expired. Use \"kubeadm token create\" on the control-plane node (or :join in kcops) to create a new valid token"
    )]
    TokenUnknownOrExpired(String),
    #[error(
        "failed to verify JWS signature of received cluster info object, can't trust this API Server (the token's secret part is wrong)"
    )]
    BadSignature,
    #[error("couldn't parse the kubeconfig file in the cluster-info ConfigMap: {0}")]
    BadKubeconfig(String),
    #[error("failed to parse cluster CA from the cluster-info ConfigMap: {0}")]
    BadCa(String),
    #[error(
        "cluster CA found in cluster-info ConfigMap is invalid: none of the public keys {pins:?} are pinned (the --discovery-token-ca-cert-hash is not this cluster's CA: it is {pins})"
    )]
    CaNotPinned { pins: String },
}

/// `abcdef.0123456789abcdef` into id and secret.
pub fn split_token(token: &str) -> Option<(&str, &str)> {
    let (id, secret) = token.split_once('.')?;
    let ok = |s: &str, n: usize| {
        s.len() == n
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    };
    (ok(id, 6) && ok(secret, 16)).then_some((id, secret))
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether `jws` (`<header>..<signature>`) is the HS256 signature of `content` under the
/// token, as `k8s.io/cluster-bootstrap/token/jws.DetachedTokenIsValid` decides.
pub fn jws_is_valid(jws: &str, content: &str, token_id: &str, token_secret: &str) -> bool {
    let Some((header, signature)) = jws.split_once("..") else {
        return false;
    };
    let header_json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
    let Some(header_json) = header_json else {
        return false;
    };
    if header_json["alg"] != "HS256" || header_json["kid"] != token_id {
        return false;
    }
    let Ok(signature) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(signature) else {
        return false;
    };
    let input = format!("{header}.{}", b64url(content.as_bytes()));
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, token_secret.as_bytes());
    ring::hmac::verify(&key, input.as_bytes(), &signature).is_ok()
}

/// The pins (`sha256:<hex>` of each certificate's SubjectPublicKeyInfo) of a PEM
/// bundle, as `kubeadm` and `openssl x509 -pubkey | openssl dgst -sha256` compute them.
pub fn ca_pins(pem: &str) -> Result<Vec<String>, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    if certs.is_empty() {
        return Err("data does not contain any valid RSA or ECDSA certificates".into());
    }
    certs
        .iter()
        .map(|der| {
            let cert = webpki::EndEntityCert::try_from(der).map_err(|e| e.to_string())?;
            let digest = ring::digest::digest(
                &ring::digest::SHA256,
                cert.subject_public_key_info().as_ref(),
            );
            let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
            Ok(format!("sha256:{hex}"))
        })
        .collect()
}

fn check_hash(hash: &str) -> Result<(), DiscoveryError> {
    let ok = hash.split_once(':').is_some_and(|(f, hex)| {
        f.eq_ignore_ascii_case("sha256")
            && hex.len() == 64
            && hex.chars().all(|c| c.is_ascii_hexdigit())
    });
    ok.then_some(())
        .ok_or_else(|| DiscoveryError::MalformedHash(hash.to_string()))
}

/// kubeadm's checks on a fetched cluster-info's `data`, in kubeadm's order. An empty
/// `ca_hashes` skips pinning (kubeadm's `--discovery-token-unsafe-skip-ca-verification`).
pub fn verify(
    data: &BTreeMap<String, String>,
    token: &str,
    ca_hashes: &[String],
) -> Result<ClusterInfo, DiscoveryError> {
    let (id, secret) =
        split_token(token).ok_or_else(|| DiscoveryError::MalformedToken(token.to_string()))?;
    for h in ca_hashes {
        check_hash(h)?;
    }
    let kubeconfig = data
        .get("kubeconfig")
        .filter(|k| !k.is_empty())
        .ok_or(DiscoveryError::NoKubeconfig)?;
    let jws = data
        .get(&format!("jws-kubeconfig-{id}"))
        .filter(|j| !j.is_empty())
        .ok_or_else(|| DiscoveryError::TokenUnknownOrExpired(id.to_string()))?;
    if !jws_is_valid(jws, kubeconfig, id, secret) {
        return Err(DiscoveryError::BadSignature);
    }
    let parsed: serde_json::Value = serde_yaml_ng::from_str(kubeconfig)
        .map_err(|e| DiscoveryError::BadKubeconfig(e.to_string()))?;
    let clusters = parsed["clusters"].as_array().cloned().unwrap_or_default();
    if clusters.len() != 1 {
        return Err(DiscoveryError::BadKubeconfig(format!(
            "expected a single cluster, but it had {}",
            clusters.len()
        )));
    }
    let cluster = &clusters[0]["cluster"];
    let server = cluster["server"].as_str().unwrap_or_default().to_string();
    let ca_pem = cluster["certificate-authority-data"]
        .as_str()
        .and_then(|d| base64::engine::general_purpose::STANDARD.decode(d).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| DiscoveryError::BadCa("no certificate-authority-data".into()))?;
    let pins = ca_pins(&ca_pem).map_err(DiscoveryError::BadCa)?;
    let pinned = |p: &String| ca_hashes.iter().any(|h| h.eq_ignore_ascii_case(p));
    if !ca_hashes.is_empty() && !pins.iter().any(pinned) {
        return Err(DiscoveryError::CaNotPinned {
            pins: pins.join(", "),
        });
    }
    Ok(ClusterInfo {
        server,
        ca_pem,
        ca_pin: pins.into_iter().next().unwrap_or_default(),
    })
}

/// Reads kube-public/cluster-info from `endpoint` (`host:port`) without credentials
/// and without trusting its certificate yet (the pin is checked afterwards).
pub async fn fetch_cluster_info(
    endpoint: &str,
) -> Result<BTreeMap<String, String>, DiscoveryError> {
    let port = endpoint
        .rsplit_once(':')
        .map_or("6443", |(_, p)| p)
        .to_string();
    let unreachable = |reason: String| DiscoveryError::Unreachable {
        endpoint: endpoint.to_string(),
        port: port.clone(),
        reason,
    };
    // A plain connect first: "connection refused" says more than a client error.
    match tokio::time::timeout(FETCH_TIMEOUT, tokio::net::TcpStream::connect(endpoint)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(unreachable(e.to_string())),
        Err(_) => {
            return Err(unreachable(format!(
                "no answer within {}s",
                FETCH_TIMEOUT.as_secs()
            )));
        }
    }
    let no_info = |reason: String| DiscoveryError::NoClusterInfo {
        endpoint: endpoint.to_string(),
        reason,
    };
    // kubeadm's insecure bootstrap kubeconfig: the server, no CA, no credentials.
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: kubernetes\n  cluster:\n    server: https://{endpoint}\n    insecure-skip-tls-verify: true\nusers:\n- name: token-bootstrap-client\n  user: {{}}\ncontexts:\n- name: bootstrap\n  context: {{cluster: kubernetes, user: token-bootstrap-client}}\ncurrent-context: bootstrap\n"
    );
    let kubeconfig =
        kube::config::Kubeconfig::from_yaml(&kubeconfig).map_err(|e| no_info(e.to_string()))?;
    let mut config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .map_err(|e| no_info(e.to_string()))?;
    config.read_timeout = Some(FETCH_TIMEOUT);
    config.connect_timeout = Some(FETCH_TIMEOUT);
    config.default_retry = false;
    let client = kube::Client::try_from(config).map_err(|e| no_info(e.to_string()))?;
    let api: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(client, "kube-public");
    let cm = tokio::time::timeout(FETCH_TIMEOUT, api.get("cluster-info"))
        .await
        .map_err(|_| no_info("no answer in time".into()))?
        .map_err(|e| no_info(e.to_string()))?;
    Ok(cm.data.unwrap_or_default())
}

/// Discovery as `kcops setup join` runs it before kubeadm: fetch, then [`verify`].
pub async fn discover(
    endpoint: &str,
    token: &str,
    ca_hashes: &[String],
) -> Result<ClusterInfo, DiscoveryError> {
    split_token(token).ok_or_else(|| DiscoveryError::MalformedToken(token.to_string()))?;
    for h in ca_hashes {
        check_hash(h)?;
    }
    let data = fetch_cluster_info(endpoint).await?;
    verify(&data, token, ca_hashes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bootstrap_signers_own_signature_verifies() {
        // pkg/controller/bootstrap's signer test: "payload" under abc123.tokenSecret.
        let jws =
            "eyJhbGciOiJIUzI1NiIsImtpZCI6ImFiYzEyMyJ9..QSxpUG7Q542CirTI2ECPSZjvBOJURUW5a7XqFpNI958";
        assert!(jws_is_valid(jws, "payload", "abc123", "tokenSecret"));
        assert!(!jws_is_valid(jws, "payload", "abc123", "otherSecret"));
        assert!(!jws_is_valid(jws, "payload2", "abc123", "tokenSecret"));
        assert!(!jws_is_valid(jws, "payload", "abc124", "tokenSecret"));
    }

    #[test]
    fn malformed_tokens_and_hashes_are_refused_before_any_request() {
        let data = BTreeMap::new();
        assert_eq!(
            verify(&data, "abc.def", &[]),
            Err(DiscoveryError::MalformedToken("abc.def".into()))
        );
        assert_eq!(
            verify(&data, "abcdef.0123456789abcdef", &["sha256:zz".into()]),
            Err(DiscoveryError::MalformedHash("sha256:zz".into()))
        );
        assert_eq!(
            verify(&data, "abcdef.0123456789abcdef", &[]),
            Err(DiscoveryError::NoKubeconfig)
        );
    }

    #[test]
    fn a_token_without_signature_is_unknown_or_expired() {
        let mut data = BTreeMap::new();
        data.insert("kubeconfig".to_string(), "apiVersion: v1".to_string());
        let err = verify(&data, "abcdef.0123456789abcdef", &[]).unwrap_err();
        assert_eq!(err, DiscoveryError::TokenUnknownOrExpired("abcdef".into()));
        assert!(
            err.to_string()
                .starts_with("token id \"abcdef\" is invalid for this cluster or it has expired")
        );
    }
}
