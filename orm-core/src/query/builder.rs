//! [`Query`]: the query builder of one model, and its terminals.
//!
//! A query is a [`Select`] under construction. Terminals autoflush, write
//! the statement, run it through the session's cached prepared statements,
//! and pass every row through the identity map (or, for the `_detached`
//! terminals, return plain values with no tracking).

use std::marker::PhantomData;

use super::column::Column;
use super::expr::{Aggregate, Assignment, Condition, Order};
use super::page::Page;
use super::select::{SelectList, TupleQuery};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::relation::Relation;
use crate::relation::loader::{Load, LoadPlan};
use crate::schema::statements;
use crate::schema::{LinkTable, Role};
use crate::session::{Obj, Session};
use crate::sql::ast::{
    BinOp, Delete, Expr, Ident, Join, JoinKind, OrderBy, Select, Statement, TableRef, Update,
};
use crate::sql::writer;
use crate::types::{ColumnType, Value};

/// A query over model `M`, made by [`Session::query`].
///
/// Builder methods consume and return the query; terminals (`all`, `first`,
/// `one`, `count`, `paginate`, ...) run it. Every value is a bound
/// parameter, every identifier is quoted.
///
/// # Examples
///
/// ```
/// use orm::prelude::*;
///
/// #[derive(Model, Debug, Default)]
/// struct User { #[orm(primary_key)] id: i64, name: String, age: i64 }
///
/// # fn main() -> orm::Result<()> {
/// let db = Database::builder().model::<User>().open("sqlite://")?;
/// db.create_all()?;
/// let s = db.session();
/// for (name, age) in [("ann", 31), ("bob", 17), ("cid", 45)] {
///     s.add(User { name: name.into(), age, ..Default::default() })?;
/// }
/// let adults = s
///     .query::<User>()
///     .filter(User::age.ge(18))
///     .order_by(User::age.desc())
///     .all()?;
/// let names: Vec<String> = adults.iter().map(|u| u.read().map(|u| u.name.clone())).collect::<Result<_, _>>()?;
/// assert_eq!(names, ["cid", "ann"]);
/// # Ok(()) }
/// ```
#[must_use = "a query does nothing until a terminal such as .all() runs it"]
pub struct Query<'s, M: Model> {
    pub(crate) session: &'s Session,
    pub(crate) select: Select,
    pub(crate) loads: LoadPlan,
    /// Overwrite objects already in the session with the rows' values.
    pub(crate) populate: bool,
    /// For each of `select.joins`: whether it reaches a collection, so it
    /// would repeat a row per related row.
    pub(crate) repeats: Vec<bool>,
    /// Whether `load()` was called (declared `lazy = "selectin"` loads are
    /// in `loads` from the start).
    pub(crate) explicit_loads: bool,
    /// Rows per batch of a stream ([`Query::yield_per`]).
    pub(crate) yield_per: u64,
    /// [`Query::with_deleted`]: soft-deleted rows are not left out.
    pub(crate) include_deleted: bool,
    /// For each of `select.joins`: the joined table.
    pub(crate) join_tables: Vec<&'static crate::schema::TableDef>,
    _model: PhantomData<fn() -> M>,
}

impl<M: Model> Clone for Query<'_, M> {
    fn clone(&self) -> Self {
        Query {
            session: self.session,
            select: self.select.clone(),
            loads: self.loads.clone(),
            populate: self.populate,
            repeats: self.repeats.clone(),
            explicit_loads: self.explicit_loads,
            yield_per: self.yield_per,
            include_deleted: self.include_deleted,
            join_tables: self.join_tables.clone(),
            _model: PhantomData,
        }
    }
}

impl<M: Model> std::fmt::Debug for Query<'_, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.to_sql() {
            Ok((sql, _)) => write!(f, "Query({sql})"),
            Err(e) => write!(f, "Query(<invalid: {e}>)"),
        }
    }
}

impl Session {
    /// Start a query over model `M`.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64 }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<User>().open("sqlite://")?;
    /// db.create_all()?;
    /// assert!(db.session().query::<User>().all()?.is_empty());
    /// # Ok(()) }
    /// ```
    pub fn query<M: Model>(&self) -> Query<'_, M> {
        Query {
            session: self,
            select: Select::new(TableRef::new(M::table().name)),
            loads: LoadPlan::defaults_for(M::table()),
            populate: false,
            repeats: Vec::new(),
            explicit_loads: false,
            yield_per: super::stream::DEFAULT_YIELD_PER,
            include_deleted: false,
            join_tables: Vec::new(),
            _model: PhantomData,
        }
    }
}

/// `select` (whose columns are `me`'s) as a subquery named like `me`'s
/// table, so joins and orderings written against `me` still apply:
/// `SELECT <me's columns> FROM (<select>) AS "me" ORDER BY ...`. Orderings
/// by another table's column are selected in the subquery too
/// (`orm_o0`, ...) and ordered by outside.
fn wrap_limited(mut select: Select, me: &'static crate::schema::TableDef) -> Select {
    let mut order = Vec::with_capacity(select.order_by.len());
    for (i, o) in select.order_by.iter().enumerate() {
        match &o.expr {
            Expr::Column { table: Some(t), .. } if t == me.name => order.push(o.clone()),
            other => {
                let alias = format!("orm_o{i}");
                select.columns.push(Expr::Aliased {
                    expr: Box::new(other.clone()),
                    alias: alias.clone().into(),
                });
                order.push(OrderBy {
                    expr: Expr::column(me.name, alias),
                    desc: o.desc,
                });
            }
        }
    }
    let mut outer = Select::new(TableRef::new(me.name));
    outer.columns = statements::select_columns(me, me.name);
    outer.from_select = Some(Box::new(select));
    outer.order_by = order;
    outer
}

/// `User::query(&session)`: Flask-SQLAlchemy's `User.query`, for every model.
///
/// # Examples
///
/// ```
/// use orm::prelude::*; // brings ModelQuery into scope
/// #[derive(Model, Debug, Default)]
/// struct User { #[orm(primary_key)] id: i64 }
///
/// # fn main() -> orm::Result<()> {
/// let db = Database::builder().model::<User>().open("sqlite://")?;
/// db.create_all()?;
/// let session = db.session();
/// assert!(User::query(&session).all()?.is_empty());
/// # Ok(()) }
/// ```
pub trait ModelQuery: Model {
    /// Start a query over this model in `session`.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64 }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<User>().open("sqlite://")?;
    /// db.create_all()?;
    /// let session = db.session();
    /// assert_eq!(User::query(&session).count()?, 0);
    /// # Ok(()) }
    /// ```
    fn query(session: &Session) -> Query<'_, Self> {
        session.query::<Self>()
    }
}

