//! ZooKeeper member steps. A dynamic ensemble (3.5+, `reconfigEnabled=true`) changes
//! membership online with `reconfig -add`/`-remove` through a session of the
//! `zookeeper-client` crate, authenticated as `KCOPS_ZK_AUTH` says (`digest:user:pass`
//! of a super user: the config znode is writable by no one else). A static ensemble
//! changes by restarting servers with a new `zoo.cfg` (StatefulSet steps); both end in
//! [`verify`]: one leader, the expected voters serving and, where the servers say,
//! one membership and the leader's synced followers.
//!
//! Like etcd's, each step re-reads the live ensemble first, says "already done" when
//! the change is there, and refuses a change the quorum rule forbids.

use std::time::{Duration, Instant};

use kube::Client;
use zookeeper_client::{Client as Zk, EnsembleUpdate};

use super::ensemble_live::{Live, RETRY, live, live_until, refuse_if_unsafe};
use super::{Applied, StepError};
use crate::members::zookeeper::config::{ZkConfig, parse_config};
use crate::ops::ensemble::{EnsembleRef, MemberChange, MemberOp, PeerUrl};
use crate::ops::op::human_duration;

/// The environment variable holding the credentials `reconfig` is sent with.
pub const AUTH_ENV: &str = "KCOPS_ZK_AUTH";

/// How long a new server may take to sync as a non-voting follower before its add.
const SYNC_TIMEOUT: Duration = Duration::from_secs(90);
/// How long a session may take to be established.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// `(scheme, credentials)` from [`AUTH_ENV`] (`digest:super:secret`).
fn auth() -> Option<(String, String)> {
    let v = std::env::var(AUTH_ENV).ok()?;
    let (scheme, cred) = v.split_once(':')?;
    Some((scheme.to_string(), cred.to_string()))
}

/// Whether credentials for `reconfig` were given (the wizard's preflight says so).
pub fn auth_configured() -> bool {
    auth().is_some()
}

/// A session with the members that serve, except `avoid` (a server about to leave).
async fn session(live: &Live, avoid: Option<u64>) -> Result<Zk, StepError> {
    let hosts: Vec<String> = live
        .poll
        .members
        .iter()
        .filter(|m| m.health.is_healthy() && Some(m.id) != avoid)
        .filter_map(|m| m.endpoint.clone())
        .collect();
    if hosts.is_empty() {
        return Err(StepError::Failed(format!(
            "no server to connect to (members now: {})",
            live.summary()
        )));
    }
    let mut connector = Zk::connector()
        .with_session_timeout(Duration::from_secs(10))
        .with_connection_timeout(Duration::from_secs(3));
    if let Some((scheme, cred)) = auth() {
        connector = connector.with_auth(&scheme, cred.as_bytes());
    }
    match tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(&hosts.join(","))).await {
        Ok(Ok(zk)) => Ok(zk),
        Ok(Err(e)) => Err(StepError::Failed(format!(
            "no session with {}: {e}",
            hosts.join(",")
        ))),
        Err(_) => Err(StepError::Failed(format!(
            "no session with {} within {}",
            hosts.join(","),
            human_duration(CONNECT_TIMEOUT)
        ))),
    }
}

/// The committed membership (the config znode), as a fresh session reads it.
async fn committed(zk: &Zk) -> Result<ZkConfig, StepError> {
    let (data, _) = bounded("read /zookeeper/config", zk.get_config()).await?;
    let text = String::from_utf8_lossy(&data);
    parse_config(&text).ok_or_else(|| {
        StepError::Failed(format!(
            "/zookeeper/config lists no server (a static or standalone server?): {text}"
        ))
    })
}

async fn bounded<T>(
    what: &str,
    f: impl Future<Output = Result<T, zookeeper_client::Error>>,
) -> Result<T, StepError> {
    match tokio::time::timeout(REQUEST_TIMEOUT, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(StepError::Failed(format!("{what}: {}", explain(&e)))),
        Err(_) => Err(StepError::Failed(format!(
            "{what}: no answer within {}",
            human_duration(REQUEST_TIMEOUT)
        ))),
    }
}

