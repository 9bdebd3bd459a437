//! Database URLs, in SQLAlchemy's SQLite forms.
//!
//! | URL | database |
//! |---|---|
//! | `sqlite:///app.db` | `app.db`, relative to the current directory |
//! | `sqlite:////var/data/app.db` | `/var/data/app.db` |
//! | `sqlite://`, `sqlite:///` or `sqlite:///:memory:` | a new private in-memory database |
//!
//! Percent-escapes in the path are decoded (`my%20app.db`). Anything else is
//! an [`Error::InvalidUrl`] that says what to write instead.

use std::path::PathBuf;

use crate::error::{Error, Result};

/// Where a URL says the database is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Location {
    Memory,
    File(PathBuf),
    /// A PostgreSQL server: the URL in the form rust-postgres reads
    /// (`postgresql://...`, any `+driver` dropped).
    #[cfg(feature = "postgres")]
    Postgres(String),
}

/// The URL with its password, if any, replaced by `***`: what messages,
/// logs and [`Database::url`](crate::Database::url) show.
pub(crate) fn redact(url: &str) -> String {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    let Some(at) = url[start..end].rfind('@').map(|i| start + i) else {
        return url.to_owned();
    };
    match url[start..at].find(':').map(|i| start + i) {
        Some(colon) => format!("{}:***{}", &url[..colon], &url[at..]),
        None => url.to_owned(),
    }
}

/// At most `max` characters of `s`, with `...` when cut: messages stay
/// short even for absurd input (say a whole file pasted into a variable).
fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((end, _)) => format!("{}...", &s[..end]),
        None => s.to_owned(),
    }
}

fn invalid(url: &str, reason: impl Into<String>) -> Error {
    Error::InvalidUrl {
        url: clip(url, 200),
        reason: reason.into(),
    }
}

/// Parse a database URL.
pub(crate) fn parse(url: &str) -> Result<Location> {
    if url.is_empty() {
        return Err(invalid(url, "the URL is empty; write sqlite:///app.db"));
    }
    if url.trim() != url {
        return Err(invalid(url, "the URL has leading or trailing whitespace"));
    }
    let Some((scheme, rest)) = url.split_once(':') else {
        return Err(invalid(
            url,
            "missing scheme; write sqlite:///relative.db or sqlite:////absolute/path.db",
        ));
    };
    let driver = scheme.split_once('+').map(|(s, _)| s).unwrap_or(scheme);
    if driver.eq_ignore_ascii_case("postgresql") || driver.eq_ignore_ascii_case("postgres") {
        return postgres(url, scheme, rest);
    }
    if !driver.eq_ignore_ascii_case("sqlite") {
        return Err(invalid(
            url,
            format!(
                "unsupported scheme `{}`; write sqlite:///app.db or postgresql://user@host/dbname",
                clip(scheme, 40)
            ),
        ));
    }
    if driver.len() != scheme.len() && !scheme[driver.len() + 1..].eq_ignore_ascii_case("rusqlite")
    {
        return Err(invalid(
            url,
            format!(
                "unsupported driver in `{}`; write sqlite:// (or sqlite+rusqlite://)",
                clip(scheme, 40)
            ),
        ));
    }
    let Some(after) = rest.strip_prefix("//") else {
        return Err(invalid(
            url,
            "expected `//` after `sqlite:`; write sqlite:///relative.db or sqlite:////absolute/path.db",
        ));
    };
    if after.contains('?') {
        return Err(invalid(
            url,
            "query parameters are not supported; configure the connection with Database::builder()",
        ));
    }
    if after.contains('#') {
        return Err(invalid(
            url,
            "a `#` fragment is not allowed; percent-encode it as %23",
        ));
    }
    if after.is_empty() {
        return Ok(Location::Memory);
    }
    let Some(path) = after.strip_prefix('/') else {
        let host = after.split('/').next().unwrap_or(after);
        return Err(invalid(
            url,
            format!(
                "a host (`{}`) is not allowed in a SQLite URL; write sqlite:///{}",
                clip(host, 60),
                clip(after, 120)
            ),
        ));
    };
    if path.is_empty() || path == ":memory:" {
        return Ok(Location::Memory);
    }
    let decoded = percent_decode(path).map_err(|why| invalid(url, why))?;
    if decoded.contains('\0') {
        return Err(invalid(url, "the path contains a NUL character"));
    }
    if decoded.ends_with('/') {
        return Err(invalid(
            url,
            "the path names a directory; add a file name such as app.db",
        ));
    }
    Ok(Location::File(PathBuf::from(decoded)))
}

