//! [`Obj<M>`]: a shared handle to one object, and the per-object state the
//! session keeps next to it (status, snapshot, identity key).
//!
//! The value sits in a `RefCell`; [`Obj::read`] and [`Obj::write`] borrow it
//! and report a conflicting borrow as [`Error::BorrowConflict`] instead of
//! panicking. The first `write()` of a persistent object takes a snapshot of
//! its column values; the flush compares against it to find changed
//! columns, so loading an object costs nothing for tracking it never uses.

use std::any::Any;
use std::cell::{Cell, Ref, RefCell, RefMut};
use std::fmt;
use std::rc::{Rc, Weak};

use super::extra::{Extra, ExtraStore};
use super::rel::slots::RelSlots;
use super::state::{SessionInner, SessionState};
use super::txn::OldValue;
use crate::error::{Error, Result};
use crate::model::{Model, bind_key};
use crate::schema::{Side, TableDef};
use crate::types::{Value, ValueRef};

/// Where an object stands with respect to a session (SQLAlchemy's object
/// states).
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
/// assert_eq!(ann.state(), ObjState::Pending);
/// session.commit()?;
/// assert_eq!(ann.state(), ObjState::Persistent);
/// session.delete(&ann)?;
/// assert_eq!(ann.state(), ObjState::Deleted);
/// session.commit()?;
/// assert_eq!(ann.state(), ObjState::Detached);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjState {
    /// Made with [`Obj::new`], in no session yet.
    Transient,
    /// Added to a session, not yet inserted.
    Pending,
    /// Has a row, and is in a session's identity map.
    Persistent,
    /// Marked for deletion, or deleted in the current transaction.
    Deleted,
    /// Was in a session, but no longer is (deleted and committed, discarded
    /// by rollback, or the session was closed).
    Detached,
}

/// Internal status; `MarkedDeleted` and `Deleted` both show as
/// [`ObjState::Deleted`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Transient,
    Pending,
    Persistent,
    /// `session.delete()` called, not flushed yet.
    MarkedDeleted,
    /// DELETE ran in the open transaction.
    Deleted,
    Detached,
}

/// Its values are stale: reloaded on next access.
const EXPIRED: u8 = 1;
/// In its session's list of objects with relationship changes
/// (`SessionState::rel_dirty`), so it is listed once.
const REL_NOTED: u8 = 2;
/// Marked deleted, with the relationship ends its delete cascade needs not
/// loaded yet: the next flush loads them for every such object at once and
/// applies the cascade (`rel::cascade`).
const CASCADE_PENDING: u8 = 4;

/// In a `parent_note`: the object's end is the declaring one.
const DECLARED: u8 = 0x80;

/// The `parent_note` for the end `side` of an object of `table` whose
/// parent is of `parent_table`: one more than the relationship's place in
/// the list of the model that declares it, with [`DECLARED`] when that is
/// the object's own; 0 where it has none (a place beyond 126).
fn parent_code(side: Side, table: &TableDef, parent_table: &TableDef) -> u8 {
    let declaring = if side.declared { table } else { parent_table };
    let at = declaring
        .relations
        .iter()
        .position(|r| std::ptr::eq(r(), side.def));
    match at.and_then(|i| u8::try_from(i + 1).ok()) {
        Some(i) if i < DECLARED => i | if side.declared { DECLARED } else { 0 },
        _ => 0,
    }
}

/// A shared handle to one object of model `M`.
///
/// Cloning the handle is cheap and gives another handle to the same object:
/// the identity map guarantees one object per row per session, so two loads
/// of a row return handles to the same object, and a change through one is
/// seen through the other. `==` compares identity, not values.
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
///
/// let again = session.get::<User>(ann.read()?.id)?.unwrap();
/// assert!(again == ann);                  // the very same object
/// again.write()?.name = "anna".into();
/// assert_eq!(ann.read()?.name, "anna");   // seen through the other handle
/// # Ok(()) }
/// ```
pub struct Obj<M: Model> {
    pub(crate) inner: Rc<ObjInner<M>>,
}

pub(crate) struct ObjInner<M: Model> {
    pub value: RefCell<M>,
    pub status: Cell<Status>,
    /// [`EXPIRED`], [`REL_NOTED`] and [`CASCADE_PENDING`]: one byte, so
    /// that `empty_loaded` fits beside them.
    bits: Cell<u8>,
    /// Collections loaded empty, not yet in the slots: bit `i` for the
    /// `i`th relationship the model declares (`TableDef::relations`). A
    /// selectin load of owners without related rows (most of them, often)
    /// then allocates nothing for an object whose slots live behind a
    /// pointer; the first look at its slots puts them there.
    empty_loaded: Cell<u8>,
    /// The relationship end at which a loaded collection gave this object
    /// its parent, the parent itself kept by the store
    /// (`ExtraStore::parent`), not yet in the slots: 0 for none, else
    /// [`parent_code`]. The children of a selectin load then allocate no
    /// slots; the first look at them puts the parent there. It sits in
    /// padding beside the flags.
    parent_note: Cell<u8>,
    /// Where its INSERT or UPDATE row was put by the flush that organized
    /// it last (a hint the flush checks against its rows; it sits in
    /// padding beside the flags, so it costs no memory).
    pub flush_row: Cell<u32>,
    /// The session it belongs to (`Weak::new()` for none). In a `Cell`
    /// rather than a `RefCell`, as is the key: read by taking the value out
    /// and putting it back, which no caller can interrupt, and a borrow
    /// flag less keeps a small model's object within 120 bytes, the size
    /// glibc's fast bins recycle without merging free neighbours.
    session: Cell<Weak<SessionInner>>,
    /// The key the identity map knows this object by.
    key: Cell<Option<M::Key>>,
    /// The snapshot and the relationship slots, inline or allocated on
    /// first use as the model's derive chose (`super::extra`).
    extra: M::__Store,
}

