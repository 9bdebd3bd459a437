//! No password, and no password hash, in the logs: a registration with the
//! `orm` SQL echo on, every `log` record of the process captured.
//!
//! Its own test binary, because a global logger can be set once per process.

mod common;

use std::sync::Mutex;

use orm::prelude::*;
use registration::User;

static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let line = format!("{} {} {}", record.level(), record.target(), record.args());
        LINES.lock().unwrap_or_else(|e| e.into_inner()).push(line);
    }

    fn flush(&self) {}
}

#[tokio::test]
async fn registrations_log_neither_passwords_nor_hashes() {
    log::set_logger(&Capture).expect("the only logger of this binary");
    log::set_max_level(log::LevelFilter::Trace);

    let app =
        common::start_with(|url| Database::builder().model::<User>().echo(true).open(url)).await;
    let password = "Pa55word-that-must-not-leak";
    let second = "An0ther-secret-password";
    assert_eq!(
        app.register("ann", "ann@example.com", password).await.0,
        303
    );
    // A refused duplicate goes through the error path, which logs.
    assert_eq!(
        app.register("ann", "other@example.com", second).await.0,
        409
    );
    assert_eq!(app.register("bob", "no-at-sign", second).await.0, 400);
    assert_eq!(app.get("/users").await.0, 200);

    let hash = app.stored()[0].user_password.clone();
    assert!(hash.starts_with("$argon2id$"));
    let lines = LINES.lock().unwrap_or_else(|e| e.into_inner()).clone();

    // The echo was on: the statements are there...
    assert!(
        lines.iter().any(
            |l| l.contains(r#"INSERT INTO "user" ("username", "user_email", "user_password")"#)
        ),
        "{lines:#?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("registration refused")),
        "{lines:#?}"
    );
    // ...but no secret is.
    for secret in [password, second, hash.as_str(), "$argon2"] {
        assert!(
            !lines.iter().any(|l| l.contains(secret)),
            "{secret} logged: {lines:#?}"
        );
    }
}
