//! Where an object keeps what most objects never use: the snapshot taken
//! at its first `write()` and its relationship slots ([`Extra`]).
//!
//! Two layouts, picked per model by the derive (`Model::__Store`): inline
//! in the object ([`InlineExtra`]), for models with a foreign key, whose
//! objects get a slot (the reference to their parent) whenever a parent's
//! collection is loaded; or behind one pointer allocated on first use
//! ([`LazyExtra`]), for the others, whose loaded objects mostly never get
//! either. A small model's lazy object is then within 120 bytes, which
//! glibc recycles from its fast bins without merging free neighbours, and
//! a tracked object costs about half the memory; a model whose objects
//! all see relationships pays one allocation more per object instead,
//! which is why children keep theirs inline.

use std::cell::{OnceCell, RefCell};
use std::fmt;

use super::rel::slots::RelSlots;
use crate::model::Model;

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

impl<M: Model> fmt::Debug for InlineExtra<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("InlineExtra").field(&self.0).finish()
    }
}

impl<M: Model> fmt::Debug for LazyExtra<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LazyExtra").field(&self.0.get()).finish()
    }
}

/// How an object holds its [`Extra`]; implemented by [`InlineExtra`] and
/// [`LazyExtra`] only.
#[doc(hidden)]
pub trait ExtraStore<M: Model>: Default + 'static {
    /// The extra parts, made on first use.
    fn get(&self) -> &Extra<M>;
    /// The extra parts, if they were ever made (nothing is allocated).
    fn get_if_any(&self) -> Option<&Extra<M>>;
}

/// [`Extra`] inside the object.
#[doc(hidden)]
pub struct InlineExtra<M: Model>(Extra<M>);

impl<M: Model> Default for InlineExtra<M> {
    fn default() -> Self {
        InlineExtra(Extra::default())
    }
}

impl<M: Model> ExtraStore<M> for InlineExtra<M> {
    #[inline]
    fn get(&self) -> &Extra<M> {
        &self.0
    }

    #[inline]
    fn get_if_any(&self) -> Option<&Extra<M>> {
        Some(&self.0)
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
        // Inline, the snapshot's cell and the slots' cell and list.
        assert_eq!(size_of::<InlineExtra<Stub>>(), 88);
    }
}
