//! Starting what changes the cluster: plans behind a confirm dialog (cordon, delete,
//! scale, releasing leaked IPs) and wizards (lock removal, network repairs). All of
//! them are refused under `--read-only` and run with one [`Executor`].

use tokio::sync::mpsc;

use super::{App, Overlay, UiMsg};
use crate::ops::wizard::unlock::UnlockTarget;
use crate::ops::{Executor, Plan, ScaleKind};
use crate::ui::dialog::{Dialog, DialogKind};
use crate::ui::keymap::Action;
use crate::ui::panes::PaneId;
use crate::ui::theme::Role;
use crate::ui::view::ObjKind;

impl App {
    /// Says so and returns `true` under `--read-only`.
    pub(super) fn refused_read_only(&mut self) -> bool {
        if self.read_only {
            self.status = Some((
                Role::Warning,
                "read-only mode (--read-only): actions are disabled".into(),
            ));
        }
        self.read_only
    }

    /// `:restart-cni [node]`: the wizard restarting a node's pod network agent (the
    /// selected or this console's node without an argument).
    pub(crate) fn offer_restart_cni(&mut self, node: Option<&str>) {
        let node = node.map(str::to_string).or_else(|| self.network_node());
        use crate::ops::wizard::restart_cni;
        let wizard =
            restart_cni::assess(&restart_cni::gather(&self.view.snapshot, node.as_deref()));
        self.offer_wizard(wizard, PaneId::Network);
    }

    /// `:set-cluster-cidr [cidr]`: the wizard changing the cluster's pod network range.
    pub(crate) fn offer_set_cluster_cidr(&mut self, cidr: Option<&str>) {
        use crate::ops::wizard::set_cluster_cidr;
        let wizard = set_cluster_cidr::assess(&set_cluster_cidr::gather(&self.view.snapshot), cidr);
        self.offer_wizard(wizard, PaneId::Network);
    }

    /// `:join`: the wizard preparing a new machine's join (token, CA hash, the
    /// command, copied with OSC 52) and following its node until Ready. Its reads
    /// (cluster-info, the nodes) run in a task of their own.
    pub(crate) fn open_join(&mut self) {
        if self.refused_read_only() {
            return;
        }
        let Some(conn) = &self.connection else {
            self.status = Some((Role::Error, "not connected to the API server".into()));
            return;
        };
        let overlay = crate::ui::wizard::WizardOverlay::assessing("join a new machine");
        let (id, client, server, tx) = (
            overlay.id,
            conn.client.clone(),
            conn.server.clone(),
            self.tx.clone(),
        );
        tokio::spawn(async move {
            use crate::ops::wizard::join;
            let wizard = join::assess(&join::gather(&client, &server).await);
            let _ = tx
                .send(UiMsg::Wizard(crate::ui::wizard::WizardMsg::Assessed {
                    id,
                    wizard: Box::new(wizard),
                }))
                .await;
        });
        self.overlay = Some(Overlay::Wizard(Box::new(overlay)));
    }

    /// `:renew-certs`: the certificates the host probe read, and the renewal steps.
    pub(crate) fn offer_renew_certs(&mut self) {
        let kubeadm = crate::setup::reset::find_kubeadm(None);
        let wizard = crate::ops::wizard::renew_certs::assess(
            self.view.snapshot.host.as_deref(),
            kubeadm.as_deref(),
        );
        self.offer_wizard(Ok(wizard), PaneId::Nodes);
    }

    /// `:reset-node <node>`: the wizard draining a node through the eviction API,
    /// deleting it and listing the commands that reset its machine.
    pub(crate) fn open_reset_node(&mut self, node: Option<&str>) {
        if self.refused_read_only() {
            return;
        }
        let Some(node) = node.map(str::trim).filter(|n| !n.is_empty()) else {
            self.status = Some((
                Role::Warning,
                "reset-node: name a node (:reset-node NODE)".into(),
            ));
            return;
        };
        let Some(conn) = &self.connection else {
            self.status = Some((Role::Error, "not connected to the API server".into()));
            return;
        };
        let overlay = crate::ui::wizard::WizardOverlay::assessing(format!("node {node}"));
        let stacked = self.stacked_etcd(node);
        let (id, client, tx, node) = (
            overlay.id,
            conn.client.clone(),
            self.tx.clone(),
            node.to_string(),
        );
        tokio::spawn(async move {
            use crate::ops::wizard::reset_node;
            let wizard = reset_node::assess(&reset_node::gather(&client, &node, stacked).await);
            let _ = tx
                .send(UiMsg::Wizard(crate::ui::wizard::WizardMsg::Assessed {
                    id,
                    wizard: Box::new(wizard),
                }))
                .await;
        });
        self.overlay = Some(Overlay::Wizard(Box::new(overlay)));
    }

