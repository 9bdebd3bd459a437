//! The SQLite writer: turns a [`Statement`] into SQL text and its parameters
//! in one pass, so placeholders and parameters cannot get out of step.
//!
//! Every value becomes a `?` placeholder; every identifier goes through
//! [`quote::push_ident`](super::quote::push_ident). Unsupported input is
//! an error, never a panic.

use super::ast::*;
use super::quote::{push_ident, push_literal};
use crate::backend::{Dialect, Placeholders, TextMatch, UpsertReport};
use crate::error::{Error, Result};
use crate::types::Value;

/// IN lists longer than this are sent as one JSON array parameter
/// (`IN (SELECT value FROM json_each(?))`): SQLite refuses statements with
/// more than 32,766 parameters, and one statement shape per list length
/// would flood the statement cache.
pub(crate) const MAX_INLINE_IN_LIST: usize = 1000;

/// AND and OR lists longer than this are written as parenthesized groups of
/// at most this many items (groups of groups for longer lists). SQLite
/// parses `a AND b AND c ...` into a left-deep tree and refuses trees deeper
/// than 1,000, so a flat list of 1,000 conditions would fail; grouped, a list
/// of n items is about `64 * log64(n)` deep. Shorter lists are written flat,
/// as they always were.
pub(crate) const MAX_FLAT_LIST: usize = 64;

/// How deeply [`Writer::expr`] may recurse: through the operands of
/// comparisons, functions and subqueries, not through AND, OR and NOT
/// (written without recursion). The query API nests these a few levels at
/// most; this guards against a tree built some other way overflowing the
/// stack.
pub(crate) const MAX_WRITE_DEPTH: usize = 64;

/// SQL text and the values bound to its placeholders, in order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Written {
    pub sql: String,
    pub params: Vec<Value>,
}

/// Write a statement in `dialect`'s words.
pub(crate) fn write(stmt: &Statement, dialect: &Dialect) -> Result<Written> {
    let mut w = Writer::new("", dialect);
    match stmt {
        Statement::Select(s) => w.select(s)?,
        Statement::Insert(s) => w.insert(s)?,
        Statement::Update(s) => w.update(s)?,
        Statement::Delete(s) => w.delete(s)?,
        Statement::Upsert(s) => w.upsert(s)?,
        Statement::CreateTable(s) => w.create_table(s)?,
        Statement::CreateIndex(s) => w.create_index(s)?,
        Statement::DropTable(s) => w.drop_table(s)?,
        Statement::AlterTable(s) => w.alter_table(s)?,
        Statement::DropIndex(s) => w.drop_index(s)?,
        Statement::InsertSelect(s) => w.insert_select(s)?,
        Statement::Pragma(p) => {
            w.push("PRAGMA ");
            w.push(p.name);
            if let Some(v) = p.value {
                w.push(" = ");
                w.push(v);
            }
        }
        Statement::Verbatim(sql) => w.push(sql),
        Statement::LockTable(t) => {
            if !dialect.locking_reads() {
                return Err(Error::Usage(format!(
                    "the {} dialect does not lock tables",
                    dialect.name()
                )));
            }
            w.push("LOCK TABLE ");
            w.ident(t)?;
            w.push(" IN EXCLUSIVE MODE");
        }
    }
    Ok(Written {
        sql: w.sql,
        params: w.params,
    })
}

struct Writer<'d> {
    sql: String,
    params: Vec<Value>,
    /// Current nesting of [`Writer::expr`] calls.
    depth: usize,
    dialect: &'d Dialect,
}

/// `head` (a SELECT's text up to and including its FROM and joins, as
/// [`write`] would write them for `select`) followed by the rest of
/// `select` in `dialect`'s words, with `limit` in place of `select.limit`
/// (written into the text when `inline_limit`). A query on one model's
/// table takes its head from the table's cached statements and writes only
/// its own clauses.
pub(crate) fn write_after(
    head: &str,
    select: &Select,
    limit: Option<i64>,
    inline_limit: bool,
    dialect: &Dialect,
) -> Result<Written> {
    let mut w = Writer::new(head, dialect);
    w.after_from(select, limit, inline_limit)?;
    Ok(Written {
        sql: w.sql,
        params: w.params,
    })
}

impl<'d> Writer<'d> {
    fn new(head: &str, dialect: &'d Dialect) -> Self {
        // A model's SELECT of a few columns with a condition is about 150
        // bytes quoted: one allocation, not three as the text grows.
        let mut sql = String::with_capacity(head.len() + 256);
        sql.push_str(head);
        Writer {
            sql,
            params: Vec::new(),
            depth: 0,
            dialect,
        }
    }
}

