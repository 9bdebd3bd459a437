//! [`Row`]: one result row, whichever backend read it.

use crate::error::{Error, Result};
use crate::types::{Value, ValueRef};

/// One result row. `#[derive(Model)]` decodes models from it, and
/// [`FromRow`](crate::query::FromRow) decodes tuples.
///
/// The built-in backends read rows in place: SQLite's columns straight
/// from the statement, PostgreSQL's borrowed from the driver's buffer
/// (converted only where orm stores another form, such as a timestamp as
/// text). A backend of your own hands over its rows as [`Value`]s (see
/// [`Row::from_values`]).
///
/// # Examples
///
/// ```
/// use orm::backend::Row;
/// use orm::types::{Value, ValueRef};
///
/// let values = [Value::Integer(1), Value::Text("ann".into())];
/// let columns = ["id".to_string(), "name".to_string()];
/// let row = Row::from_values(&values, &columns);
/// assert_eq!(row.get(1)?, ValueRef::Text(b"ann"));
/// assert_eq!(row.column_name(0), Some("id"));
/// assert!(row.get(2).is_err());
/// # Ok::<(), orm::Error>(())
/// ```
#[derive(Clone, Copy)]
pub struct Row<'a> {
    inner: Inner<'a>,
}

#[derive(Clone, Copy)]
enum Inner<'a> {
    Sqlite(&'a super::sqlite::RawRow<'a>),
    Values {
        values: &'a [Value],
        columns: &'a [String],
    },
    Read {
        values: &'a [RowValue<'a>],
        columns: &'a [String],
    },
}

/// One column as a backend read it: borrowed from the driver's buffer
/// (integers, floats, text and bytes as they came), or converted into an
/// owned value (a type whose wire form is not what orm stores, such as a
/// PostgreSQL `TIMESTAMP` read as ISO-8601 text). A row of them is a
/// [`Row::from_read`].
///
/// # Examples
///
/// ```
/// use orm::backend::RowValue;
/// use orm::types::{Value, ValueRef};
///
/// let wire = b"ann".to_vec();
/// let columns = [RowValue::Borrowed(ValueRef::Text(&wire)), RowValue::Owned(Value::Integer(7))];
/// assert!(matches!(columns[0], RowValue::Borrowed(ValueRef::Text(b"ann"))));
/// ```
#[derive(Debug, Clone)]
pub enum RowValue<'a> {
    /// The driver's bytes, or a number read from them.
    Borrowed(ValueRef<'a>),
    /// A value converted from the wire form.
    Owned(Value),
}

impl std::fmt::Debug for Row<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Row").field("columns", &self.len()).finish()
    }
}

