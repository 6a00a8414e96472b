//! Parts of a view kept from one derivation to the next while what they are made of
//! is the same objects: pod churn (up to 20 views a second) must not remake the
//! Events, PVC or Workloads tables, whose objects did not change.

use std::sync::Arc;

use crate::model::chunked::Chunked;

/// What a part of the view is made of, compared by identity: the stores replace an
/// object that changed with a new `Arc`, so the same objects in the same order mean
/// the same content. The `Arc`s are held, so no address is reused while compared.
pub(crate) trait Inputs {
    fn same(&self, other: &Self) -> bool;
}

impl<T> Inputs for Vec<Arc<T>> {
    fn same(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().zip(other).all(|(a, b)| Arc::ptr_eq(a, b))
    }
}

impl<T> Inputs for Chunked<Arc<T>> {
    fn same(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().zip(other).all(|(a, b)| Arc::ptr_eq(a, b))
    }
}

impl<A: Inputs, B: Inputs> Inputs for (A, B) {
    fn same(&self, other: &Self) -> bool {
        self.0.same(&other.0) && self.1.same(&other.1)
    }
}

impl<A: Inputs, B: Inputs, C: Inputs> Inputs for (A, B, C) {
    fn same(&self, other: &Self) -> bool {
        self.0.same(&other.0) && self.1.same(&other.1) && self.2.same(&other.2)
    }
}

/// A value kept with the inputs it was made from.
#[derive(Debug)]
pub(crate) struct Memo<I, V> {
    made: Option<(I, V)>,
}

impl<I, V> Default for Memo<I, V> {
    fn default() -> Self {
        Self { made: None }
    }
}

impl<I: Inputs, V: Clone> Memo<I, V> {
    /// The value made from `inputs`: the kept one while they are the same objects,
    /// else `make`'s (then kept).
    pub(crate) fn get(&mut self, inputs: I, make: impl FnOnce() -> V) -> V {
        match &self.made {
            Some((kept, value)) if kept.same(&inputs) => value.clone(),
            _ => {
                let value = make();
                self.made = Some((inputs, value.clone()));
                value
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_again_only_when_an_object_is_replaced() {
        let (a, b) = (Arc::new(1), Arc::new(2));
        let mut memo: Memo<Vec<Arc<i32>>, i32> = Memo::default();
        let mut made = 0;
        let mut get = |inputs: Vec<Arc<i32>>| {
            memo.get(inputs.clone(), || {
                made += 1;
                inputs.iter().map(|i| **i).sum()
            })
        };
        assert_eq!(get(vec![a.clone(), b.clone()]), 3);
        assert_eq!(get(vec![a.clone(), b.clone()]), 3);
        // An equal value in a new object is a change (the stores replace what changed).
        assert_eq!(get(vec![a.clone(), Arc::new(2)]), 3);
        assert_eq!(get(vec![b.clone(), a.clone()]), 3, "another order");
        assert_eq!(get(vec![a.clone()]), 1, "one gone");
        assert_eq!(made, 4);
    }

    #[test]
    fn a_tuple_is_the_same_only_when_every_part_is() {
        let (a, b) = (Arc::new("a"), Arc::new("b"));
        let one = (vec![a.clone()], vec![b.clone()]);
        assert!(one.same(&(vec![a.clone()], vec![b.clone()])));
        assert!(!one.same(&(vec![a.clone()], vec![Arc::new("b")])));
        assert!(!one.same(&(vec![a.clone()], Vec::new())));
    }
}
