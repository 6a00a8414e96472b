//! The console's top level: the pane in front, the overlays over it (help, detail
//! views, dialogs, wizards), the status line and the text inputs. Keys go to the
//! overlay or input that has them, else through the keymap to the pane in front
//! ([`Pane::on_action`]) and then to what works alike on every pane; `:` commands go
//! through [`commands`]; views and messages from background tasks arrive here.
//!
//! What a pane shows and does is in its module under [`super::panes`]; starting plans
//! and wizards in [`launch`]; opening and feeding detail views in [`details`]; the data
//! behind everything comes from [`crate::feed`].

mod browse;
mod context;
mod details;
mod drill;
mod edit;
mod forward;
mod launch;
mod suspend;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use crossterm::event::{KeyEvent, KeyEventKind};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use tokio::sync::mpsc;

use super::commands::{self, Command, Run};
use super::detail::DetailOutcome;
use super::detail::{Detail, DetailKind};
use super::dialog::DialogOutcome;
use super::dialog::{Dialog, DialogKind};
use super::help::{Focus, HelpOverlay};
use super::keymap::{Action, Context, Keymap};
use super::panes::table::Filter;
use super::panes::{self, DrawCtx, Outcome, Pane, PaneCtx, PaneId};
use super::text_field::{Charset, FieldKey, TextField};
use super::theme::{Role, Theme};
use super::view::{ObjKey, TableModel, ViewModel};
use crate::feed::FeedMsg;
use crate::kube::connect::{ConnectOptions, Connection};
use crate::ops::Progress;

pub use super::event_loop::run;

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
    /// How debug pods on other nodes run (`--debug-image`, `--debug-namespace`).
    pub debug_pod: crate::ops::DebugPodSpec,
    /// How to reach Ceph; `None` runs without it (`--no-ceph`, or no conf).
    pub ceph: Option<crate::ceph::CephSettings>,
}

/// Messages from background tasks to the UI task.
pub enum UiMsg {
    /// From the feed: the connection, log lines, fetched objects.
    Feed(FeedMsg),
    Progress(Progress),
    /// Answers to an open wizard (assessment, dry-run, progress, end).
    Wizard(super::wizard::WizardMsg),
    PlanDone(Result<String, String>),
    /// A lab's story is still playing (what the Overview says instead of
    /// "healthy"), or no longer (`None`).
    LabStory(Option<String>),
    /// Something a background task has to say on the status line.
    Status(Role, String),
    /// A large table's new row order, made off the UI task, for the pane (by index)
    /// whose table asked: the operator may have moved to another since.
    TableOrder(usize, super::panes::table::OrderDone),
}

impl From<FeedMsg> for UiMsg {
    fn from(msg: FeedMsg) -> Self {
        UiMsg::Feed(msg)
    }
}

