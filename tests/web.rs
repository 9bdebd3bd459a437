//! orm in an async web app (features `axum`, `serde`): `Database::run`
//! moves units of work off the runtime's workers, bounded by the pool;
//! errors become responses with the right status and no internals; the
//! `Paging` extractor; objects and pages serialize. Handlers are called
//! through axum's `Router` in-process. On every backend (see `common`).
#![cfg(all(feature = "axum", feature = "serde"))]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{Request, StatusCode};
use axum::routing::{get, post};
use orm::prelude::*;
use orm::web::{Paging, WebError};
use tower::ServiceExt;

#[derive(Model, Debug, Default, Clone, serde::Serialize)]
pub struct Note {
    #[orm(primary_key)]
    pub id: i64,
    #[orm(max_length = 40, unique)]
    pub title: String,
}

fn db_with(n: usize) -> Database {
    let db = common::open(Database::builder().model::<Note>().pool_size(2));
    db.create_all().unwrap();
    let s = db.session();
    for i in 1..=n {
        s.add(Note {
            title: format!("note {i}"),
            ..Default::default()
        })
        .unwrap();
    }
    s.commit().unwrap();
    db
}

async fn show(State(db): State<Database>, Path(id): Path<i64>) -> Result<String, WebError> {
    db.run(move |s| Ok(s.get_or_not_found::<Note>(id)?.get(Note::title)?))
        .await
}

async fn create(State(db): State<Database>, Path(title): Path<String>) -> orm::Result<String> {
    db.run(move |s| {
        let n = s.add(Note {
            title,
            ..Default::default()
        })?;
        s.commit()?;
        Ok(n.get(Note::id)?.to_string())
    })
    .await
}

async fn broken(State(db): State<Database>) -> Result<String, WebError> {
    db.run(|_| -> Result<String, WebError> {
        Err(std::io::Error::other(
            "secret template path /srv/app/t.html",
        ))?
    })
    .await
}

async fn list(State(db): State<Database>, paging: Paging) -> Result<String, WebError> {
    db.run(move |s| {
        let page = s
            .query::<Note>()
            .order_by(Note::id)
            .paginate(paging.page, paging.per_page(2))?
            .detached()?;
        Ok(serde_json::to_string(&page)?)
    })
    .await
}

fn app(db: Database) -> Router {
    Router::new()
        .route("/notes", get(list))
        .route("/notes/{id}", get(show))
        .route("/new/{title}", post(create))
        .route("/broken", get(broken))
        .with_state(db)
}

async fn call(app: &Router, method: &str, uri: &str) -> (StatusCode, String) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

/// Synchronous code (opening, seeding) runs before the runtime starts: on
/// PostgreSQL the driver refuses to block a thread that runs async tasks.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

#[test]
fn orm_errors_become_statuses_without_internals() {
    let app = app(db_with(3));
    block_on(async move {
        assert_eq!(
            call(&app, "GET", "/notes/2").await,
            (StatusCode::OK, "note 2".into())
        );
        assert_eq!(
            call(&app, "GET", "/notes/99").await,
            (StatusCode::NOT_FOUND, "Not Found".into())
        );
        assert_eq!(call(&app, "POST", "/new/fresh").await.0, StatusCode::OK);
        assert_eq!(
            call(&app, "POST", "/new/fresh").await,
            (StatusCode::CONFLICT, "Conflict".into()),
            "a duplicate of a unique column"
        );
        let (status, body) = call(&app, "GET", "/broken").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            body, "Internal Server Error",
            "the cause is logged, not sent"
        );
    });
}

#[test]
fn paging_reads_the_query_string_and_pages_serialize() {
    let app = app(db_with(5));
    block_on(async move {
        let (status, body) = call(&app, "GET", "/notes?page=2").await;
        assert_eq!(status, StatusCode::OK);
        let page: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(page["page"], 2);
        assert_eq!(page["pages"], 3);
        assert_eq!(page["items"][0]["title"], "note 3");
        assert_eq!(page["prev_num"], 1);
        let (_, body) = call(&app, "GET", "/notes?page=1&per_page=5").await;
        let page: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(page["items"].as_array().unwrap().len(), 5);
        assert_eq!(
            call(&app, "GET", "/notes?page=two").await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            call(&app, "GET", "/notes?page=9").await.0,
            StatusCode::NOT_FOUND,
            "past the last page"
        );
    });
}

