//! Savepoints (SQLAlchemy's `Session.begin_nested()`): a part of the open
//! transaction that can be rolled back alone, in the database and in the
//! objects.
//!
//! Opening one flushes (so everything before it is in the database), opens
//! the write transaction if needed, runs `SAVEPOINT`, and puts a [`Mark`] in
//! the transaction log: the log's lengths, nothing copied. Releasing it
//! flushes and runs `RELEASE`; the log keeps its entries (they belong to
//! the enclosing level now). Rolling it back runs `ROLLBACK TO` and undoes
//! every log entry after the mark: objects it inserted (or that were added
//! since) become transient, updated ones get their values from the
//! savepoint back (the log keeps one entry per object per level for
//! this), deleted ones are persistent again and expired. The database,
//! rolled back, holds what the objects held when the savepoint was opened
//! (opening it flushed); what objects read since may be undone work, so
//! those loaded or refreshed since (each mark lists them, weakly) are
//! expired and reload on next access. When a relationship slot was
//! written or an object noted with relationship changes since, the
//! objects are not listed finely enough: every object of the identity map
//! not expired already loses its relationship slots and is expired.
//! Nested savepoints are a stack: ending an outer one ends the inner ones.
//! Called by the public [`Session::begin_nested`], [`Session::nested`] and
//! [`Savepoint`].

use std::rc::Rc;

use rustc_hash::FxHashSet;

use super::Session;
use super::flush::clear_generated_key;
use super::obj::Status;
use super::rel::slots::slot_writes;
use super::state::{ABORTED, SessionInner, ptr};
use super::txn::{Loaded, Mark};
use crate::error::{Error, Result};

/// An open savepoint of a [`Session`] (SQLAlchemy's nested
/// `SessionTransaction`), from [`Session::begin_nested`].
///
/// [`commit`](Self::commit) releases it (its work becomes part of the
/// enclosing transaction, which still has to be committed);
/// [`rollback`](Self::rollback) undoes everything since it was opened,
/// in the database and in the objects. Dropping it while it is open rolls
/// it back, as a Python `with session.begin_nested():` block does on an
/// exception; so a `commit()` whose flush failed leaves the choice: fix
/// the objects and commit again, roll back, or drop it. Ending the
/// session's transaction (`Session::commit`, `Session::rollback`) or an
/// enclosing savepoint ends it too; ending it again is then an error.
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
/// let s = db.session();
/// let ann = s.add(User { name: "ann".into(), ..Default::default() })?;
///
/// let mut sp = s.begin_nested()?;                 // flushes ann, SAVEPOINT
/// let dup = s.add(User { name: "ann".into(), ..Default::default() })?;
/// assert!(s.flush().is_err());                    // UNIQUE: the flush changed nothing
/// sp.rollback()?;                                 // ROLLBACK TO: dup is gone
/// assert_eq!(dup.state(), ObjState::Transient);
///
/// s.commit()?;                                    // ann is kept
/// assert_eq!(ann.state(), ObjState::Persistent);
/// assert_eq!(db.session().query::<User>().count()?, 1);
/// # Ok(()) }
/// ```
#[must_use = "a savepoint dropped at once is rolled back at once; call commit() or rollback()"]
pub struct Savepoint<'s> {
    session: &'s Session,
    id: u64,
    done: bool,
}

impl std::fmt::Debug for Savepoint<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Savepoint")
            .field("id", &self.id)
            .field("active", &self.is_active())
            .finish()
    }
}

