//! An ensemble as a member step finds it right before it acts: the StatefulSet's
//! pods from the API server, recognised as the member poll recognises them, and what
//! the members say through the poll's own source for the kind. etcd's and
//! ZooKeeper's steps share it, so both re-check on the same live list and refuse
//! with the same quorum rule.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::StatefulSet;
use kube::Client;
use kube::api::{Api, ListParams};

use super::StepError;
use crate::members::etcd::EtcdSource;
use crate::members::recognise::{Target, recognise};
use crate::members::source::MemberSource;
use crate::members::zookeeper::ZooKeeperSource;
use crate::model::members::{EnsembleKind, EnsemblePoll, Owner, PolledMember};
use crate::model::pod::{ApiPod, Pod};
use crate::ops::ensemble::{Counted, EnsembleRef, MemberChange, check_step};
use crate::ops::op::human_duration;

/// How often a step waiting on the ensemble looks again.
pub(crate) const RETRY: Duration = Duration::from_millis(500);

/// The ensemble as it is now: its pods and what its members say.
pub(crate) struct Live {
    pub(crate) target: Target,
    pub(crate) poll: EnsemblePoll,
}

impl Live {
    /// The member named `name`; a member added but not started yet has no name, so
    /// it is also found by its peer URL's host (`etcd-3` or `etcd-3.<service>...`).
    pub(crate) fn member(&self, name: &str) -> Option<&PolledMember> {
        self.poll
            .members
            .iter()
            .find(|m| m.name == name)
            .or_else(|| {
                self.poll.members.iter().find(|m| {
                    m.name.is_empty()
                        && m.peer_urls.iter().any(|u| {
                            let host = crate::members::matching::url_host(u);
                            host == name || host.starts_with(&format!("{name}."))
                        })
                })
            })
    }

    /// The leader's id, as the first member that knows one says.
    pub(crate) fn leader(&self) -> Option<u64> {
        self.poll
            .members
            .iter()
            .filter_map(|m| m.status.as_ref())
            .map(|s| s.leader)
            .find(|l| *l != 0)
    }

    pub(crate) fn counted(&self) -> Vec<Counted> {
        crate::ops::ensemble::counted(&self.poll.members)
    }

    pub(crate) fn summary(&self) -> String {
        let mut parts: Vec<String> = self
            .poll
            .members
            .iter()
            .map(|m| {
                let learner = if m.learner { " learner" } else { "" };
                format!("{}{learner} {}", m.name, m.health.word())
            })
            .collect();
        parts.sort();
        parts.join(", ")
    }
}

fn ordinal_of(name: &str, sts: &str) -> Option<i32> {
    name.strip_prefix(sts)?.strip_prefix('-')?.parse().ok()
}

/// The StatefulSet and its pods (by its selector's labels, then by name:
/// `<sts>-<ordinal>`), in ordinal order.
async fn statefulset(
    client: &Client,
    e: &EnsembleRef,
) -> Result<(StatefulSet, Vec<Arc<Pod>>), StepError> {
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), &e.namespace);
    let sts = super::kube::read(
        &format!("get StatefulSet {}/{}", e.namespace, e.statefulset),
        sets.get(&e.statefulset),
    )
    .await?;
    let labels: Vec<String> = sts
        .spec
        .as_ref()
        .and_then(|s| s.selector.match_labels.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let api: Api<ApiPod> = Api::namespaced(client.clone(), &e.namespace);
    let list = super::kube::read(
        &format!("list pods in {}", e.namespace),
        api.list(&ListParams::default().labels(&labels.join(","))),
    )
    .await?;
    let mut out: Vec<(i32, Arc<Pod>)> = list
        .items
        .into_iter()
        .filter_map(|p| {
            let o = ordinal_of(p.metadata.name.as_deref()?, &e.statefulset)?;
            Some((o, Arc::new(Pod::from(p))))
        })
        .collect();
    out.sort_by_key(|(o, _)| *o);
    Ok((sts, out.into_iter().map(|(_, p)| p).collect()))
}

