//! The SQLite backend, on rusqlite: opening and configuring connections
//! (pragmas, WAL, busy timeout, the shared in-memory database), binding
//! and reading values without copies, classifying SQLite's errors, and
//! telling when the database file was moved away under an open database.
//!
//! The only place, with [`Session::with_connection`](crate::Session::with_connection)
//! and the `rusqlite` re-export, where orm names rusqlite.

mod error;

use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

use rusqlite::OpenFlags;
use rusqlite::config::DbConfig;

use super::{CommitOutcome, Row};
use crate::error::{Error, Result};
use crate::types::ValueRef;

/// How the database file journals writes.
///
/// # Examples
///
/// ```
/// use orm::prelude::*;
/// use orm::JournalMode;
///
/// # fn main() -> orm::Result<()> {
/// let dir = tempfile::tempdir().unwrap();
/// let url = format!("sqlite:///{}", dir.path().join("j.db").display());
/// let db = Database::builder().journal_mode(JournalMode::Delete).open(&url)?;
/// assert_eq!(db.journal_mode(), JournalMode::Delete);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum JournalMode {
    /// Write-ahead log (what orm gives the files it creates): readers never
    /// block the writer and the writer never blocks readers.
    Wal,
    /// Rollback journal (SQLite's own default).
    Delete,
    /// Another rollback-journal mode (`TRUNCATE`, `PERSIST`, `MEMORY`,
    /// `OFF`), kept as another program set it; or an in-memory database.
    Other,
}

impl JournalMode {
    fn from_pragma(mode: &str) -> JournalMode {
        match mode.to_ascii_lowercase().as_str() {
            "wal" => JournalMode::Wal,
            "delete" => JournalMode::Delete,
            _ => JournalMode::Other,
        }
    }
}

/// How hard SQLite pushes each commit to disk.
///
/// # Examples
///
/// ```
/// use orm::prelude::*;
/// use orm::Synchronous;
///
/// # fn main() -> orm::Result<()> {
/// let db = Database::builder().synchronous(Synchronous::Normal).open("sqlite://")?;
/// # let _ = db;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Synchronous {
    /// Sync at every commit: a committed transaction survives a power loss.
    /// The default.
    Full,
    /// In WAL mode, sync at checkpoints only: commits survive a crash of the
    /// program but the last ones may be lost on power loss. Faster.
    Normal,
}

/// Per-connection settings, applied to every new connection.
#[derive(Debug, Clone)]
pub(crate) struct ConnSettings {
    pub busy_timeout: Duration,
    /// `None`: WAL for a new (empty) file, the file's own mode otherwise.
    pub journal_mode: Option<JournalMode>,
    pub synchronous: Synchronous,
}

/// Where SQLite connections go.
#[derive(Debug, Clone)]
pub(crate) enum Location {
    File(PathBuf),
    /// A named in-memory database shared by the pool's connections (SQLite's
    /// `memdb` VFS); it lives while at least one connection is open.
    Memory(String),
}

/// What a pooled SQLite connection opens, and how it is set up.
#[derive(Debug, Clone)]
pub(crate) struct SqliteTarget {
    pub location: Location,
    pub settings: ConnSettings,
}

/// The file a database path named when the [`Database`](crate::Database)
/// opened it. SQLite goes on writing to a file that was deleted or replaced
/// under an open connection, and reports every commit as a success: the
/// session compares this identity before each COMMIT instead.
#[derive(Debug, Clone)]
pub(crate) struct FileIdentity {
    path: PathBuf,
    id: Option<(u64, u64)>,
}

impl FileIdentity {
    /// The identity of the file at `path` now (it exists: a connection to it
    /// was just opened).
    pub fn of(path: &std::path::Path) -> FileIdentity {
        // Absolute, so a later change of the working directory is not
        // mistaken for a moved file.
        let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
        let id = std::fs::metadata(&path).ok().and_then(|m| file_id(&m));
        FileIdentity { path, id }
    }

    /// Fail with [`Error::DatabaseMoved`] when the path no longer names the
    /// same file.
    pub fn check(&self) -> Result<()> {
        let same = match std::fs::metadata(&self.path) {
            Ok(m) => self.id.is_none() || file_id(&m) == self.id,
            Err(_) => false,
        };
        if same { Ok(()) } else { Err(self.moved()) }
    }

    /// The error for this file having moved.
    pub fn moved(&self) -> Error {
        Error::DatabaseMoved {
            path: self.path.display().to_string(),
        }
    }

