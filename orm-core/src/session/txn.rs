//! The open write transaction as far as the objects are concerned
//! (SQLAlchemy's `SessionTransaction`): [`TxnLog`], what the transaction's
//! flushes did, and everything that ends or undoes it for the objects:
//! commit and rollback, putting objects back after a COMMIT that did not
//! commit, expiring them after one whose outcome is unknown, and the checks
//! both make before changing anything. Called by `Session::commit`,
//! `rollback`, `close`, `begin` and `with_connection`, and by the flush
//! (which fills the log, and restores it when SQLite rolled back the whole
//! transaction).

use std::any::Any;
use std::rc::{Rc, Weak};

use super::flush::clear_generated_key;
use super::obj::{ErasedObj, Status};
use super::obj_list::ObjList;
use super::state::{SessionInner, ptr};
use crate::backend::CommitOutcome;
use crate::error::{Error, Result};
use crate::types::Value;

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
    /// Values the flushes overwrote in inserted objects (filled foreign
    /// keys, computed values), in write order: (index in `inserted`,
    /// column, old value).
    pub overwritten: Vec<(usize, usize, OldValue)>,
    /// Indices in `inserted` of the objects whose key the database
    /// generated over a 0, ascending: a rollback writes the 0 back. Apart
    /// from `overwritten` because it is most inserts' only write, and an
    /// index is 8 bytes where an entry is 32.
    pub generated: Vec<usize>,
    /// Updated objects, with their values before the transaction, or for
    /// entries made inside a savepoint, before the savepoint (an object
    /// has one entry per savepoint level it was updated in; undoing them
    /// newest first ends with its oldest values).
    pub updated: Vec<Updated>,
    /// For each object in `updated`, the index of its newest entry.
    pub updated_at: rustc_hash::FxHashMap<*const (), usize>,
    /// Many-to-many link changes written by the transaction's flushes:
    /// (declaring object, end, added, removed).
    pub links: Vec<LinkChanges>,
    /// Deleted objects.
    pub deleted: Vec<Rc<dyn ErasedObj>>,
    /// Open savepoints (`Session::begin_nested`), innermost last.
    pub savepoints: Vec<Mark>,
    /// Some entry of `updated` is of a model with a version counter (its
    /// restore writes the object: see `check_restorable`).
    pub versioned: bool,
    /// The transaction wrote what this log cannot replay or undo in the
    /// objects: statements outside the unit of work (`execute`, bulk
    /// inserts, updates and deletes, upserts), or flushes of an object
    /// expunged since. A rollback expires every object (what they read may
    /// come from those writes), and a transaction the database rolled back
    /// is not offered for a retry (see `restore_txn`).
    pub untracked: bool,
}

/// A value a flush overwrote, as the logs keep it: 16 bytes rather than a
/// `Value`'s 32. Nearly every one is the 0 or NULL that a filled foreign
/// key replaced, and a flush of many new children holds one per child
/// (until the transaction ends).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum OldValue {
    Null,
    Integer(i64),
    Other(Box<Value>),
}

impl From<Value> for OldValue {
    fn from(value: Value) -> Self {
        match value {
            Value::Null => OldValue::Null,
            Value::Integer(i) => OldValue::Integer(i),
            other => OldValue::Other(Box::new(other)),
        }
    }
}

impl OldValue {
    pub fn to_value(&self) -> Value {
        match self {
            OldValue::Null => Value::Null,
            OldValue::Integer(i) => Value::Integer(*i),
            OldValue::Other(v) => (**v).clone(),
        }
    }
}

