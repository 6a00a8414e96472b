//! Describe-style text for an object: metadata, owner, conditions, volumes and the
//! events that involve it — like `kubectl describe`, from the snapshot alone.

use k8s_openapi::serde_json::Value;

use crate::model::snapshot::Snapshot;
use crate::ui::view::{ObjKey, ObjKind};

/// The object behind a row as JSON, if it is still in the snapshot.
pub(crate) fn object_json(s: &Snapshot, key: &ObjKey) -> Option<Value> {
    /// The object `key` as JSON, with its apiVersion and kind.
    fn find<'a, K>(
        items: impl IntoIterator<Item = &'a std::sync::Arc<K>>,
        key: &ObjKey,
    ) -> Option<Value>
    where
        K: kube::ResourceExt<DynamicType = ()> + serde::Serialize + 'a,
    {
        let obj = items.into_iter().find(|o| {
            o.name_any() == key.name && o.namespace().unwrap_or_default() == key.namespace
        })?;
        let mut v = serde_json::to_value(obj.as_ref()).ok()?;
        if let Some(map) = v.as_object_mut() {
            map.entry("apiVersion")
                .or_insert_with(|| K::api_version(&()).into());
            map.entry("kind").or_insert_with(|| K::kind(&()).into());
        }
        Some(v)
    }
    match key.kind {
        ObjKind::Node => find(&s.nodes, key),
        // The stored pod is slim (the whole object is fetched once the view opens).
        ObjKind::Pod => {
            let mut v = serde_json::to_value(s.pod(&key.namespace, &key.name)?.as_ref()).ok()?;
            if let Some(map) = v.as_object_mut() {
                map.entry("apiVersion").or_insert_with(|| "v1".into());
                map.entry("kind").or_insert_with(|| "Pod".into());
            }
            Some(v)
        }
        ObjKind::Pvc => find(&s.pvcs, key),
        ObjKind::Pv => find(&s.pvs, key),
        ObjKind::StorageClass => find(&s.storage_classes, key),
        ObjKind::VolumeAttachment => find(&s.volume_attachments, key),
        ObjKind::StatefulSet => find(&s.statefulsets, key),
        ObjKind::DaemonSet => find(&s.daemonsets, key),
        ObjKind::Deployment => find(&s.deployments, key),
        ObjKind::Event => find(&s.events, key),
        // Not a Kubernetes object: the Ceph pane shows its own detail.
        ObjKind::RbdImage | ObjKind::Resource => None,
    }
}

/// The object as YAML lines.
pub(crate) fn yaml_lines(s: &Snapshot, key: &ObjKey) -> Vec<String> {
    match object_json(s, key) {
        Some(v) => yaml_of(&v),
        None => vec![format!("{} {} is gone", key.kind.label(), key.name)],
    }
}

/// An object (as JSON) as YAML lines.
pub(crate) fn yaml_of(v: &Value) -> Vec<String> {
    serde_yaml_ng::to_string(&sorted(v))
        .unwrap_or_else(|e| format!("cannot render YAML: {e}"))
        .lines()
        .map(str::to_string)
        .collect()
}

/// Keys in alphabetical order at every level, as `kubectl get -o yaml` prints them
/// (serde_json keeps insertion order here, and types serialise in field order).
fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sorted(&m[k])))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = v;
    for p in path {
        match cur.get(p) {
            Some(n) => cur = n,
            None => return "",
        }
    }
    cur.as_str().unwrap_or("")
}

fn map_lines(out: &mut Vec<String>, title: &str, v: &Value) {
    match v.as_object() {
        Some(m) if !m.is_empty() => {
            let mut first = true;
            for (k, val) in m {
                let val = val
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| val.to_string());
                out.push(format!("{:<16}{k}={val}", if first { title } else { "" }));
                first = false;
            }
        }
        _ => out.push(format!("{title:<16}<none>")),
    }
}

/// Describe lines for an object.
pub(crate) fn describe_lines(s: &Snapshot, key: &ObjKey) -> Vec<String> {
    let Some(v) = object_json(s, key) else {
        return vec![format!("{} {} is gone", key.kind.label(), key.name)];
    };
    describe_object(s, key, &v)
}

