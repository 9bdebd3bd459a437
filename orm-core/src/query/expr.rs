//! Conditions and orderings built from typed columns.
//!
//! `User::age.gt(30) & User::name.starts_with("J")` builds a [`Condition`];
//! comparing a column with a value of another type does not compile. Values
//! always become bound parameters.

use std::marker::PhantomData;
use std::ops::{BitAnd, BitOr, Not};

use super::column::Column;
use crate::model::Model;
use crate::sql::ast::{BinOp, Expr, Func, TextAt};
use crate::types::{ColumnType, Value};

/// A Rust value that can be compared with a column of type `T`: `T` itself,
/// `&str` for text columns, and a plain value for an `Option` column.
///
/// # Examples
///
/// ```
/// use orm::query::IntoSqlValue;
/// use orm::types::Value;
///
/// assert_eq!(IntoSqlValue::<String>::into_sql_value("ann"), Ok(Value::Text("ann".into())));
/// assert_eq!(IntoSqlValue::<Option<i64>>::into_sql_value(5i64), Ok(Value::Integer(5)));
/// assert_eq!(IntoSqlValue::<Option<i64>>::into_sql_value(None::<i64>), Ok(Value::Null));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be compared with a column of type `{T}`",
    label = "expected a value of type `{T}`",
    note = "convert the value first (for example with `.into()`, `as i64` or `.to_string()`)"
)]
pub trait IntoSqlValue<T> {
    /// The bound value.
    ///
    /// # Errors
    ///
    /// When the value cannot be stored (for example NaN).
    fn into_sql_value(self) -> Result<Value, crate::types::ConversionError>;
}

impl<T: ColumnType> IntoSqlValue<T> for T {
    fn into_sql_value(self) -> Result<Value, crate::types::ConversionError> {
        self.to_sql().map(crate::types::to_owned_value)
    }
}

impl<T: ColumnType> IntoSqlValue<Option<T>> for T {
    fn into_sql_value(self) -> Result<Value, crate::types::ConversionError> {
        self.to_sql().map(crate::types::to_owned_value)
    }
}

impl<T: ColumnType + Clone> IntoSqlValue<T> for &T {
    fn into_sql_value(self) -> Result<Value, crate::types::ConversionError> {
        self.to_sql().map(crate::types::to_owned_value)
    }
}

impl IntoSqlValue<String> for &str {
    fn into_sql_value(self) -> Result<Value, crate::types::ConversionError> {
        Ok(Value::Text(self.to_owned()))
    }
}

impl IntoSqlValue<Option<String>> for &str {
    fn into_sql_value(self) -> Result<Value, crate::types::ConversionError> {
        Ok(Value::Text(self.to_owned()))
    }
}

impl IntoSqlValue<Vec<u8>> for &[u8] {
    fn into_sql_value(self) -> Result<Value, crate::types::ConversionError> {
        Ok(Value::Blob(self.to_vec()))
    }
}

fn value_expr<T, V: IntoSqlValue<T>>(v: V) -> Expr {
    match v.into_sql_value() {
        Ok(v) => Expr::Value(v),
        Err(e) => invalid_value(e),
    }
}

fn invalid_value(e: crate::types::ConversionError) -> Expr {
    Expr::Invalid(format!("a query value cannot be used: {e}"))
}

/// How many levels of AND, OR and NOT a [`Condition`] may nest. Lists do
/// not count their length (`Condition::all` of any number of conditions is
/// one level), so only conditions built inside each other reach this.
/// Cloning and dropping a condition recurse (about 2 KiB of stack a level
/// in a debug build), so this keeps them far from the end of a 2 MiB
/// thread stack; the writer itself does not recurse on these levels.
pub(crate) const MAX_CONDITION_DEPTH: u32 = 128;

fn too_deep() -> Expr {
    Expr::Invalid(format!(
        "a condition is nested more than {MAX_CONDITION_DEPTH} levels deep (AND, OR and NOT \
         inside each other); build long lists with Condition::all / Condition::any or chained \
         .filter() calls, which stay flat at any length"
    ))
}

/// An SQL expression node, opaque outside the crate (used by the query
/// traits' hidden methods).
#[doc(hidden)]
#[derive(Debug, Clone, PartialEq)]
pub struct ExprNode(pub(crate) Expr);

