use orm::prelude::*;

fn now() -> String {
    "now".into()
}

#[derive(Model, Debug, Default)]
struct Post {
    #[orm(primary_key)]
    id: i64,
    #[orm(default = now)]
    created: i64,
}

fn main() {}
