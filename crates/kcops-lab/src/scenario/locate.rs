//! Field paths and locating them in the YAML text, so an error can name its line.

#[allow(unused_imports)]
use super::*;

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Seg {
    Key(String),
    Index(usize),
}

pub(super) fn key(k: &str) -> Seg {
    Seg::Key(k.to_string())
}

/// `nodes[1].host.files["/run/flannel/subnet.env"]`: keys that are not plain words are
/// quoted so the path stays readable and unambiguous.
pub(super) fn path_string(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
            Seg::Key(k) => {
                let plain = !k.is_empty()
                    && k.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                if !plain {
                    out.push_str(&format!("[{k:?}]"));
                } else {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(k);
                }
            }
        }
    }
    out
}

pub(super) fn path_from_serde(path: &serde_path_to_error::Path) -> String {
    let segs: Vec<Seg> = path
        .iter()
        .filter_map(|seg| match seg {
            serde_path_to_error::Segment::Seq { index } => Some(Seg::Index(*index)),
            serde_path_to_error::Segment::Map { key } => Some(Seg::Key(key.clone())),
            serde_path_to_error::Segment::Enum { variant } => Some(Seg::Key(variant.clone())),
            _ => None,
        })
        .collect();
    path_string(&segs)
}

/// Where `path` is in `text` (1-based line and column of its key, or of the sequence
/// item it ends with); if it is absent (a defaulted field), where its nearest present
/// parent is; the document start at worst.
pub(super) fn locate_best(text: &str, path: &[Seg]) -> (usize, usize) {
    (0..=path.len())
        .rev()
        .find_map(|len| path.get(..len).and_then(|p| locate(text, p)))
        .unwrap_or((1, 1))
}

/// The marker the locator's deliberate error carries.
pub(super) const LOCATED: &str = "kcops-scenario-locator: found";

/// Finds `path` by deserializing `text` again with a visitor that walks only along
/// the path and fails on purpose when it reaches the end: serde_yaml_ng stamps the
/// error with the position of the YAML node being read, which is exactly where the
/// field is, whatever the style (block, flow, quoted keys).
pub(super) fn locate(text: &str, path: &[Seg]) -> Option<(usize, usize)> {
    if path.is_empty() {
        return None;
    }
    let de = serde_yaml_ng::Deserializer::from_str(text);
    match (Locate { path }).deserialize(de) {
        Ok(()) => None,
        Err(err) if err.to_string().contains(LOCATED) => {
            err.location().map(|l| (l.line(), l.column()))
        }
        Err(_) => None,
    }
}

pub(super) struct Locate<'a> {
    path: &'a [Seg],
}

impl<'de> DeserializeSeed<'de> for Locate<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Locate<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        self.deserialize(d)
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        self.deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let target = match self.path.split_first() {
            Some((Seg::Index(i), rest)) => Some((*i, rest)),
            _ => None,
        };
        let mut index = 0;
        loop {
            let more = match target {
                Some((i, rest)) if i == index && rest.is_empty() => {
                    seq.next_element_seed(Fail)?.is_some()
                }
                Some((i, rest)) if i == index => {
                    seq.next_element_seed(Locate { path: rest })?.is_some()
                }
                _ => seq.next_element::<IgnoredAny>()?.is_some(),
            };
            if !more {
                return Ok(());
            }
            index += 1;
        }
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let target = match self.path.split_first() {
            Some((Seg::Key(k), rest)) => Some((k.as_str(), rest)),
            _ => None,
        };
        let seed = || LocateKey {
            want: target.map(|(k, rest)| (k, rest.is_empty())),
        };
        while let Some(hit) = map.next_key_seed(seed())? {
            match target {
                Some((_, rest)) if hit => map.next_value_seed(Locate { path: rest })?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// Reads a mapping key; fails (on purpose, at the key's position) when it is the last
/// step of the path, else says whether it is the step wanted.
pub(super) struct LocateKey<'a> {
    want: Option<(&'a str, bool)>,
}

impl LocateKey<'_> {
    fn check<E: de::Error>(self, k: &str) -> Result<bool, E> {
        match self.want {
            Some((want, true)) if want == k => Err(E::custom(LOCATED)),
            Some((want, false)) => Ok(want == k),
            _ => Ok(false),
        }
    }
}

impl<'de> DeserializeSeed<'de> for LocateKey<'_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for LocateKey<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a mapping key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        self.check(v)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
        self.check(&v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<bool, E> {
        self.check(&v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<bool, E> {
        self.check(&v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<bool, E> {
        self.check(&v.to_string())
    }
    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(false)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(false)
    }
}

/// Fails on whatever value it is given, so the error carries that value's position.
pub(super) struct Fail;

impl<'de> DeserializeSeed<'de> for Fail {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl Visitor<'_> for Fail {
    type Value = ();
    // Every visit_* method keeps its default, which returns an error naming this.
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(LOCATED)
    }
}
