//! The parsed form of a `#[derive(Model)]` input. Every item keeps the syn
//! node it came from, so later errors can point at the exact tokens.

use syn::ext::IdentExt;
use syn::{Data, DeriveInput, Fields, GenericArgument, PathArguments, Type};

use crate::attr::{self, FieldAttrs, StructAttrs, flag_is_on};
use crate::ctxt::Ctxt;
use crate::naming;

pub(crate) struct Model<'a> {
    pub ident: &'a syn::Ident,
    pub vis: &'a syn::Visibility,
    pub table: String,
    pub fields: Vec<Field<'a>>,
    pub attrs: StructAttrs,
}

pub(crate) struct Field<'a> {
    pub original: &'a syn::Field,
    pub ident: &'a syn::Ident,
    pub ty: &'a Type,
    /// `T` when the type is written `Option<T>`.
    pub option_inner: Option<&'a Type>,
    pub column: String,
    pub attrs: FieldAttrs,
    /// The key by convention: no field is marked `primary_key`, and this
    /// one is named `id` (as Diesel assumes).
    pub implicit_key: bool,
}

impl Field<'_> {
    pub(crate) fn is_column(&self) -> bool {
        !flag_is_on(&self.attrs.skip)
    }

    pub(crate) fn is_primary_key(&self) -> bool {
        self.is_column() && (flag_is_on(&self.attrs.primary_key) || self.implicit_key)
    }
}

impl<'a> Model<'a> {
    /// Fields that are columns, in column order.
    pub(crate) fn columns(&self) -> impl Iterator<Item = &Field<'a>> {
        self.fields.iter().filter(|f| f.is_column())
    }

    /// Index of the column for the field named `name`.
    pub(crate) fn column_index(&self, name: &syn::Ident) -> Option<usize> {
        self.columns().position(|f| f.ident == name)
    }

    pub(crate) fn primary_key(&self) -> Vec<&Field<'a>> {
        self.columns().filter(|f| f.is_primary_key()).collect()
    }
}

fn option_inner(ty: &Type) -> Option<&Type> {
    let Type::Path(p) = ty else { return None };
    if p.qself.is_some() {
        return None;
    }
    let last = p.path.segments.last()?;
    if last.ident != "Option" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first() {
        Some(GenericArgument::Type(t)) if args.args.len() == 1 => Some(t),
        _ => None,
    }
}

/// Build the model, or report why the input cannot be a model at all.
pub(crate) fn from_syn<'a>(cx: &mut Ctxt, input: &'a DeriveInput) -> Option<Model<'a>> {
    let named = match &input.data {
        Data::Struct(s) => match &s.fields {
            Fields::Named(n) => n,
            Fields::Unnamed(_) => {
                cx.error(&input.ident, "a model must be a struct with named fields; tuple structs have no column names");
                return None;
            }
            Fields::Unit => {
                cx.error(
                    &input.ident,
                    "a model must be a struct with named fields, one per column",
                );
                return None;
            }
        },
        Data::Enum(e) => {
            cx.error(e.enum_token, "#[derive(Model)] works on structs; for an enum stored in a column use #[derive(SqlEnum)]");
            return None;
        }
        Data::Union(u) => {
            cx.error(
                u.union_token,
                "#[derive(Model)] works on structs with named fields, not unions",
            );
            return None;
        }
    };
    if !input.generics.params.is_empty() {
        cx.error(
            &input.generics,
            "generic models are not supported: a model maps one concrete table",
        );
        return None;
    }
    let attrs = attr::struct_attrs(cx, &input.attrs);
    let table = attrs
        .table
        .get()
        .cloned()
        .unwrap_or_else(|| naming::table_name(&input.ident.unraw().to_string()));
    let mut fields: Vec<Field<'_>> = named
        .named
        .iter()
        .filter_map(|f| {
            let ident = f.ident.as_ref()?;
            let attrs = attr::field_attrs(cx, f);
            let column = attrs
                .column
                .get()
                .cloned()
                .unwrap_or_else(|| ident.unraw().to_string());
            Some(Field {
                original: f,
                ident,
                ty: &f.ty,
                option_inner: option_inner(&f.ty),
                column,
                attrs,
                implicit_key: false,
            })
        })
        .collect();
    if !fields.iter().any(|f| f.is_primary_key())
        && let Some(id) = fields.iter_mut().find(|f| f.is_column() && f.ident == "id")
    {
        id.implicit_key = true;
    }
    Some(Model {
        ident: &input.ident,
        vis: &input.vis,
        table,
        fields,
        attrs,
    })
}
