//! Eager loading: options a query applies to its results.
//!
//! - [`selectin`]: after the main query, one more query per relationship
//!   level for all results (`WHERE fk IN (...)`, in chunks of
//!   [`Dialect::load_keys`](crate::backend::Dialect::load_keys) keys),
//!   nested with [`Load::then`].
//! - [`joined`]: a reference or a collection loaded by a LEFT OUTER JOIN
//!   in the main query itself (a limited query wrapped in a subquery, so
//!   the limit counts objects); the rows are grouped by object in
//!   `session/load.rs` (`load_objects_joined`).
//!
//! Relationships declared with `lazy = "selectin"` are loaded this way by
//! every query of their model.

use std::marker::PhantomData;
use std::rc::Rc;

use super::handle::Relation;
use crate::error::Result;
use crate::model::Model;
use crate::schema::{Lazy, Side, TableDef};
use crate::session::obj::ErasedObj;
use crate::session::rel::slots::loaded_items;
use crate::session::state::SessionInner;

#[derive(Debug, Clone)]
pub(crate) struct LoadSpec {
    pub side: Side,
    pub joined: bool,
    pub then: Vec<LoadSpec>,
}

/// An eager-loading option for a query over `M`, loading related `T`s.
/// Made by [`selectin`] or [`joined`]; passed to
/// [`Query::load`](crate::Query::load).
///
/// # Examples
///
/// ```
/// use orm::prelude::*;
/// use orm::relation::selectin;
///
/// #[derive(Model, Debug, Default)]
/// #[orm(has_many(pets = Pet, backref = "owner"))]
/// struct Person { #[orm(primary_key)] id: i64 }
///
/// #[derive(Model, Debug, Default)]
/// #[orm(has_many(toys = Toy))]
/// struct Pet { #[orm(primary_key)] id: i64, #[orm(foreign_key = Person::id)] person_id: i64 }
///
/// #[derive(Model, Debug, Default)]
/// struct Toy { #[orm(primary_key)] id: i64, #[orm(foreign_key = Pet::id)] pet_id: i64 }
///
/// # fn main() -> orm::Result<()> {
/// let db = Database::builder().model::<Person>().model::<Toy>().open("sqlite://")?;
/// db.create_all()?;
/// let s = db.session();
/// let rec = db.record();
/// let people = s
///     .query::<Person>()
///     .load(selectin(Person::pets).then(selectin(Pet::toys)))
///     .all()?;
/// assert_eq!(rec.queries().len(), 1); // no people: the deeper levels need no query
/// # let _ = people;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a load option does nothing until passed to Query::load"]
pub struct Load<M, T> {
    pub(crate) spec: LoadSpec,
    _marker: PhantomData<fn() -> (M, T)>,
}

impl<M, T> Load<M, T> {
    /// Also load `sub` for the objects this option loads (one more level).
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// use orm::relation::selectin;
    ///
    /// #[derive(Model, Debug, Default)]
    /// #[orm(has_many(pets = Pet, backref = "owner"))]
    /// struct Person { #[orm(primary_key)] id: i64 }
    ///
    /// #[derive(Model, Debug, Default)]
    /// #[orm(has_many(toys = Toy))]
    /// struct Pet { #[orm(primary_key)] id: i64, #[orm(foreign_key = Person::id)] person_id: i64 }
    ///
    /// #[derive(Model, Debug, Default)]
    /// struct Toy { #[orm(primary_key)] id: i64, #[orm(foreign_key = Pet::id)] pet_id: i64 }
    ///
    /// let _two_levels = selectin(Person::pets).then(selectin(Pet::toys));
    /// ```
    pub fn then<U>(mut self, sub: Load<T, U>) -> Self {
        self.spec.then.push(sub.spec);
        self
    }
}

/// Load `rel` for every result with one extra query per level
/// (SQLAlchemy's `selectinload`).
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
/// let people = s.query::<Person>().load(orm::relation::selectin(Person::pets)).all()?;
/// assert!(people.is_empty());
/// # Ok(()) }
/// ```
pub fn selectin<R: Relation>(rel: R) -> Load<R::From, R::To> {
    Load {
        spec: LoadSpec {
            side: rel.__side(),
            joined: false,
            then: Vec::new(),
        },
        _marker: PhantomData,
    }
}

