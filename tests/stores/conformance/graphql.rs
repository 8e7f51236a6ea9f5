//! The GraphQL schema over each store: error codes, and JSON that comes back as it was sent.

use serde_json::{Value, json};
use sessions::graphql::build_schema;

use super::Fixture;
use crate::support::Backend;

const FIELDS: &str =
    "id userId userName active openTime requestTime closeTime address client user data";

/// Run `query` with `variables` on a schema over `f`'s controller; the response as JSON.
async fn execute(f: &Fixture, query: &str, variables: Value) -> Value {
    let schema = build_schema(f.controller.clone());
    let request = async_graphql::Request::new(query)
        .variables(async_graphql::Variables::from_json(variables));
    serde_json::to_value(schema.execute(request).await).expect("response serializes")
}

fn code(response: &Value) -> &str {
    response["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {response}"))
}

pub async fn rule_violations_reach_graphql_clients_with_their_codes(backend: &Backend) {
    let f = Fixture::new(backend).await;
    let closed = f.open("alice").await;
    f.controller.close(&closed.id).await.expect("closes");
    let unknown = sessions::model::SessionId::random().to_string();
    let store = "mutation($id: ID!) { storeSessionData(sessionId: $id, data: 1) { id } }";
    let close = "mutation($id: ID!) { closeSession(sessionId: $id) { id } }";
    let open = "mutation($u: String!) { openSession(input: {userId: $u}) { id } }";
    let list = "{ sessions(paging: {skip: -1}) { total } }";

    let cases = [
        (store, json!({"id": unknown}), "NOT_FOUND"),
        (close, json!({"id": unknown}), "NOT_FOUND"),
        (
            store,
            json!({"id": closed.id.to_string()}),
            "SESSION_CLOSED",
        ),
        (open, json!({"u": "  "}), "BAD_USER_INPUT"),
        (open, json!({"u": "a\u{0}b"}), "BAD_USER_INPUT"),
        (list, json!({}), "BAD_USER_INPUT"),
    ];
    for (query, variables, expected) in cases {
        let response = execute(&f, query, variables.clone()).await;
        assert_eq!(code(&response), expected, "{query} {variables}: {response}");
    }
    let missing = execute(
        &f,
        "query($id: ID!) { session(id: $id) { id } }",
        json!({"id": unknown}),
    )
    .await;
    assert_eq!(missing, json!({"data": {"session": null}}));
}

pub async fn json_round_trips_through_graphql_unchanged(backend: &Backend) {
    let f = Fixture::new(backend).await;
    let user = json!({"name": "Ünïcödé", "roles": ["a", "b"], "flags": {"x": true, "y": null}});
    let data = json!([{"n": 1.25}, "two", 3, null, [[], {}], -0.5, 12345678901234567_u64]);
    let open = format!(
        "mutation($user: JSON, $data: JSON) {{ \
           openSession(input: {{userId: \"alice\", user: $user, data: $data}}) {{ {FIELDS} }} }}"
    );

    let opened = execute(&f, &open, json!({"user": user, "data": data})).await;
    let id = opened["data"]["openSession"]["id"].clone();
    let read = execute(
        &f,
        &format!("query($id: ID!) {{ session(id: $id) {{ {FIELDS} }} }}"),
        json!({"id": id}),
    )
    .await;

    assert!(opened.get("errors").is_none(), "{opened}");
    assert_eq!(read["data"]["session"], opened["data"]["openSession"]);
    assert_eq!(read["data"]["session"]["user"], user);
    assert_eq!(read["data"]["session"]["data"], data);
}

pub async fn json_keeps_its_key_order_through_graphql_variables_and_literals(backend: &Backend) {
    let f = Fixture::new(backend).await;
    let schema = build_schema(f.controller.clone());
    // Variables as JSON text (a `json!` value would not say which order the client wrote),
    // the response as the text a client receives.
    let user = r#"{"zeta":1,"alpha":{"y":[{"d":1,"c":2}],"b":null},"mid":"m"}"#;
    let variables = serde_json::from_str(&format!(r#"{{"user":{user}}}"#)).expect("valid JSON");
    let literal = r#"{z: {}, cart: [{sku: "x", qty: 2}], b: {z: 1, a: "last"}}"#;
    let data = r#"{"z":{},"cart":[{"sku":"x","qty":2}],"b":{"z":1,"a":"last"}}"#;
    let open = format!(
        "mutation($user: JSON) {{ \
           openSession(input: {{userId: \"alice\", user: $user, data: {literal}}}) {{ id user data }} }}"
    );
    let run = |request: async_graphql::Request| {
        let schema = schema.clone();
        async move {
            let response = schema.execute(request).await;
            serde_json::to_string(&response).expect("response serializes")
        }
    };

    let opened =
        run(async_graphql::Request::new(open)
            .variables(async_graphql::Variables::from_json(variables)))
        .await;
    let id = serde_json::from_str::<Value>(&opened).expect("JSON")["data"]["openSession"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {opened}"))
        .to_owned();
    let read = run(async_graphql::Request::new(format!(
        "{{ session(id: \"{id}\") {{ user data }} }}"
    )))
    .await;

    for (what, response) in [("open", &opened), ("read", &read)] {
        assert!(
            response.contains(&format!(r#""user":{user}"#)),
            "{what}: {response}"
        );
        assert!(
            response.contains(&format!(r#""data":{data}"#)),
            "{what}: {response}"
        );
    }
}
