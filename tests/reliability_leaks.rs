//! Leaks: session lifecycles with parent/child graphs and a many-to-many
//! pair (the one place relationships hold objects strongly both ways) are
//! loaded, navigated, modified, committed or rolled back, and dropped. Every
//! model carries an `#[orm(skip)]` [`Tracker`] that counts live model values
//! (objects, snapshots, detached copies); after each lifecycle, once the
//! session and every handle are dropped, the count is back to 0.
//!
//! Also: objects the caller still holds when the session is dropped stay
//! readable, and their relationships are `Error::Detached`.
//!
//! Soak: `ORM_LEAK_CYCLES=200000 cargo test --release --test reliability_leaks`
//! (default 10,000).

#[path = "common/figures.rs"]
mod figures;
use figures::report;

use std::sync::atomic::{AtomicI64, Ordering};

use orm::prelude::*;
use orm::relation::selectin;

/// Model values alive right now.
static LIVE: AtomicI64 = AtomicI64::new(0);
/// Model values ever created.
static CREATED: AtomicI64 = AtomicI64::new(0);

/// Counts itself in [`LIVE`] while it exists.
#[derive(Debug)]
struct Tracker;

impl Default for Tracker {
    fn default() -> Self {
        LIVE.fetch_add(1, Ordering::Relaxed);
        CREATED.fetch_add(1, Ordering::Relaxed);
        Tracker
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Ordering::Relaxed);
    }
}

fn live() -> i64 {
    LIVE.load(Ordering::Relaxed)
}

#[derive(Model, Debug, Default)]
#[orm(has_many(books = Book, backref = "author"))]
struct Author {
    #[orm(primary_key)]
    id: i64,
    name: String,
    #[orm(skip)]
    #[allow(dead_code)] // only its Drop matters
    tracker: Tracker,
}

#[derive(Model, Debug, Default)]
struct Book {
    #[orm(primary_key)]
    id: i64,
    title: String,
    #[orm(foreign_key = Author::id)]
    author_id: i64,
    #[orm(skip)]
    #[allow(dead_code)] // only its Drop matters
    tracker: Tracker,
}

#[derive(Model, Debug, Default)]
#[orm(many_to_many(courses = Course, secondary = Enrollment, backref = "students"))]
struct Student {
    #[orm(primary_key)]
    id: i64,
    name: String,
    #[orm(skip)]
    #[allow(dead_code)] // only its Drop matters
    tracker: Tracker,
}

#[derive(Model, Debug, Default)]
struct Course {
    #[orm(primary_key)]
    id: i64,
    title: String,
    #[orm(skip)]
    #[allow(dead_code)] // only its Drop matters
    tracker: Tracker,
}

#[derive(Model, Debug, Default)]
struct Enrollment {
    #[orm(primary_key, foreign_key = Student::id)]
    student_id: i64,
    #[orm(primary_key, foreign_key = Course::id)]
    course_id: i64,
    #[orm(skip)]
    #[allow(dead_code)] // only its Drop matters
    tracker: Tracker,
}

fn author(name: &str) -> Author {
    Author {
        name: name.into(),
        ..Default::default()
    }
}

fn book(title: &str) -> Obj<Book> {
    Obj::new(Book {
        title: title.into(),
        ..Default::default()
    })
}

/// 3 authors with 3 books each, 4 students, 4 courses, each student in 2.
fn seed(db: &Database) -> orm::Result<()> {
    let s = db.session();
    for a in 0..3 {
        let au = s.add(author(&format!("author {a}")))?;
        for b in 0..3 {
            au.append(Author::books, &book(&format!("book {a}.{b}")))?;
        }
    }
    let courses: Vec<Obj<Course>> = (0..4)
        .map(|c| {
            s.add(Course {
                title: format!("course {c}"),
                ..Default::default()
            })
        })
        .collect::<orm::Result<_>>()?;
    for st in 0..4 {
        let student = s.add(Student {
            name: format!("student {st}"),
            ..Default::default()
        })?;
        student.append(Student::courses, &courses[st])?;
        student.append(Student::courses, &courses[(st + 1) % 4])?;
    }
    s.commit()
}

