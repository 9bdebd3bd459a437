//! Static relationship metadata, and its resolution against foreign keys.
//!
//! The derive emits one [`RelationDef`] per `has_many` / `has_one` /
//! `belongs_to` / `many_to_many` attribute. It only sees one struct, so it
//! cannot know which foreign key links the two models; [`RelationDef::link`]
//! works that out once, on first use or when the database is opened, and
//! reports a missing or ambiguous foreign key as [`Error::Schema`].
//!
//! The resolved [`Link`] is also the one place that writes the conditions
//! a relationship end needs, as SQL expressions: the join conditions between
//! the owner's table, the association table and the related table
//! (`Query::join`, `joined()` loading, many-to-many loading), and the
//! condition selecting related rows by a list of keys (lazy and selectin
//! loading).

use std::fmt;
use std::sync::OnceLock;

use super::table::TableDef;
use crate::error::{Error, Result};
use crate::sql::ast::{BinOp, Expr, Ident};
use crate::types::Value;

/// The shape of a relationship, seen from the model that declares it.
///
/// # Examples
///
/// ```
/// use orm::schema::RelationKind;
/// assert!(RelationKind::HasMany.is_collection());
/// assert!(!RelationKind::BelongsTo.is_collection());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelationKind {
    /// One-to-many: the target rows hold a foreign key to this model.
    HasMany,
    /// One-to-one: like `HasMany`, but at most one target row.
    HasOne,
    /// Many-to-one: this model holds a foreign key to the target.
    BelongsTo,
    /// Many-to-many through an association table.
    ManyToMany,
}

impl RelationKind {
    /// Whether the declaring side sees a list.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(orm::schema::RelationKind::ManyToMany.is_collection());
    /// ```
    pub fn is_collection(self) -> bool {
        matches!(self, RelationKind::HasMany | RelationKind::ManyToMany)
    }
}

/// How a relationship is loaded when nothing else is asked for.
///
/// # Examples
///
/// ```
/// assert_eq!(orm::schema::Lazy::default(), orm::schema::Lazy::Select);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lazy {
    /// On first access, one query for this object (SQLAlchemy's `lazy="select"`).
    #[default]
    Select,
    /// With every query of the owner, one extra query for all owners
    /// (SQLAlchemy's `lazy="selectin"`).
    Selectin,
}

/// Which operations on a parent flow to its related objects.
///
/// The default is SQLAlchemy's: `save-update` only.
///
/// # Examples
///
/// ```
/// let c = orm::schema::Cascade::ALL_DELETE_ORPHAN;
/// assert!(c.save_update && c.delete && c.delete_orphan);
/// assert!(!orm::schema::Cascade::DEFAULT.delete);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cascade {
    /// Adding the parent to a session adds its related objects.
    pub save_update: bool,
    /// Deleting the parent deletes its related objects.
    pub delete: bool,
    /// Removing a child from the parent's collection deletes the child.
    pub delete_orphan: bool,
}

impl Cascade {
    /// `save-update` only.
    pub const DEFAULT: Cascade = Cascade {
        save_update: true,
        delete: false,
        delete_orphan: false,
    };
    /// `all`: save-update and delete.
    pub const ALL: Cascade = Cascade {
        save_update: true,
        delete: true,
        delete_orphan: false,
    };
    /// `all, delete-orphan`.
    pub const ALL_DELETE_ORPHAN: Cascade = Cascade {
        save_update: true,
        delete: true,
        delete_orphan: true,
    };
}

impl Default for Cascade {
    fn default() -> Self {
        Cascade::DEFAULT
    }
}

/// One relationship declaration, emitted by the derive for each
/// `has_many` / `has_one` / `belongs_to` / `many_to_many` attribute.
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
/// let def = Person::pets.def();
/// assert_eq!((def.name, def.backref), ("pets", Some("owner")));
/// assert_eq!(def.kind, orm::schema::RelationKind::HasMany);
/// ```
pub struct RelationDef {
    /// Accessor name on the declaring model.
    pub name: &'static str,
    /// Shape, seen from the declaring model.
    pub kind: RelationKind,
    /// The declaring model.
    pub model: fn() -> &'static TableDef,
    /// The other model.
    pub target: fn() -> &'static TableDef,
    /// Name of the reverse accessor this declaration creates on the target.
    pub backref: Option<&'static str>,
    /// Name of a relationship declared on the target that is the reverse of
    /// this one.
    pub back_populates: Option<&'static str>,
    /// Foreign key columns (SQL names) on the child table, when the child has
    /// several foreign keys to the parent. Empty means "the only one".
    pub foreign_key: &'static [&'static str],
    /// The association table of a many-to-many relationship.
    pub secondary: Option<fn() -> &'static TableDef>,
    /// Cascades from the parent side.
    pub cascade: Cascade,
    /// Default loading strategy of the declaring side.
    pub lazy: Lazy,
    /// `post_update` (SQLAlchemy's name): the foreign key is written by a
    /// second UPDATE once both rows exist (and set to NULL by an UPDATE
    /// before a DELETE), so two rows may reference each other.
    pub post_update: bool,
    #[doc(hidden)]
    pub __link: OnceLock<std::result::Result<Link, String>>,
}

impl fmt::Debug for RelationDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RelationDef")
            .field("model", &(self.model)().model)
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("target", &(self.target)().model)
            .field("backref", &self.backref)
            .finish_non_exhaustive()
    }
}

/// One end of a relationship: the declaration plus which end (the declaring
/// model's accessor, or the reverse accessor its backref created).
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct Side {
    /// The declaration.
    pub def: &'static RelationDef,
    /// True for the declaring model's end.
    pub declared: bool,
}

/// What the objects at the other end of a [`Side`] are to its owner.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The owner is the parent; the others hold a foreign key to it.
    Children {
        /// At most one (one-to-one).
        single: bool,
    },
    /// The owner holds the foreign key; the other is its parent.
    Parent,
    /// Many-to-many through an association table.
    Links,
}

impl Side {
    /// A side from its parts.
    pub fn new(def: &'static RelationDef, declared: bool) -> Side {
        Side { def, declared }
    }

    /// Identity of the side, for slot lookup.
    pub fn key(self) -> (usize, bool) {
        (self.def as *const RelationDef as usize, self.declared)
    }

