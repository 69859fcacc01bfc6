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
    /// The path as sent (keys redacted).
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
    /// Whatever recorded it, the path and query are redacted here too: a key or token in
    /// either is kept as its prefix and six characters.
    pub fn record(&self, mut entry: JournalEntry) {
        entry.path = redact_text(&entry.path);
        entry.query = redact_text(&entry.query);
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

/// The kind prefixes of devreg's keys and tokens. None begins another, and each is
/// followed by a body of ASCII letters and digits.
const CREDENTIAL_PREFIXES: [&str; 6] = [
    "edg_live_",
    "oct_pub_live_",
    "edg_dev_",
    "edg_at_",
    "edg_rt_",
    "edg_bt_",
];
/// How many body characters a redacted key or token keeps, as `devreg key list` shows.
const SHOWN_BODY_CHARS: usize = 6;

/// A key or token as the journal keeps it: its kind prefix and six characters, as
/// `devreg key list` shows keys.
pub fn redact_secret(text: &str) -> String {
    let kind_end = CREDENTIAL_PREFIXES
        .iter()
        .find(|p| text.starts_with(**p))
        .map_or_else(|| text.rfind('_').map_or(0, |i| i + 1), |p| p.len());
    let shown: String = text[kind_end..].chars().take(SHOWN_BODY_CHARS).collect();
    format!("{}{shown}…", &text[..kind_end])
}

/// Redacts every key or token inside `value`, in place: in every string and every
/// member name, wherever in it one appears.
pub fn redact_json(value: &mut Value) {
    match value {
        Value::String(s) => {
            if let Some(redacted) = redacted(s) {
                *s = redacted;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_json),
        Value::Object(members) => {
            *members = std::mem::take(members)
                .into_iter()
                .map(|(name, mut member)| {
                    redact_json(&mut member);
                    (redacted(&name).unwrap_or(name), member)
                })
                .collect();
        }
        _ => {}
    }
}

/// Redacts every key or token in free text (a path, a query string, a non-JSON body):
/// any kind prefix followed by body characters, wherever it starts, keeps its prefix
/// and at most six of them. What is already redacted so stays as it is.
pub fn redact_text(text: &str) -> String {
    redacted(text).unwrap_or_else(|| text.to_owned())
}

/// [`redact_text`], `None` when there was nothing to redact.
fn redacted(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let (mut copied, mut i) = (0, 0);
    while i < bytes.len() {
        let prefix = match bytes[i] {
            b'e' | b'o' => CREDENTIAL_PREFIXES
                .iter()
                .find(|p| bytes[i..].starts_with(p.as_bytes())),
            _ => None,
        };
        let Some(prefix) = prefix else {
            i += 1;
            continue;
        };
        let body = i + prefix.len();
        let body_len = bytes[body..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric())
            .count();
        let end = body + body_len;
        let already = body_len <= SHOWN_BODY_CHARS && text[end..].starts_with('…');
        if body_len > 0 && !already {
            // Every index here is at an ASCII byte, so on a character boundary.
            let out = out.get_or_insert_with(|| String::with_capacity(text.len()));
            out.push_str(&text[copied..body + body_len.min(SHOWN_BODY_CHARS)]);
            out.push('…');
            copied = end;
        }
        i = end;
    }
    let mut out = out?;
    out.push_str(&text[copied..]);
    Some(out)
}

/// A body as an entry keeps it: JSON parsed and redacted, other UTF-8 as redacted text,
/// anything else described; cut at [`MAX_BODY_CHARS`]. A body is redacted before it is
/// cut, so a key the cut falls in shows no more than a redacted one.
pub fn body_value(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    let text = match serde_json::from_slice::<Value>(bytes) {
        Ok(mut value) => {
            redact_json(&mut value);
            if bytes.len() <= MAX_BODY_CHARS {
                return value;
            }
            // Too long to keep as JSON: kept as text, from the redacted value, so a key
            // written with escapes is redacted too.
            value.to_string()
        }
        Err(_) => match std::str::from_utf8(bytes) {
            Ok(text) => redact_text(text),
            Err(_) => return Value::String(format!("<{} bytes, not UTF-8>", bytes.len())),
        },
    };
    let mut kept: String = text.chars().take(MAX_BODY_CHARS).collect();
    if kept.len() < text.len() {
        kept.push_str(&format!("… ({} bytes in all)", bytes.len()));
    }
    Value::String(kept)
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
