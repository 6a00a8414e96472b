//! What flannel's CNI plugin and host-local IPAM do on a node when the kubelet sets up
//! or tears down a pod's sandbox, played against the node's host root: the plugin reads
//! `/run/flannel/subnet.env` (written by the network agent, see [`super::flannel`]),
//! checks the `cni0` bridge, and host-local reserves an address in
//! `/var/lib/cni/networks/cbr0` under the directory's `lock` (the flock the console's
//! `:release-ips` takes too). Teardown releases the reservation; a sandbox that is
//! never torn down (node down, pod force-deleted) leaves it behind, which is how
//! reservations leak on real nodes.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use crate::scenario::{Ipv4Cidr, LINK_ADDRESSES_FILE, SANDBOXES_FILE};

/// The CNI network flannel's conflist names (`"name": "cbr0"`).
pub(crate) const NETWORK: &str = "cbr0";

/// Where flanneld writes, and the plugin reads, the node's lease.
pub(crate) const SUBNET_ENV: &str = "run/flannel/subnet.env";

/// The plugin's failure, in the words the CNI plugin version the lab plays uses; the
/// kubelet wraps it into its FailedCreatePodSandBox event.
pub(crate) type PluginError = String;

fn ipam_dir(root: &Path) -> PathBuf {
    root.join("var/lib/cni/networks").join(NETWORK)
}

/// `FLANNEL_SUBNET` of the node's subnet.env (`10.244.1.1/24`).
fn flannel_subnet(root: &Path, wording: Wording) -> Result<Ipv4Cidr, PluginError> {
    let missing = "open /run/flannel/subnet.env: no such file or directory";
    let text = std::fs::read_to_string(root.join(SUBNET_ENV)).map_err(|_| match wording {
        Wording::Network => missing.to_string(),
        // flannel's CNI plugin of the same era names the step that failed.
        Wording::RangeSet => format!("loadFlannelSubnetEnv failed: {missing}"),
    })?;
    text.lines()
        .find_map(|l| l.strip_prefix("FLANNEL_SUBNET="))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| "/run/flannel/subnet.env is missing FLANNEL_SUBNET".to_string())
}

/// The bridge plugin: `cni0` is created with the gateway address, or must already have
/// it.
fn ensure_bridge(root: &Path, gateway: Ipv4Cidr) -> Result<(), PluginError> {
    let dir = root.join("sys/class/net/cni0");
    let file = dir.join(LINK_ADDRESSES_FILE);
    match std::fs::read_to_string(&file) {
        Ok(text) => {
            let has = text
                .lines()
                .filter_map(|l| l.trim().parse::<Ipv4Cidr>().ok());
            let addrs: Vec<Ipv4Cidr> = has.collect();
            if addrs.is_empty() || addrs.contains(&gateway) {
                return Ok(());
            }
            Err(format!(
                "failed to set bridge addr: \"cni0\" already has an IP address different from {gateway}"
            ))
        }
        Err(_) => {
            let write = |name: &str, content: &str| {
                std::fs::create_dir_all(&dir)
                    .and_then(|()| std::fs::write(dir.join(name), content))
                    .map_err(|e| format!("failed to create bridge \"cni0\": {e}"))
            };
            write(LINK_ADDRESSES_FILE, &format!("{gateway}\n"))?;
            write("operstate", "up\n")
        }
    }
}

/// The directory's lock, as host-local takes it (blocking: holders keep it briefly).
fn lock(dir: &Path) -> Result<Flock<std::fs::File>, PluginError> {
    std::fs::create_dir_all(dir).map_err(|e| format!("failed to create {}: {e}", dir.display()))?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("lock"))
        .map_err(|e| format!("failed to open the IPAM lock: {e}"))?;
    Flock::lock(file, FlockArg::LockExclusive)
        .map_err(|(_, e)| format!("failed to lock the IPAM directory: {e}"))
}

/// Sets up the network of sandbox `container_id`: the address host-local reserved for
/// it in the node's podCIDR.
#[cfg(test)]
pub(crate) fn add(root: &Path, container_id: &str) -> Result<Ipv4Addr, PluginError> {
    add_in_subnet(root, container_id, Wording::Network).map(|(ip, _)| ip)
}

