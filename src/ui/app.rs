//! The console's top level: the pane in front, the overlays over it (help, detail
//! views, dialogs, wizards), the status line and the text inputs. Keys go to the
//! overlay or input that has them, else through the keymap to the pane in front
//! ([`Pane::on_action`]) and then to what works alike on every pane; `:` commands go
//! through [`commands`]; views and messages from background tasks arrive here.
//!
//! What a pane shows and does is in its module under [`super::panes`]; starting plans
//! and wizards in [`launch`]; opening and feeding detail views in [`details`]; the data
//! behind everything comes from [`crate::feed`].

mod details;
mod launch;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use tokio::sync::mpsc;

use super::commands::{self, Command, Run};
use super::detail::{Detail, DetailKind};
use super::dialog::{Dialog, DialogKind};
use super::keymap::{Action, Context, Keymap};
use super::panes::table::Filter;
use super::panes::{self, DrawCtx, Outcome, Pane, PaneCtx, PaneId};
use super::theme::{Role, Theme};
use super::view::{ObjKey, TableModel, ViewModel};
use crate::feed::FeedMsg;
use crate::kube::connect::{ConnectOptions, Connection};
use crate::ops::{Plan, Progress};

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
}

impl From<FeedMsg> for UiMsg {
    fn from(msg: FeedMsg) -> Self {
        UiMsg::Feed(msg)
    }
}

#[derive(Debug)]
enum Overlay {
    Help,
    /// The `:` commands (`:help`).
    Commands,
    Detail(Detail),
    Dialog(Dialog),
    Wizard(Box<super::wizard::WizardOverlay>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Input {
    None,
    Filter(String),
    Command(String),
    Search(String),
}

/// The console's state. Each pane keeps its own (see [`super::panes`]).
pub struct App {
    /// The pane in front.
    pub pane: PaneId,
    /// Every pane, in [`PaneId::ALL`]'s order.
    panes: Vec<Box<dyn Pane>>,
    /// The `:` commands (the panes' and the app's).
    commands: Vec<&'static Command>,
    filter: Filter,
    pub namespace: Option<String>,
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
    pub quit: bool,
    /// The node the console runs on (`--node`, or found by address once nodes arrive).
    node: Option<String>,
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
        let panes = panes::all();
        let commands = commands::table(&panes);
        Self {
            pane: PaneId::Overview,
            panes,
            commands,
            filter: Filter::default(),
            namespace: opts.namespace.clone(),
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
            quit: false,
            node: opts.node.clone(),
            sandboxes_command: opts.sandboxes_command.clone(),
            ceph: None,
        }
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
            state.refresh(model, &self.filter, self.namespace.as_deref(), now);
        }
    }

    pub fn set_view(&mut self, view: Arc<ViewModel>) {
        if self.node.is_none() && !view.snapshot.nodes.is_empty() {
            self.node = crate::host::node_with_address(
                view.snapshot.nodes.iter().map(|n| n.as_ref()),
                &crate::host::local_addresses(),
            );
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

    fn switch(&mut self, pane: PaneId) {
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
                Run::App { handler, .. } => handler(self, arg),
            },
            Err(word) => {
                self.status = Some((Role::Error, commands::unknown(&self.commands, word)));
            }
        }
    }

    /// Brings `pane` to the front as `command` asks (its sub-view, and `namespace`
    /// if given).
    fn show(&mut self, pane: PaneId, command: &str, namespace: Option<&str>) {
        let view = self.view.clone();
        self.panes[pane.index()].open(command, &view);
        if let Some(ns) = namespace {
            self.namespace = (ns != "all" && ns != "-A").then(|| ns.to_string());
        }
        self.switch(pane);
    }

    /// `:ns [name]`: one namespace, or every one without a name (or with `all`, `-A`).
    pub(crate) fn set_namespace(&mut self, name: Option<&str>) {
        self.namespace = name
            .filter(|a| *a != "all" && *a != "-A")
            .map(str::to_string);
        self.refresh_table();
    }

    /// `:help`: the command list.
    pub(crate) fn show_commands(&mut self) {
        self.overlay = Some(Overlay::Commands);
    }

