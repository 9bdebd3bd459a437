//! Fault injection: every scenario of `common/faults.rs` is run again and
//! again with one fault injected at a different point, and after each run
//! the error must be typed, the file must hold exactly the data from
//! before (or, when COMMIT said its outcome is unknown and it did commit,
//! from after), pass `integrity_check` and `foreign_key_check`, and the
//! same session must redo the work after `rollback()`.
//!
//! Faults here: the statement interrupted at VM step k (every kind of
//! statement the session runs, COMMIT included), the disk full after k
//! more pages, COMMIT refused by a hook, and the database locked by
//! another connection (a writer in WAL mode; a reader holding its lock
//! through our COMMIT in rollback-journal mode). I/O errors and
//! out-of-memory, which need process-wide limits, have their own test
//! binaries.
//!
//! The interrupt sweep stops at every VM step of every scenario;
//! `ORM_FAULT_POINTS=n` spreads n points over each scenario instead. Each
//! fault kind prints its figures; the closing line sums them.

#[path = "common/faults.rs"]
mod faults;
#[path = "common/figures.rs"]
mod figures;

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use faults::*;
use orm::JournalMode;

const BUSY: Duration = Duration::from_millis(20);

fn interrupt_points() -> u64 {
    std::env::var("ORM_FAULT_POINTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Count the VM steps of a scenario's work (a progress handler that never
/// interrupts), so the interrupt points can be spread over all of them.
fn vm_steps(sc: &Scenario, p: &Prepared) -> u64 {
    let steps = counter();
    let c = steps.clone();
    let path = p.fresh(0);
    let r = run_with_fault(
        sc,
        p,
        &path,
        BUSY,
        JournalMode::Wal,
        &move |conn| {
            let c = c.clone();
            conn.progress_handler(
                1,
                Some(move || {
                    bump(&c);
                    false
                }),
            )
            .unwrap()
        },
        &|conn| conn.progress_handler(0, None::<fn() -> bool>).unwrap(),
    );
    assert_eq!(r.map(|o| o.0), Ok(Outcome::Passed), "{}", sc.name);
    steps.load(Ordering::Relaxed)
}

fn interrupted_at_vm_steps() -> Tally {
    let mut tally = Tally::default();
    let points = interrupt_points();
    for sc in scenarios() {
        let p = prepare(&sc);
        let total = vm_steps(&sc, &p);
        let stride = total.checked_div(points).unwrap_or(1).max(1);
        let mut k = 1;
        // Past the last step the work runs through: that ends the loop.
        loop {
            let path = p.fresh(k);
            let seen = counter();
            let c = seen.clone();
            let r = run_with_fault(
                &sc,
                &p,
                &path,
                BUSY,
                JournalMode::Wal,
                &move |conn| {
                    let c = c.clone();
                    // Interrupt exactly once: the rollback must not be.
                    conn.progress_handler(1, Some(move || bump(&c) == k))
                        .unwrap()
                },
                &|conn| conn.progress_handler(0, None::<fn() -> bool>).unwrap(),
            );
            if tally.record(r) == Some(Outcome::Passed) || k > total + stride {
                break;
            }
            k += stride;
        }
    }
    println!("{}", tally.line("interrupt at VM step k"));
    tally
}

/// Statement executions seen by a trace callback, and the statement the
/// progress handler interrupted.
#[derive(Default)]
struct Statements {
    started: u64,
    current: String,
    interrupted: Option<(u64, String)>,
}

/// Interrupt the n-th statement execution at its first VM step, for every
/// n: the stride above can step over short statements (BEGIN, SAVEPOINT,
/// RELEASE, COMMIT); this pass cannot.
fn interrupted_at_the_start_of_every_statement() -> Tally {
    let mut tally = Tally::default();
    let mut kinds = BTreeSet::new();
    let mut executions = 0;
    for sc in scenarios() {
        let p = prepare(&sc);
        let mut n = 1;
        loop {
            let seen = Arc::new(Mutex::new(Statements::default()));
            let (t, h) = (seen.clone(), seen.clone());
            let r = run_with_fault(
                &sc,
                &p,
                &p.fresh(n),
                BUSY,
                JournalMode::Wal,
                &move |conn| {
                    let t = t.clone();
                    conn.trace_v2(
                        rusqlite::trace::TraceEventCodes::SQLITE_TRACE_STMT,
                        Some(move |e: rusqlite::trace::TraceEvent<'_>| {
                            if let rusqlite::trace::TraceEvent::Stmt(_, sql) = e {
                                let mut st = t.lock().unwrap();
                                st.started += 1;
                                st.current = sql.to_string();
                            }
                        }),
                    )
                    .unwrap();
                    let h = h.clone();
                    conn.progress_handler(
                        1,
                        Some(move || {
                            let mut st = h.lock().unwrap();
                            if st.started >= n && st.interrupted.is_none() {
                                st.interrupted = Some((st.started, st.current.clone()));
                                return true;
                            }
                            false
                        }),
                    )
                    .unwrap();
                },
                &|conn| {
                    conn.progress_handler(0, None::<fn() -> bool>).unwrap();
                    conn.trace_v2(
                        rusqlite::trace::TraceEventCodes::empty(),
                        None::<fn(rusqlite::trace::TraceEvent<'_>)>,
                    )
                    .unwrap();
                },
            );
            let outcome = tally.record(r);
            let st = seen.lock().unwrap();
            if let Some((at, sql)) = &st.interrupted {
                // Counted only when the interrupt hit the statement aimed at.
                if *at == n {
                    executions += 1;
                    kinds.insert(sql.split_whitespace().next().unwrap_or("").to_uppercase());
                }
            }
            if outcome == Some(Outcome::Passed) || st.interrupted.is_none() {
                break;
            }
            n += 1;
        }
    }
    println!("interrupted statement executions: {executions}; kinds: {kinds:?}");
    for kind in [
        "BEGIN",
        "SAVEPOINT",
        "RELEASE",
        "COMMIT",
        "SELECT",
        "INSERT",
        "UPDATE",
        "DELETE",
    ] {
        assert!(kinds.contains(kind), "no {kind} was interrupted: {kinds:?}");
    }
    println!("{}", tally.line("interrupt at the start of statement n"));
    tally
}

fn disk_full_after_k_pages() -> Tally {
    let mut tally = Tally::default();
    for mode in [JournalMode::Wal, JournalMode::Delete] {
        for sc in scenarios() {
            let p = prepare(&sc);
            for extra in 0..200i64 {
                let path = p.fresh(extra as u64);
                let r = run_with_fault(
                    &sc,
                    &p,
                    &path,
                    BUSY,
                    mode,
                    &move |conn| {
                        let pages: i64 = conn
                            .query_row("PRAGMA page_count", [], |r| r.get(0))
                            .unwrap();
                        let _: i64 = conn
                            .query_row(
                                &format!("PRAGMA max_page_count = {}", pages + extra),
                                [],
                                |r| r.get(0),
                            )
                            .unwrap();
                    },
                    &|conn| {
                        let _: i64 = conn
                            .query_row("PRAGMA max_page_count = 1073741823", [], |r| r.get(0))
                            .unwrap();
                    },
                );
                if tally.record(r) == Some(Outcome::Passed) {
                    break;
                }
            }
        }
    }
    println!("{}", tally.line("disk full after k pages"));
    tally
}

fn commit_refused_by_hook() -> Tally {
    let mut tally = Tally::default();
    for sc in scenarios() {
        let p = prepare(&sc);
        let r = run_with_fault(
            &sc,
            &p,
            &p.fresh(1),
            BUSY,
            JournalMode::Wal,
            &|conn| conn.commit_hook(Some(|| true)).unwrap(),
            &|conn| conn.commit_hook(None::<fn() -> bool>).unwrap(),
        );
        assert_eq!(
            tally.record(r.clone()),
            Some(Outcome::RolledBack),
            "{}: {r:?}",
            sc.name
        );
    }
    println!("{}", tally.line("commit refused"));
    tally
}

fn locked_by_another_connection() -> Tally {
    let mut tally = Tally::default();
    for sc in scenarios() {
        let p = prepare(&sc);

        // A writer holds the write lock throughout (WAL): BEGIN IMMEDIATE
        // waits out the busy timeout and fails before anything is written.
        let path = p.fresh(1);
        let other = RefCell::new(None::<rusqlite::Connection>);
        let r = run_with_fault(
            &sc,
            &p,
            &path,
            BUSY,
            JournalMode::Wal,
            &|_| {
                let c = rusqlite::Connection::open(&path).unwrap();
                c.execute_batch("BEGIN IMMEDIATE").unwrap();
                *other.borrow_mut() = Some(c);
            },
            &|_| drop(other.borrow_mut().take()),
        );
        assert_eq!(
            tally.record(r.clone()),
            Some(Outcome::RolledBack),
            "{}: {r:?}",
            sc.name
        );

        // Rollback journal: a reader keeps its shared lock while we
        // COMMIT, so COMMIT cannot take the exclusive lock and fails with
        // the transaction still open.
        let path = p.fresh(2);
        let r = run_with_fault(
            &sc,
            &p,
            &path,
            BUSY,
            JournalMode::Delete,
            &|_| {
                let c = rusqlite::Connection::open(&path).unwrap();
                c.execute_batch("BEGIN; SELECT count(*) FROM sqlite_master;")
                    .unwrap();
                let _: i64 = c
                    .query_row("SELECT count(*) FROM author", [], |r| r.get(0))
                    .unwrap();
                *other.borrow_mut() = Some(c);
            },
            &|_| drop(other.borrow_mut().take()),
        );
        assert_eq!(
            tally.record(r.clone()),
            Some(Outcome::RolledBack),
            "{}: {r:?}",
            sc.name
        );
    }
    println!("{}", tally.line("locked by another connection"));
    tally
}

/// One test, so the binary ends with one figures line: the long interrupt
/// sweep runs on its own thread beside the other kinds.
#[test]
fn every_fault_kind_over_every_scenario() {
    let sweep = std::thread::spawn(interrupted_at_vm_steps);
    let mut total = interrupted_at_the_start_of_every_statement();
    for kind in [
        disk_full_after_k_pages,
        commit_refused_by_hook,
        locked_by_another_connection,
    ] {
        total.merge(kind());
    }
    total.merge(sweep.join().expect("the interrupt sweep panicked"));
    total.finish("fault injection, all kinds");
}
