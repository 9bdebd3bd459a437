//! The session's list of objects with relationship changes since the last
//! commit (`SessionState::rel_dirty`), in the order they were noted.
//!
//! A flush reads it from where the last successful flush stopped (a
//! position in the list), a commit empties it, and an object leaving the
//! session (`expunge`, a pending object deleted) is taken off it. Taking
//! one off is a scan while the list is short; the first time it happens to
//! a longer list, the list is indexed by address and a removal leaves a
//! hole, so expunging each of N objects with changes is linear. Until then
//! an object changed again after a flush read it is simply listed again
//! (a flush reads it once); once indexed, its earlier entry becomes a hole
//! instead, so the index has one place per object.

use std::rc::Rc;

use rustc_hash::FxHashMap;

use crate::session::obj::ErasedObj;

use super::slots::ptr;

/// Objects with relationship changes, in the order they were noted; see
/// the module documentation.
#[derive(Default)]
pub(crate) struct RelDirty {
    /// `None` where an indexed list had an object taken off.
    items: Vec<Option<Rc<dyn ErasedObj>>>,
    /// Built at the first removal from a list of `INDEXED_FROM` entries or
    /// more, kept by every change after it, dropped when the list is
    /// emptied (boxed: most sessions never build one).
    index: Option<Box<DirtyIndex>>,
}

#[derive(Default)]
struct DirtyIndex {
    at: FxHashMap<*const (), usize>,
    holes: usize,
}

impl RelDirty {
    const INDEXED_FROM: usize = 16;

    /// Positions in the list, holes included (what a flush's "read up to
    /// here" counts).
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether no object is listed.
    pub fn is_empty(&self) -> bool {
        self.items.len() == self.index.as_ref().map_or(0, |i| i.holes)
    }

    /// The listed objects, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Rc<dyn ErasedObj>> {
        self.items.iter().flatten()
    }

    /// The entries from position `start` on (holes as `None`).
    pub fn entries_from(&self, start: usize) -> &[Option<Rc<dyn ErasedObj>>] {
        &self.items[start.min(self.items.len())..]
    }

    /// List `obj` at the end (its earlier entry, if the list is indexed,
    /// becomes a hole).
    pub fn push(&mut self, obj: &Rc<dyn ErasedObj>) {
        if let Some(index) = &mut self.index
            && let Some(before) = index.at.insert(ptr(obj), self.items.len())
        {
            // The caller holds `obj`: no object is freed here.
            self.items[before] = None;
            index.holes += 1;
        }
        self.items.push(Some(Rc::clone(obj)));
    }

    /// Take every entry of `obj` off. `flushed` is how many positions at
    /// the front a flush has read; returns that count for the list as it
    /// is now (closing holes moves the entries after them).
    pub fn remove(&mut self, obj: &Rc<dyn ErasedObj>, flushed: usize) -> usize {
        let p = ptr(obj);
        if self.index.is_none() && self.items.len() >= Self::INDEXED_FROM {
            self.build_index();
        }
        let Some(index) = &mut self.index else {
            let gone_flushed = self.items[..flushed.min(self.items.len())]
                .iter()
                .flatten()
                .filter(|o| ptr(o) == p)
                .count();
            self.items
                .retain(|o| o.as_ref().is_some_and(|o| ptr(o) != p));
            return flushed - gone_flushed;
        };
        let Some(at) = index.at.remove(&p) else {
            return flushed;
        };
        // The caller holds `obj`: no object is freed here.
        self.items[at] = None;
        index.holes += 1;
        if index.holes < Self::INDEXED_FROM || index.holes * 2 < self.items.len() {
            return flushed;
        }
        let flushed_now = self.items[..flushed.min(self.items.len())]
            .iter()
            .flatten()
            .count();
        self.items.retain(Option::is_some);
        self.build_index();
        flushed_now
    }

    /// Empty the list, handing each object over in order.
    pub fn drain(&mut self) -> impl Iterator<Item = Rc<dyn ErasedObj>> + use<> {
        self.index = None;
        std::mem::take(&mut self.items).into_iter().flatten()
    }

    /// Index every object at its last entry; earlier entries of the same
    /// object (listed again after a flush read it) become holes.
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
        self.index = Some(Box::new(DirtyIndex { at, holes }));
    }
}
