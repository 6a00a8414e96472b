//! The Ceph pane's view model, derived with the rest of the view (off the UI task)
//! from the snapshot's [`CephReport`] and the image map of
//! [`crate::model::rbd_map::image_uses`]: the cluster section (health, OSDs, pools,
//! blocklist, fencing), one table row per RBD image with a verdict, and the detail
//! lines of every image (each lock and watch with the node behind it, PV, PVC, pods).
//!
//! Times that move by themselves (the age of the data) are kept as timestamps and
//! turned into words when drawn. Nothing here holds a key: the report has none.

use crate::model::columns::{Column, ColumnKind};
use crate::model::count::count;
use std::sync::Arc;

use jiff::Timestamp;

use super::tables::{ObjKey, ObjKind, TableModel, TableRow, Tone};
use crate::ceph::holders::Holder;
use crate::ceph::{BlocklistEntry, HealthCheck};
use crate::model::ceph::{CephReport, FencePermission, fence_caps_fix};
use crate::model::pod_status::human_since;
use crate::model::rbd_map::{HeldLock, ImageUse, image_uses};
use crate::model::snapshot::Snapshot;

/// One line of text in parts, each with its role.
pub(crate) type Segments = Vec<(Tone, String)>;

/// Everything the Ceph pane draws.
#[derive(Debug, Clone, Default)]
pub struct CephView {
    /// The console talks to Ceph (`snapshot.ceph` is set).
    pub configured: bool,
    /// `client.<id>`.
    pub entity: String,
    pub conf: String,
    /// When the shown data was fetched (None: no data yet).
    pub fetched_at: Option<Timestamp>,
    /// When the last refresh finished (None: the first one still runs).
    pub attempted_at: Option<Timestamp>,
    /// Why the last refresh failed.
    pub error: Option<String>,
    /// Health, OSDs, pools, blocklist, fencing and unreadable images.
    pub cluster: Vec<Segments>,
    /// One line for the images-focused layout (`:rbd`): status, OSDs, images.
    pub brief: Segments,
    /// One row per image, keyed `RbdImage` / `pool/image`.
    pub images: TableModel,
    /// The detail of every image, in row order.
    pub details: Vec<ImageDetail>,
}

/// One image's detail section.
#[derive(Debug, Clone, Default)]
pub struct ImageDetail {
    pub pool: String,
    pub image: String,
    pub lines: Vec<Segments>,
}

impl CephView {
    /// The detail of the image whose row has `key`.
    pub fn detail(&self, key: &ObjKey) -> Option<&ImageDetail> {
        (key.kind == ObjKind::RbdImage)
            .then(|| {
                self.details
                    .iter()
                    .find(|d| key.name == image_key_name(&d.pool, &d.image))
            })
            .flatten()
    }
}

/// The table columns.
/// In priority order: the pane drops columns from the right that do not fit (the
/// detail shows them all), so the verdict, locks and pods stay readable.
pub(crate) const COLUMNS: &[Column] = &[
    Column::new("POOL", ColumnKind::Name),
    Column::new("IMAGE", ColumnKind::Name),
    Column::new("STATUS", ColumnKind::Status),
    Column::new("LOCKS", ColumnKind::Text),
    Column::new("PODS", ColumnKind::Text),
    Column::new("WATCHERS", ColumnKind::Text),
    Column::new("PVC", ColumnKind::Name),
    Column::new("PV", ColumnKind::Name),
    Column::new("SIZE", ColumnKind::Size),
    Column::new("FORMAT", ColumnKind::Text),
];

/// The row key's name for an image: `pool/image`, as the rbd CLI spells it.
pub(crate) fn image_key_name(pool: &str, image: &str) -> String {
    format!("{pool}/{image}")
}

