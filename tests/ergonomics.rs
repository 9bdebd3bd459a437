//! The short forms a Flask-SQLAlchemy user reaches for: a field read or
//! written in one expression (`post.get(Post::title)`, `post.set(...)`),
//! relationships given when an object is made (`Obj::new(..).with(..)`),
//! and whole collections assigned (`post.assign(Post::comments, [...])`).
//! On every backend (see `common`).

mod common;

use orm::prelude::*;

#[derive(Model, Debug, Default)]
#[orm(has_many(posts = Post, backref = "author"))]
pub struct User {
    #[orm(primary_key)]
    pub id: i64,
    #[orm(max_length = 80, unique)]
    pub username: String,
}

#[derive(Model, Debug, Default)]
#[orm(many_to_many(tags = Tag, secondary = PostTag, backref = "posts"))]
#[orm(has_many(comments = Comment, backref = "post", cascade = "all, delete-orphan"))]
#[orm(has_many(notes = Note, backref = "post"))]
pub struct Post {
    #[orm(primary_key)]
    pub id: i64,
    pub title: String,
    #[orm(foreign_key = User::id)]
    pub author_id: i64,
}

#[derive(Model, Debug, Default)]
pub struct Tag {
    #[orm(primary_key)]
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
    #[orm(primary_key)]
    pub id: i64,
    pub body: String,
    #[orm(foreign_key = Post::id)]
    pub post_id: i64,
}

/// A child without delete-orphan: replaced items keep their row, with no
/// parent.
#[derive(Model, Debug, Default)]
pub struct Note {
    #[orm(primary_key)]
    pub id: i64,
    pub body: String,
    #[orm(foreign_key = Post::id)]
    pub post_id: Option<i64>,
}

fn user(name: &str) -> Obj<User> {
    Obj::new(User {
        username: name.into(),
        ..Default::default()
    })
}

fn tag(name: &str) -> Obj<Tag> {
    Obj::new(Tag {
        name: name.into(),
        ..Default::default()
    })
}

fn comment(body: &str) -> Obj<Comment> {
    Obj::new(Comment {
        body: body.into(),
        ..Default::default()
    })
}

fn note(body: &str) -> Obj<Note> {
    Obj::new(Note {
        body: body.into(),
        ..Default::default()
    })
}

fn post(title: &str) -> Obj<Post> {
    Obj::new(Post {
        title: title.into(),
        ..Default::default()
    })
}

fn bodies(post: &Obj<Post>) -> Vec<String> {
    post.related(Post::comments)
        .unwrap()
        .iter()
        .map(|c| c.get(Comment::body).unwrap())
        .collect()
}

#[test]
fn get_and_set_read_and_write_one_field_without_a_guard() {
    let db = common::fresh::<Post>();
    let s = db.session();
    let ann = s
        .add(User {
            username: "ann".into(),
            ..Default::default()
        })
        .unwrap();
    s.commit().unwrap();
    assert_eq!(ann.get(User::username).unwrap(), "ann");
    assert_eq!(ann.get(User::id).unwrap(), 1);

    let rec = db.record();
    ann.set(User::username, "anna".into()).unwrap();
    s.commit().unwrap();
    assert_eq!(
        rec.sql(),
        common::sqls([
            "BEGIN IMMEDIATE",
            r#"UPDATE "user" SET "username" = ? WHERE "user"."id" = ?"#,
            "COMMIT",
        ]),
        "set is tracked like write(): only the changed column"
    );
    let again = db.session().get_or_not_found::<User>(1).unwrap();
    assert_eq!(again.get(User::username).unwrap(), "anna");

    // A guard alive: a typed error, and nothing changed.
    let guard = ann.read().unwrap();
    assert!(matches!(
        ann.set(User::username, "x".into()),
        Err(Error::BorrowConflict { .. })
    ));
    drop(guard);
    let guard = ann.write().unwrap();
    assert!(matches!(
        ann.get(User::username),
        Err(Error::BorrowConflict { .. })
    ));
    drop(guard);
    assert_eq!(ann.get(User::username).unwrap(), "anna");
    let rec = db.record();
    s.commit().unwrap();
    assert!(
        !rec.sql().iter().any(|q| q.starts_with("UPDATE")),
        "the refused set wrote nothing: {:?}",
        rec.sql()
    );

    // An expired object is reloaded by get, as by read().
    s.expire(&ann).unwrap();
    assert_eq!(ann.get(User::username).unwrap(), "anna");
}

