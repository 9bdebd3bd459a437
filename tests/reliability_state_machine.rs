//! Model-based test of the session: random sequences of add, change, delete,
//! expunge, raw `UPDATE`s (`execute`), relationship link and unlink, flush,
//! commit, rollback, savepoints
//! (`begin_nested`, rollback to and release of any open one), expire,
//! refresh, query and get on two related models (the parent with a version
//! counter), checked after every step against a plain in-memory model of
//! the committed rows, the open transaction's rows, and every tracked
//! object's state and values (versions included).
//!
//! Some steps run while a `read()` or `write()` guard of one object is
//! alive (flush, commit, rollback, expire, expire_all, refresh): each must
//! either do exactly what the model says it does without the guard, or fail
//! with `BorrowConflict` having changed nothing at all (the next check
//! compares everything with the unchanged model), and it may only fail so
//! when the guarded object is one the operation has to touch.
//!
//! It runs on the backend under test (see `common`): on SQLite the model
//! also predicts every generated key (the largest plus one); on PostgreSQL
//! keys come from sequences that rollbacks do not take back, so the model
//! takes each inserted object's key from the session after a successful
//! flush, and checks everything else.
//!
//! CI runs `ORM_SM_CASES` sequences (default 5,000; 2,000 on a server) from a fixed seed. Soak:
//! `ORM_SM_CASES=100000 cargo test --release --test reliability_state_machine -- --nocapture`.
//! A failing sequence is shrunk by proptest and printed; it then becomes a
//! regression test at the end of this file.

mod common;
#[path = "common/figures.rs"]
mod figures;

use std::collections::BTreeMap;

use orm::prelude::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

#[derive(Model, Debug, Default, Clone, PartialEq)]
#[orm(has_many(children = Child, backref = "parent"))]
pub struct Parent {
    #[orm(primary_key)]
    pub id: i64,
    pub value: i64,
    #[orm(version)]
    pub version: i64,
}

#[derive(Model, Debug, Default, Clone, PartialEq)]
pub struct Child {
    #[orm(primary_key)]
    pub id: i64,
    pub label: i64,
    #[orm(foreign_key = Parent::id)]
    pub parent_id: Option<i64>,
}

/// One step. Object indices are taken modulo the number of objects.
#[derive(Debug, Clone)]
pub enum Op {
    AddParent(i64),
    /// That many new parents at once: enough for a multi-row INSERT.
    AddParents(u8),
    AddChild(Option<u8>),
    SetValue(u8, i64),
    Link(u8, Option<u8>),
    Delete(u8),
    /// `expunge()` of a parent no child was linked to since the last
    /// commit (now or at an open savepoint) and not marked for deletion,
    /// or of a child with no parent.
    /// The others are passed over: what the next flush does with them
    /// depends on whether a flush read the link already, and on which
    /// parents' collections are loaded (a deletion's cascade runs in memory
    /// at once for a loaded collection, and is left to the flush, which an
    /// expunge takes it out of, for one that is not), neither of which the
    /// model tracks (tests/relationships.rs and tests/session.rs cover
    /// them).
    Expunge(u8),
    Flush,
    Commit,
    Rollback,
    Expire(u8),
    ExpireAll,
    Refresh(u8),
    Query,
    GetParent(u8),
    /// `execute("UPDATE parent SET value = ? WHERE id = ?")`: a write
    /// outside the unit of work, of a row no object of the session holds
    /// (one that did would keep its values, which the model does not
    /// follow through savepoint rollbacks; `Session::execute` says to
    /// expire such objects).
    Execute(u8, i64),
    GetChild(u8),
    /// `begin_nested()`.
    BeginNested,
    /// Roll back the n-th open savepoint (modulo their number).
    RollbackNested(u8),
    /// Release (commit) the n-th open savepoint.
    ReleaseNested(u8),
    /// `op` with a `write()` (or `read()`) guard of object `on` alive.
    Guarded {
        write: bool,
        on: u8,
        op: GuardedOp,
    },
}

/// What runs under a guard. `None`: the guarded object itself.
#[derive(Debug, Clone)]
pub enum GuardedOp {
    Flush,
    Commit,
    Rollback,
    Expire(Option<u8>),
    ExpireAll,
    Refresh(Option<u8>),
    RollbackNested(u8),
}

fn guarded_op() -> impl Strategy<Value = GuardedOp> {
    let target = || proptest::option::of(any::<u8>());
    prop_oneof![
        2 => Just(GuardedOp::Flush),
        2 => Just(GuardedOp::Commit),
        2 => Just(GuardedOp::Rollback),
        1 => target().prop_map(GuardedOp::Expire),
        1 => Just(GuardedOp::ExpireAll),
        1 => target().prop_map(GuardedOp::Refresh),
        1 => any::<u8>().prop_map(GuardedOp::RollbackNested),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0i64..50).prop_map(Op::AddParent),
        1 => (16u8..=40).prop_map(Op::AddParents),
        3 => proptest::option::of(any::<u8>()).prop_map(Op::AddChild),
        3 => (any::<u8>(), 0i64..50).prop_map(|(h, v)| Op::SetValue(h, v)),
        3 => (any::<u8>(), proptest::option::of(any::<u8>())).prop_map(|(c, p)| Op::Link(c, p)),
        2 => any::<u8>().prop_map(Op::Delete),
        1 => any::<u8>().prop_map(Op::Expunge),
        2 => Just(Op::Flush),
        3 => Just(Op::Commit),
        2 => Just(Op::Rollback),
        1 => any::<u8>().prop_map(Op::Expire),
        1 => Just(Op::ExpireAll),
        1 => any::<u8>().prop_map(Op::Refresh),
        1 => Just(Op::Query),
        1 => (0u8..8).prop_map(Op::GetParent),
        1 => (0u8..8, 0i64..50).prop_map(|(id, v)| Op::Execute(id, v)),
        1 => (0u8..8).prop_map(Op::GetChild),
        2 => Just(Op::BeginNested),
        2 => any::<u8>().prop_map(Op::RollbackNested),
        1 => any::<u8>().prop_map(Op::ReleaseNested),
        3 => (any::<bool>(), any::<u8>(), guarded_op())
            .prop_map(|(write, on, op)| Op::Guarded { write, on, op }),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    P,
    C,
}

