//! A vector shared between copies in chunks: cloning it copies a pointer per chunk,
//! and changing one element copies only that element's chunk.
//!
//! The pod store, every snapshot taken of it and the Pods table's rows hold 150,000
//! pointers each. As plain vectors each change batch copied them all (and touched
//! every pod's reference count, one cache miss each: milliseconds per batch, a large
//! share of a core at 20 changes a second). Chunked, a batch of `k` changes costs
//! `k` chunk copies plus a pointer per chunk, whatever the number of pods.

use std::ops::Index;
use std::sync::Arc;

/// Elements per chunk: a chunk is split in two past twice this, and merged with a
/// neighbour when under a quarter of it.
const CHUNK: usize = 512;

/// A sequence of `T` in shared chunks (see the module doc). Cloning is cheap; a
/// change copies the chunk it lands in when that chunk is shared.
#[derive(Clone)]
pub struct Chunked<T> {
    chunks: Arc<Vec<Arc<Vec<T>>>>,
    /// `starts[i]`: the index of chunk `i`'s first element (shared like the chunks).
    starts: Arc<Vec<usize>>,
    len: usize,
}

impl<T> Default for Chunked<T> {
    fn default() -> Self {
        Self {
            chunks: Arc::default(),
            starts: Arc::default(),
            len: 0,
        }
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Chunked<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<T> Chunked<T> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The chunk holding index `i` (`i < len`) and the index within it.
    fn locate(&self, i: usize) -> (usize, usize) {
        let c = self.starts.partition_point(|s| *s <= i) - 1;
        (c, i - self.starts[c])
    }

    pub fn get(&self, i: usize) -> Option<&T> {
        (i < self.len).then(|| {
            let (c, j) = self.locate(i);
            &self.chunks[c][j]
        })
    }

    pub fn first(&self) -> Option<&T> {
        self.get(0)
    }

    pub fn last(&self) -> Option<&T> {
        self.len.checked_sub(1).and_then(|i| self.get(i))
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &T> + Clone + '_ {
        self.chunks.iter().flat_map(|c| c.iter())
    }

    /// Binary search as [`slice::binary_search_by`], over every chunk.
    pub fn binary_search_by(
        &self,
        mut f: impl FnMut(&T) -> std::cmp::Ordering,
    ) -> Result<usize, usize> {
        use std::cmp::Ordering::Less;
        // The first chunk whose last element is not less than the probe.
        let c = self
            .chunks
            .partition_point(|ch| ch.last().is_some_and(|l| f(l) == Less));
        let Some(chunk) = self.chunks.get(c) else {
            return Err(self.len);
        };
        chunk
            .binary_search_by(f)
            .map(|j| self.starts[c] + j)
            .map_err(|j| self.starts[c] + j)
    }

    /// The chunks, in order: a builder can take over those that did not change
    /// ([`ChunkedBuilder::push_chunk`]).
    pub fn chunks(&self) -> impl Iterator<Item = &Arc<Vec<T>>> + '_ {
        self.chunks.iter()
    }

    /// Each chunk's address: equal addresses are the same, unchanged elements.
    pub fn chunk_ids(&self) -> impl Iterator<Item = *const Vec<T>> + '_ {
        self.chunks.iter().map(Arc::as_ptr)
    }

    fn restart(&mut self) {
        let starts = Arc::make_mut(&mut self.starts);
        starts.clear();
        let mut at = 0;
        for c in self.chunks.iter() {
            starts.push(at);
            at += c.len();
        }
        self.len = at;
    }
}

impl<T: Clone> Chunked<T> {
    /// Replaces element `i` (`i < len`).
    pub fn set(&mut self, i: usize, value: T) {
        *self.get_mut(i) = value;
    }

    /// Element `i` (`i < len`) to change in place; its chunk is copied if shared.
    pub fn get_mut(&mut self, i: usize) -> &mut T {
        let (c, j) = self.locate(i);
        let chunks = Arc::make_mut(&mut self.chunks);
        &mut Arc::make_mut(&mut chunks[c])[j]
    }

