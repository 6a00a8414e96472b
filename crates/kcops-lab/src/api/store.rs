//! The lab's object store: every object as serialized JSON plus the metadata that
//! selectors need, one global resourceVersion, and a bounded change history that
//! serves watches and consistent paginated lists.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::resources::{Registry, ResourceType};
use super::status::ApiError;

/// `(namespace, name)`; namespace is empty for cluster-scoped objects.
pub type Key = (String, String);

/// One stored object.
#[derive(Debug)]
pub struct Entry {
    pub rv: u64,
    pub raw: Bytes,
    pub uid: String,
    pub labels: BTreeMap<String, String>,
    /// Values of the fields this resource supports in field selectors.
    pub fields: Vec<(String, String)>,
}

impl Entry {
    /// Parses the stored JSON (always valid: the store serialized it).
    pub fn value(&self) -> Value {
        serde_json::from_slice(&self.raw).unwrap_or(Value::Null)
    }

    pub fn field(&self, name: &str) -> &str {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    /// Parses into a k8s-openapi type.
    pub fn typed<T: serde::de::DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_slice(&self.raw).ok()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Added => "ADDED",
            ChangeKind::Modified => "MODIFIED",
            ChangeKind::Deleted => "DELETED",
        }
    }
}

/// One change, as watches deliver it.
#[derive(Debug)]
pub struct Change {
    pub rv: u64,
    /// `group/plural`, the table the change belongs to.
    pub table: String,
    pub kind: ChangeKind,
    pub key: Key,
    /// The object after the change; for deletes, the object as deleted.
    pub object: Arc<Entry>,
    /// The object before the change (None for creates).
    pub old: Option<Arc<Entry>>,
}

#[derive(Default)]
struct Table {
    objects: BTreeMap<Key, Arc<Entry>>,
    /// Pods by `spec.nodeName` ("" = unscheduled): what the scheduler and kubelets ask.
    by_node: HashMap<String, BTreeSet<Key>>,
}

struct Inner {
    rv: u64,
    tables: HashMap<String, Table>,
    history: VecDeque<Arc<Change>>,
    /// The newest resourceVersion dropped from the history: watches and continues
    /// from before it get 410.
    compacted: u64,
    history_limit: usize,
}

/// A page of a list.
pub struct Page {
    pub items: Vec<Arc<Entry>>,
    /// The snapshot's resourceVersion.
    pub rv: u64,
    /// Last key of the page when more items follow.
    pub next: Option<Key>,
    pub remaining: usize,
}

/// Live changes after a watch's backlog.
pub type ChangeReceiver = broadcast::Receiver<Arc<Change>>;

/// The object store shared by the API server and the controllers.
pub struct Store {
    inner: Mutex<Inner>,
    tx: broadcast::Sender<Arc<Change>>,
    pub registry: Registry,
}

pub fn table_name(rt: &ResourceType) -> String {
    format!("{}/{}", rt.group, rt.plural)
}

/// RFC 3339 with seconds, as Kubernetes writes timestamps.
pub fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

