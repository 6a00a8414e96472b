//! Reading keymap files: each entry laid over a base keymap, every problem
//! reported with its place, good entries applied even when others are bad.

use toml::Spanned;
use toml::de::{DeString, DeTable, DeValue};

use super::{Action, Context, Key, Keymap};
use crate::ui::config_error::{
    ConfigError, ConfigErrorKind, entries_in_order, line_col, sort_errors, with_suggestion,
};

pub(super) fn parse_onto(
    src: &str,
    file: &str,
    base: &Keymap,
) -> (Option<Keymap>, Vec<ConfigError>) {
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
                let sections: Vec<String> = Context::all().map(|c| format!("[{c}]")).collect();
                format!(
                    "unknown context \"{cname}\" (actions go in a section: {})",
                    sections.join(", ")
                )
            } else {
                with_suggestion(
                    format!("unknown context \"{cname}\""),
                    cname,
                    Context::all().map(Context::name),
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
