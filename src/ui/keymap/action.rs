//! The actions an operator can ask for and the contexts (where the focus is) that
//! bind them. Each action's file name, help text and membership are written once,
//! here; lists, parsing and display are derived from them.

use strum::{EnumCount, EnumIter, EnumMessage, EnumString, IntoEnumIterator, IntoStaticStr};

/// Where the keyboard focus is; each has its own bindings. The section name in
/// keymap files is the kebab-case variant name (`[global]`, `[table]`, ...).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    EnumIter,
    EnumCount,
    EnumString,
    IntoStaticStr,
    strum::Display,
)]
#[strum(serialize_all = "kebab-case")]
pub enum Context {
    /// Anywhere, unless the focused context binds the key itself.
    Global,
    /// A pane's table.
    Table,
    /// Describe / YAML / logs views.
    Detail,
    /// Confirmation and input dialogs, and the one-line prompts (`/`, `:`, search).
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
    /// The Members pane's own keys, then the table's.
    Members,
    /// The Network pane's own keys, then the table's.
    Network,
    /// The Workloads pane's own keys, then the table's.
    Workloads,
    /// The resource browser's own keys (`:svc`, `:secrets`, `:<kind>`), then the table's.
    Resources,
}

impl Context {
    /// Every context, in file order.
    pub fn all() -> impl Iterator<Item = Context> {
        Context::iter()
    }

    /// The section name in keymap files.
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// The context with this section name.
    pub(crate) fn from_name(name: &str) -> Option<Context> {
        name.parse().ok()
    }

    /// The actions that can be bound in this context, in the order the help overlay
    /// lists them. This is the one table of which action belongs where.
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
                DrillDown,
                GoBack,
                Yaml,
                Edit,
                Logs,
                Cordon,
                Uncordon,
                Delete,
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
                ToggleWrap,
                ScrollLeft,
                ScrollRight,
                Close,
            ],
            Context::Dialog => &[Confirm, Cancel, NextField, PrevField],
            Context::Wizard => &[Next, Back, DryRun, Cancel, Up, Down],
            Context::Ceph => &[Refresh, Unlock],
            Context::Pods => &[Shell, PortForward, Unlock],
            Context::Storage => &[Unlock],
            Context::Overview => &[
                Up, Down, PageUp, PageDown, Top, Bottom, TextUp, TextDown, GoTo, Unlock, Delete,
            ],
            Context::Workloads => &[Scale],
            Context::Resources => &[Reveal],
            Context::Members => &[Refresh],
            Context::Network => &[ProbeHost, RestartCni, ReleaseIps],
        }
    }

    pub(super) fn index(self) -> usize {
        self as usize
    }

    /// Whether a key this context does not bind may mean `action` from `[global]`.
    ///
    /// Tables inherit all of `[global]`. A detail view inherits what it can act on
    /// (help, and quit, which closes it); it has no pane of its own to switch or
    /// filter. Dialogs and wizards are half-answered questions, often with a text
    /// field: a global key there must not quit, switch panes or open the command
    /// line behind the operator's back, so only help comes through.
    pub(super) fn inherits(self, action: Action) -> bool {
        match self {
            Context::Global => false,
            Context::Table => true,
            Context::Detail => matches!(action, Action::Help | Action::Quit),
            Context::Dialog | Context::Wizard => action == Action::Help,
            // The pane falls back to [table], which inherits [global] itself.
            Context::Ceph
            | Context::Pods
            | Context::Storage
            | Context::Overview
            | Context::Members
            | Context::Network
            | Context::Workloads
            | Context::Resources => false,
        }
    }
}

/// Something the operator can ask for. Names in files (and serde) are kebab-case:
/// `sort-next-column`, `pane-3`; the message is the help overlay's description.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    EnumIter,
    EnumCount,
    EnumString,
    EnumMessage,
    IntoStaticStr,
    strum::Display,
)]
#[strum(serialize_all = "kebab-case")]
pub enum Action {
    // global
    #[strum(message = "quit")]
    Quit,
    #[strum(message = "help")]
    Help,
    #[strum(message = "command line")]
    CommandLine,
    #[strum(message = "filter rows")]
    Filter,
    #[strum(message = "next pane")]
    NextPane,
    #[strum(message = "previous pane")]
    PrevPane,
    #[strum(serialize = "pane-1", message = "overview")]
    Pane1,
    #[strum(serialize = "pane-2", message = "nodes")]
    Pane2,
    #[strum(serialize = "pane-3", message = "pods")]
    Pane3,
    #[strum(serialize = "pane-4", message = "storage")]
    Pane4,
    #[strum(serialize = "pane-5", message = "workloads")]
    Pane5,
    #[strum(serialize = "pane-6", message = "events")]
    Pane6,
    #[strum(serialize = "pane-7", message = "network")]
    Pane7,
    #[strum(serialize = "pane-8", message = "ceph")]
    Pane8,
    #[strum(serialize = "pane-9", message = "members")]
    Pane9,
    #[strum(message = "switch namespace")]
    Namespace,
    /// Re-list now instead of waiting for watch events.
    #[strum(message = "refresh")]
    Refresh,
    // table and detail
    #[strum(message = "up")]
    Up,
    #[strum(message = "down")]
    Down,
    #[strum(message = "page up")]
    PageUp,
    #[strum(message = "page down")]
    PageDown,
    #[strum(message = "top")]
    Top,
    #[strum(message = "bottom")]
    Bottom,
    // table
    #[strum(message = "sort by next column")]
    SortNextColumn,
    #[strum(message = "reverse sort")]
    SortReverse,
    #[strum(message = "describe")]
    Describe,
    /// A node's, workload's or claim's pods (a pod is described); Esc comes back.
    #[strum(message = "drill down (to its pods)")]
    DrillDown,
    /// Back to the table a drill-down came from.
    #[strum(message = "back from a drill-down")]
    GoBack,
    #[strum(message = "YAML")]
    Yaml,
    /// Opens the object's YAML in $EDITOR; the diff is shown before it is applied.
    #[strum(message = "edit in $EDITOR (diff, then apply)")]
    Edit,

