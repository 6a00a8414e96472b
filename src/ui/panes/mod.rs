//! The panes: Overview, the table panes (nodes, pods, storage, workloads, events),
//! Network, Ceph and Members. Each is a module owning its state (selection, sort, sub-view,
//! scroll) behind the [`Pane`] trait: which keymap sections it reads, which `:`
//! commands show it, what it does with an action, how it draws. `App` routes keys,
//! commands and new views to the pane in front and knows nothing else about it.
//!
//! A new pane is a module here, a [`PaneId`] and one line in [`all`].

pub mod ceph;
pub mod events;
pub mod findings_list;
pub mod members;
pub mod network;
pub mod nodes;
pub mod overview;
pub mod pods;
pub mod resources;
pub mod storage;
pub mod table;
pub mod workloads;

use jiff::Timestamp;
use ratatui::Frame;
use ratatui::layout::Rect;

use self::table::{Filter, TableState};
use super::commands::Command;
use super::keymap::{Action, Context, Keymap};
use super::theme::Theme;
use super::view::{ObjKey, ObjKind, TableModel, ViewModel};
use crate::ops::wizard::unlock::UnlockTarget;

/// The top-level panes, in number-key order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaneId {
    Overview,
    Nodes,
    Pods,
    Storage,
    Workloads,
    Events,
    Network,
    Ceph,
    Members,
    /// The generic resource browser: no number key or tab of its own (a `:<kind>`
    /// command shows it).
    Resources,
}

impl PaneId {
    /// Every pane, in number-key (and tab) order.
    pub const ALL: [PaneId; 9] = [
        PaneId::Overview,
        PaneId::Nodes,
        PaneId::Pods,
        PaneId::Storage,
        PaneId::Workloads,
        PaneId::Events,
        PaneId::Network,
        PaneId::Ceph,
        PaneId::Members,
    ];

    /// Every pane: the numbered ones, then the resource browser.
    pub const EVERY: [PaneId; 10] = [
        PaneId::Overview,
        PaneId::Nodes,
        PaneId::Pods,
        PaneId::Storage,
        PaneId::Workloads,
        PaneId::Events,
        PaneId::Network,
        PaneId::Ceph,
        PaneId::Members,
        PaneId::Resources,
    ];

    /// The pane's place in [`PaneId::EVERY`] (for a numbered pane, its number key
    /// less one).
    pub fn index(self) -> usize {
        PaneId::EVERY.iter().position(|p| *p == self).unwrap_or(0)
    }
}

/// Every pane, in [`PaneId::ALL`]'s order, in its start state.
pub(crate) fn all() -> Vec<Box<dyn Pane>> {
    vec![
        Box::new(overview::OverviewPane::default()),
        Box::new(nodes::NodesPane::default()),
        Box::new(pods::PodsPane::default()),
        Box::new(storage::StoragePane::default()),
        Box::new(workloads::WorkloadsPane::default()),
        Box::new(events::EventsPane::default()),
        Box::new(network::NetworkPane::default()),
        Box::new(ceph::CephPane::default()),
        Box::new(members::MembersPane::default()),
        Box::new(resources::ResourcesPane::default()),
    ]
}

/// What a pane reads to act on a key: the view and the console-wide row filter and
/// namespace.
pub(crate) struct PaneCtx<'a> {
    pub view: &'a ViewModel,
    pub filter: &'a Filter,
    pub namespace: Option<&'a str>,
    /// The time ages are shown (and filtered) at.
    pub now: Timestamp,
}

/// What a pane draws with.
pub(crate) struct DrawCtx<'a> {
    pub view: &'a ViewModel,
    pub theme: &'a Theme,
    /// No overlay covers the pane (its selection is shown as focused).
    pub focused: bool,
    pub namespace: Option<&'a str>,
    pub now: Timestamp,
    /// A lab's story still playing (see `ui::lab_story`): not yet "healthy".
    pub lab_story: Option<&'a str>,
}

/// What a pane made of an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Not the pane's: the app handles it (or nobody does).
    Ignored,
    /// Done.
    Handled,
    /// Ceph should be asked again now (the pane's own table is refreshed).
    AskCeph,
}

/// One pane: its state and what it does with keys, commands and views.
pub(crate) trait Pane {
    fn id(&self) -> PaneId;

