//! The template change that lets a new member join (`:etcd-join-template ns/name`,
//! offered by the scaling wizard's blocker): why the template cannot join, the new
//! start line by line, and the plan: patch the StatefulSet's container command, then
//! let its RollingUpdate restart the members one at a time (highest ordinal first),
//! each back Ready on the new revision and the ensemble all healthy before the next.

use std::sync::Arc;
use std::time::Duration;

use super::Facts;
use super::template::{Join, diff, join_aware};
use crate::ops::ensemble::{MemberChange, MemberOp};
use crate::ops::op::{ObjectRef, Op, WaitFor};
use crate::ops::plan::{Confirmation, Plan, Step};
use crate::ops::wizard::{Page, Wizard, WizardOption};

/// How long one restarted member may take to come back.
const RESTART_TIMEOUT: Duration = Duration::from_secs(180);

/// The pages, and the blocker or the plan.
pub fn assess(f: &Facts) -> Wizard {
    let subject = ObjectRef::new("StatefulSet", Some(&f.namespace), f.statefulset.as_str());
    let mut w = Wizard::new(
        format!(
            "Let new members join: the start of {}/{}",
            f.namespace, f.statefulset
        ),
        subject,
    );
    let mut why = Page::new("Why");
    match &f.join {
        Join::AlwaysNew { line } => {
            why.bad(format!("every pod starts etcd with `{line}`"));
            why.plain("etcd reads --initial-cluster-state only while its data dir is empty: a new member's pod then bootstraps a cluster of its own from --initial-cluster; the running members reject its messages (another cluster ID) and the pod crash-loops.");
            why.plain("With `existing` and --initial-cluster = the members listed + itself, a member added first (the scaling wizard adds it) joins the running cluster instead.");
        }
        Join::Aware => why.ok("the template already joins an existing cluster"),
        Join::Unknown => {
            why.warn("the template does not say how etcd starts (--initial-cluster-state)")
        }
    }
    w.pages.push(why);
    let new = join_aware(&f.command, &f.service, f.client_port);
    let mut change = Page::new("Template change");
    match &new {
        Some(new) => {
            change.plain(format!(
                "container {} of StatefulSet {}/{}, command:",
                f.container, f.namespace, f.statefulset
            ));
            for l in diff(&f.command, new) {
                match l.chars().next() {
                    Some('+') => change.ok(l),
                    Some('-') => change.bad(l),
                    _ => change.plain(l),
                }
            }
        }
        None => {
            change.warn("no `--initial-cluster-state new` start with an `exec etcd` line to change")
        }
    }
    w.pages.push(change);
    let mut pre = Page::new("Preflight");
    let sick: Vec<String> = f
        .members
        .iter()
        .filter(|m| !m.health.is_healthy())
        .map(|m| m.label())
        .collect();
    let healthy = f
        .members
        .iter()
        .filter(|m| !m.learner && m.health.is_healthy())
        .count();
    let voters = f.members.iter().filter(|m| !m.learner).count();
    let quorum = voters / 2 + 1;
    if f.update_strategy == "RollingUpdate" {
        pre.ok("update strategy RollingUpdate: the pods restart one at a time");
    } else {
        pre.bad(format!(
            "update strategy {}: the pods would not restart",
            f.update_strategy
        ));
    }
    if sick.is_empty() {
        pre.ok("every member is healthy");
    } else {
        pre.bad(format!("not healthy: {}", sick.join(", ")));
    }
    pre.plain(format!(
        "each restart leaves {} of {voters} voters (quorum {quorum})",
        healthy.saturating_sub(1)
    ));
    w.pages.push(pre);
    let Some(new) = new else {
        w.block_as(
            "there is nothing this wizard can change in the template",
            Vec::new(),
            None,
        );
        return w;
    };
    if f.join == Join::Aware {
        w.block_as(
            "the template already joins an existing cluster",
            Vec::new(),
            None,
        );
        return w;
    }
    if f.update_strategy != "RollingUpdate" {
        w.block_as(
            format!("the StatefulSet's update strategy is {}", f.update_strategy),
            vec![format!(
                "kubectl -n {} patch statefulset {} -p '{{\"spec\":{{\"updateStrategy\":{{\"type\":\"RollingUpdate\"}}}}}}'",
                f.namespace, f.statefulset
            )], None);
        return w;
    }
    if !sick.is_empty() || healthy.saturating_sub(1) < quorum {
        w.block_as(
            format!(
                "restarting a member would leave {} healthy of {voters} voters, fewer than the quorum of {quorum}",
                healthy.saturating_sub(1)
            ),
            Vec::new(), None);
        return w;
    }
    let facts = Arc::new(f.clone());
    w.set_plan(Arc::new(move |_: &[WizardOption]| plan(&facts, &new)));
    w
}

