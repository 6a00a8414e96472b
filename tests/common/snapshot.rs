//! A [`Snapshot`] listed straight from a lab with kube-rs `Api::list`, the way
//! `kcops check` builds one (each kind listed once), and waiting for a settled set of
//! findings.

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{
    ConfigMap, Event, Namespace, Node, PersistentVolume, PersistentVolumeClaim, Pod,
};
use k8s_openapi::api::storage::v1::StorageClass;
use kcops::diagnose::{Finding, diagnose};
use kcops::model::snapshot::{Snapshot, SourceStatus};
use kube::api::{Api, ListParams};
use serde::de::DeserializeOwned;

async fn list<K>(client: &kube::Client) -> Vec<Arc<K>>
where
    K: kube::Resource + Clone + DeserializeOwned + Debug,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::all(client.clone());
    match api.list(&ListParams::default()).await {
        Ok(list) => list.items.into_iter().map(Arc::new).collect(),
        Err(e) => panic!("cannot list {}: {e}", K::plural(&K::DynamicType::default())),
    }
}

/// Every kind the console watches, listed once; `now` is taken after the lists.
pub async fn snapshot(client: &kube::Client) -> Snapshot {
    let mut s = Snapshot {
        nodes: list::<Node>(client).await,
        pods: list::<Pod>(client).await,
        pvs: list::<PersistentVolume>(client).await,
        pvcs: list::<PersistentVolumeClaim>(client).await,
        storage_classes: list::<StorageClass>(client).await,
        statefulsets: list::<StatefulSet>(client).await,
        daemonsets: list::<DaemonSet>(client).await,
        deployments: list::<Deployment>(client).await,
        events: list::<Event>(client).await,
        namespaces: list::<Namespace>(client).await,
        configmaps: list::<ConfigMap>(client).await,
        ..Default::default()
    };
    s.now = jiff::Timestamp::now();
    s.sources = [
        "nodes",
        "pods",
        "persistentvolumes",
        "persistentvolumeclaims",
        "storageclasses",
        "statefulsets",
        "daemonsets",
        "deployments",
        "events",
        "namespaces",
        "configmaps",
    ]
    .into_iter()
    .map(|kind| SourceStatus {
        kind,
        synced: true,
        last_success: Some(s.now),
        last_error: None,
    })
    .collect();
    s.sort();
    s
}

/// The distinct ids of the findings, sorted.
pub fn id_set(findings: &[Finding]) -> Vec<&'static str> {
    findings
        .iter()
        .map(|f| f.id)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// How long the expected set must hold, across polls, to count as settled.
const STABLE: Duration = Duration::from_secs(6);

/// Polls the lab until the set of finding ids is exactly `want` and has stayed so for
/// a few seconds, then returns the last snapshot and its findings. Panics with the
/// last findings when that does not happen within `timeout`.
pub async fn wait_for_ids(
    client: &kube::Client,
    want: &[&str],
    timeout: Duration,
) -> (Snapshot, Vec<Finding>) {
    let mut want: Vec<&str> = want.to_vec();
    want.sort_unstable();
    want.dedup();
    let deadline = Instant::now() + timeout;
    let mut since: Option<Instant> = None;
    loop {
        let s = snapshot(client).await;
        let findings = diagnose(&s);
        if id_set(&findings) == want {
            let first = *since.get_or_insert_with(Instant::now);
            if first.elapsed() >= STABLE {
                return (s, findings);
            }
        } else {
            since = None;
        }
        if Instant::now() > deadline {
            panic!(
                "timed out after {timeout:?} waiting for finding ids {want:?}; last findings:\n{}",
                kcops::check::render_text(&findings)
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
