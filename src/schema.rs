//! JSON Schemas of the domain types, from the same constants their parsers use, and the
//! schema helpers request types share. Below the routes, which derive their schemas with
//! these, and the document, which collects them.

use serde_json::{Value, json};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

use std::borrow::Cow;

use crate::domain::{ClipNorm, DeadlineSeconds, MaxSteps, NoiseSigma, SampleCount};
use crate::domain::{
    Connectivity, DeploymentTarget, DeviceIdentifier, DeviceStatus, DownloadUrl, JsonObject,
    Labels, Limit, MinDevices, ModelId, ObjectValue, Offset, OrgId, Platform, PolicyName,
    RawLabels, RawObject, RawObjectList, RoundStatus, Sha256Hex, TargetPlatforms, Timestamp,
    VersionName,
};

pub(crate) fn schema(value: Value) -> RefOr<Schema> {
    RefOr::T(serde_json::from_value(value).expect("a valid schema literal"))
}

/// Rust's `char::is_control` is Unicode's Cc category: U+0000–U+001F and U+007F–U+009F.
pub const NO_CONTROL_CHARACTERS: &str = r"^[^\u0000-\u001F\u007F-\u009F]*$";

impl PartialSchema for DeviceIdentifier {
    fn schema() -> RefOr<Schema> {
        schema(json!({
            "type": "string",
            "minLength": 1,
            "maxLength": DeviceIdentifier::MAX_CHARS,
            // What DeviceIdentifier's parser refuses: control characters, `/`, invisible and
            // direction-changing characters, spaces but U+0020, a space at either end.
            "pattern": format!(
                "{}{}",
                r"^(?! )(?!.* $)[^/\u0000-\u001F\u007F-\u00A0\u00AD\u034F\u061C\u115F\u1160\u1680\u17B4\u17B5\u180B-\u180F\u2000-\u200F\u2028-\u202F\u205F-\u206F\u3000\u3164\uFE00-\uFE0F\uFEFF\uFFA0\uFFF0-\uFFF8",
                // Beyond the BMP, as characters: \u escapes name only 16-bit units.
                "\u{1BCA0}-\u{1BCA3}\u{1D173}-\u{1D17A}\u{E0000}-\u{E0FFF}]*$"
            ),
            "description": "A device's user-chosen identifier, unique within its org: 1 to 255 \
                characters (not bytes, in Unicode NFC), no control characters, no `/`, no \
                invisible or direction-changing characters, no space but U+0020 and none at \
                either end.",
            "examples": ["laptop-001"],
        }))
    }
}
impl ToSchema for DeviceIdentifier {}

impl PartialSchema for Platform {
    fn schema() -> RefOr<Schema> {
        schema(json!({
            "type": "string",
            "minLength": 1,
            "maxLength": Platform::MAX_CHARS,
            "pattern": "^[a-z0-9_-]+$",
            "description": "The platform a device runs on: a lowercase token of 1 to 32 \
                characters `[a-z0-9_-]`. The reference names `python`, `ios`, `android` and \
                `edge`; the SDKs also send `macos`, `linux`, `windows` and `browser`.",
            "examples": ["python", "ios", "android", "edge"],
        }))
    }
}
impl ToSchema for Platform {}

impl PartialSchema for DeviceStatus {
    fn schema() -> RefOr<Schema> {
        let names = [DeviceStatus::Active, DeviceStatus::Inactive].map(DeviceStatus::as_str);
        schema(json!({
            "type": "string",
            "enum": names,
            "description": "Whether a device is taking part: `active` or `inactive`.",
        }))
    }
}
impl ToSchema for DeviceStatus {}

impl PartialSchema for Labels {
    fn schema() -> RefOr<Schema> {
        schema(json!({
            "type": "object",
            "maxProperties": Labels::MAX,
            "propertyNames": {
                "type": "string",
                "minLength": 1,
                "maxLength": Labels::MAX_KEY_CHARS,
                "pattern": "^[a-z0-9][a-z0-9._/-]*$",
            },
            "additionalProperties": {
                "type": "string",
                "maxLength": Labels::MAX_VALUE_CHARS,
                "pattern": NO_CONTROL_CHARACTERS,
            },
            "description": "A device's labels: at most 32 string members; keys 1 to 63 \
                characters of `[a-z0-9._/-]` starting with a letter or digit, values 0 to 63 \
                characters with no control characters.",
            "examples": [{"env": "prod", "ring": "canary"}],
        }))
    }
}
impl ToSchema for Labels {}

