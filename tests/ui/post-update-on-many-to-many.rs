use orm::prelude::*;

#[derive(Model)]
#[orm(many_to_many(tags = Tag, secondary = PostTag, post_update))]
struct Post {
    #[orm(primary_key)]
    id: i64,
}

#[derive(Model)]
struct Tag {
    #[orm(primary_key)]
    id: i64,
}

#[derive(Model)]
struct PostTag {
    #[orm(primary_key, foreign_key = Post::id)]
    post_id: i64,
    #[orm(primary_key, foreign_key = Tag::id)]
    tag_id: i64,
}

fn main() {}
