//! etcd member steps through `etcd-client`: add (learner or voter), promote, remove,
//! move the leadership, save a snapshot, verify. Each step first reads the live state
//! (the StatefulSet's pods from the API server, the member list and every member's
//! health through the member poll's own code), says "already done" when it finds the
//! change made, and refuses any removal or add that would leave fewer healthy voters
//! than a quorum ([`crate::ops::ensemble::check_step`] on the live list).

use std::time::{Duration, Instant};

use etcd_client::{Client as Etcd, MemberAddOptions};
use kube::Client;
use kube::api::Api;

use super::ensemble_live::{Live, RETRY, live, live_until, refuse_if_unsafe};
use super::{Applied, StepError};
use crate::members::etcd::EtcdSource;
use crate::members::source::pod_addresses;
use crate::model::members::PolledMember;
use crate::model::pod::ApiPod;
use crate::ops::ensemble::{EnsembleRef, MemberChange, MemberOp, PeerUrl};
use crate::ops::op::human_duration;

/// How long an add waits for the new pod to get an IP (its peer URL).
const POD_IP_TIMEOUT: Duration = Duration::from_secs(60);

/// The poll's etcd source (its timeouts; certificates under the ensemble's host root).
fn source(e: &EnsembleRef) -> EtcdSource {
    EtcdSource {
        settings: e.poll_settings(),
    }
}

/// The poll's default timeouts, for calls on a client already connected.
fn timeouts() -> EtcdSource {
    EtcdSource::default()
}

/// A client of the first healthy member (the leader first when `leader` is asked).
async fn client_of(e: &EnsembleRef, live: &Live, prefer_leader: bool) -> Result<Etcd, StepError> {
    let leader = live.leader();
    let mut order: Vec<&PolledMember> = live
        .poll
        .members
        .iter()
        .filter(|m| m.health.is_healthy())
        .collect();
    if prefer_leader {
        order.sort_by_key(|m| Some(m.id) != leader);
    }
    let mut failures = Vec::new();
    for m in order
        .iter()
        .filter_map(|m| m.endpoint.as_deref())
        .map(|u| u.split_once("://").map_or(u, |(_, r)| r))
        .chain(pod_addresses(&live.target).iter().map(String::as_str))
    {
        match source(e).connect(m, &live.target.tls).await {
            Ok(c) => return Ok(c),
            Err(e) => failures.push(format!("{m}: {e}")),
        }
    }
    Err(StepError::Failed(format!(
        "no member answered: {}",
        failures.join("; ")
    )))
}

async fn call<T>(
    what: &str,
    f: impl Future<Output = Result<T, etcd_client::Error>>,
) -> Result<T, StepError> {
    timeouts()
        .bounded(f)
        .await
        .map_err(|e| StepError::Failed(format!("{what}: {e}")))
}

/// How long a membership change waits out etcd's "unhealthy cluster" refusal: etcd
/// refuses member add/remove until every peer has been connected for a few seconds
/// (right after a start, a restart or a leader change), a transient state.
const UNHEALTHY_PATIENCE: Duration = Duration::from_secs(30);

/// Runs a membership change, retrying while etcd refuses it as "unhealthy cluster"
/// (a refusal before anything is proposed, so a retry cannot apply it twice).
async fn change_membership<T, F, Fut>(what: &str, mut f: F) -> Result<T, StepError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, etcd_client::Error>>,
{
    let started = Instant::now();
    loop {
        match call(what, f()).await {
            Err(e)
                if e.text().contains("unhealthy cluster")
                    && started.elapsed() < UNHEALTHY_PATIENCE =>
            {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) if e.text().contains("unhealthy cluster") => {
                return Err(StepError::Failed(format!(
                    "{}; etcd still refused after {} (a peer is disconnected or just restarted: check `etcdctl endpoint health --cluster`)",
                    e.text(),
                    human_duration(UNHEALTHY_PATIENCE)
                )));
            }
            other => return other,
        }
    }
}

/// Runs one member step against the live ensemble.
pub(crate) async fn perform(client: &Client, op: &MemberOp) -> Result<Applied, StepError> {
    let e = &op.ensemble;
    match &op.change {
        MemberChange::AddLearner { name, peer } | MemberChange::AddVoter { name, peer } => {
            let learner = matches!(op.change, MemberChange::AddLearner { .. });
            add(client, e, name, peer, learner, &op.change).await
        }
        MemberChange::Promote { name, timeout } => promote(client, e, name, *timeout).await,
        MemberChange::Remove { name, id } => remove(client, e, name, *id, &op.change).await,
        MemberChange::MoveLeaderAway { name, avoid } => move_leader(client, e, name, avoid).await,
        MemberChange::Snapshot { path } => snapshot(client, e, path).await,
        MemberChange::Verify { voters, timeout } => verify(client, e, *voters, *timeout).await,
        MemberChange::RestartNext { .. } => Err(StepError::Failed(
            "etcd members are restarted by their StatefulSet's rolling update, not by this step (a plan for ZooKeeper?)".to_string(),
        )),
    }
}

