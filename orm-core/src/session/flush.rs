//! The unit of work: `flush` = organize -> plan -> emit -> finalize.
//!
//! 1. *Organize* collects one [`Row`] per pending insert, changed persistent
//!    object and deletion, plus foreign key fills and association-table rows
//!    from relationships. Nothing is modified.
//! 2. *Plan* orders the rows with [`plan::order`] (plain data).
//! 3. *Emit* runs the statements inside `BEGIN IMMEDIATE` (or a savepoint
//!    when a transaction is already open). Generated keys and foreign key
//!    fills are written into objects as it goes, each write recorded in an
//!    undo log.
//! 4. *Finalize*, only when every statement succeeded, moves objects to
//!    their new states and updates the identity map. On any error the
//!    database work is rolled back and the undo log is replayed, so every
//!    object and the session are exactly as before the flush.

use std::borrow::Cow;
use std::rc::Rc;
use std::sync::Arc;

use rustc_hash::{FxHashMap, FxHashSet};

use super::few::Few;
use super::key::{Key, into_key};
use super::obj::{ErasedObj, Status};
use super::plan::{self, Phase, PlanNode};
use super::{SessionInner, SessionState};
use crate::backend::{Conn, GeneratedKeys};
use crate::error::{Error, Result};
use crate::observe::Observer;
use crate::schema::ColumnSet;
use crate::schema::registry::creation_order;
use crate::schema::{TableDef, statements};
use crate::types::Value;

/// Where a filled foreign key takes its values from. Column lists are the
/// relationship's (resolved once, static), not copies.
pub(crate) struct Fill {
    /// Columns of the row's table to set.
    pub columns: &'static [usize],
    /// The referenced object, and its columns to copy (read at emit time, so
    /// a key generated earlier in the same flush is seen).
    pub parent: Option<(Rc<dyn ErasedObj>, &'static [usize])>,
}

/// One side of an association row: its columns in the association table,
/// the object, and the object's columns they reference.
pub(crate) struct LinkSide {
    pub link_columns: &'static [usize],
    pub obj: Rc<dyn ErasedObj>,
    pub obj_columns: &'static [usize],
}

/// One row of an association table.
pub(crate) struct Link {
    pub table: &'static TableDef,
    pub sides: [LinkSide; 2],
}

pub(crate) enum Op {
    Insert,
    Update,
    Delete,
    /// A new object with the key of a row deleted in the same flush
    /// (SQLAlchemy's "row switch"): one UPDATE of every other column.
    Switch,
    /// The deleted side of a row switch: no statement, but the object is
    /// deleted as far as the session is concerned.
    Retire,
    LinkInsert(Box<Link>),
    LinkDelete(Box<Link>),
}

pub(crate) struct Row {
    pub obj: Option<Rc<dyn ErasedObj>>,
    pub op: Op,
    /// For updates: the columns to write.
    pub columns: ColumnSet,
    /// Foreign keys to fill (usually none or one).
    pub fills: Few<Fill>,
    /// Rows to run before this one (usually none or one).
    pub after: Few<usize>,
}

impl Row {
    /// An association-table row.
    pub fn link(op: Op) -> Row {
        Row {
            obj: None,
            op,
            columns: ColumnSet::empty(),
            fills: Few::Zero,
            after: Few::Zero,
        }
    }

    pub fn new(obj: &Rc<dyn ErasedObj>, op: Op) -> Row {
        Row {
            obj: Some(Rc::clone(obj)),
            op,
            columns: ColumnSet::empty(),
            fills: Few::Zero,
            after: Few::Zero,
        }
    }

    fn table(&self) -> &'static TableDef {
        match (&self.op, &self.obj) {
            (Op::LinkInsert(l) | Op::LinkDelete(l), _) => l.table,
            (_, Some(o)) => o.table(),
            // Every non-link row has an object.
            (_, None) => unreachable!("entity row without object"),
        }
    }

