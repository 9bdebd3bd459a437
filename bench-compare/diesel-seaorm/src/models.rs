//! diesel_bench's schema as Diesel tables and structs. These structs are
//! also what the shared rusqlite baseline (`common/raw.rs`) builds.

use diesel::prelude::*;

diesel::table! {
    users (id) {
        id -> BigInt,
        name -> Text,
        hair_color -> Nullable<Text>,
    }
}

diesel::table! {
    posts (id) {
        id -> BigInt,
        user_id -> BigInt,
        title -> Text,
        body -> Nullable<Text>,
    }
}

diesel::table! {
    comments (id) {
        id -> BigInt,
        post_id -> BigInt,
        text -> Text,
    }
}

diesel::joinable!(posts -> users (user_id));
diesel::joinable!(comments -> posts (post_id));
diesel::allow_tables_to_appear_in_same_query!(users, posts, comments);

#[derive(Queryable, Selectable, Identifiable, Debug, Clone, PartialEq)]
#[diesel(table_name = users, check_for_backend(diesel::sqlite::Sqlite))]
pub struct User {
    pub id: i64,
    pub name: String,
    pub hair_color: Option<String>,
}

#[derive(Queryable, Selectable, Identifiable, Associations, Debug, Clone, PartialEq)]
#[diesel(belongs_to(User), table_name = posts, check_for_backend(diesel::sqlite::Sqlite))]
pub struct Post {
    pub id: i64,
    pub user_id: i64,
    pub title: String,
    pub body: Option<String>,
}

#[derive(Queryable, Selectable, Identifiable, Associations, Debug, Clone, PartialEq)]
#[diesel(belongs_to(Post), table_name = comments, check_for_backend(diesel::sqlite::Sqlite))]
pub struct Comment {
    pub id: i64,
    pub post_id: i64,
    pub text: String,
}

/// diesel_bench's `NewUser` (borrowing): an `Option` field, so on SQLite a
/// batch of these is inserted one row per statement in a transaction.
#[derive(Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub name: &'a str,
    pub hair_color: Option<&'a str>,
}

/// diesel_bench's `NewUser` with `treat_none_as_default_value = false`: a
/// `None` is written as NULL rather than DEFAULT, so on SQLite a batch of
/// these is one multi-row INSERT (Diesel's one-statement form).
#[derive(Insertable)]
#[diesel(table_name = users, treat_none_as_default_value = false)]
pub struct NewUserWithColor<'a> {
    pub name: &'a str,
    pub hair_color: Option<&'a str>,
}

#[derive(Insertable)]
#[diesel(table_name = posts)]
pub struct NewPost<'a> {
    pub user_id: i64,
    pub title: &'a str,
    pub body: Option<&'a str>,
}

/// No `Option` field: a batch is one multi-row INSERT.
#[derive(Insertable)]
#[diesel(table_name = comments)]
pub struct NewComment<'a> {
    pub post_id: i64,
    pub text: &'a str,
}