impl<M: Model> ObjInner<M> {
    /// Whether `expire()` would change anything: it is not expired, or it
    /// holds a snapshot or relationship slots (or they are borrowed, so
    /// they cannot be looked at).
    pub(crate) fn expire_would_change(&self) -> bool {
        !self.expired()
            || self.empty_loaded.get() != 0
            || self.parent_note.get() != 0
            || self.extra_if_any().is_some_and(|e| {
                e.snapshot.try_borrow().map_or(true, |s| s.is_some())
                    || e.rels.try_borrow().map_or(true, |r| !r.slots.is_empty())
            })
    }

    fn bit(&self, bit: u8) -> bool {
        self.bits.get() & bit != 0
    }

    fn set_bit(&self, bit: u8, on: bool) {
        let bits = self.bits.get();
        self.bits.set(if on { bits | bit } else { bits & !bit });
    }

    /// Whether its values are stale (reloaded on next access).
    pub(crate) fn expired(&self) -> bool {
        self.bit(EXPIRED)
    }

    /// The snapshot and slots, made on first use.
    fn extra(&self) -> &Extra<M> {
        self.extra.get()
    }

    /// The snapshot and slots, if they were ever needed.
    fn extra_if_any(&self) -> Option<&Extra<M>> {
        self.extra.get_if_any()
    }

    /// The relationship slots, if the object has any, without the
    /// collections noted as loaded empty (`empty_loaded`). A noted parent
    /// is put in first (the slots are made for it).
    #[inline]
    pub(crate) fn rels_if_any(&self) -> Option<&RefCell<RelSlots>> {
        if self.parent_note.get() != 0 {
            return self.rels_with_parent();
        }
        self.extra_if_any().map(|e| &e.rels)
    }

    /// [`rels_if_any`](Self::rels_if_any) with the noted parent put in
    /// (out of line: most looks find no note).
    #[inline(never)]
    fn rels_with_parent(&self) -> Option<&RefCell<RelSlots>> {
        let Some((side, parent)) = self.take_parent_note() else {
            return self.extra_if_any().map(|e| &e.rels);
        };
        let rels = &self.extra().rels;
        // Never borrowed: the note is only made while there are no slots,
        // and every look at them takes it out first.
        if let Ok(mut slots) = rels.try_borrow_mut() {
            slots.add_loaded_parent(side, Rc::downgrade(&parent));
        }
        Some(rels)
    }

    /// The noted parent and the object's end of that relationship, the
    /// note taken out; `None` for none, or a parent nobody holds any more
    /// (which reads as not loaded, as it would in the slots).
    fn take_parent_note(&self) -> Option<(Side, Rc<dyn ErasedObj>)> {
        let code = self.parent_note.replace(0);
        let parent = self.extra.parent()?.0.take()?.upgrade()?;
        let declared = code & DECLARED != 0;
        // A relationship is listed by the model that declares it.
        let table = if declared { M::table() } else { parent.table() };
        let def = table
            .relations
            .get(usize::from(code & !DECLARED).checked_sub(1)?)?;
        Some((Side::new(def(), declared), parent))
    }

    /// The relationship slots, with the collections noted as loaded empty
    /// put in first (the slots are made for them).
    fn rels_with_noted(&self) -> Option<&RefCell<RelSlots>> {
        let any = self.rels_if_any();
        let empty = self.empty_loaded.get();
        if empty == 0 {
            return any;
        }
        let rels = &self.extra().rels;
        // Borrowed up the stack: the note stays for the next look (a
        // slot made meanwhile, by a load, wins over it).
        if let Ok(mut slots) = rels.try_borrow_mut() {
            self.empty_loaded.set(0);
            for (i, def) in M::table().relations.iter().enumerate() {
                if i < 8 && empty & (1 << i) != 0 {
                    slots.add_loaded_empty(Side::new(def(), true));
                }
            }
        }
        Some(rels)
    }

    /// The bit of `empty_loaded` for `side`: a relationship the model
    /// declares, among its first eight.
    fn empty_bit(side: Side) -> Option<u8> {
        if !side.declared {
            return None;
        }
        let i = (M::table().relations.iter()).position(|r| std::ptr::eq(r(), side.def))?;
        (i < 8).then(|| 1 << i)
    }

    /// Move the snapshot out, if there is one.
    fn take_snapshot_box(&self) -> Option<Box<M>> {
        self.extra_if_any()
            .and_then(|e| e.snapshot.borrow_mut().take())
    }

