//! [`Dialect`]: what a database's SQL can do and the words it uses, as a
//! table of capabilities the SQL writer and the flush consult (toasty's
//! capability table, rather than SQLAlchemy's compiler subclasses: our
//! dialects differ in a handful of places, each a field here).

/// How parameters are written in SQL text.
///
/// # Examples
///
/// ```
/// use orm::backend::{Dialect, Placeholders};
/// assert_eq!(Dialect::SQLITE.placeholders(), Placeholders::Question);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Placeholders {
    /// `?` for every parameter (SQLite).
    Question,
    /// `$1`, `$2`, ... (PostgreSQL).
    Numbered,
}

/// How the flush learns the key the database generated for an inserted row.
///
/// # Examples
///
/// ```
/// use orm::backend::{Dialect, GeneratedKeys};
/// assert_eq!(Dialect::SQLITE.generated_keys(), GeneratedKeys::LastInsertRowid);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GeneratedKeys {
    /// Run the INSERT, then ask the connection for the last rowid (SQLite).
    LastInsertRowid,
    /// `INSERT ... RETURNING "key"` and read the row it returns.
    Returning,
}

/// How `contains` / `starts_with` / `ends_with` are written: a literal match
/// (no LIKE patterns), ASCII letters in either case.
///
/// # Examples
///
/// ```
/// use orm::backend::{Dialect, TextMatch};
/// assert_eq!(Dialect::SQLITE.text_match(), TextMatch::InstrBlob);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TextMatch {
    /// `instr(lower(col), ?) > 0`, and prefix or suffix compared as BLOBs,
    /// which count bytes (SQLite).
    InstrBlob,
    /// `strpos(lower(col), $1) > 0`, `left(..)` / `right(..)` by characters
    /// (PostgreSQL).
    Strpos,
}

/// How an upsert ([`Session::upsert`](crate::Session::upsert)) learns, per
/// row, whether it inserted or updated.
///
/// # Examples
///
/// ```
/// use orm::backend::{Dialect, UpsertReport};
/// assert_eq!(Dialect::SQLITE.upsert_report(), UpsertReport::ExistingKeys);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UpsertReport {
    /// Read which of the rows' unique values exist first, in the same write
    /// transaction (SQLite: its write lock keeps every other writer out
    /// between the two statements).
    ExistingKeys,
    /// `RETURNING ..., ("xmax" = 0)`: a row version the statement inserted
    /// has no locking transaction, one it updated was locked by this one
    /// (PostgreSQL's system column; true under concurrent writers too).
    Xmax,
}

/// Which column type names `CREATE TABLE` uses.
///
/// # Examples
///
/// ```
/// use orm::backend::{Dialect, TypeNames};
/// assert_eq!(Dialect::SQLITE.type_names(), TypeNames::Sqlite);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TypeNames {
    /// The declared names as they are (`INTEGER`, `DATETIME`, `BLOB`, ...),
    /// as SQLAlchemy writes them for SQLite.
    Sqlite,
    /// PostgreSQL's names, as SQLAlchemy writes them: `SERIAL` for a
    /// generated integer key, `BYTEA`, `TIMESTAMP WITHOUT TIME ZONE`, and
    /// the type's own name where it has one (`UUID`, `JSONB`).
    Postgres,
}

/// How migrations read a database's schema and change its tables
/// ([`orm::migrate`](crate::migrate)).
///
/// # Examples
///
/// ```
/// use orm::backend::{Dialect, SchemaEditing};
/// assert_eq!(Dialect::SQLITE.schema_editing(), SchemaEditing::SqliteRebuild);
/// // A dialect of your own reads no catalog until told how.
/// assert_eq!(Dialect::SQLITE.named("mine").schema_editing(), SchemaEditing::None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SchemaEditing {
    /// The schema cannot be read: migrations, the schema check and the
    /// drift warning at open are not available.
    None,
    /// SQLite: the schema is read from `sqlite_master` and the `pragma_*`
    /// table functions. `ALTER TABLE` adds columns only, so any other change
    /// rebuilds the table (create the new table, copy the rows, drop,
    /// rename, recreate indexes and triggers) with foreign keys switched
    /// off before the transaction and `PRAGMA foreign_key_check` before
    /// COMMIT.
    SqliteRebuild,
    /// PostgreSQL: the schema is read from `pg_catalog` (the first schema
    /// of the search path); columns and constraints change in place with
    /// `ALTER TABLE`.
    PostgresAlter,
}

