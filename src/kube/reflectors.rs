//! One reflector per kind (`watcher(..).default_backoff()`), objects stripped of
//! managedFields and last-applied annotations before they are stored. A change only
//! wakes whoever waits on [`Sources::changed`]; nothing here waits for the UI.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ::kube::runtime::WatchStreamExt;
use ::kube::runtime::reflector::{self, Store};
use ::kube::runtime::watcher::{self, Event};
use ::kube::{Api, Resource, ResourceExt};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{
    ConfigMap, Event as KEvent, Namespace, Node, PersistentVolume, PersistentVolumeClaim, Pod,
};
use k8s_openapi::api::storage::v1::StorageClass;
use serde::de::DeserializeOwned;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::connect::Connection;
use super::errors::describe_watcher;
use crate::model::snapshot::{Snapshot, SourceStatus};

type StatusMap = Arc<Mutex<BTreeMap<&'static str, SourceStatus>>>;

/// Namespaces whose ConfigMaps diagnosis reads (kube-proxy, kubeadm-config, flannel).
const CONFIGMAP_NAMESPACES: &[&str] = &["kube-system", "kube-flannel"];

/// The live stores of every watched kind.
pub struct Sources {
    pub nodes: Store<Node>,
    pub pods: Store<Pod>,
    pub pvs: Store<PersistentVolume>,
    pub pvcs: Store<PersistentVolumeClaim>,
    pub storage_classes: Store<StorageClass>,
    pub statefulsets: Store<StatefulSet>,
    pub daemonsets: Store<DaemonSet>,
    pub deployments: Store<Deployment>,
    pub events: Store<KEvent>,
    pub namespaces: Store<Namespace>,
    pub configmaps: Vec<Store<ConfigMap>>,
    /// calico's IPPools and BlockAffinities (empty stores when calico is absent).
    pub ip_pools: Store<::kube::api::DynamicObject>,
    pub block_affinities: Store<::kube::api::DynamicObject>,
    status: StatusMap,
    /// Woken (coalescing) on every store change or error.
    pub changed: Arc<Notify>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Sources {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Drops what no pane needs, so 150k pods fit in memory.
fn strip<K: Resource>(obj: &mut K) {
    obj.meta_mut().managed_fields = None;
    if let Some(a) = obj.meta_mut().annotations.as_mut() {
        a.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}

struct Spawner {
    conn: Connection,
    status: StatusMap,
    changed: Arc<Notify>,
    tasks: Vec<JoinHandle<()>>,
}

impl Spawner {
    fn watch<K>(&mut self, api: Api<K>, kind: &'static str) -> Store<K>
    where
        K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
        K::DynamicType: Default + Eq + Hash + Clone,
    {
        let (reader, writer) = reflector::store();
        if let Ok(mut s) = self.status.lock() {
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
        let status = self.status.clone();
        let changed = self.changed.clone();
        let server = self.conn.server.clone();
        let stream = watcher(api, watcher::Config::default())
            .default_backoff()
            .modify(strip::<K>)
            .reflect(writer);
        self.tasks.push(tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(item) = stream.next().await {
                let now = jiff::Timestamp::now();
                if let Ok(mut map) = status.lock()
                    && let Some(s) = map.get_mut(kind)
                {
                    match &item {
                        Ok(ev) => {
                            if matches!(ev, Event::InitDone) {
                                s.synced = true;
                            }
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
                changed.notify_one();
            }
        }));
        reader
    }
}

impl Spawner {
    /// A watch that resumed after an outage yields nothing until something changes, so
    /// its error would stay on screen. While a kind reports the API server unreachable,
    /// ask the server for its version; once it answers, those kinds are marked healthy
    /// again (a watch that still fails reports its error anew on its next retry).
    fn spawn_probe(&mut self) {
        let status = self.status.clone();
        let changed = self.changed.clone();
        let client = self.conn.client.clone();
        self.tasks.push(tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(2)).await;
                let unreachable = status
                    .lock()
                    .map(|m| {
                        m.values()
                            .any(|s| s.last_error.as_deref().is_some_and(is_connectivity))
                    })
                    .unwrap_or(false);
                if !unreachable {
                    continue;
                }
                let answered =
                    tokio::time::timeout(Duration::from_secs(5), client.apiserver_version())
                        .await
                        .is_ok_and(|r| r.is_ok());
                if !answered {
                    continue;
                }
                if let Ok(mut map) = status.lock() {
                    let now = jiff::Timestamp::now();
                    for s in map
                        .values_mut()
                        .filter(|s| s.last_error.as_deref().is_some_and(is_connectivity))
                    {
                        s.last_error = None;
                        s.last_success = Some(now);
                    }
                }
                changed.notify_one();
            }
        }));
    }
}

fn is_connectivity(error: &str) -> bool {
    error.contains("cannot reach the API server")
}

fn watcher<K>(
    api: Api<K>,
    config: watcher::Config,
) -> impl futures::Stream<Item = watcher::Result<Event<K>>> + Send
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    watcher::watcher(api, config)
}

impl Sources {
    /// Starts every reflector on `conn` (cluster-wide: the namespace is a view filter).
    pub fn start(conn: &Connection) -> Sources {
        let c = conn.client.clone();
        let mut sp = Spawner {
            conn: conn.clone(),
            status: Arc::new(Mutex::new(BTreeMap::new())),
            changed: Arc::new(Notify::new()),
            tasks: Vec::new(),
        };
        let nodes = sp.watch(Api::<Node>::all(c.clone()), "nodes");
        let pods = sp.watch(Api::<Pod>::all(c.clone()), "pods");
        let pvs = sp.watch(Api::<PersistentVolume>::all(c.clone()), "persistentvolumes");
        let pvcs = sp.watch(
            Api::<PersistentVolumeClaim>::all(c.clone()),
            "persistentvolumeclaims",
        );
        let storage_classes = sp.watch(Api::<StorageClass>::all(c.clone()), "storageclasses");
        let statefulsets = sp.watch(Api::<StatefulSet>::all(c.clone()), "statefulsets");
        let daemonsets = sp.watch(Api::<DaemonSet>::all(c.clone()), "daemonsets");
        let deployments = sp.watch(Api::<Deployment>::all(c.clone()), "deployments");
        let events = sp.watch(Api::<KEvent>::all(c.clone()), "events");
        let namespaces = sp.watch(Api::<Namespace>::all(c.clone()), "namespaces");
        let configmaps = CONFIGMAP_NAMESPACES
            .iter()
            .map(|ns| {
                let kind: &'static str = if *ns == "kube-system" {
                    "configmaps/kube-system"
                } else {
                    "configmaps/kube-flannel"
                };
                sp.watch(Api::<ConfigMap>::namespaced(c.clone(), ns), kind)
            })
            .collect();
        let [ip_pools, block_affinities] =
            [super::calico::ip_pools(), super::calico::block_affinities()].map(|ar| {
                let kind = super::calico::source_kind(&ar);
                let (store, task) = super::calico::watch_optional(
                    c.clone(),
                    ar,
                    kind,
                    conn.server.clone(),
                    sp.status.clone(),
                    sp.changed.clone(),
                );
                sp.tasks.push(task);
                store
            });
        sp.spawn_probe();
        Sources {
            nodes,
            pods,
            pvs,
            pvcs,
            storage_classes,
            statefulsets,
            daemonsets,
            deployments,
            events,
            namespaces,
            configmaps,
            ip_pools,
            block_affinities,
            status: sp.status,
            changed: sp.changed,
            tasks: sp.tasks,
        }
    }

