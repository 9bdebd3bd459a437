//! Streaming a query's results: [`Iter`] (objects through the identity
//! map) and [`IterDetached`] (plain values), over the session's row cursor
//! (`session/stream.rs`).

use std::rc::Rc;

use hashbrown::hash_table::Entry;

use super::builder::Query;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::schema::statements;
use crate::session::obj::Status;
use crate::session::state::SessionState;
use crate::session::stream::RowCursor;
use crate::session::txn::TxnLog;
use crate::session::{Obj, Session};
use crate::sql::ast::Statement;
use crate::sql::writer;

/// Rows a stream reads from a server cursor at a time, and objects between
/// two prunings of the identity map, when [`Query::yield_per`] does not
/// say.
pub const DEFAULT_YIELD_PER: u64 = 1000;

/// The objects of a query, one row at a time, made by [`Query::iter`]
/// (SQLAlchemy's `yield_per`). Each item is a `Result`; after an error the
/// stream ends.
///
/// While it is open it holds the session's connection: every other
/// statement of the session fails with
/// [`Error::SessionBusy`](crate::Error::SessionBusy) (so nothing can
/// step, reset or commit under it), while objects already loaded can be
/// read and changed. It lets go at its end, at its first error, or when
/// dropped.
///
/// Objects go through the identity map like those of [`Query::all`]. As
/// SQLAlchemy's identity map holds objects weakly, every
/// [`yield_per`](Query::yield_per) objects the stream drops from the map
/// the objects it loaded that nothing else holds (unchanged, and no
/// longer held by the caller or a relationship), so memory stays bounded
/// by the objects the caller keeps.
///
/// # Examples
///
/// ```
/// use orm::prelude::*;
/// #[derive(Model, Debug, Default)]
/// struct Event { #[orm(primary_key)] id: i64, kind: String }
///
/// # fn main() -> orm::Result<()> {
/// let db = Database::builder().model::<Event>().open("sqlite://")?;
/// db.create_all()?;
/// let s = db.session();
/// s.bulk_insert((0..10).map(|i| Event { kind: if i % 2 == 0 { "a" } else { "b" }.into(), ..Default::default() }))?;
/// s.commit()?;
/// let mut seen = 0;
/// for event in s.query::<Event>().filter(Event::kind.eq("a")).yield_per(4).iter()? {
///     let event = event?;
///     event.set(Event::kind, "A".into())?; // tracked: flushed at commit
///     seen += 1;
/// }
/// s.commit()?;
/// assert_eq!(seen, 5);
/// assert_eq!(s.query::<Event>().filter(Event::kind.eq("A")).count()?, 5);
/// # Ok(()) }
/// ```
pub struct Iter<'s, M: Model> {
    session: &'s Session,
    cursor: Option<RowCursor<'s>>,
    populate: bool,
    per: usize,
    /// Keys of the objects this stream put in the identity map since the
    /// last pruning.
    fresh: Vec<M::Key>,
}

impl<M: Model> std::fmt::Debug for Iter<'_, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Iter")
            .field("model", &M::table().model)
            .field("open", &self.cursor.is_some())
            .finish_non_exhaustive()
    }
}

/// The rows of a query as plain values, one at a time, made by
/// [`Query::iter_detached`]: no identity map, no tracking, memory for one
/// row (and one batch of a server cursor). It holds the session's
/// connection as [`Iter`] does.
///
/// # Examples
///
/// ```
/// use orm::prelude::*;
/// #[derive(Model, Debug, Default)]
/// struct Event { #[orm(primary_key)] id: i64, size: i64 }
///
/// # fn main() -> orm::Result<()> {
/// let db = Database::builder().model::<Event>().open("sqlite://")?;
/// db.create_all()?;
/// let s = db.session();
/// s.bulk_insert_detached((1..=100).map(|size| Event { size, ..Default::default() }))?;
/// let total: i64 = s.query::<Event>().iter_detached()?.map(|e| e.map(|e| e.size)).sum::<orm::Result<i64>>()?;
/// assert_eq!(total, 5050);
/// # Ok(()) }
/// ```
pub struct IterDetached<'s, M: Model> {
    cursor: Option<RowCursor<'s>>,
    _model: std::marker::PhantomData<fn() -> M>,
}

impl<M: Model> std::fmt::Debug for IterDetached<'_, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IterDetached")
            .field("model", &M::table().model)
            .field("open", &self.cursor.is_some())
            .finish()
    }
}

impl<'s, M: Model> Query<'s, M> {
    /// Read `n` rows at a time from a server cursor (PostgreSQL), and
    /// prune the identity map every `n` objects, in [`iter`](Self::iter)
    /// and [`iter_detached`](Self::iter_detached) (SQLAlchemy's
    /// `yield_per`; 1,000 when not given, at least 1).
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct Event { #[orm(primary_key)] id: i64 }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<Event>().open("sqlite://")?;
    /// db.create_all()?;
    /// let s = db.session();
    /// assert_eq!(s.query::<Event>().yield_per(100).iter()?.count(), 0);
    /// # Ok(()) }
    /// ```
    pub fn yield_per(mut self, n: u64) -> Self {
        self.yield_per = n.max(1);
        self
    }

    fn open_cursor(&self) -> Result<RowCursor<'s>> {
        let session: &'s Session = self.session;
        let inner = &*session.inner;
        if self.explicit_loads {
            return Err(Error::Usage(format!(
                "a stream of {} cannot load relationships eagerly (load() is for all()); remove load(), or load them per object",
                M::table().model
            )));
        }
        inner.autoflush()?;
        if self.select.lock.is_some() {
            inner.ensure_write_txn()?;
        }
        let per = usize::try_from(self.yield_per).unwrap_or(usize::MAX);
        if self.is_plain_select() {
            let sql = statements::select_all(M::table(), inner.dialect());
            return RowCursor::open(inner, &sql, &[], per).map_err(|e| e.with_table(M::table()));
        }
        let w = writer::write(
            &Statement::Select(self.entity_select_for_stream()),
            inner.dialect(),
        )?;
        RowCursor::open(inner, &w.sql, &w.params, per).map_err(|e| e.with_table(M::table()))
    }

