//! The contract between `#[derive(Model)]` and the rest of the crate.
//!
//! A model is a plain struct; the derive implements [`Model`] for it: where
//! its metadata lives, how to read a row into it, how to read one column out
//! of it, and how to tell which columns changed since a snapshot. The
//! session, queries and flush only ever go through this trait.

use std::fmt;
use std::hash::Hash;

use crate::backend::{Columns, ColumnsReader, Row};
use crate::error::{Error, Result};
use crate::schema::TableDef;
use crate::types::{ColumnType, ConversionError, ToSqlOutput, Value, ValueRef};

/// A struct mapped to one table. Implemented by `#[derive(Model)]`.
///
/// # Examples
///
/// ```
/// use orm::prelude::*;
///
/// #[derive(Model, Debug, Default)]
/// struct User {
///     #[orm(primary_key)]
///     id: i64,
///     #[orm(max_length = 50, unique)]
///     username: String,
///     #[orm(max_length = 120, unique)]
///     email: String,
/// }
///
/// let user = User { id: 7, ..Default::default() };
/// assert_eq!(user.key(), 7);
/// assert_eq!(User::table().name, "user");
/// ```
pub trait Model: Sized + 'static {
    /// The primary key: the field's type, or a tuple for a composite key.
    type Key: PrimaryKey;

    /// The table metadata.
    fn table() -> &'static TableDef;

    /// The primary key of this object. For a new object with an INTEGER
    /// key, 0 until a flush assigns the real one.
    fn key(&self) -> Self::Key;

    /// Decode a model from `row`, its columns from `offset` on; the key
    /// columns are taken from `key` when it is given (already decoded).
    #[doc(hidden)]
    fn __decode<C: Columns + ?Sized>(
        row: &C,
        offset: usize,
        key: Option<Self::Key>,
    ) -> Result<Self>;

    #[doc(hidden)]
    #[inline]
    fn __from_row(row: &Row<'_>, offset: usize) -> Result<Self> {
        row.read_with(Decode::<Self> { offset, key: None })
    }

    /// [`__from_row`](Model::__from_row) for a row whose key was decoded
    /// (with `__key_from_row`): its columns are not read again.
    #[doc(hidden)]
    #[inline]
    fn __from_row_with_key(row: &Row<'_>, offset: usize, key: Self::Key) -> Result<Self> {
        row.read_with(Decode::<Self> {
            offset,
            key: Some(key),
        })
    }

    #[doc(hidden)]
    fn __key_from_row(row: &Row<'_>, offset: usize) -> Result<Self::Key>;

    #[doc(hidden)]
    fn __column_value(&self, column: usize) -> Result<ToSqlOutput<'_>>;

    #[doc(hidden)]
    fn __set_column(&mut self, column: usize, value: ValueRef<'_>) -> Result<()>;

    #[doc(hidden)]
    fn __changed_columns(&self, old: &Self) -> crate::schema::ColumnSet;

    #[doc(hidden)]
    fn __snapshot(&self) -> Self;

    /// Where an object of this model keeps its snapshot and relationship
    /// slots: inline for a model with a foreign key, behind a pointer made
    /// on first use otherwise (see `session::extra`).
    #[doc(hidden)]
    type __Store: crate::session::ExtraStore<Self>;

    /// `#[orm(hooks)]`: the [`Hooks`](crate::Hooks) methods the flush calls.
    #[doc(hidden)]
    const __HOOKS: Option<crate::session::HookFns<Self>> = None;

    /// Some field has `#[orm(validate = path)]`.
    #[doc(hidden)]
    const __VALIDATES: bool = false;

    /// Run the field validators: all of them (`None`), or those of the
    /// changed columns.
    #[doc(hidden)]
    #[inline]
    fn __validate(&self, _changed: Option<crate::schema::ColumnSet>) -> Result<()> {
        Ok(())
    }
}

/// A primary key value: one column's type, or a tuple of them.
///
/// # Examples
///
/// ```
/// use orm::PrimaryKey;
///
/// assert_eq!(5i64.to_values(), vec![orm::types::Value::Integer(5)]);
/// assert_eq!((1i64, "a".to_string()).to_values().len(), 2);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a primary key",
    label = "a key must be comparable and hashable",
    note = "use an integer type or String (floats and Option are not keys)"
)]
pub trait PrimaryKey: Clone + Eq + Hash + fmt::Debug + 'static {
    /// The key as SQL values, in key column order.
    fn to_values(&self) -> Vec<Value>;

    #[doc(hidden)]
    /// The key from SQL values in key column order; `None` when they do
    /// not convert (a lookup by them then finds nothing).
    fn __from_values(values: &[Value]) -> Option<Self>;

    #[doc(hidden)]
    /// Key column `i` (in key order), ready to bind.
    fn __column(&self, i: usize) -> std::result::Result<ToSqlOutput<'_>, ConversionError>;
}

