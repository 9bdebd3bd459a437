//! The exact SQL of relationship joins and relationship loads: `Query::join`
//! through every kind of relationship end, `joined()` eager loading (aliased
//! parent tables), and the `IN` lists of lazy and selectin loading, including
//! many-to-many through the association table from both ends, an explicitly
//! chosen foreign key, a foreign key to a non-key column, and self-references.

mod common;

use orm::prelude::*;
use orm::relation::{joined, selectin};

mod m {
    use orm::prelude::*;

    #[derive(Model, Debug, Default)]
    #[orm(has_many(pets = Pet, backref = "owner"))]
    #[orm(has_many(badges = Badge, backref = "holder"))]
    pub struct Person {
        #[orm(primary_key)]
        pub id: i64,
        #[orm(unique)]
        pub name: String,
    }

    #[derive(Model, Debug, Default)]
    pub struct Pet {
        #[orm(primary_key)]
        pub id: i64,
        pub kind: String,
        #[orm(foreign_key = Person::id)]
        pub person_id: i64,
    }

    /// References its person by a unique column that is not the key.
    #[derive(Model, Debug, Default)]
    pub struct Badge {
        #[orm(primary_key)]
        pub id: i64,
        #[orm(foreign_key = Person::name)]
        pub holder_name: String,
    }

    #[derive(Model, Debug, Default)]
    pub struct Account {
        #[orm(primary_key)]
        pub id: i64,
    }

    /// Two foreign keys to Account; each relationship names its own.
    #[derive(Model, Debug, Default)]
    #[orm(belongs_to(sender = Account, foreign_key = from_id, backref = "sent"))]
    #[orm(belongs_to(receiver = Account, foreign_key = "to_id", backref = "received"))]
    pub struct Transfer {
        #[orm(primary_key)]
        pub id: i64,
        #[orm(foreign_key = Account::id)]
        pub from_id: i64,
        #[orm(foreign_key = Account::id)]
        pub to_id: i64,
    }

    #[derive(Model, Debug, Default)]
    #[orm(many_to_many(tags = Tag, secondary = PostTag, backref = "posts"))]
    pub struct Post {
        #[orm(primary_key)]
        pub id: i64,
    }

    #[derive(Model, Debug, Default)]
    pub struct Tag {
        #[orm(primary_key)]
        pub id: i64,
    }

    #[derive(Model, Debug, Default)]
    pub struct PostTag {
        #[orm(primary_key, foreign_key = Post::id)]
        pub post_id: i64,
        #[orm(primary_key, foreign_key = Tag::id)]
        pub tag_id: i64,
    }

    #[derive(Model, Debug, Default)]
    #[orm(has_one(profile = Profile, backref = "user"))]
    pub struct User {
        #[orm(primary_key)]
        pub id: i64,
    }

    #[derive(Model, Debug, Default)]
    pub struct Profile {
        #[orm(primary_key)]
        pub id: i64,
        #[orm(foreign_key = User::id, unique)]
        pub user_id: Option<i64>,
    }

    #[derive(Model, Debug, Default)]
    #[orm(has_many(reports = Employee, backref = "manager"))]
    pub struct Employee {
        #[orm(primary_key)]
        pub id: i64,
        #[orm(foreign_key = Employee::id)]
        pub manager_id: Option<i64>,
    }

    #[derive(Model, Debug, Default)]
    #[orm(many_to_many(follows = Node, secondary = Follow, backref = "followers"))]
    pub struct Node {
        #[orm(primary_key)]
        pub id: i64,
    }

    #[derive(Model, Debug, Default)]
    pub struct Follow {
        #[orm(primary_key, foreign_key = Node::id)]
        pub follower_id: i64,
        #[orm(primary_key, foreign_key = Node::id)]
        pub followed_id: i64,
    }
}

use m::*;

fn db() -> Database {
    let db = common::open(
        Database::builder()
            .model::<Person>()
            .model::<Transfer>()
            .model::<PostTag>()
            .model::<Profile>()
            .model::<Employee>()
            .model::<Follow>(),
    );
    db.create_all().unwrap();
    db
}