#[test]
fn relationships_given_when_an_object_is_made_join_the_session_with_it() {
    let db = common::fresh::<Post>();
    let s = db.session();
    let bob = s.add(user("bob")).unwrap();
    let (rust, web) = (tag("rust"), tag("web"));
    let p = post("Post 1")
        .with(Post::author, &bob)
        .unwrap()
        .with_all(Post::tags, [&rust, &web])
        .unwrap()
        .with_all(Post::comments, [comment("a"), comment("b")])
        .unwrap();
    // In memory at once, both ends.
    assert!(p.related(Post::author).unwrap().unwrap() == bob);
    assert!(bob.related(User::posts).unwrap()[0] == p);
    assert!(rust.related(Tag::posts).unwrap()[0] == p);
    assert_eq!(p.state(), ObjState::Pending, "joined bob's session");
    s.commit().unwrap();

    let s2 = db.session();
    let p2 = s2
        .get_or_not_found::<Post>(p.get(Post::id).unwrap())
        .unwrap();
    assert_eq!(p2.get(Post::author_id).unwrap(), bob.get(User::id).unwrap());
    let names: Vec<String> = p2
        .related(Post::tags)
        .unwrap()
        .iter()
        .map(|t| t.get(Tag::name).unwrap())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(sorted, ["rust", "web"]);
    let mut got = bodies(&p2);
    got.sort();
    assert_eq!(got, ["a", "b"]);
}

#[test]
fn assign_replaces_a_collection_deleting_orphans_in_the_given_order() {
    let db = common::fresh::<Post>();
    let s = db.session();
    let bob = s.add(user("bob")).unwrap();
    let p = post("p").with(Post::author, &bob).unwrap();
    let (a, b, c) = (comment("a"), comment("b"), comment("c"));
    p.assign(Post::comments, [&a, &b, &c]).unwrap();
    s.commit().unwrap();

    // Keep c and a (in that order), drop b, add d; a given twice counts once.
    let d = comment("d");
    p.assign(Post::comments, [&c, &a, &d, &a]).unwrap();
    assert_eq!(bodies(&p), ["c", "a", "d"], "the collection in memory");
    assert_eq!(b.state(), ObjState::Deleted, "b is an orphan: deleted");
    s.commit().unwrap();
    let mut rows: Vec<String> = db
        .session()
        .query::<Comment>()
        .all_detached()
        .unwrap()
        .into_iter()
        .map(|c| c.body)
        .collect();
    rows.sort();
    assert_eq!(rows, ["a", "c", "d"]);

    // Assigning nothing empties it.
    p.assign(Post::comments, Vec::<Obj<Comment>>::new())
        .unwrap();
    s.commit().unwrap();
    assert_eq!(db.session().query::<Comment>().count().unwrap(), 0);
}

#[test]
fn assign_without_delete_orphan_clears_the_foreign_key_and_keeps_the_rows() {
    let db = common::fresh::<Post>();
    let s = db.session();
    let bob = s.add(user("bob")).unwrap();
    let p = post("p").with(Post::author, &bob).unwrap();
    let (x, y) = (note("x"), note("y"));
    p.assign(Post::notes, [&x, &y]).unwrap();
    s.commit().unwrap();
    let id = p.get(Post::id).unwrap();
    assert_eq!(y.get(Note::post_id).unwrap(), Some(id));

    p.assign(Post::notes, [&x]).unwrap();
    s.commit().unwrap();
    assert_eq!(y.get(Note::post_id).unwrap(), None);
    assert_eq!(y.state(), ObjState::Persistent);
    assert_eq!(db.session().query::<Note>().count().unwrap(), 2);
}

#[test]
fn assign_to_a_many_to_many_writes_only_the_changed_links() {
    let db = common::fresh::<Post>();
    let s = db.session();
    let bob = s.add(user("bob")).unwrap();
    let (rust, web, db_tag) = (tag("rust"), tag("web"), tag("db"));
    let p = post("p")
        .with(Post::author, &bob)
        .unwrap()
        .with_all(Post::tags, [&rust, &web])
        .unwrap();
    s.commit().unwrap();
    let rec = db.record();
    p.assign(Post::tags, [&web, &db_tag]).unwrap();
    s.commit().unwrap();
    let sql = rec.sql();
    let inserts = sql
        .iter()
        .filter(|q| q.starts_with("INSERT INTO \"post_tag\""))
        .count();
    let deletes = sql
        .iter()
        .filter(|q| q.starts_with("DELETE FROM \"post_tag\""))
        .count();
    assert_eq!((inserts, deletes), (1, 1), "{sql:#?}");
    assert_eq!(db.session().query::<PostTag>().count().unwrap(), 2);
    assert!(rust.related(Tag::posts).unwrap().is_empty());
}

