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
//! through our COMMIT in rollback-journal mode). Then interrupts and a
//! full disk inside a savepoint, after flushed outer work: the outer
//! transaction and every object must be exactly as before the savepoint
//! once it is rolled back (or, when SQLite ended the whole transaction,
//! all the work pending again and committed whole). I/O errors and
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

use faults::models::*;
use faults::*;
use orm::JournalMode;
use orm::prelude::*;

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

// ------------------------------------------------ faults inside a savepoint

/// Work done before the savepoint (flushed, not committed).
fn outer_work(s: &Session) -> orm::Result<()> {
    let a = s.add(Author {
        name: "outer".into(),
        ..Default::default()
    })?;
    a.append(
        Author::books,
        &Obj::new(Book {
            title: "outer book".into(),
            pages: 5,
            ..Default::default()
        }),
    )?;
    s.get_or_not_found::<Author>(1)?.write()?.name = "renamed outside".into();
    s.flush()
}

/// Work inside the savepoint, ending with a flush.
struct Inner {
    name: &'static str,
    work: Work,
}

fn inner_scenarios() -> Vec<Inner> {
    vec![
        Inner {
            name: "insert a graph",
            work: |s| {
                let au = s.add(Author {
                    name: "inner".into(),
                    ..Default::default()
                })?;
                // Enough rows to need new pages (the full-disk faults).
                for b in 0..40 {
                    let bk = Obj::new(Book {
                        title: format!("inner book {b:02} {}", "x".repeat(300)),
                        pages: b,
                        ..Default::default()
                    });
                    au.append(Author::books, &bk)?;
                    bk.append(
                        Book::chapters,
                        &Obj::new(Chapter {
                            heading: "one".into(),
                            ..Default::default()
                        }),
                    )?;
                }
                s.flush()
            },
        },
        Inner {
            name: "update, re-parent, delete with cascade",
            work: |s| {
                for b in s.query::<Book>().filter(Book::pages.ge(101)).all()? {
                    b.write()?.pages += 1000;
                }
                let to = s.get_or_not_found::<Author>(3)?;
                for b in s.query::<Book>().filter(Book::author_id.eq(1)).all()? {
                    b.set_related(Book::author, Some(&to))?;
                }
                let gone = s.get_or_not_found::<Author>(2)?;
                s.delete(&gone)?;
                s.flush()
            },
        },
        Inner {
            name: "links, a self-referential chain, a nested savepoint",
            work: |s| {
                let tags = s.query::<Tag>().order_by(Tag::id).all()?;
                for b in s.query::<Book>().filter(Book::id.le(3)).all()? {
                    for t in &tags {
                        b.append(Book::tags, t)?;
                    }
                }
                s.flush()?;
                let mut sp = s.begin_nested()?;
                let mut prev = s.get_or_not_found::<Employee>(2)?;
                for i in 0..3 {
                    let e = Obj::new(Employee {
                        name: format!("dev {i}"),
                        ..Default::default()
                    });
                    prev.append(Employee::reports, &e)?;
                    prev = e;
                }
                s.get_or_not_found::<Member>(1)?.set_related(
                    Member::profile,
                    Some(&Obj::new(Profile {
                        bio: "inner".into(),
                        ..Default::default()
                    })),
                )?;
                sp.commit()?;
                s.flush()
            },
        },
    ]
}

/// Every object of the session (all rows loaded, with their loaded
/// collections), as text: state, values, related keys.
fn objects(s: &Session) -> orm::Result<Vec<String>> {
    let mut out = Vec::new();
    for a in s.query::<Author>().order_by(Author::id).all()? {
        let books: Vec<i64> = a
            .related(Author::books)?
            .iter()
            .map(|b| b.read().map(|b| b.id))
            .collect::<orm::Result<_>>()?;
        out.push(format!("{:?} {:?} books {books:?}", a.state(), *a.read()?));
    }
    for b in s.query::<Book>().order_by(Book::id).all()? {
        let tags: Vec<i64> = b
            .related(Book::tags)?
            .iter()
            .map(|t| t.read().map(|t| t.id))
            .collect::<orm::Result<_>>()?;
        let chapters = b.related(Book::chapters)?.len();
        out.push(format!(
            "{:?} {:?} tags {tags:?} chapters {chapters}",
            b.state(),
            *b.read()?
        ));
    }
    for c in s.query::<Chapter>().order_by(Chapter::id).all()? {
        out.push(format!("{:?} {:?}", c.state(), *c.read()?));
    }
    for e in s.query::<Employee>().order_by(Employee::id).all()? {
        let reports = e.related(Employee::reports)?.len();
        out.push(format!(
            "{:?} {:?} reports {reports}",
            e.state(),
            *e.read()?
        ));
    }
    for m in s.query::<Member>().all()? {
        out.push(format!("{:?} {:?}", m.state(), *m.read()?));
    }
    for p in s.query::<Profile>().order_by(Profile::id).all()? {
        out.push(format!("{:?} {:?}", p.state(), *p.read()?));
    }
    Ok(out)
}

/// The database after the outer work, and after the outer and inner work.
struct Expected {
    outer: String,
    both: String,
}

fn expected(inner: &Inner, p: &Prepared) -> Expected {
    let run = |with_inner: bool| {
        let path = p.fresh(u64::MAX - 1);
        {
            let db = open(&path, Duration::from_secs(5), JournalMode::Wal);
            let s = db.session();
            outer_work(&s).unwrap();
            if with_inner {
                s.nested(inner.work).unwrap();
            }
            s.commit().unwrap();
        }
        fingerprint(&rusqlite::Connection::open(&path).unwrap())
    };
    Expected {
        outer: run(false),
        both: run(true),
    }
}

