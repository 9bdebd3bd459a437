//! The seam between orm and a database: connections, statements, rows,
//! transaction control, and what each database's SQL can do.
//!
//! Everything above this module (the session, queries, the flush) works with
//! [`Value`]s, [`Row`]s and a [`Dialect`], and never names a driver. A
//! backend supplies connections (pooled by r2d2), runs statements, reads
//! rows, classifies its errors into [`Error`], and says what its SQL can do.
//!
//! - SQLite (`sqlite`, on rusqlite) is built in and dispatched statically:
//!   a SQLite row is decoded in place, with no virtual call per column.
//! - Any other database implements [`Backend`] and [`Connection`] and is
//!   opened with [`DatabaseBuilder::open_backend`](crate::DatabaseBuilder::open_backend);
//!   it is called through a trait object, once per statement, and hands its
//!   rows over as values.

mod dialect;
#[cfg(feature = "postgres")]
pub(crate) mod postgres;
mod row;
pub(crate) mod sqlite;

use std::sync::Arc;

use rustc_hash::FxHashMap;

pub(crate) use dialect::CACHE_SLOTS;
pub use dialect::{
    Dialect, GeneratedKeys, Placeholders, SchemaEditing, TextMatch, TypeNames, UpsertReport,
};
pub(crate) use row::ColumnsReader;
pub use row::{Columns, Row, RowValue};
pub(crate) use sqlite::RowidMark;
pub use sqlite::{JournalMode, Synchronous};

use crate::error::{Error, Result};
use crate::observe::Observer;
use crate::types::{Value, ValueRef};

/// How much a transaction sees of others running at the same time.
///
/// SQLite runs one writer at a time: every write transaction is
/// serializable, whatever is asked. PostgreSQL defaults to
/// [`ReadCommitted`](Isolation::ReadCommitted); at
/// [`RepeatableRead`](Isolation::RepeatableRead) and
/// [`Serializable`](Isolation::Serializable) a conflicting transaction fails
/// with [`Error::Conflict`] and must run again, which
/// [`Database::transaction`](crate::Database::transaction) does.
///
/// # Examples
///
/// ```
/// let db = orm::Database::builder()
///     .isolation(orm::Isolation::Serializable)
///     .open("sqlite://")
///     .unwrap();
/// # let _ = db;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Isolation {
    /// Each statement sees what was committed before it started.
    ReadCommitted,
    /// The whole transaction sees one snapshot.
    RepeatableRead,
    /// As if the transactions ran one after the other.
    Serializable,
}

impl Isolation {
    fn sql(self) -> &'static str {
        match self {
            Isolation::ReadCommitted => "READ COMMITTED",
            Isolation::RepeatableRead => "REPEATABLE READ",
            Isolation::Serializable => "SERIALIZABLE",
        }
    }
}

/// What a failed or successful COMMIT means for the transaction.
///
/// # Examples
///
/// ```
/// use orm::backend::CommitOutcome;
/// let o = CommitOutcome::NotCommitted(orm::Error::Usage("refused".into()));
/// assert!(matches!(o, CommitOutcome::NotCommitted(_)));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum CommitOutcome {
    /// Committed.
    Committed,
    /// Certainly not committed: the work can be redone.
    NotCommitted(Error),
    /// The error came after the point where the database may have
    /// committed.
    Unknown(Error),
}

/// A connection of a backend other than SQLite.
///
/// orm calls it once per statement, with the statement's text written for
/// the connection's [`Dialect`] and its parameters in order. Transaction
/// control (`BEGIN`, `COMMIT`, `SAVEPOINT`, ...) arrives through
/// [`execute`](Self::execute) too.
///
/// # Examples
///
/// A connection that refuses everything (see `tests/fake_backend.rs` for a
/// working one):
///
/// ```
/// use orm::backend::{Connection, Dialect, Row};
/// use orm::types::Value;
///
/// struct Closed;
///
/// impl Connection for Closed {
///     fn dialect(&self) -> &'static Dialect {
///         &Dialect::SQLITE
///     }
///     fn execute(&mut self, _: &str, _: &[Value]) -> orm::Result<usize> {
///         Err(orm::Error::Usage("closed".into()))
///     }
///     fn query(
///         &mut self,
///         _: &str,
///         _: &[Value],
///         _: &mut dyn FnMut(&Row<'_>) -> orm::Result<()>,
///     ) -> orm::Result<()> {
///         Err(orm::Error::Usage("closed".into()))
///     }
///     fn in_transaction(&self) -> bool {
///         false
///     }
/// }
/// assert!(Closed.execute("SELECT 1", &[]).is_err());
/// ```
pub trait Connection: Send {
    /// The SQL this connection speaks.
    fn dialect(&self) -> &'static Dialect;

