//! Strict field validation of the scenario's manifests, as an API server does it for
//! `kubectl apply --validate=strict`: a field the kind's schema does not declare
//! (`replcias`) is an error with its path, not silently dropped. The schemas cover the
//! kinds scenarios use; other kinds (CRDs) are taken as they are.

#[allow(unused_imports)]
use super::*;

/// A schema node: the fields of an object, each with the schema of its value.
#[derive(Clone, Copy)]
enum Shape {
    /// Anything (free-form maps, quantities, strings).
    Any,
    Object(&'static [(&'static str, Shape)]),
    /// A list whose items have this shape.
    List(&'static Shape),
}

use Shape::{Any, List, Object};

const META: Shape = Object(&[
    ("name", Any),
    ("generateName", Any),
    ("namespace", Any),
    ("labels", Any),
    ("annotations", Any),
    ("finalizers", Any),
    ("ownerReferences", Any),
    ("uid", Any),
    ("resourceVersion", Any),
    ("creationTimestamp", Any),
    ("deletionTimestamp", Any),
    ("deletionGracePeriodSeconds", Any),
    ("generation", Any),
    ("managedFields", Any),
]);

const CONTAINER: Shape = Object(&[
    ("name", Any),
    ("image", Any),
    ("imagePullPolicy", Any),
    ("command", Any),
    ("args", Any),
    ("workingDir", Any),
    ("ports", Any),
    ("env", Any),
    ("envFrom", Any),
    ("resources", Any),
    ("volumeMounts", Any),
    ("volumeDevices", Any),
    ("livenessProbe", Any),
    ("readinessProbe", Any),
    ("startupProbe", Any),
    ("lifecycle", Any),
    ("securityContext", Any),
    ("terminationMessagePath", Any),
    ("terminationMessagePolicy", Any),
    ("stdin", Any),
    ("stdinOnce", Any),
    ("tty", Any),
    ("restartPolicy", Any),
    ("resizePolicy", Any),
]);

const POD_SPEC: Shape = Object(&[
    ("containers", List(&CONTAINER)),
    ("initContainers", List(&CONTAINER)),
    ("ephemeralContainers", Any),
    ("volumes", Any),
    ("restartPolicy", Any),
    ("terminationGracePeriodSeconds", Any),
    ("activeDeadlineSeconds", Any),
    ("dnsPolicy", Any),
    ("dnsConfig", Any),
    ("nodeSelector", Any),
    ("nodeName", Any),
    ("serviceAccountName", Any),
    ("serviceAccount", Any),
    ("automountServiceAccountToken", Any),
    ("hostNetwork", Any),
    ("hostPID", Any),
    ("hostIPC", Any),
    ("shareProcessNamespace", Any),
    ("securityContext", Any),
    ("imagePullSecrets", Any),
    ("hostname", Any),
    ("subdomain", Any),
    ("affinity", Any),
    ("schedulerName", Any),
    ("tolerations", Any),
    ("hostAliases", Any),
    ("priorityClassName", Any),
    ("priority", Any),
    ("readinessGates", Any),
    ("runtimeClassName", Any),
    ("enableServiceLinks", Any),
    ("preemptionPolicy", Any),
    ("overhead", Any),
    ("topologySpreadConstraints", Any),
    ("setHostnameAsFQDN", Any),
    ("os", Any),
    ("hostUsers", Any),
    ("schedulingGates", Any),
    ("resourceClaims", Any),
]);

const TEMPLATE: Shape = Object(&[("metadata", META), ("spec", POD_SPEC)]);

const DEPLOYMENT_SPEC: Shape = Object(&[
    ("replicas", Any),
    ("selector", Any),
    ("template", TEMPLATE),
    ("strategy", Any),
    ("minReadySeconds", Any),
    ("revisionHistoryLimit", Any),
    ("paused", Any),
    ("progressDeadlineSeconds", Any),
]);

const STATEFULSET_SPEC: Shape = Object(&[
    ("replicas", Any),
    ("selector", Any),
    ("template", TEMPLATE),
    ("volumeClaimTemplates", Any),
    ("serviceName", Any),
    ("podManagementPolicy", Any),
    ("updateStrategy", Any),
    ("revisionHistoryLimit", Any),
    ("minReadySeconds", Any),
    ("persistentVolumeClaimRetentionPolicy", Any),
    ("ordinals", Any),
]);

const DAEMONSET_SPEC: Shape = Object(&[
    ("selector", Any),
    ("template", TEMPLATE),
    ("updateStrategy", Any),
    ("minReadySeconds", Any),
    ("revisionHistoryLimit", Any),
]);

const REPLICASET_SPEC: Shape = Object(&[
    ("replicas", Any),
    ("selector", Any),
    ("template", TEMPLATE),
    ("minReadySeconds", Any),
]);

const PVC_SPEC: Shape = Object(&[
    ("accessModes", Any),
    ("selector", Any),
    ("resources", Any),
    ("volumeName", Any),
    ("storageClassName", Any),
    ("volumeMode", Any),
    ("dataSource", Any),
    ("dataSourceRef", Any),
    ("volumeAttributesClassName", Any),
]);

