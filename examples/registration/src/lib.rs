//! The registration web app of the tutorial "Flask Database Integration with
//! SQLAlchemy", on [axum] and `orm`, made safe to copy.
//!
//! The flow, as in the tutorial:
//!
//! 1. `GET /register` shows a form with username, email and password.
//! 2. `POST /register` checks the fields on the server (none empty, a
//!    plausible email, a password of at least 8 characters, username and
//!    email of at most 100 characters), hashes the password with Argon2id
//!    and stores a [`User`], then redirects (303) to `GET /users`, which
//!    shows "User registration successful" once (a flash message), so
//!    reloading the page posts nothing again. A refused form comes back
//!    with its messages: status 400 for invalid input, 409 when the
//!    username or the email is already registered (one message for both,
//!    so the form does not tell which accounts exist).
//! 3. `GET /users` lists the registered usernames.
//!
//! What the tutorial does not do, and a web app must:
//!
//! - **Look-alike accounts.** Usernames and emails are stored in a
//!   canonical form ([`names`]: Unicode NFKC and lower case; control and
//!   invisible characters refused), so `Alice`, `ａｌｉｃｅ` and `alice` are
//!   one account, and `ALICE@example.com` is `alice@example.com`. The
//!   database's UNIQUE constraints compare them, so two concurrent
//!   registrations cannot both get one name.
//! - **Cross-site request forgery.** [`web_kit::harden`]: another site's
//!   form is refused by its `Origin` (403), and the form carries a token
//!   bound to a cookie (a form without it is refused with 403).
//! - **Memory and time.** An Argon2id hash takes 19 MiB for about 50 ms:
//!   at most [`hashing_slots`] run at once (one per CPU), whatever the
//!   number of requests. Bodies are limited to 32 KiB (413), requests to
//!   10 s (408), request heads to 10 s ([`web_kit::Settings::serve`]).
//! - **Output.** Pages are [minijinja] templates, HTML-escaped; what the
//!   user typed is shown back at most 100 characters long; a small
//!   stylesheet is served by the app (no external assets), and a content
//!   security policy forbids anything else.
//! - **Schema.** [`open`] refuses a database whose `user` table lacks the
//!   UNIQUE constraints the app relies on (such as the Python tutorial's),
//!   naming the `db` commands that add them.
//!
//! One [`orm::Database`] is shared by the app; each request's unit of work
//! runs in its own [`orm::Session`] on tokio's blocking pool
//! ([`Database::run`]). Values reach SQLite only as bound parameters.
//!
//! Run it with a port and a database URL (both optional; `PORT` and
//! `DATABASE_URL` are read otherwise, then 5000 and `sqlite:///registration.db`):
//!
//! ```text
//! cargo run -p registration -- 5000 sqlite:///registration.db
//! ```
//!
//! then open `http://127.0.0.1:5000/register`.
//!
//! The migration commands of Flask-Migrate are the app's own `db` command
//! (`orm::migrate::Command`), on the database of `DATABASE_URL`:
//!
//! ```text
//! cargo run -p registration -- db init
//! cargo run -p registration -- db revision --autogenerate -m "unique usernames and emails"
//! cargo run -p registration -- db upgrade
//! ```

#![warn(missing_docs)]

use std::fmt;
use std::sync::{Arc, LazyLock, Mutex};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Argon2, Block};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use minijinja::{Environment, Value, context};
use orm::prelude::*;
use serde::Deserialize;
use tokio::sync::Semaphore;
use web_kit::{CsrfForm, CsrfRejection, FormToken};

pub mod names;

/// The longest username or email accepted, in characters: the model's
/// `VARCHAR(100)`.
pub const MAX_FIELD_CHARS: usize = 100;

/// The shortest password accepted, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// The longest password accepted, in characters (a bound on the work a
/// single request can ask of the hasher).
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// The largest `POST /register` body, in bytes: the longest password
/// (1,024 four-byte characters, percent-encoded) and the other fields fit.
pub const MAX_BODY_BYTES: usize = 32 * 1024;

/// The flash message `GET /users` shows after a registration, as in the
/// tutorial.
pub const SUCCESS_MESSAGE: &str = "User registration successful";

