//! How the unit of work scales with the number of objects: time per row of
//! each workload at N objects, and its ratio to the time per row at the
//! first N. A linear workload stays near ×1.0. Then one parent given N
//! children against the same rows written by hand with rusqlite on the
//! session's own connection (same storage, one cached INSERT per row, keys
//! read back).
//!
//! ```sh
//! cargo run --release --example scaling                 # N = 1000, 10000, 100000
//! taskset -c 1 cargo run --release --example scaling -- 1000 100000
//! cargo run --release --example scaling -- 1000 10000 savepoint  # only the workloads named so
//! ```
//!
//! Each workload runs on a fresh in-memory database, three times; the best
//! time counts (the others absorb page faults and a busy machine). Every
//! workload runs once first, unmeasured, at the first size.

use std::time::{Duration, Instant};

use orm::prelude::*;

#[derive(Model, Debug, Default, Clone)]
#[orm(has_many(children = Child, backref = "parent"))]
struct Parent {
    id: i64,
    name: String,
}

#[derive(Model, Debug, Default, Clone)]
struct Child {
    id: i64,
    name: String,
    #[orm(foreign_key = Parent::id)]
    parent_id: i64,
}

#[derive(Model, Debug, Default, Clone)]
struct Tag {
    id: i64,
    #[orm(unique)]
    name: String,
}

/// A shelf and its books, the books' foreign key indexed (without the
/// index SQLite scans the table for every collection it loads).
#[derive(Model, Debug, Default, Clone)]
#[orm(has_many(books = Book, backref = "shelf"))]
struct Shelf {
    id: i64,
    name: String,
}

#[derive(Model, Debug, Default, Clone)]
struct Book {
    id: i64,
    name: String,
    #[orm(foreign_key = Shelf::id, index)]
    shelf_id: i64,
}

/// A folder and its notes, which may have no folder: deleting a folder
/// sets its notes' reference to NULL (the foreign key indexed, as above).
#[derive(Model, Debug, Default, Clone)]
#[orm(has_many(notes = Note, backref = "folder"))]
struct Folder {
    id: i64,
    name: String,
}

#[derive(Model, Debug, Default, Clone)]
struct Note {
    id: i64,
    name: String,
    #[orm(foreign_key = Folder::id, index)]
    folder_id: Option<i64>,
}

/// An article and its labels, many-to-many.
#[derive(Model, Debug, Default, Clone)]
#[orm(many_to_many(labels = Label, secondary = ArticleLabel, backref = "articles"))]
struct Article {
    id: i64,
    title: String,
}

#[derive(Model, Debug, Default, Clone)]
struct Label {
    id: i64,
    name: String,
}

#[derive(Model, Debug, Default, Clone)]
struct ArticleLabel {
    #[orm(primary_key, foreign_key = Article::id)]
    article_id: i64,
    #[orm(primary_key, foreign_key = Label::id)]
    label_id: i64,
}

fn fresh() -> orm::Result<Database> {
    fresh_with::<Child>()
}

/// A new in-memory database with `M`'s table (and those it refers to).
fn fresh_with<M: Model>() -> orm::Result<Database> {
    let db = Database::builder().model::<M>().open("sqlite://")?;
    db.create_all()?;
    Ok(db)
}

/// N parents inserted and committed in one session; the clock runs over
/// `add_all` and `commit`.
fn seed(db: &Database, n: usize) -> orm::Result<Duration> {
    let s = db.session();
    let start = Instant::now();
    s.add_all((0..n).map(|i| Parent {
        name: format!("p{i}"),
        ..Default::default()
    }))?;
    s.commit()?;
    Ok(start.elapsed())
}

/// A session holding N seeded rows, loaded (the session keeps its
/// database open).
fn loaded(n: usize) -> orm::Result<(Session, Vec<Obj<Parent>>)> {
    let db = fresh()?;
    seed(&db, n)?;
    let s = db.session();
    let all = s.query::<Parent>().all()?;
    Ok((s, all))
}

type Workload = fn(usize) -> orm::Result<Duration>;

fn insert(n: usize) -> orm::Result<Duration> {
    seed(&fresh()?, n)
}

fn tracked_load(n: usize) -> orm::Result<Duration> {
    let db = fresh()?;
    seed(&db, n)?;
    let s = db.session();
    let start = Instant::now();
    let all = s.query::<Parent>().all()?;
    let elapsed = start.elapsed();
    assert_eq!(all.len(), n);
    Ok(elapsed)
}

fn update(n: usize) -> orm::Result<Duration> {
    let (s, all) = loaded(n)?;
    let start = Instant::now();
    for p in &all {
        p.write()?.name.push('!');
    }
    s.commit()?;
    Ok(start.elapsed())
}