    /// The identity key, cloned.
    pub(crate) fn key(&self) -> Option<M::Key> {
        self.with_key(|k| k.cloned())
    }

    /// Look at the identity key in place (taken out of its `Cell` and put
    /// back: `f` cannot reach this object).
    pub(crate) fn with_key<R>(&self, f: impl FnOnce(Option<&M::Key>) -> R) -> R {
        let key = self.key.take();
        let r = f(key.as_ref());
        self.key.set(key);
        r
    }

    /// The session, if it is still open.
    pub(crate) fn session(&self) -> Option<Rc<SessionInner>> {
        let weak = self.session.take();
        let session = weak.upgrade();
        self.session.set(weak);
        session
    }
}

impl<M: Model> Clone for Obj<M> {
    fn clone(&self) -> Self {
        Obj {
            inner: Rc::clone(&self.inner),
        }
    }
}

impl<M: Model> Drop for Obj<M> {
    /// Objects in no session that only keep each other alive (a
    /// many-to-many pair linked before being added) are freed with the last
    /// handle; see `rel::slots::collect_cycles`.
    fn drop(&mut self) {
        let outside = matches!(
            self.inner.status.get(),
            Status::Transient | Status::Detached
        );
        if outside
            && self
                .inner
                .rels_if_any()
                .is_some_and(|r| r.try_borrow().is_ok_and(|r| r.holds_strong_refs()))
        {
            super::rel::slots::collect_cycles(self.erased(), 1);
        }
    }
}

impl<M: Model> PartialEq for Obj<M> {
    /// Identity: true when both handles point at the same object.
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.inner, &other.inner)
    }
}

impl<M: Model> Eq for Obj<M> {}

impl<M: Model + fmt::Debug> fmt::Debug for Obj<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.inner.value.try_borrow() {
            Ok(v) => write!(f, "Obj({:?}, {:?})", self.state(), &*v),
            Err(_) => write!(f, "Obj({:?}, <borrowed>)", self.state()),
        }
    }
}

impl<M: Model> From<M> for Obj<M> {
    fn from(value: M) -> Self {
        Obj::new(value)
    }
}

pub(crate) fn borrow_conflict<M: Model>() -> Error {
    Error::BorrowConflict {
        model: M::table().model,
    }
}

