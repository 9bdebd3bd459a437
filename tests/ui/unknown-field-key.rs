use orm::prelude::*;

#[derive(Model)]
struct User {
    #[orm(primary)]
    id: i64,
}

fn main() {}