/// A boolean condition, for [`Query::filter`](crate::Query::filter).
/// Combine with `&` (and), `|` (or) and `!` (not).
///
/// Conditions joined by the same operator form one flat list, of any
/// length (`a & b & c`, [`Condition::all`], chained `filter` calls).
/// Conditions nested inside each other (`a | (b & (c | ...))`, `!` of a
/// list) may go 128 levels deep; a deeper condition makes the query fail
/// with [`Error::Usage`](crate::Error::Usage) when it runs.
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
/// let session = db.session();
/// let q = session
///     .query::<User>()
///     .filter((User::age.ge(18) & User::age.lt(65)) | !User::name.eq("root"));
/// let (sql, params) = q.to_sql()?;
/// assert_eq!(
///     sql,
///     r#"SELECT "user"."id", "user"."name", "user"."age" FROM "user" WHERE "user"."age" >= ? AND "user"."age" < ? OR NOT "user"."name" = ?"#
/// );
/// assert_eq!(params.len(), 3);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub(crate) expr: Expr,
    /// Levels of AND / OR lists and NOT in `expr` (0 for a comparison),
    /// kept so combining never has to walk the tree.
    depth: u32,
}

impl Condition {
    /// A condition without AND, OR or NOT at its top.
    pub(crate) fn leaf(expr: Expr) -> Condition {
        Condition { expr, depth: 0 }
    }

    /// `self AND other` (`and`) or `self OR other`, one flat list when
    /// either side already is one of the same kind.
    fn combine(self, other: Condition, and: bool) -> Condition {
        let is_list = |c: &Condition| match c.expr {
            Expr::And(_) => and,
            Expr::Or(_) => !and,
            _ => false,
        };
        // A side that is a list of the same kind gives its items, which
        // sit one level below the list, to the result.
        let depth = match (is_list(&self), is_list(&other)) {
            (true, true) => self.depth.max(other.depth),
            (true, false) => self.depth.max(other.depth + 1),
            (false, true) => (self.depth + 1).max(other.depth),
            (false, false) => self.depth.max(other.depth) + 1,
        };
        if depth > MAX_CONDITION_DEPTH {
            return Condition::leaf(too_deep());
        }
        let expr = if and {
            Expr::and(self.expr, other.expr)
        } else {
            Expr::or(self.expr, other.expr)
        };
        Condition { expr, depth }
    }

    /// Both conditions.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64, age: i64 }
    /// let c = User::age.gt(1).and(User::age.lt(9));
    /// assert_eq!(c, User::age.gt(1) & User::age.lt(9));
    /// ```
    pub fn and(self, other: Condition) -> Condition {
        self.combine(other, true)
    }

    /// Either condition.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64, age: i64 }
    /// let c = User::age.lt(1).or(User::age.gt(9));
    /// assert_eq!(c, User::age.lt(1) | User::age.gt(9));
    /// ```
    pub fn or(self, other: Condition) -> Condition {
        self.combine(other, false)
    }

    /// The negation. Negating a negation gives back the condition itself
    /// (in SQL's three-valued logic `NOT NOT x` is `x`, NULL included).
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64, age: i64 }
    /// assert_eq!(User::age.gt(1).not(), !User::age.gt(1));
    /// assert_eq!(User::age.gt(1).not().not(), User::age.gt(1));
    /// ```
    #[allow(clippy::should_implement_trait)]
    pub fn not(self) -> Condition {
        match self.expr {
            Expr::Not(inner) => Condition {
                expr: *inner,
                depth: self.depth.saturating_sub(1),
            },
            _ if self.depth >= MAX_CONDITION_DEPTH => Condition::leaf(too_deep()),
            expr => Condition {
                expr: Expr::Not(Box::new(expr)),
                depth: self.depth + 1,
            },
        }
    }

    /// Every condition (true when the list is empty). However many there
    /// are, they make one flat list, written so that SQLite accepts it.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// use orm::query::Condition;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64, age: i64 }
    /// let c = Condition::all([User::age.gt(1), User::age.lt(9)]);
    /// assert_eq!(c, User::age.gt(1) & User::age.lt(9));
    /// ```
    pub fn all(conds: impl IntoIterator<Item = Condition>) -> Condition {
        conds
            .into_iter()
            .reduce(Condition::and)
            .unwrap_or(Condition::leaf(Expr::Bool(true)))
    }

    /// Any condition (false when the list is empty), one flat list like
    /// [`all`](Self::all).
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// use orm::query::Condition;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64, age: i64 }
    /// let c = Condition::any([User::age.eq(1), User::age.eq(2)]);
    /// assert_eq!(c, User::age.eq(1) | User::age.eq(2));
    /// ```
    pub fn any(conds: impl IntoIterator<Item = Condition>) -> Condition {
        conds
            .into_iter()
            .reduce(Condition::or)
            .unwrap_or(Condition::leaf(Expr::Bool(false)))
    }
}