#[test]
fn assign_with_objects_of_another_session_changes_nothing() {
    let db = common::fresh::<Post>();
    let (s1, s2) = (db.session(), db.session());
    let bob = s1.add(user("bob")).unwrap();
    let p = s1.add(post("p")).unwrap();
    p.set_related(Post::author, Some(&bob)).unwrap();
    let mine = comment("mine");
    p.assign(Post::comments, [&mine]).unwrap();
    let theirs = s2.add(comment("theirs")).unwrap();
    let err = p
        .assign(Post::comments, [comment("new"), theirs.clone()])
        .unwrap_err();
    assert!(matches!(err, Error::WrongSession { .. }), "{err:?}");
    assert_eq!(bodies(&p), ["mine"], "checked before any change");
    assert_eq!(mine.state(), ObjState::Pending);
    s1.commit().unwrap();
    assert_eq!(db.session().query::<Comment>().count().unwrap(), 1);
}

/// Seven posts tagged "rust", three of them "web" too.
fn seven_posts(db: &Database) {
    let s = db.session();
    let bob = s.add(user("bob")).unwrap();
    let (rust, web) = (tag("rust"), tag("web"));
    for i in 1..=7 {
        let p = post(&format!("Post {i}")).with(Post::author, &bob).unwrap();
        p.append(Post::tags, &rust).unwrap();
        if i % 3 == 0 || i == 7 {
            p.append(Post::tags, &web).unwrap();
        }
    }
    s.commit().unwrap();
}

#[test]
fn count_limit_and_pages_count_objects_across_a_join_to_a_collection() {
    let db = common::fresh::<Post>();
    seven_posts(&db);
    let s = db.session();
    let tagged = || {
        s.query::<Post>()
            .join(Post::tags)
            .filter(Tag::name.in_list(["rust", "web"]))
    };
    assert_eq!(tagged().count().unwrap(), 7, "posts, not join rows (10)");
    assert_eq!(tagged().all().unwrap().len(), 7);
    assert_eq!(tagged().limit(5).all().unwrap().len(), 5);
    let mut seen = Vec::new();
    for n in 1..=3 {
        let page = tagged().order_by(Post::id).paginate(n, 3).unwrap();
        assert_eq!((page.total, page.pages()), (7, 3));
        seen.extend(page.items.iter().map(|p| p.get(Post::id).unwrap()));
    }
    assert_eq!(seen, [1, 2, 3, 4, 5, 6, 7], "each post on one page, once");
    // A filter on the joined collection still filters.
    let web = s
        .query::<Post>()
        .join(Post::tags)
        .filter(Tag::name.eq("web"))
        .count()
        .unwrap();
    assert_eq!(web, 3);
    // Tuples are join rows, as in SQL.
    let pairs: Vec<(String, String)> = s
        .query::<Post>()
        .join(Post::tags)
        .select((Post::title, Tag::name))
        .all()
        .unwrap();
    assert_eq!(pairs.len(), 10);
}

#[test]
fn ordering_objects_by_a_column_of_a_joined_collection_is_refused() {
    let db = common::fresh::<Post>();
    seven_posts(&db);
    let err = db
        .session()
        .query::<Post>()
        .join(Post::tags)
        .order_by(Tag::name)
        .all()
        .unwrap_err();
    assert!(
        err.to_string().contains("column of a joined collection"),
        "{err}"
    );
}

// Values computed in Rust: `default = f` at insert, `onupdate = f` at
// every UPDATE (Flask-SQLAlchemy's `default=now`, `onupdate=now`), and a
// server-side default in the DDL (`server_default`).

static CLOCK: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(1000);

/// A clock that ticks on every call.
fn tick() -> i64 {
    CLOCK.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
}

#[derive(Model, Debug, Default)]
pub struct Entry {
    #[orm(primary_key)]
    pub id: i64,
    #[orm(max_length = 40, unique)]
    pub name: String,
    #[orm(default = tick)]
    pub created: i64,
    #[orm(onupdate = tick)]
    pub updated: Option<i64>,
    #[orm(server_default = "CURRENT_TIMESTAMP")]
    pub stamp: Option<String>,
}

fn entry(name: &str) -> Entry {
    Entry {
        name: name.into(),
        ..Default::default()
    }
}

