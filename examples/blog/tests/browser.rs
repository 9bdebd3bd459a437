//! The blog in a real browser: headless Chromium driven through
//! chromedriver (WebDriver). Page through a tag, edit a post, delete it.
//! Writes `docs/screenshots/blog.png`.
//!
//! Skipped, with a line on stderr, where Chromium or chromedriver is
//! missing; under `CI=true` that fails instead. tests/http.rs runs the same
//! routes without a browser.

use blog::Post;
use fantoccini::Locator;
use orm::prelude::*;
use web_kit::browser::Browser;

/// The seeded blog served on a free port of 127.0.0.1.
async fn serve() -> (Database, String) {
    let db = Database::builder()
        .model::<Post>()
        .open("sqlite://")
        .unwrap();
    db.create_all().unwrap();
    blog::seed(&db.session()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = blog::app(db.clone());
    tokio::spawn(async move {
        web_kit::Settings::default()
            .serve(listener, app, std::future::pending())
            .await
            .unwrap()
    });
    (db, base)
}

/// The titles of the posts listed on the page.
async fn titles(browser: &Browser) -> Vec<String> {
    let mut titles = Vec::new();
    for link in browser
        .find_all(Locator::Css("ul.items li a"))
        .await
        .unwrap()
    {
        titles.push(link.text().await.unwrap());
    }
    titles
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_through_a_tag_edit_a_post_and_delete_it() {
    let Some(browser) = Browser::start("page_through_a_tag_edit_a_post_and_delete_it").await else {
        return;
    };
    let (db, base) = serve().await;
    browser.goto(&format!("{base}/tags/rust")).await.unwrap();
    assert_eq!(browser.text("h1").await, "Posts tagged rust");
    let screenshot = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/screenshots/blog.png"
    );
    browser
        .screenshot_to(std::path::Path::new(screenshot))
        .await;

    // Page through: older, older, then newer; every post seen once.
    let mut seen = titles(&browser).await;
    assert_eq!(browser.text("nav.pages span").await, "page 1 of 3");
    for page in 2..=3 {
        browser.click_through("a[rel=next]").await;
        let label = browser.text("nav.pages span").await;
        assert_eq!(label, format!("page {page} of 3"));
        seen.extend(titles(&browser).await);
    }
    assert!(
        browser.find(Locator::Css("a[rel=next]")).await.is_err(),
        "no page 4"
    );
    seen.sort();
    let all: Vec<String> = (1..=7).map(|i| format!("Post {i}")).collect();
    assert_eq!(seen, all);
    browser.click_through("a[rel=prev]").await;
    assert_eq!(browser.text("nav.pages span").await, "page 2 of 3");

    // Open the first post of that page and edit its title.
    let first = titles(&browser).await.remove(0);
    browser.click_through("ul.items li a").await;
    assert_eq!(browser.text("h1").await, first);
    let post_url = browser.current_url().await.unwrap();
    let title = browser.find(Locator::Id("title")).await.unwrap();
    title.clear().await.unwrap();
    title
        .send_keys("Edited in <Chromium> & saved")
        .await
        .unwrap();
    browser.click_through("form.row button").await;
    assert_eq!(browser.text("h1").await, "Edited in <Chromium> & saved");
    assert_eq!(
        browser.current_url().await.unwrap(),
        post_url,
        "redirected back"
    );
    let id: i64 = post_url.path().rsplit('/').next().unwrap().parse().unwrap();
    let stored = db.session().get_or_not_found::<Post>(id).unwrap();
    assert_eq!(
        stored.get(Post::title).unwrap(),
        "Edited in <Chromium> & saved"
    );
    assert!(stored.get(Post::updated_at).unwrap().is_some());

    // Delete it: back on the tag's first page, the post gone.
    browser.click_through("button.danger").await;
    assert_eq!(browser.text("h1").await, "Posts tagged rust");
    assert_eq!(browser.current_url().await.unwrap().path(), "/tags/rust");
    assert_eq!(browser.text("nav.pages span").await, "page 1 of 2");
    let session = db.session();
    assert_eq!(session.query::<Post>().count().unwrap(), 6);
    assert!(session.get::<Post>(id).unwrap().is_none());
    browser.close().await;
}
