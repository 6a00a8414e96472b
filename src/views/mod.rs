//! The view model: everything the panes draw, derived once per change batch off the
//! UI task (rows, findings, summary), and handed over as one `Arc`. Each pane's
//! derivation lives here, one module per kind of pane; nothing here draws (no ratatui):
//! the `ui` panes only render what these make.

pub mod ceph;
pub mod freshness;
mod kept;
pub mod members;
mod memo;
pub mod network;
pub mod pod_line;
#[cfg(test)]
mod pod_memory;
pub mod tables;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use crate::model::pod::Pod;
use jiff::Timestamp;
use kcops_pod::shared::Shared;

use crate::diagnose::Finding;
use crate::kube::reflectors::Changes;
use crate::model::chunked::{Chunked, ChunkedBuilder};
use crate::model::columns::{Column, ColumnKind};
use crate::model::rows;
use crate::model::snapshot::{Snapshot, SourceStatus};

use tables::tone_for_status;
pub use tables::{
    AgeCell, Cells, FilterMemo, ObjKey, ObjKind, PodLine, RowData, RowRef, Rows, TableModel,
    TableRow, Tone,
};

/// Connection state shown in the status bar.
#[derive(Debug, Clone, Default)]
pub struct ConnState {
    pub context: String,
    pub cluster: String,
    pub server: String,
    pub user: String,
    /// Why we are not connected, if so (its `Display` is in clear words).
    pub error: Option<crate::kube::errors::KubeError>,
}