    fn phase(&self) -> Phase {
        match self.op {
            Op::Insert | Op::Update | Op::Switch => Phase::Save,
            Op::LinkInsert(_) => Phase::LinkInsert,
            Op::LinkDelete(_) => Phase::LinkDelete,
            Op::Delete | Op::Retire => Phase::Delete,
        }
    }
}

/// The savepoint a flush inside an open transaction runs under.
const SAVEPOINT: &str = "orm_flush";

/// A value the emit phase overwrote in the object of row `row`, to put back
/// if the flush fails (and, for inserts, if the transaction rolls back).
struct Undo {
    row: usize,
    column: usize,
    old: Value,
}

fn ptr(o: &Rc<dyn ErasedObj>) -> *const () {
    Rc::as_ptr(o) as *const ()
}

impl SessionInner {
    pub(crate) fn flush(&self) -> Result<()> {
        self.check_writable()?;
        let rows = {
            let mut state = self.state_mut()?;
            if !state.has_changes() {
                return Ok(());
            }
            self.organize(&mut state)?
        };
        if rows.is_empty() {
            // Only objects that were borrowed for writing but not changed.
            let mut state = self.state_mut()?;
            for obj in std::mem::take(&mut state.modified) {
                obj.clear_snapshot();
            }
            return Ok(());
        }
        let order = plan_rows(&rows)?;
        let in_txn = self.state_mut()?.txn.is_some();
        let observer = self.observer();
        let mut undo = Vec::new();
        // An error from `with_conn` itself (no connection, or a re-entrant
        // call) comes before anything ran: nothing to undo.
        let (result, autocommit) = self.with_conn(|conn| {
            if in_txn {
                conn.savepoint(SAVEPOINT, observer)?;
            } else {
                conn.begin_write(observer)?;
            }
            let mut result = emit(conn, observer, &rows, &order, &mut undo);
            if result.is_ok() && in_txn {
                result = conn.release(SAVEPOINT, observer);
            }
            if result.is_err() {
                if !in_txn {
                    conn.rollback_quietly(observer);
                } else if conn.in_transaction() {
                    conn.rollback_to(SAVEPOINT, observer);
                }
            }
            Ok((result, !conn.in_transaction()))
        })?;
        match result {
            Ok(()) => {
                let mut state = self.state_mut()?;
                finalize(&mut state, rows, undo);
                SessionInner::relationships_flushed(&mut state);
                state.rel_pending = 0;
                Ok(())
            }
            Err(e) => {
                for u in undo.into_iter().rev() {
                    if let Some(obj) = &rows[u.row].obj {
                        let _ = obj.set_column(u.column, &u.old);
                    }
                }
                if in_txn && autocommit {
                    // SQLite rolled back the whole transaction (it may after
                    // I/O, disk-full or out-of-memory errors): put the earlier
                    // flushes' objects back too, so nothing is lost.
                    self.restore_txn();
                }
                if autocommit {
                    self.release_conn();
                }
                Err(self.db.refine_error(e))
            }
        }
    }

    /// Collect the rows of a flush, without modifying anything.
    fn organize(&self, state: &mut SessionState) -> Result<Vec<Row>> {
        let mut rows =
            Vec::with_capacity(state.pending.len() + state.modified.len() + state.deleted.len());
        for obj in &state.pending {
            if obj.status() == Status::Pending {
                obj.check_borrow()?;
                rows.push(Row::new(obj, Op::Insert));
            }
        }
        let mut seen =
            FxHashSet::with_capacity_and_hasher(state.modified.len(), Default::default());
        for obj in &state.modified {
            if obj.status() != Status::Persistent || obj.is_expired() || !seen.insert(ptr(obj)) {
                continue;
            }
            let columns = obj.changed_columns()?;
            if !columns.is_empty() {
                let mut row = Row::new(obj, Op::Update);
                row.columns = columns;
                rows.push(row);
            }
        }
        for obj in &state.deleted {
            if obj.status() == Status::MarkedDeleted {
                obj.check_borrow()?;
                rows.push(Row::new(obj, Op::Delete));
            }
        }
        self.organize_relationships(state, &mut rows)?;
        row_switches(&mut rows)?;
        value_dependencies(&mut rows)?;
        Ok(rows)
    }
}

