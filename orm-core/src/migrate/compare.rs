//! Models against a live schema: the ordered list of operations that takes
//! the database to the models ([`Op`]), as plain data. Nothing here runs
//! SQL; `render.rs` writes the operations for a dialect.
//!
//! The order (Alembic's, for the same reasons): foreign keys, indexes and
//! UNIQUE constraints that go are dropped first, so nothing they depend on
//! is in use when it changes; then tables are created (parents first),
//! columns added, altered and dropped; tables dropped (children first);
//! and last the new UNIQUE constraints, indexes and foreign keys, over
//! columns and tables that now exist.

use std::fmt;

use super::describe::{ColumnDefault, ForeignKey, Index, Schema, Table, TableColumn, Unique};
use crate::backend::SchemaEditing;
use crate::schema::FkAction;
use crate::types::Value;

/// The table in which migrations record the revision a database is at.
pub const VERSION_TABLE: &str = "orm_version";

/// One step that takes a database schema towards the models.
///
/// Each operation holds both sides (what is dropped is kept whole), so
/// [`inverse`](Op::inverse) undoes it: a revision's downgrade is the
/// inverses in reverse order.
///
/// # Examples
///
/// ```
/// use orm::migrate::Op;
/// let op = Op::Unsupported {
///     table: "user".into(),
///     difference: "primary key (id) in the database, (name) in the model".into(),
/// };
/// assert_eq!(op.table(), "user");
/// assert_eq!(op.inverse(), op);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Op {
    /// Create a table (with its constraints and indexes).
    CreateTable {
        /// The table.
        table: Table,
    },
    /// Drop a table and its rows.
    DropTable {
        /// The table as it was.
        table: Table,
    },
    /// Add a column.
    AddColumn {
        /// The table.
        table: String,
        /// The new column.
        column: TableColumn,
    },
    /// Drop a column and its values.
    DropColumn {
        /// The table.
        table: String,
        /// The column as it was.
        column: TableColumn,
    },
    /// Change a column's type, nullability or default.
    AlterColumn {
        /// The table.
        table: String,
        /// The column as it is.
        from: TableColumn,
        /// The column as it becomes.
        to: TableColumn,
    },
    /// Create an index.
    CreateIndex {
        /// The table.
        table: String,
        /// The index.
        index: Index,
    },
    /// Drop an index.
    DropIndex {
        /// The table.
        table: String,
        /// The index as it was.
        index: Index,
    },
    /// Add a UNIQUE constraint.
    AddUnique {
        /// The table.
        table: String,
        /// The constraint.
        unique: Unique,
    },
    /// Drop a UNIQUE constraint.
    DropUnique {
        /// The table.
        table: String,
        /// The constraint as it was.
        unique: Unique,
    },
    /// Add a foreign key.
    AddForeignKey {
        /// The table.
        table: String,
        /// The foreign key.
        foreign_key: ForeignKey,
    },
    /// Drop a foreign key.
    DropForeignKey {
        /// The table.
        table: String,
        /// The foreign key as it was.
        foreign_key: ForeignKey,
    },
    /// A difference no operation is generated for (a changed primary key,
    /// a column that gains or loses a database-generated key): reported
    /// by checks, written as a comment in a generated revision, left to
    /// be written by hand.
    Unsupported {
        /// The table.
        table: String,
        /// What differs.
        difference: String,
    },
}

impl Op {
    /// The table the operation changes.
    ///
    /// # Examples
    ///
    /// ```
    /// let op = orm::migrate::Op::Unsupported { table: "user".into(), difference: "x".into() };
    /// assert_eq!(op.table(), "user");
    /// ```
    pub fn table(&self) -> &str {
        match self {
            Op::CreateTable { table } | Op::DropTable { table } => &table.name,
            Op::AddColumn { table, .. }
            | Op::DropColumn { table, .. }
            | Op::AlterColumn { table, .. }
            | Op::CreateIndex { table, .. }
            | Op::DropIndex { table, .. }
            | Op::AddUnique { table, .. }
            | Op::DropUnique { table, .. }
            | Op::AddForeignKey { table, .. }
            | Op::DropForeignKey { table, .. }
            | Op::Unsupported { table, .. } => table,
        }
    }

    /// The operation that undoes this one.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::migrate::Op;
    /// let op = Op::Unsupported { table: "user".into(), difference: "x".into() };
    /// assert_eq!(op.inverse(), op);
    /// ```
    pub fn inverse(&self) -> Op {
        match self.clone() {
            Op::CreateTable { table } => Op::DropTable { table },
            Op::DropTable { table } => Op::CreateTable { table },
            Op::AddColumn { table, column } => Op::DropColumn { table, column },
            Op::DropColumn { table, column } => Op::AddColumn { table, column },
            Op::AlterColumn { table, from, to } => Op::AlterColumn {
                table,
                from: to,
                to: from,
            },
            Op::CreateIndex { table, index } => Op::DropIndex { table, index },
            Op::DropIndex { table, index } => Op::CreateIndex { table, index },
            Op::AddUnique { table, unique } => Op::DropUnique { table, unique },
            Op::DropUnique { table, unique } => Op::AddUnique { table, unique },
            Op::AddForeignKey { table, foreign_key } => Op::DropForeignKey { table, foreign_key },
            Op::DropForeignKey { table, foreign_key } => Op::AddForeignKey { table, foreign_key },
            op @ Op::Unsupported { .. } => op,
        }
    }