/// One session lifecycle; returns the handles the caller keeps until after
/// the session is dropped (for the variants that drop the session first).
fn lifecycle(db: &Database, i: u64) -> orm::Result<(Session, Vec<Box<dyn std::any::Any>>)> {
    let s = db.session();
    let mut kept: Vec<Box<dyn std::any::Any>> = Vec::new();
    match i % 6 {
        // Eager parent/child graph, navigated both ways, one change.
        0 => {
            let authors = s.query::<Author>().load(selectin(Author::books)).all()?;
            for a in &authors {
                for b in a.related(Author::books)? {
                    let back = b
                        .related(Book::author)?
                        .ok_or(orm::Error::Usage("no author".into()))?;
                    assert!(back == *a);
                }
            }
            authors[(i as usize / 6) % authors.len()].write()?.name = format!("author renamed {i}");
            s.commit()?;
            kept.push(Box::new(authors));
        }
        // Lazy loading from the child side.
        1 => {
            let b = s.get_or_not_found::<Book>(1 + (i as i64 / 6) % 9)?;
            let a = b
                .related(Book::author)?
                .ok_or(orm::Error::Usage("no author".into()))?;
            let siblings = a.related(Author::books)?;
            assert!(siblings.contains(&b));
            b.write()?.title = format!("title {i}");
            s.commit()?;
            kept.push(Box::new((a, siblings)));
        }
        // A new graph through the relationship, then deleted again.
        2 => {
            let a = s.add(author(&format!("temporary {i}")))?;
            let books = [book("t1"), book("t2")];
            for b in &books {
                a.append(Author::books, b)?;
            }
            s.commit()?;
            for b in &books {
                s.delete(b)?;
            }
            s.delete(&a)?;
            s.commit()?;
            kept.push(Box::new((a, books)));
        }
        // Many-to-many navigated both ways, one link toggled.
        3 => {
            let students = s
                .query::<Student>()
                .load(selectin(Student::courses))
                .all()?;
            for st in &students {
                for c in st.related(Student::courses)? {
                    assert!(c.related(Course::students)?.iter().any(|x| x == st));
                }
            }
            let st = &students[(i as usize / 6) % students.len()];
            let course = s.get_or_not_found::<Course>(1 + (i as i64 / 6) % 4)?;
            if st.related(Student::courses)?.contains(&course) {
                st.remove(Student::courses, &course)?;
            } else {
                st.append(Student::courses, &course)?;
            }
            s.commit()?;
            kept.push(Box::new((students, course)));
        }
        // A new student linked to existing courses, then deleted (its links
        // go first).
        4 => {
            let st = s.add(Student {
                name: format!("visitor {i}"),
                ..Default::default()
            })?;
            let courses = s.query::<Course>().limit(2).all()?;
            for c in &courses {
                st.append(Student::courses, c)?;
                assert!(c.related(Course::students)?.contains(&st));
            }
            s.commit()?;
            s.delete(&st)?;
            s.commit()?;
            kept.push(Box::new((st, courses)));
        }
        // Changes rolled back.
        _ => {
            let a = s.get_or_not_found::<Author>(1)?;
            a.write()?.name = "never saved".into();
            a.append(Author::books, &book("never saved"))?;
            let st = s.get_or_not_found::<Student>(1)?;
            let c = s.add(Course {
                title: "never saved".into(),
                ..Default::default()
            })?;
            st.append(Student::courses, &c)?;
            s.flush()?;
            s.rollback()?;
            kept.push(Box::new((a, st, c)));
        }
    }
    Ok((s, kept))
}

/// Objects linked without any session, then dropped: what is still alive
/// (one-to-many pair, many-to-many pair).
fn transient_graphs() -> (i64, i64) {
    LIVE.store(0, Ordering::Relaxed);
    {
        let a = Obj::new(Author::default());
        let b = book("loose");
        let _ = a.append(Author::books, &b);
    }
    let one_to_many = live();
    LIVE.store(0, Ordering::Relaxed);
    {
        let st = Obj::new(Student::default());
        let c = Obj::new(Course::default());
        let _ = st.append(Student::courses, &c);
    }
    let many_to_many = live();
    LIVE.store(0, Ordering::Relaxed);
    (one_to_many, many_to_many)
}

