//! The hand-written rusqlite baseline of every workload, shared as source
//! by every comparison binary and by the criterion bench, so each ORM is
//! compared with the very same baseline code, linked against its own SQLite.
//!
//! It is the floor a sync SQLite ORM can reach: `prepare_cached`
//! statements, rows mapped by column index, one transaction per write,
//! generated keys read back (`last_insert_rowid`).
//!
//! The including crate provides `models::{User, Post, Comment}` (plain
//! structs with the columns as public fields, ids `i64`) and `sql`.

#![allow(dead_code)]

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use super::models::{Comment, Post, User};
use super::sql;

/// Times `iters` iterations (after any untimed setup of its own).
pub type Sample = Box<dyn FnMut(u64) -> Duration>;

pub fn sample(f: impl FnMut(u64) -> Duration + 'static) -> Sample {
    Box::new(f)
}

/// Time `iters` calls of `f` (given the iteration number).
pub fn timed(iters: u64, mut f: impl FnMut(u64)) -> Duration {
    let start = Instant::now();
    for i in 0..iters {
        f(i);
    }
    start.elapsed()
}

/// Time `iters` calls of `work`, each on what an untimed `setup` made;
/// what `work` returns is dropped after the clock stops.
pub fn timed_each<T, R>(
    iters: u64,
    mut setup: impl FnMut() -> T,
    mut work: impl FnMut(T) -> R,
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let input = setup();
        let start = Instant::now();
        let out = work(input);
        total += start.elapsed();
        drop(black_box(out));
    }
    total
}

/// Where a baseline database lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// `:memory:`, SQLite's private in-memory database: the baseline.
    Memory,
    /// A named database of SQLite's `memdb` VFS, which several connections
    /// can share: what orm's in-memory `sqlite://` URL opens (for its pool).
    /// A control, to tell orm's own costs from its storage's.
    Memdb,
}

/// A new in-memory database with the schema.
pub fn db() -> rusqlite::Connection {
    db_on(Storage::Memory)
}

/// A new database in `storage` with the schema.
pub fn db_on(storage: Storage) -> rusqlite::Connection {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let conn = match storage {
        Storage::Memory => rusqlite::Connection::open_in_memory(),
        Storage::Memdb => rusqlite::Connection::open_with_flags(
            format!(
                "file:/bench-raw-{}-{}?vfs=memdb",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE
                | rusqlite::OpenFlags::SQLITE_OPEN_CREATE
                | rusqlite::OpenFlags::SQLITE_OPEN_URI
                | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        ),
    }
    .expect("open rusqlite database");
    conn.execute_batch("PRAGMA foreign_keys = ON")
        .expect("foreign keys");
    conn.execute_batch(sql::SCHEMA).expect("schema");
    conn.set_prepared_statement_cache_capacity(256);
    conn
}

/// Run seed statements with their counts as `?1`.
pub fn seed(conn: &rusqlite::Connection, seeds: &[(&'static str, usize)]) {
    for &(stmt, n) in seeds {
        conn.execute(stmt, [n as i64]).expect("seed");
    }
}

pub fn clear(conn: &rusqlite::Connection) {
    conn.execute_batch(sql::CLEAR).expect("clear");
}

pub fn user_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: r.get(0)?,
        name: r.get(1)?,
        hair_color: r.get(2)?,
    })
}

