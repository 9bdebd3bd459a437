//! The `#[orm(...)]` grammar.
//!
//! Parsing never stops at the first mistake: every bad key or value is
//! recorded in the [`Ctxt`] and parsing goes on, so the user sees all
//! mistakes of a struct in one compile. Each slot remembers the span of the
//! key that set it, for later errors and for duplicate detection.

use proc_macro2::Span;
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{Expr, Lit, LitStr, Token};

use crate::ctxt::Ctxt;

/// A value set by an attribute key, with the span of that key.
pub(crate) struct Slot<T> {
    pub value: Option<(T, Span)>,
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Slot { value: None }
    }
}

impl<T> Slot<T> {
    pub(crate) fn set(&mut self, cx: &mut Ctxt, key: &str, span: Span, value: T) {
        if self.value.is_some() {
            cx.error_at(
                span,
                format!("duplicate `{key}` attribute; remove one of them"),
            );
        } else {
            self.value = Some((value, span));
        }
    }

    pub(crate) fn get(&self) -> Option<&T> {
        self.value.as_ref().map(|(v, _)| v)
    }

    pub(crate) fn span(&self) -> Option<Span> {
        self.value.as_ref().map(|(_, s)| *s)
    }

    pub(crate) fn is_set(&self) -> bool {
        self.value.is_some()
    }
}

/// A flag is set when present and not `= false`.
pub(crate) fn flag_is_on(slot: &Slot<bool>) -> bool {
    slot.get().copied().unwrap_or(false)
}

pub(crate) const FIELD_KEYS: &[&str] = &[
    "primary_key",
    "auto_increment",
    "column",
    "unique",
    "index",
    "max_length",
    "default",
    "onupdate",
    "server_default",
    "foreign_key",
    "on_delete",
    "on_update",
    "skip",
    "version",
    "validate",
];

pub(crate) const STRUCT_KEYS: &[&str] = &[
    "table",
    "has_many",
    "has_one",
    "belongs_to",
    "many_to_many",
    "index",
    "unique",
    "hooks",
    "soft_delete",
];

pub(crate) const RELATION_KEYS: &[&str] = &[
    "backref",
    "back_populates",
    "foreign_key",
    "secondary",
    "cascade",
    "lazy",
    "post_update",
];

/// What a literal column default is.
pub(crate) enum DefaultLit {
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
}

/// `default = ...`: a literal for the DDL, or a function computed in Rust.
pub(crate) enum DefaultAttr {
    Lit(DefaultLit),
    Fn(syn::Path),
}

/// Where a foreign key points.
pub(crate) enum ForeignKeyAttr {
    /// `foreign_key = PetHandler::handler_id`: model path and field.
    Path { model: syn::Path, field: syn::Ident },
    /// `foreign_key = "pet_handler.handler_id"`.
    Named { table: String, column: String },
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum FkAction {
    Cascade,
    SetNull,
    SetDefault,
    Restrict,
    NoAction,
}

impl FkAction {
    pub(crate) fn variant(self) -> &'static str {
        match self {
            FkAction::Cascade => "Cascade",
            FkAction::SetNull => "SetNull",
            FkAction::SetDefault => "SetDefault",
            FkAction::Restrict => "Restrict",
            FkAction::NoAction => "NoAction",
        }
    }
}

/// All `#[orm(...)]` keys of one field.
#[derive(Default)]
pub(crate) struct FieldAttrs {
    pub primary_key: Slot<bool>,
    pub auto_increment: Slot<bool>,
    pub column: Slot<String>,
    pub unique: Slot<bool>,
    pub index: Slot<bool>,
    pub max_length: Slot<u32>,
    pub default: Slot<DefaultAttr>,
    pub onupdate: Slot<syn::Path>,
    pub server_default: Slot<String>,
    pub foreign_key: Slot<ForeignKeyAttr>,
    pub on_delete: Slot<FkAction>,
    pub on_update: Slot<FkAction>,
    pub skip: Slot<bool>,
    /// `version`: the optimistic-concurrency counter.
    pub version: Slot<bool>,
    /// `validate = path`: checked at flush.
    pub validate: Slot<syn::Path>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum RelKind {
    HasMany,
    HasOne,
    BelongsTo,
    ManyToMany,
}

impl RelKind {
    pub(crate) fn keyword(self) -> &'static str {
        match self {
            RelKind::HasMany => "has_many",
            RelKind::HasOne => "has_one",
            RelKind::BelongsTo => "belongs_to",
            RelKind::ManyToMany => "many_to_many",
        }
    }
}

