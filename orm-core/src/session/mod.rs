//! [`Session`]: the unit of work and identity map (SQLAlchemy's `Session`).
//!
//! A session belongs to one thread or request. It takes a pooled connection
//! at its first statement and gives it back at commit, rollback, close or
//! drop. Reads outside a write transaction run in autocommit mode; the first
//! flush opens a write transaction with `BEGIN IMMEDIATE`, so it can never
//! fail later when it upgrades from reading to writing.
//!
//! Module map:
//! - [`state`]: the session's state and lifecycle (connection, write
//!   transaction start, autoflush, ownership, detaching on close and drop)
//! - [`txn`]: the transaction log, and commit and rollback of the objects
//!   (SQLAlchemy's `SessionTransaction`); [`nested`]: savepoints
//!   (`begin_nested`); [`events`]: model hooks, session hooks, and the
//!   guard against re-entrant calls from them
//! - [`obj`]: handles and per-object state; [`identity`]: the identity map
//! - [`load`]: rows into objects (get, reload, refresh, bulk UPDATE and
//!   DELETE)
//! - [`flush`]: the unit of work, one file per step: `flush/organize.rs`,
//!   `flush/dependency.rs` (relationship changes into rows),
//!   `flush/plan.rs`, `flush/emit.rs`, `flush/finalize.rs`
//! - [`rel`]: relationships, one file per job: `rel/slots.rs`,
//!   `rel/sync.rs` (both ends in memory), `rel/cascade.rs`, `rel/load.rs`
//! - [`ops`]: type-erased entry points per model; [`key`]: key values in a
//!   hashable form; [`few`]: inline lists for flush rows

mod bulk;
mod events;
pub(crate) mod extra;
mod few;
mod flush;
mod identity;
mod key;
mod load;
mod nested;
pub(crate) mod obj;
pub(crate) mod obj_list;
mod ops;
pub(crate) mod rel;
mod retry;
pub(crate) mod state;
pub(crate) mod stream;
pub(crate) mod txn;

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;

use obj::{ErasedObj, Status};
use state::{SessionInner, SessionState};

use crate::database::Database;
use crate::error::{Error, Result};
use crate::model::Model;
pub use bulk::Upserted;
pub(crate) use bulk::run_upsert;
pub(crate) use events::HookEvent;
pub(crate) use events::SharedEvents;
pub use events::{HookFns, Hooks};
pub use extra::{ChildExtra, ExtraStore, LazyExtra};
pub use nested::Savepoint;
pub use obj::{Obj, ObjState};
pub use ops::ModelOps;
pub use retry::TransactionOptions;

/// Something [`Session::add`] accepts: a model value, or a handle made with
/// [`Obj::new`].
///
/// # Examples
///
/// ```
/// use orm::prelude::*;
/// #[derive(Model, Debug, Default)]
/// struct User { #[orm(primary_key)] id: i64 }
///
/// # fn main() -> orm::Result<()> {
/// let db = Database::builder().model::<User>().open("sqlite://")?;
/// let s = db.session();
/// let a = s.add(User::default())?;          // a value
/// let b = s.add(Obj::new(User::default()))?; // a handle
/// s.add(&b)?;                               // adding again does nothing
/// assert!(a != b);
/// # Ok(()) }
/// ```
pub trait Addable {
    /// The model.
    type Model: Model;
    /// The handle to track.
    fn into_obj(self) -> Obj<Self::Model>;
}

impl<M: Model> Addable for M {
    type Model = M;
    fn into_obj(self) -> Obj<M> {
        Obj::new(self)
    }
}

impl<M: Model> Addable for Obj<M> {
    type Model = M;
    fn into_obj(self) -> Obj<M> {
        self
    }
}

impl<M: Model> Addable for &Obj<M> {
    type Model = M;
    fn into_obj(self) -> Obj<M> {
        self.clone()
    }
}