    /// kubeadm's stacked etcd as the member poll last saw it, with how its steps reach
    /// it (the poll's recognition: kubeadm's port and certificates). When `node` runs
    /// a stacked member the poll has not read yet, a poll that says so (the wizard
    /// then refuses rather than delete a control-plane node blind).
    fn stacked_etcd(
        &self,
        node: &str,
    ) -> Option<(
        crate::ops::ensemble::EnsembleRef,
        crate::model::members::EnsemblePoll,
    )> {
        use crate::model::members::{EnsembleKind, EnsemblePoll, Owner};
        let owner = Owner::StaticPods {
            namespace: "kube-system".into(),
        };
        let snapshot = &self.view.snapshot;
        let poll = match snapshot
            .members
            .as_ref()
            .and_then(|m| m.poll_of(EnsembleKind::Etcd, &owner))
        {
            Some(poll) => poll.clone(),
            None if snapshot
                .pod("kube-system", &format!("etcd-{node}"))
                .is_some() =>
            {
                EnsemblePoll {
                    kind: EnsembleKind::Etcd,
                    owner,
                    polled_at: snapshot.now,
                    members: Vec::new(),
                    error: Some(format!(
                        "the member poll has not read it yet (pod kube-system/etcd-{node} is there); the Members pane (9) shows it once read"
                    )),
                    answered_by: None,
                }
            }
            None => return None,
        };
        Some((
            crate::ops::ensemble::EnsembleRef::kubeadm_etcd(
                crate::members::recognise::ETCD_CLIENT_PORT,
                crate::members::Tls::Kubeadm,
                self.host_root.clone(),
            ),
            poll,
        ))
    }

    /// The node a network action means without an argument: the Network pane's
    /// selected node row, else the node the console runs on.
    pub(super) fn network_node(&self) -> Option<String> {
        if self.pane == PaneId::Network
            && let Some(key) = self.selected()
            && key.kind == ObjKind::Node
        {
            return Some(key.name.to_string());
        }
        self.view
            .snapshot
            .host
            .as_ref()
            .and_then(|h| h.node.clone())
            .or_else(|| self.node.clone())
    }

    /// Opens a wizard assessed from the view, or says why there is none.
    fn offer_wizard(
        &mut self,
        wizard: Result<crate::ops::wizard::Wizard, crate::ops::wizard::WizardError>,
        pane: PaneId,
    ) {
        if self.refused_read_only() {
            return;
        }
        match wizard {
            Ok(wizard) => {
                self.switch(pane);
                let mut overlay = crate::ui::wizard::WizardOverlay::assessing(wizard.title.clone());
                overlay.on_msg(crate::ui::wizard::WizardMsg::Assessed {
                    id: overlay.id,
                    wizard: Box::new(wizard),
                });
                self.overlay = Some(Overlay::Wizard(Box::new(overlay)));
            }
            Err(why) => self.status = Some((Role::Warning, why.to_string())),
        }
    }

    /// `:release-ips [node] [network]`: a plan releasing a node's leaked host-local
    /// reservations (the first network with leaks unless named), from the node's
    /// latest host report: this console's own host, or one read with `:probe-host`
    /// (the release then runs in a debug pod on that node). A first argument that is
    /// not a node's name is the network.
    pub(crate) fn release_leaked(&mut self, args: Option<&str>) {
        if self.refused_read_only() {
            return;
        }
        use crate::ops::wizard::release_ips;
        let mut words = args.unwrap_or_default().split_whitespace();
        let first = words.next();
        let is_node = |n: &str| {
            self.view
                .snapshot
                .nodes
                .iter()
                .any(|node| node.metadata.name.as_deref() == Some(n))
        };
        let (node, network) = match first {
            Some(n) if is_node(n) => (Some(n.to_string()), words.next()),
            other => (None, other),
        };
        let facts = release_ips::gather(&self.view.snapshot, node.as_deref());
        match release_ips::assess(
            &facts,
            network,
            self.sandboxes_command.clone(),
            &self.debug_pod,
        ) {
            Ok(plan) => {
                self.switch(PaneId::Network);
                self.start_plan(plan);
            }
            Err(why) => self.status = Some((Role::Warning, why.to_string())),
        }
    }

