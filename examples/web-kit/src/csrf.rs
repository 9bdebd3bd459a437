//! Cross-site request forgery: two independent defences.
//!
//! 1. [`same_origin`] (a middleware [`harden`](crate::harden) installs)
//!    refuses an unsafe request a browser says comes from another site, as
//!    Go's `net/http.CrossOriginProtection` does: `Sec-Fetch-Site` when the
//!    browser sends it, else `Origin` against `Host`, else (old browsers)
//!    `Referer` against `Host`. A request with none of them is not a
//!    browser's cross-site form, and goes on to the token check.
//! 2. The signed double-submit token of [`axum_csrf`]: a random token in an
//!    encrypted `SameSite=Lax` cookie, and its HMAC in each form
//!    ([`FormToken`], field [`FIELD`]). [`CsrfForm`] reads a form and
//!    refuses it (403) unless the field matches the cookie. Another site
//!    can neither read the cookie nor compute the HMAC.
//!
//! In a template: `<input type="hidden" name="csrf_token" value="{{ csrf }}">`
//! with `csrf` a [`FormToken`]; in the handler that receives the form,
//! `CsrfForm<MyFields>` where `Form<MyFields>` was.

use std::fmt;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::header::{self, HeaderMap};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum_csrf::CsrfToken;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize, Serializer};

/// The name of the form field that carries the token.
pub const FIELD: &str = "csrf_token";

/// The token to put in this page's forms (field [`FIELD`]): serializes as
/// a string, so it goes into a template's context as it is.
///
/// Needs [`harden`](crate::harden), which also sets the cookie it is
/// checked against on every HTML response.
#[derive(Clone)]
pub struct FormToken(String);

impl FormToken {
    /// The token's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for FormToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FormToken(..)")
    }
}