impl Writer<'_> {
    fn push(&mut self, s: &str) {
        self.sql.push_str(s);
    }

    fn ident(&mut self, name: &str) -> Result<()> {
        push_ident(&mut self.sql, name)
    }

    fn ident_list(&mut self, names: &[Ident]) -> Result<()> {
        for (i, n) in names.iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.ident(n)?;
        }
        Ok(())
    }

    #[inline]
    fn param(&mut self, v: Value) {
        self.params.push(v);
        match self.dialect.placeholders() {
            Placeholders::Question => self.sql.push('?'),
            Placeholders::Numbered => {
                // `$N` by hand: `write!` costs ~250 instructions a parameter.
                let mut digits = [0u8; 20];
                let mut n = self.params.len();
                let mut i = digits.len();
                loop {
                    i -= 1;
                    digits[i] = b'0' + (n % 10) as u8;
                    n /= 10;
                    if n == 0 {
                        break;
                    }
                }
                self.sql.reserve(digits.len() - i + 1);
                self.sql.push('$');
                for &d in &digits[i..] {
                    self.sql.push(char::from(d));
                }
            }
        }
    }

    fn table_ref(&mut self, t: &TableRef) -> Result<()> {
        self.ident(&t.name)?;
        if let Some(alias) = &t.alias {
            self.push(" AS ");
            self.ident(alias)?;
        }
        Ok(())
    }

    fn select(&mut self, s: &Select) -> Result<()> {
        self.push("SELECT ");
        if s.distinct {
            self.push("DISTINCT ");
        }
        if s.columns.is_empty() {
            return Err(Error::Usage("a SELECT needs at least one column".into()));
        }
        for (i, c) in s.columns.iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.expr(c, 0)?;
        }
        if !s.no_from {
            self.push(" FROM ");
            if let Some(sub) = &s.from_select {
                self.push("(");
                self.select(sub)?;
                self.push(") AS ");
                self.ident(&s.from.name)?;
            } else {
                self.table_ref(&s.from)?;
            }
        }
        for j in &s.joins {
            self.push(match j.kind {
                JoinKind::Inner => " JOIN ",
                JoinKind::Left => " LEFT OUTER JOIN ",
            });
            self.table_ref(&j.table)?;
            self.push(" ON ");
            self.expr(&j.on, 0)?;
        }
        self.after_from(s, s.limit, s.inline_limit)
    }

    /// `s`'s clauses after FROM and the joins (WHERE to the locking
    /// clause), with `limit` in place of `s.limit` (written into the text
    /// when `inline_limit`).
    fn after_from(&mut self, s: &Select, limit: Option<i64>, inline_limit: bool) -> Result<()> {
        if let Some(f) = &s.filter {
            self.push(" WHERE ");
            self.expr(f, 0)?;
        }
        if !s.group_by.is_empty() {
            self.push(" GROUP BY ");
            for (i, g) in s.group_by.iter().enumerate() {
                if i > 0 {
                    self.push(", ");
                }
                self.expr(g, 0)?;
            }
        }
        if let Some(h) = &s.having {
            self.push(" HAVING ");
            self.expr(h, 0)?;
        }
        if !s.order_by.is_empty() {
            self.push(" ORDER BY ");
            for (i, o) in s.order_by.iter().enumerate() {
                if i > 0 {
                    self.push(", ");
                }
                self.expr(&o.expr, 0)?;
                self.push(if o.desc { " DESC" } else { " ASC" });
            }
        }
        // SQLite needs a LIMIT before an OFFSET (-1: no limit); PostgreSQL
        // takes an OFFSET alone.
        let limit = limit.or_else(|| s.offset.and(self.dialect.limit_for_offset()));
        if let Some(n) = limit {
            self.push(" LIMIT ");
            if inline_limit {
                // An integer the crate chose, never user text.
                self.push(&n.to_string());
            } else {
                self.param(Value::Integer(n));
            }
        }
        if let Some(o) = s.offset {
            self.push(" OFFSET ");
            self.param(Value::Integer(o));
        }
        if let (Some(lock), true) = (s.lock, self.dialect.locking_reads()) {
            self.push(match lock {
                Lock::Wait => " FOR UPDATE",
                Lock::SkipLocked => " FOR UPDATE SKIP LOCKED",
                Lock::NoWait => " FOR UPDATE NOWAIT",
            });
        }
        Ok(())
    }

    fn returning(&mut self, cols: &[Ident]) -> Result<()> {
        if !cols.is_empty() {
            self.push(" RETURNING ");
            self.ident_list(cols)?;
        }
        Ok(())
    }

    /// `INSERT ... ON CONFLICT (target) DO UPDATE SET ... RETURNING ...`,
    /// in the same words for SQLite (3.35 and later) and PostgreSQL.
    fn upsert(&mut self, s: &Upsert) -> Result<()> {
        if s.target.is_empty() {
            return Err(Error::Usage(
                "an upsert needs the columns of a unique constraint to match on".into(),
            ));
        }
        self.insert_rows(&s.insert)?;
        self.push(" ON CONFLICT (");
        self.ident_list(&s.target)?;
        self.push(")");
        if s.set.is_empty() {
            self.push(" DO NOTHING");
        } else {
            self.push(" DO UPDATE SET ");
            for (i, (col, e)) in s.set.iter().enumerate() {
                if i > 0 {
                    self.push(", ");
                }
                self.ident(col)?;
                self.push(" = ");
                self.expr(e, 0)?;
            }
        }
        self.returning(&s.insert.returning)?;
        if s.report_inserted {
            match self.dialect.upsert_report() {
                UpsertReport::Xmax if !s.insert.returning.is_empty() => {
                    // A row version the upsert inserted has no deleting or
                    // locking transaction yet; one it updated was locked by
                    // this transaction (PostgreSQL's system column).
                    self.push(", (\"xmax\" = 0)");
                }
                _ => {
                    return Err(Error::Usage(format!(
                        "the {} dialect cannot report inserted rows in SQL",
                        self.dialect.name()
                    )));
                }
            }
        }
        Ok(())
    }

    fn insert(&mut self, s: &Insert) -> Result<()> {
        self.insert_rows(s)?;
        self.returning(&s.returning)
    }

    /// `INSERT INTO t (...) VALUES (...), ...`, without RETURNING.
    fn insert_rows(&mut self, s: &Insert) -> Result<()> {
        self.push("INSERT INTO ");
        self.ident(&s.table)?;
        if s.columns.is_empty() {
            self.push(" DEFAULT VALUES");
        } else {
            self.push(" (");
            self.ident_list(&s.columns)?;
            self.push(") VALUES ");
            if s.rows.is_empty() {
                return Err(Error::Usage("an INSERT needs at least one row".into()));
            }
            for (i, row) in s.rows.iter().enumerate() {
                if row.len() != s.columns.len() {
                    return Err(Error::Usage(format!(
                        "INSERT row {i} has {} values for {} columns",
                        row.len(),
                        s.columns.len()
                    )));
                }
                if i > 0 {
                    self.push(", ");
                }
                self.push("(");
                for (j, e) in row.iter().enumerate() {
                    if j > 0 {
                        self.push(", ");
                    }
                    self.expr(e, 0)?;
                }
                self.push(")");
            }
        }
        Ok(())
    }

    fn update(&mut self, s: &Update) -> Result<()> {
        if s.set.is_empty() {
            return Err(Error::Usage(
                "an UPDATE needs at least one column to set".into(),
            ));
        }
        self.push("UPDATE ");
        self.ident(&s.table)?;
        self.push(" SET ");
        for (i, (col, e)) in s.set.iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.ident(col)?;
            self.push(" = ");
            self.expr(e, 0)?;
        }
        if let Some(f) = &s.filter {
            self.push(" WHERE ");
            self.expr(f, 0)?;
        }
        self.returning(&s.returning)
    }

    fn delete(&mut self, s: &Delete) -> Result<()> {
        self.push("DELETE FROM ");
        self.ident(&s.table)?;
        if let Some(f) = &s.filter {
            self.push(" WHERE ");
            self.expr(f, 0)?;
        }
        self.returning(&s.returning)
    }

    /// Layout follows SQLAlchemy's DDL (one column per line, table
    /// constraints last), so `sqlite_master` reads the same for both.
    fn create_table(&mut self, s: &CreateTable) -> Result<()> {
        self.push("CREATE TABLE ");
        if s.if_not_exists {
            self.push("IF NOT EXISTS ");
        }
        self.ident(&s.name)?;
        self.push(" (");
        let mut first = true;
        let mut sep = |w: &mut Writer| {
            w.push(if first { "\n\t" } else { ", \n\t" });
            first = false;
        };
        for c in &s.columns {
            sep(self);
            self.column_spec(c)?;
        }
        if !s.primary_key.is_empty() {
            sep(self);
            self.push("PRIMARY KEY (");
            self.ident_list(&s.primary_key)?;
            self.push(")");
        }
        for u in &s.uniques {
            sep(self);
            self.unique(u)?;
        }
        for fk in &s.foreign_keys {
            sep(self);
            self.foreign_key(fk)?;
        }
        self.push("\n)");
        Ok(())
    }

    /// `"name" TYPE NOT NULL DEFAULT x`, as in CREATE TABLE and ADD COLUMN.
    fn column_spec(&mut self, c: &ColumnSpec) -> Result<()> {
        self.ident(&c.name)?;
        // A column read from a SQLite table may have no declared type.
        if !c.sql_type.is_empty() {
            self.push(" ");
            self.sql_type(&c.sql_type, &c.name)?;
        }
        if c.not_null {
            self.push(" NOT NULL");
        }
        self.default(&c.sql_type, c.default.as_ref(), c.default_sql.as_deref())
    }

    /// Declared types come from ColumnType impls, #[orm] attributes and
    /// the database's catalog, which only give a type name and an optional
    /// length.
    fn sql_type(&mut self, sql_type: &str, column: &str) -> Result<()> {
        if !is_plain_type_name(sql_type) {
            return Err(Error::Schema(format!(
                "column type `{sql_type}` of `{column}` is not a plain SQL type name"
            )));
        }
        self.push(sql_type);
        Ok(())
    }

    /// ` DEFAULT x`, when there is a default: a literal, or an SQL
    /// expression (a model's `server_default`, or a default read from the
    /// database's catalog) in parentheses.
    fn default(&mut self, sql_type: &str, value: Option<&Value>, sql: Option<&str>) -> Result<()> {
        if let Some(expr) = sql {
            if expr.contains(';') {
                return Err(Error::Schema(format!(
                    "the default `{expr}` is not one SQL expression"
                )));
            }
            self.push(" DEFAULT (");
            self.push(expr);
            self.push(")");
        } else if let Some(d) = value {
            self.push(" DEFAULT ");
            match d {
                // A BOOLEAN default is a truth value in PostgreSQL.
                Value::Integer(b @ (0 | 1)) if sql_type.eq_ignore_ascii_case("BOOLEAN") => {
                    self.push(self.dialect.bool_literal(*b == 1));
                }
                _ => push_literal(&mut self.sql, d)?,
            }
        }
        Ok(())
    }

    /// `CONSTRAINT "name" ` before a table constraint that has a name.
    fn constraint_name(&mut self, name: Option<&Ident>) -> Result<()> {
        if let Some(name) = name {
            self.push("CONSTRAINT ");
            self.ident(name)?;
            self.push(" ");
        }
        Ok(())
    }

    fn unique(&mut self, u: &UniqueSpec) -> Result<()> {
        self.constraint_name(u.name.as_ref())?;
        self.push("UNIQUE (");
        self.ident_list(&u.columns)?;
        self.push(")");
        Ok(())
    }

    fn foreign_key(&mut self, fk: &ForeignKeySpec) -> Result<()> {
        self.constraint_name(fk.name.as_ref())?;
        self.push("FOREIGN KEY(");
        self.ident_list(&fk.columns)?;
        self.push(") REFERENCES ");
        self.ident(&fk.target_table)?;
        self.push(" (");
        self.ident_list(&fk.target_columns)?;
        self.push(")");
        if let Some(a) = fk.on_delete {
            self.push(" ON DELETE ");
            self.push(a);
        }
        if let Some(a) = fk.on_update {
            self.push(" ON UPDATE ");
            self.push(a);
        }
        Ok(())
    }

    fn alter_table(&mut self, s: &AlterTable) -> Result<()> {
        self.push("ALTER TABLE ");
        self.ident(&s.table)?;
        match &s.action {
            AlterAction::AddColumn(c) => {
                self.push(" ADD COLUMN ");
                self.column_spec(c)?;
            }
            AlterAction::DropColumn(c) => {
                self.push(" DROP COLUMN ");
                self.ident(c)?;
            }
            AlterAction::RenameTo(name) => {
                self.push(" RENAME TO ");
                self.ident(name)?;
            }
            AlterAction::SetType { column, sql_type } => {
                self.push(" ALTER COLUMN ");
                self.ident(column)?;
                self.push(" TYPE ");
                self.sql_type(sql_type, column)?;
                // Converts what has no implicit cast (text to integer).
                self.push(" USING ");
                self.ident(column)?;
                self.push("::");
                self.sql_type(sql_type, column)?;
            }
            AlterAction::SetNotNull { column, not_null } => {
                self.push(" ALTER COLUMN ");
                self.ident(column)?;
                self.push(if *not_null {
                    " SET NOT NULL"
                } else {
                    " DROP NOT NULL"
                });
            }
            AlterAction::SetDefault {
                column,
                sql_type,
                default,
                default_sql,
            } => {
                self.push(" ALTER COLUMN ");
                self.ident(column)?;
                if default.is_none() && default_sql.is_none() {
                    self.push(" DROP DEFAULT");
                } else {
                    self.push(" SET");
                    self.default(sql_type, default.as_ref(), default_sql.as_deref())?;
                }
            }
            AlterAction::AddUnique(u) => {
                self.push(" ADD ");
                self.unique(u)?;
            }
            AlterAction::AddForeignKey(fk) => {
                self.push(" ADD ");
                self.foreign_key(fk)?;
            }
            AlterAction::DropConstraint(name) => {
                self.push(" DROP CONSTRAINT ");
                self.ident(name)?;
            }
        }
        Ok(())
    }

    fn drop_index(&mut self, s: &DropIndex) -> Result<()> {
        self.push("DROP INDEX ");
        if s.if_exists {
            self.push("IF EXISTS ");
        }
        self.ident(&s.name)
    }

    fn insert_select(&mut self, s: &InsertSelect) -> Result<()> {
        if s.columns.len() != s.from_columns.len() {
            return Err(Error::Usage(format!(
                "copying rows into `{}`: {} columns from {} source columns",
                s.table,
                s.columns.len(),
                s.from_columns.len()
            )));
        }
        self.push("INSERT INTO ");
        self.ident(&s.table)?;
        self.push(" (");
        self.ident_list(&s.columns)?;
        self.push(") SELECT ");
        self.ident_list(&s.from_columns)?;
        self.push(" FROM ");
        self.ident(&s.from_table)
    }

    fn create_index(&mut self, s: &CreateIndex) -> Result<()> {
        self.push(if s.unique {
            "CREATE UNIQUE INDEX "
        } else {
            "CREATE INDEX "
        });
        if s.if_not_exists {
            self.push("IF NOT EXISTS ");
        }
        self.ident(&s.name)?;
        self.push(" ON ");
        self.ident(&s.table)?;
        self.push(" (");
        self.ident_list(&s.columns)?;
        self.push(")");
        Ok(())
    }

    fn drop_table(&mut self, s: &DropTable) -> Result<()> {
        self.push("DROP TABLE ");
        if s.if_exists {
            self.push("IF EXISTS ");
        }
        self.ident(&s.name)
    }

    /// Write `e`, parenthesized when it binds less tightly than `parent`.
    ///
    /// The logical structure (AND and OR lists, NOT, and the parentheses
    /// they need) is walked with an explicit stack, so however deeply
    /// conditions nest, writing them takes no more call stack than one
    /// comparison. Only the operands of other nodes (a BETWEEN's bounds, a
    /// function's arguments, an EXISTS subquery) recurse, counted against
    /// [`MAX_WRITE_DEPTH`].
    fn expr(&mut self, e: &Expr, parent: u8) -> Result<()> {
        if self.depth >= MAX_WRITE_DEPTH {
            return Err(Error::Usage(format!(
                "an SQL expression is nested more than {MAX_WRITE_DEPTH} levels deep"
            )));
        }
        self.depth += 1;
        // Allocates only when `e` has logical structure to queue.
        let mut steps = Vec::new();
        self.logical(e, parent, &mut steps)?;
        while let Some(step) = steps.pop() {
            match step {
                Step::Text(text) => self.push(text),
                Step::Expr(e, parent) => self.logical(e, parent, &mut steps)?,
                Step::List { items, op, own } => list_steps(items, op, own, &mut steps),
            }
        }
        self.depth -= 1;
        Ok(())
    }

    /// Write what of `e` comes before its operands and queue the rest on
    /// `steps` (which run last-in, first-out).
    fn logical<'e>(&mut self, e: &'e Expr, parent: u8, steps: &mut Vec<Step<'e>>) -> Result<()> {
        let own = precedence(e);
        let paren = own < parent;
        match e {
            // Lists of fewer than two items are not written as lists.
            Expr::And(items) | Expr::Or(items) if items.len() < 2 => match items.first() {
                Some(only) => steps.push(Step::Expr(only, parent)),
                None => self.push(if matches!(e, Expr::And(_)) { "1" } else { "0" }),
            },
            Expr::And(items) | Expr::Or(items) => {
                let op = if matches!(e, Expr::And(_)) {
                    " AND "
                } else {
                    " OR "
                };
                if paren {
                    self.push("(");
                    steps.push(Step::Text(")"));
                }
                steps.push(Step::List { items, op, own });
            }
            Expr::Not(inner) => {
                if paren {
                    self.push("(");
                    steps.push(Step::Text(")"));
                }
                self.push("NOT ");
                steps.push(Step::Expr(inner, own + 1));
            }
            _ => {
                if paren {
                    self.push("(");
                }
                self.expr_inner(e, own)?;
                if paren {
                    self.push(")");
                }
            }
        }
        Ok(())
    }

    /// A literal text match without LIKE, whose patterns stop at the first
    /// NUL and may not exceed 50,000 bytes. `lower()` folds ASCII letters
    /// only, like LIKE; the needle is folded here the same way. Prefix and
    /// suffix compare BLOBs, because `substr()` on text counts characters
    /// only up to a NUL.
    fn text_match(&mut self, expr: &Expr, needle: &str, at: TextAt) -> Result<()> {
        if needle.is_empty() {
            // Like `LIKE '%'`: every non-NULL text.
            self.expr(expr, 5)?;
            self.push(" IS NOT NULL");
            return Ok(());
        }
        let folded = needle.to_ascii_lowercase();
        if self.dialect.text_match() == TextMatch::Strpos {
            return self.strpos_match(expr, folded, at);
        }
        let len = i64::try_from(folded.len())
            .map_err(|_| Error::Usage("a text needle is too long".into()))?;
        match at {
            TextAt::Anywhere => {
                self.push("instr(lower(");
                self.expr(expr, 0)?;
                self.push("), ");
                self.param(Value::Text(folded));
                self.push(") > 0");
            }
            TextAt::Start | TextAt::End => {
                self.push("substr(CAST(lower(");
                self.expr(expr, 0)?;
                self.push(") AS BLOB), ");
                if at == TextAt::Start {
                    self.push("1, ");
                }
                self.param(Value::Integer(if at == TextAt::Start { len } else { -len }));
                self.push(") = ");
                self.param(Value::Blob(folded.into_bytes()));
            }
        }
        Ok(())
    }

    /// PostgreSQL's literal match: `strpos()` finds the needle anywhere (at
    /// 1 for a prefix), `right()` takes the suffix, both counting
    /// characters. Its `lower()` folds every letter of the database's
    /// locale, so non-ASCII letters match either case too; the needle is
    /// folded the same way here.
    fn strpos_match(&mut self, expr: &Expr, folded: String, at: TextAt) -> Result<()> {
        let folded = folded.to_lowercase();
        match at {
            TextAt::Anywhere | TextAt::Start => {
                self.push("strpos(lower(");
                self.expr(expr, 0)?;
                self.push("), ");
                self.param(Value::Text(folded));
                self.push(if at == TextAt::Start {
                    ") = 1"
                } else {
                    ") > 0"
                });
            }
            TextAt::End => {
                let chars = i64::try_from(folded.chars().count())
                    .map_err(|_| Error::Usage("a text needle is too long".into()))?;
                self.push("right(lower(");
                self.expr(expr, 0)?;
                self.push("), ");
                self.param(Value::Integer(chars));
                self.push(") = ");
                self.param(Value::Text(folded));
            }
        }
        Ok(())
    }

    fn expr_inner(&mut self, e: &Expr, own: u8) -> Result<()> {
        match e {
            Expr::Column { table, name } => {
                if let Some(t) = table {
                    self.ident(t)?;
                    self.push(".");
                }
                self.ident(name)?;
            }
            Expr::Value(v) => self.param(v.clone()),
            Expr::Bool(b) => self.push(self.dialect.bool_literal(*b)),
            Expr::Excluded(name) => {
                self.push("excluded.");
                self.ident(name)?;
            }
            Expr::Incremented { table, name } => {
                self.ident(table)?;
                self.push(".");
                self.ident(name)?;
                self.push(" + 1");
            }
            Expr::Aliased { expr, alias } => {
                self.expr(expr, 0)?;
                self.push(" AS ");
                self.ident(alias)?;
            }
            Expr::Invalid(message) => return Err(Error::Usage(message.clone())),
            Expr::Binary { op, left, right } => {
                self.expr(left, own)?;
                self.push(" ");
                self.push(op.sql());
                self.push(" ");
                // Comparisons are not associative: a right operand of equal
                // strength needs parentheses.
                self.expr(right, own + 1)?;
            }
            // Written by `logical`.
            Expr::And(_) | Expr::Or(_) | Expr::Not(_) => {}
            Expr::IsNull { expr, negated } => {
                self.expr(expr, own + 1)?;
                self.push(if *negated { " IS NOT NULL" } else { " IS NULL" });
            }
            Expr::InList {
                expr,
                list,
                negated,
            } => {
                self.expr(expr, own + 1)?;
                if list.is_empty() && !self.dialect.empty_in_lists() {
                    // PostgreSQL refuses `IN ()`. A comparison with every
                    // element of an empty array is what `IN ()` means on
                    // SQLite, for a NULL too: never true for `= ANY`, always
                    // true for `<> ALL`; the array takes the left side's type.
                    self.push(if *negated {
                        " <> ALL('{}')"
                    } else {
                        " = ANY('{}')"
                    });
                    return Ok(());
                }
                self.push(if *negated { " NOT IN (" } else { " IN (" });
                if list.len() > MAX_INLINE_IN_LIST && self.dialect.json_in_lists() {
                    self.push("SELECT value FROM json_each(");
                    self.param(Value::Text(json_array(list)?));
                    self.push(")");
                } else {
                    // Room for the whole list at once: an IN list of a
                    // relationship load can hold thousands of keys.
                    self.params.reserve(list.len());
                    self.sql.reserve(list.len() * 8);
                    for (i, v) in list.iter().enumerate() {
                        if i > 0 {
                            self.push(", ");
                        }
                        self.param(v.clone());
                    }
                }
                self.push(")");
            }
            Expr::Between {
                expr,
                low,
                high,
                negated,
            } => {
                self.expr(expr, own + 1)?;
                self.push(if *negated {
                    " NOT BETWEEN "
                } else {
                    " BETWEEN "
                });
                self.expr(low, own + 1)?;
                self.push(" AND ");
                self.expr(high, own + 1)?;
            }
            Expr::Like {
                expr,
                pattern,
                escaped,
                negated,
            } => {
                self.expr(expr, own + 1)?;
                self.push(if *negated { " NOT LIKE " } else { " LIKE " });
                self.expr(pattern, own + 1)?;
                if *escaped {
                    self.push(" ESCAPE '\\'");
                }
            }
            Expr::TextMatch { expr, needle, at } => self.text_match(expr, needle, *at)?,
            Expr::Func {
                func,
                args,
                distinct,
            } => {
                // PostgreSQL's avg() is NUMERIC; the Rust side asks for f64.
                let cast = match func {
                    Func::Avg => self.dialect.cast_avg(),
                    _ => None,
                };
                if cast.is_some() {
                    self.push("CAST(");
                }
                self.push(func.sql());
                self.push("(");
                if *distinct {
                    self.push("DISTINCT ");
                }
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        self.push(", ");
                    }
                    self.expr(a, 0)?;
                }
                self.push(")");
                if let Some(t) = cast {
                    self.push(" AS ");
                    self.push(t);
                    self.push(")");
                }
            }
            Expr::CountStar => self.push("count(*)"),
            Expr::Exists { select, negated } => {
                self.push(if *negated { "NOT EXISTS (" } else { "EXISTS (" });
                self.select(select)?;
                self.push(")");
            }
        }
        Ok(())
    }
}

