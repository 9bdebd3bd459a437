use orm::prelude::*;

#[derive(Model)]
struct User {
    #[orm(primary_key)]
    id: i64,
    #[orm(validate)]
    email: String,
}

fn main() {}
