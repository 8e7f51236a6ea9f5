//! `schema.graphql` is the SDL the code prints, both through the library and the binary.

use std::path::PathBuf;
use std::process::Command;

const REGENERATE: &str = "UPDATE_SCHEMA=1 cargo test --test api schema";

fn schema_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schema.graphql")
}

/// Where `left` and `right` first differ: the line number and both lines.
fn first_difference(left: &str, right: &str) -> String {
    let mut left_lines = left.lines();
    let mut right_lines = right.lines();
    for number in 1.. {
        match (left_lines.next(), right_lines.next()) {
            (None, None) => break,
            (l, r) if l == r => {}
            (l, r) => return format!("line {number}: file has {l:?}, code prints {r:?}"),
        }
    }
    "only the line endings differ".to_owned()
}

#[test]
fn the_checked_in_schema_file_matches_the_code() {
    // Arrange
    let path = schema_file();
    let printed = sessions::graphql::sdl();
    if std::env::var_os("UPDATE_SCHEMA").is_some_and(|v| v == "1") {
        std::fs::write(&path, &printed).expect("schema.graphql is writable");
        return;
    }

    // Act
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();

    // Assert
    assert!(
        checked_in == printed,
        "schema.graphql differs from the schema in the code ({}); run `{REGENERATE}` to regenerate it",
        first_difference(&checked_in, &printed)
    );
}

#[test]
fn the_schema_command_prints_the_schema() {
    // Arrange
    let binary = env!("CARGO_BIN_EXE_sessions");

    // Act
    let output = Command::new(binary)
        .arg("schema")
        .output()
        .expect("the binary runs");

    // Assert
    assert!(
        output.status.success(),
        "`sessions schema` failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed = String::from_utf8(output.stdout).expect("UTF-8 output");
    assert!(
        printed == sessions::graphql::sdl(),
        "`sessions schema` printed something else than the code's SDL ({})",
        first_difference(&printed, &sessions::graphql::sdl())
    );
}
