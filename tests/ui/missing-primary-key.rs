use orm::prelude::*;

#[derive(Model)]
struct User {
    user_id: i64,
    name: String,
}

fn main() {}
