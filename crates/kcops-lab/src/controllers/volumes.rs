//! PV binding and the RBD provisioner: claims of a class whose provisioner is
//! `kubernetes.io/rbd` or `ceph.com/rbd` get a real image `kubernetes-dynamic-pvc-<uuid>`
//! and an in-tree `rbd` PV, as the old provisioner made them. Also the reclaim policy
//! and the pvc/pv-protection finalizers.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{Value, json};

use super::kubelet::{pvc_names, rbd_image_spec};
use super::{Ctx, is_deleting, str_of};
use crate::rbd;

fn in_flight() -> &'static Mutex<HashSet<String>> {
    static SET: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    SET.get_or_init(|| Mutex::new(HashSet::new()))
}

pub const RBD_PROVISIONERS: &[&str] = &["kubernetes.io/rbd", "ceph.com/rbd"];

fn default_class(ctx: &Ctx) -> Option<String> {
    ctx.store
        .list(&ctx.kinds.storage_classes, None)
        .into_iter()
        .map(|e| e.value())
        .find(|sc| {
            sc["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
        })
        .map(|sc| str_of(&sc, &["metadata", "name"]).to_string())
}

/// Size in MiB of a quantity like `1Gi`, `500Mi`, `2G`.
pub(crate) fn size_mb(q: &str) -> u64 {
    let digits: String = q.chars().take_while(|c| c.is_ascii_digit()).collect();
    let n: u64 = digits.parse().unwrap_or(1);
    match &q[digits.len()..] {
        "Ti" => n * 1024 * 1024,
        "Gi" => n * 1024,
        "Mi" => n,
        "Ki" => (n / 1024).max(1),
        "T" => n * 1_000_000,
        "G" => n * 1000,
        "M" => n,
        _ => (n / (1024 * 1024)).max(1),
    }
}

pub async fn reconcile(ctx: &Arc<Ctx>) {
    let pvs: Vec<Value> = ctx
        .store
        .list(&ctx.kinds.pvs, None)
        .iter()
        .map(|e| e.value())
        .collect();
    for entry in ctx.store.list(&ctx.kinds.pvcs, None) {
        let pvc = entry.value();
        if is_deleting(&pvc) {
            release_claim_protection(ctx, &pvc);
            continue;
        }
        if str_of(&pvc, &["status", "phase"]) != "Pending" {
            continue;
        }
        let class = pvc["spec"]["storageClassName"]
            .as_str()
            .map(str::to_string)
            .or_else(|| default_class(ctx))
            .unwrap_or_default();
        // A PV already made for (or pointing at) this claim, or a free static one.
        let candidate = pvs
            .iter()
            .find(|pv| pv["spec"]["claimRef"]["uid"] == entry.uid.as_str())
            .or_else(|| {
                pvs.iter().find(|pv| {
                    str_of(pv, &["status", "phase"]) == "Available"
                        && pv["spec"]["claimRef"].is_null()
                        && str_of(pv, &["spec", "storageClassName"]) == class
                        && (pvc["spec"]["volumeName"].is_null()
                            || pvc["spec"]["volumeName"] == pv["metadata"]["name"])
                })
            });
        if let Some(pv) = candidate {
            bind(ctx, &pvc, pv);
            continue;
        }
        let Some(sc) = ctx.store.get_value(&ctx.kinds.storage_classes, "", &class) else {
            continue;
        };
        let provisioner = str_of(&sc, &["provisioner"]).to_string();
        let csi = provisioner == super::csi::DRIVER;
        if !csi && !RBD_PROVISIONERS.contains(&provisioner.as_str()) {
            continue;
        }
        // ceph-csi's external-provisioner runs in its Deployment's pod: none Ready,
        // the claim stays Pending.
        if csi && !super::csi::provisioner::running(ctx) {
            continue;
        }
        if !backoff().due(&entry.uid) {
            continue;
        }
        let fresh = in_flight()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(entry.uid.clone());
        if fresh {
            let ctx = ctx.clone();
            tokio::spawn(async move {
                if csi {
                    provision_csi(&ctx, &pvc, &sc).await;
                } else {
                    provision(&ctx, &pvc, &sc, &provisioner).await;
                }
                let uid = str_of(&pvc, &["metadata", "uid"]).to_string();
                in_flight()
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&uid);
            });
        }
    }
    for pv in &pvs {
        reclaim(ctx, pv);
    }
}

