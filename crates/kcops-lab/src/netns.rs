//! Per-node network namespaces, so each lab node's Ceph clients (lockers, watchers)
//! appear in Ceph with that node's own IP, as they do in a real cluster.
//!
//! librados cannot be told which source address to use, and every loopback client shows
//! as 127.0.0.1. So each node gets a namespace joined by a veth pair to a lab bridge; the
//! Ceph daemons listen on the bridge's address. Addresses come from the benchmarking
//! block 198.18.0.0/15: the bridge is `198.18.<id>.1/24`, node `i` is
//! `198.18.<id>.<10+i>`. Every name is derived from the lab id, so a crashed lab's
//! leftovers can be found and removed ([`teardown_lab_id`]).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::scenario::Ipv4Cidr;

/// Highest node index: `10 + index` must stay a host address in the /24.
const MAX_NODE_INDEX: u8 = 244;

/// Whether per-node namespaces can be used: they need root and iproute2's `ip`.
pub fn netns_available() -> bool {
    if !nix::unistd::geteuid().is_root() {
        return false;
    }
    Command::new("ip")
        .arg("-V")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn bridge_name(lab_id: u8) -> String {
    format!("kcb{lab_id}")
}

fn netns_name(lab_id: u8, index: u8) -> String {
    format!("kcops{lab_id}-{index}")
}

/// Host side of a node's veth pair (interface names are limited to 15 bytes).
fn veth_host_name(lab_id: u8, index: u8) -> String {
    format!("kcv{lab_id}n{index}")
}

/// Namespace side before it is renamed `eth0` inside the namespace.
fn veth_peer_name(lab_id: u8, index: u8) -> String {
    format!("kcp{lab_id}n{index}")
}

/// A node's namespace and address.
#[derive(Debug, Clone)]
struct NodeNet {
    index: u8,
    netns: String,
    ip: Ipv4Addr,
}

/// The lab's bridge and the namespaces of its nodes.
#[derive(Debug)]
pub struct LabNet {
    lab_id: u8,
    nodes: BTreeMap<String, NodeNet>,
}

impl LabNet {
    /// Creates bridge `kcb<id>` with `198.18.<id>.1/24`, first removing anything a
    /// crashed lab with the same id left behind.
    pub fn create(lab_id: u8) -> Result<LabNet> {
        teardown_lab_id(lab_id);
        let bridge = bridge_name(lab_id);
        let host = format!("{}/24", host_ip_of(lab_id));
        ip(&["link", "add", &bridge, "type", "bridge"])?;
        let net = LabNet {
            lab_id,
            nodes: BTreeMap::new(),
        };
        let configured = ip(&["addr", "add", &host, "dev", &bridge])
            .and_then(|()| ip(&["link", "set", &bridge, "up"]));
        if let Err(err) = configured {
            net.teardown();
            return Err(err.context(format!("cannot configure bridge {bridge}")));
        }
        tracing::debug!(bridge, host, "lab bridge created");
        Ok(net)
    }

    pub fn lab_id(&self) -> u8 {
        self.lab_id
    }

    /// The bridge's address: Ceph daemons bind here so node namespaces can reach them.
    pub fn host_ip(&self) -> Ipv4Addr {
        host_ip_of(self.lab_id)
    }

    /// Gives `node` its own namespace `kcops<id>-<index>` with `eth0` at
    /// `198.18.<id>.<10+index>/24` and a default route via the bridge; returns that IP.
    /// An existing namespace for this index is deleted and recreated.
    pub fn add_node(&mut self, node: &str, index: u8) -> Result<Ipv4Addr> {
        if index > MAX_NODE_INDEX {
            bail!("node index {index} for {node} is too large (at most {MAX_NODE_INDEX})");
        }
        if let Some((other, _)) = self
            .nodes
            .iter()
            .find(|(name, n)| n.index == index && name.as_str() != node)
        {
            bail!("node index {index} for {node} is already used by {other}");
        }
        if let Some(old) = self.nodes.remove(node) {
            remove_node(self.lab_id, old.index);
        }
        remove_node(self.lab_id, index);

        let netns = netns_name(self.lab_id, index);
        let ip_addr = Ipv4Addr::new(198, 18, self.lab_id, 10 + index);
        let setup = self.setup_node(&netns, index, ip_addr);
        if let Err(err) = setup {
            remove_node(self.lab_id, index);
            return Err(err.context(format!("cannot create network namespace for {node}")));
        }
        tracing::debug!(node, netns, %ip_addr, "lab node namespace created");
        self.nodes.insert(
            node.to_string(),
            NodeNet {
                index,
                netns,
                ip: ip_addr,
            },
        );
        Ok(ip_addr)
    }

    fn setup_node(&self, netns: &str, index: u8, ip_addr: Ipv4Addr) -> Result<()> {
        let host_veth = veth_host_name(self.lab_id, index);
        let peer = veth_peer_name(self.lab_id, index);
        let bridge = bridge_name(self.lab_id);
        let cidr = format!("{ip_addr}/24");
        let gateway = self.host_ip().to_string();
        ip(&["netns", "add", netns])?;
        ip(&[
            "link", "add", &host_veth, "type", "veth", "peer", "name", &peer, "netns", netns,
        ])?;
        ip(&["link", "set", &host_veth, "master", &bridge, "up"])?;
        ip(&["-n", netns, "link", "set", &peer, "name", "eth0"])?;
        ip(&["-n", netns, "addr", "add", &cidr, "dev", "eth0"])?;
        ip(&["-n", netns, "link", "set", "eth0", "up"])?;
        ip(&["-n", netns, "link", "set", "lo", "up"])?;
        ip(&["-n", netns, "route", "add", "default", "via", &gateway])?;
        Ok(())
    }

    /// Turns the node namespaces into routers of the pod network: each routes every
    /// other node's podCIDR via that node's address on the lab bridge.
    pub fn route_pod_cidrs(&self, cidrs: &[(String, Ipv4Cidr)]) -> Result<()> {
        for (node, n) in &self.nodes {
            enable_forwarding(&n.netns)?;
            for (other, cidr) in cidrs {
                if other == node {
                    continue;
                }
                let Some(via) = self.node_ip(other) else {
                    continue;
                };
                ip(&[
                    "-n",
                    &n.netns,
                    "route",
                    "replace",
                    &format!("{}/{}", cidr.network(), cidr.prefix),
                    "via",
                    &via.to_string(),
                ])?;
            }
        }
        Ok(())
    }

    /// Creates the network namespace of a pod sandbox on `node`: `eth0` at `ip` in
    /// `gateway`'s subnet, a veth into the node's `cni0` bridge (created with the
    /// gateway address on first use, as the bridge plugin does) and the default route
    /// via the gateway. Returns the namespace's name.
    pub fn add_pod(
        &self,
        node: &str,
        sandbox_id: &str,
        ip_addr: Ipv4Addr,
        gateway: Ipv4Cidr,
    ) -> Result<String> {
        let n = self
            .nodes
            .get(node)
            .with_context(|| format!("node {node} has no network namespace"))?;
        let short = &sandbox_id[..sandbox_id.len().min(12)];
        let netns = format!("{}-{short}", n.netns);
        let veth = format!("veth{}", &short[..short.len().min(8)]);
        let _ = ip_quiet(&["-n", &n.netns, "link", "del", &veth]);
        let _ = ip_quiet(&["netns", "del", &netns]);
        let set_up = || -> Result<()> {
            ensure_cni_bridge(&n.netns, gateway)?;
            ip(&["netns", "add", &netns])?;
            ip(&[
                "-n", &n.netns, "link", "add", &veth, "type", "veth", "peer", "name", "eth0",
                "netns", &netns,
            ])?;
            ip(&["-n", &n.netns, "link", "set", &veth, "master", "cni0", "up"])?;
            let cidr = format!("{ip_addr}/{}", gateway.prefix);
            ip(&["-n", &netns, "addr", "add", &cidr, "dev", "eth0"])?;
            ip(&["-n", &netns, "link", "set", "eth0", "up"])?;
            ip(&["-n", &netns, "link", "set", "lo", "up"])?;
            ip(&[
                "-n",
                &netns,
                "route",
                "add",
                "default",
                "via",
                &gateway.addr.to_string(),
            ])
        };
        if let Err(err) = set_up() {
            remove_pod_netns(&n.netns, &netns);
            return Err(err.context(format!(
                "cannot create the network namespace of {sandbox_id}"
            )));
        }
        Ok(netns)
    }

    /// Removes a pod sandbox's namespace and its veth (best effort).
    pub fn remove_pod(&self, node: &str, netns: &str) {
        if let Some(n) = self.nodes.get(node) {
            remove_pod_netns(&n.netns, netns);
        }
    }

    /// The node's IP, if it has a namespace.
    pub fn node_ip(&self, node: &str) -> Option<Ipv4Addr> {
        self.nodes.get(node).map(|n| n.ip)
    }

    /// The node's namespace name, if it has one.
    pub fn netns_of(&self, node: &str) -> Option<&str> {
        self.nodes.get(node).map(|n| n.netns.as_str())
    }

    /// A command that runs `program` inside the node's namespace (`ip netns exec`), or
    /// plainly when the node has none. `ip netns exec` execs in place, so the child's
    /// pid is the program's own.
    pub fn command(&self, node: &str, program: &str) -> Command {
        match self.nodes.get(node) {
            Some(n) => {
                let mut cmd = Command::new("ip");
                cmd.args(["netns", "exec", &n.netns, program]);
                cmd
            }
            None => Command::new(program),
        }
    }

    /// Removes the namespaces, veths and bridge; errors are ignored (best effort).
    pub fn teardown(&self) {
        for n in self.nodes.values() {
            remove_node(self.lab_id, n.index);
        }
        teardown_lab_id(self.lab_id);
    }
}

/// `ip_forward` on in a namespace (each network namespace has its own).
fn enable_forwarding(netns: &str) -> Result<()> {
    let status = Command::new("ip")
        .args([
            "netns",
            "exec",
            netns,
            "sysctl",
            "-q",
            "-w",
            "net.ipv4.ip_forward=1",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .context("cannot run sysctl in a node namespace")?;
    if !status.success() {
        bail!("cannot enable ip_forward in {netns}");
    }
    Ok(())
}

/// The bridge plugin's `cni0` in a node namespace, with the gateway address.
fn ensure_cni_bridge(node_netns: &str, gateway: Ipv4Cidr) -> Result<()> {
    if ip_quiet(&["-n", node_netns, "link", "show", "cni0"]).is_err() {
        ip(&["-n", node_netns, "link", "add", "cni0", "type", "bridge"])?;
    }
    let have = ip_output(&["-n", node_netns, "-o", "-4", "addr", "show", "dev", "cni0"])?;
    let want = format!("{}/{}", gateway.addr, gateway.prefix);
    if !have.split_whitespace().any(|w| w == want) {
        ip(&["-n", node_netns, "addr", "add", &want, "dev", "cni0"])?;
    }
    ip(&["-n", node_netns, "link", "set", "cni0", "up"])
}

/// Deletes a pod namespace; the veth pair goes with it (its node end too).
fn remove_pod_netns(node_netns: &str, netns: &str) {
    let _ = ip_quiet(&["netns", "del", netns]);
    let _ = node_netns;
}

fn host_ip_of(lab_id: u8) -> Ipv4Addr {
    Ipv4Addr::new(198, 18, lab_id, 1)
}

/// Removes one node's namespace and host veth, ignoring errors. Deleting the host end
/// also removes the peer even while a process still holds the namespace open.
fn remove_node(lab_id: u8, index: u8) {
    let _ = ip_quiet(&["link", "del", &veth_host_name(lab_id, index)]);
    let _ = ip_quiet(&["netns", "del", &netns_name(lab_id, index)]);
}

/// Removes every namespace, veth and the bridge a lab with this id may have left
/// (names are derived from the id), ignoring errors.
pub fn teardown_lab_id(lab_id: u8) {
    let ns_prefix = format!("kcops{lab_id}-");
    if let Ok(list) = ip_output(&["netns", "list"]) {
        for name in list.lines().filter_map(|l| l.split_whitespace().next()) {
            if suffix_is_index(name, &ns_prefix) || is_pod_netns(name, &ns_prefix) {
                let _ = ip_quiet(&["netns", "del", name]);
            }
        }
    }
    let veth_prefix = format!("kcv{lab_id}n");
    if let Ok(links) = ip_output(&["-o", "link", "show"]) {
        for name in links.lines().filter_map(link_name) {
            if suffix_is_index(name, &veth_prefix) {
                let _ = ip_quiet(&["link", "del", name]);
            }
        }
    }
    let _ = ip_quiet(&["link", "del", &bridge_name(lab_id)]);
}

/// Whether `name` is `prefix` followed by a node index (so `kcv25n` never matches
/// `kcv250n0`).
fn suffix_is_index(name: &str, prefix: &str) -> bool {
    name.strip_prefix(prefix)
        .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()))
}

/// Whether `name` is a pod sandbox namespace of this lab: `<prefix><index>-<hex>`.
fn is_pod_netns(name: &str, prefix: &str) -> bool {
    name.strip_prefix(prefix)
        .and_then(|rest| rest.split_once('-'))
        .is_some_and(|(index, sandbox)| {
            !index.is_empty()
                && index.bytes().all(|b| b.is_ascii_digit())
                && !sandbox.is_empty()
                && sandbox.bytes().all(|b| b.is_ascii_hexdigit())
        })
}

/// The interface name in a line of `ip -o link show` (`7: kcv1n0@if2: <...`).
fn link_name(line: &str) -> Option<&str> {
    let name = line.split(": ").nth(1)?;
    Some(name.split('@').next().unwrap_or(name))
}

/// Runs `ip <args>`; the error carries ip's stderr.
fn ip(args: &[&str]) -> Result<()> {
    ip_output(args).map(|_| ())
}

fn ip_quiet(args: &[&str]) -> Result<()> {
    let status = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .context("cannot run ip")?;
    if !status.success() {
        bail!("ip {} failed", args.join(" "));
    }
    Ok(())
}

fn ip_output(args: &[&str]) -> Result<String> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("cannot run ip (is iproute2 installed?)")?;
    if !out.status.success() {
        bail!(
            "ip {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn link_exists(name: &str) -> bool {
        ip_quiet(&["link", "show", name]).is_ok()
    }

    fn netns_exists(name: &str) -> bool {
        ip_output(&["netns", "list"]).is_ok_and(|l| {
            l.lines()
                .any(|line| line.split_whitespace().next() == Some(name))
        })
    }

    #[test]
    fn names_are_matched_exactly() {
        assert!(suffix_is_index("kcv25n0", "kcv25n"));
        assert!(!suffix_is_index("kcv250n0", "kcv25n"));
        assert!(!suffix_is_index("kcv25n", "kcv25n"));
        assert!(suffix_is_index("kcops7-12", "kcops7-"));
        assert!(!suffix_is_index("kcops71-2", "kcops7-"));
        assert!(is_pod_netns("kcops7-1-0a1b2c3d4e5f", "kcops7-"));
        assert!(!is_pod_netns("kcops71-1-0a1b", "kcops7-"));
        assert!(!is_pod_netns("kcops7-1", "kcops7-"));
        assert_eq!(
            link_name("7: kcv1n0@if2: <BROADCAST,MULTICAST> mtu 1500"),
            Some("kcv1n0")
        );
        assert_eq!(link_name("3: kcb1: <BROADCAST> mtu 1500"), Some("kcb1"));
        let longest = [
            bridge_name(255),
            veth_host_name(255, MAX_NODE_INDEX),
            veth_peer_name(255, MAX_NODE_INDEX),
        ];
        assert!(longest.iter().all(|n| n.len() <= 15), "{longest:?}");
    }

    /// A node namespace reaches a listener on the host address, the connection comes
    /// from the node's IP, and teardown removes everything.
    #[test]
    fn node_namespace_reaches_host() -> Result<()> {
        assert!(netns_available(), "needs root and iproute2");
        let lab_id = 251;
        let mut net = LabNet::create(lab_id)?;
        let result = (|| -> Result<()> {
            let node_ip = net.add_node("node1", 1)?;
            assert_eq!(node_ip, Ipv4Addr::new(198, 18, lab_id, 11));
            // Idempotent: adding the same node again recreates it.
            assert_eq!(net.add_node("node1", 1)?, node_ip);
            assert!(net.add_node("node2", 1).is_err(), "index reuse must fail");

            let listener = TcpListener::bind((net.host_ip(), 0))?;
            let port = listener.local_addr()?.port();
            let script = format!("exec 3<>/dev/tcp/{}/{port}", net.host_ip());
            let status = net
                .command("node1", "bash")
                .args(["-c", &script])
                .status()
                .context("cannot run bash in the namespace")?;
            assert!(status.success(), "connect from namespace failed: {status}");
            let (_conn, peer) = listener.accept()?;
            assert_eq!(peer.ip(), std::net::IpAddr::V4(node_ip));

            let plain = net.command("not-a-node", "true").get_program().to_owned();
            assert_eq!(plain, "true");
            Ok(())
        })();
        net.teardown();
        result?;
        assert!(!link_exists(&bridge_name(lab_id)));
        assert!(!link_exists(&veth_host_name(lab_id, 1)));
        assert!(!netns_exists(&netns_name(lab_id, 1)));
        Ok(())
    }

    /// Leftovers of a crashed lab (no LabNet value) are found by name and removed.
    #[test]
    fn teardown_by_id_removes_leftovers() -> Result<()> {
        assert!(netns_available(), "needs root and iproute2");
        let lab_id = 249;
        let mut net = LabNet::create(lab_id)?;
        net.add_node("a", 0)?;
        net.add_node("b", 3)?;
        let gateway: Ipv4Cidr = "10.244.3.1/24".parse().map_err(anyhow::Error::msg)?;
        let pod = net.add_pod(
            "b",
            "0a1b2c3d4e5f6a7b",
            Ipv4Addr::new(10, 244, 3, 2),
            gateway,
        )?;
        drop(net);
        assert!(netns_exists(&netns_name(lab_id, 3)));
        assert!(netns_exists(&pod));
        teardown_lab_id(lab_id);
        assert!(!link_exists(&bridge_name(lab_id)));
        assert!(!link_exists(&veth_host_name(lab_id, 0)));
        assert!(!netns_exists(&netns_name(lab_id, 0)));
        assert!(!netns_exists(&netns_name(lab_id, 3)));
        assert!(!netns_exists(&pod));
        Ok(())
    }

    /// Pods on two nodes reach each other over the nodes' routes (host-gw style), and
    /// the host's routing table never learns the pod network.
    #[test]
    fn pods_on_two_nodes_reach_each_other() -> Result<()> {
        assert!(netns_available(), "needs root and iproute2");
        let lab_id = 247;
        let mut net = LabNet::create(lab_id)?;
        let result = (|| -> Result<()> {
            net.add_node("a", 0)?;
            net.add_node("b", 1)?;
            let cidr = |s: &str| s.parse::<Ipv4Cidr>().map_err(anyhow::Error::msg);
            net.route_pod_cidrs(&[
                ("a".into(), cidr("10.244.0.0/24")?),
                ("b".into(), cidr("10.244.1.0/24")?),
            ])?;
            let pa = net.add_pod(
                "a",
                "aaaa0000",
                Ipv4Addr::new(10, 244, 0, 2),
                cidr("10.244.0.1/24")?,
            )?;
            net.add_pod(
                "b",
                "bbbb0000",
                Ipv4Addr::new(10, 244, 1, 2),
                cidr("10.244.1.1/24")?,
            )?;
            let ping = Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &pa,
                    "ping",
                    "-c",
                    "1",
                    "-W",
                    "2",
                    "10.244.1.2",
                ])
                .output()?;
            assert!(
                ping.status.success(),
                "{}",
                String::from_utf8_lossy(&ping.stdout)
            );
            let host_routes = ip_output(&["route", "show"])?;
            assert!(!host_routes.contains("10.244."), "{host_routes}");
            Ok(())
        })();
        net.teardown();
        result
    }
}