impl Savepoint<'_> {
    /// Release the savepoint (`RELEASE SAVEPOINT`, SQLAlchemy's
    /// `nested.commit()`): pending changes are flushed first, and the work
    /// stays in the enclosing transaction, to be committed (or rolled back)
    /// with it.
    ///
    /// # Errors
    ///
    /// Flush errors (the savepoint then stays open: fix the objects and try
    /// again, or roll it back); [`Error::Usage`] when the savepoint was
    /// already ended (by this handle, the session's commit or rollback, or
    /// an enclosing savepoint's); database errors.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct Tag { #[orm(primary_key)] id: i64, name: String }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<Tag>().open("sqlite://")?;
    /// db.create_all()?;
    /// let s = db.session();
    /// let mut sp = s.begin_nested()?;
    /// s.add(Tag { name: "rust".into(), ..Default::default() })?;
    /// sp.commit()?;   // RELEASE: part of the open transaction now
    /// s.commit()?;    // COMMIT
    /// assert_eq!(db.session().query::<Tag>().count()?, 1);
    /// # Ok(()) }
    /// ```
    #[doc(alias = "release")]
    pub fn commit(&mut self) -> Result<()> {
        self.check_open()?;
        self.session.inner.release_savepoint(self.id)?;
        self.done = true;
        Ok(())
    }

    /// Fail when this handle already ended its savepoint.
    fn check_open(&self) -> Result<()> {
        if self.done {
            return Err(Error::Usage(
                "this savepoint was already committed or rolled back".into(),
            ));
        }
        Ok(())
    }

    /// Roll back to the savepoint (`ROLLBACK TO SAVEPOINT`, SQLAlchemy's
    /// `nested.rollback()`): the database and the objects are as they were
    /// when it was opened. Objects added or inserted since become transient;
    /// deleted ones are persistent again; changed ones have their values
    /// back. Objects loaded or refreshed since are expired and read the
    /// row again on next access. When a relationship was loaded or changed
    /// since, every object of the session is expired and reloads its
    /// columns and relationships, as they were then, on next access.
    /// The enclosing transaction goes on. On PostgreSQL this also ends the
    /// "transaction aborted" state a failed statement inside the savepoint
    /// left.
    ///
    /// # Errors
    ///
    /// [`Error::Usage`] when the savepoint was already ended;
    /// [`Error::BorrowConflict`] when an object the rollback must write (a
    /// key generated inside the savepoint) is borrowed: nothing changed,
    /// and the savepoint is still open;
    /// database errors. If the database could not roll back to the
    /// savepoint and ended the whole transaction instead, the objects are
    /// put back as after the savepoint's rollback and the enclosing
    /// transaction's work is pending again (as after a failed commit), and
    /// the database's error is returned.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct Account { #[orm(primary_key)] id: i64, balance: i64 }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<Account>().open("sqlite://")?;
    /// db.create_all()?;
    /// let s = db.session();
    /// let a = s.add(Account { balance: 10, ..Default::default() })?;
    /// let mut sp = s.begin_nested()?;
    /// a.write()?.balance -= 50;
    /// s.flush()?;
    /// sp.rollback()?;
    /// assert_eq!(a.read()?.balance, 10);
    /// s.commit()?;
    /// # Ok(()) }
    /// ```
    pub fn rollback(&mut self) -> Result<()> {
        self.check_open()?;
        let result = self.session.inner.rollback_savepoint(self.id);
        // Ended unless nothing was done (a borrowed object): then it can
        // be rolled back again.
        if !matches!(result, Err(Error::BorrowConflict { .. })) {
            self.done = true;
        }
        result
    }

    /// Whether the savepoint is still open.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> orm::Result<()> {
    /// let db = orm::Database::open("sqlite://")?;
    /// let s = db.session();
    /// let sp = s.begin_nested()?;
    /// assert!(sp.is_active());
    /// s.commit()?; // commits the savepoint's work too
    /// assert!(!sp.is_active());
    /// # Ok(()) }
    /// ```
    pub fn is_active(&self) -> bool {
        !self.done && self.session.inner.savepoint_index(self.id).is_ok()
    }
}

impl Drop for Savepoint<'_> {
    /// Roll back a savepoint neither committed nor rolled back (errors
    /// cannot be reported here; use [`rollback`](Savepoint::rollback) to
    /// see them).
    fn drop(&mut self) {
        if !self.done && self.session.inner.savepoint_index(self.id).is_ok() {
            let _ = self.session.inner.rollback_savepoint(self.id);
        }
    }
}