/// Order rows: tables by foreign keys, then explicit dependencies.
fn plan_rows(rows: &[Row]) -> Result<Vec<usize>> {
    let mut tables: Vec<&'static TableDef> = Vec::new();
    for r in rows {
        let t = r.table();
        if !tables.iter().any(|x| std::ptr::eq(*x, t)) {
            tables.push(t);
        }
    }
    let ordered = creation_order(&tables);
    let rank = |t: &'static TableDef| {
        ordered
            .iter()
            .position(|x| std::ptr::eq(*x, t))
            .unwrap_or(0)
    };
    let nodes: Vec<PlanNode<'_>> = rows
        .iter()
        .map(|r| PlanNode {
            phase: r.phase(),
            table_rank: rank(r.table()),
            insert: !matches!(r.op, Op::Update),
            after: r.after.as_slice(),
        })
        .collect();
    plan::order(&nodes).map_err(|cycle| {
        let models: Vec<&str> = cycle.rows.iter().map(|&i| rows[i].table().model).collect();
        Error::Schema(format!(
            "cannot order the flush: objects of {} reference each other in a cycle; flush one of them first, then set the remaining foreign key",
            models.join(", ")
        ))
    })
}

/// A new object whose explicit key is the key of a row deleted in the same
/// flush takes that row over: the INSERT becomes an UPDATE of the row and
/// the DELETE is dropped, instead of a UNIQUE violation (SQLAlchemy's row
/// switch). Rows that pointed at the old row keep pointing at the same key.
fn row_switches(rows: &mut [Row]) -> Result<()> {
    let table_id = |t: &'static TableDef| t as *const TableDef as usize;
    let mut deleted: FxHashMap<(usize, Key), usize> = FxHashMap::default();
    for (i, r) in rows.iter().enumerate() {
        if let (Op::Delete, Some(obj)) = (&r.op, &r.obj)
            && let Some(k) = obj.identity_values()
        {
            deleted.insert((table_id(r.table()), into_key(k)), i);
        }
    }
    if deleted.is_empty() {
        return Ok(());
    }
    for i in 0..rows.len() {
        let Some(obj) = &rows[i].obj else { continue };
        if !matches!(rows[i].op, Op::Insert) || obj.needs_generated_key()? {
            continue;
        }
        let key = (table_id(obj.table()), into_key(obj.key_values()?));
        if let Some(d) = deleted.remove(&key) {
            rows[i].op = Op::Switch;
            rows[d].op = Op::Retire;
        }
    }
    Ok(())
}

/// Rows whose foreign key values point at rows inserted or deleted in the
/// same flush (explicit keys, self-referential tables): the referenced row
/// is inserted first and deleted last.
fn value_dependencies(rows: &mut [Row]) -> Result<()> {
    let has_fks = rows.iter().any(|r| !r.table().foreign_keys.is_empty());
    if !has_fks || rows.len() < 2 {
        return Ok(());
    }
    let table_id = |t: &'static TableDef| t as *const TableDef as usize;
    let mut inserted: FxHashMap<(usize, Key), usize> = FxHashMap::default();
    let mut deleted: FxHashMap<(usize, Key), usize> = FxHashMap::default();
    for (i, r) in rows.iter().enumerate() {
        let Some(obj) = &r.obj else { continue };
        match r.op {
            Op::Insert if !obj.needs_generated_key()? => {
                inserted.insert((table_id(r.table()), into_key(obj.key_values()?)), i);
            }
            Op::Delete => {
                if let Some(k) = obj.identity_values() {
                    deleted.insert((table_id(r.table()), into_key(k)), i);
                }
            }
            _ => {}
        }
    }
    if inserted.is_empty() && deleted.is_empty() {
        // Every insert gets its key from SQLite and nothing is deleted: no
        // foreign key value can point at a row of this flush (relationship
        // fills order those rows themselves).
        return Ok(());
    }
    let mut edges = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        let Some(obj) = &r.obj else { continue };
        let t = r.table();
        for fk in t.foreign_keys {
            let Some(target) = lookup_table(t, fk.target.table_name()) else {
                continue;
            };
            let values = fk
                .columns
                .iter()
                .map(|&c| obj.column_value(c))
                .collect::<Result<Vec<_>>>()?;
            if values.contains(&Value::Null) {
                continue;
            }
            let key = (table_id(target), into_key(values));
            match r.op {
                Op::Insert | Op::Update => {
                    if let Some(&p) = inserted.get(&key)
                        && p != i
                    {
                        edges.push((i, p));
                    }
                }
                Op::Delete => {
                    if let Some(&p) = deleted.get(&key)
                        && p != i
                    {
                        edges.push((p, i));
                    }
                }
                _ => {}
            }
        }
    }
    for (row, before) in edges {
        rows[row].after.push(before);
    }
    Ok(())
}

