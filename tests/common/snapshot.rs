//! A [`Snapshot`] listed straight from a lab with kube-rs `Api::list`, the way
//! `kcops check` builds one (each kind listed once), optionally with a lab node's host
//! report as the console on that node would probe it, and waiting for a settled set of
//! findings.

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{
    ConfigMap, Event, Namespace, Node, PersistentVolume, PersistentVolumeClaim,
};
use k8s_openapi::api::storage::v1::{StorageClass, VolumeAttachment};
use kcops::diagnose::{Finding, Thresholds, diagnose, diagnose_with};
use kcops::host::probe::HostProbe;
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

/// calico's resources (empty when the lab has no calico CRDs).
async fn calico(
    client: &kube::Client,
    ar: kube::api::ApiResource,
) -> Vec<Arc<kube::api::DynamicObject>> {
    match kcops::kube::calico::list_optional(client.clone(), &ar).await {
        Ok(items) => items,
        Err(e) => panic!("cannot list {}: {e}", ar.plural),
    }
}

/// Every kind the console watches, listed once; `now` is taken after the lists.
pub async fn snapshot(client: &kube::Client) -> Snapshot {
    let mut s = Snapshot {
        nodes: list::<Node>(client).await.into(),
        pods: list::<kcops::model::pod::ApiPod>(client)
            .await
            .into_iter()
            .map(|p| Arc::new(kcops::model::pod::Pod::from(p.as_ref().clone())))
            .collect::<Vec<_>>()
            .into(),
        pvs: list::<PersistentVolume>(client).await,
        pvcs: list::<PersistentVolumeClaim>(client).await,
        storage_classes: list::<StorageClass>(client).await,
        volume_attachments: list::<VolumeAttachment>(client).await,
        statefulsets: list::<StatefulSet>(client).await,
        daemonsets: list::<DaemonSet>(client).await,
        deployments: list::<Deployment>(client).await,
        events: list::<Event>(client).await,
        namespaces: list::<Namespace>(client).await,
        configmaps: list::<ConfigMap>(client).await,
        ip_pools: calico(client, kcops::kube::calico::ip_pools()).await,
        block_affinities: calico(client, kcops::kube::calico::block_affinities()).await,
        ..Default::default()
    };
    s.now = jiff::Timestamp::now();
    s.sources = [
        "nodes",
        "pods",
        "persistentvolumes",
        "persistentvolumeclaims",
        "storageclasses",
        "volumeattachments",
        "statefulsets",
        "daemonsets",
        "deployments",
        "events",
        "namespaces",
        "configmaps",
        "ippools.crd.projectcalico.org",
        "blockaffinities.crd.projectcalico.org",
    ]
    .into_iter()
    .map(|kind| SourceStatus {
        kind,
        synced: true,
        last_success: Some(s.now),
        last_error: None,
        expected: None,
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

/// The labs of these tests run with `--speed 4` (see [`super::Lab::start`]): they
/// converge four times faster than a real cluster, so they are judged by thresholds
/// four times shorter as well as by the real ones.
pub const SPEED: f64 = 4.0;

/// Long enough for every scaled threshold to pass (the longest is 30 s): a set that
/// holds this long is what the cluster settled into, not a moment of its start.
pub const SETTLED: Duration = Duration::from_secs(40);

/// Polls the lab until the set of finding ids is exactly `want`, under both the
/// scaled and the real thresholds, and has stayed so for `stable`; returns the last
/// snapshot and its findings (real thresholds). Panics with the last findings when
/// that does not happen within `timeout`.
pub async fn wait_for_ids(
    client: &kube::Client,
    want: &[&str],
    stable: Duration,
    timeout: Duration,
) -> (Snapshot, Vec<Finding>) {
    wait_for_ids_on(client, None, want, stable, timeout).await
}

/// [`wait_for_ids`] with the host report `host` probes put in each snapshot, as the
/// console running on that host would see the cluster.
pub async fn wait_for_ids_on(
    client: &kube::Client,
    host: Option<&HostProbe>,
    want: &[&str],
    stable: Duration,
    timeout: Duration,
) -> (Snapshot, Vec<Finding>) {
    let mut want: Vec<&str> = want.to_vec();
    want.sort_unstable();
    want.dedup();
    let fast = Thresholds::DEFAULT.scaled(SPEED);
    let deadline = Instant::now() + timeout;
    let mut since: Option<Instant> = None;
    loop {
        let mut s = snapshot(client).await;
        if let Some(probe) = host {
            let probe = probe.clone();
            let report = tokio::task::spawn_blocking(move || probe.run())
                .await
                .unwrap_or_else(|e| panic!("host probe: {e}"));
            s.host = Some(Arc::new(report));
        }
        let findings = diagnose(&s);
        let scaled = diagnose_with(&s, &fast);
        if id_set(&findings) == want && id_set(&scaled) == want {
            let first = *since.get_or_insert_with(Instant::now);
            if first.elapsed() >= stable {
                return (s, findings);
            }
        } else {
            since = None;
        }
        if Instant::now() > deadline {
            panic!(
                "timed out after {timeout:?} waiting for finding ids {want:?} to hold for {stable:?}; last findings:\n{}\nwith thresholds scaled by {SPEED}:\n{}",
                kcops::check::render_text(&findings),
                kcops::check::render_text(&scaled)
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
