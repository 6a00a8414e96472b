//! PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and the subset of
//! strategic merge patch that kubectl and kube-rs send (lists merged by their patch
//! merge keys, `$patch` and `$deleteFromPrimitiveList` directives).

use serde_json::{Map, Value};

use super::status::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Merge,
    Strategic,
    Json,
    /// Server-side apply; the lab applies the body as a strategic merge.
    Apply,
}

impl PatchType {
    pub fn from_content_type(ct: &str) -> Result<Self, ApiError> {
        let base = ct.split(';').next().unwrap_or_default().trim();
        match base {
            "application/merge-patch+json" => Ok(Self::Merge),
            "application/strategic-merge-patch+json" => Ok(Self::Strategic),
            "application/json-patch+json" => Ok(Self::Json),
            "application/apply-patch+yaml" | "application/apply-patch+json" => Ok(Self::Apply),
            other => Err(ApiError::unsupported_media(format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {other:?})"
            ))),
        }
    }
}

/// Applies `patch` (raw body) to `target` in place.
pub fn apply(target: &mut Value, patch_type: PatchType, body: &[u8]) -> Result<(), ApiError> {
    match patch_type {
        PatchType::Json => {
            let p: json_patch::Patch = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
            json_patch::patch(target, &p).map_err(|e| {
                ApiError::new(
                    422,
                    "Invalid",
                    format!("the server rejected our request due to an error in our request: {e}"),
                )
            })
        }
        PatchType::Merge => {
            let p: Value = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("invalid merge patch: {e}")))?;
            json_patch::merge(target, &p);
            Ok(())
        }
        PatchType::Strategic => {
            let p: Value = serde_json::from_slice(body).map_err(|e| {
                ApiError::bad_request(format!("invalid strategic merge patch: {e}"))
            })?;
            strategic_merge(target, &p, "");
            Ok(())
        }
        PatchType::Apply => {
            let p: Value = serde_yaml_ng::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("invalid apply patch: {e}")))?;
            strategic_merge(target, &p, "");
            Ok(())
        }
    }
}

/// The patch merge key of a list field, by its name (how the Kubernetes types
/// declare `patchMergeKey`). Lists not named here are replaced.
fn merge_key(field: &str) -> Option<&'static str> {
    Some(match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets"
        | "containerStatuses"
        | "initContainerStatuses" => "name",
        "ports" => "containerPort",
        "volumeMounts" => "mountPath",
        "volumeDevices" => "devicePath",
        "conditions" => "type",
        "addresses" => "type",
        "taints" => "key",
        "ownerReferences" => "uid",
        "hostAliases" => "ip",
        "topologySpreadConstraints" => "topologyKey",
        "readinessGates" => "conditionType",
        _ => return None,
    })
}

/// Lists of scalars merged as sets (patchStrategy merge on primitives).
fn is_set_list(field: &str) -> bool {
    field == "finalizers"
}

fn strategic_merge(target: &mut Value, patch: &Value, field: &str) {
    let Some(patch_map) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if patch_map.get("$patch").and_then(|p| p.as_str()) == Some("replace") {
        let mut clean = patch_map.clone();
        clean.remove("$patch");
        *target = Value::Object(clean);
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Some(target_map) = target.as_object_mut() else {
        return;
    };
    for (key, value) in patch_map {
        if key.starts_with('$') {
            continue;
        }
        if let Some(list_field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(existing)), Some(remove)) =
                (target_map.get_mut(list_field), value.as_array())
            {
                existing.retain(|v| !remove.contains(v));
            }
            continue;
        }
        if key.starts_with("$setElementOrder/") || key.starts_with("$retainKeys") {
            continue;
        }
        match value {
            Value::Null => {
                target_map.remove(key);
            }
            Value::Object(_) => {
                let slot = target_map.entry(key.clone()).or_insert(Value::Null);
                strategic_merge(slot, value, key);
            }
            Value::Array(items) => {
                let existing = target_map.get_mut(key);
                match (merge_key(key), existing) {
                    (Some(mk), Some(Value::Array(current))) => merge_list(current, items, mk, key),
                    (None, Some(Value::Array(current))) if is_set_list(key) => {
                        for item in items {
                            if !current.contains(item) {
                                current.push(item.clone());
                            }
                        }
                    }
                    _ => {
                        let cleaned: Vec<Value> = items
                            .iter()
                            .filter(|i| i.get("$patch").is_none())
                            .cloned()
                            .collect();
                        target_map.insert(key.clone(), Value::Array(cleaned));
                    }
                }
            }
            _ => {
                target_map.insert(key.clone(), value.clone());
            }
        }
    }
    let _ = field;
}

