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
use crate::error::Result;
use crate::schema::ColumnSet;
use crate::schema::TableDef;
use crate::types::Value;
use emit::emit;
use finalize::finalize;
use plan::{Phase, plan_rows};

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
        let isolation = self.isolation.get();
        let (result, autocommit) = self.with_conn(|conn| {
            if in_txn {
                conn.savepoint(SAVEPOINT, observer)?;
            } else {
                conn.begin_write(isolation, observer)?;
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
}
