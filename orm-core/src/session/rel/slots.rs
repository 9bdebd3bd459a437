//! Relationship slots: what one object holds for each relationship end it
//! has seen (loaded related objects, assignments, many-to-many link
//! changes), the small helpers every relationship job shares, and freeing
//! objects outside any session that only keep each other alive. Read and
//! written by the other `rel` files, by the flush (`dependency` reads the
//! slots, the transaction log restores link changes), by `Obj`'s `Drop`
//! (cycle collection) and by the typed relationship API (`loaded_items`).
//!
//! Every object has a list of slots, one per relationship end it has seen.
//! A collection holds its related objects strongly; a child's reference to
//! its parent is weak, so a parent and its children never keep each other
//! alive. Closing or dropping the session clears every slot.

use std::cell::Cell;
use std::ops::ControlFlow;
use std::rc::{Rc, Weak};

use rustc_hash::FxHashMap;

use crate::error::Result;
use crate::schema::{Role, Side};
use crate::session::few::Few;
use crate::session::obj::{ErasedObj, Status};
use crate::types::Value;

thread_local! {
    /// How many times this thread asked for a relationship slot to write
    /// (to load, assign, add or take out related objects). Objects never
    /// leave their thread, so a savepoint that finds this unchanged when it
    /// is rolled back knows no slot was written since it was opened, in
    /// its session or any other.
    static SLOT_WRITES: Cell<u64> = const { Cell::new(0) };
}

/// See [`SLOT_WRITES`].
pub(crate) fn slot_writes() -> u64 {
    SLOT_WRITES.with(Cell::get)
}

fn count_slot_write() {
    SLOT_WRITES.with(|n| n.set(n.get().wrapping_add(1)));
}

/// A loaded collection: its objects in order and, once it holds more than
/// a few, an index by address, so adding an object to a collection of N,
/// or taking one out, costs O(1) rather than a scan of N (one parent with
/// 100,000 new children was quadratic, and so was deleting the children
/// of one loaded parent one by one).
#[derive(Default, Clone)]
pub(crate) struct Members {
    /// In order. An object taken out of an indexed collection leaves a
    /// hole (`None`) rather than moving every later one; the holes go once
    /// they are half the list.
    items: Vec<Option<Rc<dyn ErasedObj>>>,
    /// Built when a duplicate check or a removal first needs it on a
    /// collection of at least `INDEXED_FROM` members, then kept in step by
    /// every change (all go through these methods). Boxed: most collections
    /// never have one, and every slot is smaller for it.
    index: Option<Box<MemberIndex>>,
}

/// Where each object of an indexed collection is in its list.
#[derive(Default, Clone)]
struct MemberIndex {
    at: FxHashMap<*const (), usize>,
    holes: usize,
}

impl Members {
    const INDEXED_FROM: usize = 16;

