//! Logging: one `init()`, level from `RUST_LOG` (default `info`), lines as text or JSON.
//!
//! At `info` a request writes one line, when it is answered, inside its span (method, matched
//! route, correlation id); the controller's per-operation lines are at `debug`. Request
//! headers are never logged, so `Authorization` cannot leak into a log.
//!
//! Lines are formatted on the thread that logs them but written to standard output in
//! batches (see [`Batched`]): a `write` system call per line cost about as much as formatting
//! it, on the request path. A batch is written when it passes [`BATCH_BYTES`], every
//! [`FLUSH_EVERY`] by a background thread, and when the [`Flush`] guard that [`init`] returns
//! is dropped (at the end of `main`), so no line is lost on a clean exit; a process killed
//! with SIGKILL loses at most the last [`FLUSH_EVERY`] of lines.

use std::io::{self, IsTerminal, Write};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

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

/// A batch is written out once it holds this many bytes.
pub const BATCH_BYTES: usize = 32 * 1024;

/// The longest a logged line waits in a batch before it is written.
pub const FLUSH_EVERY: Duration = Duration::from_millis(50);

/// Install the global log subscriber. Call once, at startup; later calls change nothing.
/// Keep the returned guard until the program ends: dropping it writes the lines still
/// batched.
pub fn init(format: LogFormat) -> Flush {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let batched = Batched::stdout();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(batched.clone());
    // `try_init` so that a second call (tests, embedding programs) is harmless.
    let installed = match format {
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
    if installed.is_ok() {
        batched.flush_periodically();
    }
    Flush(batched)
}

/// Writes the lines still batched when dropped; returned by [`init`].
#[must_use = "dropping the guard at once loses the batching; keep it until the program ends"]
pub struct Flush(Batched);

impl Drop for Flush {
    fn drop(&mut self) {
        self.0.flush_now();
    }
}

/// Log lines gathered in memory and written to standard output in batches. Cheap to clone:
/// every clone shares one batch.
#[derive(Clone)]
pub struct Batched {
    // A std lock on purpose: held to copy a line in, or to write a batch out (which keeps
    // lines in order whoever writes), never across an `.await`.
    batch: Arc<Mutex<Vec<u8>>>,
}

impl Batched {
    /// An empty batch bound for standard output.
    pub fn stdout() -> Self {
        Self {
            batch: Arc::new(Mutex::new(Vec::with_capacity(BATCH_BYTES))),
        }
    }

    /// Write the batch every [`FLUSH_EVERY`] from a background thread, for the life of the
    /// process.
    fn flush_periodically(&self) {
        let batched = self.clone();
        let spawned = std::thread::Builder::new()
            .name("log-flush".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(FLUSH_EVERY);
                    batched.flush_now();
                }
            });
        if let Err(error) = spawned {
            // Lines are then written when a batch fills and at exit only.
            eprintln!("logs: no flushing thread ({error}); lines are written in batches");
        }
    }

    /// Write whatever is batched, now.
    pub fn flush_now(&self) {
        let mut batch = self.lock();
        write_out(&mut batch);
    }

    fn lock(&self) -> MutexGuard<'_, Vec<u8>> {
        // A batch is whole lines or empty after every section, so a poisoned lock is fine.
        self.batch.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Write `batch` to standard output and empty it. A failed write drops the lines: there is
/// nowhere else to report it.
fn write_out(batch: &mut Vec<u8>) {
    if batch.is_empty() {
        return;
    }
    let mut stdout = io::stdout().lock();
    let _ = stdout.write_all(batch);
    let _ = stdout.flush();
    batch.clear();
}

/// The writer of one log line: `tracing-subscriber` formats the whole line first, then
/// writes it with one `write_all`.
pub struct BatchWriter<'a>(&'a Batched);

impl Write for BatchWriter<'_> {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        let mut batch = self.0.lock();
        batch.extend_from_slice(line);
        if batch.len() >= BATCH_BYTES {
            write_out(&mut batch);
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Batched {
    type Writer = BatchWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        BatchWriter(self)
    }
}