/// What a database's SQL can do, and the words it uses for it.
///
/// The SQL writer and the unit of work read it; nothing above the backends
/// writes a dialect's words. [`Dialect::SQLITE`] and `Dialect::POSTGRES`
/// (feature `postgres`) are built in; a backend of your own starts from one
/// of them and changes what differs.
///
/// | | SQLite | PostgreSQL |
/// |---|---|---|
/// | placeholders | `?` | `$1, $2, ...` |
/// | generated keys | last rowid | `RETURNING` |
/// | opening a write transaction | `BEGIN IMMEDIATE` (takes the write lock) | `BEGIN` |
/// | booleans in SQL text | `1`, `0` | `TRUE`, `FALSE` |
/// | OFFSET without LIMIT | `LIMIT -1 OFFSET ?` | `OFFSET $n` |
/// | literal text match | `instr()`, BLOB prefix and suffix | `strpos()`, `left()`, `right()` |
/// | IN lists over 1,000 values | one JSON parameter (`json_each`) | one placeholder each (65,535 at most) |
/// | empty IN lists | `IN ()` | `= ANY('{}')` (`NOT IN ()`: `<> ALL('{}')`) |
/// | `avg()` | a REAL | cast to `DOUBLE PRECISION` (it is `NUMERIC`) |
/// | type names | as declared | `SERIAL`, `BYTEA`, `TIMESTAMP ...`, `UUID`, `JSONB` |
/// | locking reads (`FOR UPDATE`) | no: `begin()` locks the database | yes |
/// | sequences after explicit keys | not needed (rowid) | moved past the largest key |
/// | isolation levels | always serializable (one writer) | `BEGIN ISOLATION LEVEL ...` |
/// | schema changes (migrations) | table rebuilt, foreign keys off | `ALTER TABLE` in place |
/// | parameters per statement | 32,766 | 65,535 |
/// | keys per relationship-loading IN list | 500 | up to the parameter limit |
/// | upsert: inserted or updated | the unique values that existed, read first | `RETURNING ..., ("xmax" = 0)` |
/// | streaming a result | one statement stepped row by row | a cursor (`DECLARE`, `FETCH n`) |
///
/// # Examples
///
/// ```
/// use orm::backend::{Dialect, GeneratedKeys, Placeholders};
///
/// static MINE: Dialect = Dialect::SQLITE
///     .named("mine")
///     .with_placeholders(Placeholders::Numbered)
///     .with_generated_keys(GeneratedKeys::Returning);
/// assert_eq!(MINE.name(), "mine");
/// assert_eq!(MINE.placeholders(), Placeholders::Numbered);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialect {
    name: &'static str,
    /// Which per-table statement cache this dialect's text goes to: built-in
    /// dialects only, so two custom dialects never share cached SQL.
    cache_slot: Option<usize>,
    placeholders: Placeholders,
    generated_keys: GeneratedKeys,
    begin_write: &'static str,
    bool_literals: (&'static str, &'static str),
    limit_for_offset: Option<i64>,
    text_match: TextMatch,
    json_in_lists: bool,
    empty_in_lists: bool,
    cast_avg: Option<&'static str>,
    type_names: TypeNames,
    locking_reads: bool,
    sync_sequences: bool,
    isolation_levels: bool,
    schema_editing: SchemaEditing,
    max_params: usize,
    upsert_report: UpsertReport,
    cursors: bool,
    consecutive_keys: bool,
    multi_row_inserts: bool,
    load_keys: usize,
}

/// How many dialects have a per-table statement cache slot.
pub(crate) const CACHE_SLOTS: usize = 2;

