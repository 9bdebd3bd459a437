//! Static table metadata: what `#[derive(Model)]` emits for each struct.
//!
//! A [`TableDef`] lives in a `static` per model and is never built at run
//! time. Links to other tables are function pointers, so models that refer
//! to each other (or to themselves) do not form a cycle in constant
//! evaluation.

use std::fmt;
use std::sync::OnceLock;

use super::relation::RelationDef;
use crate::types::{ConversionError, Value};

/// One table: its columns, keys, indexes and relationships.
///
/// # Examples
///
/// ```
/// use orm::prelude::*;
///
/// #[derive(Model, Debug, Default)]
/// struct PetHandler {
///     #[orm(primary_key)]
///     handler_id: i64,
///     #[orm(max_length = 150)]
///     handler_name: String,
/// }
///
/// let table = PetHandler::table();
/// assert_eq!(table.name, "pet_handler");
/// assert_eq!(table.columns[1].sql_type, "VARCHAR(150)");
/// assert!(table.auto_increment);
/// ```
pub struct TableDef {
    /// SQL table name (`pet_handler`).
    pub name: &'static str,
    /// Rust type name (`PetHandler`), used in messages.
    pub model: &'static str,
    /// Columns in field order. Rows are always selected in this order.
    pub columns: &'static [ColumnDef],
    /// Indices into `columns` of the primary key, in key order.
    pub primary_key: &'static [usize],
    /// True when the key is one INTEGER column (SQLite's rowid), so a new
    /// object whose key is 0 gets its key from the database.
    pub auto_increment: bool,
    /// The version counter column (`#[orm(version)]`, SQLAlchemy's
    /// `version_id_col`), if any: every UPDATE and DELETE of a row checks
    /// it in its `WHERE` and every UPDATE writes it one higher.
    pub version: Option<usize>,
    /// Foreign keys of this table.
    pub foreign_keys: &'static [ForeignKeyDef],
    /// Indexes over several columns (single-column ones are flags on the column).
    pub indexes: &'static [IndexDef],
    /// Relationships declared by this model's derive, including backrefs it
    /// creates on other models.
    pub relations: &'static [fn() -> &'static RelationDef],
    /// `#[orm(soft_delete)]`: deleting a row sets this column instead, and
    /// queries leave such rows out.
    pub soft_delete: Option<SoftDelete>,
    #[doc(hidden)]
    pub __cache: TableCache,
    #[doc(hidden)]
    pub __ops: crate::session::ModelOps,
}

impl TableDef {
    /// The column with the given SQL name.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    ///
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64, #[orm(column = "user_name")] name: String }
    ///
    /// assert_eq!(User::table().column_index("user_name"), Some(1));
    /// assert_eq!(User::table().column_index("name"), None);
    /// ```
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// The column whose Rust field or SQL name is `name` (what
    /// [`Query::filter_by`](crate::Query::filter_by) accepts).
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    ///
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64, #[orm(column = "user_name")] name: String }
    ///
    /// assert_eq!(User::table().field_index("name"), Some(1));
    /// assert_eq!(User::table().field_index("user_name"), Some(1));
    /// ```
    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.columns
            .iter()
            .position(|c| c.field == name)
            .or_else(|| self.column_index(name))
    }

    /// The primary key columns.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    ///
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64, name: String }
    ///
    /// let pk: Vec<_> = User::table().primary_key_columns().map(|c| c.name).collect();
    /// assert_eq!(pk, ["id"]);
    /// ```
    pub fn primary_key_columns(&self) -> impl Iterator<Item = &'static ColumnDef> + '_ {
        let columns = self.columns;
        self.primary_key.iter().map(move |&i| &columns[i])
    }
}

impl fmt::Debug for TableDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TableDef")
            .field("name", &self.name)
            .field("model", &self.model)
            .field("columns", &self.columns)
            .field("primary_key", &self.primary_key)
            .field("auto_increment", &self.auto_increment)
            .field("version", &self.version)
            .field("foreign_keys", &self.foreign_keys)
            .field("indexes", &self.indexes)
            .finish_non_exhaustive()
    }
}

impl PartialEq for TableDef {
    /// Tables are the same when they are the same static.
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other)
    }
}

impl Eq for TableDef {}

