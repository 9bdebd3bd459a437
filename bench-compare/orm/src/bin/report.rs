//! Turns the CSV of the comparison binaries (one or more passes each) into
//! the markdown tables of BENCHMARKS.md: `bench-report FILE.csv...`. The
//! SQLite tables when the files hold the SQLite binaries' results, the
//! PostgreSQL tables when they hold `bench-orm-pg`'s.
//!
//! A time is the median per-iteration time of one pass; with several
//! passes, the cell shows the median over passes. A ratio is taken within
//! one binary and one pass (system ÷ that binary's own rusqlite baseline;
//! for `bench-orm-pg`, ÷ its hand-written `postgres` baseline), then the
//! median over passes, with the range in brackets.

use std::collections::{BTreeMap, HashMap};

#[derive(Default)]
struct Data {
    /// (binary, key=value) metadata lines, in order.
    meta: Vec<(String, String)>,
    /// (group, size) in first-seen order.
    rows: Vec<(String, String)>,
    /// (binary, group, size, system) -> pass -> median ns.
    medians: HashMap<(String, String, String, String), BTreeMap<u32, f64>>,
}

fn read(data: &mut Data, path: &str) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
        eprintln!("cannot read {path}: {e}");
        std::process::exit(1)
    });
    let mut binary = String::new();
    for line in text.lines() {
        if let Some(m) = line.strip_prefix("# ") {
            if let Some((k, v)) = m.split_once('=') {
                if k == "binary" {
                    binary = v.to_owned();
                } else if !data
                    .meta
                    .iter()
                    .any(|(b, kv)| *b == binary && kv.starts_with(k))
                {
                    data.meta.push((binary.clone(), format!("{k}={v}")));
                }
            }
            continue;
        }
        let f: Vec<&str> = line.split(',').collect();
        if f.len() < 6 || f[0] == "binary" {
            continue;
        }
        let (Ok(pass), Ok(median)) = (f[1].parse::<u32>(), f[5].parse::<f64>()) else {
            continue;
        };
        let row = (f[2].to_owned(), f[3].to_owned());
        if !data.rows.contains(&row) {
            data.rows.push(row);
        }
        data.medians
            .entry((
                f[0].to_owned(),
                f[2].to_owned(),
                f[3].to_owned(),
                f[4].to_owned(),
            ))
            .or_default()
            .insert(pass, median);
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn human(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

/// Median time over passes, and (median, min, max) of the per-pass ratio to
/// the binary's own rusqlite (or another baseline, with `cell_vs`).
struct Cell {
    time: f64,
    ratio: Option<(f64, f64, f64)>,
}

impl Data {
    fn cell(&self, binary: &str, group: &str, size: &str, system: &str) -> Option<Cell> {
        self.cell_vs(binary, group, size, system, "rusqlite")
    }

    /// Like [`cell`](Self::cell), with the ratio to `baseline`.
    fn cell_vs(
        &self,
        binary: &str,
        group: &str,
        size: &str,
        system: &str,
        baseline: &str,
    ) -> Option<Cell> {
        let key = |sys: &str| {
            (
                binary.to_owned(),
                group.to_owned(),
                size.to_owned(),
                sys.to_owned(),
            )
        };
        let runs = self.medians.get(&key(system))?;
        let mut times: Vec<f64> = runs.values().copied().collect();
        let time = median(&mut times);
        let ratio = if system == baseline {
            None
        } else {
            self.medians.get(&key(baseline)).and_then(|base| {
                let mut r: Vec<f64> = runs
                    .iter()
                    .filter_map(|(p, t)| base.get(p).map(|b| t / b))
                    .collect();
                if r.is_empty() {
                    return None;
                }
                let lo = r.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = r.iter().copied().fold(0.0, f64::max);
                Some((median(&mut r), lo, hi))
            })
        };
        Some(Cell { time, ratio })
    }

    fn passes(&self) -> usize {
        self.medians.values().map(BTreeMap::len).max().unwrap_or(0)
    }
}

fn show(cell: Option<Cell>, ranges: bool) -> String {
    match cell {
        None => "—".to_owned(),
        Some(Cell { time, ratio: None }) => human(time),
        Some(Cell {
            time,
            ratio: Some((r, lo, hi)),
        }) => {
            if ranges {
                format!("{} ×{r:.2} [{lo:.2}–{hi:.2}]", human(time))
            } else {
                format!("{} ×{r:.2}", human(time))
            }
        }
    }
}

fn ratio(data: &Data, binary: &str, group: &str, size: &str, system: &str) -> Option<f64> {
    data.cell(binary, group, size, system)
        .and_then(|c| c.ratio)
        .map(|r| r.0)
}

/// The benchmark issue's targets for orm, per row.
fn targets(data: &Data, group: &str, size: &str) -> Vec<String> {
    let orm = ratio(data, "orm", group, size, "orm");
    let det = ratio(data, "orm", group, size, "orm_detached");
    let diesel = ratio(data, "diesel-seaorm", group, size, "diesel");
    let mut out = Vec::new();
    let mut check = |what: &str, value: Option<f64>, limit: f64, strict: bool| {
        if let Some(v) = value {
            let met = if strict { v < limit } else { v <= limit };
            let op = if strict { "<" } else { "≤" };
            out.push(format!(
                "{what} ×{v:.2} {op} {limit:.2}: {}",
                if met { "met" } else { "**missed**" }
            ));
        }
    };
    match group {
        "trivial_query" | "medium_complex_query" | "loading_associations" => {
            check("detached", det, 1.10, false);
            check("tracked", orm, 1.5, false);
        }
        "insert" | "graph_insert" | "update" => check("orm", orm, 1.3, false),
        "get_by_pk" if size == "hit" => check("hit", orm, 1.0, true),
        "get_by_pk" => check("miss", orm, 1.3, false),
        _ => {}
    }
    if let Some(d) = diesel {
        // Diesel returns plain values: compare with orm's detached path where
        // it has one, and always with the tracked path.
        let mut vs = |what: &str, v: Option<f64>| {
            if let Some(v) = v {
                out.push(format!(
                    "{what} vs Diesel ×{v:.2} vs ×{d:.2}: {}",
                    if v < d { "met" } else { "**missed**" }
                ));
            }
        };
        if det.is_some() {
            vs("detached", det);
        }
        vs("tracked", orm);
    }
    out
}

fn main() {
    let files: Vec<String> = std::env::args().skip(1).collect();
    if files.is_empty() {
        eprintln!("usage: bench-report FILE.csv...");
        std::process::exit(2);
    }
    let mut data = Data::default();
    for f in &files {
        read(&mut data, f);
    }
    let passes = data.passes();
    let ranges = passes > 1;
    let has = |binary: &str| data.medians.keys().any(|k| k.0 == binary);
    if has("orm") || has("diesel-seaorm") {
        sqlite_tables(&data, passes, ranges);
    }
    if has(PG) {
        pg_tables(&data, passes, ranges);
    }
}

fn sqlite_tables(data: &Data, passes: usize, ranges: bool) {
    println!(
        "Median time per iteration; ×ratio to the rusqlite baseline of the same binary \
         (same SQLite){}.\n",
        if ranges {
            format!(", median of {passes} passes [range over passes]")
        } else {
            String::new()
        }
    );
    for (binary, kv) in &data.meta {
        if binary != PG {
            println!("- `{binary}`: {kv}");
        }
    }
    println!();
    println!(
        "| workload | rusqlite | orm (tracked) | orm detached | rusqlite multi-row | \
         rusqlite on memdb (control) | rusqlite (Diesel/SeaORM binary) | Diesel | SeaORM |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (group, size) in &data.rows {
        if group == FLOOR {
            continue;
        }
        if data.cell("orm", group, size, "rusqlite").is_none()
            && data
                .cell("diesel-seaorm", group, size, "rusqlite")
                .is_none()
        {
            continue;
        }
        let c = |b: &str, s: &str| show(data.cell(b, group, size, s), ranges);
        println!(
            "| {group}/{size} | {} | {} | {} | {} | {} | {} | {} | {} |",
            c("orm", "rusqlite"),
            c("orm", "orm"),
            c("orm", "orm_detached"),
            c("orm", "rusqlite_multirow"),
            c("orm", "rusqlite_memdb"),
            c("diesel-seaorm", "rusqlite"),
            c("diesel-seaorm", "diesel"),
            c("diesel-seaorm", "sea_orm"),
        );
    }
    println!();
    println!(
        "orm against the same rusqlite code on orm's storage (the `memdb` VFS), \
         i.e. orm's own cost without that of its storage:\n"
    );
    println!("| workload | orm (tracked) ÷ rusqlite on memdb | orm detached ÷ rusqlite on memdb |");
    println!("|---|---:|---:|");
    for (group, size) in &data.rows {
        let r = |s: &str| {
            data.cell_vs("orm", group, size, s, "rusqlite_memdb")
                .and_then(|c| c.ratio)
                .map_or("—".to_owned(), |(r, lo, hi)| {
                    if ranges {
                        format!("×{r:.2} [{lo:.2}–{hi:.2}]")
                    } else {
                        format!("×{r:.2}")
                    }
                })
        };
        if group != FLOOR && data.cell("orm", group, size, "rusqlite_memdb").is_some() {
            println!("| {group}/{size} | {} | {} |", r("orm"), r("orm_detached"));
        }
    }
    floor_table(data, ranges);
    batch_insert_table(data, ranges);
    println!();
    println!(
        "Targets (median ratios; \"vs Diesel\" compares each system's ratio to its own baseline):\n"
    );
    println!("| workload | targets |");
    println!("|---|---|");
    for (group, size) in &data.rows {
        let t = targets(data, group, size);
        if !t.is_empty() {
            println!("| {group}/{size} | {} |", t.join("; "));
        }
    }
}

/// The workload that weighs a read's fixed costs (`session_floor`).
const FLOOR: &str = "session_floor";

/// What an orm read pays before its first row, each part beside
/// trivial_query/1's rusqlite baseline: the storage, the pool alone, a
/// session, a session with its connection.
fn floor_table(data: &Data, ranges: bool) {
    let Some((group, size)) = data.rows.iter().find(|(g, _)| g == FLOOR) else {
        return;
    };
    println!();
    println!(
        "What every orm read pays before its first row ({group}/{size}), beside the \
         one-row read by hand (trivial_query/1's rusqlite baseline):\n"
    );
    println!(
        "| rusqlite, one row | the same on memdb | r2d2 checkout and return alone | \
         orm session, no connection | orm session with its connection |"
    );
    println!("|---:|---:|---:|---:|---:|");
    let c = |s: &str| show(data.cell("orm", group, size, s), ranges);
    println!(
        "| {} | {} | {} | {} | {} |",
        c("rusqlite"),
        c("rusqlite_memdb"),
        c("r2d2"),
        c("orm_session"),
        c("orm_session_conn"),
    );
}

/// insert/N as a batch: orm's unit of work (`add_all` + `commit`) against
/// one hand-written multi-row INSERT in its binary (target at most ×1.5),
/// and against Diesel's one-statement form, each system's ratio to the
/// row-by-row rusqlite baseline of its own binary (target: ahead).
fn batch_insert_table(data: &Data, ranges: bool) {
    let rows: Vec<&(String, String)> = data
        .rows
        .iter()
        .filter(|(g, s)| {
            g == "insert"
                && data
                    .cell("diesel-seaorm", g, s, "diesel_one_statement")
                    .is_some()
        })
        .collect();
    if rows.is_empty() {
        return;
    }
    println!();
    println!(
        "Batch inserts: orm's unit of work against one multi-row INSERT by hand \
         (same binary) and against Diesel's one-statement form (each ratio to the \
         row-by-row baseline of its own binary):\n"
    );
    println!(
        "| workload | orm (tracked) ÷ rusqlite multi-row | ≤ ×1.5 | orm (tracked) | \
         Diesel one statement | orm ahead |"
    );
    println!("|---|---:|---|---:|---:|---|");
    for (group, size) in rows {
        let vs_multi = data
            .cell_vs("orm", group, size, "orm", "rusqlite_multirow")
            .and_then(|c| c.ratio);
        let orm = ratio(data, "orm", group, size, "orm");
        let diesel = ratio(data, "diesel-seaorm", group, size, "diesel_one_statement");
        let multi = vs_multi.map_or("—".to_owned(), |(r, lo, hi)| match ranges {
            true => format!("×{r:.2} [{lo:.2}–{hi:.2}]"),
            false => format!("×{r:.2}"),
        });
        let within = match vs_multi {
            Some((r, _, _)) if r <= 1.5 => "met",
            Some(_) => "**missed**",
            None => "—",
        };
        let ahead = match (orm, diesel) {
            (Some(o), Some(d)) if o < d => "met",
            (Some(_), Some(_)) => "**missed**",
            _ => "—",
        };
        println!(
            "| {group}/{size} | {multi} | {within} | {} | {} | {ahead} |",
            show(data.cell("orm", group, size, "orm"), ranges),
            show(
                data.cell("diesel-seaorm", group, size, "diesel_one_statement"),
                ranges
            ),
        );
    }
}

/// The PostgreSQL binary's name in the CSV.
const PG: &str = "orm-pg";

/// The PostgreSQL issue's targets for orm, per row: detached reads ≤ ×1.10,
/// tracked reads ≤ ×1.3, unit-of-work inserts ≤ ×1.3 (against the same
/// statements written by hand).
fn pg_targets(data: &Data, group: &str, size: &str) -> Vec<String> {
    let r = |system: &str| {
        data.cell_vs(PG, group, size, system, "postgres")
            .and_then(|c| c.ratio)
            .map(|r| r.0)
    };
    let mut out = Vec::new();
    let mut check = |what: &str, value: Option<f64>, limit: f64| {
        if let Some(v) = value {
            // More decimals where two would show the limit itself.
            let mut digits = 2;
            while digits < 6 && format!("{v:.digits$}") == format!("{limit:.digits$}") {
                digits += 1;
            }
            let shown = format!("{v:.digits$}");
            out.push(format!(
                "{what} ×{shown} ≤ {limit:.2}: {}",
                if v <= limit { "met" } else { "**missed**" }
            ));
        }
    };
    match group {
        "trivial_query" | "medium_complex_query" | "loading_associations" => {
            check("detached read", r("orm_detached"), 1.10);
            check("tracked read", r("orm"), 1.3);
        }
        "get_by_pk" if size == "miss" => check("tracked read", r("orm"), 1.3),
        "insert" | "graph_insert" => check("unit-of-work insert", r("orm"), 1.3),
        _ => {}
    }
    out
}

fn pg_tables(data: &Data, passes: usize, ranges: bool) {
    println!(
        "PostgreSQL: median time per iteration; ×ratio to the hand-written `postgres` \
         baseline (the same statements, prepared) of the same pass{}.\n",
        if ranges {
            format!(", median of {passes} passes [range over passes]")
        } else {
            String::new()
        }
    );
    for (binary, kv) in &data.meta {
        if binary == PG {
            println!("- `{binary}`: {kv}");
        }
    }
    println!();
    println!("| workload | postgres | orm (tracked) | orm detached | postgres multi-row |");
    println!("|---|---:|---:|---:|---:|");
    for (group, size) in &data.rows {
        if data.cell(PG, group, size, "postgres").is_none() {
            continue;
        }
        let c = |s: &str| show(data.cell_vs(PG, group, size, s, "postgres"), ranges);
        println!(
            "| {group}/{size} | {} | {} | {} | {} |",
            c("postgres"),
            c("orm"),
            c("orm_detached"),
            c("postgres_multirow"),
        );
    }
    println!();
    println!("Targets (median ratios to the hand-written baseline):\n");
    println!("| workload | targets |");
    println!("|---|---|");
    for (group, size) in &data.rows {
        let t = pg_targets(data, group, size);
        if !t.is_empty() {
            println!("| {group}/{size} | {} |", t.join("; "));
        }
    }
}
