//! Keymaps: which key triggers which [`Action`] in which [`Context`].
//!
//! The event loop never matches on key codes; it asks the keymap what a key means
//! where the focus is, so every binding can be changed by the operator and the `?`
//! overlay always shows the keys that really work.
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

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use toml::Spanned;
use toml::de::{DeString, DeTable, DeValue};

use super::config_error::{
    ConfigError, ConfigErrorKind, Resolver, entries_in_order, line_col, read_required,
    resolve_chain, sort_errors, with_suggestion,
};

const DEFAULT_TOML: &str = include_str!("../../keymaps/default.toml");
const VIM_TOML: &str = include_str!("../../keymaps/vim.toml");

/// Names accepted by [`Keymap::builtin`] and `--keymap`.
pub const BUILTIN_KEYMAPS: &[&str] = &["default", "vim"];

/// Where the keyboard focus is; each has its own bindings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Context {
    /// Anywhere, unless the focused context binds the key itself.
    Global,
    /// A pane's table.
    Table,
    /// Describe / YAML / logs views.
    Detail,
    /// Confirmation and input dialogs.
    Dialog,
    /// Multi-step wizards (init/join, scaling plans).
    Wizard,
    /// The Ceph pane: its own keys first, then the table's (and through them the
    /// global ones).
    Ceph,
    /// The Pods pane's own keys, then the table's (like [ceph]).
    Pods,
    /// The Storage pane's own keys, then the table's.
    Storage,
    /// The Overview's own keys, then the global ones.
    Overview,
}

impl Context {
    /// Every context, in file order.
    pub const ALL: [Context; 9] = [
        Context::Global,
        Context::Table,
        Context::Detail,
        Context::Dialog,
        Context::Wizard,
        Context::Ceph,
        Context::Pods,
        Context::Storage,
        Context::Overview,
    ];