pub fn post_row(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Post> {
    Ok(Post {
        id: r.get(at)?,
        user_id: r.get(at + 1)?,
        title: r.get(at + 2)?,
        body: r.get(at + 3)?,
    })
}

pub fn comment_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Comment> {
    Ok(Comment {
        id: r.get(0)?,
        post_id: r.get(1)?,
        text: r.get(2)?,
    })
}

/// `?, ?, ...` for an IN list of `n` values.
pub fn placeholders(n: usize) -> String {
    let mut s = String::with_capacity(n * 3);
    for i in 0..n {
        if i > 0 {
            s.push_str(", ");
        }
        s.push('?');
    }
    s
}

/// The N new users the insert workloads write (every system builds them
/// inside the timed iteration).
pub fn new_users(n: usize) -> Vec<User> {
    (0..n)
        .map(|i| User {
            id: 0,
            name: format!("User {i}"),
            hair_color: Some("hair_color".to_owned()),
        })
        .collect()
}

/// users → posts → comments.
pub type Nested = Vec<(User, Vec<(Post, Vec<Comment>)>)>;
/// One user with its posts with their comments.
pub type Graph = (User, Vec<(Post, Vec<Comment>)>);

/// Group posts and comments under their users with HashMaps (the grouping
/// step of diesel_bench's rusqlite version, and what Diesel's `grouped_by`
/// does).
pub fn nest(users: Vec<User>, posts: Vec<Post>, comments: Vec<Comment>) -> Nested {
    let mut comments_by_post: HashMap<i64, Vec<Comment>> = HashMap::new();
    for c in comments {
        comments_by_post.entry(c.post_id).or_default().push(c);
    }
    let mut posts_by_user: HashMap<i64, Vec<(Post, Vec<Comment>)>> = HashMap::new();
    for p in posts {
        let cs = comments_by_post.remove(&p.id).unwrap_or_default();
        posts_by_user.entry(p.user_id).or_default().push((p, cs));
    }
    users
        .into_iter()
        .map(|u| {
            let ps = posts_by_user.remove(&u.id).unwrap_or_default();
            (u, ps)
        })
        .collect()
}

/// (users, posts, comments) in a nested result.
pub fn count(n: &Nested) -> (usize, usize, usize) {
    (
        n.len(),
        n.iter().map(|(_, p)| p.len()).sum(),
        n.iter()
            .flat_map(|(_, p)| p.iter().map(|(_, c)| c.len()))
            .sum(),
    )
}

// ------------------------------------------------------------- workloads

/// trivial_query: every user.
pub fn all_users(conn: &rusqlite::Connection) -> Vec<User> {
    let mut stmt = conn
        .prepare_cached("SELECT id, name, hair_color FROM users")
        .unwrap();
    stmt.query_map([], user_row)
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

/// medium_complex_query: diesel_bench's LEFT JOIN into pairs.
///
/// The colour is written into the SQL text, not bound: with a bound
/// parameter, SQLite 3.54 (orm's) re-prepares this join at every execution
/// (it plans an automatic index and a Bloom filter on `posts.user_id`),
/// about 19 µs instead of 2 µs for one user; 3.51 (Diesel's) does not.
/// The baseline is meant to be the floor, so it avoids that.
pub fn medium(conn: &rusqlite::Connection) -> Vec<(User, Option<Post>)> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT users.id, users.name, users.hair_color, \
             posts.id, posts.user_id, posts.title, posts.body \
             FROM users LEFT JOIN posts ON users.id = posts.user_id \
             WHERE users.hair_color = 'black'",
        )
        .unwrap();
    stmt.query_map([], |r| {
        let user = user_row(r)?;
        let post = match r.get::<_, Option<i64>>(3)? {
            Some(_) => Some(post_row(r, 3)?),
            None => None,
        };
        Ok((user, post))
    })
    .unwrap()
    .collect::<rusqlite::Result<_>>()
    .unwrap()
}

/// The posts of `users`, in one `IN` statement built for their number.
pub fn posts_of(conn: &rusqlite::Connection, users: &[User]) -> Vec<Post> {
    conn.prepare_cached(&format!(
        "SELECT id, user_id, title, body FROM posts WHERE user_id IN ({})",
        placeholders(users.len())
    ))
    .unwrap()
    .query_map(
        rusqlite::params_from_iter(users.iter().map(|u| u.id)),
        |r| post_row(r, 0),
    )
    .unwrap()
    .collect::<rusqlite::Result<_>>()
    .unwrap()
}

/// loading_associations: three queries (the IN statements built for the
/// number of keys and `prepare_cached`), grouped with HashMaps.
pub fn associations(conn: &rusqlite::Connection) -> Nested {
    let users = all_users(conn);
    let posts = posts_of(conn, &users);
    let comments: Vec<Comment> = conn
        .prepare_cached(&format!(
            "SELECT id, post_id, text FROM comments WHERE post_id IN ({})",
            placeholders(posts.len())
        ))
        .unwrap()
        .query_map(
            rusqlite::params_from_iter(posts.iter().map(|p| p.id)),
            comment_row,
        )
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    nest(users, posts, comments)
}

/// insert/N: one cached single-row INSERT per user and
/// `last_insert_rowid`, in one transaction (what a unit-of-work flush does).
pub fn insert_rowwise(conn: &rusqlite::Connection, n: usize) -> Vec<User> {
    let mut users = new_users(n);
    let tx = conn.unchecked_transaction().unwrap();
    {
        let mut stmt = tx
            .prepare_cached("INSERT INTO users (name, hair_color) VALUES (?1, ?2)")
            .unwrap();
        for u in &mut users {
            stmt.execute(rusqlite::params![u.name, u.hair_color])
                .unwrap();
            u.id = tx.last_insert_rowid();
        }
    }
    tx.commit().unwrap();
    users
}

/// The statement of [`insert_multirow`] for `n` rows.
pub fn multirow_sql(n: usize) -> String {
    format!(
        "INSERT INTO users (name, hair_color) VALUES {} RETURNING id",
        vec!["(?, ?)"; n].join(", ")
    )
}

