//! The resource types the lab serves: built-ins plus CRDs a scenario declares.

use std::sync::{Arc, RwLock};

/// One REST resource (group/version/plural) and what discovery says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceType {
    pub group: String,
    pub version: String,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    /// Subresources served below an object, e.g. `status`, `scale`, `log`.
    pub subresources: Vec<String>,
    pub categories: Vec<String>,
}

impl ResourceType {
    /// `v1` for the core group, `<group>/<version>` otherwise.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    pub fn has_subresource(&self, sub: &str) -> bool {
        self.subresources.iter().any(|s| s == sub)
    }

    /// `pods`, `statefulsets.apps`: how RBAC messages and errors name the resource.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }
}

struct Builtin(
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    bool,
    &'static [&'static str],
    &'static [&'static str],
);

const BUILTINS: &[Builtin] = &[
    Builtin(
        "",
        "v1",
        "namespaces",
        "Namespace",
        false,
        &["ns"],
        &["status", "finalize"],
    ),
    Builtin("", "v1", "nodes", "Node", false, &["no"], &["status"]),
    Builtin(
        "",
        "v1",
        "pods",
        "Pod",
        true,
        &["po"],
        &["status", "log", "exec", "eviction", "binding"],
    ),
    Builtin("", "v1", "services", "Service", true, &["svc"], &["status"]),
    Builtin("", "v1", "endpoints", "Endpoints", true, &["ep"], &[]),
    Builtin("", "v1", "events", "Event", true, &["ev"], &[]),
    Builtin("", "v1", "configmaps", "ConfigMap", true, &["cm"], &[]),
    Builtin("", "v1", "secrets", "Secret", true, &[], &[]),
    Builtin(
        "",
        "v1",
        "serviceaccounts",
        "ServiceAccount",
        true,
        &["sa"],
        &[],
    ),
    Builtin(
        "",
        "v1",
        "persistentvolumes",
        "PersistentVolume",
        false,
        &["pv"],
        &["status"],
    ),
    Builtin(
        "",
        "v1",
        "persistentvolumeclaims",
        "PersistentVolumeClaim",
        true,
        &["pvc"],
        &["status"],
    ),
    Builtin(
        "storage.k8s.io",
        "v1",
        "storageclasses",
        "StorageClass",
        false,
        &["sc"],
        &[],
    ),
    // Created by the attach/detach controller for CSI volumes (ceph-csi).
    Builtin(
        "storage.k8s.io",
        "v1",
        "volumeattachments",
        "VolumeAttachment",
        false,
        &[],
        &["status"],
    ),
    Builtin(
        "apps",
        "v1",
        "statefulsets",
        "StatefulSet",
        true,
        &["sts"],
        &["status", "scale"],
    ),
    Builtin(
        "apps",
        "v1",
        "daemonsets",
        "DaemonSet",
        true,
        &["ds"],
        &["status"],
    ),
    Builtin(
        "apps",
        "v1",
        "deployments",
        "Deployment",
        true,
        &["deploy"],
        &["status", "scale"],
    ),
    Builtin(
        "apps",
        "v1",
        "replicasets",
        "ReplicaSet",
        true,
        &["rs"],
        &["status", "scale"],
    ),
    Builtin(
        "apps",
        "v1",
        "controllerrevisions",
        "ControllerRevision",
        true,
        &[],
        &[],
    ),
    Builtin(
        "policy",
        "v1",
        "poddisruptionbudgets",
        "PodDisruptionBudget",
        true,
        &["pdb"],
        &["status"],
    ),
    // Listed by the console's resource browser (`:jobs`, `:cj`, `:ing`,
    // `:endpointslices`); their tables use the default convertor (NAME, AGE-like).
    Builtin("batch", "v1", "jobs", "Job", true, &[], &["status"]),
    Builtin(
        "batch",
        "v1",
        "cronjobs",
        "CronJob",
        true,
        &["cj"],
        &["status"],
    ),
    Builtin(
        "networking.k8s.io",
        "v1",
        "ingresses",
        "Ingress",
        true,
        &["ing"],
        &["status"],
    ),
    Builtin(
        "discovery.k8s.io",
        "v1",
        "endpointslices",
        "EndpointSlice",
        true,
        &[],
        &[],
    ),
    Builtin(
        "coordination.k8s.io",
        "v1",
        "leases",
        "Lease",
        true,
        &[],
        &[],
    ),
    Builtin(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        false,
        &["crd", "crds"],
        &["status"],
    ),
];