/// Where the transaction log stood when a savepoint was opened, and what
/// the session held then: what rolling back to it puts back.
pub(crate) struct Mark {
    /// The savepoint's id (its `Savepoint` handle's).
    pub id: u64,
    /// Its SQL name.
    pub name: String,
    /// The lengths of the log's lists when it was opened.
    pub inserted: usize,
    pub overwritten: usize,
    pub updated: usize,
    pub links: usize,
    pub deleted: usize,
    /// Objects that took values from the database while this was the
    /// innermost savepoint, or in one released inside it (loaded into the
    /// identity map, reloaded, refreshed): a rollback to it expires them,
    /// since what they read may be work the rollback undid. Here rather
    /// than in the log, so a session without savepoints carries nothing.
    pub loaded: Loaded,
    /// For each entry of `updated` made at this level (or a level released
    /// inside it) for an object that had one at an enclosing level, the
    /// index of that older entry. A rollback points `updated_at` back at
    /// the older entry of each object whose newer one it undoes, rather
    /// than indexing the whole list again.
    pub shadowed: Vec<usize>,
    /// [`slot_writes`](super::rel::slots::slot_writes) when it was opened:
    /// a rollback that finds it unchanged knows no relationship was loaded
    /// or changed since, and expires only what the log names.
    pub slot_writes: u64,
    /// The session's list of objects with relationship changes when it was
    /// opened: its length and count of removals. A rollback that finds
    /// either changed (an object noted since, such as a new one added with
    /// related objects) expires every object, as after a slot write, and
    /// drains the list.
    pub rel_listed: usize,
    pub rel_removals: u32,
}

/// The objects a savepoint level loaded ([`Mark::loaded`]). Weak: an object
/// the caller and the session let go of is freed as it would be without a
/// savepoint (a stream prunes what it loaded, `expunge` frees), and
/// dropping the list never runs a model's `Drop`. Freed and repeated
/// entries go whenever the list has doubled, so it stays in proportion to
/// the objects it names.
#[derive(Default)]
pub(crate) struct Loaded {
    objs: Vec<Weak<dyn ErasedObj>>,
    tidy_at: usize,
}

impl Loaded {
    /// List `obj`.
    pub fn push(&mut self, obj: &Rc<dyn ErasedObj>) {
        if self.objs.len() >= self.tidy_at {
            self.tidy();
        }
        self.objs.push(Rc::downgrade(obj));
    }

    /// Take over `other`'s objects (a savepoint released inside this one).
    pub fn append(&mut self, other: &mut Loaded) {
        self.objs.append(&mut other.objs);
        if self.objs.len() >= self.tidy_at {
            self.tidy();
        }
    }

    /// The listed objects still alive, each once.
    pub fn into_live(mut self) -> Vec<Rc<dyn ErasedObj>> {
        self.tidy();
        self.objs.iter().filter_map(Weak::upgrade).collect()
    }

    fn tidy(&mut self) {
        let mut seen = rustc_hash::FxHashSet::default();
        self.objs
            .retain(|w| w.strong_count() > 0 && seen.insert(w.as_ptr() as *const ()));
        self.tidy_at = (self.objs.len() * 2).max(64);
    }
}

/// How many entries a committed transaction's log must have had room for
/// to be kept for the next one: a session that once wrote a large batch
/// does not hold that memory afterwards (about 50 KiB at most), and the
/// few small buffers of a one-row transaction cost less to grow again than
/// to keep and empty (insert/1: 160 instructions more per commit).
const SPARE_LOG_ENTRIES: std::ops::RangeInclusive<usize> = 64..=1024;

impl TxnLog {
    /// Empty this log for the next transaction to fill, when its buffers
    /// are small enough to keep (true then). The objects it held are
    /// released as dropping it would.
    pub(super) fn clear_for_reuse(&mut self) -> bool {
        // Every field named, so a new one cannot be forgotten here.
        let TxnLog {
            inserted,
            overwritten,
            generated,
            updated,
            updated_at,
            links,
            deleted,
            savepoints,
            versioned,
            untracked,
        } = self;
        let room = inserted.capacity()
            + overwritten.capacity()
            + generated.capacity()
            + updated.capacity()
            + updated_at.capacity()
            + links.capacity()
            + deleted.capacity()
            + savepoints.capacity();
        if !SPARE_LOG_ENTRIES.contains(&room) {
            return false;
        }
        inserted.clear();
        overwritten.clear();
        generated.clear();
        updated.clear();
        updated_at.clear();
        links.clear();
        deleted.clear();
        savepoints.clear();
        *versioned = false;
        *untracked = false;
        true
    }

