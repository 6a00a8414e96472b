//! ZooKeeper's member-aware scaling: the same wizard as etcd's (the ensemble now,
//! after, preflight, a plan checked before it runs), with ZooKeeper's two ways to
//! change membership.
//!
//! - Dynamic (3.5+, `reconfigEnabled=true`): a new pod starts, syncs as a non-voting
//!   follower, then `reconfig -add` makes it a participant; a leaving server is
//!   removed with `reconfig -remove` before its pod goes. No server restarts; the
//!   etcd quorum guard applies as is (an add or remove of one voter).
//! - Static (3.4 style, `start-zookeeper --servers=N`): every server must restart to
//!   load the new `zoo.cfg`. The plan takes the rolling over (update strategy
//!   `OnDelete`) so it restarts one server at a time and waits for a leader and every
//!   server serving before the next; growing starts the new servers first, shrinking
//!   restarts the staying servers with the smaller list before any server goes, the
//!   only orders in which every step keeps a quorum ([`static_steps`]).

use std::time::Duration;

use super::{Choices, Facts, Orphan};
use crate::members::zookeeper::config::{ZkConfig, line_for, parse_config};
use crate::ops::ensemble::{MemberChange, PeerUrl};
use crate::ops::op::{Op, WaitFor};
use crate::ops::plan::{Plan, Step};

/// How long a restarted server may take to come back on the new template.
const RESTART_TIMEOUT: Duration = Duration::from_secs(180);
/// How long the ensemble may take to have a leader and every server serving.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(90);

/// How the ensemble's membership changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZkMode {
    /// Not a ZooKeeper ensemble.
    None,
    /// `zoo.cfg` lists `servers` servers, fixed by the template's `--servers`.
    Static { servers: u32 },
    /// `reconfigEnabled=true`: the membership the servers agree on.
    Dynamic { config: ZkConfig },
    /// Neither could be told: why.
    Unknown(String),
}

/// Judges the template and what the servers report.
pub(super) fn mode(
    template: &[String],
    servers: Option<u32>,
    facts_members: &[crate::members::Member],
) -> ZkMode {
    let dynamic = template
        .iter()
        .any(|l| l.replace(' ', "").contains("reconfigEnabled=true"));
    if dynamic {
        let configs: Vec<ZkConfig> = facts_members
            .iter()
            .filter_map(|m| {
                let s = m.status.as_ref()?;
                let c = parse_config(&s.membership.join("\n"))?;
                Some(ZkConfig {
                    version: s.config_version.clone(),
                    ..c
                })
            })
            .collect();
        return match configs
            .iter()
            .max_by_key(|c| configs.iter().filter(|o| o == c).count())
        {
            Some(c) => ZkMode::Dynamic { config: c.clone() },
            None => ZkMode::Unknown(
                "the template enables reconfig, but no server answered `conf` with its membership (add conf to 4lw.commands.whitelist)".to_string(),
            ),
        };
    }
    match servers {
        Some(n) => ZkMode::Static { servers: n },
        None => ZkMode::Unknown(
            "the template neither sets --servers (a static zoo.cfg) nor reconfigEnabled=true"
                .to_string(),
        ),
    }
}

/// One step of a static roll and the quorum of every server list in use during it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollStep {
    pub what: String,
    /// The myids serving during the step.
    pub up: Vec<u64>,
    /// `(list size, servers of that list up, its quorum)` for each list in use.
    pub lists: Vec<(u64, usize, usize)>,
}

impl RollStep {
    /// Every list in use has a quorum up, and any two lists' quorums overlap (lists
    /// whose quorums could be disjoint, as 3 and 5 servers' are, could elect two
    /// leaders at once: a static list only ever changes by one server).
    pub fn keeps_quorum(&self) -> bool {
        self.lists.iter().all(|(_, up, q)| up >= q) && self.overlap()
    }

    fn overlap(&self) -> bool {
        self.lists.iter().all(|(a, _, qa)| {
            self.lists.iter().all(|(b, _, qb)| {
                let big = usize::try_from(*a.max(b)).unwrap_or(usize::MAX);
                a == b || qa + qb > big
            })
        })
    }

