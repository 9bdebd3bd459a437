//! # orm: the Flask-SQLAlchemy experience in Rust
//!
//! The package is `session-orm`; its library is `orm`, so code says
//! `use orm::prelude::*;` (`cargo add session-orm`).
//!
//! A synchronous, embeddable ORM for SQLite: one plain struct per table,
//! `create_all`, a session with an identity map and a unit of work, typed
//! queries, and relationships with backrefs. This guide walks the two
//! Flask-SQLAlchemy tutorials the crate was designed from; every example
//! runs as a test.
//!
//! ## 1. Models
//!
//! A model is a plain struct with `#[derive(Model)]`. `Option<T>` means
//! nullable; attributes add what `db.Column(...)` arguments add in Python.
//!
//! ```
//! use orm::prelude::*;
//!
//! // class User(db.Model):
//! //     id = db.Column(db.Integer, primary_key=True)
//! //     username = db.Column(db.String(50), unique=True, nullable=False)
//! //     email = db.Column(db.String(120), unique=True, nullable=False)
//! #[derive(Model, Debug, Default)]
//! struct User {
//!     #[orm(primary_key)]
//!     id: i64,
//!     #[orm(max_length = 50, unique)]
//!     username: String,
//!     #[orm(max_length = 120, unique)]
//!     email: String,
//! }
//!
//! assert_eq!(User::table().name, "user"); // Flask-SQLAlchemy's naming rule
//! ```
//!
//! | attribute | on | meaning |
//! |---|---|---|
//! | `primary_key` | field | part of the primary key; one INTEGER key is SQLite's rowid, filled at flush when it is 0. Without it, a field named `id` is the key |
//! | `max_length = 50` | `String` field | `VARCHAR(50)` (SQLite, like SQLAlchemy, does not enforce the length: validate input) |
//! | `unique`, `index` | field | UNIQUE constraint, index (`ix_<table>_<column>`) |
//! | `default = now` | field | `now()` computed in Rust at insert when the field still holds its type's default (SQLAlchemy's `default=now`); `fn now() -> T` |
//! | `onupdate = now` | field | `now()` written by every UPDATE of the row that does not set the field itself (SQLAlchemy's `onupdate=now`) |
//! | `default = 0` | field | a literal `DEFAULT` in the DDL, for rows written by other programs |
//! | `server_default = "CURRENT_TIMESTAMP"` | field | an SQL expression `DEFAULT (...)` in the DDL (SQLAlchemy's `server_default`); orm's own inserts still write the field |
//! | `column = "name"` | field | another column name |
//! | `foreign_key = Parent::id` | field | a foreign key, type-checked at compile time (or `"table.column"`) |
//! | `on_delete = "cascade"` | field | `ON DELETE` (also `"set null"`, `"restrict"`, ...) |
//! | `skip` | field | not a column (filled with `Default` when loading) |
//! | `table = "users"` | struct | another table name |
//! | `has_many(pets = Pet, backref = "owner")` | struct | one-to-many, plus the reverse accessor on `Pet` |
//! | `has_one(..)`, `belongs_to(..)`, `many_to_many(tags = Tag, secondary = PostTag)` | struct | other relationships |
//! | `index(a, b)`, `unique(a, b)` | struct | multi-column index / UNIQUE index |
//!
//! Mistakes are compile errors that point at the attribute and say what to
//! write instead.
//!
//! ## 2. A database and its tables
//!
//! [`Database`] is a pool of connections plus the registered models. URLs
//! take SQLAlchemy's forms: `sqlite:///app.db` (relative), `sqlite:////abs.db`,
//! and `sqlite://` for a private in-memory database.
//!
//! ```
//! # use orm::prelude::*;
//! # #[derive(Model, Debug, Default)]
//! # struct User { #[orm(primary_key)] id: i64, #[orm(max_length = 50, unique)] username: String }
//! # fn main() -> orm::Result<()> {
//! let db = Database::builder().model::<User>().open("sqlite://")?;
//! db.create_all()?; // CREATE TABLE IF NOT EXISTS, parents before children
//! # Ok(()) }
//! ```
//!
//! ## 3. The session: add, commit, query, change, delete
//!
//! [`Session`] is `db.session`: it tracks objects and writes their changes
//! in one transaction at [`commit`](Session::commit). [`Session::add`]
//! returns an [`Obj`], a shared handle to the tracked object; read it with
//! [`Obj::read`] and change it with [`Obj::write`].
//!
//! ```
//! # use orm::prelude::*;
//! # #[derive(Model, Debug, Default)]
//! # struct User { #[orm(primary_key)] id: i64, #[orm(max_length = 50, unique)] username: String, #[orm(max_length = 120, unique)] email: String }
//! # fn main() -> orm::Result<()> {
//! # let db = Database::builder().model::<User>().open("sqlite://")?;
//! # db.create_all()?;
//! let session = db.session();
//!
//! // new_user = User(username='john', email='john@example.com')
//! // db.session.add(new_user); db.session.commit()
//! let john = session.add(User {
//!     username: "john".into(),
//!     email: "john@example.com".into(),
//!     ..Default::default()
//! })?;
//! session.commit()?;
//! assert_eq!(john.read()?.id, 1); // the generated key, written back
//!
//! // users = User.query.all()
//! let users = User::query(&session).all()?;
//! assert!(users[0] == john); // identity map: the same object, not a copy
//!
//! // user = User.query.get(1); user.username = 'new_username'; db.session.commit()
//! let user = User::query(&session).get(1)?.unwrap();
//! user.write()?.username = "new_username".into();
//! session.commit()?; // UPDATE "user" SET "username" = ? WHERE "user"."id" = ?
//!
//! // db.session.delete(user); db.session.commit()
//! session.delete(&user)?;
//! session.commit()?;
//! assert_eq!(User::query(&session).count()?, 0);
//! # Ok(()) }
//! ```
//!
//! If a flush fails (a unique violation, a busy database), it is rolled back
//! and every object is exactly as before, so you can fix it and retry;
//! errors are typed ([`Error`]) and name the model and columns.
//!
//! ## 4. Queries
//!
//! The derive gives each model typed column handles (`User::username`), so
//! comparing a column with a value of another type does not compile. Every
//! value is a bound parameter.
//!
//! ```
//! # use orm::prelude::*;
//! # #[derive(Model, Debug, Default)]
//! # struct User { #[orm(primary_key)] id: i64, username: String, age: i64 }
//! # fn main() -> orm::Result<()> {
//! # let db = Database::builder().model::<User>().open("sqlite://")?;
//! # db.create_all()?;
//! # let session = db.session();
//! # for (n, a) in [("ann", 31), ("bob", 17)] { session.add(User { username: n.into(), age: a, ..Default::default() })?; }
//! let adults = session
//!     .query::<User>()
//!     .filter(User::age.ge(18) & User::username.starts_with("a"))
//!     .order_by(User::username.desc())
//!     .all()?;
//! assert_eq!(adults.len(), 1);
//!
//! let page = session.query::<User>().order_by(User::id).paginate(1, 20)?;
//! assert_eq!((page.total, page.pages()), (2, 1));
//!
//! let oldest = session.query::<User>().aggregate(User::age.max())?;
//! assert_eq!(oldest, Some(31));
//!
//! // A column named at run time (a search form, a ?sort= parameter) is
//! // looked up, never spliced into SQL.
//! let by_name = session.query::<User>().filter_by("username", "bob")?.one()?;
//! assert_eq!(by_name.read()?.age, 17);
//! # Ok(()) }
//! ```
//!
//! ## 5. Relationships
//!
//! ```
//! use orm::prelude::*;
//! use orm::relation::selectin;
//!
//! // pet_category = db.relationship('PetCategory', backref='pet_handler', lazy=True)
//! #[derive(Model, Debug, Default)]
//! #[orm(has_many(pet_category = PetCategory, backref = "pet_handler"))]
//! struct PetHandler {
//!     #[orm(primary_key)]
//!     handler_id: i64,
//!     #[orm(max_length = 150)]
//!     handler_name: String,
//! }
//!
//! #[derive(Model, Debug, Default)]
//! struct PetCategory {
//!     #[orm(primary_key)]
//!     pet_id: i64,
//!     #[orm(max_length = 100)]
//!     pet_name: String,
//!     #[orm(foreign_key = PetHandler::handler_id)]
//!     handler_id: i64,
//! }
//!
//! # fn main() -> orm::Result<()> {
//! let db = Database::builder().model::<PetHandler>().open("sqlite://")?;
//! db.create_all()?;
//! let session = db.session();
//! let sam = session.add(PetHandler { handler_name: "Sam".into(), ..Default::default() })?;
//! let rex = Obj::new(PetCategory { pet_name: "Rex".into(), ..Default::default() });
//! sam.append(PetHandler::pet_category, &rex)?; // rex joins the session too
//! session.commit()?;                          // rex.handler_id filled from sam
//! assert_eq!(rex.read()?.handler_id, sam.read()?.handler_id);
//!
//! // Both directions, lazily (one query on first access)...
//! let handler = rex.related(PetCategory::pet_handler)?.unwrap();
//! assert_eq!(handler.read()?.handler_name, "Sam");
//!
//! // ...or eagerly, one query per level for a whole result. Objects stay
//! // attached while their session lives; keep it in a variable.
//! let reader = db.session();
//! let handlers = reader
//!     .query::<PetHandler>()
//!     .load(selectin(PetHandler::pet_category))
//!     .all()?;
//! assert_eq!(handlers[0].related(PetHandler::pet_category)?.len(), 1);
//! # Ok(()) }
//! ```
//!
//! ## 6. Short forms
//!
//! | SQLAlchemy | orm |
//! |---|---|
//! | `Post(title="Hi", author=bob, tags=[rust])` | `orm::obj!(Post, title = "Hi").with(Post::author, &bob)?.with_all(Post::tags, [&rust])?` |
//! | `post.title` | `post.get(Post::title)?` |
//! | `post.title = "New"` | `post.set(Post::title, "New".into())?` |
//! | `post.comments = [c1, c2]` | `post.assign(Post::comments, [c1, c2])?` (orphans deleted with `delete-orphan`) |
//! | `column.in_([...])` | `column.in_list([...])` |
//! | `default=now`, `onupdate=now` | `#[orm(default = Utc::now)]`, `#[orm(onupdate = Utc::now)]` |
//! | `server_default=func.now()` | `#[orm(server_default = "CURRENT_TIMESTAMP")]` |
//!
//! ```
//! use orm::prelude::*;
//!
//! #[derive(Model, Debug, Default)]
//! #[orm(has_many(posts = Post, backref = "author"))]
//! struct User { id: i64, name: String }
//!
//! #[derive(Model, Debug, Default)]
//! struct Post { id: i64, title: String, #[orm(foreign_key = User::id)] author_id: i64 }
//!
//! # fn main() -> orm::Result<()> {
//! let db = Database::builder().model::<Post>().open("sqlite://")?;
//! db.create_all()?;
//! let session = db.session();
//! let bob = session.add(orm::obj!(User, name = "bob"))?;
//! let post = orm::obj!(Post, title = "Hi").with(Post::author, &bob)?; // joins bob's session
//! session.commit()?;
//! post.set(Post::title, "Hello".into())?;
//! session.commit()?;
//! assert_eq!(post.get(Post::title)?, "Hello");
//! assert_eq!(post.get(Post::author_id)?, bob.get(User::id)?);
//! # Ok(()) }
//! ```
//!
//! ## 7. In a web app
//!
//! A [`Session`] blocks and is `!Send`: async code does not touch one
//! directly. [`Database::run`] (feature `tokio`) runs a unit of work with
//! a new session on tokio's blocking pool, as many at once as the pool has
//! connections, and hands back its result; [`Database::run_transaction`]
//! also commits, and retries what the database says can be retried. With
//! feature `axum`, orm's errors are responses (not found 404, a duplicate
//! 409, a busy database 503, the rest 500 with the cause logged, never
//! sent), [`web::WebError`] carries any other error through `?`, and
//! [`web::Paging`] reads `?page=&per_page=`. With feature `serde`, objects
//! and pages serialize, with the relationships loaded on them, so they go
//! straight into templates. `examples/blog` is Flask-SQLAlchemy's reference
//! blog built this way; what a web app needs besides its database (CSRF
//! protection, request and header timeouts, security headers) is in
//! `examples/web-kit`, which it and `examples/registration` use.
//!
//! ```
//! # #[cfg(all(feature = "axum", feature = "serde"))]
//! # mod example {
//! use axum::extract::{Path, State};
//! use orm::prelude::*;
//! use orm::web::{Paging, Result};
//!
//! #[derive(Model, Debug, Default)]
//! #[orm(has_many(posts = Post, backref = "author"))]
//! pub struct User { id: i64, name: String }
//!
//! #[derive(Model, Debug, Default)]
//! pub struct Post { id: i64, title: String, #[orm(foreign_key = User::id)] author_id: i64 }
//!
//! // @app.get("/posts") -> db.paginate(db.select(Post)), with each post's author
//! async fn posts(db: State<Database>, page: Paging) -> Result<String> {
//!     db.run(move |s| {
//!         let posts = s.query::<Post>().order_by(Post::id).load(selectin(Post::author));
//!         let page = posts.paginate(page.page, page.per_page(20))?;
//!         Ok(serde_json::to_string(&page)?) // or a template: page.items[0].author.name
//!     })
//!     .await
//! }
//!
//! // @app.post("/posts/<int:id>") -> db.get_or_404(Post, id).title = ...; commit
//! async fn rename(db: State<Database>, Path((id, title)): Path<(i64, String)>) -> Result<()> {
//!     db.run_transaction(move |s| s.get_or_not_found(id)?.set(Post::title, title.clone()))
//!         .await?; // a missing post is a 404
//!     Ok(())
//! }
//!
//! pub fn app(db: Database) -> axum::Router {
//!     axum::Router::new()
//!         .route("/posts", axum::routing::get(posts))
//!         .route("/posts/{id}/{title}", axum::routing::post(rename))
//!         .with_state(db)
//! }
//! # }
//! ```
//!
//! ## 8. Migrations
//!
//! `create_all` creates missing tables and never alters one. When the models
//! change after the first release, [`migrate`] does what Flask-Migrate does:
//! it compares the models with the live database and writes a reviewable SQL
//! revision, then applies it. Your binary runs the `db` command
//! ([`migrate::Command`]: `db revision --autogenerate -m "..."`, `db upgrade`,
//! `db downgrade`, `db check`, ...); programs that migrate at start-up use
//! [`migrate::Migrator`]. `docs/migrations.md` walks the whole path.
//!
//! ```
//! use orm::prelude::*;
//! use orm::migrate::{Migrations, Migrator};
//!
//! #[derive(Model, Debug, Default)]
//! struct User {
//!     #[orm(primary_key)]
//!     id: i64,
//!     #[orm(max_length = 50, unique)]
//!     username: String,
//! }
//!
//! # fn main() -> orm::Result<()> {
//! # let dir = tempfile::tempdir().unwrap();
//! # let url = format!("sqlite:///{}", dir.path().join("app.db").display());
//! // A table another program made, without the UNIQUE constraint.
//! let old = Database::open(&url)?;
//! let s = old.session();
//! s.execute("CREATE TABLE user (id INTEGER NOT NULL, username VARCHAR(50) NOT NULL, PRIMARY KEY (id))", &[])?;
//! s.commit()?;
//!
//! // Opening logs a warning naming the difference...
//! let db = Database::builder().model::<User>().open(&url)?;
//! let differences: Vec<String> = db.check_schema()?.iter().map(|d| d.drift()).collect();
//! assert_eq!(differences, [r#"table "user" lacks the model's UNIQUE (username)"#]);
//!
//! // ...`db revision --autogenerate` writes the revision, `db upgrade` applies it.
//! let folder = dir.path().join("migrations");
//! std::fs::create_dir(&folder).unwrap();
//! let revision = Migrator::new(&db, &Migrations::new()).autogenerate("unique usernames")?.unwrap();
//! revision.write_to(&folder)?;
//! let migrations = Migrations::from_dir(&folder)?;
//! Migrator::new(&db, &migrations).upgrade("head")?;
//! assert!(db.check_schema()?.is_empty());
//! # Ok(()) }
//! ```
//!
//! ## Where to find things
//!
//! - [`Database`], [`DatabaseBuilder`]: opening, settings, `create_all`,
//!   [`Database::record`] for asserting which statements ran.
//! - [`Session`]: `add`, `get`, `delete`, `flush`, `commit`, `rollback`,
//!   `expire`, `refresh`, raw SQL.
//! - [`Query`], [`query`]: filters, ordering, terminals, pages, aggregates.
//! - [`relation`]: relationship handles, `related` / `append` / `remove` /
//!   `set_related`, `selectin` and `joined` loading.
//! - [`types`]: how Rust types map to columns; [`SqlEnum`] for enums.
//! - [`migrate`]: reading and comparing schemas, revisions, the `db`
//!   command, diagrams of the models.
//! - [`Error`]: every failure, with predicates such as
//!   [`Error::is_not_found`].
//!
//! ## Cargo features
//!
//! None is on by default. Each adds column types and re-exports the crate
//! it stores, so a model can name the very version orm implements
//! [`ColumnType`] for. On docs.rs every feature is on, and the items that
//! need one are marked "Available on crate feature ... only".
//!
//! | feature | column types | declared as | re-export |
//! |---|---|---|---|
//! | `chrono` | `NaiveDate`, `NaiveDateTime`, `DateTime<Utc>` | `DATE`, `DATETIME` | `orm::types::chrono` |
//! | `time` | `Date`, `PrimitiveDateTime`, `OffsetDateTime` | `DATE`, `DATETIME` | `orm::types::time` |
//! | `uuid` | `Uuid` (32 hex digits, as SQLAlchemy's `Uuid`) | `CHAR(32)` | `orm::types::uuid` |
//! | `json` | `serde_json::Value` (JSON text) | `JSON` | `orm::types::serde_json` |
//!
//! | feature | adds |
//! |---|---|
//! | `postgres` | the PostgreSQL backend (`postgresql://` URLs), on the `postgres` crate |
//! | `postgres-tls` | TLS for it (`?sslmode=require`), with native-tls |
//! | `tokio` | [`Database::run`] and [`Database::run_transaction`]: units of work from async code |
//! | `axum` | [`web`]: errors as responses, [`web::Paging`]; implies `tokio` |
//! | `serde` | `Serialize` for objects (fields and loaded relationships) and pages |
//!
//! ## Stability
//!
//! Every item documented here is public API, under Cargo's semver rules
//! (see the README). `orm::__private`, `orm::__fuzz`, every
//! `#[doc(hidden)]` item and every name starting with `__` exist for the
//! code `#[derive(Model)]` generates and for the fuzz targets: they may
//! change in any release.

// docs.rs and CI's docs step pass `--cfg docsrs`: feature badges (see
// orm-core's lib.rs for where a `cfg` must go so they show here too).
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use orm_core::*;

/// The README's code blocks run as doc tests, so the quickstart stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
