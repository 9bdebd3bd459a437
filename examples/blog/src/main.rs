//! `cargo run -p blog`, then open http://127.0.0.1:5000/tags/rust.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL").unwrap_or("sqlite:///blog.db".into());
    let db = orm::Database::builder().model::<blog::Post>().open(&url)?;
    db.create_all()?;
    if db.session().query::<blog::User>().count()? == 0 {
        blog::seed(&db.session())?;
    }
    tokio::runtime::Runtime::new()?.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:5000").await?;
        Ok(web_kit::serve(listener, blog::app(db)).await?)
    })
}
