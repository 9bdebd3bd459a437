//! Statements as plain data.
//!
//! Nothing here knows about models or sessions, and nothing here writes SQL
//! text: [`super::writer`] does that. Values are always [`Value`]s that the
//! writer turns into bound parameters; identifiers are always quoted by the
//! writer.

use std::borrow::Cow;

use crate::types::Value;

/// An identifier (table, column or alias). Quoted by the writer.
pub(crate) type Ident = Cow<'static, str>;

/// Every statement the crate runs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Statement {
    Select(Select),
    Insert(Insert),
    Update(Update),
    Delete(Delete),
    /// `INSERT ... ON CONFLICT (...) DO UPDATE SET ... RETURNING ...`.
    Upsert(Upsert),
    CreateTable(CreateTable),
    CreateIndex(CreateIndex),
    DropTable(DropTable),
    AlterTable(AlterTable),
    DropIndex(DropIndex),
    InsertSelect(InsertSelect),
    Pragma(Pragma),
    /// `LOCK TABLE ... IN EXCLUSIVE MODE` (databases with locking reads):
    /// two migrations of one database run one after the other.
    LockTable(Ident),
    /// Schema SQL read from the database's own catalog (a SQLite trigger's
    /// `CREATE TRIGGER` text), run again as it was: never user input.
    Verbatim(String),
}

/// A table in a FROM or JOIN clause, optionally aliased.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TableRef {
    pub name: Ident,
    pub alias: Option<Ident>,
}

