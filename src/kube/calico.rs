//! Watches of calico's custom resources (`IPPool`, `BlockAffinity`), which the network
//! checks compare with the cluster's pod subnet and nodes.
//!
//! They are optional: a cluster without calico has no such resources, and the API
//! server answers 404. That is "nothing installed", not an error: the kind counts as
//! listed (empty), no `source.error` finding appears, and the watch keeps retrying
//! every 10 s so that installing calico later is noticed.

use std::sync::Arc;

use ::kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use ::kube::runtime::WatchStreamExt;
use ::kube::runtime::reflector::{self, Store};
use ::kube::runtime::watcher;
use ::kube::{Api, Client, Resource};
use futures::StreamExt;
use tokio::task::JoinHandle;

use super::reflectors::Recorder;

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
pub(crate) fn source_kind(ar: &ApiResource) -> &'static str {
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

/// How often a kind the server does not have is looked for again (calico installed
/// later is noticed within this).
const ABSENT_RETRY: std::time::Duration = std::time::Duration::from_secs(10);

/// Watches `ar` cluster-wide into a store, reporting through `recorder` like the
/// other reflectors, except that a 404 counts as listed and empty.
pub(super) fn watch_optional(
    client: Client,
    ar: ApiResource,
    recorder: Recorder,
) -> (Store<DynamicObject>, JoinHandle<()>) {
    let writer = reflector::store::Writer::<DynamicObject>::new(ar.clone());
    let reader = writer.as_reader();
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
            match &item {
                Err(e) if is_absent(e) => {
                    tracing::debug!(kind = recorder.kind(), "not installed on this cluster");
                    recorder.absent();
                    // The watcher's backoff restarts with each attempt's first event,
                    // so it asked again every second, forever: ask every 10 s instead.
                    tokio::time::sleep(ABSENT_RETRY).await;
                }
                _ => recorder.record(&item),
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
