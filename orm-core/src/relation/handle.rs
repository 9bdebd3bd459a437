//! Typed relationship handles: `PetHandler::pets` is a
//! `HasMany<PetHandler, PetCategory>`. The derive creates them as
//! associated constants on both ends of a relationship.

use std::fmt;
use std::marker::PhantomData;

use crate::schema::RelationDef;

/// Models for the accessor examples: one-to-many with a backref, one-to-one,
/// many-to-many.
macro_rules! example_models {
    () => {
        "use orm::prelude::*;
#[derive(Model, Debug, Default)]
#[orm(has_many(pets = Pet, backref = \"owner\"))]
#[orm(has_one(profile = Profile, backref = \"person\"))]
#[orm(many_to_many(tags = Tag, secondary = PersonTag, backref = \"people\"))]
struct Person { #[orm(primary_key)] id: i64 }
#[derive(Model, Debug, Default)]
struct Pet { #[orm(primary_key)] id: i64, #[orm(foreign_key = Person::id)] person_id: i64 }
#[derive(Model, Debug, Default)]
struct Profile { #[orm(primary_key)] id: i64, #[orm(foreign_key = Person::id, unique)] person_id: i64 }
#[derive(Model, Debug, Default)]
struct Tag { #[orm(primary_key)] id: i64 }
#[derive(Model, Debug, Default)]
struct PersonTag {
    #[orm(primary_key, foreign_key = Person::id)] person_id: i64,
    #[orm(primary_key, foreign_key = Tag::id)] tag_id: i64,
}
"
    };
}

macro_rules! handle {
    (
        $(#[$doc:meta])* $name:ident<$from:ident, $to:ident>,
        example: $handle:literal is $end:literal of $declared_as:literal, declared: $declared:literal
    ) => {
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
            ///
            /// # Examples
            ///
            #[doc = concat!("```\n", example_models!(), "let end = ", $handle, ";\n",
                "assert_eq!(end.def().name, \"", $declared_as, "\");\n```")]
            pub fn def(&self) -> &'static RelationDef {
                (self.def)()
            }

            /// True when this end is the one written in the attribute, false
            /// when it was created by a `backref`.
            ///
            /// # Examples
            ///
            #[doc = concat!("```\n", example_models!(), "let end = ", $handle, ";\n",
                "assert_eq!(end.is_declared_side(), ", $declared, ");\n```")]
            pub fn is_declared_side(&self) -> bool {
                self.declared
            }

            /// The accessor name at this end.
            ///
            /// # Examples
            ///
            #[doc = concat!("```\n", example_models!(), "let end = ", $handle, ";\n",
                "assert_eq!(end.name(), \"", $end, "\");\n```")]
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
    ///
    /// # Examples
    ///
    /// ```