async fn peer_url(client: &Client, e: &EnsembleRef, peer: &PeerUrl) -> Result<String, StepError> {
    let (pod, scheme, port) = match peer {
        PeerUrl::Fixed(u) => return Ok(u.clone()),
        PeerUrl::OfPod { pod, scheme, port } => (pod, scheme, port),
    };
    let api: Api<ApiPod> = Api::namespaced(client.clone(), &e.namespace);
    let start = Instant::now();
    loop {
        let p = super::kube::read(&format!("get pod {pod}"), api.get_opt(pod)).await?;
        if let Some(ip) = p.and_then(|p| p.status.and_then(|s| s.pod_ip)) {
            return Ok(format!("{scheme}://{ip}:{port}"));
        }
        if start.elapsed() > POD_IP_TIMEOUT {
            return Err(StepError::Failed(format!(
                "pod {}/{pod} got no IP within {}",
                e.namespace,
                human_duration(POD_IP_TIMEOUT)
            )));
        }
        tokio::time::sleep(RETRY).await;
    }
}

async fn add(
    client: &Client,
    e: &EnsembleRef,
    name: &str,
    peer: &PeerUrl,
    learner: bool,
    change: &MemberChange,
) -> Result<Applied, StepError> {
    let url = peer_url(client, e, peer).await?;
    let live = live(client, e).await?;
    if let Some(m) = live
        .poll
        .members
        .iter()
        .find(|m| m.name == name || m.peer_urls.contains(&url))
    {
        return Ok(Applied::AlreadyDone(format!(
            "{} ({:x}) is already a member{}",
            name,
            m.id,
            if m.learner { " (learner)" } else { "" }
        )));
    }
    refuse_if_unsafe(&live, change)?;
    let mut c = client_of(e, &live, false).await?;
    let opts = learner.then(|| MemberAddOptions::new().with_is_learner());
    let resp = change_membership("member add", || {
        let (mut c, url, opts) = (c.clone(), url.clone(), opts.clone());
        async move { c.member_add([url], opts).await }
    })
    .await?;
    let id = resp.member().map(|m| m.id()).unwrap_or_default();
    let listed = call("member list", c.member_list()).await?;
    if listed.members().iter().any(|m| m.id() == id) {
        Ok(Applied::Done(format!(
            "{name} added as {} {id:x} at {url}; {} listed",
            if learner { "learner" } else { "voter" },
            crate::model::count::count(listed.members().len(), "member", "members")
        )))
    } else {
        Err(StepError::Failed(format!(
            "the add of {name} was accepted but {id:x} is not in the member list"
        )))
    }
}

async fn promote(
    client: &Client,
    e: &EnsembleRef,
    name: &str,
    timeout: Duration,
) -> Result<Applied, StepError> {
    let start = Instant::now();
    loop {
        let live = live(client, e).await?;
        let Some(m) = live.member(name) else {
            return Err(StepError::Failed(format!(
                "{name} is not a member (members now: {})",
                live.summary()
            )));
        };
        if !m.learner {
            return Ok(Applied::AlreadyDone(format!("{name} is already a voter")));
        }
        let id = m.id;
        let mut c = client_of(e, &live, true).await?;
        let last = match timeouts().bounded(c.member_promote(id)).await {
            Ok(_) => {
                let listed = call("member list", c.member_list()).await?;
                let voter = listed
                    .members()
                    .iter()
                    .any(|m| m.id() == id && !m.is_learner());
                return if voter {
                    Ok(Applied::Done(format!(
                        "{name} ({id:x}) is a voter; {}",
                        crate::model::count::count(listed.members().len(), "member", "members")
                    )))
                } else {
                    Err(StepError::Failed(format!(
                        "the promote of {name} was accepted but it is still a learner"
                    )))
                };
            }
            // "can only promote a learner member which is in sync with leader"
            Err(why) => why,
        };
        if start.elapsed() > timeout {
            return Err(StepError::Failed(format!(
                "learner {name} was not promoted within {}: {last}",
                human_duration(timeout)
            )));
        }
        tokio::time::sleep(RETRY).await;
    }
}

