//! [`Database`]: the pool of connections, the registered models, and the
//! settings every session shares. Cheap to clone and shareable between
//! threads; each thread or request opens its own [`Session`](crate::Session).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::backend::sqlite::{self, ConnSettings, FileIdentity, SqliteTarget};
use crate::backend::{
    Backend, Conn, Dialect, Isolation, JournalMode, Manager, Synchronous, Target,
};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::observe::{Observer, Recorder};
use crate::schema::registry::Registry;
use crate::schema::{TableDef, ddl};
use crate::sql::writer;
use crate::url::{self, Location};

/// A database: a pool of SQLite connections plus the models registered with
/// it. `Send + Sync + Clone`; clones share the pool.
///
/// Every connection gets `PRAGMA foreign_keys = ON`, a busy timeout, the
/// double-quoted-string misfeature turned off, SQLite's query planner
/// stability guarantee (a cached statement keeps its plan whatever values
/// are bound to it, rather than being compiled again for new values),
/// and, for files, WAL journaling. In-memory databases (`sqlite://`) are
/// shared by all connections of one `Database` and live as long as it
/// does.
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
///     #[orm(max_length = 50, unique)]
///     username: String,
/// }
///
/// # fn main() -> orm::Result<()> {
/// let db = Database::builder().model::<User>().open("sqlite://")?;
/// db.create_all()?;
/// let session = db.session();
/// let john = session.add(User { username: "john".into(), ..Default::default() })?;
/// session.commit()?;
/// assert_eq!(john.read()?.id, 1);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Database {
    pub(crate) inner: Arc<DbInner>,
}

pub(crate) struct DbInner {
    pub url: String,
    pub memory: bool,
    /// The SQL the connections speak.
    pub dialect: &'static Dialect,
    pub pool: r2d2::Pool<Manager>,
    pub registry: Registry,
    pub observer: Arc<Observer>,
    pub autoflush: bool,
    /// New sessions expire every object after each commit.
    pub expire_on_commit: bool,
    /// Session hooks every session runs.
    pub events: crate::session::SharedEvents,
    /// The isolation level of write transactions, when one was asked for.
    pub isolation: Option<Isolation>,
    pub journal_mode: JournalMode,
    /// The database file as opened (files only).
    pub file: Option<FileIdentity>,
    /// Keeps a shared in-memory database alive while the pool has no
    /// connection open.
    _keeper: Option<Mutex<Conn>>,
    /// `Database::run`'s slots: one per pooled connection.
    #[cfg(feature = "tokio")]
    pub units: std::sync::OnceLock<Arc<tokio::sync::Semaphore>>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("url", &self.inner.url)
            .field(
                "tables",
                &self
                    .inner
                    .registry
                    .tables()
                    .iter()
                    .map(|t| t.name)
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// Options for [`Database`], and the place models are registered.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use orm::prelude::*;
///
/// #[derive(Model, Debug, Default)]
/// struct User { #[orm(primary_key)] id: i64 }
///
/// # fn main() -> orm::Result<()> {
/// let db = Database::builder()
///     .model::<User>()
///     .pool_size(4)
///     .busy_timeout(Duration::from_secs(2))
///     .echo(true)
///     .open("sqlite://")?;
/// db.create_all()?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until .open(url) is called"]
pub struct DatabaseBuilder {
    models: Vec<&'static TableDef>,
    pool_size: u32,
    busy_timeout: Duration,
    acquire_timeout: Duration,
    journal_mode: Option<JournalMode>,
    synchronous: Synchronous,
    echo: bool,
    echo_params: bool,
    autoflush: bool,
    isolation: Option<Isolation>,
    schema_check: SchemaCheck,
    expire_on_commit: bool,
    events: crate::session::SharedEvents,
}

/// What opening a [`Database`] does about tables that differ from the
/// registered models (a column the model has and the table lacks, a
/// missing UNIQUE constraint, a changed type...).
///
/// Only tables that exist are compared: a table that does not exist yet is
/// left to [`Database::create_all`] or a migration.
/// [`Database::check_schema`] reports every difference, missing tables
/// included.
///
/// # Examples
///
/// ```
/// use orm::prelude::*;
///
/// #[derive(Model, Debug, Default)]
/// struct User { #[orm(primary_key)] id: i64, #[orm(unique)] username: String }
///
/// # fn main() -> orm::Result<()> {
/// let dir = tempfile::tempdir().unwrap();
/// let url = format!("sqlite:///{}", dir.path().join("app.db").display());
/// // A table made by another program, without the UNIQUE constraint.
/// let other = Database::open(&url)?;
/// let s = other.session();
/// s.execute("CREATE TABLE user (id INTEGER NOT NULL, username VARCHAR NOT NULL, PRIMARY KEY (id))", &[])?;
/// s.commit()?;
///
/// let err = Database::builder()
///     .model::<User>()
///     .schema_check(orm::SchemaCheck::Strict)
///     .open(&url)
///     .unwrap_err();
/// assert!(err.to_string().contains(r#"table "user" lacks the model's UNIQUE (username)"#));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SchemaCheck {
    /// Do not compare.
    Off,
    /// Log a warning (target `orm::schema`) naming each difference. The
    /// default.
    #[default]
    Warn,
    /// Refuse to open: [`Error::SchemaDrift`] lists the differences.
    Strict,
}

impl Default for DatabaseBuilder {
    fn default() -> Self {
        DatabaseBuilder {
            models: Vec::new(),
            pool_size: 10,
            busy_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(30),
            journal_mode: None,
            synchronous: Synchronous::Full,
            echo: false,
            echo_params: false,
            autoflush: true,
            isolation: None,
            schema_check: SchemaCheck::Warn,
            expire_on_commit: false,
            events: crate::session::SharedEvents::default(),
        }
    }
}

impl DatabaseBuilder {
    /// Register a model, and with it every model it reaches through foreign
    /// keys and relationships. [`Database::create_all`] creates the tables of
    /// registered models; relationships declared on one model and used from
    /// another need both registered.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    ///
    /// #[derive(Model, Debug, Default)]
    /// struct Author { #[orm(primary_key)] id: i64 }
    ///
    /// #[derive(Model, Debug, Default)]
    /// struct Book {
    ///     #[orm(primary_key)] id: i64,
    ///     #[orm(foreign_key = Author::id)] author_id: i64,
    /// }
    ///
    /// # fn main() -> orm::Result<()> {
    /// // Book reaches Author through its foreign key.
    /// let db = Database::builder().model::<Book>().open("sqlite://")?;
    /// let names: Vec<_> = db.tables().iter().map(|t| t.name).collect();
    /// assert_eq!(names, ["author", "book"]);
    /// # Ok(()) }
    /// ```
    pub fn model<M: Model>(mut self) -> Self {
        self.models.push(M::table());
        self
    }

