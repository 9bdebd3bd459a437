//! Query-centric session features on every backend: outer joins into
//! model tuples, joined loading of collections, upsert, bulk insert and
//! update, streaming, soft delete. Exact SQL where the statements are the
//! point (written as SQLite runs them; `common::sql` gives PostgreSQL's
//! form).

mod common;

use orm::prelude::*;
use orm::relation::{joined, selectin};

mod blog {
    use orm::prelude::*;

    #[derive(Model, Debug, Default, Clone, PartialEq)]
    #[orm(table = "users", has_many(posts = Post, backref = "author"))]
    pub struct User {
        #[orm(primary_key)]
        pub id: i64,
        pub name: String,
        pub hair_color: Option<String>,
    }

    #[derive(Model, Debug, Default, Clone, PartialEq)]
    #[orm(
        table = "posts",
        has_many(comments = Comment, backref = "post"),
        many_to_many(tags = Tag, secondary = PostTag, backref = "posts")
    )]
    pub struct Post {
        #[orm(primary_key)]
        pub id: i64,
        #[orm(foreign_key = User::id)]
        pub user_id: i64,
        pub title: String,
    }

    #[derive(Model, Debug, Default, Clone, PartialEq)]
    #[orm(table = "comments")]
    pub struct Comment {
        #[orm(primary_key)]
        pub id: i64,
        #[orm(foreign_key = Post::id)]
        pub post_id: i64,
        pub text: String,
    }

    #[derive(Model, Debug, Default, Clone, PartialEq)]
    #[orm(table = "tags")]
    pub struct Tag {
        #[orm(primary_key)]
        pub id: i64,
        #[orm(unique)]
        pub name: String,
    }

    #[derive(Model, Debug, Default, Clone, PartialEq)]
    #[orm(table = "post_tags")]
    pub struct PostTag {
        #[orm(primary_key, foreign_key = Post::id)]
        pub post_id: i64,
        #[orm(primary_key, foreign_key = Tag::id)]
        pub tag_id: i64,
    }
}

use blog::{Comment, Post, PostTag, Tag, User};

fn blog_db() -> Database {
    let db = common::open(
        Database::builder()
            .model::<User>()
            .model::<Post>()
            .model::<Comment>()
            .model::<Tag>()
            .model::<PostTag>(),
    );
    db.create_all().expect("create_all");
    db
}

fn user(name: &str, hair: Option<&str>) -> User {
    User {
        name: name.into(),
        hair_color: hair.map(str::to_owned),
        ..Default::default()
    }
}

/// ann (black) with posts p1 (2 comments, tags a b) and p2; bob (brown),
/// no posts; cid (black) with post p3.
fn seed(db: &Database) {
    let s = db.session();
    let ann = s.add(user("ann", Some("black"))).unwrap();
    s.add(user("bob", Some("brown"))).unwrap();
    let cid = s.add(user("cid", Some("black"))).unwrap();
    let post = |t: &str| {
        Obj::new(Post {
            title: t.into(),
            ..Default::default()
        })
    };
    let (p1, p2, p3) = (post("p1"), post("p2"), post("p3"));
    ann.append(User::posts, &p1).unwrap();
    ann.append(User::posts, &p2).unwrap();
    cid.append(User::posts, &p3).unwrap();
    for text in ["c1", "c2"] {
        p1.append(
            Post::comments,
            &Obj::new(Comment {
                text: text.into(),
                ..Default::default()
            }),
        )
        .unwrap();
    }
    for name in ["a", "b"] {
        let tag = Obj::new(Tag {
            name: name.into(),
            ..Default::default()
        });
        p1.append(Post::tags, &tag).unwrap();
    }
    s.commit().unwrap();
}

// ---------------------------------------------------------------- outer joins

#[test]
fn outer_join_into_model_pairs_is_diesel_benchs_medium_query() {
    let db = blog_db();
    seed(&db);
    let s = db.session();
    let rec = db.record();
    let rows = s
        .query::<User>()
        .outer_join(User::posts)
        .filter(User::hair_color.eq("black"))
        .order_by(User::id)
        .order_by(Post::id)
        .models::<(User, Option<Post>)>()
        .all()
        .unwrap();
    assert_eq!(
        rec.sql(),
        [common::sql(
            r#"SELECT "users"."id", "users"."name", "users"."hair_color", "posts"."id", "posts"."user_id", "posts"."title" FROM "users" LEFT OUTER JOIN "posts" ON "posts"."user_id" = "users"."id" WHERE "users"."hair_color" = ? ORDER BY "users"."id" ASC, "posts"."id" ASC"#
        )]
    );
    let pairs: Vec<(String, Option<String>)> = rows
        .iter()
        .map(|(u, p)| {
            (
                u.get(User::name).unwrap(),
                p.as_ref().map(|p| p.get(Post::title).unwrap()),
            )
        })
        .collect();
    assert_eq!(
        pairs,
        [
            ("ann".to_string(), Some("p1".to_string())),
            ("ann".to_string(), Some("p2".to_string())),
            ("cid".to_string(), Some("p3".to_string())),
        ]
    );
    // One object per row of the database, shared by the result rows and
    // the identity map.
    assert!(rows[0].0 == rows[1].0);
    assert!(s.get::<User>(1).unwrap().unwrap() == rows[0].0);

    // Users with no post: NULL on the right side.
    let rows = s
        .query::<User>()
        .outer_join(User::posts)
        .filter(User::name.eq("bob"))
        .models::<(User, Option<Post>)>()
        .all_detached()
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0.name, "bob");
    assert_eq!(rows[0].1, None);
}

