//! placeholder, replaced below
pub use orm_core::*;