/// One column.
///
/// # Examples
///
/// ```
/// use orm::prelude::*;
///
/// #[derive(Model, Debug, Default)]
/// struct User {
///     #[orm(primary_key)]
///     id: i64,
///     #[orm(max_length = 50, unique)]
///     username: String,
///     nickname: Option<String>,
/// }
///
/// let c = &User::table().columns[1];
/// assert_eq!((c.name, c.sql_type, c.nullable, c.unique), ("username", "VARCHAR(50)", false, true));
/// assert!(User::table().columns[2].nullable);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ColumnDef {
    /// SQL column name.
    pub name: &'static str,
    /// Rust field name.
    pub field: &'static str,
    /// Declared SQL type, for example `INTEGER` or `VARCHAR(50)`.
    pub sql_type: &'static str,
    /// Whether NULL is allowed (the field is an `Option`).
    pub nullable: bool,
    /// Whether the column is part of the primary key.
    pub primary_key: bool,
    /// Whether the column has a UNIQUE constraint.
    pub unique: bool,
    /// Whether the column has its own index.
    pub index: bool,
    /// The `DEFAULT` written in `CREATE TABLE`, for rows inserted by other
    /// programs. Objects added through a session always write every column.
    pub default: Option<DefaultValue>,
    /// `#[orm(default = path)]`: computed in Rust at INSERT, when the
    /// field still holds its type's default value.
    pub insert_default: Option<InsertDefault>,
    /// `#[orm(onupdate = path)]`: computed in Rust for every UPDATE of the
    /// row that does not set this column itself.
    pub update_default: Option<fn() -> Result<Value, ConversionError>>,
    /// The type's own PostgreSQL name when it has one
    /// ([`ColumnType::POSTGRES_TYPE`](crate::ColumnType::POSTGRES_TYPE));
    /// empty: PostgreSQL's name for `sql_type`.
    pub pg_type: &'static str,
}

/// A model's soft-delete column (`#[orm(soft_delete)]`): a nullable
/// column that [`Session::delete`](crate::Session::delete) sets to the
/// time of deletion, instead of deleting the row.
///
/// # Examples
///
/// ```
/// use orm::prelude::*;
///
/// #[derive(Model, Debug, Default)]
/// #[orm(soft_delete)]
/// struct Note { #[orm(primary_key)] id: i64, deleted_at: Option<String> }
///
/// let sd = Note::table().soft_delete.unwrap();
/// assert_eq!(Note::table().columns[sd.column].name, "deleted_at");
/// assert!(matches!((sd.stamp)(), Ok(orm::types::Value::Text(_))));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct SoftDelete {
    /// The column's position in the table.
    pub column: usize,
    /// The value a deletion writes: the column type's "now".
    pub stamp: fn() -> Result<Value, ConversionError>,
}

/// A value computed in Rust when a row is inserted (`#[orm(default =
/// path)]`, SQLAlchemy's `default=callable`).
///
/// # Examples
///
/// ```
/// use orm::prelude::*;
///
/// fn seven() -> i64 { 7 }
///
/// #[derive(Model, Debug, Default)]
/// struct Counter { #[orm(primary_key)] id: i64, #[orm(default = seven)] hits: i64 }
///
/// let d = Counter::table().columns[1].insert_default.unwrap();
/// assert_eq!((d.value)(), Ok(orm::types::Value::Integer(7)));
/// assert_eq!((d.unset)(), Ok(orm::types::Value::Integer(0)));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct InsertDefault {
    /// The function's value, converted for the column.
    pub value: fn() -> Result<Value, ConversionError>,
    /// The field's "not given" value: its type's `Default`.
    pub unset: fn() -> Result<Value, ConversionError>,
}