/// Describe lines for an object given as JSON (the stored copy, or the whole object
/// fetched from the API server), with its events from the snapshot.
pub(crate) fn describe_object(s: &Snapshot, key: &ObjKey, v: &Value) -> Vec<String> {
    let mut out = vec![format!("{:<16}{}", "Name:", key.name)];
    if !key.namespace.is_empty() {
        out.push(format!("{:<16}{}", "Namespace:", key.namespace));
    }
    map_lines(&mut out, "Labels:", &v["metadata"]["labels"]);
    map_lines(&mut out, "Annotations:", &v["metadata"]["annotations"]);
    out.push(format!(
        "{:<16}{}",
        "Created:",
        str_at(v, &["metadata", "creationTimestamp"])
    ));
    if let Some(d) = v["metadata"]["deletionTimestamp"].as_str() {
        out.push(format!("{:<16}{d}", "Terminating:"));
    }
    if let Some(owners) = v["metadata"]["ownerReferences"].as_array() {
        for o in owners {
            out.push(format!(
                "{:<16}{}/{}",
                "Controlled By:",
                str_at(o, &["kind"]),
                str_at(o, &["name"])
            ));
        }
    }
    match key.kind {
        ObjKind::Pod => {
            out.push(format!(
                "{:<16}{}",
                "Node:",
                str_at(v, &["spec", "nodeName"])
            ));
            out.push(format!(
                "{:<16}{}",
                "Status:",
                str_at(v, &["status", "phase"])
            ));
            out.push(format!("{:<16}{}", "IP:", str_at(v, &["status", "podIP"])));
            out.push("Containers:".into());
            for c in v["spec"]["containers"]
                .as_array()
                .cloned()
                .unwrap_or_default()
            {
                out.push(format!("  {}:", str_at(&c, &["name"])));
                out.push(format!("    Image:     {}", str_at(&c, &["image"])));
            }
            for cs in v["status"]["containerStatuses"]
                .as_array()
                .cloned()
                .unwrap_or_default()
            {
                let state = cs["state"]
                    .as_object()
                    .and_then(|m| m.keys().next().cloned())
                    .unwrap_or_default();
                let reason = cs["state"][&state]["reason"].as_str().unwrap_or("");
                out.push(format!(
                    "  {} state: {state} {reason}  restarts: {}",
                    str_at(&cs, &["name"]),
                    cs["restartCount"]
                ));
                if let Some(t) = cs["lastState"]["terminated"].as_object() {
                    out.push(format!(
                        "    Last State: Terminated  Reason: {}  Exit Code: {}",
                        t.get("reason").and_then(|r| r.as_str()).unwrap_or(""),
                        t.get("exitCode").cloned().unwrap_or_default()
                    ));
                    if let Some(m) = t
                        .get("message")
                        .and_then(|m| m.as_str())
                        .filter(|m| !m.is_empty())
                    {
                        out.push(format!("    Message:    {m}"));
                    }
                }
            }
            out.push("Volumes:".into());
            let volumes = v["spec"]["volumes"].as_array().cloned().unwrap_or_default();
            if volumes.is_empty() {
                out.push("  <none>".into());
            }
            for vol in volumes {
                let claim = str_at(&vol, &["persistentVolumeClaim", "claimName"]);
                if claim.is_empty() {
                    out.push(format!("  {}", str_at(&vol, &["name"])));
                } else {
                    out.push(format!(
                        "  {}: PersistentVolumeClaim {claim}",
                        str_at(&vol, &["name"])
                    ));
                }
            }
        }
        ObjKind::Node => {
            out.push(format!(
                "{:<16}{}",
                "PodCIDR:",
                str_at(v, &["spec", "podCIDR"])
            ));
            out.push(format!(
                "{:<16}{}",
                "Unschedulable:",
                v["spec"]["unschedulable"].as_bool().unwrap_or(false)
            ));
            for t in v["spec"]["taints"].as_array().cloned().unwrap_or_default() {
                out.push(format!(
                    "{:<16}{}:{}",
                    "Taint:",
                    str_at(&t, &["key"]),
                    str_at(&t, &["effect"])
                ));
            }
            for a in v["status"]["addresses"]
                .as_array()
                .cloned()
                .unwrap_or_default()
            {
                out.push(format!(
                    "{:<16}{}",
                    format!("{}:", str_at(&a, &["type"])),
                    str_at(&a, &["address"])
                ));
            }
        }
        ObjKind::Pvc | ObjKind::Pv => {
            out.push(format!(
                "{:<16}{}",
                "Status:",
                str_at(v, &["status", "phase"])
            ));
            out.push(format!(
                "{:<16}{}",
                "StorageClass:",
                str_at(v, &["spec", "storageClassName"])
            ));
            if key.kind == ObjKind::Pvc {
                out.push(format!(
                    "{:<16}{}",
                    "Volume:",
                    str_at(v, &["spec", "volumeName"])
                ));
            } else {
                out.push(format!(
                    "{:<16}{}/{}",
                    "Claim:",
                    str_at(v, &["spec", "claimRef", "namespace"]),
                    str_at(v, &["spec", "claimRef", "name"])
                ));
                // The in-tree rbd source, or a ceph-csi RBD volume (as the RBD column).
                let (pool, image) = if str_at(v, &["spec", "csi", "driver"]) == "rbd.csi.ceph.com" {
                    (
                        str_at(v, &["spec", "csi", "volumeAttributes", "pool"]),
                        str_at(v, &["spec", "csi", "volumeAttributes", "imageName"]),
                    )
                } else {
                    (
                        str_at(v, &["spec", "rbd", "pool"]),
                        str_at(v, &["spec", "rbd", "image"]),
                    )
                };
                if !image.is_empty() {
                    out.push(format!(
                        "{:<16}{}/{image}",
                        "RBD image:",
                        if pool.is_empty() { "rbd" } else { pool }
                    ));
                }
            }
        }
        _ => {}
    }
    if let Some(conds) = v["status"]["conditions"].as_array() {
        out.push("Conditions:".into());
        out.push(format!(
            "  {:<28}{:<8}{:<28}{}",
            "Type", "Status", "Reason", "Message"
        ));
        for c in conds {
            out.push(format!(
                "  {:<28}{:<8}{:<28}{}",
                str_at(c, &["type"]),
                str_at(c, &["status"]),
                str_at(c, &["reason"]),
                str_at(c, &["message"])
            ));
        }
    }
    let kind = key.kind.label();
    let mut events: Vec<&std::sync::Arc<k8s_openapi::api::core::v1::Event>> = s
        .events
        .iter()
        .filter(|e| {
            e.involved_object.name.as_deref() == Some(&key.name)
                && e.involved_object.kind.as_deref() == Some(kind)
                && e.involved_object.namespace.as_deref().unwrap_or("") == key.namespace
        })
        .collect();
    events.sort_by_key(|e| e.last_timestamp.as_ref().map(|t| t.0));
    out.push("Events:".into());
    if events.is_empty() {
        out.push("  <none>".into());
    }
    for e in events {
        out.push(format!(
            "  {:<8}{:<22}{:>4}x  {}",
            e.type_.as_deref().unwrap_or(""),
            e.reason.as_deref().unwrap_or(""),
            e.count.unwrap_or(1),
            e.message.as_deref().unwrap_or("").trim_end()
        ));
    }
    out
}
