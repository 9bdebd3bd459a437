//! Seed 000, "SQLAlchemy and Flask Integration", step by step in Rust:
//! define `User`, create the table, add john, query all, get id 1, rename,
//! delete.
//!
//! ```text
//! cargo run --example users                         # writes app.db here
//! cargo run --example users -- sqlite:////tmp/x.db  # any database URL
//! ```

use std::fmt;
use std::process::ExitCode;

use orm::prelude::*;

/// `class User(db.Model)`
#[derive(Model, Debug, Default)]
struct User {
    #[orm(primary_key)]
    id: i64,
    #[orm(max_length = 50, unique)]
    username: String,
    #[orm(max_length = 120, unique)]
    email: String,
}

/// `def __repr__(self): return f'<User {self.username}>'`
impl fmt::Display for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<User {}>", self.username)
    }
}

fn show(users: &[Obj<User>]) -> orm::Result<String> {
    let shown: Vec<String> = users
        .iter()
        .map(|u| u.read().map(|u| u.to_string()))
        .collect::<Result<_, _>>()?;
    Ok(format!("[{}]", shown.join(", ")))
}

fn run(url: &str) -> orm::Result<()> {
    // app.config['SQLALCHEMY_DATABASE_URI'] = url; db = SQLAlchemy(app)
    let db = Database::builder().model::<User>().open(url)?;
    println!("database: {url}");

    // db.create_all()
    db.create_all()?;
    println!("1. create_all: table `{}` is ready", User::table().name);

    // new_user = User(username='john', email='john@example.com')
    // db.session.add(new_user); db.session.commit()
    let session = db.session();
    let new_user = session.add(User {
        username: "john".into(),
        email: "john@example.com".into(),
        ..Default::default()
    })?;
    session.commit()?;
    println!(
        "2. add + commit: {} got id {}",
        new_user.read()?,
        new_user.read()?.id
    );

    // users = User.query.all()
    let users = User::query(&session).all()?;
    println!("3. User.query.all(): {}", show(&users)?);

    // user = User.query.get(1)
    let id = new_user.read()?.id;
    let user = User::query(&session).get_or_not_found(id)?;
    println!("4. User.query.get({id}): {}", user.read()?);

    // user.username = 'new_username'; db.session.commit()
    user.write()?.username = "new_username".into();
    session.commit()?;
    let check = db.session().get_or_not_found::<User>(id)?;
    println!(
        "5. rename + commit: {} (read back by a new session)",
        check.read()?
    );

    // db.session.delete(user); db.session.commit()
    session.delete(&user)?;
    session.commit()?;
    let left = User::query(&db.session()).count()?;
    println!("6. delete + commit: {left} users left");
    Ok(())
}

fn main() -> ExitCode {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "sqlite:///app.db".to_owned());
    match run(&url) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
