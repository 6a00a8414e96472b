use super::{Severity, Snapshot, check};
use crate::members::fixtures::*;
use crate::model::members::Health;

fn found(s: &Snapshot) -> Vec<(&'static str, Severity, String)> {
    let mut out = Vec::new();
    check(s, &mut out);
    super::super::sort(&mut out);
    for f in &out {
        assert_eq!(
            f.subject.as_ref().map(|r| r.to_string()),
            Some(f.object.clone())
        );
    }
    out.into_iter()
        .map(|f| (f.id, f.severity, f.object))
        .collect()
}

fn has(ids: &[(&'static str, Severity, String)], id: &str) -> bool {
    ids.iter().any(|(i, _, _)| *i == id)
}

#[test]
fn seed_003_scaled_down_is_an_orphan_and_a_stale_claim() {
    let s = scaled_down();
    assert_eq!(
        found(&s),
        [
            (
                "members.orphan",
                Severity::Critical,
                "EtcdMember default/etcd-2".to_string()
            ),
            (
                "members.stale-claim",
                Severity::Warning,
                "PersistentVolumeClaim default/data-etcd-2".to_string()
            ),
        ]
    );
    let mut out = Vec::new();
    check(&s, &mut out);
    super::super::sort(&mut out);
    let orphan = &out[0];
    assert!(
        orphan.explanation.contains("etcd-2"),
        "{}",
        orphan.explanation
    );
    assert!(
        orphan.fix.contains("etcdctl member remove 1002"),
        "{}",
        orphan.fix
    );
    assert!(
        orphan
            .evidence
            .contains(&"3 voters · quorum 2 · tolerates 1; 2 of 3 voters healthy".to_string())
    );
    let claim = &out[1];
    assert!(claim.explanation.contains("has already been removed"));
    assert!(
        claim
            .evidence
            .iter()
            .any(|e| e == "member etcd-2 (1002) is still registered")
    );
}

#[test]
fn no_poll_no_member_findings() {
    assert!(found(&cluster(2, &[0, 1], &[0, 1, 2])).is_empty());
}

#[test]
fn a_healthy_ensemble_has_none() {
    let s = polled(
        cluster(3, &[0, 1, 2], &[0, 1, 2]),
        (0..3).map(|i| member(i, Health::Healthy, 100)).collect(),
    );
    assert!(found(&s).is_empty());
}

#[test]
fn an_orphan_with_failures_to_spare_is_a_warning() {
    let s = polled(
        cluster(4, &[0, 1, 2, 3], &[0, 1, 2, 3]),
        (0..5)
            .map(|i| {
                if i == 4 {
                    member(i, down(), 0)
                } else {
                    member(i, Health::Healthy, 100)
                }
            })
            .collect(),
    );
    assert_eq!(
        found(&s),
        [(
            "members.orphan",
            Severity::Warning,
            "EtcdMember default/etcd-4".to_string()
        )]
    );
}

#[test]
fn a_member_down_in_its_pod_puts_quorum_at_risk() {
    let s = polled(
        cluster(3, &[0, 1, 2], &[0, 1, 2]),
        vec![
            member(0, Health::Healthy, 100),
            member(1, Health::Healthy, 100),
            member(2, down(), 0),
        ],
    );
    let ids = found(&s);
    assert_eq!(
        ids,
        [
            (
                "members.quorum-at-risk",
                Severity::Critical,
                "StatefulSet default/etcd".to_string()
            ),
            (
                "members.unreachable",
                Severity::Warning,
                "Pod default/etcd-2".to_string()
            ),
        ]
    );
}

#[test]
fn two_of_three_down_is_no_quorum() {
    let slow = || Health::Unhealthy("no answer within 2s".to_string());
    let s = polled(
        cluster(3, &[0, 1, 2], &[0, 1, 2]),
        vec![
            member(0, slow(), 100),
            member(1, down(), 0),
            member(2, down(), 0),
        ],
    );
    let ids = found(&s);
    assert!(has(&ids, "members.no-quorum"), "{ids:?}");
    assert!(!has(&ids, "members.quorum-at-risk"));
    // The member that answered but could not read is the quorum's doing, not its own.
    assert!(
        !ids.iter()
            .any(|(i, _, o)| *i == "members.unreachable" && o.ends_with("etcd-0"))
    );
    assert_eq!(
        ids.iter()
            .filter(|(i, _, _)| *i == "members.unreachable")
            .count(),
        2
    );
}

#[test]
fn a_pod_that_is_no_member_and_a_stuck_learner() {
    let mut learner = member(3, Health::Healthy, 10);
    learner.learner = true;
    let s = polled(
        cluster(5, &[0, 1, 2, 3, 4], &[0, 1, 2, 3, 4]),
        vec![
            member(0, Health::Healthy, 5000),
            member(1, Health::Healthy, 5000),
            member(2, Health::Healthy, 5000),
            learner,
        ],
    );
    assert_eq!(
        found(&s),
        [
            (
                "members.learner-stuck",
                Severity::Warning,
                "Pod default/etcd-3".to_string()
            ),
            (
                "members.pod-not-member",
                Severity::Warning,
                "Pod default/etcd-4".to_string()
            ),
        ]
    );
}

#[test]
fn an_ensemble_scaled_to_zero_only_has_its_claims_reported() {
    let mut s = polled(cluster(0, &[], &[0]), Vec::new());
    if let Some(r) = s.members.as_mut() {
        std::sync::Arc::make_mut(r).ensembles[0].error =
            Some("no pod of the ensemble has an IP to ask".into());
    }
    assert_eq!(
        found(&s),
        [(
            "members.stale-claim",
            Severity::Warning,
            "PersistentVolumeClaim default/data-etcd-0".to_string()
        )]
    );
}

#[test]
fn an_unreadable_member_list_is_said_once() {
    let mut s = cluster(3, &[0, 1, 2], &[0, 1, 2, 3]);
    s = polled(s, Vec::new());
    if let Some(r) = s.members.as_mut() {
        let r = std::sync::Arc::make_mut(r);
        r.ensembles[0].error =
            Some("no member answered: 10.244.1.3:2379: connection refused".into());
    }
    assert_eq!(
        found(&s),
        [
            (
                "members.stale-claim",
                Severity::Warning,
                "PersistentVolumeClaim default/data-etcd-3".to_string()
            ),
            (
                "members.unreachable",
                Severity::Warning,
                "StatefulSet default/etcd".to_string()
            ),
        ]
    );
}

#[test]
fn zookeeper_pods_outside_the_static_server_list_are_no_members_in_its_words() {
    // Seed 003 scaled 3 -> 5 without --servers: zk-3 and zk-4 are in no zoo.cfg.
    let s = zookeeper(5, 3, &[0, 1, 2, 3, 4]);
    assert_eq!(
        found(&s),
        [
            (
                "members.pod-not-member",
                Severity::Warning,
                "Pod default/zk-3".to_string()
            ),
            (
                "members.pod-not-member",
                Severity::Warning,
                "Pod default/zk-4".to_string()
            ),
        ]
    );
    let mut out = Vec::new();
    check(&s, &mut out);
    super::super::sort(&mut out);
    assert!(
        out[0].evidence[0].contains("would be server.4 (myid 4)")
            && out[0].evidence[0].contains("lists server.1 to server.3"),
        "{:?}",
        out[0].evidence
    );
    assert!(out[0].explanation.contains("My id 4 not in the peer list"));
    assert!(out[0].fix.contains("--servers"), "{}", out[0].fix);
    // The three servers alone are healthy: nothing to say.
    assert!(found(&zookeeper(3, 3, &[0, 1, 2])).is_empty());
}

#[test]
fn a_zookeeper_server_without_a_pod_is_an_orphan_removed_from_zoo_cfg() {
    // Scaled 3 -> 2 with --servers still 3: server.3 is listed, its pod gone.
    let s = zookeeper(2, 3, &[0, 1]);
    let ids = found(&s);
    assert!(
        ids.contains(&(
            "members.orphan",
            Severity::Critical,
            "ZooKeeperServer default/zk-2".to_string()
        )),
        "{ids:?}"
    );
    let mut out = Vec::new();
    check(&s, &mut out);
    let orphan = out
        .iter()
        .find(|f| f.id == "members.orphan")
        .map(|f| f.fix.clone())
        .unwrap_or_default();
    assert!(
        orphan.contains("remove server.3 from every server's zoo.cfg"),
        "{orphan}"
    );
}

/// Gives each ZooKeeper server of `s` the membership `lines` at `version`.
fn with_membership(mut s: Snapshot, per_server: &[(&[u64], &str)]) -> Snapshot {
    let mut report = (**s.members.as_ref().expect("a members report")).clone();
    for (m, (ids, version)) in report.ensembles[0].members.iter_mut().zip(per_server) {
        if let Some(st) = &mut m.status {
            st.membership = ids
                .iter()
                .map(|i| {
                    format!(
                        "server.{i}=zk-{}.zk-hs.default.svc.cluster.local:2888:3888:participant;0.0.0.0:2181",
                        i - 1
                    )
                })
                .collect();
            st.config_version = Some(version.to_string());
        }
    }
    s.members = Some(std::sync::Arc::new(report));
    s
}

#[test]
fn zookeeper_servers_running_different_memberships_are_named_with_decimal_ids() {
    let agree: [(&[u64], &str); 3] = [(&[1, 2, 3], "100000000"); 3];
    let s = with_membership(zookeeper(3, 3, &[0, 1, 2]), &agree);
    assert!(found(&s).is_empty(), "{:?}", found(&s));
    // server.3 missed the reconfiguration that added a fourth server.
    let s = with_membership(
        zookeeper(3, 3, &[0, 1, 2]),
        &[
            (&[1, 2, 3, 4], "100000003"),
            (&[1, 2, 3, 4], "100000003"),
            (&[1, 2, 3], "100000000"),
        ],
    );
    let mut out = Vec::new();
    check(&s, &mut out);
    let f = out
        .iter()
        .find(|f| f.id == "members.config-disagrees")
        .unwrap_or_else(|| panic!("no finding: {out:?}"));
    assert!(
        f.evidence
            .contains(&"zk-2 (server.3) runs 1,2,3@100000000".to_string()),
        "{:?}",
        f.evidence
    );
    assert!(
        f.evidence
            .contains(&"zk-0 (server.1) runs 1,2,3,4@100000003".to_string()),
        "{:?}",
        f.evidence
    );
}

#[test]
fn a_dynamic_orphan_is_removed_with_reconfig_and_named_in_decimal() {
    // server.3 is listed by a dynamic config, its pod gone (scaled 3 -> 2 without
    // reconfig -remove).
    let both: [(&[u64], &str); 2] = [(&[1, 2, 3], "100000000"); 2];
    let s = with_membership(zookeeper(2, 3, &[0, 1]), &both);
    let mut out = Vec::new();
    check(&s, &mut out);
    let orphan = out
        .iter()
        .find(|f| f.id == "members.orphan")
        .unwrap_or_else(|| panic!("no orphan: {out:?}"));
    assert!(orphan.fix.contains("reconfig -remove 3"), "{}", orphan.fix);
    assert!(
        orphan.evidence[0].contains("id server.3 "),
        "{}",
        orphan.evidence[0]
    );
}
