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
    };

    /// This dialect under another name (its statements are then written
    /// anew rather than taken from the built-in dialect's cache).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(orm::backend::Dialect::SQLITE.named("x").name(), "x");
    /// ```
    pub const fn named(mut self, name: &'static str) -> Dialect {
        self.name = name;
        self.cache_slot = None;
        self
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

    pub(crate) const fn cache_slot(&self) -> Option<usize> {
        self.cache_slot
    }
}