impl BitAnd for Condition {
    type Output = Condition;
    fn bitand(self, rhs: Condition) -> Condition {
        self.and(rhs)
    }
}

impl BitOr for Condition {
    type Output = Condition;
    fn bitor(self, rhs: Condition) -> Condition {
        self.or(rhs)
    }
}

impl Not for Condition {
    type Output = Condition;
    fn not(self) -> Condition {
        Condition::not(self)
    }
}

/// One ORDER BY term: `User::name.asc()`, `User::id.desc()`, or a bare
/// column (ascending).
///
/// # Examples
///
/// ```
/// use orm::prelude::*;
/// use orm::query::Order;
/// #[derive(Model, Debug, Default)]
/// struct User { #[orm(primary_key)] id: i64 }
/// let o: Order = User::id.into();
/// assert_eq!(o, User::id.asc());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    pub(crate) expr: Expr,
    pub(crate) desc: bool,
}

impl<M: Model, T> From<Column<M, T>> for Order {
    fn from(c: Column<M, T>) -> Order {
        c.asc()
    }
}

fn compare<T, V: IntoSqlValue<T>>(left: Expr, op: BinOp, v: V) -> Condition {
    let right = value_expr(v);
    // `= NULL` is never true in SQL; mean what SQLAlchemy's `== None` means.
    match (&right, op) {
        (Expr::Value(Value::Null), BinOp::Eq) => Condition::leaf(Expr::IsNull {
            expr: Box::new(left),
            negated: false,
        }),
        (Expr::Value(Value::Null), BinOp::Ne) => Condition::leaf(Expr::IsNull {
            expr: Box::new(left),
            negated: true,
        }),
        _ => Condition::leaf(Expr::binary(op, left, right)),
    }
}

impl<M: Model, T> Column<M, T> {
    pub(crate) fn expr(&self) -> Expr {
        Expr::column(M::table().name, self.name())
    }

