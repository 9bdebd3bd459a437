//! Loading one relationship end for many owners at once: one SELECT per
//! chunk of keys (`WHERE fk IN (...)`, or through the association table),
//! the identity map first for a parent, and the loaded collections merged
//! with unflushed in-memory assignments. Lazy loading (one owner), selectin
//! loading (every result of a query) and the delete cascade share this one
//! path. Called by `Obj::related`, by eager-loading options and by
//! `plan_delete`.

use std::cell::RefCell;
use std::rc::Rc;

use rustc_hash::{FxHashMap, FxHashSet};

use super::slots::{
    RelValue, empty_value, loaded_items, ptr, same, set_loaded_parent, set_value, values_of,
};
use super::sync::{given_another_parent, parent_of};
use crate::backend::Dialect;
use crate::error::Result;
use crate::schema::{LinkTable, Role, Side};
use crate::session::key::{Key, into_key, key_of};
use crate::session::obj::{ErasedObj, Status};
use crate::session::state::SessionInner;
use crate::sql::ast::{Expr, Join, JoinKind, Select, Statement, TableRef};
use crate::sql::writer;
use crate::types::Value;

/// `"t"."deleted_at" IS NULL` for a table with `#[orm(soft_delete)]`:
/// relationship loads leave soft-deleted rows out.
fn live(t: &crate::schema::TableDef) -> Option<Expr> {
    let sd = t.soft_delete?;
    Some(Expr::IsNull {
        expr: Box::new(Expr::column(t.name, t.columns[sd.column].name)),
        negated: false,
    })
}

/// Whether `obj` is a soft-deleted row (its soft-delete column is set).
pub(crate) fn soft_deleted(obj: &dyn ErasedObj) -> bool {
    obj.table()
        .soft_delete
        .is_some_and(|sd| obj.column_value(sd.column).is_ok_and(|v| v != Value::Null))
}

/// The hashable key of `obj`'s `columns` (no vector for a single column).
fn key_at(obj: &Rc<dyn ErasedObj>, columns: &[usize]) -> Result<Key> {
    match columns {
        [c] => Ok(key_of(std::slice::from_ref(&obj.column_value(*c)?))),
        _ => Ok(into_key(values_of(obj, columns)?)),
    }
}

/// The distinct keys of the owners one load fills, each with its group
/// (the order it was first seen in). A single integer key, the usual one,
/// is hashed as an `i64`: the child rows of a selectin load each look
/// their foreign key up here.
struct Groups {
    ints: FxHashMap<i64, usize>,
    others: FxHashMap<Key, usize>,
}

impl Groups {
    fn with_capacity(owners: usize) -> Groups {
        Groups {
            ints: FxHashMap::with_capacity_and_hasher(owners, Default::default()),
            others: FxHashMap::default(),
        }
    }

    fn len(&self) -> usize {
        self.ints.len() + self.others.len()
    }

    /// The group of `key`: its own, or a new one.
    fn group_of(&mut self, key: Key) -> usize {
        let next = self.len();
        match key {
            Key::Int(i) => *self.ints.entry(i).or_insert(next),
            other => *self.others.entry(other).or_insert(next),
        }
    }

    fn get(&self, key: &Key) -> Option<usize> {
        match key {
            Key::Int(i) => self.ints.get(i).copied(),
            other => self.others.get(other).copied(),
        }
    }
}

/// How many texts [`LOAD_SQL`] keeps; it is emptied when full (the key
/// counts of a thread's loads are few in practice, each chunk size once).
const LOAD_SQL_KEPT: usize = 64;

/// The longest text [`LOAD_SQL`] keeps: a load of SQLite's 500 keys is
/// about 2 KB; PostgreSQL's loads of thousands are written each time, so
/// a thread keeps at most half a megabyte.
const LOAD_SQL_LONGEST: usize = 8 * 1024;

