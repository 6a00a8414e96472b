//! Ceph steps: fence a client, break an RBD lock, and wait for the lock to name the
//! node of the pod that now runs (the end of the lock-removal wizard). Each applies its
//! change and re-checks it in Ceph (an accepted mon command is not proof of the state),
//! like the Kubernetes steps.

use std::net::IpAddr;
use std::time::Duration;

use kube::Client;

use super::kube_wait::{node_ips, ready_claim_pod};
use super::{Applied, StepError};
use crate::ceph::holders::{EntityAddr, kubelet_cookie_host};
use crate::ceph::{CephClient, CephError, LockerInfo};
use crate::ops::op::{LockNode, WaitFor, human_duration};

fn ceph_failed(what: &str, e: CephError) -> StepError {
    StepError::Failed(format!("{what}: {e}"))
}

/// `ceph osd blocklist add <addr> <expire>`, then checks the entry is listed with an
/// expiry. Refuses a whole-host address (nonce 0): one client is fenced, never a node.
pub(crate) async fn fence(
    ceph: &CephClient,
    addr: &str,
    expire: Duration,
) -> Result<String, StepError> {
    let want = EntityAddr::parse(addr).ok_or_else(|| {
        StepError::Failed(format!(
            "{addr:?} is not a Ceph client address (ip:port/nonce)"
        ))
    })?;
    if want.nonce == 0 {
        return Err(StepError::Failed(format!(
            "{addr} names every client of a host; only one client's ip:port/nonce is fenced"
        )));
    }
    ceph.blocklist_add(addr, expire)
        .await
        .map_err(|e| ceph_failed(&format!("blocklist {addr}"), e))?;
    let list = ceph
        .blocklist_ls()
        .await
        .map_err(|e| ceph_failed("re-check: osd blocklist ls", e))?;
    let entry = list
        .iter()
        .filter(|e| !e.range)
        .find(|e| EntityAddr::parse(&e.addr) == Some(want));
    match entry {
        Some(e) if !e.until.trim().is_empty() => {
            Ok(format!("{addr} is blocklisted until {}", e.until))
        }
        Some(_) => Err(StepError::Failed(format!(
            "re-check: {addr} is blocklisted without an expiry"
        ))),
        None => Err(StepError::Failed(format!(
            "re-check: {addr} is not in the OSD blocklist after adding it"
        ))),
    }
}

/// Breaks the lock `cookie` of `locker` if it is still the one the plan was made for,
/// and only when its holder and every live watcher from the holder's IP are fenced
/// right now (checked against the live blocklist, whatever the plan says).
pub(crate) async fn break_lock(
    ceph: &CephClient,
    pool: &str,
    image: &str,
    locker: &str,
    cookie: &str,
    address: &str,
) -> Result<Applied, StepError> {
    let spec = format!("{pool}/{image}");
    let info = ceph
        .image_info(pool, image)
        .await
        .map_err(|e| ceph_failed(&format!("rbd info {spec}"), e))?;
    let Some(lock) = find_lock(&info.lockers, locker, cookie) else {
        // Another console (or the holder itself) removed it since the plan was made.
        return Ok(Applied::AlreadyDone(format!(
            "the lock {cookie} of {locker} on {spec} was already gone; nothing to break"
        )));
    };
    if lock.address != address {
        return Err(StepError::Failed(format!(
            "the lock {cookie} is now held from {}, not {address} as when the plan was made; nothing was broken, assess again",
            lock.address
        )));
    }
    let holder = EntityAddr::parse(address).ok_or_else(|| {
        StepError::Failed(format!(
            "the lock holder's address {address:?} does not parse"
        ))
    })?;
    let blocklist = ceph
        .blocklist_ls()
        .await
        .map_err(|e| ceph_failed("osd blocklist ls", e))?;
    let fenced: Vec<EntityAddr> = blocklist
        .iter()
        .filter(|e| !e.range)
        .filter_map(|e| EntityAddr::parse(&e.addr))
        .collect();
    let is_fenced = |a: &EntityAddr| fenced.iter().any(|f| f.covers(a));
    let mut unfenced = Vec::new();
    if !is_fenced(&holder) {
        unfenced.push(format!("the lock holder {address}"));
    }
    for w in &info.watchers {
        if let Some(a) = EntityAddr::parse(&w.address)
            && a.ip == holder.ip
            && !is_fenced(&a)
        {
            unfenced.push(format!("the live watcher {} ({})", w.address, w.entity()));
        }
    }
    if !unfenced.is_empty() {
        return Err(StepError::Failed(format!(
            "never break a lock without fencing: {} not fenced; nothing was broken",
            unfenced.join(", ")
        )));
    }
    // Not found: someone else broke it between our read and our request.
    let mut raced = false;
    match ceph.break_lock(pool, image, locker, cookie).await {
        Ok(()) => {}
        Err(e) if e.is_not_found() => raced = true,
        Err(e) => {
            return Err(ceph_failed(
                &format!("rbd lock rm {spec} {cookie} {locker}"),
                e,
            ));
        }
    }
    let after = ceph
        .image_info(pool, image)
        .await
        .map_err(|e| ceph_failed(&format!("re-check: rbd info {spec}"), e))?;
    if find_lock(&after.lockers, locker, cookie).is_some() {
        return Err(StepError::Failed(format!(
            "re-check: the lock {cookie} of {locker} is still on {spec}"
        )));
    }
    let now = if after.lockers.is_empty() {
        "no lock now".to_string()
    } else {
        format!(
            "locked now by {}",
            after
                .lockers
                .iter()
                .map(|l| format!("{} ({})", l.cookie, l.address))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let text = format!("the lock {cookie} of {locker} is gone from {spec}; {now}");
    Ok(if raced {
        Applied::AlreadyDone(text)
    } else {
        Applied::Done(text)
    })
}

fn find_lock<'a>(lockers: &'a [LockerInfo], locker: &str, cookie: &str) -> Option<&'a LockerInfo> {
    lockers
        .iter()
        .find(|l| l.locker == locker && l.cookie == cookie)
}

