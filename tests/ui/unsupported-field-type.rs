use orm::prelude::*;

#[derive(Model)]
struct Post {
    #[orm(primary_key)]
    id: i64,
    tags: std::collections::HashMap<String, String>,
}

fn main() {}
