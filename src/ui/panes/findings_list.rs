//! The Overview's findings as a selectable list (severity, id, subject, one line of
//! summary) with the selected finding's full text below it, scrollable on its own: at
//! 80x24 every finding is reachable, not only the first one that fits.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, List, ListItem, ListState, Paragraph, Wrap};

use crate::diagnose::{Finding, Severity};
use crate::model::objref::ObjRef;
use crate::ui::keymap::Action;
use crate::ui::theme::{Role, Theme};
use crate::ui::view::{ObjKey, ObjKind};

pub(crate) fn severity_role(s: Severity) -> Role {
    match s {
        Severity::Critical => Role::Critical,
        Severity::Warning => Role::Warning,
        Severity::Info => Role::Info,
    }
}

/// Which finding is selected and how far its text is scrolled.
#[derive(Debug, Default)]
pub(crate) struct FindingsList {
    pub selected: usize,
    /// Rows of the selected finding's text scrolled off its top.
    pub text_scroll: u16,
    /// The last draw's most text scroll, so a key never scrolls into emptiness.
    max_text_scroll: std::cell::Cell<u16>,
    /// The rows the list showed at the last draw (a page for page-up/down).
    list_rows: std::cell::Cell<usize>,
}

impl FindingsList {
    /// Moves the selection (or the text) for a move action; `false` when `action`
    /// is not one.
    pub fn on_action(&mut self, action: Action, count: usize) -> bool {
        let last = count.saturating_sub(1);
        let page = self.list_rows.get().max(1);
        let before = self.selected;
        match action {
            Action::Up => self.selected = self.selected.saturating_sub(1),
            Action::Down => self.selected = (self.selected + 1).min(last),
            Action::PageUp => self.selected = self.selected.saturating_sub(page),
            Action::PageDown => self.selected = (self.selected + page).min(last),
            Action::Top => self.selected = 0,
            Action::Bottom => self.selected = last,
            Action::TextUp => self.text_scroll = self.text_scroll.saturating_sub(1),
            Action::TextDown => {
                self.text_scroll = (self.text_scroll + 1).min(self.max_text_scroll.get())
            }
            _ => return false,
        }
        if self.selected != before {
            self.text_scroll = 0;
        }
        true
    }

    /// The selected finding (kept in range when the findings change).
    pub fn selected<'a>(&self, findings: &'a [Finding]) -> Option<&'a Finding> {
        findings.get(self.selected.min(findings.len().saturating_sub(1)))
    }

    /// Draws the list into `area`'s top and the selected finding's text below it.
    /// Draws the list; `provisional` says why the findings may still change (a kind
    /// still listing), in the title.
    pub fn draw(
        &self,
        f: &mut Frame,
        area: Rect,
        findings: &[Finding],
        provisional: Option<&str>,
        theme: &Theme,
    ) {
        // The list takes what it needs up to 40 % of the area (at least 3 rows of
        // findings), the text the rest.
        let wanted = u16::try_from(findings.len()).unwrap_or(u16::MAX) + 2;
        let cap = (area.height * 2 / 5).max(5);
        let [top, bottom] =
            Layout::vertical([Constraint::Length(wanted.min(cap)), Constraint::Min(3)]).areas(area);
        self.list_rows
            .set(usize::from(top.height.saturating_sub(2)));
        let selected = self.selected.min(findings.len().saturating_sub(1));
        let items: Vec<ListItem> = findings
            .iter()
            .map(|finding| {
                let summary = finding.explanation.lines().next().unwrap_or("");
                ListItem::new(Line::from(vec![
                    Span::styled(
                        format!("{:<9}", format!("{:?}", finding.severity).to_uppercase()),
                        theme.style(severity_role(finding.severity)),
                    ),
                    Span::styled(format!("{}  ", finding.id), theme.style(Role::Header)),
                    Span::styled(format!("{}  ", finding.object), theme.style(Role::Text)),
                    Span::styled(summary.to_string(), theme.style(Role::Muted)),
                ]))
            })
            .collect();
        let title = format!(
            " Findings ({}/{}){} ",
            if findings.is_empty() { 0 } else { selected + 1 },
            findings.len(),
            provisional
                .map(|why| format!(" provisional: {why}"))
                .unwrap_or_default()
        );
        let list = List::new(items)
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(theme.style(Role::BorderFocused))
                    .title(Span::styled(title, theme.style(Role::Title))),
            )
            .highlight_style(theme.style(Role::Selection));
        let mut state = ListState::default().with_selected(Some(selected));
        f.render_stateful_widget(list, top, &mut state);

        let Some(finding) = findings.get(selected) else {
            return;
        };
        let width = usize::from(bottom.width.saturating_sub(2));
        let mut text: Vec<Line> = Vec::new();
        let mut push = |prefix: &str, body: &str, role: Role| {
            for l in super::overview::wrap_hanging(prefix, body, width) {
                text.push(Line::from(Span::styled(l, theme.style(role))));
            }
        };
        push("", &finding.explanation, Role::Text);
        for ev in &finding.evidence {
            push("> ", ev, Role::Muted);
        }
        push("fix: ", &finding.fix, Role::Info);
        let height = usize::from(bottom.height.saturating_sub(2));
        let most = u16::try_from(text.len().saturating_sub(height)).unwrap_or(u16::MAX);
        self.max_text_scroll.set(most);
        let scroll = self.text_scroll.min(most);
        let more = if scroll < most { " (more below)" } else { "" };
        let title = format!(" {} {}{more} ", finding.id, finding.object);
        f.render_widget(
            Paragraph::new(text)
                .block(
                    Block::default()
                        .borders(Borders::ALL)
                        .border_style(theme.style(Role::Border))
                        .title(Span::styled(title, theme.style(Role::Title))),
                )
                .wrap(Wrap { trim: false })
                .scroll((scroll, 0)),
            bottom,
        );
    }
}