    /// Why the operation loses data, when it does: a dropped table or
    /// column, or a type change that can cut or refuse values (a shorter
    /// text, a narrower number, text to a number).
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::migrate::Op;
    /// let op = Op::Unsupported { table: "user".into(), difference: "x".into() };
    /// assert_eq!(op.loses_data(), None);
    /// ```
    pub fn loses_data(&self) -> Option<String> {
        match self {
            Op::DropTable { table } => Some(format!("drops table \"{}\" and its rows", table.name)),
            Op::DropColumn { table, column } => Some(format!(
                "drops column \"{table}\".\"{}\" and its values",
                column.name
            )),
            Op::AlterColumn { table, from, to } => lossy_type_change(&from.sql_type, &to.sql_type)
                .map(|why| {
                    format!(
                        "column \"{table}\".\"{}\" changes type from {} to {}: {why}",
                        from.name, from.sql_type, to.sql_type
                    )
                }),
            _ => None,
        }
    }

    /// The difference this operation repairs, said from the models' side
    /// (what the database lacks or has in excess): the text of the drift
    /// warning [`Database::open`](crate::Database::open) logs.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::migrate::{Op, Unique};
    /// # use orm::prelude::*;
    /// # #[derive(Model, Debug, Default)]
    /// # struct User { #[orm(primary_key)] id: i64, #[orm(unique)] username: String }
    /// # let s = orm::migrate::Schema::from_models(&[User::table()], &orm::backend::Dialect::SQLITE);
    /// let unique: Unique = s.table("user").unwrap().uniques[0].clone();
    /// let op = Op::AddUnique { table: "user".into(), unique };
    /// assert_eq!(op.drift(), r#"table "user" lacks the model's UNIQUE (username)"#);
    /// ```
    pub fn drift(&self) -> String {
        match self {
            Op::CreateTable { table } => {
                format!("table \"{}\" of the models does not exist", table.name)
            }
            Op::DropTable { table } => format!("table \"{}\" has no model", table.name),
            Op::AddColumn { table, column } => format!(
                "table \"{table}\" lacks the model's column \"{}\"",
                column.name
            ),
            Op::DropColumn { table, column } => format!(
                "table \"{table}\" has column \"{}\" ({}{}), which the model does not declare{}",
                column.name,
                column.sql_type,
                if column.nullable { "" } else { " NOT NULL" },
                if !column.nullable && column.default.is_none() && !column.autoincrement {
                    ": inserts through the model will fail"
                } else {
                    ""
                }
            ),
            Op::AlterColumn { table, from, to } => format!(
                "column \"{table}\".\"{}\" is {} in the database and {} in the model",
                from.name,
                column_summary(from),
                column_summary(to)
            ),
            Op::CreateIndex { table, index } => format!(
                "table \"{table}\" lacks the model's {}",
                index_summary(index)
            ),
            Op::DropIndex { table, index } => format!(
                "table \"{table}\" has {}, which the model does not declare",
                index_summary(index)
            ),
            Op::AddUnique { table, unique } => format!(
                "table \"{table}\" lacks the model's UNIQUE ({})",
                unique.columns.join(", ")
            ),
            Op::DropUnique { table, unique } => format!(
                "table \"{table}\" has UNIQUE ({}), which the model does not declare",
                unique.columns.join(", ")
            ),
            Op::AddForeignKey { table, foreign_key } => format!(
                "table \"{table}\" lacks the model's {}",
                foreign_key_summary(foreign_key)
            ),
            Op::DropForeignKey { table, foreign_key } => format!(
                "table \"{table}\" has {}, which the model does not declare",
                foreign_key_summary(foreign_key)
            ),
            Op::Unsupported { table, difference } => format!("table \"{table}\": {difference}"),
        }
    }
}