/// Relationship foreign key: a column of the child by name, or by typed path.
pub(crate) enum RelForeignKey {
    Name(String),
    Field(syn::Ident),
    Path { model: syn::Path, field: syn::Ident },
}

pub(crate) struct CascadeAttr {
    pub save_update: bool,
    pub delete: bool,
    pub delete_orphan: bool,
}

/// One `has_many(...)`, `has_one(...)`, `belongs_to(...)` or `many_to_many(...)`.
pub(crate) struct RelationAttr {
    pub kind: RelKind,
    pub span: Span,
    pub name: syn::Ident,
    pub target: syn::Path,
    pub backref: Slot<String>,
    pub back_populates: Slot<String>,
    pub foreign_key: Slot<RelForeignKey>,
    pub secondary: Slot<syn::Path>,
    pub cascade: Slot<CascadeAttr>,
    pub selectin: Slot<bool>,
    pub post_update: Slot<bool>,
}

/// `index(a, b)` or `unique(a, b)` on the struct.
pub(crate) struct IndexAttr {
    pub unique: bool,
    pub fields: Vec<syn::Ident>,
}

/// All `#[orm(...)]` keys of the struct.
#[derive(Default)]
pub(crate) struct StructAttrs {
    pub table: Slot<String>,
    /// `soft_delete` (the field `deleted_at`) or `soft_delete = "field"`.
    pub soft_delete: Slot<String>,
    pub relations: Vec<RelationAttr>,
    pub indexes: Vec<IndexAttr>,
    /// `hooks`: the model implements `orm::Hooks`.
    pub hooks: Slot<bool>,
}

fn key_name(meta: &ParseNestedMeta<'_>) -> String {
    meta.path
        .get_ident()
        .map(|i| i.to_string())
        .unwrap_or_else(|| {
            let path = &meta.path;
            quote::quote!(#path).to_string().replace(' ', "")
        })
}

/// The closest known key, for "did you mean" hints.
fn suggestion(key: &str, known: &[&'static str]) -> Option<&'static str> {
    fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut prev: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut cur = vec![i + 1];
            for (j, cb) in b.iter().enumerate() {
                let cost = usize::from(ca != *cb);
                cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
            }
            prev = cur;
        }
        prev[b.len()]
    }
    known
        .iter()
        .map(|k| (distance(key, k), *k))
        .filter(|(d, k)| *d <= 2 || (key.len() >= 4 && (k.starts_with(key) || key.starts_with(k))))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn unknown_key(cx: &mut Ctxt, meta: &ParseNestedMeta<'_>, known: &[&'static str], place: &str) {
    let key = key_name(meta);
    let hint = match suggestion(&key, known) {
        Some(s) => format!("did you mean `{s}`?"),
        None => format!("expected one of: {}", known.join(", ")),
    };
    cx.error(
        &meta.path,
        format!("unknown orm attribute `{key}` on a {place}; {hint}"),
    );
}

/// Consume whatever follows an unknown key, so parsing can go on.
fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(Token![=]) {
        meta.value()?.parse::<Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        let _content;
        syn::parenthesized!(_content in meta.input);
    }
    Ok(())
}

/// `key`, `key = true` or `key = false`.
fn parse_flag(
    cx: &mut Ctxt,
    meta: &ParseNestedMeta<'_>,
    key: &str,
    slot: &mut Slot<bool>,
) -> syn::Result<()> {
    let span = meta.path.span();
    if meta.input.peek(Token![=]) {
        let expr: Expr = meta.value()?.parse()?;
        match &expr {
            Expr::Lit(l) => match &l.lit {
                Lit::Bool(b) => slot.set(cx, key, span, b.value),
                _ => cx.error(
                    &expr,
                    format!("expected `true` or `false`, or just `{key}`"),
                ),
            },
            _ => cx.error(
                &expr,
                format!("expected `true` or `false`, or just `{key}`"),
            ),
        }
    } else {
        slot.set(cx, key, span, true);
    }
    Ok(())
}

