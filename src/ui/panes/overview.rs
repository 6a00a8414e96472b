//! The Overview pane: nodes ready/total, pods by status, warnings in the last hour,
//! and the findings with their evidence and fix.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::findings_list::{FindingsList, fix_action, row_of};
use super::table::TableState;
use super::{DrawCtx, Outcome, Pane, PaneCtx, PaneId};
use crate::model::objref::ObjRef;
use crate::ops::wizard::unlock::UnlockTarget;
use crate::ui::commands::Command;
use crate::ui::keymap::{Action, Context, Keymap};
use crate::ui::theme::{Role, Theme};
use crate::ui::view::{ObjKey, TableModel, ViewModel};
use crate::views::freshness;

/// `prefix` + `body` wrapped at word boundaries to `width` columns, the wrapped lines
/// indented to line up under the body (a word longer than a line is left to the
/// paragraph's own wrapping).
pub(crate) fn wrap_hanging(prefix: &str, body: &str, width: usize) -> Vec<String> {
    let indent = " ".repeat(prefix.chars().count());
    let width = width.max(indent.len() + 10);
    let mut out = Vec::new();
    for (i, paragraph) in body.lines().enumerate() {
        let first = if i == 0 { prefix } else { indent.as_str() };
        let options = textwrap::Options::new(width)
            .initial_indent(first)
            .subsequent_indent(&indent)
            .break_words(false)
            .word_splitter(textwrap::WordSplitter::NoHyphenation);
        let lines = textwrap::wrap(paragraph, options);
        if lines.is_empty() {
            out.push(first.to_string());
        }
        out.extend(lines.into_iter().map(|l| l.into_owned()));
    }
    if out.is_empty() {
        out.push(prefix.to_string());
    }
    out
}

/// Draws the overview at `now` with the findings `list`. Counts from data
/// that is not live are dimmed and say how old they are; "no findings" is good news
/// only when every watched kind is listed and current.
pub(crate) fn draw(
    f: &mut Frame,
    area: Rect,
    view: &ViewModel,
    theme: &Theme,
    list: &FindingsList,
    now: jiff::Timestamp,
    lab_story: Option<&str>,
) {
    let [top, bottom] = Layout::vertical([Constraint::Length(5), Constraint::Min(3)]).areas(area);
    let s = &view.summary;
    let live = freshness::all_live(&view.sources);
    let note = match freshness::of(&view.sources, &["nodes", "pods", "events"]) {
        // How far the pods' first list got, while it runs.
        f @ freshness::Freshness::Waiting => {
            freshness::pods_loading(&view.sources, view.snapshot.pods.len()).or(f.note(now))
        }
        f => f.note(now),
    };
    // Stale or missing counts are not good news.
    let shade = |role: Role| if note.is_some() { Role::Muted } else { role };
    let node_role = if s.nodes_ready == s.nodes_total {
        shade(Role::Ok)
    } else {
        Role::Error
    };
    let mut pods: Vec<Span> = vec![Span::styled("Pods: ", theme.style(Role::Muted))];
    let total: usize = s.pods_by_status.values().sum();
    pods.push(Span::styled(
        format!("{total} total"),
        theme.style(Role::Text),
    ));
    for (status, n) in &s.pods_by_status {
        let role = match status.as_str() {
            "Running" | "Completed" => shade(Role::Ok),
            st if st.contains("CrashLoop") || st.contains("Error") || st.contains("Failed") => {
                Role::Error
            }
            _ => Role::Warning,
        };
        pods.push(Span::raw("  "));
        pods.push(Span::styled(format!("{status} {n}"), theme.style(role)));
    }
    let lines = vec![
        Line::from(vec![
            Span::styled("Nodes: ", theme.style(Role::Muted)),
            Span::styled(
                format!("{}/{} ready", s.nodes_ready, s.nodes_total),
                theme.style(node_role),
            ),
        ]),
        Line::from(pods),
        Line::from(vec![
            Span::styled("Warnings (last hour): ", theme.style(Role::Muted)),
            Span::styled(
                s.warnings_last_hour.to_string(),
                theme.style(if s.warnings_last_hour > 0 {
                    Role::Warning
                } else {
                    shade(Role::Ok)
                }),
            ),
        ]),
    ];
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.style(Role::Border))
        .title(Line::from(
            [Span::styled(" Cluster ", theme.style(Role::Title))]
                .into_iter()
                .chain(note.map(|n| Span::styled(format!("{n} "), theme.style(Role::Warning))))
                .collect::<Vec<_>>(),
        ));
    f.render_widget(Paragraph::new(lines).block(block), top);

    if view.findings.is_empty() {
        let text = Line::from(if let Some(story) = lab_story {
            Span::styled(story.to_string(), theme.style(Role::Warning))
        } else if live {
            Span::styled(
                "No findings: everything kcops checks looks healthy.",
                theme.style(Role::Ok),
            )
        } else {
            Span::styled(
                "No findings yet, and none can be trusted: not every kind is listed and current (see the status line).",
                theme.style(Role::Warning),
            )
        });
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.style(Role::BorderFocused))
            .title(Span::styled(" Findings (0) ", theme.style(Role::Title)));
        f.render_widget(
            Paragraph::new(text).block(block).wrap(Wrap { trim: false }),
            bottom,
        );
        return;
    }
    // Findings of a cluster not fully listed yet may still come and go.
    let provisional = freshness::provisional(&view.sources, view.snapshot.pods.len());
    list.draw(f, bottom, &view.findings, provisional.as_deref(), theme);
}

