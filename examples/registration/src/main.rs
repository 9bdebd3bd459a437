//! Serve the registration app on 127.0.0.1.
//!
//! ```text
//! cargo run -p registration -- [PORT] [DATABASE_URL]
//! ```
//!
//! `PORT` defaults to the `PORT` environment variable, then 5000;
//! `DATABASE_URL` to the `DATABASE_URL` environment variable, then
//! `sqlite:///registration.db`. Logs go to standard error.
//!
//! ```text
//! cargo run -p registration -- db COMMAND [ARGS]
//! ```
//!
//! runs a migration command (`init`, `revision --autogenerate -m MSG`,
//! `upgrade`, `downgrade`, `current`, `history`, `stamp`, `check`,
//! `diagram`; `db --help` lists them) on the database of `DATABASE_URL`,
//! with the revisions in `./migrations`.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;

/// Prints `log` records of level info and above to standard error.
struct StderrLogger;

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Info
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            eprintln!("{} {}: {}", record.level(), record.target(), record.args());
        }
    }

    fn flush(&self) {}
}

/// The first command-line argument, else the environment variable, else the
/// default.
fn setting(arg: Option<String>, var: &str, default: &str) -> String {
    arg.or_else(|| std::env::var(var).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| default.to_owned())
}

fn main() -> ExitCode {
    if log::set_logger(&StderrLogger).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    // `registration db ...`: the migration command, with the app's models.
    if args.first().is_some_and(|a| a == "db") {
        let url = setting(None, "DATABASE_URL", "sqlite:///registration.db");
        return orm::migrate::Command::new(registration::builder(), url).run(&args[1..]);
    }
    serve()
}

#[tokio::main]
async fn serve() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let port = setting(args.next(), "PORT", "5000");
    let url = setting(args.next(), "DATABASE_URL", "sqlite:///registration.db");

    let Ok(port) = port.parse::<u16>() else {
        eprintln!("error: `{port}` is not a port number (0 to 65535)");
        return ExitCode::FAILURE;
    };
    let db = match registration::open(&url) {
        Ok(db) => db,
        Err(orm::Error::SchemaDrift { differences }) => {
            // The app relies on the table's UNIQUE constraints to refuse
            // duplicates: serving without them would accept them.
            eprintln!("error: the database {url} differs from the app's models:");
            for difference in differences {
                eprintln!("  {difference}");
            }
            eprintln!(
                "Registrations rely on these constraints; the app will not serve without them.\n\
                 Migrate the database first (docs/migrations.md):\n  \
                 registration db init\n  \
                 registration db revision --autogenerate -m \"unique usernames and emails\"\n  \
                 registration db upgrade"
            );
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = db.create_all() {
        eprintln!("error: creating the tables in {url}: {e}");
        return ExitCode::FAILURE;
    }

    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let shown = listener.local_addr().unwrap_or(addr);
    log::info!("database {url}; open http://{shown}/register (Ctrl-C stops)");

    let shutdown = async {
        // If the signal cannot be installed, run until killed.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    // Request heads within 10 s, idle connections closed after 10 s (the
    // request and body timeouts are in the app's router).
    let settings = web_kit::Settings::default();
    match settings
        .serve(listener, registration::app(db), shutdown)
        .await
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
