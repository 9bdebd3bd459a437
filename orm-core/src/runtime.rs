//! Units of work from async code (feature `tokio`): [`Database::run`].
//!
//! A [`Session`] is `!Send` and every call on it blocks, so async code must
//! not hold one across an `.await` or call it on a runtime worker. `run`
//! moves the whole unit of work to tokio's blocking thread pool instead,
//! with a session made there, and hands back only its (`Send`) result.
//! At most as many units run at once as the pool has connections, so no
//! blocking thread sits waiting for a connection while others queue for
//! threads.

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::database::Database;
use crate::error::Error;
use crate::session::Session;

#[cfg(feature = "tokio")]
impl Database {
    /// Run `work` with a new session on tokio's blocking thread pool and
    /// return its result: the way async code (an axum handler) uses orm.
    /// Flask-SQLAlchemy gives each request its session; here each `run`
    /// does. The session is closed when `work` returns (commit inside
    /// `work` to keep changes), and objects stay inside: return plain
    /// values, [`Page::detached`](crate::query::Page::detached) pages, or
    /// rendered output.
    ///
    /// At most as many units of work run at once as the pool has
    /// connections ([`DatabaseBuilder::pool_size`](crate::DatabaseBuilder::pool_size));
    /// the others wait here, without holding a thread.
    ///
    /// # Errors
    ///
    /// `work`'s error; [`Error::Usage`] (converted into `E`) when called
    /// outside a tokio runtime or while the runtime shuts down. A panic in
    /// `work` is resumed in the caller.
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    ///
    /// #[derive(Model, Debug, Default, Clone)]
    /// struct User { #[orm(primary_key)] id: i64, name: String }
    ///
    /// # fn main() -> orm::Result<()> {
    /// # let rt = tokio::runtime::Builder::new_multi_thread().build().unwrap();
    /// # rt.block_on(async {
    /// let db = Database::builder().model::<User>().open("sqlite://")?;
    /// db.create_all()?;
    /// let id = db
    ///     .run(|s| {
    ///         let ann = s.add(User { name: "ann".into(), ..Default::default() })?;
    ///         s.commit()?;
    ///         ann.get(User::id)
    ///     })
    ///     .await?;
    /// let users: Vec<User> = db.run(|s| s.query::<User>().all_detached()).await?;
    /// assert_eq!((id, users[0].name.as_str()), (1, "ann"));
    /// # Ok(()) })
    /// # }
    /// ```
    pub async fn run<R, E, F>(&self, work: F) -> Result<R, E>
    where
        F: FnOnce(&Session) -> Result<R, E> + Send + 'static,
        R: Send + 'static,
        E: From<Error> + Send + 'static,
    {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::Usage("Database::run needs a tokio runtime".into()).into());
        }
        let slots = Arc::clone(
            self.inner
                .units
                .get_or_init(|| Arc::new(Semaphore::new(self.inner.pool.max_size() as usize))),
        );
        let shut_down = || Error::Usage("the tokio runtime is shutting down".into());
        let permit = slots.acquire_owned().await.map_err(|_| shut_down())?;
        let db = self.clone();
        let unit = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let session = db.session();
            work(&session)
        });
        match unit.await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(shut_down().into()),
        }
    }

    /// [`Database::transaction`] from async code: `work` runs in a
    /// transaction of a new session on the blocking pool (as
    /// [`run`](Self::run) does), is committed, and is run again on an error
    /// the database says can be retried. For handlers that change rows.
    ///
    /// # Errors
    ///
    /// As [`Database::transaction`] and [`run`](Self::run).
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    ///
    /// #[derive(Model, Debug, Default)]
    /// struct Post { id: i64, title: String }
    ///
    /// # fn main() -> orm::Result<()> {
    /// # let rt = tokio::runtime::Builder::new_multi_thread().build().unwrap();
    /// # rt.block_on(async {
    /// let db = Database::builder().model::<Post>().open("sqlite://")?;
    /// db.create_all()?;
    /// db.run_transaction(|s| s.add(Post::default()).map(drop)).await?;
    /// db.run_transaction(|s| s.get_or_not_found::<Post>(1)?.set(Post::title, "Hi".into())).await?;
    /// let title = db.run(|s| s.get_or_not_found::<Post>(1)?.get(Post::title)).await?;
    /// assert_eq!(title, "Hi");
    /// # Ok(()) })
    /// # }
    /// ```
    pub async fn run_transaction<R, F>(&self, work: F) -> Result<R, Error>
    where
        F: FnMut(&Session) -> Result<R, Error> + Send + 'static,
        R: Send + 'static,
    {
        let db = self.clone();
        self.run(move |_| db.transaction(work)).await
    }
}
