//! The ORM beside hand-written rusqlite, in the same criterion groups, so
//! ratios come from one run. Pin to one core for stable figures:
//! `taskset -c 1 cargo bench --bench orm_vs_rusqlite` (one group:
//! `... -- trivial_query`).
//!
//! Workloads are diesel_bench's (trivial_query, medium_complex_query,
//! loading_associations, insert) plus get_by_pk (identity-map miss and
//! hit), update, graph_insert and bulk_insert (multi-row INSERT); see
//! BENCHMARKS.md. Their code is shared,
//! as source, with the opt-in comparison against Diesel and SeaORM in
//! `bench-compare/` (which times them with its own harness and profile):
//!
//! - `bench-compare/common/raw.rs`: the rusqlite baseline, the floor: cached
//!   prepared statements, rows mapped by index, one transaction per write,
//!   generated keys read back with `last_insert_rowid`;
//! - `bench-compare/orm/src/workloads.rs`: orm, tracked (`all()`, identity
//!   map) and detached (`all_detached()`), each system checked against
//!   rusqlite's result before anything is timed.
//!
//! In each group, the function name is the system and the parameter the
//! size: `trivial_query/orm_detached/1000`.

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{
    BatchSize, BenchmarkGroup, BenchmarkId, Criterion, criterion_group, criterion_main,
};

#[path = "../bench-compare/orm/src/models.rs"]
mod models;
#[path = "../bench-compare/common/raw.rs"]
mod raw;
#[path = "../bench-compare/common/sql.rs"]
mod sql;
#[path = "../bench-compare/orm/src/workloads.rs"]
mod workloads;

use models::User;
use workloads::Systems;

/// Short, fixed budgets so each group finishes in well under a minute.
fn configured<'c>(c: &'c mut Criterion, name: &str) -> BenchmarkGroup<'c, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    group
}

/// Every system of one workload size, in one group.
fn bench_systems(group: &mut BenchmarkGroup<'_, WallTime>, size: &str, systems: Systems) {
    for (name, mut sample) in systems {
        group.bench_function(BenchmarkId::new(name, size), |b| b.iter_custom(&mut sample));
    }
}

fn trivial_query(c: &mut Criterion) {
    let mut group = configured(c, "trivial_query");
    for n in sql::READ_SIZES {
        bench_systems(&mut group, &n.to_string(), workloads::trivial_query(n));
    }
    group.finish();
}

fn medium_complex_query(c: &mut Criterion) {
    let mut group = configured(c, "medium_complex_query");
    for n in sql::READ_SIZES {
        bench_systems(
            &mut group,
            &n.to_string(),
            workloads::medium_complex_query(n),
        );
    }
    group.finish();
}

fn loading_associations(c: &mut Criterion) {
    let mut group = configured(c, "loading_associations");
    bench_systems(&mut group, "9x10x10", workloads::loading_associations());
    group.finish();
}

fn insert(c: &mut Criterion) {
    let mut group = configured(c, "insert");
    for n in sql::INSERT_SIZES {
        bench_systems(&mut group, &n.to_string(), workloads::insert(n));
    }
    group.finish();
}

/// Multi-row INSERT of 100 users: orm's `bulk_insert` beside one
/// hand-written multi-row `INSERT ... RETURNING id` (target: at most
/// x1.5).
fn bulk_insert(c: &mut Criterion) {
    let mut group = configured(c, "bulk_insert");
    bench_systems(&mut group, "100", workloads::bulk_insert(100));
    group.finish();
}

fn get_by_pk(c: &mut Criterion) {
    let mut group = configured(c, "get_by_pk");
    bench_systems(&mut group, "miss", workloads::get_by_pk(false));
    bench_systems(&mut group, "hit", workloads::get_by_pk(true));
    group.finish();
}

fn update(c: &mut Criterion) {
    let mut group = configured(c, "update");
    for n in sql::UPDATE_SIZES {
        bench_systems(&mut group, &n.to_string(), workloads::update(n));
    }
    group.finish();
}

fn graph_insert(c: &mut Criterion) {
    let mut group = configured(c, "graph_insert");
    bench_systems(&mut group, "1x10x10", workloads::graph_insert());
    group.finish();
}

/// 10,000 new objects added to a session and committed in one commit.
fn insert_10000(c: &mut Criterion) {
    const N: usize = 10_000;
    let mut group = c.benchmark_group("insert_10000");
    group.sample_size(20);

    let db = workloads::orm_db();
    group.bench_function("orm", |b| {
        b.iter_batched(
            || {
                let s = db.session();
                s.execute("DELETE FROM users", &[]).unwrap();
                s.commit().unwrap();
                raw::new_users(N)
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

    let conn = raw::db();
    group.bench_function("rusqlite", |b| {
        b.iter_batched(
            || {
                raw::clear(&conn);
                raw::new_users(N)
            },
            |mut users: Vec<User>| {
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
                black_box(users)
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(
    benches,
    trivial_query,
    medium_complex_query,
    loading_associations,
    insert,
    bulk_insert,
    get_by_pk,
    update,
    graph_insert,
    insert_10000
);
criterion_main!(benches);