fn parse_string(
    cx: &mut Ctxt,
    meta: &ParseNestedMeta<'_>,
    key: &str,
    example: &str,
) -> syn::Result<Option<String>> {
    let expr: Expr = meta.value()?.parse()?;
    match &expr {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(s), ..
        }) => Ok(Some(s.value())),
        _ => {
            cx.error(
                &expr,
                format!("expected a string literal: `{key} = \"{example}\"`"),
            );
            Ok(None)
        }
    }
}

/// A string or a bare identifier: `backref = "pets"` or `backref = pets`.
fn parse_name(cx: &mut Ctxt, meta: &ParseNestedMeta<'_>, key: &str) -> syn::Result<Option<String>> {
    let expr: Expr = meta.value()?.parse()?;
    match &expr {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(s), ..
        }) => Ok(Some(s.value())),
        Expr::Path(p) if p.path.get_ident().is_some() => {
            Ok(p.path.get_ident().map(|i| i.to_string()))
        }
        _ => {
            cx.error(&expr, format!("expected a name: `{key} = \"name\"`"));
            Ok(None)
        }
    }
}

fn parse_fk_action(
    cx: &mut Ctxt,
    meta: &ParseNestedMeta<'_>,
    key: &str,
) -> syn::Result<Option<FkAction>> {
    let expr: Expr = meta.value()?.parse()?;
    let text = match &expr {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(s), ..
        }) => s.value(),
        _ => String::new(),
    };
    let action = match text
        .to_ascii_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .as_str()
    {
        "cascade" => Some(FkAction::Cascade),
        "set null" => Some(FkAction::SetNull),
        "set default" => Some(FkAction::SetDefault),
        "restrict" => Some(FkAction::Restrict),
        "no action" => Some(FkAction::NoAction),
        _ => None,
    };
    if action.is_none() {
        cx.error(
            &expr,
            format!("expected one of \"cascade\", \"set null\", \"set default\", \"restrict\", \"no action\": `{key} = \"cascade\"`"),
        );
    }
    Ok(action)
}

