//! The conformance suite: every rule of the service, written once and run against each store
//! through the controller (the memory store, a SQLite file, and PostgreSQL when configured).
//!
//! Each test is an `async fn(&Backend)` in one of the modules below; the `conformance!` list
//! at the end instantiates it as `memory::NAME`, `sqlite::NAME` and `postgres::NAME`.

mod changes;
mod concurrency;
mod expiry;
mod graphql;
mod key_order;
mod lifecycle;
mod limits;
mod listing;
mod roundtrip;
mod tokens;

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use sessions::clock::{Clock, ManualClock};
use sessions::controller::{ControllerOptions, Paging, SessionsController};
use sessions::model::{NewSession, Page, Session, SessionCounts, SessionFilter, SessionId};
use sessions::store::SessionStore;

use crate::support::Backend;

/// Where every test's clock starts: a whole millisecond.
pub fn start() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(1_700_000_000_000).expect("valid time")
}

/// `n` milliseconds.
pub fn ms(n: i64) -> TimeDelta {
    TimeDelta::milliseconds(n)
}

/// A controller over a fresh store of one backend, and the clock it reads.
pub struct Fixture {
    /// The controller under test.
    pub controller: SessionsController,
    /// The clock it reads; tests move it by hand.
    pub clock: Arc<ManualClock>,
    /// The store behind it.
    pub store: Arc<dyn SessionStore>,
}

impl Fixture {
    /// Default options.
    pub async fn new(backend: &Backend) -> Self {
        Self::with_options(backend, ControllerOptions::default()).await
    }

    /// These options.
    pub async fn with_options(backend: &Backend, options: ControllerOptions) -> Self {
        let clock = Arc::new(ManualClock::new(start()));
        let store = backend.open().await;
        let controller = SessionsController::with_clock(store.clone(), options, clock.clone());
        Self {
            controller,
            clock,
            store,
        }
    }

    /// The time the clock shows.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Move the clock forward by `by`.
    pub fn advance(&self, by: TimeDelta) {
        self.clock.advance(by);
    }

    /// Open a session for `user_id` with no optional fields.
    pub async fn open(&self, user_id: &str) -> Session {
        self.open_with(new_session(user_id)).await
    }

    /// Open this session, which must succeed.
    pub async fn open_with(&self, new: NewSession) -> Session {
        self.controller.open(new).await.expect("session opens")
    }

    /// The stored session, which must exist.
    pub async fn session(&self, id: SessionId) -> Session {
        self.controller
            .get(&id)
            .await
            .expect("get succeeds")
            .expect("session exists")
    }

    /// A page of the listing, which must succeed.
    pub async fn list(&self, filter: &SessionFilter, paging: Paging) -> Page<Session> {
        self.controller
            .list(filter, paging)
            .await
            .expect("listing succeeds")
    }

    /// The ids of every match (up to 1000), in listing order.
    pub async fn ids(&self, filter: &SessionFilter) -> Vec<SessionId> {
        ids_of(&self.list(filter, take(1000)).await.data)
    }

    /// The store's counts.
    pub async fn counts(&self) -> SessionCounts {
        self.controller.counts().await.expect("counts succeed")
    }
}

/// What opening a session for `user_id` with no optional fields takes.
pub fn new_session(user_id: &str) -> NewSession {
    NewSession {
        user_id: user_id.into(),
        ..NewSession::default()
    }
}

/// A filter matching every session.
pub fn all() -> SessionFilter {
    SessionFilter::default()
}

/// A filter matching the sessions of `user_id`.
pub fn of_user(user_id: &str) -> SessionFilter {
    SessionFilter {
        user_id: Some(user_id.into()),
        ..SessionFilter::default()
    }
}

/// Paging with this `take` and the defaults otherwise.
pub fn take(n: i64) -> Paging {
    Paging {
        take: Some(n),
        ..Paging::default()
    }
}

/// Paging that skips `skip`, takes `take` and asks for the total.
pub fn counted(skip: i64, take: i64) -> Paging {
    Paging {
        skip: Some(skip),
        take: Some(take),
        total: true,
    }
}

/// The ids of `sessions`, in order.
pub fn ids_of(sessions: &[Session]) -> Vec<SessionId> {
    sessions.iter().map(|s| s.id).collect()
}

/// The ids in the documented listing order, computed without any store: latest
/// `request_time` first, ties by id ascending as clients see it (the 32-digit text).
pub fn in_listing_order(sessions: &[Session]) -> Vec<SessionId> {
    let mut sorted = sessions.to_vec();
    sorted.sort_by(|a, b| {
        b.request_time
            .cmp(&a.request_time)
            .then_with(|| a.id.to_string().cmp(&b.id.to_string()))
    });
    ids_of(&sorted)
}

/// Instantiate each `module::test` once per backend.
macro_rules! conformance {
    ($($module:ident :: $test:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let backend = crate::support::Backend::memory();
                    super::$module::$test(&backend).await;
                }
            )*
        }

        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let backend = crate::support::Backend::sqlite();
                    super::$module::$test(&backend).await;
                }
            )*
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let Some(backend) = crate::support::Backend::postgres().await else {
                        return;
                    };
                    super::$module::$test(&backend).await;
                    backend.cleanup().await;
                }
            )*
        }
    };
}

