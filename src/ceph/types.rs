//! What the Ceph client returns: plain data for the pane, the findings and the wizard.
//! Nothing here holds a key.

use std::collections::BTreeMap;

/// `ceph health detail`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HealthReport {
    /// `HEALTH_OK`, `HEALTH_WARN` or `HEALTH_ERR`.
    pub status: String,
    pub checks: Vec<HealthCheck>,
}

impl HealthReport {
    pub fn is_ok(&self) -> bool {
        self.status == "HEALTH_OK"
    }

    pub fn check(&self, code: &str) -> Option<&HealthCheck> {
        self.checks.iter().find(|c| c.code == code)
    }
}

/// One health check, e.g. `MON_DISK_LOW`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HealthCheck {
    pub code: String,
    /// `HEALTH_WARN` or `HEALTH_ERR`.
    pub severity: String,
    /// One line, e.g. "mon a is low on available space".
    pub summary: String,
    /// One line per affected thing, e.g. "mon.a has 16% avail".
    pub details: Vec<String>,
    /// How many things the summary covers (0 when Ceph does not say).
    pub count: u64,
    /// Muted with `ceph health mute`.
    pub muted: bool,
}

/// `ceph df`: cluster totals and usage per pool.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DfReport {
    pub total_bytes: u64,
    pub total_used_bytes: u64,
    pub total_avail_bytes: u64,
    pub pools: Vec<PoolUsage>,
}

impl DfReport {
    pub fn pool(&self, name: &str) -> Option<&PoolUsage> {
        self.pools.iter().find(|p| p.name == name)
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct PoolUsage {
    pub name: String,
    pub id: i64,
    /// Bytes of user data (before replication).
    pub stored: u64,
    pub objects: u64,
    /// Raw bytes used (after replication).
    pub bytes_used: u64,
    /// 0.0 ..= 1.0, as Ceph reports it.
    pub percent_used: f64,
    /// Bytes that can still be written to the pool.
    pub max_avail: u64,
}

/// `ceph osd pool ls detail`: a pool and the applications enabled on it (`rbd`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PoolInfo {
    pub id: i64,
    pub name: String,
    pub applications: Vec<String>,
}

impl PoolInfo {
    pub fn is_rbd(&self) -> bool {
        self.applications.iter().any(|a| a == "rbd")
    }
}

/// `ceph osd stat`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OsdStat {
    pub epoch: u64,
    pub num_osds: u32,
    pub num_up_osds: u32,
    pub num_in_osds: u32,
    pub num_remapped_pgs: u32,
}

/// One `ceph osd blocklist ls` entry: a client address (`ip:port/nonce`, or a bare
/// `ip:0/0` for every client of a host) or, with `range`, a CIDR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlocklistEntry {
    pub addr: String,
    /// Ceph's text, e.g. `2026-11-27T07:05:56.572043+0000`.
    pub until: String,
    /// `until` parsed; `None` if Ceph changes its format.
    pub expires: Option<jiff::Timestamp>,
    /// A `osd blocklist range` entry (`cidr:10.0.0.0:0/24`).
    pub range: bool,
}

/// `ceph auth get <entity>` without the key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthCaps {
    pub entity: String,
    /// Service (`mon`, `osd`, `mgr`, ...) to capability string (`allow r`).
    pub caps: BTreeMap<String, String>,
}

/// An image in a pool listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSpec {
    pub id: String,
    pub name: String,
}

/// Everything the pane shows about one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    pub pool: String,
    pub name: String,
    pub id: String,
    pub size: u64,
    pub object_size: u64,
    pub num_objects: u64,
    pub order: i32,
    /// 1 (old) or 2.
    pub format: u8,
    /// Feature bits (`RBD_FEATURE_*`); see [`feature_names`].
    pub features: u64,
    pub block_name_prefix: String,
    /// Advisory locks and the exclusive-lock owner (tag `internal`).
    pub lockers: Vec<LockerInfo>,
    pub watchers: Vec<WatcherInfo>,
}

impl ImageInfo {
    pub fn feature_names(&self) -> Vec<&'static str> {
        feature_names(self.features)
    }

    pub fn has_feature(&self, bit: u64) -> bool {
        self.features & bit == bit
    }

    /// `pool/image`, as the rbd CLI spells it.
    pub fn spec(&self) -> String {
        format!("{}/{}", self.pool, self.name)
    }

    /// The lock librbd's exclusive-lock feature holds for the image's current writer.
    pub fn exclusive_lock_owner(&self) -> Option<&LockerInfo> {
        self.lockers.iter().find(|l| l.is_exclusive_lock_owner())
    }

    /// Locks taken with `rbd lock add` or `rbd_lock_exclusive` (the in-tree kubelet's).
    pub fn advisory_locks(&self) -> impl Iterator<Item = &LockerInfo> {
        self.lockers.iter().filter(|l| !l.is_exclusive_lock_owner())
    }

    /// Someone has the image open (a watch on its header): a live client.
    pub fn in_use(&self) -> bool {
        !self.watchers.is_empty()
    }
}

