use orm::prelude::*;

#[derive(Model)]
struct User {
    #[orm(primary_key)]
    id: i64,
    #[orm(column = user_name)]
    name: String,
}

fn main() {}
