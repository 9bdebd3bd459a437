//! Seed 003's pet management models, with their one-to-many relationship and
//! its `pet_handler` backref, navigated in both directions.
//!
//! ```text
//! cargo run --example pets                          # writes pets.db here
//! cargo run --example pets -- sqlite:////tmp/p.db   # any database URL
//! ```
//!
//! The tutorial's `db.ForeignKey('pethandler.handler_id')` names a table
//! Flask-SQLAlchemy never creates (it creates `pet_handler`); this example
//! follows the tutorial's intent with a typed foreign key,
//! `PetHandler::handler_id`, which the compiler checks.

use std::process::ExitCode;

use orm::prelude::*;
use orm::relation::selectin;

/// `class PetHandler(db.Model)` with
/// `pet_category = db.relationship('PetCategory', backref='pet_handler', lazy=True)`.
#[derive(Model, Debug, Default)]
#[orm(has_many(pet_category = PetCategory, backref = "pet_handler"))]
struct PetHandler {
    #[orm(primary_key)]
    handler_id: i64,
    #[orm(max_length = 150)]
    handler_name: String,
}

/// `class PetCategory(db.Model)`: one pet, with the foreign key to its handler.
#[derive(Model, Debug, Default)]
struct PetCategory {
    #[orm(primary_key)]
    pet_id: i64,
    #[orm(max_length = 100)]
    pet_name: String,
    #[orm(max_length = 50)]
    pet_category: String,
    #[orm(foreign_key = PetHandler::handler_id)]
    handler_id: i64,
}

/// `class PetComment(db.Model)`, as in the tutorial (no relationship).
#[derive(Model, Debug, Default)]
struct PetComment {
    #[orm(primary_key)]
    comment_id: i64,
    #[orm(max_length = 200)]
    comment_content: String,
}

fn run(url: &str) -> orm::Result<()> {
    let db = Database::builder()
        .model::<PetHandler>()
        .model::<PetComment>()
        .open(url)?;
    println!("database: {url}");
    // Start from empty tables, so every run prints the same story.
    db.drop_all()?;
    db.create_all()?;
    let tables: Vec<&str> = db.tables().iter().map(|t| t.name).collect();
    println!("create_all: {} (parents first)", tables.join(", "));

    // Handlers, and their pets created only through the relationship: no
    // handler_id is written by hand.
    let session = db.session();
    let pets = [
        ("Sam", &[("Rex", "dog"), ("Tom", "cat")][..]),
        ("Kim", &[("Bubbles", "fish")][..]),
        ("Lee", &[][..]),
    ];
    for (handler_name, animals) in pets {
        let handler = session.add(PetHandler {
            handler_name: handler_name.into(),
            ..Default::default()
        })?;
        for (pet_name, category) in animals {
            let pet = Obj::new(PetCategory {
                pet_name: (*pet_name).into(),
                pet_category: (*category).into(),
                ..Default::default()
            });
            handler.append(PetHandler::pet_category, &pet)?;
        }
    }
    for text in ["Rex loves long walks", "Bubbles needs a bigger tank"] {
        session.add(PetComment {
            comment_content: text.into(),
            ..Default::default()
        })?;
    }
    session.commit()?;
    println!("committed 3 handlers, 3 pets and 2 comments in one transaction");

    // A new session reads everything back.
    let session = db.session();

    // One-to-many, parent to children: handler.pet_category (eager: one
    // query for all handlers' pets).
    println!("\nhandler -> pets (PetHandler.pet_category):");
    let handlers = session
        .query::<PetHandler>()
        .order_by(PetHandler::handler_id)
        .load(selectin(PetHandler::pet_category))
        .all()?;
    for handler in &handlers {
        let pets = handler.related(PetHandler::pet_category)?;
        let names: Vec<String> = pets
            .iter()
            .map(|p| {
                p.read()
                    .map(|p| format!("{} ({})", p.pet_name, p.pet_category))
            })
            .collect::<Result<_, _>>()?;
        let listed = if names.is_empty() {
            "no pets".to_owned()
        } else {
            names.join(", ")
        };
        println!("  {} handles {listed}", handler.read()?.handler_name);
    }

    // Many-to-one, child to parent: the `pet_handler` backref (lazy: loaded
    // on first access, here from the identity map's objects).
    println!("\npet -> handler (PetCategory.pet_handler, the backref):");
    let pets = session
        .query::<PetCategory>()
        .order_by(PetCategory::pet_id)
        .all()?;
    for pet in &pets {
        let handler = pet.related(PetCategory::pet_handler)?;
        let handler_name = match &handler {
            Some(h) => h.read()?.handler_name.clone(),
            None => "nobody".to_owned(),
        };
        println!("  {} is handled by {handler_name}", pet.read()?.pet_name);
    }

    // Moving a pet: the backref and both collections stay in step.
    let tom = session
        .query::<PetCategory>()
        .filter(PetCategory::pet_name.eq("Tom"))
        .one()?;
    let lee = session
        .query::<PetHandler>()
        .filter(PetHandler::handler_name.eq("Lee"))
        .one()?;
    tom.set_related(PetCategory::pet_handler, Some(&lee))?;
    session.commit()?;
    println!(
        "\nTom moved to Lee: Lee now handles {} pet(s), Tom's handler_id is {}",
        lee.related(PetHandler::pet_category)?.len(),
        tom.read()?.handler_id
    );

    println!("\ncomments:");
    for comment in session
        .query::<PetComment>()
        .order_by(PetComment::comment_id)
        .all()?
    {
        let c = comment.read()?;
        println!("  #{} {}", c.comment_id, c.comment_content);
    }
    Ok(())
}

fn main() -> ExitCode {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "sqlite:///pets.db".to_owned());
    match run(&url) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