impl Session {
    /// Open a savepoint (SQLAlchemy's `begin_nested()`): the work done
    /// until it ends can be rolled back alone, in the database and in the
    /// objects, while the enclosing transaction goes on. Pending changes
    /// are flushed first; a write transaction is opened if none is. Nest
    /// them freely. Prefer [`nested`](Self::nested), which ends it for you.
    ///
    /// Cost: opening one writes `SAVEPOINT` and copies nothing (a loop
    /// with a savepoint per row stays linear). A rollback undoes the log
    /// entries made since and expires the objects loaded since; when a
    /// relationship was loaded or changed since, it expires every object
    /// of the session (each reloads its columns and relationships on next
    /// access), which costs time in proportion to the session's size.
    ///
    /// # Errors
    ///
    /// Flush errors (nothing is opened then); [`Error::NeedsRollback`];
    /// [`Error::Usage`] from a hook; database errors.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct Tag { #[orm(primary_key)] id: i64, name: String }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<Tag>().open("sqlite://")?;
    /// db.create_all()?;
    /// let s = db.session();
    /// let rec = db.record();
    /// let mut sp = s.begin_nested()?;
    /// s.add(Tag { name: "a".into(), ..Default::default() })?;
    /// sp.rollback()?;
    /// assert_eq!(rec.sql(), [
    ///     "BEGIN IMMEDIATE",
    ///     "SAVEPOINT orm_sp_1",
    ///     "ROLLBACK TO orm_sp_1",
    ///     "RELEASE orm_sp_1",
    /// ]);
    /// # Ok(()) }
    /// ```
    pub fn begin_nested(&self) -> Result<Savepoint<'_>> {
        let id = self.inner.begin_nested()?;
        Ok(Savepoint {
            session: self,
            id,
            done: false,
        })
    }

    /// Run `work` inside a savepoint: released when it returns `Ok`, rolled
    /// back when it returns `Err` (the error is returned), as SQLAlchemy's
    /// `with session.begin_nested():` block.
    ///
    /// # Errors
    ///
    /// `work`'s error (after the rollback to the savepoint); the errors of
    /// [`begin_nested`](Self::begin_nested) and of the release (its flush:
    /// the savepoint is then rolled back);
    /// [`Error::Usage`] when `work` returned `Ok` but ended the savepoint
    /// itself (by committing or rolling back the session).
    ///
    /// # Examples
    ///
    /// Insert what can be inserted, skip the duplicates, commit the rest:
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64, #[orm(unique)] name: String }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<User>().open("sqlite://")?;
    /// db.create_all()?;
    /// let s = db.session();
    /// let mut skipped = 0;
    /// for name in ["ann", "bob", "ann", "cy"] {
    ///     let r = s.nested(|s| {
    ///         s.add(User { name: name.into(), ..Default::default() })?;
    ///         s.flush()
    ///     });
    ///     if let Err(e) = r {
    ///         assert_eq!(e.constraint_kind(), Some(ConstraintKind::Unique));
    ///         skipped += 1;
    ///     }
    /// }
    /// s.commit()?;
    /// assert_eq!((skipped, db.session().query::<User>().count()?), (1, 3));
    /// # Ok(()) }
    /// ```
    pub fn nested<R>(&self, work: impl FnOnce(&Session) -> Result<R>) -> Result<R> {
        let mut sp = self.begin_nested()?;
        match work(self) {
            // A failed release drops `sp` open: it rolls back.
            Ok(r) if sp.is_active() => sp.commit().map(|()| r),
            Ok(_) => Err(Error::Usage(
                "the savepoint of Session::nested was ended inside it (by commit() or rollback() of the session); end it by returning from the closure".into(),
            )),
            Err(e) => {
                if sp.is_active() {
                    // The work's error is the one to report; a failed
                    // rollback to the savepoint has put the objects back
                    // as well as it could.
                    let _ = sp.rollback();
                }
                Err(e)
            }
        }
    }

    /// Whether a savepoint of this session is open (SQLAlchemy's
    /// `in_nested_transaction()`).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> orm::Result<()> {
    /// let db = orm::Database::open("sqlite://")?;
    /// let s = db.session();
    /// s.nested(|s| {
    ///     assert!(s.in_nested_transaction());
    ///     Ok(())
    /// })?;
    /// assert!(!s.in_nested_transaction());
    /// # Ok(()) }
    /// ```
    pub fn in_nested_transaction(&self) -> bool {
        self.inner
            .state
            .try_borrow()
            .is_ok_and(|s| s.txn.as_ref().is_some_and(|t| !t.savepoints.is_empty()))
    }
}

