//! Storage checks: `pvc.pending`, `pv.released` and `pv.failed` (with Ceph data, the
//! latter two say whether the volume's RBD image still exists, and who holds or
//! watches it).

use crate::model::objref::ObjRef;
use std::collections::HashSet;

use k8s_openapi::api::core::v1::{Event, PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;

use super::index::{Index, at, event_line, is_warning, pod_claims, pod_node};
use super::volume_causes::{self, Failing, Volume, classify, normalized};
use super::{Finding, Severity, span};
use crate::model::rows::{created, pvc_class, rbd_image};
use crate::model::snapshot::Snapshot;

pub fn check(s: &Snapshot, ix: &Index, out: &mut Vec<Finding>) {
    let default_class = s
        .storage_classes
        .iter()
        .find(|c| is_default(c))
        .map(|c| c.as_ref());
    // Claims that a scheduled pod waits for: a WaitForFirstConsumer claim should have
    // been provisioned for them. Only built when such a claim is pending (it takes a
    // pass over every pod).
    let mut consumed: HashSet<(&str, &str)> = HashSet::new();
    let needed = s
        .pvcs
        .iter()
        .any(|pvc| is_pending(pvc) && waits_for_consumer(class_of(pvc, ix, default_class).1));
    if needed {
        for p in &s.pods {
            if pod_node(p).is_some() {
                let ns = p.metadata.namespace.as_deref().unwrap_or_default();
                consumed.extend(pod_claims(p).map(|c| (ns, c)));
            }
        }
    }
    for pvc in &s.pvcs {
        if let Some(f) = pending(pvc, ix, &consumed, default_class) {
            out.push(f);
        }
    }
    for pv in &s.pvs {
        if let Some(f) = released_or_failed(pv, ix) {
            out.push(f);
        }
    }
}

fn is_pending(pvc: &PersistentVolumeClaim) -> bool {
    pvc.metadata.deletion_timestamp.is_none()
        && pvc
            .status
            .as_ref()
            .and_then(|s| s.phase.as_deref())
            .unwrap_or("Pending")
            == "Pending"
}

/// The class a claim names (None: none named) and the class that applies to it: the
/// named one if it exists, the default one when none is named, none for an explicit
/// empty class (which asks for a pre-created volume).
fn class_of<'a>(
    pvc: &'a PersistentVolumeClaim,
    ix: &Index<'a>,
    default_class: Option<&'a StorageClass>,
) -> (Option<&'a str>, Option<&'a StorageClass>) {
    let named = pvc_class(pvc);
    match named.filter(|c| !c.is_empty()) {
        Some(c) => (Some(c), ix.classes.get(c).copied()),
        None if named.is_some() => (None, None),
        None => (None, default_class),
    }
}

fn waits_for_consumer(class: Option<&StorageClass>) -> bool {
    class.and_then(|c| c.volume_binding_mode.as_deref()) == Some("WaitForFirstConsumer")
}

fn is_default(c: &StorageClass) -> bool {
    let a = c.metadata.annotations.as_ref();
    [
        "storageclass.kubernetes.io/is-default-class",
        "storageclass.beta.kubernetes.io/is-default-class",
    ]
    .iter()
    .any(|k| a.and_then(|a| a.get(*k)).map(String::as_str) == Some("true"))
}

/// Hints for provisioning errors seen with Ceph RBD.
fn provisioning_hint(messages: &[&Event]) -> &'static str {
    let any = |t: &str| {
        messages
            .iter()
            .any(|e| e.message.as_deref().unwrap_or_default().contains(t))
    };
    if any("Permission denied") || any("(13)") || any("EACCES") {
        " The Ceph user the provisioner uses lacks a capability (check `ceph auth get <user>`: it needs `mon 'profile rbd'` and `osd 'profile rbd pool=<pool>'`)."
    } else if any("timed out") || any("-110") || any("connection refused") {
        " The provisioner cannot reach the Ceph monitors listed in the class: check them with `ceph -s` from a node."
    } else if any("executable file not found") || any("rbd: not found") {
        " The in-tree provisioner runs the `rbd` command inside kube-controller-manager, whose image has none: use an external RBD provisioner or ceph-csi."
    } else {
        ""
    }
}

