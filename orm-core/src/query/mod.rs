//! Typed queries: column handles, conditions, the query builder, pages,
//! tuple selects and raw SQL.
//!
//! Pipeline: [`Query`] builder -> statement AST -> SQLite writer -> `(sql,
//! params)` -> the session's cached prepared statement -> rows ->
//! `Model::__from_row` -> identity map (an object already in the session
//! wins).

mod builder;
pub(crate) mod column;
mod expr;
mod models;
mod page;
mod raw;
mod select;
mod stream;
mod upsert;

pub use crate::model::FromRow;
pub use builder::{ModelQuery, Query};
pub use column::Column;
pub use expr::{
    Aggregate, Assignment, Condition, ExprNode, IntoSqlValue, Nullable, Numeric, Order, TextOps,
    count,
};
#[doc(hidden)]
pub use models::Adopter;
pub use models::{ModelItem, ModelTuple, Models};
pub use page::Page;
pub use select::{SelectItem, SelectList, TupleQuery};
pub use stream::{DEFAULT_YIELD_PER, Iter, IterDetached};
pub use upsert::{Columns, Upsert};
