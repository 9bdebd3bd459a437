//! The one error type of the crate.
//!
//! Every fallible function returns [`Result<T>`](Result). Variants carry the
//! context a caller needs to react (the model, the columns, the key) as data,
//! so code can `match` instead of parsing messages. The SQL text kept in
//! [`Error::Sqlite`] is truncated in `Display`; bound values never appear in
//! any message, because they may be passwords.

use std::fmt;

/// A database driver's own error, kept as the source of an [`Error`]:
/// `rusqlite::Error` for SQLite (see [`Error::driver_error`]).
pub type DriverError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `Result` with [`Error`] as the default error type.
///
/// # Examples
///
/// ```
/// fn open() -> orm::Result<orm::Database> {
///     orm::Database::open("sqlite://")
/// }
/// assert!(open().is_ok());
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The kind of constraint a statement violated, read from SQLite's extended
/// error code.
///
/// # Examples
///
/// ```
/// use orm::prelude::*;
///
/// #[derive(Model, Debug, Default)]
/// struct User {
///     #[orm(primary_key)]
///     id: i64,
///     #[orm(unique)]
///     name: String,
/// }
///
/// # fn main() -> orm::Result<()> {
/// let db = Database::builder().model::<User>().open("sqlite://")?;
/// db.create_all()?;
/// let session = db.session();
/// session.add(User { name: "ann".into(), ..Default::default() })?;
/// session.add(User { name: "ann".into(), ..Default::default() })?;
/// let err = session.commit().unwrap_err();
/// assert_eq!(err.constraint_kind(), Some(ConstraintKind::Unique));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConstraintKind {
    /// A `UNIQUE` constraint or primary key was violated.
    Unique,
    /// A `NOT NULL` column received NULL.
    NotNull,
    /// A row references a parent that does not exist, or a parent that still
    /// has children was deleted.
    ForeignKey,
    /// A `CHECK` constraint failed.
    Check,
    /// Another kind of constraint (for example a commit hook refused the commit).
    Other,
}

impl fmt::Display for ConstraintKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConstraintKind::Unique => "unique",
            ConstraintKind::NotNull => "not-null",
            ConstraintKind::ForeignKey => "foreign-key",
            ConstraintKind::Check => "check",
            ConstraintKind::Other => "other",
        })
    }
}

/// What is wrong with the rows that stop a migration
/// ([`Error::MigrationRows`]).
///
/// # Examples
///
/// ```
/// let p = orm::RowProblem::MissingParent { parent: Some("pet_handler".into()) };
/// assert_eq!(p.to_string(), "reference rows of `pet_handler` that do not exist");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RowProblem {
    /// Rows share the values of columns that a new UNIQUE constraint (or
    /// unique index) needs to be distinct.
    Duplicates,
    /// Rows hold NULL in a column that becomes NOT NULL (or a new NOT NULL
    /// column without a default has no value for them).
    Nulls,
    /// Rows reference parent rows that do not exist, through a foreign key
    /// the migration adds or keeps.
    MissingParent {
        /// The referenced table, when known.
        parent: Option<String>,
    },
}

impl fmt::Display for RowProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RowProblem::Duplicates => f.write_str("share values that must be unique"),
            RowProblem::Nulls => f.write_str("hold NULL where NOT NULL is required"),
            RowProblem::MissingParent { parent: Some(p) } => {
                write!(f, "reference rows of `{p}` that do not exist")
            }
            RowProblem::MissingParent { parent: None } => {
                f.write_str("reference parent rows that do not exist")
            }
        }
    }
}

/// The rows that stop a migration ([`Error::MigrationRows`]). Its
/// `Display` reads like `migration 3f9a1c2b7d4e cannot be applied: 2 rows
/// of `user` share values that must be unique (username), keys 1 and 4;
/// nothing was changed`.
///
/// # Examples
///
/// ```
/// fn what_to_fix(e: &orm::Error) -> Option<String> {
///     match e {
///         orm::Error::MigrationRows(rows) => Some(format!(
///             "rows {} of {} ({})",
///             rows.keys.join(", "),
///             rows.table,
///             rows.problem
///         )),
///         _ => None,
///     }
/// }
/// assert_eq!(what_to_fix(&orm::Error::Usage("x".into())), None);
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct BlockingRows {
    /// The revision that failed.
    pub revision: String,
    /// The table whose rows are in the way.
    pub table: String,
    /// The columns involved.
    pub columns: Vec<String>,
    /// What is wrong with the rows.
    pub problem: RowProblem,
    /// How many rows, when counted.
    pub rows: Option<u64>,
    /// Primary keys of some of the rows (each duplicate group as
    /// `1 and 3`), at most ten.
    pub keys: Vec<String>,
    /// The database's error, when a statement failed.
    pub source: Option<Box<Error>>,
}

