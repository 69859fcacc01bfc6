//! The values a device is made of, each parsed once at the edge.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use unicode_normalization::{UnicodeNormalization, is_nfc};

/// Characters that show nothing, or change the direction of the text around them, so two
/// identifiers that differ only by them look the same: Unicode's default-ignorable code
/// points (zero-width space and joiners, soft hyphen, word joiner, variation selectors,
/// the byte order mark, tags...) and the bidi controls.
fn is_invisible(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x034F | 0x061C | 0x115F | 0x1160 | 0x17B4 | 0x17B5 | 0x180B..=0x180F
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F | 0x3164 | 0xFE00..=0xFE0F
        | 0xFEFF | 0xFFA0 | 0xFFF0..=0xFFF8 | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A
        | 0xE0000..=0xE0FFF)
}

/// The rule device identifiers and model ids share: 1 to `max_chars` characters, none
/// of them a control character.
pub(crate) fn check_name_text(value: &str, max_chars: usize) -> Result<(), String> {
    let chars = value.chars().count();
    if chars == 0 || chars > max_chars {
        return Err(format!("must be 1 to {max_chars} characters, got {chars}"));
    }
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(format!(
            "must not contain control characters, found U+{:04X}",
            c as u32
        ));
    }
    Ok(())
}

/// The user-chosen identifier of a device (`device_id` in the reference,
/// `device_identifier` in the SDKs): 1–255 characters, no control characters, no `/`, no
/// invisible or direction-changing characters, no space but U+0020 and none at either
/// end; kept in Unicode NFC, so the composed and decomposed spellings of a name are one
/// identifier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DeviceIdentifier(String);

impl DeviceIdentifier {
    pub const MAX_CHARS: usize = 255;

    /// `text` as identifiers are stored (NFC), for looking one up by what a path says.
    /// ASCII, which nearly every identifier is, is NFC already and is not copied.
    pub fn normalized(text: &str) -> Cow<'_, str> {
        if text.is_ascii() || is_nfc(text) {
            Cow::Borrowed(text)
        } else {
            Cow::Owned(text.nfc().collect())
        }
    }

    /// An identifier read back from the database (see `domain::sql`).
    pub(super) fn stored(text: String) -> DeviceIdentifier {
        DeviceIdentifier(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for DeviceIdentifier {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        let value = match DeviceIdentifier::normalized(&value) {
            Cow::Borrowed(_) => value,
            Cow::Owned(nfc) => nfc,
        };
        check_name_text(&value, Self::MAX_CHARS)?;
        if value.contains('/') {
            return Err("must not contain '/'".to_owned());
        }
        if let Some(c) = value.chars().find(|c| is_invisible(*c)) {
            return Err(format!(
                "must not contain invisible or direction-changing characters (zero-width \
                 characters, bidi controls, a byte order mark), found U+{:04X}",
                c as u32
            ));
        }
        if let Some(c) = value.chars().find(|c| c.is_whitespace() && *c != ' ') {
            return Err(format!(
                "must not contain spaces other than U+0020, found U+{:04X}",
                c as u32
            ));
        }
        if value.starts_with(' ') || value.ends_with(' ') {
            return Err("must not begin or end with a space".to_owned());
        }
        Ok(DeviceIdentifier(value))
    }
}

impl From<DeviceIdentifier> for String {
    fn from(value: DeviceIdentifier) -> Self {
        value.0
    }
}

impl fmt::Display for DeviceIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The platform a device runs on: a lowercase token of 1–32 characters `[a-z0-9_-]`.
/// The reference names `python`, `ios`, `android` and `edge`; the SDKs send more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Platform(String);

impl Platform {
    pub const MAX_CHARS: usize = 32;

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Platform {
    fn default() -> Self {
        Platform("python".to_owned())
    }
}

impl TryFrom<String> for Platform {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        let valid = !value.is_empty()
            && value.len() <= Self::MAX_CHARS
            && value
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if valid {
            Ok(Platform(value))
        } else {
            Err(format!(
                "must be a lowercase token of 1 to {} characters [a-z0-9_-] such as python, ios, \
                 android or edge, got {}",
                Self::MAX_CHARS,
                super::quoted(&value)
            ))
        }
    }
}

impl From<Platform> for String {
    fn from(value: Platform) -> Self {
        value.0
    }
}

/// Whether a device is taking part: the only two states a heartbeat may report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "&'static str")]
pub enum DeviceStatus {
    #[default]
    Active,
    Inactive,
}

impl DeviceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceStatus::Active => "active",
            DeviceStatus::Inactive => "inactive",
        }
    }
}