impl Dialect {
    /// SQLite: `?` placeholders, keys from the last rowid, `BEGIN IMMEDIATE`.
    pub const SQLITE: Dialect = Dialect {
        name: "sqlite",
        cache_slot: Some(0),
        placeholders: Placeholders::Question,
        generated_keys: GeneratedKeys::LastInsertRowid,
        begin_write: "BEGIN IMMEDIATE",
        bool_literals: ("1", "0"),
        limit_for_offset: Some(-1),
        text_match: TextMatch::InstrBlob,
        json_in_lists: true,
        empty_in_lists: true,
        cast_avg: None,
        type_names: TypeNames::Sqlite,
        locking_reads: false,
        sync_sequences: false,
        isolation_levels: false,
        schema_editing: SchemaEditing::SqliteRebuild,
        // SQLITE_MAX_VARIABLE_NUMBER of the bundled build (and of every
        // SQLite since 3.32).
        max_params: 32_766,
        upsert_report: UpsertReport::ExistingKeys,
        cursors: false,
        consecutive_keys: true,
        // Without RETURNING, which costs more here than one statement per
        // row saves (insert/100 ×1.91 against ×1.63, BENCHMARKS.md): the
        // keys are read from the last rowid, after a check that the rows
        // take consecutive keys (`SqliteConn::rowid_mark`).
        multi_row_inserts: true,
        // SQLAlchemy's selectin size; over 1,000 keys an IN list would
        // become one JSON parameter anyway.
        load_keys: 500,
    };

    /// PostgreSQL: `$n` placeholders, keys through `RETURNING`, `BEGIN`,
    /// and the words of the table above.
    pub const POSTGRES: Dialect = Dialect {
        name: "postgresql",
        cache_slot: Some(1),
        placeholders: Placeholders::Numbered,
        generated_keys: GeneratedKeys::Returning,
        begin_write: "BEGIN",
        bool_literals: ("TRUE", "FALSE"),
        limit_for_offset: None,
        text_match: TextMatch::Strpos,
        json_in_lists: false,
        // `IN ()` is a syntax error in PostgreSQL.
        empty_in_lists: false,
        cast_avg: Some("DOUBLE PRECISION"),
        type_names: TypeNames::Postgres,
        locking_reads: true,
        sync_sequences: true,
        isolation_levels: true,
        schema_editing: SchemaEditing::PostgresAlter,
        // The wire protocol counts parameters in 16 bits.
        max_params: 65_535,
        upsert_report: UpsertReport::Xmax,
        cursors: true,
        consecutive_keys: false,
        // One round trip instead of one per row: ×0.20 of row-by-row at
        // 100 rows over loopback (BENCHMARKS.md).
        multi_row_inserts: true,
        // One round trip per relationship level: 5,000 parents' children
        // in one statement instead of ten (BENCHMARKS.md).
        load_keys: 65_535,
    };

    /// This dialect under another name (its statements are then written
    /// anew rather than taken from the built-in dialect's cache). The
    /// schema catalog is not assumed to be the built-in database's: see
    /// [`with_schema_editing`](Self::with_schema_editing).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(orm::backend::Dialect::SQLITE.named("x").name(), "x");
    /// ```
    pub const fn named(mut self, name: &'static str) -> Dialect {
        self.name = name;
        self.cache_slot = None;
        self.schema_editing = SchemaEditing::None;
        self
    }

    /// This dialect with another way of reading and changing the schema
    /// (for a backend that speaks SQLite's or PostgreSQL's catalog).
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::backend::{Dialect, SchemaEditing};
    /// let d = Dialect::SQLITE.named("libsql").with_schema_editing(SchemaEditing::SqliteRebuild);
    /// assert_eq!(d.schema_editing(), SchemaEditing::SqliteRebuild);
    /// ```
    pub const fn with_schema_editing(mut self, editing: SchemaEditing) -> Dialect {
        self.schema_editing = editing;
        self
    }

    /// How migrations read the schema and change tables.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::backend::{Dialect, SchemaEditing};
    /// assert_eq!(Dialect::POSTGRES.schema_editing(), SchemaEditing::PostgresAlter);
    /// ```
    pub const fn schema_editing(&self) -> SchemaEditing {
        self.schema_editing
    }

    /// This dialect with other placeholders.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::backend::{Dialect, Placeholders};
    /// let d = Dialect::SQLITE.with_placeholders(Placeholders::Numbered);
    /// assert_eq!(d.placeholders(), Placeholders::Numbered);
    /// ```
    pub const fn with_placeholders(mut self, placeholders: Placeholders) -> Dialect {
        self.placeholders = placeholders;
        self.cache_slot = None;
        self
    }

