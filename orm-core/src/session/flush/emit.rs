//! Emit, the third step of a flush: runs the planned rows' statements,
//! consecutive rows with the same statement shape sharing one prepared
//! statement (new rows whose key the database generates sharing multi-row
//! INSERTs where the dialect says so), and writes generated keys and
//! foreign key fills into the objects as it goes, each write kept in the
//! undo log the driver replays if the flush fails. Called only by the flush
//! driver, inside the dialect's write `BEGIN` or the flush's savepoint.

use std::borrow::Cow;
use std::rc::Rc;
use std::sync::Arc;

use super::{Fill, Link, Op, Row, Rows, Undo, UndoLog};
use crate::backend::{Conn, GeneratedKeys, RowidMark};
use crate::error::{Error, Result};
use crate::observe::Observer;
use crate::schema::ColumnSet;
use crate::schema::{TableDef, statements};
use crate::session::obj::ErasedObj;
use crate::types::Value;

/// The rows of a multi-row INSERT whose keys come from the last rowid
/// (SQLite): at most [`ROWID_ROWS_MAX`], at least [`ROWID_ROWS_MIN`], a
/// multiple of [`ROWID_ROWS_STEP`]. A run of new rows goes in statements of
/// the largest size, then one of the largest size left that fits; the
/// rest, fewer than the step (or the minimum), one INSERT per row. Fifteen
/// sizes, so a connection prepares a few statements per table rather than
/// one per row count, none slow to prepare (preparing a 1,000-row INSERT
/// took about 0.16 ms, which a new connection's first flush of 1,000 rows
/// paid). Below 16 rows the check each statement needs costs about what
/// it saves (insert/10 in bench-compare: 7.3 µs either way).
const ROWID_ROWS_MAX: usize = 128;
/// See [`ROWID_ROWS_MAX`].
const ROWID_ROWS_MIN: usize = 16;
/// See [`ROWID_ROWS_MAX`].
const ROWID_ROWS_STEP: usize = 8;

/// How many of `left` rows the next multi-row INSERT takes (see
/// [`ROWID_ROWS_MAX`]): `None` when they go one by one.
fn rowid_rows(left: usize) -> Option<usize> {
    let size = left.min(ROWID_ROWS_MAX) / ROWID_ROWS_STEP * ROWID_ROWS_STEP;
    (size >= ROWID_ROWS_MIN).then_some(size)
}

fn params_of(
    obj: &dyn ErasedObj,
    columns: &[usize],
    identity: bool,
    version: Option<VersionCheck>,
) -> Vec<Value> {
    let mut out: Vec<Value> = columns
        .iter()
        .map(|&c| obj.column_value(c).unwrap_or(Value::Null))
        .collect();
    if identity {
        out.extend(obj.identity_values().unwrap_or_default());
    }
    out.extend(version.and_then(|v| v.expected(obj).ok()));
    out
}

/// The version counter a statement checks in its `WHERE`: column, and how
/// far the object's value already is past the row's (1 once an UPDATE
/// bumped it, 0 for a DELETE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct VersionCheck {
    column: usize,
    ahead: i64,
}

impl VersionCheck {
    /// The version the row must have.
    fn expected(self, obj: &dyn ErasedObj) -> Result<Value> {
        match obj.column_value(self.column)? {
            Value::Integer(v) => Ok(Value::Integer(v.wrapping_sub(self.ahead))),
            other => Ok(other),
        }
    }
}

/// Copy referenced values into the foreign key columns of row `row`'s object.
fn apply_fills(
    row: usize,
    obj: &Rc<dyn ErasedObj>,
    fills: &[Fill],
    undo: &mut UndoLog,
) -> Result<()> {
    for fill in fills {
        for (k, &column) in fill.columns().iter().enumerate() {
            let value = match &fill.parent {
                Some(parent) => parent.column_value(fill.parent_columns()[k])?,
                None => Value::Null,
            };
            let t = obj.table();
            if value == Value::Null && !t.columns[column].nullable {
                return Err(not_null(t, column));
            }
            if let Some(old) = obj.replace_column(column, &value)? {
                undo.entries.push(Undo::new(row, column, old));
            }
        }
    }
    Ok(())
}

