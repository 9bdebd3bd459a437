//! `Database::open` URL forms, bad URLs, and what every connection is set up
//! with.

mod common;

use common::{temp_db, users::User};
use orm::prelude::*;

fn pragma_i64(db: &Database, sql: &'static str) -> i64 {
    let rows: Vec<i64> = db.session().raw_tuples(sql, &[]).unwrap();
    rows[0]
}

#[test]
fn relative_url_opens_a_file_in_the_current_directory() {
    // The only test in this binary that uses the working directory.
    let dir = tempfile::tempdir().unwrap();
    let before = std::env::current_dir().unwrap();
    std::env::set_current_dir(dir.path()).unwrap();
    let result = (|| {
        let db = Database::builder()
            .model::<User>()
            .open("sqlite:///relative.db")?;
        db.create_all()
    })();
    std::env::set_current_dir(before).unwrap();
    result.unwrap();
    assert!(dir.path().join("relative.db").exists());
}

#[test]
fn absolute_url_opens_that_file() {
    let (dir, url) = temp_db("abs.db");
    assert!(url.starts_with("sqlite:////"));
    let db = Database::builder().model::<User>().open(&url).unwrap();
    db.create_all().unwrap();
    let s = db.session();
    s.add(User {
        username: "ann".into(),
        email: "a@x".into(),
        ..Default::default()
    })
    .unwrap();
    s.commit().unwrap();
    drop((s, db));
    let conn = rusqlite::Connection::open(dir.path().join("abs.db")).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM user", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);
}

#[test]
fn memory_urls_give_private_databases_shared_by_their_sessions() {
    for url in ["sqlite://", "sqlite:///:memory:", "sqlite:///"] {
        let a = Database::builder().model::<User>().open(url).unwrap();
        let b = Database::builder().model::<User>().open(url).unwrap();
        assert!(a.is_memory());
        a.create_all().unwrap();
        let s = a.session();
        s.add(User {
            username: "ann".into(),
            email: "a@x".into(),
            ..Default::default()
        })
        .unwrap();
        s.commit().unwrap();
        // Another session (another pooled connection) sees the row...
        assert_eq!(a.session().query::<User>().count().unwrap(), 1);
        // ...another Database does not even have the table.
        assert!(b.session().query::<User>().count().is_err());
    }
}

#[test]
fn bad_urls_are_typed_errors_that_say_why() {
    let bad = [
        ("", "empty"),
        ("app.db", "missing scheme"),
        ("postgresql+jdbc://localhost/app", "unsupported driver"),
        ("mysql+pymysql://u:p@h/db", "unsupported scheme"),
        ("sqlite+pysqlite:///app.db", "unsupported driver"),
        ("sqlite:/app.db", "expected `//`"),
        ("sqlite:app.db", "expected `//`"),
        ("sqlite://localhost/app.db", "host"),
        ("sqlite:///app.db?mode=ro", "query parameters"),
        ("sqlite:///app.db#frag", "fragment"),
        ("sqlite:///some/dir/", "directory"),
        ("sqlite:///100%.db", "percent-escape"),
        ("sqlite:///nul%00byte.db", "NUL"),
        ("  sqlite:///app.db", "whitespace"),
    ];
    for (url, why) in bad {
        match Database::open(url) {
            Err(orm::Error::InvalidUrl { reason, url: shown }) => {
                assert!(reason.contains(why), "{url:?}: {reason}");
                assert_eq!(shown, url);
            }
            other => panic!("{url:?} gave {other:?}"),
        }
    }
}

/// A PostgreSQL URL is refused with the fix when the backend is not built
/// in, and a bad one never shows its password, in the message or the URL.
#[test]
fn postgres_urls_never_show_their_password() {
    #[cfg(not(feature = "postgres"))]
    match Database::open("postgresql://ann:s3cret@localhost/app") {
        Err(orm::Error::InvalidUrl { reason, url }) => {
            assert!(reason.contains("`postgres` feature"), "{reason}");
            assert_eq!(url, "postgresql://ann:***@localhost/app");
        }
        other => panic!("{other:?}"),
    }
    for url in [
        "postgresql://ann:s3cret@localhost:notaport/app",
        "postgresql+psycopg2://ann:s3cret@localhost/app?sslmode=bogus",
        "postgresql://ann:s3cret@127.0.0.1:1/app?connect_timeout=2",
    ] {
        let err = Database::open(url).unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("s3cret"), "{url}: {shown}");
        #[cfg(feature = "postgres")]
        assert!(
            matches!(err, orm::Error::InvalidUrl { .. } | orm::Error::Open { .. }),
            "{err:?}"
        );
    }
}