    /// This dialect with another way of reading generated keys.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::backend::{Dialect, GeneratedKeys};
    /// let d = Dialect::SQLITE.with_generated_keys(GeneratedKeys::Returning);
    /// assert_eq!(d.generated_keys(), GeneratedKeys::Returning);
    /// ```
    pub const fn with_generated_keys(mut self, keys: GeneratedKeys) -> Dialect {
        self.generated_keys = keys;
        self.cache_slot = None;
        self
    }

    /// This dialect with another statement opening a write transaction.
    ///
    /// # Examples
    ///
    /// ```
    /// let d = orm::backend::Dialect::SQLITE.with_begin_write("BEGIN");
    /// assert_eq!(d.begin_write(), "BEGIN");
    /// ```
    pub const fn with_begin_write(mut self, sql: &'static str) -> Dialect {
        self.begin_write = sql;
        self.cache_slot = None;
        self
    }

    /// The dialect's name.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(orm::backend::Dialect::SQLITE.name(), "sqlite");
    /// ```
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// How parameters are written.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::backend::{Dialect, Placeholders};
    /// assert_eq!(Dialect::SQLITE.placeholders(), Placeholders::Question);
    /// ```
    pub const fn placeholders(&self) -> Placeholders {
        self.placeholders
    }

    /// How generated keys are read back.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::backend::{Dialect, GeneratedKeys};
    /// assert_eq!(Dialect::SQLITE.generated_keys(), GeneratedKeys::LastInsertRowid);
    /// ```
    pub const fn generated_keys(&self) -> GeneratedKeys {
        self.generated_keys
    }