    /// The objects, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Rc<dyn ErasedObj>> {
        self.items.iter().flatten()
    }

    pub fn is_empty(&self) -> bool {
        self.items.len() == self.index.as_ref().map_or(0, |i| i.holes)
    }

    pub fn to_vec(&self) -> Vec<Rc<dyn ErasedObj>> {
        self.iter().cloned().collect()
    }

    /// Add `item` at the end unless it is there already.
    pub fn insert(&mut self, item: &Rc<dyn ErasedObj>) {
        let key = ptr(item);
        let at = self.items.len();
        let added = match self.indexed() {
            Some(index) => index_new(&mut index.at, key, at),
            None => !self.iter().any(|x| ptr(x) == key),
        };
        if added {
            self.items.push(Some(Rc::clone(item)));
        }
    }

    /// Add `item` at the end, known not to be in this collection (the
    /// caller counted its references, `sync::append_new_child`): no
    /// duplicate check, so no index is built for it. One parent given
    /// 100,000 new children kept an index of about 2.4 MB, larger than a
    /// 2 MB L2 cache, which every append wrote at a random place.
    pub fn push_new(&mut self, item: &Rc<dyn ErasedObj>) {
        if let Some(index) = self.index.as_deref_mut() {
            index.at.insert(ptr(item), self.items.len());
        }
        self.items.push(Some(Rc::clone(item)));
    }

    /// Take `item` out; whether it was there.
    pub fn remove(&mut self, item: &Rc<dyn ErasedObj>) -> bool {
        let key = ptr(item);
        let Some(index) = self.indexed() else {
            let before = self.items.len();
            self.items
                .retain(|x| x.as_ref().is_some_and(|x| ptr(x) != key));
            return self.items.len() != before;
        };
        let Some(at) = index.at.remove(&key) else {
            return false;
        };
        index.holes += 1;
        let compact = index.holes >= Self::INDEXED_FROM && index.holes * 2 >= self.items.len();
        // Dropped after the list is consistent again: an object's `Drop`
        // may run user code.
        let gone = self.items.get_mut(at).and_then(Option::take);
        if compact {
            self.compact();
        }
        drop(gone);
        true
    }

    /// Add each of `items` at the end, unless it is there already.
    pub fn extend(&mut self, items: Vec<Rc<dyn ErasedObj>>) {
        for item in &items {
            self.insert(item);
        }
    }

    /// The objects in order, the list consumed.
    pub fn into_vec(self) -> Vec<Rc<dyn ErasedObj>> {
        self.items.into_iter().flatten().collect()
    }

    /// The index, built first when the collection has grown past
    /// `INDEXED_FROM` (a loaded collection starts without one); `None`
    /// while it is small.
    fn indexed(&mut self) -> Option<&mut MemberIndex> {
        if self.index.is_none() && self.items.len() >= Self::INDEXED_FROM {
            let mut index = MemberIndex::default();
            index.reindex(&self.items);
            self.index = Some(Box::new(index));
        }
        self.index.as_deref_mut()
    }

    /// Close the holes and index the objects where they are now.
    fn compact(&mut self) {
        self.items.retain(Option::is_some);
        if let Some(index) = &mut self.index {
            index.reindex(&self.items);
        }
    }

    /// Reorder without changing the members.
    pub fn sort_by_key<K: Ord>(&mut self, key: impl FnMut(&Rc<dyn ErasedObj>) -> K) {
        let mut all: Vec<Rc<dyn ErasedObj>> = std::mem::take(&mut self.items)
            .into_iter()
            .flatten()
            .collect();
        all.sort_by_key(key);
        self.items = all.into_iter().map(Some).collect();
        self.compact();
    }
}

impl MemberIndex {
    /// Forget what it held and index `items` where they are (no holes
    /// counted: the caller has closed them, or there were none).
    fn reindex(&mut self, items: &[Option<Rc<dyn ErasedObj>>]) {
        self.holes = 0;
        self.at.clear();
        self.at.reserve(items.len() + 1);
        for (i, o) in items.iter().enumerate() {
            if let Some(o) = o {
                self.at.insert(ptr(o), i);
            }
        }
    }
}

/// Record `key` at `at` unless it is there already; whether it was not.
fn index_new(at_of: &mut FxHashMap<*const (), usize>, key: *const (), at: usize) -> bool {
    match at_of.entry(key) {
        std::collections::hash_map::Entry::Occupied(_) => false,
        std::collections::hash_map::Entry::Vacant(v) => {
            v.insert(at);
            true
        }
    }
}

impl From<Vec<Rc<dyn ErasedObj>>> for Members {
    /// A loaded collection (rows have distinct keys, so objects are
    /// distinct).
    fn from(items: Vec<Rc<dyn ErasedObj>>) -> Self {
        if items.is_empty() {
            // Most owners of a selectin load (no iteration machinery).
            return Members::default();
        }
        Members {
            // Collected in place: the two element types have one layout.
            items: items.into_iter().map(Some).collect(),
            index: None,
        }
    }
}

/// What one end of a relationship holds for one object.
#[derive(Clone)]
pub(crate) enum RelValue {
    Many(Members),
    One(Option<Rc<dyn ErasedObj>>),
    Up(Option<Weak<dyn ErasedObj>>),
}

