//! Memory of tracked objects, counted by a global allocator that records
//! every byte the Rust side holds (SQLite's own pages are allocated in C and
//! not counted): the bytes per object of a tracked load against the same
//! rows loaded as plain values, and the peak of committing N new objects
//! against what the session holds once the commit is done. Two models of
//! three columns: one without a foreign key, whose objects allocate their
//! snapshot and relationship slots on first use, and one with, whose
//! objects hold them inline.
//!
//! ```sh
//! cargo run --release --example memory                 # N = 100000
//! cargo run --release --example memory -- 1000 100000
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use orm::prelude::*;

/// The system allocator, counting the bytes live now and the most live
/// since the last [`reset_peak`].
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = LIVE.fetch_add(by, Relaxed) + by;
    PEAK.fetch_max(now, Relaxed);
}

// A global allocator is an unsafe trait; this one forwards every call to
// `System` unchanged and only counts.
#[allow(unsafe_code)]
// SAFETY: every call goes to `System` unchanged; the counters only observe.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc`, passed on.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract for `dealloc`, passed on.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract for `realloc`, passed on.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            // Both blocks are live for a moment: count the new one first.
            grew(new_size);
            LIVE.fetch_sub(layout.size(), Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> usize {
    LIVE.load(Relaxed)
}

fn reset_peak() {
    PEAK.store(live(), Relaxed);
}

#[derive(Model, Debug, Default, Clone)]
struct Person {
    id: i64,
    name: String,
    hair_color: Option<String>,
}

/// The same three columns with a foreign key: a child, whose snapshot and
/// relationship slots its object holds inline (see `docs/architecture.md`).
#[derive(Model, Debug, Default, Clone)]
struct Pet {
    id: i64,
    #[orm(foreign_key = Person::id)]
    person_id: i64,
    name: String,
}

fn pet(i: usize) -> Pet {
    Pet {
        person_id: 1,
        name: format!("pet {i}"),
        ..Default::default()
    }
}

fn person(i: usize) -> Person {
    Person {
        name: format!("person {i}"),
        hair_color: i.is_multiple_of(2).then(|| "brown".to_string()),
        ..Default::default()
    }
}

fn per_object(bytes: usize, n: usize) -> f64 {
    bytes as f64 / n as f64
}

fn measure(n: usize) -> orm::Result<()> {
    let db = Database::builder()
        .model::<Person>()
        .model::<Pet>()
        .open("sqlite://")?;
    db.create_all()?;
    let seed = db.session();
    seed.bulk_insert_detached((0..n).map(person))?;
    seed.bulk_insert_detached((0..n).map(pet))?;
    seed.commit()?;
    drop(seed);
    measure_model(&db, n, "Person", person)?;
    measure_model(&db, n, "Pet (a foreign key)", pet)
}

fn measure_model<M: Model>(
    db: &Database,
    n: usize,
    name: &str,
    make: fn(usize) -> M,
) -> orm::Result<()> {
    // The same rows as plain values, then as tracked objects.
    let before = live();
    let plain = db.session().query::<M>().all_detached()?;
    let plain_bytes = live() - before;
    assert_eq!(plain.len(), n);
    drop(plain);

    let before = live();
    let session = db.session();
    let tracked = session.query::<M>().all()?;
    let tracked_bytes = live() - before;
    assert_eq!(tracked.len(), n);
    drop(tracked);
    drop(session);

    // N new objects added and committed in one session: the peak while
    // the commit runs against the session's holding once it is done.
    let before = live();
    reset_peak();
    let session = db.session();
    let added = session.add_all((0..n).map(make))?;
    session.commit()?;
    let peak = PEAK.load(Relaxed) - before;
    let steady = live() - before;
    assert_eq!(added.len(), n);
    drop(added);
    drop(session);

    let plain_each = per_object(plain_bytes, n);
    let tracked_each = per_object(tracked_bytes, n);
    println!(
        "| {name} | {n} | {} | {plain_each:.0} | {tracked_each:.0} | {:.0} | {:.0} | {:.0} | ×{:.2} |",
        std::mem::size_of::<M>(),
        tracked_each - plain_each,
        per_object(steady, n),
        per_object(peak, n),
        peak as f64 / steady as f64,
    );
    Ok(())
}

fn main() -> orm::Result<()> {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![100_000]
    } else {
        sizes
    };
    println!(
        "| model | N | model struct (bytes) | plain load (bytes per row) | tracked load (bytes per object) | tracked overhead over plain | after committing N new (bytes per object) | peak of that commit | peak / after |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for n in sizes {
        measure(n)?;
    }
    Ok(())
}
