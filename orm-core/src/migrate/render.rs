//! Operations written as statements for a dialect, as plain data (the
//! statements are `sql::ast` nodes; the writer turns them into text).
//!
//! PostgreSQL changes tables in place, one `ALTER TABLE` per change.
//! SQLite's `ALTER TABLE` only adds and renames, so every other change to
//! an existing table is one rebuild of that table, from its shape before
//! the revision to its shape after (SQLite's documented procedure, as
//! Alembic's batch mode does it): create the new table under a temporary
//! name, copy the rows, drop the old table, rename the new one (with
//! `legacy_alter_table` on, so views and other tables' triggers that name
//! the table are left as they are), and create its indexes and triggers
//! again. Foreign keys are off meanwhile (the runner switches them off
//! before the transaction and checks them before COMMIT).

use super::compare::Op;
use super::describe::{Schema, Table, column_spec, foreign_key_spec, index_statement};
use crate::backend::{Dialect, SchemaEditing};
use crate::sql::ast::{
    AlterAction, AlterTable, DropIndex, DropTable, InsertSelect, Pragma, Statement, UniqueSpec,
};

/// The prefix of the table a SQLite rebuild copies rows into.
pub(crate) const REBUILD_PREFIX: &str = "_orm_tmp_";

/// Statements with the comments a revision shows above them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Chunk {
    pub comments: Vec<String>,
    pub statements: Vec<Statement>,
}

/// A section of a revision: its statements, and whether foreign keys must
/// be off while it runs (a SQLite rebuild or dropped table).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rendered {
    pub chunks: Vec<Chunk>,
    pub foreign_keys_off: bool,
}

/// `ops` applied to `before`, written for `dialect`.
pub(crate) fn render(ops: &[Op], before: &Schema, dialect: &Dialect) -> Rendered {
    match dialect.schema_editing() {
        SchemaEditing::PostgresAlter => Rendered {
            chunks: ops.iter().map(|op| postgres_chunk(op, before)).collect(),
            foreign_keys_off: false,
        },
        _ => render_sqlite(ops, before, dialect),
    }
}

/// The schema after `op`.
pub(crate) fn apply(schema: &mut Schema, op: &Op) {
    if let Op::CreateTable { table } = op {
        schema.tables.retain(|t| t.name != table.name);
        schema.tables.push(table.clone());
        return;
    }
    if let Op::DropTable { table } = op {
        schema.tables.retain(|t| t.name != table.name);
        return;
    }
    let Some(t) = schema.table_mut(op.table()) else {
        return;
    };
    let sorted = |c: &[String]| {
        let mut c = c.to_vec();
        c.sort();
        c
    };
    match op {
        Op::AddColumn { column, .. } => {
            t.columns.retain(|c| c.name != column.name);
            t.columns.push(column.clone());
        }
        Op::DropColumn { column, .. } => {
            let gone = |cols: &[String]| cols.contains(&column.name);
            t.columns.retain(|c| c.name != column.name);
            t.indexes.retain(|i| !gone(&i.columns));
            t.uniques.retain(|u| !gone(&u.columns));
            t.foreign_keys.retain(|f| !gone(&f.columns));
        }
        Op::AlterColumn { to, .. } => {
            if let Some(c) = t.columns.iter_mut().find(|c| c.name == to.name) {
                *c = to.clone();
            }
        }
        Op::CreateIndex { index, .. } => {
            t.indexes.retain(|i| i.name != index.name);
            t.indexes.push(index.clone());
        }
        Op::DropIndex { index, .. } => t.indexes.retain(|i| i.name != index.name),
        Op::AddUnique { unique, .. } => t.uniques.push(unique.clone()),
        Op::DropUnique { unique, .. } => {
            t.uniques
                .retain(|u| sorted(&u.columns) != sorted(&unique.columns));
        }
        Op::AddForeignKey { foreign_key, .. } => t.foreign_keys.push(foreign_key.clone()),
        Op::DropForeignKey { foreign_key, .. } => t.foreign_keys.retain(|f| {
            !(f.columns == foreign_key.columns
                && f.target_table == foreign_key.target_table
                && f.target_columns == foreign_key.target_columns)
        }),
        Op::CreateTable { .. } | Op::DropTable { .. } | Op::Unsupported { .. } => {}
    }
}

