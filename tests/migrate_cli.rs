//! The `db` command as a user runs it: this test binary is also the
//! user's application (its `main` hands `db ...` to
//! `orm::migrate::Command`, with the models compiled in), and the tests run
//! it as a separate process, with real files and exit codes, on the
//! backend under test.
//!
//! `harness = false` (Cargo.toml): `main` decides whether this process is
//! the application or the test runner, and prints libtest's summary line.

mod common;

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;

use orm::migrate::Command;
use orm::prelude::*;

/// The application's models before the change...
mod v1 {
    use orm::prelude::*;

    #[derive(Model, Debug, Default, Clone, PartialEq)]
    pub struct User {
        #[orm(primary_key)]
        pub id: i64,
        #[orm(max_length = 50)]
        pub username: String,
    }
}

/// ...and after: usernames UNIQUE, a new column.
mod v2 {
    use orm::prelude::*;

    #[derive(Model, Debug, Default, Clone, PartialEq)]
    pub struct User {
        #[orm(primary_key)]
        pub id: i64,
        #[orm(max_length = 50, unique)]
        pub username: String,
        #[orm(max_length = 120)]
        pub email: Option<String>,
    }
}

/// The environment variables the application reads.
const URL_ENV: &str = "MIGRATE_CLI_DATABASE_URL";
const MODELS_ENV: &str = "MIGRATE_CLI_MODELS";

/// The application's `main`, as a user writes it: `app db ...` runs the
/// migration command with the app's models; anything else would serve.
fn app(args: Vec<OsString>) -> ExitCode {
    let url = std::env::var(URL_ENV).unwrap_or_default();
    let builder = match std::env::var(MODELS_ENV).as_deref() {
        Ok("v2") => Database::builder().model::<v2::User>(),
        _ => Database::builder().model::<v1::User>(),
    };
    Command::new(builder, url).run(&args[1..])
}

struct Run {
    code: i32,
    out: String,
    err: String,
}

/// The working directory of one test and the database it uses.
struct Project {
    dir: tempfile::TempDir,
    url: String,
}

impl Project {
    fn new() -> Project {
        let dir = tempfile::tempdir().unwrap();
        let url = if common::is_postgres() {
            common::fresh_url()
        } else {
            format!("sqlite:///{}", dir.path().join("app.db").display())
        };
        Project { dir, url }
    }

    /// `app db <args>` with the models `models`, in the project folder.
    fn db(&self, models: &str, args: &[&str]) -> Run {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .arg("db")
            .args(args)
            .current_dir(self.dir.path())
            .env(URL_ENV, &self.url)
            .env(MODELS_ENV, models)
            .output()
            .unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            out: String::from_utf8_lossy(&out.stdout).into_owned(),
            err: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn ok(&self, models: &str, args: &[&str]) -> String {
        let r = self.db(models, args);
        assert_eq!(
            r.code, 0,
            "db {args:?}\nstdout: {}\nstderr: {}",
            r.out, r.err
        );
        r.out
    }

    fn fails(&self, models: &str, args: &[&str], code: i32) -> Run {
        let r = self.db(models, args);
        assert_eq!(
            r.code, code,
            "db {args:?}\nstdout: {}\nstderr: {}",
            r.out, r.err
        );
        r
    }

    fn database(&self) -> Database {
        Database::builder()
            .model::<v1::User>()
            .schema_check(orm::SchemaCheck::Off)
            .open(&self.url)
            .unwrap()
    }

    fn usernames(&self) -> Vec<String> {
        let db = self.database();
        let s = db.session();
        let mut names: Vec<String> = s
            .query::<v1::User>()
            .all_detached()
            .unwrap()
            .into_iter()
            .map(|u| u.username)
            .collect();
        names.sort();
        names
    }

    fn add_user(&self, name: &str) {
        let db = self.database();
        let s = db.session();
        s.add(v1::User {
            username: name.into(),
            ..Default::default()
        })
        .unwrap();
        s.commit().unwrap();
    }

    fn revision_files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path().join("migrations"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        names.sort();
        names
    }
}

/// The id in a `Generating .../0001_x.sql` line's file.
fn id_of(dir: &Path, file: &str) -> String {
    let text = std::fs::read_to_string(dir.join("migrations").join(file)).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("-- id: "))
        .unwrap()
        .to_owned()
}

