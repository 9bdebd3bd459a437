//! Table and relationship metadata, DDL, and the registry of models.
//!
//! [`TableDef`] and [`RelationDef`] are what `#[derive(Model)]` emits; they
//! are public so generated code can build them and so tools can inspect a
//! model. Users rarely touch them directly.

pub(crate) mod ddl;
pub(crate) mod registry;
mod relation;
pub(crate) mod statements;
mod table;

pub(crate) use relation::LinkTable;
#[cfg(test)]
pub(crate) use relation::tests::{PETS, Stub};
pub use relation::{Cascade, Lazy, Link, RelationDef, RelationKind, Role, SecondaryLink, Side};
pub use table::{
    ColumnDef, ColumnSet, DefaultValue, FkAction, ForeignKeyDef, ForeignTarget, IndexDef,
    InsertDefault, SoftDelete, TableCache, TableDef,
};
