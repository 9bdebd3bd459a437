//! Misuse under live guards, commits that cannot be trusted, and unit-of-work
//! semantics that must match SQLAlchemy's. Each test is the regression test
//! of one finding of the robustness review (see RELIABILITY.md): an
//! operation that fails changes nothing, nothing acknowledged is lost, one
//! object per row.

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use orm::prelude::*;
use orm::rusqlite;

#[derive(Model, Debug, Default)]
struct User {
    #[orm(primary_key)]
    id: i64,
    #[orm(unique)]
    name: String,
}

fn db() -> Database {
    common::fresh::<User>()
}

fn user(name: &str) -> User {
    User {
        name: name.into(),
        ..Default::default()
    }
}

fn names(db: &Database) -> Vec<String> {
    db.session()
        .query::<User>()
        .order_by(User::id)
        .select(User::name)
        .all()
        .expect("names")
}

fn committed_ann(db: &Database) -> (Session, Obj<User>) {
    let s = db.session();
    let ann = s.add(user("ann")).expect("add");
    s.commit().expect("commit");
    (s, ann)
}

#[test]
fn refresh_under_a_write_guard_fails_and_keeps_the_change() {
    let db = db();
    let (s, ann) = committed_ann(&db);
    let mut guard = ann.write().unwrap();
    guard.name = "changed".into();
    let err = s.refresh(&ann).unwrap_err();
    assert!(matches!(err, Error::BorrowConflict { .. }), "{err:?}");
    guard.name.push('!');
    drop(guard);
    assert!(!ann.is_expired(), "a failed refresh expires nothing");
    s.commit().unwrap();
    assert_eq!(names(&db), ["changed!"]);
}

#[test]
fn expire_under_a_write_guard_fails_and_later_writes_are_kept() {
    let db = db();
    let (s, ann) = committed_ann(&db);
    let mut guard = ann.write().unwrap();
    let err = s.expire(&ann).unwrap_err();
    assert!(matches!(err, Error::BorrowConflict { .. }), "{err:?}");
    let err = s.expire_all().unwrap_err();
    assert!(matches!(err, Error::BorrowConflict { .. }), "{err:?}");
    guard.name = "written after expire".into();
    drop(guard);
    s.commit().unwrap();
    assert_eq!(names(&db), ["written after expire"]);
}

#[test]
fn expire_all_under_a_write_guard_expires_nothing() {
    let db = db();
    let s = db.session();
    let ann = s.add(user("ann")).unwrap();
    let bob = s.add(user("bob")).unwrap();
    s.commit().unwrap();
    let guard = bob.write().unwrap();
    assert!(s.expire_all().is_err());
    assert!(
        !ann.is_expired(),
        "no object is expired when one is guarded"
    );
    drop(guard);
    s.expire_all().unwrap();
    assert!(ann.is_expired() && bob.is_expired());
}

#[test]
fn rollback_of_a_flushed_delete_under_a_guard_keeps_one_object_per_row() {
    let db = db();
    let (s, ann) = committed_ann(&db);
    s.delete(&ann).unwrap();
    s.flush().unwrap();
    let guard = ann.write().unwrap();
    s.rollback().unwrap();
    drop(guard);
    assert_eq!(ann.state(), ObjState::Persistent);
    assert_eq!(ann.identity(), Some(1));
    let again = s.get::<User>(1).unwrap().expect("the row is still there");
    assert!(again == ann, "the identity map gives back the same object");
}

#[test]
fn a_busy_commit_with_a_read_guard_on_an_inserted_object_changes_nothing() {
    if common::is_postgres() {
        return; // SQLite only: a reader's lock on a rollback-journal file.
    }
    let (_dir, url) = common::temp_db("busy.db");
    let db = Database::builder()
        .model::<User>()
        .journal_mode(orm::JournalMode::Delete)
        .busy_timeout(std::time::Duration::ZERO)
        .open(&url)
        .unwrap();
    db.create_all().unwrap();
    let s = db.session();
    let ann = s.add(user("ann")).unwrap();
    s.flush().unwrap();
    assert_eq!(ann.read().unwrap().id, 1);

    // A reader holds its lock through our COMMIT (rollback-journal mode).
    let reader = rusqlite::Connection::open(common::path_of(&url)).unwrap();
    reader.execute_batch("BEGIN").unwrap();
    let _: i64 = reader
        .query_row("SELECT count(*) FROM user", [], |r| r.get(0))
        .unwrap();

    let guard = ann.read().unwrap();
    let err = s.commit().unwrap_err();
    assert!(matches!(err, Error::BorrowConflict { .. }), "{err:?}");
    assert_eq!(guard.id, 1, "nothing was undone under the guard");
    drop(guard);
    assert!(s.in_transaction(), "the transaction is still open");

    // Without the guard, the busy COMMIT puts everything back...
    let err = s.commit().unwrap_err();
    assert!(err.is_busy(), "{err:?}");
    assert_eq!(ann.state(), ObjState::Pending);
    assert_eq!(ann.read().unwrap().id, 0, "the generated key is taken back");

    // ...and once the reader is gone the retry commits exactly once.
    reader.execute_batch("COMMIT").unwrap();
    s.commit().unwrap();
    assert_eq!(ann.state(), ObjState::Persistent);
    assert_eq!(names(&db), ["ann"]);
}