    fn on_wizard_key(&mut self, mut w: Box<super::wizard::WizardOverlay>, key: KeyEvent) {
        use super::wizard::{WizardCommand, spawn_dry_run, spawn_run};
        let id = w.id;
        match w.on_key(key, &self.keymap) {
            WizardCommand::Close => return,
            WizardCommand::None => {}
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

    /// Handles one key press.
    pub fn on_key(&mut self, key: KeyEvent) {
        if key.kind == KeyEventKind::Release {
            return;
        }
        // Text input first: filter, command line, search.
        if self.input != Input::None {
            self.on_input_key(key);
            return;
        }
        match self.overlay.take() {
            Some(overlay @ (Overlay::Help | Overlay::Commands)) => {
                let a = self.keymap.action(Context::Detail, key);
                if !matches!(
                    a,
                    Some(Action::Close) | Some(Action::Help) | Some(Action::Quit)
                ) && key.code != KeyCode::Esc
                {
                    self.overlay = Some(overlay);
                }
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
        if self.offer_to_pane(action) {
            return;
        }
        match action {
            Action::Quit => self.quit = true,
            Action::Help => self.overlay = Some(Overlay::Help),
            Action::Unlock => self.open_unlock(None),
            Action::CommandLine => self.input = Input::Command(String::new()),
            Action::Filter => self.input = Input::Filter(self.filter.text.clone()),
            Action::NextPane => {
                self.switch(PaneId::ALL[(self.pane.index() + 1) % PaneId::ALL.len()])
            }
            Action::PrevPane => self.switch(
                PaneId::ALL[(self.pane.index() + PaneId::ALL.len() - 1) % PaneId::ALL.len()],
            ),
            Action::Namespace => {
                self.overlay = Some(Overlay::Dialog(Dialog::new(DialogKind::Namespace)))
            }
            Action::Refresh => self.refresh_table(),
            a if a.pane().is_some() => {
                if let Some(p) = a
                    .pane()
                    .and_then(|i| PaneId::ALL.get(usize::from(i).saturating_sub(1)))
                {
                    self.switch(*p);
                }
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

    /// Gives the pane in front the first say on `action`; `true` when it took it.
    fn offer_to_pane(&mut self, action: Action) -> bool {
        let view = self.view.clone();
        let now = self.now();
        let ctx = PaneCtx {
            view: &view,
            filter: &self.filter,
            namespace: self.namespace.as_deref(),
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

    fn on_input_key(&mut self, key: KeyEvent) {
        let (buf, kind) = match &mut self.input {
            Input::Filter(b) => (b, 0),
            Input::Command(b) => (b, 1),
            Input::Search(b) => (b, 2),
            Input::None => return,
        };
        match key.code {
            KeyCode::Esc => {
                if kind == 0 {
                    self.filter = Filter::default();
                    self.refresh_table();
                }
                self.input = Input::None;
            }
            KeyCode::Enter => {
                let text = buf.clone();
                self.input = Input::None;
                match kind {
                    0 => {}
                    1 => self.command(&text),
                    _ => {
                        if let Some(Overlay::Detail(d)) = &mut self.overlay {
                            d.search = Some(text);
                            if !d.search_next() {
                                self.status = Some((Role::Warning, "no match".into()));
                            }
                        }
                    }
                }
            }
            KeyCode::Backspace => {
                buf.pop();
                if kind == 0 {
                    let t = buf.clone();
                    self.filter = Filter::new(&t);
                    self.refresh_table();
                }
            }
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                buf.push(c);
                if kind == 0 {
                    let t = buf.clone();
                    self.filter = Filter::new(&t);
                    self.refresh_table();
                }
            }
            KeyCode::Char('c') => self.input = Input::None,
            _ => {}
        }
    }

    fn on_detail_key(&mut self, key: KeyEvent) {
        let action = self.keymap.action(Context::Detail, key);
        let Some(Overlay::Detail(d)) = &mut self.overlay else {
            return;
        };
        let mut restart = false;
        match action {
            Some(Action::Close) | Some(Action::Quit) => {
                if let Some(t) = self.log_task.take() {
                    t.abort();
                }
                self.overlay = None;
            }
            Some(Action::Up) => d.scroll_by(-1),
            Some(Action::Down) => d.scroll_by(1),
            Some(Action::PageUp) => d.scroll_by(-20),
            Some(Action::PageDown) => d.scroll_by(20),
            Some(Action::Top) => d.scroll = 0,
            Some(Action::Bottom) => d.scroll = d.lines.len().saturating_sub(1),
            Some(Action::Search) => self.input = Input::Search(String::new()),
            Some(Action::SearchNext) => {
                d.search_next();
            }
            Some(Action::ToggleFollow) if d.kind == DetailKind::Logs => {
                d.follow = !d.follow;
                restart = true;
            }
            Some(Action::TogglePrevious) if d.kind == DetailKind::Logs => {
                d.previous = !d.previous;
                restart = true;
            }
            Some(Action::NextContainer)
                if d.kind == DetailKind::Logs && !d.containers.is_empty() =>
            {
                let i = d
                    .containers
                    .iter()
                    .position(|c| Some(c) == d.container.as_ref())
                    .map(|i| (i + 1) % d.containers.len())
                    .unwrap_or(0);
                d.container = d.containers.get(i).cloned();
                restart = true;
            }
            _ => {}
        }
        if restart {
            self.start_logs();
        }
    }

    fn on_dialog_key(&mut self, key: KeyEvent) {
        let Some(Overlay::Dialog(d)) = &mut self.overlay else {
            return;
        };
        match key.code {
            KeyCode::Esc => {
                if !d.running {
                    self.overlay = None;
                }
                return;
            }
            KeyCode::Enter => {}
            KeyCode::Backspace => {
                d.input.pop();
                return;
            }
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                if !d.running && !d.done {
                    d.input.push(c);
                }
                return;
            }
            _ => return,
        }
        // Enter.
        if d.running {
            return;
        }
        if d.done {
            self.overlay = None;
            return;
        }
        match &d.kind {
            DialogKind::Namespace => {
                let ns = d.input.trim().to_string();
                self.namespace = (!ns.is_empty() && ns != "all").then_some(ns);
                self.overlay = None;
                self.refresh_table();
            }
            DialogKind::ScaleInput {
                kind,
                namespace,
                name,
                current,
            } => match d.input.trim().parse::<i32>() {
                Ok(n) if n >= 0 => {
                    let plan = Plan::scale(*kind, namespace, name, *current, n);
                    self.start_plan(plan);
                }
                _ => d.error = Some(format!("{:?} is not a replica count (0 or more)", d.input)),
            },
            DialogKind::ConfirmPlan(_) => self.run_plan(),
        }
    }

    pub fn on_msg(&mut self, msg: UiMsg) {
        match msg {
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
            UiMsg::Feed(FeedMsg::Object { id, value }) if id == self.object_id => {
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
            UiMsg::Feed(FeedMsg::Object { .. }) => {}
            UiMsg::Wizard(m) => {
                if let Some(Overlay::Wizard(w)) = &mut self.overlay {
                    w.on_msg(m);
                }
            }
            UiMsg::Feed(FeedMsg::Connected(conn)) => self.connection = Some(*conn),
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
            namespace: self.namespace.as_deref(),
            now: self.now(),
        };
        let i = self.pane.index();
        self.panes[i].draw(f, body, &ctx);
        self.draw_status(f, status);
        match &self.overlay {
            Some(Overlay::Help) => self.draw_help(f, body),
            Some(Overlay::Commands) => self.draw_commands(f, body),
            Some(Overlay::Detail(d)) => d.draw(f, body, &self.theme),
            Some(Overlay::Dialog(d)) => d.draw(f, body, &self.theme, self.read_only),
            Some(Overlay::Wizard(w)) => w.draw(f, body, &self.theme, self.read_only),
            None => {}
        }
    }

    fn draw_tabs(&self, f: &mut Frame, area: Rect) {
        let mut spans = vec![Span::styled(" kcops ", self.theme.style(Role::Title))];
        for (i, p) in self.panes.iter().enumerate() {
            let role = if p.id() == self.pane {
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
        let second = match &self.input {
            Input::Filter(b) => Line::from(vec![
                Span::styled("/", self.theme.style(Role::KeyHint)),
                Span::styled(b.clone(), self.theme.style(Role::Filter)),
            ]),
            Input::Command(b) => Line::from(vec![
                Span::styled(":", self.theme.style(Role::KeyHint)),
                Span::styled(b.clone(), self.theme.style(Role::Filter)),
            ]),
            Input::Search(b) => Line::from(vec![
                Span::styled("search: ", self.theme.style(Role::KeyHint)),
                Span::styled(b.clone(), self.theme.style(Role::Filter)),
            ]),
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
                    spans.push(Span::styled(
                        "? help  : command  / filter  q quit",
                        self.theme.style(Role::Muted),
                    ));
                    Line::from(spans)
                }
            },
        };
        f.render_widget(Paragraph::new(second), line2);
    }

    fn draw_help(&self, f: &mut Frame, area: Rect) {
        let rect = Dialog::area(area, 80, area.height.saturating_sub(2));
        f.render_widget(Clear, rect);
        let contexts: &[(Context, &str)] = match self.pane {
            PaneId::Overview => &[(Context::Overview, "Overview"), (Context::Global, "Global")],
            PaneId::Ceph => &[
                (Context::Ceph, "Ceph"),
                (Context::Table, "This pane"),
                (Context::Global, "Global"),
                (Context::Detail, "Detail views"),
            ],
            PaneId::Pods => &[
                (Context::Pods, "Pods"),
                (Context::Table, "This pane"),
                (Context::Global, "Global"),
                (Context::Detail, "Detail views"),
            ],
            PaneId::Storage => &[
                (Context::Storage, "Storage"),
                (Context::Table, "This pane"),
                (Context::Global, "Global"),
                (Context::Detail, "Detail views"),
            ],
            _ => &[
                (Context::Table, "This pane"),
                (Context::Global, "Global"),
                (Context::Detail, "Detail views"),
            ],
        };
        let mut sections: Vec<Vec<Line>> = Vec::new();
        for (ctx, title) in contexts {
            let mut lines = vec![Line::from(Span::styled(
                *title,
                self.theme.style(Role::Header),
            ))];
            for (action, keys) in self.keymap.bindings(*ctx) {
                if self.read_only && action.mutates() {
                    continue;
                }
                lines.push(Line::from(vec![
                    Span::styled(
                        format!("  {:<18}", keys.join(", ")),
                        self.theme.style(Role::KeyHint),
                    ),
                    Span::styled(action.description(), self.theme.style(Role::Text)),
                ]));
            }
            // A pane section of dangerous actions only is empty under --read-only.
            if lines.len() > 1 {
                sections.push(lines);
            }
        }
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(self.theme.style(Role::DialogBorder))
            .title(Span::styled(" Keys ", self.theme.style(Role::Title)));
        let inner = block.inner(rect);
        f.render_widget(block, rect);
        // Sections side by side when they do not fit one under the other: a section
        // starts a new column rather than being split, unless it is taller than one.
        let height = usize::from(inner.height.max(1));
        let mut columns: Vec<Vec<Line>> = Vec::new();
        let mut column: Vec<Line> = Vec::new();
        for section in sections {
            if !column.is_empty() && column.len() + 1 + section.len() > height {
                columns.push(std::mem::take(&mut column));
            } else if !column.is_empty() {
                column.push(Line::from(""));
            }
            for line in section {
                if column.len() >= height {
                    columns.push(std::mem::take(&mut column));
                }
                column.push(line);
            }
        }
        columns.push(column);
        let n = columns.len() as u32;
        let areas = Layout::horizontal((0..n).map(|_| Constraint::Ratio(1, n)))
            .spacing(2)
            .split(inner);
        for (column, area) in columns.into_iter().zip(areas.iter()) {
            f.render_widget(Paragraph::new(column), *area);
        }
    }

    /// The `:` commands with their aliases, arguments and what they do (`:help`).
    fn draw_commands(&self, f: &mut Frame, area: Rect) {
        let help = commands::help(&self.commands);
        let width = help
            .iter()
            .map(|(u, _)| u.chars().count())
            .max()
            .unwrap_or(0);
        let lines: Vec<Line> = help
            .into_iter()
            .map(|(usage, what)| {
                Line::from(vec![
                    Span::styled(
                        format!("  {usage:<width$}  "),
                        self.theme.style(Role::KeyHint),
                    ),
                    Span::styled(what, self.theme.style(Role::Text)),
                ])
            })
            .collect();
        let height = (lines.len() as u16).saturating_add(2);
        let rect = Dialog::area(area, 100, height.min(area.height.saturating_sub(2)));
        f.render_widget(Clear, rect);
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(self.theme.style(Role::DialogBorder))
            .title(Span::styled(" Commands ", self.theme.style(Role::Title)));
        f.render_widget(Paragraph::new(lines).block(block), rect);
    }
}