    /// `:probe-host [node]`: read a node's pod-network host state through a debug pod
    /// (a plan to confirm: it creates and deletes a pod); the Network pane and the
    /// diagnosis then judge that node as they judge this console's own.
    pub(crate) fn probe_host(&mut self, node: Option<&str>) {
        if self.refused_read_only() {
            return;
        }
        let Some(node) = node.map(str::to_string).or_else(|| self.network_node()) else {
            self.status = Some((
                Role::Warning,
                "probe-host: name a node (:probe-host NODE)".into(),
            ));
            return;
        };
        if !self
            .view
            .snapshot
            .nodes
            .iter()
            .any(|n| n.metadata.name.as_deref() == Some(node.as_str()))
        {
            self.status = Some((Role::Warning, format!("probe-host: no node named {node:?}")));
            return;
        }
        self.switch(PaneId::Network);
        self.start_plan(Plan::probe_host(&node, self.debug_pod.clone()));
    }

    /// Opens the lock-removal wizard on `:unlock <arg>` or what the pane in front
    /// offers ([`crate::ui::panes::PaneId::unlock_target`]). The assessment runs in a
    /// task of its own (live reads of the API server and Ceph); the overlay shows it
    /// once it is back.
    pub(crate) fn open_unlock(&mut self, arg: Option<&str>) {
        let target =
            match arg.map(|a| UnlockTarget::parse(a, self.namespace().unwrap_or("default"))) {
                Some(Ok(t)) => Some(t),
                Some(Err(bad)) => {
                    self.status = Some((Role::Warning, bad.to_string()));
                    return;
                }
                None => self.active().unlock_target(&self.view),
            };
        let Some(target) = target else {
            self.status = Some((
                Role::Warning,
                "unlock: no pod stuck on an RBD lock here; select a pod, claim, volume or RBD image, or use :unlock ns/pod | pool/image".into(),
            ));
            return;
        };
        let Some(conn) = &self.connection else {
            self.status = Some((Role::Error, "not connected to the API server".into()));
            return;
        };
        let Some(ceph) = &self.ceph else {
            self.status = Some((
                Role::Error,
                "unlock needs Ceph: no Ceph connection (--no-ceph, or no ceph.conf/keyring)".into(),
            ));
            return;
        };
        let what = match &target {
            UnlockTarget::Pod { namespace, name } => format!("pod {namespace}/{name}"),
            UnlockTarget::Claim { namespace, name } => format!("claim {namespace}/{name}"),
            UnlockTarget::Volume { name } => format!("volume {name}"),
            UnlockTarget::Image { pool, image } => format!("RBD image {pool}/{image}"),
            UnlockTarget::Spec(s) => s.clone(),
        };
        let overlay = crate::ui::wizard::WizardOverlay::assessing(what);
        crate::ui::wizard::spawn_assess(
            overlay.id,
            conn.client.clone(),
            ceph.client().clone(),
            target,
            self.tx.clone(),
        );
        self.overlay = Some(Overlay::Wizard(Box::new(overlay)));
    }

    /// The executor plans and wizards run with: this console's user, audit log and
    /// read-only mode, plus the Ceph client when there is one. `None` before the API
    /// server answered.
    pub(super) fn wizard_executor(&self) -> Option<Executor> {
        let conn = self.connection.as_ref()?;
        let ceph = self.ceph.as_ref().map(|c| c.client().clone());
        Some(
            Executor::for_console(conn, ceph, &self.audit_log, self.read_only)
                .with_stop(self.plans.stop.clone())
                .with_remote_hosts(self.remote_hosts.clone()),
        )
    }

