//! Ensemble members (`crate::members`): registered members without a pod, pods that are
//! no member, quorum in danger or lost, learners that do not catch up, members kcops
//! cannot reach, and claims a later scale-up would start a removed member on. Made
//! only when the snapshot carries a member poll (the console and `kcops check` poll).
//!
//! | id | severity | fires when |
//! |---|---|---|
//! | `members.orphan` | Critical (the ensemble tolerates no further failure) / Warning | a registered member runs in no pod of the ensemble |
//! | `members.pod-not-member` | Warning | a running pod of the ensemble is no registered member |
//! | `members.quorum-at-risk` | Critical | quorum holds, but one more failure loses it, and a member with a pod is why |
//! | `members.no-quorum` | Critical | fewer healthy voters than quorum |
//! | `members.learner-stuck` | Warning | a learner is unreachable or more than 1000 raft entries behind the leader |
//! | `members.unreachable` | Warning | no member gave the member list, or a member with a pod did not answer |
//! | `members.stale-claim` | Warning | a claim of an ordinal at or above the StatefulSet's replicas |

use super::{Finding, Severity};
use crate::members::{Ensemble, Member, Owner, ensembles};
use crate::model::objref::ObjRef;
use crate::model::snapshot::Snapshot;

/// Raft entries a learner may lag the leader before it counts as stuck.
pub(crate) const LEARNER_LAG: u64 = 1000;

pub(crate) fn check(s: &Snapshot, out: &mut Vec<Finding>) {
    if s.members.is_none() {
        return;
    }
    for e in ensembles(s) {
        stale_claims(&e, out);
        let Some(poll) = &e.poll else { continue };
        // Scaled to zero on purpose: no member is expected to answer.
        if e.replicas == Some(0) && e.pods.is_empty() {
            continue;
        }
        if let Some(error) = &poll.error {
            out.push(finding(
                &e,
                "members.unreachable",
                Severity::Warning,
                e.subject(),
                vec![error.clone()],
                format!(
                    "kcops could not read the {} member list from any pod of {}, so it \
                     cannot tell whether the ensemble has a quorum.",
                    e.kind.as_str(),
                    e.label()
                ),
                "Check that the pods run and that this host reaches their pod IPs on the \
                 client port (kcops runs on a control-plane node); for TLS, that kcops has \
                 a client certificate."
                    .to_string(),
            ));
            continue;
        }
        quorum(&e, out);
        for m in &e.members {
            member_findings(&e, m, out);
        }
        pods_not_members(&e, out);
        config_disagrees(&e, out);
    }
}

/// Some member reports its membership (ZooKeeper's `conf` on 3.5+).
fn reports_membership(e: &Ensemble) -> bool {
    e.members
        .iter()
        .any(|m| m.status.as_ref().is_some_and(|s| !s.membership.is_empty()))
}

/// ZooKeeper servers that run different memberships (config versions or server
/// lists): a reconfig that did not reach one, or a zoo.cfg edited on one volume.
fn config_disagrees(e: &Ensemble, out: &mut Vec<Finding>) {
    use crate::members::zookeeper::config::{ZkConfig, parse_config};
    let reported: Vec<(&Member, String)> = e
        .members
        .iter()
        .filter_map(|m| {
            let s = m.status.as_ref()?;
            let c = parse_config(&s.membership.join("\n"))?;
            let c = ZkConfig {
                version: s.config_version.clone(),
                ..c
            };
            Some((m, c.fingerprint()))
        })
        .collect();
    let mut distinct: Vec<&str> = reported.iter().map(|(_, f)| f.as_str()).collect();
    distinct.sort();
    distinct.dedup();
    if distinct.len() < 2 {
        return;
    }
    let evidence = reported
        .iter()
        .map(|(m, f)| format!("{} ({}) runs {f}", m.label(), e.member_id(m)))
        .collect();
    out.push(finding(
        e,
        "members.config-disagrees",
        Severity::Warning,
        e.subject(),
        evidence,
        format!(
            "The servers of {} do not run the same membership (server ids and config              version as `ids@version`): a server that missed a reconfiguration, or whose              zoo.cfg was written by hand, counts votes over another list, and two lists              whose quorums need not overlap can elect two leaders.",
            e.label()
        ),
        "Find the server whose list differs (`echo conf | nc <pod IP> 2181`); on a          dynamic ensemble let it rejoin (restart it: it takes the leader's config), on a          static one give every server the same --servers and restart them one at a time          (kcops: :scale to the current size)."
            .to_string(),
    ));
}