    pub fn render(&self) -> String {
        let lists: Vec<String> = self
            .lists
            .iter()
            .map(|(n, up, q)| {
                format!(
                    "{n}-server list {up} of {n} up, quorum {q} {}",
                    if up >= q { "✓" } else { "✗" }
                )
            })
            .collect();
        let overlap = if self.lists.len() > 1 && !self.overlap() {
            " · their quorums need not overlap (two leaders possible) ✗"
        } else {
            ""
        };
        format!("{}: {}{overlap}", self.what, lists.join(" · "))
    }
}

/// The sizes a static resize passes through: one server at a time.
pub fn sizes(from: u32, to: u32) -> Vec<(u32, u32)> {
    if to >= from {
        (from..to).map(|n| (n, n + 1)).collect()
    } else {
        (to..from).rev().map(|n| (n + 1, n)).collect()
    }
}

/// The states a static resize from `from` to `to` servers passes through, in the
/// plan's order (servers are `(myid, size of the list it runs)`), one server more or
/// less at a time; `down` are the myids not serving now (down at every step).
pub fn static_steps(sts: &str, from: u32, to: u32, down: &[u64]) -> Vec<RollStep> {
    let mut running: Vec<(u64, u64)> = (1..=u64::from(from))
        .map(|id| (id, u64::from(from)))
        .collect();
    let mut out = Vec::new();
    let state = |what: String, running: &[(u64, u64)], restarting: Option<u64>| {
        let up: Vec<u64> = running
            .iter()
            .map(|(id, _)| *id)
            .filter(|id| Some(*id) != restarting && !down.contains(id))
            .collect();
        let mut lists: Vec<u64> = running.iter().map(|(_, n)| *n).collect();
        lists.sort();
        lists.dedup();
        let lists = lists
            .into_iter()
            .map(|n| {
                let listed = up.iter().filter(|id| **id <= n).count();
                (n, listed, usize::try_from(n / 2 + 1).unwrap_or(usize::MAX))
            })
            .collect();
        RollStep { what, up, lists }
    };
    let pod = |id: u64| format!("{sts}-{}", id - 1);
    for (a, b) in sizes(from, to) {
        let (a, b) = (u64::from(a), u64::from(b));
        if b < a {
            out.push(state(
                format!(
                    "restart {} (server.{a}) if it leads, so a server that stays leads",
                    pod(a)
                ),
                &running,
                Some(a),
            ));
        }
        if b > a {
            running.push((b, b));
            out.push(state(
                format!("start {} (server.{b}) with the {b}-server list", pod(b)),
                &running,
                None,
            ));
        }
        let staying = a.min(b);
        for (i, id) in (1..=staying).rev().enumerate() {
            out.push(state(
                format!(
                    "restart server {} of {staying} with the {b}-server list (followers first, the leader last)",
                    i + 1
                ),
                &running,
                Some(id),
            ));
            if let Some(s) = running.iter_mut().find(|(i, _)| *i == id) {
                s.1 = b;
            }
        }
        if b < a {
            running.retain(|(i, _)| *i != a);
            out.push(state(
                format!("remove {} (server.{a})", pod(a)),
                &running,
                None,
            ));
        }
    }
    out
}

/// The command with `--servers=<n>` set to `to` in every word that has it.
pub fn with_servers(command: &[String], to: u32) -> Vec<String> {
    command
        .iter()
        .map(|w| {
            let mut out = String::new();
            let mut rest = w.as_str();
            while let Some(i) = rest.find("--servers=") {
                out.push_str(&rest[..i]);
                out.push_str(&format!("--servers={to}"));
                let after = &rest[i + "--servers=".len()..];
                let digits = after.chars().take_while(char::is_ascii_digit).count();
                rest = &after[digits..];
            }
            out.push_str(rest);
            out
        })
        .collect()
}

impl Facts {
    fn wait_updated(&self, ordinal: i32) -> Step {
        Step::new(
            Op::Wait {
                what: WaitFor::PodUpdated {
                    namespace: self.namespace.clone(),
                    statefulset: self.statefulset.clone(),
                    name: self.pod_name(ordinal),
                },
                timeout: RESTART_TIMEOUT,
            },
            false,
        )
    }

    fn settle(&self, voters: usize) -> Step {
        self.member_op(MemberChange::Verify {
            voters,
            timeout: SETTLE_TIMEOUT,
        })
    }