/// A unit of work: tracks objects, finds their changes, writes them in one
/// transaction at [`commit`](Session::commit).
///
/// Made by [`Database::session`]. Not `Send`: one session serves one thread
/// or request, like SQLAlchemy's.
///
/// Dropping a session rolls back what it did not commit and detaches its
/// objects (those added and not yet inserted become transient again, free
/// to join another session). Its identity maps, emptied, go to the next
/// sessions of the same thread (at most four maps per thread, each with
/// room for at most 2,048 objects; larger ones are freed), so a session
/// per request does not build them again each time.
///
/// # Examples
///
/// The first tutorial, end to end:
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
///     #[orm(max_length = 120, unique)]
///     email: String,
/// }
///
/// # fn main() -> orm::Result<()> {
/// let db = Database::builder().model::<User>().open("sqlite://")?;
/// db.create_all()?;
/// let session = db.session();
///
/// session.add(User { username: "john".into(), email: "john@example.com".into(), ..Default::default() })?;
/// session.commit()?;
///
/// let users = session.query::<User>().all()?;
/// assert_eq!(users.len(), 1);
///
/// let user = session.get::<User>(1)?.unwrap();
/// user.write()?.username = "new_username".into();
/// session.commit()?;
///
/// session.delete(&user)?;
/// session.commit()?;
/// assert_eq!(session.query::<User>().count()?, 0);
/// # Ok(()) }
/// ```
pub struct Session {
    pub(crate) inner: Rc<SessionInner>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.state.try_borrow();
        let mut d = f.debug_struct("Session");
        d.field("db", &self.inner.db.url());
        if let Ok(s) = state {
            d.field("objects", &s.maps.len())
                .field("pending", &s.pending.iter().count())
                .field("deleted", &s.deleted.len())
                .field("in_transaction", &s.txn.is_some());
        }
        d.finish_non_exhaustive()
    }
}

impl Database {
    /// A new session on this database.
    ///
    /// # Examples
    ///
    /// ```
    /// let db = orm::Database::open("sqlite://").unwrap();
    /// let session = db.session();
    /// assert!(!session.in_transaction());
    /// ```
    pub fn session(&self) -> Session {
        Session {
            inner: Rc::new_cyclic(|weak| SessionInner {
                db: self.clone(),
                weak_self: weak.clone(),
                conn: RefCell::new(None),
                state: RefCell::new(SessionState::default()),
                autoflush: Cell::new(self.inner.autoflush),
                needs_rollback: Cell::new(None),
                isolation: Cell::new(self.inner.isolation),
                expire_on_commit: Cell::new(self.inner.expire_on_commit),
                in_hook: Cell::new(events::InHook::No),
                events: RefCell::new(None),
                savepoint_ids: Cell::new(0),
                loads_unlisted: Cell::new(false),
            }),
        }
    }
}

impl Session {
    /// The database this session works on.
    ///
    /// # Examples
    ///
    /// ```
    /// let db = orm::Database::open("sqlite://").unwrap();
    /// assert_eq!(db.session().database().url(), "sqlite://");
    /// ```
    pub fn database(&self) -> &Database {
        &self.inner.db
    }

    /// Add an object: a model value (returns the handle to keep) or a
    /// transient [`Obj`]. It is inserted at the next flush and then holds its
    /// generated key. Adding an object already in this session does nothing.
    ///
    /// # Errors
    ///
    /// [`Error::WrongSession`] for an object of another session,
    /// [`Error::Detached`] for an object that left a session.
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
    /// let session = db.session();
    /// let ann = session.add(User { name: "ann".into(), ..Default::default() })?;
    /// assert_eq!(ann.read()?.id, 0);
    /// session.commit()?;
    /// assert_eq!(ann.read()?.id, 1);
    /// # Ok(()) }
    /// ```
    pub fn add<A: Addable>(&self, object: A) -> Result<Obj<A::Model>> {
        let obj = object.into_obj();
        self.inner.adopt_transient(&obj.erased())?;
        self.inner.cascade_add(&obj.erased())?;
        Ok(obj)
    }

