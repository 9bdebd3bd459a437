//! Diesel 2.3 on every workload, written as diesel_bench writes it (and,
//! for the workloads diesel_bench lacks, as its guide would).

use std::hint::black_box;

use diesel::connection::{InstrumentationEvent, SimpleConnection};
use diesel::prelude::*;
use diesel::sql_types::BigInt;

use crate::models::{
    Comment, NewComment, NewPost, NewUser, NewUserWithColor, Post, User, comments, posts, users,
};
use crate::raw::{self, Graph, Nested, Sample, sample, timed};
use crate::sql;

fn db(seeds: &[(&'static str, usize)]) -> SqliteConnection {
    let mut conn = SqliteConnection::establish(":memory:").expect("open diesel database");
    conn.batch_execute("PRAGMA foreign_keys = ON")
        .expect("foreign keys");
    conn.batch_execute(sql::SCHEMA).expect("schema");
    for &(stmt, n) in seeds {
        diesel::sql_query(stmt)
            .bind::<BigInt, _>(n as i64)
            .execute(&mut conn)
            .expect("seed");
    }
    conn
}

fn clear(conn: &mut SqliteConnection) {
    conn.batch_execute(sql::CLEAR).expect("clear");
}

/// `users::table.load::<User>`.
pub fn trivial_query(n: usize, expect: &[User]) -> Sample {
    let mut conn = db(&[(sql::SEED_USERS, n)]);
    let run = |conn: &mut SqliteConnection| users::table.load::<User>(conn).unwrap();
    assert_eq!(run(&mut conn), expect);
    sample(move |iters| {
        timed(iters, |_| {
            black_box(run(&mut conn));
        })
    })
}

/// `users.left_outer_join(posts).filter(hair_color.eq("black"))
/// .load::<(User, Option<Post>)>`.
pub fn medium_complex_query(n: usize, expect: &[(User, Option<Post>)]) -> Sample {
    let mut conn = db(&[(sql::SEED_USERS_COLORED, n)]);
    let run = |conn: &mut SqliteConnection| {
        users::table
            .left_outer_join(posts::table)
            .filter(users::hair_color.eq("black"))
            .load::<(User, Option<Post>)>(conn)
            .unwrap()
    };
    assert_eq!(run(&mut conn), expect);
    sample(move |iters| {
        timed(iters, |_| {
            black_box(run(&mut conn));
        })
    })
}

/// users; `Post::belonging_to(&users)`; `Comment::belonging_to(&posts)`;
/// `grouped_by` twice.
pub fn loading_associations(expect: &Nested) -> Sample {
    let mut conn = db(&raw::systems::assoc_seeds());
    let run = |conn: &mut SqliteConnection| -> Nested {
        let users = users::table.load::<User>(conn).unwrap();
        let posts = Post::belonging_to(&users).load::<Post>(conn).unwrap();
        let comments = Comment::belonging_to(&posts).load::<Comment>(conn).unwrap();
        let comments = comments.grouped_by(&posts);
        let posts_and_comments = posts.into_iter().zip(comments).grouped_by(&users);
        users.into_iter().zip(posts_and_comments).collect()
    };
    assert_eq!(run(&mut conn), *expect);
    sample(move |iters| {
        timed(iters, |_| {
            black_box(run(&mut conn));
        })
    })
}

/// `insert_into(users).values(&new_users).returning(users::id)
/// .get_results()`: the keys read back, as a unit of work needs. With an
/// `Option` field Diesel runs this as one `INSERT ... RETURNING` per row
/// inside a transaction.
pub fn insert(n: usize, expect: &[User]) -> Sample {
    let mut conn = db(&[]);
    let run = move |conn: &mut SqliteConnection| -> Vec<User> {
        let mut users = raw::new_users(n);
        let new: Vec<NewUser<'_>> = users
            .iter()
            .map(|u| NewUser {
                name: &u.name,
                hair_color: u.hair_color.as_deref(),
            })
            .collect();
        let ids: Vec<i64> = diesel::insert_into(users::table)
            .values(&new)
            .returning(users::id)
            .get_results(conn)
            .unwrap();
        drop(new);
        for (u, id) in users.iter_mut().zip(ids) {
            u.id = id;
        }
        users
    };
    assert_eq!(run(&mut conn), expect);
    sample(move |iters| {
        clear(&mut conn);
        timed(iters, |_| {
            black_box(run(&mut conn));
        })
    })
}

/// The statements Diesel sends while `f` runs on a fresh database, from
/// its instrumentation.
fn statements_sent(f: impl FnOnce(&mut SqliteConnection)) -> Vec<String> {
    let sent = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = std::sync::Arc::clone(&sent);
    let mut conn = db(&[]);
    conn.set_instrumentation(move |event: InstrumentationEvent<'_>| {
        if let InstrumentationEvent::StartQuery { query, .. } = event {
            log.lock().unwrap().push(query.to_string());
        }
    });
    f(&mut conn);
    drop(conn);
    let sent = sent.lock().unwrap();
    sent.clone()
}

/// insert/N in Diesel's one-statement form: the users as
/// `NewUserWithColor`, whose `treat_none_as_default_value = false` lets
/// Diesel send the batch as one multi-row `INSERT ... RETURNING id` on
/// SQLite (without it, as for `NewUser`, every row is its own statement;
/// checked below with Diesel's instrumentation).
pub fn insert_one_statement(n: usize, expect: &[User]) -> Sample {
    let mut conn = db(&[]);
    let run = move |conn: &mut SqliteConnection| -> Vec<User> {
        let mut users = raw::new_users(n);
        let new: Vec<NewUserWithColor<'_>> = users
            .iter()
            .map(|u| NewUserWithColor {
                name: &u.name,
                hair_color: u.hair_color.as_deref(),
            })
            .collect();
        let ids: Vec<i64> = diesel::insert_into(users::table)
            .values(new)
            .returning(users::id)
            .get_results(conn)
            .unwrap();
        for (u, id) in users.iter_mut().zip(ids) {
            u.id = id;
        }
        users
    };
    {
        let sent = statements_sent(|conn| assert_eq!(run(conn), expect));
        assert_eq!(sent.len(), 1, "one statement: {sent:?}");
        assert_eq!(sent[0].matches("(?, ?)").count(), n, "{n} rows: {sent:?}");
    }
    sample(move |iters| {
        clear(&mut conn);
        timed(iters, |_| {
            black_box(run(&mut conn));
        })
    })
}

/// `users::table.find(id).get_result::<User>`. Not `.first()`: that adds
/// `LIMIT ?`, and since SQLite 3.47 or so a bound LIMIT makes SQLite
/// re-prepare the statement at every execution (about 8x slower here; see
/// BENCHMARKS.md), which would measure that rather than Diesel.
pub fn get_by_pk(expect: &User) -> Sample {
    let mut conn = db(&[(sql::SEED_USERS, sql::GET_TABLE_ROWS)]);
    let run = |conn: &mut SqliteConnection, id: i64| {
        users::table.find(id).get_result::<User>(conn).unwrap()
    };
    assert_eq!(run(&mut conn, sql::key_at(3)), *expect);
    sample(move |iters| {
        timed(iters, |i| {
            black_box(run(&mut conn, sql::key_at(i)));
        })
    })
}

/// In `conn.transaction`, per loaded user: set the field, then
/// `update(users.find(id)).set(hair_color.eq(..)).execute`.
pub fn update(n: usize) -> Sample {
    let mut conn = db(&[(sql::SEED_USERS, n)]);
    let mut users = users::table.load::<User>(&mut conn).unwrap();
    assert_eq!(users.len(), n);
    let mut round = 0u64;
    sample(move |iters| {
        timed(iters, |_| {
            round += 1;
            let color = raw::color(round);
            conn.transaction(|conn| {
                for u in users.iter_mut() {
                    u.hair_color = Some(color.to_owned());
                    diesel::update(users::table.find(u.id))
                        .set(users::hair_color.eq(&u.hair_color))
                        .execute(conn)?;
                }
                diesel::QueryResult::Ok(())
            })
            .unwrap();
            black_box(&users);
        })
    })
}

/// In `conn.transaction`: the user `INSERT ... RETURNING id`; its 10 posts
/// and then the 100 comments each as one batch `returning(..::id)`, which
/// Diesel runs on SQLite as one INSERT per row (checked below): 111
/// INSERTs, as rusqlite's.
pub fn graph_insert(expect: &Graph) -> Sample {
    let mut conn = db(&[]);
    let run = |conn: &mut SqliteConnection| -> Graph {
        let (n_posts, n_comments) = sql::GRAPH;
        conn.transaction(|conn| {
            let mut user = User {
                id: 0,
                name: "User 0".to_owned(),
                hair_color: Some("black".to_owned()),
            };
            user.id = diesel::insert_into(users::table)
                .values(&NewUser {
                    name: &user.name,
                    hair_color: user.hair_color.as_deref(),
                })
                .returning(users::id)
                .get_result(conn)?;
            let mut posts: Vec<Post> = (0..n_posts)
                .map(|j| Post {
                    id: 0,
                    user_id: user.id,
                    title: format!("Post {j}"),
                    body: None,
                })
                .collect();
            let new_posts: Vec<NewPost<'_>> = posts
                .iter()
                .map(|p| NewPost {
                    user_id: p.user_id,
                    title: &p.title,
                    body: p.body.as_deref(),
                })
                .collect();
            let post_ids: Vec<i64> = diesel::insert_into(posts::table)
                .values(&new_posts)
                .returning(posts::id)
                .get_results(conn)?;
            drop(new_posts);
            for (p, id) in posts.iter_mut().zip(post_ids) {
                p.id = id;
            }
            let mut comments: Vec<Comment> = posts
                .iter()
                .flat_map(|p| {
                    (0..n_comments).map(move |k| Comment {
                        id: 0,
                        post_id: p.id,
                        text: format!("Comment {k}"),
                    })
                })
                .collect();
            let new_comments: Vec<NewComment<'_>> = comments
                .iter()
                .map(|c| NewComment {
                    post_id: c.post_id,
                    text: &c.text,
                })
                .collect();
            let comment_ids: Vec<i64> = diesel::insert_into(comments::table)
                .values(&new_comments)
                .returning(comments::id)
                .get_results(conn)?;
            drop(new_comments);
            for (c, id) in comments.iter_mut().zip(comment_ids) {
                c.id = id;
            }
            let mut comments = comments.into_iter();
            let nested = posts
                .into_iter()
                .map(|p| (p, comments.by_ref().take(n_comments).collect()))
                .collect();
            diesel::QueryResult::Ok((user, nested))
        })
        .unwrap()
    };
    {
        let sent = statements_sent(|conn| assert_eq!(run(conn), *expect));
        let inserts = |table: &str| {
            let prefix = format!("INSERT INTO `{table}`");
            sent.iter().filter(|q| q.starts_with(&prefix)).count()
        };
        // Row by row, comments too: Diesel's SQLite batch is one statement
        // only for `treat_none_as_default_value = false` (see
        // `insert_one_statement`).
        assert_eq!(
            (inserts("users"), inserts("posts"), inserts("comments")),
            (1, 10, 100),
            "{sent:?}"
        );
    }
    assert_eq!(run(&mut conn), *expect);
    sample(move |iters| {
        clear(&mut conn);
        timed(iters, |_| {
            black_box(run(&mut conn));
        })
    })
}
