//! Where an object keeps what most objects never use: the snapshot taken
//! at its first `write()` and its relationship slots ([`Extra`]), behind
//! one pointer allocated on first use. A small model's object is then
//! within 120 bytes, which glibc recycles from its fast bins without
//! merging free neighbours, and a tracked object costs about half the
//! memory.
//!
//! Two layouts, picked per model by the derive (`Model::__Store`): the
//! pointer alone ([`LazyExtra`]), or the pointer and room for one parent
//! ([`ChildExtra`]), for models with a foreign key, whose objects learn
//! their parent whenever a parent's collection is loaded: noted there
//! (the object's `parent_note` says which relationship), it needs no
//! slots until something looks at them, so the children of a selectin
//! load allocate nothing beside themselves.

use std::cell::{Cell, OnceCell, RefCell};
use std::fmt;
use std::rc::Weak;

use super::rel::slots::RelSlots;
use crate::model::Model;
use crate::session::obj::ErasedObj;

/// An object's snapshot and relationship slots.
#[doc(hidden)]
pub struct Extra<M: Model> {
    /// Column values as of the last load or flush; present only once the
    /// object was borrowed for writing since then. Boxed: the transaction
    /// log keeps the box as it is (`take_snapshot`).
    pub(crate) snapshot: RefCell<Option<Box<M>>>,
    /// Loaded relationships and relationship assignments.
    pub(crate) rels: RefCell<RelSlots>,
}

impl<M: Model> Default for Extra<M> {
    fn default() -> Self {
        Extra {
            snapshot: RefCell::new(None),
            rels: RefCell::new(RelSlots::default()),
        }
    }
}

impl<M: Model> fmt::Debug for Extra<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Extra").finish_non_exhaustive()
    }
}

impl fmt::Debug for NotedParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NotedParent").finish_non_exhaustive()
    }
}

impl<M: Model> fmt::Debug for ChildExtra<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildExtra")
            .field("extra", &self.extra)
            .field("parent", &self.parent)
            .finish()
    }
}

impl<M: Model> fmt::Debug for LazyExtra<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LazyExtra").field(&self.0.get()).finish()
    }
}

/// How an object holds its [`Extra`]; implemented by [`ChildExtra`] and
/// [`LazyExtra`] only.
#[doc(hidden)]
pub trait ExtraStore<M: Model>: Default + 'static {
    /// The extra parts, made on first use.
    fn get(&self) -> &Extra<M>;
    /// The extra parts, if they were ever made (nothing is allocated).
    fn get_if_any(&self) -> Option<&Extra<M>>;
    /// Room for the parent a loaded collection gives the object, if this
    /// layout has it.
    fn parent(&self) -> Option<&NotedParent>;
}

/// The parent a loaded collection gave an object, noted without slots.
#[doc(hidden)]
#[derive(Default)]
pub struct NotedParent(pub(crate) Cell<Option<Weak<dyn ErasedObj>>>);

/// [`LazyExtra`] and room for one parent, noted without slots.
#[doc(hidden)]
pub struct ChildExtra<M: Model> {
    extra: LazyExtra<M>,
    parent: NotedParent,
}

impl<M: Model> Default for ChildExtra<M> {
    fn default() -> Self {
        ChildExtra {
            extra: LazyExtra::default(),
            parent: NotedParent::default(),
        }
    }
}

impl<M: Model> ExtraStore<M> for ChildExtra<M> {
    #[inline]
    fn get(&self) -> &Extra<M> {
        self.extra.get()
    }

    #[inline]
    fn get_if_any(&self) -> Option<&Extra<M>> {
        self.extra.get_if_any()
    }

    #[inline]
    fn parent(&self) -> Option<&NotedParent> {
        Some(&self.parent)
    }
}

/// [`Extra`] behind a pointer, allocated on first use.
#[doc(hidden)]
pub struct LazyExtra<M: Model>(OnceCell<Box<Extra<M>>>);

impl<M: Model> Default for LazyExtra<M> {
    fn default() -> Self {
        LazyExtra(OnceCell::new())
    }
}

impl<M: Model> ExtraStore<M> for LazyExtra<M> {
    #[inline]
    fn get(&self) -> &Extra<M> {
        self.0.get_or_init(Box::default)
    }

    #[inline]
    fn get_if_any(&self) -> Option<&Extra<M>> {
        self.0.get().map(|e| &**e)
    }

    #[inline]
    fn parent(&self) -> Option<&NotedParent> {
        None
    }
}

#[cfg(test)]
mod tests {
    use std::mem::size_of;

    use super::*;
    use crate::schema::Stub;
    use crate::session::obj::ObjInner;

    #[test]
    fn a_small_models_object_fits_a_fast_bin() {
        // Around the model: the `Rc`'s two counts, the value's borrow
        // flag, status and flags, the session, the key, the pointer to the
        // snapshot and slots. With a model of 56 bytes (three columns: an
        // id and two strings) that is 120 bytes asked, a 128-byte chunk,
        // the largest glibc keeps in its fast bins.
        assert_eq!(size_of::<Stub>(), 0);
        assert_eq!(16 + size_of::<ObjInner<Stub>>(), 64);
        // A child's: the pointer and a parent (a `Weak<dyn _>`, two words),
        // so a child model of up to 40 bytes stays within 120.
        assert_eq!(size_of::<ChildExtra<Stub>>(), 24);
    }
}