    /// Add several objects; returns their handles in order.
    ///
    /// # Errors
    ///
    /// As [`add`](Self::add); objects before the failing one stay added.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    ///
    /// #[derive(Model, Debug, Default)]
    /// struct Tag { #[orm(primary_key)] id: i64, name: String }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<Tag>().open("sqlite://")?;
    /// db.create_all()?;
    /// let session = db.session();
    /// let tags = session.add_all(["a", "b"].map(|n| Tag { name: n.into(), ..Default::default() }))?;
    /// session.commit()?;
    /// assert_eq!(tags[1].read()?.id, 2);
    /// # Ok(()) }
    /// ```
    pub fn add_all<A: Addable>(
        &self,
        objects: impl IntoIterator<Item = A>,
    ) -> Result<Vec<Obj<A::Model>>> {
        let objects = objects.into_iter();
        if let Ok(mut state) = self.inner.state_mut() {
            state.pending.reserve(objects.size_hint().0);
        }
        objects.map(|o| self.add(o)).collect()
    }

    /// Mark an object for deletion. A pending object is simply discarded; a
    /// persistent one is deleted at the next flush and detached after
    /// commit. Relationships with a `delete` cascade delete their children
    /// too; other children have their foreign key set to NULL.
    ///
    /// What memory holds is dealt with now: a loaded collection's children,
    /// children given to the object since the last flush. Related rows not
    /// loaded are the next flush's work, as in SQLAlchemy: it loads them
    /// for every object deleted since the last flush at once (one SELECT
    /// per relationship and level of the cascade, not one per object), then
    /// applies the cascades; so deleting many objects runs no SQL until
    /// then. Until that flush, a child in memory whose parent's collection
    /// was not loaded still refers to the deleted parent; giving it that
    /// parent again is refused by the flush. If the flush fails after
    /// loading, the cascades stay applied in memory (as they would have
    /// been with everything loaded) and nothing is written.
    ///
    /// # Errors
    ///
    /// [`Error::WrongSession`] / [`Error::Detached`] for an object not in
    /// this session; loading errors for cascades (from the flush when the
    /// related rows were not loaded).
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
    /// let session = db.session();
    /// let ann = session.add(User { name: "ann".into(), ..Default::default() })?;
    /// session.commit()?;
    /// session.delete(&ann)?;
    /// session.commit()?;
    /// assert!(session.get::<User>(1)?.is_none());
    /// # Ok(()) }
    /// ```
    pub fn delete<M: Model>(&self, obj: &Obj<M>) -> Result<()> {
        self.inner.delete_erased(&obj.erased())
    }

    /// Write all pending changes in the open transaction (opening one with
    /// `BEGIN IMMEDIATE` if needed), without committing. INSERTs run parent
    /// first and DELETEs child first; generated keys are written back into
    /// the objects. A flush with nothing to do runs no SQL.
    ///
    /// # Errors
    ///
    /// A constraint violation, busy database, stale row or I/O error. On any
    /// error the flush is rolled back and every object and the session are
    /// exactly as before it, so the caller can fix an object and retry.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    ///
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64, #[orm(unique)] name: String }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<User>().open("sqlite://")?;
    /// db.create_all()?;
    /// let session = db.session();
    /// session.add(User { name: "ann".into(), ..Default::default() })?;
    /// let dup = session.add(User { name: "ann".into(), ..Default::default() })?;
    /// assert!(session.flush().is_err());
    /// assert_eq!(dup.state(), ObjState::Pending); // nothing was lost
    /// dup.write()?.name = "bob".into();
    /// session.commit()?;                        // fixed and retried
    /// assert_eq!(dup.read()?.id, 2);
    /// # Ok(()) }
    /// ```
    pub fn flush(&self) -> Result<()> {
        self.inner.flush()
    }

