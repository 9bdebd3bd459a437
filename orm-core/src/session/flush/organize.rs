//! Organize, the first step of a flush: one [`Row`] per pending insert,
//! per persistent object whose columns differ from its snapshot and per
//! marked deletion; then the rows relationship changes imply
//! ([`dependency`](super::dependency)), row switches and the dependencies
//! foreign key values create between rows. Nothing is modified: a live
//! `write()` guard is reported here as `BorrowConflict`. Called only by the
//! flush driver.

use rustc_hash::{FxHashMap, FxHashSet};

use std::rc::Rc;

use super::{Op, Row, Rows, ptr};
use crate::error::Result;
use crate::schema::TableDef;
use crate::session::key::{Key, into_key};
use crate::session::obj::ErasedObj;
use crate::session::obj::Status;
use crate::session::state::{SessionInner, SessionState};
use crate::types::Value;

impl SessionInner {
    /// Collect the rows of a flush, without modifying anything.
    pub(super) fn organize(&self, state: &mut SessionState) -> Result<Rows> {
        let mut rows =
            Rows::with_capacity(state.pending.len() + state.modified.len() + state.deleted.len());
        // Each INSERT and UPDATE row is noted in its object as it is made
        // (`row_of` in `dependency`): the object is at hand here, where a
        // later pass would read each one again.
        for obj in state.pending.iter() {
            if obj.status() == Status::Pending {
                obj.check_borrow()?;
                obj.set_flush_row(rows.len());
                rows.push(Row::new(obj, Op::Insert));
            }
        }
        let mut seen =
            FxHashSet::with_capacity_and_hasher(state.modified.len(), Default::default());
        for obj in state.modified.iter() {
            if obj.status() != Status::Persistent || obj.is_expired() || !seen.insert(ptr(obj)) {
                continue;
            }
            let columns = obj.changed_columns()?;
            if !columns.is_empty() {
                let mut row = Row::new(obj, Op::Update);
                row.columns = columns;
                obj.set_flush_row(rows.len());
                rows.push(row);
            }
        }
        let before_deletes = rows.len();
        for obj in state.deleted.iter() {
            if obj.status() == Status::MarkedDeleted {
                obj.check_borrow()?;
                rows.push(Row::new(obj, Op::Delete));
            }
        }
        let deletes = rows.len() > before_deletes;
        self.organize_relationships(state, &mut rows)?;
        self.organize_post_update_deletes(&mut rows)?;
        if deletes {
            row_switches(&mut rows)?;
        }
        value_dependencies(&mut rows)?;
        Ok(rows)
    }
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
fn value_dependencies(rows: &mut Rows) -> Result<()> {
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
    // Foreign keys a `post_update` sets to NULL first (at INSERT, or by an
    // UPDATE before the DELETEs): their values order nothing.
    let nulled_later: Vec<(*const (), &'static [usize])> = rows
        .iter()
        .enumerate()
        .filter(|(_, r)| matches!(r.op, Op::PostUpdate))
        .filter_map(|(i, r)| Some((ptr(r.obj.as_ref()?), rows.fills(i))))
        .flat_map(|(p, fills)| {
            fills
                .iter()
                .filter(|f| f.parent.is_none())
                .map(move |f| (p, f.columns()))
        })
        .collect();
    let nulled = |i: usize, obj: &Rc<dyn ErasedObj>, columns: &[usize]| match rows[i].op {
        Op::Insert => rows
            .fills(i)
            .iter()
            .any(|f| f.parent.is_none() && f.columns() == columns),
        Op::Delete => nulled_later
            .iter()
            .any(|&(p, c)| p == ptr(obj) && c == columns),
        _ => false,
    };
    let mut edges = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        let Some(obj) = &r.obj else { continue };
        let t = r.table();
        for fk in t.foreign_keys {
            if nulled(i, obj, fk.columns) {
                continue;
            }
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
        rows.add_after(row, Some(before));
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