/// The answer to a username or an email that is already registered: one
/// message for both, so the form does not say which accounts exist.
pub const TAKEN_MESSAGE: &str = "This username or email address is already registered. \
     Please choose another, or use the account you have.";

/// A registered user: the tutorial's `class User(db.Model)`.
///
/// `username` and `user_email` are UNIQUE, so the database itself refuses a
/// second registration of either; both hold the canonical form of
/// [`names`], so look-alikes are the same value. `user_password` holds an
/// Argon2id hash in PHC form (`$argon2id$v=19$...`), never the password
/// itself; `Debug` leaves it out.
#[derive(Model, Default, Clone, PartialEq, Eq)]
pub struct User {
    /// The generated key.
    #[orm(primary_key)]
    pub id: i64,
    /// The name the user chose, in canonical form ([`names::username`]).
    #[orm(max_length = 100, unique)]
    pub username: String,
    /// The email address, in canonical form ([`names::email`]).
    #[orm(max_length = 100, unique)]
    pub user_email: String,
    /// The Argon2id hash of the password, as a PHC string.
    #[orm(max_length = 150)]
    pub user_password: String,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("user_email", &self.user_email)
            .field("user_password", &"<redacted>")
            .finish()
    }
}

/// The app's database settings: [`User`] registered. [`open`] uses them,
/// and so does the `db` command (`registration db upgrade`), which
/// compares these models with the database.
pub fn builder() -> orm::DatabaseBuilder {
    Database::builder().model::<User>()
}

/// Open the database at `url` (for example `sqlite:///registration.db`)
/// with [`User`] registered. Call [`Database::create_all`] before serving.
///
/// The app refuses duplicates through the `user` table's UNIQUE
/// constraints, so opening is strict ([`orm::SchemaCheck::Strict`]): an
/// existing table that differs from [`User`], such as the one the Python
/// tutorial made (no UNIQUE constraints), is an error until
/// `registration db revision --autogenerate` and `registration db upgrade`
/// migrate it (`docs/migrations.md`).
///
/// # Errors
///
/// Those of [`orm::DatabaseBuilder::open`]: a malformed URL, a file that
/// cannot be opened, [`orm::Error::SchemaDrift`] naming each difference.
pub fn open(url: &str) -> orm::Result<Database> {
    builder().schema_check(orm::SchemaCheck::Strict).open(url)
}

/// How many passwords are hashed at once: one per CPU the process may use
/// (`std::thread::available_parallelism`). Requests beyond this wait,
/// holding no thread and no hash memory.
pub fn hashing_slots() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// Argon2id with secure defaults (`m = 19456 KiB, t = 2, p = 1`), at most
/// [`hashing_slots`] hashes at once, each in a 19 MiB buffer of its own
/// that is kept for the next hash.
///
/// Kept, not freed: glibc's allocator raises its mmap threshold after the
/// first 19 MiB block is freed, and later blocks, carved from heaps that
/// small allocations fragment, were not given back: 64 registrations in a
/// burst reached 900 MiB with only two hashes at a time. With the buffers
/// kept, the hashes' memory is `slots x 19 MiB`, whatever the allocator.
struct Hasher {
    slots: Arc<Semaphore>,
    buffers: Mutex<Vec<Vec<Block>>>,
}

impl Hasher {
    fn new(slots: usize) -> Self {
        Hasher {
            slots: Arc::new(Semaphore::new(slots)),
            buffers: Mutex::new(Vec::new()),
        }
    }

