//! Opening and reading sessions: every field, times and JSON come back exactly as written.

use chrono::{DateTime, TimeDelta};
use serde_json::{Value, json};
use sessions::controller::ControllerOptions;
use sessions::error::{InputField, SessionError};
use sessions::model::{NewSession, Session, SessionFilter, SessionId};
use sessions::store::StoreError;

use super::{Fixture, new_session, of_user, start};
use crate::support::Backend;

pub async fn the_store_answers_a_ping(backend: &Backend) {
    let f = Fixture::new(backend).await;

    let answered = f.store.ping().await;

    assert!(answered.is_ok(), "{answered:?}");
}

pub async fn an_opened_session_reads_back_with_every_field_exactly(backend: &Backend) {
    let f = Fixture::new(backend).await;
    let new = NewSession {
        user_id: "alice".into(),
        user_name: Some("Alice Liddell".into()),
        address: Some("192.0.2.7".into()),
        client: Some("firefox 128 — ünïcödé ✓".into()),
        user: Some(json!({"roles": ["admin", "ops"], "age": 31})),
        data: Some(json!({"cart": [1, 2, {"sku": "x"}]})),
    };

    let opened = f.open_with(new.clone()).await;
    let read = f.session(opened.id).await;

    let expected = Session {
        id: opened.id,
        user_id: new.user_id,
        user_name: new.user_name,
        active: true,
        open_time: start(),
        request_time: start(),
        close_time: None,
        address: new.address,
        client: new.client,
        user: new.user,
        data: new.data,
        close_reason: None,
        closed_by: None,
        token_hash: opened.token_hash,
    };
    assert!(opened.token_hash.is_some(), "every session has a token");
    assert_eq!(opened, expected);
    assert_eq!(read, expected);
}

pub async fn getting_an_unknown_session_returns_none(backend: &Backend) {
    let f = Fixture::new(backend).await;
    f.open("alice").await;

    let found = f.controller.get(&SessionId::random()).await;

    assert_eq!(found.expect("get succeeds"), None);
}

pub async fn times_are_kept_to_the_millisecond_and_filter_exactly_as_printed(backend: &Backend) {
    let f = Fixture::new(backend).await;
    let precise = DateTime::from_timestamp(1_700_000_000, 123_456_789).expect("valid time");
    let truncated = DateTime::from_timestamp_millis(1_700_000_000_123).expect("valid time");
    f.clock.set(precise);

    let opened = f.open("alice").await;
    f.clock.set(precise + TimeDelta::microseconds(1_500));
    let stored = f
        .controller
        .store_data(&opened.id, Some(json!(1)))
        .await
        .expect("stores");

    let read = f.session(opened.id).await;
    assert_eq!(read.open_time, truncated);
    assert_eq!(read.request_time, truncated + TimeDelta::milliseconds(1));
    assert_eq!(read, stored);
    // What a client sees is what the store filters on: the printed time is an exact bound.
    let from_printed = SessionFilter {
        from_time: Some(read.request_time),
        ..SessionFilter::default()
    };
    let before_printed = SessionFilter {
        to_time: Some(read.request_time),
        ..SessionFilter::default()
    };
    assert_eq!(f.ids(&from_printed).await, vec![opened.id]);
    assert_eq!(f.ids(&before_printed).await, Vec::<SessionId>::new());
}

/// JSON of every kind, nested, including numbers that only survive a careful round trip.
fn every_kind_of_json() -> Value {
    json!({
        "object": {"nested": {"deeper": {"list": [1, [2, [3, []]], {}]}}},
        "array": [null, true, false, 0, -1, "two", {"three": 3}],
        "strings": ["", " ", "quote \" backslash \\ slash /", "tab\tnewline\nreturn\r",
                    "ünïcödé", "emoji 🎉", "\u{1F600}\u{00E9}\u{4E2D}", "<script>&amp;</script>"],
        "numbers": [0, 1, -1, 42, 9_007_199_254_740_993_u64, u64::MAX, i64::MIN,
                    0.1, -2.5, 1.5e300, 5e-324, 2.225_073_858_507_201_4e-308,
                    1.797_693_134_862_315_7e308, 123_456_789.123_456_79, 1e21, 1e-7],
        "null": null,
        "bools": {"yes": true, "no": false},
        "keys with spaces and ünïcödé": "value",
    })
}