    /// Flush, then COMMIT. Deleted objects become detached; the connection
    /// goes back to the pool.
    ///
    /// # Errors
    ///
    /// Flush errors (nothing changed, see [`flush`](Self::flush)). If COMMIT
    /// itself fails and certainly did not commit (busy, deferred constraint,
    /// refused by a hook), the session is put back as it was before the
    /// transaction's flushes, so `commit()` can simply be retried. If COMMIT
    /// failed after the point where SQLite may have committed, the error is
    /// [`Error::CommitOutcomeUnknown`] and every object is expired, so the
    /// next access reads what the database really holds.
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
    /// let session = db.session();
    /// session.add(User { name: "ann".into(), ..Default::default() })?;
    /// session.commit()?;
    /// assert!(!session.in_transaction());
    /// assert_eq!(db.session().query::<User>().count()?, 1);
    /// # Ok(()) }
    /// ```
    pub fn commit(&self) -> Result<()> {
        self.inner.commit()
    }

    /// Roll back the open transaction. Pending objects are discarded (they
    /// become transient), unflushed changes are reverted from their
    /// snapshots, and objects the transaction wrote are expired (reloaded on
    /// next access); every object is, when the transaction also wrote
    /// outside the unit of work ([`execute`](Self::execute), bulk writes,
    /// objects flushed and then [`expunge`](Self::expunge)d), since what
    /// any object read may come from those writes.
    ///
    /// # Errors
    ///
    /// [`Error::Pool`] if a connection was needed and none is free (rare).
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
    /// let session = db.session();
    /// let ann = session.add(User { name: "ann".into(), ..Default::default() })?;
    /// session.commit()?;
    /// ann.write()?.name = "changed".into();
    /// let bob = session.add(User { name: "bob".into(), ..Default::default() })?;
    /// session.rollback()?;
    /// assert_eq!(ann.read()?.name, "ann");
    /// assert_eq!(bob.state(), ObjState::Transient);
    /// # Ok(()) }
    /// ```
    pub fn rollback(&self) -> Result<()> {
        self.inner.rollback()
    }

    /// Roll back and detach every object; the session can still be used
    /// afterwards, starting empty.
    ///
    /// # Errors
    ///
    /// As [`rollback`](Self::rollback).
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
    /// let session = db.session();
    /// let u = session.add(User::default())?;
    /// session.commit()?;
    /// session.close()?;
    /// assert_eq!(u.state(), ObjState::Detached);
    /// # Ok(()) }
    /// ```
    pub fn close(&self) -> Result<()> {
        self.inner.check_not_in_hook("close")?;
        self.inner.rollback()?;
        self.inner.detach_all();
        Ok(())
    }

    /// Open the write transaction now (`BEGIN IMMEDIATE`), before reading.
    ///
    /// Reads outside a write transaction each see the latest committed data
    /// but can interleave with other writers, so a read-modify-write cycle
    /// (read a counter, add one, commit) can lose an update to another
    /// session doing the same. After `begin()`, this session holds SQLite's
    /// write lock until commit or rollback: other writers wait (up to the
    /// busy timeout), and what it reads cannot change under it.
    ///
    /// On PostgreSQL, `begin()` opens a transaction (`BEGIN`, at the
    /// database's isolation level) and takes no lock: other sessions keep
    /// writing. For a safe read-modify-write there, read the rows with
    /// [`Query::for_update`](crate::Query::for_update) (their writers wait),
    /// or run the work at [`Isolation::Serializable`](crate::Isolation)
    /// through [`Database::transaction_with`](crate::Database::transaction_with),
    /// which retries what the server refuses. Both also work on SQLite.
    ///
    /// Objects the session already holds without unflushed changes are
    /// expired when the transaction opens, so their next access reads the
    /// row under the lock: on SQLite the obvious read-modify-write code
    /// below is safe even in a long-lived session. Does nothing if a transaction is
    /// already open.
    ///
    /// # Errors
    ///
    /// [`Error::Busy`] when another connection holds the write lock for
    /// longer than the busy timeout; [`Error::NeedsRollback`] after a commit
    /// of unknown outcome.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct Counter { #[orm(primary_key)] id: i64, value: i64 }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<Counter>().open("sqlite://")?;
    /// db.create_all()?;
    /// let s = db.session();
    /// s.add(Counter::default())?;
    /// s.commit()?;
    ///
    /// let s = db.session();
    /// s.begin()?; // the write lock first, then read
    /// let c = s.get_or_not_found::<Counter>(1)?;
    /// c.write()?.value += 1;
    /// s.commit()?;
    /// assert_eq!(db.session().get_or_not_found::<Counter>(1)?.read()?.value, 1);
    /// # Ok(()) }
    /// ```
    pub fn begin(&self) -> Result<()> {
        self.inner.check_not_in_hook("begin")?;
        if self.inner.ensure_write_txn()? {
            self.inner.expire_clean_objects()?;
        }
        Ok(())
    }