    /// The section name in keymap files.
    pub fn name(self) -> &'static str {
        match self {
            Context::Global => "global",
            Context::Table => "table",
            Context::Detail => "detail",
            Context::Dialog => "dialog",
            Context::Wizard => "wizard",
            Context::Ceph => "ceph",
            Context::Pods => "pods",
            Context::Storage => "storage",
            Context::Overview => "overview",
        }
    }

    /// The context with this section name.
    pub fn from_name(name: &str) -> Option<Context> {
        Context::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The actions that can be bound in this context, in the order the help overlay
    /// lists them.
    pub fn actions(self) -> &'static [Action] {
        use Action::*;
        match self {
            Context::Global => &[
                Quit,
                Help,
                CommandLine,
                Filter,
                NextPane,
                PrevPane,
                Pane1,
                Pane2,
                Pane3,
                Pane4,
                Pane5,
                Pane6,
                Pane7,
                Pane8,
                Pane9,
                Namespace,
                Refresh,
            ],
            Context::Table => &[
                Up,
                Down,
                PageUp,
                PageDown,
                Top,
                Bottom,
                SortNextColumn,
                SortReverse,
                Describe,
                Yaml,
                Logs,
                Cordon,
                Uncordon,
                Delete,
                Scale,
            ],
            Context::Detail => &[
                Up,
                Down,
                PageUp,
                PageDown,
                Top,
                Bottom,
                Search,
                SearchNext,
                SearchPrev,
                ToggleFollow,
                TogglePrevious,
                NextContainer,
                Close,
            ],
            Context::Dialog => &[Confirm, Cancel, NextField, PrevField],
            Context::Wizard => &[Next, Back, Cancel],
            Context::Ceph => &[Refresh, Unlock],
            Context::Pods | Context::Storage | Context::Overview => &[Unlock],
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    /// Whether a key this context does not bind may mean `action` from `[global]`.
    ///
    /// Tables and detail views inherit all of `[global]`. Dialogs and wizards are
    /// half-answered questions, often with a text field: a global key there must not
    /// quit, switch panes or open the command line behind the operator's back, so
    /// only actions that neither navigate nor change anything come through.
    fn inherits(self, action: Action) -> bool {
        match self {
            Context::Global => false,
            Context::Table | Context::Detail => true,
            Context::Dialog | Context::Wizard => matches!(action, Action::Help | Action::Refresh),
            // The pane falls back to [table], which inherits [global] itself.
            Context::Ceph | Context::Pods | Context::Storage | Context::Overview => false,
        }
    }
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Something the operator can ask for. Names in files (and serde) are kebab-case:
/// `sort-next-column`, `pane-3`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    // global
    /// Leave the console.
    Quit,
    /// Show the keys of the current context.
    Help,
    /// Open the `:` command line.
    CommandLine,
    /// Open the `/` filter.
    Filter,
    /// Next pane.
    NextPane,
    /// Previous pane.
    PrevPane,
    /// Pane 1: overview.
    Pane1,
    /// Pane 2: nodes.
    Pane2,
    /// Pane 3: pods.
    Pane3,
    /// Pane 4: storage.
    Pane4,
    /// Pane 5: workloads.
    Pane5,
    /// Pane 6: events.
    Pane6,
    /// Pane 7: network.
    Pane7,
    /// Pane 8: Ceph.
    Pane8,
    /// Pane 9 (reserved for later panes).
    Pane9,
    /// Prompt for a namespace to switch to.
    Namespace,
    /// Re-list now instead of waiting for watch events.
    Refresh,
    // table and detail
    /// Move up one row / line.
    Up,
    /// Move down one row / line.
    Down,
    /// Up one page.
    PageUp,
    /// Down one page.
    PageDown,
    /// To the first row / line.
    Top,
    /// To the last row / line.
    Bottom,
    // table
    /// Sort by the next column.
    SortNextColumn,
    /// Reverse the sort order.
    SortReverse,
    /// Describe the selected object.
    Describe,
    /// Show the selected object's YAML.
    Yaml,
    /// Show the selected pod's logs.
    Logs,
    /// Cordon the selected node.
    Cordon,
    /// Uncordon the selected node.
    Uncordon,
    /// Delete the selected object (asks for the typed name).
    Delete,
    /// Scale the selected StatefulSet / Deployment.
    Scale,
    // detail
    /// Search in the view.
    Search,
    /// Next search match.
    SearchNext,
    /// Previous search match.
    SearchPrev,
    /// Follow new log lines.
    ToggleFollow,
    /// Show the previous container's logs.
    TogglePrevious,
    /// Logs of the next container.
    NextContainer,
    /// Close the view.
    Close,
    // dialog
    /// Confirm the dialog.
    Confirm,
    /// Cancel the dialog / wizard.
    Cancel,
    /// Next form field.
    NextField,
    /// Previous form field.
    PrevField,
    // wizard
    /// Next wizard step.
    Next,
    /// Previous wizard step.
    Back,
    // pods, storage and ceph panes
    /// Open the lock-removal wizard on the selected pod, claim, volume or image.
    Unlock,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 46] = {
        use Action::*;
        [
            Quit,
            Help,
            CommandLine,
            Filter,
            NextPane,
            PrevPane,
            Pane1,
            Pane2,
            Pane3,
            Pane4,
            Pane5,
            Pane6,
            Pane7,
            Pane8,
            Pane9,
            Namespace,
            Refresh,
            Up,
            Down,
            PageUp,
            PageDown,
            Top,
            Bottom,
            SortNextColumn,
            SortReverse,
            Describe,
            Yaml,
            Logs,
            Cordon,
            Uncordon,
            Delete,
            Scale,
            Search,
            SearchNext,
            SearchPrev,
            ToggleFollow,
            TogglePrevious,
            NextContainer,
            Close,
            Confirm,
            Cancel,
            NextField,
            PrevField,
            Next,
            Back,
            Unlock,
        ]
    };

    /// The kebab-case name used in keymap files.
    pub fn name(self) -> &'static str {
        use Action::*;
        match self {
            Quit => "quit",
            Help => "help",
            CommandLine => "command-line",
            Filter => "filter",
            NextPane => "next-pane",
            PrevPane => "prev-pane",
            Pane1 => "pane-1",
            Pane2 => "pane-2",
            Pane3 => "pane-3",
            Pane4 => "pane-4",
            Pane5 => "pane-5",
            Pane6 => "pane-6",
            Pane7 => "pane-7",
            Pane8 => "pane-8",
            Pane9 => "pane-9",
            Namespace => "namespace",
            Refresh => "refresh",
            Up => "up",
            Down => "down",
            PageUp => "page-up",
            PageDown => "page-down",
            Top => "top",
            Bottom => "bottom",
            SortNextColumn => "sort-next-column",
            SortReverse => "sort-reverse",
            Describe => "describe",
            Yaml => "yaml",
            Logs => "logs",
            Cordon => "cordon",
            Uncordon => "uncordon",
            Delete => "delete",
            Scale => "scale",
            Search => "search",
            SearchNext => "search-next",
            SearchPrev => "search-prev",
            ToggleFollow => "toggle-follow",
            TogglePrevious => "toggle-previous",
            NextContainer => "next-container",
            Close => "close",
            Confirm => "confirm",
            Cancel => "cancel",
            NextField => "next-field",
            PrevField => "prev-field",
            Next => "next",
            Back => "back",
            Unlock => "unlock",
        }
    }

    /// The action with this kebab-case name.
    pub fn from_name(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.name() == name)
    }

    /// A few words for the help overlay.
    pub fn description(self) -> &'static str {
        use Action::*;
        match self {
            Quit => "quit",
            Help => "help",
            CommandLine => "command line",
            Filter => "filter rows",
            NextPane => "next pane",
            PrevPane => "previous pane",
            Pane1 => "overview",
            Pane2 => "nodes",
            Pane3 => "pods",
            Pane4 => "storage",
            Pane5 => "workloads",
            Pane6 => "events",
            Pane7 => "network",
            Pane8 => "ceph",
            Pane9 => "pane",
            Namespace => "switch namespace",
            Refresh => "refresh",
            Up => "up",
            Down => "down",
            PageUp => "page up",
            PageDown => "page down",
            Top => "top",
            Bottom => "bottom",
            SortNextColumn => "sort by next column",
            SortReverse => "reverse sort",
            Describe => "describe",
            Yaml => "YAML",
            Logs => "logs",
            Cordon => "cordon node",
            Uncordon => "uncordon node",
            Delete => "delete",
            Scale => "scale",
            Search => "search",
            SearchNext => "next match",
            SearchPrev => "previous match",
            ToggleFollow => "follow on/off",
            TogglePrevious => "previous container logs on/off",
            NextContainer => "next container",
            Close => "close",
            Confirm => "confirm",
            Cancel => "cancel",
            NextField => "next field",
            PrevField => "previous field",
            Next => "next step",
            Back => "previous step",
            Unlock => "remove a stale RBD lock (wizard)",
        }
    }

    /// The pane number (1-9) of a `pane-N` action.
    pub fn pane(self) -> Option<u8> {
        use Action::*;
        Some(match self {
            Pane1 => 1,
            Pane2 => 2,
            Pane3 => 3,
            Pane4 => 4,
            Pane5 => 5,
            Pane6 => 6,
            Pane7 => 7,
            Pane8 => 8,
            Pane9 => 9,
            _ => return None,
        })
    }

    /// Whether the action changes the cluster (and so is refused under
    /// `--read-only` and shown in the destructive style).
    pub fn mutates(self) -> bool {
        matches!(
            self,
            Action::Cordon | Action::Uncordon | Action::Delete | Action::Scale | Action::Unlock
        )
    }

    /// The contexts this action belongs to.
    pub fn contexts(self) -> impl Iterator<Item = Context> {
        Context::ALL
            .into_iter()
            .filter(move |c| c.actions().contains(&self))
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Action {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Action::from_name(s).ok_or_else(|| format!("unknown action \"{s}\""))
    }
}