    /// The tab's title.
    fn title(&self) -> &'static str;

    /// The keymap sections a key is looked up in, first match wins: the pane's own
    /// section, then the one it falls back to (`[table]` or `[global]`).
    fn contexts(&self) -> &'static [Context];

    /// The `:` commands that show this pane (each [`super::commands::Run::Show`] of
    /// this pane), in the order help lists them.
    fn commands(&self) -> &'static [Command];

    /// One of [`Pane::commands`] is about to show the pane: pick the sub-view it names.
    fn open(&mut self, _command: &str, _view: &ViewModel) {}

    /// A new view arrived (every pane hears it, shown or not).
    fn on_view(&mut self, _view: &ViewModel) {}

    /// The table the pane shows now, with its selection and sort (`None`: no table).
    fn table<'a>(&'a self, view: &'a ViewModel) -> Option<(&'a TableModel, &'a TableState)>;

    /// [`Pane::table`], to change the selection or sort.
    fn table_mut<'a>(
        &'a mut self,
        view: &'a ViewModel,
    ) -> Option<(&'a TableModel, &'a mut TableState)>;

    /// Offers the pane an action before the app's own handling: by default the
    /// table's moves and sorting.
    fn on_action(&mut self, action: Action, ctx: &PaneCtx) -> Outcome {
        table::on_action(self.table_mut(ctx.view), action, ctx)
    }

    /// Narrows the pane to a drill-down's pods (`None`: all of them again). Only
    /// the Pods pane lists a drill-down; the others ignore it.
    fn drill_into(&mut self, _drill: Option<crate::ui::nav::Drill>, _view: &ViewModel) {}

    /// The drill-down the pane shows, if any.
    fn drilled(&self) -> Option<&crate::ui::nav::Drill> {
        None
    }

    /// The lines of a describe or YAML view of `key` when the pane has them itself
    /// (the resource browser's objects); `None`: the app fetches the object.
    fn detail_lines(
        &self,
        _kind: crate::ui::detail::DetailKind,
        _key: &ObjKey,
    ) -> Option<Vec<String>> {
        None
    }

    /// The resource browser, to hand it its lists.
    fn as_resources(&mut self) -> Option<&mut resources::ResourcesPane> {
        None
    }

    /// The selected row's object.
    fn selected(&self, view: &ViewModel) -> Option<ObjKey> {
        self.table(view)?.1.selected_key().cloned()
    }

    /// What the lock-removal wizard opens on without an argument: by default the
    /// selected pod, claim or volume.
    fn unlock_target(&self, view: &ViewModel) -> Option<UnlockTarget> {
        let key = self.selected(view)?;
        match key.kind {
            ObjKind::Pod => Some(UnlockTarget::Pod {
                namespace: key.namespace.into(),
                name: key.name.into(),
            }),
            ObjKind::Pvc => Some(UnlockTarget::Claim {
                namespace: key.namespace.into(),
                name: key.name.into(),
            }),
            ObjKind::Pv => Some(UnlockTarget::Volume {
                name: key.name.into(),
            }),
            _ => None,
        }
    }

    /// Keys for what is selected, shown first in the footer (the Overview: the
    /// selected finding's fix).
    fn hint(&self, _view: &ViewModel, _keymap: &Keymap) -> Option<String> {
        None
    }

    fn draw(&mut self, f: &mut Frame, area: Rect, ctx: &DrawCtx);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_follows_the_pane_order() {
        let panes = all();
        assert_eq!(panes.len(), PaneId::EVERY.len());
        for (pane, id) in panes.iter().zip(PaneId::EVERY) {
            assert_eq!(pane.id(), id);
            assert_eq!(
                id.index(),
                PaneId::EVERY.iter().position(|p| *p == id).unwrap_or(99)
            );
        }
    }

    #[test]
    fn each_pane_is_shown_by_its_own_commands_and_reads_some_keys() {
        use crate::ui::commands::Run;
        for pane in all() {
            assert!(!pane.contexts().is_empty(), "{:?}", pane.id());
            assert!(!pane.commands().is_empty(), "{:?}", pane.id());
            for c in pane.commands() {
                assert!(
                    matches!(c.run, Run::Show { pane: p, .. } if p == pane.id()),
                    ":{} is declared by {:?}",
                    c.name,
                    pane.id()
                );
            }
        }
    }
}
