//! The schema description both sides of a comparison are read into: what
//! the registered models create ([`Schema::from_models`], taken from the
//! very statements `create_all` runs) and what a live database holds
//! ([`Schema::read`](crate::migrate::Schema::read), in `reflect.rs`).

use std::borrow::Cow;

use crate::backend::{Dialect, SchemaEditing};
use crate::schema::{FkAction, TableDef, ddl};
use crate::sql::ast::{
    ColumnSpec, CreateIndex, CreateTable, ForeignKeySpec, Statement, UniqueSpec,
};
use crate::types::Value;

/// A database schema: its tables, as the models describe them or as a
/// database holds them.
///
/// # Examples
///
/// ```
/// use orm::prelude::*;
/// use orm::migrate::Schema;
///
/// #[derive(Model, Debug, Default)]
/// struct User { #[orm(primary_key)] id: i64, #[orm(max_length = 50, unique)] username: String }
///
/// let schema = Schema::from_models(&[User::table()], &orm::backend::Dialect::SQLITE);
/// let user = schema.table("user").unwrap();
/// assert_eq!(user.columns[1].sql_type, "VARCHAR(50)");
/// assert_eq!(user.uniques[0].columns, ["username"]);
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct Schema {
    /// The tables, in creation order for models and by name for a database.
    pub tables: Vec<Table>,
}

/// One table.
///
/// # Examples
///
/// ```
/// use orm::prelude::*;
/// use orm::migrate::Schema;
///
/// #[derive(Model, Debug, Default)]
/// struct Tag { #[orm(primary_key)] id: i64, #[orm(index)] name: String }
///
/// let schema = Schema::from_models(&[Tag::table()], &orm::backend::Dialect::SQLITE);
/// let tag = schema.table("tag").unwrap();
/// assert_eq!(tag.primary_key, ["id"]);
/// assert_eq!(tag.indexes[0].name, "ix_tag_name");
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Table {
    /// The table's name.
    pub name: String,
    /// The columns, in table order.
    pub columns: Vec<TableColumn>,
    /// The primary key's columns, in key order.
    pub primary_key: Vec<String>,
    /// UNIQUE constraints (a unique index is an [`Index`]).
    pub uniques: Vec<Unique>,
    /// Indexes that no constraint made.
    pub indexes: Vec<Index>,
    /// Foreign keys.
    pub foreign_keys: Vec<ForeignKey>,
    /// SQL that a SQLite table rebuild runs again after the new table is
    /// in place: its triggers, and indexes this description cannot hold
    /// (partial, or on an expression), as the database stored them.
    pub recreate: Vec<String>,
    /// What the table has that this description does not hold (a CHECK
    /// constraint, a collation, ...): a SQLite rebuild would lose it, so a
    /// generated revision says so.
    pub unsupported: Vec<String>,
}

/// One column.
///
/// # Examples
///
/// ```
/// use orm::prelude::*;
/// use orm::migrate::{ColumnDefault, Schema};
/// use orm::types::Value;
///
/// #[derive(Model, Debug, Default)]
/// struct Counter { #[orm(primary_key)] id: i64, #[orm(default = 0)] hits: i64, note: Option<String> }
///
/// let schema = Schema::from_models(&[Counter::table()], &orm::backend::Dialect::SQLITE);
/// let t = schema.table("counter").unwrap();
/// assert_eq!(t.columns[1].default, Some(ColumnDefault::Value(Value::Integer(0))));
/// assert!(t.columns[2].nullable);
/// assert!(t.columns[0].autoincrement);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TableColumn {
    /// The column's name.
    pub name: String,
    /// The declared type, as the database names it (`VARCHAR(50)` on
    /// SQLite, `character varying(50)` read from PostgreSQL).
    pub sql_type: String,
    /// Whether NULL is allowed.
    pub nullable: bool,
    /// The `DEFAULT`, if any.
    pub default: Option<ColumnDefault>,
    /// Whether the database generates its values (SQLite's rowid key,
    /// PostgreSQL's `SERIAL` or identity column).
    pub autoincrement: bool,
}

/// A column's `DEFAULT`.
///
/// # Examples
///
/// ```
/// use orm::migrate::ColumnDefault;
/// use orm::types::Value;
/// let d = ColumnDefault::Value(Value::Text("new".into()));
/// assert_eq!(d.to_string(), "'new'");
/// assert_eq!(ColumnDefault::Expression("CURRENT_TIMESTAMP".into()).to_string(), "CURRENT_TIMESTAMP");
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ColumnDefault {
    /// A literal value.
    Value(Value),
    /// An expression, as the database's catalog shows it.
    Expression(String),
}

impl std::fmt::Display for ColumnDefault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ColumnDefault::Value(v) => {
                let mut s = String::new();
                match crate::sql::quote::push_literal(&mut s, v) {
                    Ok(()) => f.write_str(&s),
                    Err(_) => write!(f, "{v:?}"),
                }
            }
            ColumnDefault::Expression(e) => f.write_str(e),
        }
    }
}

