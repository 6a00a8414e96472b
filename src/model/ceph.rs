//! What the console knows of the Ceph cluster, as plain data: the Ceph source
//! (`crate::ceph::source`) fills it off the UI task, the Ceph pane draws it and
//! diagnosis reads it from the [`Snapshot`](super::snapshot::Snapshot), so findings stay
//! a pure function of one snapshot. Nothing here holds a key but [`SecretRead`], in
//! transit to the Ceph check.

use jiff::Timestamp;

use crate::ceph::{BlocklistEntry, DfReport, HealthReport, ImageInfo, OsdStat, PoolInfo};

/// The Ceph side of the console: the data of the last successful refresh (kept while
/// later refreshes fail, so the pane shows it with its age instead of going blank)
/// and the error of the last refresh, if it failed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CephReport {
    /// `client.<id>`: who the console is to Ceph.
    pub entity: String,
    /// The conf file in use (for messages: "cannot reach the mons of /etc/ceph/ceph.conf").
    pub conf: String,
    /// When the last refresh finished (successfully or not).
    pub attempted_at: Option<Timestamp>,
    /// When the data below was fetched.
    pub fetched_at: Option<Timestamp>,
    /// Why the last refresh failed, in words (None when it succeeded).
    pub error: Option<String>,
    /// What kind of failure `error` is, so findings name the cause (None when the
    /// refresh succeeded, or nobody classified it).
    pub failure: Option<CephFailure>,
    /// The last data fetched successfully.
    pub data: Option<CephData>,
    /// ceph-csi's users (the StorageClasses' Secrets) checked against Ceph; `None`
    /// when nobody checked (then nothing is said of them, neither good nor bad).
    pub csi_users: Option<Vec<CsiUserCheck>>,
}

/// One Secret as read from the API server (`kube::csi_secrets`): its user and key, or
/// why it could not be read. In transit only: `ceph::csi_users` consumes it (the key is
/// compared and wiped); it never reaches a snapshot.
pub struct SecretRead {
    pub namespace: String,
    pub name: String,
    /// The classes naming it, with each class's pool.
    pub classes: Vec<(String, Option<String>)>,
    /// `(userID, userKey)`, or the error in words.
    pub user: Result<(String, String), String>,
}

/// One Secret that ceph-csi StorageClasses name, and what Ceph says of its user.
/// Never holds the key: only whether it matched.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CsiUserCheck {
    pub namespace: String,
    pub name: String,
    /// The classes naming it, with each class's pool.
    pub classes: Vec<(String, Option<String>)>,
    /// The Secret's `userID` (without `client.`), when it could be read.
    pub user_id: Option<String>,
    pub outcome: CsiUserOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CsiUserOutcome {
    /// Not checked yet.
    #[default]
    Unchecked,
    /// The Secret could not be read (missing, forbidden, no userID/userKey): the error.
    SecretUnreadable(String),
    /// Ceph has no such user.
    NoSuchUser,
    /// kcops' own user may not run `auth get`: the caps could not be checked.
    Denied(String),
    /// `auth get` failed otherwise.
    Failed(String),
    /// The user exists: whether the Secret's key is its key, and its caps.
    Checked {
        key_matches: bool,
        caps: std::collections::BTreeMap<String, String>,
    },
}

/// Why Ceph could not be read, as far as the console can tell: each asks for a
/// different fix, so `ceph.unreachable` must not blame the monitors for all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CephFailure {
    /// The conf names no monitors (`mon host`).
    NoMonitors,
    /// The keyring is missing, unreadable, or holds no key for the user.
    Keyring,
    /// Another setting cannot be used (the conf file itself, the user id, ...).
    Settings,
    /// cephx refused the key, or the user's caps do not allow the request.
    Refused,
    /// No monitor answered in time.
    NoAnswer,
    /// Anything else (the error says what).
    Other,
}

impl CephReport {}

/// One refresh's worth of cluster state.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CephData {
    pub health: HealthReport,
    pub df: DfReport,
    pub osd: OsdStat,
    /// Pools with the `rbd` application enabled (the ones whose images are listed).
    pub rbd_pools: Vec<PoolInfo>,
    pub blocklist: Vec<BlocklistEntry>,
    /// Every image of every RBD pool, with its lockers and watchers.
    pub images: Vec<ImageInfo>,
    /// Images (or whole pools) that could not be read: `(pool/image or pool, error)`.
    pub image_errors: Vec<(String, String)>,
    /// Whether the console's Ceph user may blocklist a client (fencing needs it).
    pub fencing: FencePermission,
    /// kcops' own client addresses: fencing must never cover them.
    pub own_addrs: Vec<String>,
    /// The cluster's fsid and monitors (`mon dump`), to check ceph-csi's config
    /// against; `None` when the dump could not be read.
    pub mon_map: Option<MonMap>,
}

/// What `ceph mon dump` says of the cluster kcops reaches.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MonMap {
    pub fsid: String,
    /// Every monitor address as `ip:port` (v2 and v1 alike).
    pub addrs: Vec<String>,
}

impl CephData {
    pub fn image(&self, pool: &str, name: &str) -> Option<&ImageInfo> {
        self.images
            .iter()
            .find(|i| i.pool == pool && i.name == name)
    }
}

/// Can our Ceph user run `osd blocklist add`? Found without changing anything: the mon
/// checks capabilities before it runs a command, so `osd blocklist rm` of an address
/// that is not blocklisted (TEST-NET-1) answers "isn't blocklisted" to a user that may
/// blocklist and `EACCES` to one that may not.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum FencePermission {
    /// Not checked yet.
    #[default]
    Unknown,
    Allowed,
    /// The mon said "access denied"; `caps` are the user's caps when readable (an
    /// `allow r` user cannot read its own).
    Denied {
        caps: Option<String>,
    },
    /// The check itself failed for another reason.
    CheckFailed(String),
}

/// The exact command that gives `entity` the mon caps fencing needs, keeping its OSD
/// caps (`profile rbd` on the mon allows `osd blocklist`; with less, removing a stale
/// lock fails with "rbd: releasing lock failed: (13) Permission denied").
pub(crate) fn fence_caps_fix(entity: &str, osd_caps: Option<&str>) -> String {
    let osd = osd_caps.unwrap_or("profile rbd");
    format!("ceph auth caps {entity} mon 'profile rbd' osd '{osd}'")
}
