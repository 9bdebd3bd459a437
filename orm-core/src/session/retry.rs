//! [`Database::transaction`]: a unit of work run again when the database
//! asks for it (a serialization failure or deadlock, a busy SQLite file, a
//! connection lost before COMMIT). PostgreSQL at `SERIALIZABLE`,
//! CockroachDB and YugabyteDB all require clients to do this; SQLAlchemy's
//! CockroachDB adapter calls it `run_transaction`. The session's undo log is
//! what makes a clean retry possible: each attempt starts from a new
//! session, so nothing of a failed attempt leaks into the next.

use std::time::Duration;

use super::Session;
use crate::backend::Isolation;
use crate::database::Database;
use crate::error::Result;

/// How [`Database::transaction_with`] runs a unit of work.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use orm::{Isolation, TransactionOptions};
///
/// let options = TransactionOptions::default()
///     .isolation(Isolation::Serializable)
///     .attempts(10)
///     .backoff(Duration::from_millis(5), Duration::from_millis(500));
/// # let _ = options;
/// ```
#[derive(Debug, Clone, Copy)]
pub struct TransactionOptions {
    isolation: Option<Isolation>,
    attempts: u32,
    first_wait: Duration,
    max_wait: Duration,
}

impl Default for TransactionOptions {
    /// The database's isolation level; 5 attempts; waits from 10 ms,
    /// doubling, at most 1 s, each with random jitter.
    fn default() -> Self {
        TransactionOptions {
            isolation: None,
            attempts: 5,
            first_wait: Duration::from_millis(10),
            max_wait: Duration::from_secs(1),
        }
    }
}

impl TransactionOptions {
    /// Run each attempt at this isolation level.
    ///
    /// # Examples
    ///
    /// ```
    /// let o = orm::TransactionOptions::default().isolation(orm::Isolation::Serializable);
    /// # let _ = o;
    /// ```
    pub fn isolation(mut self, level: Isolation) -> Self {
        self.isolation = Some(level);
        self
    }

    /// At most this many attempts in all (at least 1).
    ///
    /// # Examples
    ///
    /// ```
    /// let o = orm::TransactionOptions::default().attempts(1); // no retry
    /// # let _ = o;
    /// ```
    pub fn attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts.max(1);
        self
    }

    /// Wait `first` before the second attempt, twice as long before each
    /// later one, never more than `max`; each wait is cut by a random
    /// amount of up to half, so clients that collided do not collide again.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let o = orm::TransactionOptions::default().backoff(Duration::ZERO, Duration::ZERO);
    /// # let _ = o;
    /// ```
    pub fn backoff(mut self, first: Duration, max: Duration) -> Self {
        self.first_wait = first;
        self.max_wait = max.max(first);
        self
    }

    fn wait(&self, retry: u32, seed: &mut u64) -> Duration {
        let full = self
            .first_wait
            .saturating_mul(1u32 << retry.min(20))
            .min(self.max_wait);
        // xorshift64: jitter needs no cryptographic quality.
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        let cut = (*seed % 1000) as u32;
        full.saturating_sub(full / 2 * cut / 1000)
    }
}

impl Database {
    /// Run `work` in a transaction of a new session and commit it; when it
    /// fails with an error the database says can be retried
    /// ([`Error::is_retryable`](crate::Error::is_retryable): a serialization
    /// failure or deadlock, a busy database, a connection lost before
    /// COMMIT), roll back and run it again in another new session, up to 5
    /// attempts with a growing, jittered wait. Any other error, or the last
    /// attempt's, is returned; so is `work`'s own value on success.
    ///
    /// `work` may run several times: it must not have effects outside the
    /// session (send no e-mail from it), and should read what it needs
    /// through the session it is given.
    ///
    /// # Errors
    ///
    /// `work`'s error or the commit's, after the retries.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct Counter { #[orm(primary_key)] id: i64, value: i64 }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<Counter>().open("sqlite://")?;
    /// db.create_all()?;
    /// db.transaction(|s| s.add(Counter::default()).map(drop))?;
    /// let value = db.transaction(|s| {
    ///     let c = s.get_or_not_found::<Counter>(1)?;
    ///     c.write()?.value += 1;
    ///     Ok(c.read()?.value)
    /// })?;
    /// assert_eq!(value, 1);
    /// # Ok(()) }
    /// ```
    pub fn transaction<R>(&self, work: impl FnMut(&Session) -> Result<R>) -> Result<R> {
        self.transaction_with(TransactionOptions::default(), work)
    }

    /// [`transaction`](Self::transaction) with its options (isolation
    /// level, attempts, waits).
    ///
    /// # Errors
    ///
    /// As [`transaction`](Self::transaction).
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::{Isolation, TransactionOptions};
    /// # fn main() -> orm::Result<()> {
    /// let db = orm::Database::open("sqlite://")?;
    /// let options = TransactionOptions::default().isolation(Isolation::Serializable);
    /// let n: i64 = db.transaction_with(options, |s| {
    ///     let rows: Vec<i64> = s.raw_tuples("SELECT 41 + 1", &[])?;
    ///     Ok(rows[0])
    /// })?;
    /// assert_eq!(n, 42);
    /// # Ok(()) }
    /// ```
    pub fn transaction_with<R>(
        &self,
        options: TransactionOptions,
        mut work: impl FnMut(&Session) -> Result<R>,
    ) -> Result<R> {
        let mut seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9E37_79B9_7F4A_7C15, |d| d.as_nanos() as u64)
            | 1;
        let mut retry = 0;
        loop {
            let session = self.session();
            let result = match options.isolation {
                Some(level) => session.begin_with(level),
                None => session.begin(),
            }
            .and_then(|()| work(&session))
            .and_then(|r| session.commit().map(|()| r));
            match result {
                Ok(r) => return Ok(r),
                Err(e) => {
                    let _ = session.rollback();
                    if !e.is_retryable() || retry + 1 >= options.attempts {
                        return Err(e);
                    }
                    std::thread::sleep(options.wait(retry, &mut seed));
                    retry += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_to_the_cap_with_jitter_of_at_most_half() {
        let o = TransactionOptions::default()
            .backoff(Duration::from_millis(10), Duration::from_millis(100));
        let mut seed = 42;
        for retry in 0..8 {
            let full = Duration::from_millis((10u64 << retry).min(100));
            let w = o.wait(retry, &mut seed);
            assert!(
                w <= full && w >= full / 2,
                "retry {retry}: {w:?} of {full:?}"
            );
        }
    }
}