    /// Most connections open at once (default 10). A session holds one from
    /// its first statement until commit, rollback or drop.
    ///
    /// # Examples
    ///
    /// ```
    /// let db = orm::Database::builder().pool_size(2).open("sqlite://").unwrap();
    /// # let _ = db;
    /// ```
    pub fn pool_size(mut self, size: u32) -> Self {
        self.pool_size = size.max(1);
        self
    }

    /// How long a statement waits for another connection's lock before
    /// failing with [`Error::Busy`] (default 5 s). SQLite only: a server
    /// makes a statement wait for row locks (set `lock_timeout` in the URL's
    /// `options` to bound the wait on PostgreSQL).
    ///
    /// # Examples
    ///
    /// ```
    /// let db = orm::Database::builder()
    ///     .busy_timeout(std::time::Duration::ZERO)
    ///     .open("sqlite://")
    ///     .unwrap();
    /// # let _ = db;
    /// ```
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// How long a session waits for a free pooled connection before failing
    /// with [`Error::Pool`] (default 30 s).
    ///
    /// # Examples
    ///
    /// ```
    /// let db = orm::Database::builder()
    ///     .acquire_timeout(std::time::Duration::from_secs(1))
    ///     .open("sqlite://")
    ///     .unwrap();
    /// # let _ = db;
    /// ```
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// Journal mode for SQLite file databases; other backends ignore it.
    ///
    /// Without it, a file orm creates (or finds empty) is switched to
    /// [`JournalMode::Wal`], which lasts: other programs then see a WAL
    /// file too. A file that already holds a database keeps the mode it
    /// has, so opening a file another program made does not change it.
    /// Set a mode to switch any file to it.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = orm::Database::builder().journal_mode(orm::JournalMode::Delete);
    /// # let _ = b;
    /// ```
    pub fn journal_mode(mut self, mode: JournalMode) -> Self {
        self.journal_mode = Some(mode);
        self
    }