    /// SQLite's own report that the file was replaced under a connection
    /// (it refuses to write) as [`Error::DatabaseMoved`].
    #[cold]
    pub fn refine(&self, e: Error) -> Error {
        match e.sqlite_code() {
            Some(rusqlite::ffi::SQLITE_READONLY_DBMOVED) => self.moved(),
            _ => e,
        }
    }
}

#[cfg(unix)]
fn file_id(m: &std::fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn file_id(_: &std::fs::Metadata) -> Option<(u64, u64)> {
    None
}

/// The driver's connection, for [`Session::with_connection`](crate::Session::with_connection).
pub(crate) type RawConnection = rusqlite::Connection;

/// A row as the driver reads it.
pub(crate) type RawRow<'a> = rusqlite::Row<'a>;

/// An open SQLite connection.
pub(crate) struct SqliteConn {
    pub raw: rusqlite::Connection,
}

/// A statement from the connection's cache, with the connection (for the
/// last rowid).
pub(crate) struct Prepared<'c> {
    stmt: rusqlite::CachedStatement<'c>,
    conn: &'c rusqlite::Connection,
}

/// A bind error (the value did not fit), kept out of the binding loop.
#[cold]
#[inline(never)]
fn bind_failed(e: rusqlite::Error, sql: &str) -> Error {
    Error::from_sqlite(e, Some(sql))
}

impl Prepared<'_> {
    /// Bind parameter `index` (from 1); text and bytes are handed to SQLite
    /// borrowed.
    #[inline(always)]
    pub fn bind(&mut self, index: usize, value: ValueRef<'_>, sql: &str) -> Result<()> {
        self.stmt
            .raw_bind_parameter(index, Arg(value))
            .map_err(|e| bind_failed(e, sql))
    }

    #[inline]
    pub fn execute(&mut self, sql: &str) -> Result<usize> {
        self.stmt
            .raw_execute()
            .map_err(|e| Error::from_sqlite(e, Some(sql)))
    }

    #[inline]
    pub fn last_insert_rowid(&self) -> i64 {
        self.conn.last_insert_rowid()
    }

    #[inline]
    pub fn query<F: FnMut(&Row<'_>) -> Result<()>>(&mut self, sql: &str, mut f: F) -> Result<()> {
        let mut rows = self.stmt.raw_query();
        while let Some(row) = rows.next().map_err(|e| Error::from_sqlite(e, Some(sql)))? {
            f(&Row::sqlite(row))?;
        }
        Ok(())
    }

    #[inline]
    pub fn query_first<T, F: FnOnce(&Row<'_>) -> Result<T>>(
        &mut self,
        sql: &str,
        f: F,
    ) -> Result<Option<T>> {
        let mut rows = self.stmt.raw_query();
        match rows.next().map_err(|e| Error::from_sqlite(e, Some(sql)))? {
            Some(row) => f(&Row::sqlite(row)).map(Some),
            None => Ok(None),
        }
    }
}

/// Open and configure one connection.
pub(crate) fn open(target: &SqliteTarget) -> Result<SqliteConn> {
    let settings = &target.settings;
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let (raw, path) = match &target.location {
        Location::File(p) => (
            rusqlite::Connection::open_with_flags(p, flags),
            p.display().to_string(),
        ),
        Location::Memory(name) => (
            rusqlite::Connection::open_with_flags(
                format!("file:/{name}?vfs=memdb"),
                flags | OpenFlags::SQLITE_OPEN_URI,
            ),
            ":memory:".to_owned(),
        ),
    };
    let raw = raw.map_err(|source| Error::Open {
        path: path.clone(),
        source: Box::new(source),
    })?;
    configure(&raw, &target.location, settings).map_err(|source| Error::Open {
        path,
        source: Box::new(source),
    })?;
    Ok(SqliteConn { raw })
}

