//! Themes: a palette of named colours plus semantic roles.
//!
//! Panes never name colours; they ask for a [`Role`] ("this is a warning", "this is
//! the selected row") and the theme decides. That keeps one pane readable under a
//! dark, a light and a 16-colour terminal, and lets `NO_COLOR` strip colour in one
//! place while keeping the modifiers that carry meaning (the selection stays
//! reversed, errors stay bold).
//!
//! File format (`themes/*.toml`, see `themes/dark.toml` for a commented example):
//!
//! ```toml
//! [palette]
//! accent = "#7aa2f7"        # #rrggbb, an ANSI name (red, bright-black, default) or 0-255
//!
//! [roles]
//! title = { fg = "accent", modifiers = ["bold"] }
//! ok = "green"              # shorthand for { fg = "green" }
//! selection = { fg = "default", bg = 238 }
//! ```
//!
//! A role names palette entries first, then direct colours, so a palette entry may
//! shadow an ANSI name. A role written in a file is taken as written (an unset `bg`
//! means the terminal's own background); a role a user file leaves out, or gets
//! wrong, keeps the default theme's style.

use std::path::Path;

use ratatui::style::{Color, Modifier, Style};
use toml::Spanned;
use toml::de::{DeString, DeTable, DeValue};

use super::config_error::{
    ConfigError, ConfigErrorKind, Resolver, entries_in_order, read_required, resolve_chain,
    sort_errors, with_suggestion,
};

const DARK_TOML: &str = include_str!("../../themes/dark.toml");
const LIGHT_TOML: &str = include_str!("../../themes/light.toml");
const ANSI16_TOML: &str = include_str!("../../themes/ansi16.toml");

/// The compiled-in themes: (name, file label used in errors, source).
const BUILTINS: &[(&str, &str, &str)] = &[
    ("dark", "themes/dark.toml", DARK_TOML),
    ("light", "themes/light.toml", LIGHT_TOML),
    ("ansi16", "themes/ansi16.toml", ANSI16_TOML),
];

/// Names accepted by [`Theme::builtin`] and `--theme`.
pub(crate) const BUILTIN_THEMES: &[&str] = &["dark", "light", "ansi16"];

/// What a piece of the screen *means*; the theme maps each to a style.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Pane and dialog titles.
    Title,
    /// Borders of unfocused blocks.
    Border,
    /// The border of the block that has the keyboard.
    BorderFocused,
    /// Ordinary text and table cells.
    Text,
    /// Secondary text: ages, hints, unimportant columns.
    Muted,
    /// The selected table row or list item.
    Selection,
    /// Table column headers.
    Header,
    /// Healthy states (Ready, Running, Bound).
    Ok,
    /// Degraded states and warning events.
    Warning,
    /// Failed states (CrashLoopBackOff, NotReady).
    Error,
    /// Findings that need action now (quorum at risk, stale RBD lock).
    Critical,
    /// Neutral information.
    Info,
    /// Key names in hints and the help overlay.
    KeyHint,
    /// The status line at the bottom.
    StatusBar,
    /// The filter / command line while it is being edited.
    Filter,
    /// Dialog bodies.
    Dialog,
    /// Dialog borders.
    DialogBorder,
    /// Anything that will destroy or disrupt: the delete prompt, "break lock".
    Destructive,
}

impl Role {
    /// Every role, in the order the files list them.
    pub const ALL: [Role; 18] = [
        Role::Title,
        Role::Border,
        Role::BorderFocused,
        Role::Text,
        Role::Muted,
        Role::Selection,
        Role::Header,
        Role::Ok,
        Role::Warning,
        Role::Error,
        Role::Critical,
        Role::Info,
        Role::KeyHint,
        Role::StatusBar,
        Role::Filter,
        Role::Dialog,
        Role::DialogBorder,
        Role::Destructive,
    ];

