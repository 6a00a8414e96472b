//! The scenario's Ceph: extra pools and users (with their caps) the lab creates in its
//! real micro cluster, so a StorageClass can name a pool and a user as in the field.

#[allow(unused_imports)]
use super::*;

/// `ceph:` in a scenario. Without it the cluster has pool `rbd` and `client.kube`
/// with `allow rwx pool=rbd`, as always; pool `rbd`, `client.admin` and `client.kube`
/// exist in any case (a `client.kube` entry here changes its caps).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CephSpec {
    #[serde(default)]
    pub pools: Vec<CephPool>,
    #[serde(default)]
    pub users: Vec<CephUser>,
    /// Images made by hand before any claim (for static PVs), with their features.
    #[serde(default)]
    pub images: Vec<CephImage>,
}

/// An image an operator created with `rbd create` (rbd's defaults give it
/// `layering, exclusive-lock, object-map, fast-diff, deep-flatten`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CephImage {
    #[serde(default = "default_pool")]
    pub pool: String,
    pub name: String,
    /// Size in MiB.
    #[serde(default = "default_image_mb")]
    pub size_mb: u64,
    #[serde(default = "default_features")]
    pub features: Vec<String>,
}

fn default_pool() -> String {
    "rbd".to_string()
}

fn default_image_mb() -> u64 {
    128
}

fn default_features() -> Vec<String> {
    [
        "layering",
        "exclusive-lock",
        "object-map",
        "fast-diff",
        "deep-flatten",
    ]
    .map(String::from)
    .to_vec()
}

/// A replicated pool, initialised for RBD (`rbd pool init`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CephPool {
    pub name: String,
    /// Placement groups (`ceph osd pool create <name> <pgs>`).
    #[serde(default = "default_pgs")]
    pub pgs: u32,
}

fn default_pgs() -> u32 {
    8
}

/// A cephx user and its caps, as `ceph auth get-or-create client.x mon '...' osd '...'`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CephUser {
    /// `client.<id>`: the class's `adminId`/`userId` is `<id>`.
    pub name: String,
    #[serde(default)]
    pub caps: CephCaps,
}

/// Caps per daemon type; an absent one grants nothing there.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CephCaps {
    #[serde(default)]
    pub mon: Option<String>,
    #[serde(default)]
    pub osd: Option<String>,
    #[serde(default)]
    pub mgr: Option<String>,
}

impl CephUser {
    /// `kube` for `client.kube`: what a StorageClass's `userId` names.
    pub fn id(&self) -> &str {
        self.name.strip_prefix("client.").unwrap_or(&self.name)
    }
}

impl CephCaps {
    /// `mon <caps> osd <caps> ...` as `ceph auth` takes them.
    pub fn args(&self) -> Vec<String> {
        [("mon", &self.mon), ("osd", &self.osd), ("mgr", &self.mgr)]
            .into_iter()
            .filter_map(|(daemon, caps)| caps.as_ref().map(|c| [daemon.to_string(), c.clone()]))
            .flatten()
            .collect()
    }
}

/// Pool names Ceph accepts and rbd can address: no `/`, `@` or spaces.
pub(super) fn is_pool_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

pub(super) fn check_ceph(c: &mut Checker, ceph: &CephSpec) {
    let base = vec![key("ceph")];
    let mut pools = BTreeSet::new();
    for (i, pool) in ceph.pools.iter().enumerate() {
        let path = extend(
            &extend(&extend(&base, key("pools")), Seg::Index(i)),
            key("name"),
        );
        if !is_pool_name(&pool.name) {
            c.fail(
                path,
                format!(
                    "invalid pool name {:?}: letters, digits, '-', '_' and '.'",
                    pool.name
                ),
            );
        } else if !pools.insert(pool.name.as_str()) {
            c.fail(path, format!("pool {:?} is declared twice", pool.name));
        }
        if pool.pgs == 0 || pool.pgs > 128 {
            c.fail(
                extend(
                    &extend(&extend(&base, key("pools")), Seg::Index(i)),
                    key("pgs"),
                ),
                format!(
                    "pgs {} is not from 1 to 128 (the lab has one OSD)",
                    pool.pgs
                ),
            );
        }
    }
    for (i, image) in ceph.images.iter().enumerate() {
        let path = extend(&extend(&base, key("images")), Seg::Index(i));
        if image.pool != "rbd" && !pools.contains(image.pool.as_str()) {
            c.fail(
                extend(&path, key("pool")),
                format!("pool {:?} is not declared in ceph.pools", image.pool),
            );
        }
        if !is_pool_name(&image.name) {
            c.fail(
                extend(&path, key("name")),
                format!("invalid image name {:?}", image.name),
            );
        }
        for (f, feature) in image.features.iter().enumerate() {
            if crate::rbd::feature_bit(feature) == 0 {
                c.fail(
                    extend(&extend(&path, key("features")), Seg::Index(f)),
                    format!("unknown image feature {feature:?}"),
                );
            }
        }
    }
    let mut users = BTreeSet::new();
    for (i, user) in ceph.users.iter().enumerate() {
        let path = extend(&extend(&base, key("users")), Seg::Index(i));
        let id = user.name.strip_prefix("client.").unwrap_or("");
        if id.is_empty() || !is_pool_name(id) {
            c.fail(
                extend(&path, key("name")),
                format!(
                    "invalid user {:?}: write client.<id>, the id of letters, digits, '-', '_' and '.'",
                    user.name
                ),
            );
        } else if id == "admin" {
            c.fail(
                extend(&path, key("name")),
                "client.admin is the lab's own and keeps all caps",
            );
        } else if !users.insert(id) {
            c.fail(
                extend(&path, key("name")),
                format!("user {:?} is declared twice", user.name),
            );
        }
        for (daemon, caps) in [
            ("mon", &user.caps.mon),
            ("osd", &user.caps.osd),
            ("mgr", &user.caps.mgr),
        ] {
            if caps.as_deref().is_some_and(|c| c.trim().is_empty()) {
                c.fail(
                    extend(&extend(&path, key("caps")), key(daemon)),
                    "empty caps: leave the key out to grant nothing",
                );
            }
        }
    }
}