/// A registered member as a finding's subject: `EtcdMember default/etcd-2` (the
/// member's name, or its hex id when it never started, in the ensemble's namespace).
fn member_ref(e: &Ensemble, m: &Member) -> ObjRef {
    let kind = match e.kind {
        crate::members::EnsembleKind::Etcd => "EtcdMember",
        crate::members::EnsembleKind::ZooKeeper => "ZooKeeperServer",
    };
    ObjRef::namespaced(kind, e.owner.namespace(), m.label())
}

fn finding(
    e: &Ensemble,
    id: &'static str,
    severity: Severity,
    subject: ObjRef,
    evidence: Vec<String>,
    explanation: String,
    fix: String,
) -> Finding {
    Finding {
        id,
        severity,
        object: subject.to_string(),
        subject: Some(subject),
        namespace: Some(e.owner.namespace().to_string()),
        node: None,
        evidence,
        explanation,
        fix,
    }
}

fn arithmetic(e: &Ensemble) -> String {
    format!(
        "{}; {} of {} voters healthy",
        e.quorum(),
        e.healthy_voters(),
        e.quorum().voters
    )
}

fn quorum(e: &Ensemble, out: &mut Vec<Finding>) {
    let q = e.quorum();
    let unhealthy: Vec<&Member> = e
        .members
        .iter()
        .filter(|m| !m.learner && !m.health.is_healthy())
        .collect();
    let lines = || {
        let mut v = vec![arithmetic(e)];
        v.extend(unhealthy.iter().map(|m| {
            format!(
                "{} {}: {}",
                m.label(),
                m.health.word(),
                m.health.reason().unwrap_or_default()
            )
        }));
        super::cap_listed(v, "members")
    };
    if q.voters > 0 && !q.has_quorum(e.healthy_voters()) {
        out.push(finding(
            e,
            "members.no-quorum",
            Severity::Critical,
            e.subject(),
            lines(),
            format!(
                "{} has {} healthy voters of the {} a quorum needs: it accepts no writes \
                 and elects no leader until enough members are back.",
                e.label(),
                e.healthy_voters(),
                q.quorum()
            ),
            "Bring the unhealthy members back (their pods, nodes and volumes first); \
             do not remove or add members while the quorum is lost."
                .to_string(),
        ));
        return;
    }
    // One more failure loses the quorum, and not only because of orphans (their own
    // finding says it, Critical).
    if q.voters > 1 && e.tolerates_now() == 0 && unhealthy.iter().any(|m| m.pod.is_some()) {
        out.push(finding(
            e,
            "members.quorum-at-risk",
            Severity::Critical,
            e.subject(),
            lines(),
            format!(
                "{} keeps its quorum with no voter to spare: one more failure (a node \
                 drained, a pod restarted) stops it.",
                e.label()
            ),
            "Make the unhealthy members healthy before any maintenance; do not drain \
             nodes running its members."
                .to_string(),
        ));
    }
}

