//! The whole object behind a describe/YAML view, fetched once it opens: the stores
//! keep only what the panes read (see `kube::reflectors::strip_pod`).

use std::time::Duration;

use tokio::sync::mpsc;

use super::FeedMsg;
use crate::ui::view::{ObjKey, ObjKind};

/// How long a fetch may take before the view keeps the stored copy.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Fetches `key` in a task of its own and answers with [`FeedMsg::Object`] tagged
/// `id` (a failure only leaves the stored copy on screen, so it is only logged).
pub(crate) fn spawn_fetch<M: From<FeedMsg> + Send + 'static>(
    client: ::kube::Client,
    key: ObjKey,
    id: u64,
    tx: mpsc::Sender<M>,
) {
    tokio::spawn(async move {
        match tokio::time::timeout(TIMEOUT, fetch(client, &key)).await {
            Ok(Ok(value)) => {
                let msg = FeedMsg::Object {
                    id,
                    value: Box::new(value),
                };
                let _ = tx.send(msg.into()).await;
            }
            Ok(Err(e)) => tracing::debug!("cannot fetch {key:?}: {e}"),
            Err(_) => tracing::debug!("fetching {key:?} timed out"),
        }
    });
}

/// The object behind `key` from the API server, as JSON, without managedFields and the
/// last-applied annotation (as the stores keep it).
async fn fetch(client: ::kube::Client, key: &ObjKey) -> Result<serde_json::Value, ::kube::Error> {
    use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
    use k8s_openapi::api::core::v1::{Event, Node, PersistentVolume, PersistentVolumeClaim, Pod};
    use k8s_openapi::api::storage::v1::{StorageClass, VolumeAttachment};
    async fn get<K>(api: ::kube::Api<K>, name: &str) -> Result<serde_json::Value, ::kube::Error>
    where
        K: Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
    {
        let obj = api.get(name).await?;
        serde_json::to_value(obj).map_err(::kube::Error::SerdeError)
    }
    let (c, ns, name) = (client, key.namespace.as_str(), key.name.as_str());
    let mut v = match key.kind {
        ObjKind::Node => get(::kube::Api::<Node>::all(c), name).await?,
        ObjKind::Pod => get(::kube::Api::<Pod>::namespaced(c, ns), name).await?,
        ObjKind::Pvc => {
            get(
                ::kube::Api::<PersistentVolumeClaim>::namespaced(c, ns),
                name,
            )
            .await?
        }
        ObjKind::Pv => get(::kube::Api::<PersistentVolume>::all(c), name).await?,
        ObjKind::StorageClass => get(::kube::Api::<StorageClass>::all(c), name).await?,
        ObjKind::VolumeAttachment => get(::kube::Api::<VolumeAttachment>::all(c), name).await?,
        ObjKind::StatefulSet => get(::kube::Api::<StatefulSet>::namespaced(c, ns), name).await?,
        ObjKind::DaemonSet => get(::kube::Api::<DaemonSet>::namespaced(c, ns), name).await?,
        ObjKind::Deployment => get(::kube::Api::<Deployment>::namespaced(c, ns), name).await?,
        ObjKind::Event => get(::kube::Api::<Event>::namespaced(c, ns), name).await?,
        // Not a Kubernetes object (the Ceph pane's detail is shown instead).
        ObjKind::RbdImage | ObjKind::Resource => return Ok(serde_json::Value::Null),
    };
    if let Some(meta) = v.get_mut("metadata").and_then(|m| m.as_object_mut()) {
        meta.remove("managedFields");
        if let Some(a) = meta.get_mut("annotations").and_then(|a| a.as_object_mut()) {
            a.remove("kubectl.kubernetes.io/last-applied-configuration");
        }
    }
    Ok(v)
}
