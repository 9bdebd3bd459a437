//! Reading a result row by row without holding it all: the cursor behind
//! `Query::iter` and `iter_detached`.
//!
//! - SQLite: one prepared statement, stepped on a helper thread that the
//!   session's connection moves to for the stream (a statement borrows its
//!   connection, so a stepping statement cannot be kept beside the
//!   session's connection without a self-referential struct). The thread
//!   hands over the rows in batches through a channel of one batch, so at
//!   most about three batches are in memory, and gives the connection back
//!   when the stream ends or is dropped. The statement runs in the
//!   session's transaction, if one is open.
//! - Backends with SQL cursors (PostgreSQL): `DECLARE "orm_cN" NO SCROLL
//!   CURSOR FOR <query>` in the session's transaction (or in a read
//!   transaction opened for it), then `FETCH FORWARD n` per batch, `CLOSE`
//!   at the end or when dropped. The connection borrow is held the same
//!   way, for the same reason.
//! - Other backends: the whole result is read first (not bounded).

use std::cell::RefMut;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use super::state::SessionInner;
use crate::backend::{Conn, Manager, Row};
use crate::error::{Error, Result};
use crate::observe::Observer;
use crate::types::Value;

type Slot<'s> = RefMut<'s, Option<r2d2::PooledConnection<Manager>>>;

/// What the SQLite helper thread sends.
enum Msg {
    Columns(Vec<String>),
    Rows(Vec<Vec<Value>>),
    Failed(Error),
}

/// A SQLite statement stepped on a helper thread that owns the connection.
struct Stepper<'s> {
    slot: Slot<'s>,
    rx: Option<Receiver<Msg>>,
    thread: Option<JoinHandle<r2d2::PooledConnection<Manager>>>,
    rows: VecDeque<Vec<Value>>,
    columns: Vec<String>,
    current: Vec<Value>,
}

/// A cursor of the server's (`DECLARE`), read `batch` rows at a time.
struct Fetch<'s> {
    slot: Slot<'s>,
    name: String,
    fetch: String,
    rows: VecDeque<Vec<Value>>,
    columns: Vec<String>,
    current: Vec<Value>,
    /// The server has no more rows.
    exhausted: bool,
    /// The cursor opened the transaction it lives in.
    began: bool,
    open: bool,
}

enum Kind<'s> {
    Sqlite(Box<Stepper<'s>>),
    Fetch(Box<Fetch<'s>>),
    Buffered {
        rows: std::vec::IntoIter<Vec<Value>>,
        columns: Vec<String>,
        current: Vec<Value>,
    },
    Done,
}

/// The rows of one SELECT, read on demand.
pub(crate) struct RowCursor<'s> {
    session: &'s SessionInner,
    kind: Kind<'s>,
}

static NEXT_CURSOR: AtomicU64 = AtomicU64::new(0);

fn conn_of<'a>(slot: &'a mut Slot<'_>) -> Result<&'a mut Conn> {
    slot.as_deref_mut()
        .ok_or_else(|| Error::Pool("no connection".into()))
}