#[test]
fn inner_joins_select_several_models_and_refuse_models_not_joined() {
    let db = blog_db();
    seed(&db);
    let s = db.session();
    let rows = s
        .query::<Post>()
        .join(Post::author)
        .join(Post::comments)
        .order_by(Comment::id)
        .models::<(Post, User, Comment)>()
        .all()
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows[0].0 == rows[1].0 && rows[0].1 == rows[1].1);
    assert_eq!(rows[0].1.get(User::name).unwrap(), "ann");
    assert_eq!(rows[1].2.get(Comment::text).unwrap(), "c2");
    let err = s
        .query::<User>()
        .models::<(User, Post)>()
        .all()
        .unwrap_err();
    assert!(matches!(err, orm::Error::Usage(_)), "{err}");
    let err = s
        .query::<User>()
        .join(User::posts)
        .models::<(Post, User)>()
        .all()
        .unwrap_err();
    assert!(matches!(err, orm::Error::Usage(_)), "{err}");
}

/// The statements recorded, which must be one statement run three times,
/// and how many times SQLite ran it from `s`'s connection's cache and
/// compiled it again on the way.
fn runs_and_recompiles(s: &Session, sql: &[String]) -> (i32, i32) {
    use orm::rusqlite::StatementStatus::{RePrepare, Run};
    assert_eq!(sql.len(), 3);
    assert!(sql.iter().all(|q| *q == sql[0]), "{sql:?}");
    s.with_connection(|c| {
        c.prepare_cached(&sql[0])
            .map(|st| (st.get_status(Run), st.get_status(RePrepare)))
    })
    .unwrap()
    .unwrap()
}

// SQLite compiles a cached statement again whenever new values are bound
// to it if its planner looked at a bound value (a column of a join
// compared with one, a LIMIT or OFFSET), unless the connection asks for
// stable plans.

#[test]
fn a_joined_query_is_not_compiled_again_for_new_values() {
    if common::is_postgres() {
        return; // SQLite only: the statement cache is rusqlite's.
    }
    let db = blog_db();
    seed(&db);
    let s = db.session();
    let rec = db.record();
    for color in ["black", "brown", "black"] {
        let rows = s
            .query::<User>()
            .outer_join(User::posts)
            .filter(User::hair_color.eq(color))
            .models::<(User, Option<Post>)>()
            .all_detached()
            .unwrap();
        assert!(!rows.is_empty(), "{color}");
    }
    assert_eq!(
        runs_and_recompiles(&s, &rec.sql()),
        (3, 0),
        "runs, recompiles"
    );
}

#[test]
fn a_limited_query_is_not_compiled_again_for_new_values() {
    if common::is_postgres() {
        return; // SQLite only: the statement cache is rusqlite's.
    }
    let db = blog_db();
    seed(&db);
    let s = db.session();
    let rec = db.record();
    for (limit, offset) in [(1, 0), (2, 1), (1, 2)] {
        let users = s
            .query::<User>()
            .order_by(User::id)
            .limit(limit)
            .offset(offset)
            .all_detached()
            .unwrap();
        let ids: Vec<i64> = users.iter().map(|u| u.id).collect();
        let want: Vec<i64> = (1..=3).skip(offset as usize).take(limit as usize).collect();
        assert_eq!(ids, want);
    }
    assert_eq!(
        runs_and_recompiles(&s, &rec.sql()),
        (3, 0),
        "runs, recompiles"
    );
}

#[test]
fn an_outer_join_in_a_query_of_objects_keeps_each_object_once() {
    let db = blog_db();
    seed(&db);
    let s = db.session();
    let q = s.query::<User>().outer_join(User::posts);
    assert_eq!(q.count().unwrap(), 3);
    assert_eq!(q.all().unwrap().len(), 3);
    assert_eq!(q.clone().limit(2).all().unwrap().len(), 2);
    let lonely = s
        .query::<User>()
        .outer_join(User::posts)
        .filter(Post::id.is_absent())
        .all()
        .unwrap();
    assert_eq!(lonely.len(), 1);
    assert_eq!(lonely[0].get(User::name).unwrap(), "bob");
}

#[test]
fn plain_values_of_a_join_to_a_collection_are_its_rows_and_objects_are_not_repeated() {
    let db = blog_db();
    seed(&db);
    let s = db.session();
    let q = s
        .query::<User>()
        .join(User::posts)
        .order_by(User::name.asc());
    // ann has two posts, cid one: `all_detached` gives every matching row,
    // `all` each object once.
    let names = |users: Vec<User>| users.into_iter().map(|u| u.name).collect::<Vec<_>>();
    assert_eq!(names(q.all_detached().unwrap()), ["ann", "ann", "cid"]);
    assert_eq!(q.all().unwrap().len(), 2);
    // Without the join, the SELECT written after the table's cached head.
    let black = s.query::<User>().filter(User::hair_color.eq("black"));
    assert_eq!(names(black.all_detached().unwrap()), ["ann", "cid"]);
    let (sql, params) = black.to_sql().unwrap();
    assert_eq!(
        sql,
        common::sql(
            r#"SELECT "users"."id", "users"."name", "users"."hair_color" FROM "users" WHERE "users"."hair_color" = ?"#
        )
    );
    assert_eq!(params.len(), 1);
}

// ------------------------------------------------------ joined collections

