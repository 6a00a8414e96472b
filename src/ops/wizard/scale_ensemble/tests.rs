use std::path::PathBuf;

use super::*;
use crate::members::fixtures::{cluster, down, member, polled, scaled_down};
use crate::model::members::{Health, PolledMember};
use crate::ops::ensemble::{MemberChange, PeerUrl};
use crate::ops::op::Op;
use crate::ops::plan::{Confirmation, Plan};

fn facts(s: &Snapshot, target: i32) -> Facts {
    gather(
        s,
        "default",
        "etcd",
        target,
        Ok(Vec::new()),
        PathBuf::from("/var/lib/kcops/snapshots"),
    )
    .unwrap()
}

/// `n` healthy members with pods, the leader at ordinal `leader`.
fn healthy(n: usize, leader: usize) -> Snapshot {
    let ordinals: Vec<usize> = (0..n).collect();
    let members = ordinals
        .iter()
        .map(|&i| led_by(member(i, Health::Healthy, 100), leader))
        .collect();
    polled(
        cluster(i32::try_from(n).unwrap(), &ordinals, &ordinals),
        members,
    )
}

fn led_by(mut m: PolledMember, leader: usize) -> PolledMember {
    if let Some(s) = m.status.as_mut() {
        s.leader = 0x1000 + leader as u64;
    }
    m
}

/// Each step's action, with the member it names for member steps.
fn shape(plan: &Plan) -> Vec<String> {
    plan.steps
        .iter()
        .map(|s| match &s.op {
            Op::Member(m) => format!("{} {}", m.action(), m.object_name()),
            Op::Scale { replicas, .. } => format!("scale {replicas}"),
            Op::Wait { what, .. } => format!("wait {}", what.object().name),
            Op::DeleteClaim { name, .. } => format!("delete-pvc {name}"),
            other => other.action().to_string(),
        })
        .collect()
}

fn text(w: &Wizard) -> String {
    w.render().join("\n")
}

#[test]
fn three_to_five_adds_learners_one_at_a_time() {
    let f = facts(&healthy(3, 0), 5);
    let w = assess(&f);
    assert!(!w.is_blocked(), "{}", text(&w));
    let plan = w.plan().unwrap();
    // The lab's members advertise their pod IP: the pod first, then the add.
    assert_eq!(
        shape(&plan),
        [
            "scale 4",
            "member-add-learner etcd-3",
            "wait etcd-3",
            "member-promote etcd-3",
            "member-verify etcd",
            "scale 5",
            "member-add-learner etcd-4",
            "wait etcd-4",
            "member-promote etcd-4",
            "member-verify etcd",
        ]
    );
    assert_eq!(plan.confirmation, Confirmation::TypedName("etcd".into()));
    assert!(plan.validate().is_ok());
    let t = text(&w);
    assert!(
        t.contains("3 voters q2 tol1 -> 3 +1L q2 tol1 -> 4 q3 tol1 -> 4 +1L q3 tol1 -> 5 q3 tol2"),
        "{t}"
    );
    assert!(!t.contains("an odd size is better"), "{t}");
}

#[test]
fn five_to_three_hands_over_the_leadership_before_removing_the_leader() {
    // etcd-4 leads: it goes first (highest ordinal), after handing over to a member
    // that stays (not etcd-3, which goes next).
    let f = facts(&healthy(5, 4), 3);
    let w = assess(&f);
    assert!(!w.is_blocked(), "{}", text(&w));
    let plan = w.plan().unwrap();
    assert_eq!(
        shape(&plan),
        [
            "snapshot-save etcd",
            "move-leader etcd-4",
            "member-remove etcd-4",
            "scale 4",
            "wait etcd-4",
            "move-leader etcd-3",
            "member-remove etcd-3",
            "scale 3",
            "wait etcd-3",
            "member-verify etcd",
        ]
    );
    let avoid = plan.steps.iter().find_map(|s| match &s.op {
        Op::Member(m) => match &m.change {
            MemberChange::MoveLeaderAway { name, avoid } if name == "etcd-4" => Some(avoid),
            _ => None,
        },
        _ => None,
    });
    assert_eq!(avoid, Some(&vec!["etcd-3".to_string()]));
    let t = text(&w);
    assert!(
        t.contains("5 voters q3 tol2 -> 4 q3 tol1 -> 3 q2 tol1"),
        "{t}"
    );
    assert!(
        t.contains("/var/lib/kcops/snapshots/default-etcd-20250101T120000Z.db"),
        "the plan says where the snapshot goes: {t}"
    );
    // Claims only when chosen; the snapshot can be left out.
    let mut w = w;
    assert!(w.toggle('c'));
    assert!(w.toggle('s'));
    let with_claims = shape(&w.plan().unwrap());
    assert_eq!(with_claims[0], "move-leader etcd-4");
    assert_eq!(with_claims[4], "delete-pvc data-etcd-4");
    assert!(with_claims.contains(&"delete-pvc data-etcd-3".to_string()));
}

