//! # orm
//!
//! A synchronous, embeddable ORM for SQLite with what Flask-SQLAlchemy gives
//! Python developers: one plain struct per table, `create_all`, a session
//! with an identity map and a unit of work, typed queries, and
//! relationships with backrefs.
//!
//! ```
//! use orm::prelude::*;
//!
//! #[derive(Model, Debug, Default)]
//! struct User {
//!     #[orm(primary_key)]
//!     id: i64,
//!     #[orm(max_length = 50, unique)]
//!     username: String,
//!     #[orm(max_length = 120, unique)]
//!     email: String,
//! }
//!
//! # fn main() -> orm::Result<()> {
//! let db = Database::builder().model::<User>().open("sqlite://")?;
//! db.create_all()?;
//!
//! let session = db.session();
//! let john = session.add(User {
//!     username: "john".into(),
//!     email: "john@example.com".into(),
//!     ..Default::default()
//! })?;
//! session.commit()?;
//! assert_eq!(john.read()?.id, 1);
//!
//! let found = session.query::<User>().filter(User::username.eq("john")).one()?;
//! assert!(found == john); // the identity map: one object per row
//! # Ok(()) }
//! ```
//!
//! The full guide lives in the `orm-core` crate's documentation, re-exported
//! here.

pub use orm_core::*;

/// The README's code blocks run as doc tests, so the quickstart stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