    /// The owner's view of the related objects.
    pub fn role(self) -> Role {
        match (self.def.kind, self.declared) {
            (RelationKind::HasMany, true) | (RelationKind::BelongsTo, false) => {
                Role::Children { single: false }
            }
            (RelationKind::HasOne, true) => Role::Children { single: true },
            (RelationKind::HasMany | RelationKind::HasOne, false)
            | (RelationKind::BelongsTo, true) => Role::Parent,
            (RelationKind::ManyToMany, _) => Role::Links,
        }
    }

    /// The model the accessor is on.
    pub fn owner(self) -> &'static TableDef {
        if self.declared {
            (self.def.model)()
        } else {
            (self.def.target)()
        }
    }

    /// The model of the related objects.
    pub fn other(self) -> &'static TableDef {
        if self.declared {
            (self.def.target)()
        } else {
            (self.def.model)()
        }
    }

    /// The accessor name.
    pub fn name(self) -> &'static str {
        if self.declared {
            self.def.name
        } else {
            self.def.backref.unwrap_or(self.def.name)
        }
    }

    /// The reverse end: the backref of a declaration, or the relationship
    /// named by `back_populates`.
    pub fn partner(self) -> Side {
        if let Some(other) = self.def.back_populates {
            let found = (self.def.target)()
                .relations
                .iter()
                .map(|f| f())
                .find(|d| d.name == other);
            if let Some(d) = found {
                return Side::new(d, true);
            }
        }
        Side::new(self.def, !self.declared)
    }

    /// Cascades flowing from this end to the related objects: the
    /// declaration's for the declaring end, `save-update` for a backref end.
    pub fn cascade(self) -> Cascade {
        if self.declared {
            self.def.cascade
        } else {
            Cascade::DEFAULT
        }
    }

    /// "Model.accessor", for messages.
    pub fn describe(self) -> String {
        format!("{}.{}", self.owner().model, self.name())
    }
}

impl fmt::Debug for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

/// How a relationship maps onto foreign keys, worked out once.
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
/// let link: &orm::schema::Link = Person::pets.def().link().unwrap();
/// assert_eq!((link.parent.name, link.child.name), ("person", "pet"));
/// assert!(link.secondary.is_none());
/// ```
#[derive(Debug, Clone)]
pub struct Link {
    /// The table whose key is referenced (the "one" side).
    pub parent: &'static TableDef,
    /// The table holding the foreign key (the "many" side), or for
    /// many-to-many the model on the declaring side.
    pub child: &'static TableDef,
    /// Column indices on the child (or association table) holding the key.
    pub child_columns: Vec<usize>,
    /// Column indices on the parent that are referenced.
    pub parent_columns: Vec<usize>,
    /// For many-to-many: the association table, its columns that reference
    /// the declaring model (`child_columns` above) and the target
    /// (`target_columns`), and the target columns referenced.
    pub secondary: Option<SecondaryLink>,
}

/// The association-table half of a many-to-many link.
///
/// # Examples
///
/// ```
/// use orm::prelude::*;
///
/// #[derive(Model, Debug, Default)]
/// #[orm(many_to_many(tags = Tag, secondary = PostTag))]
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
/// let link = Post::tags.def().link().unwrap();
/// let assoc = link.secondary.as_ref().unwrap();
/// assert_eq!(assoc.table.name, "post_tag");
/// ```
#[derive(Debug, Clone)]
pub struct SecondaryLink {
    /// The association table.
    pub table: &'static TableDef,
    /// Its columns that reference the declaring model.
    pub owner_columns: Vec<usize>,
    /// The declaring model's referenced columns.
    pub owner_key: Vec<usize>,
    /// Its columns that reference the target model.
    pub target_columns: Vec<usize>,
    /// The target model's referenced columns.
    pub target_key: Vec<usize>,
}

/// One of the tables the conditions of a relationship end compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LinkTable {
    /// The table of the model the accessor is on.
    Owner,
    /// The association table of a many-to-many relationship.
    Assoc,
    /// The table of the related objects.
    Other,
}

impl LinkTable {
    /// This table under the name or alias a statement gives it.
    pub(crate) fn named(self, name: impl Into<Ident>) -> NamedTable {
        NamedTable {
            table: self,
            name: name.into(),
        }
    }
}

/// A [`LinkTable`] with the name or alias it has in one statement.
#[derive(Debug, Clone)]
pub(crate) struct NamedTable {
    table: LinkTable,
    name: Ident,
}

/// A table and some of its columns (indices).
type Columns<'a> = (&'static TableDef, &'a [usize]);

/// The columns that the conditions of one relationship end compare, from
/// the owner's table to the related objects' table.
struct Path<'a> {
    /// The owner's columns whose values select the related rows.
    owner: Columns<'a>,
    /// The table next to the owner (the related table, or for many-to-many
    /// the association table) and its columns matching `owner`, in order.
    near: Columns<'a>,
    /// Many-to-many only: the association table's columns that reference
    /// the related model, and that model's columns they reference.
    far: Option<(Columns<'a>, Columns<'a>)>,
}

impl SecondaryLink {
    /// Seen from the declaring end (`declared`) or the backref end: the
    /// association columns referencing the owner's model, the owner's
    /// referenced columns, the association columns referencing the other
    /// model, and the other model's referenced columns.
    fn ends(&self, declared: bool) -> [&[usize]; 4] {
        if declared {
            [
                &self.owner_columns,
                &self.owner_key,
                &self.target_columns,
                &self.target_key,
            ]
        } else {
            [
                &self.target_columns,
                &self.target_key,
                &self.owner_columns,
                &self.owner_key,
            ]
        }
    }
}