fn pending(
    pvc: &PersistentVolumeClaim,
    ix: &Index,
    consumed: &HashSet<(&str, &str)>,
    default_class: Option<&StorageClass>,
) -> Option<Finding> {
    if !is_pending(pvc) {
        return None;
    }
    let ns = pvc.metadata.namespace.as_deref().unwrap_or_default();
    let name = pvc.metadata.name.as_deref().unwrap_or_default();
    let events: Vec<&Event> = ix.events(
        "PersistentVolumeClaim",
        ns,
        name,
        pvc.metadata.uid.as_deref(),
    );
    let mut failed: Vec<&Event> = Vec::new();
    for e in events
        .iter()
        .copied()
        .filter(|e| is_warning(e) && e.reason.as_deref() == Some("ProvisioningFailed"))
    {
        // One line per failure, not per attempt: the in-tree provisioner names a new
        // image (`kubernetes-dynamic-pvc-<uuid>`) in each retry's message.
        let m = normalized(e.message.as_deref().unwrap_or_default());
        if failed.len() < 3
            && !failed
                .iter()
                .any(|x| normalized(x.message.as_deref().unwrap_or_default()) == m)
        {
            failed.push(e);
        }
    }
    let (class_name, class) = class_of(pvc, ix, default_class);
    let wait_for_consumer = waits_for_consumer(class);
    let old = created(&pvc.metadata).is_some_and(|t| ix.since(t) > ix.limits.pvc_pending);
    let fire =
        !failed.is_empty() || (old && (!wait_for_consumer || consumed.contains(&(ns, name))));
    if !fire {
        return None;
    }

    let provisioner = class.map(|c| c.provisioner.as_str());
    let mut evidence = vec![format!(
        "status Pending since {}, storage class {}",
        at(pvc.metadata.creation_timestamp.as_ref()),
        match (class_name, provisioner) {
            (Some(c), Some(p)) => format!("{c} (provisioner {p})"),
            (Some(c), None) => format!("{c} (does not exist)"),
            (None, Some(p)) => format!("default (provisioner {p})"),
            (None, None) => "none".to_string(),
        }
    )];
    let explanation;
    let fix;
    // A failure whose text names its Ceph-side cause is that cause's finding.
    if let Some(cause) = failed
        .first()
        .and_then(|e| classify(e.message.as_deref().unwrap_or_default()))
    {
        let events: Vec<&Event> = failed
            .iter()
            .copied()
            .filter(|e| classify(e.message.as_deref().unwrap_or_default()).as_ref() == Some(&cause))
            .collect();
        return Some(volume_causes::finding(
            &cause,
            Failing {
                subject: ObjRef::namespaced("PersistentVolumeClaim", ns, name),
                namespace: ns,
                node: None,
                events,
                volume: Volume::of_class(&format!("{ns}/{name}"), class_name, class),
                context: evidence,
            },
            ix,
        ));
    }
    if !failed.is_empty() {
        evidence.extend(failed.iter().map(|e| event_line(e)));
        explanation = format!(
            "The provisioner {} tried to create a volume for claim {ns}/{name} and failed, so the claim stays Pending and pods using it cannot start.{}",
            provisioner.unwrap_or("of its class"),
            provisioning_hint(&failed)
        );
        fix = "Fix the cause in the events above (Ceph credentials in the class's secrets, monitors, pool); the provisioner retries by itself.".to_string();
    } else {
        if let Some(e) = events.first() {
            evidence.push(event_line(e));
        }
        match (class_name, class) {
            (Some(c), None) => {
                explanation = format!(
                    "Claim {ns}/{name} asks for storage class {c}, which does not exist, so nothing provisions a volume for it."
                );
                fix = format!(
                    "Create storage class {c} or change the claim's storageClassName (`kubectl get storageclass` lists them); a claim's class cannot be edited, so recreate the claim."
                );
            }
            (_, None) => {
                explanation = format!(
                    "Claim {ns}/{name} has no storage class to provision from (none named, and no default class applies), so only a matching pre-created PersistentVolume could bind it, and none does."
                );
                fix = "Create a PersistentVolume that matches it, or mark a class as default (`kubectl annotate storageclass <name> storageclass.kubernetes.io/is-default-class=true`).".to_string();
            }
            (_, Some(c)) => {
                let external = !c.provisioner.starts_with("kubernetes.io/");
                explanation = format!(
                    "No volume has been provisioned or bound for claim {ns}/{name} in over {}: provisioner {} has not acted on it.",
                    span(ix.limits.pvc_pending),
                    c.provisioner
                );
                fix = if external {
                    format!(
                        "Check that the {} provisioner runs (its controller pod and logs, e.g. csi-rbdplugin-provisioner for ceph-csi) and `kubectl describe pvc -n {ns} {name}`.",
                        c.provisioner
                    )
                } else {
                    format!(
                        "`kubectl describe pvc -n {ns} {name}` and the kube-controller-manager log say what the in-tree provisioner is doing."
                    )
                };
            }
        }
    }
    Some(Finding {
        id: "pvc.pending",
        severity: Severity::Warning,
        subject: Some(ObjRef::namespaced("PersistentVolumeClaim", ns, name)),
        object: format!("PersistentVolumeClaim {ns}/{name}"),
        namespace: Some(ns.to_string()),
        node: None,
        evidence,
        explanation,
        fix,
    })
}

