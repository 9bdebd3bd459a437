//! [`Migrator`]: applies revisions to a database in one transaction,
//! records the revision it is at, writes new revisions by comparing the
//! models with the database, and explains a failed migration by the rows
//! that stand in its way.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::compare::{self, Op, VERSION_TABLE};
use super::describe::Schema;
use super::reflect;
use super::render::{self, REBUILD_PREFIX, Rendered};
use super::revision::{MAGIC, Migrations, Revision};
use crate::backend::{CommitOutcome, Conn, SchemaEditing};
use crate::database::Database;
use crate::error::{BlockingRows, ConstraintKind, Error, Result, RowProblem};
use crate::sql::ast::{
    BinOp, ColumnSpec, CreateTable, Delete, Expr, Insert, Pragma, Select, Statement, TableRef,
};
use crate::sql::writer;
use crate::types::Value;

/// Runs an application's [`Migrations`] against a [`Database`]: the
/// library side of the `db` command, for programs that migrate at
/// start-up.
///
/// Each command runs in one transaction: a migration that fails leaves the
/// database exactly as it was, and the error says why (for the rows that
/// stand in the way, [`Error::MigrationRows`]).
///
/// # Examples
///
/// ```
/// use orm::prelude::*;
/// use orm::migrate::{Migrations, Migrator};
///
/// #[derive(Model, Debug, Default)]
/// struct User { #[orm(primary_key)] id: i64, #[orm(max_length = 50, unique)] username: String }
///
/// # fn main() -> orm::Result<()> {
/// let dir = tempfile::tempdir().unwrap();
/// let db = Database::builder().model::<User>().open("sqlite://")?;
///
/// // `db revision --autogenerate -m "users"`, then `db upgrade`:
/// let new = Migrator::new(&db, &Migrations::new()).autogenerate("users")?.unwrap();
/// new.write_to(dir.path())?;
/// let migrations = Migrations::from_dir(dir.path())?;
/// let migrator = Migrator::new(&db, &migrations);
/// migrator.upgrade("head")?;
/// assert_eq!(migrator.current()?.as_deref(), Some(new.id()));
/// assert!(db.check_schema()?.is_empty());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Migrator<'a> {
    db: &'a Database,
    migrations: &'a Migrations,
}

/// A revision written by [`Migrator::autogenerate`] or
/// [`Migrator::revision`], not yet saved.
///
/// # Examples
///
/// See [`Migrator`].
#[derive(Debug, Clone)]
pub struct NewRevision {
    id: String,
    file_name: String,
    text: String,
    ops: Vec<Op>,
}

impl NewRevision {
    /// Its id.
    ///
    /// # Examples
    ///
    /// See [`Migrator`].
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The file name it is saved under (`0002_add_email.sql`).
    ///
    /// # Examples
    ///
    /// ```
    /// # let db = orm::Database::open("sqlite://")?;
    /// # let m = orm::migrate::Migrations::new();
    /// let r = orm::migrate::Migrator::new(&db, &m).revision("Add e-mail!");
    /// assert_eq!(r.file_name(), "0001_add_e_mail.sql");
    /// # Ok::<(), orm::Error>(())
    /// ```
    pub fn file_name(&self) -> &str {
        &self.file_name
    }

    /// The file's text.
    ///
    /// # Examples
    ///
    /// ```
    /// # let db = orm::Database::open("sqlite://")?;
    /// # let m = orm::migrate::Migrations::new();
    /// let r = orm::migrate::Migrator::new(&db, &m).revision("data fix");
    /// assert!(r.text().starts_with("-- orm revision\n"));
    /// # Ok::<(), orm::Error>(())
    /// ```
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The operations it holds (none for an empty revision).
    ///
    /// # Examples
    ///
    /// See [`Migrator::autogenerate`].
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// Save it in `dir`; the path of the new file.
    ///
    /// # Errors
    ///
    /// [`Error::Revision`] when the file exists or cannot be written.
    ///
    /// # Examples
    ///
    /// See [`Migrator`].
    pub fn write_to(&self, dir: impl AsRef<Path>) -> Result<PathBuf> {
        let path = dir.as_ref().join(&self.file_name);
        let failed = |reason: String| Error::Revision {
            revision: path.display().to_string(),
            reason,
        };
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| failed(format!("cannot create it: {e}")))?;
        std::io::Write::write_all(&mut file, self.text.as_bytes())
            .map_err(|e| failed(format!("cannot write it: {e}")))?;
        Ok(path)
    }
}

