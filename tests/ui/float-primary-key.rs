use orm::prelude::*;

#[derive(Model)]
struct Reading {
    #[orm(primary_key)]
    at: f64,
}

fn main() {}
