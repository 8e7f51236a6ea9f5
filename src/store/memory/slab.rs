//! `Slab`: values at small integer slots, in fixed-size chunks that never move.

/// Slots per chunk. A chunk is allocated once, full size, and never grows, so adding a value
/// never copies the others (a `Vec` doubling at a million records would copy them all under
/// the write lock).
const CHUNK: usize = 4096;

/// Values at `u32` slots; a freed slot is reused by the next insert.
#[derive(Debug)]
pub(super) struct Slab<T> {
    chunks: Vec<Vec<Option<T>>>,
    free: Vec<u32>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Self {
            chunks: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Slab<T> {
    /// How many values are stored.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Store `value`; returns its slot.
    ///
    /// # Panics
    /// Past `u32::MAX` values, far beyond what fits in memory.
    pub(super) fn insert(&mut self, value: T) -> u32 {
        self.len += 1;
        if let Some(slot) = self.free.pop() {
            let (chunk, at) = split(slot);
            self.chunks[chunk][at] = Some(value);
            return slot;
        }
        if self.chunks.last().is_none_or(|chunk| chunk.len() == CHUNK) {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        let chunk_index = self.chunks.len() - 1;
        let chunk = &mut self.chunks[chunk_index];
        let slot = chunk_index * CHUNK + chunk.len();
        chunk.push(Some(value));
        u32::try_from(slot).expect("fewer than 2^32 slots")
    }

    /// The value at `slot`, if any.
    pub(super) fn get(&self, slot: u32) -> Option<&T> {
        let (chunk, at) = split(slot);
        self.chunks.get(chunk)?.get(at)?.as_ref()
    }

    /// The value at `slot`, if any, to change.
    pub(super) fn get_mut(&mut self, slot: u32) -> Option<&mut T> {
        let (chunk, at) = split(slot);
        self.chunks.get_mut(chunk)?.get_mut(at)?.as_mut()
    }

    /// Take the value out of `slot`, freeing it.
    pub(super) fn remove(&mut self, slot: u32) -> Option<T> {
        let (chunk, at) = split(slot);
        let value = self.chunks.get_mut(chunk)?.get_mut(at)?.take()?;
        self.len -= 1;
        self.free.push(slot);
        Some(value)
    }

    /// Every stored value.
    #[cfg(test)]
    pub(super) fn values(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flatten().flatten()
    }
}

fn split(slot: u32) -> (usize, usize) {
    let slot = slot as usize;
    (slot / CHUNK, slot % CHUNK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_stable_and_freed_ones_are_reused() {
        let mut slab = Slab::default();
        let slots: Vec<u32> = (0..CHUNK as u32 + 10).map(|n| slab.insert(n)).collect();
        assert_eq!(slab.get(slots[CHUNK + 3]), Some(&(CHUNK as u32 + 3)));
        assert_eq!(slab.remove(slots[5]), Some(5));
        assert_eq!(slab.remove(slots[5]), None);
        assert_eq!(slab.get(slots[5]), None);
        assert_eq!(slab.len(), CHUNK + 9);
        let reused = slab.insert(99);
        assert_eq!(reused, slots[5]);
        *slab.get_mut(reused).expect("stored") += 1;
        assert_eq!(slab.get(reused), Some(&100));
        assert_eq!(slab.values().count(), CHUNK + 10);
        assert_eq!(slab.get(u32::MAX), None);
    }
}