/// Rows: for a parent `(value, version)`, for a child `(label, parent_id)`.
#[derive(Debug, Clone, Default, PartialEq)]
struct Rows {
    parents: BTreeMap<i64, (i64, i64)>,
    children: BTreeMap<i64, (i64, Option<i64>)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum St {
    Transient,
    Pending,
    Persistent,
    Marked,
    Deleted,
    Detached,
}

impl St {
    fn public(self) -> ObjState {
        match self {
            St::Transient => ObjState::Transient,
            St::Pending => ObjState::Pending,
            St::Persistent => ObjState::Persistent,
            St::Marked | St::Deleted => ObjState::Deleted,
            St::Detached => ObjState::Detached,
        }
    }
}

/// What the model knows of one tracked object.
#[derive(Debug, Clone)]
struct Obj0 {
    kind: Kind,
    st: St,
    id: i64,
    /// Parent: `value`; child: `label`.
    val: i64,
    /// Child only: the foreign key field.
    fk: Option<i64>,
    /// Parent only: the version counter.
    ver: i64,
    /// Column values as of the last load or flush.
    snap: (i64, Option<i64>),
    expired: bool,
    /// Child only: a parent assigned through the relationship since the last
    /// commit (`Some(None)`: assigned "no parent").
    link: Option<Option<usize>>,
    inserted_txn: bool,
    updated_txn: bool,
    deleted_txn: bool,
    /// Child only: the foreign key before the insert filled it.
    fk_before_insert: Option<i64>,
    /// Position in the session's add order (inserts run in this order).
    seq: u64,
    /// Child only: when it was last linked (a parent's collection is in
    /// this order).
    linked_at: u64,
    /// Expunged (and not back in the session): commits and rollbacks leave
    /// it as it is, but for undoing an insert of theirs.
    expunged: bool,
}

impl Obj0 {
    /// What a rollback does to an object its transaction inserted:
    /// transient, the key generated for it and the foreign key filled in
    /// it put back.
    fn undo_insert(&mut self) {
        self.st = St::Transient;
        self.id = 0;
        self.ver = 0;
        if let Some(before) = self.fk_before_insert {
            self.fk = if before == -1 { None } else { Some(before) };
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Expect {
    Ok,
    Err,
}

#[derive(Debug, Default, Clone)]
struct Model0 {
    committed: Rows,
    txn: Option<Rows>,
    objs: Vec<Obj0>,
    next_seq: u64,
    /// The model as each open savepoint found it, innermost last.
    marks: Vec<Model0>,
    /// An object the transaction may have written was expunged: a rollback
    /// expires every persistent object.
    untracked: bool,
}

impl Model0 {
    fn view(&self) -> &Rows {
        self.txn.as_ref().unwrap_or(&self.committed)
    }

    fn in_map(&self, kind: Kind, id: i64) -> Option<usize> {
        self.objs.iter().position(|o| {
            o.kind == kind && o.id == id && matches!(o.st, St::Persistent | St::Marked)
        })
    }

    fn new_obj(&mut self, kind: Kind, st: St, id: i64, val: i64, fk: Option<i64>) -> usize {
        self.objs.push(Obj0 {
            kind,
            st,
            id,
            val,
            fk,
            ver: 0,
            snap: (val, fk),
            expired: false,
            link: None,
            inserted_txn: false,
            updated_txn: false,
            deleted_txn: false,
            fk_before_insert: None,
            seq: self.next_seq,
            linked_at: 0,
            expunged: false,
        });
        self.next_seq += 1;
        self.objs.len() - 1
    }

    /// Reload an expired object (what `read()` does): `false` if its row is gone.
    fn reload(&mut self, i: usize) -> bool {
        let o = &self.objs[i];
        let row = match o.kind {
            Kind::P => self.view().parents.get(&o.id).map(|(v, n)| (*v, None, *n)),
            Kind::C => self.view().children.get(&o.id).map(|(l, f)| (*l, *f, 0)),
        };
        let o = &mut self.objs[i];
        match row {
            Some((v, f, n)) => {
                o.val = v;
                o.fk = f;
                o.ver = n;
                o.snap = (v, f);
                o.expired = false;
                true
            }
            None => {
                o.st = St::Detached;
                o.link = None;
                false
            }
        }
    }

    /// `refresh()` of object `i`: `Err` when the model says it fails.
    fn refresh(&mut self, i: usize) -> Expect {
        match self.objs[i].st {
            St::Transient | St::Detached => Expect::Err,
            St::Persistent => {
                if self.reload(i) {
                    Expect::Ok
                } else {
                    Expect::Err
                }
            }
            _ => Expect::Ok,
        }
    }

    /// Whether a flush, commit or rollback has to touch object `i` (write
    /// it, fill its key, restore its generated key): only then may a
    /// guard of it make the operation fail.
    fn involved(&self, i: usize) -> bool {
        let o = &self.objs[i];
        let dirty = o.st == St::Persistent && !o.expired && (o.val, o.fk) != o.snap;
        let linked_to = (0..self.objs.len()).any(|c| self.objs[c].link == Some(Some(i)));
        matches!(o.st, St::Pending | St::Marked)
            || o.inserted_txn
            || o.link.is_some()
            || dirty
            || linked_to
    }

    /// The parent a child will point at after the next flush.
    fn effective_parent(&self, c: usize) -> Option<usize> {
        match self.objs[c].link {
            Some(target) => target,
            None => self.objs[c].fk.and_then(|id| self.in_map(Kind::P, id)),
        }
    }

    /// Flush in the model: `Err` leaves everything as it was. `ids` gives
    /// the key the database generated for pending object `i`, when the
    /// model cannot predict it (see the module's docs).
    fn flush(&mut self, ids: &dyn Fn(usize) -> Option<i64>) -> Expect {
        // The delete cascades left to the flush come first and stay done
        // if the flush fails: children loaded since their parent was
        // marked lose it, as those in memory then did.
        for p in 0..self.objs.len() {
            if self.objs[p].kind == Kind::P && self.objs[p].st == St::Marked {
                let id = Some(self.objs[p].id);
                for c in 0..self.objs.len() {
                    let o = &mut self.objs[c];
                    if o.kind == Kind::C
                        && matches!(o.st, St::Pending | St::Persistent)
                        && o.link.is_none()
                        && o.fk == id
                    {
                        o.link = Some(None);
                    }
                }
            }
        }
        let mut view = self.view().clone();
        let mut objs = self.objs.clone();
        // Assigned parents must be in the session and alive.
        for o in &objs {
            if let (Kind::C, Some(Some(t)), St::Pending | St::Persistent) = (o.kind, o.link, o.st)
                && !matches!(objs[t].st, St::Pending | St::Persistent)
            {
                return Expect::Err;
            }
        }
        let mut pending: Vec<usize> = (0..objs.len())
            .filter(|&i| objs[i].st == St::Pending)
            .collect();
        pending.sort_by_key(|&i| objs[i].seq);
        let changed = |o: &Obj0| o.st == St::Persistent && !o.expired && (o.val, o.fk) != o.snap;
        let nothing = pending.is_empty()
            && !objs.iter().any(|o| o.st == St::Marked)
            && !objs.iter().any(changed)
            && !(0..objs.len()).any(|i| {
                objs[i].kind == Kind::C
                    && objs[i].st == St::Persistent
                    && objs[i].link.is_some()
                    && self.desired_fk(&objs, i) != objs[i].fk
            });
        if nothing {
            return Expect::Ok;
        }
        // Parents: updates (each bumps the version), then inserts.
        for o in objs.iter_mut().filter(|o| o.kind == Kind::P) {
            if changed(o) {
                o.ver += 1;
                view.parents.insert(o.id, (o.val, o.ver));
            }
        }
        let pending_parents: Vec<usize> = pending
            .iter()
            .copied()
            .filter(|&i| objs[i].kind == Kind::P)
            .collect();
        let pending_children: Vec<usize> = pending
            .iter()
            .copied()
            .filter(|&i| objs[i].kind == Kind::C)
            .collect();
        for &i in &pending_parents {
            let id = ids(i).unwrap_or_else(|| view.parents.keys().next_back().map_or(1, |m| m + 1));
            if objs[i].ver == 0 {
                objs[i].ver = 1;
            }
            view.parents.insert(id, (objs[i].val, objs[i].ver));
            objs[i].id = id;
        }
        // Children: fill keys from assigned parents (now with ids).
        let children: Vec<usize> = (0..objs.len())
            .filter(|&i| objs[i].kind == Kind::C)
            .collect();
        for &i in &children {
            // What a rollback puts back into an object this transaction
            // inserts: its key before any fill.
            if objs[i].st == St::Pending && objs[i].fk_before_insert.is_none() {
                objs[i].fk_before_insert = Some(objs[i].fk.unwrap_or(-1));
            }
            if matches!(objs[i].st, St::Pending | St::Persistent) && objs[i].link.is_some() {
                objs[i].fk = self.desired_fk(&objs, i);
            }
        }
        for &i in &children {
            let o = &objs[i];
            if changed(o) {
                if let Some(p) = o.fk
                    && !view.parents.contains_key(&p)
                {
                    return Expect::Err;
                }
                view.children.insert(o.id, (o.val, o.fk));
            }
        }
        for &i in &pending_children {
            if let Some(p) = objs[i].fk
                && !view.parents.contains_key(&p)
            {
                return Expect::Err;
            }
            let id =
                ids(i).unwrap_or_else(|| view.children.keys().next_back().map_or(1, |m| m + 1));
            view.children.insert(id, (objs[i].val, objs[i].fk));
            objs[i].id = id;
        }
        // Rows of a deleted parent's children that are not in memory: the
        // cascade loaded them and set their foreign key to NULL.
        for o in objs
            .iter()
            .filter(|o| o.st == St::Marked && o.kind == Kind::P)
        {
            let orphans: Vec<i64> = view
                .children
                .iter()
                .filter(|(cid, (_, f))| *f == Some(o.id) && self.in_map(Kind::C, **cid).is_none())
                .map(|(cid, _)| *cid)
                .collect();
            for cid in orphans {
                if let Some(row) = view.children.get_mut(&cid) {
                    row.1 = None;
                }
            }
        }
        // Deletes: children, then parents (a parent still referenced fails).
        for o in objs
            .iter()
            .filter(|o| o.st == St::Marked && o.kind == Kind::C)
        {
            view.children.remove(&o.id);
        }
        for o in objs
            .iter()
            .filter(|o| o.st == St::Marked && o.kind == Kind::P)
        {
            if view.children.values().any(|(_, f)| *f == Some(o.id)) {
                return Expect::Err;
            }
            view.parents.remove(&o.id);
        }
        // Success: every object moves on.
        for o in objs.iter_mut() {
            match o.st {
                St::Pending => {
                    o.st = St::Persistent;
                    o.inserted_txn = true;
                    o.snap = (o.val, o.fk);
                }
                St::Persistent if !o.expired && (o.val, o.fk) != o.snap => {
                    o.updated_txn = true;
                    o.snap = (o.val, o.fk);
                }
                St::Marked => {
                    o.st = St::Deleted;
                    o.deleted_txn = true;
                }
                _ => {}
            }
        }
        self.objs = objs;
        self.txn = Some(view);
        Expect::Ok
    }

    fn desired_fk(&self, objs: &[Obj0], c: usize) -> Option<i64> {
        match objs[c].link {
            Some(Some(t)) => Some(objs[t].id),
            Some(None) => None,
            None => objs[c].fk,
        }
    }

    fn commit(&mut self, ids: &dyn Fn(usize) -> Option<i64>) -> Expect {
        if self.flush(ids) == Expect::Err {
            return Expect::Err;
        }
        if let Some(view) = self.txn.take() {
            self.committed = view;
        }
        self.marks.clear();
        self.untracked = false;
        for o in &mut self.objs {
            if o.st == St::Deleted {
                o.st = St::Detached;
            }
            o.inserted_txn = false;
            o.updated_txn = false;
            o.deleted_txn = false;
            o.fk_before_insert = None;
            // Assignments in the session became foreign keys; a transient
            // object's in-memory links stay.
            if o.st != St::Transient {
                o.link = None;
            }
        }
        Expect::Ok
    }

    fn rollback(&mut self) {
        self.txn = None;
        self.marks.clear();
        let untracked = std::mem::take(&mut self.untracked);
        for o in &mut self.objs {
            // Expired with the transaction's work (those it inserted become
            // transient first; those marked but not yet deleted are
            // restored after).
            if untracked && o.st == St::Persistent && !o.inserted_txn {
                o.expired = true;
            }
            // Only the session's objects lose their relationship state.
            let in_session = matches!(
                o.st,
                St::Pending | St::Persistent | St::Marked | St::Deleted
            );
            if in_session {
                o.link = None;
            }
            if o.inserted_txn {
                o.undo_insert();
            } else if o.expunged {
                // No longer the session's.
            } else if o.updated_txn || o.deleted_txn {
                o.st = St::Persistent;
                o.expired = true;
            } else {
                match o.st {
                    St::Pending => o.st = St::Transient,
                    St::Marked => o.st = St::Persistent,
                    _ => {}
                }
                if o.st == St::Persistent && !o.expired {
                    (o.val, o.fk) = o.snap;
                }
            }
            o.inserted_txn = false;
            o.updated_txn = false;
            o.deleted_txn = false;
            o.fk_before_insert = None;
        }
    }

    /// `begin_nested()`: a flush, then the transaction (opened if needed)
    /// and every object as they are now are what a rollback to it restores.
    fn begin_nested(&mut self, ids: &dyn Fn(usize) -> Option<i64>) -> Expect {
        if self.flush(ids) == Expect::Err {
            return Expect::Err;
        }
        if self.txn.is_none() {
            self.txn = Some(self.committed.clone());
        }
        let mut mark = self.clone();
        mark.marks.clear();
        self.marks.push(mark);
        Expect::Ok
    }

    /// Release savepoint `k` (and those inside it): a flush, then its work
    /// belongs to the enclosing level.
    fn release_nested(&mut self, k: usize, ids: &dyn Fn(usize) -> Option<i64>) -> Expect {
        if self.flush(ids) == Expect::Err {
            return Expect::Err;
        }
        self.marks.truncate(k);
        Expect::Ok
    }

    /// Roll back to savepoint `k`: the transaction's rows and every object
    /// that was in the session then are as they were; objects added or
    /// inserted since are transient; objects loaded since are expired.
    fn rollback_nested(&mut self, k: usize) {
        let mark = self.marks[k].clone();
        self.marks.truncate(k);
        self.txn = mark.txn.clone();
        let in_session =
            |st: St| matches!(st, St::Pending | St::Persistent | St::Marked | St::Deleted);
        for i in 0..self.objs.len() {
            if self.objs[i].expunged {
                // Only an insert made since the savepoint is undone.
                let before = mark.objs.get(i).is_some_and(|o| o.inserted_txn);
                let o = &mut self.objs[i];
                if o.inserted_txn && !before {
                    o.undo_insert();
                    o.inserted_txn = false;
                    o.fk_before_insert = None;
                }
                continue;
            }
            if let Some(then) = mark.objs.get(i).filter(|o| in_session(o.st)) {
                let (val, fk) = (self.objs[i].val, self.objs[i].fk);
                self.objs[i] = then.clone();
                if then.st == St::Deleted {
                    // Deleted before the savepoint: changes to it are not
                    // tracked, so none is undone.
                    (self.objs[i].val, self.objs[i].fk) = (val, fk);
                }
                continue;
            }
            let o = &mut self.objs[i];
            if o.inserted_txn {
                o.undo_insert();
                o.link = None;
            } else if o.st == St::Pending {
                o.st = St::Transient;
                o.link = None;
            } else if in_session(o.st) {
                // Loaded inside the savepoint.
                o.st = St::Persistent;
                o.expired = true;
                o.link = None;
            }
            o.inserted_txn = false;
            o.updated_txn = false;
            o.deleted_txn = false;
            o.fk_before_insert = None;
        }
    }

    /// Joining a session through a relationship (the save-update cascade):
    /// a re-added object goes to the end of the add order, and new objects
    /// linked to it in memory follow (depth first; a parent's children in
    /// the order they were linked).
    fn cascade_in(&mut self, i: usize) {
        if self.objs[i].st != St::Transient {
            return;
        }
        self.objs[i].st = St::Pending;
        self.objs[i].expunged = false;
        self.objs[i].seq = self.next_seq;
        self.next_seq += 1;
        let related: Vec<usize> = match self.objs[i].kind {
            Kind::C => self.objs[i].link.flatten().into_iter().collect(),
            Kind::P => {
                let mut kids: Vec<usize> = (0..self.objs.len())
                    .filter(|&c| self.objs[c].kind == Kind::C && self.objs[c].link == Some(Some(i)))
                    .collect();
                kids.sort_by_key(|&c| self.objs[c].linked_at);
                kids
            }
        };
        for r in related {
            self.cascade_in(r);
        }
    }
}

/// One database reused by every sequence of a test (emptied before each),
/// and a peer that sees what other programs see.
struct Fixture {
    _dir: Option<tempfile::TempDir>,
    db: Database,
    peer: Peer,
}

/// Another client of the database under test: on SQLite a plain rusqlite
/// connection to the file, on a server a second `Database` (its own
/// connections) reading in autocommit.
enum Peer {
    Sqlite(rusqlite::Connection),
    Server(Database),
}

impl Peer {
    fn empty_tables(&self) {
        match self {
            Peer::Sqlite(c) => c
                .execute_batch("DELETE FROM child; DELETE FROM parent;")
                .unwrap(),
            Peer::Server(db) => {
                let s = db.session();
                // Sequences restart, so `Get` of small keys keeps hitting rows.
                s.execute("TRUNCATE child, parent RESTART IDENTITY", &[])
                    .unwrap();
                s.commit().unwrap();
            }
        }
    }

    /// The committed rows.
    fn rows(&self) -> Rows {
        type ChildRow = (i64, i64, Option<i64>);
        let (parents, children): (Vec<(i64, i64, i64)>, Vec<ChildRow>) = match self {
            Peer::Sqlite(c) => {
                let mut st = c.prepare("SELECT id, value, version FROM parent").unwrap();
                let parents = st
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .unwrap()
                    .map(Result::unwrap)
                    .collect();
                let mut st = c.prepare("SELECT id, label, parent_id FROM child").unwrap();
                let children = st
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .unwrap()
                    .map(Result::unwrap)
                    .collect();
                (parents, children)
            }
            Peer::Server(db) => {
                let s = db.session();
                let parents = s
                    .raw_tuples("SELECT id, value, version FROM parent", &[])
                    .unwrap();
                let children = s
                    .raw_tuples("SELECT id, label, parent_id FROM child", &[])
                    .unwrap();
                (parents, children)
            }
        };
        Rows {
            parents: parents.into_iter().map(|(i, v, n)| (i, (v, n))).collect(),
            children: children.into_iter().map(|(i, l, f)| (i, (l, f))).collect(),
        }
    }

    /// SQLite checks foreign keys only as statements run, and only on
    /// connections that enable them: check the file as a whole. A server
    /// checks every constraint on every statement.
    fn check_file(&self) -> Result<(), TestCaseError> {
        let Peer::Sqlite(c) = self else {
            return Ok(());
        };
        let problems: Vec<String> = c
            .prepare("PRAGMA foreign_key_check")
            .unwrap()
            .query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        prop_assert!(problems.is_empty(), "foreign key check: {problems:?}");
        let integrity: String = c
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        prop_assert_eq!(integrity, "ok");
        Ok(())
    }
}

fn fixture() -> Fixture {
    if common::is_postgres() {
        let url = common::fresh_url();
        let db = Database::builder().model::<Child>().open(&url).unwrap();
        db.create_all().unwrap();
        let peer = Peer::Server(Database::open(&url).unwrap());
        return Fixture {
            _dir: None,
            db,
            peer,
        };
    }
    let (dir, url) = common::temp_db("sm.db");
    // Durability is the crash test's subject; NORMAL keeps this one fast.
    let db = Database::builder()
        .model::<Child>()
        .synchronous(orm::Synchronous::Normal)
        .open(&url)
        .unwrap();
    db.create_all().unwrap();
    let peer = Peer::Sqlite(rusqlite::Connection::open(common::path_of(&url)).unwrap());
    Fixture {
        _dir: Some(dir),
        db,
        peer,
    }
}

/// Run one sequence: the session and the model side by side.
fn run(fx: &Fixture, ops: &[Op]) -> Result<(), TestCaseError> {
    fx.peer.empty_tables();
    let (db, peer) = (&fx.db, &fx.peer);
    let server = matches!(peer, Peer::Server(_));
    let s = db.session();
    s.set_autoflush(false);
    let mut m = Model0::default();
    // Handles, parallel to `m.objs` (reordered with it).
    #[derive(Clone)]
    enum H {
        P(Obj<Parent>),
        C(Obj<Child>),
    }
    let mut hs: Vec<H> = Vec::new();
    // Open savepoints, parallel to `m.marks`.
    let mut sps: Vec<orm::Savepoint<'_>> = Vec::new();
    let pick = |m: &Model0, kind: Option<Kind>, n: u8| -> Option<usize> {
        let idx: Vec<usize> = (0..m.objs.len())
            .filter(|&i| kind.is_none_or(|k| m.objs[i].kind == k))
            .collect();
        (!idx.is_empty()).then(|| idx[usize::from(n) % idx.len()])
    };
    for (step, op) in ops.iter().enumerate() {
        let ctx = format!("step {step}: {op:?}");
        match op {
            Op::AddParent(v) => {
                let h = s
                    .add(Parent {
                        value: *v,
                        ..Default::default()
                    })
                    .unwrap();
                m.new_obj(Kind::P, St::Pending, 0, *v, None);
                hs.push(H::P(h));
            }
            Op::AddParents(n) => {
                for i in 0..i64::from(*n) {
                    let h = s
                        .add(Parent {
                            value: i,
                            ..Default::default()
                        })
                        .unwrap();
                    m.new_obj(Kind::P, St::Pending, 0, i, None);
                    hs.push(H::P(h));
                }
            }
            Op::AddChild(parent) => {
                let label = step as i64;
                let h = s
                    .add(Child {
                        label,
                        ..Default::default()
                    })
                    .unwrap();
                let c = m.new_obj(Kind::C, St::Pending, 0, label, None);
                hs.push(H::C(h));
                if let Some(p) = parent.and_then(|n| pick(&m, Some(Kind::P), n)) {
                    link(&mut m, &hs, c, Some(p), &ctx)?;
                }
            }
            Op::SetValue(n, v) => {
                if let Some(i) = pick(&m, None, *n) {
                    let ok = match &hs[i] {
                        H::P(h) => h.write().map(|mut w| w.value = *v),
                        H::C(h) => h.write().map(|mut w| w.label = *v),
                    };
                    if m.objs[i].expired && matches!(m.objs[i].st, St::Detached | St::Transient) {
                        prop_assert!(ok.is_err(), "{ctx}: an expired object out of the session");
                        continue;
                    }
                    if m.objs[i].expired
                        && matches!(m.objs[i].st, St::Persistent | St::Marked)
                        && !m.reload(i)
                    {
                        prop_assert!(ok.is_err(), "{ctx}: write of a vanished row");
                        continue;
                    }
                    prop_assert!(ok.is_ok(), "{ctx}: {ok:?}");
                    m.objs[i].val = *v;
                }
            }
            Op::Link(c, p) => {
                if let Some(ci) = pick(&m, Some(Kind::C), *c) {
                    let pi = p.and_then(|n| pick(&m, Some(Kind::P), n));
                    link(&mut m, &hs, ci, pi, &ctx)?;
                }
            }
            Op::Delete(n) => {
                if let Some(i) = pick(&m, None, *n) {
                    let r = match &hs[i] {
                        H::P(h) => s.delete(h),
                        H::C(h) => s.delete(h),
                    };
                    match m.objs[i].st {
                        St::Transient | St::Detached => prop_assert!(r.is_err(), "{ctx}"),
                        St::Pending => {
                            prop_assert!(r.is_ok(), "{ctx}: {r:?}");
                            release_children(&mut m, i);
                            // Discarded: it leaves every relationship.
                            m.objs[i].st = St::Transient;
                            m.objs[i].link = None;
                        }
                        St::Persistent => {
                            prop_assert!(r.is_ok(), "{ctx}: {r:?}");
                            // Children in memory lose their parent; rows
                            // not loaded are unlinked by the next flush.
                            if m.objs[i].kind == Kind::P {
                                release_children(&mut m, i);
                            }
                            m.objs[i].st = St::Marked;
                        }
                        St::Marked | St::Deleted => prop_assert!(r.is_ok(), "{ctx}"),
                    }
                }
            }
            Op::Expunge(n) => {
                let Some(i) = pick(&m, None, *n) else {
                    continue;
                };
                let o = &m.objs[i];
                let linked = match o.kind {
                    // (Or at an open savepoint: rolling back to it brings
                    // the link back in the model.)
                    Kind::P => {
                        o.st == St::Marked
                            || std::iter::once(&m.objs)
                                .chain(m.marks.iter().map(|k| &k.objs))
                                .any(|objs| objs.iter().any(|c| c.link == Some(Some(i))))
                    }
                    Kind::C => o.fk.is_some() || o.link.is_some(),
                };
                if linked {
                    continue;
                }
                let r = match &hs[i] {
                    H::P(h) => s.expunge(h),
                    H::C(h) => s.expunge(h),
                };
                let o = &mut m.objs[i];
                if matches!(o.st, St::Transient | St::Detached) {
                    prop_assert!(r.is_err(), "{ctx}");
                    continue;
                }
                prop_assert!(r.is_ok(), "{ctx}: {r:?}");
                if m.txn.is_some() && matches!(o.st, St::Persistent | St::Deleted) {
                    m.untracked = true;
                }
                let o = &mut m.objs[i];
                o.st = if o.st == St::Pending {
                    St::Transient
                } else {
                    St::Detached
                };
                o.link = None;
                o.expunged = true;
            }
            Op::Flush => {
                let r = s.flush();
                let expect = m.flush(&|i| generated_key(server, &hs, i));
                prop_assert_eq!(r.is_ok(), expect == Expect::Ok, "{}: {:?}", ctx, r);
            }
            Op::Commit => {
                let r = s.commit();
                let expect = m.commit(&|i| generated_key(server, &hs, i));
                prop_assert_eq!(r.is_ok(), expect == Expect::Ok, "{}: {:?}", ctx, r);
            }
            Op::Rollback => {
                m.rollback();
                s.rollback().unwrap();
            }
            Op::BeginNested => {
                let r = s.begin_nested();
                let expect = m.begin_nested(&|i| generated_key(server, &hs, i));
                prop_assert_eq!(r.is_ok(), expect == Expect::Ok, "{}: {:?}", ctx, r);
                if let Ok(sp) = r {
                    sps.push(sp);
                }
            }
            Op::RollbackNested(n) | Op::ReleaseNested(n) => {
                if sps.is_empty() {
                    continue;
                }
                let k = usize::from(*n) % sps.len();
                if matches!(op, Op::RollbackNested(_)) {
                    let r = sps[k].rollback();
                    prop_assert!(r.is_ok(), "{}: {:?}", ctx, r);
                    m.rollback_nested(k);
                } else {
                    let r = sps[k].commit();
                    let expect = m.release_nested(k, &|i| generated_key(server, &hs, i));
                    prop_assert_eq!(r.is_ok(), expect == Expect::Ok, "{}: {:?}", ctx, r);
                }
            }
            Op::Expire(n) => {
                if let Some(i) = pick(&m, None, *n) {
                    let r = match &hs[i] {
                        H::P(h) => s.expire(h),
                        H::C(h) => s.expire(h),
                    };
                    let expect = expire(&mut m, i);
                    prop_assert_eq!(r.is_ok(), expect == Expect::Ok, "{}: {:?}", ctx, r);
                }
            }
            Op::ExpireAll => {
                s.expire_all().unwrap();
                expire_all(&mut m);
            }
            Op::Refresh(n) => {
                if let Some(i) = pick(&m, None, *n) {
                    let r = refresh(&s, &hs[i]);
                    let expect = m.refresh(i);
                    prop_assert_eq!(r.is_ok(), expect == Expect::Ok, "{}: {:?}", ctx, r);
                }
            }
            Op::Guarded { write, on, op } => {
                let Some(g) = pick(&m, None, *on) else {
                    continue;
                };
                if m.objs[g].expired
                    && matches!(m.objs[g].st, St::Persistent | St::Marked)
                    && !m.reload(g)
                {
                    continue; // taking the guard reloads; the row is gone
                }
                if m.objs[g].expired && matches!(m.objs[g].st, St::Detached | St::Transient) {
                    continue; // it cannot reload outside the session
                }
                let handle = hs[g].clone();
                let mut after = m.clone();
                let (result, expect, may_conflict) = {
                    let _guard = match (&handle, *write) {
                        (H::P(h), true) => Guard::PW(h.write().unwrap()),
                        (H::P(h), false) => Guard::PR(h.read().unwrap()),
                        (H::C(h), true) => Guard::CW(h.write().unwrap()),
                        (H::C(h), false) => Guard::CR(h.read().unwrap()),
                    };
                    let target = |t: &Option<u8>| match t {
                        None => Some(g),
                        Some(n) => pick(&m, None, *n),
                    };
                    // A persistent object borrowed for writing must be read
                    // by the flush, to see whether it changed.
                    let written = *write && m.objs[g].st == St::Persistent;
                    let flushing = m.involved(g) || written;
                    // A commit may have to put an updated object's version
                    // counter back (when COMMIT fails).
                    let versioned = m.objs[g].kind == Kind::P && m.objs[g].updated_txn;
                    let ids = |i| generated_key(server, &hs, i);
                    match op {
                        GuardedOp::Flush => (s.flush(), after.flush(&ids), flushing),
                        GuardedOp::Commit => {
                            (s.commit(), after.commit(&ids), flushing || versioned)
                        }
                        GuardedOp::Rollback => {
                            after.rollback();
                            (s.rollback(), Expect::Ok, m.involved(g))
                        }
                        GuardedOp::RollbackNested(n) => {
                            if sps.is_empty() {
                                continue;
                            }
                            let k = usize::from(*n) % sps.len();
                            after.rollback_nested(k);
                            // Only a key taken back from an object inserted
                            // in the transaction needs the object unborrowed.
                            (sps[k].rollback(), Expect::Ok, m.objs[g].inserted_txn)
                        }
                        GuardedOp::ExpireAll => {
                            expire_all(&mut after);
                            let persistent = m.objs[g].st == St::Persistent;
                            (s.expire_all(), Expect::Ok, *write && persistent)
                        }
                        GuardedOp::Expire(t) | GuardedOp::Refresh(t) => {
                            let Some(i) = target(t) else {
                                continue;
                            };
                            let refreshing = matches!(op, GuardedOp::Refresh(_));
                            let r = match (&hs[i], refreshing) {
                                (h, true) => refresh(&s, h),
                                (H::P(h), false) => s.expire(h),
                                (H::C(h), false) => s.expire(h),
                            };
                            let expect = if refreshing {
                                after.refresh(i)
                            } else {
                                expire(&mut after, i)
                            };
                            let persistent = m.objs[i].st == St::Persistent;
                            let conflict = i == g && persistent && (*write || refreshing);
                            (r, expect, conflict)
                        }
                    }
                };
                match result {
                    Err(Error::BorrowConflict { .. }) => {
                        prop_assert!(may_conflict, "{ctx}: needless BorrowConflict");
                        // Failed: the model stays as it was, and the check
                        // below proves nothing changed.
                    }
                    r => {
                        prop_assert_eq!(r.is_ok(), expect == Expect::Ok, "{}: {:?}", ctx, r);
                        m = after;
                    }
                }
            }
            Op::Query => {
                let r = s.flush();
                let expect = m.flush(&|i| generated_key(server, &hs, i));
                prop_assert_eq!(r.is_ok(), expect == Expect::Ok, "{}: {:?}", ctx, r);
                if r.is_ok() {
                    let v = m.view();
                    prop_assert_eq!(
                        s.query::<Parent>().count().unwrap(),
                        v.parents.len() as u64,
                        "{}",
                        ctx
                    );
                    let orphans = v.children.values().filter(|(_, f)| f.is_none()).count();
                    prop_assert_eq!(
                        s.query::<Child>()
                            .filter(Child::parent_id.is_null())
                            .count()
                            .unwrap(),
                        orphans as u64,
                        "{}",
                        ctx
                    );
                }
            }
            Op::Execute(id, v) => {
                if m.in_map(Kind::P, i64::from(*id)).is_some() {
                    continue;
                }
                let sql = if server {
                    "UPDATE parent SET value = $1 WHERE id = $2"
                } else {
                    "UPDATE parent SET value = ? WHERE id = ?"
                };
                // (No autoflush: this session has it off.)
                let r = s.execute(sql, &orm::params![*v, i64::from(*id)]);
                let committed = m.committed.clone();
                let view = m.txn.get_or_insert(committed);
                let changed = view.parents.get_mut(&i64::from(*id)).map(|row| row.0 = *v);
                prop_assert_eq!(r.ok(), Some(usize::from(changed.is_some())), "{}", ctx);
                m.untracked = true;
            }
            Op::GetParent(id) | Op::GetChild(id) => {
                let id = i64::from(*id);
                let kind = if matches!(op, Op::GetParent(_)) {
                    Kind::P
                } else {
                    Kind::C
                };
                let got: Option<H> = match kind {
                    Kind::P => s.get::<Parent>(id).unwrap().map(H::P),
                    Kind::C => s.get::<Child>(id).unwrap().map(H::C),
                };
                match m.in_map(kind, id) {
                    Some(i) if m.objs[i].st == St::Marked => prop_assert!(got.is_none(), "{ctx}"),
                    Some(i) => {
                        let alive = !m.objs[i].expired || m.reload(i);
                        prop_assert_eq!(got.is_some(), alive, "{}", ctx);
                        if let Some(g) = got {
                            prop_assert!(same(&g, &hs[i]), "{ctx}: not the same object");
                        }
                    }
                    None => {
                        let row = match kind {
                            Kind::P => m.view().parents.get(&id).map(|(v, n)| (*v, None, *n)),
                            Kind::C => m.view().children.get(&id).map(|(l, f)| (*l, *f, 0)),
                        };
                        prop_assert_eq!(got.is_some(), row.is_some(), "{}", ctx);
                        if let (Some(g), Some((v, f, n))) = (got, row) {
                            let i = m.new_obj(kind, St::Persistent, id, v, f);
                            m.objs[i].ver = n;
                            hs.push(g);
                        }
                    }
                }
            }
        }
        // Savepoints ended by the step (a commit, a rollback, an enclosing
        // savepoint's end) leave the list.
        sps.truncate(m.marks.len());
        prop_assert_eq!(
            s.in_nested_transaction(),
            !m.marks.is_empty(),
            "{}: open savepoints",
            ctx
        );
        prop_assert!(
            sps.iter().all(|sp| sp.is_active()),
            "{}: a savepoint ended",
            ctx
        );
        check(&s, &mut m, &hs, peer, &ctx)?;
    }

    /// A live guard of either kind on either model, held for its lifetime.
    #[allow(dead_code)]
    enum Guard<'a> {
        PW(std::cell::RefMut<'a, Parent>),
        PR(std::cell::Ref<'a, Parent>),
        CW(std::cell::RefMut<'a, Child>),
        CR(std::cell::Ref<'a, Child>),
    }

    /// On a server, the key the session gave pending object `i` in the
    /// flush that just ran (none if it failed, or the object is guarded).
    fn generated_key(server: bool, hs: &[H], i: usize) -> Option<i64> {
        let id = match (server, &hs[i]) {
            (false, _) => return None,
            (true, H::P(h)) => h.read().ok()?.id,
            (true, H::C(h)) => h.read().ok()?.id,
        };
        (id != 0).then_some(id)
    }

    fn refresh(s: &Session, h: &H) -> orm::Result<()> {
        match h {
            H::P(h) => s.refresh(h),
            H::C(h) => s.refresh(h),
        }
    }

    /// `expire()` in the model.
    fn expire(m: &mut Model0, i: usize) -> Expect {
        match m.objs[i].st {
            St::Transient | St::Detached => Expect::Err,
            St::Persistent => {
                m.objs[i].expired = true;
                Expect::Ok
            }
            _ => Expect::Ok,
        }
    }

    fn expire_all(m: &mut Model0) {
        for o in &mut m.objs {
            if o.st == St::Persistent {
                o.expired = true;
            }
        }
    }

    fn same(a: &H, b: &H) -> bool {
        match (a, b) {
            (H::P(x), H::P(y)) => Obj::ptr_eq(x, y),
            (H::C(x), H::C(y)) => Obj::ptr_eq(x, y),
            _ => false,
        }
    }

    /// Link child `c` to parent `p` through the relationship.
    fn link(
        m: &mut Model0,
        hs: &[H],
        c: usize,
        p: Option<usize>,
        ctx: &str,
    ) -> Result<(), TestCaseError> {
        let r = match (&hs[c], p.map(|p| &hs[p])) {
            (H::C(ch), Some(H::P(ph))) => ch.set_related(Child::parent, Some(ph)),
            (H::C(ch), None) => ch.set_related(Child::parent, None),
            _ => unreachable!("indices come from pick()"),
        };
        let ends: Vec<usize> = [Some(c), p].into_iter().flatten().collect();
        if ends.iter().any(|&i| m.objs[i].st == St::Detached) {
            prop_assert!(r.is_err(), "{ctx}: linking a detached object");
            return Ok(());
        }
        prop_assert!(r.is_ok(), "{ctx}: {r:?}");
        // With a session on either end, new objects join it: the child
        // first, then the parent (the save-update cascade), and what is
        // linked to them.
        let sessioned = ends.iter().any(|&i| m.objs[i].st != St::Transient);
        // Linking to the parent it already has changes nothing (the child
        // keeps its place in the parent's collection), as in SQLAlchemy.
        if m.objs[c].link != Some(p) {
            m.objs[c].link = Some(p);
            m.objs[c].linked_at = m.next_seq;
            m.next_seq += 1;
        }
        if sessioned {
            for i in ends {
                m.cascade_in(i);
            }
        }
        Ok(())
    }

    /// Children whose parent is `p` get "no parent" assigned.
    fn release_children(m: &mut Model0, p: usize) {
        for c in 0..m.objs.len() {
            if m.objs[c].kind == Kind::C
                && matches!(m.objs[c].st, St::Pending | St::Persistent)
                && m.effective_parent(c) == Some(p)
            {
                m.objs[c].link = Some(None);
            }
        }
    }

    fn check(
        s: &Session,
        m: &mut Model0,
        hs: &[H],
        peer: &Peer,
        ctx: &str,
    ) -> Result<(), TestCaseError> {
        for (i, h) in hs.iter().enumerate() {
            let actual = match h {
                H::P(h) => h.state(),
                H::C(h) => h.state(),
            };
            if m.objs[i].expired && matches!(m.objs[i].st, St::Detached | St::Transient) {
                // Expired out of the session (expunged, or its row found
                // gone): nothing to reload from.
                let r = match h {
                    H::P(h) => h.read().map(|_| ()),
                    H::C(h) => h.read().map(|_| ()),
                };
                prop_assert!(
                    r.is_err(),
                    "{}: read of expired object {} out of the session",
                    ctx,
                    i
                );
                prop_assert_eq!(
                    actual,
                    m.objs[i].st.public(),
                    "{}: state of object {}",
                    ctx,
                    i
                );
                continue;
            }
            if m.objs[i].expired && matches!(m.objs[i].st, St::Persistent) {
                // read() reloads; the row may be gone.
                let alive = m.reload(i);
                let r = match h {
                    H::P(h) => h.read().map(|_| ()),
                    H::C(h) => h.read().map(|_| ()),
                };
                prop_assert_eq!(r.is_ok(), alive, "{}: reload of object {}", ctx, i);
                if !alive {
                    continue;
                }
            } else {
                prop_assert_eq!(
                    actual,
                    m.objs[i].st.public(),
                    "{}: state of object {} {:?}",
                    ctx,
                    i,
                    m.objs[i]
                );
            }
            let o = &m.objs[i];
            let (id, val, fk, ver) = match h {
                H::P(h) => {
                    let v = h
                        .read()
                        .map_err(|e| TestCaseError::fail(format!("{ctx}: {e}")))?;
                    (v.id, v.value, None, v.version)
                }
                H::C(h) => {
                    let v = h
                        .read()
                        .map_err(|e| TestCaseError::fail(format!("{ctx}: {e}")))?;
                    (v.id, v.label, v.parent_id, 0)
                }
            };
            prop_assert_eq!(
                (id, val, fk, ver),
                (o.id, o.val, o.fk, o.ver),
                "{}: values of object {} {:?}",
                ctx,
                i,
                o
            );
        }
        // What other connections see is exactly the committed rows...
        let committed = peer.rows();
        prop_assert_eq!(&committed, &m.committed, "{}: committed rows", ctx);
        // ...and what the session's transaction sees is its view.
        let parents: Vec<(i64, i64, i64)> = s
            .raw_tuples("SELECT id, value, version FROM parent ORDER BY id", &[])
            .unwrap();
        let children: Vec<(i64, i64, Option<i64>)> = s
            .raw_tuples("SELECT id, label, parent_id FROM child ORDER BY id", &[])
            .unwrap();
        let inside = Rows {
            parents: parents.into_iter().map(|(i, v, n)| (i, (v, n))).collect(),
            children: children.into_iter().map(|(i, l, f)| (i, (l, f))).collect(),
        };
        prop_assert_eq!(&inside, m.view(), "{}: rows inside the transaction", ctx);
        Ok(())
    }

    s.commit().ok();
    peer.check_file()
}

#[test]
fn random_session_sequences_match_the_model() {
    let cases: u32 = std::env::var("ORM_SM_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if common::is_postgres() { 2000 } else { 5000 });
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 2000,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let steps = std::sync::atomic::AtomicUsize::new(0);
    let fx = fixture();
    let result = runner.run(&proptest::collection::vec(op(), 1..40), |ops| {
        steps.fetch_add(ops.len(), std::sync::atomic::Ordering::Relaxed);
        run(&fx, &ops)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    figures::report(&format!(
        "state machine: {cases} sequences, {} steps, 0 divergences from the model",
        steps.load(std::sync::atomic::Ordering::Relaxed)
    ));
}

// Every shrunk failure found on the way, as a regression test. The ones
// marked "model" were mistakes in the model above; the others were bugs in
// the session, fixed.

fn regression(ops: &[Op]) {
    if let Err(e) = run(&fixture(), ops) {
        panic!("{e}");
    }
}

/// Bug: a detached object could be linked (in memory only) without error.
#[test]
fn regression_linking_a_detached_object_is_an_error() {
    use Op::*;
    regression(&[AddChild(None), Flush, Delete(0), Commit, Link(0, None)]);
}

/// Model: a transient parent joining through a link brings its in-memory
/// children along.
#[test]
fn regression_cascade_through_a_transient_parents_collection() {
    use Op::*;
    regression(&[
        AddChild(None),
        AddChild(None),
        AddParent(0),
        AddChild(None),
        AddChild(None),
        AddChild(None),
        Rollback,
        Link(0, Some(0)),
        AddChild(Some(0)),
    ]);
}

/// Bug: moving a transient child to a new parent cascaded its old parent
/// into the session too.
#[test]
fn regression_cascade_happens_after_the_link_changes() {
    use Op::*;
    regression(&[
        AddChild(None),
        AddChild(None),
        AddParent(0),
        SetValue(0, 0),
        AddChild(None),
        AddChild(None),
        Rollback,
        Link(59, Some(0)),
        AddParent(0),
        Link(91, Some(29)),
    ]);
}

/// Model: commit clears assignments only of objects in the session.
#[test]
fn regression_commit_keeps_links_of_transient_objects() {
    use Op::*;
    regression(&[
        AddParent(0),
        AddChild(None),
        Rollback,
        AddParent(0),
        Link(0, Some(20)),
        Commit,
        AddParent(0),
        AddChild(Some(78)),
    ]);
}

/// Model: deleting a pending object unlinks it everywhere.
#[test]
fn regression_discarding_a_pending_child_unlinks_it() {
    use Op::*;
    regression(&[
        AddParent(0),
        Rollback,
        AddChild(None),
        AddChild(Some(0)),
        AddParent(0),
        Delete(14),
        Rollback,
        AddChild(Some(2)),
    ]);
}

/// Bug: a key filled by an UPDATE into an object inserted earlier in the
/// same transaction was not taken back by rollback.
#[test]
fn regression_rollback_takes_back_keys_filled_after_insert() {
    use Op::*;
    regression(&[
        AddParent(0),
        AddChild(None),
        Link(0, None),
        Flush,
        Link(0, Some(0)),
        Query,
        Rollback,
    ]);
    regression(&[
        AddParent(0),
        AddChild(None),
        Flush,
        Link(0, Some(0)),
        Flush,
        Rollback,
    ]);
}

/// Found by the 100,000-sequence soak: linking a child to the parent it
/// already has keeps its place in the parent's collection (and so its
/// place in the insert order).
#[test]
fn regression_relinking_to_the_same_parent_keeps_the_order() {
    use Op::*;
    regression(&[
        AddChild(None),
        AddChild(None),
        AddChild(None),
        AddParent(0),
        Rollback,
        Link(21, Some(0)),
        Link(4, Some(0)),
        AddChild(None),
        Link(144, Some(0)),
        AddChild(Some(0)),
        Query,
    ]);
}

/// Bug found by the 100,000-sequence soak: a pending child deleted
/// (discarded) stayed in the session's list of relationship changes, so
/// the next commit reset the parent it was given afterwards as a transient
/// object, and it was later inserted without its foreign key.
#[test]
fn regression_a_discarded_child_keeps_its_later_parent() {
    use Op::*;
    regression(&[
        AddParent(0),
        Rollback,
        AddParent(0),
        AddParent(0),
        AddChild(None),
        Link(0, None),
        Delete(51),
        AddParent(0),
        Link(0, Some(124)),
        Commit,
        AddChild(Some(108)),
        Flush,
    ]);
}

/// Bug found by the 100,000-sequence soak: an expired child given a new
/// parent stayed in its old parent's loaded collection (the old parent was
/// not known in memory), so deleting the old parent nulled the new link.
#[test]
fn regression_a_reassigned_expired_child_leaves_the_old_collection() {
    use Op::*;
    regression(&[
        AddParent(0),
        AddParent(0),
        AddChild(Some(66)),
        Commit,
        AddChild(None),
        Expire(2),
        AddChild(None),
        AddParent(0),
        AddParent(0),
        AddParent(0),
        Link(159, Some(91)),
        Delete(200),
        Flush,
    ]);
}

/// Bug found when savepoints joined the model: rolling back an outer
/// savepoint reverted an object's unflushed change after taking back its
/// generated key, so the snapshot put the key back on a transient object.
#[test]
fn regression_an_outer_savepoint_rollback_takes_back_the_key_of_a_changed_object() {
    use Op::*;
    regression(&[
        BeginNested,
        AddParent(0),
        BeginNested,
        SetValue(0, 0),
        RollbackNested(0),
    ]);
}

/// Bug found when savepoints joined the model: an object deleted inside a
/// savepoint and changed after `delete()` came back with the change when
/// the savepoint was rolled back (the change is not tracked; the object is
/// now reloaded).
#[test]
fn regression_a_savepoint_rollback_reloads_an_object_it_had_deleted() {
    use Op::*;
    regression(&[
        AddParent(0),
        BeginNested,
        Delete(0),
        SetValue(0, 1),
        Query,
        RollbackNested(0),
    ]);
}

/// Model: an object deleted before a savepoint keeps changes made to it
/// inside (they are not tracked, so a rollback to the savepoint has
/// nothing to undo).
#[test]
fn regression_changes_to_an_object_deleted_before_a_savepoint_stay() {
    use Op::*;
    regression(&[
        AddParent(0),
        Flush,
        Delete(0),
        BeginNested,
        SetValue(0, 1),
        Guarded {
            write: false,
            on: 0,
            op: GuardedOp::RollbackNested(0),
        },
    ]);
}

/// Model: a commit needs the updated objects of a model with a version
/// counter unborrowed (it puts their version back when COMMIT fails).
#[test]
fn regression_a_guard_on_an_updated_versioned_object_blocks_commit() {
    use Op::*;
    regression(&[
        AddParent(0),
        Commit,
        SetValue(0, 1),
        Flush,
        Guarded {
            write: false,
            on: 0,
            op: GuardedOp::Commit,
        },
    ]);
}

/// A change made to an object inside a savepoint, then dropped by deleting
/// it there (the flush writes the DELETE, not the change): rolling back to
/// the savepoint makes it persistent again with the values the database
/// holds, not the dropped change (no log entry names the change, so the
/// rollback must reload what it undeleted).
#[test]
fn regression_a_savepoint_rollback_drops_a_change_its_deletion_dropped() {
    use Op::*;
    regression(&[
        AddChild(None),
        BeginNested,
        SetValue(0, 1),
        Delete(0),
        Flush,
        RollbackNested(0),
    ]);
}

/// Bug: an object deleted (the DELETE flushed by opening a savepoint), then
/// expunged, came back `Persistent` and into the identity map at rollback,
/// without a session, and could not be read. A rollback leaves an expunged
/// object as it is.
#[test]
fn regression_a_rollback_does_not_restore_an_expunged_deletion() {
    use Op::*;
    regression(&[
        AddParent(0),
        Commit,
        Delete(0),
        BeginNested,
        Expunge(0),
        Rollback,
    ]);
}

/// Bug: an object inserted before a savepoint, updated inside it (its
/// version counter written by the flush) and expunged, got its version
/// counter put back when the savepoint was rolled back, beside the change
/// it kept. An object expunged since keeps what it holds.
#[test]
fn regression_a_savepoint_rollback_leaves_an_expunged_version_counter() {
    use Op::*;
    regression(&[
        AddParent(0),
        BeginNested,
        SetValue(0, 1),
        BeginNested,
        Expunge(0),
        RollbackNested(0),
    ]);
}
