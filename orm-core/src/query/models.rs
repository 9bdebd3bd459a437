//! Selecting several models at once: `(User, Option<Post>)` rows of a
//! query with joins (SQLAlchemy's `select(User, Post).outerjoin(...)`),
//! through the identity map or detached.

use std::marker::PhantomData;

use super::builder::Query;
use crate::backend::Row;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::schema::TableDef;
use crate::session::Obj;
use crate::session::state::{SessionInner, SessionState};

/// The session and its state while rows are adopted; for generated and
/// generic code only.
#[doc(hidden)]
pub struct Adopter<'a> {
    session: &'a SessionInner,
    state: &'a mut SessionState,
}

impl std::fmt::Debug for Adopter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Adopter")
    }
}

impl Adopter<'_> {
    fn adopt<M: Model>(&mut self, row: &Row<'_>, offset: usize) -> Result<Obj<M>> {
        let SessionState { maps, txn, .. } = &mut *self.state;
        self.session.adopt_row(maps.of::<M>(), txn, row, offset)
    }
}
use crate::sql::ast::{Expr, Select, Statement};
use crate::sql::writer;
use crate::types::{Value, ValueRef};

/// One model of a [`Models`] row: `M` (always present, as with an inner
/// join) or `Option<M>` (the right side of an outer join, `None` when the
/// row has no related row).
///
/// # Examples
///
/// ```
/// use orm::prelude::*;
/// use orm::query::ModelItem;
/// #[derive(Model, Debug, Default)]
/// struct User { #[orm(primary_key)] id: i64 }
///
/// assert_eq!(<User as ModelItem>::table().name, "user");
/// assert_eq!(<Option<User> as ModelItem>::table().name, "user");
/// ```
pub trait ModelItem {
    /// The tracked form: `Obj<M>` or `Option<Obj<M>>`.
    type Tracked;
    /// The detached form: `M` or `Option<M>`.
    type Detached;

    /// The model's table.
    fn table() -> &'static TableDef;

    #[doc(hidden)]
    fn __adopt(a: &mut Adopter<'_>, row: &Row<'_>, offset: usize) -> Result<Self::Tracked>;

    #[doc(hidden)]
    fn __decode(row: &Row<'_>, offset: usize) -> Result<Self::Detached>;
}

/// Whether the key columns of `t` at `offset` are all NULL: no row on this
/// side of an outer join.
fn absent(t: &TableDef, row: &Row<'_>, offset: usize) -> Result<bool> {
    for &i in t.primary_key {
        if row.get(offset + i)? != ValueRef::Null {
            return Ok(false);
        }
    }
    Ok(!t.primary_key.is_empty())
}

impl<M: Model> ModelItem for M {
    type Tracked = Obj<M>;
    type Detached = M;

    fn table() -> &'static TableDef {
        M::table()
    }

    fn __adopt(a: &mut Adopter<'_>, row: &Row<'_>, offset: usize) -> Result<Obj<M>> {
        if absent(M::table(), row, offset)? {
            return Err(Error::Usage(format!(
                "a row has no {} (its side of an outer join is empty): select Option<{}>",
                M::table().model,
                M::table().model
            )));
        }
        a.adopt(row, offset)
    }

    fn __decode(row: &Row<'_>, offset: usize) -> Result<M> {
        M::__from_row(row, offset)
    }
}

impl<M: Model> ModelItem for Option<M> {
    type Tracked = Option<Obj<M>>;
    type Detached = Option<M>;

    fn table() -> &'static TableDef {
        M::table()
    }

    fn __adopt(a: &mut Adopter<'_>, row: &Row<'_>, offset: usize) -> Result<Option<Obj<M>>> {
        if absent(M::table(), row, offset)? {
            return Ok(None);
        }
        a.adopt(row, offset).map(Some)
    }

    fn __decode(row: &Row<'_>, offset: usize) -> Result<Option<M>> {
        if absent(M::table(), row, offset)? {
            return Ok(None);
        }
        M::__from_row(row, offset).map(Some)
    }
}

