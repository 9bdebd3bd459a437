//! `CREATE TABLE` / `CREATE INDEX` / `DROP TABLE` statements from a
//! [`TableDef`], shaped like the DDL SQLAlchemy emits for the same model.

use super::table::{DefaultValue, TableDef};
use std::borrow::Cow;

use crate::backend::{Dialect, TypeNames};
use crate::sql::ast::{
    ColumnSpec, CreateIndex, CreateTable, DropTable, ForeignKeySpec, Statement, UniqueSpec,
};

/// `CREATE TABLE IF NOT EXISTS` for one table.
///
/// Primary key, UNIQUE and FOREIGN KEY clauses are table constraints, as
/// SQLAlchemy writes them. A one-column INTEGER primary key declared this
/// way is still SQLite's rowid.
pub(crate) fn create_table(t: &TableDef, dialect: &Dialect) -> Statement {
    let columns = t
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| ColumnSpec {
            name: c.name.into(),
            sql_type: column_type(t, i, dialect),
            not_null: !c.nullable,
            default: c.default.and_then(|d| d.to_value()),
            default_sql: match c.default {
                Some(DefaultValue::Expression(sql)) => Some(sql.into()),
                _ => None,
            },
        })
        .collect();
    let uniques = t
        .columns
        .iter()
        // A column that is both unique and indexed gets a UNIQUE INDEX
        // instead (as in SQLAlchemy); a key column is unique already.
        .filter(|c| c.unique && !c.index && !(c.primary_key && t.primary_key.len() == 1))
        .map(|c| UniqueSpec {
            name: None,
            columns: vec![c.name.into()],
        })
        .collect();
    let foreign_keys = t
        .foreign_keys
        .iter()
        .map(|fk| ForeignKeySpec {
            name: None,
            columns: fk
                .columns
                .iter()
                .map(|&i| t.columns[i].name.into())
                .collect(),
            target_table: fk.target.table_name().into(),
            target_columns: fk.target.columns().iter().map(|&c| c.into()).collect(),
            on_delete: fk.on_delete.map(|a| a.sql()),
            on_update: fk.on_update.map(|a| a.sql()),
        })
        .collect();
    Statement::CreateTable(CreateTable {
        name: t.name.into(),
        if_not_exists: true,
        columns,
        primary_key: t.primary_key_columns().map(|c| c.name.into()).collect(),
        uniques,
        foreign_keys,
    })
}

/// The type `CREATE TABLE` declares column `column` of `t` with: the
/// derive's SQLite name, or SQLAlchemy's name for the same type on
/// PostgreSQL (SERIAL for a generated integer key).
pub(crate) fn column_type(t: &TableDef, column: usize, dialect: &Dialect) -> Cow<'static, str> {
    let c = &t.columns[column];
    match dialect.type_names() {
        TypeNames::Sqlite => c.sql_type.into(),
        TypeNames::Postgres if t.auto_increment && t.primary_key == [column] => "SERIAL".into(),
        TypeNames::Postgres if !c.pg_type.is_empty() => c.pg_type.into(),
        TypeNames::Postgres => match c.sql_type {
            "BLOB" => "BYTEA".into(),
            "DATETIME" => "TIMESTAMP WITHOUT TIME ZONE".into(),
            other => other.into(),
        },
    }
}

/// `CREATE INDEX IF NOT EXISTS` for every indexed column and every
/// multi-column index. Single-column names follow SQLAlchemy: `ix_<table>_<column>`.
pub(crate) fn create_indexes(t: &TableDef) -> Vec<Statement> {
    let single = t.columns.iter().filter(|c| c.index).map(|c| CreateIndex {
        name: format!("ix_{}_{}", t.name, c.name).into(),
        table: t.name.into(),
        columns: vec![c.name.into()],
        unique: c.unique,
        if_not_exists: true,
    });
    let multi = t.indexes.iter().map(|ix| CreateIndex {
        name: ix.name.into(),
        table: t.name.into(),
        columns: ix
            .columns
            .iter()
            .map(|&i| t.columns[i].name.into())
            .collect(),
        unique: ix.unique,
        if_not_exists: true,
    });
    single.chain(multi).map(Statement::CreateIndex).collect()
}

/// `DROP TABLE IF EXISTS`.
pub(crate) fn drop_table(t: &TableDef) -> Statement {
    Statement::DropTable(DropTable {
        name: t.name.into(),
        if_exists: true,
    })
}
