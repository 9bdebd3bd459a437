//! SeaORM 2.0 (sqlx 0.9) on every workload, idiomatically, tuned in its
//! favour as in the performance notes: a pool of exactly one connection,
//! no per-acquire ping, no statement logging, a current-thread tokio
//! runtime, and each sample's whole timed loop inside one `block_on`.

use std::hint::black_box;
use std::str::FromStr;
use std::time::Instant;

use sea_orm::entity::prelude::*;
use sea_orm::{
    ActiveValue::Set, DatabaseConnection, IntoActiveModel, LoaderTrait, SqlxSqliteConnector,
    TransactionTrait,
};
use sqlx::ConnectOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use tokio::runtime::Runtime;

use crate::models::{Comment, Post, User};
use crate::raw::{self, Graph, Nested, Sample, sample};
use crate::sql;

pub mod user {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "users")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub name: String,
        pub hair_color: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(has_many = "super::post::Entity")]
        Post,
    }

    impl Related<super::post::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Post.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod post {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "posts")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub user_id: i64,
        pub title: String,
        pub body: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(
            belongs_to = "super::user::Entity",
            from = "Column::UserId",
            to = "super::user::Column::Id"
        )]
        User,
        #[sea_orm(has_many = "super::comment::Entity")]
        Comment,
    }

    impl Related<super::user::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::User.def()
        }
    }

    impl Related<super::comment::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Comment.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod comment {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "comments")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub post_id: i64,
        pub text: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(
            belongs_to = "super::post::Entity",
            from = "Column::PostId",
            to = "super::post::Column::Id"
        )]
        Post,
    }

    impl Related<super::post::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Post.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

fn to_user(m: &user::Model) -> User {
    User {
        id: m.id,
        name: m.name.clone(),
        hair_color: m.hair_color.clone(),
    }
}

fn to_post(m: &post::Model) -> Post {
    Post {
        id: m.id,
        user_id: m.user_id,
        title: m.title.clone(),
        body: m.body.clone(),
    }
}

fn to_comment(m: &comment::Model) -> Comment {
    Comment {
        id: m.id,
        post_id: m.post_id,
        text: m.text.clone(),
    }
}

/// A runtime and a one-connection in-memory database with the schema and
/// the seed rows.
fn db(seeds: &[(&'static str, usize)]) -> (Runtime, DatabaseConnection) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let db = rt.block_on(async {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")
            .expect("options")
            .foreign_keys(true)
            .disable_statement_logging();
        let pool = SqlitePoolOptions::new()
            .min_connections(1)
            .max_connections(1)
            .test_before_acquire(false)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .expect("open sqlx pool");
        sqlx::raw_sql(sql::SCHEMA)
            .execute(&pool)
            .await
            .expect("schema");
        for &(stmt, n) in seeds {
            sqlx::query(stmt)
                .bind(n as i64)
                .execute(&pool)
                .await
                .expect("seed");
        }
        SqlxSqliteConnector::from_sqlx_sqlite_pool(pool)
    });
    (rt, db)
}

fn clear(rt: &Runtime, db: &DatabaseConnection) {
    use sea_orm::ConnectionTrait;
    rt.block_on(db.execute_unprepared(sql::CLEAR))
        .expect("clear");
}

/// A sampler whose timed loop runs inside one `block_on`.
macro_rules! async_sample {
    ($rt:ident, |$i:ident| $body:expr) => {
        sample(move |iters| {
            $rt.block_on(async {
                let start = Instant::now();
                for $i in 0..iters {
                    let _ = $i;
                    black_box($body);
                }
                start.elapsed()
            })
        })
    };
}

/// `User::find().all`.
pub fn trivial_query(n: usize, expect: &[User]) -> Sample {
    let (rt, db) = db(&[(sql::SEED_USERS, n)]);
    async fn run(db: &DatabaseConnection) -> Vec<user::Model> {
        user::Entity::find().all(db).await.unwrap()
    }
    let got = rt.block_on(run(&db));
    assert_eq!(got.iter().map(to_user).collect::<Vec<_>>(), expect);
    async_sample!(rt, |_i| run(&db).await)
}

/// `User::find().find_also_related(Post).filter(HairColor.eq("black"))`.
pub fn medium_complex_query(n: usize, expect: &[(User, Option<Post>)]) -> Sample {
    let (rt, db) = db(&[(sql::SEED_USERS_COLORED, n)]);
    async fn run(db: &DatabaseConnection) -> Vec<(user::Model, Option<post::Model>)> {
        user::Entity::find()
            .find_also_related(post::Entity)
            .filter(user::Column::HairColor.eq("black"))
            .all(db)
            .await
            .unwrap()
    }
    let got = rt.block_on(run(&db));
    let got: Vec<(User, Option<Post>)> = got
        .iter()
        .map(|(u, p)| (to_user(u), p.as_ref().map(to_post)))
        .collect();
    assert_eq!(got, expect);
    async_sample!(rt, |_i| run(&db).await)
}

type SeaNested = Vec<(user::Model, Vec<(post::Model, Vec<comment::Model>)>)>;

