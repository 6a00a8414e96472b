//! A Secret's values on screen: masked until the operator asks (`x` in the resource
//! browser), with the size of each so an empty or missing value still shows. The
//! last-applied annotation, which holds the whole Secret, goes too.

use base64::Engine;
use serde_json::Value;

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Masks (or, `revealed`, decodes) the values of Secret `object` in place.
pub(crate) fn mask(object: &mut Value, revealed: bool) {
    if let Some(data) = object.get_mut("data").and_then(Value::as_object_mut) {
        for value in data.values_mut() {
            let bytes = value
                .as_str()
                .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                .unwrap_or_default();
            *value = Value::String(if revealed {
                match String::from_utf8(bytes) {
                    Ok(text) => text,
                    Err(e) => format!("<{} bytes, not text>", e.into_bytes().len()),
                }
            } else {
                format!("<masked: {} bytes; x shows the values>", bytes.len())
            });
        }
    }
    if let Some(data) = object.get_mut("stringData").and_then(Value::as_object_mut) {
        for value in data.values_mut() {
            if !revealed {
                let n = value.as_str().map_or(0, str::len);
                *value = Value::String(format!("<masked: {n} bytes; x shows the values>"));
            }
        }
    }
    if let Some(a) = object
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
        && a.contains_key(LAST_APPLIED)
    {
        a.insert(
            LAST_APPLIED.into(),
            Value::String("<left out: it holds the values>".into()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_masked_until_revealed() {
        let secret = serde_json::json!({
            "kind": "Secret",
            "metadata": {"name": "s", "annotations": {LAST_APPLIED: "{\"data\":{\"token\":\"aHVudGVyMg==\"}}"}},
            "data": {"token": "aHVudGVyMg=="},
        });
        let mut masked = secret.clone();
        mask(&mut masked, false);
        let text = masked.to_string();
        assert!(
            !text.contains("aHVudGVyMg") && !text.contains("hunter2"),
            "{text}"
        );
        assert!(text.contains("<masked: 7 bytes"), "{text}");
        let mut shown = secret;
        mask(&mut shown, true);
        assert_eq!(shown["data"]["token"], "hunter2");
        assert!(!shown.to_string().contains("aHVudGVyMg"));
    }
}
