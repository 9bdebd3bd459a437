//! A pooled SQLite connection and everything that touches it directly:
//! opening and configuring it, running statements with echo and recording,
//! and transaction control.
//!
//! Every statement the crate runs goes through [`Conn::prepare`] or
//! [`Conn::execute_control`], so echo and the recorder see all of them.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::{CachedStatement, OpenFlags};
use rustc_hash::FxHashMap;

use crate::error::{Error, Result};
use crate::types::Value;

/// How the database file journals writes.
///
/// # Examples
///
/// ```
/// use orm::prelude::*;
/// use orm::JournalMode;
///
/// # fn main() -> orm::Result<()> {
/// let dir = tempfile::tempdir().unwrap();
/// let url = format!("sqlite:///{}", dir.path().join("j.db").display());
/// let db = Database::builder().journal_mode(JournalMode::Delete).open(&url)?;
/// assert_eq!(db.journal_mode(), JournalMode::Delete);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum JournalMode {
    /// Write-ahead log (the default for files): readers never block the
    /// writer and the writer never blocks readers.
    Wal,
    /// Rollback journal (SQLite's own default).
    Delete,
}

/// How hard SQLite pushes each commit to disk.
///
/// # Examples
///
/// ```
/// use orm::prelude::*;
/// use orm::Synchronous;
///
/// # fn main() -> orm::Result<()> {
/// let db = Database::builder().synchronous(Synchronous::Normal).open("sqlite://")?;
/// # let _ = db;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Synchronous {
    /// Sync at every commit: a committed transaction survives a power loss.
    /// The default.
    Full,
    /// In WAL mode, sync at checkpoints only: commits survive a crash of the
    /// program but the last ones may be lost on power loss. Faster.
    Normal,
}

/// Per-connection settings, applied to every new connection.
#[derive(Debug, Clone)]
pub(crate) struct ConnSettings {
    pub busy_timeout: Duration,
    pub journal_mode: JournalMode,
    pub synchronous: Synchronous,
}

/// What a pooled connection opens.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    File(PathBuf),
    /// A named in-memory database shared by the pool's connections (SQLite's
    /// `memdb` VFS); it lives while at least one connection is open.
    Memory(String),
}

/// The file a database path named when the [`Database`](crate::Database)
/// opened it. SQLite goes on writing to a file that was deleted or replaced
/// under an open connection, and reports every commit as a success: the
/// session compares this identity before each COMMIT instead.
#[derive(Debug, Clone)]
pub(crate) struct FileIdentity {
    path: PathBuf,
    id: Option<(u64, u64)>,
}

impl FileIdentity {
    /// The identity of the file at `path` now (it exists: a connection to it
    /// was just opened).
    pub fn of(path: &std::path::Path) -> FileIdentity {
        // Absolute, so a later change of the working directory is not
        // mistaken for a moved file.
        let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
        let id = std::fs::metadata(&path).ok().and_then(|m| file_id(&m));
        FileIdentity { path, id }
    }

    /// Fail with [`Error::DatabaseMoved`] when the path no longer names the
    /// same file.
    pub fn check(&self) -> Result<()> {
        let same = match std::fs::metadata(&self.path) {
            Ok(m) => self.id.is_none() || file_id(&m) == self.id,
            Err(_) => false,
        };
        if same { Ok(()) } else { Err(self.moved()) }
    }

    /// The error for this file having moved.
    pub fn moved(&self) -> Error {
        Error::DatabaseMoved {
            path: self.path.display().to_string(),
        }
    }
}

#[cfg(unix)]
fn file_id(m: &std::fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn file_id(_: &std::fs::Metadata) -> Option<(u64, u64)> {
    None
}

/// A connection plus the crate's per-connection caches.
pub(crate) struct Conn {
    pub raw: rusqlite::Connection,
    /// Set when the connection's state is unknown (a ROLLBACK failed); the
    /// pool then closes it instead of reusing it.
    pub broken: bool,
    /// UPDATE statements by (table, changed column set).
    pub update_sql: FxHashMap<(usize, u64), Arc<str>>,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("broken", &self.broken)
            .finish_non_exhaustive()
    }
}