#[test]
fn the_orphan_is_removed_and_its_claim_offered() {
    let f = facts(&scaled_down(), 2);
    assert_eq!(
        f.orphans(),
        vec![Orphan {
            name: "etcd-2".into(),
            id: 0x1002,
            claims: vec!["data-etcd-2".into()]
        }]
    );
    let mut w = assess(&f);
    assert!(!w.is_blocked(), "{}", text(&w));
    assert_eq!(
        shape(&w.plan().unwrap()),
        [
            "snapshot-save etcd",
            "member-remove etcd-2",
            "member-verify etcd"
        ]
    );
    assert!(w.toggle('c'));
    assert_eq!(
        shape(&w.plan().unwrap()),
        [
            "snapshot-save etcd",
            "member-remove etcd-2",
            "member-verify etcd",
            "delete-pvc data-etcd-2"
        ]
    );
    let t = text(&w);
    assert!(t.contains("3 voters q2 tol1 -> 2 q2 tol0"), "{t}");
    assert!(
        t.contains("2 voters tolerate no more failures than 1"),
        "{t}"
    );
    assert!(t.contains("every member that stays is healthy"), "{t}");
}

#[test]
fn scaling_past_an_orphan_points_at_the_orphan_plan_first() {
    let w = assess(&facts(&scaled_down(), 3));
    let b = w.blocker.as_ref().unwrap();
    assert!(b.reason.contains("etcd-2 not healthy"), "{}", b.reason);
    assert_eq!(
        b.fix[0].split(" (").next(),
        Some("kcops: :scale default/etcd 2")
    );
}

#[test]
fn a_down_pod_refuses_the_removal_of_a_healthy_member() {
    // etcd-1's pod is down; 3 -> 2 would remove etcd-2, which is healthy.
    let s = polled(
        cluster(3, &[0, 2], &[0, 1, 2]),
        vec![
            member(0, Health::Healthy, 100),
            member(1, down(), 0),
            member(2, Health::Healthy, 100),
        ],
    );
    let f = facts(&s, 2);
    let w = assess(&f);
    assert!(w.plan().is_none());
    assert!(
        w.blocker
            .as_ref()
            .unwrap()
            .reason
            .contains("etcd-1 not healthy"),
        "{}",
        text(&w)
    );
    // The guard alone refuses the plan too, naming the step.
    let plan = f.plan_down(Choices {
        snapshot: true,
        delete_claims: false,
    });
    let err = guard(&f, &plan).unwrap_err();
    assert!(err.contains("1 healthy of 2 voters"), "{err}");
    assert!(err.contains("Remove member etcd-2"), "{err}");
}

#[test]
fn a_field_template_blocks_the_join_and_names_the_template_wizard() {
    let mut f = facts(&healthy(3, 0), 4);
    f.join = template::join_support(&[" --initial-cluster-state new \\".to_string()]);
    let w = assess(&f);
    let b = w.blocker.as_ref().unwrap();
    assert!(
        b.reason.contains("bootstraps a cluster of its own"),
        "{}",
        b.reason
    );
    assert!(b.fix[0].starts_with("kcops: :etcd-join-template default/etcd"));
    // A scale down does not need the template to join.
    f.target = 2;
    assert!(!assess(&f).is_blocked());
}

#[test]
fn preflight_blocks_a_pending_learner_and_a_stale_claim() {
    let mut s = healthy(3, 0);
    // A claim of an earlier size for the new ordinal 3.
    s.pvcs.push(cluster(4, &[], &[3]).pvcs[0].clone());
    let w = assess(&facts(&s, 4));
    let b = w.blocker.as_ref().unwrap();
    assert!(b.reason.contains("earlier, larger size"), "{}", b.reason);
    assert_eq!(b.fix, ["kubectl -n default delete pvc data-etcd-3"]);

    let mut f = facts(&healthy(3, 0), 5);
    f.members[2].learner = true;
    let b = assess(&f).blocker.unwrap();
    assert!(b.reason.contains("learner is pending"));
    assert!(b.fix[0].ends_with("member promote 1002"), "{:?}", b.fix);
}

