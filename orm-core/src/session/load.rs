//! Rows into objects: every loaded row goes through the identity map, where
//! an object already in the session wins (unless it is expired, in which
//! case the row refreshes it).
//!
//! Also `get` (the identity map first), reloading expired objects,
//! `refresh`, and bulk UPDATE and DELETE, whose `RETURNING` keys say which
//! objects of the session to expire or detach. Called by queries, raw SQL,
//! `Session::get` and `refresh`, by `Obj::read` and `write` (reload), and
//! through [`ModelOps`](super::ModelOps) by relationship loading.

use std::rc::Rc;

use hashbrown::hash_table;

use super::identity::IdentityMap;
use super::obj::{ErasedObj, Obj, Status};
use super::state::{SessionInner, SessionState};
use super::txn::TxnLog;
use crate::backend::Row;
use crate::error::{Error, Result};
use crate::model::FromRow;
use crate::model::{Model, PrimaryKey, bind_key};
use crate::schema::statements;
use crate::types::Value;

impl SessionInner {
    /// The object for `row` (columns from `offset`), from the identity map or new.
    #[inline]
    pub(crate) fn adopt_row<M: Model>(
        &self,
        map: &mut IdentityMap<M>,
        log: &mut Option<TxnLog>,
        row: &Row<'_>,
        offset: usize,
    ) -> Result<Obj<M>> {
        self.adopt_row_with(map, log, row, offset, false)
    }

    /// [`adopt_row`](Self::adopt_row); with `populate`, an object already
    /// in the session takes the row's values (SQLAlchemy's
    /// `populate_existing`). An object that takes the row's values is
    /// noted in `log` while a savepoint is open.
    #[inline]
    pub(crate) fn adopt_row_with<M: Model>(
        &self,
        map: &mut IdentityMap<M>,
        log: &mut Option<TxnLog>,
        row: &Row<'_>,
        offset: usize,
        populate: bool,
    ) -> Result<Obj<M>> {
        let key = M::__key_from_row(row, offset)?;
        // One hash lookup for both the hit and the insert.
        match map.entry(&key) {
            hash_table::Entry::Occupied(found) => {
                let existing = found.get();
                if existing.inner.expired() || populate {
                    existing.set_loaded(M::__from_row_with_key(row, offset, key)?)?;
                    TxnLog::note_loaded(log, || existing.erased());
                }
                Ok(existing.clone())
            }
            hash_table::Entry::Vacant(slot) => {
                let value = M::__from_row_with_key(row, offset, key.clone())?;
                let obj =
                    Obj::with_status(value, Status::Persistent, self.weak_self.clone(), Some(key));
                slot.insert(obj.clone());
                TxnLog::note_loaded(log, || obj.erased());
                Ok(obj)
            }
        }
    }

    /// Run a SELECT of `M`'s columns (from column 0) and adopt every row.
    pub(crate) fn load_objects<M: Model>(
        &self,
        sql: &str,
        params: &[Value],
    ) -> Result<Vec<Obj<M>>> {
        self.load_objects_with(sql, params, false)
    }

    /// [`load_objects`](Self::load_objects), optionally overwriting the
    /// objects already in the session with the rows' values.
    pub(crate) fn load_objects_with<M: Model>(
        &self,
        sql: &str,
        params: &[Value],
        populate: bool,
    ) -> Result<Vec<Obj<M>>> {
        crate::types::check_params(params)?;
        self.with_conn_for::<M, _>(|conn| {
            let mut stmt = conn.prepare_bound(sql, params, self.observer())?;
            let mut state = self.state_mut()?;
            let SessionState { maps, txn, .. } = &mut *state;
            let map = maps.of::<M>();
            let mut out = Vec::new();
            stmt.query(|row| {
                push_row(&mut out, self.adopt_row_with(map, txn, row, 0, populate)?);
                Ok(())
            })?;
            Ok(out)
        })
    }

