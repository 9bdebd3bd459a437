//! Events: per-model [`Hooks`] (SQLAlchemy's mapper events `before_insert`,
//! `after_insert`, ...), which the flush calls for each object it writes,
//! and session hooks (SQLAlchemy's session events `before_flush`,
//! `after_commit`, `after_rollback`): closures registered on the
//! [`DatabaseBuilder`](crate::DatabaseBuilder) for every session, or on one
//! [`Session`].
//!
//! A hook runs outside every borrow the session holds, with the session
//! marked as running it: a hook that calls back into the session in a way
//! that could corrupt its state (flush, commit, rollback, savepoints from
//! any hook; any session call from a model hook, which runs inside the
//! flush) gets [`Error::Usage`] instead. Nothing here costs anything when
//! no hook is registered: the flush asks the tables it writes whether their
//! model has hooks, and the session whether its lists are empty.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;

use super::Session;
use super::state::SessionInner;
use crate::error::{Error, Result};

/// Per-model hooks the flush calls around each object's statement
/// (SQLAlchemy's mapper events). Opt in with `#[orm(hooks)]` on the model
/// and implement the ones you need; the others do nothing.
///
/// | hook | runs | may |
/// |---|---|---|
/// | `before_insert` | at flush, before any statement, for each new object | change the object: the INSERT writes the changes |
/// | `before_update` | at flush, before any statement, for each object with changes to write | change the object: the UPDATE writes the changes |
/// | `before_delete` | at flush, before any statement, for each deleted object | refuse |
/// | `after_insert`, `after_update`, `after_delete` | after the flush's last statement, before it succeeds | refuse |
///
/// Any hook refuses by returning an error: the flush then fails with it and,
/// as for any failed flush, leaves every object and the database exactly
/// as before (changes `before_*` hooks made are taken back too). A hook
/// sees only its object; calling into the session from it (a query, a
/// flush) is [`Error::Usage`]. For work across objects use the session's
/// `before_flush` hook ([`Session::on_before_flush`]).
///
/// # Examples
///
/// ```
/// use orm::prelude::*;
///
/// #[derive(Model, Debug, Default)]
/// #[orm(hooks)]
/// struct Post { #[orm(primary_key)] id: i64, title: String, slug: String, edits: i64 }
///
/// impl orm::Hooks for Post {
///     fn before_insert(&mut self) -> orm::Result<()> {
///         self.slug = self.title.to_lowercase().replace(' ', "-");
///         Ok(())
///     }
///     fn before_update(&mut self) -> orm::Result<()> {
///         self.edits += 1;
///         Ok(())
///     }
///     fn before_delete(&self) -> orm::Result<()> {
///         if self.edits > 1 {
///             return Err(orm::Error::Usage("edited posts are kept".into()));
///         }
///         Ok(())
///     }
/// }
///
/// # fn main() -> orm::Result<()> {
/// let db = Database::builder().model::<Post>().open("sqlite://")?;
/// db.create_all()?;
/// let s = db.session();
/// let post = s.add(Post { title: "Hello World".into(), ..Default::default() })?;
/// s.commit()?;
/// assert_eq!(post.read()?.slug, "hello-world");
/// post.write()?.title = "Hello again".into();
/// s.commit()?;
/// assert_eq!(post.read()?.edits, 1);
/// # Ok(()) }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` has `#[orm(hooks)]` but does not implement `orm::Hooks`",
    label = "needs `impl orm::Hooks for {Self}`",
    note = "add `impl orm::Hooks for {Self} {{}}` with the hooks it needs (the others do nothing), or remove `hooks`"
)]
pub trait Hooks: crate::Model {
    /// Before the object's INSERT (SQLAlchemy's `before_insert`).
    ///
    /// # Errors
    ///
    /// An error fails the flush, which changes nothing.
    fn before_insert(&mut self) -> Result<()> {
        Ok(())
    }

    /// After the object's INSERT, with its generated key
    /// (`after_insert`).
    ///
    /// # Errors
    ///
    /// An error fails the flush, which changes nothing.
    fn after_insert(&self) -> Result<()> {
        Ok(())
    }

    /// Before the object's UPDATE (`before_update`).
    ///
    /// # Errors
    ///
    /// An error fails the flush, which changes nothing.
    fn before_update(&mut self) -> Result<()> {
        Ok(())
    }

