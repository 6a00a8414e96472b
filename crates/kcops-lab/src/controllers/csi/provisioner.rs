//! The external-provisioner with ceph-csi's CreateVolume: a claim of a class whose
//! provisioner is `rbd.csi.ceph.com` gets an image `csi-vol-<uuid>` (features from
//! `imageFeatures`) in the class's pool and a PV in ceph-csi's shape. Failures are the
//! external-provisioner's ProvisioningFailed text around ceph-csi's gRPC error.

use serde_json::{Value, json};

use super::super::{Ctx, str_of};
use super::{DRIVER, volume_handle};
use crate::rbd;

/// Creates the image and the PV, or returns the ProvisioningFailed message.
pub(crate) async fn provision(ctx: &Ctx, pvc: &Value, sc: &Value) -> Result<String, String> {
    let class = str_of(sc, &["metadata", "name"]);
    let failed =
        |why: String| format!("failed to provision volume with StorageClass \"{class}\": {why}");
    let params = &sc["parameters"];
    let secret = params["csi.storage.k8s.io/provisioner-secret-name"]
        .as_str()
        .unwrap_or_default();
    let secret_ns = params["csi.storage.k8s.io/provisioner-secret-namespace"]
        .as_str()
        .unwrap_or_default();
    if !secret.is_empty()
        && ctx
            .store
            .get(&ctx.kinds.secrets, secret_ns, secret)
            .is_none()
    {
        return Err(failed(format!(
            "error getting secret {secret} in namespace {secret_ns}: secrets \"{secret}\" not found"
        )));
    }
    let cluster_id = params["clusterID"].as_str().unwrap_or_default();
    if cluster_id.is_empty() {
        return Err(failed(
            "rpc error: code = InvalidArgument desc = empty cluster ID to provision volume from"
                .into(),
        ));
    }
    let pool = params["pool"].as_str().unwrap_or_default().to_string();
    if pool.is_empty() {
        return Err(failed(
            "rpc error: code = InvalidArgument desc = missing or empty pool name to provision volume from".into(),
        ));
    }
    let Some(ceph) = &ctx.ceph else {
        return Err(failed(
            "rpc error: code = Internal desc = the lab runs without Ceph".into(),
        ));
    };
    if !super::known_cluster(ctx, cluster_id) {
        return Err(failed(format!(
            "rpc error: code = InvalidArgument desc = failed to fetch monitor list using clusterID \
             ({cluster_id}): missing configuration for cluster ID \"{cluster_id}\""
        )));
    }
    let pool_id = match pool_id(ceph, &pool).await {
        Ok(Some(id)) => id,
        Ok(None) => {
            return Err(failed(format!(
                "rpc error: code = NotFound desc = pool not found: pool ({pool}) not found in Ceph cluster"
            )));
        }
        Err(e) => return Err(failed(format!("rpc error: code = Internal desc = {e:#}"))),
    };
    let features: Vec<String> = params["imageFeatures"]
        .as_str()
        .unwrap_or("layering")
        .split(',')
        .map(|f| f.trim().to_string())
        .filter(|f| !f.is_empty())
        .collect();
    let uuid = uuid::Uuid::new_v4().to_string();
    let image = format!("csi-vol-{uuid}");
    let request = str_of(pvc, &["spec", "resources", "requests", "storage"]);
    let request = if request.is_empty() { "1Gi" } else { request }.to_string();
    rbd::create_image_with_features(
        ceph.admin_rbd(),
        &pool,
        &image,
        super::super::volumes::size_mb(&request),
        &features,
    )
    .await
    .map_err(|e| {
        let why = rbd::cli_error(&e).map_or_else(|| format!("{e:#}"), |c| c.messages());
        failed(format!(
            "rpc error: code = Internal desc = failed to create rbd image: {why}"
        ))
    })?;
    let uid = str_of(pvc, &["metadata", "uid"]);
    let pv_name = format!("pvc-{uid}");
    let secret_ref = |kind: &str| {
        json!({
            "name": params[format!("csi.storage.k8s.io/{kind}-secret-name")].clone(),
            "namespace": params[format!("csi.storage.k8s.io/{kind}-secret-namespace")].clone(),
        })
    };
    let mut pv = json!({
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {
            "name": pv_name,
            "annotations": {
                "pv.kubernetes.io/provisioned-by": DRIVER,
                "volume.kubernetes.io/provisioner-deletion-secret-name": secret,
                "volume.kubernetes.io/provisioner-deletion-secret-namespace": secret_ns,
            },
        },
        "spec": {
            "capacity": {"storage": request},
            "accessModes": pvc["spec"]["accessModes"].clone(),
            "persistentVolumeReclaimPolicy": sc["reclaimPolicy"].as_str().unwrap_or("Delete"),
            "storageClassName": class,
            "volumeMode": pvc["spec"]["volumeMode"].as_str().unwrap_or("Filesystem"),
            "mountOptions": sc["mountOptions"].clone(),
            "claimRef": {"kind": "PersistentVolumeClaim", "apiVersion": "v1", "namespace": pvc["metadata"]["namespace"].clone(), "name": pvc["metadata"]["name"].clone(), "uid": uid},
            "csi": {
                "driver": DRIVER,
                "fsType": params["csi.storage.k8s.io/fstype"].as_str().unwrap_or("ext4"),
                "volumeHandle": volume_handle(cluster_id, pool_id, &uuid),
                "volumeAttributes": {
                    "clusterID": cluster_id,
                    "pool": pool,
                    "imageName": image,
                    "imageFeatures": features.join(","),
                    "journalPool": pool,
                    "storage.kubernetes.io/csiProvisionerIdentity": provisioner_identity(),
                },
                "nodeStageSecretRef": secret_ref("node-stage"),
                "controllerExpandSecretRef": secret_ref("controller-expand"),
            },
        },
    });
    if pv["spec"]["mountOptions"].is_null()
        && let Some(spec) = pv["spec"].as_object_mut()
    {
        spec.remove("mountOptions");
    }
    crate::api::defaults::apply("PersistentVolume", &mut pv);
    ctx.store
        .create(&ctx.kinds.pvs, pv)
        .map_err(|e| failed(format!("cannot create PV {pv_name}: {e}")))?;
    Ok(pv_name)
}

