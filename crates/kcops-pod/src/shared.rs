//! A string that many pods hold the same value of (a node's name, an image, a
//! container's name, a namespace, an owner's kind): interned, so 150,000 pods that
//! run on 1,000 nodes hold 1,000 copies of the node names, not 150,000.

use std::collections::HashSet;
use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, Mutex, OnceLock};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An interned string: reads like `&str`, costs 16 bytes and no allocation of its own
/// when its value was seen before. A value no one holds any more is dropped from the
/// table when it has doubled since its last sweep (owners and nodes come and go).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Shared(Arc<str>);

#[derive(Default)]
struct Table {
    values: HashSet<Arc<str>>,
    /// Its size after the last sweep.
    swept: usize,
}

/// Values below this many are never swept.
const SWEEP_FLOOR: usize = 1024;

fn table() -> &'static Mutex<Table> {
    static TABLE: OnceLock<Mutex<Table>> = OnceLock::new();
    TABLE.get_or_init(Default::default)
}

impl Shared {
    pub fn new(s: &str) -> Self {
        // A poisoned table still holds valid strings: keep using it.
        let mut t = table().lock().unwrap_or_else(|e| e.into_inner());
        if let Some(a) = t.values.get(s) {
            return Self(a.clone());
        }
        if t.values.len() >= SWEEP_FLOOR.max(2 * t.swept) {
            // Amortised: a sweep of n values comes after n new ones.
            t.values.retain(|a| Arc::strong_count(a) > 1);
            t.swept = t.values.len();
        }
        let a: Arc<str> = Arc::from(s);
        t.values.insert(a.clone());
        Self(a)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Shared {
    fn default() -> Self {
        Self::new("")
    }
}

impl Deref for Shared {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Shared {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Shared {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Shared {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

impl From<String> for Shared {
    fn from(s: String) -> Self {
        Self::new(&s)
    }
}

impl From<Shared> for String {
    fn from(s: Shared) -> Self {
        s.0.to_string()
    }
}

impl PartialEq<str> for Shared {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for Shared {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl PartialEq<String> for Shared {
    fn eq(&self, other: &String) -> bool {
        &*self.0 == other.as_str()
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Shared {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Shared {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Shared;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Shared, E> {
                Ok(Shared::new(v))
            }
        }
        d.deserialize_str(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_share_one_copy_and_read_as_str() {
        let a: Shared = serde_json::from_str("\"synth-node-00042\"").unwrap();
        let b = Shared::new("synth-node-00042");
        assert!(Arc::ptr_eq(&a.0, &b.0), "one copy for both");
        assert_eq!(std::mem::size_of::<Shared>(), 16);
        assert_eq!(std::mem::size_of::<Option<Shared>>(), 16);
        assert!(a == "synth-node-00042" && &*b == "synth-node-00042");
        assert_eq!(serde_json::to_string(&a).unwrap(), "\"synth-node-00042\"");
        assert_ne!(Shared::new("other"), a);
    }

    #[test]
    fn values_no_one_holds_are_swept() {
        let kept = Shared::new("kept-by-a-pod");
        for i in 0..4 * SWEEP_FLOOR {
            let _ = Shared::new(&format!("gone-{i}"));
        }
        let t = table().lock().unwrap();
        assert!(
            t.values.len() < 3 * SWEEP_FLOOR,
            "{} values",
            t.values.len()
        );
        assert!(t.values.contains("kept-by-a-pod"));
        drop(t);
        assert_eq!(kept, "kept-by-a-pod");
    }
}
