//! Relationships: the pet tutorial, loading strategies and statement counts,
//! cascades, many-to-many, one-to-one, self-referential, in-memory sync.

mod common;

use common::pets::{PetCategory, PetComment, PetHandler};
use orm::prelude::*;
use orm::relation::{joined, selectin};

fn pets_db() -> Database {
    let db = common::open(
        Database::builder()
            .model::<PetHandler>()
            .model::<PetComment>(),
    );
    db.create_all().unwrap();
    db
}

fn pet(name: &str, category: &str) -> Obj<PetCategory> {
    Obj::new(PetCategory {
        pet_name: name.into(),
        pet_category: category.into(),
        ..Default::default()
    })
}

/// A new handler added to `s`.
fn handler(s: &Session, name: &str) -> Obj<PetHandler> {
    s.add(PetHandler {
        handler_name: name.into(),
        ..Default::default()
    })
    .unwrap()
}

#[test]
fn the_pet_tutorial_through_relationships_only() {
    let (_dir, url) = common::temp_db("pets.db");
    let url = if common::is_postgres() {
        common::fresh_url()
    } else {
        url
    };
    let db = Database::builder()
        .model::<PetHandler>()
        .model::<PetComment>()
        .open(&url)
        .unwrap();
    db.create_all().unwrap();
    let s = db.session();
    let sam = s
        .add(PetHandler {
            handler_name: "Sam".into(),
            ..Default::default()
        })
        .unwrap();
    let kim = s
        .add(PetHandler {
            handler_name: "Kim".into(),
            ..Default::default()
        })
        .unwrap();
    // Pets are created only through the relationship: no handler_id by hand.
    for (h, name, cat) in [
        (&sam, "Rex", "dog"),
        (&sam, "Tom", "cat"),
        (&kim, "Bubbles", "fish"),
    ] {
        h.append(PetHandler::pet_category, &pet(name, cat)).unwrap();
    }
    s.add(PetComment {
        comment_content: "Rex loves walks".into(),
        ..Default::default()
    })
    .unwrap();
    s.add(PetComment {
        comment_content: "Bubbles needs a bigger tank".into(),
        ..Default::default()
    })
    .unwrap();
    s.commit().unwrap();

    // Reloaded in a new session, navigated both ways.
    let s2 = db.session();
    let sam2 = s2
        .query::<PetHandler>()
        .filter(PetHandler::handler_name.eq("Sam"))
        .one()
        .unwrap();
    let names: Vec<String> = sam2
        .related(PetHandler::pet_category)
        .unwrap()
        .iter()
        .map(|p| p.read().unwrap().pet_name.clone())
        .collect();
    assert_eq!(names, ["Rex", "Tom"]);
    let bubbles = s2
        .query::<PetCategory>()
        .filter(PetCategory::pet_name.eq("Bubbles"))
        .one()
        .unwrap();
    let handler = bubbles.related(PetCategory::pet_handler).unwrap().unwrap();
    assert_eq!(handler.read().unwrap().handler_name, "Kim");
    // The foreign keys were filled from the objects.
    let rex = s2.get::<PetCategory>(1).unwrap().unwrap();
    assert_eq!(
        rex.read().unwrap().handler_id,
        sam2.read().unwrap().handler_id
    );
    // The child's parent is the very object the session already holds.
    assert!(rex.related(PetCategory::pet_handler).unwrap().unwrap() == sam2);
    let comments = s2
        .query::<PetComment>()
        .order_by(PetComment::comment_id)
        .all_detached()
        .unwrap();
    assert_eq!(comments.len(), 2);
    assert_eq!(comments[0].comment_content, "Rex loves walks");
}

