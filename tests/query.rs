//! Typed queries: every construct's exact SQL and parameters, then its
//! result on real rows; terminals and their errors; pagination; aggregates;
//! raw SQL; hostile input.

mod common;

use orm::Error;
use orm::prelude::*;
use orm::query::{Condition, Page, count};
use orm::types::Value;

#[derive(Model, Debug, Default, Clone, PartialEq)]
struct Person {
    #[orm(primary_key)]
    id: i64,
    name: String,
    age: i64,
    city: Option<String>,
    score: f64,
}

const SELECT: &str = r#"SELECT "person"."id", "person"."name", "person"."age", "person"."city", "person"."score" FROM "person""#;

fn db() -> Database {
    let db = common::fresh::<Person>();
    let s = db.session();
    let rows = [
        ("ann", 31, Some("Oslo"), 7.5),
        ("bob", 17, None, 3.0),
        ("cid", 45, Some("Rome"), 9.0),
        ("dee", 31, Some("Oslo"), 6.0),
        ("eve", 64, None, 8.5),
    ];
    for (name, age, city, score) in rows {
        s.add(Person {
            name: name.into(),
            age,
            city: city.map(Into::into),
            score,
            ..Default::default()
        })
        .unwrap();
    }
    s.commit().unwrap();
    db
}

fn names(objs: &[Obj<Person>]) -> Vec<String> {
    objs.iter()
        .map(|o| o.read().unwrap().name.clone())
        .collect()
}