    /// After the object's UPDATE (`after_update`).
    ///
    /// # Errors
    ///
    /// An error fails the flush, which changes nothing.
    fn after_update(&self) -> Result<()> {
        Ok(())
    }

    /// Before the object's DELETE (`before_delete`).
    ///
    /// # Errors
    ///
    /// An error fails the flush, which changes nothing.
    fn before_delete(&self) -> Result<()> {
        Ok(())
    }

    /// After the object's DELETE (`after_delete`).
    ///
    /// # Errors
    ///
    /// An error fails the flush, which changes nothing.
    fn after_delete(&self) -> Result<()> {
        Ok(())
    }
}

/// A model's [`Hooks`] methods, for the flush. Made by generated code.
#[doc(hidden)]
pub struct HookFns<M> {
    pub before_insert: fn(&mut M) -> Result<()>,
    pub after_insert: fn(&M) -> Result<()>,
    pub before_update: fn(&mut M) -> Result<()>,
    pub after_update: fn(&M) -> Result<()>,
    pub before_delete: fn(&M) -> Result<()>,
    pub after_delete: fn(&M) -> Result<()>,
}

impl<M> std::fmt::Debug for HookFns<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HookFns")
    }
}

impl<M> Clone for HookFns<M> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<M> Copy for HookFns<M> {}

impl<M> HookFns<M> {
    /// Run the hook for `event` that may change the object.
    pub(crate) fn run_mut(&self, model: &mut M, event: HookEvent) -> Result<()> {
        match event {
            HookEvent::BeforeInsert => (self.before_insert)(model),
            HookEvent::BeforeUpdate => (self.before_update)(model),
            other => self.run(model, other),
        }
    }

    /// Run the hook for `event` that reads the object.
    pub(crate) fn run(&self, model: &M, event: HookEvent) -> Result<()> {
        match event {
            HookEvent::AfterInsert => (self.after_insert)(model),
            HookEvent::AfterUpdate => (self.after_update)(model),
            HookEvent::BeforeDelete => (self.before_delete)(model),
            HookEvent::AfterDelete => (self.after_delete)(model),
            HookEvent::BeforeInsert | HookEvent::BeforeUpdate => Ok(()),
        }
    }
}

/// Which [`Hooks`] method to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HookEvent {
    BeforeInsert,
    AfterInsert,
    BeforeUpdate,
    AfterUpdate,
    BeforeDelete,
    AfterDelete,
}

impl HookEvent {
    pub(crate) fn name(self) -> &'static str {
        match self {
            HookEvent::BeforeInsert => "before_insert",
            HookEvent::AfterInsert => "after_insert",
            HookEvent::BeforeUpdate => "before_update",
            HookEvent::AfterUpdate => "after_update",
            HookEvent::BeforeDelete => "before_delete",
            HookEvent::AfterDelete => "after_delete",
        }
    }
}

/// A `before_flush` hook of every session of a database.
pub(crate) type SharedCheck = Arc<dyn Fn(&Session) -> Result<()> + Send + Sync>;
/// An `after_commit` / `after_rollback` hook of every session of a database.
pub(crate) type SharedNotice = Arc<dyn Fn(&Session) + Send + Sync>;

/// The session hooks registered on a [`DatabaseBuilder`](crate::DatabaseBuilder).
#[derive(Clone, Default)]
pub(crate) struct SharedEvents {
    pub before_flush: Vec<SharedCheck>,
    pub after_commit: Vec<SharedNotice>,
    pub after_rollback: Vec<SharedNotice>,
}

impl std::fmt::Debug for SharedEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionEvents")
            .field("before_flush", &self.before_flush.len())
            .field("after_commit", &self.after_commit.len())
            .field("after_rollback", &self.after_rollback.len())
            .finish()
    }
}

/// A `before_flush` hook of one session.
pub(crate) type LocalCheck = Rc<dyn Fn(&Session) -> Result<()>>;
/// An `after_commit` / `after_rollback` hook of one session.
pub(crate) type LocalNotice = Rc<dyn Fn(&Session)>;

/// A hook of one session: the database's, or the session's own.
#[derive(Clone)]
pub(crate) enum Check {
    Shared(SharedCheck),
    Local(LocalCheck),
}

#[derive(Clone)]
pub(crate) enum Notice {
    Shared(SharedNotice),
    Local(LocalNotice),
}