/// Open and configure one connection.
pub(crate) fn open(target: &Target, settings: &ConnSettings) -> Result<Conn> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let (raw, path) = match target {
        Target::File(p) => (
            rusqlite::Connection::open_with_flags(p, flags),
            p.display().to_string(),
        ),
        Target::Memory(name) => (
            rusqlite::Connection::open_with_flags(
                format!("file:/{name}?vfs=memdb"),
                flags | OpenFlags::SQLITE_OPEN_URI,
            ),
            ":memory:".to_owned(),
        ),
    };
    let raw = raw.map_err(|source| Error::Open {
        path: path.clone(),
        source: Box::new(source),
    })?;
    configure(&raw, target, settings).map_err(|source| Error::Open {
        path,
        source: Box::new(source),
    })?;
    Ok(Conn {
        raw,
        broken: false,
        update_sql: FxHashMap::default(),
    })
}

fn configure(
    raw: &rusqlite::Connection,
    target: &Target,
    settings: &ConnSettings,
) -> rusqlite::Result<()> {
    raw.busy_timeout(settings.busy_timeout)?;
    // A misspelled column in double quotes must be an error, not a string.
    raw.set_db_config(DbConfig::SQLITE_DBCONFIG_DQS_DML, false)?;
    raw.set_db_config(DbConfig::SQLITE_DBCONFIG_DQS_DDL, false)?;
    // The bundled build enables foreign keys by default, a system SQLite does
    // not: never depend on the build.
    raw.execute_batch("PRAGMA foreign_keys = ON")?;
    if let Target::File(_) = target {
        let mode = match settings.journal_mode {
            JournalMode::Wal => "WAL",
            JournalMode::Delete => "DELETE",
        };
        let _: String =
            raw.query_row(&format!("PRAGMA journal_mode = {mode}"), [], |r| r.get(0))?;
        let sync = match settings.synchronous {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        };
        raw.execute_batch(&format!("PRAGMA synchronous = {sync}"))?;
    }
    raw.set_prepared_statement_cache_capacity(256);
    Ok(())
}

/// The r2d2 glue.
#[derive(Debug)]
pub(crate) struct Manager {
    pub target: Target,
    pub settings: ConnSettings,
}

impl r2d2::ManageConnection for Manager {
    type Connection = Conn;
    type Error = Error;

    fn connect(&self) -> Result<Conn> {
        open(&self.target, &self.settings)
    }

    fn is_valid(&self, conn: &mut Conn) -> Result<()> {
        conn.raw
            .execute_batch("")
            .map_err(|e| Error::from_sqlite(e, None))
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        conn.broken || !conn.raw.is_autocommit()
    }
}

/// One statement as the recorder saw it.
///
/// # Examples
///
/// ```
/// use orm::prelude::*;
///
/// #[derive(Model, Debug, Default)]
/// struct User { #[orm(primary_key)] id: i64, name: String }
///
/// # fn main() -> orm::Result<()> {
/// let db = Database::builder().model::<User>().open("sqlite://")?;
/// db.create_all()?;
/// let rec = db.record();
/// let session = db.session();
/// session.get::<User>(1)?;
/// let stmt = &rec.statements()[0];
/// assert!(stmt.is_query());
/// assert_eq!(stmt.params, vec![orm::types::Value::Integer(1)]);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedStatement {
    /// The SQL text, with `?` placeholders.
    pub sql: String,
    /// The bound values.
    pub params: Vec<Value>,
}

impl RecordedStatement {
    /// Whether the statement is a SELECT.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = orm::RecordedStatement { sql: "SELECT 1".into(), params: vec![] };
    /// assert!(s.is_query());
    /// ```
    pub fn is_query(&self) -> bool {
        self.sql.starts_with("SELECT")
    }

    /// Whether the statement is BEGIN, COMMIT, ROLLBACK or a savepoint.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = orm::RecordedStatement { sql: "BEGIN IMMEDIATE".into(), params: vec![] };
    /// assert!(s.is_transaction_control());
    /// ```
    pub fn is_transaction_control(&self) -> bool {
        ["BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"]
            .iter()
            .any(|k| self.sql.starts_with(k))
    }
}

