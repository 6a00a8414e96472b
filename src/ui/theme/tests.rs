//! Theme parsing, fallbacks and the built-in themes.

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
            "x.toml:10:8: roles.ok.fg: unknown colour \"nope\" (did you mean \"rose\"?)",
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
    let (theme, errors) = Theme::parse("[roles]\nok = \"green\nwarning = \"yellow\"\n", "x.toml");
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

/// The shipped theme's comment promises that a copy may be cut down: a user file
/// can name the default theme's palette entries without defining them, and its own
/// entries shadow them.
#[test]
fn a_user_theme_uses_the_default_palette_names() {
    let (theme, errors) =
        parse("[roles]\ntitle = \"accent\"\nok = { fg = \"leaf\", bg = \"raised\" }\n");
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        theme.style(Role::Title).fg,
        Some(Color::Rgb(0x7a, 0xa2, 0xf7))
    );
    assert_eq!(theme.style(Role::Ok).bg, Some(Color::Rgb(0x1f, 0x23, 0x35)));
    let (theme, errors) = parse("[palette]\naccent = \"red\"\n[roles]\ntitle = \"accent\"\n");
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(theme.style(Role::Title).fg, Some(Color::Red));
    let (_, errors) = parse("[roles]\ntitle = \"acent\"\n");
    assert!(
        errors.iter().any(|e| e.contains("accent")),
        "a near name is suggested: {errors:?}"
    );
}