    fn strategy(&self, to: &str, from: &str) -> Step {
        Step::new(
            Op::SetUpdateStrategy {
                namespace: self.namespace.clone(),
                statefulset: self.statefulset.clone(),
                strategy: to.to_string(),
                expect_current: from.to_string(),
            },
            false,
        )
    }

    /// Static resize, one server more or less at a time: the template's list (and,
    /// growing, the replicas), then every server that stays restarted one at a time
    /// with a settle check after each, then (shrinking) the highest server goes.
    pub(crate) fn plan_zk_static(&self, choices: Choices) -> Plan {
        let (from, to) = (self.replicas, self.target);
        let mut plan = self.plan_shell(format!(
            "Resize the static ZooKeeper ensemble {}/{} from {from} to {to} servers, one server and one restart at a time",
            self.namespace, self.statefulset
        ));
        let own = self.update_strategy != "OnDelete";
        if own {
            plan = plan.step(self.strategy("OnDelete", &self.update_strategy));
        }
        let mut command = self.command.clone();
        let steps = sizes(
            u32::try_from(from).unwrap_or(0),
            u32::try_from(to).unwrap_or(0),
        );
        for (a, b) in steps {
            let (a, b) = (i32::try_from(a).unwrap_or(0), i32::try_from(b).unwrap_or(0));
            let voters = usize::try_from(b).unwrap_or(0);
            let next = with_servers(&command, u32::try_from(b).unwrap_or(0));
            if b < a {
                // The server leaving must not lead: the others would not follow it.
                plan = plan.step(self.member_op(MemberChange::MoveLeaderAway {
                    name: self.pod_name(b),
                    avoid: Vec::new(),
                }));
            }
            plan = plan.step(Step::new(
                Op::SetContainerCommand {
                    namespace: self.namespace.clone(),
                    statefulset: self.statefulset.clone(),
                    container: self.container.clone(),
                    command: next.clone(),
                    expect_current: command,
                },
                true,
            ));
            command = next;
            if b > a {
                plan = plan
                    .step(self.scale(a, b))
                    .step(self.wait_updated(a))
                    .step(self.settle(voters));
            }
            for _ in 0..a.min(b) {
                plan = plan.step(self.member_op(MemberChange::RestartNext {
                    voters,
                    timeout: RESTART_TIMEOUT,
                }));
            }
            if b < a {
                plan = plan.step(self.scale(a, b)).step(self.wait(
                    WaitFor::PodGone {
                        namespace: self.namespace.clone(),
                        name: self.pod_name(b),
                    },
                    super::plan::POD_GONE_TIMEOUT,
                ));
                if choices.delete_claims {
                    for claim in self.claims_of(b) {
                        plan = plan.step(self.delete_claim(&claim));
                    }
                }
            }
        }
        if own {
            plan = plan.step(self.strategy(&self.update_strategy, "OnDelete"));
        }
        plan.step(self.settle(usize::try_from(to).unwrap_or(0)))
    }

    /// The server line a new pod `ordinal` is added with.
    fn new_line(&self, config: &ZkConfig, ordinal: i32) -> Option<String> {
        let myid = u64::try_from(ordinal).ok()? + 1;
        let (pattern, pod) = config.servers.iter().find_map(|l| {
            let pod = crate::members::zookeeper::config::pod_of(l, &self.statefulset)?;
            Some((l, pod))
        })?;
        Some(line_for(pattern, &pod, &self.pod_name(ordinal), myid).line())
    }

    /// Dynamic resize, one server at a time, no restarts.
    pub(crate) fn plan_zk_dynamic(&self, config: &ZkConfig, choices: Choices) -> Plan {
        let (from, to) = (self.replicas, self.target);
        let mut plan = self.plan_shell(format!(
            "Resize the ZooKeeper ensemble {}/{} from {from} to {to} servers online (reconfig)",
            self.namespace, self.statefulset
        ));
        let mut voters = config.voters().count();
        for o in from..to {
            let Some(line) = self.new_line(config, o) else {
                continue;
            };
            let name = self.pod_name(o);
            voters += 1;
            plan = plan
                .step(self.scale(o, o + 1))
                .step(self.wait(
                    WaitFor::PodReady {
                        namespace: self.namespace.clone(),
                        name: name.clone(),
                    },
                    super::plan::POD_READY_TIMEOUT,
                ))
                .step(self.member_op(MemberChange::AddVoter {
                    name,
                    peer: PeerUrl::Fixed(line),
                }))
                .step(self.settle(voters));
        }
        for o in (to..from).rev() {
            let name = self.pod_name(o);
            let myid = u64::try_from(o).unwrap_or(0) + 1;
            if config.server(myid).is_some() {
                voters = voters.saturating_sub(1);
                plan = plan.step(self.member_op(MemberChange::Remove {
                    name: name.clone(),
                    id: myid,
                }));
            }
            plan = plan.step(self.scale(o + 1, o)).step(self.wait(
                WaitFor::PodGone {
                    namespace: self.namespace.clone(),
                    name,
                },
                super::plan::POD_GONE_TIMEOUT,
            ));
            if choices.delete_claims {
                for claim in self.claims_of(o) {
                    plan = plan.step(self.delete_claim(&claim));
                }
            }
        }
        if to < from {
            plan = plan.step(self.settle(voters));
        }
        plan
    }
}

