//! [`Value`], [`ValueRef`] and [`ToSqlOutput`]: the values every backend
//! binds and reads, owned by orm so that nothing above the backends names a
//! driver's types.
//!
//! They are SQLite's five storage classes. Every backend maps its own types
//! onto them (the PostgreSQL backend reads a `TIMESTAMP` as the text SQLite
//! would store, and binds text to a `TIMESTAMP` parameter by parsing it), so
//! one [`ColumnType`](super::ColumnType) implementation serves every
//! database.

/// An owned SQL value: a bound parameter, or a column of a row.
///
/// # Examples
///
/// ```
/// use orm::types::Value;
///
/// assert_eq!(Value::from(7i64), Value::Integer(7));
/// assert_eq!(Value::from("ann"), Value::Text("ann".into()));
/// assert_eq!(Value::from(None::<i64>), Value::Null);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// A 64-bit signed integer (booleans are 0 and 1).
    Integer(i64),
    /// A 64-bit float.
    Real(f64),
    /// UTF-8 text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
}

/// A borrowed SQL value, as read from a row without copying.
///
/// Text is bytes: a database written by another program may hold text that
/// is not UTF-8, and only the field type's conversion decides whether that
/// is an error.
///
/// # Examples
///
/// ```
/// use orm::types::{Value, ValueRef};
///
/// let v = Value::Text("ann".into());
/// assert_eq!(ValueRef::from(&v), ValueRef::Text(b"ann"));
/// assert_eq!(ValueRef::Text(b"ann").to_owned(), v);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueRef<'a> {
    /// SQL NULL.
    Null,
    /// A 64-bit signed integer.
    Integer(i64),
    /// A 64-bit float.
    Real(f64),
    /// Text, as bytes (UTF-8 unless another program wrote it).
    Text(&'a [u8]),
    /// Bytes.
    Blob(&'a [u8]),
}

/// What a [`ColumnType`](super::ColumnType) gives to be bound: borrowed from
/// the field where it can be (text and bytes are not copied), owned where
/// it had to be converted.
///
/// # Examples
///
/// ```
/// use orm::types::{ColumnType, ToSqlOutput, ValueRef};
///
/// let name = String::from("ann");
/// assert_eq!(name.to_sql().unwrap(), ToSqlOutput::Borrowed(ValueRef::Text(b"ann")));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum ToSqlOutput<'a> {
    /// Borrowed from the Rust value.
    Borrowed(ValueRef<'a>),
    /// Converted into a new value.
    Owned(Value),
}

impl ValueRef<'_> {
    /// An owned copy. Text that is not UTF-8 (which only a foreign writer
    /// can produce) is kept byte-exact as a blob.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::types::{Value, ValueRef};
    /// assert_eq!(ValueRef::Integer(3).to_owned(), Value::Integer(3));
    /// assert_eq!(ValueRef::Text(&[0xff]).to_owned(), Value::Blob(vec![0xff]));
    /// ```
    pub fn to_owned(self) -> Value {
        match self {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(i) => Value::Integer(i),
            ValueRef::Real(f) => Value::Real(f),
            ValueRef::Text(b) => match String::from_utf8(b.to_vec()) {
                Ok(s) => Value::Text(s),
                Err(e) => Value::Blob(e.into_bytes()),
            },
            ValueRef::Blob(b) => Value::Blob(b.to_vec()),
        }
    }

    /// The storage class's name, for conversion error messages.
    pub(crate) fn kind(self) -> &'static str {
        match self {
            ValueRef::Null => "NULL",
            ValueRef::Integer(_) => "INTEGER",
            ValueRef::Real(_) => "REAL",
            ValueRef::Text(_) => "TEXT",
            ValueRef::Blob(_) => "BLOB",
        }
    }
}

impl<'a> From<&'a Value> for ValueRef<'a> {
    #[inline]
    fn from(v: &'a Value) -> ValueRef<'a> {
        match v {
            Value::Null => ValueRef::Null,
            Value::Integer(i) => ValueRef::Integer(*i),
            Value::Real(r) => ValueRef::Real(*r),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
        }
    }
}

impl From<ValueRef<'_>> for Value {
    fn from(v: ValueRef<'_>) -> Value {
        v.to_owned()
    }
}

impl ToSqlOutput<'_> {
    /// The value, borrowed.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::types::{ToSqlOutput, Value, ValueRef};
    /// assert_eq!(ToSqlOutput::Owned(Value::Integer(1)).as_ref(), ValueRef::Integer(1));
    /// ```
    #[inline]
    pub fn as_ref(&self) -> ValueRef<'_> {
        match self {
            ToSqlOutput::Borrowed(r) => *r,
            ToSqlOutput::Owned(v) => v.into(),
        }
    }

    /// The value, owned (copying borrowed text and bytes).
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::types::{ToSqlOutput, Value, ValueRef};
    /// assert_eq!(ToSqlOutput::Borrowed(ValueRef::Null).into_owned(), Value::Null);
    /// ```
    pub fn into_owned(self) -> Value {
        match self {
            ToSqlOutput::Borrowed(r) => r.to_owned(),
            ToSqlOutput::Owned(v) => v,
        }
    }
}

impl<'a> From<ValueRef<'a>> for ToSqlOutput<'a> {
    fn from(v: ValueRef<'a>) -> Self {
        ToSqlOutput::Borrowed(v)
    }
}

macro_rules! owned_output {
    ($($t:ty),*) => {$(
        impl From<$t> for ToSqlOutput<'_> {
            #[inline]
            fn from(v: $t) -> Self {
                ToSqlOutput::Owned(v.into())
            }
        }
    )*};
}
owned_output!(
    Value,
    i8,
    i16,
    i32,
    i64,
    u8,
    u16,
    u32,
    bool,
    f32,
    f64,
    String,
    Vec<u8>
);

macro_rules! from_integer {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            #[inline]
            fn from(i: $t) -> Value {
                Value::Integer(i64::from(i))
            }
        }
    )*};
}
from_integer!(i8, i16, i32, i64, u8, u16, u32, bool);

impl From<f64> for Value {
    fn from(r: f64) -> Value {
        Value::Real(r)
    }
}

impl From<f32> for Value {
    fn from(r: f32) -> Value {
        Value::Real(f64::from(r))
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Text(s)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Text(s.to_owned())
    }
}

impl From<Vec<u8>> for Value {
    fn from(b: Vec<u8>) -> Value {
        Value::Blob(b)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}
