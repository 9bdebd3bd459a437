use orm::prelude::*;

#[derive(Model)]
#[orm(many_to_many(tags = Tag))]
struct Post {
    #[orm(primary_key)]
    id: i64,
}

#[derive(Model)]
struct Tag {
    #[orm(primary_key)]
    id: i64,
}

fn main() {}
