//! The playground in a real browser: headless Chromium opens `/`, runs the first tab, and
//! finds the new session in the result pane, with nothing loaded from outside the service.
//!
//! Skipped, with one line on stderr, when there is no Chromium (Debian's `chromium` package,
//! or `SESSIONS_TEST_CHROMIUM`); `.ci/run` installs it and fails if the test was skipped.

use std::io::Write as _;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::cdp::{Browser, CHROMIUM_VAR, chromium};
use crate::helpers::spawn_app;

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

#[tokio::test]
async fn the_playground_runs_its_first_tab_in_a_real_browser_without_leaving_the_origin() {
    let Some(binary) = chromium() else {
        // Straight to stderr: the harness captures `eprintln!`, and this line is for the
        // person (or CI script) reading the run.
        let _ = writeln!(
            std::io::stderr(),
            "{SKIPPED}: no Chromium at /usr/bin/chromium (apt-get install chromium) or in {CHROMIUM_VAR}"
        );
        return;
    };
    // Arrange
    let started = Instant::now();
    let app = spawn_app().await;
    let origin = format!("http://{}", app.addr);
    let mut browser = Browser::launch(&binary).await;
    browser
        .call(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({ "source": WATCH_CSP }),
        )
        .await;
    browser
        .call("Page.navigate", json!({ "url": format!("{origin}/") }))
        .await;
    browser
        .wait_for(
            "document.querySelector('.graphiql-execute-button') !== null",
            PAGE_PATIENCE,
        )
        .await;

    // Act: what a new user does: press the run button of the first tab.
    browser
        .eval("document.querySelector('.graphiql-execute-button').click()")
        .await;
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
