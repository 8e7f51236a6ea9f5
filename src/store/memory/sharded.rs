//! `Sharded`: a hash map split into many small ones, so that no insert ever rehashes more
//! than a small part of it.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};

/// log2 of the number of shards.
const SHARD_BITS: u32 = 6;

/// A `HashMap` in `2^SHARD_BITS` shards chosen by the key's hash.
///
/// A `HashMap` grows by rehashing every entry at once: at a million sessions that is tens
/// of milliseconds (more with large values) under the store's write lock, which every
/// request then waits for. Here each shard grows on its own, so the largest step moves
/// 1/64th of the entries, and the shards reach their thresholds at different times.
#[derive(Debug)]
pub(super) struct Sharded<K, V> {
    hasher: RandomState,
    shards: Box<[HashMap<K, V>]>,
}

impl<K, V> Default for Sharded<K, V> {
    fn default() -> Self {
        Self {
            hasher: RandomState::new(),
            shards: (0..1 << SHARD_BITS).map(|_| HashMap::new()).collect(),
        }
    }
}

impl<K: Hash + Eq, V> Sharded<K, V> {
    fn shard<Q: Hash + ?Sized>(&self, key: &Q) -> usize {
        // The top bits: the shard's own map uses its own seed, so they stay independent.
        (self.hasher.hash_one(key) >> (64 - SHARD_BITS)) as usize
    }

    /// The value of `key`, if any.
    pub(super) fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.shards[self.shard(key)].get(key)
    }

    /// Whether `key` has a value.
    pub(super) fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get(key).is_some()
    }

    /// Set the value of `key`; returns the one it replaced.
    pub(super) fn insert(&mut self, key: K, value: V) -> Option<V> {
        let shard = self.shard(&key);
        self.shards[shard].insert(key, value)
    }

    /// Remove `key`; returns its value.
    pub(super) fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let shard = self.shard(key);
        self.shards[shard].remove(key)
    }

    /// How many keys have a value.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.shards.iter().map(HashMap::len).sum()
    }

    /// Every entry, in no particular order.
    #[cfg(test)]
    pub(super) fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.shards.iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_as_one_map() {
        let mut map = Sharded::default();
        for n in 0..10_000u32 {
            assert_eq!(map.insert(n.to_string(), n), None);
        }
        assert_eq!(map.insert("7".to_owned(), 70), Some(7));
        assert_eq!(map.get("7"), Some(&70));
        assert_eq!(map.remove("8"), Some(8));
        assert!(!map.contains_key("8"));
        assert_eq!(map.len(), 9_999);
        assert_eq!(map.iter().count(), 9_999);
        // The keys spread over the shards.
        assert!(map.shards.iter().all(|shard| shard.len() > 50));
    }
}
