//! The registration app in a real browser: headless Chromium driven
//! through chromedriver (WebDriver). Register, see the success page,
//! refresh (nothing posted twice), a duplicate, an empty field; another
//! site's form (a `file://` page, a page on another port) refused. Writes
//! `docs/screenshots/registration.png`.
//!
//! Skipped, with a line on stderr, where Chromium or chromedriver is
//! missing; under `CI=true` that fails instead. tests/http.rs runs the same
//! flows without a browser.

mod common;

use fantoccini::Locator;
use registration::{SUCCESS_MESSAGE, TAKEN_MESSAGE};
use web_kit::browser::Browser;

/// Type into the form's fields and press Register.
async fn fill_in(browser: &Browser, username: &str, email: &str, password: &str) {
    for (id, value) in [
        ("username", username),
        ("email", email),
        ("password", password),
    ] {
        let field = browser.find(Locator::Id(id)).await.unwrap();
        field.clear().await.unwrap();
        field.send_keys(value).await.unwrap();
    }
    browser.click_through("button[type=submit]").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_refresh_duplicate_and_empty_field() {
    let Some(browser) = Browser::start("register_refresh_duplicate_and_empty_field").await else {
        return;
    };
    let app = common::start().await;
    let form = format!("{}/register", app.base);
    browser.goto(&form).await.unwrap();
    assert_eq!(browser.text("h1").await, "Create an account");
    // The stylesheet applied: the button is the accent colour, not grey.
    let button = browser.find(Locator::Css("button")).await.unwrap();
    let colour = button.css_value("background-color").await.unwrap();
    assert!(colour.contains("47, 91, 211"), "{colour}");
    let screenshot = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/screenshots/registration.png"
    );
    browser
        .screenshot_to(std::path::Path::new(screenshot))
        .await;

    // Register: redirected to the users page, which says so once.
    fill_in(&browser, "Ann", "Ann@Example.com", "correct horse battery").await;
    assert_eq!(browser.text(".flash.ok").await, SUCCESS_MESSAGE);
    let url = browser.current_url().await.unwrap();
    assert_eq!(url.path(), "/users");
    assert_eq!(browser.text("ul.items li").await, "ann");

    // Refresh: a GET of the users page, no second POST, no "already
    // registered", and the message gone.
    let page = browser.find(Locator::Css("html")).await.unwrap();
    browser.refresh().await.unwrap();
    browser.wait_for_new_page(page).await;
    assert_eq!(browser.text("h1").await, "Registered users");
    let page = browser.source().await.unwrap();
    assert!(!page.contains(SUCCESS_MESSAGE), "{page}");
    assert!(!page.contains("already registered"), "{page}");
    assert_eq!(app.stored().len(), 1);

    // A duplicate (the same name in another case): the form again, one
    // message, the fields kept.
    browser.goto(&form).await.unwrap();
    fill_in(&browser, "ANN", "other@example.com", "password-two").await;
    assert_eq!(browser.text(".flash.error li").await, TAKEN_MESSAGE);
    let email = browser.find(Locator::Id("email")).await.unwrap();
    assert_eq!(
        email.prop("value").await.unwrap().as_deref(),
        Some("other@example.com")
    );
    let password = browser.find(Locator::Id("password")).await.unwrap();
    assert_eq!(password.prop("value").await.unwrap().as_deref(), Some(""));

    // An empty field (spaces pass the browser's `required`): the server
    // says which.
    browser.goto(&form).await.unwrap();
    fill_in(&browser, "   ", "bob@example.com", "password-three").await;
    assert_eq!(
        browser.text(".flash.error li").await,
        "Please enter a username."
    );
    assert_eq!(app.stored().len(), 1);
    browser.close().await;
}

/// A page of another origin that posts the registration form to the app as
/// soon as it loads (no token: it cannot read one), as an attacker's would.
fn attack_page(target: &str) -> String {
    format!(
        r#"<!doctype html><html><body>
<form method="post" action="{target}/register">
<input name="username" value="victim-made-me"><input name="email" value="victim@example.com">
<input name="password" value="attacker-knows-it"><input name="csrf_token" value="forged">
</form>
<script>document.forms[0].submit()</script>
</body></html>"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_on_another_origin_cannot_register() {
    let Some(browser) = Browser::start("a_form_on_another_origin_cannot_register").await else {
        return;
    };
    let app = common::start().await;
    // The victim has used the app: the browser holds its CSRF cookie.
    browser
        .goto(&format!("{}/register", app.base))
        .await
        .unwrap();
    browser.text("h1").await;

    // From a file on disk (Origin: null).
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("attack.html");
    std::fs::write(&file, attack_page(&app.base)).unwrap();
    browser
        .goto(&format!("file://{}", file.display()))
        .await
        .unwrap();
    let target = format!("{}/register", app.base);
    browser.wait_for_url(&target).await;
    let refused = browser.text("body").await;
    assert!(
        refused.contains("Cross-origin request refused"),
        "{refused}"
    );

    // From a site on another port of the same host: same-site but another
    // origin, so the cookie goes along; the Origin check refuses it.
    let evil = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let evil_base = format!("http://{}", evil.local_addr().unwrap());
    let page = attack_page(&app.base);
    let router = axum::Router::new().route(
        "/",
        axum::routing::get(move || async move { axum::response::Html(page) }),
    );
    tokio::spawn(async move { axum::serve(evil, router).await.unwrap() });
    browser.goto(&format!("{evil_base}/")).await.unwrap();
    browser.wait_for_url(&target).await;
    let refused = browser.text("body").await;
    assert!(
        refused.contains("Cross-origin request refused"),
        "{refused}"
    );

    assert_eq!(app.stored().len(), 0, "no account made by another site");
    browser.close().await;
}