/// The in-tree provisioner's image creation, as the class's `adminId` with its
/// keyring after reading `adminSecretName`: the error is worded as the plugin words it
/// (the `rbd` CLI's own output, no image name), so repeats fold into one Event.
async fn create_image(
    ctx: &Ctx,
    ceph: &super::CephAccess,
    sc: &Value,
    pool: &str,
    image: &str,
    size_mb: u64,
) -> Result<(), String> {
    let params = &sc["parameters"];
    let admin = params["adminId"].as_str().unwrap_or("admin");
    if let Some(secret) = params["adminSecretName"].as_str() {
        let ns = params["adminSecretNamespace"].as_str().unwrap_or("default");
        if ctx.store.get(&ctx.kinds.secrets, ns, secret).is_none() {
            return Err(format!(
                "failed to get admin secret from [\"{ns}\"/\"{secret}\"]: failed to get secret \
                 from [\"{ns}\"/\"{secret}\"]: secrets \"{secret}\" not found"
            ));
        }
    }
    let cmd = if admin == "admin" {
        ceph.admin_rbd()
    } else {
        ceph.user_rbd(None, admin)
    };
    // The in-tree plugin creates format 2 images with `layering` only.
    let features = vec!["layering".to_string()];
    rbd::create_image_with_features(cmd, pool, image, size_mb, &features)
        .await
        .map_err(|e| match rbd::cli_error(&e) {
            Some(cli) => format!(
                "failed to create rbd image: exit status {}, command output: {}",
                cli.errno().unwrap_or(1),
                cli.messages()
            ),
            None => format!("failed to create rbd image: {e:#}"),
        })
}

/// Per-claim retry back-off after a failed provisioning, doubling from 1 s to 32 s
/// (the external provisioner's exponential back-off, shortened for a lab): a class
/// that cannot work yields one Event with a growing count, not a storm.
struct Backoff {
    next: Mutex<std::collections::HashMap<String, (u32, std::time::Instant)>>,
}

fn backoff() -> &'static Backoff {
    static B: OnceLock<Backoff> = OnceLock::new();
    B.get_or_init(|| Backoff {
        next: Mutex::new(std::collections::HashMap::new()),
    })
}

impl Backoff {
    fn due(&self, uid: &str) -> bool {
        let next = self.next.lock().unwrap_or_else(|p| p.into_inner());
        next.get(uid)
            .is_none_or(|(_, at)| std::time::Instant::now() >= *at)
    }
    fn note_failure(&self, uid: &str) {
        let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
        let failures = next.get(uid).map_or(0, |(n, _)| *n);
        let delay = std::time::Duration::from_secs(1 << failures.min(5));
        next.insert(
            uid.to_string(),
            (failures + 1, std::time::Instant::now() + delay),
        );
    }
    fn forget(&self, uid: &str) {
        self.next
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(uid);
    }
}

