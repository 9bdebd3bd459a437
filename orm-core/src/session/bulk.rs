//! Statements of many rows at once, outside the unit of work: bulk INSERT
//! (multi-row `INSERT ... VALUES (...), (...) RETURNING key`, SQLAlchemy's
//! "insertmanyvalues"), bulk UPDATE by key, and upsert (`INSERT ... ON
//! CONFLICT ... DO UPDATE ... RETURNING`). Each runs in the session's write
//! transaction under a savepoint (or in the transaction it opens), so a
//! failure changes nothing: neither rows nor objects. Objects enter or are
//! refreshed in the identity map only after every statement succeeded.
//!
//! Keys of a multi-row INSERT are matched to its rows in VALUES order;
//! what that relies on is in `statements::keys_in_values_order` (the
//! flush's multi-row INSERTs rely on the same).

use std::rc::Rc;

use rustc_hash::{FxHashMap, FxHashSet};

use super::Session;
use super::key::{Key, key_of};
use super::obj::{ErasedObj, Obj, Status};
use super::state::SessionInner;
use crate::backend::{Conn, Row, UpsertReport};
use crate::error::{Error, Result};
use crate::model::{Model, PrimaryKey};
use crate::query::Assignment;
use crate::schema::{TableDef, statements};
use crate::sql::ast::{BinOp, Expr, Statement, Update, Upsert};
use crate::sql::writer;
use crate::types::{Value, ValueRef};

/// The savepoint a bulk statement runs under inside an open transaction.
const SAVEPOINT: &str = "orm_bulk";

/// The result of one row of [`Session::upsert`].
///
/// # Examples
///
/// ```
/// use orm::prelude::*;
/// #[derive(Model, Debug, Default)]
/// struct Tag { #[orm(primary_key)] id: i64, #[orm(unique)] name: String }
///
/// # fn main() -> orm::Result<()> {
/// let db = Database::builder().model::<Tag>().open("sqlite://")?;
/// db.create_all()?;
/// let s = db.session();
/// let first = s.upsert([Tag { name: "rust".into(), ..Default::default() }]).on_conflict(Tag::name).run()?;
/// assert!(first[0].inserted);
/// let again = s.upsert([Tag { name: "rust".into(), ..Default::default() }]).on_conflict(Tag::name).run()?;
/// assert!(!again[0].inserted);
/// assert!(again[0].obj == first[0].obj); // the same object, not a copy
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct Upserted<M: Model> {
    /// The row's object, in the session's identity map.
    pub obj: Obj<M>,
    /// True when the row was inserted, false when an existing row was
    /// updated.
    pub inserted: bool,
}

impl<M: Model> Clone for Upserted<M> {
    fn clone(&self) -> Self {
        Upserted {
            obj: self.obj.clone(),
            inserted: self.inserted,
        }
    }
}

