//! The observer every statement passes: echo (SQLAlchemy's `echo=True`)
//! and the [`Recorder`] tests use to assert which statements ran. Every
//! backend reports each statement here before running it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use crate::types::Value;

/// One statement as the recorder saw it.
///
/// # Examples
///
/// ```
/// use orm::prelude::*;
///
/// #[derive(Model, Debug, Default)]
/// struct User { #[orm(primary_key)] id: i64, name: String }
///
/// # fn main() -> orm::Result<()> {
/// let db = Database::builder().model::<User>().open("sqlite://")?;
/// db.create_all()?;
/// let rec = db.record();
/// let session = db.session();
/// session.get::<User>(1)?;
/// let stmt = &rec.statements()[0];
/// assert!(stmt.is_query());
/// assert_eq!(stmt.params, vec![orm::types::Value::Integer(1)]);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedStatement {
    /// The SQL text, with `?` placeholders.
    pub sql: String,
    /// The bound values.
    pub params: Vec<Value>,
}

impl RecordedStatement {
    /// Whether the statement is a SELECT.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = orm::RecordedStatement { sql: "SELECT 1".into(), params: vec![] };
    /// assert!(s.is_query());
    /// ```
    pub fn is_query(&self) -> bool {
        self.sql.starts_with("SELECT")
    }

    /// Whether the statement is BEGIN, COMMIT, ROLLBACK or a savepoint.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = orm::RecordedStatement { sql: "BEGIN IMMEDIATE".into(), params: vec![] };
    /// assert!(s.is_transaction_control());
    /// ```
    pub fn is_transaction_control(&self) -> bool {
        ["BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"]
            .iter()
            .any(|k| self.sql.starts_with(k))
    }
}

type Sink = Mutex<Vec<RecordedStatement>>;

/// Sees every statement: logs it when echo is on, and hands it to live
/// recorders.
#[derive(Debug, Default)]
pub(crate) struct Observer {
    pub echo: bool,
    pub echo_params: bool,
    active: AtomicUsize,
    sinks: Mutex<Vec<Weak<Sink>>>,
}

impl Observer {
    pub fn new(echo: bool, echo_params: bool) -> Self {
        Observer {
            echo,
            echo_params,
            ..Observer::default()
        }
    }

    /// Whether anyone wants to see statements (checked before building
    /// parameter lists, which only then are worth the allocation).
    #[inline]
    pub fn active(&self) -> bool {
        self.echo || self.active.load(Ordering::Relaxed) > 0
    }

    pub fn observe(&self, sql: &str, params: &dyn Fn() -> Vec<Value>) {
        let recording = self.active.load(Ordering::Relaxed) > 0;
        let params = if recording || (self.echo && self.echo_params) {
            params()
        } else {
            Vec::new()
        };
        if self.echo {
            if self.echo_params {
                log::info!(target: "orm::sql", "{sql} -- {params:?}");
            } else {
                log::info!(target: "orm::sql", "{sql}");
            }
        }
        if recording {
            let sinks = self.sinks.lock().unwrap_or_else(|p| p.into_inner());
            for sink in sinks.iter().filter_map(Weak::upgrade) {
                sink.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(RecordedStatement {
                        sql: sql.to_owned(),
                        params: params.clone(),
                    });
            }
        }
    }

    pub fn start_recording(self: &Arc<Self>) -> Recorder {
        let sink: Arc<Sink> = Arc::default();
        self.sinks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Arc::downgrade(&sink));
        self.active.fetch_add(1, Ordering::Relaxed);
        Recorder {
            sink,
            observer: Arc::clone(self),
        }
    }
}

/// Records every statement a [`Database`](crate::Database) runs, in any of
/// its sessions, from creation until it is dropped. Made by
/// [`Database::record`](crate::Database::record); meant for tests that
/// assert which and how many statements ran.
///
/// # Examples
///
/// ```
/// use orm::prelude::*;
///
/// #[derive(Model, Debug, Default)]
/// struct User { #[orm(primary_key)] id: i64, name: String }
///
/// # fn main() -> orm::Result<()> {
/// let db = Database::builder().model::<User>().open("sqlite://")?;
/// db.create_all()?;
/// let rec = db.record();
/// let session = db.session();
/// session.query::<User>().all()?;
/// session.query::<User>().count()?;
/// assert_eq!(rec.queries().len(), 2, "this request ran 2 queries");
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Recorder {
    sink: Arc<Sink>,
    observer: Arc<Observer>,
}

impl Recorder {
    /// Every statement so far, in order.
    ///
    /// # Examples
    ///
    /// ```
    /// let db = orm::Database::open("sqlite://").unwrap();
    /// let rec = db.record();
    /// assert!(rec.statements().is_empty());
    /// ```
    pub fn statements(&self) -> Vec<RecordedStatement> {
        self.sink.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The SQL text of every statement so far.
    ///
    /// # Examples
    ///
    /// ```
    /// let db = orm::Database::open("sqlite://").unwrap();
    /// let rec = db.record();
    /// db.create_all().unwrap();
    /// assert!(rec.sql().iter().all(|s| !s.is_empty()));
    /// ```
    pub fn sql(&self) -> Vec<String> {
        self.statements().into_iter().map(|s| s.sql).collect()
    }

    /// The SELECT statements so far.
    ///
    /// # Examples
    ///
    /// ```
    /// let db = orm::Database::open("sqlite://").unwrap();
    /// let rec = db.record();
    /// assert_eq!(rec.queries().len(), 0);
    /// ```
    pub fn queries(&self) -> Vec<RecordedStatement> {
        self.statements()
            .into_iter()
            .filter(|s| s.is_query())
            .collect()
    }

    /// Statements other than transaction control (BEGIN, COMMIT, ...).
    ///
    /// # Examples
    ///
    /// ```
    /// let db = orm::Database::open("sqlite://").unwrap();
    /// let rec = db.record();
    /// assert!(rec.without_transaction_control().is_empty());
    /// ```
    pub fn without_transaction_control(&self) -> Vec<RecordedStatement> {
        self.statements()
            .into_iter()
            .filter(|s| !s.is_transaction_control())
            .collect()
    }

    /// How many statements so far.
    ///
    /// # Examples
    ///
    /// ```
    /// let db = orm::Database::open("sqlite://").unwrap();
    /// let rec = db.record();
    /// assert_eq!(rec.len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.sink.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether no statement ran yet.
    ///
    /// # Examples
    ///
    /// ```
    /// let db = orm::Database::open("sqlite://").unwrap();
    /// assert!(db.record().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forget what was recorded so far.
    ///
    /// # Examples
    ///
    /// ```
    /// let db = orm::Database::open("sqlite://").unwrap();
    /// let rec = db.record();
    /// db.create_all().unwrap();
    /// rec.clear();
    /// assert!(rec.is_empty());
    /// ```
    pub fn clear(&self) {
        self.sink.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.observer.active.fetch_sub(1, Ordering::Relaxed);
        let mut sinks = self
            .observer
            .sinks
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        sinks
            .retain(|w| w.strong_count() > 0 && !std::ptr::eq(w.as_ptr(), Arc::as_ptr(&self.sink)));
    }
}
