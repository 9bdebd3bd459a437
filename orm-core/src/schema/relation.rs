//! Static relationship metadata, and its resolution against foreign keys.
//!
//! The derive emits one [`RelationDef`] per `has_many` / `has_one` /
//! `belongs_to` / `many_to_many` attribute. It only sees one struct, so it
//! cannot know which foreign key links the two models; [`RelationDef::link`]
//! works that out once, on first use or when the database is opened, and
//! reports a missing or ambiguous foreign key as [`Error::Schema`].

use std::fmt;
use std::sync::OnceLock;

use super::table::TableDef;
use crate::error::{Error, Result};

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
