//! Fault injection: write errors. The process's file size limit
//! (`RLIMIT_FSIZE`, with `SIGXFSZ` ignored) is lowered so that writes past
//! `k` bytes fail with `EFBIG`, which SQLite reports as an I/O error or a
//! full disk. Every scenario runs with `k` growing until the work gets
//! through, in WAL and rollback-journal mode; the checks are those of
//! `common/faults.rs` (typed error, data exactly before or after,
//! integrity, rollback and redo by the same session).
//!
//! The limit is process-wide, so this binary holds a single test and only
//! lowers it around the work itself. `ORM_FAULT_IO_STEP` (default 2048
//! bytes) sets the distance between two limits.
#![allow(unsafe_code)]

#[path = "common/faults.rs"]
mod faults;
#[path = "common/figures.rs"]
mod figures;

use std::time::Duration;

use faults::*;
use orm::JournalMode;

fn set_file_size_limit(bytes: Option<u64>) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain libc calls on a valid, initialized struct; only the
    // soft limit changes, so it can always be raised back to the hard one.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_FSIZE, &mut limit), 0);
        limit.rlim_cur = bytes.map_or(limit.rlim_max, |b| b as libc::rlim_t);
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &limit), 0);
    }
}

#[test]
fn write_errors_at_every_file_size() {
    // SAFETY: ignoring SIGXFSZ makes an oversized write fail with EFBIG
    // instead of killing the process.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    let step: u64 = std::env::var("ORM_FAULT_IO_STEP")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2048);
    let mut tally = Tally::default();
    for mode in [JournalMode::Wal, JournalMode::Delete] {
        for sc in scenarios() {
            let p = prepare(&sc);
            let mut limit = 0;
            loop {
                let path = p.fresh(limit);
                let r = run_with_fault(
                    &sc,
                    &p,
                    &path,
                    Duration::from_millis(20),
                    mode,
                    &move |_| set_file_size_limit(Some(limit)),
                    &|_| set_file_size_limit(None),
                );
                set_file_size_limit(None);
                if tally.record(r) == Some(Outcome::Passed) || limit > 64 << 20 {
                    break;
                }
                limit += step;
            }
        }
    }
    tally.finish("write errors at k bytes");
}