/// Text that reads as an SQL expression rather than a value: SQL's
/// date-time keywords and function calls (`now()`, `datetime('now')`).
fn looks_like_sql(text: &str) -> bool {
    const KEYWORDS: &[&str] = &[
        "CURRENT_TIMESTAMP",
        "CURRENT_DATE",
        "CURRENT_TIME",
        "LOCALTIMESTAMP",
        "LOCALTIME",
        "NULL",
    ];
    let t = text.trim();
    let call = t.ends_with(')')
        && t.find('(').is_some_and(|i| {
            i > 0
                && t[..i]
                    .trim_end()
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
    KEYWORDS.iter().any(|k| t.eq_ignore_ascii_case(k)) || call
}

fn parse_default(cx: &mut Ctxt, meta: &ParseNestedMeta<'_>) -> syn::Result<Option<DefaultAttr>> {
    let expr: Expr = meta.value()?.parse()?;
    if let Expr::Path(p) = &expr {
        return Ok(Some(DefaultAttr::Fn(p.path.clone())));
    }
    if let Expr::Lit(syn::ExprLit {
        lit: Lit::Str(s), ..
    }) = &expr
        && looks_like_sql(&s.value())
    {
        let text = s.value();
        cx.error(
            &expr,
            format!(
                "`default = \"{text}\"` would store the text '{text}', not run it: for the SQL expression in CREATE TABLE write `server_default = \"{text}\"`; to compute the value in Rust at insert, name a function: `default = path::to::now`"
            ),
        );
        return Ok(None);
    }
    let (negative, lit) = match &expr {
        Expr::Lit(l) => (false, &l.lit),
        Expr::Unary(syn::ExprUnary {
            op: syn::UnOp::Neg(_),
            expr: inner,
            ..
        }) => match &**inner {
            Expr::Lit(l) => (true, &l.lit),
            _ => {
                cx.error(&expr, "expected a literal (`default = 0`, `default = 1.5`, `default = \"text\"`, `default = true`) or a function to call at insert (`default = now`)");
                return Ok(None);
            }
        },
        _ => {
            cx.error(&expr, "expected a literal (`default = 0`, `default = 1.5`, `default = \"text\"`, `default = true`) or a function to call at insert (`default = now`)");
            return Ok(None);
        }
    };
    let value = match lit {
        Lit::Int(i) => match i.base10_parse::<i64>() {
            Ok(v) => Some(DefaultLit::Int(if negative { -v } else { v })),
            Err(e) => {
                cx.syn_error(e);
                None
            }
        },
        Lit::Float(f) => match f.base10_parse::<f64>() {
            Ok(v) => Some(DefaultLit::Float(if negative { -v } else { v })),
            Err(e) => {
                cx.syn_error(e);
                None
            }
        },
        Lit::Str(s) if !negative => Some(DefaultLit::Str(s.value())),
        Lit::Bool(b) if !negative => Some(DefaultLit::Bool(b.value)),
        _ => {
            cx.error(&expr, "expected a literal (`default = 0`, `default = 1.5`, `default = \"text\"`, `default = true`) or a function to call at insert (`default = now`)");
            None
        }
    };
    Ok(value.map(DefaultAttr::Lit))
}

/// `Model::field` as a path plus the last segment.
fn split_column_path(path: &syn::Path) -> Option<(syn::Path, syn::Ident)> {
    if path.segments.len() < 2 {
        return None;
    }
    let mut model = path.clone();
    let last = model.segments.pop()?;
    if !last.arguments.is_none() {
        return None;
    }
    // pop() leaves the `::` before the last segment; drop it.
    model.segments.pop_punct();
    Some((model, last.ident))
}

fn parse_foreign_key(
    cx: &mut Ctxt,
    meta: &ParseNestedMeta<'_>,
) -> syn::Result<Option<ForeignKeyAttr>> {
    let expr: Expr = meta.value()?.parse()?;
    match &expr {
        Expr::Path(p) => {
            match split_column_path(&p.path) {
                Some((model, field)) => Ok(Some(ForeignKeyAttr::Path { model, field })),
                None => {
                    cx.error(&expr, "expected `Model::field`, for example `foreign_key = PetHandler::handler_id`");
                    Ok(None)
                }
            }
        }
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(s), ..
        }) => match s.value().split_once('.') {
            Some((t, c))
                if !t.is_empty()
                    && !c.is_empty()
                    && !c.contains('.')
                    && !t.contains('\0')
                    && !c.contains('\0') =>
            {
                Ok(Some(ForeignKeyAttr::Named {
                    table: t.to_owned(),
                    column: c.to_owned(),
                }))
            }
            _ => {
                cx.error(s, "expected \"table.column\", for example `foreign_key = \"pet_handler.handler_id\"`");
                Ok(None)
            }
        },
        _ => {
            cx.error(&expr, "expected `Model::field` or \"table.column\"");
            Ok(None)
        }
    }
}

