//! The blog's four routes over HTTP (axum's Router called in-process), as
//! the reference Flask app behaves: a tag's posts three to a page with
//! their authors and tags, a post with its comments, edit (redirect after
//! POST, `updated_at` set), delete (comments go with it), 404s, and HTML
//! escaping by the templates.

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

/// Run one request to completion on a runtime of its own (the app's
/// units of work go to its blocking pool).
fn request(
    db: &Database,
    method: &str,
    uri: &str,
    form: Option<&str>,
) -> (StatusCode, String, String) {
    let app = blog::app(db.clone());
    let mut req = Request::builder().method(method).uri(uri);
    if form.is_some() {
        req = req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    }
    let req = req.body(Body::from(form.unwrap_or("").to_owned())).unwrap();
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async move {
            let res = app.oneshot(req).await.unwrap();
            let status = res.status();
            let location = res
                .headers()
                .get(header::LOCATION)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            let body = axum::body::to_bytes(res.into_body(), 1 << 20)
                .await
                .unwrap();
            (status, String::from_utf8(body.to_vec()).unwrap(), location)
        })
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
    assert!(html.contains("<p>created 20"), "{html}");
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
