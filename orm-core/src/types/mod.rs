//! How Rust field types are stored in database columns, and the values
//! orm binds and reads ([`Value`], [`ValueRef`], [`ToSqlOutput`]).
//!
//! [`ColumnType`] is implemented for every type a model field may have. It
//! gives the declared SQL type used in `CREATE TABLE` and converts values in
//! both directions without allocating (text and blobs are borrowed when
//! written). Conversions are strict: a TEXT value in an `i64` field, or NULL in
//! a non-`Option` field, is an error rather than a silent coercion.
//!
//! | Rust | SQLite: declared type | SQLite: stored as | PostgreSQL: declared type |
//! |---|---|---|---|
//! | `i8`, `i16`, `i32`, `i64`, `u8`, `u16` | `INTEGER` | integer (range-checked on read) | `INTEGER` (32 bits, as SQLAlchemy's `Integer`: an `i64` past its range is refused when bound); a generated key is `SERIAL` |
//! | `u32` | `INTEGER` | integer | `BIGINT` |
//! | `f32`, `f64` | `FLOAT` | real (NaN is refused: SQLite would store NULL; `-0.0` reads back as `0.0`, equal as a number, because SQLite stores a REAL without fraction as an integer) | `FLOAT` (double precision) |
//! | `bool` | `BOOLEAN` | 0 or 1 | `BOOLEAN` |
//! | `String` | `TEXT`, or `VARCHAR(n)` with `#[orm(max_length = n)]` | text | the same (a NUL character is refused by the server) |
//! | `Vec<u8>` | `BLOB` | blob | `BYTEA` |
//! | `Option<T>` | as `T`, nullable | NULL for `None` | as `T`, nullable |
//! | `chrono::NaiveDate` / `NaiveDateTime` / `DateTime<Utc>` (feature `chrono`) | `DATE` / `DATETIME` | ISO-8601 text, as SQLAlchemy writes it | `DATE` / `TIMESTAMP WITHOUT TIME ZONE` / `TIMESTAMP WITH TIME ZONE` |
//! | `time::Date` / `PrimitiveDateTime` / `OffsetDateTime` (feature `time`) | `DATE` / `DATETIME` | ISO-8601 text | `DATE` / `TIMESTAMP WITHOUT TIME ZONE` / `TIMESTAMP WITH TIME ZONE` |
//! | `uuid::Uuid` (feature `uuid`) | `CHAR(32)` | 32 hex digits, as SQLAlchemy's `Uuid` | `UUID` |
//! | `serde_json::Value` (feature `json`) | `JSON` | JSON text | `JSONB` |
//! | your enum with `#[derive(SqlEnum)]` | `VARCHAR(n)` or `INTEGER` | variant name or discriminant | the same |
//!
//! On PostgreSQL the server's own types hold the values (a timestamp is a
//! timestamp, a UUID a UUID), as SQLAlchemy declares them there; each is
//! read back into the same Rust value. A `TIMESTAMP WITH TIME ZONE` is read
//! in UTC (orm's connections set `TimeZone` to UTC).
//!
//! Each optional crate is re-exported here under its feature
//! (`orm::types::chrono`, `time`, `uuid`, `serde_json`), so a model can name
//! the very version orm stores without adding its own dependency.

use std::borrow::Cow;
use std::fmt;

mod value;

pub use value::{ToSqlOutput, Value, ValueRef};

