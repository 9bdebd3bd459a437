//! The ORM beside hand-written rusqlite, in the same criterion groups, so
//! ratios come from one run. Pin to one core for stable figures:
//! `taskset -c 1 cargo bench --bench orm_vs_rusqlite`.
//!
//! Hand-written rusqlite is the floor: cached prepared statements, rows
//! mapped by index, one transaction where writes happen, generated keys
//! read back with `last_insert_rowid` (the work a unit of work must do).

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use orm::prelude::*;
use std::hint::black_box;

#[derive(Model, Debug, Default, Clone)]
#[orm(table = "users")]
struct User {
    #[orm(primary_key)]
    id: i64,
    name: String,
    hair_color: Option<String>,
}

fn new_users(n: usize) -> Vec<User> {
    (0..n)
        .map(|i| User {
            id: 0,
            name: format!("User {i}"),
            hair_color: (i % 2 == 0).then(|| "black".to_owned()),
        })
        .collect()
}

/// 10,000 new objects added to a session and committed in one commit.
fn insert_10000(c: &mut Criterion) {
    const N: usize = 10_000;
    let mut group = c.benchmark_group("insert_10000");
    group.sample_size(20);

    let db = Database::builder()
        .model::<User>()
        .open("sqlite://")
        .unwrap();
    db.create_all().unwrap();
    group.bench_function("orm", |b| {
        b.iter_batched(
            || {
                let s = db.session();
                s.execute("DELETE FROM users", &[]).unwrap();
                s.commit().unwrap();
                new_users(N)
            },
            |users| {
                let s = db.session();
                let objs = s.add_all(users).unwrap();
                s.commit().unwrap();
                black_box(objs)
            },
            BatchSize::PerIteration,
        )
    });

    let conn = rusqlite::Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE users (id INTEGER NOT NULL, name TEXT NOT NULL, hair_color TEXT, PRIMARY KEY (id))",
    )
    .unwrap();
    group.bench_function("rusqlite", |b| {
        b.iter_batched(
            || {
                conn.execute_batch("DELETE FROM users").unwrap();
                new_users(N)
            },
            |mut users| {
                let tx = conn.unchecked_transaction().unwrap();
                {
                    let mut stmt = tx
                        .prepare_cached("INSERT INTO users (name, hair_color) VALUES (?, ?)")
                        .unwrap();
                    for u in &mut users {
                        stmt.execute(rusqlite::params![u.name, u.hair_color])
                            .unwrap();
                        u.id = tx.last_insert_rowid();
                    }
                }
                tx.commit().unwrap();
                black_box(users)
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, insert_10000);
criterion_main!(benches);
