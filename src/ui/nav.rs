//! Drill-down with a back stack: Enter on a node, a workload or a claim lists its
//! pods (the Pods pane, narrowed to them), Esc comes back to the table it came from
//! with its selection. The way down is shown as a breadcrumb in the pane's title
//! (`Nodes › node2 › Pods`), so a narrowed list never passes for all pods.

use crate::diagnose::workloads::owner;
use crate::model::pod::Pod;
use crate::model::rows::{WorkloadKind, rbd_image};
use crate::model::snapshot::Snapshot;
use crate::ui::panes::PaneId;
use crate::ui::view::{ObjKey, ObjKind, TableModel};

/// Which pods a drill-down lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PodScope {
    /// The pods scheduled on a node.
    Node(String),
    /// The pods a StatefulSet, DaemonSet or Deployment controls.
    Workload {
        kind: WorkloadKind,
        namespace: String,
        name: String,
    },
    /// The pods that mount a claim, and the RBD image behind it (`pool/image`).
    Claim {
        namespace: String,
        name: String,
        image: Option<String>,
    },
}

impl PodScope {
    /// What Enter on `key` drills into; `None` for an object without pods of its own
    /// (a pod, an event, an image): the app describes it instead.
    pub(crate) fn of(key: &ObjKey, snapshot: &Snapshot) -> Option<PodScope> {
        let workload = |kind| PodScope::Workload {
            kind,
            namespace: key.namespace.to_string(),
            name: key.name.to_string(),
        };
        match key.kind {
            ObjKind::Node => Some(PodScope::Node(key.name.to_string())),
            ObjKind::StatefulSet => Some(workload(WorkloadKind::StatefulSet)),
            ObjKind::DaemonSet => Some(workload(WorkloadKind::DaemonSet)),
            ObjKind::Deployment => Some(workload(WorkloadKind::Deployment)),
            ObjKind::Pvc => Some(claim(snapshot, &key.namespace, &key.name)),
            ObjKind::Pv => {
                let pv = snapshot
                    .pvs
                    .iter()
                    .find(|p| p.metadata.name.as_deref() == Some(key.name.as_str()))?;
                let by = pv.spec.as_ref()?.claim_ref.as_ref()?;
                Some(claim(
                    snapshot,
                    by.namespace.as_deref().unwrap_or_default(),
                    by.name.as_deref().unwrap_or_default(),
                ))
            }
            _ => None,
        }
    }

    /// The object as the breadcrumb names it.
    pub(crate) fn label(&self) -> String {
        match self {
            PodScope::Node(name) => name.clone(),
            PodScope::Workload {
                kind,
                namespace,
                name,
            } => format!("{} {namespace}/{name}", short(*kind)),
            PodScope::Claim {
                namespace, name, ..
            } => format!("{namespace}/{name}"),
        }
    }

    /// What the drill-down shows beside its pods (a claim's RBD image, which does
    /// not fit the title at 80 columns).
    pub(crate) fn note(&self) -> Option<String> {
        match self {
            PodScope::Claim { image, .. } => Some(match image {
                Some(image) => format!("RBD image {image}"),
                None => "no RBD image (the claim is not bound to an RBD volume)".into(),
            }),
            PodScope::Node(_) | PodScope::Workload { .. } => None,
        }
    }

    /// Whether `pod` belongs to the scope.
    pub(crate) fn holds(&self, pod: &Pod) -> bool {
        let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
        match self {
            PodScope::Node(node) => {
                pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node.as_str())
            }
            PodScope::Workload {
                kind,
                namespace,
                name,
            } => owner(pod).is_some_and(|(k, n, w)| k == *kind && n == namespace && w == name),
            PodScope::Claim {
                namespace, name, ..
            } => {
                ns == namespace
                    && pod
                        .spec
                        .iter()
                        .flat_map(|s| s.volumes.iter().flatten())
                        .filter_map(|v| v.persistent_volume_claim.as_ref())
                        .any(|c| c.claim_name == *name)
            }
        }
    }

    /// The rows of `pods` (the pod table) whose pod belongs to the scope.
    pub(crate) fn pick(&self, pods: &TableModel, snapshot: &Snapshot) -> TableModel {
        let held: std::collections::HashSet<(&str, &str)> = snapshot
            .pods
            .iter()
            .filter(|p| self.holds(p))
            .map(|p| {
                (
                    p.metadata.namespace.as_deref().unwrap_or_default(),
                    p.metadata.name.as_deref().unwrap_or_default(),
                )
            })
            .collect();
        TableModel {
            columns: pods.columns.clone(),
            rows: pods
                .rows
                .filtered(|r| held.contains(&(r.namespace(), r.name()))),
        }
    }
}

fn short(kind: WorkloadKind) -> &'static str {
    match kind {
        WorkloadKind::StatefulSet => "sts",
        WorkloadKind::DaemonSet => "ds",
        WorkloadKind::Deployment => "deploy",
    }
}

