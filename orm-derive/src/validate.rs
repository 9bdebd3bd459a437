//! Rules that span several attributes or fields. One function per rule,
//! each with the reason it exists. Nothing here builds tokens.

use crate::ast::Model;
use crate::attr::{DefaultAttr, FkAction, RelKind, flag_is_on};
use crate::ctxt::Ctxt;

/// Generated code keeps changed columns in a 64-bit set.
const MAX_COLUMNS: usize = 64;

pub(crate) fn validate(cx: &mut Ctxt, m: &Model<'_>) {
    check_table_name(cx, m);
    check_primary_key(cx, m);
    check_columns(cx, m);
    check_field_options(cx, m);
    check_relations(cx, m);
    check_indexes(cx, m);
    check_session_options(cx, m);
    check_soft_delete(cx, m);
}

/// `version` and `validate`: one version counter per model, never the key;
/// `post_update` writes a foreign key, which a many-to-many has none of.
fn check_session_options(cx: &mut Ctxt, m: &Model<'_>) {
    let mut versions = m.fields.iter().filter_map(|f| {
        f.attrs
            .version
            .span()
            .filter(|_| flag_is_on(&f.attrs.version))
            .map(|s| (f, s))
    });
    if let Some((first, span)) = versions.next() {
        if first.is_primary_key() {
            cx.error_at(span, "the primary key cannot be the version counter; add a field such as `#[orm(version)] version: i64`");
        }
        if flag_is_on(&first.attrs.skip) {
            cx.error_at(
                span,
                "`version` conflicts with `skip`: a skipped field is not a column",
            );
        }
    }
    for (_, span) in versions {
        cx.error_at(
            span,
            "a model has one version counter; remove this `version`",
        );
    }
    for f in &m.fields {
        if let (Some(span), true) = (f.attrs.validate.span(), flag_is_on(&f.attrs.skip)) {
            cx.error_at(
                span,
                "`validate` conflicts with `skip`: a skipped field is never written",
            );
        }
    }
    for r in &m.attrs.relations {
        if let (Some(span), RelKind::ManyToMany) = (r.post_update.span(), r.kind) {
            cx.error_at(span, "`post_update` applies to a relationship with a foreign key (`has_many`, `has_one`, `belongs_to`), not to `many_to_many`");
        }
    }
}

/// Soft delete writes the time of deletion into a nullable column and
/// reads NULL as "not deleted": the field must exist and be an `Option`.
fn check_soft_delete(cx: &mut Ctxt, m: &Model<'_>) {
    let (Some(name), Some(span)) = (m.attrs.soft_delete.get(), m.attrs.soft_delete.span()) else {
        return;
    };
    match m.columns().find(|f| f.ident == name.as_str()) {
        None => cx.error_at(
            span,
            format!("soft_delete uses the field `{name}`, which is not a column of {}: add `{name}: Option<DateTime<Utc>>` (or another timestamp type), or name the field: soft_delete = \"removed_at\"", m.ident),
        ),
        Some(f) if f.option_inner.is_none() => cx.error_at(
            span,
            format!("the soft_delete field `{name}` must be an `Option<...>`: NULL means not deleted"),
        ),
        Some(f) if f.is_primary_key() => cx.error_at(span, "the soft_delete field cannot be part of the primary key"),
        Some(_) => {}
    }
}

/// SQLite refuses tables named `sqlite_*`, and a NUL would cut the name.
fn check_table_name(cx: &mut Ctxt, m: &Model<'_>) {
    let span = m.attrs.table.span().unwrap_or_else(|| m.ident.span());
    if m.table.is_empty() {
        cx.error_at(span, "the table name cannot be empty");
    } else if m.table.contains('\0') {
        cx.error_at(span, "the table name cannot contain a NUL character");
    } else if m.table.to_ascii_lowercase().starts_with("sqlite_") {
        cx.error_at(span, format!("table names starting with `sqlite_` are reserved by SQLite; rename with #[orm(table = \"{}\")]", m.table.trim_start_matches("sqlite_")));
    }
}

/// Every row needs an identity for the identity map, UPDATE and DELETE; an
/// `Option` key would make that identity unknowable.
fn check_primary_key(cx: &mut Ctxt, m: &Model<'_>) {
    let pk = m.primary_key();
    // After a misspelled key (`primary_kee`) the missing key is a follow-on
    // error of that one: do not report it twice.
    if pk.is_empty() && !cx.has_unknown_field_keys() {
        cx.error(
            m.ident,
            format!("model `{}` has no primary key; mark a field with #[orm(primary_key)], or name it `id`", m.ident),
        );
    }
    for f in &pk {
        if is_float(f.ty) {
            cx.error(f.ty, "a float cannot be a primary key (NaN breaks equality); use an integer or String key");
        }
        if f.option_inner.is_some() {
            cx.error_at(
                f.attrs.primary_key.span().unwrap_or_else(|| f.ident.span()),
                "a primary key cannot be an `Option`; use the inner type (a new object's integer key is 0 until the flush assigns it)",
            );
        }
    }
    for f in m.columns() {
        if let Some(span) = f.attrs.auto_increment.span() {
            if !f.is_primary_key() {
                cx.error_at(
                    span,
                    "`auto_increment` only applies to a `primary_key` field",
                );
            } else if pk.len() > 1 {
                cx.error_at(span, "`auto_increment` needs a single-column primary key; a composite key is always given by you");
            }
        }
    }
}