    /// Run a statement that returns no rows (or whose rows are not wanted);
    /// the number of rows it changed.
    ///
    /// # Errors
    ///
    /// The database's error, classified into [`Error`] (a constraint
    /// violation as [`Error::Constraint`] naming its columns, and so on).
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<usize>;

    /// Run a query and call `row` for each result row, in order.
    ///
    /// # Errors
    ///
    /// As [`execute`](Self::execute), and whatever `row` returns.
    fn query(
        &mut self,
        sql: &str,
        params: &[Value],
        row: &mut dyn FnMut(&Row<'_>) -> Result<()>,
    ) -> Result<()>;

    /// Whether a transaction is open on the connection.
    fn in_transaction(&self) -> bool;

    /// Whether the database aborted the open transaction after a failed
    /// statement (PostgreSQL does; SQLite does not): only ROLLBACK, or
    /// ROLLBACK TO a savepoint, is accepted until then.
    fn transaction_aborted(&self) -> bool {
        false
    }

    /// What a failed COMMIT that left no transaction open means. The
    /// default is the safe answer: unknown.
    fn failed_commit(&self, error: Error) -> CommitOutcome {
        CommitOutcome::Unknown(error)
    }

    /// Whether the pool may hand the connection out again: asked each time
    /// a session gives the connection back, so it should only read state the
    /// connection keeps (a connection an error showed was lost says no).
    fn is_valid(&mut self) -> bool {
        true
    }
}

/// A database other than SQLite: makes [`Connection`]s for the pool.
///
/// # Examples
///
/// ```no_run
/// # use orm::backend::{Backend, Connection, Dialect};
/// #[derive(Debug)]
/// struct Mine;
///
/// impl Backend for Mine {
///     fn dialect(&self) -> &'static Dialect {
///         &Dialect::SQLITE
///     }
///     fn connect(&self) -> orm::Result<Box<dyn Connection>> {
///         Err(orm::Error::Usage("not here".into()))
///     }
/// }
/// let err = orm::Database::builder().open_backend("mine://", Mine).unwrap_err();
/// ```
pub trait Backend: Send + Sync + std::fmt::Debug + 'static {
    /// The SQL its connections speak.
    fn dialect(&self) -> &'static Dialect;

    /// Open a connection.
    ///
    /// # Errors
    ///
    /// When the database cannot be reached, as [`Error::Open`] or
    /// [`Error::Pool`].
    fn connect(&self) -> Result<Box<dyn Connection>>;
}

/// A pooled connection of any backend, plus orm's per-connection caches.
///
/// Boxed: r2d2 moves a connection by value at every checkout and return,
/// and the state (a rusqlite connection, two maps) is a few hundred bytes.
pub(crate) struct Conn(Box<ConnState>);

/// What a [`Conn`] holds.
pub(crate) struct ConnState {
    kind: Kind,
    /// Set when the connection's state is unknown (a ROLLBACK failed, the
    /// file moved); the pool then closes it instead of reusing it.
    pub broken: bool,
    /// UPDATE statements by (table, changed column set, version checked).
    pub update_sql: FxHashMap<(usize, u64, bool), Arc<str>>,
    /// Multi-row INSERT statements of bulk inserts and of the flush by
    /// (table, key column given, key read back with `RETURNING`, rows).
    pub bulk_sql: FxHashMap<(usize, bool, bool, usize), Arc<str>>,
    /// SQLite: the check before a multi-row INSERT whose keys come from
    /// the last rowid ([`Conn::rowid_mark`]), by table.
    rowid_check_sql: FxHashMap<usize, Arc<str>>,
}

enum Kind {
    Sqlite(sqlite::SqliteConn),
    Other(Box<dyn Connection>),
}

impl std::ops::Deref for Conn {
    type Target = ConnState;

    #[inline]
    fn deref(&self) -> &ConnState {
        &self.0
    }
}

impl std::ops::DerefMut for Conn {
    #[inline]
    fn deref_mut(&mut self) -> &mut ConnState {
        &mut self.0
    }
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("dialect", &self.dialect().name())
            .field("broken", &self.broken)
            .finish_non_exhaustive()
    }
}

/// A statement prepared on a connection: parameters are bound one by one
/// (SQLite takes text and bytes borrowed from the object, without a copy),
/// then it runs.
pub(crate) struct Stmt<'c> {
    sql: &'c str,
    kind: StmtKind<'c>,
}