/// The pages after "The ensemble now", the blocker or the plan, for ZooKeeper.
pub(super) fn assess(
    f: &Facts,
    mut w: super::Wizard,
    shape: super::Shape,
    orphans: Vec<Orphan>,
) -> super::Wizard {
    use super::Shape;
    use std::sync::Arc;
    if shape != Shape::Nothing {
        w.add_option(
            'c',
            "delete the claims (and volumes) of removed servers",
            false,
        );
    }
    let choices = |opts: &[super::WizardOption]| Choices {
        snapshot: false,
        delete_claims: opts.iter().any(|o| o.key == 'c' && o.on),
    };
    let default_choices = choices(&w.options);
    let plan_now = match (&f.zk, shape) {
        (_, Shape::Nothing) => None,
        (ZkMode::Static { .. }, Shape::Up | Shape::Down) => Some(f.plan_zk_static(default_choices)),
        (ZkMode::Dynamic { config }, Shape::Up | Shape::Down) => {
            Some(f.plan_zk_dynamic(config, default_choices))
        }
        (ZkMode::Dynamic { .. }, Shape::Orphans) => Some(f.plan_orphans(&orphans, default_choices)),
        _ => None,
    };
    w.pages
        .push(after_page(f, shape, plan_now.as_ref(), &orphans));
    let (pre, blocker) = preflight(f, shape, &orphans);
    w.pages.push(pre);
    if let Some((reason, fix)) = blocker {
        w.block_as(reason, fix, None);
        return w;
    }
    if let Some(p) = &plan_now {
        let refused = match &f.zk {
            ZkMode::Static { .. } => static_steps(
                &f.statefulset,
                u32::try_from(f.replicas).unwrap_or(0),
                u32::try_from(f.target).unwrap_or(0),
                &down_now(f),
            )
            .into_iter()
            .find(|s| !s.keeps_quorum())
            .map(|s| {
                format!(
                    "the plan was refused before running: it would lose a quorum at \"{}\"",
                    s.render()
                )
            }),
            _ => super::guard(f, p).err(),
        };
        if let Some(why) = refused {
            w.block_as(why, Vec::new(), None);
            return w;
        }
    }
    let Some(_) = plan_now else {
        return w;
    };
    let facts = Arc::new(f.clone());
    let orphans = Arc::new(orphans);
    w.set_plan(Arc::new(move |opts: &[super::WizardOption]| {
        let c = choices(opts);
        match (&facts.zk, shape) {
            (ZkMode::Static { .. }, _) => facts.plan_zk_static(c),
            (ZkMode::Dynamic { .. }, Shape::Orphans) => facts.plan_orphans(&orphans, c),
            (ZkMode::Dynamic { config }, _) => facts.plan_zk_dynamic(config, c),
            _ => facts.plan_shell("nothing to do".to_string()),
        }
    }));
    w
}

/// The myids that do not serve now.
fn down_now(f: &Facts) -> Vec<u64> {
    f.members
        .iter()
        .filter(|m| !m.health.is_healthy())
        .map(|m| m.id)
        .collect()
}