    /// `:ack-interrupted`: the operator checked the steps `audit.interrupted` names;
    /// one acknowledgement line per plan goes to the audit journal (so the finding
    /// goes away on the next derive, here and for `kcops check`).
    pub(crate) fn ack_interrupted(&mut self) {
        let log = crate::ops::AuditLog::new(self.audit_log.clone());
        let context = match &self.connection {
            Some(c) => crate::ops::ExecContext::new(c.user.clone(), c.context.clone()),
            None => crate::ops::ExecContext::new("", ""),
        };
        self.status = Some(match crate::ops::journal::acknowledge(&log, &context) {
            Ok(0) => (Role::Info, "no interrupted plan to acknowledge".into()),
            Ok(n) => (
                Role::Ok,
                format!(
                    "acknowledged {n} interrupted plan{} in {}",
                    if n == 1 { "" } else { "s" },
                    log.path().display()
                ),
            ),
            Err(e) => (
                Role::Error,
                format!("cannot acknowledge in {}: {e}", log.path().display()),
            ),
        });
    }

    pub(super) fn start_plan(&mut self, plan: Plan) {
        // Scaling an ensemble's StatefulSet changes its members too: the wizard.
        if let Some((namespace, name, to)) = statefulset_scale(&plan)
            && self.is_ensemble(&namespace, &name)
        {
            self.offer_scale_ensemble(&namespace, &name, to);
            return;
        }
        self.overlay = Some(Overlay::Dialog(Dialog::new(DialogKind::ConfirmPlan(plan))));
    }

    /// Runs the confirmed plan in the background; progress comes back as messages.
    pub(super) fn run_plan(&mut self) {
        let Some(Overlay::Dialog(d)) = &mut self.overlay else {
            return;
        };
        let DialogKind::ConfirmPlan(plan) = &d.kind else {
            return;
        };
        let plan = plan.clone();
        let input = d.input.text().to_owned();
        let executor = self.wizard_executor();
        let Some(Overlay::Dialog(d)) = &mut self.overlay else {
            return;
        };
        let Some(executor) = executor else {
            d.error = Some("not connected to the API server".into());
            return;
        };
        d.running = true;
        let tx = self.tx.clone();
        let running = self.plans.start();
        tokio::spawn(async move {
            let (ptx, mut prx) = mpsc::channel(32);
            let forward = {
                let tx = tx.clone();
                tokio::spawn(async move {
                    while let Some(p) = prx.recv().await {
                        let _ = tx.send(UiMsg::Progress(p)).await;
                    }
                })
            };
            let result = executor.run(&plan, &input, ptx).await;
            let _ = forward.await;
            drop(running);
            let _ = tx
                .send(UiMsg::PlanDone(
                    result
                        .map(|o| {
                            format!(
                                "{}: done ({})",
                                o.title,
                                crate::model::count::count(o.steps.len(), "step", "steps")
                            )
                        })
                        .map_err(|e| e.to_string()),
                ))
                .await;
        });
    }

    pub(super) fn action_plan(&mut self, action: Action) {
        let Some(key) = self.selected() else { return };
        if self.refused_read_only() {
            return;
        }
        match (action, key.kind) {
            (Action::Cordon | Action::Uncordon, ObjKind::Node) => {
                let cordoned = self
                    .view
                    .snapshot
                    .nodes
                    .iter()
                    .find(|n| n.metadata.name.as_deref() == Some(key.name.as_str()))
                    .map(|n| n.spec.as_ref().and_then(|s| s.unschedulable) == Some(true));
                match (action, cordoned) {
                    (Action::Cordon, Some(true)) => {
                        self.status = Some((
                            Role::Warning,
                            format!("node {} is already cordoned", key.name),
                        ))
                    }
                    (Action::Uncordon, Some(false)) => {
                        self.status =
                            Some((Role::Warning, format!("node {} is not cordoned", key.name)))
                    }
                    (Action::Cordon, _) => self.start_plan(Plan::cordon(&key.name)),
                    _ => self.start_plan(Plan::uncordon(&key.name)),
                }
            }
            (Action::Delete, ObjKind::Pod) => {
                let plan = self
                    .stuck_terminating(&key.namespace, &key.name)
                    .unwrap_or_else(|| Plan::delete_pod(&key.namespace, &key.name));
                self.start_plan(plan)
            }
            (Action::Scale, kind @ (ObjKind::StatefulSet | ObjKind::Deployment)) => {
                let scale_kind = if kind == ObjKind::StatefulSet {
                    ScaleKind::StatefulSet
                } else {
                    ScaleKind::Deployment
                };
                let current = self
                    .model()
                    .into_iter()
                    .flat_map(|m| m.rows.iter())
                    .find(|r| r.has_key(&key))
                    .and_then(|r| r.desired_replicas())
                    .unwrap_or(0);
                self.overlay = Some(Overlay::Dialog(Dialog::new(DialogKind::ScaleInput {
                    kind: scale_kind,
                    namespace: key.namespace.to_string(),
                    name: key.name.to_string(),
                    current,
                })));
            }
            (a, k) => {
                self.status = Some((
                    Role::Warning,
                    format!("{a:?} does not apply to a {}", k.label()),
                ))
            }
        }
    }
}

