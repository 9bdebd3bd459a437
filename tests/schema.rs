//! `#[derive(Model)]` -> table metadata -> DDL, checked against the DDL that
//! SQLAlchemy 2.0 + Flask-SQLAlchemy 3.1 emit for the tutorials' models.

mod common;

use common::{affinity, pets, registration, table_names, table_shape, temp_db, users};
use orm::prelude::*;

/// Create `reference_sql` in one file and our tables in another, then compare
/// every table through the PRAGMAs.
fn assert_equivalent(db: &Database, url: &str, reference_sql: &str) {
    db.create_all().unwrap();
    let ours = rusqlite::Connection::open(common::path_of(url)).unwrap();
    let theirs = rusqlite::Connection::open_in_memory().unwrap();
    theirs.execute_batch(reference_sql).unwrap();
    let names = table_names(&theirs);
    assert!(!names.is_empty());
    assert_eq!(table_names(&ours), names);
    for table in &names {
        let a = table_shape(&ours, table);
        let b = table_shape(&theirs, table);
        assert_eq!(a, b, "table `{table}` differs from SQLAlchemy's");
        for ((_, ta, ..), (_, tb, ..)) in a.columns.iter().zip(&b.columns) {
            assert_eq!(affinity(ta), affinity(tb));
        }
    }
}

#[test]
fn users_tutorial_schema_matches_sqlalchemy() {
    let (_dir, url) = temp_db("app.db");
    let db = Database::builder()
        .model::<users::User>()
        .open(&url)
        .unwrap();
    assert_equivalent(
        &db,
        &url,
        include_str!("fixtures/reference/sqlalchemy-users.sql"),
    );
}

#[test]
fn registration_tutorial_schema_matches_sqlalchemy() {
    let (_dir, url) = temp_db("registration.db");
    let db = Database::builder()
        .model::<registration::User>()
        .open(&url)
        .unwrap();
    assert_equivalent(
        &db,
        &url,
        include_str!("fixtures/reference/sqlalchemy-registration.sql"),
    );
}

#[test]
fn pets_tutorial_schema_matches_sqlalchemy() {
    let (_dir, url) = temp_db("pets.db");
    // PetCategory before PetHandler on purpose: the order is worked out
    // from the foreign key.
    let db = Database::builder()
        .model::<pets::PetCategory>()
        .model::<pets::PetComment>()
        .open(&url)
        .unwrap();
    assert_equivalent(
        &db,
        &url,
        include_str!("fixtures/reference/sqlalchemy-pets.sql"),
    );
}

#[test]
fn tables_are_created_parents_first_and_dropped_children_first() {
    let (_dir, url) = temp_db("order.db");
    let db = Database::builder()
        .model::<pets::PetCategory>()
        .open(&url)
        .unwrap();
    let names: Vec<_> = db.tables().iter().map(|t| t.name).collect();
    assert_eq!(names, ["pet_handler", "pet_category"]);
    let rec = db.record();
    db.create_all().unwrap();
    let creates: Vec<String> = rec
        .sql()
        .into_iter()
        .filter(|s| s.starts_with("CREATE TABLE"))
        .collect();
    assert!(creates[0].contains("\"pet_handler\""));
    assert!(creates[1].contains("\"pet_category\""));
    rec.clear();
    db.drop_all().unwrap();
    assert_eq!(
        rec.without_transaction_control()
            .into_iter()
            .map(|s| s.sql)
            .collect::<Vec<_>>(),
        [
            "DROP TABLE IF EXISTS \"pet_category\"",
            "DROP TABLE IF EXISTS \"pet_handler\""
        ]
    );
}

#[test]
fn create_all_is_idempotent_and_drop_all_removes_everything() {
    let (_dir, url) = temp_db("twice.db");
    let db = Database::builder()
        .model::<pets::PetCategory>()
        .model::<pets::PetComment>()
        .open(&url)
        .unwrap();
    db.create_all().unwrap();
    let s = db.session();
    s.add(pets::PetHandler {
        handler_name: "Sam".into(),
        ..Default::default()
    })
    .unwrap();
    s.commit().unwrap();
    db.create_all().unwrap();
    // The second create_all kept the data.
    assert_eq!(db.session().query::<pets::PetHandler>().count().unwrap(), 1);
    db.drop_all().unwrap();
    db.drop_all().unwrap();
    let conn = rusqlite::Connection::open(common::path_of(&url)).unwrap();
    assert!(table_names(&conn).is_empty());
}

