//! Member-aware scaling of an ensemble's StatefulSet (`s` on it, `:scale ns/name N`):
//! the pods and the registered members change together, one member at a time, so the
//! ensemble keeps its quorum throughout. [`gather`] reads the ensemble from the
//! console's snapshot (members as the poll found them, pods, claims, the template) and
//! its PodDisruptionBudgets from the API server; [`assess`] is pure: the ensemble now,
//! the quorum arithmetic of every step, the preflight, then a blocker with the exact
//! commands (or the next wizard) or the plan ([`plan`]), which the quorum guard
//! ([`plan::guard`]) has checked.
//!
//! etcd's plans are in [`plan`]; ZooKeeper's ([`zookeeper`]) reuse the same pages,
//! guard and member changes, with `reconfig` (dynamic) or a one-at-a-time restart
//! with a new server list (static).

pub mod join;
pub mod plan;
pub mod template;
pub mod zookeeper;

use std::path::PathBuf;
use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::Client;
use kube::api::{Api, ListParams};

use super::error::WizardError;
use super::{Page, Wizard, WizardOption};
use crate::members::{Ensemble, EnsembleKind, EnsemblePod, Member, Owner, Quorum, Tls};
use crate::model::snapshot::Snapshot;
use crate::ops::ensemble::EnsembleRef;
use crate::ops::op::ObjectRef;
pub use plan::{Choices, arithmetic, guard};
use template::Join;

/// A member registered without a pod of the StatefulSet's current size (left by a
/// plain `kubectl scale` down), and the claims its ordinal left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orphan {
    pub name: String,
    pub id: u64,
    pub claims: Vec<String>,
}

/// A PodDisruptionBudget selecting the ensemble's pods, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    pub name: String,
    /// `minAvailable 2` or `maxUnavailable 1`.
    pub rule: String,
    pub disruptions_allowed: i32,
}

/// What the wizard judges.
#[derive(Debug, Clone)]
pub struct Facts {
    pub kind: EnsembleKind,
    pub namespace: String,
    pub statefulset: String,
    /// The StatefulSet's desired replicas now.
    pub replicas: i32,
    /// The size asked for.
    pub target: i32,
    pub members: Vec<Member>,
    pub pods: Vec<EnsemblePod>,
    /// Why the member list could not be read (`None`: it was); `Some("")` never.
    pub poll_error: Option<String>,
    /// The poll ran at least once.
    pub polled: bool,
    /// Claims per ordinal (`data-etcd-2`), from the claim templates, as they exist.
    pub claims: Vec<(i32, String)>,
    /// The etcd version the members report (the oldest), else the image's tag.
    pub version: Option<String>,
    pub join: Join,
    /// The template lines (command, args, environment), as judged for joining.
    pub template: Vec<String>,
    /// The etcd container's name and command (the template plan changes it).
    pub container: String,
    pub command: Vec<String>,
    /// The headless service (`spec.serviceName`) that names the members.
    pub service: String,
    /// `RollingUpdate` or `OnDelete`.
    pub update_strategy: String,
    /// `Err`: the budgets could not be read.
    pub budgets: Result<Vec<Budget>, String>,
    pub client_port: u16,
    pub tls: Tls,
    /// `(scheme, rest)` when members advertise `scheme://<name><rest>` (a stable DNS
    /// name); `None` when they advertise their pod IP.
    pub peer_host_pattern: Option<(String, String)>,
    pub peer_scheme: String,
    pub peer_port: u16,
    /// Where snapshots before removals are saved.
    pub snapshot_dir: PathBuf,
    /// How a ZooKeeper ensemble's membership changes (`ZkMode::None` for etcd).
    pub zk: zookeeper::ZkMode,
    pub now: Timestamp,
}

impl Facts {
    pub(crate) fn ensemble_ref(&self) -> EnsembleRef {
        EnsembleRef {
            kind: self.kind,
            namespace: self.namespace.clone(),
            statefulset: self.statefulset.clone(),
            client_port: self.client_port,
            tls: self.tls.clone(),
            static_pods: false,
            host_root: PathBuf::from("/"),
        }
    }

    pub(crate) fn claims_of(&self, ordinal: i32) -> Vec<String> {
        self.claims
            .iter()
            .filter(|(o, _)| *o == ordinal)
            .map(|(_, c)| c.clone())
            .collect()
    }

