//! The Flask-SQLAlchemy reference blog (`flask-blog.py`) on axum and orm.
use axum::extract::{Path, State};
use axum::{Router, response::Html, response::Redirect, routing::get, routing::post};
use minijinja::{Environment, Value, context, path_loader};
use orm::prelude::*;
use orm::types::chrono::{DateTime, Utc};
use orm::web::{Paging, Result};
use web_kit::{CsrfForm, FormToken};

#[derive(Model, Debug, Default)]
#[orm(has_many(posts = Post, backref = "author"))]
pub struct User {
    pub id: i64,
    #[orm(max_length = 80, unique)]
    pub username: String,
    #[orm(max_length = 120, unique)]
    pub email: String,
    #[orm(default = Utc::now)]
    pub created_at: DateTime<Utc>,
}

#[derive(Model, Debug, Default)]
#[orm(many_to_many(tags = Tag, secondary = PostTag, backref = "posts"))]
#[orm(has_many(comments = Comment, backref = "post", cascade = "all, delete-orphan"))]
pub struct Post {
    pub id: i64,
    #[orm(max_length = 200)]
    pub title: String,
    pub body: String,
    #[orm(foreign_key = User::id, index)]
    pub author_id: i64,
    #[orm(default = Utc::now)]
    pub created_at: DateTime<Utc>,
    #[orm(onupdate = Utc::now)]
    pub updated_at: Option<DateTime<Utc>>,
}

#[derive(Model, Debug, Default)]
pub struct Tag {
    pub id: i64,
    #[orm(max_length = 50, unique)]
    pub name: String,
}

#[derive(Model, Debug, Default)]
pub struct PostTag {
    #[orm(primary_key, foreign_key = Post::id)]
    pub post_id: i64,
    #[orm(primary_key, foreign_key = Tag::id)]
    pub tag_id: i64,
}

#[derive(Model, Debug, Default)]
pub struct Comment {
    pub id: i64,
    #[orm(foreign_key = Post::id)]
    pub post_id: i64,
    #[orm(max_length = 80)]
    pub commenter: String,
    pub body: String,
    #[orm(default = Utc::now)]
    pub created_at: DateTime<Utc>,
}

pub fn seed(s: &Session) -> orm::Result<()> {
    let user = |n: &str| orm::obj!(User, username = n, email = format!("{n}@example.com"));
    let (ann, bob) = (user("ann"), user("bob"));
    let (rust, web) = (orm::obj!(Tag, name = "rust"), orm::obj!(Tag, name = "web"));
    for i in 1..8 {
        let (title, body) = (format!("Post {i}"), format!("body {i}"));
        let p = orm::obj!(Post { title, body }).with(Post::author, [&bob, &ann][i % 2])?;
        let every_third = (i % 3 == 0).then_some(&web);
        p.assign(Post::tags, std::iter::once(&rust).chain(every_third))?;
        let body = |c| format!("comment {c} on {i}");
        let comment = |c| orm::obj!(Comment, commenter = "carol", body = body(c));
        p.assign(Post::comments, (0..i % 3).map(comment))?;
    }
    s.add_all([ann, bob])?;
    s.commit()
}

fn render(name: &str, ctx: Value) -> Result<Html<String>> {
    static TEMPLATES: std::sync::LazyLock<Environment> = std::sync::LazyLock::new(|| {
        let (mut env, dir) = (Environment::new(), env!("CARGO_MANIFEST_DIR"));
        env.set_loader(path_loader(format!("{dir}/templates"))); // .html is escaped
        env
    });
    Ok(Html(TEMPLATES.get_template(name)?.render(ctx)?))
}

async fn by_tag(db: State<Database>, Path(tag): Path<String>, p: Paging) -> Result<Html<String>> {
    db.run(move |s| {
        let posts = s.query::<Post>().join(Post::tags);
        let posts = posts.filter(Tag::name.eq(&tag)).load(selectin(Post::tags));
        let posts = posts.load(selectin(Post::author));
        let posts = posts.order_by(Post::created_at.desc());
        let page = posts.paginate(p.page, p.per_page(3))?;
        render("tag.html", context! { tag, page })
    })
    .await
}

async fn show_post(db: State<Database>, Path(id): Path<i64>, t: FormToken) -> Result<Html<String>> {
    db.run(move |s| {
        let posts = s.query::<Post>().load(selectin(Post::comments));
        let p = posts.get_or_not_found(id)?;
        render("post.html", context! { p, csrf => t })
    })
    .await
}

#[derive(serde::Deserialize)]
struct Edit {
    title: String,
}

async fn edit(db: State<Database>, Path(id): Path<i64>, f: CsrfForm<Edit>) -> Result<Redirect> {
    let title = f.0.title;
    db.run_transaction(move |s| s.get_or_not_found(id)?.set(Post::title, title.clone()))
        .await?;
    Ok(Redirect::to(&format!("/posts/{id}")))
}

async fn delete_post(db: State<Database>, Path(id): Path<i64>, _: CsrfForm) -> Result<Redirect> {
    db.run_transaction(move |s| s.delete(&s.get_or_not_found::<Post>(id)?))
        .await?;
    Ok(Redirect::to("/tags/rust"))
}

pub fn app(db: Database) -> Router {
    let app = Router::new()
        .route("/tags/{tag}", get(by_tag))
        .route("/posts/{id}", get(show_post).post(edit))
        .route("/posts/{id}/delete", post(delete_post));
    web_kit::harden(app.with_state(db)) // CSRF, limits, timeouts, headers, stylesheet
}
