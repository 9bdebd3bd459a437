use orm::prelude::*;

#[derive(Model, Debug, Default)]
struct Post {
    #[orm(primary_key)]
    id: i64,
    #[orm(onupdate = 5)]
    updated: i64,
}

fn main() {}
