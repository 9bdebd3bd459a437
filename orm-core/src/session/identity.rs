//! The identity map: one object per (model, primary key) per session.
//!
//! One typed map per model, so lookups hash the key type directly (an `i64`
//! for most models), behind a type-erased interface for the operations that
//! walk every object (expire all, close).

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::rc::Rc;

use std::hash::{BuildHasher, Hash};

use hashbrown::HashTable;
use hashbrown::hash_table;
use rustc_hash::FxBuildHasher;

use super::obj::{ErasedObj, Obj, Status};
use crate::model::Model;

/// Objects a model's map has room for when it is made, at the first object
/// of its model, which is usually followed by more (a query's rows): a few
/// doublings from the smallest table are skipped. 16 rather than more: the
/// table (32 buckets) stays a small allocation, the cheap path of common
/// allocators, which sessions holding one object notice.
const INITIAL_CAPACITY: usize = 16;

/// How many emptied maps a thread keeps for its next sessions, and the
/// most objects a kept one may have room for (a larger one is freed: a
/// thread that once loaded a million objects does not hold their table).
const SPARES_PER_THREAD: usize = 4;
const SPARE_CAPACITY: usize = 2048;

thread_local! {
    /// Maps of closed sessions on this thread, emptied, under their model's
    /// `TypeId`. A session per request loading the same models each time
    /// takes its map from here: no table allocated for a one-row query,
    /// none grown from nothing, a rehash of every object so far at each
    /// doubling, for a longer one (about 70 instructions per object of a
    /// 1,000-row query).
    static SPARE_MAPS: RefCell<Vec<Entry>> = const { RefCell::new(Vec::new()) };
}

/// An emptied map of `id`'s model kept by a closed session, if any.
fn take_spare(id: TypeId) -> Option<Box<dyn AnyMap>> {
    SPARE_MAPS
        .try_with(|spares| {
            let mut spares = spares.try_borrow_mut().ok()?;
            let at = spares.iter().position(|(t, _)| *t == id)?;
            Some(spares.swap_remove(at).1)
        })
        .ok()
        .flatten()
}

/// One model's objects by primary key. The table holds the objects alone
/// (8 bytes a bucket, not 16 with an `i64` key beside each): an object
/// keeps its own identity key, which it never changes while it is in the
/// map (`detach_identity` takes it out first).
pub(crate) struct IdentityMap<M: Model> {
    table: HashTable<Obj<M>>,
}

impl<M: Model> Default for IdentityMap<M> {
    fn default() -> Self {
        IdentityMap {
            table: HashTable::with_capacity(INITIAL_CAPACITY),
        }
    }
}

fn hash_key<K: Hash>(key: &K) -> u64 {
    FxBuildHasher.hash_one(key)
}

/// An object's place in the table, from the key it keeps.
fn hash_obj<M: Model>(obj: &Obj<M>) -> u64 {
    obj.inner.with_key(|k| k.map_or(0, hash_key))
}

/// Whether `obj` is known by `key`.
fn has_key<M: Model>(key: &M::Key) -> impl Fn(&Obj<M>) -> bool + '_ {
    move |obj| obj.inner.with_key(|k| k == Some(key))
}

impl<M: Model> IdentityMap<M> {
    /// The object known by `key`.
    pub fn get(&self, key: &M::Key) -> Option<&Obj<M>> {
        self.table.find(hash_key(key), has_key(key))
    }

    /// The place of `key`: the object there, or room for one.
    pub fn entry(&mut self, key: &M::Key) -> hash_table::Entry<'_, Obj<M>> {
        self.table.entry(hash_key(key), has_key(key), hash_obj)
    }

    /// Put `obj` (whose identity key is `key`) in the map; the object it
    /// replaces, if another was known by `key`.
    pub fn insert(&mut self, key: &M::Key, obj: Obj<M>) -> Option<Obj<M>> {
        debug_assert!(obj.inner.with_key(|k| k == Some(key)));
        match self.entry(key) {
            hash_table::Entry::Occupied(mut found) => Some(std::mem::replace(found.get_mut(), obj)),
            hash_table::Entry::Vacant(room) => {
                room.insert(obj);
                None
            }
        }
    }

    /// Take out the object known by `key`.
    pub fn remove(&mut self, key: &M::Key) -> Option<Obj<M>> {
        match self.table.find_entry(hash_key(key), has_key(key)) {
            Ok(found) => Some(found.remove().0),
            Err(_) => None,
        }
    }

    /// Room for `additional` more objects.
    pub fn reserve(&mut self, additional: usize) {
        self.table.reserve(additional, hash_obj);
    }
}

pub(crate) trait AnyMap {
    fn as_any_mut(&mut self) -> &mut dyn Any;
    fn objects(&self) -> Vec<Rc<dyn ErasedObj>>;
    fn clear(&mut self);
    fn len(&self) -> usize;
    /// How many objects it has room for without growing.
    fn capacity(&self) -> usize;
    /// Add to `out` the objects an `expire()` would change.
    fn unexpired(&self, out: &mut Vec<Rc<dyn ErasedObj>>);
    /// Empty the map, detaching (`forget_session(status)`) the objects that
    /// outlive it.
    fn forget_all(&mut self, status: Status);
}

impl<M: Model> AnyMap for IdentityMap<M> {
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn objects(&self) -> Vec<Rc<dyn ErasedObj>> {
        self.table.iter().map(Obj::erased).collect()
    }

    fn clear(&mut self) {
        self.table.clear();
    }

    fn len(&self) -> usize {
        self.table.len()
    }