fn configure(
    raw: &rusqlite::Connection,
    location: &Location,
    settings: &ConnSettings,
) -> rusqlite::Result<()> {
    raw.busy_timeout(settings.busy_timeout)?;
    // A misspelled column in double quotes must be an error, not a string.
    raw.set_db_config(DbConfig::SQLITE_DBCONFIG_DQS_DML, false)?;
    raw.set_db_config(DbConfig::SQLITE_DBCONFIG_DQS_DDL, false)?;
    // Statements are cached and every value is bound. Without the query
    // planner stability guarantee, SQLite compiles a cached statement again
    // each time values are bound to it if its planner looked at one: a
    // bound LIMIT or OFFSET (every page), a join with a column `=` a bound
    // value. That is about 100,000 instructions per run of a two-table
    // join, several times the cost of running it over a few rows. What the
    // planner gives up: an index for a bound LIKE pattern, a partial index
    // whose condition a bound value meets, ANALYZE's samples of bound
    // values, a LIMIT's value in its row estimate.
    raw.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    // The bundled build enables foreign keys by default, a system SQLite does
    // not: never depend on the build.
    raw.execute_batch("PRAGMA foreign_keys = ON")?;
    if let Location::File(_) = location {
        // WAL is a property of the file, kept after the program exits: set
        // it on files orm creates, and on others only when asked to.
        let new_file = || -> rusqlite::Result<bool> {
            Ok(raw.query_row("PRAGMA page_count", [], |r| r.get::<_, i64>(0))? == 0)
        };
        let mode = match settings.journal_mode {
            Some(JournalMode::Wal) => Some("WAL"),
            Some(JournalMode::Delete) => Some("DELETE"),
            Some(JournalMode::Other) => None,
            None if new_file()? => Some("WAL"),
            None => None,
        };
        if let Some(mode) = mode {
            let _: String =
                raw.query_row(&format!("PRAGMA journal_mode = {mode}"), [], |r| r.get(0))?;
        }
        let sync = match settings.synchronous {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        };
        raw.execute_batch(&format!("PRAGMA synchronous = {sync}"))?;
    }
    raw.set_prepared_statement_cache_capacity(256);
    Ok(())
}

impl SqliteConn {
    /// The journal mode the connection's database uses.
    pub fn journal_mode(&self) -> Result<JournalMode> {
        let mode: String = self
            .raw
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .map_err(|e| Error::from_sqlite(e, Some("PRAGMA journal_mode")))?;
        Ok(JournalMode::from_pragma(&mode))
    }

    /// Prepare `sql` from the connection's statement cache.
    #[inline(always)]
    pub fn prepare<'c>(&'c self, sql: &str) -> Result<Prepared<'c>> {
        let stmt = self
            .raw
            .prepare_cached(sql)
            .map_err(|e| Error::from_sqlite(e, Some(sql)))?;
        Ok(Prepared {
            stmt,
            conn: &self.raw,
        })
    }

    #[inline]
    pub fn in_transaction(&self) -> bool {
        !self.raw.is_autocommit()
    }

    /// A COMMIT failed and no transaction is open any more: refused by a
    /// commit hook (certainly rolled back), or anything else (SQLite may
    /// have committed before reporting the error).
    pub fn failed_commit(&self, e: Error) -> CommitOutcome {
        if e.sqlite_code() == Some(rusqlite::ffi::SQLITE_CONSTRAINT_COMMITHOOK) {
            CommitOutcome::NotCommitted(e)
        } else {
            CommitOutcome::Unknown(e)
        }
    }

    pub fn is_valid(&mut self) -> Result<()> {
        self.raw
            .execute_batch("")
            .map_err(|e| Error::from_sqlite(e, None))
    }

    /// Before a multi-row INSERT of `rows` rows into `table`, run `check`
    /// ([`rowid_check_sql`]): where the rows will take consecutive keys
    /// after the table's largest one, the mark [`rowid_keys`](Self::rowid_keys)
    /// reads their keys against afterwards. `None` where they may not: a
    /// trigger on the table (in the main or the temp schema) could insert
    /// rows between them or skip some, and keys that would pass `i64::MAX`
    /// are chosen at random.
    pub fn rowid_mark(&self, check: &str, table: &str, rows: usize) -> Result<Option<RowidMark>> {
        let failed = |e| Error::from_sqlite(e, Some(check));
        let mut stmt = self.raw.prepare_cached(check).map_err(failed)?;
        let (largest, triggers) = stmt
            .query_row([table], |r| {
                Ok((r.get::<_, Option<i64>>(0)?, r.get::<_, bool>(1)?))
            })
            .map_err(failed)?;
        let largest = largest.unwrap_or(0);
        let room = i64::try_from(rows)
            .ok()
            .and_then(|n| largest.checked_add(n));
        Ok((!triggers && room.is_some()).then(|| RowidMark {
            largest,
            changes: self.raw.total_changes(),
        }))
    }

    /// The keys of the multi-row INSERT of `rows` rows that ran since
    /// `mark` was taken, in VALUES order (consecutive, the last rowid the
    /// last): `None` unless exactly those rows changed, after the largest
    /// key of the mark.
    pub fn rowid_keys(&self, mark: RowidMark, rows: usize) -> Option<RangeInclusive<i64>> {
        let last = self.raw.last_insert_rowid();
        let first = last.checked_sub(i64::try_from(rows).ok()?.checked_sub(1)?)?;
        let changed = self.raw.total_changes().checked_sub(mark.changes)?;
        (changed == u64::try_from(rows).ok()? && first > mark.largest).then_some(first..=last)
    }
}

