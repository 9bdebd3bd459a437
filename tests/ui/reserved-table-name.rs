use orm::prelude::*;

#[derive(Model)]
#[orm(table = "sqlite_users")]
struct User {
    #[orm(primary_key)]
    id: i64,
}

fn main() {}