#[test]
fn joined_collection_loads_in_one_query_with_each_parent_once() {
    let db = blog_db();
    seed(&db);
    let s = db.session();
    let rec = db.record();
    let users = s
        .query::<User>()
        .load(joined(User::posts))
        .order_by(User::id)
        .all()
        .unwrap();
    assert_eq!(
        rec.sql(),
        [common::sql(
            r#"SELECT "users"."id", "users"."name", "users"."hair_color", "orm_j0"."id", "orm_j0"."user_id", "orm_j0"."title" FROM "users" LEFT OUTER JOIN "posts" AS "orm_j0" ON "orm_j0"."user_id" = "users"."id" ORDER BY "users"."id" ASC"#
        )]
    );
    let names: Vec<String> = users.iter().map(|u| u.get(User::name).unwrap()).collect();
    assert_eq!(names, ["ann", "bob", "cid"]);
    let counts: Vec<usize> = users
        .iter()
        .map(|u| u.related(User::posts).unwrap().len())
        .collect();
    assert_eq!(counts, [2, 0, 1]);
    // The children know their parent, with no more SQL.
    let p = &users[0].related(User::posts).unwrap()[0];
    assert!(p.related(Post::author).unwrap().unwrap() == users[0]);
    assert_eq!(rec.sql().len(), 1);
}

#[test]
fn joined_collection_with_a_limit_limits_parents_through_a_subquery() {
    let db = blog_db();
    seed(&db);
    let s = db.session();
    let rec = db.record();
    let users = s
        .query::<User>()
        .load(joined(User::posts))
        .filter(User::hair_color.eq("black"))
        .order_by(User::name.desc())
        .limit(1)
        .all()
        .unwrap();
    assert_eq!(
        rec.sql(),
        [common::sql(
            r#"SELECT "users"."id", "users"."name", "users"."hair_color", "orm_j0"."id", "orm_j0"."user_id", "orm_j0"."title" FROM (SELECT "users"."id", "users"."name", "users"."hair_color" FROM "users" WHERE "users"."hair_color" = ? ORDER BY "users"."name" DESC LIMIT ?) AS "users" LEFT OUTER JOIN "posts" AS "orm_j0" ON "orm_j0"."user_id" = "users"."id" ORDER BY "users"."name" DESC"#
        )]
    );
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].get(User::name).unwrap(), "cid");
    assert_eq!(users[0].related(User::posts).unwrap().len(), 1);

    // first(), paginate: objects, not join rows.
    let s = db.session();
    let ann = s
        .query::<User>()
        .load(joined(User::posts))
        .order_by(User::id)
        .first()
        .unwrap()
        .unwrap();
    assert_eq!(ann.related(User::posts).unwrap().len(), 2);
    let page = s
        .query::<User>()
        .load(joined(User::posts))
        .order_by(User::id)
        .paginate(1, 2)
        .unwrap();
    assert_eq!(page.items.len(), 2);
    assert_eq!(page.total, 3);
}

#[test]
fn joined_collections_of_several_kinds_and_nested_loads() {
    let db = blog_db();
    seed(&db);
    let s = db.session();
    let rec = db.record();
    let posts = s
        .query::<Post>()
        .load(joined(Post::comments))
        .load(joined(Post::tags))
        .load(joined(Post::author))
        .order_by(Post::id)
        .all()
        .unwrap();
    assert_eq!(rec.queries().len(), 1);
    assert_eq!(
        rec.sql()[0],
        common::sql(
            r#"SELECT "posts"."id", "posts"."user_id", "posts"."title", "orm_j0"."id", "orm_j0"."post_id", "orm_j0"."text", "orm_j1"."id", "orm_j1"."name", "orm_j2"."id", "orm_j2"."name", "orm_j2"."hair_color" FROM "posts" LEFT OUTER JOIN "comments" AS "orm_j0" ON "orm_j0"."post_id" = "posts"."id" LEFT OUTER JOIN "post_tags" AS "orm_j1_a" ON "orm_j1_a"."post_id" = "posts"."id" LEFT OUTER JOIN "tags" AS "orm_j1" ON "orm_j1"."id" = "orm_j1_a"."tag_id" LEFT OUTER JOIN "users" AS "orm_j2" ON "orm_j2"."id" = "posts"."user_id" ORDER BY "posts"."id" ASC"#
        )
    );
    assert_eq!(posts.len(), 3);
    // 2 comments x 2 tags = 4 join rows for p1, each loaded once.
    assert_eq!(posts[0].related(Post::comments).unwrap().len(), 2);
    assert_eq!(posts[0].related(Post::tags).unwrap().len(), 2);
    assert_eq!(posts[1].related(Post::comments).unwrap().len(), 0);
    assert_eq!(
        posts[2]
            .related(Post::author)
            .unwrap()
            .unwrap()
            .get(User::name)
            .unwrap(),
        "cid"
    );
    assert_eq!(rec.queries().len(), 1);

    // A joined collection with a nested selectin load under it.
    let s = db.session();
    let rec = db.record();
    let users = s
        .query::<User>()
        .load(joined(User::posts).then(selectin(Post::comments)))
        .order_by(User::id)
        .all()
        .unwrap();
    assert_eq!(rec.queries().len(), 2);
    let p1 = &users[0].related(User::posts).unwrap()[0];
    assert_eq!(p1.related(Post::comments).unwrap().len(), 2);
    assert_eq!(rec.queries().len(), 2);
}

