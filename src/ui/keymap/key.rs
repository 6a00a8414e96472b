//! Key syntax: one key with its modifiers, as keymap files write it and as a
//! terminal reports it, normalised so the two compare equal.

use std::fmt;
use std::str::FromStr;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

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
    pub(super) code: KeyCode,
    pub(super) modifiers: KeyModifiers,
}

impl Key {
    /// The character this key types into a text field: a character without ctrl
    /// or alt (shift is already part of the character).
    pub fn text(&self) -> Option<char> {
        match self.code {
            KeyCode::Char(c)
                if !self
                    .modifiers
                    .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
            {
                Some(c)
            }
            _ => None,
        }
    }

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
    pub(crate) fn from_event(event: &KeyEvent) -> Option<Key> {
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