/// One fault inside the savepoint: the outer work flushed, every object
/// loaded, a savepoint opened, the fault armed, the inner work run. A
/// typed error must leave the outer transaction open with every object as
/// before the savepoint (after rolling it back), then commit the outer
/// work alone; or, when SQLite ended the whole transaction, leave all the
/// work pending, to be committed whole.
fn savepoint_fault(
    inner: &Inner,
    p: &Prepared,
    e: &Expected,
    path: &std::path::Path,
    inject: &dyn Fn(&mut rusqlite::Connection),
    clear: &dyn Fn(&mut rusqlite::Connection),
) -> Result<(Outcome, Option<String>), String> {
    let db = open(path, BUSY, JournalMode::Wal);
    let s = db.session();
    let name = inner.name;
    let fail = |what: &str, e: orm::Error| format!("{name}: {what}: {e:?}");
    outer_work(&s).map_err(|e| fail("outer work", e))?;
    let before = objects(&s).map_err(|e| fail("objects", e))?;
    let mut sp = s.begin_nested().map_err(|e| fail("begin_nested", e))?;
    s.with_connection(inject).map_err(|e| e.to_string())?;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (inner.work)(&s)));
    let _ = s.with_connection(clear);
    let result = result.map_err(|_| format!("{name}: panic under a fault"))?;
    let observed = |what: &str| -> Result<String, String> {
        let f = fingerprint(&rusqlite::Connection::open(path).map_err(|e| e.to_string())?);
        check_database(path).map_err(|e| format!("{name}: {what}: {e}"))?;
        Ok(f)
    };
    let err = match result {
        Ok(()) => {
            sp.commit().map_err(|e| fail("release", e))?;
            s.commit().map_err(|e| fail("commit", e))?;
            let got = observed("passed")?;
            if got != e.both {
                return Err(format!(
                    "{name}: passed but the data differs\n{}",
                    diff(&e.both, &got)
                ));
            }
            return Ok((Outcome::Passed, None));
        }
        Err(err) => err,
    };
    if !is_fault_error(&err) {
        return Err(format!(
            "{name}: untyped or wrong error under a fault: {err:?}"
        ));
    }
    let label = error_label(&err);
    if s.in_transaction() {
        // The outer transaction goes on: roll back to the savepoint.
        sp.rollback()
            .map_err(|e| fail("rollback to the savepoint", e))?;
        if s.in_nested_transaction() {
            return Err(format!("{name}: a savepoint is still open after {err:?}"));
        }
        let after = objects(&s).map_err(|e| fail("objects after", e))?;
        if after != before {
            return Err(format!(
                "{name}: objects differ after {err:?} and the rollback to the savepoint\n{}",
                diff(&before.join("\n"), &after.join("\n"))
            ));
        }
        s.commit()
            .map_err(|e| fail("commit of the outer work", e))?;
        let got = observed("outer kept")?;
        if got != e.outer {
            return Err(format!(
                "{name}: after {err:?} the outer work committed other data\n{}",
                diff(&e.outer, &got)
            ));
        }
        return Ok((Outcome::RolledBack, Some(format!("outer kept: {label}"))));
    }
    // SQLite rolled back the whole transaction: the savepoint is gone, the
    // file is as before, and the session, rolled back, redoes everything.
    if sp.is_active() {
        return Err(format!("{name}: the savepoint outlived its transaction"));
    }
    let got = observed("transaction lost")?;
    if got != p.before {
        return Err(format!(
            "{name}: partial data after {err:?}\n{}",
            diff(&p.before, &got)
        ));
    }
    drop(sp);
    s.rollback().map_err(|e| fail("rollback", e))?;
    outer_work(&s).map_err(|e| fail("redo of the outer work", e))?;
    s.nested(inner.work)
        .map_err(|e| fail("redo of the inner work", e))?;
    s.commit().map_err(|e| fail("redo", e))?;
    let got = observed("redone")?;
    if got != e.both {
        return Err(format!(
            "{name}: redo after {err:?} gave other data\n{}",
            diff(&e.both, &got)
        ));
    }
    Ok((
        Outcome::RolledBack,
        Some(format!("transaction lost, redone: {label}")),
    ))
}

fn faults_inside_a_savepoint() -> Tally {
    let mut tally = Tally::default();
    let base = scenarios().into_iter().next().expect("a scenario");
    let p = prepare(&base);
    let points = interrupt_points();
    for inner in inner_scenarios() {
        let e = expected(&inner, &p);
        // Interrupt at VM step k of the inner work.
        let mut k = 1;
        let stride = points.max(1);
        let stride = if points == 0 {
            1
        } else {
            400 / stride.min(400)
        };
        loop {
            let seen = counter();
            let c = seen.clone();
            let r = savepoint_fault(
                &inner,
                &p,
                &e,
                &p.fresh(k),
                &move |conn| {
                    let c = c.clone();
                    conn.progress_handler(1, Some(move || bump(&c) == k))
                        .unwrap()
                },
                &|conn| conn.progress_handler(0, None::<fn() -> bool>).unwrap(),
            );
            if tally.record(r) == Some(Outcome::Passed) || k > 1_000_000 {
                break;
            }
            k += stride;
        }
        // The disk full after k more pages.
        for extra in 0..60i64 {
            let r = savepoint_fault(
                &inner,
                &p,
                &e,
                &p.fresh(extra as u64),
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
    println!("{}", tally.line("faults inside a savepoint"));
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
        faults_inside_a_savepoint,
    ] {
        total.merge(kind());
    }
    total.merge(sweep.join().expect("the interrupt sweep panicked"));
    total.finish("fault injection, all kinds");
}