impl<'a> Migrator<'a> {
    /// A migrator of `db` with these revisions.
    ///
    /// # Examples
    ///
    /// See [`Migrator`].
    pub fn new(db: &'a Database, migrations: &'a Migrations) -> Migrator<'a> {
        Migrator { db, migrations }
    }

    /// The revision the database is at (`None`: none applied, or never
    /// migrated).
    ///
    /// # Errors
    ///
    /// Database errors reading the version table.
    ///
    /// # Examples
    ///
    /// ```
    /// # let db = orm::Database::open("sqlite://")?;
    /// # let m = orm::migrate::Migrations::new();
    /// assert_eq!(orm::migrate::Migrator::new(&db, &m).current()?, None);
    /// # Ok::<(), orm::Error>(())
    /// ```
    pub fn current(&self) -> Result<Option<String>> {
        let mut conn = self.db.connection()?;
        read_version(&mut conn, self.db)
    }

    /// The revisions not applied yet, in the order they would run.
    ///
    /// # Errors
    ///
    /// As [`current`](Self::current); [`Error::Revision`] when the
    /// database is at a revision the migrations do not have.
    ///
    /// # Examples
    ///
    /// ```
    /// # let db = orm::Database::open("sqlite://")?;
    /// # let m = orm::migrate::Migrations::new();
    /// assert!(orm::migrate::Migrator::new(&db, &m).pending()?.is_empty());
    /// # Ok::<(), orm::Error>(())
    /// ```
    pub fn pending(&self) -> Result<&'a [Revision]> {
        let at = self.position()?;
        Ok(&self.migrations.revisions()[at..])
    }

    /// How many revisions the database has applied.
    fn position(&self) -> Result<usize> {
        position_of(self.migrations, self.current()?.as_deref())
    }

    /// Apply the revisions up to `target` (`head`, an id or a prefix of
    /// one, `+1`); the ids applied, in order.
    ///
    /// # Errors
    ///
    /// [`Error::Revision`] for an unknown target, a target behind the
    /// database, or a revision written for another dialect;
    /// [`Error::MigrationRows`] when rows stand in the way (duplicates
    /// under a new UNIQUE constraint, NULLs in a column that becomes NOT
    /// NULL, references to rows that do not exist); [`Error::Migration`]
    /// for any other failed statement. On error nothing was applied.
    ///
    /// # Examples
    ///
    /// See [`Migrator`].
    pub fn upgrade(&self, target: &str) -> Result<Vec<String>> {
        let from = self.position()?;
        let to = self.migrations.resolve(target, from)?;
        if to < from {
            return Err(Error::Revision {
                revision: target.to_owned(),
                reason: "is behind the database's revision: use downgrade".into(),
            });
        }
        self.run(from, to)
    }

    /// Undo the revisions down to `target` (`-1`, `base` for all, or the
    /// id of the revision to stay at); the ids undone, in order.
    ///
    /// # Errors
    ///
    /// As [`upgrade`](Self::upgrade).
    ///
    /// # Examples
    ///
    /// ```
    /// # let db = orm::Database::open("sqlite://")?;
    /// # let m = orm::migrate::Migrations::new();
    /// let undone = orm::migrate::Migrator::new(&db, &m).downgrade("base")?;
    /// assert!(undone.is_empty());
    /// # Ok::<(), orm::Error>(())
    /// ```
    pub fn downgrade(&self, target: &str) -> Result<Vec<String>> {
        let from = self.position()?;
        let to = self.migrations.resolve(target, from)?;
        if to > from {
            return Err(Error::Revision {
                revision: target.to_owned(),
                reason: "is ahead of the database's revision: use upgrade".into(),
            });
        }
        self.run(from, to)
    }

    /// Record `target` as the database's revision without running anything
    /// (for a database whose tables were made by `create_all` or by hand).
    ///
    /// # Errors
    ///
    /// [`Error::Revision`] for an unknown target; database errors.
    ///
    /// # Examples
    ///
    /// ```
    /// # let db = orm::Database::open("sqlite://")?;
    /// # let m = orm::migrate::Migrations::new();
    /// orm::migrate::Migrator::new(&db, &m).stamp("base")?;
    /// # Ok::<(), orm::Error>(())
    /// ```
    pub fn stamp(&self, target: &str) -> Result<()> {
        let current = self.current()?;
        let from = position_of(self.migrations, current.as_deref()).unwrap_or(0);
        let to = self.migrations.resolve(target, from)?;
        let mut conn = self.db.connection()?;
        let observer = &self.db.inner.observer;
        conn.begin_write(self.db.inner.isolation, observer)?;
        let result = (|| {
            prepare_version_table(&mut conn, self.db)?;
            let id = to
                .checked_sub(1)
                .map(|i| self.migrations.revisions()[i].id());
            set_version(&mut conn, self.db, id)?;
            commit(&mut conn, self.db)
        })();
        if result.is_err() {
            conn.rollback_quietly(observer);
        }
        result
    }

    /// The statements `upgrade(target)` (or `downgrade`, when `target` is
    /// behind) would run, without running them (`db upgrade --sql`).
    ///
    /// # Errors
    ///
    /// As [`upgrade`](Self::upgrade), before anything runs.
    ///
    /// # Examples
    ///
    /// ```
    /// # let db = orm::Database::open("sqlite://")?;
    /// # let m = orm::migrate::Migrations::new();
    /// assert!(orm::migrate::Migrator::new(&db, &m).sql("head")?.is_empty());
    /// # Ok::<(), orm::Error>(())
    /// ```
    pub fn sql(&self, target: &str) -> Result<Vec<String>> {
        let from = self.position()?;
        let to = self.migrations.resolve(target, from)?;
        Ok(steps(from, to)
            .flat_map(|(i, up)| {
                self.migrations.revisions()[i]
                    .section(up)
                    .statements
                    .clone()
            })
            .collect())
    }

    /// Compare the models with the database: the operations a new revision
    /// needs. Refused while revisions are pending.
    ///
    /// # Errors
    ///
    /// [`Error::Revision`] when the database is not at the head revision;
    /// database errors reading its schema.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// # #[derive(Model, Debug, Default)]
    /// # struct User { #[orm(primary_key)] id: i64 }
    /// # let db = Database::builder().model::<User>().open("sqlite://")?;
    /// db.create_all()?;
    /// # let m = orm::migrate::Migrations::new();
    /// assert!(orm::migrate::Migrator::new(&db, &m).check()?.is_empty());
    /// # Ok::<(), orm::Error>(())
    /// ```
    pub fn check(&self) -> Result<Vec<Op>> {
        self.up_to_date()?;
        self.db.check_schema()
    }

    fn up_to_date(&self) -> Result<()> {
        let pending = self.pending()?;
        if let (Some(first), Some(head)) = (pending.first(), pending.last()) {
            return Err(Error::Revision {
                revision: head.id().to_owned(),
                reason: format!(
                    "the database is not up to date: {} revision(s) from {} on are not applied; run upgrade first",
                    pending.len(),
                    first.id()
                ),
            });
        }
        Ok(())
    }

    /// A new revision with the operations that take the database to the
    /// models (`db revision --autogenerate -m message`), following the
    /// head; `None` when there are none. Refused while revisions are
    /// pending.
    ///
    /// # Errors
    ///
    /// As [`check`](Self::check); [`Error::Schema`] when a model's column
    /// type cannot be written.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64 }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<User>().open("sqlite://")?;
    /// let m = orm::migrate::Migrations::new();
    /// let new = orm::migrate::Migrator::new(&db, &m).autogenerate("users")?.unwrap();
    /// assert_eq!(new.ops()[0].to_string(), r#"create table "user""#);
    /// assert!(new.text().contains("-- orm:upgrade"));
    /// # Ok(()) }
    /// ```
    pub fn autogenerate(&self, message: &str) -> Result<Option<NewRevision>> {
        self.up_to_date()?;
        let dialect = self.db.inner.dialect;
        let live = self.db.live_schema()?;
        let models = Schema::from_models(self.db.tables(), dialect);
        let ops = compare::compare(&models, &live, dialect.schema_editing());
        if ops.is_empty() {
            return Ok(None);
        }
        let up = render::render(&ops, &live, dialect);
        let mut after = live.clone();
        for op in &ops {
            render::apply(&mut after, op);
        }
        let back = inverse(&ops);
        let down = render::render(&back, &after, dialect);
        let id = new_id();
        let text = revision_text(
            &id,
            self.migrations.head().map(Revision::id),
            message,
            dialect,
            &ops,
            &up,
            &down,
        )?;
        Ok(Some(NewRevision {
            file_name: file_name(self.migrations.revisions().len() + 1, message),
            id,
            text,
            ops,
        }))
    }

    /// A new empty revision following the head (`db revision -m message`),
    /// for changes written by hand (data migrations).
    ///
    /// # Examples
    ///
    /// ```
    /// # let db = orm::Database::open("sqlite://")?;
    /// # let m = orm::migrate::Migrations::new();
    /// let r = orm::migrate::Migrator::new(&db, &m).revision("backfill");
    /// assert!(r.text().contains("-- orm:downgrade"));
    /// assert!(r.ops().is_empty());
    /// # Ok::<(), orm::Error>(())
    /// ```
    pub fn revision(&self, message: &str) -> NewRevision {
        let id = new_id();
        let mut text = header(
            &id,
            self.migrations.head().map(Revision::id),
            message,
            self.db.inner.dialect.name(),
        );
        text.push_str(
            "--\n-- Written by hand: put the statements of the change under upgrade and the\n\
             -- statements that undo it under downgrade, each ending with a semicolon.\n\n\
             -- orm:upgrade\n\n-- orm:downgrade\n",
        );
        NewRevision {
            file_name: file_name(self.migrations.revisions().len() + 1, message),
            id,
            text,
            ops: Vec::new(),
        }
    }

    /// Run the revisions between `from` and `to` applied revisions.
    fn run(&self, from: usize, to: usize) -> Result<Vec<String>> {
        let db = self.db;
        let dialect = db.inner.dialect;
        let revisions = self.migrations.revisions();
        let plan: Vec<(usize, bool)> = steps(from, to).collect();
        for &(i, _) in &plan {
            if let Some(d) = revisions[i].dialect()
                && d != dialect.name()
            {
                return Err(Error::Revision {
                    revision: revisions[i].id().to_owned(),
                    reason: format!(
                        "is written for {d}, and this database is {}: generate revisions against the database you deploy on",
                        dialect.name()
                    ),
                });
            }
        }
        if plan.is_empty() {
            return Ok(Vec::new());
        }
        let sqlite = dialect.schema_editing() == SchemaEditing::SqliteRebuild;
        let foreign_keys_off = sqlite
            && plan
                .iter()
                .any(|&(i, up)| revisions[i].section(up).foreign_keys_off);
        let observer = &db.inner.observer;
        let mut conn = db.connection()?;
        // Inside a transaction SQLite ignores this pragma: it is set
        // before BEGIN and set back after COMMIT or ROLLBACK.
        if foreign_keys_off {
            pragma(&mut conn, db, "foreign_keys", "OFF")?;
        }
        let result = (|| {
            conn.begin_write(db.inner.isolation, observer)?;
            prepare_version_table(&mut conn, db)?;
            let expected = from.checked_sub(1).map(|i| revisions[i].id());
            let now = read_version_in(&mut conn, db)?;
            if now.as_deref() != expected {
                return Err(Error::Revision {
                    revision: now.unwrap_or_else(|| "base".into()),
                    reason:
                        "another process migrated the database meanwhile; run the command again"
                            .into(),
                });
            }
            let mut done = Vec::new();
            for &(i, up) in &plan {
                let revision = &revisions[i];
                for (n, sql) in revision.section(up).statements.iter().enumerate() {
                    if let Err(e) = conn.execute_values(sql, &[], observer) {
                        return Err(Error::Migration {
                            revision: revision.id().to_owned(),
                            statement: n + 1,
                            sql: sql.clone(),
                            source: Box::new(db.refine_error(e)),
                        });
                    }
                }
                let new = if up {
                    Some(revision.id())
                } else {
                    revision.parent()
                };
                set_version(&mut conn, db, new)?;
                done.push(revision.id().to_owned());
            }
            if foreign_keys_off {
                let revision = plan.last().map_or("", |&(i, _)| revisions[i].id());
                foreign_key_check(&mut conn, db, revision)?;
            }
            commit(&mut conn, db)?;
            Ok(done)
        })();
        if result.is_err() {
            conn.rollback_quietly(observer);
        }
        if sqlite {
            // The connection goes back to the pool as it came out of it.
            let mut reset = pragma(&mut conn, db, "legacy_alter_table", "OFF");
            if foreign_keys_off {
                reset = reset.and(pragma(&mut conn, db, "foreign_keys", "ON"));
            }
            if reset.is_err() {
                conn.broken = true;
            }
        }
        match result {
            Ok(done) => Ok(done),
            Err(e) => Err(explain(&mut conn, db, e)),
        }
    }
}