#[test]
fn a_file_in_a_missing_directory_is_an_open_error() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite:///{}",
        dir.path().join("no/such/dir/app.db").display()
    );
    let err = Database::open(&url).unwrap_err();
    assert!(matches!(err, orm::Error::Open { .. }), "{err:?}");
    assert!(err.to_string().contains("no/such/dir/app.db"));
}

#[test]
fn every_connection_is_configured() {
    let (_dir, url) = temp_db("pragmas.db");
    let db = Database::builder()
        .busy_timeout(std::time::Duration::from_millis(1234))
        .pool_size(3)
        .open(&url)
        .unwrap();
    // Hold several sessions at once so several pooled connections exist.
    let sessions: Vec<Session> = (0..3).map(|_| db.session()).collect();
    for s in &sessions {
        let fk: Vec<i64> = s.raw_tuples("PRAGMA foreign_keys", &[]).unwrap();
        assert_eq!(fk, [1]);
        let timeout: Vec<i64> = s.raw_tuples("PRAGMA busy_timeout", &[]).unwrap();
        assert_eq!(timeout, [1234]);
        let mode: Vec<String> = s.raw_tuples("PRAGMA journal_mode", &[]).unwrap();
        assert_eq!(mode, ["wal"]);
        let sync: Vec<i64> = s.raw_tuples("PRAGMA synchronous", &[]).unwrap();
        assert_eq!(sync, [2], "synchronous = FULL");
        // Double-quoted strings are identifiers only: a typo is an error,
        // not a string constant.
        let err = s
            .raw_tuples::<String>("SELECT \"no_such_column\"", &[])
            .unwrap_err();
        assert!(err.to_string().contains("no_such_column"), "{err}");
    }
    // Sessions give their connections back when dropped.
    drop(sessions);
    assert_eq!(pragma_i64(&db, "PRAGMA foreign_keys"), 1);
}

#[test]
fn rollback_journal_can_be_chosen() {
    let (_dir, url) = temp_db("journal.db");
    let db = Database::builder()
        .journal_mode(orm::JournalMode::Delete)
        .synchronous(orm::Synchronous::Normal)
        .open(&url)
        .unwrap();
    let mode: Vec<String> = db.session().raw_tuples("PRAGMA journal_mode", &[]).unwrap();
    assert_eq!(mode, ["delete"]);
    assert_eq!(pragma_i64(&db, "PRAGMA synchronous"), 1);
}

/// WAL lasts in the file: orm sets it on files it creates, and leaves the
/// mode of a database another program made alone unless asked.
#[test]
fn only_new_files_are_switched_to_wal() {
    let (_dir, url) = temp_db("theirs.db");
    let path = common::path_of(&url);
    {
        let theirs = rusqlite::Connection::open(path).unwrap();
        theirs
            .execute_batch("CREATE TABLE note (id INTEGER PRIMARY KEY, body TEXT)")
            .unwrap();
    }
    let db = Database::open(&url).unwrap();
    assert_eq!(db.journal_mode(), orm::JournalMode::Delete);
    let s = db.session();
    s.execute("INSERT INTO note (body) VALUES ('hi')", &[])
        .unwrap();
    s.commit().unwrap();
    drop(s);
    drop(db);
    let mode: String = rusqlite::Connection::open(path)
        .unwrap()
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "delete", "the other program's file keeps its mode");

    // Asked for, WAL is set on any file.
    let db = Database::builder()
        .journal_mode(orm::JournalMode::Wal)
        .open(&url)
        .unwrap();
    assert_eq!(db.journal_mode(), orm::JournalMode::Wal);

    // A new file, and an empty one, get WAL.
    let (_dir2, new_url) = temp_db("new.db");
    assert_eq!(
        Database::open(&new_url).unwrap().journal_mode(),
        orm::JournalMode::Wal
    );
    let (_dir3, empty_url) = temp_db("empty.db");
    std::fs::write(common::path_of(&empty_url), b"").unwrap();
    assert_eq!(
        Database::open(&empty_url).unwrap().journal_mode(),
        orm::JournalMode::Wal
    );
    assert_eq!(
        Database::open("sqlite://").unwrap().journal_mode(),
        orm::JournalMode::Other
    );
}

#[test]
fn database_is_send_sync_and_clone() {
    fn check<T: Send + Sync + Clone>() {}
    check::<Database>();
}

#[test]
fn exhausted_pool_is_a_typed_error() {
    let db = Database::builder()
        .pool_size(1)
        .acquire_timeout(std::time::Duration::from_millis(50))
        .model::<User>()
        .open("sqlite://")
        .unwrap();
    db.create_all().unwrap();
    let holder = db.session();
    holder.query::<User>().count().unwrap(); // takes the only connection
    let err = db.session().query::<User>().count().unwrap_err();
    assert!(matches!(err, orm::Error::Pool(_)), "{err:?}");
    drop(holder);
    assert_eq!(db.session().query::<User>().count().unwrap(), 0);
}
