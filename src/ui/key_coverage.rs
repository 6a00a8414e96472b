//! The keymap's promise, tested: every action bound in a context of a shipped
//! keymap has a handler where that context has the focus, so `?` lists no key
//! that does nothing.

use super::detail::{Detail, DetailKind};
use super::dialog::{Dialog, DialogKind};
use super::help::HelpOverlay;
use super::keymap::{Action, BUILTIN_KEYMAPS, Context, Keymap};
use super::view::{ObjKey, ObjKind};
use super::wizard::WizardOverlay;
use crate::ops::Plan;

/// Every action a key reaches in `context` (its own bindings and what it
/// inherits from `[global]`).
fn bound(keymap: &Keymap, context: Context) -> Vec<Action> {
    Action::all()
        .filter(|a| !keymap.keys_for(context, *a).is_empty())
        .collect()
}

/// Whether the focus of `context` handles `action` (fresh state each time, in
/// the state where the most actions apply). `None`: the context's handler
/// belongs to the panes (App), which test their own.
fn handled(context: Context, action: Action) -> Option<bool> {
    Some(match context {
        Context::Detail => {
            let key = ObjKey {
                kind: ObjKind::Pod,
                namespace: "demo".into(),
                name: "web-0".into(),
            };
            let mut d = Detail::new(DetailKind::Logs, key, vec!["a".into()]);
            d.containers = vec!["app".into()];
            d.on_action(action).is_some()
        }
        Context::Dialog => {
            let namespace = Dialog::new(DialogKind::Namespace {
                choices: vec!["all".into()],
            })
            .on_action(action)
            .is_some();
            let plan = Dialog::new(DialogKind::ConfirmPlan(Plan::cordon("node1")))
                .on_action(action)
                .is_some();
            namespace && plan
        }
        Context::Wizard => WizardOverlay::assessing("test").on_action(action).is_some(),
        Context::Global
        | Context::Table
        | Context::Ceph
        | Context::Pods
        | Context::Storage
        | Context::Overview
        | Context::Members
        | Context::Network
        | Context::Workloads
        | Context::Resources => return None,
    })
}

#[test]
fn every_bound_action_has_a_handler() {
    for name in BUILTIN_KEYMAPS {
        let keymap = Keymap::builtin(name).unwrap_or_default();
        for context in Context::all() {
            for action in bound(&keymap, context) {
                if let Some(ok) = handled(context, action) {
                    assert!(ok, "{name}: [{context}] {action} is bound but does nothing");
                }
            }
        }
        // The help overlay reads the detail views' scrolling and closing keys.
        for action in [Action::Up, Action::Down, Action::PageDown, Action::Close] {
            assert!(
                HelpOverlay::new(super::help::Focus::Overlay(Context::Detail))
                    .on_action(action)
                    .is_some()
            );
        }
    }
}

#[test]
fn a_binding_without_a_handler_is_caught() {
    // The test above would fail for an action a context does not handle.
    assert_eq!(handled(Context::Dialog, Action::Describe), Some(false));
    assert_eq!(handled(Context::Detail, Action::Delete), Some(false));
}
