use orm::prelude::*;

#[derive(Model)]
struct Doc {
    #[orm(primary_key)]
    id: i64,
    #[orm(version)]
    version: String,
}

fn main() {}
