//! Logging: one `init()`, level from `RUST_LOG` (default `info`), lines as text or JSON.
//!
//! At `info` a request writes one line, when it is answered, inside its span (method, matched
//! route, correlation id); the controller's per-operation lines are at `debug`. Request
//! headers are never logged, so `Authorization` cannot leak into a log.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines, coloured on a terminal.
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `message`, `target`, the event's
    /// fields, and `spans` (outermost first: the request's `correlation_id`, `method`,
    /// `route`).
    Json,
}

/// Install the global log subscriber. Call once, at startup; later calls change nothing.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    // `try_init` so that a second call (tests, embedding programs) is harmless.
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stdout().is_terminal())
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .try_init(),
    };
}