    /// `column = value` (`IS NULL` when the value is `None`).
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64, name: String, nick: Option<String> }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<User>().open("sqlite://")?;
    /// let s = db.session();
    /// let (sql, params) = s.query::<User>().filter(User::name.eq("ann")).to_sql()?;
    /// assert!(sql.ends_with(r#"WHERE "user"."name" = ?"#));
    /// assert_eq!(params, [orm::types::Value::Text("ann".into())]);
    /// let (sql, _) = s.query::<User>().filter(User::nick.eq(None::<String>)).to_sql()?;
    /// assert!(sql.ends_with(r#"WHERE "user"."nick" IS NULL"#));
    /// # Ok(()) }
    /// ```
    pub fn eq<V: IntoSqlValue<T>>(self, value: V) -> Condition {
        compare(self.expr(), BinOp::Eq, value)
    }

    /// `column <> value` (`IS NOT NULL` when the value is `None`).
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64, name: String }
    /// let _ = User::name.ne("ann");
    /// ```
    pub fn ne<V: IntoSqlValue<T>>(self, value: V) -> Condition {
        compare(self.expr(), BinOp::Ne, value)
    }

    /// `column < value`.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64 }
    /// let _ = User::id.lt(10);
    /// ```
    pub fn lt<V: IntoSqlValue<T>>(self, value: V) -> Condition {
        compare(self.expr(), BinOp::Lt, value)
    }

    /// `column <= value`.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64 }
    /// let _ = User::id.le(10);
    /// ```
    pub fn le<V: IntoSqlValue<T>>(self, value: V) -> Condition {
        compare(self.expr(), BinOp::Le, value)
    }

    /// `column > value`.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64 }
    /// let _ = User::id.gt(10);
    /// ```
    pub fn gt<V: IntoSqlValue<T>>(self, value: V) -> Condition {
        compare(self.expr(), BinOp::Gt, value)
    }

    /// `column >= value`.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64 }
    /// let _ = User::id.ge(10);
    /// ```
    pub fn ge<V: IntoSqlValue<T>>(self, value: V) -> Condition {
        compare(self.expr(), BinOp::Ge, value)
    }

    /// `column BETWEEN low AND high` (both ends included).
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64, age: i64 }
    /// let _ = User::age.between(18, 65);
    /// ```
    pub fn between<V: IntoSqlValue<T>, W: IntoSqlValue<T>>(self, low: V, high: W) -> Condition {
        Condition::leaf(Expr::Between {
            expr: Box::new(self.expr()),
            low: Box::new(value_expr(low)),
            high: Box::new(value_expr(high)),
            negated: false,
        })
    }

    /// `column IN (values...)`: SQLAlchemy's `column.in_(values)`. An
    /// empty list matches nothing; a very long list is sent as one
    /// parameter, so any length works.
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
    /// let (sql, params) = db.session().query::<User>().filter(User::id.in_list([1, 2, 3])).to_sql()?;
    /// assert!(sql.ends_with(r#"WHERE "user"."id" IN (?, ?, ?)"#));
    /// assert_eq!(params.len(), 3);
    /// # Ok(()) }
    /// ```
    #[doc(alias = "in_")]
    pub fn in_list<V: IntoSqlValue<T>>(self, values: impl IntoIterator<Item = V>) -> Condition {
        self.in_list_impl(values, false)
    }

    /// `column NOT IN (values...)`. An empty list matches everything.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64 }
    /// let _ = User::id.not_in([1, 2]);
    /// ```
    #[doc(alias = "not_in_")]
    pub fn not_in<V: IntoSqlValue<T>>(self, values: impl IntoIterator<Item = V>) -> Condition {
        self.in_list_impl(values, true)
    }

    fn in_list_impl<V: IntoSqlValue<T>>(
        self,
        values: impl IntoIterator<Item = V>,
        negated: bool,
    ) -> Condition {
        let mut list = Vec::new();
        for v in values {
            match v.into_sql_value() {
                Ok(v) => list.push(v),
                Err(e) => return Condition::leaf(invalid_value(e)),
            }
        }
        Condition::leaf(Expr::InList {
            expr: Box::new(self.expr()),
            list,
            negated,
        })
    }

    /// Ascending order.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64 }
    /// let _ = User::id.asc();
    /// ```
    pub fn asc(self) -> Order {
        Order {
            expr: self.expr(),
            desc: false,
        }
    }

    /// Descending order.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64 }
    /// let _ = User::id.desc();
    /// ```
    pub fn desc(self) -> Order {
        Order {
            expr: self.expr(),
            desc: true,
        }
    }

    /// `column = other_column`, typically to compare columns of two models.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct Range { #[orm(primary_key)] id: i64, low: i64, high: i64 }
    /// let _ = Range::low.eq_column(Range::high);
    /// ```
    pub fn eq_column<N: Model>(self, other: Column<N, T>) -> Condition {
        Condition::leaf(Expr::binary(BinOp::Eq, self.expr(), other.expr()))
    }

    /// An assignment for [`Query::update`](crate::Query::update).
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64, active: bool }
    /// let _ = User::active.set(false);
    /// ```
    pub fn set<V: IntoSqlValue<T>>(self, value: V) -> Assignment<M> {
        Assignment {
            column: self.name(),
            value: value_expr(value),
            _model: PhantomData,
        }
    }

    /// `count(column)`: non-NULL values.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64, nick: Option<String> }
    /// let _ = User::nick.count();
    /// ```
    pub fn count(self) -> Aggregate<i64> {
        Aggregate::new(Func::Count, vec![self.expr()], false)
    }

    /// `count(DISTINCT column)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64, city: String }
    /// let _ = User::city.count_distinct();
    /// ```
    pub fn count_distinct(self) -> Aggregate<i64> {
        Aggregate::new(Func::Count, vec![self.expr()], true)
    }

    /// `min(column)`; `None` when there are no rows.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64, age: i64 }
    /// let _ = User::age.min();
    /// ```
    pub fn min(self) -> Aggregate<Option<T::Inner>>
    where
        T: Nullable,
    {
        Aggregate::new(Func::Min, vec![self.expr()], false)
    }

    /// `max(column)`; `None` when there are no rows.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64, age: i64 }
    /// let _ = User::age.max();
    /// ```
    pub fn max(self) -> Aggregate<Option<T::Inner>>
    where
        T: Nullable,
    {
        Aggregate::new(Func::Max, vec![self.expr()], false)
    }

    /// `sum(column)`; `None` when there are no rows.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct Line { #[orm(primary_key)] id: i64, amount: i64 }
    /// let _ = Line::amount.sum();
    /// ```
    pub fn sum(self) -> Aggregate<Option<T::Inner>>
    where
        T: Nullable,
        T::Inner: Numeric,
    {
        Aggregate::new(Func::Sum, vec![self.expr()], false)
    }

    /// `avg(column)`; `None` when there are no rows.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64, age: i64 }
    /// let _ = User::age.avg();
    /// ```
    pub fn avg(self) -> Aggregate<Option<f64>>
    where
        T: Nullable,
        T::Inner: Numeric,
    {
        Aggregate::new(Func::Avg, vec![self.expr()], false)
    }
}

