//! Store tests: the conformance suite run against every store, and the durable stores'
//! promises end to end (restart after SIGKILL, several instances on one database, an outage).
//!
//! PostgreSQL tests run when `SESSIONS_TEST_DATABASE_URL` names a database the tests may
//! create schemas in; otherwise they are skipped, and the run says so once.

mod conformance;
mod durable;
mod events;
mod instances;
mod migrations;
mod outage;
mod proxy;
mod restart;
mod server;
mod startup;
mod support;
#[path = "../api/ws.rs"]
mod ws;