    /// Inserts at `i` (`i <= len`), splitting a chunk that grows past twice [`CHUNK`].
    pub fn insert(&mut self, i: usize, value: T) {
        assert!(i <= self.len, "insert at {i} past the end ({})", self.len);
        let chunks = Arc::make_mut(&mut self.chunks);
        if chunks.is_empty() {
            chunks.push(Arc::new(Vec::with_capacity(CHUNK)));
        }
        // At the end: the last chunk; else the chunk holding `i`.
        let (c, j) = if i == self.len {
            let c = chunks.len() - 1;
            (c, chunks[c].len())
        } else {
            let c = self.starts.partition_point(|s| *s <= i) - 1;
            (c, i - self.starts[c])
        };
        let chunk = Arc::make_mut(&mut chunks[c]);
        chunk.insert(j, value);
        if chunk.len() > 2 * CHUNK {
            let tail = chunk.split_off(CHUNK);
            chunks.insert(c + 1, Arc::new(tail));
        }
        self.restart();
    }

    /// Removes and returns element `i` (`i < len`); an emptied chunk goes, a small one
    /// joins its neighbour.
    pub fn remove(&mut self, i: usize) -> T {
        let (c, j) = self.locate(i);
        let chunks = Arc::make_mut(&mut self.chunks);
        let chunk = Arc::make_mut(&mut chunks[c]);
        let out = chunk.remove(j);
        if chunk.is_empty() {
            chunks.remove(c);
        } else if chunk.len() < CHUNK / 4 && c + 1 < chunks.len() {
            let next = chunks.remove(c + 1);
            let chunk = Arc::make_mut(&mut chunks[c]);
            chunk.extend(next.iter().cloned());
        }
        self.restart();
        out
    }

    pub fn push(&mut self, value: T) {
        self.insert(self.len, value);
    }

    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// The elements as one vector.
    pub fn to_vec(&self) -> Vec<T> {
        self.iter().cloned().collect()
    }

    /// Keeps the elements `keep` says yes to (a whole rebuild: for tests).
    pub fn retain(&mut self, keep: impl FnMut(&T) -> bool) {
        let mut v = self.to_vec();
        v.retain(keep);
        *self = v.into();
    }

    /// Sorts (a whole rebuild: for tests and the rare unsorted first list).
    pub fn sort_by_key<K: Ord>(&mut self, f: impl FnMut(&T) -> K) {
        let mut v = self.to_vec();
        v.sort_by_key(f);
        *self = v.into();
    }
}

impl<T> Chunked<T> {
    fn of_chunks(chunks: Vec<Arc<Vec<T>>>) -> Self {
        let mut out = Self {
            chunks: Arc::new(chunks),
            starts: Arc::default(),
            len: 0,
        };
        out.restart();
        out
    }
}

/// Makes a [`Chunked`] element by element, straight into its chunks: a whole vector
/// first would be held beside the chunks it is copied into (at 150,000 pod entries,
/// 7 MiB more at the peak).
pub struct ChunkedBuilder<T> {
    full: Vec<Arc<Vec<T>>>,
    open: Vec<T>,
}

impl<T> Default for ChunkedBuilder<T> {
    fn default() -> Self {
        Self {
            full: Vec::new(),
            open: Vec::new(),
        }
    }
}

impl<T> ChunkedBuilder<T> {
    pub fn push(&mut self, value: T) {
        if self.open.len() == CHUNK {
            let full = std::mem::replace(&mut self.open, Vec::with_capacity(CHUNK));
            self.full.push(Arc::new(full));
        } else if self.open.capacity() == 0 {
            self.open.reserve_exact(CHUNK);
        }
        self.open.push(value);
    }

    /// Appends a whole chunk of another [`Chunked`], shared rather than copied (an
    /// element pushed before it ends a chunk of its own).
    pub fn push_chunk(&mut self, chunk: Arc<Vec<T>>) {
        if !self.open.is_empty() {
            let open = std::mem::take(&mut self.open);
            self.full.push(Arc::new(open));
        }
        if !chunk.is_empty() {
            self.full.push(chunk);
        }
    }

    pub fn finish(mut self) -> Chunked<T> {
        if !self.open.is_empty() {
            self.open.shrink_to_fit();
            self.full.push(Arc::new(self.open));
        }
        Chunked::of_chunks(self.full)
    }
}

impl<T> From<Vec<T>> for Chunked<T> {
    fn from(v: Vec<T>) -> Self {
        v.into_iter().collect()
    }
}

impl<T> FromIterator<T> for Chunked<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        let mut out = ChunkedBuilder::default();
        for value in iter {
            out.push(value);
        }
        out.finish()
    }
}

impl<T: Clone> std::ops::IndexMut<usize> for Chunked<T> {
    fn index_mut(&mut self, i: usize) -> &mut T {
        assert!(
            i < self.len,
            "index {i} out of range for {} elements",
            self.len
        );
        self.get_mut(i)
    }
}

