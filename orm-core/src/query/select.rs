//! Selecting columns and aggregates instead of whole objects, and decoding
//! result rows into tuples.

use super::column::Column;
use super::expr::{Aggregate, ExprNode};
use crate::error::Result;
use crate::model::{FromRow, Model};
use crate::schema::TableDef;
use crate::session::Session;
use crate::sql::ast::{Select, Statement};
use crate::sql::writer;
use crate::types::{ColumnType, Value};

/// One selectable item: a column or an aggregate.
///
/// # Examples
///
/// ```
/// use orm::prelude::*;
/// use orm::query::{SelectItem, count};
/// #[derive(Model, Debug, Default)]
/// struct User { #[orm(primary_key)] id: i64 }
///
/// fn output<I: SelectItem>(_: I) -> &'static str { std::any::type_name::<I::Output>() }
/// assert_eq!(output(User::id), "i64");
/// assert_eq!(output(count()), "i64");
/// ```
pub trait SelectItem {
    /// The Rust type of its values.
    type Output: ColumnType;
    #[doc(hidden)]
    fn __expr(&self) -> ExprNode;
}

impl<M: Model, T: ColumnType> SelectItem for Column<M, T> {
    type Output = T;
    fn __expr(&self) -> ExprNode {
        ExprNode(self.expr())
    }
}

impl<T: ColumnType> SelectItem for Aggregate<T> {
    type Output = T;
    fn __expr(&self) -> ExprNode {
        ExprNode(self.expr.clone())
    }
}

/// What [`Query::select`](crate::Query::select) accepts: one item or a
/// tuple of up to 8.
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
/// let one: Vec<i64> = s.query::<User>().select(User::id).all()?;
/// let two: Vec<(i64, String)> = s.query::<User>().select((User::id, User::name)).all()?;
/// assert!(one.is_empty() && two.is_empty());
/// # Ok(()) }
/// ```
pub trait SelectList {
    /// The decoded row.
    type Output: FromRow;
    #[doc(hidden)]
    fn exprs(&self) -> Vec<ExprNode>;
}

impl<A: SelectItem> SelectList for A {
    type Output = A::Output;
    fn exprs(&self) -> Vec<ExprNode> {
        vec![self.__expr()]
    }
}

macro_rules! tuple_select {
    ($($t:ident $i:tt),+) => {
        impl<$($t: SelectItem),+> SelectList for ($($t,)+) {
            type Output = ($($t::Output,)+);
            fn exprs(&self) -> Vec<ExprNode> {
                vec![$(self.$i.__expr()),+]
            }
        }
    };
}
tuple_select!(A 0);
tuple_select!(A 0, B 1);
tuple_select!(A 0, B 1, C 2);
tuple_select!(A 0, B 1, C 2, D 3);
tuple_select!(A 0, B 1, C 2, D 3, E 4);
tuple_select!(A 0, B 1, C 2, D 3, E 4, F 5);
tuple_select!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
tuple_select!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);

/// A query that returns tuples, made by [`Query::select`](crate::Query::select).
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
/// let q: orm::query::TupleQuery<'_, _> = s.query::<User>().select(User::name);
/// assert_eq!(q.first()?, Some("ann".to_string()));
/// # Ok(()) }
/// ```
#[must_use = "a query does nothing until a terminal such as .all() runs it"]
pub struct TupleQuery<'s, L: SelectList> {
    session: &'s Session,
    select: Select,
    table: &'static TableDef,
    _list: std::marker::PhantomData<fn() -> L>,
}

impl<L: SelectList> std::fmt::Debug for TupleQuery<'_, L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.to_sql() {
            Ok((sql, _)) => write!(f, "TupleQuery({sql})"),
            Err(e) => write!(f, "TupleQuery(<invalid: {e}>)"),
        }
    }
}

impl<'s, L: SelectList> TupleQuery<'s, L> {
    pub(crate) fn new(session: &'s Session, select: Select, table: &'static TableDef) -> Self {
        TupleQuery {
            session,
            select,
            table,
            _list: std::marker::PhantomData,
        }
    }

    /// The SQL and parameters, without running it.
    ///
    /// # Errors
    ///
    /// When a value in the query cannot be used.
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
    /// let (sql, _) = db.session().query::<User>().select(User::name).to_sql()?;
    /// assert_eq!(sql, r#"SELECT "user"."name" FROM "user""#);
    /// # Ok(()) }
    /// ```
    pub fn to_sql(&self) -> Result<(String, Vec<Value>)> {
        let w = writer::write(
            &Statement::Select(self.select.clone()),
            self.session.inner.dialect(),
        )?;
        Ok((w.sql, w.params))
    }

    /// Every result row.
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
    /// s.add(User { name: "ann".into(), ..Default::default() })?;
    /// let names: Vec<String> = s.query::<User>().select(User::name).all()?;
    /// assert_eq!(names, ["ann"]);
    /// # Ok(()) }
    /// ```
    pub fn all(&self) -> Result<Vec<L::Output>> {
        let inner = &self.session.inner;
        inner.autoflush()?;
        let w = writer::write(
            &Statement::Select(self.select.clone()),
            self.session.inner.dialect(),
        )?;
        inner.load_tuples(&w.sql, &w.params, self.table.name)
    }

    /// The first result row (`LIMIT 1`), or `None`.
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
    /// assert_eq!(db.session().query::<User>().select(User::id).first()?, None);
    /// # Ok(()) }
    /// ```
    pub fn first(&self) -> Result<Option<L::Output>> {
        let inner = &self.session.inner;
        inner.autoflush()?;
        let mut select = self.select.clone();
        select.limit = Some(1);
        select.inline_limit = true;
        let w = writer::write(&Statement::Select(select), self.session.inner.dialect())?;
        Ok(inner
            .load_tuples(&w.sql, &w.params, self.table.name)?
            .into_iter()
            .next())
    }
}
