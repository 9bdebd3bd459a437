//! Migrations: what Flask-Migrate (Alembic) gives a Flask app. The schema
//! of a live database is read ([`Schema::read`]), compared with the
//! registered models ([`Database::check_schema`](crate::Database::check_schema)),
//! and the differences written as a reviewable revision; revisions are
//! applied in order ([`Migrator`]) and the database records the one it is
//! at. The application's own binary runs the commands ([`Command`]), and
//! [`diagram`] draws the models.
//!
//! # The pipeline
//!
//! 1. **Describe** both sides as one [`Schema`]: the models through the
//!    very statements `create_all` runs (`describe.rs`), the database
//!    through its catalog (`reflect.rs`: SQLite's `sqlite_master` and
//!    `pragma_*` functions, PostgreSQL's `pg_catalog`).
//! 2. **Compare** (`compare.rs`, plain data, no database): the ordered
//!    list of [`Op`]s that takes the database to the models. Each op holds
//!    both sides, so its [`inverse`](Op::inverse) is the downgrade.
//! 3. **Render** (`render.rs`): ops as `sql::ast` statements for the
//!    dialect: `ALTER TABLE` in place on PostgreSQL; on SQLite, whose
//!    `ALTER TABLE` only adds columns, one table rebuild per changed table.
//! 4. **Write** the revision file (`runner.rs`, format in `revision.rs`):
//!    a header (id, parent, message, dialect), the changes and what a
//!    reviewer must decide (renames that look like drop + add, data
//!    lost), then the `upgrade` and `downgrade` SQL.
//! 5. **Run** (`runner.rs`): the revisions between the database's revision
//!    and the target in one transaction, the version table updated after
//!    each; foreign keys off around SQLite rebuilds (outside the
//!    transaction, where SQLite obeys it) and checked before COMMIT. A
//!    failure rolls everything back and is explained by the rows that
//!    stand in the way ([`Error::MigrationRows`](crate::Error::MigrationRows)).
//!
//! # Why revisions are SQL files
//!
//! A revision is the SQL that will run, not a program that produces it:
//! what the reviewer reads is what the database gets, a database
//! administrator can review it without knowing Rust, a data migration is
//! one more statement, and a new revision is usable at once (`db
//! upgrade` reads the folder) without recompiling the application between
//! generating and applying it. A deployed binary carries its revisions
//! inside it ([`embed_migrations!`](crate::embed_migrations) includes the
//! folder at compile time), so production needs no files beside the
//! binary. The price: a revision is written for one database (its header
//! says which, and running it on another is refused), so generate
//! revisions against the kind of database you deploy on.

mod command;
mod compare;
mod describe;
mod diagram;
mod reflect;
mod render;
mod revision;
mod runner;

pub use command::Command;
pub use compare::{Op, VERSION_TABLE};
pub use describe::{ColumnDefault, ForeignKey, Index, Schema, Table, TableColumn, Unique};
pub use diagram::diagram;
pub use revision::{Migrations, Revision};
pub use runner::{Migrator, NewRevision};

pub(crate) use compare::compare;
pub(crate) use reflect::table_names as reflect_table_names;

impl Schema {
    /// The schema of the database `db` is connected to: its tables
    /// (except SQLite's own), their columns, keys, UNIQUE constraints,
    /// indexes and foreign keys. On PostgreSQL, the first schema of the
    /// search path.
    ///
    /// # Errors
    ///
    /// Database errors; [`Error::Usage`](crate::Error::Usage) for a backend
    /// whose dialect does not say how to read its catalog.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64, #[orm(max_length = 50, unique)] username: String }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<User>().open("sqlite://")?;
    /// db.create_all()?;
    /// let live = orm::migrate::Schema::read(&db)?;
    /// assert_eq!(live.table("user").unwrap().uniques[0].columns, ["username"]);
    /// # Ok(()) }
    /// ```
    pub fn read(db: &crate::Database) -> crate::Result<Schema> {
        db.live_schema()
    }
}
