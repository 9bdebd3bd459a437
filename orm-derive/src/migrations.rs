//! `embed_migrations!("migrations")`: the revision files of a folder,
//! included in the binary at compile time.

use proc_macro2::{Span, TokenStream};
use quote::quote;

/// Expand to `::orm::migrate::Migrations::from_sources(&[(name,
/// include_str!(path)), ...])` for the `*.sql` files of the folder, a path
/// relative to the crate's manifest directory (default `migrations`).
pub fn embed(input: TokenStream) -> TokenStream {
    let dir = if input.is_empty() {
        "migrations".to_owned()
    } else {
        match syn::parse2::<syn::LitStr>(input) {
            Ok(lit) => lit.value(),
            Err(e) => return e.to_compile_error(),
        }
    };
    let error = |message: String| {
        let e = syn::Error::new(Span::call_site(), message);
        e.to_compile_error()
    };
    let Ok(root) = std::env::var("CARGO_MANIFEST_DIR") else {
        return error("embed_migrations! needs Cargo (CARGO_MANIFEST_DIR is not set)".into());
    };
    let path = std::path::Path::new(&root).join(&dir);
    let entries = match std::fs::read_dir(&path) {
        Ok(e) => e,
        Err(e) => {
            return error(format!(
                "cannot read the migrations folder `{}`: {e} (create it with the `db init` command)",
                path.display()
            ));
        }
    };
    let mut files: Vec<(String, String)> = Vec::new();
    for entry in entries.flatten() {
        let p = entry.path();
        if p.extension().is_some_and(|e| e == "sql") && p.is_file() {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            files.push((name, p.display().to_string()));
        }
    }
    files.sort();
    let pairs = files.iter().map(|(name, full)| {
        quote! { (#name, ::core::include_str!(#full)) }
    });
    quote! {
        ::orm::migrate::Migrations::from_sources(&[#(#pairs),*])
    }
}
