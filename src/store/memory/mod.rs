//! `MemoryStore`: sessions as compact records in process memory, with ordered indexes for
//! listing, expiry and retention.
//!
//! - [`record`]: a session as kept (user id as a slot, text fields in one allocation, the
//!   JSON documents as text), a few hundred bytes less than a `Session`.
//! - [`slab`]: the records, at `u32` slots in chunks that never move.
//! - [`sharded`]: hash maps in 64 shards, so no insert rehashes more than a small one.
//! - [`users`]: each user id once, with that user's sessions in listing order.
//! - [`inner`]: all of it together, and the indexes.

mod inner;
mod record;
mod sharded;
mod slab;
mod users;

use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Closing, SessionStore, StoreError};
use crate::model::{
    Admission, CloseReason, Closed, Cutoffs, LimitPolicy, Page, PageRequest, Session,
    SessionChange, SessionCounts, SessionFilter, SessionId, TokenHash, UserLimit,
};
use inner::Inner;

/// Most sessions closed under one hold of the write lock by `close_expired`.
const BATCH: usize = 256;

/// Longest hold of the write lock by one batch of `close_expired`: a batch stops early when
/// it takes longer (a loaded machine), so readers never wait behind it for more than this
/// and one close.
const BATCH_TIME: Duration = Duration::from_millis(1);