/// Users, then `LoaderTrait::load_many` twice (posts of the users, then
/// comments of all those posts: IN queries, like the other systems),
/// regrouped into the nested structure without cloning.
pub fn loading_associations(expect: &Nested) -> Sample {
    let (rt, db) = db(&raw::systems::assoc_seeds());
    async fn run(db: &DatabaseConnection) -> SeaNested {
        let users = user::Entity::find().all(db).await.unwrap();
        let posts = users.load_many(post::Entity, db).await.unwrap();
        let counts: Vec<usize> = posts.iter().map(Vec::len).collect();
        let flat: Vec<post::Model> = posts.into_iter().flatten().collect();
        let comments = flat.load_many(comment::Entity, db).await.unwrap();
        let mut pairs = flat.into_iter().zip(comments);
        users
            .into_iter()
            .zip(counts)
            .map(|(u, k)| (u, pairs.by_ref().take(k).collect()))
            .collect()
    }
    let got = rt.block_on(run(&db));
    let got: Nested = got
        .iter()
        .map(|(u, ps)| {
            (
                to_user(u),
                ps.iter()
                    .map(|(p, cs)| (to_post(p), cs.iter().map(to_comment).collect()))
                    .collect(),
            )
        })
        .collect();
    assert_eq!(got, *expect);
    async_sample!(rt, |_i| run(&db).await)
}

/// `User::insert_many(active_models).exec_with_returning_keys`: one
/// multi-row `INSERT ... RETURNING id` (SeaORM's batch insert).
pub fn insert(n: usize, expect: &[User]) -> Sample {
    let (rt, db) = db(&[]);
    async fn run(db: &DatabaseConnection, n: usize) -> Vec<i64> {
        let models = (0..n).map(|i| user::ActiveModel {
            name: Set(format!("User {i}")),
            hair_color: Set(Some("hair_color".to_owned())),
            ..Default::default()
        });
        user::Entity::insert_many(models)
            .exec_with_returning_keys(db)
            .await
            .unwrap()
    }
    let ids = rt.block_on(run(&db, n));
    assert_eq!(ids, expect.iter().map(|u| u.id).collect::<Vec<_>>());
    sample(move |iters| {
        clear(&rt, &db);
        let db = &db;
        rt.block_on(async {
            let start = Instant::now();
            for _ in 0..iters {
                black_box(run(db, n).await);
            }
            start.elapsed()
        })
    })
}

/// `User::find_by_id(id).one`.
pub fn get_by_pk(expect: &User) -> Sample {
    let (rt, db) = db(&[(sql::SEED_USERS, sql::GET_TABLE_ROWS)]);
    async fn run(db: &DatabaseConnection, id: i64) -> user::Model {
        user::Entity::find_by_id(id).one(db).await.unwrap().unwrap()
    }
    let got = rt.block_on(run(&db, sql::key_at(3)));
    assert_eq!(to_user(&got), *expect);
    async_sample!(rt, |i| run(&db, sql::key_at(i)).await)
}

/// In a transaction, per loaded user: `into_active_model()`, set the
/// field, `update` (an `UPDATE ... RETURNING` of the row).
pub fn update(n: usize) -> Sample {
    let (rt, db) = db(&[(sql::SEED_USERS, n)]);
    let mut users = rt.block_on(user::Entity::find().all(&db)).unwrap();
    assert_eq!(users.len(), n);
    let mut round = 0u64;
    sample(move |iters| {
        let db = &db;
        let users = &mut users;
        let round = &mut round;
        rt.block_on(async move {
            let start = Instant::now();
            for _ in 0..iters {
                *round += 1;
                let color = raw::color(*round);
                let txn = db.begin().await.unwrap();
                for u in users.iter_mut() {
                    let mut am = u.clone().into_active_model();
                    am.hair_color = Set(Some(color.to_owned()));
                    *u = am.update(&txn).await.unwrap();
                }
                txn.commit().await.unwrap();
                black_box(&*users);
            }
            start.elapsed()
        })
    })
}

type SeaGraph = (user::Model, Vec<(post::Model, Vec<comment::Model>)>);

/// In a transaction: the user `insert` (RETURNING), its 10 posts with
/// `insert_many(..).exec_with_returning`, the 100 comments likewise: three
/// multi-row statements, against rusqlite's 111 single-row ones.
pub fn graph_insert(expect: &Graph) -> Sample {
    let (rt, db) = db(&[]);
    async fn run(db: &DatabaseConnection) -> SeaGraph {
        let (n_posts, n_comments) = sql::GRAPH;
        let txn = db.begin().await.unwrap();
        let user = user::ActiveModel {
            name: Set("User 0".to_owned()),
            hair_color: Set(Some("black".to_owned())),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .unwrap();
        let posts = post::Entity::insert_many((0..n_posts).map(|j| post::ActiveModel {
            user_id: Set(user.id),
            title: Set(format!("Post {j}")),
            body: Set(None),
            ..Default::default()
        }))
        .exec_with_returning(&txn)
        .await
        .unwrap();
        let comments = comment::Entity::insert_many(posts.iter().flat_map(|p| {
            (0..n_comments).map(move |k| comment::ActiveModel {
                post_id: Set(p.id),
                text: Set(format!("Comment {k}")),
                ..Default::default()
            })
        }))
        .exec_with_returning(&txn)
        .await
        .unwrap();
        txn.commit().await.unwrap();
        let mut comments = comments.into_iter();
        let nested = posts
            .into_iter()
            .map(|p| (p, comments.by_ref().take(n_comments).collect()))
            .collect();
        (user, nested)
    }
    let (u, ps) = rt.block_on(run(&db));
    let got: Graph = (
        to_user(&u),
        ps.iter()
            .map(|(p, cs)| (to_post(p), cs.iter().map(to_comment).collect()))
            .collect(),
    );
    assert_eq!(got, *expect);
    sample(move |iters| {
        clear(&rt, &db);
        let db = &db;
        rt.block_on(async {
            let start = Instant::now();
            for _ in 0..iters {
                black_box(run(db).await);
            }
            start.elapsed()
        })
    })
}