/// Where a table and the connection stood before a multi-row INSERT whose
/// keys are read from the last rowid ([`SqliteConn::rowid_mark`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RowidMark {
    /// The table's largest key (0 for an empty table).
    largest: i64,
    /// Rows changed on the connection so far, by triggers too.
    changes: u64,
}

/// The statement [`SqliteConn::rowid_mark`] runs for `table`, whose
/// generated key is `key` (its rowid): the largest key, and whether any
/// trigger is on the table, its name the one parameter. Built once per
/// connection and table.
///
/// # Errors
///
/// A name that is no identifier (empty, or with a NUL character).
pub(crate) fn rowid_check_sql(table: &str, key: &str) -> Result<String> {
    let mut sql = String::from("SELECT (SELECT max(");
    crate::sql::quote::push_ident(&mut sql, key)?;
    sql.push_str(") FROM ");
    crate::sql::quote::push_ident(&mut sql, table)?;
    sql.push_str(
        "), EXISTS (SELECT 1 FROM main.sqlite_master WHERE type = 'trigger' \
         AND tbl_name = ?1 COLLATE NOCASE UNION ALL SELECT 1 FROM temp.sqlite_master \
         WHERE type = 'trigger' AND tbl_name = ?1 COLLATE NOCASE)",
    );
    Ok(sql)
}

/// A value as rusqlite binds it.
struct Arg<'a>(ValueRef<'a>);

impl rusqlite::ToSql for Arg<'_> {
    #[inline]
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(rusqlite::types::ToSqlOutput::Borrowed(rusqlite_ref(self.0)))
    }
}

#[inline]
fn rusqlite_ref(v: ValueRef<'_>) -> rusqlite::types::ValueRef<'_> {
    use rusqlite::types::ValueRef as R;
    match v {
        ValueRef::Null => R::Null,
        ValueRef::Integer(i) => R::Integer(i),
        ValueRef::Real(r) => R::Real(r),
        ValueRef::Text(t) => R::Text(t),
        ValueRef::Blob(b) => R::Blob(b),
    }
}

/// orm's values bind directly in rusqlite code (for example inside
/// [`Session::with_connection`](crate::Session::with_connection)).
///
/// ```
/// use orm::rusqlite;
/// use orm::types::Value;
///
/// let conn = rusqlite::Connection::open_in_memory().unwrap();
/// let n: i64 = conn.query_row("SELECT ? + 1", [Value::Integer(1)], |r| r.get(0)).unwrap();
/// assert_eq!(n, 2);
/// ```
impl rusqlite::ToSql for crate::types::Value {
    #[inline]
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(rusqlite::types::ToSqlOutput::Borrowed(rusqlite_ref(
            self.into(),
        )))
    }
}

/// A value rusqlite read, as orm's.
///
/// ```
/// use orm::types::ValueRef;
/// let v: ValueRef<'_> = orm::rusqlite::types::ValueRef::Integer(3).into();
/// assert_eq!(v, ValueRef::Integer(3));
/// ```
impl<'a> From<rusqlite::types::ValueRef<'a>> for ValueRef<'a> {
    #[inline]
    fn from(v: rusqlite::types::ValueRef<'a>) -> ValueRef<'a> {
        value_ref(v)
    }
}

/// Column `index` of a row SQLite read, as orm's value.
#[inline(always)]
pub(crate) fn row_value<'a>(row: &'a RawRow<'a>, index: usize) -> Result<ValueRef<'a>> {
    match row.get_ref(index) {
        Ok(v) => Ok(value_ref(v)),
        Err(e) => Err(read_error(e)),
    }
}

