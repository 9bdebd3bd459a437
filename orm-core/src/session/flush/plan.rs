//! Flush ordering as plain data.
//!
//! Input: one node per row operation, with the table's rank (its position
//! in foreign-key order, parents first) and the rows it must come after.
//! Output: the order to run them in. Saves (INSERT, UPDATE) come first,
//! parents before children; then association-table deletes; then DELETEs,
//! children before parents. Ties keep the order objects were added in, and
//! rows of one table stay together so their statements are prepared once.
//! Nothing here touches a database, so the rules are unit-tested directly.
//!
//! [`plan_rows`] turns the flush's rows into nodes (the table ranks come
//! from [`creation_order`]) and a cycle into a typed error. Called only by
//! the flush driver, between organize and emit.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::{Op, Rows};
use crate::error::{Error, Result};
use crate::schema::TableDef;
use crate::schema::registry::creation_order;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Phase {
    Save = 0,
    /// `post_update` foreign keys: after every row exists, before any is
    /// deleted.
    PostUpdate = 1,
    LinkInsert = 2,
    LinkDelete = 3,
    Delete = 4,
}

/// One row's place in the order: 24 bytes, one per row of a flush that
/// may hold a million (held beside the rows while they are ordered).
#[derive(Debug, Clone)]
pub(crate) struct PlanNode<'a> {
    pub phase: Phase,
    /// Position of the row's table in parent-first order (a flush's
    /// tables are far fewer than `u32::MAX`).
    pub table_rank: u32,
    /// Within one table's saves, UPDATEs (0) run before INSERTs (1), as in
    /// SQLAlchemy: a row giving up a unique value (a replaced one-to-one
    /// child) must do so before the new row takes it.
    pub insert: bool,
    /// Rows that must run before this one.
    pub after: &'a [usize],
}

/// Rows that wait on each other in a cycle cannot be ordered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cycle {
    pub rows: Vec<usize>,
}

/// The sort key of a node: phase, then table (reversed for deletes), then
/// updates before inserts.
fn rank_key(node: &PlanNode<'_>) -> (Phase, u32, bool) {
    let rank = if node.phase == Phase::Delete {
        u32::MAX - node.table_rank
    } else {
        node.table_rank
    };
    (node.phase, rank, node.insert)
}

