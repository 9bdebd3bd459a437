//! The unit of work: `flush` = organize -> plan -> emit -> finalize.
//!
//! 1. *Organize* collects one [`Row`] per pending insert, changed persistent
//!    object and deletion, plus foreign key fills, `post_update` rows and
//!    association-table rows from relationships. Nothing is modified. (The
//!    session's `before_flush` hooks run before it; the models' `before_*`
//!    hooks after it, followed by a second organize, and the validators.)
//! 2. *Plan* orders the rows with [`plan::order`] (plain data).
//! 3. *Emit* runs the statements inside `BEGIN IMMEDIATE` (or a savepoint
//!    when a transaction is already open). Generated keys and foreign key
//!    fills (and version counters) are written into objects as it goes,
//!    each write recorded in an undo log; the models' `after_*` hooks run
//!    after the last statement.
//! 4. *Finalize*, only when every statement succeeded, moves objects to
//!    their new states and updates the identity map. On any error the
//!    database work is rolled back and the undo log is replayed, so every
//!    object and the session are exactly as before the flush.
//!
//! One file per step, this one holding the driver ([`flush`]) and the row
//! types the steps share: [`organize`] (rows from the pending, modified
//! and deleted objects), [`dependency`] (foreign key fills and association
//! rows from relationship changes), [`plan`] (the order),
//! [`emit`](mod@emit) (the statements and their undo log),
//! [`finalize`](mod@finalize) (object states and the identity map after
//! success). Called by `Session::flush`, by autoflush before queries and
//! `get` misses, and by commit.
//!
//! [`flush`]: SessionInner::flush

mod dependency;
mod emit;
mod finalize;
mod organize;
mod plan;

use std::rc::Rc;

use super::few::Few;
use super::obj::ErasedObj;
use super::state::SessionInner;
use super::txn::OldValue;
use crate::error::Result;
use crate::schema::ColumnSet;
use crate::schema::TableDef;
use crate::types::Value;
use emit::emit;
use finalize::finalize;
use plan::{Phase, plan_rows};

/// Where a filled foreign key takes its values from: the relationship's
/// link (resolved once, static) names the columns on both sides, so a row
/// carries one reference, not two column lists (a flush of many rows holds
/// them all at once).
pub(crate) struct Fill {
    pub link: &'static crate::schema::Link,
    /// The referenced object, its columns read at emit time (so a key
    /// generated earlier in the same flush is seen); `None` sets NULL.
    pub parent: Option<Rc<dyn ErasedObj>>,
}

impl Fill {
    /// Columns of the row's table to set.
    pub fn columns(&self) -> &'static [usize] {
        &self.link.child_columns
    }

    /// The parent's columns their values come from, in the same order.
    pub fn parent_columns(&self) -> &'static [usize] {
        &self.link.parent_columns
    }
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
    /// `post_update`: an UPDATE of the filled foreign key only, once the
    /// rows it links exist (or before the row it points at is deleted).
    PostUpdate,
}

pub(crate) struct Row {
    pub obj: Option<Rc<dyn ErasedObj>>,
    /// The table written: the object's, or the association table's
    /// (kept here: every step asks, and asking the object is a dynamic
    /// call).
    table: &'static TableDef,
    pub op: Op,
    /// For updates: the columns to write.
    pub columns: ColumnSet,
    /// Where its fills and dependencies are in [`Rows`], plus one; 0 for
    /// the rows that have none (most).
    extras: usize,
}

/// The rows of a flush, with the foreign key fills and dependencies of the
/// rows that have any kept beside them: most rows (plain inserts and
/// updates) have none, and a flush holds all its rows at once, so a row is
/// 56 bytes rather than 104 (a commit of many new objects peaks here).
#[derive(Default)]
pub(crate) struct Rows {
    rows: Vec<Row>,
    extras: Vec<Extras>,
    /// Whether an object with relationship changes holds many-to-many
    /// link changes, which the flush moves into the transaction log once
    /// it succeeds (`SessionInner::relationships_flushed`).
    pub link_changes: bool,
    /// How many columns the fills of all rows write, counted as they are
    /// added (see [`filled_columns`](Self::filled_columns)).
    filled: usize,
    /// How long the list of objects with relationship changes was when
    /// organizing read it, and its count of removals then: where the next
    /// flush starts reading it once this one succeeds.
    pub rel_walked: Option<(usize, u32)>,
}

/// What a row may need besides its object: foreign keys to fill, rows to
/// run before it.
#[derive(Default)]
struct Extras {
    fills: Few<Fill>,
    after: Few<usize>,
}