/// What [`Query::models`] selects: a tuple of 2 to 4 [`ModelItem`]s, the
/// query's own model first.
///
/// # Examples
///
/// ```
/// use orm::prelude::*;
/// use orm::query::ModelTuple;
/// #[derive(Model, Debug, Default)]
/// #[orm(has_many(posts = Post))]
/// struct User { #[orm(primary_key)] id: i64 }
/// #[derive(Model, Debug, Default)]
/// struct Post { #[orm(primary_key)] id: i64, #[orm(foreign_key = User::id)] user_id: i64 }
///
/// let names: Vec<_> = <(User, Option<Post>)>::tables().iter().map(|t| t.name).collect();
/// assert_eq!(names, ["user", "post"]);
/// ```
pub trait ModelTuple {
    /// A tracked row, such as `(Obj<User>, Option<Obj<Post>>)`.
    type Tracked;
    /// A detached row, such as `(User, Option<Post>)`.
    type Detached;

    /// The models' tables, in order.
    fn tables() -> Vec<&'static TableDef>;

    #[doc(hidden)]
    fn __adopt(a: &mut Adopter<'_>, row: &Row<'_>) -> Result<Self::Tracked>;

    #[doc(hidden)]
    fn __decode(row: &Row<'_>) -> Result<Self::Detached>;
}

macro_rules! model_tuple {
    ($($t:ident),+) => {
        impl<$($t: ModelItem),+> ModelTuple for ($($t,)+) {
            type Tracked = ($($t::Tracked,)+);
            type Detached = ($($t::Detached,)+);

            fn tables() -> Vec<&'static TableDef> {
                vec![$($t::table()),+]
            }

            #[allow(unused_assignments)]
            fn __adopt(a: &mut Adopter<'_>, row: &Row<'_>) -> Result<Self::Tracked> {
                let mut offset = 0;
                Ok(($(
                    {
                        let item = $t::__adopt(a, row, offset)?;
                        offset += $t::table().columns.len();
                        item
                    },
                )+))
            }

            #[allow(unused_assignments)]
            fn __decode(row: &Row<'_>) -> Result<Self::Detached> {
                let mut offset = 0;
                Ok(($(
                    {
                        let item = $t::__decode(row, offset)?;
                        offset += $t::table().columns.len();
                        item
                    },
                )+))
            }
        }
    };
}
model_tuple!(A, B);
model_tuple!(A, B, C);
model_tuple!(A, B, C, D);

/// A query returning several models per row, made by [`Query::models`].
///
/// # Examples
///
/// ```
/// use orm::prelude::*;
///
/// #[derive(Model, Debug, Default, PartialEq)]
/// #[orm(has_many(posts = Post, backref = "author"))]
/// struct User { #[orm(primary_key)] id: i64, name: String }
///
/// #[derive(Model, Debug, Default, PartialEq)]
/// struct Post { #[orm(primary_key)] id: i64, #[orm(foreign_key = User::id)] user_id: i64, title: String }
///
/// # fn main() -> orm::Result<()> {
/// let db = Database::builder().model::<User>().open("sqlite://")?;
/// db.create_all()?;
/// let s = db.session();
/// let ann = s.add(User { name: "ann".into(), ..Default::default() })?;
/// s.add(User { name: "bob".into(), ..Default::default() })?;
/// ann.append(User::posts, &Obj::new(Post { title: "hi".into(), ..Default::default() }))?;
/// let rows = s
///     .query::<User>()
///     .outer_join(User::posts)
///     .order_by(User::id)
///     .models::<(User, Option<Post>)>()
///     .all()?;
/// assert!(rows[0].0 == ann && rows[0].1.is_some());
/// assert_eq!(rows[1].0.get(User::name)?, "bob");
/// assert!(rows[1].1.is_none());
/// # Ok(()) }
/// ```
#[must_use = "a query does nothing until a terminal such as .all() runs it"]
pub struct Models<'s, M: Model, T: ModelTuple> {
    query: Query<'s, M>,
    _tuple: PhantomData<fn() -> T>,
}

impl<M: Model, T: ModelTuple> std::fmt::Debug for Models<'_, M, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.to_sql() {
            Ok((sql, _)) => write!(f, "Models({sql})"),
            Err(e) => write!(f, "Models(<invalid: {e}>)"),
        }
    }
}