    fn buffers(&self) -> std::sync::MutexGuard<'_, Vec<Vec<Block>>> {
        self.buffers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`) of
    /// `password`, once a slot is free; the hash runs on the blocking pool.
    async fn hash(self: &Arc<Self>, password: String) -> Result<String, String> {
        let slot = Arc::clone(&self.slots)
            .acquire_owned()
            .await
            .map_err(|e| format!("hashing slots: {e}"))?;
        let hasher = Arc::clone(self);
        // The slot and the buffer go with the blocking task: if the request
        // is dropped (timeout), the hash still finishes in its slot.
        let task = tokio::task::spawn_blocking(move || {
            let _slot = slot;
            let params = argon2::Params::default();
            let mut memory = hasher.buffers().pop();
            let memory = memory.get_or_insert_with(|| vec![Block::default(); params.block_count()]);
            let hash = hash_into(memory, password.as_bytes());
            // Wiped, as argon2 wipes the memory it allocates itself: no
            // password-derived block waits in the pool.
            memory.fill(Block::default());
            hasher.buffers().push(std::mem::take(memory));
            hash
        });
        task.await.map_err(|e| format!("hashing task: {e}"))?
    }
}

/// What `PasswordHasher::hash_password` does, in `memory`.
fn hash_into(memory: &mut [Block], password: &[u8]) -> Result<String, String> {
    let argon2 = Argon2::default();
    let salt = argon2::password_hash::try_generate_salt().map_err(|e| format!("salt: {e}"))?;
    let mut out = [0u8; argon2::Params::DEFAULT_OUTPUT_LEN];
    argon2
        .hash_password_into_with_memory(password, &salt, &mut out, memory)
        .map_err(|e| format!("hashing: {e}"))?;
    let phc = |e: argon2::password_hash::Error| format!("PHC string: {e}");
    let hash = PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(argon2::Version::V0x13.into()),
        params: ParamsString::try_from(argon2.params()).map_err(phc)?,
        salt: Some(Salt::new(&salt).map_err(|e| format!("salt: {e}"))?),
        hash: Some(Output::new(&out).map_err(|e| format!("output: {e}"))?),
    };
    Ok(hash.to_string())
}

/// What the handlers share.
#[derive(Clone)]
struct App {
    db: Database,
    hasher: Arc<Hasher>,
}

/// The web app with the default [`web_kit::Settings`] (a 32 KiB body
/// limit): see [`app_with`].
pub fn app(db: Database) -> Router {
    let settings = web_kit::Settings {
        body_limit: MAX_BODY_BYTES,
        ..Default::default()
    };
    app_with(db, &settings)
}

/// The web app: `GET /register`, `POST /register`, `GET /users`, the
/// stylesheet, and `/` redirecting to the form, hardened with `settings`
/// ([`web_kit::Settings::harden`]: CSRF, limits, timeouts, headers).
///
/// `db` must have [`User`] registered (see [`open`]) and its table created.
pub fn app_with(db: Database, settings: &web_kit::Settings) -> Router {
    let state = App {
        db,
        hasher: Arc::new(Hasher::new(hashing_slots())),
    };
    let routes = Router::new()
        .route("/", get(|| async { Redirect::to("/register") }))
        .route("/register", get(show_form).post(register))
        .route("/users", get(list_users))
        .with_state(state);
    settings.harden(routes)
}

/// The fields `POST /register` reads. Missing fields count as empty, so they
/// get the same friendly message.
#[derive(Deserialize, Default)]
#[serde(default)]
struct RegistrationForm {
    username: String,
    email: String,
    password: String,
}

/// A registration that passed validation, in canonical form.
struct NewUser {
    username: String,
    email: String,
    password: String,
}

/// Why a registration was refused by the database or could not be stored.
enum StoreError {
    /// A UNIQUE constraint: the username or the email is taken.
    Taken,
    /// The database stayed locked longer than the busy timeout, or the
    /// pool had no connection.
    Busy,
    /// Anything else: a bug or a broken database; logged, answered with 500.
    Internal(String),
}

/// The templates, compiled into the binary; `.html` ones are HTML-escaped.
static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, source) in [
        ("base.html", include_str!("../templates/base.html")),
        ("register.html", include_str!("../templates/register.html")),
        ("users.html", include_str!("../templates/users.html")),
        ("error.html", include_str!("../templates/error.html")),
    ] {
        env.add_template(name, source)
            .unwrap_or_else(|e| panic!("template {name}: {e}"));
    }
    env
});

/// `name` rendered with `ctx` as a response with `status`; a template
/// error is logged and answered with a plain 500.
fn page(status: StatusCode, name: &str, ctx: Value) -> Response {
    match TEMPLATES.get_template(name).and_then(|t| t.render(ctx)) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            log::error!("rendering {name}: {e}");
            (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response()
        }
    }
}

/// The registration form with `problems` above it, the username and email
/// shown again (bounded, [`names::echo`]; the password never is).
fn form_page(
    status: StatusCode,
    csrf: &FormToken,
    problems: &[String],
    username: &str,
    email: &str,
) -> Response {
    page(
        status,
        "register.html",
        context! {
            csrf,
            problems,
            username => names::echo(username),
            email => names::echo(email),
            max => MAX_FIELD_CHARS,
            min => MIN_PASSWORD_CHARS,
            max_password => MAX_PASSWORD_CHARS,
        },
    )
}

fn internal_error() -> Response {
    page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "error.html",
        context! { message => "Something went wrong on our side. Please try again later." },
    )
}

async fn show_form(csrf: FormToken) -> Response {
    form_page(StatusCode::OK, &csrf, &[], "", "")
}

async fn register(
    State(app): State<App>,
    csrf: FormToken,
    form: Result<CsrfForm<RegistrationForm>, CsrfRejection>,
) -> Response {
    let form = match form {
        Ok(CsrfForm(form)) => form,
        Err(rejection) => {
            // What was wrong with the form, never its content.
            log::info!("registration refused: {rejection}");
            let status = rejection.status();
            let problem = match rejection {
                CsrfRejection::Token => {
                    "This form has expired or was sent from another site. \
                     Please check it and send it again."
                }
                CsrfRejection::Body(_) if status == StatusCode::PAYLOAD_TOO_LARGE => {
                    "The form is too large. Please shorten what you typed and send it again."
                }
                _ => "The form could not be read. Please fill it in and send it again.",
            };
            let status = if status.is_client_error() {
                status
            } else {
                StatusCode::BAD_REQUEST
            };
            return form_page(status, &csrf, &[problem.to_owned()], "", "");
        }
    };
    let user = match validate(&form) {
        Ok(user) => user,
        Err(problems) => {
            return form_page(
                StatusCode::BAD_REQUEST,
                &csrf,
                &problems,
                &form.username,
                &form.email,
            );
        }
    };
    match store(&app, user).await {
        Ok(()) => {
            // Redirect after POST: reloading the next page posts nothing.
            let flash = "flash=registered; Path=/; Max-Age=60; HttpOnly; SameSite=Lax";
            ([(header::SET_COOKIE, flash)], Redirect::to("/users")).into_response()
        }
        Err(StoreError::Taken) => {
            // Which constraint is not logged either: no user input, no
            // account's existence in the logs.
            log::info!("registration refused: username or email already registered");
            form_page(
                StatusCode::CONFLICT,
                &csrf,
                &[TAKEN_MESSAGE.to_owned()],
                &form.username,
                &form.email,
            )
        }
        Err(StoreError::Busy) => {
            log::warn!("registration failed: database busy");
            form_page(
                StatusCode::SERVICE_UNAVAILABLE,
                &csrf,
                &["The server is busy. Please try again in a moment.".to_owned()],
                &form.username,
                &form.email,
            )
        }
        Err(StoreError::Internal(error)) => {
            log::error!("registration failed: {error}");
            internal_error()
        }
    }
}

async fn list_users(State(app): State<App>, headers: HeaderMap) -> Response {
    let names = app
        .db
        .run(|s| {
            s.query::<User>()
                .order_by(User::id)
                .select(User::username)
                .all()
        })
        .await;
    let users = match names {
        Ok(names) => names,
        Err(error) => {
            log::error!("listing users failed: {error}");
            return internal_error();
        }
    };
    let flashed = has_flash(&headers);
    let flash = flashed.then_some(SUCCESS_MESSAGE);
    let response = page(StatusCode::OK, "users.html", context! { users, flash });
    if flashed {
        // Shown once: the cookie goes with this page.
        let clear = "flash=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax";
        ([(header::SET_COOKIE, clear)], response).into_response()
    } else {
        response
    }
}

/// Whether the request carries the flash cookie of a registration.
fn has_flash(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .any(|c| c.trim() == "flash=registered")
}

/// Check the submitted fields and bring username and email to their
/// canonical forms ([`names`]). On failure, every problem found.
fn validate(form: &RegistrationForm) -> Result<NewUser, Vec<String>> {
    let mut problems = Vec::new();
    let username = names::username(&form.username).map_err(|p| problems.push(p));
    let email = names::email(&form.email).map_err(|p| problems.push(p));
    let password = &form.password;
    let password_chars = password.chars().count();
    if password.trim().is_empty() {
        problems.push("Please enter a password.".to_owned());
    } else if password_chars < MIN_PASSWORD_CHARS {
        problems.push(format!(
            "The password must have at least {MIN_PASSWORD_CHARS} characters."
        ));
    } else if password_chars > MAX_PASSWORD_CHARS {
        problems.push(format!(
            "The password is too long (at most {MAX_PASSWORD_CHARS} characters)."
        ));
    }
    match (username, email) {
        (Ok(username), Ok(email)) if problems.is_empty() => Ok(NewUser {
            username,
            email,
            password: password.clone(),
        }),
        _ => Err(problems),
    }
}

/// Hash the password (waiting for a hashing slot), then insert the user.
async fn store(app: &App, user: NewUser) -> Result<(), StoreError> {
    let hash = app
        .hasher
        .hash(user.password)
        .await
        .map_err(StoreError::Internal)?;
    let (username, user_email) = (user.username, user.email);
    app.db
        .run(move |s| {
            s.add(User {
                id: 0,
                username,
                user_email,
                user_password: hash,
            })?;
            s.commit()
        })
        .await
        .map_err(classify)
}

/// Sort an `orm` error into what the client is told.
fn classify(error: orm::Error) -> StoreError {
    match error {
        orm::Error::Constraint {
            kind: ConstraintKind::Unique,
            ..
        } => StoreError::Taken,
        orm::Error::Busy { .. } | orm::Error::Pool(_) => StoreError::Busy,
        // orm's messages never contain bound values, so no password or hash.
        other => StoreError::Internal(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(username: &str, email: &str, password: &str) -> RegistrationForm {
        RegistrationForm {
            username: username.into(),
            email: email.into(),
            password: password.into(),
        }
    }

    fn problems(f: RegistrationForm) -> Vec<String> {
        validate(&f).err().unwrap_or_default()
    }

    #[test]
    fn valid_input_is_canonical_except_the_password() {
        let Ok(u) = validate(&form("  Ann ", " Ann@Example.com\n", " Secret pw ")) else {
            panic!("rejected")
        };
        assert_eq!(
            (u.username.as_str(), u.email.as_str(), u.password.as_str()),
            ("ann", "ann@example.com", " Secret pw ")
        );
    }

    #[test]
    fn every_problem_is_reported() {
        assert_eq!(problems(form("", " ", "\t")).len(), 3);
        assert_eq!(problems(form("ann", "ann", "short")).len(), 2);
    }

    #[test]
    fn lengths_count_characters_not_bytes() {
        let hundred = "é".repeat(MAX_FIELD_CHARS);
        assert!(problems(form(&hundred, "a@b", "password")).is_empty());
        let too_long = "é".repeat(MAX_FIELD_CHARS + 1);
        assert_eq!(problems(form(&too_long, "a@b", "password")).len(), 1);
        assert_eq!(problems(form("ann", "a@b", "ééééééé")).len(), 1);
        assert!(problems(form("ann", "a@b", "éééééééé")).is_empty());
    }

    #[test]
    fn the_flash_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, "csrf=x; flash=registered".parse().unwrap());
        assert!(has_flash(&headers));
        headers.insert(header::COOKIE, "flash=registered2".parse().unwrap());
        assert!(!has_flash(&headers));
    }

    #[test]
    fn every_template_renders() {
        for name in ["register.html", "users.html", "error.html"] {
            let html = TEMPLATES
                .get_template(name)
                .unwrap()
                .render(context! { users => ["<b>"], flash => "hi", problems => ["<i>"] })
                .unwrap();
            assert!(html.contains(web_kit::STYLESHEET), "{name}: {html}");
            assert!(
                !html.contains("<b>") && !html.contains("<i>"),
                "{name}: {html}"
            );
        }
    }

    #[test]
    fn debug_hides_the_password_hash() {
        let u = User {
            user_password: "$argon2id$secret".into(),
            ..Default::default()
        };
        assert!(!format!("{u:?}").contains("secret"));
    }
}
