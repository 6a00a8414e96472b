//! The one-line text field of every prompt and dialog (`/` filter, `:` command line,
//! detail search, typed confirmations): a `ratatui-textarea` editor, with the keymap
//! asked first so that the keys that act (cancel, confirm, help) act there too.
//!
//! Text entry is the one place where keys are not looked up in the keymap: a
//! character the field can hold is text, even when a context binds it. The others
//! (enter, esc, tab, ctrl-c, and `?` in a name field) go to the keymap first; what
//! the keymap does not bind edits the text as `ratatui-textarea` does (arrows,
//! home/end, backspace, ctrl-w, ctrl-u, ...).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::{Modifier, Style};
use ratatui::text::Span;
use ratatui_textarea::{CursorMove, TextArea};

use super::keymap::{Action, Context, Key, Keymap};

/// Which characters a field takes as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Charset {
    /// Any character (a regex filter, a command, a search may hold `?`).
    Free,
    /// What object names, numbers, CIDRs and `pool/image` are made of; other
    /// characters (`?`) may be bound to actions.
    Name,
}

impl Charset {
    fn takes(self, c: char) -> bool {
        match self {
            Charset::Free => !c.is_control(),
            Charset::Name => c.is_alphanumeric() || "-._/:@".contains(c),
        }
    }
}

/// What a key did to a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldKey {
    /// The keymap binds the key in the field's context: the owner acts on it.
    Action(Action),
    /// The text changed.
    Edited,
    /// The cursor moved, or the key means nothing here.
    Unchanged,
}

/// A single-line text field.
#[derive(Debug, Clone)]
pub(crate) struct TextField {
    /// Boxed: the editor is large, and dialogs sit in enums beside small overlays.
    editor: Box<TextArea<'static>>,
    charset: Charset,
}

impl TextField {
    pub fn new(charset: Charset) -> Self {
        Self::with_text(charset, "")
    }

    /// A field holding `text`, the cursor at its end.
    pub(crate) fn with_text(charset: Charset, text: &str) -> Self {
        let mut editor = TextArea::new(vec![text.to_owned()]);
        editor.move_cursor(CursorMove::End);
        TextField {
            editor: Box::new(editor),
            charset,
        }
    }

    /// The text typed so far.
    pub fn text(&self) -> &str {
        self.editor.lines().first().map_or("", String::as_str)
    }

    /// Replaces the text (e.g. with a chosen completion), the cursor at its end.
    pub(crate) fn set_text(&mut self, text: &str) {
        *self = TextField::with_text(self.charset, text);
    }

    /// Reads one key for a field that has the focus in `context`.
    pub fn on_key(&mut self, keymap: &Keymap, context: Context, event: KeyEvent) -> FieldKey {
        let Some(key) = Key::from_event(&event) else {
            return FieldKey::Unchanged;
        };
        if let Some(c) = key.text().filter(|c| self.charset.takes(*c)) {
            self.editor.insert_char(c);
            return FieldKey::Edited;
        }
        if let Some(action) = keymap.action_for_key(context, &key) {
            return FieldKey::Action(action);
        }
        let ctrl = event.modifiers.contains(KeyModifiers::CONTROL);
        // One line: nothing that would start a second one, no tab characters.
        let newline = matches!(event.code, KeyCode::Enter | KeyCode::Tab | KeyCode::BackTab)
            || (ctrl && matches!(event.code, KeyCode::Char('m' | 'j')));
        if newline || key.text().is_some() {
            return FieldKey::Unchanged;
        }
        if self.editor.input(event) {
            FieldKey::Edited
        } else {
            FieldKey::Unchanged
        }
    }

    /// The text as spans in `style`, with the cursor shown (reversed) when the field
    /// has the focus.
    pub(crate) fn spans(&self, style: Style, focused: bool) -> Vec<Span<'static>> {
        let text = self.text();
        if !focused {
            return vec![Span::styled(text.to_owned(), style)];
        }
        let col = self.editor.cursor().1;
        let before: String = text.chars().take(col).collect();
        let at: String = text.chars().nth(col).map_or(" ".into(), String::from);
        let after: String = text.chars().skip(col + 1).collect();
        let mut spans = vec![Span::styled(before, style)];
        spans.push(Span::styled(at, style.add_modifier(Modifier::REVERSED)));
        if !after.is_empty() {
            spans.push(Span::styled(after, style));
        }
        spans
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    fn typed(field: &mut TextField, keymap: &Keymap, text: &str) {
        for c in text.chars() {
            field.on_key(
                keymap,
                Context::Dialog,
                ev(KeyCode::Char(c), KeyModifiers::NONE),
            );
        }
    }

    #[test]
    fn characters_are_text_and_bound_keys_act() {
        let k = Keymap::default();
        let mut f = TextField::new(Charset::Name);
        typed(&mut f, &k, "web-0");
        assert_eq!(f.text(), "web-0");
        // `?` cannot be in a name: it is the help key there.
        assert_eq!(
            f.on_key(
                &k,
                Context::Dialog,
                ev(KeyCode::Char('?'), KeyModifiers::NONE)
            ),
            FieldKey::Action(Action::Help)
        );
        assert_eq!(
            f.on_key(
                &k,
                Context::Dialog,
                ev(KeyCode::Char('c'), KeyModifiers::CONTROL)
            ),
            FieldKey::Action(Action::Cancel)
        );
        assert_eq!(
            f.on_key(&k, Context::Dialog, ev(KeyCode::Enter, KeyModifiers::NONE)),
            FieldKey::Action(Action::Confirm)
        );
        assert_eq!(f.text(), "web-0");
        // A regex may hold `?`.
        let mut free = TextField::new(Charset::Free);
        typed(&mut free, &k, "^a?b$");
        assert_eq!(free.text(), "^a?b$");
    }

    #[test]
    fn unbound_keys_edit_like_a_line_editor() {
        let k = Keymap::default();
        let mut f = TextField::with_text(Charset::Free, "kube-system");
        let key =
            |f: &mut TextField, code| f.on_key(&k, Context::Dialog, ev(code, KeyModifiers::NONE));
        assert_eq!(key(&mut f, KeyCode::Backspace), FieldKey::Edited);
        assert_eq!(f.text(), "kube-syste");
        assert_eq!(key(&mut f, KeyCode::Home), FieldKey::Unchanged);
        typed(&mut f, &k, "x");
        assert_eq!(f.text(), "xkube-syste");
        // ctrl-w deletes a word backwards from the end.
        key(&mut f, KeyCode::End);
        f.on_key(
            &k,
            Context::Dialog,
            ev(KeyCode::Char('w'), KeyModifiers::CONTROL),
        );
        assert_eq!(f.text(), "xkube-");
        // Never a second line.
        f.on_key(
            &k,
            Context::Wizard,
            ev(KeyCode::Char('m'), KeyModifiers::CONTROL),
        );
        assert_eq!(f.text(), "xkube-");
        let spans = f.spans(Style::default(), true);
        assert_eq!(spans.len(), 2);
        assert_eq!(spans[1].content, " ");
    }
}
