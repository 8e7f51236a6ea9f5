//! What a connection is doing, and when it has waited too long for its client.
//!
//! Two bounds, as in Go's `net/http` and nginx: a request head must arrive within the header
//! timeout of its first byte (of the accept, for a connection's first request), and a
//! keep-alive connection may wait for the first byte of its next request up to the idle
//! timeout. While a request is being handled (from its complete head until its response body
//! is sent) neither applies: the request timeout bounds the handler.
//
// Why not hyper's own `http1::Builder::header_read_timeout` (read in hyper 1.12,
// src/proto/h1/conn.rs): hyper starts that timer in `poll_read_head`, whenever the connection
// waits for a request head: at the start of a connection and, since `State::idle` sets
// `notify_read` when the timeout is configured, right after each response on a keep-alive
// connection; a complete head stops it. So it does cover the wait for the next request, but
// idle wait and head share one bound: it cannot close a half-sent head after 10 s yet keep an
// idle keep-alive connection for 60 s. It also needs a timer, which `axum::serve` never set,
// and behind hyper-util's auto builder (which `axum::serve` uses) the first bytes are read to
// sniff for HTTP/2 before hyper's HTTP/1 code runs, so even with a timer a connection that
// sends nothing would never be timed. Hence this small state machine, fed by the socket (bytes
// read) and by the service (request started, response sent), with one timer per connection.
//
// The timer is not told of phase changes: it wakes at the current phase's deadline, or after
// the shorter of the two bounds, whichever comes first, and looks at the phase then. A phase
// that starts at `t` has its deadline at `t` plus a bound or later, and the sleeping timer wakes
// by then, so every deadline is still met exactly; but a keep-alive request no longer wakes
// the connection's task and re-arms its timer three times (head, busy, idle), which cost more
// than a fast request's handler. An idle connection wakes once per shorter bound (10 s).
//
// Known gaps: bytes of a pipelined next request that arrive
// while a response is being sent count as idle time, not head time (so at worst the idle
// bound applies, the same an idle client gets anyway); and a client that stops reading a
// large response keeps its request "in progress", as the response is never fully sent.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::Response;
use tokio::time::{Instant, sleep_until};

use super::ConnectionLimits;
use super::io::TrackedBody;

/// What a connection is waiting for, or doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    /// Waiting for the rest of a request head that started at `since` (its first byte, or the
    /// accept for the connection's first request).
    Head { since: Instant },
    /// Waiting, since `since`, for the first byte of the next request.
    Idle { since: Instant },
    /// Handling `requests` requests: heads read, responses not yet fully sent.
    Busy { requests: usize },
    /// Switched to another protocol (WebSocket); its handler owns the connection's timing.
    Upgraded,
}

/// Why a connection was closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Timeout {
    /// The request head did not arrive within the header timeout.
    Head,
    /// No request came within the idle timeout.
    Idle,
}

impl Timeout {
    /// For logs.
    pub(super) fn describe(self) -> &'static str {
        match self {
            Self::Head => "request head not complete within the header timeout",
            Self::Idle => "no request within the idle timeout",
        }
    }
}

impl Phase {
    /// When the connection must be closed unless the phase changes first.
    fn deadline(self, limits: &ConnectionLimits) -> Option<(Instant, Timeout)> {
        match self {
            Self::Head { since } => Some((since + limits.header_timeout, Timeout::Head)),
            Self::Idle { since } => Some((since + limits.idle_timeout, Timeout::Idle)),
            Self::Busy { .. } | Self::Upgraded => None,
        }
    }
}

/// One connection's phase, shared by its socket, its service and its task.
#[derive(Debug)]
pub(super) struct Activity {
    // A std lock on purpose: held for the few instructions of each transition, never across
    // an `.await`; the timer reads it when it wakes (see the module's notes).
    phase: Mutex<Phase>,
}

impl Activity {
    /// A connection accepted now, waiting for its first request head.
    pub(super) fn new() -> Arc<Self> {
        Arc::new(Self {
            phase: Mutex::new(Phase::Head {
                since: Instant::now(),
            }),
        })
    }

