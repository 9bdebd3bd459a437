//! A field that counts the values alive: a model with one tells a test
//! whether the session let go of its objects. One counter per test binary,
//! so only one test of a binary may use it.

use std::sync::atomic::{AtomicI64, Ordering};

/// How many `Counted` values are alive.
pub static LIVE: AtomicI64 = AtomicI64::new(0);

/// Alive values now.
pub fn live() -> i64 {
    LIVE.load(Ordering::SeqCst)
}

/// Put in a model as an `#[orm(skip)]` field: made by `Default`, counted
/// until dropped.
#[derive(Debug)]
pub struct Counted;

impl Default for Counted {
    fn default() -> Self {
        LIVE.fetch_add(1, Ordering::SeqCst);
        Counted
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Ordering::SeqCst);
    }
}