    fn ordinal_of(&self, name: &str) -> Option<i32> {
        name.strip_prefix(&self.statefulset)?
            .strip_prefix('-')?
            .parse()
            .ok()
    }

    /// Learners exist from etcd 3.4 on (an unknown version is taken as new enough:
    /// the add then fails cleanly on an older server).
    pub fn learners_supported(&self) -> bool {
        match self.version.as_deref().and_then(major_minor) {
            Some((major, minor)) => (major, minor) >= (3, 4),
            None => true,
        }
    }

    /// Registered members without a pod whose ordinal is beyond the current size, and
    /// members added but never started (a join that failed half-way).
    pub fn orphans(&self) -> Vec<Orphan> {
        self.members
            .iter()
            .filter(|m| m.pod.is_none())
            .filter(|m| {
                m.name.is_empty() || self.ordinal_of(&m.name).is_some_and(|o| o >= self.replicas)
            })
            .map(|m| Orphan {
                name: m.label(),
                id: m.id,
                claims: self
                    .ordinal_of(&m.name)
                    .map(|o| self.claims_of(o))
                    .unwrap_or_default(),
            })
            .collect()
    }

    pub(crate) fn quorum(&self) -> Quorum {
        let learners = self.members.iter().filter(|m| m.learner).count();
        Quorum::new(self.members.len() - learners, learners)
    }

    /// `kubectl exec` into a healthy member to run `etcdctl args` (for blockers).
    fn etcdctl(&self, args: &str) -> String {
        let pod = self
            .members
            .iter()
            .find(|m| m.health.is_healthy())
            .and_then(|m| m.pod.clone())
            .unwrap_or_else(|| format!("{}-0", self.statefulset));
        format!(
            "kubectl -n {} exec {pod} -- etcdctl --endpoints=http://127.0.0.1:{} {args}",
            self.namespace, self.client_port
        )
    }
}

