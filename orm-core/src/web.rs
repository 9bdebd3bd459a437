//! Web integration for axum (feature `axum`): what Flask-SQLAlchemy adds to
//! a Flask app.
//!
//! - [`Error`] is an axum response: not found is 404, a unique violation or
//!   a serialization conflict 409, a busy database or a full pool 503,
//!   anything else 500. The body is the status's reason only; the error
//!   itself is logged (`log` crate), never sent to the client.
//! - [`WebError`] carries any error through a handler's `?` (an orm error
//!   keeps its status; a template error is a 500), or a status you choose.
//! - [`Paging`] reads `?page=2&per_page=20` for
//!   [`Query::paginate`](crate::Query::paginate), as `db.paginate()` reads
//!   the request's arguments.
//! - `get_or_404` and `first_or_404` are
//!   [`Session::get_or_not_found`](crate::Session::get_or_not_found) and
//!   [`Query::first_or_not_found`](crate::Query::first_or_not_found): their
//!   [`Error::NotFound`] is the 404.
//!
//! With [`Database::run`](crate::Database::run) (a unit of work off the
//! async workers), a handler is as short as Flask's:
//!
//! ```
//! use axum::{Router, extract::{Path, State}, routing::get};
//! use orm::prelude::*;
//! use orm::web::WebError;
//!
//! #[derive(Model, Debug, Default)]
//! struct Post { #[orm(primary_key)] id: i64, title: String }
//!
//! // @app.get("/posts/<int:id>")
//! // def show_post(id): return escape(db.get_or_404(Post, id).title)
//! async fn show_post(State(db): State<Database>, Path(id): Path<i64>) -> Result<String, WebError> {
//!     db.run(move |s| Ok(s.get_or_not_found::<Post>(id)?.get(Post::title)?)).await
//! }
//!
//! # fn main() -> orm::Result<()> {
//! let db = Database::builder().model::<Post>().open("sqlite://")?;
//! db.create_all()?;
//! let app: Router = Router::new().route("/posts/{id}", get(show_post)).with_state(db);
//! # let _ = app;
//! # Ok(()) }
//! ```

use std::fmt;

use axum_core::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;

use crate::error::{ConstraintKind, Error};

/// A handler's result: `web::Result<Html<String>>`.
#[cfg(feature = "axum")]
pub type Result<T, E = WebError> = std::result::Result<T, E>;

/// The status a failure of orm answers a request with.
fn status_of(e: &Error) -> StatusCode {
    match e {
        Error::NotFound { .. } => StatusCode::NOT_FOUND,
        Error::Constraint {
            kind: ConstraintKind::Unique,
            ..
        }
        | Error::Conflict { .. } => StatusCode::CONFLICT,
        Error::Busy { .. } | Error::Pool(_) | Error::Disconnected { .. } => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The response for `status`: its reason as plain text. A server error is
/// logged with its cause; the client never sees the cause.
fn respond(status: StatusCode, cause: &dyn fmt::Display) -> Response {
    if status.is_server_error() {
        log::error!("{status}: {cause}");
    } else {
        log::debug!("{status}: {cause}");
    }
    (status, status.canonical_reason().unwrap_or("Error")).into_response()
}

/// A handler can return `orm::Result<T>` directly.
///
/// # Examples
///
/// ```
/// use axum_core::response::IntoResponse;
///
/// let not_found = orm::Error::NotFound { model: "Post", key: Some("7".into()) };
/// assert_eq!(not_found.into_response().status(), 404);
/// let bug = orm::Error::Usage("a bug".into());
/// assert_eq!(bug.into_response().status(), 500);
/// ```
#[cfg(feature = "axum")]
impl IntoResponse for Error {
    fn into_response(self) -> Response {
        respond(status_of(&self), &self)
    }
}

/// Any error on its way out of a handler: `?` converts every error type
/// (orm's, a template engine's, I/O), and the response's status comes from
/// an orm error ([`Error`]'s mapping), from [`WebError::status`], or is 500.
///
/// # Examples
///
/// ```
/// use axum_core::response::IntoResponse;
/// use orm::web::WebError;
///
/// fn find(id: i64) -> Result<String, WebError> {
///     if id < 0 {
///         return Err(WebError::status(http::StatusCode::BAD_REQUEST, "negative id"));
///     }
///     Err(orm::Error::NotFound { model: "Post", key: Some(id.to_string()) })?
/// }
/// assert_eq!(find(-1).unwrap_err().into_response().status(), 400);
/// assert_eq!(find(7).unwrap_err().into_response().status(), 404);
/// let io = WebError::from(std::io::Error::other("disk"));
/// assert_eq!(io.into_response().status(), 500);
/// ```
#[cfg(feature = "axum")]
pub struct WebError {
    status: Option<StatusCode>,
    error: Box<dyn std::error::Error + Send + Sync>,
}

#[cfg(feature = "axum")]
impl WebError {
    /// A response with `status`; `message` is logged, not sent.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = orm::web::WebError::status(http::StatusCode::FORBIDDEN, "not the author");
    /// assert_eq!(e.status_code(), 403);
    /// ```
    pub fn status(status: StatusCode, message: impl Into<String>) -> Self {
        WebError {
            status: Some(status),
            error: message.into().into(),
        }
    }

    /// 404 Not Found.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(orm::web::WebError::not_found().status_code(), 404);
    /// ```
    pub fn not_found() -> Self {
        WebError::status(StatusCode::NOT_FOUND, "not found")
    }

    /// The status the response will have.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = orm::web::WebError::from(orm::Error::Pool("timed out".into()));
    /// assert_eq!(e.status_code(), 503);
    /// ```
    pub fn status_code(&self) -> StatusCode {
        self.status
            .unwrap_or_else(|| match self.error.downcast_ref::<Error>() {
                Some(e) => status_of(e),
                None => StatusCode::INTERNAL_SERVER_ERROR,
            })
    }
}

#[cfg(feature = "axum")]
impl<E: std::error::Error + Send + Sync + 'static> From<E> for WebError {
    fn from(error: E) -> Self {
        WebError {
            status: None,
            error: Box::new(error),
        }
    }
}

#[cfg(feature = "axum")]
impl fmt::Debug for WebError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebError({}: {:?})", self.status_code(), self.error)
    }
}

