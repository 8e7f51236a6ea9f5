//! End-to-end tests: each starts the real server on a free port and talks HTTP to it.

mod assets;
mod auth;
mod auth_binary;
mod browser;
mod cdp;
mod client;
mod client_lifecycle;
mod connections;
mod embedded;
mod events;
mod events_access;
mod events_protocol;
mod hardening;
mod helpers;
mod http;
mod key_order;
mod lifecycle;
mod logs;
mod playground;
mod probes;
mod rest;
mod schema;
mod sessions;
mod shutdown;
mod ws;