/// Two of everything, linked, committed.
fn seeded() -> Database {
    let db = db();
    let s = db.session();
    for (id, name) in [(1, "ann"), (2, "bob")] {
        s.add(Person {
            id,
            name: name.into(),
        })
        .unwrap();
        s.add(Pet {
            id,
            kind: "dog".into(),
            person_id: id,
        })
        .unwrap();
        s.add(Badge {
            id,
            holder_name: name.into(),
        })
        .unwrap();
        s.add(Account { id }).unwrap();
        s.add(Post { id }).unwrap();
        s.add(Tag { id }).unwrap();
        s.add(User { id }).unwrap();
        s.add(Node { id }).unwrap();
    }
    s.commit().unwrap();
    for id in [1, 2] {
        s.add(Transfer {
            id,
            from_id: id,
            to_id: 3 - id,
        })
        .unwrap();
        s.add(PostTag {
            post_id: id,
            tag_id: id,
        })
        .unwrap();
        s.add(Profile {
            id,
            user_id: Some(id),
        })
        .unwrap();
        s.add(Employee {
            id,
            manager_id: (id == 2).then_some(1),
        })
        .unwrap();
        s.add(Follow {
            follower_id: id,
            followed_id: 3 - id,
        })
        .unwrap();
    }
    s.commit().unwrap();
    db
}

fn join_sql<M: Model>(q: orm::Query<'_, M>) -> String {
    q.to_sql().unwrap().0
}

#[test]
fn join_to_children_parents_and_through_association_tables() {
    let db = db();
    let s = db.session();
    assert_eq!(
        join_sql(s.query::<Person>().join(Person::pets)),
        common::sql(
            r#"SELECT "person"."id", "person"."name" FROM "person" WHERE EXISTS (SELECT 1 FROM "pet" WHERE "pet"."person_id" = "person"."id")"#
        )
    );
    assert_eq!(
        join_sql(s.query::<Pet>().join(Pet::owner)),
        r#"SELECT "pet"."id", "pet"."kind", "pet"."person_id" FROM "pet" JOIN "person" ON "person"."id" = "pet"."person_id""#
    );
    assert_eq!(
        join_sql(s.query::<Person>().join(Person::badges)),
        common::sql(
            r#"SELECT "person"."id", "person"."name" FROM "person" WHERE EXISTS (SELECT 1 FROM "badge" WHERE "badge"."holder_name" = "person"."name")"#
        )
    );
    assert_eq!(
        join_sql(s.query::<Badge>().join(Badge::holder)),
        r#"SELECT "badge"."id", "badge"."holder_name" FROM "badge" JOIN "person" ON "person"."name" = "badge"."holder_name""#
    );
    assert_eq!(
        join_sql(s.query::<Transfer>().join(Transfer::receiver)),
        r#"SELECT "transfer"."id", "transfer"."from_id", "transfer"."to_id" FROM "transfer" JOIN "account" ON "account"."id" = "transfer"."to_id""#
    );
    assert_eq!(
        join_sql(s.query::<Account>().join(Account::sent)),
        common::sql(
            r#"SELECT "account"."id" FROM "account" WHERE EXISTS (SELECT 1 FROM "transfer" WHERE "transfer"."from_id" = "account"."id")"#
        )
    );
    assert_eq!(
        join_sql(s.query::<User>().join(User::profile)),
        r#"SELECT "user"."id" FROM "user" JOIN "profile" ON "profile"."user_id" = "user"."id""#
    );
    assert_eq!(
        join_sql(s.query::<Profile>().join(Profile::user)),
        r#"SELECT "profile"."id", "profile"."user_id" FROM "profile" JOIN "user" ON "user"."id" = "profile"."user_id""#
    );
    assert_eq!(
        join_sql(s.query::<Post>().join(Post::tags)),
        common::sql(
            r#"SELECT "post"."id" FROM "post" WHERE EXISTS (SELECT 1 FROM "post_tag" JOIN "tag" ON "tag"."id" = "post_tag"."tag_id" WHERE "post_tag"."post_id" = "post"."id")"#
        )
    );
    assert_eq!(
        join_sql(s.query::<Tag>().join(Tag::posts)),
        common::sql(
            r#"SELECT "tag"."id" FROM "tag" WHERE EXISTS (SELECT 1 FROM "post_tag" JOIN "post" ON "post"."id" = "post_tag"."post_id" WHERE "post_tag"."tag_id" = "tag"."id")"#
        )
    );
    // Joins chain: each one is written after the previous.
    assert_eq!(
        join_sql(
            s.query::<Pet>()
                .join(Pet::owner)
                .filter(Person::name.eq("ann"))
        ),
        common::sql(
            r#"SELECT "pet"."id", "pet"."kind", "pet"."person_id" FROM "pet" JOIN "person" ON "person"."id" = "pet"."person_id" WHERE "person"."name" = ?"#
        )
    );
}

