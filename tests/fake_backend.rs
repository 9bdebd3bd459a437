//! A second backend, used only here, that proves the seam is real: a
//! statement-recording fake with its own dialect (`$n` placeholders, keys
//! read back through `RETURNING`, plain `BEGIN`). The unit of work and the
//! query pipeline run through it end to end (DDL, inserts with generated
//! keys and foreign keys filled from them, updates, deletes, queries through
//! the identity map, relationship loading, a failed flush rolled back,
//! `Database::transaction` retrying what the backend calls retryable)
//! without a single SQLite call: nothing here opens a SQLite connection.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use orm::backend::{Backend, CommitOutcome, Connection, Dialect, GeneratedKeys, Placeholders, Row};
use orm::prelude::*;
use orm::types::Value;

static FAKE: Dialect = Dialect::SQLITE
    .named("fake")
    .with_placeholders(Placeholders::Numbered)
    .with_generated_keys(GeneratedKeys::Returning)
    .with_begin_write("BEGIN");

/// What the fake saw and what it will answer.
#[derive(Debug, Default)]
struct Script {
    /// Every statement, with its parameters.
    log: Vec<(String, Vec<Value>)>,
    /// Rows the next SELECTs return, one entry per SELECT.
    results: VecDeque<Vec<Vec<Value>>>,
    /// The next generated key.
    next_key: i64,
    /// Statements containing this text fail with a unique violation.
    fail_on: Option<String>,
    /// The next COMMITs fail with these errors (and end the transaction,
    /// as a server that rolled it back does).
    commit_errors: VecDeque<orm::Error>,
    in_txn: bool,
    /// How the keys of an INSERT with several VALUES rows come back:
    /// `RETURNING` promises no order, so by default they come reversed.
    keys: KeyAnswer,
}

/// The keys the fake returns for a multi-row INSERT.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
enum KeyAnswer {
    /// One key per row, the last row's first.
    #[default]
    Reversed,
    /// One key short: they cannot be matched to the rows.
    OneShort,
}

#[derive(Debug, Clone, Default)]
struct Fake(Arc<Mutex<Script>>);

impl Fake {
    fn script(&self) -> std::sync::MutexGuard<'_, Script> {
        self.0.lock().unwrap()
    }

    /// The statements since the last call, as text.
    fn take_sql(&self) -> Vec<String> {
        std::mem::take(&mut self.script().log)
            .into_iter()
            .map(|(sql, _)| sql)
            .collect()
    }

    fn answer(&self, rows: Vec<Vec<Value>>) {
        self.script().results.push_back(rows);
    }
}

impl Backend for Fake {
    fn dialect(&self) -> &'static Dialect {
        &FAKE
    }

    fn connect(&self) -> orm::Result<Box<dyn Connection>> {
        Ok(Box::new(self.clone()))
    }
}

impl Connection for Fake {
    fn dialect(&self) -> &'static Dialect {
        &FAKE
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> orm::Result<usize> {
        let mut s = self.script();
        s.log.push((sql.to_owned(), params.to_vec()));
        if s.fail_on.as_deref().is_some_and(|f| sql.contains(f)) {
            return Err(orm::Error::Constraint {
                kind: ConstraintKind::Unique,
                model: None,
                table: None,
                columns: vec!["name".into()],
                source: "fake unique violation".into(),
            });
        }
        if sql == "COMMIT"
            && let Some(e) = s.commit_errors.pop_front()
        {
            s.in_txn = false;
            return Err(e);
        }
        match sql {
            "BEGIN" => s.in_txn = true,
            "COMMIT" | "ROLLBACK" => s.in_txn = false,
            _ => {}
        }
        Ok(1)
    }