/// The operations that undo `ops`: their inverses in reverse order,
/// except that columns dropped together come back in their order.
fn inverse(ops: &[Op]) -> Vec<Op> {
    let mut back: Vec<Op> = ops.iter().rev().map(Op::inverse).collect();
    let mut i = 0;
    while i < back.len() {
        let run = back[i..]
            .iter()
            .take_while(|o| matches!(o, Op::AddColumn { .. }))
            .count();
        back[i..i + run].reverse();
        i += run.max(1);
    }
    back
}

/// The (revision, upgrade?) steps from `from` to `to` applied revisions.
fn steps(from: usize, to: usize) -> Box<dyn Iterator<Item = (usize, bool)>> {
    if to >= from {
        Box::new((from..to).map(|i| (i, true)))
    } else {
        Box::new((to..from).rev().map(|i| (i, false)))
    }
}

fn position_of(migrations: &Migrations, current: Option<&str>) -> Result<usize> {
    match current {
        None => Ok(0),
        Some(id) => migrations
            .revisions()
            .iter()
            .position(|r| r.id() == id)
            .map(|i| i + 1)
            .ok_or_else(|| Error::Revision {
                revision: id.to_owned(),
                reason: "the database is at this revision, which the migrations do not have (is the migrations folder from another version of the application?)".into(),
            }),
    }
}

