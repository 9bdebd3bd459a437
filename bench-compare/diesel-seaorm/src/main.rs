//! bench-compare, Diesel/SeaORM side: Diesel 2.3, SeaORM 2.0 (sqlx 0.9)
//! and the shared hand-written rusqlite baseline (rusqlite 0.39), all on
//! libsqlite3-sys 0.37's bundled SQLite. See ../README.md.

mod diesel_sys;
#[path = "../../common/harness.rs"]
mod harness;
mod models;
#[path = "../../common/raw.rs"]
mod raw;
mod sea;
#[path = "../../common/sql.rs"]
mod sql;

use harness::{Systems, Workload};
use raw::Storage;

fn main() {
    let mut list = Vec::new();
    for n in sql::READ_SIZES {
        list.push(Workload::new("trivial_query", n, move || -> Systems {
            let (raw, expect) = raw::systems::trivial_query(Storage::Memory, n);
            vec![
                ("rusqlite", raw),
                ("diesel", diesel_sys::trivial_query(n, &expect)),
                ("sea_orm", sea::trivial_query(n, &expect)),
            ]
        }));
    }
    for n in sql::READ_SIZES {
        list.push(Workload::new(
            "medium_complex_query",
            n,
            move || -> Systems {
                let (raw, expect) = raw::systems::medium_complex_query(Storage::Memory, n);
                vec![
                    ("rusqlite", raw),
                    ("diesel", diesel_sys::medium_complex_query(n, &expect)),
                    ("sea_orm", sea::medium_complex_query(n, &expect)),
                ]
            },
        ));
    }
    list.push(Workload::new(
        "loading_associations",
        "9x10x10",
        || -> Systems {
            let (raw, expect) = raw::systems::loading_associations(Storage::Memory);
            vec![
                ("rusqlite", raw),
                ("diesel", diesel_sys::loading_associations(&expect)),
                ("sea_orm", sea::loading_associations(&expect)),
            ]
        },
    ));
    for n in sql::INSERT_SIZES {
        list.push(Workload::new("insert", n, move || -> Systems {
            let (raw, expect) = raw::systems::insert(Storage::Memory, n);
            vec![
                ("rusqlite", raw),
                ("diesel", diesel_sys::insert(n, &expect)),
                (
                    "diesel_one_statement",
                    diesel_sys::insert_one_statement(n, &expect),
                ),
                ("sea_orm", sea::insert(n, &expect)),
            ]
        }));
    }
    list.push(Workload::new("get_by_pk", "miss", || -> Systems {
        let (raw, expect) = raw::systems::get_by_pk(Storage::Memory);
        vec![
            ("rusqlite", raw),
            ("diesel", diesel_sys::get_by_pk(&expect)),
            ("sea_orm", sea::get_by_pk(&expect)),
        ]
    }));
    for n in sql::UPDATE_SIZES {
        list.push(Workload::new("update", n, move || -> Systems {
            vec![
                ("rusqlite", raw::systems::update_n(Storage::Memory, n)),
                ("diesel", diesel_sys::update(n)),
                ("sea_orm", sea::update(n)),
            ]
        }));
    }
    list.push(Workload::new("graph_insert", "1x10x10", || -> Systems {
        let (raw, expect) = raw::systems::graph_insert(Storage::Memory);
        vec![
            ("rusqlite", raw),
            ("diesel", diesel_sys::graph_insert(&expect)),
            ("sea_orm", sea::graph_insert(&expect)),
        ]
    }));

    harness::main_with(
        "diesel-seaorm",
        &[
            ("sqlite_version", rusqlite::version().to_owned()),
            ("rusqlite", "0.39".to_owned()),
            ("diesel", "2.3".to_owned()),
            ("sea_orm", "2.0 (sqlx 0.9)".to_owned()),
        ],
        list,
    );
}
