//! The `db` command an application embeds, in Flask-Migrate's words:
//! `init`, `revision --autogenerate -m`, `upgrade`, `downgrade`, `current`,
//! `history`, `stamp`, `check`, plus `diagram`.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use super::revision::Migrations;
use super::runner::Migrator;
use crate::database::{DatabaseBuilder, SchemaCheck};
use crate::error::{Error, Result};

/// The migration commands of an application, run from its own binary (its
/// models are compiled into it, so the application embeds the command, as
/// Flask-Migrate registers `flask db` on the app).
///
/// ```text
/// myapp db init                                create the migrations folder
/// myapp db revision --autogenerate -m "..."    write a revision from the models
/// myapp db revision -m "..."                   write an empty revision
/// myapp db migrate -m "..."                    the same as revision --autogenerate
/// myapp db upgrade [TARGET] [--sql]            apply revisions (default: head)
/// myapp db downgrade [TARGET] [--sql]          undo revisions (default: -1)
/// myapp db current                             the database's revision
/// myapp db history                             the revisions, newest first
/// myapp db stamp TARGET                        record a revision without running it
/// myapp db check                               exit 1 if models and database differ
/// myapp db diagram                             the models as a Mermaid erDiagram
/// ```
///
/// Options: `-d DIR` / `--directory DIR` (default `migrations`). Exit
/// status: 0 on success, 1 when a command fails or `check` finds
/// differences, 2 for a command line it does not understand.
///
/// # Examples
///
/// ```
/// use orm::prelude::*;
/// use orm::migrate::Command;
///
/// #[derive(Model, Debug, Default)]
/// struct User { #[orm(primary_key)] id: i64 }
///
/// // fn main() -> std::process::ExitCode {
/// //     let args: Vec<_> = std::env::args_os().skip(1).collect();
/// //     if args.first().is_some_and(|a| a == "db") {
/// //         return Command::new(Database::builder().model::<User>(), "sqlite:///app.db")
/// //             .run(&args[1..]);
/// //     }
/// //     ... serve the app ...
/// // }
/// let dir = tempfile::tempdir().unwrap();
/// let (mut out, mut err) = (Vec::new(), Vec::new());
/// let command = Command::new(Database::builder().model::<User>(), "sqlite://")
///     .directory(dir.path().join("migrations"));
/// assert_eq!(command.run_with(["init"], &mut out, &mut err), 0);
/// assert_eq!(command.run_with(["diagram"], &mut out, &mut err), 0);
/// assert_eq!(command.run_with(["nonsense"], &mut out, &mut err), 2);
/// ```
#[derive(Debug, Clone)]
pub struct Command {
    builder: DatabaseBuilder,
    url: String,
    dir: PathBuf,
    embedded: Option<Migrations>,
}

const USAGE: &str = "usage: db [-d DIR] COMMAND [ARGS]

commands:
  init                              create the migrations folder
  revision [--autogenerate] -m MSG  write a new revision (from the models with --autogenerate)
  migrate -m MSG                    the same as revision --autogenerate
  upgrade [TARGET] [--sql]          apply revisions up to TARGET (default: head)
  downgrade [TARGET] [--sql]        undo revisions down to TARGET (default: -1; base: all)
  current                           show the database's revision
  history                           list the revisions, newest first
  stamp TARGET                      record TARGET as the database's revision, running nothing
  check                             exit 1 if the models and the database differ
  diagram                           print the models as a Mermaid erDiagram

TARGET: head, base, a revision id (or its first digits), +N or -N
options: -d DIR, --directory DIR   the migrations folder (default: migrations)";

/// A parsed command line.
#[derive(Debug, Default)]
struct Args {
    command: String,
    positional: Vec<String>,
    message: Option<String>,
    autogenerate: bool,
    sql: bool,
    dir: Option<PathBuf>,
    help: bool,
}

fn parse(args: Vec<OsString>) -> std::result::Result<Args, String> {
    use lexopt::prelude::*;
    let mut parsed = Args::default();
    let mut parser = lexopt::Parser::from_args(args);
    let text = |v: OsString| {
        v.into_string()
            .map_err(|v| format!("{} is not valid UTF-8", v.to_string_lossy()))
    };
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Short('m') | Long("message") => {
                parsed.message = Some(text(parser.value().map_err(|e| e.to_string())?)?);
            }
            Short('d') | Long("directory") => {
                parsed.dir = Some(parser.value().map_err(|e| e.to_string())?.into());
            }
            Long("autogenerate") => parsed.autogenerate = true,
            Long("sql") => parsed.sql = true,
            Short('h') | Long("help") => parsed.help = true,
            Value(v) if parsed.command.is_empty() => parsed.command = text(v)?,
            Value(v) => parsed.positional.push(text(v)?),
            other => return Err(other.unexpected().to_string()),
        }
    }
    Ok(parsed)
}

impl Command {
    /// The command for the models of `builder`, on the database at `url`.
    ///
    /// # Examples
    ///
    /// See [`Command`].
    pub fn new(builder: DatabaseBuilder, url: impl Into<String>) -> Command {
        Command {
            builder,
            url: url.into(),
            dir: PathBuf::from("migrations"),
            embedded: None,
        }
    }

