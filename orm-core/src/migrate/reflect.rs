//! Reading a live database's schema into a [`Schema`]: tables, columns
//! (type, nullability, default), primary keys, UNIQUE constraints,
//! indexes, foreign keys with their actions, and (SQLite) the triggers a
//! rebuild must create again.
//!
//! Each database's catalog is read with plain queries through the
//! connection, chosen by the dialect's [`SchemaEditing`]: SQLite's
//! `sqlite_master` and `pragma_*` table functions, PostgreSQL's
//! `pg_catalog` for the first schema of the search path.

use super::compare::parse_default;
use super::describe::{ForeignKey, Index, Schema, Table, TableColumn, Unique};
use crate::backend::{Conn, SchemaEditing};
use crate::error::{Error, Result};
use crate::observe::Observer;
use crate::schema::FkAction;
use crate::types::Value;

/// The rows of a catalog query, as values.
pub(crate) fn rows(
    conn: &mut Conn,
    sql: &str,
    params: &[Value],
    observer: &Observer,
) -> Result<Vec<Vec<Value>>> {
    let mut out = Vec::new();
    conn.prepare_bound(sql, params, observer)?.query(|row| {
        let mut values = Vec::with_capacity(row.len());
        for i in 0..row.len() {
            values.push(row.get(i)?.to_owned());
        }
        out.push(values);
        Ok(())
    })?;
    Ok(out)
}

fn text(v: Option<&Value>) -> String {
    match v {
        Some(Value::Text(s)) => s.clone(),
        Some(Value::Integer(i)) => i.to_string(),
        _ => String::new(),
    }
}

fn int(v: Option<&Value>) -> i64 {
    match v {
        Some(Value::Integer(i)) => *i,
        Some(Value::Text(s)) => s.parse().unwrap_or(0),
        _ => 0,
    }
}

fn action(s: &str) -> FkAction {
    match s.to_ascii_uppercase().as_str() {
        "CASCADE" | "C" => FkAction::Cascade,
        "SET NULL" | "N" => FkAction::SetNull,
        "SET DEFAULT" | "D" => FkAction::SetDefault,
        "RESTRICT" | "R" => FkAction::Restrict,
        _ => FkAction::NoAction,
    }
}

fn no_catalog() -> Error {
    Error::Usage(
        "this database's dialect does not say how to read its schema (see Dialect::with_schema_editing)"
            .into(),
    )
}

/// The schema of the database `conn` is connected to.
pub(crate) fn read(conn: &mut Conn, observer: &Observer) -> Result<Schema> {
    match conn.dialect().schema_editing() {
        SchemaEditing::SqliteRebuild => read_sqlite(conn, observer),
        SchemaEditing::PostgresAlter => read_postgres(conn, observer),
        _ => Err(no_catalog()),
    }
}

/// The names of the database's tables.
pub(crate) fn table_names(conn: &mut Conn, observer: &Observer) -> Result<Vec<String>> {
    let sql = match conn.dialect().schema_editing() {
        SchemaEditing::SqliteRebuild => SQLITE_TABLES,
        SchemaEditing::PostgresAlter => POSTGRES_TABLES,
        _ => return Err(no_catalog()),
    };
    Ok(rows(conn, sql, &[], observer)?
        .into_iter()
        .map(|r| text(r.first()))
        .collect())
}

const SQLITE_TABLES: &str = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name";

const POSTGRES_TABLES: &str = "SELECT c.relname::text FROM pg_catalog.pg_class c \
     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
     WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') ORDER BY 1";

