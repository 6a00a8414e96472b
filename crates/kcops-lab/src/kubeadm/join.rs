//! `kubeadm join` on a lab machine: kubeadm's discovery (token signature, CA pins) on
//! cluster-info, then the TLS bootstrap the lab supervisor checks.

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};

use super::cluster::Request;
use super::config::{JoinConfig, JoinFlags};
use super::init::kubelet_files;
use super::{JoinArgs, Machine, admin_token, host, ignored, phase, preflight_fatal, say, token};

/// kubeadm's discovery, the way `RetrieveValidatedConfigInfo` does it: the token's
/// signature over cluster-info's kubeconfig, then the CA against the pins.
fn validate_cluster_info(cm: &serde_json::Value, cfg: &JoinConfig) -> Result<String> {
    let (id, secret) = token::split(&cfg.token).ok_or_else(|| {
        anyhow!(
            "the bootstrap token {:?} was not of the form {:?}",
            cfg.token,
            token::TOKEN_PATTERN
        )
    })?;
    let kubeconfig = cm["data"]["kubeconfig"].as_str().unwrap_or_default();
    if kubeconfig.is_empty() {
        bail!(
            "there is no kubeconfig key in the cluster-info ConfigMap. This API Server isn't set up for token bootstrapping, can't connect"
        );
    }
    let jws = cm["data"][format!("{}{id}", token::JWS_PREFIX)]
        .as_str()
        .unwrap_or_default();
    if jws.is_empty() {
        bail!(
            "token id {id:?} is invalid for this cluster or it has expired. Use \"kubeadm token create\" on the control-plane node to create a new valid token"
        );
    }
    if token::detached_jws(kubeconfig, id, secret) != jws {
        bail!(
            "failed to verify JWS signature of received cluster info object, can't trust this API Server"
        );
    }
    let parsed: serde_json::Value = serde_yaml_ng::from_str(kubeconfig)
        .context("couldn't parse the kubeconfig file in the cluster-info ConfigMap")?;
    let clusters = parsed["clusters"].as_array().cloned().unwrap_or_default();
    if clusters.len() != 1 {
        bail!(
            "expected the kubeconfig file in the cluster-info ConfigMap to have a single cluster, but it had {}",
            clusters.len()
        );
    }
    if cfg.ca_cert_hashes.is_empty() {
        return Ok(kubeconfig.to_string());
    }
    use base64::Engine;
    let ca = clusters[0]["cluster"]["certificate-authority-data"]
        .as_str()
        .and_then(|d| base64::engine::general_purpose::STANDARD.decode(d).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default();
    let pins = token::ca_pins(&ca).map_err(|e| {
        anyhow!("{e}").context("failed to parse cluster CA from the cluster-info ConfigMap")
    })?;
    let pinned = |p: &String| cfg.ca_cert_hashes.iter().any(|h| h.eq_ignore_ascii_case(p));
    if !pins.iter().any(pinned) {
        bail!(
            "cluster CA found in cluster-info ConfigMap is invalid: none of the public keys {:?} are pinned",
            pins.join(", ")
        );
    }
    Ok(kubeconfig.to_string())
}

/// `sha256:<64 hex>` (kubeadm's pubkeypin.Set.Allow).
fn check_pin_format(hash: &str) -> Result<()> {
    let Some((format, hex)) = hash.split_once(':') else {
        bail!("invalid hash {hash:?}, expected \"format:hex-value\". Known format(s) are: sha256");
    };
    if !format.eq_ignore_ascii_case("sha256") {
        bail!("unknown hash format {format:?}. Known format(s) are: sha256");
    }
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        bail!(
            "invalid hash {hash:?}, expected a 32 byte SHA-256 hash, found {} bytes",
            hex.len() / 2
        );
    }
    Ok(())
}

