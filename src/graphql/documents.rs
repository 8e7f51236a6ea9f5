//! A bounded cache of parsed GraphQL documents, keyed by their text.
//!
//! Clients send the same few documents over and over with different variables; parsing one
//! costs more than running it against the memory store. [`super::phases::RequestPhases`]
//! looks a document up here before parsing it, and caches what it parsed once the document
//! has passed the bounds that must hold before any parse (nesting, fragment expansion): a
//! document found here has already passed them, for exactly this text.
//!
//! The cache is bounded three ways: at most `capacity` documents, none whose text is longer
//! than [`MAX_QUERY_BYTES`], and at most [`MAX_TOTAL_BYTES`] of text in all (a parsed
//! document takes some tens of times its text, so this bounds the memory a client sending
//! large distinct documents can pin to a few megabytes). When full, the least recently used
//! documents make room, so a client sending endless distinct documents evicts only cold
//! entries and costs each request no more than the parse it would have paid anyway.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_graphql::parser::types::ExecutableDocument;

/// How many documents the service's cache holds.
pub const DEFAULT_CAPACITY: usize = 256;

/// The longest document text the cache keeps (GraphiQL's introspection query is ~2 KiB).
pub const MAX_QUERY_BYTES: usize = 8 * 1024;

/// The most document text the cache keeps in all.
pub const MAX_TOTAL_BYTES: usize = 256 * 1024;

/// Parsed documents by their text, least recently used evicted first.
#[derive(Debug)]
pub struct DocumentCache {
    capacity: usize,
    // A std lock on purpose: held for a hash lookup, never across an `.await`; the
    // document is cloned after it is released.
    inner: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    by_text: HashMap<Box<str>, Entry>,
    /// The length of every cached text, summed.
    text_bytes: usize,
    /// Counts lookups and inserts: the recency of each entry.
    clock: u64,
}

#[derive(Debug)]
struct Entry {
    document: Arc<ExecutableDocument>,
    used: u64,
}

impl DocumentCache {
    /// An empty cache holding at most `capacity` documents (0 caches nothing).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            inner: Mutex::new(Entries::default()),
        }
    }

    /// A copy of the document parsed from exactly `query`, if cached.
    pub fn get(&self, query: &str) -> Option<ExecutableDocument> {
        let document = {
            let mut entries = self.lock();
            entries.clock += 1;
            let now = entries.clock;
            let entry = entries.by_text.get_mut(query)?;
            entry.used = now;
            Arc::clone(&entry.document)
        };
        // async-graphql takes the document by value (and edits it), hence the copy.
        Some(ExecutableDocument::clone(&document))
    }

    /// Keep `document`, parsed from `query`, unless the text is too long to keep.
    pub fn insert(&self, query: &str, document: &ExecutableDocument) {
        if self.capacity == 0 || query.len() > MAX_QUERY_BYTES {
            return;
        }
        let document = Arc::new(document.clone());
        let mut entries = self.lock();
        if entries.by_text.contains_key(query) {
            return;
        }
        while entries.by_text.len() >= self.capacity
            || entries.text_bytes + query.len() > MAX_TOTAL_BYTES
        {
            let oldest = entries
                .by_text
                .iter()
                .min_by_key(|(_, entry)| entry.used)
                .map(|(text, _)| text.clone());
            let Some(oldest) = oldest else { break };
            entries.by_text.remove(&oldest);
            entries.text_bytes -= oldest.len();
        }
        entries.text_bytes += query.len();
        entries.clock += 1;
        let used = entries.clock;
        entries
            .by_text
            .insert(query.into(), Entry { document, used });
    }

    /// How many documents are cached.
    pub fn len(&self) -> usize {
        self.lock().by_text.len()
    }

    /// Whether no document is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most documents the cache holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // Every section leaves the map consistent, so a panic elsewhere cannot corrupt it.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for DocumentCache {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}