#[derive(Clone)]
pub(crate) struct RelSlot {
    pub side: Side,
    /// Whether `value` is complete (loaded, or known because the owner is new).
    pub loaded: bool,
    pub value: RelValue,
    /// For a reference to a parent: set through the relationship, so the
    /// flush writes the foreign key from the referenced object.
    pub assigned: bool,
    /// For the declaring end of a many-to-many: links to insert and delete
    /// (boxed: only such ends ever have them, and a slot stays small).
    links: Option<Box<LinkChanges>>,
}

/// Many-to-many links added and removed in memory, not yet flushed (each
/// a list with an index once it grows, as a collection: one owner given
/// many links does not scan the ones it has per link).
#[derive(Clone, Default)]
pub(crate) struct LinkChanges {
    pub added: Members,
    pub removed: Members,
}

impl RelSlot {
    fn new(side: Side, value: RelValue, loaded: bool) -> RelSlot {
        RelSlot {
            side,
            loaded,
            value,
            assigned: false,
            links: None,
        }
    }

    /// Links to insert at the next flush.
    pub fn added(&self) -> impl Iterator<Item = &Rc<dyn ErasedObj>> {
        self.links.iter().flat_map(|l| l.added.iter())
    }

    /// Links to delete at the next flush.
    pub fn removed(&self) -> impl Iterator<Item = &Rc<dyn ErasedObj>> {
        self.links.iter().flat_map(|l| l.removed.iter())
    }

    /// Whether links were added or removed since the last flush.
    pub fn has_link_changes(&self) -> bool {
        self.links
            .as_ref()
            .is_some_and(|l| !l.added.is_empty() || !l.removed.is_empty())
    }

    /// The link changes, to change them.
    pub fn links_mut(&mut self) -> &mut LinkChanges {
        self.links.get_or_insert_with(Default::default)
    }

    /// Take the link changes out (written by a flush).
    pub fn take_links(&mut self) -> LinkChanges {
        self.links.take().map(|l| *l).unwrap_or_default()
    }
}

/// An object's slots: none, one held inline (most objects that have any
/// see one relationship end, and a selectin load of many owners then
/// allocates nothing per owner), or a list.
pub(crate) type SlotList = Few<RelSlot>;

/// The relationship slots of one object (usually none or a few).
#[derive(Default, Clone)]
pub(crate) struct RelSlots {
    pub slots: SlotList,
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
        let mut out = Vec::new();
        // An object with no slots holds nobody.
        if let Some(cell) = node.rels_if_any() {
            // Borrowed further up the stack: leave it to a later drop.
            let Ok(rels) = cell.try_borrow() else {
                return;
            };
            for target in rels.strong_refs().filter(|t| outside_session(t)) {
                let i = *index.entry(ptr(target)).or_insert_with(|| {
                    nodes.push(Rc::clone(target));
                    inside.push(0);
                    nodes.len() - 1
                });
                inside[i] += 1;
                out.push(i);
            }
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
                .rels_if_any()
                .map(|r| r.try_borrow_mut().map(|mut r| std::mem::take(&mut *r)));
            drop(slots);
        }
    }
}

pub(crate) fn ptr(o: &Rc<dyn ErasedObj>) -> *const () {
    Rc::as_ptr(o) as *const ()
}

pub(super) fn same(a: &Rc<dyn ErasedObj>, b: &Rc<dyn ErasedObj>) -> bool {
    ptr(a) == ptr(b)
}

pub(super) fn empty_value(side: Side) -> RelValue {
    match side.role() {
        Role::Children { single: true } => RelValue::One(None),
        Role::Parent => RelValue::Up(None),
        _ => RelValue::Many(Members::default()),
    }
}

impl RelSlots {
    pub fn clear(&mut self) {
        self.slots.clear();
    }

