//! One reflector per kind (kube-rs' watcher; for pods, nodes and events the
//! pipelined list-then-watch of [`super::list_watch`]), objects stripped of
//! managedFields and last-applied annotations before they are stored, pods decoded
//! into the console's own [`Pod`] (see [`strip_pod`]) and nodes stripped of their
//! image lists. A change only wakes
//! whoever waits on [`Sources::changed`]; nothing here waits for the UI.
//!
//! Pods, nodes and events, the kinds that run into the thousands, are kept in an
//! [`OrderedStore`] (namespace/name order), so a snapshot of 150,000 pods is a copy of
//! pointers, not a sort. Their watch events are logged at trace level (kind and name:
//! the benchmark times event-to-screen from them).

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::model::pod::{ApiPod, Pod};
use ::kube::api::ListParams;
use ::kube::runtime::WatchStreamExt;
use ::kube::runtime::reflector::{self, Store};
use ::kube::runtime::watcher::{self, Event};
use ::kube::{Api, Resource};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{
    ConfigMap, Event as KEvent, Namespace, Node, PersistentVolume, PersistentVolumeClaim,
};
use k8s_openapi::api::storage::v1::{StorageClass, VolumeAttachment};
use serde::de::DeserializeOwned;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::connect::Connection;
use super::errors::KubeError;
use super::list_watch::list_watch;
use crate::model::chunked::Chunked;
use crate::model::snapshot::{Snapshot, SourceStatus};

type StatusMap = Arc<Mutex<BTreeMap<&'static str, SourceStatus>>>;

/// Namespaces whose ConfigMaps diagnosis reads (kube-proxy, kubeadm-config, flannel);
/// ceph-csi's `ceph-csi-config` is watched by name in every namespace.
const CONFIGMAP_NAMESPACES: &[&str] = &["kube-system", "kube-flannel"];

/// The live stores of every watched kind.
pub struct Sources {
    pub nodes: OrderedStore<Node>,
    pub pods: OrderedStore<Pod>,
    pub pvs: Store<PersistentVolume>,
    pub pvcs: Store<PersistentVolumeClaim>,
    pub storage_classes: Store<StorageClass>,
    /// CSI attachments (ceph-csi): which node a volume is attached to.
    pub volume_attachments: Store<VolumeAttachment>,
    pub statefulsets: Store<StatefulSet>,
    pub daemonsets: Store<DaemonSet>,
    pub deployments: Store<Deployment>,
    pub events: OrderedStore<KEvent>,
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

/// Pods are decoded into the console's own [`ApiPod`] (only what the panes, findings
/// and wizards read) and stored as a [`Pod`], whose metadata drops the rest. Describe
/// and YAML fetch the whole object from the API server when opened.
pub(crate) fn strip_pod(pod: &mut ApiPod) {
    strip(pod);
    pod.metadata.annotations = None;
    // Nothing reads a pod's labels (its workload comes from ownerReferences), and a
    // label map costs a 0.5 KiB tree node even with one entry; but kubeadm's static
    // pods are told by `component` (stacked etcd: `component=etcd`), so a pod that has
    // one keeps that label alone.
    pod.metadata.labels = pod
        .metadata
        .labels
        .take()
        .and_then(|mut l| l.remove_entry("component"))
        .map(|(k, v)| std::collections::BTreeMap::from([(k, v)]));
    // A fresh copy is packed: the decoder leaves vectors with spare capacity (two
    // container statuses in room for four, five conditions in room for eight), a
    // third of what a decoded pod holds.
    *pod = pod.clone();
}

/// Nodes keep what the panes and findings read: their image lists (often dozens of
/// entries), capacity and allocatable (two maps, about 1.5 KiB a node), volume lists
/// and all of nodeInfo but the kubelet's version are dropped. Describe and YAML fetch
/// the whole object when opened.
fn strip_node(node: &mut Node) {
    strip(node);
    if let Some(status) = node.status.as_mut() {
        status.images = None;
        status.capacity = None;
        status.allocatable = None;
        status.volumes_attached = None;
        status.volumes_in_use = None;
        status.runtime_handlers = None;
        status.features = None;
        status.config = None;
        if let Some(info) = status.node_info.as_mut() {
            *info = k8s_openapi::api::core::v1::NodeSystemInfo {
                kubelet_version: std::mem::take(&mut info.kubelet_version),
                ..Default::default()
            };
        }
    }
    // A fresh copy is packed (the decoder leaves lists with spare room).
    *node = node.clone();
}

/// A store kept in namespace/name order (the order of [`Snapshot::sort`]), as one
/// sorted vector: a snapshot of 150,000 pods is a copy of pointers, neither a sort
/// nor a tree walk, and an object costs the store 8 bytes rather than a tree entry
/// with its own copy of the namespace and name. Like kube-rs' reflector store, a
/// relist is collected aside and swapped in when complete.
pub struct OrderedStore<K> {
    inner: Arc<RwLock<Ordered<K>>>,
}

impl<K> Clone for OrderedStore<K> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

struct Ordered<K> {
    /// In namespace/name order, unless `unsorted` (a first list that came out of
    /// order, sorted when next read). Chunked: a snapshot shares it, and a change
    /// copies one chunk, not 150,000 pointers.
    items: Chunked<Arc<K>>,
    unsorted: bool,
    relist: Option<Vec<Arc<K>>>,
    /// A first list has completed: later lists are collected aside and swapped in.
    listed: bool,
    /// When the deriver was last woken for the first list's progress.
    progress_shown: Option<Instant>,
    /// Which objects changed, for a reader that follows change by change.
    log: ChangeLog,
}

/// The keys (namespace, name) of the last changes, numbered, so that a reader can
/// ask what changed since the number it last saw and redo only that.
#[derive(Default)]
struct ChangeLog {
    entries: std::collections::VecDeque<(u64, (String, String))>,
    /// The number of the last change.
    seq: u64,
    /// Changes up to this number are not in the log (a list replaced everything, or
    /// they were dropped to keep it short): a reader from before learns "everything".
    floor: u64,
}

/// Changes kept for readers that fall behind; one further behind redoes everything.
const CHANGE_LOG_MAX: usize = 4096;

impl ChangeLog {
    fn changed(&mut self, key: (&str, &str)) {
        self.seq += 1;
        self.entries
            .push_back((self.seq, (key.0.to_string(), key.1.to_string())));
        if self.entries.len() > CHANGE_LOG_MAX
            && let Some((n, _)) = self.entries.pop_front()
        {
            self.floor = n;
        }
    }

