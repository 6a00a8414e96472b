//! `csi.config-mismatch`: ceph-csi finds a cluster's monitors by the StorageClass's
//! `clusterID` in its ConfigMap `ceph-csi-config` (`config.json`: a list of
//! `{"clusterID", "monitors"}`). A class whose clusterID the file lacks cannot
//! provision or stage anything; monitors that are not the cluster's (a moved or
//! replaced mon, an address typed wrong) make every call time out.
//!
//! One finding for the ConfigMap, listing each problem. Monitors are compared with
//! `ceph mon dump` of the cluster kcops reaches, for entries that are that cluster
//! (clusterID = its fsid, or a class of the entry uses one of its RBD pools); an
//! entry for another Ceph cluster is left alone.

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::storage::v1::StorageClass;
use serde::Deserialize;

use super::super::index::Index;
use super::super::{Finding, Severity};
use super::{DRIVER, plugin_namespace, users};
use crate::model::ceph::MonMap;
use crate::model::objref::ObjRef;
use crate::model::snapshot::Snapshot;

/// The ConfigMap ceph-csi reads its clusters from, and its key.
pub(crate) const CONFIG_MAP: &str = "ceph-csi-config";
const CONFIG_KEY: &str = "config.json";

#[derive(Debug, Deserialize)]
struct Entry {
    #[serde(rename = "clusterID", default)]
    cluster_id: String,
    #[serde(default)]
    monitors: Vec<String>,
}

/// The ConfigMap, in the node plugin's namespace when there is one.
fn config_map(s: &Snapshot) -> Option<&ConfigMap> {
    let ns = plugin_namespace(s);
    let named = s
        .configmaps
        .iter()
        .map(|c| c.as_ref())
        .filter(|c| c.metadata.name.as_deref() == Some(CONFIG_MAP));
    let mut first = None;
    for c in named {
        if ns.is_some() && c.metadata.namespace.as_deref() == ns {
            return Some(c);
        }
        first.get_or_insert(c);
    }
    first
}

fn param<'c>(class: &'c StorageClass, key: &str) -> Option<&'c str> {
    class.parameters.as_ref()?.get(key).map(String::as_str)
}

/// `v1:10.0.0.1:6789` -> (`10.0.0.1`, Some(6789)); `10.0.0.1` -> (`10.0.0.1`, None);
/// `None` for a host name (it cannot be compared with the mon map's addresses).
fn host_port(addr: &str) -> Option<(std::net::IpAddr, Option<u16>)> {
    let a = addr.trim();
    let a = ["v1:", "v2:"]
        .iter()
        .find_map(|p| a.strip_prefix(p))
        .unwrap_or(a);
    let a = a.split('/').next().unwrap_or(a);
    if let Ok(ip) = a.parse() {
        return Some((ip, None));
    }
    if let Some(rest) = a.strip_prefix('[') {
        let (ip, port) = rest.split_once("]:")?;
        return Some((ip.parse().ok()?, port.parse().ok()));
    }
    let (ip, port) = a.rsplit_once(':')?;
    Some((ip.parse().ok()?, port.parse().ok()))
}

/// Whether the configured monitor is one of the cluster's (same IP, and the same
/// port when it names one).
fn known_mon(configured: &str, map: &MonMap) -> Option<bool> {
    let (ip, port) = host_port(configured)?;
    Some(
        map.addrs
            .iter()
            .filter_map(|a| host_port(a))
            .any(|(mip, mport)| mip == ip && (port.is_none() || port == mport)),
    )
}

/// The ConfigMap's problems and their evidence.
fn config_problems(
    ix: &Index,
    classes: &[&StorageClass],
    cm: &ConfigMap,
    problems: &mut Vec<String>,
    evidence: &mut Vec<String>,
) {
    let ns = cm.metadata.namespace.as_deref().unwrap_or_default();
    let entries: Vec<Entry> = match cm.data.as_ref().and_then(|d| d.get(CONFIG_KEY)) {
        None => {
            problems.push(format!("it has no {CONFIG_KEY}"));
            Vec::new()
        }
        Some(text) => match serde_json::from_str(text) {
            Ok(e) => e,
            Err(e) => {
                problems.push(format!("its {CONFIG_KEY} is not a list of clusters ({e})"));
                Vec::new()
            }
        },
    };
    let known: Vec<&str> = entries.iter().map(|e| e.cluster_id.as_str()).collect();
    evidence.push(format!(
        "ConfigMap {ns}/{CONFIG_MAP} {CONFIG_KEY}: clusterIDs [{}]",
        known.join(", ")
    ));
    let data = ix.ceph_data();
    let map = data.and_then(|d| d.mon_map.as_ref());
    for class in classes {
        let name = class.metadata.name.as_deref().unwrap_or_default();
        let Some(id) = param(class, "clusterID") else {
            problems.push(format!("StorageClass {name} has no clusterID parameter"));
            continue;
        };
        let Some(entry) = entries.iter().find(|e| e.cluster_id == id) else {
            if !entries.is_empty() || problems.is_empty() {
                problems.push(format!(
                    "StorageClass {name} names clusterID {id}, which {CONFIG_KEY} does not list"
                ));
            }
            continue;
        };
        let Some(map) = map else { continue };
        let ours = entry.cluster_id == map.fsid
            || param(class, "pool")
                .is_some_and(|p| data.is_some_and(|d| d.rbd_pools.iter().any(|rp| rp.name == p)));
        if !ours {
            continue;
        }
        let wrong: Vec<&str> = entry
            .monitors
            .iter()
            .filter(|m| known_mon(m, map) == Some(false))
            .map(String::as_str)
            .collect();
        let line = format!(
            "clusterID {id} (StorageClass {name}) lists monitors [{}]; the Ceph cluster kcops reaches (fsid {}) has [{}]",
            entry.monitors.join(", "),
            map.fsid,
            map.addrs.join(", ")
        );
        if entry.monitors.is_empty() {
            problems.push(format!("clusterID {id} lists no monitors"));
            evidence.push(line);
        } else if !wrong.is_empty() {
            problems.push(format!(
                "clusterID {id} lists {} which {} not a monitor of the cluster",
                wrong.join(", "),
                if wrong.len() == 1 { "is" } else { "are" }
            ));
            evidence.push(line);
        }
    }
    problems.dedup();
}

