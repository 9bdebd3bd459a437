//! The session and unit of work: add, get, change, delete, flush, commit,
//! rollback, expire, autoflush, identity, failures and typed errors.

mod common;

use common::users::User;
use orm::prelude::*;
use orm::{ConstraintKind, Error};

fn db() -> Database {
    common::fresh::<User>()
}

/// Raw SQL written with SQLite's `?` placeholders, as the backend under
/// test takes it (raw SQL is `'static`: a test may leak a few bytes).
fn raw(sqlite: &'static str) -> &'static str {
    if common::is_postgres() {
        Box::leak(common::sql(sqlite).into_boxed_str())
    } else {
        sqlite
    }
}

/// Every stored user in key order, read by a new session.
fn stored_users(db: &Database) -> Vec<User> {
    db.session()
        .query::<User>()
        .order_by(User::id)
        .all_detached()
        .unwrap()
}

fn user(name: &str) -> User {
    User {
        username: name.into(),
        email: format!("{name}@example.com"),
        ..Default::default()
    }
}

/// `n` users `u0`, `u1`, ... committed by `s`, then loaded in key order.
fn committed_users(s: &Session, n: usize) -> Vec<Obj<User>> {
    s.add_all((0..n).map(|i| user(&format!("u{i}")))).unwrap();
    s.commit().unwrap();
    s.query::<User>().order_by(User::id).all().unwrap()
}

#[test]
fn add_and_commit_assign_the_generated_key() {
    let db = db();
    let s = db.session();
    let ann = s.add(user("ann")).unwrap();
    let bob = s.add(user("bob")).unwrap();
    assert_eq!(ann.read().unwrap().id, 0);
    assert_eq!(ann.state(), ObjState::Pending);
    s.commit().unwrap();
    assert_eq!(ann.read().unwrap().id, 1);
    assert_eq!(bob.read().unwrap().id, 2);
    assert_eq!(ann.state(), ObjState::Persistent);
    assert_eq!(ann.identity(), Some(1));
    // The rows are really there, seen by another session.
    let rows = stored_users(&db);
    assert_eq!(
        rows.iter()
            .map(|u| (u.id, u.username.as_str()))
            .collect::<Vec<_>>(),
        [(1, "ann"), (2, "bob")]
    );
}

#[test]
fn get_returns_the_very_same_object() {
    let db = db();
    let s = db.session();
    let added = s.add(user("ann")).unwrap();
    s.commit().unwrap();
    let got = s.get::<User>(1).unwrap().unwrap();
    assert!(Obj::ptr_eq(&added, &got));
    let queried = s.query::<User>().one().unwrap();
    assert!(Obj::ptr_eq(&added, &queried));
    // Loaded twice in a new session: one object.
    let s2 = db.session();
    let a = s2.get::<User>(1).unwrap().unwrap();
    let b = s2
        .query::<User>()
        .filter(User::username.eq("ann"))
        .one()
        .unwrap();
    assert!(Obj::ptr_eq(&a, &b));
    a.write().unwrap().email = "changed@example.com".into();
    assert_eq!(b.read().unwrap().email, "changed@example.com");
    // ...and a different object than the first session's.
    assert!(!Obj::ptr_eq(&a, &added));
}

#[test]
fn get_hits_the_identity_map_without_sql_and_misses_go_to_the_database() {
    let db = db();
    let s = db.session();
    s.add(user("ann")).unwrap();
    s.commit().unwrap();
    let rec = db.record();
    s.get::<User>(1).unwrap().unwrap();
    assert!(rec.is_empty(), "{:?}", rec.sql());
    let fresh = db.session();
    fresh.get::<User>(1).unwrap().unwrap();
    assert_eq!(
        rec.sql(),
        common::sqls([
            r#"SELECT "user"."id", "user"."username", "user"."email" FROM "user" WHERE "user"."id" = ?"#
        ])
    );
    assert!(fresh.get::<User>(99).unwrap().is_none());
}

#[test]
fn changing_one_field_updates_that_column_only() {
    let db = db();
    let s = db.session();
    let ann = s.add(user("ann")).unwrap();
    s.commit().unwrap();
    let rec = db.record();
    ann.write().unwrap().username = "anna".into();
    s.commit().unwrap();
    let stmts = rec.statements();
    assert_eq!(
        stmts.iter().map(|s| s.sql.as_str()).collect::<Vec<_>>(),
        common::sqls([
            "BEGIN IMMEDIATE",
            r#"UPDATE "user" SET "username" = ? WHERE "user"."id" = ?"#,
            "COMMIT"
        ])
    );
    assert_eq!(
        stmts[1].params,
        [
            orm::types::Value::Text("anna".into()),
            orm::types::Value::Integer(1)
        ]
    );
    let stored = db.session().get::<User>(1).unwrap().unwrap();
    assert_eq!(stored.read().unwrap().username, "anna");
}

#[test]
fn commit_without_changes_runs_no_sql() {
    let db = db();
    let s = db.session();
    let ann = s.add(user("ann")).unwrap();
    s.commit().unwrap();
    let rec = db.record();
    s.commit().unwrap();
    // Borrowed for writing, but left equal: still nothing to do.
    let name = ann.read().unwrap().username.clone();
    ann.write().unwrap().username = name;
    s.commit().unwrap();
    s.flush().unwrap();
    assert!(rec.is_empty(), "{:?}", rec.sql());
}

#[test]
fn loading_does_not_pay_for_tracking() {
    let db = db();
    let s = db.session();
    s.add_all((0..20).map(|i| user(&format!("u{i}")))).unwrap();
    s.commit().unwrap();
    let s2 = db.session();
    let all = s2.query::<User>().all().unwrap();
    assert_eq!(all.len(), 20);
    for u in &all {
        let _ = u.read().unwrap();
    }
    assert!(!s2.has_changes(), "reading takes no snapshot");
    all[3].write().unwrap();
    assert!(s2.has_changes(), "the first write takes one");
}

#[test]
fn delete_removes_the_row_and_detaches_after_commit() {
    let db = db();
    let s = db.session();
    let ann = s.add(user("ann")).unwrap();
    s.commit().unwrap();
    let rec = db.record();
    s.delete(&ann).unwrap();
    assert_eq!(ann.state(), ObjState::Deleted);
    assert!(
        s.get::<User>(1).unwrap().is_none(),
        "marked objects are not returned"
    );
    s.commit().unwrap();
    assert_eq!(
        rec.without_transaction_control()
            .into_iter()
            .map(|s| s.sql)
            .collect::<Vec<_>>(),
        common::sqls([r#"DELETE FROM "user" WHERE "user"."id" = ?"#])
    );
    assert_eq!(ann.state(), ObjState::Detached);
    assert_eq!(db.session().query::<User>().count().unwrap(), 0);
    // Values stay readable on the detached object.
    assert_eq!(ann.read().unwrap().username, "ann");
    // Deleting it again is misuse, reported as such.
    assert!(matches!(s.delete(&ann), Err(Error::Detached { .. })));
}

#[test]
fn deleting_a_pending_object_just_discards_it() {
    let db = db();
    let s = db.session();
    let rec = db.record();
    let ann = s.add(user("ann")).unwrap();
    s.delete(&ann).unwrap();
    assert_eq!(ann.state(), ObjState::Transient);
    s.commit().unwrap();
    assert!(rec.is_empty());
}

#[test]
fn rollback_discards_pending_and_undoes_modified() {
    let db = db();
    let s = db.session();
    let ann = s.add(user("ann")).unwrap();
    s.commit().unwrap();

    // Unflushed changes are reverted from the snapshot.
    ann.write().unwrap().username = "changed".into();
    let bob = s.add(user("bob")).unwrap();
    s.rollback().unwrap();
    assert_eq!(ann.read().unwrap().username, "ann");
    assert_eq!(bob.state(), ObjState::Transient);

    // Flushed changes are rolled back in the database and the object is
    // expired, so it reads the truth again.
    ann.write().unwrap().username = "flushed".into();
    let cid = s.add(user("cid")).unwrap();
    s.flush().unwrap();
    assert_eq!(cid.read().unwrap().id, 2);
    s.rollback().unwrap();
    assert!(ann.is_expired());
    assert_eq!(ann.read().unwrap().username, "ann");
    assert_eq!(cid.state(), ObjState::Transient);
    assert_eq!(cid.read().unwrap().id, 0, "the generated key is taken back");
    assert_eq!(db.session().query::<User>().count().unwrap(), 1);

    // A discarded object can be added again and committed.
    s.add(&cid).unwrap();
    s.commit().unwrap();
    assert_eq!(db.session().query::<User>().count().unwrap(), 2);
}

#[test]
fn each_transaction_starts_with_an_empty_log_after_large_commits() {
    // A session keeps a committed transaction's log of this size for its
    // next transaction: nothing of the earlier transactions may remain in
    // it, or a rollback would undo their committed work.
    let db = db();
    let s = db.session();
    let users = s.add_all((0..100).map(|i| user(&format!("u{i}")))).unwrap();
    s.commit().unwrap();
    for (i, u) in users.iter().enumerate() {
        u.write().unwrap().email = format!("second{i}@example.com");
    }
    s.commit().unwrap();

    // A third transaction updates, deletes and adds, flushes, rolls back.
    users[0].write().unwrap().username = "changed".into();
    s.delete(&users[1]).unwrap();
    let new = s.add(user("new")).unwrap();
    s.flush().unwrap();
    s.rollback().unwrap();
    assert!(
        !users[2].is_expired(),
        "an object the rolled-back transaction did not write is not reloaded"
    );

    // Only the third transaction's work is undone: the first two
    // transactions' objects stay persistent with their keys, the updated
    // object reads its committed values again, the deleted one is back.
    assert_eq!(new.state(), ObjState::Transient);
    assert_eq!(new.read().unwrap().id, 0);
    for (i, u) in users.iter().enumerate() {
        assert_eq!(u.state(), ObjState::Persistent, "user {i}");
        assert_eq!(u.read().unwrap().id, i as i64 + 1, "user {i}");
    }
    assert_eq!(users[0].read().unwrap().username, "u0");
    assert_eq!(users[0].read().unwrap().email, "second0@example.com");
    let rows = stored_users(&db);
    assert_eq!(rows.len(), 100);
    assert_eq!(
        (rows[1].username.as_str(), rows[99].email.as_str()),
        ("u1", "second99@example.com")
    );
}

#[test]
fn a_unique_violation_loses_nothing_and_a_corrected_retry_commits_all() {
    let db = db();
    let s = db.session();
    s.add(user("taken")).unwrap();
    s.commit().unwrap();

    let a = s.add(user("a")).unwrap();
    let b = s.add(user("b")).unwrap();
    let dup = s
        .add(User {
            username: "taken".into(),
            email: "c@example.com".into(),
            ..Default::default()
        })
        .unwrap();
    let d = s.add(user("d")).unwrap();
    let err = s.commit().unwrap_err();
    match &err {
        Error::Constraint {
            kind,
            model,
            columns,
            ..
        } => {
            assert_eq!(*kind, ConstraintKind::Unique);
            assert_eq!(*model, Some("User"));
            assert_eq!(columns, &["username"]);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "unique constraint violated on User (username)"
    );
    // The database is unchanged...
    assert_eq!(db.session().query::<User>().count().unwrap(), 1);
    // ...and every object is exactly as before the flush.
    for o in [&a, &b, &dup, &d] {
        assert_eq!(o.state(), ObjState::Pending);
        assert_eq!(o.read().unwrap().id, 0);
    }
    assert!(!s.in_transaction());

    dup.write().unwrap().username = "c".into();
    s.commit().unwrap();
    let ids: Vec<i64> = [&a, &b, &dup, &d]
        .iter()
        .map(|o| o.read().unwrap().id)
        .collect();
    if common::is_postgres() {
        // A sequence is not rolled back: the failed flush used 2, 3 and 4.
        assert_eq!(ids, [5, 6, 7, 8]);
    } else {
        assert_eq!(ids, [2, 3, 4, 5]);
    }
    assert_eq!(db.session().query::<User>().count().unwrap(), 5);
}

#[test]
fn a_failed_flush_inside_a_transaction_keeps_the_earlier_flushes() {
    let db = db();
    let s = db.session();
    let first = s.add(user("first")).unwrap();
    s.flush().unwrap();
    let dup = s.add(user("first")).unwrap();
    assert!(s.flush().is_err());
    assert!(
        s.in_transaction(),
        "the savepoint rolled back, not the transaction"
    );
    assert_eq!(first.state(), ObjState::Persistent);
    assert_eq!(dup.state(), ObjState::Pending);
    s.delete(&dup).unwrap();
    s.commit().unwrap();
    assert_eq!(db.session().query::<User>().count().unwrap(), 1);
}

#[test]
fn autoflush_makes_added_objects_visible_to_queries() {
    let db = db();
    let s = db.session();
    let ann = s.add(user("ann")).unwrap();
    let found = s
        .query::<User>()
        .filter(User::username.eq("ann"))
        .first()
        .unwrap()
        .unwrap();
    assert!(found == ann);
    assert_eq!(ann.read().unwrap().id, 1);
    assert!(s.in_transaction(), "flushed, not committed");
    // Other sessions do not see uncommitted rows.
    s.rollback().unwrap();
    assert_eq!(s.query::<User>().count().unwrap(), 0);

    s.set_autoflush(false);
    s.add(user("bob")).unwrap();
    assert_eq!(s.query::<User>().count().unwrap(), 0);
    s.flush().unwrap();
    assert_eq!(s.query::<User>().count().unwrap(), 1);
}

#[test]
fn queries_do_not_overwrite_objects_already_in_the_session() {
    let db = db();
    let s = db.session();
    let ann = s.add(user("ann")).unwrap();
    s.commit().unwrap();
    s.set_autoflush(false);
    ann.write().unwrap().username = "local change".into();
    let again = s.query::<User>().one().unwrap();
    assert!(again == ann);
    assert_eq!(again.read().unwrap().username, "local change");
    // Refresh reads the database and drops the local change.
    s.refresh(&ann).unwrap();
    assert_eq!(ann.read().unwrap().username, "ann");
}

#[test]
fn expire_reloads_on_next_access() {
    let db = db();
    let s = db.session();
    let ann = s.add(user("ann")).unwrap();
    s.commit().unwrap();
    let other = db.session();
    other
        .get::<User>(1)
        .unwrap()
        .unwrap()
        .write()
        .unwrap()
        .username = "renamed".into();
    other.commit().unwrap();
    assert_eq!(ann.read().unwrap().username, "ann", "not expired yet");
    s.expire(&ann).unwrap();
    let rec = db.record();
    assert_eq!(ann.read().unwrap().username, "renamed");
    assert_eq!(rec.queries().len(), 1);
    // Expired objects whose row is gone are detached with NotFound.
    other
        .delete(&other.get::<User>(1).unwrap().unwrap())
        .unwrap();
    other.commit().unwrap();
    s.expire_all().unwrap();
    assert!(ann.read().unwrap_err().is_not_found());
    assert_eq!(ann.state(), ObjState::Detached);
}

#[test]
fn a_row_deleted_by_someone_else_is_stale_data() {
    let db = db();
    let s = db.session();
    let ann = s.add(user("ann")).unwrap();
    s.commit().unwrap();
    let other = db.session();
    other
        .delete(&other.get::<User>(1).unwrap().unwrap())
        .unwrap();
    other.commit().unwrap();
    ann.write().unwrap().username = "too late".into();
    let err = s.commit().unwrap_err();
    assert!(
        matches!(err, Error::StaleData { model: "User", .. }),
        "{err:?}"
    );
    assert_eq!(ann.read().unwrap().username, "too late", "nothing lost");
}

#[test]
fn misuse_is_a_typed_error() {
    let db = db();
    let s1 = db.session();
    let s2 = db.session();
    let ann = s1.add(user("ann")).unwrap();
    assert!(matches!(
        s2.add(&ann),
        Err(Error::WrongSession { model: "User" })
    ));
    assert!(matches!(s2.delete(&ann), Err(Error::WrongSession { .. })));
    assert!(matches!(s2.expire(&ann), Err(Error::WrongSession { .. })));

    // A write guard alive during commit: a borrow conflict, nothing written.
    s1.commit().unwrap();
    let guard = ann.write().unwrap();
    let err = s1.commit();
    drop(guard);
    // The guard made the object "modified" but the flush could not read it.
    assert!(
        matches!(err, Err(Error::BorrowConflict { model: "User" })),
        "{err:?}"
    );
    s1.commit().unwrap();

    // Detached objects cannot be deleted or re-added.
    drop(s1);
    assert_eq!(ann.state(), ObjState::Detached);
    assert!(matches!(s2.add(&ann), Err(Error::Detached { .. })));

    // Two guards at once are refused, not a panic.
    let t = Obj::new(user("t"));
    let r = t.read().unwrap();
    assert!(matches!(t.write(), Err(Error::BorrowConflict { .. })));
    drop(r);
}

/// `execute("COMMIT")` (or ROLLBACK, BEGIN, ...) used to run: the database
/// left the transaction the session still believed open, so the session's
/// later COMMIT failed or its rollback undid the wrong things. Raw SQL now
/// refuses transaction control, before anything runs.
#[test]
fn raw_transaction_control_is_refused_and_the_session_is_unchanged() {
    let db = db();
    let s = db.session();
    let ann = s.add(user("ann")).unwrap();
    s.flush().unwrap();
    assert!(s.in_transaction());
    let bob = s.add(user("bob")).unwrap();
    let rec = db.record();
    let statements = [
        "COMMIT",
        "commit",
        "End Transaction",
        "ROLLBACK",
        "rollback to sp",
        "BEGIN",
        "begin immediate",
        "SAVEPOINT sp",
        "release sp",
        "  \n\t COMMIT;",
        "-- commit the work\nCOMMIT",
        "/* a */ -- b\n  /* c\n d */ROLLBACK",
        "/**/END",
        "; COMMIT",
    ];
    for sql in statements {
        let refusals = [
            s.execute(sql, &[]).map(drop),
            s.raw_tuples::<(i64,)>(sql, &[]).map(drop),
            s.raw_query::<User>(sql, &[]).map(drop),
        ];
        for refusal in refusals {
            match refusal {
                Err(Error::Usage(m)) => assert!(
                    ["Session::begin", "Session::commit", "Session::rollback"]
                        .iter()
                        .all(|name| m.contains(name)),
                    "{m}"
                ),
                other => panic!("`{sql}`: expected Error::Usage, got {other:?}"),
            }
        }
    }
    // Nothing ran, not even the autoflush of bob.
    assert!(rec.is_empty(), "{:?}", rec.sql());
    assert_eq!(bob.state(), ObjState::Pending);
    // The transaction is still open, in the session and in the database.
    assert!(s.in_transaction());
    if common::is_postgres() {
        // The flush of ann gave the open transaction an id; a statement in
        // autocommit mode would run in a new transaction, without one.
        s.set_autoflush(false);
        let txid: Vec<(Option<i64>,)> = s
            .raw_tuples("SELECT txid_current_if_assigned()", &[])
            .unwrap();
        s.set_autoflush(true);
        assert!(txid[0].0.is_some(), "{txid:?}");
    } else {
        assert!(!s.with_connection(|c| c.is_autocommit()).unwrap());
    }
    s.commit().unwrap();
    assert!(!s.in_transaction());
    if common::is_postgres() {
        // ...and the probe tells the difference.
        let txid: Vec<(Option<i64>,)> = s
            .raw_tuples("SELECT txid_current_if_assigned()", &[])
            .unwrap();
        assert_eq!(txid, [(None,)]);
    }
    assert_eq!(ann.identity(), Some(1));
    assert_eq!(bob.identity(), Some(2));
    assert_eq!(db.session().query::<User>().count().unwrap(), 2);

    // Statements that only mention the words run as before.
    s.execute("CREATE TABLE note (begin_at TEXT, \"commit\" TEXT)", &[])
        .unwrap();
    s.execute(
        raw("/* no COMMIT here */ INSERT INTO note VALUES ('BEGIN', ?)"),
        &orm::params!["END"],
    )
    .unwrap();
    let notes: Vec<(String, String)> = s
        .raw_tuples("SELECT begin_at, \"commit\" FROM note", &[])
        .unwrap();
    assert_eq!(notes, [("BEGIN".to_string(), "END".to_string())]);
    s.rollback().unwrap();
    let tables: Vec<(String,)> = s
        .raw_tuples(
            if common::is_postgres() {
                "SELECT tablename::text FROM pg_tables WHERE tablename = 'note' AND schemaname = current_schema()"
            } else {
                "SELECT name FROM sqlite_master WHERE name = 'note'"
            },
            &[],
        )
        .unwrap();
    assert!(
        tables.is_empty(),
        "rolled back with the session's transaction"
    );
}

#[test]
fn not_found_helpers_carry_model_and_key() {
    let db = db();
    let s = db.session();
    match s.get_or_not_found::<User>(42) {
        Err(Error::NotFound { model, key }) => {
            assert_eq!(model, "User");
            assert_eq!(key.as_deref(), Some("42"));
        }
        other => panic!("{other:?}"),
    }
}

mod constraints {
    use orm::prelude::*;

    /// Maps a table created by another program with stricter rules.
    #[derive(Model, Debug, Default)]
    #[orm(table = "strict_item")]
    pub struct Item {
        #[orm(primary_key)]
        pub id: i64,
        pub name: Option<String>,
        pub qty: i64,
    }

    #[derive(Model, Debug, Default)]
    pub struct Parent {
        #[orm(primary_key)]
        pub id: i64,
    }

    #[derive(Model, Debug, Default)]
    pub struct Child {
        #[orm(primary_key)]
        pub id: i64,
        #[orm(foreign_key = Parent::id)]
        pub parent_id: i64,
    }
}

#[test]
fn not_null_check_and_foreign_key_violations_are_typed() {
    use constraints::*;
    let db = common::open(Database::builder().model::<Item>().model::<Child>());
    db.create_all().unwrap();
    let s = db.session();
    s.execute("DROP TABLE strict_item", &[]).unwrap();
    s.execute(
        if common::is_postgres() {
            // The key is generated by a sequence (SQLite's is the rowid).
            "CREATE TABLE strict_item (id SERIAL PRIMARY KEY, name TEXT NOT NULL, qty INTEGER NOT NULL CONSTRAINT qty_positive CHECK (qty > 0))"
        } else {
            "CREATE TABLE strict_item (id INTEGER PRIMARY KEY, name TEXT NOT NULL, qty INTEGER NOT NULL CONSTRAINT qty_positive CHECK (qty > 0))"
        },
        &[],
    )
    .unwrap();
    s.commit().unwrap();

    s.add(Item {
        name: None,
        qty: 1,
        ..Default::default()
    })
    .unwrap();
    let err = s.commit().unwrap_err();
    assert_eq!(err.constraint_kind(), Some(ConstraintKind::NotNull));
    assert!(
        matches!(&err, Error::Constraint { model: Some("Item"), columns, .. } if columns == &["name"])
    );
    s.rollback().unwrap();

    s.add(Item {
        name: Some("x".into()),
        qty: 0,
        ..Default::default()
    })
    .unwrap();
    let err = s.commit().unwrap_err();
    assert_eq!(err.constraint_kind(), Some(ConstraintKind::Check));
    assert!(matches!(&err, Error::Constraint { columns, .. } if columns == &["qty_positive"]));
    s.rollback().unwrap();

    s.add(Child {
        parent_id: 999,
        ..Default::default()
    })
    .unwrap();
    let err = s.commit().unwrap_err();
    assert_eq!(err.constraint_kind(), Some(ConstraintKind::ForeignKey));
    assert!(
        matches!(&err, Error::Constraint { model: Some("Child"), columns, .. } if columns == &["parent_id"])
    );
}

#[test]
fn values_written_by_another_program_that_do_not_fit_are_conversion_errors() {
    let db = db();
    let s = db.session();
    if common::is_postgres() {
        // PostgreSQL keeps every value to its column's type: another
        // program stores bytes in a text field by changing its type.
        s.execute(
            r#"ALTER TABLE "user" ALTER COLUMN email TYPE BYTEA USING convert_to(email, 'UTF8')"#,
            &[],
        )
        .unwrap();
        s.execute(
            r#"INSERT INTO "user" (id, username, email) VALUES (1, 'ann', decode('00FF', 'hex')), (2, 'bob', convert_to('b@x', 'UTF8'))"#,
            &[],
        )
        .unwrap();
    } else {
        s.execute(
            "INSERT INTO user (id, username, email) VALUES (1, 'ann', X'00FF'), (2, CAST(X'FFFE' AS TEXT), 'b@x')",
            &[],
        )
        .unwrap();
    }
    s.commit().unwrap();
    let err = db.session().get::<User>(1).unwrap_err();
    match err {
        Error::Conversion {
            table,
            column,
            message,
        } => {
            assert_eq!((table.as_str(), column.as_str()), ("user", "email"));
            assert_eq!(message, "expected TEXT, found BLOB");
        }
        other => panic!("{other:?}"),
    }
    if common::is_postgres() {
        // Text that is not valid UTF-8 cannot be stored: the server checks
        // the encoding of every text.
        let s = db.session();
        let err = s
            .execute(
                r#"UPDATE "user" SET username = convert_from(decode('FFFE', 'hex'), 'UTF8') WHERE id = 2"#,
                &[],
            )
            .unwrap_err();
        assert!(
            matches!(&err, Error::Database { .. })
                && err
                    .to_string()
                    .contains(r#"invalid byte sequence for encoding "UTF8""#),
            "{err}"
        );
        s.rollback().unwrap();
    } else {
        let err = db.session().get::<User>(2).unwrap_err();
        assert!(
            matches!(&err, Error::Conversion { column, message, .. } if column == "username" && message == "TEXT is not valid UTF-8"),
            "{err:?}"
        );
    }
    // The session stays usable after a failed load.
    let s2 = db.session();
    assert!(s2.get::<User>(1).is_err());
    assert_eq!(s2.query::<User>().count().unwrap(), 2);
}

#[test]
fn nan_is_refused_not_stored_as_null() {
    #[derive(Model, Debug, Default)]
    struct Reading {
        #[orm(primary_key)]
        id: i64,
        value: Option<f64>,
    }
    let db = common::fresh::<Reading>();
    let s = db.session();
    let r = s
        .add(Reading {
            value: Some(f64::NAN),
            ..Default::default()
        })
        .unwrap();
    let err = s.commit().unwrap_err();
    assert!(
        matches!(&err, Error::Conversion { column, .. } if column == "value"),
        "{err:?}"
    );
    assert_eq!(r.state(), ObjState::Pending);
    r.write().unwrap().value = Some(f64::INFINITY);
    s.commit().unwrap();
}

#[test]
fn dropping_a_session_detaches_its_objects_and_discards_its_pending_ones() {
    let db = db();
    let s = db.session();
    let ann = s.add(user("ann")).unwrap();
    s.commit().unwrap();
    let bob = s.add(user("bob")).unwrap();
    drop(s);
    assert_eq!(ann.state(), ObjState::Detached);
    assert_eq!(bob.state(), ObjState::Transient);
    // Discarded, not lost: another session takes it.
    let s = db.session();
    s.add(&bob).unwrap();
    s.commit().unwrap();
    assert_eq!(bob.state(), ObjState::Persistent);
    assert_eq!(s.query::<User>().count().unwrap(), 2);
}

#[test]
fn a_session_after_a_closed_one_finds_none_of_its_objects() {
    // A closed session's emptied identity maps serve the next sessions of
    // its thread: nothing of the old session may be found through them.
    let db = db();
    let s = db.session();
    s.add(user("ann")).unwrap();
    s.add(user("bob")).unwrap();
    s.commit().unwrap();
    let old = s.query::<User>().order_by(User::id).all().unwrap();
    old[0].write().unwrap().username = "unsaved".into();
    drop(s);
    let other = db.session();
    let bob = other.get::<User>(2).unwrap().unwrap();
    bob.write().unwrap().username = "robert".into();
    other.commit().unwrap();
    drop(other);
    let s = db.session();
    let users = s.query::<User>().order_by(User::id).all().unwrap();
    let names: Vec<String> = users
        .iter()
        .map(|u| u.read().unwrap().username.clone())
        .collect();
    assert_eq!(names, ["ann", "robert"]);
    assert!(!Obj::ptr_eq(&users[0], &old[0]));
    assert!(!Obj::ptr_eq(&users[1], &bob));
    assert_eq!(old[0].state(), ObjState::Detached);
    assert_eq!(bob.state(), ObjState::Detached);
    // A second session open beside the first has a map of its own.
    let beside = db.session();
    let ann = beside.get::<User>(1).unwrap().unwrap();
    assert!(!Obj::ptr_eq(&ann, &users[0]));
    assert!(Obj::ptr_eq(&s.get::<User>(1).unwrap().unwrap(), &users[0]));
}

#[test]
fn close_detaches_everything_and_the_session_stays_usable() {
    let db = db();
    let s = db.session();
    let ann = s.add(user("ann")).unwrap();
    s.commit().unwrap();
    let pending = s.add(user("bob")).unwrap();
    s.close().unwrap();
    assert_eq!(ann.state(), ObjState::Detached);
    assert_eq!(pending.state(), ObjState::Transient);
    assert_eq!(s.query::<User>().count().unwrap(), 1);
}

#[test]
fn primary_key_changes_are_written_with_the_old_key() {
    let db = db();
    let s = db.session();
    let ann = s.add(user("ann")).unwrap();
    s.commit().unwrap();
    ann.write().unwrap().id = 10;
    s.commit().unwrap();
    assert!(s.get::<User>(1).unwrap().is_none());
    let moved = s.get::<User>(10).unwrap().unwrap();
    assert!(moved == ann);
}

#[test]
fn flush_order_is_parent_first_for_inserts_and_child_first_for_deletes() {
    use common::pets::{PetCategory, PetHandler};
    let db = common::fresh::<PetCategory>();
    let s = db.session();
    // Child added first, with an explicit key for its parent.
    s.add(PetCategory {
        pet_id: 1,
        pet_name: "Rex".into(),
        pet_category: "dog".into(),
        handler_id: 7,
    })
    .unwrap();
    s.add(PetHandler {
        handler_id: 7,
        handler_name: "Sam".into(),
    })
    .unwrap();
    let rec = db.record();
    s.commit().unwrap();
    let sql = rec.without_transaction_control();
    assert!(sql[0].sql.starts_with(r#"INSERT INTO "pet_handler""#));
    assert!(sql[1].sql.starts_with(r#"INSERT INTO "pet_category""#));
    // Parent deleted first in code, child first in SQL.
    let handler = s.get::<PetHandler>(7).unwrap().unwrap();
    let pet = s.get::<PetCategory>(1).unwrap().unwrap();
    s.delete(&handler).unwrap();
    s.delete(&pet).unwrap();
    rec.clear();
    s.commit().unwrap();
    // The flush first loads the handler's pets (its delete cascade).
    let sql: Vec<String> = rec
        .without_transaction_control()
        .into_iter()
        .map(|s| s.sql)
        .filter(|s| !s.starts_with("SELECT"))
        .collect();
    assert!(
        sql[0].starts_with(r#"DELETE FROM "pet_category""#),
        "{sql:?}"
    );
    assert!(sql[1].starts_with(r#"DELETE FROM "pet_handler""#));
    assert_eq!(sql.len(), 2);
}

/// New objects of one table go in multi-row INSERTs (SQLAlchemy's
/// insertmanyvalues), the keys given to the objects in the order they were
/// added: on PostgreSQL up to 1,000 rows a statement, keys read back with
/// RETURNING; on SQLite statements of 16 to 128 rows (a multiple of 8), keys from
/// the last rowid after a check that the rows take consecutive keys
/// (`Dialect::multi_row_inserts`).
#[test]
fn new_objects_of_one_table_go_in_multi_row_inserts_with_keys_in_order() {
    let db = db();
    let s = db.session();
    let rec = db.record();
    let users: Vec<Obj<User>> = (0..2_500)
        .map(|i| s.add(user(&format!("u{i}"))).unwrap())
        .collect();
    s.commit().unwrap();
    let inserts: Vec<String> = rec
        .sql()
        .into_iter()
        .filter(|q| q.starts_with("INSERT"))
        .collect();
    let rows_of = |q: &str| q.matches("), (").count() + 1;
    let per_statement: Vec<usize> = inserts.iter().map(|q| rows_of(q)).collect();
    assert!(inserts[0].starts_with(&common::sql(
        r#"INSERT INTO "user" ("username", "email") VALUES (?, ?), (?, ?)"#
    )));
    assert_eq!(
        inserts[0].ends_with(r#" RETURNING "id""#),
        common::is_postgres()
    );
    if common::is_postgres() {
        assert_eq!(per_statement, [1_000, 1_000, 500]);
    } else {
        // Statements of 128 rows, then of the 64 left that fit a multiple
        // of 8, then the 4 rows left one by one.
        let mut expected = vec![128; 19];
        expected.extend([64, 1, 1, 1, 1]);
        assert_eq!(per_statement, expected);
        // Each multi-row statement after its check: the largest key, and
        // whether a trigger is on the table.
        let checks = rec
            .sql()
            .iter()
            .filter(|q| q.starts_with(r#"SELECT (SELECT max("id") FROM "user")"#))
            .count();
        assert_eq!(checks, 20);
    }
    for (i, u) in users.iter().enumerate() {
        assert_eq!(u.read().unwrap().id, i as i64 + 1);
        assert_eq!(u.state(), ObjState::Persistent);
    }
    let stored = stored_users(&db);
    assert_eq!(stored.len(), 2_500);
    for u in &stored {
        assert_eq!(u.username, format!("u{}", u.id - 1));
    }
    // One new row is the single-row statement, as before.
    let rec = db.record();
    s.add(user("one")).unwrap();
    s.commit().unwrap();
    let single = r#"INSERT INTO "user" ("username", "email") VALUES (?, ?)"#;
    let single = if common::is_postgres() {
        format!(r#"{} RETURNING "id""#, common::sql(single))
    } else {
        single.to_owned()
    };
    assert_eq!(rec.sql()[1], single);
}

/// How many rows each INSERT the recorder saw wrote, in order.
fn rows_per_insert(sql: &[String]) -> Vec<usize> {
    sql.iter()
        .filter(|q| q.starts_with("INSERT"))
        .map(|q| q.matches("), (").count() + 1)
        .collect()
}

/// Every object holds the key of the row that has its username.
fn assert_keys_match_rows(db: &Database, users: &[Obj<User>]) {
    let stored = stored_users(db);
    for u in users {
        let u = u.read().unwrap();
        let row = stored.iter().find(|r| r.id == u.id);
        assert_eq!(row.map(|r| r.username.as_str()), Some(u.username.as_str()));
    }
}

/// SQLite: a trigger on the table may insert rows between those of a
/// multi-row INSERT (or skip some), so the last rowid would not tell the
/// keys: with one, in the main or the temp schema, every row is its own
/// INSERT and each object gets its own row's key.
#[test]
fn with_a_trigger_on_the_table_each_new_row_is_its_own_insert() {
    if common::is_postgres() {
        return; // SQLite only: keys from the last rowid (PostgreSQL's come back with RETURNING).
    }
    for temp in ["", "TEMP"] {
        let db = db();
        let s = db.session();
        // For each user, a shadow row right after it: a multi-row INSERT's
        // keys read from the last rowid would be every other one.
        let trigger = format!(
            r#"CREATE {temp} TRIGGER shadow AFTER INSERT ON "user"
               WHEN NEW.username NOT LIKE 'shadow-%'
               BEGIN INSERT INTO "user" ("username", "email")
                 VALUES ('shadow-' || NEW.username, 'shadow-' || NEW.email); END"#
        );
        s.with_connection(|c| c.execute_batch(&trigger))
            .unwrap()
            .unwrap();
        let rec = db.record();
        let users: Vec<Obj<User>> = (0..20)
            .map(|i| s.add(user(&format!("u{i}"))).unwrap())
            .collect();
        s.commit().unwrap();
        assert_eq!(rows_per_insert(&rec.sql()), [1; 20], "{temp} trigger");
        assert_keys_match_rows(&db, &users);
        assert_eq!(stored_users(&db).len(), 40);
        let ids: Vec<i64> = users.iter().map(|u| u.read().unwrap().id).collect();
        assert_eq!(ids, (0..20).map(|i| 2 * i + 1).collect::<Vec<i64>>());
    }
}

/// SQLite: past the largest possible rowid, SQLite picks free rowids at
/// random, so rows that could reach it are inserted one by one; each
/// object still gets its own row's key.
#[test]
fn new_rows_that_could_pass_the_largest_rowid_are_inserted_one_by_one() {
    if common::is_postgres() {
        return; // SQLite only: rowids (a PostgreSQL sequence has no such end).
    }
    let db = db();
    let s = db.session();
    let last = s
        .add(User {
            id: i64::MAX - 3,
            ..user("last")
        })
        .unwrap();
    s.commit().unwrap();
    let rec = db.record();
    let users: Vec<Obj<User>> = (0..20)
        .map(|i| s.add(user(&format!("u{i}"))).unwrap())
        .collect();
    s.commit().unwrap();
    assert_eq!(rows_per_insert(&rec.sql()), [1; 20]);
    assert_keys_match_rows(&db, &users);
    let ids: Vec<i64> = users.iter().map(|u| u.read().unwrap().id).collect();
    assert_eq!(&ids[..3], [i64::MAX - 2, i64::MAX - 1, i64::MAX]);
    let mut distinct = ids.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 20);
    assert_eq!(last.read().unwrap().id, i64::MAX - 3);
    // Away from the end again (the rows deleted), one statement.
    for u in users.iter().chain([&last]) {
        s.delete(u).unwrap();
    }
    s.commit().unwrap();
    let rec = db.record();
    let again: Vec<Obj<User>> = (0..20)
        .map(|i| s.add(user(&format!("v{i}"))).unwrap())
        .collect();
    s.commit().unwrap();
    assert_eq!(rows_per_insert(&rec.sql()), [16, 1, 1, 1, 1]);
    assert_keys_match_rows(&db, &again);
}

/// On SQLite fewer than sixteen new rows of a table go one INSERT each
/// (the check a multi-row INSERT needs there costs as much as it saves on
/// them) and sixteen go in one; on PostgreSQL one statement takes them from
/// two on.
#[test]
fn a_few_new_rows_go_one_insert_each_and_sixteen_in_one() {
    let db = db();
    let s = db.session();
    for (n, expected) in [(15, vec![1; 15]), (16, vec![16])] {
        let rec = db.record();
        let users: Vec<Obj<User>> = (0..n)
            .map(|i| s.add(user(&format!("n{n}-{i}"))).unwrap())
            .collect();
        s.commit().unwrap();
        if common::is_postgres() {
            // PostgreSQL: one statement from two rows on.
            assert_eq!(rows_per_insert(&rec.sql()), [n]);
        } else {
            assert_eq!(rows_per_insert(&rec.sql()), expected);
        }
        assert_keys_match_rows(&db, &users);
    }
}

/// A bulk insert (RETURNING the keys), a bulk insert with keys given and
/// a flush of as many new rows on one connection each run their own
/// statement: three shapes of a twenty-row INSERT into one table.
#[test]
fn bulk_inserts_and_a_flush_of_as_many_rows_keep_their_own_statements() {
    let db = db();
    let s = db.session();
    let bulk = s
        .bulk_insert((0..20).map(|i| user(&format!("b{i}"))))
        .unwrap();
    let given = s
        .bulk_insert((0..20).map(|i| User {
            id: 100 + i,
            ..user(&format!("g{i}"))
        }))
        .unwrap();
    let flushed: Vec<Obj<User>> = (0..20)
        .map(|i| s.add(user(&format!("f{i}"))).unwrap())
        .collect();
    s.commit().unwrap();
    let all: Vec<Obj<User>> = bulk.into_iter().chain(given).chain(flushed).collect();
    assert_keys_match_rows(&db, &all);
    assert_eq!(stored_users(&db).len(), 60);
}

/// A violation in the middle of a multi-row INSERT writes none of its
/// rows and leaves every object as before; the corrected retry commits.
#[test]
fn a_failed_multi_row_insert_writes_nothing_and_keeps_every_object() {
    let db = db();
    let s = db.session();
    s.add(user("u5")).unwrap();
    s.commit().unwrap();
    let users: Vec<Obj<User>> = (0..20)
        .map(|i| s.add(user(&format!("u{i}"))).unwrap())
        .collect();
    let err = s.commit().unwrap_err();
    assert_eq!(err.constraint_kind(), Some(ConstraintKind::Unique));
    assert_eq!(db.session().query::<User>().count().unwrap(), 1);
    for u in &users {
        assert_eq!((u.read().unwrap().id, u.state()), (0, ObjState::Pending));
    }
    users[5].write().unwrap().username = "five".into();
    users[5].write().unwrap().email = "five@example.com".into();
    s.commit().unwrap();
    let ids: Vec<i64> = users.iter().map(|u| u.read().unwrap().id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let five = db.session().get::<User>(ids[5]).unwrap().unwrap();
    assert_eq!(five.read().unwrap().username, "five");
}

mod tree {
    use orm::prelude::*;

    #[derive(Model, Debug, Default)]
    #[orm(table = "node", has_many(children = Node, backref = "parent"))]
    pub struct Node {
        pub id: i64,
        pub name: String,
        #[orm(foreign_key = Node::id)]
        pub parent_id: Option<i64>,
    }
}

/// A new tree of one table in one flush: a row waits for the multi-row
/// INSERT that gives its parent a key, and every parent_id is right.
#[test]
fn a_new_self_referential_tree_is_inserted_in_batches_that_respect_parents() {
    use tree::Node;
    let db = common::fresh::<Node>();
    let s = db.session();
    let rec = db.record();
    let node = |name: String| {
        Obj::new(Node {
            name,
            ..Default::default()
        })
    };
    let root = node("root".into());
    let mut count = 1;
    for c in 0..4 {
        let child = node(format!("c{c}"));
        root.append(Node::children, &child).unwrap();
        for g in 0..20 {
            child
                .append(Node::children, &node(format!("c{c}g{g}")))
                .unwrap();
            count += 1;
        }
        count += 1;
    }
    s.add(root).unwrap();
    s.commit().unwrap();
    let inserts = rec
        .sql()
        .into_iter()
        .filter(|q| q.starts_with("INSERT"))
        .count();
    assert!(inserts < count, "{inserts} INSERTs for {count} nodes");
    let fresh = db.session();
    let all = fresh.query::<Node>().all_detached().unwrap();
    assert_eq!(all.len(), count);
    let name_of = |id: Option<i64>| {
        id.and_then(|id| all.iter().find(|n| n.id == id))
            .map(|n| n.name.clone())
    };
    for n in &all {
        let expected = match n.name.as_str() {
            "root" => None,
            c if c.len() == 2 => Some("root".to_owned()),
            g => Some(g[..2].to_owned()),
        };
        assert_eq!(name_of(n.parent_id), expected, "{n:?}");
    }
}

/// Thirty new children of one new parent: the parent's INSERT, then the
/// children's with the parent's new key filled in (one multi-row INSERT on
/// PostgreSQL; on SQLite one of 24 rows and the six left one by one), each
/// child given its own row's key.
#[test]
fn new_children_of_a_new_parent_go_in_one_insert_with_its_key() {
    use tree::Node;
    let db = common::fresh::<Node>();
    let s = db.session();
    let root = s
        .add(Node {
            name: "root".into(),
            ..Default::default()
        })
        .unwrap();
    let children: Vec<Obj<Node>> = (0..30)
        .map(|i| {
            let child = Obj::new(Node {
                name: format!("c{i}"),
                ..Default::default()
            });
            root.append(Node::children, &child).unwrap();
            child
        })
        .collect();
    let rec = db.record();
    s.commit().unwrap();
    if common::is_postgres() {
        assert_eq!(rows_per_insert(&rec.sql()), [1, 30]);
    } else {
        let mut expected = vec![1, 24];
        expected.extend([1; 6]);
        assert_eq!(rows_per_insert(&rec.sql()), expected);
    }
    let root_id = root.read().unwrap().id;
    let stored = db.session().query::<Node>().all_detached().unwrap();
    for c in &children {
        let c = c.read().unwrap();
        let row = stored.iter().find(|n| n.id == c.id).unwrap();
        assert_eq!(
            (row.name.as_str(), row.parent_id),
            (c.name.as_str(), Some(root_id))
        );
        assert_eq!(c.parent_id, Some(root_id));
    }
}

/// Pending objects expunged or deleted one by one from a list long enough
/// to be indexed (and to close its gaps): the others are inserted in add
/// order, the expunged and deleted ones are not, and objects expunged and
/// added again are inserted once each, after the others.
#[test]
fn pending_objects_taken_off_a_long_list_leave_the_others_in_add_order() {
    let db = db();
    let s = db.session();
    let users = s.add_all((0..40).map(|i| user(&format!("u{i}")))).unwrap();
    for (i, u) in users.iter().enumerate() {
        match i % 3 {
            0 => s.expunge(u).unwrap(),
            1 if i < 33 => s.delete(u).unwrap(),
            _ => {}
        }
    }
    assert_eq!(users[3].state(), ObjState::Transient);
    assert_eq!(users[4].state(), ObjState::Transient);
    // One expunged before the list closed its gaps, one after.
    s.add(users[3].clone()).unwrap();
    s.add(users[39].clone()).unwrap();
    s.commit().unwrap();
    let names: Vec<String> = stored_users(&db).into_iter().map(|u| u.username).collect();
    let mut expected: Vec<String> = (0..40)
        .filter(|i| i % 3 == 2 || (i % 3 == 1 && *i >= 33))
        .map(|i| format!("u{i}"))
        .collect();
    expected.extend(["u3".to_string(), "u39".to_string()]);
    assert_eq!(names, expected);
}

/// Loaded objects changed or marked deleted, then expunged one by one from
/// lists long enough to be indexed (and to close their gaps) before any
/// flush: the flush writes the others' changes and deletions and nothing
/// of the expunged ones.
#[test]
fn changed_and_deleted_objects_taken_off_long_lists_leave_the_others_to_the_flush() {
    let db = db();
    let s = db.session();
    let users = committed_users(&s, 80);
    // The first 40 changed, the last 40 marked deleted.
    for u in &users[..40] {
        let mut w = u.write().unwrap();
        w.email = format!("{}@changed.example", w.username);
    }
    for u in &users[40..] {
        s.delete(u).unwrap();
    }
    // Every third one expunged.
    let expunged: Vec<usize> = (0..80).filter(|i| i % 3 == 0).collect();
    for &i in &expunged {
        s.expunge(&users[i]).unwrap();
        assert_eq!(users[i].state(), ObjState::Detached);
    }
    s.commit().unwrap();

    let stored = stored_users(&db);
    let expected: Vec<(String, String)> = (0..80)
        .filter(|i| *i < 40 || expunged.contains(i))
        .map(|i| {
            let name = format!("u{i}");
            let email = if i < 40 && i % 3 != 0 {
                format!("{name}@changed.example")
            } else {
                format!("{name}@example.com")
            };
            (name, email)
        })
        .collect();
    let got: Vec<(String, String)> = stored.into_iter().map(|u| (u.username, u.email)).collect();
    assert_eq!(got, expected);
}

/// An expunged object is no longer the session's: a later rollback, or a
/// rollback to a savepoint, leaves its state and values as they are (it
/// was restored to the session, as `Persistent`, without being in it, and
/// could not be read). One the transaction inserted becomes transient with
/// its generated key back to 0, as SQLAlchemy's rollback makes it.
#[test]
fn a_rollback_leaves_expunged_objects_as_they_are() {
    let db = db();
    let s = db.session();
    let users = committed_users(&s, 3);
    let email = |u: &Obj<User>| u.read().map(|u| u.email.clone());

    // Changed and flushed, deleted and flushed, inserted and flushed; each
    // expunged, then the transaction rolled back.
    users[0].write().unwrap().email = "changed@example.com".into();
    s.delete(&users[1]).unwrap();
    let new = s.add(user("new")).unwrap();
    s.flush().unwrap();
    for u in [&users[0], &users[1], &new] {
        s.expunge(u).unwrap();
    }
    s.rollback().unwrap();
    assert_eq!(users[0].state(), ObjState::Detached);
    assert_eq!(email(&users[0]).unwrap(), "changed@example.com");
    assert_eq!(users[1].state(), ObjState::Detached);
    assert_eq!(email(&users[1]).unwrap(), "u1@example.com");
    assert_eq!(new.state(), ObjState::Transient);
    assert_eq!(new.read().unwrap().id, 0);
    // The session holds none of them; the database has the three rows.
    let stored: Vec<String> = stored_users(&db).into_iter().map(|u| u.email).collect();
    assert_eq!(
        stored,
        ["u0@example.com", "u1@example.com", "u2@example.com"]
    );
    let again = s.get::<User>(2).unwrap().unwrap();
    assert!(again != users[1]);
    assert_eq!(again.state(), ObjState::Persistent);

    // The same inside a savepoint rolled back.
    let mut sp = s.begin_nested().unwrap();
    users[2].write().unwrap().email = "in-savepoint@example.com".into();
    s.delete(&again).unwrap();
    let inner = s.add(user("inner")).unwrap();
    s.flush().unwrap();
    for u in [&users[2], &again, &inner] {
        s.expunge(u).unwrap();
    }
    sp.rollback().unwrap();
    assert_eq!(users[2].state(), ObjState::Detached);
    assert_eq!(email(&users[2]).unwrap(), "in-savepoint@example.com");
    assert_eq!(again.state(), ObjState::Detached);
    assert_eq!(email(&again).unwrap(), "u1@example.com");
    assert_eq!(inner.state(), ObjState::Transient);
    assert_eq!(inner.read().unwrap().id, 0);
    s.commit().unwrap();
    let stored: Vec<String> = stored_users(&db).into_iter().map(|u| u.email).collect();
    assert_eq!(
        stored,
        ["u0@example.com", "u1@example.com", "u2@example.com"]
    );
}

/// A commit the database refuses puts the transaction's work back to be
/// flushed again, which cannot redo what the session did not write itself:
/// statements run with `execute`, and flushes of objects expunged since.
/// Such a transaction asks for a rollback instead of a retry (a retry
/// committed the session's work without them, and reported success), and
/// an expunged object stays out of the session (it was put back on the
/// session's lists, for the retry to write).
#[test]
fn a_refused_commit_that_cannot_be_redone_asks_for_a_rollback() {
    if common::is_postgres() {
        // The refusal is SQLite's commit hook; the rollbacks of expunged
        // objects run on every backend (the test above), and so does the
        // statement's (the test below).
        return;
    }
    let refuse = |s: &Session, on: bool| {
        s.with_connection(|c| {
            c.commit_hook(on.then_some(|| true)).unwrap();
        })
        .unwrap()
    };
    let db = db();
    let s = db.session();
    s.add_all((0..2).map(|i| user(&format!("u{i}")))).unwrap();
    s.commit().unwrap();

    // A statement of the user's, then a refused commit.
    s.execute(
        raw(r#"UPDATE "user" SET email = 'raw@example.com' WHERE id = 1"#),
        &[],
    )
    .unwrap();
    let added = s.add(user("added")).unwrap();
    refuse(&s, true);
    assert!(s.commit().is_err());
    refuse(&s, false);
    assert!(matches!(s.commit(), Err(Error::NeedsRollback { .. })));
    s.rollback().unwrap();
    assert_eq!(added.state(), ObjState::Transient);
    let stored: Vec<String> = stored_users(&db).into_iter().map(|u| u.email).collect();
    assert_eq!(stored, ["u0@example.com", "u1@example.com"]);

    // Flushed objects expunged, then a refused commit.
    let users = s.query::<User>().order_by(User::id).all().unwrap();
    users[0].write().unwrap().email = "changed@example.com".into();
    s.delete(&users[1]).unwrap();
    let new = s.add(user("new")).unwrap();
    s.flush().unwrap();
    for u in [&users[0], &users[1], &new] {
        s.expunge(u).unwrap();
    }
    refuse(&s, true);
    assert!(s.commit().is_err());
    refuse(&s, false);
    assert_eq!(users[0].state(), ObjState::Detached);
    assert_eq!(users[1].state(), ObjState::Detached);
    assert_eq!(new.state(), ObjState::Transient);
    assert_eq!(new.read().unwrap().id, 0);
    assert!(matches!(s.commit(), Err(Error::NeedsRollback { .. })));
    s.rollback().unwrap();
    s.commit().unwrap();
    let stored: Vec<String> = stored_users(&db).into_iter().map(|u| u.email).collect();
    assert_eq!(stored, ["u0@example.com", "u1@example.com"]);
}

/// Statements run with `execute` are outside the unit of work: objects
/// loaded after them may hold what they wrote, so a rollback expires every
/// object (it kept the rolled-back values, as current).
#[test]
fn a_rollback_after_statements_of_the_users_expires_what_they_may_have_written() {
    let db = db();
    let s = db.session();
    s.add(user("ann")).unwrap();
    s.commit().unwrap();
    let s = db.session();
    s.execute(
        raw(r#"UPDATE "user" SET email = 'raw@example.com' WHERE id = 1"#),
        &[],
    )
    .unwrap();
    let ann = s.get::<User>(1).unwrap().unwrap();
    assert_eq!(ann.read().unwrap().email, "raw@example.com");
    s.rollback().unwrap();
    assert_eq!(ann.state(), ObjState::Persistent);
    assert_eq!(ann.read().unwrap().email, "ann@example.com");
}

#[path = "common/counted.rs"]
mod counting;

mod counted {
    use orm::prelude::*;

    use super::counting::Counted;

    #[derive(Model, Debug, Default)]
    pub struct Memo {
        #[orm(primary_key)]
        pub id: i64,
        pub body: String,
        #[orm(skip)]
        #[allow(dead_code)] // only its Drop matters
        pub counted: Counted,
    }
}

/// Objects changed or marked deleted and then expunged before any flush
/// leave the session's lists of changes: once the caller drops them, they
/// are freed (the session held them until its next flush).
#[test]
fn objects_expunged_with_unflushed_changes_are_freed_when_dropped() {
    use counted::Memo;
    use counting::live;
    let db = common::fresh::<Memo>();
    let s = db.session();
    s.bulk_insert_detached((1..=40).map(|id| Memo {
        id,
        ..Default::default()
    }))
    .unwrap();
    s.commit().unwrap();
    let s = db.session();
    let memos = s.query::<Memo>().order_by(Memo::id).all().unwrap();
    let before = live();
    for m in &memos[..20] {
        m.write().unwrap().body = "changed".into();
    }
    for m in &memos[20..] {
        s.delete(m).unwrap();
    }
    for m in &memos {
        s.expunge(m).unwrap();
    }
    drop(memos);
    assert_eq!(live(), before - 40);
    s.commit().unwrap();
    let stored = db.session().query::<Memo>().all_detached().unwrap();
    assert_eq!(stored.len(), 40);
    assert!(stored.iter().all(|m| m.body.is_empty()));
}
