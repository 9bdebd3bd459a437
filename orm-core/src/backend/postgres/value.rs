//! orm's values on the wire to and from PostgreSQL.
//!
//! Parameters: the server types every parameter from its statement, so a
//! value is written in the form that type wants: integers, floats, booleans,
//! text and bytes in binary; text bound to a `TIMESTAMP`, `DATE`, `UUID`,
//! `NUMERIC` and the like in text form, which the server parses (so the
//! same text SQLite stores works for both). An integer that does not fit a
//! 16- or 32-bit column is refused, not truncated.
//!
//! Results: every column comes back in binary and is turned into the value
//! SQLite would hold for it: booleans as 0 and 1, dates and timestamps as
//! ISO-8601 text (SQLAlchemy's SQLite format), a `UUID` as 32 hex digits,
//! `NUMERIC` as its decimal text, `JSONB` as JSON text.

use std::error::Error as StdError;
use std::fmt::Write as _;

use postgres::types::{Format, FromSql, IsNull, ToSql, Type, to_sql_checked};

use crate::backend::RowValue;
use crate::types::{Value, ValueRef};

type BoxError = Box<dyn StdError + Sync + Send>;

/// A parameter, written for the type the server gave it.
#[derive(Debug)]
pub(super) struct Param<'a>(pub &'a Value);

/// Whether `ty` is read from text by the server (a value is then sent in
/// text form) rather than taken in one of the binary forms written here.
fn via_text(value: &Value, ty: &Type) -> bool {
    let binary = match value {
        Value::Null => true,
        Value::Integer(_) => matches!(
            *ty,
            Type::INT2
                | Type::INT4
                | Type::INT8
                | Type::OID
                | Type::BOOL
                | Type::FLOAT4
                | Type::FLOAT8
        ),
        Value::Real(_) => matches!(*ty, Type::FLOAT4 | Type::FLOAT8),
        Value::Text(_) => matches!(
            *ty,
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::JSON | Type::JSONB
        ),
        Value::Blob(b) => *ty == Type::BYTEA || (*ty == Type::UUID && b.len() == 16),
    };
    !binary
}

impl ToSql for Param<'_> {
    fn to_sql(&self, ty: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, BoxError> {
        use bytes::BufMut;
        if via_text(self.0, ty) {
            return match self.0 {
                Value::Integer(i) => {
                    out.put_slice(i.to_string().as_bytes());
                    Ok(IsNull::No)
                }
                Value::Real(r) if r.is_finite() => {
                    out.put_slice(format!("{r:?}").as_bytes());
                    Ok(IsNull::No)
                }
                Value::Text(s) => {
                    out.put_slice(s.as_bytes());
                    Ok(IsNull::No)
                }
                _ => Err(format!("a value of this kind cannot be stored in a {ty} column").into()),
            };
        }
        match (self.0, ty) {
            (Value::Null, _) => return Ok(IsNull::Yes),
            (Value::Integer(i), &Type::INT2) => out.put_i16(narrow(*i, ty)?),
            (Value::Integer(i), &Type::INT4) => out.put_i32(narrow(*i, ty)?),
            (Value::Integer(i), &Type::OID) => out.put_u32(narrow(*i, ty)?),
            (Value::Integer(i), &Type::INT8) => out.put_i64(*i),
            (Value::Integer(i), &Type::BOOL) => match i {
                0 | 1 => out.put_u8(*i as u8),
                _ => return Err("a BOOLEAN takes 0 or 1".into()),
            },
            (Value::Integer(i), &Type::FLOAT4) => out.put_f32(*i as f32),
            (Value::Integer(i), &Type::FLOAT8) => out.put_f64(*i as f64),
            (Value::Real(r), &Type::FLOAT4) => out.put_f32(*r as f32),
            (Value::Real(r), &Type::FLOAT8) => out.put_f64(*r),
            (Value::Text(s), &Type::JSONB) => {
                out.put_u8(1);
                out.put_slice(s.as_bytes());
            }
            (Value::Text(s), _) => out.put_slice(s.as_bytes()),
            (Value::Blob(b), _) => out.put_slice(b),
            _ => {
                return Err(
                    format!("a value of this kind cannot be stored in a {ty} column").into(),
                );
            }
        }
        Ok(IsNull::No)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    fn encode_format(&self, ty: &Type) -> Format {
        if via_text(self.0, ty) {
            Format::Text
        } else {
            Format::Binary
        }
    }

    to_sql_checked!();
}

fn narrow<T: TryFrom<i64>>(i: i64, ty: &Type) -> Result<T, BoxError> {
    T::try_from(i).map_err(|_| format!("the value is out of range for a {ty} column").into())
}

/// A column as it came over the wire: its bytes, or NULL.
pub(super) struct Cell<'a>(Option<&'a [u8]>);

