//! Relationships inside the session: per-object slots, loading (lazy and
//! eager share one path), keeping both ends in sync in memory, and
//! cascades. Turning assignments into foreign key values and association
//! rows at flush is the flush's `dependency` step.
//!
//! Module map: [`slots`] (what each object holds per relationship end, and
//! freeing reference cycles outside a session), [`sync`] (both ends in
//! memory: append, remove, set a parent), [`cascade`] (the save-update and
//! delete cascades, delete planning), [`load`] (loading one relationship
//! end for many owners: lazy loading, selectin loading and cascades share
//! it). Called by the typed relationship API (`crate::relation`), by
//! `Session::add` and `Session::delete`, by queries' eager loading, and by
//! the flush, whose `dependency` step reads the slots.

mod cascade;
pub(crate) mod load;
pub(crate) mod slots;
mod sync;
