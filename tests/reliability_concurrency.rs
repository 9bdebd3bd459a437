//! Concurrent writers on one database (a SQLite file in WAL mode, or the
//! PostgreSQL server under test), each thread with its own sessions:
//!
//! 1. 8 threads x 500 read-modify-write increments of one counter, each
//!    inside `Session::begin()` and reading the counter with a locking read
//!    (`for_update()`: on SQLite `begin()` already holds the write lock, on
//!    PostgreSQL the row lock is what serializes them): 4,000 commits, final
//!    value 4,000, 0 lost updates. Half of the threads use a fresh session
//!    per increment, half keep one session and reload the counter they hold
//!    (`populate_existing()`).
//! 2. The same without `begin()` (plain get / modify / commit): updates may
//!    be lost; only `value <= commits` is asserted and the loss is reported.
//! 3. Busy timeout 0: contending writers; every failure is a typed busy
//!    error, each commit's two rows are both present or both absent, and the
//!    session that failed commits after `rollback()`. (On PostgreSQL
//!    inserts do not contend: there are simply no failures.)
//! 4. 8 threads x 500 plain get / modify increments through
//!    `Database::transaction_with` at `SERIALIZABLE`, which retries on
//!    serialization failures: 4,000 commits, counter 4,000, and the
//!    retries counted (on SQLite `begin()` takes the write lock, so there
//!    are none).
//!
//! Soak: `ORM_CONCURRENCY_WRITES=5000 cargo test --release --test reliability_concurrency`
//! (increments per thread; part 3 scales with it).

mod common;
#[path = "common/figures.rs"]
mod figures;
use figures::report;

use std::sync::Barrier;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use orm::prelude::*;

#[derive(Model, Debug, Default)]
struct Counter {
    #[orm(primary_key)]
    id: i64,
    value: i64,
}

/// Part 3: each commit writes two of these with the same (writer, attempt).
#[derive(Model, Debug, Default)]
#[orm(unique(writer, attempt, half))]
struct PairRow {
    #[orm(primary_key)]
    id: i64,
    writer: i64,
    attempt: i64,
    half: i64,
}

const THREADS: usize = 8;

fn writes_per_thread() -> u64 {
    std::env::var("ORM_CONCURRENCY_WRITES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(500)
}

fn open(url: &str, busy: Duration) -> Database {
    let db = Database::builder()
        .model::<Counter>()
        .model::<PairRow>()
        .journal_mode(orm::JournalMode::Wal)
        .busy_timeout(busy)
        .pool_size(THREADS as u32 + 2)
        .open(url)
        .expect("open");
    db.create_all().expect("create_all");
    db
}

fn counter_value(db: &Database) -> i64 {
    db.session()
        .get_or_not_found::<Counter>(1)
        .and_then(|c| Ok(c.read()?.value))
        .expect("read the counter")
}

struct Part1 {
    commits: u64,
    busy: u64,
    final_value: i64,
    secs: f64,
}

/// Read-modify-write with the write lock taken first.
fn increments_with_begin(url: &str, per_thread: u64) -> Part1 {
    let db = open(url, Duration::from_secs(5));
    let s = db.session();
    s.add(Counter::default()).expect("add counter");
    s.commit().expect("commit counter");
    drop(s);
    let commits = AtomicU64::new(0);
    let busy = AtomicU64::new(0);
    let barrier = Barrier::new(THREADS);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let (db, commits, busy, barrier) = (db.clone(), &commits, &busy, &barrier);
            scope.spawn(move || {
                barrier.wait();
                // Even threads: a fresh session per increment. Odd threads:
                // one session, the counter refreshed after the lock is taken.
                let long_lived = db.session();
                let mut held: Option<Obj<Counter>> = None;
                let mut done = 0;
                while done < per_thread {
                    let fresh;
                    let s = if t % 2 == 0 {
                        fresh = db.session();
                        &fresh
                    } else {
                        &long_lived
                    };
                    let attempt = (|| -> orm::Result<()> {
                        s.begin()?;
                        let locked = s.query::<Counter>().filter(Counter::id.eq(1)).for_update();
                        let c = match &held {
                            // The object this session holds, reloaded.
                            Some(_) if t % 2 == 1 => locked.populate_existing().one()?,
                            _ => locked.one()?,
                        };
                        if let Some(h) = &held {
                            assert!(Obj::ptr_eq(h, &c), "the identity map gave another object");
                        }
                        c.write()?.value += 1;
                        s.commit()?;
                        if t % 2 == 1 {
                            held = Some(c);
                        }
                        Ok(())
                    })();
                    match attempt {
                        Ok(()) => {
                            done += 1;
                            commits.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) if e.is_busy() => {
                            busy.fetch_add(1, Ordering::Relaxed);
                            s.rollback().expect("rollback after busy");
                        }
                        Err(e) => panic!("thread {t}: unexpected error {e:?}"),
                    }
                }
            });
        }
    });
    Part1 {
        commits: commits.into_inner(),
        busy: busy.into_inner(),
        final_value: counter_value(&db),
        secs: started.elapsed().as_secs_f64(),
    }
}