/// The action that fixes what a finding is about, where the console has one (the
/// footer names its key; the key works on the selected finding).
pub(crate) fn fix_action(finding: &Finding) -> Option<(Action, &'static str)> {
    match finding.id {
        "pod.volume-locked" | "rbd.stale-lock" => {
            Some((Action::Unlock, "remove the stale lock (wizard)"))
        }
        "rbd.stale-watcher" | "pv.attached-elsewhere" => Some((
            Action::Unlock,
            "release the volume from the dead node (wizard)",
        )),
        "pod.terminating-stuck" => Some((Action::Delete, "force delete (plan)")),
        _ => None,
    }
}

/// The row a finding's subject is shown as (`None`: no pane lists its kind).
pub(crate) fn row_of(subject: &ObjRef) -> Option<ObjKey> {
    let kind = match subject.kind {
        "Pod" => ObjKind::Pod,
        "Node" => ObjKind::Node,
        "PersistentVolumeClaim" => ObjKind::Pvc,
        "PersistentVolume" => ObjKind::Pv,
        "StorageClass" => ObjKind::StorageClass,
        "VolumeAttachment" => ObjKind::VolumeAttachment,
        "StatefulSet" => ObjKind::StatefulSet,
        "DaemonSet" => ObjKind::DaemonSet,
        "Deployment" => ObjKind::Deployment,
        ObjRef::RBD_IMAGE => {
            let pool = subject.namespace.as_deref()?;
            return Some(ObjKey {
                kind: ObjKind::RbdImage,
                namespace: Default::default(),
                name: crate::views::ceph::image_key_name(pool, &subject.name).into(),
            });
        }
        _ => return None,
    };
    Some(ObjKey {
        kind,
        namespace: subject.namespace.as_deref().unwrap_or_default().into(),
        name: subject.name.as_str().into(),
    })
}

/// The pane that lists rows of `kind`, and the command that shows them.
pub(crate) fn pane_of(kind: ObjKind) -> Option<(super::PaneId, &'static str)> {
    use super::PaneId;
    Some(match kind {
        ObjKind::Pod => (PaneId::Pods, "pods"),
        ObjKind::Node => (PaneId::Nodes, "nodes"),
        ObjKind::Pvc => (PaneId::Storage, "pvc"),
        ObjKind::Pv => (PaneId::Storage, "pv"),
        ObjKind::StorageClass => (PaneId::Storage, "sc"),
        ObjKind::VolumeAttachment => (PaneId::Storage, "va"),
        ObjKind::StatefulSet | ObjKind::DaemonSet | ObjKind::Deployment => {
            (PaneId::Workloads, "workloads")
        }
        ObjKind::RbdImage => (PaneId::Ceph, "rbd"),
        ObjKind::Event | ObjKind::Resource => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_selection_stays_in_range_and_resets_the_text() {
        let mut l = FindingsList::default();
        assert!(l.on_action(Action::Down, 3));
        assert!(l.on_action(Action::Down, 3));
        assert!(l.on_action(Action::Down, 3));
        assert_eq!(l.selected, 2);
        l.text_scroll = 4;
        assert!(l.on_action(Action::Up, 3));
        assert_eq!((l.selected, l.text_scroll), (1, 0));
        assert!(l.on_action(Action::Bottom, 3));
        assert_eq!(l.selected, 2);
        assert!(l.on_action(Action::Top, 3));
        assert_eq!(l.selected, 0);
        assert!(!l.on_action(Action::Quit, 3));
    }

    #[test]
    fn subjects_map_to_their_rows() {
        let key =
            row_of(&ObjRef::namespaced("Pod", "default", "web-0")).unwrap_or_else(|| panic!());
        assert_eq!(
            pane_of(key.kind),
            Some((super::super::PaneId::Pods, "pods"))
        );
        let key = row_of(&ObjRef::namespaced(ObjRef::RBD_IMAGE, "rbd", "img"))
            .unwrap_or_else(|| panic!());
        assert_eq!(key.name, crate::views::ceph::image_key_name("rbd", "img"));
        assert_eq!(pane_of(key.kind), Some((super::super::PaneId::Ceph, "rbd")));
        assert!(row_of(&ObjRef::cluster("CephUser", "client.admin")).is_none());
    }
}