fn delete(n: usize) -> orm::Result<Duration> {
    let (s, all) = loaded(n)?;
    let start = Instant::now();
    for p in &all {
        s.delete(p)?;
    }
    s.commit()?;
    Ok(start.elapsed())
}

/// One parent given N new children, then one commit.
fn children(n: usize) -> orm::Result<Duration> {
    append_children(n, None)
}

/// [`children`] with a flush after every 100 children (what autoflush
/// before a query in the loop does): each flush writes what changed since
/// the last one, not every change since the commit.
fn children_flushed(n: usize) -> orm::Result<Duration> {
    append_children(n, Some(100))
}

/// One parent given N new children, flushed after every `flush_every`
/// children if given, then one commit.
fn append_children(n: usize, flush_every: Option<usize>) -> orm::Result<Duration> {
    let db = fresh()?;
    let s = db.session();
    let start = Instant::now();
    let parent = s.add(Parent::default())?;
    for i in 0..n {
        let child = Obj::new(Child {
            name: format!("c{i}"),
            ..Default::default()
        });
        parent.append(Parent::children, &child)?;
        if flush_every.is_some_and(|every| (i + 1) % every == 0) {
            s.flush()?;
        }
    }
    s.commit()?;
    Ok(start.elapsed())
}

/// One parent's N children committed, then loaded with it and deleted one
/// by one (each leaves the loaded collection), then one commit.
fn delete_children(n: usize) -> orm::Result<Duration> {
    let db = fresh()?;
    let s = db.session();
    let parent = s.add(Parent::default())?;
    for i in 0..n {
        let child = Obj::new(Child {
            name: format!("c{i}"),
            ..Default::default()
        });
        parent.append(Parent::children, &child)?;
    }
    s.commit()?;
    let id = parent.read()?.id;
    let s = db.session();
    let parent = s.get::<Parent>(id)?.expect("the parent just committed");
    let children = parent.related(Parent::children)?;
    let start = Instant::now();
    for child in &children {
        s.delete(child)?;
    }
    s.commit()?;
    let elapsed = start.elapsed();
    assert!(parent.related(Parent::children)?.is_empty());
    Ok(elapsed)
}

/// N labels committed, then one article given all of them, then one
/// commit: each link is checked against the article's pending link
/// changes through their index, not a scan.
fn many_links(n: usize) -> orm::Result<Duration> {
    let db = fresh_with::<ArticleLabel>()?;
    let s = db.session();
    let article = s.add(Article::default())?;
    let labels = s.add_all((0..n).map(|i| Label {
        name: format!("l{i}"),
        ..Default::default()
    }))?;
    s.commit()?;
    let start = Instant::now();
    for label in &labels {
        article.append(Article::labels, label)?;
    }
    s.commit()?;
    let elapsed = start.elapsed();
    assert_eq!(s.query::<ArticleLabel>().count()?, n as u64);
    Ok(elapsed)
}

/// N new rows in one transaction, each added inside its own savepoint
/// (`Session::nested`, the way to skip a row that fails and keep the
/// others): opening a savepoint copies nothing, so this stays linear.
fn savepoint_per_row(n: usize) -> orm::Result<Duration> {
    let db = fresh()?;
    let s = db.session();
    let start = Instant::now();
    for i in 0..n {
        s.nested(|s| {
            s.add(Parent {
                name: format!("p{i}"),
                ..Default::default()
            })
        })?;
    }
    s.commit()?;
    Ok(start.elapsed())
}

/// [`savepoint_per_row`] where every tenth row repeats the name before it
/// and breaks a UNIQUE constraint: its flush fails, its savepoint is rolled
/// back and the loop goes on. A rollback expires what the transaction log
/// names since the savepoint, not every object of the session.
fn savepoint_per_row_some_refused(n: usize) -> orm::Result<Duration> {
    let db = fresh_with::<Tag>()?;
    let s = db.session();
    let start = Instant::now();
    let mut refused = 0;
    for i in 0..n {
        let name = if i % 10 == 9 {
            format!("t{}", i - 1)
        } else {
            format!("t{i}")
        };
        let added = s.nested(|s| {
            s.add(Tag {
                name,
                ..Default::default()
            })?;
            s.flush()
        });
        match added {
            Ok(()) => {}
            Err(e) if e.constraint_kind() == Some(orm::ConstraintKind::Unique) => refused += 1,
            Err(e) => return Err(e),
        }
    }
    s.commit()?;
    let elapsed = start.elapsed();
    assert_eq!(refused, n / 10);
    Ok(elapsed)
}