    /// Whether `obj` needs an entry in `updated` (it has none made at the
    /// current savepoint level).
    pub(crate) fn needs_updated_entry(&self, obj: &Rc<dyn ErasedObj>) -> bool {
        let level = self.savepoints.last().map_or(0, |m| m.updated);
        self.updated_at.get(&ptr(obj)).is_none_or(|&i| i < level)
    }

    /// Record an update of `obj` with its values from before, unless it has
    /// an entry at the current savepoint level already; returns the
    /// snapshot when it was not kept.
    #[inline]
    pub(crate) fn note_updated(
        &mut self,
        obj: Rc<dyn ErasedObj>,
        snapshot: Option<Box<dyn Any>>,
    ) -> Option<Box<dyn Any>> {
        let index = self.updated.len();
        // One hash operation in the common case: every UPDATE of a flush
        // comes through here.
        if let Some(at) = self.updated_at.insert(ptr(&obj), index)
            && !self.again_at_this_level(&obj, at)
        {
            return snapshot;
        }
        self.updated.push((obj, snapshot));
        None
    }

    /// `obj`, updated before (its newest entry at `at`), is updated again:
    /// whether it needs a new entry (its newest is at an enclosing
    /// savepoint level, which the new one shadows). Otherwise its index
    /// entry is put back. Out of line: most updates are an object's first.
    #[cold]
    fn again_at_this_level(&mut self, obj: &Rc<dyn ErasedObj>, at: usize) -> bool {
        let Some(mark) = self.savepoints.last_mut().filter(|m| at < m.updated) else {
            self.updated_at.insert(ptr(obj), at);
            return false;
        };
        mark.shadowed.push(at);
        true
    }

    /// Note that `obj` took values from the database, if a savepoint is
    /// open (see [`Mark::loaded`]).
    #[inline]
    pub(crate) fn note_loaded(log: &mut Option<TxnLog>, obj: impl FnOnce() -> Rc<dyn ErasedObj>) {
        if let Some(mark) = log.as_mut().and_then(|l| l.savepoints.last_mut()) {
            mark.loaded.push(&obj());
        }
    }

    /// The objects this transaction inserted.
    fn inserted_set(&self) -> rustc_hash::FxHashSet<*const ()> {
        self.inserted.iter().map(ptr).collect()
    }

    /// Put back the values the flushes overwrote in inserted objects,
    /// newest first, and the 0 under each generated key (no entry of
    /// `overwritten` writes a generated key's column).
    fn restore_overwritten(&self) {
        for (i, column, old) in self.overwritten.iter().rev() {
            let _ = self.inserted[*i].set_column(*column, &old.to_value());
        }
        for &i in &self.generated {
            clear_generated_key(&*self.inserted[i]);
        }
    }
}

