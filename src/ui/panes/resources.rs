//! The generic resource browser (`:svc`, `:cm`, `:secrets`, `:jobs`, `:<kind>`): any
//! kind the API server lists, in the columns kubectl prints (the server-side Table),
//! one short view over one generic table rather than a pane per kind. It has no
//! number key: the `:` command that names a kind brings it to the front.
//!
//! A Secret's values are masked in describe and YAML until the operator asks for
//! them (`x`), and never leave the screen (nothing here is logged).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use ratatui::Frame;
use ratatui::layout::Rect;

use super::table::{self, TableState};
use super::{DrawCtx, Outcome, Pane, PaneCtx, PaneId};
use crate::feed::browse::{BrowseError, ResourceTable};
use crate::model::columns::{Column, ColumnKind};
use crate::ui::commands::Command;
use crate::ui::detail::DetailKind;
use crate::ui::keymap::{Action, Context};
use crate::ui::view::{ObjKey, ObjKind, TableModel, TableRow, Tone, ViewModel};

const COMMANDS: &[Command] = &[Command::show(
    PaneId::Resources,
    "browse",
    &["res"],
    "the resource kind browsed last (:<kind> browses any kind the API server lists)",
)
.unhinted()];

/// What the browser shows: the kind asked for, its table once listed, and whether
/// a Secret's values are shown.
#[derive(Debug, Default)]
pub(crate) struct ResourcesPane {
    /// What was typed (`svc`), until the server's answer names the kind.
    asked: String,
    listed: Option<Arc<ResourceTable>>,
    error: Option<String>,
    rows: TableModel,
    table: TableState,
    /// Secret values shown in describe/YAML (`x` toggles); off for every new kind.
    pub(crate) revealed: bool,
}

impl ResourcesPane {
    /// A new kind was asked for: its list is on the way.
    pub(crate) fn ask(&mut self, word: &str) {
        *self = ResourcesPane {
            asked: word.to_owned(),
            ..Default::default()
        };
    }

    /// The answer to the latest list.
    pub(crate) fn on_list(&mut self, result: Result<Arc<ResourceTable>, BrowseError>) {
        match result {
            Ok(t) => {
                self.rows = model(&t);
                self.listed = Some(t);
                self.error = None;
            }
            Err(e) => self.error = Some(e.to_string()),
        }
    }

    fn title(&self) -> String {
        match &self.listed {
            Some(t) => t.resource.kind.clone(),
            None => format!("{} (listing...)", self.asked),
        }
    }
}

/// Column titles live as long as the process; each distinct one is kept once.
fn intern(title: &str) -> &'static str {
    static TITLES: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
    let mut guard = TITLES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let set = guard.get_or_insert_with(HashSet::new);
    if let Some(t) = set.get(title) {
        return t;
    }
    let t: &'static str = Box::leak(title.to_owned().into_boxed_str());
    set.insert(t);
    t
}

fn model(t: &ResourceTable) -> TableModel {
    let columns = t
        .columns
        .iter()
        .map(|c| {
            let kind = match c.as_str() {
                "NAME" | "NAMESPACE" => ColumnKind::Name,
                "STATUS" => ColumnKind::Status,
                _ => ColumnKind::Text,
            };
            Column::new(intern(c), kind)
        })
        .collect();
    let rows = t
        .rows
        .iter()
        .map(|r| {
            let key = ObjKey {
                kind: ObjKind::Resource,
                namespace: r.namespace.as_str().into(),
                name: r.name.as_str().into(),
            };
            Arc::new(TableRow::new(r.cells.clone(), key, Tone::Normal, None))
        })
        .collect();
    TableModel { columns, rows }
}

impl Pane for ResourcesPane {
    fn id(&self) -> PaneId {
        PaneId::Resources
    }

    fn title(&self) -> &'static str {
        "Resources"
    }

    fn as_resources(&mut self) -> Option<&mut ResourcesPane> {
        Some(self)
    }

    fn contexts(&self) -> &'static [Context] {
        &[Context::Resources, Context::Table]
    }

    fn commands(&self) -> &'static [Command] {
        COMMANDS
    }

    fn on_action(&mut self, action: Action, ctx: &PaneCtx) -> Outcome {
        if action == Action::Reveal {
            self.revealed = !self.revealed;
            return Outcome::Handled;
        }
        table::on_action(self.table_mut(ctx.view), action, ctx)
    }

    fn table<'a>(&'a self, _view: &'a ViewModel) -> Option<(&'a TableModel, &'a TableState)> {
        Some((&self.rows, &self.table))
    }

    fn table_mut<'a>(
        &'a mut self,
        _view: &'a ViewModel,
    ) -> Option<(&'a TableModel, &'a mut TableState)> {
        Some((&self.rows, &mut self.table))
    }

    /// Describe and YAML both show the object as listed (YAML: a generic kind has no
    /// describer here).
    fn detail_lines(&self, _kind: DetailKind, key: &ObjKey) -> Option<Vec<String>> {
        let t = self.listed.as_ref()?;
        let row = t
            .rows
            .iter()
            .find(|r| r.namespace == key.namespace && r.name == key.name)?;
        let mut object = row.object.clone();
        if t.resource.is_secret() {
            crate::ui::secrets::mask(&mut object, self.revealed);
        }
        Some(crate::ui::describe::yaml_of(&object))
    }

    fn draw(&mut self, f: &mut Frame, area: Rect, ctx: &DrawCtx) {
        let mut title = self.title();
        if let Some(e) = &self.error {
            title = format!("{title}: {e}");
        }
        if self.listed.as_ref().is_some_and(|t| t.resource.is_secret()) {
            title.push_str(if self.revealed {
                " (values SHOWN)"
            } else {
                " (values masked)"
            });
        }
        table::draw_titled(f, area, &title, &[], &self.rows, &mut self.table, ctx);
    }
}
