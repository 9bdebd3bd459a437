//! [`Session`]: the unit of work and identity map (SQLAlchemy's `Session`).
//!
//! A session belongs to one thread or request. It takes a pooled connection
//! at its first statement and gives it back at commit, rollback, close or
//! drop. Reads outside a write transaction run in autocommit mode; the first
//! flush opens a write transaction with `BEGIN IMMEDIATE`, so it can never
//! fail later when it upgrades from reading to writing.
//!
//! Module map: [`obj`] (handles and per-object state), [`identity`] (the
//! identity map), [`flush`] (organize -> plan -> emit -> finalize, one file
//! per step), [`load`] (rows into objects), [`rel`] (relationship
//! state), [`key`] (key values in a hashable form), [`few`] (inline lists
//! for flush rows).

mod few;
mod flush;
mod identity;
mod key;
mod load;
pub(crate) mod obj;
mod ops;
pub(crate) mod rel;

use std::any::Any;
use std::cell::{Cell, RefCell, RefMut};
use std::fmt;
use std::rc::{Rc, Weak};

use identity::IdentityMaps;
use obj::{ErasedObj, Status};

use crate::backend::{CommitOutcome, Conn, Manager};
use crate::database::Database;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::observe::Observer;
pub use obj::{Obj, ObjState};
pub use ops::ModelOps;

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

/// An updated object and its snapshot from before the transaction.
pub(crate) type Updated = (Rc<dyn ErasedObj>, Option<Box<dyn Any>>);

/// Link changes of one many-to-many end of one object.
pub(crate) type LinkChanges = (
    Rc<dyn ErasedObj>,
    crate::schema::Side,
    Vec<Rc<dyn ErasedObj>>,
    Vec<Rc<dyn ErasedObj>>,
);

/// What the open write transaction did, so rollback and failed commits can
/// put objects back.
#[derive(Default)]
pub(crate) struct TxnLog {
    /// Inserted objects.
    pub inserted: Vec<Rc<dyn ErasedObj>>,
    /// Values the flushes overwrote in inserted objects (generated keys,
    /// filled foreign keys), in write order: (index in `inserted`, column,
    /// old value). One flat list rather than one per object: most inserts
    /// overwrite only their generated key.
    pub overwritten: Vec<(usize, usize, crate::types::Value)>,
    /// Updated objects, with their values before the transaction.
    pub updated: Vec<Updated>,
    /// The objects in `updated`, for a quick membership test.
    pub updated_set: rustc_hash::FxHashSet<*const ()>,
    /// Many-to-many link changes written by the transaction's flushes:
    /// (declaring object, end, added, removed).
    pub links: Vec<LinkChanges>,
    /// Deleted objects.
    pub deleted: Vec<Rc<dyn ErasedObj>>,
}

impl TxnLog {
    /// The objects this transaction inserted.
    fn inserted_set(&self) -> rustc_hash::FxHashSet<*const ()> {
        self.inserted.iter().map(ptr).collect()
    }

    /// Put back the values the flushes overwrote in inserted objects,
    /// newest first.
    fn restore_overwritten(&self) {
        for (i, column, old) in self.overwritten.iter().rev() {
            let _ = self.inserted[*i].set_column(*column, old);
        }
    }
}

fn ptr(o: &Rc<dyn ErasedObj>) -> *const () {
    Rc::as_ptr(o) as *const ()
}

/// The session's mutable state, borrowed briefly by each operation.
#[derive(Default)]
pub(crate) struct SessionState {
    pub maps: IdentityMaps,
    /// Added, not yet inserted, in add order.
    pub pending: Vec<Rc<dyn ErasedObj>>,
    /// Persistent objects borrowed for writing since the last flush.
    pub modified: Vec<Rc<dyn ErasedObj>>,
    /// Marked for deletion, not yet deleted.
    pub deleted: Vec<Rc<dyn ErasedObj>>,
    /// Present while a write transaction is open.
    pub txn: Option<TxnLog>,
    /// Objects with relationship assignments or link changes since the last
    /// commit (assignments are kept until commit, so a failed commit can be
    /// redone).
    pub rel_dirty: Vec<Rc<dyn ErasedObj>>,
    /// Entries added to `rel_dirty` since the last flush.
    pub rel_pending: usize,
}

impl SessionState {
    fn has_changes(&self) -> bool {
        !self.pending.is_empty()
            || !self.modified.is_empty()
            || !self.deleted.is_empty()
            || self.rel_pending > 0
    }