impl SessionInner {
    /// Where the savepoint `id` is in the stack.
    pub(super) fn savepoint_index(&self, id: u64) -> Result<usize> {
        let state = self.state.try_borrow().map_err(|_| busy())?;
        state
            .txn
            .as_ref()
            .and_then(|t| t.savepoints.iter().position(|m| m.id == id))
            .ok_or_else(|| {
                Error::Usage(
                    "this savepoint has ended (its transaction, or a savepoint around it, was committed or rolled back)".into(),
                )
            })
    }

    /// Flush, open the write transaction if needed, `SAVEPOINT`, and mark
    /// the log; returns the savepoint's id.
    pub(super) fn begin_nested(&self) -> Result<u64> {
        self.check_not_in_hook("begin_nested")?;
        self.check_writable()?;
        self.flush()?;
        self.ensure_write_txn()?;
        let depth = self
            .state_mut()?
            .txn
            .as_ref()
            .map_or(0, |t| t.savepoints.len())
            + 1;
        let name = format!("orm_sp_{depth}");
        let observer = self.observer();
        self.with_conn(|conn| conn.savepoint(&name, observer))?;
        let id = self.savepoint_ids.get() + 1;
        self.savepoint_ids.set(id);
        let mut state = self.state_mut()?;
        let (rel_listed, rel_removals) = (state.rel_dirty.len(), state.rel_removals);
        let Some(txn) = state.txn.as_mut() else {
            return Err(Error::Usage("no transaction is open".into()));
        };
        if txn.savepoints.is_empty() {
            // A load that could not be listed before any savepoint was
            // open read nothing a rollback to this one undoes.
            self.loads_unlisted.set(false);
        }
        txn.savepoints.push(Mark {
            id,
            name,
            inserted: txn.inserted.len(),
            overwritten: txn.overwritten.len(),
            updated: txn.updated.len(),
            links: txn.links.len(),
            deleted: txn.deleted.len(),
            loaded: Loaded::default(),
            shadowed: Vec::new(),
            slot_writes: slot_writes(),
            rel_listed,
            rel_removals,
        });
        Ok(id)
    }

    /// Flush, then `RELEASE` savepoint `id` (and those inside it).
    pub(super) fn release_savepoint(&self, id: u64) -> Result<()> {
        self.check_not_in_hook("Savepoint::commit")?;
        self.savepoint_index(id)?;
        self.check_writable()?;
        self.flush()?;
        // The flush may have lost the transaction (SQLite rolls it back
        // whole after some I/O errors): then there is nothing to release.
        let k = self.savepoint_index(id)?;
        let name = self.mark_name(k)?;
        let observer = self.observer();
        let (result, open) =
            self.with_conn(|conn| Ok((conn.release(&name, observer), conn.in_transaction())))?;
        match result {
            Ok(()) => {
                let ended = self.state_mut()?.txn.as_mut().map(|t| {
                    let mut marks = t.savepoints.split_off(k);
                    // What they list is the enclosing level's now (a
                    // rollback to it undoes their work too); with none
                    // open, no rollback needs it.
                    if let Some(outer) = t.savepoints.last_mut() {
                        for mark in &mut marks {
                            outer.loaded.append(&mut mark.loaded);
                            outer.shadowed.append(&mut mark.shadowed);
                        }
                    }
                    marks
                });
                drop(ended);
                Ok(())
            }
            Err(e) => {
                if !open {
                    self.restore_txn();
                    self.release_conn();
                }
                Err(e)
            }
        }
    }

    fn mark_name(&self, k: usize) -> Result<String> {
        let state = self.state.try_borrow().map_err(|_| busy())?;
        Ok(state
            .txn
            .as_ref()
            .and_then(|t| t.savepoints.get(k))
            .map(|m| m.name.clone())
            .unwrap_or_default())
    }

