//! Compile-fail tests for `#[derive(Model)]`: each file in `tests/ui` makes
//! one mistake, and its `.stderr` holds the exact error the user sees.
//! Bless new output with `TRYBUILD=overwrite cargo test --test ui` on the
//! toolchain pinned in `rust-toolchain.toml` (rustc's wording changes
//! between releases).

#[test]
fn derive_mistakes_are_spanned_errors_that_name_the_fix() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
