//! What an operator groups and watches a fleet by: labels, and the connectivity the
//! server observes from heartbeats.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use super::Timestamp;

/// A device's labels: at most [`Labels::MAX`] `key: value` pairs. Keys are 1–63
/// characters of `[a-z0-9._/-]` starting with a letter or digit; values 0–63 characters
/// with no control characters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Labels(BTreeMap<String, String>);

/// A label key as a filter or a patch names it, checked by the same rule.
pub fn check_label_key(key: &str) -> Result<(), String> {
    let chars = key.chars().count();
    let good_chars = key
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._/-".contains(c));
    let good_start = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if chars == 0 || chars > Labels::MAX_KEY_CHARS || !good_chars || !good_start {
        return Err(format!(
            "label key {} must be 1 to {} characters of [a-z0-9._/-] starting with a letter \
             or digit",
            Value::from(key),
            Labels::MAX_KEY_CHARS
        ));
    }
    Ok(())
}

/// A label value, checked by its rule; `key` names the label in the message.
pub fn check_label_value(key: &str, value: &str) -> Result<(), String> {
    let chars = value.chars().count();
    if chars > Labels::MAX_VALUE_CHARS {
        return Err(format!(
            "label {} has a value of {chars} characters; a value is 0 to {} characters",
            Value::from(key),
            Labels::MAX_VALUE_CHARS
        ));
    }
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(format!(
            "label {} has a value with a control character (U+{:04X}); values may not \
             contain control characters",
            Value::from(key),
            c as u32
        ));
    }
    Ok(())
}

impl Labels {
    pub const MAX: usize = 32;
    pub const MAX_KEY_CHARS: usize = 63;
    pub const MAX_VALUE_CHARS: usize = 63;

    /// Parses a `labels` object: every member a string, every key and value by the rules.
    pub fn parse(value: &Value) -> Result<Labels, String> {
        let object = value.as_object().ok_or_else(|| {
            format!(
                "labels must be an object of string values, got {}",
                super::json_kind(value)
            )
        })?;
        let mut labels = Labels::default();
        labels.apply(object, false)?;
        Ok(labels)
    }

    /// Applies a patch: each member sets a label; a `null` member removes it (replacing
    /// the labels with `null_deletes` off, that is: the label is not in the new set).
    /// Checks the count after the patch.
    pub fn apply(&mut self, patch: &Map<String, Value>, null_deletes: bool) -> Result<(), String> {
        for (key, value) in patch {
            check_label_key(key)?;
            match value {
                Value::String(text) => {
                    check_label_value(key, text)?;
                    self.0.insert(key.clone(), text.clone());
                }
                Value::Null => {
                    self.0.remove(key);
                }
                other => {
                    return Err(format!(
                        "label {} must have a string value{}, got {}",
                        Value::from(key.as_str()),
                        if null_deletes {
                            " (or null to remove it)"
                        } else {
                            ""
                        },
                        super::json_kind(other)
                    ));
                }
            }
        }
        if self.0.len() > Labels::MAX {
            return Err(format!(
                "labels may hold at most {} labels, got {}",
                Labels::MAX,
                self.0.len()
            ));
        }
        Ok(())
    }

    /// Labels read back from the database, as stored.
    pub fn stored(pairs: impl IntoIterator<Item = (String, String)>) -> Labels {
        Labels(pairs.into_iter().collect())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn to_json(&self) -> Value {
        Value::Object(
            self.0
                .iter()
                .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
                .collect(),
        )
    }
}

/// One `label=` filter of a list: `KEY:VALUE` (equality) or `KEY` (present).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelFilter {
    pub key: String,
    pub value: Option<String>,
}

impl LabelFilter {
    /// Parses `KEY:VALUE` or `KEY`; the key cannot hold `:`, so the first one splits.
    pub fn parse(text: &str) -> Result<LabelFilter, String> {
        let (key, value) = match text.split_once(':') {
            Some((k, v)) => (k, Some(v)),
            None => (text, None),
        };
        check_label_key(key).map_err(|e| format!("label filter {}: {e}", Value::from(text)))?;
        if let Some(v) = value {
            check_label_value(key, v)
                .map_err(|e| format!("label filter {}: {e}", Value::from(text)))?;
        }
        Ok(LabelFilter {
            key: key.to_owned(),
            value: value.map(str::to_owned),
        })
    }
}