/// How the plugins word their failures: host-local's "full" changed with the range
/// sets of the containernetworking plugins v0.7.0, and the flannel plugin shipped with
/// current releases names its failing step (`loadFlannelSubnetEnv failed: ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wording {
    /// Before v0.7.0: `no IP addresses available in network: cbr0`.
    Network,
    /// Since: `failed to allocate for range 0: no IP addresses available in range set:
    /// 10.244.1.1-10.244.1.254`.
    RangeSet,
}

impl Wording {
    /// The wording of plugins `version` (`v0.6.0`, `0.8.7`, `v1.4.0`); unknown or
    /// absent: a current release's.
    pub(crate) fn of(version: Option<&str>) -> Wording {
        let parsed = version.and_then(|v| {
            let mut parts = v.trim().trim_start_matches('v').split('.');
            let major: u32 = parts.next()?.parse().ok()?;
            let minor: u32 = parts.next()?.parse().ok()?;
            Some((major, minor))
        });
        match parsed {
            Some((0, minor)) if minor < 7 => Wording::Network,
            _ => Wording::RangeSet,
        }
    }
}

/// [`add`], also returning `FLANNEL_SUBNET` (the gateway and prefix the sandbox's
/// interface and route use).
pub(crate) fn add_in_subnet(
    root: &Path,
    container_id: &str,
    wording: Wording,
) -> Result<(Ipv4Addr, Ipv4Cidr), PluginError> {
    let subnet = flannel_subnet(root, wording)?;
    ensure_bridge(root, subnet)?;
    let dir = ipam_dir(root);
    let _lock = lock(&dir)?;
    // Range: the subnet's hosts without the gateway, as host-local builds it from
    // the subnet flannel passes; the search starts after the last reserved address.
    let first = u32::from(subnet.network()).saturating_add(1);
    let last = u32::from(subnet.broadcast()).saturating_sub(1);
    let gateway = u32::from(subnet.addr);
    let last_file = dir.join("last_reserved_ip.0");
    let start = std::fs::read_to_string(&last_file)
        .ok()
        .and_then(|t| t.trim().parse::<Ipv4Addr>().ok())
        .map(u32::from)
        .filter(|ip| (first..=last).contains(ip))
        .map_or(first, |ip| if ip >= last { first } else { ip + 1 });
    let span = last.saturating_sub(first) + 1;
    for i in 0..span {
        let candidate = first + (start - first + i) % span;
        if candidate == gateway {
            continue;
        }
        let ip = Ipv4Addr::from(candidate);
        let path = dir.join(ip.to_string());
        let created = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path);
        let Ok(mut file) = created else { continue };
        use std::io::Write as _;
        file.write_all(format!("{container_id}\r\neth0").as_bytes())
            .map_err(|e| format!("failed to write {}: {e}", path.display()))?;
        std::fs::write(&last_file, ip.to_string())
            .map_err(|e| format!("failed to write {}: {e}", last_file.display()))?;
        return Ok((ip, subnet));
    }
    Err(match wording {
        Wording::Network => format!("no IP addresses available in network: {NETWORK}"),
        Wording::RangeSet => {
            // The range as host-local prints it: the subnet's first to last host
            // (the gateway is skipped when allocating, not cut from the range).
            format!(
                "failed to allocate for range 0: no IP addresses available in range set: {}-{}",
                Ipv4Addr::from(first),
                Ipv4Addr::from(last)
            )
        }
    })
}