/// Column `index` of a row SQLite read, handed to `from_sql` (see
/// [`Row::decode`](crate::backend::Row::decode)).
#[inline(always)]
pub(crate) fn row_decode<T, E>(
    row: &RawRow<'_>,
    index: usize,
    from_sql: fn(ValueRef<'_>) -> std::result::Result<T, E>,
) -> Result<std::result::Result<T, E>> {
    match row.get_ref(index) {
        Ok(v) => Ok(from_sql(value_ref(v))),
        Err(e) => Err(read_error(e)),
    }
}

impl crate::backend::Columns for RawRow<'_> {
    #[inline(always)]
    fn decode_column<T, E>(
        &self,
        index: usize,
        from_sql: fn(ValueRef<'_>) -> std::result::Result<T, E>,
    ) -> Result<std::result::Result<T, E>> {
        row_decode(self, index, from_sql)
    }
}

#[cold]
#[inline(never)]
fn read_error(e: rusqlite::Error) -> Error {
    Error::from_sqlite(e, None)
}

pub(crate) fn row_column_name<'a>(row: &'a RawRow<'a>, index: usize) -> Option<&'a str> {
    row.as_ref().column_name(index).ok()
}

pub(crate) fn row_len(row: &RawRow<'_>) -> usize {
    row.as_ref().column_count()
}

/// A value SQLite read, as orm's.
#[inline(always)]
pub(crate) fn value_ref(v: rusqlite::types::ValueRef<'_>) -> ValueRef<'_> {
    use rusqlite::types::ValueRef as R;
    match v {
        R::Null => ValueRef::Null,
        R::Integer(i) => ValueRef::Integer(i),
        R::Real(r) => ValueRef::Real(r),
        R::Text(t) => ValueRef::Text(t),
        R::Blob(b) => ValueRef::Blob(b),
    }
}

#[cfg(test)]
mod tests {
    use super::{RowidMark, SqliteConn, rowid_check_sql};

    fn conn() -> SqliteConn {
        let raw = rusqlite::Connection::open_in_memory().unwrap();
        raw.execute_batch(r#"CREATE TABLE "t" ("id" INTEGER PRIMARY KEY, "name" TEXT)"#)
            .unwrap();
        SqliteConn { raw }
    }

    fn insert_three(c: &SqliteConn) {
        c.raw
            .execute(r#"INSERT INTO "t" ("name") VALUES ('a'), ('b'), ('c')"#, [])
            .unwrap();
    }

    #[test]
    fn the_keys_of_a_multi_row_insert_follow_the_largest_key() {
        let c = conn();
        c.raw
            .execute(r#"INSERT INTO "t" ("id", "name") VALUES (41, 'x')"#, [])
            .unwrap();
        let check = rowid_check_sql("t", "id").unwrap();
        let mark = c.rowid_mark(&check, "t", 3).unwrap().unwrap();
        assert_eq!(mark.largest, 41);
        insert_three(&c);
        assert_eq!(c.rowid_keys(mark, 3), Some(42..=44));
        // Read against the wrong row count, the keys are refused.
        assert_eq!(c.rowid_keys(mark, 2), None);
    }

    /// The check after the statement stands alone: rows a trigger changed
    /// alongside (which the check before would have refused) make the keys
    /// unreadable rather than wrong.
    #[test]
    fn rows_changed_by_a_trigger_make_the_keys_unreadable() {
        let c = conn();
        let mark = RowidMark {
            largest: 0,
            changes: c.raw.total_changes(),
        };
        c.raw
            .execute_batch(
                r#"CREATE TRIGGER echo AFTER INSERT ON "t" WHEN NEW.name <> 'echo'
                   BEGIN INSERT INTO "t" ("name") VALUES ('echo'); END"#,
            )
            .unwrap();
        let check = rowid_check_sql("t", "id").unwrap();
        assert!(c.rowid_mark(&check, "t", 3).unwrap().is_none());
        insert_three(&c);
        assert_eq!(c.rowid_keys(mark, 3), None);
    }

    #[test]
    fn keys_that_could_pass_the_largest_rowid_get_no_mark() {
        let c = conn();
        c.raw
            .execute(
                r#"INSERT INTO "t" ("id", "name") VALUES (?1, 'x')"#,
                [i64::MAX - 2],
            )
            .unwrap();
        let check = rowid_check_sql("t", "id").unwrap();
        assert!(c.rowid_mark(&check, "t", 2).unwrap().is_some());
        assert!(c.rowid_mark(&check, "t", 3).unwrap().is_none());
    }
}
