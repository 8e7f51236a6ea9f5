//! `/ready`: 200 while the store answers its cheapest round trip within a second, else 503
//! with a reason; it never counts sessions. `/heartbeat` stays 200 either way (liveness).

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sessions::model::{
    Admission, CloseReason, Closed, Cutoffs, PageRequest, SessionChange, SessionCounts, TokenHash,
    UserLimit,
};
use sessions::store::Closing;
use sessions::{MemoryStore, Page, Session, SessionFilter, SessionId, SessionStore, StoreError};

use crate::helpers::{serve_over, spawn_app};

/// How a [`Probed`] store behaves when asked something.
#[derive(Clone, Copy)]
enum Answer {
    /// As the memory store does.
    Normally,
    /// With `StoreError::Unavailable`.
    Fails,
    /// Never (within any test's patience).
    Hangs,
}

/// The memory store, with `ping` and `counts` answering as told.
struct Probed {
    store: MemoryStore,
    ping: Answer,
    counts: Answer,
}

impl Probed {
    async fn answer<T>(answer: Answer, normally: T) -> Result<T, StoreError> {
        match answer {
            Answer::Normally => Ok(normally),
            Answer::Fails => Err(StoreError::Unavailable("connection refused".into())),
            Answer::Hangs => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(normally)
            }
        }
    }
}

#[async_trait]
impl SessionStore for Probed {
    fn kind(&self) -> &'static str {
        "probed"
    }
    async fn insert(&self, session: &Session) -> Result<(), StoreError> {
        self.store.insert(session).await
    }
    async fn insert_limited(
        &self,
        session: &Session,
        limit: UserLimit,
        cutoffs: Cutoffs,
    ) -> Result<Admission, StoreError> {
        self.store.insert_limited(session, limit, cutoffs).await
    }
    async fn get(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        self.store.get(id).await
    }
    async fn list(
        &self,
        filter: &SessionFilter,
        page: &PageRequest,
    ) -> Result<Page<Session>, StoreError> {
        self.store.list(filter, page).await
    }
    async fn update_open(
        &self,
        id: &SessionId,
        change: SessionChange,
        now: DateTime<Utc>,
        cutoffs: Cutoffs,
    ) -> Result<Option<Session>, StoreError> {
        self.store.update_open(id, change, now, cutoffs).await
    }
    async fn close(
        &self,
        id: &SessionId,
        now: DateTime<Utc>,
        reason: CloseReason,
        by: &str,
    ) -> Result<Option<Closing>, StoreError> {
        self.store.close(id, now, reason, by).await
    }
    async fn close_if_expired(
        &self,
        id: &SessionId,
        now: DateTime<Utc>,
        cutoffs: Cutoffs,
    ) -> Result<bool, StoreError> {
        self.store.close_if_expired(id, now, cutoffs).await
    }
    async fn close_expired(
        &self,
        cutoffs: Cutoffs,
        now: DateTime<Utc>,
    ) -> Result<Vec<Closed>, StoreError> {
        self.store.close_expired(cutoffs, now).await
    }
    async fn close_user(
        &self,
        user_id: &str,
        except: Option<SessionId>,
        now: DateTime<Utc>,
        by: &str,
    ) -> Result<Vec<Closed>, StoreError> {
        self.store.close_user(user_id, except, now, by).await
    }
    async fn get_by_token(&self, hash: &TokenHash) -> Result<Option<Session>, StoreError> {
        self.store.get_by_token(hash).await
    }
    async fn set_token(
        &self,
        id: &SessionId,
        hash: &TokenHash,
    ) -> Result<Option<Session>, StoreError> {
        self.store.set_token(id, hash).await
    }
    async fn purge_closed(&self, before: DateTime<Utc>, max: usize) -> Result<u64, StoreError> {
        self.store.purge_closed(before, max).await
    }
    async fn delete(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        self.store.delete(id).await
    }
    async fn counts(&self) -> Result<SessionCounts, StoreError> {
        let counts = self.store.counts().await?;
        Self::answer(self.counts, counts).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        Self::answer(self.ping, ()).await
    }
}

/// Serve the router over a [`Probed`] store on a free port; its address.
async fn serve(ping: Answer, counts: Answer) -> String {
    let store = Probed {
        store: MemoryStore::new(),
        ping,
        counts,
    };
    let addr = serve_over(Arc::new(store)).await;
    format!("http://{addr}")
}

/// GET `url`: the status, the body as JSON, and how long the answer took.
async fn probe(url: &str) -> (StatusCode, Value, Duration) {
    let started = Instant::now();
    let response = reqwest::get(url).await.expect("answered");
    let status = response.status();
    let body = response.json().await.expect("a JSON body");
    (status, body, started.elapsed())
}

#[tokio::test]
async fn ready_answers_200_while_the_store_answers() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let (status, body, _) = probe(&app.url("/ready")).await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({ "status": "ready", "store": "memory" }));
}

#[tokio::test]
async fn ready_answers_503_with_a_reason_when_the_store_fails_while_the_heartbeat_stays_200() {
    // Arrange
    let base = serve(Answer::Fails, Answer::Normally).await;

    // Act
    let (status, body, _) = probe(&format!("{base}/ready")).await;
    let heartbeat = reqwest::get(format!("{base}/heartbeat"))
        .await
        .expect("answered");

    // Assert
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["status"], "unavailable", "{body}");
    assert_eq!(body["reason"], "session store unavailable", "{body}");
    assert_eq!(heartbeat.status(), StatusCode::OK);
}

#[tokio::test]
async fn ready_gives_up_on_a_store_that_does_not_answer_after_a_second() {
    // Arrange
    let base = serve(Answer::Hangs, Answer::Normally).await;

    // Act
    let (status, body, took) = probe(&format!("{base}/ready")).await;

    // Assert: a probe's own timeout is often 1 s to a few; the bound is generous for a busy
    // machine, and far below the hour the store would take.
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        body["reason"]
            .as_str()
            .is_some_and(|reason| reason.contains("did not answer within 1000 ms")),
        "{body}"
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[tokio::test]
async fn ready_counts_nothing_so_a_slow_count_does_not_slow_it() {
    // Arrange: counting would take an hour.
    let base = serve(Answer::Normally, Answer::Hangs).await;

    // Act
    let (status, body, took) = probe(&format!("{base}/ready")).await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
}
