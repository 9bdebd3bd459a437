//! Typed column handles: `User::username` is a `Column<User, String>`.

use std::fmt;
use std::marker::PhantomData;

use crate::model::Model;
use crate::schema::ColumnDef;

/// A column of model `M` holding values of type `T`. The derive creates one
/// per field as an associated constant (`User::username`); queries use them
/// to build conditions and orderings that are checked at compile time.
///
/// # Examples
///
/// ```
/// use orm::prelude::*;
///
/// #[derive(Model, Debug, Default)]
/// struct User { #[orm(primary_key)] id: i64, #[orm(column = "user_name")] name: String }
///
/// assert_eq!(User::name.name(), "user_name");
/// assert_eq!(User::name.index(), 1);
/// assert_eq!(User::name.def().sql_type, "TEXT");
/// ```
pub struct Column<M, T> {
    index: usize,
    name: &'static str,
    _marker: PhantomData<fn() -> (M, T)>,
}

impl<M, T> Column<M, T> {
    #[doc(hidden)]
    pub const fn __new(index: usize, name: &'static str) -> Self {
        Column {
            index,
            name,
            _marker: PhantomData,
        }
    }

    /// The SQL column name.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64 }
    /// assert_eq!(User::id.name(), "id");
    /// ```
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The position of the column in the model's table.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64, name: String }
    /// assert_eq!(User::name.index(), 1);
    /// ```
    pub const fn index(&self) -> usize {
        self.index
    }
}

impl<M: Model, T> Column<M, T> {
    /// The column's metadata.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64, nick: Option<String> }
    /// assert!(User::nick.def().nullable);
    /// ```
    pub fn def(&self) -> &'static ColumnDef {
        &M::table().columns[self.index]
    }
}

impl<M, T> Clone for Column<M, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<M, T> Copy for Column<M, T> {}

impl<M, T> fmt::Debug for Column<M, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Column({})", self.name)
    }
}

// The foreign key type check of generated code, beside the handle it
// starts from: `foreign_key_target(&Author::id).accepts::<FieldType>()`.

/// The type a foreign key must hold, taken from the referenced column.
#[derive(Debug)]
pub struct ForeignKeyTarget<T>(std::marker::PhantomData<fn() -> T>);

/// Step one of the foreign key type check: fix `T` from the column.
pub const fn foreign_key_target<M, T>(_: &Column<M, T>) -> ForeignKeyTarget<T> {
    ForeignKeyTarget(std::marker::PhantomData)
}

impl<T> ForeignKeyTarget<T> {
    /// Step two: the field type `F` must hold a `T`.
    pub const fn accepts<F: ForeignKeyOf<T>>(self) {}
}

/// A field type that can hold a reference to a column of type `T`.
#[diagnostic::on_unimplemented(
    message = "a foreign key field of type `{Self}` cannot reference a column of type `{T}`",
    label = "the field type must match the referenced column",
    note = "use `{T}`, or `Option<{T}>` for an optional reference"
)]
pub trait ForeignKeyOf<T> {}
impl<T> ForeignKeyOf<T> for T {}
impl<T> ForeignKeyOf<T> for Option<T> {}
