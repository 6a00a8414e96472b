//! Keymaps: which key triggers which [`Action`] in which [`Context`].
//!
//! Nothing in the UI matches on key codes; every pane, overlay and dialog asks the
//! keymap what a key means where the focus is, so every binding can be changed by
//! the operator and the `?` overlay (`ui::help`) shows the keys that really work.
//! The one exception is text entry (`ui::text_field`): a character a field can
//! hold is typed into it.
//!
//! The actions and contexts are listed once, in `keymap/action.rs`; their
//! names, descriptions and lists are derived from that.
//!
//! File format (`keymaps/*.toml`, see `keymaps/default.toml` for the full default):
//!
//! ```toml
//! [table]
//! describe = ["d", "enter"]   # replaces the default keys of `describe`
//! delete = "none"             # unbinds it (so does [])
//!
//! [global]
//! quit = "ctrl-q"
//! ```
//!
//! Every file, built-in or the operator's, is laid over the default keymap: an entry
//! replaces that action's keys in that context, and the keys it takes are removed
//! from whatever default action had them. A file only lists what it changes.

mod action;
mod file;
mod key;

use std::path::Path;

use crossterm::event::KeyEvent;

pub use action::{Action, Context};
pub use key::Key;

use super::config_error::{ConfigError, ConfigErrorKind, Resolver, read_required, resolve_chain};
use file::parse_onto;

const DEFAULT_TOML: &str = include_str!("../../../keymaps/default.toml");
const VIM_TOML: &str = include_str!("../../../keymaps/vim.toml");

/// Names accepted by [`Keymap::builtin`] and `--keymap`.
pub(crate) const BUILTIN_KEYMAPS: &[&str] = &["default", "vim"];

/// The bindings of one context: each bound action with its keys, in binding order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Bindings(Vec<(Action, Vec<Key>)>);

impl Bindings {
    fn action(&self, key: &Key) -> Option<Action> {
        self.0
            .iter()
            .find(|(_, keys)| keys.contains(key))
            .map(|(a, _)| *a)
    }

    fn keys(&self, action: Action) -> &[Key] {
        self.0
            .iter()
            .find(|(a, _)| *a == action)
            .map_or(&[], |(_, keys)| keys.as_slice())
    }

    /// Gives `action` exactly `keys`, taking them away from any other action.
    fn set(&mut self, action: Action, keys: Vec<Key>) {
        for (a, ks) in &mut self.0 {
            if *a != action {
                ks.retain(|k| !keys.contains(k));
            }
        }
        match self.0.iter_mut().find(|(a, _)| *a == action) {
            Some((_, ks)) => *ks = keys,
            None => self.0.push((action, keys)),
        }
        self.0.retain(|(_, ks)| !ks.is_empty());
    }
}

/// Bound actions with their keys in display form (`ctrl-k`), as help lists them.
pub(crate) type ActionKeys = Vec<(Action, Vec<String>)>;

/// A resolved keymap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keymap {
    name: String,
    contexts: [Bindings; action::CONTEXTS],
}

impl Default for Keymap {
    /// The compiled-in default keymap.
    fn default() -> Self {
        Keymap::default_keymap()
    }
}

impl Keymap {
    /// What `key` means with the focus in `context`: the context's own binding, else
    /// a `[global]` one the context inherits (all of them for tables and detail
    /// views; only help and refresh for dialogs and wizards, which must not be left
    /// by accident). `None` for unbound keys and key releases.
    pub fn action(&self, context: Context, key: KeyEvent) -> Option<Action> {
        let key = Key::from_event(&key)?;
        self.action_for_key(context, &key)
    }

    /// [`Keymap::action`] for an already normalised key.
    pub(crate) fn action_for_key(&self, context: Context, key: &Key) -> Option<Action> {
        if let Some(a) = self.contexts[context.index()].action(key) {
            return Some(a);
        }
        self.contexts[Context::Global.index()]
            .action(key)
            .filter(|a| context.inherits(*a))
    }

    /// What `key` means along `chain`, a pane's contexts in the order they are asked
    /// (its own, then the table's): the first context binding the key, else a
    /// `[global]` action the last one inherits. The context is the one that bound it.
    pub(crate) fn resolve_in(&self, chain: &[Context], key: &Key) -> Option<(Context, Action)> {
        for context in chain {
            if let Some(a) = self.contexts[context.index()].action(key) {
                return Some((*context, a));
            }
        }
        let last = chain.last()?;
        self.contexts[Context::Global.index()]
            .action(key)
            .filter(|a| last.inherits(*a))
            .map(|a| (Context::Global, a))
    }