#[cfg(feature = "axum")]
impl fmt::Display for WebError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status_code(), self.error)
    }
}

#[cfg(feature = "axum")]
impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        respond(self.status_code(), &self.error)
    }
}

/// The page a request asks for: `?page=N&per_page=M` (Flask-SQLAlchemy's
/// `db.paginate()` reads the same arguments). `page` defaults to 1; a
/// `per_page` above 100 is cut to 100. A page that is not a number is a
/// 404, as in Flask-SQLAlchemy.
///
/// # Examples
///
/// ```
/// use orm::prelude::*;
/// use orm::web::{Paging, WebError};
/// use axum::extract::State;
///
/// #[derive(Model, Debug, Default, Clone)]
/// struct Post { #[orm(primary_key)] id: i64 }
///
/// async fn posts(State(db): State<Database>, paging: Paging) -> Result<String, WebError> {
///     db.run(move |s| {
///         let page = s.query::<Post>().order_by(Post::id).paginate(paging.page, paging.per_page(20))?;
///         Ok(format!("page {} of {}", page.page, page.pages()))
///     })
///     .await
/// }
/// let _ = axum::Router::<Database>::new().route("/posts", axum::routing::get(posts));
///
/// assert_eq!(Paging::from_query(Some("page=3&per_page=500")), Some(Paging::new(3, Some(500))));
/// assert_eq!(Paging::from_query(Some("page=3&per_page=500")).unwrap().per_page(20), 100);
/// assert_eq!(Paging::from_query(None), Some(Paging::new(1, None)));
/// assert_eq!(Paging::from_query(Some("page=two")), None);
/// ```
#[cfg(feature = "axum")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    /// The page number, from 1.
    pub page: u64,
    /// `per_page` as asked, if it was.
    pub asked_per_page: Option<u64>,
}

#[cfg(feature = "axum")]
impl Paging {
    /// The most items a request may ask for on one page.
    pub const MAX_PER_PAGE: u64 = 100;

    /// A page number and an optional `per_page`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(orm::web::Paging::new(2, None).page, 2);
    /// ```
    pub fn new(page: u64, per_page: Option<u64>) -> Self {
        Paging {
            page,
            asked_per_page: per_page,
        }
    }

    /// Items per page: as asked, at most [`MAX_PER_PAGE`](Self::MAX_PER_PAGE),
    /// else `default`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(orm::web::Paging::new(1, None).per_page(3), 3);
    /// ```
    pub fn per_page(&self, default: u64) -> u64 {
        self.asked_per_page
            .unwrap_or(default)
            .min(Self::MAX_PER_PAGE)
    }

    /// Read a query string (`page=2&per_page=10`); `None` when `page` or
    /// `per_page` is there but not a number. Other arguments are ignored.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = orm::web::Paging::from_query(Some("tag=rust&page=2")).unwrap();
    /// assert_eq!(p.page, 2);
    /// ```
    pub fn from_query(query: Option<&str>) -> Option<Self> {
        let mut paging = Paging::new(1, None);
        for pair in query.unwrap_or("").split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "page" => paging.page = value.parse().ok()?,
                "per_page" => paging.asked_per_page = Some(value.parse().ok()?),
                _ => {}
            }
        }
        Some(paging)
    }
}

#[cfg(feature = "axum")]
impl<S: Send + Sync> axum_core::extract::FromRequestParts<S> for Paging {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> std::result::Result<Self, Error> {
        Paging::from_query(parts.uri.query()).ok_or(Error::NotFound {
            model: "page",
            key: Some("a page that is not a number".into()),
        })
    }
}
