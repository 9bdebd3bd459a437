//! Relationships at run time: typed handles, loading, and in-memory sync.

mod handle;
pub(crate) mod loader;

pub use handle::{BelongsTo, HasMany, HasOne, ManyToMany};