fn is_float(ty: &syn::Type) -> bool {
    matches!(ty, syn::Type::Path(p) if p.path.is_ident("f32") || p.path.is_ident("f64"))
}

/// Column names must be usable identifiers and distinct (SQLite compares
/// them case-insensitively).
fn check_columns(cx: &mut Ctxt, m: &Model<'_>) {
    let mut seen: Vec<String> = Vec::new();
    for f in m.columns() {
        let span = f.attrs.column.span().unwrap_or_else(|| f.ident.span());
        if f.column.is_empty() {
            cx.error_at(span, "a column name cannot be empty");
        } else if f.column.contains('\0') {
            cx.error_at(span, "a column name cannot contain a NUL character");
        }
        let lower = f.column.to_lowercase();
        if seen.contains(&lower) {
            cx.error_at(span, format!("two fields map to column `{}`; give one another name with #[orm(column = \"...\")]", f.column));
        }
        seen.push(lower);
    }
    if seen.len() > MAX_COLUMNS {
        cx.error(m.ident, format!("a model can have at most {MAX_COLUMNS} columns; move some into another model or mark them #[orm(skip)]"));
    }
}

/// Options that contradict each other or the field type.
fn check_field_options(cx: &mut Ctxt, m: &Model<'_>) {
    for f in &m.fields {
        let a = &f.attrs;
        if flag_is_on(&a.skip) {
            let others = [
                (a.primary_key.span(), "primary_key"),
                (a.column.span(), "column"),
                (a.unique.span(), "unique"),
                (a.index.span(), "index"),
                (a.max_length.span(), "max_length"),
                (a.default.span(), "default"),
                (a.onupdate.span(), "onupdate"),
                (a.server_default.span(), "server_default"),
                (a.foreign_key.span(), "foreign_key"),
            ];
            for (span, key) in others {
                if let Some(span) = span {
                    cx.error_at(
                        span,
                        format!("`{key}` conflicts with `skip`: a skipped field is not a column"),
                    );
                }
            }
            continue;
        }
        for (slot, key) in [(&a.on_delete, "on_delete"), (&a.on_update, "on_update")] {
            if let Some(span) = slot.span() {
                if !a.foreign_key.is_set() {
                    cx.error_at(
                        span,
                        format!("`{key}` needs a `foreign_key` on the same field"),
                    );
                } else if slot.get() == Some(&FkAction::SetNull) && f.option_inner.is_none() {
                    cx.error_at(
                        span,
                        format!("`{key} = \"set null\"` needs an `Option` field to hold NULL"),
                    );
                }
            }
        }
        if let (Some(span), true) = (a.default.span(), f.is_primary_key()) {
            cx.error_at(span, "a primary key cannot have a `default`: give the key its value when the object is made, or let the database generate an integer key");
        }
        if let (Some(span), true) = (a.onupdate.span(), f.is_primary_key()) {
            cx.error_at(span, "a primary key cannot have an `onupdate`");
        }
        if let (Some(span), Some(DefaultAttr::Lit(_))) = (a.server_default.span(), a.default.get())
        {
            cx.error_at(
                span,
                "`default = <literal>` and `server_default` both set the DEFAULT of CREATE TABLE: keep one",
            );
        }
    }
}

/// Relationship names become associated items of the model, so they must
/// not clash with fields or each other.
fn check_relations(cx: &mut Ctxt, m: &Model<'_>) {
    let mut names: Vec<String> = Vec::new();
    for r in &m.attrs.relations {
        let name = r.name.to_string();
        if m.fields.iter().any(|f| *f.ident == name) {
            cx.error(
                &r.name,
                format!(
                    "relationship `{name}` has the name of a field; choose another accessor name"
                ),
            );
        }
        if names.contains(&name) {
            cx.error(&r.name, format!("duplicate relationship `{name}`"));
        }
        names.push(name);
        if let Some(span) = r.secondary.span() {
            if r.kind != RelKind::ManyToMany {
                cx.error_at(span, "`secondary` only applies to `many_to_many`");
            }
        } else if r.kind == RelKind::ManyToMany {
            cx.error_at(r.span, "`many_to_many` needs its association model: `many_to_many(tags = Tag, secondary = PostTag)`");
        }
        if let (Some(span), true) = (r.foreign_key.span(), r.kind == RelKind::ManyToMany) {
            cx.error_at(span, "`foreign_key` does not apply to `many_to_many`; the association model's foreign keys are used");
        }
        if let (Some(span), true) = (r.back_populates.span(), r.backref.is_set()) {
            cx.error_at(span, "use either `backref` (creates the reverse accessor) or `back_populates` (pairs with one declared on the other model), not both");
        }
        if let Some(c) = r.cascade.get()
            && (c.delete || c.delete_orphan)
            && r.kind == RelKind::BelongsTo
        {
            cx.error_at(r.cascade.span().unwrap_or(r.span), "delete cascades go from parent to children; declare them on the `has_many`/`has_one` side");
        }
    }
}

/// Multi-column indexes name fields of this struct.
fn check_indexes(cx: &mut Ctxt, m: &Model<'_>) {
    for ix in &m.attrs.indexes {
        for f in &ix.fields {
            if m.column_index(f).is_none() {
                cx.error(f, format!("`{f}` is not a column field of `{}`", m.ident));
            }
        }
    }
}
