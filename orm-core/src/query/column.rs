//! Typed column handles: `User::username` is a `Column<User, String>`.

use std::fmt;

use crate::error::Result;
use crate::model::Model;
use crate::schema::ColumnDef;
use crate::session::Obj;

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
    field: fn(&M) -> &T,
    field_mut: fn(&mut M) -> &mut T,
}

impl<M, T> Column<M, T> {
    #[doc(hidden)]
    pub const fn __new(
        index: usize,
        name: &'static str,
        field: fn(&M) -> &T,
        field_mut: fn(&mut M) -> &mut T,
    ) -> Self {
        Column {
            index,
            name,
            field,
            field_mut,
        }
    }

    /// The field this column is stored from, in a model value.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64, name: String }
    ///
    /// let ann = User { id: 1, name: "Ann".into() };
    /// assert_eq!(User::name.of(&ann), "Ann");
    /// ```
    pub fn of<'m>(&self, model: &'m M) -> &'m T {
        (self.field)(model)
    }

    /// The field this column is stored from, to change it.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64, name: String }
    ///
    /// let mut ann = User::default();
    /// *User::name.of_mut(&mut ann) = "Ann".into();
    /// assert_eq!(ann.name, "Ann");
    /// ```
    pub fn of_mut<'m>(&self, model: &'m mut M) -> &'m mut T {
        (self.field_mut)(model)
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

// Field access through an object lives here, beside the handle, so the
// session (a lower layer) does not depend on query types.
impl<M: Model> Obj<M> {
    /// One field's value, cloned: `post.get(Post::title)?` reads like
    /// SQLAlchemy's `post.title`, with no guard left alive (an expired
    /// object is reloaded first, as by [`read`](Self::read)).
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read): [`Error::BorrowConflict`](crate::Error::BorrowConflict) while a
    /// [`write`](Self::write) guard is alive; reload errors for an expired
    /// object.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64, name: String }
    ///
    /// let u = Obj::new(User { name: "ann".into(), ..Default::default() });
    /// assert_eq!(u.get(User::name)?, "ann");
    /// # Ok::<(), orm::Error>(())
    /// ```
    pub fn get<T: Clone>(&self, column: Column<M, T>) -> Result<T> {
        Ok(column.of(&*self.read()?).clone())
    }

    /// Set one field, as one statement: `post.set(Post::title, title)?`
    /// (SQLAlchemy's `post.title = title`). The change is tracked as through
    /// [`write`](Self::write), and no guard is left alive. The field's old
    /// value is dropped after the object is released.
    ///
    /// # Errors
    ///
    /// As [`write`](Self::write): [`Error::BorrowConflict`](crate::Error::BorrowConflict) while another
    /// guard is alive; reload errors for an expired object.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64, name: String }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<User>().open("sqlite://")?;
    /// db.create_all()?;
    /// let s = db.session();
    /// let u = s.add(User { name: "ann".into(), ..Default::default() })?;
    /// s.commit()?;
    /// u.set(User::name, "anna".into())?;
    /// assert!(s.has_changes());
    /// s.commit()?;
    /// assert_eq!(db.session().get_or_not_found::<User>(1)?.get(User::name)?, "anna");
    /// # Ok(()) }
    /// ```
    pub fn set<T>(&self, column: Column<M, T>, value: T) -> Result<()> {
        let old = std::mem::replace(column.of_mut(&mut *self.write()?), value);
        drop(old);
        Ok(())
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