    /// Every object these slots hold strongly, once per reference.
    fn strong_refs(&self) -> impl Iterator<Item = &Rc<dyn ErasedObj>> {
        self.slots.iter().flat_map(|s| {
            let held: &[Option<Rc<dyn ErasedObj>>] = match &s.value {
                RelValue::Many(v) => &v.items,
                RelValue::One(o) => std::slice::from_ref(o),
                RelValue::Up(_) => &[],
            };
            held.iter().flatten().chain(s.added()).chain(s.removed())
        })
    }

    /// The addresses of the parents its references were set to in memory
    /// (assigned, not cleared by a commit).
    pub fn assigned_parents(&self) -> impl Iterator<Item = *const ()> + '_ {
        self.slots.iter().filter_map(|s| match &s.value {
            RelValue::Up(Some(parent)) if s.assigned => Some(parent.as_ptr() as *const ()),
            _ => None,
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
        if self.slots.is_empty() {
            return Vec::new();
        }
        let parents = self
            .slots
            .iter()
            .filter(|s| !s.assigned && s.loaded)
            .filter_map(|s| match &s.value {
                RelValue::Up(Some(w)) => w.upgrade().map(|p| (p, s.side.partner())),
                _ => None,
            })
            .collect();
        self.slots.retain(|s| s.assigned || s.has_link_changes());
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
        self.slots
            .retain(|s| s.side.key() != key || s.assigned || s.has_link_changes());
    }

    /// After a commit, assignments have become foreign key values.
    pub fn committed(&mut self) {
        for slot in &mut self.slots {
            slot.assigned = false;
        }
    }

    /// Where the slot for `side` is in the list, if the object has one.
    fn position(&self, side: Side) -> Option<usize> {
        let key = side.key();
        self.slots.iter().position(|s| s.side.key() == key)
    }

    pub(super) fn find(&self, side: Side) -> Option<&RelSlot> {
        self.position(side).map(|i| &self.slots.as_slice()[i])
    }

    /// The slot for `side`, if the object has one.
    pub(crate) fn find_mut(&mut self, side: Side) -> Option<&mut RelSlot> {
        count_slot_write();
        self.position(side)
            .map(|i| &mut self.slots.as_mut_slice()[i])
    }

    /// The slot for `side`, created empty and not loaded if missing.
    pub(super) fn slot(&mut self, side: Side) -> &mut RelSlot {
        count_slot_write();
        match self.position(side) {
            Some(i) => &mut self.slots.as_mut_slice()[i],
            None => self
                .slots
                .push(RelSlot::new(side, empty_value(side), false)),
        }
    }

    /// A loaded, empty slot for `side`, unless it has one.
    pub(crate) fn add_loaded_empty(&mut self, side: Side) {
        if self.position(side).is_none() {
            self.slots.push(RelSlot::new(side, empty_value(side), true));
        }
    }

    /// The parent noted for `side` without slots (`ObjInner::parent_note`),
    /// put in: not counted as a write, as nothing changes.
    pub(crate) fn add_loaded_parent(&mut self, side: Side, parent: Weak<dyn ErasedObj>) {
        if self.position(side).is_none() {
            self.slots
                .push(RelSlot::new(side, RelValue::Up(Some(parent)), true));
        }
    }

    /// Set `side` to `value`, loaded (creating the slot with it: no empty
    /// value made and dropped first).
    fn set(&mut self, side: Side, value: RelValue, assigned: bool) {
        match self.find_mut(side) {
            Some(slot) => {
                slot.value = value;
                slot.loaded = true;
                slot.assigned = slot.assigned || assigned;
            }
            None => self.slots.push(RelSlot::new(side, value, true)).assigned = assigned,
        }
    }

    /// Set `side` to `value`, loaded, unless an assignment made in memory
    /// holds it (creating the slot with it: no empty value made and
    /// dropped first).
    pub(crate) fn set_unless_assigned(&mut self, side: Side, value: RelValue) {
        match self.find_mut(side) {
            Some(slot) if slot.assigned => {}
            Some(slot) => {
                slot.value = value;
                slot.loaded = true;
            }
            None => {
                self.slots.push(RelSlot::new(side, value, true));
            }
        }
    }

    /// Visit every object [`related`](Self::related) would return, in the
    /// same order, until `f` breaks.
    pub(super) fn visit_related<B>(
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
            s.added().try_for_each(&mut f)?;
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
            out.extend(s.added().cloned());
        }
        out
    }