impl App {
    /// The force-delete plan when pod `namespace/name` is stuck Terminating on a node
    /// that is not Ready (a plain delete would change nothing: it is deleted already).
    fn stuck_terminating(&self, namespace: &str, name: &str) -> Option<Plan> {
        let snapshot = &self.view.snapshot;
        let pod = snapshot.pod(namespace, name)?;
        pod.metadata.deletion_timestamp()?;
        let node_name = pod.spec.as_ref()?.node_name.as_deref()?;
        let node = snapshot
            .nodes
            .iter()
            .find(|n| n.metadata.name.as_deref() == Some(node_name))?;
        if crate::model::rows::node_status(node) == "Ready" {
            return None;
        }
        let claim_is_rbd = |claim: &str| {
            let pv_name = snapshot
                .pvcs
                .iter()
                .find(|c| {
                    c.metadata.namespace.as_deref() == Some(namespace)
                        && c.metadata.name.as_deref() == Some(claim)
                })?
                .spec
                .as_ref()?
                .volume_name
                .clone()?;
            let pv = snapshot
                .pvs
                .iter()
                .find(|p| p.metadata.name.as_deref() == Some(pv_name.as_str()))?;
            crate::model::rows::rbd_image(pv).map(|_| ())
        };
        let rbd = pod
            .spec
            .as_ref()
            .and_then(|s| s.volumes.as_ref())
            .into_iter()
            .flatten()
            .any(|v| {
                v.rbd.is_some()
                    || v.persistent_volume_claim
                        .as_ref()
                        .is_some_and(|c| claim_is_rbd(&c.claim_name).is_some())
            });
        Some(crate::ops::force_delete::plan(
            namespace, name, node_name, rbd,
        ))
    }
}

/// `(namespace, name, replicas)` of a plan that only scales a StatefulSet.
fn statefulset_scale(plan: &Plan) -> Option<(String, String, i32)> {
    match plan.steps.as_slice() {
        [step] => match &step.op {
            crate::ops::Op::Scale {
                kind: ScaleKind::StatefulSet,
                namespace,
                name,
                replicas,
                ..
            } => Some((namespace.clone(), name.clone(), *replicas)),
            _ => None,
        },
        _ => None,
    }
}

impl App {
    /// Whether StatefulSet `namespace/name` is an ensemble the console recognised.
    fn is_ensemble(&self, namespace: &str, name: &str) -> bool {
        crate::members::recognise::recognise(
            self.view.snapshot.statefulsets.iter().filter(|s| {
                s.metadata.namespace.as_deref() == Some(namespace)
                    && s.metadata.name.as_deref() == Some(name)
            }),
            std::iter::empty(),
            |ns, n| self.view.snapshot.pod(ns, n).cloned(),
        )
        .into_iter()
        .next()
        .is_some()
    }

