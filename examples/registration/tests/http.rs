//! The registration app over real HTTP, as a browser uses it (cookies
//! kept, the form's token sent back): the form, success and its redirect,
//! refresh, duplicates, validation, hostile input, the users list. The
//! same flows as tests/browser.rs, for machines without a browser.

mod common;

use argon2::Argon2;
use argon2::password_hash::PasswordVerifier;
use argon2::password_hash::phc::PasswordHash;
use registration::{SUCCESS_MESSAGE, TAKEN_MESSAGE};

#[tokio::test]
async fn get_register_shows_the_form_with_its_token_and_stylesheet() {
    let app = common::start().await;
    let resp = app
        .client
        .get(format!("{}/register", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("csrf="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let body = resp.text().await.unwrap();
    assert!(
        body.contains(r#"<form method="post" action="/register">"#),
        "{body}"
    );
    for field in ["username", "email", "password", "csrf_token"] {
        assert!(
            body.contains(&format!(r#"name="{field}""#)),
            "{field}: {body}"
        );
    }
    assert!(
        body.contains(r#"<link rel="stylesheet" href="/static/style.css">"#),
        "{body}"
    );
    // `/` leads to the form.
    let root = app.get_with(&app.client, "/").await;
    assert_eq!((root.status, root.location.as_str()), (303, "/register"));
}

#[tokio::test]
async fn registration_stores_an_argon2_hash_not_the_password() {
    let app = common::start().await;
    let password = "correct horse battery";
    let (status, location) = app.register("john", "john@example.com", password).await;
    assert_eq!((status, location.as_str()), (303, "/users"));

    let users = app.stored();
    assert_eq!(users.len(), 1);
    let john = &users[0];
    assert_eq!(
        (john.id, john.username.as_str(), john.user_email.as_str()),
        (1, "john", "john@example.com")
    );
    let hash = &john.user_password;
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains(password));
    assert!(hash.len() <= 150, "fits VARCHAR(150): {}", hash.len());
    let parsed = PasswordHash::new(hash).unwrap();
    assert!(
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    );
    assert!(
        Argon2::default()
            .verify_password(b"wrong password", &parsed)
            .is_err()
    );
}

/// The browser flow "register, see the success page, refresh".
#[tokio::test]
async fn success_redirects_to_a_page_that_flashes_once_and_refresh_posts_nothing() {
    let app = common::start().await;
    let (status, location) = app
        .register("Peter", "peter@example.com", "peter-password")
        .await;
    assert_eq!((status, location.as_str()), (303, "/users"));
    // The page the browser is sent to: the message, the new user, links.
    let (status, page) = app.get("/users").await;
    assert_eq!(status, 200);
    assert!(page.contains(SUCCESS_MESSAGE), "{page}");
    assert!(page.contains(r#"class="flash ok""#), "{page}");
    assert!(page.contains("<li>peter</li>"), "{page}");
    assert!(page.contains(r#"<a href="/register">"#), "{page}");
    // A refresh is a GET of that page: nothing is posted again, no
    // "already registered", and the message is not shown twice.
    let (status, again) = app.get("/users").await;
    assert_eq!(status, 200);
    assert!(!again.contains(SUCCESS_MESSAGE), "{again}");
    assert!(!again.contains("already registered"), "{again}");
    assert!(again.contains("<li>peter</li>"), "{again}");
    assert_eq!(app.stored().len(), 1);
}

#[tokio::test]
async fn surrounding_spaces_are_trimmed_from_username_and_email() {
    let app = common::start().await;
    let (status, _) = app
        .register("  ann\t", " ann@example.com ", " spaces count ")
        .await;
    assert_eq!(status, 303);
    let users = app.stored();
    assert_eq!(users[0].username, "ann");
    assert_eq!(users[0].user_email, "ann@example.com");
    // The password is kept as typed, spaces included.
    let parsed = PasswordHash::new(&users[0].user_password).unwrap();
    assert!(
        Argon2::default()
            .verify_password(b" spaces count ", &parsed)
            .is_ok()
    );
}

/// The browser flow "duplicate".
#[tokio::test]
async fn a_taken_username_is_refused_with_409_and_the_form_again() {
    let app = common::start().await;
    assert_eq!(
        app.register("john", "john@example.com", "password1")
            .await
            .0,
        303
    );
    let (status, body) = app.register("john", "other@example.com", "password2").await;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains(TAKEN_MESSAGE), "{body}");
    assert!(body.contains("<form"), "the form is shown again: {body}");
    // The fields are filled in again, the password is not.
    assert!(body.contains(r#"value="other@example.com""#), "{body}");
    assert!(!body.contains("password2"), "{body}");
    let users = app.stored();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].user_email, "john@example.com");
    // After a refusal the app goes on working.
    assert_eq!(
        app.register("johnny", "johnny@example.com", "password2")
            .await
            .0,
        303
    );
    assert_eq!(app.stored().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_registrations_of_one_name_store_one_row() {
    let app = std::sync::Arc::new(common::start().await);
    let mut requests = tokio::task::JoinSet::new();
    for i in 0..4 {
        let app = std::sync::Arc::clone(&app);
        requests.spawn(async move {
            // Each its own browser: its own cookie and token.
            let client = common::client();
            let token = app.token(&client).await;
            let email = format!("twin{i}@example.com");
            // Case and width differ; the canonical name does not.
            let name = ["twin", "Twin", "TWIN", "ｔｗｉｎ"][i];
            let fields = [
                ("username", name),
                ("email", email.as_str()),
                ("password", "password1"),
                ("csrf_token", token.as_str()),
            ];
            app.post_with(&client, &fields, &[]).await.status
        });
    }
    let mut statuses = requests.join_all().await;
    statuses.sort_unstable();
    assert_eq!(statuses, [303, 409, 409, 409]);
    assert_eq!(app.stored().len(), 1);
}

/// The browser flow "empty field".
#[tokio::test]
async fn empty_fields_are_refused_with_400() {
    let app = common::start().await;
    for (username, email, password, expected) in [
        ("", "ann@example.com", "password1", "enter a username"),
        ("   ", "ann@example.com", "password1", "enter a username"),
        ("ann", "", "password1", "enter an email address"),
        ("ann", "ann@example.com", "", "enter a password"),
        ("ann", "ann@example.com", "          ", "enter a password"),
    ] {
        let (status, body) = app.register(username, email, password).await;
        assert_eq!(status, 400, "{username:?} {email:?} {password:?}: {body}");
        assert!(body.contains(expected), "{expected}: {body}");
        assert!(body.contains("<form"), "{body}");
    }
    // Fields missing from the request altogether count as empty.
    let r = app.submit(&[("username", "ann")]).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("enter an email address"), "{}", r.body);
    assert!(r.body.contains(r#"value="ann""#), "{}", r.body);
    assert_eq!(app.stored().len(), 0);
}

#[tokio::test]
async fn invalid_emails_short_passwords_and_long_fields_are_refused_with_400() {
    let app = common::start().await;
    let long = "x".repeat(101);
    let long_email = format!("{}@example.com", "x".repeat(90));
    for (username, email, password, expected) in [
        ("ann", "ann", "password1", "valid email address"),
        ("ann", "@example.com", "password1", "valid email address"),
        ("ann", "ann@", "password1", "valid email address"),
        ("ann", "a@b@example.com", "password1", "valid email address"),
        (
            "ann",
            "ann smith@example.com",
            "password1",
            "valid email address",
        ),
        ("ann", "ann@example.com", "short", "at least 8 characters"),
        (
            long.as_str(),
            "ann@example.com",
            "password1",
            "username is too long",
        ),
        (
            "ann",
            long_email.as_str(),
            "password1",
            "email address is too long",
        ),
    ] {
        let (status, body) = app.register(username, email, password).await;
        assert_eq!(status, 400, "{username:?} {email:?} {password:?}: {body}");
        assert!(body.contains(expected), "{expected}: {body}");
    }
    assert_eq!(app.stored().len(), 0);
    // Exactly 100 characters (not bytes) is fine.
    let hundred = "é".repeat(100);
    assert_eq!(
        app.register(&hundred, "ann@example.com", "password1")
            .await
            .0,
        303
    );
}

#[tokio::test]
async fn a_body_that_is_not_a_form_is_refused_with_4xx_and_bad_utf8_is_not_a_500() {
    let app = common::start().await;
    let resp = app
        .client
        .post(format!("{}/register", app.base))
        .header("content-type", "application/json")
        .body(r#"{"username":"ann"}"#)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    assert_eq!(status.as_u16(), 415);
    let body = resp.text().await.unwrap();
    assert!(body.contains("<form"), "{body}");
    let token = app.token(&app.client).await;
    let encoded: String = token.bytes().map(|b| format!("%{b:02X}")).collect();
    let resp = app
        .client
        .post(format!("{}/register", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "username=%FF%FE&email=a%40b&password=password1&csrf_token={encoded}"
        ))
        .send()
        .await
        .unwrap();
    // Invalid UTF-8 in a field is decoded lossily (as axum's Form does):
    // stored as replacement characters, never a 500.
    assert_eq!(resp.status().as_u16(), 303);
    let users = app.stored();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].username, "\u{FFFD}\u{FFFD}");
}

#[tokio::test]
async fn hostile_input_is_stored_as_data_and_shown_escaped() {
    let app = common::start().await;
    let hostile = [
        ("'; DROP TABLE user; --", "drop@example.com"),
        (r#"<script>alert("x")</script>"#, "script@example.com"),
        (
            r#"O'Brien "Bob" & <b>co</b>"#,
            r#""<b>'x'</b>"@example.com"#,
        ),
        ("Ünïcødé 用户 🦀", "ünï@例え.jp"),
        (
            "Robert'); DELETE FROM user WHERE ('1'='1",
            "bobby@example.com",
        ),
    ];
    for (username, email) in hostile {
        let (status, body) = app.register(username, email, "pass'word\"1").await;
        assert_eq!(status, 303, "{username}: {body}");
    }
    let users = app.stored();
    let stored: Vec<(String, String)> = users
        .iter()
        .map(|u| (u.username.clone(), u.user_email.clone()))
        .collect();
    // Stored as typed, in canonical (lower-case) form; the table intact.
    let expected: Vec<(String, String)> = hostile
        .iter()
        .map(|(u, e)| (u.to_lowercase(), e.to_lowercase()))
        .collect();
    assert_eq!(stored, expected);

    let (status, page) = app.get("/users").await;
    assert_eq!(status, 200);
    assert!(!page.contains("<script>"), "{page}");
    assert!(!page.contains("<b>"), "{page}");
    for expected in [
        "<li>&#x27;; drop table user; --</li>",
        "<li>&lt;script&gt;alert(&quot;x&quot;)&lt;&#x2f;script&gt;</li>",
        "<li>o&#x27;brien &quot;bob&quot; &amp; &lt;b&gt;co&lt;&#x2f;b&gt;</li>",
        "<li>ünïcødé 用户 🦀</li>",
    ] {
        assert!(page.contains(expected), "{expected}: {page}");
    }

    // Shown again in a form after a refusal: escaped inside the attribute.
    let (status, body) = app
        .register(r#""><script>alert(1)</script>"#, "no-at-sign", "password1")
        .await;
    assert_eq!(status, 400);
    assert!(
        body.contains(r#"value="&quot;&gt;&lt;script&gt;alert(1)&lt;&#x2f;script&gt;""#),
        "{body}"
    );
    assert!(!body.contains("<script>"), "{body}");
    // And a duplicate of a hostile name is a 409, not a 500.
    let (status, _) = app
        .register("'; DROP TABLE user; --", "other@example.com", "password1")
        .await;
    assert_eq!(status, 409);
    assert_eq!(app.stored().len(), hostile.len());
}

#[tokio::test]
async fn users_lists_the_tutorial_users_in_order() {
    let app = common::start().await;
    let (status, page) = app.get("/users").await;
    assert_eq!(status, 200);
    assert!(page.contains("No users registered yet."), "{page}");

    assert_eq!(
        app.register("Demo User", "demo@example.com", "demo-password")
            .await
            .0,
        303
    );
    assert_eq!(
        app.register("Peter", "peter@example.com", "peter-password")
            .await
            .0,
        303
    );
    let (status, page) = app.get("/users").await;
    assert_eq!(status, 200);
    let demo = page.find("<li>demo user</li>").expect("Demo User listed");
    let peter = page.find("<li>peter</li>").expect("Peter listed");
    assert!(demo < peter, "{page}");
    assert!(!page.contains("example.com"), "only usernames: {page}");
    assert!(!page.contains("argon2"), "{page}");
    assert_eq!(app.stored().len(), 2);
}