    /// `ROLLBACK TO` savepoint `id`, `RELEASE` it, and undo the objects.
    pub(super) fn rollback_savepoint(&self, id: u64) -> Result<()> {
        self.check_not_in_hook("Savepoint::rollback")?;
        let k = self.savepoint_index(id)?;
        match self.needs_rollback.get() {
            // PostgreSQL aborted the transaction inside the savepoint: a
            // rollback to it is what ends that.
            Some(reason) if reason != ABORTED => return Err(Error::NeedsRollback { reason }),
            _ => {}
        }
        self.check_savepoint_restorable(k)?;
        let name = self.mark_name(k)?;
        let observer = self.observer();
        let (result, open, aborted) = self.with_conn(|conn| {
            let r = conn
                .execute_control(&format!("ROLLBACK TO {name}"), observer)
                .and_then(|()| conn.release(&name, observer));
            Ok((r, conn.in_transaction(), conn.transaction_aborted()))
        })?;
        if result.is_ok() || !open {
            // When the database ended the whole transaction, what objects
            // read before the savepoint is gone too: every one is expired.
            self.undo_to_mark(k, !open);
        }
        if !aborted && self.needs_rollback.get() == Some(ABORTED) {
            self.needs_rollback.set(None);
        }
        if !open {
            // The database ended the whole transaction: the enclosing work
            // is pending again, to be redone (as after a failed commit).
            self.restore_txn();
            self.release_conn();
            self.isolation.set(self.db.inner.isolation);
        }
        result
    }

    /// Fail with `BorrowConflict` when undoing to mark `k` would have to
    /// write a borrowed object (a key or foreign key filled since).
    fn check_savepoint_restorable(&self, k: usize) -> Result<()> {
        let state = self.state_mut()?;
        if let Some(txn) = &state.txn
            && let Some(mark) = txn.savepoints.get(k)
        {
            for (i, _, _) in &txn.overwritten[mark.overwritten..] {
                txn.inserted[*i].check_unborrowed()?;
            }
            for &i in &txn.generated[generated_since(&txn.generated, mark.inserted)..] {
                txn.inserted[i].check_unborrowed()?;
            }
        }
        Ok(())
    }