impl fmt::Display for BlockingRows {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "migration {} cannot be applied: {}rows of `{}` {}{}{}; nothing was changed",
            self.revision,
            fmt_count(&self.rows),
            self.table,
            self.problem,
            fmt_columns(&self.columns),
            fmt_keys(&self.keys)
        )
    }
}

impl std::error::Error for BlockingRows {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Everything that can go wrong in `orm`.
///
/// Each variant says when it happens. Use the predicates
/// ([`is_not_found`](Error::is_not_found), [`is_busy`](Error::is_busy),
/// [`constraint_kind`](Error::constraint_kind)) for the common checks.
///
/// # Examples
///
/// ```
/// use orm::prelude::*;
///
/// let err = Database::open("mysql://localhost/app").unwrap_err();
/// assert!(matches!(err, orm::Error::InvalidUrl { .. }));
/// assert!(err.to_string().contains("scheme"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A database URL passed to [`Database::open`](crate::Database::open) is
    /// malformed or uses an unsupported scheme.
    #[error("invalid database URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it and what to write instead.
        reason: String,
    },

    /// A statement violated a constraint. `model` and `columns` name the
    /// offending model and fields when they are known.
    #[error("{kind} constraint violated{}{}", fmt_model(.model), fmt_columns(.columns))]
    Constraint {
        /// Which constraint.
        kind: ConstraintKind,
        /// The model whose row was being written, if known.
        model: Option<&'static str>,
        /// The table involved, if known.
        table: Option<String>,
        /// The columns involved, if SQLite named them.
        columns: Vec<String>,
        /// The driver's error.
        #[source]
        source: DriverError,
    },

    /// No row has the requested key, or a query that requires a row found none.
    #[error("{model} not found{}", fmt_key(.key))]
    NotFound {
        /// The model that was looked up.
        model: &'static str,
        /// The key that was looked up, if the lookup was by key.
        key: Option<String>,
    },

    /// [`Query::one`](crate::Query::one) found more than one row.
    #[error("expected exactly one {model}, found several")]
    MultipleRows {
        /// The model that was queried.
        model: &'static str,
    },

    /// The database stayed locked by another connection for longer than the
    /// busy timeout. Nothing of the failed operation was written; retry later.
    #[error("database is busy (locked by another connection)")]
    Busy {
        /// The driver's error.
        #[source]
        source: DriverError,
    },

    /// No pooled connection became free within the pool's timeout.
    #[error("no database connection available: {0}")]
    Pool(String),

    /// A value read from the database does not fit the field's type (for
    /// example text in an `i64` field, or NULL in a non-`Option` field), or a
    /// field value cannot be stored (for example `f64::NAN`).
    #[error("cannot convert column `{table}.{column}`: {message}")]
    Conversion {
        /// The table of the column.
        table: String,
        /// The column.
        column: String,
        /// What did not fit. Never contains the value itself.
        message: String,
    },

    /// A column name given at run time (for example from a search form or a
    /// `?sort=` parameter) is not a column of the model.
    #[error("`{name}` is not a column of {model}")]
    UnknownColumn {
        /// The model.
        model: &'static str,
        /// The name that was given (truncated to 64 characters).
        name: String,
    },

    /// The object is not attached to a session (it was never added, was
    /// discarded, or its session was dropped) and the operation needs one.
    #[error("{model} object is detached from any session: {action}")]
    Detached {
        /// The model.
        model: &'static str,
        /// What needed the session.
        action: &'static str,
    },

    /// The object belongs to another session.
    #[error("{model} object belongs to another session")]
    WrongSession {
        /// The model.
        model: &'static str,
    },

    /// The object is already borrowed in a conflicting way (for example a
    /// `write()` guard is alive while the session flushes it).
    #[error("{model} object is already borrowed; drop the earlier read()/write() guard first")]
    BorrowConflict {
        /// The model.
        model: &'static str,
    },

    /// An UPDATE or DELETE at flush matched no row: another connection
    /// deleted or re-keyed the row since it was loaded, or, for a model
    /// with a version counter (`#[orm(version)]`), changed it (its version
    /// is no longer the one this object was loaded with). SQLAlchemy's
    /// `StaleDataError`. The flush was rolled back and every object is as
    /// before it: reload the object ([`Session::refresh`](crate::Session::refresh))
    /// and decide again.
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct Doc { #[orm(primary_key)] id: i64, body: String, #[orm(version)] version: i64 }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<Doc>().open("sqlite://")?;
    /// db.create_all()?;
    /// db.transaction(|s| s.add(Doc::default()).map(drop))?;
    /// let (a, b) = (db.session(), db.session());
    /// let (da, db_) = (a.get_or_not_found::<Doc>(1)?, b.get_or_not_found::<Doc>(1)?);
    /// da.write()?.body = "first".into();
    /// a.commit()?; // the first commit wins
    /// db_.write()?.body = "second".into();
    /// let err = b.commit().unwrap_err();
    /// assert!(matches!(err, orm::Error::StaleData { model: "Doc", .. }));
    /// assert_eq!(err.to_string(), "Doc row with key 1 was changed or deleted by someone else");
    /// # Ok(()) }
    /// ```
    #[error("{model} row{} was changed or deleted by someone else", fmt_key(.key))]
    StaleData {
        /// The model.
        model: &'static str,
        /// The key of the row.
        key: Option<String>,
    },

    /// A field validator (`#[orm(validate = path)]`, SQLAlchemy's
    /// `@validates`) refused a value at flush, before any statement ran.
    /// The flush changed nothing.
    ///
    /// ```
    /// use orm::prelude::*;
    ///
    /// fn email(value: &String) -> Result<(), String> {
    ///     if value.contains('@') { Ok(()) } else { Err("needs an @".into()) }
    /// }
    ///
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64, #[orm(validate = email)] email: String }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<User>().open("sqlite://")?;
    /// db.create_all()?;
    /// let s = db.session();
    /// s.add(User { email: "nobody".into(), ..Default::default() })?;
    /// let err = s.commit().unwrap_err();
    /// assert!(matches!(err, orm::Error::Validation { model: "User", field: "email", .. }));
    /// assert_eq!(err.to_string(), "invalid User.email: needs an @");
    /// # Ok(()) }
    /// ```
    #[error("invalid {model}.{field}: {message}")]
    Validation {
        /// The model.
        model: &'static str,
        /// The field (its Rust name).
        field: &'static str,
        /// What the validator said.
        message: String,
    },

    /// The models do not fit together: a relationship names no usable foreign
    /// key, two names clash, a cycle cannot be ordered, and so on.
    #[error("schema error: {0}")]
    Schema(String),

    /// An API was used in a way it does not support (the message says how to
    /// use it instead).
    #[error("{0}")]
    Usage(String),

    /// COMMIT reported an error after the point where SQLite may already have
    /// committed. The transaction may or may not be durable. The session has
    /// expired every object, so the next access reads the truth from the
    /// database, and refuses to flush or commit ([`Error::NeedsRollback`])
    /// until [`rollback`](crate::Session::rollback) is called. The rollback
    /// makes the objects the transaction inserted transient again (with the
    /// values they had before it): check whether their rows exist (for
    /// example by a unique column) and add again those that do not.
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64, #[orm(unique)] name: String }
    ///
    /// fn save(s: &Session, user: Obj<User>) -> orm::Result<()> {
    ///     s.add(&user)?;
    ///     match s.commit() {
    ///         Err(orm::Error::CommitOutcomeUnknown { .. }) => {
    ///             s.rollback()?;
    ///             let name = user.read()?.name.clone();
    ///             if s.query::<User>().filter(User::name.eq(name)).count()? == 0 {
    ///                 s.add(&user)?;
    ///                 s.commit()?;
    ///             }
    ///             Ok(())
    ///         }
    ///         other => other,
    ///     }
    /// }
    /// # let db = Database::builder().model::<User>().open("sqlite://").unwrap();
    /// # db.create_all().unwrap();
    /// # save(&db.session(), Obj::new(User { name: "ann".into(), ..Default::default() })).unwrap();
    /// ```
    #[error("commit outcome unknown (the transaction may have been committed)")]
    CommitOutcomeUnknown {
        /// The driver's error.
        #[source]
        source: DriverError,
    },

    /// The database file was deleted, moved or replaced by another file
    /// while the [`Database`](crate::Database) was open. SQLite would go on
    /// writing to the unlinked file, so a commit would report success for
    /// data that is in no file: the commit was rolled back instead, and
    /// every later one fails the same way. Open the database again.
    #[error(
        "database file `{path}` was deleted, moved or replaced while open; nothing was committed; open it again"
    )]
    DatabaseMoved {
        /// The path the database was opened at.
        path: String,
    },

    /// The session is in use by an operation that has not finished: a
    /// stream of rows ([`Query::iter`](crate::Query::iter),
    /// [`iter_detached`](crate::Query::iter_detached)) holds the session's
    /// connection until it ends or is dropped, and every other statement
    /// of the session waits for that (objects already loaded can be read
    /// and changed meanwhile). Nothing was done.
    #[error("the session is busy: {reason}")]
    SessionBusy {
        /// What holds it.
        reason: &'static str,
    },

    /// The session's transaction cannot go on: the last
    /// [`commit`](crate::Session::commit) ended in
    /// [`Error::CommitOutcomeUnknown`] (check which of the transaction's rows
    /// exist after the rollback, and add again what is missing), or the
    /// database aborted the transaction after a failed statement (PostgreSQL
    /// does; SQLSTATE 25P02). Until [`rollback`](crate::Session::rollback) is
    /// called the session refuses to flush or commit, so a retry can never
    /// look like a success.
    #[error("{reason}: call rollback() before writing again")]
    NeedsRollback {
        /// Why.
        reason: &'static str,
    },

    /// The database ended the transaction to keep it serializable
    /// (PostgreSQL's serialization failure, SQLSTATE 40001) or to break a
    /// deadlock (40P01). Nothing of it was committed: run the whole unit of
    /// work again ([`Database::transaction`](crate::Database::transaction)
    /// does).
    #[error(
        "the database ended the transaction to keep it serializable or to break a deadlock; run it again"
    )]
    Conflict {
        /// The driver's error.
        #[source]
        source: DriverError,
    },

    /// The connection to the database was lost. A transaction it had open
    /// was rolled back by the server (a COMMIT in flight is reported as
    /// [`Error::CommitOutcomeUnknown`] instead).
    #[error("the connection to the database was lost")]
    Disconnected {
        /// The driver's error.
        #[source]
        source: DriverError,
    },

    /// Any other error reported by a database other than SQLite. `sql`
    /// holds the statement (without values), when there was one.
    #[error("database error: {source}{}", fmt_sql(.sql))]
    Database {
        /// The driver's error.
        #[source]
        source: DriverError,
        /// The statement that failed, if any.
        sql: Option<String>,
    },

    /// Any other error reported by SQLite. `sql` holds the statement (without
    /// values), when there was one.
    #[error("sqlite error: {source}{}", fmt_sql(.sql))]
    Sqlite {
        /// The driver's error.
        #[source]
        source: DriverError,
        /// The statement that failed, if any.
        sql: Option<String>,
    },

    /// Rows of a table stop a migration: duplicates under a new UNIQUE
    /// constraint, NULLs in a column that becomes NOT NULL, references to
    /// rows that do not exist. The migration was rolled back: the database
    /// is exactly as it was. [`BlockingRows`] says which table, columns and
    /// rows (by primary key, never by the values they hold); fix them, or
    /// change the revision, and run it again. Boxed, so that every
    /// `Result` of the crate stays small.
    #[error(transparent)]
    MigrationRows(Box<BlockingRows>),

    /// A statement of a migration failed. The migration was rolled back:
    /// the database is exactly as it was.
    #[error(
        "migration {revision} failed at statement {statement}{}: {source}; nothing was changed",
        fmt_statement(.sql)
    )]
    Migration {
        /// The revision that failed.
        revision: String,
        /// Which statement of its section (from 1).
        statement: usize,
        /// The statement.
        sql: String,
        /// What the database said.
        #[source]
        source: Box<Error>,
    },

    /// A revision file, the chain of revisions, or a revision named on the
    /// command line is not usable (unknown id, a branch, a missing parent,
    /// written for another database), or the database is not at the
    /// revision an operation needs.
    #[error("revision {revision}: {reason}")]
    Revision {
        /// The revision, file or target concerned.
        revision: String,
        /// What is wrong and what to do.
        reason: String,
    },

    /// The database's tables differ from the registered models (opening
    /// with [`SchemaCheck::Strict`](crate::SchemaCheck::Strict)). Each
    /// difference is said from the models' side.
    #[error("the database differs from the models: {}", .differences.join("; "))]
    SchemaDrift {
        /// The differences, one sentence each.
        differences: Vec<String>,
    },

    /// Opening the database file failed.
    #[error("cannot open database `{path}`: {source}")]
    Open {
        /// The path that was opened.
        path: String,
        /// The driver's error.
        #[source]
        source: DriverError,
    },
}

