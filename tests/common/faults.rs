//! The fault-injection harness shared by `reliability_faults.rs` (busy,
//! disk full, interrupt at VM step k, commit refused, I/O errors in a child
//! process) and `reliability_faults_oom.rs` (the process-global heap limit).
//!
//! For each scenario a base database is prepared once and its "before" and
//! "after" fingerprints recorded. Each injected fault then runs the
//! scenario's unit of work on a fresh copy of the base, and checks:
//! - the error is a typed `orm::Error` (never a panic);
//! - the database is exactly as before, or, only when COMMIT reported that
//!   its outcome is unknown, exactly as after;
//! - `integrity_check` and `foreign_key_check` pass;
//! - the same session, after `rollback()`, redoes the work to "after".
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use orm::prelude::*;
use orm::{Error, JournalMode};

pub mod models {
    use orm::prelude::*;

    #[derive(Model, Debug, Default, Clone)]
    #[orm(has_many(books = Book, backref = "author", cascade = "all, delete-orphan"))]
    pub struct Author {
        #[orm(primary_key)]
        pub id: i64,
        pub name: String,
    }

    #[derive(Model, Debug, Default, Clone)]
    #[orm(has_many(chapters = Chapter, backref = "book", cascade = "all"))]
    #[orm(many_to_many(tags = Tag, secondary = BookTag, backref = "books"))]
    pub struct Book {
        #[orm(primary_key)]
        pub id: i64,
        pub title: String,
        pub pages: i64,
        #[orm(foreign_key = Author::id)]
        pub author_id: i64,
    }

    #[derive(Model, Debug, Default, Clone)]
    pub struct Chapter {
        #[orm(primary_key)]
        pub id: i64,
        pub heading: String,
        #[orm(foreign_key = Book::id)]
        pub book_id: i64,
    }

    #[derive(Model, Debug, Default, Clone)]
    pub struct Tag {
        #[orm(primary_key)]
        pub id: i64,
        #[orm(unique)]
        pub name: String,
    }

    #[derive(Model, Debug, Default, Clone)]
    pub struct BookTag {
        #[orm(primary_key, foreign_key = Book::id)]
        pub book_id: i64,
        #[orm(primary_key, foreign_key = Tag::id)]
        pub tag_id: i64,
    }

    #[derive(Model, Debug, Default, Clone)]
    #[orm(has_many(reports = Employee, backref = "manager"))]
    pub struct Employee {
        #[orm(primary_key)]
        pub id: i64,
        pub name: String,
        #[orm(foreign_key = Employee::id)]
        pub manager_id: Option<i64>,
    }

    #[derive(Model, Debug, Default, Clone)]
    #[orm(has_one(profile = Profile, backref = "owner"))]
    pub struct Member {
        #[orm(primary_key)]
        pub id: i64,
        pub name: String,
    }

    #[derive(Model, Debug, Default, Clone)]
    pub struct Profile {
        #[orm(primary_key)]
        pub id: i64,
        #[orm(foreign_key = Member::id, unique)]
        pub member_id: Option<i64>,
        pub bio: String,
    }
}

use models::*;

pub type Work = fn(&Session) -> orm::Result<()>;

/// A unit of work run under faults: `setup` makes the base (committed),
/// `work` does the scenario and commits.
pub struct Scenario {
    pub name: &'static str,
    pub setup: Work,
    pub work: Work,
}

fn author(name: &str) -> Author {
    Author {
        name: name.into(),
        ..Default::default()
    }
}

fn book(title: &str, pages: i64) -> Obj<Book> {
    Obj::new(Book {
        title: title.into(),
        pages,
        ..Default::default()
    })
}

fn chapter(heading: &str) -> Obj<Chapter> {
    Obj::new(Chapter {
        heading: heading.into(),
        ..Default::default()
    })
}

fn base(s: &Session) -> orm::Result<()> {
    for a in 0..3 {
        let au = s.add(author(&format!("author {a}")))?;
        for b in 0..3 {
            let bk = book(&format!("a{a} book {b}"), 100 + b);
            au.append(Author::books, &bk)?;
            for c in 0..2 {
                bk.append(Book::chapters, &chapter(&format!("a{a}b{b}c{c}")))?;
            }
        }
    }
    for t in ["novel", "poetry", "essay"] {
        s.add(Tag {
            name: t.into(),
            ..Default::default()
        })?;
    }
    let boss = s.add(Employee {
        name: "boss".into(),
        ..Default::default()
    })?;
    let lead = Obj::new(Employee {
        name: "lead".into(),
        ..Default::default()
    });
    boss.append(Employee::reports, &lead)?;
    let m = s.add(Member {
        name: "ann".into(),
        ..Default::default()
    })?;
    m.set_related(
        Member::profile,
        Some(&Obj::new(Profile {
            bio: "first".into(),
            ..Default::default()
        })),
    )?;
    s.commit()
}

