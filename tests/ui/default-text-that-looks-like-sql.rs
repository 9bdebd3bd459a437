use orm::prelude::*;

#[derive(Model, Debug, Default)]
struct Post {
    #[orm(primary_key)]
    id: i64,
    #[orm(default = "CURRENT_TIMESTAMP")]
    created_at: String,
    #[orm(default = "now()")]
    seen_at: String,
}

fn main() {}