thread_local! {
    static HOOK_SESSION: RefCell<Option<Rc<Session>>> = const { RefCell::new(None) };
    static HOOK_CALLS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// A field whose `Drop` calls back into the session, as an audit hook might.
#[derive(Debug, Default)]
struct CallsBack;

impl Drop for CallsBack {
    fn drop(&mut self) {
        HOOK_SESSION.with(|s| {
            let Ok(s) = s.try_borrow() else { return };
            if let Some(s) = s.as_ref() {
                let outcome = match s.flush() {
                    Ok(()) => "ok".to_string(),
                    Err(e) => format!("{e}"),
                };
                HOOK_CALLS.with(|c| c.borrow_mut().push(outcome));
            }
        });
    }
}

#[derive(Model, Debug, Default)]
struct Audited {
    #[orm(primary_key)]
    id: i64,
    name: String,
    #[orm(skip)]
    _hook: CallsBack,
}

#[test]
fn a_drop_impl_calling_back_into_the_session_during_refresh_does_not_panic() {
    let db = common::fresh::<Audited>();
    let s = Rc::new(db.session());
    let a = s
        .add(Audited {
            name: "a".into(),
            ..Default::default()
        })
        .unwrap();
    s.commit().unwrap();
    a.write().unwrap().name = "changed".into(); // takes a snapshot
    HOOK_SESSION.with(|h| *h.borrow_mut() = Some(Rc::clone(&s)));
    let refreshed = s.refresh(&a);
    let expired = s.expire(&a);
    HOOK_SESSION.with(|h| *h.borrow_mut() = None);
    refreshed.unwrap();
    expired.unwrap();
    assert_eq!(a.read().unwrap().name, "a");
    let calls = HOOK_CALLS.with(|c| c.borrow().clone());
    assert!(!calls.is_empty(), "the hook ran");
}

/// The same hook through every other path that drops model values or
/// snapshots inside the session: each may give the hook a typed error, and
/// none may panic.
#[test]
fn a_drop_impl_calling_back_into_the_session_never_panics() {
    let db = common::fresh::<Audited>();
    let s = Rc::new(db.session());
    let audited = |name: &str| Audited {
        name: name.into(),
        ..Default::default()
    };
    HOOK_SESSION.with(|h| *h.borrow_mut() = Some(Rc::clone(&s)));
    let a = s.add(audited("a")).unwrap();
    let b = s.add(audited("b")).unwrap();
    s.commit().unwrap();
    a.write().unwrap().name = "a2".into();
    s.rollback().unwrap(); // reverts from the snapshot
    b.write().unwrap().name = "b2".into();
    s.expire_all().unwrap();
    assert_eq!(b.read().unwrap().name, "b");
    s.query::<Audited>().populate_existing().all().unwrap();
    let c = s.add(audited("c")).unwrap();
    s.flush().unwrap();
    s.rollback().unwrap(); // c is discarded
    drop(c);
    s.delete(&a).unwrap();
    s.commit().unwrap();
    s.expunge(&b).unwrap();
    drop((a, b));
    s.add(audited("d")).unwrap();
    s.close().unwrap();
    HOOK_SESSION.with(|h| *h.borrow_mut() = None);
    let stored: Vec<String> = db
        .session()
        .query::<Audited>()
        .select(Audited::name)
        .all()
        .unwrap();
    assert_eq!(stored, ["b"]);
}

#[test]
fn a_reentrant_flush_inside_with_connection_changes_nothing() {
    if common::is_postgres() {
        return; // SQLite only: with_connection hands out SQLite's connection.
    }
    let db = db();
    let s = db.session();
    s.add(user("ann")).unwrap();
    s.flush().unwrap();
    let bob = s.add(user("bob")).unwrap();
    let inner = s.with_connection(|_| s.flush()).unwrap();
    let err = inner.unwrap_err();
    assert!(err.to_string().contains("re-entrant"), "{err}");
    assert_eq!(bob.state(), ObjState::Pending);
    assert!(s.in_transaction(), "the transaction log is intact");
    s.commit().unwrap();
    assert_eq!(names(&db), ["ann", "bob"]);
}

#[test]
fn a_commit_after_the_file_was_deleted_is_an_error() {
    if common::is_postgres() {
        return; // SQLite only: a database file deleted under the connection.
    }
    let (dir, url) = common::temp_db("gone.db");
    let db = Database::builder().model::<User>().open(&url).unwrap();
    db.create_all().unwrap();
    let s = db.session();
    s.add(user("ann")).unwrap();
    s.commit().unwrap();

    for entry in std::fs::read_dir(dir.path()).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    let bob = s.add(user("bob")).unwrap();
    let err = s.commit().unwrap_err();
    assert!(matches!(err, Error::DatabaseMoved { .. }), "{err:?}");
    assert_eq!(bob.state(), ObjState::Pending, "nothing was acknowledged");
    // Every later commit keeps failing; none is acknowledged.
    let s2 = db.session();
    s2.add(user("cid")).unwrap();
    assert!(matches!(
        s2.commit().unwrap_err(),
        Error::DatabaseMoved { .. }
    ));
}

#[test]
fn a_commit_after_the_file_was_replaced_is_an_error() {
    if common::is_postgres() {
        return; // SQLite only: a database file replaced under the connection.
    }
    let (dir, url) = common::temp_db("replaced.db");
    let db = Database::builder()
        .model::<User>()
        .journal_mode(orm::JournalMode::Delete)
        .open(&url)
        .unwrap();
    db.create_all().unwrap();
    let s = db.session();
    s.add(user("ann")).unwrap();
    s.commit().unwrap();

    let other = dir.path().join("other.db");
    std::fs::copy(common::path_of(&url), &other).unwrap();
    std::fs::rename(&other, common::path_of(&url)).unwrap();
    s.add(user("bob")).unwrap();
    let err = s.commit().unwrap_err();
    assert!(matches!(err, Error::DatabaseMoved { .. }), "{err:?}");
}

/// Interrupt the session's COMMIT at VM step `k`: returns the session, the
/// object it inserted and COMMIT's error.
fn commit_interrupted_at(url: &str, k: u64) -> (Database, Session, Obj<User>, Error) {
    use std::sync::atomic::{AtomicU64, Ordering};
    let db = Database::builder().model::<User>().open(url).unwrap();
    db.create_all().unwrap();
    let s = db.session();
    let ann = s.add(user("ann")).unwrap();
    s.flush().unwrap();
    let steps = std::sync::Arc::new(AtomicU64::new(0));
    let counter = steps.clone();
    s.with_connection(move |c| {
        c.progress_handler(
            1,
            Some(move || counter.fetch_add(1, Ordering::Relaxed) + 1 == k),
        )
        .unwrap()
    })
    .unwrap();
    let err = s.commit().expect_err("interrupted");
    s.with_connection(|c| c.progress_handler(0, None::<fn() -> bool>).unwrap())
        .unwrap();
    (db, s, ann, err)
}

/// A COMMIT interrupted late enough is reported with an unknown outcome
/// (found by stepping the interrupt through COMMIT); then the contract.
#[test]
fn after_an_unknown_commit_outcome_the_session_refuses_to_commit_until_rolled_back() {
    if common::is_postgres() {
        return; // SQLite only: COMMIT interrupted inside SQLite's VM.
    }
    let found = (1..500).find_map(|k| {
        let (dir, url) = common::temp_db("unknown.db");
        let (db, s, ann, err) = commit_interrupted_at(&url, k);
        matches!(err, Error::CommitOutcomeUnknown { .. }).then_some((dir, db, s, ann, err))
    });
    let (_dir, db, s, ann, err) = found.expect("some interrupt point gives an unknown outcome");
    assert!(!err.is_retryable());

    // A careless retry cannot look like success.
    let retry = s.commit().unwrap_err();
    assert!(matches!(retry, Error::NeedsRollback { .. }), "{retry:?}");
    assert!(matches!(
        s.flush().unwrap_err(),
        Error::NeedsRollback { .. }
    ));
    assert!(matches!(
        s.begin().unwrap_err(),
        Error::NeedsRollback { .. }
    ));
    s.add(user("bob")).unwrap();
    assert!(matches!(
        s.commit().unwrap_err(),
        Error::NeedsRollback { .. }
    ));

    // The documented way out: roll back, check, add again what is missing.
    s.rollback().unwrap();
    assert_eq!(ann.state(), ObjState::Transient, "it can be added again");
    let exists = s
        .query::<User>()
        .filter(User::name.eq("ann"))
        .count()
        .unwrap();
    if exists == 0 {
        s.add(&ann).unwrap();
    }
    s.commit().unwrap();
    assert_eq!(names(&db), ["ann"], "written exactly once");
}

#[test]
fn deleting_and_adding_the_same_key_in_one_flush_switches_the_row() {
    let db = db();
    let (s, ann) = committed_ann(&db);
    let rec = db.record();
    s.delete(&ann).unwrap();
    let bob = s
        .add(User {
            id: 1,
            name: "bob".into(),
        })
        .unwrap();
    s.commit().unwrap();
    assert_eq!(
        rec.sql(),
        common::sqls([
            "BEGIN IMMEDIATE",
            r#"UPDATE "user" SET "name" = ? WHERE "user"."id" = ?"#,
            "COMMIT"
        ])
    );
    assert_eq!(names(&db), ["bob"]);
    assert_eq!(ann.state(), ObjState::Detached);
    assert_eq!(bob.state(), ObjState::Persistent);
    assert!(s.get::<User>(1).unwrap().unwrap() == bob);
}

#[test]
fn a_rolled_back_row_switch_restores_the_deleted_object() {
    let db = db();
    let (s, ann) = committed_ann(&db);
    s.delete(&ann).unwrap();
    let bob = s
        .add(User {
            id: 1,
            name: "bob".into(),
        })
        .unwrap();
    s.flush().unwrap();
    s.rollback().unwrap();
    assert_eq!(bob.state(), ObjState::Transient);
    assert_eq!(ann.state(), ObjState::Persistent);
    assert_eq!(ann.read().unwrap().name, "ann");
    assert!(s.get::<User>(1).unwrap().unwrap() == ann);
    assert_eq!(names(&db), ["ann"]);
}

#[derive(Model, Debug, Default)]
#[orm(has_many(members = Member, backref = "team"))]
struct Team {
    #[orm(primary_key)]
    code: String,
}

#[derive(Model, Debug, Default)]
struct Member {
    #[orm(primary_key)]
    id: i64,
    #[orm(foreign_key = Team::code, on_update = "cascade")]
    team_code: String,
}

#[test]
fn a_natural_key_change_reaches_the_loaded_children() {
    let db = common::fresh::<Member>();
    let s = db.session();
    let team = s.add(Team { code: "a".into() }).unwrap();
    team.append(Team::members, &Obj::new(Member::default()))
        .unwrap();
    s.commit().unwrap();

    let s = db.session();
    let team = s.get_or_not_found::<Team>("a".to_string()).unwrap();
    let members = team.related(Team::members).unwrap();
    // A member loaded on its own, not through the collection, too.
    let alone = s.get_or_not_found::<Member>(1).unwrap();
    team.write().unwrap().code = "b".into();
    s.commit().unwrap();
    assert_eq!(members[0].read().unwrap().team_code, "b");
    assert_eq!(alone.read().unwrap().team_code, "b");
    assert!(!s.has_changes(), "the children are not dirty");
    let stored: Vec<String> = db
        .session()
        .query::<Member>()
        .select(Member::team_code)
        .all()
        .unwrap();
    assert_eq!(stored, ["b"]);
}

#[test]
fn a_selectin_load_by_a_text_key_gives_each_owner_its_own_children() {
    let db = common::fresh::<Member>();
    let s = db.session();
    for (code, n) in [("a", 2), ("b", 0), ("c", 3)] {
        let team = s.add(Team { code: code.into() }).unwrap();
        for _ in 0..n {
            team.append(Team::members, &Obj::new(Member::default()))
                .unwrap();
        }
    }
    s.commit().unwrap();

    let s = db.session();
    let teams = s
        .query::<Team>()
        .order_by(Team::code)
        .load(orm::relation::selectin(Team::members))
        .all()
        .unwrap();
    let rec = db.record();
    let mut sizes = Vec::new();
    for team in &teams {
        let code = team.read().unwrap().code.clone();
        let members = team.related(Team::members).unwrap();
        for m in &members {
            assert_eq!(m.read().unwrap().team_code, code);
            assert!(m.related(Member::team).unwrap().is_some_and(|t| t == *team));
        }
        sizes.push(members.len());
    }
    assert_eq!(sizes, [2, 0, 3]);
    assert!(rec.is_empty(), "loaded with the query: {:?}", rec.sql());
}

#[test]
fn a_pending_objects_collections_need_no_sql() {
    let db = common::fresh::<Member>();
    let s = db.session();
    let rec = db.record();
    let team = s.add(Team { code: "a".into() }).unwrap();
    assert!(team.related(Team::members).unwrap().is_empty());
    let m = Obj::new(Member::default());
    team.append(Team::members, &m).unwrap();
    assert_eq!(team.related(Team::members).unwrap().len(), 1);
    assert!(rec.is_empty(), "no statement ran: {:?}", rec.sql());
    assert!(!s.in_transaction(), "no write lock was taken");
}

#[test]
fn many_to_one_navigation_finds_a_parent_in_the_identity_map_without_sql() {
    let db = common::fresh::<Member>();
    let s = db.session();
    let team = s.add(Team { code: "a".into() }).unwrap();
    for _ in 0..3 {
        team.append(Team::members, &Obj::new(Member::default()))
            .unwrap();
    }
    s.commit().unwrap();

    let s = db.session();
    let team = s.get_or_not_found::<Team>("a".to_string()).unwrap();
    let members = s.query::<Member>().all().unwrap();
    let rec = db.record();
    for m in &members {
        let parent = m.related(Member::team).unwrap().expect("a team");
        assert!(parent == team);
    }
    assert!(rec.is_empty(), "no SELECT per member: {:?}", rec.sql());
}

#[derive(Model, Debug, Default)]
struct Counter {
    #[orm(primary_key)]
    id: i64,
    value: i64,
}

/// Two threads, each with one long-lived session (so the counter object
/// stays in its identity map between transactions), increment after
/// `begin()`: the obvious code must not lose an update.
#[test]
fn begin_then_read_modify_write_loses_no_update() {
    const PER_THREAD: i64 = 200;
    let (_dir, url) = common::temp_db("counter.db");
    let url = if common::is_postgres() {
        common::fresh_url()
    } else {
        url
    };
    let db = Database::builder().model::<Counter>().open(&url).unwrap();
    db.create_all().unwrap();
    let s = db.session();
    s.add(Counter::default()).unwrap();
    s.commit().unwrap();
    // Both threads start each round together, so their transactions
    // interleave: one waits for the other's write lock, then reads.
    let round = std::sync::Arc::new(std::sync::Barrier::new(2));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let db = db.clone();
            let round = round.clone();
            std::thread::spawn(move || {
                let s = db.session();
                for _ in 0..PER_THREAD {
                    round.wait();
                    s.begin().unwrap();
                    let c = if common::is_postgres() {
                        // PostgreSQL's BEGIN takes no lock (READ COMMITTED):
                        // the row lock of FOR UPDATE does what SQLite's
                        // write lock does (the dialect's locking reads).
                        s.query::<Counter>()
                            .filter(Counter::id.eq(1))
                            .for_update()
                            .one()
                            .unwrap()
                    } else {
                        s.get_or_not_found::<Counter>(1).unwrap()
                    };
                    c.write().unwrap().value += 1;
                    s.commit().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let c = db.session().get_or_not_found::<Counter>(1).unwrap();
    assert_eq!(c.read().unwrap().value, 2 * PER_THREAD);
}

#[test]
fn populate_existing_overwrites_stale_objects() {
    let db = db();
    let (s, ann) = committed_ann(&db);
    let other = db.session();
    other
        .get_or_not_found::<User>(1)
        .unwrap()
        .write()
        .unwrap()
        .name = "anna".into();
    other.commit().unwrap();
    // A plain query keeps the object the session has...
    s.query::<User>().all().unwrap();
    assert_eq!(ann.read().unwrap().name, "ann");
    // ...populate_existing() refreshes it from the row.
    s.query::<User>().populate_existing().all().unwrap();
    assert_eq!(ann.read().unwrap().name, "anna");
}

#[test]
fn a_transaction_ended_through_with_connection_is_caught() {
    if common::is_postgres() {
        return; // SQLite only: with_connection hands out SQLite's connection.
    }
    let db = db();
    let s = db.session();
    s.add(user("ann")).unwrap();
    s.flush().unwrap();
    let err = s
        .with_connection(|c| c.execute_batch("COMMIT"))
        .unwrap_err();
    assert!(err.to_string().contains("with_connection"), "{err}");
    assert!(matches!(
        s.commit().unwrap_err(),
        Error::NeedsRollback { .. }
    ));
    s.rollback().unwrap();
    // The COMMIT did happen: the row is there, and the session is usable.
    assert_eq!(names(&db), ["ann"]);
    s.add(user("bob")).unwrap();
    s.commit().unwrap();
    assert_eq!(names(&db), ["ann", "bob"]);
}