fn precedence(e: &Expr) -> u8 {
    match e {
        Expr::Or(_) => 1,
        Expr::And(_) => 2,
        Expr::Binary { op, .. } => op.precedence(),
        Expr::Not(_) => 3,
        Expr::IsNull { .. }
        | Expr::InList { .. }
        | Expr::Between { .. }
        | Expr::Like { .. }
        | Expr::TextMatch { .. } => 4,
        _ => 10,
    }
}

/// Work left to do in [`Writer::expr`].
enum Step<'e> {
    /// An expression whose parent binds with strength `.1`.
    Expr(&'e Expr, u8),
    /// The items of an AND or OR list (or of one group of it), joined by
    /// `op`, each at strength `own`.
    List {
        items: &'e [Expr],
        op: &'static str,
        own: u8,
    },
    Text(&'static str),
}

/// Queue the items of a list: flat when there are at most
/// [`MAX_FLAT_LIST`], otherwise as parenthesized groups of equal size (a
/// power of `MAX_FLAT_LIST`), each queued the same way.
fn list_steps<'e>(items: &'e [Expr], op: &'static str, own: u8, steps: &mut Vec<Step<'e>>) {
    let mut group = 1usize;
    while items.len().div_ceil(group) > MAX_FLAT_LIST {
        group = group.saturating_mul(MAX_FLAT_LIST);
    }
    // Pushed last to first, so they are written first to last.
    for (i, chunk) in items.chunks(group).enumerate().rev() {
        match chunk {
            [one] => steps.push(Step::Expr(one, own)),
            _ => {
                steps.push(Step::Text(")"));
                steps.push(Step::List {
                    items: chunk,
                    op,
                    own,
                });
                steps.push(Step::Text("("));
            }
        }
        if i > 0 {
            steps.push(Step::Text(op));
        }
    }
}

