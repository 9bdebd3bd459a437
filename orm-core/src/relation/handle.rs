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
