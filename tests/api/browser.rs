//! The playground in a real browser: headless Chromium opens `/`, runs the first tab, and
//! finds the new session in the result pane, with nothing loaded from outside the service;
//! and, with authentication on, runs the events tab with a key from the headers editor and
//! sees an event arrive over the WebSocket.
//!
//! Skipped, with one line on stderr, when there is no Chromium (Debian's `chromium` package,
//! or `SESSIONS_TEST_CHROMIUM`); `.ci/run` installs it and fails if the test was skipped.

use std::io::Write as _;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sessions::clock::SystemClock;

use crate::auth::{Keys, gql};
use crate::cdp::{Browser, CHROMIUM_VAR, chromium};
use crate::helpers::{spawn_app, spawn_app_with};

/// What the skip line starts with; `.ci/run` looks for it.
const SKIPPED: &str = "browser test skipped";

/// Upper bound for the page to load and for a query to come back: generous, since the
/// machine may be busy compiling.
const PAGE_PATIENCE: Duration = Duration::from_secs(60);

/// Collects Content-Security-Policy violations from the very start of every page.
const WATCH_CSP: &str = "window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) =>
  window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));";

/// The result pane's text: GraphiQL's result editor is a CodeMirror 5 instance.
const RESULT_TEXT: &str = "(() => {
  const editor = document.querySelector('.result-window .CodeMirror');
  return editor && editor.CodeMirror ? editor.CodeMirror.getValue() : '';
})()";

/// Chromium's path, or `None` after printing the skip line `.ci/run` looks for.
fn chromium_or_skip() -> Option<std::path::PathBuf> {
    let binary = chromium();
    if binary.is_none() {
        // Straight to stderr: the harness captures `eprintln!`, and this line is for the
        // person (or CI script) reading the run.
        let _ = writeln!(
            std::io::stderr(),
            "{SKIPPED}: no Chromium at /usr/bin/chromium (apt-get install chromium) or in {CHROMIUM_VAR}"
        );
    }
    binary
}

/// A browser showing the playground of the service at `origin`, GraphiQL ready.
async fn open_playground(binary: &std::path::Path, origin: &str) -> Browser {
    let mut browser = Browser::launch(binary).await;
    browser
        .call(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({ "source": WATCH_CSP }),
        )
        .await;
    browser
        .call("Page.navigate", json!({ "url": format!("{origin}/") }))
        .await;
    // The run button shows before GraphiQL has loaded its editors, and a click until then
    // does nothing: wait for the query editor to know its operation, and the result editor.
    browser
        .wait_for(
            "(() => {
               const query = document.querySelector('.graphiql-query-editor .CodeMirror');
               const result = document.querySelector('.result-window .CodeMirror');
               return Boolean(query && query.CodeMirror && query.CodeMirror.operationName
                 && result && result.CodeMirror
                 && document.querySelector('.graphiql-execute-button'));
             })()",
            PAGE_PATIENCE,
        )
        .await;
    browser
}

/// Press the run button of the open tab, again if the press went unseen for 5 s (GraphiQL
/// binds its editors to the button a render after they appear): until the button says it
/// runs or the result pane shows something. The wait is long so that a slow page is not
/// pressed twice (a second press stops a running subscription).
async fn run_open_tab(browser: &mut Browser) {
    const TOOK_EFFECT: &str = "(() => {
      const button = document.querySelector('.graphiql-execute-button');
      const result = document.querySelector('.result-window .CodeMirror');
      return button.getAttribute('aria-label').startsWith('Stop')
        || (result.CodeMirror.getValue() !== '');
    })()";
    let deadline = Instant::now() + PAGE_PATIENCE;
    loop {
        browser
            .eval("document.querySelector('.graphiql-execute-button').click()")
            .await;
        let pressed = Instant::now() + Duration::from_secs(5);
        while Instant::now() < pressed {
            if browser.eval(TOOK_EFFECT).await == json!(true) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            Instant::now() < deadline,
            "the run button did nothing for {PAGE_PATIENCE:?}"
        );
    }
}