/// The `chrono` crate whose types orm stores (feature `chrono`): naming
/// `orm::types::chrono::NaiveDate` keeps a model on the very version orm
/// implements [`ColumnType`] for. It is built with its `clock` feature, so
/// `Utc::now()` is there for timestamps.
///
/// ```
/// use orm::types::ColumnType;
/// use orm::types::chrono::{NaiveDate, Utc};
///
/// assert_eq!(<NaiveDate as ColumnType>::SQL_TYPE, "DATE");
/// let now = Utc::now();
/// # let _ = now;
/// ```
#[cfg(feature = "chrono")]
pub mod chrono {
    #[doc(no_inline)]
    pub use ::chrono::*;
}
/// The `serde_json` crate whose `Value` orm stores (feature `json`).
///
/// ```
/// use orm::types::ColumnType;
///
/// assert_eq!(<orm::types::serde_json::Value as ColumnType>::SQL_TYPE, "JSON");
/// ```
#[cfg(feature = "json")]
pub mod serde_json {
    #[doc(no_inline)]
    pub use ::serde_json::*;
}
/// The `time` crate whose types orm stores (feature `time`), with its
/// clock (`OffsetDateTime::now_utc()`).
///
/// ```
/// use orm::types::ColumnType;
///
/// assert_eq!(<orm::types::time::PrimitiveDateTime as ColumnType>::SQL_TYPE, "DATETIME");
/// let now = orm::types::time::OffsetDateTime::now_utc();
/// # let _ = now;
/// ```
#[cfg(feature = "time")]
pub mod time {
    #[doc(no_inline)]
    pub use ::time::*;
}
/// The `uuid` crate whose `Uuid` orm stores (feature `uuid`).
///
/// ```
/// use orm::types::ColumnType;
///
/// assert_eq!(<orm::types::uuid::Uuid as ColumnType>::SQL_TYPE, "CHAR(32)");
/// ```
#[cfg(feature = "uuid")]
pub mod uuid {
    #[doc(no_inline)]
    pub use ::uuid::*;
}

/// Why a value could not be converted to or from its column. The message
/// describes the mismatch without including the value (it may be secret).
///
/// # Examples
///
/// ```
/// use orm::ColumnType;
/// use orm::types::ValueRef;
///
/// let err = i64::from_sql(ValueRef::Text(b"12abc")).unwrap_err();
/// assert_eq!(err.to_string(), "expected INTEGER, found TEXT");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversionError {
    message: Cow<'static, str>,
}

impl ConversionError {
    /// A conversion error with the given message.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = orm::types::ConversionError::new("not a colour");
    /// assert_eq!(err.to_string(), "not a colour");
    /// ```
    pub fn new(message: impl Into<Cow<'static, str>>) -> Self {
        ConversionError {
            message: message.into(),
        }
    }

    // Out of line: it formats, and every column reader of every model would
    // otherwise carry that code in its hot path.
    #[cold]
    #[inline(never)]
    fn unexpected(expected: &'static str, found: ValueRef<'_>) -> Self {
        ConversionError::new(format!("expected {expected}, found {}", found.kind()))
    }
}

impl fmt::Display for ConversionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConversionError {}

/// A Rust type that can be stored in one column.
///
/// Implemented for the types in the [module table](self). Implement it for
/// your own types to store them; for enums, `#[derive(SqlEnum)]` does it.
///
/// # Examples
///
/// ```
/// use orm::ColumnType;
/// use orm::types::{ConversionError, ToSqlOutput, ValueRef};
///
/// /// A temperature stored as an integer number of millikelvin.
/// #[derive(Debug, Clone, Copy, PartialEq, Default)]
/// struct MilliKelvin(i64);
///
/// impl ColumnType for MilliKelvin {
///     const SQL_TYPE: &'static str = "INTEGER";
///     fn to_sql(&self) -> Result<ToSqlOutput<'_>, ConversionError> {
///         Ok(ToSqlOutput::from(self.0))
///     }
///     fn from_sql(value: ValueRef<'_>) -> Result<Self, ConversionError> {
///         i64::from_sql(value).map(MilliKelvin)
///     }
/// }
///
/// assert_eq!(MilliKelvin::from_sql(ValueRef::Integer(273_150)), Ok(MilliKelvin(273_150)));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be stored in a column",
    label = "this field type has no column mapping",
    note = "supported: integers up to i64/u32, f32, f64, bool, String, Vec<u8>, Option<T> of those, and the chrono/time/uuid/json types behind cargo features",
    note = "for an enum, add #[derive(orm::SqlEnum)]; for another type, implement orm::ColumnType; for a field that is not a column, mark it #[orm(skip)]"
)]
pub trait ColumnType: Sized {
    /// The type declared in `CREATE TABLE`, for example `INTEGER`.
    const SQL_TYPE: &'static str;
    /// Whether the column accepts NULL (true only for `Option<T>`).
    const NULLABLE: bool = false;
    /// The type PostgreSQL declares the column with, when it is not simply
    /// PostgreSQL's name for [`SQL_TYPE`](Self::SQL_TYPE) (`TIMESTAMP WITH
    /// TIME ZONE` for a UTC datetime, `UUID`, `JSONB`). Empty by default.
    const POSTGRES_TYPE: &'static str = "";

