//! The live reads of the lock-removal wizard: the pod, claim, volume and image behind
//! the target, the pods using the volume and the stuck pod's events (API server); the
//! image's lockers and watchers, our own addresses and right to fence (Ceph); the
//! nodes, and for a ceph-csi volume its VolumeAttachments. Nothing is judged here and
//! nothing is changed.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, Node, PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::VolumeAttachment;
use kube::Client;
use kube::api::{Api, ListParams};

use super::{Attachment, CsiVolume, Facts, Fencing, Found, Live, NodeFacts, UnlockTarget, Volume};
use crate::ceph::source::fence_permission;
use crate::ceph::{CephClient, ConnectionState};
use crate::model::pod::{ApiPod, Pod};
use crate::model::rows::rbd_image;
use crate::ops::steps::kube_wait::pod_uses_claim;
use crate::ops::wizard::error::{System, WizardError};

/// Bound on each API request of the assessment.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// Event texts that say a pod waits for a volume held elsewhere.
const LOCK_EVENT_SIGNS: [&str; 3] = [
    "is locked by other nodes",
    "is still being used",
    "Multi-Attach",
];

/// Reads what [`super::assess`] needs about `target`. Never fails: a failed read is
/// recorded in the facts (and stops the reads that depend on it), so the operator
/// always gets an answer.
pub async fn gather(kube: &Client, ceph: &CephClient, target: &UnlockTarget) -> Facts {
    let found = match resolve(kube, target).await {
        Ok(r) => {
            let lock_events = match &r.stuck {
                Some(pod) => lock_events(kube, pod).await,
                None => Vec::new(),
            };
            let csi = r.pv.as_ref().and_then(csi_volume);
            let live = live(kube, ceph, &r.pool, &r.image, csi.as_ref()).await;
            Ok(Found {
                pool: r.pool,
                image: r.image,
                volume: r.pv.as_ref().map(|pv| Volume {
                    name: name_of(pv),
                    phase: pv
                        .status
                        .as_ref()
                        .and_then(|s| s.phase.clone())
                        .unwrap_or_default(),
                }),
                claim: r.pvc,
                stuck: r.stuck,
                users: r.users,
                lock_events,
                live,
                csi,
            })
        }
        Err(e) => Err(e),
    };
    Facts {
        subject: target.subject(),
        found,
    }
}

/// The ceph-csi side of a PersistentVolume, if it is one.
fn csi_volume(pv: &PersistentVolume) -> Option<CsiVolume> {
    let csi = pv.spec.as_ref()?.csi.as_ref()?;
    (csi.driver == "rbd.csi.ceph.com").then(|| CsiVolume {
        pv: name_of(pv),
        driver: csi.driver.clone(),
        handle: csi.volume_handle.clone(),
    })
}

/// The VolumeAttachments of volume `pv`.
async fn attachments(client: &Client, pv: &str) -> Result<Vec<Attachment>, WizardError> {
    let api: Api<VolumeAttachment> = Api::all(client.clone());
    let list = call("list volumeattachments", api.list(&ListParams::default())).await?;
    let now = jiff::Timestamp::now();
    Ok(list
        .items
        .into_iter()
        .filter(|va| va.spec.source.persistent_volume_name.as_deref() == Some(pv))
        .map(|va| Attachment {
            name: name_of(&va),
            node: va.spec.node_name.clone(),
            attached: va.status.as_ref().is_some_and(|s| s.attached),
            age: va
                .metadata
                .creation_timestamp
                .as_ref()
                .and_then(|t| since(now, t.0)),
            error: va
                .status
                .as_ref()
                .and_then(|s| s.attach_error.as_ref())
                .and_then(|e| e.message.clone()),
        })
        .collect())
}

/// `now - then`, if `then` is not in the future.
fn since(now: jiff::Timestamp, then: jiff::Timestamp) -> Option<Duration> {
    let secs = now.as_second().checked_sub(then.as_second())?;
    u64::try_from(secs).ok().map(Duration::from_secs)
}

/// The image's locks, then the nodes, then our fencing rights and addresses, then (a
/// ceph-csi volume) its VolumeAttachments.
async fn live(
    kube: &Client,
    ceph: &CephClient,
    pool: &str,
    image: &str,
    csi: Option<&CsiVolume>,
) -> Result<Live, WizardError> {
    let info = ceph.image_info(pool, image).await.map_err(|e| {
        WizardError::unreachable(
            System::Ceph,
            format!("RBD image {pool}/{image}"),
            e.to_string(),
        )
    })?;
    let nodes = nodes(kube)
        .await
        .map_err(|e| WizardError::unreachable(System::Kube, "the nodes", e.to_string()))?;
    let permission = fence_permission(ceph).await;
    let own_addrs = match ceph.state() {
        ConnectionState::Connected { addrs, .. } => addrs,
        _ => Vec::new(),
    };
    let attachments = match csi {
        Some(c) => attachments(kube, &c.pv).await?,
        None => Vec::new(),
    };
    Ok(Live {
        image: info,
        nodes,
        fencing: Fencing {
            entity: ceph.entity(),
            permission,
            own_addrs,
        },
        attachments,
    })
}

