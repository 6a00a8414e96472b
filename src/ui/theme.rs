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
pub const BUILTIN_THEMES: &[&str] = &["dark", "light", "ansi16"];

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
    pub fn from_name(name: &str) -> Option<Role> {
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
    pub fn no_color() -> Theme {
        let mut styles = [Style::new(); Role::ALL.len()];
        for role in Role::ALL {
            styles[role.index()] = Style::new().add_modifier(role.monochrome());
        }
        Theme {
            name: "no-color".to_owned(),
            styles,
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
mod tests {
    use super::*;

    fn parse(src: &str) -> (Theme, Vec<String>) {
        let (theme, errors) = Theme::parse(src, "x.toml");
        (
            theme.unwrap_or_else(Theme::no_color),
            errors.iter().map(ToString::to_string).collect(),
        )
    }

    fn role_keys(src: &str) -> Vec<String> {
        let doc = DeTable::parse(src).expect("test setup");
        match doc.get_ref().get("roles").map(|v| v.get_ref()) {
            Some(DeValue::Table(t)) => t.keys().map(|k| k.get_ref().to_string()).collect(),
            _ => Vec::new(),
        }
    }

    #[test]
    fn every_shipped_theme_parses_cleanly_and_defines_every_role() {
        for (name, label, src) in BUILTINS {
            let (theme, errors) = parse_onto(src, label, &Theme::no_color());
            assert!(errors.is_empty(), "{name}: {errors:?}");
            assert!(theme.is_some(), "{name}");
            let keys = role_keys(src);
            for role in Role::ALL {
                assert!(
                    keys.iter().any(|k| k == role.name()),
                    "{name} lacks role {role}"
                );
            }
            assert!(Theme::builtin(name).is_some());
            // Text must never vanish into its own background.
            let theme = Theme::builtin(name).unwrap_or_else(Theme::no_color);
            for role in Role::ALL {
                let s = theme.style(role);
                assert!(
                    s.fg.is_none() || s.fg != s.bg,
                    "{name}: {role} has fg == bg"
                );
            }
        }
        assert_eq!(BUILTIN_THEMES.len(), BUILTINS.len());
        assert_eq!(Theme::default(), Theme::dark());
        assert_eq!(Theme::dark().name(), "dark");
    }

    #[test]
    fn the_dark_theme_is_in_colour_and_keeps_selection_visible() {
        let dark = Theme::dark();
        assert!(matches!(dark.style(Role::Ok).fg, Some(Color::Rgb(..))));
        assert!(dark.style(Role::Selection).bg.is_some());
    }

    #[test]
    fn ansi16_uses_only_the_sixteen_ansi_colours() {
        let theme = Theme::builtin("ansi16").unwrap_or_else(Theme::no_color);
        let allowed: Vec<Color> = ANSI_NAMES.iter().map(|(_, c)| *c).collect();
        for role in Role::ALL {
            let s = theme.style(role);
            for c in [s.fg, s.bg].into_iter().flatten() {
                assert!(allowed.contains(&c), "ansi16 {role} uses {c:?}");
            }
        }
        // Selection must not rely on colours a terminal palette may redefine.
        assert!(
            theme
                .style(Role::Selection)
                .add_modifier
                .contains(Modifier::REVERSED)
        );
    }

    #[test]
    fn colours_in_every_form() {
        let (theme, errors) = parse(
            r##"
[palette]
accent = "#7aA2f7"
red = "#ff0000"        # shadows the ANSI name
[roles]
title = "accent"
ok = "green"
warning = "bright-yellow"
error = "red"
info = 117
muted = "244"
text = "default"
selection = { fg = "white", bg = "bright-black", modifiers = ["bold", "reversed"] }
header = { modifiers = "underlined" }
"##,
        );
        assert_eq!(errors, Vec::<String>::new());
        assert_eq!(
            theme.style(Role::Title),
            Style::new().fg(Color::Rgb(0x7a, 0xa2, 0xf7))
        );
        assert_eq!(theme.style(Role::Ok).fg, Some(Color::Green));
        assert_eq!(theme.style(Role::Warning).fg, Some(Color::LightYellow));
        assert_eq!(theme.style(Role::Error).fg, Some(Color::Rgb(255, 0, 0)));
        assert_eq!(theme.style(Role::Info).fg, Some(Color::Indexed(117)));
        assert_eq!(theme.style(Role::Muted).fg, Some(Color::Indexed(244)));
        assert_eq!(theme.style(Role::Text).fg, Some(Color::Reset));
        assert_eq!(
            theme.style(Role::Selection),
            Style::new()
                .fg(Color::Gray)
                .bg(Color::DarkGray)
                .add_modifier(Modifier::BOLD | Modifier::REVERSED)
        );
        assert_eq!(
            theme.style(Role::Header),
            Style::new().add_modifier(Modifier::UNDERLINED)
        );
    }

    #[test]
    fn missing_roles_come_from_the_default_theme() {
        let (theme, errors) = parse("[roles]\nok = \"green\"\n");
        assert!(errors.is_empty());
        let dark = Theme::dark();
        assert_eq!(theme.style(Role::Ok), Style::new().fg(Color::Green));
        for role in Role::ALL.into_iter().filter(|r| *r != Role::Ok) {
            assert_eq!(theme.style(role), dark.style(role), "{role}");
        }
        assert_eq!(theme.name(), "x.toml");
    }

    #[test]
    fn unknown_colour_names_file_line_column_and_key() {
        let src = "# my theme\n[palette]\npurple = \"#800080\"\n\n[roles]\nok = \"green\"\nselection = \"purpel\"\n";
        let (theme, errors) = parse(src);
        assert_eq!(
            errors,
            ["x.toml:7:1: roles.selection: unknown colour \"purpel\" (did you mean \"purple\"?)"]
        );
        // The bad role keeps the default, the good one applies.
        assert_eq!(
            theme.style(Role::Selection),
            Theme::dark().style(Role::Selection)
        );
        assert_eq!(theme.style(Role::Ok).fg, Some(Color::Green));
    }

    #[test]
    fn each_error_kind_has_its_message_and_place() {
        let src = r##"[palette]
bad = "#12345"
huge = 300
[roles]
titel = "red"
border = { fg = "bad" }
text = { fg = "red", bgg = "blue" }
muted = { modifiers = ["bold", "blink"] }
header = true
ok = { fg = "nope" }
[colours]
"##;
        let (theme, errors) = parse(src);
        assert_eq!(
            errors,
            [
                "x.toml:2:1: palette.bad: unknown colour \"#12345\" (hex colours are #rrggbb)",
                "x.toml:3:1: palette.huge: colour index 300 is out of range (0-255)",
                "x.toml:5:1: roles.titel: unknown role \"titel\" (did you mean \"title\"?)",
                "x.toml:7:22: roles.text.bgg: unknown key \"bgg\" (expected fg, bg, modifiers) (did you mean \"bg\"?)",
                "x.toml:8:32: roles.muted.modifiers: unknown modifier \"blink\" (expected bold, dim, italic, underlined, reversed)",
                "x.toml:9:1: roles.header: expected a colour or a table with fg, bg, modifiers, found boolean",
                "x.toml:10:8: roles.ok.fg: unknown colour \"nope\"",
                "x.toml:11:2: colours: unknown key \"colours\" (expected palette, roles)",
            ]
        );
        // border used the bad palette entry: it falls back without a second error.
        assert_eq!(theme.style(Role::Border), Theme::dark().style(Role::Border));
        let kinds: Vec<_> = Theme::parse(src, "x.toml")
            .1
            .iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(
            kinds,
            [
                ConfigErrorKind::UnknownColour,
                ConfigErrorKind::UnknownColour,
                ConfigErrorKind::UnknownRole,
                ConfigErrorKind::UnknownKey,
                ConfigErrorKind::UnknownModifier,
                ConfigErrorKind::WrongType,
                ConfigErrorKind::UnknownColour,
                ConfigErrorKind::UnknownKey,
            ]
        );
    }

    #[test]
    fn a_syntax_error_rejects_the_file_with_line_and_column() {
        let (theme, errors) =
            Theme::parse("[roles]\nok = \"green\nwarning = \"yellow\"\n", "x.toml");
        assert!(theme.is_none());
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].kind, ConfigErrorKind::Syntax);
        assert_eq!(errors[0].line(), Some(2));
        assert_eq!(
            errors[0].to_string(),
            "x.toml:2:12: invalid basic string, expected `\"`"
        );
        let (_, errors) = Theme::parse("[roles]\nok = 1\n\nok = 2\n", "x.toml");
        assert_eq!(
            errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["x.toml:4:1: duplicate key ok"]
        );
    }

    #[test]
    fn no_color_strips_colours_and_keeps_meaningful_modifiers() {
        let plain = Theme::dark().apply_no_color(Some("1"));
        for role in Role::ALL {
            let s = plain.style(role);
            assert_eq!((s.fg, s.bg), (None, None), "{role}");
        }
        assert!(
            plain
                .style(Role::Selection)
                .add_modifier
                .contains(Modifier::REVERSED)
        );
        assert!(
            plain
                .style(Role::Title)
                .add_modifier
                .contains(Modifier::BOLD)
        );
        // Empty means unset, per no-color.org.
        assert_eq!(Theme::dark().apply_no_color(Some("")), Theme::dark());
        assert_eq!(Theme::dark().apply_no_color(None), Theme::dark());
        let nc = Theme::no_color();
        assert_eq!(
            nc.style(Role::Selection),
            Style::new().add_modifier(Modifier::REVERSED)
        );
    }

    #[test]
    fn resolve_order_and_fallbacks() {
        let dir = std::env::temp_dir().join(format!("kcops-theme-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("test setup");

        // Nothing given: dark, no errors.
        let (t, e) = Theme::resolve(None, Some(&dir));
        assert_eq!((t, e.len()), (Theme::dark(), 0));

        // A built-in by name.
        let (t, e) = Theme::resolve(Some("light"), Some(&dir));
        assert_eq!(t.name(), "light");
        assert!(e.is_empty());

        // The config dir file when no flag.
        let cfg = dir.join("theme.toml");
        std::fs::write(&cfg, "[roles]\nok = \"blue\"\n").expect("test setup");
        let (t, e) = Theme::resolve(None, Some(&dir));
        assert_eq!(t.style(Role::Ok).fg, Some(Color::Blue));
        assert!(e.is_empty());

        // A bad flag: reported, then the config dir file is used.
        let (t, e) = Theme::resolve(Some("solarized"), Some(&dir));
        assert_eq!(t.style(Role::Ok).fg, Some(Color::Blue));
        assert_eq!(
            e.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["solarized: --theme names no built-in (dark, light, ansi16) and no such file"]
        );

        // A flag file with a syntax error: reported, falls back.
        let broken = dir.join("broken.toml");
        std::fs::write(&broken, "[roles\n").expect("test setup");
        let flag = broken.display().to_string();
        let (t, e) = Theme::resolve(Some(&flag), Some(&dir));
        assert_eq!(t.style(Role::Ok).fg, Some(Color::Blue));
        assert_eq!(e.len(), 1);
        assert!(
            e[0].to_string().starts_with(&format!("{flag}:1:")),
            "{}",
            e[0]
        );

        // A config file with a semantic error: used, the bad role at its default.
        std::fs::write(&cfg, "[roles]\nok = \"blue\"\nerror = \"rde\"\n").expect("test setup");
        let (t, e) = Theme::resolve(None, Some(&dir));
        assert_eq!(t.style(Role::Ok).fg, Some(Color::Blue));
        assert_eq!(t.style(Role::Error), Theme::dark().style(Role::Error));
        assert_eq!(
            e.iter().map(ToString::to_string).collect::<Vec<_>>(),
            [format!(
                "{}:3:1: roles.error: unknown colour \"rde\"",
                cfg.display()
            )]
        );

        // load is strict.
        assert!(Theme::load(&cfg).is_err());
        std::fs::write(&cfg, "[roles]\nok = \"blue\"\n").expect("test setup");
        assert_eq!(
            Theme::load(&cfg).map(|t| t.style(Role::Ok).fg),
            Ok(Some(Color::Blue))
        );
        assert_eq!(
            Theme::load(&dir.join("absent.toml")).map_err(|e| e.kind),
            Err(ConfigErrorKind::NotFound)
        );

        let _ = std::fs::remove_dir_all(&dir);
    }
}