    /// Convert the value for binding into a statement.
    ///
    /// # Errors
    ///
    /// When the value cannot be stored faithfully (for example `f64::NAN`).
    fn to_sql(&self) -> Result<ToSqlOutput<'_>, ConversionError>;

    /// Convert a value read from the database.
    ///
    /// # Errors
    ///
    /// When the stored value has another type or is out of range.
    fn from_sql(value: ValueRef<'_>) -> Result<Self, ConversionError>;
}

/// Marker for column types that accept `#[orm(max_length = n)]`.
///
/// # Examples
///
/// ```
/// fn text<T: orm::types::TextColumn>() {}
/// text::<String>();
/// text::<Option<String>>();
/// ```
#[diagnostic::on_unimplemented(
    message = "`max_length` applies to text columns, but `{Self}` is not text",
    label = "not a text type",
    note = "remove `max_length`, or make the field a `String`"
)]
pub trait TextColumn {}
impl TextColumn for String {}
impl<T: TextColumn> TextColumn for Option<T> {}

/// Marker for column types that accept `#[orm(version)]`: the integer
/// types.
///
/// # Examples
///
/// ```
/// fn counter<T: orm::types::VersionColumn>() {}
/// counter::<i64>();
/// counter::<i32>();
/// ```
#[diagnostic::on_unimplemented(
    message = "a version counter must be an integer, but `{Self}` is not",
    label = "not an integer type",
    note = "make the field an `i64` (or another integer type), or remove `version`"
)]
pub trait VersionColumn {}

macro_rules! integer_column {
    ($($t:ty => $pg:literal),*) => {$(
        impl VersionColumn for $t {}

        impl ColumnType for $t {
            const SQL_TYPE: &'static str = "INTEGER";
            const POSTGRES_TYPE: &'static str = $pg;
            #[inline]
            fn to_sql(&self) -> Result<ToSqlOutput<'_>, ConversionError> {
                Ok(ToSqlOutput::Owned(Value::Integer(i64::from(*self))))
            }
            #[inline]
            fn from_sql(value: ValueRef<'_>) -> Result<Self, ConversionError> {
                match value {
                    ValueRef::Integer(i) => <$t>::try_from(i).map_err(|_| {
                        ConversionError::new(concat!("integer out of range for ", stringify!($t)))
                    }),
                    other => Err(ConversionError::unexpected("INTEGER", other)),
                }
            }
        }
    )*};
}
// On PostgreSQL, INTEGER is 32 bits (SQLAlchemy's Integer, and the SERIAL of
// a generated key): an i64 that does not fit is refused when it is bound.
// u32 needs BIGINT to hold its range.
integer_column!(i8 => "", i16 => "", i32 => "", i64 => "", u8 => "", u16 => "", u32 => "BIGINT");

impl ColumnType for f64 {
    const SQL_TYPE: &'static str = "FLOAT";
    #[inline]
    fn to_sql(&self) -> Result<ToSqlOutput<'_>, ConversionError> {
        if self.is_nan() {
            // SQLite binds NaN as NULL, which would silently lose the value.
            return Err(ConversionError::new(
                "NaN cannot be stored (SQLite would store NULL)",
            ));
        }
        Ok(ToSqlOutput::Owned(Value::Real(*self)))
    }
    #[inline]
    fn from_sql(value: ValueRef<'_>) -> Result<Self, ConversionError> {
        match value {
            ValueRef::Real(r) => Ok(r),
            ValueRef::Integer(i) => Ok(i as f64),
            other => Err(ConversionError::unexpected("REAL", other)),
        }
    }
}

