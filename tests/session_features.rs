//! Session features SQLAlchemy users reach for: savepoints
//! (`begin_nested`), version counters (optimistic concurrency),
//! `expire_on_commit`, `post_update` for rows that reference each other,
//! model hooks, session hooks and field validators. Each through the public
//! API, on the backend under test, with the exact statements where the
//! statements are the point.

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use orm::prelude::*;
use orm::types::Value;

mod m {
    use orm::prelude::*;

    #[derive(Model, Debug, Default, Clone, PartialEq)]
    #[orm(has_many(pets = Pet, backref = "owner"))]
    pub struct Owner {
        #[orm(primary_key)]
        pub id: i64,
        #[orm(unique)]
        pub name: String,
    }

    #[derive(Model, Debug, Default, Clone, PartialEq)]
    pub struct Pet {
        #[orm(primary_key)]
        pub id: i64,
        pub name: String,
        #[orm(foreign_key = Owner::id)]
        pub owner_id: Option<i64>,
    }

    /// A model with a version counter.
    #[derive(Model, Debug, Default, Clone, PartialEq)]
    pub struct Doc {
        #[orm(primary_key)]
        pub id: i64,
        pub body: String,
        #[orm(version)]
        pub version: i64,
    }

    /// SQLAlchemy's post_update example: a person's favorite ball is one
    /// of the balls that point at the person.
    #[derive(Model, Debug, Default, Clone, PartialEq)]
    #[orm(has_many(balls = Ball, backref = "person"))]
    #[orm(belongs_to(favorite_ball = Ball, foreign_key = favorite_ball_id, post_update))]
    pub struct Person {
        #[orm(primary_key)]
        pub id: i64,
        pub name: String,
        #[orm(foreign_key = Ball::id)]
        pub favorite_ball_id: Option<i64>,
    }

    #[derive(Model, Debug, Default, Clone, PartialEq)]
    pub struct Ball {
        #[orm(primary_key)]
        pub id: i64,
        pub color: String,
        #[orm(foreign_key = Person::id)]
        pub person_id: Option<i64>,
    }

    /// The same pair without `post_update`.
    #[derive(Model, Debug, Default, Clone, PartialEq)]
    #[orm(has_many(sides = Side, backref = "holder"))]
    #[orm(belongs_to(best = Side, foreign_key = best_id))]
    pub struct Holder {
        #[orm(primary_key)]
        pub id: i64,
        #[orm(foreign_key = Side::id)]
        pub best_id: Option<i64>,
    }

    #[derive(Model, Debug, Default, Clone, PartialEq)]
    pub struct Side {
        #[orm(primary_key)]
        pub id: i64,
        #[orm(foreign_key = Holder::id)]
        pub holder_id: Option<i64>,
    }

    pub fn email(value: &String) -> Result<(), String> {
        if value.contains('@') {
            Ok(())
        } else {
            Err(format!("`{value}` has no @"))
        }
    }

    pub fn not_negative(value: &i64) -> Result<(), &'static str> {
        if *value >= 0 {
            Ok(())
        } else {
            Err("must not be negative")
        }
    }

    /// Field validators.
    #[derive(Model, Debug, Default, Clone, PartialEq)]
    pub struct Account {
        #[orm(primary_key)]
        pub id: i64,
        #[orm(validate = email)]
        pub email: String,
        #[orm(validate = not_negative)]
        pub balance: i64,
    }

    thread_local! {
        /// What the hooks saw, in order.
        pub static SEEN: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
        /// Set to make a hook refuse.
        pub static REFUSE: std::cell::Cell<Option<&'static str>> = const { std::cell::Cell::new(None) };
        /// A session a hook calls back into.
        pub static SESSION: std::cell::RefCell<Option<std::rc::Rc<Session>>> = const { std::cell::RefCell::new(None) };
    }

    pub fn seen(event: String) {
        SEEN.with(|s| s.borrow_mut().push(event));
    }

    fn refuse(event: &'static str) -> orm::Result<()> {
        if REFUSE.with(|r| r.get()) == Some(event) {
            return Err(orm::Error::Usage(format!("{event} refused")));
        }
        // A hook calling back into the session gets a typed error.
        if let Some(s) = SESSION.with(|s| s.borrow().clone()) {
            let r = s.query::<Post>().count();
            seen(format!(
                "{event} query: {}",
                r.map_or_else(|e| e.to_string(), |n| n.to_string())
            ));
        }
        Ok(())
    }

    /// A model with hooks whose row may change through a relationship only.
    #[derive(Model, Debug, Default, Clone, PartialEq)]
    #[orm(hooks)]
    #[orm(belongs_to(owner = Owner, backref = "notes"))]
    pub struct Note {
        #[orm(primary_key)]
        pub id: i64,
        pub touched: i64,
        #[orm(foreign_key = Owner::id)]
        pub owner_id: Option<i64>,
    }

    impl orm::Hooks for Note {
        fn before_update(&mut self) -> orm::Result<()> {
            self.touched += 1;
            Ok(())
        }
        fn after_update(&self) -> orm::Result<()> {
            refuse("note after_update")
        }
    }

    /// Model hooks.
    #[derive(Model, Debug, Default, Clone, PartialEq)]
    #[orm(hooks)]
    pub struct Post {
        #[orm(primary_key)]
        pub id: i64,
        pub title: String,
        pub slug: String,
        pub edits: i64,
    }

    impl orm::Hooks for Post {
        fn before_insert(&mut self) -> orm::Result<()> {
            seen(format!("before_insert {}", self.title));
            self.slug = self.title.to_lowercase().replace(' ', "-");
            refuse("before_insert")
        }
        fn after_insert(&self) -> orm::Result<()> {
            seen(format!("after_insert {} id {}", self.title, self.id));
            refuse("after_insert")
        }
        fn before_update(&mut self) -> orm::Result<()> {
            seen(format!("before_update {}", self.title));
            self.edits += 1;
            refuse("before_update")
        }
        fn after_update(&self) -> orm::Result<()> {
            seen(format!("after_update {} edits {}", self.title, self.edits));
            refuse("after_update")
        }
        fn before_delete(&self) -> orm::Result<()> {
            seen(format!("before_delete {}", self.title));
            refuse("before_delete")
        }
        fn after_delete(&self) -> orm::Result<()> {
            seen(format!("after_delete {}", self.title));
            refuse("after_delete")
        }
    }
}

use m::*;

fn sql(s: &str) -> String {
    common::sql(s)
}

/// An INSERT of a row whose key the database generates, as the backend
/// writes it (PostgreSQL reads the key back with RETURNING).
fn insert(sqlite: &str) -> String {
    if common::is_postgres() {
        format!("{} RETURNING \"id\"", sql(sqlite))
    } else {
        sqlite.to_owned()
    }
}

fn owners() -> Database {
    common::fresh::<Pet>()
}

fn owner(name: &str) -> Owner {
    Owner {
        name: name.into(),
        ..Default::default()
    }
}

fn pet(name: &str) -> Obj<Pet> {
    Obj::new(Pet {
        name: name.into(),
        ..Default::default()
    })
}

fn names(pets: &[Obj<Pet>]) -> Vec<String> {
    pets.iter()
        .map(|p| p.read().unwrap().name.clone())
        .collect()
}

/// Run raw SQL in a session of its own and commit it (another program).
fn exec(db: &Database, sql: &'static str) {
    let s = db.session();
    s.execute(sql, &[]).unwrap();
    s.commit().unwrap();
}

fn count<M: Model>(db: &Database) -> u64 {
    db.session().query::<M>().count().unwrap()
}

// ------------------------------------------------------------ savepoints