fn the_whole_flow_from_init_to_downgrade() {
    let p = Project::new();
    // Nothing to read yet.
    let r = p.fails("v1", &["upgrade"], 1);
    assert!(
        r.err.contains("cannot read the migrations folder"),
        "{}",
        r.err
    );

    assert!(p.ok("v1", &["init"]).contains("Created migrations"));
    assert!(p.dir.path().join("migrations/README.md").is_file());
    assert!(
        p.fails("v1", &["init"], 1)
            .err
            .contains("exists and is not empty")
    );

    // The models' table does not exist: check fails, for CI.
    let r = p.fails("v1", &["check"], 1);
    assert!(
        r.out
            .contains(r#"table "user" of the models does not exist"#),
        "{}",
        r.out
    );

    let out = p.ok("v1", &["revision", "--autogenerate", "-m", "create users"]);
    assert!(out.contains(r#"Detected create table "user""#), "{out}");
    assert_eq!(p.revision_files(), ["0001_create_users.sql"]);
    let first = id_of(p.dir.path(), "0001_create_users.sql");
    let r = p.fails("v1", &["check"], 1);
    assert!(r.err.contains("not up to date"), "{}", r.err);

    let out = p.ok("v1", &["upgrade"]);
    assert_eq!(
        out.trim(),
        format!("Running upgrade base -> {first}, create users")
    );
    assert_eq!(p.ok("v1", &["current"]).trim(), format!("{first} (head)"));
    assert!(p.ok("v1", &["check"]).contains("No differences"));
    assert!(
        p.ok("v1", &["migrate", "-m", "nothing"])
            .contains("No changes in schema detected.")
    );
    p.add_user("ann");
    p.add_user("bob");

    // The models change: check says how, migrate writes the revision.
    let r = p.fails("v2", &["check"], 1);
    assert!(
        r.out
            .contains(r#"table "user" lacks the model's column "email""#),
        "{}",
        r.out
    );
    assert!(
        r.out
            .contains(r#"table "user" lacks the model's UNIQUE (username)"#),
        "{}",
        r.out
    );
    p.ok("v2", &["migrate", "-m", "unique usernames"]);
    assert_eq!(
        p.revision_files(),
        ["0001_create_users.sql", "0002_unique_usernames.sql"]
    );
    let second = id_of(p.dir.path(), "0002_unique_usernames.sql");

    // --sql shows what would run and runs nothing.
    let sql = p.ok("v2", &["upgrade", "--sql"]);
    assert!(sql.contains("UNIQUE (\"username\")"), "{sql}");
    assert_eq!(p.ok("v2", &["current"]).trim(), first);

    assert!(
        p.ok("v2", &["upgrade"])
            .contains(&format!("{first} -> {second}"))
    );
    assert!(p.ok("v2", &["check"]).contains("No differences"));
    assert_eq!(p.usernames(), ["ann", "bob"]);
    let history = p.ok("v2", &["history"]);
    assert_eq!(
        history.lines().collect::<Vec<_>>(),
        [
            format!("{first} -> {second} (head, current), unique usernames"),
            format!("base -> {first}, create users"),
        ]
    );

    // Back one, then to nothing; the rows survive the first step.
    assert!(
        p.ok("v2", &["downgrade"])
            .contains(&format!("Running downgrade {second} -> {first}"))
    );
    assert_eq!(p.ok("v1", &["current"]).trim(), first);
    // The tables are v1's again; `check` wants the pending revision applied.
    assert_eq!(p.database().check_schema().unwrap(), []);
    assert!(p.fails("v1", &["check"], 1).err.contains("not up to date"));
    assert_eq!(p.usernames(), ["ann", "bob"]);
    p.ok("v1", &["downgrade", "base"]);
    assert_eq!(
        p.ok("v1", &["current"]).trim(),
        "base (no revision applied)"
    );

    // Stamp records without running; a prefix of an id is a target.
    p.ok("v1", &["stamp", "head"]);
    assert_eq!(p.ok("v1", &["current"]).trim(), format!("{second} (head)"));
    p.ok("v1", &["stamp", "base"]);
    p.ok("v1", &["upgrade", &first[..6]]);
    assert_eq!(p.ok("v1", &["current"]).trim(), first);
}

fn a_failed_upgrade_exits_1_naming_the_rows_and_changes_nothing() {
    let p = Project::new();
    p.ok("v1", &["init"]);
    p.ok("v1", &["revision", "--autogenerate", "-m", "users"]);
    p.ok("v1", &["upgrade"]);
    p.add_user("ann");
    p.add_user("ann");
    p.ok("v2", &["revision", "--autogenerate", "-m", "unique"]);
    let before = p.ok("v1", &["current"]);
    let r = p.fails("v2", &["upgrade"], 1);
    assert!(
        r.err.contains("2 rows of `user` share values that must be unique (username), keys 1 and 2; nothing was changed"),
        "{}",
        r.err
    );
    assert_eq!(p.ok("v1", &["current"]), before);
    assert_eq!(p.usernames(), ["ann", "ann"]);
    // Once the data is fixed, the same revision applies.
    let db = p.database();
    let s = db.session();
    s.execute("UPDATE \"user\" SET username = 'ann2' WHERE id = 2", &[])
        .unwrap();
    s.commit().unwrap();
    p.ok("v2", &["upgrade"]);
    assert_eq!(p.usernames(), ["ann", "ann2"]);
}

fn usage_errors_exit_2_and_help_and_diagram_print() {
    let p = Project::new();
    let r = p.fails("v1", &["frobnicate"], 2);
    assert!(r.err.contains("unknown command `frobnicate`"), "{}", r.err);
    assert!(r.err.contains("usage: db"), "{}", r.err);
    p.fails("v1", &["upgrade", "head", "extra"], 2);
    p.fails("v1", &["revision", "-m"], 2);
    p.fails("v1", &[], 2);
    assert!(
        p.ok("v1", &["--help"])
            .contains("revision [--autogenerate] -m MSG")
    );
    assert_eq!(
        p.ok("v2", &["diagram"]),
        "erDiagram\n    user {\n        INTEGER id PK\n        VARCHAR(50) username UK\n        VARCHAR(120) email \"nullable\"\n    }\n"
    );
    // Another folder, by option.
    p.ok("v1", &["-d", "elsewhere", "init"]);
    assert!(p.dir.path().join("elsewhere/README.md").is_file());
    let r = p.fails("v1", &["upgrade", "nosuchid"], 1);
    assert!(
        r.err.contains("cannot read the migrations folder"),
        "{}",
        r.err
    );
    p.ok("v1", &["init"]);
    let r = p.fails("v1", &["upgrade", "nosuchid"], 1);
    assert!(
        r.err.contains("revision nosuchid: no revision has this id"),
        "{}",
        r.err
    );
}

const TESTS: &[(&str, fn())] = &[
    (
        "the_whole_flow_from_init_to_downgrade",
        the_whole_flow_from_init_to_downgrade,
    ),
    (
        "a_failed_upgrade_exits_1_naming_the_rows_and_changes_nothing",
        a_failed_upgrade_exits_1_naming_the_rows_and_changes_nothing,
    ),
    (
        "usage_errors_exit_2_and_help_and_diagram_print",
        usage_errors_exit_2_and_help_and_diagram_print,
    ),
];

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if args.first().is_some_and(|a| a == "db") {
        return app(args);
    }
    // The test runner: libtest's filters, --exact, --list, --skip.
    let mut filters = Vec::new();
    let mut skips = Vec::new();
    let (mut exact, mut list, mut only_ignored) = (false, false, false);
    let mut it = args.iter().map(|a| a.to_string_lossy().into_owned());
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--exact" => exact = true,
            "--list" => list = true,
            "--ignored" => only_ignored = true,
            "--skip" => skips.extend(it.next()),
            "--color" | "--format" | "--logfile" | "--test-threads" | "--shuffle-seed" | "-Z" => {
                it.next();
            }
            _ if arg.starts_with('-') => {}
            _ => filters.push(arg),
        }
    }
    let matches = |name: &str, pattern: &String| {
        if exact {
            name == pattern
        } else {
            name.contains(pattern.as_str())
        }
    };
    let selected: Vec<&(&str, fn())> = TESTS
        .iter()
        .filter(|(name, _)| {
            !only_ignored
                && (filters.is_empty() || filters.iter().any(|f| matches(name, f)))
                && !skips.iter().any(|s| matches(name, s))
        })
        .collect();
    if list {
        for (name, _) in &selected {
            println!("{name}: test");
        }
        return ExitCode::SUCCESS;
    }
    let start = std::time::Instant::now();
    println!("\nrunning {} tests", selected.len());
    let mut failed = Vec::new();
    for (name, test) in &selected {
        match std::panic::catch_unwind(test) {
            Ok(()) => println!("test {name} ... ok"),
            Err(_) => {
                println!("test {name} ... FAILED");
                failed.push(*name);
            }
        }
    }
    println!(
        "\ntest result: {}. {} passed; {} failed; 0 ignored; 0 measured; {} filtered out; finished in {:.2}s\n",
        if failed.is_empty() { "ok" } else { "FAILED" },
        selected.len() - failed.len(),
        failed.len(),
        TESTS.len() - selected.len(),
        start.elapsed().as_secs_f64()
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
