//! Relationship changes into flush rows (SQLAlchemy's `dependency.py` and
//! `sync.py`): a reference assigned through a relationship becomes a
//! foreign key *fill* on the child's row (the parent's key, copied at emit
//! time, so a parent inserted earlier in the same flush is seen), and
//! many-to-many link changes become association-table rows. Called only by
//! the flush: [`organize_relationships`](SessionInner::organize_relationships)
//! while organizing, [`relationships_flushed`](SessionInner::relationships_flushed)
//! after success.

use std::rc::Rc;

use rustc_hash::FxHashSet;

use super::{Fill, Link, LinkSide, Op, Row, Rows};
use crate::error::{Error, Result};
use crate::schema::Role;
use crate::session::obj::{ErasedObj, Status};
use crate::session::rel::slots::{RelValue, ptr, values_of};
use crate::session::state::{SessionInner, SessionState};
use crate::types::Value;

impl SessionInner {
    /// Foreign key fills and association rows implied by relationship
    /// changes.
    pub(crate) fn organize_relationships(
        &self,
        state: &mut SessionState,
        rows: &mut Rows,
    ) -> Result<()> {
        // Read from where the last successful flush stopped; once this one
        // succeeds it stops here (`SessionState::rel_flushed`).
        rows.rel_walked = Some((state.rel_dirty.len(), state.rel_removals));
        let unflushed = state.rel_unflushed();
        if unflushed.is_empty() {
            return Ok(());
        }
        // Most objects with relationship changes give one row a fill.
        rows.reserve_extras(unflushed.len());
        let mut seen = FxHashSet::with_capacity_and_hasher(unflushed.len(), Default::default());
        for obj in unflushed.iter().flatten() {
            // Read now: a later change lists it again for the next flush.
            // (Listed twice meanwhile, it is read once: `seen`.)
            obj.set_rel_noted(false);
            let live = matches!(obj.status(), Status::Pending | Status::Persistent);
            if !seen.insert(ptr(obj)) {
                continue;
            }
            if !(live || obj.status() == Status::MarkedDeleted) {
                // Not looked into: whatever links it holds are taken after
                // the flush, as they always were.
                rows.link_changes = true;
                continue;
            }
            let Some(rels) = obj.rels_if_any() else {
                continue;
            };
            let rels = rels.borrow();
            for slot in &rels.slots {
                let side = slot.side;
                rows.link_changes |= slot.has_link_changes();
                if slot.assigned && side.role() == Role::Parent && live {
                    let link = side.def.link()?;
                    let parent = match &slot.value {
                        RelValue::Up(Some(w)) => Some(w.upgrade().ok_or_else(|| {
                            Error::Usage(format!(
                                "{} refers to an object that was dropped before it was added to a session",
                                side.describe()
                            ))
                        })?),
                        _ => None,
                    };
                    let mut after = None;
                    if let Some(p) = &parent {
                        match p.status() {
                            Status::Pending => after = row_of(rows, p),
                            Status::Persistent => {}
                            Status::MarkedDeleted | Status::Deleted => {
                                return Err(Error::Usage(format!(
                                    "{} refers to a {} marked for deletion",
                                    side.describe(),
                                    p.table().model
                                )));
                            }
                            Status::Transient | Status::Detached => {
                                return Err(Error::Usage(format!(
                                    "{} refers to a {} that is not in this session; add it first",
                                    side.describe(),
                                    p.table().model
                                )));
                            }
                        }
                    }
                    let needed = match (&parent, obj.status()) {
                        (_, Status::Pending) => true,
                        (Some(p), _) if p.status() == Status::Pending => true,
                        (Some(p), _) => {
                            values_of(p, &link.parent_columns)?
                                != values_of(obj, &link.child_columns)?
                        }
                        (None, _) => values_of(obj, &link.child_columns)?
                            .iter()
                            .any(|v| *v != Value::Null),
                    };
                    if !needed {
                        continue;
                    }
                    if side.def.post_update {
                        post_update(rows, obj, link, parent, after);
                        continue;
                    }
                    let row = match row_of(rows, obj) {
                        Some(i) => i,
                        None => {
                            rows.push(Row::new(obj, Op::Update));
                            obj.set_flush_row(rows.len() - 1);
                            rows.len() - 1
                        }
                    };
                    rows.add_fill(row, Fill { link, parent });
                    rows.add_after(row, after);
                }
                if side.role() == Role::Links && side.declared && slot.has_link_changes() {
                    let link = side.def.link()?;
                    let Some(sl) = link.secondary.as_ref() else {
                        continue;
                    };
                    let make = |target: &Rc<dyn ErasedObj>| Link {
                        table: sl.table,
                        sides: [
                            LinkSide {
                                link_columns: &sl.owner_columns,
                                obj: Rc::clone(obj),
                                obj_columns: &sl.owner_key,
                            },
                            LinkSide {
                                link_columns: &sl.target_columns,
                                obj: Rc::clone(target),
                                obj_columns: &sl.target_key,
                            },
                        ],
                    };
                    for t in slot.added() {
                        if !live || !matches!(t.status(), Status::Pending | Status::Persistent) {
                            continue;
                        }
                        rows.push(Row::link(true, make(t)));
                        let at = rows.len() - 1;
                        let (own, target) = (row_of(rows, obj), row_of(rows, t));
                        rows.add_after(at, own);
                        rows.add_after(at, target);
                    }
                    for t in slot.removed() {
                        let written = |o: &Rc<dyn ErasedObj>| {
                            matches!(o.status(), Status::Persistent | Status::MarkedDeleted)
                        };
                        if written(obj) && written(t) {
                            rows.push(Row::link(false, make(t)));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// `post_update` foreign keys of the objects being deleted that still
    /// point somewhere: set to NULL by an UPDATE before the DELETEs, so the
    /// rows they point at (perhaps deleted too) can go first.
    pub(crate) fn organize_post_update_deletes(&self, rows: &mut Rows) -> Result<()> {
        if !self.db.inner.registry.has_post_update() {
            return Ok(());
        }
        let n = rows.len();
        for i in 0..n {
            let (Op::Delete, Some(obj)) = (&rows[i].op, &rows[i].obj) else {
                continue;
            };
            let obj = Rc::clone(obj);
            for side in self.db.inner.registry.sides_of(obj.table()) {
                if !(side.def.post_update && side.role() == Role::Parent) {
                    continue;
                }
                let link = side.def.link()?;
                if values_of(&obj, &link.child_columns)?
                    .iter()
                    .all(|v| *v == Value::Null)
                {
                    continue;
                }
                rows.push(Row::new(&obj, Op::PostUpdate));
                rows.add_fill(rows.len() - 1, Fill { link, parent: None });
            }
        }
        Ok(())
    }

    /// After a successful flush: link changes are written; keep them in
    /// the transaction log in case the commit fails and must be redone.
    /// Run only when organizing saw a link change
    /// ([`Rows::link_changes`](super::Rows::link_changes)): otherwise a
    /// walk over every object with relationship changes finds none.
    pub(crate) fn relationships_flushed(state: &mut SessionState) {
        let start = state.flushed_len();
        let txn = state.txn.get_or_insert_with(Default::default);
        for obj in state.rel_dirty.entries_from(start).iter().flatten() {
            let Some(rels) = obj.rels_if_any() else {
                continue;
            };
            for slot in &mut rels.borrow_mut().slots {
                if slot.has_link_changes() {
                    let links = slot.take_links();
                    txn.links.push((
                        Rc::clone(obj),
                        slot.side,
                        links.added.into_vec(),
                        links.removed.into_vec(),
                    ));
                }
            }
        }
    }
}

/// A reference assigned through a `post_update` relationship: a new object
/// is inserted with the foreign key NULL, and a `PostUpdate` row writes it
/// once both rows exist (SQLAlchemy's `post_update=True`), so two rows
/// that point at each other can be inserted in one flush.
fn post_update(
    rows: &mut Rows,
    obj: &Rc<dyn ErasedObj>,
    link: &'static crate::schema::Link,
    parent: Option<Rc<dyn ErasedObj>>,
    after: Option<usize>,
) {
    if obj.status() == Status::Pending
        && let Some(i) = row_of(rows, obj)
    {
        rows.add_fill(i, Fill { link, parent: None });
        if parent.is_none() {
            return;
        }
    }
    rows.push(Row::new(obj, Op::PostUpdate));
    let at = rows.len() - 1;
    rows.add_fill(at, Fill { link, parent });
    rows.add_after(at, after);
    let own = row_of(rows, obj);
    rows.add_after(at, own);
}

/// The INSERT or UPDATE row of `obj` in this flush, if it has one: the row
/// the object was given (`ErasedObj::flush_row`), if that row is its own.
/// (A big flush looked each object up in a map from address to row: a
/// large table probed at random.) A row number left from an earlier flush
/// finds another object's row, or none, and counts as none.
fn row_of(rows: &Rows, obj: &Rc<dyn ErasedObj>) -> Option<usize> {
    let i = obj.flush_row();
    let r = rows.get(i)?;
    let own = r.obj.as_ref().is_some_and(|o| ptr(o) == ptr(obj));
    (own && matches!(r.op, Op::Insert | Op::Update)).then_some(i)
}