/// Load a relationship in the main query itself with a LEFT OUTER JOIN
/// (SQLAlchemy's `joinedload`): a many-to-one or one-to-one reference, a
/// collection, or a many-to-many collection (through its association
/// table).
///
/// Each object of the query comes once, with its collection complete, and
/// `limit`, `offset`, [`first`](crate::Query::first) and
/// [`paginate`](crate::Query::paginate) count objects, not join rows: a
/// query with those is wrapped in a subquery and the collection joined to
/// it, as SQLAlchemy does:
/// `SELECT ... FROM (SELECT ... FROM "user" ... LIMIT ?) AS "user" LEFT
/// OUTER JOIN "post" AS "orm_j0" ON ...`. Joining several collections at
/// once multiplies their rows (each is still loaded right);
/// [`selectin`] is then usually cheaper. Nested options under it
/// ([`Load::then`]) load by their own SELECTs.
///
/// # Examples
///
/// ```
/// use orm::prelude::*;
/// use orm::relation::joined;
///
/// #[derive(Model, Debug, Default)]
/// #[orm(has_many(pets = Pet, backref = "owner"))]
/// struct Person { #[orm(primary_key)] id: i64, name: String }
///
/// #[derive(Model, Debug, Default)]
/// struct Pet { #[orm(primary_key)] id: i64, #[orm(foreign_key = Person::id)] person_id: i64 }
///
/// # fn main() -> orm::Result<()> {
/// let db = Database::builder().model::<Person>().open("sqlite://")?;
/// db.create_all()?;
/// let s = db.session();
/// let ann = s.add(Person { name: "Ann".into(), ..Default::default() })?;
/// ann.append(Person::pets, &Obj::new(Pet::default()))?;
/// ann.append(Person::pets, &Obj::new(Pet::default()))?;
/// s.commit()?;
/// let s2 = db.session();
/// let rec = db.record();
/// let pets = s2.query::<Pet>().load(joined(Pet::owner)).all()?;
/// assert_eq!(pets[0].related(Pet::owner)?.unwrap().read()?.name, "Ann");
/// let people = s2.query::<Person>().load(joined(Person::pets)).limit(1).all()?;
/// assert_eq!(people.len(), 1);
/// assert_eq!(people[0].related(Person::pets)?.len(), 2);
/// assert_eq!(rec.queries().len(), 2); // the owners and the pets came with the queries
/// # Ok(()) }
/// ```
pub fn joined<R: Relation>(rel: R) -> Load<R::From, R::To> {
    Load {
        spec: LoadSpec {
            side: rel.__side(),
            joined: true,
            then: Vec::new(),
        },
        _marker: PhantomData,
    }
}

/// The relationships a query loads eagerly.
#[derive(Debug, Clone, Default)]
pub(crate) struct LoadPlan {
    pub specs: Vec<LoadSpec>,
}

impl LoadPlan {
    /// The relationships of `table` declared with `lazy = "selectin"`.
    pub(crate) fn defaults_for(table: &'static TableDef) -> LoadPlan {
        let specs = table
            .relations
            .iter()
            .map(|f| f())
            .filter(|d| d.lazy == Lazy::Selectin && std::ptr::eq((d.model)(), table))
            .map(|d| LoadSpec {
                side: Side::new(d, true),
                joined: false,
                then: Vec::new(),
            })
            .collect();
        LoadPlan { specs }
    }

    pub(crate) fn add(&mut self, spec: LoadSpec) {
        self.specs.retain(|s| s.side.key() != spec.side.key());
        self.specs.push(spec);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    /// The same loads, each top-level one by its own SELECT: for an object
    /// that comes from the identity map or a get by key, with no query to
    /// join to.
    pub(crate) fn without_joins(&self) -> LoadPlan {
        let specs = self
            .specs
            .iter()
            .map(|s| LoadSpec {
                joined: false,
                ..s.clone()
            })
            .collect();
        LoadPlan { specs }
    }

    /// The top-level joined loads.
    pub(crate) fn joined(&self) -> impl Iterator<Item = &LoadSpec> {
        self.specs.iter().filter(|s| s.joined)
    }

    /// Run the selectin loads (and the nested loads under joined ones) for
    /// the query's results.
    pub(crate) fn run_after(
        &self,
        session: &SessionInner,
        owners: &[Rc<dyn ErasedObj>],
    ) -> Result<()> {
        if owners.is_empty() {
            return Ok(());
        }
        for spec in &self.specs {
            run(session, spec, owners, true)?;
        }
        Ok(())
    }
}

/// Load `spec` for `owners`: a top-level joined load came with the main
/// query (its objects are in the owners' slots); any other load runs its
/// own SELECT.
fn run(
    session: &SessionInner,
    spec: &LoadSpec,
    owners: &[Rc<dyn ErasedObj>],
    top: bool,
) -> Result<()> {
    let joined_already = spec.joined && top;
    if spec.then.is_empty() {
        // The last level: its objects are not needed here.
        return if joined_already {
            Ok(())
        } else {
            session.load_side_only(spec.side, owners)
        };
    }
    let related = if joined_already {
        owners
            .iter()
            .flat_map(|o| loaded_items(o, spec.side).unwrap_or_default())
            .collect()
    } else {
        session.load_side(spec.side, owners)?
    };
    if related.is_empty() {
        return Ok(());
    }
    for sub in &spec.then {
        run(session, sub, &related, false)?;
    }
    Ok(())
}

impl<M: Model, T> From<Load<M, T>> for LoadSpec {
    fn from(l: Load<M, T>) -> LoadSpec {
        l.spec
    }
}