impl Rows {
    pub fn with_capacity(n: usize) -> Rows {
        Rows {
            rows: Vec::with_capacity(n),
            extras: Vec::new(),
            link_changes: false,
            filled: 0,
            rel_walked: None,
        }
    }

    pub fn push(&mut self, row: Row) {
        self.rows.push(row);
    }

    /// Room for the fills and dependencies of `n` more rows (a flush of
    /// many children given a parent has one per child: grown by doubling,
    /// the list would be copied about twice over).
    pub fn reserve_extras(&mut self, n: usize) {
        self.extras.reserve(n);
    }

    /// How many columns the fills of all rows write at most (each write
    /// is one undo entry).
    pub fn filled_columns(&self) -> usize {
        self.filled
    }

    /// The foreign keys to fill in row `row`.
    pub fn fills(&self, row: usize) -> &[Fill] {
        match self.rows[row].extras {
            0 => &[],
            at => self.extras[at - 1].fills.as_slice(),
        }
    }

    /// The rows to run before row `row`.
    pub fn after(&self, row: usize) -> &[usize] {
        match self.rows[row].extras {
            0 => &[],
            at => self.extras[at - 1].after.as_slice(),
        }
    }

    fn extras_mut(&mut self, row: usize) -> &mut Extras {
        if self.rows[row].extras == 0 {
            self.extras.push(Extras::default());
            self.rows[row].extras = self.extras.len();
        }
        &mut self.extras[self.rows[row].extras - 1]
    }

    /// Fill a foreign key of row `row`.
    pub fn add_fill(&mut self, row: usize, fill: Fill) {
        self.filled += fill.columns().len();
        self.extras_mut(row).fills.push(fill);
    }

    /// Run the rows `before` ahead of row `row`.
    pub fn add_after(&mut self, row: usize, before: impl IntoIterator<Item = usize>) {
        let mut before = before.into_iter().peekable();
        if before.peek().is_some() {
            self.extras_mut(row).after.extend(before);
        }
    }

    /// The rows alone, once nothing asks for fills or dependencies.
    pub fn into_rows(self) -> Vec<Row> {
        self.rows
    }
}

impl std::ops::Deref for Rows {
    type Target = [Row];
    fn deref(&self) -> &[Row] {
        &self.rows
    }
}

impl std::ops::DerefMut for Rows {
    fn deref_mut(&mut self) -> &mut [Row] {
        &mut self.rows
    }
}

impl Row {
    /// An association-table row: an insert of `link`, or a delete.
    pub fn link(insert: bool, link: Link) -> Row {
        let table = link.table;
        let link = Box::new(link);
        Row {
            obj: None,
            table,
            op: if insert {
                Op::LinkInsert(link)
            } else {
                Op::LinkDelete(link)
            },
            columns: ColumnSet::empty(),
            extras: 0,
        }
    }

    pub fn new(obj: &Rc<dyn ErasedObj>, op: Op) -> Row {
        Row {
            obj: Some(Rc::clone(obj)),
            table: obj.table(),
            op,
            columns: ColumnSet::empty(),
            extras: 0,
        }
    }

    #[inline]
    fn table(&self) -> &'static TableDef {
        self.table
    }

    fn phase(&self) -> Phase {
        match self.op {
            Op::Insert | Op::Update | Op::Switch => Phase::Save,
            Op::PostUpdate => Phase::PostUpdate,
            Op::LinkInsert(_) => Phase::LinkInsert,
            Op::LinkDelete(_) => Phase::LinkDelete,
            Op::Delete | Op::Retire => Phase::Delete,
        }
    }
}

/// The savepoint a flush inside an open transaction runs under.
const SAVEPOINT: &str = "orm_flush";

/// What the emit phase wrote into objects, to put back if the flush fails
/// (and, for inserted objects, if the transaction rolls back).
struct UndoLog {
    /// Overwritten values, in write order.
    entries: Vec<Undo>,
    /// Rows whose key the database generated over a key column that held
    /// 0 (what asks for a generated key): put back by writing 0, so no old
    /// value is kept for the most common write of a flush.
    generated: Vec<usize>,
}

impl UndoLog {
    /// Row `row`'s key column `column` now holds the key the database
    /// generated; it held `old`.
    fn key_generated(&mut self, row: usize, column: usize, old: Value) {
        if old == Value::Integer(0) {
            self.generated.push(row);
        } else {
            self.entries.push(Undo::new(row, column, old));
        }
    }
}

/// Put back the 0 a generated key replaced (see [`UndoLog::generated`]).
pub(crate) fn clear_generated_key(obj: &dyn ErasedObj) {
    let _ = obj.set_column(obj.table().primary_key[0], &Value::Integer(0));
}