/// ZooKeeper's error with what to do about it.
fn explain(e: &zookeeper_client::Error) -> String {
    use zookeeper_client::Error as E;
    match e {
        E::NoAuth => format!(
            "not authorized: reconfig needs a super user's credentials (set {AUTH_ENV}=digest:<user>:<password> for the superDigest the servers run with)"
        ),
        E::ReconfigDisabled => {
            "the servers run with reconfigEnabled=false: membership changes need a static roll"
                .to_string()
        }
        E::UnexpectedErrorCode(-13) => {
            "the new configuration has no quorum of synced servers (KeeperErrorCode = NewConfigNoQuorum): is the new server up and following?".to_string()
        }
        E::UnexpectedErrorCode(-14) => {
            "another reconfiguration is in progress (ReconfigInProgress): try again once it is committed".to_string()
        }
        other => other.to_string(),
    }
}

/// Runs one member step against the live ensemble.
pub(crate) async fn perform(client: &Client, op: &MemberOp) -> Result<Applied, StepError> {
    let e = &op.ensemble;
    match &op.change {
        MemberChange::AddVoter {
            name,
            peer: PeerUrl::Fixed(line),
        } => add(client, e, name, line, &op.change).await,
        MemberChange::Remove { name, id } => remove(client, e, name, *id, &op.change).await,
        MemberChange::Verify { voters, timeout } => verify(client, e, *voters, *timeout).await,
        MemberChange::RestartNext { voters, timeout } => {
            restart_next(client, e, *voters, *timeout, &op.change).await
        }
        MemberChange::MoveLeaderAway { name, .. } => move_leader(client, e, name).await,
        other => Err(StepError::Failed(format!(
            "ZooKeeper has no step for {} (a plan for etcd?)",
            MemberOp {
                ensemble: e.clone(),
                change: other.clone()
            }
            .action()
        ))),
    }
}

/// `reconfig -add <line>` once the new server serves as a non-voting follower.
async fn add(
    client: &Client,
    e: &EnsembleRef,
    name: &str,
    line: &str,
    change: &MemberChange,
) -> Result<Applied, StepError> {
    let Some(new) = parse_config(line).and_then(|c| c.servers.into_iter().next()) else {
        return Err(StepError::Failed(format!(
            "`{line}` is not a server line (server.N=host:port:port:role;client)"
        )));
    };
    let now = live(client, e).await?;
    let mut zk = session(&now, None).await?;
    let before = committed(&zk).await?;
    if before.server(new.id).is_some_and(|s| s.votes()) {
        return Ok(Applied::AlreadyDone(format!(
            "server.{} ({name}) is a participant at config version {}",
            new.id,
            before.version.as_deref().unwrap_or("?")
        )));
    }
    // The new server must be up and synced (as a non-voting follower or observer),
    // or the leader refuses the new config for want of a synced quorum.
    let live = live_until(client, e, SYNC_TIMEOUT, |l| {
        l.member(name).is_some_and(|m| m.health.is_healthy())
    })
    .await
    .map_err(|err| {
        StepError::Failed(format!(
            "{name} did not serve as a follower within {}: {}",
            human_duration(SYNC_TIMEOUT),
            err.text()
        ))
    })?;
    refuse_if_unsafe(&live, change)?;
    if zk.state().is_terminated() {
        zk = session(&live, None).await?;
    }
    let joining = [line];
    let update = EnsembleUpdate::Incremental {
        joinings: joining.iter().copied(),
        leavings: [].iter().copied(),
    };
    let (data, _) = bounded(
        &format!("reconfig -add {line}"),
        zk.update_ensemble(update, None),
    )
    .await?;
    let after = parse_config(&String::from_utf8_lossy(&data)).unwrap_or_default();
    if after.server(new.id).is_some_and(|s| s.votes()) {
        Ok(Applied::Done(format!(
            "server.{} ({name}) added as a participant; config version {} -> {}, {} voters",
            new.id,
            before.version.as_deref().unwrap_or("?"),
            after.version.as_deref().unwrap_or("?"),
            after.voters().count()
        )))
    } else {
        Err(StepError::Failed(format!(
            "the add of server.{} was answered but the new config does not list it: {}",
            new.id,
            after.fingerprint()
        )))
    }
}

