//! The identity map: one object per (model, primary key) per session.
//!
//! One typed map per model, so lookups hash the key type directly (an `i64`
//! for most models), behind a type-erased interface for the operations that
//! walk every object (expire all, close).

use std::any::{Any, TypeId};
use std::rc::Rc;

use rustc_hash::FxHashMap;

use super::obj::{ErasedObj, Obj};
use crate::model::Model;

pub(crate) struct IdentityMap<M: Model> {
    pub map: FxHashMap<M::Key, Obj<M>>,
}

impl<M: Model> Default for IdentityMap<M> {
    fn default() -> Self {
        IdentityMap {
            map: FxHashMap::default(),
        }
    }
}

pub(crate) trait AnyMap {
    fn as_any_mut(&mut self) -> &mut dyn Any;
    fn objects(&self) -> Vec<Rc<dyn ErasedObj>>;
    fn clear(&mut self);
    fn len(&self) -> usize;
}

impl<M: Model> AnyMap for IdentityMap<M> {
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn objects(&self) -> Vec<Rc<dyn ErasedObj>> {
        self.map.values().map(Obj::erased).collect()
    }

    fn clear(&mut self) {
        self.map.clear();
    }

    fn len(&self) -> usize {
        self.map.len()
    }
}

/// All identity maps of a session.
#[derive(Default)]
pub(crate) struct IdentityMaps {
    maps: FxHashMap<TypeId, Box<dyn AnyMap>>,
}

impl IdentityMaps {
    /// The map of model `M`, created on first use.
    pub fn of<M: Model>(&mut self) -> &mut IdentityMap<M> {
        let entry = self
            .maps
            .entry(TypeId::of::<M>())
            .or_insert_with(|| Box::new(IdentityMap::<M>::default()));
        match entry.as_any_mut().downcast_mut::<IdentityMap<M>>() {
            Some(map) => map,
            // The entry is keyed by M's TypeId and only ever holds an
            // IdentityMap<M>.
            None => unreachable!("identity map stored under the wrong type"),
        }
    }

    /// The map of model `M`, if it exists.
    pub fn get<M: Model>(&mut self) -> Option<&mut IdentityMap<M>> {
        self.maps
            .get_mut(&TypeId::of::<M>())
            .and_then(|m| m.as_any_mut().downcast_mut::<IdentityMap<M>>())
    }

    pub fn all_objects(&self) -> Vec<Rc<dyn ErasedObj>> {
        self.maps.values().flat_map(|m| m.objects()).collect()
    }

    pub fn clear(&mut self) {
        for m in self.maps.values_mut() {
            m.clear();
        }
    }

    pub fn len(&self) -> usize {
        self.maps.values().map(|m| m.len()).sum()
    }
}
