//! `user` and `data` are a client's documents: their object keys come back in the order the
//! client wrote them, at every depth, whichever way the session is read.
//!
//! The documents are written as JSON text, never with `json!`, and compared as text: a
//! `Value` comparison ignores key order, and the text is what a client sees.

use serde_json::Value;
use sessions::model::{NewSession, Session};

use super::{Fixture, new_session, of_user, take};
use crate::support::Backend;

/// Keys in no sorted order (neither by bytes nor, as `jsonb` sorts, by length first), with
/// objects nested in objects and in arrays.
const USER: &str = r#"{"zeta":1,"alpha":{"y":true,"x":[{"d":1,"c":{"q":2,"p":3}}],"b":null},"mid":"m","Upper":0,"10":"ten","9":"nine"}"#;
const DATA: &str =
    r#"{"z":{},"cart":[{"sku":"x","qty":2,"a":[]}],"b":{"z":{"z":1,"a":2},"a":"last"}}"#;
/// The replacements written by store data and update user: other keys, other orders.
const NEW_DATA: &str = r#"{"step":2,"done":false,"after":{"o":1,"n":{"y":2,"b":3}}}"#;
const NEW_USER: &str = r#"[{"name":"Alice","id":7},{"roles":["b","a"],"admin":true}]"#;

/// A document from its JSON text.
fn doc(text: &str) -> Value {
    serde_json::from_str(text).expect("valid JSON")
}

/// A stored document as JSON text, keys in the order the store gave them back.
fn text(value: &Option<Value>) -> String {
    let value = value.as_ref().expect("a document");
    serde_json::to_string(value).expect("serializes")
}

/// `user` and `data` of `session` are these two texts.
#[track_caller]
fn assert_documents(session: &Session, user: &str, data: &str, what: &str) {
    assert_eq!(text(&session.user), user, "{what}: user");
    assert_eq!(text(&session.data), data, "{what}: data");
}

/// The session as `f` reads it back by id and by listing its user's sessions.
async fn read_back(f: &Fixture, session: &Session) -> [(Session, &'static str); 2] {
    let listed = f.list(&of_user(&session.user_id), take(10)).await.data;
    let listed = listed.into_iter().find(|s| s.id == session.id);
    [
        (f.session(session.id).await, "get"),
        (listed.expect("the session is listed"), "list"),
    ]
}

pub async fn documents_keep_their_key_order_when_a_session_is_opened(backend: &Backend) {
    let f = Fixture::new(backend).await;

    let opened = f
        .open_with(NewSession {
            user: Some(doc(USER)),
            data: Some(doc(DATA)),
            ..new_session("alice")
        })
        .await;

    assert_documents(&opened, USER, DATA, "open");
    for (read, how) in read_back(&f, &opened).await {
        assert_documents(&read, USER, DATA, how);
    }
}

pub async fn documents_keep_their_key_order_when_data_is_stored_and_the_user_updated(
    backend: &Backend,
) {
    let f = Fixture::new(backend).await;
    let opened = f.open("alice").await;

    let stored = f
        .controller
        .store_data(&opened.id, Some(doc(NEW_DATA)))
        .await
        .expect("stores");
    let updated = f
        .controller
        .update_user(&opened.id, Some(doc(NEW_USER)))
        .await
        .expect("updates");

    assert_eq!(text(&stored.data), NEW_DATA, "store data");
    assert_documents(&updated, NEW_USER, NEW_DATA, "update user");
    for (read, how) in read_back(&f, &opened).await {
        assert_documents(&read, NEW_USER, NEW_DATA, how);
    }
}
