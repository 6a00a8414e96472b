//! Wizards: a guided fix as plain data, so the UI, a dry-run and tests all read one
//! thing. A wizard is an assessment made off the UI task from live state: pages of
//! findings (what is stuck, the evidence, the preflight checks), then either a
//! [`Blocker`] (why it stops and the exact commands that would unblock it) or a
//! [`Plan`] the executor runs with its usual safety rules (typed confirmation,
//! dry-run, read-only refusal, re-checks, audit).
//!
//! Nothing here knows about RBD: the lock-removal wizard ([`unlock`]), the network
//! fixes ([`restart_cni`], [`set_cluster_cidr`], [`release_ips`]) and later ones
//! (member-aware scaling, kubeadm init/join/reset) fill the same structure.
//!
//! Where a wizard goes: one module `<name>.rs` (or `<name>/` when it is large) with
//! - `Facts`: what the wizard judges, plain data a test can write by hand;
//! - `gather`: the reads (async for live API server / Ceph / host reads; the console's
//!   snapshot for the Network pane's fixes), recording failed reads in the facts or
//!   returning a [`WizardError`];
//! - `assess`: pure, from the facts to the [`Wizard`] (pages, blocker, plan), unit
//!   tested on fixtures without a cluster.

pub mod error;
pub mod join;
pub mod release_ips;
pub mod renew_certs;
pub mod reset_node;
pub mod restart_cni;
pub mod scale_ensemble;
pub mod set_cluster_cidr;
pub mod unlock;

pub use error::{System, WizardError};

use std::fmt;
use std::sync::Arc;

use super::op::ObjectRef;
use super::plan::Plan;

/// How a finding reads: fine, worth a look, or a reason for concern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Ok,
    Warn,
    Bad,
    Plain,
}

impl Tone {
    /// A mark that survives a colourless terminal and a text dump.
    pub fn mark(self) -> &'static str {
        match self {
            Tone::Ok => "✓",
            Tone::Warn => "!",
            Tone::Bad => "✗",
            Tone::Plain => "·",
        }
    }
}

/// One line of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub tone: Tone,
    pub text: String,
}

/// A heading and its lines (`What is stuck`, `Evidence`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub heading: String,
    pub lines: Vec<Line>,
}

impl Page {
    pub fn new(heading: impl Into<String>) -> Self {
        Page {
            heading: heading.into(),
            lines: Vec::new(),
        }
    }

    pub fn line(&mut self, tone: Tone, text: impl Into<String>) {
        self.lines.push(Line {
            tone,
            text: text.into(),
        });
    }

    pub fn ok(&mut self, text: impl Into<String>) {
        self.line(Tone::Ok, text);
    }

    pub fn warn(&mut self, text: impl Into<String>) {
        self.line(Tone::Warn, text);
    }

    pub fn bad(&mut self, text: impl Into<String>) {
        self.line(Tone::Bad, text);
    }

    pub fn plain(&mut self, text: impl Into<String>) {
        self.line(Tone::Plain, text);
    }
}

/// Why the wizard stops before offering a plan, and what would unblock it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocker {
    pub reason: String,
    /// Exact commands for the operator (run elsewhere, with other rights), in order.
    pub fix: Vec<String>,
    /// Who runs them (`a Ceph admin`; `None`: the operator, with the rights the
    /// commands need).
    pub run_as: Option<String>,
}

/// A choice the operator may toggle before confirming; it changes the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WizardOption {
    /// The key that toggles it in the UI.
    pub key: char,
    pub label: String,
    pub on: bool,
}

/// Builds the plan for the options' current values.
pub(crate) type PlanBuilder = Arc<dyn Fn(&[WizardOption]) -> Plan + Send + Sync>;

/// Builds what is left to the operator once the plan ran (for the options' values).
pub(crate) type AfterBuilder = Arc<dyn Fn(&[WizardOption]) -> Vec<String> + Send + Sync>;

/// An assessed wizard.
#[derive(Clone)]
pub struct Wizard {
    pub title: String,
    /// What the wizard is about (shown in the title bar, audited with the plan).
    pub subject: ObjectRef,
    pub pages: Vec<Page>,
    pub blocker: Option<Blocker>,
    pub options: Vec<WizardOption>,
    /// Text the console copies to the terminal's clipboard (OSC 52) when the wizard
    /// opens: `:join`'s command, to paste on the new machine.
    pub clipboard: Option<String>,
    builder: Option<PlanBuilder>,
    after: Option<AfterBuilder>,
}

impl fmt::Debug for Wizard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wizard")
            .field("title", &self.title)
            .field("subject", &self.subject)
            .field("pages", &self.pages)
            .field("blocker", &self.blocker)
            .field("options", &self.options)
            .field("plan", &self.plan())
            .finish()
    }
}

impl Wizard {
    pub fn new(title: impl Into<String>, subject: ObjectRef) -> Self {
        Wizard {
            title: title.into(),
            subject,
            pages: Vec::new(),
            blocker: None,
            options: Vec::new(),
            clipboard: None,
            builder: None,
            after: None,
        }
    }

    /// Stops the wizard. The first blocker stays: it is the most basic problem, and
    /// fixing it may change what the assessment finds next.
    pub fn block(&mut self, reason: impl Into<String>, fix: Vec<String>) {
        self.block_as(reason, fix, Some("a Ceph admin"));
    }