/// The dozen scenarios.
pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "new graph",
            setup: base,
            work: |s| {
                let au = s.add(author("new"))?;
                for b in 0..3 {
                    let bk = book(&format!("new book {b}"), b);
                    au.append(Author::books, &bk)?;
                    bk.append(Book::chapters, &chapter("one"))?;
                    bk.append(Book::chapters, &chapter("two"))?;
                }
                s.commit()
            },
        },
        Scenario {
            name: "update",
            setup: base,
            work: |s| {
                for b in s.query::<Book>().filter(Book::pages.ge(101)).all()? {
                    b.write()?.pages += 1000;
                }
                s.get_or_not_found::<Author>(1)?.write()?.name = "renamed".into();
                s.commit()
            },
        },
        Scenario {
            name: "delete with cascade",
            setup: base,
            work: |s| {
                let a = s.get_or_not_found::<Author>(2)?;
                s.delete(&a)?;
                s.commit()
            },
        },
        Scenario {
            name: "delete-orphan",
            setup: base,
            work: |s| {
                let a = s.get_or_not_found::<Author>(1)?;
                let books = a.related(Author::books)?;
                a.remove(Author::books, &books[0])?;
                s.commit()
            },
        },
        Scenario {
            name: "many-to-many",
            setup: base,
            work: |s| {
                let tags = s.query::<Tag>().order_by(Tag::id).all()?;
                for b in s.query::<Book>().filter(Book::id.le(4)).all()? {
                    for t in &tags {
                        b.append(Book::tags, t)?;
                    }
                }
                s.flush()?;
                let b1 = s.get_or_not_found::<Book>(1)?;
                b1.remove(Book::tags, &tags[0])?;
                s.commit()
            },
        },
        Scenario {
            name: "self-referential",
            setup: base,
            work: |s| {
                let lead = s.get_or_not_found::<Employee>(2)?;
                let mut prev = lead;
                for i in 0..4 {
                    let e = Obj::new(Employee {
                        name: format!("dev {i}"),
                        ..Default::default()
                    });
                    prev.append(Employee::reports, &e)?;
                    prev = e;
                }
                s.commit()
            },
        },
        Scenario {
            name: "mixed insert update delete",
            setup: base,
            work: |s| {
                s.add(author("extra"))?;
                s.get_or_not_found::<Chapter>(3)?.write()?.heading = "changed".into();
                let c = s.get_or_not_found::<Chapter>(4)?;
                s.delete(&c)?;
                s.commit()
            },
        },
        Scenario {
            name: "two flushes then commit",
            setup: base,
            work: |s| {
                let a = s.add(author("first flush"))?;
                s.flush()?;
                a.append(Author::books, &book("second flush", 7))?;
                s.flush()?;
                s.get_or_not_found::<Tag>(1)?.write()?.name = "fiction".into();
                s.commit()
            },
        },
        Scenario {
            name: "re-parent",
            setup: base,
            work: |s| {
                let to = s.get_or_not_found::<Author>(3)?;
                for b in s.query::<Book>().filter(Book::author_id.eq(1)).all()? {
                    b.set_related(Book::author, Some(&to))?;
                }
                s.commit()
            },
        },
        Scenario {
            name: "bulk update",
            setup: base,
            work: |s| {
                s.query::<Book>()
                    .filter(Book::pages.lt(102))
                    .update([Book::pages.set(1)])?;
                s.commit()
            },
        },
        Scenario {
            name: "many rows",
            setup: base,
            work: |s| {
                let au = s.add(author("prolific"))?;
                for b in 0..60 {
                    au.append(
                        Author::books,
                        &book(&format!("{b:03} {}", "x".repeat(200)), b),
                    )?;
                }
                s.commit()
            },
        },
        Scenario {
            name: "one-to-one replace",
            setup: base,
            work: |s| {
                let m = s.get_or_not_found::<Member>(1)?;
                m.set_related(
                    Member::profile,
                    Some(&Obj::new(Profile {
                        bio: "second".into(),
                        ..Default::default()
                    })),
                )?;
                s.commit()
            },
        },
    ]
}

