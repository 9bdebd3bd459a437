//! The identity map: one object per (model, primary key) per session.
//!
//! One typed map per model, so lookups hash the key type directly (an `i64`
//! for most models), behind a type-erased interface for the operations that
//! walk every object (expire all, close).

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::hash::{BuildHasher, Hash};
use std::rc::Rc;

use hashbrown::{HashTable, hash_table};
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
/// most objects a kept one may have room for (a larger one is freed and a
/// small one kept in its place, which grows to the large one's size at
/// once when it fills: a thread that once loaded a million objects does
/// not hold their table).
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
    /// How many objects the map of the previous session of this thread
    /// held when it closed, if more than this one has room for: when this
    /// map is full, it grows to that at once rather than doubling its way
    /// there (each doubling reads every object again for its key). A
    /// session per request that loads 10,000 rows each time grows its
    /// table once.
    grow_to: usize,
    /// How many objects it held when its session closed.
    closed_with: usize,
}

impl<M: Model> Default for IdentityMap<M> {
    fn default() -> Self {
        IdentityMap {
            table: HashTable::with_capacity(INITIAL_CAPACITY),
            grow_to: 0,
            closed_with: 0,
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
        if self.grow_to != 0 && self.table.len() == self.table.capacity() {
            let more = self.grow_to.saturating_sub(self.table.len());
            self.grow_to = 0;
            self.table.reserve(more, hash_obj);
        }
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
    /// Add to `out` the objects an `expire()` would change.
    fn unexpired(&self, out: &mut Vec<Rc<dyn ErasedObj>>);
    /// Empty the map, detaching (`forget_session(status)`) the objects that
    /// outlive it.
    fn forget_all(&mut self, status: Status);
    /// This emptied map for the next session of the thread, or a new small
    /// one if it is too large to keep (see [`SPARE_CAPACITY`]), told how
    /// many objects this one held at its session's close.
    fn for_next_session(self: Box<Self>) -> Box<dyn AnyMap>;
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

    fn unexpired(&self, out: &mut Vec<Rc<dyn ErasedObj>>) {
        out.extend(
            self.table
                .iter()
                .filter(|o| o.inner.expire_would_change())
                .map(Obj::erased),
        );
    }

    fn forget_all(&mut self, status: Status) {
        self.closed_with = self.table.len();
        for obj in self.table.drain() {
            // Held by the map alone: it is freed right here, with its
            // relationship slots, so there is no state to reset and no
            // reference cycle through it (a cycle would hold it strongly).
            if Rc::strong_count(&obj.inner) > 1 {
                obj.inner.forget_session(status);
            }
        }
    }

    fn for_next_session(self: Box<Self>) -> Box<dyn AnyMap> {
        let closed_with = self.closed_with;
        let mut next = if self.table.capacity() > SPARE_CAPACITY {
            Box::new(IdentityMap::<M>::default())
        } else {
            self
        };
        // Zero (the test in `entry` fails at its first load) unless there
        // is growing to skip.
        next.grow_to = if closed_with > next.table.capacity() {
            closed_with
        } else {
            0
        };
        next.closed_with = 0;
        next
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

    /// Give the maps to this thread's next sessions (those that are empty;
    /// one too large to keep is replaced by a small one that remembers how
    /// many objects it held, see [`AnyMap::for_next_session`]). Called by
    /// a closing session after [`forget_all`](Self::forget_all).
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
                if map.len() > 0 {
                    not_kept.push(map);
                    continue;
                }
                // A map too large to keep is freed here: it is empty, so
                // no object's `Drop` runs.
                let map = map.for_next_session();
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

#[cfg(test)]
mod tests {
    use std::rc::Weak;

    use super::*;
    use crate::schema::Stub;

    fn stub(key: i64) -> Obj<Stub> {
        Obj::with_status(Stub, Status::Persistent, Weak::new(), Some(key))
    }

    fn typed(map: &mut Box<dyn AnyMap>) -> &mut IdentityMap<Stub> {
        map.as_any_mut().downcast_mut().unwrap()
    }

    #[test]
    fn a_full_map_grows_at_once_to_what_the_last_session_held() {
        let mut map: Box<dyn AnyMap> = Box::new(IdentityMap::<Stub>::default());
        for key in 0..5_000 {
            typed(&mut map).insert(&key, stub(key));
        }
        map.forget_all(Status::Detached);
        // Too large to keep: a small map takes its place.
        let mut map = map.for_next_session();
        let room = typed(&mut map).table.capacity();
        assert!(room <= SPARE_CAPACITY, "{room}");
        // Full, then one more: room for the 5,000 at once, not twice `room`.
        for key in 0..=i64::try_from(room).unwrap() {
            typed(&mut map).insert(&key, stub(key));
        }
        assert!(typed(&mut map).table.capacity() >= 5_000);
        assert_eq!(map.len(), room + 1);
        for key in 0..=i64::try_from(room).unwrap() {
            assert!(typed(&mut map).get(&key).is_some(), "{key}");
        }
        assert!(typed(&mut map).get(&-1).is_none());
    }
}
