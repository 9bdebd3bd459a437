//! A Mermaid `erDiagram` of registered models: tables with their columns
//! and keys, and a line per foreign key with its cardinality. Needs no
//! database; GitHub and most documentation tools render it.

use std::fmt::Write as _;

use crate::schema::{RelationKind, TableDef};

/// The Mermaid `erDiagram` text of `tables` (for example
/// [`Database::tables`](crate::Database::tables)): each table with its
/// columns (`PK`, `FK`, `UK` markers, nullable columns commented), and one
/// relationship per foreign key, labelled with the relationship names the
/// models declare (or the foreign key's columns). A foreign key whose
/// columns are NOT NULL means exactly one parent (`||`), a nullable one
/// zero or one (`|o`); unique foreign key columns mean at most one child
/// (`o|`), others any number (`o{`).
///
/// # Examples
///
/// ```
/// use orm::prelude::*;
///
/// #[derive(Model, Debug, Default)]
/// #[orm(has_many(pets = Pet, backref = "owner"))]
/// struct Person { #[orm(primary_key)] id: i64, #[orm(max_length = 50)] name: String }
///
/// #[derive(Model, Debug, Default)]
/// struct Pet { #[orm(primary_key)] id: i64, #[orm(foreign_key = Person::id)] person_id: i64 }
///
/// # fn main() -> orm::Result<()> {
/// let db = Database::builder().model::<Person>().open("sqlite://")?;
/// let text = orm::migrate::diagram(db.tables());
/// assert!(text.starts_with("erDiagram\n"));
/// assert!(text.contains("        VARCHAR(50) name\n"));
/// assert!(text.contains("        INTEGER person_id FK\n"));
/// assert!(text.contains(r#"    person ||--o{ pet : "pets / owner""#));
/// # Ok(()) }
/// ```
pub fn diagram(tables: &[&'static TableDef]) -> String {
    let mut out = String::from("erDiagram\n");
    for t in tables {
        let _ = writeln!(out, "    {} {{", name(t.name));
        for (i, c) in t.columns.iter().enumerate() {
            let mut keys = Vec::new();
            if c.primary_key {
                keys.push("PK");
            }
            if t.foreign_keys.iter().any(|fk| fk.columns.contains(&i)) {
                keys.push("FK");
            }
            let unique_index = t
                .indexes
                .iter()
                .any(|ix| ix.unique && ix.columns.contains(&i));
            if (c.unique || unique_index) && !c.primary_key {
                keys.push("UK");
            }
            let _ = write!(out, "        {} {}", type_word(c.sql_type), name(c.name));
            if !keys.is_empty() {
                let _ = write!(out, " {}", keys.join(", "));
            }
            if c.nullable {
                out.push_str(" \"nullable\"");
            }
            out.push('\n');
        }
        out.push_str("    }\n");
    }
    for t in tables {
        for fk in t.foreign_keys {
            let parent = fk.target.table_name();
            let required = fk.columns.iter().all(|&i| !t.columns[i].nullable);
            let single_unique = match fk.columns {
                [i] => {
                    t.columns[*i].unique || t.columns[*i].primary_key && t.primary_key.len() == 1
                }
                _ => false,
            };
            let unique = single_unique
                || t.indexes.iter().any(|ix| {
                    ix.unique
                        && ix.columns.len() == fk.columns.len()
                        && fk.columns.iter().all(|c| ix.columns.contains(c))
                });
            let label = relation_label(tables, parent, t).unwrap_or_else(|| {
                fk.columns
                    .iter()
                    .map(|&i| t.columns[i].name)
                    .collect::<Vec<_>>()
                    .join(", ")
            });
            let _ = writeln!(
                out,
                "    {} {}--{} {} : \"{}\"",
                name(parent),
                if required { "||" } else { "|o" },
                if unique { "o|" } else { "o{" },
                name(t.name),
                label.replace('"', "'")
            );
        }
    }
    out
}

/// The names of the relationships the models declare between `parent`
/// and `child` (`pets / owner`), if any.
fn relation_label(tables: &[&'static TableDef], parent: &str, child: &TableDef) -> Option<String> {
    let mut names = Vec::new();
    for t in tables {
        for rel in t.relations {
            let def = rel();
            let (model, target) = ((def.model)().name, (def.target)().name);
            let matches = match def.kind {
                RelationKind::HasMany | RelationKind::HasOne => {
                    model == parent && target == child.name
                }
                RelationKind::BelongsTo => model == child.name && target == parent,
                RelationKind::ManyToMany => false,
            };
            if matches && !names.contains(&def.name) {
                names.push(def.name);
                if let Some(b) = def.backref {
                    names.push(b);
                }
            }
        }
    }
    (!names.is_empty()).then(|| names.join(" / "))
}

/// A name Mermaid reads as one word.
fn name(s: &str) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.is_empty() {
        "_".into()
    } else {
        cleaned
    }
}

/// A column type as one Mermaid word (`VARCHAR(50)`, `TIMESTAMP_WITH_TIME_ZONE`).
fn type_word(t: &str) -> String {
    let word: String = t
        .trim()
        .chars()
        .filter_map(|c| match c {
            c if c.is_ascii_alphanumeric() || "_()-".contains(c) => Some(c),
            ' ' | ',' => Some('_'),
            _ => None,
        })
        .collect();
    if word.is_empty() { "ANY".into() } else { word }
}