#[derive(Debug)]
enum Overlay {
    /// The keys (or the `:` commands); the overlay it was opened over comes back
    /// when it closes.
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

/// The console's state. Each pane keeps its own (see [`super::panes`]).
pub struct App {
    /// The pane in front.
    pub pane: PaneId,
    /// Every pane, in [`PaneId::ALL`]'s order.
    panes: Vec<Box<dyn Pane>>,
    /// The `:` commands (the panes' and the app's).
    commands: Vec<&'static Command>,
    /// Each pane's `/` filter, in [`PaneId::ALL`]'s order: a filter typed on one pane
    /// never hides rows of another.
    filters: Vec<Filter>,
    /// Each pane's namespace (`None`: all), in [`PaneId::ALL`]'s order, as k9s keeps
    /// one per view: `:pods kube-system` changes the Pods pane only.
    namespaces: Vec<Option<String>>,
    overlay: Option<Overlay>,
    input: Input,
    pub view: Arc<ViewModel>,
    theme: Theme,
    keymap: Keymap,
    read_only: bool,
    status: Option<(Role, String)>,
    log_id: u64,
    /// Tells the answer to the latest describe/YAML fetch from older ones.
    object_id: u64,
    /// See [`App::now`].
    clock: Option<jiff::Timestamp>,
    log_task: Option<tokio::task::JoinHandle<()>>,
    connection: Option<Connection>,
    audit_log: std::path::PathBuf,
    tx: mpsc::Sender<UiMsg>,
    /// How the console connects (what a kubectl it runs uses too).
    connect: ConnectOptions,
    pub quit: bool,
    /// The node the console runs on (`--node`, or found by address once nodes arrive).
    node: Option<String>,
    /// How the host probes list live sandboxes (for releasing leaked reservations).
    sandboxes_command: Option<Vec<String>>,
    /// How debug pods on other nodes run (`:probe-host`, `:release-ips NODE`).
    debug_pod: crate::ops::DebugPodSpec,
    /// The host root (`--host-root`): where member steps read etcd's certificates.
    host_root: std::path::PathBuf,
    /// Other nodes' host reports, filled by the plans that read them.
    pub(crate) remote_hosts: crate::host::remote::RemoteHosts,
    /// The Ceph refresh task and its client (`None`: running without Ceph).
    pub ceph: Option<Arc<crate::ceph::source::CephWatch>>,
    /// Config problems and each status line said, oldest first (`:messages`).
    messages: Vec<String>,
    /// The status text last kept in `messages`, so it is kept once.
    said: Option<String>,
    /// Plans running now, and the stop a signal triggers.
    pub(crate) plans: super::plans::Plans,
    /// See [`UiMsg::LabStory`].
    lab_story: Option<String>,
    /// The drill-down back stack (Enter down, Esc back).
    nav: super::nav::Nav,
    /// A program to run with the terminal handed back (a shell, `$EDITOR`); the
    /// event loop takes it after the key that asked for it.
    pub(crate) suspend: Option<suspend::Suspend>,
    /// The resource browser's list task, the id of its answers, and whether the
    /// browser waits for the first one to come to the front (`:<kind>`).
    browse_task: Option<tokio::task::JoinHandle<()>>,
    browse_id: u64,
    browse_pending: bool,
    /// How to connect after `:ctx`: the event loop starts the feed again with it.
    pub(crate) reconnect: Option<ConnectOptions>,
    /// The fetch an edit waits for, and the replace to confirm once its diff is read.
    edit_fetch: Option<(u64, super::view::ObjKey)>,
    pending_edit: Option<crate::ops::Plan>,
}

impl App {
    pub fn new(opts: &ConsoleOptions, tx: mpsc::Sender<UiMsg>) -> Self {
        let status = match opts.config_errors.len() {
            0 => None,
            n => Some((
                Role::Warning,
                format!(
                    "{n} problem{} in the config files (bad entries use defaults): :messages lists {}",
                    if n == 1 { "" } else { "s" },
                    if n == 1 { "it" } else { "them" }
                ),
            )),
        };
        let messages = opts
            .config_errors
            .iter()
            .map(|e| format!("config: {e}"))
            .collect();
        let panes = panes::all();
        let commands = commands::table(&panes);
        Self {
            pane: PaneId::Overview,
            panes,
            commands,
            messages,
            said: None,
            filters: vec![Filter::default(); PaneId::EVERY.len()],
            namespaces: vec![opts.namespace.clone(); PaneId::EVERY.len()],
            overlay: None,
            input: Input::None,
            view: Arc::new(ViewModel::default()),
            theme: opts.theme.clone(),
            keymap: opts.keymap.clone(),
            read_only: opts.read_only,
            status,
            log_id: 0,
            object_id: 0,
            clock: None,
            log_task: None,
            connection: None,
            audit_log: opts.audit_log.clone(),
            tx,
            connect: opts.connect.clone(),
            quit: false,
            node: opts.node.clone(),
            sandboxes_command: opts.sandboxes_command.clone(),
            debug_pod: opts.debug_pod.clone(),
            host_root: opts.host_root.clone().unwrap_or_else(|| "/".into()),
            remote_hosts: Default::default(),
            ceph: None,
            plans: super::plans::Plans::default(),
            lab_story: None,
            nav: Default::default(),
            suspend: None,
            browse_task: None,
            browse_id: 0,
            browse_pending: false,
            reconnect: None,
            edit_fetch: None,
            pending_edit: None,
        }
    }

    /// The status line's text (the event loop says what a signal is doing there).
    pub(crate) fn set_status(&mut self, role: Role, text: String) {
        self.status = Some((role, text));
    }