/// A literal column default.
///
/// # Examples
///
/// ```
/// use orm::prelude::*;
///
/// #[derive(Model, Debug, Default)]
/// struct Counter { #[orm(primary_key)] id: i64, #[orm(default = 0)] hits: i64 }
///
/// assert_eq!(Counter::table().columns[1].default, Some(orm::schema::DefaultValue::Integer(0)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DefaultValue {
    /// An integer literal (booleans are 0 and 1).
    Integer(i64),
    /// A real literal.
    Real(f64),
    /// A text literal, escaped when written.
    Text(&'static str),
    /// NULL.
    Null,
    /// An SQL expression, written as is (`#[orm(server_default =
    /// "CURRENT_TIMESTAMP")]`, SQLAlchemy's `server_default`).
    Expression(&'static str),
}

impl DefaultValue {
    /// The literal, or `None` for an expression.
    pub(crate) fn to_value(self) -> Option<Value> {
        Some(match self {
            DefaultValue::Integer(i) => Value::Integer(i),
            DefaultValue::Real(r) => Value::Real(r),
            DefaultValue::Text(t) => Value::Text(t.to_owned()),
            DefaultValue::Null => Value::Null,
            DefaultValue::Expression(_) => return None,
        })
    }
}

/// What the database does to child rows when the parent row is deleted or
/// its key changes.
///
/// # Examples
///
/// ```
/// assert_eq!(orm::schema::FkAction::SetNull.sql(), "SET NULL");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FkAction {
    /// Delete or update the children too.
    Cascade,
    /// Set the children's foreign key to NULL.
    SetNull,
    /// Set the children's foreign key to its default.
    SetDefault,
    /// Refuse at once.
    Restrict,
    /// Refuse at the end of the statement (SQLite's default).
    NoAction,
}

impl FkAction {
    /// The SQL keywords.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(orm::schema::FkAction::Cascade.sql(), "CASCADE");
    /// ```
    pub fn sql(self) -> &'static str {
        match self {
            FkAction::Cascade => "CASCADE",
            FkAction::SetNull => "SET NULL",
            FkAction::SetDefault => "SET DEFAULT",
            FkAction::Restrict => "RESTRICT",
            FkAction::NoAction => "NO ACTION",
        }
    }
}

/// The table a foreign key points at.
///
/// # Examples
///
/// ```
/// use orm::prelude::*;
/// #[derive(Model, Debug, Default)]
/// struct Author { #[orm(primary_key)] id: i64 }
/// #[derive(Model, Debug, Default)]
/// struct Book { #[orm(primary_key)] id: i64, #[orm(foreign_key = Author::id)] author_id: i64 }
///
/// let fk = &Book::table().foreign_keys[0];
/// assert_eq!((fk.target.table_name(), fk.target.columns()), ("author", &["id"][..]));
/// ```
#[derive(Clone, Copy)]
pub enum ForeignTarget {
    /// A model named by a typed path (`PetHandler::handler_id`), checked at
    /// compile time.
    Model {
        /// The target table.
        table: fn() -> &'static TableDef,
        /// The target columns, by SQL name.
        columns: &'static [&'static str],
    },
    /// A table named by a string (`"pet_handler.handler_id"`), resolved when
    /// the database is opened.
    Named {
        /// The target table's SQL name.
        table: &'static str,
        /// The target columns, by SQL name.
        columns: &'static [&'static str],
    },
}

impl ForeignTarget {
    /// The SQL name of the target table.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = orm::schema::ForeignTarget::Named { table: "pet_handler", columns: &["handler_id"] };
    /// assert_eq!(t.table_name(), "pet_handler");
    /// ```
    pub fn table_name(&self) -> &'static str {
        match self {
            ForeignTarget::Model { table, .. } => table().name,
            ForeignTarget::Named { table, .. } => table,
        }
    }

    /// The target columns.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = orm::schema::ForeignTarget::Named { table: "pet_handler", columns: &["handler_id"] };
    /// assert_eq!(t.columns(), ["handler_id"]);
    /// ```
    pub fn columns(&self) -> &'static [&'static str] {
        match self {
            ForeignTarget::Model { columns, .. } | ForeignTarget::Named { columns, .. } => columns,
        }
    }
}

impl fmt::Debug for ForeignTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.table_name(), self.columns().join(", "))
    }
}

/// One foreign key.
///
/// # Examples
///
/// ```
/// use orm::prelude::*;
/// #[derive(Model, Debug, Default)]
/// struct Author { #[orm(primary_key)] id: i64 }
/// #[derive(Model, Debug, Default)]
/// struct Book {
///     #[orm(primary_key)] id: i64,
///     #[orm(foreign_key = Author::id, on_delete = "cascade")] author_id: i64,
/// }
///
/// let fk = &Book::table().foreign_keys[0];
/// assert_eq!(fk.columns, &[1]);
/// assert_eq!(fk.on_delete, Some(orm::schema::FkAction::Cascade));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ForeignKeyDef {
    /// Indices into the table's columns.
    pub columns: &'static [usize],
    /// What it references.
    pub target: ForeignTarget,
    /// `ON DELETE` action, if declared.
    pub on_delete: Option<FkAction>,
    /// `ON UPDATE` action, if declared.
    pub on_update: Option<FkAction>,
}