/// insert/N, second baseline: one cached `INSERT ... VALUES (?, ?), ...
/// RETURNING id` for all N rows, in one transaction.
pub fn insert_multirow(conn: &rusqlite::Connection, sql: &str, n: usize) -> Vec<User> {
    let mut users = new_users(n);
    let tx = conn.unchecked_transaction().unwrap();
    {
        let mut stmt = tx.prepare_cached(sql).unwrap();
        let mut i = 1;
        for u in &users {
            stmt.raw_bind_parameter(i, &u.name).unwrap();
            stmt.raw_bind_parameter(i + 1, &u.hair_color).unwrap();
            i += 2;
        }
        let mut rows = stmt.raw_query();
        // RETURNING yields the rows of one multi-row VALUES insert in
        // insertion order here (SQLite does not promise it in general).
        let mut users_iter = users.iter_mut();
        while let Some(row) = rows.next().unwrap() {
            users_iter.next().unwrap().id = row.get(0).unwrap();
        }
    }
    tx.commit().unwrap();
    users
}

/// get_by_pk: one user by key.
pub fn get(conn: &rusqlite::Connection, id: i64) -> User {
    conn.prepare_cached("SELECT id, name, hair_color FROM users WHERE id = ?1")
        .unwrap()
        .query_row([id], user_row)
        .unwrap()
}

/// update/N: set `hair_color` on each in-memory user, then one cached
/// UPDATE per user in one transaction.
pub fn update(conn: &rusqlite::Connection, users: &mut [User], color: &str) {
    let tx = conn.unchecked_transaction().unwrap();
    {
        let mut stmt = tx
            .prepare_cached("UPDATE users SET hair_color = ?1 WHERE id = ?2")
            .unwrap();
        for u in users.iter_mut() {
            u.hair_color = Some(color.to_owned());
            stmt.execute(rusqlite::params![u.hair_color, u.id]).unwrap();
        }
    }
    tx.commit().unwrap();
}

/// delete/N, the timed part: the posts of all `users` loaded in one `IN`
/// list (what a unit of work's delete cascade has to know: which children
/// to unlink), then one cached DELETE per user, in one transaction.
/// Returns the posts found.
pub fn delete(conn: &rusqlite::Connection, users: &[User]) -> Vec<Post> {
    let tx = conn.unchecked_transaction().unwrap();
    let posts = posts_of(&tx, users);
    {
        let mut stmt = tx
            .prepare_cached("DELETE FROM users WHERE id = ?1")
            .unwrap();
        for u in users {
            stmt.execute([u.id]).unwrap();
        }
    }
    tx.commit().unwrap();
    posts
}

/// The value update/N writes at iteration `i` (so every write changes it).
pub fn color(i: u64) -> &'static str {
    if i % 2 == 1 { "black" } else { "brown" }
}

/// graph_insert: one user, 10 posts, 10 comments per post, each key read
/// back with `last_insert_rowid` and used by the children, in one
/// transaction, into the nested structure with every id set.
pub fn graph(conn: &rusqlite::Connection) -> Graph {
    let (posts, comments) = sql::GRAPH;
    let tx = conn.unchecked_transaction().unwrap();
    let mut user = User {
        id: 0,
        name: "User 0".to_owned(),
        hair_color: Some("black".to_owned()),
    };
    let mut out = Vec::with_capacity(posts);
    {
        let mut ins_user = tx
            .prepare_cached("INSERT INTO users (name, hair_color) VALUES (?1, ?2)")
            .unwrap();
        let mut ins_post = tx
            .prepare_cached("INSERT INTO posts (user_id, title, body) VALUES (?1, ?2, ?3)")
            .unwrap();
        let mut ins_comment = tx
            .prepare_cached("INSERT INTO comments (post_id, text) VALUES (?1, ?2)")
            .unwrap();
        ins_user
            .execute(rusqlite::params![user.name, user.hair_color])
            .unwrap();
        user.id = tx.last_insert_rowid();
        for j in 0..posts {
            let mut post = Post {
                id: 0,
                user_id: user.id,
                title: format!("Post {j}"),
                body: None,
            };
            ins_post
                .execute(rusqlite::params![post.user_id, post.title, post.body])
                .unwrap();
            post.id = tx.last_insert_rowid();
            let mut cs = Vec::with_capacity(comments);
            for k in 0..comments {
                let mut c = Comment {
                    id: 0,
                    post_id: post.id,
                    text: format!("Comment {k}"),
                };
                ins_comment
                    .execute(rusqlite::params![c.post_id, c.text])
                    .unwrap();
                c.id = tx.last_insert_rowid();
                cs.push(c);
            }
            out.push((post, cs));
        }
    }
    tx.commit().unwrap();
    (user, out)
}

