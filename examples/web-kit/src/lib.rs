//! What the example web apps (`examples/registration`, `examples/blog`)
//! share: what a web developer expects of an app before copying it, and
//! what Flask's extensions (Flask-WTF's `CSRFProtect`, Talisman, a WSGI
//! server's timeouts) give a Flask app.
//!
//! - [`harden`] wraps a [`Router`]: a same-origin check on every unsafe
//!   request ([`csrf::same_origin`]), the CSRF token ([`FormToken`] in the
//!   page, [`CsrfForm`] checks it on the way back in), a request timeout
//!   (408), a body limit (413) and security headers (a content security
//!   policy without inline scripts or styles, no framing, no MIME
//!   sniffing).
//! - [`serve`] runs a router with a timer, so a client that sends its
//!   request head slowly, or holds an idle connection, is cut off; and at
//!   most [`Settings::max_connections`] connections at once.
//! - [`stylesheet`] is the apps' one stylesheet, served by the app itself.
//! - With feature `browser`, module `browser` drives headless Chromium through
//!   chromedriver for the apps' browser tests.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//!
//! # async fn run() -> std::io::Result<()> {
//! let app = Router::new()
//!     .route("/", get(|| async { "hello" }))
//!     .route(web_kit::STYLESHEET, get(web_kit::stylesheet));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:5000").await?;
//! web_kit::serve(listener, web_kit::harden(app)).await
//! # }
//! ```

#![warn(missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::http::header::{self, HeaderName, HeaderValue};
use axum::middleware;
use axum::response::IntoResponse;
use axum_csrf::{CsrfConfig, CsrfLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;

#[cfg(feature = "browser")]
pub mod browser;
pub mod csrf;
mod serve;

pub use csrf::{CsrfForm, CsrfRejection, FormToken};

/// Where [`stylesheet`] is served from, for templates' `<link>`.
pub const STYLESHEET: &str = "/static/style.css";

/// The content security policy of every response: everything from the
/// app's own origin, no inline script or style, no plugins, never framed
/// (clickjacking), forms posted only to the app.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Limits, timeouts and CSRF settings. [`Default`] suits a small app;
/// tests shorten the timeouts.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let settings = web_kit::Settings {
///     request_timeout: Duration::from_secs(5),
///     ..Default::default()
/// };
/// let app = settings.harden(axum::Router::new());
/// # let _ = app;
/// ```
#[derive(Debug, Clone)]
pub struct Settings {
    /// The longest a request may take, reading its body included: past it
    /// the answer is 408 Request Timeout and the handler is dropped. A
    /// client that declares a large body and sends a few bytes (slowloris)
    /// is cut off here. Default 10 s.
    pub request_timeout: Duration,
    /// The longest a client may take to send a request's head (request
    /// line and headers), and the longest an idle keep-alive connection
    /// stays open. Default 10 s.
    pub header_timeout: Duration,
    /// The largest request body, in bytes: 413 Payload Too Large past it.
    /// Default 64 KiB (a form, not an upload).
    pub body_limit: usize,
    /// Connections served at once; more wait to be accepted. Default 1,024.
    pub max_connections: usize,
    /// Origins allowed to post besides the request's own host, such as
    /// `https://example.com` for an app behind a proxy that rewrites the
    /// `Host` header. Default none.
    pub trusted_origins: Vec<String>,
    /// The CSRF cookie: a random token in a cookie encrypted with a key
    /// made once per process (give every instance one [`axum_csrf::Key`] with
    /// [`CsrfConfig::with_key`] when several serve one site), `SameSite=Lax`,
    /// `HttpOnly`, six hours. Behind HTTPS add `with_secure(true)`.
    pub csrf: CsrfConfig,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            request_timeout: Duration::from_secs(10),
            header_timeout: Duration::from_secs(10),
            body_limit: 64 * 1024,
            max_connections: 1024,
            trusted_origins: Vec::new(),
            csrf: DEFAULT_CSRF.clone(),
        }
    }
}

/// The CSRF settings of [`Settings::default`]: one random key and salt per
/// process, so every router hardened with the defaults accepts the
/// cookies of the others.
static DEFAULT_CSRF: std::sync::LazyLock<CsrfConfig> =
    std::sync::LazyLock::new(|| CsrfConfig::default().with_cookie_name("csrf"));

impl Settings {
    /// `router` with every protection of these settings; see [`harden`].
    pub fn harden(&self, router: Router) -> Router {
        let trusted: Arc<[String]> = self.trusted_origins.clone().into();
        let timeout =
            TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, self.request_timeout);
        // The last layer added is the first a request meets.
        router
            .route(STYLESHEET, axum::routing::get(stylesheet))
            .layer(DefaultBodyLimit::max(self.body_limit))
            .layer(middleware::from_fn(csrf::attach_cookie))
            .layer(CsrfLayer::new(self.csrf.clone()))
            .layer(middleware::from_fn_with_state(trusted, csrf::same_origin))
            .layer(timeout)
            .layer(header_layer(
                header::CONTENT_SECURITY_POLICY,
                CONTENT_SECURITY_POLICY,
            ))
            .layer(header_layer(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .layer(header_layer(header::X_FRAME_OPTIONS, "DENY"))
            .layer(header_layer(header::REFERRER_POLICY, "same-origin"))
    }
}

fn header_layer(name: HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
}

/// `router` with the default [`Settings`]' protections, and the shared
/// stylesheet at [`STYLESHEET`]:
///
/// - a POST, PUT, PATCH or DELETE from another origin is refused with 403
///   ([`csrf::same_origin`]: `Sec-Fetch-Site`, then `Origin`, then
///   `Referer`);
/// - every HTML response sets the CSRF cookie, [`FormToken`] gives the
///   token for a page's forms, and [`CsrfForm`] refuses a form without it
///   (403);
/// - 408 past [`Settings::request_timeout`], 413 past
///   [`Settings::body_limit`];
/// - `Content-Security-Policy` ([`CONTENT_SECURITY_POLICY`]),
///   `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY`,
///   `Referrer-Policy: same-origin`, unless a handler set them.
pub fn harden(router: Router) -> Router {
    Settings::default().harden(router)
}

/// Serve `router` on `listener` with the default [`Settings`] until
/// Ctrl-C; see [`Settings::serve`].
///
/// # Errors
///
/// Never, today; the `io::Result` leaves room for a listener that fails.
pub async fn serve(listener: tokio::net::TcpListener, router: Router) -> std::io::Result<()> {
    let ctrl_c = async {
        // Without a signal handler, run until killed.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    Settings::default().serve(listener, router, ctrl_c).await
}

/// The stylesheet of the example apps (`GET` [`STYLESHEET`]): no external
/// fonts or assets, light and dark.
pub async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        include_str!("style.css"),
    )
}
