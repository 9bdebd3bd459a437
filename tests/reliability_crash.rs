//! Crash safety: a child process commits object graphs (a parent and 1..10
//! children, through the relationship, one commit each) and is killed with
//! SIGKILL at random moments; after every kill the database is reopened and
//! checked: no partial graph, no orphan foreign key, no lost acknowledged
//! commit, `PRAGMA integrity_check` = ok. Both WAL and the rollback journal,
//! with `synchronous = FULL`.
//!
//! The child is this very test binary, re-run with `ORM_CRASH_CHILD=1`
//! ([`crash_child`]); it prints `acked N` (and flushes) after each
//! successful commit. The file has its own `main` (`harness = false` in the
//! root `Cargo.toml`), so the child's entry point is not a test that would
//! pass without checking anything; `main` takes libtest's usual arguments.
//!
//! CI runs 100 kills per journal mode. Soak:
//! `ORM_CRASH_KILLS=5000 cargo test --release --test reliability_crash -- --nocapture`
//! (kills per journal mode; `ORM_CRASH_SEED` changes the random schedule).

#[path = "common/figures.rs"]
mod figures;
use figures::report;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use orm::prelude::*;
use orm::relation::selectin;
use orm::rusqlite;
use orm::{JournalMode, Synchronous};

#[derive(Model, Debug, Default)]
#[orm(has_many(children = CrashChild, backref = "parent"))]
struct CrashParent {
    #[orm(primary_key)]
    id: i64,
    /// The commit number the child acknowledges as `acked N`.
    #[orm(unique)]
    seq: i64,
    /// How many children this graph was committed with.
    declared_children: i64,
}

#[derive(Model, Debug, Default)]
struct CrashChild {
    #[orm(primary_key)]
    id: i64,
    #[orm(foreign_key = CrashParent::id, index)]
    parent_id: i64,
    /// The parent's `seq`, written independently of the foreign key.
    seq: i64,
    ordinal: i64,
    payload: String,
}

/// A tiny deterministic generator (xorshift64*), so a run is reproducible
/// up to the timing of the kills.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        XorShift(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

const CHILD_ENV: &str = "ORM_CRASH_CHILD";

fn mode_name(mode: JournalMode) -> &'static str {
    match mode {
        JournalMode::Wal => "wal",
        _ => "delete",
    }
}

fn open_db(url: &str, mode: JournalMode) -> orm::Result<Database> {
    Database::builder()
        .model::<CrashParent>()
        .journal_mode(mode)
        .synchronous(Synchronous::Full)
        .open(url)
}

