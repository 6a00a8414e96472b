//! Discovery documents (`/version`, `/api`, `/apis`, resource lists) so kubectl and
//! kube-rs can map kinds and short names to resources.

use serde_json::{Value, json};

use super::resources::{Registry, ResourceType};

/// The Kubernetes version the lab reports.
pub const GIT_VERSION: &str = "v1.33.1";

pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        // Since 1.33 the server also states the version it emulates and the oldest
        // it stays compatible with (compatibility versions); kubectl ignores them.
        "emulationMajor": "1",
        "emulationMinor": "33",
        "minCompatibilityMajor": "1",
        "minCompatibilityMinor": "32",
        "gitVersion": GIT_VERSION,
        "gitCommit": "8adc0f041b8e7ad1d30e29cc59c6ae7a15e19828",
        "gitTreeState": "clean",
        "buildDate": "2025-05-15T08:19:08Z",
        "goVersion": "go1.24.2",
        "compiler": "gc",
        "platform": "linux/amd64"
    })
}

pub fn core_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]
    })
}

pub fn group_list(registry: &Registry) -> Value {
    let groups: Vec<Value> = registry
        .groups()
        .into_iter()
        .map(|(group, versions)| {
            let vs: Vec<Value> = versions
                .iter()
                .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
                .collect();
            let preferred = vs.first().cloned().unwrap_or(Value::Null);
            json!({"name": group, "versions": vs, "preferredVersion": preferred})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

pub fn group(registry: &Registry, name: &str) -> Option<Value> {
    let (group, versions) = registry.groups().into_iter().find(|(g, _)| g == name)?;
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    let preferred = vs.first().cloned().unwrap_or(Value::Null);
    Some(
        json!({"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": vs, "preferredVersion": preferred}),
    )
}

fn subresource_verbs(sub: &str) -> Vec<&'static str> {
    match sub {
        "log" => vec!["get"],
        "eviction" | "binding" => vec!["create"],
        "exec" => vec!["create", "get"],
        "finalize" => vec!["update"],
        _ => vec!["get", "patch", "update"],
    }
}

fn resource_entry(rt: &ResourceType) -> Value {
    let verbs = [
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    ];
    let mut v = json!({
        "name": rt.plural,
        "singularName": rt.singular,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": verbs,
        "storageVersionHash": "",
    });
    if !rt.short_names.is_empty() {
        v["shortNames"] = json!(rt.short_names);
    }
    if !rt.categories.is_empty() {
        v["categories"] = json!(rt.categories);
    }
    v
}

/// `APIResourceList` for one group/version, `None` when nothing is served there.
pub fn resource_list(registry: &Registry, group: &str, version: &str) -> Option<Value> {
    let types: Vec<_> = registry
        .all()
        .into_iter()
        .filter(|t| t.group == group && t.version == version)
        .collect();
    if types.is_empty() {
        return None;
    }
    let mut resources = Vec::new();
    for rt in &types {
        resources.push(resource_entry(rt));
        for sub in &rt.subresources {
            let kind = if sub == "scale" {
                "Scale"
            } else if sub == "eviction" {
                "Eviction"
            } else if sub == "exec" {
                "PodExecOptions"
            } else {
                rt.kind.as_str()
            };
            let mut entry = json!({
                "name": format!("{}/{}", rt.plural, sub),
                "singularName": "",
                "namespaced": rt.namespaced,
                "kind": kind,
                "verbs": subresource_verbs(sub),
            });
            if sub == "scale" {
                entry["group"] = json!("autoscaling");
                entry["version"] = json!("v1");
            }
            resources.push(entry);
        }
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
    )
}

/// `api/v1` or `apis/<group>/<version>`: how `/openapi/v3` names a group-version.
fn openapi_gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// The group-versions served, in registration order, each once.
fn served_group_versions(registry: &Registry) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for t in registry.all() {
        if !out.iter().any(|(g, v)| *g == t.group && *v == t.version) {
            out.push((t.group.clone(), t.version.clone()));
        }
    }
    out
}

/// `/openapi/v3/<gv path>`: a minimal OpenAPI v3 document for one group-version.
///
/// It carries what kubectl reads from it: a PATCH operation per kind with its
/// `x-kubernetes-group-version-kind` and the `fieldValidation` query parameter, so
/// `kubectl apply|create -f` sees server-side field validation and does not need
/// schemas (it falls back to its built-in types for strategic merge patches, as it does
/// when an operation lists no request body). There are no schemas: `kubectl explain`
/// gets nothing from the lab.
pub fn openapi_v3_doc(registry: &Registry, gv_path: &str) -> Option<Value> {
    let types: Vec<_> = registry
        .all()
        .into_iter()
        .filter(|t| openapi_gv_path(&t.group, &t.version) == gv_path)
        .collect();
    if types.is_empty() {
        return None;
    }
    let param = |name: &str, description: &str| json!({"name": name, "in": "query", "description": description, "schema": {"type": "string", "uniqueItems": true}});
    let mut paths = serde_json::Map::new();
    for t in &types {
        let path = if t.namespaced {
            format!("/{gv_path}/namespaces/{{namespace}}/{}/{{name}}", t.plural)
        } else {
            format!("/{gv_path}/{}/{{name}}", t.plural)
        };
        let operation = json!({
            "description": format!("partially update the specified {}", t.kind),
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": {"group": t.group, "version": t.version, "kind": t.kind},
            "parameters": [
                param("dryRun", "When present, indicates that modifications should not be persisted."),
                param("fieldManager", "fieldManager is a name associated with the actor or entity that is making these changes."),
                param("fieldValidation", "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields."),
            ],
            "responses": {"200": {"description": "OK"}},
        });
        paths.insert(path, json!({"patch": operation}));
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": GIT_VERSION},
        "paths": paths,
        "components": {"schemas": {}},
    }))
}

