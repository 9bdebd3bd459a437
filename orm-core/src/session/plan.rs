//! Flush ordering as plain data.
//!
//! Input: one node per row operation, with the table's rank (its position
//! in foreign-key order, parents first) and the rows it must come after.
//! Output: the order to run them in. Saves (INSERT, UPDATE) come first,
//! parents before children; then association-table deletes; then DELETEs,
//! children before parents. Ties keep the order objects were added in, and
//! rows of one table stay together so their statements are prepared once.
//! Nothing here touches a database, so the rules are unit-tested directly.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Phase {
    Save = 0,
    LinkInsert = 1,
    LinkDelete = 2,
    Delete = 3,
}

#[derive(Debug, Clone)]
pub(crate) struct PlanNode<'a> {
    pub phase: Phase,
    /// Position of the row's table in parent-first order.
    pub table_rank: usize,
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
fn rank_key(node: &PlanNode<'_>) -> (Phase, usize, bool) {
    let rank = if node.phase == Phase::Delete {
        usize::MAX - node.table_rank
    } else {
        node.table_rank
    };
    (node.phase, rank, node.insert)
}

/// The order to run `nodes` in.
pub(crate) fn order(nodes: &[PlanNode<'_>]) -> Result<Vec<usize>, Cycle> {
    if nodes.iter().all(|n| n.after.is_empty()) {
        // The common case (no row-level dependencies): a stable sort by
        // phase and table keeps add order within a table.
        let mut out: Vec<usize> = (0..nodes.len()).collect();
        out.sort_by_key(|&i| rank_key(&nodes[i]));
        return Ok(out);
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn node(phase: Phase, rank: usize, insert: bool, after: &[usize]) -> PlanNode<'_> {
        PlanNode {
            phase,
            table_rank: rank,
            insert,
            after,
        }
    }

    fn save(rank: usize, after: &[usize]) -> PlanNode<'_> {
        node(Phase::Save, rank, true, after)
    }

    fn update(rank: usize) -> PlanNode<'static> {
        node(Phase::Save, rank, false, &[])
    }

    fn delete(rank: usize, after: &[usize]) -> PlanNode<'_> {
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
    fn cycles_are_reported() {
        let nodes = [save(0, &[1]), save(0, &[0]), save(0, &[])];
        assert_eq!(order(&nodes).unwrap_err(), Cycle { rows: vec![0, 1] });
    }
}