/// `postgresql://user:password@host:port/dbname?sslmode=...`, also as
/// `postgres://` and SQLAlchemy's `postgresql+psycopg2://` (the driver part
/// names Python's drivers, so any of theirs is read as this one).
fn postgres(url: &str, scheme: &str, rest: &str) -> Result<Location> {
    let shown = redact(url);
    if let Some((_, driver)) = scheme.split_once('+') {
        let known = ["psycopg2", "psycopg", "pg8000", "asyncpg", "postgres"];
        if !known.iter().any(|k| driver.eq_ignore_ascii_case(k)) {
            return Err(invalid(
                &shown,
                format!(
                    "unsupported driver `{}`; write postgresql:// (or postgresql+psycopg2://)",
                    clip(driver, 40)
                ),
            ));
        }
    }
    if !rest.starts_with("//") {
        return Err(invalid(
            &shown,
            "expected `//` after the scheme; write postgresql://user@host:5432/dbname",
        ));
    }
    #[cfg(not(feature = "postgres"))]
    return Err(invalid(
        &shown,
        "PostgreSQL needs the `postgres` feature: features = [\"postgres\"]",
    ));
    #[cfg(feature = "postgres")]
    Ok(Location::Postgres(format!("postgresql:{rest}")))
}

fn percent_decode(s: &str) -> std::result::Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            // Exactly two hex digits (`from_str_radix` alone takes `+f`).
            let hex = bytes
                .get(i + 1..i + 3)
                .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match hex {
                Some(b) => {
                    out.push(b);
                    i += 3;
                }
                None => {
                    return Err(format!(
                        "bad percent-escape at byte {i}; write %25 for a literal %"
                    ));
                }
            }
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "the decoded path is not valid UTF-8".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgresql://ann:s3cr@t@db:5432/app"),
            "postgresql://ann:***@db:5432/app"
        );
        assert_eq!(redact("postgresql://ann@db/app"), "postgresql://ann@db/app");
        assert_eq!(
            redact("postgresql://db/app?x=a:b@c"),
            "postgresql://db/app?x=a:b@c"
        );
        assert_eq!(redact("sqlite:///app.db"), "sqlite:///app.db");
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn postgres_urls_in_sqlalchemy_forms() {
        for url in [
            "postgresql://ann:pw@localhost:5432/app",
            "postgres://localhost/app",
            "postgresql+psycopg2://ann@localhost/app?sslmode=disable&application_name=web",
        ] {
            match parse(url) {
                Ok(Location::Postgres(u)) => assert!(u.starts_with("postgresql://"), "{u}"),
                other => panic!("{url}: {other:?}"),
            }
        }
    }

    #[test]
    fn good_urls() {
        assert_eq!(
            parse("sqlite:///app.db").unwrap(),
            Location::File("app.db".into())
        );
        assert_eq!(
            parse("sqlite:////var/data/app.db").unwrap(),
            Location::File("/var/data/app.db".into())
        );
        assert_eq!(
            parse("sqlite:///sub/dir/app.db").unwrap(),
            Location::File("sub/dir/app.db".into())
        );
        assert_eq!(parse("sqlite://").unwrap(), Location::Memory);
        assert_eq!(parse("sqlite:///").unwrap(), Location::Memory);
        assert_eq!(parse("sqlite:///:memory:").unwrap(), Location::Memory);
        assert_eq!(
            parse("SQLite:///x.db").unwrap(),
            Location::File("x.db".into())
        );
        assert_eq!(
            parse("sqlite+rusqlite:///x.db").unwrap(),
            Location::File("x.db".into())
        );
        assert_eq!(
            parse("sqlite:///my%20app.db").unwrap(),
            Location::File("my app.db".into())
        );
    }

    #[test]
    fn bad_urls_say_why() {
        let cases = [
            ("", "empty"),
            ("app.db", "missing scheme"),
            ("mysql://localhost/app", "unsupported scheme"),
            ("postgresql+jdbc://localhost/app", "unsupported driver"),
            ("postgresql:localhost", "expected `//`"),
            ("sqlite+pysqlite:///x.db", "unsupported driver"),
            ("sqlite:/app.db", "expected `//`"),
            ("sqlite:app.db", "expected `//`"),
            ("sqlite://localhost/app.db", "host"),
            ("sqlite:///app.db?mode=ro", "query parameters"),
            ("sqlite:///app.db#x", "fragment"),
            ("sqlite:///dir/", "directory"),
            ("sqlite:///bad%zzescape.db", "percent-escape"),
            ("sqlite:///a%+fb.db", "percent-escape"),
            ("sqlite:///a%-1b.db", "percent-escape"),
            ("sqlite:///nul%00.db", "NUL"),
            (" sqlite:///app.db", "whitespace"),
            ("sqlite:///%ff%fe.db", "UTF-8"),
        ];
        for (url, expected) in cases {
            match parse(url) {
                Err(Error::InvalidUrl { reason, .. }) => {
                    assert!(reason.contains(expected), "{url:?}: {reason}")
                }
                other => panic!("{url:?} gave {other:?}"),
            }
        }
    }
}