fn run(conn: &mut Conn, db: &Database, stmt: &Statement) -> Result<usize> {
    let w = writer::write(stmt, db.inner.dialect)?;
    conn.execute_values(&w.sql, &w.params, &db.inner.observer)
}

fn pragma(conn: &mut Conn, db: &Database, name: &'static str, value: &'static str) -> Result<()> {
    run(
        conn,
        db,
        &Statement::Pragma(Pragma {
            name,
            value: Some(value),
        }),
    )
    .map(drop)
}

fn commit(conn: &mut Conn, db: &Database) -> Result<()> {
    db.check_file()?;
    match conn.commit(&db.inner.observer) {
        CommitOutcome::Committed => Ok(()),
        CommitOutcome::NotCommitted(e) => Err(e),
        CommitOutcome::Unknown(e) => Err(e),
    }
}

/// The version table's statement.
fn version_table() -> Statement {
    Statement::CreateTable(CreateTable {
        name: VERSION_TABLE.into(),
        if_not_exists: true,
        columns: vec![ColumnSpec {
            name: "version_num".into(),
            sql_type: "VARCHAR(64)".into(),
            not_null: true,
            default: None,
            default_sql: None,
        }],
        primary_key: vec!["version_num".into()],
        uniques: Vec::new(),
        foreign_keys: Vec::new(),
    })
}