fn plan(f: &Facts, new: &[String]) -> Plan {
    let mut plan = Plan::new(
        format!(
            "Change the start of {}/{} to join an existing cluster, restarting members one at a time",
            f.namespace, f.statefulset
        ),
        ObjectRef::new("StatefulSet", Some(&f.namespace), f.statefulset.as_str()),
        Confirmation::TypedName(f.statefulset.clone()),
    )
    .step(Step::new(
        Op::SetContainerCommand {
            namespace: f.namespace.clone(),
            statefulset: f.statefulset.clone(),
            container: f.container.clone(),
            command: new.to_vec(),
            expect_current: f.command.clone(),
        },
        true,
    ));
    let voters = f.members.iter().filter(|m| !m.learner).count();
    for ordinal in (0..f.replicas).rev() {
        plan = plan
            .then_wait(
                WaitFor::PodUpdated {
                    namespace: f.namespace.clone(),
                    statefulset: f.statefulset.clone(),
                    name: format!("{}-{ordinal}", f.statefulset),
                },
                RESTART_TIMEOUT,
            )
            .step(Step::new(
                Op::Member(MemberOp {
                    ensemble: f.ensemble_ref(),
                    change: MemberChange::Verify {
                        voters,
                        timeout: RESTART_TIMEOUT,
                    },
                }),
                false,
            ));
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::members::fixtures::{cluster, member, polled};
    use crate::model::members::Health;

    fn field_facts() -> Facts {
        let ordinals = [0, 1, 2];
        let s = polled(
            cluster(3, &ordinals, &ordinals),
            ordinals
                .iter()
                .map(|&i| member(i, Health::Healthy, 100))
                .collect(),
        );
        let mut f =
            super::super::gather(&s, "default", "etcd", 4, Ok(vec![]), "/tmp".into()).unwrap();
        f.command = vec![
            "/bin/sh".into(),
            "-ec".into(),
            "exec etcd --name ${HOSTNAME} \\\n  --initial-advertise-peer-urls http://${POD_IP}:2380 \\\n  --initial-cluster ${PEERS} \\\n  --initial-cluster-state new \\\n  --data-dir /var/run/etcd/default.etcd\n".into(),
        ];
        f.join = super::super::template::join_support(&[f.command[2].clone()]);
        f.service = "etcd".into();
        f
    }

    #[test]
    fn the_field_template_gets_a_rolling_change_one_member_at_a_time() {
        let f = field_facts();
        let w = assess(&f);
        let text = w.render().join("\n");
        assert!(text.contains("bootstraps a cluster of its own"), "{text}");
        assert!(
            text.contains("✗ -   --initial-cluster-state new \\"),
            "{text}"
        );
        assert!(
            text.contains("✓ +   --initial-cluster-state ${KCOPS_STATE} \\"),
            "{text}"
        );
        let plan = w.plan().unwrap();
        let shape: Vec<String> = plan
            .steps
            .iter()
            .map(|s| format!("{} {}", s.op.action(), s.op.object().name))
            .collect();
        assert_eq!(
            shape,
            [
                "set-template-command etcd",
                "wait etcd-2",
                "member-verify etcd",
                "wait etcd-1",
                "member-verify etcd",
                "wait etcd-0",
                "member-verify etcd",
            ]
        );
        assert_eq!(plan.confirmation, Confirmation::TypedName("etcd".into()));
        // Once changed, there is nothing left to do.
        let mut done = f.clone();
        done.command = join_aware(&f.command, "etcd", 2379).unwrap();
        done.join = Join::Aware;
        assert!(assess(&done).is_blocked());
    }

    #[test]
    fn a_member_down_blocks_the_rolling_change() {
        let mut f = field_facts();
        f.members[1].health = Health::Unreachable("refused".into());
        let w = assess(&f);
        assert!(w.blocker.unwrap().reason.contains("fewer than the quorum"));
    }
}
