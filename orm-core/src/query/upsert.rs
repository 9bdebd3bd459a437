//! [`Upsert`]: the builder of [`Session::upsert`] (insert, or update the
//! row a unique key collides with), and [`Columns`], the column lists it
//! takes.

use super::column::Column;
use crate::error::Result;
use crate::model::Model;
use crate::session::{Session, Upserted};

/// One column or a tuple of up to 4 columns of model `M`: what
/// [`Upsert::on_conflict`] and [`Upsert::update`] take.
///
/// # Examples
///
/// ```
/// use orm::prelude::*;
/// use orm::query::Columns;
/// #[derive(Model, Debug, Default)]
/// struct Person { #[orm(primary_key)] id: i64, first: String, last: String }
///
/// assert_eq!(Columns::<Person>::indices(&Person::last), [2]);
/// assert_eq!(Columns::<Person>::indices(&(Person::first, Person::last)), [1, 2]);
/// ```
pub trait Columns<M> {
    /// The columns' positions in `M`'s table.
    fn indices(&self) -> Vec<usize>;
}

impl<M, T> Columns<M> for Column<M, T> {
    fn indices(&self) -> Vec<usize> {
        vec![self.index()]
    }
}

macro_rules! column_tuple {
    ($($t:ident $i:tt),+) => {
        impl<M, $($t),+> Columns<M> for ($(Column<M, $t>,)+) {
            fn indices(&self) -> Vec<usize> {
                vec![$(self.$i.index()),+]
            }
        }
    };
}
column_tuple!(A 0);
column_tuple!(A 0, B 1);
column_tuple!(A 0, B 1, C 2);
column_tuple!(A 0, B 1, C 2, D 3);

/// An upsert under construction, made by [`Session::upsert`]: `INSERT
/// ... ON CONFLICT (<unique columns>) DO UPDATE SET <columns> =
/// excluded.<columns> RETURNING <every column>` (SQLite 3.35 and later,
/// PostgreSQL).
///
/// [`run`](Self::run) runs it at once in the session's write transaction
/// (commit to keep it), after an autoflush, and returns each row's object
/// with whether it was inserted or updated. PostgreSQL says which in the
/// same statement (`RETURNING ..., ("xmax" = 0)`); on SQLite a SELECT of
/// the unique values that exist runs first, in the same write transaction
/// (SQLite's write lock keeps other writers out between the two).
///
/// Effects on the session: an object the session holds for an updated
/// row takes the row's values (unflushed changes to it are dropped), so
/// the identity map never holds two objects for one row; other rows
/// become new persistent objects, in the identity map. A rollback discards
/// the inserted objects and expires the updated ones. On any error no row
/// and no object changes.
///
/// # Examples
///
/// ```
/// use orm::prelude::*;
/// #[derive(Model, Debug, Default)]
/// struct Page { #[orm(primary_key)] id: i64, #[orm(unique)] slug: String, title: String, views: i64 }
///
/// # fn main() -> orm::Result<()> {
/// let db = Database::builder().model::<Page>().open("sqlite://")?;
/// db.create_all()?;
/// let s = db.session();
/// let page = |title: &str, views| Page { slug: "home".into(), title: title.into(), views, ..Default::default() };
/// s.upsert([page("Home", 1)]).on_conflict(Page::slug).run()?;
/// // Only the title follows the new row; views stay.
/// let done = s.upsert([page("Welcome", 0)]).on_conflict(Page::slug).update(Page::title).run()?;
/// let home = &done[0].obj;
/// assert_eq!((home.get(Page::title)?, home.get(Page::views)?), ("Welcome".to_string(), 1));
/// # Ok(()) }
/// ```
#[must_use = "an upsert does nothing until .run()"]
pub struct Upsert<'s, M: Model> {
    session: &'s Session,
    values: Vec<M>,
    target: Option<Vec<usize>>,
    set: Option<Vec<usize>>,
}