impl<'a> FromSql<'a> for Cell<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(Cell(Some(raw)))
    }

    fn from_sql_null(_: &Type) -> Result<Self, BoxError> {
        Ok(Cell(None))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// The value SQLite would hold for a column of type `ty`: borrowed from
/// the wire bytes where they are that value already (integers, floats,
/// text, bytes, JSON), converted where they are not (dates, timestamps,
/// UUIDs, NUMERIC).
pub(super) fn read<'r>(ty: &Type, cell: Cell<'r>) -> Result<RowValue<'r>, String> {
    let Some(raw) = cell.0 else {
        return Ok(RowValue::Borrowed(ValueRef::Null));
    };
    let fixed = |n: usize| -> Result<&[u8], String> {
        raw.get(..n)
            .filter(|_| raw.len() == n)
            .ok_or_else(|| format!("a {ty} value of {} bytes", raw.len()))
    };
    let owned = |v: String| RowValue::Owned(Value::Text(v));
    Ok(RowValue::Borrowed(match *ty {
        Type::BOOL => ValueRef::Integer(i64::from(fixed(1)?[0] != 0)),
        Type::INT2 => ValueRef::Integer(i64::from(i16::from_be_bytes(arr(fixed(2)?)))),
        Type::INT4 => ValueRef::Integer(i64::from(i32::from_be_bytes(arr(fixed(4)?)))),
        Type::OID => ValueRef::Integer(i64::from(u32::from_be_bytes(arr(fixed(4)?)))),
        Type::INT8 => ValueRef::Integer(i64::from_be_bytes(arr(fixed(8)?))),
        Type::FLOAT4 => ValueRef::Real(f64::from(f32::from_be_bytes(arr(fixed(4)?)))),
        Type::FLOAT8 => ValueRef::Real(f64::from_be_bytes(arr(fixed(8)?))),
        Type::BYTEA => ValueRef::Blob(raw),
        Type::JSONB => match raw.split_first() {
            Some((1, json)) => ValueRef::Text(json),
            _ => return Err("a JSONB value of an unknown version".into()),
        },
        Type::UUID => {
            let mut hex = String::with_capacity(32);
            for b in fixed(16)? {
                let _ = write!(hex, "{b:02x}");
            }
            return Ok(owned(hex));
        }
        Type::DATE => return Ok(owned(date(i32::from_be_bytes(arr(fixed(4)?)))?)),
        Type::TIMESTAMP | Type::TIMESTAMPTZ => {
            return Ok(owned(timestamp(i64::from_be_bytes(arr(fixed(8)?)))?));
        }
        Type::TIME => return Ok(owned(time_of_day(i64::from_be_bytes(arr(fixed(8)?))))),
        Type::NUMERIC => return Ok(owned(numeric(raw)?)),
        _ if ty.kind() == &postgres::types::Kind::Simple && is_textual(ty) => {
            // Not checked for UTF-8 here: the driver connects with
            // `client_encoding` UTF8, and whoever reads the bytes as text
            // (a model's `String`, `ValueRef::to_owned`) checks them once.
            ValueRef::Text(raw)
        }
        _ => return Err(format!("PostgreSQL type {ty} is not supported")),
    }))
}

/// Types whose binary form is their UTF-8 text.
fn is_textual(ty: &Type) -> bool {
    matches!(
        *ty,
        Type::TEXT
            | Type::VARCHAR
            | Type::BPCHAR
            | Type::NAME
            | Type::JSON
            | Type::XML
            | Type::UNKNOWN
    ) || ty.name() == "citext"
}

fn arr<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut a = [0; N];
    a.copy_from_slice(b);
    a
}

/// Days since PostgreSQL's epoch, 2000-01-01, as `YYYY-MM-DD`.
fn date(days: i32) -> Result<String, String> {
    if days == i32::MAX || days == i32::MIN {
        return Err("an infinite DATE cannot be read".into());
    }
    let (y, m, d) = civil(i64::from(days) + 10_957);
    Ok(format!("{y:04}-{m:02}-{d:02}"))
}

