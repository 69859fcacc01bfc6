//! Organization identifiers such as `org_demo`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An organization's id, chosen by the operator: 1–64 characters `[A-Za-z0-9_-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub struct OrgId(String);

impl OrgId {
    pub const MAX_CHARS: usize = 64;

    /// The org created on first start, the reference's `org_demo`.
    pub fn demo() -> OrgId {
        OrgId("org_demo".to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for OrgId {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        let valid = !value.is_empty()
            && value.len() <= Self::MAX_CHARS
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if valid {
            Ok(OrgId(value))
        } else {
            Err(format!(
                "must be 1 to {} characters [A-Za-z0-9_-] such as org_demo, got {}",
                Self::MAX_CHARS,
                super::quoted(&value)
            ))
        }
    }
}

impl fmt::Display for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