/// An index over one or more columns.
///
/// # Examples
///
/// ```
/// use orm::prelude::*;
/// #[derive(Model, Debug, Default)]
/// #[orm(unique(first, last))]
/// struct Person { #[orm(primary_key)] id: i64, first: String, last: String }
///
/// let ix = &Person::table().indexes[0];
/// assert_eq!((ix.name, ix.columns, ix.unique), ("uq_person_first_last", &[1, 2][..], true));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexDef {
    /// Index name.
    pub name: &'static str,
    /// Indices into the table's columns.
    pub columns: &'static [usize],
    /// Whether the index is UNIQUE.
    pub unique: bool,
}

/// SQL text computed once per table and built-in dialect, on first use.
#[doc(hidden)]
#[derive(Debug)]
pub struct TableCache {
    pub(crate) dialects: [TableStatements; crate::backend::CACHE_SLOTS],
}

/// One dialect's cached statements of a table.
#[derive(Debug)]
pub(crate) struct TableStatements {
    pub(crate) select_list: OnceLock<String>,
    pub(crate) select_by_key: OnceLock<String>,
    pub(crate) insert_all: OnceLock<String>,
    pub(crate) insert_without_key: OnceLock<String>,
    pub(crate) delete_by_key: OnceLock<String>,
}

impl TableStatements {
    const fn new() -> Self {
        TableStatements {
            select_list: OnceLock::new(),
            select_by_key: OnceLock::new(),
            insert_all: OnceLock::new(),
            insert_without_key: OnceLock::new(),
            delete_by_key: OnceLock::new(),
        }
    }
}

impl TableCache {
    /// An empty cache; used by generated code.
    pub const fn new() -> Self {
        TableCache {
            dialects: [const { TableStatements::new() }; crate::backend::CACHE_SLOTS],
        }
    }
}

impl Default for TableCache {
    fn default() -> Self {
        Self::new()
    }
}

/// A set of column indices (at most 64 columns per model).
#[doc(hidden)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ColumnSet(u64);

impl ColumnSet {
    /// The empty set.
    pub const fn empty() -> Self {
        ColumnSet(0)
    }

    /// Add column `i`.
    #[inline]
    pub fn insert(&mut self, i: usize) {
        self.0 |= 1 << i;
    }

    /// Whether column `i` is in the set.
    #[inline]
    pub fn contains(self, i: usize) -> bool {
        self.0 & (1 << i) != 0
    }

    /// Whether the set is empty.
    #[inline]
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Both sets together.
    #[inline]
    pub fn union(self, other: ColumnSet) -> ColumnSet {
        ColumnSet(self.0 | other.0)
    }

    /// The columns in ascending order (one step per member, not per
    /// possible column).
    pub fn iter(self) -> impl Iterator<Item = usize> {
        let mut bits = self.0;
        std::iter::from_fn(move || {
            if bits == 0 {
                return None;
            }
            let i = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            Some(i)
        })
    }

    /// The raw bits (used as a cache key).
    pub fn bits(self) -> u64 {
        self.0
    }
}

/// Errors about a table's statements: here rather than in `error`, which
/// knows nothing of tables.
impl crate::error::Error {
    /// [`with_model`](Self::with_model) from table metadata. A missing
    /// table becomes a schema error that says how to create it.
    pub(crate) fn with_table(self, t: &TableDef) -> crate::error::Error {
        // SQLite's message for a missing table.
        if let crate::error::Error::Sqlite { source, .. } = &self
            && source.to_string().strip_prefix("no such table: ") == Some(t.name)
        {
            return crate::error::Error::Schema(format!(
                "table `{}` of {} does not exist; register the model with Database::builder().model::<{}>() and call create_all()",
                t.name, t.model, t.model
            ));
        }
        let mut e = self.with_model(t.model, t.name);
        if let crate::error::Error::Constraint {
            kind: crate::error::ConstraintKind::ForeignKey,
            columns,
            ..
        } = &mut e
            && columns.is_empty()
        {
            *columns = t
                .foreign_keys
                .iter()
                .flat_map(|fk| fk.columns.iter().map(|&i| t.columns[i].name.to_owned()))
                .collect();
        }
        e
    }
}