impl serde::Serialize for Action {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Action {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Action::from_name(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown action \"{name}\"")))
    }
}

/// One key with its modifiers, normalised so that what a file says and what a
/// terminal sends compare equal:
///
/// - a character carries no SHIFT: `Q` and `?` are the characters themselves, whether
///   or not the terminal also reports SHIFT (many do for `?`, kitty-style protocols
///   report `shift` + `q`);
/// - shift-tab is always `BackTab` without SHIFT, whether the terminal sends
///   `BackTab`, `BackTab`+SHIFT or `Tab`+SHIFT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    code: KeyCode,
    modifiers: KeyModifiers,
}

impl Key {
    fn normalised(code: KeyCode, mut modifiers: KeyModifiers) -> Key {
        let code = match code {
            KeyCode::BackTab => {
                modifiers.remove(KeyModifiers::SHIFT);
                KeyCode::BackTab
            }
            KeyCode::Tab if modifiers.contains(KeyModifiers::SHIFT) => {
                modifiers.remove(KeyModifiers::SHIFT);
                KeyCode::BackTab
            }
            KeyCode::Char(c) => {
                let shifted = modifiers.contains(KeyModifiers::SHIFT);
                modifiers.remove(KeyModifiers::SHIFT);
                if shifted && c.is_ascii_lowercase() {
                    KeyCode::Char(c.to_ascii_uppercase())
                } else {
                    KeyCode::Char(c)
                }
            }
            other => other,
        };
        Key { code, modifiers }
    }

    /// The key of a terminal event; `None` for key releases (reported by terminals
    /// with the kitty protocol), which must not trigger an action a second time.
    pub fn from_event(event: &KeyEvent) -> Option<Key> {
        if event.kind == KeyEventKind::Release {
            return None;
        }
        Some(Key::normalised(event.code, event.modifiers))
    }

    /// Parses the key syntax of keymap files: one character (`q`, `Q`, `?`, `1`),
    /// a name (`tab`, `backtab`, `enter`, `esc`, `up`, `down`, `left`, `right`,
    /// `pageup`, `pagedown`, `home`, `end`, `insert`, `delete`, `backspace`,
    /// `space`, `f1`..`f12`), each optionally after `ctrl-`, `alt-` and `shift-`
    /// prefixes. Names and prefixes ignore case; single characters do not.
    pub fn parse(text: &str) -> Result<Key, String> {
        let bad = |why: &str| format!("bad key \"{text}\": {why}");
        let mut modifiers = KeyModifiers::NONE;
        let mut rest = text;
        loop {
            if rest.chars().count() <= 1 {
                break;
            }
            let Some((prefix, tail)) = rest.split_once('-') else {
                break;
            };
            let m = match prefix.to_ascii_lowercase().as_str() {
                "ctrl" => KeyModifiers::CONTROL,
                "alt" => KeyModifiers::ALT,
                "shift" => KeyModifiers::SHIFT,
                _ => break,
            };
            if tail.is_empty() {
                return Err(bad(&format!("nothing after \"{prefix}-\"")));
            }
            modifiers |= m;
            rest = tail;
        }
        let mut chars = rest.chars();
        let code = match (chars.next(), chars.next()) {
            (None, _) => return Err(bad("empty")),
            (Some(c), None) => {
                if c.is_control() {
                    return Err(bad(
                        "a control character; use a key name such as tab or enter",
                    ));
                }
                if modifiers.contains(KeyModifiers::SHIFT) && !c.is_alphabetic() {
                    return Err(bad(
                        "shift with a symbol or digit depends on the keyboard layout; write the shifted character itself",
                    ));
                }
                KeyCode::Char(c)
            }
            _ => match named_key(&rest.to_ascii_lowercase()) {
                Some(Ok(code)) => code,
                Some(Err(why)) => return Err(bad(why)),
                None => {
                    return Err(bad(
                        "not a key; use one character, a name such as enter, esc, tab, space, up, pageup, f5, or a ctrl-, alt-, shift- prefix",
                    ));
                }
            },
        };
        Ok(Key::normalised(code, modifiers))
    }
}

/// A named key; `Some(Err(why))` for a name that is almost right (f13).
fn named_key(name: &str) -> Option<Result<KeyCode, &'static str>> {
    let code = match name {
        "tab" => KeyCode::Tab,
        "backtab" => KeyCode::BackTab,
        "enter" | "return" => KeyCode::Enter,
        "esc" | "escape" => KeyCode::Esc,
        "up" => KeyCode::Up,
        "down" => KeyCode::Down,
        "left" => KeyCode::Left,
        "right" => KeyCode::Right,
        "pageup" | "page-up" | "pgup" => KeyCode::PageUp,
        "pagedown" | "page-down" | "pgdn" => KeyCode::PageDown,
        "home" => KeyCode::Home,
        "end" => KeyCode::End,
        "insert" | "ins" => KeyCode::Insert,
        "delete" | "del" => KeyCode::Delete,
        "backspace" => KeyCode::Backspace,
        "space" => KeyCode::Char(' '),
        _ => {
            let n = name.strip_prefix('f')?.parse::<u8>().ok()?;
            if (1..=12).contains(&n) {
                KeyCode::F(n)
            } else {
                return Some(Err("function keys are f1 to f12"));
            }
        }
    };
    Some(Ok(code))
}