/// What the server observes of a device: `online` when its last heartbeat is at most
/// `stale_after` heartbeat intervals old, `stale` up to `offline_after`, else `offline`
/// (a device that never sent one is `offline`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Connectivity {
    Online,
    Stale,
    Offline,
}

impl Connectivity {
    pub const ALL: [Connectivity; 3] = [
        Connectivity::Online,
        Connectivity::Stale,
        Connectivity::Offline,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Connectivity::Online => "online",
            Connectivity::Stale => "stale",
            Connectivity::Offline => "offline",
        }
    }
}

impl TryFrom<String> for Connectivity {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        Connectivity::ALL
            .into_iter()
            .find(|c| c.as_str() == value)
            .ok_or_else(|| {
                format!(
                    "must be online, stale or offline, got {}",
                    Value::from(value)
                )
            })
    }
}

/// The thresholds connectivity is computed by, in seconds of heartbeat age.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectivityRule {
    /// Older than this, a device is stale (2 × the heartbeat interval by default).
    pub stale_after_secs: i64,
    /// Older than this, a device is offline (10 × the heartbeat interval by default).
    pub offline_after_secs: i64,
}

impl ConnectivityRule {
    pub fn new(heartbeat_interval: u32, stale_multiple: u32, offline_multiple: u32) -> Self {
        ConnectivityRule {
            stale_after_secs: i64::from(heartbeat_interval) * i64::from(stale_multiple),
            offline_after_secs: i64::from(heartbeat_interval) * i64::from(offline_multiple),
        }
    }

    /// A device's connectivity at `now`, from its last heartbeat.
    pub fn of(self, last_heartbeat: Option<Timestamp>, now: Timestamp) -> Connectivity {
        match last_heartbeat {
            None => Connectivity::Offline,
            Some(at) if now.0 - at.0 <= self.stale_after_secs => Connectivity::Online,
            Some(at) if now.0 - at.0 <= self.offline_after_secs => Connectivity::Stale,
            Some(_) => Connectivity::Offline,
        }
    }

    /// The oldest heartbeat that is still online at `now`, and the oldest still stale.
    pub fn cutoffs(self, now: Timestamp) -> (Timestamp, Timestamp) {
        (
            Timestamp(now.0 - self.stale_after_secs),
            Timestamp(now.0 - self.offline_after_secs),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_rules_name_the_label_and_the_rule() {
        assert!(Labels::parse(&json!({"env": "prod", "a b": ""})).is_err());
        assert!(Labels::parse(&json!({"a.b/c-d_": ""})).is_ok());
        assert!(Labels::parse(&json!({"env": "prod", "a.b/c-d": "", "9x": "y"})).is_ok());
        let e = Labels::parse(&json!({"Env": "prod"})).unwrap_err();
        assert!(e.contains("\"Env\"") && e.contains("[a-z0-9._/-]"), "{e}");
        let e = Labels::parse(&json!({"-x": "prod"})).unwrap_err();
        assert!(e.contains("starting with a letter or digit"), "{e}");
        let e = Labels::parse(&json!({"k": "a".repeat(64)})).unwrap_err();
        assert!(e.contains("\"k\"") && e.contains("0 to 63"), "{e}");
        let e = Labels::parse(&json!({"k": "a\nb"})).unwrap_err();
        assert!(e.contains("control"), "{e}");
        let many: Map<String, Value> = (0..33).map(|i| (format!("k{i}"), json!("v"))).collect();
        let e = Labels::parse(&Value::Object(many)).unwrap_err();
        assert!(e.contains("at most 32"), "{e}");
        assert!(Labels::parse(&json!({"k": 1})).is_err());
        assert!(Labels::parse(&json!({"k": "a".repeat(63), "x".repeat(63): ""})).is_ok());
        assert!(Labels::parse(&json!({"x".repeat(64): ""})).is_err());
    }

    #[test]
    fn connectivity_follows_the_thresholds() {
        let rule = ConnectivityRule::new(60, 2, 10);
        let now = Timestamp(10_000);
        assert_eq!(rule.of(None, now), Connectivity::Offline);
        assert_eq!(
            rule.of(Some(Timestamp(10_000 - 120)), now),
            Connectivity::Online
        );
        assert_eq!(
            rule.of(Some(Timestamp(10_000 - 121)), now),
            Connectivity::Stale
        );
        assert_eq!(
            rule.of(Some(Timestamp(10_000 - 600)), now),
            Connectivity::Stale
        );
        assert_eq!(
            rule.of(Some(Timestamp(10_000 - 601)), now),
            Connectivity::Offline
        );
    }
}
