//! Prometheus metrics: the series the service exports at `GET /metrics`, and the small API
//! the other layers record through.
//!
//! Recording goes through the [`metrics`] facade to one Prometheus recorder,
//! installed for the whole process by [`install`]; the HTTP layer renders it on its own
//! `/metrics` route (the exporter runs no listener of its own). Every series is registered
//! when the service starts, at zero, so that `rate()` and alerts see the first event.
//!
//! Names and units follow Prometheus' conventions: `_total` counters, `_seconds` histograms.
//! Recording is cheap: a labelled series is an atomic add after a hash-map lookup, and a
//! histogram sample is pushed to a lock-free buffer that a background thread folds into the
//! buckets every few seconds (see [`UPKEEP_PERIOD`]).

mod record;

use std::sync::OnceLock;
use std::time::Duration;

use ::metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

pub use record::{
    StoreMetrics, UNMATCHED_ROUTE, cleanup_run, graphql_operation, http_request, register_route,
    session_closed, session_deleted, session_opened, sessions_closed, set_active_sessions,
};

/// HTTP requests answered, by `method`, `route` (the matched route) and `status`.
pub const HTTP_REQUESTS: &str = "sessions_http_requests_total";
/// Time to answer an HTTP request, by `method` and `route`.
pub const HTTP_DURATION: &str = "sessions_http_request_duration_seconds";
/// GraphQL operations run, by `type` and `outcome`.
pub const GRAPHQL_OPERATIONS: &str = "sessions_graphql_operations_total";
/// Time to run a GraphQL operation, by `type`.
pub const GRAPHQL_DURATION: &str = "sessions_graphql_operation_duration_seconds";
/// Open sessions.
pub const SESSIONS_ACTIVE: &str = "sessions_active";
/// Sessions opened.
pub const SESSIONS_OPENED: &str = "sessions_opened_total";
/// Sessions closed, by `reason`.
pub const SESSIONS_CLOSED: &str = "sessions_closed_total";
/// Sessions deleted.
pub const SESSIONS_DELETED: &str = "sessions_deleted_total";
/// Runs of the background cleanup.
pub const CLEANUP_RUNS: &str = "sessions_cleanup_runs_total";
/// Time a cleanup run took.
pub const CLEANUP_DURATION: &str = "sessions_cleanup_duration_seconds";
/// Sessions closed by the background cleanup.
pub const CLEANUP_CLOSED: &str = "sessions_cleanup_closed_total";
/// Time a store operation took, by `store` and `operation`.
pub const STORE_DURATION: &str = "sessions_store_operation_duration_seconds";
/// Store operations that failed, by `store` and `operation`.
pub const STORE_ERRORS: &str = "sessions_store_errors_total";

/// Open `sessionEvents` subscriptions on this instance (read at each scrape).
pub const EVENT_SUBSCRIPTIONS: &str = "sessions_event_subscriptions";
/// Open WebSocket connections on this instance (read at each scrape).
pub const WEBSOCKET_CONNECTIONS: &str = "sessions_websocket_connections";

/// Bucket bounds of every duration histogram, in seconds: from half a millisecond (a memory
/// store answers in microseconds, a SQL store in a few hundred) to the 30 s request timeout.
pub const DURATION_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// How often histogram samples are folded into their buckets when nobody scrapes; it bounds
/// the memory the samples of an unscraped service take.
pub const UPKEEP_PERIOD: Duration = Duration::from_secs(5);

/// The installed recorder's handle, and the process metrics collector.
struct Exporter {
    handle: PrometheusHandle,
    process: metrics_process::Collector,
}

static EXPORTER: OnceLock<Option<Exporter>> = OnceLock::new();

/// Install the process-wide Prometheus recorder and register every series of the service at
/// zero. Safe to call many times (tests build many apps in one process): only the first call
/// installs. Returns false when another recorder was installed first (a host application's
/// own): the service's metrics then go to that recorder, and `/metrics` has nothing to show.
pub fn install() -> bool {
    EXPORTER.get_or_init(new_exporter).is_some()
}

fn new_exporter() -> Option<Exporter> {
    let builder = match PrometheusBuilder::new().set_buckets(DURATION_BUCKETS) {
        Ok(builder) => builder,
        Err(error) => {
            tracing::warn!(%error, "metrics: bad histogram buckets; recording none");
            return None;
        }
    };
    let handle = match builder.install_recorder() {
        Ok(handle) => handle,
        Err(error) => {
            tracing::warn!(%error, "metrics: another recorder is installed; /metrics stays empty");
            return None;
        }
    };
    let upkeep = handle.clone();
    // A thread rather than a task: it must outlive whichever async runtime called us first.
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_PERIOD);
                upkeep.run_upkeep();
            }
        });
    if let Err(error) = spawned {
        // Rendering folds the samples too, so a scraped service still works.
        tracing::warn!(%error, "metrics: no upkeep thread; histograms are folded at scrapes only");
    }
    let process = metrics_process::Collector::default();
    process.describe();
    process.collect();
    describe();
    record::register_service_series();
    Some(Exporter { handle, process })
}

/// Every series in the Prometheus text format, process metrics and `live` freshly read;
/// `None` when [`install`] did not install the recorder.
pub fn render(live: Live) -> Option<String> {
    let exporter = EXPORTER.get()?.as_ref()?;
    exporter.process.collect();
    ::metrics::gauge!(EVENT_SUBSCRIPTIONS).set(live.subscriptions as f64);
    ::metrics::gauge!(WEBSOCKET_CONNECTIONS).set(live.websockets as f64);
    Some(exporter.handle.render())
}

/// Gauges read when scraped rather than kept up to date on every change.
#[derive(Clone, Copy, Debug, Default)]
pub struct Live {
    /// Open `sessionEvents` subscriptions.
    pub subscriptions: usize,
    /// Open WebSocket connections.
    pub websockets: usize,
}

fn describe() {
    describe_counter!(HTTP_REQUESTS, Unit::Count, "HTTP requests answered");
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "Time to answer an HTTP request"
    );
    describe_counter!(
        GRAPHQL_OPERATIONS,
        Unit::Count,
        "GraphQL operations run; requests refused at parse or validation count as errors"
    );
    describe_histogram!(
        GRAPHQL_DURATION,
        Unit::Seconds,
        "Time to run a GraphQL operation"
    );
    describe_gauge!(SESSIONS_ACTIVE, Unit::Count, "Open sessions");
    describe_gauge!(
        EVENT_SUBSCRIPTIONS,
        Unit::Count,
        "Open sessionEvents subscriptions on this instance"
    );
    describe_gauge!(
        WEBSOCKET_CONNECTIONS,
        Unit::Count,
        "Open WebSocket connections on this instance"
    );
    describe_counter!(SESSIONS_OPENED, Unit::Count, "Sessions opened");
    describe_counter!(SESSIONS_CLOSED, Unit::Count, "Sessions closed");
    describe_counter!(SESSIONS_DELETED, Unit::Count, "Sessions deleted");
    describe_counter!(CLEANUP_RUNS, Unit::Count, "Runs of the background cleanup");
    describe_histogram!(CLEANUP_DURATION, Unit::Seconds, "Time a cleanup run took");
    describe_counter!(
        CLEANUP_CLOSED,
        Unit::Count,
        "Sessions closed by the background cleanup"
    );
    describe_histogram!(
        STORE_DURATION,
        Unit::Seconds,
        "Time a session store operation took"
    );
    describe_counter!(
        STORE_ERRORS,
        Unit::Count,
        "Session store operations that failed"
    );
}