impl FromStr for Key {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Key::parse(s)
    }
}

impl fmt::Display for Key {
    /// The form the help overlay shows and [`Key::parse`] reads back: `ctrl-k`,
    /// `shift-tab`, `G`, `space`, `f5`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (m, name) in [
            (KeyModifiers::CONTROL, "ctrl-"),
            (KeyModifiers::ALT, "alt-"),
            (KeyModifiers::SHIFT, "shift-"),
        ] {
            if self.modifiers.contains(m) {
                f.write_str(name)?;
            }
        }
        match self.code {
            KeyCode::Char(' ') => f.write_str("space"),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::BackTab => f.write_str("shift-tab"),
            KeyCode::Tab => f.write_str("tab"),
            KeyCode::Enter => f.write_str("enter"),
            KeyCode::Esc => f.write_str("esc"),
            KeyCode::Up => f.write_str("up"),
            KeyCode::Down => f.write_str("down"),
            KeyCode::Left => f.write_str("left"),
            KeyCode::Right => f.write_str("right"),
            KeyCode::PageUp => f.write_str("pageup"),
            KeyCode::PageDown => f.write_str("pagedown"),
            KeyCode::Home => f.write_str("home"),
            KeyCode::End => f.write_str("end"),
            KeyCode::Insert => f.write_str("insert"),
            KeyCode::Delete => f.write_str("delete"),
            KeyCode::Backspace => f.write_str("backspace"),
            KeyCode::F(n) => write!(f, "f{n}"),
            other => write!(f, "{}", other.to_string().to_lowercase()),
        }
    }
}

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

