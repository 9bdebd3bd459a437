use orm::prelude::*;

#[derive(Model)]
enum Status {
    Active,
}

fn main() {}