/// The operation, as a revision's comment lists it.
impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::CreateTable { table } => write!(f, "create table \"{}\"", table.name),
            Op::DropTable { table } => write!(f, "drop table \"{}\"", table.name),
            Op::AddColumn { table, column } => write!(
                f,
                "add column \"{table}\".\"{}\" ({})",
                column.name,
                column_summary(column)
            ),
            Op::DropColumn { table, column } => {
                write!(f, "drop column \"{table}\".\"{}\"", column.name)
            }
            Op::AlterColumn { table, from, to } => write!(
                f,
                "alter column \"{table}\".\"{}\": {} -> {}",
                from.name,
                column_summary(from),
                column_summary(to)
            ),
            Op::CreateIndex { table, index } => {
                write!(f, "create {} on \"{table}\"", index_summary(index))
            }
            Op::DropIndex { table, index } => {
                write!(f, "drop {} on \"{table}\"", index_summary(index))
            }
            Op::AddUnique { table, unique } => write!(
                f,
                "add UNIQUE ({}) to \"{table}\"",
                unique.columns.join(", ")
            ),
            Op::DropUnique { table, unique } => write!(
                f,
                "drop UNIQUE ({}) from \"{table}\"",
                unique.columns.join(", ")
            ),
            Op::AddForeignKey { table, foreign_key } => {
                write!(f, "add {} to \"{table}\"", foreign_key_summary(foreign_key))
            }
            Op::DropForeignKey { table, foreign_key } => write!(
                f,
                "drop {} from \"{table}\"",
                foreign_key_summary(foreign_key)
            ),
            Op::Unsupported { table, difference } => write!(
                f,
                "\"{table}\": {difference} (no operation generated: write it by hand)"
            ),
        }
    }
}

fn column_summary(c: &TableColumn) -> String {
    let mut s = c.sql_type.clone();
    s.push_str(if c.nullable { " NULL" } else { " NOT NULL" });
    match &c.default {
        Some(d) => {
            s.push_str(" DEFAULT ");
            s.push_str(&d.to_string());
        }
        None if c.autoincrement => s.push_str(" generated"),
        None => {}
    }
    s
}

fn index_summary(ix: &Index) -> String {
    format!(
        "{}index \"{}\" ({})",
        if ix.unique { "unique " } else { "" },
        ix.name,
        ix.columns.join(", ")
    )
}

fn foreign_key_summary(fk: &ForeignKey) -> String {
    let mut s = format!(
        "FOREIGN KEY ({}) REFERENCES {} ({})",
        fk.columns.join(", "),
        fk.target_table,
        fk.target_columns.join(", ")
    );
    if fk.on_delete != FkAction::NoAction {
        s.push_str(" ON DELETE ");
        s.push_str(fk.on_delete.sql());
    }
    if fk.on_update != FkAction::NoAction {
        s.push_str(" ON UPDATE ");
        s.push_str(fk.on_update.sql());
    }
    s
}

/// The operations that take `live` to `models`, in the order they run.
pub(crate) fn compare(models: &Schema, live: &Schema, editing: SchemaEditing) -> Vec<Op> {
    let mut plan = Plan::default();
    for model in &models.tables {
        match live.table(&model.name) {
            None => plan.create_tables.push(Op::CreateTable {
                table: model.clone(),
            }),
            Some(table) => compare_table(model, table, editing, &mut plan),
        }
    }
    let dropped: Vec<&Table> = live
        .tables
        .iter()
        .filter(|t| t.name != VERSION_TABLE && models.table(&t.name).is_none())
        .collect();
    for table in children_first(&dropped) {
        plan.drop_tables.push(Op::DropTable {
            table: table.clone(),
        });
    }
    plan.into_ops()
}

#[derive(Default)]
struct Plan {
    unsupported: Vec<Op>,
    drop_foreign_keys: Vec<Op>,
    drop_indexes: Vec<Op>,
    drop_uniques: Vec<Op>,
    create_tables: Vec<Op>,
    add_columns: Vec<Op>,
    alter_columns: Vec<Op>,
    drop_columns: Vec<Op>,
    drop_tables: Vec<Op>,
    add_uniques: Vec<Op>,
    create_indexes: Vec<Op>,
    add_foreign_keys: Vec<Op>,
}

