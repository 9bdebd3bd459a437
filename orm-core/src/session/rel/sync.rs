//! Keeping both ends of a relationship in step in memory (SQLAlchemy's
//! backref events): appending to a collection sets the child's parent,
//! setting a parent adds the child to the parent's loaded collection,
//! removal likewise, and many-to-many link changes are recorded on the
//! declared end, where the flush reads them. Every change is noted in the
//! session's list of objects with relationship changes. Called by the
//! typed relationship API (`Obj::append`, `remove`, `set_related`) and by
//! the delete cascade.

use std::cell::RefCell;
use std::rc::Rc;

use super::slots::{Members, RelSlot, RelValue, loaded_items, same, set_value, values_of};
use crate::error::{Error, Result};
use crate::schema::{Role, Side};
use crate::session::few::Few;
use crate::session::obj::{ErasedObj, Status};
use crate::session::state::{SessionInner, SessionState};

/// Add `item` to a loaded collection (or set a single child) of `owner`.
fn collection_add(owner: &Rc<dyn ErasedObj>, side: Side, item: &Rc<dyn ErasedObj>) {
    add_to_collection(owner, side, item, Members::insert);
}

/// [`collection_add`] with `add` putting `item` into a collection.
fn add_to_collection(
    owner: &Rc<dyn ErasedObj>,
    side: Side,
    item: &Rc<dyn ErasedObj>,
    add: fn(&mut Members, &Rc<dyn ErasedObj>),
) {
    let mut rels = owner.rels().borrow_mut();
    let slot = rels.slot(side);
    if !slot.loaded && owner.status() != Status::Pending && owner.status() != Status::Transient {
        return;
    }
    slot.loaded = true;
    match &mut slot.value {
        RelValue::Many(v) => add(v, item),
        RelValue::One(o) => *o = Some(Rc::clone(item)),
        RelValue::Up(_) => {}
    }
}

/// Remove `item` from a collection (or single child) of `owner`, if loaded.
pub(super) fn collection_remove(owner: &Rc<dyn ErasedObj>, side: Side, item: &Rc<dyn ErasedObj>) {
    let Some(rels) = owner.rels_if_any() else {
        return;
    };
    if let Some(slot) = rels.borrow_mut().find_mut(side) {
        match &mut slot.value {
            RelValue::Many(v) => {
                v.remove(item);
            }
            RelValue::One(o) if o.as_ref().is_some_and(|x| same(x, item)) => *o = None,
            _ => {}
        }
    }
}

/// Whether `child` was given a parent other than `owner` through `side`
/// (its reference to the parent) and that is not flushed yet.
pub(super) fn given_another_parent(
    child: &Rc<dyn ErasedObj>,
    side: Side,
    owner: &Rc<dyn ErasedObj>,
) -> bool {
    let Some(rels) = child.rels_if_any() else {
        return false;
    };
    match rels.borrow().find(side) {
        Some(s) if s.assigned => !matches!(
            &s.value,
            RelValue::Up(Some(w)) if w.upgrade().is_some_and(|p| same(&p, owner))
        ),
        _ => false,
    }
}

/// The parent a child's slot points at (`None` also when unknown).
pub(super) fn parent_of(child: &Rc<dyn ErasedObj>, side: Side) -> Option<Rc<dyn ErasedObj>> {
    let rels = child.rels_if_any()?.borrow();
    match &rels.find(side)?.value {
        RelValue::Up(Some(w)) => w.upgrade(),
        _ => None,
    }
}

/// Note relationship changes of `obj` in `session`, if there is one.
fn note(session: Option<&SessionInner>, obj: &Rc<dyn ErasedObj>) -> Result<()> {
    match session {
        Some(s) => s.note_rel_dirty(obj),
        None => Ok(()),
    }
}

