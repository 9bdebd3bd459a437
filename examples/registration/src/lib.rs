//! The registration web app of the tutorial "Flask Database Integration with
//! SQLAlchemy", on [axum] and `orm`.
//!
//! The flow, as in the tutorial:
//!
//! 1. `GET /register` shows a form with username, email and password.
//! 2. `POST /register` checks the fields on the server (none empty, a
//!    plausible email, a password of at least 8 characters, username and
//!    email of at most 100 characters), hashes the password with Argon2id and
//!    stores a [`User`]. It answers `User registration successful`, or the
//!    form again with a message: status 400 for invalid input, 409 when the
//!    username or email is already registered. Duplicates are refused by the
//!    database's UNIQUE constraints, so two concurrent requests cannot both
//!    register the same name.
//! 3. `GET /users` lists the registered usernames.
//!
//! One [`orm::Database`] is shared by the app; each request opens its own
//! [`orm::Session`] on a blocking thread (a session is not `Send`, and
//! hashing a password takes a while). Everything shown in a page is
//! HTML-escaped; values reach SQLite only as bound parameters.
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

use std::fmt::{self, Write as _};

use argon2::Argon2;
use argon2::password_hash::PasswordHasher;
use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use orm::prelude::*;
use serde::Deserialize;

/// The longest username or email accepted, in characters: the model's
/// `VARCHAR(100)`.
pub const MAX_FIELD_CHARS: usize = 100;

/// The shortest password accepted, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// The longest password accepted, in characters (a bound on the work a
/// single request can ask of the hasher).
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// The text `POST /register` answers on success, as in the tutorial.
pub const SUCCESS_MESSAGE: &str = "User registration successful";