/// `v3.4.23`, `3.2.3` -> `(3, 4)`.
fn major_minor(v: &str) -> Option<(u32, u32)> {
    let mut parts = v.trim_start_matches('v').split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// The ensemble of StatefulSet `namespace/name` from the snapshot; the budgets are
/// passed in (read by [`read_budgets`]).
pub fn gather(
    s: &Snapshot,
    namespace: &str,
    name: &str,
    target: i32,
    budgets: Result<Vec<Budget>, String>,
    snapshot_dir: PathBuf,
) -> Result<Facts, WizardError> {
    let sts = s
        .statefulsets
        .iter()
        .find(|x| {
            x.metadata.namespace.as_deref() == Some(namespace)
                && x.metadata.name.as_deref() == Some(name)
        })
        .ok_or_else(|| WizardError::not_found(format!("StatefulSet {namespace}/{name}")))?;
    let ensemble: Ensemble = crate::members::ensembles(s)
        .into_iter()
        .find(|e| {
            e.owner
                == Owner::StatefulSet {
                    namespace: namespace.into(),
                    name: name.into(),
                }
        })
        .ok_or_else(|| WizardError::NotApplicable {
            what: format!("StatefulSet {namespace}/{name}"),
            why: "is not a recognised ensemble (etcd, ZooKeeper): use the plain scale".to_string(),
        })?;
    if target < 1 {
        return Err(WizardError::Invalid {
            input: target.to_string(),
            expected: "a member count".into(),
            why: "an ensemble needs at least one member".into(),
        });
    }
    let templates: Vec<String> = sts
        .spec
        .as_ref()
        .and_then(|sp| sp.volume_claim_templates.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|t| t.metadata.name.clone())
        .collect();
    let mut claims = Vec::new();
    for pvc in &s.pvcs {
        if pvc.metadata.namespace.as_deref() != Some(namespace) {
            continue;
        }
        let Some(pvc_name) = pvc.metadata.name.as_deref() else {
            continue;
        };
        for tpl in &templates {
            if let Some(o) = pvc_name
                .strip_prefix(&format!("{tpl}-{name}-"))
                .and_then(|o| o.parse::<i32>().ok())
            {
                claims.push((o, pvc_name.to_string()));
            }
        }
    }
    claims.sort();
    let lines = template::template_lines(sts);
    let spec = sts.spec.as_ref();
    let etcd_container = spec.and_then(|sp| sp.template.spec.as_ref()).and_then(|p| {
        p.containers
            .iter()
            .find(|c| c.name == "etcd")
            .or(p.containers.first())
    });
    let image_version = sts
        .spec
        .as_ref()
        .and_then(|sp| sp.template.spec.as_ref())
        .and_then(|p| p.containers.first())
        .and_then(|c| c.image.as_deref())
        .and_then(|i| i.rsplit_once(':'))
        .map(|(_, tag)| tag.trim_start_matches('v').to_string());
    let version = ensemble
        .members
        .iter()
        .filter_map(|m| m.status.as_ref().map(|s| s.version.clone()))
        .filter(|v| major_minor(v).is_some())
        .min_by_key(|v| major_minor(v))
        .or(image_version);
    let (peer_host_pattern, peer_scheme, peer_port) = peer_pattern(&ensemble.members);
    let zk = match ensemble.kind {
        EnsembleKind::ZooKeeper => {
            let servers =
                crate::members::recognise::recognise([sts], [], |ns, n| s.pod(ns, n).cloned())
                    .into_iter()
                    .next()
                    .and_then(|t| t.servers);
            zookeeper::mode(&lines, servers, &ensemble.members)
        }
        EnsembleKind::Etcd => zookeeper::ZkMode::None,
    };
    Ok(Facts {
        kind: ensemble.kind,
        namespace: namespace.to_string(),
        statefulset: name.to_string(),
        replicas: ensemble.replicas.unwrap_or(0),
        target,
        polled: ensemble.poll.is_some(),
        poll_error: ensemble.poll.as_ref().and_then(|p| p.error.clone()),
        members: ensemble.members,
        pods: ensemble.pods,
        claims,
        version,
        join: template::join_support(&lines),
        template: lines,
        container: etcd_container.map(|c| c.name.clone()).unwrap_or_default(),
        command: etcd_container
            .and_then(|c| c.command.clone())
            .unwrap_or_default(),
        service: spec
            .map(|sp| sp.service_name.clone().unwrap_or_default())
            .unwrap_or_default(),
        update_strategy: spec
            .and_then(|sp| sp.update_strategy.as_ref())
            .and_then(|u| u.type_.clone())
            .unwrap_or_else(|| "RollingUpdate".to_string()),
        budgets,
        client_port: client_port(sts),
        tls: ensemble.tls,
        peer_host_pattern,
        peer_scheme,
        peer_port,
        snapshot_dir,
        zk,
        now: s.now,
    })
}

fn client_port(sts: &k8s_openapi::api::apps::v1::StatefulSet) -> u16 {
    sts.spec
        .as_ref()
        .and_then(|sp| sp.template.spec.as_ref())
        .into_iter()
        .flat_map(|p| p.containers.iter())
        .flat_map(|c| c.ports.iter().flatten())
        .find(|p| p.name.as_deref() == Some("client"))
        .and_then(|p| u16::try_from(p.container_port).ok())
        .unwrap_or(2379)
}

/// How the members advertise their peer URLs: `scheme://<own name><rest>` (a DNS
/// name, so a new member's URL is known before its pod exists) or an address.
fn peer_pattern(members: &[Member]) -> (Option<(String, String)>, String, u16) {
    let mut scheme = "http".to_string();
    let mut port = 2380;
    for m in members {
        for url in &m.peer_urls {
            let Some((s, rest)) = url.split_once("://") else {
                continue;
            };
            scheme = s.to_string();
            if let Some(p) = rest.rsplit_once(':').and_then(|(_, p)| p.parse().ok()) {
                port = p;
            }
            if !m.name.is_empty()
                && let Some(after) = rest.strip_prefix(m.name.as_str())
                && (after.starts_with('.') || after.starts_with(':'))
            {
                return (Some((s.to_string(), after.to_string())), scheme, port);
            }
        }
    }
    (None, scheme, port)
}

/// The PodDisruptionBudgets of `namespace` that select the StatefulSet's pods (by
/// their `matchLabels` against the pod template's labels).
pub async fn read_budgets(
    client: &Client,
    s: &Snapshot,
    namespace: &str,
    name: &str,
) -> Result<Vec<Budget>, String> {
    let labels = s
        .statefulsets
        .iter()
        .find(|x| {
            x.metadata.namespace.as_deref() == Some(namespace)
                && x.metadata.name.as_deref() == Some(name)
        })
        .and_then(|x| x.spec.as_ref()?.template.metadata.as_ref()?.labels.clone())
        .unwrap_or_default();
    let api: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), namespace);
    let list = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        api.list(&ListParams::default()),
    )
    .await
    .map_err(|_| "no answer within 10s".to_string())?
    .map_err(|e| e.to_string())?;
    Ok(list
        .items
        .into_iter()
        .filter(|p| {
            p.spec
                .as_ref()
                .and_then(|sp| sp.selector.as_ref())
                .and_then(|sel| sel.match_labels.as_ref())
                .is_some_and(|ml| ml.iter().all(|(k, v)| labels.get(k) == Some(v)))
        })
        .map(|p| {
            let spec = p.spec.clone().unwrap_or_default();
            let rule = match (&spec.min_available, &spec.max_unavailable) {
                (Some(m), _) => format!("minAvailable {}", int_or_str(m)),
                (None, Some(m)) => format!("maxUnavailable {}", int_or_str(m)),
                (None, None) => "no rule".to_string(),
            };
            Budget {
                name: p.metadata.name.clone().unwrap_or_default(),
                rule,
                disruptions_allowed: p.status.map_or(0, |s| s.disruptions_allowed),
            }
        })
        .collect())
}

