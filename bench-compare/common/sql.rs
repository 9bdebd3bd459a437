//! Schema and seed SQL shared by every comparison binary (included with
//! `#[path]`). Seeds are run untimed through each system's own connection,
//! with the row count as parameter `?1`, so every database holds the same
//! rows with the same ids.

#![allow(dead_code)]

/// The DDL orm's `create_all` emits for the three models (checked by the
/// orm binary at start), run as is by every other system.
pub const SCHEMA: &str = include_str!("schema.sql");

/// `?1` users named `User {i}` (i from 0), `hair_color` NULL: trivial_query,
/// get_by_pk, update.
pub const SEED_USERS: &str = "WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i + 1 < ?1) \
     INSERT INTO users (name, hair_color) SELECT 'User ' || i, NULL FROM c";

/// `?1` users, `hair_color` 'black' for even i and 'brown' for odd i:
/// medium_complex_query, loading_associations (diesel_bench's seed).
pub const SEED_USERS_COLORED: &str = "WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i + 1 < ?1) \
     INSERT INTO users (name, hair_color) \
     SELECT 'User ' || i, CASE WHEN i % 2 = 0 THEN 'black' ELSE 'brown' END FROM c";

/// `?1` posts per user, `Post {j} by user {user_id}`, body NULL.
pub const SEED_POSTS: &str = "WITH RECURSIVE c(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM c WHERE j + 1 < ?1) \
     INSERT INTO posts (user_id, title, body) \
     SELECT u.id, 'Post ' || c.j || ' by user ' || u.id, NULL FROM users u, c ORDER BY u.id, c.j";

/// `?1` comments per post, `Comment {k} on post {post_id}`.
pub const SEED_COMMENTS: &str = "WITH RECURSIVE c(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM c WHERE k + 1 < ?1) \
     INSERT INTO comments (post_id, text) \
     SELECT p.id, 'Comment ' || c.k || ' on post ' || p.id FROM posts p, c ORDER BY p.id, c.k";

/// Empties every table (write workloads, before every sample).
pub const CLEAR: &str = "DELETE FROM comments; DELETE FROM posts; DELETE FROM users;";

/// Sizes, as in diesel_bench.
pub const READ_SIZES: [usize; 5] = [1, 10, 100, 1000, 10_000];
pub const INSERT_SIZES: [usize; 5] = [1, 10, 25, 50, 100];
pub const UPDATE_SIZES: [usize; 3] = [1, 10, 100];
/// Rows in the table get_by_pk reads from.
pub const GET_TABLE_ROWS: usize = 10_000;
/// loading_associations: users, posts per user, comments per post.
pub const ASSOC: (usize, usize, usize) = (9, 10, 10);
/// graph_insert: posts per user, comments per post.
pub const GRAPH: (usize, usize) = (10, 10);

/// The key get_by_pk reads at iteration `i` (the same sequence for every
/// system; spread over the table).
pub fn key_at(i: u64) -> i64 {
    (i.wrapping_mul(7919) % GET_TABLE_ROWS as u64) as i64 + 1
}