impl<M: Model> ModelQuery for M {}

fn unknown_column<M: Model>(name: &str) -> Error {
    Error::UnknownColumn {
        model: M::table().model,
        name: name.chars().take(64).collect(),
    }
}

impl<'s, M: Model> Query<'s, M> {
    /// Keep rows matching `condition` (ANDed with earlier filters).
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
    /// let s = db.session();
    /// let (sql, _) = s.query::<User>().filter(User::id.gt(1)).filter(User::name.eq("x")).to_sql()?;
    /// assert!(sql.ends_with(r#"WHERE "user"."id" > ? AND "user"."name" = ?"#));
    /// # Ok(()) }
    /// ```
    pub fn filter(mut self, condition: Condition) -> Self {
        self.select.and_where(condition.expr);
        self
    }

    /// Keep rows whose column `name` (Rust field or SQL name, given at run
    /// time, for example from a search form) equals `value`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownColumn`] when `name` is not a column of `M`; nothing
    /// of `name` ever reaches SQL text.
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
    /// let s = db.session();
    /// let (sql, _) = s.query::<User>().filter_by("name", "ann")?.to_sql()?;
    /// assert!(sql.ends_with(r#"WHERE "user"."name" = ?"#));
    /// let err = s.query::<User>().filter_by("name; DROP TABLE user", "x").unwrap_err();
    /// assert!(matches!(err, orm::Error::UnknownColumn { .. }));
    /// # Ok(()) }
    /// ```
    pub fn filter_by(mut self, name: &str, value: impl crate::types::ToValue) -> Result<Self> {
        let t = M::table();
        let i = t
            .field_index(name)
            .ok_or_else(|| unknown_column::<M>(name))?;
        let value = value.to_value();
        let column = Expr::column(t.name, t.columns[i].name);
        let cond = if value == Value::Null {
            Expr::IsNull {
                expr: Box::new(column),
                negated: false,
            }
        } else {
            Expr::binary(BinOp::Eq, column, Expr::Value(value))
        };
        self.select.and_where(cond);
        Ok(self)
    }

    /// Sort by `order` (after earlier orderings).
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
    /// let s = db.session();
    /// let (sql, _) = s.query::<User>().order_by(User::name).order_by(User::id.desc()).to_sql()?;
    /// assert!(sql.ends_with(r#"ORDER BY "user"."name" ASC, "user"."id" DESC"#));
    /// # Ok(()) }
    /// ```
    pub fn order_by(mut self, order: impl Into<Order>) -> Self {
        let o = order.into();
        self.select.order_by.push(OrderBy {
            expr: o.expr,
            desc: o.desc,
        });
        self
    }

    /// Sort by a column named at run time (for example a `?sort=` parameter).
    ///
    /// # Errors
    ///
    /// [`Error::UnknownColumn`] when `name` is not a column of `M`.
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
    /// let s = db.session();
    /// assert!(s.query::<User>().order_by_name("name", true).is_ok());
    /// assert!(s.query::<User>().order_by_name("(CASE WHEN 1 THEN name END)", false).is_err());
    /// # Ok(()) }
    /// ```
    pub fn order_by_name(mut self, name: &str, descending: bool) -> Result<Self> {
        let t = M::table();
        let i = t
            .field_index(name)
            .ok_or_else(|| unknown_column::<M>(name))?;
        self.select.order_by.push(OrderBy {
            expr: Expr::column(t.name, t.columns[i].name),
            desc: descending,
        });
        Ok(self)
    }

    /// Overwrite the objects this query finds that are already in the
    /// session with the rows' values (SQLAlchemy's `populate_existing()`),
    /// dropping unflushed changes to them. Without it an object already in
    /// the session keeps its values, so a row changed by another writer
    /// since it was loaded is not seen. [`Session::begin`] expires what the
    /// session holds when it takes the write lock, which is usually what a
    /// read-modify-write needs; this is the per-query form.
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
    /// let ann = s.add(User { name: "ann".into(), ..Default::default() })?;
    /// s.commit()?;
    /// let other = db.session();
    /// other.get_or_not_found::<User>(1)?.write()?.name = "anna".into();
    /// other.commit()?;
    /// s.query::<User>().populate_existing().all()?;
    /// assert_eq!(ann.read()?.name, "anna");
    /// # Ok(()) }
    /// ```
    pub fn populate_existing(mut self) -> Self {
        self.populate = true;
        self
    }

    /// Lock the rows this query reads until the transaction ends
    /// (SQLAlchemy's `with_for_update()`): the write transaction is opened
    /// first, and the objects found take the rows' values, read under the
    /// lock ([`populate_existing`](Self::populate_existing)).
    ///
    /// PostgreSQL writes `SELECT ... FOR UPDATE`: other writers of those
    /// rows wait until this transaction ends. SQLite has no row locks; its
    /// write transaction (`BEGIN IMMEDIATE`) already locks the whole
    /// database against other writers, so the statement is a plain SELECT.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct Job { #[orm(primary_key)] id: i64, done: bool }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<Job>().open("sqlite://")?;
    /// db.create_all()?;
    /// let s = db.session();
    /// s.add(Job::default())?;
    /// s.commit()?;
    /// let job = s.query::<Job>().filter(Job::done.eq(false)).for_update().first()?.unwrap();
    /// assert!(s.in_transaction()); // the lock lasts until commit
    /// job.write()?.done = true;
    /// s.commit()?;
    /// # Ok(()) }
    /// ```
    pub fn for_update(mut self) -> Self {
        self.select.lock = Some(crate::sql::ast::Lock::Wait);
        self.populate = true;
        self
    }

    /// [`for_update`](Self::for_update), leaving out rows another
    /// transaction has locked (`FOR UPDATE SKIP LOCKED`): a queue of jobs
    /// that several workers take from. On SQLite the same as `for_update`.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct Job { #[orm(primary_key)] id: i64 }
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<Job>().open("sqlite://")?;
    /// db.create_all()?;
    /// let next = db.session().query::<Job>().skip_locked().first()?;
    /// assert!(next.is_none());
    /// # Ok(()) }
    /// ```
    pub fn skip_locked(mut self) -> Self {
        self.select.lock = Some(crate::sql::ast::Lock::SkipLocked);
        self.populate = true;
        self
    }

