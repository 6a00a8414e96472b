//! The view model: everything the panes draw, derived once per change batch off the
//! UI task (rows, findings, summary), and handed over as one `Arc`.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::diagnose::Finding;
use crate::model::rows;
use crate::model::snapshot::{Snapshot, SourceStatus};

/// Which kind of object a row stands for (what describe/yaml/actions act on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjKind {
    Node,
    Pod,
    Pvc,
    Pv,
    StorageClass,
    StatefulSet,
    DaemonSet,
    Deployment,
    Event,
}

impl ObjKind {
    pub fn label(self) -> &'static str {
        match self {
            ObjKind::Node => "Node",
            ObjKind::Pod => "Pod",
            ObjKind::Pvc => "PersistentVolumeClaim",
            ObjKind::Pv => "PersistentVolume",
            ObjKind::StorageClass => "StorageClass",
            ObjKind::StatefulSet => "StatefulSet",
            ObjKind::DaemonSet => "DaemonSet",
            ObjKind::Deployment => "Deployment",
            ObjKind::Event => "Event",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjKey {
    pub kind: ObjKind,
    pub namespace: String,
    pub name: String,
}

/// How a row should stand out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Normal,
    Ok,
    Warning,
    Error,
    Muted,
}

#[derive(Debug, Clone)]
pub struct TableRow {
    pub cells: Vec<String>,
    pub key: ObjKey,
    pub tone: Tone,
}

#[derive(Debug, Clone, Default)]
pub struct TableModel {
    pub columns: Vec<&'static str>,
    pub rows: Vec<TableRow>,
}

/// Connection state shown in the status bar.
#[derive(Debug, Clone, Default)]
pub struct ConnState {
    pub context: String,
    pub server: String,
    pub user: String,
    /// Why we are not connected / not watching (clear words), if so.
    pub error: Option<String>,
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
    pub workloads: TableModel,
    pub events: TableModel,
    pub findings: Vec<Finding>,
    /// The Network pane: add-on, settings, per-node rows, host section.
    pub network: crate::diagnose::network::NetworkSummary,
    pub network_nodes: TableModel,
    pub summary: Summary,
    pub sources: Vec<SourceStatus>,
    pub connection: ConnState,
    /// Counts derivations, so tests and benchmarks can tell views apart.
    pub generation: u64,
}

fn tone_for_status(status: &str) -> Tone {
    match status {
        "Running" | "Ready" | "Bound" | "Completed" | "Succeeded" | "Active" | "Available" => {
            Tone::Ok
        }
        s if s.contains("NotReady") || s.contains("Unknown") => Tone::Error,
        s if s.contains("SchedulingDisabled") => Tone::Warning,
        s if s.contains("CrashLoop")
            || s.contains("Error")
            || s.contains("Failed")
            || s.contains("BackOff")
            || s.contains("Lost") =>
        {
            Tone::Error
        }
        "Pending" | "ContainerCreating" | "Terminating" | "Released" => Tone::Warning,
        s if s.starts_with("Init:") => Tone::Warning,
        _ => Tone::Normal,
    }
}

fn model<R>(
    columns: &'static [&'static str],
    items: Vec<R>,
    kind: ObjKind,
    cells: impl Fn(&R) -> Vec<String>,
    key: impl Fn(&R) -> (String, String),
    tone: impl Fn(&R) -> Tone,
) -> TableModel {
    let rows = items
        .iter()
        .map(|r| {
            let (namespace, name) = key(r);
            TableRow {
                cells: cells(r),
                key: ObjKey {
                    kind,
                    namespace,
                    name,
                },
                tone: tone(r),
            }
        })
        .collect();
    TableModel {
        columns: columns.to_vec(),
        rows,
    }
}

/// Derives the whole view from a snapshot. Pure; runs off the UI task.
pub fn derive(snapshot: Snapshot, connection: ConnState, generation: u64) -> ViewModel {
    let findings = crate::diagnose::diagnose(&snapshot);
    let nodes = model(
        rows::NodeRow::COLUMNS,
        rows::node_rows(&snapshot),
        ObjKind::Node,
        |r| r.cells(),
        |r| (String::new(), r.name.clone()),
        |r| tone_for_status(&r.status),
    );
    let pods = model(
        rows::PodRow::COLUMNS,
        rows::pod_rows(&snapshot),
        ObjKind::Pod,
        |r| r.cells(),
        |r| (r.namespace.clone(), r.name.clone()),
        |r| tone_for_status(&r.status),
    );
    let pvcs = model(
        rows::PvcRow::COLUMNS,
        rows::pvc_rows(&snapshot),
        ObjKind::Pvc,
        |r| r.cells(),
        |r| (r.namespace.clone(), r.name.clone()),
        |r| tone_for_status(&r.status),
    );
    let pvs = model(
        rows::PvRow::COLUMNS,
        rows::pv_rows(&snapshot),
        ObjKind::Pv,
        |r| r.cells(),
        |r| (String::new(), r.name.clone()),
        |r| tone_for_status(&r.status),
    );
    let storage_classes = model(
        rows::StorageClassRow::COLUMNS,
        rows::storage_class_rows(&snapshot),
        ObjKind::StorageClass,
        |r| r.cells(),
        |r| (String::new(), r.name.clone()),
        |_| Tone::Normal,
    );
    let workloads = model(
        rows::WorkloadRow::COLUMNS,
        rows::workload_rows(&snapshot),
        ObjKind::Deployment,
        |r| r.cells(),
        |r| (r.namespace.clone(), r.name.clone()),
        |r| {
            if r.replicas.ready < r.replicas.desired {
                Tone::Warning
            } else {
                Tone::Ok
            }
        },
    );
    // A workload row's kind comes from the row itself.
    let workloads = TableModel {
        columns: workloads.columns,
        rows: workloads
            .rows
            .into_iter()
            .map(|mut row| {
                row.key.kind = match row.cells.first().map(String::as_str) {
                    Some("StatefulSet") => ObjKind::StatefulSet,
                    Some("DaemonSet") => ObjKind::DaemonSet,
                    _ => ObjKind::Deployment,
                };
                row
            })
            .collect(),
    };
    let events = model(
        rows::EventRow::COLUMNS,
        rows::event_rows(&snapshot),
        ObjKind::Event,
        |r| r.cells(),
        |r| (r.namespace.clone(), r.name.clone()),
        |r| {
            if r.type_ == "Warning" {
                Tone::Warning
            } else {
                Tone::Normal
            }
        },
    );
    let mut summary = Summary {
        nodes_total: snapshot.nodes.len(),
        ..Default::default()
    };
    summary.nodes_ready = nodes
        .rows
        .iter()
        .filter(|r| r.cells.get(1).is_some_and(|s| s.starts_with("Ready")))
        .count();
    for r in &pods.rows {
        if let Some(status) = r.cells.get(3) {
            *summary.pods_by_status.entry(status.clone()).or_default() += 1;
        }
    }
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
            t.and_then(|t| jiff::Timestamp::from_second(t.timestamp()).ok())
                .is_some_and(|t| t >= hour_ago)
        })
        .count();
    let sources = snapshot.sources.clone();
    let network = crate::diagnose::network::summarize(&snapshot, &findings);
    let network_nodes = crate::ui::panes::network::table_model(&network);
    ViewModel {
        nodes,
        pods,
        pvcs,
        pvs,
        storage_classes,
        workloads,
        events,
        findings,
        network,
        network_nodes,
        summary,
        sources,
        connection,
        generation,
        snapshot,
    }
}

pub type SharedView = Arc<ViewModel>;
