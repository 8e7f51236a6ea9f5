//! `Inner`: the records and their indexes, behind the store's lock.

use std::cmp::Reverse;
use std::collections::BTreeSet;
use std::iter::Peekable;
use std::ops::Bound;

use chrono::{DateTime, Utc};

use super::record::{Keys, Record};
use super::sharded::Sharded;
use super::slab::Slab;
use super::users::Users;
use crate::model::{CloseReason, Cutoffs, Session, SessionFilter, SessionId, SortKey, TokenHash};
use crate::store::StoreError;

/// A time and an id, ordered oldest first: the key of the max-lifetime and retention scans.
pub(super) type TimeKey = (DateTime<Utc>, SessionId);

/// The records, where to find each, and the ordered indexes.
#[derive(Debug, Default)]
pub(super) struct Inner {
    pub(super) records: Slab<Record>,
    /// The slot of each session id.
    pub(super) slots: Sharded<SessionId, u32>,
    pub(super) indexes: Indexes,
}

/// Every index holds exactly the current key of each stored record it covers.
///
/// Listings walk `open` or `closed` (both in listing order), or a merge of the two for
/// every session, or the same two sets of one user; expiry reads open sessions only and
/// retention closed ones only, so neither grows with the other kind.
#[derive(Debug, Default)]
pub(super) struct Indexes {
    pub(super) users: Users,
    /// Open sessions in listing order (most recent activity first): listings of open
    /// sessions, and, read from the end, the idle-expiry scan.
    pub(super) open: BTreeSet<SortKey>,
    /// Closed sessions in listing order. A session closed by the store has its last
    /// activity at its close time, so, read from the end, this is the retention scan too.
    pub(super) closed: BTreeSet<SortKey>,
    /// Open sessions by open time: the max-lifetime scan.
    pub(super) open_by_age: BTreeSet<TimeKey>,
    /// Closed sessions whose close time is not their last activity (only inserted so, see
    /// [`Keys::closed_apart`]), by close time: the rest of the retention scan.
    pub(super) closed_apart: BTreeSet<TimeKey>,
    /// The slot of the session holding each token hash.
    pub(super) tokens: Sharded<TokenHash, u32>,
    /// How many sessions are open.
    pub(super) active: u64,
}

impl Indexes {
    fn add(&mut self, slot: u32, keys: &Keys) {
        if let Some(hash) = keys.token_hash {
            self.tokens.insert(hash, slot);
        }
        self.add_listed(keys);
        self.add_aged(keys);
    }

    fn remove(&mut self, keys: &Keys) {
        if let Some(hash) = &keys.token_hash {
            self.tokens.remove(hash);
        }
        self.remove_listed(keys);
        self.remove_aged(keys);
    }

    /// Move a record from its `old` keys to its `new` ones, touching only what changed.
    fn update(&mut self, slot: u32, old: &Keys, new: &Keys) {
        if old.token_hash != new.token_hash {
            if let Some(hash) = &old.token_hash {
                self.tokens.remove(hash);
            }
            if let Some(hash) = new.token_hash {
                self.tokens.insert(hash, slot);
            }
        }
        let listed = |k: &Keys| (k.sort_key(), k.active, k.user, k.closed_apart());
        if listed(old) != listed(new) {
            self.remove_listed(old);
            self.add_listed(new);
        }
        if (old.active, old.open_time) != (new.active, new.open_time) {
            self.remove_aged(old);
            self.add_aged(new);
        }
    }

    fn add_listed(&mut self, keys: &Keys) {
        let key = keys.sort_key();
        let user = self.users.get_mut(keys.user);
        if keys.active {
            self.open.insert(key);
            if let Some(user) = user {
                user.open.insert(key);
            }
            self.active += 1;
        } else {
            self.closed.insert(key);
            if let Some(user) = user {
                user.closed.insert(key);
            }
            if let Some(closed) = keys.closed_apart() {
                self.closed_apart.insert((closed, keys.id));
            }
        }
    }

