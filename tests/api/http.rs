//! The HTTP surface: bad requests get GraphQL-shaped JSON errors with the right status, limits
//! hold without breaking GraphiQL, GET is read-only, correlation ids, health, the playground page
//! and CORS.

use std::sync::Arc;

use reqwest::header::{ACCEPT, ALLOW, CONTENT_TYPE, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sessions::clock::SystemClock;
use sessions::config::Config;
use sessions::http::MAX_BODY_BYTES;
use sessions::http::playground::EXAMPLES;

use crate::helpers::{TestApp, assert_no_errors, spawn_app, spawn_app_with};

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
const CORRELATION: &str = "x-correlation-id";

/// Check that `response` is a GraphQL-shaped JSON error (`{"errors": [{"message", "extensions":
/// {"code"}}]}`) with this status and code; returns the body.
async fn expect_json_error(response: reqwest::Response, status: StatusCode, code: &str) -> Value {
    let actual_status = response.status();
    let content_type = content_type(&response);
    let text = response.text().await.expect("response body");
    assert_eq!(actual_status, status, "unexpected status; body: {text}");
    assert!(
        content_type.starts_with("application/json")
            || content_type.starts_with(GRAPHQL_RESPONSE_JSON),
        "error body is not JSON but {content_type:?}: {text}"
    );
    let body: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("body is not JSON ({e}): {text}"));
    let error = &body["errors"][0];
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "error without a message: {body}"
    );
    assert_eq!(error["extensions"]["code"], code, "unexpected code: {body}");
    body
}

