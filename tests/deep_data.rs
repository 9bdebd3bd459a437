//! Conditions built from long or deep user data: thousands of chained
//! filters, negations and list items, and a pathological nesting. Each test
//! runs on a thread with a 2 MiB stack (what tokio and spawned threads get)
//! in the default debug build, against a real in-memory database: writing
//! the SQL must not overflow the stack, and SQLite must accept what is
//! written (it refuses expression trees deeper than 1,000).

mod common;

use orm::Error;
use orm::prelude::*;
use orm::query::Condition;

#[derive(Model, Debug, Default, Clone, PartialEq)]
struct Item {
    #[orm(primary_key)]
    id: i64,
    n: i64,
}

const N: i64 = 10_000;

/// Run `f` on a thread with a 2 MiB stack, passing its panics on.
fn on_small_stack(f: impl FnOnce() + Send + 'static) {
    let handle = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(f)
        .expect("spawn a thread");
    if let Err(panic) = handle.join() {
        std::panic::resume_unwind(panic);
    }
}

/// Twenty rows, `n` = 0..20.
fn db() -> Database {
    let db = common::fresh::<Item>();
    let s = db.session();
    s.add_all((0..20).map(|n| Item {
        n,
        ..Default::default()
    }))
    .expect("add");
    s.commit().expect("commit");
    db
}

fn ns(objs: &[Obj<Item>]) -> Vec<i64> {
    let mut v: Vec<i64> = objs.iter().map(|o| o.read().expect("read").n).collect();
    v.sort();
    v
}