    pub(super) fn has_pending_changes(&self) -> bool {
        self.slots
            .iter()
            .any(|s| s.assigned || s.has_link_changes())
    }
}

/// Whether [`loaded_items`] has the related objects, without copying
/// them: asked before each `append` to a persistent object's collection,
/// where a copy made appending N children to one parent quadratic.
pub(crate) fn is_loaded(obj: &Rc<dyn ErasedObj>, side: Side) -> bool {
    if obj.noted_empty(side) {
        return true;
    }
    let Some(rels) = obj.rels_if_any() else {
        return false;
    };
    let rels = rels.borrow();
    let Some(slot) = rels.find(side) else {
        return false;
    };
    match &slot.value {
        _ if !slot.loaded && !slot.assigned => false,
        RelValue::Up(Some(w)) => w.strong_count() > 0,
        _ => true,
    }
}

/// The related objects of a loaded slot, or `None` if not loaded.
pub(crate) fn loaded_items(obj: &Rc<dyn ErasedObj>, side: Side) -> Option<Vec<Rc<dyn ErasedObj>>> {
    if obj.noted_empty(side) {
        return Some(Vec::new());
    }
    let rels = obj.rels_if_any()?.borrow();
    let slot = rels.find(side)?;
    match &slot.value {
        _ if !slot.loaded && !slot.assigned => None,
        RelValue::Many(v) => Some(v.to_vec()),
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
    if let Some(parent) = parent
        && note_parent(child, side, parent)
    {
        return;
    }
    child
        .rels()
        .borrow_mut()
        .set_unless_assigned(side, RelValue::Up(parent.map(Rc::downgrade)));
}

/// Note `parent` as `child`'s loaded parent at `side` without making its
/// slots, where the child has room for that (`ObjInner::parent_note`);
/// whether it did. Only where the child has no slots, so no assignment
/// made in memory is passed over.
fn note_parent(child: &Rc<dyn ErasedObj>, side: Side, parent: &Rc<dyn ErasedObj>) -> bool {
    if child.note_parent(side, parent) {
        // A write to the slots all the same (a savepoint's rollback asks).
        count_slot_write();
        return true;
    }
    false
}

/// Put a loaded collection of `obj` in the order of `order`, which holds
/// the same objects (items not in `order` keep their place at the end).
pub(crate) fn reorder(obj: &Rc<dyn ErasedObj>, side: Side, order: &[Rc<dyn ErasedObj>]) {
    let mut rels = obj.rels().borrow_mut();
    let slot = rels.slot(side);
    if let RelValue::Many(v) = &mut slot.value {
        let rank: rustc_hash::FxHashMap<*const (), usize> =
            order.iter().enumerate().map(|(i, o)| (ptr(o), i)).collect();
        v.sort_by_key(|o| rank.get(&ptr(o)).copied().unwrap_or(usize::MAX));
    }
}

pub(super) fn set_value(obj: &Rc<dyn ErasedObj>, side: Side, value: RelValue, assigned: bool) {
    let empty = match &value {
        RelValue::Many(items) => items.is_empty(),
        RelValue::One(item) => item.is_none(),
        RelValue::Up(parent) => parent.is_none(),
    };
    if empty && !assigned && obj.note_loaded_empty(side) {
        // A write to the slots all the same (a savepoint's rollback asks).
        count_slot_write();
        return;
    }
    if let RelValue::Up(Some(parent)) = &value
        && !assigned
        && let Some(parent) = parent.upgrade()
        && note_parent(obj, side, &parent)
    {
        return;
    }
    obj.rels().borrow_mut().set(side, value, assigned);
}

pub(crate) fn values_of(obj: &Rc<dyn ErasedObj>, columns: &[usize]) -> Result<Vec<Value>> {
    columns.iter().map(|&c| obj.column_value(c)).collect()
}