/// The table a foreign key of `t` points at, when it is `t` itself or a
/// table reachable through typed foreign keys.
fn lookup_table(t: &'static TableDef, name: &str) -> Option<&'static TableDef> {
    if t.name == name {
        return Some(t);
    }
    t.foreign_keys.iter().find_map(|fk| match fk.target {
        crate::schema::ForeignTarget::Model { table, .. } if table().name == name => Some(table()),
        _ => None,
    })
}

fn params_of(obj: &dyn ErasedObj, columns: &[usize], identity: bool) -> Vec<Value> {
    let mut out: Vec<Value> = columns
        .iter()
        .map(|&c| obj.column_value(c).unwrap_or(Value::Null))
        .collect();
    if identity {
        out.extend(obj.identity_values().unwrap_or_default());
    }
    out
}

/// Copy referenced values into the foreign key columns of row `row`'s object.
fn apply_fills(
    row: usize,
    obj: &Rc<dyn ErasedObj>,
    fills: &[Fill],
    undo: &mut Vec<Undo>,
) -> Result<()> {
    for fill in fills {
        for (k, &column) in fill.columns.iter().enumerate() {
            let value = match &fill.parent {
                Some((parent, parent_columns)) => parent.column_value(parent_columns[k])?,
                None => Value::Null,
            };
            let t = obj.table();
            if value == Value::Null && !t.columns[column].nullable {
                return Err(not_null(t, column));
            }
            if obj.column_value(column)? != value {
                let old = obj.set_column(column, &value)?;
                undo.push(Undo { row, column, old });
            }
        }
    }
    Ok(())
}

/// What makes two entity rows run the same statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Table, and whether SQLite generates the key.
    Insert(usize, bool),
    /// Table, and the columns written.
    Update(usize, u64),
    /// Table, and the columns written; the key is the object's own (it has
    /// no identity yet).
    Switch(usize, u64),
    Delete(usize),
}

/// The columns a row switch writes: every column but the key.
fn switch_columns(t: &'static TableDef) -> ColumnSet {
    let mut set = ColumnSet::empty();
    for i in (0..t.columns.len()).filter(|i| !t.primary_key.contains(i)) {
        set.insert(i);
    }
    set
}

/// The columns an UPDATE writes: the changed ones and the filled keys.
fn update_columns(row: &Row) -> ColumnSet {
    let mut columns = row.columns;
    for f in row.fills.as_slice() {
        for &c in f.columns {
            columns.insert(c);
        }
    }
    columns
}

fn shape_of(row: &Row, obj: &dyn ErasedObj) -> Result<Option<Shape>> {
    let t = obj.table() as *const TableDef as usize;
    Ok(match row.op {
        Op::Insert => Some(Shape::Insert(t, obj.needs_generated_key()?)),
        Op::Update => Some(Shape::Update(t, update_columns(row).bits())),
        Op::Switch => {
            let set = switch_columns(obj.table());
            (!set.is_empty()).then(|| Shape::Switch(t, set.bits()))
        }
        Op::Delete => Some(Shape::Delete(t)),
        Op::Retire | Op::LinkInsert(_) | Op::LinkDelete(_) => None,
    })
}