impl PartialSchema for Connectivity {
    fn schema() -> RefOr<Schema> {
        let names = Connectivity::ALL.map(Connectivity::as_str);
        schema(json!({
            "type": "string",
            "enum": names,
            "description": "What the server observes from heartbeats: `online` when the last \
                heartbeat is at most 2 heartbeat intervals old, `stale` up to 10, else \
                `offline` (also before the first heartbeat). The multiples are configurable.",
        }))
    }
}
impl ToSchema for Connectivity {}

impl PartialSchema for RoundStatus {
    fn schema() -> RefOr<Schema> {
        let names = [
            RoundStatus::Active,
            RoundStatus::Completed,
            RoundStatus::Cancelled,
        ]
        .map(RoundStatus::as_str);
        schema(json!({
            "type": "string",
            "enum": names,
            "description": "Where a training round is in its life: `active` until the org \
                completes or cancels it.",
        }))
    }
}
impl ToSchema for RoundStatus {}

impl PartialSchema for JsonObject {
    fn schema() -> RefOr<Schema> {
        schema(json!({
            "type": "object",
            "additionalProperties": true,
            "description": "A free-form JSON object.",
        }))
    }
}
impl ToSchema for JsonObject {}

/// JSON objects held otherwise (as stored text, as a built value) are documented as
/// [`JsonObject`], under its name.
macro_rules! json_object_schema {
    ($($name:ty),+) => {$(
        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                JsonObject::schema()
            }
        }
        impl ToSchema for $name {
            fn name() -> Cow<'static, str> {
                JsonObject::name()
            }
        }
    )+};
}

json_object_schema!(RawObject<'_>, ObjectValue);

impl PartialSchema for RawObjectList<'_> {
    fn schema() -> RefOr<Schema> {
        schema(json!({
            "type": "array",
            "items": {"$ref": "#/components/schemas/JsonObject"},
            "description": "A list of free-form JSON objects.",
        }))
    }
}
impl ToSchema for RawObjectList<'_> {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("JsonObjectList")
    }
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((JsonObject::name().into(), JsonObject::schema()));
    }
}

impl PartialSchema for RawLabels {
    fn schema() -> RefOr<Schema> {
        Labels::schema()
    }
}
impl ToSchema for RawLabels {
    fn name() -> Cow<'static, str> {
        Labels::name()
    }
}

impl PartialSchema for VersionName {
    fn schema() -> RefOr<Schema> {
        schema(json!({
            "type": "string",
            "minLength": 1,
            "maxLength": VersionName::MAX_CHARS,
            "pattern": NO_CONTROL_CHARACTERS,
            "description": "A model version's name: 1 to 64 characters, no control characters.",
            "examples": ["1.0.0"],
        }))
    }
}
impl ToSchema for VersionName {}

impl PartialSchema for DownloadUrl {
    fn schema() -> RefOr<Schema> {
        schema(json!({
            "type": "string",
            "pattern": DownloadUrl::PATTERN,
            "description": "An absolute http or https URL with a host; no spaces or control \
                characters.",
            "examples": ["https://cdn.example.com/kbd/1.0.0/model.onnx"],
        }))
    }
}
impl ToSchema for DownloadUrl {}

impl PartialSchema for Sha256Hex {
    fn schema() -> RefOr<Schema> {
        schema(json!({
            "type": "string",
            "pattern": "^[0-9a-fA-F]{64}$",
            "description": "A SHA-256 digest: 64 hexadecimal digits.",
        }))
    }
}
impl ToSchema for Sha256Hex {}

impl PartialSchema for PolicyName {
    fn schema() -> RefOr<Schema> {
        schema(json!({
            "type": "string",
            "pattern": "^[a-z0-9_-]{1,32}$",
            "description": "An activation policy or delivery mode: a lowercase token of 1 to 32 \
                characters `[a-z0-9_-]` (`immediate`, `next_launch`, `managed`, ...).",
        }))
    }
}
impl ToSchema for PolicyName {}

impl PartialSchema for DeploymentTarget {
    fn schema() -> RefOr<Schema> {
        let named = |name: &str| format!("#/components/schemas/{name}");
        schema(json!({
            "type": "object",
            "description": "Which devices a deployment is for: `devices` (UUIDs or \
                identifiers), `platforms`, `labels` (`{KEY: VALUE}`); all given parts must \
                match, and absent or `{}` matches every device of the org. No other member.",
            "additionalProperties": false,
            "properties": {
                "devices": {"type": "array", "items": {"$ref": named("DeviceIdentifier")}},
                "platforms": {"type": "array", "items": {"$ref": named("Platform")}},
                "labels": {"$ref": named("Labels")},
            },
        }))
    }
}
impl ToSchema for DeploymentTarget {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        for (name, schema) in [
            (DeviceIdentifier::name(), DeviceIdentifier::schema()),
            (Platform::name(), Platform::schema()),
            (Labels::name(), Labels::schema()),
        ] {
            schemas.push((name.into(), schema));
        }
    }
}