fn int_or_str(v: &k8s_openapi::apimachinery::pkg::util::intstr::IntOrString) -> String {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    match v {
        IntOrString::Int(i) => i.to_string(),
        IntOrString::String(s) => s.clone(),
    }
}

/// What the plan will be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    Up,
    Down,
    Orphans,
    Nothing,
}

/// The pages, the blocker or the plan.
pub fn assess(f: &Facts) -> Wizard {
    let subject = ObjectRef::new("StatefulSet", Some(&f.namespace), f.statefulset.as_str());
    let mut w = Wizard::new(
        format!(
            "Scale {} ensemble {}/{} to {}",
            f.kind.as_str(),
            f.namespace,
            f.statefulset,
            f.target
        ),
        subject,
    );
    w.pages.push(now_page(f));
    let orphans = f.orphans();
    let shape = if f.target > f.replicas {
        Shape::Up
    } else if f.target < f.replicas {
        Shape::Down
    } else if !orphans.is_empty() {
        Shape::Orphans
    } else {
        Shape::Nothing
    };
    if !f.polled || f.poll_error.is_some() {
        let why = f
            .poll_error
            .clone()
            .unwrap_or_else(|| "the members have not been polled yet".to_string());
        w.block_as(
            format!("the member list could not be read: {why}"),
            vec![f.etcdctl("member list -w table")],
            None,
        );
        return w;
    }
    if f.kind == EnsembleKind::ZooKeeper {
        return zookeeper::assess(f, w, shape, orphans);
    }
    if shape != Shape::Nothing {
        w.add_option(
            's',
            "save an etcdctl snapshot before any removal",
            shape != Shape::Up,
        );
        w.add_option(
            'c',
            "delete the claims (and volumes) of removed members",
            false,
        );
    }
    let choices = |opts: &[WizardOption]| Choices {
        snapshot: opts.iter().any(|o| o.key == 's' && o.on),
        delete_claims: opts.iter().any(|o| o.key == 'c' && o.on),
    };
    let default_choices = choices(&w.options);
    let plan_now = match shape {
        Shape::Up => Some(f.plan_up()),
        Shape::Down => Some(f.plan_down(default_choices)),
        Shape::Orphans => Some(f.plan_orphans(&orphans, default_choices)),
        Shape::Nothing => None,
    };
    w.pages
        .push(after_page(f, shape, plan_now.as_ref(), &orphans));
    let (pre, blocker) = preflight(f, shape, &orphans);
    w.pages.push(pre);
    if let Some((reason, fix)) = blocker {
        w.block_as(reason, fix, None);
        return w;
    }
    if let Some(p) = &plan_now
        && let Err(why) = guard(f, p)
    {
        w.block_as(why, Vec::new(), None);
        return w;
    }
    if shape == Shape::Nothing {
        return w;
    }
    let facts = Arc::new(f.clone());
    let orphans = Arc::new(orphans);
    w.set_plan(Arc::new(move |opts: &[WizardOption]| {
        let c = choices(opts);
        match shape {
            Shape::Up => facts.plan_up(),
            Shape::Down => facts.plan_down(c),
            _ => facts.plan_orphans(&orphans, c),
        }
    }));
    w
}