    /// The statement that opens a write transaction.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(orm::backend::Dialect::SQLITE.begin_write(), "BEGIN IMMEDIATE");
    /// ```
    pub const fn begin_write(&self) -> &'static str {
        self.begin_write
    }

    /// How literal text matches are written.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::backend::{Dialect, TextMatch};
    /// assert_eq!(Dialect::POSTGRES.text_match(), TextMatch::Strpos);
    /// ```
    pub const fn text_match(&self) -> TextMatch {
        self.text_match
    }

    /// Which type names `CREATE TABLE` uses.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::backend::{Dialect, TypeNames};
    /// assert_eq!(Dialect::POSTGRES.type_names(), TypeNames::Postgres);
    /// ```
    pub const fn type_names(&self) -> TypeNames {
        self.type_names
    }

    /// Whether `SELECT ... FOR UPDATE` locks rows.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::backend::Dialect;
    /// assert!(!Dialect::SQLITE.locking_reads());
    /// assert!(Dialect::POSTGRES.locking_reads());
    /// ```
    pub const fn locking_reads(&self) -> bool {
        self.locking_reads
    }

    /// The most parameters one statement may bind: multi-row statements
    /// ([`Session::bulk_insert`](crate::Session::bulk_insert)) are cut into
    /// chunks under it.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::backend::Dialect;
    /// assert_eq!(Dialect::SQLITE.max_params(), 32_766);
    /// assert_eq!(Dialect::POSTGRES.max_params(), 65_535);
    /// ```
    pub const fn max_params(&self) -> usize {
        self.max_params
    }

    /// This dialect with another parameter limit (at least 1).
    ///
    /// # Examples
    ///
    /// ```
    /// let d = orm::backend::Dialect::SQLITE.with_max_params(999);
    /// assert_eq!(d.max_params(), 999);
    /// ```
    pub const fn with_max_params(mut self, max: usize) -> Dialect {
        self.max_params = if max == 0 { 1 } else { max };
        self.cache_slot = None;
        self
    }

    /// How an upsert tells inserted rows from updated ones.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::backend::{Dialect, UpsertReport};
    /// assert_eq!(Dialect::POSTGRES.upsert_report(), UpsertReport::Xmax);
    /// ```
    pub const fn upsert_report(&self) -> UpsertReport {
        self.upsert_report
    }

    /// Whether results are streamed through SQL cursors (`DECLARE ...
    /// CURSOR`, `FETCH n`): PostgreSQL. SQLite steps one statement instead;
    /// another backend without cursors reads the whole result first.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::backend::Dialect;
    /// assert!(!Dialect::SQLITE.cursors());
    /// assert!(Dialect::POSTGRES.cursors());
    /// ```
    pub const fn cursors(&self) -> bool {
        self.cursors
    }

    /// Whether the unit of work sends the new rows of one table whose key
    /// the database generates as multi-row `INSERT ... VALUES (...), (...)`
    /// statements (SQLAlchemy's insertmanyvalues) rather than one INSERT
    /// per row. The keys come back through `RETURNING` (PostgreSQL: up to
    /// 1,000 rows a statement), or from the last rowid (SQLite: statements
    /// of 16 to 128 rows, a multiple of 8, whose rows take consecutive
    /// keys, which a check before each statement makes sure of; where it
    /// cannot, as with a trigger on the table, and for the few rows left
    /// over, one INSERT per row). [`Session::bulk_insert`](crate::Session::bulk_insert)
    /// is multi-row on every dialect.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::backend::Dialect;
    /// assert!(Dialect::SQLITE.multi_row_inserts());
    /// assert!(Dialect::POSTGRES.multi_row_inserts());
    /// assert!(!Dialect::POSTGRES.with_multi_row_inserts(false).multi_row_inserts());
    /// ```
    pub const fn multi_row_inserts(&self) -> bool {
        self.multi_row_inserts
    }

    /// This dialect with multi-row INSERTs in the unit of work on or off
    /// (see [`multi_row_inserts`](Self::multi_row_inserts)).
    ///
    /// # Examples
    ///
    /// ```
    /// let d = orm::backend::Dialect::POSTGRES.with_multi_row_inserts(false);
    /// assert!(!d.multi_row_inserts());
    /// ```
    pub const fn with_multi_row_inserts(mut self, on: bool) -> Dialect {
        self.multi_row_inserts = on;
        self
    }

    /// The most keys one relationship-loading statement lists (`WHERE fk IN
    /// (...)` of `selectin` loading and of the loads a delete cascade
    /// needs): 500 on SQLite, as SQLAlchemy's `selectinload` sends; on
    /// PostgreSQL as many as the parameter limit allows, so loading the
    /// children of 5,000 objects is one round trip. Never more than
    /// [`max_params`](Self::max_params) values in one statement.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::backend::Dialect;
    /// assert_eq!(Dialect::SQLITE.load_keys(), 500);
    /// assert_eq!(Dialect::POSTGRES.load_keys(), 65_535);
    /// assert_eq!(Dialect::POSTGRES.with_max_params(999).load_keys(), 999);
    /// ```
    pub const fn load_keys(&self) -> usize {
        if self.load_keys < self.max_params {
            self.load_keys
        } else {
            self.max_params
        }
    }

    /// Whether the generated keys of one multi-row INSERT are consecutive
    /// (SQLite: the largest rowid plus one, row after row, under the write
    /// lock); a bulk insert checks it.
    pub(crate) const fn consecutive_keys(&self) -> bool {
        self.consecutive_keys
    }

    /// Whether `BEGIN` takes an isolation level.
    pub(crate) const fn isolation_levels(&self) -> bool {
        self.isolation_levels
    }

    /// Whether rows inserted with explicit keys leave a sequence behind
    /// that must be moved past them (PostgreSQL's SERIAL; SQLite's rowid
    /// needs nothing).
    pub(crate) const fn sync_sequences(&self) -> bool {
        self.sync_sequences
    }

    pub(crate) const fn cache_slot(&self) -> Option<usize> {
        self.cache_slot
    }

    pub(crate) const fn bool_literal(&self, b: bool) -> &'static str {
        if b {
            self.bool_literals.0
        } else {
            self.bool_literals.1
        }
    }

    pub(crate) const fn limit_for_offset(&self) -> Option<i64> {
        self.limit_for_offset
    }

    pub(crate) const fn json_in_lists(&self) -> bool {
        self.json_in_lists
    }

    /// Whether `IN ()` (an empty list) is valid SQL.
    pub(crate) const fn empty_in_lists(&self) -> bool {
        self.empty_in_lists
    }

    pub(crate) const fn cast_avg(&self) -> Option<&'static str> {
        self.cast_avg
    }
}
