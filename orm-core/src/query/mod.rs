//! Typed queries: column handles, conditions, the query builder.

mod column;

pub use column::Column;