/// N rows loaded, then each changed and flushed inside its own savepoint,
/// every tenth savepoint rolled back (its row keeps its old name and is
/// read again on next access).
fn savepoint_per_update_some_rolled_back(n: usize) -> orm::Result<Duration> {
    let (s, all) = loaded(n)?;
    let start = Instant::now();
    for (i, p) in all.iter().enumerate() {
        let mut sp = s.begin_nested()?;
        p.write()?.name.push('!');
        s.flush()?;
        if i % 10 == 9 {
            sp.rollback()?;
        } else {
            sp.commit()?;
        }
    }
    s.commit()?;
    let elapsed = start.elapsed();
    let changed = s
        .query::<Parent>()
        .all()?
        .iter()
        .map(|p| p.read().map(|p| p.name.ends_with('!')))
        .collect::<orm::Result<Vec<bool>>>()?;
    assert_eq!(changed.iter().filter(|c| !**c).count(), n / 10);
    Ok(elapsed)
}

/// N shelves committed, then each one's books loaded (none yet; the query
/// flushes what the turn before added) and a new book given to it, then
/// one commit: a loaded collection merges only the assignments no flush
/// has written yet.
fn load_then_append(n: usize) -> orm::Result<Duration> {
    let db = fresh_with::<Book>()?;
    let s = db.session();
    let shelves = s.add_all((0..n).map(|i| Shelf {
        name: format!("s{i}"),
        ..Default::default()
    }))?;
    s.commit()?;
    let start = Instant::now();
    for (i, shelf) in shelves.iter().enumerate() {
        assert!(shelf.related(Shelf::books)?.is_empty());
        let book = Obj::new(Book {
            name: format!("b{i}"),
            ..Default::default()
        });
        shelf.append(Shelf::books, &book)?;
    }
    s.commit()?;
    Ok(start.elapsed())
}

/// N folders with a note each committed, then each folder deleted with a
/// flush after each (what autoflush before a query in the loop does), then
/// one commit. The notes are not loaded: each flush loads the deleted
/// folder's notes and sets their reference to NULL, and a deletion looks
/// for notes given to its folder in memory without reading the notes
/// earlier flushes changed.
fn delete_then_flush(n: usize) -> orm::Result<Duration> {
    let db = fresh_with::<Note>()?;
    let s = db.session();
    let folders = s.add_all((0..n).map(|i| Folder {
        name: format!("f{i}"),
        ..Default::default()
    }))?;
    s.flush()?;
    for (i, f) in folders.iter().enumerate() {
        s.add(Note {
            name: format!("n{i}"),
            folder_id: Some(f.read()?.id),
            ..Default::default()
        })?;
    }
    s.commit()?;
    let start = Instant::now();
    for folder in &folders {
        s.delete(folder)?;
        s.flush()?;
    }
    s.commit()?;
    let elapsed = start.elapsed();
    let orphans = s
        .query::<Note>()
        .filter(Note::folder_id.is_null())
        .count()?;
    assert_eq!(orphans, n as u64);
    Ok(elapsed)
}

/// N notes in one folder committed, then loaded, each moved to a second
/// folder, one flush, and each note let go of (`expunge`, what a batch job
/// does with what it has finished), then one commit: each expunge takes
/// its note off the session's list of relationship changes without a scan.
fn expunge_after_changes(n: usize) -> orm::Result<Duration> {
    let db = fresh_with::<Note>()?;
    let s = db.session();
    let from = s.add(Folder::default())?;
    let to = s.add(Folder::default())?;
    s.flush()?;
    let from_id = from.read()?.id;
    s.add_all((0..n).map(|i| Note {
        name: format!("n{i}"),
        folder_id: Some(from_id),
        ..Default::default()
    }))?;
    s.commit()?;
    let notes = s.query::<Note>().all()?;
    let start = Instant::now();
    for note in &notes {
        note.set_related(Note::folder, Some(&to))?;
    }
    s.flush()?;
    for note in &notes {
        s.expunge(note)?;
    }
    s.commit()?;
    let elapsed = start.elapsed();
    let to_id = to.read()?.id;
    let moved = s
        .query::<Note>()
        .filter(Note::folder_id.eq(to_id))
        .count()?;
    assert_eq!(moved, n as u64);
    Ok(elapsed)
}

/// N loaded rows, every other one changed and the rest marked deleted,
/// then each expunged before any flush: the commit writes nothing (each
/// expunge takes its object off the session's modified or deleted list).
fn expunge_unflushed(n: usize) -> orm::Result<Duration> {
    let (s, all) = loaded(n)?;
    let start = Instant::now();
    for (i, p) in all.iter().enumerate() {
        if i % 2 == 0 {
            p.write()?.name.push('!');
        } else {
            s.delete(p)?;
        }
    }
    for p in &all {
        s.expunge(p)?;
    }
    s.commit()?;
    let elapsed = start.elapsed();
    let rows = s.query::<Parent>().all_detached()?;
    assert_eq!(rows.len(), n);
    assert!(rows.iter().all(|p| !p.name.ends_with('!')));
    Ok(elapsed)
}