/// The response's content type, or "" when it has none.
fn content_type(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// A normal query still gets a normal answer: the bad request did not break the server.
async fn assert_still_serving(app: &TestApp) {
    let body = app
        .graphql("{ sessions(paging: {total: true}) { total } }", json!({}))
        .await;
    assert_no_errors(&body);
    assert!(
        body["data"]["sessions"]["total"].is_u64(),
        "unexpected answer: {body}"
    );
}

/// POST this JSON body to `/graphql`, asking for `accept`.
async fn post_json(app: &TestApp, body: &Value, accept: &str) -> reqwest::Response {
    app.client
        .post(app.url("/graphql"))
        .header(ACCEPT, accept)
        .json(body)
        .send()
        .await
        .expect("request sent")
}

/// A POST body of valid JSON that is larger than the request body limit.
fn oversize_body() -> Vec<u8> {
    let padding = "x".repeat(MAX_BODY_BYTES);
    json!({ "query": "{ sessions { total } }", "padding": padding })
        .to_string()
        .into_bytes()
}

#[tokio::test]
async fn a_malformed_json_body_is_answered_with_400_bad_request() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let response = app
        .client
        .post(app.url("/graphql"))
        .header(CONTENT_TYPE, "application/json")
        .body(r#"{"query": "{ sessions { total } }""#)
        .send()
        .await
        .expect("request sent");

    // Assert
    expect_json_error(response, StatusCode::BAD_REQUEST, "BAD_REQUEST").await;
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn a_json_body_without_a_query_is_answered_with_400_bad_request() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let response = post_json(&app, &json!({ "variables": {} }), "application/json").await;

    // Assert
    expect_json_error(response, StatusCode::BAD_REQUEST, "BAD_REQUEST").await;
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn a_body_that_is_not_json_is_answered_with_415() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let response = app
        .client
        .post(app.url("/graphql"))
        .header(CONTENT_TYPE, "text/plain")
        .body(r#"{"query": "{ sessions { total } }"}"#)
        .send()
        .await
        .expect("request sent");

    // Assert
    expect_json_error(response, StatusCode::UNSUPPORTED_MEDIA_TYPE, "BAD_REQUEST").await;
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn a_syntax_error_is_graphql_parse_failed_with_200_for_plain_json_clients() {
    // Arrange
    let app = spawn_app().await;
    let request = json!({ "query": "{ sessions { total }" });

    // Act
    let response = post_json(&app, &request, "application/json").await;

    // Assert
    assert_eq!(content_type(&response), "application/json");
    expect_json_error(response, StatusCode::OK, "GRAPHQL_PARSE_FAILED").await;
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn a_syntax_error_is_400_for_clients_that_accept_graphql_response_json() {
    // Arrange
    let app = spawn_app().await;
    let request = json!({ "query": "{ sessions { total }" });

    // Act
    let response = post_json(&app, &request, GRAPHQL_RESPONSE_JSON).await;

    // Assert
    assert_eq!(content_type(&response), GRAPHQL_RESPONSE_JSON);
    expect_json_error(response, StatusCode::BAD_REQUEST, "GRAPHQL_PARSE_FAILED").await;
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn an_unknown_field_is_graphql_validation_failed_with_200_for_plain_json_clients() {
    // Arrange
    let app = spawn_app().await;
    let request = json!({ "query": "{ sessions { total colour } }" });

    // Act
    let response = post_json(&app, &request, "application/json").await;

    // Assert
    assert_eq!(content_type(&response), "application/json");
    let body = expect_json_error(response, StatusCode::OK, "GRAPHQL_VALIDATION_FAILED").await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("colour")),
        "{body}"
    );
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn an_unknown_field_is_400_for_clients_that_accept_graphql_response_json() {
    // Arrange
    let app = spawn_app().await;
    let request = json!({ "query": "{ sessions { total colour } }" });

    // Act
    let response = post_json(&app, &request, GRAPHQL_RESPONSE_JSON).await;

    // Assert
    assert_eq!(content_type(&response), GRAPHQL_RESPONSE_JSON);
    expect_json_error(
        response,
        StatusCode::BAD_REQUEST,
        "GRAPHQL_VALIDATION_FAILED",
    )
    .await;
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn a_variable_of_the_wrong_type_is_graphql_validation_failed() {
    // Arrange
    let app = spawn_app().await;
    let request = json!({
        "query": "query($paging: Paging) { sessions(paging: $paging) { total } }",
        "variables": { "paging": { "take": "ten" } },
    });

    // Act
    let response = post_json(&app, &request, "application/json").await;

    // Assert
    expect_json_error(response, StatusCode::OK, "GRAPHQL_VALIDATION_FAILED").await;
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn a_body_over_1_mib_with_a_content_length_is_answered_with_413() {
    // Arrange
    let app = spawn_app().await;
    let body = oversize_body();

    // Act
    let response = app
        .client
        .post(app.url("/graphql"))
        .header(CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .expect("request sent");

    // Assert
    expect_json_error(response, StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE").await;
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn a_streamed_body_over_1_mib_without_a_content_length_is_answered_with_413() {
    // Arrange
    let app = spawn_app().await;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = oversize_body()
        .chunks(64 * 1024)
        .map(|chunk| Ok(chunk.to_vec()))
        .collect();
    // A stream of unknown length is sent chunked, so only reading it can find it too large.
    let body = reqwest::Body::wrap_stream(futures::stream::iter(chunks));

    // Act
    let response = app
        .client
        .post(app.url("/graphql"))
        .header(CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .expect("request sent");

    // Assert
    expect_json_error(response, StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE").await;
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn a_query_nested_deeper_than_16_is_graphql_validation_failed() {
    // Arrange
    let app = spawn_app().await;
    // __schema, types, fields, type, then 16 ofType: 20 levels, under the parser's own 32.
    let too_deep = json!({ "query": nested_type_query(16) });
    // The same shape 12 levels deep: only the depth differs.
    let shallow = json!({ "query": nested_type_query(8) });

    // Act
    let refused = post_json(&app, &too_deep, "application/json").await;
    let answered = post_json(&app, &shallow, "application/json").await;

    // Assert
    expect_json_error(refused, StatusCode::OK, "GRAPHQL_VALIDATION_FAILED").await;
    let body: Value = answered.json().await.expect("JSON body");
    assert_no_errors(&body);
    assert_still_serving(&app).await;
}

/// `{ __schema { types { fields { type { ofType { … name } } } } } }` with `of_types` levels of `ofType`.
fn nested_type_query(of_types: usize) -> String {
    let nested = (0..of_types).fold("name".to_owned(), |inner, _| {
        format!("ofType {{ {inner} }}")
    });
    format!("{{ __schema {{ types {{ fields {{ type {{ {nested} }} }} }} }} }}")
}

/// The introspection query GraphiQL sends on load: graphql-js `getIntrospectionQuery` with
/// descriptions, specifiedByURL, directive isRepeatable, schemaDescription and
/// inputValueDeprecation all on.
const INTROSPECTION_QUERY: &str = r"
query IntrospectionQuery {
  __schema {
    description
    queryType { name }
    mutationType { name }
    subscriptionType { name }
    types {
      ...FullType
    }
    directives {
      name
      description
      isRepeatable
      locations
      args(includeDeprecated: true) {
        ...InputValue
      }
    }
  }
}

fragment FullType on __Type {
  kind
  name
  description
  specifiedByURL
  fields(includeDeprecated: true) {
    name
    description
    args(includeDeprecated: true) {
      ...InputValue
    }
    type {
      ...TypeRef
    }
    isDeprecated
    deprecationReason
  }
  inputFields(includeDeprecated: true) {
    ...InputValue
  }
  interfaces {
    ...TypeRef
  }
  enumValues(includeDeprecated: true) {
    name
    description
    isDeprecated
    deprecationReason
  }
  possibleTypes {
    ...TypeRef
  }
}

fragment InputValue on __InputValue {
  name
  description
  type { ...TypeRef }
  defaultValue
  isDeprecated
  deprecationReason
}

fragment TypeRef on __Type {
  kind
  name
  ofType {
    kind
    name
    ofType {
      kind
      name
      ofType {
        kind
        name
        ofType {
          kind
          name
          ofType {
            kind
            name
            ofType {
              kind
              name
              ofType {
                kind
                name
              }
            }
          }
        }
      }
    }
  }
}
";

#[tokio::test]
async fn graphiqls_introspection_query_succeeds_under_the_limits() {
    // Arrange
    let app = spawn_app().await;
    let request = json!({ "query": INTROSPECTION_QUERY, "operationName": "IntrospectionQuery" });

    // Act
    let response = post_json(&app, &request, "application/json").await;

    // Assert
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("JSON body");
    assert_no_errors(&body);
    let types: Vec<&str> = body["data"]["__schema"]["types"]
        .as_array()
        .expect("a list of types")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    for wanted in [
        "Session",
        "SessionPage",
        "SessionFilter",
        "Paging",
        "OpenSessionInput",
        "DateTime",
        "JSON",
    ] {
        assert!(
            types.contains(&wanted),
            "introspection does not list {wanted}: {types:?}"
        );
    }
    assert_eq!(body["data"]["__schema"]["mutationType"]["name"], "Mutation");
}

#[tokio::test]
async fn a_query_can_be_sent_with_get() {
    // Arrange
    let app = spawn_app().await;
    app.open_session("get-user").await;

    // Act
    let response = app
        .client
        .get(app.url("/graphql"))
        .query(&[(
            "query",
            "{ sessions(paging: {total: true}) { total data { userId } } }",
        )])
        .send()
        .await
        .expect("request sent");

    // Assert
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("JSON body");
    assert_no_errors(&body);
    assert_eq!(body["data"]["sessions"]["total"], 1);
    assert_eq!(body["data"]["sessions"]["data"][0]["userId"], "get-user");
}

/// How many sessions the server holds.
async fn session_count(app: &TestApp) -> u64 {
    let body = app
        .graphql("{ sessions(paging: {total: true}) { total } }", json!({}))
        .await;
    assert_no_errors(&body);
    body["data"]["sessions"]["total"].as_u64().expect("a total")
}

#[tokio::test]
async fn a_mutation_sent_with_get_is_refused_and_not_executed() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let response = app
        .client
        .get(app.url("/graphql"))
        .query(&[(
            "query",
            r#"mutation { openSession(input: {userId: "via-get"}) { id } }"#,
        )])
        .send()
        .await
        .expect("request sent");

    // Assert
    assert_eq!(
        response.headers().get(ALLOW).map(HeaderValue::as_bytes),
        Some(&b"POST"[..])
    );
    expect_json_error(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
    )
    .await;
    assert_eq!(session_count(&app).await, 0, "the mutation ran");
}

#[tokio::test]
async fn a_mutation_chosen_by_operation_name_over_get_is_refused_and_not_executed() {
    // Arrange
    let app = spawn_app().await;
    let document = r#"query Count { sessions { total } } mutation Open { openSession(input: {userId: "via-get"}) { id } }"#;

    // Act
    let response = app
        .client
        .get(app.url("/graphql"))
        .query(&[("query", document), ("operationName", "Open")])
        .send()
        .await
        .expect("request sent");

    // Assert
    expect_json_error(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
    )
    .await;
    assert_eq!(session_count(&app).await, 0, "the mutation ran");
}

#[tokio::test]
async fn a_query_chosen_by_operation_name_can_be_sent_with_get() {
    // Arrange
    let app = spawn_app().await;
    let document = r#"query Count { sessions(paging: {total: true}) { total } } mutation Open { openSession(input: {userId: "via-get"}) { id } }"#;

    // Act
    let response = app
        .client
        .get(app.url("/graphql"))
        .query(&[("query", document), ("operationName", "Count")])
        .send()
        .await
        .expect("request sent");

    // Assert
    let status = response.status();
    let body: Value = response.json().await.expect("JSON body");
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_no_errors(&body);
    assert_eq!(body["data"]["sessions"]["total"], 0);
}

#[tokio::test]
async fn get_without_a_query_is_answered_with_400_bad_request() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let response = app
        .client
        .get(app.url("/graphql"))
        .send()
        .await
        .expect("request sent");

    // Assert
    expect_json_error(response, StatusCode::BAD_REQUEST, "BAD_REQUEST").await;
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn an_unknown_route_is_answered_with_a_json_404() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let response = app
        .client
        .get(app.url("/no/such/route"))
        .send()
        .await
        .expect("request sent");

    // Assert
    expect_json_error(response, StatusCode::NOT_FOUND, "ROUTE_NOT_FOUND").await;
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn put_on_graphql_is_answered_with_a_json_405() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let response = app
        .client
        .put(app.url("/graphql"))
        .json(&json!({ "query": "{ sessions { total } }" }))
        .send()
        .await
        .expect("request sent");

    // Assert
    let allow = response.headers().get(ALLOW).cloned();
    expect_json_error(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
    )
    .await;
    let allow = allow.expect("an Allow header");
    assert!(
        allow.to_str().is_ok_and(|v| v.contains("POST")),
        "Allow: {allow:?}"
    );
    assert_still_serving(&app).await;
}

/// Send a query that fails (a malformed id) with this correlation header, if any; returns the
/// echoed header and the error's `extensions.correlationId`.
async fn correlation_ids(app: &TestApp, sent: Option<HeaderValue>) -> (String, String) {
    let mut request = app
        .client
        .post(app.url("/graphql"))
        .json(&json!({ "query": r#"{ session(id: "not-an-id") { id } }"# }));
    if let Some(sent) = sent {
        request = request.header(CORRELATION, sent);
    }
    let response = request.send().await.expect("request sent");
    let echoed = response
        .headers()
        .get(CORRELATION)
        .expect("a correlation header")
        .to_str()
        .expect("a printable correlation header")
        .to_owned();
    let body: Value = response.json().await.expect("JSON body");
    let in_error = body["errors"][0]["extensions"]["correlationId"]
        .as_str()
        .unwrap_or_else(|| panic!("error without correlationId: {body}"))
        .to_owned();
    (echoed, in_error)
}

fn is_generated_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

#[tokio::test]
async fn a_given_correlation_id_is_echoed_in_the_header_and_in_errors() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let (echoed, in_error) = correlation_ids(&app, Some(HeaderValue::from_static("abc-123"))).await;
    let not_found = app
        .client
        .get(app.url("/nowhere"))
        .header(CORRELATION, "abc-123")
        .send()
        .await
        .expect("request sent");

    // Assert
    assert_eq!(echoed, "abc-123");
    assert_eq!(in_error, "abc-123");
    assert_eq!(
        not_found
            .headers()
            .get(CORRELATION)
            .map(HeaderValue::as_bytes),
        Some(&b"abc-123"[..])
    );
    let body = expect_json_error(not_found, StatusCode::NOT_FOUND, "ROUTE_NOT_FOUND").await;
    assert_eq!(body["errors"][0]["extensions"]["correlationId"], "abc-123");
}

#[tokio::test]
async fn a_missing_correlation_id_is_generated_and_echoed() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let (echoed, in_error) = correlation_ids(&app, None).await;
    let (again, _) = correlation_ids(&app, None).await;

    // Assert
    assert!(is_generated_id(&echoed), "not 32 hex digits: {echoed:?}");
    assert_eq!(in_error, echoed);
    assert_ne!(again, echoed, "two requests got the same generated id");
}

#[tokio::test]
async fn an_over_long_or_unprintable_correlation_id_is_replaced_by_a_generated_one() {
    // Arrange
    let app = spawn_app().await;
    let bad_ids = [
        HeaderValue::from_str(&"a".repeat(200)).expect("header value"),
        HeaderValue::from_str("abc\tdef").expect("header value"),
        HeaderValue::from_bytes("caf\u{e9}".as_bytes()).expect("header value"),
    ];

    for sent in bad_ids {
        // Act
        let (echoed, in_error) = correlation_ids(&app, Some(sent.clone())).await;

        // Assert
        assert!(
            is_generated_id(&echoed),
            "{sent:?} was answered with {echoed:?}"
        );
        assert_eq!(in_error, echoed);
    }
}

#[tokio::test]
async fn heartbeat_answers_ok() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let response = app
        .client
        .get(app.url("/heartbeat"))
        .send()
        .await
        .expect("request sent");

    // Assert
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.expect("body"), "OK");
}

async fn status(app: &TestApp) -> Value {
    let response = app
        .client
        .get(app.url("/status"))
        .send()
        .await
        .expect("request sent");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(content_type(&response).starts_with("application/json"));
    response.json().await.expect("JSON body")
}

#[tokio::test]
async fn status_reports_the_service_and_counts_that_follow_opens_and_closes() {
    // Arrange
    let app = spawn_app().await;
    let before = status(&app).await;
    let first = app.open_session("status-user").await;
    app.open_session("status-user").await;
    let closed = app
        .graphql(
            "mutation($id: ID!) { closeSession(sessionId: $id) { active } }",
            json!({ "id": first["id"] }),
        )
        .await;
    assert_no_errors(&closed);

    // Act
    let after = status(&app).await;

    // Assert
    assert_eq!(before["name"], "sessions");
    assert_eq!(before["version"], env!("CARGO_PKG_VERSION"));
    assert!(before["uptime_seconds"].is_u64(), "{before}");
    assert_eq!(before["sessions"], json!({ "active": 0, "total": 0 }));
    assert_eq!(after["sessions"], json!({ "active": 1, "total": 2 }));
}

/// The operation name of an example: the word after its `query`, `mutation` or
/// `subscription` keyword.
fn operation_name(source: &str) -> &str {
    source
        .lines()
        .filter_map(|line| {
            line.strip_prefix("query ")
                .or_else(|| line.strip_prefix("mutation "))
                .or_else(|| line.strip_prefix("subscription "))
        })
        .find_map(|rest| {
            rest.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .next()
        })
        .expect("a named operation")
}

#[tokio::test]
async fn the_playground_page_is_graphiql_with_every_example_operation() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let response = app
        .client
        .get(app.url("/"))
        .send()
        .await
        .expect("request sent");

    // Assert
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        content_type(&response).starts_with("text/html"),
        "{:?}",
        content_type(&response)
    );
    let page = response.text().await.expect("body");
    assert!(page.contains("GraphiQL"));
    for (file, source) in EXAMPLES {
        let name = operation_name(source);
        assert!(
            page.contains(name),
            "the page does not offer {name} ({file})"
        );
        // The tabs carry each example as a JSON string ("</" written as "<\/").
        let as_json = serde_json::to_string(source)
            .expect("JSON")
            .replace("</", "<\\/");
        assert!(
            page.contains(&as_json),
            "the page does not carry the text of {file}"
        );
    }
}

async fn preflight(app: &TestApp, origin: &str) -> reqwest::Response {
    app.client
        .request(Method::OPTIONS, app.url("/graphql"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .expect("request sent")
}

#[tokio::test]
async fn cors_allows_configured_origins_only() {
    // Arrange
    let mut config = Config::for_tests();
    config.allow_origins = vec![HeaderValue::from_static("https://app.example.com")];
    let app = spawn_app_with(config, Arc::new(SystemClock)).await;

    // Act
    let allowed = preflight(&app, "https://app.example.com").await;
    let other = preflight(&app, "https://evil.example.com").await;

    // Assert
    assert!(
        allowed.status().is_success(),
        "preflight answered {}",
        allowed.status()
    );
    assert_eq!(
        allowed
            .headers()
            .get("access-control-allow-origin")
            .map(HeaderValue::as_bytes),
        Some(&b"https://app.example.com"[..])
    );
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn cors_allows_no_origin_by_default() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let response = preflight(&app, "https://app.example.com").await;
    let query = app
        .client
        .post(app.url("/graphql"))
        .header("origin", "https://app.example.com")
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .expect("request sent");

    // Assert: no CORS header at all, and no claim that answers vary by origin (caches would
    // keep one copy per origin for nothing).
    for answer in [&response, &query] {
        let cors: Vec<_> = answer
            .headers()
            .keys()
            .filter(|name| name.as_str().starts_with("access-control-") || *name == "vary")
            .collect();
        assert_eq!(cors, Vec::<&HeaderName>::new(), "{}", answer.status());
    }
    // As the README's configuration table says: the preflight is refused, the query runs.
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(query.status(), StatusCode::OK);
}
