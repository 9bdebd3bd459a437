//! bench-compare, orm side: orm (tracked and detached) and hand-written
//! rusqlite, both on rusqlite 0.41's bundled SQLite. See ../README.md.

mod floor;
#[path = "../../common/harness.rs"]
mod harness;
mod models;
#[path = "../../common/raw.rs"]
mod raw;
#[path = "../../common/sql.rs"]
mod sql;
mod workloads;

use harness::Workload;

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Statements without comments, whitespace runs or transaction control.
fn normalize(sql: &str) -> Vec<String> {
    let text: String = sql
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join(" ");
    text.split(';')
        .map(|s| {
            s.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .replace("( ", "(")
                .replace(" )", ")")
        })
        .filter(|s| !s.is_empty() && s != "BEGIN IMMEDIATE" && s != "COMMIT")
        .collect()
}

fn main() {
    // Every other system runs sql::SCHEMA: it must be what orm creates.
    let ddl: Vec<String> = workloads::orm_ddl()
        .iter()
        .flat_map(|s| normalize(s))
        .collect();
    if ddl != normalize(sql::SCHEMA) {
        eprintln!("common/schema.sql differs from orm's DDL; orm runs:");
        for s in &ddl {
            eprintln!("{s};");
        }
        std::process::exit(1);
    }

    let mut list = Vec::new();
    for n in sql::READ_SIZES {
        list.push(Workload::new("trivial_query", n, move || {
            workloads::trivial_query(n)
        }));
    }
    for n in sql::READ_SIZES {
        list.push(Workload::new("medium_complex_query", n, move || {
            workloads::medium_complex_query(n)
        }));
    }
    list.push(Workload::new(
        "loading_associations",
        "9x10x10",
        workloads::loading_associations,
    ));
    for n in sql::INSERT_SIZES {
        list.push(Workload::new("insert", n, move || workloads::insert(n)));
        list.push(Workload::new("bulk_insert", n, move || {
            workloads::bulk_insert(n)
        }));
    }
    list.push(Workload::new("get_by_pk", "miss", || {
        workloads::get_by_pk(false)
    }));
    list.push(Workload::new("get_by_pk", "hit", || {
        workloads::get_by_pk(true)
    }));
    list.push(Workload::new("session_floor", 1, floor::session_floor));
    for n in sql::UPDATE_SIZES {
        list.push(Workload::new("update", n, move || workloads::update(n)));
    }
    list.push(Workload::new("delete", 100, || workloads::delete(100)));
    list.push(Workload::new(
        "graph_insert",
        "1x10x10",
        workloads::graph_insert,
    ));

    harness::main_with(
        "orm",
        &[
            ("sqlite_version", rusqlite::version().to_owned()),
            ("rusqlite", "0.41".to_owned()),
        ],
        list,
    );
}