    /// The namespace of the pane in front (`None`: all).
    pub fn namespace(&self) -> Option<&str> {
        self.namespaces[self.pane.index()].as_deref()
    }

    /// The `/` filter of the pane in front.
    fn filter(&self) -> &Filter {
        &self.filters[self.pane.index()]
    }

    /// The pane in front.
    fn active(&self) -> &dyn Pane {
        self.panes[self.pane.index()].as_ref()
    }

    /// The table of the pane in front (`None` on the Overview).
    fn model(&self) -> Option<&TableModel> {
        self.active().table(&self.view).map(|(model, _)| model)
    }

    /// Recomputes the current table's row order (after a view, filter or sort change).
    fn refresh_table(&mut self) {
        let view = self.view.clone();
        let now = self.now();
        let i = self.pane.index();
        if let Some((model, state)) = self.panes[i].table_mut(&view) {
            state.refresh(model, &self.filters[i], self.namespaces[i].as_deref(), now);
        }
    }

    /// Starts the front table's queued filter/sort off the UI task (at once when
    /// there is no runtime: tests that drive the app by hand).
    pub fn start_table_jobs(&mut self) {
        let view = self.view.clone();
        let i = self.pane.index();
        let Some((_, state)) = self.panes[i].table_mut(&view) else {
            return;
        };
        let Some(job) = state.take_job() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                let tx = self.tx.clone();
                rt.spawn_blocking(move || {
                    let _ = tx.blocking_send(UiMsg::TableOrder(i, job.run()));
                });
            }
            Err(_) => {
                state.apply(job.run());
            }
        }
    }

    /// Whether the table in front waits for a new order made off the UI task (its
    /// answer is drawn at once; a frame before it would show the rows unchanged).
    pub fn front_table_ordering(&self) -> bool {
        self.active()
            .table(&self.view)
            .is_some_and(|(_, state)| state.ordering())
    }

    pub fn set_view(&mut self, view: Arc<ViewModel>) {
        // The host probe finds this machine's node by address off the UI task (a
        // scan of every node's addresses with each view would be on it).
        if self.node.is_none() {
            self.node = view.snapshot.host.as_ref().and_then(|h| h.node.clone());
        }
        for pane in &mut self.panes {
            pane.on_view(&view);
        }
        self.view = view;
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
        self.active().selected(&self.view)
    }

    /// The image row selected in the Ceph pane, as `(pool, image)`: what the
    /// lock-removal wizard opens on. `None` on other panes or without a selection.
    pub fn selected_image(&self) -> Option<(String, String)> {
        if self.pane != PaneId::Ceph {
            return None;
        }
        let key = self.selected()?;
        self.view
            .ceph
            .detail(&key)
            .map(|d| (d.pool.clone(), d.image.clone()))
    }

    /// Brings `pane` to the front, leaving any drill-down (its back stack too).
    fn switch(&mut self, pane: PaneId) {
        self.leave_drill();
        if pane != PaneId::Resources {
            self.stop_browse();
        }
        self.pane = pane;
        self.refresh_table();
    }

    /// Runs a `:` command: `:pods kube-system`, `:pvc`, `:q`, ...
    fn command(&mut self, text: &str) {
        match commands::parse(&self.commands, text) {
            Ok((command, arg)) => match command.run {
                Run::Show { pane, namespaced } => {
                    self.show(pane, command.name, arg.filter(|_| namespaced))
                }
                // An action's arguments are the rest of the line (`:scale ns/name 5`).
                Run::App { handler, .. } => handler(
                    self,
                    arg.and_then(|_| {
                        let rest = text.trim_start().split_once(char::is_whitespace)?.1;
                        Some(rest.trim())
                    }),
                ),
            },
            // Perhaps a kind the API server lists (`:ingresses`, `:leases`).
            Err(word) => self.browse_unknown(word),
        }
    }

    /// Brings `pane` to the front as `command` asks (its sub-view, and `namespace`
    /// if given).
    fn show(&mut self, pane: PaneId, command: &str, namespace: Option<&str>) {
        let view = self.view.clone();
        self.panes[pane.index()].open(command, &view);
        if let Some(ns) = namespace {
            self.namespaces[pane.index()] = (ns != "all" && ns != "-A").then(|| ns.to_string());
        }
        self.switch(pane);
    }

    /// Shows the selected object (the Overview's selected finding's subject) in the
    /// pane that lists it, selected.
    fn go_to_selected(&mut self) {
        let Some(subject) = self.active().selected(&self.view) else {
            self.status = Some((Role::Warning, "nothing to go to".into()));
            return;
        };
        let Some((pane, command)) = panes::findings_list::pane_of(subject.kind) else {
            return;
        };
        let view = self.view.clone();
        let i = pane.index();
        self.panes[i].open(command, &view);
        if let Some((_, state)) = self.panes[i].table_mut(&view) {
            state.selected_key = Some(subject);
        }
        self.switch(pane);
    }

    /// `:ns [name]`: one namespace, or every one without a name (or with `all`, `-A`).
    pub(crate) fn set_namespace(&mut self, name: Option<&str>) {
        self.namespaces[self.pane.index()] = name
            .filter(|a| *a != "all" && *a != "-A")
            .map(str::to_string);
        self.refresh_table();
    }

    /// `:help`: the command list.
    pub(crate) fn show_commands(&mut self) {
        let help = HelpOverlay::new(Focus::Commands).with_commands(commands::help(&self.commands));
        self.overlay = Some(Overlay::Help(help, None));
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
                    let running = self.plans.start();
                    spawn_run(id, e, plan, input, self.tx.clone(), move || {
                        drop(running);
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
        // The pane's own keys ([ceph], [pods], ...) first, then those it falls back to.
        let Some(action) = self
            .active()
            .contexts()
            .iter()
            .find_map(|c| self.keymap.action(*c, key))
        else {
            return;
        };
        self.status = None;
        if !self.offer_to_pane(action) {
            self.on_common_action(action);
        }
    }

    /// Carries out an action every pane shares; `false` when `action` is not one
    /// (or names a pane that does not exist), so a test can prove each bound key
    /// does something.
    fn on_common_action(&mut self, action: Action) -> bool {
        match action {
            Action::Quit => self.quit = true,
            Action::Help => self.show_help(None),
            Action::Unlock => self.open_unlock(None),
            Action::ProbeHost => self.probe_host(None),
            Action::RestartCni => self.offer_restart_cni(None),
            Action::ReleaseIps => {
                let node = self.network_node();
                self.release_leaked(node.as_deref())
            }
            Action::CommandLine => self.input = Input::Command(TextField::new(Charset::Free)),
            Action::Filter => {
                self.input = Input::Filter(TextField::with_text(Charset::Free, &self.filter().text))
            }
            Action::NextPane => {
                self.switch(PaneId::ALL[(self.pane.index() + 1) % PaneId::ALL.len()])
            }
            Action::PrevPane => self.switch(
                PaneId::ALL[(self.pane.index() + PaneId::ALL.len() - 1) % PaneId::ALL.len()],
            ),
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
            Action::Refresh => self.refresh_table(),
            a if a.pane().is_some() => {
                match a
                    .pane()
                    .and_then(|i| PaneId::ALL.get(usize::from(i).saturating_sub(1)))
                {
                    Some(p) => self.switch(*p),
                    None => return false,
                }
            }
            Action::Describe => self.open_detail(DetailKind::Describe),
            Action::Yaml => self.open_detail(DetailKind::Yaml),
            Action::Logs => self.open_detail(DetailKind::Logs),
            Action::DrillDown => self.drill_down(),
            Action::GoBack => self.go_back(),
            Action::Shell => self.shell(),
            Action::Edit => self.edit(),
            Action::PortForward => {
                self.input = Input::Command(TextField::with_text(Charset::Free, "port-forward "))
            }
            Action::Cordon | Action::Uncordon | Action::Delete | Action::Scale => {
                self.action_plan(action)
            }
            Action::GoTo => self.go_to_selected(),
            _ => return false,
        }
        true
    }

    /// Keeps what the status line says now in the messages (once per change), so a
    /// message cleared by the next key can still be read with `:messages`.
    pub(super) fn keep_status(&mut self) {
        let now = self.status.as_ref().map(|(_, text)| text);
        if now.is_some() && now != self.said.as_ref() {
            self.said = now.cloned();
            if let Some(text) = now {
                let at = jiff::Zoned::now().strftime("%H:%M:%S");
                self.messages.push(format!("{at} {text}"));
            }
            // Bounded: a long session keeps its last thousand.
            let over = self.messages.len().saturating_sub(1000);
            self.messages.drain(..over);
        } else if now.is_none() {
            self.said = None;
        }
    }

    pub(crate) fn show_messages(&mut self) {
        let lines = if self.messages.is_empty() {
            vec!["no messages yet".to_owned()]
        } else {
            self.messages.clone()
        };
        self.overlay = Some(Overlay::Detail(Detail::messages(lines)));
    }

    /// Gives the pane in front the first say on `action`; `true` when it took it.
    fn offer_to_pane(&mut self, action: Action) -> bool {
        let view = self.view.clone();
        let now = self.now();
        let ctx = PaneCtx {
            view: &view,
            filter: &self.filters[self.pane.index()],
            namespace: self.namespaces[self.pane.index()].as_deref(),
            now,
        };
        let i = self.pane.index();
        match self.panes[i].on_action(action, &ctx) {
            Outcome::Ignored => false,
            Outcome::Handled => true,
            Outcome::AskCeph => {
                // Ceph is asked again at once, on its own thread.
                if let Some(ceph) = &self.ceph {
                    ceph.refresh_now();
                    self.status = Some((Role::Info, "asking Ceph again...".into()));
                }
                true
            }
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
                self.filters[self.pane.index()] = Filter::new(&text);
                self.refresh_table();
            }
            FieldKey::Edited | FieldKey::Unchanged => {}
            FieldKey::Action(Action::Cancel) => {
                if matches!(self.input, Input::Filter(_)) {
                    self.filters[self.pane.index()] = Filter::default();
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
                // The diff of an edit was read: now the replace, to confirm.
                if let Some(plan) = self.pending_edit.take() {
                    self.start_plan(plan);
                }
            }
            DetailOutcome::Help => self.show_help(Some(Context::Detail)),
            DetailOutcome::Search => self.input = Input::Search(TextField::new(Charset::Free)),
            DetailOutcome::NoMatch => self.status = Some((Role::Warning, "no match".into())),
            DetailOutcome::RestartLogs => self.start_logs(),
        }
    }

    /// Opens the keys overlay over the current overlay (`Some(its context)`), or
    /// over the pane (`:help` lists the commands).
    fn show_help(&mut self, over: Option<Context>) {
        let help = match over {
            Some(context) => HelpOverlay::new(Focus::Overlay(context)),
            None => HelpOverlay::new(Focus::Pane(self.active().contexts())),
        };
        let under = over.and(self.overlay.take()).map(Box::new);
        self.overlay = Some(Overlay::Help(help, under));
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
                self.namespaces[self.pane.index()] = ns;
                self.overlay = None;
                self.refresh_table();
            }
            DialogOutcome::Preview(plan) => self.start_plan(plan),
            DialogOutcome::Run => self.run_plan(),
        }
    }

    pub(crate) fn on_msg(&mut self, msg: UiMsg) {
        match msg {
            UiMsg::TableOrder(pane, done) => {
                let view = self.view.clone();
                if let Some((_, state)) = self.panes.get_mut(pane).and_then(|p| p.table_mut(&view))
                {
                    state.apply(done);
                }
            }
            UiMsg::Feed(FeedMsg::Logs { id, lines }) if id == self.log_id => {
                if let Some(Overlay::Detail(d)) = &mut self.overlay {
                    d.push_lines(lines);
                }
            }
            UiMsg::Feed(FeedMsg::LogsError { id, error }) if id == self.log_id => {
                if let Some(Overlay::Detail(d)) = &mut self.overlay {
                    d.error = Some(error);
                }
            }
            UiMsg::Feed(FeedMsg::Logs { .. } | FeedMsg::LogsError { .. }) => {}
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
            UiMsg::Feed(FeedMsg::Object { id, value })
                if self.edit_fetch.as_ref().is_some_and(|(e, _)| *e == id) =>
            {
                if let Some((_, key)) = self.edit_fetch.take() {
                    self.open_editor(key, &value);
                }
            }
            UiMsg::Feed(FeedMsg::Object { id, value }) if id == self.object_id => {
                if let Some(Overlay::Detail(d)) = &mut self.overlay {
                    let lines = match d.kind {
                        DetailKind::Describe => {
                            super::describe::describe_object(&self.view.snapshot, &d.key, &value)
                        }
                        DetailKind::Yaml => super::describe::yaml_of(&value),
                        DetailKind::Logs | DetailKind::Messages => return,
                    };
                    d.scroll = d.scroll.min(lines.len().saturating_sub(1));
                    d.lines = lines.into();
                }
            }
            UiMsg::Feed(FeedMsg::Object { .. }) => {}
            UiMsg::Feed(FeedMsg::Resources { id, result }) => self.on_resources(id, result),
            UiMsg::Status(role, text) => self.status = Some((role, text)),
            UiMsg::Wizard(m) => {
                if let super::wizard::WizardMsg::Assessed { wizard, .. } = &m
                    && let Some(text) = &wizard.clipboard
                {
                    super::clipboard::copy(text);
                }
                if let Some(Overlay::Wizard(w)) = &mut self.overlay {
                    w.on_msg(m);
                }
            }
            UiMsg::Feed(FeedMsg::Connected(conn)) => {
                super::lab_story::spawn(conn.client.clone(), self.tx.clone());
                self.connection = Some(*conn);
            }
            UiMsg::LabStory(story) => self.lab_story = story,
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
        let view = self.view.clone();
        let ctx = DrawCtx {
            view: &view,
            theme: &self.theme,
            focused: self.overlay.is_none(),
            namespace: self.namespaces[self.pane.index()].as_deref(),
            now: self.now(),
            lab_story: self.lab_story.as_deref(),
        };
        let i = self.pane.index();
        self.panes[i].draw(f, body, &ctx);
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
        // Where every title does not fit (80 columns), the other panes show their
        // number only, so the pane in front is always named.
        let full: usize = 7 + self
            .panes
            .iter()
            .enumerate()
            .map(|(i, p)| format!(" {}:{} ", i + 1, p.title()).chars().count())
            .sum::<usize>();
        let compact = full > usize::from(area.width);
        for (i, p) in self.panes.iter().enumerate() {
            let front = p.id() == self.pane;
            // The browser has a tab only while in front.
            if p.id() == PaneId::Resources && !front {
                continue;
            }
            let role = if front { Role::Selection } else { Role::Muted };
            let text = if compact && !front {
                format!(" {} ", i + 1)
            } else {
                format!(" {}:{} ", i + 1, p.title())
            };
            spans.push(Span::styled(text, self.theme.style(role)));
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
        // The age of the newest data received (a retry is no success), from the clock.
        let sources = &self.view.sources;
        let ago = crate::views::freshness::last_success(sources, jiff::Timestamp::now());
        // The age first: a long error is cut at the screen's edge.
        let (role, text) = if let Some(e) = &c.error {
            (Role::Error, format!("{ago}; {e} — retrying"))
        } else if let Some(failing) = crate::views::freshness::failing(sources) {
            (
                Role::Error,
                format!("{ago}; {failing} — retrying with backoff"),
            )
        } else if let Some(waiting) = crate::views::freshness::waiting(sources) {
            let pods = self.view.snapshot.pods.len();
            let text = match crate::views::freshness::pods_loading(sources, pods) {
                // The first list's progress first: an 80-column line keeps it.
                Some(loading) => format!("{loading}; {ago}; {waiting}"),
                None => format!(
                    "{ago}; waiting for the API server at {}: {waiting}",
                    c.server
                ),
            };
            (Role::Warning, text)
        } else {
            let node = self.node.as_deref().unwrap_or("?");
            (
                Role::StatusBar,
                format!("{}  server {}  node {node}  {ago}", c.who(), c.server),
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
                    if let Some(hint) = self.active().hint(&self.view, &self.keymap) {
                        spans.push(Span::styled(
                            format!("{hint}  "),
                            self.theme.style(Role::KeyHint),
                        ));
                    }
                    if !self.filter().is_empty() {
                        spans.push(Span::styled(
                            format!("filter: {}  ", self.filter().text),
                            self.theme.style(Role::Filter),
                        ));
                    }
                    // The pane's fallback section: `[table]`, or `[global]` on the Overview.
                    let context = self
                        .active()
                        .contexts()
                        .last()
                        .copied()
                        .unwrap_or(Context::Global);
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