#[test]
fn a_savepoint_rollback_undoes_only_what_came_after_it() {
    let db = owners();
    let s = db.session();
    let rec = db.record();
    let ann = s.add(owner("ann")).unwrap();
    let mut sp = s.begin_nested().unwrap();
    let bob = s.add(owner("bob")).unwrap();
    s.flush().unwrap();
    assert_eq!(bob.read().unwrap().id, 2);
    sp.rollback().unwrap();
    s.commit().unwrap();
    assert_eq!(
        rec.sql(),
        [
            sql("BEGIN IMMEDIATE"),
            insert(r#"INSERT INTO "owner" ("name") VALUES (?)"#),
            sql("SAVEPOINT orm_sp_1"),
            sql("SAVEPOINT orm_flush"),
            insert(r#"INSERT INTO "owner" ("name") VALUES (?)"#),
            sql("RELEASE orm_flush"),
            sql("ROLLBACK TO orm_sp_1"),
            sql("RELEASE orm_sp_1"),
            sql("COMMIT"),
        ]
    );
    assert_eq!(ann.state(), ObjState::Persistent);
    assert_eq!(bob.state(), ObjState::Transient);
    assert_eq!(
        bob.read().unwrap().id,
        0,
        "the key generated inside is taken back"
    );
    assert_eq!(bob.identity(), None);
    let rows = db.session().query::<Owner>().all_detached().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].name, "ann");
    // bob can be added again.
    s.add(&bob).unwrap();
    s.commit().unwrap();
    assert_eq!(count::<Owner>(&db), 2);
}

#[test]
fn a_savepoint_rollback_restores_values_states_and_the_identity_map() {
    let db = owners();
    let s = db.session();
    let ann = s.add(owner("ann")).unwrap();
    let bob = s.add(owner("bob")).unwrap();
    let cy = s.add(owner("cy")).unwrap();
    s.commit().unwrap();

    let mut sp = s.begin_nested().unwrap();
    ann.write().unwrap().name = "anna".into(); // flushed below
    s.delete(&bob).unwrap(); // flushed below
    s.flush().unwrap();
    cy.write().unwrap().name = "cyrus".into(); // never flushed
    let dan = s.add(owner("dan")).unwrap(); // never flushed
    assert_eq!(bob.state(), ObjState::Deleted);
    assert!(s.get::<Owner>(2).unwrap().is_none());
    sp.rollback().unwrap();

    assert_eq!(ann.read().unwrap().name, "ann");
    assert_eq!(cy.read().unwrap().name, "cy", "unflushed changes reverted");
    assert_eq!(bob.state(), ObjState::Persistent);
    assert!(bob.is_expired(), "deleted inside: reloaded on access");
    assert_eq!(dan.state(), ObjState::Transient);
    // One object per row, as before.
    let rec = db.record();
    assert!(s.get::<Owner>(1).unwrap().unwrap() == ann);
    assert!(
        rec.is_empty(),
        "served by the identity map: {:?}",
        rec.sql()
    );
    assert!(s.get::<Owner>(2).unwrap().unwrap() == bob);
    assert_eq!(bob.read().unwrap().name, "bob");
    assert!(!s.has_changes());
    s.commit().unwrap();
    let rows = db
        .session()
        .query::<Owner>()
        .order_by(Owner::id)
        .all_detached()
        .unwrap();
    let got: Vec<_> = rows.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(got, ["ann", "bob", "cy"]);
}

#[test]
fn a_savepoint_rollback_restores_collections_and_assignments() {
    let db = owners();
    let s = db.session();
    let ann = s.add(owner("ann")).unwrap();
    let bob = s.add(owner("bob")).unwrap();
    ann.append(Owner::pets, &pet("rex")).unwrap();
    ann.append(Owner::pets, &pet("tom")).unwrap();
    s.commit().unwrap();
    let before = ann.related(Owner::pets).unwrap();
    assert_eq!(names(&before), ["rex", "tom"]);
    let (rex, tom) = (before[0].clone(), before[1].clone());
    assert!(bob.related(Owner::pets).unwrap().is_empty());

    let mut sp = s.begin_nested().unwrap();
    let new = pet("new");
    ann.append(Owner::pets, &new).unwrap();
    rex.set_related(Pet::owner, Some(&bob)).unwrap();
    ann.remove(Owner::pets, &tom).unwrap();
    s.flush().unwrap();
    assert_eq!(names(&ann.related(Owner::pets).unwrap()), ["new"]);
    assert_eq!(names(&bob.related(Owner::pets).unwrap()), ["rex"]);
    assert_eq!(rex.read().unwrap().owner_id, Some(2));
    sp.rollback().unwrap();

    let rec = db.record();
    assert_eq!(names(&ann.related(Owner::pets).unwrap()), ["rex", "tom"]);
    assert!(bob.related(Owner::pets).unwrap().is_empty());
    assert!(rex.related(Pet::owner).unwrap().unwrap() == ann);
    assert!(tom.related(Pet::owner).unwrap().unwrap() == ann);
    // Reloaded (the rollback expired every object: opening the savepoint
    // copied nothing), so read, never written.
    assert!(
        !rec.is_empty() && rec.sql().iter().all(|q| q.starts_with("SELECT")),
        "collections reloaded: {:?}",
        rec.sql()
    );
    assert_eq!(rex.read().unwrap().owner_id, Some(1));
    assert_eq!(tom.read().unwrap().owner_id, Some(1));
    assert_eq!(new.state(), ObjState::Transient);
    s.commit().unwrap();
    let pets = db
        .session()
        .query::<Pet>()
        .order_by(Pet::id)
        .all_detached()
        .unwrap();
    let got: Vec<_> = pets.iter().map(|p| (p.name.as_str(), p.owner_id)).collect();
    assert_eq!(got, [("rex", Some(1)), ("tom", Some(1))]);
}

#[test]
fn an_object_refreshed_inside_a_rolled_back_savepoint_reads_the_row_as_it_is_again() {
    let db = owners();
    let s = db.session();
    let ann = s.add(owner("ann")).unwrap();
    s.commit().unwrap();
    assert_eq!(ann.read().unwrap().name, "ann");

    // Loaded before the savepoint; inside it a statement the session did
    // not make changes the row, and a refresh reads the change.
    let mut sp = s.begin_nested().unwrap();
    s.execute("UPDATE owner SET name = 'changed'", &[]).unwrap();
    s.refresh(&ann).unwrap();
    assert_eq!(ann.read().unwrap().name, "changed");
    sp.rollback().unwrap();

    assert_eq!(ann.read().unwrap().name, "ann");
    s.commit().unwrap();
}

#[test]
fn a_collection_loaded_between_two_rolled_back_savepoints_loses_what_the_second_added() {
    let db = owners();
    let s = db.session();
    let ann = s.add(owner("ann")).unwrap();
    ann.append(Owner::pets, &pet("rex")).unwrap();
    s.commit().unwrap();
    for name in ["a", "b"] {
        // The first rollback expires `ann`; loading it again makes it one
        // the second rollback has to expire (it passes over objects still
        // expired).
        assert_eq!(names(&ann.related(Owner::pets).unwrap()), ["rex"]);
        let mut sp = s.begin_nested().unwrap();
        let p = pet(name);
        ann.append(Owner::pets, &p).unwrap();
        s.flush().unwrap();
        assert_eq!(names(&ann.related(Owner::pets).unwrap()), ["rex", name]);
        sp.rollback().unwrap();
        assert_eq!(p.state(), ObjState::Transient);
    }
    assert_eq!(names(&ann.related(Owner::pets).unwrap()), ["rex"]);
    s.commit().unwrap();
    assert_eq!(count::<Pet>(&db), 1);
}

