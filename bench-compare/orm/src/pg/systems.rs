//! orm on PostgreSQL beside the hand-written `postgres` baseline
//! (`baseline.rs`), on the workloads of the SQLite comparison.
//!
//! Every system gets its own schema on the server (`orm_bench_<pid>_<n>`,
//! dropped at the end of the run), with the tables orm's `create_all`
//! makes there, seeded by the same SQL through the system's own
//! connection, then `VACUUM ANALYZE`d (untimed) so every schema is planned
//! from the same statistics; autovacuum is off on these tables, so it does
//! not run in the middle of one system's samples. orm reaches its schema
//! through the URL (`?options=-c search_path=...`), the baseline through the
//! same URL.
//!
//! Before anything is timed, each system's result is checked against the
//! baseline's, and orm's statements (its recorder) against the baseline's
//! text: the same statements, so the ratio is orm's own cost.
//!
//! The orm code is the SQLite comparison's (`workloads.rs`: the same
//! functions); only the URL differs.

use std::sync::{Mutex, OnceLock};

use orm::prelude::*;

use super::baseline::{self as pgb, Pg};
use super::models::{Comment, Post, User};
use super::raw::{self, Nested, Sample, sample, timed};
use super::sql;
use super::workloads::{
    orm_assoc, orm_assoc_detached, orm_graph, orm_insert, orm_medium, orm_medium_detached, orm_seed,
};
use std::hint::black_box;

/// The systems of one workload, by name.
pub type Systems = Vec<(&'static str, Sample)>;

/// The server: the URL given on the command line, an admin connection,
/// and the schemas this run made.
struct Server {
    url: String,
    admin: Mutex<postgres::Client>,
    schemas: Mutex<Vec<String>>,
}

static SERVER: OnceLock<Server> = OnceLock::new();

fn server() -> &'static Server {
    SERVER.get().expect("pg::systems::init first")
}

/// Connect to the database at `url` (its own `options`, if any, are
/// refused: the run sets `search_path` there).
pub fn init(url: &str) -> Result<(), String> {
    if url.contains("options=") {
        return Err("the URL must not have `options`: the run sets search_path there".into());
    }
    let admin = postgres::Client::connect(url, postgres::NoTls)
        .map_err(|e| format!("cannot connect to the PostgreSQL URL given: {e}"))?;
    SERVER
        .set(Server {
            url: url.to_owned(),
            admin: Mutex::new(admin),
            schemas: Mutex::new(Vec::new()),
        })
        .map_err(|_| "init twice".to_owned())
}

/// One value of the server (`SHOW name`).
pub fn show(name: &str) -> String {
    let mut admin = server().admin.lock().unwrap();
    admin
        .query_one(&format!("SHOW {name}"), &[])
        .map(|r| r.get::<_, String>(0))
        .unwrap_or_else(|e| format!("? ({e})"))
}