    /// `:scale [ns/]name N`: the member-aware scaling wizard for an ensemble's
    /// StatefulSet, the plain scale plan for any other StatefulSet or Deployment.
    pub(crate) fn scale_command(&mut self, arg: Option<&str>) {
        let usage = "scale: `:scale [namespace/]name REPLICAS`";
        let mut words = arg.unwrap_or_default().split_whitespace();
        let (Some(target), Some(n), None) = (words.next(), words.next(), words.next()) else {
            self.status = Some((Role::Warning, usage.into()));
            return;
        };
        let Ok(n) = n.parse::<i32>() else {
            self.status = Some((
                Role::Warning,
                format!("scale: {n:?} is not a replica count; {usage}"),
            ));
            return;
        };
        let (namespace, name) = match target.split_once('/') {
            Some((ns, name)) => (ns.to_string(), name.to_string()),
            None => (
                self.namespace()
                    .map(str::to_string)
                    .unwrap_or_else(|| "default".into()),
                target.to_string(),
            ),
        };
        if self.is_ensemble(&namespace, &name) {
            self.offer_scale_ensemble(&namespace, &name, n);
            return;
        }
        if self.refused_read_only() {
            return;
        }
        let s = &self.view.snapshot;
        let named = |m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
            m.namespace.as_deref() == Some(namespace.as_str())
                && m.name.as_deref() == Some(name.as_str())
        };
        let found = s
            .statefulsets
            .iter()
            .find(|x| named(&x.metadata))
            .map(|x| {
                (
                    ScaleKind::StatefulSet,
                    x.spec.as_ref().and_then(|s| s.replicas),
                )
            })
            .or_else(|| {
                s.deployments.iter().find(|x| named(&x.metadata)).map(|x| {
                    (
                        ScaleKind::Deployment,
                        x.spec.as_ref().and_then(|s| s.replicas),
                    )
                })
            });
        match found {
            Some((kind, current)) => self.start_plan(Plan::scale(
                kind,
                &namespace,
                &name,
                current.unwrap_or(1),
                n,
            )),
            None => {
                self.status = Some((
                    Role::Warning,
                    format!("scale: no StatefulSet or Deployment {namespace}/{name}"),
                ))
            }
        }
    }

    /// Opens the member-aware scaling wizard of StatefulSet `namespace/name` for
    /// `target` members: assessed from the view, with its PodDisruptionBudgets read
    /// live in a task of its own.
    pub(crate) fn offer_scale_ensemble(&mut self, namespace: &str, name: &str, target: i32) {
        self.offer_ensemble_wizard(namespace, name, target, false);
    }

    /// `:etcd-join-template [ns/]name`: the template change that lets new members
    /// join, restarting the members one at a time.
    pub(crate) fn offer_join_template(&mut self, arg: Option<&str>) {
        let Some(target) = arg.filter(|a| !a.is_empty()) else {
            self.status = Some((
                Role::Warning,
                "etcd-join-template: `:etcd-join-template [namespace/]name`".into(),
            ));
            return;
        };
        let (namespace, name) = match target.split_once('/') {
            Some((ns, name)) => (ns.to_string(), name.to_string()),
            None => (
                self.namespace()
                    .map(str::to_string)
                    .unwrap_or_else(|| "default".into()),
                target.to_string(),
            ),
        };
        let replicas = self
            .view
            .snapshot
            .statefulsets
            .iter()
            .find(|s| {
                s.metadata.namespace.as_deref() == Some(namespace.as_str())
                    && s.metadata.name.as_deref() == Some(name.as_str())
            })
            .and_then(|s| s.spec.as_ref()?.replicas)
            .unwrap_or(1);
        self.offer_ensemble_wizard(&namespace, &name, replicas, true);
    }

    fn offer_ensemble_wizard(&mut self, namespace: &str, name: &str, target: i32, join: bool) {
        use crate::ops::wizard::scale_ensemble;
        if self.refused_read_only() {
            return;
        }
        let dir = self
            .audit_log
            .parent()
            .map_or_else(|| std::path::PathBuf::from("."), |d| d.join("snapshots"));
        let snapshot = self.view.snapshot.clone();
        let facts = match scale_ensemble::gather(
            &snapshot,
            namespace,
            name,
            target,
            Err("not read yet".into()),
            dir,
        ) {
            Ok(f) => f,
            Err(why) => {
                self.status = Some((Role::Warning, why.to_string()));
                return;
            }
        };
        let Some(conn) = &self.connection else {
            self.status = Some((Role::Error, "not connected to the API server".into()));
            return;
        };
        let overlay =
            crate::ui::wizard::WizardOverlay::assessing(format!("StatefulSet {namespace}/{name}"));
        let (id, client, tx) = (overlay.id, conn.client.clone(), self.tx.clone());
        let (namespace, name) = (namespace.to_string(), name.to_string());
        tokio::spawn(async move {
            let mut facts = facts;
            facts.budgets =
                scale_ensemble::read_budgets(&client, &snapshot, &namespace, &name).await;
            let wizard = if join {
                scale_ensemble::join::assess(&facts)
            } else {
                scale_ensemble::assess(&facts)
            };
            let _ = tx
                .send(UiMsg::Wizard(crate::ui::wizard::WizardMsg::Assessed {
                    id,
                    wizard: Box::new(wizard),
                }))
                .await;
        });
        self.overlay = Some(Overlay::Wizard(Box::new(overlay)));
    }
}
