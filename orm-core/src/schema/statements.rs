//! The statements the session runs for every table (select by key, insert,
//! update, delete), built through the AST and the dialect's writer once and
//! cached as text per built-in dialect, so the hot paths neither build trees
//! nor format SQL. A dialect of another backend gets them written anew.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use super::table::{ColumnSet, TableDef, TableStatements};
use crate::backend::{Conn, Dialect, GeneratedKeys, Stmt};
use crate::sql::ast::{BinOp, Delete, Expr, Insert, Select, Statement, TableRef, Update};
use crate::sql::quote::push_ident;
use crate::sql::writer;
use crate::types::{Value, ValueRef};

fn text(stmt: Statement, dialect: &Dialect) -> String {
    // Identifiers in a TableDef were checked by the derive; failing here
    // would be a bug in the crate, so fall back to SQL that errors cleanly.
    writer::write(&stmt, dialect)
        .map(|w| w.sql)
        .unwrap_or_else(|e| format!("SELECT RAISE(ABORT, 'orm: cannot write statement: {e}')"))
}

/// A statement from the table's cache for `dialect`, written on first use.
#[inline]
fn cached(
    t: &'static TableDef,
    dialect: &Dialect,
    cell: fn(&TableStatements) -> &OnceLock<String>,
    make: impl FnOnce() -> Statement,
) -> Cow<'static, str> {
    match dialect.cache_slot() {
        Some(slot) => {
            Cow::Borrowed(cell(&t.__cache.dialects[slot]).get_or_init(|| text(make(), dialect)))
        }
        None => Cow::Owned(text(make(), dialect)),
    }
}

/// `"t"."a", "t"."b", ...`: every column, qualified, in column order.
pub(crate) fn select_columns(t: &TableDef, qualifier: &'static str) -> Vec<Expr> {
    t.columns
        .iter()
        .map(|c| Expr::column(qualifier, c.name))
        .collect()
}

/// `"t"."pk1" = ? AND "t"."pk2" = ?` with placeholder values.
fn key_condition(t: &TableDef, qualifier: &'static str) -> Expr {
    let conds = t
        .primary_key_columns()
        .map(|c| Expr::binary(BinOp::Eq, Expr::column(qualifier, c.name), Expr::value(0)))
        .collect();
    Expr::and_all(conds).unwrap_or(Expr::Bool(false))
}

