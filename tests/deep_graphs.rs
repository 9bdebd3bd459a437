//! Object graphs whose depth follows user data: a chain of 100,000 linked
//! objects added, cascade-deleted, loaded and dropped, each on a thread with
//! a 2 MiB stack (a tokio worker's) in the default debug test build. A stack
//! overflow aborts the whole process, so each of these would fail the run
//! if any step recursed once per object.

use orm::prelude::*;

const CHAIN: usize = 100_000;

#[derive(Model, Debug, Default)]
#[orm(has_many(next = Node, backref = "prev", cascade = "all, delete-orphan"))]
struct Node {
    #[orm(primary_key)]
    id: i64,
    #[orm(foreign_key = Node::id, index)]
    prev_id: Option<i64>,
    n: i64,
}

/// Run `f` on a thread with a 2 MiB stack and return its result.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("the thread finished without panicking")
}

fn db() -> Database {
    let db = Database::builder()
        .model::<Node>()
        .open("sqlite://")
        .expect("open");
    db.create_all().expect("create_all");
    db
}

/// An unsaved chain: each node in the previous node's `next` collection.
fn transient_chain(len: usize) -> Obj<Node> {
    let head = Obj::new(Node::default());
    let mut last = head.clone();
    for n in 1..len {
        let node = Obj::new(Node {
            n: n as i64,
            ..Default::default()
        });
        last.append(Node::next, &node).expect("append");
        last = node;
    }
    head
}

fn count(db: &Database) -> i64 {
    db.session().query::<Node>().count().expect("count") as i64
}

#[test]
fn adding_the_head_of_a_long_unsaved_chain_adds_every_node() {
    on_small_stack(|| {
        let db = db();
        let s = db.session();
        let head = transient_chain(CHAIN);
        s.add(&head).expect("add");
        s.commit().expect("commit");
        assert_eq!(count(&db), CHAIN as i64);
        // The last node's parent key was filled from the object before it.
        let last = s
            .query::<Node>()
            .filter(Node::n.eq(CHAIN as i64 - 1))
            .one()
            .expect("last");
        assert_eq!(last.read().unwrap().prev_id, Some(CHAIN as i64 - 1));
    });
}

#[test]
fn dropping_an_unsaved_chain_frees_it_without_recursion() {
    on_small_stack(|| {
        let head = transient_chain(CHAIN);
        let weak_tail = {
            let tail = head
                .related(Node::next)
                .expect("next")
                .into_iter()
                .next()
                .expect("second node");
            format!("{:?}", tail.state())
        };
        assert_eq!(weak_tail, "Transient");
        drop(head);
    });
}

/// A committed chain, built row by row with explicit keys.
fn committed_chain(db: &Database, len: usize) {
    let s = db.session();
    s.add_all((1..=len as i64).map(|id| Node {
        id,
        prev_id: (id > 1).then(|| id - 1),
        n: id,
    }))
    .expect("add_all");
    s.commit().expect("commit");
}

#[test]
fn cascade_delete_of_a_long_chain_deletes_every_node() {
    on_small_stack(|| {
        let db = db();
        committed_chain(&db, CHAIN);
        let s = db.session();
        let head = s.get_or_not_found::<Node>(1).expect("head");
        s.delete(&head).expect("delete cascades down the chain");
        s.commit().expect("commit");
        assert_eq!(count(&db), 0);
    });
}

#[test]
fn a_long_chain_loads_navigates_and_drops_with_its_session() {
    on_small_stack(|| {
        let db = db();
        committed_chain(&db, CHAIN);
        let s = db.session();
        let all = s.query::<Node>().order_by(Node::id).all().expect("all");
        assert_eq!(all.len(), CHAIN);
        // Walk the chain through the relationship, loading as it goes.
        let mut node = all[0].clone();
        let mut steps = 0;
        while let Some(next) = node.related(Node::next).expect("next").into_iter().next() {
            node = next;
            steps += 1;
        }
        assert_eq!(steps, CHAIN - 1);
        drop(all);
        drop(s);
        drop(node);
    });
}

/// Two rows pointing at each other through a `delete` cascade: deleting one
/// reaches the other and back. The walk must end (it used to recurse until
/// the stack overflowed); the flush then reports the cycle it cannot order.
#[test]
fn a_cascade_delete_through_a_cycle_ends() {
    on_small_stack(|| {
        let db = db();
        committed_chain(&db, 2);
        let s = db.session();
        let first = s.get_or_not_found::<Node>(1).expect("first");
        first.write().expect("write").prev_id = Some(2);
        s.commit().expect("close the cycle");
        s.delete(&first).expect("delete walks the cycle once");
        let second = s.get_or_not_found::<Node>(2);
        assert!(
            second.is_err() || second.is_ok_and(|n| n.state() == ObjState::Deleted),
            "the cascade reached the other row"
        );
        let err = s.commit().expect_err("a delete cycle cannot be ordered");
        assert!(matches!(err, orm::Error::Schema(_)), "{err:?}");
        assert_eq!(count(&db), 2, "nothing was deleted");
    });
}