async fn provision(ctx: &Ctx, pvc: &Value, sc: &Value, provisioner: &str) {
    let uid = str_of(pvc, &["metadata", "uid"]);
    // The reconcile that started this may have listed the PVs before an earlier
    // provisioning of the same claim created its PV: ask the store again, or a second
    // image would be made and left without a PV (an orphan image).
    if ctx
        .store
        .get_value(&ctx.kinds.pvs, "", &format!("pvc-{uid}"))
        .is_some()
    {
        return;
    }
    let pool = sc["parameters"]["pool"]
        .as_str()
        .unwrap_or("rbd")
        .to_string();
    let image = format!("kubernetes-dynamic-pvc-{}", uuid::Uuid::new_v4());
    let request = str_of(pvc, &["spec", "resources", "requests", "storage"]).to_string();
    let request = if request.is_empty() {
        "1Gi".to_string()
    } else {
        request
    };
    let class = str_of(sc, &["metadata", "name"]).to_string();
    let monitors: Vec<String> = match &ctx.ceph {
        Some(c) => {
            if let Err(why) = create_image(ctx, c, sc, &pool, &image, size_mb(&request)).await {
                let msg =
                    format!("Failed to provision volume with StorageClass \"{class}\": {why}");
                ctx.event(
                    pvc,
                    "Warning",
                    "ProvisioningFailed",
                    &msg,
                    "persistentvolume-controller",
                    None,
                );
                backoff().note_failure(uid);
                return;
            }
            c.monitors.split(',').map(str::to_string).collect()
        }
        None => sc["parameters"]["monitors"]
            .as_str()
            .unwrap_or_default()
            .split(',')
            .map(str::to_string)
            .collect(),
    };
    backoff().forget(uid);
    let pv_name = format!("pvc-{uid}");
    let user = sc["parameters"]["userId"].as_str().unwrap_or("kube");
    let secret = sc["parameters"]["userSecretName"]
        .as_str()
        .unwrap_or("ceph-secret-user");
    let mut secret_ref = json!({"name": secret});
    if let Some(ns) = sc["parameters"]["userSecretNamespace"].as_str() {
        secret_ref["namespace"] = json!(ns);
    }
    let mut pv = json!({
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": pv_name, "annotations": {"pv.kubernetes.io/provisioned-by": provisioner, "kubernetes.io/createdby": "rbd-dynamic-provisioner"}},
        "spec": {
            "capacity": {"storage": request},
            "accessModes": pvc["spec"]["accessModes"].clone(),
            "persistentVolumeReclaimPolicy": sc["reclaimPolicy"].as_str().unwrap_or("Delete"),
            "storageClassName": sc["metadata"]["name"].clone(),
            "volumeMode": "Filesystem",
            "claimRef": {"kind": "PersistentVolumeClaim", "apiVersion": "v1", "namespace": pvc["metadata"]["namespace"].clone(), "name": pvc["metadata"]["name"].clone(), "uid": uid},
            "rbd": {"monitors": monitors, "image": image, "pool": pool, "user": user, "keyring": "/etc/ceph/keyring", "secretRef": secret_ref, "fsType": sc["parameters"]["fsType"].as_str().unwrap_or("ext4")},
        },
    });
    crate::api::defaults::apply("PersistentVolume", &mut pv);
    match ctx.store.create(&ctx.kinds.pvs, pv) {
        Ok(_) => ctx.event(
            pvc,
            "Normal",
            "ProvisioningSucceeded",
            &format!("Successfully provisioned volume {pv_name} using {provisioner}"),
            "persistentvolume-controller",
            None,
        ),
        Err(e) => tracing::warn!("cannot create PV {pv_name}: {e}"),
    }
}

/// ceph-csi's provisioning of a claim, with the events the PV controller and the
/// external-provisioner record.
async fn provision_csi(ctx: &Ctx, pvc: &Value, sc: &Value) {
    let uid = str_of(pvc, &["metadata", "uid"]);
    if ctx
        .store
        .get_value(&ctx.kinds.pvs, "", &format!("pvc-{uid}"))
        .is_some()
    {
        return;
    }
    let component = super::csi::provisioner::identity(ctx);
    let component = component.as_str();
    let driver = super::csi::DRIVER;
    ctx.event(
        pvc,
        "Normal",
        "ExternalProvisioning",
        &format!(
            "Waiting for a volume to be created either by the external provisioner '{driver}' or \
             manually by the system administrator. If volume creation is delayed, please verify \
             that the provisioner is running and correctly registered."
        ),
        "persistentvolume-controller",
        None,
    );
    let claim = format!(
        "{}/{}",
        str_of(pvc, &["metadata", "namespace"]),
        str_of(pvc, &["metadata", "name"])
    );
    ctx.event(
        pvc,
        "Normal",
        "Provisioning",
        &format!("External provisioner is provisioning volume for claim \"{claim}\""),
        component,
        None,
    );
    match super::csi::provisioner::provision(ctx, pvc, sc).await {
        Ok(pv) => {
            backoff().forget(uid);
            ctx.event(
                pvc,
                "Normal",
                "ProvisioningSucceeded",
                &format!("Successfully provisioned volume {pv}"),
                component,
                None,
            );
        }
        Err(msg) => {
            backoff().note_failure(uid);
            ctx.event(pvc, "Warning", "ProvisioningFailed", &msg, component, None);
        }
    }
}