impl SessionInner {
    /// Undo everything the open transaction did to objects, so the same work
    /// can be flushed again (after a COMMIT that certainly did not commit).
    pub(super) fn restore_txn(&self) {
        let Ok(mut state) = self.state.try_borrow_mut() else {
            return;
        };
        let Some(txn) = state.txn.take() else { return };
        if txn.untracked {
            // A retry would flush the session's work again without them:
            // a success that lost writes. Only a rollback lets it go on.
            self.needs_rollback.set(Some(
                "the database rolled back a transaction that ran statements the session cannot run again (execute, bulk writes, or flushes of objects expunged since)",
            ));
        }
        txn.restore_overwritten();
        let inserted = txn.inserted_set();
        let deleted: rustc_hash::FxHashSet<*const ()> = txn.deleted.iter().map(ptr).collect();
        let mut undeleted = Vec::new();
        for obj in txn.deleted.iter().rev() {
            // Inserted and deleted in this transaction: handled below.
            // Expunged since: no longer this session's to restore.
            if inserted.contains(&ptr(obj)) || !obj.in_session(self) {
                continue;
            }
            obj.set_status(Status::MarkedDeleted);
            Rc::clone(obj).reattach_identity(&mut state);
            undeleted.push(Rc::clone(obj));
        }
        // In the transaction's order, before those marked since.
        undeleted.reverse();
        let mut marked = ObjList::from(undeleted);
        for obj in state.deleted.drain() {
            marked.push(&obj);
        }
        state.deleted = marked;
        for (obj, snapshot) in txn.updated.into_iter().rev() {
            if !obj.in_session(self) {
                continue;
            }
            if let (Some(snapshot), false) = (snapshot, inserted.contains(&ptr(&obj))) {
                obj.restore_snapshot(snapshot);
                state.modified.push(&obj);
            }
        }
        for (obj, side, added, removed) in txn.links {
            if !obj.in_session(self) {
                continue;
            }
            {
                let Some(rels) = obj.rels_if_any() else {
                    continue;
                };
                if let Some(slot) = rels.borrow_mut().find_mut(side) {
                    let links = slot.links_mut();
                    links.added.extend(added);
                    links.removed.extend(removed);
                }
            }
            state.note_rel_dirty(&obj);
        }
        // Every relationship change of the transaction is to be flushed
        // again, from the first.
        state.rel_flushed = 0;
        if !state.rel_dirty.is_empty() {
            state.rel_pending += 1;
        }
        let mut restored = Vec::new();
        for obj in txn.inserted {
            obj.detach_identity(&mut state);
            if deleted.contains(&ptr(&obj)) || !obj.in_session(self) {
                // Added and deleted within the transaction: a net no-op,
                // as a pending object deleted before any flush. Expunged
                // since: transient, as a rollback leaves it.
                obj.forget_session(Status::Transient);
            } else {
                obj.clear_identity();
                obj.set_status(Status::Pending);
                restored.push(obj);
            }
        }
        let mut pending = ObjList::from(restored);
        pending.reserve(state.pending.len());
        for obj in state.pending.drain() {
            pending.push(&obj);
        }
        state.pending = pending;
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
            // An object expunged since keeps what it holds, as it does
            // its unflushed changes.
            for (obj, _) in txn.updated {
                if !inserted.contains(&ptr(&obj)) && obj.in_session(self) {
                    obj.expire();
                }
            }
            for obj in txn.deleted {
                if !inserted.contains(&ptr(&obj)) && obj.in_session(self) {
                    obj.set_status(Status::Persistent);
                    Rc::clone(&obj).reattach_identity(&mut state);
                    obj.expire();
                }
            }
            if txn.untracked {
                // Any object may have read what those writes wrote.
                for obj in state.maps.all_objects() {
                    if obj.status() == Status::Persistent {
                        obj.expire();
                    }
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
            // A cascade left to the flush is undone with the deletion.
            obj.set_cascade_pending(false);
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
            if let Some(mut txn) = state.txn.take() {
                for obj in txn.deleted.drain(..) {
                    obj.forget_session(Status::Detached);
                }
                if txn.clear_for_reuse() {
                    state.spare_txn = Some(txn);
                }
            }
            state.drain_rel_dirty(|obj| {
                if let Some(rels) = obj.rels_if_any() {
                    rels.borrow_mut().committed();
                }
            });
        }
    }

    /// After a COMMIT that may or may not have committed: expire every
    /// object, so reads show what the database holds, and refuse to write
    /// until `rollback()`. The transaction log stays, so the rollback can
    /// make the inserted objects transient again for the user to re-add.
    pub(super) fn expire_after_unknown_commit(&self) {
        self.needs_rollback
            .set(Some("the outcome of this session's last commit is unknown"));
        if let Ok(mut state) = self.state.try_borrow_mut() {
            for obj in state.maps.all_objects() {
                obj.expire();
            }
            state.clear_relationships();
        }
    }

    /// Note that the open write transaction ran something its log cannot
    /// replay ([`TxnLog::untracked`]).
    pub(crate) fn note_untracked_write(&self) -> Result<()> {
        if let Some(txn) = &mut self.state_mut()?.txn {
            txn.untracked = true;
        }
        Ok(())
    }

    /// Fail with `NeedsRollback` while an unknown commit outcome is not
    /// resolved.
    pub(crate) fn check_writable(&self) -> Result<()> {
        if let Some(reason) = self.needs_rollback.get() {
            return Err(Error::NeedsRollback { reason });
        }
        Ok(())
    }

    /// Fail with `BorrowConflict` if undoing the open transaction would need
    /// to write an object that is borrowed (the keys generated for objects
    /// it inserted; for a commit, which puts objects back when COMMIT
    /// fails, also the version counters of updated objects): commit and
    /// rollback check this before they change anything.
    fn check_restorable(&self, commit: bool) -> Result<()> {
        let state = self.state_mut()?;
        if let Some(txn) = &state.txn {
            for (i, _, _) in &txn.overwritten {
                txn.inserted[*i].check_unborrowed()?;
            }
            for &i in &txn.generated {
                txn.inserted[i].check_unborrowed()?;
            }
            if commit && txn.versioned {
                // Restoring an updated object's snapshot puts its version
                // counter back.
                for (obj, snapshot) in &txn.updated {
                    if snapshot.is_some() && obj.table().version.is_some() {
                        obj.check_unborrowed()?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Expire the persistent objects without unflushed changes, so what is
    /// read next is read inside the transaction `begin()` just opened.
    pub(super) fn expire_clean_objects(&self) -> Result<()> {
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

    pub(super) fn commit(&self) -> Result<()> {
        self.check_not_in_hook("commit")?;
        // Before the flush: a commit that fails changes nothing. (The keys
        // the flush itself generates are written under its own borrows.)
        self.check_restorable(true)?;
        self.flush()?;
        if self.state_mut()?.txn.is_none() {
            self.release_conn();
            self.committed();
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
                    | Error::Database { source, .. }
                    | Error::Disconnected { source }
                    | Error::Busy { source }
                    | Error::Constraint { source, .. } => Error::CommitOutcomeUnknown { source },
                    other => other,
                })
            }
        };
        self.release_conn();
        self.transaction_ended();
        if result.is_ok() {
            self.committed();
        }
        result
    }

    /// After a successful commit: `expire_on_commit`, then the
    /// `after_commit` hooks.
    fn committed(&self) {
        if self.expire_on_commit.get()
            && let Ok(state) = self.state.try_borrow()
        {
            let objects = state.maps.all_objects();
            drop(state);
            for obj in objects {
                if obj.status() == Status::Persistent {
                    obj.expire();
                }
            }
        }
        self.run_notices(true);
    }

    /// A transaction ended: the next opens at the database's level again.
    fn transaction_ended(&self) {
        self.isolation.set(self.db.inner.isolation);
    }

    pub(super) fn rollback(&self) -> Result<()> {
        self.check_not_in_hook("rollback")?;
        self.check_restorable(false)?;
        let had_conn = self.conn.try_borrow().map(|c| c.is_some()).unwrap_or(true);
        if had_conn {
            self.with_conn(|conn| {
                conn.rollback_quietly(&self.db.inner.observer);
                Ok(())
            })?;
        }
        self.discard_txn();
        self.release_conn();
        self.needs_rollback.set(None);
        self.transaction_ended();
        self.run_notices(false);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::OldValue;
    use crate::types::Value;

    #[test]
    fn an_old_value_gives_back_every_value_and_is_16_bytes() {
        assert_eq!(std::mem::size_of::<OldValue>(), 16);
        let values = [
            Value::Null,
            Value::Integer(0),
            Value::Integer(i64::MIN),
            Value::Real(-1.5),
            Value::Text("it's".into()),
            Value::Blob(vec![0, 255]),
        ];
        for v in values {
            assert_eq!(OldValue::from(v.clone()).to_value(), v);
        }
        assert_eq!(OldValue::from(Value::Integer(3)), OldValue::Integer(3));
    }
}