fn after_page(
    f: &Facts,
    shape: super::Shape,
    plan: Option<&Plan>,
    orphans: &[Orphan],
) -> super::Page {
    let mut p = super::Page::new("After");
    let Some(plan) = plan else {
        match (&f.zk, shape) {
            (_, super::Shape::Nothing) => p.ok(format!(
                "{} already has {} servers and every server has its pod: nothing to change",
                f.statefulset, f.target
            )),
            (ZkMode::Unknown(why), _) => p.bad(why.clone()),
            (ZkMode::Static { .. }, _) => p.bad(format!(
                "the static zoo.cfg lists {} without a pod: resize with the current replicas to rewrite the list",
                orphans
                    .iter()
                    .map(|o| format!("server.{}", o.id))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            _ => {}
        }
        return p;
    };
    match &f.zk {
        ZkMode::Static { servers } => {
            p.plain(format!(
                "{} -> {} servers, one server more or less at a time (lists two apart could elect two leaders): each size's zoo.cfg reaches every server by restarting one at a time, waiting for a leader and every server serving before the next (zoo.cfg lists {servers} now)",
                f.replicas, f.target
            ));
            let steps = static_steps(
                &f.statefulset,
                u32::try_from(f.replicas).unwrap_or(0),
                u32::try_from(f.target).unwrap_or(0),
                &down_now(f),
            );
            for s in steps {
                if s.keeps_quorum() {
                    p.plain(s.render())
                } else {
                    p.bad(s.render())
                }
            }
            if f.target < f.replicas {
                p.plain("servers that stay restart with the smaller list before any server goes: removing first would leave the larger list without a quorum during the restarts");
            }
        }
        ZkMode::Dynamic { config } => {
            p.plain(format!(
                "{} -> {} participants, one at a time, online (reconfig; config version {} now); no server restarts",
                config.voters().count(),
                f.target,
                config.version.as_deref().unwrap_or("?")
            ));
            p.plain(crate::members::quorum::render_steps(&super::arithmetic(
                f, plan,
            )));
        }
        _ => {}
    }
    let end = crate::members::Quorum::new(usize::try_from(f.target).unwrap_or(0), 0);
    if end.is_even() {
        p.warn(format!(
            "{} voters tolerate no more failures than {}: an odd size is better",
            end.voters,
            end.voters - 1
        ));
    }
    p
}

/// `srvr` against a server, as an operator would ask it from a pod.
fn srvr(f: &Facts, pod: &str) -> String {
    format!(
        "kubectl -n {} exec {pod} -- bash -c 'exec 3<>/dev/tcp/127.0.0.1/{port}; printf srvr >&3; cat <&3'",
        f.namespace,
        port = f.client_port
    )
}

fn preflight(f: &Facts, shape: super::Shape, orphans: &[Orphan]) -> (super::Page, super::Blocked) {
    use super::Shape;
    let mut p = super::Page::new("Preflight");
    let mut blocked: super::Blocked = None;
    let mut block = |reason: String, fix: Vec<String>| {
        if blocked.is_none() {
            blocked = Some((reason, fix));
        }
    };
    match &f.zk {
        ZkMode::Static { servers } => p.ok(format!(
            "static membership: the template's --servers={servers} writes every zoo.cfg"
        )),
        ZkMode::Dynamic { config } => p.ok(format!(
            "dynamic membership (reconfigEnabled): config version {}, {} participants",
            config.version.as_deref().unwrap_or("?"),
            config.voters().count()
        )),
        ZkMode::Unknown(why) => {
            p.bad(why.clone());
            block(
                format!("kcops cannot tell how this ensemble's membership changes: {why}"),
                vec![format!(
                    "kubectl -n {} get sts {} -o yaml",
                    f.namespace, f.statefulset
                )],
            );
        }
        ZkMode::None => {}
    }
    if let ZkMode::Static { .. } = f.zk
        && shape == Shape::Orphans
    {
        block(
            format!(
                "zoo.cfg lists {} that have no pod",
                orphans
                    .iter()
                    .map(|o| o.name.clone())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            vec![format!(
                "kcops: :scale {}/{} {} (rewrites --servers to the replicas, restarting one server at a time)",
                f.namespace,
                f.statefulset,
                f.replicas + 1
            )],
        );
    }
    let going: Vec<String> = match shape {
        Shape::Orphans => orphans.iter().map(|o| o.name.clone()).collect(),
        Shape::Down => (f.target..f.replicas).map(|o| f.pod_name(o)).collect(),
        _ => Vec::new(),
    };
    let adding: Vec<String> = match shape {
        Shape::Up => (f.replicas..f.target).map(|o| f.pod_name(o)).collect(),
        _ => Vec::new(),
    };
    let sick: Vec<&crate::members::Member> = f
        .members
        .iter()
        .filter(|m| !m.health.is_healthy() && !going.contains(&m.label()))
        .collect();
    if sick.is_empty() {
        p.ok("every server that stays serves");
    } else {
        for m in &sick {
            p.bad(format!(
                "{} (server.{}) is {}: {}",
                m.label(),
                m.id,
                m.health.word(),
                m.health.reason().unwrap_or_default()
            ));
        }
        block(
            format!(
                "{} not serving and would stay: no change until every remaining server serves",
                sick.iter()
                    .map(|m| m.label())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            sick.iter()
                .map(|m| match &m.pod {
                    Some(pod) => format!("kubectl -n {} logs {pod}", f.namespace),
                    None => srvr(f, &f.pod_name(0)),
                })
                .collect(),
        );
    }
    match f.members.iter().find(|m| m.leader) {
        Some(l) => p.ok(format!("leader: {} (server.{})", l.label(), l.id)),
        None => {
            p.bad("no server reports being the leader");
            block(
                "the ensemble has no leader: no membership change can be committed".into(),
                vec![srvr(f, &f.pod_name(0))],
            );
        }
    }
    let pending: Vec<&crate::members::Member> = f
        .members
        .iter()
        .filter(|m| m.learner && !going.contains(&m.label()) && !adding.contains(&m.label()))
        .collect();
    if pending.is_empty() {
        p.ok("no server waiting without a vote");
    } else {
        for m in &pending {
            p.bad(format!(
                "{} (server.{}) runs without a vote (not a participant in the config)",
                m.label(),
                m.id
            ));
        }
        block(
            "a server runs without a vote: add it (scale up to include it) or scale it away first"
                .into(),
            vec![format!(
                "kcops: :scale {}/{} {}",
                f.namespace, f.statefulset, f.replicas
            )],
        );
    }
    if let ZkMode::Dynamic { .. } = f.zk
        && shape != Shape::Nothing
    {
        if crate::ops::steps::zookeeper::auth_configured() {
            p.ok(format!(
                "reconfig credentials given ({})",
                crate::ops::steps::zookeeper::AUTH_ENV
            ));
        } else {
            p.bad("no credentials for reconfig: the config znode is writable by a super user only");
            block(
                format!(
                    "reconfig needs a super user's credentials: start kcops with {}=digest:<user>:<password> (the user of the servers' zookeeper.DigestAuthenticationProvider.superDigest)",
                    crate::ops::steps::zookeeper::AUTH_ENV
                ),
                vec![format!(
                    "{}=digest:super:<password> kcops",
                    crate::ops::steps::zookeeper::AUTH_ENV
                )],
            );
        }
    }
    if shape == Shape::Up
        && let Some((reason, fix)) = super::stale_claims(
            f,
            &mut p,
            "its server would start on an old server's data and config",
        )
    {
        block(reason, fix);
    }
    super::budgets_lines(&mut p, &f.budgets);
    (p, blocked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_resizes_keep_a_quorum_at_every_step() {
        for (from, to) in [(3, 5), (5, 3), (3, 4), (5, 7), (7, 3)] {
            let steps = static_steps("zk", from, to, &[]);
            for s in &steps {
                assert!(s.keeps_quorum(), "{from} -> {to}: {}", s.render());
            }
        }
        // One server cannot restart without an outage: growing from one is refused.
        assert!(
            !static_steps("zk", 1, 3, &[])
                .iter()
                .all(RollStep::keeps_quorum)
        );
        let up = static_steps("zk", 3, 5, &[]);
        assert_eq!(
            up.iter().map(|s| s.what.as_str()).collect::<Vec<_>>(),
            [
                "start zk-3 (server.4) with the 4-server list",
                "restart server 1 of 3 with the 4-server list (followers first, the leader last)",
                "restart server 2 of 3 with the 4-server list (followers first, the leader last)",
                "restart server 3 of 3 with the 4-server list (followers first, the leader last)",
                "start zk-4 (server.5) with the 5-server list",
                "restart server 1 of 4 with the 5-server list (followers first, the leader last)",
                "restart server 2 of 4 with the 5-server list (followers first, the leader last)",
                "restart server 3 of 4 with the 5-server list (followers first, the leader last)",
                "restart server 4 of 4 with the 5-server list (followers first, the leader last)",
            ]
        );
        assert_eq!(
            up[1].render(),
            "restart server 1 of 3 with the 4-server list (followers first, the leader last): 3-server list 2 of 3 up, quorum 2 ✓ · 4-server list 3 of 4 up, quorum 3 ✓"
        );
        let down = static_steps("zk", 5, 3, &[]);
        assert_eq!(
            down.last().map(|s| s.what.as_str()),
            Some("remove zk-3 (server.4)")
        );
        assert_eq!(down.last().map(|s| s.lists.clone()), Some(vec![(3, 3, 2)]));
        // A server already down: restarting another loses the quorum of three.
        let sick = static_steps("zk", 3, 4, &[1]);
        assert!(!sick.iter().all(RollStep::keeps_quorum));
    }

    #[test]
    fn lists_two_apart_could_elect_two_leaders() {
        // 3 and 5 servers: {1,2} and {3,4,5} are quorums of each, and disjoint.
        let jump = RollStep {
            what: "restart zk-2 with the 5-server list".into(),
            up: vec![1, 2, 3, 4, 5],
            lists: vec![(3, 3, 2), (5, 5, 3)],
        };
        assert!(!jump.keeps_quorum());
        assert!(
            jump.render().ends_with("(two leaders possible) ✗"),
            "{}",
            jump.render()
        );
    }

    #[test]
    fn the_servers_flag_is_rewritten_in_place() {
        let cmd = vec![
            "sh".to_string(),
            "-c".to_string(),
            "start-zookeeper \\\n --servers=3 \\\n --data_dir=/var/lib/zookeeper/data".to_string(),
        ];
        let new = with_servers(&cmd, 5);
        assert_eq!(
            new[2],
            "start-zookeeper \\\n --servers=5 \\\n --data_dir=/var/lib/zookeeper/data"
        );
        assert_eq!(with_servers(&new, 13)[2].matches("--servers=13").count(), 1);
    }

    fn zk_facts(replicas: i32, running: &[usize], target: i32) -> Facts {
        let s = crate::members::fixtures::zookeeper(
            replicas,
            u64::try_from(replicas).unwrap(),
            running,
        );
        super::super::gather(&s, "default", "zk", target, Ok(Vec::new()), "/tmp".into()).unwrap()
    }

    #[test]
    fn a_static_resize_through_two_servers_is_refused_before_it_runs() {
        let f = zk_facts(3, &[0, 1, 2], 1);
        assert_eq!(f.zk, ZkMode::Static { servers: 3 });
        let w = super::super::assess(&f);
        let b = w.blocker.as_ref().expect("refused");
        assert!(b.reason.contains("would lose a quorum"), "{}", b.reason);
        assert!(w.plan().is_none());
    }

    #[test]
    fn a_server_down_blocks_a_static_resize() {
        let f = zk_facts(3, &[0, 1], 5);
        let w = super::super::assess(&f);
        let b = w.blocker.as_ref().expect("blocked");
        assert!(b.reason.contains("zk-2 not serving"), "{}", b.reason);
    }

    #[test]
    fn a_static_grow_restarts_every_server_one_size_at_a_time() {
        let f = zk_facts(3, &[0, 1, 2], 5);
        let w = super::super::assess(&f);
        assert!(w.blocker.is_none(), "{:?}", w.blocker);
        let plan = w.plan().expect("a plan");
        let shape: Vec<&str> = plan.steps.iter().map(|s| s.op.action()).collect();
        assert_eq!(
            shape,
            [
                "set-update-strategy",
                "set-template-command",
                "scale",
                "wait",
                "member-verify",
                "restart-member",
                "restart-member",
                "restart-member",
                "set-template-command",
                "scale",
                "wait",
                "member-verify",
                "restart-member",
                "restart-member",
                "restart-member",
                "restart-member",
                "set-update-strategy",
                "member-verify"
            ]
        );
        let commands: Vec<String> = plan
            .steps
            .iter()
            .filter_map(|s| match &s.op {
                Op::SetContainerCommand { command, .. } => Some(command.join(" ")),
                _ => None,
            })
            .collect();
        assert!(commands[0].contains("--servers=4") && commands[1].contains("--servers=5"));
    }
}