/// A relationship end (its declaration and which end), a dialect, and a
/// number of key values.
type LoadSqlKey = (usize, bool, usize, usize);

thread_local! {
    /// The SQL of the relationship loads this thread has written: a
    /// selectin load's statement differs from the last one of its end only
    /// by its values, and writing it again was about a tenth of the
    /// instructions of a ten-row query with one eager load.
    static LOAD_SQL: RefCell<FxHashMap<LoadSqlKey, Rc<str>>> =
        RefCell::new(FxHashMap::default());
}

/// The SQL and parameters of `side`'s load of `values` in `dialect`: the
/// text written by `write` once, then kept per number of values. A text is
/// kept only where its parameters are exactly `values` in order (so any
/// other statement with the same values has the same text), and not for
/// values with a NULL, which a writer may spell differently, nor beyond
/// [`LOAD_SQL_LONGEST`].
fn load_sql(
    side: Side,
    dialect: &'static Dialect,
    values: Vec<Value>,
    write: impl FnOnce(Vec<Value>) -> Result<writer::Written>,
) -> Result<(Rc<str>, Vec<Value>)> {
    let (def, declared) = side.key();
    let key = (
        def,
        declared,
        std::ptr::from_ref(dialect) as usize,
        values.len(),
    );
    let plain = !values.contains(&Value::Null);
    if plain
        && let Some(sql) = LOAD_SQL
            .try_with(|c| c.try_borrow().ok()?.get(&key).cloned())
            .ok()
            .flatten()
    {
        return Ok((sql, values));
    }
    let copy = plain.then(|| values.clone());
    let w = write(values)?;
    let sql: Rc<str> = w.sql.into();
    if sql.len() <= LOAD_SQL_LONGEST && copy.is_some_and(|copy| copy == w.params) {
        let _ = LOAD_SQL.try_with(|c| {
            if let Ok(mut kept) = c.try_borrow_mut() {
                if kept.len() >= LOAD_SQL_KEPT {
                    kept.clear();
                }
                kept.insert(key, Rc::clone(&sql));
            }
        });
    }
    Ok((sql, w.params))
}

impl SessionInner {
    /// Load `side` for every owner that has not loaded it; return the related
    /// objects of all owners (for nested eager loading).
    pub(crate) fn load_side(
        &self,
        side: Side,
        owners: &[Rc<dyn ErasedObj>],
    ) -> Result<Vec<Rc<dyn ErasedObj>>> {
        let mut result = Vec::new();
        self.load_side_into(side, owners, Some(&mut result))?;
        Ok(result)
    }

    /// [`load_side`](Self::load_side) for a caller that does not need the
    /// related objects (the last level of an eager load, the delete
    /// cascade's batch): no list of them is built.
    pub(crate) fn load_side_only(&self, side: Side, owners: &[Rc<dyn ErasedObj>]) -> Result<()> {
        self.load_side_into(side, owners, None)
    }