/// `reconfig -remove <id>`, sent to a server that stays. A removed leader may answer
/// with a lost connection although the change is committed: the config is read again
/// from another session rather than the change sent twice.
async fn remove(
    client: &Client,
    e: &EnsembleRef,
    name: &str,
    id: u64,
    change: &MemberChange,
) -> Result<Applied, StepError> {
    let now = live(client, e).await?;
    let zk = session(&now, Some(id)).await?;
    let before = committed(&zk).await?;
    if before.server(id).is_none() {
        return Ok(Applied::AlreadyDone(format!(
            "server.{id} ({name}) is not in the config (version {})",
            before.version.as_deref().unwrap_or("?")
        )));
    }
    refuse_if_unsafe(&now, change)?;
    let leaving = id.to_string();
    let leavings = [leaving.as_str()];
    let update = EnsembleUpdate::Incremental {
        joinings: [].iter().copied(),
        leavings: leavings.iter().copied(),
    };
    let answered = bounded(
        &format!("reconfig -remove {id}"),
        zk.update_ensemble(update, None),
    )
    .await;
    let (after, how) = match answered {
        Ok((data, _)) => (
            parse_config(&String::from_utf8_lossy(&data)).unwrap_or_default(),
            "",
        ),
        Err(err) => {
            // Lost answer: read what was committed, from a fresh session.
            let started = Instant::now();
            let reread = loop {
                let l = live(client, e).await;
                let got = match l {
                    Ok(l) => match session(&l, Some(id)).await {
                        Ok(zk) => committed(&zk).await,
                        Err(e) => Err(e),
                    },
                    Err(e) => Err(e),
                };
                match got {
                    Ok(c) => break c,
                    Err(_) if started.elapsed() < REQUEST_TIMEOUT => {
                        tokio::time::sleep(RETRY).await
                    }
                    Err(e2) => {
                        return Err(StepError::Failed(format!(
                            "{}; the config could not be read again to see whether it was committed: {}",
                            err.text(),
                            e2.text()
                        )));
                    }
                }
            };
            if reread.server(id).is_some() {
                return Err(StepError::Failed(format!(
                    "{}; the config read again still lists server.{id} (version {}): nothing was committed",
                    err.text(),
                    reread.version.as_deref().unwrap_or("?")
                )));
            }
            (
                reread,
                " (the answer was lost, as when the leader itself leaves; the config read again no longer lists it)",
            )
        }
    };
    if after.server(id).is_some() {
        return Err(StepError::Failed(format!(
            "the removal of server.{id} was answered but the new config still lists it: {}",
            after.fingerprint()
        )));
    }
    Ok(Applied::Done(format!(
        "server.{id} ({name}) removed{how}; config version {} -> {}, {} voters",
        before.version.as_deref().unwrap_or("?"),
        after.version.as_deref().unwrap_or("?"),
        after.voters().count()
    )))
}