    fn capacity(&self) -> usize {
        self.table.capacity()
    }

    fn unexpired(&self, out: &mut Vec<Rc<dyn ErasedObj>>) {
        out.extend(
            self.table
                .iter()
                .filter(|o| o.inner.expire_would_change())
                .map(Obj::erased),
        );
    }

    fn forget_all(&mut self, status: Status) {
        for obj in self.table.drain() {
            // Held by the map alone: it is freed right here, with its
            // relationship slots, so there is no state to reset and no
            // reference cycle through it (a cycle would hold it strongly).
            if Rc::strong_count(&obj.inner) > 1 {
                obj.inner.forget_session(status);
            }
        }
    }
}

/// One model's map, under its model's `TypeId`.
type Entry = (TypeId, Box<dyn AnyMap>);

/// All identity maps of a session.
///
/// A session uses a handful of models, so the maps are searched by `TypeId`
/// in order (cheaper than hashing it), and the first one sits inline: a
/// session of one model allocates no list, an empty session nothing.
#[derive(Default)]
pub(crate) struct IdentityMaps {
    first: Option<Entry>,
    rest: Vec<Entry>,
}

impl IdentityMaps {
    fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.first.iter().chain(&self.rest)
    }

    fn entries_mut(&mut self) -> impl Iterator<Item = &mut Entry> {
        self.first.iter_mut().chain(&mut self.rest)
    }

    fn find(&mut self, id: TypeId) -> Option<&mut Box<dyn AnyMap>> {
        // Searched by hand, `first` then `rest`: a chained iterator cost a
        // flush about 90 instructions per new object (each one's identity
        // map is looked up as it enters it).
        match &mut self.first {
            Some((t, map)) if *t == id => Some(map),
            _ => self
                .rest
                .iter_mut()
                .find(|(t, _)| *t == id)
                .map(|(_, map)| map),
        }
    }

    /// The map of model `M`, created on first use.
    pub fn of<M: Model>(&mut self) -> &mut IdentityMap<M> {
        let id = TypeId::of::<M>();
        // Where it is, counting `first` (always there when `rest` is not)
        // as 0.
        let at = if self.first.as_ref().is_some_and(|(t, _)| *t == id) {
            0
        } else {
            match self.rest.iter().position(|(t, _)| *t == id) {
                Some(i) => i + 1,
                None => {
                    let map =
                        take_spare(id).unwrap_or_else(|| Box::new(IdentityMap::<M>::default()));
                    let entry: Entry = (id, map);
                    if self.first.is_none() {
                        self.first = Some(entry);
                        0
                    } else {
                        self.rest.push(entry);
                        self.rest.len()
                    }
                }
            }
        };
        let map = match (&mut self.first, at) {
            (Some((_, map)), 0) => map,
            (first, at) => &mut self.rest[at - usize::from(first.is_some())].1,
        };
        match map.as_any_mut().downcast_mut::<IdentityMap<M>>() {
            Some(map) => map,
            // Found or inserted under M's TypeId, which only ever holds an
            // IdentityMap<M>.
            None => unreachable!("identity map stored under the wrong type"),
        }
    }

    /// The map of model `M`, if it exists.
    pub fn get<M: Model>(&mut self) -> Option<&mut IdentityMap<M>> {
        self.find(TypeId::of::<M>())?
            .as_any_mut()
            .downcast_mut::<IdentityMap<M>>()
    }

    pub fn all_objects(&self) -> Vec<Rc<dyn ErasedObj>> {
        self.entries().flat_map(|(_, m)| m.objects()).collect()
    }

    /// The objects an `expire()` would change: a walk over objects
    /// expired already costs a flag read each, not a copy of every handle.
    pub fn unexpired_objects(&self) -> Vec<Rc<dyn ErasedObj>> {
        let mut out = Vec::new();
        for (_, m) in self.entries() {
            m.unexpired(&mut out);
        }
        out
    }

    pub fn clear(&mut self) {
        for (_, m) in self.entries_mut() {
            m.clear();
        }
    }

    /// Empty every map in place, detaching the objects that outlive it
    /// (cheaper than collecting [`all_objects`](Self::all_objects) first).
    pub fn forget_all(&mut self, status: Status) {
        for (_, m) in self.entries_mut() {
            m.forget_all(status);
        }
    }

    pub fn len(&self) -> usize {
        self.entries().map(|(_, m)| m.len()).sum()
    }

    /// Give the maps to this thread's next sessions (those that are empty
    /// and not too large; see [`SPARE_MAPS`]). Called by a closing session
    /// after [`forget_all`](Self::forget_all).
    pub fn recycle(&mut self) {
        if self.first.is_none() {
            // No model was used (`rest` is empty too): nothing to keep.
            return;
        }
        let mut maps = self.first.take().into_iter().chain(self.rest.drain(..));
        // Maps not kept are dropped after the spares' borrow ends.
        let mut not_kept = Vec::new();
        let _ = SPARE_MAPS.try_with(|spares| {
            let Ok(mut spares) = spares.try_borrow_mut() else {
                return;
            };
            for (id, map) in maps.by_ref() {
                if map.len() > 0 || map.capacity() > SPARE_CAPACITY {
                    not_kept.push(map);
                    continue;
                }
                if let Some(at) = spares.iter().position(|(t, _)| *t == id) {
                    spares[at].1 = map;
                } else {
                    if spares.len() == SPARES_PER_THREAD {
                        // The least recently kept one goes.
                        spares.remove(0);
                    }
                    spares.push((id, map));
                }
            }
        });
        drop(not_kept);
    }
}