/// Every table's rows, canonically ordered: equal fingerprints, equal data.
pub fn fingerprint(conn: &rusqlite::Connection) -> String {
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut out = String::new();
    for t in tables {
        let sql = format!("SELECT * FROM \"{t}\" ORDER BY 1, 2");
        let mut stmt = conn.prepare(&sql).unwrap();
        let n = stmt.column_count();
        let rows = stmt
            .query_map([], |r| {
                (0..n)
                    .map(|i| {
                        r.get::<_, rusqlite::types::Value>(i)
                            .map(|v| format!("{v:?}"))
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .unwrap();
        out.push_str(&t);
        out.push('\n');
        for row in rows {
            out.push_str(&row.unwrap().join("|"));
            out.push('\n');
        }
    }
    out
}

/// The lines only in `expected` (-) and only in `observed` (+).
pub fn diff(expected: &str, observed: &str) -> String {
    let e: Vec<&str> = expected.lines().collect();
    let o: Vec<&str> = observed.lines().collect();
    let mut out = String::new();
    for l in &e {
        if !o.contains(l) {
            out.push_str(&format!("- {l}\n"));
        }
    }
    for l in &o {
        if !e.contains(l) {
            out.push_str(&format!("+ {l}\n"));
        }
    }
    out
}

pub fn check_database(path: &Path) -> Result<(), String> {
    let conn = rusqlite::Connection::open(path).map_err(|e| e.to_string())?;
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(|e| e.to_string())?;
    if ok != "ok" {
        return Err(format!("integrity_check: {ok}"));
    }
    let fk: i64 = conn
        .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .map_err(|e| e.to_string())?;
    if fk != 0 {
        return Err(format!("foreign_key_check: {fk} problems"));
    }
    Ok(())
}

pub fn open(path: &Path, busy: Duration, mode: JournalMode) -> Database {
    Database::builder()
        .model::<Author>()
        .model::<Tag>()
        .model::<BookTag>()
        .model::<Employee>()
        .model::<Member>()
        .busy_timeout(busy)
        .synchronous(orm::Synchronous::Normal)
        .journal_mode(mode)
        .open(&format!("sqlite:///{}", path.display()))
        .unwrap()
}

/// The base database of a scenario, and the fingerprints before and after
/// its work.
pub struct Prepared {
    pub dir: tempfile::TempDir,
    pub base: Vec<u8>,
    pub before: String,
    pub after: String,
}

impl Prepared {
    /// A fresh copy of the base at a new path.
    pub fn fresh(&self, n: u64) -> PathBuf {
        let path = self.dir.path().join(format!("run{n}.db"));
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        std::fs::write(&path, &self.base).unwrap();
        path
    }
}

pub fn prepare(sc: &Scenario) -> Prepared {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("base.db");
    {
        let db = open(&path, Duration::from_secs(5), JournalMode::Wal);
        db.create_all().unwrap();
        (sc.setup)(&db.session()).unwrap();
    }
    // One self-contained file (no WAL) to copy for every run.
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode = DELETE;")
            .unwrap();
    }
    let base = std::fs::read(&path).unwrap();
    let before = fingerprint(&rusqlite::Connection::open(&path).unwrap());
    let p = Prepared {
        dir,
        base,
        before,
        after: String::new(),
    };
    let run = p.fresh(u64::MAX);
    {
        let db = open(&run, Duration::from_secs(5), JournalMode::Wal);
        (sc.work)(&db.session()).unwrap();
    }
    let after = fingerprint(&rusqlite::Connection::open(&run).unwrap());
    assert_ne!(p.before, after, "{}: the work changes something", sc.name);
    Prepared { after, ..p }
}

/// How one injected fault ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The work ran past every fault point: the loop is done.
    Passed,
    /// A typed error, the database as before, redone to "after".
    RolledBack,
    /// COMMIT's outcome unknown and it had committed: "after", objects expired.
    CommittedAnyway,
}

/// Errors a fault may produce: all typed; `Usage`, `Schema` and the like
/// would mean the fault was mishandled.
pub fn is_fault_error(e: &Error) -> bool {
    matches!(
        e,
        Error::Sqlite { .. }
            | Error::Busy { .. }
            | Error::Constraint { .. }
            | Error::CommitOutcomeUnknown { .. }
            | Error::Pool(_)
    )
}

/// The error's variant and SQLite code, e.g. `Sqlite(DiskFull)`.
pub fn error_label(e: &Error) -> String {
    let variant = format!("{e:?}");
    let variant = variant
        .split([' ', '(', '{'])
        .next()
        .unwrap_or("")
        .to_string();
    let code = match e {
        Error::Constraint { source, .. }
        | Error::Busy { source }
        | Error::CommitOutcomeUnknown { source }
        | Error::Sqlite { source, .. } => match source.downcast_ref::<rusqlite::Error>() {
            Some(rusqlite::Error::SqliteFailure(f, _)) => format!("{:?}", f.code),
            _ => format!("{source}"),
        },
        _ => String::new(),
    };
    format!("{variant}({code})")
}

/// Run the work on `path` with `inject` applied to the session's
/// connection first (and `clear` after), and check every invariant.
pub fn run_with_fault(
    sc: &Scenario,
    p: &Prepared,
    path: &Path,
    busy: Duration,
    mode: JournalMode,
    inject: &dyn Fn(&mut rusqlite::Connection),
    clear: &dyn Fn(&mut rusqlite::Connection),
) -> Result<(Outcome, Option<String>), String> {
    let db = open(path, busy, mode);
    let s = db.session();
    s.with_connection(inject).map_err(|e| e.to_string())?;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (sc.work)(&s)));
    let _ = s.with_connection(clear);
    let result = result.map_err(|_| format!("{}: panic under a fault", sc.name))?;
    let observed = fingerprint(&rusqlite::Connection::open(path).map_err(|e| e.to_string())?);
    match result {
        Ok(()) => {
            if observed != p.after {
                return Err(format!(
                    "{}: succeeded but the data differs\n{}",
                    sc.name,
                    diff(&p.after, &observed)
                ));
            }
            check_database(path)?;
            Ok((Outcome::Passed, None))
        }
        Err(e) => {
            if !is_fault_error(&e) {
                return Err(format!(
                    "{}: untyped or wrong error under a fault: {e:?}",
                    sc.name
                ));
            }
            let unknown = matches!(e, Error::CommitOutcomeUnknown { .. });
            if unknown {
                // Until rollback, nothing can be written: a careless retry
                // must not look like a success.
                for (what, r) in [("commit", s.commit()), ("flush", s.flush())] {
                    if !matches!(r, Err(Error::NeedsRollback { .. })) {
                        return Err(format!(
                            "{}: {what} after an unknown commit outcome gave {r:?}",
                            sc.name
                        ));
                    }
                }
            }
            check_database(path)?;
            if observed == p.after && unknown {
                // Committed despite the error: the session must have
                // expired its objects and still work.
                s.rollback().map_err(|e| e.to_string())?;
                s.query::<Author>().count().map_err(|e| e.to_string())?;
                return Ok((Outcome::CommittedAnyway, Some(error_label(&e))));
            }
            if observed != p.before {
                return Err(format!(
                    "{}: partial data after {e:?}\n{}",
                    sc.name,
                    diff(&p.before, &observed)
                ));
            }
            // Usable again: roll back and redo the same work.
            s.rollback()
                .map_err(|e| format!("rollback after {e}: {e:?}"))?;
            (sc.work)(&s).map_err(|e2| format!("{}: redo after {e:?} failed: {e2:?}", sc.name))?;
            let redone = fingerprint(&rusqlite::Connection::open(path).map_err(|e| e.to_string())?);
            if redone != p.after {
                return Err(format!(
                    "{}: redo after {e:?} gave other data\n{}",
                    sc.name,
                    diff(&p.after, &redone)
                ));
            }
            check_database(path)?;
            Ok((Outcome::RolledBack, Some(error_label(&e))))
        }
    }
}

