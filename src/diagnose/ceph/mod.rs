//! Ceph checks: what is wrong on the Ceph side of the volumes, read from the Ceph
//! report in the snapshot (`Snapshot.ceph`). Without a report (the console runs
//! without Ceph) there is no Ceph finding at all; when the last refresh failed, the
//! findings drawn from the last good data say how old it is.
//!
//! | id | severity | fires when |
//! |---|---|---|
//! | `ceph.unreachable` | Critical | the last Ceph refresh failed (mons unreachable, timeout, auth refused) |
//! | `ceph.health` | Critical (HEALTH_ERR) / Warning (HEALTH_WARN) | a health check that is not muted |
//! | `ceph.fence-denied` | Warning (a stale lock exists) / Info | our Ceph user may not blocklist, so stale locks cannot be broken safely |
//! | `rbd.stale-lock` | Critical (a pod waits for the image) / Warning | an image is locked by a node that runs no live pod using it ([`locks`]); the waiting pods and their mount events are its evidence |
//! | `rbd.orphan-image` | Info | a provisioner-named image no PV references ([`images`]) |
//!
//! The pod and storage checks also read this module: `pod.volume-locked`, `pv.released`
//! and `pv.failed` name the image's lock holders and watchers when Ceph data is there.

mod cluster;
mod images;
pub(crate) mod locks;

use crate::ceph::holders::Holder;
use crate::model::rbd_map::{HeldLock, HeldWatch, ImageUse};
use crate::model::snapshot::Snapshot;

use super::index::{Index, at, node_ready};
use super::{Finding, cap_listed};

pub fn check(s: &Snapshot, ix: &Index, out: &mut Vec<Finding>) {
    let Some(report) = ix.ceph else {
        return;
    };
    let mut found = Vec::new();
    let orphans = images::orphans(s, ix);
    let stale_locks = locks::check(s, ix, &orphans, &mut found);
    images::check(&orphans, &mut found);
    cluster::check(report, ix, stale_locks, &mut found);
    if let Some(note) = stale_data_note(ix) {
        for f in found.iter_mut().filter(|f| f.id.starts_with("rbd.")) {
            f.evidence.push(note.clone());
        }
    }
    out.extend(found);
}

/// Who holds a lock: a node of the cluster, or the host a kubelet lock cookie names
/// when no node has that name (the node was removed from the cluster).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Who {
    Node(String),
    GoneHost(String),
}

impl Who {
    /// From both clues of a [`Holder`]; `None` when neither names a node or a kubelet
    /// host (a client outside Kubernetes: not ours to judge).
    pub(crate) fn of(h: &Holder) -> Option<Who> {
        if let Some(n) = h.node() {
            return Some(Who::Node(n.to_string()));
        }
        h.by_cookie.as_ref().map(|c| Who::GoneHost(c.host.clone()))
    }

    pub(crate) fn name(&self) -> &str {
        match self {
            Who::Node(n) | Who::GoneHost(n) => n,
        }
    }

    /// `node1 (NotReady)`, `node2 (Ready)`, `host node9 (not a node of the cluster)`.
    pub(crate) fn describe(&self, ix: &Index) -> String {
        match self {
            Who::Node(n) if ix.node_not_ready(n) => format!("{n} (NotReady)"),
            Who::Node(n) => format!("{n} (Ready)"),
            Who::GoneHost(h) => format!("host {h} (not a node of the cluster)"),
        }
    }
}

/// A node's Ready state for evidence: `Ready`, `Ready=Unknown since T (reason)`.
pub(crate) fn ready_text(ix: &Index, node: &str) -> String {
    let Some(n) = ix.nodes.get(node) else {
        return "not a node of the cluster".to_string();
    };
    match node_ready(n) {
        Some(c) if c.status == "True" => "Ready".to_string(),
        Some(c) => {
            let mut t = format!("Ready={}", c.status);
            if c.last_transition_time.is_some() {
                t.push_str(&format!(" since {}", at(c.last_transition_time.as_ref())));
            }
            if let Some(r) = c.reason.as_deref().filter(|r| !r.is_empty()) {
                t.push_str(&format!(" ({r})"));
            }
            t
        }
        None => "no Ready condition".to_string(),
    }
}

/// `lock 'kubelet_lock_magic_node1' by client.4150 at 198.18.1.11:0/33 (advisory, exclusive)`.
pub(crate) fn lock_line(l: &HeldLock) -> String {
    let kind = if l.lock.is_exclusive_lock_owner() {
        "exclusive-lock owner"
    } else if l.lock.exclusive {
        "advisory, exclusive"
    } else {
        "advisory, shared"
    };
    format!(
        "lock '{}' by {} at {} ({kind})",
        l.lock.cookie, l.lock.locker, l.lock.address
    )
}

/// `watcher client.4152 at 198.18.1.11:0/16 from node1`.
pub(crate) fn watcher_line(w: &HeldWatch) -> String {
    let from = match w.holder.by_address.as_deref() {
        Some(n) => format!("from {n}"),
        None => "from an address of no node".to_string(),
    };
    format!(
        "watcher {} at {} {from}",
        w.watcher.entity(),
        w.watcher.address
    )
}

/// What Ceph says of an image, for the evidence of Kubernetes findings about it:
/// each lock with its holder, each watcher with its node, or that there are none.
pub(crate) fn image_lines(u: &ImageUse, ix: &Index) -> Vec<String> {
    let spec = u.spec();
    let mut lines = Vec::new();
    let users = u.user_nodes();
    for l in &u.locks {
        let mut line = format!("{spec}: {}", lock_line(l));
        if let Some(who) = Who::of(&l.holder) {
            line.push_str(&format!(", held by {}", who.describe(ix)));
            if users.contains(&who.name()) {
                line.push_str(", which runs a pod using it");
            } else {
                line.push_str(", which runs no pod using it");
            }
        }
        lines.push(line);
    }
    for w in &u.watchers {
        lines.push(format!("{spec}: {}", watcher_line(w)));
    }
    if lines.is_empty() {
        lines.push(format!("{spec}: no locks and no watchers"));
    }
    cap_listed(lines, "locks and watchers")
}

/// Said on findings drawn from Ceph data the last refresh could not renew.
fn stale_data_note(ix: &Index) -> Option<String> {
    let report = ix.ceph?;
    report.error.as_ref()?;
    let at = report.fetched_at?;
    Some(format!(
        "Ceph data from {at} ({}s old): the latest refresh failed (see ceph.unreachable)",
        ix.now.duration_since(at).as_secs().max(0)
    ))
}

/// Bytes as `rbd ls` prints sizes: `2 GiB`, `512 MiB`.
pub(crate) fn size_text(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if value.fract() == 0.0 || unit == 0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_rbd_ls() {
        assert_eq!(size_text(2 << 30), "2 GiB");
        assert_eq!(size_text(512 << 20), "512 MiB");
        assert_eq!(size_text(1536 << 20), "1.5 GiB");
        assert_eq!(size_text(100), "100 B");
    }
}