enum StmtKind<'c> {
    Sqlite(sqlite::Prepared<'c>),
    Other {
        conn: &'c mut dyn Connection,
        /// The caller's values as they are, until a `bind` changes one.
        params: std::borrow::Cow<'c, [Value]>,
    },
}

impl Conn {
    fn new(kind: Kind) -> Conn {
        Conn(Box::new(ConnState {
            kind,
            broken: false,
            update_sql: FxHashMap::default(),
            bulk_sql: FxHashMap::default(),
            rowid_check_sql: FxHashMap::default(),
        }))
    }

    /// The SQL this connection speaks.
    #[inline]
    pub fn dialect(&self) -> &'static Dialect {
        match &self.kind {
            Kind::Sqlite(_) => &Dialect::SQLITE,
            Kind::Other(c) => c.dialect(),
        }
    }

    /// The SQLite connection, for raw access on SQLite databases.
    pub fn sqlite(&mut self) -> Option<&mut sqlite::RawConnection> {
        match &mut self.kind {
            Kind::Sqlite(c) => Some(&mut c.raw),
            Kind::Other(_) => None,
        }
    }

    /// Before a multi-row INSERT of `rows` rows into `table` (`id` names
    /// it for the statement cache) without `RETURNING`: a mark to read the
    /// rows' keys from the last rowid afterwards ([`rowid_keys`](Self::rowid_keys)),
    /// or `None` where they cannot be read that way (see
    /// [`sqlite::SqliteConn::rowid_mark`]) or the backend is not SQLite.
    pub fn rowid_mark(
        &mut self,
        id: usize,
        table: &str,
        key: &str,
        rows: usize,
        observer: &Observer,
    ) -> Result<Option<sqlite::RowidMark>> {
        let ConnState {
            kind: Kind::Sqlite(c),
            rowid_check_sql,
            ..
        } = &mut *self.0
        else {
            return Ok(None);
        };
        let sql = match rowid_check_sql.get(&id) {
            Some(sql) => Arc::clone(sql),
            None => {
                let sql: Arc<str> = sqlite::rowid_check_sql(table, key)?.into();
                rowid_check_sql.insert(id, Arc::clone(&sql));
                sql
            }
        };
        if observer.active() {
            observer.observe(&sql, &|| vec![Value::Text(table.into())]);
        }
        c.rowid_mark(&sql, table, rows)
    }

    /// The keys of the multi-row INSERT of `rows` rows that ran since
    /// `mark`, in VALUES order: `None` unless exactly those rows changed,
    /// after the table's largest key of the mark.
    pub fn rowid_keys(
        &self,
        mark: sqlite::RowidMark,
        rows: usize,
    ) -> Option<std::ops::RangeInclusive<i64>> {
        match &self.kind {
            Kind::Sqlite(c) => c.rowid_keys(mark, rows),
            Kind::Other(_) => None,
        }
    }

    /// The built-in SQLite connection, if this is one (a stream steps a
    /// statement of it row by row).
    pub fn sqlite_conn(&self) -> Option<&sqlite::SqliteConn> {
        match &self.kind {
            Kind::Sqlite(c) => Some(c),
            Kind::Other(_) => None,
        }
    }

    /// Prepare `sql` (from the connection's statement cache where the
    /// backend has one) and report it to the observer.
    #[inline(always)]
    pub fn prepare<'c>(
        &'c mut self,
        sql: &'c str,
        observer: &Observer,
        params: &dyn Fn() -> Vec<Value>,
    ) -> Result<Stmt<'c>> {
        if observer.active() {
            observer.observe(sql, params);
        }
        self.prepare_run(sql)
    }

    /// Prepare `sql` for a run of executions, each of which the caller
    /// reports to the observer itself (the flush binds and runs one
    /// statement for many rows).
    #[inline]
    pub fn prepare_run<'c>(&'c mut self, sql: &'c str) -> Result<Stmt<'c>> {
        let kind = match &mut self.kind {
            Kind::Sqlite(c) => StmtKind::Sqlite(c.prepare(sql)?),
            Kind::Other(c) => StmtKind::Other {
                conn: &mut **c,
                params: std::borrow::Cow::Borrowed(&[]),
            },
        };
        Ok(Stmt { sql, kind })
    }

    /// [`prepare`](Self::prepare) `sql` and bind `params` in order.
    pub fn prepare_bound<'c>(
        &'c mut self,
        sql: &'c str,
        params: &'c [Value],
        observer: &Observer,
    ) -> Result<Stmt<'c>> {
        let mut stmt = self.prepare(sql, observer, &|| params.to_vec())?;
        match &mut stmt.kind {
            // Handed to the backend as they are, not copied value by value.
            StmtKind::Other { params: bound, .. } => *bound = std::borrow::Cow::Borrowed(params),
            StmtKind::Sqlite(_) => {
                for (i, p) in params.iter().enumerate() {
                    stmt.bind(i + 1, p.into())?;
                }
            }
        }
        Ok(stmt)
    }

    /// Run a statement with owned parameters, returning the changed row count.
    pub fn execute_values(
        &mut self,
        sql: &str,
        params: &[Value],
        observer: &Observer,
    ) -> Result<usize> {
        crate::types::check_params(params)?;
        self.prepare_bound(sql, params, observer)?.execute()
    }

    /// Run a statement without parameters or results (transaction control,
    /// DDL).
    pub fn execute_control(&mut self, sql: &str, observer: &Observer) -> Result<()> {
        self.prepare(sql, observer, &Vec::new)?.execute().map(drop)
    }

    /// Open a write transaction: SQLite's `BEGIN IMMEDIATE` takes the write
    /// lock now, so the transaction never fails later with BUSY_SNAPSHOT
    /// when it upgrades from read to write.
    ///
    /// `isolation` is asked of databases that have levels; SQLite's write
    /// transactions are serializable whatever is asked.
    pub fn begin_write(&mut self, isolation: Option<Isolation>, observer: &Observer) -> Result<()> {
        let dialect = self.dialect();
        match isolation {
            Some(level) if dialect.isolation_levels() => {
                let sql = format!("{} ISOLATION LEVEL {}", dialect.begin_write(), level.sql());
                self.execute_control(&sql, observer)
            }
            _ => self.execute_control(dialect.begin_write(), observer),
        }
    }

    /// `SAVEPOINT name`.
    pub fn savepoint(&mut self, name: &str, observer: &Observer) -> Result<()> {
        self.execute_control(&format!("SAVEPOINT {name}"), observer)
    }

    /// `RELEASE name`: keep what was done since the savepoint.
    pub fn release(&mut self, name: &str, observer: &Observer) -> Result<()> {
        self.execute_control(&format!("RELEASE {name}"), observer)
    }

    /// Undo what was done since savepoint `name` and release it; on failure
    /// roll back the whole transaction (the caller sees that it ended).
    pub fn rollback_to(&mut self, name: &str, observer: &Observer) {
        let back = self
            .execute_control(&format!("ROLLBACK TO {name}"), observer)
            .and_then(|_| self.release(name, observer));
        if back.is_err() {
            self.rollback_quietly(observer);
        }
    }

    /// Whether the database aborted the open transaction after a failed
    /// statement.
    #[inline]
    pub fn transaction_aborted(&self) -> bool {
        match &self.kind {
            Kind::Sqlite(_) => false,
            Kind::Other(c) => c.transaction_aborted(),
        }
    }

    /// Whether a transaction is open on the connection.
    #[inline]
    pub fn in_transaction(&self) -> bool {
        match &self.kind {
            Kind::Sqlite(c) => c.in_transaction(),
            Kind::Other(c) => c.in_transaction(),
        }
    }

    /// COMMIT, and what its outcome means. When COMMIT fails and the
    /// transaction is still open, nothing was committed: it is rolled back.
    pub fn commit(&mut self, observer: &Observer) -> CommitOutcome {
        match self.execute_control("COMMIT", observer) {
            Ok(()) => CommitOutcome::Committed,
            Err(e) if self.in_transaction() => {
                self.rollback_quietly(observer);
                CommitOutcome::NotCommitted(e)
            }
            Err(e) => match &self.kind {
                Kind::Sqlite(c) => c.failed_commit(e),
                Kind::Other(c) => c.failed_commit(e),
            },
        }
    }

    /// Roll back whatever transaction is open. If ROLLBACK itself fails the
    /// connection is marked broken, so the pool replaces it.
    pub fn rollback_quietly(&mut self, observer: &Observer) {
        if !self.in_transaction() {
            return;
        }
        if self.execute_control("ROLLBACK", observer).is_err() && self.in_transaction() {
            self.broken = true;
        }
    }

    /// The journal mode of a SQLite connection's database; `Other` for
    /// other backends.
    pub fn journal_mode(&self) -> Result<JournalMode> {
        match &self.kind {
            Kind::Sqlite(c) => c.journal_mode(),
            Kind::Other(_) => Ok(JournalMode::Other),
        }
    }

    fn is_valid(&mut self) -> Result<()> {
        match &mut self.kind {
            Kind::Sqlite(c) => c.is_valid(),
            Kind::Other(c) => match c.is_valid() {
                true => Ok(()),
                false => Err(Error::Pool("the connection is no longer valid".into())),
            },
        }
    }
}