    #[strum(message = "logs")]
    Logs,
    #[strum(message = "cordon node")]
    Cordon,
    #[strum(message = "uncordon node")]
    Uncordon,
    /// Asks for the typed name first.
    #[strum(message = "delete")]
    Delete,
    #[strum(message = "scale")]
    Scale,
    // detail
    #[strum(message = "search")]
    Search,
    #[strum(message = "next match")]
    SearchNext,
    #[strum(message = "previous match")]
    SearchPrev,
    #[strum(message = "follow on/off")]
    ToggleFollow,
    #[strum(message = "previous container logs on/off")]
    TogglePrevious,
    #[strum(message = "next container")]
    NextContainer,
    /// Long lines wrap, or are cut and scroll sideways.
    #[strum(message = "wrap long lines on/off")]
    ToggleWrap,
    #[strum(message = "scroll left (lines not wrapped)")]
    ScrollLeft,
    #[strum(message = "scroll right (lines not wrapped)")]
    ScrollRight,
    #[strum(message = "close")]
    Close,
    // dialog
    #[strum(message = "confirm")]
    Confirm,
    /// Cancels a dialog or a wizard, or leaves a prompt.
    #[strum(message = "cancel")]
    Cancel,
    /// Next field, or the next choice of a field that offers some (namespaces).
    #[strum(message = "next field / choice")]
    NextField,
    #[strum(message = "previous field / choice")]
    PrevField,
    // wizard
    #[strum(message = "next step")]
    Next,
    #[strum(message = "previous step")]
    Back,
    /// Shows what the plan would do (and writes it to the audit log), without doing it.
    #[strum(message = "dry-run the plan")]
    DryRun,
    // overview
    /// Shows the selected finding's object in its pane.
    #[strum(message = "go to the finding's object")]
    GoTo,
    #[strum(message = "scroll the finding's text up")]
    TextUp,
    #[strum(message = "scroll the finding's text down")]
    TextDown,
    // pods, storage and ceph panes
    /// Opens the lock-removal wizard on the selected pod, claim, volume or image.
    #[strum(message = "remove a stale RBD lock (wizard)")]
    Unlock,
    // pods pane
    /// Suspends the console and runs `kubectl exec -it` into the selected pod.
    #[strum(message = "shell into the pod's container")]
    Shell,
    /// Starts `:port-forward` on the command line (the port is typed).
    #[strum(message = "port-forward (:port-forward PORT)")]
    PortForward,
    // resource browser
    /// Shows a Secret's values in describe/YAML (and masks them again).
    #[strum(message = "show/mask Secret values")]
    Reveal,
    // network pane
    /// Reads the selected node's host (CNI files, IPAM, sandboxes) through a debug pod.
    #[strum(message = "read the node's host through a debug pod")]
    ProbeHost,
    /// Restarts the selected node's pod network agent, then checks it stays Ready.
    #[strum(message = "restart the node's pod network agent (wizard)")]
    RestartCni,
    /// Releases the selected node's leaked host-local reservations (typed name).
    #[strum(message = "release the node's leaked pod IPs")]
    ReleaseIps,
}

impl Action {
    /// Every action, in declaration order.
    pub fn all() -> impl Iterator<Item = Action> {
        Action::iter()
    }

    /// The kebab-case name used in keymap files.
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// The action with this kebab-case name.
    pub(crate) fn from_name(name: &str) -> Option<Action> {
        name.parse().ok()
    }

    /// A few words for the help overlay.
    pub fn description(self) -> &'static str {
        self.get_message().unwrap_or_else(|| self.name())
    }

    /// The pane number (1-9) of a `pane-N` action.
    pub fn pane(self) -> Option<u8> {
        self.name().strip_prefix("pane-")?.parse().ok()
    }

    /// Whether the action changes the cluster (and so is refused under
    /// `--read-only` and shown in the destructive style).
    pub(crate) fn mutates(self) -> bool {
        matches!(
            self,
            Action::Cordon
                | Action::Uncordon
                | Action::Delete
                | Action::Scale
                | Action::Edit
                | Action::Shell
                | Action::Unlock
                | Action::ProbeHost
                | Action::RestartCni
                | Action::ReleaseIps
        )
    }

    /// The contexts this action belongs to.
    pub fn contexts(self) -> impl Iterator<Item = Context> {
        Context::all().filter(move |c| c.actions().contains(&self))
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

/// `EnumCount` for array sizes without importing the trait everywhere.
pub(super) const CONTEXTS: usize = Context::COUNT;
