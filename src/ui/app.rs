//! The console's event loop: terminal events, view-model updates from the background
//! deriver, log lines and plan progress, all over channels. The UI task never awaits
//! Kubernetes; it redraws only when something changed, at most ~20 times a second.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use crossterm::event::{Event as TermEvent, EventStream, KeyEvent, KeyEventKind};
use futures::StreamExt;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use tokio::sync::{mpsc, watch};

use super::detail::DetailOutcome;
use super::detail::{Detail, DetailKind};
use super::dialog::DialogOutcome;
use super::dialog::{Dialog, DialogKind};
use super::help::{Focus, HelpOverlay};
use super::keymap::{Action, Context, Keymap};
use super::panes::table::{self, Filter, TableState};
use super::panes::{Pane, StorageView, WorkloadFilter, network, overview};
use super::text_field::{Charset, FieldKey, TextField};
use super::theme::{Role, Theme};
use super::view::{ObjKey, ObjKind, TableModel, ViewModel};
use crate::kube::connect::{ConnectOptions, Connection};
use crate::ops::{Executor, Progress};
use crate::ops::{Plan, ScaleKind};

/// Everything the console needs from flags and files.
pub struct ConsoleOptions {
    pub connect: ConnectOptions,
    pub namespace: Option<String>,
    pub node: Option<String>,
    pub read_only: bool,
    pub theme: Theme,
    pub keymap: Keymap,
    /// Problems with theme/keymap files, shown once at start (the defaults are in use).
    pub config_errors: Vec<String>,
    pub audit_log: std::path::PathBuf,
    /// The host root the host probes read (`--host-root`; default `/`).
    pub host_root: Option<std::path::PathBuf>,
    /// Lists this node's live CRI sandboxes (`--sandboxes-command`; see
    /// [`crate::host::probe`] for the default).
    pub sandboxes_command: Option<Vec<String>>,
    /// How to reach Ceph; `None` runs without it (`--no-ceph`, or no conf).
    pub ceph: Option<crate::ceph::CephSettings>,
}

/// Messages from background tasks to the UI task.
pub enum UiMsg {
    Logs {
        id: u64,
        lines: Vec<String>,
    },
    LogsError {
        id: u64,
        error: String,
    },
    Progress(Progress),
    /// Answers to an open wizard (assessment, dry-run, progress, end).
    Wizard(super::wizard::WizardMsg),
    PlanDone(Result<String, String>),
    Connected(Box<Connection>),
    /// The whole object behind an open describe/YAML view, fetched from the API server.
    Object {
        id: u64,
        value: Box<serde_json::Value>,
    },
}

/// The object behind `key` from the API server, as JSON, without managedFields and the
/// last-applied annotation (as the stores keep it).
async fn fetch_object(
    client: ::kube::Client,
    key: &ObjKey,
) -> Result<serde_json::Value, ::kube::Error> {
    use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
    use k8s_openapi::api::core::v1::{Event, Node, PersistentVolume, PersistentVolumeClaim, Pod};
    use k8s_openapi::api::storage::v1::StorageClass;
    async fn get<K>(api: ::kube::Api<K>, name: &str) -> Result<serde_json::Value, ::kube::Error>
    where
        K: Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
    {
        let obj = api.get(name).await?;
        serde_json::to_value(obj).map_err(::kube::Error::SerdeError)
    }
    let (c, ns, name) = (client, key.namespace.as_str(), key.name.as_str());
    let mut v = match key.kind {
        ObjKind::Node => get(::kube::Api::<Node>::all(c), name).await?,
        ObjKind::Pod => get(::kube::Api::<Pod>::namespaced(c, ns), name).await?,
        ObjKind::Pvc => {
            get(
                ::kube::Api::<PersistentVolumeClaim>::namespaced(c, ns),
                name,
            )
            .await?
        }
        ObjKind::Pv => get(::kube::Api::<PersistentVolume>::all(c), name).await?,
        ObjKind::StorageClass => get(::kube::Api::<StorageClass>::all(c), name).await?,
        ObjKind::StatefulSet => get(::kube::Api::<StatefulSet>::namespaced(c, ns), name).await?,
        ObjKind::DaemonSet => get(::kube::Api::<DaemonSet>::namespaced(c, ns), name).await?,
        ObjKind::Deployment => get(::kube::Api::<Deployment>::namespaced(c, ns), name).await?,
        ObjKind::Event => get(::kube::Api::<Event>::namespaced(c, ns), name).await?,
        // Not a Kubernetes object (the Ceph pane's detail is shown instead).
        ObjKind::RbdImage => return Ok(serde_json::Value::Null),
    };
    if let Some(meta) = v.get_mut("metadata").and_then(|m| m.as_object_mut()) {
        meta.remove("managedFields");
        if let Some(a) = meta.get_mut("annotations").and_then(|a| a.as_object_mut()) {
            a.remove("kubectl.kubernetes.io/last-applied-configuration");
        }
    }
    Ok(v)
}

#[derive(Debug)]
enum Overlay {
    /// The keys; the overlay it was opened over comes back when it closes.
    Help(HelpOverlay, Option<Box<Overlay>>),
    Detail(Detail),
    Dialog(Dialog),
    Wizard(Box<super::wizard::WizardOverlay>),
}

/// The one-line prompt on the status bar, if one has the keys.
#[derive(Debug)]
enum Input {
    None,
    Filter(TextField),
    Command(TextField),
    Search(TextField),
}

/// The console's state. Panes keep their own table state.
pub struct App {
    pub pane: Pane,
    storage_view: StorageView,
    workload_filter: WorkloadFilter,
    tables: HashMap<(Pane, u8), TableState>,
    filter: Filter,
    pub namespace: Option<String>,
    overlay: Option<Overlay>,
    input: Input,
    pub view: Arc<ViewModel>,
    theme: Theme,
    keymap: Keymap,
    read_only: bool,
    status: Option<(Role, String)>,
    overview_scroll: u16,
    /// Scroll of the Network pane's host and findings section.
    network_scroll: u16,
    /// The Ceph pane was opened with `:rbd`: the cluster section folds into one line.
    ceph_images_only: bool,
    log_id: u64,
    /// Tells the answer to the latest describe/YAML fetch from older ones.
    object_id: u64,
    /// See [`App::now`].
    clock: Option<jiff::Timestamp>,
    log_task: Option<tokio::task::JoinHandle<()>>,
    connection: Option<Connection>,
    audit_log: std::path::PathBuf,
    tx: mpsc::Sender<UiMsg>,
    pub quit: bool,
    /// The node the console runs on (`--node`, or found by address once nodes arrive).
    node: Option<String>,
    /// The filtered workload model for the current filter (derived on view change).
    workloads_view: TableModel,
    /// How the host probes list live sandboxes (for releasing leaked reservations).
    sandboxes_command: Option<Vec<String>>,
    /// The Ceph refresh task and its client (`None`: running without Ceph).
    pub ceph: Option<Arc<crate::ceph::source::CephWatch>>,
}