    /// [`for_update`](Self::for_update), failing at once with a database
    /// error when a row is locked (`FOR UPDATE NOWAIT`). On SQLite the same
    /// as `for_update`.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct Job { #[orm(primary_key)] id: i64 }
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<Job>().open("sqlite://")?;
    /// let (sql, _) = db.session().query::<Job>().nowait().to_sql()?;
    /// assert!(!sql.contains("FOR UPDATE")); // SQLite: no row locks
    /// # Ok(()) }
    /// ```
    pub fn nowait(mut self) -> Self {
        self.select.lock = Some(crate::sql::ast::Lock::NoWait);
        self.populate = true;
        self
    }

    /// Return at most `n` rows.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64 }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<User>().open("sqlite://")?;
    /// let (sql, params) = db.session().query::<User>().limit(10).offset(20).to_sql()?;
    /// assert!(sql.ends_with("LIMIT ? OFFSET ?"));
    /// assert_eq!(params, [orm::types::Value::Integer(10), orm::types::Value::Integer(20)]);
    /// # Ok(()) }
    /// ```
    pub fn limit(mut self, n: u64) -> Self {
        self.select.limit = Some(i64::try_from(n).unwrap_or(i64::MAX));
        self
    }

    /// Skip the first `n` rows.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64 }
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<User>().open("sqlite://")?;
    /// let _ = db.session().query::<User>().offset(5).to_sql()?;
    /// # Ok(()) }
    /// ```
    pub fn offset(mut self, n: u64) -> Self {
        self.select.offset = Some(i64::try_from(n).unwrap_or(i64::MAX));
        self
    }

