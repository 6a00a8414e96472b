//! A typed reference to a cluster object (or a Ceph one), so that code acting on what a
//! finding is about reads its kind, namespace and name instead of parsing its text.

use std::fmt;

use serde::Serialize;

/// `kind` is the Kubernetes kind (`Pod`, `Node`, `PersistentVolumeClaim`, ...) or a Ceph
/// one (`RbdImage` with the pool as its namespace, `CephCluster`, `CephUser`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ObjRef {
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjRef {
    pub const POD: &'static str = "Pod";
    pub(crate) const RBD_IMAGE: &'static str = "RbdImage";

    /// An object in a namespace (or an RBD image in a pool).
    pub fn namespaced(
        kind: &'static str,
        namespace: impl Into<String>,
        name: impl Into<String>,
    ) -> Self {
        ObjRef {
            kind,
            namespace: Some(namespace.into()),
            name: name.into(),
        }
    }

    /// A cluster-scoped object.
    pub fn cluster(kind: &'static str, name: impl Into<String>) -> Self {
        ObjRef {
            kind,
            namespace: None,
            name: name.into(),
        }
    }

    /// From `namespace/name` (or `name` alone), as the checks build object paths.
    pub fn at(kind: &'static str, path: &str) -> Self {
        match path.split_once('/') {
            Some((ns, name)) => Self::namespaced(kind, ns, name),
            None => Self::cluster(kind, path),
        }
    }

    /// The namespace and name when this is a `kind` object in a namespace.
    pub(crate) fn namespaced_as(&self, kind: &str) -> Option<(&str, &str)> {
        match &self.namespace {
            Some(ns) if self.kind == kind => Some((ns, &self.name)),
            _ => None,
        }
    }
}

/// `Kind namespace/name` or `Kind name`: how findings name their object.
impl fmt::Display for ObjRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_as_findings_name_objects() {
        assert_eq!(ObjRef::namespaced("Pod", "a", "b").to_string(), "Pod a/b");
        assert_eq!(ObjRef::cluster("Node", "n1").to_string(), "Node n1");
        assert_eq!(
            ObjRef::at("ConfigMap", "kube-system/x").to_string(),
            "ConfigMap kube-system/x"
        );
        assert_eq!(ObjRef::at("Node", "n1"), ObjRef::cluster("Node", "n1"));
    }

    #[test]
    fn namespaced_as_checks_the_kind() {
        let pod = ObjRef::namespaced("Pod", "a", "b");
        assert_eq!(pod.namespaced_as("Pod"), Some(("a", "b")));
        assert_eq!(pod.namespaced_as("RbdImage"), None);
        assert_eq!(ObjRef::cluster("Pod", "x").namespaced_as("Pod"), None);
    }
}