impl Plan {
    fn into_ops(self) -> Vec<Op> {
        [
            self.unsupported,
            self.drop_foreign_keys,
            self.drop_indexes,
            self.drop_uniques,
            self.create_tables,
            self.add_columns,
            self.alter_columns,
            self.drop_columns,
            self.drop_tables,
            self.add_uniques,
            self.create_indexes,
            self.add_foreign_keys,
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

fn compare_table(model: &Table, live: &Table, editing: SchemaEditing, plan: &mut Plan) {
    let name = &model.name;
    if model.primary_key != live.primary_key {
        plan.unsupported.push(Op::Unsupported {
            table: name.clone(),
            difference: format!(
                "primary key ({}) in the database, ({}) in the model",
                live.primary_key.join(", "),
                model.primary_key.join(", ")
            ),
        });
    }
    for column in &model.columns {
        let Some(current) = live.column(&column.name) else {
            plan.add_columns.push(Op::AddColumn {
                table: name.clone(),
                column: column.clone(),
            });
            continue;
        };
        let in_key = model.primary_key.contains(&column.name);
        if editing == SchemaEditing::PostgresAlter && current.autoincrement != column.autoincrement
        {
            plan.unsupported.push(Op::Unsupported {
                table: name.clone(),
                difference: format!(
                    "column \"{}\" {} a database-generated key in the model and {} in the database",
                    column.name,
                    if column.autoincrement { "is" } else { "is not" },
                    if current.autoincrement {
                        "is"
                    } else {
                        "is not"
                    },
                ),
            });
        }
        let same_type =
            canonical_type(&current.sql_type, editing) == canonical_type(&column.sql_type, editing);
        // A key column is NOT NULL however it was declared.
        let same_null = (current.nullable && !in_key) == (column.nullable && !in_key);
        let same_default = current.autoincrement && column.autoincrement
            || same_default(current.default.as_ref(), column.default.as_ref());
        if !(same_type && same_null && same_default) {
            let mut to = column.clone();
            let mut from = current.clone();
            if in_key {
                to.nullable = false;
                from.nullable = false;
            }
            plan.alter_columns.push(Op::AlterColumn {
                table: name.clone(),
                from,
                to,
            });
        }
    }
    for column in &live.columns {
        if model.column(&column.name).is_none() {
            plan.drop_columns.push(Op::DropColumn {
                table: name.clone(),
                column: column.clone(),
            });
        }
    }
    // UNIQUE constraints are the same when they cover the same columns.
    let key = |u: &Unique| {
        let mut c = u.columns.clone();
        c.sort();
        c
    };
    for unique in &model.uniques {
        if !live.uniques.iter().any(|u| key(u) == key(unique)) {
            plan.add_uniques.push(Op::AddUnique {
                table: name.clone(),
                unique: unique.clone(),
            });
        }
    }
    for unique in &live.uniques {
        if !model.uniques.iter().any(|u| key(u) == key(unique)) {
            plan.drop_uniques.push(Op::DropUnique {
                table: name.clone(),
                unique: unique.clone(),
            });
        }
    }
    // Indexes are the same when they have the same name and shape.
    for index in &model.indexes {
        match live.indexes.iter().find(|i| i.name == index.name) {
            Some(current) if current.columns == index.columns && current.unique == index.unique => {
            }
            Some(current) => {
                plan.drop_indexes.push(Op::DropIndex {
                    table: name.clone(),
                    index: current.clone(),
                });
                plan.create_indexes.push(Op::CreateIndex {
                    table: name.clone(),
                    index: index.clone(),
                });
            }
            None => plan.create_indexes.push(Op::CreateIndex {
                table: name.clone(),
                index: index.clone(),
            }),
        }
    }
    for index in &live.indexes {
        if !model.indexes.iter().any(|i| i.name == index.name) {
            plan.drop_indexes.push(Op::DropIndex {
                table: name.clone(),
                index: index.clone(),
            });
        }
    }
    // Foreign keys are the same when they link the same columns; a
    // changed action drops and adds the key.
    let same_link = |a: &ForeignKey, b: &ForeignKey| {
        a.columns == b.columns
            && a.target_table == b.target_table
            && a.target_columns == b.target_columns
    };
    for fk in &model.foreign_keys {
        match live.foreign_keys.iter().find(|f| same_link(f, fk)) {
            Some(current)
                if current.on_delete == fk.on_delete && current.on_update == fk.on_update => {}
            Some(current) => {
                plan.drop_foreign_keys.push(Op::DropForeignKey {
                    table: name.clone(),
                    foreign_key: current.clone(),
                });
                plan.add_foreign_keys.push(Op::AddForeignKey {
                    table: name.clone(),
                    foreign_key: fk.clone(),
                });
            }
            None => plan.add_foreign_keys.push(Op::AddForeignKey {
                table: name.clone(),
                foreign_key: fk.clone(),
            }),
        }
    }
    for fk in &live.foreign_keys {
        if !model.foreign_keys.iter().any(|f| same_link(f, fk)) {
            plan.drop_foreign_keys.push(Op::DropForeignKey {
                table: name.clone(),
                foreign_key: fk.clone(),
            });
        }
    }
}

/// `tables` ordered so that a table comes before the tables it references
/// (among those given): the order to drop them in. Tables in a reference
/// cycle keep their order. A loop, not recursion: the depth of foreign
/// key chains is the user's.
fn children_first<'t>(tables: &[&'t Table]) -> Vec<&'t Table> {
    let mut left: Vec<&Table> = tables.to_vec();
    let mut out = Vec::with_capacity(left.len());
    while !left.is_empty() {
        // A table no remaining table references can go now.
        let free = left.iter().position(|t| {
            !left.iter().any(|other| {
                other.name != t.name
                    && other
                        .foreign_keys
                        .iter()
                        .any(|fk| fk.target_table == t.name)
            })
        });
        out.push(left.remove(free.unwrap_or(0)));
    }
    out
}