#[test]
fn table_names_follow_flask_sqlalchemy() {
    assert_eq!(pets::PetHandler::table().name, "pet_handler");
    assert_eq!(pets::PetCategory::table().name, "pet_category");
    assert_eq!(pets::PetComment::table().name, "pet_comment");
    assert_eq!(users::User::table().name, "user");
}

/// Reserved words and odd characters as table and column names.
#[derive(Model, Debug, Default, Clone, PartialEq)]
#[orm(table = "order")]
struct Order {
    #[orm(primary_key, column = "select")]
    id: i64,
    #[orm(column = "a\"b")]
    quoted: String,
    #[orm(column = "x'); DROP TABLE t;--")]
    injection: String,
    #[orm(column = "group by")]
    spaced: Option<i64>,
}

#[test]
fn reserved_and_odd_identifiers_work() {
    let db = common::fresh::<Order>();
    let s = db.session();
    let o = s
        .add(Order {
            quoted: "q".into(),
            injection: "i".into(),
            spaced: Some(3),
            ..Default::default()
        })
        .unwrap();
    s.commit().unwrap();
    o.write().unwrap().quoted = "q2".into();
    s.commit().unwrap();
    let again = db.session().query::<Order>().all_detached().unwrap();
    assert_eq!(
        again,
        [Order {
            id: 1,
            quoted: "q2".into(),
            injection: "i".into(),
            spaced: Some(3)
        }]
    );
}

#[derive(SqlEnum, Debug, Clone, Copy, PartialEq, Default)]
enum Status {
    #[default]
    Active,
    #[orm(rename = "gone")]
    Deleted,
}

#[derive(SqlEnum, Debug, Clone, Copy, PartialEq, Default)]
#[orm(storage = "integer")]
enum Priority {
    #[default]
    Low = 1,
    High = 10,
}

#[derive(Model, Debug, Default, Clone, PartialEq)]
#[orm(index(owner, label), unique(owner, slot))]
struct Gadget {
    #[orm(primary_key)]
    owner: String,
    #[orm(primary_key)]
    slot: i32,
    #[orm(index)]
    label: String,
    #[orm(unique, index)]
    serial: String,
    #[orm(default = 1.5)]
    weight: f64,
    #[orm(default = true)]
    enabled: bool,
    #[orm(default = "n/a")]
    note: Option<String>,
    #[orm(default = -7)]
    offset: i16,
    blob: Vec<u8>,
    status: Status,
    priority: Priority,
    #[orm(skip)]
    cached: Option<String>,
}

