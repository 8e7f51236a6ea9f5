//! End-to-end tests: each starts the real server on a free port and talks HTTP to it.

mod helpers;