/// Whether a provisioner pod (`app=csi-rbdplugin-provisioner`) is Ready.
pub(crate) fn running(ctx: &Ctx) -> bool {
    ctx.store
        .list(&ctx.kinds.pods, Some(super::NAMESPACE))
        .iter()
        .map(|e| e.value())
        .any(|p| {
            p["metadata"]["labels"]["app"] == "csi-rbdplugin-provisioner"
                && !super::super::is_deleting(&p)
                && super::pod_ready(&p)
        })
}

/// The external-provisioner's event source: `<driver>_<its pod>_<instance uuid>`.
pub(crate) fn identity(ctx: &Ctx) -> String {
    static INSTANCE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let instance = INSTANCE.get_or_init(|| uuid::Uuid::new_v4().to_string());
    let pod = ctx
        .store
        .list(&ctx.kinds.pods, Some(super::NAMESPACE))
        .iter()
        .map(|e| e.value())
        .find(|p| p["metadata"]["labels"]["app"] == "csi-rbdplugin-provisioner")
        .map(|p| str_of(&p, &["metadata", "name"]).to_string())
        .unwrap_or_else(|| "csi-rbdplugin-provisioner".to_string());
    format!("{DRIVER}_{pod}_{instance}")
}

/// The identity the external-provisioner stamps on its PVs: `<start ms>-<rand>-<driver>`.
fn provisioner_identity() -> String {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        format!(
            "{}-{}-{DRIVER}",
            jiff::Timestamp::now().as_millisecond(),
            rand::random::<u16>() % 10000
        )
    })
    .clone()
}

/// The id of `pool` (`ceph osd pool ls detail --format json`), `None` if absent.
pub(crate) async fn pool_id(
    ceph: &super::super::CephAccess,
    pool: &str,
) -> anyhow::Result<Option<i64>> {
    let mut cmd = std::process::Command::new("ceph");
    cmd.env("CEPH_CONF", &ceph.conf)
        .args(["osd", "pool", "ls", "detail", "--format", "json"]);
    let out = rbd::run_cli(cmd, std::time::Duration::from_secs(30)).await?;
    let pools: Value = serde_json::from_str(&out)?;
    Ok(pools.as_array().and_then(|ps| {
        ps.iter()
            .find(|p| p["pool_name"] == pool)
            .and_then(|p| p["pool_id"].as_i64())
    }))
}