fn read_sqlite(conn: &mut Conn, observer: &Observer) -> Result<Schema> {
    let mut schema = Schema::default();
    let tables = rows(
        conn,
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
        &[],
        observer,
    )?;
    for t in tables {
        let name = text(t.first());
        let param = [Value::Text(name.clone())];
        let mut table = Table::new(name.clone());
        table.unsupported = unsupported_sqlite(&text(t.get(1)));
        let columns = rows(
            conn,
            "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?) ORDER BY cid",
            &param,
            observer,
        )?;
        let mut key: Vec<(i64, String)> = Vec::new();
        for c in &columns {
            let pk = int(c.get(4));
            if pk > 0 {
                key.push((pk, text(c.first())));
            }
        }
        key.sort();
        table.primary_key = key.into_iter().map(|(_, c)| c).collect();
        for c in columns {
            let name = text(c.first());
            let sql_type = text(c.get(1));
            let in_key = table.primary_key.contains(&name);
            let autoincrement =
                in_key && table.primary_key.len() == 1 && sql_type.eq_ignore_ascii_case("INTEGER");
            table.columns.push(TableColumn {
                nullable: int(c.get(2)) == 0 && !in_key,
                default: match c.get(3) {
                    Some(Value::Text(d)) => Some(parse_default(d)),
                    _ => None,
                },
                autoincrement,
                name,
                sql_type,
            });
        }
        let indexes = rows(
            conn,
            "SELECT l.name, l.\"unique\", l.origin, l.partial, m.sql FROM pragma_index_list(?) AS l \
             LEFT JOIN sqlite_master AS m ON m.type = 'index' AND m.name = l.name ORDER BY l.name",
            &param,
            observer,
        )?;
        for ix in indexes {
            let ix_name = text(ix.first());
            let origin = text(ix.get(2));
            if origin == "pk" {
                continue;
            }
            let parts = rows(
                conn,
                "SELECT name, cid FROM pragma_index_info(?) ORDER BY seqno",
                &[Value::Text(ix_name.clone())],
                observer,
            )?;
            let representable = int(ix.get(3)) == 0 && parts.iter().all(|p| int(p.get(1)) >= 0);
            let columns: Vec<String> = parts.iter().map(|p| text(p.first())).collect();
            match (origin.as_str(), representable) {
                ("u", true) => table.uniques.push(Unique {
                    name: None,
                    columns,
                }),
                (_, true) => table.indexes.push(Index {
                    name: ix_name,
                    columns,
                    unique: int(ix.get(1)) == 1,
                }),
                (_, false) => match ix.get(4) {
                    Some(Value::Text(sql)) => table.recreate.push(sql.clone()),
                    _ => table
                        .unsupported
                        .push(format!("index \"{ix_name}\" (partial or on an expression)")),
                },
            }
        }
        let fks = rows(
            conn,
            "SELECT id, \"table\", \"from\", \"to\", on_update, on_delete FROM pragma_foreign_key_list(?) ORDER BY id, seq",
            &param,
            observer,
        )?;
        let mut last_id = None;
        for f in fks {
            let id = int(f.first());
            if last_id != Some(id) {
                last_id = Some(id);
                table.foreign_keys.push(ForeignKey {
                    name: None,
                    columns: Vec::new(),
                    target_table: text(f.get(1)),
                    target_columns: Vec::new(),
                    on_update: action(&text(f.get(4))),
                    on_delete: action(&text(f.get(5))),
                });
            }
            if let Some(fk) = table.foreign_keys.last_mut() {
                fk.columns.push(text(f.get(2)));
                // NULL: the parent's primary key, filled in below.
                if let Some(Value::Text(to)) = f.get(3) {
                    fk.target_columns.push(to.clone());
                }
            }
        }
        let triggers = rows(
            conn,
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? AND sql IS NOT NULL ORDER BY name",
            &param,
            observer,
        )?;
        table
            .recreate
            .extend(triggers.into_iter().map(|r| text(r.first())));
        schema.tables.push(table);
    }
    // A foreign key that names no columns references the parent's key.
    let keys: Vec<(String, Vec<String>)> = schema
        .tables
        .iter()
        .map(|t| (t.name.clone(), t.primary_key.clone()))
        .collect();
    for t in &mut schema.tables {
        for fk in &mut t.foreign_keys {
            if fk.target_columns.is_empty()
                && let Some((_, key)) = keys.iter().find(|(n, _)| *n == fk.target_table)
            {
                fk.target_columns = key.clone();
            }
        }
    }
    Ok(schema)
}

