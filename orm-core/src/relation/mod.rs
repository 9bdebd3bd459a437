//! Relationships at run time: typed handles, loading, and in-memory sync.

mod handle;

pub use handle::{BelongsTo, HasMany, HasOne, ManyToMany};