    /// Undo everything the log holds after mark `k`, and drop the marks
    /// from `k` on; with `expire_all`, expire every object of the session.
    fn undo_to_mark(&self, k: usize, expire_all: bool) {
        let Ok(mut state) = self.state.try_borrow_mut() else {
            return;
        };
        let Some(mut txn) = state.txn.take() else {
            return;
        };
        if k >= txn.savepoints.len() {
            state.txn = Some(txn);
            return;
        }
        let mut marks = txn.savepoints.split_off(k);
        let mut mark = marks.swap_remove(0);
        // No relationship slot written since the savepoint opened (none
        // loaded, assigned or changed, on this thread) and no object noted
        // with relationship changes: the objects that need expiring are
        // those the log names. Otherwise a collection may hold objects of
        // the undone work, and every object is expired.
        let slots_unchanged = !expire_all
            && slot_writes() == mark.slot_writes
            && !self.loads_unlisted.get()
            && state.rel_dirty.len() == mark.rel_listed
            && state.rel_removals == mark.rel_removals;
        let mut loaded = std::mem::take(&mut mark.loaded);
        let mut shadowed = std::mem::take(&mut mark.shadowed);
        for inner in &mut marks {
            loaded.append(&mut inner.loaded);
            shadowed.append(&mut inner.shadowed);
        }
        let new: FxHashSet<*const ()> = txn.inserted[mark.inserted..].iter().map(ptr).collect();
        // Newest first. Unflushed changes (all made after the savepoint:
        // opening it flushed), of objects that stay in the session.
        let mut rekey = Vec::new();
        for obj in std::mem::take(&mut state.modified) {
            if !new.contains(&ptr(&obj)) {
                obj.revert_to_snapshot();
                rekey.push(obj);
            }
        }
        // Values the flushes overwrote since (keys, foreign keys, version
        // counters, computed values).
        let overwritten = txn.overwritten.split_off(mark.overwritten);
        for (i, column, old) in overwritten.into_iter().rev() {
            // An object inserted before the savepoint and expunged since
            // keeps what it holds (one inserted since becomes transient).
            let obj = &txn.inserted[i];
            if i >= mark.inserted || obj.in_session(self) {
                let _ = obj.set_column(column, &old.to_value());
            }
        }
        let since = generated_since(&txn.generated, mark.inserted);
        for i in txn.generated.split_off(since) {
            clear_generated_key(&*txn.inserted[i]);
        }
        let inserted = txn.inserted.split_off(mark.inserted);
        // Updated objects: their values at the savepoint. Their key may
        // change back.
        let mut undone = txn.updated.split_off(mark.updated);
        for (obj, snapshot) in undone.iter_mut().rev() {
            // Expunged since: no longer this session's to restore.
            if new.contains(&ptr(obj)) || !obj.in_session(self) {
                continue;
            }
            match snapshot.take() {
                Some(snapshot) => {
                    obj.restore_snapshot(snapshot);
                    obj.revert_to_snapshot();
                }
                None => obj.expire(),
            }
            rekey.push(Rc::clone(obj));
        }
        for (obj, _) in &undone {
            txn.updated_at.remove(&ptr(obj));
        }
        // An object updated at an enclosing level too: its older entry is
        // its newest again (those below the mark are the ones left).
        for older in shadowed {
            if let Some((obj, _)) = txn.updated.get(older) {
                txn.updated_at.insert(ptr(obj), older);
            }
        }
        txn.links.truncate(mark.links);
        // Deleted since: persistent again, under their key, and expired
        // (changes made to them after they were marked were not kept).
        let mut undeleted = Vec::new();
        for obj in txn.deleted.split_off(mark.deleted) {
            if !new.contains(&ptr(&obj)) && obj.in_session(self) {
                obj.set_status(Status::Persistent);
                Rc::clone(&obj).reattach_identity(&mut state);
                undeleted.push(obj);
            }
        }
        // Unflushed additions and deletions (expired too: a change made
        // before the deletion was dropped with it).
        let pending = std::mem::take(&mut state.pending);
        for obj in std::mem::take(&mut state.deleted) {
            if obj.status() == Status::MarkedDeleted {
                obj.set_status(Status::Persistent);
            }
            // A cascade left to the flush is undone with the deletion.
            obj.set_cascade_pending(false);
            undeleted.push(obj);
        }
        // Inserted since: transient again.
        for obj in &inserted {
            obj.detach_identity(&mut state);
        }
        for obj in rekey {
            if obj.status() == Status::Persistent && obj.key_changed() {
                obj.detach_identity(&mut state);
                obj.attach_identity(&mut state);
            }
        }
        // Opening the savepoint flushed everything, so the database, rolled
        // back to it, holds what the objects held then (relationship
        // assignments made before it included). What was read since may be
        // undone work: the objects loaded since reload their columns on
        // next access.
        let (objects, unused) = if slots_unchanged {
            // The list of relationship changes is as it was then.
            let mut objects = loaded.into_live();
            objects.append(&mut undeleted);
            (objects, Loaded::default())
        } else {
            // Every object reloads its relationships and columns. (A copy
            // of every object's relationships at each savepoint made a loop
            // of savepoints quadratic; objects expired by an earlier
            // rollback are passed over.)
            let objects = state.maps.unexpired_objects();
            for obj in &objects {
                obj.forget_noted();
                if let Some(Ok(mut rels)) =
                    obj.rels_if_any().map(std::cell::RefCell::try_borrow_mut)
                {
                    rels.clear();
                }
            }
            // Objects added since keep theirs, as they keep their columns.
            state.drain_rel_dirty(drop);
            self.loads_unlisted.set(false);
            (objects, loaded)
        };
        state.txn = Some(txn);
        drop(state);
        for obj in pending.iter().chain(&inserted) {
            obj.forget_session(Status::Transient);
        }
        for obj in objects {
            if obj.status() == Status::Persistent {
                obj.expire();
            }
        }
        drop(marks);
        drop(undone);
        drop(unused);
    }
}

fn busy() -> Error {
    Error::Usage(
        "the session is already in use by an operation in progress (re-entrant call)".into(),
    )
}

/// Where the generated keys of the objects inserted since a savepoint
/// (those from index `inserted` on) start in the ascending `generated`.
fn generated_since(generated: &[usize], inserted: usize) -> usize {
    generated.partition_point(|&i| i < inserted)
}
