//! Property tests of the domain parsers: on any input they return a value or an error,
//! never panic; what they accept they give back unchanged (through `as_str`, `get`, or a
//! serde round trip); and they accept exactly what the contract says.

use devreg::domain::{
    ApiKey, DeviceIdentifier, DeviceStatus, JsonObject, Limit, MinDevices, ModelId, Offset, OrgId,
    Platform, RoundStatus, TargetPlatforms,
};
use devreg::routes::parse_json_object;
use proptest::prelude::*;
use serde_json::{Map, Value};
use unicode_normalization::UnicodeNormalization;

/// The characters identifiers refuse as invisible or direction-changing (docs/api.md).
fn is_invisible(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x034F | 0x061C | 0x115F | 0x1160 | 0x17B4 | 0x17B5 | 0x180B..=0x180F
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F | 0x3164 | 0xFE00..=0xFE0F
        | 0xFEFF | 0xFFA0 | 0xFFF0..=0xFFF8 | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A
        | 0xE0000..=0xE0FFF)
}

/// Any JSON value, nested a few levels.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
            .prop_map(Value::from),
        ".*".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".*", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Strings that are often near a boundary: short, long, with `/`, control characters, and
/// characters of several UTF-8 lengths.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-z0-9_/-]{0,40}",
        "[\\x00-\\x1f\\x7f-\\x9fa/é😀]{0,8}",
        "[a-zé]{250,260}",
    ]
}