    /// Drop duplicate rows (`SELECT DISTINCT`).
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64 }
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<User>().open("sqlite://")?;
    /// let (sql, _) = db.session().query::<User>().distinct().to_sql()?;
    /// assert!(sql.starts_with("SELECT DISTINCT"));
    /// # Ok(()) }
    /// ```
    pub fn distinct(mut self) -> Self {
        self.select.distinct = true;
        self
    }

    /// Group rows by a column, for [`select`](Self::select) with aggregates.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// use orm::query::count;
    /// #[derive(Model, Debug, Default)]
    /// struct Post { #[orm(primary_key)] id: i64, author: String }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<Post>().open("sqlite://")?;
    /// let s = db.session();
    /// let (sql, _) = s.query::<Post>().group_by(Post::author).select((Post::author, count())).to_sql()?;
    /// assert_eq!(sql, r#"SELECT "post"."author", count(*) FROM "post" GROUP BY "post"."author""#);
    /// # Ok(()) }
    /// ```
    pub fn group_by<N: Model, T>(mut self, column: Column<N, T>) -> Self {
        self.select.group_by.push(column.expr());
        self
    }

    /// Keep groups matching `condition` (SQL `HAVING`).
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// use orm::query::count;
    /// #[derive(Model, Debug, Default)]
    /// struct Post { #[orm(primary_key)] id: i64, author: String }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<Post>().open("sqlite://")?;
    /// let s = db.session();
    /// let (sql, _) = s.query::<Post>().group_by(Post::author).having(count().ge(2)).select(Post::author).to_sql()?;
    /// assert!(sql.ends_with(r#"GROUP BY "post"."author" HAVING count(*) >= ?"#));
    /// # Ok(()) }
    /// ```
    pub fn having(mut self, condition: Condition) -> Self {
        self.select.having = Some(match self.select.having.take() {
            None => condition.expr,
            Some(prev) => Expr::and(prev, condition.expr),
        });
        self
    }

    /// Select columns and aggregates instead of whole objects; the result
    /// rows are tuples (or single values for one item).
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
    /// s.add(User { name: "ann".into(), ..Default::default() })?;
    /// let rows: Vec<(i64, String)> = s.query::<User>().select((User::id, User::name)).all()?;
    /// assert_eq!(rows, [(1, "ann".to_string())]);
    /// # Ok(()) }
    /// ```
    pub fn select<L: SelectList>(self, list: L) -> TupleQuery<'s, L> {
        let mut select = self.soft_select();
        select.columns = list.exprs().into_iter().map(|e| e.0).collect();
        TupleQuery::new(self.session, select, M::table())
    }

    fn entity_select(&self) -> Select {
        let mut s = self.one_row_per_object();
        s.columns = statements::select_columns(M::table(), M::table().name);
        s
    }

    /// Load `option`'s relationship eagerly for every result (see
    /// [`selectin`](crate::relation::selectin) and
    /// [`joined`](crate::relation::joined)).
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// use orm::relation::selectin;
    ///
    /// #[derive(Model, Debug, Default)]
    /// #[orm(has_many(pets = Pet, backref = "owner"))]
    /// struct Person { #[orm(primary_key)] id: i64 }
    ///
    /// #[derive(Model, Debug, Default)]
    /// struct Pet { #[orm(primary_key)] id: i64, #[orm(foreign_key = Person::id)] person_id: i64 }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<Person>().open("sqlite://")?;
    /// db.create_all()?;
    /// let s = db.session();
    /// for _ in 0..3 {
    ///     let p = s.add(Person::default())?;
    ///     p.append(Person::pets, &Obj::new(Pet::default()))?;
    /// }
    /// s.commit()?;
    /// let s2 = db.session();
    /// let rec = db.record();
    /// let people = s2.query::<Person>().load(selectin(Person::pets)).all()?;
    /// for p in &people {
    ///     assert_eq!(p.related(Person::pets)?.len(), 1);
    /// }
    /// assert_eq!(rec.queries().len(), 2); // people, then all their pets at once
    /// # Ok(()) }
    /// ```
    pub fn load<T>(mut self, option: Load<M, T>) -> Self {
        self.explicit_loads = true;
        self.loads.add(option.into());
        self
    }

    /// Join a related model through `rel`, so filters and orderings can use
    /// its columns (SQLAlchemy's `query.join(Person.pets)`).
    ///
    /// Each object appears once, and `limit`, [`count`](Self::count) and
    /// [`paginate`](Self::paginate) count objects, also when several
    /// related rows match: a join through a collection is written as a
    /// correlated `EXISTS` (SQLAlchemy and Flask-SQLAlchemy count the join
    /// rows instead). A join to a parent (many-to-one) stays a `JOIN`, so
    /// results can be ordered by the parent's columns; ordering by a
    /// collection's column is an error. Tuple selects
    /// ([`select`](Self::select)) keep the join rows.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    ///
    /// #[derive(Model, Debug, Default)]
    /// #[orm(has_many(pets = Pet, backref = "owner"))]
    /// struct Person { #[orm(primary_key)] id: i64, name: String }
    ///
    /// #[derive(Model, Debug, Default)]
    /// struct Pet { #[orm(primary_key)] id: i64, kind: String, #[orm(foreign_key = Person::id)] person_id: i64 }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<Person>().open("sqlite://")?;
    /// let s = db.session();
    /// let (sql, _) = s.query::<Person>().join(Person::pets).filter(Pet::kind.eq("dog")).to_sql()?;
    /// assert_eq!(
    ///     sql,
    ///     r#"SELECT "person"."id", "person"."name" FROM "person" WHERE EXISTS (SELECT 1 FROM "pet" WHERE "pet"."person_id" = "person"."id" AND "pet"."kind" = ?)"#
    /// );
    /// let (sql, _) = s.query::<Pet>().join(Pet::owner).order_by(Person::name).to_sql()?;
    /// assert_eq!(
    ///     sql,
    ///     r#"SELECT "pet"."id", "pet"."kind", "pet"."person_id" FROM "pet" JOIN "person" ON "person"."id" = "pet"."person_id" ORDER BY "person"."name" ASC"#
    /// );
    /// # Ok(()) }
    /// ```
    pub fn join<R: Relation<From = M>>(self, rel: R) -> Self {
        self.join_with(rel.__side(), JoinKind::Inner)
    }

    /// Join a related model through `rel` with a `LEFT OUTER JOIN`
    /// (SQLAlchemy's `outerjoin`): rows of `M` with no related row are
    /// kept, with NULL in the related columns. With
    /// [`models`](Self::models) it gives pairs such as `(User,
    /// Option<Post>)`; in a query of objects of `M`, each object appears
    /// once (a join through a collection makes the query `DISTINCT`), and
    /// a filter such as `Post::id.is_absent()` finds the objects with no
    /// related row (see [`Column::is_absent`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    ///
    /// #[derive(Model, Debug, Default)]
    /// #[orm(has_many(posts = Post, backref = "author"))]
    /// struct User { #[orm(primary_key)] id: i64, name: String }
    ///
    /// #[derive(Model, Debug, Default)]
    /// struct Post { #[orm(primary_key)] id: i64, #[orm(foreign_key = User::id)] user_id: i64 }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<User>().open("sqlite://")?;
    /// db.create_all()?;
    /// let s = db.session();
    /// let ann = s.add(User { name: "ann".into(), ..Default::default() })?;
    /// s.add(User { name: "bob".into(), ..Default::default() })?;
    /// ann.append(User::posts, &Obj::new(Post::default()))?;
    /// let without_posts = s.query::<User>().outer_join(User::posts).filter(Post::id.is_absent()).all()?;
    /// assert_eq!(without_posts.len(), 1);
    /// assert_eq!(without_posts[0].get(User::name)?, "bob");
    /// # Ok(()) }
    /// ```
    pub fn outer_join<R: Relation<From = M>>(self, rel: R) -> Self {
        self.join_with(rel.__side(), JoinKind::Left)
    }

    fn join_with(mut self, side: crate::schema::Side, kind: JoinKind) -> Self {
        let me = M::table();
        let other = side.other();
        let link = match side.def.link() {
            Ok(l) => l,
            Err(e) => {
                self.select.and_where(Expr::Invalid(e.to_string()));
                return self;
            }
        };
        if std::ptr::eq(other, me) {
            self.select.and_where(Expr::Invalid(format!(
                "joining {} to itself is not supported; filter with a subquery instead",
                side.describe()
            )));
            return self;
        }
        let mut push = |table: &'static crate::schema::TableDef, on: Expr, repeats: bool| {
            self.select.joins.push(Join {
                kind,
                table: TableRef::new(table.name),
                on,
            });
            self.repeats.push(repeats);
            self.join_tables.push(table);
        };
        let role = side.role();
        match role {
            Role::Children { .. } | Role::Parent => push(
                other,
                link.join_on(
                    side,
                    LinkTable::Other.named(other.name),
                    LinkTable::Owner.named(me.name),
                ),
                role == Role::Children { single: false },
            ),
            Role::Links => {
                if let Some(sl) = &link.secondary {
                    let assoc = sl.table.name;
                    push(
                        sl.table,
                        link.join_on(
                            side,
                            LinkTable::Assoc.named(assoc),
                            LinkTable::Owner.named(me.name),
                        ),
                        true,
                    );
                    push(
                        other,
                        link.join_on(
                            side,
                            LinkTable::Other.named(other.name),
                            LinkTable::Assoc.named(assoc),
                        ),
                        true,
                    );
                }
            }
        }
        self
    }

    /// The query's SELECT with one row per object: joins through
    /// collections (which repeat a row per related row) become a correlated
    /// `EXISTS (SELECT 1 FROM ... WHERE <join> AND <filters>)`, so `LIMIT`,
    /// `count()` and pages count objects. Joins to a parent stay joins.
    fn one_row_per_object(&self) -> Select {
        let mut s = self.soft_select();
        if !self.repeats.contains(&true) {
            return s;
        }
        let (mut moved, mut kept) = (Vec::new(), Vec::new());
        for (join, repeats) in s.joins.drain(..).zip(&self.repeats) {
            if *repeats && join.kind == JoinKind::Left {
                // An outer join filters nothing: it stays, and DISTINCT
                // keeps one row per object.
                s.distinct = true;
                kept.push(join);
            } else if *repeats {
                moved.push(join);
            } else {
                kept.push(join);
            }
        }
        s.joins = kept;
        let moved_tables: Vec<Ident> = moved.iter().map(|j| j.table.name.clone()).collect();
        let mut moved = moved.into_iter();
        let Some(first) = moved.next() else {
            return s;
        };
        let mut sub = Select::new(first.table);
        sub.columns = vec![Expr::Bool(true)];
        sub.joins = moved.collect();
        sub.and_where(first.on);
        if let Some(filter) = s.filter.take() {
            sub.and_where(filter);
        }
        s.filter = Some(Expr::Exists {
            select: Box::new(sub),
            negated: false,
        });
        let by_moved = s.order_by.iter().find_map(|o| match &o.expr {
            Expr::Column {
                table: Some(t),
                name,
            } if moved_tables.contains(t) => Some(format!("{t}.{name}")),
            _ => None,
        });
        if let Some(column) = by_moved {
            s.and_where(Expr::Invalid(format!(
                "cannot order {} by {column}: it is a column of a joined collection, \
                 and each {} appears once; order by its own columns, or select tuples",
                M::table().model,
                M::table().model
            )));
        }
        s
    }

    /// The query's SELECT as built, join rows kept (tuple and model
    /// selects), soft-deleted rows left out.
    pub(crate) fn filtered_select(&self) -> Select {
        self.soft_select()
    }

    /// Include soft-deleted rows (`#[orm(soft_delete)]`): of `M` and of
    /// every model this query joins or loads with
    /// [`joined`](crate::relation::joined). Without it they are left out,
    /// as if deleted (the SQLAlchemy recipe's
    /// `execution_options(include_deleted=True)`). Relationships loaded
    /// by their own SELECT (lazily, or with
    /// [`selectin`](crate::relation::selectin)) always leave them out.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// #[orm(soft_delete)]
    /// struct Note { #[orm(primary_key)] id: i64, text: String, deleted_at: Option<String> }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<Note>().open("sqlite://")?;
    /// db.create_all()?;
    /// let s = db.session();
    /// let note = s.add(Note { text: "draft".into(), ..Default::default() })?;
    /// s.commit()?;
    /// s.delete(&note)?; // UPDATE "note" SET "deleted_at" = ? WHERE "note"."id" = ?
    /// s.commit()?;
    /// assert_eq!(s.query::<Note>().count()?, 0);
    /// let all = s.query::<Note>().with_deleted().all()?;
    /// assert!(all[0].get(Note::deleted_at)?.is_some());
    /// # Ok(()) }
    /// ```
    pub fn with_deleted(mut self) -> Self {
        self.include_deleted = true;
        self
    }

    /// Whether `M`'s soft-deleted rows are left out.
    fn hides_deleted(&self) -> bool {
        !self.include_deleted && M::table().soft_delete.is_some()
    }

    /// `"t"."deleted_at" IS NULL` for a soft-delete table under `name`.
    pub(crate) fn live(t: &crate::schema::TableDef, name: impl Into<Ident>) -> Option<Expr> {
        let sd = t.soft_delete?;
        Some(Expr::IsNull {
            expr: Box::new(Expr::column(name, t.columns[sd.column].name)),
            negated: false,
        })
    }

    /// The query's SELECT, soft-deleted rows of `M` and of joined models
    /// left out (unless [`with_deleted`](Self::with_deleted)).
    fn soft_select(&self) -> Select {
        let mut s = self.select.clone();
        if self.include_deleted {
            return s;
        }
        for (join, t) in s.joins.iter_mut().zip(&self.join_tables) {
            if let Some(cond) = Self::live(t, t.name) {
                let on = std::mem::replace(&mut join.on, Expr::Bool(true));
                join.on = Expr::and(on, cond);
            }
        }
        if let Some(cond) = Self::live(M::table(), M::table().name) {
            s.and_where(cond);
        }
        s
    }

    /// Whether the SELECT is the table's cached one (every column, no
    /// clause); a stream can use it as is.
    pub(crate) fn is_plain_select(&self) -> bool {
        let s = &self.select;
        s.filter.is_none()
            && s.joins.is_empty()
            && s.order_by.is_empty()
            && s.group_by.is_empty()
            && s.having.is_none()
            && s.limit.is_none()
            && s.offset.is_none()
            && s.lock.is_none()
            && !s.distinct
            && !self.hides_deleted()
    }

    /// The SELECT a stream runs: one row per object.
    pub(crate) fn entity_select_for_stream(&self) -> Select {
        self.entity_select()
    }

    /// [`is_plain_select`](Self::is_plain_select), and no joined loads.
    fn is_plain(&self) -> bool {
        self.is_plain_select() && self.loads.joined().next().is_none()
    }

    /// The SQL and parameters this query would run, without running it.
    ///
    /// # Errors
    ///
    /// When a value in the query cannot be used (for example NaN).
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
    /// let (sql, params) = db.session().query::<User>().filter(User::name.eq("ann")).to_sql()?;
    /// assert_eq!(sql, r#"SELECT "user"."id", "user"."name" FROM "user" WHERE "user"."name" = ?"#);
    /// assert_eq!(params, [orm::types::Value::Text("ann".into())]);
    /// # Ok(()) }
    /// ```
    pub fn to_sql(&self) -> Result<(String, Vec<Value>)> {
        let w = self.entity_sql(None)?;
        Ok((w.sql, w.params))
    }

    /// The SQL of [`entity_select`](Self::entity_select), with `limit` (a
    /// literal: `first()`, `one_or_none()`) in place of the query's own.
    fn entity_sql(&self, limit: Option<i64>) -> Result<writer::Written> {
        if let Some(written) = self.sql_after_cached_head(limit) {
            return written;
        }
        let mut select = self.entity_select();
        if limit.is_some() {
            select.limit = limit;
            select.inline_limit = true;
        }
        writer::write(&Statement::Select(select), self.session.inner.dialect())
    }

    /// The query's SQL as the table's cached `SELECT <every column> FROM
    /// "t"` followed by the query's own clauses, with `limit` (a literal)
    /// in place of the query's own, when the query
    /// [reads its table alone](Self::reads_its_table_alone); `None`
    /// otherwise. No SELECT is cloned and no column list built or quoted
    /// (a third of a small query's writing).
    fn sql_after_cached_head(&self, limit: Option<i64>) -> Option<Result<writer::Written>> {
        if !self.reads_its_table_alone() {
            return None;
        }
        let dialect = self.session.inner.dialect();
        let s = &self.select;
        let (limit, inline_limit) = match limit {
            Some(n) => (Some(n), true),
            None => (s.limit, s.inline_limit),
        };
        let head = statements::select_all(M::table(), dialect);
        Some(writer::write_after(&head, s, limit, inline_limit, dialect))
    }

    /// Whether [`entity_select`](Self::entity_select) is `M`'s table under
    /// its own name with no join, no DISTINCT and no condition added for
    /// soft-deleted rows: its text up to FROM is then the table's cached
    /// `SELECT` of every row.
    fn reads_its_table_alone(&self) -> bool {
        let s = &self.select;
        s.joins.is_empty()
            && s.from_select.is_none()
            && !s.distinct
            && !s.no_from
            && s.from.alias.is_none()
            && s.from.name == M::table().name
            && !self.hides_deleted()
    }

    /// Run `select` with the columns of each joined load's related model
    /// added through LEFT OUTER JOINs (aliased `orm_j0`, `orm_j1`, ...). A
    /// collection joined to a query with a limit, an offset or DISTINCT
    /// joins to the limited query as a subquery, so the limit counts
    /// objects.
    fn load_joined(&self, mut select: Select) -> Result<Vec<Obj<M>>> {
        let inner = &self.session.inner;
        let joined: Vec<_> = self.loads.joined().collect();
        let me = M::table();
        let collections = joined.iter().any(|s| s.side.role() != Role::Parent);
        if collections && (select.limit.is_some() || select.offset.is_some() || select.distinct) {
            select = wrap_limited(select, me);
        }
        let mut offset = me.columns.len();
        let mut placed = Vec::new();
        for (j, spec) in joined.iter().enumerate() {
            let link = spec.side.def.link()?;
            let other = spec.side.other();
            let alias = format!("orm_j{j}");
            let include_deleted = self.include_deleted;
            let target = |table: &'static str, alias: &str, on: Expr| Join {
                kind: JoinKind::Left,
                table: TableRef {
                    name: table.into(),
                    alias: Some(alias.to_owned().into()),
                },
                on: match Self::live(other, alias.to_owned()) {
                    Some(cond) if !include_deleted && table == other.name => Expr::and(on, cond),
                    _ => on,
                },
            };
            match (spec.side.role(), &link.secondary) {
                (Role::Links, Some(sl)) => {
                    let assoc = format!("orm_j{j}_a");
                    select.joins.push(target(
                        sl.table.name,
                        &assoc,
                        link.join_on(
                            spec.side,
                            LinkTable::Assoc.named(assoc.clone()),
                            LinkTable::Owner.named(me.name),
                        ),
                    ));
                    select.joins.push(target(
                        other.name,
                        &alias,
                        link.join_on(
                            spec.side,
                            LinkTable::Other.named(alias.clone()),
                            LinkTable::Assoc.named(assoc),
                        ),
                    ));
                }
                _ => select.joins.push(target(
                    other.name,
                    &alias,
                    link.join_on(
                        spec.side,
                        LinkTable::Other.named(alias.clone()),
                        LinkTable::Owner.named(me.name),
                    ),
                )),
            }
            select.columns.extend(
                other
                    .columns
                    .iter()
                    .map(|c| Expr::column(alias.clone(), c.name)),
            );
            placed.push((spec.side, offset, other));
            offset += other.columns.len();
        }
        let w = writer::write(&Statement::Select(select), self.session.inner.dialect())?;
        inner.load_objects_joined::<M>(&w.sql, &w.params, &placed, self.populate)
    }

    /// Run the query, with `limit` (a literal: `first()`, `one_or_none()`)
    /// in place of the query's own.
    fn run(&self, limit: Option<i64>) -> Result<Vec<Obj<M>>> {
        let inner = &self.session.inner;
        inner.autoflush()?;
        if self.select.lock.is_some() {
            inner.ensure_write_txn()?;
        }
        let mut objects = if self.is_plain() && limit.is_none() {
            // The table's cached SQL text: no Select is built.
            inner.load_objects_with::<M>(
                &statements::select_all(M::table(), inner.dialect()),
                &[],
                self.populate,
            )?
        } else {
            if self.loads.joined().next().is_some() {
                let mut select = self.entity_select();
                if limit.is_some() {
                    select.limit = limit;
                    select.inline_limit = true;
                }
                self.load_joined(select)?
            } else {
                let w = self.entity_sql(limit)?;
                inner.load_objects_with::<M>(&w.sql, &w.params, self.populate)?
            }
        };
        if !self.select.joins.is_empty() {
            let mut seen = std::collections::HashSet::new();
            objects.retain(|o| seen.insert(std::rc::Rc::as_ptr(&o.inner)));
        }
        if !self.loads.is_empty() {
            let erased: Vec<_> = objects.iter().map(Obj::erased).collect();
            self.loads.run_after(inner, &erased)?;
        }
        Ok(objects)
    }

    /// Every matching object, through the identity map: an object already
    /// in the session is returned as is (not overwritten by the row).
    ///
    /// # Errors
    ///
    /// Database and conversion errors.
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
    /// let ann = s.add(User { name: "ann".into(), ..Default::default() })?;
    /// let all = s.query::<User>().all()?; // autoflush inserted ann first
    /// assert!(all[0] == ann);
    /// # Ok(()) }
    /// ```
    pub fn all(&self) -> Result<Vec<Obj<M>>> {
        self.run(None)
    }

    /// Every matching row as a plain value: no identity map, no change
    /// tracking, no relationship loading (the read-only path for reports
    /// and exports).
    ///
    /// # Errors
    ///
    /// Database and conversion errors.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default, PartialEq)]
    /// struct User { #[orm(primary_key)] id: i64, name: String }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<User>().open("sqlite://")?;
    /// db.create_all()?;
    /// let s = db.session();
    /// s.add(User { name: "ann".into(), ..Default::default() })?;
    /// s.commit()?;
    /// let users: Vec<User> = db.session().query::<User>().all_detached()?;
    /// assert_eq!(users, [User { id: 1, name: "ann".into() }]);
    /// # Ok(()) }
    /// ```
    pub fn all_detached(&self) -> Result<Vec<M>> {
        let inner = &self.session.inner;
        inner.autoflush()?;
        if self.is_plain() {
            return inner
                .load_values::<M>(&statements::select_all(M::table(), inner.dialect()), &[]);
        }
        let w = match self.sql_after_cached_head(None) {
            Some(written) => written?,
            None => {
                // Every matching row, a join's repeats included (`all()`
                // keeps each object once).
                let mut select = self.soft_select();
                select.columns = statements::select_columns(M::table(), M::table().name);
                writer::write(&Statement::Select(select), inner.dialect())?
            }
        };
        inner.load_values::<M>(&w.sql, &w.params)
    }

    /// The first matching object (`LIMIT 1`), or `None`.
    ///
    /// # Errors
    ///
    /// Database and conversion errors.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64 }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<User>().open("sqlite://")?;
    /// db.create_all()?;
    /// assert!(db.session().query::<User>().first()?.is_none());
    /// # Ok(()) }
    /// ```
    pub fn first(&self) -> Result<Option<Obj<M>>> {
        Ok(self.run(Some(1))?.into_iter().next())
    }

    /// Like [`first`](Self::first), but no row is [`Error::NotFound`]
    /// (Flask-SQLAlchemy's `first_or_404`).
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] carrying the model; database errors.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64 }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<User>().open("sqlite://")?;
    /// db.create_all()?;
    /// let err = db.session().query::<User>().first_or_not_found().unwrap_err();
    /// assert!(err.is_not_found());
    /// # Ok(()) }
    /// ```
    #[doc(alias = "first_or_404")]
    pub fn first_or_not_found(&self) -> Result<Obj<M>> {
        self.first()?.ok_or(Error::NotFound {
            model: M::table().model,
            key: None,
        })
    }

    /// Exactly one matching object.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] when there is none, [`Error::MultipleRows`] when
    /// there are several.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64 }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<User>().open("sqlite://")?;
    /// db.create_all()?;
    /// let s = db.session();
    /// assert!(s.query::<User>().one().unwrap_err().is_not_found());
    /// s.add_all([User::default(), User::default()])?;
    /// assert!(matches!(s.query::<User>().one(), Err(orm::Error::MultipleRows { .. })));
    /// # Ok(()) }
    /// ```
    #[doc(alias = "one_or_404")]
    pub fn one(&self) -> Result<Obj<M>> {
        self.one_or_none()?.ok_or(Error::NotFound {
            model: M::table().model,
            key: None,
        })
    }

    /// One matching object or `None`.
    ///
    /// # Errors
    ///
    /// [`Error::MultipleRows`] when several rows match.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64 }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<User>().open("sqlite://")?;
    /// db.create_all()?;
    /// assert!(db.session().query::<User>().one_or_none()?.is_none());
    /// # Ok(()) }
    /// ```
    pub fn one_or_none(&self) -> Result<Option<Obj<M>>> {
        let mut found = self.run(Some(2))?;
        match found.len() {
            0 => Ok(None),
            1 => Ok(found.pop()),
            _ => Err(Error::MultipleRows {
                model: M::table().model,
            }),
        }
    }

    /// The object with this primary key (as [`Session::get`]), with the
    /// query's eager loads ([`load`](Self::load)) run for it; filters of
    /// the query do not apply.
    ///
    /// # Errors
    ///
    /// Database and conversion errors.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64 }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<User>().open("sqlite://")?;
    /// db.create_all()?;
    /// let session = db.session();
    /// assert!(User::query(&session).get(1)?.is_none());
    /// # Ok(()) }
    /// ```
    pub fn get(&self, key: impl Into<M::Key>) -> Result<Option<Obj<M>>> {
        let found = self.session.get::<M>(key)?;
        if let Some(obj) = &found
            && !self.loads.is_empty()
        {
            let plan = self.loads.without_joins();
            plan.run_after(&self.session.inner, &[obj.erased()])?;
        }
        Ok(found)
    }

    /// The object with this primary key, or [`Error::NotFound`] carrying
    /// model and key (Flask-SQLAlchemy's `get_or_404`).
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`]; database and conversion errors.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64 }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<User>().open("sqlite://")?;
    /// db.create_all()?;
    /// let session = db.session();
    /// let err = User::query(&session).get_or_not_found(3).unwrap_err();
    /// assert!(matches!(err, orm::Error::NotFound { model: "User", .. }));
    /// # Ok(()) }
    /// ```
    pub fn get_or_not_found(&self, key: impl Into<M::Key>) -> Result<Obj<M>> {
        let key = key.into();
        self.get(key.clone())?
            .ok_or_else(|| crate::session::not_found::<M>(&key))
    }

    /// Wrap this query's row selection for counting: plain queries count
    /// directly, limited or grouped ones through a subquery.
    fn counting(&self, expr: Expr) -> Select {
        let base = self.one_row_per_object();
        let s = &base;
        let needs_subquery = s.limit.is_some()
            || s.offset.is_some()
            || s.distinct
            || !s.group_by.is_empty()
            || s.having.is_some();
        if needs_subquery {
            let mut inner = base.clone();
            inner.order_by.clear();
            if inner.columns.is_empty() {
                inner.columns = statements::select_columns(M::table(), M::table().name);
            }
            let mut outer = Select::new(TableRef::new("anon_1"));
            outer.from_select = Some(Box::new(inner));
            outer.columns = vec![expr];
            outer
        } else {
            let mut outer = base;
            outer.order_by.clear();
            outer.columns = vec![expr];
            outer
        }
    }

    fn scalar<T: ColumnType>(&self, select: Select) -> Result<T> {
        let inner = &self.session.inner;
        inner.autoflush()?;
        let w = writer::write(&Statement::Select(select), self.session.inner.dialect())?;
        let mut rows: Vec<(T,)> = inner
            .load_tuples(&w.sql, &w.params, M::table().name)
            .map_err(|e| e.with_table(M::table()))?;
        match rows.pop() {
            Some((v,)) => Ok(v),
            None => Err(Error::NotFound {
                model: M::table().model,
                key: None,
            }),
        }
    }

    /// How many rows match (respecting limit, offset and distinct).
    ///
    /// # Errors
    ///
    /// Database errors.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64 }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<User>().open("sqlite://")?;
    /// db.create_all()?;
    /// let s = db.session();
    /// s.add_all([User::default(), User::default(), User::default()])?;
    /// assert_eq!(s.query::<User>().count()?, 3);
    /// assert_eq!(s.query::<User>().limit(2).count()?, 2);
    /// # Ok(()) }
    /// ```
    pub fn count(&self) -> Result<u64> {
        let n: i64 = self.scalar(self.counting(Expr::CountStar))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Whether any row matches.
    ///
    /// # Errors
    ///
    /// Database errors.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64 }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<User>().open("sqlite://")?;
    /// db.create_all()?;
    /// assert!(!db.session().query::<User>().exists()?);
    /// # Ok(()) }
    /// ```
    pub fn exists(&self) -> Result<bool> {
        let mut inner = self.one_row_per_object();
        inner.columns = vec![Expr::Value(Value::Integer(1))];
        inner.order_by.clear();
        let mut outer = Select::new(TableRef::new(M::table().name));
        outer.from_select = None;
        outer.columns = vec![Expr::Exists {
            select: Box::new(inner),
            negated: false,
        }];
        outer.no_from = true;
        self.scalar::<bool>(outer)
    }

    /// The value of one aggregate over the matching rows.
    ///
    /// # Errors
    ///
    /// Database and conversion errors.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct Line { #[orm(primary_key)] id: i64, amount: i64 }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<Line>().open("sqlite://")?;
    /// db.create_all()?;
    /// let s = db.session();
    /// assert_eq!(s.query::<Line>().aggregate(Line::amount.sum())?, None);
    /// s.add_all([3, 4].map(|amount| Line { amount, ..Default::default() }))?;
    /// assert_eq!(s.query::<Line>().aggregate(Line::amount.sum())?, Some(7));
    /// assert_eq!(s.query::<Line>().aggregate(Line::amount.max())?, Some(4));
    /// assert_eq!(s.query::<Line>().aggregate(Line::amount.avg())?, Some(3.5));
    /// # Ok(()) }
    /// ```
    pub fn aggregate<T: ColumnType>(&self, aggregate: Aggregate<T>) -> Result<T> {
        self.scalar(self.counting(aggregate.expr))
    }

    /// One page of results, with the total and navigation numbers
    /// (Flask-SQLAlchemy's `paginate`). Pages count from 1.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] (a web app's 404) when `page` or `per_page` is 0,
    /// or `page` is past the last page. Page 1 of an empty result is an
    /// empty page, not an error.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64 }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<User>().open("sqlite://")?;
    /// db.create_all()?;
    /// let s = db.session();
    /// s.add_all((0..25).map(|_| User::default()))?;
    /// let page = s.query::<User>().order_by(User::id).paginate(2, 10)?;
    /// assert_eq!((page.items.len(), page.total, page.pages()), (10, 25, 3));
    /// assert_eq!((page.prev_num(), page.next_num()), (Some(1), Some(3)));
    /// assert!(s.query::<User>().paginate(4, 10).unwrap_err().is_not_found());
    /// # Ok(()) }
    /// ```
    pub fn paginate(&self, page: u64, per_page: u64) -> Result<Page<Obj<M>>> {
        let not_found = |what: String| Error::NotFound {
            model: M::table().model,
            key: Some(what),
        };
        if page == 0 {
            return Err(not_found("page 0 (pages count from 1)".into()));
        }
        if per_page == 0 {
            return Err(not_found("a page of 0 items".into()));
        }
        let total = self.count()?;
        let offset = (page - 1).saturating_mul(per_page);
        if page > 1 && offset >= total {
            return Err(not_found(format!("page {page} (past the last page)")));
        }
        let items = self.clone().limit(per_page).offset(offset).all()?;
        Ok(Page {
            items,
            page,
            per_page,
            total,
        })
    }

    /// Run `UPDATE ... SET ... WHERE <filters>` in the session's transaction
    /// (commit to keep it) and return the number of rows changed.
    ///
    /// Objects of `M` already in the session whose rows were changed are
    /// expired, so their next access reads the new values. Only filters
    /// apply: limit, offset, ordering and joins are refused.
    ///
    /// # Errors
    ///
    /// [`Error::Usage`] for a query with limit, offset, ordering, grouping or
    /// joins; database errors.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64, active: bool }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<User>().open("sqlite://")?;
    /// db.create_all()?;
    /// let s = db.session();
    /// let u = s.add(User { active: true, ..Default::default() })?;
    /// let n = s.query::<User>().filter(User::active.eq(true)).update([User::active.set(false)])?;
    /// s.commit()?;
    /// assert_eq!(n, 1);
    /// assert!(!u.read()?.active); // expired by the bulk update, reloaded
    /// # Ok(()) }
    /// ```
    pub fn update(&self, assignments: impl IntoIterator<Item = Assignment<M>>) -> Result<usize> {
        self.check_bulk("update")?;
        let t = M::table();
        let mut set: Vec<_> = assignments
            .into_iter()
            .map(|a| (a.column.into(), a.value))
            .collect();
        if set.is_empty() {
            return Ok(0);
        }
        crate::schema::statements::bump_version(t, &mut set);
        let stmt = Statement::Update(Update {
            table: t.name.into(),
            set,
            filter: self.soft_select().filter,
            returning: t.primary_key_columns().map(|c| c.name.into()).collect(),
        });
        self.session.inner.bulk::<M>(&stmt, false)
    }

    /// Run `DELETE ... WHERE <filters>` in the session's transaction (commit
    /// to keep it) and return the number of rows deleted. For a model with
    /// `#[orm(soft_delete)]` it is `UPDATE ... SET "deleted_at" = <now>
    /// WHERE <filters> AND "deleted_at" IS NULL` instead (see
    /// [`hard_delete`](Self::hard_delete)).
    ///
    /// Objects of `M` in the session whose rows were deleted become detached.
    /// Relationship cascades do not run: the database's own `ON DELETE`
    /// rules apply.
    ///
    /// # Errors
    ///
    /// As [`update`](Self::update).
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64, active: bool }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<User>().open("sqlite://")?;
    /// db.create_all()?;
    /// let s = db.session();
    /// let u = s.add(User { active: false, ..Default::default() })?;
    /// assert_eq!(s.query::<User>().filter(User::active.eq(false)).delete()?, 1);
    /// s.commit()?;
    /// assert_eq!(u.state(), ObjState::Detached);
    /// # Ok(()) }
    /// ```
    pub fn delete(&self) -> Result<usize> {
        self.check_bulk("delete")?;
        let t = M::table();
        let Some(sd) = t.soft_delete else {
            return self.hard_delete();
        };
        let stamp = (sd.stamp)().map_err(|e| Error::Conversion {
            table: t.name.to_owned(),
            column: t.columns[sd.column].name.to_owned(),
            message: e.to_string(),
        })?;
        let mut filter = self.select.filter.clone();
        if let Some(cond) = Self::live(t, t.name) {
            filter = Some(match filter {
                Some(f) => Expr::and(f, cond),
                None => cond,
            });
        }
        let mut set = vec![(t.columns[sd.column].name.into(), Expr::Value(stamp))];
        crate::schema::statements::bump_version(t, &mut set);
        let stmt = Statement::Update(Update {
            table: t.name.into(),
            set,
            filter,
            returning: t.primary_key_columns().map(|c| c.name.into()).collect(),
        });
        self.session.inner.bulk::<M>(&stmt, true)
    }

    /// `DELETE ... WHERE <filters>`, also for a model with
    /// `#[orm(soft_delete)]` (its rows really go, soft-deleted or not;
    /// otherwise as [`delete`](Self::delete)).
    ///
    /// # Errors
    ///
    /// As [`update`](Self::update).
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// #[orm(soft_delete)]
    /// struct Note { #[orm(primary_key)] id: i64, deleted_at: Option<i64> }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<Note>().open("sqlite://")?;
    /// db.create_all()?;
    /// let s = db.session();
    /// let n = s.add(Note::default())?;
    /// s.commit()?;
    /// s.delete(&n)?;
    /// s.commit()?;
    /// assert_eq!(s.query::<Note>().with_deleted().hard_delete()?, 1);
    /// s.commit()?;
    /// assert_eq!(s.query::<Note>().with_deleted().count()?, 0);
    /// # Ok(()) }
    /// ```
    pub fn hard_delete(&self) -> Result<usize> {
        self.check_bulk("delete")?;
        let t = M::table();
        let stmt = Statement::Delete(Delete {
            table: t.name.into(),
            filter: self.soft_select().filter,
            returning: t.primary_key_columns().map(|c| c.name.into()).collect(),
        });
        self.session.inner.bulk::<M>(&stmt, true)
    }

    fn check_bulk(&self, what: &str) -> Result<()> {
        let s = &self.select;
        if s.limit.is_some()
            || s.offset.is_some()
            || !s.order_by.is_empty()
            || !s.joins.is_empty()
            || !s.group_by.is_empty()
            || s.having.is_some()
            || s.distinct
        {
            return Err(Error::Usage(format!(
                "a bulk {what} applies filters only; remove limit, offset, order_by, joins and grouping"
            )));
        }
        Ok(())
    }
}