/// `INTEGER`, `VARCHAR(50)`, `DOUBLE PRECISION`, `NUMERIC(10, 2)`.
fn is_plain_type_name(t: &str) -> bool {
    let name_end = t.find('(').unwrap_or(t.len());
    let (name, rest) = t.split_at(name_end);
    let name_ok = !name.trim().is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '_');
    let rest_ok = rest.is_empty()
        || (rest.ends_with(')')
            && rest[1..rest.len() - 1]
                .chars()
                .all(|c| c.is_ascii_digit() || c == ',' || c == ' '));
    name_ok && rest_ok
}

/// Encode values as a JSON array for `json_each`.
fn json_array(list: &[Value]) -> Result<String> {
    use std::fmt::Write;
    let mut out = String::with_capacity(list.len() * 8 + 2);
    out.push('[');
    for (i, v) in list.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match v {
            Value::Null => out.push_str("null"),
            Value::Integer(n) => {
                let _ = write!(out, "{n}");
            }
            Value::Real(r) if r.is_finite() => {
                let _ = write!(out, "{r:?}");
            }
            Value::Real(_) => {
                return Err(Error::Usage(
                    "an IN list cannot contain NaN or infinite values".into(),
                ));
            }
            Value::Text(s) => {
                out.push('"');
                for c in s.chars() {
                    match c {
                        '"' => out.push_str("\\\""),
                        '\\' => out.push_str("\\\\"),
                        c if (c as u32) < 0x20 => {
                            let _ = write!(out, "\\u{:04x}", c as u32);
                        }
                        c => out.push(c),
                    }
                }
                out.push('"');
            }
            Value::Blob(_) => {
                return Err(Error::Usage(format!(
                    "an IN list of more than {MAX_INLINE_IN_LIST} values cannot contain blobs"
                )));
            }
        }
    }
    out.push(']');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_sqlite(stmt: &Statement) -> Result<Written> {
        write(stmt, &Dialect::SQLITE)
    }

    fn col(name: &'static str) -> Expr {
        Expr::column("user", name)
    }

    fn select_where(cond: Expr) -> String {
        let mut s = Select::new(TableRef::new("user"));
        s.columns.push(col("id"));
        s.filter = Some(cond);
        write_sqlite(&Statement::Select(s)).unwrap().sql
    }

    #[test]
    fn a_select_written_after_its_head_is_the_select_written_whole() {
        for dialect in [&Dialect::SQLITE, &Dialect::POSTGRES] {
            let mut head = Select::new(TableRef::new("user"));
            head.columns = vec![col("id"), col("name")];
            let head_sql = write(&Statement::Select(head.clone()), dialect)
                .unwrap()
                .sql;
            let mut s = head;
            s.filter = Some(Expr::or(
                Expr::binary(BinOp::Eq, col("name"), Expr::value("ann")),
                Expr::binary(BinOp::Gt, col("id"), Expr::value(3)),
            ));
            s.order_by.push(OrderBy {
                expr: col("name"),
                desc: true,
            });
            s.offset = Some(5);
            s.lock = Some(Lock::SkipLocked);
            for (limit, inline) in [(None, false), (Some(7), false), (Some(1), true)] {
                s.limit = limit;
                s.inline_limit = inline;
                let whole = write(&Statement::Select(s.clone()), dialect).unwrap();
                let after = write_after(&head_sql, &s, limit, inline, dialect).unwrap();
                assert_eq!(after, whole);
                assert!(whole.sql.contains(" WHERE "), "{}", whole.sql);
            }
            // The limit given replaces the select's own.
            s.limit = Some(50);
            s.inline_limit = false;
            let after = write_after(&head_sql, &s, Some(1), true, dialect).unwrap();
            s.limit = Some(1);
            s.inline_limit = true;
            assert_eq!(
                after,
                write(&Statement::Select(s.clone()), dialect).unwrap()
            );
        }
    }

    #[test]
    fn and_inside_or_needs_no_parentheses_but_or_inside_and_does() {
        let a = Expr::binary(BinOp::Eq, col("a"), Expr::value(1));
        let b = Expr::binary(BinOp::Eq, col("b"), Expr::value(2));
        let c = Expr::binary(BinOp::Eq, col("c"), Expr::value(3));
        let or = Expr::or(b.clone(), c.clone());
        assert_eq!(
            select_where(Expr::and(a.clone(), or)),
            r#"SELECT "user"."id" FROM "user" WHERE "user"."a" = ? AND ("user"."b" = ? OR "user"."c" = ?)"#
        );
        let and = Expr::and(a, b);
        assert_eq!(
            select_where(Expr::or(and, c)),
            r#"SELECT "user"."id" FROM "user" WHERE "user"."a" = ? AND "user"."b" = ? OR "user"."c" = ?"#
        );
    }

    #[test]
    fn numbered_placeholders_count_past_nine() {
        let conds: Vec<Expr> = (0..12)
            .map(|i| Expr::binary(BinOp::Eq, col("a"), Expr::value(i)))
            .collect();
        let mut s = Select::new(TableRef::new("user"));
        s.columns.push(col("id"));
        s.filter = Some(Expr::Or(conds));
        let w = write(&Statement::Select(s), &Dialect::POSTGRES).unwrap();
        let expected: Vec<String> = (1..=12).map(|n| format!(r#""user"."a" = ${n}"#)).collect();
        assert!(w.sql.ends_with(&expected.join(" OR ")), "{}", w.sql);
        assert_eq!(w.params.len(), 12);
    }

    #[test]
    fn not_wraps_compound_conditions() {
        let a = Expr::binary(BinOp::Eq, col("a"), Expr::value(1));
        let b = Expr::binary(BinOp::Eq, col("b"), Expr::value(2));
        let and = Expr::and(a.clone(), b);
        assert!(
            select_where(Expr::Not(Box::new(and)))
                .ends_with(r#"WHERE NOT ("user"."a" = ? AND "user"."b" = ?)"#)
        );
        assert!(select_where(Expr::Not(Box::new(a))).ends_with(r#"WHERE NOT "user"."a" = ?"#));
    }

    fn eq(name: &'static str, v: i64) -> Expr {
        Expr::binary(BinOp::Eq, col(name), Expr::value(v))
    }

    #[test]
    fn and_and_or_lists_flatten_when_combined() {
        let (a, b, c, d) = (eq("a", 1), eq("b", 2), eq("c", 3), eq("d", 4));
        let ab = Expr::and(a.clone(), b.clone());
        let cd = Expr::and(c.clone(), d.clone());
        assert_eq!(
            Expr::and(ab.clone(), cd.clone()),
            Expr::And(vec![a.clone(), b.clone(), c.clone(), d.clone()])
        );
        assert_eq!(
            Expr::and(a.clone(), cd.clone()),
            Expr::And(vec![a.clone(), c.clone(), d.clone()])
        );
        // Lists of the other kind stay items.
        assert_eq!(
            Expr::or(ab.clone(), c.clone()),
            Expr::Or(vec![ab.clone(), c.clone()])
        );
        assert_eq!(
            Expr::and_all(vec![ab, c.clone(), cd]),
            Some(Expr::And(vec![a, b, c.clone(), c.clone(), d]))
        );
        assert_eq!(Expr::or_all(vec![c.clone()]), Some(c));
        assert_eq!(Expr::or_all(vec![]), None);
    }

    #[test]
    fn chains_read_as_they_did_as_binary_trees() {
        // a AND b AND c, from the left or from the right: no parentheses.
        let (a, b, c) = (eq("a", 1), eq("b", 2), eq("c", 3));
        let flat = r#"WHERE "user"."a" = ? AND "user"."b" = ? AND "user"."c" = ?"#;
        let left = Expr::and(Expr::and(a.clone(), b.clone()), c.clone());
        let right = Expr::and(a.clone(), Expr::and(b.clone(), c.clone()));
        assert!(select_where(left).ends_with(flat));
        assert!(select_where(right).ends_with(flat));
        // NOT of a list, a list inside NOT, OR inside AND inside OR.
        let nested = Expr::or(
            Expr::and(a.clone(), Expr::or(b.clone(), c.clone())),
            Expr::Not(Box::new(Expr::or(a, b))),
        );
        assert!(select_where(nested).ends_with(
            r#"WHERE "user"."a" = ? AND ("user"."b" = ? OR "user"."c" = ?) OR NOT ("user"."a" = ? OR "user"."b" = ?)"#
        ));
    }

    #[test]
    fn lists_of_fewer_than_two_items() {
        assert!(select_where(Expr::And(vec![])).ends_with("WHERE 1"));
        assert!(select_where(Expr::Or(vec![])).ends_with("WHERE 0"));
        assert!(
            select_where(Expr::And(vec![Expr::Or(vec![eq("a", 1)])]))
                .ends_with(r#"WHERE "user"."a" = ?"#)
        );
        // A one-item OR inside an AND is its item: no parentheses needed.
        let one = Expr::Or(vec![eq("a", 1)]);
        assert!(
            select_where(Expr::And(vec![one, eq("b", 2)]))
                .ends_with(r#"WHERE "user"."a" = ? AND "user"."b" = ?"#)
        );
    }

    /// `SELECT <cond>` in SQLite, with `cond` made of `? = ?` comparisons.
    fn evaluate(cond: Expr) -> rusqlite::Result<i64> {
        let mut s = Select::new(TableRef::new("unused"));
        s.columns.push(cond);
        s.no_from = true;
        let w = write_sqlite(&Statement::Select(s)).unwrap();
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.query_row(&w.sql, rusqlite::params_from_iter(w.params.iter()), |r| {
            r.get(0)
        })
    }

    fn same(v: i64) -> Expr {
        Expr::binary(BinOp::Eq, Expr::value(v), Expr::value(v))
    }

    fn differ(v: i64) -> Expr {
        Expr::binary(BinOp::Eq, Expr::value(v), Expr::value(v + 1))
    }

    #[test]
    fn long_lists_are_grouped_so_sqlite_accepts_them() {
        // Flat up to MAX_FLAT_LIST items, then groups.
        let flat = select_where(Expr::And((0..64).map(|k| eq("a", k)).collect()));
        assert!(!flat.contains('('), "{flat}");
        let grouped = select_where(Expr::And((0..65).map(|k| eq("a", k)).collect()));
        assert!(
            grouped.contains(r#"WHERE ("user"."a" = ? AND "#)
                && grouped.ends_with(r#"= ?) AND "user"."a" = ?"#),
            "{grouped}"
        );
        assert_eq!(grouped.matches('(').count(), 1, "{grouped}");

        // SQLite refuses a flat list of 1,000 (a left-deep tree too deep);
        // grouped, 10,000 are fine, with the right value.
        for n in [1_000, 4_096, 4_097, 10_000] {
            let all_true = Expr::And((0..n).map(same).collect());
            assert_eq!(evaluate(all_true).unwrap(), 1, "AND of {n}");
            let mut last_false: Vec<Expr> = (0..n).map(same).collect();
            last_false[n as usize - 1] = differ(0);
            assert_eq!(evaluate(Expr::And(last_false)).unwrap(), 0, "AND of {n}");
            let all_false = Expr::Or((0..n).map(differ).collect());
            assert_eq!(evaluate(all_false).unwrap(), 0, "OR of {n}");
            let mut one_true: Vec<Expr> = (0..n).map(differ).collect();
            one_true[n as usize / 2] = same(0);
            assert_eq!(evaluate(Expr::Or(one_true)).unwrap(), 1, "OR of {n}");
        }
        // Parameters stay in the order of the items.
        let mut s = Select::new(TableRef::new("unused"));
        s.columns.push(Expr::Or(
            (0..5_000)
                .map(|k| Expr::binary(BinOp::Eq, Expr::value(k), Expr::value(-k)))
                .collect(),
        ));
        s.no_from = true;
        let w = write_sqlite(&Statement::Select(s)).unwrap();
        let expected: Vec<Value> = (0..5_000)
            .flat_map(|k| [Value::Integer(k), Value::Integer(-k)])
            .collect();
        assert_eq!(w.params, expected);
    }

    /// Take `e` apart without recursion (dropping a deep tree recurses).
    fn dismantle(e: Expr) {
        let mut work = vec![e];
        while let Some(e) = work.pop() {
            match e {
                Expr::And(items) | Expr::Or(items) => work.extend(items),
                Expr::Not(inner) => work.push(*inner),
                Expr::IsNull { expr, .. } => work.push(*expr),
                _ => {}
            }
        }
    }

    /// On a 2 MiB stack, as tokio's and spawned threads have.
    fn on_small_stack(f: impl FnOnce() + Send + 'static) {
        std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(f)
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn deep_and_or_not_trees_are_written_without_recursion() {
        on_small_stack(|| {
            // a = ? OR (NOT b = ? AND (a = ? OR (NOT b = ? AND (...)))), 100,000
            // levels: the writer's depth costs no call stack.
            let levels = 100_000;
            let mut e = eq("z", 0);
            for k in 0..levels {
                e = if k % 2 == 0 {
                    Expr::Or(vec![eq("a", k), e])
                } else {
                    Expr::And(vec![Expr::Not(Box::new(eq("b", k))), e])
                };
            }
            let mut s = Select::new(TableRef::new("user"));
            s.columns.push(col("id"));
            s.filter = Some(e);
            let statement = Statement::Select(s);
            let written = write_sqlite(&statement);
            // Before any assertion: unwinding would drop the tree recursively.
            let Statement::Select(s) = statement else {
                unreachable!()
            };
            dismantle(s.filter.unwrap());
            let w = written.unwrap();
            assert!(w.sql.starts_with(
                r#"SELECT "user"."id" FROM "user" WHERE NOT "user"."b" = ? AND ("user"."a" = ? OR NOT "user"."b" = ? AND ("#
            ));
            let closing = w.sql.len() - w.sql.trim_end_matches(')').len();
            assert_eq!(closing, levels as usize / 2);
            assert!(
                w.sql[..w.sql.len() - closing].ends_with(r#""user"."a" = ? OR "user"."z" = ?"#)
            );
            assert_eq!(w.params.len(), levels as usize + 1);
            assert_eq!(w.params[0], Value::Integer(levels - 1));
        });
    }

    #[test]
    fn too_deep_operands_are_an_error_not_a_stack_overflow() {
        fn is_nulls(n: usize) -> Expr {
            let mut e = col("a");
            for _ in 0..n {
                e = Expr::IsNull {
                    expr: Box::new(e),
                    negated: false,
                };
            }
            e
        }
        on_small_stack(|| {
            // The WHERE clause is one level, each IS NULL one more.
            let ok = select_where_result(is_nulls(MAX_WRITE_DEPTH - 1));
            assert!(ok.is_ok(), "{ok:?}");
            for n in [MAX_WRITE_DEPTH, 10_000] {
                let mut s = Select::new(TableRef::new("user"));
                s.columns.push(col("id"));
                s.filter = Some(is_nulls(n));
                let statement = Statement::Select(s);
                let written = write_sqlite(&statement);
                let Statement::Select(s) = statement else {
                    unreachable!()
                };
                dismantle(s.filter.unwrap());
                match written {
                    Err(Error::Usage(m)) => assert!(m.contains("nested"), "{m}"),
                    other => panic!("expected Error::Usage, got {other:?}"),
                }
            }
        });
    }

    fn select_where_result(cond: Expr) -> Result<String> {
        let mut s = Select::new(TableRef::new("user"));
        s.columns.push(col("id"));
        s.filter = Some(cond);
        write_sqlite(&Statement::Select(s)).map(|w| w.sql)
    }

    #[test]
    fn invalid_expressions_are_usage_errors_with_their_message() {
        match select_where_result(Expr::and(eq("a", 1), Expr::Invalid("why".into()))) {
            Err(Error::Usage(m)) => assert_eq!(m, "why"),
            other => panic!("expected Error::Usage, got {other:?}"),
        }
    }

    #[test]
    fn comparison_operands_of_equal_strength_are_grouped() {
        // (a = b) = c: the right operand of a non-associative operator.
        let inner = Expr::binary(BinOp::Eq, col("b"), col("c"));
        let cond = Expr::binary(BinOp::Eq, col("a"), inner);
        assert!(select_where(cond).ends_with(r#"WHERE "user"."a" = ("user"."b" = "user"."c")"#));
    }

    #[test]
    fn values_become_parameters_in_order() {
        let mut s = Select::new(TableRef::new("user"));
        s.columns.push(col("id"));
        s.filter = Some(Expr::Between {
            expr: Box::new(col("age")),
            low: Box::new(Expr::value(18)),
            high: Box::new(Expr::value(65)),
            negated: false,
        });
        s.limit = Some(10);
        s.offset = Some(20);
        let w = write_sqlite(&Statement::Select(s)).unwrap();
        assert_eq!(
            w.sql,
            r#"SELECT "user"."id" FROM "user" WHERE "user"."age" BETWEEN ? AND ? LIMIT ? OFFSET ?"#
        );
        assert_eq!(
            w.params,
            vec![
                Value::Integer(18),
                Value::Integer(65),
                Value::Integer(10),
                Value::Integer(20)
            ]
        );
    }

    #[test]
    fn offset_without_limit_writes_limit_minus_one() {
        let mut s = Select::new(TableRef::new("t"));
        s.columns.push(Expr::CountStar);
        s.offset = Some(5);
        let w = write_sqlite(&Statement::Select(s)).unwrap();
        assert_eq!(w.sql, r#"SELECT count(*) FROM "t" LIMIT ? OFFSET ?"#);
        assert_eq!(w.params, vec![Value::Integer(-1), Value::Integer(5)]);
    }

    #[test]
    fn long_in_lists_become_one_json_parameter() {
        let list: Vec<Value> = (0..5000).map(Value::Integer).collect();
        let cond = Expr::InList {
            expr: Box::new(col("id")),
            list,
            negated: false,
        };
        let mut s = Select::new(TableRef::new("user"));
        s.columns.push(col("id"));
        s.filter = Some(cond);
        let w = write_sqlite(&Statement::Select(s)).unwrap();
        assert!(w.sql.ends_with(r#"IN (SELECT value FROM json_each(?))"#));
        assert_eq!(w.params.len(), 1);
    }

    #[test]
    fn json_array_escapes_text() {
        assert_eq!(
            json_array(&[
                Value::Text("a\"b\\c\n".into()),
                Value::Null,
                Value::Real(1.5)
            ])
            .unwrap(),
            r#"["a\"b\\c\u000a",null,1.5]"#
        );
        assert!(json_array(&[Value::Blob(vec![1])]).is_err());
    }

    #[test]
    fn insert_update_delete() {
        let ins = Insert {
            table: "user".into(),
            columns: vec!["name".into(), "email".into()],
            rows: vec![vec![
                Expr::value("a".to_string()),
                Expr::value("b".to_string()),
            ]],
            returning: vec!["id".into()],
        };
        assert_eq!(
            write_sqlite(&Statement::Insert(ins)).unwrap().sql,
            r#"INSERT INTO "user" ("name", "email") VALUES (?, ?) RETURNING "id""#
        );
        let upd = Update {
            table: "user".into(),
            set: vec![("name".into(), Expr::value("x".to_string()))],
            filter: Some(Expr::binary(BinOp::Eq, col("id"), Expr::value(1))),
            returning: vec![],
        };
        assert_eq!(
            write_sqlite(&Statement::Update(upd)).unwrap().sql,
            r#"UPDATE "user" SET "name" = ? WHERE "user"."id" = ?"#
        );
        let del = Delete {
            table: "user".into(),
            filter: None,
            returning: vec![],
        };
        assert_eq!(
            write_sqlite(&Statement::Delete(del)).unwrap().sql,
            r#"DELETE FROM "user""#
        );
    }

    #[test]
    fn create_table_matches_sqlalchemy_layout() {
        let t = CreateTable {
            name: "pet_category".into(),
            if_not_exists: false,
            columns: vec![
                ColumnSpec {
                    name: "pet_id".into(),
                    sql_type: "INTEGER".into(),
                    not_null: true,
                    default: None,
                    default_sql: None,
                },
                ColumnSpec {
                    name: "handler_id".into(),
                    sql_type: "INTEGER".into(),
                    not_null: true,
                    default: None,
                    default_sql: None,
                },
            ],
            primary_key: vec!["pet_id".into()],
            uniques: vec![],
            foreign_keys: vec![ForeignKeySpec {
                name: None,
                columns: vec!["handler_id".into()],
                target_table: "pet_handler".into(),
                target_columns: vec!["handler_id".into()],
                on_delete: Some("CASCADE"),
                on_update: None,
            }],
        };
        assert_eq!(
            write_sqlite(&Statement::CreateTable(t)).unwrap().sql,
            "CREATE TABLE \"pet_category\" (\n\t\"pet_id\" INTEGER NOT NULL, \n\t\"handler_id\" INTEGER NOT NULL, \n\tPRIMARY KEY (\"pet_id\"), \n\tFOREIGN KEY(\"handler_id\") REFERENCES \"pet_handler\" (\"handler_id\") ON DELETE CASCADE\n)"
        );
    }

    #[test]
    fn type_names_are_checked() {
        assert!(is_plain_type_name("VARCHAR(50)"));
        assert!(is_plain_type_name("NUMERIC(10, 2)"));
        assert!(is_plain_type_name("DOUBLE PRECISION"));
        assert!(!is_plain_type_name("INT); DROP TABLE x; --"));
        assert!(!is_plain_type_name(""));
    }
}
