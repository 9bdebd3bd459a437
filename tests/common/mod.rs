//! Shared fixtures: the models of the two tutorials, temporary databases,
//! and a schema reader for comparing DDL.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::Path;

use orm::prelude::*;

/// Models of seed 000 (Flask + SQLAlchemy walkthrough).
pub mod users {
    use orm::prelude::*;

    #[derive(Model, Debug, Default, Clone, PartialEq)]
    pub struct User {
        #[orm(primary_key)]
        pub id: i64,
        #[orm(max_length = 50, unique)]
        pub username: String,
        #[orm(max_length = 120, unique)]
        pub email: String,
    }
}

/// The registration form's model of seed 003.
pub mod registration {
    use orm::prelude::*;

    #[derive(Model, Debug, Default, Clone, PartialEq)]
    pub struct User {
        #[orm(primary_key)]
        pub id: i64,
        #[orm(max_length = 100)]
        pub username: String,
        #[orm(max_length = 100)]
        pub user_email: String,
        #[orm(max_length = 150)]
        pub user_password: String,
    }
}

/// The pet management models of seed 003, with the tutorial's intent (the
/// foreign key points at `pet_handler`, the table Flask-SQLAlchemy really
/// creates) and its relationship with a `pet_handler` backref.
pub mod pets {
    use orm::prelude::*;

    #[derive(Model, Debug, Default, Clone, PartialEq)]
    #[orm(has_many(pet_category = PetCategory, backref = "pet_handler"))]
    pub struct PetHandler {
        #[orm(primary_key)]
        pub handler_id: i64,
        #[orm(max_length = 150)]
        pub handler_name: String,
    }

    #[derive(Model, Debug, Default, Clone, PartialEq)]
    pub struct PetCategory {
        #[orm(primary_key)]
        pub pet_id: i64,
        #[orm(max_length = 100)]
        pub pet_name: String,
        #[orm(max_length = 50)]
        pub pet_category: String,
        #[orm(foreign_key = PetHandler::handler_id)]
        pub handler_id: i64,
    }

    #[derive(Model, Debug, Default, Clone, PartialEq)]
    pub struct PetComment {
        #[orm(primary_key)]
        pub comment_id: i64,
        #[orm(max_length = 200)]
        pub comment_content: String,
    }
}

/// A temporary directory and a `sqlite:///` URL for a file inside it.
pub fn temp_db(name: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite:///{}", dir.path().join(name).display());
    (dir, url)
}

/// The path behind a `sqlite:///` URL made by [`temp_db`].
pub fn path_of(url: &str) -> &Path {
    Path::new(url.strip_prefix("sqlite:///").expect("file URL"))
}

/// What `PRAGMA table_info`, `index_list` and `foreign_key_list` say about
/// one table, normalized so two equivalent DDLs compare equal.
#[derive(Debug, PartialEq, Eq)]
pub struct TableShape {
    /// (name, declared type, not null, position in primary key)
    pub columns: Vec<(String, String, bool, i64)>,
    /// (columns, unique)
    pub indexes: BTreeSet<(Vec<String>, bool)>,
    /// (columns, referenced table, referenced columns, on delete)
    pub foreign_keys: BTreeSet<(Vec<String>, String, Vec<String>, String)>,
}

