use orm::prelude::*;

#[derive(Model)]
struct User {
    #[orm(primary_key)]
    id: i64,
    #[orm(nullable = false)]
    name: String,
}

fn main() {}