pub(super) async fn join(m: &Machine, a: JoinArgs) -> Result<()> {
    let flags = JoinFlags {
        config: a.config.clone(),
        endpoint: a.endpoint.clone(),
        token: a.token.clone(),
        discovery_token: a.discovery_token.clone(),
        ca_cert_hashes: a.ca_cert_hashes.clone(),
        unsafe_skip_ca_verification: a.discovery_token_unsafe_skip_ca_verification,
        control_plane: a.control_plane,
        node_name: a.node_name.clone(),
        cri_socket: a.cri_socket.clone(),
    };
    let mut cfg = JoinConfig::resolve(&flags, &m.node)?;
    if cfg.node_name != m.node {
        eprintln!(
            "W{} {:>7} joinconfiguration.go:77] nodeRegistration.name {:?} is not this lab machine; the node registers as {:?}",
            crate::scenario::klog_time(jiff::Timestamp::now()),
            std::process::id(),
            cfg.node_name,
            m.node
        );
        cfg.node_name = m.node.clone();
    }
    for h in &cfg.ca_cert_hashes {
        check_pin_format(h)?;
    }
    say("[preflight] Running pre-flight checks");
    let errors: Vec<String> = host::leftovers(&m.root, false)
        .into_iter()
        .filter(|e| !ignored(&a.ignore_preflight_errors, e))
        .collect();
    if !errors.is_empty() {
        return Err(preflight_fatal(&errors));
    }
    let identity = |e: anyhow::Error| {
        anyhow!(
            "error execution phase preflight: couldn't validate the identity of the API Server: {e:#}"
        )
    };
    let url = format!(
        "https://{}/api/v1/namespaces/kube-public/configmaps/cluster-info?timeout=10s",
        cfg.endpoint
    );
    let reach = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::TcpStream::connect(cfg.endpoint.as_str()),
    )
    .await;
    match reach {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            let why = if e.kind() == std::io::ErrorKind::ConnectionRefused {
                "connect: connection refused".to_string()
            } else {
                e.to_string()
            };
            return Err(identity(anyhow!(
                "Get {url:?}: dial tcp {}: {why}",
                cfg.endpoint
            )));
        }
        Err(_) => {
            return Err(identity(anyhow!(
                "Get {url:?}: dial tcp {}: i/o timeout",
                cfg.endpoint
            )));
        }
    }
    let cm = m
        .ask(&Request::ClusterInfo)
        .await
        .map_err(|e| identity(anyhow!("{e:#}")))?;
    let cm: serde_json::Value = serde_json::from_str(&cm).context("cluster-info")?;
    let kubeconfig = validate_cluster_info(&cm, &cfg).map_err(identity)?;
    say(
        "[preflight] Reading configuration from the \"kubeadm-config\" ConfigMap in namespace \"kube-system\"...",
    );
    say(
        "[preflight] Use 'kubeadm init phase upload-config --config your-config.yaml' to re-upload it.",
    );
    phase("preflight").await;
    kubelet_files(m, &cfg.cri_socket)?;
    say("[kubelet-start] Starting the kubelet");
    say(
        "[kubelet-check] Waiting for a healthy kubelet at http://127.0.0.1:10248/healthz. This can take up to 4m0s",
    );
    say("[kubelet-check] The kubelet is healthy after 1.001036s");
    say("[kubelet-start] Waiting for the kubelet to perform the TLS Bootstrap");
    m.ask(&Request::Join {
        node: cfg.node_name.clone(),
        token: cfg.token.clone(),
        control_plane: cfg.control_plane,
        cri_socket: cfg.cri_socket.clone(),
    })
    .await?;
    let parsed: serde_json::Value = serde_yaml_ng::from_str(&kubeconfig).unwrap_or_default();
    let server = parsed["clusters"][0]["cluster"]["server"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    use base64::Engine;
    let ca = parsed["clusters"][0]["cluster"]["certificate-authority-data"]
        .as_str()
        .and_then(|d| base64::engine::general_purpose::STANDARD.decode(d).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default();
    host::write(&m.root, "/etc/kubernetes/pki/ca.crt", &ca, false)?;
    let token = admin_token(&m.paths)?;
    host::write(
        &m.root,
        "/etc/kubernetes/kubelet.conf",
        &host::kubeconfig(
            &server,
            &ca,
            &format!("system:node:{}", cfg.node_name),
            &token,
        ),
        true,
    )?;
    say("");
    say("This node has joined the cluster:");
    say("* Certificate signing request was sent to apiserver and a response was received.");
    say("* The Kubelet was informed of the new secure connection details.");
    say("");
    say("Run 'kubectl get nodes' on the control-plane to see this node join the cluster.");
    say("");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_must_be_sha256_hex() {
        assert!(check_pin_format(&format!("sha256:{}", "a".repeat(64))).is_ok());
        assert!(
            check_pin_format("md5:abcd")
                .unwrap_err()
                .to_string()
                .contains("unknown hash format")
        );
        assert!(
            check_pin_format("abcd")
                .unwrap_err()
                .to_string()
                .contains("format:hex-value")
        );
    }
}
