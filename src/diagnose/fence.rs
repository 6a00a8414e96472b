//! One fencing recipe for every finding that says "fence it first" (a NotReady node,
//! a pod stuck Terminating on one, a pod stuck on another node's RBD lock): the same
//! blocklist entry the lock-removal wizard adds, so the advice and the plan agree.

/// How long a fence lasts: long enough to break the lock and move the pod, short
/// enough that a node which comes back is not cut off from Ceph for good.
pub(crate) const FENCE_SECONDS: u32 = 3600;

/// The recipe for fencing `node`'s Ceph clients, explained.
pub(crate) fn recipe(node: &str) -> String {
    format!(
        "fence {node}'s Ceph clients first: for each address `rbd lock ls <image>` and `rbd status <image>` list for {node} (ip:port/nonce, one client), `ceph osd blocklist add <address> {FENCE_SECONDS}` (that client can no longer reach any OSD, for one hour: the entry the lock wizard `u` adds; not the whole IP, and not forever, so {node}'s other and later clients still work when it comes back)"
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_recipe_fences_one_client_for_an_hour() {
        let r = super::recipe("node1");
        assert!(r.contains("`ceph osd blocklist add <address> 3600`"), "{r}");
        assert!(r.contains("ip:port/nonce"), "{r}");
    }
}