fn bind(ctx: &Ctx, pvc: &Value, pv: &Value) {
    let pv_name = str_of(pv, &["metadata", "name"]).to_string();
    let ns = str_of(pvc, &["metadata", "namespace"]).to_string();
    let claim = str_of(pvc, &["metadata", "name"]).to_string();
    let capacity = pv["spec"]["capacity"].clone();
    let modes = pv["spec"]["accessModes"].clone();
    let claim_ref = json!({"kind": "PersistentVolumeClaim", "apiVersion": "v1", "namespace": ns, "name": claim, "uid": pvc["metadata"]["uid"], "resourceVersion": pvc["metadata"]["resourceVersion"]});
    let bound_pv = ctx.store.mutate(&ctx.kinds.pvs, "", &pv_name, None, |v| {
        v["spec"]["claimRef"] = claim_ref;
        v["status"] =
            json!({"phase": "Bound", "lastPhaseTransitionTime": crate::api::store::now_rfc3339()});
        v["metadata"]["annotations"]["pv.kubernetes.io/bound-by-controller"] = json!("yes");
        Ok(())
    });
    if bound_pv.is_err() {
        return;
    }
    let _ = ctx.store.mutate(&ctx.kinds.pvcs, &ns, &claim, None, |v| {
        v["spec"]["volumeName"] = json!(pv_name);
        v["status"] = json!({"phase": "Bound", "accessModes": modes, "capacity": capacity});
        v["metadata"]["annotations"]["pv.kubernetes.io/bind-completed"] = json!("yes");
        v["metadata"]["annotations"]["pv.kubernetes.io/bound-by-controller"] = json!("yes");
        Ok(())
    });
}

/// Drops pvc-protection once no pod uses the claim.
fn release_claim_protection(ctx: &Ctx, pvc: &Value) {
    let ns = str_of(pvc, &["metadata", "namespace"]);
    let name = str_of(pvc, &["metadata", "name"]);
    let used = ctx
        .store
        .list(&ctx.kinds.pods, Some(ns))
        .iter()
        .any(|p| pvc_names(&p.value()).iter().any(|(_, c)| c == name));
    if !used {
        let _ = ctx.store.mutate(&ctx.kinds.pvcs, ns, name, None, |v| {
            if let Some(f) = v["metadata"]["finalizers"].as_array_mut() {
                f.retain(|x| x != "kubernetes.io/pvc-protection");
            }
            Ok(())
        });
    }
}

/// A bound PV whose claim is gone is Released (Retain) or deleted with its image (Delete).
fn reclaim(ctx: &Arc<Ctx>, pv: &Value) {
    let name = str_of(pv, &["metadata", "name"]).to_string();
    if is_deleting(pv) {
        if str_of(pv, &["status", "phase"]) != "Bound" {
            let _ = ctx.store.mutate(&ctx.kinds.pvs, "", &name, None, |v| {
                if let Some(f) = v["metadata"]["finalizers"].as_array_mut() {
                    f.retain(|x| x != "kubernetes.io/pv-protection");
                }
                Ok(())
            });
        }
        return;
    }
    if str_of(pv, &["status", "phase"]) != "Bound" {
        return;
    }
    let claim_ns = str_of(pv, &["spec", "claimRef", "namespace"]);
    let claim = str_of(pv, &["spec", "claimRef", "name"]);
    let claim_uid = str_of(pv, &["spec", "claimRef", "uid"]);
    let alive = ctx
        .store
        .get(&ctx.kinds.pvcs, claim_ns, claim)
        .is_some_and(|c| c.uid == claim_uid);
    if alive {
        return;
    }
    if pv["spec"]["persistentVolumeReclaimPolicy"] == "Delete" {
        let fresh = in_flight()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(format!("pv/{name}"));
        if !fresh {
            return;
        }
        let ctx = ctx.clone();
        let pv = pv.clone();
        tokio::spawn(async move {
            let mut ok = true;
            if let (Some(c), Some(spec)) = (&ctx.ceph, rbd_image_spec(&pv)) {
                let (pool, image) = spec.split_once('/').unwrap_or(("rbd", &spec));
                if let Err(e) = rbd::remove_image(c.admin_rbd(), pool, image).await {
                    ok = false;
                    let _ = ctx.store.mutate(&ctx.kinds.pvs, "", &name, None, |v| {
                        v["status"] = json!({"phase": "Failed", "message": format!("rbd: error deleting image {image}: {e:#}")});
                        Ok(())
                    });
                }
            }
            if ok {
                let _ = ctx.store.mutate(&ctx.kinds.pvs, "", &name, None, |v| {
                    v["metadata"]["finalizers"] = json!([]);
                    Ok(())
                });
                let _ = ctx.store.delete(&ctx.kinds.pvs, "", &name, None, None);
            }
            in_flight()
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&format!("pv/{name}"));
        });
    } else {
        let _ = ctx.store.mutate(&ctx.kinds.pvs, "", &name, None, |v| {
            v["status"] = json!({"phase": "Released", "lastPhaseTransitionTime": crate::api::store::now_rfc3339()});
            Ok(())
        });
    }
}
