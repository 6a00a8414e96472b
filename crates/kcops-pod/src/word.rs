//! A short string that is nearly always one of a few well-known words (condition
//! types, `True`/`False`/`Unknown`): the known ones point at a static copy instead
//! of each pod allocating its own.

use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Words kept without an allocation.
const KNOWN: &[&str] = &[
    "",
    "True",
    "False",
    "Unknown",
    "Ready",
    "ContainersReady",
    "Initialized",
    "PodScheduled",
    "PodReadyToStartContainers",
    "DisruptionTarget",
    "Running",
    "Pending",
    "Succeeded",
    "Failed",
    "Always",
    "OnFailure",
    "Never",
];

/// A string that reads like `&str`; well-known values cost no allocation. 16 bytes.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Word(Repr);

/// A known word is only ever held as its index, so equal texts are equal values.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Repr {
    Known(u8),
    Other(Box<str>),
}

impl Word {
    pub fn new(s: &str) -> Self {
        match KNOWN.iter().position(|k| *k == s) {
            Some(i) => Self(Repr::Known(i as u8)),
            None => Self(Repr::Other(s.into())),
        }
    }

    /// Its number among the well-known words, if it is one.
    pub fn known(&self) -> Option<u8> {
        match self.0 {
            Repr::Known(i) => Some(i),
            Repr::Other(_) => None,
        }
    }

    /// The well-known word numbered `i` ([`Word::known`]).
    pub fn known_text(i: u8) -> Option<&'static str> {
        KNOWN.get(usize::from(i)).copied()
    }

    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Known(i) => KNOWN.get(usize::from(*i)).copied().unwrap_or_default(),
            Repr::Other(s) => s,
        }
    }
}

impl Default for Word {
    fn default() -> Self {
        Self(Repr::Known(0))
    }
}

impl Deref for Word {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Word {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for Word {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

impl PartialEq<str> for Word {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Word {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Debug for Word {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Word {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Word {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Word {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Word;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Word, E> {
                Ok(Word::new(v))
            }
        }
        d.deserialize_str(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_words_borrow_and_others_own_and_both_read_as_str() {
        let ready: Word = serde_json::from_str("\"Ready\"").unwrap();
        assert!(matches!(ready.0, Repr::Known(_)));
        let custom: Word = serde_json::from_str("\"example.com/Gate\"").unwrap();
        assert!(matches!(custom.0, Repr::Other(_)));
        assert_eq!(std::mem::size_of::<Word>(), 16);
        assert_eq!(Word::default().as_str(), "");
        assert_eq!((ready.as_str(), &*custom), ("Ready", "example.com/Gate"));
        assert!(ready == "Ready");
        assert_eq!(
            serde_json::to_string(&custom).unwrap(),
            "\"example.com/Gate\""
        );
    }
}
