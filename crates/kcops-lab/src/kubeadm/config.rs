//! kubeadm's flags and `--config` documents (`kubeadm.k8s.io/v1beta4`
//! InitConfiguration, ClusterConfiguration, JoinConfiguration), merged into what the
//! stand-in needs. Flags win over the file where kubeadm allows both.

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// kubeadm's defaults. Its own version, which kubeadm deploys without
/// `kubernetesVersion`, is the version the lab's API server reports.
pub const DEFAULT_VERSION: &str = crate::api::discovery::GIT_VERSION;
pub const DEFAULT_SERVICE_SUBNET: &str = "10.96.0.0/12";
pub const DEFAULT_IMAGE_REPOSITORY: &str = "registry.k8s.io";
pub const DEFAULT_CRI_SOCKET: &str = "unix:///var/run/containerd/containerd.sock";

/// What `kubeadm init` sets up.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitConfig {
    pub kubernetes_version: String,
    pub advertise_address: String,
    pub bind_port: u16,
    pub control_plane_endpoint: String,
    pub image_repository: String,
    pub pod_subnet: String,
    pub service_subnet: String,
    pub cri_socket: String,
    pub node_name: String,
    /// `abcdef.0123456789abcdef`; generated when none is given.
    pub token: String,
    /// Token lifetime in seconds (kubeadm: 24h).
    pub token_ttl_seconds: u64,
    /// The ClusterConfiguration as kubeadm uploads it to kube-system/kubeadm-config.
    pub cluster_configuration: String,
}

/// What `kubeadm join` is asked to do.
#[derive(Debug, Clone, Default)]
pub struct JoinConfig {
    pub endpoint: String,
    pub token: String,
    pub ca_cert_hashes: Vec<String>,
    pub unsafe_skip_ca_verification: bool,
    pub control_plane: bool,
    pub node_name: String,
    pub cri_socket: String,
}

/// The YAML documents of a `--config` file, by kind.
fn documents(path: &Path) -> Result<Vec<Value>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("unable to read config from {:?}", path.display()))?;
    let mut out = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_str(&text) {
        use serde::Deserialize;
        let v = Value::deserialize(doc)
            .with_context(|| format!("couldn't parse the config file {:?}", path.display()))?;
        if v.is_null() {
            continue;
        }
        let api = v["apiVersion"].as_str().unwrap_or_default();
        let kind = v["kind"].as_str().unwrap_or_default();
        if api.starts_with("kubeadm.k8s.io/")
            && api != "kubeadm.k8s.io/v1beta4"
            && api != "kubeadm.k8s.io/v1beta3"
        {
            bail!(
                "your configuration file uses an old API spec: {api:?} (kind: {kind:?}). Please use kubeadm v1.31 instead and run 'kubeadm config migrate --old-config old-config-file --new-config new-config-file', which will write the new, similar spec using a newer API version."
            );
        }
        out.push(v);
    }
    Ok(out)
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Option<&'a Value> {
    docs.iter().find(|d| d["kind"] == kind)
}

