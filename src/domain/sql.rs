//! How the domain types are stored: each column holds the text (or number) its type
//! parses from, and reading a row parses it again, so "parse once" does not stop at the
//! database and rows hand handlers typed values, not strings to re-check.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

use super::{
    Connectivity, DeviceIdentifier, DeviceStatus, KeyKind, OrgId, Platform, RoundStatus, Timestamp,
};

/// `ToSql`/`FromSql` for a type stored as the text it parses from.
macro_rules! stored_as_text {
    ($($ty:ty => |$text:ident| $parse:expr, |$value:ident| $show:expr;)*) => {$(
        impl ToSql for $ty {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                let $value = self;
                Ok(ToSqlOutput::from($show))
            }
        }

        impl FromSql for $ty {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                let $text = value.as_str()?;
                $parse.map_err(|why: String| FromSqlError::Other(why.into()))
            }
        }
    )*};
}

stored_as_text! {
    Platform => |text| Platform::try_from(text.to_owned()), |p| p.as_str();
    OrgId => |text| OrgId::try_from(text.to_owned()), |o| o.as_str();
    DeviceStatus => |text| DeviceStatus::try_from(text.to_owned()), |s| s.as_str();
    RoundStatus => |text| RoundStatus::try_from(text.to_owned()), |s| s.as_str();
    Connectivity => |text| Connectivity::try_from(text.to_owned()), |c| c.as_str();
    KeyKind => |text| KeyKind::from_db(text).ok_or_else(|| format!("unknown key kind {}", super::quoted(text))),
        |k| k.as_str();
}

/// Unix seconds.
impl ToSql for Timestamp {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.0))
    }
}

impl FromSql for Timestamp {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        value.as_i64().map(Timestamp)
    }
}

impl ToSql for DeviceIdentifier {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

/// Read as stored, not parsed again: every stored identifier passed the rules of its
/// day, and a stricter rule later must not make an old device unreadable.
impl FromSql for DeviceIdentifier {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        Ok(DeviceIdentifier::stored(value.as_str()?.to_owned()))
    }
}

/// The same types on PostgreSQL: text columns (`TEXT`) and Unix seconds (`BIGINT`).
mod postgres_types {
    use std::error::Error;

    use postgres::types::private::BytesMut;
    use postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};

    use super::super::{
        Connectivity, DeviceIdentifier, DeviceStatus, KeyKind, OrgId, Platform, RoundStatus,
        Timestamp,
    };

    type Failure = Box<dyn Error + Sync + Send>;

    macro_rules! stored_as_text {
        ($($ty:ty => |$text:ident| $parse:expr, |$value:ident| $show:expr;)*) => {$(
            impl ToSql for $ty {
                fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, Failure> {
                    let $value = self;
                    let text: &str = $show;
                    text.to_sql(ty, out)
                }

                fn accepts(ty: &Type) -> bool {
                    <&str as ToSql>::accepts(ty)
                }

                to_sql_checked!();
            }

            impl<'a> FromSql<'a> for $ty {
                fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, Failure> {
                    let $text = <&str as FromSql>::from_sql(ty, raw)?;
                    $parse.map_err(|why: String| why.into())
                }

                fn accepts(ty: &Type) -> bool {
                    <&str as FromSql>::accepts(ty)
                }
            }
        )*};
    }

    stored_as_text! {
        Platform => |text| Platform::try_from(text.to_owned()), |p| p.as_str();
        OrgId => |text| OrgId::try_from(text.to_owned()), |o| o.as_str();
        DeviceStatus => |text| DeviceStatus::try_from(text.to_owned()), |s| s.as_str();
        RoundStatus => |text| RoundStatus::try_from(text.to_owned()), |s| s.as_str();
        Connectivity => |text| Connectivity::try_from(text.to_owned()), |c| c.as_str();
        KeyKind => |text| KeyKind::from_db(text)
            .ok_or_else(|| format!("unknown key kind {}", super::super::quoted(text))),
            |k| k.as_str();
        DeviceIdentifier => |text| Ok::<_, String>(DeviceIdentifier::stored(text.to_owned())),
            |i| i.as_str();
    }

    impl ToSql for Timestamp {
        fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, Failure> {
            self.0.to_sql(ty, out)
        }

        fn accepts(ty: &Type) -> bool {
            <i64 as ToSql>::accepts(ty)
        }

        to_sql_checked!();
    }

    impl<'a> FromSql<'a> for Timestamp {
        fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, Failure> {
            i64::from_sql(ty, raw).map(Timestamp)
        }

        fn accepts(ty: &Type) -> bool {
            <i64 as FromSql>::accepts(ty)
        }
    }
}
