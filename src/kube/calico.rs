//! Watches of calico's custom resources (`IPPool`, `BlockAffinity`), which the network
//! checks compare with the cluster's pod subnet and nodes.
//!
//! They are optional: a cluster without calico has no such resources, and the API
//! server answers 404. That is "nothing installed", not an error: the kind counts as
//! listed (empty), no `source.error` finding appears, and the watch keeps retrying
//! with backoff so that installing calico later is noticed.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use ::kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use ::kube::runtime::WatchStreamExt;
use ::kube::runtime::reflector::{self, Store};
use ::kube::runtime::watcher::{self, Event};
use ::kube::{Api, Client, Resource};
use futures::StreamExt;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::errors::describe_watcher;
use crate::model::snapshot::SourceStatus;

/// calico's API group for the resources it keeps in the Kubernetes datastore.
pub const GROUP: &str = "crd.projectcalico.org";

/// `ippools.crd.projectcalico.org/v1`: the address pools pods get IPs from.
pub fn ip_pools() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(GROUP, "v1", "IPPool"), "ippools")
}

/// `blockaffinities.crd.projectcalico.org/v1`: which node owns which IPAM block.
pub fn block_affinities() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(GROUP, "v1", "BlockAffinity"),
        "blockaffinities",
    )
}

/// The source name of a resource in the status list (`ippools.crd.projectcalico.org`).
pub fn source_kind(ar: &ApiResource) -> &'static str {
    if ar.plural == "ippools" {
        "ippools.crd.projectcalico.org"
    } else {
        "blockaffinities.crd.projectcalico.org"
    }
}

/// Whether a watcher error means the resource does not exist on this server.
fn is_absent(e: &watcher::Error) -> bool {
    use watcher::Error as W;
    match e {
        W::InitialListFailed(::kube::Error::Api(r))
        | W::WatchStartFailed(::kube::Error::Api(r))
        | W::WatchFailed(::kube::Error::Api(r)) => r.code == 404,
        W::WatchError(r) => r.code == 404,
        _ => false,
    }
}

/// Watches `ar` cluster-wide into a store, reporting into `status` under `kind` like
/// the other reflectors, except that a 404 counts as listed and empty.
pub fn watch_optional(
    client: Client,
    ar: ApiResource,
    kind: &'static str,
    server: String,
    status: Arc<Mutex<BTreeMap<&'static str, SourceStatus>>>,
    changed: Arc<Notify>,
) -> (Store<DynamicObject>, JoinHandle<()>) {
    let writer = reflector::store::Writer::<DynamicObject>::new(ar.clone());
    let reader = writer.as_reader();
    if let Ok(mut s) = status.lock() {
        s.insert(
            kind,
            SourceStatus {
                kind,
                synced: false,
                last_success: None,
                last_error: None,
            },
        );
    }
    let api: Api<DynamicObject> = Api::all_with(client, &ar);
    let stream = watcher::watcher(api, watcher::Config::default())
        .default_backoff()
        .modify(|o: &mut DynamicObject| {
            o.meta_mut().managed_fields = None;
        })
        .reflect(writer);
    let task = tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(item) = stream.next().await {
            let now = jiff::Timestamp::now();
            let mut news = true;
            if let Ok(mut map) = status.lock()
                && let Some(s) = map.get_mut(kind)
            {
                match &item {
                    Ok(ev) => {
                        // Each retry of a missing CRD starts with `Init`: not news,
                        // unless it clears an error the views still show.
                        news = super::reflectors::shows_change(ev) || s.last_error.is_some();
                        if matches!(ev, Event::InitDone) {
                            s.synced = true;
                        }
                        s.last_success = Some(now);
                        s.last_error = None;
                    }
                    Err(e) if is_absent(e) => {
                        tracing::debug!(kind, "not installed on this cluster");
                        // Still absent (the watcher retries every second or so): no
                        // news for the views, which would otherwise be derived again.
                        news = !s.synced || s.last_error.is_some();
                        s.synced = true;
                        s.last_success = Some(now);
                        s.last_error = None;
                    }
                    Err(e) => {
                        let text = describe_watcher(e, &server);
                        tracing::warn!(kind, "watch failed: {text}");
                        s.last_error = Some(text);
                    }
                }
            }
            if news {
                changed.notify_one();
            }
        }
    });
    (reader, task)
}

/// Lists `ar` once (for `kcops check`-style callers that do not watch); a 404 is an
/// empty list.
pub async fn list_optional(
    client: Client,
    ar: &ApiResource,
) -> Result<Vec<Arc<DynamicObject>>, ::kube::Error> {
    let api: Api<DynamicObject> = Api::all_with(client, ar);
    match api.list(&Default::default()).await {
        Ok(list) => Ok(list.items.into_iter().map(Arc::new).collect()),
        Err(::kube::Error::Api(r)) if r.code == 404 => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}
