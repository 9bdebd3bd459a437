//! Fault injection: out of memory. SQLite's hard heap limit is set to what
//! it uses now plus `k` bytes, so some allocation during the work fails
//! with `SQLITE_NOMEM`. Every scenario runs with `k` growing until the
//! work gets through; the checks are those of `common/faults.rs` (typed
//! error, data exactly before or after, integrity, rollback and redo by
//! the same session).
//!
//! The heap limit is process-wide, so this binary holds a single test and
//! only sets it around the work itself. `ORM_FAULT_OOM_STEP` (default
//! 4096 bytes) sets the distance between two limits.
#![allow(unsafe_code)]

#[path = "common/faults.rs"]
mod faults;
#[path = "common/figures.rs"]
mod figures;

use std::time::Duration;

use faults::*;
use orm::JournalMode;
use rusqlite::ffi;

fn set_heap_limit(extra: Option<i64>) {
    // SAFETY: both functions only read or set SQLite's global counters;
    // a limit of 0 removes the limit.
    unsafe {
        let limit = extra.map_or(0, |e| ffi::sqlite3_memory_used() + e);
        ffi::sqlite3_hard_heap_limit64(limit);
    }
}

#[test]
fn out_of_memory_at_every_allocation_size() {
    let step: i64 = std::env::var("ORM_FAULT_OOM_STEP")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4096);
    let mut tally = Tally::default();
    for sc in scenarios() {
        let p = prepare(&sc);
        let mut extra = 0;
        loop {
            let path = p.fresh(extra as u64);
            let r = run_with_fault(
                &sc,
                &p,
                &path,
                Duration::from_millis(20),
                JournalMode::Wal,
                &move |_| set_heap_limit(Some(extra)),
                &|_| set_heap_limit(None),
            );
            set_heap_limit(None);
            if tally.record(r) == Some(Outcome::Passed) || extra > 256 << 20 {
                break;
            }
            extra += step;
        }
    }
    tally.finish("out of memory at k bytes");
}