#[test]
fn joined_loading_keeps_collections_already_loaded_and_unflushed_assignments() {
    let db = blog_db();
    seed(&db);
    let s = db.session();
    let ann = s.get::<User>(1).unwrap().unwrap();
    let posts = ann.related(User::posts).unwrap();
    assert_eq!(posts.len(), 2);
    // A new post given to ann in memory, autoflushed by the query.
    ann.append(
        User::posts,
        &Obj::new(Post {
            title: "p4".into(),
            ..Default::default()
        }),
    )
    .unwrap();
    let users = s
        .query::<User>()
        .load(joined(User::posts))
        .order_by(User::id)
        .all()
        .unwrap();
    assert!(users[0] == ann);
    assert_eq!(ann.related(User::posts).unwrap().len(), 3);
}

// -------------------------------------------------------------------- upsert

#[test]
fn upsert_inserts_or_updates_and_reports_which() {
    let db = blog_db();
    seed(&db);
    let s = db.session();
    let tag = |name: &str| Tag {
        name: name.into(),
        ..Default::default()
    };
    let before = s.get::<Tag>(1).unwrap().unwrap();
    let rec = db.record();
    let done = s
        .upsert([tag("b"), tag("c"), tag("a")])
        .on_conflict(Tag::name)
        .run()
        .unwrap();
    let outcome: Vec<(i64, bool)> = done
        .iter()
        .map(|u| (u.obj.get(Tag::id).unwrap(), u.inserted))
        .collect();
    // (PostgreSQL takes a key from the sequence for every proposed row,
    // so the new tag's key depends on the backend.)
    assert_eq!((outcome[0], outcome[2]), ((2, false), (1, false)));
    assert!(outcome[1].1 && outcome[1].0 > 2);
    // The identity map's object for tag 1 is the one returned.
    assert!(done[2].obj == before);
    let upsert = r#"INSERT INTO "tags" ("name") VALUES (?), (?), (?) ON CONFLICT ("name") DO UPDATE SET "name" = excluded."name" RETURNING "id", "name""#;
    let sql: Vec<String> = rec
        .sql()
        .into_iter()
        .filter(|q| {
            !q.starts_with("BEGIN") && !q.starts_with("SAVEPOINT") && !q.starts_with("RELEASE")
        })
        .collect();
    if common::is_postgres() {
        assert_eq!(sql, [common::sql(upsert) + r#", ("xmax" = 0)"#]);
    } else {
        assert_eq!(
            sql,
            [
                r#"SELECT "tags"."name" FROM "tags" WHERE "tags"."name" IN (?, ?, ?)"#.to_string(),
                upsert.to_string(),
            ]
        );
    }
    s.commit().unwrap();
    assert_eq!(db.session().query::<Tag>().count().unwrap(), 3);
}

#[test]
fn upsert_updates_the_chosen_columns_and_refreshes_the_sessions_object() {
    let db = blog_db();
    seed(&db);
    let s = db.session();
    let p1 = s.get::<Post>(1).unwrap().unwrap();
    let done = s
        .upsert([Post {
            id: 1,
            user_id: 3,
            title: "renamed".into(),
        }])
        .update(Post::title)
        .run()
        .unwrap();
    assert!(!done[0].inserted);
    assert!(done[0].obj == p1);
    assert_eq!(p1.get(Post::title).unwrap(), "renamed");
    assert_eq!(p1.get(Post::user_id).unwrap(), 1); // not in update(): kept
    // A rollback expires what the upsert wrote.
    s.rollback().unwrap();
    assert_eq!(p1.get(Post::title).unwrap(), "p1");
}

#[test]
fn a_failed_upsert_changes_nothing() {
    let db = blog_db();
    seed(&db);
    let s = db.session();
    let tag = |name: &str| Tag {
        name: name.into(),
        ..Default::default()
    };
    s.upsert([tag("x")]).on_conflict(Tag::name).run().unwrap();
    // Not unique: refused before SQL.
    let err = s
        .upsert([Post::default()])
        .on_conflict(Post::title)
        .run()
        .unwrap_err();
    assert!(matches!(err, orm::Error::Usage(_)), "{err}");
    // A foreign key violation in the second row: the first is not kept.
    let err = s
        .upsert([
            Post {
                id: 10,
                user_id: 1,
                title: "ok".into(),
            },
            Post {
                id: 11,
                user_id: 99,
                title: "bad".into(),
            },
        ])
        .run()
        .unwrap_err();
    assert_eq!(err.constraint_kind(), Some(orm::ConstraintKind::ForeignKey));
    assert!(s.get::<Post>(10).unwrap().is_none());
    s.commit().unwrap();
    assert_eq!(db.session().query::<Tag>().count().unwrap(), 3);
    assert_eq!(db.session().query::<Post>().count().unwrap(), 3);
}

// ---------------------------------------------------------------------- bulk

#[test]
fn bulk_insert_sends_multi_row_inserts_and_returns_keys_in_order() {
    let db = blog_db();
    let s = db.session();
    let rec = db.record();
    let users = s
        .bulk_insert((0..5).map(|i| user(&format!("u{i}"), None)))
        .unwrap();
    let insert = r#"INSERT INTO "users" ("name", "hair_color") VALUES (?, ?), (?, ?), (?, ?), (?, ?), (?, ?) RETURNING "id""#;
    assert_eq!(
        rec.sql(),
        [common::sql("BEGIN IMMEDIATE"), common::sql(insert)]
    );
    for (i, u) in users.iter().enumerate() {
        assert_eq!(u.get(User::id).unwrap(), i as i64 + 1);
        assert_eq!(u.get(User::name).unwrap(), format!("u{i}"));
        assert_eq!(u.state(), ObjState::Persistent);
    }
    s.commit().unwrap();
    let s2 = db.session();
    let names: Vec<(i64, String)> = s2
        .query::<User>()
        .order_by(User::id)
        .select((User::id, User::name))
        .all()
        .unwrap();
    assert_eq!(names[4], (5, "u4".to_string()));
    // Objects are in the identity map: no SQL for get.
    let rec = db.record();
    assert!(s.get::<User>(3).unwrap().unwrap() == users[2]);
    assert!(rec.sql().is_empty());
}

#[test]
fn bulk_insert_is_chunked_under_the_parameter_limit() {
    let db = blog_db();
    let s = db.session();
    let rec = db.record();
    // 3 columns with an explicit key, 2,500 rows: 1,000 rows per statement.
    let posts: Vec<User> = (1..=2_500)
        .map(|i| User {
            id: i,
            name: format!("u{i}"),
            hair_color: None,
        })
        .collect();
    let done = s.bulk_insert_detached(posts).unwrap();
    assert_eq!(done.len(), 2_500);
    let inserts: Vec<_> = rec
        .sql()
        .into_iter()
        .filter(|q| q.starts_with("INSERT"))
        .collect();
    assert_eq!(inserts.len(), 3);
    let rows_of = |q: &str| q.matches("), (").count() + 1;
    assert_eq!(rows_of(&inserts[0]), 1_000);
    assert_eq!(rows_of(&inserts[2]), 500);
    s.commit().unwrap();
    assert_eq!(db.session().query::<User>().count().unwrap(), 2_500);
    // Generated keys go on after explicit ones.
    let more = s.bulk_insert([user("x", None), user("y", None)]).unwrap();
    assert_eq!(more[1].get(User::id).unwrap(), 2_502);
}

#[test]
fn bulk_insert_of_rows_with_only_a_generated_key() {
    #[derive(Model, Debug, Default)]
    struct Ticket {
        #[orm(primary_key)]
        id: i64,
    }
    let db = common::fresh::<Ticket>();
    let s = db.session();
    let rec = db.record();
    let tickets = s.bulk_insert((0..3).map(|_| Ticket::default())).unwrap();
    let keys: Vec<i64> = tickets.iter().map(|t| t.get(Ticket::id).unwrap()).collect();
    assert_eq!(keys, [1, 2, 3]);
    let inserts: Vec<String> = rec
        .sql()
        .into_iter()
        .filter(|q| q.starts_with("INSERT"))
        .collect();
    assert_eq!(
        inserts,
        vec![r#"INSERT INTO "ticket" DEFAULT VALUES RETURNING "id""#.to_string(); 3]
    );
}

#[test]
fn a_failed_bulk_insert_inserts_nothing() {
    let db = blog_db();
    seed(&db);
    let s = db.session();
    let err = s
        .bulk_insert([
            Tag {
                name: "new".into(),
                ..Default::default()
            },
            Tag {
                name: "a".into(),
                ..Default::default()
            },
        ])
        .unwrap_err();
    assert_eq!(err.constraint_kind(), Some(orm::ConstraintKind::Unique));
    s.commit().unwrap();
    assert_eq!(db.session().query::<Tag>().count().unwrap(), 2);
}

#[test]
fn bulk_insert_objects_roll_back_like_flushed_inserts() {
    let db = blog_db();
    let s = db.session();
    let users = s.bulk_insert([user("a", None)]).unwrap();
    s.rollback().unwrap();
    assert_eq!(users[0].state(), ObjState::Transient);
    assert_eq!(users[0].get(User::id).unwrap(), 0);
    assert_eq!(s.query::<User>().count().unwrap(), 0);
}

#[test]
fn bulk_update_by_key_expires_the_sessions_objects() {
    let db = blog_db();
    seed(&db);
    let s = db.session();
    let ann = s.get::<User>(1).unwrap().unwrap();
    let rec = db.record();
    let n = s
        .bulk_update::<User>([
            (1, vec![User::hair_color.set(Some("red".to_string()))]),
            (2, vec![User::hair_color.set(Some("grey".to_string()))]),
            (3, vec![User::name.set("cyd")]),
            (42, vec![User::name.set("nobody")]),
        ])
        .unwrap();
    assert_eq!(n, 3);
    let updates: Vec<_> = rec
        .sql()
        .into_iter()
        .filter(|q| q.starts_with("UPDATE"))
        .collect();
    assert_eq!(
        updates,
        common::sqls([
            r#"UPDATE "users" SET "hair_color" = ? WHERE "users"."id" = ?"#,
            r#"UPDATE "users" SET "hair_color" = ? WHERE "users"."id" = ?"#,
            r#"UPDATE "users" SET "name" = ? WHERE "users"."id" = ?"#,
            r#"UPDATE "users" SET "name" = ? WHERE "users"."id" = ?"#,
        ])
    );
    assert!(ann.is_expired());
    assert_eq!(ann.get(User::hair_color).unwrap().as_deref(), Some("red"));
    s.commit().unwrap();
    let err = s
        .bulk_update::<User>([(1, vec![User::name.set("x")]), (2, vec![])])
        .unwrap_err();
    assert!(matches!(err, orm::Error::Usage(_)));
}

// ----------------------------------------------------------------- streaming

fn many_users(db: &Database, n: i64) {
    let s = db.session();
    s.bulk_insert_detached((0..n).map(|i| user(&format!("u{i}"), (i % 2 == 0).then_some("black"))))
        .unwrap();
    s.commit().unwrap();
}

#[test]
fn iter_streams_objects_through_the_identity_map() {
    let db = blog_db();
    many_users(&db, 2_500);
    let s = db.session();
    let kept = s.get::<User>(2).unwrap().unwrap();
    let mut seen = 0;
    let mut keep = Vec::new();
    for (i, u) in s
        .query::<User>()
        .filter(User::hair_color.eq("black"))
        .order_by(User::id)
        .yield_per(100)
        .iter()
        .unwrap()
        .enumerate()
    {
        let u = u.unwrap();
        assert_eq!(u.get(User::id).unwrap(), 2 * i as i64 + 1);
        if i == 3 {
            keep.push(u.clone());
            u.set(User::name, "changed".into()).unwrap();
        }
        seen += 1;
    }
    assert_eq!(seen, 1_250);
    // Objects nobody held were let go (a get loads them again); those
    // held stay the session's.
    let rec = db.record();
    assert_eq!(s.get::<User>(3).unwrap().unwrap().get(User::id).unwrap(), 3);
    assert_eq!(rec.queries().len(), 1);
    assert!(s.get::<User>(7).unwrap().unwrap() == keep[0]);
    assert!(s.get::<User>(2).unwrap().unwrap() == kept);
    s.commit().unwrap();
    assert_eq!(
        db.session()
            .get::<User>(7)
            .unwrap()
            .unwrap()
            .get(User::name)
            .unwrap(),
        "changed"
    );
}

#[test]
fn a_stream_holds_the_connection_and_other_statements_get_a_typed_error() {
    let db = blog_db();
    many_users(&db, 10);
    let s = db.session();
    let mut it = s.query::<User>().order_by(User::id).iter().unwrap();
    let first = it.next().unwrap().unwrap();
    let err = s.query::<User>().count().unwrap_err();
    assert!(matches!(err, orm::Error::SessionBusy { .. }), "{err}");
    let err = s.query::<User>().iter().unwrap_err();
    assert!(matches!(err, orm::Error::SessionBusy { .. }), "{err}");
    // The identity map still answers, and objects can change.
    assert!(s.get::<User>(1).unwrap().unwrap() == first);
    first.set(User::name, "first".into()).unwrap();
    // Stopping early gives the connection back.
    drop(it);
    assert_eq!(s.query::<User>().count().unwrap(), 10);
    s.commit().unwrap();
    // Eager loads are refused for streams.
    let err = s
        .query::<User>()
        .load(selectin(User::posts))
        .iter()
        .unwrap_err();
    assert!(matches!(err, orm::Error::Usage(_)), "{err}");
}

#[test]
fn iter_detached_streams_values_inside_the_open_transaction() {
    let db = blog_db();
    many_users(&db, 5);
    let s = db.session();
    s.add(user("pending", None)).unwrap();
    // Autoflushed, and read inside the session's transaction.
    let names: Vec<String> = s
        .query::<User>()
        .order_by(User::id)
        .iter_detached()
        .unwrap()
        .map(|u| u.map(|u| u.name))
        .collect::<orm::Result<_>>()
        .unwrap();
    assert_eq!(names.len(), 6);
    assert_eq!(names[5], "pending");
    s.rollback().unwrap();
    assert_eq!(s.query::<User>().iter_detached().unwrap().count(), 5);
}

#[test]
fn streams_record_their_statements() {
    let db = blog_db();
    many_users(&db, 5);
    let s = db.session();
    let rec = db.record();
    let n = s
        .query::<User>()
        .filter(User::name.eq("u1"))
        .yield_per(2)
        .iter()
        .unwrap()
        .count();
    assert_eq!(n, 1);
    let select = r#"SELECT "users"."id", "users"."name", "users"."hair_color" FROM "users" WHERE "users"."name" = ?"#;
    if common::is_postgres() {
        let sql = rec.sql();
        assert_eq!(sql.len(), 6, "{sql:?}");
        assert_eq!(sql[0], "BEGIN");
        let name = sql[1]
            .strip_prefix("DECLARE \"")
            .and_then(|r| r.split('"').next())
            .unwrap()
            .to_owned();
        assert_eq!(
            sql[1],
            format!(
                "DECLARE \"{name}\" NO SCROLL CURSOR FOR {}",
                common::sql(select)
            )
        );
        assert_eq!(sql[2], format!("FETCH FORWARD 2 FROM \"{name}\""));
        assert_eq!(sql[3], sql[2]);
        assert_eq!(sql[4], format!("CLOSE \"{name}\""));
        assert_eq!(sql[5], "ROLLBACK");
    } else {
        assert_eq!(rec.sql(), [select]);
    }
}

// --------------------------------------------------------------- soft delete

mod soft {
    use orm::prelude::*;

    #[derive(Model, Debug, Default, Clone, PartialEq)]
    #[orm(
        table = "authors",
        soft_delete,
        has_many(books = Book, backref = "author"),
        has_many(notes = Note, backref = "author", cascade = "all")
    )]
    pub struct Author {
        #[orm(primary_key)]
        pub id: i64,
        pub name: String,
        pub deleted_at: Option<String>,
    }

    #[derive(Model, Debug, Default, Clone, PartialEq)]
    #[orm(table = "books", soft_delete = "removed_at")]
    pub struct Book {
        #[orm(primary_key)]
        pub id: i64,
        #[orm(foreign_key = Author::id)]
        pub author_id: Option<i64>,
        pub title: String,
        pub removed_at: Option<i64>,
    }

    /// Not soft-deleted: a delete cascade really deletes it.
    #[derive(Model, Debug, Default, Clone, PartialEq)]
    #[orm(table = "notes")]
    pub struct Note {
        #[orm(primary_key)]
        pub id: i64,
        #[orm(foreign_key = Author::id)]
        pub author_id: i64,
    }
}

use soft::{Author, Book, Note};

fn soft_db() -> Database {
    let db = common::open(Database::builder().model::<Author>());
    db.create_all().unwrap();
    let s = db.session();
    for (name, titles) in [("ann", &["a1", "a2"][..]), ("bob", &["b1"][..])] {
        let a = s
            .add(Author {
                name: name.into(),
                ..Default::default()
            })
            .unwrap();
        for t in titles {
            a.append(
                Author::books,
                &Obj::new(Book {
                    title: (*t).into(),
                    ..Default::default()
                }),
            )
            .unwrap();
        }
        a.append(Author::notes, &Obj::new(Note::default())).unwrap();
    }
    s.commit().unwrap();
    db
}

#[test]
fn soft_delete_is_an_update_and_queries_leave_the_row_out() {
    let db = soft_db();
    let s = db.session();
    let book = s.get::<Book>(1).unwrap().unwrap();
    let rec = db.record();
    s.delete(&book).unwrap();
    s.commit().unwrap();
    // (Deleting loads the book's author first, for cascades.)
    let writes: Vec<String> = rec
        .sql()
        .into_iter()
        .filter(|q| !q.starts_with("SELECT"))
        .collect();
    assert_eq!(
        writes,
        common::sqls([
            "BEGIN IMMEDIATE",
            r#"UPDATE "books" SET "removed_at" = ? WHERE "books"."id" = ?"#,
            "COMMIT",
        ])
    );
    assert_eq!(book.state(), ObjState::Detached);
    assert!(book.get(Book::removed_at).unwrap().is_some());

    let rec = db.record();
    let s = db.session();
    let titles: Vec<String> = s
        .query::<Book>()
        .order_by(Book::id)
        .select(Book::title)
        .all()
        .unwrap();
    assert_eq!(titles, ["a2", "b1"]);
    assert_eq!(
        rec.sql(),
        [common::sql(
            r#"SELECT "books"."title" FROM "books" WHERE "books"."removed_at" IS NULL ORDER BY "books"."id" ASC"#
        )]
    );
    assert_eq!(s.query::<Book>().count().unwrap(), 2);
    assert!(s.get::<Book>(1).unwrap().is_none());
    // Relationship loads leave it out too.
    let ann = s.get::<Author>(1).unwrap().unwrap();
    assert_eq!(ann.related(Author::books).unwrap().len(), 1);
    let authors = s
        .query::<Author>()
        .load(joined(Author::books))
        .order_by(Author::id)
        .all()
        .unwrap();
    assert_eq!(authors[0].related(Author::books).unwrap().len(), 1);
    // Unless asked for.
    let all = s.query::<Book>().with_deleted().count().unwrap();
    assert_eq!(all, 3);
    let gone = s
        .query::<Book>()
        .with_deleted()
        .filter(Book::title.eq("a1"))
        .one()
        .unwrap();
    assert!(gone.get(Book::removed_at).unwrap().is_some());
    // Restored by clearing the column.
    gone.set(Book::removed_at, None).unwrap();
    s.commit().unwrap();
    assert_eq!(db.session().query::<Book>().count().unwrap(), 3);
}

#[test]
fn soft_deleting_a_parent_keeps_its_children_and_cascades_deletes() {
    let db = soft_db();
    let s = db.session();
    let ann = s.get::<Author>(1).unwrap().unwrap();
    let rec = db.record();
    s.delete(&ann).unwrap();
    s.commit().unwrap();
    let writes: Vec<String> = rec
        .sql()
        .into_iter()
        .filter(|q| q.starts_with("UPDATE") || q.starts_with("DELETE"))
        .collect();
    // The note (delete cascade, a hard-delete model) goes; the books keep
    // their author_id, the author's row stays.
    assert_eq!(
        writes,
        common::sqls([
            r#"DELETE FROM "notes" WHERE "notes"."id" = ?"#,
            r#"UPDATE "authors" SET "deleted_at" = ? WHERE "authors"."id" = ?"#,
        ])
    );
    let s = db.session();
    let b = s.get::<Book>(1).unwrap().unwrap();
    assert_eq!(b.get(Book::author_id).unwrap(), Some(1));
    assert!(b.related(Book::author).unwrap().is_none());
    assert_eq!(s.query::<Author>().count().unwrap(), 1);
    // Joins leave soft-deleted rows of the joined model out.
    let rec = db.record();
    let books = s
        .query::<Book>()
        .join(Book::author)
        .order_by(Book::id)
        .all()
        .unwrap();
    assert_eq!(books.len(), 1);
    assert_eq!(
        rec.sql(),
        [common::sql(
            r#"SELECT "books"."id", "books"."author_id", "books"."title", "books"."removed_at" FROM "books" JOIN "authors" ON "authors"."id" = "books"."author_id" AND "authors"."deleted_at" IS NULL WHERE "books"."removed_at" IS NULL ORDER BY "books"."id" ASC"#
        )]
    );
}

#[test]
fn bulk_delete_of_a_soft_delete_model_updates_and_hard_delete_deletes() {
    let db = soft_db();
    let s = db.session();
    let b1 = s.get::<Book>(3).unwrap().unwrap();
    let rec = db.record();
    let n = s
        .query::<Book>()
        .filter(Book::title.starts_with("a"))
        .delete()
        .unwrap();
    assert_eq!(n, 2);
    assert_eq!(
        rec.sql().last().unwrap(),
        &common::sql(
            r#"UPDATE "books" SET "removed_at" = ? WHERE substr(CAST(lower("books"."title") AS BLOB), 1, ?) = ? AND "books"."removed_at" IS NULL RETURNING "id""#
        )
        .replace(
            r#"substr(CAST(lower("books"."title") AS BLOB), 1, $2) = $3"#,
            r#"strpos(lower("books"."title"), $2) = 1"#
        )
    );
    assert_eq!(s.query::<Book>().count().unwrap(), 1);
    assert_eq!(s.query::<Book>().with_deleted().hard_delete().unwrap(), 3);
    s.commit().unwrap();
    assert_eq!(b1.state(), ObjState::Detached);
    assert_eq!(
        db.session().query::<Book>().with_deleted().count().unwrap(),
        0
    );
}

#[test]
fn an_upsert_meeting_a_soft_deleted_row_brings_it_back() {
    let db = soft_db();
    let s = db.session();
    let b = s.get::<Book>(2).unwrap().unwrap();
    s.delete(&b).unwrap();
    s.commit().unwrap();
    assert!(s.get::<Book>(2).unwrap().is_none());
    let done = s
        .upsert([Book {
            id: 2,
            author_id: Some(1),
            title: "a2, second edition".into(),
            removed_at: None,
        }])
        .run()
        .unwrap();
    assert!(!done[0].inserted);
    s.commit().unwrap();
    let again = db.session().get::<Book>(2).unwrap().unwrap();
    assert_eq!(again.get(Book::title).unwrap(), "a2, second edition");
}

mod versioned {
    use orm::prelude::*;

    fn no_empty_title(title: &str) -> Result<(), &'static str> {
        if title.is_empty() {
            Err("needs a title")
        } else {
            Ok(())
        }
    }

    #[derive(Model, Debug, Default, Clone, PartialEq)]
    #[orm(table = "docs", soft_delete = "removed_at")]
    pub struct Doc {
        #[orm(primary_key)]
        pub id: i64,
        #[orm(unique, validate = no_empty_title)]
        pub title: String,
        pub body: String,
        #[orm(version)]
        pub version: i64,
        pub removed_at: Option<String>,
    }
}