    /// Durability of commits for SQLite file databases (default
    /// [`Synchronous::Full`]); other backends ignore it.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = orm::Database::builder().synchronous(orm::Synchronous::Normal);
    /// # let _ = b;
    /// ```
    pub fn synchronous(mut self, mode: Synchronous) -> Self {
        self.synchronous = mode;
        self
    }

    /// Log every statement through the `log` crate (target `orm::sql`, level
    /// info), like SQLAlchemy's `echo=True`. Bound values are not logged
    /// unless [`echo_params`](Self::echo_params) is also on.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = orm::Database::builder().echo(true);
    /// # let _ = b;
    /// ```
    pub fn echo(mut self, on: bool) -> Self {
        self.echo = on;
        self
    }

    /// Also log bound values with [`echo`](Self::echo). Off by default:
    /// values include passwords and personal data.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = orm::Database::builder().echo(true).echo_params(true);
    /// # let _ = b;
    /// ```
    pub fn echo_params(mut self, on: bool) -> Self {
        self.echo_params = on;
        self
    }

    /// The isolation level of every write transaction (default: the
    /// database's own, `READ COMMITTED` on PostgreSQL; SQLite is always
    /// serializable). [`Session::begin_with`](crate::Session::begin_with)
    /// sets it for one transaction.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = orm::Database::builder().isolation(orm::Isolation::RepeatableRead);
    /// # let _ = b;
    /// ```
    pub fn isolation(mut self, level: Isolation) -> Self {
        self.isolation = Some(level);
        self
    }

    /// Whether new sessions flush pending changes before each query (default
    /// on). See [`Session::set_autoflush`](crate::Session::set_autoflush).
    ///
    /// # Examples
    ///
    /// ```
    /// let b = orm::Database::builder().autoflush(false);
    /// # let _ = b;
    /// ```
    pub fn autoflush(mut self, on: bool) -> Self {
        self.autoflush = on;
        self
    }

    /// What opening does when existing tables differ from the registered
    /// models: log a warning per difference ([`SchemaCheck::Warn`], the
    /// default), refuse ([`SchemaCheck::Strict`]), or not compare.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = orm::Database::builder().schema_check(orm::SchemaCheck::Strict);
    /// # let _ = b;
    /// ```
    pub fn schema_check(mut self, check: SchemaCheck) -> Self {
        self.schema_check = check;
        self
    }

    /// Whether new sessions expire every object after each commit
    /// (SQLAlchemy's `expire_on_commit`), so its attributes are read again
    /// from the database on next access. **Off by default**, unlike
    /// Flask-SQLAlchemy; see
    /// [`Session::set_expire_on_commit`](crate::Session::set_expire_on_commit)
    /// for what it costs and why.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64, name: String }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<User>().expire_on_commit(true).open("sqlite://")?;
    /// db.create_all()?;
    /// let s = db.session();
    /// let u = s.add(User { name: "ann".into(), ..Default::default() })?;
    /// s.commit()?;
    /// assert!(u.is_expired()); // the next read() runs a SELECT
    /// # Ok(()) }
    /// ```
    pub fn expire_on_commit(mut self, on: bool) -> Self {
        self.expire_on_commit = on;
        self
    }