    /// Stream the matching objects, one row at a time, through the
    /// identity map (see [`Iter`]). Relationships declared `lazy =
    /// "selectin"` are not loaded eagerly here; they load on access once
    /// the stream is done.
    ///
    /// # Errors
    ///
    /// [`Error::Usage`] for a query with [`load`](Self::load) options;
    /// [`Error::SessionBusy`] while another stream of the session is open;
    /// database errors (later ones come as items).
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct Event { #[orm(primary_key)] id: i64 }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<Event>().open("sqlite://")?;
    /// db.create_all()?;
    /// let s = db.session();
    /// s.bulk_insert((0..3).map(|_| Event::default()))?;
    /// let mut events = s.query::<Event>().order_by(Event::id).iter()?;
    /// let first = events.next().unwrap()?;
    /// // The stream holds the connection: other statements wait for it.
    /// assert!(matches!(s.query::<Event>().count(), Err(orm::Error::SessionBusy { .. })));
    /// drop(events);
    /// assert_eq!(s.query::<Event>().count()?, 3);
    /// assert_eq!(first.get(Event::id)?, 1);
    /// # Ok(()) }
    /// ```
    pub fn iter(&self) -> Result<Iter<'s, M>> {
        Ok(Iter {
            session: self.session,
            cursor: Some(self.open_cursor()?),
            populate: self.populate,
            per: usize::try_from(self.yield_per).unwrap_or(usize::MAX),
            fresh: Vec::new(),
        })
    }

    /// Stream the matching rows as plain values (see [`IterDetached`]).
    ///
    /// # Errors
    ///
    /// As [`iter`](Self::iter).
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default, PartialEq)]
    /// struct Event { #[orm(primary_key)] id: i64 }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<Event>().open("sqlite://")?;
    /// db.create_all()?;
    /// let s = db.session();
    /// s.bulk_insert((0..2).map(|_| Event::default()))?;
    /// let events: Vec<Event> = s.query::<Event>().iter_detached()?.collect::<orm::Result<_>>()?;
    /// assert_eq!(events, [Event { id: 1 }, Event { id: 2 }]);
    /// # Ok(()) }
    /// ```
    pub fn iter_detached(&self) -> Result<IterDetached<'s, M>> {
        Ok(IterDetached {
            cursor: Some(self.open_cursor()?),
            _model: std::marker::PhantomData,
        })
    }
}

impl<M: Model> Iter<'_, M> {
    /// Drop from the identity map the objects this stream loaded that only
    /// the map holds (their rows are in the database: a later query or
    /// `get` loads them again).
    fn prune(&mut self) {
        let Ok(mut state) = self.session.inner.state_mut() else {
            return;
        };
        let Some(map) = state.maps.get::<M>() else {
            self.fresh.clear();
            return;
        };
        for key in self.fresh.drain(..) {
            let alone = map.get(&key).is_some_and(|obj| {
                Rc::strong_count(&obj.inner) == 1 && obj.inner.status.get() == Status::Persistent
            });
            if alone {
                // Freed here: held by nothing else, and its relationship
                // slots hold no strong reference that leads back to it.
                map.remove(&key);
            }
        }
    }
}

impl<M: Model> Iterator for Iter<'_, M> {
    type Item = Result<Obj<M>>;

    fn next(&mut self) -> Option<Result<Obj<M>>> {
        if self.fresh.len() >= self.per {
            self.prune();
        }
        let cursor = self.cursor.as_mut()?;
        let inner = &*self.session.inner;
        let populate = self.populate;
        let fresh = &mut self.fresh;
        let item = cursor.next_with(|row| {
            let mut state = inner.state_mut()?;
            let SessionState { maps, txn, .. } = &mut *state;
            let map = maps.of::<M>();
            let key = M::__key_from_row(row, 0)?;
            match map.entry(&key) {
                Entry::Occupied(found) => {
                    let existing = found.get();
                    if existing.inner.expired() || populate {
                        existing.set_loaded(M::__from_row_with_key(row, 0, key)?)?;
                        TxnLog::note_loaded(txn, || existing.erased());
                    }
                    Ok(existing.clone())
                }
                Entry::Vacant(slot) => {
                    let obj = Obj::with_status(
                        M::__from_row_with_key(row, 0, key.clone())?,
                        Status::Persistent,
                        inner.weak_self.clone(),
                        Some(key.clone()),
                    );
                    fresh.push(key);
                    slot.insert(obj.clone());
                    TxnLog::note_loaded(txn, || obj.erased());
                    Ok(obj)
                }
            }
        });
        match item {
            Some(Ok(obj)) => Some(Ok(obj)),
            other => {
                self.cursor = None;
                if other.is_none() {
                    self.prune();
                }
                other.map(|r| r.map_err(|e| e.with_table(M::table())))
            }
        }
    }
}

impl<M: Model> Iterator for IterDetached<'_, M> {
    type Item = Result<M>;

    fn next(&mut self) -> Option<Result<M>> {
        let item = self.cursor.as_mut()?.next_with(|row| M::__from_row(row, 0));
        if !matches!(item, Some(Ok(_))) {
            self.cursor = None;
        }
        item.map(|r| r.map_err(|e| e.with_table(M::table())))
    }
}
