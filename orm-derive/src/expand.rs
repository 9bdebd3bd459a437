//! Token generation. Assumes a validated [`Model`]; builds no errors except
//! the fallback below.
//!
//! Generated code names the runtime only through `::orm::...`, so it works
//! in any crate that depends on `orm`.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use crate::ast::{Field, Model};
use crate::attr::{
    DefaultAttr, DefaultLit, ForeignKeyAttr, RelForeignKey, RelKind, RelationAttr, flag_is_on,
};
use crate::ctxt::Ctxt;
use crate::{ast, validate};

/// parse -> validate -> expand; on error, the errors plus a stub.
pub(crate) fn derive_model(input: &syn::DeriveInput) -> TokenStream {
    let mut cx = Ctxt::default();
    let Some(model) = ast::from_syn(&mut cx, input) else {
        return cx
            .finish()
            .map(|e| e.to_compile_error())
            .unwrap_or_default();
    };
    validate::validate(&mut cx, &model);
    if cx.has_errors() {
        let errors = cx
            .finish()
            .map(|e| e.to_compile_error())
            .unwrap_or_default();
        let stub = fallback(&model);
        return quote! { #errors #stub };
    }
    let model_impl = model_impl(&model);
    let columns = column_consts(&model);
    let relations = relations(&model, false);
    let checks = compile_checks(&model);
    quote! {
        #model_impl
        #columns
        #relations
        #checks
    }
}

/// When the struct has mistakes: an `impl Model` whose bodies never run
/// (the crate does not compile), plus the column and relationship items, so
/// the only errors the user sees are the real ones.
fn fallback(m: &Model<'_>) -> TokenStream {
    let ident = m.ident;
    let columns = column_consts(m);
    let relations = relations(m, true);
    quote! {
        #[automatically_derived]
        impl ::orm::Model for #ident {
            type Key = i64;
            type __Store = ::orm::__private::LazyExtra<Self>;
            fn table() -> &'static ::orm::schema::TableDef { ::core::unreachable!() }
            fn key(&self) -> i64 { ::core::unreachable!() }
            fn __decode<C: ::orm::__private::Columns + ?::core::marker::Sized>(_: &C, _: usize, _: ::core::option::Option<i64>) -> ::orm::Result<Self> { ::core::unreachable!() }
            fn __key_from_row(_: &::orm::__private::Row<'_>, _: usize) -> ::orm::Result<i64> { ::core::unreachable!() }
            fn __column_value(&self, _: usize) -> ::orm::Result<::orm::types::ToSqlOutput<'_>> { ::core::unreachable!() }
            fn __set_column(&mut self, _: usize, _: ::orm::types::ValueRef<'_>) -> ::orm::Result<()> { ::core::unreachable!() }
            fn __changed_columns(&self, _: &Self) -> ::orm::__private::ColumnSet { ::core::unreachable!() }
            fn __snapshot(&self) -> Self { ::core::unreachable!() }
        }
        #columns
        #relations
    }
}

/// `column::<T>()`, spanned on the field type: the one place that needs
/// `T: ColumnType`, so an unsupported type gives one error.
fn column_fns(ty: &syn::Type) -> TokenStream {
    quote_spanned!(ty.span()=> ::orm::__private::column::<#ty>())
}

fn lit_str(s: &str) -> syn::LitStr {
    syn::LitStr::new(s, Span::call_site())
}

/// The declared SQL type of a column, as a constant expression.
fn sql_type(f: &Field<'_>) -> TokenStream {
    let ty = f.ty;
    match f.attrs.max_length.get() {
        Some(n) => {
            let s = lit_str(&format!("VARCHAR({n})"));
            quote!(#s)
        }
        None => {
            let fns = column_fns(ty);
            quote!(#fns.sql_type)
        }
    }
}

fn default_value(f: &Field<'_>) -> TokenStream {
    if let Some(sql) = f.attrs.server_default.get() {
        return quote!(::core::option::Option::Some(::orm::schema::DefaultValue::Expression(#sql)));
    }
    let lit = match f.attrs.default.get() {
        Some(DefaultAttr::Lit(l)) => Some(l),
        _ => None,
    };
    match lit {
        None => quote!(::core::option::Option::None),
        Some(DefaultLit::Int(i)) => {
            quote!(::core::option::Option::Some(::orm::schema::DefaultValue::Integer(#i)))
        }
        Some(DefaultLit::Bool(b)) => {
            let i = i64::from(*b);
            quote!(::core::option::Option::Some(::orm::schema::DefaultValue::Integer(#i)))
        }
        Some(DefaultLit::Float(x)) => {
            quote!(::core::option::Option::Some(::orm::schema::DefaultValue::Real(#x)))
        }
        Some(DefaultLit::Str(s)) => {
            quote!(::core::option::Option::Some(::orm::schema::DefaultValue::Text(#s)))
        }
    }
}

/// `default = path` and `onupdate = path`: functions computed in Rust,
/// their values converted through the field's type (`path()` may return
/// `T` for an `Option<T>` field). Spanned on the path, so a wrong
/// signature or a type without `Default` is an error there.
fn computed_defaults(f: &Field<'_>) -> (TokenStream, TokenStream) {
    let ty = f.ty;
    let insert = match f.attrs.default.get() {
        Some(DefaultAttr::Fn(path)) => quote_spanned! {path.span()=>
            ::core::option::Option::Some(::orm::schema::InsertDefault {
                value: || ::orm::__private::computed::<#ty, _>(#path),
                unset: ::orm::__private::unset::<#ty>,
            })
        },
        _ => quote!(::core::option::Option::None),
    };
    let update = match f.attrs.onupdate.get() {
        Some(path) => quote_spanned! {path.span()=>
            ::core::option::Option::Some(|| ::orm::__private::computed::<#ty, _>(#path))
        },
        None => quote!(::core::option::Option::None),
    };
    (insert, update)
}

fn fk_action(a: Option<&crate::attr::FkAction>) -> TokenStream {
    match a {
        None => quote!(::core::option::Option::None),
        Some(a) => {
            let v = format_ident!("{}", a.variant());
            quote!(::core::option::Option::Some(::orm::schema::FkAction::#v))
        }
    }
}

fn table_def(m: &Model<'_>) -> TokenStream {
    let ident = m.ident;
    let table = &m.table;
    let model_name = ident.to_string();
    let pk = m.primary_key();
    let columns: Vec<TokenStream> = m
        .columns()
        .map(|f| {
            let ty = f.ty;
            let name = &f.column;
            let field = f.ident.to_string();
            let sql_type = sql_type(f);
            let pk = f.is_primary_key();
            let unique = flag_is_on(&f.attrs.unique);
            let index = flag_is_on(&f.attrs.index);
            let default = default_value(f);
            let (insert_default, update_default) = computed_defaults(f);
            let fns = column_fns(ty);
            let nullable = quote!(#fns.nullable);
            quote! {
                ::orm::schema::ColumnDef {
                    name: #name,
                    field: #field,
                    sql_type: #sql_type,
                    pg_type: #fns.pg_type,
                    nullable: #nullable,
                    primary_key: #pk,
                    unique: #unique,
                    index: #index,
                    default: #default,
                    insert_default: #insert_default,
                    update_default: #update_default,
                }
            }
        })
        .collect();
    let pk_indices: Vec<usize> = m
        .columns()
        .enumerate()
        .filter(|(_, f)| f.is_primary_key())
        .map(|(i, _)| i)
        .collect();
    let auto_increment = match pk.as_slice() {
        [one] if one.attrs.auto_increment.get() != Some(&false) => {
            let fns = column_fns(one.ty);
            quote!(::orm::__private::is_integer_type(#fns.sql_type))
        }
        _ => quote!(false),
    };
    let foreign_keys: Vec<TokenStream> = m
        .columns()
        .enumerate()
        .filter_map(|(i, f)| {
            let fk = f.attrs.foreign_key.get()?;
            let target = match fk {
                ForeignKeyAttr::Path { model, field } => quote! {
                    ::orm::schema::ForeignTarget::Model {
                        table: <#model as ::orm::Model>::table,
                        columns: &[#model::#field.name()],
                    }
                },
                ForeignKeyAttr::Named { table, column } => quote! {
                    ::orm::schema::ForeignTarget::Named { table: #table, columns: &[#column] }
                },
            };
            let on_delete = fk_action(f.attrs.on_delete.get());
            let on_update = fk_action(f.attrs.on_update.get());
            Some(quote! {
                ::orm::schema::ForeignKeyDef {
                    columns: &[#i],
                    target: #target,
                    on_delete: #on_delete,
                    on_update: #on_update,
                }
            })
        })
        .collect();
    let indexes: Vec<TokenStream> = m
        .attrs
        .indexes
        .iter()
        .map(|ix| {
            let cols: Vec<usize> = ix.fields.iter().filter_map(|f| m.column_index(f)).collect();
            let names: Vec<&str> = cols
                .iter()
                .filter_map(|&i| m.columns().nth(i))
                .map(|f| f.column.as_str())
                .collect();
            let prefix = if ix.unique { "uq" } else { "ix" };
            let name = format!("{prefix}_{}_{}", m.table, names.join("_"));
            let unique = ix.unique;
            quote!(::orm::schema::IndexDef { name: #name, columns: &[#(#cols),*], unique: #unique })
        })
        .collect();
    let version = match m.columns().position(|f| flag_is_on(&f.attrs.version)) {
        Some(i) => quote!(::core::option::Option::Some(#i)),
        None => quote!(::core::option::Option::None),
    };
    let relation_fns: Vec<TokenStream> = m
        .attrs
        .relations
        .iter()
        .map(|r| {
            let f = rel_fn_ident(r);
            quote!(#ident::#f)
        })
        .collect();
    let soft_delete = match m.attrs.soft_delete.get() {
        Some(name) => {
            let found = m
                .columns()
                .enumerate()
                .find(|(_, f)| f.ident == name.as_str())
                .and_then(|(i, f)| f.option_inner.map(|inner| (i, inner)));
            match found {
                Some((i, inner)) => {
                    let stamp = quote::quote_spanned!(inner.span()=> ::orm::__private::soft_delete_stamp::<#inner>);
                    quote!(::core::option::Option::Some(::orm::schema::SoftDelete { column: #i, stamp: #stamp }))
                }
                None => quote!(::core::option::Option::None),
            }
        }
        None => quote!(::core::option::Option::None),
    };
    quote! {
        static TABLE: ::orm::schema::TableDef = ::orm::schema::TableDef {
            name: #table,
            model: #model_name,
            columns: &[#(#columns),*],
            primary_key: &[#(#pk_indices),*],
            auto_increment: #auto_increment,
            version: #version,
            foreign_keys: &[#(#foreign_keys),*],
            indexes: &[#(#indexes),*],
            relations: &[#(#relation_fns),*],
            soft_delete: #soft_delete,
            __cache: ::orm::schema::TableCache::new(),
            __ops: ::orm::__private::ModelOps::of::<#ident>(),
        };
    }
}

fn model_impl(m: &Model<'_>) -> TokenStream {
    let ident = m.ident;
    let table_def = table_def(m);
    let pk = m.primary_key();
    let pk_index = |f: &Field<'_>| m.column_index(f.ident).unwrap_or(0);
    let (key_ty, key_expr, key_from_row) = if let [one] = pk.as_slice() {
        let ty = one.ty;
        let id = one.ident;
        let i = pk_index(one);
        (
            quote!(#ty),
            quote!(::core::clone::Clone::clone(&self.#id)),
            {
                let fns = column_fns(ty);
                quote!(::orm::__private::decode(#fns, row, offset + #i, t, #i))
            },
        )
    } else {
        let tys: Vec<_> = pk.iter().map(|f| f.ty).collect();
        let ids: Vec<_> = pk.iter().map(|f| f.ident).collect();
        let decodes: Vec<TokenStream> = pk
            .iter()
            .map(|f| {
                let fns = column_fns(f.ty);
                let i = pk_index(f);
                quote!(::orm::__private::decode(#fns, row, offset + #i, t, #i)?)
            })
            .collect();
        (
            quote!((#(#tys,)*)),
            quote!((#(::core::clone::Clone::clone(&self.#ids),)*)),
            quote!(::core::result::Result::Ok((#(#decodes,)*))),
        )
    };
    // `__decode`'s key, split into one `Option` per key field.
    let key_parts: Vec<_> = (0..pk.len()).map(|n| format_ident!("__key{}", n)).collect();
    let split_key = if let [one] = key_parts.as_slice() {
        quote!(let #one = key;)
    } else {
        let nones = key_parts
            .iter()
            .map(|_| quote!(::core::option::Option::None));
        quote! {
            let (#(#key_parts,)*) = match key {
                ::core::option::Option::Some((#(#key_parts,)*)) => (#(::core::option::Option::Some(#key_parts),)*),
                ::core::option::Option::None => (#(#nones,)*),
            };
        }
    };
    let mut from_row = Vec::new();
    let mut column_arms = Vec::new();
    let mut set_arms = Vec::new();
    let mut changed = Vec::new();
    let mut snapshot = Vec::new();
    let mut i = 0usize;
    for f in &m.fields {
        let id = f.ident;
        let ty = f.ty;
        if f.is_column() {
            let fns = column_fns(ty);
            let decode = quote!(::orm::__private::decode(#fns, row, offset + #i, t, #i)?);
            match pk.iter().position(|p| p.ident == f.ident) {
                Some(n) => {
                    let part = &key_parts[n];
                    from_row.push(quote! {
                        #id: match #part {
                            ::core::option::Option::Some(k) => k,
                            ::core::option::Option::None => #decode,
                        }
                    });
                }
                None => from_row.push(quote!(#id: #decode)),
            }
            column_arms.push(quote!(#i => ::orm::__private::encode(#fns, &self.#id, t, #i)));
            set_arms.push(
                quote!(#i => { self.#id = ::orm::__private::decode_value(#fns, value, t, #i)?; }),
            );
            changed.push(
                quote!(if !::orm::__private::same(#fns, &self.#id, &old.#id) { set.insert(#i); }),
            );
            snapshot.push(quote!(#id: ::core::clone::Clone::clone(&self.#id)));
            i += 1;
        } else {
            let default = quote_spanned!(ty.span()=> <#ty as ::core::default::Default>::default());
            from_row.push(quote!(#id: #default));
            snapshot.push(quote!(#id: #default));
        }
    }
    let session_items = session_items(m);
    // A child (a foreign key, or a `belongs_to`) learns its parent whenever
    // the parent's collection is loaded: its objects have room to note it
    // without slots. Both kinds allocate their slots on first use.
    let child = m.columns().any(|f| f.attrs.foreign_key.get().is_some())
        || m.attrs
            .relations
            .iter()
            .any(|r| r.kind == RelKind::BelongsTo);
    let store = if child {
        quote!(::orm::__private::ChildExtra<Self>)
    } else {
        quote!(::orm::__private::LazyExtra<Self>)
    };
    quote! {
        #[automatically_derived]
        impl ::orm::Model for #ident {
            type Key = #key_ty;
            type __Store = #store;

            #[inline]
            fn table() -> &'static ::orm::schema::TableDef {
                #table_def
                &TABLE
            }

            #[inline]
            fn key(&self) -> Self::Key {
                #key_expr
            }

            #[inline]
            fn __decode<C: ::orm::__private::Columns + ?::core::marker::Sized>(
                row: &C,
                offset: usize,
                key: ::core::option::Option<Self::Key>,
            ) -> ::orm::Result<Self> {
                let t = <Self as ::orm::Model>::table();
                #split_key
                ::core::result::Result::Ok(Self { #(#from_row,)* })
            }

            #[inline]
            fn __key_from_row(row: &::orm::__private::Row<'_>, offset: usize) -> ::orm::Result<Self::Key> {
                let t = <Self as ::orm::Model>::table();
                #key_from_row
            }

            #[inline]
            fn __column_value(&self, column: usize) -> ::orm::Result<::orm::types::ToSqlOutput<'_>> {
                let t = <Self as ::orm::Model>::table();
                match column {
                    #(#column_arms,)*
                    _ => ::core::result::Result::Err(::orm::__private::no_such_column(t, column)),
                }
            }

            fn __set_column(&mut self, column: usize, value: ::orm::types::ValueRef<'_>) -> ::orm::Result<()> {
                let t = <Self as ::orm::Model>::table();
                match column {
                    #(#set_arms)*
                    _ => return ::core::result::Result::Err(::orm::__private::no_such_column(t, column)),
                }
                ::core::result::Result::Ok(())
            }

            #[inline]
            fn __changed_columns(&self, old: &Self) -> ::orm::__private::ColumnSet {
                let mut set = ::orm::__private::ColumnSet::empty();
                #(#changed)*
                set
            }

            fn __snapshot(&self) -> Self {
                Self { #(#snapshot,)* }
            }

            #session_items
        }
    }
}

/// `#[orm(hooks)]` and `#[orm(validate = path)]`: the `Model` items the
/// flush calls (none when unused: the trait's defaults do nothing).
fn session_items(m: &Model<'_>) -> TokenStream {
    let mut out = TokenStream::new();
    if let (Some(span), true) = (m.attrs.hooks.span(), flag_is_on(&m.attrs.hooks)) {
        out.extend(quote_spanned! {span=>
            const __HOOKS: ::core::option::Option<::orm::__private::HookFns<Self>> =
                ::core::option::Option::Some(::orm::__private::hook_fns::<Self>());
        });
    }
    let checks: Vec<TokenStream> = m
        .columns()
        .enumerate()
        .filter_map(|(i, f)| {
            let path = f.attrs.validate.get()?;
            let id = f.ident;
            Some(quote_spanned! {path.span()=>
                if changed.is_none_or(|c| c.contains(#i)) {
                    ::orm::__private::validate(t, #i, #path, &self.#id)?;
                }
            })
        })
        .collect();
    if !checks.is_empty() {
        out.extend(quote! {
            const __VALIDATES: bool = true;
            fn __validate(&self, changed: ::core::option::Option<::orm::__private::ColumnSet>) -> ::orm::Result<()> {
                let t = <Self as ::orm::Model>::table();
                #(#checks)*
                ::core::result::Result::Ok(())
            }
        });
    }
    out
}

/// `User::username`: a typed handle per column, for queries.
fn column_consts(m: &Model<'_>) -> TokenStream {
    let ident = m.ident;
    let consts: Vec<TokenStream> = m
        .columns()
        .enumerate()
        .map(|(i, f)| {
            let id = f.ident;
            let ty = f.ty;
            let vis = &f.original.vis;
            let name = &f.column;
            let doc = format!(
                "Column `{}.{}` of [`{}`], for queries.",
                m.table, f.column, ident
            );
            quote! {
                #[doc = #doc]
                #vis const #id: ::orm::Column<#ident, #ty> =
                    ::orm::Column::__new(#i, #name, |m| &m.#id, |m| &mut m.#id);
            }
        })
        .collect();
    quote! {
        #[allow(non_upper_case_globals, dead_code)]
        impl #ident {
            #(#consts)*
        }
    }
}

fn rel_fn_ident(r: &RelationAttr) -> syn::Ident {
    format_ident!("__orm_rel_{}", r.name)
}

/// The handle type seen from each end: (declared side, backref side).
fn handle_types(kind: RelKind) -> (&'static str, &'static str) {
    match kind {
        RelKind::HasMany => ("HasMany", "BelongsTo"),
        RelKind::HasOne => ("HasOne", "BelongsTo"),
        RelKind::BelongsTo => ("BelongsTo", "HasMany"),
        RelKind::ManyToMany => ("ManyToMany", "ManyToMany"),
    }
}

fn relation_def(m: &Model<'_>, r: &RelationAttr) -> TokenStream {
    let ident = m.ident;
    let target = &r.target;
    let name = r.name.to_string();
    let kind = format_ident!(
        "{}",
        match r.kind {
            RelKind::HasMany => "HasMany",
            RelKind::HasOne => "HasOne",
            RelKind::BelongsTo => "BelongsTo",
            RelKind::ManyToMany => "ManyToMany",
        }
    );
    let opt_str = |s: Option<&String>| match s {
        Some(s) => quote!(::core::option::Option::Some(#s)),
        None => quote!(::core::option::Option::None),
    };
    let backref = opt_str(r.backref.get());
    let back_populates = opt_str(r.back_populates.get());
    let foreign_key = match r.foreign_key.get() {
        None => quote!(&[]),
        Some(RelForeignKey::Name(s)) => quote!(&[#s]),
        Some(RelForeignKey::Path { model, field }) => quote!(&[#model::#field.name()]),
        Some(RelForeignKey::Field(f)) if r.kind == RelKind::BelongsTo => {
            quote!(&[#ident::#f.name()])
        }
        Some(RelForeignKey::Field(f)) => quote!(&[#target::#f.name()]),
    };
    let secondary = match r.secondary.get() {
        Some(p) => quote!(::core::option::Option::Some(<#p as ::orm::Model>::table)),
        None => quote!(::core::option::Option::None),
    };
    let (su, del, orphan) = match r.cascade.get() {
        Some(c) => (c.save_update, c.delete, c.delete_orphan),
        None => (true, false, false),
    };
    let lazy = if r.selectin.get() == Some(&true) {
        quote!(::orm::schema::Lazy::Selectin)
    } else {
        quote!(::orm::schema::Lazy::Select)
    };
    let post_update = flag_is_on(&r.post_update);
    let fn_ident = rel_fn_ident(r);
    quote! {
        #[doc(hidden)]
        pub fn #fn_ident() -> &'static ::orm::schema::RelationDef {
            static DEF: ::orm::schema::RelationDef = ::orm::schema::RelationDef {
                name: #name,
                kind: ::orm::schema::RelationKind::#kind,
                model: <#ident as ::orm::Model>::table,
                target: <#target as ::orm::Model>::table,
                backref: #backref,
                back_populates: #back_populates,
                foreign_key: #foreign_key,
                secondary: #secondary,
                cascade: ::orm::schema::Cascade { save_update: #su, delete: #del, delete_orphan: #orphan },
                lazy: #lazy,
                post_update: #post_update,
                __link: ::std::sync::OnceLock::new(),
            };
            &DEF
        }
    }
}

/// Relationship definitions and their typed handles on both models.
fn relations(m: &Model<'_>, stub: bool) -> TokenStream {
    let ident = m.ident;
    let vis = m.vis;
    let mut own = Vec::new();
    let mut backrefs = Vec::new();
    for r in &m.attrs.relations {
        // In the fallback, an accessor clashing with a field was already
        // reported; emitting it would only add a duplicate-definition error.
        if stub && m.fields.iter().any(|f| *f.ident == r.name) {
            continue;
        }
        let target = &r.target;
        let name = &r.name;
        let fn_ident = rel_fn_ident(r);
        let (decl_ty, back_ty) = handle_types(r.kind);
        let decl_ty = format_ident!("{decl_ty}");
        let back_ty = format_ident!("{back_ty}");
        if stub {
            own.push(quote! {
                #[doc(hidden)]
                pub fn #fn_ident() -> &'static ::orm::schema::RelationDef { ::core::unreachable!() }
            });
        } else {
            own.push(relation_def(m, r));
        }
        let doc = format!("Relationship `{}.{}` ({}).", ident, name, r.kind.keyword());
        own.push(quote! {
            #[doc = #doc]
            #vis const #name: ::orm::#decl_ty<#ident, #target> = ::orm::#decl_ty::__new(#ident::#fn_ident, true);
        });
        if let Some(back) = r.backref.get() {
            let back_ident = syn::Ident::new(back, r.backref.span().unwrap_or(r.span));
            let doc = format!(
                "Reverse of relationship `{}.{}` (created by its `backref`).",
                ident, name
            );
            backrefs.push(quote_spanned! {r.backref.span().unwrap_or(r.span)=>
                #[allow(non_upper_case_globals, dead_code)]
                impl #target {
                    #[doc = #doc]
                    #vis const #back_ident: ::orm::#back_ty<#target, #ident> = ::orm::#back_ty::__new(#ident::#fn_ident, false);
                }
            });
        }
    }
    if own.is_empty() {
        return TokenStream::new();
    }
    quote! {
        #[allow(non_upper_case_globals, dead_code)]
        impl #ident {
            #(#own)*
        }
        #(#backrefs)*
    }
}

/// Type checks that must point at the user's tokens: unsupported field
/// types, `max_length` on non-text fields, foreign key type mismatches.
fn compile_checks(m: &Model<'_>) -> TokenStream {
    let mut checks = Vec::new();
    for f in m.columns() {
        let ty = f.ty;
        if let Some(span) = f.attrs.max_length.span() {
            checks.push(quote_spanned!(span=> ::orm::__private::check_text::<#ty>();));
        }
        if let (Some(span), true) = (f.attrs.version.span(), flag_is_on(&f.attrs.version)) {
            checks.push(quote_spanned!(span=> ::orm::__private::check_version::<#ty>();));
        }
        if let Some(ForeignKeyAttr::Path { model, field }) = f.attrs.foreign_key.get() {
            let span = model
                .span()
                .join(field.span())
                .unwrap_or_else(|| field.span());
            checks.push(quote_spanned!(span=> ::orm::__private::foreign_key_target(&#model::#field).accepts::<#ty>();));
        }
    }
    quote! {
        const _: () = {
            #(#checks)*
        };
    }
}