/// Derives the Ceph view of `snapshot` (empty, `configured: false`, without Ceph).
pub fn derive(snapshot: &Snapshot) -> CephView {
    let Some(report) = snapshot.ceph.as_deref() else {
        return CephView {
            images: TableModel {
                columns: COLUMNS.to_vec(),
                rows: Default::default(),
            },
            ..CephView::default()
        };
    };
    // image_uses walks every pod: not worth it for a cluster without images.
    let uses = if report.data.as_ref().is_some_and(|d| !d.images.is_empty()) {
        image_uses(snapshot)
    } else {
        Vec::new()
    };
    let mut rows = Vec::with_capacity(uses.len());
    let mut details = Vec::with_capacity(uses.len());
    for u in &uses {
        let (verdict, tone) = verdict(u);
        let key = ObjKey {
            kind: ObjKind::RbdImage,
            namespace: Default::default(),
            name: image_key_name(&u.image.pool, &u.image.name).into(),
        };
        rows.push(Arc::new(TableRow::new(
            row_cells(u, &verdict),
            key,
            tone,
            None,
        )));
        details.push(ImageDetail {
            pool: u.image.pool.clone(),
            image: u.image.name.clone(),
            lines: detail_lines(u, &verdict, tone),
        });
    }
    CephView {
        configured: true,
        entity: report.entity.clone(),
        conf: report.conf.clone(),
        fetched_at: report.fetched_at,
        attempted_at: report.attempted_at,
        error: report.error.clone(),
        cluster: {
            let mut lines = cluster_lines(report, snapshot.now);
            lines.extend(csi_plugin_lines(snapshot));
            lines
        },
        brief: brief(report, &rows),
        images: TableModel {
            columns: COLUMNS.to_vec(),
            rows: rows.into(),
        },
        details,
    }
}

/// `2 GiB`, `1.5 MiB`, `512 B`.
pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 || v.fract() == 0.0 || v >= 100.0 {
        format!("{v:.0} {}", UNITS[unit])
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// Short feature names for the table, where room is scarce (the detail lists them
/// whole).
fn short_feature(name: &str) -> &str {
    match name {
        "layering" => "lyr",
        "striping" => "strp",
        "exclusive-lock" => "xl",
        "object-map" => "om",
        "fast-diff" => "fd",
        "deep-flatten" => "df",
        "journaling" => "jrn",
        "data-pool" => "dp",
        other => other,
    }
}

/// The kind of a lock, in words: the exclusive-lock feature's owner, or an advisory
/// lock (`rbd lock add`, the in-tree kubelet's) taken exclusive or shared.
fn lock_kind(l: &HeldLock) -> &'static str {
    if l.lock.is_exclusive_lock_owner() {
        "exclusive-lock owner"
    } else if l.lock.exclusive {
        "advisory, exclusive"
    } else {
        "advisory, shared"
    }
}

fn lock_kind_short(l: &HeldLock) -> &'static str {
    if l.lock.is_exclusive_lock_owner() {
        "owner"
    } else if l.lock.exclusive {
        "excl"
    } else {
        "shared"
    }
}

/// `@node1`, `@node2 (cookie: node1)`, or the bare IP when no node has it.
fn holder_short(h: &Holder) -> String {
    let cookie = h.by_cookie.as_ref().and_then(|c| c.node.as_deref());
    match (h.by_address.as_deref(), cookie) {
        (Some(a), Some(c)) if a != c => format!("@{a} (cookie: {c})"),
        (Some(a), _) => format!("@{a}"),
        (None, Some(c)) => match h.addr {
            Some(addr) => format!("@{c}? ({})", addr.ip),
            None => format!("@{c}?"),
        },
        (None, None) => match h.addr {
            Some(addr) => format!("@{}", addr.ip),
            None => "@?".to_string(),
        },
    }
}