/// The same type spelled the way each database compares it: SQLite's
/// declared names in upper case, PostgreSQL's names as `format_type`
/// writes them (`VARCHAR(50)` is `character varying(50)`).
pub(crate) fn canonical_type(t: &str, editing: SchemaEditing) -> String {
    // Upper case, single spaces, none around parentheses and commas.
    let mut s = String::with_capacity(t.len());
    for word in t.split_whitespace() {
        if !s.is_empty()
            && !s.ends_with('(')
            && !s.ends_with(',')
            && !word.starts_with(['(', ')', ','])
        {
            s.push(' ');
        }
        s.push_str(&word.to_ascii_uppercase());
    }
    let s = s.replace(", ", ",");
    if editing != SchemaEditing::PostgresAlter {
        return s;
    }
    let (name, args) = match s.find('(') {
        Some(i) => (&s[..i], &s[i..]),
        None => (&s[..], ""),
    };
    let name = match name {
        "SERIAL" | "INT" | "INT4" | "INTEGER" => "integer",
        "BIGSERIAL" | "INT8" | "BIGINT" => "bigint",
        "SMALLSERIAL" | "INT2" | "SMALLINT" => "smallint",
        "VARCHAR" | "CHARACTER VARYING" => "character varying",
        "CHAR" | "CHARACTER" | "BPCHAR" => "character",
        "FLOAT8" | "DOUBLE PRECISION" | "DOUBLE" => "double precision",
        "FLOAT" if float_is_double(args) => return "double precision".into(),
        "FLOAT" | "FLOAT4" | "REAL" => return "real".into(),
        "BOOL" | "BOOLEAN" => "boolean",
        "DECIMAL" | "NUMERIC" => "numeric",
        "BLOB" | "BYTEA" => "bytea",
        "DATETIME" | "TIMESTAMP" | "TIMESTAMP WITHOUT TIME ZONE" => "timestamp without time zone",
        "TIMESTAMPTZ" | "TIMESTAMP WITH TIME ZONE" => "timestamp with time zone",
        other => {
            return format!(
                "{}{}",
                other.to_ascii_lowercase(),
                args.to_ascii_lowercase()
            );
        }
    };
    if name == "character" && args.is_empty() {
        return "character(1)".into();
    }
    format!("{name}{}", args.to_ascii_lowercase())
}

/// PostgreSQL's FLOAT(p) is `real` up to 24 bits of precision, `double
/// precision` above and without a precision.
fn float_is_double(args: &str) -> bool {
    args.trim_matches(|c| c == '(' || c == ')')
        .parse::<u32>()
        .map_or(true, |p| p > 24)
}

/// What kind of values a type holds, for telling widening from lossy
/// changes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Family {
    Integer(u8),
    Real(u8),
    Numeric,
    Text(Option<u32>),
    Boolean,
    Blob,
    Date,
    Timestamp,
    Other,
}

fn family(t: &str) -> Family {
    let u = canonical_type(t, SchemaEditing::SqliteRebuild);
    let length = || {
        u.find('(').and_then(|i| {
            u[i + 1..]
                .trim_end_matches(')')
                .split(',')
                .next()?
                .parse()
                .ok()
        })
    };
    let name = u.split('(').next().unwrap_or("");
    match name {
        "SMALLINT" | "INT2" => Family::Integer(16),
        // PostgreSQL's types are read, and the models' written, in lower
        // case (`Schema::from_models`), and its INTEGER is 32 bits;
        // SQLite's (upper case) holds 64.
        "INTEGER" | "INT" | "INT4" | "SERIAL" if t.chars().any(|c| c.is_ascii_lowercase()) => {
            Family::Integer(32)
        }
        "BIGINT" | "INT8" | "BIGSERIAL" => Family::Integer(64),
        n if n.contains("INT") => Family::Integer(64),
        "REAL" | "FLOAT4" => Family::Real(32),
        n if n.contains("FLOA") || n.contains("DOUB") || n == "REAL" => Family::Real(64),
        "NUMERIC" | "DECIMAL" => Family::Numeric,
        "TEXT" | "CLOB" => Family::Text(None),
        n if n.contains("CHAR") => Family::Text(length()),
        "BOOLEAN" | "BOOL" => Family::Boolean,
        "BLOB" | "BYTEA" => Family::Blob,
        "DATE" => Family::Date,
        n if n.starts_with("TIMESTAMP") || n == "DATETIME" => Family::Timestamp,
        _ => Family::Other,
    }
}

