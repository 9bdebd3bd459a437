//! Finalize, the last step of a flush, run only when every statement
//! succeeded: statuses change, the identity map learns new keys (and
//! follows keys changed by `ON UPDATE CASCADE`), snapshots are dropped, and
//! the transaction log remembers what to undo on rollback. Called only by
//! the flush driver.

use std::rc::Rc;

use super::{Op, Row, Undo, UndoLog, ptr};
use crate::schema::TableDef;
use crate::session::obj::{ErasedObj, Status};
use crate::session::state::SessionState;
use crate::session::txn::OldValue;
use crate::types::Value;

/// Move objects to their new states (every statement succeeded).
pub(super) fn finalize(state: &mut SessionState, rows: Vec<Row>, undo: UndoLog) {
    let mut txn = state.take_txn_log();
    let UndoLog {
        entries: mut undo,
        mut generated,
    } = undo;
    // Each row's undo entries, together and still in write order (the sort
    // is stable; emit wrote them in plan order, mostly row order already,
    // and the check spares the sort's scratch buffer then).
    if !undo.is_sorted_by_key(|u| u.row) {
        undo.sort_by_key(|u| u.row);
    }
    let inserts = |r: &Row| r.obj.is_some() && matches!(r.op, Op::Insert | Op::Switch);
    // Entries of inserted rows (filled foreign keys, computed values)
    // become the transaction log's where they are; the rest (key fills of
    // updated rows, soft-delete stamps) move out. Generated keys are not
    // entries (`UndoLog::generated`).
    let others: Vec<Undo> = undo.extract_if(.., |u| !inserts(&rows[u.row])).collect();
    let mut others = others.into_iter().peekable();
    let (mut inserted, mut updates) = (0, 0);
    let mut key_changes = Vec::new();
    // Inserted objects of the first few tables, to size their identity
    // maps once (a hint: further tables grow as they go).
    let mut per_table: [Option<(&Rc<dyn ErasedObj>, usize)>; 4] = [None; 4];
    for row in &rows {
        match (&row.op, &row.obj) {
            (Op::Insert | Op::Switch, Some(obj)) => {
                inserted += 1;
                let t = obj.table();
                let slot = per_table
                    .iter_mut()
                    .find(|e| e.is_none_or(|(o, _)| std::ptr::eq(o.table(), t)));
                if let Some(e) = slot {
                    e.get_or_insert((obj, 0)).1 += 1;
                }
            }
            (Op::Update | Op::PostUpdate, _) => updates += 1,
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
    // Inserted objects join `txn.inserted` in row order: each entry's row
    // becomes its object's index there, and so does each generated key's
    // (only inserts generate one; the list stays ascending, which rolling
    // back to a savepoint relies on).
    generated.sort_unstable();
    let (mut at, mut g, mut kept) = (0, 0, 0);
    let mut index = txn.inserted.len();
    for (i, row) in rows.iter().enumerate() {
        let insert = inserts(row);
        while g < generated.len() && generated[g] == i {
            if insert {
                generated[kept] = index;
                kept += 1;
            }
            g += 1;
        }
        if insert {
            while at < undo.len() && undo[at].row == i {
                undo[at].row = index;
                at += 1;
            }
            index += 1;
        }
    }
    generated.truncate(kept);
    if txn.generated.is_empty() {
        txn.generated = generated;
    } else {
        txn.generated.extend(generated);
    }
    // Same size and alignment: collected into the entries' own buffer, so
    // a flush of many inserts does not hold two copies of its undo log.
    let entries = undo.into_iter().map(|u| (u.row, u.column, u.old));
    if txn.overwritten.is_empty() {
        txn.overwritten = entries.collect();
    } else {
        txn.overwritten.extend(entries);
    }
    for (obj, n) in per_table.into_iter().flatten() {
        obj.reserve_identity(state, n);
    }
    txn.inserted.reserve(inserted);
    txn.updated.reserve(updates);
    txn.updated_at.reserve(updates);
    // Where objects sit in `txn.inserted`, made on first need (a key filled
    // into an object this transaction inserted).
    let mut inserted_at: Option<rustc_hash::FxHashMap<*const (), usize>> = None;
    for (i, row) in rows.into_iter().enumerate() {
        // Entries of earlier rows that need none (deletes) are dropped; then
        // this row's: (column, old value) in write order.
        while others.next_if(|u| u.row < i).is_some() {}
        let mut overwritten = std::iter::from_fn(|| others.next_if(|u| u.row == i))
            .map(|u| (u.column, u.old))
            .peekable();
        let Some(obj) = row.obj else { continue };
        match row.op {
            Op::Insert | Op::Switch => {
                obj.set_status(Status::Persistent);
                obj.clear_snapshot();
                Rc::clone(&obj).attach_identity(state);
                if let Some(map) = &mut inserted_at {
                    map.insert(ptr(&obj), txn.inserted.len());
                }
                txn.inserted.push(obj);
            }
            Op::Update | Op::PostUpdate => {
                // Changed only by key fills: the transaction log still needs
                // the values from before, to restore or revert them.
                let mut snapshot = obj.take_snapshot();
                if overwritten.peek().is_some() {
                    let filled: Vec<(usize, OldValue)> = overwritten.collect();
                    if snapshot.is_none() {
                        snapshot = obj.snapshot_before(&filled);
                    }
                    if obj.table().version.is_some() {
                        txn.versioned = true;
                    }
                    // Keys filled into an object this transaction inserted
                    // are taken back with the insert if it rolls back.
                    let map = inserted_at.get_or_insert_with(|| {
                        txn.inserted
                            .iter()
                            .enumerate()
                            .map(|(i, o)| (ptr(o), i))
                            .collect()
                    });
                    if let Some(&index) = map.get(&ptr(&obj)) {
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
                let unused = txn.note_updated(obj, snapshot);
                drop(unused);
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
    txn: &mut crate::session::txn::TxnLog,
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
                if txn.needs_updated_entry(obj) {
                    txn.note_updated(Rc::clone(obj), obj.snapshot_before(&[]));
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