fn is_token(s: &str, max: usize, extra: impl Fn(u8) -> bool) -> bool {
    !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit() || extra(b))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn device_identifier_accepts_exactly_1_to_255_chars_without_control_or_slash(s in text()) {
        // Kept in NFC; the rules apply to that form.
        let nfc: String = s.nfc().collect();
        let valid = (1..=255).contains(&nfc.chars().count())
            && !nfc.chars().any(char::is_control)
            && !nfc.contains('/')
            && !nfc.chars().any(|c| c.is_whitespace() && c != ' ')
            && !nfc.starts_with(' ')
            && !nfc.ends_with(' ')
            && !nfc.chars().any(is_invisible);
        match DeviceIdentifier::try_from(s.clone()) {
            Ok(id) => {
                prop_assert!(valid, "accepted {s:?}");
                prop_assert_eq!(id.as_str(), nfc.as_str());
                let json = serde_json::to_string(&id).unwrap();
                prop_assert_eq!(serde_json::from_str::<DeviceIdentifier>(&json).unwrap(), id);
            }
            Err(message) => {
                prop_assert!(!valid, "refused {s:?}");
                prop_assert!(message.starts_with("must "), "{message}");
            }
        }
    }

    #[test]
    fn platform_accepts_exactly_lowercase_tokens_of_up_to_32(s in text()) {
        let valid = is_token(&s, 32, |b| b.is_ascii_lowercase() || b == b'_' || b == b'-');
        match Platform::try_from(s.clone()) {
            Ok(platform) => {
                prop_assert!(valid, "accepted {s:?}");
                prop_assert_eq!(platform.as_str(), s.as_str());
                let json = serde_json::to_string(&platform).unwrap();
                prop_assert_eq!(serde_json::from_str::<Platform>(&json).unwrap(), platform);
            }
            Err(_) => prop_assert!(!valid, "refused {s:?}"),
        }
    }

    #[test]
    fn org_id_accepts_exactly_tokens_of_up_to_64(s in text()) {
        let valid = is_token(&s, 64, |b| b.is_ascii_alphabetic() || b == b'_' || b == b'-');
        match OrgId::try_from(s.clone()) {
            Ok(org) => {
                prop_assert!(valid, "accepted {s:?}");
                prop_assert_eq!(org.as_str(), s.as_str());
            }
            Err(_) => prop_assert!(!valid, "refused {s:?}"),
        }
    }

    #[test]
    fn model_id_accepts_exactly_1_to_255_chars_without_control(s in text()) {
        let valid = (1..=255).contains(&s.chars().count()) && !s.chars().any(char::is_control);
        match ModelId::try_from(s.clone()) {
            Ok(model) => {
                prop_assert!(valid, "accepted {s:?}");
                prop_assert_eq!(model.as_str(), s.as_str());
                let json = serde_json::to_string(&model).unwrap();
                prop_assert_eq!(serde_json::from_str::<ModelId>(&json).unwrap(), model);
            }
            Err(_) => prop_assert!(!valid, "refused {s:?}"),
        }
    }

    #[test]
    fn device_status_accepts_only_its_two_names(
        s in prop_oneof![Just("active".to_owned()), Just("inactive".to_owned()), text()]
    ) {
        match DeviceStatus::try_from(s.clone()) {
            Ok(status) => {
                prop_assert_eq!(status.as_str(), s.as_str());
                let json = serde_json::to_string(&status).unwrap();
                prop_assert_eq!(serde_json::from_str::<DeviceStatus>(&json).unwrap(), status);
            }
            Err(_) => prop_assert!(s != "active" && s != "inactive"),
        }
    }

    #[test]
    fn round_status_accepts_only_its_three_names(
        s in prop_oneof![
            Just("active".to_owned()),
            Just("completed".to_owned()),
            Just("cancelled".to_owned()),
            text(),
        ]
    ) {
        match RoundStatus::try_from(s.clone()) {
            Ok(status) => {
                prop_assert_eq!(status.as_str(), s.as_str());
                let json = serde_json::to_string(&status).unwrap();
                prop_assert_eq!(serde_json::from_str::<RoundStatus>(&json).unwrap(), status);
            }
            Err(_) => prop_assert!(!["active", "completed", "cancelled"].contains(&s.as_str())),
        }
    }

    #[test]
    fn limit_is_an_integer_from_1_to_1000_and_defaults_to_100(
        s in prop_oneof![any::<i64>().prop_map(|n| n.to_string()), text()]
    ) {
        prop_assert_eq!(Limit::parse(None).unwrap().get(), 100);
        match Limit::parse(Some(&s)) {
            Ok(limit) => {
                prop_assert!((1..=1000).contains(&limit.get()));
                prop_assert_eq!(s.parse::<u32>().ok(), Some(limit.get()));
                prop_assert_eq!(Limit::parse(Some(&limit.get().to_string())), Ok(limit));
            }
            Err(message) => {
                prop_assert!(!s.parse::<u32>().is_ok_and(|n| (1..=1000).contains(&n)));
                prop_assert!(message.contains(&devreg::domain::quoted(&s)), "{message}");
            }
        }
    }

    #[test]
    fn offset_is_a_non_negative_i64_and_defaults_to_0(
        s in prop_oneof![any::<i64>().prop_map(|n| n.to_string()), any::<u64>().prop_map(|n| n.to_string()), text()]
    ) {
        prop_assert_eq!(Offset::parse(None).unwrap().get(), 0);
        match Offset::parse(Some(&s)) {
            Ok(offset) => {
                prop_assert!(offset.get() <= i64::MAX as u64);
                prop_assert_eq!(s.parse::<u64>().ok(), Some(offset.get()));
                prop_assert_eq!(Offset::parse(Some(&offset.get().to_string())), Ok(offset));
            }
            Err(_) => prop_assert!(!s.parse::<u64>().is_ok_and(|n| n <= i64::MAX as u64)),
        }
    }

    #[test]
    fn capabilities_and_metrics_objects_accept_exactly_json_objects(value in json()) {
        match JsonObject::try_from(value.clone()) {
            Ok(object) => {
                prop_assert!(value.is_object());
                prop_assert_eq!(Value::from(object.clone()), value.clone());
                let json = serde_json::to_string(&object).unwrap();
                prop_assert_eq!(serde_json::from_str::<JsonObject>(&json).unwrap(), object);
            }
            Err(message) => {
                prop_assert!(!value.is_object());
                prop_assert!(message.starts_with("must be a JSON object, got "), "{message}");
            }
        }
    }

    #[test]
    fn min_devices_accepts_exactly_whole_numbers_from_1_to_a_million(
        value in prop_oneof![
            (0u64..=1_000_001).prop_map(Value::from),
            (0u64..=1_000_001).prop_map(|n| Value::from(n as f64)),
            json(),
        ]
    ) {
        let whole = value.as_f64().filter(|f| f.fract() == 0.0 && (1.0..=1e6).contains(f));
        match serde_json::from_value::<MinDevices>(value.clone()) {
            Ok(min) => {
                prop_assert_eq!(whole, Some(f64::from(min.get())));
                let json = serde_json::to_value(min).unwrap();
                prop_assert_eq!(&json, &Value::from(min.get()));
                prop_assert_eq!(serde_json::from_value::<MinDevices>(json).unwrap(), min);
            }
            Err(_) => prop_assert_eq!(whole, None),
        }
    }

    #[test]
    fn target_platforms_keep_the_first_of_each_platform_in_order(
        names in prop::collection::vec(prop_oneof!["[a-z]{1,3}", text()], 0..8)
    ) {
        let parsed = serde_json::from_value::<TargetPlatforms>(Value::from(names.clone()));
        let all_valid = names.iter().all(|n| Platform::try_from(n.clone()).is_ok());
        match parsed {
            Ok(platforms) => {
                prop_assert!(all_valid);
                let mut expected: Vec<&str> = Vec::new();
                for name in &names {
                    if !expected.contains(&name.as_str()) {
                        expected.push(name);
                    }
                }
                let got: Vec<&str> = platforms.as_slice().iter().map(Platform::as_str).collect();
                prop_assert_eq!(&got, &expected);
                let json = platforms.to_json();
                prop_assert_eq!(serde_json::from_str::<TargetPlatforms>(&json).unwrap(), platforms);
            }
            Err(_) => prop_assert!(!all_valid),
        }
    }

    #[test]
    fn api_keys_parse_to_the_key_that_was_sent(
        s in prop_oneof![
            "(edg_live_|oct_pub_live_|edg_dev_)[A-Za-z0-9]{20,130}",
            "(edg_live_|oct_pub_live_|edg_dev_).{0,40}",
            text(),
        ]
    ) {
        // Device tokens (edg_at_, edg_rt_, edg_bt_) have rules of their own.
        prop_assume!(!["edg_at_", "edg_rt_", "edg_bt_"].iter().any(|p| s.starts_with(p)));
        // docs/api.md's rule, written out here: a key's prefix, then 22 to 128 letters
        // and digits.
        let valid = ["edg_live_", "oct_pub_live_", "edg_dev_"].iter().any(|prefix| {
            s.strip_prefix(prefix).is_some_and(|body| {
                (22..=128).contains(&body.len()) && body.bytes().all(|b| b.is_ascii_alphanumeric())
            })
        });
        match ApiKey::parse(&s) {
            Ok(key) => {
                prop_assert!(valid, "{:?} parsed but breaks the rule", s);
                prop_assert_eq!(key.expose(), s.as_str());
                prop_assert!(s.starts_with(key.kind().prefix()));
                prop_assert!(s.starts_with(key.display_prefix()));
            }
            Err(e) => prop_assert!(!valid, "{:?} follows the rule but was refused: {}", s, e),
        }
    }

    #[test]
    fn request_bodies_of_any_bytes_parse_or_are_refused_with_a_400(
        bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..64),
            json().prop_map(|v| v.to_string().into_bytes()),
        ]
    ) {
        match parse_json_object::<Map<String, Value>>(&bytes) {
            Ok(Some(object)) => {
                let reparsed: Value = serde_json::from_slice(&bytes).unwrap();
                prop_assert_eq!(Value::Object(object), reparsed);
            }
            Ok(None) => prop_assert!(bytes.trim_ascii().is_empty()),
            Err(error) => prop_assert_eq!(error.code(), "bad_request"),
        }
    }
}