/// Bind `key` from parameter `first` on. A key value that does not convert
/// is a conversion error naming `table`'s key columns.
pub(crate) fn bind_key<K: PrimaryKey>(
    table: &TableDef,
    key: &K,
    stmt: &mut crate::backend::Stmt<'_>,
    first: usize,
) -> Result<()> {
    for i in 0..table.primary_key.len() {
        let value = key.__column(i).map_err(|e| Error::Conversion {
            table: table.name.to_owned(),
            column: table
                .primary_key_columns()
                .map(|c| c.name)
                .collect::<Vec<_>>()
                .join(", "),
            message: e.to_string(),
        })?;
        stmt.bind(first + i, value.as_ref())?;
    }
    Ok(())
}

impl<T: ColumnType + Clone + Eq + Hash + fmt::Debug + 'static> PrimaryKey for T {
    fn to_values(&self) -> Vec<Value> {
        vec![
            self.to_sql()
                .map(crate::types::to_owned_value)
                .unwrap_or(Value::Null),
        ]
    }

    fn __from_values(values: &[Value]) -> Option<Self> {
        match values {
            [v] => T::from_sql(v.into()).ok(),
            _ => None,
        }
    }

    #[inline]
    fn __column(&self, _: usize) -> std::result::Result<ToSqlOutput<'_>, ConversionError> {
        self.to_sql()
    }
}

macro_rules! tuple_key {
    ($($name:ident $idx:tt),+) => {
        impl<$($name: ColumnType + Clone + Eq + Hash + fmt::Debug + 'static),+> PrimaryKey for ($($name,)+) {
            fn to_values(&self) -> Vec<Value> {
                vec![$(self.$idx.to_sql().map(crate::types::to_owned_value).unwrap_or(Value::Null)),+]
            }

            fn __from_values(values: &[Value]) -> Option<Self> {
                let n = [$($idx),+].len();
                if values.len() != n {
                    return None;
                }
                Some(($($name::from_sql((&values[$idx]).into()).ok()?,)+))
            }

            fn __column(&self, i: usize) -> std::result::Result<ToSqlOutput<'_>, ConversionError> {
                match i {
                    $($idx => self.$idx.to_sql(),)+
                    _ => Err(ConversionError::new("the key has fewer columns")),
                }
            }
        }
    };
}
tuple_key!(A 0, B 1);
tuple_key!(A 0, B 1, C 2);
tuple_key!(A 0, B 1, C 2, D 3);