    /// Like [`load_objects`](Self::load_objects), with the columns of
    /// joined related models after `M`'s: each (end, offset, table) is a
    /// LEFT OUTER JOIN of the query. A reference is set from each row; a
    /// collection gathers the distinct objects of all the rows of its
    /// owner, and is set when the rows are read (unless the owner's
    /// collection was loaded already). Each object of `M` is returned
    /// once, in the order of its first row.
    pub(crate) fn load_objects_joined<M: Model>(
        &self,
        sql: &str,
        params: &[Value],
        joined: &[(crate::schema::Side, usize, &'static crate::schema::TableDef)],
        populate: bool,
    ) -> Result<Vec<Obj<M>>> {
        use crate::schema::Role;
        use rustc_hash::{FxHashMap, FxHashSet};
        crate::types::check_params(params)?;
        let collections: Vec<usize> = (0..joined.len())
            .filter(|&j| joined[j].0.role() != Role::Parent)
            .collect();
        // Per object of M (by position in `out`), per joined collection:
        // its distinct related objects in row order.
        let mut gathered: Vec<Vec<Vec<Rc<dyn ErasedObj>>>> = Vec::new();
        let mut seen_items: FxHashSet<(usize, usize, *const ())> = FxHashSet::default();
        let mut position: FxHashMap<*const (), usize> = FxHashMap::default();
        let mut out = Vec::new();
        self.with_conn_for::<M, _>(|conn| {
            let mut stmt = conn.prepare_bound(sql, params, self.observer())?;
            let mut state = self.state_mut()?;
            stmt.query(|row| {
                let SessionState { maps, txn, .. } = &mut *state;
                let obj = self.adopt_row_with(maps.of::<M>(), txn, row, 0, populate)?;
                let p = *position
                    .entry(Rc::as_ptr(&obj.inner) as *const ())
                    .or_insert_with(|| {
                        out.push(obj.clone());
                        gathered.push(vec![Vec::new(); collections.len()]);
                        out.len() - 1
                    });
                for (j, &(side, offset, table)) in joined.iter().enumerate() {
                    let related = (table.__ops.adopt)(self, &mut state, row, offset)?;
                    if side.role() == Role::Parent {
                        super::rel::slots::set_loaded_parent(&obj.erased(), side, related.as_ref());
                    } else if let Some(item) = related {
                        let c = collections.iter().position(|&x| x == j).unwrap_or(0);
                        if seen_items.insert((p, c, Rc::as_ptr(&item) as *const ())) {
                            gathered[p][c].push(item);
                        }
                    }
                }
                Ok(())
            })?;
            Ok(())
        })?;
        for (c, &j) in collections.iter().enumerate() {
            let side = joined[j].0;
            let owners = out
                .iter()
                .zip(gathered.iter_mut())
                .map(|(o, g)| (o.erased(), std::mem::take(&mut g[c])))
                .filter(|(o, _)| !super::rel::slots::is_loaded(o, side));
            self.fill_loaded(side, owners, None)?;
        }
        Ok(out)
    }

    /// Run a SELECT of `M`'s columns and return plain values, untracked.
    pub(crate) fn load_values<M: Model>(&self, sql: &str, params: &[Value]) -> Result<Vec<M>> {
        crate::types::check_params(params)?;
        self.with_conn_for::<M, _>(|conn| {
            let mut stmt = conn.prepare_bound(sql, params, self.observer())?;
            let mut out = Vec::new();
            stmt.query(|row| {
                push_row(&mut out, M::__from_row(row, 0)?);
                Ok(())
            })?;
            Ok(out)
        })
    }

    /// Run a SELECT and decode every row as `T`.
    pub(crate) fn load_tuples<T: FromRow>(
        &self,
        sql: &str,
        params: &[Value],
        table: &str,
    ) -> Result<Vec<T>> {
        crate::types::check_params(params)?;
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_bound(sql, params, self.observer())?;
            let mut out = Vec::new();
            stmt.query(|row| {
                push_row(&mut out, T::from_row(row, table)?);
                Ok(())
            })?;
            Ok(out)
        })
    }

    /// Run a bulk UPDATE or DELETE with `RETURNING` keys, then expire
    /// (update) or detach (delete) the affected objects of `M`.
    pub(crate) fn bulk<M: Model>(
        &self,
        stmt: &crate::sql::ast::Statement,
        delete: bool,
    ) -> Result<usize> {
        self.autoflush()?;
        self.ensure_write_txn()?;
        let w = crate::sql::writer::write(stmt, self.dialect())?;
        crate::types::check_params(&w.params)?;
        let observer = self.observer();
        let keys: Vec<M::Key> = self.with_conn(|conn| {
            let mut st = conn.prepare_bound(&w.sql, &w.params, observer)?;
            let mut keys = Vec::new();
            st.query(|row| {
                keys.push(M::__key_from_row(row, 0)?);
                Ok(())
            })
            .map_err(|e| e.with_table(M::table()))?;
            Ok(keys)
        })?;
        let mut state = self.state_mut()?;
        if let Some(txn) = &mut state.txn {
            txn.untracked = true;
        }
        let affected: Vec<Obj<M>> = match state.maps.get::<M>() {
            Some(map) => keys.iter().filter_map(|k| map.get(k).cloned()).collect(),
            None => Vec::new(),
        };
        for obj in affected {
            let erased = obj.erased();
            if delete {
                erased.detach_identity(&mut state);
                state.modified.remove(&erased);
                state.deleted.remove(&erased);
                erased.set_status(Status::Deleted);
                if let Some(txn) = state.txn.as_mut() {
                    txn.deleted.push(erased);
                }
            } else {
                erased.expire();
            }
        }
        Ok(keys.len())
    }

    /// Load one row by key, untracked.
    fn fetch_by_key<M: Model>(&self, key: &M::Key) -> Result<Option<M>> {
        let t = M::table();
        let sql = statements::select_by_key(t, self.dialect());
        let sql = &*sql;
        self.with_conn_for::<M, _>(|conn| {
            let mut stmt = conn.prepare(sql, self.observer(), &|| key.to_values())?;
            bind_key(t, key, &mut stmt, 1)?;
            stmt.query_first(|row| M::__from_row(row, 0))
        })
    }

