//! The session's state and lifecycle: [`SessionInner`] (what a `Session`
//! handle points at) and [`SessionState`] (its pending, modified and
//! deleted objects, the identity map and the open transaction's log).
//! Taking and giving back the pooled connection, opening the write
//! transaction, autoflush, checking that an object belongs to the session,
//! adopting new objects, noting modified ones, and detaching everything on
//! close and drop. Called by every session operation: the public `Session`
//! methods, loading, the flush, relationships and queries.

use std::cell::{Cell, RefCell, RefMut};
use std::rc::{Rc, Weak};

use super::few::Few;
use super::identity::IdentityMaps;
use super::obj::{self, ErasedObj, Status};
use super::obj_list::ObjList;
use super::txn::TxnLog;
use crate::backend::{Conn, Manager};
use crate::database::Database;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::observe::Observer;

pub(super) fn ptr(o: &Rc<dyn ErasedObj>) -> *const () {
    Rc::as_ptr(o) as *const ()
}

/// The session's mutable state, borrowed briefly by each operation.
#[derive(Default)]
pub(crate) struct SessionState {
    pub maps: IdentityMaps,
    /// Added, not yet inserted, in add order.
    pub pending: ObjList,
    /// Persistent objects borrowed for writing since the last flush.
    pub modified: ObjList,
    /// Marked for deletion, not yet deleted.
    pub deleted: ObjList,
    /// Present while a write transaction is open.
    pub txn: Option<TxnLog>,
    /// The last committed transaction's log, emptied, when it was small:
    /// the next transaction fills its buffers instead of growing new ones.
    pub spare_txn: Option<TxnLog>,
    /// Objects with relationship assignments or link changes since the last
    /// commit (assignments are kept until commit, so a failed commit can be
    /// redone).
    pub rel_dirty: ObjList,
    /// Entries added to `rel_dirty` since the last flush.
    pub rel_pending: usize,
    /// How many entries at the front of `rel_dirty` a successful flush has
    /// organized: the next flush starts after them, so a session that
    /// flushes often (autoflush before each query) does not read every
    /// change since the last commit again each time. An object changed
    /// again after its flush is listed again (its `rel_noted` flag was
    /// cleared when the flush read it); a failed commit starts from 0.
    pub rel_flushed: u32,
    /// Counts the times entries left `rel_dirty` (emptied, or one object
    /// taken off): a flush that saw it change while it ran does not move
    /// `rel_flushed` (its count of entries would point elsewhere). Both
    /// are `u32`, in one word: every session builds this state, and each
    /// word more is more to build.
    pub rel_removals: u32,
    /// The parents the objects of `rel_dirty` were given through a
    /// relationship since the list was last emptied (their addresses; more
    /// than are still given, never fewer): a deletion looks for children
    /// given to the deleted object in memory only when it is one of them,
    /// so deleting many objects, a flush after each, does not read every
    /// relationship change of the transaction per deletion.
    assigned_parents: rustc_hash::FxHashSet<*const ()>,
    /// An object's slots could not be read when it was noted (borrowed):
    /// `assigned_parents` may miss its parent, so it is not relied on.
    assigned_parents_unknown: bool,
    /// The parent last put in `assigned_parents` (null when it is empty).
    last_assigned_parent: *const (),
    /// For each object a many-to-many link change of an object of
    /// `rel_dirty` points at (by address), the objects holding such changes
    /// (more than still do, never fewer): an expunged object leaves their
    /// collections without a walk of every change per expunge.
    link_owners: rustc_hash::FxHashMap<*const (), Few<Weak<dyn ErasedObj>>>,
}

impl SessionState {
    pub(super) fn has_changes(&self) -> bool {
        !self.pending.is_empty()
            || !self.modified.is_empty()
            || !self.deleted.is_empty()
            || self.rel_pending > 0
    }

    /// Start the log of a new write transaction.
    pub(crate) fn open_txn_log(&mut self) {
        self.txn = Some(self.take_txn_log());
    }

    /// The open transaction's log, taken out to be filled (and put back):
    /// a new one when none is open.
    pub(crate) fn take_txn_log(&mut self) -> TxnLog {
        match self.txn.take() {
            Some(txn) => txn,
            None => self.spare_txn.take().unwrap_or_default(),
        }
    }

    /// Note relationship changes of `obj`, an object of this session: it
    /// is listed once however many changes it gets.
    pub(crate) fn note_rel_dirty(&mut self, obj: &Rc<dyn ErasedObj>) {
        self.list_rel_dirty(obj);
        // Every change of a parent reference in the session is noted after
        // it is made, and an object joining the session is noted with the
        // references it has: its parents are recorded here.
        match obj.rels_if_any().map(RefCell::try_borrow) {
            Some(Ok(rels)) => {
                for parent in rels.assigned_parents() {
                    self.record_assigned_parent(parent);
                }
            }
            Some(Err(_)) => self.assigned_parents_unknown = true,
            None => {}
        }
    }