/// use orm::prelude::*;
///
/// #[derive(Model, Debug, Default)]
/// #[orm(has_many(pets = Pet, backref = "owner"))]
/// struct Person { #[orm(primary_key)] id: i64 }
///
/// #[derive(Model, Debug, Default)]
/// struct Pet { #[orm(primary_key)] id: i64, #[orm(foreign_key = Person::id)] person_id: i64 }
///
    /// let pets: orm::HasMany<Person, Pet> = Person::pets;
    /// assert_eq!((pets.name(), pets.is_declared_side()), ("pets", true));
    /// let owner: orm::BelongsTo<Pet, Person> = Pet::owner; // made by the backref
    /// assert_eq!((owner.name(), owner.is_declared_side()), ("owner", false));
    /// assert!(std::ptr::eq(pets.def(), owner.def()));
    /// ```
    HasMany<P, C>,
    example: "Person::pets" is "pets" of "pets", declared: "true"
);
handle!(
    /// Many-to-one, or the child end of a one-to-one: a child's parent
    /// (`pet.handler`).
    ///
    /// # Examples
    ///
    /// ```
/// use orm::prelude::*;
///
/// #[derive(Model, Debug, Default)]
/// #[orm(has_many(pets = Pet, backref = "owner"))]
/// struct Person { #[orm(primary_key)] id: i64 }
///
/// #[derive(Model, Debug, Default)]
/// struct Pet { #[orm(primary_key)] id: i64, #[orm(foreign_key = Person::id)] person_id: i64 }
///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<Person>().open("sqlite://")?;
    /// db.create_all()?;
    /// let s = db.session();
    /// let ann = s.add(Person::default())?;
    /// let rex = Obj::new(Pet::default());
    /// rex.set_related(Pet::owner, Some(&ann))?; // rex joins ann's session
    /// s.commit()?;
    /// assert!(rex.related(Pet::owner)?.unwrap() == ann);
    /// # Ok(()) }
    /// ```
    BelongsTo<C, P>,
    example: "Pet::owner" is "owner" of "pets", declared: "false"
);
handle!(
    /// One-to-one from the parent: at most one child (`user.profile`).
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    ///
    /// #[derive(Model, Debug, Default)]
    /// #[orm(has_one(profile = Profile, backref = "user"))]
    /// struct User { #[orm(primary_key)] id: i64 }
    ///
    /// #[derive(Model, Debug, Default)]
    /// struct Profile { #[orm(primary_key)] id: i64, #[orm(foreign_key = User::id, unique)] user_id: i64 }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<User>().open("sqlite://")?;
    /// db.create_all()?;
    /// let s = db.session();
    /// let ann = s.add(User::default())?;
    /// ann.set_related(User::profile, Some(&Obj::new(Profile::default())))?;
    /// s.commit()?;
    /// let profile: Option<Obj<Profile>> = ann.related(User::profile)?;
    /// assert_eq!(profile.unwrap().read()?.user_id, 1);
    /// # Ok(()) }
    /// ```
    HasOne<P, C>,
    example: "Person::profile" is "profile" of "profile", declared: "true"
);
handle!(
    /// Many-to-many through an association table (`post.tags`).
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    ///
    /// #[derive(Model, Debug, Default)]
    /// #[orm(many_to_many(tags = Tag, secondary = PostTag, backref = "posts"))]
    /// struct Post { #[orm(primary_key)] id: i64 }
    ///
    /// #[derive(Model, Debug, Default)]
    /// struct Tag { #[orm(primary_key)] id: i64 }
    ///
    /// #[derive(Model, Debug, Default)]
    /// struct PostTag {
    ///     #[orm(primary_key, foreign_key = Post::id)] post_id: i64,
    ///     #[orm(primary_key, foreign_key = Tag::id)] tag_id: i64,
    /// }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<Post>().open("sqlite://")?;
    /// db.create_all()?;
    /// let s = db.session();
    /// let post = s.add(Post::default())?;
    /// let tag = Obj::new(Tag::default());
    /// post.append(Post::tags, &tag)?;
    /// s.commit()?;
    /// assert_eq!(s.query::<PostTag>().count()?, 1);
    /// assert!(tag.related(Tag::posts)?[0] == post);
    /// # Ok(()) }
    /// ```
    ManyToMany<A, B>,
    example: "Tag::people" is "people" of "tags", declared: "false"
);

use crate::error::{Error, Result};
use crate::model::Model;
use crate::schema::Side;
use crate::session::Obj;
use crate::session::obj::ObjInner;

/// A relationship end usable with [`Obj::related`]: one of the handles the
/// derive creates (`PetHandler::pet_category`, `PetCategory::pet_handler`).
///
/// # Examples
///
/// ```
/// use orm::prelude::*;
///
/// #[derive(Model, Debug, Default)]
/// #[orm(has_many(pets = Pet, backref = "owner"))]
/// struct Person { #[orm(primary_key)] id: i64 }
///
/// #[derive(Model, Debug, Default)]
/// struct Pet { #[orm(primary_key)] id: i64, #[orm(foreign_key = Person::id)] person_id: i64 }
///
/// fn accessor<R: orm::relation::Relation>(r: R) -> &'static str {
///     std::any::type_name::<R::Output>()
/// }
/// assert!(accessor(Person::pets).starts_with("alloc::vec::Vec<"));
/// assert!(accessor(Pet::owner).starts_with("core::option::Option<"));
/// ```
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

/// A relationship end holding a collection ([`HasMany`], [`ManyToMany`]):
/// what [`Obj::append`] and [`Obj::remove`] accept.
///
/// # Examples
///
/// ```
/// use orm::prelude::*;
///
/// #[derive(Model, Debug, Default)]
/// #[orm(has_many(pets = Pet, backref = "owner"))]
/// struct Person { #[orm(primary_key)] id: i64 }
///
/// #[derive(Model, Debug, Default)]
/// struct Pet { #[orm(primary_key)] id: i64, #[orm(foreign_key = Person::id)] person_id: i64 }
///
/// fn collection<R: orm::relation::CollectionRelation>(_: R) {}
/// collection(Person::pets);
/// ```
pub trait CollectionRelation: Relation {}

/// A relationship end holding at most one object ([`BelongsTo`],
/// [`HasOne`]): what [`Obj::set_related`] accepts.
///
/// # Examples
///
/// ```
/// use orm::prelude::*;
///
/// #[derive(Model, Debug, Default)]
/// #[orm(has_many(pets = Pet, backref = "owner"))]
/// struct Person { #[orm(primary_key)] id: i64 }
///
/// #[derive(Model, Debug, Default)]
/// struct Pet { #[orm(primary_key)] id: i64, #[orm(foreign_key = Person::id)] person_id: i64 }
///
/// fn scalar<R: orm::relation::ScalarRelation>(_: R) {}
/// scalar(Pet::owner);
/// ```
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
