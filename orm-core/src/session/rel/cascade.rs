//! Cascades: `save-update` (objects reachable from one added to the session
//! join it, and their relationship changes are noted) and `delete` (plan
//! every change a deletion makes, loading what it needs, then apply it:
//! children deleted first or orphaned, association rows removed). Both
//! walks keep their own stacks, as deep as the user's data. Called by
//! `Session::add` and `Session::delete`, by the typed relationship API when
//! it links objects, and by `delete-orphan` removal.

use std::borrow::Cow;
use std::ops::ControlFlow;
use std::rc::{Rc, Weak};

use rustc_hash::FxHashSet;

use super::slots::{RelValue, is_loaded, ptr, same};
use super::sync::{collection_remove, parent_of};
use crate::error::{Error, Result};
use crate::schema::{Role, Side, TableDef};
use crate::session::obj::{ErasedObj, Status};
use crate::session::state::SessionInner;

/// One change a deletion makes, planned before any is made.
pub(crate) enum DeleteStep {
    /// Clear `child`'s reference (this end) to a deleted parent.
    Orphan(Rc<dyn ErasedObj>, Side),
    /// Remove the many-to-many link between an object and a target.
    Unlink(Rc<dyn ErasedObj>, Side, Rc<dyn ErasedObj>),
    /// Mark the object deleted (discard it when pending).
    Delete(Rc<dyn ErasedObj>),
    /// Mark the object deleted now and leave its own cascade to the next
    /// flush: it has relationship ends that are not loaded, and the flush
    /// loads them for all such objects at once.
    Defer(Rc<dyn ErasedObj>),
}

/// The tables reachable from `t` that may declare relationships touching it.
fn sides_for(session: &SessionInner, t: &'static TableDef) -> Vec<Side> {
    let registered = session.db.inner.registry.sides_of(t);
    if !registered.is_empty() {
        return registered.to_vec();
    }
    // Not registered: the model's own declarations, and those of the tables
    // its foreign keys point at (where a backref to it would be declared).
    let mut out: Vec<Side> = t.relations.iter().map(|f| Side::new(f(), true)).collect();
    for fk in t.foreign_keys {
        if let crate::schema::ForeignTarget::Model { table, .. } = fk.target {
            for f in table().relations {
                let def = f();
                if std::ptr::eq((def.target)(), t) && def.back_populates.is_none() {
                    out.push(Side::new(def, false));
                }
            }
        }
    }
    out
}

/// The relationship ends a deletion of a `t` row acts on: its collections
/// and its many-to-many links (a reference to a parent needs nothing).
fn cascade_sides<'s>(session: &'s SessionInner, t: &'static TableDef) -> Cow<'s, [Side]> {
    match session.db.inner.registry.deleting_sides_of(t) {
        Some(sides) => Cow::Borrowed(sides),
        None => Cow::Owned(
            sides_for(session, t)
                .into_iter()
                .filter(|s| std::ptr::eq(s.owner(), t) && s.role() != Role::Parent)
                .collect(),
        ),
    }
}

/// Whether `child`'s reference at `side` was set in memory since the last
/// commit.
fn assigned(child: &Rc<dyn ErasedObj>, side: Side) -> bool {
    child
        .rels_if_any()
        .is_some_and(|r| r.borrow().find(side).is_some_and(|s| s.assigned))
}

/// Whether `obj`'s collection (or links) at `side` is in memory and empty.
fn loaded_empty(obj: &Rc<dyn ErasedObj>, side: Side) -> bool {
    obj.noted_empty(side)
        || obj.rels_if_any().is_some_and(|r| {
            r.borrow().find(side).is_some_and(|s| {
                (s.loaded || s.assigned)
                    && match &s.value {
                        RelValue::Many(items) => items.is_empty(),
                        RelValue::One(item) => item.is_none(),
                        RelValue::Up(_) => false,
                    }
            })
        })
}

/// Whether deleting `obj` has to load one of `sides` first: a row in the
/// database whose collection (or links) at that end is not in memory.
fn needs_load(obj: &Rc<dyn ErasedObj>, sides: &[Side]) -> bool {
    // A new object: nothing in the database points at it yet.
    obj.status() == Status::Persistent && sides.iter().any(|&side| !is_loaded(obj, side))
}

impl SessionInner {
    /// Make `obj` part of this session if it is new (the `save-update`
    /// cascade), and refuse objects of another session.
    pub(crate) fn cascade_into(&self, obj: &Rc<dyn ErasedObj>) -> Result<()> {
        match obj.status() {
            Status::Transient => {
                self.adopt_transient(obj)?;
                self.cascade_add(obj)
            }
            _ => self.check_owner(&**obj),
        }
    }