/// The comments every operation gets: what it does, and what it loses.
fn op_comments(op: &Op) -> Vec<String> {
    let mut comments = vec![op.to_string()];
    if let Some(why) = op.loses_data() {
        comments.push(format!("WARNING: loses data: {why}"));
    }
    if let Op::AddColumn { table, column } = op
        && !column.nullable
        && column.default.is_none()
        && !column.autoincrement
    {
        comments.push(format!(
            "WARNING: \"{table}\".\"{}\" is NOT NULL without a default: this fails if the table has rows (give it a DEFAULT, or add it NULL, fill it, then make it NOT NULL)",
            column.name
        ));
    }
    comments
}

fn postgres_chunk(op: &Op, _before: &Schema) -> Chunk {
    let alter = |table: &str, action| {
        Statement::AlterTable(AlterTable {
            table: table.to_owned().into(),
            action,
        })
    };
    let statements = match op {
        Op::CreateTable { table } => {
            let mut s = vec![table.create_statement(&table.name, &Dialect::POSTGRES)];
            s.extend(table.index_statements());
            s
        }
        Op::DropTable { table } => vec![Statement::DropTable(DropTable {
            name: table.name.clone().into(),
            if_exists: false,
        })],
        Op::AddColumn { table, column } => {
            vec![alter(
                table,
                AlterAction::AddColumn(column_spec(column, true)),
            )]
        }
        Op::DropColumn { table, column } => {
            vec![alter(
                table,
                AlterAction::DropColumn(column.name.clone().into()),
            )]
        }
        Op::AlterColumn { table, from, to } => {
            let column = || to.name.clone().into();
            let mut s = Vec::new();
            let type_changes =
                super::compare::canonical_type(&from.sql_type, SchemaEditing::PostgresAlter)
                    != super::compare::canonical_type(&to.sql_type, SchemaEditing::PostgresAlter);
            let default_changes = from.default != to.default;
            // The old default may not convert to the new type: it goes first.
            if (type_changes || default_changes) && from.default.is_some() && !from.autoincrement {
                s.push(alter(
                    table,
                    AlterAction::SetDefault {
                        column: column(),
                        sql_type: to.sql_type.clone().into(),
                        default: None,
                        default_sql: None,
                    },
                ));
            }
            if type_changes {
                s.push(alter(
                    table,
                    AlterAction::SetType {
                        column: column(),
                        sql_type: to.sql_type.clone().into(),
                    },
                ));
            }
            if (type_changes || default_changes) && !to.autoincrement {
                let spec = column_spec(to, true);
                if spec.default.is_some() || spec.default_sql.is_some() {
                    s.push(alter(
                        table,
                        AlterAction::SetDefault {
                            column: column(),
                            sql_type: spec.sql_type,
                            default: spec.default,
                            default_sql: spec.default_sql,
                        },
                    ));
                }
            }
            if from.nullable != to.nullable {
                s.push(alter(
                    table,
                    AlterAction::SetNotNull {
                        column: column(),
                        not_null: !to.nullable,
                    },
                ));
            }
            s
        }
        Op::CreateIndex { table, index } => vec![index_statement(table, index)],
        Op::DropIndex { index, .. } => vec![Statement::DropIndex(DropIndex {
            name: index.name.clone().into(),
            if_exists: false,
        })],
        Op::AddUnique { table, unique } => vec![alter(
            table,
            AlterAction::AddUnique(UniqueSpec {
                name: Some(
                    unique
                        .name
                        .clone()
                        .unwrap_or_else(|| postgres_name(table, &unique.columns, "key"))
                        .into(),
                ),
                columns: unique.columns.iter().map(|c| c.clone().into()).collect(),
            }),
        )],
        Op::DropUnique { table, unique } => vec![alter(
            table,
            AlterAction::DropConstraint(
                unique
                    .name
                    .clone()
                    .unwrap_or_else(|| postgres_name(table, &unique.columns, "key"))
                    .into(),
            ),
        )],
        Op::AddForeignKey { table, foreign_key } => {
            let name = foreign_key
                .name
                .clone()
                .unwrap_or_else(|| postgres_name(table, &foreign_key.columns, "fkey"));
            vec![alter(
                table,
                AlterAction::AddForeignKey(foreign_key_spec(foreign_key, Some(name))),
            )]
        }
        Op::DropForeignKey { table, foreign_key } => vec![alter(
            table,
            AlterAction::DropConstraint(
                foreign_key
                    .name
                    .clone()
                    .unwrap_or_else(|| postgres_name(table, &foreign_key.columns, "fkey"))
                    .into(),
            ),
        )],
        Op::Unsupported { .. } => Vec::new(),
    };
    Chunk {
        comments: op_comments(op),
        statements,
    }
}