    /// Run `hook` at the start of every flush of every session, before the
    /// changes are collected (SQLAlchemy's `before_flush` session event):
    /// it may add, change or delete objects, and query (without autoflush);
    /// an error fails the flush, which then changes nothing more. It
    /// cannot flush, commit or roll back the session ([`Error::Usage`]).
    /// Hooks run in the order registered, the database's before the
    /// session's own ([`Session::on_before_flush`](crate::Session::on_before_flush)).
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct Note { #[orm(primary_key)] id: i64, text: String }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder()
    ///     .model::<Note>()
    ///     .on_before_flush(|s| {
    ///         if s.query::<Note>().count()? >= 2 {
    ///             return Err(orm::Error::Usage("two notes at most".into()));
    ///         }
    ///         Ok(())
    ///     })
    ///     .open("sqlite://")?;
    /// db.create_all()?;
    /// let s = db.session();
    /// s.add(Note::default())?;
    /// s.add(Note::default())?;
    /// s.commit()?;
    /// s.add(Note::default())?;
    /// assert!(s.commit().is_err());
    /// # Ok(()) }
    /// ```
    pub fn on_before_flush(
        mut self,
        hook: impl Fn(&crate::Session) -> Result<()> + Send + Sync + 'static,
    ) -> Self {
        self.events.before_flush.push(Arc::new(hook));
        self
    }

    /// Run `hook` after every successful commit of every session
    /// (SQLAlchemy's `after_commit`): the transaction is over, so it
    /// cannot fail; the session may be read from it, but not flushed,
    /// committed or rolled back.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    ///
    /// # fn main() -> orm::Result<()> {
    /// let commits = Arc::new(AtomicUsize::new(0));
    /// let seen = Arc::clone(&commits);
    /// let db = orm::Database::builder()
    ///     .on_after_commit(move |_| { seen.fetch_add(1, Ordering::Relaxed); })
    ///     .open("sqlite://")?;
    /// db.session().commit()?;
    /// assert_eq!(commits.load(Ordering::Relaxed), 1);
    /// # Ok(()) }
    /// ```
    pub fn on_after_commit(
        mut self,
        hook: impl Fn(&crate::Session) + Send + Sync + 'static,
    ) -> Self {
        self.events.after_commit.push(Arc::new(hook));
        self
    }

    /// Run `hook` after every [`rollback`](crate::Session::rollback) (and
    /// [`close`](crate::Session::close)) of every session (SQLAlchemy's
    /// `after_rollback`; not for a rollback to a savepoint). It cannot
    /// fail; the session may be used from it, but not flushed, committed
    /// or rolled back.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    ///
    /// # fn main() -> orm::Result<()> {
    /// let rollbacks = Arc::new(AtomicUsize::new(0));
    /// let seen = Arc::clone(&rollbacks);
    /// let db = orm::Database::builder()
    ///     .on_after_rollback(move |_| { seen.fetch_add(1, Ordering::Relaxed); })
    ///     .open("sqlite://")?;
    /// db.session().rollback()?;
    /// assert_eq!(rollbacks.load(Ordering::Relaxed), 1);
    /// # Ok(()) }
    /// ```
    pub fn on_after_rollback(
        mut self,
        hook: impl Fn(&crate::Session) + Send + Sync + 'static,
    ) -> Self {
        self.events.after_rollback.push(Arc::new(hook));
        self
    }

    /// Open the database at `url` (see [`Database::open`] for the forms).
    ///
    /// When models are registered and some of their tables exist, the
    /// tables are compared with the models (see
    /// [`schema_check`](Self::schema_check)).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidUrl`] for a malformed URL, [`Error::Open`] when the
    /// file cannot be opened, [`Error::Schema`] when the registered models do
    /// not fit together, [`Error::SchemaDrift`] when the tables differ from
    /// the models under [`SchemaCheck::Strict`].
    ///
    /// # Examples
    ///
    /// ```
    /// let db = orm::Database::builder().open("sqlite:///:memory:").unwrap();
    /// # let _ = db;
    /// ```
    pub fn open(self, url: &str) -> Result<Database> {
        let location = url::parse(url)?;
        let settings = ConnSettings {
            busy_timeout: self.busy_timeout,
            journal_mode: self.journal_mode,
            synchronous: self.synchronous,
        };
        let memory = location == Location::Memory;
        let location = match location {
            Location::File(p) => sqlite::Location::File(p),
            Location::Memory => sqlite::Location::Memory(memory_name()),
            #[cfg(feature = "postgres")]
            Location::Postgres(u) => {
                let shown = url::redact(url);
                let config = u
                    .parse::<postgres::Config>()
                    .map_err(|e| Error::InvalidUrl {
                        url: shown.clone(),
                        reason: e.to_string(),
                    })?;
                let backend = crate::backend::postgres::PgBackend::new(config, shown)?;
                return self.open_target(url, Target::Other(Arc::new(backend)), false);
            }
        };
        self.open_target(
            url,
            Target::Sqlite(SqliteTarget { location, settings }),
            memory,
        )
    }

    /// Open a database of another backend than SQLite, given as a
    /// [`Backend`]; `url` names it (for [`Database::url`] and logs).
    ///
    /// # Errors
    ///
    /// [`Error::Schema`] when the registered models do not fit together;
    /// the backend's error when its first connection fails.
    ///
    /// # Examples
    ///
    /// See `tests/fake_backend.rs` for a backend that records statements;
    /// [`Backend`] shows the trait.
    ///
    /// ```no_run
    /// # use orm::backend::{Backend, Connection, Dialect};
    /// # #[derive(Debug)] struct Mine;
    /// # impl Backend for Mine {
    /// #     fn dialect(&self) -> &'static Dialect { &Dialect::SQLITE }
    /// #     fn connect(&self) -> orm::Result<Box<dyn Connection>> {
    /// #         Err(orm::Error::Usage("an example backend".into()))
    /// #     }
    /// # }
    /// let db = orm::Database::builder().open_backend("mine://", Mine)?;
    /// # Ok::<(), orm::Error>(())
    /// ```
    pub fn open_backend(self, url: &str, backend: impl Backend) -> Result<Database> {
        self.open_target(url, Target::Other(Arc::new(backend)), false)
    }

    fn open_target(self, url: &str, target: Target, memory: bool) -> Result<Database> {
        let registry = Registry::build(&self.models)?;
        let manager = Manager { target };
        // Open one connection now, so a bad path fails here and not at the
        // first query (the pool would retry until its timeout). For memory it
        // also keeps the shared database alive.
        let first = manager.open()?;
        let journal_mode = first.journal_mode()?;
        let (keeper, file) = match &manager.target {
            Target::Sqlite(SqliteTarget {
                location: sqlite::Location::File(path),
                ..
            }) => (None, Some(FileIdentity::of(path))),
            Target::Sqlite(_) => (Some(Mutex::new(first)), None),
            Target::Other(_) => (None, None),
        };
        let dialect = manager.dialect();
        let pool = r2d2::Pool::builder()
            .max_size(self.pool_size)
            .min_idle(Some(0))
            .max_lifetime(None)
            .idle_timeout(None)
            .test_on_check_out(false)
            .connection_timeout(self.acquire_timeout)
            .thread_pool(shared_pool_thread())
            .error_handler(Box::new(r2d2::NopErrorHandler))
            .build_unchecked(manager);
        let db = Database {
            inner: Arc::new(DbInner {
                url: url::redact(url),
                memory,
                dialect,
                pool,
                registry,
                observer: Arc::new(Observer::new(self.echo, self.echo_params)),
                autoflush: self.autoflush,
                expire_on_commit: self.expire_on_commit,
                events: self.events,
                isolation: self.isolation,
                journal_mode,
                file,
                _keeper: keeper,
                #[cfg(feature = "tokio")]
                units: std::sync::OnceLock::new(),
            }),
        };
        db.check_at_open(self.schema_check)?;
        Ok(db)
    }
}

/// A process-unique name for a new in-memory database.
fn memory_name() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!(
        "orm-memory-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// r2d2 runs pool maintenance on a thread pool; one thread serves every
/// `Database` of the process instead of three per pool.
fn shared_pool_thread() -> Arc<scheduled_thread_pool::ScheduledThreadPool> {
    static POOL: OnceLock<Arc<scheduled_thread_pool::ScheduledThreadPool>> = OnceLock::new();
    POOL.get_or_init(|| {
        Arc::new(
            scheduled_thread_pool::ScheduledThreadPool::builder()
                .num_threads(1)
                .thread_name_pattern("orm-pool-{}")
                .build(),
        )
    })
    .clone()
}

impl Database {
    /// Open a database with no registered models and default settings.
    ///
    /// | URL | database |
    /// |---|---|
    /// | `sqlite:///app.db` | `app.db` relative to the current directory |
    /// | `sqlite:////var/data/app.db` | an absolute path |
    /// | `sqlite://` or `sqlite:///:memory:` | a new in-memory database |
    ///
    /// Use [`Database::builder`] to register models and change settings.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidUrl`] for a malformed URL or another scheme;
    /// [`Error::Open`] when the file cannot be opened.
    ///
    /// # Examples
    ///
    /// ```
    /// let db = orm::Database::open("sqlite://").unwrap();
    /// assert!(db.is_memory());
    /// let err = orm::Database::open("sqlite:/app.db").unwrap_err();
    /// assert!(err.to_string().contains("sqlite:///relative.db"));
    /// ```
    pub fn open(url: &str) -> Result<Database> {
        DatabaseBuilder::default().open(url)
    }

    /// Start configuring a database: register models, set options, then
    /// [`open`](DatabaseBuilder::open).
    ///
    /// # Examples
    ///
    /// ```
    /// let db = orm::Database::builder().open("sqlite://").unwrap();
    /// # let _ = db;
    /// ```
    pub fn builder() -> DatabaseBuilder {
        DatabaseBuilder::default()
    }

    /// The URL the database was opened with.
    ///
    /// # Examples
    ///
    /// ```
    /// let db = orm::Database::open("sqlite://").unwrap();
    /// assert_eq!(db.url(), "sqlite://");
    /// ```
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// Whether this is an in-memory database.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(orm::Database::open("sqlite:///:memory:").unwrap().is_memory());
    /// ```
    pub fn is_memory(&self) -> bool {
        self.inner.memory
    }

    /// The journal mode of the SQLite database as it was opened (see
    /// [`DatabaseBuilder::journal_mode`]); [`JournalMode::Other`] for an
    /// in-memory database and for other backends.
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let url = format!("sqlite:///{}", dir.path().join("new.db").display());
    /// let db = orm::Database::open(&url).unwrap();
    /// assert_eq!(db.journal_mode(), orm::JournalMode::Wal); // a new file
    /// ```
    pub fn journal_mode(&self) -> JournalMode {
        self.inner.journal_mode
    }

    /// The registered tables, parents before children.
    ///
    /// # Examples
    ///
    /// ```
    /// let db = orm::Database::open("sqlite://").unwrap();
    /// assert!(db.tables().is_empty());
    /// ```
    pub fn tables(&self) -> &[&'static TableDef] {
        self.inner.registry.tables()
    }

    /// Create every registered model's table and indexes, parents before
    /// children, in one transaction. Tables that exist are left alone, so
    /// running it twice is fine (like `db.create_all()`).
    ///
    /// # Errors
    ///
    /// [`Error::Busy`] when another connection holds the write lock; other
    /// SQLite errors as [`Error::Sqlite`]. Nothing is created on error.
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
    /// db.create_all()?;
    /// # Ok(()) }
    /// ```
    pub fn create_all(&self) -> Result<()> {
        let mut statements = Vec::new();
        for t in self.tables() {
            statements.push(ddl::create_table(t, self.inner.dialect));
            statements.extend(ddl::create_indexes(t));
        }
        self.run_ddl(&statements)
    }

    /// Compare the registered models with the database's tables: the
    /// operations that would take the database to the models, each of
    /// which says what differs ([`Op::drift`](crate::migrate::Op::drift)).
    /// Empty when they match. Missing tables are included (`create table`),
    /// and so are tables no model maps (`drop table`).
    ///
    /// # Errors
    ///
    /// Database errors reading the schema; [`Error::Usage`] for a backend
    /// whose dialect does not say how to read its catalog.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    ///
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64, #[orm(unique)] username: String }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<User>().open("sqlite://")?;
    /// assert_eq!(db.check_schema()?[0].drift(), r#"table "user" of the models does not exist"#);
    /// db.create_all()?;
    /// assert!(db.check_schema()?.is_empty());
    /// # Ok(()) }
    /// ```
    pub fn check_schema(&self) -> Result<Vec<crate::migrate::Op>> {
        let live = self.live_schema()?;
        let models = crate::migrate::Schema::from_models(self.tables(), self.inner.dialect);
        Ok(crate::migrate::compare(
            &models,
            &live,
            self.inner.dialect.schema_editing(),
        ))
    }

    /// The registered models as a Mermaid `erDiagram` (see
    /// [`migrate::diagram`](crate::migrate::diagram)).
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64 }
    ///
    /// let db = Database::builder().model::<User>().open("sqlite://").unwrap();
    /// assert_eq!(db.diagram(), "erDiagram\n    user {\n        INTEGER id PK\n    }\n");
    /// ```
    pub fn diagram(&self) -> String {
        crate::migrate::diagram(self.tables())
    }

    /// The comparison [`DatabaseBuilder::open`] makes: existing tables of
    /// the models against the models.
    fn check_at_open(&self, mode: SchemaCheck) -> Result<()> {
        use crate::backend::SchemaEditing;
        let editing = self.inner.dialect.schema_editing();
        if mode == SchemaCheck::Off || self.tables().is_empty() || editing == SchemaEditing::None {
            return Ok(());
        }
        let found = (|| {
            let mut conn = self.connection()?;
            let observer = &self.inner.observer;
            let names = crate::migrate::reflect_table_names(&mut conn, observer)?;
            // A new database: create_all or a migration makes the tables.
            if !self
                .tables()
                .iter()
                .any(|t| names.iter().any(|n| n == t.name))
            {
                return Ok(Vec::new());
            }
            drop(conn);
            let ops = self.check_schema()?;
            Ok(ops
                .into_iter()
                .filter(|op| {
                    !matches!(
                        op,
                        crate::migrate::Op::CreateTable { .. }
                            | crate::migrate::Op::DropTable { .. }
                    )
                })
                .map(|op| op.drift())
                .collect::<Vec<_>>())
        })();
        match (found, mode) {
            (Ok(differences), _) if differences.is_empty() => Ok(()),
            (Ok(differences), SchemaCheck::Strict) => Err(Error::SchemaDrift { differences }),
            (Ok(differences), _) => {
                for d in differences {
                    log::warn!(target: "orm::schema", "{}: {d}", self.url());
                }
                Ok(())
            }
            (Err(e), SchemaCheck::Strict) => Err(e),
            (Err(e), _) => {
                log::warn!(target: "orm::schema", "{}: the schema could not be compared with the models: {e}", self.url());
                Ok(())
            }
        }
    }

    /// Drop every registered model's table, children before parents.
    /// Missing tables are skipped.
    ///
    /// # Errors
    ///
    /// As [`create_all`](Self::create_all).
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
    /// db.drop_all()?;
    /// db.drop_all()?;
    /// # Ok(()) }
    /// ```
    pub fn drop_all(&self) -> Result<()> {
        let statements: Vec<_> = self
            .tables()
            .iter()
            .rev()
            .map(|t| ddl::drop_table(t))
            .collect();
        self.run_ddl(&statements)
    }

    fn run_ddl(&self, statements: &[crate::sql::ast::Statement]) -> Result<()> {
        let mut conn = self.connection()?;
        let observer = &self.inner.observer;
        conn.begin_write(self.inner.isolation, observer)?;
        let result = statements.iter().try_for_each(|s| {
            let w = writer::write(s, self.inner.dialect)?;
            conn.execute_values(&w.sql, &w.params, observer).map(|_| ())
        });
        let result = result.and_then(|_| self.check_file());
        match result.and_then(|_| conn.execute_control("COMMIT", observer)) {
            Ok(()) => Ok(()),
            Err(e) => {
                conn.rollback_quietly(observer);
                Err(e)
            }
        }
    }

    /// Start recording every statement this database runs, until the
    /// returned [`Recorder`] is dropped.
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
    /// session.add(User { name: "ann".into(), ..Default::default() })?;
    /// session.commit()?;
    /// assert_eq!(
    ///     rec.sql(),
    ///     ["BEGIN IMMEDIATE", r#"INSERT INTO "user" ("name") VALUES (?)"#, "COMMIT"]
    /// );
    /// # Ok(()) }
    /// ```
    pub fn record(&self) -> Recorder {
        self.inner.observer.start_recording()
    }

    /// Fail with [`Error::DatabaseMoved`] when the database file was
    /// deleted or replaced since it was opened (checked before every COMMIT).
    pub(crate) fn check_file(&self) -> Result<()> {
        match &self.inner.file {
            Some(f) => f.check(),
            None => Ok(()),
        }
    }

    /// SQLite's own report that the file was replaced under a connection
    /// (it refuses to write) becomes [`Error::DatabaseMoved`].
    #[cold]
    pub(crate) fn refine_error(&self, e: Error) -> Error {
        match &self.inner.file {
            Some(f) => f.refine(e),
            None => e,
        }
    }

    /// Take a connection from the pool.
    pub(crate) fn connection(&self) -> Result<r2d2::PooledConnection<Manager>> {
        if let Some(conn) = self.inner.pool.try_get() {
            return Ok(conn);
        }
        // A new connection will be opened: never create a new empty file
        // where the database was deleted.
        self.check_file()?;
        self.inner.pool.get().map_err(|e| {
            // r2d2 reports connection errors as text; keep the last one.
            Error::Pool(e.to_string())
        })
    }
}
