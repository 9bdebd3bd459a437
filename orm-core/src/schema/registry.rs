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

use super::relation::{RelationDef, Role, Side};
use super::table::{ForeignTarget, TableDef};
use crate::error::{Error, Result};

/// Registered tables in creation order, with their relationships.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    tables: Vec<&'static TableDef>,
    sides: HashMap<usize, Vec<Side>>,
    /// Per table, the ends a deletion of one of its rows acts on: its
    /// collections and many-to-many links (`sides` without references to
    /// a parent), so a delete does not filter them each time.
    deleting_sides: HashMap<usize, Vec<Side>>,
    /// Some relationship has `post_update`.
    post_update: bool,
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
        // Every registered table has an entry, with ends or without.
        let deleting_sides = found
            .iter()
            .map(|&t| {
                let all = sides.get(&addr(t)).map(Vec::as_slice).unwrap_or(&[]);
                let acting = all.iter().copied().filter(|s| s.role() != Role::Parent);
                (addr(t), acting.collect())
            })
            .collect();
        Ok(Registry {
            tables: creation_order(&found),
            sides,
            deleting_sides,
            post_update: defs.iter().any(|d| d.post_update),
        })
    }

    /// Tables in an order where every parent comes before its children.
    pub(crate) fn tables(&self) -> &[&'static TableDef] {
        &self.tables
    }

    /// Whether some relationship has `post_update` (the flush then looks
    /// for the foreign keys it must clear before deletes).
    pub(crate) fn has_post_update(&self) -> bool {
        self.post_update
    }

    /// Relationships touching `table`, from either end.
    pub(crate) fn sides_of(&self, table: &'static TableDef) -> &[Side] {
        self.sides
            .get(&addr(table))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// The ends of [`sides_of`](Self::sides_of) a deletion of a `table` row
    /// acts on (collections and many-to-many links); `None` for a table not
    /// registered.
    pub(crate) fn deleting_sides_of(&self, table: &'static TableDef) -> Option<&[Side]> {
        self.deleting_sides.get(&addr(table)).map(Vec::as_slice)
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

#[cfg(test)]
mod tests {
    //! Registration over metadata built by hand (see the fixture helpers in
    //! `relation::tests`).

    use super::*;
    use crate::schema::relation::tests::{col, fk, rel, table, with_backref, with_secondary};
    use crate::schema::{ForeignKeyDef, RelationKind};

    use RelationKind::{BelongsTo, HasMany, ManyToMany};

    /// A foreign key to a table named by a string.
    const fn named_fk(
        columns: &'static [usize],
        table: &'static str,
        target: &'static [&'static str],
    ) -> ForeignKeyDef {
        ForeignKeyDef {
            columns,
            target: ForeignTarget::Named {
                table,
                columns: target,
            },
            on_delete: None,
            on_update: None,
        }
    }

    const fn with_back_populates(mut r: RelationDef, other: &'static str) -> RelationDef {
        r.back_populates = Some(other);
        r
    }

    // Author 1-n Book, Book n-m Genre through BookGenre; Review references
    // Book by a foreign key only.
    static AUTHOR: TableDef = table("author", "Author", &[col("id")], &[0], &[], &[|| &BOOKS]);
    static BOOK: TableDef = table(
        "book",
        "Book",
        &[col("id"), col("author_id")],
        &[0],
        &[fk(&[1], || &AUTHOR, &["id"])],
        &[|| &GENRES],
    );
    static BOOKS: RelationDef = with_backref(rel("books", HasMany, || &AUTHOR, || &BOOK), "author");
    static GENRE: TableDef = table("genre", "Genre", &[col("id")], &[0], &[], &[]);
    static BOOK_GENRE: TableDef = table(
        "book_genre",
        "BookGenre",
        &[col("book_id"), col("genre_id")],
        &[0, 1],
        &[fk(&[0], || &BOOK, &["id"]), fk(&[1], || &GENRE, &["id"])],
        &[],
    );
    static GENRES: RelationDef = with_secondary(
        with_backref(rel("genres", ManyToMany, || &BOOK, || &GENRE), "books"),
        || &BOOK_GENRE,
    );
    static REVIEW: TableDef = table(
        "review",
        "Review",
        &[col("id"), col("book_id")],
        &[0],
        &[fk(&[1], || &BOOK, &["id"])],
        &[],
    );

    // Another model mapping `author`.
    static WRITER: TableDef = table("Author", "Writer", &[col("id")], &[0], &[], &[]);

    // Self-reference, a cycle, foreign keys named by string.
    static NODE: TableDef = table(
        "node",
        "Node",
        &[col("id"), col("parent_id")],
        &[0],
        &[fk(&[1], || &NODE, &["id"])],
        &[],
    );
    static EGG: TableDef = table(
        "egg",
        "Egg",
        &[col("id"), col("hen_id")],
        &[0],
        &[fk(&[1], || &HEN, &["id"])],
        &[],
    );
    static HEN: TableDef = table(
        "hen",
        "Hen",
        &[col("id"), col("egg_id")],
        &[0],
        &[fk(&[1], || &EGG, &["id"])],
        &[],
    );
    static NOTE: TableDef = table(
        "note",
        "Note",
        &[col("id"), col("author_id")],
        &[0],
        &[named_fk(&[1], "author", &["id"])],
        &[],
    );
    static TYPO: TableDef = table(
        "typo",
        "Typo",
        &[col("id"), col("ref")],
        &[0],
        &[named_fk(&[1], "bookgenre", &["book_id"])],
        &[],
    );
    static NOWHERE: TableDef = table(
        "nowhere_ref",
        "NowhereRef",
        &[col("id"), col("ref")],
        &[0],
        &[named_fk(&[1], "nowhere", &["id"])],
        &[],
    );
    static BAD_COLUMN: TableDef = table(
        "bad_column",
        "BadColumn",
        &[col("id"), col("ref")],
        &[0],
        &[named_fk(&[1], "author", &["nope"])],
        &[],
    );

    // back_populates: each end declares its own side.
    static TEAM: TableDef = table("team", "Team", &[col("id")], &[0], &[], &[|| &MEMBERS]);
    static MEMBER: TableDef = table(
        "member",
        "Member",
        &[col("id"), col("team_id")],
        &[0],
        &[fk(&[1], || &TEAM, &["id"])],
        &[|| &TEAM_OF],
    );
    static MEMBERS: RelationDef =
        with_back_populates(rel("members", HasMany, || &TEAM, || &MEMBER), "team");
    static TEAM_OF: RelationDef =
        with_back_populates(rel("team", BelongsTo, || &MEMBER, || &TEAM), "members");

    // Accessor names clashing with a field, and with each other.
    static CLUB: TableDef = table("club", "Club", &[col("id")], &[0], &[], &[|| &PLAYERS]);
    static PLAYER: TableDef = table(
        "player",
        "Player",
        &[col("id"), col("club")],
        &[0],
        &[fk(&[1], || &CLUB, &["id"])],
        &[],
    );
    static PLAYERS: RelationDef =
        with_backref(rel("players", HasMany, || &CLUB, || &PLAYER), "club");
    static LEAGUE: TableDef = table(
        "league",
        "League",
        &[col("id")],
        &[0],
        &[],
        &[|| &SQUADS, || &SQUADS_AGAIN],
    );
    static SQUAD: TableDef = table(
        "squad",
        "Squad",
        &[col("id"), col("league_id")],
        &[0],
        &[fk(&[1], || &LEAGUE, &["id"])],
        &[],
    );
    static SQUADS: RelationDef = rel("squads", HasMany, || &LEAGUE, || &SQUAD);
    static SQUADS_AGAIN: RelationDef = rel("squads", HasMany, || &LEAGUE, || &SQUAD);

    // A relationship with no foreign key behind it.
    static LONER: TableDef = table("loner", "Loner", &[col("id")], &[0], &[], &[|| &STRANGERS]);
    static STRANGERS: RelationDef = rel("strangers", HasMany, || &LONER, || &GENRE);

    fn names(tables: &[&'static TableDef]) -> Vec<&'static str> {
        tables.iter().map(|t| t.name).collect()
    }

    fn schema_error(roots: &[&'static TableDef]) -> String {
        match Registry::build(roots) {
            Err(Error::Schema(m)) => m,
            other => panic!("expected a schema error, got {other:?}"),
        }
    }

    fn sides(r: &Registry, t: &'static TableDef) -> Vec<String> {
        let mut out: Vec<String> = r
            .sides_of(t)
            .iter()
            .map(|s| {
                format!(
                    "{}{}",
                    s.describe(),
                    if s.declared { "" } else { " (backref)" }
                )
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn models_reached_through_foreign_keys_and_relationships_are_registered() {
        // Review -> Book by foreign key, Book -> Author by foreign key, Book
        // -> Genre and BookGenre through its relationship.
        let r = Registry::build(&[&REVIEW]).unwrap();
        let mut found = names(r.tables());
        found.sort();
        assert_eq!(found, ["author", "book", "book_genre", "genre", "review"]);
        // From the other end: relationships lead to Book, which leads on.
        let r = Registry::build(&[&AUTHOR]).unwrap();
        let mut found = names(r.tables());
        found.sort();
        assert_eq!(found, ["author", "book", "book_genre", "genre"]);
        // Every table comes after the tables its foreign keys point at.
        for (i, t) in r.tables().iter().enumerate() {
            for fk in t.foreign_keys {
                let p = r
                    .tables()
                    .iter()
                    .position(|x| x.name == fk.target.table_name());
                assert!(p.is_some_and(|p| p < i), "{} before its parent", t.name);
            }
        }
    }

    #[test]
    fn creation_order_puts_parents_first_and_keeps_registration_order_otherwise() {
        // Registered in this order; parents move up only as far as needed.
        let r = Registry::build(&[&REVIEW, &BOOK_GENRE, &GENRE, &BOOK, &AUTHOR]).unwrap();
        assert_eq!(
            names(r.tables()),
            ["genre", "author", "book", "review", "book_genre"]
        );
        // Unrelated tables keep the order given.
        assert_eq!(
            names(&creation_order(&[&GENRE, &AUTHOR])),
            ["genre", "author"]
        );
        assert_eq!(
            names(&creation_order(&[&AUTHOR, &GENRE])),
            ["author", "genre"]
        );
        assert_eq!(
            names(&creation_order(&[&BOOK, &GENRE, &AUTHOR])),
            ["genre", "author", "book"]
        );
        // A self-reference does not hold a table back.
        assert_eq!(names(&creation_order(&[&NODE, &GENRE])), ["node", "genre"]);
        // A cycle keeps registration order.
        assert_eq!(names(&creation_order(&[&HEN, &EGG])), ["hen", "egg"]);
        assert_eq!(names(&creation_order(&[&EGG, &HEN])), ["egg", "hen"]);
        // A foreign key named by string orders as well (but does not
        // register its table: Author is registered, and reaches Book).
        let r = Registry::build(&[&NOTE, &AUTHOR]).unwrap();
        assert_eq!(
            names(r.tables()),
            ["author", "note", "book", "genre", "book_genre"]
        );
    }

    #[test]
    fn two_models_mapping_one_table_are_refused() {
        assert_eq!(
            schema_error(&[&AUTHOR, &WRITER]),
            "models Author and Writer both map table `author`; rename one with #[orm(table = \"...\")]"
        );
    }

    #[test]
    fn foreign_keys_named_by_string_must_name_a_registered_table_and_column() {
        assert_eq!(
            schema_error(&[&TYPO, &BOOK_GENRE]),
            "foreign key of `typo` references table `bookgenre`, which no registered model maps; did you mean `book_genre`?"
        );
        assert_eq!(
            schema_error(&[&NOWHERE]),
            "foreign key of `nowhere_ref` references table `nowhere`, which no registered model maps; register its model with Database::builder().model::<T>()"
        );
        // Named tables are not followed: Note alone does not bring Author.
        assert_eq!(
            schema_error(&[&NOTE]),
            "foreign key of `note` references table `author`, which no registered model maps; register its model with Database::builder().model::<T>()"
        );
        assert_eq!(
            schema_error(&[&BAD_COLUMN, &AUTHOR]),
            "foreign key of `bad_column` references `author.nope`, which does not exist"
        );
    }

    #[test]
    fn relationship_names_and_links_are_checked() {
        assert_eq!(
            schema_error(&[&CLUB]),
            "relationship name `club` on Player clashes with its field `club`"
        );
        assert_eq!(
            schema_error(&[&LEAGUE]),
            "League has two relationships named `squads`"
        );
        assert_eq!(
            schema_error(&[&LONER]),
            "relationship Loner.strangers: table `genre` has no foreign key to `loner`; add #[orm(foreign_key = Loner::<column>)] to a field of Genre"
        );
    }

    #[test]
    fn sides_of_lists_the_relationship_ends_on_each_model() {
        let r = Registry::build(&[&AUTHOR]).unwrap();
        assert_eq!(sides(&r, &AUTHOR), ["Author.books"]);
        assert_eq!(sides(&r, &BOOK), ["Book.author (backref)", "Book.genres"]);
        assert_eq!(sides(&r, &GENRE), ["Genre.books (backref)"]);
        assert!(r.sides_of(&BOOK_GENRE).is_empty());
        // Not registered.
        assert!(r.sides_of(&REVIEW).is_empty());
        let books = r.sides_of(&AUTHOR)[0];
        assert!(std::ptr::eq(books.def, &BOOKS) && books.declared);
        // With back_populates each model declares its own end; no backref
        // ends are added.
        let r = Registry::build(&[&TEAM]).unwrap();
        assert_eq!(sides(&r, &TEAM), ["Team.members"]);
        assert_eq!(sides(&r, &MEMBER), ["Member.team"]);
        assert!(std::ptr::eq(r.sides_of(&MEMBER)[0].def, &TEAM_OF));
    }

    #[test]
    fn a_deletion_acts_on_collections_and_links_not_on_references_to_a_parent() {
        let r = Registry::build(&[&AUTHOR]).unwrap();
        let names = |t: &'static TableDef| -> Option<Vec<String>> {
            let sides = r.deleting_sides_of(t)?;
            let backref = |s: &Side| if s.declared { "" } else { " (backref)" };
            Some(
                sides
                    .iter()
                    .map(|s| format!("{}{}", s.describe(), backref(s)))
                    .collect(),
            )
        };
        assert_eq!(names(&AUTHOR).unwrap(), ["Author.books"]);
        // Book.author is a reference to a parent: nothing to cascade.
        assert_eq!(names(&BOOK).unwrap(), ["Book.genres"]);
        assert_eq!(names(&GENRE).unwrap(), ["Genre.books (backref)"]);
        // Registered without relationships, and not registered.
        assert_eq!(names(&BOOK_GENRE).unwrap(), Vec::<String>::new());
        assert!(names(&REVIEW).is_none());
    }
}
