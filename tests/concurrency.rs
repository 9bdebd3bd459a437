//! Several threads, each with its own session, writing to one file database.

mod common;

use std::sync::Barrier;

use common::users::User;
use orm::prelude::*;

#[test]
fn eight_threads_commit_a_thousand_rows_each_and_none_is_lost() {
    const THREADS: usize = 8;
    const ROWS: usize = 1000;
    let (_dir, url) = common::temp_db("threads.db");
    let db = Database::builder().model::<User>().open(&url).unwrap();
    db.create_all().unwrap();
    let barrier = Barrier::new(THREADS);
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let db = db.clone();
            let barrier = &barrier;
            scope.spawn(move || {
                let session = db.session();
                for i in 0..ROWS {
                    session
                        .add(User {
                            username: format!("t{t}-u{i}"),
                            email: format!("t{t}-u{i}@example.com"),
                            ..Default::default()
                        })
                        .unwrap();
                }
                barrier.wait();
                session.commit().unwrap();
            });
        }
    });
    let session = db.session();
    assert_eq!(
        session.query::<User>().count().unwrap(),
        (THREADS * ROWS) as u64
    );
    for t in 0..THREADS {
        let mine = session
            .query::<User>()
            .filter(User::username.like(&format!("t{t}-%")))
            .count()
            .unwrap();
        assert_eq!(mine, ROWS as u64, "thread {t}");
    }
    // Keys are unique and dense: no row was written twice.
    let max: Option<i64> = session.query::<User>().aggregate(User::id.max()).unwrap();
    assert_eq!(max, Some((THREADS * ROWS) as i64));
}

#[test]
fn a_session_is_used_by_one_thread_while_the_database_is_shared() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    let db = Database::open("sqlite://").unwrap();
    send_sync(&db);
    let handle = std::thread::spawn(move || db.session().in_transaction());
    assert!(!handle.join().unwrap());
}