/// A registered user: the tutorial's `class User(db.Model)`.
///
/// `username` and `user_email` are UNIQUE, so the database itself refuses a
/// second registration of either. `user_password` holds an Argon2id hash in
/// PHC form (`$argon2id$v=19$...`), never the password itself; `Debug`
/// leaves it out.
#[derive(Model, Default, Clone, PartialEq, Eq)]
pub struct User {
    /// The generated key.
    #[orm(primary_key)]
    pub id: i64,
    /// The name the user chose, as typed (without surrounding spaces).
    #[orm(max_length = 100, unique)]
    pub username: String,
    /// The email address, as typed (without surrounding spaces).
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
/// Opening compares the `user` table with [`User`] and logs a warning
/// (target `orm::schema`) for each difference: a database made by the
/// Python tutorial lacks the UNIQUE constraints, which
/// `registration db revision --autogenerate` followed by
/// `registration db upgrade` adds.
///
/// # Errors
///
/// Those of [`orm::DatabaseBuilder::open`]: a malformed URL or a file that
/// cannot be opened.
pub fn open(url: &str) -> orm::Result<Database> {
    builder().open(url)
}

/// The web app: `GET /register`, `POST /register`, `GET /users`, and `/`
/// redirecting to the form.
///
/// `db` must have [`User`] registered (see [`open`]) and its table created.
pub fn app(db: Database) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/register") }))
        .route("/register", get(show_form).post(register))
        .route("/users", get(list_users))
        .with_state(db)
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

/// A registration that passed validation.
struct NewUser {
    username: String,
    email: String,
    password: String,
}

/// Why a registration was refused by the database or could not be stored.
enum StoreError {
    /// A UNIQUE constraint: the column named, when SQLite named one.
    Taken(Option<String>),
    /// The database stayed locked longer than the busy timeout.
    Busy,
    /// Anything else: a bug or a broken database; logged, answered with 500.
    Internal(String),
}

async fn show_form() -> Html<String> {
    Html(form_page(&[], "", ""))
}

async fn register(
    State(db): State<Database>,
    form: Result<Form<RegistrationForm>, FormRejection>,
) -> Response {
    let form = match form {
        Ok(Form(form)) => form,
        Err(rejection) => {
            let status = rejection.status();
            let status = if status.is_client_error() {
                status
            } else {
                StatusCode::BAD_REQUEST
            };
            let problem = "The form could not be read. Please fill it in and send it again.";
            return form_response(status, &[problem.to_owned()], "", "");
        }
    };
    let user = match validate(form) {
        Ok(user) => user,
        Err((problems, username, email)) => {
            return form_response(StatusCode::BAD_REQUEST, &problems, &username, &email);
        }
    };
    let (username, email) = (user.username.clone(), user.email.clone());
    let stored = tokio::task::spawn_blocking(move || store(&db, user)).await;
    match stored {
        Ok(Ok(())) => (StatusCode::OK, SUCCESS_MESSAGE).into_response(),
        Ok(Err(StoreError::Taken(column))) => {
            let problem = taken_message(column.as_deref());
            // The column name only: user input stays out of the logs.
            let column = column.as_deref().unwrap_or("unknown column");
            log::info!("registration refused: duplicate {column}");
            form_response(
                StatusCode::CONFLICT,
                &[problem.to_owned()],
                &username,
                &email,
            )
        }
        Ok(Err(StoreError::Busy)) => {
            log::warn!("registration failed: database busy");
            form_response(
                StatusCode::SERVICE_UNAVAILABLE,
                &["The server is busy. Please try again in a moment.".to_owned()],
                &username,
                &email,
            )
        }
        Ok(Err(StoreError::Internal(error))) => {
            log::error!("registration failed: {error}");
            internal_error()
        }
        Err(join_error) => {
            log::error!("registration task failed: {join_error}");
            internal_error()
        }
    }
}

async fn list_users(State(db): State<Database>) -> Response {
    let names = tokio::task::spawn_blocking(move || {
        let session = db.session();
        session
            .query::<User>()
            .order_by(User::id)
            .select(User::username)
            .all()
    })
    .await;
    match names {
        Ok(Ok(names)) => Html(users_page(&names)).into_response(),
        Ok(Err(error)) => {
            log::error!("listing users failed: {error}");
            internal_error()
        }
        Err(join_error) => {
            log::error!("listing users task failed: {join_error}");
            internal_error()
        }
    }
}

/// Check the submitted fields. On failure, every problem found plus the
/// username and email to show again (never the password).
fn validate(form: RegistrationForm) -> Result<NewUser, (Vec<String>, String, String)> {
    let username = form.username.trim().to_owned();
    let email = form.email.trim().to_owned();
    let password = form.password;
    let mut problems = Vec::new();

    if username.is_empty() {
        problems.push("Please enter a username.".to_owned());
    } else if username.chars().count() > MAX_FIELD_CHARS {
        problems.push(format!(
            "The username is too long (at most {MAX_FIELD_CHARS} characters)."
        ));
    } else if username.chars().any(char::is_control) {
        problems.push("The username cannot contain control characters.".to_owned());
    }

    if email.is_empty() {
        problems.push("Please enter an email address.".to_owned());
    } else if email.chars().count() > MAX_FIELD_CHARS {
        problems.push(format!(
            "The email address is too long (at most {MAX_FIELD_CHARS} characters)."
        ));
    } else if !plausible_email(&email) {
        problems.push("Please enter a valid email address, like name@example.com.".to_owned());
    }

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

    if problems.is_empty() {
        Ok(NewUser {
            username,
            email,
            password,
        })
    } else {
        Err((problems, username, email))
    }
}

/// One `@` with text on both sides, and no spaces or control characters.
fn plausible_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Hash the password and insert the user, in one session. Runs on a
/// blocking thread.
fn store(db: &Database, user: NewUser) -> Result<(), StoreError> {
    let hash = Argon2::default()
        .hash_password(user.password.as_bytes())
        .map_err(|e| StoreError::Internal(format!("hashing the password: {e}")))?
        .to_string();
    let session = db.session();
    session
        .add(User {
            id: 0,
            username: user.username,
            user_email: user.email,
            user_password: hash,
        })
        .map_err(classify)?;
    session.commit().map_err(classify)
}

/// Sort an `orm` error into what the client is told.
fn classify(error: orm::Error) -> StoreError {
    match error {
        orm::Error::Constraint {
            kind: ConstraintKind::Unique,
            columns,
            ..
        } => StoreError::Taken(columns.into_iter().next()),
        orm::Error::Busy { .. } => StoreError::Busy,
        // orm's messages never contain bound values, so no password or hash.
        other => StoreError::Internal(other.to_string()),
    }
}

/// The message for a UNIQUE violation on `column`.
fn taken_message(column: Option<&str>) -> &'static str {
    match column {
        Some(c) if c == User::username.name() => {
            "This username is already taken. Please choose another."
        }
        Some(c) if c == User::user_email.name() => "This email address is already registered.",
        _ => "This username or email address is already registered.",
    }
}