#[test]
fn relationship_assignments_made_before_a_savepoint_survive_its_rollback_and_a_failed_commit() {
    let db = owners();
    let s = db.session();
    let ann = s.add(owner("ann")).unwrap();
    s.commit().unwrap();
    let rex = pet("rex");
    rex.set_related(Pet::owner, Some(&ann)).unwrap();
    s.add(&rex).unwrap();
    let mut sp = s.begin_nested().unwrap(); // flushes rex, with its key filled
    s.add(pet("tmp")).unwrap();
    sp.rollback().unwrap();
    assert_eq!(rex.read().unwrap().owner_id, Some(1));
    assert!(rex.related(Pet::owner).unwrap().unwrap() == ann);
    s.commit().unwrap();
    let got = db.session().query::<Pet>().all_detached().unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].owner_id, Some(1));
}

#[test]
fn savepoints_nest() {
    let db = owners();
    let s = db.session();
    let a = s.add(owner("a")).unwrap();
    let mut outer = s.begin_nested().unwrap();
    let b = s.add(owner("b")).unwrap();
    let mut inner = s.begin_nested().unwrap();
    let c = s.add(owner("c")).unwrap();
    inner.rollback().unwrap();
    assert_eq!(c.state(), ObjState::Transient);
    assert!(s.in_nested_transaction());
    outer.commit().unwrap();
    assert!(!s.in_nested_transaction());
    assert_eq!(b.state(), ObjState::Persistent);

    // Released inner work belongs to the outer savepoint: rolling that
    // back undoes both.
    let mut outer = s.begin_nested().unwrap();
    a.write().unwrap().name = "a2".into();
    let mut inner = s.begin_nested().unwrap();
    a.write().unwrap().name = "a3".into();
    let d = s.add(owner("d")).unwrap();
    inner.commit().unwrap();
    assert_eq!(a.read().unwrap().name, "a3");
    outer.rollback().unwrap();
    assert_eq!(a.read().unwrap().name, "a");
    assert_eq!(d.state(), ObjState::Transient);

    // Rolling back an outer savepoint ends the inner ones.
    let mut outer = s.begin_nested().unwrap();
    let mut inner = s.begin_nested().unwrap();
    s.add(owner("e")).unwrap();
    outer.rollback().unwrap();
    assert!(!inner.is_active());
    assert!(matches!(inner.commit(), Err(Error::Usage(_))));
    s.commit().unwrap();
    let rows = db
        .session()
        .query::<Owner>()
        .order_by(Owner::id)
        .all_detached()
        .unwrap();
    let got: Vec<_> = rows.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(got, ["a", "b"]);
}

#[test]
fn a_failed_flush_inside_a_savepoint_leaves_the_outer_transaction_usable() {
    let db = owners();
    let s = db.session();
    let ann = s.add(owner("ann")).unwrap();
    s.flush().unwrap();
    let mut sp = s.begin_nested().unwrap();
    let dup = s.add(owner("ann")).unwrap();
    let err = s.flush().unwrap_err();
    assert_eq!(err.constraint_kind(), Some(ConstraintKind::Unique));
    // The flush changed nothing; the savepoint is still open.
    assert_eq!(dup.state(), ObjState::Pending);
    assert!(sp.is_active());
    sp.rollback().unwrap();
    assert_eq!(dup.state(), ObjState::Transient);
    s.add(owner("bob")).unwrap();
    s.commit().unwrap();
    assert_eq!(ann.state(), ObjState::Persistent);
    assert_eq!(count::<Owner>(&db), 2);
}

#[test]
fn nested_releases_on_ok_and_rolls_back_on_err() {
    let db = owners();
    let s = db.session();
    let mut skipped = Vec::new();
    for name in ["ann", "bob", "ann", "cy", "bob"] {
        let r = s.nested(|s| {
            s.add(owner(name))?;
            s.flush()
        });
        if let Err(e) = r {
            assert_eq!(e.constraint_kind(), Some(ConstraintKind::Unique), "{e}");
            skipped.push(name);
        }
    }
    assert!(!s.in_nested_transaction());
    s.commit().unwrap();
    assert_eq!(skipped, ["ann", "bob"]);
    assert_eq!(count::<Owner>(&db), 3);

    // The closure's own error rolls back what it did.
    let r: orm::Result<()> = s.nested(|s| {
        s.add(owner("dan"))?;
        s.flush()?;
        Err(Error::Usage("changed my mind".into()))
    });
    assert!(matches!(r, Err(Error::Usage(m)) if m == "changed my mind"));
    s.commit().unwrap();
    assert_eq!(count::<Owner>(&db), 3);

    // Ending the savepoint inside the closure is a typed error.
    let r = s.nested(|s| s.commit());
    assert!(matches!(r, Err(Error::Usage(_))), "{r:?}");
}

#[test]
fn a_dropped_savepoint_rolls_back_and_a_session_commit_or_rollback_ends_it() {
    let db = owners();
    let s = db.session();
    {
        let _sp = s.begin_nested().unwrap();
        s.add(owner("dropped")).unwrap();
    }
    s.commit().unwrap();
    assert_eq!(count::<Owner>(&db), 0);

    let mut sp = s.begin_nested().unwrap();
    s.add(owner("kept")).unwrap();
    s.commit().unwrap(); // commits the savepoint's work with the rest
    assert!(!sp.is_active());
    assert!(matches!(sp.rollback(), Err(Error::Usage(_))));
    assert_eq!(count::<Owner>(&db), 1);

    let sp = s.begin_nested().unwrap();
    let gone = s.add(owner("gone")).unwrap();
    s.rollback().unwrap();
    assert!(!sp.is_active());
    drop(sp);
    assert_eq!(gone.state(), ObjState::Transient);
    assert_eq!(count::<Owner>(&db), 1);
}

#[test]
fn a_savepoint_rollback_with_a_borrowed_key_changes_nothing() {
    let db = owners();
    let s = db.session();
    let mut sp = s.begin_nested().unwrap();
    let ann = s.add(owner("ann")).unwrap();
    s.flush().unwrap();
    let guard = ann.read().unwrap();
    let r = sp.rollback();
    assert!(matches!(r, Err(Error::BorrowConflict { .. })), "{r:?}");
    drop(guard);
    assert_eq!(ann.state(), ObjState::Persistent);
    assert!(sp.is_active());
    sp.rollback().unwrap();
    assert_eq!(ann.state(), ObjState::Transient);
    s.commit().unwrap();
    assert_eq!(count::<Owner>(&db), 0);
}

#[test]
fn a_failed_statement_inside_a_savepoint_is_ended_by_its_rollback() {
    // On PostgreSQL a failed statement aborts the transaction until a
    // rollback; a rollback to the savepoint is enough.
    let db = owners();
    let s = db.session();
    s.add(owner("ann")).unwrap();
    s.flush().unwrap();
    let mut sp = s.begin_nested().unwrap();
    assert!(s.execute("UPDATE no_such_table SET x = 1", &[]).is_err());
    if common::is_postgres() {
        assert!(matches!(
            s.flush(),
            Ok(()) | Err(Error::NeedsRollback { .. })
        ));
        s.add(owner("bob")).unwrap();
        assert!(matches!(s.flush(), Err(Error::NeedsRollback { .. })));
    }
    sp.rollback().unwrap();
    s.add(owner("cy")).unwrap();
    s.commit().unwrap();
    let rows = db.session().query::<Owner>().all_detached().unwrap();
    let mut got: Vec<_> = rows.iter().map(|o| o.name.clone()).collect();
    got.sort();
    assert_eq!(got, ["ann", "cy"]);
}

#[test]
fn a_savepoint_opened_outside_a_transaction_opens_one() {
    let db = owners();
    let s = db.session();
    let rec = db.record();
    let mut sp = s.begin_nested().unwrap();
    assert!(s.in_transaction());
    sp.commit().unwrap();
    assert!(s.in_transaction());
    s.commit().unwrap();
    assert_eq!(
        rec.sql(),
        [
            sql("BEGIN IMMEDIATE"),
            sql("SAVEPOINT orm_sp_1"),
            sql("RELEASE orm_sp_1"),
            sql("COMMIT"),
        ]
    );
}