    /// The keys that really work along `chain`, section by section: each context
    /// of the chain, then `[global]` (what the chain inherits of it), with each
    /// action's keys that reach it; a key shadowed by an earlier context is left
    /// out of the later one, so no key is listed twice. Sections with no key are
    /// left out. For the help overlay.
    pub fn reachable(&self, chain: &[Context]) -> Vec<(Context, ActionKeys)> {
        let mut sections: Vec<Context> = chain.to_vec();
        if !sections.contains(&Context::Global) {
            sections.push(Context::Global);
        }
        sections
            .into_iter()
            .map(|context| {
                let own = &self.contexts[context.index()];
                let bindings = context
                    .actions()
                    .iter()
                    .filter_map(|a| {
                        let keys: Vec<String> = own
                            .keys(*a)
                            .iter()
                            .filter(|k| self.resolve_in(chain, k) == Some((context, *a)))
                            .map(ToString::to_string)
                            .collect();
                        (!keys.is_empty()).then_some((*a, keys))
                    })
                    .collect::<Vec<_>>();
                (context, bindings)
            })
            .filter(|(_, bindings)| !bindings.is_empty())
            .collect()
    }

    /// The keys that trigger `action` in `context`, in display form (`ctrl-k`), for
    /// hints and the help overlay. For a `[global]` action asked in another context,
    /// only the keys that still reach it there (not shadowed, inherited).
    pub(crate) fn keys_for(&self, context: Context, action: Action) -> Vec<String> {
        let own = &self.contexts[context.index()];
        if context.actions().contains(&action) {
            return own.keys(action).iter().map(ToString::to_string).collect();
        }
        if !context.inherits(action) {
            return Vec::new();
        }
        self.contexts[Context::Global.index()]
            .keys(action)
            .iter()
            .filter(|k| own.action(k).is_none())
            .map(ToString::to_string)
            .collect()
    }

    /// The bound actions of `context` itself (not the inherited global ones; show
    /// `bindings(Context::Global)` beside them) with their keys, in the order of
    /// [`Context::actions`], for the help overlay.
    pub(crate) fn bindings(&self, context: Context) -> ActionKeys {
        let own = &self.contexts[context.index()];
        context
            .actions()
            .iter()
            .filter_map(|a| {
                let keys = own.keys(*a);
                (!keys.is_empty()).then(|| (*a, keys.iter().map(ToString::to_string).collect()))
            })
            .collect()
    }

    /// Where the keymap came from (`default`, `vim`, a file path).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A compiled-in keymap by name ([`BUILTIN_KEYMAPS`]).
    pub fn builtin(name: &str) -> Option<Keymap> {
        let mut keymap = match name {
            "default" => Keymap::default_keymap(),
            "vim" => {
                // Tested to parse cleanly; were it not, the default is still usable.
                let (k, _errors) = parse_onto(VIM_TOML, "keymaps/vim.toml", &Keymap::default());
                k.unwrap_or_default()
            }
            _ => return None,
        };
        keymap.name = name.to_owned();
        Some(keymap)
    }

    fn default_keymap() -> Keymap {
        let empty = Keymap {
            name: "default".to_owned(),
            contexts: Default::default(),
        };
        // Tested to parse cleanly; were it not, an empty keymap still lets the
        // event loop's hard-wired ctrl-c quit.
        let (k, _errors) = parse_onto(DEFAULT_TOML, "keymaps/default.toml", &empty);
        let mut k = k.unwrap_or(empty);
        k.name = "default".to_owned();
        k
    }

    /// Loads a keymap file strictly (over the default): any problem is an error,
    /// the first top to bottom. For the console's startup use [`Keymap::resolve`].
    pub fn load(path: &Path) -> Result<Keymap, ConfigError> {
        let src = read_required(path)?;
        let label = path.display().to_string();
        let (keymap, errors) = Keymap::parse(&src, &label);
        match (keymap, errors.into_iter().next()) {
            (_, Some(first)) => Err(first),
            (Some(k), None) => Ok(k),
            (None, None) => Err(ConfigError::whole_file(
                label,
                ConfigErrorKind::Syntax,
                "unusable keymap",
            )),
        }
    }

    /// Parses keymap text over the default keymap, forgivingly: `None` only when the
    /// text is not TOML; otherwise a keymap where each bad entry left the default
    /// alone, plus all problems found, top to bottom. `file` labels errors.
    pub fn parse(src: &str, file: &str) -> (Option<Keymap>, Vec<ConfigError>) {
        parse_onto(src, file, &Keymap::default())
    }

    /// The keymap the console starts with, and the problems met on the way:
    /// `--keymap` (a built-in name or a file), else `<config_dir>/keymap.toml` if it
    /// exists, else the default. Never fails: an unusable candidate is reported and
    /// the next one is tried.
    pub fn resolve(flag: Option<&str>, config_dir: Option<&Path>) -> (Keymap, Vec<ConfigError>) {
        let resolver = Resolver {
            flag_name: "--keymap",
            file_name: "keymap.toml",
            builtin_names: BUILTIN_KEYMAPS,
            builtin: Keymap::builtin,
            parse: Keymap::parse,
            default: Keymap::default_keymap,
        };
        resolve_chain(&resolver, flag, config_dir)
    }
}

#[cfg(test)]
mod tests;