/// Record that the many-to-many link between `owner` and `item` (seen from
/// `side`) was added or removed, on the declared end, where flush reads
/// link changes. A change undoes a pending opposite one, so a link added
/// and removed again before flush writes nothing.
fn note_link_change(
    session: Option<&SessionInner>,
    owner: &Rc<dyn ErasedObj>,
    side: Side,
    item: &Rc<dyn ErasedObj>,
    added: bool,
) -> Result<()> {
    let (decl_owner, target) = if side.declared {
        (owner, item)
    } else {
        (item, owner)
    };
    let decl = if side.def.back_populates.is_some() && !side.declared {
        side.partner()
    } else {
        Side::new(side.def, true)
    };
    {
        let mut rels = decl_owner.rels().borrow_mut();
        let links = rels.slot(decl).links_mut();
        let (changes, opposite) = if added {
            (&mut links.added, &mut links.removed)
        } else {
            (&mut links.removed, &mut links.added)
        };
        if !opposite.remove(target) {
            changes.insert(target);
        }
    }
    // A target whose collection is loaded (or new) lists `decl_owner`
    // there, where an expunge of the target finds it; otherwise (or if its
    // slots cannot be read now) the session records who links to it.
    let listed = target.noted_empty(decl.partner())
        || (target.rels_if_any().map(RefCell::try_borrow)).is_some_and(|rels| {
            rels.is_ok_and(|rels| rels.find(decl.partner()).is_some_and(|s| s.loaded))
        });
    match session {
        Some(s) if decl_owner.in_session(s) => {
            let mut state = s.state_mut()?;
            state.note_rel_dirty(decl_owner);
            if added && !listed {
                state.note_link_owner(target, decl_owner);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

impl SessionInner {
    pub(crate) fn note_rel_dirty(&self, obj: &Rc<dyn ErasedObj>) -> Result<()> {
        if obj.in_session(self) {
            self.state_mut()?.note_rel_dirty(obj);
        }
        Ok(())
    }

    /// Point `child`'s parent reference (end `side`, role Parent) at
    /// `parent`, keeping the parents' loaded collections in step.
    pub(crate) fn set_parent(
        session: Option<&SessionInner>,
        child: &Rc<dyn ErasedObj>,
        side: Side,
        parent: Option<&Rc<dyn ErasedObj>>,
    ) -> Result<()> {
        Self::set_parent_from(session, child, side, parent, true)
    }

    /// [`set_parent`](Self::set_parent); `add_to_parent` false when the
    /// caller has already added `child` to the parent's collection.
    fn set_parent_from(
        session: Option<&SessionInner>,
        child: &Rc<dyn ErasedObj>,
        side: Side,
        parent: Option<&Rc<dyn ErasedObj>>,
        add_to_parent: bool,
    ) -> Result<()> {
        let partner = side.partner();
        let old = parent_of(child, side);
        // The parent it has already: nothing changes, unless that parent's
        // deletion has not unlinked its children yet (its cascade waits for
        // the flush): then this is an assignment, which the flush refuses,
        // as it would after the cascade had run.
        if let (Some(o), Some(p)) = (&old, parent)
            && same(o, p)
            && !p.cascade_pending()
        {
            return Ok(());
        }
        if let Some(o) = &old {
            collection_remove(o, partner, child);
        }
        set_value(child, side, RelValue::Up(parent.map(Rc::downgrade)), true);
        if let Some(p) = parent {
            if let Role::Children { single: true } = partner.role() {
                // One-to-one: the parent's previous child loses its parent.
                let previous = loaded_items(p, partner).unwrap_or_default();
                for prev in previous.iter().filter(|x| !same(x, child)) {
                    set_value(prev, side, RelValue::Up(None), true);
                    note(session, prev)?;
                }
            }
            if add_to_parent {
                collection_add(p, partner, child);
            }
        }
        note(session, child)?;
        Ok(())
    }

    /// Add `item` to `owner`'s collection at `side` (role Children or Links).
    pub(crate) fn append(
        session: Option<&SessionInner>,
        owner: &Rc<dyn ErasedObj>,
        side: Side,
        item: &Rc<dyn ErasedObj>,
    ) -> Result<()> {
        if let Some(s) = session
            && s.append_new_child(owner, side, item)?
        {
            return Ok(());
        }
        // Change the relationship first, then cascade: only what is related
        // after the change joins the session.
        Self::append_in_memory(session, owner, side, item)?;
        if let Some(s) = session {
            s.cascade_into(owner)?;
            s.cascade_into(item)?;
        }
        Ok(())
    }

    /// [`append`](Self::append) of a new object that has no relationship
    /// yet to a one-to-many collection of an object of this session (a
    /// graph being built: most appends). Makes the changes the general path
    /// makes, in its order, without its walk: the new object's only
    /// related object is `owner`. Returns false, having changed nothing,
    /// when the case is another.
    fn append_new_child(
        &self,
        owner: &Rc<dyn ErasedObj>,
        side: Side,
        item: &Rc<dyn ErasedObj>,
    ) -> Result<bool> {
        let Role::Children { single: false } = side.role() else {
            return Ok(false);
        };
        let up = side.partner();
        let fresh = item
            .rels_if_any()
            .is_none_or(|r| r.try_borrow().is_ok_and(|rels| rels.slots.is_empty()));
        if !fresh
            || item.status() != Status::Transient
            || !matches!(owner.status(), Status::Pending | Status::Persistent)
            || !owner.in_session(self)
            || up.partner().key() != side.key()
        {
            return Ok(false);
        }
        let mut state = self.state_mut()?;
        // Every collection that lists an object holds a reference to it.
        // `Obj::append` passes `item` beside the user's handle, so two
        // references mean no collection lists it (`set_all` passes only
        // objects its collection does not list): no duplicate check. Having
        // no relationship is not enough: an expunged pending child forgets
        // its parent, whose collection still lists it.
        let add = if Rc::strong_count(item) <= 2 {
            Members::push_new
        } else {
            Members::insert
        };
        add_to_collection(owner, side, item, add);
        set_value(item, up, RelValue::Up(Some(Rc::downgrade(owner))), true);
        item.set_status(Status::Pending);
        item.set_session(self.weak_self.clone());
        state.pending.push(item);
        state.note_new_child(item, owner);
        if !owner.rel_noted() && owner.rels().borrow().has_pending_changes() {
            state.note_rel_dirty(owner);
        }
        Ok(true)
    }

    fn append_in_memory(
        session: Option<&SessionInner>,
        owner: &Rc<dyn ErasedObj>,
        side: Side,
        item: &Rc<dyn ErasedObj>,
    ) -> Result<()> {
        match side.role() {
            Role::Children { .. } => {
                collection_add(owner, side, item);
                // The child's end; its partner is `side` itself (a backref
                // pair), whose collection now holds the child already.
                let up = side.partner();
                let again = up.partner().key() != side.key();
                SessionInner::set_parent_from(session, item, up, Some(owner), again)
            }
            Role::Links => {
                collection_add(owner, side, item);
                collection_add(item, side.partner(), owner);
                note_link_change(session, owner, side, item, true)
            }
            Role::Parent => Err(Error::Usage(format!(
                "{} is a reference, not a collection; use set_related",
                side.describe()
            ))),
        }
    }

    /// Take `obj`, which is leaving the session (expunge), out of the
    /// collections it joined through a change no flush has written: the
    /// change leaves with the object, and a collection that kept it would
    /// list what the database never gets (a parent committed without its
    /// expunged new child, still listing it). Collections that list it
    /// because the database does keep it, as SQLAlchemy's do. What can fail
    /// (reading a reference's key values) is done before the first change.
    pub(crate) fn unlink_unflushed(
        &self,
        state: &SessionState,
        obj: &Rc<dyn ErasedObj>,
    ) -> Result<()> {
        // (object, its end) whose collection lists `obj` through its own
        // reference or link change. (`Few`: mostly one, and an expunge
        // allocates nothing for it.)
        let mut listed: Few<(Rc<dyn ErasedObj>, Side)> = Few::Zero;
        // Objects that may hold a link change to `obj`: those its loaded
        // collections list, and those the session recorded.
        let mut linkers = state.link_owners_of(obj);
        let slots = obj.rels_if_any().map(RefCell::borrow);
        for slot in slots.iter().flat_map(|r| &r.slots) {
            match (&slot.value, slot.side.role()) {
                (RelValue::Up(Some(w)), Role::Parent) => {
                    if let Some(parent) = w.upgrade()
                        && unflushed_parent(obj, slot, &parent)?
                    {
                        listed.push((parent, slot.side.partner()));
                    }
                }
                (RelValue::Many(members), Role::Links) => {
                    for t in slot.added() {
                        listed.push((Rc::clone(t), slot.side.partner()));
                    }
                    for m in members.iter() {
                        linkers.push(Rc::clone(m));
                    }
                }
                _ => {}
            }
        }
        drop(slots);
        for (other, side) in &listed {
            collection_remove(other, *side, obj);
        }
        for owner in &linkers {
            let mut sides: Few<Side> = Few::Zero;
            for s in &owner.rels().borrow().slots {
                if s.has_link_changes() && std::ptr::eq(s.side.other(), obj.table()) {
                    sides.push(s.side);
                }
            }
            for &side in &sides {
                let unlisted = owner
                    .rels()
                    .borrow_mut()
                    .find_mut(side)
                    .is_some_and(|slot| {
                        let links = slot.links_mut();
                        links.added.remove(obj) | links.removed.remove(obj)
                    });
                if unlisted {
                    collection_remove(owner, side, obj);
                }
            }
        }
        Ok(())
    }

    /// Remove `item` from `owner`'s collection at `side`.
    pub(crate) fn remove_from(
        session: Option<&SessionInner>,
        owner: &Rc<dyn ErasedObj>,
        side: Side,
        item: &Rc<dyn ErasedObj>,
    ) -> Result<()> {
        match side.role() {
            Role::Children { .. } => {
                collection_remove(owner, side, item);
                if parent_of(item, side.partner()).is_some_and(|p| same(&p, owner)) {
                    set_value(item, side.partner(), RelValue::Up(None), true);
                    note(session, item)?;
                }
                if let (true, Some(s)) = (side.cascade().delete_orphan, session)
                    && item.session_ptr().is_some()
                {
                    s.delete_erased(item)?;
                }
                Ok(())
            }
            Role::Links => {
                collection_remove(owner, side, item);
                collection_remove(item, side.partner(), owner);
                note_link_change(session, owner, side, item, false)
            }
            Role::Parent => Err(Error::Usage(format!(
                "{} is a reference, not a collection; use set_related",
                side.describe()
            ))),
        }
    }
}

/// Whether `child`'s reference to `parent` (held in `slot`) is one no flush
/// has written: either object is new, or the reference was assigned and the
/// child's foreign key does not hold the parent's key yet. The flush decides
/// what to write the same way (`dependency::organize_relationships`).
fn unflushed_parent(
    child: &Rc<dyn ErasedObj>,
    slot: &RelSlot,
    parent: &Rc<dyn ErasedObj>,
) -> Result<bool> {
    if child.status() == Status::Pending || parent.status() == Status::Pending {
        return Ok(true);
    }
    if !slot.assigned {
        return Ok(false);
    }
    let link = slot.side.def.link()?;
    Ok(values_of(parent, &link.parent_columns)? != values_of(child, &link.child_columns)?)
}