impl App {
    pub fn new(opts: &ConsoleOptions, tx: mpsc::Sender<UiMsg>) -> Self {
        let status = (!opts.config_errors.is_empty()).then(|| {
            (
                Role::Warning,
                format!(
                    "{} (bad entries use defaults)",
                    opts.config_errors.join("; ")
                ),
            )
        });
        Self {
            pane: Pane::Overview,
            storage_view: StorageView::Pvc,
            workload_filter: WorkloadFilter::All,
            tables: HashMap::new(),
            filter: Filter::default(),
            namespace: opts.namespace.clone(),
            overlay: None,
            input: Input::None,
            view: Arc::new(ViewModel::default()),
            theme: opts.theme.clone(),
            keymap: opts.keymap.clone(),
            read_only: opts.read_only,
            status,
            overview_scroll: 0,
            network_scroll: 0,
            ceph_images_only: false,
            log_id: 0,
            object_id: 0,
            clock: None,
            log_task: None,
            connection: None,
            audit_log: opts.audit_log.clone(),
            tx,
            quit: false,
            node: opts.node.clone(),
            workloads_view: TableModel::default(),
            sandboxes_command: opts.sandboxes_command.clone(),
            ceph: None,
        }
    }

    fn sub(&self) -> u8 {
        match self.pane {
            Pane::Storage => self.storage_view as u8,
            Pane::Workloads => self.workload_filter as u8,
            _ => 0,
        }
    }

    fn model(&self) -> &TableModel {
        match self.pane {
            Pane::Nodes => &self.view.nodes,
            Pane::Pods => &self.view.pods,
            Pane::Storage => match self.storage_view {
                StorageView::Pvc => &self.view.pvcs,
                StorageView::Pv => &self.view.pvs,
                StorageView::StorageClass => &self.view.storage_classes,
            },
            Pane::Workloads => &self.workloads_view,
            Pane::Events => &self.view.events,
            Pane::Network => &self.view.network_nodes,
            Pane::Ceph => &self.view.ceph.images,
            Pane::Overview => &self.view.nodes,
        }
    }

    fn rebuild_workloads(&mut self) {
        let want = match self.workload_filter {
            WorkloadFilter::All => None,
            WorkloadFilter::StatefulSets => Some(ObjKind::StatefulSet),
            WorkloadFilter::DaemonSets => Some(ObjKind::DaemonSet),
            WorkloadFilter::Deployments => Some(ObjKind::Deployment),
        };
        self.workloads_view = TableModel {
            columns: self.view.workloads.columns.clone(),
            rows: self
                .view
                .workloads
                .rows
                .iter()
                .filter(|r| want.is_none_or(|k| r.key.kind == k))
                .cloned()
                .collect(),
        };
    }

    /// Recomputes the current table's row order (after a view, filter or sort change).
    fn refresh_table(&mut self) {
        if self.pane == Pane::Overview {
            return;
        }
        let key = (self.pane, self.sub());
        let mut state = self.tables.remove(&key).unwrap_or_default();
        let ns = self.namespace.clone();
        state.refresh(self.model(), &self.filter, ns.as_deref(), self.now());
        self.tables.insert(key, state);
    }

    pub fn set_view(&mut self, view: Arc<ViewModel>) {
        if self.node.is_none() && !view.snapshot.nodes.is_empty() {
            self.node = crate::host::node_with_address(
                view.snapshot.nodes.iter().map(|n| n.as_ref()),
                &crate::host::local_addresses(),
            );
        }
        self.view = view;
        self.rebuild_workloads();
        self.refresh_table();
    }

    /// The time ages are shown at: the clock when the event loop set one, else the
    /// time of the view (deterministic, for tests that draw a fixed snapshot).
    fn now(&self) -> jiff::Timestamp {
        self.clock.unwrap_or(self.view.snapshot.now)
    }

    /// Sets the time the next frame shows ages at.
    pub fn set_clock(&mut self, now: jiff::Timestamp) {
        self.clock = Some(now);
    }

    fn selected(&self) -> Option<ObjKey> {
        self.tables
            .get(&(self.pane, self.sub()))
            .and_then(|t| t.selected_key().cloned())
    }

    /// The image row selected in the Ceph pane, as `(pool, image)`: what the
    /// lock-removal wizard opens on. `None` on other panes or without a selection.
    pub fn selected_image(&self) -> Option<(String, String)> {
        if self.pane != Pane::Ceph {
            return None;
        }
        let key = self.selected()?;
        self.view
            .ceph
            .detail(&key)
            .map(|d| (d.pool.clone(), d.image.clone()))
    }

    /// Describe/YAML of an image row: the pane's detail lines as a scrollable view
    /// (an image is no Kubernetes object to fetch).
    fn open_image_detail(&mut self, key: ObjKey) {
        let lines = match self.view.ceph.detail(&key) {
            Some(d) => d
                .lines
                .iter()
                .map(|segments| segments.iter().map(|(_, t)| t.as_str()).collect())
                .collect(),
            None => vec![format!("RBD image {} is gone", key.name)],
        };
        self.overlay = Some(Overlay::Detail(Detail::new(
            DetailKind::Describe,
            key,
            lines,
        )));
    }

    fn switch(&mut self, pane: Pane) {
        self.pane = pane;
        self.refresh_table();
    }

    /// Runs a `:` command: `:pods kube-system`, `:pvc`, `:q`, ...
    fn command(&mut self, text: &str) {
        let mut words = text.split_whitespace();
        let cmd = words.next().unwrap_or_default();
        let arg = words.next();
        let target = match cmd {
            "q" | "quit" => {
                self.quit = true;
                return;
            }
            "overview" | "o" => (Pane::Overview, None),
            "nodes" | "node" | "no" => (Pane::Nodes, None),
            "pods" | "pod" | "po" => (Pane::Pods, None),
            "pvc" | "pvcs" => (Pane::Storage, Some(0)),
            "pv" | "pvs" => (Pane::Storage, Some(1)),
            "sc" | "storageclasses" => (Pane::Storage, Some(2)),
            "storage" => (Pane::Storage, None),
            "sts" | "statefulsets" => (Pane::Workloads, Some(1)),
            "ds" | "daemonsets" => (Pane::Workloads, Some(2)),
            "deploy" | "deployments" => (Pane::Workloads, Some(3)),
            "workloads" => (Pane::Workloads, Some(0)),
            "events" | "ev" => (Pane::Events, None),
            "net" | "network" => (Pane::Network, None),
            "ceph" => {
                self.ceph_images_only = false;
                (Pane::Ceph, None)
            }
            "rbd" | "images" => {
                self.ceph_images_only = true;
                (Pane::Ceph, None)
            }
            "unlock" => {
                self.open_unlock(arg);
                return;
            }
            "release-ips" => {
                self.release_leaked(arg);
                return;
            }
            "restart-cni" => {
                let node = arg.map(str::to_string).or_else(|| self.network_node());
                let wizard = super::net_actions::restart_cni(&self.view.snapshot, node.as_deref());
                self.offer_wizard(wizard, Pane::Network);
                return;
            }
            "set-cluster-cidr" => {
                let wizard = super::net_actions::set_cluster_cidr(&self.view.snapshot, arg);
                self.offer_wizard(wizard, Pane::Network);
                return;
            }
            "ns" | "namespace" => {
                self.namespace = arg
                    .filter(|a| *a != "all" && *a != "-A")
                    .map(str::to_string);
                self.refresh_table();
                return;
            }
            other => {
                self.status = Some((
                    Role::Error,
                    format!(
                        "unknown command :{other} (try :nodes, :pods [ns], :pvc, :pv, :sc, :sts, :ds, :deploy, :events, :net, :ceph, :rbd, :release-ips [network], :unlock [ns/pod | pool/image], :restart-cni [node], :set-cluster-cidr [cidr], :ns <name>, :q)"
                    ),
                ));
                return;
            }
        };
        match (target.0, target.1) {
            (Pane::Storage, Some(i)) => {
                self.storage_view =
                    [StorageView::Pvc, StorageView::Pv, StorageView::StorageClass][i]
            }
            (Pane::Workloads, Some(i)) => {
                self.workload_filter = [
                    WorkloadFilter::All,
                    WorkloadFilter::StatefulSets,
                    WorkloadFilter::DaemonSets,
                    WorkloadFilter::Deployments,
                ][i];
                self.rebuild_workloads();
            }
            _ => {}
        }
        if let Some(ns) = arg
            && !matches!(
                target.0,
                Pane::Nodes | Pane::Overview | Pane::Network | Pane::Ceph
            )
        {
            self.namespace = (ns != "all" && ns != "-A").then(|| ns.to_string());
        }
        self.switch(target.0);
    }

