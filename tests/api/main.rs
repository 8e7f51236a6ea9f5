//! End-to-end tests: each starts the real server on a free port and talks HTTP to it.

mod client;
mod connections;
mod embedded;
mod hardening;
mod helpers;
mod http;
mod key_order;
mod playground;
mod rest;
mod schema;
mod sessions;
mod shutdown;