/// The hooks registered on one session (the database's are run first).
#[derive(Default)]
pub(crate) struct LocalEvents {
    pub before_flush: Vec<LocalCheck>,
    pub after_commit: Vec<LocalNotice>,
    pub after_rollback: Vec<LocalNotice>,
}

/// A hook, for messages (two bytes: the session checks it often).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hook {
    BeforeFlush,
    AfterCommit,
    AfterRollback,
    Model(HookEvent),
}

impl Hook {
    fn name(self) -> &'static str {
        match self {
            Hook::BeforeFlush => "before_flush",
            Hook::AfterCommit => "after_commit",
            Hook::AfterRollback => "after_rollback",
            Hook::Model(event) => event.name(),
        }
    }
}

/// What kind of hook the session is running, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum InHook {
    #[default]
    No,
    /// A session hook: the session may be used, but not flushed, committed
    /// or rolled back.
    Session(Hook),
    /// A model hook, inside the flush: the session may not be used at all.
    Object(Hook),
}

/// Marks the session as running a hook until dropped (also when the hook
/// panics).
pub(crate) struct HookScope<'a> {
    cell: &'a Cell<InHook>,
    before: InHook,
}

impl<'a> HookScope<'a> {
    pub(crate) fn enter(cell: &'a Cell<InHook>, now: InHook) -> HookScope<'a> {
        HookScope {
            before: cell.replace(now),
            cell,
        }
    }
}

impl Drop for HookScope<'_> {
    fn drop(&mut self) {
        self.cell.set(self.before);
    }
}

impl SessionInner {
    /// Fail with [`Error::Usage`] when called from a hook: `what` (flush,
    /// commit, rollback, ...) cannot run there.
    #[inline]
    pub(crate) fn check_not_in_hook(&self, what: &str) -> Result<()> {
        if self.in_hook.get() == InHook::No {
            return Ok(());
        }
        Err(self.reentrant(what))
    }

    /// Fail when a model hook is running: it may not use the session.
    #[inline]
    pub(crate) fn check_not_in_object_hook(&self) -> Result<()> {
        if let InHook::Object(_) = self.in_hook.get() {
            return Err(self.reentrant("the session"));
        }
        Ok(())
    }

    /// The error for `what` called from the running hook.
    #[cold]
    #[inline(never)]
    fn reentrant(&self, what: &str) -> Error {
        let hook = match self.in_hook.get() {
            InHook::Session(hook) | InHook::Object(hook) => hook.name(),
            InHook::No => "a",
        };
        Error::Usage(format!(
            "{what} cannot be used from the {hook} hook (a re-entrant call); \
             do that work after the operation that ran the hook returns"
        ))
    }

    /// A handle to this session for a hook (`None` while it is dropped).
    fn handle(&self) -> Option<Session> {
        self.weak_self.upgrade().map(|inner| Session { inner })
    }

    /// Run the `before_flush` hooks; the first error stops them.
    /// Whether any `before_flush` hook is registered.
    #[inline]
    pub(crate) fn has_before_flush(&self) -> bool {
        !self.db.inner.events.before_flush.is_empty()
            || self
                .events
                .try_borrow()
                .is_ok_and(|e| e.as_ref().is_some_and(|e| !e.before_flush.is_empty()))
    }

    pub(crate) fn run_before_flush(&self) -> Result<()> {
        let shared = &self.db.inner.events.before_flush;
        let Ok(local) = self.events.try_borrow() else {
            return Ok(());
        };
        let own = local.as_ref().map_or(&[][..], |e| &e.before_flush[..]);
        if shared.is_empty() && own.is_empty() {
            return Ok(());
        }
        let hooks: Vec<Check> = shared
            .iter()
            .cloned()
            .map(Check::Shared)
            .chain(own.iter().cloned().map(Check::Local))
            .collect();
        drop(local);
        let Some(session) = self.handle() else {
            return Ok(());
        };
        let _scope = HookScope::enter(&self.in_hook, InHook::Session(Hook::BeforeFlush));
        for hook in hooks {
            match hook {
                Check::Shared(f) => f(&session)?,
                Check::Local(f) => f(&session)?,
            }
        }
        Ok(())
    }