const COMMANDS: &[Command] = &[Command::show(
    PaneId::Overview,
    "overview",
    &["o"],
    "health at a glance and the findings",
)
.unhinted()];

/// The findings list's selection and text scroll.
#[derive(Debug, Default)]
pub(crate) struct OverviewPane {
    list: FindingsList,
}

impl Pane for OverviewPane {
    fn id(&self) -> PaneId {
        PaneId::Overview
    }

    fn title(&self) -> &'static str {
        "Overview"
    }

    fn contexts(&self) -> &'static [Context] {
        &[Context::Overview, Context::Global]
    }

    fn commands(&self) -> &'static [Command] {
        COMMANDS
    }

    fn table<'a>(&'a self, _view: &'a ViewModel) -> Option<(&'a TableModel, &'a TableState)> {
        None
    }

    fn table_mut<'a>(
        &'a mut self,
        _view: &'a ViewModel,
    ) -> Option<(&'a TableModel, &'a mut TableState)> {
        None
    }

    /// The moves select a finding; text-up/down scroll its text.
    fn on_action(&mut self, action: Action, ctx: &PaneCtx) -> Outcome {
        if self.list.on_action(action, ctx.view.findings.len()) {
            Outcome::Handled
        } else {
            Outcome::Ignored
        }
    }

    /// The selected finding's subject, where a pane shows it (go-to, describe).
    fn selected(&self, view: &ViewModel) -> Option<ObjKey> {
        let subject = self.list.selected(&view.findings)?.subject.as_ref()?;
        row_of(subject)
    }

    /// The selected finding's fix key, and the key that shows its subject.
    fn hint(&self, view: &ViewModel, keymap: &Keymap) -> Option<String> {
        let finding = self.list.selected(&view.findings)?;
        let mut items: Vec<(Action, &str)> = Vec::new();
        if let Some((action, label)) = fix_action(finding) {
            items.push((action, label));
        }
        if finding.subject.as_ref().and_then(row_of).is_some() {
            items.push((Action::GoTo, "go to its object"));
        }
        let text = crate::ui::help::hint_text(keymap, Context::Overview, &items);
        (!text.is_empty()).then_some(text)
    }

    /// The selected finding's pod, image or volume when it is about a lock, a stale
    /// watcher or a dead node's attachment; otherwise the first of those (findings
    /// come most severe first).
    fn unlock_target(&self, view: &ViewModel) -> Option<UnlockTarget> {
        let target = |f: &crate::diagnose::Finding| {
            let subject = f.subject.as_ref()?;
            match f.id {
                "pod.volume-locked" => {
                    subject
                        .namespaced_as(ObjRef::POD)
                        .map(|(ns, name)| UnlockTarget::Pod {
                            namespace: ns.to_string(),
                            name: name.to_string(),
                        })
                }
                // A dead node's attachment: the wizard opens on its volume.
                "pv.attached-elsewhere" => view
                    .snapshot
                    .volume_attachments
                    .iter()
                    .find(|va| va.metadata.name.as_deref() == Some(subject.name.as_str()))
                    .and_then(|va| va.spec.source.persistent_volume_name.clone())
                    .map(|name| UnlockTarget::Volume { name }),
                "rbd.stale-lock" | "rbd.stale-watcher" => subject
                    .namespaced_as(ObjRef::RBD_IMAGE)
                    .map(|(pool, image)| UnlockTarget::Image {
                        pool: pool.to_string(),
                        image: image.to_string(),
                    }),
                _ => None,
            }
        };
        if let Some(t) = self.list.selected(&view.findings).and_then(target) {
            return Some(t);
        }
        let first = |id: &str| view.findings.iter().filter(|f| f.id == id).find_map(target);
        first("pod.volume-locked")
            .or_else(|| first("rbd.stale-lock"))
            .or_else(|| first("rbd.stale-watcher"))
            .or_else(|| first("pv.attached-elsewhere"))
    }

    fn draw(&mut self, f: &mut Frame, area: Rect, ctx: &DrawCtx) {
        draw(
            f,
            area,
            ctx.view,
            ctx.theme,
            &self.list,
            ctx.now,
            ctx.lab_story,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::wrap_hanging;
    use super::{ObjRef, OverviewPane, Pane, UnlockTarget, ViewModel};
    use crate::diagnose::{Finding, Severity};

    fn finding(id: &'static str, subject: ObjRef) -> Finding {
        Finding {
            id,
            severity: Severity::Critical,
            object: String::new(),
            subject: Some(subject),
            namespace: None,
            node: None,
            evidence: Vec::new(),
            explanation: String::new(),
            fix: String::new(),
        }
    }

    /// A dead node's hold on a ceph-csi volume opens the unlock wizard: on the image
    /// for a stale watcher, on the attachment's volume for a stale attachment.
    #[test]
    fn u_on_a_held_csi_volume_opens_the_wizard_on_it() {
        let mut view = ViewModel::default();
        let va: k8s_openapi::api::storage::v1::VolumeAttachment =
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": "csi-3f2a"},
                "spec": {"attacher": "rbd.csi.ceph.com", "nodeName": "worker-a",
                         "source": {"persistentVolumeName": "pvc-1"}}
            }))
            .unwrap_or_else(|e| panic!("{e}"));
        view.snapshot.volume_attachments = vec![std::sync::Arc::new(va)];
        view.findings = vec![finding(
            "pv.attached-elsewhere",
            ObjRef::cluster("VolumeAttachment", "csi-3f2a"),
        )];
        let pane = OverviewPane::default();
        assert_eq!(
            pane.unlock_target(&view),
            Some(UnlockTarget::Volume {
                name: "pvc-1".into()
            })
        );
        view.findings = vec![finding(
            "rbd.stale-watcher",
            ObjRef::at(ObjRef::RBD_IMAGE, "rbd/csi-vol-1"),
        )];
        assert_eq!(
            pane.unlock_target(&view),
            Some(UnlockTarget::Image {
                pool: "rbd".into(),
                image: "csi-vol-1".into()
            })
        );
    }

    #[test]
    fn wrapped_lines_hang_under_the_body() {
        assert_eq!(
            wrap_hanging("    fix: ", "run this then that", 22),
            ["    fix: run this then", "         that"]
        );
        assert_eq!(wrap_hanging("    ", "one\ntwo", 40), ["    one", "    two"]);
        assert_eq!(wrap_hanging("    > ", "", 40), ["    > "]);
        assert_eq!(wrap_hanging("    ", "a b", 0), ["    a b"]);
    }
}