#[test]
fn joining_a_model_to_itself_is_refused_with_its_message() {
    let db = db();
    let s = db.session();
    for err in [
        s.query::<Employee>()
            .join(Employee::reports)
            .to_sql()
            .unwrap_err(),
        s.query::<Node>().join(Node::follows).to_sql().unwrap_err(),
    ] {
        assert!(
            err.to_string()
                .contains("is not supported; filter with a subquery instead"),
            "{err}"
        );
    }
    let err = s
        .query::<Employee>()
        .join(Employee::manager)
        .to_sql()
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("joining Employee.manager to itself is not supported"),
        "{err}"
    );
}

#[test]
fn joined_loading_aliases_each_parent_table() {
    let db = seeded();
    let s = db.session();
    let rec = db.record();
    let pets = s.query::<Pet>().load(joined(Pet::owner)).all().unwrap();
    assert_eq!(pets.len(), 2);
    let transfers = s
        .query::<Transfer>()
        .load(joined(Transfer::sender))
        .load(joined(Transfer::receiver))
        .filter(Transfer::id.eq(1))
        .all()
        .unwrap();
    assert_eq!(transfers.len(), 1);
    let badges = s
        .query::<Badge>()
        .load(joined(Badge::holder))
        .all()
        .unwrap();
    assert_eq!(badges.len(), 2);
    let employees = s
        .query::<Employee>()
        .load(joined(Employee::manager))
        .all()
        .unwrap();
    assert_eq!(employees.len(), 2);
    let profiles = s
        .query::<Profile>()
        .load(joined(Profile::user))
        .first()
        .unwrap();
    assert!(profiles.is_some());
    assert_eq!(
        rec.sql(),
        common::sqls([
            r#"SELECT "pet"."id", "pet"."kind", "pet"."person_id", "orm_j0"."id", "orm_j0"."name" FROM "pet" LEFT OUTER JOIN "person" AS "orm_j0" ON "orm_j0"."id" = "pet"."person_id""#,
            r#"SELECT "transfer"."id", "transfer"."from_id", "transfer"."to_id", "orm_j0"."id", "orm_j1"."id" FROM "transfer" LEFT OUTER JOIN "account" AS "orm_j0" ON "orm_j0"."id" = "transfer"."from_id" LEFT OUTER JOIN "account" AS "orm_j1" ON "orm_j1"."id" = "transfer"."to_id" WHERE "transfer"."id" = ?"#,
            r#"SELECT "badge"."id", "badge"."holder_name", "orm_j0"."id", "orm_j0"."name" FROM "badge" LEFT OUTER JOIN "person" AS "orm_j0" ON "orm_j0"."name" = "badge"."holder_name""#,
            r#"SELECT "employee"."id", "employee"."manager_id", "orm_j0"."id", "orm_j0"."manager_id" FROM "employee" LEFT OUTER JOIN "employee" AS "orm_j0" ON "orm_j0"."id" = "employee"."manager_id""#,
            r#"SELECT "profile"."id", "profile"."user_id", "orm_j0"."id" FROM "profile" LEFT OUTER JOIN "user" AS "orm_j0" ON "orm_j0"."id" = "profile"."user_id" LIMIT 1"#,
        ])
    );
}