fn now_page(f: &Facts) -> Page {
    let mut p = Page::new("The ensemble now");
    let q = f.quorum();
    p.plain(format!(
        "StatefulSet {}/{}: {} replicas; {} {}",
        f.namespace,
        f.statefulset,
        f.replicas,
        f.kind.as_str(),
        f.version.as_deref().unwrap_or("version unknown")
    ));
    if f.members.is_empty() {
        p.warn("no member listed");
    } else {
        p.plain(q.to_string());
    }
    for m in &f.members {
        let role = if m.leader {
            " leader"
        } else if m.learner && f.kind == EnsembleKind::ZooKeeper {
            " without a vote"
        } else if m.learner {
            " learner"
        } else {
            ""
        };
        let pod = m.pod.as_deref().unwrap_or("no pod");
        let id = match f.kind {
            EnsembleKind::ZooKeeper => format!("server.{}", m.id),
            EnsembleKind::Etcd => m.id_hex(),
        };
        let text = format!("{} {id}{role}: {} (pod {pod})", m.label(), m.health.word());
        if m.health.is_healthy() {
            p.ok(text)
        } else {
            p.bad(format!("{text}: {}", m.health.reason().unwrap_or_default()))
        }
    }
    for pod in f.pods.iter().filter(|p| p.member.is_none()) {
        p.warn(format!(
            "pod {} ({}) runs no registered member",
            pod.name, pod.phase
        ));
    }
    p
}

