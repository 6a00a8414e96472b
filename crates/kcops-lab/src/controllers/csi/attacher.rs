//! The attach/detach controller (with the external-attacher's ControllerPublish) for
//! ceph-csi PVs: a VolumeAttachment per (volume, node) that a scheduled pod needs,
//! attached at once; the Multi-Attach rule for ReadWriteOnce volumes; a detach once no
//! pod on the node uses the volume and the node unstaged it, forced after 6 minutes
//! (scaled by the lab's speed) of an unhealthy node, or at once when the node has the
//! `node.kubernetes.io/out-of-service` taint (whose pods the pod GC then deletes).

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::super::kubelet::{pvc_names, rbd_image_spec};
use super::super::{Ctx, is_deleting, str_of};
use super::{DRIVER, attachment_name, is_csi_pv};

/// How long the controller waits for an unhealthy node to unmount before it detaches
/// anyway (`maxWaitForUnmountDuration`).
const MAX_WAIT_FOR_UNMOUNT: Duration = Duration::from_secs(6 * 60);
/// The taint of a non-graceful node shutdown.
pub const OUT_OF_SERVICE: &str = "node.kubernetes.io/out-of-service";

/// Since when each VolumeAttachment has been waiting for its node to unmount.
fn waiting() -> &'static Mutex<HashMap<String, Instant>> {
    static W: OnceLock<Mutex<HashMap<String, Instant>>> = OnceLock::new();
    W.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The (volume, node) pairs whose Multi-Attach error was reported: the controller
/// reports it once while the pair stays wanted (`MultiAttachErrorReported`).
fn reported() -> &'static Mutex<HashSet<(String, String)>> {
    static R: OnceLock<Mutex<HashSet<(String, String)>>> = OnceLock::new();
    R.get_or_init(|| Mutex::new(HashSet::new()))
}

/// Whether the PV's VolumeAttachment to `node` exists and is attached.
pub(crate) fn attached(ctx: &Ctx, pv: &Value, node: &str) -> bool {
    let handle = str_of(pv, &["spec", "csi", "volumeHandle"]);
    ctx.store
        .get_value(
            &ctx.kinds.volume_attachments,
            "",
            &attachment_name(handle, node),
        )
        .is_some_and(|va| va["status"]["attached"] == true && !is_deleting(&va))
}

fn node_has_taint(node: &Value, key: &str) -> bool {
    node["spec"]["taints"]
        .as_array()
        .is_some_and(|ts| ts.iter().any(|t| t["key"] == key))
}