#[test]
fn lazy_loads_select_related_rows_by_key() {
    let db = seeded();
    let s = db.session();
    let ann = s.get::<Person>(1).unwrap().unwrap();
    let pet = s.get::<Pet>(2).unwrap().unwrap();
    let badge = s.get::<Badge>(2).unwrap().unwrap();
    let transfer = s.get::<Transfer>(1).unwrap().unwrap();
    let post = s.get::<Post>(1).unwrap().unwrap();
    let tag = s.get::<Tag>(2).unwrap().unwrap();
    let user = s.get::<User>(1).unwrap().unwrap();
    let profile = s.get::<Profile>(2).unwrap().unwrap();
    let boss = s.get::<Employee>(1).unwrap().unwrap();
    let node = s.get::<Node>(1).unwrap().unwrap();
    let rec = db.record();
    assert_eq!(ann.related(Person::pets).unwrap().len(), 1);
    assert_eq!(ann.related(Person::badges).unwrap().len(), 1);
    // Not in the identity map: found by a SELECT.
    assert!(pet.related(Pet::owner).unwrap().is_some());
    // Referenced by a non-key column: never looked up in the identity map.
    assert!(badge.related(Badge::holder).unwrap().is_some());
    assert!(transfer.related(Transfer::receiver).unwrap().is_some());
    assert_eq!(post.related(Post::tags).unwrap().len(), 1);
    assert_eq!(tag.related(Tag::posts).unwrap().len(), 1);
    assert!(user.related(User::profile).unwrap().is_some());
    assert!(profile.related(Profile::user).unwrap().is_some());
    assert_eq!(boss.related(Employee::reports).unwrap().len(), 1);
    assert_eq!(node.related(Node::follows).unwrap().len(), 1);
    assert_eq!(node.related(Node::followers).unwrap().len(), 1);
    let sql = rec.sql();
    assert_eq!(
        sql,
        common::sqls([
            r#"SELECT "pet"."id", "pet"."kind", "pet"."person_id" FROM "pet" WHERE "pet"."person_id" IN (?)"#,
            r#"SELECT "badge"."id", "badge"."holder_name" FROM "badge" WHERE "badge"."holder_name" IN (?)"#,
            r#"SELECT "person"."id", "person"."name" FROM "person" WHERE "person"."id" IN (?)"#,
            r#"SELECT "person"."id", "person"."name" FROM "person" WHERE "person"."name" IN (?)"#,
            r#"SELECT "account"."id" FROM "account" WHERE "account"."id" IN (?)"#,
            r#"SELECT "tag"."id", "post_tag"."post_id" FROM "tag" JOIN "post_tag" ON "post_tag"."tag_id" = "tag"."id" WHERE "post_tag"."post_id" IN (?)"#,
            r#"SELECT "post"."id", "post_tag"."tag_id" FROM "post" JOIN "post_tag" ON "post_tag"."post_id" = "post"."id" WHERE "post_tag"."tag_id" IN (?)"#,
            r#"SELECT "profile"."id", "profile"."user_id" FROM "profile" WHERE "profile"."user_id" IN (?)"#,
            r#"SELECT "user"."id" FROM "user" WHERE "user"."id" IN (?)"#,
            r#"SELECT "employee"."id", "employee"."manager_id" FROM "employee" WHERE "employee"."manager_id" IN (?)"#,
            r#"SELECT "node"."id", "follow"."follower_id" FROM "node" JOIN "follow" ON "follow"."followed_id" = "node"."id" WHERE "follow"."follower_id" IN (?)"#,
            r#"SELECT "node"."id", "follow"."followed_id" FROM "node" JOIN "follow" ON "follow"."follower_id" = "node"."id" WHERE "follow"."followed_id" IN (?)"#,
        ])
    );
}