// -------------------------------------------------------------- samplers

/// The rusqlite sampler of each workload, with its own seeded database in
/// `storage`.
pub mod systems {
    use super::*;

    pub fn trivial_query(storage: Storage, n: usize) -> (Sample, Vec<User>) {
        let conn = db_on(storage);
        seed(&conn, &[(sql::SEED_USERS, n)]);
        let expect = all_users(&conn);
        assert_eq!(expect.len(), n);
        let s = sample(move |iters| {
            timed(iters, |_| {
                black_box(all_users(&conn));
            })
        });
        (s, expect)
    }

    pub fn medium_complex_query(storage: Storage, n: usize) -> (Sample, Vec<(User, Option<Post>)>) {
        let conn = db_on(storage);
        seed(&conn, &[(sql::SEED_USERS_COLORED, n)]);
        let expect = medium(&conn);
        assert_eq!(expect.len(), n.div_ceil(2));
        assert!(expect.iter().all(|(_, p)| p.is_none()));
        let s = sample(move |iters| {
            timed(iters, |_| {
                black_box(medium(&conn));
            })
        });
        (s, expect)
    }

    pub fn assoc_seeds() -> [(&'static str, usize); 3] {
        let (users, posts, comments) = sql::ASSOC;
        [
            (sql::SEED_USERS_COLORED, users),
            (sql::SEED_POSTS, posts),
            (sql::SEED_COMMENTS, comments),
        ]
    }

    pub fn loading_associations(storage: Storage) -> (Sample, Nested) {
        let conn = db_on(storage);
        seed(&conn, &assoc_seeds());
        let expect = associations(&conn);
        let (u, p, c) = sql::ASSOC;
        assert_eq!(count(&expect), (u, u * p, u * p * c));
        let s = sample(move |iters| {
            timed(iters, |_| {
                black_box(associations(&conn));
            })
        });
        (s, expect)
    }

    pub fn insert(storage: Storage, n: usize) -> (Sample, Vec<User>) {
        let conn = db_on(storage);
        let expect = insert_rowwise(&conn, n);
        let s = sample(move |iters| {
            clear(&conn);
            timed(iters, |_| {
                black_box(insert_rowwise(&conn, n));
            })
        });
        (s, expect)
    }

    pub fn insert_multi(storage: Storage, n: usize) -> (Sample, Vec<User>) {
        let conn = db_on(storage);
        let stmt = multirow_sql(n);
        let expect = insert_multirow(&conn, &stmt, n);
        let s = sample(move |iters| {
            clear(&conn);
            timed(iters, |_| {
                black_box(insert_multirow(&conn, &stmt, n));
            })
        });
        (s, expect)
    }

    /// The key sequence is `sql::key_at`; returns the user at `key_at(3)`.
    pub fn get_by_pk(storage: Storage) -> (Sample, User) {
        let conn = db_on(storage);
        seed(&conn, &[(sql::SEED_USERS, sql::GET_TABLE_ROWS)]);
        let expect = get(&conn, sql::key_at(3));
        let s = sample(move |iters| {
            timed(iters, |i| {
                black_box(get(&conn, sql::key_at(i)));
            })
        });
        (s, expect)
    }

    pub fn update_n(storage: Storage, n: usize) -> Sample {
        let conn = db_on(storage);
        seed(&conn, &[(sql::SEED_USERS, n)]);
        let mut users = all_users(&conn);
        assert_eq!(users.len(), n);
        let mut round = 0u64;
        sample(move |iters| {
            timed(iters, |_| {
                round += 1;
                update(&conn, &mut users, color(round));
                black_box(&users);
            })
        })
    }

    /// Untimed: N users seeded again and loaded; timed: `delete`.
    pub fn delete_n(storage: Storage, n: usize) -> Sample {
        let conn = db_on(storage);
        let load = move |conn: &rusqlite::Connection| {
            seed(conn, &[(sql::SEED_USERS, n)]);
            all_users(conn)
        };
        let users = load(&conn);
        assert_eq!(users.len(), n);
        assert!(delete(&conn, &users).is_empty());
        sample(move |iters| {
            timed_each(
                iters,
                || load(&conn),
                |users| (delete(&conn, &users), users),
            )
        })
    }

    pub fn graph_insert(storage: Storage) -> (Sample, Graph) {
        let conn = db_on(storage);
        let expect = graph(&conn);
        let s = sample(move |iters| {
            clear(&conn);
            timed(iters, |_| {
                black_box(graph(&conn));
            })
        });
        (s, expect)
    }
}