/// Parse every `#[orm(...)]` on a field.
pub(crate) fn field_attrs(cx: &mut Ctxt, field: &syn::Field) -> FieldAttrs {
    let mut a = FieldAttrs::default();
    for attr in field.attrs.iter().filter(|at| at.path().is_ident("orm")) {
        if !matches!(attr.meta, syn::Meta::List(_)) {
            cx.error(
                attr,
                "expected `#[orm(...)]`, for example `#[orm(primary_key)]`",
            );
            continue;
        }
        let result = attr.parse_nested_meta(|meta| {
            let key = key_name(&meta);
            let span = meta.path.span();
            match key.as_str() {
                "primary_key" => parse_flag(cx, &meta, "primary_key", &mut a.primary_key)?,
                "auto_increment" => parse_flag(cx, &meta, "auto_increment", &mut a.auto_increment)?,
                "unique" => parse_flag(cx, &meta, "unique", &mut a.unique)?,
                "index" => parse_flag(cx, &meta, "index", &mut a.index)?,
                "skip" => parse_flag(cx, &meta, "skip", &mut a.skip)?,
                "version" => parse_flag(cx, &meta, "version", &mut a.version)?,
                "validate" => {
                    if !meta.input.peek(Token![=]) {
                        cx.error(&meta.path, "expected a function to check the value with: `validate = path::to::check` (`fn check(value: &FieldType) -> Result<(), impl Display>`)");
                        skip_value(&meta)?;
                    } else {
                        let expr: Expr = meta.value()?.parse()?;
                        match expr {
                            Expr::Path(p) => a.validate.set(cx, "validate", span, p.path),
                            other => cx.error(&other, "expected a function to check the value with: `validate = path::to::check`"),
                        }
                    }
                }
                "column" => {
                    if let Some(v) = parse_string(cx, &meta, "column", "name")? {
                        a.column.set(cx, "column", span, v);
                    }
                }
                "max_length" => {
                    let expr: Expr = meta.value()?.parse()?;
                    match &expr {
                        Expr::Lit(syn::ExprLit { lit: Lit::Int(i), .. }) => match i.base10_parse::<u32>() {
                            Ok(0) => cx.error(i, "`max_length` must be at least 1"),
                            Ok(n) => a.max_length.set(cx, "max_length", span, n),
                            Err(_) => cx.error(i, "`max_length` must fit in a u32"),
                        },
                        _ => cx.error(&expr, "expected an integer: `max_length = 50`"),
                    }
                }
                "default" => {
                    if let Some(v) = parse_default(cx, &meta)? {
                        a.default.set(cx, "default", span, v);
                    }
                }
                "onupdate" => {
                    let expr: Expr = meta.value()?.parse()?;
                    match expr {
                        Expr::Path(p) => a.onupdate.set(cx, "onupdate", span, p.path),
                        other => cx.error(
                            &other,
                            "expected a function to call at every update: `onupdate = now`",
                        ),
                    }
                }
                "server_default" => {
                    if let Some(v) = parse_string(cx, &meta, "server_default", "CURRENT_TIMESTAMP")? {
                        if v.trim().is_empty() || v.contains(';') {
                            cx.error_at(span, "`server_default` takes one SQL expression: `server_default = \"CURRENT_TIMESTAMP\"`");
                        } else {
                            a.server_default.set(cx, "server_default", span, v);
                        }
                    }
                }
                "foreign_key" => {
                    if let Some(v) = parse_foreign_key(cx, &meta)? {
                        a.foreign_key.set(cx, "foreign_key", span, v);
                    }
                }
                "on_delete" => {
                    if let Some(v) = parse_fk_action(cx, &meta, "on_delete")? {
                        a.on_delete.set(cx, "on_delete", span, v);
                    }
                }
                "on_update" => {
                    if let Some(v) = parse_fk_action(cx, &meta, "on_update")? {
                        a.on_update.set(cx, "on_update", span, v);
                    }
                }
                "nullable" => {
                    cx.error(
                        &meta.path,
                        "remove `nullable`: a column is nullable exactly when its field is an `Option<T>`",
                    );
                    skip_value(&meta)?;
                }
                "table" | "has_many" | "has_one" | "belongs_to" | "many_to_many" => {
                    cx.error(
                        &meta.path,
                        format!("`{key}` belongs on the struct, not on a field: put #[orm({key}...)] above `struct`"),
                    );
                    skip_value(&meta)?;
                }
                _ => {
                    unknown_key(cx, &meta, FIELD_KEYS, "field");
                    cx.note_unknown_field_key();
                    skip_value(&meta)?;
                }
            }
            Ok(())
        });
        if let Err(e) = result {
            cx.syn_error(e);
        }
    }
    a
}