impl ConnState {
    /// `context C  cluster K  user U` for the status line; the cluster is left out
    /// when the context's name already says it as kubeadm writes it (`user@cluster`),
    /// so an 80-column line keeps the user.
    pub fn who(&self) -> String {
        if self.context == format!("{}@{}", self.user, self.cluster) || self.cluster.is_empty() {
            format!("context {}  user {}", self.context, self.user)
        } else {
            format!(
                "context {}  cluster {}  user {}",
                self.context, self.cluster, self.user
            )
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub nodes_ready: usize,
    pub nodes_total: usize,
    pub pods_by_status: BTreeMap<String, usize>,
    pub warnings_last_hour: usize,
}

#[derive(Debug, Clone, Default)]
pub struct ViewModel {
    pub snapshot: Snapshot,
    pub nodes: TableModel,
    pub pods: TableModel,
    pub pvcs: TableModel,
    pub pvs: TableModel,
    pub storage_classes: TableModel,
    pub volume_attachments: TableModel,
    pub workloads: TableModel,
    pub events: TableModel,
    pub findings: Vec<Finding>,
    /// The Network pane: add-on, settings, per-node rows, host section (shared with
    /// the deriver, which keeps it while its inputs are the same).
    pub network: Arc<network::NetworkSummary>,
    pub network_nodes: TableModel,
    /// The Ceph pane: cluster section, image rows and details.
    pub ceph: ceph::CephView,
    /// The Members pane: ensembles and their members.
    pub members: members::MembersView,
    pub summary: Summary,
    pub sources: Vec<SourceStatus>,
    pub connection: ConnState,
    /// Counts derivations, so tests and benchmarks can tell views apart.
    pub generation: u64,
}

/// Derives the whole view from a snapshot. Pure; runs off the UI task.
pub fn derive(snapshot: Snapshot, connection: ConnState, generation: u64) -> ViewModel {
    let findings = crate::diagnose::diagnose(&snapshot);
    Deriver::default().derive(snapshot, connection, generation, findings)
}

/// One node's row as the last derivation made it: kept while the node is the same
/// object with the same pods counted on it (pod churn changes neither).
#[derive(Debug)]
struct NodeEntry {
    node: Arc<k8s_openapi::api::core::v1::Node>,
    pods: usize,
    ready: bool,
    row: Arc<TableRow>,
}

impl NodeEntry {
    fn new(node: &Arc<k8s_openapi::api::core::v1::Node>, pods: usize, now: Timestamp) -> Self {
        let r = rows::node_row(node, pods, now);
        let age = Column::find(rows::NodeRow::COLUMNS, ColumnKind::Age).zip(r.created);
        let key = ObjKey {
            kind: ObjKind::Node,
            namespace: Default::default(),
            name: r.name.as_str().into(),
        };
        NodeEntry {
            node: node.clone(),
            pods,
            ready: r.status.starts_with("Ready"),
            row: Arc::new(TableRow::new(
                r.cells(),
                key,
                tone_for_status(&r.status),
                age,
            )),
        }
    }
}

/// Derives views one change batch after another, remembering each pod's row so that
/// the next batch only makes the rows of pods that changed, and told which pods
/// changed (the store's change log), so that a batch of `k` changes costs about
/// `k` row updates at their sorted place whatever the number of pods: no walk over
/// 150,000 pods per change.
#[derive(Debug, Default)]
pub(crate) struct Deriver {
    /// Each pod's row, in the snapshot's namespace/name order: the Pods table's rows,
    /// shared with the views (a chunk copied per change).
    pods: Chunked<PodLine>,
    /// The pod change the rows are up to date with (`None`: derive everything).
    seq: Option<u64>,
    /// The nodes NotReady at the last derivation: when they change, every row is
    /// looked at again (rare; a node going NotReady changes many rows anyway).
    not_ready: BTreeSet<String>,
    /// Pods a DaemonSet owns: where the Network pane looks for the CNI agents.
    daemons: BTreeMap<(Shared, Shared), Arc<Pod>>,
    nodes: Vec<NodeEntry>,
    /// The Nodes table's rows (each entry's row), shared with the views.
    node_rows: Chunked<Arc<TableRow>>,
    /// Where each node's entry is, by name.
    node_at: HashMap<Shared, usize>,
    /// Nodes whose count of pods changed since their rows were made: while the nodes
    /// are the same objects only these rows are made again (pod churn must not cost a
    /// pass over 5,000 nodes per view).
    nodes_dirty: BTreeSet<String>,
    /// The Network pane as last summarised, kept while what it is made of is the
    /// same objects: pod churn changes none of it, and summarising 5,000 nodes at
    /// every view was a large share of a core.
    network: Option<NetworkCache>,
    /// Pods occupying each node, and pods per STATUS, kept as entries come and go
    /// (counting them again would walk every pod).
    per_node: HashMap<String, usize>,
    by_status: HashMap<String, usize>,
    /// The tables made from a few stores' objects, kept while those are the same.
    kept: kept::KeptTables,
}

#[derive(Debug)]
struct NetworkCache {
    inputs: Vec<usize>,
    findings: Vec<Finding>,
    summary: Arc<network::NetworkSummary>,
    table: TableModel,
}

/// What the Network pane is made of, as object identities (each list's length, then
/// its objects' addresses), and the time to ten seconds (event ages, probe ages).
fn network_inputs(s: &Snapshot, daemon_pods: &[Arc<Pod>]) -> Vec<usize> {
    fn list<'a, T: 'a>(out: &mut Vec<usize>, items: impl IntoIterator<Item = &'a Arc<T>>) {
        let at = out.len();
        out.push(0);
        out.extend(items.into_iter().map(|i| Arc::as_ptr(i) as usize));
        out[at] = out.len() - at - 1;
    }
    let mut out = vec![(s.now.as_second() / 10) as usize];
    list(&mut out, &s.nodes);
    list(&mut out, daemon_pods);
    list(&mut out, &s.events);
    list(&mut out, &s.daemonsets);
    list(&mut out, &s.configmaps);
    list(&mut out, &s.ip_pools);
    list(&mut out, &s.block_affinities);
    out.push(s.host.as_ref().map_or(0, |h| Arc::as_ptr(h) as usize));
    for (name, report) in &s.remote_hosts {
        out.push(name.len());
        out.push(Arc::as_ptr(report) as usize);
    }
    out
}

fn count(map: &mut HashMap<String, usize>, key: &str, add: bool) {
    match map.get_mut(key) {
        Some(n) if add => *n += 1,
        Some(n) => {
            *n -= 1;
            if *n == 0 {
                map.remove(key);
            }
        }
        None if add => {
            map.insert(key.to_string(), 1);
        }
        None => {}
    }
}

impl Deriver {
    /// The view of `snapshot`, with `findings` (diagnosed by the caller, maybe from an
    /// earlier snapshot when diagnosis is slower than the changes come).
    pub fn derive(
        &mut self,
        snapshot: Snapshot,
        connection: ConnState,
        generation: u64,
        findings: Vec<Finding>,
    ) -> ViewModel {
        self.derive_changed(
            snapshot,
            &Changes::default(),
            connection,
            generation,
            findings,
        )
    }

    /// The pod change the deriver is up to date with, to ask the store what changed
    /// since (0 before the first derivation: everything).
    pub fn pod_seq(&self) -> u64 {
        self.seq.unwrap_or(0)
    }

    /// [`Deriver::derive`], told which pods changed since the last derivation
    /// (`changes.keys`, `None`: any): only their rows are made again.
    pub fn derive_changed(
        &mut self,
        snapshot: Snapshot,
        changes: &Changes,
        connection: ConnState,
        generation: u64,
        findings: Vec<Finding>,
    ) -> ViewModel {
        let same_nodes = self.same_nodes(&snapshot);
        let pods = self.pod_rows(&snapshot, changes, same_nodes);
        let nodes = self.node_rows(&snapshot, same_nodes);
        let nodes_ready = self.nodes.iter().filter(|e| e.ready).count();
        let kept = self.kept.tables(&snapshot);
        let mut summary = Summary {
            nodes_total: snapshot.nodes.len(),
            ..Default::default()
        };
        summary.nodes_ready = nodes_ready;
        summary.pods_by_status = self
            .by_status
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        let hour_ago = snapshot.now - jiff::SignedDuration::from_secs(3600);
        summary.warnings_last_hour = snapshot
            .events
            .iter()
            .filter(|e| e.type_.as_deref() == Some("Warning"))
            .filter(|e| {
                let t = e
                    .last_timestamp
                    .as_ref()
                    .map(|t| t.0)
                    .or(e.event_time.as_ref().map(|t| t.0))
                    .or(e.metadata.creation_timestamp.as_ref().map(|t| t.0));
                t.is_some_and(|t| t >= hour_ago)
            })
            .count();
        let sources = snapshot.sources.clone();
        let daemon_pods: Vec<Arc<Pod>> = self.daemons.values().cloned().collect();
        let inputs = network_inputs(&snapshot, &daemon_pods);
        let cached = self
            .network
            .take()
            .filter(|c| c.inputs == inputs && c.findings == findings);
        let cache = match cached {
            Some(c) => c,
            None => {
                let summary = network::summarize_with(&snapshot, &daemon_pods, &findings);
                NetworkCache {
                    table: network::table_model(&summary),
                    summary: Arc::new(summary),
                    inputs,
                    findings: findings.clone(),
                }
            }
        };
        let (network, network_nodes) = (cache.summary.clone(), cache.table.clone());
        self.network = Some(cache);
        let ceph = ceph::derive(&snapshot);
        let members = members::derive(&snapshot);
        ViewModel {
            nodes,
            pods,
            pvcs: kept.pvcs,
            pvs: kept.pvs,
            storage_classes: kept.storage_classes,
            volume_attachments: kept.volume_attachments,
            workloads: kept.workloads,
            events: kept.events,
            findings,
            network,
            network_nodes,
            ceph,
            members,
            summary,
            sources,
            connection,
            generation,
            snapshot,
        }
    }

    /// Whether the snapshot's nodes are the objects the last derivation saw, in the
    /// same order (a pointer comparison per node; the stores replace a changed object).
    fn same_nodes(&self, s: &Snapshot) -> bool {
        self.nodes.len() == s.nodes.len()
            && self
                .nodes
                .iter()
                .zip(&s.nodes)
                .all(|(e, n)| Arc::ptr_eq(&e.node, n))
    }

    /// The Nodes table. While the nodes are the same objects, only the rows of nodes
    /// whose count of pods changed are made again; otherwise the last batch's rows
    /// are kept where the node is the same object with the same pods counted on it.
    fn node_rows(&mut self, s: &Snapshot, same_nodes: bool) -> TableModel {
        let dirty = std::mem::take(&mut self.nodes_dirty);
        if same_nodes {
            for name in dirty {
                let Some(&i) = self.node_at.get(name.as_str()) else {
                    continue;
                };
                let pods = self.per_node.get(&name).copied().unwrap_or(0);
                if let Some(e) = self.nodes.get_mut(i)
                    && e.pods != pods
                {
                    *e = NodeEntry::new(&e.node, pods, s.now);
                    self.node_rows.set(i, e.row.clone());
                }
            }
        } else {
            let mut prev: HashMap<*const k8s_openapi::api::core::v1::Node, NodeEntry> = self
                .nodes
                .drain(..)
                .map(|e| (Arc::as_ptr(&e.node), e))
                .collect();
            self.nodes = s
                .nodes
                .iter()
                .map(|node| {
                    let name = node.metadata.name.as_deref().unwrap_or_default();
                    let pods = self.per_node.get(name).copied().unwrap_or(0);
                    match prev.remove(&Arc::as_ptr(node)) {
                        Some(e) if e.pods == pods => e,
                        _ => NodeEntry::new(node, pods, s.now),
                    }
                })
                .collect();
            self.node_at = self
                .nodes
                .iter()
                .enumerate()
                .map(|(i, e)| (e.row.key.name.clone(), i))
                .collect();
            self.node_rows = self.nodes.iter().map(|e| e.row.clone()).collect();
        }
        TableModel {
            columns: rows::NodeRow::COLUMNS.to_vec(),
            rows: self.node_rows.clone().into(),
        }
    }

    /// Adds (or takes away) a pod's share of the per-node and per-status counts, and
    /// its place among the DaemonSets' pods.
    fn tally(&mut self, line: &PodLine, add: bool) {
        if line.occupies_node
            && let Some(node) = line.node()
        {
            count(&mut self.per_node, node, add);
            if !self.nodes_dirty.contains(node) {
                self.nodes_dirty.insert(node.to_string());
            }
        }
        count(&mut self.by_status, line.status(), add);
        if line.daemon {
            let key = line.key();
            if add {
                self.daemons
                    .insert((key.namespace, key.name), line.pod().clone());
            } else {
                self.daemons.remove(&(key.namespace, key.name));
            }
        }
    }

    /// The Pods table. With the keys of the pods that changed (and the same nodes
    /// NotReady), only their rows are made again, each at its sorted place; else the
    /// last batch's rows are kept where the pod is the same object, found in one pass
    /// (both lists are in namespace/name order).
    fn pod_rows(&mut self, s: &Snapshot, changes: &Changes, same_nodes: bool) -> TableModel {
        // A pod on a NotReady node: its status is the node's last word, not a healthy
        // verdict. Its STATUS says so and its colour follows the node's.
        let not_ready: BTreeSet<String> = if same_nodes {
            self.not_ready.clone()
        } else {
            s.nodes
                .iter()
                .filter(|n| rows::node_status(n).starts_with("NotReady"))
                .filter_map(|n| n.metadata.name.clone())
                .collect()
        };
        match &changes.keys {
            Some(keys) if self.seq.is_some() && not_ready == self.not_ready => {
                for (ns, name) in keys {
                    self.pod_changed(s, ns, name, &not_ready);
                }
            }
            _ => self.all_pod_rows(s, &not_ready),
        }
        self.seq = Some(changes.seq);
        self.not_ready = not_ready;
        TableModel {
            columns: PodLine::COLUMNS.to_vec(),
            rows: Rows::Pods(self.pods.clone()),
        }
    }

    /// One pod's row brought up to date: made again, added or removed.
    fn pod_changed(&mut self, s: &Snapshot, ns: &str, name: &str, not_ready: &BTreeSet<String>) {
        let pod = s.pod(ns, name);
        let at = self
            .pods
            .binary_search_by(|l| (l.namespace(), l.name()).cmp(&(ns, name)));
        match (at, pod) {
            (Ok(i), Some(pod)) => {
                if Arc::ptr_eq(self.pods[i].pod(), pod) {
                    return;
                }
                let old = self.pods[i].clone();
                self.tally(&old, false);
                let line = shown(PodLine::new(pod), not_ready);
                self.tally(&line, true);
                self.pods.set(i, line);
            }
            (Ok(i), None) => {
                let old = self.pods.remove(i);
                self.tally(&old, false);
            }
            (Err(i), Some(pod)) => {
                let line = shown(PodLine::new(pod), not_ready);
                self.tally(&line, true);
                self.pods.insert(i, line);
            }
            (Err(_), None) => {}
        }
    }

    /// Every pod's row, reusing the last batch's where the pod is the same object:
    /// one pass over both (namespace/name order). Leading chunks of rows whose pods
    /// are all the same objects are taken over whole (shared with the last view, not
    /// copied): while the first list loads, pages add pods after those already shown.
    fn all_pod_rows(&mut self, s: &Snapshot, not_ready: &BTreeSet<String>) {
        let prev_lines = std::mem::take(&mut self.pods);
        let mut next = ChunkedBuilder::default();
        let mut pods = s.pods.iter();
        let mut chunks = prev_lines.chunks().peekable();
        while *not_ready == self.not_ready
            && let Some(chunk) = chunks.peek()
        {
            let same = chunk
                .iter()
                .zip(pods.clone())
                .take_while(|(l, p)| Arc::ptr_eq(l.pod(), p))
                .count();
            if same == 0 || same < chunk.len() {
                break;
            }
            pods.nth(same - 1);
            next.push_chunk(Arc::clone(chunk));
            chunks.next();
        }
        let mut prev = chunks.flat_map(|c| c.iter()).peekable();
        let mut gone = Vec::new();
        for pod in pods {
            let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
            let name = pod.metadata.name.as_deref().unwrap_or_default();
            let mut same = None;
            while let Some(l) = prev.peek() {
                if Arc::ptr_eq(l.pod(), pod) {
                    same = prev.next();
                    break;
                }
                match (l.namespace(), l.name()).cmp(&(ns, name)) {
                    // Gone from the store.
                    std::cmp::Ordering::Less => gone.extend(prev.next()),
                    // Changed.
                    std::cmp::Ordering::Equal => {
                        gone.extend(prev.next());
                        break;
                    }
                    // New.
                    std::cmp::Ordering::Greater => break,
                }
            }
            let line = match same {
                Some(l) => shown(l.clone(), not_ready),
                None => {
                    let l = shown(PodLine::new(pod), not_ready);
                    self.tally(&l, true);
                    l
                }
            };
            next.push(line);
        }
        // What is left was deleted.
        gone.extend(prev);
        for old in gone {
            self.tally(old, false);
        }
        self.pods = next.finish();
    }
}

/// A pod's row as the Pods table shows it: on a NotReady node, a healthy-looking
/// status is qualified (`Running (node NotReady)`) and the colour follows the node.
fn shown(line: PodLine, not_ready: &BTreeSet<String>) -> PodLine {
    let on_not_ready = line.node().is_some_and(|n| not_ready.contains(n));
    line.on_not_ready_node(on_not_ready)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::SignedDuration;
    use serde_json::json;

    #[test]
    fn the_cluster_is_named_unless_the_context_says_it() {
        let mut c = ConnState {
            context: "kubernetes-admin@kubernetes".into(),
            cluster: "kubernetes".into(),
            user: "kubernetes-admin".into(),
            ..Default::default()
        };
        assert_eq!(
            c.who(),
            "context kubernetes-admin@kubernetes  user kubernetes-admin"
        );
        c.context = "prod".into();
        assert_eq!(
            c.who(),
            "context prod  cluster kubernetes  user kubernetes-admin"
        );
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn pod(ns: &str, name: &str, created: &str, restarts: i32) -> Arc<Pod> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": ns, "creationTimestamp": created},
                "spec": {"nodeName": "node1", "containers": [{"name": "a"}]},
                "status": {"phase": "Running", "podIP": "10.244.1.5", "containerStatuses": [{
                    "name": "a", "image": "i", "imageID": "", "ready": true, "restartCount": restarts,
                    "state": {"running": {"startedAt": created}}}]}
            }))
            .unwrap_or_else(|e| panic!("{e}")),
        )
    }

    /// The Pods table's cells as drawn at the view's time.
    fn cells(vm: &ViewModel) -> Vec<Vec<String>> {
        table_cells(&vm.pods, vm.snapshot.now)
    }

    /// A table's cells as drawn at `now`.
    fn table_cells(table: &TableModel, now: Timestamp) -> Vec<Vec<String>> {
        table
            .rows
            .iter()
            .map(|r| (0..r.len()).map(|i| r.cell(i, now).into_owned()).collect())
            .collect()
    }

    /// A Running pod on a NotReady node is not shown as healthy.
    #[test]
    fn pods_on_a_not_ready_node_follow_the_node() {
        let mut s = Snapshot {
            now: ts("2025-01-01T12:00:00Z"),
            ..Default::default()
        };
        s.nodes.push(Arc::new(
            serde_json::from_value(json!({"metadata": {"name": "node1"},
                "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}}))
            .unwrap_or_else(|e| panic!("{e}")),
        ));
        s.pods.push(pod("a", "p", "2025-01-01T11:00:00Z", 0));
        let vm = Deriver::default().derive(s, ConnState::default(), 1, Vec::new());
        assert_eq!(vm.pods.rows.at(0).tone(), Tone::Warning);
        assert!(
            cells(&vm)[0].contains(&"Running (node NotReady)".to_string()),
            "{:?}",
            cells(&vm)
        );
        assert_eq!(vm.nodes.rows.at(0).tone(), Tone::Error);
    }

    /// Told which pods changed, the deriver updates only their rows, each at its
    /// sorted place, and ends where a fresh derivation does.
    #[test]
    fn change_by_change_rows_match_a_fresh_derivation() {
        let mut s = Snapshot {
            now: ts("2025-01-01T12:00:00Z"),
            ..Default::default()
        };
        for name in ["node1", "node2"] {
            s.nodes.push(Arc::new(
                serde_json::from_value(json!({"metadata": {"name": name}}))
                    .unwrap_or_else(|e| panic!("{e}")),
            ));
        }
        for i in 0..1500 {
            s.pods.push(pod(
                &format!("ns{}", i % 3),
                &format!("p{i:04}"),
                "2025-01-01T11:00:00Z",
                0,
            ));
        }
        s.sort();
        let mut d = Deriver::default();
        let all = Changes { seq: 1, keys: None };
        let first = d.derive_changed(s.clone(), &all, ConnState::default(), 1, Vec::new());
        assert_eq!(first.pods.rows.len(), 1500);
        assert_eq!(d.pod_seq(), 1);
        // A changed pod, a deleted one, two new ones (front and back), and a key
        // reported that did not change.
        let key = |p: &Pod| {
            (
                p.metadata
                    .namespace
                    .as_deref()
                    .unwrap_or_default()
                    .to_string(),
                p.metadata.name.as_deref().unwrap_or_default().to_string(),
            )
        };
        let (ns, name) = key(&s.pods[700]);
        s.pods.set(700, pod(&ns, &name, "2025-01-01T11:00:00Z", 7));
        let removed = s.pods.remove(300);
        let front = pod("a-first", "x", "2025-01-01T11:59:59Z", 0);
        let back = pod("zz-last", "y", "2025-01-01T11:59:59Z", 0);
        s.pods.insert(0, front.clone());
        s.pods.push(back.clone());
        let keys = vec![
            (ns, name),
            key(&removed),
            key(&front),
            key(&back),
            key(&s.pods[5]),
        ];
        let changes = Changes {
            seq: 2,
            keys: Some(keys),
        };
        let inc = d.derive_changed(s.clone(), &changes, ConnState::default(), 2, Vec::new());
        let fresh = derive(s.clone(), ConnState::default(), 2);
        assert_eq!(cells(&inc), cells(&fresh));
        assert_eq!(inc.summary.pods_by_status, fresh.summary.pods_by_status);
        assert_eq!(d.pod_seq(), 2);
        // The node the pods run on counts them again; the other keeps its row.
        let node_cells = |vm: &ViewModel| table_cells(&vm.nodes, vm.snapshot.now);
        assert_eq!(node_cells(&inc), node_cells(&fresh));
        assert_ne!(node_cells(&inc), node_cells(&first));
        assert!(!first.nodes.rows.at(0).same(inc.nodes.rows.at(0)));
        assert!(first.nodes.rows.at(1).same(inc.nodes.rows.at(1)));
        // Rows of pods that did not change are the same rows (not made again).
        assert!(first.pods.rows.at(10).same(inc.pods.rows.at(11)));
        let restarts = Column::find(PodLine::COLUMNS, ColumnKind::Count).unwrap_or(4);
        assert!(
            inc.pods
                .rows
                .iter()
                .any(|r| r.cell(restarts, inc.snapshot.now) == "7")
        );
        // Pod churn leaves the Network pane's inputs alone: it is not made again.
        assert!(Arc::ptr_eq(&first.network, &inc.network));
        // A node that changes (a new object) makes it again, with the node.
        s.nodes.push(Arc::new(
            serde_json::from_value(json!({"metadata": {"name": "node-new"}}))
                .unwrap_or_else(|e| panic!("{e}")),
        ));
        let changes = Changes {
            seq: 3,
            keys: Some(Vec::new()),
        };
        let next = d.derive_changed(s.clone(), &changes, ConnState::default(), 3, Vec::new());
        assert!(!Arc::ptr_eq(&inc.network, &next.network));
        assert!(next.network.nodes.iter().any(|n| n.node == "node-new"));
        assert_eq!(
            format!("{:?}", next.network),
            format!("{:?}", derive(s.clone(), ConnState::default(), 3).network)
        );
    }

    /// A row that says how long ago a container restarted reads the time it is drawn
    /// at, and is not made again for it: a churning cluster's views keep it.
    #[test]
    fn restart_ages_follow_the_clock_in_rows_kept() {
        let restarted = Arc::new(
            serde_json::from_value::<Pod>(json!({
                "metadata": {"name": "r", "namespace": "a", "creationTimestamp": "2025-01-01T11:00:00Z"},
                "spec": {"nodeName": "node1", "containers": [{"name": "a"}]},
                "status": {"phase": "Running", "containerStatuses": [{
                    "name": "a", "image": "i", "imageID": "", "ready": true, "restartCount": 3,
                    "state": {"running": {"startedAt": "2025-01-01T11:59:20Z"}},
                    "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2025-01-01T11:59:18Z"}}}]}
            }))
            .unwrap_or_else(|e| panic!("{e}")),
        );
        let mut s = Snapshot {
            now: ts("2025-01-01T12:00:00.100Z"),
            ..Default::default()
        };
        s.pods.push(restarted);
        s.pods.push(pod("a", "s", "2025-01-01T11:00:00Z", 0));
        let mut d = Deriver::default();
        let mut view = |s: &Snapshot, seq: u64| {
            let changes = Changes {
                seq,
                keys: (seq > 1).then(Vec::new),
            };
            let vm = d.derive_changed(s.clone(), &changes, ConnState::default(), seq, Vec::new());
            assert_eq!(
                cells(&vm),
                cells(&derive(s.clone(), ConnState::default(), seq))
            );
            vm
        };
        let first = view(&s, 1);
        assert!(
            cells(&first)[0].contains(&"3 (42s ago)".to_string()),
            "{:?}",
            cells(&first)
        );
        // The next second: the same row, reading 43s.
        s.now = ts("2025-01-01T12:00:01.000Z");
        let next = view(&s, 2);
        assert!(first.pods.rows.at(0).same(next.pods.rows.at(0)));
        assert!(
            cells(&next)[0].contains(&"3 (43s ago)".to_string()),
            "{:?}",
            cells(&next)
        );
        // A filter's answer for a row whose RESTARTS follows the clock is not kept.
        let r = next.pods.rows.at(0);
        assert!(r.more_cells_follow_the_clock());
        assert!(!next.pods.rows.at(1).more_cells_follow_the_clock());
    }

    /// The deriver's reused rows are exactly what a fresh derivation makes.
    #[test]
    fn incremental_rows_match_a_fresh_derivation() {
        let mut s = Snapshot {
            now: ts("2025-01-01T12:00:00Z"),
            ..Default::default()
        };
        s.nodes.push(Arc::new(
            serde_json::from_value(json!({"metadata": {"name": "node1"}}))
                .unwrap_or_else(|e| panic!("{e}")),
        ));
        for i in 0..50 {
            s.pods.push(pod(
                &format!("ns{}", i % 3),
                &format!("p{i:03}"),
                &format!("2025-01-01T11:{:02}:00Z", i),
                0,
            ));
        }
        s.sort();
        let mut d = Deriver::default();
        let check = |s: &Snapshot, d: &mut Deriver| {
            let fresh = derive(s.clone(), ConnState::default(), 1);
            let inc = d.derive(s.clone(), ConnState::default(), 1, Vec::new());
            assert_eq!(cells(&inc), cells(&fresh));
            assert_eq!(
                inc.pods.rows.iter().map(|r| r.key()).collect::<Vec<_>>(),
                fresh.pods.rows.iter().map(|r| r.key()).collect::<Vec<_>>()
            );
            let node_cells = |vm: &ViewModel| -> Vec<String> {
                let r = vm.nodes.rows.at(0);
                (0..r.len())
                    .map(|i| r.cell(i, vm.snapshot.now).into_owned())
                    .collect()
            };
            assert_eq!(node_cells(&inc), node_cells(&fresh));
            assert_eq!(inc.summary.nodes_ready, fresh.summary.nodes_ready);
            assert_eq!(format!("{:?}", inc.network), format!("{:?}", fresh.network));
            assert_eq!(inc.summary.pods_by_status, fresh.summary.pods_by_status);
        };
        check(&s, &mut d);
        let first = d.derive(s.clone(), ConnState::default(), 2, Vec::new());
        let again = d.derive(s.clone(), ConnState::default(), 3, Vec::new());
        assert!(
            first
                .pods
                .rows
                .iter()
                .zip(again.pods.rows.iter())
                .all(|(a, b)| a.same(b)),
            "unchanged pods keep their rows"
        );
        let chunks = |vm: &ViewModel| match &vm.pods.rows {
            Rows::Pods(c) => c.chunk_ids().collect::<Vec<_>>(),
            Rows::Made(_) => Vec::new(),
        };
        assert!(!chunks(&first).is_empty());
        assert_eq!(
            chunks(&first),
            chunks(&again),
            "and the same chunks: taken over, not copied"
        );
        assert!(
            first.nodes.rows.at(0).same(again.nodes.rows.at(0)),
            "an unchanged node with the same pods keeps its row"
        );
        // A changed pod, a deleted one, a new one at the front, one at the end.
        let changed = pod(
            "ns1",
            &s.pods[10].metadata.name.clone().unwrap_or_default(),
            "2025-01-01T11:10:00Z",
            4,
        );
        s.pods.set(10, changed);
        s.pods.remove(20);
        s.pods.push(pod("a-first", "x", "2025-01-01T11:59:59Z", 0));
        s.pods.push(pod("zz-last", "y", "2025-01-01T11:59:59Z", 0));
        s.sort();
        check(&s, &mut d);
        // Time moves: ages change (seconds, then minutes) though the rows are kept.
        for secs in [1, 30, 61, 600, 7200] {
            s.now += SignedDuration::from_secs(secs);
            check(&s, &mut d);
        }
        // Everything gone.
        s.pods.clear();
        check(&s, &mut d);
    }

    /// Pod churn keeps the Events table (the same rows, not made again), whose LAST
    /// SEEN still follows the clock; a replaced event remakes it.
    #[test]
    fn tables_of_unchanged_objects_are_kept_and_their_ages_move() {
        let event = |name: &str, message: &str| -> Arc<k8s_openapi::api::core::v1::Event> {
            Arc::new(
                serde_json::from_value(json!({
                    "metadata": {"name": name, "namespace": "ns0"},
                    "involvedObject": {"kind": "Pod", "name": "p000"},
                    "type": "Warning", "reason": "BackOff", "message": message,
                    "lastTimestamp": "2025-01-01T11:59:00Z"
                }))
                .unwrap_or_else(|e| panic!("{e}")),
            )
        };
        let mut s = Snapshot {
            now: ts("2025-01-01T12:00:00Z"),
            ..Default::default()
        };
        s.pods.push(pod("ns0", "p000", "2025-01-01T11:00:00Z", 0));
        s.events
            .push(event("e1", "Back-off restarting failed container"));
        let mut d = Deriver::default();
        let first = d.derive(s.clone(), ConnState::default(), 1, Vec::new());
        let rows = |vm: &ViewModel| -> Vec<*const TableRow> {
            match &vm.events.rows {
                Rows::Made(r) => r.iter().map(Arc::as_ptr).collect(),
                Rows::Pods(_) => Vec::new(),
            }
        };
        // A pod changed, a minute later.
        s.pods = Chunked::from(vec![pod("ns0", "p000", "2025-01-01T11:00:00Z", 1)]);
        s.now = ts("2025-01-01T12:01:00Z");
        let churned = d.derive(s.clone(), ConnState::default(), 2, Vec::new());
        assert_eq!(rows(&first).len(), 1);
        assert_eq!(rows(&churned), rows(&first), "kept, not made again");
        let seen = |vm: &ViewModel, now: &str| table_cells(&vm.events, ts(now))[0][0].clone();
        assert_eq!(seen(&churned, "2025-01-01T12:00:00Z"), "60s");
        assert_eq!(seen(&churned, "2025-01-01T12:01:00Z"), "2m");
        // The event replaced (its message changed): made again.
        s.events = vec![event("e1", "Back-off pulling image")];
        let replaced = d.derive(s.clone(), ConnState::default(), 3, Vec::new());
        assert_ne!(rows(&replaced), rows(&first));
        assert_eq!(
            table_cells(&replaced.events, s.now)[0][4],
            "Back-off pulling image"
        );
    }
}