impl<M: Model> Obj<M> {
    /// A transient object, in no session. Add it with
    /// [`Session::add`](crate::Session::add), or attach it to a related
    /// object that is in a session (the `save-update` cascade adds it).
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    ///
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64, name: String }
    ///
    /// let u = Obj::new(User { name: "ann".into(), ..Default::default() });
    /// assert_eq!(u.state(), ObjState::Transient);
    /// ```
    pub fn new(value: M) -> Self {
        Obj::with_status(value, Status::Transient, Weak::new(), None)
    }

    pub(crate) fn with_status(
        value: M,
        status: Status,
        session: Weak<SessionInner>,
        key: Option<M::Key>,
    ) -> Self {
        Obj {
            inner: Rc::new(ObjInner {
                value: RefCell::new(value),
                status: Cell::new(status),
                bits: Cell::new(0),
                empty_loaded: Cell::new(0),
                parent_note: Cell::new(0),
                flush_row: Cell::new(u32::MAX),
                session: Cell::new(session),
                key: Cell::new(key),
                extra: Default::default(),
            }),
        }
    }

    /// Borrow the object for reading. An expired object is reloaded from the
    /// database first.
    ///
    /// # Errors
    ///
    /// [`Error::BorrowConflict`] while a [`write`](Self::write) guard is
    /// alive; reload errors for an expired object ([`Error::NotFound`] if its
    /// row is gone, [`Error::Detached`] if its session was dropped).
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64, name: String }
    ///
    /// let u = Obj::new(User { name: "ann".into(), ..Default::default() });
    /// assert_eq!(u.read().unwrap().name, "ann");
    /// let guard = u.write().unwrap();
    /// assert!(u.read().is_err()); // conflicting borrow: an error, not a panic
    /// drop(guard);
    /// ```
    pub fn read(&self) -> Result<Ref<'_, M>> {
        if self.inner.expired() {
            self.reload_expired()?;
        }
        self.inner
            .value
            .try_borrow()
            .map_err(|_| borrow_conflict::<M>())
    }

    /// Borrow the object for writing. Changes are found at the next flush
    /// and written as an UPDATE of the changed columns only.
    ///
    /// # Errors
    ///
    /// [`Error::BorrowConflict`] while another guard is alive; reload errors
    /// for an expired object.
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
    /// let rec = db.record();
    /// u.write()?.name = "anna".into();
    /// session.commit()?;
    /// assert_eq!(rec.sql()[1], r#"UPDATE "user" SET "name" = ? WHERE "user"."id" = ?"#);
    /// # Ok(()) }
    /// ```
    pub fn write(&self) -> Result<RefMut<'_, M>> {
        if self.inner.expired() {
            self.reload_expired()?;
        }
        let guard = self
            .inner
            .value
            .try_borrow_mut()
            .map_err(|_| borrow_conflict::<M>())?;
        // An object marked for deletion still has its row: track changes to
        // it too, so a rollback that un-marks it can revert them.
        if matches!(
            self.inner.status.get(),
            Status::Persistent | Status::MarkedDeleted
        ) {
            let mut snapshot = self
                .inner
                .extra()
                .snapshot
                .try_borrow_mut()
                .map_err(|_| borrow_conflict::<M>())?;
            if snapshot.is_none() {
                *snapshot = Some(Box::new(guard.__snapshot()));
                drop(snapshot);
                if let Some(session) = self.inner.session() {
                    session.note_modified(self.erased())?;
                }
            }
        }
        Ok(guard)
    }

    /// Where the object stands: transient, pending, persistent, deleted or
    /// detached.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64 }
    /// assert_eq!(Obj::new(User::default()).state(), ObjState::Transient);
    /// ```
    pub fn state(&self) -> ObjState {
        match self.inner.status.get() {
            Status::Transient => ObjState::Transient,
            Status::Pending => ObjState::Pending,
            Status::Persistent => ObjState::Persistent,
            Status::MarkedDeleted | Status::Deleted => ObjState::Deleted,
            Status::Detached => ObjState::Detached,
        }
    }

    /// Whether the object's values are stale and will be reloaded on the
    /// next access (after [`Session::expire`](crate::Session::expire) or a
    /// rollback).
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64 }
    /// assert!(!Obj::new(User::default()).is_expired());
    /// ```
    pub fn is_expired(&self) -> bool {
        self.inner.expired()
    }

    /// The key the session knows this object by: `None` until it has a row.
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
    /// assert_eq!(u.identity(), None);
    /// session.flush()?;
    /// assert_eq!(u.identity(), Some(1));
    /// # Ok(()) }
    /// ```
    pub fn identity(&self) -> Option<M::Key> {
        self.inner.key()
    }

    /// Whether two handles point at the same object.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64 }
    /// let a = Obj::new(User::default());
    /// let b = a.clone();
    /// assert!(Obj::ptr_eq(&a, &b));
    /// assert!(!Obj::ptr_eq(&a, &Obj::new(User::default())));
    /// ```
    pub fn ptr_eq(a: &Self, b: &Self) -> bool {
        Rc::ptr_eq(&a.inner, &b.inner)
    }

    pub(crate) fn erased(&self) -> Rc<dyn ErasedObj> {
        self.inner.clone()
    }

    pub(crate) fn session(&self) -> Option<Rc<SessionInner>> {
        self.inner.session()
    }

    fn reload_expired(&self) -> Result<()> {
        let Some(session) = self.session() else {
            return Err(Error::Detached {
                model: M::table().model,
                action: "reload its expired values",
            });
        };
        session.reload(self)
    }

    /// Replace the values with freshly loaded ones.
    pub(crate) fn set_loaded(&self, value: M) -> Result<()> {
        let mut v = self
            .inner
            .value
            .try_borrow_mut()
            .map_err(|_| borrow_conflict::<M>())?;
        let old = std::mem::replace(&mut *v, value);
        drop(v);
        self.inner.set_bit(EXPIRED, false);
        let snapshot = self.inner.take_snapshot_box();
        // The old values are dropped only now, with nothing borrowed: a
        // model's `Drop` may call back into the session.
        drop(old);
        drop(snapshot);
        Ok(())
    }
}