    /// [`note_rel_dirty`](Self::note_rel_dirty) of a new object whose only
    /// relationship is `parent`, just given to it (a graph being built).
    pub(crate) fn note_new_child(&mut self, child: &Rc<dyn ErasedObj>, parent: &Rc<dyn ErasedObj>) {
        self.list_rel_dirty(child);
        self.record_assigned_parent(ptr(parent));
    }

    fn list_rel_dirty(&mut self, obj: &Rc<dyn ErasedObj>) {
        if !obj.rel_noted() {
            obj.set_rel_noted(true);
            self.rel_dirty.push(obj);
        }
        self.rel_pending += 1;
    }

    fn record_assigned_parent(&mut self, parent: *const ()) {
        // Children are mostly given the parent the last one got (a graph
        // built parent by parent): no hashing for them.
        if parent != self.last_assigned_parent {
            self.assigned_parents.insert(parent);
            self.last_assigned_parent = parent;
        }
    }

    /// Record that `owner`, an object of this session, holds a link change
    /// to `target`.
    pub(crate) fn note_link_owner(
        &mut self,
        target: &Rc<dyn ErasedObj>,
        owner: &Rc<dyn ErasedObj>,
    ) {
        let owners = self.link_owners.entry(ptr(target)).or_default();
        // Listed again only after another owner (a list per change at
        // most, and a target linked to many owners is not scanned per link).
        let last = owners.as_slice().last();
        if !last.is_some_and(|o| std::ptr::addr_eq(o.as_ptr(), Rc::as_ptr(owner))) {
            owners.push(Rc::downgrade(owner));
        }
    }

    /// The objects that may hold a link change to `target`
    /// ([`note_link_owner`](Self::note_link_owner)).
    pub(crate) fn link_owners_of(&self, target: &Rc<dyn ErasedObj>) -> Few<Rc<dyn ErasedObj>> {
        let mut owners = Few::Zero;
        for o in self.link_owners.get(&ptr(target)).into_iter().flatten() {
            if let Some(o) = o.upgrade() {
                owners.push(o);
            }
        }
        owners
    }

    /// Whether an object of `rel_dirty` may have been given `parent`
    /// through a relationship (false: none was).
    pub(crate) fn may_have_assigned_children(&self, parent: &Rc<dyn ErasedObj>) -> bool {
        !self.rel_dirty.is_empty()
            && (self.assigned_parents_unknown || self.assigned_parents.contains(&ptr(parent)))
    }

    /// Empty the list of objects with relationship changes, handing each
    /// to `each` in the same walk (a commit of many children reads each
    /// object once).
    pub(super) fn drain_rel_dirty(&mut self, mut each: impl FnMut(Rc<dyn ErasedObj>)) {
        self.rel_pending = 0;
        self.rel_flushed = 0;
        self.rel_removals = self.rel_removals.wrapping_add(1);
        self.assigned_parents.clear();
        self.assigned_parents_unknown = false;
        self.last_assigned_parent = std::ptr::null();
        self.link_owners.clear();
        for obj in self.rel_dirty.drain() {
            obj.set_rel_noted(false);
            each(obj);
        }
    }

    /// Take `obj` off the list of objects with relationship changes.
    pub(crate) fn unnote_rel_dirty(&mut self, obj: &Rc<dyn ErasedObj>) {
        let flushed = self.rel_dirty.remove_counting(obj, self.flushed_len());
        // No more than before, so it fits; 0 (read all again) otherwise.
        self.rel_flushed = u32::try_from(flushed).unwrap_or(0);
        self.rel_removals = self.rel_removals.wrapping_add(1);
        obj.set_rel_noted(false);
    }

    /// A flush that organized the relationship changes (`walked`: the
    /// list's length and count of removals when it read them) succeeded:
    /// the next one starts after them, unless entries left the list while
    /// it ran (a hook), when its count would point elsewhere.
    pub(crate) fn rel_organized(&mut self, walked: Option<(usize, u32)>) {
        self.rel_pending = 0;
        if let Some((len, removals)) = walked
            && removals == self.rel_removals
            && len <= self.rel_dirty.len()
            && let Ok(len) = u32::try_from(len)
        {
            self.rel_flushed = len;
        }
    }

    /// How many entries at the front of `rel_dirty` are flushed.
    pub(crate) fn flushed_len(&self) -> usize {
        (self.rel_flushed as usize).min(self.rel_dirty.len())
    }

    /// The entries of `rel_dirty` no successful flush has organized yet
    /// (`None` where one was taken off).
    pub(crate) fn rel_unflushed(&self) -> &[Option<Rc<dyn ErasedObj>>] {
        self.rel_dirty.entries_from(self.flushed_len())
    }

    /// Forget relationship state: every slot is reloaded on next access.
    pub(super) fn clear_relationships(&mut self) {
        let clear = |obj: &Rc<dyn ErasedObj>| {
            obj.forget_noted();
            if let Some(rels) = obj.rels_if_any() {
                rels.borrow_mut().clear();
            }
        };
        for obj in self.maps.all_objects() {
            clear(&obj);
        }
        self.drain_rel_dirty(|obj| clear(&obj));
        for obj in self.pending.iter() {
            clear(obj);
        }
    }
}