const PV_SPEC: Shape = Object(&[
    ("capacity", Any),
    ("accessModes", Any),
    ("claimRef", Any),
    ("persistentVolumeReclaimPolicy", Any),
    ("storageClassName", Any),
    ("mountOptions", Any),
    ("volumeMode", Any),
    ("nodeAffinity", Any),
    ("volumeAttributesClassName", Any),
    ("rbd", Any),
    ("csi", Any),
    ("hostPath", Any),
    ("local", Any),
    ("nfs", Any),
    ("cephfs", Any),
    ("iscsi", Any),
    ("fc", Any),
]);

const SERVICE_SPEC: Shape = Object(&[
    ("ports", Any),
    ("selector", Any),
    ("clusterIP", Any),
    ("clusterIPs", Any),
    ("type", Any),
    ("externalIPs", Any),
    ("sessionAffinity", Any),
    ("loadBalancerIP", Any),
    ("loadBalancerSourceRanges", Any),
    ("externalName", Any),
    ("externalTrafficPolicy", Any),
    ("healthCheckNodePort", Any),
    ("publishNotReadyAddresses", Any),
    ("sessionAffinityConfig", Any),
    ("ipFamilies", Any),
    ("ipFamilyPolicy", Any),
    ("allocateLoadBalancerNodePorts", Any),
    ("loadBalancerClass", Any),
    ("internalTrafficPolicy", Any),
    ("trafficDistribution", Any),
]);

/// The top-level fields of a kind the lab knows, with the shape of each.
fn kind_shape(kind: &str) -> Option<&'static [(&'static str, Shape)]> {
    const fn top(spec: Shape) -> [(&'static str, Shape); 5] {
        [
            ("apiVersion", Any),
            ("kind", Any),
            ("metadata", META),
            ("spec", spec),
            ("status", Any),
        ]
    }
    static DEPLOYMENT: [(&str, Shape); 5] = top(DEPLOYMENT_SPEC);
    static STATEFULSET: [(&str, Shape); 5] = top(STATEFULSET_SPEC);
    static DAEMONSET: [(&str, Shape); 5] = top(DAEMONSET_SPEC);
    static REPLICASET: [(&str, Shape); 5] = top(REPLICASET_SPEC);
    static POD: [(&str, Shape); 5] = top(POD_SPEC);
    static PVC: [(&str, Shape); 5] = top(PVC_SPEC);
    static PV: [(&str, Shape); 5] = top(PV_SPEC);
    static SERVICE: [(&str, Shape); 5] = top(SERVICE_SPEC);
    static NAMESPACE: [(&str, Shape); 5] = top(Any);
    static DATA: [(&str, Shape); 7] = [
        ("apiVersion", Any),
        ("kind", Any),
        ("metadata", META),
        ("data", Any),
        ("stringData", Any),
        ("binaryData", Any),
        ("type", Any),
    ];
    static STORAGE_CLASS: [(&str, Shape); 9] = [
        ("apiVersion", Any),
        ("kind", Any),
        ("metadata", META),
        ("provisioner", Any),
        ("parameters", Any),
        ("reclaimPolicy", Any),
        ("mountOptions", Any),
        ("allowVolumeExpansion", Any),
        ("volumeBindingMode", Any),
    ];
    Some(match kind {
        "Deployment" => &DEPLOYMENT,
        "StatefulSet" => &STATEFULSET,
        "DaemonSet" => &DAEMONSET,
        "ReplicaSet" => &REPLICASET,
        "Pod" => &POD,
        "PersistentVolumeClaim" => &PVC,
        "PersistentVolume" => &PV,
        "Service" => &SERVICE,
        "Namespace" => &NAMESPACE,
        "Secret" | "ConfigMap" => &DATA,
        "StorageClass" => &STORAGE_CLASS,
        _ => return None,
    })
}

/// Unknown fields of a manifest at `path`, each an issue naming the field as the API
/// server's strict decoding does (`unknown field "spec.replcias"`).
pub(super) fn check_fields(c: &mut Checker, path: &[Seg], manifest: &Value) {
    let Some(fields) = manifest
        .get("kind")
        .and_then(Value::as_str)
        .and_then(kind_shape)
    else {
        return;
    };
    walk(c, path, "", manifest, Object(fields));
}

fn walk(c: &mut Checker, path: &[Seg], dotted: &str, value: &Value, shape: Shape) {
    match (shape, value) {
        (Object(fields), Value::Object(map)) => {
            for (k, v) in map {
                let here = extend(path, Seg::Key(k.clone()));
                let name = if dotted.is_empty() {
                    k.clone()
                } else {
                    format!("{dotted}.{k}")
                };
                match fields.iter().find(|(f, _)| f == k) {
                    Some((_, inner)) => walk(c, &here, &name, v, *inner),
                    None => c.fail(
                        here,
                        format!("strict decoding error: unknown field \"{name}\""),
                    ),
                }
            }
        }
        (List(item), Value::Array(items)) => {
            for (i, v) in items.iter().enumerate() {
                walk(
                    c,
                    &extend(path, Seg::Index(i)),
                    &format!("{dotted}[{i}]"),
                    v,
                    *item,
                );
            }
        }
        _ => {}
    }
}
