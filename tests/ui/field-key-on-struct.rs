use orm::prelude::*;

#[derive(Model)]
#[orm(primary_key)]
struct User {
    #[orm(primary_key)]
    id: i64,
}

fn main() {}