/// Create the version table if needed and, where the database locks
/// tables, take it for the transaction, so two migrating processes run one
/// after the other.
fn prepare_version_table(conn: &mut Conn, db: &Database) -> Result<()> {
    run(conn, db, &version_table())?;
    if db.inner.dialect.locking_reads() {
        run(conn, db, &Statement::LockTable(VERSION_TABLE.into()))?;
    }
    Ok(())
}

fn read_version(conn: &mut Conn, db: &Database) -> Result<Option<String>> {
    let tables = reflect::table_names(conn, &db.inner.observer)?;
    if !tables.iter().any(|t| t == VERSION_TABLE) {
        return Ok(None);
    }
    read_version_in(conn, db)
}

fn read_version_in(conn: &mut Conn, db: &Database) -> Result<Option<String>> {
    let mut select = Select::new(TableRef::new(VERSION_TABLE));
    select.columns = vec![Expr::Column {
        table: None,
        name: "version_num".into(),
    }];
    let w = writer::write(&Statement::Select(select), db.inner.dialect)?;
    let rows = reflect::rows(conn, &w.sql, &w.params, &db.inner.observer)?;
    match rows.as_slice() {
        [] => Ok(None),
        [row] => Ok(row.first().and_then(|v| match v {
            Value::Text(s) => Some(s.clone()),
            _ => None,
        })),
        _ => Err(Error::Revision {
            revision: VERSION_TABLE.into(),
            reason: "the version table holds several revisions (branches are not supported)".into(),
        }),
    }
}

fn set_version(conn: &mut Conn, db: &Database, id: Option<&str>) -> Result<()> {
    run(
        conn,
        db,
        &Statement::Delete(Delete {
            table: VERSION_TABLE.into(),
            filter: None,
            returning: Vec::new(),
        }),
    )?;
    if let Some(id) = id {
        run(
            conn,
            db,
            &Statement::Insert(Insert {
                table: VERSION_TABLE.into(),
                columns: vec!["version_num".into()],
                rows: vec![vec![Expr::value(id.to_owned())]],
                returning: Vec::new(),
            }),
        )?;
    }
    Ok(())
}

/// SQLite's check of every foreign key, run before COMMIT when they were
/// off: rows that reference nothing fail the migration.
fn foreign_key_check(conn: &mut Conn, db: &Database, revision: &str) -> Result<()> {
    let w = writer::write(
        &Statement::Pragma(Pragma {
            name: "foreign_key_check",
            value: None,
        }),
        db.inner.dialect,
    )?;
    let found = reflect::rows(conn, &w.sql, &[], &db.inner.observer)?;
    let Some(first) = found.first() else {
        return Ok(());
    };
    let text = |v: Option<&Value>| match v {
        Some(Value::Text(s)) => s.clone(),
        Some(Value::Integer(i)) => i.to_string(),
        _ => String::new(),
    };
    let table = text(first.first());
    let parent = text(first.get(2));
    let fk_id = match first.get(3) {
        Some(Value::Integer(i)) => *i,
        _ => 0,
    };
    let mine: Vec<&Vec<Value>> = found
        .iter()
        .filter(|r| text(r.first()) == table && text(r.get(2)) == parent)
        .collect();
    // The columns of the foreign key that failed.
    let columns = reflect::rows(
        conn,
        "SELECT \"from\" FROM pragma_foreign_key_list(?) WHERE id = ? ORDER BY seq",
        &[Value::Text(table.clone()), Value::Integer(fk_id)],
        &db.inner.observer,
    )
    .map(|rows| rows.iter().map(|r| text(r.first())).collect())
    .unwrap_or_default();
    Err(Error::MigrationRows(Box::new(BlockingRows {
        revision: revision.to_owned(),
        table,
        columns,
        problem: RowProblem::MissingParent {
            parent: Some(parent),
        },
        rows: Some(mine.len() as u64),
        keys: mine
            .iter()
            .take(MAX_KEYS)
            .map(|r| format!("rowid {}", text(r.get(1))))
            .collect(),
        source: None,
    })))
}