impl<M: Model> std::fmt::Debug for Upsert<'_, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upsert")
            .field("model", &M::table().model)
            .field("rows", &self.values.len())
            .field("target", &self.target)
            .field("set", &self.set)
            .finish()
    }
}

impl<'s, M: Model> Upsert<'s, M> {
    pub(crate) fn new(session: &'s Session, values: Vec<M>) -> Self {
        Upsert {
            session,
            values,
            target: None,
            set: None,
        }
    }

    /// The unique columns a row collides on (SQLAlchemy's
    /// `index_elements`): the primary key (the default), a unique column,
    /// or the columns of a unique index, as a tuple.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// #[orm(unique(first, last))]
    /// struct Person { #[orm(primary_key)] id: i64, first: String, last: String, age: i64 }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<Person>().open("sqlite://")?;
    /// db.create_all()?;
    /// let s = db.session();
    /// let p = |age| Person { first: "Ann".into(), last: "Lee".into(), age, ..Default::default() };
    /// s.upsert([p(30)]).on_conflict((Person::first, Person::last)).run()?;
    /// let done = s.upsert([p(31)]).on_conflict((Person::first, Person::last)).run()?;
    /// assert!(!done[0].inserted);
    /// // Not unique: refused before any SQL.
    /// assert!(s.upsert([p(32)]).on_conflict(Person::age).run().is_err());
    /// # Ok(()) }
    /// ```
    pub fn on_conflict(mut self, columns: impl Columns<M>) -> Self {
        self.target = Some(columns.indices());
        self
    }

    /// The columns an existing row takes from the new one (SQLAlchemy's
    /// `set_`); by default every column but the key and the conflict
    /// columns. The others keep their stored values, which the returned
    /// object then holds.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct Counter { #[orm(primary_key)] id: i64, name: String, hits: i64 }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<Counter>().open("sqlite://")?;
    /// db.create_all()?;
    /// let s = db.session();
    /// s.upsert([Counter { id: 1, name: "a".into(), hits: 5 }]).run()?;
    /// let done = s.upsert([Counter { id: 1, name: "b".into(), hits: 0 }]).update(Counter::name).run()?;
    /// assert_eq!(done[0].obj.get(Counter::hits)?, 5);
    /// assert_eq!(done[0].obj.get(Counter::name)?, "b");
    /// # Ok(()) }
    /// ```
    pub fn update(mut self, columns: impl Columns<M>) -> Self {
        self.set = Some(columns.indices());
        self
    }

    /// Run it: each row's object, in the order given, with whether it was
    /// inserted.
    ///
    /// # Errors
    ///
    /// [`Error::Usage`](crate::Error::Usage) (before any SQL) when the
    /// conflict columns are not the key or a unique constraint, when two
    /// rows have the same unique values, or when an upsert on an
    /// auto-increment key has a row without its key; other constraint
    /// violations, database and conversion errors. On any error no row and
    /// no object changes.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct Tag { #[orm(primary_key)] id: i64, #[orm(unique)] name: String }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<Tag>().open("sqlite://")?;
    /// db.create_all()?;
    /// let s = db.session();
    /// let tag = |n: &str| Tag { name: n.into(), ..Default::default() };
    /// let done = s.upsert([tag("a"), tag("a")]).on_conflict(Tag::name).run();
    /// assert!(matches!(done, Err(orm::Error::Usage(_))));
    /// # Ok(()) }
    /// ```
    pub fn run(self) -> Result<Vec<Upserted<M>>> {
        let t = M::table();
        let target = self.target.unwrap_or_else(|| t.primary_key.to_vec());
        let set = self.set.unwrap_or_else(|| {
            (0..t.columns.len())
                .filter(|c| !t.primary_key.contains(c) && !target.contains(c))
                .collect()
        });
        let set = set
            .into_iter()
            .filter(|c| !t.primary_key.contains(c))
            .collect();
        crate::session::run_upsert(self.session, self.values, target, set)
    }
}