async fn call<T>(
    what: &str,
    fut: impl std::future::Future<Output = kube::Result<T>>,
) -> Result<T, WizardError> {
    let why = match tokio::time::timeout(CALL_TIMEOUT, fut).await {
        Ok(Ok(v)) => return Ok(v),
        Ok(Err(kube::Error::Api(r))) => format!("{} ({})", r.message, r.code),
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!(
            "no answer from the API server within {}s",
            CALL_TIMEOUT.as_secs()
        ),
    };
    Err(WizardError::unreachable(System::Kube, what, why))
}

fn name_of<K: kube::Resource>(k: &K) -> String {
    k.meta().name.clone().unwrap_or_default()
}

fn pod_claims(pod: &Pod) -> Vec<String> {
    pod.spec
        .as_ref()
        .and_then(|s| s.volumes.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|v| v.persistent_volume_claim.as_ref())
        .map(|c| c.claim_name.clone())
        .collect()
}

/// Everything found about the target, from the API server.
#[derive(Default)]
struct Resolved {
    pool: String,
    image: String,
    pv: Option<PersistentVolume>,
    pvc: Option<(String, String)>,
    stuck: Option<Pod>,
    users: Vec<Pod>,
}

/// The PV's claim, if the claim names the PV back (a claimRef alone is no binding).
async fn bound_claim(client: &Client, pv: &PersistentVolume) -> Option<(String, String)> {
    let r = pv.spec.as_ref()?.claim_ref.as_ref()?;
    let (ns, name) = (r.namespace.clone()?, r.name.clone()?);
    let api: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &ns);
    let pvc = call("get claim", api.get_opt(&name)).await.ok()??;
    (pvc.spec.as_ref()?.volume_name.as_deref() == pv.metadata.name.as_deref()).then_some((ns, name))
}

async fn claim_volume(
    client: &Client,
    namespace: &str,
    claim: &str,
) -> Result<Option<PersistentVolume>, WizardError> {
    let api: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), namespace);
    let Some(pvc) = call(
        &format!("get claim {namespace}/{claim}"),
        api.get_opt(claim),
    )
    .await?
    else {
        return Err(WizardError::not_found(format!("claim {namespace}/{claim}")));
    };
    let Some(pv_name) = pvc.spec.and_then(|s| s.volume_name) else {
        return Ok(None);
    };
    let pvs: Api<PersistentVolume> = Api::all(client.clone());
    call(&format!("get volume {pv_name}"), pvs.get_opt(&pv_name)).await
}