/// One holder of the image's lock (`rbd lock ls` row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockerInfo {
    /// The client entity, `client.4140`.
    pub locker: String,
    /// The lock id: `kubelet_lock_magic_<host>` for the in-tree kubelet plugin,
    /// `auto <handle>` for the exclusive-lock feature.
    pub cookie: String,
    /// The holder's address, `ip:port/nonce`: what fencing blocklists.
    pub address: String,
    /// The lock's tag: `internal` for the exclusive-lock feature, empty for `rbd lock add`.
    pub tag: String,
    /// The lock is exclusive (not shared).
    pub exclusive: bool,
}

impl LockerInfo {
    /// librbd's exclusive-lock feature owns this lock (as opposed to an advisory lock).
    pub fn is_exclusive_lock_owner(&self) -> bool {
        self.tag == "internal" && self.cookie.starts_with("auto ")
    }
}

/// One watcher of the image header (`rbd status` row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatcherInfo {
    /// `ip:port/nonce`.
    pub address: String,
    /// The N of `client.N`.
    pub client_id: i64,
    pub cookie: u64,
}

impl WatcherInfo {
    pub fn entity(&self) -> String {
        format!("client.{}", self.client_id)
    }
}

/// librbd feature bits (`rbd/features.h`).
pub(crate) const FEATURE_LAYERING: u64 = 1 << 0;
pub(crate) const FEATURE_STRIPINGV2: u64 = 1 << 1;
pub const FEATURE_EXCLUSIVE_LOCK: u64 = 1 << 2;
pub(crate) const FEATURE_OBJECT_MAP: u64 = 1 << 3;
pub(crate) const FEATURE_FAST_DIFF: u64 = 1 << 4;
pub(crate) const FEATURE_DEEP_FLATTEN: u64 = 1 << 5;
pub(crate) const FEATURE_JOURNALING: u64 = 1 << 6;
pub(crate) const FEATURE_DATA_POOL: u64 = 1 << 7;
pub(crate) const FEATURE_OPERATIONS: u64 = 1 << 8;
pub(crate) const FEATURE_MIGRATING: u64 = 1 << 9;
pub(crate) const FEATURE_NON_PRIMARY: u64 = 1 << 10;
pub(crate) const FEATURE_DIRTY_CACHE: u64 = 1 << 11;

const FEATURES: [(u64, &str); 12] = [
    (FEATURE_LAYERING, "layering"),
    (FEATURE_STRIPINGV2, "striping"),
    (FEATURE_EXCLUSIVE_LOCK, "exclusive-lock"),
    (FEATURE_OBJECT_MAP, "object-map"),
    (FEATURE_FAST_DIFF, "fast-diff"),
    (FEATURE_DEEP_FLATTEN, "deep-flatten"),
    (FEATURE_JOURNALING, "journaling"),
    (FEATURE_DATA_POOL, "data-pool"),
    (FEATURE_OPERATIONS, "operations"),
    (FEATURE_MIGRATING, "migrating"),
    (FEATURE_NON_PRIMARY, "non-primary"),
    (FEATURE_DIRTY_CACHE, "dirty-cache"),
];

/// Feature names as `rbd info` prints them, in bit order.
pub fn feature_names(features: u64) -> Vec<&'static str> {
    FEATURES
        .iter()
        .filter(|(bit, _)| features & bit != 0)
        .map(|(_, name)| *name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_and_lock_kinds() {
        assert_eq!(
            feature_names(61),
            vec![
                "layering",
                "exclusive-lock",
                "object-map",
                "fast-diff",
                "deep-flatten"
            ]
        );
        let owner = LockerInfo {
            locker: "client.4150".into(),
            cookie: "auto 94259303712016".into(),
            address: "198.18.1.11:0/1".into(),
            tag: "internal".into(),
            exclusive: true,
        };
        assert!(owner.is_exclusive_lock_owner());
        let advisory = LockerInfo {
            cookie: "kubelet_lock_magic_node1".into(),
            tag: String::new(),
            ..owner.clone()
        };
        assert!(!advisory.is_exclusive_lock_owner());
    }
}