/// The claim `namespace/name` with the RBD image of the volume it is bound to.
fn claim(snapshot: &Snapshot, namespace: &str, name: &str) -> PodScope {
    let volume = snapshot
        .pvcs
        .iter()
        .find(|c| {
            c.metadata.namespace.as_deref() == Some(namespace)
                && c.metadata.name.as_deref() == Some(name)
        })
        .and_then(|c| c.spec.as_ref()?.volume_name.clone());
    let image = volume.and_then(|v| {
        let pv = snapshot
            .pvs
            .iter()
            .find(|p| p.metadata.name.as_deref() == Some(v.as_str()))?;
        rbd_image(pv).map(|(pool, image)| format!("{pool}/{image}"))
    });
    PodScope::Claim {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        image,
    }
}

/// A drill-down the Pods pane shows: which pods, and the way down as the title
/// says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Drill {
    pub scope: PodScope,
    /// `Nodes › node2`: where Enter was pressed, and on what.
    pub trail: String,
}

/// One step down: the pane Enter was pressed on, and the drill-down the Pods pane
/// showed before (a drill from inside a drill-down comes back to it).
#[derive(Debug, Clone)]
struct Crumb {
    pane: PaneId,
    before: Option<Drill>,
}

/// The back stack.
#[derive(Debug, Default)]
pub(crate) struct Nav {
    stack: Vec<Crumb>,
}

impl Nav {
    pub(crate) fn push(&mut self, pane: PaneId, before: Option<Drill>) {
        self.stack.push(Crumb { pane, before });
    }

    /// The pane to come back to and the drill-down it showed.
    pub(crate) fn pop(&mut self) -> Option<(PaneId, Option<Drill>)> {
        self.stack.pop().map(|c| (c.pane, c.before))
    }

    pub(crate) fn clear(&mut self) {
        self.stack.clear();
    }

    pub(crate) fn depth(&self) -> usize {
        self.stack.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn pod(ns: &str, name: &str, node: &str, owner: Option<(&str, &str)>, claim: &str) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {
                "namespace": ns, "name": name,
                "ownerReferences": owner.map(|(k, n)| vec![serde_json::json!({
                    "apiVersion": "apps/v1", "kind": k, "name": n, "uid": "u", "controller": true
                })]).unwrap_or_default(),
            },
            "spec": {
                "nodeName": node,
                "containers": [{"name": "app"}],
                "volumes": if claim.is_empty() { serde_json::json!([]) } else {
                    serde_json::json!([{"name": "data", "persistentVolumeClaim": {"claimName": claim}}])
                },
            },
        }))
        .unwrap_or_default()
    }

    #[test]
    fn each_scope_holds_its_own_pods() {
        let pods = [
            pod(
                "demo",
                "web-0",
                "node1",
                Some(("StatefulSet", "web")),
                "data-web-0",
            ),
            pod(
                "demo",
                "api-7c9-x",
                "node2",
                Some(("ReplicaSet", "api-7c9")),
                "",
            ),
            pod(
                "kube-system",
                "proxy-a",
                "node1",
                Some(("DaemonSet", "proxy")),
                "",
            ),
        ];
        let held = |s: &PodScope| -> Vec<&str> {
            pods.iter()
                .filter(|p| s.holds(p))
                .filter_map(|p| p.metadata.name.as_deref())
                .collect()
        };
        assert_eq!(held(&PodScope::Node("node1".into())), ["web-0", "proxy-a"]);
        let deploy = PodScope::Workload {
            kind: WorkloadKind::Deployment,
            namespace: "demo".into(),
            name: "api".into(),
        };
        assert_eq!(held(&deploy), ["api-7c9-x"]);
        let sts_elsewhere = PodScope::Workload {
            kind: WorkloadKind::StatefulSet,
            namespace: "other".into(),
            name: "web".into(),
        };
        assert!(held(&sts_elsewhere).is_empty());
        let snapshot = Snapshot {
            pods: pods.iter().cloned().map(Arc::new).collect(),
            ..Default::default()
        };
        let key = ObjKey {
            kind: ObjKind::Pvc,
            namespace: "demo".into(),
            name: "data-web-0".into(),
        };
        let scope = PodScope::of(&key, &snapshot);
        assert_eq!(held(scope.as_ref().unwrap_or(&deploy)), ["web-0"]);
        assert_eq!(
            scope.as_ref().map(|s| s.label()).unwrap_or_default(),
            "demo/data-web-0"
        );
        assert!(
            scope
                .and_then(|s| s.note())
                .is_some_and(|n| n.starts_with("no RBD image"))
        );
        let pod_key = ObjKey {
            kind: ObjKind::Pod,
            ..key
        };
        assert_eq!(
            PodScope::of(&pod_key, &snapshot),
            None,
            "a pod is described"
        );
    }
}
