//! The PostgreSQL backend (feature `postgres`), on the synchronous client of
//! rust-postgres, pooled by the same r2d2 pool as SQLite. It implements the
//! public [`Backend`] and [`Connection`] seam, like any backend outside orm:
//! one call per statement, rows handed over as [`RowValue`]s borrowed from
//! the driver's buffer ([`Row::from_read`]).
//!
//! Every connection keeps its prepared statements (PostgreSQL plans them
//! once), works in UTC (`TIMESTAMP WITH TIME ZONE` values read and written
//! as UTC text), and knows whether its transaction is open, and whether
//! PostgreSQL aborted it after a failed statement (every later statement
//! then fails with SQLSTATE 25P02 until ROLLBACK or ROLLBACK TO SAVEPOINT).

mod error;
mod value;

use rustc_hash::FxHashMap;
use std::sync::Arc;

use postgres::types::ToSql;

use super::RowValue;
use super::{Backend, CommitOutcome, Connection, Dialect, Row};
use crate::error::{Error, Result};
use crate::types::Value;

pub(crate) use error::classify;

/// Connections to one PostgreSQL database.
pub(crate) struct PgBackend {
    config: postgres::Config,
    tls: Tls,
    /// The URL without its password, for messages.
    shown: String,
}

impl std::fmt::Debug for PgBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgBackend")
            .field("url", &self.shown)
            .finish_non_exhaustive()
    }
}

enum Tls {
    None,
    #[cfg(feature = "postgres-tls")]
    Native(postgres_native_tls::MakeTlsConnector),
}

impl PgBackend {
    /// A backend for `config` (parsed from the URL `shown` names, password
    /// removed).
    pub(crate) fn new(mut config: postgres::Config, shown: String) -> Result<PgBackend> {
        // Timestamps with a time zone are exchanged as UTC text.
        let options = match config.get_options() {
            Some(o) if !o.is_empty() => format!("{o} -c TimeZone=UTC"),
            _ => "-c TimeZone=UTC".to_owned(),
        };
        config.options(&options);
        let tls = tls_for(&config, &shown)?;
        Ok(PgBackend { config, tls, shown })
    }
}

fn tls_for(config: &postgres::Config, shown: &str) -> Result<Tls> {
    use postgres::config::SslMode;
    match config.get_ssl_mode() {
        SslMode::Disable => Ok(Tls::None),
        #[cfg(feature = "postgres-tls")]
        mode => {
            // `require` encrypts without checking the certificate (libpq's
            // meaning); the stricter modes are not in rust-postgres' Config.
            let connector = native_tls::TlsConnector::builder()
                .danger_accept_invalid_certs(mode == SslMode::Require)
                .danger_accept_invalid_hostnames(mode == SslMode::Require)
                .build()
                .map_err(|e| Error::Open {
                    path: shown.to_owned(),
                    source: Box::new(e),
                })?;
            Ok(Tls::Native(postgres_native_tls::MakeTlsConnector::new(
                connector,
            )))
        }
        #[cfg(not(feature = "postgres-tls"))]
        SslMode::Prefer => Ok(Tls::None),
        #[cfg(not(feature = "postgres-tls"))]
        _ => Err(Error::InvalidUrl {
            url: shown.to_owned(),
            reason: "sslmode=require needs TLS: enable the `postgres-tls` feature".into(),
        }),
    }
}

impl Backend for PgBackend {
    fn dialect(&self) -> &'static Dialect {
        &Dialect::POSTGRES
    }

    fn connect(&self) -> Result<Box<dyn Connection>> {
        let client = off_async(|| {
            let client = match &self.tls {
                Tls::None => self.config.connect(postgres::NoTls),
                #[cfg(feature = "postgres-tls")]
                Tls::Native(tls) => self.config.connect(tls.clone()),
            };
            client.map_err(|e| Error::Open {
                path: self.shown.clone(),
                source: Box::new(e),
            })
        })?;
        Ok(Box::new(PgConnection {
            client: Some(client),
            statements: FxHashMap::default(),
            in_txn: false,
            aborted: false,
            lost: false,
            values: Vec::new(),
        }))
    }
}

/// A prepared statement and its columns' names.
struct Prepared {
    statement: postgres::Statement,
    columns: Arc<[String]>,
}

