//! The values a training round is made of, each parsed once at the edge.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Platform, json_kind};

/// Where a round is in its life: `active` until an operator completes or cancels it.
/// Completed and cancelled rounds are finished: nothing joins them and nothing changes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "&'static str")]
pub enum RoundStatus {
    Active,
    Completed,
    Cancelled,
}

impl RoundStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RoundStatus::Active => "active",
            RoundStatus::Completed => "completed",
            RoundStatus::Cancelled => "cancelled",
        }
    }

    /// Reads the status column, which the schema's CHECK keeps to these three.
    pub fn from_db(text: &str) -> Option<RoundStatus> {
        RoundStatus::try_from(text.to_owned()).ok()
    }
}

impl TryFrom<String> for RoundStatus {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        match value.as_str() {
            "active" => Ok(RoundStatus::Active),
            "completed" => Ok(RoundStatus::Completed),
            "cancelled" => Ok(RoundStatus::Cancelled),
            _ => Err(format!(
                "must be \"active\", \"completed\" or \"cancelled\", got {}",
                super::quoted(&value)
            )),
        }
    }
}

impl From<RoundStatus> for &'static str {
    fn from(value: RoundStatus) -> Self {
        value.as_str()
    }
}

/// The platforms a round wants, each once, in the order first given. Empty means every
/// platform.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Vec<Platform>", into = "Vec<Platform>")]
pub struct TargetPlatforms(Vec<Platform>);

impl TargetPlatforms {
    pub fn as_slice(&self) -> &[Platform] {
        &self.0
    }

    /// The JSON array stored in the `platforms` column.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_else(|_| "[]".to_owned())
    }
}

impl From<Vec<Platform>> for TargetPlatforms {
    fn from(platforms: Vec<Platform>) -> Self {
        let mut unique: Vec<Platform> = Vec::with_capacity(platforms.len());
        for platform in platforms {
            if !unique.contains(&platform) {
                unique.push(platform);
            }
        }
        TargetPlatforms(unique)
    }
}

impl From<TargetPlatforms> for Vec<Platform> {
    fn from(value: TargetPlatforms) -> Self {
        value.0
    }
}

/// The model a round trains: free text chosen by the operator, 1–255 characters, no
/// control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ModelId(String);

impl ModelId {
    pub const MAX_CHARS: usize = 255;

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ModelId {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        super::device::check_name_text(&value, Self::MAX_CHARS)?;
        Ok(ModelId(value))
    }
}

impl From<ModelId> for String {
    fn from(value: ModelId) -> Self {
        value.0
    }
}

/// How many devices a round wants: an integer from 1 to 1,000,000. The round completes
/// when this many updates are in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Value", into = "u32")]
pub struct MinDevices(u32);