#[test]
fn objects_loaded_inside_a_rolled_back_savepoint_are_reloaded() {
    let db = owners();
    {
        let s = db.session();
        s.add(owner("ann")).unwrap();
        s.commit().unwrap();
    }
    let s = db.session();
    let mut sp = s.begin_nested().unwrap();
    s.execute("UPDATE owner SET name = 'changed'", &[]).unwrap();
    let ann = s.get::<Owner>(1).unwrap().unwrap();
    assert_eq!(ann.read().unwrap().name, "changed");
    sp.rollback().unwrap();
    assert!(ann.is_expired());
    assert_eq!(ann.read().unwrap().name, "ann");
    s.commit().unwrap();
}

/// Each way of loading an object, inside a savepoint whose work changed
/// its row: after the rollback the object reads the row as it is again,
/// whether the load brought it into the session or refreshed it there.
#[test]
fn objects_loaded_inside_a_rolled_back_savepoint_by_any_query_are_reloaded() {
    type Load = fn(&Session) -> Obj<Owner>;
    let loads: [(&str, Load); 6] = [
        ("get", |s| s.get::<Owner>(1).unwrap().unwrap()),
        ("all", |s| s.query::<Owner>().all().unwrap().remove(0)),
        ("first", |s| s.query::<Owner>().first().unwrap().unwrap()),
        ("iter", |s| {
            s.query::<Owner>().iter().unwrap().next().unwrap().unwrap()
        }),
        ("models", |s| {
            s.query::<Owner>()
                .outer_join(Owner::pets)
                .models::<(Owner, Option<Pet>)>()
                .all()
                .unwrap()
                .remove(0)
                .0
        }),
        ("populate_existing", |s| {
            s.query::<Owner>()
                .populate_existing()
                .all()
                .unwrap()
                .remove(0)
        }),
    ];
    for (how, load) in loads {
        // `before`: in the session since before the savepoint (expired,
        // or for populate_existing not), so the load refreshes it.
        for before in [false, true] {
            let db = owners();
            let s = db.session();
            let ann = s.add(owner("ann")).unwrap();
            s.commit().unwrap();
            if before {
                assert_eq!(ann.read().unwrap().name, "ann");
                if how != "populate_existing" {
                    s.expire(&ann).unwrap();
                }
            } else {
                s.expunge(&ann).unwrap();
            }
            let mut sp = s.begin_nested().unwrap();
            s.execute("UPDATE owner SET name = 'changed'", &[]).unwrap();
            let loaded = load(&s);
            assert_eq!(loaded.read().unwrap().name, "changed", "{how}, {before}");
            assert_eq!(loaded == ann, before, "{how}");
            sp.rollback().unwrap();
            assert!(loaded.is_expired(), "{how}, {before}");
            assert_eq!(loaded.read().unwrap().name, "ann", "{how}, {before}");
            s.commit().unwrap();
        }
    }
}

/// A rollback to a savepoint in which no relationship was loaded or
/// changed expires what the log names since it, not every object: the
/// others hold what the database holds again, and read it without a
/// query.
#[test]
fn a_savepoint_rollback_leaves_objects_it_did_not_touch_loaded() {
    let db = owners();
    let s = db.session();
    let ann = s.add(owner("ann")).unwrap();
    let bob = s.add(owner("bob")).unwrap();
    s.commit().unwrap();
    assert_eq!(ann.read().unwrap().name, "ann");
    assert_eq!(bob.read().unwrap().name, "bob");

    let mut sp = s.begin_nested().unwrap();
    bob.write().unwrap().name = "bobby".into();
    let cy = s.add(owner("cy")).unwrap();
    s.flush().unwrap();
    sp.rollback().unwrap();

    assert_eq!(cy.state(), ObjState::Transient);
    assert!(!ann.is_expired(), "not touched inside the savepoint");
    let rec = db.record();
    assert_eq!(ann.read().unwrap().name, "ann");
    assert!(rec.is_empty(), "read from memory: {:?}", rec.sql());
    assert_eq!(bob.read().unwrap().name, "bob", "its change undone");
    s.commit().unwrap();

    // A relationship loaded inside: its collection could hold what the
    // rollback undid, so every object is read again.
    let mut sp = s.begin_nested().unwrap();
    assert!(ann.related(Owner::pets).unwrap().is_empty());
    sp.rollback().unwrap();
    assert!(ann.is_expired());
    assert!(bob.is_expired());
    assert_eq!(bob.read().unwrap().name, "bob");
    s.commit().unwrap();
}

/// A graph built before a savepoint and added inside it (the new objects
/// are noted with their relationships): after the rollback, whether its
/// flush failed, succeeded or never ran, the session has nothing left to
/// write, and the objects, transient again, can join another session with
/// their relationships intact.
#[test]
fn a_graph_added_inside_a_rolled_back_savepoint_leaves_nothing_behind() {
    for flush in ["fails", "succeeds", "none"] {
        let db = owners();
        let s = db.session();
        s.add(owner("ann")).unwrap();
        s.commit().unwrap();
        let other = db.session();
        let ann2 = other.get::<Owner>(1).unwrap().unwrap();

        // A duplicate name makes the flush fail.
        let head = Obj::new(owner(if flush == "fails" { "ann" } else { "bob" }));
        let rex = pet("rex");
        head.append(Owner::pets, &rex).unwrap();
        let mut sp = s.begin_nested().unwrap();
        s.add(&head).unwrap();
        match flush {
            "fails" => assert!(s.flush().is_err()),
            "succeeds" => s.flush().unwrap(),
            _ => {}
        }
        sp.rollback().unwrap();
        assert_eq!(rex.state(), ObjState::Transient, "{flush}");
        assert!(!s.has_changes(), "{flush}: nothing to write");

        // rex joins the other session under its ann; this session's commit
        // must not touch it.
        rex.set_related(Pet::owner, Some(&ann2)).unwrap();
        assert_eq!(rex.state(), ObjState::Pending);
        s.commit().unwrap();
        other.commit().unwrap();
        let pets = db.session().query::<Pet>().all_detached().unwrap();
        assert_eq!(pets.len(), 1, "{flush}");
        assert_eq!(pets[0].owner_id, Some(1), "{flush}: rex keeps its owner");
    }
}

/// A stream inside a savepoint lets go of the objects it loaded, as one
/// outside does: the identity map does not keep them (a `get` reads the
/// row again).
#[test]
fn a_stream_inside_a_savepoint_lets_go_of_what_it_loaded() {
    let db = owners();
    let s = db.session();
    s.bulk_insert((0..20).map(|i| owner(&format!("o{i}"))))
        .unwrap();
    s.commit().unwrap();
    for nested in [false, true] {
        let s = db.session();
        s.begin().unwrap();
        let sp = nested.then(|| s.begin_nested().unwrap());
        let mut n = 0;
        for o in s.query::<Owner>().yield_per(2).iter().unwrap() {
            o.unwrap();
            n += 1;
        }
        assert_eq!(n, 20);
        let rec = db.record();
        s.get::<Owner>(1).unwrap().unwrap();
        assert!(
            !rec.is_empty(),
            "nested: {nested}: the stream's objects were kept"
        );
        drop(sp);
        s.rollback().unwrap();
    }
}

