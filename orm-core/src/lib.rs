//! Core of the `orm` crate. Use it through `orm`: see that crate's
//! documentation for the guide.
#![warn(missing_docs)]

mod conn;
mod database;
mod error;
mod model;
pub mod query;
pub mod relation;
pub mod schema;
mod sql;
pub mod types;
mod url;

pub use conn::{JournalMode, RecordedStatement, Recorder, Synchronous};
pub use database::{Database, DatabaseBuilder};
pub use error::{ConstraintKind, Error, Result};
pub use model::{Model, PrimaryKey};
pub use orm_derive::{Model, SqlEnum};
pub use query::Column;
pub use relation::{BelongsTo, HasMany, HasOne, ManyToMany};
pub use types::ColumnType;

/// The names most programs need: `use orm::prelude::*;`.
pub mod prelude {
    pub use crate::{ColumnType, Database, Error, Model, SqlEnum};
}

#[doc(hidden)]
pub mod __private {
    pub use crate::model::ColumnSet;
    pub use crate::model::private::*;
}
