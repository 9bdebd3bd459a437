//! The blog's four routes over HTTP (axum's Router called in-process), as
//! the reference Flask app behaves: a tag's posts three to a page with
//! their authors and tags, a post with its comments, edit (redirect after
//! POST, `updated_at` set), delete (comments go with it), 404s, and HTML
//! escaping by the templates; forms refused without their CSRF token or
//! from another origin; page links; the stylesheet.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use blog::{Comment, Post, Tag, User};
use orm::prelude::*;
use tower::ServiceExt;

fn seeded() -> Database {
    let db = Database::builder()
        .model::<Post>()
        .open("sqlite://")
        .unwrap();
    db.create_all().unwrap();
    blog::seed(&db.session()).unwrap();
    db
}

/// A response: status, body, `Location`, `Set-Cookie`.
struct Reply {
    status: StatusCode,
    body: String,
    location: String,
    cookie: String,
}

/// Run one request to completion on a runtime of its own (the app's
/// units of work go to its blocking pool), with `headers`.
fn send(
    db: &Database,
    method: &str,
    uri: &str,
    form: Option<&str>,
    headers: &[(&str, &str)],
) -> Reply {
    let app = blog::app(db.clone());
    let mut req = Request::builder().method(method).uri(uri);
    if form.is_some() {
        req = req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    }
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let req = req.body(Body::from(form.unwrap_or("").to_owned())).unwrap();
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async move {
            let res = app.oneshot(req).await.unwrap();
            let status = res.status();
            let text = |name| {
                res.headers()
                    .get(name)
                    .map(|v: &header::HeaderValue| v.to_str().unwrap().to_owned())
                    .unwrap_or_default()
            };
            let (location, cookie) = (text(header::LOCATION), text(header::SET_COOKIE));
            let body = axum::body::to_bytes(res.into_body(), 1 << 20)
                .await
                .unwrap();
            Reply {
                status,
                body: String::from_utf8(body.to_vec()).unwrap(),
                location,
                cookie,
            }
        })
}

/// What a browser holds after showing a post: the CSRF cookie (as a
/// `Cookie` header) and the token of the post's forms.
fn browser_state(db: &Database) -> (String, String) {
    let id: i64 = db
        .session()
        .query::<Post>()
        .first()
        .unwrap()
        .unwrap()
        .get(Post::id)
        .unwrap();
    let page = send(db, "GET", &format!("/posts/{id}"), None, &[]);
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let cookie = page.cookie.split(';').next().unwrap().to_owned();
    let token = web_kit::csrf::token_in(&page.body).expect("a token in the post's forms");
    (cookie, token)
}

fn percent_encoded(text: &str) -> String {
    text.bytes().map(|b| format!("%{b:02X}")).collect()
}

/// A form sent as from the post's page: its fields, the token, the cookie.
/// Status, body, `Location`.
fn request(
    db: &Database,
    method: &str,
    uri: &str,
    form: Option<&str>,
) -> (StatusCode, String, String) {
    let r = if method == "POST" {
        let (cookie, token) = browser_state(db);
        let fields = form.unwrap_or("");
        let form = format!("{fields}&csrf_token={}", percent_encoded(&token));
        send(db, method, uri, Some(&form), &[("cookie", &cookie)])
    } else {
        send(db, method, uri, form, &[])
    };
    (r.status, r.body, r.location)
}

fn get(db: &Database, uri: &str) -> (StatusCode, String) {
    let (status, body, _) = request(db, "GET", uri, None);
    (status, body)
}