impl<'a> Row<'a> {
    /// A row of values in column order, with the columns' names: how a
    /// backend other than SQLite hands a row to orm.
    ///
    /// # Examples
    ///
    /// ```
    /// let values = [orm::types::Value::Null];
    /// let row = orm::backend::Row::from_values(&values, &[]);
    /// assert_eq!(row.len(), 1);
    /// assert_eq!(row.column_name(0), None);
    /// ```
    pub fn from_values(values: &'a [Value], columns: &'a [String]) -> Row<'a> {
        Row {
            inner: Inner::Values { values, columns },
        }
    }

    /// A row of columns as a backend read them, most borrowed from the
    /// driver's buffer: the text of a text column is then copied once, into
    /// the model's field, rather than into a [`Value`] first (what the
    /// PostgreSQL backend hands over).
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::backend::{Row, RowValue};
    /// use orm::types::{Value, ValueRef};
    ///
    /// let wire = b"ann".to_vec();
    /// let values = [RowValue::Borrowed(ValueRef::Text(&wire)), RowValue::Owned(Value::Integer(7))];
    /// let columns = ["name".to_string(), "n".to_string()];
    /// let row = Row::from_read(&values, &columns);
    /// assert_eq!(row.get(0)?, ValueRef::Text(b"ann"));
    /// assert_eq!(row.get(1)?, ValueRef::Integer(7));
    /// # Ok::<(), orm::Error>(())
    /// ```
    pub fn from_read(values: &'a [RowValue<'a>], columns: &'a [String]) -> Row<'a> {
        Row {
            inner: Inner::Read { values, columns },
        }
    }

    #[inline]
    pub(crate) fn sqlite(row: &'a super::sqlite::RawRow<'a>) -> Row<'a> {
        Row {
            inner: Inner::Sqlite(row),
        }
    }

    /// The value of column `index` (from 0).
    ///
    /// # Errors
    ///
    /// When the row has no such column.
    ///
    /// # Examples
    ///
    /// ```
    /// let values = [orm::types::Value::Integer(7)];
    /// let row = orm::backend::Row::from_values(&values, &[]);
    /// assert_eq!(row.get(0)?, orm::types::ValueRef::Integer(7));
    /// # Ok::<(), orm::Error>(())
    /// ```
    #[inline(always)]
    pub fn get(&self, index: usize) -> Result<ValueRef<'a>> {
        // Inlined into every model's row decoding: the SQLite arm is a
        // driver call, the other kept out of line.
        match self.inner {
            Inner::Sqlite(row) => super::sqlite::row_value(row, index),
            Inner::Values { values, .. } => value_at(values, index),
            Inner::Read { values, .. } => read_at(values, index),
        }
    }

    /// Column `index` read by `from_sql`: the driver's value goes straight
    /// into the reader. (Returning it through [`Row::get`]'s `Result` first
    /// costs a store-forwarding stall per column where the calls are not
    /// inlined across crates: BENCHMARKS.md, "The same comparison in time".)
    #[inline(always)]
    pub(crate) fn decode<T, E>(
        &self,
        index: usize,
        from_sql: fn(ValueRef<'_>) -> std::result::Result<T, E>,
    ) -> Result<std::result::Result<T, E>> {
        match self.inner {
            Inner::Sqlite(row) => super::sqlite::row_decode(row, index, from_sql),
            Inner::Values { values, .. } => value_at(values, index).map(from_sql),
            Inner::Read { values, .. } => read_at(values, index).map(from_sql),
        }
    }

    /// Hand this row's columns to `reader` as the most specific
    /// [`Columns`] there is: SQLite's statement itself, so that code
    /// generic over `Columns` gets a copy specialised for SQLite's rows and
    /// asks which backend read the row once, or else this row.
    #[inline(always)]
    pub(crate) fn read_with<R: ColumnsReader>(&self, reader: R) -> R::Output {
        match self.inner {
            Inner::Sqlite(row) => reader.read(row),
            _ => reader.read(self),
        }
    }

    /// The name of column `index`, when the backend knows it.
    ///
    /// # Examples
    ///
    /// ```
    /// let values = [orm::types::Value::Null];
    /// let columns = ["n".to_string()];
    /// assert_eq!(orm::backend::Row::from_values(&values, &columns).column_name(0), Some("n"));
    /// ```
    pub fn column_name(&self, index: usize) -> Option<&'a str> {
        match self.inner {
            Inner::Sqlite(row) => super::sqlite::row_column_name(row, index),
            Inner::Values { columns, .. } | Inner::Read { columns, .. } => {
                columns.get(index).map(String::as_str)
            }
        }
    }

    /// The number of columns.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(orm::backend::Row::from_values(&[], &[]).len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        match self.inner {
            Inner::Sqlite(row) => super::sqlite::row_len(row),
            Inner::Values { values, .. } => values.len(),
            Inner::Read { values, .. } => values.len(),
        }
    }

    /// Whether the row has no column.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(orm::backend::Row::from_values(&[], &[]).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Where generated code reads a model's columns from: a [`Row`], or the
/// SQLite statement itself (`Row::read_with`), so that a model decoded
/// from SQLite asks which backend read the row once per row rather than
/// once per column.
#[doc(hidden)]
pub trait Columns {
    /// Column `index` handed to `from_sql` (see `Row::decode`).
    ///
    /// # Errors
    ///
    /// When the row has no such column.
    fn decode_column<T, E>(
        &self,
        index: usize,
        from_sql: fn(ValueRef<'_>) -> std::result::Result<T, E>,
    ) -> Result<std::result::Result<T, E>>;
}

/// Code to run on a row's columns, whichever [`Columns`] they are (see
/// `Row::read_with`).
pub(crate) trait ColumnsReader {
    type Output;
    fn read<C: Columns + ?Sized>(self, columns: &C) -> Self::Output;
}

impl Columns for Row<'_> {
    #[inline(always)]
    fn decode_column<T, E>(
        &self,
        index: usize,
        from_sql: fn(ValueRef<'_>) -> std::result::Result<T, E>,
    ) -> Result<std::result::Result<T, E>> {
        self.decode(index, from_sql)
    }
}

#[inline(never)]
fn value_at(values: &[Value], index: usize) -> Result<ValueRef<'_>> {
    values
        .get(index)
        .map(ValueRef::from)
        .ok_or_else(|| no_column(index, values.len()))
}

#[inline(never)]
fn read_at<'a>(values: &'a [RowValue<'a>], index: usize) -> Result<ValueRef<'a>> {
    match values.get(index) {
        Some(RowValue::Borrowed(v)) => Ok(*v),
        Some(RowValue::Owned(v)) => Ok(ValueRef::from(v)),
        None => Err(no_column(index, values.len())),
    }
}

#[cold]
fn no_column(index: usize, len: usize) -> Error {
    Error::Usage(format!(
        "the row has {len} columns; there is no column {index}"
    ))
}
