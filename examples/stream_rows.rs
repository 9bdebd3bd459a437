//! Peak memory of streaming a large result: inserts N rows (default
//! 1,000,000) with bulk inserts, then reads them all back with
//! `Query::iter` (tracked objects) or `iter_detached` (plain values),
//! and prints the process's peak resident memory (`VmHWM`) after each
//! step, as Linux reports it.
//!
//! ```sh
//! cargo run --release --example stream_rows               # tracked, 1,000,000 rows
//! cargo run --release --example stream_rows -- detached 1000000
//! cargo run --release --example stream_rows -- all 1000000  # Query::all, for contrast
//! ```

use orm::prelude::*;

#[derive(Model, Debug, Default)]
#[orm(table = "events")]
struct Event {
    #[orm(primary_key)]
    id: i64,
    kind: String,
    payload: String,
    size: i64,
}

/// Peak resident set size of this process, in KiB (Linux only).
fn peak_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn report(step: &str) {
    match peak_kib() {
        Some(k) => println!("{step}: peak RSS {:.1} MiB", k as f64 / 1024.0),
        None => println!("{step}: peak RSS unknown (no /proc/self/status)"),
    }
}

fn main() -> orm::Result<()> {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "tracked".into());
    let n: i64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let dir = std::env::temp_dir().join(format!("orm-stream-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    let url = format!("sqlite:///{}", dir.join("events.db").display());
    let db = Database::builder().model::<Event>().open(&url)?;
    db.create_all()?;
    report("opened");

    let s = db.session();
    let mut next = 0;
    while next < n {
        let chunk = (n - next).min(10_000);
        s.bulk_insert_detached((next..next + chunk).map(|i| Event {
            kind: if i % 3 == 0 { "click" } else { "view" }.into(),
            payload: format!("event number {i} with some payload text"),
            size: i % 1000,
            ..Default::default()
        }))?;
        next += chunk;
    }
    s.commit()?;
    drop(s);
    report(&format!("inserted {n} rows"));

    let s = db.session();
    let started = std::time::Instant::now();
    let (rows, total) = match mode.as_str() {
        "detached" => {
            let mut rows = 0u64;
            let mut total = 0i64;
            for e in s.query::<Event>().iter_detached()? {
                let e = e?;
                rows += 1;
                total += e.size;
            }
            (rows, total)
        }
        "all" => {
            let all = s.query::<Event>().all()?;
            let mut total = 0;
            for e in &all {
                total += e.get(Event::size)?;
            }
            (all.len() as u64, total)
        }
        _ => {
            let mut rows = 0u64;
            let mut total = 0i64;
            for e in s.query::<Event>().yield_per(1000).iter()? {
                let e = e?;
                rows += 1;
                total += e.get(Event::size)?;
            }
            (rows, total)
        }
    };
    println!(
        "{mode}: read {rows} rows (sum of sizes {total}) in {:.2?}",
        started.elapsed()
    );
    report(&format!("after reading ({mode})"));
    drop(s);
    drop(db);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
