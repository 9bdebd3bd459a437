//! Error accumulator: every mistake in a struct is reported in one compile.

use std::fmt::Display;

use quote::ToTokens;

/// Collects errors while parsing and validating; `finish` combines them.
#[derive(Default)]
pub(crate) struct Ctxt {
    errors: Vec<syn::Error>,
    unknown_field_keys: bool,
}

impl Ctxt {
    /// An error spanned on `tokens`.
    pub(crate) fn error(&mut self, tokens: impl ToTokens, message: impl Display) {
        self.errors.push(syn::Error::new_spanned(tokens, message));
    }

    /// An error at a span.
    pub(crate) fn error_at(&mut self, span: proc_macro2::Span, message: impl Display) {
        self.errors.push(syn::Error::new(span, message));
    }

    /// A syntax error from syn.
    pub(crate) fn syn_error(&mut self, e: syn::Error) {
        self.errors.push(e);
    }

    /// Remember that a field had an unknown key (maybe a misspelled one).
    pub(crate) fn note_unknown_field_key(&mut self) {
        self.unknown_field_keys = true;
    }

    pub(crate) fn has_unknown_field_keys(&self) -> bool {
        self.unknown_field_keys
    }

    pub(crate) fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// All errors combined into one, if any.
    pub(crate) fn finish(self) -> Option<syn::Error> {
        self.errors.into_iter().reduce(|mut a, b| {
            a.combine(b);
            a
        })
    }
}
