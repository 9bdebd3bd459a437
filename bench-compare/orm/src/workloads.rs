//! orm beside the hand-written rusqlite baseline on every workload.
//!
//! Shared, as source, by the criterion bench (`benches/orm_vs_rusqlite.rs`)
//! and by bench-compare's orm binary, so both measure the same code. The
//! including crate provides the modules `models` (orm models of the three
//! tables), `raw` (`bench-compare/common/raw.rs`, the rusqlite baseline)
//! and `sql` (`bench-compare/common/sql.rs`).
//!
//! Every workload returns its systems as samplers (`FnMut(iters) ->
//! Duration`): untimed per-sample setup, then `iters` timed iterations.
//! Each system has its own in-memory database with the same schema and
//! seed rows; every result is checked against rusqlite's before anything
//! is timed.
//!
//! orm is used as an application would: a new session per iteration (a
//! request), except where the workload is about a long-lived session
//! (identity-map hits, updates of loaded objects).
//!
//! `rusqlite_memdb` is a control: the same rusqlite code on SQLite's
//! `memdb` VFS, the shared in-memory storage orm's `sqlite://` opens (so its
//! pooled connections see one database). It separates orm's own costs from
//! those of its storage; the targets are against `rusqlite` (`:memory:`).

#![allow(dead_code)] // shared by two crates; each uses a part

use std::collections::HashMap;
use std::hint::black_box;

use orm::prelude::*;
use orm::relation::selectin;

use super::models::{Comment, Post, User};
use super::raw::{self, Nested, Sample, Storage, sample, timed};
use super::sql;