/// Keeps sessions in process memory; they are lost when the process stops.
///
/// Lookups by id are hash lookups. Listings walk an ordered index (the open or the closed
/// sessions, of every user or of the one the filter names), so they never sort and never
/// scan other users' sessions; time bounds become a range of that index. Expiry reads
/// indexes of open sessions only, and retention one of closed sessions only, so neither
/// grows with the other kind.
#[derive(Debug, Default)]
pub struct MemoryStore {
    // A std lock on purpose: every critical section is short, synchronous, and never held
    // across an `.await`; readers (get, list) far outnumber writers. Bulk work takes it a
    // batch at a time and yields the thread between batches.
    inner: RwLock<Inner>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    // A panic cannot leave `Inner` half-updated in a way later calls would trip on (every
    // section below either finishes or changes nothing), so a poisoned lock is still usable.
    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    fn kind(&self) -> &'static str {
        "memory"
    }

    async fn insert(&self, session: &Session) -> Result<(), StoreError> {
        self.write().insert(session)
    }

    async fn insert_limited(
        &self,
        session: &Session,
        limit: UserLimit,
        cutoffs: Cutoffs,
    ) -> Result<Admission, StoreError> {
        let now = session.open_time;
        let mut inner = self.write();
        let mut open = Vec::new();
        let mut expired = Vec::new();
        for id in inner.open_of(&session.user_id) {
            match inner.record(&id).and_then(|r| r.expired(&cutoffs)) {
                Some(reason) => {
                    inner.close(&id, now, reason);
                    let user_id = session.user_id.clone();
                    expired.push(Closed {
                        id,
                        user_id,
                        reason,
                    });
                }
                None => open.push(id),
            }
        }
        if open.len() >= limit.max && limit.policy == LimitPolicy::Deny {
            return Ok(Admission::Denied { expired });
        }
        let excess = (open.len() + 1).saturating_sub(limit.max);
        let mut oldest: Vec<(DateTime<Utc>, SessionId)> = open
            .iter()
            .filter_map(|id| inner.record(id).map(|r| (r.request_time, r.id)))
            .collect();
        oldest.sort_unstable();
        let evicted: Vec<SessionId> = oldest.into_iter().take(excess).map(|(_, id)| id).collect();
        inner.insert(session)?;
        for id in &evicted {
            inner.close(id, now, CloseReason::Evicted);
        }
        Ok(Admission::Opened { evicted, expired })
    }

    async fn get(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        self.read().session(id)
    }

    async fn list(
        &self,
        filter: &SessionFilter,
        page: &PageRequest,
    ) -> Result<Page<Session>, StoreError> {
        let inner = self.read();
        if let Some(id) = filter.id {
            // One candidate at most: no index walk needed.
            let found = inner.session(&id)?.filter(|s| filter.matches(s));
            let total = page.total.then_some(u64::from(found.is_some()));
            let data = found.into_iter().skip(page.skip).take(page.take).collect();
            return Ok(Page { total, data });
        }
        // Every candidate matches (see `candidates`): only the page's own are read.
        let mut candidates = inner.candidates(filter);
        let skipped = candidates.by_ref().take(page.skip).count();
        let mut data = Vec::with_capacity(page.take.min(64));
        for (_, id) in candidates.by_ref().take(page.take) {
            if let Some(session) = inner.session(id)? {
                debug_assert!(filter.matches(&session));
                data.push(session);
            }
        }
        let total = page
            .total
            .then(|| (skipped + data.len() + candidates.count()) as u64);
        Ok(Page { total, data })
    }

    async fn update_open(
        &self,
        id: &SessionId,
        change: SessionChange,
        now: DateTime<Utc>,
        cutoffs: Cutoffs,
    ) -> Result<Option<Session>, StoreError> {
        let mut inner = self.write();
        let open = inner
            .record(id)
            .is_some_and(|r| r.active && r.expired(&cutoffs).is_none());
        if !open {
            return Ok(None);
        }
        inner.modify(id, |r| r.apply(change, now)).transpose()?;
        inner.session(id)
    }

    async fn close(
        &self,
        id: &SessionId,
        now: DateTime<Utc>,
        reason: CloseReason,
        by: &str,
    ) -> Result<Option<Closing>, StoreError> {
        let mut inner = self.write();
        let Some(closed_now) = inner.modify(id, |r| r.close_by(now, reason, by)) else {
            return Ok(None);
        };
        let session = inner.session(id)?;
        Ok(session.map(|session| Closing {
            session,
            closed_now,
        }))
    }

    async fn close_if_expired(
        &self,
        id: &SessionId,
        now: DateTime<Utc>,
        cutoffs: Cutoffs,
    ) -> Result<bool, StoreError> {
        let mut inner = self.write();
        let reason = inner.record(id).and_then(|r| r.expired(&cutoffs));
        Ok(reason.is_some_and(|reason| inner.close(id, now, reason)))
    }

    async fn close_expired(
        &self,
        cutoffs: Cutoffs,
        now: DateTime<Utc>,
    ) -> Result<Vec<Closed>, StoreError> {
        // A batch at a time, yielding between batches, so a large expiry never holds the
        // write lock or the worker thread for long. The indexes hold open sessions only, so
        // each batch costs the same however many sessions are closed.
        let mut closed = Vec::new();
        loop {
            let done = {
                let mut inner = self.write();
                let started = Instant::now();
                let batch = inner.expired_batch(cutoffs, BATCH);
                let mut taken = 0;
                for &(id, reason) in &batch {
                    taken += 1;
                    if inner.close(&id, now, reason)
                        && let Some(record) = inner.record(&id)
                    {
                        let user_id = inner.user_id(record).to_owned();
                        closed.push(Closed {
                            id,
                            user_id,
                            reason,
                        });
                    }
                    if started.elapsed() >= BATCH_TIME {
                        break;
                    }
                }
                batch.len() < BATCH && taken == batch.len()
            };
            if done {
                return Ok(closed);
            }
            tokio::task::yield_now().await;
        }
    }

    async fn close_user(
        &self,
        user_id: &str,
        except: Option<SessionId>,
        now: DateTime<Utc>,
        by: &str,
    ) -> Result<Vec<Closed>, StoreError> {
        // One hold of the write lock: an open of this user happens wholly before or after.
        let mut inner = self.write();
        let mut closed = Vec::new();
        for id in inner.open_of(user_id) {
            if Some(id) != except && inner.close_by(&id, now, CloseReason::Revoked, by) {
                let (user_id, reason) = (user_id.to_owned(), CloseReason::Revoked);
                closed.push(Closed {
                    id,
                    user_id,
                    reason,
                });
            }
        }
        Ok(closed)
    }

    async fn get_by_token(&self, hash: &TokenHash) -> Result<Option<Session>, StoreError> {
        let inner = self.read();
        let Some(&slot) = inner.indexes.tokens.get(hash) else {
            return Ok(None);
        };
        inner
            .records
            .get(slot)
            .map(|record| inner.full(record))
            .transpose()
    }

    async fn set_token(
        &self,
        id: &SessionId,
        hash: &TokenHash,
    ) -> Result<Option<Session>, StoreError> {
        let mut inner = self.write();
        if !inner.record(id).is_some_and(|r| r.active) {
            return Ok(None);
        }
        inner.modify(id, |r| r.set_token(*hash));
        inner.session(id)
    }

    async fn purge_closed(
        &self,
        closed_before: DateTime<Utc>,
        max: usize,
    ) -> Result<u64, StoreError> {
        let mut inner = self.write();
        let ids = inner.purgeable(closed_before, max);
        for id in &ids {
            inner.remove(id);
        }
        Ok(ids.len() as u64)
    }

    async fn delete(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        let mut inner = self.write();
        let Some(session) = inner.session(id)? else {
            return Ok(None);
        };
        inner.remove(id);
        Ok(Some(session))
    }

    async fn counts(&self) -> Result<SessionCounts, StoreError> {
        let inner = self.read();
        Ok(SessionCounts {
            active: inner.indexes.active,
            total: inner.records.len() as u64,
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests;