    fn load_side_into(
        &self,
        side: Side,
        owners: &[Rc<dyn ErasedObj>],
        mut result: Option<&mut Vec<Rc<dyn ErasedObj>>>,
    ) -> Result<()> {
        if let [owner] = owners
            && let Some(mut items) = loaded_items(owner, side)
        {
            // Loaded already (the common case of a cascade walk): no maps.
            if let Role::Children { .. } = side.role() {
                items.retain(|c| !given_another_parent(c, side.partner(), owner));
            }
            if let Some(result) = result {
                result.extend(items);
            }
            return Ok(());
        }
        let link = side.def.link()?;
        // Owners to load, each with its group: the index of its key among
        // the distinct keys (owners may share a key: many children, one parent).
        let mut to_load: Vec<(Rc<dyn ErasedObj>, usize)> = Vec::with_capacity(owners.len());
        let mut no_rows: Vec<Rc<dyn ErasedObj>> = Vec::new();
        // The distinct keys to load, their values one after the other
        // (`width` per key), for the IN lists.
        let mut keys: Vec<Value> = Vec::new();
        let mut width = 1;
        // The owners' key columns, looked up once.
        let mut owner_key: Option<&[usize]> = None;
        // Sized once: growing them was a third of the per-owner cost of a
        // selectin load of many owners.
        let mut distinct = Groups::with_capacity(owners.len());
        let mut seen: FxHashSet<*const ()> =
            FxHashSet::with_capacity_and_hasher(owners.len(), Default::default());
        let other = side.other();
        // A reference found by the referenced table's primary key can be
        // looked up in the identity map.
        let by_parent_key = link.parent_columns.as_slice() == other.primary_key;
        for owner in owners {
            if !seen.insert(ptr(owner)) {
                continue;
            }
            if let Some(mut items) = loaded_items(owner, side) {
                if let Role::Children { .. } = side.role() {
                    // A child given another parent since the collection was
                    // loaded (its old parent unknown then) is not in it.
                    items.retain(|c| !given_another_parent(c, side.partner(), owner));
                }
                if let Some(result) = result.as_deref_mut() {
                    result.extend(items);
                }
                continue;
            }
            let owner_key = match owner_key {
                Some(columns) => columns,
                None => *owner_key.insert(link.owner_key(side)?),
            };
            width = owner_key.len();
            let start = keys.len();
            for &c in owner_key {
                keys.push(owner.column_value(c)?);
            }
            let new_owner = matches!(owner.status(), Status::Pending | Status::Transient);
            if side.role() == Role::Parent && keys[start..].contains(&Value::Null) {
                keys.truncate(start);
                set_value(owner, side, empty_value(side), false);
                continue;
            }
            if side.role() == Role::Parent && by_parent_key {
                // The identity map first, as SQLAlchemy does: a parent the
                // session holds needs no SELECT.
                let found = (other.__ops.lookup)(&mut *self.state_mut()?, &keys[start..]);
                if let Some(parent) = found {
                    keys.truncate(start);
                    if parent.status() == Status::Deleted || soft_deleted(&*parent) {
                        // Deleted in this transaction: no row to find.
                        set_value(owner, side, empty_value(side), false);
                    } else {
                        let up = RelValue::Up(Some(Rc::downgrade(&parent)));
                        set_value(owner, side, up, false);
                        if let Some(result) = result.as_deref_mut() {
                            result.push(parent);
                        }
                    }
                    continue;
                }
            }
            if new_owner && side.role() != Role::Parent {
                // No rows can point at it yet; only in-memory assignments.
                keys.truncate(start);
                no_rows.push(Rc::clone(owner));
                continue;
            }
            let groups = distinct.len();
            let group = distinct.group_of(key_of(&keys[start..]));
            if group < groups {
                // Another owner has the same key: it is in the list already.
                keys.truncate(start);
            }
            to_load.push((Rc::clone(owner), group));
        }
        if to_load.is_empty() && no_rows.is_empty() {
            return Ok(());
        }
        // The related objects found, with their owners' group (most loads
        // find at least one per owner).
        let mut found: Vec<(usize, Rc<dyn ErasedObj>)> = Vec::with_capacity(to_load.len());
        let mut add = |key: Key, obj: Rc<dyn ErasedObj>| {
            if let Some(group) = distinct.get(&key) {
                found.push((group, obj));
            }
        };
        // Values per statement: the dialect's number of keys, each `width`
        // values, within its parameter limit (at least one key).
        let dialect = self.dialect();
        let per_key = dialect.load_keys().min(dialect.max_params() / width);
        let per_statement = per_key.max(1) * width;
        // Taken from the front in order, each value moved once (splitting
        // the rest off each time copied it: quadratic in the keys).
        // Links go through the association table; without one there is
        // nothing to load.
        let assoc = link.secondary.as_ref().map(|sl| sl.table);
        let statements = if side.role() == Role::Links && assoc.is_none() {
            0
        } else {
            keys.len().div_ceil(per_statement)
        };
        let mut rest = keys.into_iter();
        for _ in 0..statements {
            let chunk: Vec<Value> = rest.by_ref().take(per_statement).collect();
            let (sql, params) = load_sql(side, dialect, chunk, |chunk| {
                let mut select = Select::new(TableRef::new(other.name));
                select.columns = crate::schema::statements::select_columns(other, other.name);
                match (side.role(), assoc) {
                    // The owner's key read from the association table,
                    // after the related model's columns.
                    (Role::Links, Some(assoc)) => {
                        let (_, own_cols) = link.key_columns(side)?;
                        select.columns.extend(
                            own_cols
                                .iter()
                                .map(|&c| Expr::column(assoc.name, assoc.columns[c].name)),
                        );
                        select.joins.push(Join {
                            kind: JoinKind::Inner,
                            table: TableRef::new(assoc.name),
                            on: link.join_on(
                                side,
                                LinkTable::Assoc.named(assoc.name),
                                LinkTable::Other.named(other.name),
                            ),
                        });
                        select.filter = Some(link.key_condition(side, assoc.name, chunk));
                    }
                    // Children are found by their foreign key, a parent by
                    // the key it is referenced by.
                    _ => select.filter = Some(link.key_condition(side, other.name, chunk)),
                }
                if let Some(live) = live(other) {
                    select.and_where(live);
                }
                writer::write(&Statement::Select(select), dialect)
            })?;
            if side.role() == Role::Links {
                let (_, own_cols) = link.key_columns(side)?;
                (other.__ops.load)(self, &sql, &params, own_cols.len(), &mut |target, key| {
                    add(key_of(key), target);
                    Ok(())
                })?;
            } else {
                let (_, columns) = link.key_columns(side)?;
                (other.__ops.load)(self, &sql, &params, 0, &mut |found, _| {
                    add(key_at(&found, columns)?, found);
                    Ok(())
                })?;
            }
        }
        // Each group's objects together, in the order their rows came (the
        // sort is stable), and where each group's run is.
        found.sort_by_key(|&(group, _)| group);
        let mut runs = vec![0..0; distinct.len()];
        let mut start = 0;
        for run in found.chunk_by(|a, b| a.0 == b.0) {
            runs[run[0].0] = start..start + run.len();
            start += run.len();
        }
        if let Some(result) = result.as_deref_mut() {
            result.reserve(found.len());
        }
        let owners_to_fill = to_load
            .into_iter()
            .map(|(o, group)| {
                let items = found[runs[group].clone()]
                    .iter()
                    .map(|(_, o)| Rc::clone(o))
                    .collect();
                (o, items)
            })
            .chain(no_rows.into_iter().map(|o| (o, Vec::new())));
        self.fill_loaded(side, owners_to_fill, result)
    }

