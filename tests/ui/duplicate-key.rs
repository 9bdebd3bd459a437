use orm::prelude::*;

#[derive(Model)]
struct User {
    #[orm(primary_key)]
    id: i64,
    #[orm(unique, max_length = 50, unique)]
    name: String,
}

fn main() {}