/// Parse every `#[orm(...)]` on the struct.
pub(crate) fn struct_attrs(cx: &mut Ctxt, attrs: &[syn::Attribute]) -> StructAttrs {
    let mut a = StructAttrs::default();
    for attr in attrs.iter().filter(|at| at.path().is_ident("orm")) {
        if !matches!(attr.meta, syn::Meta::List(_)) {
            cx.error(
                attr,
                "expected `#[orm(...)]`, for example `#[orm(table = \"users\")]`",
            );
            continue;
        }
        let result = attr.parse_nested_meta(|meta| {
            let key = key_name(&meta);
            let span = meta.path.span();
            match key.as_str() {
                "table" => {
                    if let Some(v) = parse_string(cx, &meta, "table", "users")? {
                        a.table.set(cx, "table", span, v);
                    }
                }
                "soft_delete" => {
                    let field = if meta.input.peek(syn::Token![=]) {
                        parse_string(cx, &meta, "soft_delete", "deleted_at")?
                    } else {
                        Some("deleted_at".to_owned())
                    };
                    if let Some(v) = field {
                        a.soft_delete.set(cx, "soft_delete", span, v);
                    }
                }
                "has_many" => relation(cx, &meta, RelKind::HasMany, &mut a.relations)?,
                "has_one" => relation(cx, &meta, RelKind::HasOne, &mut a.relations)?,
                "belongs_to" => relation(cx, &meta, RelKind::BelongsTo, &mut a.relations)?,
                "many_to_many" => relation(cx, &meta, RelKind::ManyToMany, &mut a.relations)?,
                "hooks" => parse_flag(cx, &meta, "hooks", &mut a.hooks)?,
                "index" | "unique" => {
                    let mut fields = Vec::new();
                    meta.parse_nested_meta(|inner| {
                        match inner.path.get_ident() {
                            Some(id) => fields.push(id.clone()),
                            None => cx.error(&inner.path, "expected a field name"),
                        }
                        Ok(())
                    })?;
                    if fields.is_empty() {
                        cx.error_at(span, format!("`{key}(...)` needs at least one field: `{key}(first_name, last_name)`"));
                    }
                    a.indexes.push(IndexAttr { unique: key == "unique", fields });
                }
                "primary_key" | "column" | "max_length" | "foreign_key" | "skip" | "default" => {
                    cx.error(
                        &meta.path,
                        format!("`{key}` belongs on a field, not on the struct"),
                    );
                    skip_value(&meta)?;
                }
                _ => {
                    unknown_key(cx, &meta, STRUCT_KEYS, "struct");
                    skip_value(&meta)?;
                }
            }
            Ok(())
        });
        if let Err(e) = result {
            cx.syn_error(e);
        }
    }
    a
}

fn parse_cascade(cx: &mut Ctxt, s: &LitStr) -> Option<CascadeAttr> {
    let mut c = CascadeAttr {
        save_update: false,
        delete: false,
        delete_orphan: false,
    };
    for part in s
        .value()
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        match part {
            "all" => {
                c.save_update = true;
                c.delete = true;
            }
            "save-update" => c.save_update = true,
            "delete" => c.delete = true,
            "delete-orphan" => c.delete_orphan = true,
            "merge" | "refresh-expire" | "expunge" => {}
            other => {
                cx.error(s, format!("unknown cascade `{other}`; expected a list of: all, save-update, delete, delete-orphan"));
                return None;
            }
        }
    }
    Some(c)
}

