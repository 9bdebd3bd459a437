//! What only a PostgreSQL server shows: the DDL against what SQLAlchemy
//! emits there, rows written by another client, SQLSTATE classification, a
//! transaction the server aborted, locking reads, sequences after explicit
//! keys, isolation levels, and a connection killed mid-flush and mid-commit.
//!
//! Each test needs a server: it runs when `ORM_TEST_DATABASE_URL` is set and
//! the tests are built with `--features postgres` (CI starts a server with
//! `.ci/postgres`), and otherwise reports itself skipped with the reason.
//! The backend-neutral suites (session, query, relationships, ...) run on
//! PostgreSQL too, from the same files.

mod common;

use std::time::Duration;

use common::{pets, registration, users};
use orm::prelude::*;
use orm::types::Value;

/// Run `sql` (one statement or several, `;`-separated, `--` comments
/// allowed) through a session of `db`, and commit.
fn run_sql(db: &Database, sql: &str) {
    let s = db.session();
    for stmt in statements(sql) {
        // Raw SQL must be 'static: a test may leak a few bytes.
        let stmt: &'static str = Box::leak(stmt.into_boxed_str());
        s.execute(stmt, &[])
            .unwrap_or_else(|e| panic!("{stmt}: {e}"));
    }
    s.commit().unwrap();
}

/// The statements of a script, each without its `;`. Dollar-quoted bodies
/// (`$$ ... $$`) keep their semicolons.
fn statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut dollar = false;
    for line in sql.lines() {
        if line.trim_start().starts_with("--") {
            continue;
        }
        for part in line.split_inclusive(';') {
            current.push_str(part);
            dollar ^= part.matches("$$").count() % 2 == 1;
            if part.ends_with(';') && !dollar {
                let s = current.trim().trim_end_matches(';').trim().to_owned();
                if !s.is_empty() {
                    out.push(s);
                }
                current.clear();
            }
        }
        current.push('\n');
    }
    let rest = current.trim();
    if !rest.is_empty() {
        out.push(rest.to_owned());
    }
    out
}

/// Every column and constraint of the current schema, as text that does
/// not depend on names PostgreSQL made up.
fn shape(db: &Database) -> (Vec<String>, Vec<String>) {
    let s = db.session();
    let columns: Vec<(String, String, String, Option<i64>, String, bool)> = s
        .raw_tuples(
            "SELECT table_name::text, column_name::text, data_type::text, \
             character_maximum_length::bigint, is_nullable::text, \
             coalesce(column_default LIKE 'nextval(%', false) \
             FROM information_schema.columns WHERE table_schema = current_schema() \
             ORDER BY table_name, ordinal_position",
            &[],
        )
        .unwrap();
    let constraints: Vec<(String, String)> = s
        .raw_tuples(
            "SELECT conrelid::regclass::text, pg_get_constraintdef(oid) \
             FROM pg_constraint WHERE connamespace = current_schema()::regnamespace \
             ORDER BY 1, 2",
            &[],
        )
        .unwrap();
    (
        columns.into_iter().map(|c| format!("{c:?}")).collect(),
        constraints.into_iter().map(|c| format!("{c:?}")).collect(),
    )
}

/// Our `create_all` in one schema, SQLAlchemy's DDL in another: the same
/// columns (types, lengths, nullability, serial keys) and constraints.
fn assert_equivalent(builder: orm::DatabaseBuilder, reference: &str) {
    let ours = common::open(builder);
    ours.create_all().unwrap();
    let theirs = Database::open(&common::fresh_url()).unwrap();
    run_sql(&theirs, reference);
    let (a, b) = (shape(&ours), shape(&theirs));
    assert!(!b.0.is_empty());
    assert_eq!(a, b, "orm's DDL differs from SQLAlchemy's");
}

#[test]
fn users_tutorial_ddl_matches_sqlalchemy_on_postgres() {
    if common::require_postgres("users_tutorial_ddl_matches_sqlalchemy_on_postgres").is_none() {
        return;
    }
    assert_equivalent(
        Database::builder().model::<users::User>(),
        include_str!("fixtures/reference/sqlalchemy-users-postgresql.sql"),
    );
}