/// The rows of [`children`] written by hand with rusqlite on the session's
/// own connection (the same storage): the parent, then one cached INSERT
/// per child with the parent's key, every key read back, in one
/// transaction. The baseline of "one parent, N children".
fn children_by_hand(n: usize) -> orm::Result<Duration> {
    let db = fresh()?;
    let s = db.session();
    let start = Instant::now();
    let keys = s.with_connection(|conn| -> orm::Result<Vec<i64>> {
        let tx = conn.unchecked_transaction()?;
        tx.execute(r#"INSERT INTO "parent" ("name") VALUES (?1)"#, ["p"])?;
        let parent = tx.last_insert_rowid();
        let mut keys = Vec::with_capacity(n);
        {
            let mut insert =
                tx.prepare_cached(r#"INSERT INTO "child" ("name", "parent_id") VALUES (?1, ?2)"#)?;
            for i in 0..n {
                insert.execute(orm::rusqlite::params![format!("c{i}"), parent])?;
                keys.push(tx.last_insert_rowid());
            }
        }
        tx.commit()?;
        Ok(keys)
    })??;
    let elapsed = start.elapsed();
    assert_eq!(keys.len(), n);
    Ok(elapsed)
}

fn best_of_three(workload: Workload, n: usize) -> orm::Result<Duration> {
    let mut best = Duration::MAX;
    for _ in 0..3 {
        best = best.min(workload(n)?);
    }
    Ok(best)
}

fn main() -> orm::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sizes: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    // Any other argument keeps only the workloads whose name contains it.
    let only: Vec<&String> = args
        .iter()
        .filter(|a| a.parse::<usize>().is_err())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![1_000, 10_000, 100_000]
    } else {
        sizes
    };
    let workloads: [(&str, Workload); 15] = [
        ("insert", insert),
        ("tracked load", tracked_load),
        ("update", update),
        ("delete", delete),
        ("one parent, N children", children),
        (
            "one parent, N children, a flush every 100",
            children_flushed,
        ),
        (
            "one parent's N children loaded, each deleted",
            delete_children,
        ),
        ("one object given N many-to-many links", many_links),
        ("insert, a savepoint per row", savepoint_per_row),
        (
            "insert, a savepoint per row, every tenth refused",
            savepoint_per_row_some_refused,
        ),
        (
            "update, a savepoint per loaded row, every tenth rolled back",
            savepoint_per_update_some_rolled_back,
        ),
        (
            "N parents, each one's collection loaded, then given a child",
            load_then_append,
        ),
        (
            "N parents deleted, a flush after each, their children not loaded",
            delete_then_flush,
        ),
        (
            "N loaded objects given another parent, flushed, each expunged",
            expunge_after_changes,
        ),
        (
            "N loaded objects changed or deleted, each expunged before a flush",
            expunge_unflushed,
        ),
    ];
    let workloads: Vec<(&str, Workload)> = workloads
        .into_iter()
        .filter(|(name, _)| only.is_empty() || only.iter().any(|o| name.contains(o.as_str())))
        .collect();
    println!(
        "| workload | N | time | per row | per row / per row at N = {} |",
        sizes[0]
    );
    println!("|---|---:|---:|---:|---:|");
    // Once at the first size, unmeasured: a fresh process faults in its
    // code and grows its heap during its first runs, which made the
    // baseline row (and so every ratio) vary by up to x1.9 between runs.
    for (_, workload) in &workloads {
        workload(sizes[0])?;
    }
    for &(name, workload) in &workloads {
        let mut first = None;
        for &n in &sizes {
            let t = best_of_three(workload, n)?;
            let per_row = t.as_secs_f64() / n as f64;
            let base = *first.get_or_insert(per_row);
            println!(
                "| {name} | {n} | {:.1} ms | {:.2} µs | ×{:.2} |",
                t.as_secs_f64() * 1e3,
                per_row * 1e6,
                per_row / base
            );
        }
    }
    if !only.is_empty() {
        return Ok(());
    }
    println!();
    println!(
        "| one parent, N children | orm | rusqlite by hand, same connection | orm / rusqlite |"
    );
    println!("|---|---:|---:|---:|");
    for &n in &sizes {
        let orm = best_of_three(children, n)?;
        let by_hand = best_of_three(children_by_hand, n)?;
        println!(
            "| {n} | {:.1} ms | {:.1} ms | ×{:.2} |",
            orm.as_secs_f64() * 1e3,
            by_hand.as_secs_f64() * 1e3,
            orm.as_secs_f64() / by_hand.as_secs_f64()
        );
    }
    Ok(())
}