impl TableRef {
    pub fn new(name: impl Into<Ident>) -> Self {
        TableRef {
            name: name.into(),
            alias: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JoinKind {
    Inner,
    Left,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Join {
    pub kind: JoinKind,
    pub table: TableRef,
    pub on: Expr,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OrderBy {
    pub expr: Expr,
    pub desc: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Select {
    pub distinct: bool,
    pub columns: Vec<Expr>,
    pub from: TableRef,
    /// `FROM (<select>) AS <from.name>` instead of a table.
    pub from_select: Option<Box<Select>>,
    /// No FROM clause at all (`SELECT EXISTS (...)`).
    pub no_from: bool,
    pub joins: Vec<Join>,
    pub filter: Option<Expr>,
    pub group_by: Vec<Expr>,
    pub having: Option<Expr>,
    pub order_by: Vec<OrderBy>,
    pub limit: Option<i64>,
    /// Write `limit` into the SQL text instead of binding it. SQLite
    /// re-prepares a statement with a bound LIMIT at every execution (about
    /// 5 µs against 0.6 µs), so the fixed limits of `first()` (1) and
    /// `one_or_none()` (2) are literals; a user's `limit(n)` stays bound, so
    /// the pages of one query share one statement.
    pub inline_limit: bool,
    pub offset: Option<i64>,
    /// `FOR UPDATE ...`, where the dialect locks rows.
    pub lock: Option<Lock>,
}

impl Select {
    pub fn new(from: TableRef) -> Self {
        Select {
            distinct: false,
            columns: Vec::new(),
            from,
            from_select: None,
            no_from: false,
            joins: Vec::new(),
            filter: None,
            group_by: Vec::new(),
            having: None,
            order_by: Vec::new(),
            limit: None,
            inline_limit: false,
            offset: None,
            lock: None,
        }
    }

    /// Add a condition with AND, keeping one flat list however many are
    /// added.
    pub fn and_where(&mut self, cond: Expr) {
        self.filter = Some(match self.filter.take() {
            None => cond,
            Some(prev) => Expr::and(prev, cond),
        });
    }
}

/// A locking read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lock {
    /// `FOR UPDATE`: wait for other writers of the rows.
    Wait,
    /// `FOR UPDATE SKIP LOCKED`: leave out rows others have locked.
    SkipLocked,
    /// `FOR UPDATE NOWAIT`: fail at once if a row is locked.
    NoWait,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Insert {
    pub table: Ident,
    pub columns: Vec<Ident>,
    /// One inner vector per row; each has `columns.len()` values.
    pub rows: Vec<Vec<Expr>>,
    pub returning: Vec<Ident>,
}

/// An INSERT whose rows that collide with an existing row on `target` (a
/// primary key or unique constraint) update that row instead: `set` gives
/// each updated column's new value, usually [`Expr::Excluded`] (the value
/// the INSERT proposed). With `report_inserted`, each returned row ends
/// with one more column telling whether it was inserted (true) or updated,
/// where the dialect can say so in SQL ([`crate::backend::Dialect`]'s
/// upsert report).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Upsert {
    /// The rows, with `returning` (the insert's own `on_conflict` is
    /// written by this node).
    pub insert: Insert,
    pub target: Vec<Ident>,
    /// Empty: `DO NOTHING`.
    pub set: Vec<(Ident, Expr)>,
    pub report_inserted: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Update {
    pub table: Ident,
    pub set: Vec<(Ident, Expr)>,
    pub filter: Option<Expr>,
    pub returning: Vec<Ident>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Delete {
    pub table: Ident,
    pub filter: Option<Expr>,
    pub returning: Vec<Ident>,
}

/// A column in `CREATE TABLE`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ColumnSpec {
    pub name: Ident,
    pub sql_type: Ident,
    pub not_null: bool,
    /// Rendered inline: DDL cannot take bound parameters. The writer only
    /// accepts literal values here and escapes them.
    pub default: Option<Value>,
    /// An SQL expression default (`server_default`), from the model's
    /// declaration (never from data), written in parentheses.
    pub default_sql: Option<Ident>,
}

/// A UNIQUE table constraint, named or left for the database to name.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct UniqueSpec {
    pub name: Option<Ident>,
    pub columns: Vec<Ident>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ForeignKeySpec {
    /// `CONSTRAINT "name"`, when the constraint has a name.
    pub name: Option<Ident>,
    pub columns: Vec<Ident>,
    pub target_table: Ident,
    pub target_columns: Vec<Ident>,
    pub on_delete: Option<&'static str>,
    pub on_update: Option<&'static str>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CreateTable {
    pub name: Ident,
    pub if_not_exists: bool,
    pub columns: Vec<ColumnSpec>,
    pub primary_key: Vec<Ident>,
    pub uniques: Vec<UniqueSpec>,
    pub foreign_keys: Vec<ForeignKeySpec>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CreateIndex {
    pub name: Ident,
    pub table: Ident,
    pub columns: Vec<Ident>,
    pub unique: bool,
    pub if_not_exists: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DropTable {
    pub name: Ident,
    pub if_exists: bool,
}

/// `ALTER TABLE <table> <action>`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AlterTable {
    pub table: Ident,
    pub action: AlterAction,
}

/// What an `ALTER TABLE` does. SQLite takes `AddColumn`, `DropColumn` and
/// `RenameTo`; the others are PostgreSQL's (a SQLite table is rebuilt
/// instead).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AlterAction {
    AddColumn(ColumnSpec),
    DropColumn(Ident),
    RenameTo(Ident),
    /// `ALTER COLUMN c TYPE t USING c::t`.
    SetType {
        column: Ident,
        sql_type: Ident,
    },
    /// `ALTER COLUMN c SET NOT NULL` / `DROP NOT NULL`.
    SetNotNull {
        column: Ident,
        not_null: bool,
    },
    /// `ALTER COLUMN c SET DEFAULT x` / `DROP DEFAULT` (neither given).
    SetDefault {
        column: Ident,
        sql_type: Ident,
        default: Option<Value>,
        default_sql: Option<Ident>,
    },
    AddUnique(UniqueSpec),
    AddForeignKey(ForeignKeySpec),
    DropConstraint(Ident),
}

/// `DROP INDEX`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DropIndex {
    pub name: Ident,
    pub if_exists: bool,
}

/// `INSERT INTO table (columns) SELECT from_columns FROM from_table`: a
/// table's rows copied into another (SQLite's table rebuild).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct InsertSelect {
    pub table: Ident,
    pub columns: Vec<Ident>,
    pub from_table: Ident,
    pub from_columns: Vec<Ident>,
}

/// `PRAGMA name = value` (SQLite): the settings a table rebuild changes,
/// named by the crate, never by input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pragma {
    pub name: &'static str,
    pub value: Option<&'static str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl BinOp {
    pub fn sql(self) -> &'static str {
        match self {
            BinOp::Eq => "=",
            BinOp::Ne => "<>",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
        }
    }

    /// Binding strength: a child binding less tightly than its parent is
    /// parenthesized. OR is 1, AND 2, NOT 3 (see the writer).
    pub fn precedence(self) -> u8 {
        match self {
            // SQLite binds `<` `<=` `>` `>=` tighter than `=` `<>` IS IN LIKE BETWEEN.
            BinOp::Eq | BinOp::Ne => 4,
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => 5,
        }
    }
}

/// Where [`Expr::TextMatch`] looks for its needle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TextAt {
    Anywhere,
    Start,
    End,
}

/// SQL functions the query API can produce. A closed list, so no function
/// name ever comes from user input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Func {
    Count,
    Sum,
    Min,
    Max,
    Avg,
}