/// Plain get / modify / commit: the read happens outside the write
/// transaction, so two sessions can read the same value.
fn increments_without_begin(url: &str, per_thread: u64) -> Part1 {
    let db = open(url, Duration::from_secs(5));
    let s = db.session();
    s.add(Counter::default()).expect("add counter");
    s.commit().expect("commit counter");
    drop(s);
    let commits = AtomicU64::new(0);
    let busy = AtomicU64::new(0);
    let barrier = Barrier::new(THREADS);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..THREADS {
            let (db, commits, busy, barrier) = (db.clone(), &commits, &busy, &barrier);
            scope.spawn(move || {
                barrier.wait();
                for _ in 0..per_thread {
                    let s = db.session();
                    let r = (|| -> orm::Result<()> {
                        let c = s.get_or_not_found::<Counter>(1)?;
                        c.write()?.value += 1;
                        s.commit()
                    })();
                    match r {
                        Ok(()) => {
                            commits.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) if e.is_busy() => {
                            busy.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => panic!("unexpected error {e:?}"),
                    }
                }
            });
        }
    });
    Part1 {
        commits: commits.into_inner(),
        busy: busy.into_inner(),
        final_value: counter_value(&db),
        secs: started.elapsed().as_secs_f64(),
    }
}

struct Part4 {
    commits: u64,
    retries: u64,
    final_value: i64,
    secs: f64,
}