/// The columns of `t` computed in Rust (a version counter included):
/// whether any is, and those an UPDATE writes (`onupdate = f`, the
/// version counter). Read once per run of rows of a table.
fn computed_columns(t: &TableDef) -> (bool, ColumnSet) {
    let mut update = ColumnSet::empty();
    let mut any = t.version.is_some();
    for (i, c) in t.columns.iter().enumerate() {
        any |= c.insert_default.is_some() || c.update_default.is_some();
        if c.update_default.is_some() {
            update.insert(i);
        }
    }
    if let Some(v) = t.version {
        update.insert(v);
    }
    (any, update)
}

/// A deletion of a row of a `#[orm(soft_delete)]` model sets its
/// soft-delete column to now (an UPDATE, [`Shape::SoftDelete`]): the value
/// goes into the object first, in the undo log.
fn apply_soft_delete(
    row: usize,
    r: &Row,
    obj: &Rc<dyn ErasedObj>,
    undo: &mut UndoLog,
) -> Result<()> {
    let (Op::Delete, Some(sd)) = (&r.op, obj.table().soft_delete) else {
        return Ok(());
    };
    let t = obj.table();
    let value = (sd.stamp)().map_err(|e| Error::Conversion {
        table: t.name.to_owned(),
        column: t.columns[sd.column].name.to_owned(),
        message: e.to_string(),
    })?;
    let old = obj.set_column(sd.column, &value)?;
    undo.entries.push(Undo::new(row, sd.column, old));
    Ok(())
}

/// What makes two entity rows run the same statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Table, and whether SQLite generates the key.
    Insert(usize, bool),
    /// Table, and the columns written.
    Update(usize, u64),
    /// As `Update`, for a `post_update` row: the key is the object's
    /// current one (it may have been inserted by this flush).
    PostUpdate(usize, u64),
    /// Table, and the columns written; the key is the object's own (it has
    /// no identity yet).
    Switch(usize, u64),
    Delete(usize),
    /// Table: `UPDATE ... SET <soft-delete column> = ? WHERE key`.
    SoftDelete(usize),
}

/// The columns a row switch writes: every column but the key.
fn switch_columns(t: &'static TableDef) -> ColumnSet {
    let mut set = ColumnSet::empty();
    for i in (0..t.columns.len()).filter(|i| !t.primary_key.contains(i)) {
        set.insert(i);
    }
    set
}

/// The columns an UPDATE writes: the changed ones, the filled keys, and
/// `computed` (those with an `onupdate` function, the version counter).
fn update_columns(row: &Row, fills: &[Fill], computed: ColumnSet) -> ColumnSet {
    let mut columns = row.columns;
    for f in fills {
        for &c in f.columns() {
            columns.insert(c);
        }
    }
    columns.union(computed)
}

/// Values computed in Rust (`default = f`, `onupdate = f`), written into
/// row `row`'s object before its statement runs, each write in the undo
/// log: at INSERT, into fields still at their type's default; at UPDATE,
/// into columns the change did not set itself.
fn apply_computed(row: usize, r: &Row, obj: &Rc<dyn ErasedObj>, undo: &mut UndoLog) -> Result<()> {
    let t = obj.table();
    let conversion = |column: usize, e: crate::types::ConversionError| Error::Conversion {
        table: t.name.to_owned(),
        column: t.columns[column].name.to_owned(),
        message: e.to_string(),
    };
    if let Some(v) = t.version {
        // A new row starts at 1 (unless given a version); every UPDATE
        // (a soft delete too) writes the next one.
        let next = match (&r.op, obj.column_value(v)?) {
            (Op::Insert | Op::Switch, Value::Integer(0)) => Some(1),
            (Op::Update | Op::PostUpdate, Value::Integer(n)) => Some(next_version(t, v, n)?),
            (Op::Delete, Value::Integer(n)) if t.soft_delete.is_some() => {
                Some(next_version(t, v, n)?)
            }
            _ => None,
        };
        if let Some(next) = next {
            let old = obj.set_column(v, &Value::Integer(next))?;
            undo.entries.push(Undo::new(row, v, old));
        }
    }
    for (column, def) in t.columns.iter().enumerate() {
        let value = match (&r.op, def.insert_default, def.update_default) {
            (Op::Insert | Op::Switch, Some(d), _) => {
                let unset = (d.unset)().map_err(|e| conversion(column, e))?;
                if obj.column_value(column)? != unset {
                    continue;
                }
                (d.value)().map_err(|e| conversion(column, e))?
            }
            (Op::Update | Op::PostUpdate, _, Some(f)) if !r.columns.contains(column) => {
                f().map_err(|e| conversion(column, e))?
            }
            _ => continue,
        };
        let old = obj.set_column(column, &value)?;
        undo.entries.push(Undo::new(row, column, old));
    }
    Ok(())
}