/// What [`verify`] waits for, in words, when `l` is not there yet.
pub(crate) fn settled(l: &Live, voters: usize) -> Result<String, String> {
    let counted = l.counted();
    let voting: Vec<_> = counted.iter().filter(|m| !m.learner).collect();
    if voting.len() != voters {
        return Err(format!("{} voters, not {voters}", voting.len()));
    }
    if let Some(m) = counted.iter().find(|m| !m.healthy) {
        return Err(format!("{} does not serve", m.name));
    }
    if let Some(m) = counted.iter().find(|m| m.learner) {
        return Err(format!("{} has no vote", m.name));
    }
    let leaders: Vec<&str> = l
        .poll
        .members
        .iter()
        .filter(|m| m.status.as_ref().is_some_and(|s| s.leader == m.id))
        .map(|m| m.name.as_str())
        .collect();
    if leaders.len() != 1 {
        return Err(format!(
            "{} leaders ({})",
            leaders.len(),
            leaders.join(", ")
        ));
    }
    let leader = l
        .poll
        .members
        .iter()
        .find(|m| m.status.as_ref().is_some_and(|s| s.leader == m.id));
    if let Some(synced) = leader.and_then(|m| m.status.as_ref()?.synced_followers)
        && usize::try_from(synced).unwrap_or(0) + 1 < voters
    {
        return Err(format!(
            "the leader {} has {synced} synced followers, not {}",
            leaders.first().copied().unwrap_or_default(),
            voters - 1
        ));
    }
    let mut configs: Vec<String> = l
        .poll
        .members
        .iter()
        .filter_map(|m| {
            let s = m.status.as_ref()?;
            let c = parse_config(&s.membership.join("\n"))?;
            Some(
                ZkConfig {
                    version: s.config_version.clone(),
                    ..c
                }
                .fingerprint(),
            )
        })
        .collect();
    configs.dedup();
    if configs.len() > 1 {
        return Err(format!(
            "the servers run different memberships: {}",
            configs.join(" / ")
        ));
    }
    // A follower serves only with a leader: none among them is one beyond the list.
    Ok(format!(
        "{voters} voters serving, leader {}, {}",
        leaders.first().copied().unwrap_or("outside the list"),
        configs
            .first()
            .map_or("membership not reported".to_string(), |c| format!(
                "every server runs {c}"
            ))
    ))
}

/// Waits until `voters` participants serve with one leader, all synced and agreeing.
async fn verify(
    client: &Client,
    e: &EnsembleRef,
    voters: usize,
    timeout: Duration,
) -> Result<Applied, StepError> {
    let l = live_until(client, e, timeout, |l| settled(l, voters).is_ok())
        .await
        .map_err(|err| StepError::Failed(err.text()))?;
    settled(&l, voters)
        .map(Applied::Done)
        .map_err(StepError::Failed)
}

/// The StatefulSet's update revision once the controller has seen its latest
/// template (`None` before: every pod would look up to date).
async fn update_revision(client: &Client, e: &EnsembleRef) -> Result<Option<String>, StepError> {
    let api: kube::Api<k8s_openapi::api::apps::v1::StatefulSet> =
        kube::Api::namespaced(client.clone(), &e.namespace);
    let sts = super::kube::read(
        &format!("get StatefulSet {}/{}", e.namespace, e.statefulset),
        api.get(&e.statefulset),
    )
    .await?;
    let generation = sts.metadata.generation.unwrap_or_default();
    let status = sts.status.unwrap_or_default();
    Ok(status
        .update_revision
        .filter(|_| status.observed_generation.unwrap_or_default() >= generation))
}

