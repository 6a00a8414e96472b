//! The kubeadm config the form becomes: `kubeadm.k8s.io/v1beta4` InitConfiguration
//! (the advertise address, the CRI socket) and ClusterConfiguration (version, image
//! repository, endpoint, pod and service subnets — kubeadm hands the pod subnet to
//! kube-proxy as its clusterCIDR and to the controller manager), shown in full on the
//! review page before it is written.

use super::form::InitSettings;

/// The config file's text.
pub fn render(s: &InitSettings) -> String {
    let endpoint = s
        .control_plane_endpoint
        .as_deref()
        .map(|e| format!("controlPlaneEndpoint: \"{e}\"\n"))
        .unwrap_or_default();
    format!(
        "apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: \"{addr}\"
  bindPort: 6443
nodeRegistration:
  criSocket: \"{cri}\"
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: \"{version}\"
imageRepository: \"{repo}\"
{endpoint}networking:
  podSubnet: \"{pod}\"
  serviceSubnet: \"{svc}\"
  dnsDomain: \"cluster.local\"
",
        addr = s.advertise_address,
        cri = s.cri_socket,
        version = s.kubernetes_version,
        repo = s.image_repository,
        pod = s.pod_subnet,
        svc = s.service_subnet,
    )
}

#[cfg(test)]
mod tests {
    use super::super::form::Addon;
    use super::*;

    #[test]
    fn renders_both_documents_and_parses_back() {
        let s = InitSettings {
            advertise_address: "10.0.0.5".parse().unwrap(),
            interface: "eth1".into(),
            control_plane_endpoint: Some("k8s.lab:6443".into()),
            kubernetes_version: "v1.32.0".into(),
            image_repository: "registry.aliyuncs.com/google_containers".into(),
            cri_socket: "unix:///var/run/containerd/containerd.sock".into(),
            addon: Addon::Flannel,
            pod_subnet: "10.244.0.0/16".parse().unwrap(),
            service_subnet: "10.96.0.0/12".parse().unwrap(),
        };
        let text = render(&s);
        let docs: Vec<serde_yaml_ng::Value> = serde_yaml_ng::Deserializer::from_str(&text)
            .map(|d| serde::Deserialize::deserialize(d).unwrap())
            .collect();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0]["kind"].as_str(), Some("InitConfiguration"));
        assert_eq!(
            docs[0]["localAPIEndpoint"]["advertiseAddress"].as_str(),
            Some("10.0.0.5")
        );
        assert_eq!(
            docs[1]["apiVersion"].as_str(),
            Some("kubeadm.k8s.io/v1beta4")
        );
        assert_eq!(
            docs[1]["networking"]["podSubnet"].as_str(),
            Some("10.244.0.0/16")
        );
        assert_eq!(
            docs[1]["controlPlaneEndpoint"].as_str(),
            Some("k8s.lab:6443")
        );
        assert_eq!(
            docs[1]["imageRepository"].as_str(),
            Some("registry.aliyuncs.com/google_containers")
        );
    }
}