#[test]
fn default_fn_fills_fields_not_given_at_insert() {
    let db = common::fresh::<Entry>();
    let s = db.session();
    let a = s.add(entry("a")).unwrap();
    let given = s
        .add(Entry {
            created: 7,
            ..entry("b")
        })
        .unwrap();
    assert_eq!(
        a.get(Entry::created).unwrap(),
        0,
        "computed at flush, not before"
    );
    s.commit().unwrap();
    let created = a.get(Entry::created).unwrap();
    assert!(created >= 1000, "{created}");
    assert_eq!(
        given.get(Entry::created).unwrap(),
        7,
        "a given value is kept"
    );
    assert_eq!(
        a.get(Entry::updated).unwrap(),
        None,
        "onupdate is not an insert default"
    );
    let row = db
        .session()
        .query::<Entry>()
        .filter(Entry::name.eq("a"))
        .all_detached()
        .unwrap();
    assert_eq!(
        row[0].created, created,
        "the row holds what the object holds"
    );
}

#[test]
fn onupdate_fn_is_written_by_every_update_that_does_not_set_it() {
    let db = common::fresh::<Entry>();
    let s = db.session();
    let a = s.add(entry("a")).unwrap();
    s.commit().unwrap();
    let rec = db.record();
    s.commit().unwrap();
    assert!(
        rec.sql().is_empty(),
        "no change, no UPDATE: {:?}",
        rec.sql()
    );

    a.set(Entry::name, "a2".into()).unwrap();
    s.commit().unwrap();
    assert_eq!(
        rec.sql()[1],
        common::sql(r#"UPDATE "entry" SET "name" = ?, "updated" = ? WHERE "entry"."id" = ?"#)
    );
    let first = a.get(Entry::updated).unwrap().expect("set by the update");
    a.set(Entry::name, "a3".into()).unwrap();
    s.commit().unwrap();
    let second = a.get(Entry::updated).unwrap().unwrap();
    assert!(second > first);

    // Set by the change itself: kept.
    a.set(Entry::updated, Some(5)).unwrap();
    s.commit().unwrap();
    assert_eq!(a.get(Entry::updated).unwrap(), Some(5));
    let stored: Vec<(Option<i64>,)> = db
        .session()
        .query::<Entry>()
        .select((Entry::updated,))
        .all()
        .unwrap();
    assert_eq!(stored, [(Some(5),)]);
}

#[test]
fn a_failed_flush_takes_computed_values_back() {
    let db = common::fresh::<Entry>();
    let s = db.session();
    let a = s.add(entry("a")).unwrap();
    s.commit().unwrap();
    let dup = s.add(entry("a")).unwrap();
    a.set(Entry::name, "a".into()).unwrap();
    s.add(entry("ok")).unwrap();
    let err = s.commit().unwrap_err();
    assert_eq!(err.constraint_kind(), Some(ConstraintKind::Unique));
    assert_eq!(
        dup.get(Entry::created).unwrap(),
        0,
        "the default was taken back"
    );
    assert_eq!(dup.state(), ObjState::Pending);
    s.rollback().unwrap();
}

#[test]
fn server_default_is_an_sql_expression_in_the_ddl() {
    let db = common::fresh::<Entry>();
    let s = db.session();
    // A row written by another program, without the column: the server fills it.
    s.execute("INSERT INTO entry (name, created) VALUES ('raw', 1)", &[])
        .unwrap();
    s.commit().unwrap();
    let stamps: Vec<(Option<String>,)> = s.query::<Entry>().select((Entry::stamp,)).all().unwrap();
    let stamp = stamps[0]
        .0
        .clone()
        .expect("filled by DEFAULT (CURRENT_TIMESTAMP)");
    assert!(stamp.starts_with("20"), "{stamp}");
}

/// Large collections keep their order and their members exact past the
/// size where they start indexing members (appending is then O(1)).
#[test]
fn a_large_collection_keeps_order_and_members_through_appends_and_removes() {
    let db = common::fresh::<Post>();
    let s = db.session();
    let bob = s.add(user("bob")).unwrap();
    let p = post("p").with(Post::author, &bob).unwrap();
    let comments: Vec<Obj<Comment>> = (0..100).map(|i| comment(&format!("c{i}"))).collect();
    for c in comments.iter().chain(&comments) {
        p.append(Post::comments, c).unwrap(); // each twice: counted once
    }
    for c in comments.iter().step_by(2) {
        p.remove(Post::comments, c).unwrap();
    }
    p.append(Post::comments, &comments[0]).unwrap();
    let expected: Vec<String> = (1..100)
        .step_by(2)
        .map(|i| format!("c{i}"))
        .chain(["c0".to_string()])
        .collect();
    assert_eq!(bodies(&p), expected);
    s.commit().unwrap();
    assert_eq!(db.session().query::<Comment>().count().unwrap(), 51);
}
