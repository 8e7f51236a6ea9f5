//! `InstrumentedStore`: any store, with the time and the failures of each operation recorded
//! as metrics (`sessions_store_operation_duration_seconds`, `sessions_store_errors_total`).

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Closing, SessionStore, StoreError};
use crate::metrics::StoreMetrics;
use crate::model::{
    Admission, CloseReason, Closed, Cutoffs, Page, PageRequest, Session, SessionChange,
    SessionCounts, SessionFilter, SessionId, TokenHash, UserLimit,
};

/// Wraps a store and records each operation's duration and failures, labelled with the
/// store's kind and the operation's name. Its series exist from construction, at zero.
#[derive(Debug)]
pub struct InstrumentedStore {
    inner: Arc<dyn SessionStore>,
    // One set of handles per operation, registered once: recording is then an atomic add,
    // with no lookup by name and labels on the request path.
    insert: StoreMetrics,
    insert_limited: StoreMetrics,
    get: StoreMetrics,
    list: StoreMetrics,
    update_open: StoreMetrics,
    close: StoreMetrics,
    close_if_expired: StoreMetrics,
    close_expired: StoreMetrics,
    close_user: StoreMetrics,
    get_by_token: StoreMetrics,
    set_token: StoreMetrics,
    purge_closed: StoreMetrics,
    delete: StoreMetrics,
    counts: StoreMetrics,
    ping: StoreMetrics,
}

impl InstrumentedStore {
    /// Record the operations of `inner`.
    pub fn new(inner: Arc<dyn SessionStore>) -> Self {
        let kind = inner.kind();
        let metrics = |operation| StoreMetrics::new(kind, operation);
        Self {
            insert: metrics("insert"),
            insert_limited: metrics("insert_limited"),
            get: metrics("get"),
            list: metrics("list"),
            update_open: metrics("update_open"),
            close: metrics("close"),
            close_if_expired: metrics("close_if_expired"),
            close_expired: metrics("close_expired"),
            close_user: metrics("close_user"),
            get_by_token: metrics("get_by_token"),
            set_token: metrics("set_token"),
            purge_closed: metrics("purge_closed"),
            delete: metrics("delete"),
            counts: metrics("counts"),
            ping: metrics("ping"),
            inner,
        }
    }
}

/// Run `operation`, recording its duration and whether it failed in `metrics`.
async fn timed<T>(
    metrics: &StoreMetrics,
    operation: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    let started = Instant::now();
    let result = operation.await;
    metrics.record(started.elapsed(), result.is_ok());
    result
}

#[async_trait]
impl SessionStore for InstrumentedStore {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    async fn insert(&self, session: &Session) -> Result<(), StoreError> {
        timed(&self.insert, self.inner.insert(session)).await
    }

    async fn insert_limited(
        &self,
        session: &Session,
        limit: UserLimit,
        cutoffs: Cutoffs,
    ) -> Result<Admission, StoreError> {
        let operation = self.inner.insert_limited(session, limit, cutoffs);
        timed(&self.insert_limited, operation).await
    }

    async fn get(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        timed(&self.get, self.inner.get(id)).await
    }

    async fn list(
        &self,
        filter: &SessionFilter,
        page: &PageRequest,
    ) -> Result<Page<Session>, StoreError> {
        timed(&self.list, self.inner.list(filter, page)).await
    }

    async fn update_open(
        &self,
        id: &SessionId,
        change: SessionChange,
        now: DateTime<Utc>,
        cutoffs: Cutoffs,
    ) -> Result<Option<Session>, StoreError> {
        let operation = self.inner.update_open(id, change, now, cutoffs);
        timed(&self.update_open, operation).await
    }

    async fn close(
        &self,
        id: &SessionId,
        now: DateTime<Utc>,
        reason: CloseReason,
        by: &str,
    ) -> Result<Option<Closing>, StoreError> {
        timed(&self.close, self.inner.close(id, now, reason, by)).await
    }

    async fn close_if_expired(
        &self,
        id: &SessionId,
        now: DateTime<Utc>,
        cutoffs: Cutoffs,
    ) -> Result<bool, StoreError> {
        let operation = self.inner.close_if_expired(id, now, cutoffs);
        timed(&self.close_if_expired, operation).await
    }

    async fn close_expired(
        &self,
        cutoffs: Cutoffs,
        now: DateTime<Utc>,
    ) -> Result<Vec<Closed>, StoreError> {
        timed(&self.close_expired, self.inner.close_expired(cutoffs, now)).await
    }

    async fn close_user(
        &self,
        user_id: &str,
        except: Option<SessionId>,
        now: DateTime<Utc>,
        by: &str,
    ) -> Result<Vec<Closed>, StoreError> {
        let operation = self.inner.close_user(user_id, except, now, by);
        timed(&self.close_user, operation).await
    }

    async fn get_by_token(&self, hash: &TokenHash) -> Result<Option<Session>, StoreError> {
        timed(&self.get_by_token, self.inner.get_by_token(hash)).await
    }

    async fn set_token(
        &self,
        id: &SessionId,
        hash: &TokenHash,
    ) -> Result<Option<Session>, StoreError> {
        timed(&self.set_token, self.inner.set_token(id, hash)).await
    }

    async fn purge_closed(
        &self,
        closed_before: DateTime<Utc>,
        max: usize,
    ) -> Result<u64, StoreError> {
        let operation = self.inner.purge_closed(closed_before, max);
        timed(&self.purge_closed, operation).await
    }

    async fn delete(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        timed(&self.delete, self.inner.delete(id)).await
    }

    async fn counts(&self) -> Result<SessionCounts, StoreError> {
        timed(&self.counts, self.inner.counts()).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        timed(&self.ping, self.inner.ping()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    #[tokio::test]
    async fn the_wrapper_answers_exactly_as_the_store_it_wraps() {
        // Arrange
        let store = InstrumentedStore::new(Arc::new(MemoryStore::new()));
        let session = Session::open(
            SessionId::random(),
            crate::model::NewSession {
                user_id: "1".into(),
                ..Default::default()
            },
            Utc::now(),
        );

        // Act
        store.insert(&session).await.expect("inserted");
        let again = store.insert(&session).await;
        let found = store.get(&session.id).await.expect("read");

        // Assert
        assert_eq!(store.kind(), "memory");
        assert!(matches!(again, Err(StoreError::Duplicate(_))));
        assert_eq!(found, Some(session));
        assert!(store.ping().await.is_ok());
    }
}