#[tokio::test]
async fn the_playground_runs_its_first_tab_in_a_real_browser_without_leaving_the_origin() {
    let Some(binary) = chromium_or_skip() else {
        return;
    };
    // Arrange
    let started = Instant::now();
    let app = spawn_app().await;
    let origin = format!("http://{}", app.addr);
    let mut browser = open_playground(&binary, &origin).await;

    // Act: what a new user does: press the run button of the first tab.
    run_open_tab(&mut browser).await;
    let result = browser.wait_for(RESULT_TEXT, PAGE_PATIENCE).await;

    // Assert: the result pane shows a session the service really opened.
    let result: Value = serde_json::from_str(result.as_str().expect("text"))
        .unwrap_or_else(|e| panic!("the result pane is not JSON ({e}): {result}"));
    let id = &result["data"]["openSession"]["id"];
    assert!(
        id.as_str()
            .is_some_and(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())),
        "no session id in the result pane: {result}"
    );
    let stored = app
        .graphql(
            "query($id: ID!) { session(id: $id) { userId active } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(stored["data"]["session"]["active"], json!(true), "{stored}");
    let violations = browser.eval("window.__cspViolations").await;
    assert_eq!(
        violations,
        json!([]),
        "the page broke its Content-Security-Policy"
    );
    let urls = browser.requested_urls();
    assert!(
        urls.iter()
            .any(|url| url.starts_with(&format!("{origin}/playground/"))),
        "the page loaded none of its files: {urls:?}"
    );
    let elsewhere: Vec<&String> = urls
        .iter()
        .filter(|url| !(url.starts_with(&format!("{origin}/")) || url.starts_with("data:")))
        .collect();
    assert!(
        elsewhere.is_empty(),
        "requests left the service: {elsewhere:?}"
    );
    assert_eq!(
        browser.errors(),
        Vec::<String>::new(),
        "the page reported errors"
    );
    let _ = writeln!(
        std::io::stderr(),
        "browser test: {} ms from server start to a session in the result pane",
        started.elapsed().as_millis()
    );
}

#[tokio::test]
async fn with_auth_on_the_events_tab_subscribes_with_the_headers_editors_key() {
    let Some(binary) = chromium_or_skip() else {
        return;
    };
    // Arrange: authentication on; the headers editor holds a read key, the events tab is open.
    let keys = Keys::new();
    let app = spawn_app_with(keys.config(), std::sync::Arc::new(SystemClock)).await;
    let origin = format!("http://{}", app.addr);
    let mut browser = open_playground(&binary, &origin).await;
    browser
        .eval(
            "[...document.querySelectorAll('.graphiql-tab')]
               .find((tab) => tab.textContent.startsWith('SessionEvents'))
               .querySelector('button').click()",
        )
        .await;
    // GraphiQL works out the operation to run 100 ms after the editor changes (debounced):
    // wait for that, or the run button still names the first tab's operation.
    browser
        .wait_for(
            "document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror
               .operationName === 'SessionEvents'",
            PAGE_PATIENCE,
        )
        .await;
    // Each tab has its own headers: set them once the events tab shows.
    let headers = json!({ "Authorization": format!("Bearer {}", keys.read) }).to_string();
    let set_headers = format!(
        "document.querySelector('.graphiql-editor-tool > .graphiql-editor:not(.hidden) \
         .CodeMirror').CodeMirror.setValue({})",
        Value::String(headers)
    );
    browser.eval(&set_headers).await;

    // Act: run the subscription, then open sessions (with a write key) until one shows: the
    // subscription starts once the server has read it.
    run_open_tab(&mut browser).await;
    let deadline = Instant::now() + PAGE_PATIENCE;
    let (id, shown) = loop {
        let opened = gql(
            &app,
            Some(&keys.write),
            "mutation { openSession(input: { userId: \"browser\" }) { id } }",
            json!({}),
        )
        .await;
        let id = opened.body["data"]["openSession"]["id"].clone();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let shown = browser.eval(RESULT_TEXT).await;
        if shown.as_str().is_some_and(|text| text.contains("OPENED")) {
            break (id, shown);
        }
        assert!(
            Instant::now() < deadline,
            "no event in the result pane: {shown}"
        );
    };

    // Assert: the result pane shows an OPENED event of a session the service opened.
    let shown: Value = serde_json::from_str(shown.as_str().expect("text"))
        .unwrap_or_else(|e| panic!("the result pane is not JSON ({e}): {shown}"));
    let event = &shown["data"]["sessionEvents"];
    assert_eq!(event["kind"], "OPENED", "{shown}");
    assert_eq!(event["userId"], "browser", "{shown}");
    assert!(event["sessionId"].is_string(), "{shown}");
    assert!(id.is_string(), "the write key opened sessions");
    // GraphiQL asks for the schema before a key is in the headers editor: those 401s are
    // the service doing its job. Anything else is a fault of the page.
    let errors: Vec<String> = browser
        .errors()
        .into_iter()
        .filter(|error| !error.contains("status of 401 (Unauthorized)"))
        .collect();
    assert_eq!(errors, Vec::<String>::new(), "the page reported errors");
}