/// Microseconds since 2000-01-01 00:00:00 as `YYYY-MM-DD HH:MM:SS.ffffff`,
/// the text SQLAlchemy stores on SQLite (UTC for `TIMESTAMPTZ`: orm's
/// connections use the UTC time zone).
fn timestamp(micros: i64) -> Result<String, String> {
    if micros == i64::MAX || micros == i64::MIN {
        return Err("an infinite TIMESTAMP cannot be read".into());
    }
    let days = micros.div_euclid(86_400_000_000);
    let (y, m, d) = civil(days + 10_957);
    Ok(format!(
        "{y:04}-{m:02}-{d:02} {}",
        time_of_day(micros.rem_euclid(86_400_000_000))
    ))
}

fn time_of_day(micros: i64) -> String {
    let secs = micros / 1_000_000;
    format!(
        "{:02}:{:02}:{:02}.{:06}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        micros % 1_000_000
    )
}

/// The civil date of a day count since 1970-01-01 (Howard Hinnant's
/// algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `NUMERIC`'s binary form (base-10000 digits, a weight, a sign, a scale)
/// as decimal text.
fn numeric(raw: &[u8]) -> Result<String, String> {
    let word = |i: usize| -> Result<i16, String> {
        raw.get(i * 2..i * 2 + 2)
            .map(|b| i16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| "a truncated NUMERIC".to_string())
    };
    let ndigits = word(0)? as usize;
    let weight = i64::from(word(1)?);
    let sign = word(2)? as u16;
    let dscale = word(3)? as usize;
    match sign {
        0xC000 => return Ok("NaN".into()),
        0xD000 => return Ok("Infinity".into()),
        0xF000 => return Ok("-Infinity".into()),
        _ => {}
    }
    let digits = (0..ndigits)
        .map(|i| word(4 + i))
        .collect::<Result<Vec<i16>, String>>()?;
    let group = |e: i64| -> i16 {
        let g = weight - e;
        if g >= 0 {
            digits.get(g as usize).copied().unwrap_or(0)
        } else {
            0
        }
    };
    let mut out = String::new();
    if sign == 0x4000 {
        out.push('-');
    }
    if weight < 0 {
        out.push('0');
    } else {
        for e in (0..=weight).rev() {
            if e == weight {
                let _ = write!(out, "{}", group(e));
            } else {
                let _ = write!(out, "{:04}", group(e));
            }
        }
    }
    if dscale > 0 {
        let mut frac = String::new();
        let mut e = -1;
        while frac.len() < dscale {
            let _ = write!(frac, "{:04}", group(e));
            e -= 1;
        }
        frac.truncate(dscale);
        out.push('.');
        out.push_str(&frac);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_timestamps_read_as_sqlalchemy_text() {
        assert_eq!(date(0).unwrap(), "2000-01-01");
        assert_eq!(date(-1).unwrap(), "1999-12-31");
        assert_eq!(date(9_190).unwrap(), "2025-02-28");
        assert_eq!(
            timestamp(86_400_000_000 + 3_723_000_042).unwrap(),
            "2000-01-02 01:02:03.000042"
        );
        assert_eq!(timestamp(-1).unwrap(), "1999-12-31 23:59:59.999999");
        assert!(timestamp(i64::MAX).is_err());
    }

    fn encode(weight: i16, sign: u16, dscale: u16, digits: &[i16]) -> Vec<u8> {
        let mut v = Vec::new();
        for w in [digits.len() as i16, weight, sign as i16, dscale as i16] {
            v.extend_from_slice(&w.to_be_bytes());
        }
        for d in digits {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v
    }

    #[test]
    fn numerics_read_as_decimal_text() {
        assert_eq!(numeric(&encode(0, 0, 2, &[12, 3400])).unwrap(), "12.34");
        assert_eq!(numeric(&encode(1, 0x4000, 0, &[1, 2])).unwrap(), "-10002");
        assert_eq!(numeric(&encode(-1, 0, 4, &[5])).unwrap(), "0.0005");
        assert_eq!(numeric(&encode(-2, 0, 8, &[7])).unwrap(), "0.00000007");
        assert_eq!(numeric(&encode(0, 0, 0, &[])).unwrap(), "0");
        assert_eq!(numeric(&encode(0, 0xC000, 0, &[])).unwrap(), "NaN");
    }
}