async fn remove(
    client: &Client,
    e: &EnsembleRef,
    name: &str,
    id: u64,
    change: &MemberChange,
) -> Result<Applied, StepError> {
    let live = live(client, e).await?;
    let Some(m) = live
        .poll
        .members
        .iter()
        .find(|m| m.id == id || (!name.is_empty() && m.name == name))
    else {
        return Ok(Applied::AlreadyDone(format!(
            "{name} ({id:x}) is no longer a member (members now: {})",
            live.summary()
        )));
    };
    let id = m.id;
    refuse_if_unsafe(&live, change)?;
    let mut c = client_of(e, &live, true).await?;
    change_membership("member remove", || {
        let mut c = c.clone();
        async move { c.member_remove(id).await }
    })
    .await?;
    let listed = call("member list", c.member_list()).await?;
    if listed.members().iter().any(|m| m.id() == id) {
        return Err(StepError::Failed(format!(
            "the removal of {name} was accepted but {id:x} is still listed"
        )));
    }
    Ok(Applied::Done(format!(
        "{name} ({id:x}) removed; {} left",
        crate::model::count::count(listed.members().len(), "member", "members")
    )))
}

async fn move_leader(
    client: &Client,
    e: &EnsembleRef,
    name: &str,
    avoid: &[String],
) -> Result<Applied, StepError> {
    let live = live(client, e).await?;
    let Some(m) = live.member(name) else {
        return Ok(Applied::AlreadyDone(format!("{name} is not a member")));
    };
    if live.leader() != Some(m.id) {
        return Ok(Applied::AlreadyDone(format!("{name} does not lead")));
    }
    let candidates: Vec<&PolledMember> = live
        .poll
        .members
        .iter()
        .filter(|o| o.id != m.id && !o.learner && o.health.is_healthy())
        .collect();
    let Some(to) = candidates
        .iter()
        .find(|o| !avoid.contains(&o.name))
        .or(candidates.first())
    else {
        return Err(StepError::Failed(format!(
            "no other healthy voter to hand the leadership to (members now: {})",
            live.summary()
        )));
    };
    let (to_id, to_name) = (to.id, to.name.clone());
    // Only the leader accepts a move-leader request.
    let mut c = client_of(e, &live, true).await?;
    call("move leader", c.move_leader(to_id)).await?;
    let after = live_until(client, e, Duration::from_secs(10), |l| {
        l.leader().is_some_and(|x| x != m.id)
    })
    .await?;
    Ok(Applied::Done(format!(
        "leadership moved from {name} to {}",
        after
            .poll
            .members
            .iter()
            .find(|x| Some(x.id) == after.leader())
            .map_or(to_name, |x| x.name.clone())
    )))
}

async fn snapshot(
    client: &Client,
    e: &EnsembleRef,
    path: &std::path::Path,
) -> Result<Applied, StepError> {
    let live = live(client, e).await?;
    let mut c = client_of(e, &live, false).await?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|err| StepError::Failed(format!("cannot create {}: {err}", dir.display())))?;
    }
    let tmp = path.with_extension("part");
    let mut file = std::fs::File::create(&tmp)
        .map_err(|err| StepError::Failed(format!("cannot create {}: {err}", tmp.display())))?;
    let mut stream = call("snapshot", c.snapshot()).await?;
    let mut bytes = 0usize;
    while let Some(chunk) = call("snapshot", stream.message()).await? {
        use std::io::Write as _;
        file.write_all(chunk.blob())
            .map_err(|err| StepError::Failed(format!("cannot write {}: {err}", tmp.display())))?;
        bytes += chunk.blob().len();
    }
    file.sync_all()
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|err| StepError::Failed(format!("cannot save {}: {err}", path.display())))?;
    if bytes == 0 {
        return Err(StepError::Failed("the snapshot was empty".to_string()));
    }
    Ok(Applied::Done(format!(
        "snapshot saved to {} ({bytes} bytes)",
        path.display()
    )))
}

async fn verify(
    client: &Client,
    e: &EnsembleRef,
    voters: usize,
    timeout: Duration,
) -> Result<Applied, StepError> {
    let l = live_until(client, e, timeout, |l| {
        let c = l.counted();
        c.len() == voters && c.iter().all(|m| m.healthy && !m.learner)
    })
    .await?;
    Ok(Applied::Done(format!(
        "{voters} healthy voters, no learner: {}",
        l.summary()
    )))
}