    /// The migrations folder (default `migrations`, relative to the current
    /// directory); `-d` on the command line overrides it.
    ///
    /// # Examples
    ///
    /// See [`Command`].
    pub fn directory(mut self, dir: impl Into<PathBuf>) -> Command {
        self.dir = dir.into();
        self
    }

    /// Revisions embedded in the binary
    /// ([`embed_migrations!`](crate::embed_migrations)), used when the
    /// migrations folder does not exist (a deployed binary).
    ///
    /// # Examples
    ///
    /// ```
    /// # use orm::prelude::*;
    /// let command = orm::migrate::Command::new(Database::builder(), "sqlite://")
    ///     .embedded(orm::migrate::Migrations::new());
    /// # let _ = command;
    /// ```
    pub fn embedded(mut self, migrations: Migrations) -> Command {
        self.embedded = Some(migrations);
        self
    }

    /// Run the command line `args` (without the program name and without
    /// `db`), printing to standard output and error; the exit status.
    ///
    /// # Examples
    ///
    /// See [`Command`].
    pub fn run<I, S>(&self, args: I) -> ExitCode
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        let code = self.run_with(args, &mut std::io::stdout(), &mut std::io::stderr());
        ExitCode::from(code)
    }

    /// [`run`](Self::run), writing to `out` and `err`; the exit status as a
    /// number.
    ///
    /// # Examples
    ///
    /// See [`Command`].
    pub fn run_with<I, S>(&self, args: I, out: &mut dyn Write, err: &mut dyn Write) -> u8
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        let args = match parse(args.into_iter().map(Into::into).collect()) {
            Ok(a) => a,
            Err(e) => {
                let _ = writeln!(err, "error: {e}\n\n{USAGE}");
                return 2;
            }
        };
        if args.help || args.command.is_empty() || args.command == "help" {
            let _ = writeln!(out, "{USAGE}");
            return if args.help || args.command == "help" {
                0
            } else {
                2
            };
        }
        match self.dispatch(&args, out) {
            Ok(code) => code,
            Err(Failure::Usage(e)) => {
                let _ = writeln!(err, "error: {e}\n\n{USAGE}");
                2
            }
            Err(Failure::Error(e)) => {
                let _ = writeln!(err, "error: {e}");
                1
            }
        }
    }

    fn dispatch(&self, args: &Args, out: &mut dyn Write) -> std::result::Result<u8, Failure> {
        let dir = args.dir.clone().unwrap_or_else(|| self.dir.clone());
        let max_args = match args.command.as_str() {
            "upgrade" | "downgrade" | "stamp" => 1,
            _ => 0,
        };
        if args.positional.len() > max_args {
            return Err(Failure::Usage(format!(
                "unexpected argument `{}`",
                args.positional[max_args]
            )));
        }
        let target = args.positional.first().map(String::as_str);
        match args.command.as_str() {
            "init" => {
                init(&dir)?;
                let _ = writeln!(
                    out,
                    "Created {}: write revisions with `db revision --autogenerate -m \"...\"`",
                    dir.display()
                );
                Ok(0)
            }
            "diagram" => {
                // Opening resolves the models and their links; no query runs.
                let db = self.open()?;
                let _ = write!(out, "{}", super::diagram(db.tables()));
                Ok(0)
            }
            "revision" | "migrate" => {
                let autogenerate = args.autogenerate || args.command == "migrate";
                let message = args.message.clone().unwrap_or_default();
                let migrations = Migrations::from_dir(&dir)?;
                let db = self.open()?;
                let migrator = Migrator::new(&db, &migrations);
                let new = if autogenerate {
                    match migrator.autogenerate(&message)? {
                        Some(new) => new,
                        None => {
                            let _ = writeln!(out, "No changes in schema detected.");
                            return Ok(0);
                        }
                    }
                } else {
                    migrator.revision(&message)
                };
                let path = new.write_to(&dir)?;
                for op in new.ops() {
                    let _ = writeln!(out, "Detected {op}");
                }
                let _ = writeln!(out, "Generating {} ... done", path.display());
                Ok(0)
            }
            "upgrade" | "downgrade" | "current" | "history" | "stamp" | "check" => {
                // Without a folder there are no revisions: the database
                // can still be compared with the models.
                let none_needed = matches!(args.command.as_str(), "current" | "check")
                    && self.embedded.is_none()
                    && !dir.exists();
                let migrations = if none_needed {
                    Migrations::new()
                } else {
                    self.migrations(&dir)?
                };
                let db = self.open()?;
                let migrator = Migrator::new(&db, &migrations);
                self.on_database(args, target, &migrations, &migrator, out)
            }
            other => Err(Failure::Usage(format!("unknown command `{other}`"))),
        }
    }

    fn on_database(
        &self,
        args: &Args,
        target: Option<&str>,
        migrations: &Migrations,
        migrator: &Migrator<'_>,
        out: &mut dyn Write,
    ) -> std::result::Result<u8, Failure> {
        let by_id = |id: &str| migrations.revisions().iter().find(|r| r.id() == id);
        match args.command.as_str() {
            "upgrade" | "downgrade" => {
                let up = args.command == "upgrade";
                let target = target.unwrap_or(if up { "head" } else { "-1" });
                if args.sql {
                    for statement in migrator.sql(target)? {
                        let _ = writeln!(out, "{statement};\n");
                    }
                    return Ok(0);
                }
                let done = if up {
                    migrator.upgrade(target)?
                } else {
                    migrator.downgrade(target)?
                };
                if done.is_empty() {
                    let _ = writeln!(
                        out,
                        "Nothing to do: the database is at {}",
                        shown(migrator.current()?.as_deref())
                    );
                }
                for id in &done {
                    let r = by_id(id);
                    let (from, to) = match (up, r) {
                        (true, Some(r)) => (r.parent(), Some(r.id())),
                        (false, Some(r)) => (Some(r.id()), r.parent()),
                        _ => (None, None),
                    };
                    let _ = writeln!(
                        out,
                        "Running {} {} -> {}, {}",
                        args.command,
                        shown(from),
                        shown(to),
                        r.map_or("", |r| r.message())
                    );
                }
                Ok(0)
            }
            "current" => {
                let current = migrator.current()?;
                let head = migrations.head().map(|r| r.id());
                match current.as_deref() {
                    None => {
                        let _ = writeln!(out, "base (no revision applied)");
                    }
                    Some(id) => {
                        let _ =
                            writeln!(out, "{id}{}", if Some(id) == head { " (head)" } else { "" });
                    }
                }
                Ok(0)
            }
            "history" => {
                let current = migrator.current().ok().flatten();
                let revisions = migrations.revisions();
                for (i, r) in revisions.iter().enumerate().rev() {
                    let mut marks = Vec::new();
                    if i + 1 == revisions.len() {
                        marks.push("head");
                    }
                    if current.as_deref() == Some(r.id()) {
                        marks.push("current");
                    }
                    let marks = if marks.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", marks.join(", "))
                    };
                    let _ = writeln!(
                        out,
                        "{} -> {}{marks}, {}",
                        shown(r.parent()),
                        r.id(),
                        r.message()
                    );
                }
                Ok(0)
            }
            "stamp" => {
                let Some(target) = target else {
                    return Err(Failure::Usage("stamp needs a TARGET".into()));
                };
                migrator.stamp(target)?;
                let _ = writeln!(out, "Stamped {}", shown(migrator.current()?.as_deref()));
                Ok(0)
            }
            _ => {
                let differences = migrator.check()?;
                if differences.is_empty() {
                    let _ = writeln!(out, "No differences between the models and the database.");
                    return Ok(0);
                }
                let _ = writeln!(
                    out,
                    "The database differs from the models ({} difference(s)); write a revision with `db revision --autogenerate`:",
                    differences.len()
                );
                for d in &differences {
                    let _ = writeln!(out, "  {}", d.drift());
                }
                Ok(1)
            }
        }
    }

    fn open(&self) -> Result<crate::Database> {
        self.builder
            .clone()
            .schema_check(SchemaCheck::Off)
            .open(&self.url)
    }

    /// The folder's revisions, or the embedded ones when there is no folder.
    fn migrations(&self, dir: &std::path::Path) -> Result<Migrations> {
        match &self.embedded {
            Some(m) if !dir.exists() => Ok(m.clone()),
            _ => Migrations::from_dir(dir),
        }
    }
}

