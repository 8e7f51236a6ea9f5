//! Who may subscribe to session events over the WebSocket (issue 11's auth rules): the
//! credential travels in `connection_init`; keys need `read`; a session token hears only its
//! own user's events, and its subscriptions end with its session. Also the live gauges and
//! the close at shutdown.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};
use sessions::clock::SystemClock;

use crate::auth::{Keys, gql, open_with};
use crate::helpers::{TestApp, spawn_app, spawn_app_with};
use crate::ws::Ws;

async fn auth_app() -> (TestApp, Keys) {
    let keys = Keys::new();
    let app = spawn_app_with(keys.config(), Arc::new(SystemClock)).await;
    (app, keys)
}

async fn close_session(app: &TestApp, bearer: &str, id: &str) {
    let answer = gql(
        app,
        Some(bearer),
        "mutation($id: ID!) { closeSession(sessionId: $id) { id } }",
        json!({ "id": id }),
    )
    .await;
    assert!(answer.body.get("errors").is_none(), "{}", answer.body);
}

/// The first error's code in a `next` or `error` message for subscription `id`.
fn refusal_code(message: &Value, id: &str) -> Option<String> {
    assert_eq!(message["id"], id, "{message}");
    let errors = match message["type"].as_str() {
        Some("next") => &message["payload"]["errors"],
        Some("error") => &message["payload"],
        _ => panic!("expected a refusal, got {message}"),
    };
    errors[0]["extensions"]["code"].as_str().map(str::to_owned)
}

#[tokio::test]
async fn with_auth_on_a_connection_init_without_a_credential_closes_with_4403() {
    let (app, _keys) = auth_app().await;
    let mut ws = Ws::connect(app.addr).await;
    ws.send(json!({ "type": "connection_init" })).await;
    assert_eq!(ws.close_code().await, 4403);
}

#[tokio::test]
async fn with_auth_on_a_wrong_or_malformed_credential_closes_with_4403() {
    let (app, keys) = auth_app().await;
    let (id, token) = open_with(&app, &keys.write, "alice").await;
    close_session(&app, &keys.write, &id).await;
    for payload in [
        json!({ "Authorization": "Bearer sk_not_a_real_key" }),
        json!({ "Authorization": format!("Basic {}", keys.read) }),
        json!({ "Authorization": 42 }),
        // The token of a closed session.
        json!({ "Authorization": format!("Bearer {token}") }),
    ] {
        let mut ws = Ws::init_with(app.addr, payload.clone()).await;
        assert_eq!(ws.close_code().await, 4403, "{payload}");
    }
}

#[tokio::test]
async fn a_read_key_in_connection_init_subscribes_to_every_users_events() {
    let (app, keys) = auth_app().await;
    for field in ["Authorization", "authorization"] {
        let mut ws =
            Ws::init_with(app.addr, json!({ field: format!("Bearer {}", keys.read) })).await;
        assert_eq!(ws.json().await["type"], "connection_ack", "{field}");
        ws.subscribe("1", "").await;
        ws.send(json!({ "type": "ping" })).await;
        assert_eq!(ws.json().await["type"], "pong");
        let (id, _) = open_with(&app, &keys.write, "anyone").await;
        let event = ws.event("1").await;
        assert_eq!(
            (&event["kind"], &event["sessionId"]),
            (&json!("OPENED"), &json!(id))
        );
    }
}

#[tokio::test]
async fn the_handshakes_authorization_header_counts_when_connection_init_has_none() {
    let (app, keys) = auth_app().await;
    let header = format!("Bearer {}", keys.read);
    let mut ws = Ws::connect_with_header(app.addr, Some(&header)).await;
    ws.send(json!({ "type": "connection_init" })).await;
    assert_eq!(ws.json().await["type"], "connection_ack");

    // A bad header is no way around the check either: 4403, not a 401 at the upgrade.
    let mut ws = Ws::connect_with_header(app.addr, Some("Bearer sk_wrong")).await;
    ws.send(json!({ "type": "connection_init" })).await;
    assert_eq!(ws.close_code().await, 4403);
}

