//! Start the app in-process on an ephemeral port with a temporary database,
//! and talk to it over real HTTP as a browser would: cookies kept, the
//! form's CSRF token sent back, redirects not followed (tests look at them).

#![allow(dead_code)] // each test binary uses a different part

use orm::prelude::*;
use registration::User;

/// A running app, its database file and an HTTP client.
pub struct Server {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// The `sqlite:///` URL of the app's database.
    pub url: String,
    /// Keeps cookies (the CSRF cookie, the flash), follows no redirect.
    pub client: reqwest::Client,
    _dir: tempfile::TempDir,
}

/// A response: status, the `Location` header (or ""), the body.
pub struct Reply {
    pub status: u16,
    pub location: String,
    pub body: String,
}

/// Start the app with a fresh database.
pub async fn start() -> Server {
    start_with(registration::open).await
}

/// Start the app on the database `open` makes from a temporary file URL.
pub async fn start_with(open: impl FnOnce(&str) -> orm::Result<Database>) -> Server {
    let settings = web_kit::Settings {
        body_limit: registration::MAX_BODY_BYTES,
        ..Default::default()
    };
    start_full(open, settings).await
}

/// Start the app with `settings` (timeouts, limits) and a fresh database.
pub async fn start_with_settings(settings: web_kit::Settings) -> Server {
    start_full(registration::open, settings).await
}

async fn start_full(
    open: impl FnOnce(&str) -> orm::Result<Database>,
    settings: web_kit::Settings,
) -> Server {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite:///{}", dir.path().join("registration.db").display());
    let db = open(&url).expect("open the database");
    db.create_all().expect("create_all");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind an ephemeral port");
    let addr = listener.local_addr().expect("local address");
    let app = registration::app_with(db, &settings);
    tokio::spawn(async move {
        settings
            .serve(listener, app, std::future::pending())
            .await
            .expect("serve");
    });
    Server {
        base: format!("http://{addr}"),
        url,
        client: client(),
        _dir: dir,
    }
}

/// A client as a browser is one: its own cookies, no redirects followed.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("HTTP client")
}

async fn reply(resp: reqwest::Response) -> Reply {
    let status = resp.status().as_u16();
    let location = resp
        .headers()
        .get("location")
        .map(|v| v.to_str().expect("ASCII location").to_owned())
        .unwrap_or_default();
    Reply {
        status,
        location,
        body: resp.text().await.expect("body"),
    }
}

impl Server {
    /// `GET path` with this server's client: status and body.
    pub async fn get(&self, path: &str) -> (u16, String) {
        let r = self.get_with(&self.client, path).await;
        (r.status, r.body)
    }

    /// `GET path` with `client`.
    pub async fn get_with(&self, client: &reqwest::Client, path: &str) -> Reply {
        let resp = client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("GET");
        reply(resp).await
    }

    /// The form's CSRF token for `client`, read from `GET /register` (which
    /// also sets the cookie it is checked against).
    pub async fn token(&self, client: &reqwest::Client) -> String {
        let form = self.get_with(client, "/register").await;
        assert_eq!(form.status, 200, "{}", form.body);
        web_kit::csrf::token_in(&form.body).expect("a CSRF token in the form")
    }

    /// Fill in the form and send it, as a browser does: `GET /register`,
    /// then `POST /register` with the three fields and the token.
    pub async fn register(&self, username: &str, email: &str, password: &str) -> (u16, String) {
        let r = self
            .submit(&[
                ("username", username),
                ("email", email),
                ("password", password),
            ])
            .await;
        // A success is a redirect: give its target, the body is empty.
        if r.status == 303 {
            (r.status, r.location)
        } else {
            (r.status, r.body)
        }
    }

    /// `GET /register`, then `POST /register` with `fields` and the token.
    pub async fn submit(&self, fields: &[(&str, &str)]) -> Reply {
        let token = self.token(&self.client).await;
        let mut all = fields.to_vec();
        all.push(("csrf_token", &token));
        self.post_with(&self.client, &all, &[]).await
    }

    /// `POST /register` with exactly `fields` and extra `headers`, no token
    /// added.
    pub async fn post_with(
        &self,
        client: &reqwest::Client,
        fields: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = client.post(format!("{}/register", self.base)).form(fields);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        reply(req.send().await.expect("POST")).await
    }

    /// Every stored user, read directly from the database file as another
    /// program would, in insertion order.
    pub fn stored(&self) -> Vec<User> {
        let db = registration::open(&self.url).expect("open the database directly");
        db.session()
            .query::<User>()
            .order_by(User::id)
            .all_detached()
            .expect("read users")
    }
}
