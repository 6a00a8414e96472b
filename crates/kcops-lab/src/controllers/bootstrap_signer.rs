//! The controller manager's bootstrap signer: for every bootstrap token in kube-system
//! that may sign and has not expired, a `jws-kubeconfig-<token id>` key in
//! kube-public/cluster-info holding the detached JWS of its `kubeconfig`; keys of
//! tokens that are gone or expired are removed. A joining machine trusts the API
//! server's address and CA through that signature.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::Ctx;
use crate::kubeadm::token::{JWS_PREFIX, TokenSecret, detached_jws};

/// One pass: brings cluster-info's signatures up to date (writes only on a change).
pub(crate) fn reconcile(ctx: &Ctx) {
    let Some(cm) = ctx
        .store
        .get_value(&ctx.kinds.configmaps, "kube-public", "cluster-info")
    else {
        return;
    };
    let Some(kubeconfig) = cm["data"]["kubeconfig"].as_str().map(str::to_string) else {
        return;
    };
    let now = jiff::Timestamp::now();
    let wanted: BTreeMap<String, String> = ctx
        .store
        .list(&ctx.kinds.secrets, Some("kube-system"))
        .iter()
        .filter_map(|e| TokenSecret::from_secret(&e.value()))
        .filter(|t| t.signing && !t.expired(now))
        .map(|t| {
            (
                format!("{JWS_PREFIX}{}", t.id),
                detached_jws(&kubeconfig, &t.id, &t.secret),
            )
        })
        .collect();
    let present: BTreeMap<String, String> = cm["data"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| k.starts_with(JWS_PREFIX))
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    if wanted == present {
        return;
    }
    let result = ctx.store.mutate(
        &ctx.kinds.configmaps,
        "kube-public",
        "cluster-info",
        None,
        |cm| {
            let data = &mut cm["data"];
            if let Some(map) = data.as_object_mut() {
                map.retain(|k, _| !k.starts_with(JWS_PREFIX));
                for (k, v) in &wanted {
                    map.insert(k.clone(), json!(v));
                }
            } else {
                *data = Value::Null;
            }
            Ok(())
        },
    );
    if let Err(e) = result {
        tracing::warn!("bootstrap signer cannot update cluster-info: {e}");
    }
}
