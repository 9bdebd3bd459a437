//! session_floor/1: what an orm read pays before it reads a row, beside
//! trivial_query/1's rusqlite baseline (one cached SELECT of one row on
//! `:memory:`), so the one-row targets can be weighed against it.
//!
//! - `rusqlite_memdb`: the same read on orm's storage (the `memdb` VFS);
//! - `r2d2`: one checkout and return of r2d2 0.8, the pool orm uses,
//!   configured as orm configures it, with a connection manager that does
//!   nothing (the pool's own cost, with no database at all);
//! - `orm_session`: a new session, closed without touching the database;
//! - `orm_session_conn`: a new session that takes its connection from the
//!   pool (`with_connection` with an empty closure) and closes.

use std::hint::black_box;
use std::time::Duration;

use super::raw::{self, Storage, sample, timed};
use super::workloads::{Systems, orm_db};

/// A connection manager whose connections are unit values.
struct Nothing;

impl r2d2::ManageConnection for Nothing {
    type Connection = ();
    type Error = std::convert::Infallible;

    fn connect(&self) -> Result<(), Self::Error> {
        Ok(())
    }

    fn is_valid(&self, _: &mut ()) -> Result<(), Self::Error> {
        Ok(())
    }

    fn has_broken(&self, _: &mut ()) -> bool {
        false
    }
}

pub fn session_floor() -> Systems {
    let (raw, _) = raw::systems::trivial_query(Storage::Memory, 1);
    let (memdb, _) = raw::systems::trivial_query(Storage::Memdb, 1);
    // orm's settings (`Database::builder`'s defaults and `open_target`).
    let pool = r2d2::Pool::builder()
        .max_size(10)
        .min_idle(Some(0))
        .max_lifetime(None)
        .idle_timeout(None)
        .test_on_check_out(false)
        .connection_timeout(Duration::from_secs(30))
        .error_handler(Box::new(r2d2::NopErrorHandler))
        .build(Nothing)
        .expect("r2d2 pool");
    let db = orm_db();
    let db2 = db.clone();
    vec![
        ("rusqlite", raw),
        ("rusqlite_memdb", memdb),
        (
            "r2d2",
            sample(move |iters| {
                timed(iters, |_| {
                    // As orm takes one: an idle connection, else a new one.
                    let conn = pool.try_get().or_else(|| pool.get().ok());
                    black_box(conn.expect("a connection"));
                })
            }),
        ),
        (
            "orm_session",
            sample(move |iters| {
                timed(iters, |_| {
                    black_box(db.session());
                })
            }),
        ),
        (
            "orm_session_conn",
            sample(move |iters| {
                timed(iters, |_| {
                    let s = db2.session();
                    s.with_connection(|c| black_box(c).is_autocommit()).unwrap();
                })
            }),
        ),
    ]
}
