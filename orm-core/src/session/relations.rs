//! Relationships inside the session: per-object slots, loading (lazy and
//! eager share one path), keeping both ends in sync in memory, and
//! cascades. Turning assignments into foreign key values and association
//! rows at flush is the flush's `dependency` step.
//!
//! Every object has a list of slots, one per relationship end it has seen.
//! A collection holds its related objects strongly; a child's reference to
//! its parent is weak, so a parent and its children never keep each other
//! alive. Closing or dropping the session clears every slot.

use std::ops::ControlFlow;
use std::rc::{Rc, Weak};

use rustc_hash::{FxHashMap, FxHashSet};

use super::SessionInner;
use super::key::{Key, into_key, key_of};
use super::obj::{ErasedObj, Status};
use crate::error::{Error, Result};
use crate::schema::{LinkTable, Role, Side, TableDef};
use crate::sql::ast::{Expr, Join, JoinKind, Select, Statement, TableRef};
use crate::sql::writer;
use crate::types::Value;

/// Parent keys per IN list in eager loading (SQLAlchemy's selectin size).
const IN_CHUNK: usize = 500;

/// What one end of a relationship holds for one object.
pub(crate) enum RelValue {
    Many(Vec<Rc<dyn ErasedObj>>),
    One(Option<Rc<dyn ErasedObj>>),
    Up(Option<Weak<dyn ErasedObj>>),
}

pub(crate) struct RelSlot {
    pub side: Side,
    /// Whether `value` is complete (loaded, or known because the owner is new).
    pub loaded: bool,
    pub value: RelValue,
    /// For a reference to a parent: set through the relationship, so the
    /// flush writes the foreign key from the referenced object.
    pub assigned: bool,
    /// For the declaring end of a many-to-many: links to insert and delete.
    pub added: Vec<Rc<dyn ErasedObj>>,
    pub removed: Vec<Rc<dyn ErasedObj>>,
}

/// The relationship slots of one object (usually none or a few).
#[derive(Default)]
pub(crate) struct RelSlots {
    pub slots: Vec<RelSlot>,
}

/// One change a deletion makes, planned before any is made.
pub(crate) enum DeleteStep {
    /// Clear `child`'s reference (this end) to a deleted parent.
    Orphan(Rc<dyn ErasedObj>, Side),
    /// Remove the many-to-many link between an object and a target.
    Unlink(Rc<dyn ErasedObj>, Side, Rc<dyn ErasedObj>),
    /// Mark the object deleted (discard it when pending).
    Delete(Rc<dyn ErasedObj>),
}

/// Free the objects outside any session that only keep each other alive.
///
/// Collections hold their objects strongly, so two new objects linked
/// many-to-many (or a longer loop) form a reference cycle. A session breaks
/// the cycles of its objects when it closes; for objects in no session this
/// runs when a handle to one of them is dropped (`held` counts the
/// caller's references to `start`, besides `start` itself). It counts, for
/// every object reachable from `start` through strong references, the
/// references coming from inside that group: an object with more
/// references than that is held from outside, and so is everything it
/// reaches. The rest is unreachable: its slots are cleared, which frees it.
pub(crate) fn collect_cycles(start: Rc<dyn ErasedObj>, held: usize) {
    let outside_session =
        |o: &Rc<dyn ErasedObj>| matches!(o.status(), Status::Transient | Status::Detached);
    let mut nodes: Vec<Rc<dyn ErasedObj>> = vec![start];
    let mut index: FxHashMap<*const (), usize> = FxHashMap::default();
    index.insert(ptr(&nodes[0]), 0);
    let mut edges: Vec<Vec<usize>> = Vec::new();
    let mut inside: Vec<usize> = vec![0];
    let mut next = 0;
    while next < nodes.len() {
        let node = Rc::clone(&nodes[next]);
        // Borrowed further up the stack: leave it to a later drop.
        let Ok(rels) = node.rels().try_borrow() else {
            return;
        };
        let mut out = Vec::new();
        for target in rels.strong_refs().filter(|t| outside_session(t)) {
            let i = *index.entry(ptr(target)).or_insert_with(|| {
                nodes.push(Rc::clone(target));
                inside.push(0);
                nodes.len() - 1
            });
            inside[i] += 1;
            out.push(i);
        }
        edges.push(out);
        next += 1;
    }
    // References from outside: the count less those from inside the group,
    // less the clone in `nodes` (and the caller's, for `start`).
    let mut live: Vec<bool> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| Rc::strong_count(n) > inside[i] + 1 + if i == 0 { held } else { 0 })
        .collect();
    let mut stack: Vec<usize> = (0..nodes.len()).filter(|&i| live[i]).collect();
    while let Some(i) = stack.pop() {
        for &j in &edges[i] {
            if !live[j] {
                live[j] = true;
                stack.push(j);
            }
        }
    }
    for (i, node) in nodes.iter().enumerate() {
        if !live[i] {
            // Take the slots out first: dropping them drops other objects.
            let slots = node
                .rels()
                .try_borrow_mut()
                .map(|mut r| std::mem::take(&mut *r));
            drop(slots);
        }
    }
}