impl<T> Index<usize> for Chunked<T> {
    type Output = T;

    fn index(&self, i: usize) -> &T {
        match self.get(i) {
            Some(v) => v,
            None => panic!("index {i} out of range for {} elements", self.len),
        }
    }
}

impl<'a, T> IntoIterator for &'a Chunked<T> {
    type Item = &'a T;
    type IntoIter = std::iter::FlatMap<
        std::slice::Iter<'a, Arc<Vec<T>>>,
        std::slice::Iter<'a, T>,
        fn(&'a Arc<Vec<T>>) -> std::slice::Iter<'a, T>,
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.chunks.iter().flat_map(|c| c.iter())
    }
}

impl<T: PartialEq> PartialEq for Chunked<T> {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every operation agrees with a plain vector, across chunk splits and merges.
    #[test]
    fn behaves_as_a_vector() {
        let mut v: Vec<u32> = (0..3000).collect();
        let mut c: Chunked<u32> = v.clone().into();
        let mut seed = 7u64;
        let mut next = |n: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize % n.max(1)
        };
        for round in 0..6000u32 {
            match next(3) {
                0 => {
                    let i = next(v.len() + 1);
                    v.insert(i, round);
                    c.insert(i, round);
                }
                1 if !v.is_empty() => {
                    let i = next(v.len());
                    assert_eq!(v.remove(i), c.remove(i));
                }
                _ if !v.is_empty() => {
                    let i = next(v.len());
                    v[i] = round + 1_000_000;
                    c.set(i, round + 1_000_000);
                }
                _ => {}
            }
            assert_eq!(c.len(), v.len());
        }
        assert_eq!(c.to_vec(), v);
        assert_eq!(
            c.iter().rev().copied().collect::<Vec<_>>(),
            v.iter().rev().copied().collect::<Vec<_>>()
        );
        for i in (0..v.len()).step_by(97) {
            assert_eq!(c[i], v[i]);
            assert_eq!(c.get(i), v.get(i));
        }
        assert_eq!(c.get(v.len()), None);
        assert_eq!(c.first(), v.first());
        assert_eq!(c.last(), v.last());
    }

    #[test]
    fn searches_as_a_sorted_slice() {
        let v: Vec<u32> = (0..5000).map(|i| i * 2).collect();
        let c: Chunked<u32> = v.clone().into();
        for probe in [0, 1, 2, 1023, 1024, 1025, 5000, 9998, 9999, 20000] {
            assert_eq!(
                c.binary_search_by(|x| x.cmp(&probe)),
                v.binary_search_by(|x| x.cmp(&probe)),
                "{probe}"
            );
        }
        let empty: Chunked<u32> = Chunked::default();
        assert_eq!(empty.binary_search_by(|x| x.cmp(&3)), Err(0));
    }

    /// A change copies one chunk: the other chunks stay shared with the old copy.
    #[test]
    fn a_change_copies_one_chunk() {
        let a: Chunked<u32> = (0..10 * CHUNK as u32).collect();
        let mut b = a.clone();
        b.set(3 * CHUNK + 1, 0);
        let (ia, ib): (Vec<_>, Vec<_>) = (a.chunk_ids().collect(), b.chunk_ids().collect());
        let shared = ia.iter().zip(&ib).filter(|(x, y)| x == y).count();
        assert_eq!(shared, ia.len() - 1);
        assert_eq!(
            a[3 * CHUNK + 1],
            3 * CHUNK as u32 + 1,
            "the old copy is unchanged"
        );
    }

    /// A builder takes over whole chunks, shared, between elements of its own.
    #[test]
    fn a_builder_shares_the_chunks_it_is_given() {
        let a: Chunked<u32> = (0..3 * CHUNK as u32).collect();
        let mut b = ChunkedBuilder::default();
        b.push(7);
        for chunk in a.chunks() {
            b.push_chunk(chunk.clone());
        }
        b.push(8);
        let b = b.finish();
        let want: Vec<u32> = std::iter::once(7)
            .chain(0..3 * CHUNK as u32)
            .chain(std::iter::once(8))
            .collect();
        assert_eq!(b.to_vec(), want);
        assert_eq!(b[CHUNK + 1], CHUNK as u32);
        let ids: Vec<_> = b.chunk_ids().collect();
        assert!(a.chunk_ids().all(|id| ids.contains(&id)));
    }
}