conformance! {
    roundtrip::the_store_answers_a_ping,
    roundtrip::an_opened_session_reads_back_with_every_field_exactly,
    roundtrip::getting_an_unknown_session_returns_none,
    roundtrip::times_are_kept_to_the_millisecond_and_filter_exactly_as_printed,
    roundtrip::json_round_trips_nested_objects_arrays_strings_numbers_and_null,
    roundtrip::text_and_json_at_their_size_limits_round_trip,
    roundtrip::text_or_json_holding_a_nul_character_is_rejected,
    roundtrip::a_session_id_is_stored_only_once,
    key_order::documents_keep_their_key_order_when_a_session_is_opened,
    key_order::documents_keep_their_key_order_when_data_is_stored_and_the_user_updated,
    listing::listings_filter_by_id_user_and_active,
    listing::from_time_is_inclusive_and_to_time_exclusive,
    listing::filter_conditions_are_all_required_together,
    listing::a_from_time_not_before_the_to_time_matches_nothing,
    listing::time_bounds_at_the_ends_of_the_calendar_still_answer,
    listing::listings_order_by_request_time_descending_then_id_ascending,
    listing::listings_of_open_sessions_keep_the_order_and_leave_out_closed_ones,
    listing::pages_cover_the_listing_without_overlap_or_gap,
    listing::paging_defaults_to_the_first_100_matches_without_a_total,
    listing::take_above_1000_is_clamped_to_1000,
    listing::the_total_counts_every_match_only_when_asked,
    listing::negative_skip_or_take_is_rejected,
    listing::activity_moves_a_session_to_the_front_of_listings,
    changes::storing_data_and_updating_the_user_set_them_and_mark_activity_now,
    changes::changing_an_unknown_session_is_not_found,
    changes::changing_a_closed_session_is_refused_and_changes_nothing,
    changes::a_write_stamped_before_the_last_activity_does_not_move_it_backwards,
    changes::closing_makes_a_session_inactive_now_and_drops_user_and_data,
    changes::closing_a_closed_session_returns_it_unchanged,
    changes::the_store_tells_the_close_that_closed_a_session_from_later_ones,
    changes::closing_an_unknown_session_is_not_found,
    changes::deleting_returns_the_session_and_forgets_it_everywhere,
    changes::counts_follow_open_close_expiry_and_delete,
    expiry::only_sessions_idle_for_longer_than_the_expire_timeout_are_closed,
    expiry::closing_expired_sessions_drops_their_data_and_counts_only_what_it_closed,
    expiry::activity_postpones_expiry,
    expiry::an_expire_timeout_longer_than_history_closes_nothing,
    concurrency::concurrent_opens_give_distinct_readable_sessions,
    concurrency::concurrent_data_stores_on_one_session_leave_it_consistent,
    concurrency::no_data_store_lands_after_a_concurrent_close,
    concurrency::two_instances_closing_expired_sessions_at_once_close_each_once,
    graphql::rule_violations_reach_graphql_clients_with_their_codes,
    graphql::json_round_trips_through_graphql_unchanged,
    graphql::json_keeps_its_key_order_through_graphql_variables_and_literals,
    lifecycle::close_expired_closes_sessions_past_the_max_lifetime_and_idle_ones_and_counts_both,
    lifecycle::a_session_open_exactly_the_max_lifetime_is_not_yet_expired,
    lifecycle::a_session_past_both_bounds_is_closed_for_the_one_it_passed_first,
    lifecycle::expires_at_is_the_earlier_of_idle_end_and_lifetime_end_and_none_once_closed,
    lifecycle::a_write_on_a_session_past_its_expiry_closes_it_with_its_reason_and_answers_closed,
    lifecycle::a_write_at_exactly_the_expiry_time_still_lands,
    lifecycle::closing_a_session_if_expired_leaves_one_renewed_meanwhile_open,
    lifecycle::touching_moves_request_time_and_expires_at_and_changes_nothing_else,
    lifecycle::a_touch_younger_than_the_touch_interval_writes_nothing,
    lifecycle::a_touch_within_the_interval_of_a_session_past_its_expiry_still_closes_it,
    lifecycle::touching_an_unknown_session_is_not_found_and_a_closed_one_is_closed,
    lifecycle::closing_records_logout_or_revoked_and_closing_again_keeps_the_first_reason,
    lifecycle::closing_for_a_reason_of_the_services_own_is_refused_naming_the_reason,
    lifecycle::a_session_closed_by_expiry_keeps_its_reason_when_closed_again,
    lifecycle::purging_deletes_only_sessions_closed_longer_ago_than_the_retention,
    lifecycle::one_purge_step_deletes_at_most_its_batch_oldest_first,
    lifecycle::with_retention_off_purging_keeps_every_closed_session,
    limits::closing_a_users_sessions_revokes_every_open_one_but_the_exception_and_counts_them,
    limits::closing_a_users_sessions_without_an_exception_closes_them_all_and_an_unknown_user_none,
    limits::revoking_while_the_user_opens_sessions_misses_none_opened_before_it,
    limits::at_the_limit_evict_oldest_closes_the_least_recently_active_session_as_evicted,
    limits::sessions_equally_old_are_evicted_in_id_order,
    limits::over_the_limit_evict_oldest_closes_as_many_as_it_takes,
    limits::at_the_limit_deny_refuses_with_limit_reached_and_opens_nothing,
    limits::expired_sessions_of_the_user_are_closed_with_their_reason_before_counting,
    limits::a_denied_open_still_closes_the_users_expired_sessions,
    limits::fifty_concurrent_opens_with_evict_oldest_leave_exactly_three_open,
    limits::fifty_concurrent_opens_with_deny_let_exactly_three_succeed,
    tokens::a_token_finds_its_session_and_still_does_after_a_restart,
    tokens::rotating_a_token_replaces_it_at_once,
    tokens::a_closed_or_expired_sessions_token_finds_nothing_and_closed_by_says_who,
}