/// One object changed at two savepoint levels: each rollback takes back
/// only its own level's change, also after the outer level changed it
/// again.
#[test]
fn an_object_changed_at_two_savepoint_levels_goes_back_one_level_at_a_time() {
    let db = owners();
    let s = db.session();
    let ann = s.add(owner("ann")).unwrap();
    s.commit().unwrap();
    let name = || ann.read().unwrap().name.clone();
    let rename = |to: &str| ann.write().unwrap().name = to.into();

    let mut outer = s.begin_nested().unwrap();
    rename("outer");
    for (inner_name, outer_again) in [("inner", "outer 2"), ("inner 2", "outer 3")] {
        let mut inner = s.begin_nested().unwrap(); // flushes the outer change
        rename(inner_name);
        s.flush().unwrap();
        inner.rollback().unwrap();
        assert_ne!(name(), inner_name);
        rename(outer_again);
        s.flush().unwrap();
    }
    assert_eq!(name(), "outer 3");
    outer.rollback().unwrap();
    assert_eq!(name(), "ann");
    s.commit().unwrap();
    let row = db.session().query::<Owner>().all_detached().unwrap();
    assert_eq!(row[0].name, "ann");
}

// ------------------------------------------------------- version counters

fn docs() -> Database {
    common::fresh::<Doc>()
}

fn doc_row(db: &Database) -> (String, i64) {
    let d = db
        .session()
        .query::<Doc>()
        .all_detached()
        .unwrap()
        .remove(0);
    (d.body, d.version)
}