type Sink = Mutex<Vec<RecordedStatement>>;

/// Sees every statement: logs it when echo is on, and hands it to live
/// recorders.
#[derive(Debug, Default)]
pub(crate) struct Observer {
    pub echo: bool,
    pub echo_params: bool,
    active: AtomicUsize,
    sinks: Mutex<Vec<Weak<Sink>>>,
}

impl Observer {
    pub fn new(echo: bool, echo_params: bool) -> Self {
        Observer {
            echo,
            echo_params,
            ..Observer::default()
        }
    }

    /// Whether anyone wants to see statements (checked before building
    /// parameter lists, which only then are worth the allocation).
    #[inline]
    pub fn active(&self) -> bool {
        self.echo || self.active.load(Ordering::Relaxed) > 0
    }

    pub fn observe(&self, sql: &str, params: &dyn Fn() -> Vec<Value>) {
        let recording = self.active.load(Ordering::Relaxed) > 0;
        let params = if recording || (self.echo && self.echo_params) {
            params()
        } else {
            Vec::new()
        };
        if self.echo {
            if self.echo_params {
                log::info!(target: "orm::sql", "{sql} -- {params:?}");
            } else {
                log::info!(target: "orm::sql", "{sql}");
            }
        }
        if recording {
            let sinks = self.sinks.lock().unwrap_or_else(|p| p.into_inner());
            for sink in sinks.iter().filter_map(Weak::upgrade) {
                sink.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(RecordedStatement {
                        sql: sql.to_owned(),
                        params: params.clone(),
                    });
            }
        }
    }

    pub fn start_recording(self: &Arc<Self>) -> Recorder {
        let sink: Arc<Sink> = Arc::default();
        self.sinks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Arc::downgrade(&sink));
        self.active.fetch_add(1, Ordering::Relaxed);
        Recorder {
            sink,
            observer: Arc::clone(self),
        }
    }
}

/// Records every statement a [`Database`](crate::Database) runs, in any of
/// its sessions, from creation until it is dropped. Made by
/// [`Database::record`](crate::Database::record); meant for tests that
/// assert which and how many statements ran.
///
/// # Examples
///
/// ```
/// use orm::prelude::*;
///
/// #[derive(Model, Debug, Default)]
/// struct User { #[orm(primary_key)] id: i64, name: String }
///
/// # fn main() -> orm::Result<()> {
/// let db = Database::builder().model::<User>().open("sqlite://")?;
/// db.create_all()?;
/// let rec = db.record();
/// let session = db.session();
/// session.query::<User>().all()?;
/// session.query::<User>().count()?;
/// assert_eq!(rec.queries().len(), 2, "this request ran 2 queries");
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Recorder {
    sink: Arc<Sink>,
    observer: Arc<Observer>,
}

