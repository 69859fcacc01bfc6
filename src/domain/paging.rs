//! `limit` and `offset` of list endpoints, parsed from query-string text so the error can
//! say exactly what was sent.

/// Page size: 1–1000, default 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(u32);

impl Limit {
    pub const DEFAULT: u32 = 100;
    pub const MAX: u32 = 1000;

    pub fn get(self) -> u32 {
        self.0
    }

    pub fn parse(text: Option<&str>) -> Result<Limit, String> {
        let Some(text) = text else {
            return Ok(Limit(Self::DEFAULT));
        };
        match text.parse::<u32>() {
            Ok(n) if (1..=Self::MAX).contains(&n) => Ok(Limit(n)),
            _ => Err(format!(
                "limit must be an integer from 1 to {}, got {}",
                Self::MAX,
                super::quoted(text)
            )),
        }
    }
}

/// Records to skip: an integer ≥ 0, default 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Offset(u64);

impl Offset {
    /// SQLite's integers are signed 64-bit; larger offsets could never match anything.
    pub const MAX: u64 = i64::MAX as u64;

    pub fn get(self) -> u64 {
        self.0
    }

    pub fn parse(text: Option<&str>) -> Result<Offset, String> {
        let Some(text) = text else {
            return Ok(Offset(0));
        };
        match text.parse::<u64>() {
            Ok(n) if n <= Self::MAX => Ok(Offset(n)),
            _ => Err(format!(
                "offset must be an integer of 0 or more, got {}",
                super::quoted(text)
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_bounds_and_default() {
        assert_eq!(Limit::parse(None).unwrap().get(), 100);
        assert_eq!(Limit::parse(Some("1")).unwrap().get(), 1);
        assert_eq!(Limit::parse(Some("1000")).unwrap().get(), 1000);
        for bad in ["0", "1001", "abc", "-1", "", "1.5", "+5 "] {
            assert!(Limit::parse(Some(bad)).is_err(), "{bad}");
        }
        assert_eq!(
            Limit::parse(Some("5000")).unwrap_err(),
            "limit must be an integer from 1 to 1000, got \"5000\""
        );
    }

    #[test]
    fn offset_bounds_and_default() {
        assert_eq!(Offset::parse(None).unwrap().get(), 0);
        assert_eq!(Offset::parse(Some("900000")).unwrap().get(), 900_000);
        for bad in ["-1", "x", "", "18446744073709551615"] {
            assert!(Offset::parse(Some(bad)).is_err(), "{bad}");
        }
    }
}