    /// Everything may have changed (a list, a sort).
    fn everything(&mut self) {
        self.seq += 1;
        self.floor = self.seq;
        self.entries.clear();
    }

    /// The keys changed after change `since` (`None`: everything may have).
    fn since(&self, since: u64) -> Option<Vec<(String, String)>> {
        if since < self.floor {
            return None;
        }
        let start = self.entries.partition_point(|(n, _)| *n <= since);
        Some(
            self.entries
                .range(start..)
                .map(|(_, k)| k.clone())
                .collect(),
        )
    }
}

/// What changed in a store since a reader last looked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// The number of the last change the reader has now seen.
    pub seq: u64,
    /// The (namespace, name) of each object changed since (repeats possible), or
    /// `None` when everything may have changed.
    pub keys: Option<Vec<(String, String)>>,
}

/// While the first list arrives, the deriver is woken at its first object (the
/// first page's rows show at once) and then at most this often, whatever the pace of
/// the pages: a few views a second show progress without deriving a growing table
/// after every page (150,000 pods are 300 pages).
const FIRST_LIST_PROGRESS: Duration = Duration::from_millis(500);

/// What an [`OrderedStore`] orders its objects by: namespace, then name.
pub trait Keyed {
    fn ns_name(&self) -> (&str, &str);
}

impl Keyed for Pod {
    fn ns_name(&self) -> (&str, &str) {
        let meta = &self.metadata;
        (
            meta.namespace.as_deref().unwrap_or_default(),
            meta.name.as_deref().unwrap_or_default(),
        )
    }
}

/// Kinds stored as kube-rs decodes them are keyed by their `ObjectMeta`.
macro_rules! keyed_by_meta {
    ($($k:ty),*) => {$(
        impl Keyed for $k {
            fn ns_name(&self) -> (&str, &str) {
                let meta = self.meta();
                (
                    meta.namespace.as_deref().unwrap_or_default(),
                    meta.name.as_deref().unwrap_or_default(),
                )
            }
        }
    )*};
}
keyed_by_meta!(Node, KEvent);

/// An object's namespace and name, as the store orders them.
fn ns_name<K: Keyed>(obj: &K) -> (&str, &str) {
    obj.ns_name()
}

impl<K: Keyed> Ordered<K> {
    fn sort(&mut self) {
        if self.unsorted {
            let mut items = self.items.to_vec();
            items.sort_by(|a, b| ns_name(a.as_ref()).cmp(&ns_name(b.as_ref())));
            items.dedup_by(|a, b| ns_name(a.as_ref()) == ns_name(b.as_ref()));
            self.items = items.into();
            self.unsorted = false;
            self.log.everything();
        }
    }

    /// Where the object `key` is (`Ok`) or goes (`Err`); the items must be sorted.
    fn find(&self, key: (&str, &str)) -> Result<usize, usize> {
        self.items
            .binary_search_by(|o| ns_name(o.as_ref()).cmp(&key))
    }

