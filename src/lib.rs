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
//! | `version` | integer field | the version counter: checked and bumped by every UPDATE and DELETE (SQLAlchemy's `version_id_col`; see section 9) |
//! | `validate = check` | field | `check(&value)` at flush, before any statement (SQLAlchemy's `@validates`) |
//! | `hooks` | struct | the flush calls the model's [`Hooks`] (SQLAlchemy's mapper events) |
//! | `table = "users"` | struct | another table name |
//! | `has_many(pets = Pet, backref = "owner")` | struct | one-to-many, plus the reverse accessor on `Pet` |
//! | `has_one(..)`, `belongs_to(..)`, `many_to_many(tags = Tag, secondary = PostTag)` | struct | other relationships; `post_update` in one writes its foreign key by a second UPDATE, for rows that reference each other |
//! | `index(a, b)`, `unique(a, b)` | struct | multi-column index / UNIQUE index |
//! | `soft_delete`, `soft_delete = "removed_at"` | struct | deleting sets the field (`deleted_at` by default, an `Option` of a [`types::Now`] type) instead of deleting the row; queries leave such rows out (section 10) |
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
//! ## 9. Savepoints, version counters, events
//!
//! What SQLAlchemy users reach for once the tutorials are done, each with
//! SQLAlchemy's name beside ours.
//!
//! | SQLAlchemy | orm |
//! |---|---|
//! | `with session.begin_nested():` | [`Session::nested`]`(\|s\| ...)`; or [`Session::begin_nested`] and [`Savepoint::commit`] / [`Savepoint::rollback`] |
//! | `version_id_col` and `StaleDataError` | `#[orm(version)] version: i64` and [`Error::StaleData`] |
//! | `sessionmaker(expire_on_commit=...)` | [`DatabaseBuilder::expire_on_commit`], [`Session::set_expire_on_commit`] (off by default) |
//! | `relationship(..., post_update=True)` | `belongs_to(favorite = Ball, foreign_key = favorite_id, post_update)` |
//! | `@event.listens_for(Model, "before_insert")` | `#[orm(hooks)]` and `impl orm::Hooks for Model` |
//! | `@event.listens_for(session, "before_flush")` (`after_commit`, `after_rollback`) | [`DatabaseBuilder::on_before_flush`], [`Session::on_before_flush`] (`on_after_commit`, `on_after_rollback`) |
//! | `@validates("email")` | `#[orm(validate = check_email)]`, failing with [`Error::Validation`] |
//!
//! **Savepoints.** A rollback to a savepoint undoes what came after it,
//! in the database and in the objects (values, states, the identity map,
//! collections); the transaction goes on. A failed flush inside one leaves
//! the rest of the transaction usable.
//!
//! ```
//! use orm::prelude::*;
//!
//! #[derive(Model, Debug, Default)]
//! struct Tag { #[orm(primary_key)] id: i64, #[orm(unique)] name: String }
//!
//! # fn main() -> orm::Result<()> {
//! let db = Database::builder().model::<Tag>().open("sqlite://")?;
//! db.create_all()?;
//! let session = db.session();
//! for name in ["rust", "sql", "rust"] {
//!     // SAVEPOINT; the closure; RELEASE on Ok, ROLLBACK TO on Err
//!     let added = session.nested(|s| {
//!         s.add(Tag { name: name.into(), ..Default::default() })?;
//!         s.flush()
//!     });
//!     if let Err(e) = added {
//!         assert_eq!(e.constraint_kind(), Some(ConstraintKind::Unique));
//!     }
//! }
//! session.commit()?;
//! assert_eq!(db.session().query::<Tag>().count()?, 2);
//! # Ok(()) }
//! ```
//!
//! **Version counters** (optimistic concurrency): two sessions load the
//! same row and change it; the first commit wins, the second gets
//! [`Error::StaleData`] naming the model and key, with its flush rolled
//! back and its objects as before it. Statements:
//! `UPDATE "doc" SET "body" = ?, "version" = ? WHERE "doc"."id" = ? AND "doc"."version" = ?`
//! and `DELETE FROM "doc" WHERE "doc"."id" = ? AND "doc"."version" = ?`; a
//! new row starts at 1.
//!
//! ```
//! use orm::prelude::*;
//!
//! #[derive(Model, Debug, Default)]
//! struct Doc { #[orm(primary_key)] id: i64, body: String, #[orm(version)] version: i64 }
//!
//! # fn main() -> orm::Result<()> {
//! let db = Database::builder().model::<Doc>().open("sqlite://")?;
//! db.create_all()?;
//! db.transaction(|s| s.add(Doc::default()).map(drop))?;
//! let (alice, bob) = (db.session(), db.session());
//! let a = alice.get_or_not_found::<Doc>(1)?;
//! let b = bob.get_or_not_found::<Doc>(1)?;
//! a.write()?.body = "alice's".into();
//! alice.commit()?;                                   // version 1 -> 2
//! b.write()?.body = "bob's".into();
//! let err = bob.commit().unwrap_err();               // WHERE version = 1 matched nothing
//! assert!(matches!(err, orm::Error::StaleData { model: "Doc", .. }));
//! bob.rollback()?;
//! bob.refresh(&b)?;                                  // read alice's version, decide again
//! assert_eq!((b.read()?.body.as_str(), b.read()?.version), ("alice's", 2));
//! # Ok(()) }
//! ```
//!
//! **`expire_on_commit`** is off by default, unlike Flask-SQLAlchemy:
//! objects keep their values after a commit, with no SQL, so a handler can
//! commit and then render what it wrote. Turn it on (builder or session)
//! to have every object reloaded on its next access after a commit (one
//! SELECT per object touched, and its relationships reloaded); see
//! [`Session::set_expire_on_commit`] for the reasoning.
//!
//! **`post_update`**: a person's favorite ball is one of the balls that
//! point at the person. Without the option, inserting both in one flush is
//! a cycle ([`Error::Schema`]); with it the person is inserted with
//! `favorite_ball_id` NULL and an UPDATE sets it once the ball exists (and
//! a delete sets it to NULL first).
//!
//! ```
//! use orm::prelude::*;
//!
//! #[derive(Model, Debug, Default)]
//! #[orm(has_many(balls = Ball, backref = "person"))]
//! #[orm(belongs_to(favorite_ball = Ball, foreign_key = favorite_ball_id, post_update))]
//! struct Person {
//!     #[orm(primary_key)] id: i64,
//!     #[orm(foreign_key = Ball::id)] favorite_ball_id: Option<i64>,
//! }
//!
//! #[derive(Model, Debug, Default)]
//! struct Ball { #[orm(primary_key)] id: i64, #[orm(foreign_key = Person::id)] person_id: Option<i64> }
//!
//! # fn main() -> orm::Result<()> {
//! let db = Database::builder().model::<Person>().open("sqlite://")?;
//! db.create_all()?;
//! let session = db.session();
//! let ann = session.add(Person::default())?;
//! let ball = Obj::new(Ball::default());
//! ann.append(Person::balls, &ball)?;
//! ann.set_related(Person::favorite_ball, Some(&ball))?;
//! let rec = db.record();
//! session.commit()?;
//! assert_eq!(rec.sql()[1..4], [
//!     r#"INSERT INTO "person" ("favorite_ball_id") VALUES (?)"#,       // NULL
//!     r#"INSERT INTO "ball" ("person_id") VALUES (?)"#,
//!     r#"UPDATE "person" SET "favorite_ball_id" = ? WHERE "person"."id" = ?"#,
//! ]);
//! # Ok(()) }
//! ```
//!
//! **Events and validators.** Model hooks run in the flush, around each
//! object's statement; `before_*` hooks may change the object and the
//! statement writes the change. Session hooks are closures. Validators run
//! at flush before any statement. A hook or validator that refuses fails
//! the flush, which changes nothing; a hook calling back into the session
//! (a flush, a commit, from a model hook even a query) gets
//! [`Error::Usage`].
//!
//! ```
//! use orm::prelude::*;
//!
//! fn has_at(email: &String) -> Result<(), &'static str> {
//!     if email.contains('@') { Ok(()) } else { Err("needs an @") }
//! }
//!
//! #[derive(Model, Debug, Default)]
//! #[orm(hooks)]
//! struct User {
//!     #[orm(primary_key)] id: i64,
//!     #[orm(validate = has_at)] email: String,
//!     email_lower: String,
//! }
//!
//! impl orm::Hooks for User {
//!     fn before_insert(&mut self) -> orm::Result<()> {
//!         self.email_lower = self.email.to_lowercase();
//!         Ok(())
//!     }
//! }
//!
//! # fn main() -> orm::Result<()> {
//! let db = Database::builder()
//!     .model::<User>()
//!     .on_after_commit(|_| println!("committed"))
//!     .open("sqlite://")?;
//! db.create_all()?;
//! let session = db.session();
//! let u = session.add(User { email: "Ann@Example.com".into(), ..Default::default() })?;
//! session.commit()?;
//! assert_eq!(u.read()?.email_lower, "ann@example.com");
//! session.add(User { email: "nobody".into(), ..Default::default() })?;
//! let err = session.commit().unwrap_err();
//! assert_eq!(err.to_string(), "invalid User.email: needs an @");
//! # Ok(()) }
//! ```
//!
//! ## 10. Beyond the unit of work: joins, eager collections, upsert, bulk, streams, soft delete
//!
//! | SQLAlchemy | orm |
//! |---|---|
//! | `select(User, Post).outerjoin(User.posts)` | `s.query::<User>().outer_join(User::posts).models::<(User, Option<Post>)>()` ([`Query::outer_join`], [`Query::models`]) |
//! | `query.outerjoin(User.posts).filter(Post.id == None)` | `.outer_join(User::posts).filter(Post::id.is_absent())` |
//! | `joinedload(User.posts)` (a collection) | `.load(joined(User::posts))`: one SELECT, each user once, limits count users |
//! | `insert(User).on_conflict_do_update(index_elements=[...], set_=...)` | `s.upsert(rows).on_conflict(User::email).update(User::name).run()` ([`Session::upsert`]), inserted or updated per row |
//! | `session.execute(insert(User).returning(User), [...])`, `bulk_insert_mappings` | [`Session::bulk_insert`] (objects), [`Session::bulk_insert_detached`] (values): multi-row `INSERT ... RETURNING` |
//! | `session.execute(update(User), [{"id": 1, ...}, ...])` | [`Session::bulk_update`]`([(1, vec![User::name.set("x")]), ...])` |
//! | `for u in session.scalars(select(User).execution_options(yield_per=1000))` | `for u in s.query::<User>().yield_per(1000).iter()? { let u = u?; ... }` ([`Query::iter`], [`Query::iter_detached`]) |
//! | soft delete recipe (`with_loader_criteria`, `include_deleted`) | `#[orm(soft_delete)]`, [`Query::with_deleted`], [`Query::hard_delete`] |
//!
//! ```
//! use orm::prelude::*;
//!
//! #[derive(Model, Debug, Default)]
//! #[orm(soft_delete, has_many(posts = Post, backref = "author"))]
//! struct User {
//!     id: i64,
//!     #[orm(unique)]
//!     email: String,
//!     name: String,
//!     deleted_at: Option<String>, // NULL: not deleted
//! }
//!
//! #[derive(Model, Debug, Default)]
//! struct Post { id: i64, #[orm(foreign_key = User::id)] user_id: i64, title: String }
//!
//! # fn main() -> orm::Result<()> {
//! let db = Database::builder().model::<Post>().open("sqlite://")?;
//! db.create_all()?;
//! let s = db.session();
//!
//! // Bulk insert: one multi-row INSERT ... RETURNING "id".
//! let user = |email: &str, name: &str| User { email: email.into(), name: name.into(), ..Default::default() };
//! let users = s.bulk_insert([user("ann@x", "Ann"), user("bob@x", "Bob")])?;
//! s.bulk_insert_detached([Post { user_id: 1, title: "hello".into(), ..Default::default() }])?;
//!
//! // Upsert on a unique column: bob is updated in place, cid inserted.
//! let done = s.upsert([user("bob@x", "Robert"), user("cid@x", "Cid")]).on_conflict(User::email).run()?;
//! assert_eq!((done[0].inserted, done[1].inserted), (false, true));
//! assert!(done[0].obj == users[1]);
//! assert_eq!(users[1].get(User::name)?, "Robert");
//!
//! // (User, Option<Post>) pairs through a LEFT OUTER JOIN.
//! let pairs = s.query::<User>().outer_join(User::posts).order_by(User::id).models::<(User, Option<Post>)>().all()?;
//! assert_eq!(pairs.len(), 3);
//! assert!(pairs[0].1.is_some() && pairs[1].1.is_none());
//!
//! // A collection in the same SELECT; the limit counts users.
//! let first = s.query::<User>().load(joined(User::posts)).order_by(User::id).limit(1).all()?;
//! assert_eq!(first[0].related(User::posts)?.len(), 1);
//!
//! // Stream without holding the whole result.
//! let mut names = Vec::new();
//! for u in s.query::<User>().order_by(User::id).yield_per(100).iter()? {
//!     names.push(u?.get(User::name)?);
//! }
//! assert_eq!(names, ["Ann", "Robert", "Cid"]);
//!
//! // Soft delete: an UPDATE of deleted_at; queries leave the row out.
//! s.delete(&users[0])?;
//! s.commit()?;
//! assert_eq!(s.query::<User>().count()?, 2);
//! assert_eq!(s.query::<User>().with_deleted().count()?, 3);
//! # Ok(()) }
//! ```
//!
//! How each works, and what it does to objects in the session, is on its
//! method: bulk and upsert statements run at once in the session's
//! transaction and leave no trace when they fail; a stream holds the
//! session's connection while it is open (other statements get
//! [`Error::SessionBusy`]); a soft-deleted row still holds its unique
//! values (a new row with the same email fails), a soft-deleted parent
//! keeps its children (delete cascades still delete them, softly where
//! their model has `soft_delete`), the database's own `ON DELETE` actions
//! do not run, and an upsert that meets a soft-deleted row updates it (with
//! the default columns, setting its `deleted_at` back to NULL).
//!
//! ## Where to find things
//!
//! - [`Database`], [`DatabaseBuilder`]: opening, settings, `create_all`,
//!   [`Database::record`] for asserting which statements ran.
//! - [`Session`]: `add`, `get`, `delete`, `flush`, `commit`, `rollback`,
//!   `expire`, `refresh`, raw SQL; savepoints ([`Savepoint`]) and session
//!   hooks; [`Hooks`] for model hooks.
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