/// `SELECT <all columns> FROM "t"` (no WHERE).
pub(crate) fn select_all(t: &'static TableDef, dialect: &Dialect) -> Cow<'static, str> {
    cached(
        t,
        dialect,
        |c| &c.select_list,
        || {
            let mut s = Select::new(TableRef::new(t.name));
            s.columns = select_columns(t, t.name);
            Statement::Select(s)
        },
    )
}

/// `SELECT <all columns> FROM "t" WHERE <key> = ?`.
pub(crate) fn select_by_key(t: &'static TableDef, dialect: &Dialect) -> Cow<'static, str> {
    cached(
        t,
        dialect,
        |c| &c.select_by_key,
        || {
            let mut s = Select::new(TableRef::new(t.name));
            s.columns = select_columns(t, t.name);
            s.filter = Some(key_condition(t, t.name));
            Statement::Select(s)
        },
    )
}

/// `INSERT INTO "t" (...) VALUES (...)`, with every column, or without the
/// key column when the database generates it (then `RETURNING` it, where
/// the dialect reads generated keys that way).
pub(crate) fn insert(t: &'static TableDef, with_key: bool, dialect: &Dialect) -> Cow<'static, str> {
    let cell: fn(&TableStatements) -> &OnceLock<String> = if with_key {
        |c| &c.insert_all
    } else {
        |c| &c.insert_without_key
    };
    cached(t, dialect, cell, || {
        let columns: Vec<_> = insert_columns(t, with_key)
            .map(|i| t.columns[i].name.into())
            .collect();
        let row = columns.iter().map(|_| Expr::value(0)).collect();
        let returning = match (with_key, dialect.generated_keys()) {
            (false, GeneratedKeys::Returning) => {
                t.primary_key_columns().map(|c| c.name.into()).collect()
            }
            _ => vec![],
        };
        Statement::Insert(Insert {
            table: t.name.into(),
            rows: if columns.is_empty() {
                vec![]
            } else {
                vec![row]
            },
            columns,
            returning,
        })
    })
}

/// The columns an INSERT binds, in order.
pub(crate) fn insert_columns(t: &'static TableDef, with_key: bool) -> impl Iterator<Item = usize> {
    let skip_key = !with_key && t.auto_increment;
    let key = t.primary_key.first().copied();
    (0..t.columns.len()).filter(move |&i| !(skip_key && Some(i) == key))
}

/// The key condition, and with `version` the version counter's:
/// `<key> = ? AND "t"."version" = ?` (optimistic concurrency: the row must
/// still be the one loaded).
fn key_and_version(t: &TableDef, version: bool) -> Expr {
    let key = key_condition(t, t.name);
    match t.version.filter(|_| version) {
        Some(v) => {
            let check = Expr::binary(
                BinOp::Eq,
                Expr::column(t.name, t.columns[v].name),
                Expr::value(0),
            );
            Expr::and_all(vec![key, check]).unwrap_or(Expr::Bool(false))
        }
        None => key,
    }
}

/// `UPDATE "t" SET <columns> = ? WHERE <key> = ?`, with `version` also
/// `AND "t"."version" = ?` (the connection caches it per column set).
pub(crate) fn update(
    t: &'static TableDef,
    columns: ColumnSet,
    version: bool,
    dialect: &Dialect,
) -> String {
    text(
        Statement::Update(Update {
            table: t.name.into(),
            set: columns
                .iter()
                .map(|i| (t.columns[i].name.into(), Expr::value(0)))
                .collect(),
            filter: Some(key_and_version(t, version)),
            returning: vec![],
        }),
        dialect,
    )
}

/// `DELETE FROM "t" WHERE <key> = ?`, and `AND "t"."version" = ?` for a
/// model with a version counter.
pub(crate) fn delete_by_key(t: &'static TableDef, dialect: &Dialect) -> Cow<'static, str> {
    cached(
        t,
        dialect,
        |c| &c.delete_by_key,
        || {
            Statement::Delete(Delete {
                table: t.name.into(),
                filter: Some(key_and_version(t, true)),
                returning: vec![],
            })
        },
    )
}

/// After rows with explicit keys went into a table whose key the database
/// generates: the statement that moves its sequence past the largest key,
/// so the next generated key does not collide with them. `None` for
/// dialects without sequences.
pub(crate) fn sync_sequence(t: &TableDef, dialect: &Dialect) -> Option<(String, Vec<Value>)> {
    if !dialect.sync_sequences() {
        return None;
    }
    let key = t.primary_key_columns().next()?.name;
    let mut sql = String::from("SELECT setval(pg_get_serial_sequence($1, $2), max(");
    push_ident(&mut sql, key).ok()?;
    sql.push_str(")) FROM ");
    push_ident(&mut sql, t.name).ok()?;
    sql.push_str(" HAVING max(");
    push_ident(&mut sql, key).ok()?;
    sql.push_str(") IS NOT NULL");
    let mut table = String::new();
    push_ident(&mut table, t.name).ok()?;
    Some((sql, vec![table.into(), key.into()]))
}

/// Statements that write rows without loading them (bulk and filtered
/// updates, upserts, soft deletes by filter) move a version counter on
/// with `"version" = "t"."version" + 1`, so a session holding an older
/// version gets [`crate::Error::StaleData`] rather than overwriting them;
/// unless the statement sets the counter itself.
pub(crate) fn bump_version(t: &'static TableDef, set: &mut Vec<(crate::sql::ast::Ident, Expr)>) {
    let Some(v) = t.version else { return };
    let name = t.columns[v].name;
    if set.iter().any(|(c, _)| c == name) {
        return;
    }
    set.push((
        name.into(),
        Expr::Incremented {
            table: t.name.into(),
            name: name.into(),
        },
    ));
}

/// Most rows one multi-row INSERT carries (SQLAlchemy's
/// `insertmanyvalues_page_size`); fewer when the dialect's parameter limit
/// says so.
pub(crate) const MAX_ROWS: usize = 1000;

/// Rows per statement for `columns` parameters per row. A row with no
/// column to give (only a generated key) is one `INSERT ... DEFAULT
/// VALUES` of its own.
pub(crate) fn rows_per_statement(columns: usize, max_params: usize) -> usize {
    if columns == 0 {
        return 1;
    }
    (max_params / columns).clamp(1, MAX_ROWS)
}

/// `INSERT INTO "t" (columns) VALUES (?, ...), ... (rows of them)`, with
/// `RETURNING` the key when `returning`.
pub(crate) fn insert_many(
    t: &'static TableDef,
    columns: &[usize],
    rows: usize,
    returning: bool,
) -> Insert {
    let names: Vec<_> = columns.iter().map(|&c| t.columns[c].name.into()).collect();
    let row: Vec<Expr> = columns.iter().map(|_| Expr::value(0)).collect();
    Insert {
        table: t.name.into(),
        columns: names,
        rows: vec![row; rows],
        returning: if returning {
            t.primary_key_columns().map(|c| c.name.into()).collect()
        } else {
            Vec::new()
        },
    }
}

/// The SQL of [`insert_many`] of `columns` (those of
/// [`insert_columns`]`(t, key_given)`), written once per connection and
/// then taken from the connection's cache: a flush or a bulk insert of
/// many rows sends statements of the same few sizes.
pub(crate) fn insert_many_sql(
    conn: &mut Conn,
    t: &'static TableDef,
    columns: &[usize],
    key_given: bool,
    rows: usize,
    returning: bool,
) -> crate::error::Result<Arc<str>> {
    let cache_key = (t as *const TableDef as usize, key_given, returning, rows);
    if let Some(sql) = conn.bulk_sql.get(&cache_key) {
        return Ok(Arc::clone(sql));
    }
    let insert = Statement::Insert(insert_many(t, columns, rows, returning));
    let sql: Arc<str> = writer::write(&insert, conn.dialect())?.sql.into();
    conn.bulk_sql.insert(cache_key, Arc::clone(&sql));
    Ok(sql)
}

/// Run `stmt`, a multi-row INSERT of `rows` rows with `RETURNING` the key
/// (from [`insert_many_sql`]): the keys in VALUES order, or `None` when
/// they cannot be matched to the rows that way
/// ([`keys_in_values_order`]).
pub(crate) fn returned_keys(
    stmt: &mut Stmt<'_>,
    rows: usize,
    dialect: &Dialect,
) -> crate::error::Result<Option<Vec<i64>>> {
    let mut keys = Vec::with_capacity(rows);
    stmt.query(|row| {
        if let ValueRef::Integer(key) = row.get(0)? {
            keys.push(key);
        }
        Ok(())
    })?;
    Ok(keys_in_values_order(&mut keys, rows, dialect).then_some(keys))
}

/// The keys a multi-row INSERT of `rows` rows returned, sorted into VALUES
/// order; false when they cannot be matched to the rows that way.
///
/// `RETURNING` does not order its rows, so the keys are sorted. That
/// relies on the database generating keys in VALUES order, as
/// SQLAlchemy's insertmanyvalues does for an autoincrement key ("implicit
/// sentinel"): SQLite gives each row the largest rowid plus one, in the
/// order the rows are read, and nothing else writes under the session's
/// write lock, so the keys are also consecutive (checked: a table whose
/// largest rowid is already 2^63-1 gets random rowids); PostgreSQL
/// evaluates a SERIAL column's `nextval()` per VALUES row in list order,
/// and a sequence only grows (other sessions may take values in between,
/// so the keys must be distinct, not consecutive).
fn keys_in_values_order(keys: &mut [i64], rows: usize, dialect: &Dialect) -> bool {
    keys.sort_unstable();
    let distinct = keys.windows(2).all(|w| w[0] < w[1]);
    let consecutive = keys
        .last()
        .zip(keys.first())
        .is_some_and(|(l, f)| l.checked_sub(*f) == i64::try_from(rows.saturating_sub(1)).ok());
    keys.len() == rows && distinct && (!dialect.consecutive_keys() || consecutive)
}