fn member_findings(e: &Ensemble, m: &Member, out: &mut Vec<Finding>) {
    let Some(pod) = &m.pod else {
        let critical = e.tolerates_now() == 0;
        let peer = m.peer_urls.join(",");
        let mut evidence = vec![
            format!(
                "member {} id {} peer {} is registered; no pod of {} runs it",
                m.label(),
                e.member_id(m),
                if peer.is_empty() { "-" } else { &peer },
                e.label()
            ),
            arithmetic(e),
        ];
        if let Some(r) = m.health.reason() {
            evidence.push(format!("{} {}: {r}", m.label(), m.health.word()));
        }
        let removal = match e.kind {
            crate::members::EnsembleKind::Etcd => format!("etcdctl member remove {}", m.id_hex()),
            crate::members::EnsembleKind::ZooKeeper if reports_membership(e) => {
                format!("zkCli.sh reconfig -remove {} (as a super user)", m.id)
            }
            crate::members::EnsembleKind::ZooKeeper => format!(
                "remove server.{} from every server's zoo.cfg and restart them one by one",
                m.id
            ),
        };
        out.push(finding(
            e,
            "members.orphan",
            if critical {
                Severity::Critical
            } else {
                Severity::Warning
            },
            member_ref(e, m),
            evidence,
            format!(
                "Member {} is still registered in {} but no pod runs it (typically the \
                 StatefulSet was scaled down without removing the member first). It \
                 counts as a voter that never answers{}",
                m.label(),
                e.label(),
                if critical {
                    ": the ensemble now tolerates no further failure."
                } else {
                    ", so the ensemble tolerates one failure less."
                }
            ),
            format!(
                "If the member is gone for good, remove it from the ensemble (`{removal}` \
                 from a healthy member); the quorum is then counted without it."
            ),
        ));
        return;
    };
    if m.learner {
        let stuck = !m.health.is_healthy() || m.lag.is_some_and(|l| l > LEARNER_LAG);
        if stuck {
            out.push(finding(
                e,
                "members.learner-stuck",
                Severity::Warning,
                ObjRef::namespaced("Pod", e.owner.namespace(), pod),
                vec![match (m.health.reason(), m.lag) {
                    (Some(r), _) => format!("{} {}: {r}", m.label(), m.health.word()),
                    (None, Some(lag)) => {
                        format!("{} is {lag} raft entries behind the leader", m.label())
                    }
                    (None, None) => format!("{} reports no raft index", m.label()),
                }],
                format!(
                    "Learner {} does not catch up with the leader, so it cannot be promoted \
                     to a voter.",
                    m.label()
                ),
                format!(
                    "Look at pod {pod}'s logs (`kubectl logs -n {} {pod}`); a learner that \
                     never catches up is removed and added again.",
                    e.owner.namespace()
                ),
            ));
        }
        return;
    }
    let no_quorum = !e.quorum().has_quorum(e.healthy_voters());
    let report = match &m.health {
        crate::members::Health::Healthy => false,
        crate::members::Health::Unreachable(_) => true,
        // Without quorum every member fails its read: that is the quorum's finding.
        crate::members::Health::Unhealthy(_) => !no_quorum,
    };
    if report {
        out.push(finding(
            e,
            "members.unreachable",
            Severity::Warning,
            ObjRef::namespaced("Pod", e.owner.namespace(), pod),
            vec![format!(
                "{} at {}: {}",
                m.label(),
                m.endpoint.as_deref().unwrap_or("-"),
                m.health.reason().unwrap_or_default()
            )],
            format!(
                "Member {} runs in pod {pod} but did not answer its health check; it \
                 counts as failed for the quorum.",
                m.label()
            ),
            format!(
                "Look at pod {pod} (`kubectl logs -n {} {pod}`) and whether this host \
                 reaches its pod IP.",
                e.owner.namespace()
            ),
        ));
    }
}