impl Stmt<'_> {
    /// Bind parameter `index` (from 1).
    // Always: the flush binds every column of every row through here, and
    // without LTO the call was not inlined (BENCHMARKS.md, in-tree bench).
    #[inline(always)]
    pub fn bind(&mut self, index: usize, value: ValueRef<'_>) -> Result<()> {
        match &mut self.kind {
            StmtKind::Sqlite(p) => p.bind(index, value, self.sql),
            StmtKind::Other { params, .. } => {
                let params = params.to_mut();
                if params.len() < index {
                    params.resize(index, Value::Null);
                }
                params[index - 1] = value.to_owned();
                Ok(())
            }
        }
    }

    /// Run it; the number of rows changed.
    #[inline]
    pub fn execute(&mut self) -> Result<usize> {
        match &mut self.kind {
            StmtKind::Sqlite(p) => p.execute(self.sql),
            StmtKind::Other { conn, params } => conn.execute(self.sql, params),
        }
    }

    /// Run an INSERT and return the key the database generated, as the
    /// dialect says: the last rowid, or the first column of the row that
    /// `RETURNING` gives.
    #[inline]
    pub fn insert_generated(&mut self, returning: bool) -> Result<i64> {
        if !returning {
            self.execute()?;
            return match &self.kind {
                StmtKind::Sqlite(p) => Ok(p.last_insert_rowid()),
                StmtKind::Other { .. } => Err(Error::Usage(
                    "this backend's dialect reads generated keys with RETURNING".into(),
                )),
            };
        }
        let mut key = None;
        self.query(|row| {
            if let ValueRef::Integer(k) = row.get(0)? {
                key = Some(k);
            }
            Ok(())
        })?;
        key.ok_or_else(|| Error::Usage("the INSERT returned no generated key".into()))
    }

    /// Run a query and decode its first row with `f`, if there is one
    /// (SQLite stops stepping after it).
    #[inline]
    pub fn query_first<T, F: FnOnce(&Row<'_>) -> Result<T>>(&mut self, f: F) -> Result<Option<T>> {
        match &mut self.kind {
            StmtKind::Sqlite(p) => p.query_first(self.sql, f),
            StmtKind::Other { conn, params } => {
                let mut f = Some(f);
                let mut out = None;
                conn.query(self.sql, params, &mut |row| {
                    if let Some(f) = f.take() {
                        out = Some(f(row)?);
                    }
                    Ok(())
                })?;
                Ok(out)
            }
        }
    }

    /// Run a query and call `f` for each row.
    #[inline]
    pub fn query<F: FnMut(&Row<'_>) -> Result<()>>(&mut self, mut f: F) -> Result<()> {
        match &mut self.kind {
            StmtKind::Sqlite(p) => p.query(self.sql, f),
            StmtKind::Other { conn, params } => conn.query(self.sql, params, &mut f),
        }
    }
}

