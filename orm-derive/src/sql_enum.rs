//! `#[derive(SqlEnum)]`: store a fieldless enum in one column, as the
//! variant name (TEXT, like SQLAlchemy's non-native `Enum`) or as its
//! discriminant (INTEGER).

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Data, DeriveInput, Expr, Fields, Lit};

use crate::ctxt::Ctxt;

pub(crate) fn derive_sql_enum(input: &DeriveInput) -> TokenStream {
    let mut cx = Ctxt::default();
    let ident = &input.ident;
    let Data::Enum(data) = &input.data else {
        cx.error(
            ident,
            "#[derive(SqlEnum)] works on enums with unit variants",
        );
        return cx
            .finish()
            .map(|e| e.to_compile_error())
            .unwrap_or_default();
    };
    if !input.generics.params.is_empty() {
        cx.error(
            &input.generics,
            "#[derive(SqlEnum)] does not support generic enums",
        );
    }
    let mut integer = false;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("orm")) {
        let r = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("storage") {
                let v: Expr = meta.value()?.parse()?;
                match &v {
                    Expr::Lit(syn::ExprLit { lit: Lit::Str(s), .. }) if s.value() == "text" => integer = false,
                    Expr::Lit(syn::ExprLit { lit: Lit::Str(s), .. }) if s.value() == "integer" => integer = true,
                    _ => cx.error(&v, "expected `storage = \"text\"` (variant names) or `storage = \"integer\"` (discriminants)"),
                }
            } else {
                cx.error(&meta.path, "unknown orm attribute on an enum; expected `storage`");
            }
            Ok(())
        });
        if let Err(e) = r {
            cx.syn_error(e);
        }
    }
    let mut names = Vec::new();
    let mut variants = Vec::new();
    for v in &data.variants {
        if !matches!(v.fields, Fields::Unit) {
            cx.error(&v.ident, "#[derive(SqlEnum)] variants cannot have fields");
            continue;
        }
        let mut name = v.ident.to_string();
        for attr in v.attrs.iter().filter(|a| a.path().is_ident("orm")) {
            let r = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("rename") {
                    let s: syn::LitStr = meta.value()?.parse()?;
                    name = s.value();
                } else {
                    cx.error(
                        &meta.path,
                        "unknown orm attribute on a variant; expected `rename = \"...\"`",
                    );
                }
                Ok(())
            });
            if let Err(e) = r {
                cx.syn_error(e);
            }
        }
        names.push(name);
        variants.push(&v.ident);
    }
    if variants.is_empty() && !cx.has_errors() {
        cx.error(ident, "#[derive(SqlEnum)] needs at least one variant");
    }
    if let Some(e) = cx.finish() {
        return e.to_compile_error();
    }
    let expected = format!("a {ident} variant name");
    let body = if integer {
        quote! {
            const SQL_TYPE: &'static str = "INTEGER";
            fn to_sql(&self) -> ::core::result::Result<::orm::types::ToSqlOutput<'_>, ::orm::types::ConversionError> {
                let v: i64 = match self { #(Self::#variants => Self::#variants as i64,)* };
                ::core::result::Result::Ok(::orm::types::ToSqlOutput::Owned(::orm::types::Value::Integer(v)))
            }
            fn from_sql(value: ::orm::types::ValueRef<'_>) -> ::core::result::Result<Self, ::orm::types::ConversionError> {
                match value {
                    #(::orm::types::ValueRef::Integer(i) if i == Self::#variants as i64 => ::core::result::Result::Ok(Self::#variants),)*
                    ::orm::types::ValueRef::Integer(_) => ::core::result::Result::Err(::orm::types::ConversionError::new(#expected)),
                    _ => ::core::result::Result::Err(::orm::types::ConversionError::new("expected INTEGER")),
                }
            }
        }
    } else {
        let len = names.iter().map(|n| n.chars().count()).max().unwrap_or(1);
        let sql_type = format!("VARCHAR({len})");
        let bytes: Vec<syn::LitByteStr> = names
            .iter()
            .map(|n| syn::LitByteStr::new(n.as_bytes(), proc_macro2::Span::call_site()))
            .collect();
        quote! {
            const SQL_TYPE: &'static str = #sql_type;
            fn to_sql(&self) -> ::core::result::Result<::orm::types::ToSqlOutput<'_>, ::orm::types::ConversionError> {
                let v: &'static [u8] = match self { #(Self::#variants => #bytes,)* };
                ::core::result::Result::Ok(::orm::types::ToSqlOutput::Borrowed(::orm::types::ValueRef::Text(v)))
            }
            fn from_sql(value: ::orm::types::ValueRef<'_>) -> ::core::result::Result<Self, ::orm::types::ConversionError> {
                match value {
                    #(::orm::types::ValueRef::Text(#bytes) => ::core::result::Result::Ok(Self::#variants),)*
                    ::orm::types::ValueRef::Text(_) => ::core::result::Result::Err(::orm::types::ConversionError::new(#expected)),
                    _ => ::core::result::Result::Err(::orm::types::ConversionError::new("expected TEXT")),
                }
            }
        }
    };
    quote! {
        #[automatically_derived]
        impl ::orm::ColumnType for #ident {
            #body
        }
    }
}