/// A result row decoded into Rust values: any [`ColumnType`] (one column)
/// or a tuple of them. Used by [`Query::select`](crate::Query::select) and
/// [`Session::raw_tuples`](crate::Session::raw_tuples).
///
/// # Examples
///
/// ```
/// # fn main() -> orm::Result<()> {
/// let db = orm::Database::open("sqlite://")?;
/// let rows: Vec<(i64, String)> = db.session().raw_tuples("SELECT 1, 'one'", &[])?;
/// assert_eq!(rows, [(1, "one".to_string())]);
/// # Ok(()) }
/// ```
pub trait FromRow: Sized {
    /// Decode from `row`, columns `0..`.
    ///
    /// # Errors
    ///
    /// When a column does not fit its Rust type.
    fn from_row(row: &Row<'_>, table: &str) -> Result<Self>;
}

fn decode<T: ColumnType>(row: &Row<'_>, index: usize, table: &str) -> Result<T> {
    let value = row.get(index)?;
    T::from_sql(value).map_err(|e| Error::Conversion {
        table: table.to_owned(),
        column: row
            .column_name(index)
            .map_or_else(|| format!("result column {index}"), str::to_owned),
        message: e.to_string(),
    })
}

impl<T: ColumnType> FromRow for T {
    fn from_row(row: &Row<'_>, table: &str) -> Result<Self> {
        decode(row, 0, table)
    }
}

macro_rules! tuple_from_row {
    ($($t:ident $i:tt),+) => {
        impl<$($t: ColumnType),+> FromRow for ($($t,)+) {
            fn from_row(row: &Row<'_>, table: &str) -> Result<Self> {
                Ok(($(decode::<$t>(row, $i, table)?,)+))
            }
        }
    };
}
tuple_from_row!(A 0);
tuple_from_row!(A 0, B 1);
tuple_from_row!(A 0, B 1, C 2);
tuple_from_row!(A 0, B 1, C 2, D 3);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);

/// A model's decoding, run on a row's columns by `Row::read_with` (which
/// gives SQLite's rows their own copy of it).
struct Decode<M: Model> {
    offset: usize,
    key: Option<M::Key>,
}

impl<M: Model> ColumnsReader for Decode<M> {
    type Output = Result<M>;

    #[inline(always)]
    fn read<C: Columns + ?Sized>(self, columns: &C) -> Result<M> {
        M::__decode(columns, self.offset, self.key)
    }
}

/// Helpers called by generated code. Not part of the public API.
#[doc(hidden)]
pub mod private {
    use super::*;
    use crate::schema::TableDef;

    pub use crate::backend::{Columns, Row};

    /// Everything generated code needs to know about one field type. Every
    /// use of a field's type goes through [`column`], so an unsupported type
    /// is reported once, on the field.
    pub struct ColumnFns<T> {
        pub sql_type: &'static str,
        pub pg_type: &'static str,
        pub nullable: bool,
        pub from_sql: fn(ValueRef<'_>) -> std::result::Result<T, ConversionError>,
        pub to_sql: for<'a> fn(&'a T) -> std::result::Result<ToSqlOutput<'a>, ConversionError>,
    }

    impl<T> Clone for ColumnFns<T> {
        fn clone(&self) -> Self {
            *self
        }
    }

    impl<T> Copy for ColumnFns<T> {}