#[test]
fn foreign_keys_are_filled_when_the_parent_is_new_in_the_same_flush() {
    let db = pets_db();
    let s = db.session();
    let rec = db.record();
    // The child is added before its parent, in the same flush.
    let rex = s.add(pet("Rex", "dog")).unwrap();
    let sam = s
        .add(PetHandler {
            handler_name: "Sam".into(),
            ..Default::default()
        })
        .unwrap();
    rex.set_related(PetCategory::pet_handler, Some(&sam))
        .unwrap();
    s.commit().unwrap();
    let sql = rec.without_transaction_control();
    assert!(
        sql[0].sql.starts_with(r#"INSERT INTO "pet_handler""#),
        "{sql:?}"
    );
    assert!(sql[1].sql.starts_with(r#"INSERT INTO "pet_category""#));
    assert_eq!(rex.read().unwrap().handler_id, 1);
    assert_eq!(
        sql.len(),
        2,
        "no UPDATE after the INSERT: the key was filled before it"
    );
}

mod kennel {
    use orm::prelude::*;

    #[derive(Model, Debug, Default)]
    #[orm(has_many(pets = Pet, backref = "handler"))]
    pub struct Handler {
        #[orm(primary_key)]
        pub id: i64,
        pub name: String,
    }

    #[derive(Model, Debug, Default)]
    #[orm(has_many(comments = Comment, backref = "pet"))]
    pub struct Pet {
        #[orm(primary_key)]
        pub id: i64,
        pub name: String,
        #[orm(foreign_key = Handler::id)]
        pub handler_id: i64,
    }

    #[derive(Model, Debug, Default)]
    pub struct Comment {
        #[orm(primary_key)]
        pub id: i64,
        pub text: String,
        #[orm(foreign_key = Pet::id)]
        pub pet_id: i64,
    }

    pub fn db(handlers: usize, pets: usize, comments: usize) -> Database {
        let db = crate::common::fresh::<Comment>();
        let s = db.session();
        for h in 0..handlers {
            let handler = s
                .add(Handler {
                    name: format!("h{h}"),
                    ..Default::default()
                })
                .unwrap();
            for p in 0..pets {
                let pet = Obj::new(Pet {
                    name: format!("h{h}p{p}"),
                    ..Default::default()
                });
                handler.append(Handler::pets, &pet).unwrap();
                for c in 0..comments {
                    let comment = Obj::new(Comment {
                        text: format!("c{c}"),
                        ..Default::default()
                    });
                    pet.append(Pet::comments, &comment).unwrap();
                }
            }
        }
        s.commit().unwrap();
        db
    }
}

#[test]
fn selectin_loads_100_handlers_with_10_pets_each_in_exactly_2_queries() {
    use kennel::{Handler, Pet};
    let db = kennel::db(100, 10, 0);
    let s = db.session();
    let rec = db.record();
    let handlers = s
        .query::<Handler>()
        .load(selectin(Handler::pets))
        .all()
        .unwrap();
    assert_eq!(handlers.len(), 100);
    let mut total = 0;
    for h in &handlers {
        let pets = h.related(Handler::pets).unwrap();
        assert_eq!(pets.len(), 10);
        for p in &pets {
            assert!(p.related(Pet::handler).unwrap().unwrap() == *h);
        }
        total += pets.len();
    }
    assert_eq!(total, 1000);
    assert_eq!(rec.queries().len(), 2, "{:?}", rec.sql());
    assert_eq!(rec.len(), 2, "and nothing else ran");
}

/// A selectin load that finds no rows for an owner records its collection
/// as loaded and empty (for most owner models without allocating the
/// slots until they are looked at): reading it, appending to it and
/// deleting the owner treat it as loaded; an owner expired, directly or by
/// a savepoint's rollback, loads it again.
#[test]
fn a_collection_selectin_found_empty_stays_loaded_until_expired() {
    use kennel::{Handler, Pet};
    let db = kennel::db(5, 0, 0);
    let s = db.session();
    let handlers = s
        .query::<Handler>()
        .load(selectin(Handler::pets))
        .order_by(Handler::id)
        .all()
        .unwrap();
    let rec = db.record();
    for h in &handlers[..3] {
        assert!(h.related(Handler::pets).unwrap().is_empty());
    }
    let rex = Obj::new(Pet {
        name: "rex".into(),
        ..Default::default()
    });
    handlers[0].append(Handler::pets, &rex).unwrap();
    assert!(handlers[0].related(Handler::pets).unwrap() == vec![rex.clone()]);
    // Deleting an owner whose collection is known to be empty has no
    // children to look for.
    s.delete(&handlers[2]).unwrap();
    s.commit().unwrap();
    assert!(rec.queries().is_empty(), "{:?}", rec.sql());
    assert_eq!(
        rex.read().unwrap().handler_id,
        handlers[0].read().unwrap().id
    );
    assert_eq!(s.query::<Handler>().count().unwrap(), 4);

    // Rows another session adds: an expired owner finds them.
    let other = db.session();
    for (h, name) in [(&handlers[3], "tom"), (&handlers[4], "kit")] {
        let handler_id = h.read().unwrap().id;
        other
            .add(Pet {
                name: name.into(),
                handler_id,
                ..Default::default()
            })
            .unwrap();
    }
    other.commit().unwrap();
    s.expire(&handlers[3]).unwrap();
    let rec = db.record();
    let pets = handlers[3].related(Handler::pets).unwrap();
    assert_eq!(pets.len(), 1);
    assert_eq!(pets[0].read().unwrap().name, "tom");
    assert!(!rec.queries().is_empty());

    // Found empty inside a savepoint that deleted its only row: after the
    // rollback, the row is back and the owner reads it.
    s.expire(&handlers[4]).unwrap();
    let mut sp = s.begin_nested().unwrap();
    let kit = s.query::<Pet>().filter(Pet::name.eq("kit")).one().unwrap();
    s.delete(&kit).unwrap();
    s.flush().unwrap();
    let again = s
        .query::<Handler>()
        .load(selectin(Handler::pets))
        .filter(Handler::id.eq(handlers[4].read().unwrap().id))
        .all()
        .unwrap();
    assert!(again[0] == handlers[4]);
    sp.rollback().unwrap();
    let pets = handlers[4].related(Handler::pets).unwrap();
    assert_eq!(pets.len(), 1);
    assert!(pets[0] == kit);
}

#[test]
fn lazy_loading_the_same_graph_runs_1_plus_100_queries() {
    use kennel::Handler;
    let db = kennel::db(100, 10, 0);
    let s = db.session();
    let rec = db.record();
    let handlers = s.query::<Handler>().all().unwrap();
    for h in &handlers {
        assert_eq!(h.related(Handler::pets).unwrap().len(), 10);
    }
    // One query for the handlers, then one per handler on first access:
    // the N+1 pattern selectin loading removes.
    assert_eq!(rec.queries().len(), 1 + 100);
    // Loaded collections are cached on the objects: no more queries.
    for h in &handlers {
        h.related(Handler::pets).unwrap();
    }
    assert_eq!(rec.queries().len(), 1 + 100);
}

#[test]
fn nested_selectin_loads_one_query_per_level() {
    use kennel::{Comment, Handler, Pet};
    let db = kennel::db(5, 4, 3);
    let s = db.session();
    let rec = db.record();
    let handlers = s
        .query::<Handler>()
        .load(selectin(Handler::pets).then(selectin(Pet::comments)))
        .all()
        .unwrap();
    let mut comments = 0;
    for h in &handlers {
        for p in h.related(Handler::pets).unwrap() {
            for c in p.related(Pet::comments).unwrap() {
                assert!(c.related(Comment::pet).unwrap().unwrap() == p);
                comments += 1;
            }
        }
    }
    assert_eq!(comments, 5 * 4 * 3);
    assert_eq!(rec.queries().len(), 3, "{:?}", rec.sql());
}

#[test]
fn joined_loading_fetches_parents_in_the_same_query() {
    use kennel::{Handler, Pet};
    let db = kennel::db(3, 2, 0);
    let s = db.session();
    let rec = db.record();
    let pets = s
        .query::<Pet>()
        .load(joined(Pet::handler))
        .order_by(Pet::id)
        .all()
        .unwrap();
    assert_eq!(pets.len(), 6);
    let names: Vec<String> = pets
        .iter()
        .map(|p| {
            p.related(Pet::handler)
                .unwrap()
                .unwrap()
                .read()
                .unwrap()
                .name
                .clone()
        })
        .collect();
    assert_eq!(names, ["h0", "h0", "h1", "h1", "h2", "h2"]);
    assert_eq!(rec.queries().len(), 1, "{:?}", rec.sql());
    assert!(rec.sql()[0].contains("LEFT OUTER JOIN \"handler\" AS \"orm_j0\""));
    // Parents are shared: one object per handler row.
    let a = pets[0].related(Pet::handler).unwrap().unwrap();
    let b = pets[1].related(Pet::handler).unwrap().unwrap();
    assert!(a == b);
    assert!(s.get::<Handler>(1).unwrap().unwrap() == a);
}

#[test]
fn many_to_one_lazy_loads_use_the_identity_map() {
    use kennel::{Handler, Pet};
    let db = kennel::db(1, 3, 0);
    let s = db.session();
    let handler = s.get::<Handler>(1).unwrap().unwrap();
    let pets = s.query::<Pet>().all().unwrap();
    let rec = db.record();
    for p in &pets {
        assert!(p.related(Pet::handler).unwrap().unwrap() == handler);
    }
    // Three lookups of a parent by key: each a query here (a one-row SELECT),
    // all returning the object the session already had.
    assert!(rec.queries().len() <= 3);
}

#[test]
fn filtering_through_a_join() {
    use kennel::{Handler, Pet};
    let db = kennel::db(3, 2, 0);
    let s = db.session();
    let found = s
        .query::<Handler>()
        .join(Handler::pets)
        .filter(Pet::name.eq("h1p0") | Pet::name.eq("h1p1"))
        .all()
        .unwrap();
    assert_eq!(found.len(), 1, "two matching pets, one handler");
    assert_eq!(found[0].read().unwrap().name, "h1");
    let pets = s
        .query::<Pet>()
        .join(Pet::handler)
        .filter(Handler::name.eq("h2"))
        .order_by(Pet::name)
        .all()
        .unwrap();
    assert_eq!(pets.len(), 2);
}

#[test]
fn in_memory_sync_both_ways() {
    let db = pets_db();
    let s = db.session();
    let sam = s
        .add(PetHandler {
            handler_name: "Sam".into(),
            ..Default::default()
        })
        .unwrap();
    let kim = s
        .add(PetHandler {
            handler_name: "Kim".into(),
            ..Default::default()
        })
        .unwrap();
    s.commit().unwrap();
    assert!(sam.related(PetHandler::pet_category).unwrap().is_empty());
    assert!(kim.related(PetHandler::pet_category).unwrap().is_empty());

    // Appending to the collection sets the child's reference.
    let rex = pet("Rex", "dog");
    sam.append(PetHandler::pet_category, &rex).unwrap();
    assert!(rex.related(PetCategory::pet_handler).unwrap().unwrap() == sam);

    // Setting the reference moves it between the loaded collections.
    rex.set_related(PetCategory::pet_handler, Some(&kim))
        .unwrap();
    assert!(sam.related(PetHandler::pet_category).unwrap().is_empty());
    assert!(kim.related(PetHandler::pet_category).unwrap()[0] == rex);

    // Appending to another parent's collection moves it too.
    sam.append(PetHandler::pet_category, &rex).unwrap();
    assert!(kim.related(PetHandler::pet_category).unwrap().is_empty());
    assert!(rex.related(PetCategory::pet_handler).unwrap().unwrap() == sam);
    s.commit().unwrap();
    assert_eq!(
        rex.read().unwrap().handler_id,
        sam.read().unwrap().handler_id
    );

    // And it all holds in the database.
    let s2 = db.session();
    let sam2 = s2
        .get::<PetHandler>(sam.read().unwrap().handler_id)
        .unwrap()
        .unwrap();
    assert_eq!(sam2.related(PetHandler::pet_category).unwrap().len(), 1);
}

/// The names of `handler`'s pets, loaded if they are not.
fn pet_names(handler: &Obj<PetHandler>) -> Vec<String> {
    let mut names: Vec<String> = handler
        .related(PetHandler::pet_category)
        .unwrap()
        .iter()
        .map(|p| p.read().unwrap().pet_name.clone())
        .collect();
    names.sort();
    names
}

#[test]
fn a_collection_loaded_later_follows_assignments_made_in_memory_flushed_or_not() {
    let db = pets_db();
    let s = db.session();
    let [ann, bob, cid, dee] = ["ann", "bob", "cid", "dee"].map(|name| handler(&s, name));
    s.flush().unwrap();
    let ann_id = ann.read().unwrap().handler_id;
    let [rex, tom] = ["rex", "tom"].map(|name| {
        s.add(PetCategory {
            pet_name: name.into(),
            pet_category: "dog".into(),
            handler_id: ann_id,
            ..Default::default()
        })
        .unwrap()
    });
    s.commit().unwrap();

    // Not flushed: the collections, loaded only now, follow the assignment.
    s.set_autoflush(false);
    rex.set_related(PetCategory::pet_handler, Some(&bob))
        .unwrap();
    assert_eq!(pet_names(&bob), ["rex"]);
    assert_eq!(pet_names(&ann), ["tom"]);
    s.set_autoflush(true);

    // Flushed before the collections are loaded: the SELECT finds them
    // where the flush put them.
    tom.set_related(PetCategory::pet_handler, Some(&cid))
        .unwrap();
    rex.set_related(PetCategory::pet_handler, Some(&dee))
        .unwrap();
    s.flush().unwrap();
    assert_eq!(pet_names(&cid), ["tom"]);
    assert_eq!(pet_names(&dee), ["rex"]);
    assert!(pet_names(&ann).is_empty());
    assert!(pet_names(&bob).is_empty());
    s.commit().unwrap();

    let s2 = db.session();
    let owner = |pet: &Obj<PetCategory>| {
        let id = pet.read().unwrap().pet_id;
        s2.get::<PetCategory>(id)
            .unwrap()
            .unwrap()
            .read()
            .unwrap()
            .handler_id
    };
    assert_eq!(owner(&tom), cid.read().unwrap().handler_id);
    assert_eq!(owner(&rex), dee.read().unwrap().handler_id);
}

mod shop {
    use orm::prelude::*;

    #[derive(Model, Debug, Default)]
    #[orm(has_many(orders = Order, backref = "customer", cascade = "all, delete-orphan"))]
    pub struct Customer {
        #[orm(primary_key)]
        pub id: i64,
        pub name: String,
    }

    #[derive(Model, Debug, Default)]
    #[orm(has_many(lines = Line, backref = "order", cascade = "all"))]
    pub struct Order {
        #[orm(primary_key)]
        pub id: i64,
        #[orm(foreign_key = Customer::id)]
        pub customer_id: i64,
        pub total: i64,
    }

    #[derive(Model, Debug, Default)]
    pub struct Line {
        #[orm(primary_key)]
        pub id: i64,
        #[orm(foreign_key = Order::id)]
        pub order_id: i64,
        pub sku: String,
    }

    #[derive(Model, Debug, Default)]
    #[orm(has_many(notes = Note, backref = "author"))]
    pub struct Writer {
        #[orm(primary_key)]
        pub id: i64,
    }

    #[derive(Model, Debug, Default)]
    pub struct Note {
        #[orm(primary_key)]
        pub id: i64,
        #[orm(foreign_key = Writer::id)]
        pub writer_id: Option<i64>,
    }
}

fn shop_db() -> Database {
    let db = common::open(
        Database::builder()
            .model::<shop::Line>()
            .model::<shop::Note>(),
    );
    db.create_all().unwrap();
    db
}

#[test]
fn save_update_cascade_adds_new_children_with_their_parent() {
    use shop::{Customer, Line, Order};
    let db = shop_db();
    let s = db.session();
    // A whole graph built in memory, then one add for the root.
    let ann = Obj::new(Customer {
        name: "Ann".into(),
        ..Default::default()
    });
    let order = Obj::new(Order {
        total: 30,
        ..Default::default()
    });
    ann.append(Customer::orders, &order).unwrap();
    for sku in ["a", "b"] {
        order
            .append(
                Order::lines,
                &Obj::new(Line {
                    sku: sku.into(),
                    ..Default::default()
                }),
            )
            .unwrap();
    }
    assert_eq!(order.state(), ObjState::Transient);
    s.add(&ann).unwrap();
    assert_eq!(order.state(), ObjState::Pending);
    s.commit().unwrap();
    assert_eq!(s.query::<Line>().count().unwrap(), 2);
    let lines = s.query::<Line>().all_detached().unwrap();
    assert!(lines.iter().all(|l| l.order_id == order.read().unwrap().id));
    assert_eq!(order.read().unwrap().customer_id, ann.read().unwrap().id);
}

#[test]
fn delete_cascade_deletes_children_child_first() {
    use shop::{Customer, Line, Order};
    let db = shop_db();
    let s = db.session();
    let ann = s
        .add(Customer {
            name: "Ann".into(),
            ..Default::default()
        })
        .unwrap();
    let order = Obj::new(Order::default());
    ann.append(Customer::orders, &order).unwrap();
    order
        .append(Order::lines, &Obj::new(Line::default()))
        .unwrap();
    s.commit().unwrap();

    let s2 = db.session();
    let ann2 = s2.get::<Customer>(1).unwrap().unwrap();
    let rec = db.record();
    s2.delete(&ann2).unwrap();
    s2.commit().unwrap();
    let deletes: Vec<String> = rec
        .without_transaction_control()
        .into_iter()
        .map(|s| s.sql)
        .filter(|s| s.starts_with("DELETE"))
        .collect();
    assert_eq!(
        deletes,
        common::sqls([
            r#"DELETE FROM "line" WHERE "line"."id" = ?"#,
            r#"DELETE FROM "order" WHERE "order"."id" = ?"#,
            r#"DELETE FROM "customer" WHERE "customer"."id" = ?"#,
        ])
    );
    for count in [
        s2.query::<Customer>().count().unwrap(),
        s2.query::<Order>().count().unwrap(),
        s2.query::<Line>().count().unwrap(),
    ] {
        assert_eq!(count, 0);
    }
}

/// `session.delete` of objects whose collections are not loaded runs no
/// SQL: the next flush loads what every deletion's cascade needs at once,
/// one SELECT per relationship and level (not one per deleted object).
#[test]
fn deleting_many_loaded_objects_loads_their_cascades_once_per_relationship() {
    use shop::{Customer, Line, Order};
    let db = shop_db();
    let s = db.session();
    for c in 0..5 {
        let customer = s
            .add(Customer {
                name: format!("c{c}"),
                ..Default::default()
            })
            .unwrap();
        for o in 0..2 {
            let order = Obj::new(Order {
                total: o,
                ..Default::default()
            });
            customer.append(Customer::orders, &order).unwrap();
            for l in 0..3 {
                let line = Obj::new(Line {
                    sku: format!("{c}-{o}-{l}"),
                    ..Default::default()
                });
                order.append(Order::lines, &line).unwrap();
            }
        }
    }
    s.commit().unwrap();

    let s2 = db.session();
    let customers = s2.query::<Customer>().all().unwrap();
    assert_eq!(customers.len(), 5);
    let rec = db.record();
    for c in &customers {
        s2.delete(c).unwrap();
        assert_eq!(c.state(), ObjState::Deleted);
    }
    assert!(rec.statements().is_empty(), "{:?}", rec.sql());
    s2.commit().unwrap();
    let sql = rec.sql();
    let count = |prefix: &str| sql.iter().filter(|s| s.starts_with(prefix)).count();
    // Orders of the five customers, then lines of their ten orders.
    assert_eq!(count("SELECT"), 2, "{sql:?}");
    assert_eq!(count(r#"DELETE FROM "line""#), 30);
    assert_eq!(count(r#"DELETE FROM "order""#), 10);
    assert_eq!(count(r#"DELETE FROM "customer""#), 5);
    let other = db.session();
    assert_eq!(other.query::<Customer>().count().unwrap(), 0);
    assert_eq!(other.query::<Order>().count().unwrap(), 0);
    assert_eq!(other.query::<Line>().count().unwrap(), 0);
}

/// The loads of many deletions go in as few statements as the dialect's
/// key limit allows (500 keys per IN list on SQLite, one statement on
/// PostgreSQL), and every child is unlinked from its own parent only.
#[test]
fn deleting_more_parents_than_one_in_list_holds_unlinks_every_child() {
    use shop::{Note, Writer};
    let db = shop_db();
    let s = db.session();
    s.bulk_insert_detached((1..=1_200).map(|id| Writer { id }))
        .unwrap();
    s.bulk_insert_detached((1..=1_300).map(|id| Note {
        id,
        // Every writer one note; the last hundred notes have none.
        writer_id: (id <= 1_200).then_some(id),
    }))
    .unwrap();
    s.commit().unwrap();
    let s = db.session();
    let writers = s
        .query::<Writer>()
        .filter(Writer::id.le(1_100))
        .all()
        .unwrap();
    let rec = db.record();
    for w in &writers {
        s.delete(w).unwrap();
    }
    s.commit().unwrap();
    let loads = rec
        .queries()
        .into_iter()
        .filter(|q| q.sql.starts_with(r#"SELECT "note"."#))
        .count();
    assert_eq!(loads, if common::is_postgres() { 1 } else { 3 });
    let other = db.session();
    assert_eq!(other.query::<Writer>().count().unwrap(), 100);
    let orphans = other
        .query::<Note>()
        .filter(Note::writer_id.is_null())
        .count()
        .unwrap();
    assert_eq!(orphans, 1_100 + 100);
    // The notes of the writers kept still point at them.
    let kept = other
        .query::<Note>()
        .filter(Note::writer_id.gt(1_100))
        .all_detached()
        .unwrap();
    assert_eq!(kept.len(), 100);
    assert!(kept.iter().all(|n| n.writer_id == Some(n.id)));
}

/// A child still pointing at a parent whose deletion has not reached the
/// flush, given that parent again, is refused by the flush, as it is when
/// the parent's cascade had already unlinked it; nothing is written.
#[test]
fn a_child_given_back_to_its_deleted_parent_is_refused_by_the_flush() {
    use shop::{Note, Writer};
    let db = shop_db();
    let s = db.session();
    let (w, n) = writer_with_a_note(&s);
    s.delete(&w).unwrap();
    n.set_related(Note::author, Some(&w)).unwrap();
    let err = s.commit().unwrap_err();
    assert!(
        matches!(&err, orm::Error::Usage(m) if m.contains("marked for deletion")),
        "{err:?}"
    );
    let other = db.session();
    assert_eq!(other.query::<Writer>().count().unwrap(), 1);
    assert_eq!(
        other
            .query::<Note>()
            .filter(Note::writer_id.is_not_null())
            .count()
            .unwrap(),
        1
    );
    // Given no parent instead, the deletion goes through.
    n.set_related(Note::author, None).unwrap();
    s.commit().unwrap();
    assert_eq!(other.query::<Writer>().count().unwrap(), 0);
    assert_eq!(n.read().unwrap().writer_id, None);
}

/// Children given a parent in memory (flushed or not), then that parent
/// deleted with its collection never loaded, a flush after each deletion:
/// each deletion finds its own children among the session's relationship
/// changes and unlinks them, and leaves the others alone.
#[test]
fn children_given_a_parent_in_memory_are_unlinked_when_it_is_deleted_unloaded() {
    use shop::{Note, Writer};
    let db = shop_db();
    let s = db.session();
    s.bulk_insert_detached((1..=3).map(|id| Writer { id }))
        .unwrap();
    s.bulk_insert_detached((1..=3).map(|id| Note {
        id,
        writer_id: None,
    }))
    .unwrap();
    s.commit().unwrap();
    let s = db.session();
    let writers: Vec<Obj<Writer>> = (1..=3)
        .map(|id| s.get::<Writer>(id).unwrap().unwrap())
        .collect();
    let notes: Vec<Obj<Note>> = (1..=3)
        .map(|id| s.get::<Note>(id).unwrap().unwrap())
        .collect();
    notes[0]
        .set_related(Note::author, Some(&writers[0]))
        .unwrap();
    notes[1]
        .set_related(Note::author, Some(&writers[1]))
        .unwrap();
    s.flush().unwrap();
    notes[2]
        .set_related(Note::author, Some(&writers[2]))
        .unwrap();
    s.delete(&writers[2]).unwrap();
    s.flush().unwrap();
    s.delete(&writers[1]).unwrap();
    s.flush().unwrap();
    s.commit().unwrap();
    let other = db.session();
    let kept: Vec<i64> = other
        .query::<Writer>()
        .all_detached()
        .unwrap()
        .iter()
        .map(|w| w.id)
        .collect();
    assert_eq!(kept, [1]);
    let mut links: Vec<(i64, Option<i64>)> = other
        .query::<Note>()
        .all_detached()
        .unwrap()
        .iter()
        .map(|n| (n.id, n.writer_id))
        .collect();
    links.sort();
    assert_eq!(links, [(1, Some(1)), (2, None), (3, None)]);
    assert_eq!(notes[1].read().unwrap().writer_id, None);
}

/// Objects with relationship changes expunged one by one from a long list
/// of such changes (the list is then indexed and closes its gaps): an
/// expunged object's changes flushed before stay written, its unflushed
/// ones are dropped with it, and every other object's change, flushed or
/// not, listed once or listed again after a flush read it, is written.
#[test]
fn expunging_many_objects_with_relationship_changes_keeps_the_others_changes() {
    use shop::{Note, Writer};
    let db = shop_db();
    let s = db.session();
    s.bulk_insert_detached((1..=2).map(|id| Writer { id }))
        .unwrap();
    s.bulk_insert_detached((1..=40).map(|id| Note {
        id,
        writer_id: Some(1),
    }))
    .unwrap();
    s.commit().unwrap();
    let s = db.session();
    let (a, b) = (
        s.get::<Writer>(1).unwrap().unwrap(),
        s.get::<Writer>(2).unwrap().unwrap(),
    );
    let notes = s.query::<Note>().order_by(Note::id.asc()).all().unwrap();
    let give = |range: std::ops::Range<usize>, to: &Obj<Writer>| {
        for note in &notes[range] {
            note.set_related(Note::author, Some(to)).unwrap();
        }
    };
    // All 40 to B and flushed; 0..10 back to A, not flushed (listed again).
    give(0..40, &b);
    s.flush().unwrap();
    give(0..10, &a);
    // Flushed changes leave with 10..30 (written already); 5 takes its
    // unflushed one along.
    for note in notes[10..30].iter().chain([&notes[5]]) {
        s.expunge(note).unwrap();
    }
    // Changes after the list was indexed: 30..35 to A; 36 to A and then
    // expunged (its change dropped); 37 to A, flushed, back to B.
    give(30..35, &a);
    give(36..38, &a);
    s.expunge(&notes[36]).unwrap();
    s.flush().unwrap();
    give(37..38, &b);
    s.commit().unwrap();
    let mut rows: Vec<(i64, Option<i64>)> = db
        .session()
        .query::<Note>()
        .all_detached()
        .unwrap()
        .iter()
        .map(|n| (n.id, n.writer_id))
        .collect();
    rows.sort();
    // Note `i` of the list has id i + 1.
    let expected: Vec<(i64, Option<i64>)> = (0..40)
        .map(|i| {
            let to_a = (i < 10 && i != 5) || (30..35).contains(&i);
            (i + 1, Some(if to_a { 1 } else { 2 }))
        })
        .collect();
    assert_eq!(rows, expected);
}

#[path = "common/counted.rs"]
mod counting;

mod counted {
    use orm::prelude::*;

    use super::counting::Counted;

    #[derive(Model, Debug, Default)]
    #[orm(has_many(parts = Part, backref = "bin"))]
    pub struct Bin {
        #[orm(primary_key)]
        pub id: i64,
    }

    #[derive(Model, Debug, Default)]
    pub struct Part {
        #[orm(primary_key)]
        pub id: i64,
        #[orm(foreign_key = Bin::id)]
        pub bin_id: i64,
        #[orm(skip)]
        #[allow(dead_code)] // only its Drop matters
        pub counted: Counted,
    }
}

/// An expunged object with relationship changes no flush has written is
/// no longer held by the session: dropped by the caller, it is freed
/// before the commit, also when it was listed again after a flush read it
/// and the list of changes is long enough to be indexed.
#[test]
fn an_expunged_object_with_relationship_changes_is_freed_when_dropped() {
    use counted::{Bin, Part};
    use counting::live;
    let db = common::open(Database::builder().model::<Part>());
    db.create_all().unwrap();
    let s = db.session();
    s.bulk_insert_detached((1..=2).map(|id| Bin { id }))
        .unwrap();
    s.bulk_insert_detached((1..=20).map(|id| Part {
        id,
        bin_id: 1,
        ..Default::default()
    }))
    .unwrap();
    s.commit().unwrap();
    let s = db.session();
    let (a, b) = (
        s.get::<Bin>(1).unwrap().unwrap(),
        s.get::<Bin>(2).unwrap().unwrap(),
    );
    let mut parts = s.query::<Part>().order_by(Part::id.asc()).all().unwrap();
    let before = live();
    // Each given the bin it has: listed, read by the flush, nothing written
    // (so the transaction's log holds none of them).
    for part in &parts {
        part.set_related(Part::bin, Some(&a)).unwrap();
    }
    s.flush().unwrap();
    s.expunge(&parts[0]).unwrap();
    // Listed again after the flush read it, then expunged.
    parts[1].set_related(Part::bin, Some(&b)).unwrap();
    s.expunge(&parts[1]).unwrap();
    parts[2].set_related(Part::bin, Some(&b)).unwrap();
    parts.drain(..2);
    assert_eq!(live(), before - 2);
    drop(parts);
    s.commit().unwrap();
    let bins: Vec<i64> = db
        .session()
        .query::<Part>()
        .order_by(Part::id.asc())
        .all_detached()
        .unwrap()
        .iter()
        .map(|p| p.bin_id)
        .collect();
    let mut expected = [1; 20];
    expected[2] = 2;
    assert_eq!(bins, expected);
}

/// A collection large enough to keep an index of its members: members
/// taken out one by one (removed, or deleted) leave the others in order,
/// also once the gaps they leave are closed; one put back goes to the
/// end, once; the database follows.
#[test]
fn a_large_collection_keeps_its_order_through_removals_deletions_and_additions() {
    use shop::{Note, Writer};
    let db = shop_db();
    let s = db.session();
    s.bulk_insert_detached([Writer { id: 1 }]).unwrap();
    s.bulk_insert_detached((1..=60).map(|id| Note {
        id,
        writer_id: Some(1),
    }))
    .unwrap();
    s.commit().unwrap();
    let s = db.session();
    let w = s.get::<Writer>(1).unwrap().unwrap();
    let ids = |w: &Obj<Writer>| -> Vec<i64> {
        w.related(Writer::notes)
            .unwrap()
            .iter()
            .map(|n| n.read().unwrap().id)
            .collect()
    };
    let notes = w.related(Writer::notes).unwrap();
    let mut expected = ids(&w);
    assert_eq!(expected.len(), 60);
    // Every third one removed, then every third of the rest deleted: more
    // than half of the list goes, so its gaps are closed on the way.
    for (i, n) in notes.iter().enumerate() {
        if i % 3 == 0 {
            w.remove(Writer::notes, n).unwrap();
        } else if i % 3 == 1 {
            s.delete(n).unwrap();
        }
    }
    expected = expected
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 3 == 2)
        .map(|(_, id)| *id)
        .collect();
    assert_eq!(ids(&w), expected);
    // Put back twice: once, at the end.
    w.append(Writer::notes, &notes[0]).unwrap();
    w.append(Writer::notes, &notes[0]).unwrap();
    expected.push(notes[0].read().unwrap().id);
    assert_eq!(ids(&w), expected);
    s.commit().unwrap();
    let other = db.session();
    let mut in_db: Vec<i64> = other
        .query::<Note>()
        .filter(Note::writer_id.eq(1))
        .all_detached()
        .unwrap()
        .iter()
        .map(|n| n.id)
        .collect();
    in_db.sort();
    let mut want = expected.clone();
    want.sort();
    assert_eq!(in_db, want);
    assert_eq!(other.query::<Note>().count().unwrap(), 40);
}

/// A deletion rolled back before any flush leaves its cascade undone: the
/// children are neither deleted nor unlinked by a later commit.
#[test]
fn a_deletion_rolled_back_before_the_flush_runs_no_cascade() {
    use shop::{Customer, Order};
    let db = shop_db();
    let s = db.session();
    let ann = s.add(Customer::default()).unwrap();
    ann.append(Customer::orders, &Obj::new(Order::default()))
        .unwrap();
    s.commit().unwrap();
    let s2 = db.session();
    let ann2 = s2.get::<Customer>(ann.read().unwrap().id).unwrap().unwrap();
    s2.delete(&ann2).unwrap();
    s2.rollback().unwrap();
    assert_eq!(ann2.state(), ObjState::Persistent);
    s2.commit().unwrap();
    assert_eq!(s2.query::<Order>().count().unwrap(), 1);
    assert_eq!(ann2.related(Customer::orders).unwrap().len(), 1);
}

#[test]
fn delete_orphan_deletes_a_child_removed_from_its_parent() {
    use shop::{Customer, Order};
    let db = shop_db();
    let s = db.session();
    let ann = s.add(Customer::default()).unwrap();
    let keep = Obj::new(Order {
        total: 1,
        ..Default::default()
    });
    let drop_me = Obj::new(Order {
        total: 2,
        ..Default::default()
    });
    ann.append(Customer::orders, &keep).unwrap();
    ann.append(Customer::orders, &drop_me).unwrap();
    s.commit().unwrap();
    ann.remove(Customer::orders, &drop_me).unwrap();
    assert_eq!(drop_me.state(), ObjState::Deleted);
    s.commit().unwrap();
    let left = s.query::<Order>().all_detached().unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].total, 1);
    assert_eq!(ann.related(Customer::orders).unwrap().len(), 1);
}

/// A writer with one note, committed.
fn writer_with_a_note(s: &Session) -> (Obj<shop::Writer>, Obj<shop::Note>) {
    let w = s.add(shop::Writer::default()).unwrap();
    let n = Obj::new(shop::Note::default());
    w.append(shop::Writer::notes, &n).unwrap();
    s.commit().unwrap();
    (w, n)
}

#[test]
fn without_delete_cascade_children_are_detached_from_a_deleted_parent() {
    use shop::Note;
    let db = shop_db();
    let s = db.session();
    let (w, n) = writer_with_a_note(&s);
    assert_eq!(n.read().unwrap().writer_id, Some(1));
    s.delete(&w).unwrap();
    s.commit().unwrap();
    // SQLAlchemy's default: the child stays, its key is set to NULL.
    assert_eq!(n.read().unwrap().writer_id, None);
    assert_eq!(
        s.query::<Note>()
            .filter(Note::writer_id.is_null())
            .count()
            .unwrap(),
        1
    );
}

#[test]
fn a_required_foreign_key_blocks_deleting_the_parent_with_a_typed_error() {
    let db = pets_db();
    let s = db.session();
    let sam = s
        .add(PetHandler {
            handler_name: "Sam".into(),
            ..Default::default()
        })
        .unwrap();
    sam.append(PetHandler::pet_category, &pet("Rex", "dog"))
        .unwrap();
    s.commit().unwrap();
    s.delete(&sam).unwrap();
    let err = s.commit().unwrap_err();
    assert_eq!(err.constraint_kind(), Some(orm::ConstraintKind::NotNull));
    assert!(
        matches!(&err, orm::Error::Constraint { model: Some("PetCategory"), columns, .. } if columns == &["handler_id"])
    );
    assert_eq!(
        db.session().query::<PetCategory>().count().unwrap(),
        1,
        "nothing was lost"
    );
    assert_eq!(db.session().query::<PetHandler>().count().unwrap(), 1);
    // The failed change is still pending in this session; rollback drops it.
    assert_eq!(sam.state(), ObjState::Deleted);
    s.rollback().unwrap();
    assert_eq!(sam.state(), ObjState::Persistent);
    assert_eq!(s.query::<PetCategory>().count().unwrap(), 1);
}

mod blog {
    use orm::prelude::*;

    #[derive(Model, Debug, Default)]
    #[orm(many_to_many(tags = Tag, secondary = PostTag, backref = "posts"))]
    pub struct Post {
        #[orm(primary_key)]
        pub id: i64,
        pub title: String,
    }

    #[derive(Model, Debug, Default)]
    pub struct Tag {
        #[orm(primary_key)]
        pub id: i64,
        pub name: String,
    }

    #[derive(Model, Debug, Default)]
    pub struct PostTag {
        #[orm(primary_key, foreign_key = Post::id)]
        pub post_id: i64,
        #[orm(primary_key, foreign_key = Tag::id)]
        pub tag_id: i64,
    }
}

/// Many links changed on one object before a flush (past the size where
/// the pending changes keep an index): a link removed again before the
/// flush is never written, a removal undone by adding it back deletes
/// nothing, a removal among many additions is kept, and the association
/// rows end as the collection says.
#[test]
fn many_link_changes_on_one_object_cancel_out_before_the_flush() {
    use blog::{Post, PostTag, Tag};
    let db = common::fresh::<Post>();
    let s = db.session();
    let post = s.add(Post::default()).unwrap();
    let tags = s
        .add_all((0..40).map(|i| Tag {
            name: format!("t{i}"),
            ..Default::default()
        }))
        .unwrap();
    s.commit().unwrap();
    let tag_ids = |post: &Obj<Post>| -> Vec<i64> {
        let mut ids: Vec<i64> = post
            .related(Post::tags)
            .unwrap()
            .iter()
            .map(|t| t.read().unwrap().id)
            .collect();
        ids.sort();
        ids
    };
    let rows = |s: &Session| -> Vec<i64> {
        let mut ids: Vec<i64> = s
            .query::<PostTag>()
            .all_detached()
            .unwrap()
            .iter()
            .map(|l| l.tag_id)
            .collect();
        ids.sort();
        ids
    };
    for t in &tags {
        post.append(Post::tags, t).unwrap();
    }
    // Every odd one taken out again before any flush: never written.
    for t in tags.iter().skip(1).step_by(2) {
        post.remove(Post::tags, t).unwrap();
    }
    s.commit().unwrap();
    let even: Vec<i64> = tags
        .iter()
        .step_by(2)
        .map(|t| t.read().unwrap().id)
        .collect();
    assert_eq!(rows(&db.session()), even);
    assert_eq!(tag_ids(&post), even);
    // Every odd one added (past the size of an index), then the first ten
    // even ones removed (links the additions do not hold), five of those
    // added back (no DELETE for them) and five of the odd ones taken out
    // again (no INSERT for them).
    for t in tags.iter().skip(1).step_by(2) {
        post.append(Post::tags, t).unwrap();
    }
    for t in tags.iter().step_by(2).take(10) {
        post.remove(Post::tags, t).unwrap();
    }
    for t in tags.iter().step_by(2).take(5) {
        post.append(Post::tags, t).unwrap();
    }
    for t in tags.iter().skip(1).step_by(2).take(5) {
        post.remove(Post::tags, t).unwrap();
    }
    s.commit().unwrap();
    let mut want: Vec<i64> = tags
        .iter()
        .step_by(2)
        .skip(10)
        .chain(tags.iter().step_by(2).take(5))
        .chain(tags.iter().skip(1).step_by(2).skip(5))
        .map(|t| t.read().unwrap().id)
        .collect();
    want.sort();
    assert_eq!(rows(&db.session()), want);
    assert_eq!(tag_ids(&post), want);
}

#[test]
fn many_to_many_add_and_remove() {
    use blog::{Post, PostTag, Tag};
    let db = common::fresh::<Post>();
    let s = db.session();
    let post = s
        .add(Post {
            title: "Hello".into(),
            ..Default::default()
        })
        .unwrap();
    let rust = Obj::new(Tag {
        name: "rust".into(),
        ..Default::default()
    });
    let orm_tag = Obj::new(Tag {
        name: "orm".into(),
        ..Default::default()
    });
    post.append(Post::tags, &rust).unwrap();
    post.append(Post::tags, &orm_tag).unwrap();
    // The other end is in sync in memory.
    assert!(rust.related(Tag::posts).unwrap()[0] == post);
    s.commit().unwrap();
    assert_eq!(s.query::<PostTag>().count().unwrap(), 2);

    // From a new session, navigate both ways, then remove one link.
    let s2 = db.session();
    let post2 = s2.get::<Post>(1).unwrap().unwrap();
    let tags: Vec<String> = post2
        .related(Post::tags)
        .unwrap()
        .iter()
        .map(|t| t.read().unwrap().name.clone())
        .collect();
    assert_eq!(tags, ["rust", "orm"]);
    let rust2 = s2
        .query::<Tag>()
        .filter(Tag::name.eq("rust"))
        .one()
        .unwrap();
    assert!(rust2.related(Tag::posts).unwrap()[0] == post2);
    post2.remove(Post::tags, &rust2).unwrap();
    assert!(rust2.related(Tag::posts).unwrap().is_empty());
    s2.commit().unwrap();
    assert_eq!(s2.query::<PostTag>().count().unwrap(), 1);
    assert_eq!(
        s2.query::<Tag>().count().unwrap(),
        2,
        "removing a link keeps the tag"
    );

    // Adding from the backref end writes the same association table.
    let post3 = s2
        .add(Post {
            title: "Second".into(),
            ..Default::default()
        })
        .unwrap();
    rust2.append(Tag::posts, &post3).unwrap();
    s2.commit().unwrap();
    assert_eq!(s2.query::<PostTag>().count().unwrap(), 2);
    // Deleting a post deletes its links first.
    s2.delete(&post3).unwrap();
    s2.commit().unwrap();
    assert_eq!(s2.query::<PostTag>().count().unwrap(), 1);
    // Eager loading of many-to-many: one query for all posts' tags.
    let s3 = db.session();
    let rec = db.record();
    let posts = s3.query::<Post>().load(selectin(Post::tags)).all().unwrap();
    assert_eq!(posts[0].related(Post::tags).unwrap().len(), 1);
    assert_eq!(rec.queries().len(), 2);
}

mod people {
    use orm::prelude::*;

    #[derive(Model, Debug, Default)]
    #[orm(has_one(profile = Profile, backref = "user"))]
    pub struct User {
        #[orm(primary_key)]
        pub id: i64,
        pub name: String,
    }

    #[derive(Model, Debug, Default)]
    pub struct Profile {
        #[orm(primary_key)]
        pub id: i64,
        #[orm(foreign_key = User::id, unique)]
        pub user_id: Option<i64>,
        pub bio: String,
    }
}

#[test]
fn one_to_one_is_a_single_object() {
    use people::{Profile, User};
    let db = common::fresh::<User>();
    let s = db.session();
    let ann = s
        .add(User {
            name: "Ann".into(),
            ..Default::default()
        })
        .unwrap();
    assert!(ann.related(User::profile).unwrap().is_none());
    let first = Obj::new(Profile {
        bio: "first".into(),
        ..Default::default()
    });
    ann.set_related(User::profile, Some(&first)).unwrap();
    assert!(first.related(Profile::user).unwrap().unwrap() == ann);
    s.commit().unwrap();
    assert_eq!(first.read().unwrap().user_id, Some(1));

    // Replacing it detaches the previous profile (its key becomes NULL).
    let second = Obj::new(Profile {
        bio: "second".into(),
        ..Default::default()
    });
    ann.set_related(User::profile, Some(&second)).unwrap();
    assert!(first.related(Profile::user).unwrap().is_none());
    s.commit().unwrap();
    assert_eq!(first.read().unwrap().user_id, None);
    assert_eq!(second.read().unwrap().user_id, Some(1));

    let s2 = db.session();
    let ann2 = s2.get::<User>(1).unwrap().unwrap();
    let profile: Option<Obj<Profile>> = ann2.related(User::profile).unwrap();
    assert_eq!(profile.unwrap().read().unwrap().bio, "second");
}

mod org {
    use orm::prelude::*;

    #[derive(Model, Debug, Default)]
    #[orm(has_many(reports = Employee, backref = "manager"))]
    pub struct Employee {
        #[orm(primary_key)]
        pub id: i64,
        pub name: String,
        #[orm(foreign_key = Employee::id)]
        pub manager_id: Option<i64>,
    }
}

#[test]
fn self_referential_relationships() {
    use org::Employee;
    let db = common::fresh::<Employee>();
    let s = db.session();
    // Reports added before their manager, all new in one flush.
    let dev = s
        .add(Employee {
            name: "dev".into(),
            ..Default::default()
        })
        .unwrap();
    let lead = s
        .add(Employee {
            name: "lead".into(),
            ..Default::default()
        })
        .unwrap();
    let boss = s
        .add(Employee {
            name: "boss".into(),
            ..Default::default()
        })
        .unwrap();
    lead.append(Employee::reports, &dev).unwrap();
    dev.write().unwrap(); // touching the child does not change the plan
    boss.append(Employee::reports, &lead).unwrap();
    let rec = db.record();
    s.commit().unwrap();
    let inserted: Vec<String> = rec
        .statements()
        .iter()
        .skip(1)
        .take(3)
        .map(|s| format!("{:?}", s.params[0]))
        .collect();
    assert_eq!(
        inserted,
        ["Text(\"boss\")", "Text(\"lead\")", "Text(\"dev\")"],
        "managers first"
    );
    assert_eq!(
        dev.read().unwrap().manager_id,
        Some(lead.read().unwrap().id)
    );
    assert_eq!(
        lead.read().unwrap().manager_id,
        Some(boss.read().unwrap().id)
    );
    assert_eq!(boss.read().unwrap().manager_id, None);

    let s2 = db.session();
    let dev2 = s2
        .query::<Employee>()
        .filter(Employee::name.eq("dev"))
        .one()
        .unwrap();
    let chain: Vec<String> = {
        let mut names = Vec::new();
        let mut cur = dev2.related(Employee::manager).unwrap();
        while let Some(m) = cur {
            names.push(m.read().unwrap().name.clone());
            cur = m.related(Employee::manager).unwrap();
        }
        names
    };
    assert_eq!(chain, ["lead", "boss"]);

    // Two new employees managing each other cannot be ordered: refused.
    let a = s
        .add(Employee {
            name: "a".into(),
            ..Default::default()
        })
        .unwrap();
    let b = s
        .add(Employee {
            name: "b".into(),
            ..Default::default()
        })
        .unwrap();
    a.set_related(Employee::manager, Some(&b)).unwrap();
    b.set_related(Employee::manager, Some(&a)).unwrap();
    let err = s.commit().unwrap_err();
    assert!(
        matches!(err, orm::Error::Schema(ref m) if m.contains("cycle")),
        "{err:?}"
    );
    assert_eq!(a.state(), ObjState::Pending);
    // Break the cycle and retry: it commits.
    b.set_related(Employee::manager, None).unwrap();
    s.commit().unwrap();
    assert_eq!(a.read().unwrap().manager_id, Some(b.read().unwrap().id));
}

#[test]
fn relationships_of_detached_objects_are_a_typed_error() {
    use kennel::Handler;
    let db = kennel::db(1, 1, 0);
    let s = db.session();
    let h = s.get::<Handler>(1).unwrap().unwrap();
    drop(s);
    assert!(matches!(
        h.related(Handler::pets),
        Err(orm::Error::Detached { .. })
    ));
}

#[test]
fn objects_of_two_sessions_cannot_be_linked() {
    use kennel::{Handler, Pet};
    let db = kennel::db(1, 1, 0);
    let s1 = db.session();
    let s2 = db.session();
    let h = s1.get::<Handler>(1).unwrap().unwrap();
    let p = s2.get::<Pet>(1).unwrap().unwrap();
    assert!(matches!(
        h.append(Handler::pets, &p),
        Err(orm::Error::WrongSession { .. })
    ));
}

mod bad_links {
    use orm::prelude::*;

    #[derive(Model, Debug, Default)]
    #[orm(has_many(things = Thing))]
    pub struct Owner {
        #[orm(primary_key)]
        pub id: i64,
    }

    /// No foreign key to Owner at all.
    #[derive(Model, Debug, Default)]
    pub struct Thing {
        #[orm(primary_key)]
        pub id: i64,
    }

    #[derive(Model, Debug, Default)]
    #[orm(has_many(transfers = Transfer))]
    pub struct Account {
        #[orm(primary_key)]
        pub id: i64,
    }

    /// Two foreign keys to Account, and no choice made.
    #[derive(Model, Debug, Default)]
    pub struct Transfer {
        #[orm(primary_key)]
        pub id: i64,
        #[orm(foreign_key = Account::id)]
        pub from_id: i64,
        #[orm(foreign_key = Account::id)]
        pub to_id: i64,
    }
}

#[test]
fn missing_or_ambiguous_foreign_keys_are_schema_errors_at_open() {
    let err = Database::builder()
        .model::<bad_links::Owner>()
        .open(&common::fresh_url())
        .unwrap_err();
    assert!(
        err.to_string().contains("has no foreign key to `owner`"),
        "{err}"
    );
    let err = Database::builder()
        .model::<bad_links::Account>()
        .open(&common::fresh_url())
        .unwrap_err();
    assert!(err.to_string().contains("several foreign keys"), "{err}");
}

#[test]
fn lazy_selectin_in_the_model_loads_with_every_query() {
    mod eager {
        use orm::prelude::*;

        #[derive(Model, Debug, Default)]
        #[orm(has_many(items = Item, backref = "list", lazy = "selectin"))]
        pub struct List {
            #[orm(primary_key)]
            pub id: i64,
        }

        #[derive(Model, Debug, Default)]
        pub struct Item {
            #[orm(primary_key)]
            pub id: i64,
            #[orm(foreign_key = List::id)]
            pub list_id: i64,
        }
    }
    use eager::{Item, List};
    let db = common::fresh::<List>();
    let s = db.session();
    for _ in 0..3 {
        let l = s.add(List::default()).unwrap();
        l.append(List::items, &Obj::new(Item::default())).unwrap();
    }
    s.commit().unwrap();
    let s2 = db.session();
    let rec = db.record();
    let lists = s2.query::<List>().all().unwrap();
    for l in &lists {
        assert_eq!(l.related(List::items).unwrap().len(), 1);
    }
    assert_eq!(rec.queries().len(), 2);
}

#[test]
fn rollback_forgets_relationship_changes() {
    use kennel::{Handler, Pet};
    let db = kennel::db(2, 1, 0);
    let s = db.session();
    let h1 = s.get::<Handler>(1).unwrap().unwrap();
    let h2 = s.get::<Handler>(2).unwrap().unwrap();
    let p = s.get::<Pet>(1).unwrap().unwrap();
    p.set_related(Pet::handler, Some(&h2)).unwrap();
    s.rollback().unwrap();
    s.commit().unwrap();
    assert!(p.related(Pet::handler).unwrap().unwrap() == h1);
    assert_eq!(h2.related(Handler::pets).unwrap().len(), 1);
}

/// A parent change is written as a key fill at flush; when COMMIT then
/// fails, retrying must write it again and rolling back must undo it.
#[test]
fn a_reparenting_survives_a_refused_commit() {
    use kennel::{Handler, Pet};
    let handler_id = |db: &Database| -> i64 {
        let rows: Vec<i64> = db
            .session()
            .raw_tuples("SELECT handler_id FROM pet WHERE id = 1", &[])
            .unwrap();
        rows[0]
    };
    let db = kennel::db(2, 1, 0);
    if common::is_postgres() {
        // PostgreSQL has no commit hook: a deferred constraint trigger,
        // checked at COMMIT, refuses it while a flag row exists.
        let s = db.session();
        for sql in [
            "CREATE TABLE refuse_commits (flag INTEGER)",
            "CREATE FUNCTION refuse_commit() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN IF EXISTS (SELECT 1 FROM refuse_commits) THEN RAISE EXCEPTION 'refused'; END IF; \
             RETURN NULL; END $$",
            "CREATE CONSTRAINT TRIGGER refuse_commit AFTER UPDATE ON pet \
             DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_commit()",
        ] {
            s.execute(sql, &[]).unwrap();
        }
        s.commit().unwrap();
    }
    let refuse = |s: &Session, on: bool| {
        if common::is_postgres() {
            // Set by another session, so the refused COMMIT sees it.
            let flag = db.session();
            let sql = if on {
                "INSERT INTO refuse_commits VALUES (1)"
            } else {
                "DELETE FROM refuse_commits"
            };
            flag.execute(sql, &[]).unwrap();
            flag.commit().unwrap();
        } else {
            s.with_connection(|c| {
                c.commit_hook(on.then_some(|| true)).unwrap();
            })
            .unwrap()
        }
    };
    let s = db.session();
    let h2 = s.get::<Handler>(2).unwrap().unwrap();
    let p = s.get::<Pet>(1).unwrap().unwrap();

    // Retry: the same commit again writes the new parent.
    p.set_related(Pet::handler, Some(&h2)).unwrap();
    refuse(&s, true);
    assert!(s.commit().is_err());
    refuse(&s, false);
    s.commit().unwrap();
    assert_eq!(handler_id(&db), 2);

    // Rollback: the object is back to what the database holds.
    let h1 = s.get::<Handler>(1).unwrap().unwrap();
    p.set_related(Pet::handler, Some(&h1)).unwrap();
    refuse(&s, true);
    assert!(s.commit().is_err());
    refuse(&s, false);
    s.rollback().unwrap();
    assert_eq!(p.read().unwrap().handler_id, 2);
    assert_eq!(handler_id(&db), 2);
    p.set_related(Pet::handler, Some(&h1)).unwrap();
    s.commit().unwrap();
    assert_eq!(handler_id(&db), 1);
}

/// The old parent of an expired child is not known in memory when the
/// child gets a new one; its loaded collection must still let it go.
#[test]
fn an_expired_child_moved_to_another_parent_leaves_the_old_collection() {
    use kennel::{Handler, Pet};
    let db = kennel::db(2, 1, 0);
    let s = db.session();
    let h1 = s.get::<Handler>(1).unwrap().unwrap();
    let h2 = s.get::<Handler>(2).unwrap().unwrap();
    let pet = h1.related(Handler::pets).unwrap().remove(0);
    s.expire(&pet).unwrap();
    pet.set_related(Pet::handler, Some(&h2)).unwrap();
    assert!(h1.related(Handler::pets).unwrap().is_empty());
    // Deleting the old parent must not touch the moved child (its
    // handler_id is NOT NULL: nulling it would be a typed error).
    s.delete(&h1).unwrap();
    s.commit().unwrap();
    assert_eq!(pet.read().unwrap().handler_id, 2);
    assert_eq!(h2.related(Handler::pets).unwrap().len(), 2);
}

/// New objects appended to a collection are listed without a duplicate
/// check (no collection holds an object with no relationship yet), so a
/// large collection of them has no index until a check or a removal needs
/// one; from then on the index must know every member, those appended
/// after it was built too.
#[test]
fn a_large_collection_of_new_children_lists_each_once_and_lets_each_go() {
    let db = pets_db();
    let s = db.session();
    let (sam, kim) = (handler(&s, "sam"), handler(&s, "kim"));
    let pets: Vec<_> = (0..40).map(|i| pet(&format!("p{i}"), "dog")).collect();
    let names = |h: &Obj<PetHandler>| -> Vec<String> {
        h.related(PetHandler::pet_category)
            .unwrap()
            .iter()
            .map(|p| p.read().unwrap().pet_name.clone())
            .collect()
    };
    for p in &pets[..20] {
        sam.append(PetHandler::pet_category, p).unwrap();
    }
    // Listed already: the check builds the index from the list.
    sam.append(PetHandler::pet_category, &pets[3]).unwrap();
    assert_eq!(names(&sam).len(), 20);
    for p in &pets[20..] {
        sam.append(PetHandler::pet_category, p).unwrap();
    }
    // Found through the index: taken out, and not listed twice.
    kim.append(PetHandler::pet_category, &pets[30]).unwrap();
    sam.append(PetHandler::pet_category, &pets[35]).unwrap();
    let expected: Vec<String> = (0..40)
        .filter(|&i| i != 30)
        .map(|i| format!("p{i}"))
        .collect();
    assert_eq!(names(&sam), expected);
    assert_eq!(names(&kim), ["p30"]);
    s.commit().unwrap();
    let (sam_id, kim_id) = (
        sam.read().unwrap().handler_id,
        kim.read().unwrap().handler_id,
    );
    let handlers: Vec<i64> = db
        .session()
        .query::<PetCategory>()
        .order_by(PetCategory::pet_id)
        .all_detached()
        .unwrap()
        .iter()
        .map(|p| p.handler_id)
        .collect();
    let mut written = vec![sam_id; 40];
    written[30] = kim_id;
    assert_eq!(handlers, written);
}

/// An object that left the session while its parent's collection still
/// lists it (a pending child expunged) has no relationship of its own
/// any more; appended again, it is still listed once.
#[test]
fn an_expunged_child_appended_again_is_listed_once() {
    let db = pets_db();
    let s = db.session();
    let sam = handler(&s, "sam");
    let pets: Vec<_> = (0..20).map(|i| pet(&format!("p{i}"), "dog")).collect();
    for p in &pets {
        sam.append(PetHandler::pet_category, p).unwrap();
    }
    s.expunge(&pets[5]).unwrap();
    assert_eq!(pets[5].state(), ObjState::Transient);
    sam.append(PetHandler::pet_category, &pets[5]).unwrap();
    let listed = sam.related(PetHandler::pet_category).unwrap();
    assert_eq!(listed.len(), 20);
    assert_eq!(listed.iter().filter(|p| **p == pets[5]).count(), 1);
}

/// Expunging a child takes it out of the collections it joined through a
/// change no flush has written, so a commit leaves no collection listing a
/// row the database never got; collections that list it because the
/// database does keep it.
#[test]
fn an_expunged_child_leaves_the_collections_it_joined_unflushed() {
    let db = pets_db();
    let s = db.session();
    let (sam, kim) = (handler(&s, "sam"), handler(&s, "kim"));
    let (moved, stays, flushed) = (
        pet("moved", "cat"),
        pet("stays", "dog"),
        pet("flushed", "dog"),
    );
    for p in [&moved, &stays, &flushed] {
        sam.append(PetHandler::pet_category, p).unwrap();
    }
    s.commit().unwrap();
    // After the commit: a new child flushed, a child moved to another
    // parent and not flushed, one moved and flushed, one left alone; all
    // four expunged, only the unflushed move leaves a collection.
    let newer = pet("newer", "dog");
    sam.append(PetHandler::pet_category, &newer).unwrap();
    kim.append(PetHandler::pet_category, &flushed).unwrap();
    s.flush().unwrap();
    kim.append(PetHandler::pet_category, &moved).unwrap();
    for p in [&newer, &moved, &stays, &flushed] {
        s.expunge(p).unwrap();
    }
    s.commit().unwrap();
    let names = |h: &Obj<PetHandler>| -> Vec<String> {
        let mut v: Vec<String> = h
            .related(PetHandler::pet_category)
            .unwrap()
            .iter()
            .map(|p| p.read().unwrap().pet_name.clone())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(&sam), ["newer", "stays"]);
    assert_eq!(names(&kim), ["flushed"]);
    let rows: Vec<(String, i64)> = db
        .session()
        .query::<PetCategory>()
        .order_by(PetCategory::pet_id)
        .all_detached()
        .unwrap()
        .into_iter()
        .map(|p| (p.pet_name, p.handler_id))
        .collect();
    let (sam_id, kim_id) = (
        sam.read().unwrap().handler_id,
        kim.read().unwrap().handler_id,
    );
    assert_eq!(
        rows,
        [
            ("moved".to_string(), sam_id),
            ("stays".to_string(), sam_id),
            ("flushed".to_string(), kim_id),
            ("newer".to_string(), sam_id),
        ]
    );
    // A new child expunged before any flush: its parent is committed
    // without it, and no longer lists it.
    let s = db.session();
    let ann = handler(&s, "ann");
    let gone = pet("gone", "dog");
    ann.append(PetHandler::pet_category, &gone).unwrap();
    s.expunge(&gone).unwrap();
    s.commit().unwrap();
    assert!(ann.related(PetHandler::pet_category).unwrap().is_empty());
    assert_eq!(gone.state(), ObjState::Transient);
    assert_eq!(db.session().query::<PetCategory>().count().unwrap(), 4);
}

/// Either end of an unflushed many-to-many link expunged: the link is not
/// written, and the other end's collection no longer lists the object.
#[test]
fn expunging_either_end_of_an_unflushed_link_takes_it_out_of_the_other() {
    use blog::{Post, PostTag, Tag};
    let db = common::fresh::<Post>();
    let s = db.session();
    let post = s.add(Post::default()).unwrap();
    let kept = s.add(Tag::default()).unwrap();
    let old = s.add(Tag::default()).unwrap();
    s.commit().unwrap();
    // Loaded (empty), so appends show in them.
    assert!(post.related(Post::tags).unwrap().is_empty());
    assert!(kept.related(Tag::posts).unwrap().is_empty());
    // A new tag and a committed one linked, then expunged.
    let new = Obj::new(Tag::default());
    post.append(Post::tags, &new).unwrap();
    post.append(Post::tags, &old).unwrap();
    post.append(Post::tags, &kept).unwrap();
    s.expunge(&new).unwrap();
    s.expunge(&old).unwrap();
    // A new post linked to a committed tag, then expunged.
    let draft = s.add(Post::default()).unwrap();
    draft.append(Post::tags, &kept).unwrap();
    s.expunge(&draft).unwrap();
    s.commit().unwrap();
    assert!(post.related(Post::tags).unwrap() == [kept.clone()]);
    assert!(kept.related(Tag::posts).unwrap() == [post.clone()]);
    let links: Vec<(i64, i64)> = db
        .session()
        .query::<PostTag>()
        .all_detached()
        .unwrap()
        .into_iter()
        .map(|l| (l.post_id, l.tag_id))
        .collect();
    assert_eq!(links, [(post.read().unwrap().id, kept.read().unwrap().id)]);
    assert_eq!(db.session().query::<Tag>().count().unwrap(), 2);
    assert_eq!(db.session().query::<Post>().count().unwrap(), 1);
}

/// A session that flushes after every change (autoflush before each query)
/// reads only what changed since its last flush: an object flushed once and
/// changed again before the commit is flushed again.
#[test]
fn changes_after_a_flush_are_flushed_again_before_the_commit() {
    let db = pets_db();
    let s = db.session();
    let (sam, kim) = (handler(&s, "sam"), handler(&s, "kim"));
    let mut pets = Vec::new();
    for i in 0..40 {
        let p = pet(&format!("p{i}"), "dog");
        sam.append(PetHandler::pet_category, &p).unwrap();
        // Autoflush: each query flushes the new pet.
        assert_eq!(s.query::<PetCategory>().count().unwrap(), i + 1);
        pets.push(p);
    }
    // Pets flushed long ago, given another handler, each way.
    kim.append(PetHandler::pet_category, &pets[0]).unwrap();
    pets[1]
        .set_related(PetCategory::pet_handler, Some(&kim))
        .unwrap();
    s.flush().unwrap();
    // And a pet flushed in the last flush, moved back after it.
    sam.append(PetHandler::pet_category, &pets[0]).unwrap();
    s.commit().unwrap();
    let rows = db
        .session()
        .query::<PetCategory>()
        .order_by(PetCategory::pet_id)
        .all_detached()
        .unwrap();
    let (sam_id, kim_id) = (
        sam.read().unwrap().handler_id,
        kim.read().unwrap().handler_id,
    );
    let handlers: Vec<i64> = rows.iter().map(|r| r.handler_id).collect();
    let mut expected = vec![sam_id; 40];
    expected[1] = kim_id;
    assert_eq!(handlers, expected);
}

#[test]
fn a_link_added_to_an_object_flushed_earlier_in_the_transaction_is_written() {
    use blog::{Post, PostTag, Tag};
    let db = common::fresh::<Post>();
    let s = db.session();
    let post = s
        .add(Post {
            title: "Hello".into(),
            ..Default::default()
        })
        .unwrap();
    let tag = |name: &str| {
        Obj::new(Tag {
            name: name.into(),
            ..Default::default()
        })
    };
    post.append(Post::tags, &tag("rust")).unwrap();
    s.flush().unwrap();
    assert_eq!(s.query::<PostTag>().count().unwrap(), 1);
    post.append(Post::tags, &tag("orm")).unwrap();
    assert_eq!(s.query::<PostTag>().count().unwrap(), 2);
    let rust = s.query::<Tag>().filter(Tag::name.eq("rust")).one().unwrap();
    post.remove(Post::tags, &rust).unwrap();
    s.commit().unwrap();
    let names: Vec<String> = db
        .session()
        .get::<Post>(1)
        .unwrap()
        .unwrap()
        .related(Post::tags)
        .unwrap()
        .iter()
        .map(|t| t.read().unwrap().name.clone())
        .collect();
    assert_eq!(names, ["orm"]);
}

/// Relationship changes that end where they started write nothing; once a
/// flush has read them, nothing is left waiting (autoflush does not read
/// them again before every query).
#[test]
fn a_flush_with_nothing_to_write_leaves_no_changes_behind() {
    let db = pets_db();
    let s = db.session();
    let (sam, kim) = (handler(&s, "sam"), handler(&s, "kim"));
    let rex = pet("rex", "dog");
    sam.append(PetHandler::pet_category, &rex).unwrap();
    s.commit().unwrap();
    rex.set_related(PetCategory::pet_handler, Some(&kim))
        .unwrap();
    rex.set_related(PetCategory::pet_handler, Some(&sam))
        .unwrap();
    assert!(s.has_changes());
    s.flush().unwrap();
    assert!(!s.has_changes());
    s.commit().unwrap();
    let rows = db.session().query::<PetCategory>().all_detached().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].handler_id, sam.read().unwrap().handler_id);
}

mod two_parents {
    use orm::prelude::*;

    #[derive(Model, Debug, Default)]
    #[orm(has_many(remarks = Remark, backref = "author"))]
    pub struct Author {
        #[orm(primary_key)]
        pub id: i64,
        pub name: String,
    }

    #[derive(Model, Debug, Default)]
    #[orm(has_many(remarks = Remark, backref = "topic"))]
    pub struct Topic {
        #[orm(primary_key)]
        pub id: i64,
        pub title: String,
    }

    #[derive(Model, Debug, Default)]
    pub struct Remark {
        #[orm(primary_key)]
        pub id: i64,
        pub text: String,
        #[orm(foreign_key = Author::id)]
        pub author_id: i64,
        #[orm(foreign_key = Topic::id)]
        pub topic_id: i64,
    }
}

/// A child learns its parent from each loaded collection that holds it
/// (kept without slots for the first, see `ObjInner::parent_note`): with
/// two parents, both are known without a query; a child moved to another
/// parent leaves the collection the note knew; an expired child makes its
/// parents' collections load again.
#[test]
fn a_child_in_two_loaded_collections_knows_both_parents() {
    use two_parents::{Author, Remark, Topic};
    let db = common::fresh::<Remark>();
    let s = db.session();
    let ann = s
        .add(Author {
            name: "ann".into(),
            ..Default::default()
        })
        .unwrap();
    s.add(Author {
        name: "bob".into(),
        ..Default::default()
    })
    .unwrap();
    let rust = s
        .add(Topic {
            title: "rust".into(),
            ..Default::default()
        })
        .unwrap();
    for text in ["a", "b"] {
        let remark = Obj::new(Remark {
            text: text.into(),
            ..Default::default()
        });
        ann.append(Author::remarks, &remark).unwrap();
        rust.append(Topic::remarks, &remark).unwrap();
    }
    s.commit().unwrap();

    let s = db.session();
    let authors = s
        .query::<Author>()
        .load(selectin(Author::remarks))
        .all()
        .unwrap();
    let topics = s
        .query::<Topic>()
        .load(selectin(Topic::remarks))
        .all()
        .unwrap();
    let (ann, bob, rust) = (&authors[0], &authors[1], &topics[0]);
    let rec = db.record();
    let remarks = ann.related(Author::remarks).unwrap();
    assert_eq!(remarks.len(), 2);
    for r in &remarks {
        assert!(
            r.related(Remark::author)
                .unwrap()
                .is_some_and(|a| a == *ann)
        );
        assert!(
            r.related(Remark::topic)
                .unwrap()
                .is_some_and(|t| t == *rust)
        );
    }
    assert!(rec.is_empty(), "no SELECT: {:?}", rec.sql());

    // Moved in memory: out of the first author's collection, into the other's.
    remarks[0].set_related(Remark::author, Some(bob)).unwrap();
    assert_eq!(ann.related(Author::remarks).unwrap().len(), 1);
    assert_eq!(bob.related(Author::remarks).unwrap().len(), 1);
    assert!(rec.is_empty(), "no SELECT: {:?}", rec.sql());

    // Expired: its topic's collection loads again on the next look.
    s.expire(&remarks[1]).unwrap();
    assert_eq!(rust.related(Topic::remarks).unwrap().len(), 2);
    assert!(!rec.is_empty(), "the topic's remarks were loaded again");
    s.commit().unwrap();
    assert_eq!(remarks[0].read().unwrap().author_id, bob.read().unwrap().id);
}