    /// The phase now.
    pub(super) fn phase(&self) -> Phase {
        *self.lock()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Phase> {
        // Every transition leaves a whole phase behind, so a poisoned lock is still right.
        self.phase.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Bytes arrived: between requests, they start the next request's head.
    pub(super) fn bytes_read(&self) {
        let mut phase = self.lock();
        if let Phase::Idle { .. } = *phase {
            *phase = Phase::Head {
                since: Instant::now(),
            };
        }
    }

    /// A whole request head was read; the request lasts until the returned guard is dropped.
    pub(super) fn request_started(self: &Arc<Self>) -> RequestGuard {
        {
            let mut phase = self.lock();
            match &mut *phase {
                Phase::Head { .. } | Phase::Idle { .. } => *phase = Phase::Busy { requests: 1 },
                Phase::Busy { requests } => *requests += 1,
                Phase::Upgraded => {}
            }
        }
        RequestGuard {
            activity: Arc::clone(self),
        }
    }

    fn request_finished(&self) {
        let mut phase = self.lock();
        match &mut *phase {
            Phase::Busy { requests: 1 } => {
                *phase = Phase::Idle {
                    since: Instant::now(),
                };
            }
            Phase::Busy { requests } => *requests -= 1,
            _ => {}
        }
    }

    fn upgraded(&self) {
        *self.lock() = Phase::Upgraded;
    }
}

/// A request being handled; dropping it (with the response body, once sent) ends it.
#[derive(Debug)]
pub(super) struct RequestGuard {
    activity: Arc<Activity>,
}

impl RequestGuard {
    /// Attach the guard to the response's body, so that the request lasts until hyper has
    /// sent the body (hyper drops a body once its last frame is written).
    pub(super) fn track(self, response: Response) -> axum::http::Response<TrackedBody> {
        if response.status() == StatusCode::SWITCHING_PROTOCOLS {
            self.activity.upgraded();
        }
        response.map(|body| TrackedBody::new(body, self))
    }
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.activity.request_finished();
    }
}

/// Completes when the connection has been in one phase past that phase's deadline; never
/// while a request is handled, nor once upgraded.
pub(super) async fn expired(activity: Arc<Activity>, limits: ConnectionLimits) -> Timeout {
    // The longest the timer sleeps without looking at the phase: no phase's deadline comes
    // sooner after the phase starts. At least a millisecond, so that zero bounds cannot spin.
    let look_every = limits
        .header_timeout
        .min(limits.idle_timeout)
        .max(Duration::from_millis(1));
    loop {
        let phase = activity.phase();
        let now = Instant::now();
        let wake = match phase.deadline(&limits) {
            Some((deadline, timeout)) if deadline <= now => return timeout,
            Some((deadline, _)) => deadline.min(now + look_every),
            None if phase == Phase::Upgraded => std::future::pending().await,
            None => now + look_every,
        };
        sleep_until(wake).await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn limits() -> ConnectionLimits {
        ConnectionLimits {
            max_connections: 1,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_is_timed_for_its_head_then_idle_then_head_again() {
        let activity = Activity::new();
        let start = Instant::now();
        assert_eq!(activity.phase(), Phase::Head { since: start });

        let request = activity.request_started();
        assert_eq!(activity.phase(), Phase::Busy { requests: 1 });
        activity.bytes_read(); // body bytes do not start a head
        assert_eq!(activity.phase(), Phase::Busy { requests: 1 });

        tokio::time::advance(Duration::from_secs(1)).await;
        drop(request);
        let idle_since = start + Duration::from_secs(1);
        assert_eq!(activity.phase(), Phase::Idle { since: idle_since });

        tokio::time::advance(Duration::from_secs(1)).await;
        activity.bytes_read();
        let head_since = idle_since + Duration::from_secs(1);
        assert_eq!(activity.phase(), Phase::Head { since: head_since });
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_follows_the_phase() {
        let activity = Activity::new();
        let start = Instant::now();
        let request = activity.request_started();
        let timer = tokio::spawn(expired(Arc::clone(&activity), limits()));

        // Busy far past both bounds: no timeout.
        tokio::time::sleep(Duration::from_secs(600)).await;
        assert!(!timer.is_finished());

        drop(request);
        let timeout = timer.await.expect("timer task");
        assert_eq!(timeout, Timeout::Idle);
        assert_eq!(Instant::now(), start + Duration::from_secs(660));
    }

    #[tokio::test(start_paused = true)]
    async fn an_upgraded_connection_is_never_timed_out() {
        let activity = Activity::new();
        let request = activity.request_started();
        activity.upgraded();
        drop(request);
        assert_eq!(activity.phase(), Phase::Upgraded);
        let timed = tokio::time::timeout(
            Duration::from_secs(3600),
            expired(Arc::clone(&activity), limits()),
        );
        assert!(timed.await.is_err());
    }
}
