//! Which Kubernetes node holds a lock or a watch (pure).
//!
//! Ceph names a client by its messenger address `ip:port/nonce` (`198.18.1.11:0/3323368536`),
//! which carries the IP of the host the client runs on; the in-tree kubelet RBD plugin
//! also names the node in its lock cookie (`kubelet_lock_magic_<hostname>`). The pane
//! shows both: the address says where the client really runs (and is what fencing
//! blocklists), the cookie says which node's kubelet took the lock. They disagree
//! when a lock was taken by hand for another node, or a node was readdressed.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;

use crate::ceph::types::{LockerInfo, WatcherInfo};

/// The in-tree kubelet RBD plugin's lock cookie prefix.
pub(crate) const KUBELET_COOKIE_PREFIX: &str = "kubelet_lock_magic_";

/// A Ceph entity address: IP, port (0 for clients) and nonce (per client instance).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EntityAddr {
    pub ip: IpAddr,
    pub port: u16,
    pub nonce: u32,
}

impl EntityAddr {
    /// Parses `ip:port/nonce` with an optional `v1:`/`v2:`/`any:` prefix, IPv6 in
    /// brackets, and a missing port or nonce (0), as `ceph osd blocklist add` accepts.
    /// Ranges (`cidr:...`) and address vectors are not single addresses: `None`.
    pub fn parse(text: &str) -> Option<EntityAddr> {
        let text = text.trim();
        let text = ["v1:", "v2:", "any:"]
            .iter()
            .find_map(|p| text.strip_prefix(p))
            .unwrap_or(text);
        if text.is_empty() || text.starts_with("cidr:") || text.contains(',') {
            return None;
        }
        let (hostport, nonce) = match text.rsplit_once('/') {
            Some((hp, n)) => (hp, n.parse::<u32>().ok()?),
            None => (text, 0),
        };
        let (ip, port) = if let Some(rest) = hostport.strip_prefix('[') {
            let (ip, after) = rest.split_once(']')?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().ok()?,
                None if after.is_empty() => 0,
                None => return None,
            };
            (ip.parse::<IpAddr>().ok()?, port)
        } else if hostport.matches(':').count() == 1 {
            let (ip, port) = hostport.split_once(':')?;
            (ip.parse::<IpAddr>().ok()?, port.parse().ok()?)
        } else {
            // A bare IPv4, or a bare IPv6 without brackets.
            (hostport.parse::<IpAddr>().ok()?, 0)
        };
        Some(EntityAddr { ip, port, nonce })
    }

    /// Every address of an address or an address vector (`[v2:a/n,v1:b/n]`).
    pub(crate) fn parse_all(text: &str) -> Vec<EntityAddr> {
        let text = text.trim();
        let inner = text
            .strip_prefix('[')
            .and_then(|t| t.strip_suffix(']'))
            .unwrap_or(text);
        inner.split(',').filter_map(EntityAddr::parse).collect()
    }

    /// Whether blocklisting `self` would cut off `client`: the same IP, and the same
    /// nonce unless `self` names the whole host (nonce 0).
    pub(crate) fn covers(&self, client: &EntityAddr) -> bool {
        self.ip == client.ip && (self.nonce == 0 || self.nonce == client.nonce)
    }
}

impl fmt::Display for EntityAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ip {
            IpAddr::V4(ip) => write!(f, "{ip}:{}/{}", self.port, self.nonce),
            IpAddr::V6(ip) => write!(f, "[{ip}]:{}/{}", self.port, self.nonce),
        }
    }
}

/// The host a kubelet lock cookie names: `node1` for `kubelet_lock_magic_node1`.
pub(crate) fn kubelet_cookie_host(cookie: &str) -> Option<&str> {
    cookie
        .strip_prefix(KUBELET_COOKIE_PREFIX)
        .filter(|h| !h.is_empty())
}

/// Node names by IP, and by host name for cookies.
#[derive(Debug, Clone, Default)]
pub struct NodeIndex {
    by_ip: HashMap<IpAddr, String>,
    names: Vec<String>,
}