impl TryFrom<String> for DeviceStatus {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        match value.as_str() {
            "active" => Ok(DeviceStatus::Active),
            "inactive" => Ok(DeviceStatus::Inactive),
            _ => Err(format!(
                "must be \"active\" or \"inactive\", got {}",
                super::quoted(&value)
            )),
        }
    }
}

impl From<DeviceStatus> for &'static str {
    fn from(value: DeviceStatus) -> Self {
        value.as_str()
    }
}

/// A free-form JSON object (`capabilities`, `metrics`, `metadata`): anything but an object
/// is refused with the kind of value that was sent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Value", into = "Value")]
pub struct JsonObject(pub Map<String, Value>);

impl TryFrom<Value> for JsonObject {
    type Error = String;

    fn try_from(value: Value) -> Result<Self, Self::Error> {
        match value {
            Value::Object(map) => Ok(JsonObject(map)),
            other => Err(format!("must be a JSON object, got {}", json_kind(&other))),
        }
    }
}

impl From<JsonObject> for Value {
    fn from(value: JsonObject) -> Self {
        Value::Object(value.0)
    }
}

/// Names a JSON value's type the way a person would ("a string", "an array").
pub fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifier_counts_characters_not_bytes() {
        let ok = "é".repeat(255);
        assert!(DeviceIdentifier::try_from(ok).is_ok());
        let err = DeviceIdentifier::try_from("é".repeat(256)).unwrap_err();
        assert_eq!(err, "must be 1 to 255 characters, got 256");
    }

    #[test]
    fn identifier_refuses_slash_control_and_empty() {
        assert!(DeviceIdentifier::try_from("a/b".to_owned()).is_err());
        assert!(DeviceIdentifier::try_from("a\nb".to_owned()).is_err());
        assert!(DeviceIdentifier::try_from(String::new()).is_err());
        assert!(DeviceIdentifier::try_from("laptop-001".to_owned()).is_ok());
    }

    #[test]
    fn identifier_refuses_look_alikes_and_keeps_nfc() {
        for bad in [
            "laptop\u{200B}1",
            "\u{FEFF}laptop",
            "lap\u{202E}pot",
            "laptop\u{2066}",
            " laptop",
            "laptop ",
            "lap\u{00A0}top",
        ] {
            assert!(
                DeviceIdentifier::try_from(bad.to_owned()).is_err(),
                "{bad:?}"
            );
        }
        let nfd = DeviceIdentifier::try_from("caf\u{0065}\u{0301}".to_owned()).unwrap();
        assert_eq!(nfd.as_str(), "caf\u{00E9}");
        assert!(DeviceIdentifier::try_from("my laptop".to_owned()).is_ok());
    }

    #[test]
    fn platform_accepts_sdk_tokens_and_refuses_others() {
        for ok in [
            "python",
            "ios",
            "android",
            "edge",
            "macos",
            "browser",
            "linux_x86-64",
        ] {
            assert!(Platform::try_from(ok.to_owned()).is_ok(), "{ok}");
        }
        for bad in ["", "iOS", "web os", &"a".repeat(33)] {
            assert!(Platform::try_from(bad.to_owned()).is_err(), "{bad}");
        }
    }
}
