//! The set of models a [`Database`](crate::Database) knows, linked and
//! verified once when the database is opened (SQLAlchemy's
//! `configure_mappers`).
//!
//! Models are registered explicitly with
//! [`DatabaseBuilder::model`](crate::DatabaseBuilder::model); registering a
//! model also registers every model it reaches through foreign keys and
//! relationships. Explicit registration keeps separate databases separate
//! (two programs' `User` models can live in one binary, as they do in this
//! crate's tests) and needs no link-time tricks; following links means a user
//! rarely lists more than the models at the edges of the graph.

use std::collections::HashMap;

use super::relation::{RelationDef, Side};
use super::table::{ForeignTarget, TableDef};
use crate::error::{Error, Result};

/// Registered tables in creation order, with their relationships.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    tables: Vec<&'static TableDef>,
    sides: HashMap<usize, Vec<Side>>,
}

fn addr(t: &'static TableDef) -> usize {
    t as *const TableDef as usize
}

impl Registry {
    /// Collect `roots` and everything they reach, verify, and order.
    pub(crate) fn build(roots: &[&'static TableDef]) -> Result<Registry> {
        let mut found: Vec<&'static TableDef> = Vec::new();
        let mut queue: Vec<&'static TableDef> = roots.to_vec();
        let mut defs: Vec<&'static RelationDef> = Vec::new();
        while let Some(t) = queue.pop() {
            if found.iter().any(|f| std::ptr::eq(*f, t)) {
                continue;
            }
            found.push(t);
            for fk in t.foreign_keys {
                if let ForeignTarget::Model { table, .. } = fk.target {
                    queue.push(table());
                }
            }
            for rel in t.relations {
                let def = rel();
                if !defs.iter().any(|d| std::ptr::eq(*d, def)) {
                    defs.push(def);
                }
                queue.push((def.model)());
                queue.push((def.target)());
                if let Some(s) = def.secondary {
                    queue.push(s());
                }
            }
        }
        // Discovery order is a stack; restore the order the user gave.
        found.sort_by_key(|t| {
            roots
                .iter()
                .position(|r| std::ptr::eq(*r, *t))
                .unwrap_or(usize::MAX)
        });

        check_unique_names(&found)?;
        check_named_foreign_keys(&found)?;
        let mut sides: HashMap<usize, Vec<Side>> = HashMap::new();
        for def in &defs {
            def.link()?;
            sides
                .entry(addr((def.model)()))
                .or_default()
                .push(Side::new(def, true));
            // With back_populates the target declares its own side.
            if def.back_populates.is_none() {
                sides.entry(addr((def.target)())).or_default().push(Side {
                    def,
                    declared: false,
                });
            }
        }
        check_accessor_names(&found, &sides)?;
        check_back_populates(&defs)?;
        Ok(Registry {
            tables: creation_order(&found),
            sides,
        })
    }

    /// Tables in an order where every parent comes before its children.
    pub(crate) fn tables(&self) -> &[&'static TableDef] {
        &self.tables
    }

    /// Relationships touching `table`, from either end.
    pub(crate) fn sides_of(&self, table: &'static TableDef) -> &[Side] {
        self.sides
            .get(&addr(table))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }
}

/// Two models mapping one table would overwrite each other's rows.
fn check_unique_names(tables: &[&'static TableDef]) -> Result<()> {
    for (i, a) in tables.iter().enumerate() {
        for b in &tables[i + 1..] {
            if a.name.eq_ignore_ascii_case(b.name) {
                return Err(Error::Schema(format!(
                    "models {} and {} both map table `{}`; rename one with #[orm(table = \"...\")]",
                    a.model, b.model, a.name
                )));
            }
        }
    }
    Ok(())
}

/// A foreign key named by string must point at a registered table and
/// column: this is where the pet tutorial's `pethandler.handler_id` typo is
/// caught.
fn check_named_foreign_keys(tables: &[&'static TableDef]) -> Result<()> {
    for t in tables {
        for fk in t.foreign_keys {
            let ForeignTarget::Named { table, columns } = fk.target else {
                continue;
            };
            let Some(target) = tables.iter().find(|x| x.name == table) else {
                let hint = tables
                    .iter()
                    .find(|x| {
                        x.name
                            .replace('_', "")
                            .eq_ignore_ascii_case(&table.replace('_', ""))
                    })
                    .map(|x| format!("; did you mean `{}`?", x.name))
                    .unwrap_or_else(|| {
                        "; register its model with Database::builder().model::<T>()".into()
                    });
                return Err(Error::Schema(format!(
                    "foreign key of `{}` references table `{}`, which no registered model maps{}",
                    t.name, table, hint
                )));
            };
            for c in columns {
                if target.column_index(c).is_none() {
                    return Err(Error::Schema(format!(
                        "foreign key of `{}` references `{}.{}`, which does not exist",
                        t.name, table, c
                    )));
                }
            }
        }
    }
    Ok(())
}

/// Every accessor name on a model must be unique and must not be a field.
fn check_accessor_names(
    tables: &[&'static TableDef],
    sides: &HashMap<usize, Vec<Side>>,
) -> Result<()> {
    for t in tables {
        let mut names: Vec<&str> = Vec::new();
        for side in sides.get(&addr(t)).map(Vec::as_slice).unwrap_or(&[]) {
            let name = if side.declared {
                side.def.name
            } else if let Some(b) = side.def.backref {
                b
            } else {
                continue;
            };
            if t.columns.iter().any(|c| c.field == name) {
                return Err(Error::Schema(format!(
                    "relationship name `{name}` on {} clashes with its field `{name}`",
                    t.model
                )));
            }
            if names.contains(&name) {
                return Err(Error::Schema(format!(
                    "{} has two relationships named `{name}`",
                    t.model
                )));
            }
            names.push(name);
        }
    }
    Ok(())
}

/// `back_populates = "x"` must name a relationship on the target that
/// points back.
fn check_back_populates(defs: &[&'static RelationDef]) -> Result<()> {
    for def in defs {
        let Some(other) = def.back_populates else {
            continue;
        };
        let target = (def.target)();
        let found = defs
            .iter()
            .find(|d| std::ptr::eq((d.model)(), target) && d.name == other);
        match found {
            Some(d) if std::ptr::eq((d.target)(), (def.model)()) => {}
            Some(_) => {
                return Err(Error::Schema(format!(
                    "relationship {}.{} names back_populates = \"{other}\", but {}.{other} does not point back to {}",
                    (def.model)().model,
                    def.name,
                    target.model,
                    (def.model)().model
                )));
            }
            None => {
                return Err(Error::Schema(format!(
                    "relationship {}.{} names back_populates = \"{other}\", but {} has no relationship `{other}`",
                    (def.model)().model,
                    def.name,
                    target.model
                )));
            }
        }
    }
    Ok(())
}

/// Kahn's algorithm over foreign keys. Self-references are ignored; tables in
/// a cycle keep registration order (SQLite accepts a foreign key to a table
/// created later).
pub(crate) fn creation_order(tables: &[&'static TableDef]) -> Vec<&'static TableDef> {
    let index_of = |name: &str| tables.iter().position(|t| t.name == name);
    let parents: Vec<Vec<usize>> = tables
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut ps: Vec<usize> = t
                .foreign_keys
                .iter()
                .filter_map(|fk| index_of(fk.target.table_name()))
                .filter(|&p| p != i)
                .collect();
            ps.dedup();
            ps
        })
        .collect();
    let mut placed = vec![false; tables.len()];
    let mut order = Vec::with_capacity(tables.len());
    while order.len() < tables.len() {
        let next = (0..tables.len())
            .find(|&i| !placed[i] && parents[i].iter().all(|&p| placed[p]))
            // A cycle: take the first remaining table in registration order.
            .or_else(|| (0..tables.len()).find(|&i| !placed[i]));
        let Some(i) = next else { break };
        placed[i] = true;
        order.push(tables[i]);
    }
    order
}
