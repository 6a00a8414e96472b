//! Errors from the operator's configuration files (themes and keymaps), and the
//! loading plumbing the two share.
//!
//! The design rule is that a malformed file never stops the console: it is reported
//! with file, line, column and key so the operator can fix it, and the console falls
//! back to something that works. Everything here therefore collects errors instead of
//! returning early, and every error carries enough position to be acted upon.

use std::fmt;
use std::ops::Range;
use std::path::Path;

use toml::Spanned;
use toml::de::{DeString, DeTable, DeValue};

/// What went wrong, for callers (and tests) that want to branch on it without
/// parsing the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfigErrorKind {
    /// The file exists but could not be read (permissions, a directory, not UTF-8).
    Io,
    /// `--theme` / `--keymap` named neither a built-in nor an existing file.
    NotFound,
    /// The file is not valid TOML; nothing from it is used.
    Syntax,
    /// A value has the wrong TOML type (e.g. a number where a key string belongs).
    WrongType,
    /// A top-level key of a theme that is neither `palette` nor `roles`, or a role
    /// field other than `fg`, `bg`, `modifiers`.
    UnknownKey,
    /// A colour that is not in the palette and not a valid direct colour.
    UnknownColour,
    /// A key under `[roles]` that is not a role.
    UnknownRole,
    /// A modifier other than bold, dim, italic, underlined, reversed.
    UnknownModifier,
    /// A keymap section other than global, table, detail, dialog, wizard.
    UnknownContext,
    /// A keymap entry whose name is not an action at all.
    UnknownAction,
    /// An action that exists but does not belong to this context.
    ActionNotInContext,
    /// A key string that does not follow the key syntax.
    BadKey,
    /// The same key bound to two actions of one context in one file.
    DuplicateKey,
}

/// One problem in one configuration file.
///
/// `Display` gives the one-line form shown to the operator, e.g.
/// `themes/x.toml:7:1: roles.selection: unknown colour "purpel"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file as the operator knows it: the path as given on the command line, the
    /// full path of a file in the config directory, or `themes/dark.toml` for a
    /// compiled-in file.
    pub file: String,
    /// 1-based line and column (in characters), when the problem has a position.
    pub position: Option<(usize, usize)>,
    /// Dotted key path (`roles.selection.fg`, `table.delete`), when there is one.
    pub key: Option<String>,
    /// The category of the problem.
    pub kind: ConfigErrorKind,
    /// What is wrong, without file, position or key.
    pub message: String,
}

impl ConfigError {
    /// An error with no position (the file as a whole).
    pub(crate) fn whole_file(
        file: impl Into<String>,
        kind: ConfigErrorKind,
        message: impl Into<String>,
    ) -> Self {
        Self {
            file: file.into(),
            position: None,
            key: None,
            kind,
            message: message.into(),
        }
    }

    /// An error at a byte span of `src`, under a key path.
    pub(crate) fn at(
        file: &str,
        src: &str,
        span: &Range<usize>,
        key: impl Into<String>,
        kind: ConfigErrorKind,
        message: impl Into<String>,
    ) -> Self {
        Self {
            file: file.to_owned(),
            position: Some(line_col(src, span.start)),
            key: Some(key.into()),
            kind,
            message: message.into(),
        }
    }

    /// A TOML syntax error. toml reports byte offsets; the operator wants line:col.
    pub(crate) fn syntax(file: &str, src: &str, err: &toml::de::Error) -> Self {
        // toml's messages are one line today; flatten anyway so a future multi-line
        // message cannot break the one-error-per-line display in the status area.
        let mut message = err
            .message()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        // toml says only "duplicate key"; its span covers the key, so name it.
        if message == "duplicate key"
            && let Some(key) = err.span().and_then(|s| src.get(s))
        {
            message = format!("duplicate key {}", key.trim());
        }
        Self {
            file: file.to_owned(),
            position: err.span().map(|s| line_col(src, s.start)),
            key: None,
            kind: ConfigErrorKind::Syntax,
            message,
        }
    }