    fn remove_listed(&mut self, keys: &Keys) {
        let key = keys.sort_key();
        let user = self.users.get_mut(keys.user);
        if keys.active {
            self.open.remove(&key);
            if let Some(user) = user {
                user.open.remove(&key);
            }
            self.active -= 1;
        } else {
            self.closed.remove(&key);
            if let Some(user) = user {
                user.closed.remove(&key);
            }
            if let Some(closed) = keys.closed_apart() {
                self.closed_apart.remove(&(closed, keys.id));
            }
        }
    }

    fn add_aged(&mut self, keys: &Keys) {
        if keys.active {
            self.open_by_age.insert((keys.open_time, keys.id));
        }
    }

    fn remove_aged(&mut self, keys: &Keys) {
        if keys.active {
            self.open_by_age.remove(&(keys.open_time, keys.id));
        }
    }
}

impl Inner {
    /// The record of session `id`.
    pub(super) fn record(&self, id: &SessionId) -> Option<&Record> {
        self.records.get(*self.slots.get(id)?)
    }

    /// The session `id`, as stored.
    pub(super) fn session(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        self.record(id).map(|r| self.full(r)).transpose()
    }

    /// The full session of `record`.
    pub(super) fn full(&self, record: &Record) -> Result<Session, StoreError> {
        record.session(self.indexes.users.id(record.user))
    }

    /// The id of the user of `record`.
    pub(super) fn user_id(&self, record: &Record) -> &str {
        self.indexes.users.id(record.user)
    }

    /// Run `change` on a stored record and keep the indexes in step with it.
    pub(super) fn modify<R>(
        &mut self,
        id: &SessionId,
        change: impl FnOnce(&mut Record) -> R,
    ) -> Option<R> {
        let slot = *self.slots.get(id)?;
        let record = self.records.get_mut(slot)?;
        let old = record.keys();
        let result = change(record);
        let new = record.keys();
        if old != new {
            self.indexes.update(slot, &old, &new);
        }
        Some(result)
    }

    pub(super) fn close(
        &mut self,
        id: &SessionId,
        now: DateTime<Utc>,
        reason: CloseReason,
    ) -> bool {
        self.modify(id, |r| r.close(now, reason)).unwrap_or(false)
    }

    pub(super) fn close_by(
        &mut self,
        id: &SessionId,
        now: DateTime<Utc>,
        reason: CloseReason,
        by: &str,
    ) -> bool {
        self.modify(id, |r| r.close_by(now, reason, by))
            .unwrap_or(false)
    }

    pub(super) fn insert(&mut self, session: &Session) -> Result<(), StoreError> {
        if self.slots.contains_key(&session.id) {
            return Err(StoreError::Duplicate(session.id));
        }
        let user = self.indexes.users.intern(&session.user_id);
        let record = match Record::new(session, user) {
            Ok(record) => record,
            Err(error) => {
                self.indexes.users.prune(user);
                return Err(error);
            }
        };
        let keys = record.keys();
        let slot = self.records.insert(record);
        self.slots.insert(session.id, slot);
        self.indexes.add(slot, &keys);
        Ok(())
    }

    /// Remove session `id` from the store and every index; returns its record.
    pub(super) fn remove(&mut self, id: &SessionId) -> Option<Record> {
        let slot = self.slots.remove(id)?;
        let record = self.records.remove(slot)?;
        self.indexes.remove(&record.keys());
        self.indexes.users.prune(record.user);
        Some(record)
    }

    /// The ids of `user_id`'s open sessions.
    pub(super) fn open_of(&self, user_id: &str) -> Vec<SessionId> {
        let users = &self.indexes.users;
        let Some(user) = users.find(user_id).and_then(|slot| users.get(slot)) else {
            return Vec::new();
        };
        user.open.iter().map(|(_, id)| *id).collect()
    }