fn after_page(
    f: &Facts,
    shape: Shape,
    plan: Option<&crate::ops::plan::Plan>,
    orphans: &[Orphan],
) -> Page {
    let mut p = Page::new("After");
    let Some(plan) = plan else {
        p.ok(format!(
            "{} already has {} replicas and every member has its pod: nothing to change",
            f.statefulset, f.target
        ));
        return p;
    };
    match shape {
        Shape::Orphans => p.plain(format!(
            "remove {} (registered, no pod): the StatefulSet keeps {} replicas",
            orphans
                .iter()
                .map(|o| o.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            f.replicas
        )),
        _ => p.plain(format!(
            "{} -> {} members, one at a time",
            f.replicas, f.target
        )),
    }
    p.plain(crate::members::quorum::render_steps(&arithmetic(f, plan)));
    let end = Quorum::new(
        match shape {
            Shape::Orphans => f
                .members
                .iter()
                .filter(|m| !m.learner && !orphans.iter().any(|o| o.id == m.id))
                .count(),
            _ => usize::try_from(f.target).unwrap_or(0),
        },
        0,
    );
    if end.is_even() {
        p.warn(format!(
            "{} voters tolerate no more failures than {}: an odd size is better",
            end.voters,
            end.voters - 1
        ));
    }
    if shape == Shape::Up && !f.learners_supported() {
        p.bad(format!(
            "etcd {} has no learners: each new member joins as a voter at once, so quorum grows before it is up (a failed start then costs a vote)",
            f.version.as_deref().unwrap_or("?")
        ));
    }
    p
}

type Blocked = Option<(String, Vec<String>)>;

fn preflight(f: &Facts, shape: Shape, orphans: &[Orphan]) -> (Page, Blocked) {
    let mut p = Page::new("Preflight");
    let mut blocked: Blocked = None;
    let mut block = |reason: String, fix: Vec<String>| {
        if blocked.is_none() {
            blocked = Some((reason, fix));
        }
    };
    // Those going: the orphans, or the ordinals above the target.
    let going: Vec<String> = match shape {
        Shape::Orphans => orphans.iter().map(|o| o.name.clone()).collect(),
        Shape::Down => (f.target..f.replicas)
            .map(|o| format!("{}-{o}", f.statefulset))
            .collect(),
        _ => Vec::new(),
    };
    let sick: Vec<&Member> = f
        .members
        .iter()
        .filter(|m| !m.health.is_healthy() && !going.contains(&m.label()))
        .collect();
    if sick.is_empty() {
        p.ok("every member that stays is healthy");
    } else {
        for m in &sick {
            p.bad(format!(
                "{} is {}: {}",
                m.label(),
                m.health.word(),
                m.health.reason().unwrap_or_default()
            ));
        }
        let names: Vec<String> = sick.iter().map(|m| m.label()).collect();
        let mut fix = Vec::new();
        if shape != Shape::Orphans && !orphans.is_empty() {
            fix.push(format!(
                "kcops: :scale {}/{} {} (removes the member left without a pod first)",
                f.namespace, f.statefulset, f.replicas
            ));
        }
        for m in &sick {
            match &m.pod {
                Some(pod) => fix.push(format!("kubectl -n {} logs {pod}", f.namespace)),
                None => fix.push(f.etcdctl("member list -w table")),
            }
        }
        block(
            format!(
                "{} not healthy and would stay: no change until every remaining member is",
                names.join(", ")
            ),
            fix,
        );
    }
    match f.members.iter().find(|m| m.leader) {
        Some(l) => p.ok(format!("leader: {}", l.label())),
        None => {
            p.bad("no member reports a leader");
            block(
                "the ensemble has no leader: no membership change can be committed".into(),
                vec![f.etcdctl("endpoint status --cluster -w table")],
            );
        }
    }
    let learners: Vec<&Member> = f
        .members
        .iter()
        .filter(|m| m.learner && !going.contains(&m.label()))
        .collect();
    if learners.is_empty() {
        p.ok("no learner pending");
    } else {
        for l in &learners {
            p.bad(format!("learner {} ({}) is pending", l.label(), l.id_hex()));
        }
        let mut fix = Vec::new();
        for l in &learners {
            fix.push(f.etcdctl(&format!("member promote {}", l.id_hex())));
            fix.push(format!(
                "or, to drop it instead: {}",
                f.etcdctl(&format!("member remove {}", l.id_hex()))
            ));
        }
        block(
            "a learner is pending: promote or remove it before another change".into(),
            fix,
        );
    }
    if shape == Shape::Up {
        if let Some((reason, fix)) =
            stale_claims(f, &mut p, "its pod would start on the old member's data")
        {
            block(reason, fix);
        }
        match &f.join {
            Join::Aware => p.ok("the pod template joins an existing cluster"),
            Join::Unknown => p.warn(
                "the pod template does not say how a new member starts (--initial-cluster-state): check it joins an existing cluster",
            ),
            Join::AlwaysNew { line } => {
                p.bad(format!("the pod template always starts a new cluster: {line}"));
                block(
                    format!(
                        "a new pod would run `{line}`: with an empty data dir etcd bootstraps a cluster of its own from --initial-cluster, the running members reject it (another cluster ID) and the pod crash-loops"
                    ),
                    vec![format!(
                        "kcops: :etcd-join-template {}/{} (changes the template to join an existing cluster, restarting members one at a time)",
                        f.namespace, f.statefulset
                    )],
                );
            }
        }
    }
    budgets_lines(&mut p, &f.budgets);
    (p, blocked)
}

/// Claims an earlier, larger size left for the ordinals a scale-up adds (a new pod
/// would start on what a removed member left): a line each, and the blocker.
fn stale_claims(f: &Facts, p: &mut Page, consequence: &str) -> Blocked {
    let stale: Vec<&(i32, String)> = f
        .claims
        .iter()
        .filter(|(o, _)| (f.replicas..f.target).contains(o))
        .collect();
    if stale.is_empty() {
        p.ok("no claim left from an earlier size for the new ordinals");
        return None;
    }
    for (o, c) in &stale {
        p.bad(format!(
            "claim {c} exists for new ordinal {o}: {consequence}"
        ));
    }
    Some((
        "claims of an earlier, larger size are still there for the new ordinals".into(),
        stale
            .iter()
            .map(|(_, c)| format!("kubectl -n {} delete pvc {c}", f.namespace))
            .collect(),
    ))
}

/// The budgets that select the pods, one line each (the preflight of every kind).
fn budgets_lines(p: &mut Page, budgets: &Result<Vec<Budget>, String>) {
    match budgets {
        Ok(b) if b.is_empty() => p.plain("no PodDisruptionBudget selects the pods"),
        Ok(b) => {
            for b in b {
                p.plain(format!(
                    "PodDisruptionBudget {}: {}, {} disruption(s) allowed now",
                    b.name, b.rule, b.disruptions_allowed
                ))
            }
        }
        Err(e) => p.warn(format!("PodDisruptionBudgets not read: {e}")),
    }
}

#[cfg(test)]
mod tests;
