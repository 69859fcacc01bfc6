//! Redactions for the snapshot assertions (`insta::assert_json_snapshot!`): a value that
//! changes from run to run (an id, a key, a time) stands in the snapshot as a label, and
//! is checked for its shape first, so the snapshot still says what kind of value was there.
//!
//! ```ignore
//! insta::assert_json_snapshot!(reply.body, {
//!     ".id" => redact::is(&device.id, "[device.id]"),
//!     ".api_key" => redact::prefixed("edg_dev_"),
//!     ".created_at" => redact::time(),
//! });
//! ```

use devreg::domain::Timestamp;
use insta::dynamic_redaction;
use insta::internals::{Content, ContentPath, Redaction};

use crate::register::is_rfc3339_whole_seconds;

/// The string at `path`, or a panic naming the path.
fn text(value: &Content, path: &ContentPath<'_>) -> String {
    value
        .resolve_inner()
        .as_str()
        .unwrap_or_else(|| panic!("{path} is not a string: {value:?}"))
        .to_owned()
}

/// Any UUID, as `[uuid]`.
pub fn uuid() -> Redaction {
    dynamic_redaction(|value, path| {
        let text = text(&value, &path);
        assert!(
            uuid::Uuid::parse_str(&text).is_ok(),
            "{path} is not a UUID: {text}"
        );
        "[uuid]"
    })
}

/// Exactly `expected`, as `label`: an id the test knows (the device it registered, the
/// round it started), so the snapshot says which one stood there.
pub fn is(expected: &str, label: &'static str) -> Redaction {
    let expected = expected.to_owned();
    dynamic_redaction(move |value, path| {
        let text = text(&value, &path);
        assert_eq!(text, expected, "{path} is not {label}");
        label
    })
}

/// One of the values the test knows, as its label, or null (left as it is): for a field
/// that names one of several devices or rounds, or none, in a list of them.
pub fn known(values: &[(&str, &'static str)]) -> Redaction {
    let values: Vec<(String, &'static str)> = values
        .iter()
        .map(|(value, label)| ((*value).to_owned(), *label))
        .collect();
    dynamic_redaction(move |value, path| {
        if value.resolve_inner().is_nil() {
            return value;
        }
        let text = text(&value, &path);
        let label = values
            .iter()
            .find_map(|(known, label)| (*known == text).then_some(*label))
            .unwrap_or_else(|| panic!("{path} is {text}, none of {values:?}"));
        label.into()
    })
}

/// A time in the server's format (RFC 3339, whole seconds, UTC), as `[time]`.
pub fn time() -> Redaction {
    dynamic_redaction(|value, path| {
        let text = text(&value, &path);
        assert!(
            is_rfc3339_whole_seconds(&text),
            "{path} is not an RFC 3339 time in whole seconds: {text}"
        );
        "[time]"
    })
}

/// A time in the server's format from `earliest` to `latest`, as `label`: the server's
/// clock runs with wall time, so a time it wrote during a step is known only to the
/// seconds around that step.
pub fn time_within(earliest: Timestamp, latest: Timestamp, label: &'static str) -> Redaction {
    let (earliest, latest) = (earliest.to_rfc3339(), latest.to_rfc3339());
    dynamic_redaction(move |value, path| {
        let text = text(&value, &path);
        assert!(
            is_rfc3339_whole_seconds(&text),
            "{path} is not an RFC 3339 time in whole seconds: {text}"
        );
        assert!(
            earliest <= text && text <= latest,
            "{path} is {text}, not between {earliest} and {latest}"
        );
        label
    })
}

/// A key, a token or a generated id: `prefix` then at least 22 letters and digits (a key's
/// 128 bits and more), as `[prefix…]`.
pub fn prefixed(prefix: &'static str) -> Redaction {
    dynamic_redaction(move |value, path| {
        let text = text(&value, &path);
        let body = text
            .strip_prefix(prefix)
            .unwrap_or_else(|| panic!("{path} does not start with {prefix}: {text}"));
        assert!(
            body.len() >= 22 && body.bytes().all(|b| b.is_ascii_alphanumeric()),
            "{path} is not {prefix} and a random body: {text}"
        );
        format!("[{prefix}…]")
    })
}
