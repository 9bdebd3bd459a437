use orm::prelude::*;

#[derive(Model)]
#[orm(soft_delete)]
struct Note {
    #[orm(primary_key)]
    id: i64,
    removed_at: Option<String>,
}

#[derive(Model)]
#[orm(soft_delete = "removed_at")]
struct Task {
    #[orm(primary_key)]
    id: i64,
    removed_at: String,
}

#[derive(Model)]
#[orm(soft_delete = "removed_at")]
struct Job {
    #[orm(primary_key)]
    id: i64,
    removed_at: Option<f64>,
}

fn main() {}