/// The sync client drives its own tokio runtime, which refuses to start
/// on a thread that is running async tasks: called from an async handler,
/// it panics. That misuse becomes a typed error pointing at
/// `Database::run` instead (the driver's panic message is still printed
/// by the panic hook). Other panics go on unwinding.
fn off_async<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    if tokio::runtime::Handle::try_current().is_err() {
        return f();
    }
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            if message.contains("runtime") {
                Err(Error::Usage(
                    "PostgreSQL was called from async code: run units of work with \
                     Database::run (or tokio's spawn_blocking)"
                        .into(),
                ))
            } else {
                std::panic::resume_unwind(payload)
            }
        }
    }
}

fn closed() -> Error {
    Error::Disconnected {
        source: "the connection was closed".into(),
    }
}

/// One connection to the server.
struct PgConnection {
    /// Always `Some` until dropped.
    client: Option<postgres::Client>,
    /// By SQL text, hashed with FxHash: the keys are orm's own statements
    /// (values travel as parameters), and SipHash over a long IN list's
    /// text cost more than the lookup saved.
    statements: FxHashMap<String, Prepared>,
    in_txn: bool,
    aborted: bool,
    /// An error said the connection is gone: the pool must not hand it out
    /// again, even before the driver notices the socket closed.
    lost: bool,
    /// The current row's columns: the buffer is reused from row to row
    /// (empty between rows; see `recycle`).
    values: Vec<RowValue<'static>>,
}

/// Prepared statements kept per connection before the cache starts over.
const MAX_STATEMENTS: usize = 512;

/// Statements that open, end or mark a transaction: sent as simple queries,
/// and followed to know the transaction's state.
fn control(sql: &str) -> Option<&'static str> {
    [
        "BEGIN",
        "COMMIT",
        "ROLLBACK TO",
        "ROLLBACK",
        "SAVEPOINT",
        "RELEASE",
    ]
    .into_iter()
    .find(|k| sql.starts_with(k))
}

impl PgConnection {
    fn prepare(&mut self, sql: &str) -> Result<(postgres::Statement, Arc<[String]>)> {
        if let Some(p) = self.statements.get(sql) {
            return Ok((p.statement.clone(), Arc::clone(&p.columns)));
        }
        let client = self.client.as_mut().ok_or_else(closed)?;
        let prepared = client.prepare(sql);
        let statement = prepared.map_err(|e| self.failed(e, sql))?;
        let columns: Arc<[String]> = statement
            .columns()
            .iter()
            .map(|c| c.name().to_owned())
            .collect();
        if self.statements.len() >= MAX_STATEMENTS {
            self.statements.clear();
        }
        self.statements.insert(
            sql.to_owned(),
            Prepared {
                statement: statement.clone(),
                columns: Arc::clone(&columns),
            },
        );
        Ok((statement, columns))
    }

    /// A statement failed: inside a transaction PostgreSQL has aborted it.
    fn failed(&mut self, e: postgres::Error, sql: &str) -> Error {
        if self.in_txn {
            self.aborted = true;
        }
        self.seen(classify(e, Some(sql)))
    }

    fn seen(&mut self, e: Error) -> Error {
        if matches!(e, Error::Disconnected { .. }) {
            self.lost = true;
        }
        e
    }

    fn run_control(&mut self, keyword: &str, sql: &str) -> Result<usize> {
        let client = self.client.as_mut().ok_or_else(closed)?;
        let result = client.batch_execute(sql);
        match (keyword, &result) {
            ("BEGIN", Ok(())) => {
                self.in_txn = true;
                self.aborted = false;
            }
            // A COMMIT always ends the transaction on this connection: it
            // committed, or the server rolled it back, or the connection
            // is gone (and the outcome is unknown: see `failed_commit`).
            ("COMMIT", _) => {
                self.in_txn = false;
                self.aborted = false;
            }
            ("ROLLBACK", Ok(())) => {
                self.in_txn = false;
                self.aborted = false;
            }
            ("ROLLBACK TO", Ok(())) => self.aborted = false,
            (_, Err(_)) if self.in_txn => self.aborted = true,
            _ => {}
        }
        result.map(|()| 0).map_err(|e| {
            let e = classify(e, Some(sql));
            self.seen(e)
        })
    }
}

/// `buffer` emptied, its allocation kept for values of another lifetime
/// (the next row's, which borrow that row's bytes). Collecting into the
/// same layout reuses the allocation in place.
fn recycle<'b>(mut buffer: Vec<RowValue<'_>>) -> Vec<RowValue<'b>> {
    buffer.clear();
    buffer
        .into_iter()
        .map(|_| RowValue::Borrowed(crate::types::ValueRef::Null))
        .collect()
}