/// The lock names `node`: its kubelet cookie says so, or (no kubelet cookie) it was
/// taken from one of the node's addresses.
pub(crate) fn lock_names_node(lock: &LockerInfo, node: &str, ips: &[IpAddr]) -> bool {
    let short = |s: &str| s.split('.').next().unwrap_or(s).to_ascii_lowercase();
    match kubelet_cookie_host(&lock.cookie) {
        Some(host) => short(host) == short(node),
        None => EntityAddr::parse(&lock.address).is_some_and(|a| ips.contains(&a.ip)),
    }
}

/// Polls Ceph (every second) until the image has locks and every one names the node.
pub(crate) async fn wait_lock_held_by(
    client: &Client,
    ceph: &CephClient,
    pool: &str,
    image: &str,
    node: &LockNode,
    timeout: Duration,
    what: &WaitFor,
) -> Result<String, StepError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let spec = format!("{pool}/{image}");
    let mut last = String::from("nothing checked yet");
    loop {
        let name = match node {
            LockNode::Node(n) => Some(n.clone()),
            LockNode::PodOfClaim { namespace, claim } => {
                match ready_claim_pod(client, namespace, claim).await {
                    Ok(p) => p.and_then(|p| p.spec?.node_name.map(String::from)),
                    Err(StepError::Forbidden(m)) => return Err(StepError::Forbidden(m)),
                    Err(StepError::Failed(m)) => {
                        last = m;
                        None
                    }
                }
            }
        };
        match name {
            None => {
                if !last.starts_with("list") {
                    last = "no Running pod with the claim yet".to_string();
                }
            }
            Some(n) => match (
                node_ips(client, &n).await,
                ceph.image_info(pool, image).await,
            ) {
                (Ok(ips), Ok(info)) => {
                    if !info.lockers.is_empty()
                        && info.lockers.iter().all(|l| lock_names_node(l, &n, &ips))
                    {
                        let locks: Vec<String> = info
                            .lockers
                            .iter()
                            .map(|l| format!("{} of {} ({})", l.cookie, l.locker, l.address))
                            .collect();
                        return Ok(format!(
                            "RBD image {spec} is locked by node {n}: {}",
                            locks.join(", ")
                        ));
                    }
                    last = if info.lockers.is_empty() {
                        format!("{spec} has no lock yet")
                    } else {
                        format!(
                            "{spec} is locked by {}",
                            info.lockers
                                .iter()
                                .map(|l| format!("{} ({})", l.cookie, l.address))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    };
                }
                (Err(StepError::Forbidden(m)), _) => return Err(StepError::Forbidden(m)),
                (Err(StepError::Failed(m)), _) => last = m,
                (_, Err(e)) => last = format!("rbd info {spec}: {e}"),
            },
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(StepError::Failed(format!(
                "{what}: not reached within {} ({last})",
                human_duration(timeout)
            )));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_name_nodes_by_cookie_else_address() {
        let lock = LockerInfo {
            locker: "client.4160".into(),
            cookie: "kubelet_lock_magic_node2".into(),
            address: "198.18.1.12:0/77".into(),
            tag: String::new(),
            exclusive: true,
        };
        let ip2: IpAddr = "198.18.1.12".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        assert!(lock_names_node(&lock, "node2", &[]));
        assert!(lock_names_node(&lock, "node2.example.com", &[]));
        assert!(!lock_names_node(&lock, "node1", &[ip2]), "the cookie wins");
        let plain = LockerInfo {
            cookie: "mine".into(),
            ..lock
        };
        assert!(lock_names_node(&plain, "node2", &[ip2]));
        assert!(!lock_names_node(&plain, "node2", &[]));
    }
}