/// More units of work than connections: they queue for a slot without
/// holding a blocking thread, so none waits for a connection (the pool's
/// acquire timeout is shorter than the queue).
#[test]
fn run_is_bounded_by_the_pool_and_no_unit_waits_for_a_connection() {
    let db = common::open(
        Database::builder()
            .model::<Note>()
            .pool_size(2)
            .acquire_timeout(Duration::from_millis(100)),
    );
    db.create_all().unwrap();
    block_on(async move {
        static RUNNING: AtomicUsize = AtomicUsize::new(0);
        static MOST: AtomicUsize = AtomicUsize::new(0);
        let mut tasks = Vec::new();
        for i in 0..12 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                db.run(move |s| {
                    let now = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
                    MOST.fetch_max(now, Ordering::SeqCst);
                    s.add(Note {
                        title: format!("t{i}"),
                        ..Default::default()
                    })?;
                    s.commit()?;
                    std::thread::sleep(Duration::from_millis(60));
                    RUNNING.fetch_sub(1, Ordering::SeqCst);
                    Ok::<_, orm::Error>(())
                })
                .await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert!(
            MOST.load(Ordering::SeqCst) <= 2,
            "{}",
            MOST.load(Ordering::SeqCst)
        );
        assert_eq!(
            db.run(|s| s.query::<Note>().count()).await.unwrap(),
            12,
            "every unit ran; none timed out waiting for a connection"
        );
    });
}

#[test]
fn a_panic_in_a_unit_of_work_reaches_its_caller() {
    let db = db_with(0);
    block_on(async move {
        let task = tokio::spawn(async move {
            db.run(|_| -> orm::Result<()> { panic!("a bug in the handler") })
                .await
        });
        assert!(task.await.unwrap_err().is_panic());
    });
}

/// Calling orm straight from async code blocks a worker on SQLite; on
/// PostgreSQL the driver cannot run there at all, and says so as a typed
/// error instead of a panic. Dropping the database there is safe.
#[test]
fn postgres_called_from_async_code_is_a_typed_error() {
    if common::require_postgres("postgres_called_from_async_code").is_none() {
        return;
    }
    let db = db_with(1);
    block_on(async move {
        let s = db.session();
        let err = s.query::<Note>().count().unwrap_err();
        assert!(
            matches!(&err, orm::Error::Usage(m) if m.contains("Database::run")),
            "{err:?}"
        );
        drop(s);
        assert_eq!(db.run(|s| s.query::<Note>().count()).await.unwrap(), 1);
        drop(db);
    });
}

#[test]
fn run_outside_a_runtime_is_a_typed_error() {
    let db = db_with(0);
    let mut unit = std::pin::pin!(db.run(|s| s.query::<Note>().count()));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match unit.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(Err(orm::Error::Usage(m))) => {
            assert!(m.contains("tokio runtime"), "{m}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn objects_serialize_as_their_models() {
    let db = db_with(1);
    let note = db.session().get_or_not_found::<Note>(1).unwrap();
    assert_eq!(
        serde_json::to_value(&note).unwrap(),
        serde_json::json!({"id": 1, "title": "note 1"})
    );
    let guard = note.write().unwrap();
    assert!(
        serde_json::to_string(&note).is_err(),
        "a borrow conflict is a serialization error, not a panic"
    );
    drop(guard);
}

#[derive(Model, Debug, Default)]
#[orm(has_many(items = Item, backref = "list"))]
pub struct List {
    pub id: i64,
    pub name: String,
    pub done: bool,
}

#[derive(Model, Debug, Default)]
pub struct Item {
    pub id: i64,
    #[orm(foreign_key = List::id)]
    pub list_id: i64,
    pub text: String,
}

/// Loaded relationships serialize one level deep (a template's
/// `item.list.name`), never recurring through the backref, and nothing is
/// loaded by serializing.
#[test]
fn objects_serialize_their_loaded_relationships_one_level_deep() {
    let db = common::fresh::<Item>();
    let s = db.session();
    let list = s.add(orm::obj!(List { name: "chores" })).unwrap();
    list.assign(
        List::items,
        [orm::obj!(Item { text: "a" }), orm::obj!(Item { text: "b" })],
    )
    .unwrap();
    s.commit().unwrap();
    assert_eq!(
        serde_json::to_value(&list).unwrap(),
        serde_json::json!({"id": 1, "name": "chores", "done": false, "items": [
            {"id": 1, "list_id": 1, "text": "a"},
            {"id": 2, "list_id": 1, "text": "b"},
        ]})
    );

    let s = db.session();
    let rec = db.record();
    let item = s.get_or_not_found::<Item>(2).unwrap();
    assert_eq!(
        serde_json::to_value(&item).unwrap(),
        serde_json::json!({"id": 2, "list_id": 1, "text": "b"}),
        "not loaded: not there"
    );
    assert_eq!(rec.queries().len(), 1, "serializing loaded nothing");
    item.related(Item::list).unwrap();
    assert_eq!(
        serde_json::to_value(&item).unwrap()["list"],
        serde_json::json!({"id": 1, "name": "chores", "done": false})
    );
}