impl ColumnType for f32 {
    const SQL_TYPE: &'static str = "FLOAT";
    #[inline]
    fn to_sql(&self) -> Result<ToSqlOutput<'_>, ConversionError> {
        if self.is_nan() {
            return Err(ConversionError::new(
                "NaN cannot be stored (SQLite would store NULL)",
            ));
        }
        Ok(ToSqlOutput::Owned(Value::Real(f64::from(*self))))
    }
    #[inline]
    fn from_sql(value: ValueRef<'_>) -> Result<Self, ConversionError> {
        f64::from_sql(value).map(|v| v as f32)
    }
}

impl ColumnType for bool {
    const SQL_TYPE: &'static str = "BOOLEAN";
    #[inline]
    fn to_sql(&self) -> Result<ToSqlOutput<'_>, ConversionError> {
        Ok(ToSqlOutput::Owned(Value::Integer(i64::from(*self))))
    }
    #[inline]
    fn from_sql(value: ValueRef<'_>) -> Result<Self, ConversionError> {
        match value {
            ValueRef::Integer(0) => Ok(false),
            ValueRef::Integer(1) => Ok(true),
            ValueRef::Integer(_) => Err(ConversionError::new("expected 0 or 1 for a BOOLEAN")),
            other => Err(ConversionError::unexpected("BOOLEAN", other)),
        }
    }
}

impl ColumnType for String {
    const SQL_TYPE: &'static str = "TEXT";
    #[inline]
    fn to_sql(&self) -> Result<ToSqlOutput<'_>, ConversionError> {
        Ok(ToSqlOutput::Borrowed(ValueRef::Text(self.as_bytes())))
    }
    #[inline]
    fn from_sql(value: ValueRef<'_>) -> Result<Self, ConversionError> {
        match value {
            ValueRef::Text(bytes) => std::str::from_utf8(bytes)
                .map(str::to_owned)
                .map_err(|_| ConversionError::new("TEXT is not valid UTF-8")),
            other => Err(ConversionError::unexpected("TEXT", other)),
        }
    }
}

impl ColumnType for Vec<u8> {
    const SQL_TYPE: &'static str = "BLOB";
    #[inline]
    fn to_sql(&self) -> Result<ToSqlOutput<'_>, ConversionError> {
        Ok(ToSqlOutput::Borrowed(ValueRef::Blob(self)))
    }
    #[inline]
    fn from_sql(value: ValueRef<'_>) -> Result<Self, ConversionError> {
        match value {
            ValueRef::Blob(bytes) => Ok(bytes.to_vec()),
            other => Err(ConversionError::unexpected("BLOB", other)),
        }
    }
}

impl<T: ColumnType> ColumnType for Option<T> {
    const SQL_TYPE: &'static str = T::SQL_TYPE;
    const NULLABLE: bool = true;
    const POSTGRES_TYPE: &'static str = T::POSTGRES_TYPE;
    #[inline]
    fn to_sql(&self) -> Result<ToSqlOutput<'_>, ConversionError> {
        match self {
            Some(v) => v.to_sql(),
            None => Ok(ToSqlOutput::Owned(Value::Null)),
        }
    }
    #[inline]
    fn from_sql(value: ValueRef<'_>) -> Result<Self, ConversionError> {
        match value {
            ValueRef::Null => Ok(None),
            other => T::from_sql(other).map(Some),
        }
    }
}

/// A Rust value usable as a parameter of raw SQL ([`params!`](crate::params)
/// and [`Query::filter_by`](crate::Query::filter_by)).
///
/// # Examples
///
/// ```
/// use orm::types::{ToValue, Value};
/// assert_eq!("ann".to_value(), Value::Text("ann".into()));
/// assert_eq!(3i32.to_value(), Value::Integer(3));
/// assert_eq!(None::<i64>.to_value(), Value::Null);
/// ```
pub trait ToValue {
    /// The value to bind.
    fn to_value(&self) -> Value;
}

