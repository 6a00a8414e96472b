//! One-off reads of the Secrets ceph-csi's StorageClasses name (`kcops check`): the
//! console does not watch Secrets, and these are read only to hand the user and key to
//! `ceph::csi_users`, which keeps neither key.

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::storage::v1::StorageClass;
use kube::Api;

use crate::model::ceph::SecretRead;

/// ceph-csi's RBD driver name.
const DRIVER: &str = "rbd.csi.ceph.com";

/// The Secret parameters of a class ceph-csi uses to talk to Ceph: node-stage first
/// (mounting), then provisioning.
const SECRET_PARAMS: [&str; 2] = ["node-stage", "provisioner"];

/// The distinct Secrets the ceph-csi classes name, each with its classes and pools.
pub fn named<'a>(classes: impl IntoIterator<Item = &'a StorageClass>) -> Vec<SecretRead> {
    let mut out: Vec<SecretRead> = Vec::new();
    for class in classes.into_iter().filter(|c| c.provisioner == DRIVER) {
        let Some(params) = class.parameters.as_ref() else {
            continue;
        };
        let class_name = class.metadata.name.clone().unwrap_or_default();
        let pool = params.get("pool").cloned();
        for role in SECRET_PARAMS {
            let key = |what: &str| format!("csi.storage.k8s.io/{role}-secret-{what}");
            let (Some(name), Some(ns)) = (params.get(&key("name")), params.get(&key("namespace")))
            else {
                continue;
            };
            let entry = match out
                .iter_mut()
                .position(|r| r.name == *name && r.namespace == *ns)
            {
                Some(i) => &mut out[i],
                None => {
                    out.push(SecretRead {
                        namespace: ns.clone(),
                        name: name.clone(),
                        classes: Vec::new(),
                        user: Err("not read yet".to_string()),
                    });
                    let last = out.len() - 1;
                    &mut out[last]
                }
            };
            let c = (class_name.clone(), pool.clone());
            if !entry.classes.contains(&c) {
                entry.classes.push(c);
            }
        }
    }
    out
}

/// Reads each Secret once: `userID` and `userKey`, or the API server's error.
pub async fn read(
    client: &kube::Client,
    server: &str,
    mut reads: Vec<SecretRead>,
) -> Vec<SecretRead> {
    for r in &mut reads {
        let api: Api<Secret> = Api::namespaced(client.clone(), &r.namespace);
        r.user = match api.get(&r.name).await {
            Err(e) => Err(crate::kube::errors::describe(&e, server)),
            Ok(secret) => user_of(&secret),
        };
    }
    reads
}

fn user_of(secret: &Secret) -> Result<(String, String), String> {
    let field = |k: &str| {
        secret
            .data
            .as_ref()
            .and_then(|d| d.get(k))
            .map(|b| String::from_utf8_lossy(&b.0).trim().to_string())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("it has no {k}"))
    };
    Ok((field("userID")?, field("userKey")?))
}