/// Ceph's view of a volume's image: its lines for the evidence, and a warning for the
/// fix when a client still has it open. Nothing without Ceph data.
fn image_in_ceph(pool: &str, image: &str, ix: &Index) -> (Vec<String>, String) {
    let Some(data) = ix.ceph_data() else {
        return (Vec::new(), String::new());
    };
    match ix.image_use(pool, image) {
        Some(u) => {
            let mut lines = vec![format!(
                "{pool}/{image} exists in Ceph ({})",
                super::ceph::size_text(u.image.size)
            )];
            lines.extend(super::ceph::image_lines(u, ix));
            let warning = if u.watchers.is_empty() {
                String::new()
            } else {
                format!(
                    " Do not delete {pool}/{image} while a client still has it open (see its watchers): find and stop that client first."
                )
            };
            (lines, warning)
        }
        None if data
            .image_errors
            .iter()
            .any(|(what, _)| what == pool || what == &format!("{pool}/{image}")) =>
        {
            (
                vec![format!(
                    "{pool}/{image} could not be read in Ceph (see the Ceph pane)"
                )],
                String::new(),
            )
        }
        None if data.rbd_pools.iter().any(|p| p.name == pool) => (
            vec![format!(
                "{pool}/{image} does not exist in Ceph (already deleted)"
            )],
            String::new(),
        ),
        None => (
            vec![format!("pool {pool} is not an RBD pool Ceph lists")],
            String::new(),
        ),
    }
}