    /// Objects reachable from a newly added one join the session too (the
    /// `save-update` cascade), and its relationship changes are noted.
    ///
    /// `obj` is already in the session. The walk is depth-first and visits
    /// related objects in the order their slots hold them (so they become
    /// pending, and are inserted, in that order), with an explicit stack:
    /// a chain of linked new objects is as long as the user makes it.
    pub(crate) fn cascade_add(&self, obj: &Rc<dyn ErasedObj>) -> Result<()> {
        let mut stack: Vec<Rc<dyn ErasedObj>> = Vec::new();
        self.cascade_add_step(obj, &mut stack)?;
        while let Some(r) = stack.pop() {
            if r.status() == Status::Transient {
                self.adopt_transient(&r)?;
                self.cascade_add_step(&r, &mut stack)?;
            } else if r
                .rels_if_any()
                .is_some_and(|r| r.borrow().has_pending_changes())
            {
                self.note_rel_dirty(&r)?;
            }
        }
        Ok(())
    }

    /// One object of [`cascade_add`](Self::cascade_add): note its changes,
    /// and push the objects it holds (last first, so the first is visited
    /// next) when one of them must join the session.
    fn cascade_add_step(
        &self,
        obj: &Rc<dyn ErasedObj>,
        stack: &mut Vec<Rc<dyn ErasedObj>>,
    ) -> Result<()> {
        let has_changes = |r: &Rc<dyn ErasedObj>| {
            r.rels_if_any()
                .is_some_and(|r| r.borrow().has_pending_changes())
        };
        let Some(rels) = obj.rels_if_any() else {
            // No relationship seen: nothing to cascade (most adds).
            return Ok(());
        };
        let (related, changes) = {
            let rels = rels.borrow();
            if rels.slots.is_empty() {
                // No relationship seen: nothing to cascade (most adds).
                return Ok(());
            }
            let changes = rels.has_pending_changes();
            let joins = |r: &Rc<dyn ErasedObj>| match r.status() {
                Status::Transient => ControlFlow::Break(()),
                _ => ControlFlow::Continue(()),
            };
            if rels.visit_related(joins).is_continue() {
                // Nothing joins the session (an object appended to a
                // collection of an object already in it): note the changes
                // in place, without a list of the related objects.
                if changes {
                    self.note_rel_dirty(obj)?;
                }
                // Once `obj` is noted, noting an object already listed
                // changes nothing (often the owner, listed by its own link).
                let obj_noted = changes && obj.in_session(self);
                let listed = |r: &Rc<dyn ErasedObj>| obj_noted && r.rel_noted();
                let noted = rels.visit_related(|r| match !listed(r) && has_changes(r) {
                    true => self
                        .note_rel_dirty(r)
                        .map_or_else(ControlFlow::Break, ControlFlow::Continue),
                    false => ControlFlow::Continue(()),
                });
                return match noted {
                    ControlFlow::Break(e) => Err(e),
                    ControlFlow::Continue(()) => Ok(()),
                };
            }
            (rels.related(), changes)
        };
        if changes {
            self.note_rel_dirty(obj)?;
        }
        stack.extend(related.into_iter().rev());
        Ok(())
    }

    /// Mark an object for deletion (cascading through relationships).
    pub(crate) fn delete_erased(&self, obj: &Rc<dyn ErasedObj>) -> Result<()> {
        self.check_owner(&**obj)?;
        match obj.status() {
            Status::Pending | Status::Persistent => {
                let steps = self.plan_delete(obj)?;
                self.apply_delete(steps)
            }
            Status::MarkedDeleted | Status::Deleted => Ok(()),
            Status::Transient | Status::Detached => Err(Error::Detached {
                model: obj.table().model,
                action: "be deleted (it is not in this session)",
            }),
        }
    }