/// Restarts one server of the new list (ordinal below `voters`) still on the old
/// revision: a follower first, the leader last, so the servers already restarted with the new list have a quorum of their
/// own when the leader goes (a server joins a leader only if the leader's
/// followers make a quorum of its own list).
async fn restart_next(
    client: &Client,
    e: &EnsembleRef,
    voters: usize,
    timeout: Duration,
    change: &MemberChange,
) -> Result<Applied, StepError> {
    let started = Instant::now();
    let revision = loop {
        if let Some(r) = update_revision(client, e).await? {
            break r;
        }
        if started.elapsed() > Duration::from_secs(30) {
            return Err(StepError::Failed(format!(
                "the StatefulSet controller has not observed {}'s latest template",
                e.statefulset
            )));
        }
        tokio::time::sleep(RETRY).await;
    };
    let now = live(client, e).await?;
    let old: Vec<&crate::model::pod::Pod> = now
        .target
        .pods
        .iter()
        .map(|p| p.as_ref())
        // Only servers of the new list: one about to be removed keeps its old list.
        .filter(|p| {
            p.metadata
                .name
                .as_deref()
                .and_then(|n| n.strip_prefix(&format!("{}-", e.statefulset)))
                .and_then(|o| o.parse::<usize>().ok())
                .is_some_and(|o| o < voters)
        })
        .filter(|p| {
            p.metadata
                .labels()
                .and_then(|l| l.get("controller-revision-hash"))
                != Some(&revision)
        })
        .collect();
    let leader = now.leader();
    let leads = |p: &&crate::model::pod::Pod| {
        let name = p.metadata.name.as_deref().unwrap_or_default();
        now.poll
            .members
            .iter()
            .any(|m| m.name == name && Some(m.id) == leader)
    };
    let Some(pod) = old
        .iter()
        .rev()
        .find(|p| !leads(p))
        .or_else(|| old.iter().find(|p| leads(p)))
    else {
        return Ok(Applied::AlreadyDone(format!(
            "every pod of {} runs revision {revision}",
            e.statefulset
        )));
    };
    let name = pod.metadata.name.clone().unwrap_or_default();
    let role = if leads(pod) {
        "the leader"
    } else {
        "a follower"
    };
    refuse_if_unsafe(&now, change)?;
    let mut memo = Default::default();
    super::kube::delete_pod(client, &e.namespace, &name, None, &mut memo).await?;
    let back =
        super::sts_template::pod_updated(client, &e.namespace, &e.statefulset, &name, timeout)
            .await?;
    let l = live_until(client, e, timeout, |l| settled(l, voters).is_ok())
        .await
        .map_err(|err| {
            StepError::Failed(format!(
                "{name} ({role}) was restarted but the ensemble did not settle: {}",
                err.text()
            ))
        })?;
    Ok(Applied::Done(format!(
        "restarted {name} ({role}): {back}; {}",
        settled(&l, voters).unwrap_or_default()
    )))
}

/// How long a restarted leader may take to be back and the others to have elected.
const LEADER_MOVE_TIMEOUT: Duration = Duration::from_secs(180);

/// ZooKeeper has no leadership transfer: a server about to leave a static list that
/// leads is restarted on its current template, so the others elect a leader among
/// themselves (a server that stays must never find its leader outside its new list:
/// it would not follow it).
async fn move_leader(client: &Client, e: &EnsembleRef, name: &str) -> Result<Applied, StepError> {
    let now = live(client, e).await?;
    let Some(m) = now.member(name) else {
        return Ok(Applied::AlreadyDone(format!(
            "{name} is not a server of the ensemble"
        )));
    };
    if now.leader() != Some(m.id) {
        return Ok(Applied::AlreadyDone(format!("{name} does not lead")));
    }
    let (id, voters) = (m.id, now.counted().iter().filter(|c| !c.learner).count());
    refuse_if_unsafe(
        &now,
        &MemberChange::RestartNext {
            voters,
            timeout: LEADER_MOVE_TIMEOUT,
        },
    )?;
    let mut memo = Default::default();
    super::kube::delete_pod(client, &e.namespace, name, None, &mut memo).await?;
    super::sts_template::pod_updated(
        client,
        &e.namespace,
        &e.statefulset,
        name,
        LEADER_MOVE_TIMEOUT,
    )
    .await?;
    let l = live_until(client, e, LEADER_MOVE_TIMEOUT, |l| {
        l.leader().is_some_and(|x| x != id) && settled(l, voters).is_ok()
    })
    .await?;
    let to = l
        .poll
        .members
        .iter()
        .find(|x| Some(x.id) == l.leader())
        .map_or("another server".to_string(), |x| x.name.clone());
    Ok(Applied::Done(format!(
        "{name} was restarted; {to} leads now and {name} follows"
    )))
}
