//! Failure signatures of the pod network: what a sandbox failure event or a network
//! agent's last words say went wrong.
//!
//! Every failure of a broken kubeadm flannel install (unreachable API server Service,
//! missing subnet.env, exhausted IPAM, missing CNI config, cni0 address conflict) is a
//! case, in its docker-era wording (kubelet `FailedSync` / `SetupNetworkError`, flannel
//! 0.6 logs) and in today's (containerd's
//! `FailedCreatePodSandBox` with `plugin type="flannel" failed (add): ...`, flannel
//! 0.2x). Anything not recognised is [`Signature::Other`], carrying the text verbatim:
//! a guess would send the operator the wrong way.

use std::sync::OnceLock;

use regex::Regex;

/// What a network failure text means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signature {
    /// flannel's CNI plugin found no `/run/flannel/subnet.env`: flanneld is not
    /// running on the node, or never got its lease.
    SubnetEnvMissing,
    /// host-local has no free address left; `pool` is the network (`cbr0`) or the
    /// range set (`10.244.1.1-10.244.1.254`) the text names.
    IpamExhausted { pool: Option<String> },
    /// The runtime has no CNI configuration (`/etc/cni/net.d` empty).
    CniConfigMissing,
    /// A bridge (`cni0`) already carries an address other than the node's gateway.
    BridgeConflict { bridge: String, expected: String },
    /// The node cannot reach a Service or API address (`10.96.0.1:443`).
    ApiUnreachable { address: String, error: String },
    /// flannel got no lease: the node has no podCIDR.
    PodCidrNotAssigned { node: Option<String> },
    /// flannel got no lease: there is no Node object of the name it looked up.
    NodeNotFound { node: Option<String> },
    /// calico's CNI plugin found no `/var/lib/calico/nodename`: calico-node has not
    /// started on the node (it writes the file once it runs).
    CalicoNodenameMissing,
    /// Anything else, verbatim (trimmed).
    Other(String),
}

impl Signature {
    /// A few words for tables and verdicts.
    pub fn label(&self) -> &'static str {
        match self {
            Signature::SubnetEnvMissing => "subnet.env missing",
            Signature::IpamExhausted { .. } => "IP range exhausted",
            Signature::CniConfigMissing => "CNI config missing",
            Signature::BridgeConflict { .. } => "cni0 address conflict",
            Signature::ApiUnreachable { .. } => "API service unreachable",
            Signature::PodCidrNotAssigned { .. } => "no podCIDR",
            Signature::NodeNotFound { .. } => "node not found",
            Signature::CalicoNodenameMissing => "calico-node not started",
            Signature::Other(_) => "other",
        }
    }

    /// The finding that owns a sandbox failure of this kind, or `None` when the pod
    /// check (`pod.sandbox-failed`) reports it verbatim.
    pub(crate) fn sandbox_finding(&self) -> Option<&'static str> {
        match self {
            Signature::SubnetEnvMissing => Some("net.subnet-env-missing"),
            Signature::IpamExhausted { .. } => Some("net.ipam-exhausted"),
            Signature::CniConfigMissing => Some("net.cni-config-missing"),
            Signature::BridgeConflict { .. } => Some("net.cni0-conflict"),
            Signature::ApiUnreachable { .. } => Some("net.api-unreachable"),
            Signature::CalicoNodenameMissing => Some("net.calico-nodename-missing"),
            Signature::PodCidrNotAssigned { .. }
            | Signature::NodeNotFound { .. }
            | Signature::Other(_) => None,
        }
    }

    /// The cause in a sentence, for explanations.
    pub fn describe(&self) -> String {
        match self {
            Signature::SubnetEnvMissing => {
                "/run/flannel/subnet.env does not exist (flanneld has not written it)".to_string()
            }
            Signature::IpamExhausted { pool: Some(p) } => {
                format!("host-local IPAM has no free address in {p}")
            }
            Signature::IpamExhausted { pool: None } => {
                "host-local IPAM has no free address".to_string()
            }
            Signature::CniConfigMissing => "there is no CNI configuration".to_string(),
            Signature::BridgeConflict { bridge, expected } => {
                format!("{bridge} already has an address other than {expected}")
            }
            Signature::ApiUnreachable { address, error } => {
                format!("it cannot reach {address} ({error})")
            }
            Signature::PodCidrNotAssigned { node } => format!(
                "it cannot get a lease: node {} has no podCIDR",
                node.as_deref().unwrap_or("(this node)")
            ),
            Signature::NodeNotFound { node } => format!(
                "it cannot get a lease: there is no Node named {}",
                node.as_deref().unwrap_or("(this node)")
            ),
            Signature::CalicoNodenameMissing => {
                "/var/lib/calico/nodename does not exist (calico-node has not started there)"
                    .to_string()
            }
            Signature::Other(text) => text.clone(),
        }
    }
}