    /// Set `side` of each owner to the related objects loaded for it,
    /// merged with unflushed in-memory assignments (children given a parent
    /// in memory join its collection, children given another parent leave
    /// it); the children learn their parent. The related objects are added
    /// to `result` when there is one. Shared by selectin loading and joined
    /// loading of collections.
    pub(crate) fn fill_loaded(
        &self,
        side: Side,
        owners: impl Iterator<Item = (Rc<dyn ErasedObj>, Vec<Rc<dyn ErasedObj>>)>,
        mut result: Option<&mut Vec<Rc<dyn ErasedObj>>>,
    ) -> Result<()> {
        let partner = side.partner();
        // Children given a parent in memory but not flushed yet: the loaded
        // collections follow the assignments, not only the database. Those
        // a successful flush wrote are in the database, where the SELECT
        // found them (reading every assignment since the commit made a
        // loop of lazy loads and appends quadratic).
        let assigned: Vec<Rc<dyn ErasedObj>> = match side.role() {
            Role::Children { .. } => {
                let dirty: Vec<Rc<dyn ErasedObj>> = self
                    .state_mut()?
                    .rel_unflushed()
                    .iter()
                    .flatten()
                    .cloned()
                    .collect();
                let mut seen = FxHashSet::default();
                dirty
                    .into_iter()
                    .filter(|c| seen.insert(ptr(c)))
                    .filter(|c| {
                        c.rels_if_any()
                            .is_some_and(|r| r.borrow().find(partner).is_some_and(|s| s.assigned))
                            && !matches!(c.status(), Status::MarkedDeleted | Status::Deleted)
                    })
                    .collect()
            }
            _ => Vec::new(),
        };
        for (owner, mut items) in owners {
            if !assigned.is_empty() {
                items.retain(|c| !given_another_parent(c, partner, &owner));
                for c in &assigned {
                    if parent_of(c, partner).is_some_and(|p| same(&p, &owner))
                        && !items.iter().any(|x| same(x, c))
                    {
                        items.push(Rc::clone(c));
                    }
                }
            }
            if let Role::Children { .. } = side.role() {
                // The children now know their parent, unless they were given
                // another one in memory.
                for child in &items {
                    set_loaded_parent(child, partner, Some(&owner));
                }
            }
            if let Some(result) = result.as_deref_mut() {
                result.extend(items.iter().cloned());
            }
            let value = match side.role() {
                Role::Children { single: false } | Role::Links => RelValue::Many(items.into()),
                Role::Children { single: true } => RelValue::One(items.into_iter().next()),
                Role::Parent => RelValue::Up(items.first().map(Rc::downgrade)),
            };
            set_value(&owner, side, value, false);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::schema::PETS;

    /// What `load_sql` gives for `values`, and whether it wrote the text
    /// (the writer here spells its values as parameters, as the real one
    /// does, unless `inline` is set).
    fn sql_for(side: Side, values: &[i64], inline: bool) -> (Rc<str>, Vec<Value>, bool) {
        static SQLITE: Dialect = Dialect::SQLITE;
        let wrote = Cell::new(false);
        let values: Vec<Value> = values.iter().map(|&v| Value::Integer(v)).collect();
        let (sql, params) = load_sql(side, &SQLITE, values, |values| {
            wrote.set(true);
            let marks = vec!["?"; values.len()].join(", ");
            Ok(writer::Written {
                sql: format!("IN ({marks}) -- {inline}"),
                params: if inline { Vec::new() } else { values },
            })
        })
        .unwrap();
        (sql, params, wrote.get())
    }

    #[test]
    fn a_loads_sql_is_written_once_per_end_and_number_of_keys() {
        let pets = Side::new(&PETS, true);
        let owner = Side::new(&PETS, false);
        LOAD_SQL.with(|c| c.borrow_mut().clear());
        let (first, params, wrote) = sql_for(pets, &[1, 2], false);
        assert!(wrote);
        assert_eq!(params, [Value::Integer(1), Value::Integer(2)]);
        // The same end and number: the text kept, the new values bound.
        let (again, params, wrote) = sql_for(pets, &[7, 8], false);
        assert!(!wrote);
        assert!(Rc::ptr_eq(&first, &again));
        assert_eq!(params, [Value::Integer(7), Value::Integer(8)]);
        // Another number of keys, or the other end: written.
        assert!(sql_for(pets, &[1, 2, 3], false).2);
        assert!(sql_for(owner, &[1, 2], false).2);
        // A text longer than the longest kept is written each time.
        let many: Vec<i64> = (0..3000).collect();
        assert!(sql_for(pets, &many, false).2);
        assert!(sql_for(pets, &many, false).2);
        // A text whose parameters are not the values is not kept.
        LOAD_SQL.with(|c| c.borrow_mut().clear());
        assert!(sql_for(pets, &[1], true).2);
        assert!(sql_for(pets, &[1], true).2);
    }
}