    /// Note relationship changes of `obj`, an object of this session: it
    /// is listed once however many changes it gets.
    pub(crate) fn note_rel_dirty(&mut self, obj: &Rc<dyn ErasedObj>) {
        if !obj.rel_noted() {
            obj.set_rel_noted(true);
            self.rel_dirty.push(Rc::clone(obj));
        }
        self.rel_pending += 1;
    }

    /// Empty the list of objects with relationship changes.
    fn take_rel_dirty(&mut self) -> Vec<Rc<dyn ErasedObj>> {
        self.rel_pending = 0;
        let dirty = std::mem::take(&mut self.rel_dirty);
        for obj in &dirty {
            obj.set_rel_noted(false);
        }
        dirty
    }

    /// Take `obj` off the list of objects with relationship changes.
    pub(crate) fn unnote_rel_dirty(&mut self, obj: &Rc<dyn ErasedObj>) {
        let p = ptr(obj);
        self.rel_dirty.retain(|o| ptr(o) != p);
        obj.set_rel_noted(false);
    }

    /// Forget relationship state: every slot is reloaded on next access.
    fn clear_relationships(&mut self) {
        for obj in self.maps.all_objects() {
            obj.rels().borrow_mut().clear();
        }
        for obj in self.take_rel_dirty().iter().chain(&self.pending) {
            obj.rels().borrow_mut().clear();
        }
    }
}

pub(crate) struct SessionInner {
    pub db: Database,
    pub weak_self: Weak<SessionInner>,
    conn: RefCell<Option<r2d2::PooledConnection<Manager>>>,
    pub state: RefCell<SessionState>,
    autoflush: Cell<bool>,
    /// Set by a COMMIT of unknown outcome, cleared by rollback.
    needs_rollback: Cell<bool>,
}

/// A unit of work: tracks objects, finds their changes, writes them in one
/// transaction at [`commit`](Session::commit).
///
/// Made by [`Database::session`]. Not `Send`: one session serves one thread
/// or request, like SQLAlchemy's.
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
                .field("pending", &s.pending.len())
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
                needs_rollback: Cell::new(false),
            }),
        }
    }
}

fn busy_session() -> Error {
    Error::Usage(
        "the session is already in use by an operation in progress (re-entrant call)".into(),
    )
}

impl SessionInner {
    pub(crate) fn observer(&self) -> &Observer {
        &self.db.inner.observer
    }