    fn query(
        &mut self,
        sql: &str,
        params: &[Value],
        row: &mut dyn FnMut(&Row<'_>) -> orm::Result<()>,
    ) -> orm::Result<()> {
        let rows = {
            let mut s = self.script();
            s.log.push((sql.to_owned(), params.to_vec()));
            if s.fail_on.as_deref().is_some_and(|f| sql.contains(f)) {
                return Err(orm::Error::Constraint {
                    kind: ConstraintKind::Unique,
                    model: None,
                    table: None,
                    columns: vec!["name".into()],
                    source: "fake unique violation".into(),
                });
            }
            if sql.contains(" RETURNING ") {
                // One key per VALUES row, each one more than the last.
                let rows = sql.matches("), (").count() + 1;
                let first = s.next_key + 1;
                s.next_key += rows as i64;
                let mut keys: Vec<Vec<Value>> = (first..=s.next_key)
                    .rev()
                    .map(|k| vec![Value::Integer(k)])
                    .collect();
                if rows > 1 && s.keys == KeyAnswer::OneShort {
                    keys.pop();
                }
                keys
            } else {
                s.results.pop_front().unwrap_or_default()
            }
        };
        for values in &rows {
            row(&Row::from_values(values, &[]))?;
        }
        Ok(())
    }

    fn in_transaction(&self) -> bool {
        self.script().in_txn
    }

    /// As a server does: a COMMIT it answered with an error was not
    /// committed; a lost connection leaves the outcome open.
    fn failed_commit(&self, error: orm::Error) -> CommitOutcome {
        match error {
            e @ orm::Error::Disconnected { .. } => CommitOutcome::Unknown(e),
            e => CommitOutcome::NotCommitted(e),
        }
    }
}

#[derive(Model, Debug, Default)]
#[orm(has_many(pets = Pet, backref = "owner"))]
struct Person {
    #[orm(primary_key)]
    id: i64,
    #[orm(unique)]
    name: String,
}

#[derive(Model, Debug, Default)]
struct Pet {
    #[orm(primary_key)]
    id: i64,
    name: String,
    #[orm(foreign_key = Person::id)]
    person_id: i64,
}

fn open() -> (Fake, Database) {
    let fake = Fake::default();
    let db = Database::builder()
        .model::<Pet>()
        .open_backend("fake://", fake.clone())
        .expect("open");
    (fake, db)
}

#[test]
fn ddl_is_written_for_the_backend_and_run_through_it() {
    let (fake, db) = open();
    db.create_all().unwrap();
    assert_eq!(
        fake.take_sql(),
        [
            "BEGIN",
            "CREATE TABLE IF NOT EXISTS \"person\" (\n\t\"id\" INTEGER NOT NULL, \n\t\"name\" TEXT NOT NULL, \n\tPRIMARY KEY (\"id\"), \n\tUNIQUE (\"name\")\n)",
            "CREATE TABLE IF NOT EXISTS \"pet\" (\n\t\"id\" INTEGER NOT NULL, \n\t\"name\" TEXT NOT NULL, \n\t\"person_id\" INTEGER NOT NULL, \n\tPRIMARY KEY (\"id\"), \n\tFOREIGN KEY(\"person_id\") REFERENCES \"person\" (\"id\")\n)",
            "COMMIT",
        ]
    );
}

#[test]
fn the_unit_of_work_runs_through_the_backend() {
    let (fake, db) = open();
    let s = db.session();
    let ann = s
        .add(Person {
            name: "ann".into(),
            ..Default::default()
        })
        .unwrap();
    let rex = Obj::new(Pet {
        name: "rex".into(),
        ..Default::default()
    });
    ann.append(Person::pets, &rex).unwrap();
    s.commit().unwrap();
    // Keys come back through RETURNING, in the dialect's placeholders; the
    // pet's foreign key is filled from the key generated for its owner.
    let log = std::mem::take(&mut fake.script().log);
    assert_eq!(
        log,
        [
            ("BEGIN".to_string(), vec![]),
            (
                r#"INSERT INTO "person" ("name") VALUES ($1) RETURNING "id""#.to_string(),
                vec![Value::Text("ann".into())]
            ),
            (
                r#"INSERT INTO "pet" ("name", "person_id") VALUES ($1, $2) RETURNING "id""#
                    .to_string(),
                vec![Value::Text("rex".into()), Value::Integer(1)]
            ),
            ("COMMIT".to_string(), vec![]),
        ]
    );
    assert_eq!(ann.read().unwrap().id, 1);
    assert_eq!(rex.read().unwrap().id, 2);
    assert_eq!(rex.read().unwrap().person_id, 1);

    rex.write().unwrap().name = "max".into();
    s.commit().unwrap();
    s.delete(&rex).unwrap();
    s.commit().unwrap();
    assert_eq!(
        fake.take_sql(),
        [
            "BEGIN",
            r#"UPDATE "pet" SET "name" = $1 WHERE "pet"."id" = $2"#,
            "COMMIT",
            "BEGIN",
            r#"DELETE FROM "pet" WHERE "pet"."id" = $1"#,
            "COMMIT",
        ]
    );
    assert_eq!(rex.state(), ObjState::Detached);
}

#[test]
fn queries_and_relationship_loads_run_through_the_backend() {
    let (fake, db) = open();
    let s = db.session();
    fake.answer(vec![
        vec![Value::Integer(7), Value::Text("ann".into())],
        vec![Value::Integer(8), Value::Text("bob".into())],
    ]);
    let people = s
        .query::<Person>()
        .filter(Person::name.ne("cid"))
        .order_by(Person::id)
        .all()
        .unwrap();
    assert_eq!(people.len(), 2);
    assert_eq!(people[1].read().unwrap().name, "bob");
    // The identity map holds them: a get by key runs no statement.
    assert!(s.get::<Person>(7).unwrap().unwrap() == people[0]);

    fake.answer(vec![vec![
        Value::Integer(3),
        Value::Text("rex".into()),
        Value::Integer(7),
    ]]);
    let pets = people[0].related(Person::pets).unwrap();
    assert_eq!(pets.len(), 1);
    // Navigating back finds the owner in the identity map, with no SQL.
    assert!(pets[0].related(Pet::owner).unwrap().unwrap() == people[0]);
    assert_eq!(
        fake.take_sql(),
        [
            r#"SELECT "person"."id", "person"."name" FROM "person" WHERE "person"."name" <> $1 ORDER BY "person"."id" ASC"#,
            r#"SELECT "pet"."id", "pet"."name", "pet"."person_id" FROM "pet" WHERE "pet"."person_id" IN ($1)"#,
        ]
    );
}

#[test]
fn a_failed_flush_through_the_backend_leaves_every_object_as_it_was() {
    let (fake, db) = open();
    let s = db.session();
    let ann = s
        .add(Person {
            name: "ann".into(),
            ..Default::default()
        })
        .unwrap();
    s.flush().unwrap();
    let rex = Obj::new(Pet {
        name: "rex".into(),
        ..Default::default()
    });
    ann.append(Person::pets, &rex).unwrap();
    fake.script().fail_on = Some("INSERT INTO \"pet\"".into());
    let err = s.flush().unwrap_err();
    assert_eq!(err.constraint_kind(), Some(ConstraintKind::Unique));
    assert_eq!(rex.state(), ObjState::Pending);
    assert_eq!(
        rex.read().unwrap().person_id,
        0,
        "the filled key was taken back"
    );
    assert!(
        fake.take_sql().iter().any(|s| s == "ROLLBACK TO orm_flush"),
        "the flush ran under a savepoint of the backend"
    );
    fake.script().fail_on = None;
    s.commit().unwrap();
    assert_eq!(rex.read().unwrap().person_id, ann.read().unwrap().id);
}

fn person(name: &str) -> Person {
    Person {
        name: name.into(),
        ..Default::default()
    }
}

#[test]
fn a_multi_row_insert_matches_returned_keys_to_its_rows_in_values_order() {
    let (fake, db) = open();
    let s = db.session();
    let people = s.add_all(["ann", "bob", "cid"].map(person)).unwrap();
    s.commit().unwrap();
    assert_eq!(
        fake.take_sql(),
        [
            "BEGIN",
            r#"INSERT INTO "person" ("name") VALUES ($1), ($2), ($3) RETURNING "id""#,
            "COMMIT",
        ]
    );
    // The fake answered 3, 2, 1: sorted back, the first row has the first key.
    let keys: Vec<i64> = people.iter().map(|p| p.read().unwrap().id).collect();
    assert_eq!(keys, [1, 2, 3]);
    assert!(s.get::<Person>(1).unwrap().unwrap() == people[0]);

    let more = s.bulk_insert(["dan", "eve"].map(person)).unwrap();
    let keys: Vec<i64> = more.iter().map(|p| p.read().unwrap().id).collect();
    assert_eq!(keys, [4, 5]);
}

#[test]
fn keys_that_cannot_be_matched_to_the_rows_fail_the_flush_and_change_nothing() {
    let (fake, db) = open();
    let s = db.session();
    let people = s.add_all(["ann", "bob"].map(person)).unwrap();
    fake.script().keys = KeyAnswer::OneShort;
    let err = s.flush().unwrap_err();
    assert!(
        matches!(&err, orm::Error::Usage(m) if m.contains("cannot be matched")),
        "{err}"
    );
    for p in &people {
        assert_eq!(p.state(), ObjState::Pending);
        assert_eq!(p.read().unwrap().id, 0, "no key was given");
    }
    let log = fake.take_sql();
    assert!(log.iter().any(|s| s.starts_with("ROLLBACK")), "{log:?}");

    // A bulk insert fails the same way, inserting nothing (in another
    // session: this one would flush its pending objects first).
    let other = db.session();
    let err = other.bulk_insert(["cid", "dan"].map(person)).unwrap_err();
    assert!(
        matches!(&err, orm::Error::Usage(m) if m.contains("insertion order")),
        "{err}"
    );
    let log = fake.take_sql();
    assert!(log.iter().any(|s| s.starts_with("ROLLBACK")), "{log:?}");
    drop(other);

    fake.script().keys = KeyAnswer::Reversed;
    s.commit().unwrap();
    assert!(people.iter().all(|p| p.state() == ObjState::Persistent));
    assert!(people[0].read().unwrap().id < people[1].read().unwrap().id);
}

#[test]
fn with_connection_is_for_sqlite_only() {
    let (_fake, db) = open();
    let err = db.session().with_connection(|_| ()).unwrap_err();
    assert!(err.to_string().contains("not SQLite"), "{err}");
}

fn conflict() -> orm::Error {
    orm::Error::Conflict {
        source: "could not serialize access (fake)".into(),
    }
}

/// One `transaction` adding a person; how many times its closure ran.
fn add_ann(db: &Database, options: orm::TransactionOptions) -> (orm::Result<i64>, u32) {
    let mut runs = 0;
    let result = db.transaction_with(options, |s| {
        runs += 1;
        let ann = s.add(Person {
            name: "ann".into(),
            ..Default::default()
        })?;
        s.flush()?;
        Ok(ann.read()?.id)
    });
    (result, runs)
}

fn quick() -> orm::TransactionOptions {
    orm::TransactionOptions::default().backoff(std::time::Duration::ZERO, std::time::Duration::ZERO)
}

#[test]
fn transaction_runs_the_work_again_after_a_serialization_failure_at_commit() {
    let (fake, db) = open();
    fake.script().commit_errors.extend([conflict(), conflict()]);
    let (result, runs) = add_ann(&db, quick());
    assert_eq!(runs, 3);
    // Each attempt is a new transaction in a new session; the key is the
    // third attempt's.
    assert_eq!(result.unwrap(), 3);
    let sql = fake.take_sql();
    let begins = sql.iter().filter(|s| *s == "BEGIN").count();
    let commits = sql.iter().filter(|s| *s == "COMMIT").count();
    let inserts = sql.iter().filter(|s| s.starts_with("INSERT")).count();
    assert_eq!((begins, inserts, commits), (3, 3, 3), "{sql:#?}");
}

#[test]
fn transaction_gives_up_after_its_attempts_and_returns_the_last_error() {
    let (fake, db) = open();
    fake.script()
        .commit_errors
        .extend([conflict(), conflict(), conflict()]);
    let (result, runs) = add_ann(&db, quick().attempts(2));
    assert_eq!(runs, 2);
    let err = result.unwrap_err();
    assert!(matches!(err, orm::Error::Conflict { .. }), "{err:?}");
    assert!(err.is_retryable());
}

#[test]
fn transaction_does_not_retry_an_error_that_is_not_retryable() {
    let (fake, db) = open();
    fake.script().fail_on = Some("INSERT INTO \"person\"".into());
    let (result, runs) = add_ann(&db, quick());
    assert_eq!(runs, 1);
    assert_eq!(
        result.unwrap_err().constraint_kind(),
        Some(ConstraintKind::Unique)
    );
}

#[test]
fn transaction_does_not_retry_a_commit_that_may_have_committed() {
    let (fake, db) = open();
    fake.script()
        .commit_errors
        .push_back(orm::Error::Disconnected {
            source: "connection reset (fake)".into(),
        });
    let (result, runs) = add_ann(&db, quick());
    assert_eq!(runs, 1, "running it again could apply it twice");
    let err = result.unwrap_err();
    assert!(
        matches!(err, orm::Error::CommitOutcomeUnknown { .. }),
        "{err:?}"
    );
}

/// A COMMIT the server refused (it rolled the transaction back) after a
/// flush that filled foreign keys: the retry inserts every row again, each
/// child with its parent's new key, those flushed before the COMMIT too.
#[test]
fn a_refused_commit_after_a_flush_fills_every_foreign_key_again_on_the_retry() {
    let (fake, db) = open();
    let s = db.session();
    let ann = s
        .add(Person {
            name: "ann".into(),
            ..Default::default()
        })
        .unwrap();
    let pet = |name: &str| {
        Obj::new(Pet {
            name: name.into(),
            ..Default::default()
        })
    };
    let (rex, max) = (pet("rex"), pet("max"));
    ann.append(Person::pets, &rex).unwrap();
    s.flush().unwrap();
    assert_eq!(rex.read().unwrap().person_id, 1);
    ann.append(Person::pets, &max).unwrap();
    fake.script().commit_errors.push_back(conflict());
    let err = s.commit().unwrap_err();
    assert!(matches!(err, orm::Error::Conflict { .. }), "{err:?}");
    // Everything the transaction wrote into the objects is put back.
    assert_eq!(rex.state(), ObjState::Pending);
    assert_eq!(
        (rex.read().unwrap().id, rex.read().unwrap().person_id),
        (0, 0)
    );
    fake.take_sql();
    s.commit().unwrap();
    let ann_id = ann.read().unwrap().id;
    assert_eq!(ann_id, 4, "a new key from the retry");
    for p in [&rex, &max] {
        assert_eq!(p.state(), ObjState::Persistent);
        assert_eq!(p.read().unwrap().person_id, ann_id);
    }
    let inserts: Vec<Vec<Value>> = std::mem::take(&mut fake.script().log)
        .into_iter()
        .filter(|(sql, _)| sql.starts_with(r#"INSERT INTO "pet""#))
        .map(|(_, params)| params)
        .collect();
    assert_eq!(
        inserts,
        [vec![
            Value::Text("rex".into()),
            Value::Integer(ann_id),
            Value::Text("max".into()),
            Value::Integer(ann_id),
        ]]
    );
}