impl<'s> RowCursor<'s> {
    /// Run `sql` and be ready to read its rows, `batch` at a time from a
    /// server cursor.
    pub(crate) fn open(
        session: &'s SessionInner,
        sql: &str,
        params: &[Value],
        batch: usize,
    ) -> Result<RowCursor<'s>> {
        crate::types::check_params(params)?;
        let mut slot = session
            .conn
            .try_borrow_mut()
            .map_err(|_| Error::SessionBusy {
                reason: "another operation of the session is using its connection",
            })?;
        if slot.is_none() {
            *slot = Some(session.db.connection()?);
        }
        let observer = session.observer();
        let conn = conn_of(&mut slot)?;
        if conn.sqlite_conn().is_some() {
            if observer.active() {
                observer.observe(sql, &|| params.to_vec());
            }
            let Some(conn) = slot.take() else {
                return Err(Error::Pool("no connection".into()));
            };
            let (tx, rx) = sync_channel(1);
            let (sql, params) = (sql.to_owned(), params.to_vec());
            let per = batch.max(1);
            let thread = std::thread::Builder::new()
                .name("orm-stream".into())
                .spawn(move || step_rows(conn, &sql, &params, per, &tx));
            let thread = match thread {
                Ok(t) => t,
                Err(e) => {
                    return Err(Error::Usage(format!(
                        "could not start the thread that reads a stream: {e}"
                    )));
                }
            };
            return Ok(RowCursor {
                session,
                kind: Kind::Sqlite(Box::new(Stepper {
                    slot,
                    rx: Some(rx),
                    thread: Some(thread),
                    rows: VecDeque::new(),
                    columns: Vec::new(),
                    current: Vec::new(),
                })),
            });
        }
        if conn.dialect().cursors() {
            let name = format!("orm_c{}", NEXT_CURSOR.fetch_add(1, Ordering::Relaxed));
            let began = !conn.in_transaction();
            let opened = (|| {
                if began {
                    conn.execute_control("BEGIN", observer)?;
                }
                let declare = format!("DECLARE \"{name}\" NO SCROLL CURSOR FOR {sql}");
                conn.execute_values(&declare, params, observer)
            })();
            let mut fetch = Fetch {
                slot,
                fetch: format!("FETCH FORWARD {} FROM \"{name}\"", batch.max(1)),
                name,
                rows: VecDeque::new(),
                columns: Vec::new(),
                current: Vec::new(),
                exhausted: false,
                began,
                open: false,
            };
            if let Err(e) = opened {
                fetch.close(session);
                return Err(session.db.refine_error(e));
            }
            fetch.open = true;
            return Ok(RowCursor {
                session,
                kind: Kind::Fetch(Box::new(fetch)),
            });
        }
        // No cursors: read everything now.
        let mut rows = Vec::new();
        let mut columns = Vec::new();
        let read = conn
            .prepare_bound(sql, params, observer)
            .and_then(|mut st| {
                st.query(|row| {
                    if columns.is_empty() {
                        columns = (0..row.len())
                            .map(|i| row.column_name(i).unwrap_or("").to_owned())
                            .collect();
                    }
                    rows.push(
                        (0..row.len())
                            .map(|i| row.get(i).map(|v| v.to_owned()))
                            .collect::<Result<_>>()?,
                    );
                    Ok(())
                })
            });
        if conn.transaction_aborted() {
            session.needs_rollback.set(Some(
                "the database aborted the transaction after a failed statement",
            ));
        }
        read.map_err(|e| session.db.refine_error(e))?;
        Ok(RowCursor {
            session,
            kind: Kind::Buffered {
                rows: rows.into_iter(),
                columns,
                current: Vec::new(),
            },
        })
    }

    /// Decode the next row with `f`; `None` at the end. The cursor lets
    /// go of the connection at the end and after an error.
    pub(crate) fn next_with<R>(
        &mut self,
        f: impl FnOnce(&Row<'_>) -> Result<R>,
    ) -> Option<Result<R>> {
        let session = self.session;
        let out = match &mut self.kind {
            Kind::Done => return None,
            Kind::Sqlite(stepper) => stepper.next(f),
            Kind::Fetch(fetch) => fetch.next(session, f),
            Kind::Buffered {
                rows,
                columns,
                current,
            } => rows.next().map(|r| {
                *current = r;
                f(&Row::from_values(current, columns))
            }),
        };
        if !matches!(out, Some(Ok(_))) {
            self.finish();
        }
        out.map(|r| r.map_err(|e| session.db.refine_error(e)))
    }

    /// Let go of the statement or cursor and of the connection.
    pub(crate) fn finish(&mut self) {
        match &mut self.kind {
            Kind::Fetch(fetch) => fetch.close(self.session),
            Kind::Sqlite(stepper) => stepper.close(),
            _ => {}
        }
        self.kind = Kind::Done;
    }
}

