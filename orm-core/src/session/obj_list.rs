//! An ordered list of a session's objects that an object can be taken off
//! in O(1): the session's pending, modified and deleted objects
//! (`SessionState::pending`, `modified`, `deleted`, in the order they came)
//! and its objects with relationship changes (`SessionState::rel_dirty`,
//! in the order they were noted).
//!
//! Taking one off is a scan while the list is short; the first time it
//! happens to a longer list, the list is indexed by address and a removal
//! then leaves a hole, closed once the holes are half the list. So
//! expunging (or deleting) each of N listed objects is linear, and a
//! session that never takes anything off pays for no index. Until the
//! first removal an object pushed twice is listed twice (the relationship
//! list lists an object again when it changes after a flush read it; a
//! reader reads it once); once indexed, its earlier entry becomes a hole
//! instead, so the index has one place per object.

use std::rc::Rc;

use rustc_hash::FxHashMap;

use super::obj::ErasedObj;
use super::rel::slots::ptr;

/// Objects in order; see the module documentation.
#[derive(Default)]
pub(crate) struct ObjList {
    /// `None` where an indexed list had an object taken off.
    items: Vec<Option<Rc<dyn ErasedObj>>>,
    /// Built at the first removal from a list of `INDEXED_FROM` entries or
    /// more, kept by every change after it, dropped when the list is
    /// emptied or filtered (boxed: most lists never have one).
    index: Option<Box<ListIndex>>,
}

#[derive(Default)]
struct ListIndex {
    at: FxHashMap<*const (), usize>,
    holes: usize,
}

impl ObjList {
    const INDEXED_FROM: usize = 16;

    /// Positions in the list, holes included (what a count of entries
    /// read from the front counts).
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether no object is listed.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
            || self
                .index
                .as_ref()
                .is_some_and(|i| i.holes == self.items.len())
    }

    /// The listed objects, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Rc<dyn ErasedObj>> {
        self.items.iter().flatten()
    }

    /// The entries from position `start` on (holes as `None`).
    pub fn entries_from(&self, start: usize) -> &[Option<Rc<dyn ErasedObj>>] {
        &self.items[start.min(self.items.len())..]
    }

    /// Room for `more` objects.
    pub fn reserve(&mut self, more: usize) {
        self.items.reserve(more);
    }

    /// List `obj` at the end (its earlier entry, if the list is indexed,
    /// becomes a hole).
    #[inline]
    pub fn push(&mut self, obj: &Rc<dyn ErasedObj>) {
        if self.index.is_some() {
            self.index_push(obj);
        }
        self.items.push(Some(Rc::clone(obj)));
    }

    /// Index `obj` at the position it is about to take.
    #[cold]
    fn index_push(&mut self, obj: &Rc<dyn ErasedObj>) {
        if let Some(index) = &mut self.index
            && let Some(before) = index.at.insert(ptr(obj), self.items.len())
        {
            // The caller holds `obj`: no object is freed here.
            self.items[before] = None;
            index.holes += 1;
        }
    }

    /// Take every entry of `obj` off.
    pub fn remove(&mut self, obj: &Rc<dyn ErasedObj>) {
        self.remove_counting(obj, 0);
    }

    /// Take every entry of `obj` off. `read` is how many positions at the
    /// front a reader has gone through; returns that count for the list
    /// as it is now (closing holes moves the entries after them).
    pub fn remove_counting(&mut self, obj: &Rc<dyn ErasedObj>, read: usize) -> usize {
        let p = ptr(obj);
        if self.index.is_none() && self.items.len() >= Self::INDEXED_FROM {
            self.build_index();
        }
        let Some(index) = &mut self.index else {
            let gone_read = self.items[..read.min(self.items.len())]
                .iter()
                .flatten()
                .filter(|o| ptr(o) == p)
                .count();
            self.items
                .retain(|o| o.as_ref().is_some_and(|o| ptr(o) != p));
            return read - gone_read;
        };
        let Some(at) = index.at.remove(&p) else {
            return read;
        };
        // The caller holds `obj`: no object is freed here.
        self.items[at] = None;
        index.holes += 1;
        if index.holes < Self::INDEXED_FROM || index.holes * 2 < self.items.len() {
            return read;
        }
        let read_now = self.items[..read.min(self.items.len())]
            .iter()
            .flatten()
            .count();
        self.items.retain(Option::is_some);
        self.build_index();
        read_now
    }

    /// Keep only the objects `keep` says to, in order. The index goes
    /// (the next removal builds it again if the list is still long): a
    /// flush filters the pending list and mostly empties it, and a session
    /// that took one object off would otherwise hash every later one.
    pub fn retain(&mut self, mut keep: impl FnMut(&Rc<dyn ErasedObj>) -> bool) {
        self.index = None;
        self.items.retain(|o| o.as_ref().is_some_and(&mut keep));
    }

    /// Empty the list.
    pub fn clear(&mut self) {
        self.items.clear();
        self.index = None;
    }

    /// Empty the list, handing each object over in order.
    pub fn drain(&mut self) -> impl Iterator<Item = Rc<dyn ErasedObj>> + use<> {
        std::mem::take(self).into_iter()
    }

    /// Index every object at its last entry; earlier entries of the same
    /// object become holes.
    fn build_index(&mut self) {
        let mut at = FxHashMap::default();
        at.reserve(self.items.len());
        let mut earlier = Vec::new();
        for (i, item) in self.items.iter().enumerate() {
            if let Some(o) = item
                && let Some(before) = at.insert(ptr(o), i)
            {
                earlier.push(before);
            }
        }
        // Each object keeps its last entry: no object is freed here.
        for i in earlier {
            self.items[i] = None;
        }
        let holes = self.items.iter().filter(|o| o.is_none()).count();
        self.index = Some(Box::new(ListIndex { at, holes }));
    }
}

impl IntoIterator for ObjList {
    type Item = Rc<dyn ErasedObj>;
    type IntoIter = std::iter::Flatten<std::vec::IntoIter<Option<Rc<dyn ErasedObj>>>>;

    /// The objects in order, the list consumed.
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter().flatten()
    }
}

impl From<Vec<Rc<dyn ErasedObj>>> for ObjList {
    fn from(objects: Vec<Rc<dyn ErasedObj>>) -> Self {
        ObjList {
            // Collected in place: the two element types have one layout.
            items: objects.into_iter().map(Some).collect(),
            index: None,
        }
    }
}