    /// The SQL the database speaks.
    #[inline]
    pub(crate) fn dialect(&self) -> &'static crate::backend::Dialect {
        self.db.inner.dialect
    }

    pub(crate) fn state_mut(&self) -> Result<RefMut<'_, SessionState>> {
        self.state.try_borrow_mut().map_err(|_| busy_session())
    }

    /// Run `f` with the session's connection, taking one from the pool if
    /// the session has none.
    pub(crate) fn with_conn<R>(&self, f: impl FnOnce(&mut Conn) -> Result<R>) -> Result<R> {
        let mut slot = self.conn.try_borrow_mut().map_err(|_| busy_session())?;
        if slot.is_none() {
            *slot = Some(self.db.connection()?);
        }
        match slot.as_mut() {
            Some(conn) => f(conn).map_err(|e| self.db.refine_error(e)),
            None => Err(Error::Pool("no connection".into())),
        }
    }

    /// [`with_conn`](Self::with_conn) for a statement on `M`'s table: a
    /// missing table becomes a schema error naming the fix.
    pub(crate) fn with_conn_for<M: Model, R>(
        &self,
        f: impl FnOnce(&mut Conn) -> Result<R>,
    ) -> Result<R> {
        self.with_conn(f).map_err(|e| e.with_table(M::table()))
    }

    /// Give the connection back to the pool (outside a transaction only).
    fn release_conn(&self) {
        if let Ok(mut slot) = self.conn.try_borrow_mut() {
            if let Some(conn) = slot.as_mut() {
                conn.rollback_quietly(&self.db.inner.observer);
            }
            *slot = None;
        }
    }

    /// Open a write transaction if none is open; true when it opened one.
    pub(crate) fn ensure_write_txn(&self) -> Result<bool> {
        self.check_writable()?;
        if self.state_mut()?.txn.is_some() {
            return Ok(false);
        }
        let observer = self.observer();
        self.with_conn(|conn| conn.begin_write(observer))?;
        self.state_mut()?.txn = Some(TxnLog::default());
        Ok(true)
    }

    /// Run a bulk UPDATE or DELETE with `RETURNING` keys, then expire
    /// (update) or detach (delete) the affected objects of `M`.
    pub(crate) fn bulk<M: Model>(
        &self,
        stmt: &crate::sql::ast::Statement,
        delete: bool,
    ) -> Result<usize> {
        self.autoflush()?;
        self.ensure_write_txn()?;
        let w = crate::sql::writer::write(stmt, self.dialect())?;
        crate::types::check_params(&w.params)?;
        let observer = self.observer();
        let keys: Vec<M::Key> = self.with_conn(|conn| {
            let mut st = conn.prepare_bound(&w.sql, &w.params, observer)?;
            let mut keys = Vec::new();
            st.query(|row| {
                keys.push(M::__key_from_row(row, 0)?);
                Ok(())
            })
            .map_err(|e| e.with_table(M::table()))?;
            Ok(keys)
        })?;
        let mut state = self.state_mut()?;
        let affected: Vec<Obj<M>> = match state.maps.get::<M>() {
            Some(map) => keys
                .iter()
                .filter_map(|k| map.map.get(k).cloned())
                .collect(),
            None => Vec::new(),
        };
        for obj in affected {
            let erased = obj.erased();
            if delete {
                erased.detach_identity(&mut state);
                let this: *const () = Rc::as_ptr(&erased) as *const ();
                let same = |o: &Rc<dyn ErasedObj>| std::ptr::eq(Rc::as_ptr(o) as *const (), this);
                state.modified.retain(|o| !same(o));
                state.deleted.retain(|o| !same(o));
                erased.set_status(Status::Deleted);
                if let Some(txn) = state.txn.as_mut() {
                    txn.deleted.push(erased);
                }
            } else {
                erased.expire();
            }
        }
        Ok(keys.len())
    }

    /// Remember an object borrowed for writing.
    pub(crate) fn note_modified(&self, obj: Rc<dyn ErasedObj>) -> Result<()> {
        self.state_mut()?.modified.push(obj);
        Ok(())
    }

    pub(crate) fn autoflush(&self) -> Result<()> {
        let needed = self.autoflush.get() && self.state_mut()?.has_changes();
        if needed {
            self.flush()?;
        }
        Ok(())
    }

    /// Check that `obj` may be used with this session.
    pub(crate) fn check_owner(&self, obj: &dyn ErasedObj) -> Result<()> {
        match obj.session_ptr() {
            Some(s) if std::ptr::eq(Rc::as_ptr(&s), self) => Ok(()),
            Some(_) => Err(Error::WrongSession {
                model: obj.table().model,
            }),
            None => Err(Error::Detached {
                model: obj.table().model,
                action: "be used with this session",
            }),
        }
    }

    /// Make a transient object pending in this session.
    pub(crate) fn adopt_transient(&self, obj: &Rc<dyn ErasedObj>) -> Result<()> {
        match obj.status() {
            Status::Transient => {}
            Status::Detached => {
                return Err(Error::Detached {
                    model: obj.table().model,
                    action: "be added again (it was deleted, discarded or its session closed; add a new object instead)",
                });
            }
            _ => return self.check_owner(&**obj),
        }
        obj.set_status(Status::Pending);
        set_session(obj, self.weak_self.clone());
        self.state_mut()?.pending.push(Rc::clone(obj));
        Ok(())
    }

    /// Undo everything the open transaction did to objects, so the same work
    /// can be flushed again (after a COMMIT that certainly did not commit).
    fn restore_txn(&self) {
        let Ok(mut state) = self.state.try_borrow_mut() else {
            return;
        };
        let Some(txn) = state.txn.take() else { return };
        txn.restore_overwritten();
        let inserted = txn.inserted_set();
        let deleted: rustc_hash::FxHashSet<*const ()> = txn.deleted.iter().map(ptr).collect();
        for obj in txn.deleted.iter().rev() {
            // Inserted and deleted in this transaction: handled below.
            if inserted.contains(&ptr(obj)) {
                continue;
            }
            obj.set_status(Status::MarkedDeleted);
            Rc::clone(obj).reattach_identity(&mut state);
            state.deleted.insert(0, Rc::clone(obj));
        }
        for (obj, snapshot) in txn.updated.into_iter().rev() {
            if let (Some(snapshot), false) = (snapshot, inserted.contains(&ptr(&obj))) {
                obj.restore_snapshot(snapshot);
                state.modified.push(obj);
            }
        }
        for (obj, side, added, removed) in txn.links {
            {
                let mut rels = obj.rels().borrow_mut();
                if let Some(slot) = rels.slots.iter_mut().find(|s| s.side.key() == side.key()) {
                    slot.added.extend(added);
                    slot.removed.extend(removed);
                }
            }
            state.note_rel_dirty(&obj);
        }
        if !state.rel_dirty.is_empty() {
            state.rel_pending += 1;
        }
        let mut restored = Vec::new();
        for obj in txn.inserted {
            obj.detach_identity(&mut state);
            if deleted.contains(&ptr(&obj)) {
                // Added and deleted within the transaction: a net no-op,
                // as a pending object deleted before any flush.
                obj.forget_session(Status::Transient);
            } else {
                obj.clear_identity();
                obj.set_status(Status::Pending);
                restored.push(obj);
            }
        }
        restored.append(&mut state.pending);
        state.pending = restored;
    }

    /// The user-facing rollback of objects: discard what was added, revert
    /// unflushed changes, expire what the transaction wrote.
    fn discard_txn(&self) {
        let Ok(mut state) = self.state.try_borrow_mut() else {
            return;
        };
        if let Some(txn) = state.txn.take() {
            // Objects inserted by the transaction are discarded, whatever
            // else it did to them.
            let inserted = txn.inserted_set();
            txn.restore_overwritten();
            for obj in txn.inserted {
                obj.detach_identity(&mut state);
                obj.forget_session(Status::Transient);
            }
            for (obj, _) in txn.updated {
                if !inserted.contains(&ptr(&obj)) {
                    obj.expire();
                }
            }
            for obj in txn.deleted {
                if !inserted.contains(&ptr(&obj)) {
                    obj.set_status(Status::Persistent);
                    Rc::clone(&obj).reattach_identity(&mut state);
                    obj.expire();
                }
            }
        }
        for obj in std::mem::take(&mut state.pending) {
            obj.forget_session(Status::Transient);
        }
        for obj in std::mem::take(&mut state.deleted) {
            if obj.status() == Status::MarkedDeleted {
                obj.set_status(Status::Persistent);
            }
        }
        for obj in std::mem::take(&mut state.modified) {
            obj.revert_to_snapshot();
        }
        state.clear_relationships();
    }

    /// After COMMIT: deleted objects leave the session; relationship
    /// assignments have become foreign key values.
    fn finish_commit(&self) {
        if let Ok(mut state) = self.state.try_borrow_mut() {
            if let Some(txn) = state.txn.take() {
                for obj in txn.deleted {
                    obj.forget_session(Status::Detached);
                }
            }
            for obj in state.take_rel_dirty() {
                obj.rels().borrow_mut().committed();
            }
        }
    }

    /// After a COMMIT that may or may not have committed: expire every
    /// object, so reads show what the database holds, and refuse to write
    /// until `rollback()`. The transaction log stays, so the rollback can
    /// make the inserted objects transient again for the user to re-add.
    fn expire_after_unknown_commit(&self) {
        self.needs_rollback.set(true);
        if let Ok(mut state) = self.state.try_borrow_mut() {
            for obj in state.maps.all_objects() {
                obj.expire();
            }
            state.clear_relationships();
        }
    }

    /// Fail with `NeedsRollback` while an unknown commit outcome is not
    /// resolved.
    pub(crate) fn check_writable(&self) -> Result<()> {
        if self.needs_rollback.get() {
            return Err(Error::NeedsRollback);
        }
        Ok(())
    }

    /// Fail with `BorrowConflict` if undoing the open transaction would need
    /// to write an object that is borrowed (the keys generated for objects
    /// it inserted): commit and rollback check this before they change
    /// anything.
    fn check_restorable(&self) -> Result<()> {
        let state = self.state_mut()?;
        if let Some(txn) = &state.txn {
            for (i, _, _) in &txn.overwritten {
                txn.inserted[*i].check_unborrowed()?;
            }
        }
        Ok(())
    }

    /// Expire the persistent objects without unflushed changes, so what is
    /// read next is read inside the transaction `begin()` just opened.
    fn expire_clean_objects(&self) -> Result<()> {
        let state = self.state_mut()?;
        let modified: rustc_hash::FxHashSet<*const ()> = state.modified.iter().map(ptr).collect();
        let objects = state.maps.all_objects();
        drop(state);
        for obj in objects {
            if obj.status() == Status::Persistent && !modified.contains(&ptr(&obj)) {
                obj.expire();
            }
        }
        Ok(())
    }

    fn commit(&self) -> Result<()> {
        // Before the flush: a commit that fails changes nothing. (The keys
        // the flush itself generates are written under its own borrows.)
        self.check_restorable()?;
        self.flush()?;
        if self.state_mut()?.txn.is_none() {
            self.release_conn();
            return Ok(());
        }
        let observer = &self.db.inner.observer;
        if let Err(e) = self.db.check_file() {
            // SQLite would commit into a file that is no longer the
            // database: roll back, so nothing is acknowledged.
            self.with_conn(|conn| {
                conn.rollback_quietly(observer);
                conn.broken = true;
                Ok(())
            })?;
            self.restore_txn();
            self.release_conn();
            return Err(e);
        }
        let outcome = self.with_conn(|conn| Ok(conn.commit(observer)))?;
        let result = match outcome {
            CommitOutcome::Committed => {
                self.finish_commit();
                Ok(())
            }
            CommitOutcome::NotCommitted(e) => {
                self.restore_txn();
                Err(e)
            }
            CommitOutcome::Unknown(e) => {
                self.expire_after_unknown_commit();
                Err(match e {
                    Error::Sqlite { source, .. }
                    | Error::Busy { source }
                    | Error::Constraint { source, .. } => Error::CommitOutcomeUnknown { source },
                    other => other,
                })
            }
        };
        self.release_conn();
        result
    }

    fn rollback(&self) -> Result<()> {
        self.check_restorable()?;
        let had_conn = self.conn.try_borrow().map(|c| c.is_some()).unwrap_or(true);
        if had_conn {
            self.with_conn(|conn| {
                conn.rollback_quietly(&self.db.inner.observer);
                Ok(())
            })?;
        }
        self.discard_txn();
        self.release_conn();
        self.needs_rollback.set(false);
        Ok(())
    }

    /// Detach every object and break relationship cycles.
    fn detach_all(&self) {
        if let Ok(mut state) = self.state.try_borrow_mut() {
            let objects = state.maps.all_objects();
            state.maps.clear();
            let pending = std::mem::take(&mut state.pending);
            state.modified.clear();
            state.deleted.clear();
            state.take_rel_dirty();
            let txn = state.txn.take();
            drop(state);
            for obj in objects {
                obj.forget_session(Status::Detached);
            }
            for obj in pending {
                obj.forget_session(Status::Transient);
            }
            if let Some(txn) = txn {
                for obj in txn.inserted {
                    obj.forget_session(Status::Detached);
                }
                for obj in txn.deleted {
                    obj.forget_session(Status::Detached);
                }
            }
        }
    }
}