    impl<T> std::fmt::Debug for ColumnFns<T> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "ColumnFns({})", self.sql_type)
        }
    }

    /// The column functions of `T`.
    #[inline(always)]
    pub const fn column<T: ColumnType>() -> ColumnFns<T> {
        ColumnFns {
            sql_type: T::SQL_TYPE,
            pg_type: T::POSTGRES_TYPE,
            nullable: T::NULLABLE,
            from_sql: T::from_sql,
            to_sql: T::to_sql,
        }
    }

    /// `default = f` / `onupdate = f`: `f()` as a value of a `T` column
    /// (`f` may return `T`, or the `U` of an `Option<U>` field).
    pub fn computed<T: ColumnType, F: Into<T>>(
        f: fn() -> F,
    ) -> std::result::Result<crate::types::Value, ConversionError> {
        let value: T = f().into();
        value.to_sql().map(ToSqlOutput::into_owned)
    }

    /// What a soft delete writes into a column of type `Option<T>`: now.
    pub fn soft_delete_stamp<T: crate::types::Now>()
    -> std::result::Result<crate::types::Value, ConversionError> {
        T::now().to_sql().map(ToSqlOutput::into_owned)
    }

    /// The value of a field not given: its type's `Default`.
    pub fn unset<T: ColumnType + Default>()
    -> std::result::Result<crate::types::Value, ConversionError> {
        T::default().to_sql().map(ToSqlOutput::into_owned)
    }

    /// Read column `index` of `row` as field `column` of `table`.
    #[inline(always)]
    pub fn decode<T, C: Columns + ?Sized>(
        f: ColumnFns<T>,
        row: &C,
        index: usize,
        table: &'static TableDef,
        column: usize,
    ) -> Result<T> {
        match row.decode_column(index, f.from_sql)? {
            Ok(value) => Ok(value),
            Err(e) => Err(conversion(table, column, e)),
        }
    }

    /// Convert a value for field `column` of `table`.
    #[inline(always)]
    pub fn decode_value<T>(
        f: ColumnFns<T>,
        value: ValueRef<'_>,
        table: &'static TableDef,
        column: usize,
    ) -> Result<T> {
        (f.from_sql)(value).map_err(|e| conversion(table, column, e))
    }

    /// Encode field `column` of `table` for binding.
    #[inline(always)]
    pub fn encode<'a, T>(
        f: ColumnFns<T>,
        value: &'a T,
        table: &'static TableDef,
        column: usize,
    ) -> Result<ToSqlOutput<'a>> {
        (f.to_sql)(value).map_err(|e| conversion(table, column, e))
    }

    /// Whether two field values would be stored identically.
    #[inline(always)]
    pub fn same<T>(f: ColumnFns<T>, a: &T, b: &T) -> bool {
        matches!(((f.to_sql)(a), (f.to_sql)(b)), (Ok(x), Ok(y)) if x == y)
    }

    #[cold]
    fn conversion(table: &'static TableDef, column: usize, e: ConversionError) -> Error {
        Error::Conversion {
            table: table.name.to_owned(),
            column: table
                .columns
                .get(column)
                .map(|c| c.name)
                .unwrap_or("?")
                .to_owned(),
            message: e.to_string(),
        }
    }

    /// The error for a column index the model does not have.
    #[cold]
    pub fn no_such_column(table: &'static TableDef, column: usize) -> Error {
        Error::Usage(format!("{} has no column number {column}", table.model))
    }

    /// Whether a declared type makes a one-column key SQLite's rowid.
    pub const fn is_integer_type(sql_type: &str) -> bool {
        let a = sql_type.as_bytes();
        let b = b"INTEGER";
        if a.len() != b.len() {
            return false;
        }
        let mut i = 0;
        while i < a.len() {
            if a[i] != b[i] {
                return false;
            }
            i += 1;
        }
        true
    }

    /// Compile-time check that `max_length` is on a text field.
    pub const fn check_text<T: crate::types::TextColumn>() {}

    /// Compile-time check that `version` is on an integer field.
    pub const fn check_version<T: crate::types::VersionColumn>() {}

    /// `#[orm(validate = f)]` on field `column`: `f(value)`, its error as
    /// [`Error::Validation`] naming the model and field.
    #[inline]
    pub fn validate<T: ?Sized, E: std::fmt::Display>(
        table: &'static TableDef,
        column: usize,
        f: impl FnOnce(&T) -> std::result::Result<(), E>,
        value: &T,
    ) -> Result<()> {
        f(value).map_err(|e| Error::Validation {
            model: table.model,
            field: table.columns.get(column).map_or("?", |c| c.field),
            message: e.to_string(),
        })
    }

    /// `#[orm(hooks)]`: the model's [`Hooks`](crate::Hooks) methods.
    pub const fn hook_fns<M: crate::Hooks>() -> crate::session::HookFns<M> {
        crate::session::HookFns {
            before_insert: M::before_insert,
            after_insert: M::after_insert,
            before_update: M::before_update,
            after_update: M::after_update,
            before_delete: M::before_delete,
            after_delete: M::after_delete,
        }
    }
}
