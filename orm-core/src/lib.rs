//! The runtime of the `orm` crate: schema metadata, the SQL writer, typed
//! queries and the session / unit of work over rusqlite.
//!
//! Use it through the `orm` crate (`use orm::prelude::*;`), whose
//! documentation is the guide; this crate's items are re-exported there.
#![warn(missing_docs)]

mod conn;
mod database;
mod error;
mod model;
pub mod query;
pub mod relation;
pub mod schema;
mod session;
mod sql;
pub mod types;
mod url;

pub use conn::{JournalMode, RecordedStatement, Recorder, Synchronous};
pub use database::{Database, DatabaseBuilder};
pub use error::{ConstraintKind, Error, Result};
pub use model::{Model, PrimaryKey};
pub use orm_derive::{Model, SqlEnum};
pub use query::{Column, ModelQuery, Query};
pub use relation::{BelongsTo, HasMany, HasOne, ManyToMany};
pub use session::{Addable, Obj, ObjState, Session};
pub use types::ColumnType;

/// The rusqlite version `orm` is built on, for [`Session::with_connection`]
/// and [`ColumnType`] implementations.
pub use rusqlite;

/// The names most programs need: `use orm::prelude::*;`.
pub mod prelude {
    pub use crate::query::{ModelQuery, TextOps};
    pub use crate::{
        ColumnType, ConstraintKind, Database, Error, Model, Obj, ObjState, Session, SqlEnum,
    };
}

#[doc(hidden)]
pub mod __fuzz;

#[doc(hidden)]
pub mod __private {
    pub use crate::model::ColumnSet;
    pub use crate::model::private::*;
    pub use crate::session::ModelOps;
}
