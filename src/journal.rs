//! The request journal of an ephemeral server: every API request it served, with its
//! bodies, oldest first, so a test (or the console) can assert what an app sent. Bounded
//! in memory (the oldest entries go, and are counted); keys and tokens are redacted to
//! their prefix before anything is kept.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::Timestamp;

/// How many entries a journal keeps by default.
pub const DEFAULT_ENTRIES: usize = 1000;
/// The most of one body an entry keeps; the rest is cut and said so.
pub const MAX_BODY_CHARS: usize = 16 * 1024;

/// One request and what it was answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JournalEntry {
    /// 1, 2, 3, … in the order the requests finished; page with `after`.
    pub seq: u64,
    /// When it finished, by the server's clock.
    pub at: Timestamp,
    pub request_id: String,
    pub method: String,
    pub path: String,
    /// The query string as sent (keys redacted), without the `?`.
    pub query: String,
    /// The key or token the request presented, redacted to its prefix; null without one.
    pub credential: Option<String>,
    pub status: u16,
    pub duration_ms: f64,
    /// The request body: JSON as sent (keys redacted), other text as a string, or null
    /// when there was none.
    pub request_body: Value,
    /// The response body, likewise; null for a stream.
    pub response_body: Value,
}

/// The journal itself: a bounded queue behind a lock held only to push or copy.
#[derive(Debug)]
pub struct Journal {
    capacity: usize,
    inner: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    next_seq: u64,
    dropped: u64,
    entries: VecDeque<JournalEntry>,
}

/// A page of the journal.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JournalPage {
    pub requests: Vec<JournalEntry>,
    /// Entries dropped to keep the journal within its bound, since start or the last clear.
    pub dropped: u64,
}

impl Journal {
    pub fn new(capacity: usize) -> Journal {
        Journal {
            capacity: capacity.max(1),
            inner: Mutex::new(Entries {
                next_seq: 1,
                ..Entries::default()
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Appends `entry`, giving it the next `seq`, and drops the oldest past the bound.
    pub fn record(&self, mut entry: JournalEntry) {
        let mut inner = self.lock();
        entry.seq = inner.next_seq;
        inner.next_seq += 1;
        inner.entries.push_back(entry);
        while inner.entries.len() > self.capacity {
            inner.entries.pop_front();
            inner.dropped += 1;
        }
    }

    /// Up to `limit` entries after `seq` `after`, oldest first.
    pub fn page(&self, after: u64, limit: usize) -> JournalPage {
        let inner = self.lock();
        JournalPage {
            requests: inner
                .entries
                .iter()
                .filter(|e| e.seq > after)
                .take(limit)
                .cloned()
                .collect(),
            dropped: inner.dropped,
        }
    }

    /// Empties the journal; numbering goes on. Returns how many entries there were.
    pub fn clear(&self) -> usize {
        let mut inner = self.lock();
        let n = inner.entries.len();
        inner.entries.clear();
        inner.dropped = 0;
        n
    }
}

/// Whether `text` is a devreg key or token: `edg_…` or `oct_…` with a long random tail.
fn is_secret(text: &str) -> bool {
    (text.starts_with("edg_") || text.starts_with("oct_"))
        && text.len() >= 24
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A key or token as the journal keeps it: its kind prefix and six characters, as
/// `devreg key list` shows keys.
pub fn redact_secret(text: &str) -> String {
    let kind_end = text.rfind('_').map_or(0, |i| i + 1);
    let shown: String = text[kind_end..].chars().take(6).collect();
    format!("{}{shown}…", &text[..kind_end])
}

/// Redacts every key or token inside `value`, in place.
pub fn redact_json(value: &mut Value) {
    match value {
        Value::String(s) if is_secret(s) => *s = redact_secret(s),
        Value::Array(items) => items.iter_mut().for_each(redact_json),
        Value::Object(members) => members.values_mut().for_each(redact_json),
        _ => {}
    }
}

/// Redacts every key or token in free text (a query string, a non-JSON body): any run
/// of key characters that looks like one.
pub fn redact_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if is_secret(word) {
            out.push_str(&redact_secret(word));
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// A body as an entry keeps it: JSON parsed and redacted, other UTF-8 as redacted text,
/// anything else described; cut at [`MAX_BODY_CHARS`].
pub fn body_value(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    if bytes.len() <= MAX_BODY_CHARS
        && let Ok(mut value) = serde_json::from_slice::<Value>(bytes)
    {
        redact_json(&mut value);
        return value;
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => {
            let cut: String = text.chars().take(MAX_BODY_CHARS).collect();
            let mut kept = redact_text(&cut);
            if cut.len() < text.len() {
                kept.push_str(&format!("… ({} bytes in all)", bytes.len()));
            }
            Value::String(kept)
        }
        Err(_) => Value::String(format!("<{} bytes, not UTF-8>", bytes.len())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str) -> JournalEntry {
        JournalEntry {
            seq: 0,
            at: Timestamp(0),
            request_id: String::new(),
            method: "GET".to_owned(),
            path: path.to_owned(),
            query: String::new(),
            credential: None,
            status: 200,
            duration_ms: 0.0,
            request_body: Value::Null,
            response_body: Value::Null,
        }
    }

    #[test]
    fn keeps_the_newest_entries_and_counts_the_dropped() {
        let journal = Journal::new(3);
        for i in 0..5 {
            journal.record(entry(&format!("/{i}")));
        }
        let page = journal.page(0, 100);
        let paths: Vec<&str> = page.requests.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["/2", "/3", "/4"]);
        assert_eq!(page.dropped, 2);
        assert_eq!(page.requests[0].seq, 3);
        assert_eq!(journal.page(4, 100).requests.len(), 1);
        assert_eq!(journal.clear(), 3);
        journal.record(entry("/after"));
        assert_eq!(journal.page(0, 10).requests[0].seq, 6, "numbering goes on");
    }

    #[test]
    fn redacts_keys_and_tokens_in_json_and_text() {
        let key = "edg_dev_c7501lyv5D4HOLnXTzTdUPF1CmOInkwN";
        let mut body = serde_json::json!({"api_key": key, "nested": [{"t": "oct_pub_live_pbUHTiqTIWX3QzYuG0A3X3PsIYppV0x7"}], "name": "edg_short"});
        redact_json(&mut body);
        assert_eq!(body["api_key"], "edg_dev_c7501l…");
        assert_eq!(body["nested"][0]["t"], "oct_pub_live_pbUHTi…");
        assert_eq!(body["name"], "edg_short", "short words are not keys");
        assert_eq!(
            redact_text(&format!("token={key}&x=1")),
            "token=edg_dev_c7501l…&x=1"
        );
        let text = body_value(format!("not json {key}").as_bytes());
        assert!(!text.as_str().unwrap().contains(key));
    }
}