    /// [`begin`](Self::begin) at an isolation level, for this transaction
    /// only (the next one opens at the database's level again). SQLite's
    /// transactions are serializable whatever is asked.
    ///
    /// # Errors
    ///
    /// As [`begin`](Self::begin); [`Error::Usage`] when a transaction is
    /// already open (its level cannot change any more).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> orm::Result<()> {
    /// let db = orm::Database::open("sqlite://")?;
    /// let s = db.session();
    /// s.begin_with(orm::Isolation::Serializable)?;
    /// assert!(s.in_transaction());
    /// assert!(s.begin_with(orm::Isolation::ReadCommitted).is_err());
    /// s.commit()?;
    /// # Ok(()) }
    /// ```
    pub fn begin_with(&self, level: crate::backend::Isolation) -> Result<()> {
        if self.in_transaction() {
            return Err(Error::Usage(
                "a transaction is already open; begin_with() must come before its first statement"
                    .into(),
            ));
        }
        let before = self.inner.isolation.replace(Some(level));
        let opened = self.begin();
        if opened.is_err() {
            self.inner.isolation.set(before);
        }
        opened
    }

    /// Run `f` with this session's SQLite connection (taking one from the
    /// pool if the session has none yet): for pragmas, SQL functions, hooks
    /// or anything else rusqlite offers. The connection is inside the
    /// session's transaction when one is open; do not COMMIT or ROLLBACK
    /// through it, use the session's methods.
    ///
    /// # Errors
    ///
    /// [`Error::Pool`] when no connection is free. [`Error::Usage`] when
    /// `f` ended the session's open transaction: the session then acts as
    /// after [`Error::CommitOutcomeUnknown`] and needs a
    /// [`rollback`](Self::rollback).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> orm::Result<()> {
    /// let db = orm::Database::open("sqlite://")?;
    /// let s = db.session();
    /// let version: String = s.with_connection(|conn| {
    ///     conn.query_row("SELECT sqlite_version()", [], |r| r.get(0))
    /// })??;
    /// assert!(version.starts_with('3'));
    /// # Ok(()) }
    /// ```
    ///
    /// (The inner `Result` is rusqlite's; convert it as you like.)
    pub fn with_connection<R>(&self, f: impl FnOnce(&mut rusqlite::Connection) -> R) -> Result<R> {
        let had_txn = self.in_transaction();
        let (r, ended) = self.inner.with_conn(|conn| {
            let open = had_txn && conn.in_transaction();
            let raw = conn.sqlite().ok_or_else(|| {
                Error::Usage(
                    "with_connection gives SQLite's connection; this database is not SQLite".into(),
                )
            })?;
            let r = f(raw);
            Ok((r, open && !conn.in_transaction()))
        })?;
        if ended {
            // COMMIT or ROLLBACK ran behind the session's back: which one is
            // unknown here, so the session treats it as a commit of unknown
            // outcome.
            self.inner.expire_after_unknown_commit();
            self.inner.release_conn();
            return Err(Error::Usage(
                "the session's transaction was ended by SQL run through with_connection; use Session::commit or Session::rollback (call rollback() now)".into(),
            ));
        }
        Ok(r)
    }