fn relation(
    cx: &mut Ctxt,
    meta: &ParseNestedMeta<'_>,
    kind: RelKind,
    out: &mut Vec<RelationAttr>,
) -> syn::Result<()> {
    let span = meta.path.span();
    let kw = kind.keyword();
    let mut head: Option<(syn::Ident, syn::Path)> = None;
    let mut rel_backref = Slot::default();
    let mut rel_back_populates = Slot::default();
    let mut rel_fk = Slot::default();
    let mut rel_secondary = Slot::default();
    let mut rel_cascade = Slot::default();
    let mut rel_lazy = Slot::default();
    let mut rel_post_update = Slot::default();
    let mut first = true;
    if !meta.input.peek(syn::token::Paren) {
        cx.error(
            &meta.path,
            format!("expected `{kw}(name = Model, ...)`, for example `{kw}(pets = Pet)`"),
        );
        return skip_value(meta);
    }
    meta.parse_nested_meta(|inner| {
        let key = key_name(&inner);
        let kspan = inner.path.span();
        let is_option = RELATION_KEYS.contains(&key.as_str());
        if first && !is_option {
            first = false;
            let Some(name) = inner.path.get_ident().cloned() else {
                cx.error(&inner.path, "expected an accessor name");
                return skip_value(&inner);
            };
            let expr: Expr = inner.value()?.parse()?;
            match expr {
                Expr::Path(p) => head = Some((name, p.path)),
                other => cx.error(&other, format!("expected a model type: `{kw}({name} = Model)`")),
            }
            return Ok(());
        }
        if first {
            first = false;
            cx.error(&inner.path, format!("the first entry of `{kw}(...)` names the accessor and its model, for example `{kw}(pets = Pet, {key} = ...)`"));
            return skip_value(&inner);
        }
        match key.as_str() {
            "backref" => {
                if let Some(v) = parse_name(cx, &inner, "backref")? {
                    rel_backref.set(cx, "backref", kspan, v);
                }
            }
            "back_populates" => {
                if let Some(v) = parse_name(cx, &inner, "back_populates")? {
                    rel_back_populates.set(cx, "back_populates", kspan, v);
                }
            }
            "foreign_key" => {
                let expr: Expr = inner.value()?.parse()?;
                let fk = match &expr {
                    Expr::Lit(syn::ExprLit { lit: Lit::Str(s), .. }) => Some(RelForeignKey::Name(s.value())),
                    Expr::Path(p) => match p.path.get_ident() {
                        Some(id) => Some(RelForeignKey::Field(id.clone())),
                        None => split_column_path(&p.path).map(|(model, field)| RelForeignKey::Path { model, field }),
                    },
                    _ => None,
                };
                match fk {
                    Some(fk) => rel_fk.set(cx, "foreign_key", kspan, fk),
                    None => cx.error(&expr, "expected a column: `foreign_key = \"handler_id\"` or `foreign_key = Pet::handler_id`"),
                }
            }
            "secondary" => {
                let expr: Expr = inner.value()?.parse()?;
                match expr {
                    Expr::Path(p) => rel_secondary.set(cx, "secondary", kspan, p.path),
                    other => cx.error(&other, "expected the association model: `secondary = PostTag`"),
                }
            }
            "cascade" => {
                let expr: Expr = inner.value()?.parse()?;
                match &expr {
                    Expr::Lit(syn::ExprLit { lit: Lit::Str(s), .. }) => {
                        if let Some(c) = parse_cascade(cx, s) {
                            rel_cascade.set(cx, "cascade", kspan, c);
                        }
                    }
                    _ => cx.error(&expr, "expected a string: `cascade = \"all, delete-orphan\"`"),
                }
            }
            "lazy" => {
                let expr: Expr = inner.value()?.parse()?;
                let v = match &expr {
                    Expr::Lit(syn::ExprLit { lit: Lit::Str(s), .. }) => match s.value().as_str() {
                        "select" | "true" => Some(false),
                        "selectin" => Some(true),
                        _ => None,
                    },
                    Expr::Lit(syn::ExprLit { lit: Lit::Bool(b), .. }) if b.value => Some(false),
                    _ => None,
                };
                match v {
                    Some(v) => rel_lazy.set(cx, "lazy", kspan, v),
                    None => cx.error(&expr, "expected `lazy = \"select\"` (load on first access) or `lazy = \"selectin\"` (load with the query)"),
                }
            }
            "post_update" => parse_flag(cx, &inner, "post_update", &mut rel_post_update)?,
            _ => {
                unknown_key(cx, &inner, RELATION_KEYS, &format!("{kw}(...)"));
                skip_value(&inner)?;
            }
        }
        Ok(())
    })?;
    match head {
        Some((name, target)) => out.push(RelationAttr {
            kind,
            span,
            name,
            target,
            backref: rel_backref,
            back_populates: rel_back_populates,
            foreign_key: rel_fk,
            secondary: rel_secondary,
            cascade: rel_cascade,
            selectin: rel_lazy,
            post_update: rel_post_update,
        }),
        None if first => cx.error_at(
            span,
            format!("`{kw}(...)` is empty; write `{kw}(pets = Pet)`"),
        ),
        None => {}
    }
    Ok(())
}