fn internal_error() -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Html(page(
            "Error",
            "<p>Something went wrong on our side. Please try again later.</p>",
        )),
    )
        .into_response()
}

fn form_response(status: StatusCode, problems: &[String], username: &str, email: &str) -> Response {
    (status, Html(form_page(problems, username, email))).into_response()
}

/// The registration form, with `problems` above it and the fields filled
/// in again (the password never is).
fn form_page(problems: &[String], username: &str, email: &str) -> String {
    let mut body = String::new();
    if !problems.is_empty() {
        body.push_str("<ul class=\"errors\">\n");
        for p in problems {
            let _ = writeln!(body, "<li>{}</li>", escape(p));
        }
        body.push_str("</ul>\n");
    }
    let _ = write!(
        body,
        r#"<form method="post" action="/register">
<p><label>Username <input name="username" maxlength="{max}" required value="{username}"></label></p>
<p><label>Email <input name="email" type="email" maxlength="{max}" required value="{email}"></label></p>
<p><label>Password <input name="password" type="password" minlength="{min}" required></label></p>
<p><button type="submit">Register</button></p>
</form>
<p><a href="/users">Registered users</a></p>
"#,
        max = MAX_FIELD_CHARS,
        min = MIN_PASSWORD_CHARS,
        username = escape(username),
        email = escape(email),
    );
    page("Register", &body)
}

/// The tutorial's `{% for user in users %}<li>{{ user.username }}</li>`.
fn users_page(names: &[String]) -> String {
    let mut body = String::new();
    if names.is_empty() {
        body.push_str("<p>No users registered yet.</p>\n");
    } else {
        body.push_str("<ul>\n");
        for name in names {
            let _ = writeln!(body, "<li>{}</li>", escape(name));
        }
        body.push_str("</ul>\n");
    }
    body.push_str("<p><a href=\"/register\">Register</a></p>\n");
    page("Users", &body)
}

/// A whole HTML document around `body` (already escaped).
fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>{title}</title></head>\n<body>\n<h1>{title}</h1>\n{body}</body>\n</html>\n",
        title = escape(title),
    )
}

/// Escape text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
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
        match validate(f) {
            Ok(_) => Vec::new(),
            Err((p, _, _)) => p,
        }
    }

    #[test]
    fn valid_input_is_trimmed_except_the_password() {
        let Ok(u) = validate(form("  ann ", " ann@example.com\n", " secret pw ")) else {
            panic!("rejected")
        };
        assert_eq!(
            (u.username.as_str(), u.email.as_str(), u.password.as_str()),
            ("ann", "ann@example.com", " secret pw ")
        );
    }

    #[test]
    fn every_problem_is_reported() {
        assert_eq!(problems(form("", " ", "\t")).len(), 3);
        assert_eq!(problems(form("ann", "ann", "short")).len(), 2);
    }

    #[test]
    fn emails_need_one_at_with_text_on_both_sides() {
        for bad in ["ann", "@example.com", "ann@", "a@b@c", "a b@c", "a@b\u{7}"] {
            assert!(!plausible_email(bad), "{bad}");
        }
        for good in ["a@b", "o'brien@example.com", "ünï@例え.jp"] {
            assert!(plausible_email(good), "{good}");
        }
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
    fn escape_covers_markup_and_quotes() {
        assert_eq!(
            escape(r#"<script>alert("x" & 'y')</script>"#),
            "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;"
        );
    }

    #[test]
    fn taken_messages_name_the_field() {
        assert!(taken_message(Some("username")).contains("username"));
        assert!(taken_message(Some("user_email")).contains("email"));
        assert!(taken_message(None).contains("username or email"));
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
