//! The keymap's tests: shipped files, key syntax, file errors, resolution.
use super::file::parse_onto;
use super::*;
use crate::ui::config_error::ConfigErrorKind;
use crossterm::event::{KeyCode, KeyEventKind, KeyEventState, KeyModifiers};

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
fn the_default_keymap_binds_every_action() {
    let k = Keymap::default();
    for context in Context::all() {
        for action in context.actions() {
            assert!(
                !k.keys_for(context, *action).is_empty(),
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
        // [dialog] keys act in text fields, where characters are text: no plain
        // characters there (they could never act).
        for (action, keys) in &k.contexts[Context::Dialog.index()].0 {
            for key in keys {
                assert!(key.text().is_none(), "{name}: dialog.{action} = {key}");
            }
        }
        // Leaving a wizard or a dialog takes no plain character either.
        for context in [Context::Dialog, Context::Wizard] {
            for key in k.contexts[context.index()].keys(Action::Cancel) {
                assert!(key.text().is_none(), "{name}: {context}.cancel = {key}");
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
    // k9s's delete key (the vim keymap keeps it for paging).
    assert_eq!(
        k.action(t, ev(KeyCode::Char('d'), KeyModifiers::CONTROL)),
        Some(Action::Delete)
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
        "[table]\ndelete = \"none\"\ndescribe = \"y\"\n\n[workloads]\nscale = []\n\n[global]\nquit = [\"ctrl-q\"]\n",
    );
    assert_eq!(errors, Vec::<String>::new());
    let t = Context::Table;
    assert_eq!(
        k.action(t, ev(KeyCode::Char('k'), KeyModifiers::CONTROL)),
        None
    );
    assert!(k.keys_for(t, Action::Delete).is_empty());
    assert_eq!(k.action(Context::Workloads, ch('s')), None);
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
        ["ctrl-k", "ctrl-d"]
    );
}

/// The keys k9s users reach for, without collisions: `s` is a shell on Pods and
/// scale on Workloads, Enter drills down and `d` describes, and `ctrl-d` deletes in
/// the default keymap only (it is half a page down in the vim one).
#[test]
fn k9s_keys_do_not_collide() {
    let ctrl_d = ev(KeyCode::Char('d'), KeyModifiers::CONTROL);
    let enter = ev(KeyCode::Enter, KeyModifiers::NONE);
    let first = |k: &Keymap, chain: &[Context], key| chain.iter().find_map(|c| k.action(*c, key));
    let pods = [Context::Pods, Context::Table];
    let workloads = [Context::Workloads, Context::Table];
    let default = Keymap::default();
    assert_eq!(first(&default, &pods, ch('s')), Some(Action::Shell));
    assert_eq!(first(&default, &workloads, ch('s')), Some(Action::Scale));
    assert_eq!(first(&default, &[Context::Table], ch('s')), None);
    assert_eq!(first(&default, &pods, enter), Some(Action::DrillDown));
    assert_eq!(first(&default, &pods, ch('d')), Some(Action::Describe));
    assert_eq!(first(&default, &pods, ctrl_d), Some(Action::Delete));
    let vim = Keymap::builtin("vim").unwrap_or_default();
    assert_eq!(first(&vim, &pods, ctrl_d), Some(Action::PageDown));
    assert_eq!(vim.keys_for(Context::Table, Action::Delete), ["ctrl-k"]);
    assert_eq!(first(&vim, &pods, ch('s')), Some(Action::Shell));
    assert_eq!(first(&vim, &workloads, ch('s')), Some(Action::Scale));
}

#[test]
fn each_error_kind_has_its_message_and_place() {
    let src = r#"[table]
describe = "x"
yaml = ["y", "x"]
delte = "D"
confirm = "enter"
logs = ["l", "ctrl+l"]
cordon = 5

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
            "k.toml:7:1: table.cordon: expected a key, a list of keys or \"none\", found integer",
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
    assert_eq!(k.action(t, ch('c')), Some(Action::Cordon));
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
            "k.toml:1:1: quit: unknown context \"quit\" (actions go in a section: [global], [table], [detail], [dialog], [wizard], [ceph], [pods], [storage], [overview], [members], [network], [workloads], [resources])"
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
    for a in Action::all() {
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
