use orm::prelude::*;

#[derive(Model)]
struct Book {
    #[orm(primary_key)]
    id: i64,
    #[orm(on_delete = "cascade")]
    author_id: i64,
}

fn main() {}