/// What a SQLite `CREATE TABLE` text holds that a [`Table`] does not: a
/// rebuild from the description would lose it. Words inside quotes and
/// comments are skipped.
fn unsupported_sqlite(sql: &str) -> Vec<String> {
    let words = sql_words(sql);
    let mut found = Vec::new();
    let mut note = |what: &str| {
        if !found.iter().any(|f: &String| f == what) {
            found.push(what.to_owned());
        }
    };
    for (i, w) in words.iter().enumerate() {
        match w.as_str() {
            "CHECK" => note("a CHECK constraint"),
            "COLLATE" => note("a COLLATE clause"),
            "AUTOINCREMENT" => note("AUTOINCREMENT"),
            "GENERATED" | "AS" if words.get(i + 1).is_some_and(|n| n == "ALWAYS" || n == "(") => {
                note("a generated column")
            }
            "WITHOUT" if words.get(i + 1).is_some_and(|n| n == "ROWID") => note("WITHOUT ROWID"),
            "STRICT" if i + 1 == words.len() => note("STRICT"),
            "DEFERRABLE" => note("a DEFERRABLE foreign key"),
            "CONFLICT" => note("an ON CONFLICT clause"),
            _ => {}
        }
    }
    found
}

/// The upper-cased words and parentheses of SQL text outside quotes and
/// comments.
fn sql_words(sql: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = sql.chars().peekable();
    let mut word = String::new();
    let flush = |word: &mut String, words: &mut Vec<String>| {
        if !word.is_empty() {
            words.push(std::mem::take(word).to_ascii_uppercase());
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' | '`' | '[' => {
                flush(&mut word, &mut words);
                let close = if c == '[' { ']' } else { c };
                for d in chars.by_ref() {
                    if d == close {
                        break;
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                flush(&mut word, &mut words);
                for d in chars.by_ref() {
                    if d == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                flush(&mut word, &mut words);
                chars.next();
                let mut prev = ' ';
                for d in chars.by_ref() {
                    if prev == '*' && d == '/' {
                        break;
                    }
                    prev = d;
                }
            }
            c if c.is_alphanumeric() || c == '_' => word.push(c),
            '(' | ')' => {
                flush(&mut word, &mut words);
                words.push(c.to_string());
            }
            _ => flush(&mut word, &mut words),
        }
    }
    flush(&mut word, &mut words);
    words
}

fn read_postgres(conn: &mut Conn, observer: &Observer) -> Result<Schema> {
    let mut schema = Schema::default();
    for name in table_names(conn, observer)? {
        schema.tables.push(Table::new(name));
    }
    let columns = rows(
        conn,
        "SELECT c.relname::text, a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod), \
         a.attnotnull::int, pg_catalog.pg_get_expr(d.adbin, d.adrelid), a.attidentity::text, a.attgenerated::text \
         FROM pg_catalog.pg_attribute a \
         JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
         WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped \
         ORDER BY c.relname, a.attnum",
        &[],
        observer,
    )?;
    for c in columns {
        let Some(table) = schema.table_mut(&text(c.first())) else {
            continue;
        };
        let name = text(c.get(1));
        let raw_default = text(c.get(4));
        let identity = !text(c.get(5)).is_empty();
        let serial = raw_default.starts_with("nextval(");
        if !text(c.get(6)).is_empty() {
            table
                .unsupported
                .push(format!("the generated column \"{name}\""));
        }
        table.columns.push(TableColumn {
            name,
            sql_type: text(c.get(2)),
            nullable: int(c.get(3)) == 0,
            default: if raw_default.is_empty() || serial {
                None
            } else {
                Some(parse_default(&raw_default))
            },
            autoincrement: identity || serial,
        });
    }
    let constraints = rows(
        conn,
        "SELECT cl.relname::text, con.conname::text, con.contype::text, a.attname::text, \
         f.relname::text, fa.attname::text, con.confupdtype::text, con.confdeltype::text \
         FROM pg_catalog.pg_constraint con \
         JOIN pg_catalog.pg_class cl ON cl.oid = con.conrelid \
         JOIN pg_catalog.pg_namespace n ON n.oid = cl.relnamespace \
         CROSS JOIN LATERAL unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord) \
         JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum \
         LEFT JOIN pg_catalog.pg_class f ON f.oid = con.confrelid \
         LEFT JOIN pg_catalog.pg_attribute fa ON fa.attrelid = con.confrelid AND fa.attnum = con.confkey[k.ord] \
         WHERE n.nspname = current_schema() AND con.contype IN ('p', 'u', 'f') \
         ORDER BY cl.relname, con.conname, k.ord",
        &[],
        observer,
    )?;
    let mut last: Option<(String, String)> = None;
    for r in constraints {
        let table_name = text(r.first());
        let con = text(r.get(1));
        let Some(table) = schema.table_mut(&table_name) else {
            continue;
        };
        let column = text(r.get(3));
        let same = last.as_ref() == Some(&(table_name.clone(), con.clone()));
        match text(r.get(2)).as_str() {
            "p" => table.primary_key.push(column),
            "u" => match (same, table.uniques.last_mut()) {
                (true, Some(u)) => u.columns.push(column),
                _ => table.uniques.push(Unique {
                    name: Some(con.clone()),
                    columns: vec![column],
                }),
            },
            _ => match (same, table.foreign_keys.last_mut()) {
                (true, Some(fk)) => {
                    fk.columns.push(column);
                    fk.target_columns.push(text(r.get(5)));
                }
                _ => table.foreign_keys.push(ForeignKey {
                    name: Some(con.clone()),
                    columns: vec![column],
                    target_table: text(r.get(4)),
                    target_columns: vec![text(r.get(5))],
                    on_update: action(&text(r.get(6))),
                    on_delete: action(&text(r.get(7))),
                }),
            },
        }
        last = Some((table_name, con));
    }
    let indexes = rows(
        conn,
        "SELECT t.relname::text, i.relname::text, ix.indisunique::int, a.attname::text, \
         (ix.indpred IS NOT NULL OR ix.indexprs IS NOT NULL)::int \
         FROM pg_catalog.pg_index ix \
         JOIN pg_catalog.pg_class i ON i.oid = ix.indexrelid \
         JOIN pg_catalog.pg_class t ON t.oid = ix.indrelid \
         JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace \
         CROSS JOIN LATERAL unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
         LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum \
         WHERE n.nspname = current_schema() AND NOT ix.indisprimary AND k.ord <= ix.indnkeyatts \
         AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c WHERE c.conindid = ix.indexrelid AND c.contype IN ('p', 'u', 'x')) \
         ORDER BY t.relname, i.relname, k.ord",
        &[],
        observer,
    )?;
    let mut last: Option<(String, String)> = None;
    for r in indexes {
        let table_name = text(r.first());
        let ix_name = text(r.get(1));
        let Some(table) = schema.table_mut(&table_name) else {
            continue;
        };
        let key = Some((table_name, ix_name.clone()));
        if int(r.get(4)) == 1 || matches!(r.get(3), Some(Value::Null) | None) {
            let what = format!("index \"{ix_name}\" (partial or on an expression)");
            if !table.unsupported.contains(&what) {
                table.unsupported.push(what);
            }
            last = key;
            continue;
        }
        let column = text(r.get(3));
        match (last == key, table.indexes.last_mut()) {
            (true, Some(ix)) if ix.name == ix_name => ix.columns.push(column),
            _ => table.indexes.push(Index {
                name: ix_name,
                columns: vec![column],
                unique: int(r.get(2)) == 1,
            }),
        }
        last = key;
    }
    Ok(schema)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_a_rebuild_would_lose_are_found_outside_quotes() {
        assert_eq!(
            unsupported_sqlite(
                "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, \"check\" TEXT COLLATE NOCASE, n INT CHECK (n > 0)) STRICT"
            ),
            [
                "AUTOINCREMENT",
                "a COLLATE clause",
                "a CHECK constraint",
                "STRICT"
            ]
        );
        assert!(
            unsupported_sqlite("CREATE TABLE t (a TEXT DEFAULT 'CHECK', -- CHECK\n b INT)")
                .is_empty()
        );
    }
}
