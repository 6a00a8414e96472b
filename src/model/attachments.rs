//! Rows of the VolumeAttachments table (`:va`): which node each CSI volume is
//! attached to, since when, for which claim, and the attach/detach error if any.
//! The node's state is in its own column: an attachment to a NotReady or deleted node
//! is what keeps a single-node volume from the pod that moved.

use jiff::Timestamp;

use super::columns::Column;
use super::columns::ColumnKind::{Age, Name, Status, Text};
use super::pod_status::age;
use super::rows::created;
use super::snapshot::Snapshot;

/// A row of the VolumeAttachments table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AttachmentRow {
    /// The VolumeAttachment's name (`csi-<sha256>`): the row's key.
    pub name: String,
    pub pv: String,
    /// `namespace/name` of the PV's claim, empty when unclaimed or unknown.
    pub claim: String,
    pub node: String,
    /// `Ready`, `NotReady`, or `gone` (no node has that name).
    pub node_state: String,
    /// `status.attached`: `true`, `false`.
    pub attached: String,
    /// `attach: <message>` / `detach: <message>`, empty without error.
    pub error: String,
    pub attacher: String,
    pub age: String,
    pub created: Option<Timestamp>,
    /// The node is NotReady or gone, or an error is reported.
    pub trouble: bool,
}

impl AttachmentRow {
    /// The node first: where the volume is held is what an incident asks. The
    /// attachment's own name (`csi-<sha256>`, 68 characters) is the row's key, shown
    /// by describe and YAML rather than in a column 80 cells cannot hold.
    pub(crate) const COLUMNS: &[Column] = &[
        Column::new("NODE", Name),
        Column::new("NODE-STATE", Status),
        Column::new("ATTACHED", Status),
        Column::new("AGE", Age),
        Column::new("PV", Name),
        Column::new("CLAIM", Name),
        Column::new("ERROR", Text),
    ];

    pub fn cells(&self) -> Vec<String> {
        vec![
            self.node.clone(),
            self.node_state.clone(),
            self.attached.clone(),
            self.age.clone(),
            self.pv.clone(),
            self.claim.clone(),
            self.error.clone(),
        ]
    }
}

/// `Ready` is True on the node.
fn ready(s: &Snapshot, node: &str) -> Option<bool> {
    let n = s
        .nodes
        .iter()
        .find(|n| n.metadata.name.as_deref() == Some(node))?;
    Some(
        n.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
            .is_some_and(|c| c.status == "True"),
    )
}

pub(crate) fn attachment_rows(s: &Snapshot) -> Vec<AttachmentRow> {
    s.volume_attachments
        .iter()
        .map(|va| {
            let spec = &va.spec;
            let pv = spec
                .source
                .persistent_volume_name
                .clone()
                .unwrap_or_default();
            let claim = s
                .pvs
                .iter()
                .find(|p| p.metadata.name.as_deref() == Some(pv.as_str()))
                .and_then(|p| p.spec.as_ref()?.claim_ref.as_ref())
                .map(|r| {
                    format!(
                        "{}/{}",
                        r.namespace.as_deref().unwrap_or_default(),
                        r.name.as_deref().unwrap_or_default()
                    )
                })
                .unwrap_or_default();
            let node_state = ready(s, &spec.node_name);
            let state = match node_state {
                Some(true) => "Ready",
                Some(false) => "NotReady",
                None => "gone",
            };
            let status = va.status.as_ref();
            let error = status
                .and_then(|s| {
                    s.detach_error
                        .as_ref()
                        .map(|e| ("detach", e))
                        .or(s.attach_error.as_ref().map(|e| ("attach", e)))
                })
                .map(|(what, e)| format!("{what}: {}", e.message.as_deref().unwrap_or_default()))
                .unwrap_or_default();
            AttachmentRow {
                name: va.metadata.name.clone().unwrap_or_default(),
                pv,
                claim,
                trouble: node_state != Some(true) || !error.is_empty(),
                node: spec.node_name.clone(),
                node_state: state.to_string(),
                attached: status.is_some_and(|s| s.attached).to_string(),
                error,
                attacher: spec.attacher.clone(),
                age: age(created(&va.metadata), s.now),
                created: created(&va.metadata),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    #[test]
    fn rows_say_the_node_state_and_the_error() {
        let mut s = Snapshot {
            now: "2025-01-01T12:00:00Z".parse().unwrap(),
            ..Default::default()
        };
        s.nodes.push(Arc::new(
            serde_json::from_value(json!({"metadata": {"name": "w1"},
                "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}}))
            .unwrap(),
        ));
        s.pvs.push(Arc::new(
            serde_json::from_value(json!({"metadata": {"name": "pvc-1"},
                "spec": {"claimRef": {"namespace": "db", "name": "data-0"}}}))
            .unwrap(),
        ));
        for (name, node) in [("csi-a", "w1"), ("csi-b", "w9")] {
            s.volume_attachments.push(Arc::new(
                serde_json::from_value(json!({
                    "metadata": {"name": name, "creationTimestamp": "2025-01-01T11:00:00Z"},
                    "spec": {"attacher": "rbd.csi.ceph.com", "nodeName": node,
                             "source": {"persistentVolumeName": "pvc-1"}},
                    "status": {"attached": true,
                               "detachError": {"message": "rpc error: timeout"}}}))
                .unwrap(),
            ));
        }
        let rows = attachment_rows(&s);
        assert_eq!(
            rows[0].cells(),
            [
                "w1",
                "NotReady",
                "true",
                "60m",
                "pvc-1",
                "db/data-0",
                "detach: rpc error: timeout"
            ]
        );
        assert_eq!(rows[0].name, "csi-a");
        assert_eq!(rows[1].node_state, "gone");
        assert!(rows[0].trouble);
    }
}
