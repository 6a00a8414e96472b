//! The init wizard in the terminal, page by page: the preflight (blocked while a
//! check fails; an interrupted earlier attempt offers its reset first), the form,
//! the kubeadm config in full, then `kubeadm init` with its phases. Keys come from
//! the keymap's `[wizard]` section for pages and `[dialog]` for the form's fields.

use std::path::PathBuf;

use anyhow::Result;
use crossterm::event::{Event, EventStream};
use futures::StreamExt;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use tokio::sync::mpsc;

use super::config;
use super::form::{self, Field, InitForm, InitSettings, Machine, Problem};
use super::phases::{self, PhaseEvent};
use crate::host::read::LocalRoot;
use crate::ops::Progress;
use crate::setup::args::{InitArgs, SetupGlobals};
use crate::setup::interrupted::{self, EarlierInit};
use crate::setup::preflight::{self, Check, Status};
use crate::setup::reset::{self, ResetChoices, ResetFacts};
use crate::ui::keymap::{Action, Context, Keymap};
use crate::ui::text_field::{Charset, FieldKey, TextField};

enum Page {
    Preflight,
    /// The reset an interrupted init needs, its confirmation typed in `confirm`.
    Reset {
        facts: Box<ResetFacts>,
        confirm: TextField,
        result: Option<Vec<String>>,
    },
    Form,
    Review(Box<InitSettings>),
    Run,
}

struct Wizard {
    args_image: String,
    untaint: bool,
    /// `--addon-manifest`, read before any screen.
    manifest: Option<super::addon::AddonManifest>,
    cri_socket: Option<String>,
    g: SetupGlobals,
    kubeadm: Option<PathBuf>,
    config_out: PathBuf,
    keymap: Keymap,
    checks: Vec<Check>,
    earlier: EarlierInit,
    machine: Machine,
    form: InitForm,
    fields: Vec<TextField>,
    focus: usize,
    problems: Vec<Problem>,
    page: Page,
    scroll: u16,
    phases: Vec<(String, bool)>,
    lines: Vec<String>,
    outcome: Option<Result<(), String>>,
    events: Option<mpsc::Receiver<PhaseEvent>>,
    /// The lines of a reset under way (closed when it ends).
    reset_lines: Option<mpsc::Receiver<String>>,
    /// The init run's journal id and text, for its outcome line.
    journal: Option<(String, String)>,
    quit: bool,
}

fn fields_of(form: &InitForm) -> Vec<TextField> {
    Field::ALL
        .iter()
        .map(|f| TextField::with_text(Charset::Name, form.get(*f)))
        .collect()
}

impl Wizard {
    async fn preflight(&mut self) {
        let a = InitArgs {
            preflight_only: true,
            kubeadm: None,
            image_repository: self.args_image.clone(),
            cri_socket: self.cri_socket.clone(),
            config_out: None,
            untaint: false,
            addon_manifest: None,
        };
        let (checks, earlier) = crate::setup::run::init_preflight(&a, &self.g).await;
        self.checks = checks;
        self.earlier = earlier;
        self.machine = super::machine::read(&LocalRoot(self.g.host_root.clone()));
    }

    fn keys(&self, context: Context, action: Action) -> String {
        self.keymap
            .keys_for(context, action)
            .first()
            .cloned()
            .unwrap_or_else(|| "?".into())
    }

    fn hint(&self) -> String {
        let w = |a| self.keys(Context::Wizard, a);
        let d = |a| self.keys(Context::Dialog, a);
        match &self.page {
            Page::Preflight if matches!(self.earlier, EarlierInit::Interrupted { .. }) => {
                format!(
                    "{} reset first  {} quit  {}/{} scroll",
                    w(Action::Next),
                    w(Action::Cancel),
                    w(Action::Up),
                    w(Action::Down)
                )
            }
            Page::Preflight if preflight::blocks(&self.checks) => {
                format!(
                    "{} quit  {}/{} scroll",
                    w(Action::Cancel),
                    w(Action::Up),
                    w(Action::Down)
                )
            }
            Page::Preflight => format!(
                "{} continue  {} quit  {}/{} scroll",
                w(Action::Next),
                w(Action::Cancel),
                w(Action::Up),
                w(Action::Down)
            ),
            Page::Reset {
                result: Some(_), ..
            } => format!(
                "{} preflight again  {} quit",
                w(Action::Next),
                w(Action::Cancel)
            ),
            Page::Reset { .. } => format!(
                "{} run the reset  {} back",
                d(Action::Confirm),
                d(Action::Cancel)
            ),
            Page::Form => format!(
                "{} next field  {} review  {} quit",
                d(Action::NextField),
                d(Action::Confirm),
                d(Action::Cancel)
            ),
            Page::Review(_) => format!(
                "{} write and run kubeadm init  {} back  {}/{} scroll",
                w(Action::Next),
                w(Action::Back),
                w(Action::Up),
                w(Action::Down)
            ),
            Page::Run => format!(
                "{} quit  {}/{} scroll",
                w(Action::Cancel),
                w(Action::Up),
                w(Action::Down)
            ),
        }
    }