/// The caller keeps objects after dropping their session.
fn objects_outlive_their_session(db: &Database) -> Result<(), String> {
    let s = db.session();
    let a = s
        .query::<Author>()
        .filter(Author::id.eq(1))
        .load(selectin(Author::books))
        .one()
        .map_err(|e| format!("{e:?}"))?;
    let books = a.related(Author::books).map_err(|e| format!("{e:?}"))?;
    let st = s
        .get_or_not_found::<Student>(1)
        .map_err(|e| format!("{e:?}"))?;
    let courses = st.related(Student::courses).map_err(|e| format!("{e:?}"))?;
    let name = a.read().map_err(|e| format!("{e:?}"))?.name.clone();
    drop(s);
    let detached = |r: orm::Result<usize>, what: &str| match r {
        Err(orm::Error::Detached { .. }) => Ok(()),
        other => Err(format!("{what}: expected Error::Detached, got {other:?}")),
    };
    match a.read() {
        Ok(r) if r.name == name => {}
        other => return Err(format!("read() after the session was dropped: {other:?}")),
    }
    if a.state() != ObjState::Detached {
        return Err(format!("state after drop: {:?}", a.state()));
    }
    detached(a.related(Author::books).map(|v| v.len()), "author.books")?;
    let b = books.first().ok_or("no books")?;
    b.read().map_err(|e| format!("book read(): {e:?}"))?;
    detached(
        b.related(Book::author).map(|o| o.iter().count()),
        "book.author",
    )?;
    detached(
        st.related(Student::courses).map(|v| v.len()),
        "student.courses",
    )?;
    let c = courses.first().ok_or("no courses")?;
    c.read().map_err(|e| format!("course read(): {e:?}"))?;
    detached(
        c.related(Course::students).map(|v| v.len()),
        "course.students",
    )?;
    Ok(())
}

#[test]
fn session_lifecycles_leave_no_live_objects_and_detached_objects_stay_readable() {
    let cycles: u64 = std::env::var("ORM_LEAK_CYCLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let started = std::time::Instant::now();
    let db = Database::builder()
        .model::<Author>()
        .model::<Student>()
        .open("sqlite://")
        .expect("open");
    db.create_all().expect("create_all");
    seed(&db).expect("seed");
    assert_eq!(live(), 0, "objects alive after seeding");
    let created_before = CREATED.load(Ordering::Relaxed);

    let mut leaked_cycles = 0u64;
    let mut max_live = 0i64;
    let mut errors = Vec::new();
    for i in 0..cycles {
        match lifecycle(&db, i) {
            Ok((session, kept)) => {
                // Half the time the session goes first, half the handles.
                if i % 2 == 0 {
                    drop(session);
                    drop(kept);
                } else {
                    drop(kept);
                    drop(session);
                }
            }
            Err(e) => errors.push(format!("cycle {i}: {e:?}")),
        }
        let n = live();
        if n != 0 {
            leaked_cycles += 1;
            max_live = max_live.max(n);
            if leaked_cycles <= 3 {
                eprintln!(
                    "cycle {i} (variant {}): {n} model values still alive",
                    i % 6
                );
            }
            // Start the next cycle from 0 so each leak is counted once.
            LIVE.store(0, Ordering::Relaxed);
        }
    }
    let created = CREATED.load(Ordering::Relaxed) - created_before;

    let (transient_o2m, transient_m2m) = transient_graphs();

    let detached = objects_outlive_their_session(&db);
    let after_detached = live();

    report(&format!(
        "leaks: {cycles} session lifecycles ({created} model values created), {leaked_cycles} lifecycles left live objects (max {max_live}), \
         {} errors; linked without a session: {transient_o2m} one-to-many and {transient_m2m} many-to-many objects live after drop; detached objects readable with Error::Detached relationships: {}, \
         {after_detached} live after dropping them ({:.1} s)",
        errors.len(),
        if detached.is_ok() { "yes" } else { "no" },
        started.elapsed().as_secs_f64()
    ));
    assert!(errors.is_empty(), "{:?}", &errors[..errors.len().min(5)]);
    assert_eq!(leaked_cycles, 0, "lifecycles that leaked model objects");
    assert_eq!(
        transient_o2m, 0,
        "a one-to-many pair linked without a session leaked"
    );
    assert_eq!(
        transient_m2m, 0,
        "a many-to-many pair linked without a session leaked"
    );
    detached.expect("detached objects");
    assert_eq!(
        after_detached, 0,
        "objects alive after dropping the detached handles"
    );
}