fn shown(id: Option<&str>) -> &str {
    id.unwrap_or("base")
}

enum Failure {
    Usage(String),
    Error(Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure::Error(e)
    }
}

const README: &str = "# Migrations

Revisions of this application's database schema, one SQL file each, applied
in the order of their `id` / `parent` headers (the numbers in the file names
are for readers). Each has an `-- orm:upgrade` and an `-- orm:downgrade`
section: the SQL in them is exactly what runs, in one transaction.

    app db revision --autogenerate -m \"add email\"   # compare models and database
    app db upgrade                                   # apply what is new
    app db downgrade                                 # undo the last one
    app db check                                     # for CI: exit 1 on differences

Review every generated revision before applying it: a renamed column or table
is written as a drop and an add (its data would be lost), and the file says so.
";

fn init(dir: &std::path::Path) -> std::result::Result<(), Failure> {
    let failed = |reason: String| {
        Failure::Error(Error::Revision {
            revision: dir.display().to_string(),
            reason,
        })
    };
    if dir.exists() && std::fs::read_dir(dir).map_or(true, |mut d| d.next().is_some()) {
        return Err(failed("exists and is not empty".into()));
    }
    std::fs::create_dir_all(dir).map_err(|e| failed(format!("cannot create it: {e}")))?;
    std::fs::write(dir.join("README.md"), README)
        .map_err(|e| failed(format!("cannot write README.md: {e}")))?;
    Ok(())
}