fn s(v: &Value, path: &[&str]) -> String {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    match cur {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

/// Flags `kubeadm init` takes that set configuration (empty = not given).
#[derive(Debug, Clone, Default)]
pub struct InitFlags {
    pub config: Option<std::path::PathBuf>,
    pub advertise_address: String,
    pub bind_port: Option<u16>,
    pub control_plane_endpoint: String,
    pub kubernetes_version: String,
    pub image_repository: String,
    pub pod_network_cidr: String,
    pub service_cidr: String,
    pub cri_socket: String,
    pub node_name: String,
    pub token: String,
    pub token_ttl_seconds: Option<u64>,
}

fn pick(flag: &str, file: String, default: &str) -> String {
    if !flag.is_empty() {
        flag.to_string()
    } else if !file.is_empty() {
        file
    } else {
        default.to_string()
    }
}

impl InitConfig {
    /// Merges flags, the config file and kubeadm's defaults; `node` is the machine's
    /// hostname (kubeadm's default node name), `node_ip` its address.
    pub fn resolve(flags: &InitFlags, node: &str, node_ip: &str) -> Result<InitConfig> {
        let docs = match &flags.config {
            Some(p) => documents(p)?,
            None => Vec::new(),
        };
        if flags.config.is_some()
            && of_kind(&docs, "InitConfiguration").is_none()
            && of_kind(&docs, "ClusterConfiguration").is_none()
        {
            bail!("no InitConfiguration or ClusterConfiguration kind was found in the YAML file");
        }
        let null = Value::Null;
        let init = of_kind(&docs, "InitConfiguration").unwrap_or(&null);
        let cluster = of_kind(&docs, "ClusterConfiguration").unwrap_or(&null);
        let token = pick(
            &flags.token,
            init["bootstrapTokens"][0]["token"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            "",
        );
        if !token.is_empty() && super::token::split(&token).is_none() {
            bail!(
                "the bootstrap token {token:?} was not of the form {:?}",
                super::token::TOKEN_PATTERN
            );
        }
        let ttl = init["bootstrapTokens"][0]["ttl"]
            .as_str()
            .and_then(parse_go_duration);
        let bind_port = flags
            .bind_port
            .or_else(|| {
                init["localAPIEndpoint"]["bindPort"]
                    .as_u64()
                    .map(|p| p as u16)
            })
            .unwrap_or(6443);
        let mut cfg = InitConfig {
            kubernetes_version: pick(
                &flags.kubernetes_version,
                s(cluster, &["kubernetesVersion"]),
                DEFAULT_VERSION,
            ),
            advertise_address: pick(
                &flags.advertise_address,
                s(init, &["localAPIEndpoint", "advertiseAddress"]),
                node_ip,
            ),
            bind_port,
            control_plane_endpoint: pick(
                &flags.control_plane_endpoint,
                s(cluster, &["controlPlaneEndpoint"]),
                "",
            ),
            image_repository: pick(
                &flags.image_repository,
                s(cluster, &["imageRepository"]),
                DEFAULT_IMAGE_REPOSITORY,
            ),
            pod_subnet: pick(
                &flags.pod_network_cidr,
                s(cluster, &["networking", "podSubnet"]),
                "",
            ),
            service_subnet: pick(
                &flags.service_cidr,
                s(cluster, &["networking", "serviceSubnet"]),
                DEFAULT_SERVICE_SUBNET,
            ),
            cri_socket: pick(
                &flags.cri_socket,
                s(init, &["nodeRegistration", "criSocket"]),
                DEFAULT_CRI_SOCKET,
            ),
            node_name: pick(
                &flags.node_name,
                s(init, &["nodeRegistration", "name"]),
                node,
            ),
            token,
            token_ttl_seconds: flags.token_ttl_seconds.or(ttl).unwrap_or(24 * 3600),
            cluster_configuration: String::new(),
        };
        if !cfg.kubernetes_version.starts_with('v') {
            cfg.kubernetes_version = format!("v{}", cfg.kubernetes_version);
        }
        cfg.cluster_configuration = cfg.cluster_configuration_yaml();
        Ok(cfg)
    }

    /// The ClusterConfiguration kubeadm stores in kube-system/kubeadm-config.
    fn cluster_configuration_yaml(&self) -> String {
        let mut out = String::from(
            "apiServer: {}\napiVersion: kubeadm.k8s.io/v1beta4\ncaCertificateValidityPeriod: 87600h0m0s\ncertificateValidityPeriod: 8760h0m0s\ncertificatesDir: /etc/kubernetes/pki\nclusterName: kubernetes\n",
        );
        if !self.control_plane_endpoint.is_empty() {
            out.push_str(&format!(
                "controlPlaneEndpoint: {}\n",
                self.control_plane_endpoint
            ));
        }
        out.push_str("controllerManager: {}\ndns: {}\nencryptionAlgorithm: RSA-2048\netcd:\n  local:\n    dataDir: /var/lib/etcd\n");
        out.push_str(&format!("imageRepository: {}\nkind: ClusterConfiguration\nkubernetesVersion: {}\nnetworking:\n  dnsDomain: cluster.local\n", self.image_repository, self.kubernetes_version));
        if !self.pod_subnet.is_empty() {
            out.push_str(&format!("  podSubnet: {}\n", self.pod_subnet));
        }
        out.push_str(&format!(
            "  serviceSubnet: {}\nproxy: {{}}\nscheduler: {{}}\n",
            self.service_subnet
        ));
        out
    }

    /// Where joins reach the API server: the control-plane endpoint, else the
    /// advertise address and bind port.
    pub fn api_endpoint(&self) -> String {
        if self.control_plane_endpoint.is_empty() {
            format!("{}:{}", self.advertise_address, self.bind_port)
        } else if self.control_plane_endpoint.contains(':') {
            self.control_plane_endpoint.clone()
        } else {
            format!("{}:{}", self.control_plane_endpoint, self.bind_port)
        }
    }
}

/// Flags `kubeadm join` takes.
#[derive(Debug, Clone, Default)]
pub struct JoinFlags {
    pub config: Option<std::path::PathBuf>,
    pub endpoint: Option<String>,
    pub token: String,
    pub discovery_token: String,
    pub ca_cert_hashes: Vec<String>,
    pub unsafe_skip_ca_verification: bool,
    pub control_plane: bool,
    pub node_name: String,
    pub cri_socket: String,
}

impl JoinConfig {
    pub fn resolve(flags: &JoinFlags, node: &str) -> Result<JoinConfig> {
        let docs = match &flags.config {
            Some(p) => documents(p)?,
            None => Vec::new(),
        };
        let null = Value::Null;
        let join = match &flags.config {
            Some(_) => of_kind(&docs, "JoinConfiguration")
                .context("no JoinConfiguration kind was found in the YAML file")?,
            None => &null,
        };
        let bt = &join["discovery"]["bootstrapToken"];
        let token = pick(
            &flags.discovery_token,
            String::new(),
            &pick(&flags.token, s(bt, &["token"]), ""),
        );
        let endpoint = flags
            .endpoint
            .clone()
            .filter(|e| !e.is_empty())
            .unwrap_or_else(|| s(bt, &["apiServerEndpoint"]));
        let mut hashes = flags.ca_cert_hashes.clone();
        if hashes.is_empty() {
            hashes = bt["caCertHashes"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|h| h.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
        }
        let cfg = JoinConfig {
            endpoint,
            token,
            ca_cert_hashes: hashes,
            unsafe_skip_ca_verification: flags.unsafe_skip_ca_verification
                || bt["unsafeSkipCAVerification"].as_bool() == Some(true),
            control_plane: flags.control_plane || !join["controlPlane"].is_null(),
            node_name: pick(
                &flags.node_name,
                s(join, &["nodeRegistration", "name"]),
                node,
            ),
            cri_socket: pick(
                &flags.cri_socket,
                s(join, &["nodeRegistration", "criSocket"]),
                DEFAULT_CRI_SOCKET,
            ),
        };
        if cfg.endpoint.is_empty() {
            bail!("discovery: Invalid value: \"\": bootstrapToken or file must be set");
        }
        if cfg.token.is_empty() {
            bail!(
                "discovery.bootstrapToken.token: Invalid value: \"\": the bootstrap token is invalid"
            );
        }
        if cfg.ca_cert_hashes.is_empty() && !cfg.unsafe_skip_ca_verification {
            bail!(
                "discovery.bootstrapToken: Invalid value: \"\": using token-based discovery without caCertHashes can be unsafe. Set unsafeSkipCAVerification as true in your kubeadm config file or pass --discovery-token-unsafe-skip-ca-verification flag to continue"
            );
        }
        Ok(cfg)
    }
}

/// `24h0m0s`, `1h30m`, `90s`: a Go duration in whole seconds.
pub fn parse_go_duration(text: &str) -> Option<u64> {
    let mut total = 0u64;
    let mut num = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: u64 = num.parse().ok()?;
        num.clear();
        total += match c {
            'h' => n * 3600,
            'm' => n * 60,
            's' => n,
            _ => return None,
        };
    }
    num.is_empty().then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_v1beta4_config_file_sets_what_init_uses() {
        let dir = std::env::temp_dir().join(format!("kcops-kubeadm-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("kubeadm.yaml");
        std::fs::write(&file, "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nlocalAPIEndpoint:\n  advertiseAddress: 192.168.1.10\n  bindPort: 6443\nnodeRegistration:\n  criSocket: unix:///run/containerd/containerd.sock\n---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: v1.32.2\nimageRepository: registry.aliyuncs.com/google_containers\nnetworking:\n  podSubnet: 10.244.0.0/16\n  serviceSubnet: 10.96.0.0/12\n").unwrap();
        let flags = InitFlags {
            config: Some(file),
            ..Default::default()
        };
        let cfg = InitConfig::resolve(&flags, "cp-1", "10.0.0.5").unwrap();
        assert_eq!(cfg.advertise_address, "192.168.1.10");
        assert_eq!(cfg.kubernetes_version, "v1.32.2");
        assert_eq!(cfg.pod_subnet, "10.244.0.0/16");
        assert_eq!(
            cfg.image_repository,
            "registry.aliyuncs.com/google_containers"
        );
        assert_eq!(cfg.api_endpoint(), "192.168.1.10:6443");
        assert!(
            cfg.cluster_configuration
                .contains("podSubnet: 10.244.0.0/16")
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("24h0m0s"), Some(86400));
        assert_eq!(parse_go_duration("90s"), Some(90));
        assert_eq!(parse_go_duration("1x"), None);
    }
}