/// The order to run `nodes` in.
pub(crate) fn order(nodes: &[PlanNode<'_>]) -> Result<Vec<usize>, Cycle> {
    let key = |i: usize| (rank_key(&nodes[i]), i);
    let n = nodes.len();
    // Every dependency already earlier in (phase, table, add order): the
    // sorted order satisfies them all, and it is exactly what the
    // topological pass below returns (that pass always takes the smallest
    // ready row, and the smallest remaining row is always ready). The
    // common case: a relationship fill points at a parent table, which
    // ranks first.
    let forward = nodes.iter().enumerate().all(|(i, node)| {
        node.after
            .iter()
            .all(|&before| before >= n || before == i || key(before) < key(i))
    });
    if !forward {
        return topological(nodes);
    }
    // A stable sort by phase and table keeps add order within a table (it
    // finds the runs rows come in, where an unstable sort by the full key
    // cost a graph of 111 rows twice as much). A flush of one table's
    // inserts is in order already: no sort, and no scratch copy of a list
    // that may hold a million rows.
    let mut out: Vec<usize> = (0..n).collect();
    if !out.is_sorted_by_key(|&i| key(i)) {
        out.sort_by_key(|&i| rank_key(&nodes[i]));
    }
    Ok(out)
}

/// Kahn's algorithm over the explicit dependencies, taking the smallest
/// ready row by (phase, table, add order) at each step.
fn topological(nodes: &[PlanNode<'_>]) -> Result<Vec<usize>, Cycle> {
    let n = nodes.len();
    let mut waiting = vec![0usize; n];
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, node) in nodes.iter().enumerate() {
        for &before in node.after {
            if before < n && before != i {
                waiting[i] += 1;
                dependents[before].push(i);
            }
        }
    }
    let key = |i: usize| Reverse((rank_key(&nodes[i]), i));
    let mut ready: BinaryHeap<_> = (0..n).filter(|&i| waiting[i] == 0).map(key).collect();
    let mut out = Vec::with_capacity(n);
    while let Some(Reverse((_, i))) = ready.pop() {
        out.push(i);
        for &d in &dependents[i] {
            waiting[d] -= 1;
            if waiting[d] == 0 {
                ready.push(key(d));
            }
        }
    }
    if out.len() < n {
        return Err(Cycle {
            rows: (0..n).filter(|&i| waiting[i] > 0).collect(),
        });
    }
    Ok(out)
}

/// Order rows: tables by foreign keys, then explicit dependencies.
/// `tables` are the rows' distinct tables.
pub(super) fn plan_rows(rows: &Rows, tables: &[&'static TableDef]) -> Result<Vec<usize>> {
    // One table has one rank: a one-model flush skips the ordering.
    let ordered = if tables.len() > 1 {
        creation_order(tables)
    } else {
        Vec::new()
    };
    let rank = |t: &'static TableDef| {
        ordered
            .iter()
            .position(|x| std::ptr::eq(*x, t))
            .and_then(|at| u32::try_from(at).ok())
            .unwrap_or(0)
    };
    let nodes: Vec<PlanNode<'_>> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| PlanNode {
            phase: r.phase(),
            table_rank: rank(r.table()),
            insert: !matches!(r.op, Op::Update | Op::PostUpdate),
            after: rows.after(i),
        })
        .collect();
    order(&nodes).map_err(|cycle| {
        let models: Vec<&str> = cycle.rows.iter().map(|&i| rows[i].table().model).collect();
        Error::Schema(format!(
            "cannot order the flush: objects of {} reference each other in a cycle; give one of the relationships `post_update` (its foreign key is then written by a second UPDATE), or flush one of them first, then set the remaining foreign key",
            models.join(", ")
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(phase: Phase, rank: u32, insert: bool, after: &[usize]) -> PlanNode<'_> {
        PlanNode {
            phase,
            table_rank: rank,
            insert,
            after,
        }
    }

    fn save(rank: u32, after: &[usize]) -> PlanNode<'_> {
        node(Phase::Save, rank, true, after)
    }

    fn update(rank: u32) -> PlanNode<'static> {
        node(Phase::Save, rank, false, &[])
    }

    fn delete(rank: u32, after: &[usize]) -> PlanNode<'_> {
        node(Phase::Delete, rank, false, after)
    }

    #[test]
    fn a_tables_updates_run_before_its_inserts() {
        let nodes = [save(0, &[]), update(1), save(1, &[]), update(1)];
        assert_eq!(order(&nodes).unwrap(), vec![0, 1, 3, 2]);
    }

    #[test]
    fn parents_are_saved_before_children_whatever_the_add_order() {
        // A child (rank 1) added before its parent (rank 0).
        let nodes = [save(1, &[]), save(0, &[]), save(1, &[])];
        assert_eq!(order(&nodes).unwrap(), vec![1, 0, 2]);
    }

    #[test]
    fn deletes_run_children_first_and_after_all_saves() {
        let nodes = [delete(0, &[]), save(1, &[]), delete(1, &[]), save(0, &[])];
        assert_eq!(order(&nodes).unwrap(), vec![3, 1, 2, 0]);
    }

    #[test]
    fn rows_of_one_table_stay_grouped_in_add_order() {
        let nodes = [save(0, &[]), save(1, &[]), save(0, &[]), save(1, &[])];
        assert_eq!(order(&nodes).unwrap(), vec![0, 2, 1, 3]);
    }

    #[test]
    fn explicit_dependencies_order_rows_of_one_table() {
        // Self-referential: row 0 (employee) needs row 1 (manager) first.
        let nodes = [save(0, &[1]), save(0, &[])];
        assert_eq!(order(&nodes).unwrap(), vec![1, 0]);
        // And a manager is deleted after its report.
        let nodes = [delete(0, &[1]), delete(0, &[])];
        assert_eq!(order(&nodes).unwrap(), vec![1, 0]);
    }

    #[test]
    fn link_rows_go_between_saves_and_deletes() {
        let nodes = [
            node(Phase::LinkDelete, 2, false, &[]),
            delete(0, &[]),
            node(Phase::LinkInsert, 2, true, &[]),
            save(1, &[]),
        ];
        assert_eq!(order(&nodes).unwrap(), vec![3, 2, 0, 1]);
    }

    #[test]
    fn dependencies_on_earlier_rows_give_the_topological_order() {
        // Children (rank 1) filled from parents (rank 0) added before or
        // after them, a self-reference to an earlier row, dependencies out
        // of range or on the row itself: all forward, so sorted; the
        // general pass agrees.
        let cases: [&[PlanNode<'_>]; 3] = [
            &[save(1, &[2]), save(1, &[2]), save(0, &[]), save(1, &[2])],
            &[save(0, &[]), save(0, &[0]), save(1, &[0, 1]), update(1)],
            &[save(0, &[9]), save(0, &[1]), delete(0, &[]), delete(1, &[])],
        ];
        for nodes in cases {
            assert_eq!(order(nodes), topological(nodes));
        }
        assert_eq!(
            order(cases[0]).unwrap(),
            vec![2, 0, 1, 3],
            "parent first, children in add order"
        );
    }

    #[test]
    fn the_sorted_shortcut_agrees_with_the_topological_pass() {
        // Pseudo-random plans (a fixed LCG): phases, ranks, and dependencies
        // mostly on earlier rows, sometimes on later ones or cycles.
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |m: usize| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) as usize % m
        };
        let phases = [
            Phase::Save,
            Phase::PostUpdate,
            Phase::LinkInsert,
            Phase::LinkDelete,
            Phase::Delete,
        ];
        for _ in 0..2_000 {
            let n = 1 + next(12);
            let shape: Vec<(Phase, u32, bool)> = (0..n)
                .map(|_| (phases[next(5)], next(3) as u32, next(2) == 0))
                .collect();
            let after: Vec<Vec<usize>> = (0..n)
                .map(|i| match next(4) {
                    0 => vec![next(n + 1)],
                    1 if i > 0 => vec![next(i)],
                    _ => vec![],
                })
                .collect();
            let nodes: Vec<PlanNode<'_>> = shape
                .iter()
                .zip(&after)
                .map(|(&(phase, rank, insert), after)| node(phase, rank, insert, after))
                .collect();
            assert_eq!(order(&nodes), topological(&nodes), "{nodes:?}");
        }
    }

    #[test]
    fn post_update_rows_run_after_every_save_and_before_deletes() {
        // A post_update row (rank 0) added first, waiting on two saves of a
        // later table; a delete and an association insert around it.
        let nodes = [
            node(Phase::PostUpdate, 0, false, &[2, 3]),
            delete(1, &[]),
            save(1, &[]),
            save(0, &[]),
            node(Phase::LinkInsert, 2, true, &[]),
        ];
        assert_eq!(order(&nodes).unwrap(), vec![3, 2, 0, 4, 1]);
    }

    #[test]
    fn cycles_are_reported() {
        let nodes = [save(0, &[1]), save(0, &[0]), save(0, &[])];
        assert_eq!(order(&nodes).unwrap_err(), Cycle { rows: vec![0, 1] });
    }
}