/// Finds pod, claim, volume and image from whichever of them the wizard was opened on.
async fn resolve(client: &Client, target: &UnlockTarget) -> Result<Resolved, WizardError> {
    let mut found = Resolved::default();
    let target = match target {
        UnlockTarget::Spec(s) => {
            let (a, b) = s.split_once('/').unwrap_or(("", s));
            let pods: Api<ApiPod> = Api::namespaced(client.clone(), a);
            match call(&format!("get pod {s}"), pods.get_opt(b)).await {
                Ok(Some(_)) => UnlockTarget::Pod {
                    namespace: a.into(),
                    name: b.into(),
                },
                _ => UnlockTarget::Image {
                    pool: a.into(),
                    image: b.into(),
                },
            }
        }
        t => t.clone(),
    };
    match &target {
        UnlockTarget::Pod { namespace, name } => {
            let pods: Api<ApiPod> = Api::namespaced(client.clone(), namespace);
            let Some(pod) =
                call(&format!("get pod {namespace}/{name}"), pods.get_opt(name)).await?
            else {
                return Err(WizardError::not_found(format!("pod {namespace}/{name}")));
            };
            let pod = Pod::from(pod);
            for claim in pod_claims(&pod) {
                if let Some(pv) = claim_volume(client, namespace, &claim).await?
                    && let Some((pool, image)) = rbd_image(&pv)
                {
                    found.pool = pool.into();
                    found.image = image.into();
                    found.pv = Some(pv);
                    found.pvc = Some((namespace.clone(), claim));
                    break;
                }
            }
            if found.pv.is_none() {
                return Err(WizardError::not_applicable(
                    format!("pod {namespace}/{name}"),
                    "mounts no bound RBD volume",
                ));
            }
            found.stuck = Some(pod);
        }
        UnlockTarget::Claim { namespace, name } => {
            let claim = format!("claim {namespace}/{name}");
            let Some(pv) = claim_volume(client, namespace, name).await? else {
                return Err(WizardError::not_applicable(
                    claim,
                    "is not bound to a volume",
                ));
            };
            let Some((pool, image)) = rbd_image(&pv) else {
                return Err(WizardError::not_applicable(
                    claim,
                    "is not on an RBD volume",
                ));
            };
            found.pool = pool.into();
            found.image = image.into();
            found.pv = Some(pv);
            found.pvc = Some((namespace.clone(), name.clone()));
        }
        UnlockTarget::Volume { name } => {
            let pvs: Api<PersistentVolume> = Api::all(client.clone());
            let Some(pv) = call(&format!("get volume {name}"), pvs.get_opt(name)).await? else {
                return Err(WizardError::not_found(format!("volume {name}")));
            };
            let Some((pool, image)) = rbd_image(&pv) else {
                return Err(WizardError::not_applicable(
                    format!("volume {name}"),
                    "is not an RBD volume",
                ));
            };
            found.pool = pool.into();
            found.image = image.into();
            found.pvc = bound_claim(client, &pv).await;
            found.pv = Some(pv);
        }
        UnlockTarget::Image { pool, image } => {
            found.pool = pool.clone();
            found.image = image.clone();
            let pvs: Api<PersistentVolume> = Api::all(client.clone());
            let list = call("list volumes", pvs.list(&ListParams::default())).await?;
            if let Some(pv) = list
                .items
                .into_iter()
                .find(|pv| rbd_image(pv) == Some((pool.as_str(), image.as_str())))
            {
                found.pvc = bound_claim(client, &pv).await;
                found.pv = Some(pv);
            }
        }
        UnlockTarget::Spec(s) => {
            return Err(WizardError::Invalid {
                input: s.clone(),
                expected: "a pod or an RBD image".into(),
                why: "neither was found".into(),
            });
        }
    }
    if let Some((ns, claim)) = &found.pvc {
        let pods: Api<ApiPod> = Api::namespaced(client.clone(), ns);
        let list = call(
            &format!("list pods in {ns}"),
            pods.list(&ListParams::default()),
        )
        .await?;
        found.users = list
            .items
            .into_iter()
            .map(Pod::from)
            .filter(|p| pod_uses_claim(p, claim))
            .collect();
        if found.stuck.is_none() {
            found.stuck = super::assess::waiting_pod(&found.users).cloned();
        }
    }
    Ok(found)
}

/// Node names with their addresses and readiness.
async fn nodes(client: &Client) -> Result<Vec<NodeFacts>, WizardError> {
    let api: Api<Node> = Api::all(client.clone());
    let list = call("list nodes", api.list(&ListParams::default())).await?;
    let now = jiff::Timestamp::now();
    Ok(list
        .items
        .iter()
        .map(|n| {
            let status = n.status.as_ref();
            let ips = status
                .and_then(|s| s.addresses.as_ref())
                .into_iter()
                .flatten()
                .filter(|a| a.type_ == "InternalIP" || a.type_ == "ExternalIP")
                .filter_map(|a| a.address.parse().ok())
                .collect();
            let ready_cond = status
                .and_then(|s| s.conditions.as_ref())
                .into_iter()
                .flatten()
                .find(|c| c.type_ == "Ready");
            let ready = ready_cond.is_some_and(|c| c.status == "True");
            let not_ready_for = ready_cond
                .filter(|_| !ready)
                .and_then(|c| c.last_transition_time.as_ref())
                .and_then(|t| since(now, t.0));
            let out_of_service = n
                .spec
                .as_ref()
                .and_then(|s| s.taints.as_ref())
                .into_iter()
                .flatten()
                .any(|t| t.key == crate::ops::steps::csi::TAINT_KEY);
            NodeFacts {
                name: name_of(n),
                ips,
                ready,
                not_ready_for,
                out_of_service,
            }
        })
        .collect())
}

/// The pod's events that say it waits for a volume held elsewhere (newest last).
async fn lock_events(client: &Client, pod: &Pod) -> Vec<String> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
    let api: Api<Event> = Api::namespaced(client.clone(), ns);
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let params = ListParams::default().fields(&format!("involvedObject.name={name}"));
    let Ok(list) = call("list events", api.list(&params)).await else {
        return Vec::new();
    };
    let mut out: Vec<String> = list
        .items
        .into_iter()
        .filter_map(|e| {
            let msg = e.message?;
            LOCK_EVENT_SIGNS
                .iter()
                .any(|s| msg.contains(s))
                .then(|| format!("{}: {msg}", e.reason.unwrap_or_default()))
        })
        .collect();
    out.dedup();
    out
}