/// Tears down sandbox `container_id`'s network: its reservations go.
pub(crate) fn del(root: &Path, container_id: &str) {
    let dir = ipam_dir(root);
    let Ok(_lock) = lock(&dir) else { return };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        let is_ip = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.parse::<Ipv4Addr>().is_ok());
        let holder = std::fs::read_to_string(&path).unwrap_or_default();
        if is_ip && holder.lines().next().map(str::trim) == Some(container_id) {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// Adds or removes a live sandbox in the node's sandbox list (the lab's stand-in for
/// `crictl pods -q`), keeping every other line as it is.
pub(crate) fn set_sandbox_live(root: &Path, container_id: &str, live: bool) {
    // Pod workers set sandboxes up concurrently: without this, two read-modify-writes
    // race and one live sandbox drops out of the list (its address then reads as
    // leaked). Readers (kcops' host probe) see the old or the new file, never half.
    static LIST: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = LIST.lock().unwrap_or_else(|p| p.into_inner());
    let path = root.join(SANDBOXES_FILE);
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let mut lines: Vec<&str> = text.lines().filter(|l| l.trim() != container_id).collect();
    if live {
        lines.push(container_id);
    }
    let mut out = lines.join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    let tmp = path.with_extension("tmp");
    if let Err(e) = std::fs::write(&tmp, out).and_then(|()| std::fs::rename(&tmp, &path)) {
        tracing::warn!("cannot update {}: {e}", path.display());
    }
}

/// Where calico-node writes, and calico's CNI plugin reads, the node's name.
pub(crate) const CALICO_NODENAME: &str = "var/lib/calico/nodename";

/// calico's CNI plugin: the node's name from `/var/lib/calico/nodename`, then an
/// address from calico-ipam — the node's affine block first, else borrowed from
/// another block (as calico does without strictAffinity). A block's first address is
/// its node's tunnel address, never a pod's.
pub(crate) fn add_calico(
    ctx: &super::Ctx,
    node: &str,
    container_id: &str,
) -> Result<Ipv4Addr, PluginError> {
    let root = ctx.paths.host_root(node);
    if !root.join(CALICO_NODENAME).exists() {
        return Err("plugin type=\"calico\" failed (add): stat /var/lib/calico/nodename: no such file or directory: check that the calico/node container is running and has mounted /var/lib/calico/".to_string());
    }
    let blocks: Vec<(bool, Ipv4Cidr)> = ctx
        .store
        .registry
        .find("crd.projectcalico.org", "v1", "ipamblocks")
        .map(|rt| ctx.store.list(&rt, None))
        .unwrap_or_default()
        .iter()
        .filter_map(|e| {
            let v = e.value();
            let cidr = v["spec"]["cidr"].as_str()?.parse().ok()?;
            let own = v["spec"]["affinity"].as_str() == Some(&format!("host:{node}"));
            Some((!own, cidr))
        })
        .collect();
    let mut blocks = blocks;
    blocks.sort_by_key(|(borrowed, cidr)| (*borrowed, u32::from(cidr.network())));
    let mut ips = ctx.calico_ips.lock().unwrap_or_else(|p| p.into_inner());
    for (_, block) in blocks {
        let first = u32::from(block.network()).saturating_add(1);
        let last = u32::from(block.broadcast());
        for ip in (first..=last).map(Ipv4Addr::from) {
            if !ips.values().any(|used| *used == ip) {
                ips.insert(container_id.to_string(), ip);
                return Ok(ip);
            }
        }
    }
    Err("plugin type=\"calico\" failed (add): error adding host side routes for interface: no IPAM blocks with free addresses".to_string())
}

/// calico-ipam releases the sandbox's address.
pub(crate) fn del_calico(ctx: &super::Ctx, container_id: &str) {
    ctx.calico_ips
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(container_id);
}

/// The lab kubelet set up `container_id` on `node` (`live`) or tore it down.
pub(crate) fn record(ctx: &super::Ctx, node: &str, container_id: &str, live: bool) {
    let root = ctx.paths.host_root(node);
    set_sandbox_live(&root, container_id, live);
    let mut all = ctx.cni_sandboxes.lock().unwrap_or_else(|p| p.into_inner());
    let ids = all.entry(node.to_string()).or_default();
    if live {
        ids.insert(container_id.to_string());
    } else {
        ids.remove(container_id);
    }
}

/// `node` boots again after going down: the sandboxes the lab kubelet had set up there
/// are gone (no CNI DEL ran, so their reservations stay: leaks).
pub(crate) fn node_rebooted(ctx: &super::Ctx, node: &str) {
    let gone = ctx
        .cni_sandboxes
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(node)
        .unwrap_or_default();
    let root = ctx.paths.host_root(node);
    for id in gone {
        set_sandbox_live(&root, &id, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_local_says_full_in_the_words_of_its_version() {
        assert_eq!(Wording::of(Some("v0.6.0")), Wording::Network);
        assert_eq!(Wording::of(Some("0.5.2")), Wording::Network);
        assert_eq!(Wording::of(Some("v0.7.0")), Wording::RangeSet);
        assert_eq!(Wording::of(Some("v1.4.0")), Wording::RangeSet);
        assert_eq!(Wording::of(None), Wording::RangeSet);
        assert_eq!(Wording::of(Some("latest")), Wording::RangeSet);
    }

    /// A fresh host root (left in the temp dir: a few small files per test run).
    struct Root(PathBuf);
    impl Root {
        fn path(&self) -> &Path {
            &self.0
        }
    }

    fn node(subnet: Option<&str>) -> Root {
        let dir = Root(std::env::temp_dir().join(format!(
            "kcops-lab-cni-{}-{:x}",
            std::process::id(),
            rand::random::<u64>()
        )));
        std::fs::create_dir_all(dir.path()).unwrap();
        if let Some(s) = subnet {
            let env = dir.path().join(SUBNET_ENV);
            std::fs::create_dir_all(env.parent().unwrap()).unwrap();
            std::fs::write(
                env,
                format!("FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET={s}\n"),
            )
            .unwrap();
        }
        dir
    }

    #[test]
    fn without_subnet_env_the_plugin_fails_as_flannel_does() {
        let dir = node(None);
        assert_eq!(
            add(dir.path(), "a").unwrap_err(),
            "open /run/flannel/subnet.env: no such file or directory"
        );
        assert_eq!(
            add_in_subnet(dir.path(), "a", Wording::RangeSet).unwrap_err(),
            "loadFlannelSubnetEnv failed: open /run/flannel/subnet.env: no such file or directory"
        );
    }

    #[test]
    fn addresses_come_from_the_subnet_in_host_local_format_and_go_on_teardown() {
        let dir = node(Some("10.244.1.1/30"));
        let ip = add(dir.path(), "aaa").unwrap();
        assert_eq!(ip, Ipv4Addr::new(10, 244, 1, 2));
        let net = dir.path().join("var/lib/cni/networks/cbr0");
        assert_eq!(
            std::fs::read_to_string(net.join("10.244.1.2")).unwrap(),
            "aaa\r\neth0"
        );
        assert_eq!(
            std::fs::read_to_string(net.join("last_reserved_ip.0")).unwrap(),
            "10.244.1.2"
        );
        assert!(net.join("lock").exists());
        // A /30 has one usable address besides the gateway: the range is full.
        assert_eq!(
            add(dir.path(), "bbb").unwrap_err(),
            "no IP addresses available in network: cbr0"
        );
        assert_eq!(
            add_in_subnet(dir.path(), "bbb", Wording::RangeSet).unwrap_err(),
            "failed to allocate for range 0: no IP addresses available in range set: 10.244.1.1-10.244.1.2"
        );
        del(dir.path(), "aaa");
        assert!(!net.join("10.244.1.2").exists());
        assert_eq!(add(dir.path(), "bbb").unwrap(), ip);
    }

    #[test]
    fn a_bridge_with_another_address_fails_sandbox_setup() {
        let dir = node(Some("10.244.1.1/24"));
        let cni0 = dir.path().join("sys/class/net/cni0");
        std::fs::create_dir_all(&cni0).unwrap();
        std::fs::write(cni0.join(LINK_ADDRESSES_FILE), "10.244.7.1/24\n").unwrap();
        assert_eq!(
            add(dir.path(), "a").unwrap_err(),
            "failed to set bridge addr: \"cni0\" already has an IP address different from 10.244.1.1/24"
        );
    }

    #[test]
    fn the_sandbox_list_keeps_other_lines() {
        let dir = node(None);
        let path = dir.path().join(SANDBOXES_FILE);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "x\ny\n").unwrap();
        set_sandbox_live(dir.path(), "z", true);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "x\ny\nz\n");
        set_sandbox_live(dir.path(), "x", false);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "y\nz\n");
    }

    /// Many pod workers set their sandboxes up at once: every one stays listed.
    #[test]
    fn concurrent_sandboxes_are_all_listed() {
        let root = std::env::temp_dir().join(format!("kcops-cni-list-{}", std::process::id()));
        std::fs::create_dir_all(root.join("var/lib/kcops-lab")).unwrap_or_else(|e| panic!("{e}"));
        let ids: Vec<String> = (0..32).map(|i| format!("sandbox{i:02}")).collect();
        std::thread::scope(|s| {
            for id in &ids {
                let root = &root;
                s.spawn(move || set_sandbox_live(root, id, true));
            }
        });
        let listed = std::fs::read_to_string(root.join(SANDBOXES_FILE)).unwrap_or_default();
        let mut listed: Vec<&str> = listed.lines().collect();
        listed.sort_unstable();
        assert_eq!(listed, ids.iter().map(String::as_str).collect::<Vec<_>>());
        let _ = std::fs::remove_dir_all(&root);
    }
}