/// How many keys of offending rows an error names.
const MAX_KEYS: usize = 10;

/// A failed migration explained, when rows stand in its way: which rows
/// (by key, never by value) and what is wrong with them. Runs after the
/// rollback, on the database as it was.
fn explain(conn: &mut Conn, db: &Database, e: Error) -> Error {
    let Error::Migration {
        revision,
        statement,
        sql,
        source,
    } = e
    else {
        return e;
    };
    let Error::Constraint {
        kind,
        table: Some(table),
        columns,
        ..
    } = &*source
    else {
        return Error::Migration {
            revision,
            statement,
            sql,
            source,
        };
    };
    let table = table
        .strip_prefix(REBUILD_PREFIX)
        .unwrap_or(table)
        .to_owned();
    let columns: Vec<String> = columns
        .iter()
        .map(|c| c.rsplit('.').next().unwrap_or(c).to_owned())
        .collect();
    let found = match kind {
        ConstraintKind::Unique => duplicates(conn, db, &table, &columns)
            .map(|(rows, keys)| (RowProblem::Duplicates, Some(rows), keys)),
        ConstraintKind::NotNull => nulls(conn, db, &table, &columns)
            .map(|(rows, keys)| (RowProblem::Nulls, Some(rows), keys)),
        ConstraintKind::ForeignKey => Some((
            RowProblem::MissingParent {
                parent: referenced_table(&sql),
            },
            None,
            Vec::new(),
        )),
        _ => None,
    };
    match found {
        Some((problem, rows, keys)) => Error::MigrationRows(Box::new(BlockingRows {
            revision,
            table,
            columns,
            problem,
            rows,
            keys,
            source: Some(source),
        })),
        None => Error::Migration {
            revision,
            statement,
            sql,
            source,
        },
    }
}

/// The primary key columns of `table`, as the database has them now.
fn key_columns(conn: &mut Conn, db: &Database, table: &str) -> Vec<String> {
    reflect::read(conn, &db.inner.observer)
        .ok()
        .and_then(|s| s.table(table).map(|t| t.primary_key.clone()))
        .unwrap_or_default()
}

fn column(name: &str) -> Expr {
    Expr::Column {
        table: None,
        name: name.to_owned().into(),
    }
}

fn key_text(row: &[Value]) -> String {
    let parts: Vec<String> = row
        .iter()
        .map(|v| match v {
            Value::Integer(i) => i.to_string(),
            Value::Text(s) => s.clone(),
            Value::Real(r) => r.to_string(),
            Value::Null => "NULL".into(),
            Value::Blob(_) => "(bytes)".into(),
        })
        .collect();
    parts.join(", ")
}

/// Rows of `table` that share values of `columns`: how many, and the keys
/// of some.
fn duplicates(
    conn: &mut Conn,
    db: &Database,
    table: &str,
    columns: &[String],
) -> Option<(u64, Vec<String>)> {
    if columns.is_empty() {
        return None;
    }
    let dialect = db.inner.dialect;
    let observer = &db.inner.observer;
    let mut groups = Select::new(TableRef::new(table.to_owned()));
    groups.columns = columns.iter().map(|c| column(c)).collect();
    groups.columns.push(Expr::CountStar);
    groups.group_by = columns.iter().map(|c| column(c)).collect();
    groups.having = Some(Expr::binary(BinOp::Gt, Expr::CountStar, Expr::value(1i64)));
    let w = writer::write(&Statement::Select(groups), dialect).ok()?;
    let found = reflect::rows(conn, &w.sql, &w.params, observer).ok()?;
    let rows: u64 = found
        .iter()
        .map(|r| match r.last() {
            Some(Value::Integer(n)) => *n as u64,
            _ => 0,
        })
        .sum();
    let key = key_columns(conn, db, table);
    let mut keys = Vec::new();
    if !key.is_empty() {
        for group in found.iter().take(MAX_KEYS) {
            let mut select = Select::new(TableRef::new(table.to_owned()));
            select.columns = key.iter().map(|c| column(c)).collect();
            let conds = columns
                .iter()
                .zip(group)
                .map(|(c, v)| Expr::binary(BinOp::Eq, column(c), Expr::Value(v.clone())))
                .collect();
            select.filter = Expr::and_all(conds);
            select.order_by = key
                .iter()
                .map(|c| crate::sql::ast::OrderBy {
                    expr: column(c),
                    desc: false,
                })
                .collect();
            let Ok(w) = writer::write(&Statement::Select(select), dialect) else {
                break;
            };
            let Ok(rows) = reflect::rows(conn, &w.sql, &w.params, observer) else {
                break;
            };
            let group_keys: Vec<String> = rows.iter().map(|r| key_text(r)).collect();
            keys.push(group_keys.join(" and "));
            if keys.len() >= MAX_KEYS {
                break;
            }
        }
    }
    Some((rows, keys))
}