/// Raw SQL written with SQLite's `?` placeholders, as the backend under
/// test takes it (raw SQL is `'static`: a test may leak a few bytes).
fn raw(sqlite: &'static str) -> &'static str {
    if common::is_postgres() {
        Box::leak(common::sql(sqlite).into_boxed_str())
    } else {
        sqlite
    }
}

fn t(s: &str) -> Value {
    Value::Text(s.into())
}

fn i(n: i64) -> Value {
    Value::Integer(n)
}

/// `(construct, condition, WHERE clause, params, names matched in id order)`.
type FilterCase = (
    &'static str,
    Condition,
    String,
    Vec<Value>,
    Vec<&'static str>,
);

/// A WHERE clause and its parameters where PostgreSQL's text differs from
/// SQLite's (the dialect table): each backend's own, exactly.
fn either(sqlite: (&str, Vec<Value>), postgres: (&str, Vec<Value>)) -> (String, Vec<Value>) {
    let (clause, params) = if common::is_postgres() {
        postgres
    } else {
        sqlite
    };
    (clause.to_owned(), params)
}

fn filter_cases() -> Vec<FilterCase> {
    let contains_i = either(
        (r#"instr(lower("person"."name"), ?) > 0"#, vec![t("i")]),
        (r#"strpos(lower("person"."name"), $1) > 0"#, vec![t("i")]),
    );
    let starts_with_e = either(
        (
            r#"substr(CAST(lower("person"."name") AS BLOB), 1, ?) = ?"#,
            vec![i(1), Value::Blob(b"e".to_vec())],
        ),
        (r#"strpos(lower("person"."name"), $1) = 1"#, vec![t("e")]),
    );
    let ends_with_b = either(
        (
            r#"substr(CAST(lower("person"."name") AS BLOB), ?) = ?"#,
            vec![i(-1), Value::Blob(b"b".to_vec())],
        ),
        (
            r#"right(lower("person"."name"), $1) = $2"#,
            vec![i(1), t("b")],
        ),
    );
    let contains_percent = either(
        (r#"instr(lower("person"."name"), ?) > 0"#, vec![t("%")]),
        (r#"strpos(lower("person"."name"), $1) > 0"#, vec![t("%")]),
    );
    let empty_in = either(
        (r#""person"."id" IN ()"#, vec![]),
        (r#""person"."id" = ANY('{}')"#, vec![]),
    );
    let empty_not_in = either(
        (r#""person"."id" NOT IN ()"#, vec![]),
        (r#""person"."id" <> ALL('{}')"#, vec![]),
    );
    let all = either(("1", vec![]), ("TRUE", vec![]));
    let any = either(("0", vec![]), ("FALSE", vec![]));
    vec![
        (
            "eq",
            Person::name.eq("bob"),
            common::sql(r#""person"."name" = ?"#),
            vec![t("bob")],
            vec!["bob"],
        ),
        (
            "ne",
            Person::age.ne(31),
            common::sql(r#""person"."age" <> ?"#),
            vec![i(31)],
            vec!["bob", "cid", "eve"],
        ),
        (
            "lt",
            Person::age.lt(31),
            common::sql(r#""person"."age" < ?"#),
            vec![i(31)],
            vec!["bob"],
        ),
        (
            "le",
            Person::age.le(31),
            common::sql(r#""person"."age" <= ?"#),
            vec![i(31)],
            vec!["ann", "bob", "dee"],
        ),
        (
            "gt",
            Person::age.gt(45),
            common::sql(r#""person"."age" > ?"#),
            vec![i(45)],
            vec!["eve"],
        ),
        (
            "ge",
            Person::age.ge(45),
            common::sql(r#""person"."age" >= ?"#),
            vec![i(45)],
            vec!["cid", "eve"],
        ),
        (
            "like",
            Person::name.like("_e%"),
            common::sql(r#""person"."name" LIKE ?"#),
            vec![t("_e%")],
            vec!["dee"],
        ),
        (
            "not_like",
            Person::name.not_like("%e%"),
            common::sql(r#""person"."name" NOT LIKE ?"#),
            vec![t("%e%")],
            vec!["ann", "bob", "cid"],
        ),
        (
            "contains",
            Person::name.contains("I"),
            contains_i.0,
            contains_i.1,
            vec!["cid"],
        ),
        (
            "starts_with",
            Person::name.starts_with("e"),
            starts_with_e.0,
            starts_with_e.1,
            vec!["eve"],
        ),
        (
            "ends_with",
            Person::name.ends_with("b"),
            ends_with_b.0,
            ends_with_b.1,
            vec!["bob"],
        ),
        (
            "contains a wildcard literally",
            Person::name.contains("%"),
            contains_percent.0,
            contains_percent.1,
            vec![],
        ),
        (
            "empty needle",
            Person::name.ends_with(""),
            common::sql(r#""person"."name" IS NOT NULL"#),
            vec![],
            vec!["ann", "bob", "cid", "dee", "eve"],
        ),
        (
            "in_list",
            Person::id.in_list([1, 3, 99]),
            common::sql(r#""person"."id" IN (?, ?, ?)"#),
            vec![i(1), i(3), i(99)],
            vec!["ann", "cid"],
        ),
        (
            "empty in_list",
            Person::id.in_list(Vec::<i64>::new()),
            empty_in.0,
            empty_in.1,
            vec![],
        ),
        (
            "not_in",
            Person::id.not_in([1, 3]),
            common::sql(r#""person"."id" NOT IN (?, ?)"#),
            vec![i(1), i(3)],
            vec!["bob", "dee", "eve"],
        ),
        (
            "empty not_in",
            Person::id.not_in(Vec::<i64>::new()),
            empty_not_in.0,
            empty_not_in.1,
            vec!["ann", "bob", "cid", "dee", "eve"],
        ),
        (
            "is_null",
            Person::city.is_null(),
            common::sql(r#""person"."city" IS NULL"#),
            vec![],
            vec!["bob", "eve"],
        ),
        (
            "is_not_null",
            Person::city.is_not_null(),
            common::sql(r#""person"."city" IS NOT NULL"#),
            vec![],
            vec!["ann", "cid", "dee"],
        ),
        (
            "eq None",
            Person::city.eq(None::<String>),
            common::sql(r#""person"."city" IS NULL"#),
            vec![],
            vec!["bob", "eve"],
        ),
        (
            "eq on Option",
            Person::city.eq("Rome"),
            common::sql(r#""person"."city" = ?"#),
            vec![t("Rome")],
            vec!["cid"],
        ),
        (
            "between",
            Person::age.between(30, 45),
            common::sql(r#""person"."age" BETWEEN ? AND ?"#),
            vec![i(30), i(45)],
            vec!["ann", "cid", "dee"],
        ),
        (
            "real",
            Person::score.ge(8.0),
            common::sql(r#""person"."score" >= ?"#),
            vec![Value::Real(8.0)],
            vec!["cid", "eve"],
        ),
        (
            "and",
            Person::age.eq(31) & Person::name.ne("ann"),
            common::sql(r#""person"."age" = ? AND "person"."name" <> ?"#),
            vec![i(31), t("ann")],
            vec!["dee"],
        ),
        (
            "or",
            Person::age.lt(20) | Person::age.gt(60),
            common::sql(r#""person"."age" < ? OR "person"."age" > ?"#),
            vec![i(20), i(60)],
            vec!["bob", "eve"],
        ),
        (
            "not",
            !(Person::city.eq("Oslo") | Person::city.is_null()),
            common::sql(r#"NOT ("person"."city" = ? OR "person"."city" IS NULL)"#),
            vec![t("Oslo")],
            vec!["cid"],
        ),
        (
            "nested",
            (Person::age.lt(20) | Person::age.gt(60)) & Person::city.is_null(),
            common::sql(
                r#"("person"."age" < ? OR "person"."age" > ?) AND "person"."city" IS NULL"#,
            ),
            vec![i(20), i(60)],
            vec!["bob", "eve"],
        ),
        (
            "all()",
            Condition::all([]),
            all.0,
            all.1,
            vec!["ann", "bob", "cid", "dee", "eve"],
        ),
        ("any()", Condition::any([]), any.0, any.1, vec![]),
    ]
}

#[test]
fn every_filter_construct_writes_exact_sql_and_matches_the_right_rows() {
    let db = db();
    let s = db.session();
    for (name, cond, clause, params, expected) in filter_cases() {
        let q = s.query::<Person>().filter(cond).order_by(Person::id);
        let (sql, got_params) = q.to_sql().unwrap();
        assert_eq!(
            sql,
            format!(r#"{SELECT} WHERE {clause} ORDER BY "person"."id" ASC"#),
            "{name}"
        );
        assert_eq!(got_params, params, "{name}");
        assert_eq!(names(&q.all().unwrap()), expected, "{name}");
    }
}

#[test]
fn ordering_limit_offset_distinct() {
    let db = db();
    let s = db.session();
    let q = s
        .query::<Person>()
        .order_by(Person::age.desc())
        .order_by(Person::name);
    let (sql, params) = q.to_sql().unwrap();
    assert_eq!(
        sql,
        format!(r#"{SELECT} ORDER BY "person"."age" DESC, "person"."name" ASC"#)
    );
    assert!(params.is_empty());
    assert_eq!(
        names(&q.all().unwrap()),
        ["eve", "cid", "ann", "dee", "bob"]
    );

    let q = s.query::<Person>().order_by(Person::id).limit(2).offset(1);
    let (sql, params) = q.to_sql().unwrap();
    assert_eq!(
        sql,
        common::sql(&format!(
            r#"{SELECT} ORDER BY "person"."id" ASC LIMIT ? OFFSET ?"#
        ))
    );
    assert_eq!(params, [i(2), i(1)]);
    assert_eq!(names(&q.all().unwrap()), ["bob", "cid"]);

    let q = s.query::<Person>().order_by(Person::id).offset(3);
    if common::is_postgres() {
        // PostgreSQL takes an OFFSET alone; SQLite needs `LIMIT -1`.
        let (sql, params) = q.to_sql().unwrap();
        assert_eq!(
            sql,
            format!(r#"{SELECT} ORDER BY "person"."id" ASC OFFSET $1"#)
        );
        assert_eq!(params, [i(3)]);
    } else {
        assert_eq!(q.to_sql().unwrap().1, [i(-1), i(3)]);
    }
    assert_eq!(names(&q.all().unwrap()), ["dee", "eve"]);

    let ages = s.query::<Person>().distinct().select(Person::age);
    let (sql, _) = ages.to_sql().unwrap();
    assert_eq!(sql, r#"SELECT DISTINCT "person"."age" FROM "person""#);
    let mut got: Vec<i64> = ages.all().unwrap();
    got.sort();
    assert_eq!(got, [17, 31, 45, 64]);
}

#[test]
fn dynamic_filter_and_sort_keys_are_looked_up_never_spliced() {
    let db = db();
    let s = db.session();
    // Field name or column name, chosen at run time.
    let q = s
        .query::<Person>()
        .filter_by("city", "Oslo")
        .unwrap()
        .order_by_name("age", true)
        .unwrap();
    let (sql, params) = q.to_sql().unwrap();
    assert_eq!(
        sql,
        common::sql(&format!(
            r#"{SELECT} WHERE "person"."city" = ? ORDER BY "person"."age" DESC"#
        ))
    );
    assert_eq!(params, [t("Oslo")]);
    assert_eq!(names(&q.all().unwrap()), ["ann", "dee"]);
    let nulls = s
        .query::<Person>()
        .filter_by("city", None::<String>)
        .unwrap()
        .count()
        .unwrap();
    assert_eq!(nulls, 2);

    let hostile = [
        "name; DROP TABLE person",
        "(CASE WHEN (SELECT 1) THEN name ELSE id END)",
        "1",
        "name COLLATE NOCASE",
        "\"name\"",
        "person.name",
        "",
        "NAME",
        "name--",
    ];
    for key in hostile {
        assert!(
            matches!(
                s.query::<Person>().filter_by(key, 1),
                Err(Error::UnknownColumn { .. })
            ),
            "{key}"
        );
        assert!(
            matches!(
                s.query::<Person>().order_by_name(key, false),
                Err(Error::UnknownColumn {
                    model: "Person",
                    ..
                })
            ),
            "{key}"
        );
    }
    assert_eq!(
        s.query::<Person>().count().unwrap(),
        5,
        "the table is intact"
    );
}

#[test]
fn terminals_and_their_errors() {
    let db = db();
    let s = db.session();
    // all / first / one / one_or_none / get
    assert_eq!(s.query::<Person>().all().unwrap().len(), 5);
    let first = s
        .query::<Person>()
        .order_by(Person::age)
        .first()
        .unwrap()
        .unwrap();
    assert_eq!(first.read().unwrap().name, "bob");
    assert!(
        s.query::<Person>()
            .filter(Person::age.gt(100))
            .first()
            .unwrap()
            .is_none()
    );
    assert_eq!(
        s.query::<Person>()
            .filter(Person::name.eq("cid"))
            .one()
            .unwrap()
            .read()
            .unwrap()
            .age,
        45
    );
    assert!(
        s.query::<Person>()
            .filter(Person::age.gt(100))
            .one_or_none()
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        s.query::<Person>().filter(Person::age.gt(100)).one(),
        Err(Error::NotFound {
            model: "Person",
            key: None
        })
    ));
    assert!(matches!(
        s.query::<Person>().filter(Person::age.eq(31)).one(),
        Err(Error::MultipleRows { model: "Person" })
    ));
    assert!(matches!(
        s.query::<Person>().filter(Person::age.eq(31)).one_or_none(),
        Err(Error::MultipleRows { .. })
    ));
    assert!(Person::query(&s).get(2).unwrap().is_some());
    assert!(Person::query(&s).get(99).unwrap().is_none());
    match Person::query(&s).get_or_not_found(99) {
        Err(Error::NotFound { model, key }) => {
            assert_eq!((model, key.as_deref()), ("Person", Some("99")))
        }
        other => panic!("{other:?}"),
    }
    assert!(
        s.query::<Person>()
            .filter(Person::age.gt(100))
            .first_or_not_found()
            .unwrap_err()
            .is_not_found()
    );
    // count / exists
    let q = s.query::<Person>().filter(Person::age.eq(31));
    assert_eq!(q.count().unwrap(), 2);
    assert!(q.exists().unwrap());
    assert!(
        !s.query::<Person>()
            .filter(Person::age.gt(100))
            .exists()
            .unwrap()
    );
    let rec = db.record();
    s.query::<Person>()
        .filter(Person::age.eq(31))
        .count()
        .unwrap();
    s.query::<Person>()
        .filter(Person::age.eq(31))
        .exists()
        .unwrap();
    assert_eq!(
        rec.sql(),
        common::sqls([
            r#"SELECT count(*) FROM "person" WHERE "person"."age" = ?"#,
            r#"SELECT EXISTS (SELECT ? FROM "person" WHERE "person"."age" = ?)"#,
        ])
    );
    // Counting a limited query counts the limited rows, through a subquery.
    rec.clear();
    assert_eq!(
        s.query::<Person>()
            .order_by(Person::id)
            .limit(3)
            .count()
            .unwrap(),
        3
    );
    assert!(
        rec.sql()[0].starts_with(r#"SELECT count(*) FROM (SELECT "person"."id""#),
        "{:?}",
        rec.sql()
    );
    // all_detached: plain values, no identity map.
    let plain: Vec<Person> = s
        .query::<Person>()
        .filter(Person::name.eq("ann"))
        .all_detached()
        .unwrap();
    assert_eq!(plain[0].city.as_deref(), Some("Oslo"));
    // A value that cannot be stored fails at the terminal, as a typed error.
    let bad = s.query::<Person>().filter(Person::score.eq(f64::NAN));
    assert!(matches!(bad.to_sql(), Err(Error::Usage(_))));
    assert!(matches!(bad.all(), Err(Error::Usage(_))));
}

#[test]
fn results_go_through_the_identity_map() {
    let db = db();
    let s = db.session();
    let a = s
        .query::<Person>()
        .filter(Person::name.eq("ann"))
        .one()
        .unwrap();
    let b = s
        .query::<Person>()
        .order_by(Person::id)
        .first()
        .unwrap()
        .unwrap();
    assert!(a == b);
    // An object changed in the session is not overwritten by a later load.
    s.set_autoflush(false);
    a.write().unwrap().age = 99;
    let again = s
        .query::<Person>()
        .filter(Person::name.eq("ann"))
        .one()
        .unwrap();
    assert_eq!(again.read().unwrap().age, 99);
    // The detached path reads the database as it is.
    let plain = s
        .query::<Person>()
        .filter(Person::name.eq("ann"))
        .all_detached()
        .unwrap();
    assert_eq!(plain[0].age, 31);
}

#[test]
fn aggregates_group_by_and_having() {
    let db = db();
    let s = db.session();
    let q = s.query::<Person>();
    assert_eq!(q.aggregate(Person::age.sum()).unwrap(), Some(188));
    assert_eq!(q.aggregate(Person::age.min()).unwrap(), Some(17));
    assert_eq!(q.aggregate(Person::age.max()).unwrap(), Some(64));
    assert_eq!(q.aggregate(Person::score.avg()).unwrap(), Some(6.8));
    assert_eq!(q.aggregate(Person::city.count()).unwrap(), 3);
    assert_eq!(q.aggregate(Person::city.count_distinct()).unwrap(), 2);
    assert_eq!(q.aggregate(count()).unwrap(), 5);
    let filtered = s.query::<Person>().filter(Person::age.gt(100));
    assert_eq!(
        filtered.aggregate(Person::age.sum()).unwrap(),
        None,
        "SUM of no rows is NULL"
    );
    assert_eq!(filtered.aggregate(Person::city.min()).unwrap(), None);

    let grouped = s
        .query::<Person>()
        .group_by(Person::age)
        .having(count().ge(2))
        .select((Person::age, count(), Person::score.max()));
    let (sql, params) = grouped.to_sql().unwrap();
    assert_eq!(
        sql,
        common::sql(
            r#"SELECT "person"."age", count(*), max("person"."score") FROM "person" GROUP BY "person"."age" HAVING count(*) >= ?"#
        )
    );
    assert_eq!(params, [i(2)]);
    let rows: Vec<(i64, i64, Option<f64>)> = grouped.all().unwrap();
    assert_eq!(rows, [(31, 2, Some(7.5))]);

    let mut by_city: Vec<(Option<String>, i64)> = s
        .query::<Person>()
        .group_by(Person::city)
        .select((Person::city, count()))
        .all()
        .unwrap();
    if common::is_postgres() {
        // No ORDER BY: PostgreSQL's hashed grouping gives the groups in any
        // order (SQLite's in the order of its sort).
        by_city.sort();
    }
    assert_eq!(
        by_city,
        [
            (None, 2),
            (Some("Oslo".into()), 2),
            (Some("Rome".into()), 1)
        ]
    );
}

#[test]
fn bulk_update_and_delete_and_their_effect_on_session_objects() {
    let db = db();
    let s = db.session();
    let ann = s
        .query::<Person>()
        .filter(Person::name.eq("ann"))
        .one()
        .unwrap();
    let bob = s
        .query::<Person>()
        .filter(Person::name.eq("bob"))
        .one()
        .unwrap();
    let rec = db.record();
    let n = s
        .query::<Person>()
        .filter(Person::city.eq("Oslo"))
        .update([
            Person::score.set(10.0),
            Person::city.set(Some("Bergen".to_string())),
        ])
        .unwrap();
    assert_eq!(n, 2);
    assert_eq!(
        rec.without_transaction_control()[0].sql,
        common::sql(
            r#"UPDATE "person" SET "score" = ?, "city" = ? WHERE "person"."city" = ? RETURNING "id""#
        )
    );
    // Objects whose rows changed are expired and read the new values.
    assert!(ann.is_expired());
    assert_eq!(ann.read().unwrap().city.as_deref(), Some("Bergen"));
    assert!(!bob.is_expired());
    let gone = s
        .query::<Person>()
        .filter(Person::age.lt(20))
        .delete()
        .unwrap();
    assert_eq!(gone, 1);
    assert_eq!(bob.state(), ObjState::Deleted);
    s.commit().unwrap();
    assert_eq!(bob.state(), ObjState::Detached);
    assert_eq!(db.session().query::<Person>().count().unwrap(), 4);
    // Bulk operations apply filters only.
    for bad in [
        s.query::<Person>().limit(1).delete(),
        s.query::<Person>()
            .order_by(Person::id)
            .update([Person::age.set(1)]),
    ] {
        assert!(matches!(bad, Err(Error::Usage(_))));
    }
}

#[test]
fn pagination_and_its_edge_cases() {
    let db = common::fresh::<Person>();
    let s = db.session();
    // An empty result has one empty page, not an error.
    let empty = s.query::<Person>().paginate(1, 10).unwrap();
    assert_eq!((empty.items.len(), empty.total, empty.pages()), (0, 0, 0));
    assert!(!empty.has_prev() && !empty.has_next());
    assert!(empty.iter_pages().is_empty());

    s.add_all((1..=23).map(|n| Person {
        name: format!("p{n:02}"),
        age: n,
        ..Default::default()
    }))
    .unwrap();
    let q = s.query::<Person>().order_by(Person::id);
    let page1 = q.paginate(1, 10).unwrap();
    assert_eq!(
        names(&page1.items),
        (1..=10).map(|n| format!("p{n:02}")).collect::<Vec<_>>()
    );
    assert_eq!(
        (
            page1.total,
            page1.pages(),
            page1.prev_num(),
            page1.next_num()
        ),
        (23, 3, None, Some(2))
    );
    let page3 = q.paginate(3, 10).unwrap();
    assert_eq!(page3.items.len(), 3, "the last page is partial");
    assert!(page3.has_prev() && !page3.has_next());
    // Page 0, a page past the end, and zero items per page are not found
    // (what a web app answers with 404), as in Flask-SQLAlchemy.
    for (page, per_page) in [(0, 10), (4, 10), (99, 10), (1, 0)] {
        assert!(
            q.paginate(page, per_page).unwrap_err().is_not_found(),
            "{page}/{per_page}"
        );
    }
    // Filters apply to the total too.
    let adults = s
        .query::<Person>()
        .filter(Person::age.ge(18))
        .paginate(1, 4)
        .unwrap();
    assert_eq!((adults.total, adults.pages()), (6, 2));

    // Flask-SQLAlchemy's iter_pages with its default widths.
    let big = |page| Page::<()> {
        items: vec![],
        page,
        per_page: 1,
        total: 30,
    };
    assert_eq!(
        big(1).iter_pages(),
        [
            Some(1),
            Some(2),
            Some(3),
            Some(4),
            Some(5),
            None,
            Some(29),
            Some(30)
        ]
    );
    assert_eq!(
        big(15).iter_pages(),
        [
            Some(1),
            Some(2),
            None,
            Some(13),
            Some(14),
            Some(15),
            Some(16),
            Some(17),
            Some(18),
            Some(19),
            None,
            Some(29),
            Some(30)
        ]
    );
    assert_eq!(
        big(30).iter_pages(),
        [Some(1), Some(2), None, Some(28), Some(29), Some(30)]
    );
    let small = Page::<()> {
        items: vec![],
        page: 2,
        per_page: 10,
        total: 35,
    };
    assert_eq!(small.iter_pages(), [Some(1), Some(2), Some(3), Some(4)]);
}

/// `iter_pages_with` added widths to page numbers unchecked: `u64::MAX`
/// panicked with "attempt to add with overflow" in debug builds and gave
/// wrong pages in release; so did a page count of `u64::MAX`.
#[test]
fn iter_pages_with_huge_widths_and_page_counts_does_not_overflow() {
    let max = u64::MAX;
    let page = |page, total| Page::<()> {
        items: vec![],
        page,
        per_page: 1,
        total,
    };
    let every: Vec<Option<u64>> = (1..=9).map(Some).collect();
    for p in 1..=9 {
        assert_eq!(page(p, 9).iter_pages_with(max, max, max, max), every);
        assert_eq!(page(p, 9).iter_pages_with(0, max, max, 0), every);
        assert_eq!(page(p, 9).iter_pages_with(max, 0, 0, 0), every);
    }
    assert_eq!(
        page(3, 9).iter_pages_with(1, 0, max, 0),
        [
            Some(1),
            None,
            Some(3),
            Some(4),
            Some(5),
            Some(6),
            Some(7),
            Some(8),
            Some(9)
        ]
    );
    assert_eq!(
        page(7, 9).iter_pages_with(0, max, 0, 1),
        [
            Some(1),
            Some(2),
            Some(3),
            Some(4),
            Some(5),
            Some(6),
            Some(7),
            None,
            Some(9)
        ]
    );
    // As many pages as a u64 counts, default widths.
    assert_eq!(
        page(max, max).iter_pages(),
        [
            Some(1),
            Some(2),
            None,
            Some(max - 2),
            Some(max - 1),
            Some(max)
        ]
    );
    assert_eq!(
        page(1, max).iter_pages(),
        [
            Some(1),
            Some(2),
            Some(3),
            Some(4),
            Some(5),
            None,
            Some(max - 1),
            Some(max)
        ]
    );
    assert_eq!(
        page(max - 3, max).iter_pages_with(1, 1, max, 1),
        [
            Some(1),
            None,
            Some(max - 4),
            Some(max - 3),
            Some(max - 2),
            Some(max - 1),
            Some(max)
        ]
    );
    assert_eq!(page(1, 9).iter_pages_with(0, 0, 0, max), every);
    // A page number past the last page (a hand-made Page).
    let past = page(max, 9).iter_pages_with(1, 1, max, 1);
    assert!(past.iter().flatten().all(|&n| n <= 9), "{past:?}");
}

#[test]
fn raw_sql_maps_to_models_and_tuples_with_bound_parameters() {
    let db = db();
    let s = db.session();
    let ann = s
        .query::<Person>()
        .filter(Person::name.eq("ann"))
        .one()
        .unwrap();
    let found: Vec<Obj<Person>> = s
        .raw_query(
            raw("SELECT * FROM person WHERE age = ? ORDER BY id;"),
            &orm::params![31],
        )
        .unwrap();
    assert_eq!(names(&found), ["ann", "dee"]);
    assert!(found[0] == ann, "raw results go through the identity map");
    // Columns in another order, and extra ones, are fine.
    let reordered: Vec<Obj<Person>> = s
        .raw_query(
            raw("SELECT score, city, 'x' AS extra, age, name, id FROM person WHERE name = ?"),
            &orm::params!["cid"],
        )
        .unwrap();
    assert_eq!(reordered[0].read().unwrap().age, 45);
    // A missing column is an SQL error naming it.
    let err = s
        .raw_query::<Person>("SELECT id, name FROM person", &[])
        .unwrap_err();
    let missing = if common::is_postgres() {
        r#"column "age" does not exist"#
    } else {
        "no such column"
    };
    assert!(err.to_string().contains(missing), "{err}");

    let rows: Vec<(String, Option<String>)> = s
        .raw_tuples(
            raw("SELECT name, city FROM person WHERE age > ? ORDER BY name"),
            &orm::params![40],
        )
        .unwrap();
    assert_eq!(
        rows,
        [("cid".into(), Some("Rome".into())), ("eve".into(), None)]
    );
    let n: Vec<i64> = s.raw_tuples("SELECT count(*) FROM person", &[]).unwrap();
    assert_eq!(n, [5]);
    // A row that does not fit the tuple is a conversion error.
    let err = s
        .raw_tuples::<(i64,)>("SELECT name FROM person", &[])
        .unwrap_err();
    assert!(matches!(err, Error::Conversion { .. }), "{err:?}");
    // NaN is refused as a parameter.
    let err = s
        .raw_tuples::<(i64,)>(raw("SELECT ?"), &orm::params![f64::NAN])
        .unwrap_err();
    assert!(matches!(err, Error::Conversion { .. }));
}

#[test]
fn hostile_values_round_trip_as_data() {
    let db = common::fresh::<Person>();
    let s = db.session();
    let all_hostile = [
        "'; DROP TABLE person; --",
        "Robert'); DROP TABLE person;--",
        "\" OR \"1\"=\"1",
        "' OR 1=1 --",
        "a\0b",
        "100%",
        "under_score",
        "back\\slash",
        "%_%",
        "\u{202e}reversed",
        "名前 ü",
        "",
        "' UNION SELECT sqlite_version() --",
    ];
    // PostgreSQL's text cannot hold NUL (below); SQLite's can.
    let hostile: Vec<&str> = all_hostile
        .into_iter()
        .filter(|h| !(common::is_postgres() && h.contains('\0')))
        .collect();
    for &h in &hostile {
        s.add(Person {
            name: h.into(),
            ..Default::default()
        })
        .unwrap();
    }
    s.commit().unwrap();
    if common::is_postgres() {
        // Refused by the server, as a typed error; nothing is lost.
        let s = db.session();
        let nul = s
            .add(Person {
                name: "a\0b".into(),
                ..Default::default()
            })
            .unwrap();
        let err = s.commit().unwrap_err();
        assert!(
            matches!(err, Error::Database { .. })
                && err
                    .to_string()
                    .contains(r#"invalid byte sequence for encoding "UTF8": 0x00"#),
            "{err}"
        );
        assert_eq!(nul.state(), ObjState::Pending);
    }
    let s2 = db.session();
    for &h in &hostile {
        let found = s2
            .query::<Person>()
            .filter(Person::name.eq(h))
            .all_detached()
            .unwrap();
        assert_eq!(found.len(), 1, "{h:?}");
        assert_eq!(found[0].name, h, "byte-exact");
    }
    // LIKE helpers escape wildcards: "100%" matches only itself...
    let pct = s2
        .query::<Person>()
        .filter(Person::name.contains("100%"))
        .all_detached()
        .unwrap();
    assert_eq!(
        pct.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        ["100%"]
    );
    // ...and "_" is not "any character" (unescaped, it would match the `'`).
    let raw = s2
        .query::<Person>()
        .filter(Person::name.like("%Robert_)%"))
        .count()
        .unwrap();
    assert_eq!(raw, 1);
    let us = s2
        .query::<Person>()
        .filter(Person::name.contains("Robert_)"))
        .count()
        .unwrap();
    assert_eq!(us, 0);
    let us = s2
        .query::<Person>()
        .filter(Person::name.starts_with("under_"))
        .count()
        .unwrap();
    assert_eq!(us, 1);
    let bs = s2
        .query::<Person>()
        .filter(Person::name.contains("k\\s"))
        .count()
        .unwrap();
    assert_eq!(bs, 1);
    let all_wild = s2
        .query::<Person>()
        .filter(Person::name.contains("%_%"))
        .count()
        .unwrap();
    assert_eq!(all_wild, 1);
    // The schema is unchanged.
    let tables: Vec<String> = s2
        .raw_tuples(
            if common::is_postgres() {
                "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema()"
            } else {
                "SELECT name FROM sqlite_master WHERE type = 'table'"
            },
            &[],
        )
        .unwrap();
    assert_eq!(tables, ["person"]);
    assert_eq!(s2.query::<Person>().count().unwrap(), hostile.len() as u64);
}

#[test]
fn statement_text_never_depends_on_values() {
    let db = db();
    let s = db.session();
    let rec = db.record();
    for v in ["ann", "'; DROP TABLE person; --", "x\"y"] {
        s.query::<Person>()
            .filter(Person::name.eq(v) | Person::city.contains(v))
            .all()
            .unwrap();
    }
    let sql = rec.sql();
    assert_eq!(sql.len(), 3);
    assert!(
        sql.iter().all(|q| *q == sql[0]),
        "same shape, same SQL text (one prepared statement)"
    );
    assert!(!sql[0].contains("ann") && !sql[0].contains("DROP"));
    // Pages of a query share one statement too: limit and offset are bound.
    rec.clear();
    for page in 1..=2 {
        s.query::<Person>()
            .order_by(Person::id)
            .paginate(page, 2)
            .unwrap();
    }
    let pages: Vec<String> = rec
        .sql()
        .into_iter()
        .filter(|q| q.contains("LIMIT"))
        .collect();
    assert_eq!(pages[0], pages[1]);
}

/// `first()` and `one_or_none()` write their fixed LIMIT into the SQL text
/// (SQLite re-prepares a statement with a bound LIMIT at every execution),
/// and a plain `first()` reads one row, not the whole table.
#[test]
fn first_and_one_or_none_write_their_limit_as_text() {
    let db = db();
    let s = db.session();
    let rec = db.record();
    let first = s.query::<Person>().first().unwrap().unwrap();
    assert_eq!(first.read().unwrap().name, "ann");
    let cid = s
        .query::<Person>()
        .filter(Person::name.eq("cid"))
        .one_or_none()
        .unwrap();
    assert_eq!(cid.unwrap().read().unwrap().age, 45);
    let oldest: Option<String> = s
        .query::<Person>()
        .order_by(Person::age.desc())
        .select(Person::name)
        .first()
        .unwrap();
    assert_eq!(oldest.as_deref(), Some("eve"));
    let second = s
        .query::<Person>()
        .order_by(Person::id)
        .offset(1)
        .first()
        .unwrap();
    assert_eq!(second.unwrap().read().unwrap().name, "bob");
    let q = rec.queries();
    assert_eq!(q[0].sql, format!("{SELECT} LIMIT 1"));
    assert!(q[0].params.is_empty());
    assert_eq!(
        q[1].sql,
        common::sql(&format!(r#"{SELECT} WHERE "person"."name" = ? LIMIT 2"#))
    );
    assert_eq!(q[1].params, [Value::Text("cid".into())]);
    assert!(
        q[2].sql
            .ends_with(r#"ORDER BY "person"."age" DESC LIMIT 1"#)
    );
    assert!(q[2].params.is_empty());
    assert_eq!(
        q[3].sql,
        common::sql(&format!(
            r#"{SELECT} ORDER BY "person"."id" ASC LIMIT 1 OFFSET ?"#
        ))
    );
    assert_eq!(q[3].params, [i(1)]);
}

#[test]
fn very_long_in_lists_work() {
    let db = db();
    let s = db.session();
    let ids: Vec<i64> = (0..40_000).collect();
    let q = s.query::<Person>().filter(Person::id.in_list(ids.clone()));
    let (sql, params) = q.to_sql().unwrap();
    if common::is_postgres() {
        // One placeholder each (65,535 at most); SQLite takes one JSON text.
        let list: Vec<String> = (1..=40_000).map(|n| format!("${n}")).collect();
        assert!(sql.ends_with(&format!(r#""person"."id" IN ({})"#, list.join(", "))));
        assert_eq!(params, ids.iter().map(|&n| i(n)).collect::<Vec<_>>());
    } else {
        assert!(sql.ends_with(r#""person"."id" IN (SELECT value FROM json_each(?))"#));
        assert_eq!(params.len(), 1);
    }
    assert_eq!(q.count().unwrap(), 5);
    let names: Vec<String> = (0..5000)
        .map(|n| format!("n{n}"))
        .chain(["cid".into()])
        .collect();
    let found = s
        .query::<Person>()
        .filter(Person::name.in_list(names.iter().map(String::as_str)))
        .all()
        .unwrap();
    assert_eq!(found.len(), 1);
}