#[test]
fn a_version_counter_is_checked_and_bumped_by_every_update_and_delete() {
    let db = docs();
    let s = db.session();
    let rec = db.record();
    let d = s
        .add(Doc {
            body: "a".into(),
            ..Default::default()
        })
        .unwrap();
    s.commit().unwrap();
    assert_eq!(d.read().unwrap().version, 1);
    d.write().unwrap().body = "b".into();
    s.commit().unwrap();
    assert_eq!(d.read().unwrap().version, 2);
    s.delete(&d).unwrap();
    s.commit().unwrap();
    let statements = rec.without_transaction_control();
    let got: Vec<(String, Vec<Value>)> =
        statements.into_iter().map(|s| (s.sql, s.params)).collect();
    assert_eq!(
        got,
        [
            (
                insert(r#"INSERT INTO "doc" ("body", "version") VALUES (?, ?)"#),
                vec![Value::from("a"), Value::Integer(1)]
            ),
            (
                sql(
                    r#"UPDATE "doc" SET "body" = ?, "version" = ? WHERE "doc"."id" = ? AND "doc"."version" = ?"#
                ),
                vec![
                    Value::from("b"),
                    Value::Integer(2),
                    Value::Integer(1),
                    Value::Integer(1)
                ]
            ),
            (
                sql(r#"DELETE FROM "doc" WHERE "doc"."id" = ? AND "doc"."version" = ?"#),
                vec![Value::Integer(1), Value::Integer(2)]
            ),
        ]
    );
}

#[test]
fn two_sessions_changing_one_row_the_first_commit_wins_the_second_gets_stale_data() {
    let db = docs();
    db.transaction(|s| {
        s.add(Doc {
            body: "v1".into(),
            ..Default::default()
        })
        .map(drop)
    })
    .unwrap();
    let (a, b) = (db.session(), db.session());
    let da = a.get_or_not_found::<Doc>(1).unwrap();
    let dbb = b.get_or_not_found::<Doc>(1).unwrap();
    da.write().unwrap().body = "from a".into();
    a.commit().unwrap();

    // b also adds a row in the same flush: nothing of it may be written.
    dbb.write().unwrap().body = "from b".into();
    let extra = b
        .add(Doc {
            body: "extra".into(),
            ..Default::default()
        })
        .unwrap();
    let err = b.commit().unwrap_err();
    match &err {
        Error::StaleData { model, key } => {
            assert_eq!(*model, "Doc");
            assert_eq!(key.as_deref(), Some("1"));
        }
        other => panic!("expected StaleData, got {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "Doc row with key 1 was changed or deleted by someone else"
    );
    // b's objects are exactly as before its flush; the row is a's.
    assert_eq!(
        (
            dbb.read().unwrap().body.as_str(),
            dbb.read().unwrap().version
        ),
        ("from b", 1)
    );
    assert_eq!(extra.state(), ObjState::Pending);
    assert_eq!(extra.read().unwrap().version, 0);
    assert_eq!(count::<Doc>(&db), 1);
    assert_eq!(doc_row(&db), ("from a".into(), 2));
    // After a refresh b can decide again, and its write wins.
    b.rollback().unwrap();
    b.refresh(&dbb).unwrap();
    assert_eq!(dbb.read().unwrap().version, 2);
    dbb.write().unwrap().body = "from b, after reading a's".into();
    b.commit().unwrap();
    assert_eq!(doc_row(&db), ("from b, after reading a's".into(), 3));
}

#[test]
fn a_delete_of_a_row_changed_meanwhile_is_stale() {
    let db = docs();
    db.transaction(|s| s.add(Doc::default()).map(drop)).unwrap();
    let (a, b) = (db.session(), db.session());
    let da = a.get_or_not_found::<Doc>(1).unwrap();
    let dbb = b.get_or_not_found::<Doc>(1).unwrap();
    da.write().unwrap().body = "changed".into();
    a.commit().unwrap();
    b.delete(&dbb).unwrap();
    assert!(matches!(
        b.commit(),
        Err(Error::StaleData { model: "Doc", .. })
    ));
    assert_eq!(
        dbb.state(),
        ObjState::Deleted,
        "still marked, as before the flush"
    );
    assert_eq!(count::<Doc>(&db), 1);
}

#[test]
fn a_version_set_by_hand_is_the_one_checked() {
    // A form round trip: the version the user saw comes back with the
    // form; a row changed meanwhile is not overwritten.
    let db = docs();
    let s = db.session();
    let d = s.add(Doc::default()).unwrap();
    s.commit().unwrap();
    d.write().unwrap().body = "edit 1".into();
    s.commit().unwrap();
    let seen_by_the_form = 1;
    d.write().unwrap().version = seen_by_the_form;
    d.write().unwrap().body = "stale edit".into();
    assert!(matches!(s.commit(), Err(Error::StaleData { .. })));
    assert_eq!(doc_row(&db), ("edit 1".into(), 2));
}

#[test]
fn the_version_bump_is_undone_when_the_flush_fails() {
    let db = common::open(Database::builder().model::<Doc>().model::<Owner>());
    db.create_all().unwrap();
    let s = db.session();
    let d = s.add(Doc::default()).unwrap();
    s.add(owner("ann")).unwrap();
    s.commit().unwrap();
    d.write().unwrap().body = "new".into();
    // Docs are written before owners (registration order): the UPDATE of
    // the doc runs, then the duplicate owner fails the flush.
    s.add(owner("ann")).unwrap();
    assert!(s.commit().is_err());
    assert_eq!(d.read().unwrap().version, 1);
    assert_eq!(doc_row(&db), (String::new(), 1));
    s.rollback().unwrap();
    d.write().unwrap().body = "new".into();
    s.commit().unwrap();
    assert_eq!(doc_row(&db), ("new".into(), 2));
}

#[test]
fn a_refused_commit_puts_the_version_back_so_the_retry_checks_the_row() {
    if common::is_postgres() {
        return; // a COMMIT refused with the transaction still open: SQLite's commit hook
    }
    let db = docs();
    let s = db.session();
    let d = s.add(Doc::default()).unwrap();
    s.commit().unwrap();
    d.write().unwrap().body = "x".into();
    s.with_connection(|c| c.commit_hook(Some(|| true)))
        .unwrap()
        .unwrap();
    assert!(s.commit().is_err());
    assert_eq!(d.read().unwrap().version, 1, "the UPDATE was rolled back");
    s.with_connection(|c| c.commit_hook(None::<fn() -> bool>))
        .unwrap()
        .unwrap();
    s.commit().unwrap();
    assert_eq!(d.read().unwrap().version, 2);
    assert_eq!(doc_row(&db), ("x".into(), 2));
}

#[test]
fn a_savepoint_rollback_restores_the_version() {
    let db = docs();
    let s = db.session();
    let d = s.add(Doc::default()).unwrap();
    s.commit().unwrap();
    let mut sp = s.begin_nested().unwrap();
    d.write().unwrap().body = "inside".into();
    s.flush().unwrap();
    assert_eq!(d.read().unwrap().version, 2);
    sp.rollback().unwrap();
    assert_eq!(d.read().unwrap().version, 1);
    d.write().unwrap().body = "after".into();
    s.commit().unwrap();
    assert_eq!(doc_row(&db), ("after".into(), 2));
}

#[test]
fn an_update_or_delete_matching_no_row_is_stale_without_a_version_too() {
    let db = owners();
    let s = db.session();
    let ann = s.add(owner("ann")).unwrap();
    s.commit().unwrap();
    exec(&db, "DELETE FROM owner");
    ann.write().unwrap().name = "anna".into();
    let err = s.commit().unwrap_err();
    assert!(
        matches!(&err, Error::StaleData { model: "Owner", key: Some(k) } if k == "1"),
        "{err:?}"
    );
}

// -------------------------------------------------------- expire on commit

#[test]
fn objects_keep_their_values_after_commit_by_default() {
    let db = owners();
    let s = db.session();
    assert!(!s.expire_on_commit());
    let ann = s.add(owner("ann")).unwrap();
    ann.append(Owner::pets, &pet("rex")).unwrap();
    s.commit().unwrap();
    let rec = db.record();
    assert_eq!(ann.read().unwrap().name, "ann");
    assert_eq!(ann.related(Owner::pets).unwrap().len(), 1);
    assert!(rec.is_empty(), "{:?}", rec.sql());
}

#[test]
fn expire_on_commit_reloads_objects_and_relationships_on_next_access() {
    let db = common::open(Database::builder().model::<Pet>().expire_on_commit(true));
    db.create_all().unwrap();
    let s = db.session();
    assert!(s.expire_on_commit());
    let ann = s.add(owner("ann")).unwrap();
    ann.append(Owner::pets, &pet("rex")).unwrap();
    s.commit().unwrap();
    assert!(ann.is_expired());
    // Another writer renames the row: the next read sees it.
    exec(&db, "UPDATE owner SET name = 'anna'");
    let rec = db.record();
    assert_eq!(ann.read().unwrap().name, "anna");
    assert_eq!(names(&ann.related(Owner::pets).unwrap()), ["rex"]);
    assert_eq!(
        rec.sql(),
        [
            sql(r#"SELECT "owner"."id", "owner"."name" FROM "owner" WHERE "owner"."id" = ?"#),
            sql(
                r#"SELECT "pet"."id", "pet"."name", "pet"."owner_id" FROM "pet" WHERE "pet"."owner_id" IN (?)"#
            ),
        ]
    );
    // Per session.
    s.set_expire_on_commit(false);
    ann.write().unwrap().name = "ann".into();
    s.commit().unwrap();
    assert!(!ann.is_expired());
}

// ------------------------------------------------------------ post_update

fn people() -> Database {
    let db = common::open(Database::builder().model::<Person>());
    if common::is_postgres() {
        // create_all on PostgreSQL needs the tables of a foreign key cycle
        // to exist before their constraints: made here by hand.
        let s = db.session();
        for ddl in [
            r#"CREATE TABLE "person" ("id" SERIAL NOT NULL, "name" VARCHAR NOT NULL, "favorite_ball_id" INTEGER, PRIMARY KEY ("id"))"#,
            r#"CREATE TABLE "ball" ("id" SERIAL NOT NULL, "color" VARCHAR NOT NULL, "person_id" INTEGER, PRIMARY KEY ("id"), FOREIGN KEY ("person_id") REFERENCES "person" ("id"))"#,
            r#"ALTER TABLE "person" ADD FOREIGN KEY ("favorite_ball_id") REFERENCES "ball" ("id")"#,
        ] {
            s.execute(ddl, &[]).unwrap();
        }
        s.commit().unwrap();
    } else {
        db.create_all().unwrap();
    }
    db
}

#[test]
fn post_update_inserts_rows_that_reference_each_other() {
    let db = people();
    let s = db.session();
    let rec = db.record();
    let p = s
        .add(Person {
            name: "ann".into(),
            ..Default::default()
        })
        .unwrap();
    let red = Obj::new(Ball {
        color: "red".into(),
        ..Default::default()
    });
    let blue = Obj::new(Ball {
        color: "blue".into(),
        ..Default::default()
    });
    p.append(Person::balls, &red).unwrap();
    p.append(Person::balls, &blue).unwrap();
    p.set_related(Person::favorite_ball, Some(&blue)).unwrap();
    s.commit().unwrap();
    let got: Vec<(String, Vec<Value>)> = rec
        .statements()
        .into_iter()
        .map(|s| (s.sql, s.params))
        .collect();
    // Both balls in one multi-row INSERT on PostgreSQL, keys read back in
    // order; one INSERT each on SQLite (`Dialect::multi_row_inserts`).
    let balls = if common::is_postgres() {
        vec![(
            sql(
                r#"INSERT INTO "ball" ("color", "person_id") VALUES (?, ?), (?, ?) RETURNING "id""#,
            ),
            vec![
                Value::from("red"),
                Value::Integer(1),
                Value::from("blue"),
                Value::Integer(1),
            ],
        )]
    } else {
        vec![
            (
                insert(r#"INSERT INTO "ball" ("color", "person_id") VALUES (?, ?)"#),
                vec![Value::from("red"), Value::Integer(1)],
            ),
            (
                insert(r#"INSERT INTO "ball" ("color", "person_id") VALUES (?, ?)"#),
                vec![Value::from("blue"), Value::Integer(1)],
            ),
        ]
    };
    let mut expected = vec![
        (sql("BEGIN IMMEDIATE"), vec![]),
        (
            insert(r#"INSERT INTO "person" ("name", "favorite_ball_id") VALUES (?, ?)"#),
            vec![Value::from("ann"), Value::Null],
        ),
    ];
    expected.extend(balls);
    expected.extend([
        (
            sql(r#"UPDATE "person" SET "favorite_ball_id" = ? WHERE "person"."id" = ?"#),
            vec![Value::Integer(2), Value::Integer(1)],
        ),
        (sql("COMMIT"), vec![]),
    ]);
    assert_eq!(got, expected);
    assert_eq!(p.read().unwrap().favorite_ball_id, Some(2));
    let fresh = db.session();
    let p2 = fresh.get_or_not_found::<Person>(1).unwrap();
    let fav = p2.related(Person::favorite_ball).unwrap().unwrap();
    assert_eq!(fav.read().unwrap().color, "blue");
}

#[test]
fn post_update_sets_the_foreign_key_to_null_before_deleting() {
    let db = people();
    let s = db.session();
    let p = s
        .add(Person {
            name: "ann".into(),
            ..Default::default()
        })
        .unwrap();
    let ball = Obj::new(Ball {
        color: "red".into(),
        ..Default::default()
    });
    p.append(Person::balls, &ball).unwrap();
    p.set_related(Person::favorite_ball, Some(&ball)).unwrap();
    s.commit().unwrap();

    let rec = db.record();
    s.delete(&ball).unwrap();
    s.delete(&p).unwrap();
    s.commit().unwrap();
    let got: Vec<(String, Vec<Value>)> = rec
        .without_transaction_control()
        .into_iter()
        .filter(|s| !s.is_query())
        .map(|s| (s.sql, s.params))
        .collect();
    assert_eq!(
        got,
        [
            (
                sql(r#"UPDATE "person" SET "favorite_ball_id" = ? WHERE "person"."id" = ?"#),
                vec![Value::Null, Value::Integer(1)]
            ),
            (
                sql(r#"DELETE FROM "ball" WHERE "ball"."id" = ?"#),
                vec![Value::Integer(1)]
            ),
            (
                sql(r#"DELETE FROM "person" WHERE "person"."id" = ?"#),
                vec![Value::Integer(1)]
            ),
        ]
    );
    assert_eq!(count::<Person>(&db), 0);
    assert_eq!(count::<Ball>(&db), 0);
}

#[test]
fn post_update_changes_the_reference_with_its_own_update() {
    let db = people();
    let s = db.session();
    let p = s
        .add(Person {
            name: "ann".into(),
            ..Default::default()
        })
        .unwrap();
    let (a, b) = (
        Obj::new(Ball {
            color: "a".into(),
            ..Default::default()
        }),
        Obj::new(Ball {
            color: "b".into(),
            ..Default::default()
        }),
    );
    p.append(Person::balls, &a).unwrap();
    p.append(Person::balls, &b).unwrap();
    p.set_related(Person::favorite_ball, Some(&a)).unwrap();
    s.commit().unwrap();
    let rec = db.record();
    p.set_related(Person::favorite_ball, Some(&b)).unwrap();
    p.write().unwrap().name = "anna".into();
    s.commit().unwrap();
    assert_eq!(
        rec.without_transaction_control()
            .into_iter()
            .map(|s| (s.sql, s.params))
            .collect::<Vec<_>>(),
        [
            (
                sql(r#"UPDATE "person" SET "name" = ? WHERE "person"."id" = ?"#),
                vec![Value::from("anna"), Value::Integer(1)]
            ),
            (
                sql(r#"UPDATE "person" SET "favorite_ball_id" = ? WHERE "person"."id" = ?"#),
                vec![Value::Integer(2), Value::Integer(1)]
            ),
        ]
    );
}

#[test]
fn without_post_update_rows_that_reference_each_other_are_a_typed_error() {
    let db = common::open(Database::builder().model::<Holder>());
    if common::is_postgres() {
        let s = db.session();
        for ddl in [
            r#"CREATE TABLE "holder" ("id" SERIAL NOT NULL, "best_id" INTEGER, PRIMARY KEY ("id"))"#,
            r#"CREATE TABLE "side" ("id" SERIAL NOT NULL, "holder_id" INTEGER, PRIMARY KEY ("id"), FOREIGN KEY ("holder_id") REFERENCES "holder" ("id"))"#,
            r#"ALTER TABLE "holder" ADD FOREIGN KEY ("best_id") REFERENCES "side" ("id")"#,
        ] {
            s.execute(ddl, &[]).unwrap();
        }
        s.commit().unwrap();
    } else {
        db.create_all().unwrap();
    }
    let s = db.session();
    let h = s.add(Holder::default()).unwrap();
    let side = Obj::new(Side::default());
    h.append(Holder::sides, &side).unwrap();
    h.set_related(Holder::best, Some(&side)).unwrap();
    let rec = db.record();
    let err = s.commit().unwrap_err();
    assert!(
        matches!(&err, Error::Schema(m) if m.contains("cycle") && m.contains("post_update")),
        "{err}"
    );
    assert!(rec.is_empty(), "nothing ran: {:?}", rec.sql());
    assert_eq!(h.state(), ObjState::Pending);
}

#[test]
fn post_update_needs_a_nullable_foreign_key() {
    #[derive(Model, Debug, Default)]
    #[orm(belongs_to(target = Target, foreign_key = target_id, post_update))]
    struct Source {
        #[orm(primary_key)]
        id: i64,
        #[orm(foreign_key = Target::id)]
        target_id: i64,
    }
    #[derive(Model, Debug, Default)]
    struct Target {
        #[orm(primary_key)]
        id: i64,
    }
    let err = Database::builder()
        .model::<Source>()
        .open("sqlite://")
        .unwrap_err();
    assert!(
        matches!(&err, Error::Schema(m) if m.contains("post_update") && m.contains("source.target_id")),
        "{err}"
    );
}

// ------------------------------------------------------------ validators

#[test]
fn validators_refuse_bad_values_before_any_statement() {
    let db = common::fresh::<Account>();
    let s = db.session();
    let rec = db.record();
    let a = s
        .add(Account {
            email: "nobody".into(),
            balance: 5,
            ..Default::default()
        })
        .unwrap();
    let err = s.commit().unwrap_err();
    match &err {
        Error::Validation {
            model,
            field,
            message,
        } => {
            assert_eq!((*model, *field), ("Account", "email"));
            assert_eq!(message, "`nobody` has no @");
        }
        other => panic!("expected Validation, got {other:?}"),
    }
    assert_eq!(err.to_string(), "invalid Account.email: `nobody` has no @");
    assert!(rec.is_empty(), "no statement ran: {:?}", rec.sql());
    assert_eq!(a.state(), ObjState::Pending);
    a.write().unwrap().email = "a@example.com".into();
    s.commit().unwrap();
    a.write().unwrap().balance = -1;
    let err = s.commit().unwrap_err();
    assert!(
        matches!(&err, Error::Validation { field: "balance", message, .. } if message == "must not be negative"),
        "{err:?}"
    );
    assert_eq!(
        a.read().unwrap().balance,
        -1,
        "the object is as before the flush"
    );
}

#[test]
fn an_update_validates_only_the_fields_it_changes() {
    let db = common::fresh::<Account>();
    // A row written by another program, with a value the validator refuses.
    exec(
        &db,
        "INSERT INTO account (email, balance) VALUES ('legacy', 1)",
    );
    let s = db.session();
    let a = s.get_or_not_found::<Account>(1).unwrap();
    a.write().unwrap().balance = 2;
    s.commit().unwrap();
    a.write().unwrap().email = "still bad".into();
    assert!(matches!(
        s.commit(),
        Err(Error::Validation { field: "email", .. })
    ));
}

// ------------------------------------------------------------ model hooks

fn take_seen() -> Vec<String> {
    SEEN.with(|s| std::mem::take(&mut *s.borrow_mut()))
}

fn post(title: &str) -> Post {
    Post {
        title: title.into(),
        ..Default::default()
    }
}

#[test]
fn model_hooks_run_around_each_statement_and_before_hooks_changes_are_written() {
    take_seen();
    let db = common::fresh::<Post>();
    let s = db.session();
    let rec = db.record();
    let p = s.add(post("Hello World")).unwrap();
    s.commit().unwrap();
    assert_eq!(
        take_seen(),
        ["before_insert Hello World", "after_insert Hello World id 1"]
    );
    assert_eq!(p.read().unwrap().slug, "hello-world");
    p.write().unwrap().title = "Hi".into();
    s.commit().unwrap();
    assert_eq!(take_seen(), ["before_update Hi", "after_update Hi edits 1"]);
    s.delete(&p).unwrap();
    s.commit().unwrap();
    assert_eq!(take_seen(), ["before_delete Hi", "after_delete Hi"]);
    let got: Vec<(String, Vec<Value>)> = rec
        .without_transaction_control()
        .into_iter()
        .map(|s| (s.sql, s.params))
        .collect();
    assert_eq!(
        got,
        [
            (
                insert(r#"INSERT INTO "post" ("title", "slug", "edits") VALUES (?, ?, ?)"#),
                vec![
                    Value::from("Hello World"),
                    Value::from("hello-world"),
                    Value::Integer(0)
                ]
            ),
            (
                sql(r#"UPDATE "post" SET "title" = ?, "edits" = ? WHERE "post"."id" = ?"#),
                vec![Value::from("Hi"), Value::Integer(1), Value::Integer(1)]
            ),
            (
                sql(r#"DELETE FROM "post" WHERE "post"."id" = ?"#),
                vec![Value::Integer(1)]
            ),
        ]
    );
}

#[test]
fn a_refusing_hook_fails_the_flush_and_changes_nothing() {
    take_seen();
    let db = common::fresh::<Post>();
    let s = db.session();
    for event in ["before_insert", "after_insert"] {
        REFUSE.with(|r| r.set(Some(event)));
        let p = s.add(post("A b")).unwrap();
        let err = s.commit().unwrap_err();
        assert!(
            matches!(&err, Error::Usage(m) if m.contains(event)),
            "{err:?}"
        );
        assert_eq!(p.state(), ObjState::Pending);
        assert_eq!(
            p.read().unwrap().slug,
            "",
            "{event}: the hook's change is taken back"
        );
        assert_eq!(p.read().unwrap().id, 0);
        assert_eq!(count::<Post>(&db), 0);
        REFUSE.with(|r| r.set(None));
        s.commit().unwrap();
        assert_eq!(p.read().unwrap().slug, "a-b");
        s.delete(&p).unwrap();
        s.commit().unwrap();
    }
    let p = s.add(post("C")).unwrap();
    s.commit().unwrap();
    for event in ["before_update", "after_update"] {
        REFUSE.with(|r| r.set(Some(event)));
        p.write().unwrap().title = "D".into();
        assert!(s.commit().is_err());
        assert_eq!(p.read().unwrap().edits, 0, "{event}");
        REFUSE.with(|r| r.set(None));
        s.rollback().unwrap();
    }
    REFUSE.with(|r| r.set(Some("before_delete")));
    s.delete(&p).unwrap();
    assert!(s.commit().is_err());
    assert_eq!(p.state(), ObjState::Deleted);
    REFUSE.with(|r| r.set(None));
    s.commit().unwrap();
    assert_eq!(count::<Post>(&db), 0);
    take_seen();
}

#[test]
fn a_model_hook_calling_back_into_the_session_gets_a_typed_error() {
    take_seen();
    let db = common::fresh::<Post>();
    let s = Rc::new(db.session());
    SESSION.with(|h| *h.borrow_mut() = Some(Rc::clone(&s)));
    let p = s.add(post("x")).unwrap();
    let r = s.commit();
    SESSION.with(|h| *h.borrow_mut() = None);
    r.unwrap();
    let seen = take_seen();
    let queries: Vec<_> = seen.iter().filter(|e| e.contains("query")).collect();
    assert_eq!(queries.len(), 2, "{seen:?}");
    for q in queries {
        assert!(q.contains("re-entrant"), "{q}");
    }
    assert_eq!(p.state(), ObjState::Persistent);
    assert_eq!(s.query::<Post>().count().unwrap(), 1);
}

// ----------------------------------------------------------- session hooks

#[test]
fn before_flush_may_add_objects_and_cannot_flush() {
    let db = owners();
    let s = db.session();
    let calls = Rc::new(RefCell::new(Vec::new()));
    let seen = Rc::clone(&calls);
    s.on_before_flush(move |s| {
        // Queries work (without autoflush); flushing again does not.
        let n = s.query::<Owner>().count()?;
        let nested = s.flush();
        seen.borrow_mut()
            .push((n, nested.map_err(|e| e.to_string())));
        if n == 0 {
            s.add(owner("added by the hook"))?;
        }
        Ok(())
    });
    s.add(owner("ann")).unwrap();
    s.commit().unwrap();
    assert_eq!(count::<Owner>(&db), 2);
    let calls = calls.borrow();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].0, 0);
    assert!(
        matches!(&calls[0].1, Err(m) if m.contains("flush cannot be used from the before_flush hook")),
        "{:?}",
        calls[0].1
    );
}

#[test]
fn a_before_flush_error_fails_the_flush() {
    let db = common::open(Database::builder().model::<Owner>().on_before_flush(|s| {
        if s.query::<Owner>().count()? >= 1 {
            return Err(Error::Usage("one owner at most".into()));
        }
        Ok(())
    }));
    db.create_all().unwrap();
    let s = db.session();
    s.add(owner("ann")).unwrap();
    s.commit().unwrap();
    let bob = s.add(owner("bob")).unwrap();
    assert!(matches!(s.commit(), Err(Error::Usage(m)) if m == "one owner at most"));
    assert_eq!(bob.state(), ObjState::Pending);
    assert_eq!(count::<Owner>(&db), 1);
}

#[test]
fn after_commit_and_after_rollback_run_once_and_cannot_end_the_transaction() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let shared = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&shared);
    let db = common::open(
        Database::builder()
            .model::<Owner>()
            .on_after_commit(move |_| {
                counter.fetch_add(1, Ordering::Relaxed);
            }),
    );
    db.create_all().unwrap();
    let s = db.session();
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = Rc::clone(&log);
    s.on_after_commit(move |s| {
        let again = s.commit().map_err(|e| e.to_string());
        let n = s.query::<Owner>().count().map_err(|e| e.to_string());
        l.borrow_mut()
            .push(format!("commit: {again:?}, count {n:?}"));
    });
    let l = Rc::clone(&log);
    s.on_after_rollback(move |s| {
        let again = s.rollback().map_err(|e| e.to_string());
        l.borrow_mut().push(format!("rollback: {again:?}"));
    });
    s.add(owner("ann")).unwrap();
    s.commit().unwrap();
    s.add(owner("bob")).unwrap();
    s.rollback().unwrap();
    assert_eq!(shared.load(Ordering::Relaxed), 1);
    let log = log.borrow();
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(
        log[0].contains("commit cannot be used from the after_commit hook")
            && log[0].ends_with("count Ok(1)"),
        "{}",
        log[0]
    );
    assert!(
        log[1].contains("rollback cannot be used from the after_rollback hook"),
        "{}",
        log[1]
    );
}

#[test]
fn a_before_update_hook_on_a_row_changed_only_through_a_relationship_is_written_or_taken_back() {
    let db = common::fresh::<Note>();
    let s = db.session();
    let (ann, bob) = (s.add(owner("ann")).unwrap(), s.add(owner("bob")).unwrap());
    let note = Obj::new(Note::default());
    note.set_related(Note::owner, Some(&ann)).unwrap();
    s.add(&note).unwrap();
    s.commit().unwrap();
    // No write(): the UPDATE comes from the new parent alone; the hook's
    // change goes into the same statement.
    let rec = db.record();
    note.set_related(Note::owner, Some(&bob)).unwrap();
    s.commit().unwrap();
    assert_eq!(
        rec.without_transaction_control()
            .into_iter()
            .map(|s| (s.sql, s.params))
            .collect::<Vec<_>>(),
        [(
            sql(r#"UPDATE "note" SET "touched" = ?, "owner_id" = ? WHERE "note"."id" = ?"#),
            vec![Value::Integer(1), Value::Integer(2), Value::Integer(1)]
        )]
    );
    // A failed flush takes the hook's change back, and the object is not
    // left looking changed.
    REFUSE.with(|r| r.set(Some("note after_update")));
    note.set_related(Note::owner, Some(&ann)).unwrap();
    assert!(s.commit().is_err());
    REFUSE.with(|r| r.set(None));
    assert_eq!(note.read().unwrap().touched, 1);
    assert_eq!(note.read().unwrap().owner_id, Some(2));
    s.commit().unwrap();
    assert_eq!(note.read().unwrap().touched, 2);
    assert_eq!(note.read().unwrap().owner_id, Some(1));
    let row = db
        .session()
        .query::<Note>()
        .all_detached()
        .unwrap()
        .remove(0);
    assert_eq!((row.touched, row.owner_id), (2, Some(1)));
}
