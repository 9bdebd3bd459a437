//! bench-compare, PostgreSQL: orm (tracked and detached) beside
//! hand-written `postgres` code sending the same statements, on a server
//! given by URL. See ../../README.md.
//!
//!     bench-orm-pg postgresql://user@host:port/dbname [--server-cpu N] [harness options]
//!
//! The run makes its own schemas in that database (`orm_bench_<pid>_<n>`)
//! and drops them at the end. `--server-cpu N` pins the server processes
//! serving the run's connections (found by their `application_name`) to
//! CPU N with `taskset -p` before each workload is timed: the server must
//! run on this machine; nothing else of the server is touched. The harness options are the SQLite binary's
//! (`--quick`, `--rounds N`, `--filter S`, `--pass N`, `--list`,
//! `--profile GROUP/SIZE SYSTEM ITERS`).

#[path = "../../../common/harness.rs"]
mod harness;
#[path = "../models.rs"]
mod models;
#[path = "../../../common/raw.rs"]
mod raw;
#[path = "../../../common/sql.rs"]
mod sql;
#[path = "../workloads.rs"]
mod workloads;

mod baseline;
mod systems;

use harness::Workload;

/// Drops the run's schemas when main ends, also by a panic.
struct DropSchemas;

impl Drop for DropSchemas {
    fn drop(&mut self) {
        systems::drop_schemas();
    }
}

/// How the URL reaches the server (the URL itself is not printed).
fn transport(url: &str) -> &'static str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host_port = rest.split(['/', '?']).next().unwrap_or("");
    let host = host_port.rsplit_once('@').map_or(host_port, |(_, h)| h);
    let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
    match host {
        "127.0.0.1" | "localhost" | "[::1]" => "TCP over loopback",
        "" => "Unix socket",
        _ => "TCP to another host",
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: bench-orm-pg postgresql://user@host:port/dbname [--server-cpu N] [--quick] \
         [--rounds N] [--filter S]... [--pass N] [--list] [--profile GROUP/SIZE SYSTEM ITERS]"
    );
    std::process::exit(2)
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() || args[0].starts_with("--") {
        usage();
    }
    let url = args.remove(0);
    // `--server-cpu N`: pin the server processes serving the run's
    // connections to CPU N (server on this machine only).
    let mut server_cpu: Option<usize> = None;
    if let Some(i) = args.iter().position(|a| a == "--server-cpu") {
        let n = args.get(i + 1).and_then(|v| v.parse().ok());
        server_cpu = Some(n.unwrap_or_else(|| usage()));
        args.drain(i..i + 2);
    }
    if let Err(e) = systems::init(&url) {
        eprintln!("{e}");
        std::process::exit(1);
    }
    let _drop_schemas = DropSchemas;

    let mut list = Vec::new();
    for n in sql::READ_SIZES {
        list.push(Workload::new("trivial_query", n, move || {
            systems::trivial_query(n)
        }));
    }
    for n in sql::READ_SIZES {
        list.push(Workload::new("medium_complex_query", n, move || {
            systems::medium_complex_query(n)
        }));
    }
    list.push(Workload::new(
        "loading_associations",
        "9x10x10",
        systems::loading_associations,
    ));
    for n in sql::INSERT_SIZES {
        list.push(Workload::new("insert", n, move || systems::insert(n)));
    }
    list.push(Workload::new("get_by_pk", "miss", || {
        systems::get_by_pk(false)
    }));
    list.push(Workload::new("get_by_pk", "hit", || {
        systems::get_by_pk(true)
    }));
    for n in sql::UPDATE_SIZES {
        list.push(Workload::new("update", n, move || systems::update(n)));
    }
    list.push(Workload::new(
        "graph_insert",
        "1x10x10",
        systems::graph_insert,
    ));

    // With --server-cpu, each workload's server processes are pinned once
    // its connections are open, before anything is timed.
    let list: Vec<Workload> = list
        .into_iter()
        .map(|w| {
            let make = w.make;
            Workload {
                group: w.group,
                size: w.size,
                make: Box::new(move || {
                    let systems = make();
                    if let Some(cpu) = server_cpu
                        && systems::pin_server(cpu) == 0
                    {
                        eprintln!("no server process of the run found to pin to CPU {cpu}");
                    }
                    systems
                }),
            }
        })
        .collect();

    let meta = [
        ("postgresql_version", systems::show("server_version")),
        ("postgres_crate", "0.19".to_owned()),
        ("connection", transport(&url).to_owned()),
        ("fsync", systems::show("fsync")),
        ("synchronous_commit", systems::show("synchronous_commit")),
        ("server_cpus_allowed", systems::server_cpus()),
        (
            "server_processes_of_the_run",
            match server_cpu {
                Some(cpu) => format!("pinned to CPU {cpu} (taskset -p)"),
                None => "not pinned".to_owned(),
            },
        ),
    ];
    harness::main_with_args("orm-pg", &meta, list, args);
}