    /// The 1-based line, if the error has a position.
    pub fn line(&self) -> Option<usize> {
        self.position.map(|(line, _)| line)
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some((line, col)) = self.position {
            write!(f, ":{line}:{col}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": {key}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Converts a byte offset into a 1-based (line, column), the column counted in
/// characters so it matches what an editor shows for non-ASCII lines.
pub(crate) fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(src.len());
    while !src.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

/// Suggests the closest candidate for a misspelt name, so `purpel` gets
/// `(did you mean "purple"?)` instead of a bare rejection. Only close matches are
/// offered: a far-fetched suggestion is worse than none.
pub(crate) fn suggest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = if word.chars().count() <= 3 { 1 } else { 2 };
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `message` plus a did-you-mean suffix when a close candidate exists.
pub(crate) fn with_suggestion<'a>(
    message: String,
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> String {
    match suggest(word, candidates) {
        Some(s) => format!("{message} (did you mean \"{s}\"?)"),
        None => message,
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = Vec::with_capacity(b.len() + 1);
        cur.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            let v = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
            cur.push(v);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// One `key = value` of a parsed TOML table, both with their spans.
pub(crate) type Entry<'a, 'i> = (&'a Spanned<DeString<'i>>, &'a Spanned<DeValue<'i>>);

/// The entries of a parsed TOML table in file order. toml keeps tables sorted by
/// key (its `preserve_order` feature is off), but "first binding wins" and errors
/// listed top to bottom both need the order the operator wrote.
pub(crate) fn entries_in_order<'a, 'i>(table: &'a DeTable<'i>) -> Vec<Entry<'a, 'i>> {
    let mut entries: Vec<_> = table.iter().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    entries
}

/// Sorts errors top to bottom; whole-file errors first.
pub(crate) fn sort_errors(errors: &mut [ConfigError]) {
    errors.sort_by_key(|e| e.position);
}

/// Reads a configuration file. `Ok(None)` when it does not exist, so a missing
/// optional file in the config directory is not an error.
pub(crate) fn read_optional(path: &Path, label: &str) -> Result<Option<String>, ConfigError> {
    match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(s) => Ok(Some(s)),
            Err(_) => Err(ConfigError::whole_file(
                label,
                ConfigErrorKind::Io,
                "cannot read: not valid UTF-8",
            )),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ConfigError::whole_file(
            label,
            ConfigErrorKind::Io,
            format!("cannot read: {e}"),
        )),
    }
}

/// Reads a file that must exist (`Theme::load`, `Keymap::load`).
pub(crate) fn read_required(path: &Path) -> Result<String, ConfigError> {
    let label = path.display().to_string();
    match read_optional(path, &label)? {
        Some(s) => Ok(s),
        None => Err(ConfigError::whole_file(
            label,
            ConfigErrorKind::NotFound,
            "cannot read: no such file",
        )),
    }
}

/// A forgiving parse: the value (`None` if unusable as a whole) and every problem.
pub(crate) type Parsed<T> = (Option<T>, Vec<ConfigError>);

/// What a kind of configuration (theme or keymap) provides to [`resolve_chain`].
pub(crate) struct Resolver<'a, T> {
    /// Command-line flag, for messages: `--theme`.
    pub flag_name: &'a str,
    /// File looked for in the config directory: `theme.toml`.
    pub file_name: &'a str,
    /// Names accepted by `builtin`, for messages.
    pub builtin_names: &'a [&'a str],
    /// Looks up a compiled-in configuration by name.
    pub builtin: fn(&str) -> Option<T>,
    /// Parses a file on top of the defaults: `None` when the file is unusable as a
    /// whole (syntax), otherwise the value with the bad entries left at defaults.
    pub parse: fn(&str, &str) -> Parsed<T>,
    /// The compiled-in default.
    pub default: fn() -> T,
}

/// The resolution order shared by themes and keymaps: the flag (a built-in name or a
/// file), else the file in the config directory if present, else the default. A
/// candidate that cannot be used as a whole is reported and the next one is tried, so
/// a typo in `--theme` still gets the operator's own `theme.toml` rather than the
/// stock look; a file with some bad entries is used with those entries at defaults.
pub(crate) fn resolve_chain<T>(
    r: &Resolver<'_, T>,
    flag: Option<&str>,
    config_dir: Option<&Path>,
) -> (T, Vec<ConfigError>) {
    let mut errors = Vec::new();
    if let Some(flag) = flag {
        if let Some(value) = (r.builtin)(flag) {
            return (value, errors);
        }
        let path = Path::new(flag);
        match read_optional(path, flag) {
            Ok(Some(src)) => {
                let (value, mut errs) = (r.parse)(&src, flag);
                errors.append(&mut errs);
                if let Some(value) = value {
                    return (value, errors);
                }
            }
            Ok(None) => errors.push(ConfigError::whole_file(
                flag,
                ConfigErrorKind::NotFound,
                format!(
                    "{} names no built-in ({}) and no such file",
                    r.flag_name,
                    r.builtin_names.join(", ")
                ),
            )),
            Err(e) => errors.push(e),
        }
    }
    if let Some(dir) = config_dir {
        let path = dir.join(r.file_name);
        let label = path.display().to_string();
        match read_optional(&path, &label) {
            Ok(Some(src)) => {
                let (value, mut errs) = (r.parse)(&src, &label);
                errors.append(&mut errs);
                if let Some(value) = value {
                    return (value, errors);
                }
            }
            Ok(None) => {}
            Err(e) => errors.push(e),
        }
    }
    ((r.default)(), errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_lines_and_chars() {
        let src = "a = 1\nbé = 2\n  c = 3";
        assert_eq!(line_col(src, 0), (1, 1));
        assert_eq!(line_col(src, 6), (2, 1));
        // "bé = " is 6 bytes but 5 characters: the '=' after é is column 4.
        assert_eq!(line_col(src, 6 + 4), (2, 4));
        assert_eq!(line_col(src, src.len()), (3, 8));
        assert_eq!(line_col(src, 10_000), (3, 8));
    }

    #[test]
    fn display_has_every_part_that_exists() {
        let e = ConfigError {
            file: "themes/x.toml".into(),
            position: Some((7, 1)),
            key: Some("roles.selection".into()),
            kind: ConfigErrorKind::UnknownColour,
            message: "unknown colour \"purpel\"".into(),
        };
        assert_eq!(
            e.to_string(),
            "themes/x.toml:7:1: roles.selection: unknown colour \"purpel\""
        );
        let e = ConfigError::whole_file("x.toml", ConfigErrorKind::Io, "cannot read: boom");
        assert_eq!(e.to_string(), "x.toml: cannot read: boom");
    }

    #[test]
    fn suggestions_are_close_only() {
        assert_eq!(suggest("purpel", ["purple", "red"]), Some("purple"));
        assert_eq!(suggest("xyzzy", ["purple", "red"]), None);
        assert_eq!(suggest("rde", ["red"]), None);
        assert_eq!(suggest("rd", ["red"]), Some("red"));
    }
}
