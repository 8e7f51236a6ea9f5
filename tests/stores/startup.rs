//! A store that cannot be opened stops the binary at start: one clear line, no password.

use std::process::{Command, Stdio};

/// Run the binary with `store`; its exit success and standard error.
fn run_with_store(store: &str) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_sessions"))
        .args(["--listen", "127.0.0.1:0", "--store", store])
        .env("RUST_LOG", "off")
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.success(), stderr)
}

#[test]
fn a_store_that_cannot_be_opened_stops_the_service_with_one_line_naming_the_flag() {
    let not_a_folder = std::env::temp_dir().join(format!("sessions-{}", uuid::Uuid::new_v4()));
    std::fs::write(&not_a_folder, "a file, not a folder").expect("file is written");
    let cases = [
        (
            "mysql://root:s3cret@127.0.0.1/sessions",
            "unknown store \"mysql\"",
        ),
        ("/var/lib/sessions.db", "unknown store"),
        // Port 1 refuses connections at once.
        ("postgres://app:s3cret@127.0.0.1:1/sessions", "unavailable"),
        (
            "postgres://app:s3cret@127.0.0.1:notaport/sessions",
            "invalid PostgreSQL URL",
        ),
    ];
    let sqlite_under_a_file = format!("sqlite://{}/s.db", not_a_folder.display());

    let mut results: Vec<_> = cases
        .iter()
        .map(|(store, _)| run_with_store(store))
        .collect();
    results.push(run_with_store(&sqlite_under_a_file));
    let _ = std::fs::remove_file(&not_a_folder);

    let expected = cases
        .iter()
        .map(|(_, says)| *says)
        .chain(["cannot create folder"]);
    for ((success, stderr), says) in results.iter().zip(expected) {
        assert!(!success, "exited with success: {stderr}");
        assert_eq!(
            stderr.trim_end().lines().count(),
            1,
            "not one line: {stderr}"
        );
        assert!(stderr.starts_with("error: --store "), "{stderr}");
        assert!(stderr.contains(says), "does not say {says:?}: {stderr}");
        assert!(!stderr.contains("s3cret"), "shows the password: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