/// The poll's source for `kind`.
fn source(e: &EnsembleRef) -> Box<dyn MemberSource> {
    let settings = e.poll_settings();
    match e.kind {
        EnsembleKind::Etcd => Box::new(EtcdSource { settings }),
        EnsembleKind::ZooKeeper => Box::new(ZooKeeperSource { settings }),
    }
}

/// kubeadm's stacked etcd members' pods (`component=etcd` in the namespace), by name.
async fn static_pods(client: &Client, e: &EnsembleRef) -> Result<Vec<Arc<Pod>>, StepError> {
    let api: Api<ApiPod> = Api::namespaced(client.clone(), &e.namespace);
    let list = super::kube::read(
        &format!("list the etcd static pods in {}", e.namespace),
        api.list(&ListParams::default().labels("component=etcd")),
    )
    .await?;
    let mut pods: Vec<Arc<Pod>> = list
        .items
        .into_iter()
        .map(|p| Arc::new(Pod::from(p)))
        .collect();
    pods.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    Ok(pods)
}

/// Reads the ensemble now; a member list that cannot be read fails the step.
pub(crate) async fn live(client: &Client, e: &EnsembleRef) -> Result<Live, StepError> {
    if e.static_pods {
        let target = Target {
            kind: e.kind,
            owner: Owner::StaticPods {
                namespace: e.namespace.clone(),
            },
            replicas: None,
            servers: None,
            pods: static_pods(client, e).await?,
            client_port: e.client_port,
            tls: e.tls.clone(),
            by_annotation: false,
            claim_templates: Vec::new(),
        };
        return polled(e, target).await;
    }
    let (sts, pods) = statefulset(client, e).await?;
    let sts = Arc::new(sts);
    let recognised = recognise([&sts], [], |_, name| {
        pods.iter()
            .find(|p| p.metadata.name.as_deref() == Some(name))
            .cloned()
    })
    .into_iter()
    .next();
    // The ref's kind, port and TLS are what the plan was made for.
    let target = Target {
        kind: e.kind,
        owner: Owner::StatefulSet {
            namespace: e.namespace.clone(),
            name: e.statefulset.clone(),
        },
        replicas: sts.spec.as_ref().and_then(|s| s.replicas),
        servers: recognised.as_ref().and_then(|t| t.servers),
        pods,
        client_port: e.client_port,
        tls: e.tls.clone(),
        by_annotation: false,
        claim_templates: Vec::new(),
    };
    polled(e, target).await
}

/// What the target's members say now; a member list that cannot be read is an error.
async fn polled(e: &EnsembleRef, target: Target) -> Result<Live, StepError> {
    let poll = source(e).poll(&target).await;
    if let Some(err) = &poll.error {
        return Err(StepError::Failed(format!(
            "cannot read the member list: {err}"
        )));
    }
    Ok(Live { target, poll })
}

/// Reads the live state until `ok` holds (or `timeout`: the last state is an error).
pub(crate) async fn live_until(
    client: &Client,
    e: &EnsembleRef,
    timeout: Duration,
    ok: impl Fn(&Live) -> bool,
) -> Result<Live, StepError> {
    let start = Instant::now();
    loop {
        let l = live(client, e).await;
        match l {
            Ok(l) if ok(&l) => return Ok(l),
            Ok(l) if start.elapsed() > timeout => {
                return Err(StepError::Failed(format!(
                    "not reached within {} (members now: {})",
                    human_duration(timeout),
                    l.summary()
                )));
            }
            Err(err) if start.elapsed() > timeout => return Err(err),
            _ => tokio::time::sleep(RETRY).await,
        }
    }
}

/// The quorum rule on the live list: a change that would leave fewer healthy voters
/// than a quorum is refused before anything is sent.
pub(crate) fn refuse_if_unsafe(live: &Live, change: &MemberChange) -> Result<(), StepError> {
    check_step(&live.counted(), change).map_err(|e| {
        StepError::Failed(format!(
            "refused, nothing changed: {e} (members now: {})",
            live.summary()
        ))
    })
}
