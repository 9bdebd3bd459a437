//! The runtime of [`session-orm`](https://docs.rs/session-orm) (library
//! `orm`): schema metadata, the SQL writer, typed queries and the session /
//! unit of work over rusqlite.
//!
//! Use it through `session-orm` (`use orm::prelude::*;`), whose
//! documentation is the guide; this crate's items are re-exported there.
//! `__private` and every `#[doc(hidden)]` item serve the derive's generated
//! code and the fuzz targets: they are not public API.
#![warn(missing_docs)]
// docs.rs (and CI's docs step) pass `--cfg docsrs`: every `#[cfg(feature)]`
// public item then carries an "Available on crate feature ... only" badge.
// Put the `cfg` on the public item itself (an impl, a module), not on a
// private module around it or on a macro call: the badge would then be
// missing from the `orm` facade's pages, which inline this crate's items.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod backend;
mod database;
mod error;
pub mod migrate;
mod model;
mod observe;
pub mod query;
pub mod relation;
#[cfg(feature = "tokio")]
mod runtime;
pub mod schema;
#[cfg(feature = "serde")]
mod serialize;
mod session;
mod sql;
pub mod types;
mod url;
#[cfg(feature = "axum")]
pub mod web;

pub use backend::{Isolation, JournalMode, Synchronous};
pub use database::{Database, DatabaseBuilder, SchemaCheck};
pub use error::{BlockingRows, ConstraintKind, DriverError, Error, Result, RowProblem};
pub use model::{Model, PrimaryKey};
pub use observe::{RecordedStatement, Recorder};
pub use orm_derive::{Model, SqlEnum, embed_migrations};
pub use query::{Column, ModelQuery, Query};
pub use relation::{BelongsTo, HasMany, HasOne, ManyToMany};
pub use session::{
    Addable, Hooks, Obj, ObjState, Savepoint, Session, TransactionOptions, Upserted,
};
pub use types::ColumnType;

/// The rusqlite version `orm`'s SQLite backend is built on, for
/// [`Session::with_connection`].
pub use rusqlite;

/// The names most programs need: `use orm::prelude::*;`.
pub mod prelude {
    pub use crate::query::{ModelQuery, TextOps};
    pub use crate::relation::{joined, selectin};
    pub use crate::{
        ColumnType, ConstraintKind, Database, Error, Model, Obj, ObjState, Session, SqlEnum,
    };
}

#[doc(hidden)]
pub mod __fuzz;

#[doc(hidden)]
pub mod __private {
    pub use crate::model::private::*;
    pub use crate::query::column::{ForeignKeyOf, ForeignKeyTarget, foreign_key_target};
    pub use crate::schema::ColumnSet;
    pub use crate::session::{ChildExtra, HookFns, LazyExtra, ModelOps};
}