impl NodeIndex {
    /// From (node name, address) pairs: every InternalIP/ExternalIP of every node.
    /// When two nodes claim one IP, the first wins.
    pub fn new<N: AsRef<str>>(nodes: impl IntoIterator<Item = (N, IpAddr)>) -> NodeIndex {
        let mut index = NodeIndex::default();
        for (name, ip) in nodes {
            let name = name.as_ref().to_string();
            index.by_ip.entry(ip).or_insert_with(|| name.clone());
            if !index.names.contains(&name) {
                index.names.push(name);
            }
        }
        index
    }

    pub(crate) fn node_by_ip(&self, ip: IpAddr) -> Option<&str> {
        self.by_ip.get(&ip).map(String::as_str)
    }

    #[cfg(test)]
    /// The node whose IP a Ceph address carries.
    pub(crate) fn node_by_address(&self, address: &str) -> Option<&str> {
        EntityAddr::parse(address).and_then(|a| self.node_by_ip(a.ip))
    }

    /// The node a host name means: the exact name, else a node whose short name (up
    /// to the first dot) equals the host's short name (kubelets may use FQDNs or
    /// short names for the same node).
    pub(crate) fn node_by_host(&self, host: &str) -> Option<&str> {
        if let Some(n) = self.names.iter().find(|n| n.as_str() == host) {
            return Some(n);
        }
        let short = |s: &str| s.split('.').next().unwrap_or(s).to_ascii_lowercase();
        let want = short(host);
        self.names
            .iter()
            .find(|n| short(n) == want)
            .map(String::as_str)
    }
}

/// A node named by a lock cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieHolder {
    /// As written in the cookie.
    pub host: String,
    /// The node it resolves to, if any node matches.
    pub node: Option<String>,
}

/// Who holds a lock or a watch, by both clues.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Holder {
    /// From a `kubelet_lock_magic_<host>` cookie (locks only).
    pub by_cookie: Option<CookieHolder>,
    /// The node whose IP the address carries.
    pub by_address: Option<String>,
    /// The parsed address, when it parses.
    pub addr: Option<EntityAddr>,
}

impl Holder {
    /// The holding node: where the client runs (address), else whom the kubelet took
    /// the lock for (cookie).
    pub fn node(&self) -> Option<&str> {
        self.by_address
            .as_deref()
            .or_else(|| self.by_cookie.as_ref().and_then(|c| c.node.as_deref()))
    }

    /// Cookie and address name two different nodes.
    pub fn conflict(&self) -> bool {
        match (
            &self.by_address,
            self.by_cookie.as_ref().and_then(|c| c.node.as_ref()),
        ) {
            (Some(a), Some(c)) => a != c,
            _ => false,
        }
    }
}

/// The node(s) behind a lock.
pub fn lock_holder(lock: &LockerInfo, nodes: &NodeIndex) -> Holder {
    let addr = EntityAddr::parse(&lock.address);
    Holder {
        by_cookie: kubelet_cookie_host(&lock.cookie).map(|host| CookieHolder {
            host: host.to_string(),
            node: nodes.node_by_host(host).map(String::from),
        }),
        by_address: addr.and_then(|a| nodes.node_by_ip(a.ip)).map(String::from),
        addr,
    }
}