    /// Run the `after_commit` (or `after_rollback`) hooks.
    pub(crate) fn run_notices(&self, commit: bool) {
        let events = &self.db.inner.events;
        let shared = if commit {
            &events.after_commit
        } else {
            &events.after_rollback
        };
        let Ok(local) = self.events.try_borrow() else {
            return;
        };
        let own = match (local.as_ref(), commit) {
            (None, _) => &[][..],
            (Some(e), true) => &e.after_commit[..],
            (Some(e), false) => &e.after_rollback[..],
        };
        if shared.is_empty() && own.is_empty() {
            return;
        }
        let hooks: Vec<Notice> = shared
            .iter()
            .cloned()
            .map(Notice::Shared)
            .chain(own.iter().cloned().map(Notice::Local))
            .collect();
        drop(local);
        let Some(session) = self.handle() else {
            return;
        };
        let hook = if commit {
            Hook::AfterCommit
        } else {
            Hook::AfterRollback
        };
        let _scope = HookScope::enter(&self.in_hook, InHook::Session(hook));
        for hook in hooks {
            match hook {
                Notice::Shared(f) => f(&session),
                Notice::Local(f) => f(&session),
            }
        }
    }
}

impl Session {
    /// Run `hook` at the start of each flush of this session, after the
    /// database's `before_flush` hooks (SQLAlchemy's `before_flush`): see
    /// [`DatabaseBuilder::on_before_flush`](crate::DatabaseBuilder::on_before_flush).
    ///
    /// # Examples
    ///
    /// A running total kept by the flush:
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct Line { #[orm(primary_key)] id: i64, amount: i64 }
    /// #[derive(Model, Debug, Default)]
    /// struct Total { #[orm(primary_key)] id: i64, sum: i64 }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<Line>().model::<Total>().open("sqlite://")?;
    /// db.create_all()?;
    /// let s = db.session();
    /// let total = s.add(Total::default())?;
    /// s.commit()?;
    /// s.on_before_flush(move |s| {
    ///     let sum: i64 = s.query::<Line>().all()?.iter().map(|l| l.read().map(|l| l.amount)).sum::<orm::Result<i64>>()?;
    ///     total.write()?.sum = sum;
    ///     Ok(())
    /// });
    /// s.add(Line { amount: 5, ..Default::default() })?;
    /// s.commit()?;
    /// # Ok(()) }
    /// ```
    pub fn on_before_flush(&self, hook: impl Fn(&Session) -> Result<()> + 'static) {
        if let Ok(mut events) = self.inner.events.try_borrow_mut() {
            events
                .get_or_insert_with(Default::default)
                .before_flush
                .push(Rc::new(hook));
        }
    }

    /// Run `hook` after each successful commit of this session
    /// (SQLAlchemy's `after_commit`): see
    /// [`DatabaseBuilder::on_after_commit`](crate::DatabaseBuilder::on_after_commit).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = orm::Database::open("sqlite://")?;
    /// let s = db.session();
    /// let done = Rc::new(Cell::new(false));
    /// let seen = Rc::clone(&done);
    /// s.on_after_commit(move |_| seen.set(true));
    /// s.commit()?;
    /// assert!(done.get());
    /// # Ok(()) }
    /// ```
    pub fn on_after_commit(&self, hook: impl Fn(&Session) + 'static) {
        if let Ok(mut events) = self.inner.events.try_borrow_mut() {
            events
                .get_or_insert_with(Default::default)
                .after_commit
                .push(Rc::new(hook));
        }
    }

    /// Run `hook` after each [`rollback`](Session::rollback) of this
    /// session (SQLAlchemy's `after_rollback`): see
    /// [`DatabaseBuilder::on_after_rollback`](crate::DatabaseBuilder::on_after_rollback).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = orm::Database::open("sqlite://")?;
    /// let s = db.session();
    /// let done = Rc::new(Cell::new(false));
    /// let seen = Rc::clone(&done);
    /// s.on_after_rollback(move |_| seen.set(true));
    /// s.rollback()?;
    /// assert!(done.get());
    /// # Ok(()) }
    /// ```
    pub fn on_after_rollback(&self, hook: impl Fn(&Session) + 'static) {
        if let Ok(mut events) = self.inner.events.try_borrow_mut() {
            events
                .get_or_insert_with(Default::default)
                .after_rollback
                .push(Rc::new(hook));
        }
    }
}