fn fmt_model(model: &Option<&'static str>) -> String {
    model.map(|m| format!(" on {m}")).unwrap_or_default()
}

fn fmt_columns(columns: &[String]) -> String {
    if columns.is_empty() {
        String::new()
    } else {
        format!(" ({})", columns.join(", "))
    }
}

fn fmt_statement(sql: &str) -> String {
    fmt_sql(&Some(sql.to_owned()))
}

fn fmt_count(rows: &Option<u64>) -> String {
    rows.map(|n| format!("{n} ")).unwrap_or_default()
}

fn fmt_keys(keys: &[String]) -> String {
    if keys.is_empty() {
        String::new()
    } else {
        format!(", keys {}", keys.join("; "))
    }
}

fn fmt_key(key: &Option<String>) -> String {
    key.as_ref()
        .map(|k| format!(" with key {k}"))
        .unwrap_or_default()
}

/// Longest SQL text shown in an error message; driver errors can carry a
/// statement of tens of kilobytes.
const MAX_SQL_IN_MESSAGE: usize = 200;

fn fmt_sql(sql: &Option<String>) -> String {
    match sql {
        None => String::new(),
        Some(s) if s.len() <= MAX_SQL_IN_MESSAGE => format!(" in `{s}`"),
        Some(s) => {
            let mut end = MAX_SQL_IN_MESSAGE;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            format!(" in `{}...` ({} bytes)", &s[..end], s.len())
        }
    }
}