use versioned::Doc;

fn doc(title: &str, body: &str) -> Doc {
    Doc {
        title: title.into(),
        body: body.into(),
        ..Default::default()
    }
}

fn version_of(db: &Database, id: i64) -> i64 {
    let s = db.session();
    let d = s
        .query::<Doc>()
        .with_deleted()
        .filter(Doc::id.eq(id))
        .one()
        .unwrap();
    d.get(Doc::version).unwrap()
}

/// Statements that write rows without loading them keep a version counter
/// honest: a new row starts at 1, every bulk or filtered update, upsert
/// and soft delete moves it on, so a session holding the old version gets
/// StaleData instead of overwriting; validators run on bulk inserts and
/// upserts before any SQL.
#[test]
fn bulk_statements_upserts_and_soft_deletes_move_version_counters_on() {
    let db = common::open(Database::builder().model::<Doc>());
    db.create_all().unwrap();
    let s = db.session();
    let docs = s
        .bulk_insert([doc("a", "1"), doc("b", "1"), doc("c", "1")])
        .unwrap();
    s.commit().unwrap();
    assert_eq!(docs[0].get(Doc::version).unwrap(), 1);
    assert_eq!(
        (1..=3).map(|id| version_of(&db, id)).collect::<Vec<_>>(),
        [1, 1, 1]
    );

    // A second session holds doc 1 at version 1.
    let stale = db.session();
    let held = stale.get_or_not_found::<Doc>(1).unwrap();

    s.bulk_update::<Doc>([(1, vec![Doc::body.set("2")])])
        .unwrap();
    s.commit().unwrap();
    assert_eq!(version_of(&db, 1), 2);
    held.write().unwrap().body = "stale".into();
    let err = stale.commit().unwrap_err();
    assert!(
        matches!(err, orm::Error::StaleData { model: "Doc", .. }),
        "{err:?}"
    );
    stale.rollback().unwrap();

    s.query::<Doc>()
        .filter(Doc::id.eq(2))
        .update([Doc::body.set("2")])
        .unwrap();
    s.commit().unwrap();
    assert_eq!(version_of(&db, 2), 2);

    let done = s
        .upsert([doc("c", "upserted"), doc("d", "new")])
        .on_conflict(Doc::title)
        .run()
        .unwrap();
    s.commit().unwrap();
    assert_eq!((done[0].inserted, done[1].inserted), (false, true));
    assert_eq!(done[0].obj.get(Doc::version).unwrap(), 2);
    assert_eq!(done[1].obj.get(Doc::version).unwrap(), 1);
    assert_eq!(version_of(&db, 3), 2);

    // A soft delete through the session and one by filter.
    let d = s.get_or_not_found::<Doc>(1).unwrap();
    s.delete(&d).unwrap();
    s.commit().unwrap();
    assert_eq!(version_of(&db, 1), 3);
    s.query::<Doc>().filter(Doc::id.eq(2)).delete().unwrap();
    s.commit().unwrap();
    assert_eq!(version_of(&db, 2), 3);

    // Validators: nothing is written.
    let err = s.bulk_insert([doc("e", "1"), doc("", "1")]).unwrap_err();
    assert!(matches!(err, orm::Error::Validation { .. }), "{err:?}");
    let err = s
        .upsert([doc("", "1")])
        .on_conflict(Doc::title)
        .run()
        .unwrap_err();
    assert!(matches!(err, orm::Error::Validation { .. }), "{err:?}");
    s.commit().unwrap();
    assert_eq!(
        db.session().query::<Doc>().with_deleted().count().unwrap(),
        4
    );
}