/// Why changing a column from type `from` to `to` can lose or refuse
/// values, or `None` when every value fits.
pub(crate) fn lossy_type_change(from: &str, to: &str) -> Option<String> {
    use Family::*;
    let (a, b) = (family(from), family(to));
    let shorter = |x: Option<u32>, y: Option<u32>| match (x, y) {
        (_, None) => false,
        (None, Some(_)) => true,
        (Some(x), Some(y)) => y < x,
    };
    let why = match (a, b) {
        _ if canonical_type(from, SchemaEditing::PostgresAlter)
            == canonical_type(to, SchemaEditing::PostgresAlter) =>
        {
            return None;
        }
        (Integer(x), Integer(y)) if y < x => "a narrower integer: larger values are refused",
        (Integer(_), Integer(_) | Real(_) | Numeric) => return None,
        (Integer(_), Text(n)) if !shorter(Some(20), n) => return None,
        (Real(x), Real(y)) if y < x => "less precision: values are rounded",
        (Real(_), Real(_) | Numeric) => return None,
        (Real(_), Integer(_)) => "fractions are lost",
        (Numeric, Real(_)) => "values are rounded to floating point",
        (Boolean, Integer(_) | Boolean) => return None,
        (Boolean, Text(n)) if !shorter(Some(5), n) => return None,
        (Text(x), Text(y)) if shorter(x, y) => "shorter text: longer values are refused or cut",
        (Text(_), Text(_)) => return None,
        (Date, Timestamp | Text(None)) | (Timestamp, Timestamp | Text(None)) => return None,
        (Timestamp, Date) => "the time of day is lost",
        (Text(_), _) => "text that is not a valid value of the new type is refused",
        (Blob, Blob) => return None,
        (Blob, _) | (_, Blob) => "bytes and other values do not convert",
        (_, Text(n)) if n.is_some() => "values longer than the text's length are refused or cut",
        (_, Text(None)) => return None,
        _ => "the types are not comparable: values may be refused or changed",
    };
    Some(why.into())
}

/// Whether two defaults are the same value or expression.
fn same_default(a: Option<&ColumnDefault>, b: Option<&ColumnDefault>) -> bool {
    let a = a.filter(|d| **d != ColumnDefault::Value(Value::Null));
    let b = b.filter(|d| **d != ColumnDefault::Value(Value::Null));
    match (a, b) {
        (None, None) => true,
        (Some(ColumnDefault::Value(x)), Some(ColumnDefault::Value(y))) => same_value(x, y),
        (Some(ColumnDefault::Expression(x)), Some(ColumnDefault::Expression(y))) => {
            let norm = |s: &str| {
                let mut s = s.trim();
                while s.starts_with('(') && s.ends_with(')') && closes_at_end(s) {
                    s = s[1..s.len() - 1].trim();
                }
                s.chars()
                    .filter(|c| !c.is_whitespace())
                    .collect::<String>()
                    .to_ascii_uppercase()
            };
            norm(x) == norm(y)
        }
        _ => false,
    }
}

fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Integer(x), Value::Real(y)) | (Value::Real(y), Value::Integer(x)) => {
            *x as f64 == *y
        }
        _ => a == b,
    }
}

/// A default as a database's catalog shows it (`0`, `'new'`,
/// `'new'::character varying`, `'-1'::integer`, `true`, `NULL`,
/// `CURRENT_TIMESTAMP`): a literal value when it is one.
pub(crate) fn parse_default(raw: &str) -> ColumnDefault {
    let mut s = raw.trim();
    // An expression is kept as written, without parentheses around it all.
    let mut expression = s;
    while expression.starts_with('(') && expression.ends_with(')') && closes_at_end(expression) {
        expression = expression[1..expression.len() - 1].trim();
    }
    let mut numeric_cast = false;
    loop {
        // Outer parentheses around the whole expression.
        if s.starts_with('(') && s.ends_with(')') && closes_at_end(s) {
            s = s[1..s.len() - 1].trim();
            continue;
        }
        // A trailing cast outside quotes: 'x'::character varying.
        if let Some(i) = last_cast(s) {
            let ty = s[i + 2..].trim().to_ascii_lowercase();
            numeric_cast |= [
                "integer",
                "bigint",
                "smallint",
                "numeric",
                "double precision",
                "real",
            ]
            .iter()
            .any(|n| ty.starts_with(n));
            s = s[..i].trim();
            continue;
        }
        break;
    }
    if let Some(text) = s.strip_prefix('\'').and_then(|r| r.strip_suffix('\''))
        && !text.replace("''", "").contains('\'')
    {
        let text = text.replace("''", "'");
        if numeric_cast && let Some(v) = number(&text) {
            return ColumnDefault::Value(v);
        }
        return ColumnDefault::Value(Value::Text(text));
    }
    if let Some(v) = number(s) {
        return ColumnDefault::Value(v);
    }
    match s.to_ascii_uppercase().as_str() {
        "NULL" => ColumnDefault::Value(Value::Null),
        "TRUE" => ColumnDefault::Value(Value::Integer(1)),
        "FALSE" => ColumnDefault::Value(Value::Integer(0)),
        _ => ColumnDefault::Expression(expression.to_owned()),
    }
}

fn number(s: &str) -> Option<Value> {
    let s = s.trim();
    if let Ok(i) = s.parse::<i64>() {
        return Some(Value::Integer(i));
    }
    let digits = s.trim_start_matches(['-', '+']);
    if digits.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && let Ok(r) = s.parse::<f64>()
        && r.is_finite()
    {
        return Some(Value::Real(r));
    }
    None
}