impl Recorder {
    /// Every statement so far, in order.
    ///
    /// # Examples
    ///
    /// ```
    /// let db = orm::Database::open("sqlite://").unwrap();
    /// let rec = db.record();
    /// assert!(rec.statements().is_empty());
    /// ```
    pub fn statements(&self) -> Vec<RecordedStatement> {
        self.sink.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The SQL text of every statement so far.
    ///
    /// # Examples
    ///
    /// ```
    /// let db = orm::Database::open("sqlite://").unwrap();
    /// let rec = db.record();
    /// db.create_all().unwrap();
    /// assert!(rec.sql().iter().all(|s| !s.is_empty()));
    /// ```
    pub fn sql(&self) -> Vec<String> {
        self.statements().into_iter().map(|s| s.sql).collect()
    }

    /// The SELECT statements so far.
    ///
    /// # Examples
    ///
    /// ```
    /// let db = orm::Database::open("sqlite://").unwrap();
    /// let rec = db.record();
    /// assert_eq!(rec.queries().len(), 0);
    /// ```
    pub fn queries(&self) -> Vec<RecordedStatement> {
        self.statements()
            .into_iter()
            .filter(|s| s.is_query())
            .collect()
    }

    /// Statements other than transaction control (BEGIN, COMMIT, ...).
    ///
    /// # Examples
    ///
    /// ```
    /// let db = orm::Database::open("sqlite://").unwrap();
    /// let rec = db.record();
    /// assert!(rec.without_transaction_control().is_empty());
    /// ```
    pub fn without_transaction_control(&self) -> Vec<RecordedStatement> {
        self.statements()
            .into_iter()
            .filter(|s| !s.is_transaction_control())
            .collect()
    }

    /// How many statements so far.
    ///
    /// # Examples
    ///
    /// ```
    /// let db = orm::Database::open("sqlite://").unwrap();
    /// let rec = db.record();
    /// assert_eq!(rec.len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.sink.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether no statement ran yet.
    ///
    /// # Examples
    ///
    /// ```
    /// let db = orm::Database::open("sqlite://").unwrap();
    /// assert!(db.record().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forget what was recorded so far.
    ///
    /// # Examples
    ///
    /// ```
    /// let db = orm::Database::open("sqlite://").unwrap();
    /// let rec = db.record();
    /// db.create_all().unwrap();
    /// rec.clear();
    /// assert!(rec.is_empty());
    /// ```
    pub fn clear(&self) {
        self.sink.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.observer.active.fetch_sub(1, Ordering::Relaxed);
        let mut sinks = self
            .observer
            .sinks
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        sinks
            .retain(|w| w.strong_count() > 0 && !std::ptr::eq(w.as_ptr(), Arc::as_ptr(&self.sink)));
    }
}

impl Conn {
    /// Prepare (from the per-connection cache) and report `sql` to the observer.
    #[inline]
    pub fn prepare<'c>(
        &'c self,
        sql: &str,
        observer: &Observer,
        params: &dyn Fn() -> Vec<Value>,
    ) -> Result<CachedStatement<'c>> {
        if observer.active() {
            observer.observe(sql, params);
        }
        self.raw
            .prepare_cached(sql)
            .map_err(|e| Error::from_sqlite(e, Some(sql)))
    }

    /// Run a statement without parameters or results (transaction control,
    /// DDL).
    pub fn execute_control(&self, sql: &str, observer: &Observer) -> Result<()> {
        let mut stmt = self.prepare(sql, observer, &Vec::new)?;
        stmt.raw_execute()
            .map(|_| ())
            .map_err(|e| Error::from_sqlite(e, Some(sql)))
    }

    /// [`prepare`](Self::prepare) `sql` and bind `params` in order.
    pub fn prepare_bound<'c>(
        &'c self,
        sql: &str,
        params: &[Value],
        observer: &Observer,
    ) -> Result<CachedStatement<'c>> {
        let mut stmt = self.prepare(sql, observer, &|| params.to_vec())?;
        for (i, p) in params.iter().enumerate() {
            stmt.raw_bind_parameter(i + 1, p)
                .map_err(|e| Error::from_sqlite(e, Some(sql)))?;
        }
        Ok(stmt)
    }

    /// Run a statement with owned parameters, returning the changed row count.
    pub fn execute_values(
        &self,
        sql: &str,
        params: &[Value],
        observer: &Observer,
    ) -> Result<usize> {
        crate::types::check_params(params)?;
        let mut stmt = self.prepare_bound(sql, params, observer)?;
        stmt.raw_execute()
            .map_err(|e| Error::from_sqlite(e, Some(sql)))
    }

    /// `BEGIN IMMEDIATE`: take the write lock now, so the transaction never
    /// fails later with BUSY_SNAPSHOT when it upgrades from read to write.
    pub fn begin_immediate(&self, observer: &Observer) -> Result<()> {
        self.execute_control("BEGIN IMMEDIATE", observer)
    }

    /// Roll back whatever transaction is open. If ROLLBACK itself fails the
    /// connection is marked broken, so the pool replaces it.
    pub fn rollback_quietly(&mut self, observer: &Observer) {
        if self.raw.is_autocommit() {
            return;
        }
        if self.execute_control("ROLLBACK", observer).is_err() && !self.raw.is_autocommit() {
            self.broken = true;
        }
    }
}