fn params(values: &[Value]) -> Vec<value::Param<'_>> {
    values.iter().map(value::Param).collect()
}

impl PgConnection {
    fn execute_now(&mut self, sql: &str, values: &[Value]) -> Result<usize> {
        if let Some(keyword) = control(sql).filter(|_| values.is_empty()) {
            return self.run_control(keyword, sql);
        }
        let ddl = ["CREATE", "DROP", "ALTER"]
            .iter()
            .any(|k| sql.starts_with(k));
        let (statement, _) = self.prepare(sql)?;
        let params = params(values);
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as _).collect();
        let client = self.client.as_mut().ok_or_else(closed)?;
        let changed = client.execute(&statement, &refs);
        let changed = changed.map_err(|e| self.failed(e, sql))?;
        if ddl {
            // Plans of statements over a changed table are stale.
            self.statements.clear();
        }
        Ok(usize::try_from(changed).unwrap_or(usize::MAX))
    }

    fn query_now(
        &mut self,
        sql: &str,
        values: &[Value],
        row: &mut dyn FnMut(&Row<'_>) -> Result<()>,
    ) -> Result<()> {
        use postgres::fallible_iterator::FallibleIterator;
        let (statement, columns) = self.prepare(sql)?;
        let params = params(values);
        let mut spare = std::mem::take(&mut self.values);
        // Errors of the server abort its transaction; the callback's own
        // (a value that does not fit its field) do not.
        let mut server_failed = false;
        let mut server = |e: postgres::Error| {
            server_failed = true;
            classify(e, Some(sql))
        };
        let client = self.client.as_mut().ok_or_else(closed)?;
        let result = (|| {
            let mut rows = client
                .query_raw(&statement, params.iter())
                .map_err(&mut server)?;
            while let Some(r) = rows.next().map_err(&mut server)? {
                let mut current = recycle(std::mem::take(&mut spare));
                for (i, c) in statement.columns().iter().enumerate() {
                    let cell = r
                        .try_get::<_, value::Cell<'_>>(i)
                        .map_err(|e| classify(e, Some(sql)))?;
                    let v = value::read(c.type_(), cell).map_err(|message| Error::Conversion {
                        table: "(result)".into(),
                        column: c.name().to_owned(),
                        message,
                    })?;
                    current.push(v);
                }
                row(&Row::from_read(&current, &columns))?;
                spare = recycle(current);
            }
            Ok(())
        })();
        self.values = spare;
        if server_failed && self.in_txn {
            self.aborted = true;
        }
        result.map_err(|e| self.seen(e))
    }
}

impl Connection for PgConnection {
    fn dialect(&self) -> &'static Dialect {
        &Dialect::POSTGRES
    }

    fn execute(&mut self, sql: &str, values: &[Value]) -> Result<usize> {
        off_async(|| self.execute_now(sql, values))
    }

    fn query(
        &mut self,
        sql: &str,
        values: &[Value],
        row: &mut dyn FnMut(&Row<'_>) -> Result<()>,
    ) -> Result<()> {
        off_async(|| self.query_now(sql, values, row))
    }

    fn in_transaction(&self) -> bool {
        self.in_txn
    }

    fn transaction_aborted(&self) -> bool {
        self.aborted
    }

    fn failed_commit(&self, error: Error) -> CommitOutcome {
        // The server answered: it rolled the transaction back. Only a lost
        // connection leaves the outcome open.
        match error {
            Error::Disconnected { source } => {
                CommitOutcome::Unknown(Error::Disconnected { source })
            }
            e => CommitOutcome::NotCommitted(e),
        }
    }

    fn is_valid(&mut self) -> bool {
        !self.lost && self.client.as_ref().is_some_and(|c| !c.is_closed()) && !self.in_txn
    }
}

impl Drop for PgConnection {
    /// The client owns a tokio runtime, which must not be dropped on a
    /// thread driving async tasks (a pool dropped in an async fn): close it
    /// on a thread of its own there.
    fn drop(&mut self) {
        if let Some(client) = self.client.take()
            && tokio::runtime::Handle::try_current().is_ok()
        {
            let _ = std::thread::Builder::new()
                .name("orm-pg-close".into())
                .spawn(move || drop(client));
        }
    }
}