/// The name PostgreSQL gives a constraint it names itself
/// (`<table>_<columns>_<label>`, shortened to 63 bytes the way
/// `makeObjectName` does), so that a constraint a revision adds has the
/// name `CREATE TABLE` would have given it.
pub(crate) fn postgres_name(table: &str, columns: &[String], label: &str) -> String {
    const MAX: usize = 63;
    let second = columns.join("_");
    let avail = MAX.saturating_sub(label.len() + 2);
    let (mut n1, mut n2) = (table.len(), second.len());
    while n1 + n2 > avail {
        if n1 > n2 {
            n1 -= 1;
        } else {
            n2 -= 1;
        }
    }
    let cut = |s: &str, mut n: usize| {
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        s[..n].to_owned()
    };
    format!("{}_{}_{label}", cut(table, n1), cut(&second, n2))
}

/// Whether SQLite can make this change without rebuilding the table.
fn sqlite_in_place(op: &Op) -> bool {
    match op {
        // ADD COLUMN takes no key, and a NOT NULL column needs a constant
        // default.
        Op::AddColumn { column, .. } => {
            !column.autoincrement
                && (column.nullable
                    || matches!(&column.default, Some(super::describe::ColumnDefault::Value(v)) if *v != crate::types::Value::Null))
        }
        Op::CreateTable { .. }
        | Op::DropTable { .. }
        | Op::CreateIndex { .. }
        | Op::DropIndex { .. }
        | Op::Unsupported { .. } => true,
        _ => false,
    }
}

fn render_sqlite(ops: &[Op], before: &Schema, dialect: &Dialect) -> Rendered {
    let rebuilt: Vec<&str> = {
        let mut names: Vec<&str> = Vec::new();
        for op in ops.iter().filter(|op| !sqlite_in_place(op)) {
            if !names.contains(&op.table()) {
                names.push(op.table());
            }
        }
        names
    };
    let mut state = before.clone();
    let mut chunks = Vec::new();
    let mut foreign_keys_off = false;
    let mut done: Vec<&str> = Vec::new();
    for op in ops {
        let table = op.table();
        if rebuilt.contains(&table) && !matches!(op, Op::CreateTable { .. } | Op::DropTable { .. })
        {
            if done.contains(&table) {
                continue;
            }
            done.push(table);
            let mine: Vec<&Op> = ops.iter().filter(|o| o.table() == table).collect();
            let Some(old) = state.table(table).cloned() else {
                continue;
            };
            for o in &mine {
                apply(&mut state, o);
            }
            let Some(new) = state.table(table).cloned() else {
                continue;
            };
            chunks.push(rebuild(&old, &new, &mine, dialect));
            foreign_keys_off = true;
            continue;
        }
        let statements = match op {
            Op::CreateTable { table } => {
                let mut s = vec![table.create_statement(&table.name, dialect)];
                s.extend(table.index_statements());
                s
            }
            Op::DropTable { table } => {
                // Dropping a parent with foreign keys on would delete or
                // refuse its children's rows first.
                foreign_keys_off = true;
                vec![Statement::DropTable(DropTable {
                    name: table.name.clone().into(),
                    if_exists: false,
                })]
            }
            Op::AddColumn { table, column } => vec![Statement::AlterTable(AlterTable {
                table: table.clone().into(),
                action: AlterAction::AddColumn(column_spec(column, false)),
            })],
            Op::CreateIndex { table, index } => vec![index_statement(table, index)],
            Op::DropIndex { index, .. } => vec![Statement::DropIndex(DropIndex {
                name: index.name.clone().into(),
                if_exists: false,
            })],
            _ => Vec::new(),
        };
        apply(&mut state, op);
        chunks.push(Chunk {
            comments: op_comments(op),
            statements,
        });
    }
    Rendered {
        chunks,
        foreign_keys_off,
    }
}