    /// Whether a write transaction is open (a flush ran since the last
    /// commit or rollback).
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64 }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<User>().open("sqlite://")?;
    /// db.create_all()?;
    /// let session = db.session();
    /// session.add(User::default())?;
    /// session.flush()?;
    /// assert!(session.in_transaction());
    /// session.commit()?;
    /// assert!(!session.in_transaction());
    /// # Ok(()) }
    /// ```
    pub fn in_transaction(&self) -> bool {
        self.inner
            .state
            .try_borrow()
            .map(|s| s.txn.is_some())
            .unwrap_or(false)
    }

    /// Whether anything is waiting to be flushed (added, changed or deleted
    /// objects). A changed object counts once borrowed for writing, even if
    /// its values end up the same.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64 }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<User>().open("sqlite://")?;
    /// let session = db.session();
    /// assert!(!session.has_changes());
    /// session.add(User::default())?;
    /// assert!(session.has_changes());
    /// # Ok(()) }
    /// ```
    pub fn has_changes(&self) -> bool {
        self.inner
            .state
            .try_borrow()
            .map(|s| s.has_changes())
            .unwrap_or(false)
    }

    /// Turn autoflush (flush before queries and `get` misses) on or off for
    /// this session. On by default, so a query sees what was added.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64 }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<User>().open("sqlite://")?;
    /// db.create_all()?;
    /// let session = db.session();
    /// session.set_autoflush(false);
    /// session.add(User::default())?;
    /// assert_eq!(session.query::<User>().count()?, 0);
    /// session.set_autoflush(true);
    /// assert_eq!(session.query::<User>().count()?, 1);
    /// # Ok(()) }
    /// ```
    pub fn set_autoflush(&self, on: bool) {
        self.inner.autoflush.set(on);
    }

    /// Whether autoflush is on.
    ///
    /// # Examples
    ///
    /// ```
    /// let db = orm::Database::open("sqlite://").unwrap();
    /// assert!(db.session().autoflush());
    /// ```
    pub fn autoflush(&self) -> bool {
        self.inner.autoflush.get()
    }

    /// Expire every object after each commit, or not (SQLAlchemy's
    /// `expire_on_commit`; the default comes from
    /// [`DatabaseBuilder::expire_on_commit`](crate::DatabaseBuilder::expire_on_commit),
    /// **off** unless set).
    ///
    /// On, an object read after a commit is loaded again first (one SELECT
    /// per object touched, and its loaded relationships are loaded again on
    /// access): it then shows what other writers committed meanwhile, and
    /// a row deleted meanwhile makes the read fail with
    /// [`Error::NotFound`]. Off, objects keep the values they had at commit,
    /// which are the database's own unless another writer changed the row
    /// since: no SQL after a commit, so a web handler can commit and then
    /// render (or serialize) what it wrote without one query per object.
    ///
    /// Why off by default when Flask-SQLAlchemy's is on: in a request,
    /// commit-then-render is the common path, and SQLAlchemy's own
    /// documentation recommends `expire_on_commit=False` for it (and for
    /// async code, where a lazy reload cannot happen); here the cases it
    /// protects are covered where they matter: [`begin`](Self::begin)
    /// expires the objects without unflushed changes when it takes the
    /// write lock, so a read-modify-write reads the current row, a version
    /// counter (`#[orm(version)]`) catches a lost update, and
    /// [`expire_all`](Self::expire_all), [`refresh`](Self::refresh) and
    /// [`Query::populate_existing`](crate::Query::populate_existing) reload
    /// on request.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64, name: String }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<User>().open("sqlite://")?;
    /// db.create_all()?;
    /// let s = db.session();
    /// assert!(!s.expire_on_commit());
    /// s.set_expire_on_commit(true);
    /// let u = s.add(User { name: "ann".into(), ..Default::default() })?;
    /// s.commit()?;
    /// let rec = db.record();
    /// assert_eq!(u.read()?.name, "ann"); // loaded again
    /// assert_eq!(rec.sql(), [r#"SELECT "user"."id", "user"."name" FROM "user" WHERE "user"."id" = ?"#]);
    /// # Ok(()) }
    /// ```
    pub fn set_expire_on_commit(&self, on: bool) {
        self.inner.expire_on_commit.set(on);
    }

    /// Whether objects are expired after each commit (see
    /// [`set_expire_on_commit`](Self::set_expire_on_commit)).
    ///
    /// # Examples
    ///
    /// ```
    /// let db = orm::Database::builder().expire_on_commit(true).open("sqlite://").unwrap();
    /// assert!(db.session().expire_on_commit());
    /// ```
    pub fn expire_on_commit(&self) -> bool {
        self.inner.expire_on_commit.get()
    }

    /// Mark an object's values as stale: the next access reloads them, and
    /// unflushed changes to it are dropped.
    ///
    /// # Errors
    ///
    /// [`Error::WrongSession`] / [`Error::Detached`] for an object not in
    /// this session; [`Error::BorrowConflict`] while a `write()` guard of it
    /// is alive (nothing is expired then).
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64, name: String }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<User>().open("sqlite://")?;
    /// db.create_all()?;
    /// let session = db.session();
    /// let u = session.add(User { name: "ann".into(), ..Default::default() })?;
    /// session.commit()?;
    /// u.write()?.name = "not saved".into();
    /// session.expire(&u)?;
    /// assert_eq!(u.read()?.name, "ann");
    /// # Ok(()) }
    /// ```
    pub fn expire<M: Model>(&self, obj: &Obj<M>) -> Result<()> {
        self.inner.check_owner(&*obj.inner)?;
        if obj.inner.status.get() == Status::Persistent {
            // Writes through a live guard would be dropped by the reload.
            obj.inner.check_borrow()?;
            obj.inner.expire_erased();
        }
        Ok(())
    }

    /// Expire every persistent object of the session.
    ///
    /// # Errors
    ///
    /// [`Error::BorrowConflict`] when a `write()` guard of one of them is
    /// alive (the reload would drop what is written through it); nothing is
    /// expired then.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64 }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<User>().open("sqlite://")?;
    /// db.create_all()?;
    /// let session = db.session();
    /// let u = session.add(User::default())?;
    /// session.commit()?;
    /// session.expire_all()?;
    /// assert!(u.is_expired());
    /// # Ok(()) }
    /// ```
    pub fn expire_all(&self) -> Result<()> {
        let objects = self.inner.state_mut()?.maps.all_objects();
        let persistent = |o: &&Rc<dyn ErasedObj>| o.status() == Status::Persistent;
        for obj in objects.iter().filter(persistent) {
            obj.check_borrow()?;
        }
        for obj in objects.iter().filter(persistent) {
            obj.expire();
        }
        Ok(())
    }

    /// Reload an object's values from the database now, dropping unflushed
    /// changes to it and its loaded relationships.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] if its row was deleted (the object is then
    /// detached); [`Error::WrongSession`] / [`Error::Detached`] for an
    /// object not in this session; [`Error::BorrowConflict`] while a guard
    /// of it is alive; database errors. On any error but `NotFound` the
    /// object is unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64, name: String }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<User>().open("sqlite://")?;
    /// db.create_all()?;
    /// let session = db.session();
    /// let u = session.add(User { name: "ann".into(), ..Default::default() })?;
    /// session.commit()?;
    /// // Another session renames the row.
    /// let other = db.session();
    /// other.get::<User>(1)?.unwrap().write()?.name = "anna".into();
    /// other.commit()?;
    /// session.refresh(&u)?;
    /// assert_eq!(u.read()?.name, "anna");
    /// # Ok(()) }
    /// ```
    pub fn refresh<M: Model>(&self, obj: &Obj<M>) -> Result<()> {
        self.inner.check_owner(&*obj.inner)?;
        if obj.inner.status.get() != Status::Persistent {
            return Ok(());
        }
        self.inner.refresh(obj)
    }

    /// Remove an object from the session without deleting its row; it
    /// becomes detached (a pending one becomes transient).
    ///
    /// Its unflushed changes leave with it, relationship changes included:
    /// it is taken out of the loaded collections it joined through a change
    /// no flush has written (a new child appended to a parent, a child
    /// given another parent, a many-to-many link added or removed), so no
    /// collection lists what the database will not hold. Collections that
    /// list it because the database does keep it, as in SQLAlchemy. An
    /// object still in the session that refers to it through such a
    /// change (a new child of an expunged new parent) makes the next flush
    /// fail with [`Error::Usage`] rather than write a wrong foreign key.
    /// The session's later commit or rollback leaves the object as it is,
    /// but for one the open transaction inserted: a rollback makes it
    /// transient, its generated key back to 0.
    ///
    /// # Errors
    ///
    /// [`Error::WrongSession`] / [`Error::Detached`] for an object not in
    /// this session.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64 }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<User>().open("sqlite://")?;
    /// db.create_all()?;
    /// let session = db.session();
    /// let u = session.add(User::default())?;
    /// session.commit()?;
    /// session.expunge(&u)?;
    /// assert_eq!(u.state(), ObjState::Detached);
    /// let again = session.get::<User>(1)?.unwrap();
    /// assert!(again != u); // a new object for the same row
    /// # Ok(()) }
    /// ```
    pub fn expunge<M: Model>(&self, obj: &Obj<M>) -> Result<()> {
        let erased = obj.erased();
        self.inner.check_owner(&*erased)?;
        let mut state = self.inner.state_mut()?;
        self.inner.unlink_unflushed(&state, &erased)?;
        // Its flushed writes stay in the transaction, out of the session's
        // reach (whether this transaction wrote it is not looked up: a list
        // scan per expunge).
        if matches!(erased.status(), Status::Persistent | Status::Deleted)
            && let Some(txn) = &mut state.txn
        {
            txn.untracked = true;
        }
        // Only a pending object is on the pending list, and never on the
        // others (asking a list about an object it cannot hold would index
        // a long one for nothing).
        if erased.status() == Status::Pending {
            state.pending.remove(&erased);
        } else {
            state.modified.remove(&erased);
            state.deleted.remove(&erased);
        }
        // Its relationship changes leave with it: this session's commit or
        // rollback must not touch an object it no longer holds.
        state.unnote_rel_dirty(&erased);
        erased.detach_identity(&mut state);
        drop(state);
        let status = if erased.status() == Status::Pending {
            Status::Transient
        } else {
            Status::Detached
        };
        erased.forget_session(status);
        Ok(())
    }

    /// Get an object by primary key: from the identity map if it is there
    /// (no SQL), otherwise from the database (after an autoflush). `None` if
    /// no row has the key, or the object is marked for deletion.
    ///
    /// # Errors
    ///
    /// Database and conversion errors.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64, name: String }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<User>().open("sqlite://")?;
    /// db.create_all()?;
    /// let session = db.session();
    /// let ann = session.add(User { name: "ann".into(), ..Default::default() })?;
    /// session.commit()?;
    /// let rec = db.record();
    /// let got = session.get::<User>(1)?.unwrap();
    /// assert!(got == ann);
    /// assert!(rec.is_empty()); // served by the identity map
    /// assert!(session.get::<User>(2)?.is_none());
    /// # Ok(()) }
    /// ```
    pub fn get<M: Model>(&self, key: impl Into<M::Key>) -> Result<Option<Obj<M>>> {
        self.inner.get(key.into())
    }

    /// Like [`get`](Self::get), but a missing row is [`Error::NotFound`]
    /// carrying the model and key, which a web handler maps to 404
    /// (Flask-SQLAlchemy's `get_or_404`).
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`], and as [`get`](Self::get).
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64 }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<User>().open("sqlite://")?;
    /// db.create_all()?;
    /// let err = db.session().get_or_not_found::<User>(7).unwrap_err();
    /// assert_eq!(err.to_string(), "User not found with key 7");
    /// # Ok(()) }
    /// ```
    #[doc(alias = "get_or_404")]
    pub fn get_or_not_found<M: Model>(&self, key: impl Into<M::Key>) -> Result<Obj<M>> {
        let key = key.into();
        self.get::<M>(key.clone())?
            .ok_or_else(|| not_found::<M>(&key))
    }
}

/// No row of `M` has this key.
pub(crate) fn not_found<M: Model>(key: &M::Key) -> Error {
    Error::NotFound {
        model: M::table().model,
        key: Some(format!("{key:?}")),
    }
}
