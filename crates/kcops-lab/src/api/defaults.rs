//! Defaults the API server fills in on create, so objects look as they do on a real
//! cluster (and k8s-openapi's required fields are present).

use serde_json::{Value, json};

fn set_default(obj: &mut Value, path: &[&str], value: Value) {
    let mut cur = obj;
    for (i, part) in path.iter().enumerate() {
        if !cur.is_object() {
            *cur = json!({});
        }
        let Some(map) = cur.as_object_mut() else {
            return;
        };
        if i + 1 == path.len() {
            map.entry(part.to_string()).or_insert(value);
            return;
        }
        cur = map.entry(part.to_string()).or_insert_with(|| json!({}));
    }
}

fn add_finalizer(obj: &mut Value, finalizer: &str) {
    let list = &mut obj["metadata"]["finalizers"];
    if !list.is_array() {
        *list = json!([]);
    }
    if let Some(a) = list.as_array_mut()
        && !a.iter().any(|f| f == finalizer)
    {
        a.push(json!(finalizer));
    }
}

/// Fills defaults for `kind` in place.
pub fn apply(kind: &str, obj: &mut Value) {
    match kind {
        "Secret" => {
            // The API server merges write-only stringData into data (base64).
            if let Some(Value::Object(plain)) =
                obj.as_object_mut().and_then(|o| o.remove("stringData"))
            {
                use base64::Engine;
                if !obj["data"].is_object() {
                    obj["data"] = json!({});
                }
                for (k, v) in plain {
                    let text = v.as_str().unwrap_or_default();
                    obj["data"][k] = json!(base64::engine::general_purpose::STANDARD.encode(text));
                }
            }
            set_default(obj, &["type"], json!("Opaque"));
        }
        "Namespace" => {
            set_default(obj, &["spec", "finalizers"], json!(["kubernetes"]));
            set_default(obj, &["status", "phase"], json!("Active"));
            let name = obj["metadata"]["name"].clone();
            set_default(
                obj,
                &["metadata", "labels", "kubernetes.io/metadata.name"],
                name,
            );
        }
        "Pod" => {
            pod_spec_defaults(&mut obj["spec"]);
            set_default(obj, &["status", "phase"], json!("Pending"));
            let qos = qos_class(&obj["spec"]);
            set_default(obj, &["status", "qosClass"], json!(qos));
        }
        "PersistentVolumeClaim" => {
            add_finalizer(obj, "kubernetes.io/pvc-protection");
            set_default(obj, &["spec", "volumeMode"], json!("Filesystem"));
            set_default(obj, &["status", "phase"], json!("Pending"));
        }
        "PersistentVolume" => {
            add_finalizer(obj, "kubernetes.io/pv-protection");
            set_default(
                obj,
                &["spec", "persistentVolumeReclaimPolicy"],
                json!("Retain"),
            );
            set_default(obj, &["spec", "volumeMode"], json!("Filesystem"));
            set_default(obj, &["status", "phase"], json!("Available"));
        }
        "StorageClass" => {
            set_default(obj, &["reclaimPolicy"], json!("Delete"));
            set_default(obj, &["volumeBindingMode"], json!("Immediate"));
        }
        "StatefulSet" => {
            set_default(obj, &["spec", "replicas"], json!(1));
            set_default(obj, &["spec", "podManagementPolicy"], json!("OrderedReady"));
            set_default(obj, &["spec", "revisionHistoryLimit"], json!(10));
            set_default(
                obj,
                &["spec", "updateStrategy"],
                json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
            );
            set_default(
                obj,
                &["spec", "persistentVolumeClaimRetentionPolicy"],
                json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
            );
            pod_spec_defaults(&mut obj["spec"]["template"]["spec"]);
            set_default(obj, &["status", "replicas"], json!(0));
            set_default(obj, &["status", "availableReplicas"], json!(0));
        }
        "Deployment" => {
            set_default(obj, &["spec", "replicas"], json!(1));
            set_default(obj, &["spec", "revisionHistoryLimit"], json!(10));
            set_default(obj, &["spec", "progressDeadlineSeconds"], json!(600));
            set_default(
                obj,
                &["spec", "strategy"],
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}),
            );
            pod_spec_defaults(&mut obj["spec"]["template"]["spec"]);
        }
        "ReplicaSet" => {
            set_default(obj, &["spec", "replicas"], json!(1));
            pod_spec_defaults(&mut obj["spec"]["template"]["spec"]);
            set_default(obj, &["status", "replicas"], json!(0));
        }
        "DaemonSet" => {
            set_default(obj, &["spec", "revisionHistoryLimit"], json!(10));
            set_default(
                obj,
                &["spec", "updateStrategy"],
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}),
            );
            pod_spec_defaults(&mut obj["spec"]["template"]["spec"]);
            for f in [
                "currentNumberScheduled",
                "desiredNumberScheduled",
                "numberMisscheduled",
                "numberReady",
            ] {
                set_default(obj, &["status", f], json!(0));
            }
        }
        "Service" => {
            set_default(obj, &["spec", "type"], json!("ClusterIP"));
            set_default(obj, &["spec", "sessionAffinity"], json!("None"));
            if obj["spec"].get("clusterIP").is_none() {
                use rand::Rng;
                let mut rng = rand::thread_rng();
                let ip = format!(
                    "10.{}.{}.{}",
                    rng.gen_range(96..=111),
                    rng.gen_range(0..=255),
                    rng.gen_range(2..=254)
                );
                obj["spec"]["clusterIP"] = json!(ip);
                obj["spec"]["clusterIPs"] = json!([ip]);
            }
        }
        "Event" => {
            let now = super::store::now_rfc3339();
            set_default(obj, &["firstTimestamp"], json!(now.clone()));
            set_default(obj, &["lastTimestamp"], json!(now));
            set_default(obj, &["count"], json!(1));
            set_default(obj, &["type"], json!("Normal"));
        }
        "CustomResourceDefinition" => {
            set_default(
                obj,
                &["status", "conditions"],
                json!([
                    {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found"},
                    {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"}
                ]),
            );
        }
        _ => {}
    }
}