    /// As [`Wizard::block`], saying who runs the fix (`None`: no one in particular:
    /// kubectl commands, the next wizard).
    pub fn block_as(&mut self, reason: impl Into<String>, fix: Vec<String>, run_as: Option<&str>) {
        if self.blocker.is_none() {
            self.blocker = Some(Blocker {
                reason: reason.into(),
                fix,
                run_as: run_as.map(str::to_string),
            });
        }
    }

    pub fn is_blocked(&self) -> bool {
        self.blocker.is_some()
    }

    pub(crate) fn add_option(&mut self, key: char, label: impl Into<String>, on: bool) {
        self.options.push(WizardOption {
            key,
            label: label.into(),
            on,
        });
    }

    /// Flips the option bound to `key`; false when there is none.
    pub(crate) fn toggle(&mut self, key: char) -> bool {
        match self.options.iter_mut().find(|o| o.key == key) {
            Some(o) => {
                o.on = !o.on;
                true
            }
            None => false,
        }
    }

    #[cfg(test)]
    pub(crate) fn option(&self, key: char) -> Option<bool> {
        self.options.iter().find(|o| o.key == key).map(|o| o.on)
    }

    pub(crate) fn set_plan(&mut self, builder: PlanBuilder) {
        self.builder = Some(builder);
    }

    pub(crate) fn set_after(&mut self, after: AfterBuilder) {
        self.after = Some(after);
    }

    /// What is left to the operator once the plan ran (a taint to remove later, with
    /// its command and why); empty while blocked.
    pub fn after(&self) -> Vec<String> {
        if self.blocker.is_some() {
            return Vec::new();
        }
        self.after
            .as_ref()
            .map(|b| b(&self.options))
            .unwrap_or_default()
    }

    /// The plan for the current options; `None` while blocked (a blocked wizard
    /// never hands out a plan, so nothing can run it by mistake).
    pub fn plan(&self) -> Option<Plan> {
        if self.blocker.is_some() {
            return None;
        }
        self.builder.as_ref().map(|b| b(&self.options))
    }

    /// The findings pages followed by the last page: the plan with its options and
    /// confirmation, or the blocker with its fix.
    pub(crate) fn all_pages(&self) -> Vec<Page> {
        let mut pages = self.pages.clone();
        let mut last = Page::new("Plan");
        match (&self.blocker, self.plan()) {
            (Some(b), _) => {
                last.bad(format!("Stopped: {}", b.reason));
                if !b.fix.is_empty() {
                    last.plain(match &b.run_as {
                        Some(who) => format!("To fix, run as {who}:"),
                        None => "To fix:".to_string(),
                    });
                    for cmd in &b.fix {
                        last.plain(format!("  {cmd}"));
                    }
                }
                last.plain("Nothing was changed.");
            }
            (None, Some(plan)) => {
                for l in plan.render() {
                    last.plain(l);
                }
                for o in &self.options {
                    let mark = if o.on { "[x]" } else { "[ ]" };
                    last.plain(format!("{mark} {} (press {})", o.label, o.key));
                }
                let after = self.after();
                if !after.is_empty() {
                    last.plain("Afterwards:");
                    for l in after {
                        last.warn(l);
                    }
                }
            }
            (None, None) => last.warn("Nothing to do."),
        }
        pages.push(last);
        pages
    }

    /// Every page as text (`kcops` dumps, logs and tests read the same words the
    /// overlay shows).
    pub fn render(&self) -> Vec<String> {
        let mut out = vec![self.title.clone()];
        for page in self.all_pages() {
            out.push(format!("== {} ==", page.heading));
            for l in page.lines {
                out.push(format!("{} {}", l.tone.mark(), l.text));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::op::Op;
    use crate::ops::plan::{Confirmation, Step};

    fn wizard() -> Wizard {
        let mut w = Wizard::new("Fix it", ObjectRef::node("n1"));
        let mut p = Page::new("What");
        p.ok("fine");
        p.bad("broken");
        w.pages.push(p);
        w.add_option('p', "also uncordon", false);
        w.set_plan(Arc::new(|opts: &[WizardOption]| {
            let mut plan = Plan::new("Fix", ObjectRef::node("n1"), Confirmation::YesNo)
                .step(Step::new(Op::Cordon { node: "n1".into() }, false));
            if opts.iter().any(|o| o.key == 'p' && o.on) {
                plan = plan.step(Step::new(Op::Uncordon { node: "n1".into() }, false));
            }
            plan
        }));
        w
    }

    #[test]
    fn options_change_the_plan() {
        let mut w = wizard();
        assert_eq!(w.plan().map(|p| p.steps.len()), Some(1));
        assert!(w.toggle('p'));
        assert!(!w.toggle('z'));
        assert_eq!(w.option('p'), Some(true));
        assert_eq!(w.plan().map(|p| p.steps.len()), Some(2));
        let text = w.render();
        assert_eq!(text[0], "Fix it");
        assert!(text.contains(&"== What ==".to_string()));
        assert!(text.contains(&"✗ broken".to_string()));
        assert!(text.contains(&"· [x] also uncordon (press p)".to_string()));
    }

    #[test]
    fn a_blocked_wizard_has_no_plan() {
        let mut w = wizard();
        w.block("no rights", vec!["grant rights".into()]);
        w.block("second reason", vec![]);
        assert!(w.plan().is_none());
        assert_eq!(
            w.blocker.as_ref().map(|b| b.reason.as_str()),
            Some("no rights")
        );
        let text = w.render();
        assert!(text.contains(&"✗ Stopped: no rights".to_string()));
        assert!(text.contains(&"·   grant rights".to_string()));
    }
}
