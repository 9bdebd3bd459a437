//! Relationships at run time: typed handles, navigation and in-memory sync,
//! and eager loading options.
//!
//! The relationship state itself (slots on objects, loading, cascades, flush
//! integration) lives in the session; this module is the typed surface over
//! it.

mod handle;
pub(crate) mod loader;
mod navigate;

pub use handle::{
    BelongsTo, CollectionRelation, HasMany, HasOne, ManyToMany, Relation, ScalarRelation,
};
pub use loader::{Load, joined, selectin};