pub(crate) struct SessionInner {
    pub db: Database,
    pub weak_self: Weak<SessionInner>,
    pub(super) conn: RefCell<Option<r2d2::PooledConnection<Manager>>>,
    pub state: RefCell<SessionState>,
    pub(super) autoflush: Cell<bool>,
    /// Set by a COMMIT of unknown outcome, cleared by rollback.
    pub(super) needs_rollback: Cell<Option<&'static str>>,
    /// The isolation level the next write transaction opens with.
    pub(crate) isolation: Cell<Option<crate::backend::Isolation>>,
    /// Expire every object after each commit.
    pub(super) expire_on_commit: Cell<bool>,
    /// The hook running now, if any (see `events`).
    pub(super) in_hook: Cell<super::events::InHook>,
    /// Hooks registered on this session (boxed: most sessions have none).
    pub(super) events: RefCell<Option<Box<super::events::LocalEvents>>>,
    /// The last savepoint id given out.
    pub(super) savepoint_ids: Cell<u64>,
    /// An object took values from the database while a savepoint was open
    /// and could not be listed in the transaction log (its state was in
    /// use): the next rollback to a savepoint expires every object.
    pub(crate) loads_unlisted: Cell<bool>,
}

/// `needs_rollback`'s reason after PostgreSQL aborted the transaction: a
/// rollback to a savepoint also ends it.
pub(super) const ABORTED: &str = "the database aborted the transaction after a failed statement";

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

    #[inline]
    pub(crate) fn state_mut(&self) -> Result<RefMut<'_, SessionState>> {
        self.check_not_in_object_hook()?;
        self.state.try_borrow_mut().map_err(|_| busy_session())
    }

    /// Run `f` with the session's connection, taking one from the pool if
    /// the session has none.
    pub(crate) fn with_conn<R>(&self, f: impl FnOnce(&mut Conn) -> Result<R>) -> Result<R> {
        self.check_not_in_object_hook()?;
        let mut slot = self.conn.try_borrow_mut().map_err(|_| Error::SessionBusy {
            reason: "its connection is in use by an operation in progress (an open Query::iter stream: finish or drop it first; or a re-entrant call)",
        })?;
        if slot.is_none() {
            *slot = Some(self.db.connection()?);
        }
        match slot.as_mut() {
            Some(conn) => {
                let result = f(conn).map_err(|e| self.db.refine_error(e));
                if conn.transaction_aborted() {
                    // A statement failed inside the transaction and the
                    // database aborted it (PostgreSQL): only a rollback can
                    // go on from here.
                    self.needs_rollback.set(Some(ABORTED));
                }
                result
            }
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
    pub(super) fn release_conn(&self) {
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
        let isolation = self.isolation.get();
        self.with_conn(|conn| conn.begin_write(isolation, observer))?;
        self.state_mut()?.open_txn_log();
        Ok(true)
    }

    /// Remember an object borrowed for writing.
    pub(crate) fn note_modified(&self, obj: Rc<dyn ErasedObj>) -> Result<()> {
        self.state_mut()?.modified.push(&obj);
        Ok(())
    }

    pub(crate) fn autoflush(&self) -> Result<()> {
        // Not from a hook: the session is flushing or has just committed.
        if self.in_hook.get() != super::events::InHook::No {
            return Ok(());
        }
        let needed = self.autoflush.get() && self.state_mut()?.has_changes();
        if needed {
            self.flush()?;
        }
        Ok(())
    }

    /// Check that `obj` may be used with this session.
    pub(crate) fn check_owner(&self, obj: &dyn ErasedObj) -> Result<()> {
        if obj.in_session(self) {
            return Ok(());
        }
        match obj.session_ptr() {
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
        self.state_mut()?.pending.push(obj);
        Ok(())
    }

    /// Detach every object and break relationship cycles.
    pub(super) fn detach_all(&self) {
        if let Ok(mut state) = self.state.try_borrow_mut() {
            let objects = state.maps.all_objects();
            state.maps.clear();
            let pending = std::mem::take(&mut state.pending);
            state.modified.clear();
            state.deleted.clear();
            state.drain_rel_dirty(drop);
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
        // Most sessions close with both lists empty: skipping them keeps
        // a one-row query's close short where nothing is inlined.
        if !state.rel_dirty.is_empty() {
            state.drain_rel_dirty(drop);
        }
        state.maps.forget_all(Status::Detached);
        state.maps.recycle();
        if !state.pending.is_empty() {
            for obj in state.pending.drain() {
                obj.forget_session(Status::Transient);
            }
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

impl<M: Model> obj::ObjInner<M> {
    pub(super) fn expire_erased(&self) {
        ErasedObj::expire(self);
    }
}