#[tokio::test]
async fn a_session_token_hears_only_its_own_users_events() {
    let (app, keys) = auth_app().await;
    let (_, token) = open_with(&app, &keys.write, "alice").await;
    let mut ws = Ws::ready_as(app.addr, &token).await;
    ws.subscribe("own", "").await;
    ws.subscribe("named", r#"(userId: "alice")"#).await;
    ws.subscribe("other", r#"(userId: "bob")"#).await;
    let refusal = ws.json().await;
    assert_eq!(
        refusal_code(&refusal, "other").as_deref(),
        Some("FORBIDDEN"),
        "{refusal}"
    );
    ws.send(json!({ "type": "ping" })).await;
    // The refusal may be followed by the subscription's `complete`.
    loop {
        let message = ws.json().await;
        if message["type"] == "pong" {
            break;
        }
        assert_eq!(
            (&message["type"], &message["id"]),
            (&json!("complete"), &json!("other"))
        );
    }

    open_with(&app, &keys.write, "bob").await;
    let (alices, _) = open_with(&app, &keys.write, "alice").await;
    let mut got = Vec::new();
    for _ in 0..2 {
        let message = ws.json().await;
        assert_eq!(message["type"], "next", "{message}");
        let event = &message["payload"]["data"]["sessionEvents"];
        assert_eq!(event["userId"], "alice", "{message}");
        assert_eq!(event["sessionId"], json!(alices));
        got.push(message["id"].as_str().expect("id").to_owned());
    }
    got.sort();
    assert_eq!(got, ["named", "own"]);
    ws.assert_quiet().await;
}

#[tokio::test]
async fn a_tokens_subscriptions_complete_after_its_own_session_closes() {
    let (app, keys) = auth_app().await;
    let (id, token) = open_with(&app, &keys.write, "alice").await;
    let (sibling, _) = open_with(&app, &keys.write, "alice").await;
    let mut ws = Ws::ready_as(app.addr, &token).await;
    ws.subscribe("all", "").await;
    ws.subscribe("opens", "(kinds: [OPENED])").await;
    ws.send(json!({ "type": "ping" })).await;
    assert_eq!(ws.json().await["type"], "pong");

    // Another session of the same user closing ends nothing.
    close_session(&app, &keys.write, &sibling).await;
    let event = ws.event("all").await;
    assert_eq!(
        (&event["kind"], &event["sessionId"]),
        (&json!("CLOSED"), &json!(sibling))
    );

    close_session(&app, &token, &id).await;
    let mut seen = Vec::new();
    for _ in 0..3 {
        let message = ws.json().await;
        seen.push(format!(
            "{} {} {}",
            message["type"].as_str().unwrap_or_default(),
            message["id"].as_str().unwrap_or_default(),
            message["payload"]["data"]["sessionEvents"]["kind"]
                .as_str()
                .unwrap_or_default()
        ));
    }
    seen.sort();
    assert_eq!(
        seen,
        ["complete all ", "complete opens ", "next all CLOSED"],
        "the CLOSED event, then both subscriptions complete"
    );
    // Its session closed, the token may not start new subscriptions on this connection.
    ws.subscribe("late", "").await;
    let refusal = ws.json().await;
    assert_eq!(
        refusal_code(&refusal, "late").as_deref(),
        Some("UNAUTHENTICATED"),
        "{refusal}"
    );
}

#[tokio::test]
async fn with_auth_on_plain_get_requests_still_need_a_credential() {
    let (app, keys) = auth_app().await;
    let plain = app
        .client
        .get(app.url("/graphql?query=%7B__typename%7D"))
        .send()
        .await
        .expect("response");
    assert_eq!(plain.status(), StatusCode::UNAUTHORIZED);

    // Saying `Upgrade: websocket` without a real handshake is no way around the check.
    let sneaky = app
        .client
        .get(app.url("/graphql?query=%7Bsessions%7Btotal%7D%7D"))
        .header("Upgrade", "websocket")
        .send()
        .await
        .expect("response");
    assert_eq!(sneaky.status(), StatusCode::BAD_REQUEST);
    let body: Value = sneaky.json().await.expect("JSON");
    assert!(body.get("data").is_none(), "{body}");

    let keyed = app
        .client
        .get(app.url("/graphql?query=%7Bsessions%7Btotal%7D%7D"))
        .bearer_auth(&keys.read)
        .send()
        .await
        .expect("response");
    assert_eq!(keyed.status(), StatusCode::OK);
}

#[tokio::test]
async fn metrics_count_open_subscriptions_and_websockets() {
    let app = spawn_app().await;
    let gauges = |text: &str| {
        let read = |name: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(name)?.trim().parse::<f64>().ok())
                .unwrap_or_else(|| panic!("{name} missing from:\n{text}"))
        };
        (
            read("sessions_event_subscriptions "),
            read("sessions_websocket_connections "),
        )
    };
    let scrape = || async {
        app.client
            .get(app.url("/metrics"))
            .send()
            .await
            .expect("response")
            .text()
            .await
            .expect("text")
    };
    assert_eq!(gauges(&scrape().await), (0.0, 0.0));

    let mut ws = Ws::ready(app.addr).await;
    ws.subscribe("1", "").await;
    ws.subscribe("2", r#"(userId: "u")"#).await;
    ws.send(json!({ "type": "ping" })).await;
    assert_eq!(ws.json().await["type"], "pong");
    assert_eq!(gauges(&scrape().await), (2.0, 1.0));

    ws.send(json!({ "type": "complete", "id": "1" })).await;
    ws.send(json!({ "type": "ping" })).await;
    assert_eq!(ws.json().await["type"], "complete");
    assert_eq!(ws.json().await["type"], "pong");
    assert_eq!(gauges(&scrape().await), (1.0, 1.0));
}

#[tokio::test]
async fn shutting_down_closes_websockets_with_1001() {
    let app = spawn_app().await;
    let addr = app.addr;
    let mut ws = Ws::ready(addr).await;
    ws.subscribe("1", "").await;
    ws.send(json!({ "type": "ping" })).await;
    assert_eq!(ws.json().await["type"], "pong");
    let stopped = tokio::spawn(app.stop());
    assert_eq!(ws.close_code().await, 1001);
    stopped
        .await
        .expect("stop did not panic")
        .expect("the server stopped cleanly");
}

#[tokio::test]
async fn the_rust_client_sends_its_bearer_secret_in_connection_init() {
    use futures::StreamExt;
    use sessions::client::ClientError;
    let (app, keys) = auth_app().await;
    let client = |secret: Option<&str>| {
        let builder = sessions::SessionsClient::builder(&app.url(""));
        match secret {
            Some(secret) => builder.bearer(secret).expect("bearer"),
            None => builder,
        }
        .build()
        .expect("client")
    };

    let refused = client(None).session_events(None, None).await.err();
    assert!(
        matches!(refused, Some(ClientError::Unauthenticated { .. })),
        "{refused:?}"
    );

    let (_, token) = open_with(&app, &keys.write, "alice").await;
    let mut others = client(Some(&token))
        .session_events(Some("bob"), None)
        .await
        .expect("the connection is accepted");
    let first = others.next().await.expect("an item");
    assert!(
        matches!(first, Err(ClientError::Forbidden { .. })),
        "{first:?}"
    );

    let mut events = client(Some(&keys.read))
        .session_events(Some("carol"), None)
        .await
        .expect("subscribes");
    // The subscription runs once the server has read it: keep opening until one arrives.
    let event = loop {
        let (id, _) = open_with(&app, &keys.write, "carol").await;
        let next = tokio::time::timeout(std::time::Duration::from_millis(500), events.next()).await;
        if let Ok(item) = next {
            break (id, item.expect("an item").expect("an event"));
        }
    };
    assert_eq!(event.1.session_id.to_string(), event.0);
    assert_eq!(event.1.user_id, "carol");
}