/// Types the server knows; CRDs are added at run time when they are created.
#[derive(Default)]
pub struct Registry {
    types: RwLock<Vec<Arc<ResourceType>>>,
}

impl Registry {
    pub fn with_builtins() -> Self {
        let types = BUILTINS
            .iter()
            .map(|b| {
                let all = matches!(
                    b.3,
                    "Pod" | "Service" | "StatefulSet" | "DaemonSet" | "Deployment" | "ReplicaSet"
                );
                Arc::new(ResourceType {
                    group: b.0.into(),
                    version: b.1.into(),
                    plural: b.2.into(),
                    singular: b.3.to_lowercase(),
                    kind: b.3.into(),
                    namespaced: b.4,
                    short_names: b.5.iter().map(|s| s.to_string()).collect(),
                    subresources: b.6.iter().map(|s| s.to_string()).collect(),
                    categories: if all { vec!["all".into()] } else { vec![] },
                })
            })
            .collect();
        Self {
            types: RwLock::new(types),
        }
    }

    pub fn all(&self) -> Vec<Arc<ResourceType>> {
        self.types.read().map(|t| t.clone()).unwrap_or_default()
    }

    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceType>> {
        self.types
            .read()
            .ok()?
            .iter()
            .find(|t| t.group == group && t.version == version && t.plural == plural)
            .cloned()
    }

    pub fn by_kind(&self, api_version: &str, kind: &str) -> Option<Arc<ResourceType>> {
        self.types
            .read()
            .ok()?
            .iter()
            .find(|t| t.api_version() == api_version && t.kind == kind)
            .cloned()
    }

    /// Groups (other than core) with their versions, in registration order.
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for t in self.all().iter().filter(|t| !t.group.is_empty()) {
            match out.iter_mut().find(|(g, _)| *g == t.group) {
                Some((_, versions)) if !versions.contains(&t.version) => {
                    versions.push(t.version.clone())
                }
                Some(_) => {}
                None => out.push((t.group.clone(), vec![t.version.clone()])),
            }
        }
        out
    }

    /// Registers the served versions of a CustomResourceDefinition object.
    pub fn register_crd(&self, crd: &serde_json::Value) -> Result<Vec<Arc<ResourceType>>, String> {
        let spec = crd
            .get("spec")
            .ok_or("CustomResourceDefinition has no spec")?;
        let group = spec
            .get("group")
            .and_then(|v| v.as_str())
            .ok_or("spec.group is required")?;
        let names = spec.get("names").ok_or("spec.names is required")?;
        let plural = names
            .get("plural")
            .and_then(|v| v.as_str())
            .ok_or("spec.names.plural is required")?;
        let kind = names
            .get("kind")
            .and_then(|v| v.as_str())
            .ok_or("spec.names.kind is required")?;
        let singular = names
            .get("singular")
            .and_then(|v| v.as_str())
            .map(str::to_string)
            .unwrap_or_else(|| kind.to_lowercase());
        let short_names = str_list(names.get("shortNames"));
        let categories = str_list(names.get("categories"));
        let namespaced = spec.get("scope").and_then(|v| v.as_str()) != Some("Cluster");
        let versions = spec
            .get("versions")
            .and_then(|v| v.as_array())
            .ok_or("spec.versions is required")?;
        let mut added = Vec::new();
        let mut types = self.types.write().map_err(|_| "registry lock poisoned")?;
        for v in versions {
            let served = v.get("served").and_then(|s| s.as_bool()).unwrap_or(true);
            let Some(version) = v.get("name").and_then(|n| n.as_str()) else {
                continue;
            };
            if !served
                || types
                    .iter()
                    .any(|t| t.group == group && t.version == version && t.plural == plural)
            {
                continue;
            }
            let mut subresources = Vec::new();
            if let Some(sub) = v.get("subresources") {
                if sub.get("status").is_some() {
                    subresources.push("status".to_string());
                }
                if sub.get("scale").is_some() {
                    subresources.push("scale".to_string());
                }
            }
            let rt = Arc::new(ResourceType {
                group: group.into(),
                version: version.into(),
                plural: plural.into(),
                singular: singular.clone(),
                kind: kind.into(),
                namespaced,
                short_names: short_names.clone(),
                subresources,
                categories: categories.clone(),
            });
            types.push(rt.clone());
            added.push(rt);
        }
        Ok(added)
    }
}

fn str_list(v: Option<&serde_json::Value>) -> Vec<String> {
    v.and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}