    fn upsert(&mut self, obj: K) {
        self.sort();
        let at = self.find(ns_name(&obj));
        self.log.changed(ns_name(&obj));
        match at {
            Ok(i) => self.items.set(i, Arc::new(obj)),
            Err(i) => self.items.insert(i, Arc::new(obj)),
        }
    }

    /// Appends an object of a first list (they come in order; one out of order
    /// marks the store for a sort when next read).
    fn append(&mut self, obj: K) {
        if let Some(last) = self.items.last()
            && ns_name(last.as_ref()) >= ns_name(&obj)
        {
            self.unsorted = true;
        }
        // A first list is everything anyway: no key per object.
        self.log.everything();
        self.items.push(Arc::new(obj));
    }
}

impl<K: Keyed> OrderedStore<K> {
    fn new() -> Self {
        Self {
            inner: Arc::new(RwLock::new(Ordered {
                items: Chunked::default(),
                unsorted: false,
                relist: None,
                listed: false,
                progress_shown: None,
                log: ChangeLog::default(),
            })),
        }
    }

    /// Every object, in namespace/name order.
    pub fn state(&self) -> Vec<Arc<K>> {
        self.shared().to_vec()
    }

    /// Every object, in namespace/name order, sharing the store's chunks (a pointer
    /// per chunk copied, not one per object).
    pub fn shared(&self) -> Chunked<Arc<K>> {
        self.shared_since(u64::MAX).0
    }

    /// [`OrderedStore::shared`], and what changed since change `since` (as of the
    /// same moment).
    pub fn shared_since(&self, since: u64) -> (Chunked<Arc<K>>, Changes) {
        let read = |s: &Ordered<K>| {
            let keys = if since == u64::MAX {
                Some(Vec::new())
            } else {
                s.log.since(since)
            };
            (
                s.items.clone(),
                Changes {
                    seq: s.log.seq,
                    keys,
                },
            )
        };
        if let Ok(s) = self.inner.read()
            && !s.unsorted
        {
            return read(&s);
        }
        self.inner
            .write()
            .map(|mut s| {
                s.sort();
                read(&s)
            })
            .unwrap_or_default()
    }

    /// One object by namespace and name, without copying the rest (the member poll
    /// looks up an ensemble's few pods this way, never walking every pod).
    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<K>> {
        self.inner.read().ok().and_then(|s| {
            let key = (namespace, name);
            if s.unsorted {
                return s.items.iter().find(|o| ns_name(o.as_ref()) == key).cloned();
            }
            s.find(key).ok().map(|i| s.items[i].clone())
        })
    }

    /// Applies one watch item; says whether the deriver should hear of it. The first
    /// list goes straight into the store, so its first pages show while the rest
    /// arrives (the kind is not synced until its end); a later list is collected aside
    /// and swapped in whole, so a relist never shows a half-empty store.
    fn apply(&self, event: Event<K>) -> bool {
        self.apply_at(event, Instant::now())
    }

    /// [`OrderedStore::apply`] at `now` (the first list's progress is paced by it).
    fn apply_at(&self, event: Event<K>, now: Instant) -> bool {
        let Ok(mut s) = self.inner.write() else {
            return false;
        };
        match event {
            Event::Apply(obj) => {
                s.upsert(obj);
                true
            }
            Event::Delete(obj) => {
                s.sort();
                if let Ok(i) = s.find(ns_name(&obj)) {
                    s.items.remove(i);
                    s.log.changed(ns_name(&obj));
                }
                true
            }
            // A retried first list starts again from nothing.
            Event::Init if !s.listed => {
                s.items.clear();
                s.unsorted = false;
                s.progress_shown = None;
                s.log.everything();
                false
            }
            Event::Init => {
                s.relist = Some(Vec::new());
                false
            }
            Event::InitApply(obj) if !s.listed => {
                s.append(obj);
                let due = s
                    .progress_shown
                    .is_none_or(|t| now.saturating_duration_since(t) >= FIRST_LIST_PROGRESS);
                if due {
                    s.progress_shown = Some(now);
                }
                due
            }
            Event::InitApply(obj) => {
                s.relist.get_or_insert_with(Vec::new).push(Arc::new(obj));
                false
            }
            Event::InitDone => {
                if let Some(items) = s.relist.take() {
                    s.items = items.into();
                    s.unsorted = true;
                    s.log.everything();
                }
                s.sort();
                s.listed = true;
                true
            }
        }
    }
}

/// What a successful watch item brought from the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Received {
    /// Nothing yet: a (re)list is about to start.
    Nothing,
    /// Objects of a list, or a change the watch delivered.
    Data,
    /// The last page of a list.
    ListDone,
}

impl Received {
    pub(crate) fn of<K>(ev: &Event<K>) -> Received {
        match ev {
            Event::Init => Received::Nothing,
            Event::InitDone => Received::ListDone,
            Event::InitApply(_) | Event::Apply(_) | Event::Delete(_) => Received::Data,
        }
    }
}