/// What the flush and the session need from an object without knowing its
/// model: implemented by every `ObjInner<M>`.
pub(crate) trait ErasedObj: Any {
    fn table(&self) -> &'static TableDef;
    fn status(&self) -> Status;
    fn set_status(&self, status: Status);
    fn is_expired(&self) -> bool;
    /// Whether it is in its session's `rel_dirty` list.
    fn rel_noted(&self) -> bool;
    fn set_rel_noted(&self, noted: bool);
    /// The row the flush last gave it (see `ObjInner::flush_row`).
    fn flush_row(&self) -> usize;
    fn set_flush_row(&self, row: usize);
    /// Whether its delete cascade waits for the next flush.
    fn cascade_pending(&self) -> bool;
    fn set_cascade_pending(&self, pending: bool);
    fn expire(&self);
    fn rc_any(self: Rc<Self>) -> Rc<dyn Any>;
    /// Columns changed since the snapshot (empty without a snapshot).
    fn changed_columns(&self) -> Result<crate::schema::ColumnSet>;
    fn clear_snapshot(&self);
    /// Move the snapshot out (kept by the transaction log).
    fn take_snapshot(&self) -> Option<Box<dyn Any>>;
    /// Put back a snapshot taken with `take_snapshot`.
    fn restore_snapshot(&self, snapshot: Box<dyn Any>);
    /// A snapshot of the values before `overwritten` (column, old value)
    /// were written: for objects changed only by key fills at flush.
    fn snapshot_before(&self, overwritten: &[(usize, OldValue)]) -> Option<Box<dyn Any>>;
    /// Fail with `BorrowConflict` if the value is mutably borrowed.
    fn check_borrow(&self) -> Result<()>;
    /// Fail with `BorrowConflict` if the value is borrowed at all (the
    /// operation may have to write it).
    fn check_unborrowed(&self) -> Result<()>;
    /// The primary key columns' current values.
    fn key_values(&self) -> Result<Vec<Value>>;
    /// Put the snapshot's column values back (rollback of unflushed changes).
    fn revert_to_snapshot(&self);
    /// Current value of a column, owned.
    fn column_value(&self, column: usize) -> Result<Value>;
    /// Set a column (foreign key fills, generated keys); returns the old value.
    fn set_column(&self, column: usize, value: &Value) -> Result<Value>;
    /// Set a column unless it holds `value` already; returns the old value
    /// when it changed.
    fn replace_column(&self, column: usize, value: &Value) -> Result<Option<Value>>;
    /// The identity key as SQL values.
    fn identity_values(&self) -> Option<Vec<Value>>;
    /// Whether the key columns no longer match the identity key (or the
    /// value cannot be read).
    fn key_changed(&self) -> bool;
    /// Whether the key must be generated by SQLite (auto-increment key is 0).
    fn needs_generated_key(&self) -> Result<bool>;
    /// Bind the listed columns (then the identity key when `with_key`) to a
    /// prepared statement, from parameter `first` (1-based) on.
    fn bind(
        &self,
        stmt: &mut crate::backend::Stmt<'_>,
        first: usize,
        columns: &mut dyn Iterator<Item = usize>,
        with_identity: bool,
    ) -> Result<()>;
    /// Enter the identity map under the object's current key.
    fn attach_identity(self: Rc<Self>, state: &mut SessionState);
    /// Make room in its model's identity map for `additional` objects.
    fn reserve_identity(&self, state: &mut SessionState, additional: usize);
    /// Enter the identity map again under the key it had when it left
    /// (rollback of a delete); needs no borrow of the value.
    fn reattach_identity(self: Rc<Self>, state: &mut SessionState);
    /// Leave the identity map, remembering the key for `reattach_identity`.
    fn detach_identity(&self, state: &mut SessionState);
    /// Forget the identity key (the object is pending again).
    fn clear_identity(&self);
    /// Set a column that the database changed by itself (a foreign key
    /// updated by `ON UPDATE CASCADE`): the snapshot follows, so the
    /// object does not look changed.
    fn sync_column(&self, column: usize, value: &Value) -> Result<()>;
    /// Forget the session (object becomes detached or transient).
    fn forget_session(&self, status: Status);
    /// Relationship slots, to change them (allocated on first use, with
    /// the collections noted as loaded empty put in).
    fn rels(&self) -> &RefCell<RelSlots>;
    /// Relationship slots, to look for what they hold: `None` for an
    /// object that has none (nothing is allocated, unless a parent is
    /// noted: the slots are made for it). Collections noted as loaded
    /// empty ([`noted_empty`](Self::noted_empty)) are not in them: they
    /// hold nothing.
    fn rels_if_any(&self) -> Option<&RefCell<RelSlots>>;
    /// Relationship slots with the collections noted as loaded empty put
    /// in: every loaded collection, to list them.
    #[cfg(feature = "serde")]
    fn rels_with_noted(&self) -> Option<&RefCell<RelSlots>>;
    /// Whether the collection at `side` is noted as loaded and empty, and
    /// not in the slots.
    fn noted_empty(&self, side: Side) -> bool;
    /// Note the collection at `side` as loaded and empty without making
    /// the slots; false, having done nothing, where that cannot be noted
    /// (the slots exist, or `side` has no bit).
    fn note_loaded_empty(&self, side: Side) -> bool;
    /// Note `parent` as the loaded parent at `side` (the object's end)
    /// without making the slots; false, having done nothing, where that
    /// cannot be noted (the model's objects have no room for it, the
    /// slots exist, another parent is noted, or `side` has no code).
    fn note_parent(&self, side: Side, parent: &Rc<dyn ErasedObj>) -> bool;
    /// Forget the collections noted as loaded empty and the noted parent
    /// (the slots are cleared too, or reload on access).
    fn forget_noted(&self);
    /// The session this object belongs to, if any.
    fn session_ptr(&self) -> Option<Rc<SessionInner>>;
    /// Whether it belongs to `session` (no reference count touched).
    fn in_session(&self, session: &SessionInner) -> bool;
    /// Join a session.
    fn set_session(&self, session: Weak<SessionInner>);
    /// The key for messages: the identity key, or the key columns' values
    /// when it has none yet.
    fn key_debug(&self) -> Option<String>;
    /// Every column's value, for putting them back after a hook.
    fn column_values(&self) -> Result<Vec<Value>>;
    /// Take a snapshot if there is none (a hook is about to change the
    /// object); true when one was taken.
    fn ensure_snapshot(&self) -> Result<bool>;
    /// Run a hook that may change the object.
    fn run_hook_mut(&self, event: super::HookEvent) -> Result<()>;
    /// Run a hook that reads the object.
    fn run_hook(&self, event: super::HookEvent) -> Result<()>;
    /// Run the field validators (all, or those of `changed`).
    fn validate(&self, changed: Option<crate::schema::ColumnSet>) -> Result<()>;
}

