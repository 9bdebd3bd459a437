//! Start the app in-process on an ephemeral port with a temporary database,
//! and talk to it over real HTTP.

#![allow(dead_code)] // each test binary uses a different part

use orm::prelude::*;
use registration::User;

/// A running app, its database file and an HTTP client.
pub struct Server {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// The `sqlite:///` URL of the app's database.
    pub url: String,
    pub client: reqwest::Client,
    _dir: tempfile::TempDir,
}

/// Start the app with a fresh database.
pub async fn start() -> Server {
    start_with(registration::open).await
}

/// Start the app on the database `open` makes from a temporary file URL.
pub async fn start_with(open: impl FnOnce(&str) -> orm::Result<Database>) -> Server {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite:///{}", dir.path().join("registration.db").display());
    let db = open(&url).expect("open the database");
    db.create_all().expect("create_all");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind an ephemeral port");
    let addr = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        axum::serve(listener, registration::app(db))
            .await
            .expect("serve");
    });
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("HTTP client");
    Server {
        base: format!("http://{addr}"),
        url,
        client,
        _dir: dir,
    }
}

impl Server {
    /// `GET path`: status and body.
    pub async fn get(&self, path: &str) -> (u16, String) {
        let resp = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("GET");
        let status = resp.status().as_u16();
        (status, resp.text().await.expect("body"))
    }

    /// `POST /register` with the three fields: status and body.
    pub async fn register(&self, username: &str, email: &str, password: &str) -> (u16, String) {
        self.post_form(&[
            ("username", username),
            ("email", email),
            ("password", password),
        ])
        .await
    }

    /// `POST /register` with any form fields: status and body.
    pub async fn post_form(&self, fields: &[(&str, &str)]) -> (u16, String) {
        let resp = self
            .client
            .post(format!("{}/register", self.base))
            .form(fields)
            .send()
            .await
            .expect("POST");
        let status = resp.status().as_u16();
        (status, resp.text().await.expect("body"))
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