fn next_version(t: &TableDef, column: usize, n: i64) -> Result<i64> {
    n.checked_add(1).ok_or_else(|| Error::Conversion {
        table: t.name.to_owned(),
        column: t.columns[column].name.to_owned(),
        message: "the version counter cannot go past i64::MAX".into(),
    })
}

fn shape_of(
    row: &Row,
    fills: &[Fill],
    obj: &dyn ErasedObj,
    computed: ColumnSet,
) -> Result<Option<Shape>> {
    let t = obj.table() as *const TableDef as usize;
    Ok(match row.op {
        Op::Insert => Some(Shape::Insert(t, obj.needs_generated_key()?)),
        Op::Update => Some(Shape::Update(
            t,
            update_columns(row, fills, computed).bits(),
        )),
        Op::PostUpdate => Some(Shape::PostUpdate(
            t,
            update_columns(row, fills, computed).bits(),
        )),
        Op::Switch => {
            let set = switch_columns(obj.table());
            (!set.is_empty()).then(|| Shape::Switch(t, set.bits()))
        }
        Op::Delete if obj.table().soft_delete.is_some() => Some(Shape::SoftDelete(t)),
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
pub(super) fn emit(
    conn: &mut Conn,
    observer: &Observer,
    rows: &Rows,
    order: &[usize],
    undo: &mut UndoLog,
) -> Result<()> {
    let dialect = conn.dialect();
    // Tables whose generated key was given explicitly: a sequence of the
    // database does not see those keys (see `statements::sync_sequence`).
    let mut explicit_keys: Vec<&'static TableDef> = Vec::new();
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
        let fills = rows.fills(order[k]);
        apply_fills(order[k], obj, fills, undo)?;
        if let Op::Delete = row.op {
            apply_soft_delete(order[k], row, obj, undo)?;
        }
        let (computed, update_computed) = computed_columns(obj.table());
        if computed {
            apply_computed(order[k], row, obj, undo)?;
        }
        let Some(shape) = shape_of(row, fills, &**obj, update_computed)? else {
            k += 1;
            continue;
        };
        if let (Shape::Insert(_, true), true) = (shape, dialect.multi_row_inserts()) {
            k = emit_generated_inserts(conn, observer, rows, order, k, undo)?;
            continue;
        }
        let t = obj.table();
        let (sql, columns, identity, version) = match shape {
            Shape::Insert(_, generated) => (
                SqlText::Static(statements::insert(t, !generated, dialect)),
                statements::insert_columns(t, !generated).collect::<Vec<_>>(),
                false,
                None,
            ),
            Shape::Update(..) | Shape::PostUpdate(..) | Shape::Switch(..) => {
                let switch = matches!(shape, Shape::Switch(..));
                let set = if switch {
                    switch_columns(t)
                } else {
                    update_columns(row, fills, update_computed)
                };
                // A row switch takes over a row whatever its version.
                let version = t
                    .version
                    .filter(|_| !switch)
                    .map(|column| VersionCheck { column, ahead: 1 });
                let key = (t as *const TableDef as usize, set.bits(), version.is_some());
                let sql = Arc::clone(conn.update_sql.entry(key).or_insert_with(|| {
                    statements::update(t, set, version.is_some(), dialect).into()
                }));
                let mut columns: Vec<usize> = set.iter().collect();
                // WHERE key = the object's own key values: a row switch's
                // object has no identity yet, nor has an object a
                // `post_update` row follows the INSERT of.
                let own_key = !matches!(shape, Shape::Update(..));
                if own_key {
                    columns.extend_from_slice(t.primary_key);
                }
                (SqlText::Shared(sql), columns, !own_key, version)
            }
            Shape::Delete(_) => (
                SqlText::Static(statements::delete_by_key(t, dialect)),
                Vec::new(),
                true,
                t.version.map(|column| VersionCheck { column, ahead: 0 }),
            ),
            Shape::SoftDelete(_) => {
                // An UPDATE like any other: the version counter, if any, is
                // checked and moved on with the soft-delete column.
                let mut set = ColumnSet::empty();
                set.insert(t.soft_delete.map_or(0, |sd| sd.column));
                if let Some(v) = t.version {
                    set.insert(v);
                }
                let version = t.version.map(|column| VersionCheck { column, ahead: 1 });
                let key = (t as *const TableDef as usize, set.bits(), version.is_some());
                let sql = Arc::clone(conn.update_sql.entry(key).or_insert_with(|| {
                    statements::update(t, set, version.is_some(), dialect).into()
                }));
                (SqlText::Shared(sql), set.iter().collect(), true, version)
            }
        };
        let sql = sql.as_str();
        let mut stmt = conn.prepare_run(sql).map_err(|e| e.with_table(t))?;
        loop {
            let obj = rows[order[k]].obj.as_ref().unwrap_or(obj);
            if observer.active() {
                observer.observe(sql, &|| params_of(&**obj, &columns, identity, version));
            }
            obj.bind(&mut stmt, 1, &mut columns.iter().copied(), identity)?;
            if let Some(v) = version {
                let bound = columns.len() + if identity { t.primary_key.len() } else { 0 };
                let expected = v.expected(&**obj)?;
                stmt.bind(bound + 1, (&expected).into())?;
            }
            if let Shape::Insert(_, true) = shape {
                // One row at a time (the dialect takes no multi-row
                // INSERTs in the flush): the key from the last rowid.
                let returning = dialect.generated_keys() == GeneratedKeys::Returning;
                let key = stmt
                    .insert_generated(returning)
                    .map_err(|e| e.with_table(t))?;
                let column = t.primary_key[0];
                let old = obj.set_column(column, &Value::Integer(key))?;
                undo.key_generated(order[k], column, old);
            } else {
                let changed = stmt.execute().map_err(|e| e.with_table(t))?;
                if changed == 0 && !matches!(shape, Shape::Insert(..)) {
                    return Err(stale(&**obj));
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
            let next_fills = rows.fills(order[k]);
            apply_fills(order[k], next_obj, next_fills, undo)?;
            if shape_of(next, next_fills, &**next_obj, update_computed)? != Some(shape) {
                break;
            }
            if let Op::Delete = next.op {
                apply_soft_delete(order[k], next, next_obj, undo)?;
            }
            // (Computed values never change a row's statement shape.)
            if computed {
                apply_computed(order[k], next, next_obj, undo)?;
            }
        }
        if shape == Shape::Insert(t as *const TableDef as usize, false)
            && t.auto_increment
            && !explicit_keys.iter().any(|x| std::ptr::eq(*x, t))
        {
            explicit_keys.push(t);
        }
    }
    for t in explicit_keys {
        if let Some((sql, params)) = statements::sync_sequence(t, dialect) {
            conn.execute_values(&sql, &params, observer)
                .map_err(|e| e.with_table(t))?;
        }
    }
    Ok(())
}

/// A run of INSERTs whose key the database generates: rows `order[k..]`
/// of one table, the first with its fills and computed values applied.
/// For a dialect that takes them
/// ([`crate::backend::Dialect::multi_row_inserts`]): multi-row `INSERT ...
/// VALUES (...), (...)` statements, as SQLAlchemy's insertmanyvalues sends
/// them, of up to [`statements::MAX_ROWS`] rows with `RETURNING key`
/// (fewer under the dialect's parameter limit), or of 16 to 128 rows with
/// keys from the last rowid (see [`insert_batch`]); a lone row is the
/// single-row statement. A row whose foreign key comes from an object of
/// the pending batch (a self-referential tree) waits for that batch's keys.
/// Returns the position after the run.
fn emit_generated_inserts(
    conn: &mut Conn,
    observer: &Observer,
    rows: &Rows,
    order: &[usize],
    mut k: usize,
    undo: &mut UndoLog,
) -> Result<usize> {
    let Some(first) = &rows[order[k]].obj else {
        return Ok(k + 1);
    };
    let t = first.table();
    let shape = Shape::Insert(t as *const TableDef as usize, true);
    let (computed, update_computed) = computed_columns(t);
    let columns: Vec<usize> = statements::insert_columns(t, false).collect();
    let mut per = statements::rows_per_statement(columns.len(), conn.dialect().max_params());
    if conn.dialect().generated_keys() != GeneratedKeys::Returning {
        // Batches the size of the largest statement: a long run is all
        // statements of that size.
        per = per.min(ROWID_ROWS_MAX);
    }
    // Sized once: at most a statement's rows, and no more than are left.
    let mut batch: Vec<(usize, &Rc<dyn ErasedObj>)> = Vec::with_capacity(per.min(order.len() - k));
    let mut obj = first;
    loop {
        batch.push((order[k], obj));
        k += 1;
        if batch.len() >= per {
            insert_batch(conn, observer, &batch, &columns, undo)?;
            batch.clear();
        }
        let Some(next) = order.get(k).map(|&i| &rows[i]) else {
            break;
        };
        let Some(next_obj) = &next.obj else { break };
        if !std::ptr::eq(next_obj.table(), t) {
            break;
        }
        let next_fills = rows.fills(order[k]);
        if waits_for(next_fills, t, &batch) {
            insert_batch(conn, observer, &batch, &columns, undo)?;
            batch.clear();
        }
        apply_fills(order[k], next_obj, next_fills, undo)?;
        if shape_of(next, next_fills, &**next_obj, update_computed)? != Some(shape) {
            break;
        }
        if computed {
            apply_computed(order[k], next, next_obj, undo)?;
        }
        obj = next_obj;
    }
    if !batch.is_empty() {
        insert_batch(conn, observer, &batch, &columns, undo)?;
    }
    Ok(k)
}

/// Whether a row with `fills` takes a foreign key from an object of
/// `batch` (whose key is not generated yet). Only an object of the same
/// table can be one.
fn waits_for(fills: &[Fill], t: &'static TableDef, batch: &[(usize, &Rc<dyn ErasedObj>)]) -> bool {
    fills.iter().any(|f| match &f.parent {
        Some(parent) if std::ptr::eq(parent.table(), t) => {
            batch.iter().any(|(_, o)| Rc::ptr_eq(o, parent))
        }
        _ => false,
    })
}

/// INSERT the objects of `batch` (row index, object), writing the keys the
/// database generated into them, each write in the undo log.
fn insert_batch(
    conn: &mut Conn,
    observer: &Observer,
    batch: &[(usize, &Rc<dyn ErasedObj>)],
    columns: &[usize],
    undo: &mut UndoLog,
) -> Result<()> {
    let Some(&(_, first)) = batch.first() else {
        return Ok(());
    };
    let t = first.table();
    if conn.dialect().generated_keys() == GeneratedKeys::Returning {
        if batch.len() == 1 {
            return insert_each(conn, observer, batch, columns, undo);
        }
        return insert_rows(conn, observer, batch, columns, None, undo);
    }
    // Keys from the last rowid: the rows of each statement take
    // consecutive keys, which a check before it makes sure of (no trigger
    // on the table, room below `i64::MAX`); otherwise one statement per row.
    let key = t.columns[t.primary_key[0]].name;
    let id = t as *const TableDef as usize;
    let mut rest = batch;
    while let Some(size) = rowid_rows(rest.len()) {
        let (chunk, tail) = rest.split_at(size);
        let Some(mark) = conn
            .rowid_mark(id, t.name, key, size, observer)
            .map_err(|e| e.with_table(t))?
        else {
            break;
        };
        insert_rows(conn, observer, chunk, columns, Some(mark), undo)?;
        rest = tail;
    }
    insert_each(conn, observer, rest, columns, undo)
}

/// INSERT the objects of `batch` one row per execution of one statement,
/// prepared once, writing each generated key into its object.
fn insert_each(
    conn: &mut Conn,
    observer: &Observer,
    batch: &[(usize, &Rc<dyn ErasedObj>)],
    columns: &[usize],
    undo: &mut UndoLog,
) -> Result<()> {
    let Some(&(_, first)) = batch.first() else {
        return Ok(());
    };
    let t = first.table();
    let returning = conn.dialect().generated_keys() == GeneratedKeys::Returning;
    let sql = statements::insert(t, false, conn.dialect());
    let mut stmt = conn.prepare_run(&sql).map_err(|e| e.with_table(t))?;
    for &(row, obj) in batch {
        if observer.active() {
            observer.observe(&sql, &|| params_of(&**obj, columns, false, None));
        }
        obj.bind(&mut stmt, 1, &mut columns.iter().copied(), false)?;
        let key = stmt
            .insert_generated(returning)
            .map_err(|e| e.with_table(t))?;
        give_key(row, obj, key, undo)?;
    }
    Ok(())
}

/// Write the key the database generated into the object of row `row`,
/// the write in the undo log.
fn give_key(row: usize, obj: &Rc<dyn ErasedObj>, key: i64, undo: &mut UndoLog) -> Result<()> {
    let column = obj.table().primary_key[0];
    let old = obj.set_column(column, &Value::Integer(key))?;
    undo.key_generated(row, column, old);
    Ok(())
}

/// One multi-row INSERT of the objects of `batch`, writing into each the
/// key the database generated for its row: read from the last rowid
/// against `mark` (SQLite) or, without one, from `RETURNING`.
fn insert_rows(
    conn: &mut Conn,
    observer: &Observer,
    batch: &[(usize, &Rc<dyn ErasedObj>)],
    columns: &[usize],
    mark: Option<RowidMark>,
    undo: &mut UndoLog,
) -> Result<()> {
    let keys = multi_row_keys(conn, observer, batch, columns, mark)?;
    for (&(row, obj), key) in batch.iter().zip(keys) {
        give_key(row, obj, key, undo)?;
    }
    Ok(())
}

/// Run [`insert_rows`]' statement; the keys in VALUES order.
fn multi_row_keys(
    conn: &mut Conn,
    observer: &Observer,
    batch: &[(usize, &Rc<dyn ErasedObj>)],
    columns: &[usize],
    mark: Option<RowidMark>,
) -> Result<Vec<i64>> {
    let n = batch.len();
    let Some(&(_, first)) = batch.first() else {
        return Ok(Vec::new());
    };
    let t = first.table();
    let dialect = conn.dialect();
    let sql = statements::insert_many_sql(conn, t, columns, false, n, mark.is_none())?;
    if observer.active() {
        observer.observe(&sql, &|| {
            batch
                .iter()
                .flat_map(|(_, o)| params_of(&***o, columns, false, None))
                .collect()
        });
    }
    let mut stmt = conn.prepare_run(&sql).map_err(|e| e.with_table(t))?;
    for (i, (_, obj)) in batch.iter().enumerate() {
        obj.bind(
            &mut stmt,
            1 + i * columns.len(),
            &mut columns.iter().copied(),
            false,
        )?;
    }
    if let Some(mark) = mark {
        stmt.execute().map_err(|e| e.with_table(t))?;
        drop(stmt);
        // Checked again after the fact: a mismatch (rows changed by
        // something the check could not see) fails the flush rather than
        // giving objects another row's key.
        return match conn.rowid_keys(mark, n) {
            Some(keys) => Ok(keys.collect()),
            None => Err(Error::Usage(format!(
                "the keys of a {n}-row INSERT into {} could not be read from the last rowid: other rows changed with it",
                t.model
            ))),
        };
    }
    statements::returned_keys(&mut stmt, n, dialect)
        .map_err(|e| e.with_table(t))?
        .ok_or_else(|| {
            Error::Usage(format!(
                "a multi-row INSERT of {n} rows into {} returned keys that cannot be matched to its rows in order",
                t.model
            ))
        })
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
        key: obj.key_debug(),
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