/// The CPUs the server process serving the admin connection may run on,
/// when it runs on this machine (`Cpus_allowed_list` of its backend).
pub fn server_cpus() -> String {
    let pid: i32 = {
        let mut admin = server().admin.lock().unwrap();
        match admin.query_one("SELECT pg_backend_pid()", &[]) {
            Ok(r) => r.get(0),
            Err(_) => return "unknown".into(),
        }
    };
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
                .map(|v| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown (not a process of this machine)".into())
}

/// The `application_name` of every connection the systems open (not the
/// admin connection's), so the server processes serving them can be found.
fn application_name() -> String {
    format!("orm_bench_{}", std::process::id())
}

/// Pin the server processes serving the systems' connections to `cpu`
/// (`taskset -p`), when the server runs on this machine: called once a
/// workload's connections are open, before it is timed. Returns how many
/// were pinned.
pub fn pin_server(cpu: usize) -> usize {
    let pids: Vec<i32> = {
        let mut admin = server().admin.lock().unwrap();
        admin
            .query(
                "SELECT pid FROM pg_stat_activity WHERE application_name = $1",
                &[&application_name()],
            )
            .expect("pg_stat_activity")
            .iter()
            .map(|r| r.get(0))
            .collect()
    };
    let mut pinned = 0;
    for pid in pids {
        let ok = std::process::Command::new("taskset")
            .args(["-p", "-c", &cpu.to_string(), &pid.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            pinned += 1;
        } else {
            eprintln!("could not pin server process {pid} to CPU {cpu} (not on this machine?)");
        }
    }
    pinned
}

/// Drop every schema this run made.
pub fn drop_schemas() {
    let Some(s) = SERVER.get() else { return };
    let names = std::mem::take(&mut *s.schemas.lock().unwrap());
    let mut admin = s.admin.lock().unwrap();
    for name in names {
        if let Err(e) = admin.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE")) {
            eprintln!("could not drop schema {name}: {e}");
        }
    }
}

/// A new schema with orm's tables; the URL that makes it the search path.
pub struct Schema {
    name: String,
    pub url: String,
}

impl Schema {
    pub fn new() -> Schema {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let s = server();
        let name = format!(
            "orm_bench_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        s.admin
            .lock()
            .unwrap()
            .batch_execute(&format!("CREATE SCHEMA \"{name}\""))
            .expect("create schema");
        s.schemas.lock().unwrap().push(name.clone());
        let sep = if s.url.contains('?') { '&' } else { '?' };
        let url = format!(
            "{}{sep}options=-c%20search_path%3D{name}&application_name={}",
            s.url,
            application_name()
        );
        // The tables, as orm makes them (the baseline uses the same).
        drop(orm_pg(&url));
        let mut alter = String::new();
        for t in ["users", "posts", "comments"] {
            alter.push_str(&format!(
                "ALTER TABLE \"{name}\".\"{t}\" SET (autovacuum_enabled = false); "
            ));
        }
        s.admin
            .lock()
            .unwrap()
            .batch_execute(&alter)
            .expect("alter");
        Schema { name, url }
    }

    /// `VACUUM ANALYZE` the tables (after seeding).
    pub fn analyze(&self) {
        let mut admin = server().admin.lock().unwrap();
        for t in ["users", "posts", "comments"] {
            admin
                .batch_execute(&format!("VACUUM ANALYZE \"{}\".\"{t}\"", self.name))
                .expect("vacuum analyze");
        }
    }
}

/// An orm database on `url` with the three tables (`create_all`).
pub fn orm_pg(url: &str) -> Database {
    let db = Database::builder()
        .model::<User>()
        .model::<Post>()
        .model::<Comment>()
        .open(url)
        .expect("open orm database on PostgreSQL");
    db.create_all().expect("create_all");
    db
}

/// The baseline's connection to a new schema, seeded.
fn baseline(seeds: &[(&'static str, usize)]) -> Pg {
    let schema = Schema::new();
    let mut pg = Pg::connect(&schema.url);
    pg.seed(seeds);
    schema.analyze();
    pg
}

/// orm's database on a new schema, seeded through orm.
fn orm_side(seeds: &[(&'static str, usize)]) -> Database {
    let schema = Schema::new();
    let db = orm_pg(&schema.url);
    let seeds: Vec<(&'static str, usize)> =
        seeds.iter().map(|&(s, n)| (pgb::seed_sql(s), n)).collect();
    orm_seed(&db, &seeds);
    schema.analyze();
    db
}

fn orm_clear(db: &Database) {
    let s = db.session();
    s.execute(pgb::CLEAR, &[]).expect("clear");
    s.commit().expect("clear commit");
}

/// orm sent exactly `expected` since the recorder started (or was cleared).
fn check_sql(what: &str, rec: &orm::Recorder, expected: &[String]) {
    let got = rec.sql();
    if got != expected {
        let show = |v: &[String]| {
            v.iter()
                .map(|s| format!("  {s}"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        panic!(
            "{what}: orm sent other statements than the baseline's.\norm:\n{}\nbaseline:\n{}",
            show(&got),
            show(expected)
        );
    }
    rec.clear();
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

/// BEGIN, `n` times `stmt`, COMMIT.
fn in_tx(parts: &[(&str, usize)]) -> Vec<String> {
    let mut v = vec!["BEGIN".to_owned()];
    for &(stmt, n) in parts {
        v.extend(std::iter::repeat_n(stmt.to_owned(), n));
    }
    v.push("COMMIT".to_owned());
    v
}

// -------------------------------------------------------- trivial_query

/// All N users: the baseline's prepared SELECT; orm tracked (`all()`, a
/// new session per iteration); orm detached (`all_detached()`).
pub fn trivial_query(n: usize) -> Systems {
    let mut pg = baseline(&[(sql::SEED_USERS, n)]);
    let expect = pgb::all_users(&mut pg);
    assert_eq!(expect.len(), n);
    let db = orm_side(&[(sql::SEED_USERS, n)]);
    let rec = db.record();
    assert_eq!(db.session().query::<User>().all_detached().unwrap(), expect);
    check_sql("trivial_query detached", &rec, &strings(&[pgb::ALL_USERS]));
    let tracked = db.session().query::<User>().all().unwrap();
    assert!(
        tracked.len() == expect.len()
            && tracked
                .iter()
                .zip(&expect)
                .all(|(o, u)| *o.read().unwrap() == *u)
    );
    drop(tracked);
    check_sql("trivial_query tracked", &rec, &strings(&[pgb::ALL_USERS]));
    drop(rec);

    let db2 = db.clone();
    vec![
        (
            "postgres",
            sample(move |iters| {
                timed(iters, |_| {
                    black_box(pgb::all_users(&mut pg));
                })
            }),
        ),
        (
            "orm",
            sample(move |iters| {
                timed(iters, |_| {
                    let s = db.session();
                    black_box(s.query::<User>().all().unwrap());
                })
            }),
        ),
        (
            "orm_detached",
            sample(move |iters| {
                timed(iters, |_| {
                    let s = db2.session();
                    black_box(s.query::<User>().all_detached().unwrap());
                })
            }),
        ),
    ]
}

// ------------------------------------------------- medium_complex_query

/// diesel_bench's medium query as orm runs it (posts empty, as there):
/// users `WHERE hair_color = $1` ('black'), then their posts by `user_id
/// IN (...)`.
///
/// - postgres: those two statements (one IN list), grouped with a HashMap
///   into `Vec<(User, Vec<Post>)>`.
/// - orm: `filter(..).load(selectin(User::posts)).all()`: the same two
///   statements (on PostgreSQL `selectin` sends up to 65,535 keys per IN
///   list, `Dialect::load_keys`).
/// - orm_detached: two `all_detached()` queries, grouped like the
///   baseline's (the very statements of the baseline).
pub fn medium_complex_query(n: usize) -> Systems {
    let mut pg = baseline(&[(sql::SEED_USERS_COLORED, n)]);
    let expect = pgb::medium(&mut pg);
    let black = n.div_ceil(2);
    assert_eq!(expect.len(), black);
    assert!(expect.iter().all(|(_, p)| p.is_empty()));
    let db = orm_side(&[(sql::SEED_USERS_COLORED, n)]);
    {
        let rec = db.record();
        let s = db.session();
        let detached = orm_medium_detached(&s);
        assert_eq!(detached, expect);
        check_sql(
            "medium_complex_query detached",
            &rec,
            &[pgb::USERS_BY_COLOR.to_owned(), pgb::posts_in(black)],
        );
        drop(s);
        let s = db.session();
        let users = orm_medium(&s);
        assert_eq!(users.len(), expect.len());
        for (o, (u, _)) in users.iter().zip(&expect) {
            assert_eq!(*o.read().unwrap(), *u);
            assert!(o.related(User::posts).unwrap().is_empty());
        }
        check_sql(
            "medium_complex_query tracked",
            &rec,
            &[pgb::USERS_BY_COLOR.to_owned(), pgb::posts_in(black)],
        );
    }

    let db2 = db.clone();
    vec![
        (
            "postgres",
            sample(move |iters| {
                timed(iters, |_| {
                    black_box(pgb::medium(&mut pg));
                })
            }),
        ),
        (
            "orm",
            sample(move |iters| {
                timed(iters, |_| {
                    let s = db.session();
                    black_box(orm_medium(&s));
                })
            }),
        ),
        (
            "orm_detached",
            sample(move |iters| {
                timed(iters, |_| {
                    let s = db2.session();
                    black_box(orm_medium_detached(&s));
                })
            }),
        ),
    ]
}

// ------------------------------------------------- loading_associations

/// 9 users x 10 posts x 10 comments: users; posts `WHERE user_id IN (9
/// keys)`; comments `WHERE post_id IN (90 keys)`. The baseline and
/// orm_detached group with HashMaps; orm loads every collection on the
/// tracked objects (`selectin(User::posts).then(selectin(Post::comments))`).
pub fn loading_associations() -> Systems {
    let seeds = raw::systems::assoc_seeds();
    let mut pg = baseline(&seeds);
    let expect = pgb::associations(&mut pg);
    let (u, p, c) = sql::ASSOC;
    assert_eq!(raw::count(&expect), (u, u * p, u * p * c));
    let db = orm_side(&seeds);
    {
        let rec = db.record();
        let want = [
            pgb::ALL_USERS.to_owned(),
            pgb::posts_in(u),
            pgb::comments_in(u * p),
        ];
        let s = db.session();
        let users = orm_assoc(&s);
        let mut seen: Nested = Vec::new();
        for user in &users {
            let mut posts = Vec::new();
            for post in user.related(User::posts).unwrap() {
                let cs = post.related(Post::comments).unwrap();
                let cs = cs.iter().map(|c| c.read().unwrap().clone()).collect();
                posts.push((post.read().unwrap().clone(), cs));
            }
            seen.push((user.read().unwrap().clone(), posts));
        }
        assert_eq!(seen, expect);
        check_sql("loading_associations tracked", &rec, &want);
        drop((users, s));
        assert_eq!(orm_assoc_detached(&db.session()), expect);
        check_sql("loading_associations detached", &rec, &want);
    }

    let db2 = db.clone();
    vec![
        (
            "postgres",
            sample(move |iters| {
                timed(iters, |_| {
                    black_box(pgb::associations(&mut pg));
                })
            }),
        ),
        (
            "orm",
            sample(move |iters| {
                timed(iters, |_| {
                    let s = db.session();
                    black_box(orm_assoc(&s));
                })
            }),
        ),
        (
            "orm_detached",
            sample(move |iters| {
                timed(iters, |_| {
                    let s = db2.session();
                    black_box(orm_assoc_detached(&s));
                })
            }),
        ),
    ]
}

// --------------------------------------------------------------- insert

/// N new users written in one transaction, their keys read back; tables
/// emptied (TRUNCATE) before every sample, untimed; every system builds its
/// N `User` values inside the iteration.
///
/// - postgres: N times the prepared `INSERT ... RETURNING "id"`.
/// - postgres_multirow: one `INSERT ... VALUES ($1, $2), ... RETURNING
///   "id"`, the statement orm's flush sends (from 2 rows up; one row is the
///   single-row statement).
/// - orm: `add_all(users)` + `commit()` in a new session.
pub fn insert(n: usize) -> Systems {
    let mut pg = baseline(&[]);
    let expect = pgb::insert_rowwise(&mut pg, n);
    let mut multi = baseline(&[]);
    assert_eq!(pgb::insert_multirow(&mut multi, n), expect);
    let db = orm_side(&[]);
    {
        let rec = db.record();
        let objs = orm_insert(&db, n);
        assert!(
            objs.len() == n
                && objs
                    .iter()
                    .zip(&expect)
                    .all(|(o, u)| *o.read().unwrap() == *u)
        );
        let multirow = pgb::insert_users_multirow(n);
        check_sql("insert", &rec, &in_tx(&[(&multirow, 1)]));
    }
    vec![
        (
            "postgres",
            sample(move |iters| {
                pg.clear();
                timed(iters, |_| {
                    black_box(pgb::insert_rowwise(&mut pg, n));
                })
            }),
        ),
        (
            "postgres_multirow",
            sample(move |iters| {
                multi.clear();
                timed(iters, |_| {
                    black_box(pgb::insert_multirow(&mut multi, n));
                })
            }),
        ),
        (
            "orm",
            sample(move |iters| {
                orm_clear(&db);
                timed(iters, |_| {
                    black_box(orm_insert(&db, n));
                })
            }),
        ),
    ]
}

// ------------------------------------------------------------ get_by_pk

/// One user by primary key from a 10,000-row table, the key changing every
/// iteration (`sql::key_at`). `miss`: orm's `get` in a new session each
/// time (the row comes from the server); `hit`: one session holding every
/// user, so orm answers from its identity map without a statement. The
/// baseline runs its prepared SELECT in both.
pub fn get_by_pk(hit: bool) -> Systems {
    let mut pg = baseline(&[(sql::SEED_USERS, sql::GET_TABLE_ROWS)]);
    let expect = pgb::get(&mut pg, sql::key_at(3));
    let db = orm_side(&[(sql::SEED_USERS, sql::GET_TABLE_ROWS)]);
    let rec = db.record();
    let got = db.session().get::<User>(sql::key_at(3)).unwrap().unwrap();
    assert_eq!(*got.read().unwrap(), expect);
    check_sql("get_by_pk miss", &rec, &strings(&[pgb::GET_USER]));

    let orm: Sample = if hit {
        let s = db.session();
        let held = s.query::<User>().all().unwrap();
        assert_eq!(held.len(), sql::GET_TABLE_ROWS);
        rec.clear();
        let again = s.get::<User>(sql::key_at(3)).unwrap().unwrap();
        assert_eq!(*again.read().unwrap(), expect);
        check_sql("get_by_pk hit", &rec, &[]);
        sample(move |iters| {
            let _keep_alive = &held;
            timed(iters, |i| {
                black_box(s.get::<User>(sql::key_at(i)).unwrap().unwrap());
            })
        })
    } else {
        sample(move |iters| {
            timed(iters, |i| {
                let s = db.session();
                black_box(s.get::<User>(sql::key_at(i)).unwrap().unwrap());
            })
        })
    };
    drop(rec);
    vec![
        (
            "postgres",
            sample(move |iters| {
                timed(iters, |i| {
                    black_box(pgb::get(&mut pg, sql::key_at(i)));
                })
            }),
        ),
        ("orm", orm),
    ]
}

// --------------------------------------------------------------- update

/// Change `hair_color` (alternating between two values) on N loaded users
/// and write it in one transaction: the baseline's N prepared UPDATEs by
/// key; orm's `write()` on each object of one long-lived session, then
/// `commit()`. Checked: after one round each, both tables hold the same
/// rows.
pub fn update(n: usize) -> Systems {
    let mut pg = baseline(&[(sql::SEED_USERS, n)]);
    let mut users = pgb::all_users(&mut pg);
    assert_eq!(users.len(), n);
    let db = orm_side(&[(sql::SEED_USERS, n)]);
    let s = db.session();
    let objs = s.query::<User>().all().unwrap();
    assert_eq!(objs.len(), n);

    let mut round = 1u64;
    pgb::update(&mut pg, &mut users, raw::color(round));
    let rec = db.record();
    for o in &objs {
        o.write().unwrap().hair_color = Some(raw::color(round).to_owned());
    }
    s.commit().unwrap();
    check_sql("update", &rec, &in_tx(&[(pgb::UPDATE_USER, n)]));
    drop(rec);
    let mut written = db.session().query::<User>().all_detached().unwrap();
    written.sort_by_key(|u| u.id);
    let mut expect = pgb::all_users(&mut pg);
    expect.sort_by_key(|u| u.id);
    assert_eq!(written, expect);
    assert!(
        expect
            .iter()
            .all(|u| u.hair_color.as_deref() == Some(raw::color(round)))
    );

    let mut orm_round = round;
    vec![
        (
            "postgres",
            sample(move |iters| {
                timed(iters, |_| {
                    round += 1;
                    pgb::update(&mut pg, &mut users, raw::color(round));
                    black_box(&users);
                })
            }),
        ),
        (
            "orm",
            sample(move |iters| {
                timed(iters, |_| {
                    orm_round += 1;
                    for o in &objs {
                        o.write().unwrap().hair_color = Some(raw::color(orm_round).to_owned());
                    }
                    s.commit().unwrap();
                    black_box(&objs);
                })
            }),
        ),
    ]
}

// --------------------------------------------------------- graph_insert

/// One user with 10 posts with 10 comments each, in one transaction, every
/// generated key read back (`RETURNING "id"`) and used by the children:
/// the baseline's 111 prepared INSERTs by table, parents first;
/// postgres_multirow's three statements (the user, one multi-row INSERT of
/// the posts, one of the comments), which are what orm's flush sends; orm's
/// graph built through relationships and one `commit()` in a new session.
/// Tables emptied before every sample.
pub fn graph_insert() -> Systems {
    let (posts, comments) = sql::GRAPH;
    let mut pg = baseline(&[]);
    let (user, expect_posts) = pgb::graph(&mut pg);
    let mut multi = baseline(&[]);
    assert_eq!(
        pgb::graph_multirow(&mut multi),
        (user.clone(), expect_posts.clone())
    );
    let db = orm_side(&[]);
    {
        let rec = db.record();
        let s = db.session();
        let o = orm_graph(&s);
        assert_eq!(*o.read().unwrap(), user);
        let ops = o.related(User::posts).unwrap();
        assert_eq!(ops.len(), expect_posts.len());
        for (op, (p, cs)) in ops.iter().zip(&expect_posts) {
            assert_eq!(*op.read().unwrap(), *p);
            let ocs = op.related(Post::comments).unwrap();
            let ocs: Vec<Comment> = ocs.iter().map(|c| c.read().unwrap().clone()).collect();
            assert_eq!(ocs, *cs);
        }
        check_sql(
            "graph_insert",
            &rec,
            &in_tx(&[
                (pgb::INSERT_USER, 1),
                (&pgb::multirow(pgb::INSERT_POST, 3, posts), 1),
                (&pgb::multirow(pgb::INSERT_COMMENT, 2, posts * comments), 1),
            ]),
        );
    }
    vec![
        (
            "postgres",
            sample(move |iters| {
                pg.clear();
                timed(iters, |_| {
                    black_box(pgb::graph(&mut pg));
                })
            }),
        ),
        (
            "postgres_multirow",
            sample(move |iters| {
                multi.clear();
                timed(iters, |_| {
                    black_box(pgb::graph_multirow(&mut multi));
                })
            }),
        ),
        (
            "orm",
            sample(move |iters| {
                orm_clear(&db);
                timed(iters, |_| {
                    let s = db.session();
                    black_box(orm_graph(&s));
                })
            }),
        ),
    ]
}
