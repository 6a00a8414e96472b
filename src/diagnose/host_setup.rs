//! `host.node-unknown` and `host.root-empty`: the console's own host settings
//! (`--node`, `--host-root`) that make its host findings meaningless. Said once, as a
//! warning, instead of silently finding nothing or blaming the node for files that
//! were never there to read.

use super::{Finding, Severity};
use crate::model::objref::ObjRef;
use crate::model::snapshot::Snapshot;

pub fn check(s: &Snapshot, out: &mut Vec<Finding>) {
    let Some(r) = s.host.as_deref() else {
        return;
    };
    let nodes_listed = s
        .sources
        .iter()
        .find(|src| src.kind == "nodes")
        .map_or(!s.nodes.is_empty(), |src| src.synced);
    if let Some(name) = r.node.as_deref()
        && nodes_listed
        && !s
            .nodes
            .iter()
            .any(|n| n.metadata.name.as_deref() == Some(name))
    {
        let known: Vec<&str> = s
            .nodes
            .iter()
            .filter_map(|n| n.metadata.name.as_deref())
            .take(super::MAX_LISTED)
            .collect();
        out.push(Finding {
            id: "host.node-unknown",
            severity: Severity::Warning,
            subject: Some(ObjRef::cluster("Node", name)),
            object: format!("Node {name}"),
            namespace: None,
            node: None,
            evidence: vec![
                format!("--node {name} (or KCOPS_NODE) names no node of the cluster"),
                format!("nodes: {}", known.join(", ")),
            ],
            explanation: format!(
                "kcops was told it runs on node {name}, but the cluster has no node of that name, so the host checks of this machine (CNI config, flannel subnet, IPAM leaks, links) are not made."
            ),
            fix: "Pass --node with the name `kubectl get nodes` shows for this machine, or leave it out to find the node by this machine's addresses.".to_string(),
        });
    }
    if r.root_looks_empty {
        out.push(Finding {
            id: "host.root-empty",
            severity: Severity::Warning,
            subject: None,
            object: format!("Host root {}", r.root),
            namespace: None,
            node: r.node.clone(),
            evidence: vec![format!(
                "host root {} has none of etc, run, var, proc, sys",
                r.root
            )],
            explanation: format!(
                "The host root {} looks empty, so it is not this node's filesystem: the host checks (CNI config, flannel subnet, IPAM leaks, ip_forward, links) cannot be made, and nothing is concluded from the missing files.",
                r.root
            ),
            fix: "Pass --host-root (or KCOPS_HOST_ROOT) the directory where this node's filesystem is mounted (`/` on the node itself).".to_string(),
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::fixtures::*;
    use super::super::{Severity, diagnose};
    use crate::model::host::HostReport;
    use crate::model::snapshot::SourceStatus;

    fn host(s: &mut crate::model::snapshot::Snapshot, node: &str, empty: bool) {
        let mut r = HostReport::empty("/mnt/node", Some(node.to_string()), now());
        r.root_looks_empty = empty;
        s.host = Some(Arc::new(r));
    }

    #[test]
    fn an_unknown_node_is_said_once_the_nodes_are_listed() {
        let mut s = snapshot();
        s.nodes = vec![node("master", "True"), node("node1", "True")].into();
        host(&mut s, "no-such-node", false);
        let f = only(&s, "host.node-unknown");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Warning);
        assert_eq!(f[0].evidence[1], "nodes: master, node1");
        // Not before the nodes are listed: an empty list proves nothing.
        s.sources = vec![SourceStatus {
            kind: "nodes",
            synced: false,
            last_success: None,
            last_error: None,
            expected: None,
        }];
        assert!(only(&s, "host.node-unknown").is_empty());
        host(&mut s, "master", false);
        s.sources.clear();
        assert!(diagnose(&s).iter().all(|f| !f.id.starts_with("host.")));
    }

    #[test]
    fn an_empty_root_is_one_warning() {
        let mut s = snapshot();
        s.nodes = vec![node("master", "True")].into();
        host(&mut s, "master", true);
        let f = only(&s, "host.root-empty");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Warning);
        assert!(f[0].explanation.contains("/mnt/node looks empty"));
    }
}