impl<M: Model, T> Column<M, T> {
    /// `column IS NULL` for a column of any type: after an
    /// [`outer_join`](crate::Query::outer_join), true where the row has no
    /// related row (SQLAlchemy's `Post.id == None` in an anti-join).
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
    /// let (sql, _) = s.query::<User>().outer_join(User::posts).filter(Post::id.is_absent()).to_sql()?;
    /// assert!(sql.ends_with(r#"WHERE "post"."id" IS NULL"#));
    /// # Ok(()) }
    /// ```
    pub fn is_absent(self) -> Condition {
        Condition::leaf(Expr::IsNull {
            expr: Box::new(self.expr()),
            negated: false,
        })
    }
}

impl<M: Model, T> Column<M, Option<T>> {
    /// `column IS NULL` (only for `Option` columns).
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64, nick: Option<String> }
    /// let _ = User::nick.is_null();
    /// ```
    pub fn is_null(self) -> Condition {
        Condition::leaf(Expr::IsNull {
            expr: Box::new(self.expr()),
            negated: false,
        })
    }

    /// `column IS NOT NULL` (only for `Option` columns).
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64, nick: Option<String> }
    /// let _ = User::nick.is_not_null();
    /// ```
    pub fn is_not_null(self) -> Condition {
        Condition::leaf(Expr::IsNull {
            expr: Box::new(self.expr()),
            negated: true,
        })
    }
}

/// Text columns: LIKE, with and without escaping. In the prelude.
///
/// # Examples
///
/// ```
/// use orm::prelude::*;
/// #[derive(Model, Debug, Default)]
/// struct User { #[orm(primary_key)] id: i64, email: String }
///
/// # fn main() -> orm::Result<()> {
/// let db = Database::builder().model::<User>().open("sqlite://")?;
/// db.create_all()?;
/// let s = db.session();
/// s.add(User { email: "ann@example.com".into(), ..Default::default() })?;
/// assert_eq!(s.query::<User>().filter(User::email.ends_with("@example.com")).count()?, 1);
/// # Ok(()) }
/// ```
pub trait TextOps: Sized {
    #[doc(hidden)]
    fn text_expr(&self) -> ExprNode;

    /// `column LIKE pattern`, with `%` and `_` as wildcards (the pattern is
    /// still a bound parameter).
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// use orm::query::TextOps;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64, name: String }
    /// let _ = User::name.like("J%");
    /// ```
    fn like(self, pattern: &str) -> Condition {
        Condition::leaf(Expr::Like {
            expr: Box::new(self.text_expr().0),
            pattern: Box::new(Expr::Value(Value::Text(pattern.to_owned()))),
            escaped: false,
            negated: false,
        })
    }

    /// `column NOT LIKE pattern`.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// use orm::query::TextOps;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64, name: String }
    /// let _ = User::name.not_like("J%");
    /// ```
    fn not_like(self, pattern: &str) -> Condition {
        Condition::leaf(Expr::Like {
            expr: Box::new(self.text_expr().0),
            pattern: Box::new(Expr::Value(Value::Text(pattern.to_owned()))),
            escaped: false,
            negated: true,
        })
    }

