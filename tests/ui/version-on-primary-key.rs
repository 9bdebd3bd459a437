use orm::prelude::*;

#[derive(Model)]
struct Doc {
    #[orm(primary_key, version)]
    id: i64,
}

fn main() {}