impl Link {
    /// The columns of `side`'s conditions. `side` must be an end of the
    /// relationship this link was resolved for.
    fn path(&self, side: Side) -> Result<Path<'_>> {
        let (owner, other) = (side.owner(), side.other());
        Ok(match side.role() {
            Role::Children { .. } => Path {
                owner: (owner, &self.parent_columns),
                near: (other, &self.child_columns),
                far: None,
            },
            Role::Parent => Path {
                owner: (owner, &self.child_columns),
                near: (other, &self.parent_columns),
                far: None,
            },
            Role::Links => {
                let sl = self.secondary.as_ref().ok_or_else(|| {
                    Error::Schema(format!("{} has no association table", side.describe()))
                })?;
                let [own_cols, own_key, other_cols, other_key] = sl.ends(side.declared);
                Path {
                    owner: (owner, own_key),
                    near: (sl.table, own_cols),
                    far: Some(((sl.table, other_cols), (other, other_key))),
                }
            }
        })
    }

    /// The owner's columns whose values are the keys given to
    /// [`Link::key_condition`]: its referenced key for children and
    /// many-to-many, its foreign key for a parent.
    pub(crate) fn owner_key(&self, side: Side) -> Result<&[usize]> {
        Ok(self.path(side)?.owner.1)
    }

    /// The table [`Link::key_condition`] filters (the related table, or the
    /// association table for many-to-many) and its columns compared with
    /// the keys, in the order of [`Link::owner_key`].
    pub(crate) fn key_columns(&self, side: Side) -> Result<(&'static TableDef, &[usize])> {
        Ok(self.path(side)?.near)
    }

    /// The condition selecting the rows related to owners with the given
    /// keys: `t.c IN (...)` for one key column, one flat OR of ANDs
    /// (`t.a = ? AND t.b = ? OR ...`) for several, where `t` is the
    /// [`Link::key_columns`] table, named `table` in the statement. `keys`
    /// holds each key's values one after the other, in the order of
    /// [`Link::owner_key`] (taken, not copied: an IN list can hold 65,535).
    pub(crate) fn key_condition(
        &self,
        side: Side,
        table: impl Into<Ident>,
        keys: Vec<Value>,
    ) -> Expr {
        let (t, columns) = match self.key_columns(side) {
            Ok(c) => c,
            Err(e) => return Expr::Invalid(e.to_string()),
        };
        let table = table.into();
        if let [column] = columns {
            return Expr::InList {
                expr: Box::new(Expr::column(table, t.columns[*column].name)),
                list: keys,
                negated: false,
            };
        }
        if columns.is_empty() {
            return Expr::Bool(false);
        }
        // One flat OR list, however many keys (a load passes up to
        // `Dialect::load_keys`).
        let ors = keys
            .chunks(columns.len())
            .map(|k| {
                Expr::and_all(
                    columns
                        .iter()
                        .zip(k)
                        .map(|(&c, v)| {
                            Expr::binary(
                                BinOp::Eq,
                                Expr::column(table.clone(), t.columns[c].name),
                                Expr::Value(v.clone()),
                            )
                        })
                        .collect(),
                )
                .unwrap_or(Expr::Bool(false))
            })
            .collect();
        Expr::or_all(ors).unwrap_or(Expr::Bool(false))
    }

    /// The condition joining table `joined` to the table `to` next to it on
    /// `side`'s path (owner and related table; or for many-to-many, owner
    /// and association table, association and related table):
    /// `joined.a = to.b AND ...`, each table under the name or alias the
    /// statement gives it. Tables that are not next to each other give an
    /// invalid expression (an error when the statement is written).
    pub(crate) fn join_on(&self, side: Side, joined: NamedTable, to: NamedTable) -> Expr {
        let path = match self.path(side) {
            Ok(p) => p,
            Err(e) => return Expr::Invalid(e.to_string()),
        };
        let near = if path.far.is_some() {
            LinkTable::Assoc
        } else {
            LinkTable::Other
        };
        let hop = match (joined.table, to.table) {
            (LinkTable::Owner, t) if t == near => Some((path.owner, path.near)),
            (t, LinkTable::Owner) if t == near => Some((path.near, path.owner)),
            (LinkTable::Assoc, LinkTable::Other) => path.far,
            (LinkTable::Other, LinkTable::Assoc) => path.far.map(|(a, o)| (o, a)),
            _ => None,
        };
        let Some(((jt, jc), (tt, tc))) = hop else {
            return Expr::Invalid(format!(
                "{}: no join condition between {:?} and {:?}",
                side.describe(),
                joined.table,
                to.table
            ));
        };
        Expr::and_all(
            jc.iter()
                .zip(tc)
                .map(|(&x, &y)| {
                    Expr::binary(
                        BinOp::Eq,
                        Expr::column(joined.name.clone(), jt.columns[x].name),
                        Expr::column(to.name.clone(), tt.columns[y].name),
                    )
                })
                .collect(),
        )
        .unwrap_or(Expr::Bool(true))
    }
}