impl Serialize for FormToken {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for FormToken {
    type Rejection = CsrfRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, CsrfRejection> {
        let token = parts
            .extensions
            .get::<CsrfToken>()
            .ok_or(CsrfRejection::NotInstalled)?;
        token
            .authenticity_token()
            .map(FormToken)
            .map_err(|_| CsrfRejection::NotInstalled)
    }
}

/// A form whose [`FIELD`] carries this client's token: the fields as `T`
/// (as axum's `Form` reads them: `application/x-www-form-urlencoded`,
/// invalid UTF-8 decoded lossily). `CsrfForm` alone reads no other field,
/// for a form that is only a button.
///
/// # Rejections
///
/// [`CsrfRejection`]: 403 when the token is missing or wrong (checked
/// before `T` is read), 415 without the form content type, 413 past the
/// body limit, 422 when `T` cannot be read from the fields.
#[derive(Debug, Clone)]
pub struct CsrfForm<T = NoFields>(pub T);

/// The fields of a form that has none but its token.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct NoFields {}

#[derive(Deserialize)]
struct TokenField {
    #[serde(default)]
    csrf_token: String,
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for CsrfForm<T> {
    type Rejection = CsrfRejection;

    async fn from_request(req: Request, state: &S) -> Result<Self, CsrfRejection> {
        let token = req
            .extensions()
            .get::<CsrfToken>()
            .cloned()
            .ok_or(CsrfRejection::NotInstalled)?;
        if !is_form(req.headers()) {
            return Err(CsrfRejection::NotAForm);
        }
        let body = Bytes::from_request(req, state)
            .await
            .map_err(CsrfRejection::Body)?;
        let sent: TokenField =
            serde_urlencoded::from_bytes(&body).map_err(|_| CsrfRejection::Token)?;
        if sent.csrf_token.is_empty() || token.verify(&sent.csrf_token).is_err() {
            return Err(CsrfRejection::Token);
        }
        serde_urlencoded::from_bytes(&body)
            .map(CsrfForm)
            .map_err(|e| CsrfRejection::Fields(e.to_string()))
    }
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// Why a [`CsrfForm`] or a [`FormToken`] could not be had.
#[derive(Debug)]
#[non_exhaustive]
pub enum CsrfRejection {
    /// The token field is missing or does not match the cookie (no cookie,
    /// an expired one, another site's form): 403.
    Token,
    /// The request is not `application/x-www-form-urlencoded`: 415.
    NotAForm,
    /// The body could not be read (too large: 413).
    Body(BytesRejection),
    /// The fields do not fit the form's type: 422.
    Fields(String),
    /// [`harden`](crate::harden) is not installed on the router: 500.
    NotInstalled,
}

impl CsrfRejection {
    /// The status of the response.
    pub fn status(&self) -> StatusCode {
        match self {
            CsrfRejection::Token => StatusCode::FORBIDDEN,
            CsrfRejection::NotAForm => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            CsrfRejection::Body(e) => e.status(),
            CsrfRejection::Fields(_) => StatusCode::UNPROCESSABLE_ENTITY,
            CsrfRejection::NotInstalled => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl fmt::Display for CsrfRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CsrfRejection::Token => f.write_str("the form's CSRF token is missing or wrong"),
            CsrfRejection::NotAForm => f.write_str("the request body is not a form"),
            CsrfRejection::Body(e) => write!(f, "the request body could not be read: {e}"),
            CsrfRejection::Fields(e) => write!(f, "the form's fields could not be read: {e}"),
            CsrfRejection::NotInstalled => f.write_str("web_kit::harden is not installed"),
        }
    }
}

impl std::error::Error for CsrfRejection {}

impl IntoResponse for CsrfRejection {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            log::error!("{self}");
        } else {
            log::info!("form refused ({status}): {self}");
        }
        let text = match self {
            CsrfRejection::Token => {
                "This form has expired or came from another site. Go back, reload the page and send it again."
            }
            _ => status.canonical_reason().unwrap_or("Error"),
        };
        (status, text).into_response()
    }
}

/// Refuse (403) a POST, PUT, PATCH or DELETE that a browser says comes
/// from another origin; see [`check_origin`]. `trusted` are origins allowed
/// besides the request's own host ([`Settings::trusted_origins`](crate::Settings::trusted_origins)).
pub async fn same_origin(
    State(trusted): State<Arc<[String]>>,
    req: Request,
    next: Next,
) -> Response {
    match check_origin(req.method(), req.headers(), &trusted) {
        Ok(()) => next.run(req).await,
        Err(why) => {
            // The path, not the query: user input stays out of the logs.
            log::warn!(
                "refused a cross-origin {} {}: {why}",
                req.method(),
                req.uri().path()
            );
            (
                StatusCode::FORBIDDEN,
                "Cross-origin request refused: this form can only be sent from this site.",
            )
                .into_response()
        }
    }
}

/// Whether a request with `method` and `headers` may go on: `Err` names why
/// it looks like another site's.
///
/// Safe methods (GET, HEAD, OPTIONS, TRACE) always may. Otherwise, in
/// order: an `Origin` in `trusted` may; `Sec-Fetch-Site` (sent by every
/// current browser) must be `same-origin` or `none`; an `Origin` must name
/// the `Host` the request was sent to (`null`, from a `file://` page or a
/// sandbox, never does); without `Origin`, a `Referer` must. A request with
/// none of these headers is not from a browser's page and may go on (the
/// CSRF token still applies).
///
/// # Examples
///
/// ```
/// use axum::http::{HeaderMap, Method};
/// use web_kit::csrf::check_origin;
///
/// let mut headers = HeaderMap::new();
/// headers.insert("host", "127.0.0.1:5000".parse().unwrap());
/// headers.insert("origin", "http://127.0.0.1:5000".parse().unwrap());
/// assert!(check_origin(&Method::POST, &headers, &[]).is_ok());
/// headers.insert("origin", "https://evil.example".parse().unwrap());
/// assert!(check_origin(&Method::POST, &headers, &[]).is_err());
/// assert!(check_origin(&Method::GET, &headers, &[]).is_ok());
/// ```
pub fn check_origin(
    method: &Method,
    headers: &HeaderMap,
    trusted: &[String],
) -> Result<(), &'static str> {
    if matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    ) {
        return Ok(());
    }
    let text = |name| headers.get(name).map(|v| v.to_str().unwrap_or("\u{FFFD}"));
    let origin = text(header::ORIGIN);
    if origin.is_some_and(|o| trusted.iter().any(|t| t == o)) {
        return Ok(());
    }
    if let Some(site) = text(header::HeaderName::from_static("sec-fetch-site")) {
        return match site {
            "same-origin" | "none" => Ok(()),
            _ => Err("Sec-Fetch-Site is not same-origin"),
        };
    }
    let host = text(header::HOST);
    let same_host = |url: &str| host.is_some_and(|h| authority(url).eq_ignore_ascii_case(h));
    match (origin, text(header::REFERER)) {
        (Some(origin), _) if same_host(origin) => Ok(()),
        (Some(_), _) => Err("Origin is not this host"),
        (None, Some(referer)) if same_host(referer) => Ok(()),
        (None, Some(_)) => Err("Referer is not this host"),
        (None, None) => Ok(()),
    }
}