pub fn table_shape(conn: &rusqlite::Connection, table: &str) -> TableShape {
    let mut stmt = conn
        .prepare(
            "SELECT name, upper(type), \"notnull\", pk FROM pragma_table_info(?1) ORDER BY cid",
        )
        .unwrap();
    let columns = stmt
        .query_map([table], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let mut stmt = conn
        .prepare("SELECT name, \"unique\", origin FROM pragma_index_list(?1)")
        .unwrap();
    let index_names: Vec<(String, bool, String)> = stmt
        .query_map([table], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut indexes = BTreeSet::new();
    for (name, unique, origin) in index_names {
        // The implicit index of a non-rowid primary key is not a UNIQUE clause.
        if origin == "pk" {
            continue;
        }
        let mut stmt = conn
            .prepare("SELECT name FROM pragma_index_info(?1) ORDER BY seqno")
            .unwrap();
        let cols = stmt
            .query_map([&name], |r| r.get::<_, String>(0))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        indexes.insert((cols, unique));
    }
    let mut stmt = conn
        .prepare("SELECT id, \"from\", \"table\", \"to\", on_delete FROM pragma_foreign_key_list(?1) ORDER BY id, seq")
        .unwrap();
    let rows: Vec<(i64, String, String, String, String)> = stmt
        .query_map([table], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut foreign_keys = BTreeSet::new();
    let mut ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    ids.dedup();
    for id in ids {
        let part: Vec<_> = rows.iter().filter(|r| r.0 == id).collect();
        foreign_keys.insert((
            part.iter().map(|r| r.1.clone()).collect(),
            part[0].2.clone(),
            part.iter().map(|r| r.3.clone()).collect(),
            part[0].4.clone(),
        ));
    }
    TableShape {
        columns,
        indexes,
        foreign_keys,
    }
}

/// The user tables of a database, sorted.
pub fn table_names(conn: &rusqlite::Connection) -> Vec<String> {
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// SQLite's type affinity of a declared type (section 3.1 of its docs).
pub fn affinity(declared: &str) -> &'static str {
    let t = declared.to_ascii_uppercase();
    if t.contains("INT") {
        "INTEGER"
    } else if t.contains("CHAR") || t.contains("CLOB") || t.contains("TEXT") {
        "TEXT"
    } else if t.contains("BLOB") || t.is_empty() {
        "BLOB"
    } else if t.contains("REAL") || t.contains("FLOA") || t.contains("DOUB") {
        "REAL"
    } else {
        "NUMERIC"
    }
}

// The backend under test. The backend-neutral suites (session, query,
// relationships, examples, the state machine, concurrency) run on SQLite,
// and again on PostgreSQL when `ORM_TEST_DATABASE_URL` names a server and
// the tests are built with `--features postgres` (CI does both): the same
// test code, as SQLAlchemy runs one suite per backend.

/// The PostgreSQL server under test, if any.
pub fn postgres_url() -> Option<String> {
    let url = std::env::var("ORM_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())?;
    if cfg!(not(feature = "postgres")) {
        panic!("ORM_TEST_DATABASE_URL is set but the tests were built without --features postgres");
    }
    Some(url)
}

/// Whether the suites run on PostgreSQL.
pub fn is_postgres() -> bool {
    postgres_url().is_some()
}

/// For a test that needs a PostgreSQL server: the server's URL, or `None`
/// after printing why the test is skipped. CI runs the tests twice, on
/// SQLite without the `postgres` feature and on its server with it: in
/// the second pass (`CI=true`, built with `--features postgres`) a missing
/// server fails the test instead of skipping it.
pub fn require_postgres(test: &str) -> Option<String> {
    if let Some(url) = postgres_url() {
        return Some(url);
    }
    let why = if cfg!(feature = "postgres") {
        "ORM_TEST_DATABASE_URL is not set"
    } else {
        "the tests were built without --features postgres"
    };
    assert!(
        !(cfg!(feature = "postgres") && std::env::var("CI").as_deref() == Ok("true")),
        "{test}: a PostgreSQL test was skipped in CI ({why})"
    );
    // Straight to stderr, past libtest's capture: the skip shows in the
    // output of a plain `cargo test`. One write, so that libtest's output of
    // tests running in parallel cannot land inside the line (.ci/run counts
    // these lines).
    use std::io::Write;
    let line = format!("skipped {test}: needs a PostgreSQL server ({why}; .ci/run starts one)\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
    None
}

/// A URL of a new, empty database of the backend under test: SQLite in
/// memory, or a new schema of the PostgreSQL database (on its search path).
pub fn fresh_url() -> String {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    let Some(base) = postgres_url() else {
        return "sqlite://".into();
    };
    static ADMIN: OnceLock<Database> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    static STARTED: OnceLock<u128> = OnceLock::new();
    let admin = ADMIN.get_or_init(|| Database::open(&base).expect("the test server"));
    // The clock as well as the process id: process ids come back, and a
    // long-lived server keeps the schemas of earlier runs.
    let started = *STARTED.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() % 1_000_000_000_000)
    });
    let schema = format!(
        "t{}_{started}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let s = admin.session();
    // Raw SQL must be 'static: a test may leak a few bytes.
    let sql: &'static str = Box::leak(format!("CREATE SCHEMA \"{schema}\"").into_boxed_str());
    s.execute(sql, &[]).expect("create schema");
    s.commit().expect("commit");
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options=-c%20search_path%3D{schema}")
}

/// Open `builder` on a new database of the backend under test.
pub fn open(builder: orm::DatabaseBuilder) -> Database {
    builder.open(&fresh_url()).expect("open")
}

/// Open a database with a session and the given models' tables.
pub fn fresh<M: Model>() -> Database {
    let db = open(Database::builder().model::<M>());
    db.create_all().expect("create_all");
    db
}

/// `sql`, written as SQLite runs it, as the backend under test runs it:
/// PostgreSQL numbers its placeholders, begins with a plain `BEGIN` and
/// writes TRUE for 1.
pub fn sql(sqlite: &str) -> String {
    if !is_postgres() {
        return sqlite.to_owned();
    }
    if sqlite == "BEGIN IMMEDIATE" {
        return "BEGIN".into();
    }
    // The constant of an EXISTS subquery is the dialect's TRUE.
    let sqlite = sqlite.replace("EXISTS (SELECT 1 FROM", "EXISTS (SELECT TRUE FROM");
    let sqlite = sqlite.as_str();
    let mut out = String::with_capacity(sqlite.len() + 8);
    let mut n = 0;
    let mut quoted = false;
    for c in sqlite.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                out.push(c);
            }
            '?' if !quoted => {
                n += 1;
                out.push_str(&format!("${n}"));
            }
            _ => out.push(c),
        }
    }
    out
}

/// [`sql`] of each statement.
pub fn sqls<const N: usize>(sqlite: [&str; N]) -> Vec<String> {
    sqlite.iter().map(|s| sql(s)).collect()
}