    pub(crate) fn get<M: Model>(&self, key: M::Key) -> Result<Option<Obj<M>>> {
        if let Some(found) = self.lookup::<M>(&key)? {
            return found;
        }
        self.autoflush()?;
        if let Some(found) = self.lookup::<M>(&key)? {
            return found;
        }
        let t = M::table();
        let sql = statements::select_by_key(t, self.dialect());
        let sql = &*sql;
        self.with_conn_for::<M, _>(|conn| {
            let mut stmt = conn.prepare(sql, self.observer(), &|| key.to_values())?;
            bind_key(t, &key, &mut stmt, 1)?;
            stmt.query_first(|row| {
                let mut state = self.state_mut()?;
                let SessionState { maps, txn, .. } = &mut *state;
                self.adopt_row(maps.of::<M>(), txn, row, 0)
            })
        })
        // A soft-deleted row is not found (it stays in the identity map,
        // as after a query `with_deleted()`).
        .map(|found| found.filter(|o| !super::rel::load::soft_deleted(&*o.erased())))
    }

    /// The identity map's answer for `key`: `Some(result)` when it decides,
    /// `None` on a miss.
    #[allow(clippy::type_complexity)]
    fn lookup<M: Model>(&self, key: &M::Key) -> Result<Option<Result<Option<Obj<M>>>>> {
        let found = {
            let mut state = self.state_mut()?;
            state.maps.get::<M>().and_then(|m| m.get(key).cloned())
        };
        let Some(obj) = found else { return Ok(None) };
        Ok(Some(match obj.inner.status.get() {
            Status::MarkedDeleted | Status::Deleted => Ok(None),
            _ if obj.inner.expired() => match self.reload(&obj) {
                Ok(()) if super::rel::load::soft_deleted(&*obj.erased()) => Ok(None),
                Ok(()) => Ok(Some(obj)),
                Err(Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            },
            _ if super::rel::load::soft_deleted(&*obj.erased()) => Ok(None),
            _ => Ok(Some(obj)),
        }))
    }

    /// Reload an expired object from its row.
    pub(crate) fn reload<M: Model>(&self, obj: &Obj<M>) -> Result<()> {
        let key = identity_for_reload(obj)?;
        match self.fetch_by_key::<M>(&key)? {
            Some(value) => {
                obj.set_loaded(value)?;
                self.note_loaded(obj);
                Ok(())
            }
            None => self.row_gone(obj, key),
        }
    }

    /// [`TxnLog::note_loaded`] for an object loaded while the session's
    /// state was not borrowed; when it is in use after all (a call from a
    /// hook), the next rollback to a savepoint expires every object.
    pub(crate) fn note_loaded<M: Model>(&self, obj: &Obj<M>) {
        match self.state.try_borrow_mut() {
            Ok(mut state) => TxnLog::note_loaded(&mut state.txn, || obj.erased()),
            Err(_) => self.loads_unlisted.set(true),
        }
    }

    /// Reload an object now, dropping its unflushed changes and loaded
    /// relationships. Every check and the SELECT come first: on error the
    /// object is as it was.
    pub(crate) fn refresh<M: Model>(&self, obj: &Obj<M>) -> Result<()> {
        let erased = obj.erased();
        erased.check_unborrowed()?;
        let key = identity_for_reload(obj)?;
        match self.fetch_by_key::<M>(&key)? {
            Some(value) => {
                erased.expire();
                obj.set_loaded(value)?;
                self.note_loaded(obj);
                Ok(())
            }
            None => self.row_gone(obj, key),
        }
    }

    /// The row of `obj` no longer exists: it leaves the session.
    fn row_gone<M: Model>(&self, obj: &Obj<M>, key: M::Key) -> Result<()> {
        let erased = obj.erased();
        let mut state = self.state_mut()?;
        erased.detach_identity(&mut state);
        let this: *const () = Rc::as_ptr(&erased) as *const ();
        state
            .modified
            .retain(|o| !std::ptr::eq(Rc::as_ptr(o) as *const (), this));
        drop(state);
        erased.forget_session(Status::Detached);
        Err(Error::NotFound {
            model: M::table().model,
            key: Some(format!("{key:?}")),
        })
    }
}

fn identity_for_reload<M: Model>(obj: &Obj<M>) -> Result<M::Key> {
    obj.identity().ok_or(Error::Detached {
        model: M::table().model,
        action: "reload without a key",
    })
}

/// Push a decoded row, making room for 16 at the first: most results are
/// small, and a list grown from 4 to 8 to 16 rows is copied twice on the
/// way (about a tenth of a tracked read of 10 rows). No row, no allocation.
fn push_row<T>(out: &mut Vec<T>, item: T) {
    if out.capacity() == 0 {
        out.reserve_exact(16);
    }
    out.push(item);
}