    /// The node a network action means without an argument: the Network pane's
    /// selected node row, else the node the console runs on.
    fn network_node(&self) -> Option<String> {
        if self.pane == Pane::Network
            && let Some(key) = self.selected()
            && key.kind == ObjKind::Node
        {
            return Some(key.name);
        }
        self.view
            .snapshot
            .host
            .as_ref()
            .and_then(|h| h.node.clone())
            .or_else(|| self.node.clone())
    }

    /// Opens a wizard assessed from the view, or says why there is none.
    fn offer_wizard(&mut self, wizard: Result<crate::ops::wizard::Wizard, String>, pane: Pane) {
        if self.read_only {
            self.status = Some((
                Role::Warning,
                "read-only mode (--read-only): actions are disabled".into(),
            ));
            return;
        }
        match wizard {
            Ok(wizard) => {
                self.switch(pane);
                let mut overlay = super::wizard::WizardOverlay::assessing(wizard.title.clone());
                overlay.on_msg(super::wizard::WizardMsg::Assessed {
                    id: overlay.id,
                    wizard: Box::new(wizard),
                });
                self.overlay = Some(Overlay::Wizard(Box::new(overlay)));
            }
            Err(why) => self.status = Some((Role::Warning, why)),
        }
    }

    /// `:release-ips [network]`: a plan releasing this node's leaked host-local
    /// reservations (the first network with leaks unless named), from the latest host
    /// report; the executor checks each file again before deleting it.
    fn release_leaked(&mut self, network: Option<&str>) {
        if self.read_only {
            self.status = Some((
                Role::Warning,
                "read-only mode (--read-only): actions are disabled".into(),
            ));
            return;
        }
        let Some(report) = self.view.snapshot.host.clone() else {
            self.status = Some((
                Role::Warning,
                "no host report yet (the host probes run every 10s)".into(),
            ));
            return;
        };
        let Some(node) = report.node.clone() else {
            self.status = Some((
                Role::Warning,
                "this machine is not a known node of the cluster (--node)".into(),
            ));
            return;
        };
        let networks = report.ipam.found().cloned().unwrap_or_default();
        let chosen = networks
            .iter()
            .filter(|n| network.is_none_or(|want| n.name == want))
            .find_map(|n| {
                let leaked = report.leaked(n)?;
                (!leaked.is_empty()).then(|| {
                    (
                        n.name.clone(),
                        leaked
                            .iter()
                            .map(|r| (r.ip.to_string(), r.sandbox.clone()))
                            .collect::<Vec<_>>(),
                    )
                })
            });
        let Some((name, leaked)) = chosen else {
            let why = if report.sandboxes.found().is_none() {
                "the live sandboxes are unknown"
            } else {
                "none found"
            };
            self.status = Some((
                Role::Warning,
                format!("no leaked IP reservations to release on {node} ({why})"),
            ));
            return;
        };
        self.switch(Pane::Network);
        let plan = Plan::release_leaked(
            &node,
            std::path::Path::new(&report.root),
            &name,
            self.sandboxes_command.clone(),
            leaked,
        );
        self.start_plan(plan);
    }

    fn open_detail(&mut self, kind: DetailKind) {
        let Some(key) = self.selected() else { return };
        if key.kind == ObjKind::RbdImage && kind != DetailKind::Logs {
            self.open_image_detail(key);
            return;
        }
        match kind {
            DetailKind::Describe => {
                let lines = super::describe::describe_lines(&self.view.snapshot, &key);
                self.overlay = Some(Overlay::Detail(Detail::new(kind, key.clone(), lines)));
                self.fetch_object(key);
            }
            DetailKind::Yaml => {
                let lines = super::describe::yaml_lines(&self.view.snapshot, &key);
                self.overlay = Some(Overlay::Detail(Detail::new(kind, key.clone(), lines)));
                self.fetch_object(key);
            }
            DetailKind::Logs => {
                if key.kind != ObjKind::Pod {
                    self.status = Some((Role::Warning, "logs: select a pod".into()));
                    return;
                }
                let containers: Vec<String> = self
                    .view
                    .snapshot
                    .pods
                    .iter()
                    .find(|p| {
                        p.metadata.name.as_deref() == Some(&key.name)
                            && p.metadata.namespace.as_deref() == Some(&key.namespace)
                    })
                    .and_then(|p| p.spec.as_ref())
                    .map(|s| s.containers.iter().map(|c| c.name.clone()).collect())
                    .unwrap_or_default();
                let mut d = Detail::new(kind, key, Vec::new());
                d.container = containers.first().cloned();
                d.containers = containers;
                self.overlay = Some(Overlay::Detail(d));
                self.start_logs();
            }
        }
    }