/// A resolved keymap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keymap {
    name: String,
    contexts: [Bindings; Context::ALL.len()],
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
    pub fn action_for_key(&self, context: Context, key: &Key) -> Option<Action> {
        if let Some(a) = self.contexts[context.index()].action(key) {
            return Some(a);
        }
        self.contexts[Context::Global.index()]
            .action(key)
            .filter(|a| context.inherits(*a))
    }

    /// The keys that trigger `action` in `context`, in display form (`ctrl-k`), for
    /// hints and the help overlay. For a `[global]` action asked in another context,
    /// only the keys that still reach it there (not shadowed, inherited).
    pub fn keys_for(&self, context: Context, action: Action) -> Vec<String> {
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
    pub fn bindings(&self, context: Context) -> Vec<(Action, Vec<String>)> {
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

fn parse_onto(src: &str, file: &str, base: &Keymap) -> (Option<Keymap>, Vec<ConfigError>) {
    let doc = match DeTable::parse(src) {
        Ok(doc) => doc,
        Err(e) => return (None, vec![ConfigError::syntax(file, src, &e)]),
    };
    let mut keymap = base.clone();
    keymap.name = file.to_owned();
    let mut errors = Vec::new();
    let err = |span: std::ops::Range<usize>, key: &str, kind, message: String| {
        ConfigError::at(file, src, &span, key, kind, message)
    };

    for (ckey, cvalue) in entries_in_order(doc.get_ref()) {
        let cname = ckey.get_ref().as_ref();
        let Some(context) = Context::from_name(cname) else {
            let message = if Action::from_name(cname).is_some() {
                format!(
                    "unknown context \"{cname}\" (actions go in a section: [global], [table], [detail], [dialog], [wizard], [ceph])"
                )
            } else {
                with_suggestion(
                    format!("unknown context \"{cname}\""),
                    cname,
                    Context::ALL.iter().map(|c| c.name()),
                )
            };
            errors.push(err(
                ckey.span(),
                cname,
                ConfigErrorKind::UnknownContext,
                message,
            ));
            continue;
        };
        let DeValue::Table(table) = cvalue.get_ref() else {
            errors.push(err(
                ckey.span(),
                cname,
                ConfigErrorKind::WrongType,
                format!(
                    "expected a table of action = key entries, found {}",
                    cvalue.get_ref().type_str()
                ),
            ));
            continue;
        };
        // Keys claimed by this file in this context: key -> (action, line).
        let mut claimed: Vec<(Key, Action, usize)> = Vec::new();
        for (akey, avalue) in entries_in_order(table) {
            let aname = akey.get_ref().as_ref();
            let path = format!("{cname}.{aname}");
            let action = match Action::from_name(aname) {
                Some(a) if context.actions().contains(&a) => a,
                Some(a) => {
                    let homes: Vec<&str> = a.contexts().map(Context::name).collect();
                    errors.push(err(
                        akey.span(),
                        &path,
                        ConfigErrorKind::ActionNotInContext,
                        format!(
                            "action \"{aname}\" does not belong in [{cname}] (it belongs in [{}])",
                            homes.join("], [")
                        ),
                    ));
                    continue;
                }
                None => {
                    errors.push(err(
                        akey.span(),
                        &path,
                        ConfigErrorKind::UnknownAction,
                        with_suggestion(
                            format!("unknown action \"{aname}\""),
                            aname,
                            context.actions().iter().map(|a| a.name()),
                        ),
                    ));
                    continue;
                }
            };
            let before = errors.len();
            let keys = entry_keys(akey, avalue, &path, file, src, &mut errors);
            let mut clash = false;
            for (key, span) in &keys {
                if let Some((_, other, line)) =
                    claimed.iter().find(|(k, a, _)| k == key && *a != action)
                {
                    clash = true;
                    errors.push(err(
                        span.clone(),
                        &path,
                        ConfigErrorKind::DuplicateKey,
                        format!("key \"{key}\" is already bound to {other} on line {line}"),
                    ));
                }
            }
            if clash || errors.len() > before {
                continue;
            }
            let mut unique: Vec<Key> = Vec::new();
            for (key, span) in keys {
                if !unique.contains(&key) {
                    unique.push(key);
                    claimed.push((key, action, line_col(src, span.start).0));
                }
            }
            keymap.contexts[context.index()].set(action, unique);
        }
    }
    sort_errors(&mut errors);
    (Some(keymap), errors)
}

/// The keys of one entry with the span to blame for each (the element in a list,
/// the action name for a single string). Problems go to `errors`.
fn entry_keys(
    akey: &Spanned<DeString<'_>>,
    value: &Spanned<DeValue<'_>>,
    path: &str,
    file: &str,
    src: &str,
    errors: &mut Vec<ConfigError>,
) -> Vec<(Key, std::ops::Range<usize>)> {
    let items: Vec<(std::ops::Range<usize>, &DeValue<'_>)> = match value.get_ref() {
        DeValue::String(s) if s == "none" => return Vec::new(),
        DeValue::String(_) => vec![(akey.span(), value.get_ref())],
        DeValue::Array(items) => items.iter().map(|i| (i.span(), i.get_ref())).collect(),
        other => {
            errors.push(ConfigError::at(
                file,
                src,
                &akey.span(),
                path,
                ConfigErrorKind::WrongType,
                format!(
                    "expected a key, a list of keys or \"none\", found {}",
                    other.type_str()
                ),
            ));
            return Vec::new();
        }
    };
    let mut keys = Vec::new();
    for (span, item) in items {
        let Some(text) = item.as_str() else {
            errors.push(ConfigError::at(
                file,
                src,
                &span,
                path,
                ConfigErrorKind::WrongType,
                format!("expected a key, found {}", item.type_str()),
            ));
            continue;
        };
        match Key::parse(text) {
            Ok(key) => keys.push((key, span)),
            Err(message) => errors.push(ConfigError::at(
                file,
                src,
                &span,
                path,
                ConfigErrorKind::BadKey,
                message,
            )),
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::KeyEventState;

    fn ev(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    fn ch(c: char) -> KeyEvent {
        ev(KeyCode::Char(c), KeyModifiers::NONE)
    }

    fn parse(src: &str) -> (Keymap, Vec<String>) {
        let (k, errors) = Keymap::parse(src, "k.toml");
        (
            k.unwrap_or_default(),
            errors.iter().map(ToString::to_string).collect(),
        )
    }

    #[test]
    fn every_shipped_keymap_parses_cleanly() {
        let empty = Keymap {
            name: String::new(),
            contexts: Default::default(),
        };
        let (k, e) = parse_onto(DEFAULT_TOML, "keymaps/default.toml", &empty);
        assert!(e.is_empty(), "{e:?}");
        assert!(k.is_some());
        let (k, e) = parse_onto(VIM_TOML, "keymaps/vim.toml", &Keymap::default());
        assert!(e.is_empty(), "{e:?}");
        assert!(k.is_some());
        for name in BUILTIN_KEYMAPS {
            assert_eq!(
                Keymap::builtin(name).map(|k| k.name),
                Some((*name).to_owned())
            );
        }
        assert_eq!(Keymap::builtin("emacs"), None);
    }

    #[test]
    fn the_default_keymap_binds_every_action_but_the_reserved_panes() {
        let k = Keymap::default();
        for context in Context::ALL {
            for action in context.actions() {
                let reserved = matches!(action, Action::Pane9);
                assert_eq!(
                    k.keys_for(context, *action).is_empty(),
                    reserved,
                    "{context}.{action}"
                );
            }
        }
    }

    #[test]
    fn shipped_keymaps_are_safe() {
        for name in BUILTIN_KEYMAPS {
            let k = Keymap::builtin(name).unwrap_or_default();
            // Deleting needs a deliberate chord, never one letter.
            for key in k.contexts[Context::Table.index()].keys(Action::Delete) {
                assert!(
                    key.modifiers.contains(KeyModifiers::CONTROL),
                    "{name}: {key}"
                );
            }
            // Dialogs and wizards hold text fields: no plain characters there.
            for context in [Context::Dialog, Context::Wizard] {
                for (action, keys) in &k.contexts[context.index()].0 {
                    for key in keys {
                        let plain = matches!(key.code, KeyCode::Char(_))
                            && !key
                                .modifiers
                                .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
                        assert!(!plain, "{name}: {context}.{action} = {key}");
                    }
                }
            }
        }
    }

    #[test]
    fn default_bindings_match_terminal_events() {
        let k = Keymap::default();
        let t = Context::Table;
        assert_eq!(k.action(t, ch('j')), Some(Action::Down));
        assert_eq!(
            k.action(t, ev(KeyCode::Down, KeyModifiers::NONE)),
            Some(Action::Down)
        );
        assert_eq!(k.action(t, ch('G')), Some(Action::Bottom));
        // G with SHIFT reported, as most terminals do.
        assert_eq!(
            k.action(t, ev(KeyCode::Char('G'), KeyModifiers::SHIFT)),
            Some(Action::Bottom)
        );
        assert_eq!(k.action(t, ch('d')), Some(Action::Describe));
        assert_eq!(
            k.action(t, ev(KeyCode::Char('k'), KeyModifiers::CONTROL)),
            Some(Action::Delete)
        );
        assert_eq!(
            k.action(t, ev(KeyCode::Char('d'), KeyModifiers::CONTROL)),
            None
        );
        // Global through the table.
        assert_eq!(k.action(t, ch('q')), Some(Action::Quit));
        assert_eq!(
            k.action(t, ev(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Action::Quit)
        );
        assert_eq!(k.action(t, ch('?')), Some(Action::Help));
        assert_eq!(
            k.action(t, ev(KeyCode::Char('?'), KeyModifiers::SHIFT)),
            Some(Action::Help)
        );
        assert_eq!(k.action(t, ch('3')), Some(Action::Pane3));
        assert_eq!(
            k.action(t, ev(KeyCode::BackTab, KeyModifiers::SHIFT)),
            Some(Action::PrevPane)
        );
        assert_eq!(
            k.action(t, ev(KeyCode::BackTab, KeyModifiers::NONE)),
            Some(Action::PrevPane)
        );
        assert_eq!(
            k.action(t, ev(KeyCode::Tab, KeyModifiers::SHIFT)),
            Some(Action::PrevPane)
        );
        assert_eq!(
            k.action(t, ev(KeyCode::Tab, KeyModifiers::NONE)),
            Some(Action::NextPane)
        );
        // Detail shadows global: `/` searches there, filters in tables.
        assert_eq!(k.action(t, ch('/')), Some(Action::Filter));
        assert_eq!(k.action(Context::Detail, ch('/')), Some(Action::Search));
        assert_eq!(
            k.action(Context::Detail, ev(KeyCode::Esc, KeyModifiers::NONE)),
            Some(Action::Close)
        );
        // Releases never act.
        let release = KeyEvent::new_with_kind_and_state(
            KeyCode::Char('q'),
            KeyModifiers::NONE,
            KeyEventKind::Release,
            KeyEventState::NONE,
        );
        assert_eq!(k.action(t, release), None);
    }

    #[test]
    fn dialogs_and_wizards_do_not_inherit_navigation() {
        let k = Keymap::default();
        for c in [Context::Dialog, Context::Wizard] {
            assert_eq!(k.action(c, ch('q')), None, "{c}");
            assert_eq!(k.action(c, ch('1')), None, "{c}");
            assert_eq!(k.action(c, ch(':')), None, "{c}");
            assert_eq!(k.action(c, ch('?')), Some(Action::Help), "{c}");
            // ctrl-c cancels the question instead of quitting the console.
            assert_eq!(
                k.action(c, ev(KeyCode::Char('c'), KeyModifiers::CONTROL)),
                Some(Action::Cancel),
                "{c}"
            );
            assert_eq!(
                k.action(c, ev(KeyCode::Esc, KeyModifiers::NONE)),
                Some(Action::Cancel)
            );
            assert!(k.keys_for(c, Action::Quit).is_empty());
            assert_eq!(k.keys_for(c, Action::Help), ["?"]);
        }
        assert_eq!(
            k.action(Context::Dialog, ev(KeyCode::Enter, KeyModifiers::NONE)),
            Some(Action::Confirm)
        );
        assert_eq!(
            k.action(Context::Wizard, ev(KeyCode::Enter, KeyModifiers::NONE)),
            Some(Action::Next)
        );
    }

    #[test]
    fn key_syntax() {
        let cases: &[(&str, KeyCode, KeyModifiers, &str)] = &[
            ("q", KeyCode::Char('q'), KeyModifiers::NONE, "q"),
            ("Q", KeyCode::Char('Q'), KeyModifiers::NONE, "Q"),
            ("?", KeyCode::Char('?'), KeyModifiers::NONE, "?"),
            ("-", KeyCode::Char('-'), KeyModifiers::NONE, "-"),
            ("5", KeyCode::Char('5'), KeyModifiers::NONE, "5"),
            (
                "ctrl-c",
                KeyCode::Char('c'),
                KeyModifiers::CONTROL,
                "ctrl-c",
            ),
            (
                "Ctrl-K",
                KeyCode::Char('K'),
                KeyModifiers::CONTROL,
                "ctrl-K",
            ),
            (
                "ctrl--",
                KeyCode::Char('-'),
                KeyModifiers::CONTROL,
                "ctrl--",
            ),
            ("alt-x", KeyCode::Char('x'), KeyModifiers::ALT, "alt-x"),
            (
                "ctrl-alt-delete",
                KeyCode::Delete,
                KeyModifiers::CONTROL.union(KeyModifiers::ALT),
                "ctrl-alt-delete",
            ),
            (
                "shift-tab",
                KeyCode::BackTab,
                KeyModifiers::NONE,
                "shift-tab",
            ),
            ("backtab", KeyCode::BackTab, KeyModifiers::NONE, "shift-tab"),
            ("shift-a", KeyCode::Char('A'), KeyModifiers::NONE, "A"),
            ("shift-up", KeyCode::Up, KeyModifiers::SHIFT, "shift-up"),
            ("F5", KeyCode::F(5), KeyModifiers::NONE, "f5"),
            ("f12", KeyCode::F(12), KeyModifiers::NONE, "f12"),
            ("Enter", KeyCode::Enter, KeyModifiers::NONE, "enter"),
            ("esc", KeyCode::Esc, KeyModifiers::NONE, "esc"),
            ("space", KeyCode::Char(' '), KeyModifiers::NONE, "space"),
            (" ", KeyCode::Char(' '), KeyModifiers::NONE, "space"),
            ("pageup", KeyCode::PageUp, KeyModifiers::NONE, "pageup"),
            (
                "page-down",
                KeyCode::PageDown,
                KeyModifiers::NONE,
                "pagedown",
            ),
            (
                "ctrl-pageup",
                KeyCode::PageUp,
                KeyModifiers::CONTROL,
                "ctrl-pageup",
            ),
            (
                "backspace",
                KeyCode::Backspace,
                KeyModifiers::NONE,
                "backspace",
            ),
            ("home", KeyCode::Home, KeyModifiers::NONE, "home"),
        ];
        for (text, code, mods, shown) in cases {
            let key = Key::parse(text);
            assert_eq!(
                key,
                Ok(Key {
                    code: *code,
                    modifiers: *mods
                }),
                "{text}"
            );
            let key = key.unwrap_or(Key {
                code: KeyCode::Null,
                modifiers: KeyModifiers::NONE,
            });
            assert_eq!(key.to_string(), *shown, "{text}");
            // The display form reads back as the same key.
            assert_eq!(Key::parse(shown), Ok(key), "{shown}");
        }
        let bad: &[(&str, &str)] = &[
            ("", "bad key \"\": empty"),
            ("ctrl-", "bad key \"ctrl-\": nothing after \"ctrl-\""),
            (
                "ctrl+x",
                "bad key \"ctrl+x\": not a key; use one character, a name such as enter, esc, tab, space, up, pageup, f5, or a ctrl-, alt-, shift- prefix",
            ),
            ("f13", "bad key \"f13\": function keys are f1 to f12"),
            (
                "shift-1",
                "bad key \"shift-1\": shift with a symbol or digit depends on the keyboard layout; write the shifted character itself",
            ),
            (
                "\t",
                "bad key \"\t\": a control character; use a key name such as tab or enter",
            ),
        ];
        for (text, message) in bad {
            assert_eq!(Key::parse(text), Err((*message).to_owned()), "{text:?}");
        }
    }

    #[test]
    fn events_normalise_like_files() {
        let same = |text: &str, code: KeyCode, mods: KeyModifiers| {
            assert_eq!(
                Key::from_event(&ev(code, mods)),
                Key::parse(text).ok(),
                "{text} vs {code:?}+{mods:?}"
            );
        };
        same("ctrl-c", KeyCode::Char('c'), KeyModifiers::CONTROL);
        same("?", KeyCode::Char('?'), KeyModifiers::SHIFT);
        same("?", KeyCode::Char('?'), KeyModifiers::NONE);
        same("Q", KeyCode::Char('Q'), KeyModifiers::SHIFT);
        same("Q", KeyCode::Char('q'), KeyModifiers::SHIFT);
        same("shift-tab", KeyCode::BackTab, KeyModifiers::SHIFT);
        same("shift-tab", KeyCode::Tab, KeyModifiers::SHIFT);
        same("F5", KeyCode::F(5), KeyModifiers::NONE);
        same("alt-x", KeyCode::Char('x'), KeyModifiers::ALT);
        same("shift-up", KeyCode::Up, KeyModifiers::SHIFT);
    }

    #[test]
    fn user_files_override_and_unbind_individual_defaults() {
        let (k, errors) = parse(
            "[table]\ndelete = \"none\"\nscale = []\ndescribe = \"y\"\n\n[global]\nquit = [\"ctrl-q\"]\n",
        );
        assert_eq!(errors, Vec::<String>::new());
        let t = Context::Table;
        assert_eq!(
            k.action(t, ev(KeyCode::Char('k'), KeyModifiers::CONTROL)),
            None
        );
        assert!(k.keys_for(t, Action::Delete).is_empty());
        assert_eq!(k.action(t, ch('s')), None);
        // describe took `y` from yaml, and lost its own default keys.
        assert_eq!(k.action(t, ch('y')), Some(Action::Describe));
        assert_eq!(k.keys_for(t, Action::Describe), ["y"]);
        assert!(k.keys_for(t, Action::Yaml).is_empty());
        assert_eq!(k.action(t, ch('d')), None);
        // Everything not mentioned is still the default.
        assert_eq!(k.action(t, ch('l')), Some(Action::Logs));
        assert_eq!(k.action(t, ch('q')), None);
        assert_eq!(
            k.action(t, ev(KeyCode::Char('q'), KeyModifiers::CONTROL)),
            Some(Action::Quit)
        );
        assert_eq!(k.keys_for(Context::Global, Action::Quit), ["ctrl-q"]);
        // The help overlay lists only bound actions, in context order.
        let b = k.bindings(t);
        assert_eq!(b.first().map(|(a, _)| *a), Some(Action::Up));
        assert!(
            b.iter()
                .all(|(a, _)| !matches!(a, Action::Delete | Action::Scale | Action::Yaml))
        );
        assert!(b.contains(&(Action::Describe, vec!["y".to_owned()])));
    }

    #[test]
    fn keys_for_shows_only_keys_that_reach_the_action() {
        let (k, _) = parse("[table]\nlogs = \"q\"\n");
        // q is shadowed in tables, ctrl-c still quits there.
        assert_eq!(k.keys_for(Context::Table, Action::Quit), ["ctrl-c"]);
        assert_eq!(k.keys_for(Context::Global, Action::Quit), ["q", "ctrl-c"]);
        assert_eq!(
            Keymap::default().keys_for(Context::Table, Action::Delete),
            ["ctrl-k"]
        );
    }

    #[test]
    fn each_error_kind_has_its_message_and_place() {
        let src = r#"[table]
describe = "x"
yaml = ["y", "x"]
delte = "D"
confirm = "enter"
logs = ["l", "ctrl+l"]
scale = 5

[tabel]
up = "k"

[dialog]
cancel = ["esc", 7]
"#;
        let (k, errors) = parse(src);
        assert_eq!(
            errors,
            [
                "k.toml:3:14: table.yaml: key \"x\" is already bound to describe on line 2",
                "k.toml:4:1: table.delte: unknown action \"delte\" (did you mean \"delete\"?)",
                "k.toml:5:1: table.confirm: action \"confirm\" does not belong in [table] (it belongs in [dialog])",
                "k.toml:6:14: table.logs: bad key \"ctrl+l\": not a key; use one character, a name such as enter, esc, tab, space, up, pageup, f5, or a ctrl-, alt-, shift- prefix",
                "k.toml:7:1: table.scale: expected a key, a list of keys or \"none\", found integer",
                "k.toml:9:2: tabel: unknown context \"tabel\" (did you mean \"table\"?)",
                "k.toml:13:18: dialog.cancel: expected a key, found integer",
            ]
        );
        let kinds: Vec<_> = Keymap::parse(src, "k.toml")
            .1
            .iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(
            kinds,
            [
                ConfigErrorKind::DuplicateKey,
                ConfigErrorKind::UnknownAction,
                ConfigErrorKind::ActionNotInContext,
                ConfigErrorKind::BadKey,
                ConfigErrorKind::WrongType,
                ConfigErrorKind::UnknownContext,
                ConfigErrorKind::WrongType,
            ]
        );
        // Good entries apply; bad ones leave the defaults.
        let t = Context::Table;
        assert_eq!(k.action(t, ch('x')), Some(Action::Describe));
        assert_eq!(k.action(t, ch('y')), Some(Action::Yaml));
        assert_eq!(k.action(t, ch('l')), Some(Action::Logs));
        assert_eq!(k.action(t, ch('s')), Some(Action::Scale));
        assert_eq!(k.action(Context::Dialog, ch('q')), None);
        assert_eq!(
            k.action(
                Context::Dialog,
                ev(KeyCode::Char('c'), KeyModifiers::CONTROL)
            ),
            Some(Action::Cancel)
        );
    }

    #[test]
    fn a_top_level_action_gets_a_hint_and_syntax_errors_reject_the_file() {
        let (_, errors) = parse("quit = \"q\"\n");
        assert_eq!(
            errors,
            [
                "k.toml:1:1: quit: unknown context \"quit\" (actions go in a section: [global], [table], [detail], [dialog], [wizard], [ceph])"
            ]
        );
        let (k, errors) = Keymap::parse("[table]\nup = \"k\"\nup = \"j\"\n", "k.toml");
        assert!(k.is_none());
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].kind, ConfigErrorKind::Syntax);
        assert_eq!(errors[0].to_string(), "k.toml:3:1: duplicate key up");
    }

    #[test]
    fn vim_keymap_adds_vim_keys_over_the_default() {
        let k = Keymap::builtin("vim").unwrap_or_default();
        let ctrl = |c| ev(KeyCode::Char(c), KeyModifiers::CONTROL);
        assert_eq!(k.action(Context::Table, ctrl('d')), Some(Action::PageDown));
        assert_eq!(k.action(Context::Table, ctrl('u')), Some(Action::PageUp));
        assert_eq!(k.action(Context::Table, ctrl('k')), Some(Action::Delete));
        assert_eq!(k.action(Context::Table, ch('L')), Some(Action::NextPane));
        assert_eq!(k.action(Context::Detail, ch('q')), Some(Action::Close));
        assert_eq!(k.action(Context::Detail, ch('N')), Some(Action::SearchPrev));
    }

    #[test]
    fn resolve_order_and_fallbacks() {
        let dir = std::env::temp_dir().join(format!("kcops-keymap-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("test setup");

        let (k, e) = Keymap::resolve(None, Some(&dir));
        assert_eq!((k, e.len()), (Keymap::default(), 0));
        let (k, e) = Keymap::resolve(Some("vim"), None);
        assert_eq!((k.name(), e.len()), ("vim", 0));

        let cfg = dir.join("keymap.toml");
        std::fs::write(&cfg, "[global]\nrefresh = \"f5\"\n").expect("test setup");
        let (k, e) = Keymap::resolve(None, Some(&dir));
        assert!(e.is_empty());
        assert_eq!(
            k.action(Context::Table, ev(KeyCode::F(5), KeyModifiers::NONE)),
            Some(Action::Refresh)
        );

        let (k, e) = Keymap::resolve(Some("emacs"), Some(&dir));
        assert_eq!(k.keys_for(Context::Global, Action::Refresh), ["f5"]);
        assert_eq!(
            e.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["emacs: --keymap names no built-in (default, vim) and no such file"]
        );

        std::fs::write(&cfg, "[global\n").expect("test setup");
        let (k, e) = Keymap::resolve(None, Some(&dir));
        assert_eq!(k, Keymap::default());
        assert_eq!(e.len(), 1);
        assert!(
            e[0].to_string()
                .starts_with(&format!("{}:1:", cfg.display())),
            "{}",
            e[0]
        );
        assert_eq!(
            Keymap::load(&cfg).map_err(|e| e.kind),
            Err(ConfigErrorKind::Syntax)
        );

        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn action_names_round_trip() {
        for a in Action::ALL {
            assert_eq!(Action::from_name(a.name()), Some(a));
            assert!(a.contexts().next().is_some(), "{a} belongs nowhere");
        }
        assert_eq!(Action::Pane3.pane(), Some(3));
        assert_eq!("sort-next-column".parse(), Ok(Action::SortNextColumn));
        let json = serde_json::to_string(&Action::CommandLine).unwrap_or_default();
        assert_eq!(json, "\"command-line\"");
        let back: Result<Action, _> = serde_json::from_str("\"pane-9\"");
        assert_eq!(back.ok(), Some(Action::Pane9));
    }
}