struct Patterns {
    subnet_env: Regex,
    ipam: Regex,
    cni_config: Regex,
    bridge: Regex,
    no_pod_cidr: Regex,
    node_not_found: Regex,
    dial: Regex,
    calico_nodename: Regex,
}

fn patterns() -> Option<&'static Patterns> {
    static P: OnceLock<Option<Patterns>> = OnceLock::new();
    P.get_or_init(|| {
        // `\\?"` : quotes appear escaped inside the docker-era SetupNetworkError text.
        Some(Patterns {
            subnet_env: Regex::new(r"/run/flannel/subnet\.env: no such file or directory")
                .ok()?,
            ipam: Regex::new(
                r"no IP addresses available in (?:network: ([A-Za-z0-9._-]+)|range set(?:: ([0-9A-Fa-f.:-]+))?)",
            )
            .ok()?,
            cni_config: Regex::new(
                r"cni config unin(?:i)?tialized|cni plugin not initialized|no networks found in /etc/cni/net\.d|no network config found in /etc/cni/net\.d",
            )
            .ok()?,
            bridge: Regex::new(
                r#"\\?"?([A-Za-z0-9._-]+)\\?"? already has an IP address different from ([0-9A-Fa-f.:]+/\d+)"#,
            )
            .ok()?,
            no_pod_cidr: Regex::new(
                r#"failed to acquire lease: node \\?["“”]([^"“”\\]+)\\?["“”] pod cidr not assigned"#,
            )
            .ok()?,
            node_not_found: Regex::new(
                r#"failed to acquire lease: node \\?["“”]([^"“”\\]+)\\?["“”] not found"#,
            )
            .ok()?,
            dial: Regex::new(
                r"dial tcp (\[[0-9A-Fa-f:.]+\]:\d+|[0-9.]+:\d+|[A-Za-z0-9.-]+:\d+): (i/o timeout|connect: connection refused|connect: no route to host|connect: network is unreachable)",
            )
            .ok()?,
            calico_nodename: Regex::new(
                r"stat /var/lib/calico/nodename: no such file or directory",
            )
            .ok()?,
        })
    })
    .as_ref()
}