#[test]
fn the_seed_is_the_reference_apps() {
    let db = seeded();
    let s = db.session();
    assert_eq!(s.query::<User>().count().unwrap(), 2);
    assert_eq!(s.query::<Post>().count().unwrap(), 7);
    assert_eq!(s.query::<Tag>().count().unwrap(), 2);
    // Comments: i % 3 per post i in 1..8: 1+2+0+1+2+0+1.
    assert_eq!(s.query::<Comment>().count().unwrap(), 7);
    let post4 = s
        .query::<Post>()
        .filter(Post::title.eq("Post 4"))
        .one()
        .unwrap();
    let author = post4.related(Post::author).unwrap().unwrap();
    assert_eq!(author.get(User::username).unwrap(), "bob");
    let post6 = s
        .query::<Post>()
        .filter(Post::title.eq("Post 6"))
        .one()
        .unwrap();
    let mut tags: Vec<String> = post6
        .related(Post::tags)
        .unwrap()
        .iter()
        .map(|t| t.get(Tag::name).unwrap())
        .collect();
    tags.sort();
    assert_eq!(tags, ["rust", "web"]);
    assert!(
        post6.get(Post::created_at).unwrap().timestamp() > 1_700_000_000,
        "default = Utc::now"
    );
}

#[test]
fn a_tag_page_lists_three_posts_with_authors_and_tags_and_pages_through_them() {
    let db = seeded();
    let mut seen = Vec::new();
    for page in 1..=3 {
        let (status, html) = get(&db, &format!("/tags/rust?page={page}"));
        assert_eq!(status, StatusCode::OK, "{html}");
        assert!(html.contains("<h1>Posts tagged rust</h1>"), "{html}");
        assert!(html.contains(&format!("page {page} of 3")), "{html}");
        let items = html.matches("<li>").count();
        assert_eq!(items, if page < 3 { 3 } else { 1 }, "{html}");
        for n in 1..=7 {
            if html.contains(&format!(">Post {n}</a>")) {
                seen.push(n);
                let author = if n % 2 == 0 { "bob" } else { "ann" };
                let tags = if n % 3 == 0 { "rust, web" } else { "rust" };
                assert!(
                    html.contains(&format!(">Post {n}</a> by {author} [{tags}]")),
                    "{html}"
                );
            }
        }
        assert_eq!(html.contains("older</a>"), page < 3);
        assert_eq!(html.contains("newer</a>"), page > 1);
    }
    seen.sort();
    assert_eq!(seen, [1, 2, 3, 4, 5, 6, 7], "every post once");
    let (_, web) = get(&db, "/tags/web");
    assert!(
        web.contains("page 1 of 1") && web.matches("<li>").count() == 2,
        "{web}"
    );
    assert_eq!(get(&db, "/tags/rust?page=4").0, StatusCode::NOT_FOUND);
    assert_eq!(get(&db, "/tags/rust?page=x").0, StatusCode::NOT_FOUND);
}

#[test]
fn a_post_shows_its_comments_and_404s_when_missing() {
    let db = seeded();
    let id = db
        .session()
        .query::<Post>()
        .filter(Post::title.eq("Post 5"))
        .one()
        .unwrap()
        .get(Post::id)
        .unwrap();
    let (status, html) = get(&db, &format!("/posts/{id}"));
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("<h1>Post 5</h1>") && html.contains("<p>body 5</p>"),
        "{html}"
    );
    assert!(html.contains("<li>carol: comment 0 on 5</li>"), "{html}");
    assert!(html.contains("<li>carol: comment 1 on 5</li>"), "{html}");
    assert!(html.contains("created 20"), "{html}");
    assert_eq!(get(&db, "/posts/999").0, StatusCode::NOT_FOUND);
}

#[test]
fn editing_a_post_redirects_and_escapes_what_was_typed() {
    let db = seeded();
    let (status, _, location) = request(
        &db,
        "POST",
        "/posts/1",
        Some("title=%3Cscript%3Ealert(1)%3C%2Fscript%3E"),
    );
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location, "/posts/1");
    let (_, html) = get(&db, "/posts/1");
    assert!(
        html.contains("<h1>&lt;script&gt;alert(1)&lt;&#x2f;script&gt;</h1>"),
        "{html}"
    );
    let post = db.session().get_or_not_found::<Post>(1).unwrap();
    assert!(
        post.get(Post::updated_at).unwrap().is_some(),
        "onupdate = Utc::now"
    );
    assert_eq!(
        request(&db, "POST", "/posts/999", Some("title=x")).0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        request(&db, "POST", "/posts/1", Some("nothing=here")).0,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a form without a title is refused"
    );
}