impl SessionInner {
    /// Run `f` in the session's write transaction under a savepoint, or in
    /// a write transaction it opens: on error everything `f` did is rolled
    /// back (and a transaction it opened is ended), as a failed flush is.
    fn write_atomically<R>(&self, f: impl FnOnce(&mut Conn) -> Result<R>) -> Result<R> {
        self.check_writable()?;
        let in_txn = self.state_mut()?.txn.is_some();
        let observer = self.observer();
        let isolation = self.isolation.get();
        let (result, autocommit) = self.with_conn(|conn| {
            if in_txn {
                conn.savepoint(SAVEPOINT, observer)?;
            } else {
                conn.begin_write(isolation, observer)?;
            }
            let mut result = f(conn);
            if result.is_ok()
                && in_txn
                && let Err(e) = conn.release(SAVEPOINT, observer)
            {
                result = Err(e);
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
            Ok(r) => {
                let mut state = self.state_mut()?;
                if state.txn.is_none() {
                    state.open_txn_log();
                }
                if let Some(txn) = &mut state.txn {
                    txn.untracked = true;
                }
                Ok(r)
            }
            Err(e) => {
                if in_txn && autocommit {
                    // The database rolled back the whole transaction: put
                    // the earlier flushes' objects back, as a flush does.
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

/// What the flush does to a new row before its INSERT: run the field
/// validators, start a version counter at 1, fill `#[orm(default = f)]`
/// columns still at their type's default.
fn apply_insert_defaults<M: Model>(value: &mut M) -> Result<()> {
    let t = M::table();
    value.__validate(None)?;
    if let Some(v) = t.version {
        // A new row's counter starts at 1, as in the flush.
        if value.__column_value(v)?.as_ref() == ValueRef::Integer(0) {
            value.__set_column(v, ValueRef::Integer(1))?;
        }
    }
    for (column, def) in t.columns.iter().enumerate() {
        let Some(d) = def.insert_default else {
            continue;
        };
        let conversion = |e: crate::types::ConversionError| Error::Conversion {
            table: t.name.to_owned(),
            column: def.name.to_owned(),
            message: e.to_string(),
        };
        let unset = (d.unset)().map_err(conversion)?;
        let current = value.__column_value(column)?.into_owned();
        if current == unset {
            let v = (d.value)().map_err(conversion)?;
            value.__set_column(column, (&v).into())?;
        }
    }
    Ok(())
}

/// Whether the database generates the key of this new row.
fn generated<M: Model>(value: &M) -> Result<bool> {
    let t = M::table();
    if !t.auto_increment {
        return Ok(false);
    }
    Ok(value.__column_value(t.primary_key[0])?.as_ref() == ValueRef::Integer(0))
}

/// Consecutive runs of `values` with the same `generated` answer: (start,
/// end, generated).
fn runs<M: Model>(values: &[M]) -> Result<Vec<(usize, usize, bool)>> {
    let mut out: Vec<(usize, usize, bool)> = Vec::new();
    for (i, v) in values.iter().enumerate() {
        let g = generated(v)?;
        match out.last_mut() {
            Some(last) if last.2 == g => last.1 = i + 1,
            _ => out.push((i, i + 1, g)),
        }
    }
    Ok(out)
}

/// Bind `values`' `columns`, row after row, from parameter 1.
fn bind_rows<M: Model>(
    stmt: &mut crate::backend::Stmt<'_>,
    values: &[M],
    columns: &[usize],
) -> Result<()> {
    let mut index = 1;
    for v in values {
        for &c in columns {
            let out = v.__column_value(c)?;
            stmt.bind(index, out.as_ref())?;
            index += 1;
        }
    }
    Ok(())
}

fn owned_params<M: Model>(values: &[M], columns: &[usize]) -> Vec<Value> {
    values
        .iter()
        .flat_map(|v| {
            columns
                .iter()
                .map(|&c| v.__column_value(c).map_or(Value::Null, |o| o.into_owned()))
        })
        .collect()
}

/// Insert `values` with as few statements as the dialect's parameter limit
/// allows, writing generated keys into them.
fn insert_values<M: Model>(
    conn: &mut Conn,
    session: &SessionInner,
    values: &mut [M],
) -> Result<()> {
    let t = M::table();
    let dialect = conn.dialect();
    let observer = session.observer();
    let runs = runs(values)?;
    let explicit = runs.iter().any(|r| !r.2);
    for (start, end, gen_key) in runs {
        let columns: Vec<usize> = statements::insert_columns(t, !gen_key).collect();
        let per = statements::rows_per_statement(columns.len(), dialect.max_params());
        let mut at = start;
        while at < end {
            let n = per.min(end - at);
            let chunk = &mut values[at..at + n];
            let sql = statements::insert_many_sql(conn, t, &columns, !gen_key, n, gen_key)?;
            let mut stmt = conn
                .prepare(&sql, observer, &|| owned_params(chunk, &columns))
                .map_err(|e| e.with_table(t))?;
            bind_rows(&mut stmt, chunk, &columns)?;
            if gen_key {
                let keys = statements::returned_keys(&mut stmt, n, dialect)
                    .map_err(|e| e.with_table(t))?
                    .ok_or_else(|| {
                        Error::Usage(format!(
                            "a bulk insert of {n} rows into {} got keys that cannot be matched to its rows in insertion order; nothing was inserted (use add_all and commit)",
                            t.model
                        ))
                    })?;
                let pk = t.primary_key[0];
                for (v, k) in chunk.iter_mut().zip(keys) {
                    v.__set_column(pk, ValueRef::Integer(k))?;
                }
            } else {
                stmt.execute().map_err(|e| e.with_table(t))?;
            }
            at += n;
        }
    }
    sync_sequence(conn, session, t, explicit)
}

/// Rows with explicit keys went into a table whose key the database
/// generates: move its sequence past them, as the flush does.
fn sync_sequence(
    conn: &mut Conn,
    session: &SessionInner,
    t: &'static TableDef,
    explicit: bool,
) -> Result<()> {
    if !t.auto_increment || !explicit {
        return Ok(());
    }
    if let Some((sql, params)) = statements::sync_sequence(t, conn.dialect()) {
        conn.execute_values(&sql, &params, session.observer())
            .map_err(|e| e.with_table(t))?;
    }
    Ok(())
}

impl Session {
    /// Insert many new rows with as few statements as is safe, and return
    /// them as objects of the session (SQLAlchemy 2.0's ORM bulk INSERT,
    /// `session.execute(insert(User).returning(User), [...])`, or
    /// `bulk_save_objects(..., return_defaults=True)`).
    ///
    /// The rows go in multi-row `INSERT ... VALUES (...), (...)` statements
    /// of up to 1,000 rows, fewer when the database's parameter limit
    /// ([`Dialect::max_params`](crate::backend::Dialect::max_params))
    /// needs it; generated keys come back with `RETURNING` and are written
    /// into the objects in order (see the module notes in
    /// `session/bulk.rs` for what that relies on). It runs at once, in
    /// the session's write transaction (commit to keep it), after an
    /// autoflush.
    ///
    /// Effects on the session: the returned objects are persistent and in
    /// the identity map, as if added and flushed; a rollback discards them
    /// as it discards flushed inserts. Unlike [`add_all`](Self::add_all),
    /// nothing cascades: relationships assigned in memory are not written
    /// (give foreign keys as values); `#[orm(validate = f)]` validators run,
    /// version counters start at 1 and `#[orm(default = f)]` values are
    /// filled in as at a flush, but model hooks ([`crate::Hooks`]) do not
    /// run, as SQLAlchemy's bulk operations skip mapper events. On any
    /// error nothing is inserted and no object changes.
    ///
    /// Every statement that writes rows without loading them
    /// ([`bulk_update`](Self::bulk_update), [`upsert`](Self::upsert),
    /// [`Query::update`](crate::Query::update), a soft
    /// [`Query::delete`](crate::Query::delete)) moves a version counter on
    /// (`"version" = "t"."version" + 1`), so a session holding an older
    /// version gets [`Error::StaleData`] instead of overwriting the row.
    ///
    /// # Errors
    ///
    /// A constraint violation (nothing inserted); [`Error::Validation`];
    /// database and conversion errors; [`Error::Usage`] when the database
    /// gave keys out of order (see above).
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64, name: String }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<User>().open("sqlite://")?;
    /// db.create_all()?;
    /// let s = db.session();
    /// let rec = db.record();
    /// let users = s.bulk_insert((0..3).map(|i| User { name: format!("user {i}"), ..Default::default() }))?;
    /// s.commit()?;
    /// assert_eq!(users[2].get(User::id)?, 3);
    /// assert_eq!(
    ///     rec.sql()[1],
    ///     r#"INSERT INTO "user" ("name") VALUES (?), (?), (?) RETURNING "id""#
    /// );
    /// assert!(s.get::<User>(3)? == Some(users[2].clone())); // in the identity map
    /// # Ok(()) }
    /// ```
    pub fn bulk_insert<M: Model>(
        &self,
        values: impl IntoIterator<Item = M>,
    ) -> Result<Vec<Obj<M>>> {
        let values = self.insert_many(values.into_iter().collect())?;
        let inner = &self.inner;
        let mut state = inner.state_mut()?;
        let mut out = Vec::with_capacity(values.len());
        state.maps.of::<M>().reserve(values.len());
        if let Some(txn) = state.txn.as_mut() {
            txn.inserted.reserve(values.len());
        }
        for (value, was_generated) in values {
            let key = value.key();
            let obj = Obj::with_status(
                value,
                Status::Persistent,
                inner.weak_self.clone(),
                Some(key.clone()),
            );
            if let Some(old) = state.maps.of::<M>().insert(&key, obj.clone()) {
                // A stale object of a row gone from the database: its key
                // now names the new row.
                let old = old.erased();
                if old.status() == Status::Persistent {
                    old.set_status(Status::Detached);
                }
            }
            if let Some(txn) = state.txn.as_mut() {
                let index = txn.inserted.len();
                txn.inserted.push(obj.erased());
                if was_generated {
                    txn.generated.push(index);
                }
            }
            out.push(obj);
        }
        Ok(out)
    }

    /// [`bulk_insert`](Self::bulk_insert) without objects: the values come
    /// back with their generated keys, and the session does not track them
    /// (SQLAlchemy's `bulk_insert_mappings`). The fastest way to load many
    /// rows.
    ///
    /// # Errors
    ///
    /// As [`bulk_insert`](Self::bulk_insert).
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default, PartialEq)]
    /// struct User { #[orm(primary_key)] id: i64, name: String }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<User>().open("sqlite://")?;
    /// db.create_all()?;
    /// let s = db.session();
    /// let users = s.bulk_insert_detached(vec![User { name: "ann".into(), ..Default::default() }])?;
    /// s.commit()?;
    /// assert_eq!(users, [User { id: 1, name: "ann".into() }]);
    /// # Ok(()) }
    /// ```
    pub fn bulk_insert_detached<M: Model>(
        &self,
        values: impl IntoIterator<Item = M>,
    ) -> Result<Vec<M>> {
        Ok(self
            .insert_many(values.into_iter().collect())?
            .into_iter()
            .map(|(v, _)| v)
            .collect())
    }

    /// The rows of a bulk insert, each with whether its key was generated.
    fn insert_many<M: Model>(&self, mut values: Vec<M>) -> Result<Vec<(M, bool)>> {
        if values.is_empty() {
            return Ok(Vec::new());
        }
        let inner = &self.inner;
        inner.autoflush()?;
        for v in &mut values {
            apply_insert_defaults(v)?;
        }
        let was_generated: Vec<bool> = values.iter().map(generated).collect::<Result<_>>()?;
        // Checked before any SQL: the objects are made after it.
        drop(inner.state_mut()?);
        inner.write_atomically(|conn| insert_values(conn, inner, &mut values))?;
        Ok(values.into_iter().zip(was_generated).collect())
    }

    /// Update many rows by primary key, each with its own values
    /// (SQLAlchemy 2.0's ORM bulk UPDATE by primary key,
    /// `session.execute(update(User), [{"id": 1, "name": ...}, ...])`):
    /// `UPDATE ... SET ... WHERE key = ?` per row, one prepared statement
    /// for each distinct set of columns, all in the session's write
    /// transaction (commit to keep it), after an autoflush. Returns how
    /// many rows changed; a key that matches no row changes nothing and is
    /// not an error.
    ///
    /// Effects on the session: objects of `M` with those keys are expired,
    /// so their next access reads the new values (as after
    /// [`Query::update`](crate::Query::update)). On any error no row and
    /// no object changes.
    ///
    /// # Errors
    ///
    /// [`Error::Usage`] for a row with no assignment; constraint, database
    /// and conversion errors (nothing updated).
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64, name: String, score: i64 }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<User>().open("sqlite://")?;
    /// db.create_all()?;
    /// let s = db.session();
    /// let users = s.bulk_insert((0..3).map(|_| User::default()))?;
    /// let n = s.bulk_update::<User>([
    ///     (1, vec![User::name.set("ann"), User::score.set(10)]),
    ///     (2, vec![User::name.set("bob"), User::score.set(20)]),
    ///     (9, vec![User::name.set("nobody")]),
    /// ])?;
    /// s.commit()?;
    /// assert_eq!(n, 2);
    /// assert_eq!(users[1].get(User::name)?, "bob"); // expired, then reloaded
    /// # Ok(()) }
    /// ```
    pub fn bulk_update<M: Model>(
        &self,
        rows: impl IntoIterator<Item = (impl Into<M::Key>, Vec<Assignment<M>>)>,
    ) -> Result<usize> {
        let t = M::table();
        let rows: Vec<(M::Key, Vec<Assignment<M>>)> =
            rows.into_iter().map(|(k, a)| (k.into(), a)).collect();
        if rows.is_empty() {
            return Ok(0);
        }
        if rows.iter().any(|(_, a)| a.is_empty()) {
            return Err(Error::Usage(format!(
                "a bulk update of {} needs at least one assignment per row",
                t.model
            )));
        }
        let inner = &self.inner;
        inner.autoflush()?;
        drop(inner.state_mut()?);
        let changed = inner.write_atomically(|conn| {
            let mut changed = 0;
            for (key, assignments) in &rows {
                let conds = t
                    .primary_key_columns()
                    .zip(key.to_values())
                    .map(|(c, v)| {
                        Expr::binary(BinOp::Eq, Expr::column(t.name, c.name), Expr::Value(v))
                    })
                    .collect();
                let mut set: Vec<_> = assignments
                    .iter()
                    .map(|a| (a.column.into(), a.value.clone()))
                    .collect();
                statements::bump_version(t, &mut set);
                let stmt = Statement::Update(Update {
                    table: t.name.into(),
                    set,
                    filter: Expr::and_all(conds),
                    returning: Vec::new(),
                });
                let w = writer::write(&stmt, conn.dialect())?;
                changed += conn
                    .execute_values(&w.sql, &w.params, inner.observer())
                    .map_err(|e| e.with_table(t))?;
            }
            Ok(changed)
        })?;
        let mut state = inner.state_mut()?;
        if let Some(map) = state.maps.get::<M>() {
            for (key, _) in &rows {
                if let Some(obj) = map.get(key) {
                    obj.erased().expire();
                }
            }
        }
        Ok(changed)
    }

    /// Insert rows, or update the rows they collide with on a unique key
    /// (SQLAlchemy's `insert(...).on_conflict_do_update(...)` for SQLite
    /// and PostgreSQL): the builder says which unique columns decide
    /// ([`on_conflict`](crate::query::Upsert::on_conflict); the primary
    /// key by default) and which columns an existing row takes from the
    /// new one ([`update`](crate::query::Upsert::update); by default every
    /// other column), and [`run`](crate::query::Upsert::run) reports for
    /// each row whether it was inserted or updated.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct Stock { #[orm(primary_key)] id: i64, #[orm(unique)] sku: String, count: i64 }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<Stock>().open("sqlite://")?;
    /// db.create_all()?;
    /// let s = db.session();
    /// let rec = db.record();
    /// let row = |sku: &str, count| Stock { sku: sku.into(), count, ..Default::default() };
    /// s.upsert([row("a", 1)]).on_conflict(Stock::sku).run()?;
    /// let done = s.upsert([row("a", 5), row("b", 2)]).on_conflict(Stock::sku).run()?;
    /// assert_eq!(done.iter().map(|u| u.inserted).collect::<Vec<_>>(), [false, true]);
    /// assert_eq!(done[0].obj.get(Stock::count)?, 5);
    /// assert!(rec.sql().contains(&r#"INSERT INTO "stock" ("sku", "count") VALUES (?, ?), (?, ?) ON CONFLICT ("sku") DO UPDATE SET "count" = excluded."count" RETURNING "id", "sku", "count""#.to_string()));
    /// # Ok(()) }
    /// ```
    pub fn upsert<M: Model>(
        &self,
        values: impl IntoIterator<Item = M>,
    ) -> crate::query::Upsert<'_, M> {
        crate::query::Upsert::new(self, values.into_iter().collect())
    }
}

/// Whether `columns` (indices, any order) are the primary key, a unique
/// column or the columns of a unique index of `t`.
fn is_unique(t: &TableDef, columns: &[usize]) -> bool {
    let mut want: Vec<usize> = columns.to_vec();
    want.sort_unstable();
    want.dedup();
    let same = |cols: &[usize]| {
        let mut c = cols.to_vec();
        c.sort_unstable();
        c == want
    };
    same(t.primary_key)
        || (want.len() == 1 && t.columns[want[0]].unique)
        || t.indexes.iter().any(|ix| ix.unique && same(ix.columns))
}

/// `target` columns equal to any of `keys` (each `target.len()` values).
fn any_of(t: &TableDef, target: &[usize], keys: &[Value]) -> Expr {
    if let [c] = target {
        return Expr::InList {
            expr: Box::new(Expr::column(t.name, t.columns[*c].name)),
            list: keys.to_vec(),
            negated: false,
        };
    }
    let ors = keys
        .chunks(target.len())
        .map(|k| {
            Expr::and_all(
                target
                    .iter()
                    .zip(k)
                    .map(|(&c, v)| {
                        Expr::binary(
                            BinOp::Eq,
                            Expr::column(t.name, t.columns[c].name),
                            Expr::Value(v.clone()),
                        )
                    })
                    .collect(),
            )
            .unwrap_or(Expr::Bool(false))
        })
        .collect();
    Expr::or_all(ors).unwrap_or(Expr::Bool(false))
}

/// Run an upsert of `values` (the checks of [`crate::query::Upsert::run`]
/// done): the objects, in input order, each with whether it was inserted.
pub(crate) fn run_upsert<M: Model>(
    session: &Session,
    mut values: Vec<M>,
    target: Vec<usize>,
    set: Vec<usize>,
) -> Result<Vec<Upserted<M>>> {
    let t = M::table();
    if values.is_empty() {
        return Ok(Vec::new());
    }
    if !is_unique(t, &target) {
        let names: Vec<&str> = target.iter().map(|&c| t.columns[c].name).collect();
        return Err(Error::Usage(format!(
            "an upsert of {} matches rows on ({}), which is not its primary key or a unique constraint",
            t.model,
            names.join(", ")
        )));
    }
    if target.contains(&t.primary_key[0])
        && t.auto_increment
        && values.iter().any(|v| generated(v).unwrap_or(false))
    {
        return Err(Error::Usage(format!(
            "an upsert of {} on its key needs the key of every row (0 is a key the database would generate)",
            t.model
        )));
    }
    for v in &mut values {
        apply_insert_defaults(v)?;
    }
    // The unique values of each row: no two rows may collide with each
    // other (PostgreSQL refuses a statement updating a row twice).
    let target_of = |v: &M| -> Result<Vec<Value>> {
        target
            .iter()
            .map(|&c| Ok(v.__column_value(c)?.into_owned()))
            .collect()
    };
    let mut position: FxHashMap<Key, usize> = FxHashMap::default();
    for (i, v) in values.iter().enumerate() {
        let k = key_of(&target_of(v)?);
        if position.insert(k, i).is_some() {
            return Err(Error::Usage(format!(
                "two rows of an upsert of {} have the same unique values; give each row once",
                t.model
            )));
        }
    }
    let inner = &session.inner;
    inner.autoflush()?;
    drop(inner.state_mut()?);
    let width = t.columns.len();
    let report = inner.dialect().upsert_report();
    // (input index, the row as stored, inserted), then the objects.
    let found = inner.write_atomically(|conn| {
        let dialect = conn.dialect();
        let observer = inner.observer();
        let mut existing: FxHashSet<Key> = FxHashSet::default();
        if report == UpsertReport::ExistingKeys {
            let keys: Vec<Value> = values
                .iter()
                .map(target_of)
                .collect::<Result<Vec<_>>>()?
                .into_iter()
                .flatten()
                .collect();
            let per =
                statements::rows_per_statement(target.len(), dialect.max_params()) * target.len();
            for chunk in keys.chunks(per) {
                let mut s = crate::sql::ast::Select::new(crate::sql::ast::TableRef::new(t.name));
                s.columns = target
                    .iter()
                    .map(|&c| Expr::column(t.name, t.columns[c].name))
                    .collect();
                s.filter = Some(any_of(t, &target, chunk));
                let w = writer::write(&Statement::Select(s), dialect)?;
                let mut stmt = conn.prepare_bound(&w.sql, &w.params, observer)?;
                stmt.query(|row| {
                    let vals: Vec<Value> = (0..target.len())
                        .map(|i| row.get(i).map(ValueRef::to_owned))
                        .collect::<Result<_>>()?;
                    existing.insert(key_of(&vals));
                    Ok(())
                })
                .map_err(|e| e.with_table(t))?;
            }
        }
        let mut found: Vec<(usize, M, bool)> = Vec::with_capacity(values.len());
        let columns_names: Vec<String> = t.columns.iter().map(|c| c.name.to_owned()).collect();
        for (start, end, gen_key) in runs(&values)? {
            let columns: Vec<usize> = statements::insert_columns(t, !gen_key).collect();
            let per = statements::rows_per_statement(columns.len(), dialect.max_params());
            let mut at = start;
            while at < end {
                let n = per.min(end - at);
                let chunk = &values[at..at + n];
                let mut insert = statements::insert_many(t, &columns, n, false);
                insert.returning = t.columns.iter().map(|c| c.name.into()).collect();
                let mut update: Vec<(crate::sql::ast::Ident, Expr)> = set
                    .iter()
                    .map(|&c| {
                        (
                            t.columns[c].name.into(),
                            Expr::Excluded(t.columns[c].name.into()),
                        )
                    })
                    .collect();
                if update.is_empty() {
                    // Nothing to change: a no-op update still returns the row.
                    let c = t.columns[target[0]].name;
                    update.push((c.into(), Expr::Excluded(c.into())));
                } else if let Some(v) = t.version {
                    // The proposed row's counter (1) is not the existing
                    // row's next one.
                    update.retain(|(c, _)| c != t.columns[v].name);
                    statements::bump_version(t, &mut update);
                }
                let stmt = Statement::Upsert(Upsert {
                    insert,
                    target: target.iter().map(|&c| t.columns[c].name.into()).collect(),
                    set: update,
                    report_inserted: report == UpsertReport::Xmax,
                });
                let sql = writer::write(&stmt, dialect)?.sql;
                let mut st = conn
                    .prepare(&sql, observer, &|| owned_params(chunk, &columns))
                    .map_err(|e| e.with_table(t))?;
                bind_rows(&mut st, chunk, &columns)?;
                let mut rows: Vec<(Vec<Value>, Option<bool>)> = Vec::with_capacity(n);
                st.query(|row| {
                    let vals: Vec<Value> = (0..width)
                        .map(|i| row.get(i).map(ValueRef::to_owned))
                        .collect::<Result<_>>()?;
                    let flag = match report {
                        UpsertReport::Xmax => Some(matches!(row.get(width)?, ValueRef::Integer(1))),
                        UpsertReport::ExistingKeys => None,
                    };
                    rows.push((vals, flag));
                    Ok(())
                })
                .map_err(|e| e.with_table(t))?;
                for (vals, flag) in rows {
                    let row = Row::from_values(&vals, &columns_names);
                    let value = M::__from_row(&row, 0)?;
                    let k = key_of(&target_of(&value)?);
                    let Some(&i) = position.get(&k) else {
                        return Err(Error::Usage(format!(
                            "an upsert of {} returned a row that matches none of its rows",
                            t.model
                        )));
                    };
                    let inserted = flag.unwrap_or_else(|| !existing.contains(&k));
                    found.push((i, value, inserted));
                }
                at += n;
            }
        }
        let explicit = values.iter().any(|v| !generated(v).unwrap_or(true));
        sync_sequence(conn, inner, t, explicit)?;
        if found.len() != values.len() {
            return Err(Error::Usage(format!(
                "an upsert of {} returned {} rows for {}",
                t.model,
                found.len(),
                values.len()
            )));
        }
        found.sort_by_key(|f| f.0);
        // Objects the rows update must be free to take the new values;
        // checked here, so a failure rolls the statements back.
        let mut state = inner.state_mut()?;
        if let Some(map) = state.maps.get::<M>() {
            for (_, value, _) in &found {
                if let Some(obj) = map.get(&value.key()) {
                    obj.erased().check_unborrowed()?;
                }
            }
        }
        Ok(found)
    })?;
    let was_generated: Vec<bool> = values.iter().map(generated).collect::<Result<_>>()?;
    let mut state = inner.state_mut()?;
    let mut out = Vec::with_capacity(found.len());
    for (i, value, inserted) in found {
        let key = value.key();
        let existing = state.maps.of::<M>().get(&key).cloned();
        let obj = match existing {
            Some(obj) => {
                if obj.set_loaded(value).is_err() {
                    obj.erased().expire();
                }
                obj
            }
            None => {
                let obj = Obj::with_status(
                    value,
                    Status::Persistent,
                    inner.weak_self.clone(),
                    Some(key.clone()),
                );
                state.maps.of::<M>().insert(&key, obj.clone());
                obj
            }
        };
        if let Some(txn) = state.txn.as_mut() {
            let erased: Rc<dyn ErasedObj> = obj.erased();
            if inserted {
                let index = txn.inserted.len();
                txn.inserted.push(erased);
                if was_generated[i] {
                    txn.generated.push(index);
                }
            } else {
                // No snapshot: rolled back, it is expired and reloads what
                // is committed (an earlier entry's snapshot, if any, wins).
                txn.note_updated(erased, None);
            }
        }
        out.push(Upserted { obj, inserted });
    }
    Ok(out)
}