/// Whether a watch item changes what a store shows: objects applied or deleted, or a
/// (re)list swapped in. `Init` and the items of a list are buffered until `InitDone`.
pub(crate) fn shows_change<K>(ev: &Event<K>) -> bool {
    matches!(ev, Event::Apply(_) | Event::Delete(_) | Event::InitDone)
}

struct Spawner {
    conn: Connection,
    status: StatusMap,
    changed: Arc<Notify>,
    tasks: Vec<JoinHandle<()>>,
}

/// Records one watch result in the kind's status and wakes the deriver. Every watch,
/// calico's optional ones included, reports through one of these.
#[derive(Clone)]
pub(super) struct Recorder {
    kind: &'static str,
    status: StatusMap,
    changed: Arc<Notify>,
    server: String,
    started: std::time::Instant,
}

impl Recorder {
    pub(super) fn kind(&self) -> &'static str {
        self.kind
    }

    pub(super) fn record<K>(&self, item: &Result<Event<K>, watcher::Error>) {
        match item {
            Ok(ev) => self.ok(Received::of(ev), shows_change(ev)),
            Err(e) => self.err(e),
        }
    }

    /// A successful watch item. Only data from the server counts as a success: a
    /// list's `Init` is the start of an attempt (the watcher starts every retry with
    /// one), so it neither clears an error nor refreshes the data's age. Only what the
    /// store shows, or an error cleared, wakes the deriver: the items of a (re)list
    /// are buffered until its end.
    fn ok(&self, received: Received, shown: bool) {
        if received == Received::Nothing {
            return;
        }
        let now = jiff::Timestamp::now();
        let mut cleared = false;
        if let Ok(mut map) = self.status.lock()
            && let Some(s) = map.get_mut(self.kind)
        {
            if received == Received::ListDone {
                if !s.synced {
                    tracing::debug!(
                        kind = self.kind,
                        ms = self.started.elapsed().as_millis() as u64,
                        "first list complete"
                    );
                }
                s.synced = true;
            }
            s.last_success = Some(now);
            cleared = s.last_error.take().is_some();
        }
        if shown || cleared {
            self.changed.notify_one();
        }
    }

    /// The resource does not exist on this server: listed and empty, not an error.
    /// The watcher retries about every second; only the first answer, or one that
    /// clears an error, is news.
    pub(super) fn absent(&self) {
        let mut news = false;
        if let Ok(mut map) = self.status.lock()
            && let Some(s) = map.get_mut(self.kind)
        {
            news = !s.synced || s.last_error.is_some();
            s.synced = true;
            s.last_success = Some(jiff::Timestamp::now());
            s.last_error = None;
        }
        if news {
            self.changed.notify_one();
        }
    }

    /// The server's count of what the first list brings, while it runs (a count that
    /// comes after the list is news to nobody).
    fn expect(&self, total: usize) {
        let mut news = false;
        if let Ok(mut map) = self.status.lock()
            && let Some(s) = map.get_mut(self.kind)
            && !s.synced
        {
            s.expected = Some(total);
            news = true;
        }
        if news {
            self.changed.notify_one();
        }
    }

    pub(super) fn err(&self, e: &watcher::Error) {
        if let Ok(mut map) = self.status.lock()
            && let Some(s) = map.get_mut(self.kind)
        {
            let error = KubeError::from_watcher(e, &self.server);
            tracing::warn!(kind = self.kind, "watch failed: {error}");
            s.last_error = Some(error);
        }
        self.changed.notify_one();
    }
}

impl Spawner {
    fn recorder(&self, kind: &'static str) -> Recorder {
        if let Ok(mut s) = self.status.lock() {
            s.insert(
                kind,
                SourceStatus {
                    kind,
                    synced: false,
                    last_success: None,
                    last_error: None,
                    expected: None,
                },
            );
        }
        Recorder {
            kind,
            status: self.status.clone(),
            changed: self.changed.clone(),
            server: self.conn.server.clone(),
            started: std::time::Instant::now(),
        }
    }

