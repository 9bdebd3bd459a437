use orm::prelude::*;

#[derive(Model, Debug, Default)]
struct Post {
    #[orm(primary_key)]
    id: i64,
    #[orm(default = 0, server_default = "1")]
    hits: i64,
}

fn main() {}