impl<M: Model> ErasedObj for ObjInner<M> {
    fn table(&self) -> &'static TableDef {
        M::table()
    }

    fn status(&self) -> Status {
        self.status.get()
    }

    fn set_status(&self, status: Status) {
        self.status.set(status);
    }

    fn is_expired(&self) -> bool {
        self.expired()
    }

    fn rel_noted(&self) -> bool {
        self.bit(REL_NOTED)
    }

    fn set_rel_noted(&self, noted: bool) {
        self.set_bit(REL_NOTED, noted);
    }

    fn cascade_pending(&self) -> bool {
        self.bit(CASCADE_PENDING)
    }

    fn flush_row(&self) -> usize {
        self.flush_row.get() as usize
    }

    fn set_flush_row(&self, row: usize) {
        // Beyond u32 (not a flush that fits in memory) it finds no row.
        self.flush_row.set(u32::try_from(row).unwrap_or(u32::MAX));
    }

    fn set_cascade_pending(&self, pending: bool) {
        self.set_bit(CASCADE_PENDING, pending);
    }

    fn expire(&self) {
        self.set_bit(EXPIRED, true);
        self.empty_loaded.set(0);
        // Dropped outside the borrow: a model's `Drop` may call back.
        let snapshot = self.take_snapshot_box();
        drop(snapshot);
        // Loaded relationships are reloaded on next access; assignments made
        // through relationship methods stay until they are flushed. The
        // parents it knew forget their collections too (see `drop_loaded`).
        let noted = self.take_parent_note();
        let mut parents: Vec<(Rc<dyn ErasedObj>, Side)> = Vec::new();
        if let Some(rels) = self.extra_if_any().map(|e| &e.rels) {
            parents = rels.borrow_mut().drop_loaded();
        }
        parents.extend(noted.map(|(side, parent)| (parent, side.partner())));
        for (parent, side) in parents {
            // Borrowed up the stack (a self-reference): it reloads anyway.
            if let Some(Ok(mut rels)) = parent.rels_if_any().map(RefCell::try_borrow_mut) {
                rels.unload(side);
            }
        }
    }

    fn rc_any(self: Rc<Self>) -> Rc<dyn Any> {
        self
    }

    fn changed_columns(&self) -> Result<crate::schema::ColumnSet> {
        let Some(extra) = self.extra_if_any() else {
            return Ok(crate::schema::ColumnSet::empty());
        };
        let snapshot = extra.snapshot.borrow();
        let Some(snapshot) = &*snapshot else {
            return Ok(crate::schema::ColumnSet::empty());
        };
        let value = self
            .value
            .try_borrow()
            .map_err(|_| borrow_conflict::<M>())?;
        Ok(value.__changed_columns(snapshot))
    }

    fn clear_snapshot(&self) {
        let snapshot = self.take_snapshot_box();
        drop(snapshot);
    }

    fn take_snapshot(&self) -> Option<Box<dyn Any>> {
        self.take_snapshot_box().map(|s| s as Box<dyn Any>)
    }

    fn restore_snapshot(&self, snapshot: Box<dyn Any>) {
        if let Ok(s) = snapshot.downcast::<M>() {
            // A version counter is the session's: the flush that bumped it
            // is undone, so it goes back with the snapshot (its next UPDATE
            // checks the row still has that version).
            if let Some(v) = M::table().version {
                let back = s
                    .__column_value(v)
                    .map(crate::types::to_owned_value)
                    .and_then(|old| self.set_column(v, &old));
                if back.is_err() {
                    self.set_bit(EXPIRED, true);
                }
            }
            let old = self.extra().snapshot.borrow_mut().replace(s);
            drop(old);
        }
    }

    fn snapshot_before(&self, overwritten: &[(usize, OldValue)]) -> Option<Box<dyn Any>> {
        let mut snapshot = self.value.try_borrow().ok()?.__snapshot();
        for (column, old) in overwritten.iter().rev() {
            snapshot
                .__set_column(*column, (&old.to_value()).into())
                .ok()?;
        }
        Some(Box::new(snapshot))
    }

    fn revert_to_snapshot(&self) {
        let Some(snapshot) = self.take_snapshot_box() else {
            return;
        };
        match self.value.try_borrow_mut() {
            Ok(mut value) => {
                for i in 0..M::table().columns.len() {
                    let restored = snapshot
                        .__column_value(i)
                        .map(crate::types::to_owned_value)
                        .and_then(|v| value.__set_column(i, (&v).into()));
                    if restored.is_err() {
                        self.set_bit(EXPIRED, true);
                    }
                }
            }
            // Borrowed by the caller: read the truth from the database later.
            Err(_) => self.set_bit(EXPIRED, true),
        }
    }

    fn check_borrow(&self) -> Result<()> {
        self.value
            .try_borrow()
            .map(drop)
            .map_err(|_| borrow_conflict::<M>())
    }

    fn check_unborrowed(&self) -> Result<()> {
        self.value
            .try_borrow_mut()
            .map(drop)
            .map_err(|_| borrow_conflict::<M>())
    }

    fn column_value(&self, column: usize) -> Result<Value> {
        let value = self
            .value
            .try_borrow()
            .map_err(|_| borrow_conflict::<M>())?;
        value
            .__column_value(column)
            .map(crate::types::to_owned_value)
    }

    fn set_column(&self, column: usize, new: &Value) -> Result<Value> {
        let mut value = self
            .value
            .try_borrow_mut()
            .map_err(|_| borrow_conflict::<M>())?;
        let old = value
            .__column_value(column)
            .map(crate::types::to_owned_value)?;
        value.__set_column(column, new.into())?;
        Ok(old)
    }

    fn replace_column(&self, column: usize, new: &Value) -> Result<Option<Value>> {
        // Read first: an unchanged value needs no write borrow (the user
        // may hold a read guard).
        let old = self.column_value(column)?;
        if old == *new {
            return Ok(None);
        }
        self.value
            .try_borrow_mut()
            .map_err(|_| borrow_conflict::<M>())?
            .__set_column(column, new.into())?;
        Ok(Some(old))
    }

    fn identity_values(&self) -> Option<Vec<Value>> {
        use crate::model::PrimaryKey;
        self.with_key(|k| k.map(PrimaryKey::to_values))
    }

    fn key_changed(&self) -> bool {
        match self.value.try_borrow() {
            Ok(value) => self.with_key(|k| k != Some(&value.key())),
            Err(_) => true,
        }
    }

    fn key_values(&self) -> Result<Vec<Value>> {
        M::table()
            .primary_key
            .iter()
            .map(|&i| self.column_value(i))
            .collect()
    }

    fn needs_generated_key(&self) -> Result<bool> {
        let t = M::table();
        if !t.auto_increment {
            return Ok(false);
        }
        // Compared where it lies: no owned `Value` made (a flush asks this
        // of every new row, twice).
        let value = self
            .value
            .try_borrow()
            .map_err(|_| borrow_conflict::<M>())?;
        Ok(value.__column_value(t.primary_key[0])?.as_ref() == ValueRef::Integer(0))
    }

    fn bind(
        &self,
        stmt: &mut crate::backend::Stmt<'_>,
        first: usize,
        columns: &mut dyn Iterator<Item = usize>,
        with_identity: bool,
    ) -> Result<()> {
        let t = M::table();
        let value = self
            .value
            .try_borrow()
            .map_err(|_| borrow_conflict::<M>())?;
        let mut index = first;
        for column in columns {
            let v = value.__column_value(column)?;
            stmt.bind(index, v.as_ref())?;
            index += 1;
        }
        if with_identity {
            self.with_key(|key| {
                let key = key.ok_or(Error::Detached {
                    model: t.model,
                    action: "be written without a key",
                })?;
                bind_key(t, key, stmt, index)
            })?;
        }
        Ok(())
    }

    fn attach_identity(self: Rc<Self>, state: &mut SessionState) {
        let Some(key) = self.value.try_borrow().ok().map(|v| v.key()) else {
            return self.reattach_identity(state);
        };
        self.key.set(Some(key.clone()));
        state.maps.of::<M>().insert(&key, Obj { inner: self });
    }

    fn reserve_identity(&self, state: &mut SessionState, additional: usize) {
        state.maps.of::<M>().reserve(additional);
    }

    fn reattach_identity(self: Rc<Self>, state: &mut SessionState) {
        if let Some(key) = self.key() {
            state.maps.of::<M>().insert(&key, Obj { inner: self });
        }
    }

    fn clear_identity(&self) {
        self.key.set(None);
    }

    fn sync_column(&self, column: usize, new: &Value) -> Result<()> {
        let mut value = self
            .value
            .try_borrow_mut()
            .map_err(|_| borrow_conflict::<M>())?;
        value.__set_column(column, new.into())?;
        drop(value);
        if let Some(extra) = self.extra_if_any()
            && let Some(snapshot) = extra.snapshot.borrow_mut().as_mut()
        {
            snapshot.__set_column(column, new.into())?;
        }
        Ok(())
    }

    fn detach_identity(&self, state: &mut SessionState) {
        if let (Some(key), Some(map)) = (self.key(), state.maps.get::<M>()) {
            let mine = map
                .get(&key)
                .is_some_and(|o| std::ptr::eq(Rc::as_ptr(&o.inner), self));
            if mine {
                map.remove(&key);
            }
        }
    }

    fn forget_session(&self, status: Status) {
        self.status.set(status);
        self.set_bit(REL_NOTED, false);
        self.set_bit(CASCADE_PENDING, false);
        self.session.set(Weak::new());
        self.key.set(None);
        self.forget_noted();
        let snapshot = self.take_snapshot_box();
        let slots = self
            .rels_if_any()
            .map(|r| std::mem::take(&mut *r.borrow_mut()));
        // Dropped with nothing borrowed: a model's `Drop` may call back.
        drop(snapshot);
        drop(slots);
    }

    fn rels(&self) -> &RefCell<RelSlots> {
        match self.rels_with_noted() {
            Some(rels) => rels,
            None => &self.extra().rels,
        }
    }

    fn rels_if_any(&self) -> Option<&RefCell<RelSlots>> {
        ObjInner::rels_if_any(self)
    }

    #[cfg(feature = "serde")]
    fn rels_with_noted(&self) -> Option<&RefCell<RelSlots>> {
        ObjInner::rels_with_noted(self)
    }

    fn noted_empty(&self, side: Side) -> bool {
        self.empty_loaded.get() != 0
            && Self::empty_bit(side).is_some_and(|bit| self.empty_loaded.get() & bit != 0)
    }

    fn note_loaded_empty(&self, side: Side) -> bool {
        if self.extra.get_if_any().is_some() {
            return false;
        }
        let Some(bit) = Self::empty_bit(side) else {
            return false;
        };
        self.empty_loaded.set(self.empty_loaded.get() | bit);
        true
    }

    fn note_parent(&self, side: Side, parent: &Rc<dyn ErasedObj>) -> bool {
        let Some(cell) = self.extra.parent() else {
            return false;
        };
        let code = parent_code(side, M::table(), parent.table());
        let held = self.parent_note.get();
        if code == 0 || (held != 0 && held != code) || self.extra.get_if_any().is_some() {
            return false;
        }
        cell.0.set(Some(Rc::downgrade(parent)));
        self.parent_note.set(code);
        true
    }

    fn forget_noted(&self) {
        self.empty_loaded.set(0);
        self.parent_note.set(0);
        if let Some(cell) = self.extra.parent() {
            drop(cell.0.take());
        }
    }

    fn session_ptr(&self) -> Option<Rc<SessionInner>> {
        self.session()
    }

    fn in_session(&self, session: &SessionInner) -> bool {
        // A `Weak` keeps its allocation: while it points there, no other
        // session can live at that address.
        let weak = self.session.take();
        let same = std::ptr::eq(weak.as_ptr(), session);
        self.session.set(weak);
        same
    }

    fn set_session(&self, session: Weak<SessionInner>) {
        self.session.set(session);
    }

    fn key_debug(&self) -> Option<String> {
        if let Some(key) = self.key() {
            return Some(format!("{key:?}"));
        }
        self.value
            .try_borrow()
            .ok()
            .map(|v| format!("{:?}", v.key()))
    }

    fn column_values(&self) -> Result<Vec<Value>> {
        (0..M::table().columns.len())
            .map(|c| self.column_value(c))
            .collect()
    }

    fn ensure_snapshot(&self) -> Result<bool> {
        let value = self
            .value
            .try_borrow()
            .map_err(|_| borrow_conflict::<M>())?;
        let mut snapshot = self
            .extra()
            .snapshot
            .try_borrow_mut()
            .map_err(|_| borrow_conflict::<M>())?;
        if snapshot.is_some() {
            return Ok(false);
        }
        *snapshot = Some(Box::new(value.__snapshot()));
        Ok(true)
    }

    fn run_hook_mut(&self, event: super::HookEvent) -> Result<()> {
        let Some(hooks) = M::__HOOKS else {
            return Ok(());
        };
        let mut value = self
            .value
            .try_borrow_mut()
            .map_err(|_| borrow_conflict::<M>())?;
        hooks.run_mut(&mut value, event)
    }

    fn run_hook(&self, event: super::HookEvent) -> Result<()> {
        let Some(hooks) = M::__HOOKS else {
            return Ok(());
        };
        let value = self
            .value
            .try_borrow()
            .map_err(|_| borrow_conflict::<M>())?;
        hooks.run(&value, event)
    }

    fn validate(&self, changed: Option<crate::schema::ColumnSet>) -> Result<()> {
        if !M::__VALIDATES {
            return Ok(());
        }
        let value = self
            .value
            .try_borrow()
            .map_err(|_| borrow_conflict::<M>())?;
        value.__validate(changed)
    }
}

