//! Probes of the machine the console runs on: which node this machine is, and its
//! pod-network state ([`probe`]), relative to a host root (`--host-root`).

pub mod certs;
pub mod links;
pub mod probe;
pub(crate) mod read;
pub mod release;
pub mod remote;
pub mod watch;

use std::collections::BTreeSet;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::Node;

/// Addresses of this machine's interfaces.
pub fn local_addresses() -> BTreeSet<IpAddr> {
    let mut out = BTreeSet::new();
    if let Ok(addrs) = nix::ifaddrs::getifaddrs() {
        for a in addrs {
            if let Some(sa) = a.address {
                if let Some(v4) = sa.as_sockaddr_in() {
                    out.insert(IpAddr::V4(v4.ip()));
                } else if let Some(v6) = sa.as_sockaddr_in6() {
                    out.insert(IpAddr::V6(v6.ip()));
                }
            }
        }
    }
    out
}

/// The node whose InternalIP is one of `addresses` (the console's `--node` default).
pub fn node_with_address<'a>(
    nodes: impl IntoIterator<Item = &'a Node>,
    addresses: &BTreeSet<IpAddr>,
) -> Option<String> {
    nodes.into_iter().find_map(|n| {
        let ips = n.status.as_ref()?.addresses.as_ref()?;
        ips.iter()
            .filter(|a| a.type_ == "InternalIP")
            .any(|a| {
                a.address
                    .parse::<IpAddr>()
                    .is_ok_and(|ip| addresses.contains(&ip))
            })
            .then(|| n.metadata.name.clone())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{NodeAddress, NodeStatus};

    fn node(name: &str, ip: &str) -> Node {
        let mut n = Node::default();
        n.metadata.name = Some(name.into());
        n.status = Some(NodeStatus {
            addresses: Some(vec![NodeAddress {
                type_: "InternalIP".into(),
                address: ip.into(),
            }]),
            ..Default::default()
        });
        n
    }

    #[test]
    fn finds_the_node_by_internal_ip() {
        let nodes = [node("master", "10.0.0.1"), node("node1", "10.0.0.2")];
        let local: BTreeSet<IpAddr> = ["127.0.0.1", "10.0.0.2"]
            .iter()
            .filter_map(|s| s.parse().ok())
            .collect();
        assert_eq!(node_with_address(&nodes, &local), Some("node1".into()));
        let other: BTreeSet<IpAddr> = ["192.0.2.9"]
            .iter()
            .filter_map(|s| s.parse().ok())
            .collect();
        assert_eq!(node_with_address(&nodes, &other), None);
    }

    #[test]
    fn loopback_is_a_local_address() {
        assert!(
            local_addresses().contains(
                &"127.0.0.1"
                    .parse::<IpAddr>()
                    .unwrap_or(IpAddr::from([0, 0, 0, 0]))
            )
        );
    }
}
