//! The tutorial examples run to completion and leave databases whose schema
//! is equivalent to what SQLAlchemy creates for the same models.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{table_names, table_shape};

/// `cargo test` builds the examples next to the test binaries.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    let path = profile_dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} was not built; run through `cargo test`",
        path.display()
    );
    path
}

fn run_and_compare(name: &str, reference_sql: &str) -> String {
    let (dir, url) = common::temp_db(&format!("{name}.db"));
    let out = Command::new(example(name)).arg(&url).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ours = rusqlite::Connection::open(common::path_of(&url)).unwrap();
    let theirs = rusqlite::Connection::open_in_memory().unwrap();
    theirs.execute_batch(reference_sql).unwrap();
    assert_eq!(table_names(&ours), table_names(&theirs));
    for table in table_names(&theirs) {
        assert_eq!(
            table_shape(&ours, &table),
            table_shape(&theirs, &table),
            "{table}"
        );
    }
    drop(dir);
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn users_example_prints_the_tutorial_and_leaves_its_schema() {
    let out = run_and_compare(
        "users",
        include_str!("fixtures/reference/sqlalchemy-users.sql"),
    );
    assert!(
        out.contains("2. add + commit: <User john> got id 1"),
        "{out}"
    );
    assert!(out.contains("3. User.query.all(): [<User john>]"));
    assert!(out.contains("4. User.query.get(1): <User john>"));
    assert!(out.contains("5. rename + commit: <User new_username>"));
    assert!(out.contains("6. delete + commit: 0 users left"));
}

#[test]
fn pets_example_navigates_both_ways_and_leaves_its_schema() {
    let out = run_and_compare(
        "pets",
        include_str!("fixtures/reference/sqlalchemy-pets.sql"),
    );
    assert!(out.contains("Sam handles Rex (dog), Tom (cat)"), "{out}");
    assert!(out.contains("Bubbles is handled by Kim"));
    assert!(out.contains("Tom moved to Lee: Lee now handles 1 pet(s)"));
    assert!(out.contains("#2 Bubbles needs a bigger tank"));
}
