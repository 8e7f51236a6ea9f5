//! Input rules shared by the operations: text and payload limits, paging.

use super::*;

impl SessionsController {
    pub(super) fn check_payload(
        &self,
        field: InputField,
        value: Option<&Value>,
    ) -> Result<(), SessionError> {
        let Some(value) = value else { return Ok(()) };
        let size = serialized_len(value);
        if size > self.options.max_payload {
            return Err(SessionError::invalid(
                field,
                format!(
                    "is {size} bytes as JSON, more than the limit of {} bytes",
                    self.options.max_payload
                ),
            ));
        }
        if json_has_nul(value) {
            return Err(SessionError::invalid(field, NUL_REASON));
        }
        Ok(())
    }
}

// Durable stores cannot keep U+0000 in text (PostgreSQL's text refuses it), so no store
// accepts it: every backend behaves the same, and the client hears why. Documents too: the
// `json` columns would take an escaped U+0000, but PostgreSQL's `jsonb` and its JSON-to-text
// functions refuse it, so such a document could not be queried or converted there.
const NUL_REASON: &str = "must not contain the NUL character (U+0000)";

pub(super) fn check_text(
    field: InputField,
    value: Option<&str>,
    max: usize,
) -> Result<(), SessionError> {
    match value {
        Some(text) if text.chars().count() > max => Err(SessionError::invalid(
            field,
            format!("must be at most {max} characters"),
        )),
        Some(text) if text.contains('\0') => Err(SessionError::invalid(field, NUL_REASON)),
        _ => Ok(()),
    }
}

/// How many bytes `value` takes as compact JSON, counted without building the text.
fn serialized_len(value: &Value) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Writing a `Value` to a sink that never fails cannot fail.
    match serde_json::to_writer(&mut counter, value) {
        Ok(()) => counter.0,
        Err(_) => usize::MAX,
    }
}

/// True when a string or an object key anywhere in `value` holds U+0000.
fn json_has_nul(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().any(json_has_nul),
        Value::Object(fields) => fields
            .iter()
            .any(|(key, item)| key.contains('\0') || json_has_nul(item)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

pub(super) fn page_request(paging: Paging) -> Result<PageRequest, SessionError> {
    let count = |field, value: Option<i64>, default: usize| match value {
        None => Ok(default),
        Some(n) if n < 0 => Err(SessionError::invalid(field, "must not be negative")),
        Some(n) => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
    };
    Ok(PageRequest {
        skip: count(InputField::Skip, paging.skip, 0)?,
        take: count(InputField::Take, paging.take, DEFAULT_TAKE)?.min(MAX_TAKE),
        total: paging.total,
    })
}