fn pod_spec_defaults(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    set_default(spec, &["restartPolicy"], json!("Always"));
    set_default(spec, &["terminationGracePeriodSeconds"], json!(30));
    set_default(spec, &["dnsPolicy"], json!("ClusterFirst"));
    set_default(spec, &["schedulerName"], json!("default-scheduler"));
    set_default(spec, &["securityContext"], json!({}));
    for list in ["containers", "initContainers"] {
        if let Some(cs) = spec.get_mut(list).and_then(|c| c.as_array_mut()) {
            for c in cs {
                set_default(
                    c,
                    &["terminationMessagePath"],
                    json!("/dev/termination-log"),
                );
                set_default(c, &["terminationMessagePolicy"], json!("File"));
                set_default(c, &["imagePullPolicy"], json!("IfNotPresent"));
                set_default(c, &["resources"], json!({}));
            }
        }
    }
}

fn qos_class(spec: &Value) -> &'static str {
    let containers = spec
        .get("containers")
        .and_then(|c| c.as_array())
        .cloned()
        .unwrap_or_default();
    let has = |c: &Value, k: &str| {
        c["resources"]
            .get(k)
            .and_then(|r| r.as_object())
            .is_some_and(|m| !m.is_empty())
    };
    if containers
        .iter()
        .all(|c| !has(c, "requests") && !has(c, "limits"))
    {
        return "BestEffort";
    }
    let guaranteed = containers.iter().all(|c| {
        let lim = &c["resources"]["limits"];
        let req = &c["resources"]["requests"];
        ["cpu", "memory"]
            .iter()
            .all(|r| lim.get(*r).is_some() && (req.get(*r).is_none() || req.get(*r) == lim.get(*r)))
    });
    if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}