#[test]
fn an_even_target_is_warned_about() {
    let t = text(&assess(&facts(&healthy(3, 0), 4)));
    assert!(
        t.contains("4 voters tolerate no more failures than 3"),
        "{t}"
    );
}

#[test]
fn old_etcd_adds_voters_after_a_warning_and_dns_peers_are_added_before_the_pod() {
    let mut f = facts(&healthy(3, 0), 4);
    f.version = Some("3.2.3".into());
    f.peer_host_pattern = Some(("http".into(), ".etcd:2380".into()));
    let w = assess(&f);
    assert!(text(&w).contains("etcd 3.2.3 has no learners"));
    let plan = w.plan().unwrap();
    assert_eq!(
        shape(&plan),
        [
            "member-add etcd-3",
            "scale 4",
            "wait etcd-3",
            "member-verify etcd"
        ]
    );
    match &plan.steps[0].op {
        Op::Member(m) => assert_eq!(
            m.change,
            MemberChange::AddVoter {
                name: "etcd-3".into(),
                peer: PeerUrl::Fixed("http://etcd-3.etcd:2380".into())
            }
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_peer_pattern_is_read_from_the_members() {
    let mut m = member(0, Health::Healthy, 100);
    m.peer_urls = vec!["https://etcd-0.etcd.default.svc:2380".into()];
    let s = polled(cluster(1, &[0], &[0]), vec![m]);
    let f = facts(&s, 3);
    assert_eq!(
        f.peer_host_pattern,
        Some(("https".into(), ".etcd.default.svc:2380".into()))
    );
    let f = facts(&healthy(3, 0), 3);
    assert_eq!(f.peer_host_pattern, None);
    assert_eq!((f.peer_scheme.as_str(), f.peer_port), ("http", 2380));
    assert!(text(&assess(&f)).contains("nothing to change"));
}

#[test]
fn an_unread_member_list_blocks() {
    let f = facts(&cluster(3, &[0, 1, 2], &[0, 1, 2]), 5);
    let b = assess(&f).blocker.unwrap();
    assert!(b.reason.contains("not been polled"), "{}", b.reason);
    assert!(matches!(
        gather(
            &cluster(3, &[0], &[0]),
            "default",
            "nope",
            3,
            Ok(vec![]),
            PathBuf::new()
        ),
        Err(WizardError::NotFound { .. })
    ));
}

#[test]
fn a_member_added_but_never_started_is_removed_as_an_orphan() {
    let mut unstarted = member(3, down(), 0);
    unstarted.name = String::new();
    unstarted.client_urls.clear();
    let members = (0..3)
        .map(|i| member(i, Health::Healthy, 100))
        .chain([unstarted])
        .collect();
    let s = polled(cluster(3, &[0, 1, 2], &[0, 1, 2]), members);
    let f = facts(&s, 3);
    let orphans = f.orphans();
    assert_eq!(orphans.len(), 1);
    assert_eq!(orphans[0].name, "(unstarted 1003)");
    let w = assess(&f);
    assert!(!w.is_blocked(), "{}", text(&w));
    assert_eq!(
        shape(&w.plan().unwrap()),
        [
            "snapshot-save etcd",
            "member-remove (unstarted 1003)",
            "member-verify etcd"
        ]
    );
    assert!(
        text(&w).contains("4 voters q3 tol1 -> 3 q2 tol1"),
        "{}",
        text(&w)
    );
}

#[test]
fn a_learner_added_but_never_started_is_removed_without_counting_as_a_voter() {
    let mut unstarted = member(3, down(), 0);
    unstarted.name = String::new();
    unstarted.learner = true;
    let members = (0..3)
        .map(|i| member(i, Health::Healthy, 100))
        .chain([unstarted])
        .collect();
    let f = facts(&polled(cluster(3, &[0, 1, 2], &[0, 1, 2]), members), 3);
    let w = assess(&f);
    assert!(!w.is_blocked(), "{}", text(&w));
    let plan = w.plan().unwrap();
    assert!(
        text(&w).contains("3 voters +1L q2 tol1 -> 3 q2 tol1"),
        "{}",
        text(&w)
    );
    assert!(plan.steps.iter().any(|s| matches!(
        &s.op,
        Op::Member(m) if m.change == MemberChange::Verify { voters: 3, timeout: plan::VERIFY_TIMEOUT }
    )));
}