    pub fn statuses(&self) -> Vec<SourceStatus> {
        self.status
            .lock()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Whether every kind has completed its first list.
    pub fn all_synced(&self) -> bool {
        self.statuses().iter().all(|s| s.synced)
    }

    /// Waits until every kind is listed, or returns the errors seen when `timeout` passes.
    pub async fn wait_synced(&self, timeout: Duration) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.all_synced() {
                return Ok(());
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                let errs: Vec<String> = self
                    .statuses()
                    .into_iter()
                    .filter(|s| !s.synced)
                    .map(|s| {
                        format!(
                            "{}: {}",
                            s.kind,
                            s.last_error.unwrap_or_else(|| "no answer yet".into())
                        )
                    })
                    .collect();
                return Err(errs.join("; "));
            }
            let _ = tokio::time::timeout(
                (deadline - now).min(Duration::from_millis(200)),
                self.changed.notified(),
            )
            .await;
        }
    }

    /// One consistent copy of every store, sorted.
    pub fn snapshot(&self) -> Snapshot {
        let mut s = Snapshot {
            now: jiff::Timestamp::now(),
            nodes: self.nodes.state(),
            pods: self.pods.state(),
            pvs: self.pvs.state(),
            pvcs: self.pvcs.state(),
            storage_classes: self.storage_classes.state(),
            statefulsets: self.statefulsets.state(),
            daemonsets: self.daemonsets.state(),
            deployments: self.deployments.state(),
            events: self.events.state(),
            namespaces: self.namespaces.state(),
            configmaps: self.configmaps.iter().flat_map(|s| s.state()).collect(),
            ip_pools: self.ip_pools.state(),
            block_affinities: self.block_affinities.state(),
            sources: self.statuses(),
            host: None,
        };
        s.sort();
        s
    }

    /// Names of namespaces, for the namespace switcher.
    pub fn namespace_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .namespaces
            .state()
            .iter()
            .map(|n| n.name_any())
            .collect();
        v.sort();
        v
    }
}