/// A value the emit phase overwrote in the object of row `row`, to put back
/// if the flush fails (and, for inserts, if the transaction rolls back).
struct Undo {
    row: usize,
    column: usize,
    old: OldValue,
}

impl Undo {
    fn new(row: usize, column: usize, old: Value) -> Undo {
        Undo {
            row,
            column,
            old: old.into(),
        }
    }
}

fn ptr(o: &Rc<dyn ErasedObj>) -> *const () {
    Rc::as_ptr(o) as *const ()
}

/// What a `before_*` model hook may have changed, to put back if the
/// flush fails: every column's value before it ran, and whether the flush
/// took the object's snapshot for it.
struct Hooked {
    obj: Rc<dyn ErasedObj>,
    before: Vec<Value>,
    snapshot_taken: bool,
}

/// The distinct tables of the rows, in first-seen order.
fn tables_of(rows: &[Row]) -> Vec<&'static TableDef> {
    let mut tables: Vec<&'static TableDef> = Vec::new();
    for r in rows {
        let t = r.table();
        // Rows of one table mostly come together: the last one first.
        if tables.last().is_some_and(|x| std::ptr::eq(*x, t)) {
            continue;
        }
        if !tables.iter().any(|x| std::ptr::eq(*x, t)) {
            tables.push(t);
        }
    }
    tables
}

