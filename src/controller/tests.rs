//! Unit tests of the controller rules, over a `MemoryStore` and a `ManualClock` moved by hand.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use futures_util::StreamExt;
use serde_json::{Value, json};

use super::*;
use crate::clock::{Clock, ManualClock};
use crate::store::MemoryStore;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Where every test's clock starts: a whole millisecond.
fn start() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(1_700_000_000_000).expect("valid time")
}

fn ms(n: i64) -> TimeDelta {
    TimeDelta::milliseconds(n)
}

/// A controller over an empty memory store, and the clock it reads.
struct Fixture {
    controller: SessionsController,
    clock: Arc<ManualClock>,
}

impl Fixture {
    fn new() -> Self {
        Self::with_options(ControllerOptions::default())
    }

    fn with_options(options: ControllerOptions) -> Self {
        let clock = Arc::new(ManualClock::new(start()));
        let store = Arc::new(MemoryStore::new());
        let controller = SessionsController::with_clock(store, options, clock.clone());
        Self { controller, clock }
    }

    fn with_payload_limit(max_payload: usize) -> Self {
        Self::with_options(ControllerOptions {
            max_payload,
            ..ControllerOptions::default()
        })
    }

    fn with_expire_timeout(expire_timeout: Duration) -> Self {
        Self::with_options(ControllerOptions {
            expire_timeout,
            ..ControllerOptions::default()
        })
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    async fn open(&self, user_id: &str) -> Session {
        self.controller
            .open(new_session(user_id))
            .await
            .expect("session opens")
    }

    async fn session(&self, id: SessionId) -> Session {
        self.controller
            .get(&id)
            .await
            .expect("get succeeds")
            .expect("session exists")
    }

    async fn list(&self, filter: &SessionFilter, paging: Paging) -> Page<Session> {
        self.controller
            .list(filter, paging)
            .await
            .expect("listing succeeds")
    }

    /// The ids of every match, in listing order.
    async fn ids(&self, filter: &SessionFilter) -> Vec<SessionId> {
        let paging = Paging {
            take: Some(1000),
            ..Paging::default()
        };
        ids_of(&self.list(filter, paging).await.data)
    }

    async fn counts(&self) -> SessionCounts {
        self.controller.counts().await.expect("counts succeed")
    }
}

fn new_session(user_id: &str) -> NewSession {
    NewSession {
        user_id: user_id.into(),
        ..NewSession::default()
    }
}

fn all() -> SessionFilter {
    SessionFilter::default()
}

fn of_user(user_id: &str) -> SessionFilter {
    SessionFilter {
        user_id: Some(user_id.into()),
        ..SessionFilter::default()
    }
}

fn take(n: i64) -> Paging {
    Paging {
        take: Some(n),
        ..Paging::default()
    }
}

fn ids_of(sessions: &[Session]) -> Vec<SessionId> {
    sessions.iter().map(|s| s.id).collect()
}

/// The ids in the documented listing order, computed independently of the store: latest
/// `request_time` first, ties by id ascending as clients see it (the 32-digit text).
fn in_listing_order(sessions: &[Session]) -> Vec<SessionId> {
    let mut sorted = sessions.to_vec();
    sorted.sort_by(|a, b| {
        b.request_time
            .cmp(&a.request_time)
            .then_with(|| a.id.to_string().cmp(&b.id.to_string()))
    });
    ids_of(&sorted)
}

/// A JSON string that serializes to exactly `bytes` bytes (quotes included).
fn json_of_size(bytes: usize) -> Value {
    let value = Value::from("x".repeat(bytes - 2));
    assert_eq!(serde_json::to_vec(&value).expect("serializes").len(), bytes);
    value
}

#[track_caller]
fn assert_invalid<T: fmt::Debug>(result: Result<T, SessionError>, expected: InputField) {
    match result {
        Err(SessionError::InvalidInput { field, .. }) => assert_eq!(field, expected),
        other => panic!("expected invalid {expected}, got {other:?}"),
    }
}

#[track_caller]
fn assert_not_found<T: fmt::Debug>(result: Result<T, SessionError>, expected: SessionId) {
    match result {
        Err(SessionError::NotFound(id)) => assert_eq!(id, expected),
        other => panic!("expected not found {expected}, got {other:?}"),
    }
}

#[track_caller]
fn assert_closed<T: fmt::Debug>(result: Result<T, SessionError>, expected: SessionId) {
    match result {
        Err(SessionError::Closed(id)) => assert_eq!(id, expected),
        other => panic!("expected closed {expected}, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// open
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn opening_a_session_gives_an_active_session_with_a_32_digit_lowercase_hex_id() {
    let f = Fixture::new();

    let session = f.open("alice").await;

    let text = session.id.to_string();
    assert_eq!(text.len(), 32);
    assert!(
        text.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')),
        "{text}"
    );
    assert_eq!(session.id.as_uuid().get_version_num(), 4);
    assert!(session.active);
    assert_eq!(session.user_id, "alice");
    assert_eq!(session.open_time, f.now());
    assert_eq!(session.request_time, f.now());
    assert_eq!(session.close_time, None);
}

#[tokio::test]
async fn opened_sessions_get_distinct_ids() {
    let f = Fixture::new();

    let mut ids = HashSet::new();
    for _ in 0..200 {
        ids.insert(f.open("alice").await.id);
    }

    assert_eq!(ids.len(), 200);
}

#[tokio::test]
async fn opening_keeps_every_given_field_and_get_returns_the_same_session() {
    let f = Fixture::new();
    let new = NewSession {
        user_id: "alice".into(),
        user_name: Some("Alice Liddell".into()),
        address: Some("192.0.2.7".into()),
        client: Some("firefox".into()),
        user: Some(json!({"roles": ["admin"]})),
        data: Some(json!({"cart": [1, 2]})),
    };

    let session = f.controller.open(new.clone()).await.expect("opens");

    assert_eq!(session.user_name, new.user_name);
    assert_eq!(session.address, new.address);
    assert_eq!(session.client, new.client);
    assert_eq!(session.user, new.user);
    assert_eq!(session.data, new.data);
    assert_eq!(f.session(session.id).await, session);
}

#[tokio::test]
async fn opening_truncates_times_to_whole_milliseconds() {
    let f = Fixture::new();
    let precise = DateTime::from_timestamp(1_700_000_000, 123_456_789).expect("valid time");
    let truncated = DateTime::from_timestamp_millis(1_700_000_000_123).expect("valid time");
    f.clock.set(precise);

    let session = f.open("alice").await;

    assert_eq!(session.open_time, truncated);
    assert_eq!(session.request_time, truncated);
    assert_eq!(f.session(session.id).await.open_time, truncated);
    // What a client sees is what the server filters on: the printed time is an exact bound.
    let from_printed_time = SessionFilter {
        from_time: Some(truncated),
        ..SessionFilter::default()
    };
    assert_eq!(f.ids(&from_printed_time).await, vec![session.id]);
}

#[tokio::test]
async fn later_writes_truncate_times_to_whole_milliseconds_too() {
    let f = Fixture::new();
    let session = f.open("alice").await;

    f.clock.set(start() + TimeDelta::nanoseconds(5_999_999));
    let stored = f
        .controller
        .store_data(&session.id, Some(json!(1)))
        .await
        .expect("stores");
    f.clock.set(start() + TimeDelta::nanoseconds(7_000_001));
    let closed = f.controller.close(&session.id).await.expect("closes");

    assert_eq!(stored.request_time, start() + ms(5));
    assert_eq!(closed.close_time, Some(start() + ms(7)));
    assert_eq!(closed.request_time, start() + ms(7));
}

#[tokio::test]
async fn opening_without_a_user_id_is_rejected() {
    let f = Fixture::new();

    for blank in ["", "   ", "\t\n "] {
        assert_invalid(
            f.controller.open(new_session(blank)).await,
            InputField::UserId,
        );
    }

    assert_eq!(f.counts().await.total, 0);
}

#[tokio::test]
async fn a_user_id_of_256_characters_is_accepted_and_257_rejected() {
    let f = Fixture::new();
    // Two bytes each in UTF-8: the limit counts characters, not bytes.
    let longest = "é".repeat(256);

    let accepted = f.controller.open(new_session(&longest)).await;
    let rejected = f.controller.open(new_session(&format!("{longest}é"))).await;

    assert_eq!(accepted.expect("256 characters are fine").user_id, longest);
    assert_invalid(rejected, InputField::UserId);
}

#[tokio::test]
async fn user_name_address_and_client_accept_1024_characters_and_reject_1025() {
    let f = Fixture::new();
    type Setter = fn(&mut NewSession, String);
    let fields: [(InputField, Setter); 3] = [
        (InputField::UserName, |n, v| n.user_name = Some(v)),
        (InputField::Address, |n, v| n.address = Some(v)),
        (InputField::Client, |n, v| n.client = Some(v)),
    ];
    let longest = "ü".repeat(1024);

    for (field, set) in fields {
        let mut ok = new_session("alice");
        set(&mut ok, longest.clone());
        let mut too_long = new_session("alice");
        set(&mut too_long, format!("{longest}ü"));

        let accepted = f.controller.open(ok.clone()).await;
        let rejected = f.controller.open(too_long).await;

        let session = accepted.unwrap_or_else(|e| panic!("{field} of 1024 chars: {e}"));
        assert_eq!(
            (session.user_name, session.address, session.client),
            (ok.user_name, ok.address, ok.client)
        );
        assert_invalid(rejected, field);
    }
    assert_eq!(f.counts().await.total, 3);
}

#[tokio::test]
async fn opening_accepts_user_and_data_at_the_payload_limit_and_rejects_one_byte_more() {
    let f = Fixture::with_payload_limit(16);
    let at_limit = NewSession {
        user: Some(json_of_size(16)),
        data: Some(json_of_size(16)),
        ..new_session("alice")
    };
    let user_over = NewSession {
        user: Some(json_of_size(17)),
        ..new_session("alice")
    };
    let data_over = NewSession {
        data: Some(json_of_size(17)),
        ..new_session("alice")
    };

    let accepted = f.controller.open(at_limit.clone()).await.expect("at limit");
    let user_rejected = f.controller.open(user_over).await;
    let data_rejected = f.controller.open(data_over).await;

    assert_eq!(
        (accepted.user, accepted.data),
        (at_limit.user, at_limit.data)
    );
    assert_invalid(user_rejected, InputField::User);
    assert_invalid(data_rejected, InputField::Data);
    assert_eq!(f.counts().await.total, 1);
}

#[tokio::test]
async fn json_null_user_and_data_are_stored_as_none() {
    let f = Fixture::new();
    let new = NewSession {
        user: Some(Value::Null),
        data: Some(Value::Null),
        ..new_session("alice")
    };

    let opened = f.controller.open(new).await.expect("opens");
    f.controller
        .store_data(&opened.id, Some(json!(1)))
        .await
        .expect("stores");
    f.controller
        .update_user(&opened.id, Some(json!(2)))
        .await
        .expect("updates");
    let data_cleared = f
        .controller
        .store_data(&opened.id, Some(Value::Null))
        .await
        .expect("stores null");
    let user_cleared = f
        .controller
        .update_user(&opened.id, Some(Value::Null))
        .await
        .expect("updates null");

    assert_eq!((opened.user, opened.data), (None, None));
    assert_eq!(data_cleared.data, None);
    assert_eq!(user_cleared.user, None);
    let stored = f.session(opened.id).await;
    assert_eq!((stored.user, stored.data), (None, None));
}

// ---------------------------------------------------------------------------------------------
// get
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn getting_an_unknown_session_returns_none() {
    let f = Fixture::new();
    f.open("alice").await;

    let found = f.controller.get(&SessionId::random()).await;

    assert_eq!(found.expect("not an error"), None);
}

// ---------------------------------------------------------------------------------------------
// list: filters
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn listing_by_id_returns_only_that_session() {
    let f = Fixture::new();
    let wanted = f.open("alice").await;
    f.open("alice").await;
    let by_id = |id| SessionFilter {
        id: Some(id),
        ..SessionFilter::default()
    };

    assert_eq!(f.ids(&by_id(wanted.id)).await, vec![wanted.id]);
    assert_eq!(f.ids(&by_id(SessionId::random())).await, vec![]);
}

#[tokio::test]
async fn listing_by_user_returns_only_that_users_sessions() {
    let f = Fixture::new();
    let a1 = f.open("alice").await;
    f.open("bob").await;
    f.clock.advance(ms(1));
    let a2 = f.open("alice").await;

    assert_eq!(f.ids(&of_user("alice")).await, vec![a2.id, a1.id]);
    assert_eq!(f.ids(&of_user("carol")).await, vec![]);
    // User ids are matched exactly.
    assert_eq!(f.ids(&of_user("Alice")).await, vec![]);
}

#[tokio::test]
async fn listing_by_active_separates_open_from_closed_sessions() {
    let f = Fixture::new();
    let open = f.open("alice").await;
    let closed = f.open("alice").await;
    f.controller.close(&closed.id).await.expect("closes");
    let active = |active| SessionFilter {
        active: Some(active),
        ..SessionFilter::default()
    };

    assert_eq!(f.ids(&active(true)).await, vec![open.id]);
    assert_eq!(f.ids(&active(false)).await, vec![closed.id]);
}

/// Three sessions at `start`, two at `start + 1ms`, one at `start + 2ms`, all of `alice`.
async fn sessions_at_three_times(f: &Fixture) -> [Vec<Session>; 3] {
    let mut groups: [Vec<Session>; 3] = Default::default();
    for (offset, count) in [(0, 3), (1, 2), (2, 1)] {
        f.clock.set(start() + ms(offset));
        for _ in 0..count {
            groups[offset as usize].push(f.open("alice").await);
        }
    }
    groups
}

#[tokio::test]
async fn from_time_is_inclusive() {
    let f = Fixture::new();
    let [_, at_1, at_2] = sessions_at_three_times(&f).await;
    let expected = in_listing_order(&[at_2, at_1].concat());

    for filter in [all(), of_user("alice")] {
        let from = SessionFilter {
            from_time: Some(start() + ms(1)),
            ..filter
        };
        assert_eq!(f.ids(&from).await, expected);
    }
}

#[tokio::test]
async fn to_time_is_exclusive() {
    let f = Fixture::new();
    let [at_0, _, _] = sessions_at_three_times(&f).await;
    let expected = in_listing_order(&at_0);

    for filter in [all(), of_user("alice")] {
        let to = SessionFilter {
            to_time: Some(start() + ms(1)),
            ..filter
        };
        assert_eq!(f.ids(&to).await, expected);
    }
}

#[tokio::test]
async fn from_and_to_time_together_select_a_half_open_window() {
    let f = Fixture::new();
    let [_, at_1, _] = sessions_at_three_times(&f).await;
    let expected = in_listing_order(&at_1);

    for filter in [all(), of_user("alice")] {
        let window = SessionFilter {
            from_time: Some(start() + ms(1)),
            to_time: Some(start() + ms(2)),
            ..filter
        };
        assert_eq!(f.ids(&window).await, expected);
    }
}

#[tokio::test]
async fn a_from_time_not_before_the_to_time_matches_nothing() {
    let f = Fixture::new();
    let [_, at_1, _] = sessions_at_three_times(&f).await;
    let paging = Paging {
        total: true,
        ..Paging::default()
    };

    for (from, to) in [(1, 1), (2, 1), (3, 0)] {
        for filter in [
            all(),
            of_user("alice"),
            SessionFilter {
                id: Some(at_1[0].id),
                ..all()
            },
        ] {
            let empty = SessionFilter {
                from_time: Some(start() + ms(from)),
                to_time: Some(start() + ms(to)),
                ..filter
            };
            let page = f.list(&empty, paging).await;
            assert_eq!((page.total, page.data), (Some(0), vec![]), "{empty:?}");
        }
    }
}

#[tokio::test]
async fn time_bounds_outside_every_session_match_nothing() {
    let f = Fixture::new();
    sessions_at_three_times(&f).await;
    let after_all = SessionFilter {
        from_time: Some(start() + ms(3)),
        ..all()
    };
    let before_all = SessionFilter {
        to_time: Some(start()),
        ..of_user("alice")
    };

    assert_eq!(f.ids(&after_all).await, vec![]);
    assert_eq!(f.ids(&before_all).await, vec![]);
}

#[tokio::test]
async fn filter_conditions_are_all_required_together() {
    let f = Fixture::new();
    let a1 = f.open("alice").await;
    f.clock.advance(ms(1));
    let a2 = f.open("alice").await;
    let b1 = f.open("bob").await;
    let a3 = f.open("alice").await;
    f.clock.advance(ms(1));
    f.controller.close(&a3.id).await.expect("closes");
    let filter = |user: &str, active, from: Option<i64>| SessionFilter {
        user_id: Some(user.into()),
        active,
        from_time: from.map(|offset| start() + ms(offset)),
        ..SessionFilter::default()
    };

    assert_eq!(
        f.ids(&filter("alice", Some(true), Some(1))).await,
        vec![a2.id]
    );
    assert_eq!(
        f.ids(&filter("alice", Some(true), None)).await,
        vec![a2.id, a1.id]
    );
    assert_eq!(
        f.ids(&filter("alice", Some(false), Some(1))).await,
        vec![a3.id]
    );
    assert_eq!(f.ids(&filter("bob", Some(false), None)).await, vec![]);
    assert_eq!(
        f.ids(&filter("bob", Some(true), Some(1))).await,
        vec![b1.id]
    );
    let id_and_other_user = SessionFilter {
        id: Some(a2.id),
        user_id: Some("bob".into()),
        ..SessionFilter::default()
    };
    let id_and_closed = SessionFilter {
        id: Some(a2.id),
        active: Some(false),
        ..SessionFilter::default()
    };
    assert_eq!(f.ids(&id_and_other_user).await, vec![]);
    assert_eq!(f.ids(&id_and_closed).await, vec![]);
}

// ---------------------------------------------------------------------------------------------
// list: order and paging
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn listings_order_by_request_time_descending_then_id_ascending() {
    let f = Fixture::new();
    let mut sessions = Vec::new();
    // Four moments, five sessions each: plenty of ties, opened out of time order.
    for offset in [2, 0, 3, 1] {
        f.clock.set(start() + ms(offset));
        for _ in 0..5 {
            sessions.push(f.open("alice").await);
        }
    }
    let expected = in_listing_order(&sessions);

    assert_eq!(f.ids(&all()).await, expected);
    assert_eq!(f.ids(&of_user("alice")).await, expected);
}

#[tokio::test]
async fn paging_defaults_to_the_first_100_matches_without_a_total() {
    let f = Fixture::new();
    let mut sessions = Vec::new();
    for _ in 0..150 {
        f.clock.advance(ms(1));
        sessions.push(f.open("alice").await);
    }
    let expected = in_listing_order(&sessions);

    let page = f.list(&all(), Paging::default()).await;

    assert_eq!(page.total, None);
    assert_eq!(ids_of(&page.data), expected[..DEFAULT_TAKE]);
}

#[tokio::test]
async fn skip_and_take_select_a_window_of_the_listing() {
    let f = Fixture::new();
    let mut sessions = Vec::new();
    for _ in 0..10 {
        f.clock.advance(ms(1));
        sessions.push(f.open("alice").await);
    }
    let expected = in_listing_order(&sessions);
    let paging = Paging {
        skip: Some(3),
        take: Some(4),
        total: false,
    };

    for filter in [all(), of_user("alice")] {
        let page = f.list(&filter, paging).await;
        assert_eq!(ids_of(&page.data), expected[3..7]);
    }
}

#[tokio::test]
async fn take_above_1000_is_clamped_to_1000() {
    let f = Fixture::new();
    let mut sessions = Vec::new();
    for _ in 0..1001 {
        sessions.push(f.open("alice").await);
    }
    let expected = in_listing_order(&sessions);

    for asked in [1001, 5000, i64::MAX] {
        let page = f.list(&all(), take(asked)).await;
        assert_eq!(ids_of(&page.data), expected[..MAX_TAKE], "take {asked}");
    }
    let exactly_max = f.list(&of_user("alice"), take(1000)).await;
    assert_eq!(exactly_max.data.len(), 1000);
}

#[tokio::test]
async fn take_zero_returns_no_sessions_but_still_counts_them() {
    let f = Fixture::new();
    f.open("alice").await;
    f.open("alice").await;
    let counted = Paging {
        take: Some(0),
        total: true,
        ..Paging::default()
    };

    let page = f.list(&all(), take(0)).await;
    let counted_page = f.list(&of_user("alice"), counted).await;

    assert_eq!(page.data, vec![]);
    assert_eq!((counted_page.total, counted_page.data), (Some(2), vec![]));
}

#[tokio::test]
async fn negative_skip_or_take_is_rejected() {
    let f = Fixture::new();
    f.open("alice").await;
    let negative_skip = Paging {
        skip: Some(-1),
        ..Paging::default()
    };

    assert_invalid(
        f.controller.list(&all(), negative_skip).await,
        InputField::Skip,
    );
    assert_invalid(f.controller.list(&all(), take(-1)).await, InputField::Take);
    assert_invalid(
        f.controller.list(&all(), take(i64::MIN)).await,
        InputField::Take,
    );
}

#[tokio::test]
async fn the_total_is_absent_unless_asked_for() {
    let f = Fixture::new();
    let session = f.open("alice").await;
    let by_id = SessionFilter {
        id: Some(session.id),
        ..SessionFilter::default()
    };

    for filter in [all(), of_user("alice"), by_id] {
        let page = f.list(&filter, Paging::default()).await;
        assert_eq!((page.total, page.data.len()), (None, 1), "{filter:?}");
    }
}

#[tokio::test]
async fn the_total_counts_every_match_whatever_the_skip_and_take() {
    let f = Fixture::new();
    for _ in 0..7 {
        f.clock.advance(ms(1));
        f.open("alice").await;
    }
    f.open("bob").await;
    let counted = |skip, take| Paging {
        skip: Some(skip),
        take: Some(take),
        total: true,
    };

    for (skip, take, expected_len) in [(0, 3, 3), (5, 3, 2), (7, 3, 0), (50, 10, 0), (0, 100, 7)] {
        let page = f.list(&of_user("alice"), counted(skip, take)).await;
        assert_eq!(page.total, Some(7), "skip {skip} take {take}");
        assert_eq!(page.data.len(), expected_len, "skip {skip} take {take}");
    }
    let everyone = f.list(&all(), counted(100, 1)).await;
    assert_eq!((everyone.total, everyone.data.len()), (Some(8), 0));
}

#[tokio::test]
async fn paging_applies_to_a_listing_by_id_too() {
    let f = Fixture::new();
    let session = f.open("alice").await;
    let by_id = SessionFilter {
        id: Some(session.id),
        ..SessionFilter::default()
    };
    let skip_one = Paging {
        skip: Some(1),
        total: true,
        ..Paging::default()
    };

    let skipped = f.list(&by_id, skip_one).await;
    let none_taken = f.list(&by_id, take(0)).await;

    assert_eq!((skipped.total, skipped.data), (Some(1), vec![]));
    assert_eq!(none_taken.data, vec![]);
}

// ---------------------------------------------------------------------------------------------
// store data / update user
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn storing_data_sets_it_and_marks_the_session_active_now() {
    let f = Fixture::new();
    let opened = f.open("alice").await;
    f.clock.advance(TimeDelta::seconds(30));

    let stored = f
        .controller
        .store_data(&opened.id, Some(json!({"step": 2})))
        .await
        .expect("stores");

    assert_eq!(stored.data, Some(json!({"step": 2})));
    assert_eq!(stored.request_time, f.now());
    assert_eq!(stored.open_time, opened.open_time);
    assert!(stored.active);
    assert_eq!(f.session(opened.id).await, stored);
}

#[tokio::test]
async fn updating_the_user_sets_it_and_marks_the_session_active_now() {
    let f = Fixture::new();
    let opened = f.open("alice").await;
    f.clock.advance(TimeDelta::seconds(30));

    let updated = f
        .controller
        .update_user(&opened.id, Some(json!({"name": "Alice"})))
        .await
        .expect("updates");

    assert_eq!(updated.user, Some(json!({"name": "Alice"})));
    assert_eq!(updated.request_time, f.now());
    assert_eq!(updated.data, opened.data);
    assert_eq!(f.session(opened.id).await, updated);
}

#[tokio::test]
async fn activity_moves_a_session_to_the_front_of_listings() {
    let f = Fixture::new();
    let a = f.open("alice").await;
    f.clock.advance(ms(1));
    let b = f.open("alice").await;
    f.clock.advance(ms(1));
    let c = f.open("alice").await;
    f.open("bob").await;

    f.clock.advance(ms(1));
    f.controller
        .store_data(&a.id, Some(json!(1)))
        .await
        .expect("stores");
    let after_store = (f.ids(&of_user("alice")).await, f.ids(&all()).await);
    f.clock.advance(ms(1));
    f.controller
        .update_user(&b.id, Some(json!(2)))
        .await
        .expect("updates");
    let after_update = f.ids(&of_user("alice")).await;
    let recent = SessionFilter {
        from_time: Some(f.now()),
        ..SessionFilter::default()
    };

    assert_eq!(after_store.0, vec![a.id, c.id, b.id]);
    assert_eq!(after_store.1.first(), Some(&a.id));
    assert_eq!(after_store.1.len(), 4);
    assert_eq!(after_update, vec![b.id, a.id, c.id]);
    assert_eq!(f.ids(&recent).await, vec![b.id]);
}

#[tokio::test]
async fn changing_an_unknown_session_returns_not_found() {
    let f = Fixture::new();
    let unknown = SessionId::random();

    assert_not_found(
        f.controller.store_data(&unknown, Some(json!(1))).await,
        unknown,
    );
    assert_not_found(
        f.controller.update_user(&unknown, Some(json!(1))).await,
        unknown,
    );
    assert_eq!(f.counts().await.total, 0);
}

#[tokio::test]
async fn changing_a_closed_session_returns_closed_and_changes_nothing() {
    let f = Fixture::new();
    let opened = f.open("alice").await;
    let closed = f.controller.close(&opened.id).await.expect("closes");
    f.clock.advance(TimeDelta::seconds(5));

    let data = f.controller.store_data(&opened.id, Some(json!(1))).await;
    let user = f.controller.update_user(&opened.id, Some(json!(2))).await;

    assert_closed(data, opened.id);
    assert_closed(user, opened.id);
    assert_eq!(f.session(opened.id).await, closed);
}

#[tokio::test]
async fn stored_data_and_user_obey_the_payload_limit() {
    let f = Fixture::with_payload_limit(16);
    let opened = f.open("alice").await;
    f.clock.advance(ms(1));

    let data_at_limit = f
        .controller
        .store_data(&opened.id, Some(json_of_size(16)))
        .await;
    let user_at_limit = f
        .controller
        .update_user(&opened.id, Some(json_of_size(16)))
        .await;
    let before = f.session(opened.id).await;
    f.clock.advance(ms(1));
    let data_over = f
        .controller
        .store_data(&opened.id, Some(json_of_size(17)))
        .await;
    let user_over = f
        .controller
        .update_user(&opened.id, Some(json_of_size(17)))
        .await;

    assert_eq!(
        data_at_limit.expect("data at limit").data,
        Some(json_of_size(16))
    );
    assert_eq!(
        user_at_limit.expect("user at limit").user,
        Some(json_of_size(16))
    );
    assert_invalid(data_over, InputField::Data);
    assert_invalid(user_over, InputField::User);
    assert_eq!(f.session(opened.id).await, before);
}

// ---------------------------------------------------------------------------------------------
// close
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn closing_a_session_makes_it_inactive_now_and_drops_user_and_data() {
    let f = Fixture::new();
    let new = NewSession {
        user_name: Some("Alice".into()),
        user: Some(json!({"id": 1})),
        data: Some(json!({"cart": []})),
        ..new_session("alice")
    };
    let opened = f.controller.open(new).await.expect("opens");
    f.clock.advance(TimeDelta::minutes(5));

    let closed = f.controller.close(&opened.id).await.expect("closes");

    assert!(!closed.active);
    assert_eq!(closed.close_time, Some(f.now()));
    assert_eq!(closed.request_time, f.now());
    assert_eq!((closed.user.clone(), closed.data.clone()), (None, None));
    assert_eq!(closed.open_time, opened.open_time);
    assert_eq!(closed.user_name, opened.user_name);
    assert_eq!(f.session(opened.id).await, closed);
}

#[tokio::test]
async fn closing_a_closed_session_returns_it_unchanged() {
    let f = Fixture::new();
    let opened = f.open("alice").await;
    f.clock.advance(TimeDelta::seconds(1));
    let first = f.controller.close(&opened.id).await.expect("closes");
    f.clock.advance(TimeDelta::minutes(10));

    let second = f.controller.close(&opened.id).await.expect("closes again");

    assert_eq!(second, first);
    assert_eq!(second.close_time, Some(start() + TimeDelta::seconds(1)));
    assert_eq!(f.session(opened.id).await, first);
}

#[tokio::test]
async fn closing_an_unknown_session_returns_not_found() {
    let f = Fixture::new();
    f.open("alice").await;
    let unknown = SessionId::random();

    assert_not_found(f.controller.close(&unknown).await, unknown);
    assert_eq!(f.counts().await.active, 1);
}

// ---------------------------------------------------------------------------------------------
// close expired
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn only_sessions_idle_for_longer_than_the_expire_timeout_are_closed() {
    let f = Fixture::with_expire_timeout(Duration::from_secs(600));
    let older = f.open("alice").await;
    f.clock.advance(ms(1));
    let at_boundary = f.open("alice").await;
    // `at_boundary` has been idle exactly the timeout, `older` one millisecond longer.
    f.clock.advance(TimeDelta::seconds(600));

    let closed = f.controller.close_expired().await.expect("runs");

    assert_eq!(closed, 1);
    let older = f.session(older.id).await;
    assert!(!older.active);
    assert_eq!(older.close_time, Some(f.now()));
    assert_eq!(older.request_time, f.now());
    assert!(f.session(at_boundary.id).await.active);
}

#[tokio::test]
async fn a_large_expiry_reports_and_publishes_every_closed_session_once() {
    // Several slices of AFTER_CLOSE_SLICE, ending on a slice boundary and past one.
    for expiring in [2 * AFTER_CLOSE_SLICE, 2 * AFTER_CLOSE_SLICE + 452] {
        let f = Fixture::with_expire_timeout(Duration::from_secs(60));
        let controller = f
            .controller
            .clone()
            .with_events(Arc::new(crate::events::LocalBus::new(
                4 * AFTER_CLOSE_SLICE,
            )));
        let mut opened = HashSet::new();
        for n in 0..expiring {
            let session = controller
                .open(new_session(&format!("user-{}", n % 7)))
                .await
                .expect("opens");
            opened.insert(session.id);
        }
        f.clock.advance(TimeDelta::seconds(61));
        let staying = controller.open(new_session("user-0")).await.expect("opens");
        let mut events = controller.events().subscribe(None);

        let closed = controller.close_expired().await.expect("runs");

        assert_eq!(closed, expiring as u64);
        let mut published = HashSet::new();
        for _ in 0..expiring {
            let delivery = tokio::time::timeout(Duration::from_secs(5), events.next())
                .await
                .expect("an event is queued");
            let Some(crate::events::Delivery::Event(event)) = delivery else {
                panic!("expected an event, got {delivery:?}");
            };
            assert_eq!(event.kind, crate::events::SessionEventKind::Closed);
            assert_eq!(event.reason, Some(CloseReason::IdleTimeout));
            assert!(published.insert(event.session_id), "published twice");
        }
        assert_eq!(published, opened);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), events.next())
                .await
                .is_err(),
            "nothing else was published"
        );
        let counts = controller.counts().await.expect("counts");
        assert_eq!((counts.active, counts.total), (1, expiring as u64 + 1));
        assert!(f.session(staying.id).await.active);
    }
}

#[tokio::test]
async fn closing_expired_sessions_drops_their_user_and_data() {
    let f = Fixture::with_expire_timeout(Duration::from_secs(60));
    let new = NewSession {
        user: Some(json!(1)),
        data: Some(json!(2)),
        ..new_session("alice")
    };
    let opened = f.controller.open(new).await.expect("opens");
    f.clock.advance(TimeDelta::seconds(61));

    f.controller.close_expired().await.expect("runs");

    let expired = f.session(opened.id).await;
    assert_eq!(
        (expired.active, expired.user, expired.data),
        (false, None, None)
    );
}

#[tokio::test]
async fn closing_expired_sessions_counts_only_the_ones_it_closed() {
    let f = Fixture::with_expire_timeout(Duration::from_secs(60));
    let mut expiring = Vec::new();
    for _ in 0..3 {
        expiring.push(f.open("alice").await);
    }
    let already_closed = f.open("bob").await;
    let first_close = f
        .controller
        .close(&already_closed.id)
        .await
        .expect("closes");
    f.clock.advance(TimeDelta::seconds(61));
    let fresh = f.open("carol").await;

    let first_run = f.controller.close_expired().await.expect("runs");
    let second_run = f.controller.close_expired().await.expect("runs again");

    assert_eq!(first_run, 3);
    assert_eq!(second_run, 0);
    for session in expiring {
        assert!(!f.session(session.id).await.active);
    }
    assert_eq!(f.session(already_closed.id).await, first_close);
    assert!(f.session(fresh.id).await.active);
}

#[tokio::test]
async fn activity_postpones_expiry() {
    let f = Fixture::with_expire_timeout(Duration::from_secs(60));
    let with_data = f.open("alice").await;
    let with_user = f.open("alice").await;
    let idle = f.open("alice").await;
    f.clock.advance(TimeDelta::seconds(30));
    f.controller
        .store_data(&with_data.id, Some(json!(1)))
        .await
        .expect("stores");
    f.controller
        .update_user(&with_user.id, Some(json!(1)))
        .await
        .expect("updates");
    f.clock.advance(TimeDelta::seconds(31));

    let first_run = f.controller.close_expired().await.expect("runs");
    let still_open = (
        f.session(with_data.id).await.active,
        f.session(with_user.id).await.active,
        f.session(idle.id).await.active,
    );
    f.clock.advance(TimeDelta::seconds(30));
    let second_run = f.controller.close_expired().await.expect("runs");

    assert_eq!(first_run, 1);
    assert_eq!(still_open, (true, true, false));
    assert_eq!(second_run, 2);
    assert_eq!(f.counts().await.active, 0);
}

// ---------------------------------------------------------------------------------------------
// delete
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn deleting_a_session_returns_it_and_forgets_it_everywhere() {
    let f = Fixture::new();
    let doomed = f.open("alice").await;
    let kept = f.open("alice").await;
    let other = f.open("bob").await;
    f.clock.advance(ms(1));
    let doomed = f
        .controller
        .store_data(&doomed.id, Some(json!("last")))
        .await
        .expect("stores");

    let removed = f.controller.delete(&doomed.id).await.expect("deletes");

    assert_eq!(removed, Some(doomed.clone()));
    assert_eq!(f.controller.get(&doomed.id).await.expect("get"), None);
    let mut remaining = f.ids(&all()).await;
    remaining.sort();
    let mut expected = vec![kept.id, other.id];
    expected.sort();
    assert_eq!(remaining, expected);
    assert_eq!(f.ids(&of_user("alice")).await, vec![kept.id]);
    let by_id = SessionFilter {
        id: Some(doomed.id),
        ..SessionFilter::default()
    };
    assert_eq!(f.ids(&by_id).await, vec![]);
    assert_not_found(f.controller.close(&doomed.id).await, doomed.id);
    assert_not_found(f.controller.store_data(&doomed.id, None).await, doomed.id);
}

#[tokio::test]
async fn deleting_an_unknown_session_returns_none() {
    let f = Fixture::new();
    let session = f.open("alice").await;
    f.controller.delete(&session.id).await.expect("deletes");

    let unknown = f.controller.delete(&SessionId::random()).await;
    let again = f.controller.delete(&session.id).await;

    assert_eq!(unknown.expect("not an error"), None);
    assert_eq!(again.expect("not an error"), None);
}

#[tokio::test]
async fn a_user_whose_sessions_were_all_deleted_can_open_new_ones() {
    let f = Fixture::new();
    let old = f.open("alice").await;
    f.controller.delete(&old.id).await.expect("deletes");
    let emptied = f.ids(&of_user("alice")).await;

    let new = f.open("alice").await;

    assert_eq!(emptied, vec![]);
    assert_eq!(f.ids(&of_user("alice")).await, vec![new.id]);
}

// ---------------------------------------------------------------------------------------------
// counts
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn counts_follow_open_close_expiry_and_delete() {
    let f = Fixture::with_expire_timeout(Duration::from_secs(60));
    let counts = |active, total| SessionCounts { active, total };
    let expiring = f.open("alice").await;
    f.clock.advance(TimeDelta::seconds(61));
    let closing = f.open("alice").await;
    let staying = f.open("bob").await;
    assert_eq!(f.counts().await, counts(3, 3));

    f.controller.close(&closing.id).await.expect("closes");
    assert_eq!(f.counts().await, counts(2, 3));
    f.controller.close(&closing.id).await.expect("closes again");
    assert_eq!(f.counts().await, counts(2, 3));
    f.controller.close_expired().await.expect("expires");
    assert_eq!(f.counts().await, counts(1, 3));
    f.controller.delete(&expiring.id).await.expect("deletes");
    assert_eq!(f.counts().await, counts(1, 2));
    f.controller.delete(&staying.id).await.expect("deletes");
    assert_eq!(f.counts().await, counts(0, 1));
    f.controller
        .delete(&staying.id)
        .await
        .expect("deletes again");
    assert_eq!(f.counts().await, counts(0, 1));
}

// ---------------------------------------------------------------------------------------------
// background cleanup
// ---------------------------------------------------------------------------------------------

fn quick_cleanup() -> ControllerOptions {
    ControllerOptions {
        expire_timeout: Duration::from_secs(60),
        cleanup_interval: Duration::from_millis(20),
        ..ControllerOptions::default()
    }
}

#[tokio::test]
async fn the_cleanup_task_closes_expired_sessions_in_the_background() {
    let f = Fixture::with_options(quick_cleanup());
    let stale = f.open("alice").await;
    f.clock.advance(TimeDelta::seconds(61));
    let fresh = f.open("alice").await;
    let task = f.controller.spawn_cleanup();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    let mut current = f.session(stale.id).await;
    while current.active && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
        current = f.session(stale.id).await;
    }
    let stopped = tokio::time::timeout(Duration::from_secs(1), task.stop()).await;