fn node_ready(node: &Value) -> bool {
    node["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

fn tolerates(pod: &Value, key: &str) -> bool {
    pod["spec"]["tolerations"].as_array().is_some_and(|ts| {
        ts.iter().any(|t| {
            (t["operator"] == "Exists" && t["key"].as_str().unwrap_or_default().is_empty())
                || t["key"] == key
        })
    })
}

pub(crate) fn reconcile(ctx: &Ctx) {
    let nodes: HashMap<String, Value> = ctx
        .store
        .list(&ctx.kinds.nodes, None)
        .iter()
        .map(|e| (e.field("metadata.name").to_string(), e.value()))
        .collect();
    out_of_service_gc(ctx, &nodes);
    let pvs: HashMap<String, Value> = ctx
        .store
        .list(&ctx.kinds.pvs, None)
        .iter()
        .map(|e| e.value())
        .filter(is_csi_pv)
        .map(|pv| (str_of(&pv, &["metadata", "name"]).to_string(), pv))
        .collect();
    let vas = attachments(ctx);
    // What scheduled pods need: (pv, node) -> the pods.
    let mut desired: HashMap<(String, String), Vec<Value>> = HashMap::new();
    for entry in ctx.store.list(&ctx.kinds.pods, None) {
        let pod = entry.value();
        let node = str_of(&pod, &["spec", "nodeName"]);
        if node.is_empty() || matches!(str_of(&pod, &["status", "phase"]), "Succeeded" | "Failed") {
            continue;
        }
        let ns = str_of(&pod, &["metadata", "namespace"]);
        for (_, claim) in pvc_names(&pod) {
            let Some(pvc) = ctx.store.get_value(&ctx.kinds.pvcs, ns, &claim) else {
                continue;
            };
            let pv = str_of(&pvc, &["spec", "volumeName"]);
            if pvs.contains_key(pv) {
                desired
                    .entry((pv.to_string(), node.to_string()))
                    .or_default()
                    .push(pod.clone());
            }
        }
    }
    detach(ctx, &vas, &desired, &pvs, &nodes);
    attach(ctx, &desired, &pvs);
    reported()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .retain(|pair| desired.contains_key(pair));
}

/// The pod GC's part of a non-graceful shutdown: on a NotReady node with the
/// out-of-service taint, pods that do not tolerate it are deleted at once.
fn out_of_service_gc(ctx: &Ctx, nodes: &HashMap<String, Value>) {
    for (name, node) in nodes {
        if !node_has_taint(node, OUT_OF_SERVICE) || node_ready(node) {
            continue;
        }
        for p in ctx.store.pods_on_node(&ctx.kinds.pods, name) {
            let pod = p.value();
            if tolerates(&pod, OUT_OF_SERVICE) {
                continue;
            }
            let _ = ctx.store.delete(
                &ctx.kinds.pods,
                p.field("metadata.namespace"),
                p.field("metadata.name"),
                Some(0),
                Some(&p.uid),
            );
        }
    }
}

fn detach(
    ctx: &Ctx,
    vas: &[Value],
    desired: &HashMap<(String, String), Vec<Value>>,
    pvs: &HashMap<String, Value>,
    nodes: &HashMap<String, Value>,
) {
    let mut waiting = waiting().lock().unwrap_or_else(|p| p.into_inner());
    let mut seen = HashSet::new();
    for va in vas {
        let name = str_of(va, &["metadata", "name"]).to_string();
        let pv = str_of(va, &["spec", "source", "persistentVolumeName"]).to_string();
        let node = str_of(va, &["spec", "nodeName"]).to_string();
        seen.insert(name.clone());
        if desired.contains_key(&(pv.clone(), node.clone())) {
            waiting.remove(&name);
            continue;
        }
        let in_use = pvs
            .get(&pv)
            .and_then(rbd_image_spec)
            .is_some_and(|spec| super::node::staged(&node, &spec));
        let unhealthy_since = match nodes.get(&node) {
            Some(n) if !node_ready(n) => {
                Some(*waiting.entry(name.clone()).or_insert_with(Instant::now))
            }
            _ => {
                waiting.remove(&name);
                None
            }
        };
        let waited = unhealthy_since.map(|s| s.elapsed());
        let max = ctx.knobs.scaled(MAX_WAIT_FOR_UNMOUNT);
        if !detach_due(in_use, nodes.get(&node), waited, max) {
            continue;
        }
        if in_use {
            tracing::info!(
                volume = pv,
                node,
                "attach/detach controller: forced detach of a volume still mounted on an unhealthy node"
            );
        }
        waiting.remove(&name);
        let _ = ctx
            .store
            .delete(&ctx.kinds.volume_attachments, "", &name, Some(0), None);
    }
    waiting.retain(|k, _| seen.contains(k));
}

/// Whether a VolumeAttachment no pod needs any more is detached now: at once when the
/// node unstaged the volume, is gone or has the out-of-service taint; after `max` of
/// the node being unhealthy (`waited`) otherwise; never while a healthy node still has
/// it staged.
fn detach_due(in_use: bool, node: Option<&Value>, waited: Option<Duration>, max: Duration) -> bool {
    match node {
        _ if !in_use => true,
        None => true,
        Some(n) if node_has_taint(n, OUT_OF_SERVICE) => true,
        Some(_) => waited.is_some_and(|w| w >= max),
    }
}

/// ceph-csi's VolumeAttachments as the store has them now (read again after the
/// detach pass, so an attachment it removed no longer blocks one elsewhere).
fn attachments(ctx: &Ctx) -> Vec<Value> {
    ctx.store
        .list(&ctx.kinds.volume_attachments, None)
        .iter()
        .map(|e| e.value())
        .filter(|va| va["spec"]["attacher"] == DRIVER)
        .collect()
}

fn attach(
    ctx: &Ctx,
    desired: &HashMap<(String, String), Vec<Value>>,
    pvs: &HashMap<String, Value>,
) {
    let vas = attachments(ctx);
    for ((pv_name, node), pods) in desired {
        let Some(pv) = pvs.get(pv_name) else { continue };
        let handle = str_of(pv, &["spec", "csi", "volumeHandle"]);
        let name = attachment_name(handle, node);
        if vas.iter().any(|va| va["metadata"]["name"] == name.as_str()) {
            continue;
        }
        let rwo = pv["spec"]["accessModes"]
            .as_array()
            .is_some_and(|m| m.len() == 1 && m[0] == "ReadWriteOnce");
        let elsewhere = vas.iter().any(|va| {
            va["spec"]["source"]["persistentVolumeName"] == pv_name.as_str()
                && va["spec"]["nodeName"] != node.as_str()
        });
        if rwo && elsewhere {
            let fresh = reported()
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert((pv_name.clone(), node.clone()));
            if fresh {
                let users: Vec<&Value> = desired
                    .iter()
                    .filter(|((pv, n), _)| pv == pv_name && n != node)
                    .flat_map(|(_, pods)| pods)
                    .collect();
                multi_attach(ctx, pv_name, pods, &users);
            }
            continue;
        }
        let va = json!({
            "apiVersion": "storage.k8s.io/v1",
            "kind": "VolumeAttachment",
            "metadata": {"name": name, "annotations": {"csi.alpha.kubernetes.io/node-id": node}},
            "spec": {"attacher": DRIVER, "nodeName": node, "source": {"persistentVolumeName": pv_name}},
            "status": {"attached": true},
        });
        if let Err(e) = ctx.store.create(&ctx.kinds.volume_attachments, va) {
            tracing::warn!("cannot create VolumeAttachment {name}: {e}");
            continue;
        }
        // The external-attacher's ControllerPublish succeeded (ceph-csi's is a no-op).
        let _ = ctx
            .store
            .mutate(&ctx.kinds.volume_attachments, "", &name, None, |v| {
                v["status"] = json!({"attached": true});
                Ok(())
            });
    }
}

/// The FailedAttachVolume Event on each waiting pod, as `reportMultiAttachError` words
/// it: the pods of the pod's namespace that use the volume on other nodes, else (they
/// are gone, the node still has it) "already exclusively attached".
fn multi_attach(ctx: &Ctx, pv: &str, pods: &[Value], users: &[&Value]) {
    for pod in pods {
        let ns = str_of(pod, &["metadata", "namespace"]);
        let local: Vec<&str> = users
            .iter()
            .filter(|u| str_of(u, &["metadata", "namespace"]) == ns)
            .map(|u| str_of(u, &["metadata", "name"]))
            .collect();
        let others = users.len() - local.len();
        let why = match (local.is_empty(), others) {
            (true, 0) => {
                "Volume is already exclusively attached to one node and can't be attached to \
                 another"
                    .to_string()
            }
            (true, n) => format!("Volume is already used by {n} pod(s) in different namespaces"),
            (false, 0) => format!("Volume is already used by pod(s) {}", local.join(", ")),
            (false, n) => format!(
                "Volume is already used by pod(s) {} and {n} pod(s) in different namespaces",
                local.join(", ")
            ),
        };
        ctx.event(
            pod,
            "Warning",
            "FailedAttachVolume",
            &format!("Multi-Attach error for volume \"{pv}\" {why}"),
            "attachdetach-controller",
            None,
        );
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    fn node(ready: bool, taint: Option<&str>) -> Value {
        let mut n = json!({"status": {"conditions": [{"type": "Ready", "status": if ready { "True" } else { "Unknown" }}]}});
        if let Some(key) = taint {
            n["spec"]["taints"] =
                json!([{"key": key, "value": "nodeshutdown", "effect": "NoExecute"}]);
        }
        n
    }

    pub(in crate::controllers::csi) fn ctx() -> anyhow::Result<Ctx> {
        crate::controllers::test_ctx_of(
            std::sync::Arc::new(crate::api::store::Store::new(100)),
            "attacher",
            "name: t\nstorage: ceph-csi\nnodes: [{name: w1}, {name: w2}]\n",
        )
    }

    fn pod(ctx: &Ctx, name: &str, node: &str) -> anyhow::Result<Value> {
        let mut p = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "shop"},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "postgres"}],
                     "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]}});
        crate::api::defaults::apply("Pod", &mut p);
        Ok(ctx
            .store
            .create(&ctx.kinds.pods, p)
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .value())
    }

    /// A scheduled pod's volume is attached to its node under the controller's name; a
    /// second pod on another node meets Multi-Attach; once the first pod is gone (and
    /// nothing is staged) the attachment moves.
    #[test]
    fn attachments_follow_pods_with_the_multi_attach_rule() -> anyhow::Result<()> {
        let ctx = ctx()?;
        let create = |rt: &crate::api::resources::ResourceType, mut v: Value, kind: &str| {
            crate::api::defaults::apply(kind, &mut v);
            ctx.store.create(rt, v).map_err(|e| anyhow::anyhow!("{e}"))
        };
        for n in ["w1", "w2"] {
            create(
                &ctx.kinds.nodes,
                json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": n},
                "status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
                "Node",
            )?;
        }
        let handle = super::super::volume_handle("f-1", 2, "6e696bba-064f-11ec-a251-0242ac110002");
        create(
            &ctx.kinds.pvs,
            json!({"apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": "pvc-1"},
            "spec": {"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"},
                     "csi": {"driver": DRIVER, "volumeHandle": handle,
                             "volumeAttributes": {"pool": "rbd", "imageName": "csi-vol-6e696bba-064f-11ec-a251-0242ac110002"}}}}),
            "PersistentVolume",
        )?;
        create(
            &ctx.kinds.pvcs,
            json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data", "namespace": "shop"},
            "spec": {"accessModes": ["ReadWriteOnce"], "volumeName": "pvc-1", "resources": {"requests": {"storage": "1Gi"}}}}),
            "PersistentVolumeClaim",
        )?;
        let vas = |ctx: &Ctx| -> Vec<(String, String, bool)> {
            ctx.store
                .list(&ctx.kinds.volume_attachments, None)
                .iter()
                .map(|e| {
                    let v = e.value();
                    (
                        str_of(&v, &["metadata", "name"]).to_string(),
                        str_of(&v, &["spec", "nodeName"]).to_string(),
                        v["status"]["attached"] == true,
                    )
                })
                .collect()
        };
        pod(&ctx, "db-0", "w1")?;
        reconcile(&ctx);
        assert_eq!(
            vas(&ctx),
            vec![(attachment_name(&handle, "w1"), "w1".to_string(), true)]
        );
        let second = pod(&ctx, "db-1", "w2")?;
        reconcile(&ctx);
        assert_eq!(vas(&ctx).len(), 1);
        let events: Vec<Value> = ctx
            .store
            .list(&ctx.kinds.events, Some("shop"))
            .iter()
            .map(|e| e.value())
            .collect();
        let multi = events
            .iter()
            .find(|e| e["reason"] == "FailedAttachVolume")
            .ok_or_else(|| anyhow::anyhow!("no Multi-Attach event: {events:?}"))?;
        assert_eq!(multi["involvedObject"]["name"], second["metadata"]["name"]);
        assert_eq!(multi["source"]["component"], "attachdetach-controller");
        assert_eq!(
            multi["message"],
            "Multi-Attach error for volume \"pvc-1\" Volume is already used by pod(s) db-0"
        );
        ctx.store
            .delete(&ctx.kinds.pods, "shop", "db-0", Some(0), None)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        reconcile(&ctx);
        reconcile(&ctx);
        assert_eq!(
            vas(&ctx),
            vec![(attachment_name(&handle, "w2"), "w2".to_string(), true)]
        );
        Ok(())
    }

    /// The attach/detach controller's detach rules: unstaged volumes go at once; a
    /// volume still mounted on a healthy node stays; on an unhealthy node it stays for
    /// maxWaitForUnmountDuration, unless the node has the out-of-service taint.
    #[test]
    fn detach_waits_for_unmount_or_the_forced_detach() {
        let max = Duration::from_secs(360);
        let healthy = node(true, None);
        let lost = node(false, None);
        let shut = node(false, Some(OUT_OF_SERVICE));
        let other_taint = node(false, Some("node.kubernetes.io/unreachable"));
        assert!(detach_due(false, Some(&healthy), None, max));
        assert!(!detach_due(true, Some(&healthy), None, max));
        assert!(!detach_due(
            true,
            Some(&lost),
            Some(Duration::from_secs(359)),
            max
        ));
        assert!(detach_due(true, Some(&lost), Some(max), max));
        assert!(!detach_due(
            true,
            Some(&other_taint),
            Some(Duration::ZERO),
            max
        ));
        assert!(detach_due(true, Some(&shut), Some(Duration::ZERO), max));
        assert!(detach_due(true, None, None, max));
    }
}