/// Classifies a sandbox failure message or a network agent's termination message.
pub(crate) fn classify(text: &str) -> Signature {
    let Some(p) = patterns() else {
        return Signature::Other(text.trim().to_string());
    };
    if p.subnet_env.is_match(text) {
        return Signature::SubnetEnvMissing;
    }
    if let Some(c) = p.ipam.captures(text) {
        let pool = c
            .get(1)
            .or_else(|| c.get(2))
            .map(|m| m.as_str().to_string());
        return Signature::IpamExhausted { pool };
    }
    if p.cni_config.is_match(text) {
        return Signature::CniConfigMissing;
    }
    if let Some(c) = p.bridge.captures(text) {
        let group = |i: usize| c.get(i).map(|m| m.as_str().to_string()).unwrap_or_default();
        return Signature::BridgeConflict {
            bridge: group(1),
            expected: group(2),
        };
    }
    if let Some(c) = p.no_pod_cidr.captures(text) {
        return Signature::PodCidrNotAssigned {
            node: c.get(1).map(|m| m.as_str().to_string()),
        };
    }
    if let Some(c) = p.node_not_found.captures(text) {
        return Signature::NodeNotFound {
            node: c.get(1).map(|m| m.as_str().to_string()),
        };
    }
    if p.calico_nodename.is_match(text) {
        return Signature::CalicoNodenameMissing;
    }
    if let Some(c) = p.dial.captures(text) {
        let group = |i: usize| c.get(i).map(|m| m.as_str().to_string()).unwrap_or_default();
        return Signature::ApiUnreachable {
            address: group(1),
            error: group(2),
        };
    }
    Signature::Other(text.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `kubectl describe pod` on a worker whose pod network failed: the kubelet of
    /// Kubernetes 1.5 (docker, no CRI) as a FailedSync event; the inner quotes are
    /// escaped as the event message carries them.
    fn docker_era_failed_sync(cause: &str) -> String {
        format!(
            "Error syncing pod, skipping: failed to \"SetupNetwork\" for \"my-nginx-2560993602-0440x_default\" with SetupNetworkError: \"Failed to setup network for pod \\\"my-nginx-2560993602-0440x_default(ba5ce554-cbf1-11e6-8c42-00163e1001d7)\\\" using network plugins \\\"cni\\\": {cause}; Skipping pod\""
        )
    }

    /// Today's wording: containerd through the CRI, FailedCreatePodSandBox.
    fn containerd(cause: &str) -> String {
        format!(
            "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox \"0f6e3d5c3a3c2b1e9f0e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a\": {cause}"
        )
    }

    #[test]
    fn subnet_env_missing_both_wordings() {
        for text in [
            docker_era_failed_sync("open /run/flannel/subnet.env: no such file or directory"),
            containerd(
                "plugin type=\"flannel\" failed (add): loadFlannelSubnetEnv failed: open /run/flannel/subnet.env: no such file or directory",
            ),
            // dockershim (1.6 - 1.23), as the lab's flannel-broken scenario writes it.
            "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to set up sandbox container \"abc\" network for pod \"my-nginx-1\": networkPlugin cni failed to set up pod \"my-nginx-1_default\" network: open /run/flannel/subnet.env: no such file or directory".to_string(),
        ] {
            assert_eq!(classify(&text), Signature::SubnetEnvMissing, "{text}");
        }
        assert_eq!(
            Signature::SubnetEnvMissing.sandbox_finding(),
            Some("net.subnet-env-missing")
        );
    }

    #[test]
    fn ipam_exhausted_both_wordings() {
        assert_eq!(
            classify(&docker_era_failed_sync(
                "no IP addresses available in network: cbr0"
            )),
            Signature::IpamExhausted {
                pool: Some("cbr0".into())
            }
        );
        assert_eq!(
            classify(&containerd(
                "plugin type=\"flannel\" failed (add): failed to delegate add: failed to allocate for range 0: no IP addresses available in range set: 10.244.1.1-10.244.1.254"
            )),
            Signature::IpamExhausted {
                pool: Some("10.244.1.1-10.244.1.254".into())
            }
        );
        assert_eq!(
            classify("failed to allocate for range 0: no IP addresses available in range set"),
            Signature::IpamExhausted { pool: None }
        );
    }

    #[test]
    fn cni_config_missing_both_wordings() {
        for text in [
            // The Kubernetes 1.5 kubelet's log line, typo included.
            "Failed to setup network for pod \"kube-dns-2924299975-pddz5_kube-system(43fd7264-cb46-11e6-ad8f-00163e1001d7)\" using network plugins \"cni\": cni config unintialized; Skipping pod".to_string(),
            "network plugin is not ready: cni config uninitialized".to_string(),
            containerd("cni plugin not initialized"),
            "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized".to_string(),
            "no networks found in /etc/cni/net.d".to_string(),
        ] {
            assert_eq!(classify(&text), Signature::CniConfigMissing, "{text}");
        }
    }

    #[test]
    fn bridge_conflict_both_wordings() {
        let want = Signature::BridgeConflict {
            bridge: "cni0".into(),
            expected: "10.244.1.1/24".into(),
        };
        assert_eq!(
            classify(&docker_era_failed_sync(
                "\\\"cni0\\\" already has an IP address different from 10.244.1.1/24"
            )),
            want
        );
        assert_eq!(
            classify(&containerd(
                "plugin type=\"flannel\" failed (add): failed to delegate add: failed to set bridge addr: \"cni0\" already has an IP address different from 10.244.1.1/24"
            )),
            want
        );
        assert_eq!(
            want.describe(),
            "cni0 already has an address other than 10.244.1.1/24"
        );
    }

    #[test]
    fn flannel_crash_reasons_both_wordings() {
        let api = Signature::ApiUnreachable {
            address: "10.96.0.1:443".into(),
            error: "i/o timeout".into(),
        };
        // flannel 0.6 crash-looping because kube-proxy had no --cluster-cidr.
        assert_eq!(
            classify(
                "E1227 06:17:50.605110       1 main.go:127] Failed to create SubnetManager: error retrieving pod spec for 'kube-system/kube-flannel-ds-tr8zr': Get https://10.96.0.1:443/api/v1/namespaces/kube-system/pods/kube-flannel-ds-tr8zr: dial tcp 10.96.0.1:443: i/o timeout"
            ),
            api
        );
        // flannel 0.26.
        assert_eq!(
            classify(
                "E0101 12:00:00.000000       1 main.go:240] Failed to create SubnetManager: error retrieving pod spec for 'kube-flannel/kube-flannel-ds-abcde': Get \"https://10.96.0.1:443/api/v1/namespaces/kube-flannel/pods/kube-flannel-ds-abcde\": dial tcp 10.96.0.1:443: i/o timeout"
            ),
            api
        );
        assert_eq!(
            classify(
                "E1227 04:56:16.579079       1 network.go:106] failed to register network: failed to acquire lease: node \"iz25beglnhtz\" not found"
            ),
            Signature::NodeNotFound {
                node: Some("iz25beglnhtz".into())
            }
        );
        assert_eq!(
            classify(
                "E0101 12:00:00.000000       1 main.go:359] Error registering network: failed to acquire lease: node \"node2\" pod cidr not assigned"
            ),
            Signature::PodCidrNotAssigned {
                node: Some("node2".into())
            }
        );
        // calico's CNI plugin reaching the API through the Service IP.
        assert_eq!(
            classify(&containerd(
                "plugin type=\"calico\" failed (add): error getting ClusterInformation: Get \"https://10.96.0.1:443/apis/crd.projectcalico.org/v1/clusterinformations/default\": dial tcp 10.96.0.1:443: connect: connection refused"
            )),
            Signature::ApiUnreachable {
                address: "10.96.0.1:443".into(),
                error: "connect: connection refused".into()
            }
        );
        assert_eq!(api.sandbox_finding(), Some("net.api-unreachable"));
        assert_eq!(
            Signature::NodeNotFound { node: None }.sandbox_finding(),
            None
        );
    }

    #[test]
    fn near_misses_are_other_verbatim() {
        for text in [
            "open /run/flannel/subnet.env: permission denied",
            "failed to read /run/flannel/subnet.env",
            "no IP addresses available",
            "\"cni0\" already has an IP address",
            "cni config is fine",
            "dial tcp 10.96.0.1:443: connect: connection reset by peer",
            "failed to acquire lease: timed out",
            "stat /var/lib/calico/nodename: permission denied",
        ] {
            assert_eq!(classify(text), Signature::Other(text.to_string()), "{text}");
            assert_eq!(classify(text).sandbox_finding(), None);
        }
        assert_eq!(classify("  boom \n"), Signature::Other("boom".to_string()));
    }

    /// containerd with calico when calico-node never started on the node.
    #[test]
    fn calico_nodename_missing() {
        let text = "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox \"x\": plugin type=\"calico\" failed (add): stat /var/lib/calico/nodename: no such file or directory: check that the calico/node container is running and has mounted /var/lib/calico/";
        assert_eq!(classify(text), Signature::CalicoNodenameMissing);
        assert_eq!(
            classify(text).sandbox_finding(),
            Some("net.calico-nodename-missing")
        );
    }
}