impl SessionInner {
    pub(crate) fn flush(&self) -> Result<()> {
        self.check_not_in_hook("flush")?;
        self.check_writable()?;
        if self.has_before_flush() && self.state_mut()?.has_changes() {
            self.run_before_flush()?;
        }
        // Delete cascades left to the flush: their loads batched, before
        // anything is organized.
        self.resolve_deletes()?;
        let rows = {
            let mut state = self.state_mut()?;
            if !state.has_changes() {
                return Ok(());
            }
            self.organize(&mut state)?
        };
        if rows.is_empty() {
            // Only objects that were borrowed for writing but not changed,
            // or relationship changes that write nothing.
            let mut state = self.state_mut()?;
            state.rel_organized(rows.rel_walked);
            for obj in std::mem::take(&mut state.modified) {
                obj.clear_snapshot();
            }
            return Ok(());
        }
        let mut tables = tables_of(&rows);
        let hooks = tables.iter().any(|t| t.__ops.hooks);
        let mut hooked = Vec::new();
        let (rows, order) = match self.prepare(rows, &mut tables, hooks, &mut hooked) {
            Ok(prepared) => prepared,
            Err(e) => {
                self.undo_hooks(hooked);
                return Err(e);
            }
        };
        if rows.is_empty() {
            // The hooks took every change back.
            let mut state = self.state_mut()?;
            state.rel_organized(rows.rel_walked);
            for obj in std::mem::take(&mut state.modified) {
                obj.clear_snapshot();
            }
            return Ok(());
        }
        let in_txn = self.state_mut()?.txn.is_some();
        let observer = self.observer();
        // Nearly every insert generates its key, and every filled column
        // is one entry: sized once rather than doubled past the row count
        // (100,000 children given a parent copied 6 MB twice).
        let inserts = rows.iter().filter(|r| matches!(r.op, Op::Insert)).count();
        let mut undo = UndoLog {
            entries: Vec::with_capacity(rows.filled_columns()),
            generated: Vec::with_capacity(inserts),
        };
        // An error from `with_conn` itself (no connection, or a re-entrant
        // call) comes before anything ran: nothing to undo.
        let isolation = self.isolation.get();
        let run = self.with_conn(|conn| {
            if in_txn {
                conn.savepoint(SAVEPOINT, observer)?;
            } else {
                conn.begin_write(isolation, observer)?;
            }
            let mut result = emit(conn, observer, &rows, &order, &mut undo);
            if result.is_ok() && hooks {
                result = self.after_hooks(&rows, &order);
            }
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
        });
        // Not needed past emit: freed before finalize grows the transaction
        // log (a flush of many rows peaks there).
        drop(order);
        let (result, autocommit) = match run {
            Ok(run) => run,
            Err(e) => {
                self.undo_hooks(hooked);
                return Err(e);
            }
        };
        match result {
            Ok(()) => {
                let mut state = self.state_mut()?;
                let (link_changes, walked) = (rows.link_changes, rows.rel_walked);
                finalize(&mut state, rows.into_rows(), undo);
                if link_changes {
                    SessionInner::relationships_flushed(&mut state);
                }
                state.rel_organized(walked);
                Ok(())
            }
            Err(e) => {
                for u in undo.entries.into_iter().rev() {
                    if let Some(obj) = &rows[u.row].obj {
                        let _ = obj.set_column(u.column, &u.old.to_value());
                    }
                }
                for row in undo.generated {
                    if let Some(obj) = &rows[row].obj {
                        clear_generated_key(&**obj);
                    }
                }
                self.undo_hooks(hooked);
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

    /// Between organize and emit: the `before_*` model hooks (then organize
    /// again, to see what they changed), the field validators, the plan.
    fn prepare(
        &self,
        rows: Rows,
        tables: &mut Vec<&'static TableDef>,
        hooks: bool,
        hooked: &mut Vec<Hooked>,
    ) -> Result<(Rows, Vec<usize>)> {
        let rows = if hooks {
            self.before_hooks(&rows, hooked)?;
            drop(rows);
            let rows = self.organize(&mut *self.state_mut()?)?;
            *tables = tables_of(&rows);
            rows
        } else {
            rows
        };
        if tables.iter().any(|t| t.__ops.validates) {
            for row in rows.iter() {
                let (Some(obj), true) = (&row.obj, row.table().__ops.validates) else {
                    continue;
                };
                match row.op {
                    Op::Insert | Op::Switch => obj.validate(None)?,
                    Op::Update if !row.columns.is_empty() => obj.validate(Some(row.columns))?,
                    _ => {}
                }
            }
        }
        let order = plan_rows(&rows, tables)?;
        Ok((rows, order))
    }

    /// Run the `before_insert`, `before_update` and `before_delete` hooks of
    /// the rows' objects, outside every borrow of the session, noting what
    /// to put back if the flush fails.
    fn before_hooks(&self, rows: &[Row], hooked: &mut Vec<Hooked>) -> Result<()> {
        use super::HookEvent;
        use super::events::{Hook, HookScope, InHook};
        for row in rows {
            let Some(obj) = &row.obj else { continue };
            if !obj.table().__ops.hooks {
                continue;
            }
            let event = match row.op {
                Op::Insert | Op::Switch => HookEvent::BeforeInsert,
                Op::Update => HookEvent::BeforeUpdate,
                Op::Delete | Op::Retire => HookEvent::BeforeDelete,
                _ => continue,
            };
            if event == HookEvent::BeforeDelete {
                let _scope = HookScope::enter(&self.in_hook, InHook::Object(Hook::Model(event)));
                obj.run_hook(event)?;
                continue;
            }
            let before = obj.column_values()?;
            // An UPDATE found from a relationship alone has no snapshot:
            // take one, so the second organize sees what the hook changes.
            let snapshot_taken = event == HookEvent::BeforeUpdate && obj.ensure_snapshot()?;
            if snapshot_taken {
                self.state_mut()?.modified.push(obj);
            }
            hooked.push(Hooked {
                obj: Rc::clone(obj),
                before,
                snapshot_taken,
            });
            let _scope = HookScope::enter(&self.in_hook, InHook::Object(Hook::Model(event)));
            obj.run_hook_mut(event)?;
        }
        Ok(())
    }

    /// Run the `after_*` hooks, in the order the statements ran.
    fn after_hooks(&self, rows: &[Row], order: &[usize]) -> Result<()> {
        use super::HookEvent;
        use super::events::{Hook, HookScope, InHook};
        for &i in order {
            let row = &rows[i];
            let Some(obj) = &row.obj else { continue };
            if !obj.table().__ops.hooks {
                continue;
            }
            let event = match row.op {
                Op::Insert | Op::Switch => HookEvent::AfterInsert,
                Op::Update => HookEvent::AfterUpdate,
                Op::Delete | Op::Retire => HookEvent::AfterDelete,
                _ => continue,
            };
            let _scope = HookScope::enter(&self.in_hook, InHook::Object(Hook::Model(event)));
            obj.run_hook(event)?;
        }
        Ok(())
    }

    /// Put back what `before_*` hooks changed (the flush failed).
    fn undo_hooks(&self, hooked: Vec<Hooked>) {
        for h in hooked.into_iter().rev() {
            for (column, old) in h.before.iter().enumerate() {
                if h.obj.column_value(column).is_ok_and(|v| v != *old) {
                    let _ = h.obj.set_column(column, old);
                }
            }
            if h.snapshot_taken {
                h.obj.clear_snapshot();
                // The flush noted it as modified only for the hook (it had
                // no snapshot, so it was not listed before).
                if let Ok(mut state) = self.state.try_borrow_mut() {
                    state.modified.remove(&h.obj);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    /// A flush holds all its rows at once: the fills and dependencies that
    /// few rows have are kept beside them ([`super::Rows`]), so a row is
    /// its object, table, operation and columns.
    #[test]
    fn a_flush_row_is_56_bytes() {
        assert_eq!(std::mem::size_of::<super::Row>(), 56);
    }
}