fn released_or_failed(pv: &PersistentVolume, ix: &Index) -> Option<Finding> {
    let status = pv.status.as_ref()?;
    let phase = status.phase.as_deref()?;
    if pv.metadata.deletion_timestamp.is_some() || !matches!(phase, "Released" | "Failed") {
        return None;
    }
    let name = pv.metadata.name.as_deref().unwrap_or_default();
    let spec = pv.spec.as_ref();
    let policy = spec
        .and_then(|s| s.persistent_volume_reclaim_policy.as_deref())
        .unwrap_or("Retain");
    let claim = spec
        .and_then(|s| s.claim_ref.as_ref())
        .map(|c| {
            format!(
                "{}/{}",
                c.namespace.as_deref().unwrap_or_default(),
                c.name.as_deref().unwrap_or_default()
            )
        })
        .unwrap_or_else(|| "<none>".to_string());
    let image = rbd_image(pv).map(|(p, i)| format!("{p}/{i}"));
    let mut evidence = vec![format!(
        "phase {phase}, reclaim policy {policy}, claim {claim}"
    )];
    if let Some(m) = status.message.as_deref().filter(|m| !m.is_empty()) {
        evidence.push(format!("message: {m}"));
    }
    if let Some(r) = status.reason.as_deref().filter(|r| !r.is_empty()) {
        evidence.push(format!("reason: {r}"));
    }
    if let Some(i) = &image {
        evidence.push(format!("RBD image {i}"));
    }
    let (ceph_lines, in_use) = rbd_image(pv)
        .map(|(p, i)| image_in_ceph(p, i, ix))
        .unwrap_or_default();
    evidence.extend(ceph_lines);
    let data = image
        .as_deref()
        .map(|i| format!("RBD image {i}"))
        .unwrap_or_else(|| "its storage".to_string());
    let rm = image
        .as_deref()
        .map(|i| format!(" and its image (`rbd rm {i}`)"))
        .unwrap_or_default();
    let finding = if phase == "Released" {
        Finding {
            id: "pv.released",
            severity: Severity::Info,
            subject: Some(ObjRef::cluster("PersistentVolume", name)),
            object: format!("PersistentVolume {name}"),
            namespace: None,
            node: None,
            evidence,
            explanation: format!(
                "Volume {name} was bound to claim {claim}, which is gone; with reclaim policy {policy} the volume and {data} are kept, and no new claim can bind it as it is."
            ),
            fix: format!(
                "If the data is still needed, make the volume bindable again by removing its claim reference (`kubectl patch pv {name} --type json -p '[{{\"op\":\"remove\",\"path\":\"/spec/claimRef\"}}]'`). If not, delete the volume (`kubectl delete pv {name}`){rm}.{in_use}"
            ),
        }
    } else {
        Finding {
            id: "pv.failed",
            severity: Severity::Warning,
            subject: Some(ObjRef::cluster("PersistentVolume", name)),
            object: format!("PersistentVolume {name}"),
            namespace: None,
            node: None,
            evidence,
            explanation: format!(
                "Reclaiming volume {name} (policy {policy}) failed, so {data} was neither deleted nor made available again."
            ),
            fix: format!(
                "Fix the cause in the message (often Ceph credentials or a watcher still holding the image: `rbd status <image>`), then delete the volume (`kubectl delete pv {name}`){rm}.{in_use}"
            ),
        }
    };
    Some(finding)
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;
    use crate::diagnose::diagnose;

    fn rbd_class(mode: &str) -> std::sync::Arc<StorageClass> {
        from(
            json!({"metadata": {"name": "rbd", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": "kubernetes.io/rbd", "volumeBindingMode": mode}),
        )
    }

    fn claim(name: &str, class: Option<&str>, secs: i64) -> std::sync::Arc<PersistentVolumeClaim> {
        let mut spec = json!({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}});
        if let Some(c) = class {
            spec["storageClassName"] = json!(c);
        }
        from(
            json!({"metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"), "creationTimestamp": ago(secs)},
            "spec": spec, "status": {"phase": "Pending"}}),
        )
    }

    #[test]
    fn pending_after_a_minute() {
        let mut s = snapshot();
        s.storage_classes.push(rbd_class("Immediate"));
        s.pvcs.push(claim("young", Some("rbd"), 30));
        s.pvcs.push(claim("old", Some("rbd"), 90));
        s.pvcs.push(with(
            claim("bound", Some("rbd"), 900),
            json!({"status": {"phase": "Bound"}}),
        ));
        s.pvcs.push(with(
            claim("going", Some("rbd"), 900),
            json!({"metadata": {"deletionTimestamp": ago(1)}}),
        ));
        s.events.push(object_event("PersistentVolumeClaim", "default", "old", "Normal", "ExternalProvisioning",
            "Waiting for a volume to be created either by the external provisioner 'x' or manually by the system administrator.", 3));
        let f = diagnose(&s);
        assert_eq!(
            ids(&f),
            [(
                "pvc.pending",
                "PersistentVolumeClaim default/old".to_string()
            )]
        );
        assert_eq!(
            f[0].evidence,
            [
                format!("status Pending since {}, storage class rbd (provisioner kubernetes.io/rbd)", ago(90)),
                "ExternalProvisioning: Waiting for a volume to be created either by the external provisioner 'x' or manually by the system administrator.".to_string(),
            ]
        );
        assert!(f[0].fix.contains("kube-controller-manager"));
    }

    #[test]
    fn provisioning_failed_fires_at_once() {
        let mut s = snapshot();
        s.storage_classes.push(rbd_class("Immediate"));
        s.pvcs.push(claim("data-zk-0", None, 5));
        let msg = "Failed to provision volume with StorageClass \"rbd\": failed to create rbd image: exit status 1, command output: rbd: create error: (13) Permission denied";
        s.events.push(object_event(
            "PersistentVolumeClaim",
            "default",
            "data-zk-0",
            "Warning",
            "ProvisioningFailed",
            msg,
            1,
        ));
        s.events.push(object_event(
            "PersistentVolumeClaim",
            "default",
            "data-zk-0",
            "Warning",
            "ProvisioningFailed",
            msg,
            2,
        ));
        let f = diagnose(&s);
        assert_eq!(
            ids(&f),
            [(
                "rbd.caps-denied",
                "PersistentVolumeClaim default/data-zk-0".to_string()
            )]
        );
        assert_eq!(
            f[0].evidence,
            [
                format!(
                    "status Pending since {}, storage class default (provisioner kubernetes.io/rbd)",
                    ago(5)
                ),
                format!("ProvisioningFailed: {msg}"),
                "Ceph user client.admin on pool <pool>".to_string(),
                "Ceph: kcops does not read the caps of client.admin; `ceph auth get client.admin` shows them".to_string(),
            ]
        );
        assert!(
            f[0].explanation.contains("not a lock"),
            "{}",
            f[0].explanation
        );
    }

    #[test]
    fn unclassified_provisioning_failure_is_pending() {
        let mut s = snapshot();
        s.storage_classes.push(rbd_class("Immediate"));
        s.pvcs.push(claim("data-zk-0", None, 5));
        let msg = "Failed to provision volume with StorageClass \"rbd\": something odd";
        s.events.push(object_event(
            "PersistentVolumeClaim",
            "default",
            "data-zk-0",
            "Warning",
            "ProvisioningFailed",
            msg,
            1,
        ));
        assert_eq!(
            ids(&diagnose(&s)),
            [(
                "pvc.pending",
                "PersistentVolumeClaim default/data-zk-0".to_string()
            )]
        );
    }

    #[test]
    fn missing_class_and_no_default() {
        let mut s = snapshot();
        s.pvcs.push(claim("a", Some("fast"), 120));
        s.pvcs.push(claim("b", None, 120));
        let f = only(&s, "pvc.pending");
        assert_eq!(f.len(), 2);
        assert!(f[0].explanation.contains("fast, which does not exist"));
        assert!(f[0].evidence[0].ends_with("storage class fast (does not exist)"));
        assert!(f[1].explanation.contains("no default class applies"));
    }

    #[test]
    fn wait_for_first_consumer_without_consumer_is_normal() {
        let mut s = snapshot();
        s.storage_classes.push(rbd_class("WaitForFirstConsumer"));
        s.pvcs.push(claim("idle", Some("rbd"), 900));
        s.pvcs.push(claim("used", Some("rbd"), 900));
        s.nodes.push(node("node1", "True"));
        s.pods.push(with(
            creating_pod("default", "p", "node1", 10),
            json!({"spec": {"volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "used"}}]}}),
        ));
        let f = diagnose(&s);
        assert_eq!(
            ids(&f),
            [(
                "pvc.pending",
                "PersistentVolumeClaim default/used".to_string()
            )]
        );
    }

    #[test]
    fn released_and_failed_volumes() {
        let mut s = snapshot();
        s.pvs.push(from(json!({"metadata": {"name": "pvc-9"},
            "spec": {"persistentVolumeReclaimPolicy": "Retain", "claimRef": {"namespace": "default", "name": "data-etcd-2"},
                     "rbd": {"monitors": [], "image": "kubernetes-dynamic-pvc-9", "pool": "kube"}},
            "status": {"phase": "Released"}})));
        s.pvs.push(from(json!({"metadata": {"name": "pvc-8"},
            "spec": {"persistentVolumeReclaimPolicy": "Delete"},
            "status": {"phase": "Failed", "message": "rbd: error deleting image x: (16) Device or resource busy"}})));
        s.pvs.push(from(
            json!({"metadata": {"name": "ok"}, "status": {"phase": "Bound"}}),
        ));
        s.pvs.push(from(
            json!({"metadata": {"name": "free"}, "status": {"phase": "Available"}}),
        ));
        let f = diagnose(&s);
        assert_eq!(
            ids(&f),
            [
                ("pv.failed", "PersistentVolume pvc-8".to_string()),
                ("pv.released", "PersistentVolume pvc-9".to_string()),
            ]
        );
        assert_eq!(f[0].severity, Severity::Warning);
        assert_eq!(
            f[0].evidence,
            [
                "phase Failed, reclaim policy Delete, claim <none>",
                "message: rbd: error deleting image x: (16) Device or resource busy"
            ]
        );
        assert_eq!(f[1].severity, Severity::Info);
        assert_eq!(
            f[1].evidence,
            [
                "phase Released, reclaim policy Retain, claim default/data-etcd-2",
                "RBD image kube/kubernetes-dynamic-pvc-9"
            ]
        );
        assert!(f[1].fix.contains("rbd rm kube/kubernetes-dynamic-pvc-9"));
    }

    #[test]
    fn released_and_failed_volumes_say_what_ceph_has() {
        let mut s = snapshot();
        s.nodes.push(node_at("node2", "True", "198.18.1.12"));
        s.pvs.push(from(json!({"metadata": {"name": "pvc-9"},
            "spec": {"persistentVolumeReclaimPolicy": "Retain", "claimRef": {"namespace": "default", "name": "data-etcd-2"},
                     "rbd": {"monitors": [], "image": "kubernetes-dynamic-pvc-9", "pool": "rbd"}},
            "status": {"phase": "Released"}})));
        s.pvs.push(from(json!({"metadata": {"name": "pvc-8"},
            "spec": {"persistentVolumeReclaimPolicy": "Delete",
                     "rbd": {"monitors": [], "image": "kubernetes-dynamic-pvc-8", "pool": "rbd"}},
            "status": {"phase": "Failed", "message": "rbd: error deleting image: (16) Device or resource busy"}})));
        // pvc-9's image is still mapped on node2; pvc-8's is gone already.
        s.ceph = Some(ceph_report(ceph_data(vec![image(
            "rbd",
            "kubernetes-dynamic-pvc-9",
            vec![kubelet_lock("node2", "198.18.1.12", 7)],
            vec![watcher("198.18.1.12", 8)],
        )])));
        let f = diagnose(&s);
        // The lock is node2's and no pod uses the released volume: stale too.
        assert_eq!(
            ids(&f),
            [
                ("pv.failed", "PersistentVolume pvc-8".to_string()),
                (
                    "rbd.stale-lock",
                    "RbdImage rbd/kubernetes-dynamic-pvc-9".to_string()
                ),
                ("pv.released", "PersistentVolume pvc-9".to_string()),
            ]
        );
        assert_eq!(
            f[0].evidence[2..],
            [
                "RBD image rbd/kubernetes-dynamic-pvc-8",
                "rbd/kubernetes-dynamic-pvc-8 does not exist in Ceph (already deleted)"
            ]
        );
        assert_eq!(
            f[2].evidence[1..],
            [
                "RBD image rbd/kubernetes-dynamic-pvc-9",
                "rbd/kubernetes-dynamic-pvc-9 exists in Ceph (2 GiB)",
                "rbd/kubernetes-dynamic-pvc-9: lock 'kubelet_lock_magic_node2' by client.7 at 198.18.1.12:0/1007 (advisory, exclusive), held by node2 (Ready), which runs no pod using it",
                "rbd/kubernetes-dynamic-pvc-9: watcher client.8 at 198.18.1.12:0/2008 from node2",
            ]
        );
        assert!(
            f[2].fix.contains(
                "Do not delete rbd/kubernetes-dynamic-pvc-9 while a client still has it open"
            ),
            "{}",
            f[2].fix
        );
    }
}