/// The node behind a watch.
pub fn watcher_holder(watcher: &WatcherInfo, nodes: &NodeIndex) -> Holder {
    let addr = EntityAddr::parse(&watcher.address);
    Holder {
        by_cookie: None,
        by_address: addr.and_then(|a| nodes.node_by_ip(a.ip)).map(String::from),
        addr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn addresses_parse_in_every_spelling() {
        let a = EntityAddr::parse("198.18.1.11:0/3323368536").unwrap();
        assert_eq!((a.ip, a.port, a.nonce), (ip("198.18.1.11"), 0, 3323368536));
        assert_eq!(a.to_string(), "198.18.1.11:0/3323368536");
        assert_eq!(EntityAddr::parse("v1:10.0.0.1:6789/0").unwrap().port, 6789);
        let v6 = EntityAddr::parse("[::1]:0/12").unwrap();
        assert_eq!((v6.ip, v6.nonce), (ip("::1"), 12));
        assert_eq!(v6.to_string(), "[::1]:0/12");
        assert_eq!(EntityAddr::parse("10.0.0.7").unwrap().nonce, 0);
        assert_eq!(EntityAddr::parse("fe80::1").unwrap().ip, ip("fe80::1"));
        for bad in [
            "",
            "garbage",
            "10.0.0.1:x/1",
            "10.0.0.1:0/x",
            "cidr:10.0.0.0:0/24",
        ] {
            assert_eq!(EntityAddr::parse(bad), None, "{bad}");
        }
        let all = EntityAddr::parse_all("[v2:10.0.0.1:0/77,v1:10.0.0.1:0/77]");
        assert_eq!(all.len(), 2);
        let host = EntityAddr::parse("10.0.0.1:0/0").unwrap();
        assert!(host.covers(&all[0]));
        assert!(EntityAddr::parse("10.0.0.1:0/77").unwrap().covers(&all[1]));
        assert!(!EntityAddr::parse("10.0.0.1:0/78").unwrap().covers(&all[1]));
        assert!(!EntityAddr::parse("10.0.0.2").unwrap().covers(&all[1]));
    }

    #[test]
    fn locks_and_watches_map_to_nodes() {
        let nodes = NodeIndex::new([
            ("node1.example.com", ip("198.18.1.11")),
            ("node2", ip("198.18.1.12")),
            ("node2", ip("203.0.113.2")),
        ]);
        assert_eq!(
            kubelet_cookie_host("kubelet_lock_magic_node1"),
            Some("node1")
        );
        assert_eq!(kubelet_cookie_host("kubelet_lock_magic_"), None);
        assert_eq!(kubelet_cookie_host("auto 1234"), None);

        let lock = LockerInfo {
            locker: "client.4140".into(),
            cookie: "kubelet_lock_magic_node1".into(),
            address: "198.18.1.11:0/3323368536".into(),
            tag: String::new(),
            exclusive: true,
        };
        let h = lock_holder(&lock, &nodes);
        assert_eq!(h.by_address.as_deref(), Some("node1.example.com"));
        assert_eq!(
            h.by_cookie,
            Some(CookieHolder {
                host: "node1".into(),
                node: Some("node1.example.com".into())
            })
        );
        assert_eq!(h.node(), Some("node1.example.com"));
        assert!(!h.conflict());

        // Taken for node1 by a client on node2: both are shown, and flagged.
        let moved = LockerInfo {
            address: "203.0.113.2:0/9".into(),
            ..lock.clone()
        };
        let h = lock_holder(&moved, &nodes);
        assert_eq!(h.node(), Some("node2"));
        assert!(h.conflict());

        // An unknown address falls back to the cookie; an unknown host stays raw.
        let elsewhere = LockerInfo {
            address: "127.0.0.1:0/5".into(),
            cookie: "kubelet_lock_magic_gone".into(),
            ..lock.clone()
        };
        let h = lock_holder(&elsewhere, &nodes);
        assert_eq!(h.node(), None);
        assert_eq!(h.by_cookie.as_ref().map(|c| c.host.as_str()), Some("gone"));
        let h = lock_holder(
            &LockerInfo {
                address: "127.0.0.1:0/5".into(),
                ..lock.clone()
            },
            &nodes,
        );
        assert_eq!(h.node(), Some("node1.example.com"));

        let w = WatcherInfo {
            address: "198.18.1.12:0/2937587615".into(),
            client_id: 4156,
            cookie: 1,
        };
        let h = watcher_holder(&w, &nodes);
        assert_eq!(h.node(), Some("node2"));
        assert_eq!(w.entity(), "client.4156");
        assert_eq!(nodes.node_by_address("garbage"), None);
    }
}