impl<'s, M: Model> Query<'s, M> {
    /// Select whole objects of several models per row instead of objects
    /// of `M` alone (SQLAlchemy's `select(User, Post)`): `M` first, then
    /// models this query [`join`](Self::join)s (`T`) or
    /// [`outer_join`](Self::outer_join)s (`Option<T>`, `None` where the
    /// row has no related row). Every join row is a result row: a user
    /// with three posts comes three times, as the same object.
    ///
    /// # Examples
    ///
    /// diesel_bench's `medium_complex_query`, users with their posts:
    ///
    /// ```
    /// use orm::prelude::*;
    ///
    /// #[derive(Model, Debug, Default)]
    /// #[orm(table = "users", has_many(posts = Post))]
    /// struct User { #[orm(primary_key)] id: i64, name: String, hair_color: Option<String> }
    ///
    /// #[derive(Model, Debug, Default)]
    /// #[orm(table = "posts")]
    /// struct Post { #[orm(primary_key)] id: i64, #[orm(foreign_key = User::id)] user_id: i64, title: String }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<User>().open("sqlite://")?;
    /// let s = db.session();
    /// let q = s
    ///     .query::<User>()
    ///     .outer_join(User::posts)
    ///     .filter(User::hair_color.eq("black"))
    ///     .models::<(User, Option<Post>)>();
    /// assert_eq!(
    ///     q.to_sql()?.0,
    ///     r#"SELECT "users"."id", "users"."name", "users"."hair_color", "posts"."id", "posts"."user_id", "posts"."title" FROM "users" LEFT OUTER JOIN "posts" ON "posts"."user_id" = "users"."id" WHERE "users"."hair_color" = ?"#
    /// );
    /// # Ok(()) }
    /// ```
    pub fn models<T: ModelTuple>(self) -> Models<'s, M, T> {
        Models {
            query: self,
            _tuple: PhantomData,
        }
    }
}