fn set_session(obj: &Rc<dyn ErasedObj>, session: Weak<SessionInner>) {
    obj.set_session(session);
}

impl Drop for SessionInner {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.get_mut().as_mut() {
            conn.rollback_quietly(&self.db.inner.observer);
        }
        // Objects may still be held by the caller; they become detached, and
        // relationship caches are cleared so no reference cycle outlives the
        // session. The state is emptied in place (it is large to move).
        let state = self.state.get_mut();
        state.take_rel_dirty();
        state.maps.forget_all(Status::Detached);
        for obj in state.pending.drain(..) {
            obj.forget_session(Status::Transient);
        }
        if let Some(txn) = state.txn.take() {
            for obj in txn.inserted {
                obj.forget_session(Status::Detached);
            }
            for obj in txn.deleted {
                obj.forget_session(Status::Detached);
            }
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
    /// # Errors
    ///
    /// [`Error::WrongSession`] / [`Error::Detached`] for an object not in
    /// this session; loading errors for cascades.
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
    /// next access).
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
    /// Objects the session already holds without unflushed changes are
    /// expired when the transaction opens, so their next access reads the
    /// row under the lock: the obvious read-modify-write code below is safe
    /// even in a long-lived session. Does nothing if a transaction is
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
        if self.inner.ensure_write_txn()? {
            self.inner.expire_clean_objects()?;
        }
        Ok(())
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
        let this: *const () = Rc::as_ptr(&erased) as *const ();
        let same = |o: &Rc<dyn ErasedObj>| std::ptr::eq(Rc::as_ptr(o) as *const (), this);
        state.pending.retain(|o| !same(o));
        state.modified.retain(|o| !same(o));
        state.deleted.retain(|o| !same(o));
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
    pub fn get_or_not_found<M: Model>(&self, key: impl Into<M::Key>) -> Result<Obj<M>> {
        let key = key.into();
        let shown = format!("{key:?}");
        self.get::<M>(key)?.ok_or(Error::NotFound {
            model: M::table().model,
            key: Some(shown),
        })
    }
}

impl<M: Model> obj::ObjInner<M> {
    fn expire_erased(&self) {
        ErasedObj::expire(self);
    }
}