    /// Up to `max` open sessions expired at `cutoffs`, with their reasons.
    pub(super) fn expired_batch(
        &self,
        cutoffs: Cutoffs,
        max: usize,
    ) -> Vec<(SessionId, CloseReason)> {
        // Keys sort newest first, so the idle ones (activity before the cutoff) are the tail.
        let idle_tail = (
            Bound::Excluded((Reverse(cutoffs.idle), SessionId::MAX)),
            Bound::Unbounded,
        );
        let idle = self.indexes.open.range(idle_tail).rev();
        let old = cutoffs
            .lifetime
            .map(|cutoff| self.indexes.open_by_age.range(..(cutoff, SessionId::MIN)));
        // The lifetime scan skips what the idle scan covers: when it runs, the idle scan
        // took every idle session without filling the batch.
        let not_idle = |id: &SessionId| {
            self.record(id)
                .is_some_and(|r| r.request_time >= cutoffs.idle)
        };
        idle.map(|(_, id)| id)
            .chain(
                old.into_iter()
                    .flatten()
                    .map(|(_, id)| id)
                    .filter(|id| not_idle(id)),
            )
            .filter_map(|id| Some((*id, self.record(id)?.expired(&cutoffs)?)))
            .take(max)
            .collect()
    }

    /// Up to `max` closed sessions whose close time is before `before`, oldest first.
    pub(super) fn purgeable(&self, before: DateTime<Utc>, max: usize) -> Vec<SessionId> {
        // Ordinary closed sessions: their close time is their last activity, the key's time.
        let ordinary = self
            .indexes
            .closed
            .range((
                Bound::Excluded((Reverse(before), SessionId::MAX)),
                Bound::Unbounded,
            ))
            .rev()
            .filter(|(_, id)| {
                self.record(id)
                    .is_some_and(|r| r.keys().closed_apart().is_none() && r.close_time.is_some())
            })
            .map(|(Reverse(time), id)| (*time, *id));
        let apart = self
            .indexes
            .closed_apart
            .range(..(before, SessionId::MIN))
            .copied();
        let mut due: Vec<TimeKey> = ordinary.take(max).chain(apart.take(max)).collect();
        due.sort_unstable();
        due.into_iter().take(max).map(|(_, id)| id).collect()
    }

    /// The listing keys matching `filter` (all of them: the index choice and the range
    /// cover every condition but `id`), newest first.
    pub(super) fn candidates<'a>(
        &'a self,
        filter: &SessionFilter,
    ) -> Box<dyn Iterator<Item = &'a SortKey> + 'a> {
        let (open, closed) = match &filter.user_id {
            Some(user) => {
                let users = &self.indexes.users;
                match users.find(user).and_then(|slot| users.get(slot)) {
                    Some(user) => (&user.open, &user.closed),
                    None => return Box::new(std::iter::empty()),
                }
            }
            None => (&self.indexes.open, &self.indexes.closed),
        };
        if let (Some(from), Some(to)) = (filter.from_time, filter.to_time)
            && from >= to
        {
            return Box::new(std::iter::empty());
        }
        // Keys sort newest first, so `to_time` (exclusive) bounds the start of the range and
        // `from_time` (inclusive) its end; `SessionId::MAX` places a bound after every id.
        let start = filter.to_time.map_or(Bound::Unbounded, |to| {
            Bound::Excluded((Reverse(to), SessionId::MAX))
        });
        let end = filter.from_time.map_or(Bound::Unbounded, |from| {
            Bound::Included((Reverse(from), SessionId::MAX))
        });
        let range = move |set: &'a BTreeSet<SortKey>| set.range((start, end));
        match filter.active {
            // Open sessions only: never walks the closed ones, however many there are.
            Some(true) => Box::new(range(open)),
            Some(false) => Box::new(range(closed)),
            None => Box::new(Merge {
                a: range(open).peekable(),
                b: range(closed).peekable(),
            }),
        }
    }
}

/// Two ascending iterators as one.
struct Merge<A: Iterator, B: Iterator> {
    a: Peekable<A>,
    b: Peekable<B>,
}

impl<'a, A, B> Iterator for Merge<A, B>
where
    A: Iterator<Item = &'a SortKey>,
    B: Iterator<Item = &'a SortKey>,
{
    type Item = &'a SortKey;

    fn next(&mut self) -> Option<Self::Item> {
        match (self.a.peek(), self.b.peek()) {
            (Some(a), Some(b)) if b < a => self.b.next(),
            (Some(_), _) => self.a.next(),
            (None, _) => self.b.next(),
        }
    }
}