    fn watch<K>(&mut self, api: Api<K>, kind: &'static str) -> Store<K>
    where
        K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
        K::DynamicType: Default + Eq + Hash + Clone,
    {
        self.watch_with(api, kind, watcher::Config::default())
    }

    /// Like [`Spawner::watch`], with a selector.
    fn watch_with<K>(
        &mut self,
        api: Api<K>,
        kind: &'static str,
        config: watcher::Config,
    ) -> Store<K>
    where
        K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
        K::DynamicType: Default + Eq + Hash + Clone,
    {
        let (reader, writer) = reflector::store();
        let recorder = self.recorder(kind);
        // The backoff sees no `Init`: it would restart the delay with every attempt
        // (a list that always fails asked again every second); the store needs it.
        let stream = watcher(api, config)
            .modify(strip::<K>)
            .reflect(writer)
            .filter(|item| std::future::ready(!matches!(item, Ok(Event::Init))))
            .default_backoff();
        self.tasks.push(tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(item) = stream.next().await {
                recorder.record(&item);
            }
        }));
        reader
    }

    /// Like [`Spawner::watch`], into an [`OrderedStore`], each object passed through
    /// `slim` and stored as a `K` (the object itself, or its slimmer form).
    fn watch_ordered<W, K>(
        &mut self,
        api: Api<W>,
        kind: &'static str,
        slim: fn(&mut W),
    ) -> OrderedStore<K>
    where
        W: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
        K: Keyed + From<W> + Send + Sync + 'static,
    {
        let store = OrderedStore::new();
        let writer = store.clone();
        let recorder = self.recorder(kind);
        // Beside the first list: about how many objects it brings, for its progress.
        let (counted, count_api) = (recorder.clone(), api.clone());
        self.tasks.push(tokio::spawn(async move {
            if let Some(total) = list_estimate(&count_api).await {
                counted.expect(total);
            }
        }));
        self.tasks
            .push(tokio::spawn(list_watch(api, kind, slim, move |item| {
                match item {
                    Ok(ev) => {
                        let received = Received::of(&ev);
                        // Into the store first: "synced" must mean the store is full.
                        let shown = writer.apply(ev);
                        recorder.ok(received, shown);
                    }
                    Err(e) => recorder.err(&e),
                }
            })));
        store
    }
}

/// About how many objects a list of `api` (no selector) brings: one object asked for,
/// metadata only, and the server's count of the rest (`remainingItemCount`, which the
/// API server gives on a paged list without selectors). `None` when the server does
/// not say or the request fails (the list's progress then shows without a total).
pub async fn list_estimate<K>(api: &Api<K>) -> Option<usize>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    match api.list_metadata(&ListParams::default().limit(1)).await {
        Ok(list) => list_total(&list.metadata, list.items.len()),
        Err(e) => {
            tracing::debug!("no count of the list beside it: {e}");
            None
        }
    }
}

/// The total a one-page list says it has: its items when it has no continuation,
/// else its items and the `remainingItemCount` (`None` when the server gave none).
fn list_total(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ListMeta,
    items: usize,
) -> Option<usize> {
    match meta.continue_.as_deref().filter(|c| !c.is_empty()) {
        None => Some(items),
        Some(_) => meta
            .remaining_item_count
            .and_then(|r| usize::try_from(r).ok())
            .map(|r| r + items),
    }
}

/// How long the API server has to answer a probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

impl Spawner {
    /// Asks the API server for its version every two seconds while a kind waits for
    /// its first list or reports the server unreachable:
    /// - a watch that resumed after an outage yields nothing until something changes,
    ///   so its error would stay on screen: once the server answers, the errors that
    ///   said it was unreachable are cleared (a watch that still fails reports its
    ///   error anew on its next retry). The answer is not data: the kinds keep the
    ///   age of what they last received.
    /// - a server that accepts connections and never answers leaves a first list
    ///   waiting for minutes without an error: when the probe gets no answer either,
    ///   the waiting kinds are marked failing with why.
    fn spawn_probe(&mut self) {
        let status = self.status.clone();
        let changed = self.changed.clone();
        let client = self.conn.client.clone();
        let server = self.conn.server.clone();
        self.tasks.push(tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(2)).await;
                let needed = status
                    .lock()
                    .map(|m| {
                        m.values()
                            .any(|s| s.last_error.as_ref().map_or(!s.synced, is_connectivity))
                    })
                    .unwrap_or(false);
                if !needed {
                    continue;
                }
                let answer = tokio::time::timeout(PROBE_TIMEOUT, client.apiserver_version()).await;
                tracing::debug!(answered = matches!(answer, Ok(Ok(_))), "API server probe");
                let error = match answer {
                    Ok(Ok(_)) => None,
                    Ok(Err(e)) => Some(KubeError::from_kube(&e, &server)),
                    Err(_) => Some(KubeError::Unreachable {
                        server: server.clone(),
                        why: super::errors::Unreachable::TimedOut,
                    }),
                };
                let mut news = false;
                if let Ok(mut map) = status.lock() {
                    for s in map.values_mut() {
                        match (&error, &s.last_error) {
                            (None, Some(e)) if is_connectivity(e) => s.last_error = None,
                            (Some(e), None) if !s.synced => s.last_error = Some(e.clone()),
                            _ => continue,
                        }
                        news = true;
                    }
                }
                if news {
                    changed.notify_one();
                }
            }
        }));
    }
}

