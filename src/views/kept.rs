//! The tables made from a few stores' objects (claims, volumes, classes, attachments,
//! workloads, events), kept from view to view while those are the same objects: pod
//! churn, up to 20 views a second, remakes none of them. Their ages are drawn live,
//! so nothing in them follows the clock.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Event, Node, PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::{StorageClass, VolumeAttachment};

use super::memo::Memo;
use super::tables::{model, tone_for_status};
use super::{ObjKey, ObjKind, RowData, TableModel, TableRow, Tone};
use crate::model::chunked::Chunked;
use crate::model::columns::{Column, ColumnKind};
use crate::model::rows;
use crate::model::snapshot::Snapshot;

/// An attachment's row reads its PV (the claim) and its node (ready or gone).
type AttachmentInputs = (
    Vec<Arc<VolumeAttachment>>,
    Vec<Arc<PersistentVolume>>,
    Chunked<Arc<Node>>,
);
type WorkloadInputs = (
    Vec<Arc<StatefulSet>>,
    Vec<Arc<DaemonSet>>,
    Vec<Arc<Deployment>>,
);

/// Each table with the objects it was made from.
#[derive(Debug, Default)]
pub(super) struct KeptTables {
    pvcs: Memo<Vec<Arc<PersistentVolumeClaim>>, TableModel>,
    pvs: Memo<Vec<Arc<PersistentVolume>>, TableModel>,
    storage_classes: Memo<Vec<Arc<StorageClass>>, TableModel>,
    volume_attachments: Memo<AttachmentInputs, TableModel>,
    workloads: Memo<WorkloadInputs, TableModel>,
    events: Memo<Vec<Arc<Event>>, TableModel>,
}

/// The tables of one view.
pub(super) struct Tables {
    pub pvcs: TableModel,
    pub pvs: TableModel,
    pub storage_classes: TableModel,
    pub volume_attachments: TableModel,
    pub workloads: TableModel,
    pub events: TableModel,
}

impl KeptTables {
    /// The tables of `s`: those whose objects are the last view's kept, the others
    /// made (and kept).
    pub(super) fn tables(&mut self, s: &Snapshot) -> Tables {
        let pvcs = self.pvcs.get(s.pvcs.clone(), || {
            model(
                rows::PvcRow::COLUMNS,
                &rows::pvc_rows(s),
                ObjKind::Pvc,
                |r| r.cells(),
                |r| (r.namespace.clone(), r.name.clone()),
                |r| tone_for_status(&r.status),
                |r| r.created,
            )
        });
        let pvs = self.pvs.get(s.pvs.clone(), || {
            model(
                rows::PvRow::COLUMNS,
                &rows::pv_rows(s),
                ObjKind::Pv,
                |r| r.cells(),
                |r| (String::new(), r.name.clone()),
                |r| tone_for_status(&r.status),
                |r| r.created,
            )
        });
        let storage_classes = self.storage_classes.get(s.storage_classes.clone(), || {
            model(
                rows::StorageClassRow::COLUMNS,
                &rows::storage_class_rows(s),
                ObjKind::StorageClass,
                |r| r.cells(),
                |r| (String::new(), r.name.clone()),
                |_| Tone::Normal,
                |r| r.created,
            )
        });
        let attached = (s.volume_attachments.clone(), s.pvs.clone(), s.nodes.clone());
        let volume_attachments = self.volume_attachments.get(attached, || {
            model(
                crate::model::attachments::AttachmentRow::COLUMNS,
                &crate::model::attachments::attachment_rows(s),
                ObjKind::VolumeAttachment,
                |r| r.cells(),
                |r| (String::new(), r.name.clone()),
                |r| if r.trouble { Tone::Warning } else { Tone::Ok },
                |r| r.created,
            )
        });
        let workload_objects = (
            s.statefulsets.clone(),
            s.daemonsets.clone(),
            s.deployments.clone(),
        );
        let workloads = self.workloads.get(workload_objects, || workload_table(s));
        let events = self.events.get(s.events.clone(), || {
            model(
                rows::EventRow::COLUMNS,
                &rows::event_rows(s),
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
                |r| r.last_seen_at,
            )
        });
        Tables {
            pvcs,
            pvs,
            storage_classes,
            volume_attachments,
            workloads,
            events,
        }
    }
}

/// The Workloads table: a row's kind comes from the row itself.
fn workload_table(s: &Snapshot) -> TableModel {
    let workload_rows = rows::workload_rows(s);
    let workload_age = Column::find(rows::WorkloadRow::COLUMNS, ColumnKind::Age);
    TableModel {
        columns: rows::WorkloadRow::COLUMNS.to_vec(),
        rows: workload_rows
            .iter()
            .map(|r| {
                let kind = match r.kind {
                    rows::WorkloadKind::StatefulSet => ObjKind::StatefulSet,
                    rows::WorkloadKind::DaemonSet => ObjKind::DaemonSet,
                    rows::WorkloadKind::Deployment => ObjKind::Deployment,
                };
                let tone = if r.replicas.ready < r.replicas.desired {
                    Tone::Warning
                } else {
                    Tone::Ok
                };
                Arc::new(
                    TableRow::new(
                        r.cells(),
                        ObjKey {
                            kind,
                            namespace: r.namespace.as_str().into(),
                            name: r.name.as_str().into(),
                        },
                        tone,
                        workload_age.zip(r.created),
                    )
                    .with_data(RowData::Replicas(r.replicas)),
                )
            })
            .collect(),
    }
}