    /// The key used under `[roles]`.
    pub fn name(self) -> &'static str {
        match self {
            Role::Title => "title",
            Role::Border => "border",
            Role::BorderFocused => "border_focused",
            Role::Text => "text",
            Role::Muted => "muted",
            Role::Selection => "selection",
            Role::Header => "header",
            Role::Ok => "ok",
            Role::Warning => "warning",
            Role::Error => "error",
            Role::Critical => "critical",
            Role::Info => "info",
            Role::KeyHint => "key_hint",
            Role::StatusBar => "status_bar",
            Role::Filter => "filter",
            Role::Dialog => "dialog",
            Role::DialogBorder => "dialog_border",
            Role::Destructive => "destructive",
        }
    }

    /// The role with this `[roles]` key.
    pub(crate) fn from_name(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == name)
    }

    fn index(self) -> usize {
        self as usize
    }

    /// Modifiers that carry the role's meaning without colour, used for `NO_COLOR`:
    /// without them the selected row would be indistinguishable from the others.
    fn monochrome(self) -> Modifier {
        match self {
            Role::Title | Role::BorderFocused | Role::Header | Role::KeyHint => Modifier::BOLD,
            Role::Warning | Role::Error | Role::DialogBorder => Modifier::BOLD,
            Role::Muted => Modifier::DIM,
            Role::Selection | Role::StatusBar => Modifier::REVERSED,
            Role::Critical => Modifier::BOLD | Modifier::REVERSED,
            Role::Filter => Modifier::UNDERLINED,
            Role::Destructive => Modifier::BOLD | Modifier::UNDERLINED,
            Role::Border | Role::Text | Role::Ok | Role::Info | Role::Dialog => Modifier::empty(),
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The ANSI colour names a file may use. `white` is ANSI colour 7 (ratatui's
/// `Gray`) and `bright-white` colour 15, as terminals number them, so a theme written
/// against a terminal's 16-colour settings means what it says.
const ANSI_NAMES: &[(&str, Color)] = &[
    ("black", Color::Black),
    ("red", Color::Red),
    ("green", Color::Green),
    ("yellow", Color::Yellow),
    ("blue", Color::Blue),
    ("magenta", Color::Magenta),
    ("cyan", Color::Cyan),
    ("white", Color::Gray),
    ("bright-black", Color::DarkGray),
    ("bright-red", Color::LightRed),
    ("bright-green", Color::LightGreen),
    ("bright-yellow", Color::LightYellow),
    ("bright-blue", Color::LightBlue),
    ("bright-magenta", Color::LightMagenta),
    ("bright-cyan", Color::LightCyan),
    ("bright-white", Color::White),
    ("default", Color::Reset),
];

const MODIFIER_NAMES: &[(&str, Modifier)] = &[
    ("bold", Modifier::BOLD),
    ("dim", Modifier::DIM),
    ("italic", Modifier::ITALIC),
    ("underlined", Modifier::UNDERLINED),
    ("reversed", Modifier::REVERSED),
];

/// A resolved theme: one style per role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Theme {
    name: String,
    styles: [Style; Role::ALL.len()],
    /// The named colours it was written with: a file parsed on top of this theme
    /// may use them without defining them again.
    palette: Vec<(String, Color)>,
}

impl Default for Theme {
    /// The compiled-in dark theme.
    fn default() -> Self {
        Theme::dark()
    }
}

impl Theme {
    /// The style for a role.
    pub fn style(&self, role: Role) -> Style {
        self.styles[role.index()]
    }

    /// Where the theme came from (`dark`, a file path, `no-color`), for an about line.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A compiled-in theme by name ([`BUILTIN_THEMES`]).
    pub fn builtin(name: &str) -> Option<Theme> {
        let (_, label, src) = BUILTINS.iter().find(|(n, _, _)| *n == name)?;
        // The shipped files are tested to parse without errors; should one ever not,
        // degrading to a colourless theme beats refusing to start.
        let (theme, _errors) = parse_onto(src, label, &Theme::no_color());
        let mut theme = theme.unwrap_or_else(Theme::no_color);
        theme.name = name.to_owned();
        Some(theme)
    }

    /// The default theme.
    pub fn dark() -> Theme {
        Theme::builtin("dark").unwrap_or_else(Theme::no_color)
    }

    /// No colours at all, only the modifiers that carry meaning (bold titles, a
    /// reversed selection). What `NO_COLOR` gives when applied to it.
    pub(crate) fn no_color() -> Theme {
        let mut styles = [Style::new(); Role::ALL.len()];
        for role in Role::ALL {
            styles[role.index()] = Style::new().add_modifier(role.monochrome());
        }
        Theme {
            name: "no-color".to_owned(),
            styles,
            palette: Vec::new(),
        }
    }

    /// Honours `NO_COLOR` (<https://no-color.org>): when the variable is set and not
    /// empty, every colour is dropped. The theme's own modifiers are kept and the
    /// monochrome ones added, because a theme may mark the selection only by a
    /// background colour, which would otherwise vanish. Pass
    /// `std::env::var("NO_COLOR").ok().as_deref()`.
    pub fn apply_no_color(self, env_value: Option<&str>) -> Theme {
        match env_value {
            Some(v) if !v.is_empty() => {
                let mut styles = [Style::new(); Role::ALL.len()];
                for role in Role::ALL {
                    let own = self.style(role).add_modifier;
                    styles[role.index()] = Style::new().add_modifier(own | role.monochrome());
                }
                Theme {
                    name: format!("{} (NO_COLOR)", self.name),
                    styles,
                    palette: Vec::new(),
                }
            }
            _ => self,
        }
    }

    /// Loads a theme file strictly: any problem is an error (the first, top to
    /// bottom). Roles the file leaves out come from the default theme. For the
    /// console's forgiving startup use [`Theme::resolve`].
    pub fn load(path: &Path) -> Result<Theme, ConfigError> {
        let src = read_required(path)?;
        let label = path.display().to_string();
        let (theme, errors) = Theme::parse(&src, &label);
        match (theme, errors.into_iter().next()) {
            (_, Some(first)) => Err(first),
            (Some(theme), None) => Ok(theme),
            // parse gives None only together with an error.
            (None, None) => Err(ConfigError::whole_file(
                label,
                ConfigErrorKind::Syntax,
                "unusable theme",
            )),
        }
    }

    /// Parses theme text on top of the default theme, forgivingly: `None` only when
    /// the text is not TOML at all; otherwise a theme in which every bad entry kept
    /// its default, plus all problems found, top to bottom. `file` labels errors.
    pub fn parse(src: &str, file: &str) -> (Option<Theme>, Vec<ConfigError>) {
        parse_onto(src, file, &Theme::dark())
    }

    /// The theme the console starts with, and the problems met on the way:
    /// `--theme` (a built-in name or a file), else `<config_dir>/theme.toml` if it
    /// exists, else the dark default. Never fails: an unusable candidate is reported
    /// and the next one is tried.
    pub fn resolve(flag: Option<&str>, config_dir: Option<&Path>) -> (Theme, Vec<ConfigError>) {
        let resolver = Resolver {
            flag_name: "--theme",
            file_name: "theme.toml",
            builtin_names: BUILTIN_THEMES,
            builtin: Theme::builtin,
            parse: Theme::parse,
            default: Theme::dark,
        };
        resolve_chain(&resolver, flag, config_dir)
    }
}

/// A palette entry: `None` when its value was bad (already reported), so roles
/// that use it fall back quietly instead of repeating the error.
type Palette = Vec<(String, Option<Color>)>;

fn parse_onto(src: &str, file: &str, base: &Theme) -> (Option<Theme>, Vec<ConfigError>) {
    let doc = match DeTable::parse(src) {
        Ok(doc) => doc,
        Err(e) => return (None, vec![ConfigError::syntax(file, src, &e)]),
    };
    let mut p = Parser {
        file,
        src,
        errors: Vec::new(),
    };
    let mut theme = base.clone();
    theme.name = file.to_owned();

    let top = entries_in_order(doc.get_ref());
    // The palette first, wherever it is in the file, so roles can use it.
    let mut palette: Palette = Vec::new();
    for (key, value) in &top {
        if key.get_ref() == "palette"
            && let Some(table) = p.table(key, value, "palette")
        {
            palette = p.palette(table);
        }
    }
    // The base theme's names after the file's own, which may shadow them.
    palette.extend(
        base.palette
            .iter()
            .filter(|(name, _)| !palette.iter().any(|(n, _)| n == name))
            .map(|(name, colour)| (name.clone(), Some(*colour)))
            .collect::<Vec<_>>(),
    );
    theme.palette = palette
        .iter()
        .filter_map(|(name, colour)| Some((name.clone(), (*colour)?)))
        .collect();
    for (key, value) in &top {
        match key.get_ref().as_ref() {
            "palette" => {}
            "roles" => {
                if let Some(table) = p.table(key, value, "roles") {
                    p.roles(table, &palette, &mut theme);
                }
            }
            other => p.error(
                key.span(),
                other,
                ConfigErrorKind::UnknownKey,
                with_suggestion(
                    format!("unknown key \"{other}\" (expected palette, roles)"),
                    other,
                    ["palette", "roles"],
                ),
            ),
        }
    }
    let mut errors = p.errors;
    sort_errors(&mut errors);
    (Some(theme), errors)
}

/// Why a colour could not be resolved.
enum ColourError {
    /// Already reported (a bad palette entry); fall back without a new error.
    Reported,
    /// Report this.
    New(ConfigErrorKind, String),
}

struct Parser<'s> {
    file: &'s str,
    src: &'s str,
    errors: Vec<ConfigError>,
}

impl Parser<'_> {
    fn error(
        &mut self,
        span: std::ops::Range<usize>,
        key: &str,
        kind: ConfigErrorKind,
        message: String,
    ) {
        self.errors.push(ConfigError::at(
            self.file, self.src, &span, key, kind, message,
        ));
    }

    fn table<'a, 'i>(
        &mut self,
        key: &Spanned<DeString<'i>>,
        value: &'a Spanned<DeValue<'i>>,
        path: &str,
    ) -> Option<&'a DeTable<'i>> {
        match value.get_ref() {
            DeValue::Table(t) => Some(t),
            other => {
                self.error(
                    key.span(),
                    path,
                    ConfigErrorKind::WrongType,
                    format!("expected a table, found {}", other.type_str()),
                );
                None
            }
        }
    }

    fn palette(&mut self, table: &DeTable<'_>) -> Palette {
        let mut palette = Vec::new();
        for (key, value) in entries_in_order(table) {
            let name = key.get_ref().to_string();
            let path = format!("palette.{name}");
            let colour = match direct_colour(value.get_ref()) {
                Ok(c) => Some(c),
                Err((kind, message)) => {
                    self.error(key.span(), &path, kind, message);
                    None
                }
            };
            palette.push((name, colour));
        }
        palette
    }

    fn roles(&mut self, table: &DeTable<'_>, palette: &Palette, theme: &mut Theme) {
        for (key, value) in entries_in_order(table) {
            let name = key.get_ref().as_ref();
            let path = format!("roles.{name}");
            let Some(role) = Role::from_name(name) else {
                self.error(
                    key.span(),
                    &path,
                    ConfigErrorKind::UnknownRole,
                    with_suggestion(
                        format!("unknown role \"{name}\""),
                        name,
                        Role::ALL.iter().map(|r| r.name()),
                    ),
                );
                continue;
            };
            if let Some(style) = self.role_style(key, value, &path, palette) {
                theme.styles[role.index()] = style;
            }
        }
    }

    /// A role's style, or `None` (errors reported) to keep the default's.
    fn role_style(
        &mut self,
        key: &Spanned<DeString<'_>>,
        value: &Spanned<DeValue<'_>>,
        path: &str,
        palette: &Palette,
    ) -> Option<Style> {
        match value.get_ref() {
            DeValue::String(_) | DeValue::Integer(_) => {
                let fg = self.colour(key, value.get_ref(), path, palette)?;
                Some(Style::new().fg(fg))
            }
            DeValue::Table(fields) => {
                let mut style = Style::new();
                let mut ok = true;
                for (fkey, fvalue) in entries_in_order(fields) {
                    let fname = fkey.get_ref().as_ref();
                    let fpath = format!("{path}.{fname}");
                    match fname {
                        "fg" => match self.colour(fkey, fvalue.get_ref(), &fpath, palette) {
                            Some(c) => style = style.fg(c),
                            None => ok = false,
                        },
                        "bg" => match self.colour(fkey, fvalue.get_ref(), &fpath, palette) {
                            Some(c) => style = style.bg(c),
                            None => ok = false,
                        },
                        "modifiers" => match self.modifiers(fkey, fvalue, &fpath) {
                            Some(m) => style = style.add_modifier(m),
                            None => ok = false,
                        },
                        other => {
                            ok = false;
                            self.error(
                                fkey.span(),
                                &fpath,
                                ConfigErrorKind::UnknownKey,
                                with_suggestion(
                                    format!("unknown key \"{other}\" (expected fg, bg, modifiers)"),
                                    other,
                                    ["fg", "bg", "modifiers"],
                                ),
                            );
                        }
                    }
                }
                ok.then_some(style)
            }
            other => {
                self.error(
                    key.span(),
                    path,
                    ConfigErrorKind::WrongType,
                    format!(
                        "expected a colour or a table with fg, bg, modifiers, found {}",
                        other.type_str()
                    ),
                );
                None
            }
        }
    }

    fn colour(
        &mut self,
        key: &Spanned<DeString<'_>>,
        value: &DeValue<'_>,
        path: &str,
        palette: &Palette,
    ) -> Option<Color> {
        match resolve_colour(value, palette) {
            Ok(c) => Some(c),
            Err(ColourError::Reported) => None,
            Err(ColourError::New(kind, message)) => {
                self.error(key.span(), path, kind, message);
                None
            }
        }
    }

    fn modifiers(
        &mut self,
        key: &Spanned<DeString<'_>>,
        value: &Spanned<DeValue<'_>>,
        path: &str,
    ) -> Option<Modifier> {
        // One name or a list of names; each bad name is reported at its own place.
        let items: Vec<(std::ops::Range<usize>, &DeValue<'_>)> = match value.get_ref() {
            DeValue::Array(items) => items.iter().map(|i| (i.span(), i.get_ref())).collect(),
            DeValue::String(_) => vec![(key.span(), value.get_ref())],
            other => {
                self.error(
                    key.span(),
                    path,
                    ConfigErrorKind::WrongType,
                    format!(
                        "expected a modifier or a list of modifiers, found {}",
                        other.type_str()
                    ),
                );
                return None;
            }
        };
        let mut all = Modifier::empty();
        let mut ok = true;
        for (span, item) in items {
            let Some(name) = item.as_str() else {
                ok = false;
                self.error(
                    span,
                    path,
                    ConfigErrorKind::WrongType,
                    format!("expected a modifier name, found {}", item.type_str()),
                );
                continue;
            };
            match MODIFIER_NAMES.iter().find(|(n, _)| *n == name) {
                Some((_, m)) => all |= *m,
                None => {
                    ok = false;
                    self.error(
                        span,
                        path,
                        ConfigErrorKind::UnknownModifier,
                        with_suggestion(
                            format!(
                                "unknown modifier \"{name}\" (expected bold, dim, italic, underlined, reversed)"
                            ),
                            name,
                            MODIFIER_NAMES.iter().map(|(n, _)| *n),
                        ),
                    );
                }
            }
        }
        ok.then_some(all)
    }
}