impl PartialSchema for Timestamp {
    fn schema() -> RefOr<Schema> {
        schema(json!({
            "type": "string",
            "format": "date-time",
            "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$",
            "description": "RFC 3339 UTC with whole seconds and a `Z`.",
            "examples": ["2026-02-23T16:30:00Z"],
        }))
    }
}
impl ToSchema for Timestamp {}

impl PartialSchema for ModelId {
    fn schema() -> RefOr<Schema> {
        schema(json!({
            "type": "string",
            "minLength": 1,
            "maxLength": ModelId::MAX_CHARS,
            "pattern": NO_CONTROL_CHARACTERS,
            "description": "The model a round trains: free text, 1 to 255 characters, no \
                control characters.",
            "examples": ["keyboard-next-word-v3"],
        }))
    }
}
impl ToSchema for ModelId {}

impl PartialSchema for TargetPlatforms {
    fn schema() -> RefOr<Schema> {
        schema(json!({
            "type": "array",
            "items": Platform::schema(),
            "description": "The platforms a round wants; empty means every platform. A \
                platform given twice counts once.",
            "examples": [["ios", "android"]],
        }))
    }
}
impl ToSchema for TargetPlatforms {}

impl PartialSchema for MinDevices {
    fn schema() -> RefOr<Schema> {
        schema(json!({
            "type": "integer",
            "minimum": 1,
            "maximum": MinDevices::MAX,
            "description": "How many devices the round wants: it completes (and aggregates) \
                when this many updates are in.",
            "examples": [10],
        }))
    }
}
impl ToSchema for MinDevices {}

/// The schema of a bounded integer newtype.
macro_rules! integer_schema {
    ($name:ident, $description:literal, $example:literal) => {
        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                schema(json!({
                    "type": "integer",
                    "minimum": 1,
                    "maximum": $name::MAX,
                    "description": $description,
                    "examples": [$example],
                }))
            }
        }
        impl ToSchema for $name {}
    };
}

integer_schema!(
    DeadlineSeconds,
    "Seconds from the start to the round's deadline, when it completes with the updates it has.",
    3600
);
integer_schema!(
    MaxSteps,
    "The most local training steps a device takes.",
    100
);
integer_schema!(
    SampleCount,
    "How many samples the update was trained on: its weight in FedAvg.",
    30
);

impl PartialSchema for ClipNorm {
    fn schema() -> RefOr<Schema> {
        schema(json!({
            "type": "number",
            "exclusiveMinimum": 0,
            "description": "The L2 norm devices clip their update to.",
            "examples": [1.0],
        }))
    }
}
impl ToSchema for ClipNorm {}

impl PartialSchema for NoiseSigma {
    fn schema() -> RefOr<Schema> {
        schema(json!({
            "type": "number",
            "minimum": 0,
            "description": "The standard deviation of the Gaussian noise devices add to their \
                update; 0 for none.",
            "examples": [0.0],
        }))
    }
}
impl ToSchema for NoiseSigma {}

impl PartialSchema for OrgId {
    fn schema() -> RefOr<Schema> {
        schema(json!({
            "type": "string",
            "minLength": 1,
            "maxLength": OrgId::MAX_CHARS,
            "pattern": "^[A-Za-z0-9_-]+$",
            "description": "An organization's id, such as `org_demo`: 1 to 64 characters \
                `[A-Za-z0-9_-]`.",
            "examples": ["org_demo"],
        }))
    }
}
impl ToSchema for OrgId {}

/// The `limit` query parameter of the list endpoints.
pub fn limit_schema() -> RefOr<Schema> {
    schema(json!({
        "type": "integer",
        "minimum": 1,
        "maximum": Limit::MAX,
        "default": Limit::DEFAULT,
        "description": "Most records to return.",
    }))
}

/// The `offset` query parameter of the list endpoints.
pub fn offset_schema() -> RefOr<Schema> {
    schema(json!({
        "type": "integer",
        "minimum": 0,
        "maximum": Offset::MAX,
        "default": 0,
        "description": "Records to skip.",
    }))
}

/// Free-form fields the SDKs send beside the documented ones: groups of field names, each
/// with what becomes of them. Any JSON value each; other unknown fields are ignored.
pub fn sdk_fields_schema(groups: &[(&[&str], &str)]) -> RefOr<Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType};
    let mut object = ObjectBuilder::new();
    for (fields, description) in groups {
        for field in *fields {
            // Typeless: the server takes any JSON value here.
            let any = ObjectBuilder::new()
                .schema_type(SchemaType::AnyValue)
                .description(Some(*description));
            object = object.property(*field, any);
        }
    }
    RefOr::T(Schema::Object(object.build()))
}