/// SQL text that is either per-table static or per-connection cached.
enum SqlText {
    Static(Cow<'static, str>),
    Shared(Arc<str>),
}

impl SqlText {
    fn as_str(&self) -> &str {
        match self {
            SqlText::Static(s) => s,
            SqlText::Shared(s) => s,
        }
    }
}

/// Run the rows in order. Consecutive rows with the same statement shape
/// share one prepared statement (one cache lookup per run, not per row);
/// every execution is still reported to the observer.
fn emit(
    conn: &mut Conn,
    observer: &Observer,
    rows: &[Row],
    order: &[usize],
    undo: &mut Vec<Undo>,
) -> Result<()> {
    let dialect = conn.dialect();
    let mut k = 0;
    while k < order.len() {
        let row = &rows[order[k]];
        let obj = match (&row.op, &row.obj) {
            (Op::LinkInsert(link), _) => {
                emit_link(conn, observer, link, true)?;
                k += 1;
                continue;
            }
            (Op::LinkDelete(link), _) => {
                emit_link(conn, observer, link, false)?;
                k += 1;
                continue;
            }
            (_, Some(obj)) => obj,
            (_, None) => {
                k += 1;
                continue;
            }
        };
        apply_fills(order[k], obj, row.fills.as_slice(), undo)?;
        let Some(shape) = shape_of(row, &**obj)? else {
            k += 1;
            continue;
        };
        let t = obj.table();
        let (sql, columns, identity) = match shape {
            Shape::Insert(_, generated) => (
                SqlText::Static(statements::insert(t, !generated, dialect)),
                statements::insert_columns(t, !generated).collect::<Vec<_>>(),
                false,
            ),
            Shape::Update(..) | Shape::Switch(..) => {
                let switch = matches!(shape, Shape::Switch(..));
                let set = if switch {
                    switch_columns(t)
                } else {
                    update_columns(row)
                };
                let key = (t as *const TableDef as usize, set.bits());
                let sql = Arc::clone(
                    conn.update_sql
                        .entry(key)
                        .or_insert_with(|| statements::update(t, set, dialect).into()),
                );
                let mut columns: Vec<usize> = set.iter().collect();
                if switch {
                    // WHERE key = the object's own key values.
                    columns.extend_from_slice(t.primary_key);
                }
                (SqlText::Shared(sql), columns, !switch)
            }
            Shape::Delete(_) => (
                SqlText::Static(statements::delete_by_key(t, dialect)),
                Vec::new(),
                true,
            ),
        };
        let sql = sql.as_str();
        let returning = dialect.generated_keys() == GeneratedKeys::Returning;
        let mut stmt = conn.prepare_run(sql).map_err(|e| e.with_table(t))?;
        loop {
            let obj = rows[order[k]].obj.as_ref().unwrap_or(obj);
            if observer.active() {
                observer.observe(sql, &|| params_of(&**obj, &columns, identity));
            }
            obj.bind(&mut stmt, &mut columns.iter().copied(), identity)?;
            match shape {
                Shape::Insert(_, true) => {
                    let key = stmt
                        .insert_generated(returning)
                        .map_err(|e| e.with_table(t))?;
                    let column = t.primary_key[0];
                    let old = obj.set_column(column, &Value::Integer(key))?;
                    undo.push(Undo {
                        row: order[k],
                        column,
                        old,
                    });
                }
                _ => {
                    let changed = stmt.execute().map_err(|e| e.with_table(t))?;
                    if changed == 0 && !matches!(shape, Shape::Insert(..)) {
                        return Err(stale(&**obj));
                    }
                }
            }
            k += 1;
            let Some(next) = order.get(k).map(|&i| &rows[i]) else {
                break;
            };
            let Some(next_obj) = &next.obj else { break };
            if !std::ptr::eq(next_obj.table(), t) {
                break;
            }
            apply_fills(order[k], next_obj, next.fills.as_slice(), undo)?;
            if shape_of(next, &**next_obj)? != Some(shape) {
                break;
            }
        }
    }
    Ok(())
}

/// Clearing a required foreign key (its parent was deleted or removed):
/// the NOT NULL violation SQLite would report, before any SQL runs.
fn not_null(t: &'static TableDef, column: usize) -> Error {
    let name = t.columns[column].name;
    Error::Constraint {
        kind: crate::error::ConstraintKind::NotNull,
        model: Some(t.model),
        table: Some(t.name.to_owned()),
        columns: vec![name.to_owned()],
        source: format!(
            "{}.{} cannot be NULL: delete its rows first, or give the relationship a delete cascade",
            t.name, name
        )
        .into(),
    }
}

fn stale(obj: &dyn ErasedObj) -> Error {
    Error::StaleData {
        model: obj.table().model,
        key: obj.identity_values().map(|v| format!("{v:?}")),
    }
}

/// INSERT or DELETE one association-table row.
fn emit_link(conn: &mut Conn, observer: &Observer, link: &Link, insert: bool) -> Result<()> {
    use crate::sql::ast::{BinOp, Delete, Expr, Insert, Statement};
    let t = link.table;
    let mut columns = Vec::new();
    let mut values = Vec::new();
    for side in &link.sides {
        for (a, o) in side.link_columns.iter().zip(side.obj_columns) {
            columns.push(*a);
            values.push(side.obj.column_value(*o)?);
        }
    }
    let stmt = if insert {
        Statement::Insert(Insert {
            table: t.name.into(),
            columns: columns.iter().map(|&c| t.columns[c].name.into()).collect(),
            rows: vec![values.into_iter().map(Expr::Value).collect()],
            returning: vec![],
        })
    } else {
        let conds = columns
            .iter()
            .zip(values)
            .map(|(&c, v)| {
                Expr::binary(
                    BinOp::Eq,
                    Expr::column(t.name, t.columns[c].name),
                    Expr::Value(v),
                )
            })
            .collect();
        Statement::Delete(Delete {
            table: t.name.into(),
            filter: Expr::and_all(conds),
            returning: vec![],
        })
    };
    let w = crate::sql::writer::write(&stmt, conn.dialect())?;
    conn.execute_values(&w.sql, &w.params, observer)
        .map_err(|e| e.with_table(t))?;
    Ok(())
}

/// Move objects to their new states (every statement succeeded).
fn finalize(state: &mut SessionState, rows: Vec<Row>, mut undo: Vec<Undo>) {
    let mut txn = state.txn.take().unwrap_or_default();
    // Each row's undo entries, together and still in write order (the sort
    // is stable; emit wrote them in plan order, mostly row order already).
    undo.sort_by_key(|u| u.row);
    let mut undo = undo.into_iter().peekable();
    let (mut inserts, mut updates) = (0, 0);
    let mut key_changes = Vec::new();
    for row in &rows {
        match (&row.op, &row.obj) {
            (Op::Insert | Op::Switch, _) => inserts += 1,
            (Op::Update, _) => updates += 1,
            // Deleted rows leave the identity map before inserted ones
            // enter it (a new object may reuse a deleted one's key).
            (Op::Delete | Op::Retire, Some(obj)) => {
                obj.detach_identity(state);
                obj.set_status(Status::Deleted);
                txn.deleted.push(Rc::clone(obj));
            }
            _ => {}
        }
    }
    txn.inserted.reserve(inserts);
    txn.updated.reserve(updates);
    txn.updated_set.reserve(updates);
    for (i, row) in rows.into_iter().enumerate() {
        // Entries of earlier rows that need none (deletes) are dropped; then
        // this row's: (column, old value) in write order.
        while undo.next_if(|u| u.row < i).is_some() {}
        let mut overwritten = std::iter::from_fn(|| undo.next_if(|u| u.row == i))
            .map(|u| (u.column, u.old))
            .peekable();
        let Some(obj) = row.obj else { continue };
        match row.op {
            Op::Insert | Op::Switch => {
                obj.set_status(Status::Persistent);
                obj.clear_snapshot();
                Rc::clone(&obj).attach_identity(state);
                let index = txn.inserted.len();
                txn.inserted.push(obj);
                txn.overwritten
                    .extend(overwritten.map(|(column, old)| (index, column, old)));
            }
            Op::Update => {
                // Changed only by key fills: the transaction log still needs
                // the values from before, to restore or revert them.
                let mut snapshot = obj.take_snapshot();
                if overwritten.peek().is_some() {
                    let filled: Vec<(usize, Value)> = overwritten.collect();
                    if snapshot.is_none() {
                        snapshot = obj.snapshot_before(&filled);
                    }
                    // Keys filled into an object this transaction inserted
                    // are taken back with the insert if it rolls back.
                    let p = ptr(&obj);
                    if let Some(index) = txn.inserted.iter().position(|o| ptr(o) == p) {
                        txn.overwritten
                            .extend(filled.into_iter().map(|(c, old)| (index, c, old)));
                    }
                }
                if obj.key_changed() {
                    if let (Some(old), Ok(new)) = (obj.identity_values(), obj.key_values()) {
                        key_changes.push((obj.table(), old, new));
                    }
                    obj.detach_identity(state);
                    Rc::clone(&obj).attach_identity(state);
                }
                if txn.updated_set.insert(ptr(&obj)) {
                    txn.updated.push((obj, snapshot));
                }
            }
            _ => {}
        }
    }
    for obj in std::mem::take(&mut state.modified) {
        obj.clear_snapshot();
    }
    if !key_changes.is_empty() {
        cascade_key_changes(state, &mut txn, &key_changes);
    }
    state.pending.retain(|o| o.status() == Status::Pending);
    state.deleted.clear();
    state.txn = Some(txn);
}

/// A primary key changed by this flush: objects of the session whose
/// foreign key pointed at the old key through `ON UPDATE CASCADE` were
/// changed by the database itself; their values follow, without looking
/// changed. (Without the cascade the database refuses a key change that
/// rows still point at, so there is nothing to follow.) The transaction
/// log keeps their values from before, for rollback.
fn cascade_key_changes(
    state: &mut SessionState,
    txn: &mut super::TxnLog,
    changes: &[(&'static TableDef, Vec<Value>, Vec<Value>)],
) {
    let objects = state.maps.all_objects();
    for (parent, old, new) in changes {
        for obj in &objects {
            let t = obj.table();
            for fk in t.foreign_keys {
                let cascades = fk.on_update == Some(crate::schema::FkAction::Cascade);
                if !cascades || fk.target.table_name() != parent.name {
                    continue;
                }
                // Where each referenced column sits in the parent's key.
                let positions: Option<Vec<usize>> = fk
                    .target
                    .columns()
                    .iter()
                    .map(|c| {
                        parent
                            .primary_key
                            .iter()
                            .position(|&k| parent.columns[k].name == *c)
                    })
                    .collect();
                let Some(positions) = positions else { continue };
                let points_at_old = fk
                    .columns
                    .iter()
                    .zip(&positions)
                    .all(|(&c, &p)| obj.column_value(c).is_ok_and(|v| v == old[p]));
                if !points_at_old {
                    continue;
                }
                if txn.updated_set.insert(ptr(obj)) {
                    txn.updated.push((Rc::clone(obj), obj.snapshot_before(&[])));
                }
                for (&c, &p) in fk.columns.iter().zip(&positions) {
                    // Borrowed by the caller: it reloads the truth later.
                    if obj.sync_column(c, &new[p]).is_err() {
                        obj.expire();
                    }
                }
                if obj.key_changed() {
                    obj.detach_identity(state);
                    Rc::clone(obj).attach_identity(state);
                }
            }
        }
    }
}

impl SessionInner {
    /// Mark an object for deletion (cascading through relationships).
    pub(crate) fn delete_erased(&self, obj: &Rc<dyn ErasedObj>) -> Result<()> {
        self.check_owner(&**obj)?;
        match obj.status() {
            Status::Pending | Status::Persistent => {
                let steps = self.plan_delete(obj)?;
                self.apply_delete(steps)
            }
            Status::MarkedDeleted | Status::Deleted => Ok(()),
            Status::Transient | Status::Detached => Err(Error::Detached {
                model: obj.table().model,
                action: "be deleted (it is not in this session)",
            }),
        }
    }
}
