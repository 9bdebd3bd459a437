//! The timing method shared by every comparison binary (included with
//! `#[path]`, so each binary compiles the very same code).
//!
//! For each workload, every system provides a sampler: `FnMut(iters) ->
//! Duration`, which may do untimed per-sample setup (for example emptying a
//! table) and then returns the time of `iters` iterations. Then:
//!
//! 1. warm-up: about 150 ms per system (doubling the iteration count);
//! 2. calibration: best of 3 timed chunks, doubling the count, until a
//!    sample takes about 5 ms;
//! 3. `rounds` rounds of one sample per system, the order rotated every
//!    round, so drifts of a shared machine hit every system alike;
//! 4. reported: the median per-iteration time, with p10/q1/q3/p90.
//!
//! Output: CSV on stdout (one row per workload and system; `#` lines are
//! metadata), progress on stderr.

#![allow(dead_code)]

use std::time::{Duration, Instant};

/// Times `iters` iterations (after any untimed setup of its own).
pub type Sample = Box<dyn FnMut(u64) -> Duration>;
/// The systems of one workload, by name.
pub type Systems = Vec<(&'static str, Sample)>;

/// One workload at one size: `make` builds and seeds the databases and
/// checks each system's result once before anything is timed.
pub struct Workload {
    pub group: &'static str,
    pub size: String,
    pub make: Box<dyn Fn() -> Systems>,
}

impl Workload {
    pub fn new(
        group: &'static str,
        size: impl ToString,
        make: impl Fn() -> Systems + 'static,
    ) -> Self {
        Workload {
            group,
            size: size.to_string(),
            make: Box::new(make),
        }
    }
}

struct Opts {
    /// `--profile GROUP/SIZE SYSTEM ITERS`: run one sampler once, for
    /// callgrind (collect only inside `profiled`).
    profile: Option<(String, String, u64)>,
    rounds: usize,
    warmup: Duration,
    target: Duration,
    filter: Vec<String>,
    pass: usize,
    list: bool,
}

fn usage() -> ! {
    eprintln!(
        "options: --quick (10 rounds, short warm-up) | --rounds N | --pass N (label) \
         | --filter SUBSTR or =GROUP/SIZE (repeatable) | --list \
         | --profile GROUP/SIZE SYSTEM ITERS (one sample, for callgrind)"
    );
    std::process::exit(2)
}

impl Opts {
    fn parse(args: impl IntoIterator<Item = String>) -> Opts {
        let mut o = Opts {
            profile: None,
            rounds: 36,
            warmup: Duration::from_millis(150),
            target: Duration::from_millis(5),
            filter: Vec::new(),
            pass: 1,
            list: false,
        };
        let mut args = args.into_iter();
        while let Some(a) = args.next() {
            let mut value = || args.next().unwrap_or_else(|| usage());
            match a.as_str() {
                "--quick" => {
                    o.rounds = 10;
                    o.warmup = Duration::from_millis(50);
                }
                "--rounds" => o.rounds = value().parse().unwrap_or_else(|_| usage()),
                "--pass" => o.pass = value().parse().unwrap_or_else(|_| usage()),
                "--filter" => o.filter.push(value()),
                "--list" => o.list = true,
                "--profile" => {
                    let id = value();
                    let system = value();
                    let iters = value().parse().unwrap_or_else(|_| usage());
                    o.profile = Some((id, system, iters));
                }
                _ => usage(),
            }
        }
        o.rounds = o.rounds.max(1);
        o
    }
}

/// Per-iteration statistics of one system, in nanoseconds.
pub struct Stats {
    pub median: f64,
    pub p10: f64,
    pub q1: f64,
    pub q3: f64,
    pub p90: f64,
    pub iters: u64,
    pub samples: usize,
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

fn warm_up(f: &mut Sample, budget: Duration) {
    let start = Instant::now();
    let mut iters = 1u64;
    while start.elapsed() < budget {
        f(iters);
        iters = (iters * 2).min(1 << 20);
    }
}

/// Iterations per sample so that a sample takes about `target`.
fn calibrate(f: &mut Sample, target: Duration) -> u64 {
    let mut iters = 1u64;
    loop {
        let best = (0..3).map(|_| f(iters)).min().unwrap_or_default();
        if best * 2 >= target || iters >= 1 << 30 {
            let per = best.as_secs_f64() / iters as f64;
            return ((target.as_secs_f64() / per.max(1e-12)).round() as u64).max(1);
        }
        iters *= 2;
    }
}

/// Measure every system of one workload with the method described above.
pub fn measure(
    systems: &mut Systems,
    rounds: usize,
    warmup: Duration,
    target: Duration,
) -> Vec<Stats> {
    let n = systems.len();
    let mut iters = Vec::with_capacity(n);
    for (_, f) in systems.iter_mut() {
        warm_up(f, warmup);
        iters.push(calibrate(f, target));
    }
    let mut per_iter: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); n];
    for r in 0..rounds {
        for k in 0..n {
            let i = (r + k) % n;
            let t = (systems[i].1)(iters[i]);
            per_iter[i].push(t.as_nanos() as f64 / iters[i] as f64);
        }
    }
    per_iter
        .into_iter()
        .zip(iters)
        .map(|(mut v, iters)| {
            v.sort_by(|a, b| a.total_cmp(b));
            Stats {
                median: quantile(&v, 0.5),
                p10: quantile(&v, 0.1),
                q1: quantile(&v, 0.25),
                q3: quantile(&v, 0.75),
                p90: quantile(&v, 0.9),
                iters,
                samples: v.len(),
            }
        })
        .collect()
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

/// One sample of `iters` iterations; the only function callgrind collects
/// in `--profile` mode (`--collect-atstart=no --toggle-collect=*profiled*`).
#[inline(never)]
pub fn profiled(f: &mut Sample, iters: u64) -> Duration {
    f(iters)
}

fn profile(workloads: Vec<Workload>, id: &str, system: &str, iters: u64) {
    let Some(w) = workloads
        .into_iter()
        .find(|w| format!("{}/{}", w.group, w.size) == id)
    else {
        eprintln!("no workload {id} (see --list)");
        std::process::exit(2)
    };
    let mut systems = (w.make)();
    let Some((_, f)) = systems.iter_mut().find(|(n, _)| *n == system) else {
        eprintln!("no system {system} in {id}");
        std::process::exit(2)
    };
    let t = profiled(f, iters);
    eprintln!(
        "{id} {system}: {iters} iterations, {}/iteration",
        human(t.as_nanos() as f64 / iters as f64)
    );
}

/// Run the workloads selected on the command line and print CSV.
pub fn main_with(binary: &str, meta: &[(&str, String)], workloads: Vec<Workload>) {
    main_with_args(binary, meta, workloads, std::env::args().skip(1))
}

/// [`main_with`] with the harness's options given (a binary that takes
/// options of its own passes the rest on).
pub fn main_with_args(
    binary: &str,
    meta: &[(&str, String)],
    workloads: Vec<Workload>,
    args: impl IntoIterator<Item = String>,
) {
    let opts = Opts::parse(args);
    if let Some((id, system, iters)) = &opts.profile {
        profile(workloads, id, system, *iters);
        return;
    }
    let selected: Vec<Workload> = workloads
        .into_iter()
        .filter(|w| {
            let id = format!("{}/{}", w.group, w.size);
            opts.filter.is_empty()
                || opts.filter.iter().any(|f| match f.strip_prefix('=') {
                    Some(exact) => id == exact,
                    None => id.contains(f.as_str()),
                })
        })
        .collect();
    if opts.list {
        for w in &selected {
            println!("{}/{}", w.group, w.size);
        }
        return;
    }
    println!("# binary={binary}");
    for (k, v) in meta {
        println!("# {k}={v}");
    }
    println!(
        "binary,pass,group,size,system,median_ns,p10_ns,q1_ns,q3_ns,p90_ns,iters_per_sample,samples"
    );
    let started = Instant::now();
    for w in selected {
        let mut systems = (w.make)();
        let stats = measure(&mut systems, opts.rounds, opts.warmup, opts.target);
        let mut line = format!("[{binary} pass {}] {}/{}:", opts.pass, w.group, w.size);
        for ((name, _), s) in systems.iter().zip(&stats) {
            println!(
                "{binary},{},{},{},{name},{:.1},{:.1},{:.1},{:.1},{:.1},{},{}",
                opts.pass, w.group, w.size, s.median, s.p10, s.q1, s.q3, s.p90, s.iters, s.samples
            );
            line.push_str(&format!(" {name} {}", human(s.median)));
        }
        eprintln!("{line}");
    }
    eprintln!(
        "[{binary}] done in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