/// The child's side: commit graphs until killed. Runs only in the child
/// process ([`main`] with `ORM_CRASH_CHILD` set).
fn crash_child() {
    let url = std::env::var("ORM_CRASH_URL").expect("ORM_CRASH_URL");
    let mode = match std::env::var("ORM_CRASH_MODE").as_deref() {
        Ok("wal") => JournalMode::Wal,
        _ => JournalMode::Delete,
    };
    let seed: u64 = std::env::var("ORM_CRASH_CHILD_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let mut rng = XorShift::new(seed);
    let result = (|| -> Result<(), Box<dyn std::error::Error>> {
        let db = open_db(&url, mode)?;
        db.create_all()?;
        let next = {
            let s = db.session();
            let max: Option<i64> = s.query::<CrashParent>().aggregate(CrashParent::seq.max())?;
            max.unwrap_or(0) + 1
        };
        let mut out = std::io::stdout().lock();
        // An error writing to the pipe ends the child; the parent notices.
        writeln!(out, "ready {next}")?;
        out.flush()?;
        for seq in next.. {
            let n = rng.range(1, 10) as i64;
            let session = db.session();
            let parent = session.add(CrashParent {
                seq,
                declared_children: n,
                ..Default::default()
            })?;
            for ordinal in 0..n {
                let payload = "x".repeat(rng.range(0, 500) as usize);
                parent.append(
                    CrashParent::children,
                    &Obj::new(CrashChild {
                        seq,
                        ordinal,
                        payload,
                        ..Default::default()
                    }),
                )?;
            }
            session.commit()?;
            writeln!(out, "acked {seq}")?;
            out.flush()?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        eprintln!("crash child failed: {e}");
        std::process::exit(3);
    }
}

/// What one kill left behind.
#[derive(Default, Debug)]
struct Totals {
    kills: u64,
    acked: u64,
    killed_before_first_ack: u64,
    partial_graphs: u64,
    orphans: u64,
    lost: u64,
    integrity_failures: u64,
}

/// Run the child, kill it after `delay`, and return the acknowledged
/// commit numbers it printed.
fn run_child_once(url: &str, mode: JournalMode, child_seed: u64, delay: Duration) -> Vec<i64> {
    let exe = std::env::current_exe().expect("current_exe");
    let mut child: Child = Command::new(exe)
        .env(CHILD_ENV, "1")
        .env("ORM_CRASH_URL", url)
        .env("ORM_CRASH_MODE", mode_name(mode))
        .env("ORM_CRASH_CHILD_SEED", child_seed.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the crash child");
    let stdout = child.stdout.take().expect("child stdout");
    let mut stderr = child.stderr.take().expect("child stderr");
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        let mut r = BufReader::new(stdout);
        loop {
            let mut line = String::new();
            match r.read_line(&mut line) {
                // Only whole lines count: a line cut by the kill is no ack.
                Ok(n) if n > 0 && line.ends_with('\n') => {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
                _ => break,
            }
        }
    });
    // Wait until the child has opened the database, then let it run.
    let started = Instant::now();
    let mut lines = Vec::new();
    let mut ready = false;
    while !ready {
        match rx.recv_timeout(Duration::from_secs(60).saturating_sub(started.elapsed())) {
            Ok(line) => {
                ready = line.starts_with("ready ");
                lines.push(line);
            }
            Err(_) => break,
        }
    }
    if ready {
        std::thread::sleep(delay);
    }
    let exited_on_its_own = matches!(child.try_wait(), Ok(Some(_)));
    // SIGKILL on Unix.
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    lines.extend(rx.try_iter());
    let errors = err_reader.join().unwrap_or_default();
    assert!(
        ready && !exited_on_its_own,
        "the crash child did not run until killed (ready: {ready}); its stderr:\n{errors}"
    );
    lines
        .iter()
        .filter_map(|l| l.strip_prefix("acked "))
        .map(|n| n.trim().parse::<i64>().expect("acked line"))
        .collect()
}

/// Check the database after a kill with a plain rusqlite connection (another
/// program, independent of the ORM), then read the newest graphs back through
/// the ORM.
fn check_after_kill(
    path: &std::path::Path,
    url: &str,
    mode: JournalMode,
    acked: &BTreeSet<i64>,
    t: &mut Totals,
) {
    let conn = rusqlite::Connection::open(path).expect("reopen after kill");
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check");
    if integrity != "ok" {
        t.integrity_failures += 1;
        eprintln!("integrity_check after kill {}: {integrity}", t.kills);
    }
    let fk_violations: i64 = conn
        .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .expect("foreign_key_check");
    let orphans: i64 = conn
        .query_row(
            "SELECT count(*) FROM crash_child c WHERE NOT EXISTS \
             (SELECT 1 FROM crash_parent p WHERE p.id = c.parent_id AND p.seq = c.seq)",
            [],
            |r| r.get(0),
        )
        .expect("orphan query");
    t.orphans += (fk_violations + orphans) as u64;
    let partial: i64 = conn
        .query_row(
            "SELECT count(*) FROM crash_parent p LEFT JOIN \
             (SELECT parent_id, count(*) AS n, count(DISTINCT ordinal) AS d \
              FROM crash_child GROUP BY parent_id) c ON c.parent_id = p.id \
             WHERE coalesce(c.n, 0) != p.declared_children \
             OR coalesce(c.d, 0) != p.declared_children",
            [],
            |r| r.get(0),
        )
        .expect("partial graph query");
    t.partial_graphs += partial as u64;
    let stored: BTreeSet<i64> = conn
        .prepare("SELECT seq FROM crash_parent")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .expect("stored seqs");
    let lost = acked.difference(&stored).count() as u64;
    if lost > 0 {
        eprintln!(
            "lost acknowledged commits after kill {}: {:?}",
            t.kills,
            acked.difference(&stored).take(10).collect::<Vec<_>>()
        );
    }
    t.lost += lost;
    drop(conn);

    // The ORM reads the newest graphs back whole.
    let db = open_db(url, mode).expect("ORM reopen");
    let s = db.session();
    let newest = s
        .query::<CrashParent>()
        .filter(CrashParent::seq.gt(stored.iter().next_back().copied().unwrap_or(0) - 5))
        .load(selectin(CrashParent::children))
        .all()
        .expect("ORM read of the newest graphs");
    for p in &newest {
        let declared = p.read().expect("read parent").declared_children;
        let children = p.related(CrashParent::children).expect("children");
        if children.len() as i64 != declared {
            t.partial_graphs += 1;
        }
    }
}

/// Kills per database file: a long soak starts new files so that the checks
/// after each kill stay cheap.
const KILLS_PER_FILE: u64 = 50;

fn run_mode(mode: JournalMode, kills: u64, seed: u64) -> Totals {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut rng = XorShift::new(seed);
    let mut acked = BTreeSet::new();
    let mut t = Totals::default();
    let mut path = std::path::PathBuf::new();
    let mut url = String::new();
    for round in 0..kills {
        if round % KILLS_PER_FILE == 0 {
            path = dir
                .path()
                .join(format!("crash-{}-{round}.db", mode_name(mode)));
            url = format!("sqlite:///{}", path.display());
            acked.clear();
        }
        let delay = Duration::from_millis(rng.range(5, 100));
        let new = run_child_once(&url, mode, rng.next(), delay);
        t.kills += 1;
        if new.is_empty() {
            t.killed_before_first_ack += 1;
        }
        for n in new {
            assert!(acked.insert(n), "commit {n} acknowledged twice");
            t.acked += 1;
        }
        check_after_kill(&path, &url, mode, &acked, &mut t);
    }
    t
}

fn killed_writers_lose_nothing_acknowledged_and_leave_no_partial_graph() {
    let kills: u64 = std::env::var("ORM_CRASH_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let seed: u64 = std::env::var("ORM_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_C0DE);
    let started = Instant::now();
    // The two journal modes run side by side, each on its own file.
    let (wal, delete) = std::thread::scope(|scope| {
        let wal = scope.spawn(|| run_mode(JournalMode::Wal, kills, seed));
        let delete = scope.spawn(|| run_mode(JournalMode::Delete, kills, seed ^ 0xDE1E7E));
        (
            wal.join().expect("WAL run"),
            delete.join().expect("rollback journal run"),
        )
    });
    let all = [&wal, &delete];
    let sum = |f: fn(&Totals) -> u64| all.iter().map(|t| f(t)).sum::<u64>();
    let line = format!(
        "crash safety: {} kills ({} WAL, {} rollback journal), {} acknowledged commits ({} WAL, {} rollback journal), {} kills before the first ack, {} partial graphs, {} orphans, {} lost acknowledged commits, integrity {} ({:.1} s)",
        sum(|t| t.kills),
        wal.kills,
        delete.kills,
        sum(|t| t.acked),
        wal.acked,
        delete.acked,
        sum(|t| t.killed_before_first_ack),
        sum(|t| t.partial_graphs),
        sum(|t| t.orphans),
        sum(|t| t.lost),
        if sum(|t| t.integrity_failures) == 0 {
            "ok".to_owned()
        } else {
            format!("FAILED {} times", sum(|t| t.integrity_failures))
        },
        started.elapsed().as_secs_f64()
    );
    report(&line);
    assert_eq!(sum(|t| t.partial_graphs), 0, "{line}");
    assert_eq!(sum(|t| t.orphans), 0, "{line}");
    assert_eq!(sum(|t| t.lost), 0, "{line}");
    assert_eq!(sum(|t| t.integrity_failures), 0, "{line}");
    assert!(wal.acked > 0 && delete.acked > 0, "{line}");
}

/// The one test of this file, under the name libtest would give it.
const TEST_NAME: &str = "killed_writers_lose_nothing_acknowledged_and_leave_no_partial_graph";

/// The crash child when `ORM_CRASH_CHILD` is set; otherwise the test, run
/// and reported as libtest would. Filters, `--exact`, `--skip`, `--list`,
/// `--ignored` and `--include-ignored` work as with libtest; other options
/// (`--nocapture`, `--test-threads`, ...) change nothing here.
fn main() {
    if std::env::var_os(CHILD_ENV).is_some() {
        crash_child();
        return;
    }
    let mut filters = Vec::new();
    let mut skips = Vec::new();
    let (mut exact, mut list, mut only_ignored) = (false, false, false);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--exact" => exact = true,
            "--list" => list = true,
            "--ignored" => only_ignored = true,
            "--skip" => skips.extend(args.next()),
            // Options whose value is the next argument.
            "--color" | "--format" | "--logfile" | "--test-threads" | "--shuffle-seed" | "-Z" => {
                args.next();
            }
            _ if arg.starts_with('-') => {}
            _ => filters.push(arg),
        }
    }
    let matches = |pattern: &String| {
        if exact {
            TEST_NAME == pattern
        } else {
            TEST_NAME.contains(pattern.as_str())
        }
    };
    let selected = !only_ignored
        && (filters.is_empty() || filters.iter().any(matches))
        && !skips.iter().any(matches);
    if list {
        if selected {
            println!("{TEST_NAME}: test");
        }
        return;
    }
    if !selected {
        println!(
            "\nrunning 0 tests\n\ntest result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 1 filtered out\n"
        );
        return;
    }
    println!("\nrunning 1 test");
    let started = Instant::now();
    let outcome = std::panic::catch_unwind(
        killed_writers_lose_nothing_acknowledged_and_leave_no_partial_graph,
    );
    let secs = started.elapsed().as_secs_f64();
    if outcome.is_ok() {
        println!("test {TEST_NAME} ... ok\n");
        println!(
            "test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in {secs:.2}s\n"
        );
    } else {
        // The panic hook has printed the message.
        println!("test {TEST_NAME} ... FAILED\n");
        println!(
            "test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in {secs:.2}s\n"
        );
        std::process::exit(101);
    }
}