pub(crate) fn ptr(o: &Rc<dyn ErasedObj>) -> *const () {
    Rc::as_ptr(o) as *const ()
}

fn same(a: &Rc<dyn ErasedObj>, b: &Rc<dyn ErasedObj>) -> bool {
    ptr(a) == ptr(b)
}

fn empty_value(side: Side) -> RelValue {
    match side.role() {
        Role::Children { single: true } => RelValue::One(None),
        Role::Parent => RelValue::Up(None),
        _ => RelValue::Many(Vec::new()),
    }
}

impl RelSlots {
    pub fn clear(&mut self) {
        self.slots.clear();
    }

    /// Every object these slots hold strongly, once per reference.
    fn strong_refs(&self) -> impl Iterator<Item = &Rc<dyn ErasedObj>> {
        self.slots.iter().flat_map(|s| {
            let held: &[Rc<dyn ErasedObj>] = match &s.value {
                RelValue::Many(v) => v,
                RelValue::One(o) => o.as_slice(),
                RelValue::Up(_) => &[],
            };
            held.iter().chain(&s.added).chain(&s.removed)
        })
    }

    pub fn holds_strong_refs(&self) -> bool {
        self.strong_refs().next().is_some()
    }

    /// Forget loaded relationships, keeping unflushed assignments and link
    /// changes (an expired object reloads its relationships on access).
    /// Returns the parents it knew (with their end of the relationship):
    /// their loaded collections hold this object and must be forgotten too,
    /// or a new parent given while the old one is unknown would leave it
    /// in the old collection.
    pub fn drop_loaded(&mut self) -> Vec<(Rc<dyn ErasedObj>, Side)> {
        let parents = self
            .slots
            .iter()
            .filter(|s| !s.assigned && s.loaded)
            .filter_map(|s| match &s.value {
                RelValue::Up(Some(w)) => w.upgrade().map(|p| (p, s.side.partner())),
                _ => None,
            })
            .collect();
        self.slots
            .retain(|s| s.assigned || !s.added.is_empty() || !s.removed.is_empty());
        for s in &mut self.slots {
            if !s.assigned {
                s.loaded = false;
                s.value = empty_value(s.side);
            }
        }
        parents
    }

    /// Forget the loaded collection at `side` (it reloads on access),
    /// unless it has changes that are not flushed.
    pub fn unload(&mut self, side: Side) {
        let key = side.key();
        self.slots.retain(|s| {
            s.side.key() != key || s.assigned || !s.added.is_empty() || !s.removed.is_empty()
        });
    }

    /// After a commit, assignments have become foreign key values.
    pub fn committed(&mut self) {
        for slot in &mut self.slots {
            slot.assigned = false;
        }
    }

    fn find(&self, side: Side) -> Option<&RelSlot> {
        let key = side.key();
        self.slots.iter().find(|s| s.side.key() == key)
    }