impl Store {
    pub fn new(history_limit: usize) -> Self {
        let (tx, _) = broadcast::channel(1 << 16);
        Self {
            inner: Mutex::new(Inner {
                rv: 1,
                tables: HashMap::new(),
                history: VecDeque::new(),
                compacted: 0,
                history_limit: history_limit.max(1),
            }),
            tx,
            registry: Registry::with_builtins(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent data (every write is a
        // single insert), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn current_rv(&self) -> u64 {
        self.lock().rv
    }

    pub fn set_history_limit(&self, limit: usize) {
        let mut inner = self.lock();
        inner.history_limit = limit.max(1);
        inner.trim();
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Change>> {
        self.tx.subscribe()
    }

    pub fn get(&self, rt: &ResourceType, ns: &str, name: &str) -> Option<Arc<Entry>> {
        let inner = self.lock();
        inner
            .tables
            .get(&table_name(rt))?
            .objects
            .get(&(ns.to_string(), name.to_string()))
            .cloned()
    }

    pub fn get_value(&self, rt: &ResourceType, ns: &str, name: &str) -> Option<Value> {
        self.get(rt, ns, name).map(|e| e.value())
    }

    /// Every object of a type (in `ns` when given), newest state.
    pub fn list(&self, rt: &ResourceType, ns: Option<&str>) -> Vec<Arc<Entry>> {
        let inner = self.lock();
        let Some(table) = inner.tables.get(&table_name(rt)) else {
            return Vec::new();
        };
        match ns {
            Some(ns) => range_ns(&table.objects, ns)
                .map(|(_, e)| e.clone())
                .collect(),
            None => table.objects.values().cloned().collect(),
        }
    }

    /// Pods bound to `node` ("" = not yet scheduled), from the index.
    pub fn pods_on_node(&self, rt: &ResourceType, node: &str) -> Vec<Arc<Entry>> {
        let inner = self.lock();
        let Some(table) = inner.tables.get(&table_name(rt)) else {
            return Vec::new();
        };
        table
            .by_node
            .get(node)
            .map(|keys| {
                keys.iter()
                    .filter_map(|k| table.objects.get(k).cloned())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn count(&self, rt: &ResourceType) -> usize {
        self.lock()
            .tables
            .get(&table_name(rt))
            .map(|t| t.objects.len())
            .unwrap_or(0)
    }

    /// One page of a list, as of `at_rv` (a continue token's snapshot) or now. With
    /// `count_remaining`, `remaining` is the exact number of items after the page (the
    /// API server's remainingItemCount); otherwise it only tells that more follow.
    #[allow(clippy::too_many_arguments)]
    pub fn list_page(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        after: Option<&Key>,
        limit: usize,
        at_rv: Option<u64>,
        filter: &dyn Fn(&Entry) -> bool,
        count_remaining: bool,
    ) -> Result<Page, ApiError> {
        let inner = self.lock();
        let tname = table_name(rt);
        let empty = Table::default();
        let table = inner.tables.get(&tname).unwrap_or(&empty);
        let snapshot_rv = at_rv.unwrap_or(inner.rv);
        // Objects changed since the snapshot, with their state at the snapshot.
        let mut at_snapshot: BTreeMap<Key, Option<Arc<Entry>>> = BTreeMap::new();
        if snapshot_rv < inner.rv {
            if snapshot_rv < inner.compacted {
                return Err(ApiError::gone(
                    "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
                ));
            }
            for change in inner
                .history
                .iter()
                .rev()
                .take_while(|c| c.rv > snapshot_rv)
            {
                if change.table == tname {
                    at_snapshot.insert(change.key.clone(), change.old.clone());
                }
            }
        }
        let in_scope = |k: &Key| ns.is_none_or(|n| k.0 == n) && after.is_none_or(|a| k > a);
        // Straight to the first key in scope: a page of a long list costs the page (and
        // the count after it), not a walk over every key before it.
        use std::ops::Bound;
        let ns_start = ns.map(|n| (n.to_string(), String::new()));
        let start = match (after, ns_start) {
            (Some(a), Some(n)) if *a < n => Bound::Included(n),
            (Some(a), _) => Bound::Excluded(a.clone()),
            (None, Some(n)) => Bound::Included(n),
            (None, None) => Bound::Unbounded,
        };
        let current = table
            .objects
            .range((start, Bound::Unbounded))
            .take_while(|(k, _)| ns.is_none_or(|n| k.0 == n))
            .filter(|(k, _)| in_scope(k) && !at_snapshot.contains_key(*k));
        let old = at_snapshot
            .iter()
            .filter(|(k, e)| e.is_some() && in_scope(k))
            .filter_map(|(k, e)| e.as_ref().map(|e| (k, e)));
        let mut merged: Vec<(&Key, &Arc<Entry>)> = Vec::new();
        let mut beyond = 0usize;
        let mut cur = current.peekable();
        let mut old = old.peekable();
        loop {
            let next = match (cur.peek(), old.peek()) {
                (Some(a), Some(b)) => {
                    if a.0 <= b.0 {
                        cur.next()
                    } else {
                        old.next()
                    }
                }
                (Some(_), None) => cur.next(),
                (None, Some(_)) => old.next(),
                (None, None) => None,
            };
            let Some(item) = next else { break };
            if limit > 0 && merged.len() > limit {
                // Past the page: counted only when the caller wants the count.
                if !count_remaining {
                    break;
                }
                if filter(item.1) {
                    beyond += 1;
                }
                continue;
            }
            if filter(item.1) {
                merged.push(item);
            }
        }
        let mut next = None;
        let mut remaining = 0;
        if limit > 0 && merged.len() > limit {
            remaining = merged.len() - limit + beyond;
            merged.truncate(limit);
            next = merged.last().map(|(k, _)| (*k).clone());
        }
        Ok(Page {
            items: merged.into_iter().map(|(_, e)| e.clone()).collect(),
            rv: snapshot_rv,
            next,
            remaining,
        })
    }

    /// The changes after `rv` for one table, and a receiver for those that follow,
    /// taken atomically so nothing falls between them.
    pub fn watch_from(
        &self,
        rt: &ResourceType,
        rv: u64,
    ) -> Result<(Vec<Arc<Change>>, ChangeReceiver), ApiError> {
        let inner = self.lock();
        if rv < inner.compacted {
            return Err(ApiError::gone(format!(
                "too old resource version: {rv} ({})",
                inner.compacted + 1
            )));
        }
        let tname = table_name(rt);
        let backlog = inner
            .history
            .iter()
            .filter(|c| c.rv > rv && c.table == tname)
            .cloned()
            .collect();
        Ok((backlog, self.tx.subscribe()))
    }

    /// The current objects plus a receiver, for watches without a resourceVersion.
    pub fn snapshot_and_subscribe(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
    ) -> (u64, Vec<Arc<Entry>>, broadcast::Receiver<Arc<Change>>) {
        let inner = self.lock();
        let items = inner
            .tables
            .get(&table_name(rt))
            .map(|t| match ns {
                Some(ns) => range_ns(&t.objects, ns).map(|(_, e)| e.clone()).collect(),
                None => t.objects.values().cloned().collect(),
            })
            .unwrap_or_default();
        (inner.rv, items, self.tx.subscribe())
    }

    /// Creates an object: assigns uid, creationTimestamp, resourceVersion and a
    /// generated name; refuses an existing name with 409.
    pub fn create(&self, rt: &ResourceType, mut obj: Value) -> Result<Arc<Entry>, ApiError> {
        let meta = obj
            .get_mut("metadata")
            .and_then(|m| m.as_object_mut())
            .ok_or_else(|| ApiError::bad_request("metadata is required"))?;
        let has_name = meta
            .get("name")
            .and_then(|n| n.as_str())
            .is_some_and(|n| !n.is_empty());
        if !has_name {
            let prefix = meta
                .get("generateName")
                .and_then(|n| n.as_str())
                .unwrap_or_default()
                .to_string();
            if prefix.is_empty() {
                return Err(ApiError::invalid(
                    &rt.qualified(),
                    &rt.kind,
                    "",
                    "metadata.name: Required value: name or generateName is required",
                ));
            }
            meta.insert(
                "name".into(),
                json!(format!("{prefix}{}", random_suffix(5))),
            );
        }
        meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
        meta.insert("creationTimestamp".into(), json!(now_rfc3339()));
        meta.remove("deletionTimestamp");
        if obj.get("spec").is_some()
            && !matches!(
                rt.kind.as_str(),
                "Pod"
                    | "Service"
                    | "PersistentVolumeClaim"
                    | "PersistentVolume"
                    | "Node"
                    | "Namespace"
            )
        {
            obj["metadata"]["generation"] = json!(1);
        }
        obj["apiVersion"] = json!(rt.api_version());
        obj["kind"] = json!(rt.kind);
        let (ns, name) = key_of(&obj);
        let mut inner = self.lock();
        let tname = table_name(rt);
        if inner
            .tables
            .get(&tname)
            .is_some_and(|t| t.objects.contains_key(&(ns.clone(), name.clone())))
        {
            return Err(ApiError::already_exists(
                &rt.qualified(),
                &rt.group,
                &rt.plural,
                &name,
            ));
        }
        inner.commit(&self.tx, rt, (ns, name), Some(obj), ChangeKind::Added)
    }

    /// Replaces an object. With `expect_rv`, a stale resourceVersion is a 409 Conflict.
    /// Objects being deleted are removed once their finalizers are gone.
    pub fn update(
        &self,
        rt: &ResourceType,
        obj: Value,
        expect_rv: Option<u64>,
    ) -> Result<Arc<Entry>, ApiError> {
        let (ns, name) = key_of(&obj);
        self.mutate(rt, &ns, &name, expect_rv, |current| {
            let mut obj = obj;
            // Immutable metadata stays as stored.
            for field in [
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
            ] {
                match current["metadata"].get(field) {
                    Some(v) => obj["metadata"][field] = v.clone(),
                    None => {
                        if let Some(m) = obj["metadata"].as_object_mut() {
                            m.remove(field);
                        }
                    }
                }
            }
            *current = obj;
            Ok(())
        })
    }

    /// Read-modify-write under the store lock: what controllers use so they never
    /// conflict with each other. Bumps `generation` when `spec` changes.
    pub fn mutate(
        &self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        expect_rv: Option<u64>,
        f: impl FnOnce(&mut Value) -> Result<(), ApiError>,
    ) -> Result<Arc<Entry>, ApiError> {
        let mut inner = self.lock();
        let tname = table_name(rt);
        let key = (ns.to_string(), name.to_string());
        let entry = inner
            .tables
            .get(&tname)
            .and_then(|t| t.objects.get(&key))
            .cloned()
            .ok_or_else(|| ApiError::not_found(&rt.qualified(), &rt.group, &rt.plural, name))?;
        if let Some(want) = expect_rv
            && want != entry.rv
        {
            return Err(ApiError::conflict(
                &rt.qualified(),
                &rt.group,
                &rt.plural,
                name,
            ));
        }
        let before = entry.value();
        let mut after = before.clone();
        f(&mut after)?;
        after["apiVersion"] = json!(rt.api_version());
        after["kind"] = json!(rt.kind);
        if key_of(&after) != key {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                key_of(&after).1
            )));
        }
        if after.get("spec") != before.get("spec")
            && let Some(g) = before["metadata"]
                .get("generation")
                .and_then(|g| g.as_i64())
        {
            after["metadata"]["generation"] = json!(g + 1);
        }
        after["metadata"]["resourceVersion"] = before["metadata"]["resourceVersion"].clone();
        if after == before {
            return Ok(entry);
        }
        let deleting = after["metadata"]
            .get("deletionTimestamp")
            .is_some_and(|d| !d.is_null());
        let finalizers_empty = after["metadata"]
            .get("finalizers")
            .and_then(|f| f.as_array())
            .is_none_or(|f| f.is_empty());
        let pod_grace_pending = rt.kind == "Pod"
            && after["metadata"]
                .get("deletionGracePeriodSeconds")
                .and_then(|g| g.as_i64())
                .unwrap_or(0)
                > 0;
        if deleting && finalizers_empty && !pod_grace_pending {
            return inner.commit(&self.tx, rt, key, Some(after), ChangeKind::Deleted);
        }
        inner.commit(&self.tx, rt, key, Some(after), ChangeKind::Modified)
    }

    /// Deletes an object the way the API server does: objects with finalizers, and
    /// pods on a node given a grace period, only get a deletionTimestamp; the rest go.
    pub fn delete(
        &self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        grace_seconds: Option<i64>,
        precondition_uid: Option<&str>,
    ) -> Result<Arc<Entry>, ApiError> {
        let mut inner = self.lock();
        let tname = table_name(rt);
        let key = (ns.to_string(), name.to_string());
        let entry = inner
            .tables
            .get(&tname)
            .and_then(|t| t.objects.get(&key))
            .cloned()
            .ok_or_else(|| ApiError::not_found(&rt.qualified(), &rt.group, &rt.plural, name))?;
        if let Some(uid) = precondition_uid
            && uid != entry.uid
        {
            return Err(ApiError::new(
                409,
                "Conflict",
                format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    entry.uid
                ),
            ));
        }
        let mut obj = entry.value();
        let has_finalizers = obj["metadata"]
            .get("finalizers")
            .and_then(|f| f.as_array())
            .is_some_and(|f| !f.is_empty());
        let scheduled = rt.kind == "Pod"
            && obj["spec"]
                .get("nodeName")
                .and_then(|n| n.as_str())
                .is_some_and(|n| !n.is_empty());
        let grace = if rt.kind == "Pod" {
            grace_seconds
                .or_else(|| {
                    obj["spec"]
                        .get("terminationGracePeriodSeconds")
                        .and_then(|g| g.as_i64())
                })
                .unwrap_or(30)
        } else {
            0
        };
        let already = obj["metadata"]
            .get("deletionTimestamp")
            .is_some_and(|d| !d.is_null());
        if has_finalizers || (scheduled && grace > 0) {
            if already && !(scheduled && grace == 0) {
                return Ok(entry);
            }
            if !already {
                // As the API server does: the time by which the object should be gone.
                let when = jiff::Timestamp::now()
                    + jiff::SignedDuration::from_secs(if scheduled { grace } else { 0 });
                obj["metadata"]["deletionTimestamp"] =
                    json!(when.strftime("%Y-%m-%dT%H:%M:%SZ").to_string());
            }
            if rt.kind == "Pod" {
                obj["metadata"]["deletionGracePeriodSeconds"] =
                    json!(if scheduled { grace } else { 0 });
            } else {
                obj["metadata"]["deletionGracePeriodSeconds"] = json!(0);
            }
            if !(has_finalizers) && scheduled && grace == 0 {
                return inner.commit(&self.tx, rt, key, Some(obj), ChangeKind::Deleted);
            }
            return inner.commit(&self.tx, rt, key, Some(obj), ChangeKind::Modified);
        }
        inner.commit(&self.tx, rt, key, Some(obj), ChangeKind::Deleted)
    }
}

impl Inner {
    /// Stores (or removes) one object under a new resourceVersion and records the change.
    fn commit(
        &mut self,
        tx: &broadcast::Sender<Arc<Change>>,
        rt: &ResourceType,
        key: Key,
        obj: Option<Value>,
        kind: ChangeKind,
    ) -> Result<Arc<Entry>, ApiError> {
        let Some(mut obj) = obj else {
            return Err(ApiError::internal("commit without object"));
        };
        self.rv += 1;
        let rv = self.rv;
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
        let raw = serde_json::to_vec(&obj)
            .map_err(|e| ApiError::internal(format!("cannot serialize object: {e}")))?;
        let entry = Arc::new(Entry {
            rv,
            raw: Bytes::from(raw),
            uid: obj["metadata"]
                .get("uid")
                .and_then(|u| u.as_str())
                .unwrap_or_default()
                .to_string(),
            labels: labels_of(&obj),
            fields: fields_of(&rt.kind, &obj),
        });
        let tname = table_name(rt);
        let table = self.tables.entry(tname.clone()).or_default();
        let old = if kind == ChangeKind::Deleted {
            table.objects.remove(&key)
        } else {
            table.objects.insert(key.clone(), entry.clone())
        };
        if rt.kind == "Pod" {
            if let Some(old) = &old
                && let Some(set) = table.by_node.get_mut(old.field("spec.nodeName"))
            {
                set.remove(&key);
            }
            if kind != ChangeKind::Deleted {
                table
                    .by_node
                    .entry(entry.field("spec.nodeName").to_string())
                    .or_default()
                    .insert(key.clone());
            }
        }
        let change = Arc::new(Change {
            rv,
            table: tname,
            kind,
            key,
            object: entry.clone(),
            old,
        });
        self.history.push_back(change.clone());
        self.trim();
        let _ = tx.send(change);
        Ok(entry)
    }

    fn trim(&mut self) {
        while self.history.len() > self.history_limit {
            if let Some(c) = self.history.pop_front() {
                self.compacted = c.rv;
            }
        }
    }
}

fn range_ns<'a>(
    objects: &'a BTreeMap<Key, Arc<Entry>>,
    ns: &'a str,
) -> impl Iterator<Item = (&'a Key, &'a Arc<Entry>)> + 'a {
    objects
        .range((ns.to_string(), String::new())..)
        .take_while(move |(k, _)| k.0 == ns)
}

pub fn key_of(obj: &Value) -> Key {
    let meta = &obj["metadata"];
    (
        meta.get("namespace")
            .and_then(|n| n.as_str())
            .unwrap_or_default()
            .to_string(),
        meta.get("name")
            .and_then(|n| n.as_str())
            .unwrap_or_default()
            .to_string(),
    )
}

fn labels_of(obj: &Value) -> BTreeMap<String, String> {
    obj["metadata"]
        .get("labels")
        .and_then(|l| l.as_object())
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// The field selectors each kind supports, as the API server defines them.
pub fn supported_fields(kind: &str) -> &'static [&'static str] {
    match kind {
        "Pod" => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        "Event" => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        "Node" => &["spec.unschedulable"],
        "Namespace" => &["status.phase"],
        "Secret" => &["type"],
        "ReplicaSet" | "StatefulSet" | "Deployment" | "DaemonSet" => &["status.replicas"],
        _ => &[],
    }
}

fn fields_of(kind: &str, obj: &Value) -> Vec<(String, String)> {
    let mut out = vec![
        ("metadata.name".to_string(), str_at(obj, "metadata.name")),
        (
            "metadata.namespace".to_string(),
            str_at(obj, "metadata.namespace"),
        ),
    ];
    for f in supported_fields(kind) {
        let value = if *f == "source" {
            str_at(obj, "source.component")
        } else {
            str_at(obj, f)
        };
        // The API server formats these from Go zero values: `false` and `0`, never "".
        let value = match (*f, value.as_str()) {
            ("spec.hostNetwork" | "spec.unschedulable", "") => "false".to_string(),
            ("status.replicas", "") => "0".to_string(),
            _ => value,
        };
        out.push((f.to_string(), value));
    }
    out
}

fn str_at(obj: &Value, path: &str) -> String {
    let mut v = obj;
    for part in path.split('.') {
        match v.get(part) {
            Some(next) => v = next,
            None => return String::new(),
        }
    }
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Kubernetes-style random suffix (consonants and digits, no vowels).
pub fn random_suffix(n: usize) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::thread_rng();
    (0..n)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pods(store: &Store) -> Arc<ResourceType> {
        store
            .registry
            .find("", "v1", "pods")
            .unwrap_or_else(|| panic!("pods type"))
    }

    fn pod(name: &str, node: &str) -> Value {
        json!({"apiVersion":"v1","kind":"Pod","metadata":{"name":name,"namespace":"default","labels":{"app":"web"}},"spec":{"nodeName":node,"containers":[{"name":"c","image":"nginx"}]}})
    }

    #[test]
    fn create_conflict_and_update_precondition() -> Result<(), ApiError> {
        let store = Store::new(100);
        let rt = pods(&store);
        let a = store.create(&rt, pod("a", ""))?;
        assert_eq!(
            store
                .create(&rt, pod("a", ""))
                .map(|_| ())
                .map_err(|e| e.code),
            Err(409)
        );
        let mut v = a.value();
        v["spec"]["nodeName"] = json!("n1");
        let b = store.update(&rt, v.clone(), Some(a.rv))?;
        assert!(b.rv > a.rv);
        assert_eq!(
            store
                .update(&rt, v, Some(a.rv))
                .map(|_| ())
                .map_err(|e| e.reason),
            Err("Conflict")
        );
        assert_eq!(store.pods_on_node(&rt, "n1").len(), 1);
        assert!(store.pods_on_node(&rt, "").is_empty());
        Ok(())
    }

    #[test]
    fn paginated_list_is_a_consistent_snapshot() -> Result<(), ApiError> {
        let store = Store::new(1000);
        let rt = pods(&store);
        for i in 0..10 {
            store.create(&rt, pod(&format!("p{i}"), "n"))?;
        }
        let first = store.list_page(&rt, None, None, 4, None, &|_| true, true)?;
        assert_eq!(first.remaining, 6);
        assert_eq!(first.items.len(), 4);
        let next = first.next.clone().unwrap_or_default();
        // Changes after the snapshot must not show in later pages.
        store.create(&rt, pod("p99", "n"))?;
        store.delete(&rt, "default", "p7", Some(0), None)?;
        let mut names = Vec::new();
        let mut after = Some(next);
        while let Some(a) = after {
            let page = store.list_page(&rt, None, Some(&a), 4, Some(first.rv), &|_| true, true)?;
            names.extend(page.items.iter().map(|e| {
                e.value()["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            }));
            after = page.next;
        }
        assert_eq!(names, ["p4", "p5", "p6", "p7", "p8", "p9"]);
        Ok(())
    }

    /// Pages of one namespace start after the last key, wherever the other
    /// namespaces sort, and count what follows in that namespace only.
    #[test]
    fn namespaced_pages_stay_in_their_namespace() -> Result<(), ApiError> {
        let store = Store::new(1000);
        let rt = pods(&store);
        for ns in ["a", "b", "c"] {
            for i in 0..5 {
                let mut p = pod(&format!("p{i}"), "n");
                p["metadata"]["namespace"] = json!(ns);
                store.create(&rt, p)?;
            }
        }
        let (mut names, mut after, mut remaining) = (Vec::new(), None, Vec::new());
        loop {
            let page = store.list_page(&rt, Some("b"), after.as_ref(), 2, None, &|_| true, true)?;
            names.extend(
                page.items
                    .iter()
                    .map(|e| e.field("metadata.name").to_string()),
            );
            remaining.push(page.remaining);
            after = page.next;
            if after.is_none() {
                break;
            }
        }
        assert_eq!(names, ["p0", "p1", "p2", "p3", "p4"]);
        assert_eq!(remaining, [3, 1, 0]);
        Ok(())
    }

    #[test]
    fn compacted_history_gives_410() -> Result<(), ApiError> {
        let store = Store::new(3);
        let rt = pods(&store);
        let first = store.create(&rt, pod("a", ""))?;
        for i in 0..5 {
            store.create(&rt, pod(&format!("b{i}"), ""))?;
        }
        assert_eq!(
            store
                .watch_from(&rt, first.rv)
                .map(|_| ())
                .map_err(|e| e.code),
            Err(410)
        );
        assert!(store.watch_from(&rt, store.current_rv()).is_ok());
        Ok(())
    }

    #[test]
    fn finalizers_and_graceful_pod_delete() -> Result<(), ApiError> {
        let store = Store::new(100);
        let rt = pods(&store);
        store.create(&rt, pod("a", "n1"))?;
        let d = store.delete(&rt, "default", "a", None, None)?;
        assert!(
            d.value()["metadata"]["deletionTimestamp"].is_string(),
            "scheduled pod goes Terminating first"
        );
        store.delete(&rt, "default", "a", Some(0), None)?;
        assert!(store.get(&rt, "default", "a").is_none());
        let pvcs = store
            .registry
            .find("", "v1", "persistentvolumeclaims")
            .unwrap_or_else(|| panic!("pvc type"));
        store.create(&pvcs, json!({"metadata":{"name":"c","namespace":"default","finalizers":["kubernetes.io/pvc-protection"]},"spec":{}}))?;
        store.delete(&pvcs, "default", "c", None, None)?;
        assert!(store.get(&pvcs, "default", "c").is_some());
        store.mutate(&pvcs, "default", "c", None, |v| {
            v["metadata"]["finalizers"] = json!([]);
            Ok(())
        })?;
        assert!(store.get(&pvcs, "default", "c").is_none());
        Ok(())
    }
}