    /// The text contains `s` literally: `%`, `_` and `\\` are ordinary
    /// characters, as are NUL bytes, and `s` may be of any length. ASCII
    /// letters match either case, as with SQLite's LIKE (SQLAlchemy's
    /// `contains`); other letters match exactly. NULL never matches.
    ///
    /// Written without LIKE (whose patterns stop at the first NUL and are
    /// limited to 50,000 bytes): `instr(lower(column), ?) > 0`.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// use orm::query::TextOps;
    /// #[derive(Model, Debug, Default)]
    /// struct Item { #[orm(primary_key)] id: i64, label: String }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<Item>().open("sqlite://")?;
    /// db.create_all()?;
    /// let s = db.session();
    /// s.add(Item { label: "100% Cotton".into(), ..Default::default() })?;
    /// s.add(Item { label: "1000 threads".into(), ..Default::default() })?;
    /// let hits = s.query::<Item>().filter(Item::label.contains("100%")).all()?;
    /// assert_eq!(hits.len(), 1);
    /// assert_eq!(s.query::<Item>().filter(Item::label.contains("COTTON")).count()?, 1);
    /// # Ok(()) }
    /// ```
    fn contains(self, s: &str) -> Condition {
        text_match(self.text_expr(), s, TextAt::Anywhere)
    }

    /// The text starts with `s` literally (matching as
    /// [`contains`](Self::contains) does).
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// use orm::query::TextOps;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64, name: String }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<User>().open("sqlite://")?;
    /// db.create_all()?;
    /// let s = db.session();
    /// s.add(User { name: "J_Doe".into(), ..Default::default() })?;
    /// s.add(User { name: "JaDoe".into(), ..Default::default() })?;
    /// assert_eq!(s.query::<User>().filter(User::name.starts_with("J_")).count()?, 1);
    /// # Ok(()) }
    /// ```
    fn starts_with(self, s: &str) -> Condition {
        text_match(self.text_expr(), s, TextAt::Start)
    }

    /// The text ends with `s` literally (matching as
    /// [`contains`](Self::contains) does).
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// use orm::query::TextOps;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64, email: String }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<User>().open("sqlite://")?;
    /// db.create_all()?;
    /// let s = db.session();
    /// s.add(User { email: "ann@Example.com".into(), ..Default::default() })?;
    /// assert_eq!(s.query::<User>().filter(User::email.ends_with("@example.com")).count()?, 1);
    /// # Ok(()) }
    /// ```
    fn ends_with(self, s: &str) -> Condition {
        text_match(self.text_expr(), s, TextAt::End)
    }
}

fn text_match(expr: ExprNode, needle: &str, at: TextAt) -> Condition {
    Condition::leaf(Expr::TextMatch {
        expr: Box::new(expr.0),
        needle: needle.to_owned(),
        at,
    })
}

impl<M: Model> TextOps for Column<M, String> {
    fn text_expr(&self) -> ExprNode {
        ExprNode(self.expr())
    }
}

impl<M: Model> TextOps for Column<M, Option<String>> {
    fn text_expr(&self) -> ExprNode {
        ExprNode(self.expr())
    }
}

/// A column type seen through `Option`: `T` and `Option<T>` both have
/// `Inner = T`. Used by aggregates, which are NULL over no rows.
///
/// # Examples
///
/// ```
/// use orm::query::Nullable;
/// fn inner_of<T: Nullable>() -> &'static str { std::any::type_name::<T::Inner>() }
/// assert_eq!(inner_of::<Option<i64>>(), inner_of::<i64>());
/// ```
pub trait Nullable {
    /// The non-optional type.
    type Inner: ColumnType;
}

impl<T: ColumnType> Nullable for Option<T> {
    type Inner = T;
}

macro_rules! nullable {
    ($($t:ty),*) => {$(impl Nullable for $t { type Inner = $t; })*};
    (feature = $f:literal: $($t:ty),*) => {$(
        #[cfg(feature = $f)]
        impl Nullable for $t { type Inner = $t; }
    )*};
}
nullable!(
    i8,
    i16,
    i32,
    i64,
    u8,
    u16,
    u32,
    f32,
    f64,
    bool,
    String,
    Vec<u8>
);
nullable!(feature = "chrono":
    chrono::NaiveDate,
    chrono::NaiveDateTime,
    chrono::DateTime<chrono::Utc>
);
nullable!(feature = "time": time::Date, time::PrimitiveDateTime, time::OffsetDateTime);

/// Column types that `sum` and `avg` accept.
///
/// # Examples
///
/// ```
/// fn summable<T: orm::query::Numeric>() {}
/// summable::<i64>();
/// summable::<f64>();
/// ```
pub trait Numeric {}
macro_rules! numeric {
    ($($t:ty),*) => {$(impl Numeric for $t {})*};
}
numeric!(i8, i16, i32, i64, u8, u16, u32, f32, f64);

