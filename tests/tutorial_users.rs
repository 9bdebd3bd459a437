//! Seed 000 (SQLAlchemy and Flask integration), step by step: define User,
//! create the table, add john, query all, get(1), rename, delete.

mod common;

use common::users::User;
use orm::prelude::*;

#[test]
fn the_users_tutorial_runs_end_to_end() {
    let (_dir, url) = common::temp_db("app.db");
    // app.config['SQLALCHEMY_DATABASE_URI'] = 'sqlite:///app.db'; db = SQLAlchemy(app)
    let db = Database::builder().model::<User>().open(&url).unwrap();
    // db.create_all()
    db.create_all().unwrap();
    let session = db.session();

    // new_user = User(username='john', email='john@example.com')
    // db.session.add(new_user); db.session.commit()
    let new_user = session
        .add(User {
            username: "john".into(),
            email: "john@example.com".into(),
            ..Default::default()
        })
        .unwrap();
    session.commit().unwrap();
    assert_eq!(new_user.read().unwrap().id, 1);

    // users = User.query.all()
    let users = User::query(&session).all().unwrap();
    assert_eq!(users.len(), 1);
    assert!(users[0] == new_user);
    assert_eq!(users[0].read().unwrap().username, "john");

    // user = User.query.get(1); user.username = 'new_username'; db.session.commit()
    let user = User::query(&session).get(1).unwrap().unwrap();
    user.write().unwrap().username = "new_username".into();
    session.commit().unwrap();
    let fresh = db.session();
    let reloaded = fresh.get::<User>(1).unwrap().unwrap();
    assert_eq!(reloaded.read().unwrap().username, "new_username");
    assert_eq!(reloaded.read().unwrap().email, "john@example.com");

    // user = User.query.get(1); db.session.delete(user); db.session.commit()
    let user = User::query(&session).get(1).unwrap().unwrap();
    session.delete(&user).unwrap();
    session.commit().unwrap();
    assert!(db.session().query::<User>().all().unwrap().is_empty());
    assert_eq!(user.state(), ObjState::Detached);

    // The file is an ordinary SQLite database any tool can read.
    drop((session, fresh, db));
    let conn = rusqlite::Connection::open(common::path_of(&url)).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM user", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0);
}