impl RelationDef {
    /// Resolve the foreign key behind this relationship (cached).
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
    /// let link = Person::pets.def().link().unwrap();
    /// assert_eq!(link.child.columns[link.child_columns[0]].name, "person_id");
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Schema`] when the child has no foreign key to the parent,
    /// several and none was chosen with `foreign_key = ...`, or a named
    /// column does not exist.
    pub fn link(&'static self) -> Result<&'static Link> {
        self.__link
            .get_or_init(|| self.resolve())
            .as_ref()
            .map_err(|m| Error::Schema(m.clone()))
    }

    fn resolve(&'static self) -> std::result::Result<Link, String> {
        let model = (self.model)();
        let target = (self.target)();
        let what = format!("relationship {}.{}", model.model, self.name);
        if self.kind == RelationKind::ManyToMany {
            let Some(secondary) = self.secondary else {
                return Err(format!("{what}: many_to_many needs `secondary = Model`"));
            };
            let table = secondary();
            let ((owner_columns, owner_key), (target_columns, target_key)) =
                if std::ptr::eq(model, target) {
                    // Self-referential: the first foreign key to the table points
                    // at the owner, the second at the target.
                    self_referential_fks(table, model, &what)?
                } else {
                    (
                        find_fk(table, model, &[], &what)?,
                        find_fk(table, target, &[], &what)?,
                    )
                };
            return Ok(Link {
                parent: model,
                child: target,
                child_columns: owner_columns.clone(),
                parent_columns: owner_key.clone(),
                secondary: Some(SecondaryLink {
                    table,
                    owner_columns,
                    owner_key,
                    target_columns,
                    target_key,
                }),
            });
        }
        let (parent, child) = match self.kind {
            RelationKind::BelongsTo => (target, model),
            _ => (model, target),
        };
        let (child_columns, parent_columns) = find_fk(child, parent, self.foreign_key, &what)?;
        if let Some(&c) = child_columns
            .iter()
            .find(|&&c| self.post_update && !child.columns[c].nullable)
        {
            return Err(format!(
                "{what}: post_update writes `{}.{}` after the row exists and NULL before it is deleted: make the field an Option",
                child.name, child.columns[c].name
            ));
        }
        Ok(Link {
            parent,
            child,
            child_columns,
            parent_columns,
            secondary: None,
        })
    }
}

/// Find the foreign key of `child` that references `parent`.
fn find_fk(
    child: &'static TableDef,
    parent: &'static TableDef,
    wanted: &[&str],
    what: &str,
) -> std::result::Result<FkColumns, String> {
    let candidates: Vec<_> = child
        .foreign_keys
        .iter()
        .filter(|fk| fk.target.table_name() == parent.name)
        .filter(|fk| {
            wanted.is_empty()
                || (fk.columns.len() == wanted.len()
                    && fk
                        .columns
                        .iter()
                        .zip(wanted)
                        .all(|(&i, w)| child.columns[i].name == *w))
        })
        .collect();
    let fk = match candidates.as_slice() {
        [one] => *one,
        [] if wanted.is_empty() => {
            return Err(format!(
                "{what}: table `{}` has no foreign key to `{}`; add #[orm(foreign_key = {}::<column>)] to a field of {}",
                child.name, parent.name, parent.model, child.model
            ));
        }
        [] => {
            return Err(format!(
                "{what}: `{}` is not a foreign key of `{}` to `{}`",
                wanted.join(", "),
                child.name,
                parent.name
            ));
        }
        _ => {
            return Err(format!(
                "{what}: table `{}` has several foreign keys to `{}`; choose one with foreign_key = \"<column>\"",
                child.name, parent.name
            ));
        }
    };
    let parent_columns = fk
        .target
        .columns()
        .iter()
        .map(|name| {
            parent.column_index(name).ok_or_else(|| {
                format!(
                    "{what}: foreign key of `{}` references `{}.{}`, which does not exist",
                    child.name, parent.name, name
                )
            })
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok((fk.columns.to_vec(), parent_columns))
}

type FkColumns = (Vec<usize>, Vec<usize>);

/// For a self-referential association table: its two foreign keys to `table`.
fn self_referential_fks(
    assoc: &'static TableDef,
    table: &'static TableDef,
    what: &str,
) -> std::result::Result<(FkColumns, FkColumns), String> {
    let fks: Vec<_> = assoc
        .foreign_keys
        .iter()
        .filter(|fk| fk.target.table_name() == table.name)
        .collect();
    let [owner, target] = fks.as_slice() else {
        return Err(format!(
            "{what}: association table `{}` needs exactly two foreign keys to `{}`",
            assoc.name, table.name
        ));
    };
    let key = |fk: &crate::schema::ForeignKeyDef| -> FkColumns {
        let referenced = fk
            .target
            .columns()
            .iter()
            .filter_map(|n| table.column_index(n))
            .collect();
        (fk.columns.to_vec(), referenced)
    };
    Ok((key(owner), key(target)))
}

#[cfg(test)]
pub(super) mod tests {
    //! Link resolution and the condition builders, over metadata built by
    //! hand (the derive emits `::orm::` paths, so it cannot be used here).
    //! The fixture helpers are shared with the registry's tests.

    use super::*;
    use crate::backend::Row;
    use crate::model::Model;
    use crate::schema::ColumnSet;
    use crate::schema::{ColumnDef, ForeignKeyDef, ForeignTarget, TableCache};
    use crate::session::ModelOps;
    use crate::sql::ast::{Select, Statement, TableRef};
    use crate::types::{ToSqlOutput, ValueRef};

    /// The model behind every hand-built table's `ModelOps`; its rows are
    /// never loaded.
    pub(crate) struct Stub;

    impl Model for Stub {
        type Key = i64;
        type __Store = crate::session::LazyExtra<Self>;
        fn table() -> &'static TableDef {
            unreachable!("test tables are never loaded")
        }
        fn key(&self) -> i64 {
            0
        }
        fn __decode<C: crate::backend::Columns + ?Sized>(
            _: &C,
            _: usize,
            _: Option<i64>,
        ) -> Result<Self> {
            Ok(Stub)
        }
        fn __key_from_row(_: &Row<'_>, _: usize) -> Result<i64> {
            Ok(0)
        }
        fn __column_value(&self, _: usize) -> Result<ToSqlOutput<'_>> {
            Ok(ToSqlOutput::from(0i64))
        }
        fn __set_column(&mut self, _: usize, _: ValueRef<'_>) -> Result<()> {
            Ok(())
        }
        fn __changed_columns(&self, _: &Self) -> ColumnSet {
            ColumnSet::empty()
        }
        fn __snapshot(&self) -> Self {
            Stub
        }
    }

    /// An INTEGER column whose field has the same name.
    pub(crate) const fn col(name: &'static str) -> ColumnDef {
        ColumnDef {
            pg_type: "",
            name,
            field: name,
            sql_type: "INTEGER",
            nullable: false,
            primary_key: false,
            unique: false,
            index: false,
            default: None,
            insert_default: None,
            update_default: None,
        }
    }

    /// A table as the derive would emit it (no indexes).
    pub(crate) const fn table(
        name: &'static str,
        model: &'static str,
        columns: &'static [ColumnDef],
        primary_key: &'static [usize],
        foreign_keys: &'static [ForeignKeyDef],
        relations: &'static [fn() -> &'static RelationDef],
    ) -> TableDef {
        TableDef {
            name,
            model,
            columns,
            primary_key,
            auto_increment: false,
            version: None,
            foreign_keys,
            indexes: &[],
            relations,
            soft_delete: None,
            __cache: TableCache::new(),
            __ops: ModelOps::of::<Stub>(),
        }
    }

    /// A foreign key to a model's table.
    pub(crate) const fn fk(
        columns: &'static [usize],
        table: fn() -> &'static TableDef,
        target: &'static [&'static str],
    ) -> ForeignKeyDef {
        ForeignKeyDef {
            columns,
            target: ForeignTarget::Model {
                table,
                columns: target,
            },
            on_delete: None,
            on_update: None,
        }
    }

    /// A relationship with the derive's defaults.
    pub(crate) const fn rel(
        name: &'static str,
        kind: RelationKind,
        model: fn() -> &'static TableDef,
        target: fn() -> &'static TableDef,
    ) -> RelationDef {
        RelationDef {
            name,
            kind,
            model,
            target,
            backref: None,
            back_populates: None,
            foreign_key: &[],
            secondary: None,
            cascade: Cascade::DEFAULT,
            lazy: Lazy::Select,
            post_update: false,
            __link: OnceLock::new(),
        }
    }

    /// `rel` with a backref.
    pub(crate) const fn with_backref(mut r: RelationDef, backref: &'static str) -> RelationDef {
        r.backref = Some(backref);
        r
    }

    /// `rel` with an association table.
    pub(crate) const fn with_secondary(
        mut r: RelationDef,
        secondary: fn() -> &'static TableDef,
    ) -> RelationDef {
        r.secondary = Some(secondary);
        r
    }

    /// `rel` with its foreign key chosen by column name.
    pub(crate) const fn with_foreign_key(
        mut r: RelationDef,
        columns: &'static [&'static str],
    ) -> RelationDef {
        r.foreign_key = columns;
        r
    }

    use RelationKind::{BelongsTo, HasMany, HasOne, ManyToMany};

    // Person 1-n Pet, the plain case.
    static PERSON: TableDef = table(
        "person",
        "Person",
        &[col("id"), col("name")],
        &[0],
        &[],
        &[],
    );
    static PET: TableDef = table(
        "pet",
        "Pet",
        &[col("id"), col("kind"), col("person_id")],
        &[0],
        &[fk(&[2], || &PERSON, &["id"])],
        &[],
    );
    pub(crate) static PETS: RelationDef =
        with_backref(rel("pets", HasMany, || &PERSON, || &PET), "owner");

    // Shelf (composite key) 1-n Book, n-m Label through ShelfLabel.
    static SHELF: TableDef = table(
        "shelf",
        "Shelf",
        &[col("room"), col("slot")],
        &[0, 1],
        &[],
        &[],
    );
    static BOOK: TableDef = table(
        "book",
        "Book",
        &[col("id"), col("shelf_room"), col("shelf_slot")],
        &[0],
        &[fk(&[1, 2], || &SHELF, &["room", "slot"])],
        &[],
    );
    static BOOKS: RelationDef = with_backref(rel("books", HasMany, || &SHELF, || &BOOK), "shelf");
    static PLACED_ON: RelationDef = rel("placed_on", BelongsTo, || &BOOK, || &SHELF);
    static LABEL: TableDef = table("label", "Label", &[col("id")], &[0], &[], &[]);
    static SHELF_LABEL: TableDef = table(
        "shelf_label",
        "ShelfLabel",
        &[col("room"), col("slot"), col("label_id")],
        &[0, 1, 2],
        &[
            fk(&[0, 1], || &SHELF, &["room", "slot"]),
            fk(&[2], || &LABEL, &["id"]),
        ],
        &[],
    );
    static LABELS: RelationDef = with_secondary(
        with_backref(rel("labels", ManyToMany, || &SHELF, || &LABEL), "shelves"),
        || &SHELF_LABEL,
    );

    // Account and Transfer: two foreign keys to one table.
    static ACCOUNT: TableDef = table("account", "Account", &[col("id")], &[0], &[], &[]);
    static TRANSFER: TableDef = table(
        "transfer",
        "Transfer",
        &[col("id"), col("from_id"), col("to_id")],
        &[0],
        &[
            fk(&[1], || &ACCOUNT, &["id"]),
            fk(&[2], || &ACCOUNT, &["id"]),
        ],
        &[],
    );
    static TRANSFERS: RelationDef = rel("transfers", HasMany, || &ACCOUNT, || &TRANSFER);
    static SENT: RelationDef = with_foreign_key(
        with_backref(rel("sent", HasMany, || &ACCOUNT, || &TRANSFER), "sender"),
        &["from_id"],
    );
    static RECEIVER: RelationDef = with_foreign_key(
        rel("receiver", BelongsTo, || &TRANSFER, || &ACCOUNT),
        &["to_id"],
    );
    static WRONG: RelationDef =
        with_foreign_key(rel("wrong", HasMany, || &ACCOUNT, || &TRANSFER), &["nope"]);

    // No foreign key at all; a foreign key to a column that does not exist.
    static OWNER: TableDef = table("owner", "Owner", &[col("id")], &[0], &[], &[]);
    static THING: TableDef = table("thing", "Thing", &[col("id")], &[0], &[], &[]);
    static THINGS: RelationDef = rel("things", HasMany, || &OWNER, || &THING);
    static BROKEN: TableDef = table(
        "broken",
        "Broken",
        &[col("id"), col("person_ref")],
        &[0],
        &[fk(&[1], || &PERSON, &["missing"])],
        &[],
    );
    static BROKEN_PERSON: RelationDef = rel("person", BelongsTo, || &BROKEN, || &PERSON);

    // Self-referential one-to-many.
    static EMPLOYEE: TableDef = table(
        "employee",
        "Employee",
        &[col("id"), col("manager_id")],
        &[0],
        &[fk(&[1], || &EMPLOYEE, &["id"])],
        &[],
    );
    static REPORTS: RelationDef = with_backref(
        rel("reports", HasMany, || &EMPLOYEE, || &EMPLOYEE),
        "manager",
    );

    // Many-to-many through an association table.
    static POST: TableDef = table("post", "Post", &[col("id")], &[0], &[], &[]);
    static TAG: TableDef = table("tag", "Tag", &[col("id"), col("name")], &[0], &[], &[]);
    static POST_TAG: TableDef = table(
        "post_tag",
        "PostTag",
        &[col("post_id"), col("tag_id")],
        &[0, 1],
        &[fk(&[0], || &POST, &["id"]), fk(&[1], || &TAG, &["id"])],
        &[],
    );
    static TAGS: RelationDef = with_secondary(
        with_backref(rel("tags", ManyToMany, || &POST, || &TAG), "posts"),
        || &POST_TAG,
    );
    static NO_SECONDARY: RelationDef = rel("loose", ManyToMany, || &POST, || &TAG);

    // Self-referential many-to-many; and an association table with one key.
    static NODE: TableDef = table("node", "Node", &[col("id")], &[0], &[], &[]);
    static FOLLOW: TableDef = table(
        "follow",
        "Follow",
        &[col("follower_id"), col("followed_id")],
        &[0, 1],
        &[fk(&[0], || &NODE, &["id"]), fk(&[1], || &NODE, &["id"])],
        &[],
    );
    static FOLLOWS: RelationDef = with_secondary(
        with_backref(rel("follows", ManyToMany, || &NODE, || &NODE), "followers"),
        || &FOLLOW,
    );
    static HALF_FOLLOW: TableDef = table(
        "half_follow",
        "HalfFollow",
        &[col("node_id")],
        &[0],
        &[fk(&[0], || &NODE, &["id"])],
        &[],
    );
    static HALF: RelationDef =
        with_secondary(rel("half", ManyToMany, || &NODE, || &NODE), || &HALF_FOLLOW);

    // One-to-one.
    static USER: TableDef = table("user", "User", &[col("id")], &[0], &[], &[]);
    static PROFILE: TableDef = table(
        "profile",
        "Profile",
        &[col("id"), col("user_id")],
        &[0],
        &[fk(&[1], || &USER, &["id"])],
        &[],
    );
    static PROFILE_REL: RelationDef =
        with_backref(rel("profile", HasOne, || &USER, || &PROFILE), "user");

    fn declared(def: &'static RelationDef) -> Side {
        Side::new(def, true)
    }

    fn backref(def: &'static RelationDef) -> Side {
        Side::new(def, false)
    }

    fn link(def: &'static RelationDef) -> &'static Link {
        def.link().unwrap()
    }

    fn schema_error(def: &'static RelationDef) -> String {
        match def.link() {
            Err(Error::Schema(m)) => m,
            other => panic!("expected a schema error, got {other:?}"),
        }
    }

    /// A condition as the writer writes it after WHERE, and its parameters.
    fn sql(cond: Expr) -> (String, Vec<Value>) {
        let mut s = Select::new(TableRef::new("t"));
        s.columns.push(Expr::column("t", "c"));
        s.filter = Some(cond);
        let w = crate::sql::writer::write(&Statement::Select(s), &crate::backend::Dialect::SQLITE)
            .unwrap();
        let text = w.sql.strip_prefix(r#"SELECT "t"."c" FROM "t" WHERE "#);
        (text.unwrap().to_owned(), w.params)
    }

    fn join(
        side: Side,
        joined: (LinkTable, &'static str),
        to: (LinkTable, &'static str),
    ) -> String {
        let on = link(side.def).join_on(side, joined.0.named(joined.1), to.0.named(to.1));
        sql(on).0
    }

    fn keys(side: Side, table: &'static str, keys: &[i64]) -> (String, Vec<Value>) {
        let keys: Vec<Value> = keys.iter().map(|&k| Value::Integer(k)).collect();
        sql(link(side.def).key_condition(side, table, keys.to_vec()))
    }

    fn ints(v: &[i64]) -> Vec<Value> {
        v.iter().map(|&k| Value::Integer(k)).collect()
    }

    use LinkTable::{Assoc, Other, Owner};

    #[test]
    fn the_only_foreign_key_to_the_parent_links_a_one_to_many() {
        let l = link(&PETS);
        assert!(std::ptr::eq(l.parent, &PERSON) && std::ptr::eq(l.child, &PET));
        assert_eq!(
            (l.child_columns.as_slice(), l.parent_columns.as_slice()),
            (&[2][..], &[0][..])
        );
        assert!(l.secondary.is_none());
        // Resolved once.
        assert!(std::ptr::eq(l, link(&PETS)));
        assert_eq!(declared(&PETS).role(), Role::Children { single: false });
        assert_eq!(backref(&PETS).role(), Role::Parent);
    }

    #[test]
    fn belongs_to_makes_the_declaring_model_the_child() {
        let l = link(&PLACED_ON);
        assert!(std::ptr::eq(l.parent, &SHELF) && std::ptr::eq(l.child, &BOOK));
        assert_eq!(l.child_columns, [1, 2]);
        assert_eq!(l.parent_columns, [0, 1]);
        assert_eq!(declared(&PLACED_ON).role(), Role::Parent);
        // The same foreign key from the other end.
        let l = link(&BOOKS);
        assert!(std::ptr::eq(l.parent, &SHELF) && std::ptr::eq(l.child, &BOOK));
        assert_eq!(
            (l.child_columns.clone(), l.parent_columns.clone()),
            (vec![1, 2], vec![0, 1])
        );
    }

    #[test]
    fn an_explicit_foreign_key_chooses_among_several() {
        let l = link(&SENT);
        assert!(std::ptr::eq(l.child, &TRANSFER));
        assert_eq!(
            (l.child_columns.as_slice(), l.parent_columns.as_slice()),
            (&[1][..], &[0][..])
        );
        let l = link(&RECEIVER);
        assert!(std::ptr::eq(l.parent, &ACCOUNT) && std::ptr::eq(l.child, &TRANSFER));
        assert_eq!(
            (l.child_columns.as_slice(), l.parent_columns.as_slice()),
            (&[2][..], &[0][..])
        );
    }

    #[test]
    fn missing_ambiguous_and_unknown_foreign_keys_are_schema_errors() {
        assert_eq!(
            schema_error(&THINGS),
            "relationship Owner.things: table `thing` has no foreign key to `owner`; add #[orm(foreign_key = Owner::<column>)] to a field of Thing"
        );
        assert_eq!(
            schema_error(&TRANSFERS),
            "relationship Account.transfers: table `transfer` has several foreign keys to `account`; choose one with foreign_key = \"<column>\""
        );
        assert_eq!(
            schema_error(&WRONG),
            "relationship Account.wrong: `nope` is not a foreign key of `transfer` to `account`"
        );
        assert_eq!(
            schema_error(&BROKEN_PERSON),
            "relationship Broken.person: foreign key of `broken` references `person.missing`, which does not exist"
        );
        assert_eq!(
            schema_error(&NO_SECONDARY),
            "relationship Post.loose: many_to_many needs `secondary = Model`"
        );
        assert_eq!(
            schema_error(&HALF),
            "relationship Node.half: association table `half_follow` needs exactly two foreign keys to `node`"
        );
        // The error is kept, and reads as a schema error.
        assert_eq!(
            THINGS.link().unwrap_err().to_string(),
            format!("schema error: {}", schema_error(&THINGS))
        );
    }

    #[test]
    fn a_self_referential_one_to_many_links_the_table_to_itself() {
        let l = link(&REPORTS);
        assert!(std::ptr::eq(l.parent, &EMPLOYEE) && std::ptr::eq(l.child, &EMPLOYEE));
        assert_eq!(
            (l.child_columns.as_slice(), l.parent_columns.as_slice()),
            (&[1][..], &[0][..])
        );
        assert_eq!(declared(&REPORTS).role(), Role::Children { single: false });
        assert_eq!(backref(&REPORTS).role(), Role::Parent);
        assert_eq!(backref(&REPORTS).describe(), "Employee.manager");
    }

    #[test]
    fn many_to_many_goes_through_the_secondary_table() {
        let l = link(&TAGS);
        assert!(std::ptr::eq(l.parent, &POST) && std::ptr::eq(l.child, &TAG));
        let sl = l.secondary.as_ref().unwrap();
        assert!(std::ptr::eq(sl.table, &POST_TAG));
        assert_eq!(
            (sl.owner_columns.as_slice(), sl.owner_key.as_slice()),
            (&[0][..], &[0][..])
        );
        assert_eq!(
            (sl.target_columns.as_slice(), sl.target_key.as_slice()),
            (&[1][..], &[0][..])
        );
        // The declaring side's columns are also the link's child columns.
        assert_eq!(
            (l.child_columns.as_slice(), l.parent_columns.as_slice()),
            (&[0][..], &[0][..])
        );
        assert_eq!(declared(&TAGS).role(), Role::Links);
        assert_eq!(backref(&TAGS).role(), Role::Links);
        // A composite key on one end.
        let sl = link(&LABELS).secondary.as_ref().unwrap();
        assert_eq!(
            (sl.owner_columns.as_slice(), sl.owner_key.as_slice()),
            (&[0, 1][..], &[0, 1][..])
        );
        assert_eq!(
            (sl.target_columns.as_slice(), sl.target_key.as_slice()),
            (&[2][..], &[0][..])
        );
    }

    #[test]
    fn a_self_referential_many_to_many_takes_the_first_foreign_key_for_the_owner() {
        let l = link(&FOLLOWS);
        assert!(std::ptr::eq(l.parent, &NODE) && std::ptr::eq(l.child, &NODE));
        let sl = l.secondary.as_ref().unwrap();
        assert_eq!(
            (sl.owner_columns.as_slice(), sl.target_columns.as_slice()),
            (&[0][..], &[1][..])
        );
        assert_eq!(
            (sl.owner_key.as_slice(), sl.target_key.as_slice()),
            (&[0][..], &[0][..])
        );
    }

    #[test]
    fn one_to_one_links_like_one_to_many_with_a_single_child() {
        let l = link(&PROFILE_REL);
        assert!(std::ptr::eq(l.parent, &USER) && std::ptr::eq(l.child, &PROFILE));
        assert_eq!(
            (l.child_columns.as_slice(), l.parent_columns.as_slice()),
            (&[1][..], &[0][..])
        );
        assert_eq!(
            declared(&PROFILE_REL).role(),
            Role::Children { single: true }
        );
        assert_eq!(backref(&PROFILE_REL).role(), Role::Parent);
    }

    #[test]
    fn join_conditions_between_a_parent_and_its_children() {
        // Written as `joined = to`, whichever end is joined.
        assert_eq!(
            join(declared(&PETS), (Other, "pet"), (Owner, "person")),
            r#""pet"."person_id" = "person"."id""#
        );
        assert_eq!(
            join(declared(&PETS), (Owner, "person"), (Other, "pet")),
            r#""person"."id" = "pet"."person_id""#
        );
        assert_eq!(
            join(backref(&PETS), (Other, "person"), (Owner, "pet")),
            r#""person"."id" = "pet"."person_id""#
        );
        assert_eq!(
            join(declared(&SENT), (Other, "transfer"), (Owner, "account")),
            r#""transfer"."from_id" = "account"."id""#
        );
        assert_eq!(
            join(declared(&RECEIVER), (Other, "account"), (Owner, "transfer")),
            r#""account"."id" = "transfer"."to_id""#
        );
        assert_eq!(
            join(declared(&PROFILE_REL), (Other, "profile"), (Owner, "user")),
            r#""profile"."user_id" = "user"."id""#
        );
    }

    #[test]
    fn join_conditions_use_the_names_or_aliases_given() {
        // The joined loader's alias for the parent table.
        assert_eq!(
            join(backref(&PETS), (Other, "orm_j0"), (Owner, "pet")),
            r#""orm_j0"."id" = "pet"."person_id""#
        );
        assert_eq!(
            join(backref(&REPORTS), (Other, "orm_j1"), (Owner, "employee")),
            r#""orm_j1"."id" = "employee"."manager_id""#
        );
        let alias = String::from("orm_j2");
        let on = link(&PETS).join_on(backref(&PETS), Other.named(alias), Owner.named("p"));
        assert_eq!(sql(on).0, r#""orm_j2"."id" = "p"."person_id""#);
    }

    #[test]
    fn join_conditions_over_several_columns_are_one_and_list() {
        assert_eq!(
            join(declared(&BOOKS), (Other, "book"), (Owner, "shelf")),
            r#""book"."shelf_room" = "shelf"."room" AND "book"."shelf_slot" = "shelf"."slot""#
        );
        assert_eq!(
            join(declared(&PLACED_ON), (Other, "orm_j0"), (Owner, "book")),
            r#""orm_j0"."room" = "book"."shelf_room" AND "orm_j0"."slot" = "book"."shelf_slot""#
        );
        let on = link(&BOOKS).join_on(backref(&BOOKS), Other.named("shelf"), Owner.named("book"));
        let Expr::And(items) = on else {
            panic!("expected one AND list, got {on:?}")
        };
        assert_eq!(items.len(), 2);
    }

    #[test]
    fn many_to_many_joins_go_through_the_association_table() {
        let post = declared(&TAGS);
        assert_eq!(
            join(post, (Assoc, "post_tag"), (Owner, "post")),
            r#""post_tag"."post_id" = "post"."id""#
        );
        assert_eq!(
            join(post, (Other, "tag"), (Assoc, "post_tag")),
            r#""tag"."id" = "post_tag"."tag_id""#
        );
        assert_eq!(
            join(post, (Assoc, "post_tag"), (Other, "tag")),
            r#""post_tag"."tag_id" = "tag"."id""#
        );
        let tag = backref(&TAGS);
        assert_eq!(
            join(tag, (Assoc, "post_tag"), (Owner, "tag")),
            r#""post_tag"."tag_id" = "tag"."id""#
        );
        assert_eq!(
            join(tag, (Other, "post"), (Assoc, "post_tag")),
            r#""post"."id" = "post_tag"."post_id""#
        );
        assert_eq!(
            join(declared(&FOLLOWS), (Assoc, "follow"), (Other, "node")),
            r#""follow"."followed_id" = "node"."id""#
        );
        assert_eq!(
            join(backref(&FOLLOWS), (Assoc, "follow"), (Other, "node")),
            r#""follow"."follower_id" = "node"."id""#
        );
        assert_eq!(
            join(declared(&LABELS), (Assoc, "shelf_label"), (Owner, "shelf")),
            r#""shelf_label"."room" = "shelf"."room" AND "shelf_label"."slot" = "shelf"."slot""#
        );
        assert_eq!(
            join(backref(&LABELS), (Other, "s"), (Assoc, "sl")),
            r#""s"."room" = "sl"."room" AND "s"."slot" = "sl"."slot""#
        );
    }

    #[test]
    fn tables_that_are_not_next_to_each_other_have_no_join_condition() {
        let on = link(&TAGS).join_on(declared(&TAGS), Other.named("tag"), Owner.named("post"));
        assert_eq!(
            on,
            Expr::Invalid("Post.tags: no join condition between Other and Owner".into())
        );
        let on = link(&PETS).join_on(declared(&PETS), Assoc.named("x"), Owner.named("person"));
        assert!(matches!(on, Expr::Invalid(m) if m.contains("Person.pets: no join condition")));
        let on = link(&PETS).join_on(declared(&PETS), Owner.named("a"), Owner.named("b"));
        assert!(matches!(on, Expr::Invalid(_)));
    }

    #[test]
    fn key_conditions_with_one_column_are_in_lists() {
        // Children by their foreign key, from the parent's key.
        let side = declared(&PETS);
        assert_eq!(link(&PETS).owner_key(side).unwrap(), [0]);
        let (t, cols) = link(&PETS).key_columns(side).unwrap();
        assert!(std::ptr::eq(t, &PET));
        assert_eq!(cols, [2]);
        assert_eq!(
            keys(side, "pet", &[1, 2]),
            (r#""pet"."person_id" IN (?, ?)"#.into(), ints(&[1, 2]))
        );
        // A parent by its referenced key, from the child's foreign key.
        let side = backref(&PETS);
        assert_eq!(link(&PETS).owner_key(side).unwrap(), [2]);
        let (t, cols) = link(&PETS).key_columns(side).unwrap();
        assert!(std::ptr::eq(t, &PERSON));
        assert_eq!(cols, [0]);
        assert_eq!(
            keys(side, "person", &[7]),
            (r#""person"."id" IN (?)"#.into(), ints(&[7]))
        );
        let side = declared(&RECEIVER);
        assert_eq!(link(&RECEIVER).owner_key(side).unwrap(), [2]);
        assert_eq!(keys(side, "account", &[3]).0, r#""account"."id" IN (?)"#);
        let side = declared(&PROFILE_REL);
        assert_eq!(
            keys(side, "profile", &[3]).0,
            r#""profile"."user_id" IN (?)"#
        );
        // The name given is used; no keys is an empty list.
        assert_eq!(
            keys(declared(&PETS), "p", &[]).0,
            r#""p"."person_id" IN ()"#
        );
    }

    #[test]
    fn many_to_many_key_conditions_filter_the_association_table() {
        let side = declared(&TAGS);
        assert_eq!(link(&TAGS).owner_key(side).unwrap(), [0]);
        let (t, cols) = link(&TAGS).key_columns(side).unwrap();
        assert!(std::ptr::eq(t, &POST_TAG));
        assert_eq!(cols, [0]);
        assert_eq!(
            keys(side, "post_tag", &[1, 2, 3]),
            (
                r#""post_tag"."post_id" IN (?, ?, ?)"#.into(),
                ints(&[1, 2, 3])
            )
        );
        let side = backref(&TAGS);
        assert_eq!(link(&TAGS).key_columns(side).unwrap().1, [1]);
        assert_eq!(
            keys(side, "post_tag", &[4]).0,
            r#""post_tag"."tag_id" IN (?)"#
        );
        assert_eq!(
            keys(declared(&FOLLOWS), "follow", &[1]).0,
            r#""follow"."follower_id" IN (?)"#
        );
        assert_eq!(
            keys(backref(&FOLLOWS), "follow", &[1]).0,
            r#""follow"."followed_id" IN (?)"#
        );
        // A composite key on one end only.
        assert_eq!(
            keys(backref(&LABELS), "shelf_label", &[5]).0,
            r#""shelf_label"."label_id" IN (?)"#
        );
    }

    #[test]
    fn key_conditions_with_several_columns_are_one_or_list() {
        let side = declared(&BOOKS);
        assert_eq!(link(&BOOKS).owner_key(side).unwrap(), [0, 1]);
        assert_eq!(link(&BOOKS).key_columns(side).unwrap().1, [1, 2]);
        assert_eq!(
            keys(side, "book", &[1, 2, 3, 4]),
            (
                r#""book"."shelf_room" = ? AND "book"."shelf_slot" = ? OR "book"."shelf_room" = ? AND "book"."shelf_slot" = ?"#.into(),
                ints(&[1, 2, 3, 4])
            )
        );
        // Flat: one OR of ANDs however many keys.
        let many: Vec<Value> = ints(&(0..1000).collect::<Vec<_>>());
        match link(&BOOKS).key_condition(side, "book", many.clone()) {
            Expr::Or(items) => {
                assert_eq!(items.len(), 500);
                assert!(
                    items
                        .iter()
                        .all(|i| matches!(i, Expr::And(a) if a.len() == 2))
                );
            }
            other => panic!("expected one OR list, got {other:?}"),
        }
        // One key is its AND; no keys matches nothing.
        assert_eq!(
            keys(side, "b", &[1, 2]).0,
            r#""b"."shelf_room" = ? AND "b"."shelf_slot" = ?"#
        );
        assert_eq!(keys(side, "book", &[]), ("0".into(), vec![]));
        // The parent end, and the association table of a composite key.
        let side = backref(&BOOKS);
        assert_eq!(link(&BOOKS).owner_key(side).unwrap(), [1, 2]);
        assert_eq!(
            keys(side, "shelf", &[1, 2]).0,
            r#""shelf"."room" = ? AND "shelf"."slot" = ?"#
        );
        assert_eq!(
            keys(declared(&PLACED_ON), "shelf", &[1, 2, 1, 3]).0,
            r#""shelf"."room" = ? AND "shelf"."slot" = ? OR "shelf"."room" = ? AND "shelf"."slot" = ?"#
        );
        assert_eq!(
            keys(declared(&LABELS), "shelf_label", &[1, 2, 3, 4]).0,
            r#""shelf_label"."room" = ? AND "shelf_label"."slot" = ? OR "shelf_label"."room" = ? AND "shelf_label"."slot" = ?"#
        );
    }
}