    /// The slot for `side`, created empty and not loaded if missing.
    fn slot(&mut self, side: Side) -> &mut RelSlot {
        let key = side.key();
        match self.slots.iter().position(|s| s.side.key() == key) {
            Some(i) => &mut self.slots[i],
            None => {
                // Most objects see one or two relationship ends: grow from
                // one slot instead of the default four.
                self.slots.reserve_exact(1);
                self.slots.push(RelSlot {
                    side,
                    loaded: false,
                    value: empty_value(side),
                    assigned: false,
                    added: Vec::new(),
                    removed: Vec::new(),
                });
                let last = self.slots.len() - 1;
                &mut self.slots[last]
            }
        }
    }

    /// Visit every object [`related`](Self::related) would return, in the
    /// same order, until `f` breaks.
    fn visit_related<B>(
        &self,
        mut f: impl FnMut(&Rc<dyn ErasedObj>) -> ControlFlow<B>,
    ) -> ControlFlow<B> {
        for s in &self.slots {
            match &s.value {
                RelValue::Many(v) => v.iter().try_for_each(&mut f)?,
                RelValue::One(o) => o.iter().try_for_each(&mut f)?,
                RelValue::Up(w) => {
                    if let Some(p) = w.as_ref().and_then(Weak::upgrade) {
                        f(&p)?;
                    }
                }
            }
            s.added.iter().try_for_each(&mut f)?;
        }
        ControlFlow::Continue(())
    }

    /// Every object this one holds through a relationship.
    pub fn related(&self) -> Vec<Rc<dyn ErasedObj>> {
        let mut out = Vec::new();
        for s in &self.slots {
            match &s.value {
                RelValue::Many(v) => out.extend(v.iter().cloned()),
                RelValue::One(o) => out.extend(o.iter().cloned()),
                RelValue::Up(w) => out.extend(w.as_ref().and_then(Weak::upgrade)),
            }
            out.extend(s.added.iter().cloned());
        }
        out
    }

    fn has_pending_changes(&self) -> bool {
        self.slots
            .iter()
            .any(|s| s.assigned || !s.added.is_empty() || !s.removed.is_empty())
    }
}

/// The related objects of a loaded slot, or `None` if not loaded.
pub(crate) fn loaded_items(obj: &Rc<dyn ErasedObj>, side: Side) -> Option<Vec<Rc<dyn ErasedObj>>> {
    let rels = obj.rels().borrow();
    let slot = rels.find(side)?;
    match &slot.value {
        _ if !slot.loaded && !slot.assigned => None,
        RelValue::Many(v) => Some(v.clone()),
        RelValue::One(o) => Some(o.iter().cloned().collect()),
        RelValue::Up(None) => Some(Vec::new()),
        // A parent nobody holds any more: load it again.
        RelValue::Up(Some(w)) => w.upgrade().map(|p| vec![p]),
    }
}

/// Record a parent found by a joined load, unless one was assigned in memory.
pub(crate) fn set_loaded_parent(
    child: &Rc<dyn ErasedObj>,
    side: Side,
    parent: Option<&Rc<dyn ErasedObj>>,
) {
    let mut rels = child.rels().borrow_mut();
    let slot = rels.slot(side);
    if !slot.assigned {
        slot.value = RelValue::Up(parent.map(Rc::downgrade));
        slot.loaded = true;
    }
}

fn set_value(obj: &Rc<dyn ErasedObj>, side: Side, value: RelValue, assigned: bool) {
    let mut rels = obj.rels().borrow_mut();
    let slot = rels.slot(side);
    slot.value = value;
    slot.loaded = true;
    slot.assigned = slot.assigned || assigned;
}

/// Add `item` to a loaded collection (or set a single child) of `owner`.
fn collection_add(owner: &Rc<dyn ErasedObj>, side: Side, item: &Rc<dyn ErasedObj>) {
    let mut rels = owner.rels().borrow_mut();
    let slot = rels.slot(side);
    if !slot.loaded && owner.status() != Status::Pending && owner.status() != Status::Transient {
        return;
    }
    slot.loaded = true;
    match &mut slot.value {
        RelValue::Many(v) => {
            if !v.iter().any(|x| same(x, item)) {
                v.push(Rc::clone(item));
            }
        }
        RelValue::One(o) => *o = Some(Rc::clone(item)),
        RelValue::Up(_) => {}
    }
}