fn is_connectivity(error: &KubeError) -> bool {
    error.is_unreachable()
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
        let nodes = sp.watch_ordered(Api::<Node>::all(c.clone()), "nodes", strip_node);
        let pods = sp.watch_ordered(Api::<ApiPod>::all(c.clone()), "pods", strip_pod);
        let pvs = sp.watch(Api::<PersistentVolume>::all(c.clone()), "persistentvolumes");
        let pvcs = sp.watch(
            Api::<PersistentVolumeClaim>::all(c.clone()),
            "persistentvolumeclaims",
        );
        let storage_classes = sp.watch(Api::<StorageClass>::all(c.clone()), "storageclasses");
        let volume_attachments =
            sp.watch(Api::<VolumeAttachment>::all(c.clone()), "volumeattachments");
        let statefulsets = sp.watch(Api::<StatefulSet>::all(c.clone()), "statefulsets");
        let daemonsets = sp.watch(Api::<DaemonSet>::all(c.clone()), "daemonsets");
        let deployments = sp.watch(Api::<Deployment>::all(c.clone()), "deployments");
        let events = sp.watch_ordered(Api::<KEvent>::all(c.clone()), "events", strip::<KEvent>);
        let namespaces = sp.watch(Api::<Namespace>::all(c.clone()), "namespaces");
        let mut configmaps: Vec<Store<ConfigMap>> = CONFIGMAP_NAMESPACES
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
        // ceph-csi's cluster list, in whichever namespace ceph-csi runs.
        configmaps.push(sp.watch_with(
            Api::<ConfigMap>::all(c.clone()),
            "configmaps/ceph-csi-config",
            watcher::Config::default().fields("metadata.name=ceph-csi-config"),
        ));
        let [ip_pools, block_affinities] =
            [super::calico::ip_pools(), super::calico::block_affinities()].map(|ar| {
                let kind = super::calico::source_kind(&ar);
                let (store, task) = super::calico::watch_optional(c.clone(), ar, sp.recorder(kind));
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
            volume_attachments,
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
                            s.last_error
                                .map_or_else(|| "no answer yet".into(), |e| e.to_string())
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
        self.snapshot_since(u64::MAX).0
    }

    /// [`Sources::snapshot`], and which pods changed since pod change `since` (the
    /// deriver redoes only their rows).
    pub fn snapshot_since(&self, since: u64) -> (Snapshot, Changes) {
        let mut s = Snapshot {
            now: jiff::Timestamp::now(),
            nodes: Chunked::default(),
            pods: Chunked::default(),
            pvs: self.pvs.state(),
            pvcs: self.pvcs.state(),
            storage_classes: self.storage_classes.state(),
            volume_attachments: self.volume_attachments.state(),
            statefulsets: self.statefulsets.state(),
            daemonsets: self.daemonsets.state(),
            deployments: self.deployments.state(),
            events: Vec::new(),
            namespaces: self.namespaces.state(),
            configmaps: self.configmaps.iter().flat_map(|s| s.state()).collect(),
            ip_pools: self.ip_pools.state(),
            block_affinities: self.block_affinities.state(),
            sources: self.statuses(),
            host: None,
            remote_hosts: Default::default(),
            ceph: None,
            interrupted: Vec::new(),
            members: None,
        };
        s.sort();
        // Already in namespace/name order (sorting 150,000 pods again takes a second).
        s.nodes = self.nodes.shared();
        let (pods, changes) = self.pods.shared_since(since);
        s.pods = pods;
        s.events = self.events.state();
        (s, changes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorder() -> Recorder {
        let status: StatusMap = Arc::new(Mutex::new(BTreeMap::new()));
        if let Ok(mut m) = status.lock() {
            m.insert(
                "pods",
                SourceStatus {
                    kind: "pods",
                    synced: true,
                    last_success: None,
                    last_error: Some(KubeError::Unreachable {
                        server: "https://127.0.0.1:6443".into(),
                        why: crate::kube::errors::Unreachable::Refused,
                    }),
                    expected: None,
                },
            );
        }
        Recorder {
            kind: "pods",
            status,
            changed: Arc::new(Notify::new()),
            server: "https://192.0.2.1:6443".into(),
            started: std::time::Instant::now(),
        }
    }

    fn pod(ns: &str, name: &str, restarts: i32) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"namespace": ns, "name": name},
            "status": {"containerStatuses": [{"name": "c", "ready": true, "restartCount": restarts}]}
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn names(store: &OrderedStore<Pod>) -> Vec<String> {
        store
            .state()
            .iter()
            .map(|p| {
                let (ns, name) = ns_name(p.as_ref());
                format!("{ns}/{name}")
            })
            .collect()
    }

    /// The first list shows as it arrives, in order even when it comes out of order;
    /// changes keep the order; a relist is swapped in whole at its end.
    /// A node keeps what is read of it (name, labels, annotations, podCIDR, taints,
    /// conditions, addresses, the kubelet's version) and drops the rest.
    #[test]
    fn a_stored_node_keeps_what_is_read() {
        let mut node: Node = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "node1", "labels": {"node-role.kubernetes.io/control-plane": ""},
                "annotations": {"flannel.alpha.coreos.com/public-ip": "192.0.2.11",
                    "kubectl.kubernetes.io/last-applied-configuration": "{}"},
                "managedFields": [{"manager": "kubelet"}]},
            "spec": {"podCIDR": "10.244.1.0/24", "taints": [{"key": "k", "effect": "NoSchedule"}]},
            "status": {
                "addresses": [{"type": "InternalIP", "address": "192.0.2.11"}],
                "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                "allocatable": {"cpu": "3800m", "memory": "7Gi", "pods": "110"},
                "conditions": [{"type": "Ready", "status": "True"}],
                "images": [{"names": ["registry.k8s.io/pause:3.10"], "sizeBytes": 1}],
                "volumesInUse": ["kubernetes.io/csi/rbd.csi.ceph.com^0001"],
                "nodeInfo": {"kubeletVersion": "v1.32.4", "osImage": "Debian GNU/Linux 12", "machineID": "m",
                    "systemUUID": "u", "bootID": "b", "kernelVersion": "6.1.0", "containerRuntimeVersion": "containerd://1.7",
                    "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64"}
            }
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        strip_node(&mut node);
        let m = &node.metadata;
        assert_eq!(m.name.as_deref(), Some("node1"));
        assert!(m.managed_fields.is_none());
        assert!(
            m.labels
                .as_ref()
                .is_some_and(|l| l.contains_key("node-role.kubernetes.io/control-plane"))
        );
        let annotations = m.annotations.clone().unwrap_or_default();
        assert_eq!(
            annotations.keys().collect::<Vec<_>>(),
            ["flannel.alpha.coreos.com/public-ip"]
        );
        let spec = node.spec.as_ref().unwrap_or_else(|| panic!("no spec"));
        assert_eq!(spec.pod_cidr.as_deref(), Some("10.244.1.0/24"));
        assert_eq!(spec.taints.as_ref().map(Vec::len), Some(1));
        let status = node.status.as_ref().unwrap_or_else(|| panic!("no status"));
        assert_eq!(status.conditions.as_ref().map(Vec::len), Some(1));
        assert_eq!(status.addresses.as_ref().map(Vec::len), Some(1));
        assert!(status.capacity.is_none() && status.allocatable.is_none());
        assert!(status.images.is_none() && status.volumes_in_use.is_none());
        let info = status
            .node_info
            .as_ref()
            .unwrap_or_else(|| panic!("no nodeInfo"));
        assert_eq!(info.kubelet_version, "v1.32.4");
        assert_eq!((info.os_image.as_str(), info.machine_id.as_str()), ("", ""));
    }

    #[test]
    fn ordered_store_keeps_namespace_name_order() {
        let store = OrderedStore::<Pod>::new();
        let t = Instant::now();
        assert!(!store.apply_at(Event::Init, t));
        assert!(
            store.apply_at(Event::InitApply(pod("b", "x", 0)), t),
            "the first object shows"
        );
        assert!(!store.apply_at(Event::InitApply(pod("a", "y", 0)), t));
        assert!(!store.apply_at(Event::InitApply(pod("b", "a", 0)), t));
        assert_eq!(
            names(&store),
            ["a/y", "b/a", "b/x"],
            "shown before the list ends"
        );
        assert_eq!(
            store
                .get("b", "a")
                .map(|p| ns_name(p.as_ref()).1.to_string())
                .as_deref(),
            Some("a")
        );
        assert!(store.apply(Event::InitDone));
        assert!(store.apply(Event::Apply(pod("a", "z", 0))));
        assert!(store.apply(Event::Apply(pod("b", "x", 5))));
        assert!(store.apply(Event::Delete(pod("b", "a", 0))));
        assert_eq!(names(&store), ["a/y", "a/z", "b/x"]);
        let restarts = |p: &Pod| {
            p.status
                .as_ref()
                .and_then(|s| s.container_statuses.as_ref())
                .map(|c| c[0].restart_count)
        };
        assert_eq!(store.get("b", "x").and_then(|p| restarts(&p)), Some(5));
        assert_eq!(store.get("b", "a").map(|_| ()), None);
        // A relist: the store shows the old objects until it is complete.
        assert!(!store.apply(Event::Init));
        assert!(!store.apply(Event::InitApply(pod("c", "c", 0))));
        assert!(!store.apply(Event::InitApply(pod("a", "y", 1))));
        assert_eq!(names(&store), ["a/y", "a/z", "b/x"]);
        assert!(store.apply(Event::InitDone));
        assert_eq!(names(&store), ["a/y", "c/c"]);
    }

    /// The first list wakes the deriver at its first object, then at most every
    /// `FIRST_LIST_PROGRESS` however many objects come; a retried list starts over.
    #[test]
    fn first_list_progress_is_paced_by_time() {
        let store = OrderedStore::<Pod>::new();
        let t = Instant::now();
        let at = |ms: u64| t + Duration::from_millis(ms);
        let woken = |from: usize, to: usize, ms: u64| -> usize {
            (from..to)
                .filter(|i| {
                    store.apply_at(Event::InitApply(pod("ns", &format!("p{i:05}"), 0)), at(ms))
                })
                .count()
        };
        assert!(!store.apply_at(Event::Init, t));
        assert_eq!(
            woken(0, 500, 0),
            1,
            "the first page: woken at its first object"
        );
        assert_eq!(woken(500, 5_000, 499), 0, "not before the pace");
        assert_eq!(woken(5_000, 5_500, 500), 1, "then once a pace");
        assert_eq!(woken(5_500, 6_000, 999), 0);
        assert_eq!(woken(6_000, 6_500, 2_000), 1);
        assert_eq!(store.state().len(), 6_500, "every object shown as it came");
        // The watcher retries the first list: it starts again from nothing.
        assert!(!store.apply_at(Event::Init, at(2_100)));
        assert!(store.state().is_empty());
        assert_eq!(
            woken(0, 10, 2_100),
            1,
            "a retried list shows its first object"
        );
        assert!(store.apply_at(Event::InitDone, at(2_200)));
        // Listed: changes show one by one, whatever the pace.
        assert!(store.apply_at(Event::Apply(pod("ns", "new", 0)), at(2_200)));
        assert!(store.apply_at(Event::Apply(pod("ns", "new2", 0)), at(2_200)));
    }

    /// The server's count of a one-object list: its item and the rest; none when a
    /// list with more to come has no count (a selector).
    #[test]
    fn a_one_object_list_counts_the_whole() {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::ListMeta;
        let meta = |cont: Option<&str>, remaining: Option<i64>| ListMeta {
            continue_: cont.map(str::to_string),
            remaining_item_count: remaining,
            ..ListMeta::default()
        };
        assert_eq!(
            list_total(&meta(Some("tok"), Some(150_015)), 1),
            Some(150_016)
        );
        assert_eq!(list_total(&meta(Some("tok"), None), 1), None);
        assert_eq!(
            list_total(&meta(None, None), 1),
            Some(1),
            "everything in one"
        );
        assert_eq!(list_total(&meta(Some(""), None), 0), Some(0), "empty");
    }

    /// The server's count shows while the first list runs (and wakes the deriver to
    /// say so); once listed, a late count changes nothing.
    #[tokio::test]
    async fn the_count_beside_a_first_list_shows_until_it_is_listed() {
        let r = recorder();
        let expected = |r: &Recorder| r.status.lock().unwrap()["pods"].expected;
        if let Ok(mut m) = r.status.lock()
            && let Some(s) = m.get_mut("pods")
        {
            s.synced = false;
        }
        r.expect(150_016);
        assert_eq!(expected(&r), Some(150_016));
        let woken = tokio::time::timeout(Duration::from_millis(100), r.changed.notified()).await;
        assert!(woken.is_ok(), "the count woke nobody");
        r.ok(Received::ListDone, true);
        let _ = tokio::time::timeout(Duration::from_millis(100), r.changed.notified()).await;
        r.expect(7);
        assert_eq!(expected(&r), Some(150_016), "a count after the list");
        let again = tokio::time::timeout(Duration::from_millis(100), r.changed.notified()).await;
        assert!(again.is_err(), "a late count must not wake the deriver");
    }

    /// A retry's `Init` leaves the error standing; the first data after it clears the
    /// error and wakes the deriver once, even if it shows nothing yet (a list's items
    /// are buffered): the views show the error it clears.
    #[tokio::test]
    async fn clearing_an_error_wakes_the_deriver_once() {
        let r = recorder();
        r.ok(Received::Nothing, false);
        assert!(
            r.status.lock().unwrap()["pods"].last_error.is_some(),
            "a retry's start is no success"
        );
        r.ok(Received::Data, false);
        let woken = tokio::time::timeout(Duration::from_millis(100), r.changed.notified()).await;
        assert!(woken.is_ok(), "the cleared error woke nobody");
        assert!(r.status.lock().unwrap()["pods"].last_error.is_none());
        r.ok(Received::Data, false);
        let again = tokio::time::timeout(Duration::from_millis(100), r.changed.notified()).await;
        assert!(again.is_err(), "an idle retry must not wake the deriver");
    }
}