impl MinDevices {
    pub const MAX: u32 = 1_000_000;

    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<Value> for MinDevices {
    type Error = String;

    fn try_from(value: Value) -> Result<Self, Self::Error> {
        let shown = match &value {
            Value::Number(n) => n.to_string(),
            other => json_kind(other).to_owned(),
        };
        // JSON Schema, and so every generated client, counts 5.0 as the integer 5.
        let whole = value.as_u64().or_else(|| {
            value
                .as_f64()
                .filter(|f| f.fract() == 0.0 && (1.0..=f64::from(Self::MAX)).contains(f))
                .map(|f| f as u64)
        });
        match whole {
            Some(n) if (1..=u64::from(Self::MAX)).contains(&n) => Ok(MinDevices(n as u32)),
            _ => Err(format!(
                "must be an integer from 1 to {}, got {shown}",
                Self::MAX
            )),
        }
    }
}

impl From<MinDevices> for u32 {
    fn from(value: MinDevices) -> Self {
        value.0
    }
}

/// A whole number from 1 to `max`, as JSON Schema counts them (5.0 is 5); the error names
/// the rule and what was sent.
fn whole_number(value: &Value, max: u64) -> Result<u64, String> {
    let shown = match value {
        Value::Number(n) => n.to_string(),
        other => json_kind(other).to_owned(),
    };
    let whole = value.as_u64().or_else(|| {
        value
            .as_f64()
            .filter(|f| f.fract() == 0.0 && (1.0..=max as f64).contains(f))
            .map(|f| f as u64)
    });
    match whole {
        Some(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(format!("must be an integer from 1 to {max}, got {shown}")),
    }
}

/// A finite number at least `min` (`above`: more than `min`).
fn finite_number(value: &Value, min: f64, above: bool) -> Result<f64, String> {
    let rule = if above { "more than" } else { "at least" };
    match value.as_f64() {
        Some(f) if f.is_finite() && (f > min || (!above && f == min)) => Ok(f),
        _ => Err(format!(
            "must be a number {rule} {min}, got {}",
            match value {
                Value::Number(n) => n.to_string(),
                other => json_kind(other).to_owned(),
            }
        )),
    }
}

macro_rules! whole_newtype {
    ($(#[$doc:meta])* $name:ident, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(try_from = "Value", into = "u64")]
        pub struct $name(u64);

        impl $name {
            pub const MAX: u64 = $max;

            pub fn get(self) -> u64 {
                self.0
            }
        }

        impl TryFrom<Value> for $name {
            type Error = String;

            fn try_from(value: Value) -> Result<Self, Self::Error> {
                whole_number(&value, Self::MAX).map($name)
            }
        }

        impl From<$name> for u64 {
            fn from(value: $name) -> Self {
                value.0
            }
        }
    };
}

whole_newtype!(
    /// Seconds from a round's start to its deadline: 1 to 31,536,000 (a year).
    DeadlineSeconds,
    31_536_000
);
whole_newtype!(
    /// The most local training steps a plan allows: 1 to 1,000,000.
    MaxSteps,
    1_000_000
);
whole_newtype!(
    /// How many samples an update was trained on, its FedAvg weight: 1 to 10^12.
    SampleCount,
    1_000_000_000_000
);

/// The L2 norm devices clip their update to: a finite number above 0.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Value", into = "f64")]
pub struct ClipNorm(f64);

impl ClipNorm {
    pub fn get(self) -> f64 {
        self.0
    }
}

impl TryFrom<Value> for ClipNorm {
    type Error = String;

    fn try_from(value: Value) -> Result<Self, Self::Error> {
        finite_number(&value, 0.0, true).map(ClipNorm)
    }
}

impl From<ClipNorm> for f64 {
    fn from(value: ClipNorm) -> Self {
        value.0
    }
}

/// The standard deviation of the Gaussian noise devices add: a finite number, 0 or more
/// (0: none).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Value", into = "f64")]
pub struct NoiseSigma(f64);

impl NoiseSigma {
    pub fn get(self) -> f64 {
        self.0
    }
}

impl TryFrom<Value> for NoiseSigma {
    type Error = String;

    fn try_from(value: Value) -> Result<Self, Self::Error> {
        finite_number(&value, 0.0, false).map(NoiseSigma)
    }
}

impl From<NoiseSigma> for f64 {
    fn from(value: NoiseSigma) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_parses_the_three_names_only() {
        for (text, status) in [
            ("active", RoundStatus::Active),
            ("completed", RoundStatus::Completed),
            ("cancelled", RoundStatus::Cancelled),
        ] {
            assert_eq!(RoundStatus::try_from(text.to_owned()), Ok(status));
            assert_eq!(status.as_str(), text);
        }
        assert!(RoundStatus::try_from("canceled".to_owned()).is_err());
    }

    #[test]
    fn target_platforms_drop_repeats_and_keep_order() {
        let platforms: TargetPlatforms =
            serde_json::from_str(r#"["ios","android","ios"]"#).unwrap();
        assert_eq!(platforms.to_json(), r#"["ios","android"]"#);
        assert!(serde_json::from_str::<TargetPlatforms>(r#"["iOS"]"#).is_err());
    }

    #[test]
    fn plan_numbers_keep_to_their_ranges() {
        assert_eq!(
            serde_json::from_str::<DeadlineSeconds>("60").unwrap().get(),
            60
        );
        assert!(serde_json::from_str::<DeadlineSeconds>("0").is_err());
        assert_eq!(
            serde_json::from_str::<SampleCount>("30.0").unwrap().get(),
            30
        );
        assert!(serde_json::from_str::<SampleCount>("-1").is_err());
        assert!(serde_json::from_str::<ClipNorm>("0").is_err());
        assert_eq!(serde_json::from_str::<NoiseSigma>("0").unwrap().get(), 0.0);
        assert_eq!(
            NoiseSigma::try_from(Value::from(-0.5)).unwrap_err(),
            "must be a number at least 0, got -0.5"
        );
    }

    #[test]
    fn min_devices_is_a_positive_integer() {
        assert_eq!(serde_json::from_str::<MinDevices>("5").unwrap().get(), 5);
        assert_eq!(serde_json::from_str::<MinDevices>("5.0").unwrap().get(), 5);
        for bad in [
            "0",
            "-1",
            "2.5",
            "\"5\"",
            "1000001",
            "1000001.0",
            "0.0",
            "1e300",
        ] {
            assert!(serde_json::from_str::<MinDevices>(bad).is_err(), "{bad}");
        }
        assert_eq!(
            MinDevices::try_from(Value::from(0)).unwrap_err(),
            "must be an integer from 1 to 1000000, got 0"
        );
    }
}
