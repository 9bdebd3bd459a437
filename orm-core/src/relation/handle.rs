//! Typed relationship handles: `PetHandler::pets` is a
//! `HasMany<PetHandler, PetCategory>`. The derive creates them as
//! associated constants on both ends of a relationship.

use std::fmt;
use std::marker::PhantomData;

use crate::schema::RelationDef;

macro_rules! handle {
    ($(#[$doc:meta])* $name:ident<$from:ident, $to:ident>) => {
        $(#[$doc])*
        pub struct $name<$from, $to> {
            def: fn() -> &'static RelationDef,
            declared: bool,
            _marker: PhantomData<fn() -> ($from, $to)>,
        }

        impl<$from, $to> $name<$from, $to> {
            #[doc(hidden)]
            pub const fn __new(def: fn() -> &'static RelationDef, declared: bool) -> Self {
                $name { def, declared, _marker: PhantomData }
            }

            /// The relationship declaration behind this handle.
            pub fn def(&self) -> &'static RelationDef {
                (self.def)()
            }

            /// True when this end is the one written in the attribute, false
            /// when it was created by a `backref`.
            pub fn is_declared_side(&self) -> bool {
                self.declared
            }

            /// The accessor name at this end.
            pub fn name(&self) -> &'static str {
                let def = self.def();
                if self.declared {
                    def.name
                } else {
                    def.backref.unwrap_or(def.name)
                }
            }
        }

        impl<$from, $to> Clone for $name<$from, $to> {
            fn clone(&self) -> Self {
                *self
            }
        }

        impl<$from, $to> Copy for $name<$from, $to> {}

        impl<$from, $to> fmt::Debug for $name<$from, $to> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.name())
            }
        }
    };
}

handle!(
    /// One-to-many: a parent's list of children (`handler.pets`).
    HasMany<P, C>
);
handle!(
    /// Many-to-one, or the child end of a one-to-one: a child's parent
    /// (`pet.handler`).
    BelongsTo<C, P>
);
handle!(
    /// One-to-one from the parent: at most one child (`user.profile`).
    HasOne<P, C>
);
handle!(
    /// Many-to-many through an association table (`post.tags`).
    ManyToMany<A, B>
);

use crate::error::{Error, Result};
use crate::model::Model;
use crate::schema::Side;
use crate::session::Obj;
use crate::session::obj::ObjInner;

/// A relationship end usable with [`Obj::related`]: one of the handles the
/// derive creates (`PetHandler::pet_category`, `PetCategory::pet_handler`).
pub trait Relation: Copy {
    /// The model the accessor is on.
    type From: Model;
    /// The related model.
    type To: Model;
    /// What [`Obj::related`] returns: a `Vec` for collections, an `Option`
    /// for references.
    type Output;
    #[doc(hidden)]
    fn __side(&self) -> Side;
    #[doc(hidden)]
    fn __output(items: Vec<Obj<Self::To>>) -> Self::Output;
}

/// A relationship end holding a collection ([`HasMany`], [`ManyToMany`]).
pub trait CollectionRelation: Relation {}

/// A relationship end holding at most one object ([`BelongsTo`], [`HasOne`]).
pub trait ScalarRelation: Relation {}

macro_rules! relation_impl {
    ($name:ident<$from:ident, $to:ident>, many) => {
        impl<$from: Model, $to: Model> Relation for $name<$from, $to> {
            type From = $from;
            type To = $to;
            type Output = Vec<Obj<$to>>;
            fn __side(&self) -> Side {
                Side::new(self.def(), self.declared)
            }
            fn __output(items: Vec<Obj<$to>>) -> Vec<Obj<$to>> {
                items
            }
        }
        impl<$from: Model, $to: Model> CollectionRelation for $name<$from, $to> {}
    };
    ($name:ident<$from:ident, $to:ident>, one) => {
        impl<$from: Model, $to: Model> Relation for $name<$from, $to> {
            type From = $from;
            type To = $to;
            type Output = Option<Obj<$to>>;
            fn __side(&self) -> Side {
                Side::new(self.def(), self.declared)
            }
            fn __output(items: Vec<Obj<$to>>) -> Option<Obj<$to>> {
                items.into_iter().next()
            }
        }
        impl<$from: Model, $to: Model> ScalarRelation for $name<$from, $to> {}
    };
}

relation_impl!(HasMany<P, C>, many);
relation_impl!(ManyToMany<A, B>, many);
relation_impl!(BelongsTo<C, P>, one);
relation_impl!(HasOne<P, C>, one);

/// The typed handle behind an erased object of model `T`.
pub(crate) fn typed<T: Model>(
    obj: std::rc::Rc<dyn crate::session::obj::ErasedObj>,
) -> Result<Obj<T>> {
    obj.rc_any()
        .downcast::<ObjInner<T>>()
        .map(|inner| Obj { inner })
        .map_err(|_| Error::Usage(format!("a related object is not a {}", T::table().model)))
}