pub(super) fn check(s: &Snapshot, ix: &Index, out: &mut Vec<Finding>) {
    let classes: Vec<&StorageClass> = s
        .storage_classes
        .iter()
        .map(|c| c.as_ref())
        .filter(|c| c.provisioner == DRIVER)
        .collect();
    if classes.is_empty() {
        return;
    }
    let mut problems: Vec<String> = Vec::new();
    let mut evidence: Vec<String> = Vec::new();
    let cm = config_map(s);
    if let Some(cm) = cm {
        config_problems(ix, &classes, cm, &mut problems, &mut evidence);
    }
    let config_wrong = !problems.is_empty();
    let users = users::check(s);
    if !config_wrong {
        evidence.clear();
    }
    if !config_wrong && users.problems.is_empty() && users.unchecked.is_empty() {
        return;
    }
    evidence.extend(users.evidence);
    let mut fixes: Vec<String> = Vec::new();
    let ns = cm
        .and_then(|c| c.metadata.namespace.as_deref())
        .or(plugin_namespace(s))
        .unwrap_or("ceph-csi")
        .to_string();
    if config_wrong {
        let map = ix.ceph_data().and_then(|d| d.mon_map.as_ref());
        let mons = map
            .map(|m| m.addrs.join("\", \""))
            .unwrap_or_else(|| "<monitor ip:port>".to_string());
        let fsid = map.map(|m| m.fsid.as_str()).unwrap_or("<clusterID>");
        fixes.push(format!(
            "Edit the ConfigMap: `kubectl -n {ns} edit configmap {CONFIG_MAP}` so that {CONFIG_KEY} has one entry per clusterID the classes use, with that cluster's monitors, e.g. [{{\"clusterID\": \"{fsid}\", \"monitors\": [\"{mons}\"]}}] (`ceph mon dump` lists them; `ceph fsid` gives the usual clusterID). ceph-csi reads the file on every call and the kubelet updates the mounted copy within about a minute, so no restart is needed. A StorageClass's parameters cannot be changed: to use another clusterID, create a new class."
        ));
    }
    fixes.extend(users.fixes);
    problems.extend(users.problems.iter().cloned());
    let broken = !problems.is_empty();
    problems.extend(users.unchecked);
    evidence.extend(problems.iter().map(|p| format!("problem: {p}")));
    let (subject, object) = match (&users.secret, config_wrong) {
        (Some((sns, name)), false) => (
            ObjRef::namespaced("Secret", sns, name),
            format!("Secret {sns}/{name}"),
        ),
        _ => (
            ObjRef::namespaced("ConfigMap", &ns, CONFIG_MAP),
            format!("ConfigMap {ns}/{CONFIG_MAP}"),
        ),
    };
    let explanation = if broken {
        format!(
            "ceph-csi reaches Ceph with the monitors its ConfigMap {ns}/{CONFIG_MAP} lists for a StorageClass's clusterID and the user and key of the Secrets the class names, and {}. Until that is fixed, creating, staging and resizing volumes of these classes fail (the calls time out, say the cluster is unknown, or are refused); volumes already mounted keep working.",
            problems.join("; ")
        )
    } else {
        format!(
            "ceph-csi's Ceph user could not be checked: {}. Nothing is known to be wrong, but a wrong key or too few caps would make creating and staging volumes fail.",
            problems.join("; ")
        )
    };
    out.push(Finding {
        id: "csi.config-mismatch",
        severity: if broken {
            Severity::Critical
        } else {
            Severity::Warning
        },
        subject: Some(subject),
        object,
        namespace: Some(ns),
        node: None,
        evidence,
        explanation,
        fix: fixes.join(" "),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monitors_compare_by_ip_and_port() {
        let map = MonMap {
            fsid: "f".into(),
            addrs: vec!["10.0.0.1:3300".into(), "10.0.0.1:6789".into()],
        };
        assert_eq!(known_mon("10.0.0.1:6789", &map), Some(true));
        assert_eq!(known_mon("v1:10.0.0.1:6789", &map), Some(true));
        assert_eq!(known_mon("10.0.0.1", &map), Some(true));
        assert_eq!(known_mon("10.0.0.9:6789", &map), Some(false));
        assert_eq!(known_mon("10.0.0.1:6790", &map), Some(false));
        assert_eq!(known_mon("mon-a.example:6789", &map), None);
    }
}