impl Error {
    /// True for [`Error::NotFound`]: a web handler maps it to 404.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    ///
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64 }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<User>().open("sqlite://")?;
    /// db.create_all()?;
    /// let err = db.session().get_or_not_found::<User>(42).unwrap_err();
    /// assert!(err.is_not_found());
    /// # Ok(()) }
    /// ```
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }

    /// True when the database was locked by another connection for longer
    /// than the busy timeout.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = orm::Error::Usage("not busy".into());
    /// assert!(!err.is_busy());
    /// ```
    pub fn is_busy(&self) -> bool {
        matches!(self, Error::Busy { .. })
    }

    /// True when running the same unit of work again may succeed: the
    /// database was busy (locked by another connection), ended the
    /// transaction to keep it serializable or to break a deadlock, or the
    /// connection was lost before COMMIT. Nothing of the failed work was
    /// committed, so the caller can run it again.
    ///
    /// Not for [`Error::CommitOutcomeUnknown`]: the work may have been
    /// committed, and running it again could write it twice.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = orm::Error::NotFound { model: "User", key: None };
    /// assert!(!err.is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::Busy { .. } | Error::Conflict { .. } | Error::Disconnected { .. }
        )
    }

    /// The kind of constraint violated, for [`Error::Constraint`].
    ///
    /// # Examples
    ///
    /// ```
    /// let err = orm::Error::NotFound { model: "User", key: None };
    /// assert_eq!(err.constraint_kind(), None);
    /// ```
    pub fn constraint_kind(&self) -> Option<ConstraintKind> {
        match self {
            Error::Constraint { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    /// The driver's error behind this one, if any, for inspection
    /// (`downcast_ref::<orm::rusqlite::Error>()` on SQLite).
    ///
    /// # Examples
    ///
    /// ```
    /// let err = orm::Error::Usage("no driver here".into());
    /// assert!(err.driver_error().is_none());
    /// ```
    pub fn driver_error(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        match self {
            Error::Constraint { source, .. }
            | Error::Busy { source }
            | Error::CommitOutcomeUnknown { source }
            | Error::Sqlite { source, .. }
            | Error::Conflict { source }
            | Error::Disconnected { source }
            | Error::Database { source, .. }
            | Error::Open { source, .. } => Some(&**source),
            _ => None,
        }
    }

    /// Attach the model whose statement failed to a constraint error.
    /// SQLite names no column for foreign key failures; the table's foreign
    /// key columns are the candidates.
    pub(crate) fn with_model(mut self, name: &'static str, table_name: &str) -> Error {
        if let Error::Constraint { model, table, .. } = &mut self {
            if model.is_none() {
                *model = Some(name);
            }
            if table.is_none() {
                *table = Some(table_name.to_owned());
            }
        }
        self
    }
}

impl From<r2d2::Error> for Error {
    #[cold]
    fn from(e: r2d2::Error) -> Self {
        Error::Pool(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_sql_is_truncated_in_display() {
        let sql = "SELECT ".to_owned() + &"x, ".repeat(10_000);
        let err = Error::Sqlite {
            source: "invalid query".into(),
            sql: Some(sql),
        };
        let shown = err.to_string();
        assert!(shown.len() < 400, "message is {} bytes", shown.len());
        assert!(shown.contains("30007 bytes"));
    }
}
