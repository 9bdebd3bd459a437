use orm::prelude::*;

// Every mistake is reported in one compile, and nothing else.
#[derive(Model)]
struct User {
    #[orm(primary_kee)]
    id: i64,
    #[orm(max_length = "50")]
    name: String,
    #[orm(nullable)]
    email: String,
}

fn uses_the_model() {
    let _ = User::name;
}

fn main() {
    uses_the_model();
}
