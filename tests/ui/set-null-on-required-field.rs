use orm::prelude::*;

#[derive(Model)]
struct Author {
    #[orm(primary_key)]
    id: i64,
}

#[derive(Model)]
struct Book {
    #[orm(primary_key)]
    id: i64,
    #[orm(foreign_key = Author::id, on_delete = "set null")]
    author_id: i64,
}

fn main() {}