pub async fn json_round_trips_nested_objects_arrays_strings_numbers_and_null(backend: &Backend) {
    let f = Fixture::new(backend).await;
    let tops = [
        every_kind_of_json(),
        json!([1, "two", null, {"three": [3.25]}]),
        json!("just a string"),
        json!(12345.678),
        json!(-7),
        json!(true),
        json!({}),
        json!([]),
    ];

    for value in tops {
        let opened = f
            .open_with(NewSession {
                user: Some(value.clone()),
                data: Some(value.clone()),
                ..new_session("alice")
            })
            .await;
        let updated = f
            .controller
            .update_user(&opened.id, Some(value.clone()))
            .await
            .expect("updates");
        let stored = f
            .controller
            .store_data(&opened.id, Some(value.clone()))
            .await
            .expect("stores");

        let read = f.session(opened.id).await;
        for (what, got) in [
            ("opened user", &opened.user),
            ("updated user", &updated.user),
            ("stored data", &stored.data),
            ("read user", &read.user),
            ("read data", &read.data),
        ] {
            assert_eq!(got.as_ref(), Some(&value), "{what}");
        }
        // Numbers must come back as the same JSON text, not merely an equal float.
        let text = |v: &Option<Value>| serde_json::to_string(v).expect("serializes");
        assert_eq!(text(&read.data), text(&Some(value.clone())));
    }
    let listed = f.list(&of_user("alice"), Default::default()).await.data;
    assert!(listed.iter().any(|s| s.data == Some(every_kind_of_json())));
}

pub async fn text_and_json_at_their_size_limits_round_trip(backend: &Backend) {
    let options = ControllerOptions {
        max_payload: 64 * 1024,
        ..ControllerOptions::default()
    };
    let f = Fixture::with_options(backend, options).await;
    // Multi-byte characters: limits count characters, and the store must keep every byte.
    let user_id = "é".repeat(256);
    let text = "ü".repeat(1024);
    // A JSON string of exactly 64 KiB once serialized (quotes included).
    let payload = Value::from("x".repeat(64 * 1024 - 2));

    let opened = f
        .open_with(NewSession {
            user_id: user_id.clone(),
            user_name: Some(text.clone()),
            address: Some(text.clone()),
            client: Some(text.clone()),
            user: Some(payload.clone()),
            data: Some(payload.clone()),
        })
        .await;

    let read = f.session(opened.id).await;
    assert_eq!(read, opened);
    assert_eq!(read.user_id, user_id);
    assert_eq!(read.client.as_deref(), Some(text.as_str()));
    assert_eq!(read.data.as_ref(), Some(&payload));
    assert_eq!(f.ids(&of_user(&user_id)).await, vec![opened.id]);
}

#[track_caller]
fn assert_invalid<T: std::fmt::Debug>(result: Result<T, SessionError>, expected: InputField) {
    match result {
        Err(SessionError::InvalidInput { field, .. }) => assert_eq!(field, expected),
        other => panic!("expected invalid {expected}, got {other:?}"),
    }
}

pub async fn text_or_json_holding_a_nul_character_is_rejected(backend: &Backend) {
    let f = Fixture::new(backend).await;
    let nul = "a\u{0}b".to_owned();
    let open = |new: NewSession| f.controller.open(new);
    let session = f.open("alice").await;

    assert_invalid(open(new_session(&nul)).await, InputField::UserId);
    let named = NewSession {
        user_name: Some(nul.clone()),
        ..new_session("bob")
    };
    assert_invalid(open(named).await, InputField::UserName);
    let with_data = NewSession {
        data: Some(json!({"deep": ["ok", nul.clone()]})),
        ..new_session("bob")
    };
    assert_invalid(open(with_data).await, InputField::Data);
    let user = Some(json!({ nul.clone(): 1 }));
    assert_invalid(
        f.controller.update_user(&session.id, user).await,
        InputField::User,
    );
    let data = Some(json!(nul.clone()));
    assert_invalid(
        f.controller.store_data(&session.id, data).await,
        InputField::Data,
    );

    // Nothing was stored, and asking for such a user finds nobody rather than failing.
    assert_eq!(f.session(session.id).await, session);
    assert_eq!(f.counts().await.total, 1);
    assert!(f.ids(&of_user(&nul)).await.is_empty());
}

pub async fn a_session_id_is_stored_only_once(backend: &Backend) {
    let f = Fixture::new(backend).await;
    let first = f.open("alice").await;
    let twin = Session {
        user_id: "bob".into(),
        ..first.clone()
    };

    let result = f.store.insert(&twin).await;

    assert!(
        matches!(result, Err(StoreError::Duplicate(id)) if id == first.id),
        "{result:?}"
    );
    assert_eq!(f.session(first.id).await, first);
    assert!(f.ids(&of_user("bob")).await.is_empty());
}