/// A UNIQUE constraint.
///
/// # Examples
///
/// ```
/// use orm::prelude::*;
/// use orm::migrate::Schema;
///
/// #[derive(Model, Debug, Default)]
/// struct User { #[orm(primary_key)] id: i64, #[orm(unique)] email: String }
///
/// let s = Schema::from_models(&[User::table()], &orm::backend::Dialect::SQLITE);
/// let u = &s.table("user").unwrap().uniques[0];
/// assert_eq!((u.name.as_deref(), &u.columns[..]), (None, &["email".to_string()][..]));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Unique {
    /// The constraint's name, when it has one the database shows
    /// (PostgreSQL names every constraint; a model leaves it to the
    /// database).
    pub name: Option<String>,
    /// The columns.
    pub columns: Vec<String>,
}

/// An index.
///
/// # Examples
///
/// ```
/// use orm::prelude::*;
/// use orm::migrate::Schema;
///
/// #[derive(Model, Debug, Default)]
/// #[orm(unique(first, last))]
/// struct Person { #[orm(primary_key)] id: i64, first: String, last: String }
///
/// let s = Schema::from_models(&[Person::table()], &orm::backend::Dialect::SQLITE);
/// let ix = &s.table("person").unwrap().indexes[0];
/// assert_eq!((ix.name.as_str(), ix.unique), ("uq_person_first_last", true));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Index {
    /// The index's name.
    pub name: String,
    /// The indexed columns, in order.
    pub columns: Vec<String>,
    /// Whether it is a UNIQUE index.
    pub unique: bool,
}

/// A foreign key.
///
/// # Examples
///
/// ```
/// use orm::prelude::*;
/// use orm::migrate::Schema;
/// use orm::schema::FkAction;
///
/// #[derive(Model, Debug, Default)]
/// struct Author { #[orm(primary_key)] id: i64 }
/// #[derive(Model, Debug, Default)]
/// struct Book { #[orm(primary_key)] id: i64, #[orm(foreign_key = Author::id, on_delete = "cascade")] author_id: i64 }
///
/// let s = Schema::from_models(&[Author::table(), Book::table()], &orm::backend::Dialect::SQLITE);
/// let fk = &s.table("book").unwrap().foreign_keys[0];
/// assert_eq!((fk.target_table.as_str(), fk.on_delete), ("author", FkAction::Cascade));
/// assert_eq!(fk.on_update, FkAction::NoAction);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ForeignKey {
    /// The constraint's name, when the database shows one.
    pub name: Option<String>,
    /// The referencing columns.
    pub columns: Vec<String>,
    /// The referenced table.
    pub target_table: String,
    /// The referenced columns.
    pub target_columns: Vec<String>,
    /// `ON DELETE` (`NO ACTION` when none was declared).
    pub on_delete: FkAction,
    /// `ON UPDATE` (`NO ACTION` when none was declared).
    pub on_update: FkAction,
}

impl Schema {
    /// The schema the given models create on `dialect`: the tables,
    /// constraints and indexes of the statements
    /// [`create_all`](crate::Database::create_all) runs.
    ///
    /// # Examples
    ///
    /// See [`Schema`].
    pub fn from_models(tables: &[&'static TableDef], dialect: &Dialect) -> Schema {
        Schema {
            tables: tables
                .iter()
                .map(|t| Table::from_model(t, dialect))
                .collect(),
        }
    }

    /// The table named `name`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(orm::migrate::Schema::default().table("user").is_none());
    /// ```
    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.name == name)
    }

    pub(crate) fn table_mut(&mut self, name: &str) -> Option<&mut Table> {
        self.tables.iter_mut().find(|t| t.name == name)
    }
}

impl Table {
    /// An empty table description (for building one by hand).
    ///
    /// # Examples
    ///
    /// ```
    /// let t = orm::migrate::Table::new("log");
    /// assert!(t.columns.is_empty());
    /// ```
    pub fn new(name: impl Into<String>) -> Table {
        Table {
            name: name.into(),
            columns: Vec::new(),
            primary_key: Vec::new(),
            uniques: Vec::new(),
            indexes: Vec::new(),
            foreign_keys: Vec::new(),
            recreate: Vec::new(),
            unsupported: Vec::new(),
        }
    }

    /// The column named `name`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(orm::migrate::Table::new("log").column("line").is_none());
    /// ```
    pub fn column(&self, name: &str) -> Option<&TableColumn> {
        self.columns.iter().find(|c| c.name == name)
    }