    assert!(
        !current.active,
        "the cleanup task did not close the session within 2s"
    );
    assert_eq!(current.close_time, Some(f.now()));
    assert!(f.session(fresh.id).await.active);
    assert!(stopped.is_ok(), "stop did not return within 1s");
}

#[tokio::test]
async fn a_stopped_cleanup_task_returns_promptly_and_closes_nothing_more() {
    let f = Fixture::with_options(quick_cleanup());
    let session = f.open("alice").await;
    let task = f.controller.spawn_cleanup();

    let stopped = tokio::time::timeout(Duration::from_secs(1), task.stop()).await;
    f.clock.advance(TimeDelta::seconds(61));
    // Several cleanup intervals: a task still running would close the session by now.
    tokio::time::sleep(Duration::from_millis(100)).await;

    assert!(stopped.is_ok(), "stop did not return within 1s");
    assert!(f.session(session.id).await.active);
}

#[tokio::test]
async fn a_cleanup_task_with_a_long_interval_stops_promptly() {
    let f = Fixture::new();
    let task = f.controller.spawn_cleanup();

    let stopped = tokio::time::timeout(Duration::from_secs(1), task.stop()).await;

    assert!(stopped.is_ok(), "stop waited for a 15 minute interval");
}

// ---------------------------------------------------------------------------------------------
// concurrency
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_data_stores_on_one_session_leave_it_consistent() {
    let f = Fixture::new();
    let target = f.open("alice").await;
    let bystander = f.open("alice").await;

    let writes = (0..200).map(|i| {
        let (controller, clock, id) = (f.controller.clone(), f.clock.clone(), target.id);
        tokio::spawn(async move {
            // Moving time makes every write re-key the session in the indexes.
            clock.advance(ms(1));
            let written = controller.store_data(&id, Some(json!({"n": i}))).await;
            (i, written)
        })
    });
    let results = futures::future::join_all(writes).await;

    for result in results {
        let (i, written) = result.expect("task finishes");
        assert_eq!(written.expect("store succeeds").data, Some(json!({"n": i})));
    }
    let stored = f.session(target.id).await;
    let n = stored.data.as_ref().and_then(|d| d["n"].as_i64());
    assert!(
        n.is_some_and(|n| (0..200).contains(&n)),
        "{:?}",
        stored.data
    );
    let listed = f.list(&of_user("alice"), Paging::default()).await.data;
    assert_eq!(listed.len(), 2);
    assert_eq!(listed.iter().filter(|s| s.id == target.id).count(), 1);
    assert!(listed.contains(&stored));
    assert!(listed.contains(&f.session(bystander.id).await));
    assert_eq!(f.ids(&all()).await.len(), 2);
    assert_eq!(
        f.counts().await,
        SessionCounts {
            active: 2,
            total: 2
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_opens_give_distinct_sessions_and_right_counts() {
    let f = Fixture::new();

    let opens = (0..500).map(|i| {
        let controller = f.controller.clone();
        tokio::spawn(async move {
            controller
                .open(new_session(&format!("user{}", i % 7)))
                .await
        })
    });
    let results = futures::future::join_all(opens).await;

    let ids: HashSet<SessionId> = results
        .into_iter()
        .map(|r| r.expect("task finishes").expect("opens").id)
        .collect();
    assert_eq!(ids.len(), 500);
    assert_eq!(
        f.counts().await,
        SessionCounts {
            active: 500,
            total: 500
        }
    );
    let counted = Paging {
        total: true,
        ..Paging::default()
    };
    assert_eq!(f.list(&all(), counted).await.total, Some(500));
    let mut per_user = 0;
    for user in 0..7 {
        per_user += f
            .list(&of_user(&format!("user{user}")), counted)
            .await
            .total
            .unwrap_or(0);
    }
    assert_eq!(per_user, 500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_data_store_lands_after_a_concurrent_close() {
    let f = Fixture::new();
    let session = f.open("alice").await;

    let stores = (0..100).map(|i| {
        let (controller, clock, id) = (f.controller.clone(), f.clock.clone(), session.id);
        tokio::spawn(async move {
            clock.advance(ms(1));
            controller.store_data(&id, Some(json!(i))).await
        })
    });
    let closer = {
        let (controller, id) = (f.controller.clone(), session.id);
        tokio::spawn(async move { controller.close(&id).await })
    };
    let results = futures::future::join_all(stores).await;
    let closed = closer.await.expect("task finishes").expect("closes");

    for result in results {
        match result.expect("task finishes") {
            Ok(stored) => assert!(stored.active),
            Err(SessionError::Closed(id)) => assert_eq!(id, session.id),
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
    let stored = f.session(session.id).await;
    assert_eq!(stored, closed);
    assert_eq!((stored.active, stored.data), (false, None));
    assert_eq!(f.ids(&of_user("alice")).await, vec![session.id]);
    assert_eq!(
        f.counts().await,
        SessionCounts {
            active: 0,
            total: 1
        }
    );
}
