//! The statements the session runs for every table (select by key, insert,
//! update, delete), built through the AST and writer once and cached as
//! text, so the hot paths neither build trees nor format SQL.

use super::table::{ColumnSet, TableDef};
use crate::sql::ast::{BinOp, Delete, Expr, Insert, Select, Statement, TableRef, Update};
use crate::sql::writer;

fn text(stmt: Statement) -> String {
    // Identifiers in a TableDef were checked by the derive; failing here
    // would be a bug in the crate, so fall back to SQL that errors cleanly.
    writer::write(&stmt)
        .map(|w| w.sql)
        .unwrap_or_else(|e| format!("SELECT RAISE(ABORT, 'orm: cannot write statement: {e}')"))
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
pub(crate) fn select_all(t: &'static TableDef) -> &'static str {
    t.__cache.select_list.get_or_init(|| {
        let mut s = Select::new(TableRef::new(t.name));
        s.columns = select_columns(t, t.name);
        text(Statement::Select(s))
    })
}

/// `SELECT <all columns> FROM "t" WHERE <key> = ?`.
pub(crate) fn select_by_key(t: &'static TableDef) -> &'static str {
    t.__cache.select_by_key.get_or_init(|| {
        let mut s = Select::new(TableRef::new(t.name));
        s.columns = select_columns(t, t.name);
        s.filter = Some(key_condition(t, t.name));
        text(Statement::Select(s))
    })
}

/// `INSERT INTO "t" (...) VALUES (...)`, with every column, or without the
/// key column when SQLite generates it.
pub(crate) fn insert(t: &'static TableDef, with_key: bool) -> &'static str {
    let cell = if with_key {
        &t.__cache.insert_all
    } else {
        &t.__cache.insert_without_key
    };
    cell.get_or_init(|| {
        let columns: Vec<_> = insert_columns(t, with_key)
            .map(|i| t.columns[i].name.into())
            .collect();
        let row = columns.iter().map(|_| Expr::value(0)).collect();
        text(Statement::Insert(Insert {
            table: t.name.into(),
            rows: if columns.is_empty() {
                vec![]
            } else {
                vec![row]
            },
            columns,
            returning: vec![],
        }))
    })
}

/// The columns an INSERT binds, in order.
pub(crate) fn insert_columns(t: &'static TableDef, with_key: bool) -> impl Iterator<Item = usize> {
    let skip_key = !with_key && t.auto_increment;
    let key = t.primary_key.first().copied();
    (0..t.columns.len()).filter(move |&i| !(skip_key && Some(i) == key))
}

/// `UPDATE "t" SET <columns> = ? WHERE <key> = ?`.
pub(crate) fn update(t: &'static TableDef, columns: ColumnSet) -> String {
    text(Statement::Update(Update {
        table: t.name.into(),
        set: columns
            .iter()
            .map(|i| (t.columns[i].name.into(), Expr::value(0)))
            .collect(),
        filter: Some(key_condition(t, t.name)),
        returning: vec![],
    }))
}

/// `DELETE FROM "t" WHERE <key> = ?`.
pub(crate) fn delete_by_key(t: &'static TableDef) -> &'static str {
    t.__cache.delete_by_key.get_or_init(|| {
        text(Statement::Delete(Delete {
            table: t.name.into(),
            filter: Some(key_condition(t, t.name)),
            returning: vec![],
        }))
    })
}
