use orm::prelude::*;

fn positive(value: &i64) -> Result<(), String> {
    if *value > 0 { Ok(()) } else { Err("not positive".into()) }
}

#[derive(Model)]
struct User {
    #[orm(primary_key)]
    id: i64,
    #[orm(validate = positive)]
    email: String,
}

fn main() {}