/// `host[:port]` of an absolute URL (`http://host:port/path` gives
/// `host:port`); `""` when it has no scheme.
fn authority(url: &str) -> &str {
    let Some((_, rest)) = url.split_once("://") else {
        return "";
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    // Credentials (`user@host`) are not part of the host.
    rest[..end].rsplit('@').next().unwrap_or("")
}

/// The token of the first form of `html` that has one (the value of its
/// [`FIELD`] input, HTML entities decoded): what a client that is not a
/// browser, such as a test, sends back.
///
/// # Examples
///
/// ```
/// let html = r#"<form><input type="hidden" name="csrf_token" value="a&#x2f;b+c="></form>"#;
/// assert_eq!(web_kit::csrf::token_in(html).as_deref(), Some("a/b+c="));
/// ```
pub fn token_in(html: &str) -> Option<String> {
    let input = html.find(&format!(r#"name="{FIELD}""#))?;
    let rest = &html[input..];
    let value = rest.find("value=\"")? + "value=\"".len();
    let end = value + rest[value..].find('"')?;
    let mut text = rest[value..end].to_owned();
    for (entity, c) in [
        ("&#x2f;", "/"),
        ("&#x27;", "'"),
        ("&quot;", "\""),
        ("&lt;", "<"),
        ("&gt;", ">"),
        ("&amp;", "&"),
    ] {
        text = text.replace(entity, c);
    }
    Some(text)
}

/// Set the CSRF cookie on every HTML response, so the token of the page's
/// forms ([`FormToken`]) always has its cookie, also when the one the
/// browser sent had expired or could not be read.
pub(crate) async fn attach_cookie(req: Request, next: Next) -> Response {
    let token = req.extensions().get::<CsrfToken>().cloned();
    let response = next.run(req).await;
    let html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    match token {
        Some(token) if html => (token, response).into_response(),
        _ => response,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(method: Method, headers: &[(&'static str, &str)]) -> Result<(), &'static str> {
        let mut map = HeaderMap::new();
        map.insert(header::HOST, "127.0.0.1:5000".parse().unwrap());
        for (name, value) in headers {
            map.insert(*name, value.parse().unwrap());
        }
        check_origin(&method, &map, &["https://trusted.example".to_owned()])
    }

    #[test]
    fn safe_methods_always_pass() {
        for m in [Method::GET, Method::HEAD, Method::OPTIONS] {
            assert!(check(m, &[("origin", "https://evil.example")]).is_ok());
        }
    }

    #[test]
    fn sec_fetch_site_decides_when_present() {
        assert!(check(Method::POST, &[("sec-fetch-site", "same-origin")]).is_ok());
        assert!(check(Method::POST, &[("sec-fetch-site", "none")]).is_ok());
        for site in ["cross-site", "same-site", "bogus"] {
            assert!(check(Method::POST, &[("sec-fetch-site", site)]).is_err());
        }
        // Even with a matching Origin: the browser's word wins.
        assert!(
            check(
                Method::POST,
                &[
                    ("sec-fetch-site", "cross-site"),
                    ("origin", "http://127.0.0.1:5000")
                ]
            )
            .is_err()
        );
    }

    #[test]
    fn origin_must_name_the_host() {
        assert!(check(Method::POST, &[("origin", "http://127.0.0.1:5000")]).is_ok());
        assert!(check(Method::DELETE, &[("origin", "http://127.0.0.1:5001")]).is_err());
        assert!(check(Method::POST, &[("origin", "https://evil.example")]).is_err());
        assert!(check(Method::POST, &[("origin", "null")]).is_err());
        assert!(check(Method::POST, &[("origin", "https://trusted.example")]).is_ok());
        // A matching Referer does not rescue a foreign Origin.
        assert!(
            check(
                Method::POST,
                &[
                    ("origin", "https://evil.example"),
                    ("referer", "http://127.0.0.1:5000/register")
                ]
            )
            .is_err()
        );
    }

    #[test]
    fn referer_is_checked_without_origin() {
        assert!(
            check(
                Method::POST,
                &[("referer", "http://127.0.0.1:5000/register?x")]
            )
            .is_ok()
        );
        assert!(check(Method::POST, &[("referer", "https://evil.example/")]).is_err());
        assert!(
            check(
                Method::POST,
                &[("referer", "http://127.0.0.1:5000@evil.example/")]
            )
            .is_err()
        );
        assert!(check(Method::POST, &[("referer", "/relative")]).is_err());
    }

    #[test]
    fn no_browser_headers_pass_to_the_token_check() {
        assert!(check(Method::POST, &[]).is_ok());
    }

    #[test]
    fn authority_strips_scheme_path_and_credentials() {
        assert_eq!(authority("http://a.example:80/x?y#z"), "a.example:80");
        assert_eq!(authority("https://u:p@a.example"), "a.example");
        assert_eq!(authority("a.example"), "");
    }
}