/// The systems of one workload, by name.
pub type Systems = Vec<(&'static str, Sample)>;

/// A new in-memory orm database with the three tables.
pub fn orm_db() -> Database {
    let db = Database::builder()
        .model::<User>()
        .model::<Post>()
        .model::<Comment>()
        .open("sqlite://")
        .expect("open orm database");
    db.create_all().expect("create_all");
    db
}

/// The DDL orm runs for the three tables (checked against `sql::SCHEMA`).
pub fn orm_ddl() -> Vec<String> {
    let db = Database::builder()
        .model::<User>()
        .model::<Post>()
        .model::<Comment>()
        .open("sqlite://")
        .expect("open orm database");
    let rec = db.record();
    db.create_all().expect("create_all");
    rec.sql()
}

pub fn orm_seed(db: &Database, seeds: &[(&'static str, usize)]) {
    let s = db.session();
    for &(stmt, n) in seeds {
        s.execute(stmt, &orm::params![n as i64]).expect("seed");
    }
    s.commit().expect("seed commit");
}

fn orm_clear(db: &Database) {
    let s = db.session();
    s.execute("DELETE FROM comments", &[]).expect("clear");
    s.execute("DELETE FROM posts", &[]).expect("clear");
    s.execute("DELETE FROM users", &[]).expect("clear");
    s.commit().expect("clear commit");
}

// -------------------------------------------------------- trivial_query

/// All N users: rusqlite; orm tracked (`all()`: identity map, new session
/// per iteration); orm detached (`all_detached()`: plain values).
pub fn trivial_query(n: usize) -> Systems {
    let (raw, expect) = raw::systems::trivial_query(Storage::Memory, n);
    let (memdb, _) = raw::systems::trivial_query(Storage::Memdb, n);
    let db = orm_db();
    orm_seed(&db, &[(sql::SEED_USERS, n)]);
    assert_eq!(db.session().query::<User>().all_detached().unwrap(), expect);
    let tracked = db.session().query::<User>().all().unwrap();
    assert!(
        tracked
            .iter()
            .zip(&expect)
            .all(|(o, u)| *o.read().unwrap() == *u)
    );
    drop(tracked);

    let db2 = db.clone();
    vec![
        ("rusqlite", raw),
        ("rusqlite_memdb", memdb),
        (
            "orm",
            sample(move |iters| {
                timed(iters, |_| {
                    let s = db.session();
                    black_box(s.query::<User>().all().unwrap());
                })
            }),
        ),
        (
            "orm_detached",
            sample(move |iters| {
                timed(iters, |_| {
                    let s = db2.session();
                    black_box(s.query::<User>().all_detached().unwrap());
                })
            }),
        ),
    ]
}

// ------------------------------------------------- medium_complex_query

pub fn orm_medium(s: &Session) -> Vec<Obj<User>> {
    s.query::<User>()
        .filter(User::hair_color.eq("black"))
        .load(selectin(User::posts))
        .all()
        .unwrap()
}

/// diesel_bench's shape itself: one `LEFT OUTER JOIN` into `(User,
/// Option<Post>)` pairs, through the identity map.
fn orm_medium_join(s: &Session) -> Vec<(Obj<User>, Option<Obj<Post>>)> {
    s.query::<User>()
        .outer_join(User::posts)
        .filter(User::hair_color.eq("black"))
        .models::<(User, Option<Post>)>()
        .all()
        .unwrap()
}

/// The same pairs as plain values.
fn orm_medium_join_detached(s: &Session) -> Vec<(User, Option<Post>)> {
    s.query::<User>()
        .outer_join(User::posts)
        .filter(User::hair_color.eq("black"))
        .models::<(User, Option<Post>)>()
        .all_detached()
        .unwrap()
}

pub fn orm_medium_detached(s: &Session) -> Vec<(User, Vec<Post>)> {
    let users = s
        .query::<User>()
        .filter(User::hair_color.eq("black"))
        .all_detached()
        .unwrap();
    let mut by_user: HashMap<i64, Vec<Post>> = HashMap::new();
    if !users.is_empty() {
        let posts = s
            .query::<Post>()
            .filter(Post::user_id.in_list(users.iter().map(|u| u.id)))
            .all_detached()
            .unwrap();
        for p in posts {
            by_user.entry(p.user_id).or_default().push(p);
        }
    }
    users
        .into_iter()
        .map(|u| {
            let posts = by_user.remove(&u.id).unwrap_or_default();
            (u, posts)
        })
        .collect()
}

/// diesel_bench's `users LEFT JOIN posts WHERE hair_color = 'black'`;
/// posts is empty, as there.
///
/// - rusqlite: the LEFT JOIN, into `Vec<(User, Option<Post>)>`.
/// - orm: orm has no LEFT JOIN into pairs; its idiomatic form is the users
///   filtered by hair colour with their posts loaded eagerly,
///   `filter(hair_color = 'black').load(selectin(User::posts)).all()`:
///   two queries (users, then posts `WHERE user_id IN (...)`, 500 keys per
///   query), every user's collection loaded.
/// - orm_detached: `all_detached()` users, then `all_detached()` posts by
///   `user_id IN (...)` (one query), grouped with a HashMap into
///   `Vec<(User, Vec<Post>)>`.
/// - orm_outer_join / orm_outer_join_detached: diesel_bench's own shape,
///   `outer_join(User::posts).filter(...).models::<(User, Option<Post>)>()`,
///   one `LEFT OUTER JOIN` into pairs (`all()` through the identity map,
///   `all_detached()` plain values).
pub fn medium_complex_query(n: usize) -> Systems {
    let (raw, expect) = raw::systems::medium_complex_query(Storage::Memory, n);
    let (memdb, _) = raw::systems::medium_complex_query(Storage::Memdb, n);
    let db = orm_db();
    orm_seed(&db, &[(sql::SEED_USERS_COLORED, n)]);
    {
        let s = db.session();
        let users = orm_medium(&s);
        assert_eq!(users.len(), expect.len());
        for (o, (u, _)) in users.iter().zip(&expect) {
            assert_eq!(*o.read().unwrap(), *u);
            assert!(o.related(User::posts).unwrap().is_empty());
        }
        let detached = orm_medium_detached(&s);
        assert_eq!(detached.len(), expect.len());
        assert!(
            detached
                .iter()
                .zip(&expect)
                .all(|((a, ps), (b, _))| a == b && ps.is_empty())
        );
        let pairs = orm_medium_join(&s);
        assert_eq!(pairs.len(), expect.len());
        for ((u, p), (eu, ep)) in pairs.iter().zip(&expect) {
            assert_eq!(*u.read().unwrap(), *eu);
            assert_eq!(p.is_none(), ep.is_none());
        }
        assert_eq!(orm_medium_join_detached(&s), expect);
    }

    let db2 = db.clone();
    let db3 = db.clone();
    let db4 = db.clone();
    vec![
        ("rusqlite", raw),
        ("rusqlite_memdb", memdb),
        (
            "orm",
            sample(move |iters| {
                timed(iters, |_| {
                    let s = db.session();
                    black_box(orm_medium(&s));
                })
            }),
        ),
        (
            "orm_detached",
            sample(move |iters| {
                timed(iters, |_| {
                    let s = db2.session();
                    black_box(orm_medium_detached(&s));
                })
            }),
        ),
        (
            "orm_outer_join",
            sample(move |iters| {
                timed(iters, |_| {
                    let s = db3.session();
                    black_box(orm_medium_join(&s));
                })
            }),
        ),
        (
            "orm_outer_join_detached",
            sample(move |iters| {
                timed(iters, |_| {
                    let s = db4.session();
                    black_box(orm_medium_join_detached(&s));
                })
            }),
        ),
    ]
}

// ------------------------------------------------- loading_associations

pub fn orm_assoc(s: &Session) -> Vec<Obj<User>> {
    s.query::<User>()
        .load(selectin(User::posts).then(selectin(Post::comments)))
        .all()
        .unwrap()
}

pub fn orm_assoc_detached(s: &Session) -> Nested {
    let users = s.query::<User>().all_detached().unwrap();
    let posts = s
        .query::<Post>()
        .filter(Post::user_id.in_list(users.iter().map(|u| u.id)))
        .all_detached()
        .unwrap();
    let comments = s
        .query::<Comment>()
        .filter(Comment::post_id.in_list(posts.iter().map(|p| p.id)))
        .all_detached()
        .unwrap();
    raw::nest(users, posts, comments)
}

/// 9 users x 10 posts x 10 comments, loaded eagerly.
///
/// - rusqlite: users; posts `WHERE user_id IN (...)`; comments `WHERE
///   post_id IN (...)`; grouped with HashMaps into `Vec<(User, Vec<(Post,
///   Vec<Comment>)>)>`.
/// - orm: `load(selectin(User::posts).then(selectin(Post::comments))).all()`:
///   the same three queries; every collection and back-reference is loaded
///   on the tracked objects (navigating them afterwards runs no SQL).
/// - orm_detached: three `all_detached()` queries with `in_list`, grouped
///   like rusqlite's.
pub fn loading_associations() -> Systems {
    let (raw, expect) = raw::systems::loading_associations(Storage::Memory);
    let (memdb, _) = raw::systems::loading_associations(Storage::Memdb);
    let db = orm_db();
    orm_seed(&db, &raw::systems::assoc_seeds());
    {
        let s = db.session();
        let users = orm_assoc(&s);
        let mut seen: Nested = Vec::new();
        for u in &users {
            let mut posts = Vec::new();
            for p in u.related(User::posts).unwrap() {
                let cs = p.related(Post::comments).unwrap();
                let cs = cs.iter().map(|c| c.read().unwrap().clone()).collect();
                posts.push((p.read().unwrap().clone(), cs));
            }
            seen.push((u.read().unwrap().clone(), posts));
        }
        assert_eq!(seen, expect);
        assert_eq!(orm_assoc_detached(&s), expect);
    }

    let db2 = db.clone();
    vec![
        ("rusqlite", raw),
        ("rusqlite_memdb", memdb),
        (
            "orm",
            sample(move |iters| {
                timed(iters, |_| {
                    let s = db.session();
                    black_box(orm_assoc(&s));
                })
            }),
        ),
        (
            "orm_detached",
            sample(move |iters| {
                timed(iters, |_| {
                    let s = db2.session();
                    black_box(orm_assoc_detached(&s));
                })
            }),
        ),
    ]
}

// --------------------------------------------------------------- insert

pub fn orm_insert(db: &Database, n: usize) -> Vec<Obj<User>> {
    let s = db.session();
    let objs = s.add_all(raw::new_users(n)).unwrap();
    s.commit().unwrap();
    objs
}

/// N new users written, their ids read back, in one transaction; tables
/// emptied before every sample (untimed); every system builds its N
/// `User` values inside the iteration.
///
/// - rusqlite: a cached single-row INSERT + `last_insert_rowid` per user.
/// - rusqlite_multirow: one cached `INSERT ... VALUES (?, ?), ... RETURNING
///   id` for the N rows (the shape a batched flush could use).
/// - orm: `add_all(users)` + `commit()` in a new session.
pub fn insert(n: usize) -> Systems {
    let (raw, expect) = raw::systems::insert(Storage::Memory, n);
    let (memdb, _) = raw::systems::insert(Storage::Memdb, n);
    let (multi, expect_multi) = raw::systems::insert_multi(Storage::Memory, n);
    assert_eq!(expect, expect_multi);
    let db = orm_db();
    let objs = orm_insert(&db, n);
    assert!(
        objs.iter()
            .zip(&expect)
            .all(|(o, u)| *o.read().unwrap() == *u)
    );
    vec![
        ("rusqlite", raw),
        ("rusqlite_memdb", memdb),
        ("rusqlite_multirow", multi),
        (
            "orm",
            sample(move |iters| {
                orm_clear(&db);
                timed(iters, |_| {
                    black_box(orm_insert(&db, n));
                })
            }),
        ),
    ]
}

/// bulk_insert/N: N new users in one multi-row INSERT with their ids read
/// back, in one transaction; tables emptied before every sample.
///
/// - rusqlite_multirow: one cached `INSERT ... VALUES (?, ?), ... RETURNING
///   id` (the hand-written floor), on `:memory:` and on `memdb` (orm's
///   storage).
/// - orm_bulk: `bulk_insert(users)` (tracked objects in the identity map) +
///   `commit()` in a new session.
/// - orm_bulk_detached: `bulk_insert_detached(users)` (values with their
///   keys, untracked) + `commit()`.
pub fn bulk_insert(n: usize) -> Systems {
    let (multi, expect) = raw::systems::insert_multi(Storage::Memory, n);
    let (multi_memdb, _) = raw::systems::insert_multi(Storage::Memdb, n);
    let db = orm_db();
    let bulk = move |db: &Database| {
        let s = db.session();
        let objs = s.bulk_insert(raw::new_users(n)).unwrap();
        s.commit().unwrap();
        objs
    };
    let bulk_detached = move |db: &Database| {
        let s = db.session();
        let users = s.bulk_insert_detached(raw::new_users(n)).unwrap();
        s.commit().unwrap();
        users
    };
    let objs = bulk(&db);
    assert!(
        objs.iter()
            .zip(&expect)
            .all(|(o, u)| *o.read().unwrap() == *u)
    );
    orm_clear(&db);
    assert_eq!(bulk_detached(&db), expect);
    let db2 = orm_db();
    vec![
        ("rusqlite_multirow", multi),
        ("rusqlite_multirow_memdb", multi_memdb),
        (
            "orm_bulk",
            sample(move |iters| {
                orm_clear(&db);
                timed(iters, |_| {
                    black_box(bulk(&db));
                })
            }),
        ),
        (
            "orm_bulk_detached",
            sample(move |iters| {
                orm_clear(&db2);
                timed(iters, |_| {
                    black_box(bulk_detached(&db2));
                })
            }),
        ),
    ]
}

// ------------------------------------------------------------ get_by_pk

/// One user by primary key from a 10,000-row table, the key changing
/// every iteration (`sql::key_at`). `miss`: orm in a new session each
/// time, so the row comes from the database. `hit`: one session that
/// already holds every user, so orm answers from its identity map.
/// rusqlite runs its cached SELECT in both.
pub fn get_by_pk(hit: bool) -> Systems {
    let (raw, expect) = raw::systems::get_by_pk(Storage::Memory);
    let (memdb, _) = raw::systems::get_by_pk(Storage::Memdb);
    let db = orm_db();
    orm_seed(&db, &[(sql::SEED_USERS, sql::GET_TABLE_ROWS)]);
    let got = db.session().get::<User>(sql::key_at(3)).unwrap().unwrap();
    assert_eq!(*got.read().unwrap(), expect);

    let orm: Sample = if hit {
        let s = db.session();
        let held = s.query::<User>().all().unwrap();
        assert_eq!(held.len(), sql::GET_TABLE_ROWS);
        sample(move |iters| {
            let _keep_alive = &held;
            timed(iters, |i| {
                black_box(s.get::<User>(sql::key_at(i)).unwrap().unwrap());
            })
        })
    } else {
        sample(move |iters| {
            timed(iters, |i| {
                let s = db.session();
                black_box(s.get::<User>(sql::key_at(i)).unwrap().unwrap());
            })
        })
    };
    vec![("rusqlite", raw), ("rusqlite_memdb", memdb), ("orm", orm)]
}

// --------------------------------------------------------------- update

/// Change one field (`hair_color`, alternating between two values) on N
/// loaded users and write it in one transaction.
///
/// - rusqlite: the N users in memory; the field set on each, then one
///   cached `UPDATE users SET hair_color = ? WHERE id = ?` per user.
/// - orm: one session holding the N loaded objects; `write()` each, then
///   `commit()` (the flush finds the changed objects and writes the
///   changed column only).
pub fn update(n: usize) -> Systems {
    let raw = raw::systems::update_n(Storage::Memory, n);
    let memdb = raw::systems::update_n(Storage::Memdb, n);
    let db = orm_db();
    orm_seed(&db, &[(sql::SEED_USERS, n)]);
    let s = db.session();
    let objs = s.query::<User>().all().unwrap();
    assert_eq!(objs.len(), n);
    let mut round = 0u64;
    let orm = sample(move |iters| {
        timed(iters, |_| {
            round += 1;
            for o in &objs {
                o.write().unwrap().hair_color = Some(raw::color(round).to_owned());
            }
            s.commit().unwrap();
            black_box(&objs);
        })
    });
    vec![("rusqlite", raw), ("rusqlite_memdb", memdb), ("orm", orm)]
}

// --------------------------------------------------------------- delete

/// Deleting N loaded users. Untimed: the users seeded again (one raw
/// statement) and loaded in a new session. Timed: each marked with
/// `session.delete`, then one `commit()`: the flush loads the posts of all
/// N users in one `IN` list (the delete cascade's question: which children
/// to unlink) and runs N cached `DELETE ... WHERE id = ?`.
///
/// - rusqlite: the same statements by hand (`raw::delete`).
pub fn delete(n: usize) -> Systems {
    let raw = raw::systems::delete_n(Storage::Memory, n);
    let memdb = raw::systems::delete_n(Storage::Memdb, n);
    let db = orm_db();
    let orm = sample(move |iters| {
        raw::timed_each(
            iters,
            || {
                orm_seed(&db, &[(sql::SEED_USERS, n)]);
                let s = db.session();
                let objs = s.query::<User>().all().unwrap();
                assert_eq!(objs.len(), n);
                (s, objs)
            },
            |(s, objs)| {
                for o in &objs {
                    s.delete(o).unwrap();
                }
                s.commit().unwrap();
                (s, objs)
            },
        )
    });
    vec![("rusqlite", raw), ("rusqlite_memdb", memdb), ("orm", orm)]
}

// --------------------------------------------------------- graph_insert

pub fn orm_graph(s: &Session) -> Obj<User> {
    let (posts, comments) = sql::GRAPH;
    let user = s
        .add(User {
            id: 0,
            name: "User 0".to_owned(),
            hair_color: Some("black".to_owned()),
        })
        .unwrap();
    for j in 0..posts {
        let post = Obj::new(Post {
            title: format!("Post {j}"),
            ..Default::default()
        });
        user.append(User::posts, &post).unwrap();
        for k in 0..comments {
            let comment = Obj::new(Comment {
                text: format!("Comment {k}"),
                ..Default::default()
            });
            post.append(Post::comments, &comment).unwrap();
        }
    }
    s.commit().unwrap();
    user
}

/// One user with 10 posts with 10 comments each, inserted in one
/// transaction, every generated key read back and used by the children.
///
/// - rusqlite: 111 cached single-row INSERTs with `last_insert_rowid`,
///   into a nested structure with every id set.
/// - orm: the graph built through relationships (`user.append(User::posts,
///   &post)`, `post.append(Post::comments, &comment)`), one `add`, one
///   `commit()` in a new session; the flush fills the foreign keys.
pub fn graph_insert() -> Systems {
    let (raw, (user, posts)) = raw::systems::graph_insert(Storage::Memory);
    let (memdb, _) = raw::systems::graph_insert(Storage::Memdb);
    let db = orm_db();
    {
        let s = db.session();
        let o = orm_graph(&s);
        assert_eq!(*o.read().unwrap(), user);
        let ops = o.related(User::posts).unwrap();
        assert_eq!(ops.len(), posts.len());
        for (op, (p, cs)) in ops.iter().zip(&posts) {
            assert_eq!(*op.read().unwrap(), *p);
            let ocs = op.related(Post::comments).unwrap();
            let ocs: Vec<Comment> = ocs.iter().map(|c| c.read().unwrap().clone()).collect();
            assert_eq!(ocs, *cs);
        }
    }
    vec![
        ("rusqlite", raw),
        ("rusqlite_memdb", memdb),
        (
            "orm",
            sample(move |iters| {
                orm_clear(&db);
                timed(iters, |_| {
                    let s = db.session();
                    black_box(orm_graph(&s));
                })
            }),
        ),
    ]
}