/// Plain get / modify in `Database::transaction_with` at SERIALIZABLE: the
/// database refuses the increments that would be lost, and the retry runs
/// them again.
fn serializable_increments(url: &str, per_thread: u64) -> Part4 {
    let db = open(url, Duration::from_secs(5));
    db.transaction(|s| s.add(Counter::default()).map(drop))
        .expect("add counter");
    let commits = AtomicU64::new(0);
    let attempts = AtomicU64::new(0);
    let barrier = Barrier::new(THREADS);
    let options = orm::TransactionOptions::default()
        .isolation(orm::Isolation::Serializable)
        .attempts(100)
        .backoff(Duration::from_millis(1), Duration::from_millis(50));
    let started = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let (db, commits, attempts, barrier) = (db.clone(), &commits, &attempts, &barrier);
            scope.spawn(move || {
                barrier.wait();
                for _ in 0..per_thread {
                    db.transaction_with(options, |s| {
                        attempts.fetch_add(1, Ordering::Relaxed);
                        let c = s.get_or_not_found::<Counter>(1)?;
                        c.write()?.value += 1;
                        Ok(())
                    })
                    .unwrap_or_else(|e| panic!("thread {t}: {e:?}"));
                    commits.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    let commits = commits.into_inner();
    Part4 {
        commits,
        retries: attempts.into_inner() - commits,
        final_value: counter_value(&db),
        secs: started.elapsed().as_secs_f64(),
    }
}

struct Part3 {
    commits: u64,
    busy: u64,
    other_errors: Vec<String>,
    partial: u64,
    lost: u64,
    phantom: u64,
}

/// What one writer of part 3 did.
#[derive(Default)]
struct Writer {
    commits: u64,
    busy: u64,
    other_errors: Vec<String>,
    /// Attempt numbers that committed.
    acked: Vec<i64>,
    /// Attempt numbers that failed and were rolled back.
    failed: Vec<i64>,
}

/// Busy timeout 0: contending writers fail fast with a typed busy error.
fn writers_without_busy_timeout(url: &str, commits_per_writer: u64) -> Part3 {
    const WRITERS: usize = 4;
    let db = open(url, Duration::ZERO);
    let barrier = Barrier::new(WRITERS);
    let results: Vec<Writer> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (db, barrier) = (db.clone(), &barrier);
                scope.spawn(move || {
                    barrier.wait();
                    // One session per writer, reused after every failure.
                    let s = db.session();
                    let mut me = Writer::default();
                    let mut attempt = 0i64;
                    while me.commits < commits_per_writer {
                        attempt += 1;
                        let r = (|| -> orm::Result<()> {
                            for half in 0..2 {
                                s.add(PairRow {
                                    writer: w as i64,
                                    attempt,
                                    half,
                                    ..Default::default()
                                })?;
                            }
                            s.commit()
                        })();
                        match r {
                            Ok(()) => {
                                me.commits += 1;
                                me.acked.push(attempt);
                            }
                            Err(e) => {
                                if e.is_busy() {
                                    me.busy += 1;
                                } else {
                                    me.other_errors.push(format!("{e:?}"));
                                }
                                me.failed.push(attempt);
                                // The session stays usable after rollback.
                                s.rollback().expect("rollback after a failed commit");
                                assert!(!s.in_transaction());
                                assert!(!s.has_changes(), "rollback left pending rows");
                                std::thread::yield_now();
                            }
                        }
                        if me.other_errors.len() > 10 {
                            break;
                        }
                    }
                    me
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("writer thread"))
            .collect()
    });
    let mut p = Part3 {
        commits: 0,
        busy: 0,
        other_errors: Vec::new(),
        partial: 0,
        lost: 0,
        phantom: 0,
    };
    // What the database holds, per (writer, attempt): how many halves.
    let rows = db
        .session()
        .query::<PairRow>()
        .all_detached()
        .expect("read pair rows");
    let mut halves = std::collections::HashMap::<(i64, i64), i64>::new();
    for r in &rows {
        *halves.entry((r.writer, r.attempt)).or_default() += 1;
    }
    p.partial = halves.values().filter(|&&n| n != 2).count() as u64;
    for (w, r) in results.into_iter().enumerate() {
        p.commits += r.commits;
        p.busy += r.busy;
        p.other_errors.extend(r.other_errors);
        for a in r.acked {
            if halves.get(&(w as i64, a)) != Some(&2) {
                p.lost += 1;
            }
        }
        for a in r.failed {
            if halves.contains_key(&(w as i64, a)) {
                p.phantom += 1;
            }
        }
    }
    p
}

#[test]
fn concurrent_writers_lose_no_update_and_fail_only_with_typed_busy_errors() {
    let per_thread = writes_per_thread();
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = |name: &str| {
        if common::is_postgres() {
            common::fresh_url()
        } else {
            format!("sqlite:///{}", dir.path().join(name).display())
        }
    };

    let with_begin = increments_with_begin(&url("begin.db"), per_thread);
    let expected = (THREADS as u64 * per_thread) as i64;
    assert_eq!(with_begin.commits as i64, expected);
    assert_eq!(
        with_begin.final_value, expected,
        "lost updates with begin(): {} commits, counter {}",
        with_begin.commits, with_begin.final_value
    );

    // Fewer rounds: this part only shows that plain read-modify-write is
    // not safe under concurrency.
    let plain_per_thread = (per_thread / 5).max(20);
    let plain = increments_without_begin(&url("plain.db"), plain_per_thread);
    assert!(
        plain.final_value <= plain.commits as i64,
        "the counter ({}) exceeds the commits ({})",
        plain.final_value,
        plain.commits
    );
    let plain_lost = plain.commits as i64 - plain.final_value;

    let busy = writers_without_busy_timeout(&url("busy.db"), per_thread / 2);
    assert!(
        busy.other_errors.is_empty(),
        "failures that are not typed busy errors: {:?}",
        busy.other_errors
    );
    assert_eq!(busy.partial, 0, "commits with one of their two rows");
    assert_eq!(busy.lost, 0, "acknowledged commits missing");
    assert_eq!(busy.phantom, 0, "failed commits whose rows are present");

    let serializable = serializable_increments(&url("serializable.db"), per_thread);
    assert_eq!(serializable.commits as i64, expected);
    assert_eq!(
        serializable.final_value, expected,
        "lost updates at SERIALIZABLE with retries"
    );

    report(&format!(
        "concurrency ({}): {THREADS} threads x {per_thread} increments with begin(): {} commits, counter {}, 0 lost updates, {} busy retries ({:.1} s); \
         without begin(): {} commits, counter {}, {plain_lost} lost updates ({:.1} s); \
         busy timeout 0: 4 writers, {} commits, {} typed busy errors, {} other errors, {} partial commits, {} lost, session reused after every rollback; \
         transaction_with(SERIALIZABLE): {} commits, counter {}, 0 lost updates, {} retries ({:.1} s)",
        if common::is_postgres() {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        with_begin.commits,
        with_begin.final_value,
        with_begin.busy,
        with_begin.secs,
        plain.commits,
        plain.final_value,
        plain.secs,
        busy.commits,
        busy.busy,
        busy.other_errors.len(),
        busy.partial,
        busy.lost + busy.phantom,
        serializable.commits,
        serializable.final_value,
        serializable.retries,
        serializable.secs,
    ));
}