    /// The stores keep only what the panes read (see `kube::reflectors::strip_pod`), so
    /// describe and YAML, shown at once from the stored copy, are redone from the whole
    /// object once a background GET brings it.
    fn fetch_object(&mut self, key: ObjKey) {
        let Some(conn) = &self.connection else { return };
        self.object_id += 1;
        let id = self.object_id;
        let client = conn.client.clone();
        let tx = self.tx.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(Duration::from_secs(10), fetch_object(client, &key)).await {
                Ok(Ok(value)) => {
                    let _ = tx
                        .send(UiMsg::Object {
                            id,
                            value: Box::new(value),
                        })
                        .await;
                }
                Ok(Err(e)) => tracing::debug!("cannot fetch {key:?}: {e}"),
                Err(_) => tracing::debug!("fetching {key:?} timed out"),
            }
        });
    }

    /// (Re)starts fetching logs for the open log view, in a background task.
    fn start_logs(&mut self) {
        let Some(Overlay::Detail(d)) = &mut self.overlay else {
            return;
        };
        let Some(conn) = &self.connection else {
            d.error = Some("not connected to the API server".into());
            return;
        };
        if let Some(t) = self.log_task.take() {
            t.abort();
        }
        self.log_id += 1;
        let id = self.log_id;
        d.lines.clear();
        d.scroll = 0;
        d.error = None;
        let api: ::kube::Api<k8s_openapi::api::core::v1::Pod> =
            ::kube::Api::namespaced(conn.client.clone(), &d.key.namespace);
        let name = d.key.name.clone();
        let params = ::kube::api::LogParams {
            container: d.container.clone(),
            previous: d.previous,
            follow: d.follow,
            tail_lines: Some(2000),
            ..Default::default()
        };
        let tx = self.tx.clone();
        let server = conn.server.clone();
        self.log_task = Some(tokio::spawn(async move {
            use futures::AsyncBufReadExt;
            match api.log_stream(&name, &params).await {
                Ok(reader) => {
                    let mut lines = reader.lines();
                    let mut batch = Vec::new();
                    loop {
                        let next =
                            tokio::time::timeout(Duration::from_millis(50), lines.next()).await;
                        match next {
                            Ok(Some(Ok(l))) => {
                                batch.push(l);
                                if batch.len() < 500 {
                                    continue;
                                }
                            }
                            Ok(Some(Err(e))) => {
                                let _ = tx
                                    .send(UiMsg::LogsError {
                                        id,
                                        error: e.to_string(),
                                    })
                                    .await;
                                break;
                            }
                            Ok(None) => {
                                if !batch.is_empty() {
                                    let _ = tx
                                        .send(UiMsg::Logs {
                                            id,
                                            lines: std::mem::take(&mut batch),
                                        })
                                        .await;
                                }
                                break;
                            }
                            Err(_) => {}
                        }
                        if !batch.is_empty()
                            && tx
                                .send(UiMsg::Logs {
                                    id,
                                    lines: std::mem::take(&mut batch),
                                })
                                .await
                                .is_err()
                        {
                            break;
                        }
                    }
                }
                Err(e) => {
                    let _ = tx
                        .send(UiMsg::LogsError {
                            id,
                            error: crate::kube::errors::describe(&e, &server),
                        })
                        .await;
                }
            }
        }));
    }

    /// Opens the lock-removal wizard on `:unlock <arg>` or the selected pod, claim,
    /// volume or image row. The assessment runs in a task of its own (live reads of
    /// the API server and Ceph); the overlay shows it once it is back.
    /// From the Overview: the first pod stuck on a lock, else the first image with a
    /// stale lock (findings come most severe first).
    fn stuck_on_lock(&self) -> Option<crate::ops::wizard::unlock::UnlockTarget> {
        use crate::ops::wizard::unlock::UnlockTarget;
        let findings = &self.view.findings;
        let object = |id: &str, kind: &str| {
            findings
                .iter()
                .filter(|f| f.id == id)
                .find_map(|f| f.object.strip_prefix(kind).map(str::to_string))
        };
        if let Some(pod) = object("pod.volume-locked", "Pod ")
            && let Some((namespace, name)) = pod.split_once('/')
        {
            return Some(UnlockTarget::Pod {
                namespace: namespace.to_string(),
                name: name.to_string(),
            });
        }
        let image = object("rbd.stale-lock", "RbdImage ")?;
        let (pool, image) = image.split_once('/')?;
        Some(UnlockTarget::Image {
            pool: pool.to_string(),
            image: image.to_string(),
        })
    }

    fn open_unlock(&mut self, arg: Option<&str>) {
        use crate::ops::wizard::unlock::UnlockTarget;
        let target = match arg {
            Some(a) => UnlockTarget::parse(a, self.namespace.as_deref().unwrap_or("default")),
            None if self.pane == Pane::Ceph => self
                .selected_image()
                .map(|(pool, image)| UnlockTarget::Image { pool, image }),
            None if self.pane == Pane::Overview => self.stuck_on_lock(),
            None => self.selected().and_then(|k| match k.kind {
                ObjKind::Pod => Some(UnlockTarget::Pod {
                    namespace: k.namespace,
                    name: k.name,
                }),
                ObjKind::Pvc => Some(UnlockTarget::Claim {
                    namespace: k.namespace,
                    name: k.name,
                }),
                ObjKind::Pv => Some(UnlockTarget::Volume { name: k.name }),
                _ => None,
            }),
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
        let overlay = super::wizard::WizardOverlay::assessing(what);
        super::wizard::spawn_assess(
            overlay.id,
            conn.client.clone(),
            ceph.client().clone(),
            target,
            self.tx.clone(),
        );
        self.overlay = Some(Overlay::Wizard(Box::new(overlay)));
    }

    /// The executor a wizard's plan runs with: this console's user, audit log and
    /// read-only mode, plus the Ceph client.
    fn wizard_executor(&self) -> Option<Executor> {
        let conn = self.connection.as_ref()?;
        let mut executor = Executor::new(
            conn.client.clone(),
            self.read_only,
            crate::ops::AuditLog::new(self.audit_log.clone()),
            crate::ops::ExecContext::new(conn.user.clone(), conn.context.clone()),
        );
        if let Some(ceph) = &self.ceph {
            executor = executor.with_ceph(ceph.client().clone());
        }
        Some(executor)
    }

    fn on_wizard_key(&mut self, mut w: Box<super::wizard::WizardOverlay>, key: KeyEvent) {
        use super::wizard::{WizardCommand, spawn_dry_run, spawn_run};
        let id = w.id;
        match w.on_key(key, &self.keymap) {
            WizardCommand::Close => return,
            WizardCommand::None => {}
            WizardCommand::Help => {
                self.overlay = Some(Overlay::Wizard(w));
                self.show_help(Some(Context::Wizard));
                return;
            }
            WizardCommand::DryRun(plan) => match self.wizard_executor() {
                Some(e) => spawn_dry_run(id, e, plan, self.tx.clone()),
                None => w.fail("not connected to the API server".into()),
            },
            WizardCommand::Run(plan, input) => match self.wizard_executor() {
                Some(e) => {
                    let ceph = self.ceph.clone();
                    spawn_run(id, e, plan, input, self.tx.clone(), move || {
                        if let Some(c) = ceph {
                            c.refresh_now();
                        }
                    });
                }
                None => w.fail("not connected to the API server".into()),
            },
        }
        self.overlay = Some(Overlay::Wizard(w));
    }

    fn start_plan(&mut self, plan: Plan) {
        self.overlay = Some(Overlay::Dialog(Dialog::new(DialogKind::ConfirmPlan(plan))));
    }

    /// Runs the confirmed plan in the background; progress comes back as messages.
    fn run_plan(&mut self) {
        let Some(Overlay::Dialog(d)) = &mut self.overlay else {
            return;
        };
        let DialogKind::ConfirmPlan(plan) = &d.kind else {
            return;
        };
        let Some(conn) = &self.connection else {
            d.error = Some("not connected to the API server".into());
            return;
        };
        d.running = true;
        let plan = plan.clone();
        let input = d.input.text().to_owned();
        let executor = Executor::new(
            conn.client.clone(),
            self.read_only,
            crate::ops::AuditLog::new(self.audit_log.clone()),
            crate::ops::ExecContext::new(conn.user.clone(), conn.context.clone()),
        );
        let tx = self.tx.clone();
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
            let _ = tx
                .send(UiMsg::PlanDone(
                    result
                        .map(|o| format!("{}: done ({} steps)", o.title, o.steps.len()))
                        .map_err(|e| e.to_string()),
                ))
                .await;
        });
    }

    fn action_plan(&mut self, action: Action) {
        let Some(key) = self.selected() else { return };
        if self.read_only {
            self.status = Some((
                Role::Warning,
                "read-only mode (--read-only): actions are disabled".into(),
            ));
            return;
        }
        match (action, key.kind) {
            (Action::Cordon, ObjKind::Node) => self.start_plan(Plan::cordon(&key.name)),
            (Action::Uncordon, ObjKind::Node) => self.start_plan(Plan::uncordon(&key.name)),
            (Action::Delete, ObjKind::Pod) => {
                self.start_plan(Plan::delete_pod(&key.namespace, &key.name))
            }
            (Action::Scale, kind @ (ObjKind::StatefulSet | ObjKind::Deployment)) => {
                let scale_kind = if kind == ObjKind::StatefulSet {
                    ScaleKind::StatefulSet
                } else {
                    ScaleKind::Deployment
                };
                let current = self
                    .model()
                    .rows
                    .iter()
                    .find(|r| r.key == key)
                    .and_then(|r| r.cells.get(3))
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(0);
                self.overlay = Some(Overlay::Dialog(Dialog::new(DialogKind::ScaleInput {
                    kind: scale_kind,
                    namespace: key.namespace.clone(),
                    name: key.name.clone(),
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

    /// Handles one key press.
    pub fn on_key(&mut self, key: KeyEvent) {
        if key.kind == KeyEventKind::Release {
            return;
        }
        // Text input first: filter, command line, search.
        if !matches!(self.input, Input::None) {
            self.on_input_key(key);
            return;
        }
        match self.overlay.take() {
            Some(Overlay::Help(mut help, under)) => {
                self.overlay = if help.on_key(&self.keymap, key) {
                    under.map(|o| *o)
                } else {
                    Some(Overlay::Help(help, under))
                };
                return;
            }
            Some(Overlay::Detail(d)) => {
                self.overlay = Some(Overlay::Detail(d));
                self.on_detail_key(key);
                return;
            }
            Some(Overlay::Dialog(d)) => {
                self.overlay = Some(Overlay::Dialog(d));
                self.on_dialog_key(key);
                return;
            }
            Some(Overlay::Wizard(w)) => {
                self.on_wizard_key(w, key);
                return;
            }
            None => {}
        }
        let context = if self.pane == Pane::Overview {
            Context::Global
        } else {
            Context::Table
        };
        // A pane's own keys ([ceph], [pods], [storage]) come first.
        let own = match self.pane {
            Pane::Ceph => Some(Context::Ceph),
            Pane::Pods => Some(Context::Pods),
            Pane::Storage => Some(Context::Storage),
            Pane::Overview => Some(Context::Overview),
            _ => None,
        }
        .and_then(|c| self.keymap.action(c, key));
        let Some(action) = own.or_else(|| self.keymap.action(context, key)) else {
            return;
        };
        self.status = None;
        let n = self.model().rows.len();
        let page = 20isize;
        match action {
            Action::Quit => self.quit = true,
            Action::Help => self.show_help(None),
            Action::Unlock => self.open_unlock(None),
            Action::CommandLine => self.input = Input::Command(TextField::new(Charset::Free)),
            Action::Filter => {
                self.input = Input::Filter(TextField::with_text(Charset::Free, &self.filter.text))
            }
            Action::NextPane => self.switch(Pane::ALL[(self.pane.index() + 1) % Pane::ALL.len()]),
            Action::PrevPane => {
                self.switch(Pane::ALL[(self.pane.index() + Pane::ALL.len() - 1) % Pane::ALL.len()])
            }
            Action::Namespace => {
                let choices = std::iter::once("all".to_owned())
                    .chain(
                        self.view
                            .snapshot
                            .namespaces
                            .iter()
                            .filter_map(|n| n.metadata.name.clone()),
                    )
                    .collect();
                self.overlay = Some(Overlay::Dialog(Dialog::new(DialogKind::Namespace {
                    choices,
                })))
            }
            Action::Refresh => {
                self.refresh_table();
                // Ceph is asked again at once, on its own thread.
                if self.pane == Pane::Ceph
                    && let Some(ceph) = &self.ceph
                {
                    ceph.refresh_now();
                    self.status = Some((Role::Info, "asking Ceph again...".into()));
                }
            }
            a if a.pane().is_some() => {
                if let Some(p) = a
                    .pane()
                    .and_then(|i| Pane::ALL.get(usize::from(i).saturating_sub(1)))
                {
                    self.switch(*p);
                }
            }
            Action::Up
            | Action::Down
            | Action::PageUp
            | Action::PageDown
            | Action::Top
            | Action::Bottom
                if self.pane == Pane::Overview =>
            {
                self.overview_scroll = match action {
                    Action::Up => self.overview_scroll.saturating_sub(1),
                    Action::Down => self.overview_scroll.saturating_add(1),
                    Action::PageUp => self.overview_scroll.saturating_sub(10),
                    Action::PageDown => self.overview_scroll.saturating_add(10),
                    Action::Top => 0,
                    _ => self.overview_scroll.saturating_add(1000),
                };
            }
            // The Network pane's node table is short; pages scroll its findings.
            Action::PageUp | Action::PageDown if self.pane == Pane::Network => {
                self.network_scroll = if action == Action::PageUp {
                    self.network_scroll.saturating_sub(10)
                } else {
                    self.network_scroll.saturating_add(10)
                };
            }
            Action::Up
            | Action::Down
            | Action::PageUp
            | Action::PageDown
            | Action::Top
            | Action::Bottom => {
                let delta = match action {
                    Action::Up => -1,
                    Action::Down => 1,
                    Action::PageUp => -page,
                    Action::PageDown => page,
                    Action::Top => -(n as isize),
                    _ => n as isize,
                };
                let key = (self.pane, self.sub());
                let mut state = self.tables.remove(&key).unwrap_or_default();
                state.move_by(self.model(), delta);
                self.tables.insert(key, state);
            }
            Action::SortNextColumn | Action::SortReverse => {
                let cols = self.model().columns.len();
                let key = (self.pane, self.sub());
                let state = self.tables.entry(key).or_default();
                if action == Action::SortNextColumn {
                    state.cycle_sort(cols);
                } else {
                    state.reverse_sort();
                }
                self.refresh_table();
            }
            Action::Describe => self.open_detail(DetailKind::Describe),
            Action::Yaml => self.open_detail(DetailKind::Yaml),
            Action::Logs => self.open_detail(DetailKind::Logs),
            Action::Cordon | Action::Uncordon | Action::Delete | Action::Scale => {
                self.action_plan(action)
            }
            _ => {}
        }
    }

    /// The `/` filter, `:` command line and detail search: a text field with the
    /// `[dialog]` keys (confirm keeps, cancel leaves; the filter applies as typed).
    fn on_input_key(&mut self, key: KeyEvent) {
        let field = match &mut self.input {
            Input::Filter(f) | Input::Command(f) | Input::Search(f) => f,
            Input::None => return,
        };
        let answer = field.on_key(&self.keymap, Context::Dialog, key);
        let text = field.text().to_owned();
        match answer {
            FieldKey::Edited if matches!(self.input, Input::Filter(_)) => {
                self.filter = Filter::new(&text);
                self.refresh_table();
            }
            FieldKey::Edited | FieldKey::Unchanged => {}
            FieldKey::Action(Action::Cancel) => {
                if matches!(self.input, Input::Filter(_)) {
                    self.filter = Filter::default();
                    self.refresh_table();
                }
                self.input = Input::None;
            }
            FieldKey::Action(Action::Confirm) => {
                match std::mem::replace(&mut self.input, Input::None) {
                    Input::Command(_) => self.command(&text),
                    Input::Search(_) => {
                        if let Some(Overlay::Detail(d)) = &mut self.overlay {
                            d.search = Some(text);
                            if !d.search_next() {
                                self.status = Some((Role::Warning, "no match".into()));
                            }
                        }
                    }
                    Input::Filter(_) | Input::None => {}
                }
            }
            // Free text takes `?` as text; other dialog keys mean nothing on one line.
            FieldKey::Action(_) => {}
        }
    }

    fn on_detail_key(&mut self, key: KeyEvent) {
        let Some(Overlay::Detail(d)) = &mut self.overlay else {
            return;
        };
        match d.on_key(&self.keymap, key) {
            DetailOutcome::Stay => {}
            DetailOutcome::Close => {
                if let Some(t) = self.log_task.take() {
                    t.abort();
                }
                self.overlay = None;
            }
            DetailOutcome::Help => self.show_help(Some(Context::Detail)),
            DetailOutcome::Search => self.input = Input::Search(TextField::new(Charset::Free)),
            DetailOutcome::NoMatch => self.status = Some((Role::Warning, "no match".into())),
            DetailOutcome::RestartLogs => self.start_logs(),
        }
    }

    /// Opens the keys overlay over the current overlay (`Some(its context)`), or
    /// over the pane.
    fn show_help(&mut self, over: Option<Context>) {
        let focus = match over {
            Some(context) => Focus::Overlay(context),
            None => Focus::Pane {
                own: match self.pane {
                    Pane::Ceph => Some(Context::Ceph),
                    Pane::Pods => Some(Context::Pods),
                    Pane::Storage => Some(Context::Storage),
                    Pane::Overview => Some(Context::Overview),
                    _ => None,
                },
                base: if self.pane == Pane::Overview {
                    Context::Global
                } else {
                    Context::Table
                },
            },
        };
        let under = over.and(self.overlay.take()).map(Box::new);
        self.overlay = Some(Overlay::Help(HelpOverlay::new(focus), under));
    }

    fn on_dialog_key(&mut self, key: KeyEvent) {
        let Some(Overlay::Dialog(d)) = &mut self.overlay else {
            return;
        };
        match d.on_key(&self.keymap, key) {
            DialogOutcome::Stay => {}
            DialogOutcome::Close => self.overlay = None,
            DialogOutcome::Help => self.show_help(Some(Context::Dialog)),
            DialogOutcome::Namespace(ns) => {
                self.namespace = ns;
                self.overlay = None;
                self.refresh_table();
            }
            DialogOutcome::Preview(plan) => self.start_plan(plan),
            DialogOutcome::Run => self.run_plan(),
        }
    }

    pub fn on_msg(&mut self, msg: UiMsg) {
        match msg {
            UiMsg::Logs { id, lines } if id == self.log_id => {
                if let Some(Overlay::Detail(d)) = &mut self.overlay {
                    d.push_lines(lines);
                }
            }
            UiMsg::LogsError { id, error } if id == self.log_id => {
                if let Some(Overlay::Detail(d)) = &mut self.overlay {
                    d.error = Some(error);
                }
            }
            UiMsg::Logs { .. } | UiMsg::LogsError { .. } => {}
            UiMsg::Progress(p) => {
                if let Some(Overlay::Dialog(d)) = &mut self.overlay {
                    let (role, text) = match &p {
                        Progress::StepStarted { index, total, text } => {
                            (Role::Text, format!("[{}/{}] {text} ...", index + 1, total))
                        }
                        Progress::StepDone { index, total, text } => {
                            (Role::Ok, format!("[{}/{}] done: {text}", index + 1, total))
                        }
                        Progress::StepFailed { index, total, text } => (
                            Role::Error,
                            format!("[{}/{}] FAILED: {text}", index + 1, total),
                        ),
                    };
                    d.progress.push((role, text));
                }
            }
            UiMsg::PlanDone(result) => {
                if let Some(Overlay::Dialog(d)) = &mut self.overlay {
                    d.running = false;
                    d.done = true;
                    match result {
                        Ok(s) => d.progress.push((Role::Ok, s)),
                        Err(e) => d.error = Some(e),
                    }
                }
            }
            UiMsg::Object { id, value } if id == self.object_id => {
                if let Some(Overlay::Detail(d)) = &mut self.overlay {
                    let lines = match d.kind {
                        DetailKind::Describe => {
                            super::describe::describe_object(&self.view.snapshot, &d.key, &value)
                        }
                        DetailKind::Yaml => super::describe::yaml_of(&value),
                        DetailKind::Logs => return,
                    };
                    d.scroll = d.scroll.min(lines.len().saturating_sub(1));
                    d.lines = lines.into();
                }
            }
            UiMsg::Object { .. } => {}
            UiMsg::Wizard(m) => {
                if let Some(Overlay::Wizard(w)) = &mut self.overlay {
                    w.on_msg(m);
                }
            }
            UiMsg::Connected(conn) => self.connection = Some(*conn),
        }
    }

    pub fn draw(&mut self, f: &mut Frame) {
        let area = f.area();
        let [tabs, body, status] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(3),
            Constraint::Length(2),
        ])
        .areas(area);
        self.draw_tabs(f, tabs);
        match self.pane {
            Pane::Overview => {
                overview::draw(f, body, &self.view, &self.theme, self.overview_scroll)
            }
            Pane::Network => {
                let key = (Pane::Network, 0);
                let mut state = self.tables.remove(&key).unwrap_or_default();
                network::draw(
                    f,
                    body,
                    &self.view,
                    &mut state,
                    &self.theme,
                    self.overlay.is_none(),
                    self.network_scroll,
                );
                self.tables.insert(key, state);
            }
            Pane::Ceph => {
                let key = (Pane::Ceph, 0);
                let mut state = self.tables.remove(&key).unwrap_or_default();
                let now = self.now();
                super::panes::ceph::draw(
                    f,
                    body,
                    &self.view,
                    &mut state,
                    &self.theme,
                    self.overlay.is_none(),
                    self.ceph_images_only,
                    now,
                );
                self.tables.insert(key, state);
            }
            pane => {
                let title = match pane {
                    Pane::Storage => match self.storage_view {
                        StorageView::Pvc => "PersistentVolumeClaims",
                        StorageView::Pv => "PersistentVolumes",
                        StorageView::StorageClass => "StorageClasses",
                    },
                    Pane::Workloads => match self.workload_filter {
                        WorkloadFilter::All => "Workloads",
                        WorkloadFilter::StatefulSets => "StatefulSets",
                        WorkloadFilter::DaemonSets => "DaemonSets",
                        WorkloadFilter::Deployments => "Deployments",
                    },
                    p => p.title(),
                };
                let ns = self.namespace.clone().unwrap_or_else(|| "all".into());
                let title = format!("{title} [{ns}]");
                let key = (self.pane, self.sub());
                let mut state = self.tables.remove(&key).unwrap_or_default();
                table::draw(
                    f,
                    body,
                    &title,
                    self.model(),
                    &mut state,
                    &self.theme,
                    self.overlay.is_none(),
                    self.now(),
                );
                self.tables.insert(key, state);
            }
        }
        self.draw_status(f, status);
        if let Some(overlay) = &self.overlay {
            self.draw_overlay(f, body, overlay);
        }
    }

    fn draw_overlay(&self, f: &mut Frame, body: Rect, overlay: &Overlay) {
        let (theme, keymap) = (&self.theme, &self.keymap);
        match overlay {
            Overlay::Help(help, under) => {
                if let Some(under) = under {
                    self.draw_overlay(f, body, under);
                }
                help.draw(f, body, theme, keymap, self.read_only);
            }
            Overlay::Detail(d) => d.draw(f, body, theme),
            Overlay::Dialog(d) => d.draw(f, body, theme, keymap, self.read_only),
            Overlay::Wizard(w) => w.draw(f, body, theme, keymap, self.read_only),
        }
    }

    fn draw_tabs(&self, f: &mut Frame, area: Rect) {
        let mut spans = vec![Span::styled(" kcops ", self.theme.style(Role::Title))];
        for (i, p) in Pane::ALL.iter().enumerate() {
            let role = if *p == self.pane {
                Role::Selection
            } else {
                Role::Muted
            };
            spans.push(Span::styled(
                format!(" {}:{} ", i + 1, p.title()),
                self.theme.style(role),
            ));
        }
        if self.read_only {
            spans.push(Span::styled(" READ-ONLY ", self.theme.style(Role::Warning)));
        }
        f.render_widget(Paragraph::new(Line::from(spans)), area);
    }

    fn draw_status(&self, f: &mut Frame, area: Rect) {
        let [line1, line2] =
            Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(area);
        let c = &self.view.connection;
        let last = self
            .view
            .sources
            .iter()
            .filter_map(|s| s.last_success)
            .max();
        let ago = last
            .map(|t| crate::model::pod_status::human_since(t, jiff::Timestamp::now()))
            .map(|a| format!("last success {a} ago"))
            .unwrap_or_else(|| "never succeeded yet".into());
        let errors: Vec<String> = self
            .view
            .sources
            .iter()
            .filter_map(|s| s.last_error.as_ref().map(|e| format!("{}: {e}", s.kind)))
            .collect();
        let (role, text) = if let Some(e) = &c.error {
            (Role::Error, format!("{e} — retrying; {ago}"))
        } else if let Some(first) = errors.first() {
            (
                Role::Error,
                format!("{first} — retrying with backoff; {ago}"),
            )
        } else {
            let node = self.node.as_deref().unwrap_or("?");
            (
                Role::StatusBar,
                format!(
                    "context {}  user {}  server {}  node {node}  {ago}",
                    c.context, c.user, c.server
                ),
            )
        };
        f.render_widget(
            Paragraph::new(Span::styled(text, self.theme.style(role))),
            line1,
        );
        let prompt = |prompt: &'static str, field: &TextField| {
            let mut spans = vec![Span::styled(prompt, self.theme.style(Role::KeyHint))];
            spans.extend(field.spans(self.theme.style(Role::Filter), true));
            Line::from(spans)
        };
        let second = match &self.input {
            Input::Filter(field) => prompt("/", field),
            Input::Command(field) => prompt(":", field),
            Input::Search(field) => prompt("search: ", field),
            Input::None => match &self.status {
                Some((role, s)) => Line::from(Span::styled(s.clone(), self.theme.style(*role))),
                None => {
                    let mut spans = Vec::new();
                    if !self.filter.is_empty() {
                        spans.push(Span::styled(
                            format!("filter: {}  ", self.filter.text),
                            self.theme.style(Role::Filter),
                        ));
                    }
                    let context = if self.pane == Pane::Overview {
                        Context::Global
                    } else {
                        Context::Table
                    };
                    spans.push(Span::styled(
                        super::help::status_hints(&self.keymap, context),
                        self.theme.style(Role::Muted),
                    ));
                    Line::from(spans)
                }
            },
        };
        f.render_widget(Paragraph::new(second), line2);
    }
}

/// Connects (retrying with backoff and reporting why it cannot), starts the
/// reflectors, and publishes a new view model after each change batch.
async fn background(
    opts: ConnectOptions,
    probe: crate::host::probe::HostProbe,
    ceph: Option<(
        Arc<crate::ceph::source::CephWatch>,
        Arc<tokio::sync::Notify>,
    )>,
    view_tx: watch::Sender<Arc<ViewModel>>,
    ui_tx: mpsc::Sender<UiMsg>,
) {
    let mut delay = Duration::from_millis(500);
    let conn = loop {
        match crate::kube::connect::connect(&opts).await {
            Ok(c) => break c,
            Err(e) => {
                let mut vm = ViewModel::default();
                vm.connection.error = Some(e.to_string());
                // Ceph needs no API server: its pane works while this retries.
                if let Some((watch, _)) = &ceph {
                    vm.snapshot.ceph = Some(watch.latest());
                    vm.ceph = super::ceph_view::derive(&vm.snapshot);
                }
                let _ = view_tx.send(Arc::new(vm));
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    };
    let _ = ui_tx.send(UiMsg::Connected(Box::new(conn.clone()))).await;
    let sources = crate::kube::reflectors::Sources::start(&conn);
    let base = super::view::ConnState {
        context: conn.context.clone(),
        server: conn.server.clone(),
        user: conn.user.clone(),
        error: None,
    };
    let sources = Arc::new(sources);
    // Host probes do file IO and run a command: their own task, every ~10 s.
    let find_node = {
        let nodes = sources.nodes.clone();
        move || {
            crate::host::node_with_address(
                nodes.state().iter().map(|n| n.as_ref()),
                &crate::host::local_addresses(),
            )
        }
    };
    let host = crate::host::watch::HostWatch::start(
        probe,
        find_node,
        sources.changed.clone(),
        Duration::from_secs(10),
    );
    let (ceph, ceph_changed) = match ceph {
        Some((w, n)) => (Some(w), n),
        None => (None, Arc::new(tokio::sync::Notify::new())),
    };
    let mut generation = 0u64;
    let mut last = Instant::now() - Duration::from_secs(1);
    let mut deriver = Some(super::view::Deriver::default());
    let mut findings = FindingsSchedule::default();
    let (found_tx, mut found_rx) = mpsc::channel::<(Vec<crate::diagnose::Finding>, Duration)>(1);
    loop {
        // Wake on change (errors included), on findings diagnosed in the background, when
        // findings are due again, or once a minute so ages and time thresholds move.
        let due = findings.due_in();
        tokio::select! {
            _ = sources.changed.notified() => findings.dirty = true,
            _ = ceph_changed.notified() => findings.dirty = true,
            Some((f, cost)) = found_rx.recv() => findings.done(f, cost),
            _ = tokio::time::sleep(due.unwrap_or_default()), if due.is_some() => {}
            _ = tokio::time::sleep(Duration::from_secs(60)) => findings.dirty = true,
        }
        // Coalesce: at most ~20 derivations a second.
        let since = last.elapsed();
        if since < Duration::from_millis(50) {
            tokio::time::sleep(Duration::from_millis(50) - since).await;
        }
        last = Instant::now();
        generation += 1;
        let s = sources.clone();
        let conn_state = base.clone();
        let inline = findings.inline();
        let background = !inline && findings.start_due();
        let current = findings.latest.clone();
        let mut d = deriver.take().unwrap_or_default();
        let host_report = host.latest();
        let ceph_report = ceph.as_ref().map(|c| c.latest());
        let job = tokio::task::spawn_blocking(move || {
            let t0 = Instant::now();
            let mut snapshot = s.snapshot();
            snapshot.host = host_report;
            snapshot.ceph = ceph_report;
            let snapshot_us = t0.elapsed().as_micros() as u64;
            let t1 = Instant::now();
            let diagnosed = inline.then(|| crate::diagnose::diagnose(&snapshot));
            let diagnose = t1.elapsed();
            let for_diagnosis = background.then(|| snapshot.clone());
            let pods = snapshot.pods.len();
            let t2 = Instant::now();
            let vm = d.derive(
                snapshot,
                conn_state,
                generation,
                diagnosed.clone().unwrap_or(current),
            );
            tracing::debug!(
                generation,
                pods,
                snapshot_us,
                diagnose_us = diagnose.as_micros() as u64,
                derive_us = t2.elapsed().as_micros() as u64,
                "view derived"
            );
            (d, vm, diagnosed.map(|f| (f, diagnose)), for_diagnosis)
        });
        match job.await {
            Ok((d, vm, diagnosed, for_diagnosis)) => {
                deriver = Some(d);
                if let Some((f, cost)) = diagnosed {
                    findings.done(f, cost);
                }
                if let Some(snapshot) = for_diagnosis {
                    let tx = found_tx.clone();
                    tokio::task::spawn_blocking(move || {
                        let t = Instant::now();
                        let f = crate::diagnose::diagnose(&snapshot);
                        let cost = t.elapsed();
                        tracing::debug!(
                            findings = f.len(),
                            diagnose_us = cost.as_micros() as u64,
                            "findings diagnosed in the background"
                        );
                        let _ = tx.blocking_send((f, cost));
                    });
                }
                if view_tx.send(Arc::new(vm)).is_err() {
                    return;
                }
            }
            Err(e) => tracing::error!("view derivation failed: {e}"),
        }
    }
}

/// When the findings are diagnosed. While that is cheap (a few milliseconds), with
/// every view, as the rows are; once it is not (150,000 pods take tens of
/// milliseconds), in the background, at most once per twenty times its cost (and per
/// second), the views in between keeping the last findings, so rows never wait.
struct FindingsSchedule {
    latest: Vec<crate::diagnose::Finding>,
    /// Something changed since the last diagnosis started.
    dirty: bool,
    running: bool,
    cost: Duration,
    next_start: Instant,
}

impl Default for FindingsSchedule {
    fn default() -> Self {
        Self {
            latest: Vec::new(),
            dirty: true,
            running: false,
            cost: Duration::ZERO,
            next_start: Instant::now(),
        }
    }
}

impl FindingsSchedule {
    const INLINE_BELOW: Duration = Duration::from_millis(20);

    fn inline(&self) -> bool {
        self.cost < Self::INLINE_BELOW && !self.running
    }

    /// Claims a background diagnosis if one is due now.
    fn start_due(&mut self) -> bool {
        if !self.dirty || self.running || Instant::now() < self.next_start {
            return false;
        }
        self.dirty = false;
        self.running = true;
        self.next_start = Instant::now() + (self.cost * 20).max(Duration::from_secs(1));
        true
    }

    /// How long until a pending background diagnosis may start.
    fn due_in(&self) -> Option<Duration> {
        (self.dirty && !self.running && !self.inline())
            .then(|| self.next_start.saturating_duration_since(Instant::now()))
    }

    fn done(&mut self, findings: Vec<crate::diagnose::Finding>, cost: Duration) {
        self.latest = findings;
        self.cost = cost;
        self.running = false;
        self.next_start = self.next_start.max(Instant::now() + cost * 19);
    }
}

/// Runs the console until the operator quits or a signal arrives.
pub async fn run(opts: ConsoleOptions) -> Result<()> {
    let (ui_tx, mut ui_rx) = mpsc::channel::<UiMsg>(256);
    let (view_tx, mut view_rx) = watch::channel(Arc::new(ViewModel::default()));
    let mut probe = crate::host::probe::HostProbe::new(
        opts.host_root.clone().unwrap_or_else(|| "/".into()),
        opts.node.clone(),
    );
    probe.sandboxes_command = opts.sandboxes_command.clone();
    // Ceph has its own thread and refresh task from the start: it needs no API server.
    let ceph_changed = Arc::new(tokio::sync::Notify::new());
    let ceph =
        opts.ceph.clone().and_then(
            |settings| match crate::ceph::CephClient::connect(settings) {
                Ok(client) => Some(Arc::new(crate::ceph::source::CephWatch::start(
                    client,
                    ceph_changed.clone(),
                    Duration::from_secs(10),
                ))),
                Err(e) => {
                    tracing::warn!("cannot start the Ceph client: {e}");
                    None
                }
            },
        );
    let bg = tokio::spawn(background(
        opts.connect.clone(),
        probe,
        ceph.clone().map(|c| (c, ceph_changed.clone())),
        view_tx,
        ui_tx.clone(),
    ));
    let mut app = App::new(&opts, ui_tx);
    app.ceph = ceph;
    let mut guard = super::terminal::TerminalGuard::enter()?;
    let mut events = EventStream::new();
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut sighup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut dirty = true;
    let mut last_draw = Instant::now() - Duration::from_secs(1);
    let frame_budget = Duration::from_millis(50);
    loop {
        if dirty {
            let since = last_draw.elapsed();
            if since >= frame_budget {
                let t0 = Instant::now();
                app.set_clock(jiff::Timestamp::now());
                guard.terminal.draw(|f| app.draw(f))?;
                tracing::trace!(
                    frame_us = t0.elapsed().as_micros() as u64,
                    generation = app.view.generation,
                    "frame"
                );
                last_draw = Instant::now();
                dirty = false;
            }
        }
        let redraw_in = if dirty {
            frame_budget.saturating_sub(last_draw.elapsed())
        } else {
            Duration::from_secs(3600)
        };
        tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(TermEvent::Key(k))) => { app.on_key(k); dirty = true; }
                Some(Ok(TermEvent::Resize(..))) => dirty = true,
                Some(Ok(_)) => {}
                Some(Err(e)) => { tracing::warn!("terminal event error: {e}"); }
                None => break,
            },
            changed = view_rx.changed() => {
                if changed.is_err() { break; }
                let v = view_rx.borrow_and_update().clone();
                // The last reference to the old view (150,000 rows and pods) is let go
                // off the UI task.
                let old = app.view.clone();
                let t = Instant::now();
                app.set_view(v);
                tracing::trace!(generation = app.view.generation, set_view_us = t.elapsed().as_micros() as u64, "view received");
                tokio::task::spawn_blocking(move || drop(old));
                dirty = true;
            }
            Some(msg) = ui_rx.recv() => { app.on_msg(msg); dirty = true; }
            _ = tick.tick() => { dirty = true; }
            _ = tokio::time::sleep(redraw_in) => {}
            _ = sigterm.recv() => break,
            _ = sighup.recv() => break,
        }
        if app.quit {
            break;
        }
    }
    bg.abort();
    let _ = bg.await;
    drop(guard);
    // The terminal is back; now let the Ceph thread shut librados down before the
    // process exits (see `CephClient`'s drop).
    if let Some(watch) = app.ceph.take() {
        drop(app);
        if let Ok(watch) = Arc::try_unwrap(watch) {
            watch.close().await;
        }
    }
    Ok(())
}
