//! The registration app attacked as a hostile user would, over real HTTP:
//! one test per finding of the review (CSRF, account enumeration,
//! look-alike accounts, unbounded echo, slow clients, headers). Memory is
//! tests/memory.rs, the refused Python schema tests/migrate.rs, a real
//! browser's cross-origin form tests/browser.rs.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use registration::TAKEN_MESSAGE;

/// A POST that a browser marks as coming from another site is refused
/// (403), even with a valid token and cookie: `Origin` of another host or
/// `null` (a `file://` page), `Sec-Fetch-Site: cross-site`, a foreign
/// `Referer` without `Origin`.
#[tokio::test]
async fn a_post_from_another_origin_is_refused() {
    let app = common::start().await;
    let token = app.token(&app.client).await;
    let fields = [
        ("username", "mallory"),
        ("email", "mallory@example.com"),
        ("password", "password1"),
        ("csrf_token", token.as_str()),
    ];
    let host = app.base.trim_start_matches("http://").to_owned();
    for headers in [
        vec![("origin", "https://evil.example")],
        vec![("origin", "null")],
        vec![("origin", "http://127.0.0.1:1")],
        vec![("sec-fetch-site", "cross-site")],
        vec![("sec-fetch-site", "same-site")],
        vec![("referer", "https://evil.example/page.html")],
    ] {
        let r = app.post_with(&app.client, &fields, &headers).await;
        assert_eq!(r.status, 403, "{headers:?}: {}", r.body);
        assert!(
            r.body.contains("Cross-origin request refused"),
            "{}",
            r.body
        );
    }
    assert_eq!(app.stored().len(), 0);
    // The same request from the app's own page goes through.
    let own = format!("http://{host}");
    let referer = format!("http://{host}/register");
    let r = app
        .post_with(
            &app.client,
            &fields,
            &[
                ("origin", own.as_str()),
                ("referer", referer.as_str()),
                ("sec-fetch-site", "same-origin"),
            ],
        )
        .await;
    assert_eq!(
        (r.status, r.location.as_str()),
        (303, "/users"),
        "{}",
        r.body
    );
    assert_eq!(app.stored().len(), 1);
}