    fn body(&self) -> (String, Vec<Line<'static>>) {
        let mut out: Vec<Line<'static>> = Vec::new();
        let plain = |s: String| Line::from(s);
        match &self.page {
            Page::Preflight => {
                for l in interrupted::describe(&self.earlier) {
                    out.push(Line::styled(l, Style::new().add_modifier(Modifier::BOLD)));
                }
                let failed = self
                    .checks
                    .iter()
                    .filter(|c| c.status == Status::Fail)
                    .count();
                if failed > 0 {
                    out.push(Line::styled(
                        format!("Blocked: {failed} checks fail; kubeadm init would stop. Fix them first:"),
                        Style::new().add_modifier(Modifier::BOLD),
                    ));
                }
                let mut sorted: Vec<&Check> = self.checks.iter().collect();
                // The failures first: they are what blocks.
                sorted.sort_by_key(|c| match c.status {
                    Status::Fail => 0,
                    Status::Unknown => 1,
                    Status::Warn => 2,
                    Status::Pass => 3,
                });
                for c in sorted {
                    out.push(plain(format!(
                        "{:<7} {}: {}",
                        c.status.as_str(),
                        c.id,
                        c.found
                    )));
                    if c.status != Status::Pass && !c.fix.is_empty() {
                        out.push(plain(format!("        fix: {}", c.fix)));
                    }
                }
                ("Preflight".into(), out)
            }
            Page::Reset {
                facts,
                confirm,
                result,
            } => {
                match result {
                    Some(lines) => out.extend(lines.iter().cloned().map(plain)),
                    None => {
                        for l in reset::render(facts, ResetChoices::default()) {
                            out.push(plain(l));
                        }
                        let mut spans =
                            vec![Span::raw(format!("Type {} to confirm: ", facts.machine))];
                        spans.extend(confirm.spans(Style::new(), true));
                        out.push(Line::from(spans));
                    }
                }
                ("Reset the interrupted attempt first".into(), out)
            }
            Page::Form => {
                if self.machine.candidates.len() > 1 {
                    out.push(plain(format!(
                        "This machine's addresses: {}",
                        self.machine
                            .candidates
                            .iter()
                            .map(|c| format!("{} ({})", c.address.ip, c.interface))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
                for (i, f) in Field::ALL.iter().enumerate() {
                    let mut spans = vec![Span::raw(format!("{:<23} ", f.label()))];
                    spans.extend(self.fields[i].spans(Style::new(), i == self.focus));
                    out.push(Line::from(spans));
                }
                out.push(plain(
                    "Network add-on: flannel or calico; the pod subnet follows it.".into(),
                ));
                for p in &self.problems {
                    out.push(Line::styled(
                        format!("✗ {}: {}", p.field.label(), p.message),
                        Style::new().add_modifier(Modifier::BOLD),
                    ));
                }
                ("kubeadm init settings".into(), out)
            }
            Page::Review(s) => {
                out.push(plain(format!(
                    "Config to write to {}:",
                    self.config_out.display()
                )));
                for l in config::render(s).lines() {
                    out.push(plain(format!("  {l}")));
                }
                if let Some(n) = form::addon_subnet_note(s) {
                    out.push(plain(n));
                }
                let addon = match (s.addon, &self.manifest) {
                    (form::Addon::Flannel, m) => format!(
                        "flannel ({}) with Network {} on --iface={}",
                        m.as_ref().map_or("the shipped manifest".to_string(), |m| m
                            .path
                            .display()
                            .to_string()),
                        s.pod_subnet,
                        s.interface
                    ),
                    (form::Addon::Calico, Some(m)) => format!(
                        "calico ({}, {} objects) with CALICO_IPV4POOL_CIDR={}",
                        m.path.display(),
                        m.docs.len(),
                        s.pod_subnet
                    ),
                    (form::Addon::Calico, None) => format!(
                        "calico left to you (no --addon-manifest given), with CALICO_IPV4POOL_CIDR={}",
                        s.pod_subnet
                    ),
                };
                out.push(plain(format!(
                    "Then: kubeadm init --config {}, kubeconfig for you (an existing one backed up), {addon}.",
                    self.config_out.display(),
                )));
                ("Review the kubeadm config".into(), out)
            }
            Page::Run => {
                // One wrapped line: kubeadm has some twenty phases, and the outcome
                // below must stay on an 80x24 screen.
                let list: Vec<String> = self
                    .phases
                    .iter()
                    .map(|(name, done)| format!("{} [{name}]", if *done { "✓" } else { "…" }))
                    .collect();
                out.push(plain(list.join("  ")));
                match &self.outcome {
                    Some(Ok(())) => {
                        out.push(plain("kubeadm init finished.".into()));
                        if let Some(j) = phases::join_command(&self.lines) {
                            out.push(plain(format!("Join other machines with: {j}")));
                        }
                    }
                    Some(Err(e)) => out.push(Line::styled(
                        format!("Stopped: {e}"),
                        Style::new().add_modifier(Modifier::BOLD),
                    )),
                    None => {}
                }
                out.push(plain(String::new()));
                for l in self.lines.iter().rev().take(8).rev() {
                    out.push(plain(l.clone()));
                }
                ("kubeadm init".into(), out)
            }
        }
    }

    fn draw(&self, f: &mut Frame) {
        let area = f.area();
        if area.width < 60 || area.height < 12 {
            f.render_widget(
                Paragraph::new("kcops setup init needs at least 60x12"),
                area,
            );
            return;
        }
        let [main, foot] =
            Layout::vertical([Constraint::Min(3), Constraint::Length(1)]).areas(area);
        let (title, lines) = self.body();
        let p = Paragraph::new(lines)
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(format!(" kcops setup init: {title} ")),
            )
            .wrap(Wrap { trim: false })
            .scroll((self.scroll, 0));
        f.render_widget(p, main);
        f.render_widget(Paragraph::new(self.hint()), foot);
    }

    fn sync_form(&mut self) {
        for (i, f) in Field::ALL.iter().enumerate() {
            let typed = self.fields[i].text().to_string();
            if self.form.get(*f) != typed {
                self.form.set(*f, &typed);
            }
        }
        // The add-on may have moved the pod subnet.
        let pod = Field::ALL
            .iter()
            .position(|f| *f == Field::PodSubnet)
            .unwrap_or(0);
        if self.fields[pod].text() != self.form.pod_subnet {
            self.fields[pod].set_text(&self.form.pod_subnet.clone());
        }
    }

    async fn on_key(&mut self, ev: crossterm::event::KeyEvent) {
        let wizard = self.keymap.action(Context::Wizard, ev);
        match &mut self.page {
            Page::Preflight => match wizard {
                Some(Action::Cancel) => self.quit = true,
                Some(Action::Up) => self.scroll = self.scroll.saturating_sub(1),
                Some(Action::Down) => self.scroll = self.scroll.saturating_add(1),
                Some(Action::Next) => {
                    if matches!(self.earlier, EarlierInit::Interrupted { .. }) {
                        let facts = reset::gather(
                            &self.g.host_root,
                            self.kubeadm.as_deref(),
                            self.g.kubeconfig.clone(),
                            self.cri_socket.clone(),
                        )
                        .await;
                        self.page = Page::Reset {
                            facts: Box::new(facts),
                            confirm: TextField::new(Charset::Name),
                            result: None,
                        };
                    } else if !preflight::blocks(&self.checks) {
                        self.page = Page::Form;
                    }
                    self.scroll = 0;
                }
                _ => {}
            },
            Page::Reset {
                facts,
                confirm,
                result,
            } => {
                if result.is_some() {
                    if self.reset_lines.is_some() {
                        return; // still running
                    }
                    match wizard {
                        Some(Action::Cancel) => self.quit = true,
                        Some(Action::Next) => {
                            self.preflight().await;
                            self.page = Page::Preflight;
                        }
                        _ => {}
                    }
                    return;
                }
                match confirm.on_key(&self.keymap, Context::Dialog, ev) {
                    FieldKey::Action(Action::Cancel) => self.page = Page::Preflight,
                    FieldKey::Action(Action::Confirm) => {
                        // Run off the key handler: kubeadm reset may take minutes, and
                        // the screen follows its steps meanwhile.
                        let plan = reset::plan(facts, ResetChoices::default());
                        let exec = crate::setup::run::executor(&self.g);
                        let typed = confirm.text().to_string();
                        let (lines_tx, lines_rx) = mpsc::channel(64);
                        tokio::spawn(async move {
                            let (tx, mut rx) = mpsc::channel(16);
                            let forward = lines_tx.clone();
                            let printer = tokio::spawn(async move {
                                while let Some(p) = rx.recv().await {
                                    let line = match p {
                                        Progress::StepStarted { index, total, text } => {
                                            format!("… [{}/{total}] {text}", index + 1)
                                        }
                                        Progress::StepDone { index, total, text } => {
                                            format!("✓ [{}/{total}] {text}", index + 1)
                                        }
                                        Progress::StepFailed { index, total, text } => {
                                            format!("✗ [{}/{total}] {text}", index + 1)
                                        }
                                    };
                                    let _ = forward.send(line).await;
                                }
                            });
                            let r = exec.run(&plan, &typed, tx).await;
                            let _ = printer.await;
                            let _ = lines_tx
                                .send(match r {
                                    Ok(o) => format!("{}: done.", o.title),
                                    Err(e) => format!("Not reset: {e}"),
                                })
                                .await;
                        });
                        *result = Some(Vec::new());
                        self.reset_lines = Some(lines_rx);
                    }
                    _ => {}
                }
            }
            Page::Form => {
                let i = self.focus;
                match self.fields[i].on_key(&self.keymap, Context::Dialog, ev) {
                    FieldKey::Action(Action::Cancel) => self.quit = true,
                    FieldKey::Action(Action::NextField) => {
                        self.sync_form();
                        self.focus = (i + 1) % self.fields.len();
                    }
                    FieldKey::Action(Action::PrevField) => {
                        self.sync_form();
                        self.focus = (i + self.fields.len() - 1) % self.fields.len();
                    }
                    FieldKey::Action(Action::Confirm) => {
                        self.sync_form();
                        let checked = form::validate(&self.form, &self.machine).and_then(|s| {
                            super::addon::fits(s.addon, self.manifest.as_ref())
                                .map(|()| s)
                                .map_err(|message| {
                                    vec![form::Problem {
                                        field: Field::Addon,
                                        message,
                                    }]
                                })
                        });
                        match checked {
                            Ok(s) => {
                                self.problems.clear();
                                self.scroll = 0;
                                self.page = Page::Review(Box::new(s));
                            }
                            Err(p) => {
                                if let Some(first) = p.first() {
                                    self.focus = Field::ALL
                                        .iter()
                                        .position(|f| *f == first.field)
                                        .unwrap_or(i);
                                }
                                self.problems = p;
                            }
                        }
                    }
                    _ => {}
                }
            }
            Page::Review(s) => match wizard {
                Some(Action::Cancel) => self.quit = true,
                Some(Action::Back) => self.page = Page::Form,
                Some(Action::Up) => self.scroll = self.scroll.saturating_sub(1),
                Some(Action::Down) => self.scroll = self.scroll.saturating_add(1),
                Some(Action::Next) => {
                    let settings = (**s).clone();
                    self.page = Page::Run;
                    self.scroll = 0;
                    self.start_run(settings);
                }
                _ => {}
            },
            Page::Run => match wizard {
                Some(Action::Cancel) if self.outcome.is_some() => self.quit = true,
                Some(Action::Up) => self.scroll = self.scroll.saturating_sub(1),
                Some(Action::Down) => self.scroll = self.scroll.saturating_add(1),
                _ => {}
            },
        }
    }

    fn start_run(&mut self, settings: InitSettings) {
        let config_text = config::render(&settings);
        if self.g.read_only {
            self.outcome = Some(Err(
                "kcops is in read-only mode (--read-only): nothing was written or run".into(),
            ));
            return;
        }
        let Some(kubeadm) = self.kubeadm.clone() else {
            self.outcome = Some(Err(
                "kubeadm is not on PATH (install it or pass --kubeadm); the config was not written"
                    .into(),
            ));
            return;
        };
        let detail = format!(
            "Write {} and run {} init --config {}, then the kubeconfig, {} and the wait for Ready",
            self.config_out.display(),
            kubeadm.display(),
            self.config_out.display(),
            settings.addon.name()
        );
        let run = uuid::Uuid::new_v4().to_string();
        // A change that cannot be recorded is not made.
        if let Err(e) =
            crate::setup::run::journal_init(&self.g, &run, &detail, crate::ops::audit::INTENT)
        {
            self.outcome = Some(Err(format!(
                "cannot write the audit log {}: {e}; nothing was run",
                self.g.audit_log.display()
            )));
            return;
        }
        self.journal = Some((run, detail));
        if let Some(dir) = self.config_out.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        if let Err(e) = std::fs::write(&self.config_out, config_text) {
            self.outcome = Some(Err(format!(
                "cannot write {}: {e}",
                self.config_out.display()
            )));
            return;
        }
        let (tx, rx) = mpsc::channel(256);
        let config = self.config_out.clone();
        let after = AfterInit {
            host_root: self.g.host_root.clone(),
            kubeconfig: super::after::user_kubeconfig(self.g.kubeconfig.as_deref()),
            settings,
            untaint: self.untaint,
            manifest: self.manifest.clone(),
        };
        tokio::spawn(async move {
            let (inner_tx, mut inner) = mpsc::channel(256);
            tokio::spawn(async move { phases::run_init(&kubeadm, &config, None, inner_tx).await });
            while let Some(ev) = inner.recv().await {
                if ev == PhaseEvent::Finished {
                    after.run(&tx).await;
                    return;
                }
                if tx.send(ev).await.is_err() {
                    return;
                }
            }
        });
        self.events = Some(rx);
    }

    /// The run's outcome in the journal (a failed write is shown, not hidden).
    fn record(&mut self, result: String) {
        if let Some((run, detail)) = self.journal.take()
            && let Err(e) = crate::setup::run::journal_init(&self.g, &run, &detail, &result)
        {
            self.lines
                .push(format!("cannot record the outcome in the audit log: {e}"));
        }
    }

    fn on_phase(&mut self, ev: PhaseEvent) {
        match ev {
            PhaseEvent::Started(p) => {
                for ph in self.phases.iter_mut() {
                    ph.1 = true;
                }
                self.phases.push((p, false));
            }
            PhaseEvent::Line(l) => self.lines.push(l),
            PhaseEvent::Finished => {
                for ph in self.phases.iter_mut() {
                    ph.1 = true;
                }
                self.record("ok".into());
                self.outcome = Some(Ok(()));
            }
            PhaseEvent::Failed(e) => {
                self.record(format!("failed: {e}"));
                self.outcome = Some(Err(e));
            }
        }
    }
}

/// Runs the wizard until the operator quits; the exit code says how init ended.
pub async fn run(a: &InitArgs, g: &SetupGlobals) -> Result<i32> {
    let keymap = g.keymap.clone();
    // A manifest that cannot be used is refused before any screen.
    let manifest = a
        .addon_manifest
        .as_deref()
        .map(super::addon::AddonManifest::load)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--addon-manifest: {e}"))?;
    let mut w = Wizard {
        args_image: a.image_repository.clone(),
        untaint: a.untaint,
        manifest,
        cri_socket: a.cri_socket.clone(),
        g: g.clone(),
        kubeadm: reset::find_kubeadm(a.kubeadm.as_deref()),
        config_out: a
            .config_out
            .clone()
            .unwrap_or_else(|| g.state_dir.join("kubeadm-init.yaml")),
        keymap,
        checks: Vec::new(),
        earlier: EarlierInit::Clean,
        machine: Machine::default(),
        form: InitForm::defaults(&[], "", None),
        fields: Vec::new(),
        focus: 0,
        problems: Vec::new(),
        page: Page::Preflight,
        scroll: 0,
        phases: Vec::new(),
        lines: Vec::new(),
        outcome: None,
        events: None,
        journal: None,
        reset_lines: None,
        quit: false,
    };
    // Read before the terminal is taken: a failure to read is in the checks.
    w.preflight().await;
    w.form = InitForm::defaults(
        &w.machine.candidates,
        &a.image_repository,
        a.cri_socket.as_deref(),
    );
    w.fields = fields_of(&w.form);
    let mut guard = crate::ui::terminal::TerminalGuard::enter()?;
    let mut input = EventStream::new();
    while !w.quit {
        guard.terminal.draw(|f| w.draw(f))?;
        let phase = async {
            match w.events.as_mut() {
                Some(rx) => rx.recv().await,
                None => std::future::pending().await,
            }
        };
        let reset_line = async {
            match w.reset_lines.as_mut() {
                Some(rx) => rx.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            ev = input.next() => match ev {
                Some(Ok(Event::Key(k))) => w.on_key(k).await,
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            },
            p = phase => match p {
                Some(p) => w.on_phase(p),
                None => w.events = None,
            },
            l = reset_line => match (l, &mut w.page) {
                (Some(l), Page::Reset { result: Some(lines), .. }) => lines.push(l),
                (Some(_), _) => {}
                (None, _) => w.reset_lines = None,
            },
        }
    }
    drop(guard);
    Ok(match &w.outcome {
        Some(Ok(())) => 0,
        Some(Err(_)) => 1,
        None => 0,
    })
}

/// The steps after kubeadm init, reported as phases of their own.
struct AfterInit {
    host_root: PathBuf,
    kubeconfig: Option<PathBuf>,
    settings: InitSettings,
    untaint: bool,
    manifest: Option<super::addon::AddonManifest>,
}

impl AfterInit {
    async fn run(&self, tx: &mpsc::Sender<PhaseEvent>) {
        let ev = match self.steps(tx).await {
            Ok(()) => PhaseEvent::Finished,
            Err(e) => PhaseEvent::Failed(e),
        };
        let _ = tx.send(ev).await;
    }

    async fn steps(&self, tx: &mpsc::Sender<PhaseEvent>) -> Result<(), String> {
        let say = |e: PhaseEvent| async move {
            let _ = tx.send(e).await;
        };
        say(PhaseEvent::Started("kcops kubeconfig".into())).await;
        let dest = self
            .kubeconfig
            .clone()
            .ok_or("no HOME for the kubeconfig")?;
        say(PhaseEvent::Line(super::after::install_kubeconfig(
            &self.host_root,
            &dest,
        )?))
        .await;
        let conn = crate::kube::connect::connect(&crate::kube::connect::ConnectOptions {
            kubeconfig: Some(dest),
            context: None,
        })
        .await
        .map_err(|e| format!("the new cluster: {e}"))?;
        let s = &self.settings;
        say(PhaseEvent::Started(format!("kcops {}", s.addon.name()))).await;
        match super::addon::objects(s.addon, self.manifest.as_ref(), &s.pod_subnet, &s.interface)? {
            Some(docs) => {
                for l in super::after::apply(&conn.client, &docs).await? {
                    say(PhaseEvent::Line(l)).await;
                }
            }
            None => {
                say(PhaseEvent::Line(format!(
                    "apply calico's manifest yourself with CALICO_IPV4POOL_CIDR={} (kcops ships flannel's only; next time give it with --addon-manifest)",
                    s.pod_subnet
                )))
                .await;
            }
        }
        let node = super::after::node_name(&self.host_root)
            .ok_or("no node name: neither kubelet.conf's system:node user nor /etc/hostname")?;
        if self.untaint {
            say(PhaseEvent::Started("kcops untaint".into())).await;
            say(PhaseEvent::Line(
                super::after::untaint(&conn.client, &node).await?,
            ))
            .await;
        }
        say(PhaseEvent::Started("kcops wait-ready".into())).await;
        let ready =
            super::after::wait_ready(&conn.client, &node, std::time::Duration::from_secs(300))
                .await?;
        say(PhaseEvent::Line(ready)).await;
        Ok(())
    }
}