#[test]
fn selectin_loads_one_in_list_for_all_owners() {
    let db = seeded();
    let s = db.session();
    let rec = db.record();
    let people = s
        .query::<Person>()
        .load(selectin(Person::pets))
        .load(selectin(Person::badges))
        .all()
        .unwrap();
    assert_eq!(people.len(), 2);
    let pets = s.query::<Pet>().load(selectin(Pet::owner)).all().unwrap();
    assert_eq!(pets.len(), 2);
    let tags = s.query::<Tag>().load(selectin(Tag::posts)).all().unwrap();
    assert_eq!(tags.len(), 2);
    let s2 = db.session();
    let pets = s2.query::<Pet>().load(selectin(Pet::owner)).all().unwrap();
    assert_eq!(pets.len(), 2);
    let queries: Vec<String> = rec.queries().into_iter().map(|q| q.sql).collect();
    assert_eq!(
        queries,
        common::sqls([
            r#"SELECT "person"."id", "person"."name" FROM "person""#,
            r#"SELECT "pet"."id", "pet"."kind", "pet"."person_id" FROM "pet" WHERE "pet"."person_id" IN (?, ?)"#,
            r#"SELECT "badge"."id", "badge"."holder_name" FROM "badge" WHERE "badge"."holder_name" IN (?, ?)"#,
            // The owners are in the identity map already: no SELECT.
            r#"SELECT "pet"."id", "pet"."kind", "pet"."person_id" FROM "pet""#,
            r#"SELECT "tag"."id" FROM "tag""#,
            r#"SELECT "post"."id", "post_tag"."tag_id" FROM "post" JOIN "post_tag" ON "post_tag"."post_id" = "post"."id" WHERE "post_tag"."tag_id" IN (?, ?)"#,
            r#"SELECT "pet"."id", "pet"."kind", "pet"."person_id" FROM "pet""#,
            r#"SELECT "person"."id", "person"."name" FROM "person" WHERE "person"."id" IN (?, ?)"#,
        ])
    );
}

/// Loading the children of many owners sends as few statements as the
/// dialect's key limit allows: 500 keys per IN list on SQLite (SQLAlchemy's
/// selectin size), all 1,200 in one statement on PostgreSQL (one round
/// trip), and every owner gets exactly its own children either way.
#[test]
fn selectin_of_many_owners_sends_one_in_list_per_dialect_limit() {
    let db = db();
    let s = db.session();
    s.bulk_insert_detached((1..=1_200).map(|id| Person {
        id,
        name: format!("p{id}"),
    }))
    .unwrap();
    s.bulk_insert_detached((1..=1_200).map(|id| Pet {
        id,
        kind: format!("k{id}"),
        // Every third person has no pet; the others one or two.
        person_id: [id, id, id - 1][(id % 3) as usize].max(1),
    }))
    .unwrap();
    s.commit().unwrap();
    let s = db.session();
    let rec = db.record();
    let people = s
        .query::<Person>()
        .order_by(Person::id.asc())
        .load(selectin(Person::pets))
        .all()
        .unwrap();
    assert_eq!(people.len(), 1_200);
    let pet_queries = rec
        .queries()
        .into_iter()
        .filter(|q| q.sql.starts_with(r#"SELECT "pet"."#))
        .count();
    let expected = if common::is_postgres() { 1 } else { 3 };
    assert_eq!(pet_queries, expected);
    let mut total = 0;
    for p in &people {
        let id = p.read().unwrap().id;
        let pets = p.related(Person::pets).unwrap();
        for pet in pets.iter() {
            assert_eq!(pet.read().unwrap().person_id, id);
        }
        total += pets.len();
    }
    assert_eq!(total, 1_200);
    // Loaded, not lazily fetched afterwards.
    assert_eq!(rec.queries().len(), 1 + expected);
}
