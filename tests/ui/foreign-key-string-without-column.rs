use orm::prelude::*;

#[derive(Model)]
struct Book {
    #[orm(primary_key)]
    id: i64,
    #[orm(foreign_key = "author")]
    author_id: i64,
}

fn main() {}