/// Rows of `table` with NULL in `columns[0]`: how many, and the keys of
/// some. A column the table does not have yet (a new NOT NULL column
/// without a default) is NULL in every row.
fn nulls(
    conn: &mut Conn,
    db: &Database,
    table: &str,
    columns: &[String],
) -> Option<(u64, Vec<String>)> {
    let target = columns.first()?;
    let dialect = db.inner.dialect;
    let observer = &db.inner.observer;
    let exists = reflect::read(conn, observer)
        .ok()?
        .table(table)?
        .column(target)
        .is_some();
    let filter = exists.then(|| Expr::IsNull {
        expr: Box::new(column(target)),
        negated: false,
    });
    let mut count = Select::new(TableRef::new(table.to_owned()));
    count.columns = vec![Expr::CountStar];
    count.filter = filter.clone();
    let w = writer::write(&Statement::Select(count), dialect).ok()?;
    let rows = match reflect::rows(conn, &w.sql, &w.params, observer)
        .ok()?
        .first()?
        .first()
    {
        Some(Value::Integer(n)) => *n as u64,
        _ => 0,
    };
    let key = key_columns(conn, db, table);
    let mut keys = Vec::new();
    if !key.is_empty() {
        let mut select = Select::new(TableRef::new(table.to_owned()));
        select.columns = key.iter().map(|c| column(c)).collect();
        select.filter = filter;
        select.limit = Some(MAX_KEYS as i64);
        select.inline_limit = true;
        if let Ok(w) = writer::write(&Statement::Select(select), dialect)
            && let Ok(found) = reflect::rows(conn, &w.sql, &w.params, observer)
        {
            keys = found.iter().map(|r| key_text(r)).collect();
        }
    }
    Some((rows, keys))
}

/// The table a failed `... REFERENCES "parent" (...)` statement names.
fn referenced_table(sql: &str) -> Option<String> {
    let at = sql.find("REFERENCES ")? + "REFERENCES ".len();
    let rest = sql[at..].trim_start();
    if let Some(quoted) = rest.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = quoted.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    out.push('"');
                    continue;
                }
                return Some(out);
            }
            out.push(c);
        }
        None
    } else {
        Some(
            rest.split(|c: char| c.is_whitespace() || c == '(')
                .next()?
                .to_owned(),
        )
    }
}

/// A new revision id: 12 hexadecimal digits, random per call.
fn new_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    h.write_u128(now.as_nanos());
    h.write_u32(std::process::id());
    format!("{:012x}", h.finish() & 0xffff_ffff_ffff)
}

/// `0002_add_email.sql`: the number orders the folder for readers (the
/// chain is in the headers).
fn file_name(n: usize, message: &str) -> String {
    let mut slug = String::new();
    for c in message.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('_') && !slug.is_empty() {
            slug.push('_');
        }
        if slug.len() >= 40 {
            break;
        }
    }
    let slug = slug.trim_end_matches('_');
    let slug = if slug.is_empty() { "revision" } else { slug };
    format!("{n:04}_{slug}.sql")
}

/// The current time as `YYYY-MM-DD HH:MM:SS UTC`.
fn now_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn header(id: &str, parent: Option<&str>, message: &str, dialect: &str) -> String {
    let message: String = message
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    format!(
        "{MAGIC}\n-- id: {id}\n-- parent: {}\n-- message: {}\n-- dialect: {dialect}\n-- created: {}\n",
        parent.unwrap_or("none"),
        message.trim(),
        now_utc()
    )
}

/// Comment lines, each starting with `-- `.
fn comment(out: &mut String, text: &str) {
    for line in text.lines() {
        out.push_str("-- ");
        out.push_str(line);
        out.push('\n');
    }
}