/// Whether the parenthesis opening `s` is closed by its last character.
fn closes_at_end(s: &str) -> bool {
    let mut depth = 0usize;
    let mut quoted = false;
    for (i, c) in s.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i == s.len() - 1;
                }
            }
            _ => {}
        }
    }
    false
}

/// The byte index of the last `::` outside quotes and parentheses.
fn last_cast(s: &str) -> Option<usize> {
    let mut quoted = false;
    let mut depth = 0usize;
    let mut found = None;
    let bytes = s.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'\'' => quoted = !quoted,
            b'(' if !quoted => depth += 1,
            b')' if !quoted => depth = depth.saturating_sub(1),
            b':' if !quoted && depth == 0 && bytes.get(i + 1) == Some(&b':') => {
                found = Some(i);
            }
            _ => {}
        }
    }
    found.filter(|&i| i > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(name: &str, sql_type: &str, nullable: bool) -> TableColumn {
        TableColumn {
            name: name.into(),
            sql_type: sql_type.into(),
            nullable,
            default: None,
            autoincrement: false,
        }
    }

    fn user(columns: Vec<TableColumn>) -> Table {
        let mut t = Table::new("user");
        t.columns = columns;
        t.primary_key = vec!["id".into()];
        t
    }

    fn id() -> TableColumn {
        TableColumn {
            autoincrement: true,
            ..column("id", "INTEGER", false)
        }
    }

    fn schema(tables: Vec<Table>) -> Schema {
        Schema { tables }
    }

    #[test]
    fn equal_schemas_need_nothing() {
        let t = user(vec![id(), column("name", "VARCHAR(50)", false)]);
        let ops = compare(
            &schema(vec![t.clone()]),
            &schema(vec![t]),
            SchemaEditing::SqliteRebuild,
        );
        assert_eq!(ops, []);
    }

    #[test]
    fn a_missing_unique_is_one_add_unique() {
        let live = user(vec![id(), column("name", "VARCHAR(50)", false)]);
        let mut model = live.clone();
        model.uniques.push(Unique {
            name: None,
            columns: vec!["name".into()],
        });
        let ops = compare(
            &schema(vec![model]),
            &schema(vec![live]),
            SchemaEditing::SqliteRebuild,
        );
        assert_eq!(ops.len(), 1);
        assert_eq!(ops[0].to_string(), r#"add UNIQUE (name) to "user""#);
        assert_eq!(
            ops[0].drift(),
            r#"table "user" lacks the model's UNIQUE (name)"#
        );
        assert_eq!(
            ops[0].inverse().to_string(),
            r#"drop UNIQUE (name) from "user""#
        );
    }

    #[test]
    fn operations_come_in_dependency_order() {
        let mut parent = Table::new("parent");
        parent.columns = vec![id()];
        parent.primary_key = vec!["id".into()];
        let mut child = Table::new("child");
        child.columns = vec![id(), column("parent_id", "INTEGER", false)];
        child.primary_key = vec!["id".into()];
        child.foreign_keys = vec![ForeignKey {
            name: None,
            columns: vec!["parent_id".into()],
            target_table: "parent".into(),
            target_columns: vec!["id".into()],
            on_delete: FkAction::NoAction,
            on_update: FkAction::NoAction,
        }];
        let mut old = user(vec![id(), column("gone", "TEXT", true)]);
        old.indexes.push(Index {
            name: "ix_user_gone".into(),
            columns: vec!["gone".into()],
            unique: false,
        });
        let live = schema(vec![old, {
            let mut t = Table::new("legacy");
            t.columns = vec![id()];
            t
        }]);
        let models = schema(vec![
            parent,
            child,
            user(vec![id(), column("email", "VARCHAR(120)", true)]),
        ]);
        let ops: Vec<String> = compare(&models, &live, SchemaEditing::SqliteRebuild)
            .iter()
            .map(|o| o.to_string())
            .collect();
        assert_eq!(
            ops,
            [
                r#"drop index "ix_user_gone" (gone) on "user""#,
                r#"create table "parent""#,
                r#"create table "child""#,
                r#"add column "user"."email" (VARCHAR(120) NULL)"#,
                r#"drop column "user"."gone""#,
                r#"drop table "legacy""#,
            ]
        );
    }

    #[test]
    fn changed_columns_are_altered_and_lossy_changes_say_why() {
        let live = user(vec![
            id(),
            column("name", "VARCHAR(100)", true),
            column("n", "FLOAT", false),
        ]);
        let model = user(vec![
            id(),
            column("name", "VARCHAR(50)", false),
            column("n", "INTEGER", false),
        ]);
        let ops = compare(
            &schema(vec![model]),
            &schema(vec![live]),
            SchemaEditing::SqliteRebuild,
        );
        assert_eq!(ops.len(), 2);
        assert!(
            ops[0].loses_data().unwrap().contains("shorter text"),
            "{:?}",
            ops[0].loses_data()
        );
        assert!(ops[1].loses_data().unwrap().contains("fractions"));
        let widen = Op::AlterColumn {
            table: "t".into(),
            from: column("a", "INTEGER", false),
            to: column("a", "FLOAT", false),
        };
        assert_eq!(widen.loses_data(), None);
        assert_eq!(lossy_type_change("VARCHAR(50)", "TEXT"), None);
        assert!(lossy_type_change("TEXT", "INTEGER").is_some());
        assert!(lossy_type_change("DATETIME", "DATE").is_some());
        assert_eq!(
            lossy_type_change("character varying(50)", "VARCHAR(50)"),
            None
        );
    }

    #[test]
    fn postgres_spellings_of_one_type_are_equal() {
        let pg = SchemaEditing::PostgresAlter;
        for (a, b) in [
            ("VARCHAR(50)", "character varying(50)"),
            ("SERIAL", "integer"),
            ("FLOAT", "double precision"),
            ("TIMESTAMP WITHOUT TIME ZONE", "timestamp without time zone"),
            ("CHAR(32)", "character(32)"),
            ("BOOLEAN", "boolean"),
            ("NUMERIC(10, 2)", "numeric(10,2)"),
        ] {
            assert_eq!(canonical_type(a, pg), canonical_type(b, pg), "{a} / {b}");
        }
        assert_ne!(
            canonical_type("VARCHAR(50)", pg),
            canonical_type("VARCHAR(60)", pg)
        );
        assert_eq!(
            canonical_type("varchar (50)", SchemaEditing::SqliteRebuild),
            "VARCHAR(50)"
        );
    }

    #[test]
    fn catalog_defaults_are_read_as_values() {
        let v = |v: Value| ColumnDefault::Value(v);
        assert_eq!(parse_default("0"), v(Value::Integer(0)));
        assert_eq!(parse_default("'-1'::integer"), v(Value::Integer(-1)));
        assert_eq!(parse_default("(-1)"), v(Value::Integer(-1)));
        assert_eq!(
            parse_default("'it''s'::character varying"),
            v(Value::Text("it's".into()))
        );
        assert_eq!(parse_default("'a'"), v(Value::Text("a".into())));
        assert_eq!(parse_default("0.5"), v(Value::Real(0.5)));
        assert_eq!(parse_default("true"), v(Value::Integer(1)));
        assert_eq!(parse_default("NULL::character varying"), v(Value::Null));
        assert_eq!(
            parse_default("CURRENT_TIMESTAMP"),
            ColumnDefault::Expression("CURRENT_TIMESTAMP".into())
        );
        assert_eq!(
            parse_default("nextval('user_id_seq'::regclass)"),
            ColumnDefault::Expression("nextval('user_id_seq'::regclass)".into())
        );
        assert!(same_default(
            Some(&v(Value::Integer(1))),
            Some(&v(Value::Real(1.0)))
        ));
        assert!(same_default(Some(&v(Value::Null)), None));
    }

    #[test]
    fn foreign_keys_with_new_actions_are_dropped_and_added() {
        let fk = |on_delete| ForeignKey {
            name: None,
            columns: vec!["p".into()],
            target_table: "p".into(),
            target_columns: vec!["id".into()],
            on_delete,
            on_update: FkAction::NoAction,
        };
        let mut live = user(vec![id(), column("p", "INTEGER", true)]);
        live.foreign_keys.push(fk(FkAction::NoAction));
        let mut model = live.clone();
        model.foreign_keys = vec![fk(FkAction::Cascade)];
        let ops = compare(
            &schema(vec![model]),
            &schema(vec![live]),
            SchemaEditing::SqliteRebuild,
        );
        let text: Vec<String> = ops.iter().map(|o| o.to_string()).collect();
        assert_eq!(
            text,
            [
                r#"drop FOREIGN KEY (p) REFERENCES p (id) from "user""#,
                r#"add FOREIGN KEY (p) REFERENCES p (id) ON DELETE CASCADE to "user""#,
            ]
        );
    }

    #[test]
    fn changed_keys_are_reported_not_generated() {
        let live = user(vec![id(), column("name", "TEXT", false)]);
        let mut model = live.clone();
        model.primary_key = vec!["name".into()];
        let ops = compare(
            &schema(vec![model]),
            &schema(vec![live]),
            SchemaEditing::SqliteRebuild,
        );
        assert!(
            matches!(&ops[0], Op::Unsupported { difference, .. } if difference.contains("primary key"))
        );
    }

    #[test]
    fn dropped_tables_go_children_first() {
        let mut a = Table::new("a");
        a.columns = vec![id()];
        let mut b = Table::new("b");
        b.columns = vec![id()];
        b.foreign_keys.push(ForeignKey {
            name: None,
            columns: vec!["id".into()],
            target_table: "a".into(),
            target_columns: vec!["id".into()],
            on_delete: FkAction::NoAction,
            on_update: FkAction::NoAction,
        });
        let order: Vec<&str> = children_first(&[&a, &b])
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        assert_eq!(order, ["b", "a"]);
    }
}
