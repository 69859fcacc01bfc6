//! Timestamps: stored as Unix seconds, shown as RFC 3339 UTC with a `Z` and whole seconds
//! (`2026-02-23T16:30:00Z`), because some SDK date parsers reject fractions.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;
use time::macros::format_description;

/// A moment in whole seconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub i64);

/// The current time, truncated to whole seconds.
pub fn now() -> Timestamp {
    Timestamp(OffsetDateTime::now_utc().unix_timestamp())
}

impl Timestamp {
    pub fn to_rfc3339(self) -> String {
        let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
        OffsetDateTime::from_unix_timestamp(self.0)
            .ok()
            .and_then(|t| t.format(&format).ok())
            .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned())
    }
}

impl Timestamp {
    /// Parses RFC 3339 (`2026-02-23T16:30:00Z`, fractions and offsets accepted, kept to
    /// the whole second).
    pub fn parse_rfc3339(text: &str) -> Result<Timestamp, String> {
        OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .map(|t| Timestamp(t.unix_timestamp()))
            .map_err(|_| {
                format!(
                    "must be an RFC 3339 time such as 2026-02-23T16:30:00Z, got {}",
                    serde_json::Value::from(text)
                )
            })
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_rfc3339())
    }
}

/// Reads the RFC 3339 text it is written as (what a client of the API reads back).
impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Timestamp::parse_rfc3339(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_whole_seconds_with_z() {
        assert_eq!(
            Timestamp(1_771_864_200).to_rfc3339(),
            "2026-02-23T16:30:00Z"
        );
    }
}