/// Make a new object as Python makes one, `Tag(name="rust")`:
/// `obj!(Tag, name = "rust")`, or with a struct literal's syntax
/// `obj!(Tag { name: "rust" })`, is `Obj::new(Tag { name: "rust".into(),
/// ..Default::default() })`. Each value goes through `Into` (so a `&str`
/// fills a `String` field, `5` an `i64`; write `5u32` for a `u32`), in
/// the struct form a field may be written alone when a variable of that
/// name holds its value, and the fields not given take their type's
/// default. The model must implement `Default`.
///
/// # Examples
///
/// ```
/// use orm::prelude::*;
///
/// #[derive(Model, Debug, Default)]
/// struct Post { id: i64, title: String, body: String, views: i64 }
///
/// let post = orm::obj!(Post, title = "Hello", views = 3);
/// assert_eq!((post.get(Post::title)?, post.get(Post::views)?), ("Hello".to_string(), 3));
/// assert_eq!(post.state(), ObjState::Transient);
///
/// let body = format!("body {}", 1);
/// let post = orm::obj!(Post { title: "Hi", body });
/// assert_eq!(post.get(Post::body)?, "body 1");
/// # Ok::<(), orm::Error>(())
/// ```
#[macro_export]
macro_rules! obj {
    ($($model:ident)::+ { $($field:ident $(: $value:expr)?),* $(,)? }) => {
        $crate::Obj::new($($model)::+ {
            $($field: ::core::convert::Into::into($crate::obj!(@value $field $(: $value)?)),)*
            ..::core::default::Default::default()
        })
    };
    ($($model:ident)::+ $(, $field:ident = $value:expr)* $(,)?) => {
        $crate::Obj::new($($model)::+ {
            $($field: ::core::convert::Into::into($value),)*
            ..::core::default::Default::default()
        })
    };
    (@value $field:ident : $value:expr) => {
        $value
    };
    (@value $field:ident) => {
        $field
    };
}