/// A role's colour: a palette name first, then a direct colour.
fn resolve_colour(value: &DeValue<'_>, palette: &Palette) -> Result<Color, ColourError> {
    if let Some(name) = value.as_str() {
        if let Some((_, entry)) = palette.iter().find(|(n, _)| n == name) {
            return entry.ok_or(ColourError::Reported);
        }
        return direct_colour(value).map_err(|(kind, message)| {
            // A misspelt palette name is likelier than a misspelt ANSI name.
            let message = if kind == ConfigErrorKind::UnknownColour && !name.starts_with('#') {
                with_suggestion(
                    format!("unknown colour \"{name}\""),
                    name,
                    palette
                        .iter()
                        .map(|(n, _)| n.as_str())
                        .chain(ANSI_NAMES.iter().map(|(n, _)| *n)),
                )
            } else {
                message
            };
            ColourError::New(kind, message)
        });
    }
    direct_colour(value).map_err(|(kind, message)| ColourError::New(kind, message))
}

/// A colour written directly: `#rrggbb`, an ANSI name, or an index 0-255 (a TOML
/// integer or a string of digits).
fn direct_colour(value: &DeValue<'_>) -> Result<Color, (ConfigErrorKind, String)> {
    match value {
        DeValue::Integer(i) => {
            let text = i.to_string();
            match i64::from_str_radix(i.as_str(), i.radix()) {
                Ok(n) => index_colour(n, &text),
                Err(_) => Err(out_of_range(&text)),
            }
        }
        DeValue::String(s) => {
            let s = s.as_ref();
            if let Some(hex) = s.strip_prefix('#') {
                return parse_hex(hex).ok_or_else(|| {
                    (
                        ConfigErrorKind::UnknownColour,
                        format!("unknown colour \"{s}\" (hex colours are #rrggbb)"),
                    )
                });
            }
            if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                return match s.parse::<i64>() {
                    Ok(n) => index_colour(n, s),
                    Err(_) => Err(out_of_range(s)),
                };
            }
            ANSI_NAMES
                .iter()
                .find(|(n, _)| *n == s)
                .map(|(_, c)| *c)
                .ok_or_else(|| {
                    (
                        ConfigErrorKind::UnknownColour,
                        with_suggestion(
                            format!("unknown colour \"{s}\""),
                            s,
                            ANSI_NAMES.iter().map(|(n, _)| *n),
                        ),
                    )
                })
        }
        other => Err((
            ConfigErrorKind::WrongType,
            format!(
                "expected a colour (a palette name, #rrggbb, an ANSI name or 0-255), found {}",
                other.type_str()
            ),
        )),
    }
}

fn index_colour(n: i64, text: &str) -> Result<Color, (ConfigErrorKind, String)> {
    u8::try_from(n)
        .map(Color::Indexed)
        .map_err(|_| out_of_range(text))
}

fn out_of_range(text: &str) -> (ConfigErrorKind, String) {
    (
        ConfigErrorKind::UnknownColour,
        format!("colour index {text} is out of range (0-255)"),
    )
}

fn parse_hex(hex: &str) -> Option<Color> {
    if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let byte = |i: usize| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok();
    Some(Color::Rgb(byte(0)?, byte(2)?, byte(4)?))
}

#[cfg(test)]
mod tests;
