//! diesel_bench's three tables as orm models (shared as source with the
//! criterion bench).

use orm::prelude::*;

#[derive(Model, Debug, Default, Clone, PartialEq)]
#[orm(table = "users")]
#[orm(has_many(posts = Post, backref = "user"))]
pub struct User {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
    pub hair_color: Option<String>,
}

#[derive(Model, Debug, Default, Clone, PartialEq)]
#[orm(table = "posts")]
#[orm(has_many(comments = Comment, backref = "post"))]
pub struct Post {
    #[orm(primary_key)]
    pub id: i64,
    #[orm(foreign_key = User::id)]
    pub user_id: i64,
    pub title: String,
    pub body: Option<String>,
}

#[derive(Model, Debug, Default, Clone, PartialEq)]
#[orm(table = "comments")]
pub struct Comment {
    #[orm(primary_key)]
    pub id: i64,
    #[orm(foreign_key = Post::id)]
    pub post_id: i64,
    pub text: String,
}