impl Func {
    pub fn sql(self) -> &'static str {
        match self {
            Func::Count => "count",
            Func::Sum => "sum",
            Func::Min => "min",
            Func::Max => "max",
            Func::Avg => "avg",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    Column {
        table: Option<Ident>,
        name: Ident,
    },
    Value(Value),
    /// Every condition holds (`1` when empty). A flat list rather than a
    /// binary tree, so a long chain does not make a deep tree.
    And(Vec<Expr>),
    /// Any condition holds (`0` when empty).
    Or(Vec<Expr>),
    Binary {
        op: BinOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    Not(Box<Expr>),
    IsNull {
        expr: Box<Expr>,
        negated: bool,
    },
    InList {
        expr: Box<Expr>,
        list: Vec<Value>,
        negated: bool,
    },
    Between {
        expr: Box<Expr>,
        low: Box<Expr>,
        high: Box<Expr>,
        negated: bool,
    },
    Like {
        expr: Box<Expr>,
        pattern: Box<Expr>,
        /// `ESCAPE '\'` is written when true.
        escaped: bool,
        negated: bool,
    },
    /// `expr` holds `needle` at `at`: a literal match on bytes (NUL is an
    /// ordinary character, any length works), ASCII letters matching
    /// either case as with LIKE. NULL never matches.
    TextMatch {
        expr: Box<Expr>,
        needle: String,
        at: TextAt,
    },
    Func {
        func: Func,
        args: Vec<Expr>,
        distinct: bool,
    },
    CountStar,
    Exists {
        select: Box<Select>,
        negated: bool,
    },
    /// A constant truth value, written as `1` or `0`.
    Bool(bool),
    /// `excluded."name"`: in an upsert's `SET`, the value the INSERT
    /// proposed for the column.
    Excluded(Ident),
    /// `"table"."name" + 1`: a version counter moved on by a statement
    /// that writes rows without loading them.
    Incremented {
        table: Ident,
        name: Ident,
    },
    /// `expr AS "alias"`, in a SELECT's column list.
    Aliased {
        expr: Box<Expr>,
        alias: Ident,
    },
    /// A value that could not be converted when the query was built (for
    /// example NaN); writing the statement fails with this message.
    Invalid(String),
}

impl Expr {
    pub fn column(table: impl Into<Ident>, name: impl Into<Ident>) -> Self {
        Expr::Column {
            table: Some(table.into()),
            name: name.into(),
        }
    }

    pub fn value(v: impl Into<Value>) -> Self {
        Expr::Value(v.into())
    }

    pub fn binary(op: BinOp, left: Expr, right: Expr) -> Self {
        Expr::Binary {
            op,
            left: Box::new(left),
            right: Box::new(right),
        }
    }

    /// `left AND right`, flattened: an operand that is itself an AND
    /// contributes its items, so chains stay one level deep.
    pub fn and(left: Expr, right: Expr) -> Expr {
        Expr::And(join_flat(left, right, true))
    }

    /// `left OR right`, flattened like [`Expr::and`].
    pub fn or(left: Expr, right: Expr) -> Expr {
        Expr::Or(join_flat(left, right, false))
    }

    /// All of `conds` as one flat AND (`None` when empty, the condition
    /// itself when there is one).
    pub fn and_all(conds: Vec<Expr>) -> Option<Expr> {
        Self::flat_list(conds, true)
    }

    /// Any of `conds` as one flat OR (`None` when empty, the condition
    /// itself when there is one).
    pub fn or_all(conds: Vec<Expr>) -> Option<Expr> {
        Self::flat_list(conds, false)
    }

    fn flat_list(conds: Vec<Expr>, and: bool) -> Option<Expr> {
        let mut items = Vec::with_capacity(conds.len());
        for c in conds {
            push_flat(&mut items, c, and);
        }
        match items.len() {
            0 => None,
            1 => items.pop(),
            _ => Some(if and {
                Expr::And(items)
            } else {
                Expr::Or(items)
            }),
        }
    }
}

/// Append `e` to the items of an AND (`and`) or OR list, splicing in the
/// items of an `e` of the same kind.
fn push_flat(items: &mut Vec<Expr>, e: Expr, and: bool) {
    match e {
        Expr::And(inner) if and => items.extend(inner),
        Expr::Or(inner) if !and => items.extend(inner),
        other => items.push(other),
    }
}

/// The items of `left AND right` (or OR), reusing a list operand's vector.
/// Appending to a list on the left (chained filters, `Condition::all`) is
/// amortized O(1); a list on the right moves its items over by one.
fn join_flat(left: Expr, right: Expr, and: bool) -> Vec<Expr> {
    let same_kind = |e: &Expr| match e {
        Expr::And(_) => and,
        Expr::Or(_) => !and,
        _ => false,
    };
    let into_items = |e: Expr| match e {
        Expr::And(items) | Expr::Or(items) => items,
        other => vec![other],
    };
    match (same_kind(&left), same_kind(&right)) {
        (true, true) => {
            let mut l = into_items(left);
            let mut r = into_items(right);
            if l.len() >= r.len() {
                l.append(&mut r);
                l
            } else {
                r.splice(0..0, l);
                r
            }
        }
        (true, false) => {
            let mut l = into_items(left);
            l.push(right);
            l
        }
        (false, true) => {
            let mut r = into_items(right);
            r.insert(0, left);
            r
        }
        (false, false) => vec![left, right],
    }
}