/// What the pool opens connections to.
#[derive(Debug)]
pub(crate) enum Target {
    Sqlite(sqlite::SqliteTarget),
    Other(Arc<dyn Backend>),
}

/// The r2d2 glue, for every backend.
#[derive(Debug)]
pub(crate) struct Manager {
    pub target: Target,
}

impl Manager {
    /// Open one connection.
    pub fn open(&self) -> Result<Conn> {
        match &self.target {
            Target::Sqlite(t) => sqlite::open(t).map(|c| Conn::new(Kind::Sqlite(c))),
            Target::Other(b) => b.connect().map(|c| Conn::new(Kind::Other(c))),
        }
    }

    /// The SQL the connections speak.
    pub fn dialect(&self) -> &'static Dialect {
        match &self.target {
            Target::Sqlite(_) => &Dialect::SQLITE,
            Target::Other(b) => b.dialect(),
        }
    }
}

impl r2d2::ManageConnection for Manager {
    type Connection = Conn;
    type Error = Error;

    fn connect(&self) -> Result<Conn> {
        self.open()
    }

    fn is_valid(&self, conn: &mut Conn) -> Result<()> {
        conn.is_valid()
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        // Another backend's own check is cheap (flags it keeps): a
        // connection it knows was lost is dropped, not pooled.
        let lost = match &mut conn.kind {
            Kind::Other(c) => !c.is_valid(),
            Kind::Sqlite(_) => false,
        };
        conn.broken || conn.in_transaction() || lost
    }
}
