//! The hand-written PostgreSQL baseline: the `postgres` crate (0.19, the
//! synchronous client orm's backend is built on) sending **the statements
//! orm sends**, text for text (checked: `systems.rs` records orm's SQL for
//! every workload and compares it with these).
//!
//! It is the floor for those statements: each one prepared once per
//! connection and kept as a `Statement` (the IN-list statements once per
//! list length), parameters bound as the server's types (`i32` for the
//! `SERIAL` / `INTEGER` columns orm's `create_all` makes), rows mapped by
//! column index as they stream in (`query_raw`, every result read to its
//! end, as orm and `query_one` do), transactions with
//! `Client::transaction` (`BEGIN` / `COMMIT`, as orm), generated keys read
//! back from `RETURNING "id"`.

use std::collections::HashMap;

use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;
use postgres::{Client, GenericClient, NoTls, Statement};

use super::models::{Comment, Post, User};
use super::raw::{Graph, Nested};
use super::sql;

// The statements orm sends (its recorder's text for each workload).

pub const ALL_USERS: &str =
    r#"SELECT "users"."id", "users"."name", "users"."hair_color" FROM "users""#;
pub const USERS_BY_COLOR: &str = r#"SELECT "users"."id", "users"."name", "users"."hair_color" FROM "users" WHERE "users"."hair_color" = $1"#;
pub const GET_USER: &str = r#"SELECT "users"."id", "users"."name", "users"."hair_color" FROM "users" WHERE "users"."id" = $1"#;
pub const INSERT_USER: &str =
    r#"INSERT INTO "users" ("name", "hair_color") VALUES ($1, $2) RETURNING "id""#;
pub const INSERT_POST: &str =
    r#"INSERT INTO "posts" ("user_id", "title", "body") VALUES ($1, $2, $3) RETURNING "id""#;
pub const INSERT_COMMENT: &str =
    r#"INSERT INTO "comments" ("post_id", "text") VALUES ($1, $2) RETURNING "id""#;
pub const UPDATE_USER: &str = r#"UPDATE "users" SET "hair_color" = $1 WHERE "users"."id" = $2"#;

/// `$1, $2, ...` for an IN list of `n` values.
fn numbered(n: usize) -> String {
    let mut s = String::with_capacity(n * 5);
    for i in 1..=n {
        if i > 1 {
            s.push_str(", ");
        }
        s.push('$');
        s.push_str(&i.to_string());
    }
    s
}

pub fn posts_in(n: usize) -> String {
    format!(
        r#"SELECT "posts"."id", "posts"."user_id", "posts"."title", "posts"."body" FROM "posts" WHERE "posts"."user_id" IN ({})"#,
        numbered(n)
    )
}

pub fn comments_in(n: usize) -> String {
    format!(
        r#"SELECT "comments"."id", "comments"."post_id", "comments"."text" FROM "comments" WHERE "comments"."post_id" IN ({})"#,
        numbered(n)
    )
}

/// insert/N, second baseline: one `INSERT ... VALUES ($1, $2), ...
/// RETURNING "id"` for all N rows, what orm's flush sends from 2 rows up.
pub fn insert_users_multirow(n: usize) -> String {
    multirow(INSERT_USER, 2, n)
}