fn row_cells(u: &ImageUse, verdict: &str) -> Vec<String> {
    let img = &u.image;
    let features: Vec<&str> = img.feature_names().into_iter().map(short_feature).collect();
    let format = if features.is_empty() {
        format!("v{}", img.format)
    } else {
        format!("v{} {}", img.format, features.join(","))
    };
    let locks = u
        .locks
        .iter()
        .map(|l| {
            format!(
                "{} {} {}",
                lock_kind_short(l),
                l.lock.cookie,
                holder_short(&l.holder)
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let watchers = u
        .watchers
        .iter()
        .map(|w| match (w.holder.node(), w.holder.addr) {
            (Some(n), _) => n.to_string(),
            (None, Some(a)) => a.ip.to_string(),
            (None, None) => w.watcher.address.clone(),
        })
        .collect::<Vec<_>>()
        .join(",");
    let pods = u
        .pods
        .iter()
        .map(|p| {
            let node = if p.node.is_empty() { "-" } else { &p.node };
            let gone = if p.terminating { " (terminating)" } else { "" };
            format!("{}@{node}{gone}", p.name)
        })
        .collect::<Vec<_>>()
        .join(",");
    vec![
        img.pool.clone(),
        img.name.clone(),
        verdict.to_string(),
        or_dash(locks),
        or_dash(pods),
        or_dash(watchers),
        or_dash(
            u.pvc
                .as_ref()
                .map(|(ns, n)| format!("{ns}/{n}"))
                .unwrap_or_default(),
        ),
        or_dash(u.pv.clone().unwrap_or_default()),
        human_bytes(img.size),
        format,
    ]
}

fn or_dash(s: String) -> String {
    if s.is_empty() { "-".into() } else { s }
}

/// What is wrong with the image, if anything, in a few words, and how loud to say it.
///
/// A lock (or a watch) from a node that runs no live pod using the image is stale: the
/// kubelet of that node never released it, and a pod elsewhere cannot mount the image
/// while it is there ("rbd: image ... is locked by other nodes"). It is an error while
/// a pod waits for the image, a warning otherwise (it will block the next mount).
pub fn verdict(u: &ImageUse) -> (String, Tone) {
    let users = u.user_nodes();
    // Pods that mount the claim but do not run (yet): waiting for the image.
    let waiting = u
        .pods
        .iter()
        .any(|p| !p.terminating && p.phase != "Running" && p.phase != "Succeeded");
    for l in &u.locks {
        match l.holder.node() {
            Some(node) if !users.contains(&node) => {
                let tone = if waiting || !users.is_empty() {
                    Tone::Error
                } else {
                    Tone::Warning
                };
                return (format!("stale lock: {node} runs no user"), tone);
            }
            None => {
                let who = l
                    .holder
                    .addr
                    .map(|a| a.ip.to_string())
                    .unwrap_or_else(|| l.lock.address.clone());
                return (format!("locked by unknown client {who}"), Tone::Warning);
            }
            Some(_) => {}
        }
        if l.holder.conflict() {
            let cookie = l
                .holder
                .by_cookie
                .as_ref()
                .and_then(|c| c.node.clone())
                .unwrap_or_default();
            let addr = l.holder.by_address.clone().unwrap_or_default();
            return (
                format!("lock cookie names {cookie}, address is {addr}"),
                Tone::Warning,
            );
        }
    }
    for w in &u.watchers {
        if let Some(node) = w.holder.node()
            && !users.contains(&node)
        {
            return (format!("stale watch: {node} runs no user"), Tone::Warning);
        }
    }
    if waiting {
        return ("pod waiting".into(), Tone::Warning);
    }
    match (&u.pv, u.pv_phase.as_deref()) {
        (None, _) if u.locks.is_empty() && u.watchers.is_empty() => {
            return ("no PV".into(), Tone::Muted);
        }
        (None, _) => return ("no PV, in use".into(), Tone::Warning),
        (Some(_), Some(phase)) if phase != "Bound" => {
            return (format!("PV {phase}"), Tone::Warning);
        }
        _ => {}
    }
    if !users.is_empty() || !u.watchers.is_empty() || !u.locks.is_empty() {
        ("in use".into(), Tone::Ok)
    } else {
        ("idle".into(), Tone::Normal)
    }
}

fn seg(role: Tone, text: impl Into<String>) -> (Tone, String) {
    (role, text.into())
}

/// `label  value` with the label muted and padded.
fn field(label: &str, value: impl Into<String>, role: Tone) -> Segments {
    vec![seg(Tone::Muted, format!("{label:<10}")), seg(role, value)]
}

/// The node behind a holder, by each clue, in words.
fn holder_words(h: &Holder, with_cookie: bool) -> String {
    let mut parts = Vec::new();
    if with_cookie {
        parts.push(match &h.by_cookie {
            Some(c) => match &c.node {
                Some(n) => format!("by cookie: {n}"),
                None => format!("by cookie: {} (no such node)", c.host),
            },
            None => "by cookie: -".to_string(),
        });
    }
    parts.push(match (&h.by_address, h.addr) {
        (Some(n), _) => format!("by address: {n}"),
        (None, Some(a)) => format!("by address: none ({} is no node's)", a.ip),
        (None, None) => "by address: unparsable".to_string(),
    });
    parts.join(", ")
}

fn detail_lines(u: &ImageUse, verdict: &str, tone: Tone) -> Vec<Segments> {
    let img = &u.image;
    let mut out = vec![
        vec![
            seg(Tone::Header, img.spec()),
            seg(Tone::Muted, "  "),
            seg(tone, verdict),
        ],
        field(
            "image",
            format!(
                "{}, format {}, id {}, {} objects of {}",
                human_bytes(img.size),
                img.format,
                img.id,
                img.num_objects,
                human_bytes(img.object_size)
            ),
            Tone::Normal,
        ),
        field("features", img.feature_names().join(", "), Tone::Normal),
    ];
    if u.locks.is_empty() {
        out.push(field("locks", "none", Tone::Muted));
    }
    for (i, l) in u.locks.iter().enumerate() {
        let label = if i == 0 { "locks" } else { "" };
        let role = if l.holder.conflict() {
            Tone::Warning
        } else {
            Tone::Normal
        };
        out.push(field(
            label,
            format!(
                "{}: locker {}, cookie {}, address {}",
                lock_kind(l),
                l.lock.locker,
                l.lock.cookie,
                l.lock.address
            ),
            role,
        ));
        let mut held = format!(
            "  held by {} ({})",
            l.holder.node().unwrap_or("no known node"),
            holder_words(&l.holder, true)
        );
        if l.holder.conflict() {
            held.push_str(" - conflict: cookie and address name different nodes");
        }
        out.push(field("", held, role));
    }
    if u.watchers.is_empty() {
        out.push(field("watchers", "none", Tone::Muted));
    }
    for (i, w) in u.watchers.iter().enumerate() {
        let label = if i == 0 { "watchers" } else { "" };
        out.push(field(
            label,
            format!(
                "{} at {} on {} ({})",
                w.watcher.entity(),
                w.watcher.address,
                w.holder.node().unwrap_or("no known node"),
                holder_words(&w.holder, false)
            ),
            Tone::Normal,
        ));
    }
    let pv = match (&u.pv, &u.pv_phase) {
        (Some(pv), Some(phase)) => format!("{pv} ({phase})"),
        (Some(pv), None) => pv.clone(),
        (None, _) => "none (no PV names this image)".into(),
    };
    out.push(field("PV", pv, Tone::Normal));
    out.push(field(
        "PVC",
        u.pvc
            .as_ref()
            .map(|(ns, n)| format!("{ns}/{n}"))
            .unwrap_or_else(|| "none".into()),
        Tone::Normal,
    ));
    if u.pods.is_empty() {
        out.push(field("pods", "none", Tone::Muted));
    }
    for (i, p) in u.pods.iter().enumerate() {
        let label = if i == 0 { "pods" } else { "" };
        let node = if p.node.is_empty() {
            "unscheduled"
        } else {
            &p.node
        };
        let gone = if p.terminating { ", terminating" } else { "" };
        out.push(field(
            label,
            format!("{}/{} on {node} ({}{gone})", p.namespace, p.name, p.phase),
            Tone::Normal,
        ));
    }
    out
}

fn health_role(severity: &str) -> Tone {
    match severity {
        "HEALTH_OK" => Tone::Ok,
        "HEALTH_ERR" => Tone::Error,
        _ => Tone::Warning,
    }
}

fn check_lines(c: &HealthCheck) -> Vec<Segments> {
    let sev = c.severity.strip_prefix("HEALTH_").unwrap_or(&c.severity);
    let muted = if c.muted { " (muted)" } else { "" };
    let role = if c.muted {
        Tone::Muted
    } else {
        health_role(&c.severity)
    };
    let mut out = vec![vec![
        seg(Tone::Muted, format!("{:<10}", "")),
        seg(role, format!("{sev:<5}")),
        seg(Tone::Header, format!("{}{muted}", c.code)),
        seg(Tone::Normal, format!(": {}", c.summary)),
    ]];
    for d in &c.details {
        out.push(vec![
            seg(Tone::Muted, format!("{:<16}", "")),
            seg(Tone::Muted, d.clone()),
        ]);
    }
    out
}

fn blocklist_line(b: &BlocklistEntry, now: Timestamp) -> Segments {
    let kind = if b.range { "range " } else { "" };
    let until = match b.expires {
        Some(t) if t > now => format!("until {} (in {})", b.until, human_since(now, t)),
        Some(_) => format!("until {} (expired)", b.until),
        None => format!("until {}", b.until),
    };
    vec![
        seg(Tone::Muted, format!("{:<10}", "")),
        seg(Tone::Warning, format!("{kind}{}", b.addr)),
        seg(Tone::Muted, format!("  {until}")),
    ]
}

fn cluster_lines(report: &CephReport, now: Timestamp) -> Vec<Segments> {
    let Some(data) = &report.data else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let status = if data.health.status.is_empty() {
        "unknown".to_string()
    } else {
        data.health.status.clone()
    };
    out.push(field("health", status, health_role(&data.health.status)));
    for c in &data.health.checks {
        out.extend(check_lines(c));
    }
    let o = &data.osd;
    let osd_role = if o.num_up_osds < o.num_osds || o.num_in_osds < o.num_osds {
        Tone::Warning
    } else {
        Tone::Ok
    };
    let mut osds = format!(
        "{} up, {} in, of {} (epoch {})",
        o.num_up_osds, o.num_in_osds, o.num_osds, o.epoch
    );
    if o.num_remapped_pgs > 0 {
        osds.push_str(&format!(", {} remapped PGs", o.num_remapped_pgs));
    }
    out.push(field("OSDs", osds, osd_role));
    if data.rbd_pools.is_empty() {
        out.push(field(
            "RBD pools",
            "none (no pool has the rbd application)",
            Tone::Warning,
        ));
    }
    for (i, p) in data.rbd_pools.iter().enumerate() {
        let label = if i == 0 { "RBD pools" } else { "" };
        let images = data.images.iter().filter(|im| im.pool == p.name).count();
        let text = match data.df.pool(&p.name) {
            Some(u) => format!(
                "{}: {}, stored {}, {:.2}% used, {} max avail",
                p.name,
                count(images, "image", "images"),
                human_bytes(u.stored),
                u.percent_used * 100.0,
                human_bytes(u.max_avail)
            ),
            None => format!(
                "{}: {}, usage unknown",
                p.name,
                count(images, "image", "images")
            ),
        };
        let role = match data.df.pool(&p.name) {
            Some(u) if u.percent_used >= 0.85 => Tone::Error,
            Some(u) if u.percent_used >= 0.75 => Tone::Warning,
            _ => Tone::Normal,
        };
        out.push(field(label, text, role));
    }
    if data.blocklist.is_empty() {
        out.push(field("blocklist", "empty", Tone::Muted));
    } else {
        out.push(field(
            "blocklist",
            count(data.blocklist.len(), "entry", "entries"),
            Tone::Warning,
        ));
        out.extend(data.blocklist.iter().map(|b| blocklist_line(b, now)));
    }
    let fencing = match &data.fencing {
        FencePermission::Unknown => ("not checked yet".to_string(), Tone::Muted),
        FencePermission::Allowed => (format!("{} may blocklist clients", report.entity), Tone::Ok),
        FencePermission::Denied { .. } => (
            format!(
                "{} may not blocklist clients; fix: {}",
                report.entity,
                fence_caps_fix(&report.entity, None)
            ),
            Tone::Warning,
        ),
        FencePermission::CheckFailed(e) => (format!("cannot tell: {e}"), Tone::Warning),
    };
    out.push(field("fencing", fencing.0, fencing.1));
    for (what, e) in &data.image_errors {
        out.push(field("unreadable", format!("{what}: {e}"), Tone::Error));
    }
    out
}

/// ceph-csi's node plugin (`csi-rbdplugin`) on each node: a Ready pod, a pod that is
/// not Ready (with its status), or none; nothing when the cluster does not run it.
fn csi_plugin_lines(snapshot: &Snapshot) -> Vec<Segments> {
    use crate::diagnose::csi::{plugin_daemonsets, plugin_pods, plugin_serves};
    let sets = plugin_daemonsets(snapshot);
    if sets.is_empty() {
        return Vec::new();
    }
    let pods = plugin_pods(snapshot, &sets);
    let mut out = Vec::new();
    for (i, n) in snapshot.nodes.iter().enumerate() {
        let node = n.metadata.name.as_deref().unwrap_or_default();
        let here: Vec<_> = pods
            .iter()
            .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node))
            .collect();
        let (text, tone) = match here.iter().find(|p| plugin_serves(p)) {
            Some(p) => (
                format!(
                    "{node}: {} Ready",
                    p.metadata.name.as_deref().unwrap_or_default()
                ),
                Tone::Ok,
            ),
            None => match here.first() {
                Some(p) => (
                    format!(
                        "{node}: {} not Ready ({})",
                        p.metadata.name.as_deref().unwrap_or_default(),
                        crate::model::pod_status::pod_status(p)
                    ),
                    Tone::Error,
                ),
                None => (format!("{node}: no node plugin pod"), Tone::Warning),
            },
        };
        out.push(field(if i == 0 { "ceph-csi" } else { "" }, text, tone));
    }
    out
}

/// The one-line summary of the images-focused layout.
fn brief(report: &CephReport, rows: &[Arc<TableRow>]) -> Segments {
    let Some(data) = &report.data else {
        return Vec::new();
    };
    let problems = rows
        .iter()
        .filter(|r| matches!(r.tone, Tone::Error | Tone::Warning))
        .count();
    vec![
        seg(
            health_role(&data.health.status),
            if data.health.status.is_empty() {
                "unknown".to_string()
            } else {
                data.health.status.clone()
            },
        ),
        seg(
            Tone::Muted,
            format!(
                "  OSDs {} up / {} in of {}  images {}  ",
                data.osd.num_up_osds,
                data.osd.num_in_osds,
                data.osd.num_osds,
                rows.len()
            ),
        ),
        seg(
            if problems > 0 {
                Tone::Warning
            } else {
                Tone::Ok
            },
            format!("{problems} with problems"),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::ceph::holders::{NodeIndex, lock_holder, watcher_holder};
    use crate::ceph::{ImageInfo, LockerInfo, WatcherInfo};
    use crate::model::rbd_map::{HeldWatch, ImagePod};

    fn nodes() -> NodeIndex {
        let ip = |s: &str| s.parse().unwrap_or_else(|e| panic!("{s}: {e}"));
        NodeIndex::new([("node1", ip("198.18.1.11")), ("node2", ip("198.18.1.12"))])
    }

    /// An image with a PV and claim, a kubelet lock and a watch from `holder_ip`,
    /// and one pod of `phase` on `pod_node`.
    fn image_use(holder_ip: &str, cookie_host: &str, pod_node: &str, phase: &str) -> ImageUse {
        let lock = LockerInfo {
            locker: "client.4140".into(),
            cookie: format!("kubelet_lock_magic_{cookie_host}"),
            address: format!("{holder_ip}:0/1"),
            tag: String::new(),
            exclusive: true,
        };
        let watcher = WatcherInfo {
            address: format!("{holder_ip}:0/2"),
            client_id: 4141,
            cookie: 1,
        };
        let n = nodes();
        ImageUse {
            image: ImageInfo {
                pool: "rbd".into(),
                name: "img".into(),
                id: "1".into(),
                size: 1 << 30,
                object_size: 4 << 20,
                num_objects: 256,
                order: 22,
                format: 2,
                features: 1,
                block_name_prefix: "rbd_data.1".into(),
                lockers: vec![lock.clone()],
                watchers: vec![watcher.clone()],
            },
            pv: Some("pv1".into()),
            pv_phase: Some("Bound".into()),
            pvc: Some(("default".into(), "data".into())),
            pods: vec![ImagePod {
                namespace: "default".into(),
                name: "app-0".into(),
                node: pod_node.into(),
                phase: phase.into(),
                terminating: false,
            }],
            locks: vec![HeldLock {
                holder: lock_holder(&lock, &n),
                lock,
            }],
            watchers: vec![HeldWatch {
                holder: watcher_holder(&watcher, &n),
                watcher,
            }],
        }
    }

    #[test]
    fn verdicts_name_the_stale_holder() {
        // node1's kubelet died holding the lock; the pod rescheduled to node2 waits.
        let stale = image_use("198.18.1.11", "node1", "node2", "Pending");
        assert_eq!(
            verdict(&stale),
            ("stale lock: node1 runs no user".to_string(), Tone::Error)
        );
        let cells = row_cells(&stale, "v");
        assert_eq!(cells[3], "excl kubelet_lock_magic_node1 @node1");
        assert_eq!(cells[4], "app-0@node2");
        assert_eq!(cells[5], "node1");
        // The holder runs the pod: fine.
        let fine = image_use("198.18.1.12", "node2", "node2", "Running");
        assert_eq!(verdict(&fine), ("in use".to_string(), Tone::Ok));
        // Taken for node2 by a client on node1: both clues shown, node1 is the holder.
        let moved = image_use("198.18.1.11", "node2", "node1", "Running");
        assert_eq!(
            verdict(&moved),
            (
                "lock cookie names node2, address is node1".to_string(),
                Tone::Warning
            )
        );
        assert_eq!(
            row_cells(&moved, "v")[3],
            "excl kubelet_lock_magic_node2 @node1 (cookie: node2)"
        );
        // A client no node has.
        let unknown = image_use("203.0.113.9", "gone", "node2", "Pending");
        assert_eq!(
            verdict(&unknown),
            (
                "locked by unknown client 203.0.113.9".to_string(),
                Tone::Warning
            )
        );
        // Nobody uses it, nothing holds it.
        let mut idle = image_use("198.18.1.11", "node1", "node1", "Running");
        idle.locks.clear();
        idle.watchers.clear();
        idle.pods.clear();
        assert_eq!(verdict(&idle), ("idle".to_string(), Tone::Normal));
        idle.pv = None;
        assert_eq!(verdict(&idle), ("no PV".to_string(), Tone::Muted));
    }

    #[test]
    fn bytes_read_like_rbd_ls() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(2 << 30), "2 GiB");
        assert_eq!(human_bytes(1536 * 1024), "1.5 MiB");
        assert_eq!(human_bytes(4 << 20), "4 MiB");
    }

    #[test]
    fn ceph_csi_node_plugin_health_per_node() {
        use crate::diagnose::csi::fixtures::{healthy, plugin_down};
        let text = |v: &CephView| -> Vec<(Tone, String)> {
            v.cluster
                .iter()
                .filter(|l| l.len() == 2)
                .skip_while(|l| l[0].1.trim() != "ceph-csi")
                .map(|l| (l[1].0, l[1].1.clone()))
                .collect()
        };
        let mut s = healthy();
        assert_eq!(
            text(&derive(&s)),
            [
                (Tone::Ok, "master: csi-rbdplugin-master Ready".to_string()),
                (
                    Tone::Ok,
                    "worker-a: csi-rbdplugin-worker-a Ready".to_string()
                ),
                (
                    Tone::Ok,
                    "worker-b: csi-rbdplugin-worker-b Ready".to_string()
                ),
            ]
        );
        plugin_down(&mut s, "worker-a");
        s.pods
            .retain(|p| p.metadata.name.as_deref() != Some("csi-rbdplugin-worker-b"));
        let lines = text(&derive(&s));
        assert_eq!(
            lines[1],
            (
                Tone::Error,
                "worker-a: csi-rbdplugin-worker-a not Ready (CrashLoopBackOff)".to_string()
            )
        );
        assert_eq!(
            lines[2],
            (Tone::Warning, "worker-b: no node plugin pod".to_string())
        );
    }
}
