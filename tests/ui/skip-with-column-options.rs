use orm::prelude::*;

#[derive(Model)]
struct User {
    #[orm(primary_key)]
    id: i64,
    #[orm(skip, unique)]
    cache: Option<String>,
}

fn main() {}