/// A form without this client's token is refused (403, the form again with
/// a fresh token): no token, a forged one, another client's token, a token
/// without its cookie.
#[tokio::test]
async fn a_form_without_this_clients_token_is_refused() {
    let app = common::start().await;
    let fields = [
        ("username", "mallory"),
        ("email", "mallory@example.com"),
        ("password", "password1"),
    ];
    let with = |token: &str| {
        let mut all = fields.to_vec();
        all.push(("csrf_token", Box::leak(token.to_owned().into_boxed_str())));
        all
    };
    let mine = app.token(&app.client).await;
    let other_client = common::client();
    let theirs = app.token(&other_client).await;
    assert_ne!(mine, theirs, "each client its own token");
    let cookieless = common::client();

    for (client, form, case) in [
        (&app.client, fields.to_vec(), "no token"),
        (&app.client, with(""), "an empty token"),
        (
            &app.client,
            with("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
            "a forged token",
        ),
        (&app.client, with("not base64 at all"), "garbage"),
        (&app.client, with(&theirs), "another client's token"),
        (&cookieless, with(&mine), "a token without its cookie"),
    ] {
        let r = app.post_with(client, &form, &[]).await;
        assert_eq!(r.status, 403, "{case}: {}", r.body);
        assert!(
            r.body.contains("has expired or was sent from another site"),
            "{case}: {}",
            r.body
        );
        assert!(
            web_kit::csrf::token_in(&r.body).is_some(),
            "{case}: a fresh form"
        );
    }
    assert_eq!(app.stored().len(), 0);
    // With its own token the form goes through.
    let r = app.post_with(&app.client, &with(&mine), &[]).await;
    assert_eq!(r.status, 303, "{}", r.body);
}

/// A taken username and a taken email get the same status and message, so
/// the form does not tell which accounts exist.
#[tokio::test]
async fn a_taken_username_and_a_taken_email_get_the_same_answer() {
    let app = common::start().await;
    assert_eq!(
        app.register("john", "john@example.com", "password1")
            .await
            .0,
        303
    );
    let (name_status, name_body) = app.register("john", "new@example.com", "password2").await;
    let (email_status, email_body) = app
        .register("newname", "john@example.com", "password2")
        .await;
    assert_eq!((name_status, email_status), (409, 409));
    let message = |body: &str| {
        let start = body.find(r#"<div class="flash error""#).expect("a message");
        let end = start + body[start..].find("</div>").expect("its end");
        body[start..end].to_owned()
    };
    assert_eq!(message(&name_body), message(&email_body));
    assert!(name_body.contains(TAKEN_MESSAGE), "{name_body}");
    assert!(
        !name_body.contains("username is already taken"),
        "{name_body}"
    );
    assert!(
        !email_body.contains("This email address is already registered."),
        "{email_body}"
    );
    assert_eq!(app.stored().len(), 1);
}

/// `Alice`, fullwidth `ａｌｉｃｅ` and `ALICE@example.com` are the existing
/// account (409); `ali<U+200B>ce`, `<U+202E>ecila` and other invisible
/// characters are refused (400).
#[tokio::test]
async fn look_alike_accounts_are_refused() {
    let app = common::start().await;
    assert_eq!(
        app.register("alice", "alice@example.com", "password1")
            .await
            .0,
        303
    );
    for (username, email) in [
        ("Alice", "new1@example.com"),
        ("ALICE", "new2@example.com"),
        ("ａｌｉｃｅ", "new3@example.com"),
        ("  Ａｌｉｃｅ\u{3000}", "new4@example.com"),
        ("bob", "ALICE@example.com"),
        ("bob", "Alice@EXAMPLE.com"),
        ("bob", "ａｌｉｃｅ＠example.com"),
    ] {
        let (status, body) = app.register(username, email, "password1").await;
        assert_eq!(status, 409, "{username:?} {email:?}: {body}");
        assert!(body.contains(TAKEN_MESSAGE), "{body}");
    }
    for username in [
        "ali\u{200B}ce",
        "\u{202E}ecila",
        "alice\u{200D}",
        "\u{FEFF}alice",
        "ali\u{00AD}ce",
        "alice\u{2067}",
        "al\u{7}ice",
    ] {
        let (status, body) = app
            .register(username, "other@example.com", "password1")
            .await;
        assert_eq!(status, 400, "{username:?}: {body}");
        assert!(body.contains("invisible characters"), "{body}");
        // Shown back without the invisible characters.
        assert!(
            !body.contains(['\u{200B}', '\u{202E}', '\u{200D}', '\u{FEFF}']),
            "{body}"
        );
    }
    let users = app.stored();
    assert_eq!(users.len(), 1);
    assert_eq!(
        (users[0].username.as_str(), users[0].user_email.as_str()),
        ("alice", "alice@example.com")
    );
}

/// What the user typed comes back at most 100 characters long; a body
/// past the limit (a 1.5 MB username) is refused with 413 and a short page.
#[tokio::test]
async fn echoed_input_is_bounded_and_huge_bodies_are_refused() {
    let app = common::start().await;
    let long = "x".repeat(10_000);
    let (status, body) = app.register(&long, "no-at-sign", "password1").await;
    assert_eq!(status, 400);
    assert!(
        body.contains(&format!(r#"value="{}""#, "x".repeat(100))),
        "{body}"
    );
    assert!(!body.contains(&"x".repeat(101)), "echoed in full");
    assert!(body.len() < 8_000, "{} bytes", body.len());

    let huge = "x".repeat(1_500_000);
    let (status, body) = app.register(&huge, "a@example.com", "password1").await;
    assert_eq!(status, 413);
    assert!(body.contains("The form is too large"), "{body}");
    assert!(body.len() < 8_000, "{} bytes", body.len());
    assert_eq!(app.stored().len(), 0);
}

/// Every page has the stylesheet and security headers; the stylesheet is
/// served by the app.
#[tokio::test]
async fn pages_are_styled_and_carry_security_headers() {
    let app = common::start().await;
    for path in ["/register", "/users"] {
        let resp = app
            .client
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        let headers = resp.headers().clone();
        let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(header("x-frame-options").as_deref(), Some("DENY"), "{path}");
        assert_eq!(
            header("x-content-type-options").as_deref(),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(
            header("referrer-policy").as_deref(),
            Some("same-origin"),
            "{path}"
        );
        let csp = header("content-security-policy").unwrap_or_default();
        assert!(
            csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{csp}"
        );
        let body = resp.text().await.unwrap();
        assert!(body.contains("/static/style.css"), "{path}: {body}");
        assert!(
            !body.contains("style=") && !body.contains("<script"),
            "{path}: {body}"
        );
    }
    let resp = app
        .client
        .get(format!("{}/static/style.css", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    assert!(resp.text().await.unwrap().contains("font"));
}

/// Settings with one-second timeouts, for the slow-client tests.
fn quick() -> web_kit::Settings {
    web_kit::Settings {
        request_timeout: Duration::from_secs(1),
        header_timeout: Duration::from_secs(1),
        body_limit: registration::MAX_BODY_BYTES,
        ..Default::default()
    }
}

/// Send `head` (and nothing more) on a raw connection, then read until
/// the server closes it: what it answered, and after how long.
fn slow_client(base: &str, head: &str) -> (String, Duration) {
    let addr = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let started = Instant::now();
    stream.write_all(head.as_bytes()).unwrap();
    let mut answer = Vec::new();
    // Ok(0) is the server closing the connection; a read timeout after 20 s
    // fails the test below.
    let _ = stream.read_to_end(&mut answer);
    (
        String::from_utf8_lossy(&answer).into_owned(),
        started.elapsed(),
    )
}

/// Slowloris: a client that declares a 10 GB body and sends 10 bytes gets
/// 408 and loses its connection when the request timeout (here 1 s) runs
/// out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_body_is_cut_off_by_the_request_timeout() {
    let app = common::start_with_settings(quick()).await;
    let head = "POST /register HTTP/1.1\r\nHost: x\r\n\
                Content-Type: application/x-www-form-urlencoded\r\n\
                Content-Length: 10000000000\r\n\r\nusername=a";
    let base = app.base.clone();
    let (answer, took) = tokio::task::spawn_blocking(move || slow_client(&base, head))
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(took < Duration::from_secs(5), "closed after {took:?}");
    assert!(
        took >= Duration::from_millis(900),
        "answered after {took:?}"
    );
}

/// Slowloris on the request head: a request line and part of the headers,
/// then nothing; and a connection that sends nothing at all. Both are
/// closed when the header timeout (here 1 s) runs out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_request_head_and_an_idle_connection_are_closed() {
    let app = common::start_with_settings(quick()).await;
    for head in ["POST /register HTTP/1.1\r\nHost: x\r\nX-Slow: ", ""] {
        let base = app.base.clone();
        let (answer, took) = tokio::task::spawn_blocking(move || slow_client(&base, head))
            .await
            .unwrap();
        assert!(
            took < Duration::from_secs(5),
            "{head:?}: closed after {took:?}"
        );
        assert!(
            took >= Duration::from_millis(900),
            "{head:?}: closed after {took:?}"
        );
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
            "{answer}"
        );
    }
    // The app still answers.
    assert_eq!(app.get("/register").await.0, 200);
}
