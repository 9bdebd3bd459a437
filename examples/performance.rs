//! The patterns `docs/performance.md` recommends, each timed beside the
//! one it replaces, on 100 users with 3 posts each: plain values against
//! tracked objects for a read-only list, a page, eager against lazy
//! loading of a collection, an index on the foreign key a join or a load
//! goes through, and one commit against a commit per row on a database
//! file.
//!
//! ```sh
//! taskset -c 1 cargo run --release --example performance
//! cargo run --example performance -- 10        # a tenth of the iterations
//! ```
//!
//! Times are the mean over many iterations after a warm-up; they are
//! illustrations on this machine, not benchmarks (`BENCHMARKS.md` has those).

use std::time::Instant;

use orm::prelude::*;
use orm::relation::selectin;

#[derive(Model, Debug, Default, Clone)]
#[orm(table = "users", has_many(posts = Post, backref = "user"))]
struct User {
    #[orm(primary_key)]
    id: i64,
    name: String,
}

#[derive(Model, Debug, Default, Clone)]
#[orm(table = "posts")]
struct Post {
    #[orm(primary_key)]
    id: i64,
    #[orm(foreign_key = User::id)]
    user_id: i64,
    title: String,
}

/// Print the mean time of `f` over `n` runs (after `n / 10` unmeasured).
fn time(name: &str, n: usize, mut f: impl FnMut() -> orm::Result<()>) -> orm::Result<()> {
    for _ in 0..(n / 10).max(1) {
        f()?;
    }
    let start = Instant::now();
    for _ in 0..n {
        f()?;
    }
    let micros = start.elapsed().as_secs_f64() * 1e6 / n as f64;
    println!("{micros:>10.1} µs  {name}");
    Ok(())
}

fn open(url: &str) -> orm::Result<Database> {
    let db = Database::builder()
        .model::<User>()
        .model::<Post>()
        .open(url)?;
    db.create_all()?;
    Ok(db)
}

fn seed(db: &Database) -> orm::Result<()> {
    let s = db.session();
    for i in 0..100 {
        let user = s.add(User {
            name: format!("user {i}"),
            ..Default::default()
        })?;
        for j in 0..3 {
            let post = Obj::new(Post {
                title: format!("post {j}"),
                ..Default::default()
            });
            user.append(User::posts, &post)?;
        }
    }
    s.commit()
}

fn main() -> orm::Result<()> {
    let divisor: usize = match std::env::args().nth(1) {
        Some(arg) => arg.parse().map_err(|_| {
            orm::Error::Usage(format!("expected a divisor of the iterations, got {arg:?}"))
        })?,
        None => 1,
    };
    let n = |full: usize| (full / divisor.max(1)).max(1);

    let db = open("sqlite://")?;
    seed(&db)?;

    println!("A read-only list of 100 users:");
    time("tracked objects, all()", n(2000), || {
        db.session().query::<User>().all().map(drop)
    })?;
    time("plain values, all_detached()", n(2000), || {
        db.session().query::<User>().all_detached().map(drop)
    })?;

    println!("A page of 10 users:");
    let mut page = 0;
    time(
        "order_by(User::id).paginate(page, 10), pages 1 to 5",
        n(5000),
        || {
            page = page % 5 + 1;
            let s = db.session();
            s.query::<User>()
                .order_by(User::id)
                .paginate(page, 10)
                .map(drop)
        },
    )?;

    println!("100 users and each one's posts:");
    time("lazy: one query per user (101 queries)", n(200), || {
        let s = db.session();
        for user in s.query::<User>().all()? {
            user.related(User::posts)?;
        }
        Ok(())
    })?;
    time("eager: selectin(User::posts) (2 queries)", n(200), || {
        let s = db.session();
        for user in s.query::<User>().load(selectin(User::posts)).all()? {
            user.related(User::posts)?;
        }
        Ok(())
    })?;

    println!("Through posts.user_id, before and after indexing it:");
    let join = || {
        let s = db.session();
        s.query::<User>()
            .join(User::posts)
            .filter(Post::title.eq("post 1"))
            .filter(User::name.eq("user 5"))
            .all()
            .map(drop)
    };
    let one_users_posts = || {
        let s = db.session();
        match s.get::<User>(5)? {
            Some(user) => user.related(User::posts).map(drop),
            None => Err(orm::Error::Usage("user 5 was seeded".into())),
        }
    };
    time("join, not indexed", n(2000), join)?;
    time("one user's posts, not indexed", n(2000), one_users_posts)?;
    let s = db.session();
    s.execute("CREATE INDEX ix_posts_user_id ON posts (user_id)", &[])?;
    s.commit()?;
    drop(s);
    time("join, indexed", n(2000), join)?;
    time("one user's posts, indexed", n(2000), one_users_posts)?;

    println!("100 new users on a database file:");
    let dir = tempfile::tempdir().map_err(|e| orm::Error::Usage(e.to_string()))?;
    let file = open(&format!(
        "sqlite:///{}",
        dir.path().join("performance.db").display()
    ))?;
    let mut k = 0;
    let mut new_user = || {
        k += 1;
        User {
            name: format!("new {k}"),
            ..Default::default()
        }
    };
    time("one commit for all", n(20), || {
        let s = file.session();
        for _ in 0..100 {
            s.add(new_user())?;
        }
        s.commit()
    })?;
    time("a commit after each", n(5), || {
        let s = file.session();
        for _ in 0..100 {
            s.add(new_user())?;
            s.commit()?;
        }
        Ok(())
    })?;
    Ok(())
}
