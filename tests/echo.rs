//! SQL echo through the `log` crate: statements are logged when asked,
//! bound values only when asked separately (they may be passwords).

use std::sync::Mutex;

use orm::prelude::*;

static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        LINES
            .lock()
            .unwrap()
            .push(format!("{} {}", record.target(), record.args()));
    }
    fn flush(&self) {}
}

#[derive(Model, Debug, Default)]
struct Account {
    #[orm(primary_key)]
    id: i64,
    name: String,
    password_hash: String,
}

fn run(echo: bool, params: bool) -> Vec<String> {
    LINES.lock().unwrap().clear();
    let db = Database::builder()
        .model::<Account>()
        .echo(echo)
        .echo_params(params)
        .open("sqlite://")
        .unwrap();
    db.create_all().unwrap();
    let s = db.session();
    s.add(Account {
        name: "ann".into(),
        password_hash: "SECRET-VALUE".into(),
        ..Default::default()
    })
    .unwrap();
    s.commit().unwrap();
    s.query::<Account>().all().unwrap();
    LINES.lock().unwrap().clone()
}

#[test]
fn echo_logs_sql_and_hides_values_unless_asked() {
    log::set_logger(&Capture).unwrap();
    log::set_max_level(log::LevelFilter::Trace);

    let quiet = run(false, false);
    assert!(quiet.is_empty(), "{quiet:?}");

    let echoed = run(true, false);
    assert!(echoed.iter().all(|l| l.starts_with("orm::sql ")));
    assert!(echoed.iter().any(|l| l.contains(r#"INSERT INTO "account" ("name", "password_hash") VALUES (?, ?)"#)));
    assert!(echoed.iter().any(|l| l.contains("COMMIT")));
    assert!(
        !echoed.iter().any(|l| l.contains("SECRET-VALUE")),
        "{echoed:?}"
    );

    let with_values = run(true, true);
    assert!(with_values.iter().any(|l| l.contains("SECRET-VALUE")));
}
