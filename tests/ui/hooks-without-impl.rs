use orm::prelude::*;

#[derive(Model)]
#[orm(hooks)]
struct Post {
    #[orm(primary_key)]
    id: i64,
    title: String,
}

fn main() {}