fn merge_list(current: &mut Vec<Value>, items: &[Value], mk: &str, field: &str) {
    if items
        .iter()
        .any(|i| i.get("$patch").and_then(|p| p.as_str()) == Some("replace"))
    {
        *current = items
            .iter()
            .filter(|i| i.get("$patch").is_none())
            .cloned()
            .collect();
        return;
    }
    for item in items {
        let Some(id) = item.get(mk) else {
            current.push(item.clone());
            continue;
        };
        let pos = current.iter().position(|c| c.get(mk) == Some(id));
        let delete = item.get("$patch").and_then(|p| p.as_str()) == Some("delete");
        match (pos, delete) {
            (Some(i), true) => {
                current.remove(i);
            }
            (None, true) => {}
            (Some(i), false) => strategic_merge(&mut current[i], item, field),
            (None, false) => current.push(item.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patched(mut target: Value, t: PatchType, patch: Value) -> Value {
        let body = serde_json::to_vec(&patch).unwrap_or_default();
        if let Err(e) = apply(&mut target, t, &body) {
            panic!("patch failed: {e}");
        }
        target
    }

    #[test]
    fn strategic_merges_containers_by_name_and_cordons() {
        let pod =
            json!({"spec":{"containers":[{"name":"a","image":"x"},{"name":"b","image":"y"}]}});
        let out = patched(
            pod,
            PatchType::Strategic,
            json!({"spec":{"containers":[{"name":"b","image":"z"}]}}),
        );
        assert_eq!(
            out["spec"]["containers"],
            json!([{"name":"a","image":"x"},{"name":"b","image":"z"}])
        );
        let node = json!({"spec":{"podCIDR":"10.244.1.0/24"}});
        let out = patched(
            node,
            PatchType::Strategic,
            json!({"spec":{"unschedulable":true}}),
        );
        assert_eq!(
            out["spec"],
            json!({"podCIDR":"10.244.1.0/24","unschedulable":true})
        );
    }

    #[test]
    fn strategic_delete_directive_and_null() {
        let v = json!({"metadata":{"labels":{"a":"1","b":"2"}},"spec":{"taints":[{"key":"k","effect":"NoSchedule"}]}});
        let out = patched(
            v,
            PatchType::Strategic,
            json!({"metadata":{"labels":{"a":null}},"spec":{"taints":[{"key":"k","$patch":"delete"}]}}),
        );
        assert_eq!(
            out,
            json!({"metadata":{"labels":{"b":"2"}},"spec":{"taints":[]}})
        );
    }

    #[test]
    fn merge_patch_replaces_lists_and_json_patch_works() {
        let v = json!({"spec":{"replicas":3,"containers":[{"name":"a"},{"name":"b"}]}});
        let out = patched(
            v.clone(),
            PatchType::Merge,
            json!({"spec":{"replicas":2,"containers":[{"name":"c"}]}}),
        );
        assert_eq!(
            out,
            json!({"spec":{"replicas":2,"containers":[{"name":"c"}]}})
        );
        let out = patched(
            v,
            PatchType::Json,
            json!([{"op":"replace","path":"/spec/replicas","value":5}]),
        );
        assert_eq!(out["spec"]["replicas"], json!(5));
    }

    #[test]
    fn unknown_content_type_is_415() {
        assert_eq!(
            PatchType::from_content_type("text/plain").map_err(|e| e.code),
            Err(415)
        );
    }
}
