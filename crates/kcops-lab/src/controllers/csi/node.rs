//! The node plugin's NodeStageVolume/NodeUnstageVolume as the lab kubelet plays them:
//! staging maps the image with the node's kernel client, played by an `rbd watch`
//! started in the node's network namespace (a watcher at the node's address). The
//! watchers live in the lab, not in a pod worker: a node that dies keeps its watchers
//! running as a hung node's kernel client does, until fencing (a blocklist of the node's
//! address) breaks the watch or the node reboots.

use std::collections::HashMap;
use std::process::Child;
use std::sync::{Mutex, OnceLock};

use serde_json::Value;

use super::super::{Ctx, str_of};
use crate::rbd;

/// Why a stage did not happen (yet).
pub(crate) enum StageWait {
    /// The VolumeAttachment is not attached yet: the kubelet waits without an Event.
    Unattached,
    /// NodeStageVolume failed: the FailedMount message.
    Failed(String),
}

/// `(node, pool/image)` -> the node's kernel client of that image.
fn watchers() -> &'static Mutex<HashMap<(String, String), Child>> {
    static W: OnceLock<Mutex<HashMap<(String, String), Child>>> = OnceLock::new();
    W.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Whether `node` has `spec` staged: its watcher runs. A watcher that ended (its watch
/// broken by a blocklist) is forgotten.
pub(crate) fn staged(node: &str, spec: &str) -> bool {
    let mut w = watchers().lock().unwrap_or_else(|p| p.into_inner());
    let key = (node.to_string(), spec.to_string());
    let running = w
        .get_mut(&key)
        .is_some_and(|c| matches!(c.try_wait(), Ok(None)));
    if !running {
        w.remove(&key);
    }
    running
}

/// NodeUnstageVolume: unmaps (ends the watcher).
pub(crate) fn unstage(node: &str, spec: &str) {
    let child = watchers()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&(node.to_string(), spec.to_string()));
    if let Some(c) = child {
        stop(c);
    }
}

/// A node back from a crash has no kernel mappings left.
pub(crate) fn node_rebooted(node: &str) {
    let gone: Vec<Child> = {
        let mut w = watchers().lock().unwrap_or_else(|p| p.into_inner());
        let keys: Vec<_> = w.keys().filter(|(n, _)| n == node).cloned().collect();
        keys.into_iter().filter_map(|k| w.remove(&k)).collect()
    };
    gone.into_iter().for_each(stop);
}

fn stop(mut c: Child) {
    drop(c.stdin.take());
    let _ = c.kill();
    let _ = c.wait();
}

/// The kubelet's MountDevice of a ceph-csi PV on `node`: the VolumeAttachment must be
/// attached, the node plugin registered, and (ReadWriteOnce) no other node's watcher
/// on the image; then the node's watcher starts.
pub(crate) async fn stage(ctx: &Ctx, pv: &Value, node: &str, spec: &str) -> Result<(), StageWait> {
    let pv_name = str_of(pv, &["metadata", "name"]);
    if !super::attacher::attached(ctx, pv, node) {
        return Err(StageWait::Unattached);
    }
    let mount_failed = |why: String| {
        StageWait::Failed(format!(
            "MountVolume.MountDevice failed for volume \"{pv_name}\" : {why}"
        ))
    };
    if !super::plugin_ready(ctx, node) {
        return Err(mount_failed(format!(
            "kubernetes.io/csi: attacher.MountDevice failed to create newCsiDriverClient: driver \
             name {} not found in the list of registered CSI drivers",
            super::DRIVER
        )));
    }
    if staged(node, spec) {
        return Ok(());
    }
    // The node plugin finds the cluster's monitors by the volume's clusterID.
    let cluster = str_of(pv, &["spec", "csi", "volumeAttributes", "clusterID"]);
    if !super::known_cluster(ctx, cluster) {
        let handle = str_of(pv, &["spec", "csi", "volumeHandle"]);
        return Err(mount_failed(format!(
            "rpc error: code = Internal desc = error generating volume {handle}: failed to fetch \
             monitor list using clusterID ({cluster}): missing configuration for cluster ID \
             \"{cluster}\""
        )));
    }
    let Some(ceph) = &ctx.ceph else {
        return Ok(());
    };
    let node_ip = ctx.nodes.get(node).map(|n| n.ip);
    let rwo = pv["spec"]["accessModes"]
        .as_array()
        .is_some_and(|m| m.len() == 1 && m[0] == "ReadWriteOnce");
    if rwo {
        let found = rbd::status_watchers(ceph.admin_rbd(), spec)
            .await
            .map_err(|e| {
                mount_failed(format!(
                    "rpc error: code = Internal desc = fail to check rbd image status with: \
                     ({e:#}), rbd output: ()"
                ))
            })?;
        let elsewhere = found.iter().any(|a| {
            rbd::address_ip(a).is_none_or(|ip| Some(ip) != node_ip.map(std::net::IpAddr::V4))
        });
        if elsewhere {
            return Err(mount_failed(format!(
                "rpc error: code = Internal desc = rbd image {spec} is still being used"
            )));
        }
    }
    let log = ctx
        .paths
        .logs()
        .join(format!("watch-{node}-{}.log", spec.replace('/', "_")));
    let child = rbd::spawn_watcher(ceph.node_rbd(node), spec, Some(&log)).map_err(|e| {
        mount_failed(format!(
            "rpc error: code = Internal desc = rbd: map failed {e:#}"
        ))
    })?;
    watchers()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert((node.to_string(), spec.to_string()), child);
    Ok(())
}