#[test]
fn registration_tutorial_ddl_matches_sqlalchemy_on_postgres() {
    if common::require_postgres("registration_tutorial_ddl_matches_sqlalchemy_on_postgres")
        .is_none()
    {
        return;
    }
    assert_equivalent(
        Database::builder().model::<registration::User>(),
        include_str!("fixtures/reference/sqlalchemy-registration-postgresql.sql"),
    );
}

#[test]
fn pets_tutorial_ddl_matches_sqlalchemy_on_postgres() {
    if common::require_postgres("pets_tutorial_ddl_matches_sqlalchemy_on_postgres").is_none() {
        return;
    }
    assert_equivalent(
        Database::builder()
            .model::<pets::PetCategory>()
            .model::<pets::PetComment>(),
        include_str!("fixtures/reference/sqlalchemy-pets-postgresql.sql"),
    );
}

/// Tables made by SQLAlchemy's DDL and rows written by another client (as
/// psql would): orm reads them, navigates both ways, updates, and adds rows
/// whose keys the tables' sequences generate.
#[test]
fn rows_written_by_another_client_are_read_navigated_and_updated() {
    use pets::{PetCategory, PetHandler};
    if common::require_postgres("rows_written_by_another_client").is_none() {
        return;
    }
    let url = common::fresh_url();
    let other = Database::open(&url).unwrap();
    run_sql(
        &other,
        include_str!("fixtures/reference/sqlalchemy-pets-postgresql.sql"),
    );
    run_sql(
        &other,
        "INSERT INTO pet_handler (handler_name) VALUES ('Sam'), ('Kim');
         INSERT INTO pet_category (pet_name, pet_category, handler_id)
           VALUES ('Rex', 'dog', 1), ('Tom', 'cat', 1), ('Bubbles', 'fish', 2);",
    );
    let db = Database::builder()
        .model::<PetCategory>()
        .open(&url)
        .unwrap();
    let s = db.session();
    let sam = s
        .query::<PetHandler>()
        .filter(PetHandler::handler_name.eq("Sam"))
        .one()
        .unwrap();
    let pets = sam.related(PetHandler::pet_category).unwrap();
    let names: Vec<String> = pets
        .iter()
        .map(|p| p.read().unwrap().pet_name.clone())
        .collect();
    assert_eq!(names, ["Rex", "Tom"]);
    let handler = pets[0].related(PetCategory::pet_handler).unwrap().unwrap();
    assert!(handler == sam);

    pets[1].write().unwrap().pet_name = "Thomas".into();
    let kim = s.get_or_not_found::<PetHandler>(2).unwrap();
    let nemo = Obj::new(PetCategory {
        pet_name: "Nemo".into(),
        pet_category: "fish".into(),
        ..Default::default()
    });
    kim.append(PetHandler::pet_category, &nemo).unwrap();
    s.commit().unwrap();
    assert_eq!(
        nemo.read().unwrap().pet_id,
        4,
        "the table's sequence gave the key"
    );

    let rows: Vec<(i64, String, i64)> = other
        .session()
        .raw_tuples(
            "SELECT pet_id::bigint, pet_name::text, handler_id::bigint FROM pet_category ORDER BY pet_id",
            &[],
        )
        .unwrap();
    assert_eq!(
        rows,
        [
            (1, "Rex".to_string(), 1),
            (2, "Thomas".to_string(), 1),
            (3, "Bubbles".to_string(), 2),
            (4, "Nemo".to_string(), 2),
        ]
    );
}

#[derive(Model, Debug, Default)]
#[orm(has_many(items = Item, backref = "owner"))]
struct Owner {
    #[orm(primary_key)]
    id: i64,
    #[orm(unique, max_length = 40)]
    name: String,
}

#[derive(Model, Debug, Default)]
struct Item {
    #[orm(primary_key)]
    id: i64,
    #[orm(foreign_key = Owner::id)]
    owner_id: i64,
    quantity: i64,
}