impl<T: ColumnType> ToValue for T {
    fn to_value(&self) -> Value {
        // A value that cannot be stored (NaN) is kept as NaN, which every
        // statement refuses with a conversion error before binding.
        self.to_sql()
            .map(to_owned_value)
            .unwrap_or(Value::Real(f64::NAN))
    }
}

impl ToValue for str {
    fn to_value(&self) -> Value {
        Value::Text(self.to_owned())
    }
}

impl ToValue for Value {
    fn to_value(&self) -> Value {
        self.clone()
    }
}

impl ToValue for &str {
    fn to_value(&self) -> Value {
        Value::Text((*self).to_owned())
    }
}

impl ToValue for &String {
    fn to_value(&self) -> Value {
        Value::Text((*self).clone())
    }
}

/// Refuse parameters SQLite would store wrongly (NaN binds as NULL).
pub(crate) fn check_params(params: &[Value]) -> crate::error::Result<()> {
    match params
        .iter()
        .position(|p| matches!(p, Value::Real(r) if r.is_nan()))
    {
        None => Ok(()),
        Some(i) => Err(crate::error::Error::Conversion {
            table: "(parameters)".into(),
            column: format!("parameter {}", i + 1),
            message: "NaN cannot be stored (SQLite would store NULL)".into(),
        }),
    }
}

/// Turn a borrowed SQL value into an owned [`Value`].
pub(crate) fn to_owned_value(v: ToSqlOutput<'_>) -> Value {
    v.into_owned()
}

/// The text of a stored date or datetime.
#[cfg(any(feature = "chrono", feature = "time"))]
fn date_text(value: ValueRef<'_>) -> Result<&str, ConversionError> {
    match value {
        ValueRef::Text(b) => {
            std::str::from_utf8(b).map_err(|_| ConversionError::new("TEXT is not valid UTF-8"))
        }
        other => Err(ConversionError::unexpected("TEXT", other)),
    }
}

// The optional types' impls sit at the top level of this module, each with
// its own `cfg`: inside a `cfg`-gated private module, their feature badge
// would be missing from the `orm` facade's pages (see the note in lib.rs).

#[cfg(feature = "chrono")]
impl ColumnType for chrono::NaiveDate {
    const SQL_TYPE: &'static str = "DATE";
    fn to_sql(&self) -> Result<ToSqlOutput<'_>, ConversionError> {
        Ok(ToSqlOutput::Owned(Value::Text(
            self.format("%Y-%m-%d").to_string(),
        )))
    }
    fn from_sql(value: ValueRef<'_>) -> Result<Self, ConversionError> {
        Self::parse_from_str(date_text(value)?, "%Y-%m-%d")
            .map_err(|_| ConversionError::new("expected a date as YYYY-MM-DD"))
    }
}

#[cfg(feature = "chrono")]
impl ColumnType for chrono::NaiveDateTime {
    const SQL_TYPE: &'static str = "DATETIME";
    fn to_sql(&self) -> Result<ToSqlOutput<'_>, ConversionError> {
        // SQLAlchemy's SQLite DATETIME storage format.
        Ok(ToSqlOutput::Owned(Value::Text(
            self.format("%Y-%m-%d %H:%M:%S%.6f").to_string(),
        )))
    }
    fn from_sql(value: ValueRef<'_>) -> Result<Self, ConversionError> {
        let s = date_text(value)?;
        Self::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
            .or_else(|_| Self::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f"))
            .map_err(|_| ConversionError::new("expected a datetime as YYYY-MM-DD HH:MM:SS"))
    }
}

#[cfg(feature = "chrono")]
impl ColumnType for chrono::DateTime<chrono::Utc> {
    const SQL_TYPE: &'static str = "DATETIME";
    const POSTGRES_TYPE: &'static str = "TIMESTAMP WITH TIME ZONE";
    fn to_sql(&self) -> Result<ToSqlOutput<'_>, ConversionError> {
        Ok(ToSqlOutput::Owned(Value::Text(
            self.naive_utc().format("%Y-%m-%d %H:%M:%S%.6f").to_string(),
        )))
    }
    fn from_sql(value: ValueRef<'_>) -> Result<Self, ConversionError> {
        chrono::NaiveDateTime::from_sql(value).map(|n| n.and_utc())
    }
}

