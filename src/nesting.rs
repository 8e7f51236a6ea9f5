//! Nesting bounds for untrusted text, checked without recursion before anything parses it.
//!
//! Parsers, value conversions, serializers and even `Drop` of JSON and GraphQL values recurse
//! once per level of nesting. A request of well under 1 MiB can nest a few hundred thousand
//! levels deep, which overflows a worker thread's stack and aborts the whole process (a stack
//! overflow is not a panic: nothing can catch it). So every entry point measures nesting with
//! the flat scanners below first, and refuses what nests deeper than [`MAX_DEPTH`] before any
//! recursive code sees it.

/// Deepest bracket nesting accepted in a GraphQL document, a JSON request body, or the
/// `variables` of a request. Far above what real documents need (GraphiQL's introspection
/// query nests 13 deep; a session's `user` or `data` rarely passes 10), and far below what the
/// recursive code behind it can take on a 2 MiB thread stack (about 1,000 levels).
pub const MAX_DEPTH: usize = 64;

/// Input that nests deeper than [`MAX_DEPTH`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{what} nests deeper than {MAX_DEPTH} levels, the limit")]
pub struct TooDeep {
    /// What was being read, e.g. "the document" or "the request body".
    pub what: &'static str,
}

/// Check the bracket nesting (`{`, `[`, `(`) of a GraphQL document. Brackets inside strings,
/// block strings and comments do not count.
///
/// # Errors
/// [`TooDeep`] past [`MAX_DEPTH`].
pub fn check_graphql(document: &str) -> Result<(), TooDeep> {
    let too_deep = TooDeep {
        what: "the document",
    };
    let bytes = document.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' | b'[' | b'(' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(too_deep);
                }
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            b'#' => i = skip_until_line_end(bytes, i),
            b'"' if bytes[i..].starts_with(b"\"\"\"") => i = skip_block_string(bytes, i + 3),
            b'"' => i = skip_string(bytes, i + 1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// Check the nesting of JSON text (`{` and `[`), strings excluded. Invalid JSON passes
/// when it is shallow: the parser that runs next reports it.
///
/// # Errors
/// [`TooDeep`] past [`MAX_DEPTH`], naming `what`.
pub fn check_json(text: &[u8], what: &'static str) -> Result<(), TooDeep> {
    let mut depth = 0usize;
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(TooDeep { what });
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            b'"' => i = skip_string(text, i + 1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// Check the nesting of a value already parsed (by code that bounds its own recursion, as
/// serde_json does at 128 levels), walking it with a heap stack rather than recursion.
///
/// # Errors
/// [`TooDeep`] past [`MAX_DEPTH`], naming `what`.
pub fn check_value(value: &async_graphql::Value, what: &'static str) -> Result<(), TooDeep> {
    use async_graphql::Value;
    let mut stack: Vec<(&Value, usize)> = vec![(value, 0)];
    while let Some((value, depth)) = stack.pop() {
        let children = match value {
            Value::List(items) => items.len(),
            Value::Object(fields) => fields.len(),
            _ => continue,
        };
        if depth >= MAX_DEPTH {
            return Err(TooDeep { what });
        }
        stack.reserve(children);
        match value {
            Value::List(items) => stack.extend(items.iter().map(|v| (v, depth + 1))),
            Value::Object(fields) => stack.extend(fields.values().map(|v| (v, depth + 1))),
            _ => {}
        }
    }
    Ok(())
}

/// The index of the closing quote of a string whose body starts at `i` (or the end).
fn skip_string(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i,
            // GraphQL strings end at a line break; JSON strings cannot contain one.
            b'\n' | b'\r' => return i,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// The index of the last quote of a block string whose body starts at `i` (or the end).
fn skip_block_string(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() {
        if bytes[i..].starts_with(b"\\\"\"\"") {
            i += 4;
        } else if bytes[i..].starts_with(b"\"\"\"") {
            return i + 2;
        } else {
            i += 1;
        }
    }
    bytes.len()
}

fn skip_until_line_end(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(open: &str, close: &str, depth: usize) -> String {
        format!("{}1{}", open.repeat(depth), close.repeat(depth))
    }

    #[test]
    fn graphql_documents_at_the_limit_pass_and_one_deeper_fail() {
        for (open, close) in [("[", "]"), ("{", "}"), ("(", ")")] {
            assert!(check_graphql(&nested(open, close, MAX_DEPTH)).is_ok());
            assert!(check_graphql(&nested(open, close, MAX_DEPTH + 1)).is_err());
        }
    }

    #[test]
    fn brackets_in_strings_block_strings_and_comments_do_not_count() {
        let deep = "[".repeat(1000);
        let document = format!(
            "{{ a(s: \"{deep}\", t: \"\\\"{deep}\", b: \"\"\"{deep} \\\"\"\" {deep}\"\"\") }} # {deep}\n{{ b }}"
        );
        assert_eq!(check_graphql(&document), Ok(()));
    }

    #[test]
    fn an_unclosed_string_cannot_hide_brackets_on_the_next_line() {
        let document = format!("{{ a(s: \"open\n{} }}", "[".repeat(MAX_DEPTH + 1));
        assert!(check_graphql(&document).is_err());
    }

    #[test]
    fn json_nesting_counts_objects_and_arrays_but_not_strings() {
        let at_limit = format!(
            "{}{}",
            "{\"a\":[".repeat(MAX_DEPTH / 2),
            "]}".repeat(MAX_DEPTH / 2)
        );
        assert_eq!(check_json(at_limit.as_bytes(), "x"), Ok(()));
        let deeper = format!("[{at_limit}]");
        assert_eq!(
            check_json(deeper.as_bytes(), "x"),
            Err(TooDeep { what: "x" })
        );
        let quoted = format!("{{\"a\":\"\\\"{}\"}}", "[".repeat(1000));
        assert_eq!(check_json(quoted.as_bytes(), "x"), Ok(()));
    }

    #[test]
    fn parsed_values_are_measured_without_recursion() {
        let json: serde_json::Value =
            serde_json::from_str(&nested("[", "]", MAX_DEPTH)).expect("valid JSON");
        let value = async_graphql::Value::from_json(json).expect("converts");
        assert_eq!(check_value(&value, "x"), Ok(()));
        let deeper = async_graphql::Value::List(vec![value]);
        assert_eq!(check_value(&deeper, "x"), Err(TooDeep { what: "x" }));
    }
}
