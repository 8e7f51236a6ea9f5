//! The recording calls, one per event the service counts. Each is a no-op until
//! [`super::install`] has run, so unit tests pay nothing for them; after it, each is an
//! atomic add (and a lock-free push for a duration) on handles made once.

use std::collections::HashMap;
use std::sync::{LazyLock, OnceLock, PoisonError, RwLock};
use std::time::Duration;

use ::metrics::{Counter, Gauge, Histogram, counter, gauge, histogram};

use crate::model::{CloseReason, Closed};

use super::{
    CLEANUP_CLOSED, CLEANUP_DURATION, CLEANUP_RUNS, GRAPHQL_DURATION, GRAPHQL_OPERATIONS,
    HTTP_DURATION, HTTP_REQUESTS, SESSIONS_ACTIVE, SESSIONS_CLOSED, SESSIONS_DELETED,
    SESSIONS_OPENED, STORE_DURATION, STORE_ERRORS,
};

/// The `route` label of a request that matched no route: a fixed word, so that scanners
/// probing random paths cannot make new series.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// The GraphQL operation types, and `unknown` for a document that did not parse.
const OPERATION_TYPES: [&str; 4] = ["query", "mutation", "subscription", "unknown"];

/// The handles of every series with a fixed set of labels, registered once by
/// [`register_service_series`]: recording is then an atomic add or a lock-free push, with no
/// lookup by name and labels.
struct Series {
    /// By operation type (as in [`OPERATION_TYPES`]): the `ok` and `error` counters.
    graphql: [[Counter; 2]; 4],
    graphql_duration: [Histogram; 4],
    active: Gauge,
    opened: Counter,
    /// By close reason.
    closed: Vec<(&'static str, Counter)>,
    deleted: Counter,
    cleanup_runs: Counter,
    cleanup_closed: Counter,
    cleanup_duration: Histogram,
}

static SERIES: OnceLock<Series> = OnceLock::new();

/// The HTTP series met so far, by route, then method and status. The routes are the router's
/// patterns and the statuses the few the service answers with, so this stays small.
type HttpSeries = HashMap<String, Vec<(&'static str, u16, Counter, Histogram)>>;

static HTTP: LazyLock<RwLock<HttpSeries>> = LazyLock::new(RwLock::default);

/// Register the series that do not depend on routes or stores, at zero (a handle registers
/// its series when it is made; adding zero says so). Called once the recorder is installed.
pub(super) fn register_service_series() {
    let graphql = OPERATION_TYPES.map(|kind| {
        ["ok", "error"].map(|outcome| {
            let counter = counter!(GRAPHQL_OPERATIONS, "type" => kind, "outcome" => outcome);
            // Only a document that did not parse has no type, and it never succeeds.
            if kind != "unknown" || outcome == "error" {
                counter.increment(0);
            }
            counter
        })
    });
    let reasons = CloseReason::ALL.iter().map(|reason| reason.as_str());
    let series = Series {
        graphql,
        graphql_duration: OPERATION_TYPES.map(|kind| histogram!(GRAPHQL_DURATION, "type" => kind)),
        active: gauge!(SESSIONS_ACTIVE),
        opened: counter!(SESSIONS_OPENED),
        closed: reasons
            .map(|reason| (reason, counter!(SESSIONS_CLOSED, "reason" => reason)))
            .collect(),
        deleted: counter!(SESSIONS_DELETED),
        cleanup_runs: counter!(CLEANUP_RUNS),
        cleanup_closed: counter!(CLEANUP_CLOSED),
        cleanup_duration: histogram!(CLEANUP_DURATION),
    };
    series.active.increment(0.0);
    for counter in [
        &series.opened,
        &series.deleted,
        &series.cleanup_runs,
        &series.cleanup_closed,
    ] {
        counter.increment(0);
    }
    for (_, counter) in &series.closed {
        counter.increment(0);
    }
    let _ = SERIES.set(series);
}

/// Register the series of one route at zero: its duration, and its count of answers with each
/// of `statuses` (for a route, success and server error: the two an alert compares).
pub fn register_route(method: &'static str, route: &str, statuses: &[u16]) {
    for &status in statuses {
        with_http_series(method, route, status, |requests, _| requests.increment(0));
    }
}

/// Run `record` on the handles of the HTTP series of `method`, `route` and `status`, made on
/// first use; under the read lock, so the common case clones nothing.
fn with_http_series(
    method: &'static str,
    route: &str,
    status: u16,
    record: impl Fn(&Counter, &Histogram),
) {
    let found = |series: &HttpSeries| {
        let known = series.get(route)?;
        let (_, _, requests, duration) = known
            .iter()
            .find(|(m, s, _, _)| *m == method && *s == status)?;
        record(requests, duration);
        Some(())
    };
    if found(&HTTP.read().unwrap_or_else(PoisonError::into_inner)).is_some() {
        return;
    }
    let mut series = HTTP.write().unwrap_or_else(PoisonError::into_inner);
    if found(&series).is_some() {
        return;
    }
    let requests = counter!(HTTP_REQUESTS, "method" => method, "route" => route.to_owned(), "status" => status.to_string());
    let duration = histogram!(HTTP_DURATION, "method" => method, "route" => route.to_owned());
    record(&requests, &duration);
    let known = series.entry(route.to_owned()).or_default();
    known.push((method, status, requests, duration));
}

/// An HTTP request was answered with `status` after `elapsed`.
pub fn http_request(method: &'static str, route: &str, status: u16, elapsed: Duration) {
    with_http_series(method, route, status, |requests, duration| {
        requests.increment(1);
        duration.record(elapsed);
    });
}

/// A GraphQL operation of type `kind` (`query`, `mutation`, `subscription`, or `unknown` when
/// the document did not parse) ran for `elapsed`, with or without errors.
pub fn graphql_operation(kind: &'static str, ok: bool, elapsed: Duration) {
    let Some(series) = SERIES.get() else { return };
    let index = OPERATION_TYPES
        .iter()
        .position(|known| *known == kind)
        .unwrap_or(OPERATION_TYPES.len() - 1);
    series.graphql[index][usize::from(!ok)].increment(1);
    series.graphql_duration[index].record(elapsed);
}

/// A session was opened.
pub fn session_opened() {
    if let Some(series) = SERIES.get() {
        series.opened.increment(1);
        series.active.increment(1.0);
    }
}

/// `count` open sessions were closed, for `reason` (a [`CloseReason`] as text).
pub fn session_closed(reason: &'static str, count: u64) {
    let Some(series) = SERIES.get() else { return };
    if count == 0 {
        return;
    }
    if let Some((_, counter)) = series.closed.iter().find(|(known, _)| *known == reason) {
        counter.increment(count);
    }
    series.active.decrement(count as f64);
}

/// These sessions were closed, each for its reason: one update per reason, not per session
/// (an expiry may close a million at once).
pub fn sessions_closed(closed: &[Closed]) {
    let mut by_reason: Vec<(CloseReason, u64)> = Vec::new();
    for session in closed {
        match by_reason
            .iter_mut()
            .find(|(reason, _)| *reason == session.reason)
        {
            Some((_, count)) => *count += 1,
            None => by_reason.push((session.reason, 1)),
        }
    }
    for (reason, count) in by_reason {
        session_closed(reason.as_str(), count);
    }
}

/// A session was deleted; `was_open` when it was still open.
pub fn session_deleted(was_open: bool) {
    let Some(series) = SERIES.get() else { return };
    series.deleted.increment(1);
    if was_open {
        series.active.decrement(1.0);
    }
}

/// The store holds `count` open sessions: the gauge is set from a count, so that it also
/// follows what other instances sharing the store did.
pub fn set_active_sessions(count: u64) {
    if let Some(series) = SERIES.get() {
        series.active.set(count as f64);
    }
}

/// The background cleanup ran for `elapsed` and closed `closed` sessions.
pub fn cleanup_run(elapsed: Duration, closed: u64) {
    let Some(series) = SERIES.get() else { return };
    series.cleanup_runs.increment(1);
    series.cleanup_closed.increment(closed);
    series.cleanup_duration.record(elapsed);
}

/// The series of one store operation, registered once so that recording is an atomic add.
#[derive(Clone)]
pub struct StoreMetrics {
    duration: Histogram,
    errors: Counter,
}

impl StoreMetrics {
    /// Register (at zero) the series of `operation` on the store of kind `store`.
    pub fn new(store: &'static str, operation: &'static str) -> Self {
        Self {
            duration: histogram!(STORE_DURATION, "store" => store, "operation" => operation),
            errors: counter!(STORE_ERRORS, "store" => store, "operation" => operation),
        }
    }

    /// The operation took `elapsed`, and failed unless `ok`.
    pub fn record(&self, elapsed: Duration, ok: bool) {
        self.duration.record(elapsed);
        if !ok {
            self.errors.increment(1);
        }
    }
}

impl std::fmt::Debug for StoreMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreMetrics")
    }
}