/// The `after` query parameter of the logs (events, telemetry, the request journal): a seq.
pub fn seq_schema() -> RefOr<Schema> {
    schema(json!({
        "type": "integer",
        "format": "int64",
        "minimum": 0,
        "default": 0,
        "description": "Only records after this seq: the last one read, or the previous \
            page's `next_after`. Default 0, from the start of what is kept.",
        "examples": [0],
    }))
}

/// Labels to change (PATCH, register): a member set to null is removed when merging.
pub fn labels_patch_schema() -> RefOr<Schema> {
    let mut labels = serde_json::to_value(Labels::schema()).expect("a schema serializes");
    labels["additionalProperties"]["type"] = json!(["string", "null"]);
    schema(json!({"oneOf": [labels, {"type": "null"}]}))
}

/// One Server-Sent Event of the event stream, as a reader parses it.
pub struct ServerSentEvent;

impl PartialSchema for ServerSentEvent {
    fn schema() -> RefOr<Schema> {
        schema(json!({
            "type": "object",
            "description": "One Server-Sent Event: `id` its seq, `event` its type, `data` the \
                event as JSON text.",
            "properties": {
                "id": {"type": "string"},
                "event": {"type": "string"},
                "data": {"type": "string"},
            },
        }))
    }
}
impl ToSchema for ServerSentEvent {}

/// OTLP/JSON logs: an `ExportLogsServiceRequest`, which has `resourceLogs`.
pub struct OtlpLogs;

impl PartialSchema for OtlpLogs {
    fn schema() -> RefOr<Schema> {
        schema(json!({
            "type": "object",
            "required": ["resourceLogs"],
            "properties": {"resourceLogs": {"type": "array", "items": {"type": "object"}}},
        }))
    }
}
impl ToSchema for OtlpLogs {}

/// Rules across the fields of request types that a derive cannot say (nor utoipa's schema
/// model hold), added to their derived schemas in the document's JSON so that a client
/// generated from it (and the fuzzer) sends only what is accepted. The types are private to
/// their handlers, so the rules name them here.
pub fn cross_field_rules(schemas: &mut Value) {
    // Register and join take a device's identifier under either of its names: one is
    // required, and both may be sent only if they agree. JSON Schema cannot say "equal when
    // both are present", so the document asks for exactly one (both would match both
    // branches), which every client can follow. A null counts as absent.
    let given = |name: &str| json!({"type": "object", "required": [name], "properties": {(name): {"type": "string"}}});
    let one_identifier = json!({"oneOf": [given("device_id"), given("device_identifier")]});
    for name in ["RegisterRequest", "JoinRequest"] {
        let Some(derived) = schemas.get_mut(name) else {
            continue;
        };
        // One more member of an allOf (register's flattened fields), not an allOf nested in
        // an allOf, which some client generators cannot read.
        match derived.get_mut("allOf").and_then(Value::as_array_mut) {
            Some(all_of) => all_of.push(one_identifier.clone()),
            None => *derived = json!({"allOf": [derived.take(), one_identifier.clone()]}),
        }
    }
    let required = |name: &str| json!({"required": [name], "properties": {(name): {"type": "string", "minLength": 1}}});
    // Revoke names the token, under either name.
    let revoke = json!({"anyOf": [required("refresh_token"), required("token")]});
    // The device, under any of its names: required with the secret key, which the
    // document cannot tell from a device key.
    let names = ["device_id", "deviceId", "device_identifier"].map(required);
    let device = json!({ "anyOf": names });
    // A base version needs the model it is a version of.
    let model = json!({"required": ["model_id"],
        "properties": {"model_id": {"$ref": "#/components/schemas/ModelId"}}});
    let start = json!({"anyOf": [
        {"not": {"required": ["base_version"]}},
        {"properties": {"base_version": {"type": "null"}}},
        model,
    ]});
    // The clock moves by exactly one of advance_seconds and now.
    let clock = json!({"oneOf": [
        {"required": ["advance_seconds"],
         "properties": {"advance_seconds": {"type": "integer"}, "now": {"type": "null"}}},
        {"required": ["now"], "properties": {
            "now": {"type": "string", "format": "date-time"}, "advance_seconds": {"type": "null"}}},
    ]});
    for (name, keywords) in [
        ("RevokeRequest", revoke),
        ("RoundHeartbeat", device.clone()),
        ("FederationJoinRequest", device),
        ("StartRequest", start),
        ("MoveClock", clock),
    ] {
        if let (Some(object), Value::Object(keywords)) = (
            schemas.get_mut(name).and_then(Value::as_object_mut),
            keywords,
        ) {
            object.extend(keywords);
        }
    }
}