/// Remove `item` from a collection (or single child) of `owner`, if loaded.
fn collection_remove(owner: &Rc<dyn ErasedObj>, side: Side, item: &Rc<dyn ErasedObj>) {
    let mut rels = owner.rels().borrow_mut();
    let key = side.key();
    if let Some(slot) = rels.slots.iter_mut().find(|s| s.side.key() == key) {
        match &mut slot.value {
            RelValue::Many(v) => v.retain(|x| !same(x, item)),
            RelValue::One(o) if o.as_ref().is_some_and(|x| same(x, item)) => *o = None,
            _ => {}
        }
    }
}

/// The parent a child's slot points at (`None` also when unknown).
/// Whether `child` was given a parent other than `owner` through `side`
/// (its reference to the parent) and that is not flushed yet.
fn given_another_parent(child: &Rc<dyn ErasedObj>, side: Side, owner: &Rc<dyn ErasedObj>) -> bool {
    let rels = child.rels().borrow();
    match rels.find(side) {
        Some(s) if s.assigned => !matches!(
            &s.value,
            RelValue::Up(Some(w)) if w.upgrade().is_some_and(|p| same(&p, owner))
        ),
        _ => false,
    }
}

fn parent_of(child: &Rc<dyn ErasedObj>, side: Side) -> Option<Rc<dyn ErasedObj>> {
    let rels = child.rels().borrow();
    match &rels.find(side)?.value {
        RelValue::Up(Some(w)) => w.upgrade(),
        _ => None,
    }
}

pub(crate) fn values_of(obj: &Rc<dyn ErasedObj>, columns: &[usize]) -> Result<Vec<Value>> {
    columns.iter().map(|&c| obj.column_value(c)).collect()
}

