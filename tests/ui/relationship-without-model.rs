use orm::prelude::*;

#[derive(Model)]
#[orm(has_many(backref = "owner"))]
struct Owner {
    #[orm(primary_key)]
    id: i64,
}

fn main() {}