#[test]
fn every_column_option_reaches_the_ddl() {
    let (_dir, url) = temp_db("gadget.db");
    let db = Database::builder().model::<Gadget>().open(&url).unwrap();
    db.create_all().unwrap();
    let conn = rusqlite::Connection::open(common::path_of(&url)).unwrap();
    let shape = table_shape(&conn, "gadget");
    let cols: Vec<(&str, &str, bool, i64)> = shape
        .columns
        .iter()
        .map(|(n, t, nn, pk)| (n.as_str(), t.as_str(), *nn, *pk))
        .collect();
    assert_eq!(
        cols,
        [
            ("owner", "TEXT", true, 1),
            ("slot", "INTEGER", true, 2),
            ("label", "TEXT", true, 0),
            ("serial", "TEXT", true, 0),
            ("weight", "FLOAT", true, 0),
            ("enabled", "BOOLEAN", true, 0),
            ("note", "TEXT", false, 0),
            ("offset", "INTEGER", true, 0),
            ("blob", "BLOB", true, 0),
            ("status", "VARCHAR(6)", true, 0),
            ("priority", "INTEGER", true, 0),
        ]
    );
    let idx: Vec<_> = shape.indexes.iter().cloned().collect();
    assert!(idx.contains(&(vec!["label".into()], false)));
    assert!(idx.contains(&(vec!["serial".into()], true)));
    assert!(idx.contains(&(vec!["owner".into(), "label".into()], false)));
    assert!(idx.contains(&(vec!["owner".into(), "slot".into()], true)));
    let defaults: Vec<(String, Option<String>)> = conn
        .prepare("SELECT name, dflt_value FROM pragma_table_info('gadget')")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let default_of = |c: &str| defaults.iter().find(|(n, _)| n == c).unwrap().1.clone();
    assert_eq!(default_of("weight").as_deref(), Some("1.5"));
    assert_eq!(default_of("enabled").as_deref(), Some("1"));
    assert_eq!(default_of("note").as_deref(), Some("'n/a'"));
    assert_eq!(default_of("offset").as_deref(), Some("-7"));
    assert!(!Gadget::table().auto_increment);

    // And the values round-trip, enums by name and by discriminant.
    let s = db.session();
    let g = Gadget {
        owner: "ann".into(),
        slot: 2,
        label: "l".into(),
        serial: "s-1".into(),
        weight: 2.25,
        enabled: false,
        note: None,
        offset: -1,
        blob: vec![0, 255, 7],
        status: Status::Deleted,
        priority: Priority::High,
        cached: Some("not stored".into()),
    };
    s.add(g.clone()).unwrap();
    s.commit().unwrap();
    let raw: (String, i64) = conn
        .query_row("SELECT status, priority FROM gadget", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(raw, ("gone".to_string(), 10));
    // Tracked, the key's fields come from the key decoded for the identity
    // map (a composite key: both of them, in their places).
    let tracked = db.session().query::<Gadget>().all().unwrap();
    assert_eq!(
        *tracked[0].read().unwrap(),
        Gadget {
            cached: None,
            ..g.clone()
        }
    );
    let loaded = db.session().query::<Gadget>().all_detached().unwrap();
    assert_eq!(loaded, [Gadget { cached: None, ..g }]);
    let by_key = db
        .session()
        .get::<Gadget>(("ann".to_string(), 2))
        .unwrap()
        .unwrap();
    assert_eq!(by_key.read().unwrap().serial, "s-1");
}

/// The tutorial's `ForeignKey('pethandler.handler_id')` names a table that
/// Flask-SQLAlchemy never creates: a clear error, with the fix.
mod tutorial_typo {
    use orm::prelude::*;

    #[derive(Model, Debug, Default)]
    pub struct PetHandler {
        #[orm(primary_key)]
        pub handler_id: i64,
    }

    #[derive(Model, Debug, Default)]
    pub struct PetCategory {
        #[orm(primary_key)]
        pub pet_id: i64,
        #[orm(foreign_key = "pethandler.handler_id")]
        pub handler_id: i64,
    }
}

#[test]
fn a_foreign_key_to_a_missing_table_is_a_schema_error_with_a_hint() {
    let err = Database::builder()
        .model::<tutorial_typo::PetHandler>()
        .model::<tutorial_typo::PetCategory>()
        .open("sqlite://")
        .unwrap_err();
    assert!(matches!(err, orm::Error::Schema(_)));
    assert_eq!(
        err.to_string(),
        "schema error: foreign key of `pet_category` references table `pethandler`, which no registered model maps; did you mean `pet_handler`?"
    );
}

mod clash {
    use orm::prelude::*;

    #[derive(Model, Debug, Default)]
    pub struct User {
        #[orm(primary_key)]
        pub id: i64,
    }

    #[derive(Model, Debug, Default)]
    #[orm(table = "user")]
    pub struct Account {
        #[orm(primary_key)]
        pub id: i64,
    }
}

#[test]
fn two_models_on_one_table_are_refused() {
    let err = Database::builder()
        .model::<clash::User>()
        .model::<clash::Account>()
        .open("sqlite://")
        .unwrap_err();
    assert!(err.to_string().contains("both map table `user`"), "{err}");
}

#[test]
fn using_a_model_without_its_table_says_how_to_create_it() {
    // Registered nowhere, so create_all did not create its table.
    let db = Database::open("sqlite://").unwrap();
    db.create_all().unwrap();
    let s = db.session();
    let expected = "schema error: table `user` of User does not exist; register the model with Database::builder().model::<User>() and call create_all()";
    let err = s.query::<users::User>().count().unwrap_err();
    assert_eq!(err.to_string(), expected);
    assert_eq!(s.get::<users::User>(1).unwrap_err().to_string(), expected);
    s.add(users::User::default()).unwrap();
    assert_eq!(s.commit().unwrap_err().to_string(), expected);
}