/// The hashable key of `obj`'s `columns` (no vector for a single column).
fn key_at(obj: &Rc<dyn ErasedObj>, columns: &[usize]) -> Result<Key> {
    match columns {
        [c] => Ok(key_of(std::slice::from_ref(&obj.column_value(*c)?))),
        _ => Ok(into_key(values_of(obj, columns)?)),
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
        let slot = rels.slot(decl);
        let (changes, opposite) = if added {
            (&mut slot.added, &mut slot.removed)
        } else {
            (&mut slot.removed, &mut slot.added)
        };
        let before = opposite.len();
        opposite.retain(|x| !same(x, target));
        if opposite.len() == before && !changes.iter().any(|x| same(x, target)) {
            changes.push(Rc::clone(target));
        }
    }
    note(session, decl_owner)
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
    /// Load `side` for every owner that has not loaded it; return the related
    /// objects of all owners (for nested eager loading).
    pub(crate) fn load_side(
        &self,
        side: Side,
        owners: &[Rc<dyn ErasedObj>],
    ) -> Result<Vec<Rc<dyn ErasedObj>>> {
        let link = side.def.link()?;
        let mut result: Vec<Rc<dyn ErasedObj>> = Vec::new();
        // Owners to load, each with its group: the index of its key among
        // the distinct keys (owners may share a key: many children, one parent).
        let mut to_load: Vec<(Rc<dyn ErasedObj>, usize)> = Vec::with_capacity(owners.len());
        let mut no_rows: Vec<Rc<dyn ErasedObj>> = Vec::new();
        // The distinct keys to load, their values one after the other
        // (`width` per key), for the IN lists.
        let mut keys: Vec<Value> = Vec::new();
        let mut width = 1;
        let mut distinct: FxHashMap<Key, usize> = FxHashMap::default();
        let mut seen = FxHashSet::default();
        let other = side.other();
        // A reference found by the referenced table's primary key can be
        // looked up in the identity map.
        let by_parent_key = link.parent_columns.as_slice() == other.primary_key;
        for owner in owners {
            if !seen.insert(ptr(owner)) {
                continue;
            }
            if let Some(mut items) = loaded_items(owner, side) {
                if let Role::Children { .. } = side.role() {
                    // A child given another parent since the collection was
                    // loaded (its old parent unknown then) is not in it.
                    items.retain(|c| !given_another_parent(c, side.partner(), owner));
                }
                result.extend(items);
                continue;
            }
            let owner_key = link.owner_key(side)?;
            width = owner_key.len();
            let start = keys.len();
            for &c in owner_key {
                keys.push(owner.column_value(c)?);
            }
            let new_owner = matches!(owner.status(), Status::Pending | Status::Transient);
            if side.role() == Role::Parent && keys[start..].contains(&Value::Null) {
                keys.truncate(start);
                set_value(owner, side, empty_value(side), false);
                continue;
            }
            if side.role() == Role::Parent && by_parent_key {
                // The identity map first, as SQLAlchemy does: a parent the
                // session holds needs no SELECT.
                let found = (other.__ops.lookup)(&mut *self.state_mut()?, &keys[start..]);
                if let Some(parent) = found {
                    keys.truncate(start);
                    if parent.status() == Status::Deleted {
                        // Deleted in this transaction: no row to find.
                        set_value(owner, side, empty_value(side), false);
                    } else {
                        let up = RelValue::Up(Some(Rc::downgrade(&parent)));
                        set_value(owner, side, up, false);
                        result.push(parent);
                    }
                    continue;
                }
            }
            if new_owner && side.role() != Role::Parent {
                // No rows can point at it yet; only in-memory assignments.
                keys.truncate(start);
                no_rows.push(Rc::clone(owner));
                continue;
            }
            let groups = distinct.len();
            let group = *distinct.entry(key_of(&keys[start..])).or_insert(groups);
            if group < groups {
                // Another owner has the same key: it is in the list already.
                keys.truncate(start);
            }
            to_load.push((Rc::clone(owner), group));
        }
        if to_load.is_empty() && no_rows.is_empty() {
            return Ok(result);
        }
        // The related objects found, with their owners' group.
        let mut found: Vec<(usize, Rc<dyn ErasedObj>)> = Vec::new();
        let mut add = |key: Key, obj: Rc<dyn ErasedObj>| {
            if let Some(&group) = distinct.get(&key) {
                found.push((group, obj));
            }
        };
        for chunk in keys.chunks(IN_CHUNK * width) {
            match side.role() {
                Role::Children { .. } | Role::Parent => {
                    // Children are found by their foreign key, a parent by
                    // the key it is referenced by.
                    let (_, columns) = link.key_columns(side)?;
                    let mut select = Select::new(TableRef::new(other.name));
                    select.columns = crate::schema::statements::select_columns(other, other.name);
                    select.filter = Some(link.key_condition(side, other.name, chunk));
                    let w = writer::write(&Statement::Select(select), self.dialect())?;
                    (other.__ops.load)(self, &w.sql, &w.params, 0, &mut |found, _| {
                        add(key_at(&found, columns)?, found);
                        Ok(())
                    })?;
                }
                Role::Links => {
                    let Some(sl) = link.secondary.as_ref() else {
                        continue;
                    };
                    let assoc = sl.table;
                    let (_, own_cols) = link.key_columns(side)?;
                    let mut select = Select::new(TableRef::new(other.name));
                    select.columns = crate::schema::statements::select_columns(other, other.name);
                    select.columns.extend(
                        own_cols
                            .iter()
                            .map(|&c| Expr::column(assoc.name, assoc.columns[c].name)),
                    );
                    select.joins.push(Join {
                        kind: JoinKind::Inner,
                        table: TableRef::new(assoc.name),
                        on: link.join_on(
                            side,
                            LinkTable::Assoc.named(assoc.name),
                            LinkTable::Other.named(other.name),
                        ),
                    });
                    select.filter = Some(link.key_condition(side, assoc.name, chunk));
                    let w = writer::write(&Statement::Select(select), self.dialect())?;
                    let extra = own_cols.len();
                    (other.__ops.load)(self, &w.sql, &w.params, extra, &mut |target, key| {
                        add(key_of(key), target);
                        Ok(())
                    })?;
                }
            }
        }
        // Each group's objects together, in the order their rows came (the
        // sort is stable), and where each group's run is.
        found.sort_by_key(|&(group, _)| group);
        let mut runs = vec![0..0; distinct.len()];
        let mut start = 0;
        for run in found.chunk_by(|a, b| a.0 == b.0) {
            runs[run[0].0] = start..start + run.len();
            start += run.len();
        }
        result.reserve(found.len());
        let partner = side.partner();
        // Children given a parent in memory but not flushed yet: the loaded
        // collections follow the assignments, not only the database.
        let assigned: Vec<Rc<dyn ErasedObj>> = match side.role() {
            Role::Children { .. } => {
                let dirty = self.state_mut()?.rel_dirty.clone();
                let mut seen = FxHashSet::default();
                dirty
                    .into_iter()
                    .filter(|c| seen.insert(ptr(c)))
                    .filter(|c| {
                        c.rels().borrow().find(partner).is_some_and(|s| s.assigned)
                            && !matches!(c.status(), Status::MarkedDeleted | Status::Deleted)
                    })
                    .collect()
            }
            _ => Vec::new(),
        };
        let owners_to_fill = to_load
            .into_iter()
            .map(|(o, group)| (o, Some(group)))
            .chain(no_rows.into_iter().map(|o| (o, None)));
        for (owner, group) in owners_to_fill {
            let mut items: Vec<Rc<dyn ErasedObj>> = match group {
                Some(g) => found[runs[g].clone()]
                    .iter()
                    .map(|(_, o)| Rc::clone(o))
                    .collect(),
                None => Vec::new(),
            };
            if !assigned.is_empty() {
                items.retain(|c| !given_another_parent(c, partner, &owner));
                for c in &assigned {
                    if parent_of(c, partner).is_some_and(|p| same(&p, &owner))
                        && !items.iter().any(|x| same(x, c))
                    {
                        items.push(Rc::clone(c));
                    }
                }
            }
            if let Role::Children { .. } = side.role() {
                // The children now know their parent, unless they were given
                // another one in memory.
                for child in &items {
                    let mut rels = child.rels().borrow_mut();
                    let slot = rels.slot(partner);
                    if !slot.assigned {
                        slot.value = RelValue::Up(Some(Rc::downgrade(&owner)));
                        slot.loaded = true;
                    }
                }
            }
            result.extend(items.iter().cloned());
            let value = match side.role() {
                Role::Children { single: false } | Role::Links => RelValue::Many(items),
                Role::Children { single: true } => RelValue::One(items.into_iter().next()),
                Role::Parent => RelValue::Up(items.first().map(Rc::downgrade)),
            };
            set_value(&owner, side, value, false);
        }
        Ok(result)
    }

    pub(crate) fn note_rel_dirty(&self, obj: &Rc<dyn ErasedObj>) -> Result<()> {
        if obj
            .session_ptr()
            .is_some_and(|s| std::ptr::eq(Rc::as_ptr(&s), self))
        {
            self.state_mut()?.note_rel_dirty(obj);
        }
        Ok(())
    }

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
        if let (Some(o), Some(p)) = (&old, parent)
            && same(o, p)
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
        // Change the relationship first, then cascade: only what is related
        // after the change joins the session.
        Self::append_in_memory(session, owner, side, item)?;
        if let Some(s) = session {
            s.cascade_into(owner)?;
            s.cascade_into(item)?;
        }
        Ok(())
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
                            steps.push(DeleteStep::Orphan(item, side.partner()));
                        } else if matches!(item.status(), Status::Persistent | Status::Pending) {
                            deleting.insert(ptr(&item));
                            let next = frame(&item);
                            stack.push(next);
                        }
                    }
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
                    RelValue::Many(v) => v.clone(),
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
                    slot.added.retain(|x| !same(x, obj));
                }
            }
        }
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
}