/// Tallies of one fault kind, printed as the test's figures line.
#[derive(Default)]
pub struct Tally {
    injected: u64,
    rolled_back: u64,
    committed_anyway: u64,
    passed: u64,
    errors: std::collections::BTreeMap<String, u64>,
    failures: Vec<String>,
}

impl Tally {
    pub fn record(&mut self, r: Result<(Outcome, Option<String>), String>) -> Option<Outcome> {
        match r {
            Ok((o, label)) => {
                if let Some(label) = label {
                    *self.errors.entry(label).or_default() += 1;
                }
                match o {
                    Outcome::Passed => self.passed += 1,
                    Outcome::RolledBack => {
                        self.injected += 1;
                        self.rolled_back += 1
                    }
                    Outcome::CommittedAnyway => {
                        self.injected += 1;
                        self.committed_anyway += 1
                    }
                }
                Some(o)
            }
            Err(e) => {
                self.injected += 1;
                self.failures.push(e);
                None
            }
        }
    }

    /// The figures line of this tally.
    pub fn line(&self, what: &str) -> String {
        format!(
            "{what}: {} faults injected, {} rolled back and redone, {} committed despite the \
             error, {} runs past every fault point, {} invariant violations; errors: {:?}",
            self.injected,
            self.rolled_back,
            self.committed_anyway,
            self.passed,
            self.failures.len(),
            self.errors
        )
    }

    /// Add another tally's counts and failures to this one.
    pub fn merge(&mut self, other: Tally) {
        self.injected += other.injected;
        self.rolled_back += other.rolled_back;
        self.committed_anyway += other.committed_anyway;
        self.passed += other.passed;
        for (k, v) in other.errors {
            *self.errors.entry(k).or_default() += v;
        }
        self.failures.extend(other.failures);
    }

    /// Report the closing figures line and fail on any invariant violation.
    pub fn finish(self, what: &str) {
        crate::figures::report(&self.line(what));
        assert!(self.failures.is_empty(), "{}", self.failures.join("\n\n"));
    }
}

/// A counter shared with a hook closure.
pub fn counter() -> Arc<AtomicU64> {
    Arc::new(AtomicU64::new(0))
}

pub fn bump(c: &AtomicU64) -> u64 {
    c.fetch_add(1, Ordering::Relaxed) + 1
}
