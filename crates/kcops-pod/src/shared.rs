//! Values that many pods hold the same copy of, interned so 150,000 pods that run on
//! 1,000 nodes hold 1,000 copies, not 150,000: a string ([`Shared`]: a node's name, an
//! image, a namespace, an owner's kind) or a whole list ([`SharedList`]: a workload's
//! containers, a ReplicaSet's owner reference).

use std::borrow::Borrow;
use std::collections::HashSet;
use std::fmt;
use std::hash::Hash;
use std::ops::Deref;
use std::sync::{Arc, Mutex, OnceLock};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An interned string: reads like `&str`, costs 16 bytes and no allocation of its own
/// when its value was seen before. A value no one holds any more is dropped from the
/// table when it has doubled since its last sweep (owners and nodes come and go).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Shared(Arc<str>);

/// The values of one interned type.
pub struct Table<V: ?Sized> {
    values: HashSet<Arc<V>>,
    /// Its size after the last sweep.
    swept: usize,
}

impl<V: ?Sized> Default for Table<V> {
    fn default() -> Self {
        Self {
            values: HashSet::new(),
            swept: 0,
        }
    }
}

/// Values below this many are never swept.
const SWEEP_FLOOR: usize = 1024;

impl<V: ?Sized + Hash + Eq> Table<V> {
    /// The table's copy of `value`, made if it has none.
    fn intern(table: &Mutex<Self>, value: &V) -> Arc<V>
    where
        for<'a> Arc<V>: From<&'a V>,
    {
        // A poisoned table still holds valid values: keep using it.
        let mut t = table.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(a) = t.values.get(value) {
            return a.clone();
        }
        if t.values.len() >= SWEEP_FLOOR.max(2 * t.swept) {
            // Amortised: a sweep of n values comes after n new ones.
            t.values.retain(|a| Arc::strong_count(a) > 1);
            t.swept = t.values.len();
        }
        let a: Arc<V> = Arc::from(value);
        t.values.insert(a.clone());
        a
    }
}

fn table() -> &'static Mutex<Table<str>> {
    static TABLE: OnceLock<Mutex<Table<str>>> = OnceLock::new();
    TABLE.get_or_init(Default::default)
}

impl Shared {
    pub fn new(s: &str) -> Self {
        Self(Table::intern(table(), s))
    }

    /// A copy that is not interned, for a value one object holds and others point at
    /// (a pod's name, which its row and key share): a table entry would only add cost.
    pub fn own(s: &str) -> Self {
        Self(Arc::from(s))
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

impl Borrow<str> for Shared {
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

impl PartialEq<Shared> for str {
    fn eq(&self, other: &Shared) -> bool {
        self == &*other.0
    }
}

impl PartialEq<Shared> for &str {
    fn eq(&self, other: &Shared) -> bool {
        *self == &*other.0
    }
}

impl PartialEq<Shared> for String {
    fn eq(&self, other: &Shared) -> bool {
        self.as_str() == &*other.0
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

/// A type whose lists are interned: each has its own table.
pub trait Interned: Clone + Hash + Eq + Send + Sync + 'static {
    fn lists() -> &'static Mutex<Table<[Self]>>;
}

/// Gives `$t` a table of lists for [`SharedList`].
#[macro_export]
macro_rules! interned_lists {
    ($t:ty) => {
        impl $crate::shared::Interned for $t {
            fn lists() -> &'static ::std::sync::Mutex<$crate::shared::Table<[Self]>> {
                static LISTS: ::std::sync::OnceLock<
                    ::std::sync::Mutex<$crate::shared::Table<[$t]>>,
                > = ::std::sync::OnceLock::new();
                LISTS.get_or_init(Default::default)
            }
        }
    };
}

/// An interned list: reads like a slice, costs 16 bytes and no allocation of its own
/// when an equal list was seen before (every pod of a workload has the same
/// containers; every pod of a ReplicaSet the same owner reference).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SharedList<T: Interned>(Arc<[T]>);

impl<T: Interned> SharedList<T> {
    pub fn new(values: &[T]) -> Self {
        Self(Table::intern(T::lists(), values))
    }
}

impl<T: Interned> Default for SharedList<T> {
    fn default() -> Self {
        Self::new(&[])
    }
}

impl<T: Interned> Deref for SharedList<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<T: Interned> From<Vec<T>> for SharedList<T> {
    fn from(v: Vec<T>) -> Self {
        Self::new(&v)
    }
}

impl<T: Interned> FromIterator<T> for SharedList<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        Self::new(&iter.into_iter().collect::<Vec<_>>())
    }
}

impl<'a, T: Interned> IntoIterator for &'a SharedList<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<T: Interned + fmt::Debug> fmt::Debug for SharedList<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.iter()).finish()
    }
}

impl<T: Interned + Serialize> Serialize for SharedList<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de, T: Interned + Deserialize<'de>> Deserialize<'de> for SharedList<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::<T>::deserialize(d).map(Self::from)
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

    #[derive(Clone, Debug, PartialEq, Eq, Hash, Deserialize, Serialize)]
    struct Item(u32);
    interned_lists!(Item);

    #[test]
    fn equal_lists_share_one_copy_and_read_as_slices() {
        let a: SharedList<Item> = serde_json::from_str("[1, 2]").unwrap();
        let b = SharedList::from(vec![Item(1), Item(2)]);
        assert!(Arc::ptr_eq(&a.0, &b.0), "one copy for both");
        assert_eq!(std::mem::size_of::<Option<SharedList<Item>>>(), 16);
        assert_eq!(&*a, &[Item(1), Item(2)]);
        assert_eq!(serde_json::to_string(&b).unwrap(), "[1,2]");
        assert_ne!(SharedList::from(vec![Item(2), Item(1)]), a);
        assert!(SharedList::<Item>::default().is_empty());
    }
}