fn items_db() -> Database {
    common::fresh::<Item>()
}

fn owner(name: &str) -> Owner {
    Owner {
        name: name.into(),
        ..Default::default()
    }
}

#[test]
fn sqlstates_become_typed_errors_naming_model_and_columns() {
    if common::require_postgres("sqlstates_become_typed_errors").is_none() {
        return;
    }
    let db = items_db();
    run_sql(
        &db,
        "ALTER TABLE item ADD CONSTRAINT positive CHECK (quantity >= 0)",
    );
    let s = db.session();
    s.add(owner("ann")).unwrap();
    s.commit().unwrap();

    // 23505 unique
    s.add(owner("ann")).unwrap();
    let e = s.commit().unwrap_err();
    match &e {
        Error::Constraint {
            kind: ConstraintKind::Unique,
            model,
            columns,
            ..
        } => {
            assert_eq!(*model, Some("Owner"));
            assert_eq!(columns, &["name"]);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        !e.to_string().contains("ann"),
        "no value in the message: {e}"
    );
    s.rollback().unwrap();

    // 23503 foreign key
    s.add(Item {
        owner_id: 99,
        ..Default::default()
    })
    .unwrap();
    let e = s.commit().unwrap_err();
    assert_eq!(
        e.constraint_kind(),
        Some(ConstraintKind::ForeignKey),
        "{e:?}"
    );
    assert!(matches!(&e, Error::Constraint { columns, .. } if columns == &["owner_id"]));
    s.rollback().unwrap();

    // 23514 check
    s.add(Item {
        owner_id: 1,
        quantity: -1,
        ..Default::default()
    })
    .unwrap();
    let e = s.commit().unwrap_err();
    assert_eq!(e.constraint_kind(), Some(ConstraintKind::Check), "{e:?}");
    s.rollback().unwrap();

    // 23502 not null, from raw SQL
    let e = s
        .execute(
            "INSERT INTO item (owner_id, quantity) VALUES (1, NULL)",
            &[],
        )
        .unwrap_err();
    match &e {
        Error::Constraint {
            kind: ConstraintKind::NotNull,
            columns,
            ..
        } => assert_eq!(columns, &["quantity"]),
        other => panic!("{other:?}"),
    }
    s.rollback().unwrap();
    assert_eq!(db.session().query::<Item>().count().unwrap(), 0);
}

/// Values SQLite stores but PostgreSQL refuses: a NUL character in text,
/// and an `i64` past the 32 bits of SQLAlchemy's `Integer`. Each is a typed
/// error at flush, nothing is written, and the session goes on after
/// rollback.
#[test]
fn values_the_server_refuses_are_typed_errors_that_write_nothing() {
    if common::require_postgres("values_the_server_refuses").is_none() {
        return;
    }
    let db = items_db();
    let s = db.session();
    let ann = s.add(owner("ann")).unwrap();
    s.commit().unwrap();

    let nul = s.add(owner("hush\0hush")).unwrap();
    let e = s.commit().unwrap_err();
    assert!(matches!(e, Error::Database { .. }), "{e:?}");
    assert!(
        e.to_string().contains("22021"),
        "the SQLSTATE is shown: {e}"
    );
    assert!(
        !e.to_string().contains("hush"),
        "no value in the message: {e}"
    );
    assert_eq!(nul.state(), ObjState::Pending, "the object is kept");
    s.rollback().unwrap();

    let big = s
        .add(Item {
            owner_id: ann.read().unwrap().id,
            quantity: i64::from(i32::MAX) + 1,
            ..Default::default()
        })
        .unwrap();
    let e = s.commit().unwrap_err();
    assert!(
        e.to_string().contains("out of range"),
        "the bind says why: {e}"
    );
    assert_eq!(big.state(), ObjState::Pending);
    s.rollback().unwrap();

    assert_eq!(db.session().query::<Owner>().count().unwrap(), 1);
    assert_eq!(db.session().query::<Item>().count().unwrap(), 0);
    s.add(owner("bob")).unwrap();
    s.commit().unwrap();
    assert_eq!(db.session().query::<Owner>().count().unwrap(), 2);
}

/// A statement that fails inside a transaction aborts it on PostgreSQL
/// (SQLSTATE 25P02 for every later statement): the session says so, keeps
/// every object, and works again after rollback.
#[test]
fn a_transaction_the_server_aborted_needs_a_rollback_and_loses_nothing() {
    if common::require_postgres("a_transaction_the_server_aborted").is_none() {
        return;
    }
    let db = items_db();
    let s = db.session();
    let ann = s.add(owner("ann")).unwrap();
    s.flush().unwrap();
    let e = s
        .raw_tuples::<i64>("SELECT 1 / (SELECT count(*) - 1 FROM owner)", &[])
        .unwrap_err();
    assert!(matches!(e, Error::Database { .. }), "{e:?}");
    let bob = s.add(owner("bob")).unwrap();
    match s.commit().unwrap_err() {
        Error::NeedsRollback { reason } => assert!(reason.contains("aborted"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(bob.state(), ObjState::Pending, "nothing was lost");
    s.rollback().unwrap();
    assert_eq!(ann.state(), ObjState::Transient);
    s.add(&ann).unwrap();
    s.add(&bob).unwrap();
    s.commit().unwrap();
    assert_eq!(db.session().query::<Owner>().count().unwrap(), 2);

    // A failed flush inside the transaction rolls back to its savepoint:
    // the transaction goes on, with the earlier flush's work.
    let s = db.session();
    s.add(owner("cid")).unwrap();
    s.flush().unwrap();
    let dup = s.add(owner("ann")).unwrap();
    assert!(s.flush().is_err());
    dup.write().unwrap().name = "dan".into();
    s.commit().unwrap();
    assert_eq!(db.session().query::<Owner>().count().unwrap(), 4);
}

#[test]
fn explicit_keys_move_the_sequence_along() {
    if common::require_postgres("explicit_keys_move_the_sequence_along").is_none() {
        return;
    }
    let db = items_db();
    let s = db.session();
    s.add(Owner {
        id: 10,
        name: "ten".into(),
    })
    .unwrap();
    s.commit().unwrap();
    let next = s.add(owner("next")).unwrap();
    s.commit().unwrap();
    assert_eq!(next.read().unwrap().id, 11);
}

#[test]
fn isolation_levels_are_asked_of_the_server() {
    if common::require_postgres("isolation_levels_are_asked_of_the_server").is_none() {
        return;
    }
    let level = |s: &Session| -> String {
        s.raw_tuples::<String>("SELECT current_setting('transaction_isolation')", &[])
            .unwrap()
            .remove(0)
    };
    let db = items_db();
    let s = db.session();
    s.begin_with(orm::Isolation::Serializable).unwrap();
    assert_eq!(level(&s), "serializable");
    s.commit().unwrap();
    s.begin().unwrap();
    assert_eq!(level(&s), "read committed", "for one transaction only");
    s.rollback().unwrap();

    let url = common::fresh_url();
    let db = Database::builder()
        .model::<Item>()
        .isolation(orm::Isolation::RepeatableRead)
        .open(&url)
        .unwrap();
    let s = db.session();
    s.begin().unwrap();
    assert_eq!(level(&s), "repeatable read");
}

#[test]
fn locking_reads_lock_and_skip_rows() {
    if common::require_postgres("locking_reads_lock_and_skip_rows").is_none() {
        return;
    }
    let db = items_db();
    let s = db.session();
    s.add_all([owner("a"), owner("b")]).unwrap();
    s.commit().unwrap();
    let (sql, _) = s.query::<Owner>().for_update().to_sql().unwrap();
    assert!(sql.ends_with(" FOR UPDATE"), "{sql}");

    let first = db.session();
    let locked = first
        .query::<Owner>()
        .order_by(Owner::id)
        .for_update()
        .first()
        .unwrap()
        .unwrap();
    assert_eq!(locked.read().unwrap().name, "a");
    let second = db.session();
    let next = second
        .query::<Owner>()
        .order_by(Owner::id)
        .skip_locked()
        .first()
        .unwrap()
        .unwrap();
    assert_eq!(next.read().unwrap().name, "b", "the locked row was skipped");
    let e = db
        .session()
        .query::<Owner>()
        .filter(Owner::name.eq("a"))
        .nowait()
        .all()
        .unwrap_err();
    assert!(e.to_string().contains("lock"), "{e}");
    first.commit().unwrap();
    second.commit().unwrap();
}

/// The server's process for a session's connection.
fn backend_pid(s: &Session) -> i64 {
    s.raw_tuples::<i64>("SELECT pg_backend_pid()::bigint", &[])
        .unwrap()
        .remove(0)
}

fn terminate_after(db: &Database, pid: i64, wait: Duration) -> std::thread::JoinHandle<()> {
    let db = db.clone();
    std::thread::spawn(move || {
        std::thread::sleep(wait);
        let killed: Vec<bool> = db
            .session()
            .raw_tuples(
                "SELECT pg_terminate_backend($1::int)",
                &[Value::Integer(pid)],
            )
            .unwrap();
        assert_eq!(killed, [true]);
    })
}

/// The connection is killed (`pg_terminate_backend`) while the server runs
/// the flush's INSERT, then while it runs COMMIT. Nothing partial is
/// written; the errors are typed; the commit's outcome is reported as
/// unknown, as it honestly is; the session works again after rollback.
#[test]
fn a_connection_killed_mid_flush_or_mid_commit_leaves_nothing_partial() {
    if common::require_postgres("a_connection_killed_mid_flush_or_mid_commit").is_none() {
        return;
    }
    let db = items_db();
    run_sql(
        &db,
        "CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN PERFORM pg_sleep(3); RETURN NEW; END $$;
         CREATE TRIGGER slow_insert BEFORE INSERT ON item FOR EACH ROW
           WHEN (NEW.quantity = 1) EXECUTE FUNCTION slow();
         CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON item
           DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
           WHEN (NEW.quantity = 2) EXECUTE FUNCTION slow();",
    );
    let s = db.session();
    let ann = s.add(owner("ann")).unwrap();
    s.commit().unwrap();
    let count = |db: &Database| db.session().query::<Item>().count().unwrap();

    // Mid-flush: the INSERT sleeps in its trigger. (The pid first: a query
    // would autoflush.)
    s.begin().unwrap();
    let pid = backend_pid(&s);
    let item = Obj::new(Item {
        quantity: 1,
        ..Default::default()
    });
    ann.append(Owner::items, &item).unwrap();
    let killer = terminate_after(&db, pid, Duration::from_millis(500));
    let e = s.flush().unwrap_err();
    killer.join().unwrap();
    assert!(matches!(e, Error::Disconnected { .. }), "{e:?}");
    assert!(e.is_retryable());
    assert_eq!(
        item.state(),
        ObjState::Pending,
        "the failed flush changed nothing"
    );
    assert_eq!(item.read().unwrap().id, 0);
    s.rollback().unwrap();
    assert_eq!(count(&db), 0);

    // Mid-commit: the deferred trigger sleeps inside COMMIT.
    let item = Obj::new(Item {
        quantity: 2,
        ..Default::default()
    });
    ann.append(Owner::items, &item).unwrap();
    s.flush().unwrap();
    let killer = terminate_after(&db, backend_pid(&s), Duration::from_millis(500));
    let e = s.commit().unwrap_err();
    killer.join().unwrap();
    assert!(matches!(e, Error::CommitOutcomeUnknown { .. }), "{e:?}");
    assert!(!e.is_retryable());
    assert!(matches!(
        s.commit().unwrap_err(),
        Error::NeedsRollback { .. }
    ));
    s.rollback().unwrap();
    assert_eq!(count(&db), 0, "the server rolled the killed commit back");

    // The session goes on with a new connection.
    s.add(Item {
        owner_id: 1,
        quantity: 3,
        ..Default::default()
    })
    .unwrap();
    s.commit().unwrap();
    assert_eq!(count(&db), 1);
}