fn pods_not_members(e: &Ensemble, out: &mut Vec<Finding>) {
    for p in e
        .pods
        .iter()
        .filter(|p| p.member.is_none() && p.phase == "Running")
    {
        if e.kind == crate::members::EnsembleKind::ZooKeeper {
            out.push(zookeeper_pod_not_member(e, p));
            continue;
        }
        out.push(finding(
            e,
            "members.pod-not-member",
            Severity::Warning,
            ObjRef::namespaced("Pod", e.owner.namespace(), &p.name),
            vec![format!(
                "pod {} ({}) matches no registered member by name or peer address",
                p.name,
                p.ip.as_deref().unwrap_or("no IP")
            )],
            format!(
                "Pod {} of {} runs, but no member of the ensemble is it: it was never \
                 added, or it started a cluster of its own.",
                p.name,
                e.label()
            ),
            format!(
                "Add it as a member before it starts (or look at `kubectl logs -n {} {}` \
                 for the join error).",
                e.owner.namespace(),
                p.name
            ),
        ));
    }
}

/// A ZooKeeper pod whose server no `server.N` line lists: with a static `zoo.cfg` it
/// never joins (3.5+ exits with "My id N not in the peer list").
fn zookeeper_pod_not_member(e: &Ensemble, p: &crate::members::EnsemblePod) -> Finding {
    let servers = e.members.len();
    let myid = p
        .name
        .rsplit_once('-')
        .and_then(|(_, o)| o.parse::<u64>().ok())
        .map_or_else(|| "?".to_string(), |o| (o + 1).to_string());
    finding(
        e,
        "members.pod-not-member",
        Severity::Warning,
        ObjRef::namespaced("Pod", e.owner.namespace(), &p.name),
        vec![
            format!(
                "pod {} ({}) would be server.{myid} (myid {myid}); the ensemble's zoo.cfg \
                 lists server.1 to server.{servers}",
                p.name,
                p.ip.as_deref().unwrap_or("no IP"),
            ),
            arithmetic(e),
        ],
        format!(
            "Pod {} of {} runs, but no server list of the ensemble has its myid {myid}: \
             its zoo.cfg was written for {servers} servers, so it never joins (ZooKeeper \
             3.5+ exits with \"My id {myid} not in the peer list\"; 3.4 keeps looking \
             for a leader). Raising replicas without the server list (--servers) does \
             this.",
            p.name,
            e.label()
        ),
        format!(
            "Change replicas and the server list (--servers) together and let every \
             server restart with the new zoo.cfg, one at a time; or scale back to \
             {servers}. Logs: `kubectl logs -n {} {}`.",
            e.owner.namespace(),
            p.name
        ),
    )
}

fn stale_claims(e: &Ensemble, out: &mut Vec<Finding>) {
    let Owner::StatefulSet { namespace, name } = &e.owner else {
        return;
    };
    for c in &e.stale_claims {
        let registered = e.members.iter().find(|m| m.name == c.pod_name);
        let mut evidence = vec![format!(
            "claim {} ({}) is of ordinal {}; StatefulSet {namespace}/{name} has replicas {}",
            c.name,
            c.phase,
            c.ordinal,
            e.replicas.unwrap_or_default()
        )];
        if let Some(m) = registered {
            evidence.push(format!(
                "member {} ({}) is still registered",
                m.label(),
                e.member_id(m)
            ));
        }
        out.push(finding(
            e,
            "members.stale-claim",
            Severity::Warning,
            ObjRef::namespaced("PersistentVolumeClaim", namespace, &c.name),
            evidence,
            format!(
                "Claim {} holds the data of member {} from before the StatefulSet was \
                 scaled down. A pod that later takes ordinal {} starts on that data: once \
                 the member is removed from the ensemble, it exits with etcd's \"member \
                 ... has already been removed\" error; if it is added again as a new \
                 member, with \"member ... has already been bootstrapped\".",
                c.name, c.pod_name, c.ordinal
            ),
            format!(
                "Once member {} is removed from the ensemble, delete the claim (`kubectl \
                 delete pvc -n {namespace} {}`; its volume goes with it under reclaim \
                 policy Delete) before scaling up again.",
                c.pod_name, c.name
            ),
        ));
    }
}

#[cfg(test)]
mod tests;
