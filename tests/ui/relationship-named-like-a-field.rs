use orm::prelude::*;

#[derive(Model)]
#[orm(has_many(pets = Pet))]
struct Owner {
    #[orm(primary_key)]
    id: i64,
    pets: i64,
}

#[derive(Model)]
struct Pet {
    #[orm(primary_key)]
    id: i64,
    #[orm(foreign_key = Owner::id)]
    owner_id: i64,
}

fn main() {}
