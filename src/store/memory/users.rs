//! `Users`: each user id once, with the indexes of that user's sessions.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::sharded::Sharded;
use super::slab::Slab;
use crate::model::SortKey;

/// The user ids the stored sessions name, each kept once and known by a slot that records
/// hold instead of the id.
#[derive(Debug, Default)]
pub(super) struct Users {
    slots: Sharded<Arc<str>, u32>,
    entries: Slab<User>,
}

/// One user: the id and the user's sessions in listing order, open and closed apart (so the
/// per-user limit and "log out everywhere" read the open ones only).
#[derive(Debug)]
pub(super) struct User {
    pub(super) id: Arc<str>,
    pub(super) open: BTreeSet<SortKey>,
    pub(super) closed: BTreeSet<SortKey>,
}

impl Users {
    /// The slot of user `id`, if any session names it.
    pub(super) fn find(&self, id: &str) -> Option<u32> {
        self.slots.get(id).copied()
    }

    /// The slot of user `id`, made when no session named it yet.
    pub(super) fn intern(&mut self, id: &str) -> u32 {
        if let Some(slot) = self.find(id) {
            return slot;
        }
        let id: Arc<str> = id.into();
        let slot = self.entries.insert(User {
            id: id.clone(),
            open: BTreeSet::new(),
            closed: BTreeSet::new(),
        });
        self.slots.insert(id, slot);
        slot
    }

    /// The user at `slot`.
    pub(super) fn get(&self, slot: u32) -> Option<&User> {
        self.entries.get(slot)
    }

    /// The user at `slot`, to change.
    pub(super) fn get_mut(&mut self, slot: u32) -> Option<&mut User> {
        self.entries.get_mut(slot)
    }

    /// The id of the user at `slot` (empty for a free slot, which no record names).
    pub(super) fn id(&self, slot: u32) -> &str {
        self.get(slot).map_or("", |user| &user.id)
    }

    /// Forget the user at `slot` once no session names it, so deleted users leave nothing.
    pub(super) fn prune(&mut self, slot: u32) {
        let unused = self
            .get(slot)
            .is_some_and(|user| user.open.is_empty() && user.closed.is_empty());
        if unused && let Some(user) = self.entries.remove(slot) {
            self.slots.remove(&*user.id);
        }
    }

    /// Every user, in no particular order.
    #[cfg(test)]
    pub(super) fn iter(&self) -> impl Iterator<Item = &User> {
        self.entries.values()
    }

    /// How many users are known.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        debug_assert_eq!(self.slots.len(), self.entries.len());
        self.entries.len()
    }
}