/// `/openapi/v3`: where each group-version's document is, with a content hash.
pub fn openapi_v3_root(registry: &Registry) -> Value {
    let mut paths = serde_json::Map::new();
    for (group, version) in served_group_versions(registry) {
        let gv_path = openapi_gv_path(&group, &version);
        let Some(doc) = openapi_v3_doc(registry, &gv_path) else {
            continue;
        };
        // FNV-1a of the document: changes when a CRD adds kinds to the group-version.
        let hash = doc
            .to_string()
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
        paths.insert(
            gv_path.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{gv_path}?hash={hash:016X}")}),
        );
    }
    json!({"paths": paths})
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What kubectl's field-validation check reads: per kind, a PATCH operation with
    /// its group-version-kind and a `fieldValidation` query parameter.
    #[test]
    fn openapi_v3_documents_patch_operations_with_field_validation() {
        let registry = Registry::with_builtins();
        let root = openapi_v3_root(&registry);
        let url = root["paths"]["apis/apps/v1"]["serverRelativeURL"]
            .as_str()
            .unwrap_or_default();
        assert!(url.starts_with("/openapi/v3/apis/apps/v1?hash="), "{root}");
        assert!(root["paths"]["api/v1"].is_object(), "{root}");

        let doc = openapi_v3_doc(&registry, "apis/apps/v1").unwrap_or_default();
        let patch =
            &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(
            patch["x-kubernetes-group-version-kind"],
            json!({"group": "apps", "version": "v1", "kind": "Deployment"})
        );
        let params = patch["parameters"].as_array().cloned().unwrap_or_default();
        assert!(
            params
                .iter()
                .any(|p| p["name"] == "fieldValidation" && p["in"] == "query"),
            "{patch}"
        );
        // No request body: kubectl then builds strategic merge patches from its own types.
        assert!(patch.get("requestBody").is_none());

        let core = openapi_v3_doc(&registry, "api/v1").unwrap_or_default();
        assert!(
            core["paths"]["/api/v1/nodes/{name}"]["patch"].is_object(),
            "cluster-scoped path"
        );
        assert!(openapi_v3_doc(&registry, "apis/nope/v1").is_none());
    }
}