impl<M: Model, T: ModelTuple> Models<'_, M, T> {
    /// The SELECT: every column of each model, from its table in the
    /// query's FROM or joins.
    fn select(&self) -> Result<Select> {
        let mut s = self.query.filtered_select();
        let tables = T::tables();
        if !tables.first().is_some_and(|t| std::ptr::eq(*t, M::table())) {
            return Err(Error::Usage(format!(
                "models() selects the query's own model first: ({}, ...)",
                M::table().model
            )));
        }
        let mut columns: Vec<Expr> = Vec::new();
        for t in &tables {
            let in_query = std::ptr::eq(*t, M::table())
                || s.joins
                    .iter()
                    .any(|j| j.table.alias.is_none() && j.table.name == t.name);
            if !in_query {
                return Err(Error::Usage(format!(
                    "models() selects {}, which the query does not join: add .join(...) or .outer_join(...) through a relationship to it",
                    t.model
                )));
            }
            columns.extend(crate::schema::statements::select_columns(t, t.name));
        }
        s.columns = columns;
        Ok(s)
    }

    /// The SQL and parameters, without running it.
    ///
    /// # Errors
    ///
    /// [`Error::Usage`] when the first model is not the query's or a model
    /// is not joined; values that cannot be used.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// #[orm(has_many(posts = Post))]
    /// struct User { #[orm(primary_key)] id: i64 }
    /// #[derive(Model, Debug, Default)]
    /// struct Post { #[orm(primary_key)] id: i64, #[orm(foreign_key = User::id)] user_id: i64 }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<User>().open("sqlite://")?;
    /// let s = db.session();
    /// let (sql, _) = s.query::<User>().join(User::posts).models::<(User, Post)>().to_sql()?;
    /// assert!(sql.ends_with(r#"FROM "user" JOIN "post" ON "post"."user_id" = "user"."id""#));
    /// // Post is not joined:
    /// assert!(s.query::<User>().models::<(User, Post)>().to_sql().is_err());
    /// # Ok(()) }
    /// ```
    pub fn to_sql(&self) -> Result<(String, Vec<Value>)> {
        let w = writer::write(
            &Statement::Select(self.select()?),
            self.query.session.inner.dialect(),
        )?;
        Ok((w.sql, w.params))
    }

    fn run<R>(
        &self,
        limit: Option<i64>,
        mut each: impl FnMut(&SessionInner, &Row<'_>) -> Result<R>,
    ) -> Result<Vec<R>> {
        let inner = &self.query.session.inner;
        inner.autoflush()?;
        if self.query.select.lock.is_some() {
            inner.ensure_write_txn()?;
        }
        let mut select = self.select()?;
        if limit.is_some() {
            select.limit = limit;
            select.inline_limit = true;
        }
        let w = writer::write(&Statement::Select(select), inner.dialect())?;
        crate::types::check_params(&w.params)?;
        inner.with_conn_for::<M, _>(|conn| {
            let mut stmt = conn.prepare_bound(&w.sql, &w.params, inner.observer())?;
            let mut out = Vec::new();
            stmt.query(|row| {
                out.push(each(inner, row)?);
                Ok(())
            })?;
            Ok(out)
        })
    }

    /// Every row, each model through the identity map (the same row of a
    /// model is the same object in every result row and in the session).
    ///
    /// # Errors
    ///
    /// As [`to_sql`](Self::to_sql); [`Error::Usage`] when a row has no
    /// object for a model selected as `T` rather than `Option<T>`;
    /// database and conversion errors.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// #[orm(has_many(posts = Post, backref = "author"))]
    /// struct User { #[orm(primary_key)] id: i64 }
    /// #[derive(Model, Debug, Default)]
    /// struct Post { #[orm(primary_key)] id: i64, #[orm(foreign_key = User::id)] user_id: i64 }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<User>().open("sqlite://")?;
    /// db.create_all()?;
    /// let s = db.session();
    /// let u = s.add(User::default())?;
    /// u.append(User::posts, &Obj::new(Post::default()))?;
    /// u.append(User::posts, &Obj::new(Post::default()))?;
    /// let rows = s.query::<User>().join(User::posts).models::<(User, Post)>().all()?;
    /// assert_eq!(rows.len(), 2);
    /// assert!(rows[0].0 == rows[1].0 && rows[0].0 == u);
    /// # Ok(()) }
    /// ```
    pub fn all(&self) -> Result<Vec<T::Tracked>> {
        self.run(None, |inner, row| {
            let mut state = inner.state_mut()?;
            T::__adopt(
                &mut Adopter {
                    session: inner,
                    state: &mut state,
                },
                row,
            )
        })
    }

    /// The first row (`LIMIT 1`), or `None`.
    ///
    /// # Errors
    ///
    /// As [`all`](Self::all).
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// #[orm(has_many(posts = Post))]
    /// struct User { #[orm(primary_key)] id: i64 }
    /// #[derive(Model, Debug, Default)]
    /// struct Post { #[orm(primary_key)] id: i64, #[orm(foreign_key = User::id)] user_id: i64 }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<User>().open("sqlite://")?;
    /// db.create_all()?;
    /// let s = db.session();
    /// s.add(User::default())?;
    /// let (_, post) = s.query::<User>().outer_join(User::posts).models::<(User, Option<Post>)>().first()?.unwrap();
    /// assert!(post.is_none());
    /// # Ok(()) }
    /// ```
    pub fn first(&self) -> Result<Option<T::Tracked>> {
        Ok(self
            .run(Some(1), |inner, row| {
                let mut state = inner.state_mut()?;
                T::__adopt(
                    &mut Adopter {
                        session: inner,
                        state: &mut state,
                    },
                    row,
                )
            })?
            .into_iter()
            .next())
    }

    /// Every row as plain values: no identity map, no tracking (a model's
    /// row that comes in several result rows is decoded each time).
    ///
    /// # Errors
    ///
    /// As [`all`](Self::all).
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default, PartialEq)]
    /// #[orm(has_many(posts = Post))]
    /// struct User { #[orm(primary_key)] id: i64 }
    /// #[derive(Model, Debug, Default, PartialEq)]
    /// struct Post { #[orm(primary_key)] id: i64, #[orm(foreign_key = User::id)] user_id: i64 }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<User>().open("sqlite://")?;
    /// db.create_all()?;
    /// let s = db.session();
    /// s.add(User::default())?;
    /// let rows: Vec<(User, Option<Post>)> =
    ///     s.query::<User>().outer_join(User::posts).models::<(User, Option<Post>)>().all_detached()?;
    /// assert_eq!(rows, [(User { id: 1 }, None)]);
    /// # Ok(()) }
    /// ```
    pub fn all_detached(&self) -> Result<Vec<T::Detached>> {
        self.run(None, |_, row| T::__decode(row))
    }
}