    fn from_model(t: &'static TableDef, dialect: &Dialect) -> Table {
        let mut table = Table::new(t.name);
        let Statement::CreateTable(create) = ddl::create_table(t, dialect) else {
            return table;
        };
        table.columns = create
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let autoincrement = t.auto_increment && t.primary_key == [i];
                // PostgreSQL's types as its catalog spells them (SERIAL is
                // an integer with a sequence), so both sides of a
                // comparison read alike.
                let sql_type = match dialect.schema_editing() {
                    SchemaEditing::PostgresAlter => {
                        super::compare::canonical_type(&c.sql_type, SchemaEditing::PostgresAlter)
                    }
                    _ => c.sql_type.to_string(),
                };
                TableColumn {
                    name: c.name.to_string(),
                    sql_type,
                    nullable: !c.not_null,
                    default: match (&c.default_sql, &c.default) {
                        (Some(sql), _) => Some(ColumnDefault::Expression(sql.to_string())),
                        (None, Some(v)) => Some(ColumnDefault::Value(v.clone())),
                        (None, None) => None,
                    },
                    autoincrement,
                }
            })
            .collect();
        table.primary_key = create.primary_key.iter().map(|c| c.to_string()).collect();
        table.uniques = create
            .uniques
            .iter()
            .map(|u| Unique {
                name: u.name.as_ref().map(|n| n.to_string()),
                columns: u.columns.iter().map(|c| c.to_string()).collect(),
            })
            .collect();
        table.foreign_keys = create
            .foreign_keys
            .iter()
            .zip(t.foreign_keys)
            .map(|(spec, def)| ForeignKey {
                name: None,
                columns: spec.columns.iter().map(|c| c.to_string()).collect(),
                target_table: spec.target_table.to_string(),
                target_columns: spec.target_columns.iter().map(|c| c.to_string()).collect(),
                on_delete: def.on_delete.unwrap_or(FkAction::NoAction),
                on_update: def.on_update.unwrap_or(FkAction::NoAction),
            })
            .collect();
        table.indexes = ddl::create_indexes(t)
            .into_iter()
            .filter_map(|s| match s {
                Statement::CreateIndex(ix) => Some(Index {
                    name: ix.name.to_string(),
                    columns: ix.columns.iter().map(|c| c.to_string()).collect(),
                    unique: ix.unique,
                }),
                _ => None,
            })
            .collect();
        table
    }

    /// `CREATE TABLE` for this table under `name` on `dialect` (a generated
    /// key is PostgreSQL's `SERIAL`).
    pub(crate) fn create_statement(&self, name: &str, dialect: &Dialect) -> Statement {
        let postgres = dialect.schema_editing() == SchemaEditing::PostgresAlter;
        Statement::CreateTable(CreateTable {
            name: name.to_owned().into(),
            if_not_exists: false,
            columns: self
                .columns
                .iter()
                .map(|c| column_spec(c, postgres))
                .collect(),
            primary_key: self.primary_key.iter().map(|c| c.clone().into()).collect(),
            uniques: self
                .uniques
                .iter()
                .map(|u| UniqueSpec {
                    name: u.name.clone().map(Cow::Owned),
                    columns: u.columns.iter().map(|c| c.clone().into()).collect(),
                })
                .collect(),
            foreign_keys: self
                .foreign_keys
                .iter()
                .map(|fk| foreign_key_spec(fk, fk.name.clone()))
                .collect(),
        })
    }

    /// `CREATE INDEX` for each index.
    pub(crate) fn index_statements(&self) -> Vec<Statement> {
        self.indexes
            .iter()
            .map(|ix| index_statement(&self.name, ix))
            .collect()
    }
}

/// The column as `CREATE TABLE` or `ADD COLUMN` writes it.
pub(crate) fn column_spec(c: &TableColumn, postgres: bool) -> ColumnSpec {
    let sql_type = if postgres && c.autoincrement {
        serial_type(&c.sql_type).to_owned()
    } else {
        c.sql_type.clone()
    };
    let (default, default_sql) = match &c.default {
        None => (None, None),
        Some(ColumnDefault::Value(v)) => (Some(v.clone()), None),
        Some(ColumnDefault::Expression(e)) => (None, Some(Cow::Owned(e.clone()))),
    };
    ColumnSpec {
        name: c.name.clone().into(),
        sql_type: sql_type.into(),
        not_null: !c.nullable,
        default: if postgres && c.autoincrement {
            None
        } else {
            default
        },
        default_sql: if postgres && c.autoincrement {
            None
        } else {
            default_sql
        },
    }
}

/// PostgreSQL's serial pseudo-type for an integer type.
fn serial_type(sql_type: &str) -> &'static str {
    match sql_type.to_ascii_lowercase().as_str() {
        "bigint" | "int8" => "BIGSERIAL",
        "smallint" | "int2" => "SMALLSERIAL",
        _ => "SERIAL",
    }
}

pub(crate) fn foreign_key_spec(fk: &ForeignKey, name: Option<String>) -> ForeignKeySpec {
    let action = |a: FkAction| (a != FkAction::NoAction).then(|| a.sql());
    ForeignKeySpec {
        name: name.map(Cow::Owned),
        columns: fk.columns.iter().map(|c| c.clone().into()).collect(),
        target_table: fk.target_table.clone().into(),
        target_columns: fk.target_columns.iter().map(|c| c.clone().into()).collect(),
        on_delete: action(fk.on_delete),
        on_update: action(fk.on_update),
    }
}

pub(crate) fn index_statement(table: &str, ix: &Index) -> Statement {
    Statement::CreateIndex(CreateIndex {
        name: ix.name.clone().into(),
        table: table.to_owned().into(),
        columns: ix.columns.iter().map(|c| c.clone().into()).collect(),
        unique: ix.unique,
        if_not_exists: false,
    })
}