/// A column type with a value for "now": what a soft-delete column
/// (`#[orm(soft_delete)]`, an `Option` of one of these) records when a row
/// is deleted. Text is UTC as SQLite's `CURRENT_TIMESTAMP` writes it
/// (`2026-01-31 12:00:00`); an integer is Unix seconds.
///
/// # Examples
///
/// ```
/// use orm::types::Now;
/// assert_eq!(<String as Now>::now().len(), "2026-01-31 12:00:00".len());
/// assert!(<i64 as Now>::now() > 1_700_000_000);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no value for \"now\", so it cannot record when a row was soft-deleted",
    label = "the soft_delete field's type",
    note = "use Option<DateTime<Utc>> or Option<NaiveDateTime> (feature chrono), Option<OffsetDateTime> or Option<PrimitiveDateTime> (feature time), Option<String> or Option<i64>"
)]
pub trait Now: ColumnType {
    /// The current time.
    fn now() -> Self;
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl Now for i64 {
    fn now() -> i64 {
        unix_now()
    }
}

impl Now for String {
    fn now() -> String {
        // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
        let secs = unix_now();
        let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        format!(
            "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        )
    }
}

#[cfg(feature = "chrono")]
impl Now for chrono::NaiveDateTime {
    fn now() -> Self {
        chrono::Utc::now().naive_utc()
    }
}

#[cfg(feature = "chrono")]
impl Now for chrono::DateTime<chrono::Utc> {
    fn now() -> Self {
        chrono::Utc::now()
    }
}

#[cfg(feature = "time")]
impl Now for time::OffsetDateTime {
    fn now() -> Self {
        time::OffsetDateTime::now_utc()
    }
}

#[cfg(feature = "time")]
impl Now for time::PrimitiveDateTime {
    fn now() -> Self {
        let t = time::OffsetDateTime::now_utc();
        time::PrimitiveDateTime::new(t.date(), t.time())
    }
}

/// The formats of the `time` impls below.
#[cfg(feature = "time")]
mod time_formats {
    use super::ConversionError;
    use time::format_description::FormatItem;
    use time::macros::format_description;

