//! Cascades: `save-update` (objects reachable from one added to the session
//! join it, and their relationship changes are noted) and `delete` (plan
//! every change a deletion makes, loading what it needs, then apply it:
//! children deleted first or orphaned, association rows removed). Both
//! walks keep their own stacks, as deep as the user's data. Called by
//! `Session::add` and `Session::delete`, by the typed relationship API when
//! it links objects, and by `delete-orphan` removal.

use std::ops::ControlFlow;
use std::rc::{Rc, Weak};

use rustc_hash::FxHashSet;

use super::slots::{RelValue, ptr, same};
use super::sync::collection_remove;
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
            } else if r.rels().borrow().has_pending_changes() {
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
        let has_changes = |r: &Rc<dyn ErasedObj>| r.rels().borrow().has_pending_changes();
        let (related, changes) = {
            let rels = obj.rels().borrow();
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
                let noted = rels.visit_related(|r| match has_changes(r) {
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
    /// lose their reference, association rows go. Loads the relationships
    /// it needs and changes nothing else, so a failed load leaves every
    /// object as it was.
    ///
    /// The walk keeps its own stack of objects being deleted: a cascade
    /// runs as deep as the user's data (a long self-referential chain).
    pub(crate) fn plan_delete(&self, obj: &Rc<dyn ErasedObj>) -> Result<Vec<DeleteStep>> {
        struct Frame {
            obj: Rc<dyn ErasedObj>,
            sides: std::vec::IntoIter<Side>,
            side: Option<Side>,
            items: std::vec::IntoIter<Rc<dyn ErasedObj>>,
        }
        let frame = |obj: &Rc<dyn ErasedObj>| Frame {
            obj: Rc::clone(obj),
            sides: sides_for(self, obj.table())
                .into_iter()
                .filter(|s| std::ptr::eq(s.owner(), obj.table()))
                .collect::<Vec<_>>()
                .into_iter(),
            side: None,
            items: Vec::new().into_iter(),
        };
        let mut steps = Vec::new();
        // Objects this deletion deletes: a cycle in the graph ends at them.
        let mut deleting = FxHashSet::default();
        deleting.insert(ptr(obj));
        let mut stack = vec![frame(obj)];
        while let Some(top) = stack.last_mut() {
            if let (Some(side), Some(item)) = (top.side, top.items.next()) {
                match side.role() {
                    Role::Children { .. } => {
                        let gone = matches!(item.status(), Status::MarkedDeleted | Status::Deleted);
                        if gone || deleting.contains(&ptr(&item)) {
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
            if let Some(side) = top.sides.next() {
                let items = self.load_side(side, std::slice::from_ref(&top.obj))?;
                top.side = Some(side);
                top.items = items.into_iter();
                continue;
            }
            if let Some(done) = stack.pop() {
                steps.push(DeleteStep::Delete(done.obj));
            }
        }
        Ok(steps)
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
            }
        }
        Ok(())
    }

    /// Mark one object deleted (a pending one is discarded instead).
    fn mark_deleted(&self, obj: &Rc<dyn ErasedObj>) -> Result<()> {
        match obj.status() {
            Status::Pending => {
                let mut state = self.state_mut()?;
                let p = ptr(obj);
                state.pending.retain(|o| ptr(o) != p);
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
                self.state_mut()?.deleted.push(Rc::clone(obj));
                self.unlink_everywhere(obj)
            }
            _ => Ok(()),
        }
    }

    /// A deleted or discarded object leaves every loaded relationship.
    pub(crate) fn unlink_everywhere(&self, obj: &Rc<dyn ErasedObj>) -> Result<()> {
        let slots: Vec<(Side, Vec<Rc<dyn ErasedObj>>)> = obj
            .rels()
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
                let mut rels = other.rels().borrow_mut();
                for slot in &mut rels.slots {
                    if !slot.added().is_empty() {
                        slot.links_mut().added.retain(|x| !same(x, obj));
                    }
                }
            }
        }
        Ok(())
    }
}