#[test]
fn deleting_a_post_takes_its_comments_and_links_with_it() {
    let db = seeded();
    let s = db.session();
    let post = s
        .query::<Post>()
        .filter(Post::title.eq("Post 5"))
        .one()
        .unwrap();
    let id = post.get(Post::id).unwrap();
    let (status, _, location) = request(&db, "POST", &format!("/posts/{id}/delete"), None);
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/tags/rust")
    );
    let s = db.session();
    assert_eq!(s.query::<Post>().count().unwrap(), 6);
    assert_eq!(
        s.query::<Comment>().count().unwrap(),
        5,
        "its two comments went with it"
    );
    assert_eq!(
        s.query::<blog::PostTag>().count().unwrap(),
        8,
        "its tag link too"
    );
    assert_eq!(get(&db, &format!("/posts/{id}")).0, StatusCode::NOT_FOUND);
    assert_eq!(
        request(&db, "POST", &format!("/posts/{id}/delete"), None).0,
        StatusCode::NOT_FOUND
    );
}

#[test]
fn edits_and_deletes_without_the_token_or_from_another_site_are_refused() {
    let db = seeded();
    let (cookie, token) = browser_state(&db);
    let with_token = format!("title=Hacked&csrf_token={}", percent_encoded(&token));
    for (uri, form, headers, case) in [
        (
            "/posts/1",
            "title=Hacked",
            vec![("cookie", cookie.as_str())],
            "no token",
        ),
        ("/posts/1", with_token.as_str(), vec![], "no cookie"),
        (
            "/posts/1",
            with_token.as_str(),
            vec![
                ("cookie", cookie.as_str()),
                ("origin", "https://evil.example"),
            ],
            "another origin",
        ),
        (
            "/posts/1",
            with_token.as_str(),
            vec![
                ("cookie", cookie.as_str()),
                ("sec-fetch-site", "cross-site"),
            ],
            "a cross-site fetch",
        ),
        (
            "/posts/1/delete",
            "",
            vec![("cookie", cookie.as_str())],
            "delete, no token",
        ),
        (
            "/posts/1/delete",
            with_token.as_str(),
            vec![("cookie", cookie.as_str()), ("origin", "null")],
            "delete from a file:// page",
        ),
    ] {
        let r = send(&db, "POST", uri, Some(form), &headers);
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{case}: {}", r.body);
    }
    let post = db.session().get_or_not_found::<Post>(1).unwrap();
    assert_eq!(post.get(Post::title).unwrap(), "Post 1", "unchanged");
    // With both, from the blog's own page, the edit goes through.
    let r = send(
        &db,
        "POST",
        "/posts/1",
        Some(&with_token),
        &[
            ("cookie", &cookie),
            ("origin", "http://localhost"),
            ("host", "localhost"),
        ],
    );
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
}

#[test]
fn pages_link_to_each_other_and_to_the_stylesheet() {
    let db = seeded();
    let (_, first) = get(&db, "/tags/rust");
    assert!(
        first.contains(r#"<a href="?page=2" rel="next">older</a>"#),
        "{first}"
    );
    let (_, second) = get(&db, "/tags/rust?page=2");
    assert!(
        second.contains(r#"<a href="?page=1" rel="prev">newer</a>"#),
        "{second}"
    );
    assert!(
        second.contains(r#"<a href="?page=3" rel="next">older</a>"#),
        "{second}"
    );
    let (_, post) = get(&db, "/posts/1");
    for html in [&first, &post] {
        assert!(
            html.contains(r#"<link rel="stylesheet" href="/static/style.css">"#),
            "{html}"
        );
    }
    assert!(
        post.contains(r#"<form method="post" action="/posts/1/delete">"#),
        "{post}"
    );
    let css = send(&db, "GET", "/static/style.css", None, &[]);
    assert_eq!(css.status, StatusCode::OK);
    assert!(css.body.contains("font"), "{}", css.body);
}