    pub(super) const DATE: &[FormatItem<'static>] = format_description!("[year]-[month]-[day]");
    pub(super) const DATETIME: &[FormatItem<'static>] =
        format_description!("[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:6]");
    pub(super) const DATETIME_PARSE: &[FormatItem<'static>] = format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second][optional [.[subsecond]]]"
    );

    pub(super) fn fmt_err(_: impl std::fmt::Display) -> ConversionError {
        ConversionError::new("cannot format the date")
    }
}

#[cfg(feature = "time")]
impl ColumnType for time::Date {
    const SQL_TYPE: &'static str = "DATE";
    fn to_sql(&self) -> Result<ToSqlOutput<'_>, ConversionError> {
        Ok(ToSqlOutput::Owned(Value::Text(
            self.format(time_formats::DATE)
                .map_err(time_formats::fmt_err)?,
        )))
    }
    fn from_sql(value: ValueRef<'_>) -> Result<Self, ConversionError> {
        Self::parse(date_text(value)?, time_formats::DATE)
            .map_err(|_| ConversionError::new("expected a date as YYYY-MM-DD"))
    }
}

#[cfg(feature = "time")]
impl ColumnType for time::PrimitiveDateTime {
    const SQL_TYPE: &'static str = "DATETIME";
    fn to_sql(&self) -> Result<ToSqlOutput<'_>, ConversionError> {
        Ok(ToSqlOutput::Owned(Value::Text(
            self.format(time_formats::DATETIME)
                .map_err(time_formats::fmt_err)?,
        )))
    }
    fn from_sql(value: ValueRef<'_>) -> Result<Self, ConversionError> {
        Self::parse(date_text(value)?, time_formats::DATETIME_PARSE)
            .map_err(|_| ConversionError::new("expected a datetime as YYYY-MM-DD HH:MM:SS"))
    }
}

#[cfg(feature = "time")]
impl ColumnType for time::OffsetDateTime {
    const SQL_TYPE: &'static str = "DATETIME";
    const POSTGRES_TYPE: &'static str = "TIMESTAMP WITH TIME ZONE";
    fn to_sql(&self) -> Result<ToSqlOutput<'_>, ConversionError> {
        let utc = self.to_offset(time::UtcOffset::UTC);
        time::PrimitiveDateTime::new(utc.date(), utc.time())
            .to_sql()
            .map(|v| ToSqlOutput::Owned(to_owned_value(v)))
    }
    fn from_sql(value: ValueRef<'_>) -> Result<Self, ConversionError> {
        time::PrimitiveDateTime::from_sql(value).map(time::PrimitiveDateTime::assume_utc)
    }
}

#[cfg(feature = "uuid")]
impl ColumnType for uuid::Uuid {
    const SQL_TYPE: &'static str = "CHAR(32)";
    const POSTGRES_TYPE: &'static str = "UUID";
    fn to_sql(&self) -> Result<ToSqlOutput<'_>, ConversionError> {
        Ok(ToSqlOutput::Owned(Value::Text(self.simple().to_string())))
    }
    fn from_sql(value: ValueRef<'_>) -> Result<Self, ConversionError> {
        match value {
            ValueRef::Text(b) => std::str::from_utf8(b)
                .ok()
                .and_then(|s| uuid::Uuid::parse_str(s).ok())
                .ok_or_else(|| ConversionError::new("expected a UUID as 32 hex digits")),
            ValueRef::Blob(b) => uuid::Uuid::from_slice(b)
                .map_err(|_| ConversionError::new("expected a 16-byte UUID blob")),
            other => Err(ConversionError::unexpected("TEXT", other)),
        }
    }
}

#[cfg(feature = "json")]
impl ColumnType for serde_json::Value {
    const SQL_TYPE: &'static str = "JSON";
    const POSTGRES_TYPE: &'static str = "JSONB";
    fn to_sql(&self) -> Result<ToSqlOutput<'_>, ConversionError> {
        serde_json::to_string(self)
            .map(|s| ToSqlOutput::Owned(Value::Text(s)))
            .map_err(|e| ConversionError::new(format!("cannot encode JSON: {e}")))
    }
    fn from_sql(value: ValueRef<'_>) -> Result<Self, ConversionError> {
        match value {
            ValueRef::Text(b) => serde_json::from_slice(b)
                .map_err(|_| ConversionError::new("TEXT is not valid JSON")),
            other => Err(ConversionError::unexpected("JSON text", other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_range_checked() {
        assert_eq!(u8::from_sql(ValueRef::Integer(255)), Ok(255));
        assert!(u8::from_sql(ValueRef::Integer(256)).is_err());
        assert!(u32::from_sql(ValueRef::Integer(-1)).is_err());
        assert!(i64::from_sql(ValueRef::Real(1.5)).is_err());
    }

    #[test]
    fn nan_is_refused_and_infinities_pass() {
        assert!(f64::NAN.to_sql().is_err());
        assert!(f64::INFINITY.to_sql().is_ok());
        assert!(f32::NAN.to_sql().is_err());
    }

    #[test]
    fn null_only_fits_option() {
        assert!(String::from_sql(ValueRef::Null).is_err());
        assert_eq!(Option::<String>::from_sql(ValueRef::Null), Ok(None));
        assert_eq!(Option::<i64>::from_sql(ValueRef::Integer(3)), Ok(Some(3)));
    }

    #[test]
    fn invalid_utf8_is_an_error() {
        let err = String::from_sql(ValueRef::Text(&[0xff, 0xfe])).unwrap_err();
        assert_eq!(err.to_string(), "TEXT is not valid UTF-8");
    }

    #[test]
    fn booleans_accept_only_zero_and_one() {
        assert_eq!(bool::from_sql(ValueRef::Integer(1)), Ok(true));
        assert!(bool::from_sql(ValueRef::Integer(2)).is_err());
    }
}