impl Drop for RowCursor<'_> {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The helper thread: run the statement on `conn`, send its rows in
/// batches of `per`, give the connection back. It stops early when the
/// stream is dropped (the channel is closed).
fn step_rows(
    mut conn: r2d2::PooledConnection<Manager>,
    sql: &str,
    params: &[Value],
    per: usize,
    tx: &SyncSender<Msg>,
) -> r2d2::PooledConnection<Manager> {
    let mut batch: Vec<Vec<Value>> = Vec::with_capacity(per.min(4096));
    let mut named = false;
    let result = conn
        .prepare_bound(sql, params, &Observer::default())
        .and_then(|mut st| {
            st.query(|row| {
                if !named {
                    named = true;
                    let columns = (0..row.len())
                        .map(|i| row.column_name(i).unwrap_or("").to_owned())
                        .collect();
                    tx.send(Msg::Columns(columns)).map_err(|_| closed())?;
                }
                batch.push(
                    (0..row.len())
                        .map(|i| row.get(i).map(|v| v.to_owned()))
                        .collect::<Result<_>>()?,
                );
                if batch.len() >= per {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(per.min(4096)));
                    tx.send(Msg::Rows(full)).map_err(|_| closed())?;
                }
                Ok(())
            })
        });
    let _ = match result {
        Ok(()) if batch.is_empty() => Ok(()),
        Ok(()) => tx.send(Msg::Rows(batch)),
        Err(e) => tx.send(Msg::Failed(e)),
    };
    conn
}

/// The stream was dropped: the helper thread stops.
fn closed() -> Error {
    Error::Usage("the stream was closed".into())
}

impl Stepper<'_> {
    fn next<R>(&mut self, f: impl FnOnce(&Row<'_>) -> Result<R>) -> Option<Result<R>> {
        while self.rows.is_empty() {
            match self.rx.as_ref()?.recv() {
                Ok(Msg::Columns(c)) => self.columns = c,
                Ok(Msg::Rows(rows)) => self.rows = rows.into(),
                Ok(Msg::Failed(e)) => return Some(Err(e)),
                // The thread is done: no more rows.
                Err(_) => return None,
            }
        }
        self.current = self.rows.pop_front()?;
        Some(f(&Row::from_values(&self.current, &self.columns)))
    }

    /// Stop the thread and take the connection back.
    fn close(&mut self) {
        self.rx = None;
        self.rows.clear();
        if let Some(thread) = self.thread.take() {
            // Lost if the thread panicked: the session takes a new one.
            if let Ok(conn) = thread.join() {
                *self.slot = Some(conn);
            }
        }
    }
}

impl Fetch<'_> {
    fn next<R>(
        &mut self,
        session: &SessionInner,
        f: impl FnOnce(&Row<'_>) -> Result<R>,
    ) -> Option<Result<R>> {
        if self.rows.is_empty()
            && !self.exhausted
            && let Err(e) = self.fill(session)
        {
            return Some(Err(e));
        }
        let row = self.rows.pop_front()?;
        self.current = row;
        Some(f(&Row::from_values(&self.current, &self.columns)))
    }

    /// FETCH the next batch.
    fn fill(&mut self, session: &SessionInner) -> Result<()> {
        let observer = session.observer();
        let Fetch {
            slot,
            fetch,
            rows,
            columns,
            ..
        } = self;
        let conn = conn_of(slot)?;
        let mut got = 0;
        let result = conn.prepare_bound(fetch, &[], observer).and_then(|mut st| {
            st.query(|row| {
                if columns.is_empty() {
                    *columns = (0..row.len())
                        .map(|i| row.column_name(i).unwrap_or("").to_owned())
                        .collect();
                }
                rows.push_back(
                    (0..row.len())
                        .map(|i| row.get(i).map(|v| v.to_owned()))
                        .collect::<Result<_>>()?,
                );
                got += 1;
                Ok(())
            })
        });
        if conn.transaction_aborted() && !self.began {
            session.needs_rollback.set(Some(
                "the database aborted the transaction after a failed statement",
            ));
        }
        result?;
        if got == 0 {
            self.exhausted = true;
        }
        Ok(())
    }

    /// CLOSE the cursor, and end the transaction it opened; errors are
    /// ignored (a connection in an unknown state is not pooled again).
    fn close(&mut self, session: &SessionInner) {
        let observer = session.observer();
        let Ok(conn) = conn_of(&mut self.slot) else {
            return;
        };
        if self.open && !conn.transaction_aborted() {
            let close = format!("CLOSE \"{}\"", self.name);
            let _ = conn.execute_control(&close, observer);
        }
        if conn.transaction_aborted() && !self.began {
            session.needs_rollback.set(Some(
                "the database aborted the transaction after a failed statement",
            ));
        }
        self.open = false;
        if self.began {
            self.began = false;
            conn.rollback_quietly(observer);
        }
        self.rows.clear();
    }
}