/// The text of an autogenerated revision.
fn revision_text(
    id: &str,
    parent: Option<&str>,
    message: &str,
    dialect: &crate::backend::Dialect,
    ops: &[Op],
    up: &Rendered,
    down: &Rendered,
) -> Result<String> {
    let mut out = header(id, parent, message, dialect.name());
    out.push_str(
        "--\n-- Generated by `db revision --autogenerate`, comparing the models with the\n\
         -- database. Review it before applying it: the SQL below is what runs, in one\n\
         -- transaction (a failure leaves the database as it was).\n--\n-- Changes:\n",
    );
    for op in ops {
        let _ = writeln!(out, "--   * {op}");
    }
    let review = review_notes(ops);
    if !review.is_empty() {
        out.push_str("--\n-- Review:\n");
        for note in review {
            let mut first = true;
            for line in wrap(&note, 72) {
                let _ = writeln!(out, "--   {} {line}", if first { "*" } else { " " });
                first = false;
            }
        }
    }
    for (name, section) in [("upgrade", up), ("downgrade", down)] {
        let _ = write!(out, "\n-- orm:{name}");
        if section.foreign_keys_off {
            out.push_str(" foreign_keys=off");
        }
        out.push('\n');
        for chunk in &section.chunks {
            out.push('\n');
            for c in &chunk.comments {
                comment(&mut out, c);
            }
            for stmt in &chunk.statements {
                let w = writer::write(stmt, dialect)?;
                out.push_str(&w.sql);
                out.push_str(";\n");
            }
        }
    }
    Ok(out)
}

/// What a reviewer must decide: renames that look like a drop and an add,
/// data that is lost, differences left to write by hand.
fn review_notes(ops: &[Op]) -> Vec<String> {
    let mut notes = Vec::new();
    let mut tables: Vec<&str> = ops.iter().map(Op::table).collect();
    tables.dedup();
    for table in tables {
        let dropped: Vec<&str> = ops
            .iter()
            .filter_map(|o| match o {
                Op::DropColumn { table: t, column } if t == table => Some(column.name.as_str()),
                _ => None,
            })
            .collect();
        let added: Vec<&str> = ops
            .iter()
            .filter_map(|o| match o {
                Op::AddColumn { table: t, column } if t == table => Some(column.name.as_str()),
                _ => None,
            })
            .collect();
        if !dropped.is_empty() && !added.is_empty() {
            notes.push(format!(
                "\"{table}\" drops column(s) {} and adds {}. A rename cannot be told from a drop and an add: if \"{}\" was renamed to \"{}\", replace both with ALTER TABLE \"{table}\" RENAME COLUMN \"{}\" TO \"{}\" (and the reverse under downgrade), or its values are lost.",
                dropped.join(", "),
                added.join(", "),
                dropped[0],
                added[0],
                dropped[0],
                added[0]
            ));
        }
    }
    let dropped: Vec<&str> = ops
        .iter()
        .filter_map(|o| match o {
            Op::DropTable { table } => Some(table.name.as_str()),
            _ => None,
        })
        .collect();
    let created: Vec<&str> = ops
        .iter()
        .filter_map(|o| match o {
            Op::CreateTable { table } => Some(table.name.as_str()),
            _ => None,
        })
        .collect();
    if let (Some(d), Some(c)) = (dropped.first(), created.first()) {
        notes.push(format!(
            "tables {} are dropped and {} created. If \"{d}\" was renamed to \"{c}\", replace the drop and the create with ALTER TABLE \"{d}\" RENAME TO \"{c}\" (and the reverse under downgrade), or its rows are lost.",
            dropped.join(", "),
            created.join(", ")
        ));
    }
    for op in ops {
        if let Some(why) = op.loses_data() {
            notes.push(format!("loses data: {why}."));
        }
        if let Op::Unsupported { .. } = op {
            notes.push(format!("{op}."));
        }
    }
    notes
}

fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

impl Database {
    /// The live schema, read on a pooled connection.
    pub(crate) fn live_schema(&self) -> Result<Schema> {
        let mut conn = self.connection()?;
        reflect::read(&mut conn, &self.inner.observer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_and_ids() {
        assert_eq!(
            file_name(2, "Add e-mail (users)"),
            "0002_add_e_mail_users.sql"
        );
        assert_eq!(file_name(1, "!!!"), "0001_revision.sql");
        let (a, b) = (new_id(), new_id());
        assert_eq!(a.len(), 12);
        assert_ne!(a, b);
        assert!(now_utc().ends_with(" UTC"));
    }

    #[test]
    fn referenced_tables_are_read_from_statements() {
        assert_eq!(
            referenced_table(
                r#"ALTER TABLE "c" ADD CONSTRAINT "x" FOREIGN KEY("p_id") REFERENCES "pet ""h""" ("id")"#
            ),
            Some(r#"pet "h""#.to_owned())
        );
        assert_eq!(referenced_table("SELECT 1"), None);
    }
}