/// SQLite's rebuild of one table from `old` to `new`.
fn rebuild(old: &Table, new: &Table, ops: &[&Op], dialect: &Dialect) -> Chunk {
    let temp = format!("{REBUILD_PREFIX}{}", new.name);
    let mut comments = vec![format!(
        "table \"{}\" is rebuilt (SQLite cannot make these changes in place):",
        new.name
    )];
    for op in ops {
        for (i, c) in op_comments(op).into_iter().enumerate() {
            comments.push(format!("{}{c}", if i == 0 { "  * " } else { "    " }));
        }
    }
    for u in &old.unsupported {
        comments.push(format!(
            "WARNING: the rebuild does not keep {u} of \"{}\": add it back to the new table below",
            old.name
        ));
    }
    let common: Vec<String> = new
        .columns
        .iter()
        .filter(|c| old.column(&c.name).is_some())
        .map(|c| c.name.clone())
        .collect();
    let mut statements = vec![new.create_statement(&temp, dialect)];
    if !common.is_empty() {
        statements.push(Statement::InsertSelect(InsertSelect {
            table: temp.clone().into(),
            columns: common.iter().map(|c| c.clone().into()).collect(),
            from_table: old.name.clone().into(),
            from_columns: common.iter().map(|c| c.clone().into()).collect(),
        }));
    }
    statements.push(Statement::DropTable(DropTable {
        name: old.name.clone().into(),
        if_exists: false,
    }));
    statements.push(Statement::Pragma(Pragma {
        name: "legacy_alter_table",
        value: Some("ON"),
    }));
    statements.push(Statement::AlterTable(AlterTable {
        table: temp.into(),
        action: AlterAction::RenameTo(new.name.clone().into()),
    }));
    statements.push(Statement::Pragma(Pragma {
        name: "legacy_alter_table",
        value: Some("OFF"),
    }));
    statements.extend(new.index_statements());
    statements.extend(new.recreate.iter().cloned().map(Statement::Verbatim));
    Chunk {
        comments,
        statements,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrate::describe::{TableColumn, Unique};
    use crate::sql::writer;

    fn column(name: &str, sql_type: &str, nullable: bool) -> TableColumn {
        TableColumn {
            name: name.into(),
            sql_type: sql_type.into(),
            nullable,
            default: None,
            autoincrement: false,
        }
    }

    fn user() -> Table {
        let mut t = Table::new("user");
        t.columns = vec![
            TableColumn {
                autoincrement: true,
                ..column("id", "INTEGER", false)
            },
            column("username", "VARCHAR(100)", false),
        ];
        t.primary_key = vec!["id".into()];
        t
    }

    fn sql(r: &Rendered, dialect: &Dialect) -> Vec<String> {
        r.chunks
            .iter()
            .flat_map(|c| &c.statements)
            .map(|s| writer::write(s, dialect).unwrap().sql)
            .collect()
    }

    fn add_unique() -> Op {
        Op::AddUnique {
            table: "user".into(),
            unique: Unique {
                name: None,
                columns: vec!["username".into()],
            },
        }
    }

    #[test]
    fn sqlite_rebuilds_a_table_for_a_new_unique() {
        let before = Schema {
            tables: vec![user()],
        };
        let r = render(&[add_unique()], &before, &Dialect::SQLITE);
        assert!(r.foreign_keys_off);
        assert_eq!(
            sql(&r, &Dialect::SQLITE),
            [
                "CREATE TABLE \"_orm_tmp_user\" (\n\t\"id\" INTEGER NOT NULL, \n\t\"username\" VARCHAR(100) NOT NULL, \n\tPRIMARY KEY (\"id\"), \n\tUNIQUE (\"username\")\n)",
                r#"INSERT INTO "_orm_tmp_user" ("id", "username") SELECT "id", "username" FROM "user""#,
                r#"DROP TABLE "user""#,
                "PRAGMA legacy_alter_table = ON",
                r#"ALTER TABLE "_orm_tmp_user" RENAME TO "user""#,
                "PRAGMA legacy_alter_table = OFF",
            ]
        );
    }

    #[test]
    fn postgres_alters_in_place_with_the_names_it_would_choose() {
        let before = Schema {
            tables: vec![user()],
        };
        let r = render(&[add_unique()], &before, &Dialect::POSTGRES);
        assert!(!r.foreign_keys_off);
        assert_eq!(
            sql(&r, &Dialect::POSTGRES),
            [r#"ALTER TABLE "user" ADD CONSTRAINT "user_username_key" UNIQUE ("username")"#]
        );
        let down = render(&[add_unique().inverse()], &before, &Dialect::POSTGRES);
        assert_eq!(
            sql(&down, &Dialect::POSTGRES),
            [r#"ALTER TABLE "user" DROP CONSTRAINT "user_username_key""#]
        );
    }

    #[test]
    fn sqlite_adds_nullable_columns_in_place() {
        let before = Schema {
            tables: vec![user()],
        };
        let op = Op::AddColumn {
            table: "user".into(),
            column: column("email", "VARCHAR(120)", true),
        };
        let r = render(std::slice::from_ref(&op), &before, &Dialect::SQLITE);
        assert!(!r.foreign_keys_off);
        assert_eq!(
            sql(&r, &Dialect::SQLITE),
            [r#"ALTER TABLE "user" ADD COLUMN "email" VARCHAR(120)"#]
        );
        let down = render(&[op.inverse()], &before, &Dialect::SQLITE);
        assert_eq!(
            sql(&down, &Dialect::SQLITE)[0].lines().next().unwrap(),
            "CREATE TABLE \"_orm_tmp_user\" ("
        );
    }

    #[test]
    fn postgres_column_changes_in_order() {
        let from = column("username", "character varying(100)", true);
        let mut to = column("username", "text", false);
        to.default = Some(super::super::describe::ColumnDefault::Value(
            crate::types::Value::Text("x".into()),
        ));
        let op = Op::AlterColumn {
            table: "user".into(),
            from,
            to,
        };
        let r = render(&[op], &Schema::default(), &Dialect::POSTGRES);
        assert_eq!(
            sql(&r, &Dialect::POSTGRES),
            [
                r#"ALTER TABLE "user" ALTER COLUMN "username" TYPE text USING "username"::text"#,
                r#"ALTER TABLE "user" ALTER COLUMN "username" SET DEFAULT 'x'"#,
                r#"ALTER TABLE "user" ALTER COLUMN "username" SET NOT NULL"#,
            ]
        );
    }

    #[test]
    fn a_rebuild_recreates_triggers_and_warns_about_what_it_drops() {
        let mut t = user();
        t.recreate = vec!["CREATE TRIGGER t AFTER INSERT ON user BEGIN SELECT 1; END".into()];
        t.unsupported = vec!["a CHECK constraint".into()];
        let before = Schema { tables: vec![t] };
        let r = render(&[add_unique()], &before, &Dialect::SQLITE);
        let comments = r.chunks[0].comments.join("\n");
        assert!(
            comments.contains("WARNING: the rebuild does not keep a CHECK constraint of \"user\""),
            "{comments}"
        );
        assert_eq!(
            sql(&r, &Dialect::SQLITE).last().unwrap(),
            "CREATE TRIGGER t AFTER INSERT ON user BEGIN SELECT 1; END"
        );
    }

    #[test]
    fn long_constraint_names_are_shortened_like_postgres() {
        assert_eq!(
            postgres_name("user", &["username".into()], "key"),
            "user_username_key"
        );
        let long = "t".repeat(40);
        let name = postgres_name(&long, &["c".repeat(40)], "fkey");
        assert_eq!(name.len(), 63);
        assert!(name.ends_with("_fkey"));
    }
}