/// An aggregate over rows (`count(*)`, `sum(x)`, ...), producing a `T`.
/// Use it in [`Query::select`](crate::Query::select) and
/// [`Query::having`](crate::Query::having).
///
/// # Examples
///
/// ```
/// use orm::prelude::*;
/// use orm::query::count;
///
/// #[derive(Model, Debug, Default)]
/// struct Post { #[orm(primary_key)] id: i64, author: String }
///
/// # fn main() -> orm::Result<()> {
/// let db = Database::builder().model::<Post>().open("sqlite://")?;
/// db.create_all()?;
/// let s = db.session();
/// s.add_all(["ann", "ann", "bob"].map(|a| Post { author: a.into(), ..Default::default() }))?;
/// let rows: Vec<(String, i64)> = s
///     .query::<Post>()
///     .group_by(Post::author)
///     .having(count().gt(1))
///     .select((Post::author, count()))
///     .all()?;
/// assert_eq!(rows, [("ann".to_string(), 2)]);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate<T> {
    pub(crate) expr: Expr,
    _t: PhantomData<fn() -> T>,
}

impl<T> Aggregate<T> {
    fn new(func: Func, args: Vec<Expr>, distinct: bool) -> Self {
        Aggregate {
            expr: Expr::Func {
                func,
                args,
                distinct,
            },
            _t: PhantomData,
        }
    }
}

/// `count(*)`.
///
/// # Examples
///
/// ```
/// let c = orm::query::count();
/// # let _ = c;
/// ```
pub fn count() -> Aggregate<i64> {
    Aggregate {
        expr: Expr::CountStar,
        _t: PhantomData,
    }
}

impl<T: Nullable> Aggregate<T> {
    fn compare<V: IntoSqlValue<T::Inner>>(&self, op: BinOp, v: V) -> Condition {
        Condition::leaf(Expr::binary(op, self.expr.clone(), value_expr(v)))
    }

    /// `aggregate = value`.
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = orm::query::count().eq(3);
    /// ```
    pub fn eq<V: IntoSqlValue<T::Inner>>(self, v: V) -> Condition {
        self.compare(BinOp::Eq, v)
    }

    /// `aggregate <> value`.
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = orm::query::count().ne(3);
    /// ```
    pub fn ne<V: IntoSqlValue<T::Inner>>(self, v: V) -> Condition {
        self.compare(BinOp::Ne, v)
    }

    /// `aggregate < value`.
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = orm::query::count().lt(3);
    /// ```
    pub fn lt<V: IntoSqlValue<T::Inner>>(self, v: V) -> Condition {
        self.compare(BinOp::Lt, v)
    }

    /// `aggregate <= value`.
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = orm::query::count().le(3);
    /// ```
    pub fn le<V: IntoSqlValue<T::Inner>>(self, v: V) -> Condition {
        self.compare(BinOp::Le, v)
    }

    /// `aggregate > value`.
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = orm::query::count().gt(3);
    /// ```
    pub fn gt<V: IntoSqlValue<T::Inner>>(self, v: V) -> Condition {
        self.compare(BinOp::Gt, v)
    }

    /// `aggregate >= value`.
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = orm::query::count().ge(3);
    /// ```
    pub fn ge<V: IntoSqlValue<T::Inner>>(self, v: V) -> Condition {
        self.compare(BinOp::Ge, v)
    }

    /// Ascending order by the aggregate.
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = orm::query::count().asc();
    /// ```
    pub fn asc(self) -> Order {
        Order {
            expr: self.expr,
            desc: false,
        }
    }

    /// Descending order by the aggregate.
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = orm::query::count().desc();
    /// ```
    pub fn desc(self) -> Order {
        Order {
            expr: self.expr,
            desc: true,
        }
    }
}

/// `column = value` for [`Query::update`](crate::Query::update), made by
/// [`Column::set`].
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
/// s.add(User { active: true, ..Default::default() })?;
/// let off: orm::query::Assignment<User> = User::active.set(false);
/// assert_eq!(s.query::<User>().update([off])?, 1);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment<M> {
    pub(crate) column: &'static str,
    pub(crate) value: Expr,
    _model: PhantomData<fn() -> M>,
}