    /// What deleting `obj` does, with its cascades, in order: every child
    /// of a `delete` cascade is deleted before its parent, other children
    /// lose their reference, association rows go. Changes nothing, so a
    /// failed plan leaves every object as it was.
    ///
    /// A persistent object whose relationship ends are not all in memory
    /// is not walked into: only what memory holds of it is dealt with now,
    /// and it gets a [`DeleteStep::Defer`] (the next flush loads those ends
    /// for every deferred object at once, [`resolve_deletes`](Self::resolve_deletes)).
    ///
    /// The walk keeps its own stack of objects being deleted: a cascade
    /// runs as deep as the user's data (a long self-referential chain).
    pub(crate) fn plan_delete(&self, obj: &Rc<dyn ErasedObj>) -> Result<Vec<DeleteStep>> {
        struct Frame<'s> {
            obj: Rc<dyn ErasedObj>,
            sides: Cow<'s, [Side]>,
            next_side: usize,
            side: Option<Side>,
            items: std::vec::IntoIter<Rc<dyn ErasedObj>>,
            /// Its unloaded ends are left to the flush: only what memory
            /// holds is walked now, and it ends with `Defer`.
            deferred: bool,
        }
        let frame = |obj: &Rc<dyn ErasedObj>| {
            let sides = cascade_sides(self, obj.table());
            Frame {
                obj: Rc::clone(obj),
                deferred: needs_load(obj, &sides),
                sides,
                next_side: 0,
                side: None,
                items: Vec::new().into_iter(),
            }
        };
        let root = frame(obj);
        if root.deferred
            && !self.state_mut()?.may_have_assigned_children(obj)
            && root.sides.iter().all(|&s| !is_loaded(obj, s))
        {
            // Nothing of it in memory (the common case: many loaded objects
            // deleted in turn): all is left to the flush.
            return Ok(vec![DeleteStep::Defer(root.obj)]);
        }
        let mut steps = Vec::new();
        // Objects this deletion deletes: a cycle in the graph ends at them.
        let mut deleting = FxHashSet::default();
        deleting.insert(ptr(obj));
        let mut stack = vec![root];
        while let Some(top) = stack.last_mut() {
            if let (Some(side), Some(item)) = (top.side, top.items.next()) {
                match side.role() {
                    Role::Children { .. } => {
                        let gone = matches!(item.status(), Status::MarkedDeleted | Status::Deleted);
                        if gone || deleting.contains(&ptr(&item)) {
                            continue;
                        }
                        // Resolving a deferred cascade: children given to
                        // it in memory were dealt with when it was deleted,
                        // or were given to it after (the flush then refuses
                        // them, as SQLAlchemy does).
                        if top.obj.cascade_pending() && assigned(&item, side.partner()) {
                            continue;
                        }
                        if !side.cascade().delete {
                            // A soft-deleted parent's row stays: its
                            // children keep their reference.
                            if top.obj.table().soft_delete.is_none() {
                                steps.push(DeleteStep::Orphan(item, side.partner()));
                            }
                        } else if matches!(item.status(), Status::Persistent | Status::Pending) {
                            deleting.insert(ptr(&item));
                            let next = frame(&item);
                            stack.push(next);
                        }
                    }
                    // A soft-deleted row keeps its association rows.
                    Role::Links if top.obj.table().soft_delete.is_some() => {}
                    Role::Links => steps.push(DeleteStep::Unlink(Rc::clone(&top.obj), side, item)),
                    Role::Parent => {}
                }
                continue;
            }
            if let Some(&side) = top.sides.get(top.next_side) {
                top.next_side += 1;
                let items = if top.deferred && !is_loaded(&top.obj, side) {
                    self.assigned_children(side, &top.obj)?
                } else {
                    self.load_side(side, std::slice::from_ref(&top.obj))?
                };
                top.side = Some(side);
                top.items = items.into_iter();
                continue;
            }
            if let Some(done) = stack.pop() {
                steps.push(match done.deferred {
                    true => DeleteStep::Defer(done.obj),
                    false => DeleteStep::Delete(done.obj),
                });
            }
        }
        Ok(steps)
    }

    /// The children given to `owner` at `side` in memory and not flushed
    /// (what a deletion deals with before the rest of the collection is
    /// loaded).
    fn assigned_children(
        &self,
        side: Side,
        owner: &Rc<dyn ErasedObj>,
    ) -> Result<Vec<Rc<dyn ErasedObj>>> {
        if !matches!(side.role(), Role::Children { .. }) {
            return Ok(Vec::new());
        }
        let partner = side.partner();
        let state = self.state_mut()?;
        if !state.may_have_assigned_children(owner) {
            return Ok(Vec::new());
        }
        Ok(state
            .rel_dirty
            .iter()
            .filter(|c| {
                assigned(c, partner) && parent_of(c, partner).is_some_and(|p| same(&p, owner))
            })
            .cloned()
            .collect())
    }

    /// Apply the delete cascades left to the flush ([`DeleteStep::Defer`]):
    /// load the relationship ends they need for all deferred objects at
    /// once (one SELECT per relationship and table, in IN lists), then plan
    /// and apply each cascade; children deferred in turn are done in the
    /// next round, so a cascade of depth d costs d rounds, not one SELECT
    /// per object. A failed load changes nothing (the objects stay
    /// deferred, for the next flush).
    pub(crate) fn resolve_deletes(&self) -> Result<()> {
        // Found once; the children each round defers in turn are the next
        // round's, so a deep cascade does not scan the deletions again.
        let mut deferred: Vec<Rc<dyn ErasedObj>> = self
            .state_mut()?
            .deleted
            .iter()
            .filter(|o| o.cascade_pending() && o.status() == Status::MarkedDeleted)
            .cloned()
            .collect();
        while !deferred.is_empty() {
            // Grouped by table (deletions of one model come together).
            let mut groups: Vec<(&'static TableDef, Vec<Rc<dyn ErasedObj>>)> = Vec::new();
            for o in &deferred {
                let t = o.table();
                match groups.iter_mut().find(|(g, _)| std::ptr::eq(*g, t)) {
                    Some((_, objs)) => objs.push(Rc::clone(o)),
                    None => groups.push((t, vec![Rc::clone(o)])),
                }
            }
            // One statement's worth of owners at a time: the statements are
            // the same, and the maps a load builds stay small (one call for
            // 100,000 owners spent its time on fresh pages and cache misses).
            let per_load = self.dialect().load_keys().max(1);
            for (t, objs) in &groups {
                for &side in cascade_sides(self, t).iter() {
                    for owners in objs.chunks(per_load) {
                        self.load_side_only(side, owners)?;
                    }
                }
            }
            let mut steps = Vec::new();
            for o in &deferred {
                // Nothing loaded for it: nothing to plan (it is marked).
                if cascade_sides(self, o.table())
                    .iter()
                    .all(|&s| loaded_empty(o, s))
                {
                    continue;
                }
                steps.extend(self.plan_delete(o)?);
            }
            let next: Vec<Rc<dyn ErasedObj>> = steps
                .iter()
                .filter_map(|step| match step {
                    DeleteStep::Defer(o) => Some(Rc::clone(o)),
                    _ => None,
                })
                .collect();
            self.apply_delete(steps)?;
            for o in &deferred {
                o.set_cascade_pending(false);
            }
            deferred = next;
        }
        Ok(())
    }

    /// Carry out a plan made by [`plan_delete`](Self::plan_delete).
    pub(crate) fn apply_delete(&self, steps: Vec<DeleteStep>) -> Result<()> {
        for step in steps {
            match step {
                DeleteStep::Orphan(child, side) => {
                    SessionInner::set_parent(Some(self), &child, side, None)?;
                }
                DeleteStep::Unlink(owner, side, target) => {
                    SessionInner::remove_from(Some(self), &owner, side, &target)?;
                }
                DeleteStep::Delete(obj) => self.mark_deleted(&obj)?,
                DeleteStep::Defer(obj) => {
                    self.mark_deleted(&obj)?;
                    obj.set_cascade_pending(true);
                }
            }
        }
        Ok(())
    }

    /// Mark one object deleted (a pending one is discarded instead).
    fn mark_deleted(&self, obj: &Rc<dyn ErasedObj>) -> Result<()> {
        match obj.status() {
            Status::Pending => {
                let mut state = self.state_mut()?;
                state.pending.remove(obj);
                // Discarded: a later commit or rollback of this session must
                // not touch the links it may get as a transient object.
                state.unnote_rel_dirty(obj);
                drop(state);
                self.unlink_everywhere(obj)?;
                obj.forget_session(Status::Transient);
                Ok(())
            }
            Status::Persistent => {
                obj.set_status(Status::MarkedDeleted);
                self.state_mut()?.deleted.push(obj);
                self.unlink_everywhere(obj)
            }
            _ => Ok(()),
        }
    }

    /// A deleted or discarded object leaves every loaded relationship.
    pub(crate) fn unlink_everywhere(&self, obj: &Rc<dyn ErasedObj>) -> Result<()> {
        let Some(rels) = obj.rels_if_any() else {
            return Ok(());
        };
        let slots: Vec<(Side, Vec<Rc<dyn ErasedObj>>)> = rels
            .borrow()
            .slots
            .iter()
            .map(|s| {
                let items = match &s.value {
                    RelValue::Many(v) => v.to_vec(),
                    RelValue::One(o) => o.iter().cloned().collect(),
                    RelValue::Up(w) => w.as_ref().and_then(Weak::upgrade).into_iter().collect(),
                };
                (s.side, items)
            })
            .collect();
        for (side, items) in slots {
            let partner = side.partner();
            for other in items {
                collection_remove(&other, partner, obj);
                // Links not yet written to it are dropped; removals stay, so
                // the association rows are deleted before it is.
                let Some(rels) = other.rels_if_any() else {
                    continue;
                };
                for slot in &mut rels.borrow_mut().slots {
                    if slot.added().next().is_some() {
                        slot.links_mut().added.remove(obj);
                    }
                }
            }
        }
        Ok(())
    }
}
