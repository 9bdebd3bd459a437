//! The derive macros of [`session-orm`](https://docs.rs/session-orm), whose
//! library is named `orm`. Use them through it: `use orm::prelude::*;` brings
//! `Model` and `SqlEnum` into scope, and the generated code names `::orm::...`.
//!
//! Each derive runs parse (`ast`, `attr`) -> validate (`validate`) ->
//! expand (`expand`). All mistakes of one struct are reported together,
//! each spanned on the offending token.

mod ast;
mod attr;
mod ctxt;
mod expand;
mod migrations;
mod naming;
mod sql_enum;
mod validate;

use proc_macro::TokenStream;

/// Map a struct to a table. See the documentation of `session-orm` (library
/// `orm`) for the attributes.
#[proc_macro_derive(Model, attributes(orm))]
pub fn derive_model(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    expand::derive_model(&input).into()
}

/// Store a fieldless enum in one column, by variant name (TEXT) or, with
/// `#[orm(storage = "integer")]`, by discriminant.
#[proc_macro_derive(SqlEnum, attributes(orm))]
pub fn derive_sql_enum(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    sql_enum::derive_sql_enum(&input).into()
}

/// The revision files (`*.sql`) of a migrations folder, included in the
/// binary at compile time: an expression of type
/// `orm::Result<orm::migrate::Migrations>`. The path is relative to the
/// crate's `Cargo.toml` (default `"migrations"`).
///
/// Cargo rebuilds when an included file changes, but not when a file is
/// added: a `build.rs` with `println!("cargo::rerun-if-changed=migrations");`
/// takes care of that.
#[proc_macro]
pub fn embed_migrations(input: TokenStream) -> TokenStream {
    migrations::embed(input.into()).into()
}