#[test]
fn ten_thousand_chained_filters() {
    on_small_stack(|| {
        let db = db();
        let s = db.session();
        let mut q = s.query::<Item>().filter(Item::n.lt(10));
        // Values no row holds, so only the first filter removes rows.
        for k in 0..N {
            q = q.filter(Item::n.ne(1_000 + k));
        }
        assert_eq!(q.count().expect("count"), 10);
        assert_eq!(ns(&q.all().expect("all")), (0..10).collect::<Vec<_>>());
        assert_eq!(q.clone().limit(3).count().expect("count of a subquery"), 3);
        let (sql, params) = q.to_sql().expect("to_sql");
        assert_eq!(params.len(), N as usize + 1);
        // Written in groups of groups: SQLite refuses a flat list this long.
        assert!(
            sql.contains(r#"WHERE (("item"."n" < ? AND "item"."n" <> ?"#),
            "{}",
            &sql[..200]
        );
    });
}

#[test]
fn ten_thousand_nested_nots() {
    on_small_stack(|| {
        let db = db();
        let s = db.session();
        let mut even = Item::n.lt(5);
        let mut odd = Item::n.lt(5);
        for _ in 0..N {
            even = even.not();
            odd = !odd;
        }
        odd = odd.not();
        assert_eq!(
            s.query::<Item>()
                .filter(even.clone())
                .count()
                .expect("count"),
            5
        );
        assert_eq!(
            s.query::<Item>()
                .filter(odd.clone())
                .count()
                .expect("count"),
            15
        );
        // An even number of NOTs is the condition itself.
        assert_eq!(even, Item::n.lt(5));
        let (sql, _) = s.query::<Item>().filter(odd).to_sql().expect("to_sql");
        assert!(sql.ends_with(r#"WHERE NOT "item"."n" < ?"#), "{sql}");
    });
}

#[test]
fn all_and_any_of_ten_thousand_conditions() {
    on_small_stack(|| {
        let db = db();
        let s = db.session();
        let all = Condition::all(
            std::iter::once(Item::n.lt(10)).chain((0..N).map(|k| Item::n.ne(1_000 + k))),
        );
        let rows = s.query::<Item>().filter(all).all().expect("all");
        assert_eq!(ns(&rows), (0..10).collect::<Vec<_>>());

        let any = Condition::any(
            (0..N)
                .map(|k| Item::n.eq(1_000 + k))
                .chain([Item::n.eq(3), Item::n.eq(17)]),
        );
        let rows = s.query::<Item>().filter(any).all().expect("all");
        assert_eq!(ns(&rows), [3, 17]);

        // The same lists folded with the operators, left to right.
        let anded = (0..N)
            .map(|k| Item::n.ne(1_000 + k))
            .fold(Item::n.ge(15), |acc, c| acc & c);
        assert_eq!(s.query::<Item>().filter(anded).count().expect("count"), 5);
        let ored = (0..N)
            .map(|k| Item::n.eq(1_000 + k))
            .fold(Item::n.eq(0), |acc, c| acc | c);
        assert_eq!(s.query::<Item>().filter(ored).count().expect("count"), 1);
        // And right to left.
        let anded = (0..N)
            .map(|k| Item::n.ne(1_000 + k))
            .rev()
            .fold(Item::n.ge(15), |acc, c| c.and(acc));
        assert_eq!(s.query::<Item>().filter(anded).count().expect("count"), 5);

        // Lists inside lists: an OR of 100 ANDs of 100 conditions each.
        let nested = Condition::any((0..100).map(|g| {
            Condition::all(
                (0..100)
                    .map(|k| Item::n.ne(1_000 + k))
                    .chain([Item::n.eq(g)]),
            )
        }));
        assert_eq!(s.query::<Item>().filter(nested).count().expect("count"), 20);
    });
}

#[test]
fn ten_thousand_havings() {
    on_small_stack(|| {
        let db = db();
        let s = db.session();
        let mut q = s.query::<Item>().group_by(Item::n);
        for k in 0..N {
            q = q.having(orm::query::count().ne(1_000 + k));
        }
        let groups: Vec<i64> = q.select(Item::n).all().expect("all");
        assert_eq!(groups.len(), 20);
    });
}

#[test]
fn pathological_alternating_nesting_is_a_typed_error() {
    on_small_stack(|| {
        let db = db();
        let s = db.session();
        // a.or(b.and(c.or(d.and(...)))), built from the inside out.
        let mut c = Item::n.eq(0);
        for k in 0..N {
            let leaf = Item::n.eq(k % 20);
            c = if k % 2 == 0 { leaf.or(c) } else { leaf.and(c) };
        }
        let q = s.query::<Item>().filter(c.clone());
        for err in [
            q.to_sql().map(|_| ()).unwrap_err(),
            q.count().map(|_| ()).unwrap_err(),
            q.all().map(|_| ()).unwrap_err(),
        ] {
            match err {
                Error::Usage(message) => assert!(message.contains("nested"), "{message}"),
                other => panic!("expected Error::Usage, got {other:?}"),
            }
        }
        // Clones and drops of the condition are fine too.
        drop(c.clone());
        drop(c);
    });
}

/// The deepest nesting conditions may have (documented on `Condition`):
/// 128 levels of AND, OR and NOT inside each other, written on a 2 MiB
/// stack and accepted by SQLite; one more level is a typed error.
#[test]
fn nesting_up_to_the_limit_works_and_one_more_level_is_refused() {
    fn nested(levels: i64, negate: bool) -> Condition {
        // n = k OR (n = k' AND (n = k'' OR (...))), NOT around every
        // third level when `negate`.
        let mut c = Item::n.eq(-1);
        let mut depth = 0;
        let mut k = 0;
        while depth < levels {
            let leaf = Item::n.eq(k % 20);
            c = if k % 2 == 0 { leaf.or(c) } else { leaf.and(c) };
            depth += 1;
            if negate && k % 3 == 0 && depth < levels {
                c = c.not();
                depth += 1;
            }
            k += 1;
        }
        c
    }
    fn expected(levels: i64, negate: bool) -> Vec<i64> {
        (0..20)
            .filter(|&n| {
                let mut v = n == -1;
                let mut depth = 0;
                let mut k = 0;
                while depth < levels {
                    let leaf = n == k % 20;
                    v = if k % 2 == 0 { leaf || v } else { leaf && v };
                    depth += 1;
                    if negate && k % 3 == 0 && depth < levels {
                        v = !v;
                        depth += 1;
                    }
                    k += 1;
                }
                v
            })
            .collect()
    }
    on_small_stack(|| {
        let db = db();
        let s = db.session();
        for negate in [false, true] {
            let c = nested(128, negate);
            let rows = s.query::<Item>().filter(c.clone()).all().expect("all");
            assert_eq!(ns(&rows), expected(128, negate), "negate: {negate}");
            // With a filter on top (one more AND level in the statement).
            let count = s
                .query::<Item>()
                .filter(Item::n.ge(0))
                .filter(c)
                .count()
                .expect("count");
            assert_eq!(count, expected(128, negate).len() as u64);
            let too_deep = nested(129, negate);
            let err = s.query::<Item>().filter(too_deep).count().unwrap_err();
            assert!(matches!(err, Error::Usage(_)), "{err:?}");
        }
    });
}