/// `single` (a one-row `INSERT ... VALUES ($1, ..., $k) RETURNING "id"`)
/// with `n` rows of `k` placeholders each.
pub fn multirow(single: &str, k: usize, n: usize) -> String {
    let (head, _) = single.split_once(" VALUES ").expect("an INSERT");
    let values: Vec<String> = (0..n)
        .map(|i| {
            let row: Vec<String> = (1..=k).map(|j| format!("${}", k * i + j)).collect();
            format!("({})", row.join(", "))
        })
        .collect();
    format!(r#"{head} VALUES {} RETURNING "id""#, values.join(", "))
}

/// The seed statements of `sql` with PostgreSQL's placeholder (`$1`, an
/// `INTEGER` here).
pub fn seed_sql(stmt: &'static str) -> &'static str {
    use std::sync::Mutex;
    static DONE: Mutex<Vec<(&'static str, &'static str)>> = Mutex::new(Vec::new());
    let mut done = DONE.lock().unwrap();
    if let Some((_, pg)) = done.iter().find(|(s, _)| *s == stmt) {
        return pg;
    }
    let pg: &'static str = Box::leak(stmt.replace("?1", "$1").into_boxed_str());
    done.push((stmt, pg));
    pg
}

/// Empties the three tables (write workloads, before every sample).
pub const CLEAR: &str = r#"TRUNCATE "comments", "posts", "users""#;

/// A connection with every fixed statement prepared.
pub struct Pg {
    pub client: Client,
    all_users: Statement,
    users_by_color: Statement,
    get_user: Statement,
    insert_user: Statement,
    insert_post: Statement,
    insert_comment: Statement,
    update_user: Statement,
    /// IN-list statements by list length, prepared on first use.
    posts_by_len: HashMap<usize, Statement>,
    comments_by_len: HashMap<usize, Statement>,
    multirow_by_len: HashMap<usize, Statement>,
    /// graph_insert's multi-row statements: the posts, the comments.
    graph_multirow: Option<(Statement, Statement)>,
}

impl Pg {
    /// Connect to `url` (whose tables exist) and prepare the statements.
    pub fn connect(url: &str) -> Pg {
        let mut client = Client::connect(url, NoTls).expect("connect to PostgreSQL");
        let mut prep = |sql: &str| client.prepare(sql).expect("prepare");
        let all_users = prep(ALL_USERS);
        let users_by_color = prep(USERS_BY_COLOR);
        let get_user = prep(GET_USER);
        let insert_user = prep(INSERT_USER);
        let insert_post = prep(INSERT_POST);
        let insert_comment = prep(INSERT_COMMENT);
        let update_user = prep(UPDATE_USER);
        Pg {
            client,
            all_users,
            users_by_color,
            get_user,
            insert_user,
            insert_post,
            insert_comment,
            update_user,
            posts_by_len: HashMap::new(),
            comments_by_len: HashMap::new(),
            multirow_by_len: HashMap::new(),
            graph_multirow: None,
        }
    }

    /// Run seed statements with their counts as `$1`.
    pub fn seed(&mut self, seeds: &[(&'static str, usize)]) {
        for &(stmt, n) in seeds {
            self.client
                .execute(seed_sql(stmt), &[&(n as i32)])
                .expect("seed");
        }
    }

    pub fn clear(&mut self) {
        self.client.batch_execute(CLEAR).expect("clear");
    }
}

fn user_row(r: &postgres::Row) -> User {
    User {
        id: i64::from(r.get::<_, i32>(0)),
        name: r.get(1),
        hair_color: r.get(2),
    }
}

fn post_row(r: &postgres::Row) -> Post {
    Post {
        id: i64::from(r.get::<_, i32>(0)),
        user_id: i64::from(r.get::<_, i32>(1)),
        title: r.get(2),
        body: r.get(3),
    }
}

fn comment_row(r: &postgres::Row) -> Comment {
    Comment {
        id: i64::from(r.get::<_, i32>(0)),
        post_id: i64::from(r.get::<_, i32>(1)),
        text: r.get(2),
    }
}

/// Run `stmt` and map its rows as they arrive.
fn rows<T, P>(
    client: &mut impl GenericClient,
    stmt: &Statement,
    params: P,
    map: impl Fn(&postgres::Row) -> T,
) -> Vec<T>
where
    P: IntoIterator,
    P::Item: postgres::types::BorrowToSql,
    P::IntoIter: ExactSizeIterator,
{
    let mut it = client.query_raw(stmt, params).expect("query");
    let mut out = Vec::with_capacity(it.size_hint().0);
    while let Some(r) = it.next().expect("row") {
        out.push(map(&r));
    }
    out
}

/// Run `stmt`, which returns exactly one row, and map it; the result is
/// read to its end (as `query_one`, without its `Vec`).
fn one<T, P>(
    client: &mut impl GenericClient,
    stmt: &Statement,
    params: P,
    map: impl Fn(&postgres::Row) -> T,
) -> T
where
    P: IntoIterator,
    P::Item: postgres::types::BorrowToSql,
    P::IntoIter: ExactSizeIterator,
{
    let mut it = client.query_raw(stmt, params).expect("query");
    let row = it.next().expect("row").expect("one row");
    let out = map(&row);
    assert!(it.next().expect("end").is_none(), "more than one row");
    out
}

/// The key an `INSERT ... RETURNING "id"` generated.
fn returned_id(
    client: &mut impl GenericClient,
    stmt: &Statement,
    params: &[&(dyn ToSql + Sync)],
) -> i64 {
    one(client, stmt, params.iter().copied(), |r| {
        i64::from(r.get::<_, i32>(0))
    })
}

fn no_params() -> std::iter::Empty<&'static (dyn ToSql + Sync)> {
    std::iter::empty()
}

// ------------------------------------------------------------- workloads

/// trivial_query: every user.
pub fn all_users(pg: &mut Pg) -> Vec<User> {
    rows(&mut pg.client, &pg.all_users, no_params(), user_row)
}

/// Posts of the users with the keys `ids`, one IN list.
fn posts_of(pg: &mut Pg, ids: &[i32]) -> Vec<Post> {
    let Pg {
        client,
        posts_by_len,
        ..
    } = pg;
    let stmt = posts_by_len
        .entry(ids.len())
        .or_insert_with(|| client.prepare(&posts_in(ids.len())).expect("prepare"));
    rows(client, stmt, ids.iter(), post_row)
}

/// medium_complex_query: the users with `hair_color = $1` ('black'), then
/// their posts by `user_id IN (...)` (one list), grouped with a HashMap:
/// what `orm` and `orm_detached` send.
pub fn medium(pg: &mut Pg) -> Vec<(User, Vec<Post>)> {
    let users = rows(
        &mut pg.client,
        &pg.users_by_color,
        [&"black" as &(dyn ToSql + Sync)],
        user_row,
    );
    let mut by_user: HashMap<i64, Vec<Post>> = HashMap::new();
    if !users.is_empty() {
        let ids: Vec<i32> = users.iter().map(|u| u.id as i32).collect();
        for p in posts_of(pg, &ids) {
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

/// loading_associations: every user; their posts by `user_id IN (...)`;
/// those posts' comments by `post_id IN (...)`; grouped with HashMaps.
pub fn associations(pg: &mut Pg) -> Nested {
    let users = all_users(pg);
    let user_ids: Vec<i32> = users.iter().map(|u| u.id as i32).collect();
    let posts = posts_of(pg, &user_ids);
    let post_ids: Vec<i32> = posts.iter().map(|p| p.id as i32).collect();
    let comments = {
        let Pg {
            client,
            comments_by_len,
            ..
        } = pg;
        let stmt = comments_by_len.entry(post_ids.len()).or_insert_with(|| {
            client
                .prepare(&comments_in(post_ids.len()))
                .expect("prepare")
        });
        rows(client, stmt, post_ids.iter(), comment_row)
    };
    super::raw::nest(users, posts, comments)
}

/// insert/N: one prepared `INSERT ... RETURNING "id"` per user, in one
/// transaction.
pub fn insert_rowwise(pg: &mut Pg, n: usize) -> Vec<User> {
    let mut users = super::raw::new_users(n);
    let mut tx = pg.client.transaction().expect("BEGIN");
    for u in &mut users {
        u.id = returned_id(&mut tx, &pg.insert_user, &[&u.name, &u.hair_color]);
    }
    tx.commit().expect("COMMIT");
    users
}

/// insert/N, second baseline: one multi-row `INSERT ... RETURNING "id"`,
/// in one transaction. The keys are sorted, as orm's flush does (a
/// sequence hands out growing values in VALUES order; RETURNING's order is
/// not documented), and checked against the row-by-row keys before timing.
pub fn insert_multirow(pg: &mut Pg, n: usize) -> Vec<User> {
    let mut users = super::raw::new_users(n);
    let Pg {
        client,
        multirow_by_len,
        ..
    } = pg;
    let stmt = multirow_by_len
        .entry(n)
        .or_insert_with(|| client.prepare(&insert_users_multirow(n)).expect("prepare"));
    let mut tx = client.transaction().expect("BEGIN");
    {
        let mut params: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(2 * n);
        for u in &users {
            params.push(&u.name);
            params.push(&u.hair_color);
        }
        let mut ids = rows(&mut tx, stmt, params, |r| i64::from(r.get::<_, i32>(0)));
        ids.sort_unstable();
        assert_eq!(ids.len(), n);
        for (u, id) in users.iter_mut().zip(ids) {
            u.id = id;
        }
    }
    tx.commit().expect("COMMIT");
    users
}

/// get_by_pk: one user by key.
pub fn get(pg: &mut Pg, id: i64) -> User {
    let id = id as i32;
    one(
        &mut pg.client,
        &pg.get_user,
        [&id as &(dyn ToSql + Sync)],
        user_row,
    )
}

/// update/N: set `hair_color` on each in-memory user, then one prepared
/// UPDATE per user in one transaction.
pub fn update(pg: &mut Pg, users: &mut [User], color: &str) {
    let mut tx = pg.client.transaction().expect("BEGIN");
    for u in users.iter_mut() {
        u.hair_color = Some(color.to_owned());
        let id = u.id as i32;
        tx.execute(&pg.update_user, &[&u.hair_color, &id])
            .expect("update");
    }
    tx.commit().expect("COMMIT");
}

/// graph_insert: one user, its 10 posts, then their 10 comments each (the
/// order orm's flush sends them: by table, parents first), every key read
/// back with `RETURNING "id"` and used by the children, in one transaction,
/// into the nested structure with every id set.
pub fn graph(pg: &mut Pg) -> Graph {
    let (posts, comments) = sql::GRAPH;
    let mut tx = pg.client.transaction().expect("BEGIN");
    let mut user = User {
        id: 0,
        name: "User 0".to_owned(),
        hair_color: Some("black".to_owned()),
    };
    user.id = returned_id(&mut tx, &pg.insert_user, &[&user.name, &user.hair_color]);
    let user_id = user.id as i32;
    let mut out: Vec<(Post, Vec<Comment>)> = Vec::with_capacity(posts);
    for j in 0..posts {
        let mut post = Post {
            id: 0,
            user_id: user.id,
            title: format!("Post {j}"),
            body: None,
        };
        post.id = returned_id(
            &mut tx,
            &pg.insert_post,
            &[&user_id, &post.title, &post.body],
        );
        out.push((post, Vec::with_capacity(comments)));
    }
    for (post, cs) in &mut out {
        let post_id = post.id as i32;
        for k in 0..comments {
            let mut c = Comment {
                id: 0,
                post_id: post.id,
                text: format!("Comment {k}"),
            };
            c.id = returned_id(&mut tx, &pg.insert_comment, &[&post_id, &c.text]);
            cs.push(c);
        }
    }
    tx.commit().expect("COMMIT");
    (user, out)
}

/// graph_insert, second baseline: the same graph in the statements orm's
/// flush sends on PostgreSQL: the user, then one multi-row INSERT for the
/// posts and one for all the comments, keys sorted into VALUES order.
pub fn graph_multirow(pg: &mut Pg) -> Graph {
    let (posts, comments) = sql::GRAPH;
    let Pg {
        client,
        insert_user,
        graph_multirow,
        ..
    } = pg;
    let (insert_posts, insert_comments) = graph_multirow.get_or_insert_with(|| {
        (
            client
                .prepare(&multirow(INSERT_POST, 3, posts))
                .expect("prepare"),
            client
                .prepare(&multirow(INSERT_COMMENT, 2, posts * comments))
                .expect("prepare"),
        )
    });
    let mut tx = client.transaction().expect("BEGIN");
    let mut user = User {
        id: 0,
        name: "User 0".to_owned(),
        hair_color: Some("black".to_owned()),
    };
    user.id = returned_id(&mut tx, insert_user, &[&user.name, &user.hair_color]);
    let user_id = user.id as i32;
    let mut out: Vec<(Post, Vec<Comment>)> = (0..posts)
        .map(|j| {
            let post = Post {
                id: 0,
                user_id: user.id,
                title: format!("Post {j}"),
                body: None,
            };
            (post, Vec::with_capacity(comments))
        })
        .collect();
    let keys =
        |tx: &mut postgres::Transaction<'_>, stmt: &Statement, params: Vec<&(dyn ToSql + Sync)>| {
            let mut ids = rows(tx, stmt, params, |r| i64::from(r.get::<_, i32>(0)));
            ids.sort_unstable();
            ids
        };
    let params: Vec<&(dyn ToSql + Sync)> = out
        .iter()
        .flat_map(|(p, _)| [&user_id as &(dyn ToSql + Sync), &p.title, &p.body])
        .collect();
    let ids = keys(&mut tx, insert_posts, params);
    for ((post, _), id) in out.iter_mut().zip(ids) {
        post.id = id;
    }
    let post_ids: Vec<i32> = out.iter().map(|(p, _)| p.id as i32).collect();
    let texts: Vec<String> = (0..comments).map(|k| format!("Comment {k}")).collect();
    let params: Vec<&(dyn ToSql + Sync)> = post_ids
        .iter()
        .flat_map(|id| {
            texts
                .iter()
                .flat_map(move |t| [id as &(dyn ToSql + Sync), t])
        })
        .collect();
    let mut ids = keys(&mut tx, insert_comments, params).into_iter();
    for (post, cs) in &mut out {
        for text in &texts {
            cs.push(Comment {
                id: ids.next().expect("a key per comment"),
                post_id: post.id,
                text: text.clone(),
            });
        }
    }
    tx.commit().expect("COMMIT");
    (user, out)
}
